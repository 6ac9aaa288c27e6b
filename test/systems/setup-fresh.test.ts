// The README's first command on a fresh Debian 12: `bash scripts/setup.sh && npm run example`, as root, in a bookworm
// chroot made by mmdebstrap (--variant=minbase: no compiler, no Node, no npm, no bzip2, no python3), from a copy of this
// checkout (the files git knows, committed or not; no node_modules, build or dist). setup.sh must install Debian's own
// nodejs and npm and every build tool npm ci needs, build kmodpress, and the example must compress the module, run
// depmod, and boot Debian's 6.12 kernel under QEMU (TCG; the chroot shares the host's /dev, /proc and /sys) to load it.
//
// Network: only Debian's archive and the npm registry. The chroot's /etc/hosts sends github.com (prebuild-install's
// prebuilt binaries) and nodejs.org (node-gyp's header download) nowhere, so the native addons must build from source
// against Debian's own headers, as they would on a machine without those hosts.
// Cheap as it can be while staying fresh: the minbase tarball is made once and cached under
// $KMODPRESS_CACHE/systems/ (keyed by the mmdebstrap arguments), the .deb files APT downloads and npm's cache are kept
// there too (bind-mounted into the chroot), so a rerun downloads nothing but still installs and builds everything.
// Every mount lives in a private mount namespace (unshare -m) and goes with it.
import {createHash} from 'node:crypto';
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {CACHE, DEBIAN_KV} from '../helpers/paths.js';
import {REPO, run, show, type Ran} from '../integrations/helpers.js';

const SUITE = 'bookworm';
const SOURCES = [
	'deb http://deb.debian.org/debian bookworm main',
	'deb http://deb.debian.org/debian bookworm-updates main',
	'deb http://deb.debian.org/debian-security bookworm-security main',
];
const MMDEBSTRAP = ['--variant=minbase', '--format=tar', SUITE];
const KEY = createHash('sha256').update(JSON.stringify([MMDEBSTRAP, SOURCES])).digest('hex').slice(0, 12);
const DIR = join(CACHE, 'systems');
const TARBALL = join(DIR, `${SUITE}-minbase-${KEY}.tar`);
const APT_ARCHIVES = join(DIR, `${SUITE}-apt-archives`);
const NPM_CACHE = join(DIR, `${SUITE}-npm-cache`);
const BLOCKED = ['github.com', 'api.github.com', 'codeload.github.com', 'objects.githubusercontent.com', 'nodejs.org'];
let root = '';
const timings: string[] = [];

function timed(what: string, r: Ran): Ran {
	timings.push(`${what}: ${r.seconds.toFixed(0)} s`);
	console.log(`  ${what}: exit ${r.code} in ${r.seconds.toFixed(1)} s`);
	return r;
}

/** bash -c SCRIPT as root in the chroot, with /proc, /dev, /sys and the caches mounted in a private namespace. */
function inChroot(script: string): Ran {
	const outer = `set -e
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount --rbind /sys "$R/sys"
mkdir -p "$R/var/cache/apt/archives" "$R/root/.npm"
mount --bind "$APT_ARCHIVES" "$R/var/cache/apt/archives"
mount --bind "$NPM_CACHE" "$R/root/.npm"
exec chroot "$R" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
	\${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=/etc/kmodpress-test-ca.crt} /bin/bash -c "$1"`;
	return run('/usr/bin/unshare', ['-m', '/bin/bash', '-c', outer, 'chroot', script], {env: {R: root, APT_ARCHIVES, NPM_CACHE}});
}

test.before(() => {
	mkdirSync(join(APT_ARCHIVES, 'partial'), {recursive: true});
	mkdirSync(NPM_CACHE, {recursive: true});
	if (!existsSync(TARBALL)) {
		const tmp = `${TARBALL}.${process.pid}.tmp`;
		const r = timed(`mmdebstrap ${MMDEBSTRAP.join(' ')} (once; cached as ${TARBALL})`, run('/usr/bin/mmdebstrap', ['-q', ...MMDEBSTRAP, tmp, ...SOURCES]));
		assert.is(r.code, 0, show(r));
		renameSync(tmp, TARBALL);
	}
	root = mkdtempSync('/var/tmp/kmodpress-fresh-');
	const t = Date.now();
	execFileSync('/bin/tar', ['-xf', TARBALL, '-C', root]);
	// The host's extra CA certificates (a TLS-inspecting egress proxy on the test machines): npm in the chroot gets
	// them the way node on the host does, through NODE_EXTRA_CA_CERTS (inChroot)
	if (process.env.NODE_EXTRA_CA_CERTS) writeFileSync(join(root, 'etc/kmodpress-test-ca.crt'), readFileSync(process.env.NODE_EXTRA_CA_CERTS));
	// DNS as the host has it; the hosts the test must not reach, nowhere
	writeFileSync(join(root, 'etc/resolv.conf'), readFileSync('/etc/resolv.conf'));
	// (minbase has no /etc/hosts: netbase is not in it)
	writeFileSync(join(root, 'etc/hosts'), `127.0.0.1 localhost\n::1 localhost\n0.0.0.0 ${BLOCKED.join(' ')}\n`);
	// the checkout as git sees it (tracked and untracked-but-not-ignored files, as they are on disk)
	const files = execFileSync('/usr/bin/git', ['-C', REPO, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], {encoding: 'utf8'}).split('\0').filter((f) => f && existsSync(join(REPO, f)));
	mkdirSync(join(root, 'root/kmodpress'), {recursive: true});
	execFileSync('/bin/tar', ['-C', REPO, '--null', '-T', '-', '-cf', join(root, 'root/kmodpress.tar')], {input: files.join('\0')});
	execFileSync('/bin/tar', ['-C', join(root, 'root/kmodpress'), '-xf', join(root, 'root/kmodpress.tar')]);
	rmSync(join(root, 'root/kmodpress.tar'));
	timings.push(`unpack chroot + copy checkout: ${((Date.now() - t) / 1000).toFixed(0)} s`);
});

test.after(() => {
	console.log(`  timings: ${timings.join('; ')}`);
	if (root) rmSync(root, {recursive: true, force: true});
});

test('the chroot is fresh: no node, npm, g++, make, bzip2 or python3; no kernel', () => {
	const r = inChroot('for t in node npm g++ make bzip2 python3; do command -v $t && exit 1; done; ls /lib/modules 2>/dev/null | grep . && exit 1; exit 0');
	assert.is(r.code, 0, show(r));
});

test('bash scripts/setup.sh: Debian\'s own nodejs and npm, the build tools, npm ci (addons from source), the build', () => {
	const r = timed('bash scripts/setup.sh', inChroot('cd /root/kmodpress && bash scripts/setup.sh'));
	assert.is(r.code, 0, show(r));
	assert.match(r.stdout, /^setup: installing .*\bnodejs\b.*\bnpm\b/m, r.stdout);
	assert.match(r.stdout, /^setup: done$/m, r.stdout);
	const v = inChroot('dpkg-query -W -f "\\${Version}" nodejs; echo; node -p process.version; ls -l /root/kmodpress/dist/cli.js; ls /root/kmodpress/build');
	assert.is(v.code, 0, show(v));
	assert.match(v.stdout, /^18\.\d+\.\d+\+dfsg-\S+\nv18\.\d+\.\d+\n-rwxr-xr-x .* \/root\/kmodpress\/dist\/cli\.js\n/, v.stdout);
	assert.match(v.stdout, /xz-decode\.node\nxz-encode\.node/, v.stdout);
	// zstd-napi was compiled here (prebuild-install could not reach GitHub), for this Node's Node-API
	const z = inChroot('grep napi_build_version /root/kmodpress/node_modules/zstd-napi/build/config.gypi');
	assert.match(z.stdout, /"napi_build_version": "9"/, show(z));
});

test('npm run example: compress, depmod, verify and boot the kernel; a second run changes nothing; the bin runs', () => {
	const r = timed('npm run example', inChroot('cd /root/kmodpress && npm run example'));
	assert.is(r.code, 0, show(r));
	assert.match(r.stdout, /^compressed +extra\/kmodpress_hello\.ko → extra\/kmodpress_hello\.ko\.xz/m, r.stdout);
	assert.match(r.stdout, /^changed 0, unchanged 1, failed 0 — nothing to do$/m, r.stdout);
	assert.match(r.stdout, /^booted: loaded +\S*kmodpress_hello\.ko\.xz/m, r.stdout);
	assert.match(r.stdout, /^extra\/kmodpress_hello\.ko\.xz:/m, r.stdout);
	const b = inChroot(`/root/kmodpress/dist/cli.js explain --kernel ${DEBIAN_KV}`);
	assert.is(b.code, 0, show(b));
	assert.match(b.stdout, /^compress +yes, xz$/m, b.stdout);
});

test.run();
