// The one table of module file formats (libkmod-file.c's comp_types[]): for each compression algorithm its name,
// file suffix, magic bytes and the kmod build feature that reads it (`kmod --version`: +XZ +ZSTD +ZLIB), and the
// names a module file can have. Pure data: policy, the file walk and the CLI read it without loading any codec.
import type {Algorithm} from '../types.js';

export interface FormatRow {
	algorithm: Algorithm;
	suffix: '.gz' | '.xz' | '.zst';
	/** the first bytes of a file in this format: detection is by magic, never by suffix */
	magic: Uint8Array;
	/** kmod's feature word for the library that reads it (libkmod-file-{zlib,xz,zstd}.c) */
	kmodFeature: 'ZLIB' | 'XZ' | 'ZSTD';
}

export const FORMATS: readonly FormatRow[] = [
	{algorithm: 'gzip', suffix: '.gz', magic: Uint8Array.of(0x1f, 0x8b), kmodFeature: 'ZLIB'},
	{algorithm: 'xz', suffix: '.xz', magic: Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00), kmodFeature: 'XZ'},
	{algorithm: 'zstd', suffix: '.zst', magic: Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd), kmodFeature: 'ZSTD'},
];

/** Whether `bytes` start with `magic`. */
export function startsWith(bytes: Uint8Array, magic: Uint8Array): boolean {
	return bytes.length >= magic.length && magic.every((m, i) => bytes[i] === m);
}

/** Whether `bytes` start with the magic of `algorithm`. */
export function hasMagic(bytes: Uint8Array, algorithm: Algorithm): boolean {
	return startsWith(bytes, FORMATS.find((f) => f.algorithm === algorithm)!.magic);
}

export const ALGORITHMS: readonly Algorithm[] = FORMATS.map((f) => f.algorithm);
export const SUFFIX = Object.fromEntries(FORMATS.map((f) => [f.algorithm, f.suffix])) as Readonly<Record<Algorithm, FormatRow['suffix']>>;
export const KMOD_FEATURE = Object.fromEntries(FORMATS.map((f) => [f.algorithm, f.kmodFeature])) as Readonly<Record<Algorithm, FormatRow['kmodFeature']>>;

/** A module file's name: `foo.ko`, or `foo.ko` with one of the suffixes above. */
export const MODULE_NAME_RE = /\.ko(\.gz|\.xz|\.zst)?$/;

/** foo.ko.xz → foo.ko; foo.ko → foo.ko (a path keeps its directories). */
export function plainName(name: string): string {
	return name.replace(/\.(gz|xz|zst)$/, '');
}

/** The name a file gets when written in `algorithm` (null: plain). */
export function targetName(name: string, algorithm: Algorithm | null): string {
	return algorithm === null ? plainName(name) : `${plainName(name)}${SUFFIX[algorithm]}`;
}

/** The module's name as the kernel and modules.dep spell a file: drivers/net/foo.ko.xz → foo. */
export function moduleNameOfFile(path: string): string {
	return plainName(path.slice(path.lastIndexOf('/') + 1)).replace(/\.ko$/, '');
}

/** The bound on what one module may inflate to, unless configured (maxDecompressedBytes): 1 GiB, far above the
 * largest module of any distribution kernel (amdgpu.ko, ~30 MB) and far below what would exhaust memory. */
export const DEFAULT_MAX_DECOMPRESSED = 1 << 30;
/** The fix of a module refused for inflating past that bound (E_CODEC_BOMB). */
export const BOMB_FIX = 'if the module is genuine, raise maxDecompressedBytes in /etc/kmodpress/config.json';

/** The marker at the very end of a signed module (include/linux/module_signature.h MODULE_SIG_STRING). */
export const SIG_MAGIC = Buffer.from('~Module signature appended~\n');

/** Whether `bytes` end with the signature marker — on a compressed file: signed after compression. */
export function endsWithSignature(bytes: Uint8Array): boolean {
	return bytes.length > SIG_MAGIC.length && Buffer.from(bytes.buffer, bytes.byteOffset + bytes.length - SIG_MAGIC.length, SIG_MAGIC.length).equals(SIG_MAGIC);
}
