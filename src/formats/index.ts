// The codecs (libkmod-file.c's comp_types[]): one per row of table.ts's FORMATS, which holds each algorithm's suffix
// and magic; this file adds how to encode and how kmod decodes. Detection is by magic, never by suffix. A new
// algorithm is one folder (codec.ts, kernel.ts) plus one row there and one entry here.
import type {Algorithm, CompressionParams} from '../types.js';
import {compressGzip, decompressGzip} from './gzip/codec.js';
import {FORMATS, startsWith, type FormatRow} from './table.js';
import {compressXz, decompressXz} from './xz/codec.js';
import {startsWithSkippableFrame} from './zstd/header.js';
import {compressZstd, decompressZstd} from './zstd/codec.js';

export interface EncodeOptions {
	/** cores one module may be encoded on (xz's multi-threaded format; the bytes do not depend on it) */
	threads?: number;
}

export interface Codec extends FormatRow {
	compress(data: Uint8Array, params: CompressionParams, opts?: EncodeOptions): Promise<Buffer>;
	/** the userspace view (what kmod reads); stops past maxOutput with E_CODEC_BOMB */
	decompress(data: Uint8Array, opts: {maxOutput: number}): Promise<Buffer>;
}

type Params<A extends Algorithm> = Extract<CompressionParams, {algorithm: A}>;

const ENCODE_DECODE: Readonly<Record<Algorithm, Pick<Codec, 'compress' | 'decompress'>>> = {
	xz: {compress: (d, p, o) => compressXz(d, p as Params<'xz'>, o), decompress: decompressXz},
	zstd: {compress: async (d, p) => compressZstd(d, p as Params<'zstd'>), decompress: decompressZstd},
	gzip: {compress: async (d, p) => compressGzip(d, p as Params<'gzip'>), decompress: decompressGzip},
};

export const CODECS: readonly Codec[] = FORMATS.map((row) => ({...row, ...ENCODE_DECODE[row.algorithm]}));

export type Detected = Algorithm | 'elf' | 'lzma' | 'zlib' | 'zstd-skippable' | null;

const ELF_MAGIC = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46);

/** What the bytes are: a codec's algorithm, a plain ELF, a format no kernel decompresses, or null (unknown). */
export function detectFormat(bytes: Uint8Array): Detected {
	const row = FORMATS.find((f) => startsWith(bytes, f.magic));
	if (row) return row.algorithm;
	if (startsWith(bytes, ELF_MAGIC)) return 'elf';
	// the kernel says "not a zstd compressed module"
	if (startsWithSkippableFrame(bytes)) return 'zstd-skippable';
	// legacy .lzma: properties byte 0x5d and a 32-bit dictionary size
	if (bytes.length >= 13 && bytes[0] === 0x5d && bytes[1] === 0x00 && bytes[2] === 0x00) return 'lzma';
	// a zlib wrapper (CMF/FLG with the FCHECK property)
	if (bytes.length >= 2 && (bytes[0]! & 0x0f) === 8 && ((bytes[0]! << 8) | bytes[1]!) % 31 === 0) return 'zlib';
	return null;
}

export function codecFor(algorithm: Algorithm): Codec {
	return CODECS.find((c) => c.algorithm === algorithm)!;
}

/** kmod's userspace decompression of a module (verify/checks/load.ts's Decompress). */
export const decompressAs = (data: Uint8Array, algorithm: Algorithm, opts: {maxOutput: number}): Promise<Buffer> => codecFor(algorithm).decompress(data, opts);
