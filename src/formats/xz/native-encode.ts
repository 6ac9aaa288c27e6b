// kmodpress's own xz encoder (native/xz-encode.c, built by scripts/build-native.mjs against the system's liblzma):
// a whole module in one call, in the format of `xz -T1` (xz < 5.6's default) or of multi-threaded xz (`-T2`, `-T0`:
// xz >= 5.6's default), whose bytes do not depend on the thread count. Absent (not built, or
// KMODPRESS_NO_NATIVE_XZ=1), nativeXzEncode returns undefined and the caller encodes through lzma-native.
import {loadOwnAddon} from '../addon.js';
import {KmodpressError} from '../../errors.js';
import type {XzParams} from '../../types.js';

interface Addon {
	encode(input: Uint8Array, options: {preset: number; extreme: boolean; dictSize: number; check: XzParams['check']; threads: number; multithreaded: boolean}): Buffer;
	liblzmaVersion: string;
}

export interface NativeXzEncodeOptions {
	/** true: xz's multi-threaded format (blocks of max(3 × dict, 1 MiB) with their sizes in each block header); false:
	 * `xz -T1`'s single block. */
	multithreaded: boolean;
	/** Threads that encode in multi-threaded format (1 or more; the bytes are the same for any number). Ignored for
	 * the single-threaded format. */
	threads: number;
}

function load(): Addon | undefined {
	if (process.env.KMODPRESS_NO_NATIVE_XZ === '1') return undefined;
	// not built: undefined (the slower way); built but not loadable by this Node: E_NATIVE_ADDON
	return loadOwnAddon<Addon>('xz-encode', import.meta.url);
}

const addon = load();

/** The liblzma the native encoder runs, or undefined when it is not built. */
export const nativeXzEncodeVersion: string | undefined = addon?.liblzmaVersion;

/** `data` compressed as `xz -<preset>[e] --lzma2=dict=<dictSize> --check=<check>` writes it in the format chosen by
 * `multithreaded`, or undefined when the native encoder is not built. Throws KmodpressError E_CODEC_CORRUPT with
 * liblzma's status in words (as compressXz does) when liblzma fails. Synchronous: it holds the calling thread for
 * the whole module (a worker thread's, in kmodpress). */
export function nativeXzEncode(data: Uint8Array, params: XzParams, opts: NativeXzEncodeOptions): Buffer | undefined {
	if (!addon) return undefined;
	const {multithreaded, threads} = opts;
	if (multithreaded && !(Number.isInteger(threads) && threads >= 1)) {
		throw new KmodpressError('E_INTERNAL', `Expected the \`threads\` option to be a positive integer, got \`${threads}\` (${typeof threads})`);
	}
	try {
		return addon.encode(data, {preset: params.preset, extreme: params.extreme, dictSize: params.dictSize, check: params.check, threads, multithreaded});
	} catch (e) {
		const code = String((e as {code?: unknown})?.code ?? '');
		if (code.startsWith('LZMA_')) throw new KmodpressError('E_CODEC_CORRUPT', `${(e as Error).message} (while compressing)`, {cause: e});
		throw e;
	}
}
