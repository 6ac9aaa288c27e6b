// Configuration: only <root>/etc/kmodpress/config.{json,yaml,yml}, data only.
//
// kmodpress runs as root inside package build trees, so nothing from the working directory or its parents may be
// read or run. cosmiconfig 9's factory, cosmiconfig(), searches the cwd for a meta-config (package.json's
// "cosmiconfig" key, .config/config.{json,yaml,yml,js,ts,cjs,mjs}) and EXECUTES a .config/config.js it finds, just by
// being called. kmodpress never calls it: it builds cosmiconfig's Explorer itself with a fixed directory, the JSON
// and YAML loaders only, no meta-config, no package.json property, no upward search.
import {existsSync} from 'node:fs';
import {createRequire} from 'node:module';
import {join, resolve} from 'node:path';
import {KmodpressError} from '../errors.js';
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
		throw new KmodpressError('E_CONFIG_INVALID', `${file}: expected an object of settings, got ${Array.isArray(raw) ? 'an array' : typeof raw}`, {file, fix: 'see the README section Configuration'});
	}
	const out: Record<string, unknown> = {__proto__: null};
	for (const [k, v] of Object.entries(raw)) {
		const rule = SCHEMA[k as keyof KmodpressConfig];
		if (!rule) {
			throw new KmodpressError('E_CONFIG_INVALID', `${file}: unknown key "${k}"`, {file, fix: `use only: ${Object.keys(SCHEMA).join(', ')}`});
		}
		if (!rule.check(v)) {
			throw new KmodpressError('E_CONFIG_INVALID', `${file}: "${k}" must be ${rule.expected}, got ${JSON.stringify(v)} (${typeof v})`, {file, fix: `set "${k}" to ${rule.expected}`});
		}
		out[k] = v;
	}
	return {...out} as KmodpressConfig;
}

interface ExplorerLike {
	search(from: string): Promise<{config: unknown; filepath: string; isEmpty?: boolean} | null>;
}

function trustedExplorer(): ExplorerLike {
	const require = createRequire(import.meta.url);
	// Deliberately not require('cosmiconfig').cosmiconfig: see the comment at the top.
	const {Explorer} = require('cosmiconfig/dist/Explorer.js') as {Explorer: new (o: unknown) => ExplorerLike};
	const {defaultLoaders} = require('cosmiconfig/dist/defaults.js') as {defaultLoaders: Record<string, unknown>};
	return new Explorer({
		moduleName: 'kmodpress',
		searchPlaces: [...CONFIG_NAMES],
		loaders: {'.json': defaultLoaders['.json'], '.yaml': defaultLoaders['.yaml'], '.yml': defaultLoaders['.yml']},
		ignoreEmptySearchPlaces: true,
		applyPackagePropertyPathToConfiguration: false,
		transform: (x: unknown) => x,
		cache: false,
		metaConfigFilePath: null,
		mergeImportArrays: false,
		mergeSearchPlaces: false,
		searchStrategy: 'none',
	});
}

export async function loadConfig(opts: {root?: string; log?: Log} = {}): Promise<{config: KmodpressConfig; from: string | undefined}> {
	const log = opts.log ?? silentLog;
	const dir = join(resolve(opts.root ?? '/'), CONFIG_DIR);
	// no file in the one trusted directory: nothing to parse (and cosmiconfig, ~25 ms to load, stays unloaded)
	if (!CONFIG_NAMES.some((n) => existsSync(join(dir, n)))) {
		log('debug', `no config in ${dir}`);
		return {config: {}, from: undefined};
	}
	let found;
	try {
		found = await trustedExplorer().search(dir);
	} catch (e) {
		const file = (e as {filepath?: string}).filepath ?? dir;
		throw new KmodpressError('E_CONFIG_INVALID', `${file}: cannot parse (${(e as Error).message.split('\n')[0]})`, {file, fix: 'fix the syntax (JSON or YAML)', cause: e});
	}
	if (!found || found.isEmpty) {
		log('debug', `no config in ${dir}`);
		return {config: {}, from: undefined};
	}
	if (found.config !== null && typeof found.config === 'object' && '$import' in (found.config as object)) {
		throw new KmodpressError('E_CONFIG_INVALID', `${found.filepath}: "$import" is not allowed`, {file: found.filepath, fix: 'put every setting in this one file'});
	}
	return {config: validateConfig(found.config, found.filepath), from: found.filepath};
}
