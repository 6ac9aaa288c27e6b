// What the kernel's module_xz_decompress() (kernel/module/decompress.c, 5.17+) does with a file: lib/xz in
// multi-call mode, xz_dec_init(XZ_DYNALLOC, (u32)-1), run until XZ_STREAM_END of the FIRST stream. Mirrors
// lib/xz/xz_dec_stream.c of 6.12 (dec_stream_header, dec_block_header, dec_stream_footer) for every header check and
// status; liblzma decodes the LZMA2 payload (same format, CRC32 verified).
//
//   .xz stream:  [Stream Header 12][Block: Header | LZMA2 data | pad | check]…[Index][Stream Footer 12] [padding]…
//   Stream Header: FD 37 7A 58 5A 00 | flags 00 CC | CRC32(flags)            CC = check: 0 none, 1 crc32, 4 crc64, 10 sha256
//   Block Header:  size/4-1 | flags (0x03 filters-1, 0x40 csize, 0x80 usize) | [vli][vli] | filters | 00-pad | CRC32
//   Stream Footer: CRC32 | backward size/4-1 | flags 00 CC | 59 5A
//
// enum xz_ret (include/linux/xz.h): 0 OK, 1 STREAM_END, 2 UNSUPPORTED_CHECK, 3 MEM_ERROR, 4 MEMLIMIT_ERROR,
// 5 FORMAT_ERROR, 6 OPTIONS_ERROR, 7 DATA_ERROR, 8 BUF_ERROR. The kernel prints "decompression failed with status N".
import lzma from './lzma-native.js';
import type {KernelDecode} from '../kernel-decode.js';
import {hasMagic} from '../table.js';
import type {Scratch} from '../scratch.js';
import {nativeXzDecodeExact, nativeXzVersion} from './native.js';
import {CHECK_NAMES, crc32, kernelAcceptsXzCheck, XZ_STATUS} from './check.js';

export {XZ_STATUS} from './check.js';


/** BCJ filter IDs (xz_dec_bcj.c) by the name KernelDecompressor.xzBcj uses (CONFIG_XZ_DEC_<ARCH>). */
export const BCJ_IDS: Readonly<Record<number, string>> = {0x04: 'x86', 0x05: 'powerpc', 0x06: 'ia64', 0x07: 'arm', 0x08: 'armthumb', 0x09: 'sparc', 0x0a: 'arm64', 0x0b: 'riscv'};

const le32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

function vli(b: Uint8Array, pos: number, end: number): {value: number; next: number} | undefined {
	let value = 0;
	for (let i = 0; i < 9 && pos + i < end; i++) {
		const byte = b[pos + i]!;
		value += (byte & 0x7f) * 2 ** (7 * i);
		if ((byte & 0x80) === 0) return byte === 0 && i > 0 ? undefined : {value, next: pos + i + 1};
	}
	return undefined;
}

export interface XzStreamInfo {
	start: number;
	end: number;
	check: number;
	/** offsets of the block headers */
	blocks: number[];
	uncompressed: number;
}

/** Walk the file backwards (like `xz --list`): streams, stream padding, indexes. Undefined when the tail is not a
 * valid xz layout (truncated, corrupt, trailing garbage). */
export function xzStreams(b: Uint8Array): XzStreamInfo[] | undefined {
	const streams: XzStreamInfo[] = [];
	let end = b.length;
	while (end > 0) {
		let p = end;
		while (p >= 4 && le32(b, p - 4) === 0) p -= 4; // stream padding
		if (p < 24) return undefined;
		const f = p - 12;
		if (b[f + 10] !== 0x59 || b[f + 11] !== 0x5a) return undefined;
		if (crc32(b.subarray(f + 4, f + 10)) !== le32(b, f)) return undefined;
		const indexSize = (le32(b, f + 4) + 1) * 4;
		const check = b[f + 9]!;
		const ix = f - indexSize;
		if (ix < 12 || b[ix] !== 0x00) return undefined;
		if (crc32(b.subarray(ix, f - 4)) !== le32(b, f - 4)) return undefined;
		const count = vli(b, ix + 1, f - 4);
		if (!count) return undefined;
		let q = count.next;
		const records: {unpadded: number; uncompressed: number}[] = [];
		for (let i = 0; i < count.value; i++) {
			const u = vli(b, q, f - 4);
			if (!u) return undefined;
			const c = vli(b, u.next, f - 4);
			if (!c) return undefined;
			records.push({unpadded: u.value, uncompressed: c.value});
			q = c.next;
		}
		const blocksSize = records.reduce((a, r) => a + Math.ceil(r.unpadded / 4) * 4, 0);
		const start = ix - blocksSize - 12;
		if (start < 0) return undefined;
		if (!hasMagic(b.subarray(start), 'xz')) return undefined;
		const blocks: number[] = [];
		let off = start + 12;
		for (const r of records) {
			blocks.push(off);
			off += Math.ceil(r.unpadded / 4) * 4;
		}
		streams.unshift({start, end: p, check, blocks, uncompressed: records.reduce((a, r) => a + r.uncompressed, 0)});
		end = start;
	}
	return streams;
}

/** dec_block_header(): the status of the block header at `off` for this kernel's BCJ filters. */
function blockHeaderStatus(b: Uint8Array, off: number, bcj: ReadonlySet<string>): {status: number; why: string} {
	if (off >= b.length) return {status: XZ_STATUS.OK, why: 'the data ends before a block header'};
	if (b[off] === 0x00) return {status: XZ_STATUS.OK, why: 'index'};
	const size = (b[off]! + 1) * 4;
	if (off + size > b.length) return {status: XZ_STATUS.OK, why: 'the data ends inside a block header'};
	const h = b.subarray(off, off + size);
	if (crc32(h.subarray(0, size - 4)) !== le32(h, size - 4)) return {status: XZ_STATUS.DATA_ERROR, why: 'block header CRC32 mismatch'};
	const flags = h[1]!;
	const anyBcj = bcj.size > 0;
	if (flags & (anyBcj ? 0x3e : 0x3f)) {
		return {status: XZ_STATUS.OPTIONS_ERROR, why: (flags & 0x03) ? `a chain of ${(flags & 0x03) + 1} filters (this kernel's lib/xz takes LZMA2${anyBcj ? ' with at most one BCJ filter before it' : ' alone: no BCJ decoder is built in'})` : 'reserved block flags set'};
	}
	let pos = 2;
	if (flags & 0x40) {
		const v = vli(h, pos, size - 4);
		if (!v) return {status: XZ_STATUS.DATA_ERROR, why: 'bad compressed size field'};
		pos = v.next;
	}
	if (flags & 0x80) {
		const v = vli(h, pos, size - 4);
		if (!v) return {status: XZ_STATUS.DATA_ERROR, why: 'bad uncompressed size field'};
		pos = v.next;
	}
	if (flags & 0x01) {
		if (size - 4 - pos < 2) return {status: XZ_STATUS.OPTIONS_ERROR, why: 'truncated filter flags'};
		const id = h[pos++]!;
		const name = BCJ_IDS[id];
		if (!name || !bcj.has(name)) {
			return {status: XZ_STATUS.OPTIONS_ERROR, why: id === 0x03 ? 'a delta filter (lib/xz has no delta decoder)' : `filter 0x${id.toString(16)}${name ? ` (BCJ ${name}, CONFIG_XZ_DEC_${name.toUpperCase()} not set)` : ' (unknown to lib/xz)'}`};
		}
		if (h[pos++] !== 0x00) return {status: XZ_STATUS.OPTIONS_ERROR, why: `BCJ ${name} with a start offset`};
	}
	if (size - 4 - pos < 2) return {status: XZ_STATUS.DATA_ERROR, why: 'no room for the LZMA2 filter flags'};
	const id = h[pos++]!;
	if (id !== 0x21) return {status: XZ_STATUS.OPTIONS_ERROR, why: id === 0x03 ? 'a delta filter (lib/xz has no delta decoder)' : `filter 0x${id.toString(16)} where LZMA2 (0x21) must be`};
	if (h[pos++] !== 0x01) return {status: XZ_STATUS.OPTIONS_ERROR, why: 'LZMA2 properties size is not 1'};
	if (size - 4 - pos < 1) return {status: XZ_STATUS.DATA_ERROR, why: 'no LZMA2 properties byte'};
	if (h[pos++]! > 39) return {status: XZ_STATUS.OPTIONS_ERROR, why: 'LZMA2 dictionary size out of range'};
	while (pos < size - 4) if (h[pos++] !== 0x00) return {status: XZ_STATUS.OPTIONS_ERROR, why: 'non-zero block header padding'};
	return {status: XZ_STATUS.OK, why: ''};
}

/** liblzma, synchronously, fed 8 KiB at a time. Past `maxOutput` the output is dropped as it comes (memory stays at
 * the bound plus one output buffer, whatever the file inflates to) and feeding stops. `concatenated` decodes every
 * stream as kmod's userspace path does; without it only the first, as the kernel does. With `into`, the output is
 * assembled in that reusable buffer and `data` is a view of it, valid until the next decode into it. */
export function liblzmaDecode(b: Uint8Array, maxOutput: number, concatenated = false, into?: Scratch): {data?: Buffer; status: number; bomb?: boolean; why: string} {
	const LzmaStream = (lzma as unknown as {Stream: new () => NativeStream}).Stream;
	const s = new LzmaStream();
	s.streamDecoder_(null, concatenated ? LZMA_CONCATENATED : 0);
	s.setBufsize(64 << 10);
	const out: Buffer[] = [];
	let total = 0;
	let err: {name?: string} | undefined;
	let ended = false;
	s.bufferHandler = (buf: Buffer | null | undefined, _pc: unknown, e: {name?: string} | null | undefined) => {
		if (buf) {
			if (total + buf.length <= maxOutput) {
				if (into) into.append(total, buf);
				else out.push(buf);
			}
			total += buf.length;
		} else if (buf === null) {
			if (e) err = e;
			else ended = true;
		}
	};
	const collected = (): Buffer => (into ? into.view(total) : Buffer.concat(out, total));
	// One code() call decodes its whole slice before JS sees any output: 8 KiB slices bound that to ~56 MiB even for a
	// bomb of zeros (LZMA2 inflates those ~7000-fold), and cost nothing on real modules (measured: as fast as 1 MiB).
	const SLICE = 8 << 10;
	for (let off = 0; off < b.length && !ended && !err; off += SLICE) {
		s.code(Buffer.from(b.buffer, b.byteOffset + off, Math.min(SLICE, b.length - off)), false);
		if (total > maxOutput) return {status: XZ_STATUS.OK, bomb: true, why: `inflates past ${maxOutput} bytes`};
	}
	if (!ended && !err) s.code(null, false);
	if (total > maxOutput) return {status: XZ_STATUS.OK, bomb: true, why: `inflates past ${maxOutput} bytes`};
	if (ended) return {data: collected(), status: XZ_STATUS.STREAM_END, why: ''};
	const name = err?.name ?? '';
	// liblzma's BUF_ERROR (input ended) is the kernel's loop ending on XZ_OK with a short page: "status 0".
	if (name === 'LZMA_BUF_ERROR') return {data: collected(), status: XZ_STATUS.OK, why: 'the data ends before the stream does (truncated)'};
	if (name === 'LZMA_FORMAT_ERROR') return {status: XZ_STATUS.FORMAT_ERROR, why: 'not an xz stream'};
	if (name === 'LZMA_OPTIONS_ERROR') return {status: XZ_STATUS.OPTIONS_ERROR, why: 'unsupported options'};
	return {status: XZ_STATUS.DATA_ERROR, why: `corrupt data (${name || 'liblzma error'})`};
}
const LZMA_CONCATENATED = 0x08;
/** what an index may make a reused buffer grow to (it is kept); a larger image gets memory of its own */
const SCRATCH_MAX = 64 << 20;

/** liblzmaDecode's answer, the common case first: a file that decodes cleanly to exactly the size its index gives
 * (`size`: of the first stream, or of every stream when `concatenated`; read from the index when not given) in one
 * native call (native.ts); anything else (no valid index, an error, another size) through liblzmaDecode. */
export function decodeXz(b: Uint8Array, maxOutput: number, concatenated: boolean, o: {size?: number | undefined; into?: Scratch} = {}): ReturnType<typeof liblzmaDecode> {
	let size = o.size;
	if (size === undefined && nativeXzVersion) {
		const streams = xzStreams(b);
		size = concatenated ? streams?.reduce((a, s) => a + s.uncompressed, 0) : streams?.[0]?.uncompressed;
	}
	if (size !== undefined && size <= maxOutput && nativeXzVersion) {
		const out = o.into && size <= SCRATCH_MAX ? o.into.room(size) : Buffer.allocUnsafeSlow(size);
		if (nativeXzDecodeExact(b, out, concatenated)) return {data: out, status: XZ_STATUS.STREAM_END, why: ''};
	}
	o.into?.reserve(size ?? 0);
	return liblzmaDecode(b, maxOutput, concatenated, o.into);
}

interface NativeStream {
	streamDecoder_(memlimit: number | null, flags: number): void;
	code(data: Buffer | null, async: boolean): void;
	setBufsize(n: number): number;
	bufferHandler: (buf: Buffer | null | undefined, processed: unknown, err: {name?: string} | null | undefined) => void;
}

export function decodeXzAsKernel(b: Uint8Array, bcj: ReadonlySet<string>, maxOutput: number, into?: Scratch): KernelDecode {
	const notes: string[] = [];
	const fail = (status: number, why: string): KernelDecode => ({
		ok: false, algorithm: 'xz', status, message: `decompression failed with status ${status}`, reason: why, notes,
	});
	if (!hasMagic(b, 'xz')) {
		return {ok: false, algorithm: 'xz', message: 'not an xz compressed module', reason: 'no xz magic at the start (EINVAL)', notes};
	}
	// dec_stream_header
	if (b.length < 12) return fail(XZ_STATUS.OK, 'the data ends inside the stream header');
	if (crc32(b.subarray(6, 8)) !== le32(b, 8)) return fail(XZ_STATUS.DATA_ERROR, 'stream header CRC32 mismatch');
	if (b[6] !== 0) return fail(XZ_STATUS.OPTIONS_ERROR, 'reserved stream flags set');
	const check = b[7]!;
	if (!kernelAcceptsXzCheck(check)) {
		return fail(XZ_STATUS.OPTIONS_ERROR, `the stream uses a ${CHECK_NAMES[check] ?? `type ${check}`} check; the kernel's lib/xz verifies only crc32 or none (xz --check=crc32)`);
	}
	const streams = xzStreams(b);
	if (streams && streams.length > 0) {
		const first = streams[0]!;
		for (const off of first.blocks) {
			const h = blockHeaderStatus(b, off, bcj);
			if (h.status !== XZ_STATUS.OK) return fail(h.status, h.why);
		}
		if (first.uncompressed > maxOutput) {
			return {ok: false, algorithm: 'xz', message: `inflates to ${first.uncompressed} bytes`, reason: `past the bound of ${maxOutput} bytes (a decompression bomb?)`, notes, bomb: true};
		}
		if (streams.length > 1) notes.push(`${streams.length} concatenated streams: the kernel decodes only the first`);
		if (first.blocks.length > 1) notes.push(`${first.blocks.length} blocks (a multi-threaded xz wrote it); the kernel reads them all`);
	} else {
		const h = blockHeaderStatus(b, 12, bcj);
		if (h.status !== XZ_STATUS.OK) return fail(h.status, h.why);
		notes.push('the end of the file is not a valid xz index/footer (truncated, or bytes appended after the stream)');
	}
	const r = decodeXz(b, maxOutput, false, {size: streams?.[0]?.uncompressed, ...(into ? {into} : {})});
	if (r.bomb) return {ok: false, algorithm: 'xz', message: 'inflates too far', reason: `${r.why} (a decompression bomb?)`, notes, bomb: true};
	if (r.status !== XZ_STATUS.STREAM_END) return {...fail(r.status, r.why), ...(r.data ? {partial: r.data} : {})};
	return {ok: true, algorithm: 'xz', message: 'decompressed by the kernel', reason: '', data: r.data!, notes};
}
