// Which of the xz command's two containers a .xz file is, from its first block header (xz's doc/xz-file-format.txt,
// 2.1.1 Stream Header and 3.1 Block Header):
//
//   0           6        8          12           13             14 …
//   +-----------+--------+----------+------------+--------------+---------------------------------------------+
//   | FD 37 7A  | Stream | CRC32 of | Block      | Block Flags  | [Compressed Size] [Uncompressed Size]       |
//   | 58 5A 00  | Flags  | the flags| Header Size|              | (multibyte integers, present per the flags) |
//   +-----------+--------+----------+------------+--------------+---------------------------------------------+
//
// Block Flags: bits 0-1 = filters - 1, 0x40 = Compressed Size present, 0x80 = Uncompressed Size present.
//   'single'  `xz -T1` (lzma_stream_encoder, src/liblzma/common/stream_encoder.c): one block, no sizes (flags 0x00)
//   'multi'   multi-threaded xz (lzma_stream_encoder_mt, stream_encoder_mt.c: each block is finished before its header
//             is written, so both sizes are known): flags 0xC0
// So offset 13 tells them apart (the header size at offset 12 differs too: cmp's "byte 13"). Anything else (no block, one size only, a file shorter than 14 bytes) is 'other'.
import type {XzFormat} from '../../types.js';

const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] as const;
const HAS_SIZES = 0xc0;

/** The container of xz bytes (the first 14 are enough), or null when they are not xz. Pure. */
export function xzContainer(head: Uint8Array): XzFormat | 'other' | null {
	if (head.length < MAGIC.length || MAGIC.some((b, i) => head[i] !== b)) return null;
	// byte 12 = 0: an index indicator, i.e. a stream without blocks (an empty input)
	if (head.length < 14 || head[12] === 0) return 'other';
	const sizes = head[13]! & HAS_SIZES;
	return sizes === 0 ? 'single' : sizes === HAS_SIZES ? 'multi' : 'other';
}

/** How explain names each container. */
export const XZ_FORMAT_WORDS: Readonly<Record<XzFormat | 'other', string>> = {
	single: 'single-threaded format (xz -T1: one block, no sizes in its header)',
	multi: 'multi-threaded format (blocks of max(3 × dict, 1 MiB), sizes in each block header)',
	other: 'another xz layout (neither xz -T1 nor multi-threaded xz)',
};
