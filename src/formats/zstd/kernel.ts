// The kernel's decode of a zstd module: module_zstd_decompress() in kernel/module/decompress.c (6.2+), on lib/zstd
// (zstd 1.5.2). It reads the frame header (zstd_get_frame_header(); header.ts) at the start — a skippable frame there
// is "not a zstd compressed module" —, checks the window (ZSTD_WINDOWLOG_LIMIT_DEFAULT below), then runs
// zstd_decompress_stream() page by page until it returns 0 (the end of the FIRST frame) or an error. A file that ends
// early is not an error to the decompressor: the kernel gets a truncated ELF and the load fails with ENOEXEC.
//
//   frame: 28 B5 2F FD | frame header (header.ts) | blocks (3-byte header: last, type, size)… | [xxh64 lo 4]
import {zstdNapi} from './napi.js';
import {parseZstdFrameHeader, startsWithSkippableFrame, ZSTD_STATUS, type ZstdFrameHeader} from './header.js';
import {hasMagic} from '../table.js';
import type {KernelDecode} from '../kernel-decode.js';

/** The kernel's zstd window limit: 2^27 bytes (128 MiB). module_zstd_decompress() passes the frame's window to
 * zstd_init_dstream(), which ignores it ((void)max_window_size in lib/zstd/zstd_decompress_module.c): the stream keeps
 * libzstd's default maximum, ZSTD_MAXWINDOWSIZE_DEFAULT = (1 << ZSTD_WINDOWLOG_LIMIT_DEFAULT) + 1
 * (lib/zstd/decompress/zstd_decompress.c; the 27 is in include/linux/zstd_lib.h), and zstd_decompress_stream() fails
 * a frame that needs more with ZSTD_error_frameParameter_windowTooLarge (16). Only a window log of 28 or more
 * (`zstd --long=28`, `--zstd=wlog=28`) gets there, on a module over 128 MiB or without a content size to clamp the
 * window to. */
export const ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27;
/** ZSTD_WINDOWLOG_MAX (64-bit): module_zstd_decompress() says "ZSTD-compressed data has too large a window size"
 * before decoding when the header asks for more than 2^31. */
const ZSTD_WINDOWLOG_MAX = 31;

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
	if (!hasMagic(b, 'zstd')) {
		return {ok: false, algorithm: 'zstd', message: 'not a zstd compressed module', reason: startsWithSkippableFrame(b) ? 'it starts with a skippable frame (EINVAL)' : 'no zstd magic at the start (EINVAL)', notes};
	}
	const fail = (status: number, why: string): KernelDecode => ({ok: false, algorithm: 'zstd', status, message: `ZSTD-decompression failed with status ${status}`, reason: why, notes});
	const h = parseZstdFrameHeader(b);
	if (h === undefined) return {ok: false, algorithm: 'zstd', message: 'ZSTD-compressed data has an incomplete frame header', reason: 'the data ends inside the frame header (EINVAL)', notes};
	if ('status' in h) return fail(h.status, 'reserved bit set in the frame header descriptor');
	if (h.windowSize > 2 ** ZSTD_WINDOWLOG_MAX) return {ok: false, algorithm: 'zstd', message: 'ZSTD-compressed data has too large a window size', reason: `window of ${h.windowSize} bytes (EINVAL)`, notes};
	// ZSTD_decompressStream(): the window is clamped to the content size when known, then checked against the limit.
	let window = Math.max(h.windowSize, 1 << 10);
	if (h.contentSize !== undefined && !h.singleSegment) window = Math.min(window, Math.max(Number(h.contentSize), 1));
	if (window > 2 ** ZSTD_WINDOWLOG_LIMIT_DEFAULT) {
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
		notes.push(startsWithSkippableFrame(rest) ? 'a skippable frame after the first frame: ignored by the kernel' : `${rest.length} bytes after the first frame: the kernel decodes only the first frame`);
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
