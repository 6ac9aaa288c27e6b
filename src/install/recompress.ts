// recompress: fix the out-of-tree modules already installed for a kernel (after a kernel upgrade, an old DKMS or
// eclass that wrote crc64 xz, a module compressed with the wrong algorithm, two names for one module).
// Out-of-tree = every module file under lib/modules/KV that modules.order (the kernel's own list) does not name:
// extra/, updates/, updates/dkms/, weak-updates/ and anything else a package put there.
import {type Dirent, existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import {join, relative} from 'node:path';
import {type CompressOptions, type CompressReport, compressModules} from './compress.js';
import {errorToJSON, KmodpressError} from '../errors.js';
import {type DkmsCopyResult, syncDkmsCopies} from './dkms.js';
import {DEFAULT_MAX_DECOMPRESSED, MODULE_NAME_RE, plainName} from '../formats/table.js';

/** Paths (relative to moduleDir, without compression suffix) that modules.order names: the kernel's own modules. */
export function parseModulesOrder(text: string): Set<string> {
	const out = new Set<string>();
	for (const line of text.split('\n')) {
		const t = line.trim();
		if (t) out.add(plainName(t));
	}
	return out;
}

/** The out-of-tree module files of one installed kernel (absolute paths), without following symlinks. */
export function findOutOfTreeModules(moduleDir: string): string[] {
	if (!existsSync(moduleDir)) {
		throw new KmodpressError('E_KERNEL_NOT_FOUND', 'does not exist', {file: moduleDir, fix: 'pass an installed kernel (ls /lib/modules) or --root'});
	}
	let inTree = new Set<string>();
	try {
		inTree = parseModulesOrder(readFileSync(join(moduleDir, 'modules.order'), 'utf8'));
	} catch {
		// no modules.order: then only the usual out-of-tree directories are ours
	}
	const out: string[] = [];
	const walk = (dir: string, top: boolean): void => {
		let entries: Dirent[];
		try {
			entries = readdirSync(dir, {withFileTypes: true});
		} catch {
			return;
		}
		entries.sort((a, b) => a.name.localeCompare(b.name));
		for (const entry of entries) {
			if (top && (entry.name === 'build' || entry.name === 'source')) continue;
			if (entry.isSymbolicLink()) continue; // never followed (weak-updates links point into other kernels)
			const p = join(dir, entry.name);
			if (entry.isDirectory()) {
				if (top && entry.name === 'kernel' && inTree.size === 0) continue;
				walk(p, false);
			} else if (MODULE_NAME_RE.test(entry.name)) {
				if (!inTree.has(plainName(relative(moduleDir, p)))) out.push(p);
			}
		}
	};
	walk(moduleDir, true);
	return out;
}

export interface RecompressOptions extends Omit<CompressOptions, 'paths'> {}

export interface RecompressReport extends CompressReport {
	found: number;
	/** DKMS's copies of the modules (src/install/dkms.ts): each brought in step with the installed file */
	dkms: DkmsCopyResult[];
}

export async function recompressKernel(opts: RecompressOptions): Promise<RecompressReport> {
	const files = findOutOfTreeModules(opts.target.moduleDir);
	if (files.length === 0) {
		return {kernel: opts.target.release.value, dryRun: Boolean(opts.dryRun), modules: [], depmod: undefined, changed: 0, failed: 0, errors: [], found: 0, dkms: []};
	}
	const report = await compressModules({...opts, paths: files});
	if (report.dryRun) return {...report, found: files.length, dkms: []};
	// DKMS's own copies get the bytes the run left, as hooks/dkms/post-install gives them after `dkms install`
	const left = report.modules.filter((m) => m.result && m.outcome !== 'failed').map((m) => m.result!);
	const {copies, errors} = await syncDkmsCopies({
		root: opts.target.root, kv: opts.target.release.value, installed: left, maxOutput: opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED, ...(opts.log ? {log: opts.log} : {}),
	});
	return {...report, errors: [...report.errors, ...errors.map(errorToJSON)], failed: report.failed + errors.length, found: files.length, dkms: copies};
}

/** The kernels installed under <root>/lib/modules. */
export function installedKernels(root: string): string[] {
	const dir = join(root, 'lib/modules');
	try {
		return readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory()).sort();
	} catch {
		return [];
	}
}
