// The policy: how modules for one target kernel must be compressed, and why. Pure: it takes what discover.ts and
// kmod.ts read and returns a Policy whose every part says where it came from, so `kmodpress explain` can show it.
//
// Precedence: flags > /etc/kmodpress config > the kernel's own kbuild (Makefile.modinst / top Makefile evaluated
// with its config) > the fallback table by kernel version > what the in-tree modules use. Then two corrections that
// keep modules loadable: an xz check the kernel's decompressor refuses becomes crc32, and a suffix the installed kmod
// cannot read is refused before anything is touched.

import {KmodpressError} from '../errors.js';
import type {KernelConfig} from '../target/kernel-config.js';
import {type KmodInfo, kmodReads} from '../target/kmod.js';
import {fallbackCommands, type ModinstInfo, parseCompressCommand, parseModinst} from '../target/kbuild/modinst.js';
import type {Algorithm, CompressionParams, KernelDecompressor, Sourced} from '../types.js';
import {ALGORITHMS, KMOD_FEATURE, SUFFIX} from '../formats/table.js';
import {type KernelFiles, type KernelTarget, versionAtLeast} from '../target/discover.js';

export type CompressMode = 'auto' | 'none' | 'force';

export interface PolicyOverrides {
	compress?: Sourced<CompressMode>;
	algorithm?: Sourced<Algorithm>;
}

export interface PolicyInputs {
	release: string;
	version: [number, number, number] | undefined;
	running: boolean;
	config: KernelConfig | undefined;
	configSearch: string[];
	modinst: ModinstInfo | undefined;
	sysfsCompression: Sourced<string | undefined> | undefined;
	inTree: {counts: Record<string, number>; from: string} | undefined;
	kmod: KmodInfo;
	/** where the modules go: the host's kmod is the one that will read them for / and for a staging image merged
	 * into /; a sysroot with a kernel tree of its own is another system, whose kmod the host cannot ask */
	kmodIsTargets?: boolean;
	/** report an unreadable suffix as a warning instead of refusing (verify judges; it does not write) */
	noRefusal?: boolean;
	overrides?: PolicyOverrides;
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
	inTree: {counts: Record<string, number>; from: string} | undefined;
	configFrom: string;
	/** remarks for explain */
	notes: string[];
	/** things a maintainer should look at; never fatal */
	warnings: string[];
}

const BCJ_OPTIONS: Record<string, string> = {
	X86: 'x86', POWERPC: 'powerpc', IA64: 'ia64', ARM: 'arm', ARMTHUMB: 'armthumb', ARM64: 'arm64', SPARC: 'sparc', RISCV: 'riscv',
};

const atLeast = (v: [number, number, number] | undefined, a: number, b: number): boolean => v === undefined || versionAtLeast(v, a, b);

/** Convenience: evaluate the kbuild files and decide. */
export function policyFromFiles(target: KernelTarget, files: KernelFiles, kmod: KmodInfo, overrides?: PolicyOverrides, opts: {noRefusal?: boolean} = {}): Policy {
	const modinst = files.modinst || files.topMakefile
		? parseModinst({
			modinstText: files.modinst?.text,
			modinstFile: files.modinst?.file ?? 'scripts/Makefile.modinst',
			topMakefileText: files.topMakefile?.text,
			topMakefileFile: files.topMakefile?.file ?? 'Makefile',
			config: files.config,
		})
		: undefined;
	return decidePolicy({
		release: target.release.value,
		version: target.version?.value,
		running: target.running,
		config: files.config,
		configSearch: files.configSearch,
		modinst,
		sysfsCompression: files.sysfsCompression,
		inTree: files.inTree,
		kmod,
		kmodIsTargets: target.root === '/' || target.stagingImage,
		...(opts.noRefusal ? {noRefusal: true} : {}),
		...(overrides ? {overrides} : {}),
	});
}

export function decidePolicy(inputs: PolicyInputs): Policy {
	const {config, version} = inputs;
	const notes: string[] = [];
	const warnings: string[] = [];
	const configFrom = config ? config.file : `no kernel config found (${inputs.configSearch.join('; ') || 'nothing searched'})`;

	// Which algorithm the kernel is configured for (a Kconfig choice: at most one).
	let configAlg: Sourced<Algorithm> | undefined;
	if (config) {
		for (const alg of ALGORITHMS) {
			const sym = `MODULE_COMPRESS_${alg.toUpperCase()}`;
			if (config.enabled(sym)) configAlg = {value: alg, from: config.where(sym)};
		}
	}

	// 1. What modules_install does.
	let algorithm: Sourced<Algorithm | null>;
	let modinstCommandFor: (alg: Algorithm) => Sourced<string> | undefined;
	const fallback = version ? fallbackCommands(version) : undefined;
	const fromFallback = (alg: Algorithm): Sourced<string> | undefined => {
		const row = fallback ?? fallbackCommands([99, 0, 0]);
		const cmd = row.commands[alg];
		return cmd ? {value: cmd, from: `fallback table (kernel ${row.era}${fallback ? '' : '; version unknown, newest row'})`} : undefined;
	};
	if (inputs.modinst && (inputs.modinst.algorithm.value !== null || Object.keys(inputs.modinst.commands).length > 0 || inputs.modinst.command)) {
		algorithm = inputs.modinst.algorithm;
		const m = inputs.modinst;
		modinstCommandFor = (alg) => {
			const c = m.commands[alg];
			return c ? {value: c.expanded, from: `${c.file}:${c.line} cmd: ${c.raw}`} : fromFallback(alg);
		};
		if (config === undefined) warnings.push(`${m.file} was read without a kernel config, so every CONFIG_ test in it was false; ${configFrom}`);
	} else {
		modinstCommandFor = fromFallback;
		const row = fallback ?? fallbackCommands([99, 0, 0]);
		notes.push(`no kbuild files of this kernel were found: using the fallback table for kernel ${row.era}`);
		if (configAlg) {
			const gate = row.gate === 'ALGORITHM' ? undefined : row.gate;
			if (gate && !config!.enabled(gate)) algorithm = {value: null, from: `${config!.where(gate)} (kernel ${row.era}: modules_install compresses only with it)`};
			else algorithm = {value: configAlg.value, from: `${configAlg.from}${gate ? ` and ${config!.where(gate)}` : ''} (fallback table, kernel ${row.era})`};
		} else if (config) {
			algorithm = {value: null, from: `${config.file}: no CONFIG_MODULE_COMPRESS_<ALG> set`};
		} else if (inputs.inTree) {
			const alg = majorityAlgorithm(inputs.inTree.counts);
			algorithm = {value: alg, from: `what the in-tree modules use (${inputs.inTree.from}: ${describeCounts(inputs.inTree.counts)}); no kernel config or kbuild files found`};
			warnings.push('neither the kernel config nor its kbuild files were found; the decision follows the in-tree modules');
		} else {
			algorithm = {value: null, from: 'nothing describes this kernel (no build dir, config or in-tree modules): modules stay as they are'};
			warnings.push(`nothing describes kernel ${inputs.release}: pass --build-dir or install its headers`);
		}
	}

	// 2. Overrides.
	let compress: Sourced<boolean> = {value: algorithm.value !== null, from: algorithm.from};
	const mode = inputs.overrides?.compress;
	if (inputs.overrides?.algorithm) {
		algorithm = inputs.overrides.algorithm;
		compress = {value: mode?.value !== 'none', from: inputs.overrides.algorithm.from};
	}
	if (mode?.value === 'none') {
		compress = {value: false, from: mode.from};
	} else if (mode?.value === 'force' && algorithm.value === null) {
		const alg = configAlg ?? (inputs.inTree && majorityAlgorithm(inputs.inTree.counts)
			? {value: majorityAlgorithm(inputs.inTree.counts)!, from: `in-tree modules (${inputs.inTree.from})`}
			: undefined);
		if (!alg) {
			throw new KmodpressError('E_POLICY_UNKNOWN', `${mode.from}: the kernel ${inputs.release} names no compression algorithm to force`, {
				fix: 'also pass --algorithm xz|zstd|gzip',
			});
		}
		algorithm = {value: alg.value, from: `${mode.from}; algorithm from ${alg.from}`};
		compress = {value: true, from: mode.from};
	} else if (mode?.value === 'force') {
		compress = {value: true, from: mode.from};
	}

	// 3. Parameters from the command.
	let command: Sourced<string> | undefined;
	let params: CompressionParams | undefined;
	let paramSources: Record<string, string> = {};
	if (compress.value && algorithm.value) {
		command = modinstCommandFor(algorithm.value);
		if (!command) {
			throw new KmodpressError('E_POLICY_UNKNOWN', `kernel ${inputs.release}: no ${algorithm.value} command in its kbuild files or the fallback table`, {
				fix: 'pass another --algorithm',
			});
		}
		const parsed = parseCompressCommand(algorithm.value, command.value);
		if (parsed.unsupported.length > 0) {
			throw new KmodpressError('E_POLICY_UNKNOWN', `${command.from}: kmodpress cannot reproduce ${parsed.unsupported.join(', ')} of "${command.value}"`, {
				fix: 'report it to kmodpress, or override the algorithm with --algorithm',
			});
		}
		params = parsed.params;
		paramSources = Object.fromEntries(Object.entries(parsed.sources).map(([k, v]) => [k, `${v} — ${command!.from}`]));
		notes.push(...parsed.notes);
		if (parsed.ignored.length > 0) notes.push(`options that do not change the bytes: ${parsed.ignored.join(' ')}`);
	}

	// 4. What the kernel decompresses itself.
	const xzBcj = new Set<string>();
	if (config) for (const [k, v] of Object.entries(BCJ_OPTIONS)) if (config.enabled(`XZ_DEC_${k}`)) xzBcj.add(v);
	let decompressor: Sourced<KernelDecompressor>;
	if (config?.enabled('MODULE_DECOMPRESS') && configAlg) {
		if (!atLeast(version, 5, 17)) {
			decompressor = {value: {algorithm: null, xzBcj}, from: `kernel ${inputs.release} predates in-kernel module decompression (5.17)`};
		} else if (configAlg.value === 'zstd' && !atLeast(version, 6, 2)) {
			decompressor = {value: {algorithm: null, xzBcj}, from: `kernel ${inputs.release}: in-kernel zstd module decompression arrived in 6.2`};
		} else {
			decompressor = {value: {algorithm: configAlg.value, xzBcj}, from: `${config.where('MODULE_DECOMPRESS')} with ${configAlg.from}`};
		}
	} else {
		decompressor = {
			value: {algorithm: null, xzBcj},
			from: config ? config.where('MODULE_DECOMPRESS') : `unknown (${configFrom}); assuming no in-kernel decompression`,
		};
	}
	if (inputs.running && inputs.sysfsCompression) {
		const sys = inputs.sysfsCompression.value;
		const sysAlg = sys === 'gzip' || sys === 'xz' || sys === 'zstd' ? sys : null;
		if (sys !== undefined && sysAlg === null) warnings.push(`${inputs.sysfsCompression.from} holds "${sys}", which kmodpress does not know`);
		if (sysAlg !== decompressor.value.algorithm) {
			if (config) warnings.push(`the config says in-kernel decompression is ${decompressor.value.algorithm ?? 'off'} but the running kernel's ${inputs.sysfsCompression.from} says ${sysAlg ?? 'off'}; the running kernel wins`);
			decompressor = {value: {algorithm: sysAlg, xzBcj}, from: inputs.sysfsCompression.from};
		} else {
			decompressor = {value: decompressor.value, from: `${decompressor.from}; confirmed by ${inputs.sysfsCompression.from}`};
		}
	}

	// 5. Corrections that keep modules loadable.
	if (params?.algorithm === 'xz' && decompressor.value.algorithm === 'xz' && (params.check === 'crc64' || params.check === 'sha256')) {
		paramSources.check = `changed from ${params.check} (${paramSources.check}) to crc32: this kernel decompresses xz modules itself and its lib/xz accepts only crc32/none — a ${params.check} module fails "decompression failed with status 6"`;
		params = {...params, check: 'crc32'};
		warnings.push(`the kernel's own command writes ${paramSources.check.match(/from (\w+)/)?.[1]} xz modules that its own decompressor refuses; kmodpress writes crc32`);
	}
	if (params?.algorithm === 'zstd' && !params.contentSize) {
		paramSources.contentSize = 'forced on: kmod >= 34 refuses zstd modules without a content size';
		params = {...params, contentSize: true};
	}

	// 6. kmod must be able to read what is written (depmod silently skips what it cannot).
	const reads = compress.value && algorithm.value ? kmodReads(inputs.kmod, algorithm.value) : undefined;
	if (compress.value && algorithm.value) {
		if (reads === false && (inputs.kmodIsTargets === false || inputs.noRefusal)) {
			const feature = KMOD_FEATURE[algorithm.value];
			warnings.push(`${inputs.kmod.from}: the host's kmod ${inputs.kmod.version ?? '?'} cannot read *.ko${SUFFIX[algorithm.value]} (-${feature}); ${inputs.noRefusal ? 'modprobe on this system could only load such files through the kernel' : `the modules are for the system under ${'the given root'}, whose own kmod must have ${feature}`}`);
		} else if (reads === false) {
			const feature = KMOD_FEATURE[algorithm.value];
			throw new KmodpressError('E_POLICY_KMOD_CANNOT_READ',
				`${inputs.kmod.from}: kmod ${inputs.kmod.version ?? '?'} was built without ${feature} (-${feature}), so depmod would silently leave every *.ko${SUFFIX[algorithm.value]} out of modules.dep and modprobe could not load it (${algorithm.from})`,
				{fix: `rebuild kmod with ${algorithm.value} support, or configure kernel ${inputs.release} with another CONFIG_MODULE_COMPRESS_<ALG>, or pass --compress none`});
		}
		if (reads === undefined) warnings.push(`${inputs.kmod.from}: cannot tell whether kmod reads ${algorithm.value} modules`);
	}

	// 7. Cross-checks.
	if (inputs.inTree && compress.value && algorithm.value) {
		const major = majorityAlgorithm(inputs.inTree.counts);
		const plain = inputs.inTree.counts['.ko'] ?? 0;
		if (major !== algorithm.value && (major !== null || plain > 0)) {
			warnings.push(`the in-tree modules (${inputs.inTree.from}) are ${describeCounts(inputs.inTree.counts)}, not *.ko${SUFFIX[algorithm.value]}`);
		}
	}
	if (inputs.inTree) notes.push(`in-tree modules: ${describeCounts(inputs.inTree.counts)} (${inputs.inTree.from})`);

	return {
		kernel: {release: inputs.release, version, running: inputs.running},
		compress,
		algorithm: compress.value ? algorithm : {value: null, from: compress.from},
		command,
		params,
		paramSources,
		decompressor,
		kmod: {...inputs.kmod, reads},
		inTree: inputs.inTree,
		configFrom,
		notes,
		warnings,
	};
}

function majorityAlgorithm(counts: Record<string, number>): Algorithm | null {
	let best: Algorithm | null = null;
	let n = 0;
	for (const alg of ALGORITHMS) {
		const c = counts[`.ko${SUFFIX[alg]}`] ?? 0;
		if (c > n) {
			best = alg;
			n = c;
		}
	}
	return n > (counts['.ko'] ?? 0) ? best : null;
}

function describeCounts(counts: Record<string, number>): string {
	const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} *${s}`);
	return parts.length ? parts.join(', ') : 'none';
}
