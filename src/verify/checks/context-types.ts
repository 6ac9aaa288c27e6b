// What the verifier knows about a target kernel (read once by verify/context.ts), as the checks read it: its exports
// (Module.symvers), its installed modules (modules.dep), vmlinux BTF, the size of its struct module, its trusted
// signing certificates, whether it enforces signatures, and the config switches that decide how strict each check is.
// Every part says where it came from.
import type {Btf} from './btf.js';
import type {TrustedCertificate} from './image-certs.js';
import type {Export} from './symvers.js';

export interface InstalledModule {
	name: string;
	/** path relative to the module dir, as modules.dep writes it */
	rel: string;
	/** modules.dep's dependencies (names), in modules.dep's order */
	deps: string[];
	/** the file, when it is not under the module dir: a staging image's target root's installed module */
	path?: string;
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
	/** a staging image (${ED}): judged with the installed modules of the root it merges into; what neither tree can
	 * settle (a dependency nobody installed yet) is a warning until after the merge */
	staging: {targetRoot: string; installedFrom: string} | undefined;
	vmlinuxBtf: {btf: Btf; from: string; shared: Uint8Array} | {error: string; from: string} | undefined;
	structModuleSize: {size: number; from: string} | undefined;
	certificates: TrustedCertificate[];
	/** the build dir holds the kernel's signing certificate (else the kernel image's built-in ones are read) */
	buildCertificate: boolean;
	/** the target's modprobe is busybox's (gz and xz only, no zstd) */
	busyboxModprobe: string | undefined;
	notes: string[];
}
