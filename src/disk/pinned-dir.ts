// A module's directory, opened once and checked, so that everything kmodpress does in it afterwards happens in that
// very directory: a symlink swapped in on the path while the run goes on (the classic temp-file race, with root
// writing into a tree someone else can write to) cannot redirect a read or a write. Node has no openat()/renameat():
// paths under /proc/<pid>/fd/<dirfd>/ resolve through the open descriptor, not the name, and child processes
// (getfattr, setfattr, lsattr) can use them too.
import {closeSync, constants, openSync, readlinkSync, realpathSync} from 'node:fs';
import {sep} from 'node:path';
import {fsError, KmodpressError} from '../errors.js';

export interface PinnedDir {
	/** the directory as named (for messages) */
	path: string;
	/** where it really is, read back from the open descriptor */
	real: string;
	/** a path prefix that resolves through the descriptor: `${via}/${name}` */
	via: string;
	close(): void;
}

const inside = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/** Open `dir` (no symlink as its last component), and check that where it really is lies inside every anchor that
 * holds it by name (the module dir, the sysroot). Throws E_INPUT_SYMLINK otherwise. */
export function pinDir(dir: string, anchors: readonly string[]): PinnedDir {
	let fd: number;
	try {
		fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
	} catch (e) {
		if ((e as NodeJS.ErrnoException).code === 'ELOOP' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
			throw new KmodpressError('E_INPUT_SYMLINK', '(now) a symlink, not a directory; refused', {file: dir, fix: 'check who is changing the module tree, then run again'});
		}
		throw fsError('E_INPUT_UNREADABLE', dir, 'open the directory', e, 'check that it exists');
	}
	const via = `/proc/${process.pid}/fd/${fd}`;
	let real: string;
	try {
		real = readlinkSync(via);
	} catch (e) {
		closeSync(fd);
		throw fsError('E_INTERNAL', dir, 'read where its descriptor points (/proc mounted?)', e);
	}
	for (const anchor of anchors) {
		if (!inside(dir, anchor)) continue;
		let anchorReal: string;
		try {
			anchorReal = realpathSync(anchor);
		} catch {
			continue;
		}
		if (!inside(real, anchorReal)) {
			closeSync(fd);
			throw new KmodpressError('E_INPUT_SYMLINK', `leads out of ${anchor} (to ${real}) through a symlink; refused`, {file: dir, fix: 'replace the symlink with a real directory; check who is changing the module tree'});
		}
	}
	let closed = false;
	return {
		path: dir, real, via,
		close() {
			if (!closed) closeSync(fd);
			closed = true;
		},
	};
}

/** The trees a module's directory must stay inside: the kernel's module dir, and a sysroot other than /. */
export function anchorsOf(target: {moduleDir: string; root: string}): string[] {
	return [target.moduleDir, ...(target.root !== '/' ? [target.root] : [])];
}
