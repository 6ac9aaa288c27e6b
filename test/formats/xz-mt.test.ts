// The native xz encoder (native/xz-encode.c, src/formats/xz/native-encode.ts) must write what the host's kernel
// command `xz --check=crc32 --lzma2=dict=1MiB` writes in each era: xz >= 5.6 defaults to multi-threaded mode, whose
// bytes (blocks of max(3 × dict, 1 MiB) = 3 MiB, sizes in each block header) equal xz 5.4's `-T2` and do not depend
// on the thread count; older xz writes `-T1`'s single block. Checked on real modules (small ones, one over 3 MiB, one
// over 10 MiB) and on the sizes where the block boundary lies, against bookworm's xz 5.4 and trixie's xz 5.8.1
// (<cache>/xz-trixie: xz-utils and liblzma5 unpacked with dpkg-deb -x by test/helpers/fetch-xz-trixie.sh).
import {execFileSync} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {compressXz} from '../../src/formats/xz/codec.js';
import {nativeXzEncode, nativeXzEncodeVersion} from '../../src/formats/xz/native-encode.js';
import {KmodpressError} from '../../src/errors.js';
import type {XzParams} from '../../src/types.js';
import {CACHE, DEBIAN_MODDIR} from '../helpers/paths.js';

const PARAMS: XzParams = {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32'};
const KERNEL_ARGS = ['--check=crc32', '--lzma2=dict=1MiB'];
const MiB = 1 << 20;
const TRIXIE = join(CACHE, 'xz-trixie');
const TRIXIE_XZ = join(TRIXIE, 'usr/bin/xz');

// An empty environment: XZ_DEFAULTS or XZ_OPT (e.g. -T1) would change the format the command writes.
const run = (cmd: string, args: string[], input: Buffer, env: NodeJS.ProcessEnv = {}): Buffer =>
	execFileSync(cmd, [...args, '-c'], {input, env, maxBuffer: 1 << 30});
const hostXz = (input: Buffer, threads: string) => run('/usr/bin/xz', [...KERNEL_ARGS, threads], input);
const trixieXz = (input: Buffer) => run(TRIXIE_XZ, KERNEL_ARGS, input, {LD_LIBRARY_PATH: join(TRIXIE, 'usr/lib/x86_64-linux-gnu')});
const version = (out: Buffer) => /liblzma (\S+)/.exec(out.toString())?.[1] ?? '?';

// Native multi-threaded output per input and thread count, computed once (amdgpu.ko takes seconds).
const encoded = new Map<Buffer, Map<number, Buffer>>();
function mt(data: Buffer, threads: number): Buffer {
	const byThreads = encoded.get(data) ?? new Map<number, Buffer>();
	encoded.set(data, byThreads);
	let out = byThreads.get(threads);
	if (!out) {
		out = nativeXzEncode(data, PARAMS, {multithreaded: true, threads});
		assert.ok(out, 'build/xz-encode.node is missing or does not load: run node scripts/build-native.mjs --strict');
		byThreads.set(threads, out!);
	}
	return out!;
}

function module(rel: string): Buffer {
	const file = join(DEBIAN_MODDIR, 'kernel', rel);
	if (!existsSync(file)) throw new Error(`${file} is missing: run \`bash scripts/setup.sh --test\` first`);
	return execFileSync('/usr/bin/xz', ['-dc', file], {maxBuffer: 1 << 30});
}

/** Blocks in an xz file, from `xz --list --robot` (the uncompressed size of each is in its header only in MT format). */
function blocks(xz: Buffer): number {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-xz-mt-'));
	try {
		writeFileSync(join(dir, 'f.xz'), xz); // xz --list does not read standard input
		return execFileSync('/usr/bin/xz', ['--list', '--verbose', '--robot', join(dir, 'f.xz')], {env: {}}).toString()
			.split('\n').filter((l) => l.startsWith('block\t')).length;
	} finally {
		rmSync(dir, {recursive: true, force: true});
	}
}

let corpus: {name: string; data: Buffer}[] | undefined;
function inputs(): {name: string; data: Buffer}[] {
	if (corpus) return corpus;
	const amdgpu = module('drivers/gpu/drm/amd/amdgpu/amdgpu.ko.xz');
	corpus = [
		{name: 'crc8.ko', data: module('lib/crc8.ko.xz')},
		{name: 'af_key.ko', data: module('net/key/af_key.ko.xz')},
		{name: 'omfs.ko', data: module('fs/omfs/omfs.ko.xz')},
		{name: 'btrfs.ko', data: module('fs/btrfs/btrfs.ko.xz')},
		{name: 'amdgpu.ko', data: amdgpu},
		{name: 'empty', data: Buffer.alloc(0)},
		{name: '1 byte', data: Buffer.from('x')},
		{name: 'exactly 3 MiB (one full block)', data: amdgpu.subarray(0, 3 * MiB)},
		{name: '3 MiB + 1 (a second block of one byte)', data: amdgpu.subarray(0, 3 * MiB + 1)},
	];
	assert.ok(corpus.some((c) => c.data.length >= 3 * MiB && c.data.length < 10 * MiB), 'a module between 3 and 10 MiB');
	assert.ok(amdgpu.length >= 10 * MiB, `amdgpu.ko is ${amdgpu.length} bytes`);
	return corpus;
}

test('the native encoder is built (node scripts/build-native.mjs) over the system\'s liblzma', () => {
	assert.ok(nativeXzEncodeVersion, 'build/xz-encode.node is missing or does not load: run node scripts/build-native.mjs --strict');
	assert.is(nativeXzEncodeVersion, version(execFileSync('/usr/bin/xz', ['--version'], {env: {}})), 'the addon runs the host xz\'s liblzma');
});

test('multi-threaded format: the bytes of xz 5.4 -T2 and of xz 5.8.1\'s default (-T0), in 3 MiB blocks', () => {
	// fetched by test/helpers/fetch-xz-trixie.sh (scripts/setup.sh --test): missing is a failure, not a skip
	assert.ok(existsSync(TRIXIE_XZ), `trixie's xz 5.8.1 is not in ${TRIXIE}: run \`bash test/helpers/fetch-xz-trixie.sh\` (or scripts/setup.sh --test)`);
	const v = execFileSync(TRIXIE_XZ, ['--version'], {env: {LD_LIBRARY_PATH: join(TRIXIE, 'usr/lib/x86_64-linux-gnu')}});
	assert.is(version(v), '5.8.1', `trixie's liblzma in ${TRIXIE}`);
	for (const {name, data} of inputs()) {
		const ours = mt(data, 2);
		assert.ok(ours.equals(hostXz(data, '-T2')), `${name}: native multi-threaded ≠ xz -T2`);
		assert.ok(ours.equals(trixieXz(data)), `${name}: native multi-threaded ≠ xz 5.8.1's default`);
		assert.is(blocks(ours), Math.ceil(data.length / (3 * MiB)), `${name}: blocks of 3 MiB`);
	}
});

test('multi-threaded format: 1, 2 and 4 threads write the same bytes', () => {
	for (const {name, data} of inputs()) {
		const two = mt(data, 2);
		assert.ok(mt(data, 1).equals(two), `${name}: 1 thread ≠ 2 threads`);
		assert.ok(mt(data, 4).equals(two), `${name}: 4 threads ≠ 2 threads`);
	}
});

test('single-threaded format: the bytes of xz -T1 and of compressXz (lzma-native), and not those of -T2', async () => {
	for (const {name, data} of inputs()) {
		const ours = nativeXzEncode(data, PARAMS, {multithreaded: false, threads: 1})!;
		assert.ok(ours.equals(hostXz(data, '-T1')), `${name}: native single-threaded ≠ xz -T1`);
		assert.ok(ours.equals(await compressXz(data, PARAMS)), `${name}: native single-threaded ≠ compressXz`);
		if (data.length > 0) assert.not.ok(ours.equals(mt(data, 2)), `${name}: the two formats differ (from byte 13, the block header)`);
	}
});

test('other presets, dictionaries and checks follow xz too (preset 9e; preset 0 with 256 KiB: 1 MiB blocks; crc64)', () => {
	const small = inputs()[2]!.data;
	const slice = inputs()[4]!.data.subarray(0, 2.5 * MiB);
	for (const [params, args, data, n] of [
		[{...PARAMS, preset: 9, extreme: true}, ['--check=crc32', '--lzma2=preset=9e,dict=1MiB'], small, 1],
		[{...PARAMS, preset: 0, dictSize: 256 << 10}, ['--check=crc32', '--lzma2=preset=0,dict=256KiB'], slice, 3],
		[{...PARAMS, check: 'crc64'}, ['--check=crc64', '--lzma2=dict=1MiB'], small, 1],
	] as [XzParams, string[], Buffer, number][]) {
		const ours = nativeXzEncode(data, params, {multithreaded: true, threads: 2})!;
		assert.ok(ours.equals(run('/usr/bin/xz', [...args, '-T2'], data)), `${args.join(' ')} -T2`);
		assert.is(blocks(ours), n, `${args.join(' ')}: blocks of max(3 × dict, 1 MiB)`);
		assert.ok(nativeXzEncode(data, params, {multithreaded: false, threads: 1})!.equals(run('/usr/bin/xz', [...args, '-T1'], data)), `${args.join(' ')} -T1`);
	}
});

test('bad options are refused in words', () => {
	const data = Buffer.from('x');
	try {
		nativeXzEncode(data, PARAMS, {multithreaded: true, threads: 0});
		assert.unreachable('threads 0');
	} catch (e) {
		assert.instance(e, KmodpressError);
		assert.match((e as Error).message, 'Expected the `threads` option to be a positive integer, got `0`');
	}
	assert.throws(() => nativeXzEncode(data, {...PARAMS, preset: 10}, {multithreaded: false, threads: 1}), /`preset` option to be an integer 0–9, got 10/);
	assert.throws(() => nativeXzEncode(data, {...PARAMS, dictSize: 100}, {multithreaded: false, threads: 1}), /`dictSize` option to be an integer 4096–1610612736, got 100/);
	assert.throws(() => nativeXzEncode(data, {...PARAMS, check: 'md5' as 'crc32'}, {multithreaded: false, threads: 1}), /one of none, crc32, crc64, sha256, got "md5"/);
});

test.run();
