// What verify learns from a kernel's big files — Module.symvers's exports, the certificates compiled into the kernel
// image — kept between runs, so that a hook verifying one small module does not parse 27k exports and decompress a
// 10 MB kernel image every time (issue 18: one small module in milliseconds).
//
// Trust: the cache lives under <root>/var/cache/kmodpress/verify (the system whose kernel it describes; never a
// staging image, never the cwd), is used only by root, and an entry is believed only when
//   - every directory from <root>/var/cache down is a real directory (not a symlink) owned by root that no one else can
//     write (mode without group/other write), and the cache's own directories are 0700;
//   - the entry is a regular file with one link, owned by root, mode 0600 or stricter;
//   - it names the source file's device, inode, size, mtime and ctime, and they all still match;
//   - its value passes the reader's own shape check.
// Anything else is ignored and rebuilt. Entries are written with O_EXCL under a temporary name and renamed; they are not
// fsynced: a cache lost to a power cut is rebuilt.
import {createHash, randomBytes} from 'node:crypto';
import {closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, type Stats, statSync, writeSync} from 'node:fs';
import {join} from 'node:path';
import type {Log} from '../types.js';

const FORMAT = 1;
const isRoot = (): boolean => process.geteuid?.() === 0;

/** The identity of a source file that an entry must match. */
function identity(st: Stats): {dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number} {
	return {dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs};
}

const sameIdentity = (a: Record<string, unknown>, b: ReturnType<typeof identity>): boolean =>
	a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;

/** A directory only root can change: real directory, owned by uid 0, no group/other write. */
function trustedDir(path: string, ownOnly: boolean): boolean {
	let st: Stats;
	try {
		st = lstatSync(path);
	} catch {
		return false;
	}
	if (!st.isDirectory() || st.uid !== 0) return false;
	return ownOnly ? (st.mode & 0o077) === 0 : (st.mode & 0o022) === 0;
}

export interface DiskCacheOptions {
	/** the system root whose /var/cache holds the cache; undefined: no cache (a staging image, or not root) */
	root: string | undefined;
	log?: Log | undefined;
}

export interface Codec<T> {
	kind: string;
	toJSON(value: T): unknown;
	/** the value from its JSON form; throws when the shape is wrong */
	fromJSON(json: unknown): T;
}

function dirs(root: string): {varCache: string; top: string; dir: string} {
	const varCache = join(root, 'var/cache');
	const top = join(varCache, 'kmodpress');
	return {varCache, top, dir: join(top, 'verify')};
}

function entryPath(dir: string, kind: string, file: string): string {
	return join(dir, `${kind}-${createHash('sha256').update(`${kind}\0${file}`).digest('hex').slice(0, 32)}.json`);
}

/** The cached value for `file`, else `compute()`'s, stored for the next run. */
export function persistent<T>(file: string, codec: Codec<T>, compute: () => T, opts: DiskCacheOptions): T {
	const loaded = load(file, codec, opts);
	if (loaded.hit) return loaded.value;
	const value = compute();
	if (loaded.id) store(file, codec, value, loaded.id, opts);
	return value;
}

/** The same for a value computed asynchronously. */
export async function persistentAsync<T>(file: string, codec: Codec<T>, compute: () => Promise<T>, opts: DiskCacheOptions): Promise<T> {
	const loaded = load(file, codec, opts);
	if (loaded.hit) return loaded.value;
	const value = await compute();
	if (loaded.id) store(file, codec, value, loaded.id, opts);
	return value;
}

type Loaded<T> = {hit: true; value: T} | {hit: false; id?: ReturnType<typeof identity>};

function load<T>(file: string, codec: Codec<T>, opts: DiskCacheOptions): Loaded<T> {
	if (opts.root === undefined || !isRoot()) return {hit: false};
	let id: ReturnType<typeof identity>;
	try {
		id = identity(statSync(file));
	} catch {
		return {hit: false};
	}
	const {varCache, top, dir} = dirs(opts.root);
	if (!trustedDir(varCache, false) || !trustedDir(top, true) || !trustedDir(dir, true)) return {hit: false, id};
	const path = entryPath(dir, codec.kind, file);
	let fd: number | undefined;
	try {
		fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
		const st = fstatSync(fd);
		if (!st.isFile() || st.uid !== 0 || (st.mode & 0o077) !== 0 || st.nlink !== 1) {
			opts.log?.('debug', `${path}: not a cache entry kmodpress trusts (owner, mode or links), ignored`);
			return {hit: false, id};
		}
		const json = JSON.parse(readFileSync(fd, 'utf8')) as Record<string, unknown>;
		if (json.format !== FORMAT || json.kind !== codec.kind || json.file !== file || typeof json.source !== 'object' || json.source === null
			|| !sameIdentity(json.source as Record<string, unknown>, id)) {
			opts.log?.('debug', `${path}: made from another ${file}, rebuilt`);
			return {hit: false, id};
		}
		const value = codec.fromJSON(json.value);
		opts.log?.('debug', `${file}: ${codec.kind} from the cache ${path}`);
		return {hit: true, value};
	} catch {
		return {hit: false, id};
	} finally {
		if (fd !== undefined) closeSync(fd);
	}
}

function store<T>(file: string, codec: Codec<T>, value: T, id: ReturnType<typeof identity>, opts: DiskCacheOptions): void {
	if (opts.root === undefined) return;
	const {varCache, top, dir} = dirs(opts.root);
	const tmp = join(dir, `.${codec.kind}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
	try {
		if (!trustedDir(varCache, false)) return;
		mkdirSync(top, {mode: 0o700, recursive: true});
		mkdirSync(dir, {mode: 0o700, recursive: true});
		if (!trustedDir(top, true) || !trustedDir(dir, true)) {
			opts.log?.('debug', `${dir}: not a directory only root can change; the verify cache is not written`);
			return;
		}
		const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
		try {
			writeSync(fd, JSON.stringify({format: FORMAT, kind: codec.kind, file, source: id, value: codec.toJSON(value)}));
		} finally {
			closeSync(fd);
		}
		renameSync(tmp, entryPath(dir, codec.kind, file));
	} catch (e) {
		rmSync(tmp, {force: true});
		opts.log?.('debug', `${dir}: verify cache not written (${(e as Error).message})`);
	}
}
