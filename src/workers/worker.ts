// A codec worker: zstd-napi is synchronous and liblzma is CPU-bound, so every (de)compression runs here, off the
// main thread: compress, decompress, compressChecked (encode + decode back), kernelDecode, verifyLoad (verify/load.ts),
// verifyAnalyse (its second half), imageCertificates (verify/image-certs.ts); each request {id, op, …} gets
// {id, ok, value | data | error}. Nothing here awaits a module import: a worker kept busy by synchronous requests
// rarely gets to its event loop, and a request waiting on an import waited seconds behind the modules queued after it.
import {parentPort} from 'node:worker_threads';
import {isKmodpressError} from '../errors.js';
import type {Algorithm, CompressionParams, KernelDecompressor} from '../types.js';
import {decodeAsKernel} from '../formats/kernel.js';
import {imageCertificatesOf} from '../verify/checks/image-certs.js';
import {analyseForLoad, loadImage, type Loaded, type LoadOptions} from '../verify/checks/load.js';
import {encodeChecked} from '../formats/checked.js';
import {codecFor, decompressAs} from '../formats/index.js';
import {asBuffer, movable} from './transfer.js';

type Request =
	| {id: number; op: 'compress'; data: Uint8Array; params: CompressionParams}
	| {id: number; op: 'decompress'; data: Uint8Array; algorithm: Algorithm; maxOutput: number}
	| {id: number; op: 'compressChecked'; data: Uint8Array; params: CompressionParams; decompressor: KernelDecompressor; maxOutput: number}
	| {id: number; op: 'verifyLoad'; data: Uint8Array; path: string; opts: LoadOptions}
	| {id: number; op: 'verifyAnalyse'; data: Uint8Array; loaded: Loaded; opts: LoadOptions}
	| {id: number; op: 'kernelDecode'; data: Uint8Array; decompressor: KernelDecompressor; maxOutput: number}
	| {id: number; op: 'imageCertificates'; data: Uint8Array; path: string; maxOutput: number};

parentPort!.on('message', async (req: Request) => {
	try {
		if (req.op === 'kernelDecode') {
			const value = await decodeAsKernel(req.data, req.decompressor, {maxOutput: req.maxOutput});
			parentPort!.postMessage({id: req.id, ok: true, value}, movable(value.data, value.partial));
			return;
		}
		if (req.op === 'compressChecked') {
			const r = await encodeChecked(req.data, req.params, req.decompressor, req.maxOutput);
			// both buffers go back without a copy (the image came here the same way)
			parentPort!.postMessage({id: req.id, ok: true, value: {...r, image: req.data}}, movable(r.data, req.data));
			return;
		}
		if (req.op === 'imageCertificates') {
			parentPort!.postMessage({id: req.id, ok: true, value: await imageCertificatesOf(req.data, req.path, req.maxOutput)});
			return;
		}
		if (req.op === 'verifyLoad') {
			const value = await loadImage(asBuffer(req.data), req.path, req.opts, decompressAs);
			parentPort!.postMessage({id: req.id, ok: true, value});
			return;
		}
		if (req.op === 'verifyAnalyse') {
			const value = analyseForLoad(req.loaded, asBuffer(req.data), req.opts);
			parentPort!.postMessage({id: req.id, ok: true, value});
			return;
		}
		const out = req.op === 'compress'
			? await codecFor(req.params.algorithm).compress(req.data, req.params)
			: await codecFor(req.algorithm).decompress(req.data, {maxOutput: req.maxOutput});
		// hand the bytes over without a copy: a fresh ArrayBuffer the worker no longer needs
		const ab = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out.buffer : out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
		parentPort!.postMessage({id: req.id, ok: true, data: new Uint8Array(ab as ArrayBuffer)}, [ab as ArrayBuffer]);
	} catch (e) {
		const error = isKmodpressError(e) ? {code: e.code, message: e.message, fix: e.fix} : {code: 'E_INTERNAL', message: String((e as Error)?.stack ?? e)};
		parentPort!.postMessage({id: req.id, ok: false, error});
	}
});
