// Gentoo: eclass-shim/kmodpress.eclass and hooks/portage/bashrc run in bash with a minimal portage-like environment
// (test/integrations/gentoo/portage-env.sh + emerge-sim.sh: src_install in one bash, its variables saved, the image
// merged into EROOT, pkg_postinst in a second bash) and a stand-in linux-mod-r1 that installs the real example module,
// built against Debian's 6.12.115 headers, uncompressed into ${ED}/lib/modules/${KV_FULL}/extra.
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {cached, DEBIAN_BUILD, DEBIAN_MODDIR} from '../helpers/paths.js';
import {exampleModule, makeSysroot, type Sysroot} from '../helpers/tree.js';
import {HOOKS, kmodpressBin, REPO, run, show, unxz, xzCheck} from './helpers.js';

const GENTOO = join(REPO, 'test/integrations/gentoo');
const EBUILD = join(REPO, 'examples/kmodpress-hello/gentoo/sys-kernel/kmodpress-hello/kmodpress-hello-1.0.ebuild');
const PLAIN_EBUILD = join(GENTOO, 'plain-hello-1.0.ebuild');
const BIN = kmodpressBin();

interface Emerge {
	work: string;
	image: string;
	sysroot: Sysroot;
	r: ReturnType<typeof run>;
	cleanup(): void;
}

function sha(file: string) {
	return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Runs the ebuild's phases; EROOT is a fresh temp sysroot holding some of Debian's real in-tree modules. */
function emerge(opts: {ebuild: string; use: string; bashrc?: boolean; prebuilt?: string; bin?: string; phases?: 'install' | 'all'}): Emerge {
	const work = mkdtempSync(join(tmpdir(), 'kmodpress-gentoo-'));
	const eclassdir = join(work, 'eclass');
	mkdirSync(eclassdir);
	symlinkSync(join(REPO, 'eclass-shim/kmodpress.eclass'), join(eclassdir, 'kmodpress.eclass'));
	symlinkSync(join(GENTOO, 'linux-mod-r1.eclass'), join(eclassdir, 'linux-mod-r1.eclass'));
	const sysroot = makeSysroot();
	const env: NodeJS.ProcessEnv = {
		EBUILD: opts.ebuild, ECLASSDIR: eclassdir, FILESDIR: join(REPO, 'examples/kmodpress-hello'), WORK: join(work, 'build'),
		EROOT: `${sysroot.root}/`, USE: opts.use, KV_FULL: sysroot.kv, KV_OUT_DIR: DEBIAN_BUILD,
		KMODPRESS_TEST_PREBUILT: opts.prebuilt ?? cached('example/current'), KMODPRESS_BIN: opts.bin ?? BIN,
		BASHRC: opts.bashrc ? join(HOOKS, 'portage/bashrc') : '', PHASES: opts.phases ?? 'all',
	};
	mkdirSync(env.WORK!);
	const r = run(join(GENTOO, 'emerge-sim.sh'), [], {env});
	console.log(`  emerge ${opts.ebuild.split('/').pop()} USE="${opts.use}"${opts.bashrc ? ' +bashrc' : ''}: exit ${r.code} in ${r.seconds.toFixed(1)} s`);
	return {
		work, sysroot, r, image: join(work, 'build/image/lib/modules', sysroot.kv),
		cleanup() {
			sysroot.cleanup();
			rmSync(work, {recursive: true, force: true});
		},
	};
}

/** Every file under dir, relative */
function files(dir: string, prefix = ''): string[] {
	if (!existsSync(dir)) return [];
	return readdirSync(dir, {withFileTypes: true}).flatMap((e) =>
		e.isDirectory() ? files(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]).sort();
}

function depmodOf(s: Sysroot): string {
	return readFileSync(join(s.moduleDir, 'modules.dep'), 'utf8');
}

function checkCompressedRun(e: Emerge, label: string) {
	assert.is(e.r.code, 0, `${label}\n${show(e.r)}`);
	// the image after src_install: only the compressed module, no depmod output, no lock file
	assert.equal(files(e.image), ['extra/kmodpress_hello.ko.xz'], 'image: .ko.xz only (no .ko, no modules.dep, no lock)');
	const xz = join(e.image, 'extra/kmodpress_hello.ko.xz');
	assert.is(xzCheck(xz), 'CRC32');
	assert.ok(unxz(xz).equals(exampleModule()), 'decompresses to the module linux-mod-r1 installed');
	assert.is(statSync(xz).mode & 0o777, 0o644);
	// pkg_postinst: depmod ran in EROOT and lists it; Debian's own modules.dep untouched
	assert.match(depmodOf(e.sysroot), /^extra\/kmodpress_hello\.ko\.xz:$/m);
	assert.ok(existsSync(join(e.sysroot.moduleDir, 'modules.dep.bin')));
	assert.ok(readFileSync(join(e.sysroot.moduleDir, 'extra/kmodpress_hello.ko.xz')).equals(readFileSync(xz)), 'merged as built');
}

test('kmodpress.eclass, USE=modules-compress: src_install leaves a CRC32 .ko.xz in ${ED} without depmod; pkg_postinst runs depmod in EROOT', () => {
	const hostDep = sha(join(DEBIAN_MODDIR, 'modules.dep'));
	const e = emerge({ebuild: EBUILD, use: 'modules-compress strip'});
	try {
		checkCompressedRun(e, 'eclass');
		assert.match(e.r.stdout, />>> src_install\n \* kmodpress: compressing the modules for 6\.12\.115\+deb12-amd64/);
		assert.match(e.r.stdout, /depmod +skipped: --no-depmod/, 'no depmod in src_install');
		assert.match(e.r.stdout, />>> pkg_postinst\n \* kmodpress: depmod and checks/);
		assert.ok(existsSync(join(e.work, 'build/temp/linux-mod-r1_pkg_postinst.ran')), 'linux-mod-r1_pkg_postinst still runs');
		assert.is(sha(join(DEBIAN_MODDIR, 'modules.dep')), hostDep, "the host's modules.dep is not touched");
	} finally {
		e.cleanup();
	}
});

test('kmodpress.eclass, USE=-modules-compress: the .ko stays as linux-mod-r1 installed it; pkg_postinst still runs depmod in EROOT', () => {
	const e = emerge({ebuild: EBUILD, use: 'strip'});
	try {
		assert.is(e.r.code, 0, show(e.r));
		assert.match(e.r.stdout, /USE=-modules-compress: leaving the modules uncompressed/);
		assert.equal(files(e.image), ['extra/kmodpress_hello.ko']);
		assert.ok(readFileSync(join(e.image, 'extra/kmodpress_hello.ko')).equals(exampleModule()));
		assert.ok(readFileSync(join(e.sysroot.moduleDir, 'extra/kmodpress_hello.ko')).equals(exampleModule()));
		assert.ok(!existsSync(join(e.sysroot.moduleDir, 'extra/kmodpress_hello.ko.xz')));
		assert.match(depmodOf(e.sysroot), /^extra\/kmodpress_hello\.ko:$/m);
	} finally {
		e.cleanup();
	}
});

test('kmodpress.eclass: a module kmodpress cannot handle makes src_install die with its message', () => {
	const bad = mkdtempSync(join(tmpdir(), 'kmodpress-gentoo-bad-'));
	try {
		writeFileSync(join(bad, 'kmodpress_hello.ko'), exampleModule().subarray(0, 4000)); // truncated ELF
		const e = emerge({ebuild: EBUILD, use: 'modules-compress', prebuilt: bad, phases: 'install'});
		try {
			assert.is.not(e.r.code, 0, show(e.r));
			assert.match(e.r.stderr, /ERROR: sys-kernel\/kmodpress-hello-1\.0 failed \(src_install phase\): kmodpress compress failed/, show(e.r));
			assert.match(e.r.stdout + e.r.stderr, /kmodpress: E_[A-Z_]+|FAILED/, 'kmodpress said what is wrong');
			assert.ok(readFileSync(join(e.image, 'extra/kmodpress_hello.ko')).equals(exampleModule().subarray(0, 4000)), 'left byte-identical');
		} finally {
			e.cleanup();
		}
		const nobin = emerge({ebuild: EBUILD, use: 'modules-compress', bin: '/nonexistent/kmodpress', phases: 'install'});
		try {
			assert.is.not(nobin.r.code, 0);
			assert.match(nobin.r.stderr, /KMODPRESS_BIN=\/nonexistent\/kmodpress is not an executable file/, show(nobin.r));
		} finally {
			nobin.cleanup();
		}
	} finally {
		rmSync(bad, {recursive: true, force: true});
	}
});

test('/etc/portage/bashrc snippet: a plain linux-mod-r1 package gets the same treatment; USE=-modules-compress leaves .ko', () => {
	const e = emerge({ebuild: PLAIN_EBUILD, use: 'modules-compress', bashrc: true});
	try {
		checkCompressedRun(e, 'bashrc');
		assert.match(e.r.stdout, />>> post_src_install\n \* kmodpress: compressing/);
		assert.match(e.r.stdout, />>> post_pkg_postinst\n \* kmodpress: depmod and checks/);
	} finally {
		e.cleanup();
	}
	const off = emerge({ebuild: PLAIN_EBUILD, use: '', bashrc: true});
	try {
		assert.is(off.r.code, 0, show(off.r));
		assert.equal(files(off.image), ['extra/kmodpress_hello.ko']);
		assert.match(depmodOf(off.sysroot), /^extra\/kmodpress_hello\.ko:$/m);
	} finally {
		off.cleanup();
	}
});

test('bashrc + kmodpress.eclass: the eclass does the work once, the bashrc hooks stand aside', () => {
	const e = emerge({ebuild: EBUILD, use: 'modules-compress', bashrc: true});
	try {
		checkCompressedRun(e, 'both');
		assert.is(e.r.stdout.match(/kmodpress: compressing/g)?.length, 1, e.r.stdout);
		assert.is(e.r.stdout.match(/kmodpress: depmod and checks/g)?.length, 1, e.r.stdout);
	} finally {
		e.cleanup();
	}
});

test.after(() => rmSync(join(BIN, '..'), {recursive: true, force: true}));

test.run();
