// xz as kmodpress writes it and as kmod reads it in userspace (libkmod/libkmod-file-xz.c: liblzma, every stream, any
// check). Written in the container the policy decided (policy/xz-format.ts: the host xz's version, as for
// `make modules_install`), by the native encoder over the system's liblzma (native-encode.ts):
//   'single'  exactly as `xz <options> -T1` writes it (xz < 5.6's default): one stream, one block
//   'multi'   exactly as multi-threaded xz writes it (xz >= 5.6's default, xz 5.4's -T2): blocks of max(3 × dict,
//             1 MiB) with their sizes in each header, encoded on `threads` cores; the bytes do not depend on how many
// Without the native encoder (not built, or KMODPRESS_NO_NATIVE_XZ=1) the single-threaded format still comes from
// lzma-native (its bundled liblzma 5.2.3): one LZMA2 filter whose options are spelled out in full from xz's preset table
// (lzma-native ignores `dict_size`, and its `preset` option would override the dictionary), the check the kernel's
// command names; byte-identical to the xz CLI on Debian's 4230 shipped modules (test/formats/xz-corpus.test.ts).
// lzma-native's own multi-threaded path is not used: it wrote wrong dictionary sizes into block headers. The kernel's
// own decode is kernel.ts.
import lzma from './lzma-native.js';
import {availableParallelism} from 'node:os';
import {decodeXz} from './kernel.js';
import {nativeXzEncode} from './native-encode.js';
import {KmodpressError} from '../../errors.js';
import {BOMB_FIX} from '../table.js';
import type {XzCheck, XzParams} from '../../types.js';

/** liblzma's lzma_lzma_preset() (src/liblzma/lzma/lzma_encoder_presets.c), with the dictionary left to the caller. */
export function xzPresetOptions(preset: number, extreme: boolean): {lc: number; lp: number; pb: number; mode: number; niceLen: number; mf: number; depth: number} {
	if (!Number.isInteger(preset) || preset < 0 || preset > 9) throw new KmodpressError('E_POLICY_UNKNOWN', `xz preset ${preset} is not 0–9`);
	let mode: number;
	let mf: number;
	let niceLen: number;
	let depth: number;
	if (preset <= 3) {
		mode = lzma.MODE_FAST;
		mf = preset === 0 ? lzma.MF_HC3 : lzma.MF_HC4;
		niceLen = preset <= 1 ? 128 : 273;
		depth = [4, 8, 24, 48][preset]!;
	} else {
		mode = lzma.MODE_NORMAL;
		mf = lzma.MF_BT4;
		niceLen = preset === 4 ? 16 : preset === 5 ? 32 : 64;
		depth = 0;
	}
	if (extreme) {
		mode = lzma.MODE_NORMAL;
		mf = lzma.MF_BT4;
		if (preset === 3 || preset === 5) {
			niceLen = 192;
			depth = 0;
		} else {
			niceLen = 273;
			depth = 512;
		}
	}
	return {lc: 3, lp: 0, pb: 2, mode, niceLen, mf, depth};
}

const CHECK: Record<XzCheck, number> = {none: lzma.CHECK_NONE, crc32: lzma.CHECK_CRC32, crc64: lzma.CHECK_CRC64, sha256: lzma.CHECK_SHA256};

/** kmod's xz_uncompress_belch(): every liblzma status in words. */
export function xzErrorWords(e: unknown): string {
	const name = String((e as {name?: string})?.name ?? '');
	const code = (e as {code?: number})?.code;
	const byName: Record<string, string> = {
		LZMA_MEM_ERROR: 'xz: Memory allocation failed',
		LZMA_MEMLIMIT_ERROR: 'xz: Memory usage limit reached',
		LZMA_FORMAT_ERROR: 'xz: File format not recognized',
		LZMA_OPTIONS_ERROR: 'xz: Unsupported compression options',
		LZMA_DATA_ERROR: 'xz: File is corrupt',
		LZMA_BUF_ERROR: 'xz: Unexpected end of input',
		LZMA_UNSUPPORTED_CHECK: 'xz: Unsupported integrity check',
		LZMA_PROG_ERROR: 'xz: Internal error (bug)',
	};
	return byName[name] ?? `xz: ${(e as Error)?.message ?? String(e)}${code === undefined ? '' : ` (status ${code})`}`;
}

const bombError = (maxOutput: number): KmodpressError => new KmodpressError('E_CODEC_BOMB', `xz data inflates past ${maxOutput} bytes (a decompression bomb, or a module larger than the configured bound)`, {fix: BOMB_FIX});

function run(stream: NodeJS.ReadWriteStream, data: Uint8Array, maxOutput: number, what: string): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let total = 0;
		let done = false;
		stream.on('data', (chunk: Buffer) => {
			if (done) return;
			total += chunk.length;
			if (total > maxOutput) {
				done = true;
				(stream as unknown as {destroy?: () => void}).destroy?.();
				reject(bombError(maxOutput));
				return;
			}
			chunks.push(chunk);
		});
		stream.on('end', () => {
			if (!done) {
				done = true;
				resolve(Buffer.concat(chunks, total));
			}
		});
		stream.on('error', (e: unknown) => {
			if (!done) {
				done = true;
				reject(new KmodpressError('E_CODEC_CORRUPT', `${xzErrorWords(e)} (${what})`, {cause: e}));
			}
		});
		stream.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
	});
}

export interface XzEncodeOptions {
	/** cores that encode the multi-threaded format (default: all of them); the bytes are the same for any number */
	threads?: number;
}

/** What to do when the multi-threaded format is asked for and the native encoder is not there. */
export const NATIVE_ENCODER_FIX = 'build the native xz encoder: apt-get install gcc liblzma-dev, then node scripts/build-native.mjs --strict in kmodpress\'s directory (or rerun scripts/setup.sh; the Debian package ships it: reinstall kmodpress), and unset KMODPRESS_NO_NATIVE_XZ';

export function nativeEncoderMissing(): KmodpressError {
	return new KmodpressError('E_NATIVE_MISSING', 'this kernel\'s xz command writes the multi-threaded xz format (kmodpress explain says why), which only kmodpress\'s native xz encoder (build/xz-encode.node) writes; it is not built or not loaded', {fix: NATIVE_ENCODER_FIX});
}

export function compressXz(data: Uint8Array, params: XzParams, opts: XzEncodeOptions = {}): Promise<Buffer> {
	const multithreaded = params.format === 'multi';
	let native: Buffer | undefined;
	try {
		native = nativeXzEncode(data, params, {multithreaded, threads: opts.threads ?? availableParallelism()});
	} catch (e) {
		return Promise.reject(e);
	}
	if (native) return Promise.resolve(native);
	if (multithreaded) return Promise.reject(nativeEncoderMissing());
	const options = {dictSize: params.dictSize, ...xzPresetOptions(params.preset, params.extreme)};
	const stream = lzma.createStream('streamEncoder', {synchronous: true, check: CHECK[params.check], filters: [{id: lzma.FILTER_LZMA2, options}]});
	return run(stream, data, Number.MAX_SAFE_INTEGER, 'while compressing');
}

/** kmod's userspace xz path: every stream, any check and filter liblzma knows. Bounded: past maxOutput the output is
 * dropped as it is produced and the file refused (a decompression bomb never fills memory). */
export function decompressXz(data: Uint8Array, opts: {maxOutput: number}): Promise<Buffer> {
	const r = decodeXz(data, opts.maxOutput, true);
	if (r.bomb) {
		return Promise.reject(bombError(opts.maxOutput));
	}
	if (r.status !== 1 || !r.data) {
		return Promise.reject(new KmodpressError('E_CODEC_CORRUPT', `${r.why || 'corrupt xz data'} (while decompressing)`));
	}
	return Promise.resolve(r.data);
}
