// A pool of codec workers (worker_threads). Requests queue when every worker is busy; callers bound how many they
// keep in flight (compress.ts) so memory stays flat over thousands of modules.
import {availableParallelism} from 'node:os';
import {Worker} from 'node:worker_threads';
import {fromWire, KmodpressError} from '../errors.js';
import {type CodecPool, type OpName, OPS, type Reply, type Request} from './ops.js';

export type {CodecPool} from './ops.js';

interface Pending {
	resolve: (value: unknown) => void;
	reject: (e: unknown) => void;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './worker.ts' : './worker.js', import.meta.url);

/** Compiled (dist/): the worker file itself. From TypeScript sources (tests under tsx): a bootstrap that registers
 * tsx's loader in the worker thread first, since loader hooks are per thread. */
function newWorker(): Worker {
	if (!FROM_SOURCE) return new Worker(WORKER_URL);
	const api = import.meta.resolve('tsx/esm/api');
	return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`, {eval: true});
}

/** `eager`: start every worker now (they take a few hundred ms to load their code), not on the first request. */
export function createCodecPool(opts: {threads?: number; eager?: boolean} = {}): CodecPool {
	const size = Math.max(1, opts.threads ?? availableParallelism());
	const workers: {w: Worker; busy: number}[] = [];
	const pending = new Map<number, Pending>();
	let nextId = 1;
	let closed = false;

	const spawn = (): {w: Worker; busy: number} => {
		const w = newWorker();
		const slot = {w, busy: 0};
		w.on('message', (msg: Reply) => {
			const p = pending.get(msg.id);
			if (!p) return;
			pending.delete(msg.id);
			if (--slot.busy === 0) w.unref(); // an idle pool never keeps the process alive
			if (msg.ok) p.resolve(msg.value);
			else p.reject(fromWire(msg.error));
		});
		w.on('error', (e) => {
			for (const [id, p] of pending) {
				p.reject(new KmodpressError('E_INTERNAL', `codec worker failed: ${e.message}`, {cause: e}));
				pending.delete(id);
			}
		});
		w.unref();
		workers.push(slot);
		return slot;
	};

	if (opts.eager) for (let i = 0; i < size; i++) spawn();

	const submit = (op: OpName, args: unknown[]): Promise<unknown> => {
		if (closed) return Promise.reject(new KmodpressError('E_INTERNAL', 'codec pool used after close()'));
		let slot = workers.reduce<{w: Worker; busy: number} | undefined>((best, s) => (!best || s.busy < best.busy ? s : best), undefined);
		if (!slot || (slot.busy > 0 && workers.length < size)) slot = spawn();
		const id = nextId++;
		if (slot.busy++ === 0) slot.w.ref(); // pending work keeps the process alive
		const row = OPS[op] as {send?: (...a: unknown[]) => ArrayBuffer[]; receive?: (r: unknown) => unknown};
		return new Promise<unknown>((resolve, reject) => {
			pending.set(id, {resolve: (value) => resolve(row.receive ? row.receive(value) : value), reject});
			slot!.w.postMessage({id, op, args} satisfies Request, row.send?.(...args) ?? []);
		});
	};

	const methods = Object.fromEntries(Object.keys(OPS).map((op) => [op, (...args: unknown[]) => submit(op as OpName, args)]));
	return {
		...methods as Omit<CodecPool, 'close'>,
		async close() {
			closed = true;
			await Promise.all(workers.map((s) => s.w.terminate()));
		},
	};
}

/** The same operations on this thread: for a job of one or two modules, starting workers costs more than it saves. */
export function createInlinePool(): CodecPool {
	const methods = Object.fromEntries(Object.entries(OPS).map(([op, row]) => [op, row.run]));
	return {...methods as Omit<CodecPool, 'close'>, close: async () => {}};
}
