// Step 3b of decidePolicy: which xz container the kernel's command writes. cmd_xz (scripts/Makefile.modinst:
// `$(XZ) --check=crc32 --lzma2=dict=1MiB -f $<`) names no thread count, so the installed xz's default decides:
//   xz >= 5.6.0   multi-threaded mode ("Multithreaded mode is now the default", xz 5.6.0 NEWS; -T0, which since
//                 5.4.0 uses the multi-threaded encoder even on one core): blocks of max(3 × dict, 1 MiB), whatever
//                 the number of cores, so kmodpress writes the same bytes on every core it has
//   older xz      single-threaded mode (-T1): one block
//   no xz         single-threaded, and explain says there was none to ask
// A -T/--threads in the command itself wins (compress-commands.ts). What the in-tree modules use is told when it
// differs: a packaged kernel's modules show its packager's xz, not the one that runs here.
import type {XzTool} from '../target/xz-tool.js';
import type {Sourced, XzFormat} from '../types.js';
import {XZ_FORMAT_WORDS} from '../formats/xz/container.js';
import type {CommandParams} from './params.js';
import type {Remarks} from './types.js';

/** The first xz whose default is multi-threaded mode. */
export const XZ_MULTI_DEFAULT: readonly [number, number, number] = [5, 6, 0];

const atLeast = (v: readonly number[], min: readonly number[]): boolean => {
	for (let i = 0; i < min.length; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i]!;
	return true;
};

/** The container `xz` writes by default, and why. Pure. */
export function xzDefaultFormat(xz: XzTool | undefined): Sourced<XzFormat> {
	if (!xz) return {value: 'single', from: 'the xz command was not looked for: single-threaded format (xz < 5.6 default)'};
	if (xz.version === undefined) {
		const why = xz.broken ? `${xz.broken} (${xz.from})` : xz.from;
		return {value: 'single', from: `no xz version to go by (${why}): single-threaded format, the default of xz < 5.6`};
	}
	const multi = atLeast(xz.version, XZ_MULTI_DEFAULT);
	return {
		value: multi ? 'multi' : 'single',
		from: `"${xz.line}" from ${xz.from}: xz ${multi ? '>= 5.6.0 defaults to multi-threaded mode' : '< 5.6.0 defaults to single-threaded mode'} (xz 5.6.0 NEWS)`,
	};
}

export function decideXzFormat(chosen: CommandParams, xz: XzTool | undefined, inTree: Sourced<XzFormat | 'other'> | undefined, remarks: Remarks): CommandParams {
	const {params, paramSources} = chosen;
	if (params?.algorithm !== 'xz') return chosen;
	if (xz?.broken) remarks.warnings.push(`${xz.broken}: taking the single-threaded format of xz < 5.6`);
	const format: Sourced<XzFormat> = params.format && paramSources.format
		? {value: params.format, from: paramSources.format}
		: xzDefaultFormat(xz);
	if (inTree && inTree.value !== format.value) {
		remarks.notes.push(`the in-tree modules use the ${XZ_FORMAT_WORDS[inTree.value]} (${inTree.from}), written by their packager's xz; modules_install here writes the ${XZ_FORMAT_WORDS[format.value]}`);
	}
	return {...chosen, params: {...params, format: format.value}, paramSources: {...paramSources, format: format.from}};
}
