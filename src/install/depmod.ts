// depmod, the whole story: whether a run needs it (depmodStep), running the target's depmod with its System.map and
// the indexes kept until it succeeds (runDepmod), then checking that modules.dep lists every module written —
// depmod silently skips a suffix whose decompressor kmod was built without, and exits 0 (kmod's shared/util.c lists
// .ko.gz, .ko.xz, .ko.zst in kmod_exts[] only when built with zlib, xz, zstd; tools/depmod.c takes only those).
import {randomBytes} from 'node:crypto';
import {closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync} from 'node:fs';
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

/** depmod's arguments for the target, after `-a` and a `-b` base: `-F System.map` when that file is real, the release
 * (the System.map is read once, however many bases the arguments are then given). */
function depmodArgs(target: KernelTarget): {args: string[]; systemMap: string} {
	const args: string[] = [];
	const mapPath = resolveInRoot(target.root, `/boot/System.map-${target.release.value}`);
	let systemMap = `${mapPath}: absent`;
	try {
		const st = statSync(mapPath);
		const text = st.size > 64 << 20 ? '' : readFileSync(mapPath, 'utf8');
		if (isRealSystemMap(text)) {
			args.push('-F', mapPath);
			systemMap = `${mapPath}: used`;
		} else systemMap = `${mapPath}: a ${st.size}-byte stub, not passed`;
	} catch {
		// absent
	}
	args.push(target.release.value);
	return {args, systemMap};
}

const withBase = (base: string | undefined, args: readonly string[]): string[] => ['-a', ...(base !== undefined ? ['-b', base] : []), ...args];

export async function runDepmod(target: KernelTarget, opts: {skip?: string; log?: Log} = {}): Promise<DepmodRun> {
	if (opts.skip) return {ran: false, reason: opts.skip};
	if (target.stagingImage) {
		return {ran: false, reason: `--root ${target.root} is a staging image (no kernel/ or modules.order of its own): depmod belongs to the package manager's postinst`};
	}
	const depmod = requireTool('depmod', 'rebuild modules.dep', 'kmod');
	const {args, systemMap} = depmodArgs(target);
	// what depmod does for this target (the report shows it), and what kmodpress runs: the same into the shadow tree
	const argv = withBase(target.root !== '/' ? target.root : undefined, args);
	const shadow = makeShadow(target);
	const shadowArgv = withBase(shadow.base, args);
	opts.log?.('debug', `running ${depmod} ${shadowArgv.join(' ')} (${systemMap}); its indexes are then published into ${target.moduleDir}`);
	try {
		const r = await run(depmod, shadowArgv);
		const stderr = String(r.stderr ?? '').trim();
		if (r.exitCode !== 0) {
			throw new KmodpressError('E_DEPMOD_FAILED', `${depmod} ${argv.join(' ')} failed (exit ${r.exitCode}): ${stderr.split('\n')[0] ?? ''}; the current indexes are untouched`, {
				file: target.moduleDir, fix: 'fix what depmod reports (disk space?), then run kmodpress again',
			});
		}
		if (!listsAnyModule(join(shadow.dir, 'modules.dep')) && listsAnyModule(join(target.moduleDir, 'modules.dep'))) {
			throw new KmodpressError('E_DEPMOD_FAILED', `${depmod} wrote an empty modules.dep through the symlinks of ${shadow.base}; the current indexes are untouched`, {
				file: target.moduleDir, fix: 'report this with `kmod --version`; meanwhile run depmod -a by hand',
			});
		}
		publishIndexes(shadow.dir, target.moduleDir);
		if (stderr) for (const line of stderr.split('\n')) opts.log?.('warn', line);
		return {ran: true, reason: systemMap, argv: [depmod, ...argv], ...(stderr ? {stderr} : {})};
	} finally {
		rmSync(shadow.base, {recursive: true, force: true});
	}
}

// depmod publishes each index by rename without an fsync (kmod tools/depmod.c: depmod_output() writes
// "<name>.tmp" and renames it), so after a power cut the new name can point at a file whose data never reached the
// disk: test/power found an empty modules.dep on xfs, whose journal committed the rename (forced by the next fsync of
// any file) before the index's data. So depmod writes into a shadow tree beside the indexes, on the same filesystem:
// `<moduleDir>/.kmodpress-depmod.<pid>.<hex>/usr/lib/modules/<KV>/` (with `lib` -> `usr/lib`, for a kmod built with
// either module directory) holding a relative symlink to every entry of the module directory except the indexes
// depmod writes. depmod -b follows them (its config still comes from /etc/depmod.d: kmod reads config without the
// base, tools/depmod.c cfg_load), so it sees the same tree and writes the same indexes (modules.dep byte-identical
// on Debian's 6.12 tree). Each index is then flushed, renamed into place and the directory flushed: after a cut
// every index is its old or its new content, never empty.

/** The indexes depmod writes (kmod tools/depmod.c depfiles[]; modules.weakdep since kmod 33): never linked into the
 * shadow, so that depmod writes them there. Every other modules.* file (modules.order, modules.builtin,
 * modules.builtin.modinfo) is an input. */
const DEPMOD_OUTPUTS = new Set(['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin', 'modules.softdep', 'modules.weakdep',
	'modules.symbols', 'modules.symbols.bin', 'modules.builtin.bin', 'modules.builtin.alias.bin', 'modules.devname']);
const SHADOW_PREFIX = '.kmodpress-depmod.';
/** build and source point into the kernel's source tree; depmod skips them by name (tools/depmod.c). */
const NOT_LINKED = new Set(['build', 'source']);

function makeShadow(target: KernelTarget): {base: string; dir: string} {
	const moduleDir = target.moduleDir;
	const names = readdirSync(moduleDir);
	for (const name of names) {
		if (name.startsWith(SHADOW_PREFIX) || name.startsWith(OLD_BACKUP_PREFIX)) rmSync(join(moduleDir, name), {recursive: true, force: true}); // a killed run's
	}
	const base = join(moduleDir, `${SHADOW_PREFIX}${process.pid}.${randomBytes(4).toString('hex')}`);
	const dir = join(base, 'usr/lib/modules', target.release.value);
	try {
		mkdirSync(dir, {recursive: true, mode: 0o700});
		symlinkSync('usr/lib', join(base, 'lib'));
		for (const name of names) {
			// kmodpress's own files (temp files, the lock, old shadows) and depmod's outputs stay out
			if (name.startsWith('.kmodpress-') || DEPMOD_OUTPUTS.has(name) || NOT_LINKED.has(name)) continue;
			symlinkSync(relative(dir, join(moduleDir, name)), join(dir, name));
		}
	} catch (e) {
		rmSync(base, {recursive: true, force: true});
		throw fsError('E_DEPMOD_FAILED', moduleDir, 'prepare depmod\'s output directory in it', e, 'check that the module directory is writable (disk space?), then run kmodpress again');
	}
	return {base, dir};
}

/** Each index depmod wrote: flushed, renamed over the live one, then the directory flushed. */
function publishIndexes(from: string, moduleDir: string): void {
	const written = readdirSync(from).filter((name) => DEPMOD_OUTPUTS.has(name));
	for (const name of written) {
		const path = join(from, name);
		let fd: number | undefined;
		try {
			fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
			if (!fstatSync(fd).isFile()) continue;
			fsyncSync(fd);
		} catch (e) {
			throw fsError('E_DEPMOD_FAILED', path, 'flush it to disk after depmod', e);
		} finally {
			if (fd !== undefined) closeSync(fd);
		}
	}
	try {
		for (const name of written) renameSync(join(from, name), join(moduleDir, name));
		fsyncDirSync(moduleDir);
	} catch (e) {
		throw fsError('E_DEPMOD_FAILED', moduleDir, 'publish depmod\'s indexes in it', e);
	}
}

/** Backups of the indexes that earlier versions kept during depmod; a killed run's are removed. */
const OLD_BACKUP_PREFIX = '.kmodpress-index-';

/** Whether a modules.dep exists and lists at least one module. */
function listsAnyModule(depFile: string): boolean {
	try {
		return parseModulesDep(readFileSync(depFile, 'utf8')).size > 0;
	} catch {
		return false;
	}
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
