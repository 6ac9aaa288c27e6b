// zstd through libzstd 1.5.7 (zstd-napi, synchronous: run it in a worker). One frame, checksum and content size as
// the CLI writes them from a file.
import {zstdNapi} from './napi.js';
import {KmodpressError} from '../../errors.js';
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

/** The frame header's declared content size, when present (RFC 8878 §3.1.1.1). Pure. */
export function zstdDeclaredSize(data: Uint8Array): bigint | undefined {
	if (data.length < 6 || data[0] !== 0x28 || data[1] !== 0xb5 || data[2] !== 0x2f || data[3] !== 0xfd) return undefined;
	const fhd = data[4]!;
	const fcsFlag = fhd >> 6;
	const single = (fhd >> 5) & 1;
	const dictFlag = fhd & 3;
	let off = 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag]!;
	const size = fcsFlag === 0 ? (single ? 1 : 0) : [1, 2, 4, 8][fcsFlag]!;
	if (size === 0 || off + size > data.length) return undefined;
	let v = 0n;
	for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[off + i]!);
	if (size === 2) v += 256n;
	return v;
}

export function decompressZstd(data: Uint8Array, opts: {maxOutput: number}): Promise<Buffer> {
	const declared = zstdDeclaredSize(data);
	if (declared !== undefined && declared > BigInt(opts.maxOutput)) {
		return Promise.reject(new KmodpressError('E_CODEC_BOMB', `zstd frame declares ${declared} bytes, past the bound of ${opts.maxOutput} (a decompression bomb?)`, {
			fix: 'if the module is genuine, raise maxDecompressedBytes in /etc/kmodpress/config.json',
		}));
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
				reject(new KmodpressError('E_CODEC_BOMB', `zstd data inflates past ${opts.maxOutput} bytes (a decompression bomb?)`, {
					fix: 'if the module is genuine, raise maxDecompressedBytes in /etc/kmodpress/config.json',
				}));
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
