// encodeChecked (what a codec worker does for compress): encode, then decode back the way the target reads the file —
// the kernel's decompressor for its own algorithm, kmod's otherwise — and say whether the module came back intact.
import {execFileSync} from 'node:child_process';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {encodeChecked} from '../../src/formats/checked.js';
import {createCodecPool} from '../../src/workers/pool.js';
import {exampleModule} from '../helpers/tree.js';

const XZ_KERNEL = {algorithm: 'xz', xzBcj: new Set<string>()} as const;
const XZ = {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32'} as const;

test('xz for an xz kernel: decoded back by the kernel\'s rules, byte-identical to the xz CLI', async () => {
	const m = exampleModule();
	const r = await encodeChecked(m, XZ, XZ_KERNEL, 1 << 30);
	assert.is(r.failure, undefined);
	assert.is(r.how, "the kernel's decompressor");
	assert.ok(r.data.equals(execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], {input: m, env: {PATH: '/usr/bin:/bin'}})));
});

test('xz with a CRC64 check for an xz kernel: refused with the kernel\'s own words (status 6)', async () => {
	const r = await encodeChecked(exampleModule(), {...XZ, check: 'crc64'}, XZ_KERNEL, 1 << 30);
	assert.is(r.failure?.kind, 'refused');
	assert.match(r.failure?.kind === 'refused' ? r.failure.message : '', 'decompression failed with status 6');
});

test('zstd for an xz kernel: decoded back as kmod would; a bound below the module size is a mismatch, not a crash', async () => {
	const m = exampleModule();
	const zstd = {algorithm: 'zstd', level: 3, checksum: true, contentSize: true} as const;
	const ok = await encodeChecked(m, zstd, XZ_KERNEL, 1 << 30);
	assert.is(ok.failure, undefined);
	assert.is(ok.how, 'kmod');
	const small = await encodeChecked(m, zstd, XZ_KERNEL, 1024);
	assert.is(small.failure?.kind, 'mismatch');
});

test('through the worker pool: the image travels to the worker and back without a copy and comes back whole', async () => {
	const m = exampleModule();
	const image = Buffer.from(m); // owns its memory: moved, not copied
	const pool = createCodecPool({threads: 1});
	try {
		const r = await pool.compressChecked(image, XZ, XZ_KERNEL, {maxOutput: 1 << 30});
		assert.is(image.buffer.byteLength, 0, 'the caller\'s buffer was moved to the worker');
		assert.ok(r.image.equals(m), 'the image comes back intact');
		assert.is(r.failure, undefined);
		assert.ok(r.data.length > 0 && r.data.length < m.length);
	} finally {
		await pool.close();
	}
});

test.run();
