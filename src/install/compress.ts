// The main job: compress the given modules for one target kernel exactly as its modules_install would, crash-safely,
// then depmod once and check modules.dep, then verify.
//
//   discover target → policy (refuses an unreadable suffix before touching anything) → lock lib/modules/KV →
//   find the module files (one walk) → recover what an interrupted run left in their directories (recovery.ts) →
//   each module in the worker pool (module.ts: read, decode as the kernel and as kmod would, check, plan, encode,
//   decode back, replace) → depmod and the modules.dep check (depmod.ts; not for a staging image) → verify.
import {availableParallelism} from 'node:os';
import {lstatSync} from 'node:fs';
import {createCodecPool, createInlinePool, type CodecPool} from '../workers/pool.js';
import {mapLimit} from '../workers/map-limit.js';
import {errorToJSON, type ErrorJSON, KmodpressError} from '../errors.js';
import {acquireKernelLock, type KernelLock} from '../disk/lock.js';
import {type ModuleFile, walkModules} from '../disk/walk.js';
import type {KernelConfig} from '../target/kernel-config.js';
import {outOfTreePaths, type KernelTarget} from '../target/discover.js';
import {DEFAULT_MAX_DECOMPRESSED} from '../formats/table.js';
import {nativeEncoderMissing} from '../formats/xz/codec.js';
import {nativeXzEncodeVersion} from '../formats/xz/native-encode.js';
import type {Policy} from '../policy/index.js';
import type {Log} from '../types.js';
import {silentLog} from '../types.js';
import {type DepmodReport, type DepmodStep, depmodStep} from './depmod.js';
import {groupByModule, type ModuleContext, type ModuleResult, processModule, wroteModule} from './module.js';
import {recoverModuleDirs} from './recovery.js';

export type {ModuleOutcome, ModuleResult} from './module.js';

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

export interface CompressReport {
	kernel: string;
	dryRun: boolean;
	modules: ModuleResult[];
	depmod: DepmodReport | undefined;
	changed: number;
	failed: number;
	/** errors that concern no single module (a symlink out of the tree, an unreadable directory) */
	errors: ErrorJSON[];
}

export async function compressModules(opts: CompressOptions): Promise<CompressReport> {
	const log = opts.log ?? silentLog;
	// refused before anything is locked or touched: no module could be written in this format
	const {params} = opts.policy;
	if (!opts.dryRun && params?.algorithm === 'xz' && params.format === 'multi' && nativeXzEncodeVersion === undefined) throw nativeEncoderMissing();
	const lock = await lockTree(opts, log);
	let pool = opts.pool;
	try {
		const found = await findModules(opts, log);
		pool ??= await poolFor(found.modules.length, opts);
		const ctx = moduleContext(opts, pool, log);
		const modules = opts.dryRun ? found.modules : recoverModuleDirs(found.modules, ctx);
		const results = await processAll(modules, ctx, opts.threads);
		const changed = results.filter(wroteModule).length;
		const depmod = opts.dryRun ? undefined : await depmodStep(opts.target, results, {depmod: opts.depmod, log});
		if (!opts.dryRun && opts.verify !== false) await verifyWritten(results, ctx, opts.sigEnforce);
		return summarize(opts, results, changed, depmod, found.errors);
	} finally {
		if (!opts.pool) await pool?.close();
		await lock?.release();
	}
}

/** The kernel's lock; none for a dry run or a staging image (it belongs to one package build: no lock file left in
 * the package's image). */
async function lockTree(opts: CompressOptions, log: Log): Promise<KernelLock | undefined> {
	if (opts.dryRun || opts.target.stagingImage) return undefined;
	return acquireKernelLock(opts.target.moduleDir, {timeoutMs: opts.lockTimeoutMs ?? 600_000, log});
}

/** The module files under the given paths (default: the kernel's out-of-tree directories), walked once. */
function findModules(opts: CompressOptions, log: Log): Promise<{modules: ModuleFile[]; errors: KmodpressError[]}> {
	const {target} = opts;
	const paths = opts.paths.length > 0 ? [...opts.paths] : outOfTreePaths(target);
	return walkModules(paths, {root: target.root, moduleDir: target.moduleDir, log, allowMissing: opts.paths.length === 0});
}

/** Workers pay off from a few modules on; one or two run faster on the main thread. */
async function poolFor(modules: number, opts: CompressOptions): Promise<CodecPool> {
	return modules <= 2 ? createInlinePool() : createCodecPool({threads: opts.threads ?? availableParallelism()});
}

function moduleContext(opts: CompressOptions, pool: CodecPool, log: Log): ModuleContext {
	const maxOutput = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
	return {target: opts.target, policy: opts.policy, config: opts.config, pool, maxOutput, threads: opts.threads, dryRun: Boolean(opts.dryRun), log};
}

/** Module bytes in flight at once (read, decoded, encoded, decoded back): about 4x this in memory at the peak. */
const IN_FLIGHT_BYTES = 32 << 20;

/** Every module, several at once: deep enough that fsyncs of many modules share journal commits while the workers
 * stay busy, and bounded by bytes too: a run of big modules (amdgpu is 29 MB) waits instead of piling up in memory. */
async function processAll(modules: readonly ModuleFile[], ctx: ModuleContext, threads: number | undefined): Promise<ModuleResult[]> {
	const groups = groupByModule(modules.map((m) => m.path));
	const budget = byteBudget(IN_FLIGHT_BYTES);
	return mapLimit([...groups.values()], Math.max(8, (threads ?? availableParallelism()) * 4), async (group) => {
		const size = sizeOf(group[0]!);
		await budget.acquire(size);
		try {
			return await processModule(group, ctx);
		} finally {
			budget.release(size);
		}
	});
}

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

/** The verifier's verdict on every file the run left (written or kept); a module the kernel would refuse fails with
 * E_VERIFY_NOT_LOADABLE. */
async function verifyWritten(results: ModuleResult[], ctx: ModuleContext, sigEnforce: boolean | undefined): Promise<void> {
	const written = results.filter((r) => r.result && r.outcome !== 'failed');
	if (written.length === 0) return;
	const {verifyModules} = await import('../verify/index.js');
	const report = await verifyModules({
		target: ctx.target, policy: ctx.policy, config: ctx.config, paths: written.map((r) => r.result!), files: written.map((r) => ({path: r.result!})),
		pool: ctx.pool, log: ctx.log, ...(sigEnforce ? {sigEnforce: true} : {}), maxDecompressedBytes: ctx.maxOutput,
	});
	const byPath = new Map(report.modules.map((m) => [m.path, m]));
	for (const r of written) {
		const v = byPath.get(r.result!);
		if (!v) continue;
		r.verify = {loadable: v.loadable, depends: v.depends, findings: v.findings};
		if (!v.loadable && !r.error) {
			const first = v.findings.find((x) => x.severity === 'error')!;
			r.error = new KmodpressError('E_VERIFY_NOT_LOADABLE', `the kernel ${ctx.target.release.value} would refuse it: ${first.code}: ${first.message}`, {
				file: r.result!, fix: 'see kmodpress verify -v for every finding',
			}).toJSON();
		}
	}
}

/** The report: every module's result; errors that concern no single module (the walk's, depmod's) count as failures. */
function summarize(opts: CompressOptions, results: ModuleResult[], changed: number, depmod: DepmodStep | undefined, walkErrors: readonly KmodpressError[]): CompressReport {
	const errors = [...walkErrors.map(errorToJSON), ...(depmod?.error ? [depmod.error] : [])];
	const failed = results.filter((r) => r.outcome === 'failed' || r.error).length + errors.length;
	return {kernel: opts.target.release.value, dryRun: Boolean(opts.dryRun), modules: results, depmod: depmod?.depmod, changed, failed, errors};
}
