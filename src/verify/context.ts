// What the verifier knows about a target kernel, read once: its exports (Module.symvers), its installed modules
// (modules.dep), vmlinux BTF, the size of its struct module, its trusted signing certificate, whether it enforces
// signatures, and the config switches that decide how strict each check is. Every part says where it came from.
import {existsSync, readdirSync, readFileSync, readlinkSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {ElfFile} from '../elf/reader.js';
import type {KernelConfig} from '../target/kernel-config.js';
import {type KernelTarget, versionAtLeast} from '../target/discover.js';
import {targetMachine, targetVermagic} from './checks/module-image.js';
import type {Policy} from '../policy/index.js';
import {type Btf, BtfError, parseBtf, structSize} from './checks/btf.js';
import type {CodecPool} from '../workers/pool.js';
import type {TrustedCertificate} from './checks/image-certs.js';
import {certificatesFrom, x509Id} from './checks/signature.js';
import {type Export, moduleNameOf, parseSymvers} from './checks/symvers.js';
import {MODULE_NAME_RE} from '../formats/table.js';

export interface InstalledModule {
	name: string;
	/** path relative to the module dir, as modules.dep writes it */
	rel: string;
	/** modules.dep's dependencies (names), in modules.dep's order */
	deps: string[];
}

export interface VerifyContext {
	release: string;
	moduleDir: string;
	running: boolean;
	machine: number | undefined;
	vermagic: string | undefined;
	modversions: boolean;
	/** 6.14+: __version_ext_crcs/__version_ext_names are read (and, when present, decide every CRC) */
	extendedModversions: boolean;
	forceLoad: boolean;
	allowBtfMismatch: boolean;
	btfModules: boolean;
	allowMissingNamespace: boolean;
	moduleSig: boolean;
	enforce: {on: boolean; from: string};
	symvers: {exports: Map<string, Export>; from: string} | undefined;
	installed: Map<string, InstalledModule>;
	installedFrom: string | undefined;
	vmlinuxBtf: {btf: Btf; from: string; shared: Uint8Array} | {error: string; from: string} | undefined;
	structModuleSize: {size: number; from: string} | undefined;
	certificates: TrustedCertificate[];
	/** the build dir holds the kernel's signing certificate (else the kernel image's built-in ones are read) */
	buildCertificate: boolean;
	/** the target's modprobe is busybox's (gz and xz only, no zstd) */
	busyboxModprobe: string | undefined;
	notes: string[];
}

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
}

export function loadVerifyContext(opts: ContextOptions): VerifyContext {
	const {target, config} = opts;
	const release = target.release.value;
	const build = target.buildDir?.value;
	const sys = opts.sysRoot ?? '/sys';
	const notes: string[] = [];
	const on = (k: string) => config?.enabled(k) ?? false;

	// Module.symvers (~30k exports) is parsed on first use: the verifier's workers start decoding before it is needed
	let symvers: VerifyContext['symvers'] | null = null;
	const symFile = build ? join(build, 'Module.symvers') : undefined;
	const readSymvers = (): VerifyContext['symvers'] => {
		if (!symFile || !existsSync(symFile)) return undefined;
		const exports = cachedParse(symFile, () => {
			const text = readMaybe(symFile);
			return text ? parseSymvers(text.toString('utf8'), symFile) : undefined;
		});
		return exports ? {exports, from: symFile} : undefined;
	};

	let installed = new Map<string, InstalledModule>();
	let installedFrom: string | undefined;
	const depFile = join(target.moduleDir, 'modules.dep');
	const depText = readMaybe(depFile);
	if (depText) {
		installed = parseModulesDepFull(depText.toString('utf8'));
		installedFrom = depFile;
	} else if (existsSync(target.moduleDir)) {
		// no depmod yet (a fresh sysroot or staging image): the files themselves, without their dependencies
		for (const rel of readdirSync(target.moduleDir, {recursive: true}) as string[]) {
			if (!MODULE_NAME_RE.test(rel)) continue;
			const name = moduleNameOf(rel);
			if (!installed.has(name)) installed.set(name, {name, rel, deps: []});
		}
	}

	let vmlinuxBtf: VerifyContext['vmlinuxBtf'];
	const tryBtf = (bytes: Uint8Array | undefined, from: string): void => {
		if (vmlinuxBtf && 'btf' in vmlinuxBtf) return;
		if (!bytes) return;
		try {
			// one copy in shared memory: every worker reads it without a copy per module
			const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
			shared.set(bytes);
			vmlinuxBtf = {btf: parseBtf(shared), from, shared};
		} catch (e) {
			vmlinuxBtf = {error: e instanceof BtfError ? e.message : String(e), from};
		}
	};
	if (build && existsSync(join(build, 'vmlinux'))) {
		const cached = cachedParse(join(build, 'vmlinux'), () => {
			vmlinuxBtf = undefined;
			const vm = readMaybe(join(build, 'vmlinux'));
			if (vm) {
				try {
					const elf = new ElfFile(vm, join(build, 'vmlinux'));
					const sec = elf.section('.BTF');
					if (sec) tryBtf(elf.contents(sec), `${join(build, 'vmlinux')} (.BTF)`);
				} catch {
					// not an ELF vmlinux: leave it
				}
			}
			return vmlinuxBtf;
		});
		vmlinuxBtf = cached;
	}
	if (target.running) tryBtf(readMaybe(join(sys, 'kernel/btf/vmlinux')), join(sys, 'kernel/btf/vmlinux'));

	let structModuleSize: VerifyContext['structModuleSize'];
	if (vmlinuxBtf && 'btf' in vmlinuxBtf) {
		const size = structSize(vmlinuxBtf.btf, 'module');
		if (size !== undefined) structModuleSize = {size, from: `struct module in ${vmlinuxBtf.from}`};
	}

	const certificates: VerifyContext['certificates'] = [];
	let buildCertificate = false;
	for (const file of [opts.certificate, build ? join(build, 'certs/signing_key.x509') : undefined]) {
		const bytes = readMaybe(file);
		if (!bytes) continue;
		for (const der of certificatesFrom(bytes)) {
			try {
				certificates.push({id: x509Id(der), from: file === opts.certificate ? `${file} (--certificate)` : file!});
				if (file !== opts.certificate) buildCertificate = true;
			} catch {
				notes.push(`${file}: not a certificate kmodpress can read`);
			}
		}
	}

	let enforce = {on: false, from: 'no signature enforcement (CONFIG_MODULE_SIG_FORCE off, no --sig-enforce)'};
	if (opts.sigEnforce) enforce = {on: true, from: '--sig-enforce'};
	else if (on('MODULE_SIG_FORCE')) enforce = {on: true, from: `CONFIG_MODULE_SIG_FORCE=y (${config?.where('MODULE_SIG_FORCE') ?? 'config'})`};
	else if (target.running) {
		const param = readMaybe(join(sys, 'module/module/parameters/sig_enforce'))?.toString().trim();
		if (param === 'Y') enforce = {on: true, from: `${join(sys, 'module/module/parameters/sig_enforce')} = Y`};
		const lockdown = readMaybe(join(sys, 'kernel/security/lockdown'))?.toString();
		if (!enforce.on && lockdown && /\[(integrity|confidentiality)\]/.test(lockdown)) enforce = {on: true, from: `${join(sys, 'kernel/security/lockdown')}: ${lockdown.trim()}`};
	}

	let busyboxModprobe: string | undefined;
	for (const p of ['sbin/modprobe', 'usr/sbin/modprobe', 'bin/modprobe']) {
		try {
			const link = readlinkSync(join(target.root, p));
			if (/busybox/.test(link.slice(link.lastIndexOf('/') + 1))) busyboxModprobe = `${join(target.root, p)} → ${link}`;
			break;
		} catch {
			// not there
		}
	}

	return {
		release,
		busyboxModprobe,
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
		enforce,
		get symvers() {
			if (symvers === null) symvers = readSymvers();
			return symvers;
		},
		installed,
		installedFrom,
		vmlinuxBtf,
		structModuleSize,
		certificates,
		buildCertificate,
		notes,
	};
}

/** The smallest installed in-tree module, to learn sizeof(struct module) when vmlinux BTF is not available. */
export function smallestInTreeModule(ctx: VerifyContext): string | undefined {
	let best: {path: string; size: number} | undefined;
	for (const m of ctx.installed.values()) {
		if (!m.rel.startsWith('kernel/')) continue;
		const p = join(ctx.moduleDir, m.rel);
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
export function kernelImageCertificates(imagePath: string, opts: {maxOutput?: number; pool?: Pick<CodecPool, 'imageCertificates'>} = {}): Promise<VerifyContext['certificates']> {
	const maxOutput = opts.maxOutput ?? 512 << 20;
	return cachedParse(imagePath, async () => {
		const bytes = readMaybe(imagePath);
		if (!bytes) return [];
		if (opts.pool) return opts.pool.imageCertificates(bytes, imagePath, {maxOutput});
		const {imageCertificatesOf} = await import('./checks/image-certs.js');
		return imageCertificatesOf(bytes, imagePath, maxOutput);
	});
}
