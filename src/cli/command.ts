// What a command of the CLI is: the options it takes (from cli/options.ts), its synopsis and description, and a
// run() from parsed arguments to an exit code. Its usage is built from these (usageOf).
// Commands import this file, never cli/main.ts (which imports them).
import {type CommandOption, optionLines} from './options.js';

export interface CommandContext {
	positionals: string[];
	values: Record<string, string | boolean | string[] | undefined>;
	stdout: (text: string) => void;
	stderr: (text: string) => void;
	env: NodeJS.ProcessEnv;
}

export interface CommandModule {
	/** what follows `kmodpress` on the usage line: the command's name, its positionals and main options */
	synopsis: string;
	/** what it does, in paragraphs */
	description: string;
	/** the options it takes, in the order its usage lists them */
	options: readonly CommandOption[];
	/** a line after the options */
	footer?: string;
	run(ctx: CommandContext): Promise<number>;
}

/** `kmodpress <command> --help`. */
export function usageOf(cmd: CommandModule): string {
	return `Usage: kmodpress ${cmd.synopsis}\n\n${cmd.description}\n\n${optionLines(cmd.options)}${cmd.footer ? `\n${cmd.footer}` : ''}`;
}
