// A newc ("070701") cpio writer, the format the kernel's initramfs unpacker (init/initramfs.c) reads. Entries are
// written with uid/gid 0 and mtime 0 so the same inputs give the same bytes.
import {gzipSync} from 'node:zlib';

export type CpioEntry =
	| {type: 'dir'; path: string; mode?: number}
	| {type: 'file'; path: string; data: Buffer | string; mode?: number}
	| {type: 'symlink'; path: string; target: string}
	| {type: 'chardev'; path: string; major: number; minor: number; mode?: number};

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const hex8 = (n: number): string => {
	if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio: field out of range: ${n}`);
	return n.toString(16).padStart(8, '0');
};
const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

function header(ino: number, mode: number, nlink: number, size: number, rdevMajor: number, rdevMinor: number, name: string): Buffer {
	const nameBuf = Buffer.from(`${name}\0`, 'utf8');
	const fields = ['070701', hex8(ino), hex8(mode), hex8(0), hex8(0), hex8(nlink), hex8(0), hex8(size), hex8(0), hex8(0),
		hex8(rdevMajor), hex8(rdevMinor), hex8(nameBuf.length), hex8(0)].join('');
	const head = Buffer.concat([Buffer.from(fields, 'ascii'), nameBuf]);
	return Buffer.concat([head, pad4(head.length)]);
}

/** The uncompressed newc archive of `entries` (paths relative, without a leading slash), with its TRAILER!!!. */
export function newcArchive(entries: readonly CpioEntry[]): Buffer {
	const parts: Buffer[] = [];
	let ino = 1;
	for (const e of entries) {
		const path = e.path.replace(/^\/+/, '');
		if (path === '' || path.split('/').includes('..')) throw new Error(`cpio: bad path ${JSON.stringify(e.path)}`);
		let mode: number;
		let data: Buffer = Buffer.alloc(0);
		let major = 0;
		let minor = 0;
		switch (e.type) {
			case 'dir': mode = S_IFDIR | (e.mode ?? 0o755); break;
			case 'file': mode = S_IFREG | (e.mode ?? 0o644); data = Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data, 'utf8'); break;
			case 'symlink': mode = S_IFLNK | 0o777; data = Buffer.from(e.target, 'utf8'); break;
			case 'chardev': mode = S_IFCHR | (e.mode ?? 0o600); major = e.major; minor = e.minor; break;
		}
		parts.push(header(ino++, mode, e.type === 'dir' ? 2 : 1, data.length, major, minor, path), data, pad4(data.length));
	}
	parts.push(header(0, 0, 1, 0, 0, 0, 'TRAILER!!!'));
	const out = Buffer.concat(parts);
	return Buffer.concat([out, pad4(out.length)]);
}

/** newc archive, gzip-compressed (every x86 kernel with BLK_DEV_INITRD + RD_GZIP reads it). */
export function gzipNewcArchive(entries: readonly CpioEntry[]): Buffer {
	return gzipSync(newcArchive(entries), {level: 6});
}
