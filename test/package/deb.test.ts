// The Debian package for real, per suite (KMODPRESS_TEST_DEB_SUITES, default "trixie bookworm"; sid untried): built by
// scripts/build-deb.sh in a chroot of that suite (real dpkg-buildpackage, addons compiled for that suite's nodejs),
// installed with apt-get into a fresh chroot of that suite (mmdebstrap, Debian's archive), then used as a user would:
// the suite's kernel and headers, `apt-get install v4l2loopback-dkms` gives a CRC32 .ko.xz with no other step (APT's
// Post-Invoke hook), an upgrade keeps a changed /etc/kmodpress config, `apt-get purge` leaves nothing of kmodpress.
//
// Slow (measured on a loaded 2-core machine: per suite ~10 min for the two chroots, ~7 min for a first build, ~2 min
// for a rebuild, 2.5-8 min for this test): it runs when KMODPRESS_TEST_DEB=1 (building what is missing; give the
// runner --timeout 5400) or when the .deb for this exact package source and both chroots are already cached (after
// `bash scripts/build-deb.sh trixie`), each suite on its own; otherwise it says why in one line and passes.
// bookworm: its 6.12 kernel from bookworm-security and v4l2loopback-dkms 0.13.2 from bookworm-backports (its own
// 0.12.7 does not build for 6.12); kmodpress runs on bookworm's nodejs 18.
import {copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {CACHE} from '../helpers/paths.js';
import {packageFiles, REPO} from './deb-files.js';
import {spawnSync} from 'node:child_process';

const SUITES = (process.env.KMODPRESS_TEST_DEB_SUITES ?? 'trixie bookworm').split(/[\s,]+/).filter(Boolean);
const FORCE = process.env.KMODPRESS_TEST_DEB === '1';
const CHROOT = join(REPO, 'scripts/deb-chroot.sh');
/** what the fresh test chroot starts with (the key of its cached tarball) */
const TEST_CHROOT_PKGS = ['ca-certificates'];
/** Each suite's kernel that compresses its modules with xz (bookworm's default 6.1 does not: its 6.12 comes from
 * bookworm-security), and the sources line it needs besides the suite's main. */
const KERNEL: Record<string, {pkgs: string[]; sources?: string[]; dkmsFrom?: string}> = {
	trixie: {pkgs: ['linux-image-amd64', 'linux-headers-amd64']},
	sid: {pkgs: ['linux-image-amd64', 'linux-headers-amd64']},
	// bookworm's own v4l2loopback-dkms (0.12.7) does not build for 6.12; bookworm-backports has 0.13.2
	bookworm: {
		pkgs: ['linux-image-6.12-amd64', 'linux-headers-6.12-amd64'],
		sources: ['deb http://deb.debian.org/debian-security bookworm-security main', 'deb http://deb.debian.org/debian bookworm-backports main'],
		dkmsFrom: 'bookworm-backports',
	},
};

interface Ran {code: number | null; out: string; seconds: number}

function sh(cmd: string, args: string[], env: Record<string, string> = {}): Ran {
	const t = Date.now();
	const r = spawnSync(cmd, args, {encoding: 'utf8', env: {...process.env, ...env}, maxBuffer: 1 << 28});
	return {code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, seconds: (Date.now() - t) / 1000};
}

const tail = (s: string, n = 40) => s.split('\n').slice(-n).join('\n');

/** The .deb for SUITE (built when FORCE, else only if cached) and the test chroot tarball, or why not. */
function prepare(suite: string, out: string): {deb: string; tarball: string} | {skip: string} {
	const cachedOnly: Record<string, string> = FORCE ? {} : {DEB_CHROOT_CACHED_ONLY: '1'};
	const build = sh('bash', [join(REPO, 'scripts/build-deb.sh'), ...(FORCE ? [] : ['--cached']), suite, out]);
	if (build.code === 3 && !FORCE) return {skip: `no cached ${suite} .deb for this source tree (bash scripts/build-deb.sh ${suite}, or KMODPRESS_TEST_DEB=1)`};
	assert.is(build.code, 0, `build-deb.sh ${suite}:\n${tail(build.out)}`);
	const tar = sh('bash', [CHROOT, 'tarball', suite, ...TEST_CHROOT_PKGS], cachedOnly);
	if (tar.code === 3 && !FORCE) return {skip: `no cached fresh ${suite} chroot (KMODPRESS_TEST_DEB=1 makes one)`};
	assert.is(tar.code, 0, tar.out);
	const deb = readdirSync(out).find((f) => /^kmodpress_.*\.deb$/.test(f));
	assert.ok(deb, `build-deb.sh left no .deb in ${out}`);
	return {deb: join(out, deb), tarball: tar.out.trim().split('\n').pop() ?? ''};
}

const work = mkdtempSync(join(CACHE, 'deb-test-'));
const plans = SUITES.map((suite) => {
	const out = join(work, `${suite}-out`);
	mkdirSync(out, {recursive: true});
	return {suite, out, ...prepare(suite, out)};
});

for (const plan of plans) {
	const {suite} = plan;
	if ('skip' in plan) {
		test(`deb ${suite}: skipped`, () => {
			console.log(`deb ${suite}: skipped: ${plan.skip}`);
		});
		continue;
	}
	const root = join(work, `${suite}-root`);
	const archives = join(CACHE, 'deb', `apt-archives-${suite}`);
	let kv = '';
	let version = '';

	/** ARGV inside the chroot (its /proc, /sys, /dev mounted for the call). */
	const inChroot = (...argv: string[]): Ran => sh('bash', [CHROOT, 'run', root, ...argv]);
	const ok = (...argv: string[]): string => {
		const r = inChroot(...argv);
		assert.is(r.code, 0, `${argv.join(' ')} (exit ${r.code}):\n${tail(r.out)}`);
		return r.out;
	};
	/** Those of PATHS that exist in the chroot (files, directories, dangling links), in one call. */
	const existing = (paths: string[]): string[] =>
		ok('sh', '-c', 'for p; do if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi; done', 'sh', ...paths).split('\n').filter(Boolean);
	const apt = (...args: string[]) => ok('apt-get', '-y', '-o', 'Dpkg::Use-Pty=0', ...args);

	test(`deb ${suite}: apt-get installs the .deb into a fresh ${suite} chroot`, () => {
		let r = sh('bash', [CHROOT, 'unpack', plan.tarball, root]);
		assert.is(r.code, 0, r.out);
		// downloaded .debs are kept between runs (a cache of Debian's archive, nothing of kmodpress)
		mkdirSync(archives, {recursive: true});
		r = sh('mount', ['--bind', archives, join(root, 'var/cache/apt/archives')]);
		assert.is(r.code, 0, r.out);
		writeFileSync(join(root, 'etc/apt/apt.conf.d/00keep-debs'), 'Binary::apt::APT::Keep-Downloaded-Packages "true";\n');
		const extra = KERNEL[suite]?.sources;
		if (extra) writeFileSync(join(root, 'etc/apt/sources.list.d/kernel.list'), `${extra.join('\n')}\n`);
		mkdirSync(join(root, 'root/debs'));
		copyFileSync(plan.deb, join(root, 'root/debs', plan.deb.split('/').pop() ?? ''));
		apt('update');
		const out = apt('install', `/root/debs/${plan.deb.split('/').pop()}`);
		assert.match(out, /Setting up kmodpress /);
		version = ok('dpkg-query', '-W', '-f=${Version}', 'kmodpress').trim();
	});

	test(`deb ${suite}: every file where its caller looks, conffiles, Depends, no dev dependencies`, () => {
		const listed = new Set(ok('dpkg', '-L', 'kmodpress').split('\n').filter(Boolean));
		const pkg = packageFiles();
		for (const f of pkg.files) assert.ok(listed.has(f), `${f} (debian/'s install list) is not in the .deb`);
		for (const [link, target] of pkg.links) assert.is(ok('readlink', '-f', link).trim(), target);
		for (const hook of ['dkms/post-install', 'dkms/post-transaction', 'postinst.d/kmodpress', 'kernel-install/50-kmodpress.install']) {
			ok('test', '-x', `/usr/lib/kmodpress/hooks/${hook}`);
		}
		ok('test', '-x', '/etc/kernel/postinst.d/dkms-kmodpress');
		ok('test', '-x', '/usr/bin/kmodpress');
		const conffiles = ok('dpkg-query', '-W', '-f=${Conffiles}', 'kmodpress');
		for (const c of ['/etc/kmodpress/config.yaml', '/etc/apt/apt.conf.d/99kmodpress-dkms', '/etc/kernel/postinst.d/dkms-kmodpress', '/etc/dkms/framework.conf.d/kmodpress.conf']) {
			assert.match(conffiles, c, `${c} is not a conffile`);
		}
		const depends = ok('dpkg-query', '-W', '-f=${Depends}', 'kmodpress');
		for (const d of [/\bnodejs \(>= /, /\blibnode\d+\b/, /\bliblzma5\b/, /\bkmod\b/, /\bxz-utils\b/]) assert.match(depends, d);
		// only runtime node_modules; the addons are there
		const modules = ok('ls', '/usr/lib/kmodpress/node_modules').split('\n');
		for (const dev of ['typescript', 'tsx', 'uvu', 'dependency-cruiser', 'esbuild']) assert.not.ok(modules.includes(dev), `${dev} is installed`);
		for (const dep of ['execa', 'lzma-native', 'yaml', 'zstd-napi']) assert.ok(modules.includes(dep), `${dep} is missing`);
		assert.not.ok([...listed].some((f) => /\/usr\/lib\/kmodpress\/(test|bench|src)\//.test(f)), 'tests or sources are installed');
		assert.ok([...listed].includes('/usr/lib/kmodpress/build/xz-decode.node'));
	});

	test(`deb ${suite}: kmodpress runs on ${suite}'s nodejs, with its addons; man page and completion`, () => {
		assert.match(ok('kmodpress', '--version'), /^kmodpress \d+\.\d+\.\d+/m);
		// every addon loads into this suite's node (a wrong ABI would throw here, not later)
		ok('node', '-e', `for (const f of ['/usr/lib/kmodpress/build/xz-decode.node', '/usr/lib/kmodpress/build/xz-encode.node']) require(f);
			const r = require('module').createRequire('/usr/lib/kmodpress/dist/cli.js'); r('lzma-native'); r('zstd-napi');`);
		// the man page as the .deb ships it (the test chroot leaves out /usr/share/man, as minimal images do)
		const x = join(work, `${suite}-man`);
		let r = sh('dpkg-deb', ['-x', plan.deb, x]);
		assert.is(r.code, 0, r.out);
		r = sh('man', ['--warnings', '-l', join(x, 'usr/share/man/man8/kmodpress.8.gz')], {MANWIDTH: '100', LC_ALL: 'C.UTF-8'});
		assert.is(r.code, 0, r.out);
		for (const section of ['EXIT STATUS', 'CONFIGURATION', 'lockTimeoutSeconds', 'E_CONFIG_INVALID', '/etc/kernel/postinst.d/dkms-kmodpress']) assert.match(r.out, section);
		assert.not.match(r.out, /warning/i);
		assert.match(ok('bash', '-c', '. /usr/share/bash-completion/completions/kmodpress && complete -p kmodpress'), /-F _kmodpress kmodpress/);
	});

	test(`deb ${suite}: the suite's kernel and headers; kmodpress explain`, () => {
		const kernel = KERNEL[suite];
		assert.ok(kernel, `no kernel packages known for ${suite}`);
		const out = apt('install', '--no-install-recommends', ...kernel.pkgs);
		// the kernel hook ran from /etc/kernel/postinst.d (no out-of-tree modules yet)
		assert.match(out, /kmodpress: postinst\.d/);
		// the kernel whose modules are installed (a headers-only directory may sit beside it: bookworm pulls in 6.1's)
		const kernels = ok('sh', '-c', 'for d in /lib/modules/*/kernel; do [ -d "$d" ] && basename "${d%/kernel}"; done; exit 0').split('\n').filter(Boolean);
		assert.is(kernels.length, 1, kernels.join(' '));
		kv = kernels[0] ?? '';
		const explain = ok('kmodpress', 'explain', '--kernel', kv);
		assert.match(explain, /xz/);
		assert.match(explain, /crc32/i);
	});

	test(`deb ${suite}: apt-get install v4l2loopback-dkms gives a CRC32 .ko.xz, nothing else done`, () => {
		const from = KERNEL[suite]?.dkmsFrom;
		const out = apt('install', '--no-install-recommends', ...(from ? ['-t', from] : []), 'v4l2loopback-dkms');
		// dkms >= 3.2 (trixie, sid) runs the hook itself, as framework.conf.d/kmodpress.conf's post_transaction (its
		// output goes to DKMS's log), and APT's Post-Invoke then finds nothing left to do; dkms 3.0 has no
		// post_transaction, so APT's run does the work
		const dkmsVersion = ok('dpkg-query', '-W', '-f=${Version}', 'dkms');
		const dkmsLog = dkmsVersion.startsWith('3.0.') ? '' : ok('cat', '/var/lib/dkms/post_transaction.log');
		assert.match(dkmsVersion.startsWith('3.0.') ? out : dkmsLog, /kmodpress: DKMS post-transaction OK/, tail(`${out}\n${dkmsLog}`, 60));
		assert.match(out, /kmodpress: DKMS post-transaction/, 'APT did not run the hook');
		assert.not.match(`${out}\n${dkmsLog}`, /kmodpress: DKMS post-(transaction|install) FAILED/);
		const found = ok('find', `/lib/modules/${kv}`, '-name', 'v4l2loopback.ko*').split('\n').filter(Boolean);
		assert.is(found.length, 1, found.join(' '));
		const ko = found[0] ?? '';
		assert.match(ko, /\/updates\/dkms\/v4l2loopback\.ko\.xz$/);
		const list = ok('xz', '-lvv', ko);
		assert.match(list, /^\s+Check:\s+CRC32$/m, list);
		// DKMS's own copy has the same bytes (dkms status stays clean), modules.dep lists it, kmodpress verify agrees
		const copy = ok('sh', '-c', 'ls /var/lib/dkms/v4l2loopback/*/"$1"/*/module/v4l2loopback.ko*', 'sh', kv).trim();
		ok('cmp', ko, copy);
		assert.not.match(ok('dkms', 'status'), /WARNING/);
		assert.match(ok('cat', `/lib/modules/${kv}/modules.dep`), /^updates\/dkms\/v4l2loopback\.ko\.xz:/m);
		ok('kmodpress', 'verify', '--kernel', kv, ko);
	});

	test(`deb ${suite}: an upgrade keeps a changed /etc/kmodpress config`, () => {
		const conf = join(root, 'etc/kmodpress/config.yaml');
		const changed = `${readFileSync(conf, 'utf8')}threads: 2\n`;
		writeFileSync(conf, changed);
		// the same package as the next version (dpkg-deb: control's Version only)
		const x = join(work, `${suite}-upgrade`);
		let r = sh('dpkg-deb', ['-R', plan.deb, x]);
		assert.is(r.code, 0, r.out);
		const control = readFileSync(join(x, 'DEBIAN/control'), 'utf8');
		writeFileSync(join(x, 'DEBIAN/control'), control.replace(/^Version: (.*)$/m, 'Version: $1+upgrade1'));
		r = sh('dpkg-deb', ['-b', x, join(root, 'root/debs/kmodpress-upgrade.deb')]);
		assert.is(r.code, 0, r.out);
		const out = apt('install', '/root/debs/kmodpress-upgrade.deb');
		assert.match(out, /Unpacking kmodpress .* over /);
		assert.is(ok('dpkg-query', '-W', '-f=${Version}', 'kmodpress').trim(), `${version}+upgrade1`);
		assert.is(readFileSync(conf, 'utf8'), changed);
		// and kmodpress reads that file: a bad key in it is refused, naming it
		writeFileSync(conf, `${changed}bogus: 1\n`);
		const bad = inChroot('kmodpress', 'compress', '--dry-run', '--kernel', kv);
		writeFileSync(conf, changed);
		assert.is(bad.code, 2, bad.out);
		assert.match(bad.out, /E_CONFIG_INVALID: \/etc\/kmodpress\/config\.yaml: unknown key "bogus"/);
		ok('kmodpress', 'compress', '--dry-run', '--kernel', kv);
	});

	test(`deb ${suite}: apt-get purge kmodpress leaves nothing of it; the module stays as it was`, () => {
		const ko = `/lib/modules/${kv}/updates/dkms/v4l2loopback.ko.xz`;
		const before = ok('sha256sum', ko);
		// a lock as kmodpress leaves it after a run, and the APT hook's state
		ok('test', '-e', `/lib/modules/${kv}/.kmodpress.lock`);
		ok('test', '-d', '/var/lib/kmodpress/dkms');
		apt('purge', 'kmodpress');
		assert.is(inChroot('dpkg-query', '-W', '-f=${Status}', 'kmodpress').out.includes('installed'), false);
		const gone = [...packageFiles().files, '/usr/lib/kmodpress', '/etc/kmodpress', '/var/lib/kmodpress', `/lib/modules/${kv}/.kmodpress.lock`];
		assert.equal(existing(gone), [], 'left after purge');
		const left = ok('find', '/', '-xdev', '(', '-path', '/root/debs', '-o', '-path', '/proc', ')', '-prune', '-o', '-iname', '*kmodpress*', '-print').trim();
		assert.is(left, '', `left after purge:\n${left}`);
		// the module kmodpress fixed stays, CRC32, listed; APT still works without the hook
		assert.is(ok('sha256sum', ko), before);
		assert.match(ok('xz', '-lvv', ko), /^\s+Check:\s+CRC32$/m);
		assert.match(ok('cat', `/lib/modules/${kv}/modules.dep`), /^updates\/dkms\/v4l2loopback\.ko\.xz:/m);
		assert.not.match(apt('install', '--no-install-recommends', 'xz-utils'), /kmodpress/);
	});
}

test('deb: clean up', () => {
	for (const plan of plans) sh('bash', [CHROOT, 'remove', join(work, `${plan.suite}-root`)]);
	rmSync(work, {recursive: true, force: true});
});

test.run();
