// A pool of codec workers (worker_threads). Requests queue when every worker is busy; callers bound how many they
// keep in flight (compress.ts) so memory stays flat over thousands of modules.
import {availableParallelism} from 'node:os';
import {Worker} from 'node:worker_threads';
import {type ErrorCode, KmodpressError} from '../errors.js';
import type {KernelDecode} from '../formats/kernel.js';
import type {Algorithm, CompressionParams, KernelDecompressor} from '../types.js';
import type {TrustedCertificate} from '../verify/checks/image-certs.js';
import type {Loaded, LoadOptions} from '../verify/checks/load.js';
import type {CheckedEncode} from '../formats/checked.js';
import {asBuffer, movable} from './transfer.js';

export interface CodecPool {
	compress(data: Uint8Array, params: CompressionParams): Promise<Buffer>;
	decompress(data: Uint8Array, algorithm: Algorithm, opts: {maxOutput: number}): Promise<Buffer>;
	/** decode as the target kernel would (decoders/index.ts), off the main thread */
	kernelDecode(data: Uint8Array, decompressor: KernelDecompressor, opts: {maxOutput: number}): Promise<KernelDecode>;
	/** compress and decode back as the target would (codecs/checked.ts); the image moves to the worker and comes back */
	compressChecked(image: Buffer, params: CompressionParams, decompressor: KernelDecompressor, opts: {maxOutput: number}): Promise<CheckedEncode & {image: Buffer}>;
	/** the verifier's per-file work: decode as the target's loader would and analyse the image (verify/load.ts) */
	verifyLoad(data: Buffer, path: string, opts: LoadOptions): Promise<Loaded>;
	/** its second half on an image decoded elsewhere (verify/lanes.ts): the image moves to the worker */
	verifyAnalyse(image: Buffer, loaded: Loaded, opts: LoadOptions): Promise<Loaded>;
	/** the certificates built into a kernel image (verify/image-certs.ts): it decodes the whole kernel */
	imageCertificates(image: Buffer, path: string, opts: {maxOutput: number}): Promise<TrustedCertificate[]>;
	close(): Promise<void>;
}

interface Pending {
	resolve: (b: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
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
		w.on('message', (msg: {id: number; ok: boolean; data?: Uint8Array; value?: unknown; error?: {code: ErrorCode; message: string; fix?: string}}) => {
			const p = pending.get(msg.id);
			if (!p) return;
			pending.delete(msg.id);
			if (--slot.busy === 0) w.unref(); // an idle pool never keeps the process alive
			if (msg.ok) p.resolve(msg.value !== undefined ? msg.value : asBuffer(msg.data!));
			else p.reject(new KmodpressError(msg.error!.code, msg.error!.message, msg.error!.fix ? {fix: msg.error!.fix} : {}));
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

	const submit = <T = Buffer>(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> => {
		if (closed) return Promise.reject(new KmodpressError('E_INTERNAL', 'codec pool used after close()'));
		let slot = workers.reduce<{w: Worker; busy: number} | undefined>((best, s) => (!best || s.busy < best.busy ? s : best), undefined);
		if (!slot || (slot.busy > 0 && workers.length < size)) slot = spawn();
		const id = nextId++;
		if (slot.busy++ === 0) slot.w.ref(); // pending work keeps the process alive
		return new Promise<T>((resolve, reject) => {
			pending.set(id, {resolve, reject});
			slot!.w.postMessage({...msg, id}, transfer);
		});
	};

	return {
		compress: (data, params) => submit({op: 'compress', data, params}),
		decompress: (data, algorithm, o) => submit({op: 'decompress', data, algorithm, maxOutput: o.maxOutput}),
		// the file's bytes move to the worker (no copy) when they own their memory, as readModuleFile's do
		kernelDecode: (data, decompressor, o) => submit<KernelDecode>({op: 'kernelDecode', data, decompressor, maxOutput: o.maxOutput}).then((k) => ({
			...k, ...(k.data ? {data: asBuffer(k.data)} : {}), ...(k.partial ? {partial: asBuffer(k.partial)} : {}),
		})),
		compressChecked: (image, params, decompressor, o) => submit<CheckedEncode & {image: Uint8Array; data: Uint8Array}>({op: 'compressChecked', data: image, params, decompressor, maxOutput: o.maxOutput}, movable(image)).then((r) => ({
			...r, data: asBuffer(r.data), image: asBuffer(r.image),
		})),
		verifyLoad: (data, path, o) => submit<Loaded>({op: 'verifyLoad', data, path, opts: o}, movable(data)),
		verifyAnalyse: (image, loaded, o) => submit<Loaded>({op: 'verifyAnalyse', data: image, loaded, opts: o}, movable(image)),
		imageCertificates: (image, path, o) => submit<TrustedCertificate[]>({op: 'imageCertificates', data: image, path, maxOutput: o.maxOutput}, movable(image)),
		async close() {
			closed = true;
			await Promise.all(workers.map((s) => s.w.terminate()));
		},
	};
}

/** The same interface on the main thread: for a job of one or two modules, starting workers costs more than it saves. */
export async function createInlinePool(): Promise<CodecPool> {
	const {codecFor, decompressAs} = await import('../formats/index.js');
	const {analyseForLoad, loadImage} = await import('../verify/checks/load.js');
	const {decodeAsKernel} = await import('../formats/kernel.js');
	const {encodeChecked} = await import('../formats/checked.js');
	const {imageCertificatesOf} = await import('../verify/checks/image-certs.js');
	return {
		compress: (data, params) => codecFor(params.algorithm).compress(data, params),
		decompress: decompressAs,
		kernelDecode: (data, decompressor, o) => decodeAsKernel(data, decompressor, o),
		compressChecked: async (image, params, decompressor, o) => ({...await encodeChecked(image, params, decompressor, o.maxOutput), image}),
		verifyLoad: (data, path, o) => loadImage(data, path, o, decompressAs),
		verifyAnalyse: async (image, loaded, o) => analyseForLoad(loaded, image, o),
		imageCertificates: (image, path, o) => imageCertificatesOf(image, path, o.maxOutput),
		close: async () => {},
	};
}
