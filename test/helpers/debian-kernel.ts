// A Debian kernel straight from the archive, unpacked as dpkg would install it: the suite's Packages index names the
// newest linux-image-<KV> (matching `image`), and its kernel packages are fetched, checked against the index's
// SHA256 and unpacked with `dpkg-deb -x` into one tree, cached under $KMODPRESS_CACHE/debian-kernel/<suite>-<KV>-<version>/:
//   sid (Linux 7.x): linux-image-KV (meta) → linux-binary-KV (usr/lib/modules/KV/vmlinuz), linux-modules-KV,
//                    linux-base-KV (usr/lib/modules/KV/config); linux-headers-KV → -common, linux-kbuild-X (scripts)
//   bookworm (6.1):  linux-image-KV (boot/vmlinuz-KV, boot/config-KV, lib/modules/KV)
// Merged /usr as a Debian system has it (lib -> usr/lib, bin -> usr/bin, sbin -> usr/sbin; bookworm's 6.1 package's
// lib/modules lands in usr/lib/modules as dpkg puts it there), and depmod run as the
// package's postinst runs it (linux-base's `linux-update-symlinks`/kernel postinst: `depmod -a -F System.map KV`).
// A test gets its own copy: `cp -al` of the cached tree (hard links: kmodpress replaces files by rename, never in place).
import {execFileSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, openSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {CACHE} from './paths.js';

const MIRROR = 'http://deb.debian.org/debian';

export interface DebianKernel {
	suite: string;
	/** the kernel release, e.g. 7.2.13+deb14-amd64 */
	kv: string;
	/** linux-image-KV's Version, e.g. 7.2.13-1 */
	version: string;
	/** the packages unpacked, name=version */
	packages: string[];
	/** the cached, unpacked tree (read only: tests work on a copy from `copyRoot`) */
	root: string;
	/** seconds spent fetching and unpacking (0 when cached) */
	fetchSeconds: number;
}

interface Stanza {Package: string; Version: string; Filename: string; SHA256: string; Depends?: string}

function parsePackages(text: string): Map<string, Stanza> {
	const out = new Map<string, Stanza>();
	for (const block of text.split('\n\n')) {
		const f: Record<string, string> = {};
		for (const line of block.split('\n')) {
			const m = /^([A-Za-z0-9-]+): (.*)$/.exec(line);
			if (m) f[m[1]!] = m[2]!;
		}
		if (f.Package && f.Filename && f.SHA256 && f.Version) out.set(f.Package, f as unknown as Stanza);
	}
	return out;
}

function curl(url: string, file: string): void {
	execFileSync('/usr/bin/curl', ['-fsSL', '--retry', '3', '-o', file, url], {stdio: ['ignore', 'ignore', 'pipe']});
}

/** The suite's main/binary-amd64 index: fetched fresh (kernels come and go in sid), the cached one when offline. */
function packagesIndex(suite: string): Map<string, Stanza> {
	const dir = join(CACHE, 'debian-kernel');
	mkdirSync(dir, {recursive: true});
	const file = join(dir, `${suite}-Packages.xz`);
	try {
		curl(`${MIRROR}/dists/${suite}/main/binary-amd64/Packages.xz`, `${file}.tmp`);
		renameSync(`${file}.tmp`, file);
	} catch (e) {
		if (!existsSync(file)) throw e;
	}
	return parsePackages(execFileSync('/usr/bin/xz', ['-dc', file], {maxBuffer: 1 << 30}).toString('utf8'));
}

function newer(a: string, b: string): boolean {
	try {
		execFileSync('/usr/bin/dpkg', ['--compare-versions', a, 'gt', b]);
		return true;
	} catch {
		return false;
	}
}

/** The kernel packages one kernel install brings: linux-image-KV and linux-headers-KV with their linux-* dependencies. */
function kernelPackages(index: Map<string, Stanza>, kv: string): Stanza[] {
	const seen = new Map<string, Stanza>();
	const queue = [`linux-image-${kv}`, `linux-headers-${kv}`];
	while (queue.length > 0) {
		const name = queue.shift()!;
		const s = index.get(name);
		if (!s || seen.has(name)) continue;
		seen.set(name, s);
		for (const alt of (s.Depends ?? '').split(',')) {
			const dep = alt.trim().split(/[\s|(]/)[0]!;
			if (/^linux-(image|binary|modules|base|headers|kbuild)-\d/.test(dep)) queue.push(dep);
		}
	}
	return [...seen.values()];
}

export function debianKernel(opts: {suite: string; image: RegExp}): DebianKernel {
	const started = Date.now();
	const index = packagesIndex(opts.suite);
	let best: Stanza | undefined;
	for (const [name, s] of index) if (opts.image.test(name) && (!best || newer(s.Version, best.Version))) best = s;
	if (!best) throw new Error(`no package matching ${opts.image} in ${opts.suite}`);
	const kv = best.Package.slice('linux-image-'.length);
	const pkgs = kernelPackages(index, kv);
	// the key: the packages' versions and the layout (m1: merged /usr)
	const dir = join(CACHE, 'debian-kernel', `${opts.suite}-${kv}-${best.Version}-m1`);
	const root = join(dir, 'root');
	const result = {suite: opts.suite, kv, version: best.Version, packages: pkgs.map((p) => `${p.Package}=${p.Version}`).sort(), root};
	if (existsSync(join(dir, 'done'))) return {...result, fetchSeconds: 0};

	const debs = join(CACHE, 'debian-kernel', 'debs');
	mkdirSync(debs, {recursive: true});
	const tmpRoot = `${root}.tmp`;
	rmSync(tmpRoot, {recursive: true, force: true});
	mkdirSync(tmpRoot, {recursive: true});
	// merged /usr, as on every Debian since bookworm (usrmerge): lib, bin and sbin are links into usr/
	for (const d of ['lib', 'bin', 'sbin']) {
		mkdirSync(join(tmpRoot, 'usr', d), {recursive: true});
		symlinkSync(`usr/${d}`, join(tmpRoot, d));
	}
	for (const p of pkgs) {
		const deb = join(debs, p.Filename.slice(p.Filename.lastIndexOf('/') + 1));
		const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
		if (!existsSync(deb) || sha(deb) !== p.SHA256) {
			curl(`${MIRROR}/${p.Filename}`, `${deb}.tmp`);
			if (sha(`${deb}.tmp`) !== p.SHA256) throw new Error(`${p.Filename}: SHA256 differs from the ${opts.suite} index`);
			renameSync(`${deb}.tmp`, deb);
		}
		// as dpkg unpacks into a merged-/usr system: a package's lib/modules goes through the lib -> usr/lib link
		const tar = `${tmpRoot}.tar`;
		execFileSync('/usr/bin/dpkg-deb', ['--fsys-tarfile', deb], {stdio: ['ignore', openSync(tar, 'w'), 'pipe']});
		execFileSync('/usr/bin/tar', ['-x', '--keep-directory-symlink', '-f', tar, '-C', tmpRoot]);
		rmSync(tar);
	}
	// what the kernel package's postinst does (linux-base-KV / linux-image-KV postinst: depmod KV)
	execFileSync('/sbin/depmod', ['-b', tmpRoot, kv]);
	rmSync(root, {recursive: true, force: true});
	renameSync(tmpRoot, root);
	writeFileSync(join(dir, 'done'), `${result.packages.join('\n')}\n`);
	return {...result, fetchSeconds: (Date.now() - started) / 1000};
}

/** A private copy of a cached Debian kernel tree (hard links), removed by the returned cleanup. */
export function copyRoot(k: DebianKernel): {root: string; cleanup(): void} {
	const root = join(mkdtempSync(join(tmpdir(), 'kmodpress-debian-')), 'root');
	execFileSync('/bin/cp', ['-al', k.root, root]);
	return {root, cleanup: () => rmSync(join(root, '..'), {recursive: true, force: true})};
}
