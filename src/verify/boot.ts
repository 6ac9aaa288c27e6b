// `kmodpress verify --boot`: ask the target kernel itself. Boots <root>/boot/vmlinuz-KV (or --kernel-image) under
// QEMU with the modules verified and the dependencies their verdicts name, loads each the way kmod >= 31 would, and
// sets what the kernel said next to kmodpress's prediction. Never touches the running kernel.
import {existsSync, readFileSync} from 'node:fs';
import {join} from 'node:path';
import {KmodpressError} from '../errors.js';
import {type KernelTarget, targetModuleDir} from '../target/discover.js';
import {parseModulesDepFull} from './context.js';
import type {VerifyReport} from './index.js';
import {bootAndLoad} from '../boot/index.js';

export interface BootVerdict {
	path: string;
	module: string;
	/** what kmodpress predicted */
	predicted: boolean;
	/** what the booted kernel did */
	loaded: boolean;
	agrees: boolean;
	errno: string;
	message: string[];
}

export interface BootVerifyReport {
	kernelImage: string;
	kernelRelease: string;
	bootSeconds: number;
	totalSeconds: number;
	results: BootVerdict[];
	summary: string;
}

export async function bootVerify(opts: {target: KernelTarget; report: VerifyReport; kernelImage?: string; sigEnforce?: boolean; timeoutMs?: number}): Promise<BootVerifyReport> {
	const {target, report} = opts;
	const image = opts.kernelImage ?? join(target.root, 'boot', `vmlinuz-${target.release.value}`);
	if (!existsSync(image)) {
		throw new KmodpressError('E_INPUT_UNREADABLE', 'no kernel image to boot', {file: image, fix: 'install the kernel image package, or name one with --kernel-image'});
	}
	// the installed dependencies: for a staging image, those of the root it merges into
	const depDir = targetModuleDir(target) ?? target.moduleDir;
	const installed = (() => {
		try {
			return parseModulesDepFull(readFileSync(join(depDir, 'modules.dep'), 'utf8'));
		} catch {
			return new Map();
		}
	})();
	const byName = new Map(report.modules.map((m) => [m.module, m.path]));
	const fileOf = (name: string): string | undefined => byName.get(name) ?? (installed.get(name) ? join(depDir, installed.get(name)!.rel) : undefined);
	const cases = report.modules.map((m) => ({file: m.path, deps: m.depends.map(fileOf).filter((x): x is string => x !== undefined), isolate: true}));
	const r = await bootAndLoad({kernelImage: image, cases, ...(opts.sigEnforce ? {sigEnforce: true} : {}), ...(opts.timeoutMs ? {timeoutMs: opts.timeoutMs} : {})});
	const results = report.modules.map((m, i): BootVerdict => {
		const c = r.cases[i]!;
		return {path: m.path, module: m.module, predicted: m.loadable, loaded: c.loaded, agrees: c.loaded === m.loadable, errno: c.errnoName, message: c.message};
	});
	const disagree = results.filter((x) => !x.agrees).length;
	const loaded = results.filter((x) => x.loaded).length;
	return {
		kernelImage: image, kernelRelease: r.kernelRelease, bootSeconds: r.bootSeconds, totalSeconds: r.totalSeconds, results,
		summary: `booted ${r.kernelRelease} (${image}) under QEMU in ${r.bootSeconds.toFixed(1)} s: ${loaded} of ${results.length} loaded; the kernel ${disagree === 0 ? 'agrees with every prediction' : `disagrees with ${disagree} prediction${disagree === 1 ? '' : 's'}`}`,
	};
}
