// The kernel hooks (hooks/postinst.d/kmodpress for Debian's /etc/kernel/postinst.d, hooks/kernel-install/
// 50-kmodpress.install for systemd's kernel-install, both through hooks/lib/kernel-hook.sh) and the DKMS hook's
// bookkeeping, on temp sysroots (KMODPRESS_ROOT) holding Debian's real in-tree modules and the real example module
// compressed the way DKMS does it (`xz -f`: CRC64, which Debian's kernel refuses). The real systemd kernel-install
// runs the plugin (KERNEL_INSTALL_PLUGINS limits it to ours, so it writes nothing under /boot).
import {execFileSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {exampleModule, makeSysroot, type Sysroot} from '../helpers/tree.js';
import {HOOKS, kmodpressBin, run, show, unxz, xzCheck} from './helpers.js';

const BIN = kmodpressBin();
const KV = DEBIAN_KV;
const ARCH = run('uname', ['-m']).stdout.trim();
const POSTINST = join(HOOKS, 'postinst.d/kmodpress');
const PLUGIN = join(HOOKS, 'kernel-install/50-kmodpress.install');
const DKMS_HOOK = join(HOOKS, 'dkms/post-install');

/** `xz -f` as DKMS 3.0.10 runs it: xz's defaults, CRC64 */
const dkmsXz = (data: Buffer) => execFileSync('/usr/bin/xz', ['-c'], {input: data, env: {PATH: '/usr/bin:/bin'}, maxBuffer: 1 << 28});
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** A sysroot with the example installed by "DKMS": updates/dkms/kmodpress_hello.ko.xz (CRC64) and DKMS's tree. */
function dkmsSysroot(): {s: Sysroot; installed: string; copy: string} {
	const s = makeSysroot();
	const bytes = dkmsXz(exampleModule());
	const installed = s.put('updates/dkms/kmodpress_hello.ko.xz', bytes);
	const modDir = join(s.root, 'var/lib/dkms/kmodpress-hello/1.0', KV, ARCH, 'module');
	mkdirSync(modDir, {recursive: true});
	const copy = join(modDir, 'kmodpress_hello.ko.xz');
	execFileSync('cp', ['--', installed, copy]);
	symlinkSync(`1.0/${KV}/${ARCH}`, join(s.root, 'var/lib/dkms/kmodpress-hello', `kernel-${KV}-${ARCH}`));
	return {s, installed, copy};
}

function checkFixed(s: Sysroot, installed: string, copy?: string) {
	assert.is(xzCheck(installed), 'CRC32');
	assert.ok(unxz(installed).equals(exampleModule()));
	if (copy) assert.ok(readFileSync(copy).equals(readFileSync(installed)), "DKMS's copy matches the installed file");
	const dep = readFileSync(join(s.moduleDir, 'modules.dep'), 'utf8');
	assert.match(dep, new RegExp(`^${installed.slice(s.moduleDir.length + 1).replace(/[.+]/g, '\\$&')}:$`, 'm'), dep);
}

test('postinst.d/kmodpress KV IMAGE: recompresses the CRC64 module as the kernel would, keeps DKMS\'s copy in step, depmod in the root', () => {
	const hostDep = sha(join(DEBIAN_MODDIR, 'modules.dep'));
	const {s, installed, copy} = dkmsSysroot();
	const extra = s.put('extra/other.ko.xz', dkmsXz(exampleModule()));
	try {
		assert.is(xzCheck(installed), 'CRC64');
		const r = run(POSTINST, [KV, `/boot/vmlinuz-${KV}`], {env: {KMODPRESS_BIN: BIN, KMODPRESS_ROOT: s.root, KMODPRESS_HOOK_STRICT: '1'}, cwd: '/'});
		console.log(`  postinst.d/kmodpress: ${r.seconds.toFixed(1)} s`);
		assert.is(r.code, 0, show(r));
		assert.match(r.stdout, /DKMS module kmodpress-hello\/1\.0/);
		assert.match(r.stdout, /kmodpress: DKMS post-install OK/);
		assert.match(r.stdout, /kmodpress: postinst\.d OK/);
		checkFixed(s, installed, copy);
		checkFixed(s, extra);
		assert.equal(readdirSync(join(copy, '..')), ['kmodpress_hello.ko.xz']);
		assert.is(sha(join(DEBIAN_MODDIR, 'modules.dep')), hostDep, "the host's modules.dep is untouched");
		// a second run changes nothing
		const before = sha(installed);
		const again = run(POSTINST, [KV, `/boot/vmlinuz-${KV}`], {env: {KMODPRESS_BIN: BIN, KMODPRESS_ROOT: s.root, KMODPRESS_HOOK_STRICT: '1'}});
		assert.is(again.code, 0, show(again));
		assert.is(sha(installed), before);
	} finally {
		s.cleanup();
	}
});

test('kernel-install add KV IMAGE runs 50-kmodpress.install (real systemd kernel-install, only our plugin); remove does nothing', () => {
	const {s, installed, copy} = dkmsSysroot();
	try {
		const env = {KMODPRESS_BIN: BIN, KMODPRESS_ROOT: s.root, KMODPRESS_HOOK_STRICT: '1', KERNEL_INSTALL_PLUGINS: PLUGIN};
		const bootBefore = readdirSync('/boot').sort();
		const r = run('/usr/bin/kernel-install', ['--verbose', 'add', KV, `/boot/vmlinuz-${KV}`], {env});
		console.log(`  kernel-install add: ${r.seconds.toFixed(1)} s`);
		assert.is(r.code, 0, show(r));
		assert.match(r.stdout + r.stderr, /50-kmodpress\.install add 6\.12\.115\+deb12-amd64 \S+ \/boot\/vmlinuz-6\.12\.115\+deb12-amd64/);
		assert.match(r.stdout, /kmodpress: kernel-install OK/);
		checkFixed(s, installed, copy);
		assert.equal(readdirSync('/boot').sort(), bootBefore, 'nothing written to /boot');

		const before = sha(installed);
		const rm = run(PLUGIN, ['remove', KV, '/nonexistent/entry'], {env});
		assert.is(rm.code, 0, show(rm));
		assert.is(rm.stdout, '');
		assert.is(sha(installed), before);
	} finally {
		s.cleanup();
	}
});

test('kernel hooks: a missing kmodpress is reported loudly; exit 0 unless KMODPRESS_HOOK_STRICT=1', () => {
	const {s, installed} = dkmsSysroot();
	try {
		const env = {KMODPRESS_BIN: '/nonexistent/kmodpress', KMODPRESS_ROOT: s.root};
		const soft = run(POSTINST, [KV], {env});
		assert.is(soft.code, 0, show(soft));
		assert.match(soft.stderr, /KMODPRESS_BIN=\/nonexistent\/kmodpress is not an executable file/);
		assert.match(soft.stderr, /FAILED/);
		const strict = run(PLUGIN, ['add', KV, '/x', '/y'], {env: {...env, KMODPRESS_HOOK_STRICT: '1'}});
		assert.is(strict.code, 2, show(strict));
		assert.is(xzCheck(installed), 'CRC64', 'nothing changed');
	} finally {
		s.cleanup();
	}
});

test('dkms/post-install: KV ARCH MODULE VERSION from arguments or the working directory; refuses an install it cannot match', () => {
	const {s, installed, copy} = dkmsSysroot();
	try {
		const env = {KMODPRESS_BIN: BIN, KMODPRESS_DKMS_TREE: join(s.root, 'var/lib/dkms'), KMODPRESS_INSTALL_TREE: join(s.root, 'lib/modules')};
		// as DKMS runs it: cwd $dkms_tree/<module>/<version>/source, module and version not passed
		const source = join(s.root, 'var/lib/dkms/kmodpress-hello/1.0/source');
		mkdirSync(source);
		const r = run('/bin/bash', ['-c', `cd ${JSON.stringify(source)} && exec ${JSON.stringify(DKMS_HOOK)} ${KV} ${ARCH}`], {env});
		assert.is(r.code, 0, show(r));
		assert.match(r.stdout, /kmodpress: DKMS post-install OK: kmodpress-hello\/1\.0 for 6\.12\.115\+deb12-amd64: .*modules\.dep will list them/);
		assert.is(xzCheck(installed), 'CRC32');
		assert.ok(readFileSync(copy).equals(readFileSync(installed)));

		// an installed file that is not what DKMS built: not touched, FAILED
		s.put('updates/dkms/kmodpress_hello.ko.xz', dkmsXz(Buffer.concat([exampleModule(), Buffer.from('x')])));
		const before = sha(installed);
		const bad = run(DKMS_HOOK, [KV, ARCH, 'kmodpress-hello', '1.0'], {env});
		assert.is(bad.code, 1, show(bad));
		assert.is(sha(installed), before);
		assert.match(bad.stderr, /kmodpress: DKMS post-install FAILED: kmodpress-hello\/1\.0: DKMS's copy \S+\/kmodpress_hello\.ko\.xz is another build than the installed \S+\/updates\/dkms\/kmodpress_hello\.ko\.xz \(a different module image/, show(bad));
		// no file of that name at all: not installed
		rmSync(installed);
		const gone = run(DKMS_HOOK, [KV, ARCH, 'kmodpress-hello', '1.0'], {env});
		assert.is(gone.code, 1, show(gone));
		assert.match(gone.stderr, /kmodpress: DKMS post-install FAILED: kmodpress-hello\/1\.0: kmodpress_hello\.ko\.xz is not installed under \S+ \(no kmodpress_hello\.ko\* outside kernel\/; was `dkms install` interrupted\?\)/, show(gone));
		const nokv = run(DKMS_HOOK, [], {env});
		assert.is(nokv.code, 2);
		assert.match(nokv.stderr, /no kernel version/);
	} finally {
		s.cleanup();
		rmSync(join(s.root), {recursive: true, force: true});
	}
});

test('dkms/post-install with symlink_modules: DKMS\'s copy is recompressed and the installed link still points at it', () => {
	const {s, installed, copy} = dkmsSysroot();
	try {
		rmSync(installed);
		symlinkSync(copy, installed);
		const env = {KMODPRESS_BIN: BIN, KMODPRESS_DKMS_TREE: join(s.root, 'var/lib/dkms'), KMODPRESS_INSTALL_TREE: join(s.root, 'lib/modules')};
		const r = run(DKMS_HOOK, [KV, ARCH, 'kmodpress-hello', '1.0'], {env});
		assert.is(r.code, 0, show(r));
		assert.match(r.stdout, /kmodpress: DKMS post-install OK/);
		assert.ok(lstatSync(installed).isSymbolicLink());
		assert.is(readlinkSync(installed), copy);
		assert.is(xzCheck(copy), 'CRC32');
		assert.ok(unxz(copy).equals(exampleModule()));
	} finally {
		s.cleanup();
	}
});

test.after(() => rmSync(join(BIN, '..'), {recursive: true, force: true}));

test.run();
