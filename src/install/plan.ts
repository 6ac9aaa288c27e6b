// What to do with one module file, given what it is and the policy. Pure: the caller has already decoded the file
// (as the kernel would, and as kmod would) and hands the facts in.
//
//   plain .ko,  policy compresses           → compress to .ko<suffix>
//   plain .ko,  policy leaves uncompressed  → keep
//   compressed, the target accepts it as is → keep (a second run changes nothing)
//   compressed, the target would refuse it, or another algorithm than the policy's → recompress (decode, encode)
//   compressed, policy leaves uncompressed, and nothing on the target can read it → decompress to .ko
import type {Policy} from '../policy/index.js';
import type {Algorithm} from '../types.js';
import {KMOD_FEATURE, SUFFIX} from '../formats/table.js';

export type ActionKind = 'compress' | 'recompress' | 'decompress' | 'keep';

export interface Action {
	kind: ActionKind;
	/** the algorithm of the file written (null: plain ELF) */
	algorithm: Algorithm | null;
	/** one line: why */
	reason: string;
}

export interface FileFacts {
	/** the file's algorithm by magic (null: plain ELF) */
	algorithm: Algorithm | null;
	/** when compressed with the algorithm the kernel decompresses itself: the kernel decoder's verdict */
	kernel?: {ok: boolean; message: string; completeOutput: boolean};
	/** a zstd frame without content size (kmod >= 34 refuses it) */
	zstdWithoutContentSize?: boolean;
}

export function planAction(facts: FileFacts, policy: Policy): Action {
	const want = policy.compress.value ? policy.algorithm.value : null;
	const kernelAlg = policy.decompressor.value.algorithm;
	if (facts.algorithm === null) {
		if (want === null) return {kind: 'keep', algorithm: null, reason: `the kernel installs modules uncompressed (${policy.compress.from})`};
		return {kind: 'compress', algorithm: want, reason: `${want} as the kernel's modules_install does (${policy.algorithm.from})`};
	}
	const alg = facts.algorithm;
	const problems: string[] = [];
	if (alg === kernelAlg && facts.kernel) {
		if (!facts.kernel.ok) problems.push(`the kernel's own decompressor refuses it: ${facts.kernel.message}`);
		else if (!facts.kernel.completeOutput) problems.push(`the kernel decodes only part of it (${facts.kernel.message})`);
	}
	if (policy.kmod.features && kmodCannotRead(policy, alg)) problems.push(`the installed kmod has no ${alg} support`);
	if (alg === 'zstd' && facts.zstdWithoutContentSize) problems.push('its zstd frame has no content size (kmod >= 34 refuses it)');
	if (want !== null) {
		if (alg !== want) problems.push(`it is ${alg}, the kernel's modules are ${want}${SUFFIX[want]} (${policy.algorithm.from})`);
		if (problems.length === 0) return {kind: 'keep', algorithm: alg, reason: `already ${alg} in a form the kernel accepts`};
		return {kind: 'recompress', algorithm: want, reason: problems.join('; ')};
	}
	if (problems.length === 0) return {kind: 'keep', algorithm: alg, reason: `the kernel installs modules uncompressed, and this ${alg} module is readable as it is`};
	return {kind: 'decompress', algorithm: null, reason: `${problems.join('; ')}; the kernel installs modules uncompressed (${policy.compress.from})`};
}

function kmodCannotRead(policy: Policy, alg: Algorithm): boolean {
	const f = KMOD_FEATURE[alg];
	return policy.kmod.features[f] === false;
}

