// Step 5 of decidePolicy: corrections that keep modules loadable where the kernel's own command would not.
//   - xz: a check the kernel's own decompressor refuses (kernelAcceptsXzCheck, formats/xz/check.ts) becomes crc32,
//     when the kernel decompresses xz modules itself.
//   - zstd: the content size is always written (kmod >= 34 refuses zstd modules without it).
import {KERNEL_XZ_CHECKS, kernelAcceptsXzCheck, XZ_STATUS} from '../formats/xz/check.js';
import type {KernelDecompressor} from '../types.js';
import type {CommandParams} from './params.js';
import type {Remarks} from './types.js';

export function correctXzCheck(chosen: CommandParams, decompressor: KernelDecompressor, remarks: Remarks): CommandParams {
	const {params, paramSources} = chosen;
	if (params?.algorithm !== 'xz' || decompressor.algorithm !== 'xz' || kernelAcceptsXzCheck(params.check)) return chosen;
	const why = `changed from ${params.check} (${paramSources.check}) to crc32: this kernel decompresses xz modules itself and its lib/xz accepts only ${KERNEL_XZ_CHECKS.join('/')} — a ${params.check} module fails "decompression failed with status ${XZ_STATUS.OPTIONS_ERROR}"`;
	remarks.warnings.push(`the kernel's own command writes ${params.check} xz modules that its own decompressor refuses; kmodpress writes crc32`);
	return {...chosen, params: {...params, check: 'crc32'}, paramSources: {...paramSources, check: why}};
}

export function correctZstdContentSize(chosen: CommandParams): CommandParams {
	const {params, paramSources} = chosen;
	if (params?.algorithm !== 'zstd' || params.contentSize) return chosen;
	return {...chosen, params: {...params, contentSize: true}, paramSources: {...paramSources, contentSize: 'forced on: kmod >= 34 refuses zstd modules without a content size'}};
}
