// Fuzz campaign (issue #6): hundreds of broken inputs generated here from real modules (the example module, plain
// and signed, and a few of Debian's own, signed, with __versions and .BTF) — truncations at every structural
// boundary (ELF header, section header table, section starts/ends, signature trailer, xz/zstd/gzip headers, data,
// index and trailers), bit flips in the ELF header, section table, .modinfo, __versions, .BTF, signature and in
// xz/zstd/gzip headers and data, zero-length files, non-module ELF files, wrong architecture, directories, FIFOs and
// sockets named *.ko — run in batches through the CLI (many files per invocation, --json --no-depmod, temp
// sysroots), next to valid modules that must still be compressed.
// Contract checked for every input: exit code 0/1/2 (never 70, never a signal), bounded time, no E_INTERNAL; a
// refused file gets an error naming it and is byte-identical afterwards, with no second name created; a processed
// file decodes (real xz/zstd/gzip tools) to exactly the bytes a correct tool must preserve. Inputs the kernel itself
// would refuse (truncated ELF, truncated or corrupted xz, wrong machine/class, not a module …) must be refused.
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import {join, relative} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {exampleModule, makeSysroot} from '../helpers/tree.js';
import {CLI_KIND, compressWith, debianCorpus, decodeFile, fmtS, kmodpress, sha256} from './_lib.js';

interface Input {
	id: string;
	/** what was done to it */
	what: string;
	/** file suffix: .ko, .ko.xz, .ko.zst, .ko.gz */
	suffix: string;
	/** bytes to write; undefined for special files (dir, fifo, socket) */
	bytes?: Buffer;
	special?: 'dir' | 'fifo' | 'socket';
	/** the kernel would refuse it: kmodpress must refuse it */
	mustFail: boolean;
	/** what a processed result must decode to */
	preserve?: Buffer;
}

// ---------------------------------------------------------------------------------------------------------------
// ELF layout, parsed here independently of src/elf

interface Layout {
	shoff: number;
	shnum: number;
	sections: {name: string; offset: number; size: number; type: number; hdr: number}[];
	/** end of the ELF proper (section table / last section), where an appended signature starts */
	elfEnd: number;
	sig?: {start: number; infoStart: number; magicStart: number};
}

function layout(b: Buffer): Layout {
	const shoff = Number(b.readBigUInt64LE(0x28));
	const shnum = b.readUInt16LE(0x3c);
	const shstrndx = b.readUInt16LE(0x3e);
	const raw = Array.from({length: shnum}, (_, i) => {
		const o = shoff + i * 64;
		return {nameOff: b.readUInt32LE(o), type: b.readUInt32LE(o + 4), offset: Number(b.readBigUInt64LE(o + 0x18)), size: Number(b.readBigUInt64LE(o + 0x20)), hdr: o};
	});
	const str = raw[shstrndx]!;
	const sections = raw.map((s) => {
		const start = str.offset + s.nameOff;
		return {name: b.toString('latin1', start, b.indexOf(0, start)), offset: s.offset, size: s.size, type: s.type, hdr: s.hdr};
	});
	let elfEnd = shoff + shnum * 64;
	for (const s of sections) if (s.type !== 8 && s.type !== 0) elfEnd = Math.max(elfEnd, s.offset + s.size);
	const MAGIC = '~Module signature appended~\n';
	let sig: Layout['sig'];
	if (b.toString('latin1', b.length - MAGIC.length) === MAGIC) {
		const magicStart = b.length - MAGIC.length;
		const infoStart = magicStart - 12;
		const sigLen = b.readUInt32BE(infoStart + 8);
		sig = {start: infoStart - sigLen, infoStart, magicStart};
		assert.is(sig.start, elfEnd, 'signature starts right after the ELF');
	}
	return {shoff, shnum, sections, elfEnd, sig};
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
const rand = prng(Number(process.env.KMODPRESS_STRESS_SEED ?? 6));
const randInt = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo)); // [lo, hi)

function flip(b: Buffer, offset: number, bit = randInt(0, 8)): Buffer {
	const c = Buffer.from(b);
	c[offset]! ^= 1 << bit;
	return c;
}

let counter = 0;
const nextId = (): string => `f${String(counter++).padStart(4, '0')}`;

/** ELF-level mutations of one plain module image. */
function elfInputs(label: string, img: Buffer): Input[] {
	const L = layout(img);
	const out: Input[] = [];
	const trunc = (at: number, why: string): void => {
		if (at <= 0 || at >= img.length) return;
		const bytes = img.subarray(0, at);
		// cut inside the ELF proper: the kernel refuses it ("truncated or corrupt"); cut inside the signature: the
		// ELF is whole, the module merely unsigned with trailing bytes — either outcome, the bytes preserved
		out.push({id: nextId(), what: `${label}: truncated at ${at} (${why})`, suffix: '.ko', bytes, mustFail: at < L.elfEnd, preserve: bytes});
	};
	const mut = (bytes: Buffer, what: string, mustFail = false): void => {
		out.push({id: nextId(), what: `${label}: ${what}`, suffix: '.ko', bytes, mustFail, preserve: bytes});
	};
	// truncations at structural boundaries
	for (const at of [1, 4, 15, 16, 52, 63, 64, 65]) trunc(at, 'ELF header');
	for (const d of [-1, 0, 1, 64, 63]) trunc(L.shoff + d, 'section header table start');
	trunc(L.shoff + Math.floor(L.shnum / 2) * 64, 'middle of the section header table');
	for (const d of [-1, 0, 1]) trunc(L.shoff + L.shnum * 64 + d, 'section header table end');
	const interesting = new Set(['.modinfo', '__versions', '.BTF', '.gnu.linkonce.this_module', '.symtab', '.strtab', '.shstrtab', '.text', '.rela.text', '__ksymtab', '.data']);
	for (const s of L.sections) {
		if (s.type === 8 || s.type === 0 || s.size === 0) continue;
		if (!interesting.has(s.name) && rand() > 0.25) continue;
		trunc(s.offset, `start of ${s.name}`);
		trunc(s.offset + s.size, `end of ${s.name}`);
		if (s.size > 2) trunc(s.offset + Math.floor(s.size / 2), `middle of ${s.name}`);
	}
	if (L.sig) {
		trunc(L.sig.start, 'signature start (ELF end)');
		trunc(L.sig.start + 1, 'inside the PKCS#7 signature');
		trunc(L.sig.infoStart, 'module_signature struct start');
		trunc(L.sig.infoStart + 8, 'inside module_signature');
		trunc(L.sig.magicStart, 'signature magic start');
		trunc(img.length - 1, 'last byte of the signature magic');
	}
	// bit flips
	for (let i = 0; i < 24; i++) {
		const at = i < 16 ? i : randInt(16, 64);
		mut(flip(img, at), `bit flip in the ELF header at ${at}`);
	}
	for (let i = 0; i < 16; i++) {
		const at = randInt(L.shoff, L.shoff + L.shnum * 64);
		mut(flip(img, at), `bit flip in the section header table at ${at} (section ${Math.floor((at - L.shoff) / 64)}, field offset ${(at - L.shoff) % 64})`);
	}
	for (const name of ['.modinfo', '__versions', '.BTF', '.gnu.linkonce.this_module', '.symtab', '.strtab']) {
		const s = L.sections.find((x) => x.name === name);
		if (!s || s.size === 0) continue;
		for (let i = 0; i < 5; i++) {
			const at = randInt(s.offset, s.offset + s.size);
			mut(flip(img, at), `bit flip in ${name} at ${at}`);
		}
	}
	if (L.sig) {
		for (const [lo, hi, where] of [[L.sig.start, L.sig.infoStart, 'PKCS#7 signature'], [L.sig.infoStart, L.sig.magicStart, 'module_signature'], [L.sig.magicStart, img.length, 'signature magic']] as const) {
			for (let i = 0; i < 3; i++) {
				const at = randInt(lo, hi);
				mut(flip(img, at), `bit flip in the ${where} at ${at}`);
			}
		}
	}
	// wrong architecture / class / encoding / type: the kernel refuses each ("Exec format error")
	for (const [m, name] of [[183, 'aarch64'], [3, 'i386'], [40, 'arm'], [243, 'riscv'], [0, 'none']] as const) {
		const c = Buffer.from(img);
		c.writeUInt16LE(m, 18);
		mut(c, `e_machine ${name}`, true);
	}
	{
		const c = Buffer.from(img);
		c[4] = 1;
		mut(c, 'EI_CLASS 32-bit with a 64-bit body', true);
		const d = Buffer.from(img);
		d[5] = 2;
		mut(d, 'EI_DATA big-endian', true);
		const e = Buffer.from(img);
		e.writeUInt16LE(2, 16);
		mut(e, 'e_type ET_EXEC', true);
		const f = Buffer.from(img);
		f.writeUInt16LE(3, 16);
		mut(f, 'e_type ET_DYN', true);
		const g = Buffer.from(img);
		g.writeUInt16LE(0, 0x3c);
		mut(g, 'e_shnum 0', true);
		const h = Buffer.from(img);
		h.writeBigUInt64LE(BigInt(img.length), 0x28);
		mut(h, 'e_shoff past the end', true);
		const k = Buffer.from(img);
		k.writeBigUInt64LE(0xffffffffffffff00n, 0x28);
		mut(k, 'e_shoff near 2^64', true);
		const j = Buffer.from(img);
		j.writeUInt16LE(0xffff, 0x3e);
		mut(j, 'e_shstrndx out of range', true);
	}
	return out;
}

/** Container-level mutations of one compressed module. */
function containerInputs(label: string, img: Buffer): Input[] {
	const out: Input[] = [];
	const add = (suffix: string, bytes: Buffer, what: string, mustFail: boolean): void => {
		out.push({id: nextId(), what: `${label}: ${what}`, suffix, bytes, mustFail, preserve: img});
	};
	// xz (crc32 as the kernel writes it, and crc64): every truncation and every flip breaks a CRC or the format
	for (const check of ['crc32', 'crc64']) {
		const x = compressWith('xz', [`--check=${check}`, '--lzma2=dict=1MiB', '-T1'], img);
		const bh = 12;
		const bhSize = (x[bh]! + 1) * 4;
		const backward = (x.readUInt32LE(x.length - 8) + 1) * 4;
		const index = x.length - 12 - backward;
		const cuts: [number, string][] = [[1, 'magic'], [6, 'magic end'], [8, 'stream flags'], [11, 'stream header CRC'], [12, 'stream header end'], [13, 'block header'],
			[bh + bhSize, 'block data start'], [bh + bhSize + 1, 'block data'], [Math.floor((bh + bhSize + index) / 2), 'middle of the data'], [index - 1, 'block check'],
			[index, 'index start'], [index + 1, 'inside the index'], [x.length - 12, 'stream footer start'], [x.length - 6, 'inside the footer'], [x.length - 1, 'last byte']];
		for (const [at, why] of cuts) add('.ko.xz', x.subarray(0, at), `xz ${check} truncated at ${at} (${why})`, true);
		const flips: [number, string][] = [[0, 'magic'], [6, 'stream flags'], [7, 'check type'], [9, 'stream header CRC'], [bh, 'block header size'], [bh + 1, 'block flags'],
			[bh + 2, 'filter id'], [bh + bhSize - 1, 'block header CRC'], [index - 2, 'block check'], [index + 1, 'index'], [x.length - 10, 'footer CRC'], [x.length - 6, 'backward size'], [x.length - 1, 'footer magic']];
		for (let i = 0; i < 6; i++) flips.push([randInt(bh + bhSize, index - 4), 'LZMA2 data']);
		for (const [at, why] of flips) add('.ko.xz', flip(x, at), `xz ${check} bit flip at ${at} (${why})`, true);
		// trailing garbage and a second stream: the kernel decodes only the first (truncated ELF) → must not pass as is
		add('.ko.xz', Buffer.concat([x, Buffer.from('garbage!')]), `xz ${check} with trailing garbage`, true);
		out.push({id: nextId(), what: `${label}: xz ${check} two streams`, suffix: '.ko.xz', bytes: Buffer.concat([x, x]), mustFail: false, preserve: Buffer.concat([img, img])});
	}
	// zstd with content size and checksum (zstd writes both for a file)
	{
		const dir = mkdtempSync(join(tmpdir(), 'kmodpress-fuzz-zst-'));
		writeFileSync(join(dir, 'm.ko'), img);
		execFileSync('/usr/bin/zstd', ['-q', '-f', join(dir, 'm.ko'), '-o', join(dir, 'm.ko.zst')], {env: {PATH: '/usr/bin:/bin'}});
		const z = readFileSync(join(dir, 'm.ko.zst'));
		rmSync(dir, {recursive: true});
		const fhd = z[4]!;
		const fcsSize = [fhd & 0x20 ? 1 : 0, 2, 4, 8][fhd >> 6]!;
		const hdrEnd = 5 + (fhd & 0x20 ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + fcsSize;
		const cuts: [number, string][] = [[3, 'magic'], [4, 'magic end'], [5, 'frame header descriptor'], [hdrEnd - 1, 'frame header'], [hdrEnd, 'first block header'],
			[hdrEnd + 2, 'inside the block header'], [hdrEnd + 3, 'block data start'], [Math.floor((hdrEnd + z.length) / 2), 'middle of the data'], [z.length - 4, 'checksum start'], [z.length - 1, 'last byte']];
		for (const [at, why] of cuts) add('.ko.zst', z.subarray(0, at), `zstd truncated at ${at} (${why})`, true);
		// flips in the frame header may or may not leave a decodable frame: either outcome, content preserved
		for (const [at, why] of [[0, 'magic'], [4, 'frame header descriptor'], [5, 'window descriptor'], [hdrEnd - 1, 'frame content size']] as const) add('.ko.zst', flip(z, at), `zstd bit flip at ${at} (${why})`, at === 0);
		for (const [at, why] of [[hdrEnd, 'block header'], [z.length - 2, 'content checksum']] as const) add('.ko.zst', flip(z, at), `zstd bit flip at ${at} (${why})`, false);
		for (let i = 0; i < 6; i++) {
			const at = randInt(hdrEnd + 3, z.length - 4);
			add('.ko.zst', flip(z, at), `zstd bit flip at ${at} (compressed data)`, false);
		}
		// two frames: the kernel decodes only the first (then ENOEXEC), the format says the content is both: refusing
		// or re-encoding the whole content (what `zstd -d` gives) are both faithful
		out.push({id: nextId(), what: `${label}: zstd two frames`, suffix: '.ko.zst', bytes: Buffer.concat([z, z]), mustFail: false, preserve: Buffer.concat([img, img])});
	}
	// gzip -n
	{
		const g = compressWith('gzip', ['-n'], img);
		const cuts: [number, string][] = [[1, 'magic'], [2, 'magic end'], [3, 'method'], [4, 'flags'], [9, 'OS byte'], [10, 'header end'], [11, 'deflate start'],
			[Math.floor(g.length / 2), 'middle of the data']];
		for (const [at, why] of cuts) add('.ko.gz', g.subarray(0, at), `gzip truncated at ${at} (${why})`, true);
		// inside the trailer: the deflate stream is whole (the kernel never reads the trailer): either outcome
		for (const [at, why] of [[g.length - 8, 'trailer start'], [g.length - 4, 'ISIZE'], [g.length - 1, 'last byte']] as const) add('.ko.gz', g.subarray(0, at), `gzip truncated at ${at} (${why})`, false);
		for (const [at, why] of [[0, 'magic'], [2, 'method'], [3, 'flags'], [5, 'MTIME'], [8, 'XFL'], [9, 'OS'], [g.length - 6, 'CRC32'], [g.length - 2, 'ISIZE']] as const) {
			add('.ko.gz', flip(g, at, at === 3 ? randInt(0, 5) : randInt(0, 8)), `gzip bit flip at ${at} (${why})`, at === 0 || at === 2);
		}
		for (let i = 0; i < 5; i++) {
			const at = randInt(10, g.length - 8);
			add('.ko.gz', flip(g, at), `gzip bit flip at ${at} (deflate data)`, false);
		}
	}
	return out;
}

function specialInputs(): Input[] {
	const out: Input[] = [];
	const add = (i: Omit<Input, 'id'>): void => void out.push({id: nextId(), ...i});
	for (const suffix of ['.ko', '.ko.xz', '.ko.zst', '.ko.gz']) add({what: `zero-length ${suffix}`, suffix, bytes: Buffer.alloc(0), mustFail: true});
	add({what: 'one byte', suffix: '.ko', bytes: Buffer.from([0x7f]), mustFail: true});
	add({what: 'text file', suffix: '.ko', bytes: Buffer.from('obj-m += hello.o\n'), mustFail: true});
	add({what: 'random bytes', suffix: '.ko', bytes: Buffer.from(Array.from({length: 4096}, () => randInt(0, 256))), mustFail: true});
	add({what: 'ELF magic then zeros', suffix: '.ko', bytes: Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), Buffer.alloc(200)]), mustFail: true});
	add({what: '/bin/true (an executable)', suffix: '.ko', bytes: readFileSync('/bin/true'), mustFail: true});
	add({what: '/bin/true xz-compressed', suffix: '.ko.xz', bytes: compressWith('xz', ['--check=crc32', '-T1'], readFileSync('/bin/true')), mustFail: true});
	add({what: 'libz.so (a shared object)', suffix: '.ko', bytes: readFileSync(execFileSync('/bin/sh', ['-c', 'readlink -f /lib/x86_64-linux-gnu/libz.so.1'], {encoding: 'utf8'}).trim()), mustFail: true});
	{
		const dir = mkdtempSync(join(tmpdir(), 'kmodpress-fuzz-o-'));
		writeFileSync(join(dir, 'x.c'), 'int x(void) { return 42; }\n');
		execFileSync('/usr/bin/gcc', ['-c', '-o', join(dir, 'x.o'), join(dir, 'x.c')]);
		add({what: 'a relocatable object without .modinfo (gcc -c)', suffix: '.ko', bytes: readFileSync(join(dir, 'x.o')), mustFail: true});
		rmSync(dir, {recursive: true});
	}
	add({what: 'xz of random bytes', suffix: '.ko.xz', bytes: compressWith('xz', ['--check=crc32', '-T1'], Buffer.from(Array.from({length: 3000}, () => randInt(0, 256)))), mustFail: true});
	add({what: 'lzma (legacy) bytes named .ko.xz', suffix: '.ko.xz', bytes: compressWith('xz', ['--format=lzma'], exampleModule()), mustFail: true});
	add({what: 'gzip bytes named .ko.zst', suffix: '.ko.zst', bytes: compressWith('gzip', ['-n'], Buffer.from('not a module')), mustFail: true});
	for (const suffix of ['.ko', '.ko.xz']) {
		add({what: `directory named *${suffix}`, suffix, special: 'dir', mustFail: true});
		add({what: `FIFO named *${suffix}`, suffix, special: 'fifo', mustFail: true});
	}
	add({what: 'socket named *.ko', suffix: '.ko', special: 'socket', mustFail: true});
	return out;
}

// ---------------------------------------------------------------------------------------------------------------

function pickDebianModules(): {name: string; image: Buffer}[] {
	// signed Debian modules of 10–60 KiB with __versions, .BTF and .modinfo
	const out: {name: string; image: Buffer}[] = [];
	for (const m of debianCorpus(60, {minBytes: 6000})) {
		if (m.image.length > 60 << 10) continue;
		const L = layout(m.image);
		const names = new Set(L.sections.map((s) => s.name));
		if (L.sig && names.has('__versions') && names.has('.BTF') && names.has('.modinfo')) out.push({name: m.name, image: m.image});
		if (out.length === 3) break;
	}
	assert.is(out.length, 3, 'three signed Debian modules with __versions and .BTF');
	return out;
}

interface Totals {
	inputs: number;
	crashes: number;
	modified: number;
	refused: number;
	processed: number;
	problems: string[];
	maxBatchMs: number;
	totalMs: number;
	batches: number;
}

async function runBatch(inputs: Input[], controls: {name: string; image: Buffer}[], totals: Totals, json = true): Promise<void> {
	const s = makeSysroot();
	const servers: ReturnType<typeof createServer>[] = [];
	try {
		const paths = new Map<Input, string>();
		for (const inp of inputs) {
			const p = join(s.moduleDir, 'extra', `${inp.id}${inp.suffix}`);
			mkdirSync(join(s.moduleDir, 'extra'), {recursive: true});
			if (inp.special === 'dir') mkdirSync(p);
			else if (inp.special === 'fifo') execFileSync('/usr/bin/mkfifo', [p]);
			else if (inp.special === 'socket') {
				const srv = createServer();
				await new Promise<void>((r) => srv.listen(p, r));
				servers.push(srv);
			} else s.put(`extra/${inp.id}${inp.suffix}`, inp.bytes!);
			paths.set(inp, p);
		}
		const ctl = controls.map((c) => ({...c, path: s.put(`updates/${c.name}.ko`, c.image)}));
		const args = ['compress', '--kernel', s.kv, '--root', s.root, '--no-depmod', ...(json ? ['--json'] : []), join(s.moduleDir, 'extra'), join(s.moduleDir, 'updates')];
		const r = kmodpress(args, {timeoutMs: 180_000});
		totals.batches++;
		totals.totalMs += r.ms;
		totals.maxBatchMs = Math.max(totals.maxBatchMs, r.ms);
		if (r.signal || r.code === null || ![0, 1, 2].includes(r.code)) {
			totals.crashes++;
			totals.problems.push(`batch crashed: exit ${r.code} signal ${r.signal} after ${r.ms} ms: ${r.stderr.slice(0, 800)}`);
			return;
		}
		if (/internal error/i.test(r.stderr)) totals.problems.push(`internal error on stderr: ${r.stderr.slice(0, 500)}`);
		let report: {modules: {path: string; outcome: string; result?: string; error?: {code: string; message: string; file?: string}}[]; errors: {code: string; file?: string; message: string}[]} | undefined;
		if (json) {
			try {
				report = JSON.parse(r.stdout);
			} catch {
				totals.problems.push(`stdout is not JSON: ${r.stdout.slice(0, 300)}`);
				return;
			}
			if ((report as unknown as {error?: unknown}).error) {
				totals.problems.push(`whole-run error: ${r.stdout.slice(0, 500)}`);
				return;
			}
			for (const e of report!.errors) if (e.code === 'E_INTERNAL') { totals.crashes++; totals.problems.push(`E_INTERNAL: ${e.message}`); }
			for (const m of report!.modules) if (m.error?.code === 'E_INTERNAL') { totals.crashes++; totals.problems.push(`E_INTERNAL for ${m.path}: ${m.error.message}`); }
		}
		const expectFail = inputs.length > 0;
		if (expectFail && r.code !== 1) totals.problems.push(`batch with bad inputs exited ${r.code}, expected 1`);
		for (const inp of inputs) {
			totals.inputs++;
			const p = paths.get(inp)!;
			const label = `${inp.id}${inp.suffix} [${inp.what}]`;
			const base = p.slice(0, p.length - inp.suffix.length);
			const siblings = ['.ko', '.ko.xz', '.ko.zst', '.ko.gz'].map((x) => base + x).filter((x) => x !== p && existsSync(x));
			let refused: boolean;
			let result: string | undefined;
			if (json) {
				const entry = report!.modules.find((m) => m.path === p);
				const err = report!.errors.find((e) => e.file === p || e.message.includes(p));
				if (entry && entry.outcome !== 'failed') {
					refused = false;
					result = entry.result;
				} else if (entry?.error || err) {
					refused = true;
					const text = entry?.error ? `${entry.error.file ?? ''} ${entry.error.message}` : `${err!.file ?? ''} ${err!.message}`;
					if (!text.includes(p)) totals.problems.push(`${label}: error does not name the file: ${text.slice(0, 200)}`);
				} else {
					totals.problems.push(`${label}: neither processed nor reported`);
					continue;
				}
			} else {
				const rel = relative(s.moduleDir, p);
				const line = r.stdout.split('\n').find((l) => l.includes(rel));
				if (!line) {
					totals.problems.push(`${label}: no output line names ${rel}`);
					continue;
				}
				refused = line.startsWith('FAILED');
				if (refused && !/E_[A-Z_]+/.test(line)) totals.problems.push(`${label}: FAILED line without an error code: ${line}`);
				if (!refused) {
					const m = / → (\S+)/.exec(line);
					result = m ? join(s.moduleDir, m[1]!) : p;
				}
			}
			if (refused) {
				totals.refused++;
				if (siblings.length) totals.problems.push(`${label}: refused, yet a second name appeared: ${siblings.join(', ')}`);
				if (inp.bytes) {
					let now: Buffer | undefined;
					try {
						now = readFileSync(p);
					} catch {
						now = undefined;
					}
					if (!now || !now.equals(inp.bytes)) {
						totals.modified++;
						totals.problems.push(`${label}: refused but ${now ? 'modified' : 'gone'}`);
					}
				} else if (!existsSync(p)) {
					totals.modified++;
					totals.problems.push(`${label}: special file removed`);
				}
				continue;
			}
			totals.processed++;
			if (inp.mustFail) totals.problems.push(`${label}: the kernel would refuse it, kmodpress accepted it (outcome ${result})`);
			if (!result || !existsSync(result)) {
				totals.problems.push(`${label}: processed but its result ${result} does not exist`);
				continue;
			}
			if (result !== p && existsSync(p)) totals.problems.push(`${label}: processed into ${result} but the old name is still there`);
			const others = siblings.filter((x) => x !== result);
			if (others.length) totals.problems.push(`${label}: extra names ${others.join(', ')}`);
			let decoded: Buffer | undefined;
			try {
				decoded = decodeFile(readFileSync(result));
			} catch (e) {
				totals.problems.push(`${label}: result ${result} does not decode: ${(e as Error).message.split('\n')[0]}`);
				continue;
			}
			if (!inp.preserve || !decoded.equals(inp.preserve)) {
				totals.modified++;
				totals.problems.push(`${label}: result decodes to different bytes (${sha256(decoded).slice(0, 12)} vs ${inp.preserve ? sha256(inp.preserve).slice(0, 12) : 'none'})`);
			}
		}
		for (const c of ctl) {
			const xz = `${c.path}.xz`;
			if (existsSync(c.path) || !existsSync(xz) || !decodeFile(readFileSync(xz)).equals(c.image)) {
				totals.problems.push(`valid module ${c.name} next to the bad ones was not compressed correctly`);
			}
		}
	} finally {
		for (const srv of servers) srv.close();
		s.cleanup();
	}
}

test('fuzz: >= 500 broken inputs from real modules, in batches through the CLI — no crash, bounded time, each refused by name and left byte-identical', async () => {
	const started = Date.now();
	const debian = pickDebianModules();
	const sources: [string, Buffer][] = [['example', exampleModule()], ['example signed', exampleModule('signed')], ...debian.map((d) => [`debian ${d.name}`, d.image] as [string, Buffer])];
	const inputs: Input[] = [];
	for (const [label, img] of sources) inputs.push(...elfInputs(label, img));
	for (const [label, img] of [sources[1]!, sources[2]!]) inputs.push(...containerInputs(label, img));
	inputs.push(...specialInputs());
	const mustFail = inputs.filter((i) => i.mustFail).length;
	console.log(`STRESS fuzz: ${inputs.length} inputs (${mustFail} the kernel would refuse) from ${sources.length} real modules, generated in ${fmtS(Date.now() - started)}, CLI ${CLI_KIND}`);
	assert.ok(inputs.length >= 500, `${inputs.length} inputs`);
	// shuffle so every batch mixes kinds, then batches of 90 next to two valid modules
	for (let i = inputs.length - 1; i > 0; i--) {
		const j = randInt(0, i + 1);
		[inputs[i], inputs[j]] = [inputs[j]!, inputs[i]!];
	}
	const totals: Totals = {inputs: 0, crashes: 0, modified: 0, refused: 0, processed: 0, problems: [], maxBatchMs: 0, totalMs: 0, batches: 0};
	const controls = [{name: 'ctl_hello', image: exampleModule()}, {name: `ctl_${debian[0]!.name}`, image: debian[0]!.image}];
	for (let i = 0; i < inputs.length; i += 90) await runBatch(inputs.slice(i, i + 90), controls, totals);
	// one more batch through the human output: every refused file has a FAILED line naming it
	const human: Totals = {inputs: 0, crashes: 0, modified: 0, refused: 0, processed: 0, problems: [], maxBatchMs: 0, totalMs: 0, batches: 0};
	await runBatch(inputs.slice(0, 60), controls, human, false);
	console.log(`STRESS fuzz: inputs ${totals.inputs}, crashes ${totals.crashes}, files modified ${totals.modified}, refused ${totals.refused}, processed with content preserved ${totals.processed - totals.problems.filter((p) => p.includes('different bytes')).length}, problems ${totals.problems.length}; ${totals.batches} batches, longest ${fmtS(totals.maxBatchMs)}, CLI total ${fmtS(totals.totalMs)}; human-output batch: ${human.inputs} inputs, ${human.problems.length} problems; ${fmtS(Date.now() - started)}`);
	for (const p of [...totals.problems, ...human.problems].slice(0, 40)) console.log(`  ${p}`);
	assert.is(totals.crashes, 0);
	assert.is(totals.modified, 0);
	assert.equal(totals.problems.slice(0, 10), []);
	assert.equal(human.problems.slice(0, 10), []);
	assert.ok(totals.maxBatchMs < 120_000, 'bounded time per batch');
});

test.run();
