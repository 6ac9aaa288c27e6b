import type {CommandContext, CommandModule} from '../command.js';
import {EXIT} from '../../errors.js';
import {formatPolicy} from '../../report/human.js';
import {toJSON} from '../../report/json.js';
import {resolveTarget, TARGET_OPTIONS} from '../target.js';
import {loadSettings, SETTINGS_NOTE} from '../settings.js';

const command: CommandModule = {
	synopsis: 'explain [--kernel KV] [--build-dir DIR] [--root DIR [--target-root DIR]] [--json] [-v]',
	description: `Shows how kmodpress will compress modules for a kernel — algorithm, command, every parameter — and where each part
came from (file and line, config key, sysfs, fallback table), what the kernel decompresses itself, and what the
installed kmod can read. Changes nothing.`,
	options: TARGET_OPTIONS,
	footer: SETTINGS_NOTE,
	async run(ctx: CommandContext) {
		// what compress would do: with the settings of /etc/kmodpress (the target root's, for a staging image)
		const settings = await loadSettings(ctx);
		const {target, files, policy} = await resolveTarget(ctx, settings.overrides);
		if (ctx.values.json) ctx.stdout(`${toJSON({kernel: target, configSearch: files.configSearch, policy})}\n`);
		else ctx.stdout(`${formatPolicy(target, policy, Boolean(ctx.values.verbose))}\n`);
		return EXIT.OK;
	},
};
export default command;
