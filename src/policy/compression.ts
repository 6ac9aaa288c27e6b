// Step 2 of decidePolicy: whether to compress and with which algorithm. What modules_install does (step 1) unless
// --algorithm / --compress or the config file say otherwise: an algorithm override compresses with it, `none` never
// compresses, `force` compresses even when modules_install would not, with the configured algorithm or the in-tree
// modules' one.
import {KmodpressError} from '../errors.js';
import type {Algorithm, Sourced} from '../types.js';
import {majorityAlgorithm} from './in-tree.js';
import type {CompressMode, PolicyInputs} from './types.js';

export interface Compression {
	compress: Sourced<boolean>;
	algorithm: Sourced<Algorithm | null>;
}

export function decideCompression(installs: Sourced<Algorithm | null>, inputs: PolicyInputs, configured: Sourced<Algorithm> | undefined): Compression {
	let algorithm = installs;
	let compress: Sourced<boolean> = {value: algorithm.value !== null, from: algorithm.from};
	const mode = inputs.overrides?.compress;
	if (inputs.overrides?.algorithm) {
		algorithm = inputs.overrides.algorithm;
		compress = {value: mode?.value !== 'none', from: inputs.overrides.algorithm.from};
	}
	if (mode?.value === 'none') {
		compress = {value: false, from: mode.from};
	} else if (mode?.value === 'force') {
		if (algorithm.value === null) algorithm = algorithmToForce(mode, inputs, configured);
		compress = {value: true, from: mode.from};
	}
	return {compress, algorithm};
}

/** --compress force where modules_install does not compress: the configured algorithm, else the in-tree modules'. */
function algorithmToForce(mode: Sourced<CompressMode>, inputs: PolicyInputs, configured: Sourced<Algorithm> | undefined): Sourced<Algorithm> {
	const inTreeAlgorithm = inputs.inTree ? majorityAlgorithm(inputs.inTree.counts) : null;
	const alg = configured ?? (inTreeAlgorithm ? {value: inTreeAlgorithm, from: `in-tree modules (${inputs.inTree!.from})`} : undefined);
	if (!alg) {
		throw new KmodpressError('E_POLICY_UNKNOWN', `${mode.from}: the kernel ${inputs.release} names no compression algorithm to force`, {
			fix: 'also pass --algorithm xz|zstd|gzip',
		});
	}
	return {value: alg.value, from: `${mode.from}; algorithm from ${alg.from}`};
}
