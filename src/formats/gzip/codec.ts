// gzip as kmodpress writes it and as kmod reads it in userspace (libkmod/libkmod-file-zlib.c: gzread, every member),
// through node:zlib. The kernel's own decode is kernel.ts. The header is what `gzip -n` writes (ID1 ID2 CM=8 FLG=0
// MTIME=0 XFL OS=3): no name, no time, none of FEXTRA/FCOMMENT/FHCRC (the kernel's zlib_inflate path refuses those).
// The deflate body differs from the gzip tool's at the same level (zlib vs gzip's own deflate); the kernel and kmod
// read any valid deflate stream, so kmodpress does not shell out to gzip.
import {kMaxLength} from 'node:buffer';
import {gunzipSync, gzipSync} from 'node:zlib';
import {KmodpressError} from '../../errors.js';
import {BOMB_FIX} from '../table.js';
import type {GzipParams} from '../../types.js';

export function compressGzip(data: Uint8Array, params: GzipParams): Buffer {
	const out = gzipSync(data, {level: params.level});
	// zlib writes OS=3 (Unix) on Linux and XFL from the level; MTIME is already 0. Make OS explicit for other hosts.
	out[9] = 3;
	return out;
}

/** kmod's userspace view (gzread: every member, to the end). Synchronous: in a codec worker an asynchronous zlib
 * stream would run on libuv's thread pool — shared with every file operation — while the worker sat idle. */
export async function decompressGzip(data: Uint8Array, opts: {maxOutput: number}): Promise<Buffer> {
	try {
		return gunzipSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {maxOutputLength: Math.max(1, Math.min(opts.maxOutput, kMaxLength))});
	} catch (e) {
		const err = e as NodeJS.ErrnoException;
		if (err.code === 'ERR_BUFFER_TOO_LARGE') {
			throw new KmodpressError('E_CODEC_BOMB', `gzip data inflates past ${opts.maxOutput} bytes (a decompression bomb?)`, {fix: BOMB_FIX});
		}
		throw new KmodpressError('E_CODEC_CORRUPT', `gzip: ${err.message}`, {cause: e});
	}
}
