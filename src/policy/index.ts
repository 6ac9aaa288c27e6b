// The policy: how modules for one target kernel must be compressed, and why. Pure: it takes what target/discover.ts
// and target/kmod.ts read and returns a Policy whose every part says where it came from, so `kmodpress explain` can
// show it. One function per decision, in this order:
//   1. modules-install.ts  what the kernel's modules_install does: its kbuild files (Makefile.modinst / the top
//                          Makefile evaluated with its config) > the fallback table by kernel version > the in-tree modules
//   2. compression.ts      whether to compress, which algorithm: flags > /etc/kmodpress config > step 1
//   3. params.ts           the command and its exact parameters
//      xz-format.ts        xz's container: the installed xz's version decides, as for modules_install
//   4. decompressor.ts     what the kernel decompresses itself (config, /sys/module/compression)
//   5. corrections.ts      what keeps modules loadable: an xz check the kernel's decompressor refuses becomes crc32;
//                          zstd always writes the content size
//   6. kmod-reads.ts       a suffix the installed kmod cannot read is refused before anything is touched
//   7. in-tree.ts          the comparison with what the in-tree modules use
import type {KmodInfo} from '../target/kmod.js';
import {parseModinst} from '../target/kbuild/modinst.js';
import type {KernelFiles, KernelTarget} from '../target/discover.js';
import {configuredAlgorithm, modulesInstall} from './modules-install.js';
import {decideCompression} from './compression.js';
import {type CommandParams, commandParams} from './params.js';
import {kernelDecompressor} from './decompressor.js';
import {decideXzFormat} from './xz-format.js';
import {correctXzCheck, correctZstdContentSize} from './corrections.js';
import {kmodReadsOrRefuse} from './kmod-reads.js';
import {compareWithInTree} from './in-tree.js';
import type {Policy, PolicyInputs, PolicyOverrides, Remarks} from './types.js';

export type {CompressMode, InTree, Policy, PolicyInputs, PolicyOverrides} from './types.js';

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
		inTreeXzFormat: files.inTreeXzFormat,
		xz: files.xz,
		kmod,
		kmodIsTargets: target.root === '/' || target.targetRoot?.value === '/',
		...(opts.noRefusal ? {noRefusal: true} : {}),
		...(overrides ? {overrides} : {}),
	});
}

export function decidePolicy(inputs: PolicyInputs): Policy {
	const remarks: Remarks = {notes: [], warnings: []};
	const configFrom = inputs.config ? inputs.config.file : `no kernel config found (${inputs.configSearch.join('; ') || 'nothing searched'})`;
	const configured = configuredAlgorithm(inputs.config);

	const installs = modulesInstall(inputs, configured, configFrom, remarks);
	const {compress, algorithm} = decideCompression(installs.algorithm, inputs, configured);
	const compressWith = compress.value ? algorithm.value : null;
	let chosen: CommandParams = compressWith
		? commandParams(compressWith, installs.commandFor, inputs.release, remarks)
		: {command: undefined, params: undefined, paramSources: {}};
	chosen = decideXzFormat(chosen, inputs.xz, inputs.inTreeXzFormat, remarks);
	const decompressor = kernelDecompressor(inputs, configured, configFrom, remarks);
	chosen = correctZstdContentSize(correctXzCheck(chosen, decompressor.value, remarks));
	const reads = compressWith ? kmodReadsOrRefuse(inputs, {value: compressWith, from: algorithm.from}, remarks) : undefined;
	compareWithInTree(inputs.inTree, compressWith, remarks);

	return {
		kernel: {release: inputs.release, version: inputs.version, running: inputs.running},
		compress,
		algorithm: compress.value ? algorithm : {value: null, from: compress.from},
		command: chosen.command,
		params: chosen.params,
		paramSources: chosen.paramSources,
		decompressor,
		kmod: {...inputs.kmod, reads},
		inTree: inputs.inTree,
		configFrom,
		notes: remarks.notes,
		warnings: remarks.warnings,
	};
}
