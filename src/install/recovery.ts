// Before a run touches a module: finish what an interrupted run left in the directories it will work in (temporary
// files, a module still under its old name: disk/recovery.ts), and correct the list of module files found, so that
// the tree is walked once.
import {readFileSync} from 'node:fs';
import {dirname} from 'node:path';
import {detectFormat} from '../formats/index.js';
import {decodeGzipAsKernel} from '../formats/gzip/kernel.js';
import {decodeXz} from '../formats/xz/kernel.js';
import {decodeZstdAsKernel} from '../formats/zstd/kernel.js';
import {anchorsOf, type PinnedDir, pinDir} from '../disk/pinned-dir.js';
import {recoverInterrupted} from '../disk/recovery.js';
import type {ModuleFile} from '../disk/walk.js';
import type {KernelTarget} from '../target/discover.js';
import type {Log} from '../types.js';

/** Recover every directory that holds one of `modules` (call with the kernel's lock held); returns the module files
 * as they are now: a file recovery renamed is listed under its new name (once, if that name was listed too). */
export function recoverModuleDirs(modules: readonly ModuleFile[], opts: {target: KernelTarget; maxOutput: number; log: Log}): ModuleFile[] {
	const renamed = new Map<string, string>();
	for (const dir of new Set(modules.map((m) => dirname(m.path)))) {
		let pin: PinnedDir | undefined;
		try {
			pin = pinDir(dir, anchorsOf(opts.target));
			const recovery = recoverInterrupted(pin.via, {log: opts.log, isModule: (p) => decodesToModule(p, opts.maxOutput)});
			// recovery works through the pinned directory: name its files as the walk did
			for (const {from, to} of recovery.renamed) renamed.set(`${dir}${from.slice(pin.via.length)}`, `${dir}${to.slice(pin.via.length)}`);
		} catch (e) {
			// reported when its modules are processed
			opts.log('debug', `${dir}: ${(e as Error).message}`);
		} finally {
			pin?.close();
		}
	}
	if (renamed.size === 0) return [...modules];
	const listed = new Set(modules.map((m) => m.path));
	const out: ModuleFile[] = [];
	for (const m of modules) {
		const to = renamed.get(m.path);
		if (to === undefined) out.push(m);
		else if (!listed.has(to)) out.push({path: to});
	}
	return out;
}

/** Whether a file's content, whatever its name, decodes completely to an ELF image (what kmodpress writes). */
function decodesToModule(path: string, maxOutput: number): boolean {
	let bytes: Buffer;
	try {
		bytes = readFileSync(path);
	} catch {
		return false;
	}
	const format = detectFormat(bytes);
	const isElf = (d: Buffer | undefined) => d !== undefined && d.length > 4 && d[0] === 0x7f && d[1] === 0x45 && d[2] === 0x4c && d[3] === 0x46;
	if (format === 'elf') return true;
	if (format === 'xz') {
		const r = decodeXz(bytes, maxOutput, true);
		return r.status === 1 && isElf(r.data);
	}
	if (format === 'zstd') {
		const r = decodeZstdAsKernel(bytes, maxOutput);
		return r.ok && isElf(r.data);
	}
	if (format === 'gzip') {
		const r = decodeGzipAsKernel(bytes, maxOutput);
		return r.ok && isElf(r.data);
	}
	return false;
}
