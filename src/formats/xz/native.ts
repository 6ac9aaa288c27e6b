// kmodpress's own xz decoder (native/xz-decode.c, built by scripts/build-native.mjs against the system's liblzma, the
// library libkmod/libkmod-file-xz.c decodes with): a whole file into a buffer the caller owns, in one call. Used for
// the common case only — a file whose xz index says how large it inflates and that decodes cleanly to exactly that;
// anything else (no valid index, an error, a size that does not match) goes through lzma-native's chunked path, which
// gives every verdict its words. Absent (not built), everything goes that way.
import {loadOwnAddon} from '../addon.js';

interface Addon {
	decode(input: Uint8Array, output: Uint8Array, concatenated: boolean): [ret: number, read: number, written: number];
	liblzmaVersion: string;
}

const LZMA_STREAM_END = 1;

function load(): Addon | undefined {
	if (process.env.KMODPRESS_NO_NATIVE_XZ === '1') return undefined;
	// not built: undefined (the slower way); built but not loadable by this Node: E_NATIVE_ADDON
	return loadOwnAddon<Addon>('xz-decode', import.meta.url);
}

const addon = load();

/** The liblzma the native decoder runs, or undefined when it is not built. */
export const nativeXzVersion: string | undefined = addon?.liblzmaVersion;

/** Decode `input` into `output` (exactly the size its index gives); true when it decoded cleanly to exactly that
 * size. False: not decoded here (no addon, an error, another size); the caller decodes it the slow way. */
export function nativeXzDecodeExact(input: Uint8Array, output: Uint8Array, concatenated: boolean): boolean {
	if (!addon) return false;
	const [ret, , written] = addon.decode(input, output, concatenated);
	return ret === LZMA_STREAM_END && written === output.length;
}
