// A codec worker: runs the operations of ops.ts off the main thread — zstd-napi is synchronous and liblzma is
// CPU-bound, so every (de)compression and every module analysis runs here. Each request {id, op, args} gets
// {id, ok, value | error}; bytes that ops.ts lists in `reply` move back without a copy, an error crosses as toWire().
// Everything is imported statically, at startup: a worker kept busy by synchronous requests rarely gets to its event
// loop, so a request waiting on an import would wait behind every module queued after it.
import {parentPort} from 'node:worker_threads';
import {toWire} from '../errors.js';
import {OPS, type Reply, type Request} from './ops.js';
import {asBuffer} from './transfer.js';

parentPort!.on('message', async ({id, op, args}: Request) => {
	const row = OPS[op] as {run: (...a: unknown[]) => Promise<unknown>; reply?: (r: unknown) => ArrayBuffer[]};
	try {
		// bytes arrive as a plain Uint8Array: the operations take Buffers over the same memory
		const value = await row.run(...args.map((a) => (a instanceof Uint8Array ? asBuffer(a) : a)));
		parentPort!.postMessage({id, ok: true, value} satisfies Reply, row.reply?.(value) ?? []);
	} catch (e) {
		parentPort!.postMessage({id, ok: false, error: toWire(e)} satisfies Reply);
	}
});
