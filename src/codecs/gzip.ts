// gzip through node:zlib. The header is what `gzip -n` writes (ID1 ID2 CM=8 FLG=0 MTIME=0 XFL OS=3): no name, no
// time, none of FEXTRA/FCOMMENT/FHCRC (the kernel's zlib_inflate path refuses those). The deflate body differs from
// the gzip tool's at the same level (zlib vs gzip's own deflate); the kernel and kmod read any valid deflate stream,
// so kmodpress does not shell out to gzip.
import {createGunzip, gzipSync} from 'node:zlib';
import {KmodpressError} from '../errors.js';
import type {GzipParams} from '../types.js';

export function compressGzip(data: Uint8Array, params: GzipParams): Buffer {
	const out = gzipSync(data, {level: params.level});
	// zlib writes OS=3 (Unix) on Linux and XFL from the level; MTIME is already 0. Make OS explicit for other hosts.
	out[9] = 3;
	return out;
}

export function decompressGzip(data: Uint8Array, opts: {maxOutput: number}): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const g = createGunzip();
		const chunks: Buffer[] = [];
		let total = 0;
		let done = false;
		g.on('data', (chunk: Buffer) => {
			if (done) return;
			total += chunk.length;
			if (total > opts.maxOutput) {
				done = true;
				g.destroy();
				reject(new KmodpressError('E_CODEC_BOMB', `gzip data inflates past ${opts.maxOutput} bytes (a decompression bomb?)`, {
					fix: 'if the module is genuine, raise maxDecompressedBytes in /etc/kmodpress/config.json',
				}));
				return;
			}
			chunks.push(chunk);
		});
		g.on('end', () => {
			if (!done) {
				done = true;
				resolve(Buffer.concat(chunks, total));
			}
		});
		g.on('error', (e: NodeJS.ErrnoException) => {
			if (!done) {
				done = true;
				reject(new KmodpressError('E_CODEC_CORRUPT', `gzip: ${e.message}`, {cause: e}));
			}
		});
		g.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
	});
}
