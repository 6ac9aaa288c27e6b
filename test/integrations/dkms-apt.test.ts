// The global route for every DKMS module, for real (Debian 12's apt 2.6 + dkms 3.0.10, as root): a normal third-party
// DKMS package, built here with dpkg-deb (no kmodpress in its dkms.conf; its postinst runs dkms add/build/install as
// dh_dkms packages do, its prerm dkms remove), installed with apt-get from a local .deb. With
// hooks/apt/99kmodpress-dkms in APT's configuration, DPkg::Post-Invoke runs hooks/dkms/post-transaction after dpkg,
// which fixes what DKMS installed. A control install without the snippet shows what DKMS alone leaves (CRC64 xz, which this kernel refuses).
//
// Isolation: APT reads only the snippet (Dir::Etc::parts, set through APT_CONFIG, is a temp dir holding it, with
// /usr/lib/kmodpress/hooks replaced by this checkout's hooks/; nothing is put in /etc/apt or /usr/lib/kmodpress,
// which another test may be using), the clean-state records go to a temp KMODPRESS_STATE_DIR, and KMODPRESS_DKMS_ONLY limits the hook to this
// test's module, so a concurrent dkms.test.ts (kmodpress-hello) is left alone. Package, DKMS module and kernel module
// names differ from dkms.test.ts for the same reason. APT gets an unusable proxy: it must not need the network.
import {execFileSync} from 'node:child_process';
import {chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {HOOKS, kmodpressBin, REPO, run, show, unxz, xzCheck, type Ran} from './helpers.js';

const KV = DEBIAN_KV;
const PKG = 'kmodpress-apt-hello-dkms';
const MOD = 'kmodpress-apt-hello';
const VER = '1.0';
const KO = 'kmodpress_apt_hello';
const ARCH = run('uname', ['-m']).stdout.trim();
const INSTALLED = `${DEBIAN_MODDIR}/updates/dkms/${KO}.ko.xz`;
const DKMS_COPY_DIR = `/var/lib/dkms/${MOD}/${VER}/${KV}/${ARCH}/module`;
const DKMS_COPY = `${DKMS_COPY_DIR}/${KO}.ko.xz`;
const INSTALLED_PATH = '/usr/lib/kmodpress/hooks/dkms/post-transaction';
// a second package, installed in its own APT transaction while the first stays installed
const PKG2 = 'kmodpress-apt-hello2-dkms';
const MOD2 = 'kmodpress-apt-hello2';
const KO2 = 'kmodpress_apt_hello2';
const INSTALLED2 = `${DEBIAN_MODDIR}/updates/dkms/${KO2}.ko.xz`;
const BIN = kmodpressBin();
const work = mkdtempSync(join(tmpdir(), 'kmodpress-dkms-apt-'));
const STATE = join(work, 'state');
const HOOK_PARTS = join(work, 'apt.conf.d');
const EMPTY_PARTS = join(work, 'apt.conf.d-empty');
// what Post-Invoke inherits from apt-get
const HOOK_ENV = {KMODPRESS_BIN: BIN, KMODPRESS_STATE_DIR: STATE, KMODPRESS_DKMS_ONLY: `${MOD} ${MOD2}`, DEBIAN_FRONTEND: 'noninteractive'};
let deb = '';
let deb2 = '';

/** A Debian package as dh_dkms makes them: sources in /usr/src/<module>-<version>, DKMS driven from the maintainer scripts. */
function buildPackage(PKG: string, MOD: string, KO: string): string {
	const root = join(work, PKG);
	const src = join(root, `usr/src/${MOD}-${VER}`);
	mkdirSync(src, {recursive: true});
	mkdirSync(join(root, 'DEBIAN'));
	// the example module under another name (dkms.test.ts may be installing kmodpress_hello at the same time)
	const c = readFileSync(join(REPO, 'examples/kmodpress-hello/kmodpress_hello.c'), 'utf8').replaceAll('kmodpress_hello', KO);
	writeFileSync(join(src, `${KO}.c`), c);
	writeFileSync(join(src, 'Kbuild'), `obj-m += ${KO}.o\n`);
	copyFileSync(join(REPO, 'examples/kmodpress-hello/Makefile'), join(src, 'Makefile'));
	// the example's dkms.conf without its POST_INSTALL line: a normal third-party package
	const conf = readFileSync(join(REPO, 'examples/kmodpress-hello/dkms.conf'), 'utf8')
		.split('\n').filter((l) => !/^\s*(#|POST_INSTALL=)/.test(l)).join('\n')
		.replaceAll('kmodpress-hello', MOD).replaceAll('kmodpress_hello', KO);
	assert.not.match(conf, /POST_INSTALL|kmodpress\/hooks/);
	assert.match(conf, new RegExp(`^BUILT_MODULE_NAME\\[0\\]="${KO}"$`, 'm'));
	writeFileSync(join(src, 'dkms.conf'), conf);
	writeFileSync(join(root, 'DEBIAN/control'), [
		`Package: ${PKG}`, 'Version: 1.0-1', 'Architecture: all', 'Maintainer: kmodpress tests <root@localhost>',
		'Section: kernel', 'Priority: optional',
		'Description: kmodpress test: a third-party DKMS package', ' Its dkms.conf knows nothing about kmodpress.', '',
	].join('\n'));
	// The running kernel is not Debian's: always -k.
	writeFileSync(join(root, 'DEBIAN/postinst'), `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	dkms add -m ${MOD} -v ${VER}
	dkms build -m ${MOD} -v ${VER} -k ${KV}
	dkms install -m ${MOD} -v ${VER} -k ${KV}
fi
`);
	writeFileSync(join(root, 'DEBIAN/prerm'), `#!/bin/sh
set -e
dkms remove -m ${MOD} -v ${VER} --all
`);
	chmodSync(join(root, 'DEBIAN/postinst'), 0o755);
	chmodSync(join(root, 'DEBIAN/prerm'), 0o755);
	const out = join(work, `${PKG}_1.0-1_all.deb`);
	execFileSync('/usr/bin/dpkg-deb', ['--root-owner-group', '--build', root, out], {stdio: 'pipe'});
	return out;
}

/**
 * An APT_CONFIG file making APT read PARTS instead of /etc/apt/apt.conf.d. (`-o Dir::Etc::parts=` is too late: APT
 * reads the parts before the command line; APT_CONFIG is read before them.)
 */
function aptConfig(parts: string): string {
	const file = `${parts}.conf`;
	writeFileSync(file, `Dir::Etc::parts "${parts}";\n`);
	return file;
}

/**
 * apt-get with only the given apt.conf.d parts (the system's other parts are not read, so a snippet another test put
 * in /etc/apt/apt.conf.d cannot act here), an unusable proxy (any network access fails), and a wait for the dpkg lock.
 */
function aptGet(parts: string, ...args: string[]): Ran {
	const r = run('/usr/bin/apt-get', [
		'-o', 'Acquire::http::Proxy=http://127.0.0.1:9', '-o', 'Acquire::https::Proxy=http://127.0.0.1:9', '-o', 'Acquire::Retries=0',
		'-o', 'DPkg::Lock::Timeout=300', '-y', ...args,
	], {env: {...HOOK_ENV, APT_CONFIG: aptConfig(parts)}, cwd: '/'});
	console.log(`  apt-get ${args.join(' ')} (${parts === HOOK_PARTS ? 'with' : 'without'} the kmodpress snippet): exit ${r.code} in ${r.seconds.toFixed(1)} s`);
	return r;
}

function hook(env: NodeJS.ProcessEnv = {}): Ran {
	const r = run(join(HOOKS, 'dkms/post-transaction'), [], {env: {...HOOK_ENV, ...env}, cwd: '/'});
	console.log(`  dkms/post-transaction${env.KMODPRESS_DKMS_FORCE ? ' (KMODPRESS_DKMS_FORCE=1)' : ''}: exit ${r.code} in ${r.seconds.toFixed(1)} s`);
	return r;
}

const status = () => run('/usr/sbin/dkms', ['status', `${MOD}/${VER}`, '-k', KV]).stdout.trim();
const depLines = (ko = KO) => readFileSync(join(DEBIAN_MODDIR, 'modules.dep'), 'utf8').split('\n').filter((l) => l.includes(`/${ko}.ko`));
const installedState = (pkg = PKG) => `${run('dpkg-query', ['-W', '-f=${db:Status-Status}', pkg]).stdout}`;

function leftovers(PKG: string, MOD: string, KO: string): string[] {
	const found: string[] = [];
	for (const rel of readdirSync(DEBIAN_MODDIR, {recursive: true}) as string[]) {
		if (rel.startsWith('build') || rel.startsWith('source') || rel.startsWith('kernel/')) continue;
		if (rel.split("/").pop()!.startsWith(`${KO}.ko`)) found.push(join(DEBIAN_MODDIR, rel));
	}
	for (const p of [`/var/lib/dkms/${MOD}`, `/usr/src/${MOD}-${VER}`]) if (existsSync(p)) found.push(p);
	found.push(...depLines(KO).map((l) => `modules.dep: ${l}`));
	const st = installedState(PKG);
	if (st && st !== 'not-installed') found.push(`dpkg: ${PKG} ${st}`);
	return found;
}

/** Whatever an earlier (failed) run or this one left: the package, DKMS's tree, the sources. */
function purge(PKG: string, MOD: string, KO: string): void {
	const INSTALLED = `${DEBIAN_MODDIR}/updates/dkms/${KO}.ko.xz`;
	if (installedState(PKG) && installedState(PKG) !== 'not-installed') run('/usr/bin/dpkg', ['--purge', PKG]);
	if (existsSync(`/var/lib/dkms/${MOD}`)) run('/usr/sbin/dkms', ['remove', '-m', MOD, '-v', VER, '--all']);
	rmSync(`/var/lib/dkms/${MOD}`, {recursive: true, force: true});
	rmSync(`/usr/src/${MOD}-${VER}`, {recursive: true, force: true});
	if (existsSync(INSTALLED)) {
		rmSync(INSTALLED, {force: true});
		run('/usr/sbin/depmod', ['-a', KV]);
	}
}

test.before(() => {
	assert.ok(existsSync('/usr/sbin/dkms'), 'dkms is installed (scripts/setup.sh --test)');
	assert.ok(existsSync(`${DEBIAN_MODDIR}/build/Makefile`), `headers for ${KV}`);
	purge(PKG, MOD, KO);
	purge(PKG2, MOD2, KO2);
	mkdirSync(HOOK_PARTS);
	mkdirSync(EMPTY_PARTS);
	deb = buildPackage(PKG, MOD, KO);
	deb2 = buildPackage(PKG2, MOD2, KO2);
});

test.after(() => {
	try {
		purge(PKG, MOD, KO);
		purge(PKG2, MOD2, KO2);
	} finally {
		rmSync(work, {recursive: true, force: true});
		rmSync(join(BIN, '..'), {recursive: true, force: true});
	}
});

test('hooks/apt/99kmodpress-dkms is valid APT configuration adding one DPkg::Post-Invoke command that runs the installed hook', () => {
	const snippet = readFileSync(join(HOOKS, 'apt/99kmodpress-dkms'), 'utf8');
	assert.ok(snippet.includes(INSTALLED_PATH), `the snippet runs ${INSTALLED_PATH}`);
	// the same snippet, run from this checkout
	writeFileSync(join(HOOK_PARTS, '99kmodpress-dkms'), snippet.replaceAll(INSTALLED_PATH, join(HOOKS, 'dkms/post-transaction')));
	const dump = run('/usr/bin/apt-config', ['dump', 'DPkg::Post-Invoke'], {env: {APT_CONFIG: aptConfig(HOOK_PARTS)}});
	assert.is(dump.code, 0, show(dump));
	const cmds = dump.stdout.split('\n').filter((l) => l.startsWith('DPkg::Post-Invoke:: '));
	assert.is(cmds.length, 1, dump.stdout);
	assert.ok(cmds[0]!.includes(join(HOOKS, 'dkms/post-transaction')), cmds[0]);
	// the installed snippet is read from /etc/apt/apt.conf.d like every other part
	const real = run('/usr/bin/apt-config', ['-c', join(HOOKS, 'apt/99kmodpress-dkms'), 'dump', 'DPkg::Post-Invoke']);
	assert.ok(real.stdout.includes(`"if [ -x ${INSTALLED_PATH} ]; then ${INSTALLED_PATH}; fi"`), real.stdout);
});

test('control: apt-get install of the DKMS package without the snippet leaves what DKMS alone writes, CRC64 xz', () => {
	const r = aptGet(EMPTY_PARTS, 'install', deb);
	assert.is(r.code, 0, show(r));
	assert.not.match(r.stdout + r.stderr, /kmodpress: /, show(r));
	// a local .deb: apt "gets" it from the file; no Get: line with a URL (and the proxy above would make one fail)
	assert.match(r.stdout, new RegExp(`^Get:1 ${deb.replace(/[.+]/g, '\\$&')} ${PKG} all 1\\.0-1`, 'm'), r.stdout);
	assert.not.match(r.stdout, /^(Get|Err):\d+ http/m, 'no network');
	assert.ok(existsSync(INSTALLED), `${INSTALLED}\n${show(r)}`);
	assert.is(xzCheck(INSTALLED), 'CRC64', 'dkms 3.0.10 compresses with plain `xz -f`');
	assert.is(xzCheck(DKMS_COPY), 'CRC64');
	assert.equal(depLines(), [`updates/dkms/${KO}.ko.xz:`]);
	const p = aptGet(EMPTY_PARTS, 'purge', PKG);
	assert.is(p.code, 0, show(p));
	assert.equal(leftovers(PKG, MOD, KO), []);
});

test('apt-get install with the snippet: Post-Invoke makes the module the kernel\'s own CRC32 xz, DKMS\'s copy in step, depmod, dkms status clean', () => {
	const r = aptGet(HOOK_PARTS, 'install', deb);
	assert.is(r.code, 0, show(r));
	const out = r.stdout + r.stderr;
	assert.not.match(out, /^(Get|Err):\d+ http/m, 'no network');
	// order: dpkg ran the postinst (dkms install), then APT ran the hook
	assert.ok(out.indexOf('Setting up kmodpress-apt-hello-dkms') >= 0, out);
	assert.ok(out.indexOf('kmodpress: DKMS post-transaction') > out.indexOf('Setting up kmodpress-apt-hello-dkms'), out);
	assert.match(out, new RegExp(`kmodpress: DKMS post-install OK: ${MOD}/${VER} for 6\\.12\\.115\\+deb12-amd64`), out);
	assert.match(out, /kmodpress: DKMS post-transaction: 6\.12\.115\+deb12-amd64: module files changed; depmod -a/, out);
	assert.match(out, /kmodpress: DKMS post-transaction OK: 1 DKMS module install\(s\) checked; fixed \+ depmod for: 6\.12\.115\+deb12-amd64/, out);
	assert.not.match(out, /FAILED/, out);

	assert.ok(existsSync(INSTALLED), INSTALLED);
	assert.is(xzCheck(INSTALLED), 'CRC32');
	const payload = unxz(INSTALLED);
	assert.ok(payload.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1')));
	assert.match(payload.toString('latin1'), /~Module signature appended~\n$/, 'still DKMS\'s signed module');
	const kernelXz = execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], {input: payload, maxBuffer: 1 << 28, env: {PATH: '/usr/bin:/bin'}});
	assert.ok(readFileSync(INSTALLED).equals(kernelXz), 'byte-identical to `xz --check=crc32 --lzma2=dict=1MiB -T1`');
	assert.equal(readdirSync(DKMS_COPY_DIR), [`${KO}.ko.xz`]);
	assert.ok(readFileSync(DKMS_COPY).equals(readFileSync(INSTALLED)), 'DKMS\'s copy rewritten to the same bytes');
	assert.equal(depLines(), [`updates/dkms/${KO}.ko.xz:`]);
	const st = status();
	assert.match(st, new RegExp(`^${MOD}/${VER}, ${KV.replace(/[+.]/g, '\\$&')}, ${ARCH}: installed$`, 'm'), st);
	assert.not.match(st, /WARNING/, st);
	const v = run(BIN, ['verify', '--kernel', KV, '--json', INSTALLED]);
	assert.is(v.code, 0, show(v));
	assert.is(JSON.parse(v.stdout).modules[0].loadable, true, v.stdout);
});

test('the next run finds nothing to fix: no kmodpress, no change, no depmod; forced, still no change and no depmod', () => {
	const fileBefore = statSync(INSTALLED, {bigint: true});
	const copyBefore = statSync(DKMS_COPY, {bigint: true});
	const depBefore = statSync(join(DEBIAN_MODDIR, 'modules.dep'), {bigint: true});
	const same = (what: string) => {
		for (const [p, b] of [[INSTALLED, fileBefore], [DKMS_COPY, copyBefore], [join(DEBIAN_MODDIR, 'modules.dep'), depBefore]] as const) {
			const a = statSync(p, {bigint: true});
			assert.ok(a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs, `${what}: ${p} untouched`);
		}
	};
	const r = hook();
	assert.is(r.code, 0, show(r));
	assert.match(r.stdout, /6\.12\.115\+deb12-amd64: 1 DKMS module\(s\) unchanged since the last clean pass; nothing to do, no depmod/, show(r));
	assert.not.match(r.stdout, /post-install/, 'kmodpress not started');
	assert.ok(r.seconds < 2, `took ${r.seconds} s`);
	same('second run');

	const f = hook({KMODPRESS_DKMS_FORCE: '1'});
	assert.is(f.code, 0, show(f));
	assert.match(f.stdout, /kmodpress: DKMS post-install OK/, show(f));
	assert.match(f.stdout, /6\.12\.115\+deb12-amd64: no module file changed; no depmod/, show(f));
	same('forced run');
});

test('a second DKMS package in its own transaction: the hook checks only that one, not the module already checked', () => {
	const r = aptGet(HOOK_PARTS, 'install', deb2);
	assert.is(r.code, 0, show(r));
	const out = r.stdout + r.stderr;
	assert.not.match(out, /FAILED/, out);
	// which modules went through post-install: the new one only
	const checked = [...out.matchAll(/^kmodpress: DKMS post-transaction: DKMS module (\S+) for /gm)].map((m) => m[1]);
	assert.equal(checked, [`${MOD2}/${VER}`], out);
	assert.match(out, new RegExp(`6\\.12\\.115\\+deb12-amd64: checking ${MOD2}/${VER} \\(changed since the last clean pass\\); 1 other DKMS module\\(s\\) unchanged`), out);
	assert.match(out, /kmodpress: DKMS post-transaction OK: 1 DKMS module install\(s\) checked; fixed \+ depmod for: 6\.12\.115\+deb12-amd64/, out);
	assert.is(xzCheck(INSTALLED2), 'CRC32');
	assert.equal(depLines(KO2), [`updates/dkms/${KO2}.ko.xz:`]);
	// its removal: nothing to check (the first module is unchanged), the second's record goes
	const p = aptGet(HOOK_PARTS, 'purge', PKG2);
	assert.is(p.code, 0, show(p));
	assert.not.match(p.stdout + p.stderr, /FAILED|post-install/, show(p));
	assert.match(p.stdout, /6\.12\.115\+deb12-amd64: 1 DKMS module\(s\) unchanged since the last clean pass; nothing to do, no depmod/, show(p));
	assert.equal(readdirSync(join(STATE, 'dkms', KV)), [`${MOD},${VER},${ARCH}`]);
	assert.equal(leftovers(PKG2, MOD2, KO2), []);
});

test('a module kmodpress cannot handle: a FAILED line, exit 0 (the APT run goes on); exit 1 with KMODPRESS_HOOK_STRICT=1', () => {
	// kmodpress cannot run at all
	const broken = join(work, 'no-such-kmodpress');
	const r = hook({KMODPRESS_BIN: broken});
	assert.is(r.code, 0, show(r));
	assert.match(r.stderr, /kmodpress: DKMS post-transaction FAILED: kmodpress cannot run/, show(r));
	const s = hook({KMODPRESS_BIN: broken, KMODPRESS_HOOK_STRICT: '1'});
	assert.is(s.code, 2, show(s));
	// a module that fails: DKMS's copy truncated (the installed file no longer matches any DKMS build)
	const saved = readFileSync(DKMS_COPY);
	try {
		writeFileSync(DKMS_COPY, saved.subarray(0, 100));
		const m = hook();
		assert.is(m.code, 0, show(m));
		assert.match(m.stderr, /kmodpress: DKMS post-install FAILED/, show(m));
		assert.match(m.stderr, /kmodpress: DKMS post-transaction FAILED for 6\.12\.115\+deb12-amd64/, show(m));
		const ms = hook({KMODPRESS_HOOK_STRICT: '1'});
		assert.is(ms.code, 1, show(ms));
	} finally {
		writeFileSync(DKMS_COPY, saved);
	}
	assert.not.match(status(), /WARNING/);
});

test('apt-get purge with the snippet: the prerm removes the module from DKMS, nothing is left', () => {
	const r = aptGet(HOOK_PARTS, 'purge', PKG);
	assert.is(r.code, 0, show(r));
	assert.not.match(r.stdout + r.stderr, /FAILED/, show(r));
	assert.not.ok(existsSync(INSTALLED));
	assert.not.ok(existsSync(`/var/lib/dkms/${MOD}`));
	assert.equal(depLines(), []);
	assert.equal(leftovers(PKG, MOD, KO), []);
	assert.is(status(), '');
});

test.run();
