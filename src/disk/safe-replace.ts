// Crash-safe replacement of a module file: never lose a module, never two live names.
//
// Compressing dir/foo.ko into dir/foo.ko.xz:
//   1. open  dir/.kmodpress-foo.ko.xz.<pid>.<rand>.tmp  O_CREAT|O_EXCL|O_NOFOLLOW, the old file's mode
//   2. write the new bytes, fchown/fchmod to the old file's owner/mode, copy its security.* xattrs, fsync, close
//   3. verify: read the temp file back and hand it to the caller (who decodes it under the kernel's rules)
//   4. rename(tmp, foo.ko)        — the one live name now holds the new bytes (atomic)     ┐ both steps are atomic, so
//      fsync(dir)                                                                          │ at every instant exactly
//   5. rename(foo.ko, foo.ko.xz)  — the one live name moves (atomic)                        │ one of foo.ko / foo.ko.xz
//      fsync(dir)                                                                          ┘ exists, holding old or new bytes
// Recompressing in place (foo.ko.xz → foo.ko.xz) is steps 1–4 with the same name. A crash between 4 and 5 leaves
// foo.ko holding xz bytes: kmod and the kernel detect compression by magic, so it still loads, and the next run's
// recoverInterrupted() finishes step 5. A crash before 4 leaves the old file and a temp file the next run removes.
// The temp name never follows a symlink (O_EXCL|O_NOFOLLOW), and rename() replaces a symlink planted at the target
// instead of following it.
import {randomBytes} from 'node:crypto';
import * as nodeFs from 'node:fs';
import {basename, join} from 'node:path';
import {detectFormat} from '../formats/index.js';
import {fsError, KmodpressError} from '../errors.js';
import {findTool, queryToolAsync, run} from './exec.js';
import type {Log} from '../types.js';
import {silentLog} from '../types.js';

export const TEMP_PREFIX = '.kmodpress-';
export const TEMP_RE = /^\.kmodpress-.+\.\d+\.[0-9a-f]+\.tmp$/;

/** The filesystem calls replaceFile makes: tests pass a port whose calls fail or crash on cue. */
export interface FsPort {
	/** may return a promise (the real one: creating a file can wait on the directory) */
	open(path: string, flags: number, mode: number): number | Promise<number>;
	write(fd: number, data: Uint8Array): void;
	fchown(fd: number, uid: number, gid: number): void;
	fchmod(fd: number, mode: number): void;
	/** may return a promise: the real one runs in libuv's thread pool, so fsyncs of several modules overlap with each
	 * other and with the codec workers instead of stalling the main thread */
	fsync(fd: number): void | Promise<void>;
	close(fd: number): void;
	readFile(path: string): Buffer;
	/** may return a promise (the real one: a rename waits for the directory while other modules' fsyncs write it) */
	rename(from: string, to: string): void | Promise<void>;
	unlink(path: string): void;
	fsyncDir(dir: string): void | Promise<void>;
	lstat(path: string): nodeFs.Stats;
}

/** fsync a directory before returning (the synchronous callers: recovery, removing an older name). */
function fsyncDirNow(fs: SyncFsPort, dir: string): void {
	if (fs !== syncFs) {
		void fs.fsyncDir(dir);
		return;
	}
	const fd = nodeFs.openSync(dir, nodeFs.constants.O_RDONLY | nodeFs.constants.O_DIRECTORY);
	try {
		nodeFs.fsyncSync(fd);
	} finally {
		nodeFs.closeSync(fd);
	}
}

async function fsyncDirOnce(d: string): Promise<void> {
	const fh = await nodeFs.promises.open(d, nodeFs.constants.O_RDONLY | nodeFs.constants.O_DIRECTORY);
	try {
		await fh.sync();
	} finally {
		await fh.close();
	}
}

/** Group commit over `once` (exported for its test): a call made while one runs resolves with the next run, which
 * starts after the current one ends; calls made meanwhile share that next run.
 *
 * Used for directory fsyncs: every module renames in its directory and then needs that directory durable. An fsync
 * that starts after a caller's rename covers it, so callers that arrive while one runs share the next one (keyed by
 * the directory's inode: each module reaches it through its own pinned /proc/self/fd path, which stays open while
 * its caller waits). Thousands of modules in one directory then cost a few dozen directory fsyncs instead of two
 * each — each of which holds the directory against everyone else's renames while it writes. */
export function groupCommit(once: (d: string) => Promise<void>, keyOf: (d: string) => string | undefined): (d: string) => Promise<void> {
	const states = new Map<string, {running?: Promise<void>; queued?: Promise<void>}>();
	return (d) => {
		const key = keyOf(d);
		if (key === undefined) return once(d);
		let state = states.get(key);
		if (!state) {
			state = {};
			states.set(key, state);
		}
		const s = state;
		const start = (): Promise<void> => {
			const p = once(d).finally(() => {
				if (s.running === p) s.running = undefined;
			});
			s.running = p;
			return p;
		};
		if (s.queued) return s.queued;
		if (!s.running) return start();
		const queued = s.running.catch(() => {}).then(() => {
			s.queued = undefined;
			return start();
		});
		s.queued = queued;
		return queued;
	};
}

const groupFsyncDir = groupCommit(fsyncDirOnce, (d) => {
	try {
		const st = nodeFs.statSync(d);
		return `${st.dev}:${st.ino}`;
	} catch {
		return undefined; // let the real call report the error
	}
});

export const realFs: FsPort = {
	open: (p, f, m) => new Promise<number>((res, rej) => nodeFs.open(p, f, m, (e, fd) => (e ? rej(e) : res(fd)))),
	write: (fd, data) => {
		let off = 0;
		while (off < data.length) off += nodeFs.writeSync(fd, data, off, data.length - off);
	},
	fchown: (fd, u, g) => nodeFs.fchownSync(fd, u, g),
	fchmod: (fd, m) => nodeFs.fchmodSync(fd, m),
	fsync: (fd) => new Promise<void>((res, rej) => nodeFs.fsync(fd, (e) => (e ? rej(e) : res()))),
	close: (fd) => nodeFs.closeSync(fd),
	readFile: (p) => {
		const fd = nodeFs.openSync(p, nodeFs.constants.O_RDONLY | nodeFs.constants.O_NOFOLLOW);
		try {
			return nodeFs.readFileSync(fd);
		} finally {
			nodeFs.closeSync(fd);
		}
	},
	rename: (a, b) => nodeFs.promises.rename(a, b),
	unlink: (p) => nodeFs.unlinkSync(p),
	fsyncDir: (d) => groupFsyncDir(d),
	lstat: (p) => nodeFs.lstatSync(p),
};

/** What recovery and stale-name removal use: synchronous (they run under the lock, once per directory). */
export interface SyncFsPort {
	rename(from: string, to: string): void;
	unlink(path: string): void;
	lstat(path: string): nodeFs.Stats;
	fsyncDir(dir: string): void | Promise<void>;
}

export const syncFs: SyncFsPort = {
	rename: (a, b) => nodeFs.renameSync(a, b),
	unlink: (p) => nodeFs.unlinkSync(p),
	lstat: (p) => nodeFs.lstatSync(p),
	fsyncDir: realFs.fsyncDir,
};

export type Step = 'open' | 'write' | 'chown' | 'fsync' | 'close' | 'verify' | 'rename' | 'fsync-dir' | 'rename-name' | 'fsync-dir-2';

export interface ReplaceOptions {
	/** where the work happens (a pinned directory's /proc/<pid>/fd/<n> path, or a plain directory) */
	dir: string;
	/** the directory's name for messages (default: dir) */
	dirLabel?: string;
	/** the existing file's name (foo.ko, foo.ko.xz …) */
	from: string;
	/** the name the new bytes end up under */
	to: string;
	data: Uint8Array;
	/** called with the bytes read back from the fsynced temp file; throw to abort (nothing changes) */
	verify?: (written: Buffer) => Promise<void> | void;
	fs?: FsPort;
	/** called before each step; throwing simulates a failure or crash at that step */
	onStep?: (step: Step) => void;
	log?: Log;
	/** security.* extended attributes to put on the new file (see readSecurityXattrs) */
	xattrs?: Record<string, string>;
}

export async function replaceFile(opts: ReplaceOptions): Promise<{written: string; removed?: string}> {
	const fs = opts.fs ?? realFs;
	const step = opts.onStep ?? (() => {});
	const log = opts.log ?? silentLog;
	const fromPath = join(opts.dir, opts.from);
	const label = opts.dirLabel ?? opts.dir;
	const toPath = join(label, opts.to);
	let old: nodeFs.Stats;
	try {
		old = fs.lstat(fromPath);
	} catch (e) {
		throw fsError('E_WRITE_FAILED', join(label, opts.from), 'stat it', e);
	}
	if (!old.isFile()) throw new KmodpressError('E_INPUT_NOT_REGULAR', `${join(label, opts.from)} is not a regular file`, {file: join(label, opts.from)});
	const tmp = join(opts.dir, `${TEMP_PREFIX}${opts.to}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
	// An append-only (chattr +a) directory lets the temp file be created but never renamed or removed again: refuse
	// before writing anything. Immutable (+i) too, for a clear message instead of EPERM ("run as root").
	const flags = await dirFlags(opts.dirLabel ?? opts.dir);
	if (flags && /[ai]/.test(flags)) {
		const flag = flags.includes('i') ? 'i' : 'a';
		throw new KmodpressError('E_WRITE_FAILED', `${toPath}: cannot write it; the original is untouched (EPERM: ${label} is ${flag === 'i' ? 'immutable' : 'append-only'}, chattr +${flag})`, {
			file: toPath, fix: `if the change is intended, chattr -${flag} ${label} and run again`,
		});
	}
	let fd: number | undefined;
	let tmpExists = false;
	try {
		step('open');
		const C = nodeFs.constants;
		fd = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, old.mode & 0o7777);
		tmpExists = true;
		step('write');
		fs.write(fd, opts.data);
		step('chown');
		if (process.getuid?.() === 0) fs.fchown(fd, old.uid, old.gid);
		fs.fchmod(fd, old.mode & 0o7777);
		step('fsync');
		// test only (test/power proves it can catch a lost module): KMODPRESS_TEST_OMIT_FSYNC=file skips this fsync
		if (process.env.KMODPRESS_TEST_OMIT_FSYNC !== 'file') await fs.fsync(fd);
		step('close');
		fs.close(fd);
		fd = undefined;
		if (opts.xattrs && Object.keys(opts.xattrs).length > 0) await writeSecurityXattrs(tmp, opts.xattrs);
		step('verify');
		const back = fs.readFile(tmp);
		if (!back.equals(Buffer.from(opts.data.buffer, opts.data.byteOffset, opts.data.byteLength))) {
			throw new KmodpressError('E_WRITE_FAILED', `${toPath}: what was read back from the temporary file differs from what was written`, {file: toPath, fix: 'check the disk and filesystem (dmesg)'});
		}
		await opts.verify?.(back);
		step('rename');
		await fs.rename(tmp, fromPath);
		tmpExists = false;
		step('fsync-dir');
		if (process.env.KMODPRESS_TEST_OMIT_FSYNC !== 'dir') await fs.fsyncDir(opts.dir); // test only, as above
	} catch (e) {
		if (fd !== undefined) {
			try {
				fs.close(fd);
			} catch {
				// already failing
			}
		}
		if (tmpExists) {
			try {
				fs.unlink(tmp);
			} catch {
				// the next run's recoverInterrupted() sweeps it
			}
		}
		if (e instanceof KmodpressError) throw e;
		const code = (e as NodeJS.ErrnoException)?.code;
		const fix = code === 'ENOSPC' ? 'free space on that filesystem and run again' : code === 'EROFS' ? 'remount it read-write, or pass --root to a writable copy'
			: code === 'EACCES' || code === 'EPERM' ? 'run as root (the module tree belongs to root)' : 'check the directory and run again';
		throw fsError('E_WRITE_FAILED', toPath, 'write it; the original is untouched', e, fix);
	}
	if (opts.from === opts.to) {
		log('debug', `${toPath}: replaced in place`);
		return {written: toPath};
	}
	try {
		step('rename-name');
		await fs.rename(fromPath, join(opts.dir, opts.to));
		step('fsync-dir-2');
		await fs.fsyncDir(opts.dir);
	} catch (e) {
		// The new bytes are safe under the old name; the next run renames them (recoverInterrupted).
		throw fsError('E_WRITE_FAILED', toPath, `rename ${opts.from} to ${opts.to} (the new bytes are kept under ${opts.from})`, e);
	}
	return {written: toPath, removed: join(label, opts.from)};
}

const SUFFIX_OF: Record<string, string> = {xz: '.ko.xz', zstd: '.ko.zst', gzip: '.ko.gz', elf: '.ko'};

export interface Recovery {
	removedTemps: string[];
	renamed: {from: string; to: string}[];
}

/**
 * Finish what an interrupted run left in `dir` (call with the kernel's lock held): remove temp files, and give a
 * module whose name does not match its content (foo.ko holding xz bytes after a crash between steps 4 and 5) the
 * name its content has. Never deletes a module.
 */
/** `isModule`: whether a file's whole content decodes to a module — only then is a name that does not match the
 * content the trace of an interrupted replace (a file that is garbage under any name is left for the caller to report). */
export function recoverInterrupted(dir: string, opts: {log?: Log; fs?: SyncFsPort; isModule?: (path: string) => boolean} = {}): Recovery {
	const fs = opts.fs ?? syncFs;
	const log = opts.log ?? silentLog;
	const out: Recovery = {removedTemps: [], renamed: []};
	let names: string[];
	try {
		names = nodeFs.readdirSync(dir);
	} catch {
		return out;
	}
	for (const name of names) {
		const p = join(dir, name);
		if (TEMP_RE.test(name)) {
			try {
				if (fs.lstat(p).isFile()) {
					fs.unlink(p);
					out.removedTemps.push(p);
					log('info', `${p}: removed a temporary file an interrupted run left`);
				}
			} catch {
				// raced away
			}
			continue;
		}
		const m = /^(.+\.ko)(\.xz|\.zst|\.gz)?$/.exec(name);
		if (!m) continue;
		let head: Buffer;
		try {
			if (!fs.lstat(p).isFile()) continue;
			const fd = nodeFs.openSync(p, nodeFs.constants.O_RDONLY | nodeFs.constants.O_NOFOLLOW);
			try {
				head = Buffer.alloc(16);
				nodeFs.readSync(fd, head, 0, 16, 0);
			} finally {
				nodeFs.closeSync(fd);
			}
		} catch {
			continue;
		}
		const format = detectFormat(head);
		const want = format ? SUFFIX_OF[format] : undefined;
		const has = `.ko${m[2] ?? ''}`;
		if (!want || want === has) continue;
		if (opts.isModule && !opts.isModule(p)) continue;
		const to = join(dir, `${m[1]!.slice(0, -3)}${want}`);
		try {
			fs.rename(p, to);
			fsyncDirNow(fs, dir);
			out.renamed.push({from: p, to});
			log('info', `${p}: holds ${format} data, renamed to ${basename(to)} (an interrupted run's last step)`);
		} catch (e) {
			log('warn', `${p}: holds ${format} data but could not be renamed to ${basename(to)}: ${(e as Error).message}`);
		}
	}
	return out;
}

// ----------------------------------------------------------------------------------------------------------------
// security.* extended attributes (SELinux labels, IMA/EVM). Node has no xattr API: getfattr/setfattr (Debian
// package `attr`) are used when installed, once per directory to read, and only for files that have any.

// One getfattr per directory, shared by every caller: the promise is cached, not the map it fills — modules are
// processed concurrently, and callers that found an empty, still-filling map used to get no xattrs at all.
const xattrCache = new Map<string, Promise<Map<string, Record<string, string>>>>();

/** The security.* xattrs of every file in `dir` (cached per run). Empty when getfattr is not installed. */
export async function readSecurityXattrs(file: string): Promise<Record<string, string>> {
	const dir = join(file, '..');
	let pending = xattrCache.get(dir);
	if (!pending) {
		pending = readDirSecurityXattrs(dir);
		xattrCache.set(dir, pending);
	}
	return (await pending).get(file) ?? {};
}

async function readDirSecurityXattrs(dir: string): Promise<Map<string, Record<string, string>>> {
	const byFile = new Map<string, Record<string, string>>();
	const getfattr = findTool('getfattr');
	if (!getfattr) return byFile;
	const names = nodeFs.readdirSync(dir).filter((n) => /\.ko(\.\w+)?$/.test(n)).map((n) => join(dir, n));
	if (names.length === 0) return byFile;
	const rr = await queryToolAsync(getfattr, ['--absolute-names', '-d', '-m', '^security\\.', '-e', 'hex', '--', ...names]);
	let current: string | undefined;
	for (const line of String(rr.stdout).split('\n')) {
		const f = /^# file: (.*)$/.exec(line);
		if (f) {
			current = f[1]!;
			continue;
		}
		const a = /^(security\.[^=]+)=(0x[0-9a-f]+)$/.exec(line);
		if (a && current) byFile.set(current, {...byFile.get(current), [a[1]!]: a[2]!});
	}
	return byFile;
}

// chattr flags of a directory (`lsattr -d`), cached per run; undefined when unknown (no lsattr, no flags support).
const dirFlagsCache = new Map<string, Promise<string | undefined>>();

function dirFlags(dir: string): Promise<string | undefined> {
	let pending = dirFlagsCache.get(dir);
	if (!pending) {
		pending = (async () => {
			const lsattr = findTool('lsattr');
			if (!lsattr) return undefined;
			const r = await queryToolAsync(lsattr, ['-d', '--', dir]);
			return r.exitCode === 0 ? String(r.stdout).trim().split(/\s+/)[0] : undefined;
		})();
		dirFlagsCache.set(dir, pending);
	}
	return pending;
}

async function writeSecurityXattrs(file: string, xattrs: Record<string, string>): Promise<void> {
	const setfattr = findTool('setfattr');
	if (!setfattr) throw new KmodpressError('E_TOOL_MISSING', `${file}: the module has security xattrs (${Object.keys(xattrs).join(', ')}) but setfattr is not installed`, {fix: 'apt-get install attr'});
	for (const [name, value] of Object.entries(xattrs)) {
		const r = await run(setfattr, ['-n', name, '-v', value, '--', file]);
		if (r.exitCode !== 0) throw new KmodpressError('E_WRITE_FAILED', `${file}: cannot set ${name} (${String(r.stderr).trim()})`, {file});
	}
}

/** Remove an older name of a module once its new file is durable (foo.ko.zst after foo.ko.xz was written). */
export function removeStaleName(dir: string, name: string, opts: {log?: Log; fs?: SyncFsPort} = {}): void {
	const fs = opts.fs ?? syncFs;
	const p = join(dir, name);
	try {
		if (!fs.lstat(p).isFile()) return;
		fs.unlink(p);
		fsyncDirNow(fs, dir);
		(opts.log ?? silentLog)('info', `${p}: removed, an older name of the module just written`);
	} catch (e) {
		throw fsError('E_WRITE_FAILED', p, 'remove this older name of the module', e);
	}
}
