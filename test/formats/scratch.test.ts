// The verifier decodes module after module into one reused buffer (src/formats/scratch.ts): each decode must give
// exactly its own bytes (a smaller module after a bigger one, a module that outgrows the buffer), the same verdicts
// as a fresh buffer, and a bomb must stay bounded.
import {execFileSync} from 'node:child_process';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {decodeAsKernel} from '../../src/formats/kernel.js';
import {Scratch} from '../../src/formats/scratch.js';
import {loadImage} from '../../src/verify/checks/load.js';
import {readFileSync} from 'node:fs';
import type {KernelDecompressor} from '../../src/types.js';
import {DEBIAN_MODDIR} from '../helpers/paths.js';

const DEBIAN: KernelDecompressor = {algorithm: 'xz', xzBcj: new Set(['x86', 'arm64', 'riscv'])};
const xz = (input: Buffer, args: string[] = ['--check=crc32', '--lzma2=dict=1MiB']) => execFileSync('/usr/bin/xz', ['-c', ...args], {input, env: {}, maxBuffer: 1 << 28});
const plain = (rel: string) => execFileSync('/usr/bin/xz', ['-dc', join(DEBIAN_MODDIR, rel)], {maxBuffer: 1 << 28});

test('one scratch buffer, many modules: each decode is exactly its own module', async () => {
	const into = new Scratch();
	const modules = ['kernel/fs/omfs/omfs.ko.xz', 'kernel/lib/crc8.ko.xz', 'kernel/fs/btrfs/btrfs.ko.xz', 'kernel/lib/crc-itu-t.ko.xz'].map(plain);
	for (const m of [...modules, ...modules.reverse()]) {
		const r = await decodeAsKernel(xz(m), DEBIAN, {into});
		assert.ok(r.ok, r.reason);
		assert.ok(r.data!.equals(m));
	}
	// a module whose xz index understates nothing but which outgrows the buffer in flight: two streams, the kernel
	// decodes the first only — the same answer as without a scratch buffer
	const two = Buffer.concat([xz(modules[0]!), xz(modules[1]!)]);
	const a = await decodeAsKernel(two, DEBIAN, {into});
	const b = await decodeAsKernel(two, DEBIAN);
	assert.ok(a.ok && b.ok);
	assert.ok(a.data!.equals(b.data!));
	assert.equal(a.notes, b.notes);
});

test('through the scratch buffer: a truncated file and a bomb get the verdicts they get without it', async () => {
	const into = new Scratch();
	const m = plain('kernel/fs/omfs/omfs.ko.xz');
	const file = xz(m);
	const cut = file.subarray(0, file.length >> 1);
	const a = await decodeAsKernel(cut, DEBIAN, {into});
	const b = await decodeAsKernel(cut, DEBIAN);
	assert.equal({...a, partial: undefined}, {...b, partial: undefined});
	const bomb = xz(Buffer.alloc(64 << 20));
	const c = await decodeAsKernel(bomb, DEBIAN, {into, maxOutput: 8 << 20});
	assert.is(c.ok, false);
	assert.is(c.bomb, true);
});

test('two loads in flight at once (the inline pool, a worker\'s queue) each analyse their own image', async () => {
	const files = ['kernel/lib/crc8.ko.xz', 'kernel/drivers/net/dummy.ko.xz', 'kernel/lib/crc-itu-t.ko.xz'];
	const o = {decompressor: DEBIAN, kmod: {version: 30, features: {XZ: true}}, release: 'test', enforce: false, maxOutput: 1 << 30};
	const loaded = await Promise.all(files.map((rel) => loadImage(readFileSync(join(DEBIAN_MODDIR, rel)), rel, o, async () => Buffer.alloc(0))));
	assert.equal(loaded.map((l) => l.module), ['crc8', 'dummy', 'crc_itu_t']);
	assert.equal(loaded.map((l) => l.facts?.modinfo.name?.[0]), ['crc8', 'dummy', 'crc_itu_t']);
});

test.run();
