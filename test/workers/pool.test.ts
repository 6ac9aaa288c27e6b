// The codec pool (src/workers/pool.ts, ops.ts): every operation gives on a worker what it gives on this thread (the
// inline pool runs the same functions), bytes come back as Buffers, and an error crosses the thread whole: code, fix
// and cause (errors.ts's toWire / fromWire).
import {gzipSync} from 'node:zlib';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {isKmodpressError} from '../../src/errors.js';
import {BOMB_FIX} from '../../src/formats/table.js';
import {createCodecPool, createInlinePool, type CodecPool} from '../../src/workers/pool.js';
import {exampleModule} from '../helpers/tree.js';

const GZIP = {algorithm: 'gzip', level: 9} as const;

async function withPools(fn: (pool: CodecPool, where: string) => Promise<void>): Promise<void> {
	const workers = createCodecPool({threads: 1});
	try {
		await fn(workers, 'worker');
		await fn(createInlinePool(), 'inline');
	} finally {
		await workers.close();
	}
}

test('compress, decompress and kernelDecode give the same Buffers on a worker and on this thread', async () => {
	const m = exampleModule();
	const results: Record<string, Buffer[]> = {};
	await withPools(async (pool, where) => {
		const gz = await pool.compress(m, GZIP);
		const back = await pool.decompress(gz, 'gzip', {maxOutput: 1 << 30});
		const k = await pool.kernelDecode(gz, {algorithm: 'gzip', xzBcj: new Set()}, {maxOutput: 1 << 30});
		assert.ok(Buffer.isBuffer(gz) && Buffer.isBuffer(back) && Buffer.isBuffer(k.data), where);
		assert.ok(back.equals(m), where);
		assert.ok(k.ok && k.data!.equals(m), where);
		results[where] = [gz, back, k.data!];
	});
	results.worker!.forEach((b, i) => assert.ok(b.equals(results.inline![i]!), `result ${i}`));
});

test('an error crosses the worker with its code, fix and cause', async () => {
	const bomb = gzipSync(Buffer.alloc(1 << 20));
	const corrupt = Buffer.from(gzipSync(exampleModule()));
	corrupt.fill(0xff, 20, 60);
	await withPools(async (pool, where) => {
		const tooBig = await pool.decompress(bomb, 'gzip', {maxOutput: 1024}).then(() => undefined, (e: unknown) => e);
		assert.ok(isKmodpressError(tooBig), where);
		assert.is(tooBig.code, 'E_CODEC_BOMB', where);
		assert.is(tooBig.fix, BOMB_FIX, where);
		const bad = await pool.decompress(corrupt, 'gzip', {maxOutput: 1 << 30}).then(() => undefined, (e: unknown) => e);
		assert.ok(isKmodpressError(bad), where);
		assert.is(bad.code, 'E_CODEC_CORRUPT', where);
		assert.match(String((bad.cause as {code?: string}).code), /^Z_/, where);
	});
});

test.run();
