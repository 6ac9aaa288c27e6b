// The main job: compress the given modules for one target kernel exactly as its modules_install would, crash-safely,
// then depmod once and check modules.dep, then verify.
//
//   discover target → policy (refuses an unreadable suffix before touching anything) → lock lib/modules/KV →
//   recover what an interrupted run left → for each module, in the worker pool: read (no symlinks out of the tree),
//   decode as the kernel and as kmod would, check the ELF and vermagic, plan, encode, decode back under the kernel's
//   rules and compare, replace (temp beside the target, fsync, rename, fsync dir, unlink the old name) →
//   depmod (not for a staging image) → every module in modules.dep → verify.
import {availableParallelism} from 'node:os';
import {basename, dirname, join, relative} from 'node:path';
import {createCodecPool, createInlinePool, type CodecPool} from '../workers/pool.js';
import {detectFormat} from '../formats/index.js';
import {decodeGzipAsKernel} from '../formats/gzip/kernel.js';
import {decodeXz} from '../formats/xz/kernel.js';
import {decodeZstdAsKernel} from '../formats/zstd/kernel.js';
import {parseZstdFrameHeader} from '../formats/zstd/header.js';
import {lstatSync, readFileSync} from 'node:fs';
import {missingFromModulesDep, runDepmod, type DepmodRun} from './depmod.js';
import {mapLimit} from '../workers/map-limit.js';
import {isKmodpressError, KmodpressError} from '../errors.js';
import {acquireKernelLock} from '../disk/lock.js';
import {readSecurityXattrs, recoverInterrupted, removeStaleName, replaceFile} from '../disk/safe-replace.js';
import {anchorsOf, type PinnedDir, pinDir} from '../disk/pinned-dir.js';
import {readModuleFile, walkModules} from '../disk/walk.js';
import type {KernelConfig} from '../target/kernel-config.js';
import {outOfTreePaths, type KernelTarget} from '../target/discover.js';
import {checkModuleImage} from '../verify/checks/module-image.js';
import {type Action, type FileFacts, planAction} from './plan.js';
import {DEFAULT_MAX_DECOMPRESSED, endsWithSignature, plainName, targetName} from '../formats/table.js';
import type {Policy} from '../policy/index.js';
import type {Algorithm, Finding, Log} from '../types.js';
import {silentLog} from '../types.js';

export interface CompressOptions {
	target: KernelTarget;
	policy: Policy;
	/** the target's kernel config (architecture and vermagic checks) */
	config?: KernelConfig | undefined;
	/** files or directories; empty: the kernel's out-of-tree directories (extra, updates, weak-updates) */
	paths: readonly string[];
	depmod?: boolean;
	dryRun?: boolean;
	threads?: number;
	maxDecompressedBytes?: number;
	lockTimeoutMs?: number;
	/** run the verifier on every module at the end (default true) */
	verify?: boolean;
	/** judge signatures as an enforcing kernel would (--sig-enforce / config sigEnforce) */
	sigEnforce?: boolean;
	log?: Log;
	/** a pool to reuse (tests, recompress over several kernels) */
	pool?: CodecPool;
}

export type ModuleOutcome = 'compressed' | 'recompressed' | 'decompressed' | 'unchanged' | 'failed';

export interface ModuleResult {
	/** the file as found */
	path: string;
	/** the module name (file name without .ko and suffix) */
	module: string;
	outcome: ModuleOutcome;
	/** the file after the run (absent when failed) */
	result?: string;
	/** the name removed, when the file changed name */
	removed?: string[];
	algorithm?: Algorithm | null;
	bytesBefore?: number;
	bytesAfter?: number;
	reason: string;
	error?: {code: string; message: string; fix?: string};
	warnings?: string[];
	/** the verifier's verdict on the result (compress --no-verify: absent) */
	verify?: {loadable: boolean; depends: string[]; findings: Finding[]};
}

export interface CompressReport {
	kernel: string;
	dryRun: boolean;
	modules: ModuleResult[];
	depmod: (DepmodRun & {missing: string[]}) | undefined;
	changed: number;
	failed: number;
	/** errors that concern no single module (a symlink out of the tree, an unreadable directory) */
	errors: {code: string; file?: string; message: string; fix?: string}[];
}

export async function compressModules(opts: CompressOptions): Promise<CompressReport> {
	const log = opts.log ?? silentLog;
	const {target, policy} = opts;
	const maxOutput = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
	const paths = opts.paths.length > 0 ? [...opts.paths] : outOfTreePaths(target);
	const errors: CompressReport['errors'] = [];

	// A staging image belongs to one package build: no lock (and no lock file left in the package's image).
	const lock = opts.dryRun || target.stagingImage ? undefined : await acquireKernelLock(target.moduleDir, {timeoutMs: opts.lockTimeoutMs ?? 600_000, log});
	let pool = opts.pool;
	try {
		const walked = await walkModules(paths, {root: target.root, moduleDir: target.moduleDir, log, allowMissing: opts.paths.length === 0});
		// Workers pay off from a few modules on; one or two run faster on the main thread.
		pool ??= walked.modules.length <= 2 ? await createInlinePool() : createCodecPool({threads: opts.threads ?? availableParallelism()});
		const activePool = pool;
		if (!opts.dryRun) {
			for (const dir of new Set(walked.modules.map((m) => dirname(m.path)))) {
				let pin: PinnedDir | undefined;
				try {
					pin = pinDir(dir, anchorsOf(target));
					recoverInterrupted(pin.via, {log, isModule: (p) => decodesToModule(p, maxOutput)});
				} catch (e) {
					// reported when its modules are processed
					log('debug', `${dir}: ${(e as Error).message}`);
				} finally {
					pin?.close();
				}
			}
		}
		// Re-walk after recovery: it may have removed a stale twin or a leftover.
		// Its findings are the ones reported: the tree may have changed in between.
		const {modules, errors: walkErrors} = opts.dryRun ? walked : await walkModules(paths, {root: target.root, moduleDir: target.moduleDir, log, allowMissing: opts.paths.length === 0});
		for (const e of walkErrors) errors.push(errorJSON(e));
		const groups = groupByModule(modules.map((m) => m.path));
		// deep enough that fsyncs of many modules share journal commits while the workers stay busy, and bounded by
		// bytes too: a run of big modules (amdgpu is 29 MB) waits instead of piling up in memory
		const budget = byteBudget(IN_FLIGHT_BYTES);
		const results = await mapLimit([...groups.values()], Math.max(8, (opts.threads ?? availableParallelism()) * 4), async (group) => {
			const size = sizeOf(group[0]!);
			await budget.acquire(size);
			try {
				return await processModule(group, {target, policy, config: opts.config, pool: activePool, maxOutput, dryRun: Boolean(opts.dryRun), log});
			} finally {
				budget.release(size);
			}
		});

		let depmod: CompressReport['depmod'];
		const changed = results.filter((r) => r.outcome !== 'unchanged' && r.outcome !== 'failed').length;
		if (!opts.dryRun) {
			let skip = opts.depmod === false ? '--no-depmod: depmod skipped' : undefined;
			if (!skip && changed === 0) {
				// nothing written: depmod would only rewrite the same indexes (and on a full disk could lose them)
				try {
					const kept = results.filter((r) => r.result).map((r) => r.result!);
					if (missingFromModulesDep(target.moduleDir, kept).length === 0) skip = 'nothing changed and modules.dep already lists every module';
				} catch {
					// no modules.dep yet: run depmod
				}
			}
			let ran: Awaited<ReturnType<typeof runDepmod>>;
			try {
				ran = await runDepmod(target, {...(skip ? {skip} : {}), log});
			} catch (e) {
				errors.push(errorJSON(e));
				ran = {ran: false, reason: isKmodpressError(e) ? e.message : String(e)};
			}
			let missing: string[] = [];
			if (ran.ran) {
				missing = missingFromModulesDep(target.moduleDir, results.filter((r) => r.result).map((r) => r.result!));
				for (const r of results) {
					if (r.result && missing.includes(r.result)) {
						r.error = {
							code: 'E_DEPMOD_MISSING_MODULE',
							message: `${relative(target.moduleDir, r.result)} is missing from modules.dep after depmod: modprobe will not find it`,
							fix: `check that kmod reads *${r.result.slice(r.result.lastIndexOf('.'))} (kmod --version) and rerun depmod -a ${target.release.value}`,
						};
						r.outcome = 'failed';
					}
				}
			}
			depmod = {...ran, missing};
		}
		if (!opts.dryRun && opts.verify !== false) {
			const written = results.filter((r) => r.result && r.outcome !== 'failed');
			if (written.length > 0) {
				const {verifyModules} = await import('../verify/index.js');
				const report = await verifyModules({
					target, policy, config: opts.config, paths: written.map((r) => r.result!), pool: activePool, log,
					...(opts.sigEnforce ? {sigEnforce: true} : {}), maxDecompressedBytes: maxOutput,
				});
				const byPath = new Map(report.modules.map((m) => [m.path, m]));
				for (const r of written) {
					const v = byPath.get(r.result!);
					if (!v) continue;
					r.verify = {loadable: v.loadable, depends: v.depends, findings: v.findings};
					if (!v.loadable && !r.error) {
						const first = v.findings.find((x) => x.severity === 'error')!;
						r.error = {code: 'E_VERIFY_NOT_LOADABLE', message: `${r.result}: the kernel ${target.release.value} would refuse it: ${first.code}: ${first.message}`, fix: 'see kmodpress verify -v for every finding'};
					}
				}
			}
		}
		const failed = results.filter((r) => r.outcome === 'failed' || r.error).length + errors.length;
		return {kernel: target.release.value, dryRun: Boolean(opts.dryRun), modules: results, depmod, changed, failed, errors};
	} finally {
		if (!opts.pool) await pool?.close();
		await lock?.release();
	}
}

function errorJSON(e: unknown): {code: string; file?: string; message: string; fix?: string} {
	if (isKmodpressError(e)) return e.toJSON();
	return {code: 'E_INTERNAL', message: String((e as Error)?.message ?? e)};
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

/** Group paths by directory + module name: foo.ko and foo.ko.xz in one directory are one module under two names. */
function groupByModule(paths: readonly string[]): Map<string, string[]> {
	const groups = new Map<string, string[]>();
	for (const p of paths) {
		const key = join(dirname(p), plainName(basename(p)));
		const g = groups.get(key);
		if (g) g.push(p);
		else groups.set(key, [p]);
	}
	return groups;
}

/** Module bytes in flight at once (read, decoded, encoded, decoded back): about 4x this in memory at the peak. */
const IN_FLIGHT_BYTES = 32 << 20;

function sizeOf(p: string): number {
	try {
		return lstatSync(p).size;
	} catch {
		return 0; // reported when it is read
	}
}

/** A counting semaphore over bytes; one request larger than the whole budget still runs, alone. */
function byteBudget(limit: number): {acquire(n: number): Promise<void>; release(n: number): void} {
	let used = 0;
	const waiting: {n: number; go: () => void}[] = [];
	const fits = (n: number): boolean => used === 0 || used + n <= limit;
	return {
		acquire(n) {
			if (waiting.length === 0 && fits(n)) {
				used += n;
				return Promise.resolve();
			}
			return new Promise<void>((go) => waiting.push({n, go}));
		},
		release(n) {
			used -= n;
			while (waiting.length > 0 && fits(waiting[0]!.n)) {
				const w = waiting.shift()!;
				used += w.n;
				w.go();
			}
		},
	};
}

interface Ctx {
	target: KernelTarget;
	policy: Policy;
	config: KernelConfig | undefined;
	pool: CodecPool;
	maxOutput: number;
	dryRun: boolean;
	log: Log;
}

/** Read and understand one file: its algorithm, the ELF image inside, what the kernel and kmod make of it. */
async function inspect(path: string, bytes: Buffer, ctx: Ctx): Promise<{facts: FileFacts; image: Buffer}> {
	if (bytes.length === 0) {
		throw new KmodpressError('E_INPUT_EMPTY', `${path}: empty file (an interrupted copy?)`, {file: path, fix: 'reinstall the module (rebuild the package)'});
	}
	const magic = detectFormat(bytes);
	if (magic === 'elf') return {facts: {algorithm: null}, image: bytes};
	if (magic === null) {
		throw new KmodpressError('E_ELF_NOT_ELF', `${path}: neither an ELF module nor a gzip/xz/zstd compressed one (starts with ${bytes.subarray(0, 6).toString('hex')})`, {
			file: path, fix: 'reinstall the module; if it was compressed by hand, use the kernel\'s algorithm',
		});
	}
	if (magic !== 'xz' && magic !== 'zstd' && magic !== 'gzip') {
		throw new KmodpressError('E_CODEC_CORRUPT', `${path}: ${magic} data, which no kernel decompresses (only gzip, xz, zstd)`, {
			file: path, fix: 'decompress it and rerun kmodpress',
		});
	}
	if (endsWithSignature(bytes)) {
		throw new KmodpressError('E_SIG_AFTER_COMPRESSION', `${path}: the signature was appended after compression; the kernel checks the decompressed image and rejects it ("Loading of unsigned module is rejected")`, {
			file: path, fix: 'sign the plain .ko first, then compress (kbuild order: install → strip → sign → compress)',
		});
	}
	let image: Buffer;
	let userspaceOk = true;
	try {
		image = await ctx.pool.decompress(bytes, magic, {maxOutput: ctx.maxOutput});
	} catch (e) {
		if (isKmodpressError(e)) {
			throw new KmodpressError(e.code, `${path}: ${e.message.replace(`${path}: `, '')}`, {file: path, ...(e.fix ? {fix: e.fix} : {fix: 'reinstall the module'}), cause: e});
		}
		throw e;
	}
	const facts: FileFacts = {algorithm: magic, userspaceOk};
	if (magic === ctx.policy.decompressor.value.algorithm) {
		const k = await ctx.pool.kernelDecode(bytes, ctx.policy.decompressor.value, {maxOutput: ctx.maxOutput});
		facts.kernel = {ok: k.ok, message: k.message, completeOutput: k.ok && k.data !== undefined && k.data.equals(image)};
	}
	if (magic === 'zstd') facts.zstdWithoutContentSize = !zstdHasContentSize(bytes);
	return {facts, image};
}

/** Whether the zstd frame header declares a Frame_Content_Size (RFC 8878 §3.1.1.1). */
function zstdHasContentSize(bytes: Buffer): boolean {
	const h = parseZstdFrameHeader(bytes);
	return h !== undefined && !('status' in h) && h.contentSize !== undefined;
}

async function processModule(group: string[], ctx: Ctx): Promise<ModuleResult> {
	const {target, policy, pool, log} = ctx;
	// One module under several names: the plain .ko is the one just installed; otherwise the newest.
	const sorted = await sortByPreference(group);
	const path = sorted[0]!;
	const stale = sorted.slice(1);
	const module = plainName(basename(path)).replace(/\.ko$/, '');
	const base: ModuleResult = {path, module, outcome: 'failed', reason: ''};
	let pin: PinnedDir | undefined;
	try {
		// every read and write for this module goes through its directory opened once (a symlink swapped in on the
		// path meanwhile cannot redirect them)
		pin = pinDir(dirname(path), anchorsOf(target));
		const bytes = await readModuleFile(join(pin.via, basename(path)), {maxBytes: ctx.maxOutput, label: path});
		const {facts, image} = await inspect(path, bytes, ctx);
		const warnings = checkModuleImage(image, path, target, policy, ctx.config);
		const action: Action = planAction(facts, policy);
		const to = join(dirname(path), targetName(basename(path), action.algorithm));
		base.bytesBefore = bytes.length;
		base.algorithm = action.algorithm;
		if (warnings.length) base.warnings = warnings;
		if (action.kind === 'keep' && stale.length === 0) {
			return {...base, outcome: 'unchanged', result: path, bytesAfter: bytes.length, reason: action.reason};
		}
		let data: Buffer;
		if (action.kind === 'keep') data = bytes;
		else if (action.algorithm === null) data = image;
		else data = await compressChecked(image, action.algorithm, to, ctx);
		const outcome: ModuleOutcome = action.kind === 'compress' ? 'compressed' : action.kind === 'recompress' ? 'recompressed'
			: action.kind === 'decompress' ? 'decompressed' : 'unchanged';
		const removed = [...(to !== path ? [path] : []), ...stale.filter((s) => s !== to)];
		const reason = stale.length ? `${action.reason}; ${stale.map((s) => basename(s)).join(', ')} ${stale.length > 1 ? 'were older names' : 'was an older name'} of the same module` : action.reason;
		if (ctx.dryRun) return {...base, outcome, result: to, ...(removed.length ? {removed} : {}), bytesAfter: data.length, reason: `would be ${outcome}: ${reason}`};
		const dir = pin.via;
		if (action.kind !== 'keep' || to !== path) {
			await replaceFile({
				dir,
				dirLabel: dirname(path),
				from: basename(path),
				to: basename(to),
				data,
				log,
				xattrs: await readSecurityXattrs(join(pin.real, basename(path))),
				verify: async (written: Buffer) => {
					if (!written.equals(data)) throw new KmodpressError('E_WRITE_FAILED', `${to}: what reached the disk differs from what was written`, {file: to, fix: 'check the filesystem and disk (dmesg)'});
				},
			});
		}
		for (const s of stale) {
			if (s === to || s === path) continue;
			removeStaleName(dir, basename(s), {log});
		}
		log('info', `${relative(target.moduleDir, to).startsWith('..') ? to : relative(target.moduleDir, to)}: ${outcome} (${reason})`);
		return {...base, outcome, result: to, ...(removed.length ? {removed} : {}), bytesAfter: data.length, reason};
	} catch (e) {
		const err = errorJSON(e);
		log('error', isKmodpressError(e) ? e.line : err.message);
		return {...base, outcome: 'failed', reason: err.message, error: err};
	} finally {
		pin?.close();
	}
}

/** Encode the image and decode what is about to be written the way the target will: the kernel's rules when it
 * decompresses this algorithm itself, kmod's otherwise; it must give back the module byte for byte (signature
 * included). Both happen in a codec worker (the image goes there and back without a copy). */
async function compressChecked(image: Buffer, algorithm: Algorithm, to: string, ctx: Ctx): Promise<Buffer> {
	if (ctx.policy.params!.algorithm !== algorithm) throw new KmodpressError('E_INTERNAL', `${to}: planned ${algorithm} but the policy encodes ${ctx.policy.params!.algorithm}`);
	const r = await ctx.pool.compressChecked(image, ctx.policy.params!, ctx.policy.decompressor.value, {maxOutput: ctx.maxOutput});
	if (r.failure?.kind === 'refused') {
		throw new KmodpressError('E_CODEC_ROUNDTRIP', `${to}: the kernel would refuse what kmodpress just encoded (${r.failure.message}); nothing was written`, {file: to, fix: 'report this to kmodpress with the output of `kmodpress explain`'});
	}
	if (r.failure) {
		throw new KmodpressError('E_CODEC_ROUNDTRIP', `${to}: decoding the new file with ${r.how} does not give back the module byte for byte; nothing was written`, {file: to, fix: 'report this to kmodpress'});
	}
	return r.data;
}

async function sortByPreference(group: string[]): Promise<string[]> {
	if (group.length === 1) return group;
	const {lstat} = await import('node:fs/promises');
	const withTime = await Promise.all(group.map(async (p) => ({p, plain: !/\.(gz|xz|zst)$/.test(p), t: (await lstat(p).catch(() => undefined))?.mtimeMs ?? 0})));
	withTime.sort((a, b) => Number(b.plain) - Number(a.plain) || b.t - a.t);
	return withTime.map((x) => x.p);
}
