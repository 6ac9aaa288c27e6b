// Step 3 of decidePolicy: the command modules_install runs for the chosen algorithm and the exact parameters it gives
// (target/kbuild/compress-commands.ts), each with where it came from. A command kmodpress cannot reproduce byte for
// byte is refused.
import {KmodpressError} from '../errors.js';
import {parseCompressCommand} from '../target/kbuild/compress-commands.js';
import type {Algorithm, CompressionParams, Sourced} from '../types.js';
import type {ModulesInstall} from './modules-install.js';
import type {Remarks} from './types.js';

export interface CommandParams {
	command: Sourced<string> | undefined;
	params: CompressionParams | undefined;
	/** for each field of params, where its value came from */
	paramSources: Record<string, string>;
}

export function commandParams(algorithm: Algorithm, commandFor: ModulesInstall['commandFor'], release: string, remarks: Remarks): CommandParams {
	const command = commandFor(algorithm);
	if (!command) {
		throw new KmodpressError('E_POLICY_UNKNOWN', `kernel ${release}: no ${algorithm} command in its kbuild files or the fallback table`, {
			fix: 'pass another --algorithm',
		});
	}
	const parsed = parseCompressCommand(algorithm, command.value);
	if (parsed.unsupported.length > 0) {
		throw new KmodpressError('E_POLICY_UNKNOWN', `${command.from}: kmodpress cannot reproduce ${parsed.unsupported.join(', ')} of "${command.value}"`, {
			fix: 'report it to kmodpress, or override the algorithm with --algorithm',
		});
	}
	remarks.notes.push(...parsed.notes);
	if (parsed.ignored.length > 0) remarks.notes.push(`options that do not change the bytes: ${parsed.ignored.join(' ')}`);
	return {
		command,
		params: parsed.params,
		paramSources: Object.fromEntries(Object.entries(parsed.sources).map(([k, v]) => [k, `${v} — ${command.from}`])),
	};
}
