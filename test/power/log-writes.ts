// A dm-log-writes log: parse it, pick the crash points, replay it onto a disk. Pure: the log is read and the disk
// written through functions, so the unit test runs on a log built in memory and the guest on block devices.
//
// Layout (drivers/md/dm-log-writes.c, Linux 6.12; the same reader: fstests src/log-writes/log-writes.c). All
// integers little-endian; "sector" is the data device's logical block size (`sectorsize`, 512 on virtio-blk).
//
//   sector 0                 struct log_write_super { le64 magic 0x6a736677736872; le64 version 1;
//                                                     le64 nr_entries; le32 sectorsize; } (rest of the sector zero)
//   sector 1                 struct log_write_entry { le64 sector; le64 nr_sectors; le64 flags; le64 data_len; }
//                            MARK: data_len bytes of the mark's text right after the struct, in the same sector
//   sector 2 .. 1+nr_sectors the data written at `sector` (none for DISCARD, whose nr_sectors is only its length)
//   next entry …
//
// The target logs a write only once a FLUSH that followed its completion has completed (or when it is FUA itself),
// so the log is in the order data reached stable storage: the disk as replayed up to and including an entry with
// FLUSH or FUA is a state the real disk could have been in after power was cut right then.
export const LOG_FLUSH_FLAG = 1;
export const LOG_FUA_FLAG = 2;
export const LOG_DISCARD_FLAG = 4;
export const LOG_MARK_FLAG = 8;
export const LOG_METADATA_FLAG = 16;
export const WRITE_LOG_MAGIC = 0x6a736677736872n;
export const WRITE_LOG_VERSION = 1n;
const ENTRY_SIZE = 32;
const SUPER_SIZE = 28;

export interface LogSuper {
	nrEntries: number;
	sectorSize: number;
}

export interface LogEntry {
	/** 0-based position in the log */
	index: number;
	/** where the write went, in data-device sectors of `sectorSize` */
	sector: number;
	nrSectors: number;
	flags: number;
	dataLen: number;
	/** the mark's text (MARK entries only) */
	mark?: string;
	/** byte offset in the log of the written data (nrSectors * sectorSize bytes; none for DISCARD and MARK) */
	dataOffset: number;
}

/** Reads `length` bytes of the log at byte `offset` (fewer only at the end of the log device). */
export type ReadAt = (offset: number, length: number) => Buffer;

function u64(b: Buffer, off: number, what: string): number {
	const v = b.readBigUInt64LE(off);
	if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`dm-log-writes: ${what} ${v} is too large`);
	return Number(v);
}

export function parseSuper(b: Buffer): LogSuper {
	if (b.length < SUPER_SIZE) throw new Error(`dm-log-writes: super block truncated (${b.length} of ${SUPER_SIZE} bytes)`);
	const magic = b.readBigUInt64LE(0);
	if (magic !== WRITE_LOG_MAGIC) throw new Error(`dm-log-writes: bad magic 0x${magic.toString(16)} (expected 0x${WRITE_LOG_MAGIC.toString(16)}): not a log, or logging never started`);
	const version = b.readBigUInt64LE(8);
	if (version !== WRITE_LOG_VERSION) throw new Error(`dm-log-writes: version ${version}, this reader knows ${WRITE_LOG_VERSION}`);
	const sectorSize = b.readUInt32LE(24);
	if (sectorSize < 512 || sectorSize > 65536 || (sectorSize & (sectorSize - 1)) !== 0) throw new Error(`dm-log-writes: sectorsize ${sectorSize} is not a power of two in 512..65536`);
	return {nrEntries: u64(b, 16, 'nr_entries'), sectorSize};
}

/** Every entry of the log, in order (nr_entries of the super block; the super is rewritten after each FUA and MARK,
 * so it counts every entry logged before the last of those — the target's destructor logs a final mark). */
export function* readEntries(read: ReadAt): Generator<LogEntry> {
	const sup = parseSuper(read(0, SUPER_SIZE));
	const ss = sup.sectorSize;
	let pos = ss;
	for (let index = 0; index < sup.nrEntries; index++) {
		const head = read(pos, ss);
		if (head.length < ss) throw new Error(`dm-log-writes: entry ${index} at byte ${pos} truncated (the log device ends; nr_entries says ${sup.nrEntries})`);
		const sector = u64(head, 0, `entry ${index} sector`);
		const nrSectors = u64(head, 8, `entry ${index} nr_sectors`);
		const flags = u64(head, 16, `entry ${index} flags`);
		const dataLen = u64(head, 24, `entry ${index} data_len`);
		const e: LogEntry = {index, sector, nrSectors, flags, dataLen, dataOffset: pos + ss};
		if (flags & LOG_MARK_FLAG) {
			if (dataLen > ss - ENTRY_SIZE) throw new Error(`dm-log-writes: entry ${index}: mark of ${dataLen} bytes does not fit its sector`);
			e.mark = head.subarray(ENTRY_SIZE, ENTRY_SIZE + dataLen).toString('utf8');
		} else if (dataLen !== 0) {
			throw new Error(`dm-log-writes: entry ${index}: inline data (data_len ${dataLen}, a DAX write) is not supported`);
		}
		pos += ss;
		if (!(flags & LOG_DISCARD_FLAG)) pos += nrSectors * ss;
		yield e;
	}
}

export function describeFlags(flags: number): string {
	const names: [number, string][] = [[LOG_FLUSH_FLAG, 'FLUSH'], [LOG_FUA_FLAG, 'FUA'], [LOG_DISCARD_FLAG, 'DISCARD'], [LOG_MARK_FLAG, 'MARK'], [LOG_METADATA_FLAG, 'METADATA']];
	return names.filter(([f]) => flags & f).map(([, n]) => n).join('|') || 'WRITE';
}

/** A crash point: the disk as it stands once entries 0..index are applied. */
export interface CrashPoint {
	index: number;
	/** 'FLUSH', 'FUA' or 'FLUSH|FUA' */
	kind: string;
	/** the last mark logged before it */
	afterMark: string;
}

/** The FLUSH/FUA entries after the mark `from` (all of them when `from` is undefined), up to the mark `to` if given. */
export function crashPoints(entries: Iterable<LogEntry>, opts: {from?: string; to?: string} = {}): CrashPoint[] {
	const out: CrashPoint[] = [];
	let started = opts.from === undefined;
	let lastMark = '';
	for (const e of entries) {
		if (e.mark !== undefined) {
			lastMark = e.mark;
			if (e.mark === opts.from) started = true;
			if (opts.to !== undefined && e.mark === opts.to) break;
			continue;
		}
		if (started && e.flags & (LOG_FLUSH_FLAG | LOG_FUA_FLAG)) out.push({index: e.index, kind: describeFlags(e.flags & (LOG_FLUSH_FLAG | LOG_FUA_FLAG)), afterMark: lastMark});
	}
	return out;
}

/** At most `max` of `points`, evenly spread, always with the first and the last. */
export function spread<T>(points: readonly T[], max: number): T[] {
	if (points.length <= max) return [...points];
	if (max <= 1) return points.slice(-1);
	const out: T[] = [];
	for (let i = 0; i < max; i++) out.push(points[Math.round((i * (points.length - 1)) / (max - 1))]!);
	return out;
}

/** Writes `data` at byte `offset` of the replay disk. */
export type WriteAt = (offset: number, data: Buffer) => void;

/** Apply one entry to the replay disk: its data at its sector; a DISCARD as zeros (what a discarded range may read
 * as); FLUSH without data and MARK change nothing. */
export function applyEntry(e: LogEntry, sectorSize: number, read: ReadAt, write: WriteAt, chunk = 1 << 20): void {
	if (e.mark !== undefined || e.nrSectors === 0) return;
	const total = e.nrSectors * sectorSize;
	const at = e.sector * sectorSize;
	for (let done = 0; done < total; done += chunk) {
		const n = Math.min(chunk, total - done);
		if (e.flags & LOG_DISCARD_FLAG) {
			write(at + done, Buffer.alloc(n));
			continue;
		}
		const data = read(e.dataOffset + done, n);
		if (data.length < n) throw new Error(`dm-log-writes: entry ${e.index}: data truncated at byte ${e.dataOffset + done + data.length}`);
		write(at + done, data);
	}
}
