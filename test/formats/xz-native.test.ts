// kmodpress's native xz decoder (native/xz-decode.c, src/formats/xz/native.ts) takes the common case only: a file
// that decodes cleanly to exactly the size its index gives. It must be built here (setup installs what it needs; a
// missing build would only make kmodpress slower, so nothing else would notice), give the bytes lzma-native gives on
// real modules, and hand every other case back to the chunked path, whose verdicts must not change.
import {execFileSync} from 'node:child_process';
import {readdirSync, readFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {decompressXz} from '../../src/formats/xz/codec.js';
import {decodeAsKernel} from '../../src/formats/kernel.js';
import {liblzmaDecode, xzStreams} from '../../src/formats/xz/kernel.js';
import {nativeXzDecodeExact, nativeXzVersion} from '../../src/formats/xz/native.js';
import type {KernelDecompressor} from '../../src/types.js';
import {DEBIAN_MODDIR} from '../helpers/paths.js';

const DEBIAN: KernelDecompressor = {algorithm: 'xz', xzBcj: new Set(['x86'])};
const xz = (input: Buffer, args: string[] = ['--check=crc32', '--lzma2=dict=1MiB']) => execFileSync('/usr/bin/xz', ['-c', ...args], {input, env: {}, maxBuffer: 1 << 28});

test('the native decoder is built (node scripts/build-native.mjs)', () => {
	assert.ok(nativeXzVersion, 'build/xz-decode.node is missing or does not load: run node scripts/build-native.mjs --strict');
	assert.match(nativeXzVersion!, /^5\.\d+\.\d+/);
});

test('on real modules it gives exactly the bytes lzma-native gives, and the same as xz -dc', () => {
	const dir = join(DEBIAN_MODDIR, 'kernel/fs');
	const files = readdirSync(dir, {recursive: true, withFileTypes: true})
		.filter((e) => e.isFile() && e.name.endsWith('.ko.xz')).map((e) => join(e.parentPath, e.name)).slice(0, 60);
	assert.ok(files.length >= 40, `only ${files.length} modules under ${dir}`);
	for (const f of files) {
		const b = readFileSync(f);
		const size = xzStreams(b)![0]!.uncompressed;
		const out = Buffer.alloc(size);
		assert.ok(nativeXzDecodeExact(b, out, false), f);
		const slow = liblzmaDecode(b, 1 << 30);
		assert.is(slow.status, 1, f);
		assert.ok(out.equals(slow.data!), f);
	}
	const one = readFileSync(files[0]!);
	const out = Buffer.alloc(xzStreams(one)![0]!.uncompressed);
	assert.ok(nativeXzDecodeExact(one, out, false));
	assert.ok(out.equals(execFileSync('/usr/bin/xz', ['-dc', files[0]!], {maxBuffer: 1 << 28})));
});

test('only an exact, clean decode counts: a buffer one byte short or long, corrupt data, a truncated file', () => {
	const plain = execFileSync('/usr/bin/xz', ['-dc', join(DEBIAN_MODDIR, 'kernel/fs/omfs/omfs.ko.xz')], {maxBuffer: 1 << 28});
	const file = xz(plain);
	assert.ok(nativeXzDecodeExact(file, Buffer.alloc(plain.length), false));
	assert.not.ok(nativeXzDecodeExact(file, Buffer.alloc(plain.length - 1), false), 'the file inflates past what its index says');
	assert.not.ok(nativeXzDecodeExact(file, Buffer.alloc(plain.length + 1), false), 'the file inflates to less than its index says');
	const corrupt = Buffer.from(file);
	corrupt[Math.floor(corrupt.length / 2)]! ^= 0x55;
	assert.not.ok(nativeXzDecodeExact(corrupt, Buffer.alloc(plain.length), false));
	assert.not.ok(nativeXzDecodeExact(file.subarray(0, file.length - 100), Buffer.alloc(plain.length), false));
});

test('the kernel verdicts of the cases the native decoder hands back are those of the chunked path', async () => {
	const plain = execFileSync('/usr/bin/xz', ['-dc', join(DEBIAN_MODDIR, 'kernel/lib/crc8.ko.xz')], {maxBuffer: 1 << 28});
	const file = xz(plain);
	// corrupt payload: the block's CRC32 (or LZMA2 itself) fails → the kernel's "status 7"
	const corrupt = Buffer.from(file);
	corrupt[Math.floor(corrupt.length / 2)]! ^= 0x55;
	const k = await decodeAsKernel(corrupt, DEBIAN);
	assert.not.ok(k.ok);
	assert.is(k.status, 7, k.reason);
	// truncated inside the index: no valid index, the chunked path decodes what is there ("status 0" is the kernel's)
	const t = await decodeAsKernel(file.subarray(0, file.length - 20), DEBIAN);
	assert.not.ok(t.ok);
	// a bomb: inflates past the bound whatever its index says
	const bomb = xz(Buffer.alloc(8 << 20));
	const b = await decodeAsKernel(bomb, DEBIAN, {maxOutput: 1 << 20});
	assert.ok(b.bomb);
	// kmod's userspace view of two concatenated streams: both, as xz -dc gives them
	const two = Buffer.concat([file, xz(Buffer.from('second stream'))]);
	const u = await decompressXz(two, {maxOutput: 1 << 30});
	assert.ok(u.equals(Buffer.concat([plain, Buffer.from('second stream')])));
	// and the kernel's: the first only
	const first = await decodeAsKernel(two, DEBIAN);
	assert.ok(first.ok && first.data!.equals(plain));
});

test.run();
