// Every child process kmodpress starts goes through here: an argument array (never a shell string), an absolute
// path to a tool found only in the system's fixed directories (never $PATH, which a package's build may point into
// its own tree), and an environment scrubbed of the variables that change compressor output.
import type {Options, Result} from 'execa';
import {type ChildProcessWithoutNullStreams, execFile, execFileSync, spawn} from 'node:child_process';
import {accessSync, constants} from 'node:fs';
import {join} from 'node:path';
import {KmodpressError} from '../errors.js';

/** Variables that change what xz/zstd/gzip write (and so what kbuild would have written). */
export const SCRUBBED_ENV = ['XZ_OPT', 'XZ_DEFAULTS', 'ZSTD_CLEVEL', 'ZSTD_NBTHREADS', 'GZIP', 'KGZIP', 'LD_PRELOAD',
	'LD_LIBRARY_PATH'] as const;
/** The only directories tools are taken from. */
export const TRUSTED_BIN_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'] as const;
export const TRUSTED_PATH = TRUSTED_BIN_DIRS.join(':');

export function scrubbedEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
	const out: Record<string, string> = {};
	for (const [k, v] of Object.entries(env)) {
		if (v === undefined || (SCRUBBED_ENV as readonly string[]).includes(k)) continue;
		out[k] = v;
	}
	out.PATH = TRUSTED_PATH;
	out.LC_ALL = 'C';
	return out;
}

/** The absolute path of a system tool, or undefined. Only TRUSTED_BIN_DIRS are searched. */
export function findTool(name: string, dirs: readonly string[] = TRUSTED_BIN_DIRS): string | undefined {
	for (const dir of dirs) {
		const p = join(dir, name);
		try {
			accessSync(p, constants.X_OK);
			return p;
		} catch {
			// next
		}
	}
	return undefined;
}

export function requireTool(name: string, why: string, debianPackage: string): string {
	const p = findTool(name);
	if (p === undefined) {
		throw new KmodpressError('E_TOOL_MISSING', `${name} not found in ${TRUSTED_PATH} (needed to ${why})`, {
			fix: `install it (Debian: apt-get install ${debianPackage})`,
		});
	}
	return p;
}

/** Run a tool by absolute path with a scrubbed environment. Never throws on a non-zero exit (reject: false). */
export async function run(file: string, args: readonly string[], options: Options = {}): Promise<Result> {
	if (!file.startsWith('/')) throw new KmodpressError('E_INTERNAL', `run() needs an absolute path, got ${file}`);
	// execa costs ~170 ms to import on a small machine: load it only when a child is really run
	const {execa} = await import('execa');
	return execa(file, args, {
		reject: false,
		extendEnv: false,
		env: scrubbedEnv(options.env as NodeJS.ProcessEnv | undefined ?? process.env),
		stdin: 'ignore',
		...options,
	} as Options) as Promise<Result>;
}

/** What queryTool and queryToolAsync run a tool with: no shell, the scrubbed environment, text output. */
const queryOptions = () => ({env: scrubbedEnv(), encoding: 'utf8' as const, shell: false});

/** A quick query of a system tool (`kmod --version`): synchronous, no shell, scrubbed environment, absolute path.
 * Kept separate from run() so that commands which only ask a version do not load execa. */
export function queryTool(file: string, args: readonly string[]): {ok: boolean; output: string} {
	if (!file.startsWith('/')) throw new KmodpressError('E_INTERNAL', `queryTool() needs an absolute path, got ${file}`);
	try {
		const out = execFileSync(file, args, {...queryOptions(), stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000});
		return {ok: true, output: out};
	} catch (e) {
		const err = e as {stdout?: string; stderr?: string; message: string};
		return {ok: false, output: `${err.stdout ?? ''}${err.stderr ?? err.message}`};
	}
}

/** A read-only query of a system tool that may take a while or print a lot (getfattr over a directory, lsattr):
 * asynchronous, same rules as queryTool (absolute path, argument array, no shell, scrubbed environment). A small job
 * (one module from a DKMS hook) then does not pay for loading execa, which it needs only to run depmod. */
export function queryToolAsync(file: string, args: readonly string[], opts: {timeoutMs?: number} = {}): Promise<{exitCode: number | null; stdout: string; stderr: string}> {
	if (!file.startsWith('/')) return Promise.reject(new KmodpressError('E_INTERNAL', `queryToolAsync() needs an absolute path, got ${file}`));
	return new Promise((resolve) => {
		execFile(file, args, {...queryOptions(), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 256 << 20}, (err, stdout, stderr) => {
			const code = err ? (typeof (err as {code?: unknown}).code === 'number' ? (err as {code: number}).code : null) : 0;
			resolve({exitCode: code, stdout: String(stdout ?? ''), stderr: String(stderr ?? (err ? err.message : ''))});
		});
	});
}

/** A long-lived child whose stdin, stdout and stderr are pipes to this process (the lock holder, lock.ts): same
 * rules as run() — absolute path, argument array, no shell, scrubbed environment. */
export function spawnTool(file: string, args: readonly string[]): ChildProcessWithoutNullStreams {
	if (!file.startsWith('/')) throw new KmodpressError('E_INTERNAL', `spawnTool() needs an absolute path, got ${file}`);
	return spawn(file, args, {stdio: ['pipe', 'pipe', 'pipe'], env: scrubbedEnv(), shell: false});
}
