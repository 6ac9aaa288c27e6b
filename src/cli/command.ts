// What a command of the CLI is: its options, its usage text and a run() from parsed arguments to an exit code.
// Commands import this file, never cli/main.ts (which imports them).
import type {ParseArgsConfig} from 'node:util';

export interface CommandContext {
	positionals: string[];
	values: Record<string, string | boolean | string[] | undefined>;
	stdout: (text: string) => void;
	stderr: (text: string) => void;
	env: NodeJS.ProcessEnv;
}

export interface CommandModule {
	options: NonNullable<ParseArgsConfig['options']>;
	usage: string;
	run(ctx: CommandContext): Promise<number>;
}
