// `kmodpress recompress` on a module DKMS installed keeps DKMS's own copy in step (src/install/dkms.ts), and
// hooks/dkms/post-install, meeting a DKMS copy left stale by an older recompress, brings it in step instead of failing
// with "is not installed … (was `dkms install` interrupted?)" (issue 17, item 1). Real dkms 3.0.10 (add, build,
// install, status, remove), in its own trees inside a temp sysroot (--dkmstree, --sourcetree, --installtree), so the
// system's /var/lib/dkms and /lib/modules, which other tests use, are not touched.
import {execFileSync} from 'node:child_process';
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {DEBIAN_MODDIR} from '../helpers/paths.js';
import {makeSysroot} from '../helpers/tree.js';
import {HOOKS, kmodpressBin, REPO, run, show, unxz, xzCheck} from './helpers.js';

const MOD = 'kmodpress-rc-hello';
const VER = '1.0';
const KO = 'kmodpress_rc_hello';
const ARCH = run('uname', ['-m']).stdout.trim();
const s = makeSysroot();
const KV = s.kv;
const TREE = join(s.root, 'var/lib/dkms');
const TREES = ['--dkmstree', TREE, '--sourcetree', join(s.root, 'usr/src'), '--installtree', join(s.root, 'lib/modules')];
const COPY_DIR = join(TREE, MOD, VER, KV, ARCH, 'module');
const COPY = join(COPY_DIR, `${KO}.ko.xz`);
const INSTALLED = join(s.moduleDir, `updates/dkms/${KO}.ko.xz`);
const BIN = kmodpressBin();

function dkms(...args: string[]) {
	const r = run('/usr/sbin/dkms', [...args, ...TREES], {cwd: '/'});
	console.log(`  dkms ${args.join(' ')}: exit ${r.code} in ${r.seconds.toFixed(1)} s`);
	return r;
}
const status = () => dkms('status', `${MOD}/${VER}`, '-k', KV).stdout.trim();
const kmodpress = (...args: string[]) => run(BIN, args);
const postInstall = () => run(join(HOOKS, 'dkms/post-install'), [KV, ARCH, MOD, VER], {
	env: {KMODPRESS_BIN: BIN, KMODPRESS_DKMS_TREE: TREE, KMODPRESS_INSTALL_TREE: join(s.root, 'lib/modules'), KMODPRESS_DKMS_DEPMOD_CHECK: '0'}, cwd: '/',
});

test.before(() => {
	const src = join(s.root, `usr/src/${MOD}-${VER}`);
	mkdirSync(src, {recursive: true});
	mkdirSync(TREE, {recursive: true});
	writeFileSync(join(src, `${KO}.c`), readFileSync(join(REPO, 'examples/kmodpress-hello/kmodpress_hello.c'), 'utf8').replaceAll('kmodpress_hello', KO));
	writeFileSync(join(src, 'Kbuild'), `obj-m += ${KO}.o\n`);
	copyFileSync(join(REPO, 'examples/kmodpress-hello/Makefile'), join(src, 'Makefile'));
	// the example's dkms.conf without POST_INSTALL: DKMS alone, as with any third-party package
	writeFileSync(join(src, 'dkms.conf'), readFileSync(join(REPO, 'examples/kmodpress-hello/dkms.conf'), 'utf8')
		.split('\n').filter((l) => !/^\s*(#|POST_INSTALL=)/.test(l)).join('\n').replaceAll('kmodpress-hello', MOD).replaceAll('kmodpress_hello', KO));
	for (const args of [['add', '-m', MOD, '-v', VER], ['build', '-m', MOD, '-v', VER, '-k', KV, '--kernelsourcedir', `${DEBIAN_MODDIR}/build`],
		['install', '--no-depmod', '-m', MOD, '-v', VER, '-k', KV, '--kernelsourcedir', `${DEBIAN_MODDIR}/build`]]) {
		const r = dkms(...args);
		assert.is(r.code, 0, show(r));
	}
});

test.after(() => {
	dkms('remove', '--no-depmod', `${MOD}/${VER}`, '--all');
	s.cleanup();
});

test('DKMS alone: CRC64 xz, installed and DKMS\'s copy the same bytes, dkms status clean', () => {
	assert.is(xzCheck(INSTALLED), 'CRC64');
	assert.ok(readFileSync(COPY).equals(readFileSync(INSTALLED)));
	assert.match(status(), new RegExp(`^${MOD}/${VER}, ${KV.replace(/[+.]/g, '\\$&')}, ${ARCH}: installed$`));
});

test('kmodpress recompress: the installed module becomes CRC32 and DKMS\'s copy gets the same bytes; dkms status stays clean', () => {
	const r = kmodpress('recompress', '--kernel', KV, '--root', s.root);
	assert.is(r.code, 0, show(r));
	assert.match(r.stdout, /^recompressed +updates\/dkms\/kmodpress_rc_hello\.ko\.xz /m, r.stdout);
	assert.ok(r.stdout.includes(`DKMS copy rewritten ${COPY} (${MOD}/${VER}) = ${INSTALLED}`), r.stdout);
	assert.is(xzCheck(INSTALLED), 'CRC32');
	assert.equal(readdirSync(COPY_DIR), [`${KO}.ko.xz`]);
	assert.ok(readFileSync(COPY).equals(readFileSync(INSTALLED)), 'DKMS\'s copy = the installed bytes');
	const st = status();
	assert.not.match(st, /WARNING/, st);
	// a second run: nothing to do, DKMS's copy already in step
	const again = kmodpress('recompress', '--kernel', KV, '--root', s.root, '--json');
	assert.is(again.code, 0, show(again));
	const report = JSON.parse(again.stdout).kernels[0];
	assert.is(report.changed, 0);
	assert.equal(report.dkms.map((c: {outcome: string}) => c.outcome), ['in-step']);
});

test('post-install meeting a stale DKMS copy (what recompress left before): says so and brings it in step, OK', () => {
	// the state an older recompress left: installed CRC32, DKMS's copy still what DKMS wrote (`xz -f`: CRC64)
	writeFileSync(COPY, execFileSync('/usr/bin/xz', ['-c'], {input: unxz(INSTALLED)}));
	assert.is(xzCheck(COPY), 'CRC64');
	assert.match(status(), /WARNING! Diff between built and installed module!/, 'dkms sees the stale copy');
	const r = postInstall();
	assert.is(r.code, 0, show(r));
	assert.ok(r.stdout.includes(`DKMS's copy ${COPY} is stale: ${INSTALLED} holds the same module in other bytes`), show(r));
	assert.match(r.stdout, /kmodpress: DKMS post-install OK/, show(r));
	assert.not.match(r.stdout + r.stderr, /not installed|interrupted/, show(r));
	assert.ok(readFileSync(COPY).equals(readFileSync(INSTALLED)));
	assert.is(xzCheck(INSTALLED), 'CRC32');
	assert.not.match(status(), /WARNING/);
});

test('a DKMS copy of another build: post-install FAILED naming what it found; recompress leaves it and says why', () => {
	const saved = readFileSync(COPY);
	try {
		// another build of the module: a different image (one more byte of padding after the ELF)
		writeFileSync(COPY, execFileSync('/usr/bin/xz', ['--check=crc32', '-c'], {input: Buffer.concat([unxz(INSTALLED), Buffer.alloc(1)])}));
		const r = postInstall();
		assert.is(r.code, 1, show(r));
		assert.ok(r.stderr.includes(`FAILED: ${MOD}/${VER}: DKMS's copy ${COPY} is another build than the installed ${INSTALLED}`), show(r));
		assert.match(r.stderr, /dkms install --force/, show(r));
		const rc = kmodpress('recompress', '--kernel', KV, '--root', s.root);
		assert.is(rc.code, 0, show(rc));
		assert.ok(rc.stdout.includes(`DKMS copy left ${COPY} (${MOD}/${VER}): another build of the module than ${INSTALLED}`), rc.stdout);
	} finally {
		writeFileSync(COPY, saved);
	}
	assert.not.match(status(), /WARNING/);
});

test('dkms remove: nothing left in the trees', () => {
	const r = dkms('remove', '--no-depmod', `${MOD}/${VER}`, '--all');
	assert.is(r.code, 0, show(r));
	assert.not.ok(existsSync(INSTALLED));
	assert.not.ok(existsSync(join(TREE, MOD)));
});

test.run();
