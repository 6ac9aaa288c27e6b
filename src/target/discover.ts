// Finding the target kernel and the files that describe it. The target is often not the running kernel: a package
// builds for the kernel it was told ($KV_FULL from an ebuild, $kernelver from DKMS), into a sysroot or a staging image.
//   <root>/lib/modules/<release>          the module tree (moduleDir)
//   <root>/lib/modules/<release>/build    the build dir: include/config/auto.conf, .config, Module.symvers, scripts/ (or
//                                         an O= tree whose `source` link holds scripts/ and the top Makefile)
//   <root>/lib/modules/<release>/source   the source dir on Debian (build/Makefile `include`s its Makefile)
//   <root>/boot/config-<release>, /proc/config.gz (running kernel only), /sys/module/compression (running kernel only)
// A staging image (a package's ${D}/${ED}, DKMS's or dpkg's build tree: a root with no kernel/ or modules.order of its
// own) is judged against the system it will be merged into, the target root (--target-root, $EROOT, $ROOT, /): its build
// dir, config, kernel image, installed modules and /etc/kmodpress stand in for what the image does not hold.
// The kernel release (`uname -r`, e.g. 6.12.115+deb12-amd64) is called `release` throughout; `version` is the
// [major, minor, patch] it starts with. Symlinks inside a sysroot are resolved inside it (an absolute link target is
// taken relative to the root).

import {closeSync, existsSync, lstatSync, openSync, readFileSync, readlinkSync, readdirSync, readSync, statSync} from 'node:fs';
import {release as osRelease} from 'node:os';
import {gunzipSync} from 'node:zlib';
import {isAbsolute, join, normalize, resolve, sep} from 'node:path';
import {KmodpressError} from '../errors.js';
import type {Sourced, XzFormat} from '../types.js';
import {type KernelConfig, parseKernelConfig} from './kernel-config.js';
import {MODULE_NAME_RE} from '../formats/table.js';
import {xzContainer} from '../formats/xz/container.js';
import {detectXz, type XzTool} from './xz-tool.js';

export interface KernelTarget {
	release: Sourced<string>;
	/** [major, minor, patch] from the release string or the top Makefile */
	version: Sourced<[number, number, number]> | undefined;
	/** absolute; "/" for the live system */
	root: string;
	/** <root>/lib/modules/<release> */
	moduleDir: string;
	/** true when the release is the running kernel's and root is "/" */
	running: boolean;
	/** true when root holds no kernel of its own (a package's staging image such as ${ED}): no depmod there */
	stagingImage: boolean;
	/** for a staging image: the root it will be merged into (absolute), whose kernel files and installed modules count */
	targetRoot: Sourced<string> | undefined;
	buildDir: Sourced<string> | undefined;
	/** where scripts/Makefile.modinst and the top Makefile were found */
	sourceDir: string | undefined;
}

export interface DiscoverOptions {
	/** the release asked for (--kernel) */
	kernel?: string;
	buildDir?: string;
	root?: string;
	/** --target-root: where a staging image will be merged (default $EROOT, then $ROOT, then /) */
	targetRoot?: string;
	env?: NodeJS.ProcessEnv;
	/** uname -r; injectable for tests */
	runningRelease?: string;
}

const RELEASE_RE = /^[A-Za-z0-9._+~-]+$/;

/** The release: --kernel, then $KV_FULL (ebuild), $kernelver (DKMS), then uname -r. */
export function resolveRelease(opts: DiscoverOptions): Sourced<string> {
	const env = opts.env ?? process.env;
	const candidates: [string | undefined, string][] = [
		[opts.kernel, '--kernel'],
		[env.KV_FULL, '$KV_FULL'],
		[env.kernelver, '$kernelver'],
		[opts.runningRelease ?? osRelease(), 'uname -r'],
	];
	for (const [value, from] of candidates) {
		if (value === undefined || value === '') continue;
		if (!RELEASE_RE.test(value) || value === '.' || value === '..') {
			throw new KmodpressError('E_USAGE', `${from} is "${value}", which is not a kernel release`, {
				fix: 'pass the release as `uname -r` prints it, e.g. --kernel 6.12.115+deb12-amd64',
			});
		}
		return {value, from};
	}
	throw new KmodpressError('E_USAGE', 'no kernel release given and uname -r is empty', {fix: 'pass --kernel KV'});
}

export function parseReleaseVersion(release: string): [number, number, number] | undefined {
	const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
	return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** Whether kernel version `v` is `a.b` or later. */
export function versionAtLeast(v: readonly [number, number, number], a: number, b: number): boolean {
	return v[0] > a || (v[0] === a && v[1] >= b);
}

/** Resolve `path` (absolute, inside root) following symlinks the way a chroot would. Returns the host path. */
export function resolveInRoot(root: string, path: string): string {
	if (root === '/') return path;
	const parts = normalize(path).split(sep).filter(Boolean);
	let current = '/';
	let hops = 0;
	while (parts.length > 0) {
		const part = parts.shift()!;
		if (part === '..') {
			current = resolve(current, '..');
			continue;
		}
		const next = join(current, part);
		let st;
		try {
			st = lstatSync(join(root, next));
		} catch {
			return join(root, next, ...parts);
		}
		if (st.isSymbolicLink()) {
			if (++hops > 40) return join(root, next, ...parts);
			const target = readlinkSync(join(root, next));
			parts.unshift(...normalize(isAbsolute(target) ? target : join(current, target)).split(sep).filter(Boolean));
			current = '/';
			continue;
		}
		current = next;
	}
	return join(root, current);
}

/** Where a staging image will be merged: --target-root, then $EROOT and $ROOT (Portage sets both for pkg_* phases;
 * PMS 11.1 "Defined variables"), then /. */
export function resolveTargetRoot(opts: Pick<DiscoverOptions, 'targetRoot' | 'env'>): Sourced<string> {
	const env = opts.env ?? process.env;
	const candidates: [string | undefined, string][] = [[opts.targetRoot, '--target-root'], [env.EROOT, '$EROOT'], [env.ROOT, '$ROOT']];
	for (const [value, from] of candidates) {
		if (value === undefined || value === '') continue;
		const dir = resolve(value);
		if (!isDir(dir)) {
			throw new KmodpressError('E_USAGE', `${from} is "${value}", which is not a directory`, {
				fix: 'pass the root the staging image will be merged into (/ for this system), e.g. --target-root /',
			});
		}
		return {value: dir, from};
	}
	return {value: '/', from: 'default (no --target-root, $EROOT or $ROOT)'};
}

function isDir(p: string): boolean {
	try {
		return statSync(p).isDirectory();
	} catch {
		return false;
	}
}

export function discoverKernel(opts: DiscoverOptions = {}): KernelTarget {
	const root = resolve(opts.root ?? '/');
	if (!isDir(root)) {
		throw new KmodpressError('E_USAGE', '--root is not a directory', {file: root, fix: 'pass an existing sysroot or staging image'});
	}
	const release = resolveRelease(opts);
	const running = root === '/' && release.value === (opts.runningRelease ?? osRelease());
	const moduleDir = resolveInRoot(root, `/lib/modules/${release.value}`);
	const hasOwnKernel = existsSync(join(moduleDir, 'kernel')) || existsSync(join(moduleDir, 'modules.order'));
	const stagingImage = root !== '/' && !hasOwnKernel;
	const targetRoot = stagingImage ? resolveTargetRoot(opts) : undefined;
	// the tree that describes the kernel: the root's own, or for a staging image the target root's
	const kernelRoot = targetRoot?.value ?? root;

	let buildDir: Sourced<string> | undefined;
	let buildRoot = root;
	if (opts.buildDir !== undefined) {
		const b = resolve(opts.buildDir);
		if (!isDir(b)) {
			throw new KmodpressError('E_KERNEL_BUILD_DIR', '--build-dir is not a directory', {
				file: b,
				fix: `pass the kernel's build tree (the one /lib/modules/${release.value}/build points to)`,
			});
		}
		buildDir = {value: b, from: '--build-dir'};
	} else {
		const inRoot = resolveInRoot(root, `/lib/modules/${release.value}/build`);
		if (isDir(inRoot)) buildDir = {value: inRoot, from: `${join(root, 'lib/modules', release.value, 'build')}`};
		else if (targetRoot && isDir(resolveInRoot(kernelRoot, `/lib/modules/${release.value}/build`))) {
			// A staging image carries no build tree: the target root's is the one the package was built against.
			buildDir = {value: resolveInRoot(kernelRoot, `/lib/modules/${release.value}/build`), from: `${join(kernelRoot, 'lib/modules', release.value, 'build')} (target root ${kernelRoot}; not in --root)`};
			buildRoot = kernelRoot;
		} else if (root !== '/' && isDir(`/lib/modules/${release.value}/build`)) {
			// A sysroot (or a target root) without a build tree: the host's of the same release, which the package was
			// built against.
			buildDir = {value: resolveInRoot('/', `/lib/modules/${release.value}/build`), from: `/lib/modules/${release.value}/build (host; not in --root)`};
			buildRoot = '/';
		}
	}
	const sourceDir = buildDir ? findSourceDir(buildRoot, buildDir.value, buildRoot === root ? moduleDir : resolveInRoot(buildRoot, `/lib/modules/${release.value}`)) : undefined;
	let version: Sourced<[number, number, number]> | undefined;
	const fromRelease = parseReleaseVersion(release.value);
	if (fromRelease) version = {value: fromRelease, from: `release ${release.value}`};
	else if (sourceDir && existsSync(join(sourceDir, 'Makefile'))) {
		const text = readFileSync(join(sourceDir, 'Makefile'), 'utf8');
		const get = (k: string): number | undefined => {
			const m = new RegExp(`^${k}\\s*=\\s*(\\d+)`, 'm').exec(text);
			return m ? Number(m[1]) : undefined;
		};
		const [a, b, c] = [get('VERSION'), get('PATCHLEVEL'), get('SUBLEVEL')];
		if (a !== undefined && b !== undefined) version = {value: [a, b, c ?? 0], from: `${join(sourceDir, 'Makefile')} VERSION/PATCHLEVEL`};
	}
	return {release, version, root, moduleDir, running, stagingImage, targetRoot, buildDir, sourceDir};
}

/** build/source, <moduleDir>/source, the file build/Makefile includes (Debian), or build itself. */
function findSourceDir(root: string, buildDir: string, moduleDir: string): string | undefined {
	const candidates: string[] = [];
	if (existsSync(join(buildDir, 'source'))) candidates.push(resolveLink(root, join(buildDir, 'source')));
	if (existsSync(join(moduleDir, 'source'))) candidates.push(resolveLink(root, join(moduleDir, 'source')));
	try {
		const m = /^include\s+(\S+)\/Makefile\s*$/m.exec(readFileSync(join(buildDir, 'Makefile'), 'utf8'));
		if (m) candidates.push(m[1]!.startsWith('/') ? resolveInRoot(root, m[1]!) : resolve(buildDir, m[1]!));
	} catch {
		// no Makefile in the build dir
	}
	candidates.push(buildDir);
	return candidates.find((c) => existsSync(join(c, 'scripts/Makefile.modinst')) || existsSync(join(c, 'Makefile'))) ?? undefined;
}

function resolveLink(root: string, hostPath: string): string {
	if (root === '/') return hostPath;
	try {
		const t = readlinkSync(hostPath);
		return isAbsolute(t) ? resolveInRoot(root, t) : resolve(hostPath, '..', t);
	} catch {
		return hostPath;
	}
}

// -------------------------------------------------------------------------------------------------------------
// Reading what describes the target (I/O edge; the policy itself is pure).

export interface KernelFiles {
	config: KernelConfig | undefined;
	/** every place looked at, in order, with what was found */
	configSearch: string[];
	modinst: {text: string; file: string} | undefined;
	topMakefile: {text: string; file: string} | undefined;
	/** /sys/module/compression, only for the running kernel */
	sysfsCompression: Sourced<string | undefined> | undefined;
	/** suffix counts of the in-tree modules (<moduleDir>/kernel) */
	inTree: {counts: Record<string, number>; from: string} | undefined;
	/** the container of one in-tree .ko.xz (a packaged kernel's modules show its packager's xz), when there is one */
	inTreeXzFormat: Sourced<XzFormat | 'other'> | undefined;
	/** the xz command that writes this target's modules (target/xz-tool.ts): its version decides the xz container */
	xz: XzTool;
}

export function readKernelFiles(target: KernelTarget, opts: {sysfsRoot?: string; procRoot?: string} = {}): KernelFiles {
	const release = target.release.value;
	const configSearch: string[] = [];
	let config: KernelConfig | undefined;
	const tryConfig = (path: string, label = path): boolean => {
		if (config) return true;
		try {
			const text = path.endsWith('.gz') ? gunzipSync(readFileSync(path)).toString('utf8') : readFileSync(path, 'utf8');
			config = parseKernelConfig(text, label);
			configSearch.push(`${label}: used`);
			return true;
		} catch (e) {
			configSearch.push(`${label}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
			return false;
		}
	};
	const b = target.buildDir?.value;
	if (b) {
		tryConfig(join(b, 'include/config/auto.conf'));
		tryConfig(join(b, '.config'));
	}
	tryConfig(resolveInRoot(target.root, `/boot/config-${release}`));
	if (target.targetRoot) tryConfig(resolveInRoot(target.targetRoot.value, `/boot/config-${release}`), `${join(target.targetRoot.value, 'boot', `config-${release}`)} (target root)`);
	if (target.running) tryConfig(join(opts.procRoot ?? '/proc', 'config.gz'));

	const read = (dir: string | undefined, rel: string): {text: string; file: string} | undefined => {
		if (!dir) return undefined;
		try {
			return {text: readFileSync(join(dir, rel), 'utf8'), file: join(dir, rel)};
		} catch {
			return undefined;
		}
	};
	const modinst = read(b, 'scripts/Makefile.modinst') ?? read(target.sourceDir, 'scripts/Makefile.modinst');
	const topMakefile = read(target.sourceDir, 'Makefile');

	let sysfsCompression: Sourced<string | undefined> | undefined;
	if (target.running) {
		const p = join(opts.sysfsRoot ?? '/sys', 'module/compression');
		try {
			sysfsCompression = {value: readFileSync(p, 'utf8').trim(), from: p};
		} catch (e) {
			const code = (e as NodeJS.ErrnoException).code;
			// Absent is not broken (libkmod's get_kernel_compression): no in-kernel decompression.
			sysfsCompression = {value: undefined, from: code === 'ENOENT' ? `${p} absent (no MODULE_DECOMPRESS in the running kernel)` : `${p}: ${code}`};
		}
	}

	let inTree: KernelFiles['inTree'];
	let firstXz: string | undefined;
	const kernelDirs = [join(target.moduleDir, 'kernel')];
	if (target.targetRoot) kernelDirs.push(join(targetModuleDir(target)!, 'kernel'));
	for (const dir of kernelDirs) {
		if (!isDir(dir)) continue;
		const counts: Record<string, number> = {};
		// modules.dep names every module of the tree in one read; walking 4000 files costs ten times more
		let listed: string[] | undefined;
		try {
			listed = readFileSync(join(dir, '..', 'modules.dep'), 'utf8').split('\n').map((l) => l.slice(0, l.indexOf(':'))).filter((p) => p.startsWith('kernel/'));
		} catch {
			listed = undefined;
		}
		if (listed && listed.length > 0) {
			for (const name of listed) {
				const m = MODULE_NAME_RE.exec(name);
				if (m) counts[`.ko${m[1] ?? ''}`] = (counts[`.ko${m[1] ?? ''}`] ?? 0) + 1;
				if (m?.[1] === '.xz') firstXz ??= join(dir, '..', name);
			}
			inTree = {counts, from: `${join(dir, '..', 'modules.dep')} (kernel/)`};
			break;
		}
		for (const name of readdirSync(dir, {recursive: true}) as string[]) {
			const m = MODULE_NAME_RE.exec(name);
			if (m) counts[`.ko${m[1] ?? ''}`] = (counts[`.ko${m[1] ?? ''}`] ?? 0) + 1;
			if (m?.[1] === '.xz') firstXz ??= join(dir, name);
		}
		inTree = {counts, from: dir};
		break;
	}
	const xz = detectXz({root: target.root, sysroot: target.root !== '/' && !target.stagingImage, resolve: (p) => resolveInRoot(target.root, p)});
	return {config, configSearch, modinst, topMakefile, sysfsCompression, inTree, inTreeXzFormat: firstXz ? inTreeXzFormat(firstXz) : undefined, xz};
}

/** The container of one in-tree .ko.xz, from its first 14 bytes (formats/xz/container.ts). */
function inTreeXzFormat(file: string): Sourced<XzFormat | 'other'> | undefined {
	let fd: number | undefined;
	try {
		fd = openSync(file, 'r');
		const head = Buffer.alloc(14);
		const n = readSync(fd, head, 0, head.length, 0);
		const format = xzContainer(head.subarray(0, n));
		if (format === null) return undefined;
		return {value: format, from: `${file}: block flags 0x${(head[13] ?? 0).toString(16).padStart(2, '0')} (offset 13)`};
	} catch {
		return undefined;
	} finally {
		if (fd !== undefined) closeSync(fd);
	}
}

/** A staging image's target root's module dir (<target root>/lib/modules/<release>), or undefined. */
export function targetModuleDir(target: Pick<KernelTarget, 'targetRoot' | 'release'>): string | undefined {
	return target.targetRoot ? resolveInRoot(target.targetRoot.value, `/lib/modules/${target.release.value}`) : undefined;
}

/** Where packages install out-of-tree modules (kbuild's INSTALL_MOD_DIR default `extra`, DKMS's `updates`/`updates/dkms`,
 * weak-updates on RHEL-likes): what compress and verify read when they are given no path. */
export const OUT_OF_TREE_DIRS = ['extra', 'updates', 'weak-updates'] as const;

/** The default module paths of a target: its out-of-tree directories. */
export function outOfTreePaths(target: Pick<KernelTarget, 'moduleDir'>): string[] {
	return OUT_OF_TREE_DIRS.map((d) => join(target.moduleDir, d));
}
