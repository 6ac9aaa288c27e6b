// The xz facts that decide policy without decoding anything, kept free of liblzma so that `kmodpress explain`
// (policy) loads no codec: the status numbers of the kernel's lib/xz (include/linux/xz.h enum xz_ret, printed by
// kernel/module/decompress.c as "decompression failed with status N"), the check types of the .xz format
// (xz-file-format.txt §2.1.1.2) and the one rule about them, and the CRC32 that guards .xz headers.

export const XZ_STATUS = {OK: 0, STREAM_END: 1, UNSUPPORTED_CHECK: 2, MEM_ERROR: 3, MEMLIMIT_ERROR: 4, FORMAT_ERROR: 5, OPTIONS_ERROR: 6, DATA_ERROR: 7, BUF_ERROR: 8} as const;

/** Stream Flags check IDs by name. */
export const CHECK_NAMES: Readonly<Record<number, string>> = {0: 'none', 1: 'crc32', 4: 'crc64', 10: 'sha256'};

// The checks the kernel verifies: module_xz_decompress() (kernel/module/decompress.c) runs lib/xz built without
// XZ_DEC_ANY_CHECK, so dec_stream_header() (lib/xz/xz_dec_stream.c) answers XZ_OPTIONS_ERROR for any check but
// crc32 and none: an xz module with xz's default crc64, or sha256, fails "decompression failed with status 6".
export const KERNEL_XZ_CHECKS = ['crc32', 'none'] as const;
/** Whether the kernel's lib/xz takes a stream with this check: by name (XzCheck) or by the stream header's check ID. */
export function kernelAcceptsXzCheck(check: string | number): boolean {
	const name = typeof check === 'number' ? CHECK_NAMES[check] : check;
	return (KERNEL_XZ_CHECKS as readonly string[]).includes(name ?? '');
}

// CRC32 (IEEE 802.3, reflected, polynomial 0xEDB88320): what .xz uses for its stream flags, block headers and index.
// node:zlib's crc32 needs Node >= 20.15; Debian 12's nodejs is 18.
const CRC_TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

export function crc32(bytes: Uint8Array): number {
	let c = 0xffffffff;
	for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}
