// Every option of the command line, once: its parseArgs type, short flag, argument name and help line. A command
// lists the options it takes; both parseArgs's options and the usage's option lines are built from that list (as
// npm's cli builds its usage from the definitions it parses).
import type {ParseArgsConfig} from 'node:util';

interface OptionDefinition {
	type: 'string' | 'boolean';
	short?: string;
	/** what the usage calls a string option's value */
	arg?: string;
	help: string;
}

export const OPTIONS = {
	kernel: {type: 'string', arg: 'KV', help: 'target kernel release (default: $KV_FULL, then $kernelver, then uname -r)'},
	'build-dir': {type: 'string', arg: 'DIR', help: "the kernel's build tree (default: <root>/lib/modules/KV/build, following its source link)"},
	root: {type: 'string', arg: 'DIR', help: "a sysroot or a package's staging image such as ${ED} (default: /)"},
	'target-root': {type: 'string', arg: 'DIR', help: 'for a staging image: the root it merges into, whose kernel, modules and config count (default: $EROOT, $ROOT, /)'},
	json: {type: 'boolean', help: 'machine-readable output on stdout'},
	verbose: {type: 'boolean', short: 'v', help: 'more detail'},
	'all-kernels': {type: 'boolean', help: 'every kernel under <root>/lib/modules'},
	'no-depmod': {type: 'boolean', help: 'do not run depmod'},
	'dry-run': {type: 'boolean', help: 'show what would change; change nothing'},
	'no-verify': {type: 'boolean', help: 'skip the verification at the end'},
	'sig-enforce': {type: 'boolean', help: 'judge as a kernel booted with module.sig_enforce=1 (also: config sigEnforce)'},
	certificate: {type: 'string', arg: 'FILE', help: 'a trusted signing certificate (PEM or DER) besides <build>/certs/signing_key.x509'},
	compress: {type: 'string', arg: 'MODE', help: "auto (what the kernel's modules_install does), none, or force"},
	algorithm: {type: 'string', arg: 'ALG', help: "xz, zstd or gzip instead of the kernel's own"},
	threads: {type: 'string', arg: 'N', help: 'worker threads (default: the number of CPUs)'},
	boot: {type: 'boolean', help: "also boot the target's kernel under QEMU and load the modules (see docs/lab.md)"},
	'kernel-image': {type: 'string', arg: 'FILE', help: 'the kernel image to boot (default: <root>/boot/vmlinuz-KV)'},
} as const satisfies Record<string, OptionDefinition>;

export type OptionName = keyof typeof OPTIONS;

/** An option a command takes: its name, or its name and the help line it has in that command. */
export type CommandOption = OptionName | readonly [OptionName, string];

const nameOf = (o: CommandOption): OptionName => (typeof o === 'string' ? o : o[0]);

/** What parseArgs is given for a command's options. */
export function parseArgsOptions(options: readonly CommandOption[]): NonNullable<ParseArgsConfig['options']> {
	const out: NonNullable<ParseArgsConfig['options']> = {};
	for (const o of options) {
		const def: OptionDefinition = OPTIONS[nameOf(o)];
		out[nameOf(o)] = {type: def.type, ...(def.short ? {short: def.short} : {})};
	}
	return out;
}

/** One usage line per option, in the command's order: `  -v, --verbose       more detail`. */
export function optionLines(options: readonly CommandOption[]): string {
	return options.map((o) => {
		const name = nameOf(o);
		const def: OptionDefinition = OPTIONS[name];
		const flag = `${def.short ? `-${def.short}, ` : ''}--${name}${def.arg ? ` ${def.arg}` : ''}`;
		return `  ${flag.padEnd(19)} ${typeof o === 'string' ? def.help : o[1]}`;
	}).join('\n');
}
