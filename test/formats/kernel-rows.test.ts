// One test per kind of compressed module that kernel/module/decompress.c meets: files made with the real CLI tools (or
// by hand where no tool writes them), decoded under the kernel's rules (src/formats/*/kernel.ts); the verdict must be
// the one the booted kernels gave.
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {decodeAsKernel} from '../../src/formats/kernel.js';
import type {KernelDecompressor} from '../../src/types.js';
import {DEBIAN_MODDIR} from '../helpers/paths.js';

const MODULE = execFileSync('/usr/bin/xz', ['-dc', join(DEBIAN_MODDIR, 'kernel/fs/omfs/omfs.ko.xz')]);
const xz = (args: string[], input: Buffer = MODULE) => execFileSync('/usr/bin/xz', ['-c', ...args], {input, env: {}});
const zstd = (args: string[], input: Buffer = MODULE) => execFileSync('/usr/bin/zstd', ['-c', '-q', ...args], {input, env: {}});
const gzip = (args: string[], input: Buffer = MODULE) => execFileSync('/usr/bin/gzip', ['-c', ...args], {input, env: {}});
const DEBIAN: KernelDecompressor = {algorithm: 'xz', xzBcj: new Set(['x86', 'arm64', 'riscv'])};
const XZ_NO_BCJ: KernelDecompressor = {algorithm: 'xz', xzBcj: new Set()};
const ZSTD: KernelDecompressor = {algorithm: 'zstd', xzBcj: new Set()};
const GZIP: KernelDecompressor = {algorithm: 'gzip', xzBcj: new Set()};
const SKIPPABLE = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
const half = MODULE.length >> 1;

interface Row {
	name: string;
	bytes: () => Buffer;
	k: KernelDecompressor;
	/** 'loads' = decodes to exactly the module; 'partial' = decodes, but not the whole module (ENOEXEC later) */
	verdict: 'loads' | 'partial' | {status?: number; message: RegExp};
}

const rows: Row[] = [
	{name: 'xz --check=crc32', bytes: () => xz(['--check=crc32', '--lzma2=dict=1MiB', '-T1']), k: DEBIAN, verdict: 'loads'},
	{name: 'xz --check=none', bytes: () => xz(['--check=none']), k: DEBIAN, verdict: 'loads'},
	{name: 'xz crc64 (xz default)', bytes: () => xz(['-T1']), k: DEBIAN, verdict: {status: 6, message: /decompression failed with status 6/}},
	{name: 'xz sha256', bytes: () => xz(['--check=sha256']), k: DEBIAN, verdict: {status: 6, message: /status 6/}},
	{name: 'xz dict 64 MiB, -9e', bytes: () => xz(['-9e', '--check=crc32']), k: DEBIAN, verdict: 'loads'},
	{name: 'xz BCJ x86 compiled in', bytes: () => xz(['--check=crc32', '--x86', '--lzma2']), k: DEBIAN, verdict: 'loads'},
	{name: 'xz BCJ x86 not compiled in', bytes: () => xz(['--check=crc32', '--x86', '--lzma2']), k: XZ_NO_BCJ, verdict: {status: 6, message: /status 6/}},
	{name: 'xz delta filter', bytes: () => xz(['--check=crc32', '--delta', '--lzma2']), k: DEBIAN, verdict: {status: 6, message: /status 6/}},
	{name: 'xz several blocks (-T2)', bytes: () => xz(['--check=crc32', '-T2', '--block-size=20000']), k: DEBIAN, verdict: 'loads'},
	{name: 'xz stream padding', bytes: () => Buffer.concat([xz(['--check=crc32']), Buffer.alloc(8)]), k: DEBIAN, verdict: 'loads'},
	{name: 'xz two concatenated streams', bytes: () => Buffer.concat([xz(['--check=crc32'], MODULE.subarray(0, half)), xz(['--check=crc32'], MODULE.subarray(half))]), k: DEBIAN, verdict: 'partial'},
	{name: 'xz truncated', bytes: () => xz(['--check=crc32']).subarray(0, 3000), k: DEBIAN, verdict: {status: 0, message: /status 0/}},
	{name: 'xz corrupted', bytes: () => {
		const b = xz(['--check=crc32']);
		b[2000] = b[2000]! ^ 0x55;
		return b;
	}, k: DEBIAN, verdict: {status: 7, message: /status 7/}},
	{name: 'legacy .lzma', bytes: () => xz(['--format=lzma']), k: DEBIAN, verdict: {message: /not an xz compressed module/}},
	{name: 'zstd -3', bytes: () => zstd(['-3']), k: ZSTD, verdict: 'loads'},
	{name: 'zstd --ultra -22', bytes: () => zstd(['--ultra', '-22']), k: ZSTD, verdict: 'loads'},
	{name: 'zstd -T0 --no-check', bytes: () => zstd(['-T0', '--no-check']), k: ZSTD, verdict: 'loads'},
	{name: 'zstd without content size', bytes: () => zstd(['--no-content-size']), k: ZSTD, verdict: 'loads'},
	{name: 'zstd skippable frame first', bytes: () => Buffer.concat([SKIPPABLE, zstd([])]), k: ZSTD, verdict: {message: /not a zstd compressed module/}},
	{name: 'zstd skippable frame last', bytes: () => Buffer.concat([zstd([]), SKIPPABLE]), k: ZSTD, verdict: 'loads'},
	{name: 'zstd two frames', bytes: () => Buffer.concat([zstd([], MODULE.subarray(0, half)), zstd([], MODULE.subarray(half))]), k: ZSTD, verdict: 'partial'},
	{name: 'zstd window > 128 MiB (--long=28, no content size)', bytes: () => zstd(['--long=28', '--no-content-size']), k: ZSTD, verdict: {status: 16, message: /status 16/}},
	{name: 'zstd with a dictionary', bytes: () => {
		const dir = mkdtempSync(join(tmpdir(), 'kmodpress-dict-'));
		try {
			const samples = Array.from({length: 40}, (_, i) => {
				const p = join(dir, `s${i}`);
				writeFileSync(p, MODULE.subarray(i * 1000, i * 1000 + 4000));
				return p;
			});
			execFileSync('/usr/bin/zstd', ['-q', '--train', ...samples, '-o', join(dir, 'dict'), '--maxdict=4096']);
			return zstd(['-D', join(dir, 'dict')]);
		} finally {
			rmSync(dir, {recursive: true});
		}
	}, k: ZSTD, verdict: {status: 32, message: /status 32/}},
	{name: 'zstd bad content checksum', bytes: () => {
		const b = zstd([]);
		b[b.length - 1] = b[b.length - 1]! ^ 0xff;
		return b;
	}, k: ZSTD, verdict: {status: 22, message: /status 22/}},
	{name: 'zstd truncated', bytes: () => zstd([]).subarray(0, 4000), k: ZSTD, verdict: {message: /truncated.*ENOEXEC/}},
	{name: 'gzip -n', bytes: () => gzip(['-n']), k: GZIP, verdict: 'loads'},
	{name: 'gzip with FNAME', bytes: () => {
		const dir = mkdtempSync(join(tmpdir(), 'kmodpress-gz-'));
		writeFileSync(join(dir, 'omfs.ko'), MODULE);
		const b = execFileSync('/usr/bin/gzip', ['-c', join(dir, 'omfs.ko')]);
		rmSync(dir, {recursive: true});
		return b;
	}, k: GZIP, verdict: 'loads'},
	{name: 'gzip -1', bytes: () => gzip(['-n', '-1']), k: GZIP, verdict: 'loads'},
	...(['FEXTRA', 'FCOMMENT', 'FHCRC'] as const).map((flag): Row => ({name: `gzip ${flag}`, bytes: () => {
		const g = gzip(['-n']);
		const field = {FEXTRA: Buffer.from([4, 0, 1, 2, 3, 4]), FCOMMENT: Buffer.from('built by hand\0'), FHCRC: Buffer.from([0x12, 0x34])}[flag];
		const bit = {FEXTRA: 0x04, FCOMMENT: 0x10, FHCRC: 0x02}[flag];
		return Buffer.concat([g.subarray(0, 3), Buffer.from([bit]), g.subarray(4, 10), field, g.subarray(10)]);
	}, k: GZIP, verdict: {status: -3, message: /status -3/}})),
	{name: 'gzip two members', bytes: () => Buffer.concat([gzip(['-n'], MODULE.subarray(0, half)), gzip(['-n'], MODULE.subarray(half))]), k: GZIP, verdict: 'partial'},
	{name: 'zlib wrapper instead of gzip', bytes: () => execFileSync('/usr/bin/python3', ['-c', 'import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))'], {input: MODULE}), k: GZIP, verdict: {message: /not a gzip compressed module/}},
	{name: 'gzip wrong trailer CRC (the kernel never reads it)', bytes: () => {
		const b = gzip(['-n']);
		b[b.length - 6] = b[b.length - 6]! ^ 0xff;
		return b;
	}, k: GZIP, verdict: 'loads'},
];

for (const row of rows) {
	test(`the kernel's verdict: ${row.name}`, async () => {
		const r = await decodeAsKernel(row.bytes(), row.k);
		if (row.verdict === 'loads') {
			assert.ok(r.ok, `${r.message}: ${r.reason}`);
			assert.ok(r.data!.equals(MODULE), 'the kernel gets the whole module');
		} else if (row.verdict === 'partial') {
			assert.ok(r.ok, `${r.message}: ${r.reason}`);
			assert.ok(r.data!.length < MODULE.length && MODULE.subarray(0, r.data!.length).equals(r.data!), 'the kernel gets only the first part');
		} else {
			assert.not.ok(r.ok);
			if (row.verdict.status !== undefined) assert.is(r.status, row.verdict.status);
			assert.match(r.message, row.verdict.message);
			assert.ok(r.reason.length > 0);
		}
	});
}

test('decompression bombs are refused without inflating them (xz, zstd, gzip)', async () => {
	const zeros = Buffer.alloc(64 << 20);
	for (const [b, k] of [[xz(['--check=crc32'], zeros), DEBIAN], [zstd([], zeros), ZSTD], [gzip(['-n'], zeros), GZIP]] as const) {
		const r = await decodeAsKernel(b, k, {maxOutput: 8 << 20});
		assert.not.ok(r.ok);
		assert.ok(r.bomb, `${k.algorithm}: ${r.message} ${r.reason}`);
	}
	void readFileSync;
});

test.run();
