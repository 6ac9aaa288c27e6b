// What the kernel's module_zstd_decompress() (kernel/module/decompress.c, 6.2+; lib/zstd 1.5.2) does with a file:
// zstd_get_frame_header() on the start (a skippable frame there is "not a zstd compressed module"), a window check,
// then zstd_decompress_stream() page by page until it returns 0 (the end of the FIRST frame) or an error.
// zstd_init_dstream() ignores its window argument: the stream keeps ZSTD_WINDOWLOG_LIMIT_DEFAULT (27), so a window
// over 128 MiB fails with ZSTD_error_frameParameter_windowTooLarge (16). A file that ends early is not an error to
// the decompressor: the kernel gets a truncated ELF and the load fails with ENOEXEC.
//
//   frame: 28 B5 2F FD | FHD | [WD] | [DictID 0/1/2/4] | [FCS 0/1/2/4/8] | blocks (3-byte header: last, type, size)… | [xxh64 lo 4]
//   FHD: bits 7-6 FCS size flag, 5 single segment, 2 checksum, 1-0 dictID size
//   zstd_errors.h: 10 prefix_unknown, 14 frameParameter_unsupported, 16 frameParameter_windowTooLarge,
//   20 corruption_detected, 22 checksum_wrong, 32 dictionary_wrong.
import {zstdNapi} from './napi.js';
import type {KernelDecode} from '../kernel-decode.js';

export const ZSTD_STATUS = {prefix_unknown: 10, frameParameter_unsupported: 14, frameParameter_windowTooLarge: 16, corruption_detected: 20, checksum_wrong: 22, dictionary_wrong: 32} as const;
const WINDOWLOG_LIMIT_DEFAULT = 27;
const WINDOWLOG_MAX = 31;

export interface ZstdFrameHeader {
	headerSize: number;
	windowSize: number;
	contentSize: bigint | undefined;
	dictId: number;
	checksum: boolean;
	singleSegment: boolean;
}

/** ZSTD_getFrameHeader(). Undefined when incomplete; throws a status for a reserved bit. */
export function parseZstdFrameHeader(b: Uint8Array, off = 0): ZstdFrameHeader | undefined | {status: number} {
	if (b.length < off + 5) return undefined;
	const fhd = b[off + 4]!;
	const fcsFlag = fhd >> 6;
	const single = (fhd >> 5) & 1;
	const checksum = ((fhd >> 2) & 1) === 1;
	const dictFlag = fhd & 3;
	if (fhd & 0x08) return {status: ZSTD_STATUS.frameParameter_unsupported};
	const dictSize = [0, 1, 2, 4][dictFlag]!;
	const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : [1, 2, 4, 8][fcsFlag]!;
	const headerSize = 5 + (single ? 0 : 1) + dictSize + fcsSize;
	if (b.length < off + headerSize) return undefined;
	let p = off + 5;
	let windowSize = 0;
	if (!single) {
		const wd = b[p++]!;
		const windowLog = 10 + (wd >> 3);
		const base = 2 ** windowLog;
		windowSize = base + (base / 8) * (wd & 7);
	}
	let dictId = 0;
	for (let i = 0; i < dictSize; i++) dictId += b[p + i]! * 2 ** (8 * i);
	p += dictSize;
	let contentSize: bigint | undefined;
	if (fcsSize > 0) {
		let v = 0n;
		for (let i = fcsSize - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i]!);
		if (fcsSize === 2) v += 256n;
		contentSize = v;
	}
	if (single) windowSize = Number(contentSize ?? 0n);
	return {headerSize, windowSize, contentSize, dictId, checksum, singleSegment: single === 1};
}

/** The end of the frame starting at `off` (walking the block headers), or undefined when the data ends first. */
export function zstdFrameEnd(b: Uint8Array, off: number, h: ZstdFrameHeader): number | undefined {
	let p = off + h.headerSize;
	for (;;) {
		if (p + 3 > b.length) return undefined;
		const bh = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
		const last = bh & 1;
		const type = (bh >> 1) & 3;
		const size = bh >>> 3;
		p += 3 + (type === 1 ? 1 : size);
		if (type === 3) return -1; // reserved block type: corruption
		if (p > b.length) return undefined;
		if (last) break;
	}
	p += h.checksum ? 4 : 0;
	return p > b.length ? undefined : p;
}

export function decodeZstdAsKernel(b: Uint8Array, maxOutput: number): KernelDecode {
	const notes: string[] = [];
	if (b.length < 4 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) {
		const skippable = b.length >= 4 && (b[0]! & 0xf0) === 0x50 && b[1] === 0x2a && b[2] === 0x4d && b[3] === 0x18;
		return {ok: false, algorithm: 'zstd', message: 'not a zstd compressed module', reason: skippable ? 'it starts with a skippable frame (EINVAL)' : 'no zstd magic at the start (EINVAL)', notes};
	}
	const fail = (status: number, why: string): KernelDecode => ({ok: false, algorithm: 'zstd', status, message: `ZSTD-decompression failed with status ${status}`, reason: why, notes});
	const h = parseZstdFrameHeader(b);
	if (h === undefined) return {ok: false, algorithm: 'zstd', message: 'ZSTD-compressed data has an incomplete frame header', reason: 'the data ends inside the frame header (EINVAL)', notes};
	if ('status' in h) return fail(h.status, 'reserved bit set in the frame header descriptor');
	if (h.windowSize > 2 ** WINDOWLOG_MAX) return {ok: false, algorithm: 'zstd', message: 'ZSTD-compressed data has too large a window size', reason: `window of ${h.windowSize} bytes (EINVAL)`, notes};
	// ZSTD_decompressStream: the window is clamped to the content size when known, then checked against 2^27.
	let window = Math.max(h.windowSize, 1 << 10);
	if (h.contentSize !== undefined && !h.singleSegment) window = Math.min(window, Math.max(Number(h.contentSize), 1));
	if (window > 2 ** WINDOWLOG_LIMIT_DEFAULT) {
		return fail(ZSTD_STATUS.frameParameter_windowTooLarge, `a window of ${window} bytes; the kernel's zstd stream allows at most 128 MiB (2^27)`);
	}
	if (h.dictId !== 0) return fail(ZSTD_STATUS.dictionary_wrong, `the frame needs dictionary ${h.dictId}; the kernel has none`);
	if (h.contentSize !== undefined && h.contentSize > BigInt(maxOutput)) {
		return {ok: false, algorithm: 'zstd', message: `declares ${h.contentSize} bytes`, reason: `past the bound of ${maxOutput} bytes (a decompression bomb?)`, notes, bomb: true};
	}
	const end = zstdFrameEnd(b, 0, h);
	if (end === -1) return fail(ZSTD_STATUS.corruption_detected, 'a reserved block type');
	if (end === undefined) {
		return {ok: false, algorithm: 'zstd', message: 'truncated: the kernel would get part of the module (ENOEXEC)', reason: 'the data ends inside the first frame', notes};
	}
	if (end < b.length) {
		const rest = b.subarray(end);
		const skippable = rest.length >= 4 && (rest[0]! & 0xf0) === 0x50 && rest[1] === 0x2a && rest[2] === 0x4d && rest[3] === 0x18;
		notes.push(skippable ? 'a skippable frame after the first frame: ignored by the kernel' : `${rest.length} bytes after the first frame: the kernel decodes only the first frame`);
	}
	try {
		const d = new (zstdNapi().Decompressor)();
		const data = d.decompress(b.subarray(0, end));
		if (data.length > maxOutput) return {ok: false, algorithm: 'zstd', message: 'inflates too far', reason: `past ${maxOutput} bytes (a decompression bomb?)`, notes, bomb: true};
		return {ok: true, algorithm: 'zstd', message: 'decompressed by the kernel', reason: '', data, notes};
	} catch (e) {
		const m = String((e as Error).message);
		if (/checksum/i.test(m)) return fail(ZSTD_STATUS.checksum_wrong, 'the content checksum does not match');
		return fail(ZSTD_STATUS.corruption_detected, `corrupt data (${m})`);
	}
}
