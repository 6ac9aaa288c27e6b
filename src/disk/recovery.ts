// What the next run finds after a run was killed in the middle of replaceFile (safe-replace.ts), and how it finishes
// the job: a temporary file beside the module (killed before the first rename) is removed; a module whose name does
// not match its content (foo.ko holding xz bytes: killed between the two renames) gets the name its content has.
// Modules are detected by magic, so such a file loads meanwhile; nothing here ever deletes a module.
import * as nodeFs from 'node:fs';
import {basename, join} from 'node:path';
import {detectFormat} from '../formats/index.js';
import {ALGORITHMS, MODULE_NAME_RE, targetName} from '../formats/table.js';
import {type SyncFsPort, syncFs, TEMP_RE} from './safe-replace.js';
import type {Algorithm, Log} from '../types.js';
import {silentLog} from '../types.js';

export interface Recovery {
	removedTemps: string[];
	renamed: {from: string; to: string}[];
}

export interface RecoverOptions {
	log?: Log;
	fs?: SyncFsPort;
	/** whether a file's whole content decodes to a module: only then is a name that does not match the content the
	 * trace of an interrupted replace (a file that is garbage under any name is left for the caller to report) */
	isModule?: (path: string) => boolean;
}

/** Finish what an interrupted run left in `dir` (call with the kernel's lock held); says what it removed and renamed. */
export function recoverInterrupted(dir: string, opts: RecoverOptions = {}): Recovery {
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
			if (removeTemp(p, fs)) {
				out.removedTemps.push(p);
				log('info', `${p}: removed a temporary file an interrupted run left`);
			}
			continue;
		}
		if (!MODULE_NAME_RE.test(name)) continue;
		const format = formatOf(p, fs);
		if (format === undefined) continue;
		const to = join(dir, targetName(name, format === 'elf' ? null : format));
		if (to === p) continue;
		if (opts.isModule && !opts.isModule(p)) continue;
		try {
			fs.rename(p, to);
			void fs.fsyncDir(dir);
			out.renamed.push({from: p, to});
			log('info', `${p}: holds ${format} data, renamed to ${basename(to)} (an interrupted run's last step)`);
		} catch (e) {
			log('warn', `${p}: holds ${format} data but could not be renamed to ${basename(to)}: ${(e as Error).message}`);
		}
	}
	return out;
}

function removeTemp(p: string, fs: SyncFsPort): boolean {
	try {
		if (!fs.lstat(p).isFile()) return false;
		fs.unlink(p);
		return true;
	} catch {
		return false; // raced away
	}
}

/** A module file's format by its magic: plain ELF or an algorithm a module can be compressed with; undefined for
 * anything else (or what cannot be read). */
function formatOf(p: string, fs: SyncFsPort): Algorithm | 'elf' | undefined {
	const head = Buffer.alloc(16);
	try {
		if (!fs.lstat(p).isFile()) return undefined;
		const fd = nodeFs.openSync(p, nodeFs.constants.O_RDONLY | nodeFs.constants.O_NOFOLLOW);
		try {
			nodeFs.readSync(fd, head, 0, 16, 0);
		} finally {
			nodeFs.closeSync(fd);
		}
	} catch {
		return undefined;
	}
	const format = detectFormat(head);
	return format === 'elf' || ALGORITHMS.includes(format as Algorithm) ? format as Algorithm | 'elf' : undefined;
}
