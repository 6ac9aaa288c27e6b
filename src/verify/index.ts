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
import {join, relative} from 'node:path';
import {createCodecPool, createInlinePool, type CodecPool} from '../workers/pool.js';
import {decompressAs, detectFormat} from '../formats/index.js';
import {decodeAsKernel} from '../formats/kernel.js';
import {parseZstdFrameHeader} from '../formats/zstd/header.js';
import {EM, ET_REL} from '../elf/reader.js';
import {isKmodpressError} from '../errors.js';
import {mapLimit} from '../workers/map-limit.js';
import {readModuleFile, walkModules} from '../disk/walk.js';
import type {KernelConfig} from '../target/kernel-config.js';
import {outOfTreePaths, type KernelTarget} from '../target/discover.js';
import {kmodReads} from '../target/kmod.js';
import {sameMagic} from './checks/module-image.js';
import type {Policy} from '../policy/index.js';
import type {Algorithm, Finding, Log, Severity} from '../types.js';
import {silentLog} from '../types.js';
import {kernelImageCertificates, loadVerifyContext, smallestInTreeModule, type VerifyContext} from './context.js';
import type {Loaded} from './checks/load.js';
import {unpackFacts} from './checks/facts.js';
import {withThisThread} from '../workers/lanes.js';
import {describeSigner, signerMatches} from './checks/signature.js';
import {type Export, licenseIsGplCompatible, moduleNameOf} from './checks/symvers.js';
import {DEFAULT_MAX_DECOMPRESSED} from '../formats/table.js';

export interface VerifyOptions {
	target: KernelTarget;
	policy: Policy;
	config: KernelConfig | undefined;
	/** module files or directories; empty: the kernel's out-of-tree directories */
	paths: readonly string[];
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
	errors: {code: string; file?: string; message: string; fix?: string}[];
}


const f = (code: string, severity: Severity, message: string): Finding => ({code, severity, message});

export async function verifyModules(opts: VerifyOptions): Promise<VerifyReport> {
	const log = opts.log ?? silentLog;
	const {target, policy} = opts;
	const maxOutput = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
	const paths = opts.paths.length > 0 ? [...opts.paths] : outOfTreePaths(target);
	const walked = await walkModules(paths, {root: target.root, moduleDir: target.moduleDir, log, allowMissing: opts.paths.length === 0});
	const errors: VerifyReport['errors'] = walked.errors.map((e) => ({code: e.code, ...(e.file ? {file: e.file} : {}), message: e.message, ...(e.fix ? {fix: e.fix} : {})}));
	// workers start now and load their code while this thread reads what it knows of the kernel (config, vmlinux BTF);
	// this thread is one of the `threads` lanes (lanes.ts): N-1 workers, or none for a module or two
	const lanes = opts.threads ?? availableParallelism();
	const pool = opts.pool ?? (walked.modules.length <= 2 || lanes <= 1 ? await createInlinePool() : withThisThread(createCodecPool({threads: lanes - 1, eager: true}), decompressAs));
	const ctx = loadVerifyContext({target, policy, config: opts.config, ...(opts.sigEnforce ? {sigEnforce: true} : {}), ...(opts.certificate ? {certificate: opts.certificate} : {}), ...(opts.sysRoot ? {sysRoot: opts.sysRoot} : {})});
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
			for (const l of installedExtra) addExports(exports, l, join(ctx.moduleDir, ctx.installed.get(l.module)?.rel ?? l.path));
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
				(m) => loadModule(join(ctx.moduleDir, m.rel), ctx, policy, pool, maxOutput));
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

/** The certificates built into <root>/boot/vmlinuz-KV; for a sysroot without /boot, the host's image of the same
 * release (as for the build dir). */
async function trustedImageCertificates(target: KernelTarget, release: string, pool: CodecPool): Promise<VerifyContext['certificates']> {
	for (const image of [join(target.root, 'boot', `vmlinuz-${release}`), ...(target.root !== '/' ? [`/boot/vmlinuz-${release}`] : [])]) {
		const certs = await kernelImageCertificates(image, {pool});
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
		installed: ctx.installedFrom ?? `no ${join(ctx.moduleDir, 'modules.dep')}`,
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
		return {path, module: moduleNameOf(path), algorithm: null, findings: [{code: 'FILE_UNREADABLE', severity: 'error', message: isKmodpressError(e) ? e.message : String(e)}]};
	}
	const l = await pool.verifyLoad(bytes, path, {
		decompressor: policy.decompressor.value, kmod: {version: policy.kmod.version, features: policy.kmod.features},
		release: ctx.release, enforce: ctx.enforce.on, maxOutput,
		...(ctx.btfModules && ctx.vmlinuxBtf && 'shared' in ctx.vmlinuxBtf ? {btfBase: ctx.vmlinuxBtf.shared, btfBaseKey: `${ctx.vmlinuxBtf.from}:${ctx.vmlinuxBtf.shared.length}`} : {}),
	});
	return l;
}

/** The kernel's load-time checks on one analysed module. Pure given the context and the exporters; `lookups.missing`
 * counts the undefined symbols (weak ones too) that no exporter has. */
export function checkModule(l: Loaded, ctx: VerifyContext, exports: Map<string, Export>, given: Map<string, Loaded>, lookups?: {missing: number}): ModuleVerdict {
	const findings = [...l.findings];
	const directDeps = new Set<string>();
	const verdict = (): ModuleVerdict => ({path: l.path, module: l.module, loadable: !findings.some((x) => x.severity === 'error'), depends: [...directDeps], findings});
	// the compact form is what stays in memory for every module of a tree; the maps live only while it is checked
	if (!l.facts) return verdict();
	const facts = unpackFacts(l.facts);
	const rebuild = `rebuild the module against ${ctx.release}'s headers (linux-headers-${ctx.release})`;

	// busybox modprobe reads gz and xz itself and hands anything else to init_module as it is (kernel-facts.md §3)
	if (ctx.busyboxModprobe && l.algorithm === 'zstd') {
		findings.push(f('BUSYBOX_NO_ZSTD', 'error', `the system's modprobe is busybox (${ctx.busyboxModprobe}), which cannot read zstd: it passes the compressed bytes to init_module ("invalid module format", or "Key was rejected by service" under enforcement); use xz or gzip for this system`));
	}

	// signature first: module_sig_check() runs before the ELF is even parsed
	const sig = facts.signature;
	const afterCompression = findings.some((x) => x.code === 'SIG_AFTER_COMPRESSION');
	if (!sig.present) {
		if (!afterCompression) {
			if (ctx.enforce.on) findings.push(f('SIG_UNSIGNED', 'error', `unsigned, and the kernel enforces signatures (${ctx.enforce.from}): "Loading of unsigned module is rejected"; sign it with the kernel's key (scripts/sign-file) before compressing`));
			else if (ctx.moduleSig) findings.push(f('SIG_UNSIGNED', 'warning', 'unsigned: the kernel loads it but taints itself ("module verification failed: signature and/or required key missing"); sign it to avoid the taint'));
		}
	} else if (!sig.ok) {
		const sev: Severity = sig.errno === 'ENOPKG' && !ctx.enforce.on ? 'warning' : 'error';
		findings.push(f('SIG_MALFORMED', sev, `the signature trailer is malformed: ${sig.message} (${sig.errno}${sig.errno === 'EBADMSG' ? ': the kernel refuses it even without enforcement' : ''}); re-sign the plain module`));
	} else if (ctx.certificates.length > 0) {
		const match = ctx.certificates.find((c) => signerMatches(sig.signer ?? {}, c.id));
		if (match) findings.push(f('SIG_OK', 'info', `signed (${sig.digest ?? 'digest ?'}) by ${match.id.subjectName ?? describeSigner(sig.signer)}, the key in ${match.from}`));
		else {
			findings.push(f('SIG_UNKNOWN_KEY', ctx.enforce.on ? 'error' : 'warning', `signed by ${describeSigner(sig.signer)}, a key the kernel does not hold (${ctx.certificates.map((c) => c.from).join(', ')})${ctx.enforce.on ? ': "Loading of module with unavailable key is rejected"' : ': it loads but taints the kernel'}; sign it with the kernel's key or enroll yours (MOK)`));
		}
	} else {
		findings.push(f('SIG_KEY_UNCHECKED', 'info', `signed by ${describeSigner(sig.signer)}; the kernel's certificate is not available here to compare`));
	}

	// ELF (elf_validity_cache_copy)
	if (facts.type !== ET_REL) findings.push(f('ELF_NOT_RELOCATABLE', 'error', `an ELF of type ${facts.type}, not a relocatable module: the kernel says "Invalid ELF header type" (ENOEXEC)`));
	if (ctx.machine !== undefined && facts.machine !== ctx.machine) findings.push(f('ELF_MACHINE', 'error', `built for ${EM[facts.machine] ?? facts.machine}, the kernel is ${EM[ctx.machine] ?? ctx.machine}: "Invalid ELF header" (ENOEXEC); ${rebuild}`));
	else if (ctx.machine === 62 && !facts.is64) findings.push(f('ELF_CLASS', 'error', `a 32-bit ELF for a 64-bit kernel (ENOEXEC); ${rebuild}`));
	if (facts.symtabCount !== 1) findings.push(f('ELF_NO_SYMTAB', 'error', facts.symtabCount === 0 ? '"module has no symbols (stripped?)" (ENOEXEC): strip with --strip-debug only (strip -g)' : `${facts.symtabCount} symbol tables (ENOEXEC)`));
	if (facts.modinfoCount > 1) findings.push(f('ELF_MODINFO', 'error', `"Module has multiple .modinfo sections" (ENOEXEC); ${rebuild}`));
	if (facts.thisModuleSize === undefined) findings.push(f('ELF_NO_THIS_MODULE', 'error', `"No module found in object": no .gnu.linkonce.this_module (ENOEXEC); build it with kbuild`));
	else if (ctx.structModuleSize && facts.thisModuleSize !== ctx.structModuleSize.size) {
		findings.push(f('THIS_MODULE_SIZE', 'error', `.gnu.linkonce.this_module is ${facts.thisModuleSize} bytes, the kernel's struct module is ${ctx.structModuleSize.size} (${ctx.structModuleSize.from}): "section size must match the kernel's built struct module size at run time" (ENOEXEC); ${rebuild}`));
	}

	// vermagic (check_modinfo → same_magic)
	const vermagic = facts.modinfo.vermagic?.[0];
	// same_magic() looks at __versions only; CRCs come from the extended sections when a 6.14+ kernel finds them
	const hasVersions = facts.versions !== undefined;
	let ext: Map<string, number> | undefined;
	if (ctx.extendedModversions && facts.extError) {
		findings.push(f('ELF_VERSION_EXT', 'error', `${facts.extError} (ENOEXEC): the extended modversions sections are damaged; ${rebuild}`));
	} else if (ctx.extendedModversions && facts.extVersions) {
		ext = new Map();
		facts.extVersions.names.forEach((n, i) => {
			if (!ext!.has(n)) ext!.set(n, facts.extVersions!.crcs[i]!);
		});
	}
	const anyVersions = hasVersions || ext !== undefined;
	/** check_version(): the module's CRC for a symbol, and where it came from */
	const moduleCrc = (name: string): number | undefined => (ext ? ext.get(name) : facts.versions?.get(name));
	const noVersionWords = (name: string): string => (ext ? `"no extended symbol version for ${name}"` : `"no symbol version for ${name}"`);
	if (vermagic === undefined) {
		findings.push(f('VERMAGIC_MISSING', ctx.forceLoad ? 'warning' : 'error', ctx.forceLoad ? 'no vermagic: the kernel force-loads it and taints itself' : `no vermagic: "bad vermagic" (ENOEXEC); ${rebuild}`));
	} else if (ctx.vermagic !== undefined) {
		if (!sameMagic(vermagic, ctx.vermagic, hasVersions)) findings.push(f('VERMAGIC_MISMATCH', 'error', `"version magic '${vermagic}' should be '${ctx.vermagic}'" (ENOEXEC); ${rebuild}`));
		else if (vermagic.split(' ')[0] !== ctx.release) findings.push(f('VERMAGIC_RELEASE', 'info', `built for ${vermagic.split(' ')[0]}: the kernel ignores the release word because the module has __versions; every symbol CRC decides`));
	}

	// modversions: module_layout first (check_modstruct_version), then each symbol
	if (ctx.modversions) {
		const layout = exports.get('module_layout');
		if (!anyVersions) {
			findings.push(f('NO_VERSIONS', ctx.forceLoad ? 'warning' : 'error', ctx.forceLoad ? 'no __versions: the kernel (MODULE_FORCE_LOAD) loads it without symbol checks and taints itself ("no versions for imported symbols")' : `no __versions on a MODVERSIONS kernel: "disagrees about version of symbol module_layout" (ENOEXEC); ${rebuild}`));
		} else if (layout?.crc !== undefined) {
			const crc = moduleCrc('module_layout');
			if (crc === undefined) findings.push(f('NO_SYMBOL_VERSION', 'warning', `${noVersionWords('module_layout')}: loads (the kernel lets a broken toolchain go)`));
			else if (crc !== layout.crc) findings.push(f('MODULE_LAYOUT_MISMATCH', 'error', `"disagrees about version of symbol module_layout": the module has 0x${hex8(crc)}, the kernel 0x${hex8(layout.crc)} (${layout.from}); ${rebuild}`));
		}
	}

	// symbols (simplify_symbols → resolve_symbol)
	const license = facts.modinfo.license?.[0];
	const gplOk = licenseIsGplCompatible(license);
	const imports = new Set(facts.modinfo.import_ns ?? []);
	const unknown: string[] = [];
	const names = facts.undefinedNames;
	for (let i = 0; i < names.length; i++) {
		const name = names[i]!;
		if (name === '_GLOBAL_OFFSET_TABLE_' && facts.machine === 3) continue;
		const e = exports.get(name);
		if (!e) {
			if (lookups) lookups.missing++;
			if (facts.undefinedWeak[i] !== 1) unknown.push(name);
			continue;
		}
		if (e.gplOnly && !gplOk) {
			findings.push(f('GPL_ONLY_SYMBOL', 'error', `"Unknown symbol ${name} (err -2)": ${e.module} exports it GPL-only and the license is ${license === undefined ? 'missing' : `"${license}"`}, not GPL-compatible; use a GPL-compatible MODULE_LICENSE or stop using the symbol`));
			continue;
		}
		if (ctx.modversions && anyVersions && e.crc !== undefined) {
			const mine = moduleCrc(name);
			if (mine !== undefined && mine !== e.crc) {
				findings.push(f('CRC_MISMATCH', 'error', `"disagrees about version of symbol ${name}": the module expects 0x${hex8(mine)}, ${e.module} exports 0x${hex8(e.crc)} (${e.from}); ${rebuild}`));
			}
		}
		if (e.namespace && !imports.has(e.namespace)) {
			findings.push(f('NAMESPACE_NOT_IMPORTED', ctx.allowMissingNamespace ? 'warning' : 'error', `"module uses symbol (${name}) from namespace ${e.namespace}, but does not import it." add MODULE_IMPORT_NS(${e.namespace}) and rebuild`));
		}
		if (e.module !== 'vmlinux' && e.module !== l.module) {
			if (given.has(e.module) || ctx.installed.has(e.module)) directDeps.add(e.module);
			else findings.push(f('MISSING_DEPENDENCY', 'error', `"Unknown symbol ${name} (err -2)": it comes from module ${e.module}, which is not installed for ${ctx.release}; install ${e.module} first`));
		}
	}
	if (unknown.length) {
		const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '');
		findings.push(f('UNKNOWN_SYMBOL', 'error', `"Unknown symbol ${unknown[0]} (err -2)": nothing in ${ctx.release} (vmlinux, the modules given, the installed modules) exports ${shown}; ${ctx.symvers ? 'install the module that provides it, or rebuild against this kernel' : 'no Module.symvers to look in: install the headers'}`));
	}

	// BTF (btf_parse_module), only where the kernel reads module BTF
	if (facts.hasBtf && ctx.btfModules) {
		if (facts.btfBase) findings.push(f('BTF_DISTILLED', 'info', 'distilled base BTF (.BTF.base, 6.11+): the kernel relocates it against its vmlinux BTF'));
		else if (typeof facts.btfError === 'string') {
			findings.push(f('BTF_MISMATCH', ctx.allowBtfMismatch ? 'warning' : 'error', `"failed to validate module [${l.module}] BTF: -22" (${facts.btfError}): built against another vmlinux; ${ctx.allowBtfMismatch ? 'with MODULE_ALLOW_BTF_MISMATCH the kernel drops the BTF and loads it' : 'the kernel refuses it'}; ${rebuild}`));
		} else if (facts.btfError === undefined) findings.push(f('BTF_UNCHECKED', 'info', 'has .BTF; no vmlinux BTF for this kernel to check it against'));
	}

	// modprobe finds modules through modules.dep
	const rel = relative(ctx.moduleDir, l.path);
	if (ctx.installedFrom && !rel.startsWith('..') && !ctx.installed.has(l.module)) {
		findings.push(f('NOT_IN_MODULES_DEP', 'warning', `not listed in ${ctx.installedFrom}: modprobe cannot find it; run depmod -a ${ctx.release}`));
	}
	return verdict();
}

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
				v.findings.push(f('DEPENDENCY_NOT_LOADABLE', 'error', `depends on ${d}, which the kernel refuses (${dv.findings.find((x) => x.severity === 'error')?.code}); fix ${d} first`));
				v.loadable = false;
			}
		}
	}
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

