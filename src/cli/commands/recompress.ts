import type {CommandContext, CommandModule} from '../command.js';
import {EXIT, KmodpressError} from '../../errors.js';
import {installedKernels, recompressKernel} from '../../install/recompress.js';
import {formatCompressReport, formatDkmsCopies} from '../../report/human.js';
import {toJSON} from '../../report/json.js';
import type {Log} from '../../types.js';
import {loadSettings, SETTINGS_NOTE, SETTINGS_OPTIONS} from '../settings.js';
import {resolveTarget, str, TARGET_OPTIONS} from '../target.js';

const command: CommandModule = {
	synopsis: 'recompress [--kernel KV | --all-kernels] [--root DIR] [--dry-run] [--json]',
	description: `Finds the out-of-tree modules of an installed kernel (every module under lib/modules/KV that its modules.order does
not name: extra/, updates/, updates/dkms/, weak-updates/ …) and fixes what the kernel would refuse or what differs
from its own modules_install: crc64 xz from an old DKMS or eclass, the wrong algorithm, two names for one module.
Modules already right are left alone. Reruns depmod once per kernel, verifies, and reports what changed.`,
	options: [
		...TARGET_OPTIONS,
		'all-kernels',
		['dry-run', 'show the plan; change nothing'],
		'no-depmod',
		'no-verify',
		...SETTINGS_OPTIONS,
	],
	footer: SETTINGS_NOTE,
	async run(ctx: CommandContext) {
		// --all-kernels walks a sysroot's kernels: its own /etc/kmodpress (a staging image has no kernels to walk)
		const settings = await loadSettings(ctx, ctx.values['all-kernels'] ? str(ctx, 'root') ?? '/' : undefined);
		let kernels: (string | undefined)[] = [str(ctx, 'kernel')];
		if (ctx.values['all-kernels']) {
			if (str(ctx, 'kernel')) throw new KmodpressError('E_USAGE', '--kernel and --all-kernels exclude each other', {fix: 'pass one of them'});
			kernels = installedKernels(str(ctx, 'root') ?? '/');
			if (kernels.length === 0) throw new KmodpressError('E_KERNEL_NOT_FOUND', `no kernel under ${str(ctx, 'root') ?? '/'}/lib/modules`, {fix: 'pass --root'});
		}
		const reports = [];
		let failed = 0;
		for (const kv of kernels) {
			const kctx: CommandContext = {...ctx, values: {...ctx.values, ...(kv ? {kernel: kv} : {})}};
			const {target, policy, files} = await resolveTarget(kctx, settings.overrides);
			const log: Log = (level, message) => {
				if (ctx.values.verbose && !ctx.values.json) ctx.stderr(`${level}: ${message}\n`);
			};
			const report = await recompressKernel({
				target, policy, config: files.config,
				lockTimeoutMs: settings.lockTimeoutMs,
				depmod: !ctx.values['no-depmod'] && settings.depmod,
				dryRun: Boolean(ctx.values['dry-run']),
				verify: !ctx.values['no-verify'] && settings.verify,
				maxDecompressedBytes: settings.maxDecompressedBytes,
				...(settings.threads ? {threads: settings.threads} : {}),
				log,
			});
			failed += report.failed;
			reports.push(report);
			if (!ctx.values.json) {
				ctx.stdout(report.found === 0 ? `kernel ${target.release.value}: no out-of-tree modules\n` : `${formatCompressReport(report, target, policy, Boolean(ctx.values.verbose))}\n${formatDkmsCopies(report.dkms, Boolean(ctx.values.verbose))}`);
			}
		}
		if (ctx.values.json) ctx.stdout(`${toJSON({kernels: reports})}\n`);
		return failed > 0 ? EXIT.MODULE : EXIT.OK;
	},
};
export default command;
