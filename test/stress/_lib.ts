// Shared by the stress tests (test/stress/*.test.ts): running the CLI as a child process, a corpus of Debian's real
// modules decompressed to plain .ko, decoding any module file by its magic with the real xz/zstd/gzip tools, and
// checking that a module tree still holds every module exactly once.
import {type ChildProcess, execFileSync, spawn, spawnSync, type SpawnSyncReturns} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import {basename, dirname, join, relative} from 'node:path';
import {DEBIAN_MODDIR} from '../helpers/paths.js';
import {IN_TREE} from '../helpers/tree.js';

export const REPO = join(import.meta.dirname, '../..');
const DIST_CLI = join(REPO, 'dist/cli.js');
const SRC_CLI = join(REPO, 'src/cli.ts');

/** newest mtime of every .ts under src/ */
function newestSource(dir: string): number {
	let newest = 0;
	for (const e of readdirSync(dir, {withFileTypes: true})) {
		const p = join(dir, e.name);
		if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
		else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
	}
	return newest;
}

/** The built dist/cli.js when it is at least as new as every source file (faster start), else src/cli.ts via tsx. */
export const CLI_ARGV: string[] = (() => {
	if (process.env.KMODPRESS_STRESS_TSX !== '1' && existsSync(DIST_CLI) && statSync(DIST_CLI).mtimeMs >= newestSource(join(REPO, 'src'))) {
		// every module under dist must be fresh too: tsc emits them together, so cli.js being newer is enough
		return [DIST_CLI];
	}
	return ['--import', import.meta.resolve('tsx'), SRC_CLI];
})();
export const CLI_KIND = CLI_ARGV[0] === DIST_CLI ? 'dist/cli.js' : 'tsx src/cli.ts';

export interface CliResult {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
	ms: number;
}

export function kmodpress(args: string[], opts: {env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; replaceEnv?: boolean} = {}): CliResult {
	const started = Date.now();
	const env = opts.replaceEnv ? opts.env : {...process.env, ...opts.env};
	const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [...CLI_ARGV, ...args], {
		encoding: 'utf8', env, cwd: opts.cwd ?? REPO, timeout: opts.timeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 256 << 20,
	});
	return {code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Date.now() - started};
}

/** Start the CLI in its own process group (so a kill can take its children — flock, depmod — with it). */
export function spawnKmodpress(args: string[], opts: {env?: NodeJS.ProcessEnv; cwd?: string} = {}): ChildProcess {
	return spawn(process.execPath, [...CLI_ARGV, ...args], {
		env: {...process.env, ...opts.env}, cwd: opts.cwd ?? REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
	});
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export type Format = 'elf' | 'xz' | 'zstd' | 'gzip' | null;
export function magicOf(b: Uint8Array): Format {
	if (b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) return 'elf';
	if (b.length >= 6 && Buffer.from(b.subarray(0, 6)).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
	if (b.length >= 4 && Buffer.from(b.subarray(0, 4)).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
	if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
	return null;
}

const TOOL: Record<'xz' | 'zstd' | 'gzip', string[]> = {
	xz: ['/usr/bin/xz', '-dc'], zstd: ['/usr/bin/zstd', '-dcq'], gzip: ['/bin/gzip', '-dc'],
};
const CLEAN_ENV = {PATH: '/usr/sbin:/usr/bin:/sbin:/bin'};

/** The module image a file holds, decoded by its magic with the real tools (not kmodpress' own code). */
export function decodeFile(bytes: Buffer): Buffer {
	const f = magicOf(bytes);
	if (f === 'elf') return bytes;
	if (f === null) throw new Error(`unknown format (starts ${bytes.subarray(0, 6).toString('hex')})`);
	const [cmd, ...args] = TOOL[f];
	return execFileSync(cmd!, args, {input: bytes, maxBuffer: 1 << 30, env: CLEAN_ENV});
}

export function compressWith(tool: 'xz' | 'zstd' | 'gzip', args: string[], input: Buffer): Buffer {
	const cmd = tool === 'gzip' ? '/bin/gzip' : `/usr/bin/${tool}`;
	return execFileSync(cmd, [...args, '-c'], {input, maxBuffer: 1 << 30, env: CLEAN_ENV});
}

export function xzCheck(file: string): string {
	const out = execFileSync('/usr/bin/xz', ['--robot', '--list', file], {encoding: 'utf8', env: CLEAN_ENV});
	const line = out.split('\n').find((l) => l.startsWith('file\t'));
	return line?.split('\t')[6] ?? '?';
}

export interface CorpusModule {
	/** module name (file name without .ko) */
	name: string;
	/** where it comes from under Debian's tree */
	from: string;
	/** the plain ELF image */
	image: Buffer;
}

/**
 * The `count` smallest of Debian's own modules (skipping the in-tree ones makeSysroot copies, and duplicate names),
 * decompressed to plain .ko with xz. One xz process per module; cached per process.
 */
const corpusCache = new Map<number, CorpusModule[]>();
export function debianCorpus(count: number, opts: {minBytes?: number} = {}): CorpusModule[] {
	const key = count * 1e6 + (opts.minBytes ?? 0);
	const hit = corpusCache.get(key);
	if (hit) return hit;
	const all: {p: string; size: number}[] = [];
	const walk = (d: string): void => {
		for (const e of readdirSync(d, {withFileTypes: true})) {
			const p = join(d, e.name);
			if (e.isDirectory()) walk(p);
			else if (e.name.endsWith('.ko.xz')) all.push({p, size: statSync(p).size});
		}
	};
	walk(join(DEBIAN_MODDIR, 'kernel'));
	all.sort((a, b) => a.size - b.size || a.p.localeCompare(b.p));
	const skip = new Set(IN_TREE.map((p) => basename(p)));
	const seen = new Set<string>();
	const out: CorpusModule[] = [];
	for (const {p, size} of all) {
		if (out.length >= count) break;
		if (size < (opts.minBytes ?? 0)) continue;
		const b = basename(p);
		const name = b.replace(/\.ko\.xz$/, '');
		if (skip.has(b) || seen.has(name.replace(/-/g, '_'))) continue;
		seen.add(name.replace(/-/g, '_'));
		out.push({name, from: relative(DEBIAN_MODDIR, p), image: decodeFile(readFileSync(p))});
	}
	if (out.length < count) throw new Error(`only ${out.length} Debian modules found under ${DEBIAN_MODDIR}, wanted ${count}`);
	corpusCache.set(key, out);
	return out;
}

const MODULE_RE = /^(.+)\.ko(\.xz|\.zst|\.gz)?$/;
export const TEMP_RE = /^\.kmodpress-.+\.tmp$/;

export interface TreeState {
	/** dir/module → names present */
	names: Map<string, string[]>;
	temps: string[];
	files: Map<string, Buffer>;
}

/** Every module file and kmodpress temp file under `dir` (recursively, not following symlinks). */
export function scanTree(dir: string): TreeState {
	const names = new Map<string, string[]>();
	const temps: string[] = [];
	const files = new Map<string, Buffer>();
	const walk = (d: string): void => {
		let entries;
		try {
			entries = readdirSync(d, {withFileTypes: true});
		} catch {
			return;
		}
		for (const e of entries) {
			const p = join(d, e.name);
			if (e.isDirectory()) walk(p);
			else if (TEMP_RE.test(e.name)) temps.push(p);
			else if (e.isFile()) {
				const m = MODULE_RE.exec(e.name);
				if (!m) continue;
				const key = join(d, m[1]!);
				names.set(key, [...(names.get(key) ?? []), p]);
				files.set(p, readFileSync(p));
			}
		}
	};
	walk(dir);
	return {names, temps, files};
}

/**
 * Check that every expected module (key = absolute dir/name without .ko) is present under exactly one name and that
 * its decoded bytes equal the original. `known` caches sha256(file bytes) → sha256(image) so each distinct file
 * content is decoded once. Returns the problems found (empty: all good).
 */
export function checkModules(dir: string, expected: Map<string, Buffer>, known: Map<string, string>): {problems: string[]; state: TreeState} {
	const state = scanTree(dir);
	const problems: string[] = [];
	for (const [key, image] of expected) {
		const present = state.names.get(key) ?? [];
		if (present.length === 0) {
			problems.push(`${relative(dir, key)}: LOST (no name left)`);
			continue;
		}
		if (present.length > 1) problems.push(`${relative(dir, key)}: ${present.length} names (${present.map((p) => basename(p)).join(', ')})`);
		for (const p of present) {
			const bytes = state.files.get(p)!;
			const h = sha256(bytes);
			let imageHash = known.get(h);
			if (imageHash === undefined) {
				try {
					imageHash = sha256(decodeFile(bytes));
				} catch (e) {
					imageHash = `undecodable: ${(e as Error).message.split('\n')[0]}`;
				}
				known.set(h, imageHash);
			}
			if (imageHash !== sha256(image)) problems.push(`${relative(dir, p)}: content differs from the original (${imageHash.slice(0, 60)})`);
		}
	}
	for (const key of state.names.keys()) if (!expected.has(key)) problems.push(`${relative(dir, key)}: unexpected module`);
	return {problems, state};
}

/** Paths listed in modules.dep (relative to the module dir). */
export function modulesDepEntries(moduleDir: string): Set<string> {
	const out = new Set<string>();
	for (const line of readFileSync(join(moduleDir, 'modules.dep'), 'utf8').split('\n')) {
		const c = line.indexOf(':');
		if (c > 0) out.add(line.slice(0, c));
	}
	return out;
}

/** Peak resident memory (VmHWM, KiB) of a process, read from /proc; undefined once it is gone. */
export function vmHWM(pid: number): number | undefined {
	try {
		const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
		return m ? Number(m[1]) : undefined;
	} catch {
		return undefined;
	}
}

/** Pids whose process group is `pgid`, with their command names. */
export function groupMembers(pgid: number): {pid: number; comm: string}[] {
	const out: {pid: number; comm: string}[] = [];
	for (const n of readdirSync('/proc')) {
		if (!/^\d+$/.test(n)) continue;
		try {
			const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
			const close = stat.lastIndexOf(')');
			const comm = stat.slice(stat.indexOf('(') + 1, close);
			const fields = stat.slice(close + 2).split(' ');
			// fields[0] = state, [1] = ppid, [2] = pgrp
			if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push({pid: Number(n), comm});
		} catch {
			// gone
		}
	}
	return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until no process of the group is left (SIGKILLing stragglers after `ms`). */
export async function waitGroupGone(pgid: number, ms = 10_000): Promise<void> {
	const until = Date.now() + ms;
	while (groupMembers(pgid).length > 0) {
		if (Date.now() > until) {
			try {
				process.kill(-pgid, 'SIGKILL');
			} catch {
				// gone
			}
		}
		await sleep(5);
	}
}

export function dirOf(p: string): string {
	return dirname(p);
}

export function fmtS(ms: number): string {
	return `${(ms / 1000).toFixed(1)} s`;
}
