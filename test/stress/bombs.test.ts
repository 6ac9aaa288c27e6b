// Decompression bombs (issue #6): xz, zstd and gzip files that inflate far past the bound are refused with an error
// naming them, left byte-identical, without the process's memory following the inflation. Peak RSS is the child's
// VmHWM, polled from /proc every few milliseconds (and the last value before it exits).
//   - the default bound (1 GiB): a single zstd frame of 1.5 GiB of zeros (54 KiB on disk), and a sparse 1.5 GiB
//     plain .ko (never read);
//   - maxDecompressedBytes: 64 MiB from <root>/etc/kmodpress/config.json: xz, zstd and gzip single streams of
//     320 MiB, and the example module followed by 320 MiB of zeros in one xz stream (a "real" module that bloats).
// Valid modules in the same run are still compressed.
import {execFileSync, spawn} from 'node:child_process';
import {closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, ftruncateSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {exampleModule, makeSysroot, type Sysroot} from '../helpers/tree.js';
import {CLI_ARGV, CLI_KIND, decodeFile, fmtS, REPO, sha256, sleep, vmHWM} from './_lib.js';

const MiB = 1 << 20;

/** `head -c N /dev/zero | TOOL ARGS` (optionally after a prefix), one stream */
function zeros(bytes: number, tool: string, args: string[], prefix?: Buffer): Buffer {
	const pre = prefix ? `cat "$PREFIX"; ` : '';
	const env: NodeJS.ProcessEnv = {PATH: '/usr/bin:/bin'};
	let tmp: string | undefined;
	if (prefix) {
		tmp = join(tmpdir(), `kmodpress-stress-prefix-${process.pid}`);
		writeFileSync(tmp, prefix);
		env.PREFIX = tmp;
	}
	try {
		return execFileSync('/bin/bash', ['-c', `set -o pipefail; { ${pre}head -c ${bytes} /dev/zero; } | ${tool} ${args.join(' ')} -c`], {env, maxBuffer: 256 * MiB});
	} finally {
		if (tmp) execFileSync('/bin/rm', ['-f', tmp]);
	}
}

/** Run the CLI, polling its peak RSS. */
async function runMeasured(args: string[]): Promise<{code: number | null; signal: string | null; stdout: string; stderr: string; peakKiB: number; ms: number}> {
	const started = Date.now();
	const child = spawn(process.execPath, [...CLI_ARGV, ...args], {cwd: REPO, stdio: ['ignore', 'pipe', 'pipe']});
	let stdout = '';
	let stderr = '';
	child.stdout.on('data', (d) => (stdout += d));
	child.stderr.on('data', (d) => (stderr += d));
	let peak = 0;
	let done = false;
	const closed = new Promise<{code: number | null; signal: string | null}>((resolve) => child.on('close', (code, signal) => {
		done = true;
		resolve({code, signal});
	}));
	const killer = setTimeout(() => child.kill('SIGKILL'), 300_000);
	while (!done) {
		const v = vmHWM(child.pid!);
		if (v !== undefined) peak = Math.max(peak, v);
		await sleep(5);
	}
	clearTimeout(killer);
	const r = await closed;
	return {...r, stdout, stderr, peakKiB: peak, ms: Date.now() - started};
}

interface Bomb {
	rel: string;
	bytes?: Buffer;
	sparse?: number;
	what: string;
	inflated: number;
}

async function bombRun(s: Sysroot, bombs: Bomb[], label: string, limitMiB: number): Promise<{peakMiB: number; ms: number; problems: string[]}> {
	const problems: string[] = [];
	const paths = bombs.map((b) => {
		if (b.sparse) {
			const p = join(s.moduleDir, b.rel);
			mkdirSync(join(p, '..'), {recursive: true});
			const fd = openSync(p, 'w');
			ftruncateSync(fd, b.sparse);
			closeSync(fd);
			return p;
		}
		return s.put(b.rel, b.bytes!);
	});
	const good = s.put('updates/kmodpress_hello.ko', exampleModule());
	for (const x of ['.xz']) if (existsSync(good + x)) execFileSync('/bin/rm', ['-f', good + x]);
	const r = await runMeasured(['compress', '--kernel', s.kv, '--root', s.root, '--no-depmod', '--json', '--threads', '2', ...paths, good]);
	const peakMiB = r.peakKiB / 1024;
	if (r.code !== 1) problems.push(`${label}: exit ${r.code} signal ${r.signal}, expected 1: ${r.stderr.slice(0, 400)}`);
	let report: {modules: {path: string; outcome: string; error?: {code: string; message: string; file?: string}}[]} | undefined;
	try {
		report = JSON.parse(r.stdout);
	} catch {
		problems.push(`${label}: stdout not JSON: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
	}
	bombs.forEach((b, i) => {
		const p = paths[i]!;
		const m = report?.modules.find((x) => x.path === p);
		if (!m || m.outcome !== 'failed') problems.push(`${label}: ${b.what}: not refused (${m?.outcome ?? 'absent'})`);
		else if (!m.error || m.error.file !== p) problems.push(`${label}: ${b.what}: error does not name the file in its file field: ${JSON.stringify(m.error)}`);
		else console.log(`STRESS bombs:   ${b.what}: ${m.error.code}`);
		if (b.bytes && !readFileSync(p).equals(b.bytes)) problems.push(`${label}: ${b.what}: modified`);
		if (['.xz', '.zst', '.gz'].some((x) => existsSync(p.replace(/\.ko(\.\w+)?$/, `.ko${x}`)) && !p.endsWith(x))) problems.push(`${label}: ${b.what}: a second name appeared`);
	});
	if (!existsSync(`${good}.xz`) || !decodeFile(readFileSync(`${good}.xz`)).equals(exampleModule())) problems.push(`${label}: the valid module was not compressed`);
	console.log(`STRESS bombs: ${label}: ${bombs.length} bombs (inflating to ${bombs.map((b) => `${Math.round(b.inflated / MiB)} MiB`).join(', ')}), bound ${limitMiB} MiB, peak RSS ${peakMiB.toFixed(0)} MiB, ${fmtS(r.ms)}, exit ${r.code}`);
	return {peakMiB, ms: r.ms, problems};
}

test('bombs: 1.5 GiB of zeros in a 54 KiB zstd frame and a sparse 1.5 GiB .ko are refused under the default 1 GiB bound; RSS stays far below', async () => {
	const t = Date.now();
	const big = 1536 * MiB;
	const zst = zeros(big, '/usr/bin/zstd', ['-q', '-1']);
	console.log(`STRESS bombs: built a ${zst.length}-byte zstd bomb in ${fmtS(Date.now() - t)} (CLI ${CLI_KIND})`);
	const s = makeSysroot();
	try {
		const r = await bombRun(s, [
			{rel: 'extra/bomb_zstd.ko.zst', bytes: zst, what: 'zstd 1.5 GiB', inflated: big},
			{rel: 'extra/sparse.ko', sparse: big, what: 'sparse 1.5 GiB plain .ko', inflated: big},
		], 'default bound', 1024);
		assert.equal(r.problems, []);
		// refused without holding the inflated data: below the 1.5 GiB the bomb inflates to
		assert.ok(r.peakMiB < 1536, `peak RSS ${r.peakMiB.toFixed(0)} MiB`);
	} finally {
		s.cleanup();
	}
});

test('bombs: with maxDecompressedBytes 64 MiB, xz/zstd/gzip streams of 320 MiB and a module bloated with 320 MiB of zeros are refused; RSS bounded', async () => {
	const t = Date.now();
	const n = 320 * MiB;
	const mod = exampleModule();
	const bombs: Bomb[] = [
		{rel: 'extra/bomb_xz.ko.xz', bytes: zeros(n, '/usr/bin/xz', ['-0', '-T1', '--check=crc32']), what: 'xz crc32 320 MiB', inflated: n},
		{rel: 'extra/bomb_xz64.ko.xz', bytes: zeros(n, '/usr/bin/xz', ['-0', '-T1']), what: 'xz crc64 320 MiB', inflated: n},
		{rel: 'extra/bomb_zst.ko.zst', bytes: zeros(n, '/usr/bin/zstd', ['-q', '-1']), what: 'zstd 320 MiB', inflated: n},
		{rel: 'extra/bomb_gz.ko.gz', bytes: zeros(n, '/bin/gzip', ['-1', '-n']), what: 'gzip 320 MiB', inflated: n},
		{rel: 'extra/bloated.ko.xz', bytes: zeros(n, '/usr/bin/xz', ['-0', '-T1', '--check=crc32'], mod), what: 'example module + 320 MiB of zeros, xz', inflated: n + mod.length},
	];
	console.log(`STRESS bombs: built ${bombs.length} bombs (${bombs.map((b) => `${Math.round(b.bytes!.length / 1024)} KiB`).join(', ')}) in ${fmtS(Date.now() - t)}`);
	for (const b of bombs) assert.ok(b.bytes!.length < 2 * MiB, `${b.what} is small on disk`);
	const s = makeSysroot();
	try {
		mkdirSync(join(s.root, 'etc/kmodpress'), {recursive: true});
		writeFileSync(join(s.root, 'etc/kmodpress/config.json'), JSON.stringify({maxDecompressedBytes: 64 * MiB}));
		const before = bombs.map((b) => sha256(b.bytes!));
		const problems: string[] = [];
		const peaks: string[] = [];
		// one run per bomb (with a valid module beside it), so each algorithm's peak is its own
		for (const b of bombs) {
			const r = await bombRun(s, [b], `config bound, ${b.what}`, 64);
			problems.push(...r.problems);
			peaks.push(`${b.what} ${r.peakMiB.toFixed(0)} MiB`);
			// the bound caps what is held: 64 MiB of output (twice, for a copy) plus the runtime (~150 MiB) — not the
			// 320 MiB the bomb inflates to
			if (r.peakMiB > 64 * 2 + 200) problems.push(`${b.what}: peak RSS ${r.peakMiB.toFixed(0)} MiB with a 64 MiB bound: memory follows the inflation, not the bound`);
		}
		console.log(`STRESS bombs: config bound 64 MiB, peak RSS per bomb: ${peaks.join(', ')}`);
		assert.equal(bombs.map((b) => sha256(readFileSync(join(s.moduleDir, b.rel)))), before, 'bombs left byte-identical');
		assert.equal(problems, []);
	} finally {
		s.cleanup();
	}
});

test.run();
