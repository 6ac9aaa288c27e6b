// Decoders that accept exactly what the target kernel's kernel/module/decompress.c accepts, with its verdicts in
// its own words. Only the one algorithm of MODULE_COMPRESS_<ALG> is built into a kernel: a file of another algorithm
// gets "not a … compressed module" (EINVAL), and kmod >= 31 then decompresses it in userspace.
import {DEFAULT_MAX_DECOMPRESSED} from './table.js';
import type {Algorithm, KernelDecompressor} from '../types.js';
import {decodeGzipAsKernel} from './gzip/kernel.js';
import {decodeXzAsKernel} from './xz/kernel.js';
import {decodeZstdAsKernel} from './zstd/kernel.js';
import type {Scratch} from './scratch.js';
import type {KernelDecode} from './kernel-decode.js';

export type {KernelDecode} from './kernel-decode.js';

/** Decode `bytes` the way the kernel with `decompressor` would. The caller checks the algorithm matches first.
 * `into`: assemble the output in this reusable buffer (xz); `data` is then a view, valid until its next use. */
export async function decodeAsKernel(bytes: Uint8Array, decompressor: KernelDecompressor, opts: {maxOutput?: number; algorithm?: Algorithm; into?: Scratch} = {}): Promise<KernelDecode> {
	const maxOutput = opts.maxOutput ?? DEFAULT_MAX_DECOMPRESSED;
	const alg = opts.algorithm ?? decompressor.algorithm;
	if (alg === 'xz') return decodeXzAsKernel(bytes, decompressor.xzBcj, maxOutput, opts.into);
	if (alg === 'zstd') return decodeZstdAsKernel(bytes, maxOutput);
	if (alg === 'gzip') return decodeGzipAsKernel(bytes, maxOutput);
	return {ok: false, algorithm: 'xz', message: 'this kernel does not decompress modules itself', reason: 'no CONFIG_MODULE_DECOMPRESS', notes: []};
}
