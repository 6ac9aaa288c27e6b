// Every path the documentation, the example's dkms.conf, the man page and the installed configuration snippets tell a
// user about is one the Debian package really installs (debian/kmodpress.install, .links, .manpages), or is on the
// short list below of paths that the user or kmodpress itself creates. Fast: reads debian/ only; deb.test.ts checks
// the same list against the built .deb.
import {readdirSync, readFileSync, statSync} from 'node:fs';
import {join, relative} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {isInstalled, kmodpressPaths, packageFiles, REPO} from './deb-files.js';

/** Paths the documentation names that no package installs, each with why. */
const NOT_PACKAGED: Array<[RegExp, string]> = [
	[/^\/etc\/kmodpress\/config\.(json|yml)$/, 'the configuration file names a user may use instead of the shipped config.yaml'],
	[/^\/var\/lib\/kmodpress(\/|$)/, 'state the APT hook records at run time (removed on purge)'],
	[/^\/var\/cache\/kmodpress-test(\/|$)/, "the tests' cache, not part of the package"],
	[/^\/var\/cache\/kmodpress\/verify(\/|$)/, "verify's cache, written at run time (removed on purge)"],
	[/^\/(usr\/)?lib\/modules\/[^/]+\/(extra|updates)\//, 'modules of the example, installed by its own build'],
	[/^\/(usr\/)?lib\/modules\/[^/]+\/\.kmodpress\.lock$/, 'the per-kernel lock kmodpress creates (removed with the package)'],
	[/^\/usr\/src\/kmodpress-/, "the example's DKMS source tree (dkms add)"],
];

function texts(): Array<[string, string]> {
	const files: string[] = [];
	const walk = (d: string): void => {
		for (const n of readdirSync(d)) {
			const p = join(d, n);
			if (statSync(p).isDirectory()) walk(p);
			else files.push(p);
		}
	};
	walk(join(REPO, 'docs'));
	walk(join(REPO, 'etc'));
	walk(join(REPO, 'hooks/apt'));
	for (const ex of readdirSync(join(REPO, 'examples'))) {
		const conf = join(REPO, 'examples', ex, 'dkms.conf');
		try {
			statSync(conf);
			files.push(conf);
		} catch {
			// an example without DKMS packaging
		}
	}
	files.push(join(REPO, 'man/kmodpress.8'), join(REPO, 'README.md'));
	return files.map((f) => [relative(REPO, f), readFileSync(f, 'utf8')]);
}

/** "file: path" for each path mentioned in TEXTS that the package does not install and nobody else creates. */
function unpackaged(all: Array<[string, string]>): string[] {
	const pkg = packageFiles();
	const bad: string[] = [];
	for (const [file, text] of all) {
		for (const p of kmodpressPaths(text)) {
			if (isInstalled(pkg, p) || NOT_PACKAGED.some(([re]) => re.test(p))) continue;
			bad.push(`${file}: ${p}`);
		}
	}
	return bad;
}

test('package: every install source exists in the repository', () => {
	assert.equal(packageFiles().missingSources, []);
});

test('package: the hooks, the executable, the man page, completion and configuration are installed where their callers look', () => {
	const pkg = packageFiles();
	for (const p of [
		'/usr/bin/kmodpress',
		'/usr/lib/kmodpress/dist/cli.js',
		'/usr/lib/kmodpress/hooks/dkms/post-install',
		'/usr/lib/kmodpress/hooks/dkms/post-transaction',
		'/usr/lib/kmodpress/hooks/lib/kernel-hook.sh',
		'/usr/lib/kmodpress/hooks/postinst.d/kmodpress',
		'/usr/lib/kmodpress/hooks/portage/bashrc',
		'/etc/apt/apt.conf.d/99kmodpress-dkms',
		'/etc/kernel/postinst.d/dkms-kmodpress',
		'/usr/lib/kernel/install.d/50-kmodpress.install',
		'/etc/kmodpress/config.yaml',
		'/usr/share/man/man8/kmodpress.8.gz',
		'/usr/share/bash-completion/completions/kmodpress',
	]) assert.ok(isInstalled(pkg, p), `${p} is not in debian/'s install list`);
	assert.is(pkg.links.get('/usr/lib/kernel/install.d/50-kmodpress.install'), '/usr/lib/kmodpress/hooks/kernel-install/50-kmodpress.install');
	for (const [link, target] of pkg.links) assert.ok(pkg.files.has(target), `${link} points at ${target}, which is not installed`);
	// no tests, benches or sources of the program
	for (const f of pkg.files) assert.not.match(f, /^\/usr\/lib\/kmodpress\/(test|bench|src|scripts)\//);
});

test('package: every kmodpress path in docs/, examples/*/dkms.conf, the man page, README and etc/ is installed by the package', () => {
	const all = texts();
	const mentioned = all.flatMap(([, t]) => kmodpressPaths(t));
	// the scan sees the paths that matter (it would pass vacuously if it found nothing)
	for (const p of ['/usr/lib/kmodpress/hooks/dkms/post-install', '/etc/kernel/postinst.d/dkms-kmodpress', '/etc/apt/apt.conf.d/99kmodpress-dkms']) {
		assert.ok(mentioned.includes(p), `the scan did not find ${p}`);
	}
	assert.equal(unpackaged(all), []);
});

test('package: a documented path the package does not install is reported (the check can fail)', () => {
	const bad = unpackaged([['docs/x.md', 'POST_INSTALL="../../../usr/lib/kmodpress/hooks/dkms/post-instal ${kernelver}"; see /etc/kernel/postinst.d/kmodpress and /usr/lib/kmodpress/hooks/dkms/post-install.']]);
	assert.equal(bad, ['docs/x.md: /etc/kernel/postinst.d/kmodpress', 'docs/x.md: /usr/lib/kmodpress/hooks/dkms/post-instal']);
});

test.run();
