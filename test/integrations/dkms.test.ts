// DKMS for real (Debian's dkms 3.0.10, as root): add/build/install the example module against Debian's 6.12.115
// kernel with hooks/dkms/post-install as its POST_INSTALL, and check what ends up on disk, in modules.dep and in
// `dkms status`; then uninstall/remove and check nothing is left. Also the two ways that do not need the package's
// dkms.conf: the /etc/kernel/postinst.d sweep and a per-module /etc/dkms/<module>.conf override.
// The hooks are reached the way an installed kmodpress provides them: /usr/lib/kmodpress/hooks (a symlink to this
// checkout's hooks/ for the duration of the test; anything there before is put back).
import {execFileSync} from 'node:child_process';
import {copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {HOOKS, kmodpressBin, REPO, run, show, unxz, xzCheck} from './helpers.js';

const KV = DEBIAN_KV;
const MOD = 'kmodpress-hello';
const VER = '1.0';
const ARCH = run('uname', ['-m']).stdout.trim();
const DKMS_COPY_DIR = `/var/lib/dkms/${MOD}/${VER}/${KV}/${ARCH}/module`;
const DKMS_COPY = `${DKMS_COPY_DIR}/kmodpress_hello.ko.xz`;
const INSTALLED = `${DEBIAN_MODDIR}/updates/dkms/kmodpress_hello.ko.xz`;
const HOOK_LINK = '/usr/lib/kmodpress/hooks';
const HOOK_BACKUP = '/usr/lib/kmodpress/hooks.kmodpress-test-backup';
const OVERRIDE = `/etc/dkms/${MOD}.conf`;
const BIN = kmodpressBin();
const ENV = {KMODPRESS_BIN: BIN};

let srcDir = '';
let createdLibDir = false;
let crc64Payload: Buffer | undefined;

function dkms(...args: string[]) {
	return dkmsEnv({}, ...args);
}

function dkmsEnv(env: NodeJS.ProcessEnv, ...args: string[]) {
	const r = run('/usr/sbin/dkms', args, {env: {...ENV, ...env}, cwd: '/'});
	console.log(`  dkms ${args.join(' ')}: exit ${r.code} in ${r.seconds.toFixed(1)} s`);
	return r;
}

function status(): string {
	return dkms('status', `${MOD}/${VER}`, '-k', KV).stdout.trim();
}

function depLines(): string[] {
	return readFileSync(join(DEBIAN_MODDIR, 'modules.dep'), 'utf8').split('\n').filter((l) => l.includes('kmodpress_hello'));
}

function leftovers(): string[] {
	const found: string[] = [];
	const walk = (dir: string) => {
		if (!existsSync(dir)) return;
		for (const e of readdirSync(dir, {withFileTypes: true})) {
			const p = join(dir, e.name);
			if (e.isDirectory()) walk(p);
			else if (e.name.startsWith('kmodpress_hello')) found.push(p);
		}
	};
	walk(join(DEBIAN_MODDIR, 'updates'));
	walk(join(DEBIAN_MODDIR, 'extra'));
	if (existsSync(`/var/lib/dkms/${MOD}`)) found.push(`/var/lib/dkms/${MOD}`);
	found.push(...depLines().map((l) => `modules.dep: ${l}`));
	return found;
}

/** Remove every trace of the example from DKMS, /usr/src and /etc/dkms (also what an earlier failed run left). */
function purge() {
	if (existsSync(`/var/lib/dkms/${MOD}`)) dkms('remove', `${MOD}/${VER}`, '--all');
	rmSync(`/var/lib/dkms/${MOD}`, {recursive: true, force: true});
	rmSync(`/usr/src/${MOD}-${VER}`, {recursive: true, force: true});
	rmSync(OVERRIDE, {force: true});
}

/** A copy of examples/kmodpress-hello to `dkms add`; without POST_INSTALL when asked. */
function sourceTree(withHook: boolean): string {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-dkms-src-'));
	for (const f of ['kmodpress_hello.c', 'Kbuild', 'Makefile', 'dkms.conf']) copyFileSync(join(REPO, 'examples/kmodpress-hello', f), join(dir, f));
	if (!withHook) {
		const conf = readFileSync(join(dir, 'dkms.conf'), 'utf8');
		writeFileSync(join(dir, 'dkms.conf'), conf.replace(/^POST_INSTALL=.*$/m, ''));
	}
	return dir;
}

// The README's main job (npm run example) installs the same module by hand into extra/: DKMS would then refuse to
// install its own copy ("exactly matches what is already found"). Set such copies aside for the test, put them back.
const ASIDE = `/var/tmp/kmodpress-dkms-test-aside`;
const aside: string[] = [];
function setAsideHandInstalled(): void {
	for (const rel of readdirSync(DEBIAN_MODDIR, {recursive: true}) as string[]) {
		if (!/(^|\/)kmodpress_hello\.ko(\.(gz|xz|zst))?$/.test(rel) || rel.startsWith('updates/dkms/') || rel.startsWith('build/')) continue;
		mkdirSync(join(ASIDE, rel, '..'), {recursive: true});
		renameSync(join(DEBIAN_MODDIR, rel), join(ASIDE, rel));
		aside.push(rel);
	}
	if (aside.length) run('/usr/sbin/depmod', ['-a', KV]);
}
function putBackHandInstalled(): void {
	for (const rel of aside) renameSync(join(ASIDE, rel), join(DEBIAN_MODDIR, rel));
	if (aside.length) run('/usr/sbin/depmod', ['-a', KV]);
	rmSync(ASIDE, {recursive: true, force: true});
}

test.before(() => {
	assert.ok(existsSync('/usr/sbin/dkms'), 'dkms is installed (scripts/setup.sh --test)');
	assert.ok(existsSync(`${DEBIAN_MODDIR}/build/Makefile`), `headers for ${KV}`);
	setAsideHandInstalled();
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
});

test.after(() => {
	purge();
	putBackHandInstalled();
	rmSync(HOOK_LINK, {force: true});
	if (existsSync(HOOK_BACKUP)) renameSync(HOOK_BACKUP, HOOK_LINK);
	else if (createdLibDir) rmdirSync('/usr/lib/kmodpress');
	if (srcDir) rmSync(srcDir, {recursive: true, force: true});
	rmSync(join(BIN, '..'), {recursive: true, force: true});
});

test('dkms add + build: DKMS itself compresses with plain `xz -f`, i.e. CRC64, which this kernel refuses', () => {
	srcDir = sourceTree(true);
	const add = dkms('add', srcDir);
	assert.is(add.code, 0, show(add));
	const build = dkms('build', `${MOD}/${VER}`, '-k', KV);
	assert.is(build.code, 0, show(build));
	assert.ok(existsSync(DKMS_COPY), `${DKMS_COPY} exists`);
	assert.is(xzCheck(DKMS_COPY), 'CRC64', 'dkms 3.0.10 writes crc64 xz (what the hook must fix)');
	crc64Payload = unxz(DKMS_COPY);
	assert.ok(crc64Payload.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1')));
	assert.match(crc64Payload.toString('latin1'), /~Module signature appended~\n$/, 'DKMS signed it (with its MOK key) before compressing');
});

test('dkms install runs the POST_INSTALL hook: CRC32 as the kernel compresses, same payload, modules.dep, verify, dkms status clean', () => {
	assert.ok(crc64Payload, 'the build test ran');
	const r = dkms('install', `${MOD}/${VER}`, '-k', KV);
	assert.is(r.code, 0, show(r));
	assert.match(r.stdout, /Running the post_install script:/);
	assert.match(r.stdout + r.stderr, /kmodpress: DKMS post-install OK: kmodpress-hello\/1\.0 for 6\.12\.115\+deb12-amd64/, show(r));
	assert.not.match(r.stdout + r.stderr, /post-install FAILED/);

	assert.ok(existsSync(INSTALLED), INSTALLED);
	assert.ok(!existsSync(INSTALLED.replace(/\.xz$/, '')), 'no plain .ko next to it');
	assert.is(xzCheck(INSTALLED), 'CRC32');
	assert.ok(unxz(INSTALLED).equals(crc64Payload!), 'decompresses to exactly what DKMS built and signed');
	// byte-identical to the kernel's own command (xz --check=crc32 --lzma2=dict=1MiB, single-threaded format)
	assert.ok(readFileSync(INSTALLED).equals(kernelXz(crc64Payload!)), 'same bytes as `xz --check=crc32 --lzma2=dict=1MiB -T1`');

	assert.ok(readFileSync(DKMS_COPY).equals(readFileSync(INSTALLED)), "DKMS's own copy was rewritten to the same bytes");
	assert.equal(readdirSync(DKMS_COPY_DIR), ['kmodpress_hello.ko.xz']);
	assert.equal(depLines(), ['updates/dkms/kmodpress_hello.ko.xz:'], 'modules.dep (written by the depmod DKMS ran after the hook)');

	const st = status();
	assert.match(st, new RegExp(`^${MOD}/${VER}, ${KV.replace(/[+.]/g, '\\$&')}, ${ARCH}: installed$`, 'm'), st);
	assert.not.match(st, /WARNING/, st);

	const verify = run(BIN, ['verify', '--kernel', KV, '--json', INSTALLED]);
	assert.is(verify.code, 0, show(verify));
	const vj = JSON.parse(verify.stdout);
	assert.is(vj.modules.length, 1);
	assert.is(vj.modules[0].loadable, true, verify.stdout);

	const again = run(BIN, ['compress', '--kernel', KV, '--no-depmod', '--json', run('readlink', ['-f', INSTALLED]).stdout.trim()]);
	assert.is(again.code, 0, show(again));
	assert.is(JSON.parse(again.stdout).modules[0].outcome, 'unchanged', 'kmodpress finds nothing left to fix');
});

test('dkms uninstall + remove leave nothing behind', () => {
	const u = dkms('uninstall', `${MOD}/${VER}`, '-k', KV);
	assert.is(u.code, 0, show(u));
	assert.ok(!existsSync(INSTALLED));
	assert.equal(depLines(), []);
	const r = dkms('remove', `${MOD}/${VER}`, '--all');
	assert.is(r.code, 0, show(r));
	assert.equal(leftovers(), []);
	assert.is(status(), '');
});

test('without POST_INSTALL the crc64 module stays; the postinst.d sweep fixes it and DKMS\'s copy; a /etc/dkms/<module>.conf override wires the hook per module', () => {
	rmSync(`/usr/src/${MOD}-${VER}`, {recursive: true, force: true});
	if (srcDir) rmSync(srcDir, {recursive: true, force: true});
	srcDir = sourceTree(false);
	assert.is(dkms('add', srcDir).code, 0);
	const inst = dkms('install', `${MOD}/${VER}`, '-k', KV);
	assert.is(inst.code, 0, show(inst));
	assert.not.match(inst.stdout, /post_install/);
	assert.is(xzCheck(INSTALLED), 'CRC64', 'plain DKMS installs what the kernel cannot decompress');
	const payload = unxz(INSTALLED);

	// Debian's /etc/kernel/postinst.d (run-parts --arg=KV --arg=IMAGE), after dkms's own postinst.d hook.
	const sweep = run(join(HOOKS, 'postinst.d/kmodpress'), [KV, `/boot/vmlinuz-${KV}`], {env: {...ENV, KMODPRESS_HOOK_STRICT: '1'}});
	console.log(`  postinst.d/kmodpress: exit ${sweep.code} in ${sweep.seconds.toFixed(1)} s`);
	assert.is(sweep.code, 0, show(sweep));
	assert.match(sweep.stdout, /kmodpress: postinst\.d OK/, show(sweep));
	assert.is(xzCheck(INSTALLED), 'CRC32');
	assert.ok(unxz(INSTALLED).equals(payload));
	assert.ok(readFileSync(DKMS_COPY).equals(readFileSync(INSTALLED)), "DKMS's copy follows");
	assert.equal(depLines(), ['updates/dkms/kmodpress_hello.ko.xz:']);
	assert.not.match(status(), /WARNING/);

	// Per-module override, without touching the package: dkms 3.0.x sources /etc/dkms/<module>.conf after dkms.conf.
	assert.is(dkms('remove', `${MOD}/${VER}`, '--all').code, 0);
	writeFileSync(OVERRIDE, 'POST_INSTALL="../../../../../../../../../../usr/lib/kmodpress/hooks/dkms/post-install ${kernelver} ${arch} ${PACKAGE_NAME} ${PACKAGE_VERSION}"\n');
	assert.is(dkms('add', `${MOD}/${VER}`).code, 0);
	// (the depmod -n check was covered above; skipping it here saves a full depmod scan)
	const again = dkmsEnv({KMODPRESS_DKMS_DEPMOD_CHECK: '0'}, 'install', `${MOD}/${VER}`, '-k', KV);
	assert.is(again.code, 0, show(again));
	assert.match(again.stdout + again.stderr, /kmodpress: DKMS post-install OK/, show(again));
	assert.is(xzCheck(INSTALLED), 'CRC32');
	assert.ok(readFileSync(DKMS_COPY).equals(readFileSync(INSTALLED)));
	assert.not.match(status(), /WARNING/);

	purge();
	assert.equal(leftovers(), []);
});

/** What the kernel's modules_install runs for xz on 6.6+, single-threaded format, with a clean environment. */
function kernelXz(payload: Buffer): Buffer {
	return execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], {input: payload, env: {PATH: '/usr/bin:/bin'}, maxBuffer: 1 << 28});
}

test.run();
