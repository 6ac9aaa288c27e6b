// The kernel lab: real kernels booted under QEMU (TCG) decide whether modules load. One boot per kernel, every case
// of that kernel batched into it:
//   - the three tiny kernels of test/lab/build-kernels.sh (gzip, zstd, xz + MODULE_SIG_FORCE): the example module
//     compressed by kmodpress loads; the refusals of kernel/module/decompress.c (and of kernel/module/signing.c) are refused
//     with the errno and the words it gives;
//   - Debian's kernel with module.sig_enforce=1: Debian's signed modules decompressed and recompressed by kmodpress
//     still load, a dependency first; unsigned and unknown-key modules are rejected.
// `kmodpress verify --json` must say `loadable` exactly where the booted kernel loaded (see docs/lab.md).
// KMODPRESS_LAB_ONLY=gzip,debian runs some kernels only; KMODPRESS_LAB_VERBOSE=1 prints every verdict.
import {execFileSync, spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {basename, dirname, join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {type BootResult, bootAndLoad, type CaseResult, LOADER_SOURCE} from '../../src/boot/index.js';
import {isStaticExecutable} from '../../src/boot/elf-static.js';
import {cached, DEBIAN_BUILD, DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {exampleModule} from '../helpers/tree.js';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'src/cli.ts');
const TOOL_ENV = {PATH: '/usr/bin:/bin', LC_ALL: 'C'};
const work = mkdtempSync(join(tmpdir(), 'kmodpress-lab-'));
process.on('exit', () => rmSync(work, {recursive: true, force: true}));

// --- tools, all real ----------------------------------------------------------------------------------------------
const tool = (file: string, args: string[], input?: Buffer): Buffer =>
	execFileSync(file, args, {input, maxBuffer: 1 << 30, env: TOOL_ENV, stdio: ['pipe', 'pipe', 'pipe']});
const xz = (data: Buffer, ...opts: string[]) => tool('/usr/bin/xz', ['-c', '-T1', ...opts], data);
const gz = (data: Buffer) => tool('/usr/bin/gzip', ['-n', '-c'], data);
const zst = (data: Buffer, ...opts: string[]) => tool('/usr/bin/zstd', ['-q', '-c', ...opts], data);
/** a python3 filter: stdin → stdout */
const py = (code: string, data: Buffer) => tool('/usr/bin/python3', ['-c', `import sys, struct\nd = sys.stdin.buffer.read()\n${code}\nsys.stdout.buffer.write(out)`], data);
/** gzip of a named file (so the header carries FNAME, unlike kbuild's `gzip -n`) */
function gzNamed(data: Buffer, ...opts: string[]): Buffer {
	const f = join(mkdtempSync(join(work, 'gz-')), 'kmodpress_hello.ko');
	writeFileSync(f, data);
	return tool('/usr/bin/gzip', ['-c', ...opts, f]);
}
const halves = (data: Buffer): [Buffer, Buffer] => [data.subarray(0, data.length >> 1), data.subarray(data.length >> 1)];

function signFile(signFileTool: string, keyDir: string, data: Buffer): Buffer {
	const f = join(mkdtempSync(join(work, 'sign-')), 'm');
	writeFileSync(f, data);
	tool(signFileTool, ['sha256', join(keyDir, 'signing_key.pem'), join(keyDir, 'signing_key.x509'), f]);
	return readFileSync(f);
}

function kmodpress(args: string[]) {
	const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28});
	return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

/** kmodpress compress, as a package manager runs it, on a temp sysroot; returns the compressed file. */
function kmodpressCompress(kv: string, buildDir: string, name: string, ko: Buffer): string {
	const root = mkdtempSync(join(work, 'root-'));
	const file = join(root, 'lib/modules', kv, 'extra', name);
	mkdirSync(dirname(file), {recursive: true});
	writeFileSync(file, ko);
	// a sysroot of the guest system (a module tree of its own), not a package image to merge into this host: the
	// host's kmod (Debian's, -ZLIB) is not the one that will read these files
	writeFileSync(join(root, 'lib/modules', kv, 'modules.order'), '');
	const r = kmodpress(['compress', '--kernel', kv, '--build-dir', buildDir, '--root', root, '--no-depmod', '--no-verify',
		'--compress', 'force', '--json', file]);
	assert.is(r.code, 0, `kmodpress compress ${name} for ${kv}: ${r.stderr}${r.stdout}`);
	const report = JSON.parse(r.stdout);
	assert.is(report.modules.length, 1);
	const m = report.modules[0];
	assert.is(m.outcome, 'compressed', `kmodpress compress ${name}: ${JSON.stringify(m)}`);
	const ext = {gzip: '.gz', xz: '.xz', zstd: '.zst'}[m.algorithm as string];
	assert.is(m.result, `${file}${ext}`);
	return m.result as string;
}

// --- the cases ----------------------------------------------------------------------------------------------------
type Expect = {loaded: true; message?: RegExp} | {loaded: false; errno: string; message?: RegExp};
interface LabCase {
	name: string;
	/** writes the file(s) and returns the case's file (and dependencies) */
	make: (k: Kernel) => {file: string; deps?: string[]; params?: string};
	expect: Expect;
	/** false when the verdict is not a property of the file (e.g. loaded before its dependency) */
	compareVerify?: boolean;
	/** instead of comparing `loadable`: verify must report this finding code. For a file of another algorithm than
	 * the kernel's: the kernel refuses it (EINVAL), which the lab's loader shows, but kmod >= 31 then decompresses it
	 * itself, so verify may call it loadable (with this warning) when the host's kmod reads that algorithm. */
	verifyFinding?: string;
	isolate?: boolean;
}
interface Kernel {
	key: string;
	kv: string;
	buildDir: string;
	image: string;
	sigEnforce: boolean;
	dir: string;
	/** the example module built against this kernel, unsigned */
	hello: () => Buffer;
	put: (name: string, data: Buffer) => string;
}

function tinyKernel(variant: 'gzip' | 'zstd' | 'xz'): () => Kernel {
	return () => {
		const buildDir = cached('lab', variant);
		const dir = join(work, variant);
		mkdirSync(dir, {recursive: true});
		return {
			key: variant,
			kv: readFileSync(join(buildDir, 'include/config/kernel.release'), 'utf8').trim(),
			buildDir,
			image: cached('lab', variant, 'arch/x86/boot/bzImage'),
			sigEnforce: false,
			dir,
			hello: () => readFileSync(cached('lab', `hello-${variant}`, 'kmodpress_hello.ko')),
			put: (name, data) => {
				const p = join(mkdtempSync(join(dir, 'c-')), name);
				writeFileSync(p, data);
				return p;
			},
		};
	};
}

const debianKernel = (): Kernel => {
	const dir = join(work, 'debian');
	mkdirSync(dir, {recursive: true});
	return {
		key: 'debian', kv: DEBIAN_KV, buildDir: DEBIAN_BUILD, image: `/boot/vmlinuz-${DEBIAN_KV}`, sigEnforce: true, dir,
		hello: () => exampleModule(),
		put: (name, data) => {
			const p = join(mkdtempSync(join(dir, 'c-')), name);
			writeFileSync(p, data);
			return p;
		},
	};
};

const tinySign = (k: Kernel, data: Buffer) => signFile(join(k.buildDir, 'scripts/sign-file'), join(k.buildDir, 'certs'), data);
const HELLO = 'kmodpress_hello.ko';
const kbuildXz = (data: Buffer) => xz(data, '--check=crc32', '--lzma2=dict=1MiB');

const CASES: Record<string, LabCase[]> = {
	gzip: [
		{name: 'the example module compressed by kmodpress (.ko.gz) loads, with its parameter', isolate: true,
			make: (k) => ({file: kmodpressCompress(k.kv, k.buildDir, HELLO, k.hello()), params: 'greeting=lab-gzip'}),
			expect: {loaded: true, message: /kmodpress_hello: lab-gzip/}},
		{name: 'gzip -9 with an FNAME header field (not what kbuild writes) loads', isolate: true,
			make: (k) => ({file: k.put(`${HELLO}.gz`, py('assert d[3] & 0x08\nout = d', gzNamed(k.hello(), '-9')))}),
			expect: {loaded: true, message: /kmodpress_hello: hello/}},
		{name: 'gzip with an FCOMMENT header field: decompression failed with status -3',
			make: (k) => ({file: k.put(`${HELLO}.gz`, py("assert d[3] == 0\nout = d[:3] + bytes([0x10]) + d[4:10] + b'kmodpress lab\\0' + d[10:]", gz(k.hello())))}),
			expect: {loaded: false, errno: 'EINVAL', message: /decompression failed with status -3/}},
		{name: 'two gzip members: only the first is decoded, a truncated ELF: ENOEXEC',
			make: (k) => ({file: k.put(`${HELLO}.gz`, Buffer.concat(halves(k.hello()).map((h) => gz(h))))}),
			expect: {loaded: false, errno: 'ENOEXEC'}},
		{name: 'the wrong algorithm (xz on a gzip kernel): not a gzip compressed module, EINVAL',
			make: (k) => ({file: k.put(`${HELLO}.xz`, kbuildXz(k.hello()))}),
			verifyFinding: 'WRONG_ALGORITHM',
			expect: {loaded: false, errno: 'EINVAL', message: /not a gzip compressed module/}},
	],
	zstd: [
		{name: 'the example module compressed by kmodpress (.ko.zst) loads', isolate: true,
			make: (k) => ({file: kmodpressCompress(k.kv, k.buildDir, HELLO, k.hello()), params: 'greeting=lab-zstd'}),
			expect: {loaded: true, message: /kmodpress_hello: lab-zstd/}},
		{name: 'zstd -19 --no-check loads', isolate: true,
			make: (k) => ({file: k.put(`${HELLO}.zst`, zst(k.hello(), '-19', '--no-check'))}),
			expect: {loaded: true, message: /kmodpress_hello: hello/}},
		{name: 'a skippable frame first: not a zstd compressed module',
			make: (k) => ({file: k.put(`${HELLO}.zst`, py("out = struct.pack('<II', 0x184D2A50, 4) + b'KMPL' + d", zst(k.hello())))}),
			expect: {loaded: false, errno: 'EINVAL', message: /not a zstd compressed module/}},
		{name: 'a frame with a dictionary id: decompression failed with status 32',
			// Frame_Header_Descriptor: Dictionary_ID_flag 1 → a 1-byte DictID after the Window_Descriptor
			make: (k) => ({file: k.put(`${HELLO}.zst`, py([
				"assert d[:4] == b'\\x28\\xb5\\x2f\\xfd'", 'fhd = d[4]', 'assert fhd & 3 == 0',
				'at = 5 + (0 if fhd & 0x20 else 1)', 'out = d[:4] + bytes([fhd | 1]) + d[5:at] + bytes([0x2a]) + d[at:]'].join('\n'), zst(k.hello())))}),
			expect: {loaded: false, errno: 'EINVAL', message: /status 32/}},
		{name: 'two zstd frames: only the first is decoded, a truncated ELF: ENOEXEC',
			make: (k) => ({file: k.put(`${HELLO}.zst`, Buffer.concat(halves(k.hello()).map((h) => zst(h))))}),
			expect: {loaded: false, errno: 'ENOEXEC'}},
		{name: 'the wrong algorithm (gzip on a zstd kernel): not a zstd compressed module, EINVAL',
			make: (k) => ({file: k.put(`${HELLO}.gz`, gz(k.hello()))}),
			verifyFinding: 'WRONG_ALGORITHM',
			expect: {loaded: false, errno: 'EINVAL', message: /not a zstd compressed module/}},
	],
	xz: [
		{name: 'the example module signed with the kernel\'s key, then compressed by kmodpress (.ko.xz), loads under MODULE_SIG_FORCE', isolate: true,
			make: (k) => ({file: kmodpressCompress(k.kv, k.buildDir, HELLO, tinySign(k, k.hello())), params: 'greeting=lab-xz'}),
			expect: {loaded: true, message: /kmodpress_hello: lab-xz/}},
		{name: 'xz --check=none -9e with a 64 MiB dictionary (signed) loads', isolate: true,
			make: (k) => ({file: k.put(`${HELLO}.xz`, xz(tinySign(k, k.hello()), '--check=none', '--lzma2=preset=9e,dict=64MiB'))}),
			expect: {loaded: true, message: /kmodpress_hello: hello/}},
		{name: 'unsigned under MODULE_SIG_FORCE: EKEYREJECTED, Loading of unsigned module is rejected',
			make: (k) => ({file: k.put(`${HELLO}.xz`, kbuildXz(k.hello()))}),
			expect: {loaded: false, errno: 'EKEYREJECTED', message: /Loading of unsigned module is rejected/}},
		{name: 'compressed, then signed (sign-file on the .ko.xz): rejected as unsigned',
			make: (k) => ({file: k.put(`${HELLO}.xz`, tinySign(k, kbuildXz(k.hello())))}),
			expect: {loaded: false, errno: 'EKEYREJECTED', message: /Loading of unsigned module is rejected/}},
		{name: 'xz with a crc64 check (xz\'s default): decompression failed with status 6',
			make: (k) => ({file: k.put(`${HELLO}.xz`, xz(tinySign(k, k.hello()), '--check=crc64'))}),
			expect: {loaded: false, errno: 'EINVAL', message: /decompression failed with status 6/}},
		{name: 'xz with the BCJ x86 filter on a kernel without XZ_DEC_X86: status 6',
			make: (k) => ({file: k.put(`${HELLO}.xz`, xz(tinySign(k, k.hello()), '--check=crc32', '--x86', '--lzma2=dict=1MiB'))}),
			expect: {loaded: false, errno: 'EINVAL', message: /decompression failed with status 6/}},
		{name: 'two concatenated xz streams: only the first is decoded, a truncated (signed) ELF: ENOEXEC',
			// the first half is signed itself, so only "the first stream alone" passes the signature check and then
			// fails as a truncated ELF; decoding both streams would put the signature in the middle (EKEYREJECTED)
			make: (k) => {
				const [a, b] = halves(k.hello());
				return {file: k.put(`${HELLO}.xz`, Buffer.concat([kbuildXz(tinySign(k, a)), kbuildXz(b)]))};
			},
			expect: {loaded: false, errno: 'ENOEXEC'}},
		{name: 'the wrong algorithm (zstd on an xz kernel): not an xz compressed module, EINVAL',
			make: (k) => ({file: k.put(`${HELLO}.zst`, zst(tinySign(k, k.hello())))}),
			verifyFinding: 'WRONG_ALGORITHM',
			expect: {loaded: false, errno: 'EINVAL', message: /not an xz compressed module/}},
	],
	debian: [
		{name: 'Debian\'s signed crc8, decompressed and recompressed by kmodpress, loads under module.sig_enforce=1',
			make: (k) => ({file: kmodpressCompress(k.kv, k.buildDir, 'crc8.ko', xzDecompress(`${DEBIAN_MODDIR}/kernel/lib/crc8.ko.xz`))}),
			expect: {loaded: true}},
		{name: 'omfs (recompressed by kmodpress) loaded before its dependency: Unknown symbol, ENOENT', isolate: true, compareVerify: false,
			make: (k) => ({file: debianRecompressed(k, 'kernel/fs/omfs/omfs.ko.xz')}),
			expect: {loaded: false, errno: 'ENOENT', message: /Unknown symbol crc_itu_t/}},
		{name: 'omfs after its dependency crc-itu-t (both recompressed by kmodpress) loads',
			make: (k) => ({file: debianRecompressed(k, 'kernel/fs/omfs/omfs.ko.xz'), deps: [debianRecompressed(k, 'kernel/lib/crc-itu-t.ko.xz')]}),
			expect: {loaded: true}},
		{name: 'the example module, unsigned, compressed by kmodpress: Loading of unsigned module is rejected',
			make: (k) => ({file: kmodpressCompress(k.kv, k.buildDir, HELLO, exampleModule())}),
			expect: {loaded: false, errno: 'EKEYREJECTED', message: /Loading of unsigned module is rejected/}},
		{name: 'the example module signed with a key Debian does not hold: Loading of module with unavailable key is rejected',
			make: (k) => ({file: kmodpressCompress(k.kv, k.buildDir, HELLO, exampleModule('signed'))}),
			expect: {loaded: false, errno: 'EKEYREJECTED', message: /Loading of module with unavailable key is rejected/}},
	],
};

function xzDecompress(file: string): Buffer {
	return tool('/usr/bin/xz', ['-dc', file]);
}
const recompressed = new Map<string, string>();
function debianRecompressed(k: Kernel, rel: string): string {
	let p = recompressed.get(rel);
	if (!p) {
		p = kmodpressCompress(k.kv, k.buildDir, basename(rel, '.xz'), xzDecompress(join(DEBIAN_MODDIR, rel)));
		recompressed.set(rel, p);
	}
	return p;
}

// --- one boot per kernel, shared by its tests ---------------------------------------------------------------------
const KERNELS: Record<string, () => Kernel> = {gzip: tinyKernel('gzip'), zstd: tinyKernel('zstd'), xz: tinyKernel('xz'), debian: debianKernel};
interface Booted {
	kernel: Kernel;
	result: BootResult;
	/** per case: its files, or why they could not be made (then the case is left out of the boot and fails) */
	files: ({file: string; deps?: string[]} | {error: unknown})[];
	/** per case: its result in `result.cases` */
	results: (CaseResult | undefined)[];
	seconds: number;
}
const boots = new Map<string, Promise<Booted>>();
function booted(key: string): Promise<Booted> {
	let p = boots.get(key);
	if (!p) {
		p = (async () => {
			const kernel = KERNELS[key]!();
			const files = CASES[key]!.map((c) => {
				try {
					return c.make(kernel);
				} catch (error) {
					return {error};
				}
			});
			const booting = CASES[key]!.flatMap((c, i) => {
				const f = files[i]!;
				return 'error' in f ? [] : [{index: i, boot: {...f, isolate: c.isolate ?? false}}];
			});
			const started = Date.now();
			const result = await bootAndLoad({
				kernelImage: kernel.image,
				sigEnforce: kernel.sigEnforce,
				loader: cached('lab', 'loader'),
				cases: booting.map((b) => b.boot),
				timeoutMs: 240_000,
			});
			const seconds = (Date.now() - started) / 1000;
			const results: (CaseResult | undefined)[] = files.map(() => undefined);
			booting.forEach((b, j) => {
				results[b.index] = result.cases[j];
			});
			console.log(`  lab: ${key} (${result.kernelRelease}): boot ${result.bootSeconds.toFixed(1)} s, QEMU ${result.totalSeconds.toFixed(1)} s, ${booting.length} cases`);
			if (process.env.KMODPRESS_LAB_VERBOSE) {
				results.forEach((r, i) => console.log(`    ${CASES[key]![i]!.name}\n      → ${r ? describe(r) : 'not booted'}`));
			}
			return {kernel, result, files, results, seconds};
		})();
		boots.set(key, p);
	}
	return p;
}

function describe(c: CaseResult): string {
	return `loaded=${c.loaded} errno=${c.errnoName || 0} (${c.error}); dmesg: ${c.message.join(' | ') || '(nothing)'}`;
}

// KMODPRESS_LAB_ONLY=gzip,debian restricts a local run to some kernels (CI runs them all)
const only = process.env.KMODPRESS_LAB_ONLY?.split(',').filter(Boolean);
for (const key of Object.keys(CASES).filter((k) => !only || only.includes(k))) {
	test(`lab ${key}: boots, reports its release and built-in decompressor, one boot well under a minute`, async () => {
		const {kernel, result} = await booted(key);
		assert.is(result.kernelRelease, kernel.kv);
		assert.is(result.compression, key === 'debian' ? 'xz' : key);
		if (kernel.sigEnforce) assert.is(result.sigEnforce, 'Y');
		assert.ok(result.bootSeconds < 60, `boot took ${result.bootSeconds} s`);
		assert.ok(result.totalSeconds < 90, `QEMU ran ${result.totalSeconds} s`);
	});
	CASES[key]!.forEach((c, i) => {
		test(`lab ${key}: ${c.name}`, async () => {
			const {files, results} = await booted(key);
			const f = files[i]!;
			if ('error' in f) throw f.error;
			const r = results[i]!;
			assert.is(r.loaded, c.expect.loaded, describe(r));
			if (!c.expect.loaded) assert.is(r.errnoName, c.expect.errno, describe(r));
			if (c.expect.message) assert.match(r.message.join('\n'), c.expect.message, describe(r));
			for (const d of r.deps) assert.ok(d.loaded, `dependency ${d.file}: ${describe({...d, deps: []})}`);
			if (r.loaded && c.isolate) {
				assert.ok(r.modules.length === 1 && r.unloaded[r.modules[0]!] === true, `unloaded again: ${JSON.stringify(r.unloaded)}`);
			}
		});
	});
	test(`lab ${key}: kmodpress verify --json says loadable exactly where the booted kernel loaded`, async () => {
		const {kernel, files, results} = await booted(key);
		const mismatches: string[] = [];
		const rows = CASES[key]!.flatMap((c, i) => {
			const f = files[i]!;
			if ('error' in f) {
				mismatches.push(`${c.name}: its file could not be made: ${String((f.error as Error)?.message ?? f.error)}`);
				return [];
			}
			return c.compareVerify === false ? [] : [{c, file: f.file, deps: f.deps ?? [], verdict: results[i]!}];
		});
		for (const row of rows) {
			// each file on its own, in a sysroot of the target kernel, with its dependencies beside it
			const root = mkdtempSync(join(work, 'verify-'));
			const extra = join(root, 'lib/modules', kernel.kv, 'extra');
			mkdirSync(extra, {recursive: true});
			const deps = row.deps.map((d) => {
				const to = join(extra, basename(d));
				copyFileSync(d, to);
				return to;
			});
			const target = join(extra, basename(row.file));
			copyFileSync(row.file, target);
			const args = ['verify', '--kernel', kernel.kv, '--build-dir', kernel.buildDir, '--root', root, '--json',
				...(kernel.sigEnforce ? ['--sig-enforce'] : []), target, ...deps];
			const r = kmodpress(args);
			let report: {modules?: {path: string; loadable: boolean; findings?: {code: string; message: string}[]}[]; error?: unknown};
			try {
				report = JSON.parse(r.stdout);
			} catch {
				mismatches.push(`${row.c.name}: verify printed no JSON (exit ${r.code}): ${r.stderr.slice(0, 400)}`);
				continue;
			}
			const m = report.modules?.find((x) => x.path === target || basename(x.path) === basename(target));
			if (!m) {
				mismatches.push(`${row.c.name}: verify did not report ${target}: ${JSON.stringify(report).slice(0, 400)}`);
				continue;
			}
			if (row.c.verifyFinding) {
				if (!(m.findings ?? []).some((x) => x.code === row.c.verifyFinding)) {
					mismatches.push(`${row.c.name}: the kernel ${describe(row.verdict)}, but verify has no ${row.c.verifyFinding} finding: ${JSON.stringify(m.findings ?? [])}`);
				}
			} else if (m.loadable !== row.verdict.loaded) {
				mismatches.push(`${row.c.name}: verify loadable=${m.loadable} but the kernel ${describe(row.verdict)}; findings: ${JSON.stringify(m.findings ?? [])}`);
			}
		}
		assert.equal(mismatches, [], mismatches.join('\n'));
	});
}

test('lab: the loader every boot uses is static and built from native/loader.c as it is now (the one verify --boot builds)', () => {
	const loader = cached('lab', 'loader');
	assert.ok(isStaticExecutable(readFileSync(loader)), `${loader} is a static executable`);
	// build-kernels.sh's loader.stamp: the source's sha256, then gcc's version line
	const stamp = readFileSync(cached('lab', 'loader.stamp'), 'utf8').split('\n')[0];
	assert.is(stamp, createHash('sha256').update(readFileSync(LOADER_SOURCE)).digest('hex'), `${loader} is stale: run bash test/lab/build-kernels.sh`);
});

test.run();
