// zstd and gzip output on a real module: the format properties the kernel and kmod rely on, read back by the real
// CLI tools, and independent of the environment variables that change those tools' output.
import {execFileSync} from 'node:child_process';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {codecFor} from '../../src/formats/index.js';
import {decodeAsKernel} from '../../src/formats/kernel.js';
import {parseZstdFrameHeader} from '../../src/formats/zstd/header.js';
import {exampleModule} from '../helpers/tree.js';

const ZSTD = {algorithm: 'zstd', level: 3, checksum: true, contentSize: true} as const;
const GZIP = {algorithm: 'gzip', level: 6} as const;

test('zstd: one frame, level 3, checksum and content size in the header; zstd -d and the kernel\'s rules give the module back', async () => {
	const m = exampleModule();
	const z = await codecFor('zstd').compress(m, ZSTD);
	const h = parseZstdFrameHeader(z);
	assert.ok(h && !('status' in h));
	if (!h || 'status' in h) return;
	assert.is(h.checksum, true);
	assert.is(h.contentSize, BigInt(m.length));
	assert.is(h.dictId, 0);
	assert.ok(execFileSync('/usr/bin/zstd', ['-dc'], {input: z, maxBuffer: 1 << 26}).equals(m));
	// the CLI at the kernel's level writes the same frame from a file (same libzstd major behaviour; sizes close)
	const cli = execFileSync('/usr/bin/zstd', ['-q', '-c', '-3'], {input: m, maxBuffer: 1 << 26, env: {PATH: '/usr/bin:/bin'}});
	assert.ok(Math.abs(cli.length - z.length) / cli.length < 0.05, `kmodpress ${z.length} vs zstd CLI ${cli.length}`);
	const k = await decodeAsKernel(z, {algorithm: 'zstd', xzBcj: new Set()});
	assert.is(k.ok, true, k.reason);
	assert.ok(k.data!.equals(m));
	assert.equal(k.notes, []);
});

test('gzip: the header gzip -n writes (no name, MTIME 0, no FEXTRA/FCOMMENT/FHCRC, OS Unix), one member, trailer CRC right', async () => {
	const m = exampleModule();
	const g = await codecFor('gzip').compress(m, GZIP);
	assert.equal([...g.subarray(0, 4)], [0x1f, 0x8b, 8, 0]);
	assert.is(g.readUInt32LE(4), 0, 'MTIME 0');
	assert.is(g[9], 3, 'OS = Unix');
	assert.is(g.readUInt32LE(g.length - 4), m.length, 'ISIZE');
	assert.ok(execFileSync('/usr/bin/gzip', ['-dc'], {input: g, maxBuffer: 1 << 26}).equals(m), 'gzip -d (which checks the CRC) reads it');
	const header = execFileSync('/usr/bin/gzip', ['-n', '-c'], {input: m, maxBuffer: 1 << 26});
	assert.equal([...g.subarray(0, 9)], [...header.subarray(0, 9)], 'same header bytes as gzip -n (the deflate body differs; the kernel reads any)');
	const k = await decodeAsKernel(g, {algorithm: 'gzip', xzBcj: new Set()});
	assert.is(k.ok, true, k.reason);
	assert.ok(k.data!.equals(m));
});

test('XZ_OPT, XZ_DEFAULTS, ZSTD_CLEVEL, ZSTD_NBTHREADS, GZIP in the environment change no codec output', async () => {
	const m = exampleModule();
	const xzParams = {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32'} as const;
	const before = await Promise.all([codecFor('xz').compress(m, xzParams), codecFor('zstd').compress(m, ZSTD), codecFor('gzip').compress(m, GZIP)]);
	Object.assign(process.env, {XZ_OPT: '-9e --check=crc64 -T0', XZ_DEFAULTS: '--check=sha256', ZSTD_CLEVEL: '19', ZSTD_NBTHREADS: '4', GZIP: '-9'});
	try {
		const after = await Promise.all([codecFor('xz').compress(m, xzParams), codecFor('zstd').compress(m, ZSTD), codecFor('gzip').compress(m, GZIP)]);
		for (let i = 0; i < 3; i++) assert.ok(after[i]!.equals(before[i]!), `codec ${i}`);
	} finally {
		for (const k of ['XZ_OPT', 'XZ_DEFAULTS', 'ZSTD_CLEVEL', 'ZSTD_NBTHREADS', 'GZIP']) delete process.env[k];
	}
});

test.run();
