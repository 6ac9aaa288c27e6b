// The dm-log-writes reader and replayer on logs built here by hand, byte by byte as drivers/md/dm-log-writes.c lays
// them out (no QEMU, no device-mapper).
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {
	applyEntry, crashPoints, LOG_DISCARD_FLAG, LOG_FLUSH_FLAG, LOG_FUA_FLAG, LOG_MARK_FLAG, LOG_METADATA_FLAG, type LogEntry,
	parseSuper, readEntries, spread, WRITE_LOG_MAGIC,
} from './log-writes.js';

const SS = 512;

type Raw = {sector?: number; nrSectors?: number; flags: number; data?: Buffer; mark?: string};

/** A log as the target writes it: super in sector 0, then each entry in a sector of its own followed by its data. */
function buildLog(entries: Raw[], opts: {sectorSize?: number; nrEntries?: number; magic?: bigint; version?: bigint} = {}): Buffer {
	const ss = opts.sectorSize ?? SS;
	const parts: Buffer[] = [];
	const sup = Buffer.alloc(ss);
	sup.writeBigUInt64LE(opts.magic ?? WRITE_LOG_MAGIC, 0);
	sup.writeBigUInt64LE(opts.version ?? 1n, 8);
	sup.writeBigUInt64LE(BigInt(opts.nrEntries ?? entries.length), 16);
	sup.writeUInt32LE(ss, 24);
	parts.push(sup);
	for (const e of entries) {
		const head = Buffer.alloc(ss);
		const nr = e.nrSectors ?? (e.data ? e.data.length / ss : 0);
		head.writeBigUInt64LE(BigInt(e.sector ?? 0), 0);
		head.writeBigUInt64LE(BigInt(nr), 8);
		head.writeBigUInt64LE(BigInt(e.flags), 16);
		const mark = e.mark !== undefined ? Buffer.from(e.mark) : Buffer.alloc(0);
		head.writeBigUInt64LE(BigInt(mark.length), 24);
		mark.copy(head, 32);
		parts.push(head);
		if (e.data) parts.push(e.data);
	}
	return Buffer.concat(parts);
}

const fill = (byte: number, sectors: number, ss = SS): Buffer => Buffer.alloc(sectors * ss, byte);
const reader = (log: Buffer) => (off: number, len: number): Buffer => log.subarray(off, off + len);

/** Replays `log` onto a zeroed disk of `sectors`, calling `at` with a copy of the disk at every crash point. */
function replay(log: Buffer, sectors: number, from?: string): {points: ReturnType<typeof crashPoints>; states: Buffer[]} {
	const read = reader(log);
	const entries = [...readEntries(read)];
	const points = crashPoints(entries, {from});
	const want = new Set(points.map((p) => p.index));
	const disk = Buffer.alloc(sectors * SS);
	const states: Buffer[] = [];
	for (const e of entries) {
		applyEntry(e, SS, read, (off, data) => data.copy(disk, off), 1024);
		if (want.has(e.index)) states.push(Buffer.from(disk));
	}
	return {points, states};
}

test('super block: magic, version, entry count and sector size are read; anything else is refused with words', () => {
	assert.equal(parseSuper(buildLog([], {nrEntries: 7})), {nrEntries: 7, sectorSize: 512});
	assert.equal(parseSuper(buildLog([], {sectorSize: 4096})), {nrEntries: 0, sectorSize: 4096});
	assert.throws(() => parseSuper(buildLog([], {magic: 1n})), /bad magic 0x1 \(expected 0x6a736677736872\)/);
	assert.throws(() => parseSuper(buildLog([], {version: 2n})), /version 2/);
	assert.throws(() => parseSuper(Buffer.alloc(20)), /super block truncated/);
	const odd = buildLog([]);
	odd.writeUInt32LE(1000, 24);
	assert.throws(() => parseSuper(odd), /sectorsize 1000/);
});

test('entries: positions follow sector + data sectors; DISCARD carries no data; a MARK holds its text', () => {
	const log = buildLog([
		{sector: 8, flags: 0, data: fill(0xaa, 2)},
		{sector: 0, flags: LOG_FLUSH_FLAG},
		{flags: LOG_MARK_FLAG, mark: 'populated'},
		{sector: 2, nrSectors: 4, flags: LOG_DISCARD_FLAG},
		{sector: 3, flags: LOG_FUA_FLAG | LOG_METADATA_FLAG, data: fill(0xbb, 1)},
	]);
	const es: LogEntry[] = [...readEntries(reader(log))];
	assert.is(es.length, 5);
	assert.equal(es.map((e) => e.dataOffset), [1024, 2560, 3072, 3584, 4096]);
	assert.equal(es.map((e) => e.sector), [8, 0, 0, 2, 3]);
	assert.is(es[2]!.mark, 'populated');
	assert.is(es[3]!.nrSectors, 4);
	assert.is(es[4]!.flags, LOG_FUA_FLAG | LOG_METADATA_FLAG);
});

test('entries: a log shorter than nr_entries says so; inline (DAX) data is refused', () => {
	const log = buildLog([{sector: 0, flags: 0, data: fill(1, 1)}], {nrEntries: 2});
	assert.throws(() => [...readEntries(reader(log))], /entry 1 at byte 1536 truncated/);
	const dax = buildLog([{sector: 0, flags: 0}]);
	dax.writeBigUInt64LE(100n, 512 + 24);
	assert.throws(() => [...readEntries(reader(dax))], /inline data/);
});

test('crash points: every FLUSH and FUA after the start mark, with the mark before it; replay gives the disk at each', () => {
	const log = buildLog([
		{sector: 0, flags: 0, data: fill(0x11, 1)}, // 0: mkfs-time write
		{flags: LOG_FLUSH_FLAG}, // 1: before the mark: not a crash point
		{flags: LOG_MARK_FLAG, mark: 'populated'}, // 2
		{sector: 1, flags: 0, data: fill(0x22, 2)}, // 3: unflushed until 4
		{flags: LOG_FLUSH_FLAG}, // 4: crash point
		{sector: 1, flags: LOG_FUA_FLAG, data: fill(0x33, 1)}, // 5: crash point
		{sector: 0, nrSectors: 1, flags: LOG_DISCARD_FLAG}, // 6
		{flags: LOG_MARK_FLAG, mark: 'done'}, // 7
		{flags: LOG_FLUSH_FLAG | LOG_FUA_FLAG, sector: 3, data: fill(0x44, 1)}, // 8: crash point
	]);
	const {points, states} = replay(log, 4, 'populated');
	assert.equal(points, [
		{index: 4, kind: 'FLUSH', afterMark: 'populated'},
		{index: 5, kind: 'FUA', afterMark: 'populated'},
		{index: 8, kind: 'FLUSH|FUA', afterMark: 'done'},
	]);
	const sectorBytes = (disk: Buffer) => [0, 1, 2, 3].map((s) => disk[s * SS]);
	assert.equal(sectorBytes(states[0]!), [0x11, 0x22, 0x22, 0]);
	assert.equal(sectorBytes(states[1]!), [0x11, 0x33, 0x22, 0]);
	assert.equal(sectorBytes(states[2]!), [0, 0x33, 0x22, 0x44]);
	assert.is(crashPoints([...readEntries(reader(log))]).length, 4, 'without a start mark, every flush counts');
	assert.is(crashPoints([...readEntries(reader(log))], {from: 'populated', to: 'done'}).length, 2);
});

test('replay: data larger than the copy chunk is copied in full; truncated data is an error', () => {
	const big = Buffer.alloc(8 * SS);
	for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
	const log = buildLog([{sector: 2, flags: LOG_FUA_FLAG, data: big}]);
	const {states} = replay(log, 12);
	assert.ok(states[0]!.subarray(2 * SS, 10 * SS).equals(big));
	const cut = log.subarray(0, log.length - 100);
	const e = [...readEntries(reader(log))][0]!;
	assert.throws(() => applyEntry(e, SS, reader(cut), () => {}), /entry 0: data truncated/);
});

test('spread: all points when few; otherwise evenly spread, first and last kept', () => {
	const xs = Array.from({length: 1000}, (_, i) => i);
	assert.equal(spread(xs.slice(0, 5), 200), [0, 1, 2, 3, 4]);
	const s = spread(xs, 200);
	assert.is(s.length, 200);
	assert.is(s[0], 0);
	assert.is(s[199], 999);
	assert.ok(s.every((v, i) => i === 0 || v > s[i - 1]!), 'strictly increasing');
});

test.run();
