// Configuration: only <root>/etc/kmodpress/config.json, config.yaml or config.yml — the first that exists and is not
// empty — and data only.
//
// kmodpress runs as root inside package build trees, so nothing from the working directory or its parents is read or
// run: no search, no package.json key, no JavaScript config, no `$import` of other files. JSON is read with
// JSON.parse; YAML with the `yaml` package's core schema (YAML 1.2 data: maps, sequences, strings, numbers, booleans,
// null), where a duplicate key, a second document or any other tag (`!!js/function`, `!!binary`) is refused.
import {readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {fsError, KmodpressError} from '../errors.js';
import type {Algorithm, Log} from '../types.js';
import {silentLog} from '../types.js';
import {ALGORITHMS} from '../formats/table.js';

export interface KmodpressConfig {
	compress?: 'auto' | 'none' | 'force';
	algorithm?: Algorithm;
	depmod?: boolean;
	verify?: boolean;
	sigEnforce?: boolean;
	threads?: number;
	maxDecompressedBytes?: number;
	lockTimeoutSeconds?: number;
}

export const CONFIG_DIR = 'etc/kmodpress';
export const CONFIG_NAMES = ['config.json', 'config.yaml', 'config.yml'] as const;

const SCHEMA: Record<keyof KmodpressConfig, {expected: string; check: (v: unknown) => boolean}> = {
	compress: {expected: 'one of "auto", "none", "force"', check: (v) => v === 'auto' || v === 'none' || v === 'force'},
	algorithm: {expected: `one of ${ALGORITHMS.map((a) => `"${a}"`).join(', ')}`, check: (v) => typeof v === 'string' && (ALGORITHMS as readonly string[]).includes(v)},
	depmod: {expected: 'true or false', check: (v) => typeof v === 'boolean'},
	verify: {expected: 'true or false', check: (v) => typeof v === 'boolean'},
	sigEnforce: {expected: 'true or false', check: (v) => typeof v === 'boolean'},
	threads: {expected: 'a whole number from 1 to 256', check: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 256},
	maxDecompressedBytes: {expected: 'a whole number of bytes from 1048576 (1 MiB) up', check: (v) => Number.isSafeInteger(v) && (v as number) >= 1 << 20},
	lockTimeoutSeconds: {expected: 'a whole number of seconds from 1 to 86400', check: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 86400},
};

/** Validate a parsed config object (execa style: what came in, what was expected). Pure. */
export function validateConfig(raw: unknown, file: string): KmodpressConfig {
	if (raw === null || raw === undefined) return {};
	if (typeof raw !== 'object' || Array.isArray(raw)) {
		throw new KmodpressError('E_CONFIG_INVALID', `expected an object of settings, got ${Array.isArray(raw) ? 'an array' : typeof raw}`, {file, fix: 'see the README section Configuration'});
	}
	const out: Record<string, unknown> = {__proto__: null};
	for (const [k, v] of Object.entries(raw)) {
		const rule = SCHEMA[k as keyof KmodpressConfig];
		if (!rule) {
			throw new KmodpressError('E_CONFIG_INVALID', `unknown key "${k}"`, {file, fix: `use only: ${Object.keys(SCHEMA).join(', ')}`});
		}
		if (!rule.check(v)) {
			throw new KmodpressError('E_CONFIG_INVALID', `"${k}" must be ${rule.expected}, got ${JSON.stringify(v)} (${typeof v})`, {file, fix: `set "${k}" to ${rule.expected}`});
		}
		out[k] = v;
	}
	return {...out} as KmodpressConfig;
}

/** A file that is missing (or not a readable file) is skipped, as an empty one is. */
const SKIPPED = new Set(['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES']);

export async function loadConfig(opts: {root?: string; log?: Log} = {}): Promise<{config: KmodpressConfig; from: string | undefined}> {
	const log = opts.log ?? silentLog;
	const dir = join(resolve(opts.root ?? '/'), CONFIG_DIR);
	for (const name of CONFIG_NAMES) {
		const file = join(dir, name);
		let text: string;
		try {
			text = readFileSync(file, 'utf8');
		} catch (e) {
			if (SKIPPED.has((e as NodeJS.ErrnoException).code ?? '')) continue;
			throw fsError('E_CONFIG_INVALID', file, 'read', e);
		}
		if (text.trim() === '') continue;
		const data = await parseConfigText(text, file);
		if (data === null || data === undefined) continue;
		if (typeof data === 'object' && Object.hasOwn(data, '$import')) {
			throw new KmodpressError('E_CONFIG_INVALID', '"$import" is not allowed', {file, fix: 'put every setting in this one file'});
		}
		return {config: validateConfig(data, file), from: file};
	}
	log('debug', `no config in ${dir}`);
	return {config: {}, from: undefined};
}

/** JSON or YAML text → plain data; never runs anything. */
async function parseConfigText(text: string, file: string): Promise<unknown> {
	try {
		if (file.endsWith('.json')) return JSON.parse(text);
		// loaded only when there is YAML to read (~150 ms)
		const {parseDocument} = await import('yaml');
		const doc = parseDocument(text, {schema: 'core', resolveKnownTags: false, logLevel: 'error'});
		const problem = doc.errors[0] ?? doc.warnings[0];
		if (problem) throw problem;
		return doc.toJS();
	} catch (e) {
		throw new KmodpressError('E_CONFIG_INVALID', `cannot parse (${(e as Error).message.split('\n')[0]})`, {file, fix: 'fix the syntax (JSON or YAML)', cause: e});
	}
}
