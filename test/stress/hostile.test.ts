// Hostile surroundings (issue #6): kmodpress runs as root inside package build trees, so
//   - config-looking files in the working directory, its parents and $HOME (.config/config.js, .kmodpressrc*,
//     kmodpress.config.*, package.json keys …) are never executed (each writes a marker and throws) nor read (they
//     sit on a strictatime tmpfs: any read moves their atime);
//   - XZ_OPT/XZ_DEFAULTS/ZSTD_CLEVEL/ZSTD_NBTHREADS/GZIP and a PATH full of fake tools (depmod, kmod, xz, flock, cat,
//     getfattr …, each writing a marker) change nothing: output bytes equal a clean run's, no marker written;
//   - symlinks out of the tree (a module, a directory, the name a module is renamed to) are refused or replaced,
//     never followed: nothing outside the tree changes;
//   - a symlink swapped in while compress runs (renameat2(RENAME_EXCHANGE) in a tight loop between a module
//     directory / a module file and a symlink to a decoy directory outside) cannot redirect a read or a write;
//   - mode, owner, group and security.* xattrs survive compression on many modules at once.
import {execFileSync, spawn} from 'node:child_process';
import {chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {basename, join, relative} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {exampleModule, makeSysroot, type Sysroot} from '../helpers/tree.js';
import {CLI_KIND, compressWith, debianCorpus, decodeFile, fmtS, kmodpress, modulesDepEntries, sha256, sleep} from './_lib.js';

const MODULES = (): [string, Buffer][] => {
	const deb = debianCorpus(12, {minBytes: 4000});
	return [
		['extra/kmodpress_hello.ko', exampleModule()],
		['updates/dkms/kmodpress_hello_signed.ko.xz', compressWith('xz', ['-T1'], exampleModule('signed'))],
		['extra/deb0.ko.zst', compressWith('zstd', ['-q'], deb[0]!.image)],
		['extra/deb1.ko.gz', compressWith('gzip', ['-n'], deb[1]!.image)],
		...deb.slice(2).map((m, i) => [`updates/deb${i + 2}.ko`, m.image] as [string, Buffer]),
	];
};

/** name → bytes of every file under the module dir's out-of-tree directories */
function outputs(s: Sysroot): Map<string, string> {
	const out = new Map<string, string>();
	const walk = (d: string): void => {
		if (!existsSync(d)) return;
		for (const e of readdirSync(d, {withFileTypes: true})) {
			const p = join(d, e.name);
			if (e.isDirectory()) walk(p);
			else out.set(relative(s.moduleDir, p), sha256(readFileSync(p)));
		}
	};
	for (const d of ['extra', 'updates']) walk(join(s.moduleDir, d));
	return out;
}

/** A clean run (clean environment, the repository as cwd): its outputs and its report minus paths. */
/** the JSON report with the sysroot path replaced, for comparing two runs */
function normalize(stdout: string, s: Sysroot): string {
	return stdout.split(s.root).join('<root>');
}

function reference(): {files: Map<string, string>; code: number | null; report: string} {
	const s = makeSysroot();
	try {
		for (const [rel, b] of MODULES()) s.put(rel, b);
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json'], {env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin'}, replaceEnv: true});
		assert.ok(r.code === 0 || r.code === 1, r.stderr + r.stdout.slice(0, 1000));
		return {files: outputs(s), code: r.code, report: normalize(r.stdout, s)};
	} finally {
		s.cleanup();
	}
}

test('hostile cwd, parents and $HOME: no config file executed or read; XZ_OPT & co. and a PATH of fake tools change nothing', () => {
	const started = Date.now();
	const ref = reference();
	const top = mkdtempSync(join(tmpdir(), 'kmodpress-hostile-'));
	execFileSync('/bin/mount', ['-t', 'tmpfs', '-o', 'size=16m,strictatime', 'tmpfs', top]);
	const s = makeSysroot();
	try {
		const cwd = join(top, 'pkg/src');
		const markers = join(top, 'markers');
		mkdirSync(markers, {recursive: true});
		const hostile: string[] = [];
		const js = (name: string): string => `require('fs').writeFileSync(${JSON.stringify(join(markers, name))}, __filename); throw new Error('executed ${name}');\nmodule.exports = {compress: 'none'};\n`;
		const mjs = (name: string): string => `import {writeFileSync} from 'node:fs'; writeFileSync(${JSON.stringify(join(markers, name))}, import.meta.url); throw new Error('executed ${name}');\nexport default {compress: 'none'};\n`;
		let n = 0;
		const put = (dir: string, rel: string, text: string): void => {
			mkdirSync(join(dir, rel, '..'), {recursive: true});
			writeFileSync(join(dir, rel), text);
			hostile.push(join(dir, rel));
		};
		for (const d of [cwd, join(top, 'pkg'), top]) {
			for (const rel of ['.config/config.js', '.config/config.cjs', '.kmodpressrc.js', '.kmodpressrc.cjs', 'kmodpress.config.js', 'kmodpress.config.cjs', '.config/kmodpressrc.js', '.config/kmodpressrc.cjs']) put(d, rel, js(`m${n++}`));
			for (const rel of ['.config/config.mjs', '.config/config.ts', '.kmodpressrc.mjs', '.kmodpressrc.ts', 'kmodpress.config.mjs', 'kmodpress.config.ts', '.config/kmodpressrc.ts', '.config/kmodpressrc.mjs']) put(d, rel, mjs(`m${n++}`));
			for (const rel of ['.kmodpressrc', '.kmodpressrc.json', '.config/kmodpressrc', '.config/kmodpressrc.json', '.config/config.json', 'etc/kmodpress/config.json']) put(d, rel, JSON.stringify({compress: 'none', algorithm: 'zstd', searchPlaces: ['.config/config.js'], loaders: {'.json': './evil.js'}}));
			for (const rel of ['.kmodpressrc.yaml', '.kmodpressrc.yml', '.config/config.yaml', '.config/kmodpressrc.yaml', 'etc/kmodpress/config.yaml']) put(d, rel, 'compress: none\nalgorithm: zstd\n');
			put(d, 'evil.js', js(`m${n++}`));
			put(d, 'package.json', JSON.stringify({name: 'evil', type: 'commonjs', kmodpress: {compress: 'none', algorithm: 'zstd'}, cosmiconfig: {searchPlaces: ['evil.js'], loaders: {'.js': './evil.js'}}}));
		}
		// fake tools first on PATH: each writes a marker; the fake xz/zstd/gzip would also corrupt output
		const fakeBin = join(top, 'bin');
		mkdirSync(fakeBin);
		for (const tool of ['depmod', 'kmod', 'modprobe', 'modinfo', 'xz', 'unxz', 'zstd', 'gzip', 'flock', 'cat', 'getfattr', 'setfattr', 'sh', 'bash', 'env', 'node', 'strip', 'objcopy', 'openssl', 'sign-file', 'uname']) {
			writeFileSync(join(fakeBin, tool), `#!/bin/sh\necho "$0 $*" > ${join(markers, `tool-${tool}`)}\necho garbage\nexit 0\n`, {mode: 0o755});
			hostile.push(join(fakeBin, tool));
		}
		for (const [rel, b] of MODULES()) s.put(rel, b);
		// every hostile file gets an old atime; on a strictatime tmpfs any read moves it
		const old = new Date('2001-01-01T00:00:00Z');
		for (const f of hostile) utimesSync(f, old, old);
		// the detector itself works: reading one file moves its atime
		const probe = join(top, 'probe');
		writeFileSync(probe, 'x');
		utimesSync(probe, old, old);
		readFileSync(probe);
		assert.ok(statSync(probe).atimeMs > old.getTime(), 'strictatime: a read moves atime');

		const env: NodeJS.ProcessEnv = {
			PATH: `${fakeBin}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: top, XDG_CONFIG_HOME: join(top, '.config'),
			XZ_OPT: '-9e --check=crc64 -T0', XZ_DEFAULTS: '--check=sha256 --lzma2=dict=64MiB', ZSTD_CLEVEL: '19', ZSTD_NBTHREADS: '2', GZIP: '-9 --name',
			KMODPRESS_CONFIG: join(cwd, '.kmodpressrc.json'), NODE_ENV: 'production',
		};
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json'], {cwd, env, replaceEnv: true});
		assert.is(r.code, ref.code, r.stderr + r.stdout.slice(0, 2000));
		assert.is(normalize(r.stdout, s), ref.report, 'the same report as a clean run');
		const got = outputs(s);
		const markersWritten = readdirSync(markers);
		const read = hostile.filter((f) => statSync(f).atimeMs !== old.getTime());
		const dep = modulesDepEntries(s.moduleDir);
		const unlisted = [...got.keys()].filter((k) => !dep.has(k));
		console.log(`STRESS hostile cwd: ${hostile.length} hostile files (cwd, 2 parents, $HOME, PATH), markers written ${markersWritten.length}, files read ${read.length}, outputs ${got.size} equal to a clean run: ${JSON.stringify([...got].sort()) === JSON.stringify([...ref.files].sort())} (exit ${r.code} both), modules.dep entries missing ${unlisted.length}, ${fmtS(Date.now() - started)}`);
		assert.equal(markersWritten, [], 'no hostile code ran');
		assert.equal(read, [], 'no hostile file was read');
		assert.equal([...got].sort(), [...ref.files].sort(), 'output bytes identical to a run in a clean environment');
		assert.equal(unlisted, [], 'the real depmod ran');
	} finally {
		s.cleanup();
		execFileSync('/bin/umount', [top]);
		rmSync(top, {recursive: true, force: true});
	}
});

test('symlinks out of the tree: a module link, a directory link, a named link, a link under a linked directory, a link planted at the target name — refused or replaced, never followed', () => {
	const s = makeSysroot();
	const outside = mkdtempSync(join(tmpdir(), 'kmodpress-outside-'));
	try {
		const victim = exampleModule();
		mkdirSync(join(outside, 'dir'));
		for (const f of ['victim.ko', 'dir/victim2.ko', 'victim3.ko.xz', 'victim4.ko']) writeFileSync(join(outside, f), victim);
		const snapshot = (): string => JSON.stringify(readdirSync(outside, {recursive: true}).sort().map((f) => {
			const p = join(outside, String(f));
			return [f, lstatSync(p).isFile() ? sha256(readFileSync(p)) : 'dir'];
		}));
		const before = snapshot();
		const real = s.put('extra/real.ko', exampleModule());
		const plant = s.put('extra/plant.ko', exampleModule());
		mkdirSync(join(s.moduleDir, 'updates'), {recursive: true});
		symlinkSync(join(outside, 'victim.ko'), join(s.moduleDir, 'extra/evil.ko'));
		symlinkSync(join(outside, 'dir'), join(s.moduleDir, 'updates/vendor'));
		symlinkSync(join(outside, 'victim3.ko.xz'), join(s.moduleDir, 'extra/plant.ko.xz'));
		symlinkSync(join(outside, 'victim4.ko'), join(s.moduleDir, 'updates/named.ko'));
		// 1. the default directories: links inside them are refused, the real modules compressed
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json']);
		const report = JSON.parse(r.stdout);
		const errFiles = report.errors.map((e: {file?: string; message: string}) => e.file ?? e.message);
		// 2. naming the links directly, and a file under a linked directory
		const r2 = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json', '--no-depmod', join(s.moduleDir, 'updates/named.ko'), join(s.moduleDir, 'updates/vendor/victim2.ko'), join(s.moduleDir, 'updates/vendor')]);
		const report2 = JSON.parse(r2.stdout);
		const errFiles2 = report2.errors.map((e: {file?: string; message: string}) => e.file ?? e.message);
		console.log(`STRESS symlinks: run 1 exit ${r.code}, errors ${errFiles.map((f: string) => basename(f)).join(', ')}; run 2 exit ${r2.code}, errors ${errFiles2.length}; outside unchanged ${snapshot() === before}`);
		assert.is(r.code, 1, 'a refused link is a failure');
		assert.ok(errFiles.some((f: string) => f.includes('extra/evil.ko')), 'module link named');
		assert.ok(errFiles.some((f: string) => f.includes('updates/vendor')), 'directory link named');
		assert.ok(errFiles.some((f: string) => f.includes('updates/named.ko')), 'link named');
		assert.is(r2.code, 1);
		assert.is(errFiles2.length, 3, JSON.stringify(report2.errors));
		assert.is(snapshot(), before, 'nothing outside the tree changed');
		assert.ok(decodeFile(readFileSync(`${real}.xz`)).equals(exampleModule()));
		// the link planted at plant.ko.xz was replaced by the module, not followed
		assert.ok(lstatSync(`${plant}.xz`).isFile(), 'plant.ko.xz is now a regular file');
		assert.ok(decodeFile(readFileSync(`${plant}.xz`)).equals(exampleModule()));
		assert.not.ok(existsSync(plant));
		assert.ok(lstatSync(join(s.moduleDir, 'extra/evil.ko')).isSymbolicLink(), 'the refused link is left as it was');
	} finally {
		s.cleanup();
		rmSync(outside, {recursive: true, force: true});
	}
});

const SWAPPER_C = `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
/* swapper STOPFILE A1 B1 [A2 B2 ...]: exchange each pair atomically (renameat2 RENAME_EXCHANGE), in a loop, until
   STOPFILE exists; then exchange once more each pair swapped an odd number of times, so every A is back in place.
   A pair whose name vanished (the module was renamed to .ko.xz) is skipped. Prints the number of exchanges. */
int main(int argc, char **argv) {
	int pairs = (argc - 2) / 2;
	long *cnt = calloc(pairs, sizeof(long));
	long n = 0;
	struct stat st;
	for (;;) {
		for (int i = 0; i < pairs; i++) {
			if (renameat2(AT_FDCWD, argv[2 + 2 * i], AT_FDCWD, argv[3 + 2 * i], RENAME_EXCHANGE) == 0) { n++; cnt[i]++; }
			else if (errno != ENOENT) { perror("renameat2"); return 2; }
		}
		if (stat(argv[1], &st) == 0) break;
	}
	for (int i = 0; i < pairs; i++)
		if (cnt[i] % 2 && renameat2(AT_FDCWD, argv[2 + 2 * i], AT_FDCWD, argv[3 + 2 * i], RENAME_EXCHANGE) == 0) n++;
	printf("%ld\\n", n);
	return 0;
}
`;

test('race: a symlink to a decoy directory swapped with the module directory / module files (RENAME_EXCHANGE loop) while compress runs never redirects a read or write outside the tree', async () => {
	const started = Date.now();
	const work = mkdtempSync(join(tmpdir(), 'kmodpress-race-'));
	writeFileSync(join(work, 'swapper.c'), SWAPPER_C);
	execFileSync('/usr/bin/gcc', ['-O2', '-o', join(work, 'swapper'), join(work, 'swapper.c')]);
	const corpus = debianCorpus(40);
	const decoy = exampleModule('signed'); // a valid module: if kmodpress read it through the link, it would compress it
	let exchanges = 0;
	const problems: string[] = [];
	const outcomes: Record<string, number> = {};
	const rounds = 6;
	for (let round = 0; round < rounds; round++) {
		const s = makeSysroot();
		const outside = join(work, `outside-${round}`);
		mkdirSync(outside);
		try {
			const sub = join(s.moduleDir, 'extra/sub');
			const files = round % 2 === 0 ? corpus : corpus.slice(0, 10);
			for (const m of files) {
				s.put(`extra/sub/${m.name}.ko`, m.image);
				writeFileSync(join(outside, `${m.name}.ko`), decoy);
			}
			const before = JSON.stringify(readdirSync(outside).sort().map((f) => [f, sha256(readFileSync(join(outside, f)))]));
			const pairs: string[] = [];
			if (round % 2 === 0) {
				// the directory entry extra/sub flips between the real directory and a symlink to the decoy directory
				symlinkSync(outside, join(s.moduleDir, 'extra/.evil'));
				pairs.push(sub, join(s.moduleDir, 'extra/.evil'));
			} else {
				// each module file flips with a symlink to the decoy of the same name
				for (const m of files) {
					symlinkSync(join(outside, `${m.name}.ko`), join(sub, `.evil-${m.name}`));
					pairs.push(join(sub, `${m.name}.ko`), join(sub, `.evil-${m.name}`));
				}
			}
			const stop = join(work, `stop-${round}`);
			const swapper = spawn(join(work, 'swapper'), [stop, ...pairs], {stdio: ['ignore', 'pipe', 'pipe']});
			let out = '';
			swapper.stdout.on('data', (d) => (out += d));
			swapper.stderr.on('data', (d) => (out += d));
			const swapped = new Promise<number | null>((resolve) => swapper.on('close', resolve));
			await sleep(20);
			const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json', '--no-depmod', join(s.moduleDir, 'extra')], {timeoutMs: 120_000});
			writeFileSync(stop, '');
			const code = await swapped;
			if (code !== 0) problems.push(`round ${round}: swapper exit ${code}: ${out}`);
			exchanges += Number(out.trim()) || 0;
			if (r.code !== 0 && r.code !== 1) problems.push(`round ${round}: exit ${r.code} signal ${r.signal}: ${r.stderr.slice(0, 300)}`);
			try {
				for (const m of JSON.parse(r.stdout).modules) outcomes[m.outcome] = (outcomes[m.outcome] ?? 0) + 1;
			} catch {
				problems.push(`round ${round}: stdout not JSON: ${r.stdout.slice(0, 200)}`);
			}
			const after = JSON.stringify(readdirSync(outside).sort().map((f) => [f, sha256(readFileSync(join(outside, f)))]));
			if (after !== before) problems.push(`round ${round}: the decoy directory outside the tree changed: ${after.slice(0, 400)}`);
			// inside: each module's content is still there (under its own name, compressed or not, or under the
			// attacker's name after an exchange), and no decoy content was pulled into the tree
			const inside = new Map<string, string>();
			for (const f of readdirSync(sub)) {
				const p = join(sub, f);
				if (lstatSync(p).isFile()) {
					try {
						inside.set(f, sha256(decodeFile(readFileSync(p))));
					} catch (e) {
						problems.push(`round ${round}: ${f} undecodable: ${(e as Error).message.split('\n')[0]}`);
					}
				}
			}
			for (const m of files) {
				if (![...inside.values()].includes(sha256(m.image))) problems.push(`round ${round}: ${m.name} lost`);
			}
			if ([...inside.values()].includes(sha256(decoy))) problems.push(`round ${round}: decoy content from outside was pulled into the tree`);
		} finally {
			s.cleanup();
		}
	}
	rmSync(work, {recursive: true, force: true});
	console.log(`STRESS race: ${rounds} compress runs under a RENAME_EXCHANGE loop (directory and file swaps), ${exchanges} exchanges, outcomes ${JSON.stringify(outcomes)}, problems ${problems.length}, ${fmtS(Date.now() - started)}`);
	for (const p of problems.slice(0, 20)) console.log(`  ${p}`);
	assert.ok(exchanges > 1000, `the swapper ran (${exchanges} exchanges)`);
	assert.equal(problems, []);
});

test('mode, owner, group and security.* xattrs survive compression of 40 modules at once (user.* reported)', () => {
	const s = makeSysroot();
	try {
		const corpus = debianCorpus(40);
		const modes = [0o600, 0o640, 0o644, 0o444, 0o755];
		const paths = corpus.map((m, i) => {
			const p = s.put(`extra/${m.name}.ko`, m.image);
			chmodSync(p, modes[i % modes.length]!);
			chownSync(p, 1000 + i, 2000 + (i % 7));
			execFileSync('/usr/bin/setfattr', ['-n', 'security.kmodpress_test', '-v', `0x${(i + 1).toString(16).padStart(4, '0')}`, p]);
			if (i % 2 === 0) execFileSync('/usr/bin/setfattr', ['-n', 'user.kmodpress_test', '-v', `u${i}`, p]);
			return p;
		});
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json', '--no-depmod', '--no-verify']);
		assert.is(r.code, 0, r.stderr + r.stdout.slice(0, 1000));
		const problems: string[] = [];
		let userKept = 0;
		paths.forEach((p, i) => {
			const xz = `${p}.xz`;
			const st = statSync(xz);
			if ((st.mode & 0o7777) !== modes[i % modes.length]) problems.push(`${basename(xz)}: mode ${(st.mode & 0o7777).toString(8)}`);
			if (st.uid !== 1000 + i || st.gid !== 2000 + (i % 7)) problems.push(`${basename(xz)}: owner ${st.uid}:${st.gid}`);
			const attrs = execFileSync('/usr/bin/getfattr', ['--absolute-names', '-d', '-m', '-', '-e', 'hex', xz], {encoding: 'utf8'});
			if (!attrs.includes(`security.kmodpress_test=0x${(i + 1).toString(16).padStart(4, '0')}`)) problems.push(`${basename(xz)}: security xattr lost: ${attrs}`);
			if (i % 2 === 0 && attrs.includes('user.kmodpress_test=')) userKept++;
		});
		console.log(`STRESS attrs: 40 modules, mode/owner/group/security.* problems ${problems.length}; user.* kept on ${userKept}/20 (only security.* is copied by design)`);
		assert.equal(problems, []);
	} finally {
		s.cleanup();
	}
});

test.run();
