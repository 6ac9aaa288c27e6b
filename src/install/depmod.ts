// depmod, the whole story: whether a run needs it (depmodStep), running the target's depmod with its System.map and
// the indexes kept until it succeeds (runDepmod), then checking that modules.dep lists every module written —
// depmod silently skips a suffix whose decompressor kmod was built without, and exits 0 (kmod's shared/util.c lists
// .ko.gz, .ko.xz, .ko.zst in kmod_exts[] only when built with zlib, xz, zstd; tools/depmod.c takes only those).
import {closeSync, constants, fstatSync, fsyncSync, linkSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync} from 'node:fs';
import {fsyncDirSync} from '../disk/group-commit.js';
import {join, relative, sep} from 'node:path';
import {errorToJSON, type ErrorJSON, fsError, isKmodpressError, KmodpressError} from '../errors.js';
import {requireTool, run} from '../disk/exec.js';
import type {KernelTarget} from '../target/discover.js';
import {resolveInRoot} from '../target/discover.js';
import {type ModuleResult, wroteModule} from './module.js';
import type {Log} from '../types.js';

export interface DepmodRun {
	ran: boolean;
	/** why it ran or was skipped, for the report */
	reason: string;
	argv?: string[];
	/** depmod's warnings */
	stderr?: string;
}

/** What the report says about depmod: the run, and the written modules modules.dep still does not list. */
export type DepmodReport = DepmodRun & {missing: string[]};

/** depmod after a run, and the check after it: skipped with --no-depmod (`depmod: false`), or when nothing was written
 * and modules.dep already lists every module; once it ran, a written module that modules.dep does not list fails
 * with E_DEPMOD_MISSING_MODULE (set on its result). A depmod that fails is reported in `error`. */
export interface DepmodStep {
	depmod: DepmodReport;
	/** depmod failed (its indexes were put back) */
	error?: ErrorJSON;
}

export async function depmodStep(target: KernelTarget, results: ModuleResult[], opts: {depmod?: boolean | undefined; log?: Log} = {}): Promise<DepmodStep> {
	const skip = whyNoDepmod(target, results, opts);
	let ran: DepmodRun;
	let error: ErrorJSON | undefined;
	try {
		ran = await runDepmod(target, {...(skip ? {skip} : {}), ...(opts.log ? {log: opts.log} : {})});
	} catch (e) {
		error = errorToJSON(e);
		ran = {ran: false, reason: isKmodpressError(e) ? e.message : String(e)};
	}
	const missing = ran.ran ? markMissing(target, results) : [];
	return {depmod: {...ran, missing}, ...(error ? {error} : {})};
}

function whyNoDepmod(target: KernelTarget, results: readonly ModuleResult[], opts: {depmod?: boolean}): string | undefined {
	if (opts.depmod === false) return '--no-depmod: depmod skipped';
	if (results.some(wroteModule)) return undefined;
	// nothing written: depmod would only rewrite the same indexes (and on a full disk could lose them) — unless a file
	// came in after modules.dep was written: a package manager merged it (Portage keeps the image's mtime but the
	// rename sets ctime), and its dependencies may differ from what modules.dep says of the file it replaced
	try {
		const files = resultFiles(results);
		if (newerThanModulesDep(target.moduleDir, files)) return undefined;
		if (missingFromModulesDep(target.moduleDir, files).length === 0) return 'nothing changed and modules.dep already lists every module';
	} catch {
		// no modules.dep yet: run depmod
	}
	return undefined;
}

/** Whether any file's inode changed (ctime) after modules.dep was last written. */
function newerThanModulesDep(moduleDir: string, files: readonly string[]): boolean {
	const dep = statSync(join(moduleDir, 'modules.dep')).mtimeMs;
	return files.some((f) => {
		try {
			return statSync(f).ctimeMs > dep;
		} catch {
			return false;
		}
	});
}

const resultFiles = (results: readonly ModuleResult[]): string[] => results.filter((r) => r.result).map((r) => r.result!);

/** Fail every written module that modules.dep does not list; returns their files. */
function markMissing(target: KernelTarget, results: ModuleResult[]): string[] {
	const missing = missingFromModulesDep(target.moduleDir, resultFiles(results));
	for (const r of results) {
		if (!r.result || !missing.includes(r.result)) continue;
		r.error = new KmodpressError('E_DEPMOD_MISSING_MODULE', 'missing from modules.dep after depmod: modprobe will not find it', {
			file: r.result,
			fix: `check that kmod reads *${r.result.slice(r.result.lastIndexOf('.'))} (kmod --version) and rerun depmod -a ${target.release.value}`,
		}).toJSON();
		r.outcome = 'failed';
	}
	return missing;
}

/** A System.map worth passing with -F: Debian ships an 83-byte stub ("ffffffffffffffff B The real System.map is in …"). */
export function isRealSystemMap(text: string): boolean {
	let symbols = 0;
	for (const line of text.split('\n', 2000)) if (/^[0-9a-f]{8,16} [A-Za-z] \S+$/.test(line)) symbols++;
	return symbols >= 100;
}

export function depmodArgv(target: KernelTarget): {argv: string[]; systemMap: string} {
	const argv = ['-a'];
	if (target.root !== '/') argv.push('-b', target.root);
	const mapPath = resolveInRoot(target.root, `/boot/System.map-${target.release.value}`);
	let systemMap = `${mapPath}: absent`;
	try {
		const st = statSync(mapPath);
		const text = st.size > 64 << 20 ? '' : readFileSync(mapPath, 'utf8');
		if (isRealSystemMap(text)) {
			argv.push('-F', mapPath);
			systemMap = `${mapPath}: used`;
		} else systemMap = `${mapPath}: a ${st.size}-byte stub, not passed`;
	} catch {
		// absent
	}
	argv.push(target.release.value);
	return {argv, systemMap};
}

export async function runDepmod(target: KernelTarget, opts: {skip?: string; log?: Log} = {}): Promise<DepmodRun> {
	if (opts.skip) return {ran: false, reason: opts.skip};
	if (target.stagingImage) {
		return {ran: false, reason: `--root ${target.root} is a staging image (no kernel/ or modules.order of its own): depmod belongs to the package manager's postinst`};
	}
	const depmod = requireTool('depmod', 'rebuild modules.dep', 'kmod');
	const {argv, systemMap} = depmodArgv(target);
	opts.log?.('debug', `running ${depmod} ${argv.join(' ')} (${systemMap})`);
	// depmod rewrites every index; on a full disk it can leave them empty. Keep the current ones under a second name
	// (hard links: no space needed) and put them back if it fails.
	const backups = backupIndexes(target.moduleDir);
	const r = await run(depmod, argv);
	const stderr = String(r.stderr ?? '').trim();
	if (r.exitCode !== 0) {
		const restored = restoreIndexes(target.moduleDir, backups);
		throw new KmodpressError('E_DEPMOD_FAILED', `${depmod} ${argv.join(' ')} failed (exit ${r.exitCode}): ${stderr.split('\n')[0] ?? ''}${restored ? `; the previous ${restored} index files were put back` : ''}`, {
			file: target.moduleDir, fix: 'fix what depmod reports (disk space?), then run kmodpress again',
		});
	}
	makeIndexesDurable(target.moduleDir);
	dropBackups(target.moduleDir, backups);
	if (stderr) for (const line of stderr.split('\n')) opts.log?.('warn', line);
	return {ran: true, reason: systemMap, argv: [depmod, ...argv], ...(stderr ? {stderr} : {})};
}

/** depmod publishes each index by rename without an fsync (kmod tools/depmod.c: tmpfile_publish), so after a power
 * cut the renamed name can point at a file whose data never reached the disk: an empty modules.dep (seen on xfs by
 * test/power). Flush every index and then the directory, so that the indexes are durable before kmodpress reports
 * success; a crash before that leaves at worst an index the next run rebuilds (depmodStep runs depmod whenever
 * modules.dep does not list every module). */
function makeIndexesDurable(moduleDir: string): void {
	for (const name of readdirSync(moduleDir)) {
		if (!name.startsWith('modules.')) continue;
		const path = join(moduleDir, name);
		let fd: number | undefined;
		try {
			fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
			if (fstatSync(fd).isFile()) fsyncSync(fd);
		} catch (e) {
			throw fsError('E_DEPMOD_FAILED', path, 'flush it to disk after depmod', e);
		} finally {
			if (fd !== undefined) closeSync(fd);
		}
	}
	fsyncDirSync(moduleDir);
}

const BACKUP_PREFIX = '.kmodpress-index-';

function backupIndexes(moduleDir: string): string[] {
	const names: string[] = [];
	let entries: string[] = [];
	try {
		entries = readdirSync(moduleDir);
	} catch {
		return names;
	}
	for (const name of entries) {
		if (name.startsWith(BACKUP_PREFIX)) {
			rmSync(join(moduleDir, name), {force: true}); // left by a run that was killed
			continue;
		}
		if (!name.startsWith('modules.')) continue;
		try {
			if (!lstatSync(join(moduleDir, name)).isFile()) continue;
			linkSync(join(moduleDir, name), join(moduleDir, BACKUP_PREFIX + name));
			names.push(name);
		} catch {
			// a filesystem without hard links: no backup for this one
		}
	}
	return names;
}

function restoreIndexes(moduleDir: string, names: readonly string[]): number {
	let n = 0;
	for (const name of names) {
		try {
			renameSync(join(moduleDir, BACKUP_PREFIX + name), join(moduleDir, name));
			n++;
		} catch {
			// leave it
		}
	}
	return n;
}

function dropBackups(moduleDir: string, names: readonly string[]): void {
	for (const name of names) rmSync(join(moduleDir, BACKUP_PREFIX + name), {force: true});
}

/** The paths (relative to moduleDir) that modules.dep lists. */
export function parseModulesDep(text: string): Set<string> {
	const out = new Set<string>();
	for (const line of text.split('\n')) {
		const colon = line.indexOf(':');
		if (colon > 0) out.add(line.slice(0, colon));
	}
	return out;
}

/** Modules under moduleDir that modules.dep does not list (paths as given). Modules outside moduleDir are not checked. */
export function missingFromModulesDep(moduleDir: string, files: readonly string[]): string[] {
	const depFile = join(moduleDir, 'modules.dep');
	let listed: Set<string>;
	try {
		listed = parseModulesDep(readFileSync(depFile, 'utf8'));
	} catch (e) {
		throw fsError('E_DEPMOD_FAILED', depFile, 'read it', e, 'run depmod for this kernel');
	}
	return files.filter((f) => {
		const rel = relative(moduleDir, f);
		if (rel.startsWith('..') || rel.startsWith(sep)) return false;
		return !listed.has(rel) && !listed.has(f);
	});
}
