import type {CommandContext, CommandModule} from '../command.js';
import {compressModules} from '../../install/compress.js';
import {EXIT} from '../../errors.js';
import {formatCompressReport} from '../../report/human.js';
import {toJSON} from '../../report/json.js';
import type {Log} from '../../types.js';
import {loadSettings, SETTINGS_NOTE, SETTINGS_OPTIONS} from '../settings.js';
import {noModuleError, resolveTarget, TARGET_OPTIONS} from '../target.js';

const command: CommandModule = {
	synopsis: 'compress [PATH...] [--kernel KV] [--build-dir DIR] [--root DIR [--target-root DIR]] [--no-depmod] [--dry-run] [--json]',
	description: `Compresses modules exactly as the target kernel's modules_install would (algorithm, command, parameters from its
kbuild files and config), in-process and crash-safely: each file is written beside its target under a temporary name,
fsynced, decoded back under the kernel's own rules and compared, then renamed over; the old name is removed last.
Modules already in a form the kernel accepts are left alone. Then runs depmod once (not for a staging image, not
with --no-depmod), checks that modules.dep lists every module, and verifies each one against the kernel.

PATHs are module files or directories (searched for *.ko, *.ko.gz, *.ko.xz, *.ko.zst; symlinks are not followed out
of the tree). Without PATH: <root>/lib/modules/KV/{extra,updates,weak-updates}.`,
	options: [
		...TARGET_OPTIONS,
		['no-depmod', 'do not run depmod (the caller will)'],
		'dry-run',
		'no-verify',
		['sig-enforce', 'verify as a kernel that enforces module signatures would'],
		...SETTINGS_OPTIONS,
	],
	footer: SETTINGS_NOTE,
	async run(ctx: CommandContext) {
		const settings = await loadSettings(ctx);
		const {target, policy, files} = await resolveTarget(ctx, settings.overrides);
		const messages: string[] = [];
		const log: Log = (level, message) => {
			if (level === 'error' || level === 'warn' || ctx.values.verbose) messages.push(`${level}: ${message}`);
		};
		const report = await compressModules({
			target, policy, config: files.config, paths: ctx.positionals,
			lockTimeoutMs: settings.lockTimeoutMs,
			depmod: !ctx.values['no-depmod'] && settings.depmod,
			dryRun: Boolean(ctx.values['dry-run']),
			verify: !ctx.values['no-verify'] && settings.verify,
			sigEnforce: Boolean(ctx.values['sig-enforce']) || settings.sigEnforce,
			maxDecompressedBytes: settings.maxDecompressedBytes,
			...(settings.threads ? {threads: settings.threads} : {}),
			log,
		});
		// before any output: one document on stdout, whatever happens
		const none = noModuleError(ctx, report);
		if (none) throw none;
		if (ctx.values.json) ctx.stdout(`${toJSON(report)}\n`);
		else {
			if (ctx.values.verbose) for (const m of messages) ctx.stderr(`${m}\n`);
			ctx.stdout(`${formatCompressReport(report, target, policy, Boolean(ctx.values.verbose))}\n`);
		}
		return report.failed > 0 ? EXIT.MODULE : EXIT.OK;
	},
};
export default command;
