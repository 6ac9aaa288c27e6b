// The kmodpress command line: argv → options → library → report → exit code. Thin: every decision lives in src/.
// Subcommands are imported lazily so `kmodpress explain` does not load the codecs.
import {parseArgs} from 'node:util';
import {type CommandContext, type CommandModule, usageOf} from './command.js';
import {parseArgsOptions} from './options.js';
import {errorToJSON, EXIT, exitCodeFor, isKmodpressError, KmodpressError} from '../errors.js';
import {checkNativeAddons} from '../formats/addon.js';

interface CommandEntry {
	/** its positionals, as the command list shows them */
	args?: string;
	/** one line for `kmodpress --help` */
	summary: string;
	load(): Promise<CommandModule>;
}

const COMMANDS: Record<string, CommandEntry> = {
	compress: {args: '[PATH...]', summary: 'compress modules for a kernel (crash-safe), run depmod, verify', load: async () => (await import('./commands/compress.js')).default},
	recompress: {summary: 'fix the out-of-tree modules of an installed kernel (or all kernels)', load: async () => (await import('./commands/recompress.js')).default},
	verify: {args: '[PATH...]', summary: 'predict what the target kernel will say about each module (--boot: ask it)', load: async () => (await import('./commands/verify.js')).default},
	explain: {summary: 'show the compression policy for a kernel and where each part came from', load: async () => (await import('./commands/explain.js')).default},
};

const commandLines = Object.entries(COMMANDS).map(([name, c]) => `  ${`${name}${c.args ? ` ${c.args}` : ''}`.padEnd(21)}${c.summary}`).join('\n');

export const MAIN_USAGE = `kmodpress — compress out-of-tree kernel modules exactly as the target kernel's modules_install would

Usage: kmodpress <command> [options]

Commands:
${commandLines}

Run \`kmodpress <command> --help\` for its options. Exit codes: 0 done, 1 a module failed (verification, writing,
depmod), 2 usage or configuration error (nothing changed), 3 another kmodpress held the kernel's lock too long,
70 internal error.`;

export async function main(argv: string[], io: {stdout?: (t: string) => void; stderr?: (t: string) => void; env?: NodeJS.ProcessEnv} = {}): Promise<number> {
	const stdout = io.stdout ?? ((t: string) => void process.stdout.write(t));
	const stderr = io.stderr ?? ((t: string) => void process.stderr.write(t));
	const env = io.env ?? process.env;
	const [name, ...rest] = argv;
	if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
		stdout(`${MAIN_USAGE}\n`);
		return name === undefined ? EXIT.USAGE : EXIT.OK;
	}
	if (name === '--version') {
		stdout('kmodpress 0.1.0\n');
		return EXIT.OK;
	}
	const entry = COMMANDS[name];
	const json = rest.includes('--json');
	try {
		if (!entry) {
			throw new KmodpressError('E_USAGE', `unknown command "${name}"`, {fix: `use one of: ${Object.keys(COMMANDS).join(', ')} (kmodpress --help)`});
		}
		// before any codec loads: an addon built for a newer Node-API than this Node's would crash the process
		checkNativeAddons();
		const cmd = await entry.load();
		if (rest.includes('--help') || rest.includes('-h')) {
			stdout(`${usageOf(cmd)}\n`);
			return EXIT.OK;
		}
		let parsed;
		try {
			parsed = parseArgs({args: rest, options: parseArgsOptions(cmd.options), allowPositionals: true, strict: true});
		} catch (e) {
			throw new KmodpressError('E_USAGE', `kmodpress ${name}: ${(e as Error).message.replace(/\. To specify.*$/s, '')}`, {
				fix: `see kmodpress ${name} --help`,
			});
		}
		return await cmd.run({positionals: parsed.positionals, values: parsed.values as CommandContext['values'], stdout, stderr, env});
	} catch (e) {
		if (json) stdout(`${JSON.stringify({error: errorToJSON(e)}, null, 2)}\n`);
		else if (isKmodpressError(e)) stderr(`kmodpress: ${e.line}\n`);
		else stderr(`kmodpress: internal error (please report): ${(e as Error)?.stack ?? String(e)}\n`);
		return exitCodeFor(e);
	}
}
