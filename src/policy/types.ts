// What the policy takes and gives. Every part of a Policy says where it came from, so `kmodpress explain` can show it.
import type {KernelConfig} from '../target/kernel-config.js';
import type {KmodInfo} from '../target/kmod.js';
import type {XzTool} from '../target/xz-tool.js';
import type {ModinstInfo} from '../target/kbuild/modinst.js';
import type {Algorithm, CompressionParams, KernelDecompressor, Sourced, XzFormat} from '../types.js';

export type CompressMode = 'auto' | 'none' | 'force';

export interface PolicyOverrides {
	compress?: Sourced<CompressMode>;
	algorithm?: Sourced<Algorithm>;
}

export interface PolicyInputs {
	/** the kernel release (`uname -r`) */
	release: string;
	/** [major, minor, patch] of the release */
	version: [number, number, number] | undefined;
	running: boolean;
	config: KernelConfig | undefined;
	configSearch: string[];
	modinst: ModinstInfo | undefined;
	sysfsCompression: Sourced<string | undefined> | undefined;
	inTree: InTree | undefined;
	/** the container of one in-tree .ko.xz (target/discover.ts) */
	inTreeXzFormat?: Sourced<XzFormat | 'other'> | undefined;
	/** the xz command that writes the target's modules (target/xz-tool.ts); undefined: not looked for (single format) */
	xz?: XzTool | undefined;
	kmod: KmodInfo;
	/** where the modules go: the host's kmod is the one that will read them for / and for a staging image merged
	 * into /; a sysroot with a kernel tree of its own is another system, whose kmod the host cannot ask */
	kmodIsTargets?: boolean;
	/** report an unreadable suffix as a warning instead of refusing (verify judges; it does not write) */
	noRefusal?: boolean;
	overrides?: PolicyOverrides;
}

/** Suffix counts of the kernel's in-tree modules ({'.ko.xz': 4230}) and where they were counted. */
export interface InTree {
	counts: Record<string, number>;
	from: string;
}

export interface Policy {
	kernel: {release: string; version: [number, number, number] | undefined; running: boolean};
	/** whether kmodpress compresses modules for this kernel */
	compress: Sourced<boolean>;
	/** the algorithm (null: modules stay uncompressed) */
	algorithm: Sourced<Algorithm | null>;
	/** the compressor command kbuild would run, as expanded */
	command: Sourced<string> | undefined;
	params: CompressionParams | undefined;
	/** for each field of params, where its value came from */
	paramSources: Record<string, string>;
	/** what the target kernel decompresses by itself */
	decompressor: Sourced<KernelDecompressor>;
	kmod: KmodInfo & {reads: boolean | undefined};
	inTree: InTree | undefined;
	configFrom: string;
	/** remarks for explain */
	notes: string[];
	/** things a maintainer should look at; never fatal */
	warnings: string[];
}

/** The notes and warnings the steps add, in the order they decide. */
export interface Remarks {
	notes: string[];
	warnings: string[];
}
