// The operations a codec worker runs, in one table. For each: `run`, the work itself (on a worker thread, or on this
// one for the inline pool); `send`, the buffers among its arguments that move to the worker instead of being copied
// (postMessage's transfer list: the caller must not touch them after the call); `reply`, the same for its result on
// the way back; `receive`, how the result is made whole again where it arrives (bytes cross a thread as a plain
// Uint8Array). pool.ts posts {id, op, args}, worker.ts runs OPS[op].run(...args), and CodecPool's type is read from here.
import type {ErrorWire} from '../errors.js';
import type {Algorithm, CompressionParams, KernelDecompressor} from '../types.js';
import {encodeChecked, type CheckedEncode} from '../formats/checked.js';
import {codecFor, decompressAs} from '../formats/index.js';
import {decodeAsKernel, type KernelDecode} from '../formats/kernel.js';
import {imageCertificatesOf} from '../verify/checks/image-certs.js';
import {analyseForLoad, loadImage, type Loaded, type LoadOptions} from '../verify/checks/load.js';
import {asBuffer, movable} from './transfer.js';

interface Op<A extends unknown[], R> {
	run(...args: A): Promise<R>;
	send?(...args: A): ArrayBuffer[];
	reply?(result: NoInfer<R>): ArrayBuffer[];
	receive?(result: NoInfer<R>): NoInfer<R>;
}

/** Checks one row against Op while keeping the argument and result types of its `run`. */
const op = <A extends unknown[], R>(row: Op<A, R>): Op<A, R> => row;

export const OPS = {
	/** encode in `params.algorithm` */
	compress: op({
		run: (data: Uint8Array, params: CompressionParams): Promise<Buffer> => codecFor(params.algorithm).compress(data, params),
		reply: (out) => movable(out),
		receive: asBuffer,
	}),
	/** kmod's userspace decode (formats/index.ts) */
	decompress: op({
		run: (data: Uint8Array, algorithm: Algorithm, opts: {maxOutput: number}): Promise<Buffer> => decompressAs(data, algorithm, opts),
		reply: (out) => movable(out),
		receive: asBuffer,
	}),
	/** decode as the target kernel would (formats/kernel.ts); the caller keeps its bytes (they are copied) */
	kernelDecode: op({
		run: (data: Uint8Array, decompressor: KernelDecompressor, opts: {maxOutput: number}): Promise<KernelDecode> => decodeAsKernel(data, decompressor, opts),
		reply: (k) => movable(k.data, k.partial),
		receive: (k) => ({...k, ...(k.data ? {data: asBuffer(k.data)} : {}), ...(k.partial ? {partial: asBuffer(k.partial)} : {})}),
	}),
	/** compress and decode back as the target would (formats/checked.ts); the image moves to the worker and comes back */
	compressChecked: op({
		run: async (image: Buffer, params: CompressionParams, decompressor: KernelDecompressor, opts: {maxOutput: number; threads?: number}): Promise<CheckedEncode & {image: Buffer}> => ({
			...await encodeChecked(image, params, decompressor, opts.maxOutput, opts.threads === undefined ? {} : {threads: opts.threads}), image,
		}),
		send: (image) => movable(image),
		reply: (r) => movable(r.data, r.image),
		receive: (r) => ({...r, data: asBuffer(r.data), image: asBuffer(r.image)}),
	}),
	/** the verifier's per-file work: decode as the target's loader would and analyse the image (verify/checks/load.ts) */
	verifyLoad: op({
		run: (data: Buffer, path: string, opts: LoadOptions): Promise<Loaded> => loadImage(data, path, opts, decompressAs),
		send: (data) => movable(data),
	}),
	/** its second half on an image decoded elsewhere (workers/lanes.ts): the image moves to the worker */
	verifyAnalyse: op({
		run: async (image: Buffer, loaded: Loaded, opts: LoadOptions): Promise<Loaded> => analyseForLoad(loaded, image, opts),
		send: (image) => movable(image),
	}),
	/** the certificates built into a kernel image (verify/checks/image-certs.ts): it decodes the whole kernel */
	imageCertificates: op({
		run: (image: Buffer, path: string, opts: {maxOutput: number}) => imageCertificatesOf(image, path, opts.maxOutput),
		send: (image) => movable(image),
	}),
};

export type OpName = keyof typeof OPS;
type OpArgs<K extends OpName> = Parameters<(typeof OPS)[K]['run']>;
type OpResult<K extends OpName> = Awaited<ReturnType<(typeof OPS)[K]['run']>>;

/** Every operation as a method, and close(): what the worker pool and the inline pool offer. */
export type CodecPool = {[K in OpName]: (...args: OpArgs<K>) => Promise<OpResult<K>>} & {close(): Promise<void>};

/** What the pool posts to a worker, and what the worker answers (an error as errors.ts's wire form). */
export type Request = {id: number; op: OpName; args: unknown[]};
export type Reply = {id: number; ok: true; value: unknown} | {id: number; ok: false; error: ErrorWire};
