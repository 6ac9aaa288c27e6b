// What the verifier knows about a target kernel, read once: its exports (Module.symvers), its installed modules
// (modules.dep), vmlinux BTF, the size of its struct module, its trusted signing certificates, whether it enforces
// signatures, its modprobe, and the config switches that decide how strict each check is (VerifyContext, in
// checks/context-types.ts). Every part says where it came from.
import {existsSync, readdirSync, readFileSync, readlinkSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {ElfFile} from '../elf/reader.js';
import type {KernelConfig} from '../target/kernel-config.js';
import {type KernelTarget, targetModuleDir, versionAtLeast} from '../target/discover.js';
import {targetMachine, targetVermagic} from './checks/module-image.js';
import type {Policy} from '../policy/index.js';
import {BtfError, parseBtf, structSize} from './checks/btf.js';
import type {CodecPool} from '../workers/pool.js';
import type {InstalledModule, VerifyContext} from './checks/context-types.js';
import {certificatesFrom, x509Id} from './checks/signature.js';
import {type Export, moduleNameOf, parseSymvers} from './checks/symvers.js';
import {MODULE_NAME_RE} from '../formats/table.js';
import {type Codec, type DiskCacheOptions, persistent, persistentAsync} from './disk-cache.js';
import type {TrustedCertificate} from './checks/image-certs.js';
import type {Log} from '../types.js';

/** Parsed Module.symvers and vmlinux BTF, kept for the life of the process by path, size and mtime: a caller that
 * verifies module after module (compress in a long-lived process, recompress over several kernels) parses them once. */
const parsedCache = new Map<string, unknown>();
function cachedParse<T>(path: string, parse: () => T): T {
	let key: string;
	try {
		const st = statSync(path);
		key = `${path}:${st.size}:${st.mtimeMs}:${st.ino}`;
	} catch {
		return parse();
	}
	if (parsedCache.has(key)) return parsedCache.get(key) as T;
	const value = parse();
	parsedCache.set(key, value);
	return value;
}

function readMaybe(path: string | undefined): Buffer | undefined {
	if (!path) return undefined;
	try {
		return readFileSync(path);
	} catch {
		return undefined;
	}
}

export function parseModulesDepFull(text: string): Map<string, InstalledModule> {
	const out = new Map<string, InstalledModule>();
	for (const line of text.split('\n')) {
		const colon = line.indexOf(':');
		if (colon <= 0) continue;
		const rel = line.slice(0, colon);
		const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleNameOf);
		const name = moduleNameOf(rel);
		if (!out.has(name)) out.set(name, {name, rel, deps});
	}
	return out;
}

export interface ContextOptions {
	target: KernelTarget;
	policy?: Policy;
	config: KernelConfig | undefined;
	/** --sig-enforce or the config file's sigEnforce */
	sigEnforce?: boolean;
	/** a certificate file to trust in addition to the build dir's certs/signing_key.x509 */
	certificate?: string;
	sysRoot?: string;
	log?: Log | undefined;
}

export function loadVerifyContext(opts: ContextOptions): VerifyContext {
	const {target, config} = opts;
	const release = target.release.value;
	const build = target.buildDir?.value;
	// the running kernel's sysfs (BTF, signature enforcement); a kernel that is not running has none to read
	const sys = target.running ? opts.sysRoot ?? '/sys' : undefined;
	const notes: string[] = [];
	const on = (k: string): boolean => config?.enabled(k) ?? false;
	// Module.symvers (~30k exports) is parsed on first use: the verifier's workers start decoding before it is needed
	const cache: DiskCacheOptions = {root: cacheRoot(target), log: opts.log};
	const readSymvers = symversReader(build, cache);
	let symvers: VerifyContext['symvers'] | null = null;
	const vmlinuxBtf = readVmlinuxBtf(build, sys);
	return {
		release,
		busyboxModprobe: findBusyboxModprobe(target.root),
		moduleDir: target.moduleDir,
		running: target.running,
		machine: targetMachine(config),
		vermagic: targetVermagic(release, config, build),
		modversions: on('MODVERSIONS'),
		// discover.ts has the version from the release, else the source tree's Makefile; unknown: the old rules
		extendedModversions: target.version !== undefined && versionAtLeast(target.version.value, 6, 14),
		forceLoad: on('MODULE_FORCE_LOAD'),
		allowBtfMismatch: on('MODULE_ALLOW_BTF_MISMATCH'),
		btfModules: on('DEBUG_INFO_BTF_MODULES'),
		allowMissingNamespace: on('MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS'),
		moduleSig: on('MODULE_SIG'),
		enforce: signatureEnforcement(opts, sys),
		get symvers() {
			if (symvers === null) symvers = readSymvers();
			return symvers;
		},
		...installedModules(target),
		vmlinuxBtf,
		structModuleSize: structModuleSizeFrom(vmlinuxBtf),
		...readCertificates(opts.certificate, build, notes),
		notes,
	};
}

/** Module.symvers of the build dir, parsed when first called (and once per process per file). */
function symversReader(build: string | undefined, cache: DiskCacheOptions): () => VerifyContext['symvers'] {
	const file = build ? join(build, 'Module.symvers') : undefined;
	return () => {
		if (!file || !existsSync(file)) return undefined;
		const exports = cachedParse(file, () => persistent(file, SYMVERS_CODEC, () => {
			const text = readMaybe(file);
			return text ? parseSymvers(text.toString('utf8'), file) : undefined;
		}, cache));
		return exports ? {exports, from: file} : undefined;
	};
}

const isStr = (x: unknown): x is string => typeof x === 'string';

/** Where the verify cache lives: the system the modules are for — a staging image's target root, else the root. */
export function cacheRoot(target: KernelTarget): string | undefined {
	return target.stagingImage ? target.targetRoot?.value : target.root;
}

/** Module.symvers's exports in the verify cache: one row per export (symbol, CRC, module, GPL-only, namespace, from). */
const SYMVERS_CODEC: Codec<Map<string, Export> | undefined> = {
	kind: 'symvers',
	toJSON: (exports) => exports ? [...exports.values()].map((e) => [e.symbol, e.crc ?? null, e.module, e.gplOnly ? 1 : 0, e.namespace, e.from]) : null,
	fromJSON(json) {
		if (json === null) return undefined;
		if (!Array.isArray(json)) throw new Error('not a list');
		const out = new Map<string, Export>();
		for (const row of json as unknown[]) {
			if (!Array.isArray(row) || row.length !== 6) throw new Error('bad row');
			const [symbol, crc, module, gpl, namespace, from] = row as unknown[];
			if (!isStr(symbol) || !(crc === null || Number.isInteger(crc)) || !isStr(module) || (gpl !== 0 && gpl !== 1) || !isStr(namespace) || !isStr(from)) throw new Error('bad row');
			out.set(symbol, {symbol, crc: crc === null ? undefined : crc as number, module, gplOnly: gpl === 1, namespace, from});
		}
		return out;
	},
};

/** The certificates compiled into a kernel image, in the verify cache. */
const CERTS_CODEC: Codec<TrustedCertificate[]> = {
	kind: 'image-certs',
	toJSON: (certs) => certs,
	fromJSON(json) {
		if (!Array.isArray(json)) throw new Error('not a list');
		for (const c of json as unknown[]) {
			const o = c as {id?: unknown; from?: unknown};
			if (typeof o !== 'object' || o === null || !isStr(o.from) || typeof o.id !== 'object' || o.id === null) throw new Error('bad certificate');
			for (const v of Object.values(o.id)) if (!isStr(v)) throw new Error('bad certificate id');
		}
		return json as TrustedCertificate[];
	},
};

/** The installed modules; for a staging image, the target root's (its modules.dep for the release) with the image's
 * own on top: a module in the image replaces the installed one of the same name, as it will after the merge. */
function installedModules(target: KernelTarget): Pick<VerifyContext, 'installed' | 'installedFrom' | 'staging'> {
	const own = readInstalledModules(target.moduleDir);
	const targetDir = targetModuleDir(target);
	if (!target.targetRoot || !targetDir) return {...own, staging: undefined};
	const base = readInstalledModules(targetDir);
	const installed = new Map<string, InstalledModule>();
	for (const m of base.installed.values()) installed.set(m.name, {...m, path: join(targetDir, m.rel)});
	for (const m of own.installed.values()) installed.set(m.name, m);
	return {
		installed, installedFrom: own.installedFrom,
		staging: {targetRoot: target.targetRoot.value, installedFrom: base.installedFrom ?? `${targetDir} (no modules.dep: the files)`},
	};
}

/** Where an installed module's file is. */
export function installedPath(ctx: Pick<VerifyContext, 'moduleDir'>, m: InstalledModule): string {
	return m.path ?? join(ctx.moduleDir, m.rel);
}

/** modules.dep; without it (no depmod yet: a fresh sysroot or staging image), the files themselves without their
 * dependencies. */
function readInstalledModules(moduleDir: string): Pick<VerifyContext, 'installed' | 'installedFrom'> {
	const depFile = join(moduleDir, 'modules.dep');
	const depText = readMaybe(depFile);
	if (depText) return {installed: parseModulesDepFull(depText.toString('utf8')), installedFrom: depFile};
	const installed = new Map<string, InstalledModule>();
	if (existsSync(moduleDir)) {
		for (const rel of readdirSync(moduleDir, {recursive: true}) as string[]) {
			if (!MODULE_NAME_RE.test(rel)) continue;
			const name = moduleNameOf(rel);
			if (!installed.has(name)) installed.set(name, {name, rel, deps: []});
		}
	}
	return {installed, installedFrom: undefined};
}

/** vmlinux BTF from the build dir's vmlinux, else (for the running kernel: `sys` given) from sysfs. */
function readVmlinuxBtf(build: string | undefined, sys: string | undefined): VerifyContext['vmlinuxBtf'] {
	let btf = build ? readBuildVmlinuxBtf(join(build, 'vmlinux')) : undefined;
	if (sys !== undefined && !(btf && 'btf' in btf)) {
		const file = join(sys, 'kernel/btf/vmlinux');
		const bytes = readMaybe(file);
		if (bytes) btf = parseVmlinuxBtf(bytes, file);
	}
	return btf;
}

/** The .BTF section of a vmlinux ELF, parsed once per process per file. */
function readBuildVmlinuxBtf(file: string): VerifyContext['vmlinuxBtf'] {
	if (!existsSync(file)) return undefined;
	return cachedParse(file, () => {
		const vm = readMaybe(file);
		if (!vm) return undefined;
		try {
			const elf = new ElfFile(vm, file);
			const sec = elf.section('.BTF');
			return sec ? parseVmlinuxBtf(elf.contents(sec), `${file} (.BTF)`) : undefined;
		} catch {
			// not an ELF vmlinux: leave it
			return undefined;
		}
	});
}

/** Parsed into one copy in shared memory: every worker reads it without a copy per module. */
function parseVmlinuxBtf(bytes: Uint8Array, from: string): VerifyContext['vmlinuxBtf'] {
	try {
		const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
		shared.set(bytes);
		return {btf: parseBtf(shared), from, shared};
	} catch (e) {
		return {error: e instanceof BtfError ? e.message : String(e), from};
	}
}

function structModuleSizeFrom(vmlinuxBtf: VerifyContext['vmlinuxBtf']): VerifyContext['structModuleSize'] {
	if (!vmlinuxBtf || !('btf' in vmlinuxBtf)) return undefined;
	const size = structSize(vmlinuxBtf.btf, 'module');
	return size === undefined ? undefined : {size, from: `struct module in ${vmlinuxBtf.from}`};
}

/** --certificate, then the build dir's certs/signing_key.x509; a file that is not a certificate becomes a note. */
function readCertificates(extra: string | undefined, build: string | undefined, notes: string[]): Pick<VerifyContext, 'certificates' | 'buildCertificate'> {
	const certificates: VerifyContext['certificates'] = [];
	let buildCertificate = false;
	for (const file of [extra, build ? join(build, 'certs/signing_key.x509') : undefined]) {
		const bytes = readMaybe(file);
		if (!bytes) continue;
		for (const der of certificatesFrom(bytes)) {
			try {
				certificates.push({id: x509Id(der), from: file === extra ? `${file} (--certificate)` : file!});
				if (file !== extra) buildCertificate = true;
			} catch {
				notes.push(`${file}: not a certificate kmodpress can read`);
			}
		}
	}
	return {certificates, buildCertificate};
}

/** --sig-enforce, CONFIG_MODULE_SIG_FORCE, and for the running kernel (`sys` given) its sig_enforce parameter or
 * lockdown (kernel/module/signing.c is_module_sig_enforced, security/lockdown). */
function signatureEnforcement(opts: ContextOptions, sys: string | undefined): VerifyContext['enforce'] {
	if (opts.sigEnforce) return {on: true, from: '--sig-enforce'};
	if (opts.config?.enabled('MODULE_SIG_FORCE')) return {on: true, from: `CONFIG_MODULE_SIG_FORCE=y (${opts.config.where('MODULE_SIG_FORCE')})`};
	if (sys !== undefined) {
		const param = join(sys, 'module/module/parameters/sig_enforce');
		if (readMaybe(param)?.toString().trim() === 'Y') return {on: true, from: `${param} = Y`};
		const lockdownFile = join(sys, 'kernel/security/lockdown');
		const lockdown = readMaybe(lockdownFile)?.toString();
		if (lockdown && /\[(integrity|confidentiality)\]/.test(lockdown)) return {on: true, from: `${lockdownFile}: ${lockdown.trim()}`};
	}
	return {on: false, from: 'no signature enforcement (CONFIG_MODULE_SIG_FORCE off, no --sig-enforce)'};
}

/** The target's modprobe when it is a symlink to busybox (the first modprobe found decides). */
function findBusyboxModprobe(root: string): string | undefined {
	for (const p of ['sbin/modprobe', 'usr/sbin/modprobe', 'bin/modprobe']) {
		let link: string;
		try {
			link = readlinkSync(join(root, p));
		} catch {
			continue; // not there, or not a symlink
		}
		return /busybox/.test(link.slice(link.lastIndexOf('/') + 1)) ? `${join(root, p)} → ${link}` : undefined;
	}
	return undefined;
}

/** The smallest installed in-tree module, to learn sizeof(struct module) when vmlinux BTF is not available. */
export function smallestInTreeModule(ctx: VerifyContext): string | undefined {
	let best: {path: string; size: number} | undefined;
	for (const m of ctx.installed.values()) {
		if (!m.rel.startsWith('kernel/')) continue;
		const p = installedPath(ctx, m);
		try {
			const size = statSync(p).size;
			if (!best || size < best.size) best = {path: p, size};
		} catch {
			// listed but gone
		}
	}
	if (best) return best.path;
	const kdir = join(ctx.moduleDir, 'kernel');
	if (!existsSync(kdir)) return undefined;
	for (const name of readdirSync(kdir, {recursive: true}) as string[]) if (MODULE_NAME_RE.test(name)) return join(kdir, name);
	return undefined;
}

/** The certificates built into a kernel image (image-certs.ts), once per image per process; with `pool`, decoded in
 * one of its workers so the calling thread goes on. */
export function kernelImageCertificates(imagePath: string, opts: {maxOutput?: number; pool?: Pick<CodecPool, 'imageCertificates'>; cache?: DiskCacheOptions} = {}): Promise<VerifyContext['certificates']> {
	const maxOutput = opts.maxOutput ?? 512 << 20;
	return cachedParse(imagePath, () => persistentAsync(imagePath, CERTS_CODEC, () => imageCertificatesUncached(imagePath, maxOutput, opts.pool), opts.cache ?? {root: undefined}));
}

async function imageCertificatesUncached(imagePath: string, maxOutput: number, pool: Pick<CodecPool, 'imageCertificates'> | undefined): Promise<VerifyContext['certificates']> {
	const bytes = readMaybe(imagePath);
	if (!bytes) return [];
	if (pool) return pool.imageCertificates(bytes, imagePath, {maxOutput});
	const {imageCertificatesOf} = await import('./checks/image-certs.js');
	return imageCertificatesOf(bytes, imagePath, maxOutput);
}
