// Step 4 of decidePolicy: what the target kernel decompresses by itself (kernel/module/decompress.c): the algorithm
// of CONFIG_MODULE_DECOMPRESS (5.17+, zstd from 6.2) and the BCJ filters built into its lib/xz (CONFIG_XZ_DEC_<ARCH>).
// For the running kernel, /sys/module/compression has the last word.
import type {KernelConfig} from '../target/kernel-config.js';
import {versionAtLeast} from '../target/discover.js';
import type {Algorithm, KernelDecompressor, Sourced} from '../types.js';
import type {PolicyInputs, Remarks} from './types.js';

/** CONFIG_XZ_DEC_<name> → the filter name KernelDecompressor.xzBcj uses. */
const BCJ_OPTIONS: Record<string, string> = {
	X86: 'x86', POWERPC: 'powerpc', IA64: 'ia64', ARM: 'arm', ARMTHUMB: 'armthumb', ARM64: 'arm64', SPARC: 'sparc', RISCV: 'riscv',
};

/** An unknown version is taken as new enough. */
const atLeast = (v: [number, number, number] | undefined, a: number, b: number): boolean => v === undefined || versionAtLeast(v, a, b);

export function kernelDecompressor(inputs: PolicyInputs, configured: Sourced<Algorithm> | undefined, configFrom: string, remarks: Remarks): Sourced<KernelDecompressor> {
	const fromConfig = configuredDecompressor(inputs, configured, configFrom);
	return inputs.running && inputs.sysfsCompression ? confirmedBySysfs(fromConfig, inputs.sysfsCompression, inputs.config !== undefined, remarks) : fromConfig;
}

function xzBcjFilters(config: KernelConfig | undefined): Set<string> {
	const xzBcj = new Set<string>();
	if (config) for (const [k, v] of Object.entries(BCJ_OPTIONS)) if (config.enabled(`XZ_DEC_${k}`)) xzBcj.add(v);
	return xzBcj;
}

function configuredDecompressor(inputs: PolicyInputs, configured: Sourced<Algorithm> | undefined, configFrom: string): Sourced<KernelDecompressor> {
	const {config, version, release} = inputs;
	const xzBcj = xzBcjFilters(config);
	if (!config?.enabled('MODULE_DECOMPRESS') || !configured) {
		return {value: {algorithm: null, xzBcj}, from: config ? config.where('MODULE_DECOMPRESS') : `unknown (${configFrom}); assuming no in-kernel decompression`};
	}
	if (!atLeast(version, 5, 17)) {
		return {value: {algorithm: null, xzBcj}, from: `kernel ${release} predates in-kernel module decompression (5.17)`};
	}
	if (configured.value === 'zstd' && !atLeast(version, 6, 2)) {
		return {value: {algorithm: null, xzBcj}, from: `kernel ${release}: in-kernel zstd module decompression arrived in 6.2`};
	}
	return {value: {algorithm: configured.value, xzBcj}, from: `${config.where('MODULE_DECOMPRESS')} with ${configured.from}`};
}

/** The running kernel's /sys/module/compression wins over its config; a disagreement is worth a warning. */
function confirmedBySysfs(fromConfig: Sourced<KernelDecompressor>, sysfs: Sourced<string | undefined>, hasConfig: boolean, remarks: Remarks): Sourced<KernelDecompressor> {
	const sys = sysfs.value;
	const sysAlg = sys === 'gzip' || sys === 'xz' || sys === 'zstd' ? sys : null;
	if (sys !== undefined && sysAlg === null) remarks.warnings.push(`${sysfs.from} holds "${sys}", which kmodpress does not know`);
	if (sysAlg === fromConfig.value.algorithm) return {value: fromConfig.value, from: `${fromConfig.from}; confirmed by ${sysfs.from}`};
	if (hasConfig) remarks.warnings.push(`the config says in-kernel decompression is ${fromConfig.value.algorithm ?? 'off'} but the running kernel's ${sysfs.from} says ${sysAlg ?? 'off'}; the running kernel wins`);
	return {value: {algorithm: sysAlg, xzBcj: fromConfig.value.xzBcj}, from: sysfs.from};
}
