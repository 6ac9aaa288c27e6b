// kmodpress verify: predict, without loading, what the target kernel will say about each module — the checks of
// kernel/module/{decompress,main,version,signing}.c and kernel/bpf/btf.c in the order the kernel makes them, each a
// finding {code, severity, message naming the fix}. A module is loadable when no finding is an error.
//
//   file → decompress as the loader the target uses (the kernel's own decompressor when it is the file's algorithm,
//   kmod's otherwise) → signature (module_sig_check) → ELF (elf_validity_cache_copy) → vermagic (check_modinfo) →
//   module_layout CRC (check_modstruct_version) → every undefined symbol (simplify_symbols → resolve_symbol: GPL,
//   CRC, namespace) against vmlinux's exports, the other modules given and the installed ones → BTF.
import {availableParallelism} from 'node:os';
import {statSync} from 'node:fs';
import {join} from 'node:path';
import {createCodecPool, createInlinePool, type CodecPool} from '../workers/pool.js';
import {decompressAs} from '../formats/index.js';
import {mapLimit} from '../workers/map-limit.js';
import {type ModuleFile, readModuleFile, walkModules} from '../disk/walk.js';
import {errorToJSON, type ErrorJSON, isKmodpressError} from '../errors.js';
import type {KernelConfig} from '../target/kernel-config.js';
import {outOfTreePaths, type KernelTarget} from '../target/discover.js';
import type {Policy} from '../policy/index.js';
import type {Finding, Log} from '../types.js';
import {silentLog} from '../types.js';
import {cacheRoot, installedPath, kernelImageCertificates, loadVerifyContext, smallestInTreeModule} from './context.js';
import type {VerifyContext} from './checks/context-types.js';
import type {Loaded} from './checks/load.js';
import {unpackFacts} from './checks/facts.js';
import {withThisThread} from '../workers/lanes.js';
import {type Export, moduleNameOf} from './checks/symvers.js';
import {finding} from './checks/finding.js';
import {checkBusyboxModprobe, checkInModulesDep} from './checks/modprobe.js';
import {checkSignature} from './checks/module-sig.js';
import {checkElfValidity} from './checks/elf-validity.js';
import {checkModuleLayout, checkVermagic, moduleVersions} from './checks/version.js';
import {resolveSymbols} from './checks/resolve-symbols.js';
import {checkModuleBtf} from './checks/module-btf.js';
import {DEFAULT_MAX_DECOMPRESSED} from '../formats/table.js';

export interface VerifyOptions {
	target: KernelTarget;
	policy: Policy;
	config: KernelConfig | undefined;
	/** module files or directories; empty: the kernel's out-of-tree directories */
	paths: readonly string[];
	/** the module files, already walked (compress hands over what it wrote): `paths` is then not walked again */
	files?: readonly ModuleFile[];
	sigEnforce?: boolean;
	certificate?: string;
	threads?: number;
	maxDecompressedBytes?: number;
	pool?: CodecPool;
	log?: Log;
	sysRoot?: string;
}

export interface ModuleVerdict {
	path: string;
	module: string;
	loadable: boolean;
	/** modules that must be loaded first, in load order */
	depends: string[];
	findings: Finding[];
}

export interface VerifyReport {
	kernel: string;
	modules: ModuleVerdict[];
	/** where each piece of knowledge about the target came from */
	sources: Record<string, string>;
	errors: ErrorJSON[];
}

export async function verifyModules(opts: VerifyOptions): Promise<VerifyReport> {
	const log = opts.log ?? silentLog;
	const {target, policy} = opts;
	const maxOutput = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
	const paths = opts.paths.length > 0 ? [...opts.paths] : outOfTreePaths(target);
	const walked = opts.files ? {modules: [...opts.files], errors: []} : await walkModules(paths, {root: target.root, moduleDir: target.moduleDir, log, allowMissing: opts.paths.length === 0});
	const errors: VerifyReport['errors'] = walked.errors.map(errorToJSON);
	// workers start now and load their code while this thread reads what it knows of the kernel (config, vmlinux BTF);
	// this thread is one of the `threads` lanes (lanes.ts): N-1 workers, or none for a module or two
	const lanes = opts.threads ?? availableParallelism();
	const pool = opts.pool ?? (walked.modules.length <= 2 || lanes <= 1 ? await createInlinePool() : withThisThread(createCodecPool({threads: lanes - 1, eager: true}), decompressAs));
	const ctx = loadVerifyContext({target, policy, config: opts.config, ...(opts.sigEnforce ? {sigEnforce: true} : {}), ...(opts.certificate ? {certificate: opts.certificate} : {}), ...(opts.sysRoot ? {sysRoot: opts.sysRoot} : {}), log});
	let early: Promise<VerifyContext['certificates']> | undefined;
	try {
		// largest first, so the last worker is not left alone with amdgpu at the end; results keep the given order
		const files = walked.modules.map((m) => m.path);
		const sizeOf = (p: string): number => {
			try {
				return statSync(p).size;
			} catch {
				return 0;
			}
		};
		const order = files.map((p, i) => ({i, size: sizeOf(p)})).sort((a, b) => b.size - a.size).map((x) => x.i);
		const loaded: Loaded[] = new Array(files.length);
		// the kernel image's built-in keys: for a big job, decoded in a worker from the start (the main thread keeps
		// feeding the others); for a few modules, only if one turns out to be signed
		const imageCerts = (): Promise<VerifyContext['certificates']> => trustedImageCertificates(target, ctx.release, pool);
		early = !ctx.buildCertificate && files.length > 50 ? imageCerts() : undefined;
		// a deep queue keeps every lane busy (lanes.ts decides where each module goes)
		const loading = mapLimit(order, Math.max(16, lanes * 8), async (i) => {
			loaded[i] = await loadModule(files[i]!, ctx, policy, pool, maxOutput);
		});
		// Module.symvers is parsed while the workers decode
		setImmediate(() => ctx.symvers);
		await loading;

		if (!ctx.structModuleSize) {
			const ref = smallestInTreeModule(ctx);
			if (ref) {
				const l = await loadModule(ref, ctx, policy, pool, maxOutput);
				if (l.facts?.thisModuleSize !== undefined) ctx.structModuleSize = {size: l.facts.thisModuleSize, from: `.gnu.linkonce.this_module of ${ref}`};
			}
		}

		// the kernel's trusted keys: the build dir's certificate, else those compiled into <root>/boot/vmlinuz-KV
		if (!ctx.buildCertificate && loaded.some((l) => l.facts?.signature.present)) {
			ctx.certificates.push(...await (early ?? imageCerts()));
		}

		// exporters: Module.symvers (vmlinux and in-tree modules), then installed modules it does not cover, then the
		// modules given (a module given replaces the installed one of the same name). The installed modules outside
		// Module.symvers are read only when a symbol is found nowhere else, which the checks find out as they go.
		const given = new Map<string, Loaded>();
		for (const l of loaded) if (l.facts && !given.has(l.module)) given.set(l.module, l);
		const exportsWith = (installedExtra: readonly Loaded[]): Map<string, Export> => {
			const exports = new Map<string, Export>(ctx.symvers?.exports ?? []);
			for (const l of installedExtra) {
				const m = ctx.installed.get(l.module);
				addExports(exports, l, m ? installedPath(ctx, m) : l.path);
			}
			for (const l of given.values()) addExports(exports, l, l.path);
			return exports;
		};
		const lookups = {missing: 0};
		let exports = exportsWith([]);
		let verdicts = loaded.map((l) => checkModule(l, ctx, exports, given, lookups));
		if (lookups.missing > 0 || !ctx.symvers) {
			const symversModules = new Set([...(ctx.symvers?.exports.values() ?? [])].map((e) => e.module));
			const extra = [...ctx.installed.values()].filter((m) => !given.has(m.name) && !symversModules.has(m.name));
			const parsed = await mapLimit(extra, Math.max(2, lanes * 2),
				(m) => loadModule(installedPath(ctx, m), ctx, policy, pool, maxOutput));
			exports = exportsWith(parsed);
			verdicts = loaded.map((l) => checkModule(l, ctx, exports, given));
		}
		propagateDependencies(verdicts, given, ctx);
		return {kernel: ctx.release, modules: verdicts, sources: contextSources(ctx), errors};
	} finally {
		// a decode still running in a worker must finish before the pool goes: its result is cached for the process
		await early?.catch(() => undefined);
		if (!opts.pool) await pool.close();
	}
}

/** The certificates built into <root>/boot/vmlinuz-KV; else the target root's image for a staging image, the host's
 * for a sysroot without /boot (as for the build dir). */
async function trustedImageCertificates(target: KernelTarget, release: string, pool: CodecPool): Promise<VerifyContext['certificates']> {
	const fallback = target.targetRoot?.value ?? '/';
	for (const image of [join(target.root, 'boot', `vmlinuz-${release}`), ...(target.root !== fallback ? [join(fallback, 'boot', `vmlinuz-${release}`)] : [])]) {
		const certs = await kernelImageCertificates(image, {pool, cache: {root: cacheRoot(target)}});
		if (certs.length > 0) return certs;
	}
	return [];
}

function addExports(exports: Map<string, Export>, l: Loaded, from: string): void {
	if (!l.facts) return;
	for (const e of l.facts.exports) exports.set(e.symbol, {symbol: e.symbol, crc: e.crc, module: l.module, gplOnly: e.gplOnly, namespace: e.namespace, from});
}

export function contextSources(ctx: VerifyContext): Record<string, string> {
	return {
		exports: ctx.symvers?.from ?? 'no Module.symvers (no build dir): exports of vmlinux unknown',
		installed: ctx.staging
			? `${ctx.installedFrom ?? `the files in ${ctx.moduleDir} (staging image)`} over ${ctx.staging.installedFrom} (target root ${ctx.staging.targetRoot})`
			: ctx.installedFrom ?? `no ${join(ctx.moduleDir, 'modules.dep')}`,
		vermagic: ctx.vermagic !== undefined ? `"${ctx.vermagic}" from the kernel config` : 'unknown (no kernel config)',
		structModule: ctx.structModuleSize ? `${ctx.structModuleSize.size} bytes from ${ctx.structModuleSize.from}` : 'unknown',
		btf: ctx.vmlinuxBtf ? ('btf' in ctx.vmlinuxBtf ? ctx.vmlinuxBtf.from : `${ctx.vmlinuxBtf.from}: ${ctx.vmlinuxBtf.error}`) : 'no vmlinux BTF',
		certificate: ctx.certificates.length ? ctx.certificates.map((c) => c.from).join(', ') : 'none available (no certs/signing_key.x509 in the build dir, no certificate in the kernel image)',
		signatureEnforcement: ctx.enforce.from,
	};
}

/** Read a file the way the target's loader would (in a worker: decompression and ELF analysis are the cost). */
async function loadModule(path: string, ctx: VerifyContext, policy: Policy, pool: CodecPool, maxOutput: number): Promise<Loaded> {
	let bytes: Buffer;
	try {
		bytes = await readModuleFile(path, {maxBytes: maxOutput});
	} catch (e) {
		return {path, module: moduleNameOf(path), algorithm: null, findings: [finding('FILE_UNREADABLE', 'error', isKmodpressError(e) ? e.message : String(e))]};
	}
	const l = await pool.verifyLoad(bytes, path, {
		decompressor: policy.decompressor.value, kmod: {version: policy.kmod.version, features: policy.kmod.features},
		release: ctx.release, enforce: ctx.enforce.on, maxOutput,
		...(ctx.btfModules && ctx.vmlinuxBtf && 'shared' in ctx.vmlinuxBtf ? {btfBase: ctx.vmlinuxBtf.shared, btfBaseKey: `${ctx.vmlinuxBtf.from}:${ctx.vmlinuxBtf.shared.length}`} : {}),
	});
	return l;
}

/** The kernel's load-time checks on one analysed module, in kernel/module/main.c load_module's order: how modprobe
 * reads the file, the signature (module_sig_check, before the ELF is parsed), ELF validity (elf_validity_cache_copy),
 * vermagic (check_modinfo), module_layout's CRC (check_modstruct_version), every undefined symbol (simplify_symbols),
 * module BTF, and whether modprobe finds it. Pure given the context and the exporters; `lookups.missing` counts the
 * undefined symbols (weak ones too) that no exporter has. */
export function checkModule(l: Loaded, ctx: VerifyContext, exports: Map<string, Export>, given: Map<string, Loaded>, lookups?: {missing: number}): ModuleVerdict {
	// the compact form is what stays in memory for every module of a tree; the maps live only while it is checked
	if (!l.facts) return {path: l.path, module: l.module, loadable: isLoadable(l.findings), depends: [], findings: [...l.findings]};
	const facts = unpackFacts(l.facts);
	const versions = moduleVersions(facts, ctx);
	const symbols = resolveSymbols(facts, l.module, versions, exports, given, ctx);
	if (lookups) lookups.missing += symbols.missing;
	const findings = [
		...l.findings,
		...checkBusyboxModprobe(l.algorithm, ctx),
		...checkSignature(facts.signature, l.findings.some((x) => x.code === 'SIG_AFTER_COMPRESSION'), ctx),
		...checkElfValidity(facts, ctx),
		...checkVermagic(facts, ctx),
		...checkModuleLayout(versions, exports, ctx),
		...symbols.findings,
		...checkModuleBtf(facts, l.module, ctx),
		...checkInModulesDep(l.path, l.module, ctx),
	];
	return {path: l.path, module: l.module, loadable: isLoadable(findings), depends: [...symbols.directDeps], findings};
}

const isLoadable = (findings: readonly Finding[]): boolean => !findings.some((x) => x.severity === 'error');

/** Turn direct dependencies into the load order modprobe uses, and fail a module whose given dependency fails. */
function propagateDependencies(verdicts: ModuleVerdict[], given: Map<string, Loaded>, ctx: VerifyContext): void {
	const byName = new Map(verdicts.map((v) => [v.module, v]));
	const direct = new Map(verdicts.map((v) => [v.module, [...v.depends]]));
	// an installed dependency brings its own, as modules.dep lists them (modprobe loads the list back to front)
	for (const m of ctx.installed.values()) if (!direct.has(m.name)) direct.set(m.name, [...m.deps].reverse());
	const order = (name: string, seen: Set<string>, out: string[]): void => {
		for (const d of direct.get(name) ?? []) {
			if (seen.has(d)) continue;
			seen.add(d);
			order(d, seen, out);
			out.push(d);
		}
	};
	for (const v of verdicts) {
		const out: string[] = [];
		order(v.module, new Set([v.module]), out);
		v.depends = out;
		for (const d of direct.get(v.module) ?? []) {
			const dv = byName.get(d);
			if (given.has(d) && dv && !dv.loadable && dv !== v) {
				v.findings.push(finding('DEPENDENCY_NOT_LOADABLE', 'error', `depends on ${d}, which the kernel refuses (${dv.findings.find((x) => x.severity === 'error')?.code}); fix ${d} first`));
				v.loadable = false;
			}
		}
	}
}

