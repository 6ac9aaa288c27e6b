// Step 1 of decidePolicy: what the kernel's own `make modules_install` does with an external module — whether it
// compresses, with which algorithm and command. Its kbuild files evaluated with its config (target/kbuild/modinst.ts)
// decide; without them, the config's CONFIG_MODULE_COMPRESS_<ALG> and the fallback table for the kernel's version
// (target/kbuild/fallback.ts); without a config either, what the in-tree modules use.
import type {KernelConfig} from '../target/kernel-config.js';
import {fallbackCommands, type FallbackRow} from '../target/kbuild/fallback.js';
import type {Algorithm, Sourced} from '../types.js';
import {ALGORITHMS} from '../formats/table.js';
import {describeCounts, majorityAlgorithm} from './in-tree.js';
import type {PolicyInputs, Remarks} from './types.js';

export interface ModulesInstall {
	/** the algorithm modules_install compresses with (null: it does not) */
	algorithm: Sourced<Algorithm | null>;
	/** the command it runs for an algorithm: from the kbuild files, else the fallback table */
	commandFor: (alg: Algorithm) => Sourced<string> | undefined;
}

/** The CONFIG_MODULE_COMPRESS_<ALG> the kernel is configured with (a Kconfig choice: at most one). */
export function configuredAlgorithm(config: KernelConfig | undefined): Sourced<Algorithm> | undefined {
	if (!config) return undefined;
	let configured: Sourced<Algorithm> | undefined;
	for (const alg of ALGORITHMS) {
		const sym = `MODULE_COMPRESS_${alg.toUpperCase()}`;
		if (config.enabled(sym)) configured = {value: alg, from: config.where(sym)};
	}
	return configured;
}

export function modulesInstall(inputs: PolicyInputs, configured: Sourced<Algorithm> | undefined, configFrom: string, remarks: Remarks): ModulesInstall {
	const fallback = fallbackTable(inputs.version);
	const m = inputs.modinst;
	if (m && (m.algorithm.value !== null || Object.keys(m.commands).length > 0 || m.command)) {
		if (inputs.config === undefined) remarks.warnings.push(`${m.file} was read without a kernel config, so every CONFIG_ test in it was false; ${configFrom}`);
		return {
			algorithm: m.algorithm,
			commandFor: (alg) => {
				const c = m.commands[alg];
				return c ? {value: c.expanded, from: `${c.file}:${c.line} cmd: ${c.raw}`} : fallback.commandFor(alg);
			},
		};
	}
	remarks.notes.push(`no kbuild files of this kernel were found: using the fallback table for kernel ${fallback.row.era}`);
	return {algorithm: algorithmWithoutKbuild(inputs, configured, fallback.row, remarks), commandFor: fallback.commandFor};
}

/** The fallback table's row for the kernel's version (the newest row when the version is unknown). */
function fallbackTable(version: PolicyInputs['version']): {row: FallbackRow; commandFor: ModulesInstall['commandFor']} {
	const row = fallbackCommands(version ?? [99, 0, 0]);
	const from = `fallback table (kernel ${row.era}${version ? '' : '; version unknown, newest row'})`;
	return {
		row,
		commandFor: (alg) => {
			const cmd = row.commands[alg];
			return cmd ? {value: cmd, from} : undefined;
		},
	};
}

/** No kbuild files: the config's algorithm behind the era's gate, else the in-tree modules, else nothing. */
function algorithmWithoutKbuild(inputs: PolicyInputs, configured: Sourced<Algorithm> | undefined, row: FallbackRow, remarks: Remarks): Sourced<Algorithm | null> {
	const {config, inTree} = inputs;
	if (configured && config) {
		const gate = row.gate === 'ALGORITHM' ? undefined : row.gate;
		if (gate && !config.enabled(gate)) return {value: null, from: `${config.where(gate)} (kernel ${row.era}: modules_install compresses only with it)`};
		return {value: configured.value, from: `${configured.from}${gate ? ` and ${config.where(gate)}` : ''} (fallback table, kernel ${row.era})`};
	}
	if (config) return {value: null, from: `${config.file}: no CONFIG_MODULE_COMPRESS_<ALG> set`};
	if (inTree) {
		remarks.warnings.push('neither the kernel config nor its kbuild files were found; the decision follows the in-tree modules');
		return {value: majorityAlgorithm(inTree.counts), from: `what the in-tree modules use (${inTree.from}: ${describeCounts(inTree.counts)}); no kernel config or kbuild files found`};
	}
	remarks.warnings.push(`nothing describes kernel ${inputs.release}: pass --build-dir or install its headers`);
	return {value: null, from: 'nothing describes this kernel (no build dir, config or in-tree modules): modules stay as they are'};
}
