// Options shared by the commands that act on one kernel, and how they become a target and a policy.
import type {CommandContext} from './command.js';
import type {CommandOption} from './options.js';
import {KmodpressError} from '../errors.js';
import {discoverKernel, type KernelFiles, type KernelTarget, readKernelFiles} from '../target/discover.js';
import {detectKmod} from '../target/kmod.js';
import {type CompressMode, type Policy, policyFromFiles, type PolicyOverrides} from '../policy/index.js';
import type {Algorithm} from '../types.js';
import {ALGORITHMS} from '../formats/table.js';

/** The options of every command that acts on one kernel (cli/options.ts). */
export const TARGET_OPTIONS = ['kernel', 'build-dir', 'root', 'target-root', 'json', 'verbose'] as const satisfies readonly CommandOption[];

export const str = (ctx: CommandContext, k: string): string | undefined => {
	const v = ctx.values[k];
	return typeof v === 'string' ? v : undefined;
};

export function parseAlgorithm(value: string | undefined, from: string): Algorithm | undefined {
	if (value === undefined) return undefined;
	if ((ALGORITHMS as readonly string[]).includes(value)) return value as Algorithm;
	throw new KmodpressError('E_USAGE', `${from} is "${value}"`, {fix: `use one of: ${ALGORITHMS.join(', ')}`});
}

export function parseCompressMode(value: string | undefined, from: string): CompressMode | undefined {
	if (value === undefined) return undefined;
	if (value === 'auto' || value === 'none' || value === 'force') return value;
	throw new KmodpressError('E_USAGE', `${from} is "${value}"`, {fix: 'use one of: auto, none, force'});
}

export interface ResolvedTarget {
	target: KernelTarget;
	files: KernelFiles;
	policy: Policy;
}

/** The target kernel of a command's options (no files read beyond what tells a staging image from a sysroot). */
export function discoverTarget(ctx: CommandContext): KernelTarget {
	return discoverKernel({
		...(str(ctx, 'kernel') !== undefined ? {kernel: str(ctx, 'kernel')!} : {}),
		...(str(ctx, 'build-dir') !== undefined ? {buildDir: str(ctx, 'build-dir')!} : {}),
		...(str(ctx, 'root') !== undefined ? {root: str(ctx, 'root')!} : {}),
		...(str(ctx, 'target-root') !== undefined ? {targetRoot: str(ctx, 'target-root')!} : {}),
		env: ctx.env,
	});
}

/** Where /etc/kmodpress is read: the root, or for a staging image the root it merges into (the image's own
 * /etc/kmodpress would be a file of the package, not the system's settings). */
export function configRoot(ctx: CommandContext): string {
	const target = discoverTarget(ctx);
	return target.targetRoot?.value ?? target.root;
}

export async function resolveTarget(ctx: CommandContext, overrides?: PolicyOverrides, opts: {noRefusal?: boolean} = {}): Promise<ResolvedTarget> {
	const target = discoverTarget(ctx);
	const files = readKernelFiles(target);
	const policy = policyFromFiles(target, files, await detectKmod(), overrides, opts);
	return {target, files, policy};
}

/** A command given paths that hold no module: a usage error (raised before any output, so stdout stays one document). */
export function noModuleError(ctx: CommandContext, report: {modules: readonly unknown[]; errors: readonly unknown[]}): KmodpressError | undefined {
	if (report.modules.length > 0 || report.errors.length > 0 || ctx.positionals.length === 0) return undefined;
	return new KmodpressError('E_USAGE', `no module (*.ko, *.ko.gz, *.ko.xz, *.ko.zst) under ${ctx.positionals.join(' ')}`, {fix: 'name module files or the directories that hold them'});
}
