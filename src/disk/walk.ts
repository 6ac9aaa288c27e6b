// Finding module files without being led out of the tree. kmodpress runs as root inside package build trees: a
// module path, or a directory in it, that is a symlink to somewhere else (/etc/shadow …) is refused; a symlink that
// stays inside the tree is skipped (its target is processed under its own name). Directories, FIFOs and devices
// named *.ko are refused with one line each; everything else is still found.
import {constants, type Dirent, fstatSync, lstatSync, openSync, closeSync, readdirSync, readlinkSync, readSync, realpathSync} from 'node:fs';
import {dirname, join, resolve, sep} from 'node:path';
import {DEFAULT_MAX_DECOMPRESSED, MODULE_NAME_RE} from '../formats/table.js';
import {fsError, KmodpressError} from '../errors.js';
import type {Log} from '../types.js';
import {silentLog} from '../types.js';
import {TEMP_RE} from './safe-replace.js';

export interface ModuleFile {
	path: string;
}

const inside = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/** The trees a path must not leave once it is inside them: the kernel's module dir and a sysroot other than /.
 * Symlinks above them (Debian's /lib → usr/lib, a cache's `current` link) are the system's layout, not the tree's. */
function anchorsFor(opts: {root?: string; moduleDir?: string}): string[] {
	const out: string[] = [];
	if (opts.moduleDir) out.push(resolve(opts.moduleDir));
	if (opts.root && resolve(opts.root) !== '/') out.push(resolve(opts.root));
	return out;
}

function safeRealpath(p: string): string | undefined {
	try {
		return realpathSync(p);
	} catch {
		return undefined;
	}
}

/** The first anchor that `dir` lies in lexically but not really (a symlink on the way leads out of it). */
function leavesAnchors(dir: string, anchors: readonly string[]): {anchor: string; real: string} | undefined {
	for (const anchor of anchors) {
		if (!inside(dir, anchor)) continue;
		const real = safeRealpath(dir);
		const anchorReal = safeRealpath(anchor);
		if (real === undefined || anchorReal === undefined) continue; // missing: reported when opened
		if (!inside(real, anchorReal)) return {anchor, real};
		// the anchor itself may not leave a sysroot that holds it
		for (const outer of anchors) {
			if (outer === anchor || !inside(anchor, outer)) continue;
			const outerReal = safeRealpath(outer);
			if (outerReal && !inside(anchorReal, outerReal)) return {anchor: outer, real: anchorReal};
		}
	}
	return undefined;
}

export async function walkModules(paths: readonly string[], opts: {root?: string; moduleDir?: string; log?: Log; allowMissing?: boolean} = {}): Promise<{modules: ModuleFile[]; errors: KmodpressError[]}> {
	const log = opts.log ?? silentLog;
	const anchors = anchorsFor(opts);
	const modules: ModuleFile[] = [];
	const errors: KmodpressError[] = [];
	const seen = new Set<string>();
	const add = (p: string): void => {
		if (!seen.has(p)) {
			seen.add(p);
			modules.push({path: p});
		}
	};
	for (const given of paths) {
		const abs = resolve(given);
		let st;
		try {
			st = lstatSync(abs);
		} catch (e) {
			if (opts.allowMissing && (e as NodeJS.ErrnoException).code === 'ENOENT') continue;
			errors.push(fsError('E_INPUT_UNREADABLE', abs, 'read it', e, 'check the path'));
			continue;
		}
		if (st.isSymbolicLink()) {
			let target = '?';
			try {
				target = realpathSync(abs);
			} catch {
				// dangling
			}
			errors.push(new KmodpressError('E_INPUT_SYMLINK', `a symlink (to ${target}); kmodpress does not follow symlinks`, {file: abs, fix: 'name the file itself'}));
			continue;
		}
		if (st.isDirectory()) {
			const escape = leavesAnchors(abs, anchors);
			if (escape) {
				errors.push(new KmodpressError('E_INPUT_SYMLINK', `leads out of ${escape.anchor} (to ${escape.real}) through a symlink; kmodpress does not follow symlinks out of the tree`, {file: abs, fix: 'replace the symlink with a real directory'}));
				continue;
			}
			walkDir(abs, safeRealpath(abs) ?? abs, add, errors, log);
		} else if (st.isFile()) {
			if (!MODULE_NAME_RE.test(abs)) {
				errors.push(new KmodpressError('E_INPUT_NOT_REGULAR', 'not named like a module (*.ko, *.ko.gz, *.ko.xz, *.ko.zst)', {file: abs, fix: 'name module files or the directories that hold them'}));
				continue;
			}
			// A symlinked directory on the way may not lead out of the tree it lies in (the module dir, the sysroot).
			const escape = leavesAnchors(dirname(abs), anchors);
			if (escape) {
				errors.push(new KmodpressError('E_INPUT_SYMLINK', `a directory on its path leads out of ${escape.anchor} (to ${escape.real}); kmodpress does not follow symlinks out of the tree`, {file: abs, fix: `replace the symlink with a real directory, or name the file under ${escape.real}`}));
				continue;
			}
			add(abs);
		} else {
			errors.push(new KmodpressError('E_INPUT_NOT_REGULAR', `not a regular file (${kind(st)})`, {file: abs, fix: 'remove it or name real module files'}));
		}
	}
	return {modules, errors};
}

function kind(st: {isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isDirectory(): boolean}): string {
	return st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isDirectory() ? 'a directory' : 'not a file';
}

function walkDir(dir: string, top: string, add: (p: string) => void, errors: KmodpressError[], log: Log): void {
	let entries: Dirent[];
	try {
		entries = readdirSync(dir, {withFileTypes: true});
	} catch (e) {
		errors.push(fsError('E_INPUT_UNREADABLE', dir, 'list it', e, 'check its permissions'));
		return;
	}
	entries.sort((a, b) => a.name.localeCompare(b.name));
	for (const e of entries) {
		const p = join(dir, e.name);
		if (TEMP_RE.test(e.name)) continue;
		let type: 'link' | 'dir' | 'file' | 'other' = e.isSymbolicLink() ? 'link' : e.isDirectory() ? 'dir' : e.isFile() ? 'file' : 'other';
		let target: string | undefined;
		if (type === 'link') {
			// readdir's type is a snapshot: the entry may have been swapped since. Read the link itself (atomic);
			// if it is no longer a link, handle what is there now.
			try {
				target = safeRealpath(resolve(dir, readlinkSync(p)));
			} catch (err) {
				const code = (err as NodeJS.ErrnoException).code;
				if (code === 'ENOENT') continue;
				const st = safeLstat(p);
				if (!st) continue;
				type = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
				if (type === 'link') {
					errors.push(new KmodpressError('E_INPUT_SYMLINK', 'keeps changing between a symlink and a file; refused', {file: p, fix: 'check who is changing the module tree'}));
					continue;
				}
			}
		}
		if (type === 'link') {
			if (target === undefined || !inside(target, top)) {
				if (MODULE_NAME_RE.test(e.name) || (target && safeIsDir(target))) {
					errors.push(new KmodpressError('E_INPUT_SYMLINK', `a symlink out of the tree (to ${target ?? 'nothing'}); refused`, {file: p, fix: 'replace the link with the module file itself'}));
				}
			} else {
				log('debug', `${p}: a symlink inside the tree, skipped (its target is processed)`);
			}
			continue;
		}
		if (type === 'dir') {
			if (MODULE_NAME_RE.test(e.name)) errors.push(new KmodpressError('E_INPUT_NOT_REGULAR', 'a directory named like a module', {file: p, fix: 'remove or rename it'}));
			walkDir(p, top, add, errors, log);
		} else if (MODULE_NAME_RE.test(e.name)) {
			if (type === 'file') add(p);
			else errors.push(new KmodpressError('E_INPUT_NOT_REGULAR', `not a regular file (${e.isFIFO() ? 'a FIFO' : e.isSocket() ? 'a socket' : 'a device'})`, {file: p, fix: 'remove it'}));
		}
	}
}

function safeLstat(p: string): ReturnType<typeof lstatSync> | undefined {
	try {
		return lstatSync(p);
	} catch {
		return undefined;
	}
}

function safeIsDir(p: string): boolean {
	return safeLstat(p)?.isDirectory() ?? false;
}

/** Read a module without following a symlink, and check the file opened is the one that was listed. */
export async function readModuleFile(path: string, opts: {maxBytes?: number; label?: string} = {}): Promise<Buffer> {
	const shown = opts.label ?? path;
	let fd: number;
	try {
		fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
	} catch (e) {
		const code = (e as NodeJS.ErrnoException).code;
		if (code === 'ELOOP') throw new KmodpressError('E_INPUT_SYMLINK', 'became a symlink; refused', {file: shown, fix: 'check who is changing the module tree'});
		throw fsError('E_INPUT_UNREADABLE', shown, 'open it', e, 'check that it exists and is readable');
	}
	try {
		const st = fstatSync(fd);
		if (!st.isFile()) throw new KmodpressError('E_INPUT_NOT_REGULAR', 'not a regular file', {file: shown});
		const max = opts.maxBytes ?? DEFAULT_MAX_DECOMPRESSED;
		if (st.size > max) throw new KmodpressError('E_CODEC_BOMB', `${st.size} bytes, past the bound of ${max}`, {file: shown, fix: 'raise maxDecompressedBytes if the module is genuine'});
		const buf = Buffer.allocUnsafe(st.size);
		let off = 0;
		while (off < st.size) {
			const n = readSync(fd, buf, off, st.size - off, off);
			if (n === 0) break;
			off += n;
		}
		return off === st.size ? buf : buf.subarray(0, off);
	} catch (e) {
		if (e instanceof KmodpressError) throw e;
		throw fsError('E_INPUT_UNREADABLE', shown, 'read it', e);
	} finally {
		closeSync(fd);
	}
}
