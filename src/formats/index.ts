// The codec table (libkmod-file.c's comp_types[]): detection by magic, never by suffix. A new algorithm is one
// codec file plus one row here.
import type {Algorithm, CompressionParams} from '../types.js';
import {compressGzip, decompressGzip} from './gzip/codec.js';
import {compressXz, decompressXz} from './xz/codec.js';
import {compressZstd, decompressZstd} from './zstd/codec.js';

export interface Codec {
	algorithm: Algorithm;
	suffix: '.gz' | '.xz' | '.zst';
	magic: Uint8Array;
	compress(data: Uint8Array, params: CompressionParams): Promise<Buffer>;
	/** the userspace view (what kmod reads); stops past maxOutput with E_CODEC_BOMB */
	decompress(data: Uint8Array, opts: {maxOutput: number}): Promise<Buffer>;
}

export const CODECS: readonly Codec[] = [
	{
		algorithm: 'xz', suffix: '.xz', magic: Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00),
		compress: (d, p) => compressXz(d, p as Extract<CompressionParams, {algorithm: 'xz'}>),
		decompress: decompressXz,
	},
	{
		algorithm: 'zstd', suffix: '.zst', magic: Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd),
		compress: async (d, p) => compressZstd(d, p as Extract<CompressionParams, {algorithm: 'zstd'}>),
		decompress: decompressZstd,
	},
	{
		algorithm: 'gzip', suffix: '.gz', magic: Uint8Array.of(0x1f, 0x8b),
		compress: async (d, p) => compressGzip(d, p as Extract<CompressionParams, {algorithm: 'gzip'}>),
		decompress: decompressGzip,
	},
];

export type Detected = Algorithm | 'elf' | 'lzma' | 'zlib' | 'zstd-skippable' | null;

const startsWith = (b: Uint8Array, m: Uint8Array): boolean => b.length >= m.length && m.every((x, i) => b[i] === x);

/** What the bytes are: a codec's algorithm, a plain ELF, a format no kernel decompresses, or null (unknown). */
export function detectFormat(bytes: Uint8Array): Detected {
	for (const c of CODECS) if (startsWith(bytes, c.magic)) return c.algorithm;
	if (startsWith(bytes, Uint8Array.of(0x7f, 0x45, 0x4c, 0x46))) return 'elf';
	// a zstd skippable frame (0x184D2A5?) — the kernel says "not a zstd compressed module"
	if (bytes.length >= 4 && (bytes[0]! & 0xf0) === 0x50 && bytes[1] === 0x2a && bytes[2] === 0x4d && bytes[3] === 0x18) return 'zstd-skippable';
	// legacy .lzma: properties byte 0x5d and a 32-bit dictionary size
	if (bytes.length >= 13 && bytes[0] === 0x5d && bytes[1] === 0x00 && bytes[2] === 0x00) return 'lzma';
	// a zlib wrapper (CMF/FLG with the FCHECK property)
	if (bytes.length >= 2 && (bytes[0]! & 0x0f) === 8 && ((bytes[0]! << 8) | bytes[1]!) % 31 === 0) return 'zlib';
	return null;
}

/** The algorithm of a compressed module, or undefined for anything else (plain ELF included). */
export function detectAlgorithm(bytes: Uint8Array): Algorithm | undefined {
	const f = detectFormat(bytes);
	return f === 'xz' || f === 'zstd' || f === 'gzip' ? f : undefined;
}

export function codecFor(algorithm: Algorithm): Codec {
	return CODECS.find((c) => c.algorithm === algorithm)!;
}

/** kmod's userspace decompression of a module (verify/load.ts's Decompress). */
export const decompressAs = (data: Uint8Array, algorithm: Algorithm, opts: {maxOutput: number}): Promise<Buffer> => codecFor(algorithm).decompress(data, opts);
