import type {CommandContext, CommandModule} from '../command.js';
import {EXIT} from '../../errors.js';
import {formatVerifyReport} from '../../report/human.js';
import {toJSON} from '../../report/json.js';
import {verifyModules} from '../../verify/index.js';
import {loadSettings} from '../settings.js';
import {noModuleError, resolveTarget, str, TARGET_OPTIONS} from '../target.js';

const command: CommandModule = {
	synopsis: 'verify [PATH...] [--kernel KV] [--build-dir DIR] [--root DIR [--target-root DIR]] [--sig-enforce] [--boot] [--json]',
	description: `Predicts, without loading anything, what the target kernel will say about each module: decompression under the
kernel's own rules (or kmod's, when the kernel does not decompress that algorithm), ELF class/machine, struct module
size, vermagic (same_magic), modversions CRCs (module_layout and every symbol) against Module.symvers and the other
modules, unknown symbols, namespaces, GPL-only exports, the dependency chain, the appended signature and its key,
and module BTF against vmlinux BTF. Exit 1 when any module is not loadable.

PATHs are module files or directories. Without PATH: <root>/lib/modules/KV/{extra,updates,weak-updates}.`,
	options: [
		...TARGET_OPTIONS,
		'sig-enforce',
		'certificate',
		['threads', 'threads that decode and analyse (default: the number of CPUs): this one and N-1 workers'],
		'boot',
		'kernel-image',
	],
	async run(ctx: CommandContext) {
		const settings = await loadSettings(ctx);
		const {target, policy, files} = await resolveTarget(ctx, settings.overrides, {noRefusal: true});
		const report = await verifyModules({
			target, policy, config: files.config, paths: ctx.positionals,
			sigEnforce: Boolean(ctx.values['sig-enforce']) || settings.sigEnforce,
			...(str(ctx, 'certificate') ? {certificate: str(ctx, 'certificate')!} : {}),
			...(settings.threads ? {threads: settings.threads} : {}),
			maxDecompressedBytes: settings.maxDecompressedBytes,
		});
		const none = noModuleError(ctx, report);
		if (none) throw none;
		let boot: import('../../verify/boot.js').BootVerifyReport | undefined;
		if (ctx.values.boot) {
			const {bootVerify} = await import('../../verify/boot.js');
			boot = await bootVerify({target, report, ...(str(ctx, 'kernel-image') ? {kernelImage: str(ctx, 'kernel-image')!} : {}), sigEnforce: Boolean(ctx.values['sig-enforce']) || settings.sigEnforce});
		}
		if (ctx.values.json) ctx.stdout(`${toJSON(boot ? {...report, boot} : report)}\n`);
		else ctx.stdout(`${formatVerifyReport(report, Boolean(ctx.values.verbose), boot)}\n`);
		const bootFailed = boot !== undefined && boot.results.some((r) => !r.loaded);
		return report.modules.some((m) => !m.loadable) || report.errors.length > 0 || bootFailed ? EXIT.MODULE : EXIT.OK;
	},
};
export default command;
