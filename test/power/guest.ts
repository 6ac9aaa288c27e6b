// The power-cut test's guest: an initramfs for Debian's own kernel holding node, kmodpress (compiled from this
// checkout), the tools the driver runs (dmsetup, mke2fs, mkfs.xfs, kmod, xz, busybox), the device-mapper and file
// system modules, and the module tree to recompress. It is three newc archives concatenated (the kernel unpacks
// them in turn): the base (binaries, libraries, kernel modules: cached under $KMODPRESS_CACHE/power, keyed by what
// it is made of), kmodpress (rebuilt when src/ changes), and the run (driver, configuration, tree, /init).
import {execFileSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {dirname, join, relative} from 'node:path';
import {gzipSync} from 'node:zlib';
import {type CpioEntry, newcArchive} from '../../src/boot/cpio.js';
import {CACHE, DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';

export const REPO = join(import.meta.dirname, '../..');
export const POWER_CACHE = process.env.KMODPRESS_POWER_CACHE ?? join(CACHE, 'power');
export const KERNEL_IMAGE = `/boot/vmlinuz-${DEBIAN_KV}`;

/** Executables the guest runs, with the names they are reached by (all in /usr/bin, /usr/sbin or /sbin). */
const BINARIES: {path: string; links?: string[]}[] = [
	{path: '/usr/bin/node'},
	{path: '/usr/sbin/dmsetup'},
	{path: '/usr/sbin/mke2fs', links: ['/usr/sbin/mkfs.ext4']},
	{path: '/usr/sbin/mkfs.xfs'},
	{path: '/usr/bin/kmod', links: ['/usr/sbin/depmod', '/usr/sbin/modprobe', '/sbin/depmod', '/sbin/modprobe']},
	{path: '/usr/bin/xz'},
	{path: '/usr/bin/flock'}, // kmodpress holds its tree lock through flock (busybox-static has none)
];
/** Kernel modules, loaded in this order (modprobe --show-depends of dm-log-writes, dm-snapshot, ext4, xfs, virtio_blk). */
const KMODS = ['virtio_blk', 'dm-log-writes', 'dm-snapshot', 'ext4', 'xfs'];
/** What the policy reads from the target's build directory (see `kmodpress explain`). */
const BUILD_FILES = ['Makefile', '.config', 'include/config/auto.conf', 'scripts/Makefile.modinst'];

const sha = (...parts: (string | Buffer)[]): string => {
	const h = createHash('sha256');
	for (const p of parts) h.update(p).update('\0');
	return h.digest('hex');
};

/** The shared libraries `bin` needs, as ldd resolves them, plus the dynamic loader. */
function libraries(bin: string): string[] {
	const out = execFileSync('/usr/bin/ldd', [bin], {encoding: 'utf8'});
	const libs: string[] = [];
	for (const line of out.split('\n')) {
		const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(/.exec(line);
		if (m) libs.push(m[1]!);
	}
	return libs;
}

/** Files of a directory tree as cpio entries under `to` (symlinks kept as links). */
function treeEntries(from: string, to: string, filter: (rel: string) => boolean = () => true): CpioEntry[] {
	const out: CpioEntry[] = [{type: 'dir', path: to}];
	const walk = (d: string): void => {
		for (const e of readdirSync(d, {withFileTypes: true})) {
			const p = join(d, e.name);
			const rel = relative(from, p);
			if (!filter(rel)) continue;
			const dest = join(to, rel);
			if (e.isSymbolicLink()) out.push({type: 'symlink', path: dest, target: readlinkSync(p)});
			else if (e.isDirectory()) {
				out.push({type: 'dir', path: dest});
				walk(p);
			} else if (e.isFile()) out.push({type: 'file', path: dest, data: readFileSync(p), mode: statSync(p).mode & 0o777});
		}
	};
	walk(from);
	return out;
}

/** Adds the parent directories every entry needs (in order, each once). */
function withParents(entries: CpioEntry[]): CpioEntry[] {
	const seen = new Set<string>();
	const out: CpioEntry[] = [];
	const add = (dir: string): void => {
		if (dir === '.' || dir === '' || seen.has(dir)) return;
		add(dirname(dir));
		seen.add(dir);
		out.push({type: 'dir', path: dir});
	};
	for (const e of entries) {
		const path = e.path.replace(/^\/+/, '');
		add(dirname(path));
		if (e.type === 'dir') add(path);
		else out.push({...e, path});
	}
	return out;
}

/** The insmod order for KMODS, from the host's modprobe and Debian's modules.dep. */
function kmodOrder(): string[] {
	const files: string[] = [];
	for (const m of KMODS) {
		const out = execFileSync('/usr/sbin/modprobe', ['-S', DEBIAN_KV, '--show-depends', m], {encoding: 'utf8'});
		for (const line of out.split('\n')) {
			const f = /^insmod (\S+)/.exec(line)?.[1];
			if (f && !files.includes(f)) files.push(f);
		}
	}
	return files;
}

/** Base archive: busybox, the binaries with their libraries, decompressed kernel modules, the build files. Cached. */
function baseArchive(): string {
	const kmods = kmodOrder();
	const inputs = [...BINARIES.map((b) => b.path), '/usr/bin/busybox', ...kmods, ...BUILD_FILES.map((f) => join(DEBIAN_MODDIR, 'build', f)), '/etc/mke2fs.conf'];
	for (const p of inputs) if (!existsSync(p)) throw new Error(`${p} is missing: run \`bash scripts/setup.sh --test\` (it installs xfsprogs, busybox-static, qemu-system-x86)`);
	const key = sha('base-v1', ...inputs.map((p) => `${p}:${statSync(p).size}:${statSync(p).mtimeMs}`)).slice(0, 16);
	const out = join(POWER_CACHE, `base-${key}.cpio`);
	if (existsSync(out)) return out;
	const entries: CpioEntry[] = [
		...['bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'tmp', 'mnt', 'etc', 'run'].map((path): CpioEntry => ({type: 'dir', path})),
		{type: 'chardev', path: 'dev/console', major: 5, minor: 1},
		{type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666},
		{type: 'file', path: 'bin/busybox', data: readFileSync('/usr/bin/busybox'), mode: 0o755},
		{type: 'symlink', path: 'bin/sh', target: 'busybox'},
		{type: 'file', path: 'etc/mke2fs.conf', data: readFileSync('/etc/mke2fs.conf')},
	];
	const libs = new Set<string>();
	for (const b of BINARIES) {
		entries.push({type: 'file', path: b.path, data: readFileSync(b.path), mode: 0o755});
		for (const l of b.links ?? []) entries.push({type: 'symlink', path: l, target: b.path});
		for (const l of libraries(b.path)) libs.add(l);
	}
	for (const l of libs) {
		entries.push({type: 'file', path: realpathSync(l), data: readFileSync(l), mode: 0o755});
		if (realpathSync(l) !== l) entries.push({type: 'symlink', path: l, target: realpathSync(l)});
	}
	// /lib64 and /lib/x86_64-linux-gnu as on the host (usrmerge: /lib → usr/lib)
	kmods.forEach((f, i) => {
		const name = f.split('/').pop()!.replace(/\.ko\.xz$/, '.ko');
		entries.push({type: 'file', path: `kmods/${String(i).padStart(2, '0')}-${name}`, data: execFileSync('/usr/bin/xz', ['-dc', f], {maxBuffer: 1 << 28})});
	});
	for (const f of BUILD_FILES) entries.push({type: 'file', path: join('lib/modules', DEBIAN_KV, 'build', f), data: readFileSync(join(DEBIAN_MODDIR, 'build', f))});
	// usrmerge: /lib and /lib64 are links into /usr on Debian 12; ldd names /lib/x86_64-linux-gnu/… and /lib64/ld-linux…
	const usr = (p: string): string => p.replace(/^\/?lib64\//, 'usr/lib64/').replace(/^\/?lib\/x86_64-linux-gnu\//, 'usr/lib/x86_64-linux-gnu/').replace(/^\/+/, '');
	const fixed = withParents(entries.map((e) => ({...e, path: usr(e.path)}))
		.filter((e) => e.type !== 'symlink' || usr(e.target) !== e.path)); // a library whose name is already its real path
	// /lib stays a real directory (it holds lib/modules), so only its x86_64-linux-gnu is a link
	fixed.push({type: 'symlink', path: 'lib64', target: 'usr/lib64'}, {type: 'symlink', path: 'lib/x86_64-linux-gnu', target: '../usr/lib/x86_64-linux-gnu'});
	mkdirSync(POWER_CACHE, {recursive: true});
	writeFileSync(`${out}.part`, newcArchive(fixed));
	renameSync(`${out}.part`, out);
	return out;
}

/** The runtime packages of package.json's dependencies, with their own dependencies (node_modules is flat). */
function runtimePackages(): string[] {
	const seen = new Set<string>();
	const visit = (name: string): void => {
		if (seen.has(name)) return;
		const dir = join(REPO, 'node_modules', name);
		if (!existsSync(join(dir, 'package.json'))) return; // optional and not installed
		seen.add(name);
		const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>};
		for (const d of Object.keys({...pkg.dependencies, ...pkg.optionalDependencies})) visit(d);
	};
	const top = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {dependencies: Record<string, string>};
	for (const d of Object.keys(top.dependencies)) visit(d);
	return [...seen].sort();
}

function newestMtime(dir: string): number {
	let newest = 0;
	for (const e of readdirSync(dir, {withFileTypes: true})) {
		const p = join(dir, e.name);
		if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
		else newest = Math.max(newest, statSync(p).mtimeMs);
	}
	return newest;
}

/** kmodpress as the guest runs it: src/ compiled by tsc, the runtime packages, the native addons. Cached per src/. */
function kmodpressArchive(): string {
	const key = sha('kmodpress-v1', String(newestMtime(join(REPO, 'src'))), readFileSync(join(REPO, 'package-lock.json')), REPO).slice(0, 16);
	const out = join(POWER_CACHE, `kmodpress-${key}.cpio.gz`);
	if (existsSync(out)) return out;
	const dist = join(POWER_CACHE, `dist-${key}`);
	rmSync(dist, {recursive: true, force: true});
	execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.json'), '--outDir', dist, '--declaration', 'false'], {cwd: REPO, stdio: 'inherit'});
	const entries: CpioEntry[] = [
		{type: 'file', path: 'kmodpress/package.json', data: readFileSync(join(REPO, 'package.json'))},
		...treeEntries(dist, 'kmodpress/dist'),
	];
	for (const name of runtimePackages()) {
		entries.push(...treeEntries(join(REPO, 'node_modules', name), `kmodpress/node_modules/${name}`,
			(rel) => !/(^|\/)(test|tests|docs?|deps|\.github|example|examples|src\/.*\.(c|cc|h))$/.test(rel) && !rel.endsWith('.md')));
	}
	if (existsSync(join(REPO, 'build'))) entries.push(...treeEntries(realpathSync(join(REPO, 'build')), 'kmodpress/build', (rel) => !rel.includes('/') || rel.endsWith('.node')));
	writeFileSync(`${out}.part`, gzipSync(newcArchive(withParents(entries)), {level: 1}));
	renameSync(`${out}.part`, out);
	rmSync(dist, {recursive: true, force: true});
	return out;
}

/** The guest driver bundled into one ES module (it imports only node: and ./log-writes.ts). */
function driverBundle(): string {
	const esbuild = join(REPO, 'node_modules/esbuild/bin/esbuild');
	return execFileSync(esbuild, [join(import.meta.dirname, 'driver.ts'), '--bundle', '--platform=node', '--format=esm', '--target=node20', '--log-level=warning'], {encoding: 'utf8', maxBuffer: 1 << 26});
}

/** The /init that loads the modules and starts the driver; everything else happens in node. */
export function initScript(driverArgs: string): string {
	return [
		'#!/bin/busybox sh',
		'/bin/busybox --install -s',
		'export PATH=/usr/sbin:/usr/bin:/sbin:/bin',
		'mount -t proc proc /proc',
		'mount -t sysfs sysfs /sys',
		'mount -t devtmpfs devtmpfs /dev 2>/dev/null',
		'dmesg -n 1',
		'echo "@@PWR BOOTED $(cut -d" " -f1 /proc/uptime)"',
		'for m in /kmods/*.ko; do insmod "$m" || echo "@@PWR INSMOD-FAILED $m"; done',
		`/usr/bin/node /power/driver.mjs ${driverArgs}`,
		'echo "@@PWR EXIT $?"',
		'dmesg | tail -n 40 | sed "s/^/@@PWR DMESG /"',
		'sync',
		'reboot -f',
		'sleep 60',
		'',
	].join('\n');
}

export interface RunArchiveInput {
	config: unknown;
	/** files of the module tree to recompress: rel path under lib/modules/KV → bytes */
	tree: Map<string, Buffer>;
}

/** The initrd for one boot: base + kmodpress + the run's own archive, concatenated into `to`. */
export function buildInitrd(to: string, run: RunArchiveInput): {seconds: number; bytes: number} {
	const started = Date.now();
	const base = baseArchive();
	const kp = kmodpressArchive();
	const entries: CpioEntry[] = [
		{type: 'file', path: 'power/driver.mjs', data: driverBundle()},
		{type: 'file', path: 'power/config.json', data: JSON.stringify(run.config)},
		...[...run.tree].map(([rel, data]): CpioEntry => ({type: 'file', path: `power/tree/${rel}`, data})),
		{type: 'file', path: 'init', data: initScript('/power/config.json'), mode: 0o755},
	];
	const parts = [readFileSync(base), readFileSync(kp), gzipSync(newcArchive(withParents(entries)), {level: 1})];
	writeFileSync(to, Buffer.concat(parts));
	return {seconds: (Date.now() - started) / 1000, bytes: parts.reduce((a, p) => a + p.length, 0)};
}
