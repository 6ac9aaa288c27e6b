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
// recoverInterrupted() (recovery.ts) finishes step 5. A crash before 4 leaves the old file and a temp file the next
// run removes. The temp name never follows a symlink (O_EXCL|O_NOFOLLOW), and rename() replaces a symlink planted at
// the target instead of following it.
import {randomBytes} from 'node:crypto';
import * as nodeFs from 'node:fs';
import {join} from 'node:path';
import {fsError, isKmodpressError, KmodpressError} from '../errors.js';
import {findTool, queryToolAsync} from './exec.js';
import {fsyncDirGrouped, fsyncDirSync} from './group-commit.js';
import {writeSecurityXattrs} from './xattrs.js';
import type {Log} from '../types.js';
import {silentLog} from '../types.js';

/** Temporary files start with this (and match TEMP_RE), so that the next run can sweep up after a SIGKILL. */
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
	fsyncDir: (d) => fsyncDirGrouped(d),
	lstat: (p) => nodeFs.lstatSync(p),
};

/** What recovery and stale-name removal use: synchronous (they run under the lock, once per directory); the real
 * fsyncDir returns once the directory is durable. */
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
	fsyncDir: fsyncDirSync,
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

/** One replacement under way: where it happens, the old file, and the temp file while it exists. */
interface Job {
	opts: ReplaceOptions;
	fs: FsPort;
	step: (step: Step) => void;
	/** the old file, through the working directory */
	fromPath: string;
	/** the directory and the new file as named in messages */
	label: string;
	toPath: string;
	old: nodeFs.Stats;
	tmp: string;
	fd?: number | undefined;
	tmpExists: boolean;
}

export async function replaceFile(opts: ReplaceOptions): Promise<{written: string; removed?: string}> {
	const job = await prepare(opts);
	try {
		await writeTemp(job);
		await verifyTemp(job);
		await publish(job);
	} catch (e) {
		dropTemp(job);
		throw await writeFailure(e, job.toPath, job.fromPath, join(job.label, opts.from));
	}
	if (opts.from === opts.to) {
		(opts.log ?? silentLog)('debug', `${job.toPath}: replaced in place`);
		return {written: job.toPath};
	}
	await dropOldName(job);
	return {written: job.toPath, removed: join(job.label, opts.from)};
}

/** The old file (a regular file), the temp name beside it, and a directory that lets the new name be published. */
async function prepare(opts: ReplaceOptions): Promise<Job> {
	const fromPath = join(opts.dir, opts.from);
	const label = opts.dirLabel ?? opts.dir;
	const toPath = join(label, opts.to);
	let old: nodeFs.Stats;
	const fs = opts.fs ?? realFs;
	try {
		old = fs.lstat(fromPath);
	} catch (e) {
		throw fsError('E_WRITE_FAILED', join(label, opts.from), 'stat it', e);
	}
	if (!old.isFile()) throw new KmodpressError('E_INPUT_NOT_REGULAR', 'not a regular file', {file: join(label, opts.from)});
	const tmp = join(opts.dir, `${TEMP_PREFIX}${opts.to}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
	await refuseLockedDir(label, toPath);
	return {opts, fs, step: opts.onStep ?? (() => {}), fromPath, label, toPath, old, tmp, tmpExists: false};
}

/** An append-only (chattr +a) directory lets the temp file be created but never renamed or removed again: refuse
 * before writing anything. Immutable (+i) too, for a clear message instead of EPERM ("run as root"). */
async function refuseLockedDir(dir: string, toPath: string): Promise<void> {
	const flags = await attrFlags(dir);
	if (!flags || !/[ai]/.test(flags)) return;
	const flag = flags.includes('i') ? 'i' : 'a';
	throw new KmodpressError('E_WRITE_FAILED', `cannot write it; the original is untouched (EPERM: ${dir} is ${flag === 'i' ? 'immutable' : 'append-only'}, chattr +${flag})`, {
		file: toPath, fix: `if the change is intended, chattr -${flag} ${dir} and run again`,
	});
}

/** Steps 1–2: the new bytes in the temp file, with the old file's owner, mode and security xattrs, durable. */
async function writeTemp(job: Job): Promise<void> {
	const {fs, step, old, tmp, opts} = job;
	step('open');
	const C = nodeFs.constants;
	job.fd = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, old.mode & 0o7777);
	job.tmpExists = true;
	step('write');
	fs.write(job.fd, opts.data);
	step('chown');
	if (process.getuid?.() === 0) fs.fchown(job.fd, old.uid, old.gid);
	fs.fchmod(job.fd, old.mode & 0o7777);
	step('fsync');
	if (!skipped('file')) await fs.fsync(job.fd);
	step('close');
	fs.close(job.fd);
	job.fd = undefined;
	if (opts.xattrs && Object.keys(opts.xattrs).length > 0) await writeSecurityXattrs(tmp, opts.xattrs);
}

/** Step 3: what the disk gives back is what was written, and the caller accepts it. */
async function verifyTemp(job: Job): Promise<void> {
	const {opts} = job;
	job.step('verify');
	const back = job.fs.readFile(job.tmp);
	if (!back.equals(Buffer.from(opts.data.buffer, opts.data.byteOffset, opts.data.byteLength))) {
		throw new KmodpressError('E_WRITE_FAILED', 'what was read back from the temporary file differs from what was written', {file: job.toPath, fix: 'check the disk and filesystem (dmesg)'});
	}
	await opts.verify?.(back);
}

/** Step 4: the old name holds the new bytes, durably. */
async function publish(job: Job): Promise<void> {
	job.step('rename');
	await job.fs.rename(job.tmp, job.fromPath);
	job.tmpExists = false;
	job.step('fsync-dir');
	if (!skipped('dir')) await job.fs.fsyncDir(job.opts.dir);
}

/** Test only: test/power proves it would see a lost module by running with KMODPRESS_TEST_OMIT_FSYNC=file (the temp
 * file's fsync) or =dir (the directory fsync after the rename) — true when that fsync is to be skipped. */
function skipped(which: 'file' | 'dir'): boolean {
	return process.env.KMODPRESS_TEST_OMIT_FSYNC === which;
}

/** After a failure before step 4 completed: close and remove the temp file (the original is untouched). */
function dropTemp(job: Job): void {
	if (job.fd !== undefined) {
		try {
			job.fs.close(job.fd);
		} catch {
			// already failing
		}
	}
	if (job.tmpExists) {
		try {
			job.fs.unlink(job.tmp);
		} catch {
			// the next run's recoverInterrupted() sweeps it
		}
	}
}

async function writeFailure(e: unknown, toPath: string, fromPath: string, fromLabel: string): Promise<KmodpressError> {
	if (isKmodpressError(e)) return e;
	const code = (e as NodeJS.ErrnoException)?.code;
	// EPERM as root on the old file itself: chattr +i/+a on the file (its directory was checked in prepare())
	const fileFlag = code === 'EPERM' ? (await attrFlags(fromPath))?.match(/[ai]/)?.[0] : undefined;
	const fix = code === 'ENOSPC' ? 'free space on that filesystem and run again' : code === 'EROFS' ? 'remount it read-write, or pass --root to a writable copy'
		: fileFlag ? `if the change is intended, chattr -${fileFlag} ${fromLabel} and run again`
		: code === 'EACCES' || code === 'EPERM' ? 'run as root (the module tree belongs to root)' : 'check the directory and run again';
	return fsError('E_WRITE_FAILED', toPath, 'write it; the original is untouched', e, fix);
}

/** Step 5: the one live name moves to the new name, durably. */
async function dropOldName(job: Job): Promise<void> {
	const {opts} = job;
	try {
		job.step('rename-name');
		await job.fs.rename(job.fromPath, join(opts.dir, opts.to));
		job.step('fsync-dir-2');
		await job.fs.fsyncDir(opts.dir);
	} catch (e) {
		// The new bytes are safe under the old name; the next run renames them (recoverInterrupted).
		throw fsError('E_WRITE_FAILED', job.toPath, `rename ${opts.from} to ${opts.to} (the new bytes are kept under ${opts.from})`, e);
	}
}

// chattr flags of a directory or a file (`lsattr -d`), cached per path for the run; undefined when unknown (no lsattr,
// no flags support).
const attrFlagsCache = new Map<string, Promise<string | undefined>>();

function attrFlags(path: string): Promise<string | undefined> {
	let pending = attrFlagsCache.get(path);
	if (!pending) {
		pending = (async () => {
			const lsattr = findTool('lsattr');
			if (!lsattr) return undefined;
			const r = await queryToolAsync(lsattr, ['-d', '--', path]);
			return r.exitCode === 0 ? String(r.stdout).trim().split(/\s+/)[0] : undefined;
		})();
		attrFlagsCache.set(path, pending);
	}
	return pending;
}

/** Remove an older name of a module once its new file is durable (foo.ko.zst after foo.ko.xz was written). */
export function removeStaleName(dir: string, name: string, opts: {log?: Log; fs?: SyncFsPort} = {}): void {
	const fs = opts.fs ?? syncFs;
	const p = join(dir, name);
	try {
		if (!fs.lstat(p).isFile()) return;
		fs.unlink(p);
		void fs.fsyncDir(dir);
		(opts.log ?? silentLog)('info', `${p}: removed, an older name of the module just written`);
	} catch (e) {
		throw fsError('E_WRITE_FAILED', p, 'remove this older name of the module', e);
	}
}
