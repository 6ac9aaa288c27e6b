// Encode a module and decode the result back the way the target will read it — the kernel's own decompressor when
// it is this algorithm's, kmod's otherwise — in one step, so a codec worker does both without the image and the
// encoded bytes crossing the thread boundary twice. Pure: bytes in, bytes and a verdict out.
import {decodeAsKernel} from './kernel.js';
import type {CompressionParams, KernelDecompressor} from '../types.js';
import {codecFor, type EncodeOptions} from './index.js';

export interface CheckedEncode {
	data: Buffer;
	/** who decoded it back: "the kernel's decompressor" or "kmod" */
	how: string;
	/** undefined: the decoded bytes equal the image; otherwise why not */
	failure?: {kind: 'refused'; message: string} | {kind: 'mismatch'};
}

export async function encodeChecked(image: Uint8Array, params: CompressionParams, decompressor: KernelDecompressor, maxOutput: number, encode: EncodeOptions = {}): Promise<CheckedEncode> {
	const codec = codecFor(params.algorithm);
	const data = await codec.compress(image, params, encode);
	const equal = (b: Uint8Array | undefined): boolean => b !== undefined && Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(image);
	if (params.algorithm === decompressor.algorithm) {
		const k = await decodeAsKernel(data, decompressor, {maxOutput});
		const how = "the kernel's decompressor";
		if (!k.ok) return {data, how, failure: {kind: 'refused', message: k.message}};
		return equal(k.data) ? {data, how} : {data, how, failure: {kind: 'mismatch'}};
	}
	let back: Buffer | undefined;
	try {
		back = await codec.decompress(data, {maxOutput});
	} catch {
		back = undefined;
	}
	return equal(back) ? {data, how: 'kmod'} : {data, how: 'kmod', failure: {kind: 'mismatch'}};
}
