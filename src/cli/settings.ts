// Settings = flags over /etc/kmodpress/config.{json,yaml}, each with where it came from.
import type {CommandContext} from './command.js';
import type {CommandOption} from './options.js';
import {loadConfig} from '../target/config-file.js';
import {DEFAULT_MAX_DECOMPRESSED} from '../formats/table.js';
import {KmodpressError} from '../errors.js';
import type {PolicyOverrides} from '../policy/index.js';
import {configRoot, parseAlgorithm, parseCompressMode, str} from './target.js';

/** The options that the config file can also set (cli/options.ts), and the line that says so. */
export const SETTINGS_OPTIONS = ['compress', 'algorithm', 'threads'] as const satisfies readonly CommandOption[];
export const SETTINGS_NOTE = 'Settings also come from /etc/kmodpress/config.json or config.yaml (under --root; for a staging image, under --target-root); flags win.';

export interface Settings {
	overrides: PolicyOverrides;
	depmod: boolean;
	verify: boolean;
	sigEnforce: boolean;
	threads: number | undefined;
	maxDecompressedBytes: number;
	lockTimeoutMs: number;
	configFile: string | undefined;
}

/** `root`: where /etc/kmodpress is read (default: the command's root, or a staging image's target root). */
export async function loadSettings(ctx: CommandContext, root?: string): Promise<Settings> {
	const {config, from} = await loadConfig({root: root ?? configRoot(ctx)});
	const cfg = (k: string): string => `${from}:${k}`;
	const overrides: PolicyOverrides = {};
	const mode = parseCompressMode(str(ctx, 'compress'), '--compress');
	if (mode) overrides.compress = {value: mode, from: `--compress ${mode}`};
	else if (config.compress) overrides.compress = {value: config.compress, from: cfg('compress')};
	const alg = parseAlgorithm(str(ctx, 'algorithm'), '--algorithm');
	if (alg) overrides.algorithm = {value: alg, from: `--algorithm ${alg}`};
	else if (config.algorithm) overrides.algorithm = {value: config.algorithm, from: cfg('algorithm')};
	let threads = config.threads;
	const t = str(ctx, 'threads');
	if (t !== undefined) {
		if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > 256) {
			throw new KmodpressError('E_USAGE', `--threads is "${t}"`, {fix: 'pass a whole number from 1 to 256'});
		}
		threads = Number(t);
	}
	return {
		overrides,
		depmod: config.depmod ?? true,
		verify: config.verify ?? true,
		sigEnforce: config.sigEnforce ?? false,
		threads,
		maxDecompressedBytes: config.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED,
		lockTimeoutMs: (config.lockTimeoutSeconds ?? 600) * 1000,
		configFile: from,
	};
}
