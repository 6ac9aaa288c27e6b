// compress through the CLI writes xz as the target's own `xz --check=crc32 --lzma2=dict=1MiB` (the kernel's cmd_xz)
// writes it: with bookworm's xz 5.4.1 as the xz that decides, the single-threaded format; with trixie's xz 5.8.1 as
// the sysroot's own xz, the multi-threaded format — byte for byte, on real Debian modules decompressed from the
// installed tree: two small ones, btrfs.ko (two 3 MiB blocks) and, for the multi-threaded format, amdgpu.ko (29 MB,
// ten blocks). Without the native encoder the multi-threaded format is refused before anything is touched.
import {execFileSync, spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {xzContainer} from '../../src/formats/xz/container.js';
import {DEBIAN_MODDIR} from '../helpers/paths.js';
import {installTrixieXz, makeSysroot, type Sysroot, trixieXz} from '../helpers/tree.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
function kmodpress(args: string[], env: NodeJS.ProcessEnv = {}) {
	const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {encoding: 'utf8', env: {...process.env, ...env}, maxBuffer: 1 << 26});
	return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}
const MiB = 1 << 20;
const KERNEL_ARGS = ['--check=crc32', '--lzma2=dict=1MiB'];

const images = new Map<string, Buffer>();
/** A module of Debian's installed tree, decompressed. */
function image(rel: string): Buffer {
	let b = images.get(rel);
	if (!b) {
		const file = join(DEBIAN_MODDIR, 'kernel', rel);
		if (!existsSync(file)) throw new Error(`${file} is missing: install linux-image-6.12.115+deb12-amd64 (scripts/setup.sh)`);
		b = execFileSync('/usr/bin/xz', ['-dc', file], {maxBuffer: 1 << 30});
		images.set(rel, b);
	}
	return b;
}
const name = (rel: string): string => rel.slice(rel.lastIndexOf('/') + 1, -'.xz'.length);

/** Blocks of an xz file, from `xz --list --robot` (it does not read standard input). */
function blocks(xz: Buffer): number {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-blocks-'));
	try {
		writeFileSync(join(dir, 'f.xz'), xz);
		return execFileSync('/usr/bin/xz', ['--list', '--verbose', '--robot', join(dir, 'f.xz')], {env: {}, encoding: 'utf8'})
			.split('\n').filter((l) => l.startsWith('block\t')).length;
	} finally {
		rmSync(dir, {recursive: true, force: true});
	}
}

/** The given modules, plain, in the sysroot's extra/; then `kmodpress compress` on them. */
function compress(s: Sysroot, rels: readonly string[], extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
	for (const rel of rels) s.put(`extra/${name(rel)}`, image(rel));
	return kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--no-verify', '--json', ...extra, join(s.moduleDir, 'extra')], env);
}

const SMALL = ['net/key/af_key.ko.xz', 'lib/crc8.ko.xz'];
const BTRFS = 'fs/btrfs/btrfs.ko.xz';
const AMDGPU = 'drivers/gpu/drm/amd/amdgpu/amdgpu.ko.xz';

test('the host\'s xz 5.4.1 decides (no xz in the sysroot): the single-threaded format, the bytes of its own `xz --check=crc32 --lzma2=dict=1MiB`', () => {
	const s = makeSysroot();
	try {
		const r = compress(s, [...SMALL, BTRFS], ['--threads', '2']);
		assert.is(r.code, 0, r.stderr + r.stdout);
		const report = JSON.parse(r.stdout);
		assert.equal(report.modules.map((m: {outcome: string}) => m.outcome), ['compressed', 'compressed', 'compressed']);
		for (const rel of [...SMALL, BTRFS]) {
			const out = readFileSync(join(s.moduleDir, 'extra', `${name(rel)}.xz`));
			// the kernel's command as the host runs it: no -T, an empty environment (no XZ_DEFAULTS / XZ_OPT)
			const kernels = execFileSync('/usr/bin/xz', [...KERNEL_ARGS, '-c'], {input: image(rel), env: {}, maxBuffer: 1 << 30});
			assert.ok(out.equals(kernels), `${rel}: kmodpress ≠ xz 5.4.1's ${KERNEL_ARGS.join(' ')}`);
			assert.is(xzContainer(out), 'single', rel);
		}
		assert.is(blocks(readFileSync(join(s.moduleDir, 'extra/btrfs.ko.xz'))), 1, 'btrfs.ko (> 3 MiB) in one block');
		assert.match(readFileSync(join(s.moduleDir, 'modules.dep'), 'utf8'), /^extra\/btrfs\.ko\.xz:/m);
	} finally {
		s.cleanup();
	}
});

test('without the native encoder the single-threaded format still comes from lzma-native, byte for byte', () => {
	const s = makeSysroot();
	try {
		const r = compress(s, SMALL, [], {KMODPRESS_NO_NATIVE_XZ: '1'});
		assert.is(r.code, 0, r.stderr + r.stdout);
		for (const rel of SMALL) {
			const kernels = execFileSync('/usr/bin/xz', [...KERNEL_ARGS, '-c'], {input: image(rel), env: {}});
			assert.ok(readFileSync(join(s.moduleDir, 'extra', `${name(rel)}.xz`)).equals(kernels), rel);
		}
	} finally {
		s.cleanup();
	}
});

test('the sysroot\'s own xz is trixie\'s 5.8.1: the multi-threaded format, the bytes of its `xz --check=crc32 --lzma2=dict=1MiB` (amdgpu.ko: 10 blocks)', () => {
	const s = makeSysroot();
	try {
		installTrixieXz(s.root);
		const rels = [...SMALL, BTRFS, AMDGPU];
		const r = compress(s, rels, ['--threads', '2']);
		assert.is(r.code, 0, r.stderr + r.stdout);
		assert.equal(JSON.parse(r.stdout).modules.map((m: {outcome: string}) => m.outcome), rels.map(() => 'compressed'));
		for (const rel of rels) {
			const out = readFileSync(join(s.moduleDir, 'extra', `${name(rel)}.xz`));
			assert.ok(out.equals(trixieXz([...KERNEL_ARGS, '-c'], image(rel))), `${rel}: kmodpress ≠ xz 5.8.1's ${KERNEL_ARGS.join(' ')}`);
			assert.is(xzContainer(out), 'multi', rel);
			assert.is(blocks(out), Math.max(1, Math.ceil(image(rel).length / (3 * MiB))), `${rel}: blocks of 3 MiB`);
		}
		assert.ok(image(AMDGPU).length > 9 * 3 * MiB, 'amdgpu.ko spans ten blocks');
		// the same bytes from one core: recompress btrfs.ko from its plain image with --threads 1
		const one = makeSysroot();
		try {
			installTrixieXz(one.root);
			const r1 = compress(one, [BTRFS], ['--threads', '1']);
			assert.is(r1.code, 0, r1.stderr + r1.stdout);
			assert.ok(readFileSync(join(one.moduleDir, 'extra/btrfs.ko.xz')).equals(readFileSync(join(s.moduleDir, 'extra/btrfs.ko.xz'))), '--threads 1 = --threads 2');
		} finally {
			one.cleanup();
		}
	} finally {
		s.cleanup();
	}
});

test('the multi-threaded format without the native encoder: refused before anything is touched, in words, with what to install', () => {
	const s = makeSysroot();
	try {
		installTrixieXz(s.root);
		const r = compress(s, SMALL, [], {KMODPRESS_NO_NATIVE_XZ: '1'});
		assert.is(r.code, 2, r.stderr + r.stdout);
		const {error} = JSON.parse(r.stdout);
		assert.is(error.code, 'E_NATIVE_MISSING');
		assert.is(error.message, 'this kernel\'s xz command writes the multi-threaded xz format (kmodpress explain says why), which only kmodpress\'s native xz encoder (build/xz-encode.node) writes; it is not built or not loaded');
		assert.match(error.fix, /^build the native xz encoder: apt-get install gcc liblzma-dev, then node scripts\/build-native\.mjs --strict/);
		const text = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, join(s.moduleDir, 'extra')], {KMODPRESS_NO_NATIVE_XZ: '1'});
		assert.is(text.code, 2);
		assert.match(text.stderr, /^kmodpress: E_NATIVE_MISSING: this kernel's xz command writes the multi-threaded xz format .* Fix: build the native xz encoder/);
		assert.equal(readdirSync(join(s.moduleDir, 'extra')).sort(), SMALL.map(name).sort(), 'the plain modules are left as they were');
		for (const rel of SMALL) assert.ok(readFileSync(join(s.moduleDir, 'extra', name(rel))).equals(image(rel)));
	} finally {
		s.cleanup();
	}
});

test.run();
