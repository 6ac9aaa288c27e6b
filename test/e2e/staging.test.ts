// A staging image (a package's ${D}/${ED}: lib/modules/KV with only the package's modules) judged against the system
// it will be merged into (--target-root, $EROOT, $ROOT, /): issue 14. The modules are Debian's own vivid (which needs
// videodev, videobuf2_*, mc, cec, … from the installed tree) and the example module, through the CLI as a package
// manager calls it.
import {spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {execFileSync} from 'node:child_process';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {cached, DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {exampleModule, makeSysroot} from '../helpers/tree.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
/** The CLI with EROOT and ROOT unset unless given (the test's own environment must not choose the target root). */
function kmodpress(args: string[], env: NodeJS.ProcessEnv = {}) {
	const base = {...process.env};
	delete base.EROOT;
	delete base.ROOT;
	const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {encoding: 'utf8', env: {...base, ...env}});
	return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

const VIVID = join(DEBIAN_MODDIR, 'kernel/drivers/media/test-drivers/vivid/vivid.ko.xz');

/** ${ED}: lib/modules/KV/extra/vivid.ko, uncompressed as a package's src_install leaves it. */
function stagingWithVivid(): {image: string; ko: string; cleanup(): void} {
	const image = mkdtempSync(join(tmpdir(), 'kmodpress-image-'));
	const dir = join(image, 'lib/modules', DEBIAN_KV, 'extra');
	mkdirSync(dir, {recursive: true});
	const ko = join(dir, 'vivid.ko');
	writeFileSync(ko, execFileSync('/usr/bin/xz', ['-dc', VIVID], {maxBuffer: 1 << 28}));
	return {image, ko, cleanup: () => rmSync(image, {recursive: true, force: true})};
}

interface Finding {code: string; severity: string; message: string}

test('staging image: vivid resolves videodev & co. from the installed tree of / (no MISSING_DEPENDENCY, exit 0)', () => {
	const s = stagingWithVivid();
	try {
		const r = kmodpress(['compress', '--root', s.image, '--kernel', DEBIAN_KV, '--no-depmod', '--json', s.ko]);
		assert.is(r.code, 0, r.stderr + r.stdout.slice(0, 2000));
		const m = JSON.parse(r.stdout).modules[0];
		assert.is(m.outcome, 'compressed');
		assert.ok(existsSync(`${s.ko}.xz`));
		assert.is(m.verify.loadable, true);
		// modprobe's order: videodev (and mc before it) from /lib/modules/KV, as Debian's modules.dep says
		for (const dep of ['videodev', 'mc', 'videobuf2_v4l2', 'cec']) assert.ok(m.verify.depends.includes(dep), `${dep} in ${m.verify.depends}`);
		assert.ok(m.verify.depends.indexOf('mc') < m.verify.depends.indexOf('videodev'), m.verify.depends.join(' '));
		assert.not.ok((m.verify.findings as Finding[]).some((f) => f.code === 'MISSING_DEPENDENCY'));
	} finally {
		s.cleanup();
	}
});

test('staging image: a dependency no tree has is a warning naming both trees; after merging into that root it is an error', () => {
	const s = stagingWithVivid();
	const empty = mkdtempSync(join(tmpdir(), 'kmodpress-eroot-'));
	try {
		const r = kmodpress(['verify', '--root', s.image, '--kernel', DEBIAN_KV, '--target-root', empty, '--json', s.ko]);
		assert.is(r.code, 0, r.stderr + r.stdout.slice(0, 2000));
		const v = JSON.parse(r.stdout).modules[0];
		const missing = (v.findings as Finding[]).filter((f) => f.code === 'MISSING_DEPENDENCY');
		assert.ok(missing.length > 0);
		assert.ok(missing.every((f) => f.severity === 'warning'));
		assert.match(missing.find((f) => / videodev,/.test(f.message))!.message, `neither in the staging image nor in ${empty}; decided after merging`);
		// the same image merged into that root (a sysroot whose tree lacks videodev): the kernel would refuse it
		mkdirSync(join(empty, 'lib/modules', DEBIAN_KV, 'extra'), {recursive: true});
		execFileSync('/bin/cp', [s.ko, join(empty, 'lib/modules', DEBIAN_KV, 'extra/vivid.ko')]);
		writeFileSync(join(empty, 'lib/modules', DEBIAN_KV, 'modules.order'), '');
		const merged = kmodpress(['verify', '--root', empty, '--kernel', DEBIAN_KV, '--json', join(empty, 'lib/modules', DEBIAN_KV, 'extra')]);
		assert.is.not(merged.code, 0, merged.stdout.slice(0, 2000));
		const after = (JSON.parse(merged.stdout).modules[0].findings as Finding[]).filter((f) => f.code === 'MISSING_DEPENDENCY');
		assert.ok(after.length > 0 && after.every((f) => f.severity === 'error'));
	} finally {
		s.cleanup();
		rmSync(empty, {recursive: true, force: true});
	}
});

test('staging image: $EROOT is the target root; its /etc/kmodpress applies, the image\'s own does not; explain shows it', () => {
	const sys = makeSysroot();
	const image = mkdtempSync(join(tmpdir(), 'kmodpress-image-'));
	try {
		mkdirSync(join(sys.root, 'etc/kmodpress'), {recursive: true});
		writeFileSync(join(sys.root, 'etc/kmodpress/config.yaml'), 'compress: none\n');
		mkdirSync(join(image, 'etc/kmodpress'), {recursive: true});
		writeFileSync(join(image, 'etc/kmodpress/config.yaml'), 'compress: force\n');
		const dir = join(image, 'lib/modules', sys.kv, 'extra');
		mkdirSync(dir, {recursive: true});
		writeFileSync(join(dir, 'kmodpress_hello.ko'), exampleModule());
		const env = {EROOT: `${sys.root}/`, ROOT: '/nonexistent-root-must-not-be-used'};
		const ex = kmodpress(['explain', '--root', image, '--kernel', sys.kv], env);
		assert.is(ex.code, 0, ex.stderr);
		assert.match(ex.stdout, new RegExp(`target root +${sys.root}: `));
		assert.match(ex.stdout, /from \$EROOT/);
		assert.match(ex.stdout, /compress +no: modules stay as they are/);
		assert.match(ex.stdout, `${sys.root}/etc/kmodpress/config.yaml:compress`);
		const r = kmodpress(['compress', '--root', image, '--kernel', sys.kv, '--no-depmod', '--json', dir], env);
		assert.is(r.code, 0, r.stderr + r.stdout);
		assert.ok(existsSync(join(dir, 'kmodpress_hello.ko')), 'left uncompressed: the target system says compress: none');
		assert.not.ok(existsSync(join(dir, 'kmodpress_hello.ko.xz')));
		// --target-root wins over $EROOT
		const flag = kmodpress(['explain', '--root', image, '--kernel', sys.kv, '--target-root', '/'], env);
		assert.match(flag.stdout, /target root +\/: [^\n]*\n +from --target-root/);
	} finally {
		sys.cleanup();
		rmSync(image, {recursive: true, force: true});
	}
});

test('staging image: a module in the image shadows the installed one of the same name (its exports count, not the old file\'s)', () => {
	const fixture = (name: string) => readFileSync(cached('fixtures/current', `${name}.ko`));
	// the system: an old updates/kp_provider.ko that does not export kp_provided (kp_dep's bytes under that name)
	const sys = makeSysroot({inTree: []});
	const image = mkdtempSync(join(tmpdir(), 'kmodpress-image-'));
	try {
		sys.put('updates/kp_provider.ko', fixture('kp_dep'));
		execFileSync('/sbin/depmod', ['-b', sys.root, sys.kv]);
		// the package: the new kp_provider and kp_user, which needs kp_provided from it
		const dir = join(image, 'lib/modules', sys.kv, 'updates');
		mkdirSync(dir, {recursive: true});
		writeFileSync(join(dir, 'kp_provider.ko'), fixture('kp_provider'));
		writeFileSync(join(dir, 'kp_user.ko'), fixture('kp_user'));
		const verify = (targetRoot: string) => {
			const r = kmodpress(['verify', '--root', image, '--kernel', sys.kv, '--target-root', targetRoot, '--json', join(dir, 'kp_user.ko')]);
			assert.is(r.code, 0, r.stderr + r.stdout);
			return JSON.parse(r.stdout).modules[0] as {depends: string[]; findings: Finding[]};
		};
		const v = verify(sys.root);
		assert.equal(v.depends, ['kp_provider']);
		assert.not.ok(v.findings.some((f) => f.code === 'UNKNOWN_SYMBOL'), JSON.stringify(v.findings));
		// the control: without the image's kp_provider, the installed one is what kp_user would meet — kp_provided unknown
		rmSync(join(dir, 'kp_provider.ko'));
		const old = verify(sys.root);
		assert.ok(old.findings.some((f) => f.code === 'UNKNOWN_SYMBOL' && f.severity === 'warning' && /kp_provided/.test(f.message)), JSON.stringify(old.findings));
	} finally {
		sys.cleanup();
		rmSync(image, {recursive: true, force: true});
	}
});

test('staging image: verify --boot loads vivid in Debian\'s booted kernel after its dependencies from the target root', () => {
	const image = `/boot/vmlinuz-${DEBIAN_KV}`;
	if (!existsSync('/usr/bin/qemu-system-x86_64') || !existsSync(image)) {
		console.log(`  skipped: needs /usr/bin/qemu-system-x86_64 and ${image}`);
		return;
	}
	const s = stagingWithVivid();
	try {
		const r = kmodpress(['verify', '--boot', '--json', '--root', s.image, '--kernel', DEBIAN_KV, '--kernel-image', image, s.ko]);
		assert.is(r.code, 0, r.stderr + r.stdout.slice(0, 3000));
		const boot = JSON.parse(r.stdout).boot as {results: {loaded: boolean; agrees: boolean; errno: string}[]};
		assert.equal(boot.results.map((x) => [x.loaded, x.agrees, x.errno]), [[true, true, '']]);
	} finally {
		s.cleanup();
	}
});

test('staging image: a --target-root that is not a directory is a one-line usage error', () => {
	const s = stagingWithVivid();
	try {
		const r = kmodpress(['compress', '--root', s.image, '--kernel', DEBIAN_KV, '--target-root', '/nonexistent-kmodpress', s.ko]);
		assert.is(r.code, 2, r.stderr + r.stdout);
		assert.match(r.stderr, /--target-root is "\/nonexistent-kmodpress", which is not a directory/);
		assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
		assert.ok(existsSync(s.ko), 'nothing touched');
	} finally {
		s.cleanup();
	}
});

test.run();
