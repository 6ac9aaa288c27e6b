// How a kernel's own `modules_install` compresses modules, read from its kbuild files:
//   6.12+       scripts/Makefile.modinst: suffix-$(CONFIG_MODULE_COMPRESS_<ALG>) inside `ifdef CONFIG_MODULE_COMPRESS_ALL`,
//               cmd_gzip / cmd_xz / cmd_zstd
//   5.13–6.11   scripts/Makefile.modinst: suffix-$(CONFIG_MODULE_COMPRESS_<ALG>) unconditionally, cmd_<alg>
//   <= 5.12     the top Makefile: mod_compress_cmd inside `ifdef CONFIG_MODULE_COMPRESS` / `ifdef CONFIG_MODULE_COMPRESS_<ALG>`
// The texts are evaluated like GNU make would for `make M=<dir> modules_install` (KBUILD_EXTMOD set): conditionals,
// assignments and `$(VAR)` expansion, with CONFIG_* from the kernel's config. Flavour kernels patch the commands
// (e.g. `-$(CONFIG_MODULE_COMPRESS_ZSTD_LEVEL)`), so the expansion is what counts, not the stock text.
// Pure: text in, values out.

import type {Algorithm} from '../../types.js';
import {FORMATS} from '../../formats/table.js';
import type {KernelConfig} from '../kernel-config.js';
import {expand, evaluateMakefile, type MakeState, newMakeState, parseToolVariables} from './make-eval.js';

export interface CompressCommand {
	algorithm: Algorithm;
	/** The definition as written, e.g. "$(XZ) --check=crc32 --lzma2=dict=1MiB -f $<" */
	raw: string;
	/** After expansion, automatic variables ($<, $@) dropped: "xz --check=crc32 --lzma2=dict=1MiB -f" */
	expanded: string;
	file: string;
	line: number;
}

export interface ModinstInfo {
	/** The file whose rules decide (scripts/Makefile.modinst, or the top Makefile before 5.13). */
	file: string;
	/** Whether `modules_install` of an external module compresses, and the algorithm it uses (null: it does not). */
	algorithm: {value: Algorithm | null; from: string};
	/** The command for `algorithm`, when it compresses. */
	command: CompressCommand | undefined;
	/** Every compression command the file defines, whether or not the config selects it. */
	commands: Partial<Record<Algorithm, CompressCommand>>;
}

const DEFAULT_TOOLS: Record<string, string> = {KGZIP: 'gzip', _GZIP: 'gzip', XZ: 'xz', ZSTD: 'zstd'};

function algorithmOfSuffix(suffix: string): Algorithm | null {
	return FORMATS.find((f) => f.suffix === suffix)?.algorithm ?? null;
}

function algorithmOfTool(word: string): Algorithm | null {
	const base = word.split('/').pop() ?? '';
	if (/^(gzip|pigz)$/.test(base)) return 'gzip';
	if (/^(xz|pxz)$/.test(base)) return 'xz';
	if (/^(zstd|pzstd)$/.test(base)) return 'zstd';
	return null;
}

function command(state: MakeState, name: string, algorithm: Algorithm): CompressCommand | undefined {
	const def = state.vars.get(name);
	if (!def) return undefined;
	const expanded = expand(state, def.raw).replace(/\$[<@^?*]/g, '').replace(/\s+/g, ' ').trim();
	return {algorithm, raw: def.raw.trim(), expanded, file: def.file, line: def.line};
}

/**
 * Evaluate scripts/Makefile.modinst (5.13+) or, when `modinstText` is undefined, the top Makefile (<= 5.12), as
 * `make M=… modules_install` would, with the kernel's config and the tool variables of the top Makefile (XZ, ZSTD, KGZIP).
 */
export function parseModinst(args: {
	modinstText: string | undefined;
	modinstFile: string;
	topMakefileText: string | undefined;
	topMakefileFile: string;
	config: KernelConfig | undefined;
}): ModinstInfo {
	const tools = {...DEFAULT_TOOLS, ...(args.topMakefileText ? parseToolVariables(args.topMakefileText) : {})};
	// An external module install: KBUILD_EXTMOD is set, sign-only is not, INSTALL_MOD_STRIP is not.
	const state = newMakeState(args.config, {...tools, KBUILD_EXTMOD: '/external-module', MODLIB: '/lib/modules/<release>'});
	if (args.modinstText !== undefined && /\bcmd_(gzip|xz|zstd)\s*=/.test(args.modinstText)) {
		evaluateMakefile(state, args.modinstText, args.modinstFile);
		const commands: Partial<Record<Algorithm, CompressCommand>> = {};
		for (const alg of ['gzip', 'xz', 'zstd'] as const) {
			const c = command(state, `cmd_${alg}`, alg);
			if (c) commands[alg] = c;
		}
		const suffix = state.vars.get('suffix-y');
		const value = expand(state, suffix?.value ?? '').trim();
		const algorithm = algorithmOfSuffix(value);
		const from = suffix
			? `${args.modinstFile}:${suffix.line} suffix-y${value ? ` = ${value}` : ' is empty'}`
			: `${args.modinstFile} (no suffix-y)`;
		return {file: args.modinstFile, algorithm: {value: algorithm, from}, command: algorithm ? commands[algorithm] : undefined, commands};
	}
	// Before 5.13: the top Makefile's mod_compress_cmd.
	if (args.topMakefileText === undefined) {
		return {file: args.topMakefileFile, algorithm: {value: null, from: `${args.modinstFile} and ${args.topMakefileFile} not found`}, command: undefined, commands: {}};
	}
	evaluateMakefile(state, args.topMakefileText, args.topMakefileFile);
	const def = state.vars.get('mod_compress_cmd');
	const expanded = def ? expand(state, def.raw).replace(/\s+/g, ' ').trim() : '';
	const alg = algorithmOfTool(expanded.split(' ')[0] ?? '');
	if (!def || !alg) {
		const where = def ? `${args.topMakefileFile}:${def.line} mod_compress_cmd = ${expanded || def.raw}` : `${args.topMakefileFile} (no mod_compress_cmd)`;
		return {file: args.topMakefileFile, algorithm: {value: null, from: where}, command: undefined, commands: {}};
	}
	const cmd: CompressCommand = {algorithm: alg, raw: def.raw.trim(), expanded, file: def.file, line: def.line};
	return {
		file: args.topMakefileFile,
		algorithm: {value: alg, from: `${args.topMakefileFile}:${def.line} mod_compress_cmd`},
		command: cmd,
		commands: {[alg]: cmd},
	};
}
