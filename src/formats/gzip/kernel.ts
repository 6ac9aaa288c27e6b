// What the kernel's module_gzip_decompress() (kernel/module/decompress.c, 5.17+) does with a file:
// module_gzip_header_len() accepts 1F 8B 08 and skips 10 bytes plus a NUL-terminated FNAME when FLG has 0x08 — and
// nothing else: FEXTRA, FCOMMENT and FHCRC bytes are fed to the raw inflater, which fails with Z_DATA_ERROR (-3).
// zlib_inflate() runs until Z_STREAM_END of the first deflate stream; the trailer (CRC32, ISIZE) is never read and
// further members are ignored. Input that ends early: Z_BUF_ERROR (-5).
//
//   member: 1F 8B 08 | FLG | MTIME 4 | XFL | OS | [FEXTRA] [FNAME\0] [FCOMMENT\0] [FHCRC 2] | deflate | CRC32 | ISIZE
import {inflateRawSync} from 'node:zlib';
import type {KernelDecode} from '../kernel-decode.js';

/** module_gzip_header_len(): 0 when the kernel says "not a gzip compressed module". */
export function kernelGzipHeaderLen(b: Uint8Array): number {
	let len = 10;
	if (b.length < len || b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 0x08) return 0;
	if (b[3]! & 0x08) {
		do {
			if (len === b.length) return 0;
		} while (b[len++] !== 0);
	}
	return len;
}

export function decodeGzipAsKernel(b: Uint8Array, maxOutput: number): KernelDecode {
	const notes: string[] = [];
	const hdr = kernelGzipHeaderLen(b);
	if (hdr === 0) {
		return {ok: false, algorithm: 'gzip', message: 'not a gzip compressed module', reason: b[0] === 0x1f && b[1] === 0x8b ? 'not deflate (CM != 8) or an unterminated file name' : 'no gzip magic at the start (EINVAL)', notes};
	}
	const flg = b[3]!;
	const extra = [flg & 0x04 ? 'FEXTRA' : '', flg & 0x10 ? 'FCOMMENT' : '', flg & 0x02 ? 'FHCRC' : ''].filter(Boolean);
	try {
		const data = inflateRawSync(b.subarray(hdr), {maxOutputLength: maxOutput});
		if (extra.length) notes.push(`${extra.join(', ')} in the header: the kernel inflates those bytes as data and got lucky`);
		return {ok: true, algorithm: 'gzip', message: 'decompressed by the kernel', reason: '', data, notes};
	} catch (e) {
		const err = e as NodeJS.ErrnoException & {errno?: number};
		if (err.code === 'ERR_BUFFER_TOO_LARGE') return {ok: false, algorithm: 'gzip', message: 'inflates too far', reason: `past ${maxOutput} bytes (a decompression bomb?)`, notes, bomb: true};
		const status = typeof err.errno === 'number' ? err.errno : -3;
		const why = extra.length ? `${extra.join(', ')} in the header: the kernel's module_gzip_header_len() skips only FNAME, so it inflates them as deflate data` : status === -5 ? 'the data ends before the deflate stream does (truncated)' : `corrupt deflate data (${err.message})`;
		return {ok: false, algorithm: 'gzip', status, message: `decompression failed with status ${status}`, reason: why, notes};
	}
}
