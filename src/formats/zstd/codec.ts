// zstd as kmodpress writes it and as kmod reads it in userspace (libkmod/libkmod-file-zstd.c), through libzstd 1.5.7
// (zstd-napi, synchronous: run it in a worker). Written: one frame, checksum and content size as the zstd CLI writes
// them from a file. The kernel's own decode is stricter — the first frame only, and a window of at most 128 MiB
// (ZSTD_WINDOWLOG_LIMIT_DEFAULT in kernel.ts, where that decode lives).
import {zstdNapi} from './napi.js';
import {parseZstdFrameHeader} from './header.js';
import {KmodpressError} from '../../errors.js';
import {BOMB_FIX} from '../table.js';
import type {ZstdParams} from '../../types.js';

export function compressZstd(data: Uint8Array, params: ZstdParams): Buffer {
	const c = new (zstdNapi().Compressor)();
	c.setParameters({
		compressionLevel: params.level,
		checksumFlag: params.checksum,
		contentSizeFlag: params.contentSize,
		...(params.windowLog === undefined ? {} : {windowLog: params.windowLog}),
	});
	return c.compress(data);
}

export function decompressZstd(data: Uint8Array, opts: {maxOutput: number}): Promise<Buffer> {
	const header = parseZstdFrameHeader(data);
	const declared = header && !('status' in header) ? header.contentSize : undefined;
	if (declared !== undefined && declared > BigInt(opts.maxOutput)) {
		return Promise.reject(new KmodpressError('E_CODEC_BOMB', `zstd frame declares ${declared} bytes, past the bound of ${opts.maxOutput} (a decompression bomb?)`, {fix: BOMB_FIX}));
	}
	return new Promise((resolve, reject) => {
		const d = new (zstdNapi().DecompressStream)();
		const chunks: Buffer[] = [];
		let total = 0;
		let done = false;
		d.on('data', (chunk: Buffer) => {
			if (done) return;
			total += chunk.length;
			if (total > opts.maxOutput) {
				done = true;
				d.destroy();
				reject(new KmodpressError('E_CODEC_BOMB', `zstd data inflates past ${opts.maxOutput} bytes (a decompression bomb?)`, {fix: BOMB_FIX}));
				return;
			}
			chunks.push(chunk);
		});
		d.on('end', () => {
			if (!done) {
				done = true;
				resolve(Buffer.concat(chunks, total));
			}
		});
		d.on('error', (e: Error) => {
			if (!done) {
				done = true;
				reject(new KmodpressError('E_CODEC_CORRUPT', `zstd: ${e.message.replace(/^zstd: /i, '')}`, {cause: e}));
			}
		});
		d.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
	});
}
