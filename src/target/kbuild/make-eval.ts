// A small GNU make evaluator: enough of the language for kbuild's variable logic around module compression
// (scripts/Makefile.modinst, the top Makefile's mod_compress_cmd). Mirrors GNU make's rules for what kbuild uses:
// conditionals (ifdef/ifndef/ifeq/ifneq, else-chains), assignments (=, :=, ::=, :::=, ?=, +=; != is never run),
// `$(VAR)`/`${VAR}`/`$X` expansion with CONFIG_* from the kernel's config, and the functions if, strip, subst,
// filter, findstring. Recipes, rules, includes and define blocks are skipped; automatic variables ($<, $@) are left
// for the caller. Pure: text in, values out.

import type {KernelConfig} from '../kernel-config.js';

/** A variable as the makefile last set it. */
export interface Definition {
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

/** Tool variables from the top Makefile (KGZIP = gzip, XZ = xz, ZSTD = zstd; older: _GZIP). */
export function parseToolVariables(topMakefile: string): Record<string, string> {
	const out: Record<string, string> = {};
	for (const line of topMakefile.split('\n')) {
		const m = /^(KGZIP|_GZIP|XZ|ZSTD)\s*[:?]?=\s*(\S.*?)\s*$/.exec(line);
		if (m && out[m[1]!] === undefined) out[m[1]!] = m[2]!;
	}
	return out;
}
