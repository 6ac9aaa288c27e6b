// How a kernel's own `modules_install` compresses modules, read from its kbuild files:
//   6.12+       scripts/Makefile.modinst: suffix-$(CONFIG_MODULE_COMPRESS_<ALG>) inside `ifdef CONFIG_MODULE_COMPRESS_ALL`,
//               cmd_gzip / cmd_xz / cmd_zstd
//   5.13–6.11   scripts/Makefile.modinst: suffix-$(CONFIG_MODULE_COMPRESS_<ALG>) unconditionally, cmd_<alg>
//   <= 5.12     the top Makefile: mod_compress_cmd inside `ifdef CONFIG_MODULE_COMPRESS` / `ifdef CONFIG_MODULE_COMPRESS_<ALG>`
// The texts are evaluated like GNU make would for `make M=<dir> modules_install` (KBUILD_EXTMOD set): conditionals,
// assignments and `$(VAR)` expansion, with CONFIG_* from the kernel's config. Flavour kernels patch the commands
// (e.g. `-$(CONFIG_MODULE_COMPRESS_ZSTD_LEVEL)`), so the expansion is what counts, not the stock text.
// Pure: text in, values out.

import type {Algorithm, CompressionParams, XzCheck} from '../../types.js';
import type {KernelConfig} from '../kernel-config.js';

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

// ---------------------------------------------------------------------------------------------------------------
// A small GNU make evaluator: enough of the language for kbuild's variable logic.

interface Definition {
	value: string;
	/** recursively expanded (=) or simple (:=) */
	recursive: boolean;
	file: string;
	line: number;
	raw: string;
}

export interface MakeState {
	vars: Map<string, Definition>;
	config: KernelConfig | undefined;
}

export function newMakeState(config: KernelConfig | undefined, preset: Record<string, string> = {}): MakeState {
	const vars = new Map<string, Definition>();
	for (const [k, v] of Object.entries(preset)) vars.set(k, {value: v, recursive: false, file: '(context)', line: 0, raw: v});
	return {vars, config};
}

function lookup(state: MakeState, name: string, depth: number): string {
	const def = state.vars.get(name);
	if (def) return def.recursive ? expand(state, def.value, depth + 1) : def.value;
	if (name.startsWith('CONFIG_') && state.config) return state.config.get(name) ?? '';
	return '';
}

/** Find the index of the parenthesis closing the one at `open`. */
function closing(text: string, open: number): number {
	const o = text[open]!;
	const c = o === '(' ? ')' : '}';
	let depth = 0;
	for (let i = open; i < text.length; i++) {
		if (text[i] === o) depth++;
		else if (text[i] === c && --depth === 0) return i;
	}
	return -1;
}

/** Split function arguments on top-level commas. */
function splitArgs(text: string): string[] {
	const out: string[] = [];
	let depth = 0;
	let cur = '';
	for (const ch of text) {
		if (ch === '(' || ch === '{') depth++;
		if (ch === ')' || ch === '}') depth--;
		if (ch === ',' && depth === 0) {
			out.push(cur);
			cur = '';
		} else cur += ch;
	}
	out.push(cur);
	return out;
}

/** Expand $(VAR), ${VAR}, $X and the few functions kbuild uses around compression. Automatic variables stay. */
export function expand(state: MakeState, text: string, depth = 0): string {
	if (depth > 20) return '';
	let out = '';
	for (let i = 0; i < text.length; i++) {
		const ch = text[i];
		if (ch !== '$') {
			out += ch;
			continue;
		}
		const next = text[i + 1];
		if (next === '$') {
			out += '$';
			i++;
		} else if (next === '(' || next === '{') {
			const end = closing(text, i + 1);
			if (end < 0) {
				out += text.slice(i);
				break;
			}
			const inner = text.slice(i + 2, end);
			out += evalReference(state, inner, depth);
			i = end;
		} else if (next !== undefined && '<@^?*'.includes(next)) {
			out += `$${next}`; // automatic variables are left for the caller
			i++;
		} else if (next !== undefined) {
			out += lookup(state, next, depth);
			i++;
		}
	}
	return out;
}

function evalReference(state: MakeState, inner: string, depth: number): string {
	const m = /^([a-z-]+)\s+([\s\S]*)$/.exec(inner);
	if (m) {
		const fn = m[1]!;
		const args = splitArgs(m[2]!);
		const arg = (k: number): string => expand(state, args[k] ?? '', depth + 1);
		switch (fn) {
			case 'if':
				return arg(0).trim() !== '' ? arg(1) : arg(2);
			case 'strip':
				return arg(0).trim().replace(/\s+/g, ' ');
			case 'subst':
				return arg(2).split(arg(0)).join(arg(1));
			case 'filter': {
				const pats = arg(0).trim().split(/\s+/);
				return arg(1).trim().split(/\s+/).filter((w) => pats.some((p) => patMatch(p, w))).join(' ');
			}
			case 'findstring':
				return arg(1).includes(arg(0)) ? arg(0) : '';
			default:
				return ''; // shell, wildcard, call …: nothing compression depends on
		}
	}
	return lookup(state, expand(state, inner, depth + 1).trim(), depth);
}

function patMatch(pattern: string, word: string): boolean {
	const pct = pattern.indexOf('%');
	if (pct < 0) return pattern === word;
	return word.startsWith(pattern.slice(0, pct)) && word.endsWith(pattern.slice(pct + 1)) &&
		word.length >= pattern.length - 1;
}

function evalCondition(state: MakeState, directive: string, rest: string): boolean {
	if (directive === 'ifdef' || directive === 'ifndef') {
		const name = expand(state, rest).trim();
		const def = state.vars.get(name);
		const defined = def ? def.value !== '' : name.startsWith('CONFIG_') && lookup(state, name, 0) !== '';
		return directive === 'ifdef' ? defined : !defined;
	}
	// ifeq (a,b) | ifeq "a" "b" | ifeq 'a' 'b'
	let a: string;
	let b: string;
	const r = rest.trim();
	if (r.startsWith('(')) {
		const end = closing(r, 0);
		const parts = splitArgs(r.slice(1, end < 0 ? undefined : end));
		a = parts[0] ?? '';
		b = parts.slice(1).join(',');
	} else {
		const m = /^(["'])(.*?)\1\s+(["'])(.*?)\3/.exec(r);
		a = m?.[2] ?? '';
		b = m?.[4] ?? '';
	}
	const equal = expand(state, a).trim() === expand(state, b).trim();
	return directive === 'ifeq' ? equal : !equal;
}

/** Evaluate a makefile text into `state` (assignments under true conditions). Recipes, rules and includes are skipped. */
export function evaluateMakefile(state: MakeState, text: string, file: string): void {
	const rawLines = text.split('\n');
	// stack of {active: this branch taken, taken: some branch of this conditional already taken, parentActive}
	const stack: {active: boolean; taken: boolean; parent: boolean}[] = [];
	const active = (): boolean => (stack.length === 0 ? true : stack[stack.length - 1]!.active);
	let inDefine = 0;
	for (let i = 0; i < rawLines.length; i++) {
		const lineNo = i + 1;
		let line = rawLines[i]!;
		if (line.startsWith('\t')) continue; // a recipe line
		while (line.endsWith('\\') && i + 1 < rawLines.length) line = `${line.slice(0, -1)} ${rawLines[++i]!.trim()}`;
		line = stripComment(line).trim();
		if (line === '') continue;
		if (inDefine) {
			if (/^endef\b/.test(line)) inDefine--;
			else if (/^(?:override\s+|export\s+)?define\b/.test(line)) inDefine++;
			continue;
		}
		if (/^(?:override\s+|export\s+)?define\b/.test(line)) {
			inDefine = 1;
			continue;
		}
		let m = /^(ifdef|ifndef|ifeq|ifneq)\b\s*(.*)$/.exec(line);
		if (m) {
			const parent = active();
			const cond = parent && evalCondition(state, m[1]!, m[2]!);
			stack.push({active: cond, taken: cond, parent});
			continue;
		}
		m = /^else\b\s*(.*)$/.exec(line);
		if (m) {
			const top = stack[stack.length - 1];
			if (!top) continue;
			const chained = /^(ifdef|ifndef|ifeq|ifneq)\b\s*(.*)$/.exec(m[1]!);
			if (top.taken || !top.parent) top.active = false;
			else if (chained) {
				top.active = evalCondition(state, chained[1]!, chained[2]!);
				top.taken = top.active;
			} else {
				top.active = true;
				top.taken = true;
			}
			continue;
		}
		if (/^endif\b/.test(line)) {
			stack.pop();
			continue;
		}
		if (!active()) continue;
		m = /^(?:override\s+|export\s+)*([^:#=\s?+!]+(?:\$\([^)]*\)[^:#=\s?+!]*)*)\s*(:::=|::=|:=|\?=|\+=|!=|=)\s*(.*)$/.exec(line);
		if (m) {
			const name = expand(state, m[1]!).trim();
			const op = m[2]!;
			const value = m[3]!;
			const prev = state.vars.get(name);
			if (op === '?=' && prev) continue;
			if (op === '!=') continue; // shell assignment: never executed
			if (op === '+=' && prev) {
				const add = prev.recursive ? value : expand(state, value);
				state.vars.set(name, {...prev, value: `${prev.value} ${add}`.trim(), file, line: lineNo, raw: `${prev.raw} ${value}`});
				continue;
			}
			const recursive = op === '=' || op === '?=' || op === '+=';
			state.vars.set(name, {value: recursive ? value : expand(state, value), recursive, file, line: lineNo, raw: value});
		}
	}
}

function stripComment(line: string): string {
	for (let i = 0; i < line.length; i++) {
		if (line[i] === '#' && line[i - 1] !== '\\') return line.slice(0, i);
	}
	return line;
}

// ---------------------------------------------------------------------------------------------------------------

/** Tool variables from the top Makefile (KGZIP = gzip, XZ = xz, ZSTD = zstd; older: _GZIP). */
export function parseToolVariables(topMakefile: string): Record<string, string> {
	const out: Record<string, string> = {};
	for (const line of topMakefile.split('\n')) {
		const m = /^(KGZIP|_GZIP|XZ|ZSTD)\s*[:?]?=\s*(\S.*?)\s*$/.exec(line);
		if (m && out[m[1]!] === undefined) out[m[1]!] = m[2]!;
	}
	return out;
}

const DEFAULT_TOOLS: Record<string, string> = {KGZIP: 'gzip', _GZIP: 'gzip', XZ: 'xz', ZSTD: 'zstd'};

function algorithmOfSuffix(s: string): Algorithm | null {
	return s === '.gz' ? 'gzip' : s === '.xz' ? 'xz' : s === '.zst' ? 'zstd' : null;
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
 * `make M=… modules_install` would, with the kernel's config. `toolVars` come from parseToolVariables(top Makefile).
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
	const state = newMakeState(args.config, {...tools, KBUILD_EXTMOD: '/external-module', MODLIB: '/lib/modules/KV'});
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

// ---------------------------------------------------------------------------------------------------------------
// Compressor command lines → parameters.

export interface ParsedCommand {
	params: CompressionParams;
	/** For each parameter, where its value came from ("--check=crc32", "xz default"). */
	sources: Record<string, string>;
	/** Options that change only how the tool runs, not the bytes the kernel gets (-f, -q, --rm, -T…). */
	ignored: string[];
	/** Options kmodpress cannot reproduce exactly (the caller decides whether that is fatal). */
	unsupported: string[];
	/** Remarks worth showing in explain (e.g. multi-threaded xz writes other, equally valid, bytes). */
	notes: string[];
}

/** "1MiB" → 1048576; xz accepts KiB/MiB/GiB, k/K/m/M/g/G with optional "iB"/"B", and plain bytes. */
export function parseXzSize(text: string): number | undefined {
	const m = /^(\d+)\s*(?:([kKmMgG])(?:i?B)?)?$/.exec(text.trim());
	if (!m) return undefined;
	const mult = m[2] ? 1024 ** ('kmg'.indexOf(m[2].toLowerCase()) + 1) : 1;
	return Number(m[1]) * mult;
}

/** xz preset → LZMA2 dictionary size (xz's lzma_lzma_preset table). */
export const XZ_PRESET_DICT = [256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20] as const;

export function parseXzCommand(words: readonly string[]): ParsedCommand {
	let preset = 6;
	let extreme = false;
	let dictSize: number = XZ_PRESET_DICT[6];
	let check: XzCheck = 'crc64';
	const sources: Record<string, string> = {preset: 'xz default (-6)', extreme: 'xz default', dictSize: 'xz default for -6 (8 MiB)', check: 'xz default (crc64)'};
	const ignored: string[] = [];
	const unsupported: string[] = [];
	const notes: string[] = [];
	const setCheck = (v: string, opt: string): void => {
		if (v === 'crc32' || v === 'crc64' || v === 'none' || v === 'sha256') {
			check = v;
			sources.check = opt;
		} else unsupported.push(opt);
	};
	for (let i = 0; i < words.length; i++) {
		const w = words[i]!;
		let m: RegExpExecArray | null;
		if ((m = /^-(\d)(e?)$/.exec(w))) {
			// A preset resets the filter chain (xz(1)): the dictionary follows the preset again.
			preset = Number(m[1]);
			dictSize = XZ_PRESET_DICT[preset]!;
			sources.preset = w;
			sources.dictSize = `${w} (preset dictionary)`;
			if (m[2]) {
				extreme = true;
				sources.extreme = w;
			}
		} else if (w === '-e' || w === '--extreme') {
			extreme = true;
			sources.extreme = w;
		} else if ((m = /^--check=(.*)$/.exec(w))) setCheck(m[1]!, w);
		else if (w === '-C' && words[i + 1] !== undefined) setCheck(words[++i]!, `-C ${words[i]}`);
		else if ((m = /^-C(\w+)$/.exec(w))) setCheck(m[1]!, w);
		else if ((m = /^--lzma2(?:=(.*))?$/.exec(w))) {
			let lzPreset: number = preset;
			let lzExtreme: boolean = extreme;
			let lzDict: number | undefined;
			for (const opt of (m[1] ?? '').split(',').filter(Boolean)) {
				const [k, v = ''] = opt.split('=');
				if (k === 'preset') {
					const pm = /^(\d)(e?)$/.exec(v);
					if (!pm) unsupported.push(`${w} (${opt})`);
					else {
						lzPreset = Number(pm[1]);
						lzExtreme = pm[2] === 'e';
					}
				} else if (k === 'dict') {
					const size = parseXzSize(v);
					if (size === undefined) unsupported.push(`${w} (${opt})`);
					else lzDict = size;
				} else unsupported.push(`${w} (${opt})`);
			}
			preset = lzPreset;
			extreme = lzExtreme;
			dictSize = lzDict ?? XZ_PRESET_DICT[lzPreset]!;
			sources.preset = lzPreset === 6 && !/preset=/.test(w) ? `${w} (LZMA2 options start from preset 6)` : w;
			sources.dictSize = lzDict === undefined ? `${w} (preset dictionary)` : w;
		} else if ((m = /^(?:-T|--threads=)(\d*)$/.exec(w)) || w === '-T') {
			const n = m?.[1] || (w === '-T' ? words[++i] : '');
			ignored.push(w === '-T' ? `-T ${n}` : w);
			if (n !== '1') notes.push(`${w === '-T' ? `-T ${n}` : w}: a multi-threaded xz writes several blocks (other bytes, equally valid for the kernel); kmodpress writes the single-threaded format, byte-identical to -T1`);
		} else if (['-f', '--force', '-q', '--quiet', '-k', '--keep', '-z', '--compress', '-v', '-Q', '--no-warn', '--stdout', '-c'].includes(w)) {
			ignored.push(w);
		} else if ((m = /^--format=(.*)$/.exec(w)) || w === '-F') {
			const f = m?.[1] ?? words[++i];
			if (f === 'xz' || f === 'auto') ignored.push(w);
			else unsupported.push(w);
		} else unsupported.push(w);
	}
	return {params: {algorithm: 'xz', preset, extreme, dictSize, check}, sources, ignored, unsupported, notes};
}

export function parseZstdCommand(words: readonly string[]): ParsedCommand {
	let level = 3;
	let checksum = true;
	let contentSize = true;
	let windowLog: number | undefined;
	const sources: Record<string, string> = {level: 'zstd default (3)', checksum: 'zstd default (on)', contentSize: 'zstd default (on, from a file)', windowLog: "the level's default"};
	const ignored: string[] = [];
	const unsupported: string[] = [];
	const notes: string[] = [];
	let ultra = false;
	for (let i = 0; i < words.length; i++) {
		const w = words[i]!;
		let m: RegExpExecArray | null;
		if ((m = /^-(\d+)$/.exec(w))) {
			level = Number(m[1]);
			sources.level = w;
		} else if ((m = /^--fast(?:=(\d+))?$/.exec(w))) {
			level = -Number(m[1] ?? 1);
			sources.level = w;
		} else if (w === '--ultra') {
			ultra = true;
			ignored.push(w);
		} else if (w === '--no-check') {
			checksum = false;
			sources.checksum = w;
		} else if (w === '-C' || w === '--check') {
			checksum = true;
			sources.checksum = w;
		} else if (w === '--no-content-size') {
			contentSize = false;
			sources.contentSize = w;
		} else if (w === '--content-size') {
			contentSize = true;
			sources.contentSize = w;
		} else if ((m = /^--zstd=(.*)$/.exec(w))) {
			for (const opt of m[1]!.split(',')) {
				const [k, v = ''] = opt.split('=');
				if ((k === 'wlog' || k === 'windowLog') && /^\d+$/.test(v)) {
					windowLog = Number(v);
					sources.windowLog = w;
				} else unsupported.push(`${w} (${opt})`);
			}
		} else if ((m = /^(?:-T|--threads=)(\d*)$/.exec(w))) {
			ignored.push(w);
			if (m[1] !== '' && m[1] !== '1') notes.push(`${w}: zstd's multi-threaded mode writes the same single frame format; kmodpress compresses each module in one worker`);
		} else if (['-f', '--force', '-q', '--quiet', '--rm', '-k', '--keep', '-z', '--compress', '-c', '--stdout', '-v', '--no-progress'].includes(w)) {
			ignored.push(w);
		} else unsupported.push(w); // --long, --patch-from, -D (dictionary) … change the bytes in ways kmodpress does not reproduce
	}
	if (level > 19 && !ultra) notes.push(`-${level} without --ultra: zstd caps it at 19`);
	if (level > 19 && !ultra) level = 19;
	return {params: {algorithm: 'zstd', level, checksum, contentSize, ...(windowLog === undefined ? {} : {windowLog})}, sources, ignored, unsupported, notes};
}

export function parseGzipCommand(words: readonly string[]): ParsedCommand {
	let level = 6;
	const sources: Record<string, string> = {level: 'gzip default (6)'};
	const ignored: string[] = [];
	const unsupported: string[] = [];
	const notes: string[] = [
		'node:zlib writes a different (equally valid) deflate body than the gzip tool at the same level; header and trailer are the same as `gzip -n`, and the kernel reads any valid deflate stream',
	];
	for (const w of words) {
		let m: RegExpExecArray | null;
		if ((m = /^-(\d)$/.exec(w))) {
			level = Number(m[1]);
			sources.level = w;
		} else if (w === '--fast') {
			level = 1;
			sources.level = w;
		} else if (w === '--best') {
			level = 9;
			sources.level = w;
		} else if (['-n', '--no-name', '-f', '--force', '-q', '--quiet', '-k', '--keep', '-c', '--stdout'].includes(w)) {
			ignored.push(w);
		} else unsupported.push(w); // -N (name and time in the header), --rsyncable …
	}
	return {params: {algorithm: 'gzip', level}, sources, ignored, unsupported, notes};
}

/** Parse an expanded compression command ("xz --check=crc32 --lzma2=dict=1MiB -f"); the first word is the tool. */
export function parseCompressCommand(algorithm: Algorithm, expanded: string): ParsedCommand {
	const words = expanded.split(/\s+/).filter(Boolean).slice(1);
	if (algorithm === 'xz') return parseXzCommand(words);
	if (algorithm === 'zstd') return parseZstdCommand(words);
	return parseGzipCommand(words);
}

// ---------------------------------------------------------------------------------------------------------------
// When no build tree is there: what kbuild ran, by kernel version (kernel-facts.md §1).

export interface FallbackRow {
	era: string;
	commands: Partial<Record<Algorithm, string>>;
	/** whether MODULE_COMPRESS_ALL decides compression (6.12+), MODULE_COMPRESS (<= 5.12), or the algorithm alone */
	gate: 'MODULE_COMPRESS' | 'ALGORITHM' | 'MODULE_COMPRESS_ALL';
}

export function fallbackCommands(version: readonly [number, number, number]): FallbackRow {
	const [a, b] = version;
	const v = a * 1000 + b;
	if (v <= 5011) return {era: '<= 5.11', commands: {gzip: 'gzip -n -f', xz: 'xz -f'}, gate: 'MODULE_COMPRESS'};
	if (v === 5012) return {era: '5.12', commands: {gzip: 'gzip -n -f', xz: 'xz --lzma2=dict=2MiB -f'}, gate: 'MODULE_COMPRESS'};
	if (v <= 6005) {
		return {era: '5.13–6.5', commands: {gzip: 'gzip -n -f', xz: 'xz --lzma2=dict=2MiB -f', zstd: 'zstd -T0 --rm -f -q'}, gate: 'ALGORITHM'};
	}
	if (v <= 6011) {
		return {era: '6.6–6.11', commands: {gzip: 'gzip -n -f', xz: 'xz --check=crc32 --lzma2=dict=1MiB -f', zstd: 'zstd -T0 --rm -f -q'}, gate: 'ALGORITHM'};
	}
	return {era: '6.12+', commands: {gzip: 'gzip -n -f', xz: 'xz --check=crc32 --lzma2=dict=1MiB -f', zstd: 'zstd --rm -f -q'}, gate: 'MODULE_COMPRESS_ALL'};
}
