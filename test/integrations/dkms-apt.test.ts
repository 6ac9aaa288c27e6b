// The global switch for every DKMS module, for real: a third-party DKMS package (built here with dpkg-deb, no
// kmodpress line in its dkms.conf, `dkms install` from its postinst as dh_dkms packages do) installed with apt-get
// while hooks/apt/99kmodpress sits in /etc/apt/apt.conf.d. After the APT run, DPkg::Post-Invoke has fixed what DKMS
// installed (DKMS itself writes plain `xz -f` = CRC64, which this kernel refuses): CRC32 as the kernel's own
// modules_install, DKMS's copy in step (dkms status clean), modules.dep, verify. Purging the package leaves nothing.
import {execFileSync} from 'node:child_process';
import {chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {HOOKS, kmodpressBin, REPO, run, show, unxz, xzCheck} from './helpers.js';

const KV = DEBIAN_KV;
const PKG = 'kmodpress-apt-hello-dkms';
const MOD = 'kmodpress-apt-hello';
const VER = '1.0';
const KO = 'kmodpress_apt_hello';
const ARCH = run('uname', ['-m']).stdout.trim();
const INSTALLED = `${DEBIAN_MODDIR}/updates/dkms/${KO}.ko.xz`;
const DKMS_COPY = `/var/lib/dkms/${MOD}/${VER}/${KV}/${ARCH}/module/${KO}.ko.xz`;
const APT_CONF = '/etc/apt/apt.conf.d/99kmodpress';
const HOOK_LINK = '/usr/lib/kmodpress/hooks';
const HOOK_BACKUP = '/usr/lib/kmodpress/hooks.kmodpress-apt-test-backup';
const BIN = kmodpressBin();
let work = '';
let createdLibDir = false;

/** A Debian package like those dh_dkms makes: sources in /usr/src, dkms add/build/install in postinst. */
function buildPackage(): string {
	const root = join(work, 'pkg');
	const src = join(root, `usr/src/${MOD}-${VER}`);
	mkdirSync(src, {recursive: true});
	mkdirSync(join(root, 'DEBIAN'));
	const c = readFileSync(join(REPO, 'examples/kmodpress-hello/kmodpress_hello.c'), 'utf8').replaceAll('kmodpress_hello', KO);
	writeFileSync(join(src, `${KO}.c`), c);
	writeFileSync(join(src, 'Kbuild'), `obj-m += ${KO}.o\n`);
	copyFileSync(join(REPO, 'examples/kmodpress-hello/Makefile'), join(src, 'Makefile'));
	writeFileSync(join(src, 'dkms.conf'), [
		`PACKAGE_NAME="${MOD}"`, `PACKAGE_VERSION="${VER}"`, `BUILT_MODULE_NAME[0]="${KO}"`, 'DEST_MODULE_LOCATION[0]="/updates/dkms"',
		'MAKE[0]="make KVER=${kernelver}"', 'CLEAN="make KVER=${kernelver} clean"', 'AUTOINSTALL="yes"', '',
	].join('\n'));
	writeFileSync(join(root, 'DEBIAN/control'), [
		`Package: ${PKG}`, 'Version: 1.0-1', 'Architecture: all', 'Maintainer: kmodpress tests <root@localhost>',
		'Description: kmodpress test: a third-party DKMS package (no kmodpress in its dkms.conf)', '',
	].join('\n'));
	const script = (body: string) => `#!/bin/sh\nset -e\n${body}\n`;
	writeFileSync(join(root, 'DEBIAN/postinst'), script(`if [ "$1" = configure ]; then\n\tdkms add -m ${MOD} -v ${VER}\n\tdkms build -m ${MOD} -v ${VER} -k ${KV}\n\tdkms install -m ${MOD} -v ${VER} -k ${KV}\nfi`));
	writeFileSync(join(root, 'DEBIAN/prerm'), script(`dkms remove -m ${MOD} -v ${VER} --all || true`));
	chmodSync(join(root, 'DEBIAN/postinst'), 0o755);
	chmodSync(join(root, 'DEBIAN/prerm'), 0o755);
	const deb = join(work, `${PKG}_1.0-1_all.deb`);
	execFileSync('/usr/bin/dpkg-deb', ['--root-owner-group', '--build', root, deb], {stdio: 'pipe'});
	return deb;
}

function purge(): void {
	run('/usr/bin/dpkg', ['--purge', PKG]);
	if (existsSync(`/var/lib/dkms/${MOD}`)) run('/usr/sbin/dkms', ['remove', '-m', MOD, '-v', VER, '--all']);
	rmSync(`/var/lib/dkms/${MOD}`, {recursive: true, force: true});
	rmSync(`/usr/src/${MOD}-${VER}`, {recursive: true, force: true});
}

const depLines = () => readFileSync(join(DEBIAN_MODDIR, 'modules.dep'), 'utf8').split('\n').filter((l) => l.includes(KO));

test.before(() => {
	work = mkdtempSync(join(tmpdir(), 'kmodpress-apt-'));
	purge();
	createdLibDir = !existsSync('/usr/lib/kmodpress');
	mkdirSync('/usr/lib/kmodpress', {recursive: true});
	let present = false;
	try {
		lstatSync(HOOK_LINK);
		present = true;
	} catch {}
	if (present) {
		if (!(lstatSync(HOOK_LINK).isSymbolicLink() && readlinkSync(HOOK_LINK) === HOOKS)) renameSync(HOOK_LINK, HOOK_BACKUP);
		else rmSync(HOOK_LINK);
	}
	symlinkSync(HOOKS, HOOK_LINK);
	copyFileSync(join(HOOKS, 'apt/99kmodpress'), APT_CONF);
});

test.after(() => {
	purge();
	rmSync(APT_CONF, {force: true});
	rmSync(HOOK_LINK, {force: true});
	if (existsSync(HOOK_BACKUP)) renameSync(HOOK_BACKUP, HOOK_LINK);
	else if (createdLibDir) rmdirSync('/usr/lib/kmodpress');
	rmSync(work, {recursive: true, force: true});
	rmSync(join(BIN, '..'), {recursive: true, force: true});
});

test('apt-get install of a DKMS package: DPkg::Post-Invoke fixes what DKMS installed; a second run changes nothing; purge leaves nothing', () => {
	const deb = buildPackage();
	const t0 = Date.now();
	const r = run('/usr/bin/apt-get', ['install', '-y', '--no-install-recommends', deb], {env: {KMODPRESS_BIN: BIN, DEBIAN_FRONTEND: 'noninteractive'}});
	console.log(`  apt-get install ./${PKG}: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
	assert.is(r.code, 0, show(r));
	assert.match(r.stdout + r.stderr, /kmodpress: apt \(DKMS\) OK/, show(r));
	// DKMS alone writes `xz -f` (CRC64); after the APT run the module is the kernel's own xz
	assert.ok(existsSync(INSTALLED), `${INSTALLED}: ${show(r)}`);
	assert.is(xzCheck(INSTALLED), 'CRC32');
	const payload = unxz(INSTALLED);
	const kernelXz = execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], {input: payload, maxBuffer: 1 << 28, env: {PATH: '/usr/bin:/bin'}});
	assert.ok(readFileSync(INSTALLED).equals(kernelXz), 'byte-identical to the kernel\'s xz command');
	assert.ok(readFileSync(DKMS_COPY).equals(readFileSync(INSTALLED)), 'DKMS\'s copy rewritten to the same bytes');
	const status = run('/usr/sbin/dkms', ['status', `${MOD}/${VER}`, '-k', KV]).stdout;
	assert.match(status, /installed/);
	assert.not.match(status, /WARNING/);
	assert.equal(depLines(), [`updates/dkms/${KO}.ko.xz:`]);
	const v = run(BIN, ['verify', '--kernel', KV, '--json', INSTALLED]);
	assert.is(JSON.parse(v.stdout).modules[0].loadable, true, v.stdout);
	// the hook again (every later APT run): nothing to change, no depmod
	const before = readFileSync(INSTALLED);
	const again = run(join(HOOKS, 'dkms/apt-post-invoke'), [], {env: {KMODPRESS_BIN: BIN}});
	assert.is(again.code, 0, show(again));
	assert.match(again.stdout, /changed 0/);
	assert.match(again.stdout, /depmod +skipped/);
	assert.ok(readFileSync(INSTALLED).equals(before));
	// purge: the package's prerm removes it from DKMS (and DKMS runs depmod)
	const p = run('/usr/bin/apt-get', ['purge', '-y', PKG], {env: {KMODPRESS_BIN: BIN, DEBIAN_FRONTEND: 'noninteractive'}});
	assert.is(p.code, 0, show(p));
	assert.not.ok(existsSync(INSTALLED));
	assert.not.ok(existsSync(`/var/lib/dkms/${MOD}`));
	assert.equal(depLines(), []);
	const dir = join(DEBIAN_MODDIR, 'updates/dkms');
	assert.equal(existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(KO)) : [], []);
});

test.run();
