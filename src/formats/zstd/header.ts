// The zstd frame header (RFC 8878 §3.1.1.1), read as libzstd's ZSTD_getFrameHeader() reads it
// (lib/zstd/decompress/zstd_decompress.c; zstd_get_frame_header() in the kernel). The one parser of it: kmod's
// userspace decode (codec.ts: the declared size bounds the output), the kernel's decode (kernel.ts: the window and
// dictionary checks) and kmod >= 34's need for a content size (install, verify) all read it here.
//
//   +-------------+-----+------+------------------+----------------------+
//   | 28 B5 2F FD | FHD | [WD] | [Dictionary_ID]  | [Frame_Content_Size] |
//   |  magic (4)  | (1) | 0/1  |    0/1/2/4       |      0/1/2/4/8       |
//   +-------------+-----+------+------------------+----------------------+
//
//   FHD (Frame_Header_Descriptor):
//     bits 7-6  Frame_Content_Size_flag: 0 → FCS is 0 bytes (1 when Single_Segment), 1 → 2, 2 → 4, 3 → 8
//     bit  5    Single_Segment_flag: no WD; the window is the content size
//     bit  4    unused
//     bit  3    reserved: must be 0 (ZSTD_error_frameParameter_unsupported)
//     bit  2    Content_Checksum_flag: an xxh64 (low 4 bytes) ends the frame
//     bits 1-0  Dictionary_ID_flag: 0 → 0 bytes, 1 → 1, 2 → 2, 3 → 4
//   WD (Window_Descriptor): bits 7-3 exponent, 2-0 mantissa; windowLog = 10 + exponent,
//     Window_Size = 2^windowLog + 2^windowLog / 8 * mantissa
//   Frame_Content_Size: little-endian; the 2-byte form is stored minus 256
import {hasMagic} from '../table.js';

/** zstd_errors.h: the statuses the kernel prints as "ZSTD-decompression failed with status N". */
export const ZSTD_STATUS = {prefix_unknown: 10, frameParameter_unsupported: 14, frameParameter_windowTooLarge: 16, corruption_detected: 20, checksum_wrong: 22, dictionary_wrong: 32} as const;

export interface ZstdFrameHeader {
	headerSize: number;
	windowSize: number;
	/** Frame_Content_Size; undefined when the frame does not declare it (compressed from a pipe) */
	contentSize: bigint | undefined;
	dictId: number;
	checksum: boolean;
	singleSegment: boolean;
}

/** ZSTD_getFrameHeader() on the start of `b`: undefined when it is not a zstd frame or ends inside the header;
 * a status when the reserved bit is set. */
export function parseZstdFrameHeader(b: Uint8Array): ZstdFrameHeader | undefined | {status: number} {
	if (b.length < 5 || !hasMagic(b, 'zstd')) return undefined;
	const fhd = b[4]!;
	const fcsFlag = fhd >> 6;
	const single = (fhd >> 5) & 1;
	const checksum = ((fhd >> 2) & 1) === 1;
	const dictFlag = fhd & 3;
	if (fhd & 0x08) return {status: ZSTD_STATUS.frameParameter_unsupported};
	const dictSize = [0, 1, 2, 4][dictFlag]!;
	const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : [1, 2, 4, 8][fcsFlag]!;
	const headerSize = 5 + (single ? 0 : 1) + dictSize + fcsSize;
	if (b.length < headerSize) return undefined;
	let p = 5;
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

/** A skippable frame's magic (0x184D2A50-0x184D2A5F, little-endian) at the start of `b` (RFC 8878 §3.1.2). */
export function startsWithSkippableFrame(b: Uint8Array): boolean {
	return b.length >= 4 && (b[0]! & 0xf0) === 0x50 && b[1] === 0x2a && b[2] === 0x4d && b[3] === 0x18;
}
