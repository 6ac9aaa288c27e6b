// One lock per kernel module tree, so concurrent hooks (parallel emerge jobs, DKMS installs) serialize.
// The lock is flock(2) on <moduleDir>/.kmodpress.lock, held by a child `flock -x LOCK cat` whose stdin is a pipe
// from this process: when this process exits — or is SIGKILLed — the pipe closes, cat exits and the kernel drops
// the lock. No stale lock can outlive its holder, so nothing has to guess from pids. `cat` echoes a byte once it
// runs, which is the moment the lock is held.
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {createHash} from 'node:crypto';
import {KmodpressError} from '../errors.js';
import {requireTool, spawnTool} from './exec.js';
import type {Log} from '../types.js';
import {silentLog} from '../types.js';

export interface KernelLock {
	path: string;
	release(): Promise<void>;
}

export function lockPathFor(moduleDir: string): string {
	if (existsSync(moduleDir)) return join(moduleDir, '.kmodpress.lock');
	return join(tmpdir(), `kmodpress-${createHash('sha256').update(moduleDir).digest('hex').slice(0, 16)}.lock`);
}

export async function acquireKernelLock(moduleDir: string, opts: {timeoutMs?: number; log?: Log} = {}): Promise<KernelLock> {
	const log = opts.log ?? silentLog;
	const path = lockPathFor(moduleDir);
	const flock = requireTool('flock', 'lock the module tree', 'util-linux');
	const cat = requireTool('cat', 'hold the lock', 'coreutils');
	const timeoutMs = opts.timeoutMs ?? 600_000;
	const child = spawnTool(flock, ['-x', '-w', String(Math.max(1, Math.ceil(timeoutMs / 1000))), path, cat]);
	let stderr = '';
	child.stderr.on('data', (d: Buffer) => {
		stderr += d;
	});
	const started = Date.now();
	let waitingLogged = false;
	const waitLog = setTimeout(() => {
		waitingLogged = true;
		log('info', `waiting for the lock on ${moduleDir} (held by ${holder(path)})`);
	}, 1000);
	try {
		await new Promise<void>((resolve, reject) => {
			child.stdout.once('data', () => resolve());
			child.once('error', reject);
			child.once('exit', (code) => {
				if (code === 1) {
					reject(new KmodpressError('E_LOCK_TIMEOUT', `another kmodpress (${holder(path)}) held the lock for ${Math.round((Date.now() - started) / 1000)} s`, {
						file: path, fix: 'wait for it to finish, or check that it is not hung (its pid is in the lock file)',
					}));
				} else {
					reject(new KmodpressError('E_WRITE_FAILED', `cannot lock (flock exit ${code}: ${stderr.trim()})`, {file: path, fix: 'check that the module tree is writable'}));
				}
			});
			child.stdin.write('L');
		});
	} finally {
		clearTimeout(waitLog);
	}
	if (waitingLogged) log('info', `got the lock on ${moduleDir} after ${Math.round((Date.now() - started) / 1000)} s`);
	try {
		writeFileSync(path, `${process.pid} ${new Date().toISOString()} ${process.argv.slice(1).join(' ')}\n`);
	} catch {
		// informational only
	}
	// The lock must not keep the process alive on its own, nor die with it unnoticed.
	child.unref();
	(child.stdin as unknown as {unref?: () => void}).unref?.();
	(child.stdout as unknown as {unref?: () => void}).unref?.();
	(child.stderr as unknown as {unref?: () => void}).unref?.();
	let released = false;
	return {
		path,
		async release() {
			if (released) return;
			released = true;
			await new Promise<void>((resolve) => {
				if (child.exitCode !== null) return resolve();
				child.ref(); // wait for it: the lock is released when flock exits
				(child.stdout as unknown as {ref?: () => void}).ref?.();
				child.once('exit', () => resolve());
				child.stdin.end();
			});
		},
	};
}

function holder(path: string): string {
	try {
		const line = readFileSync(path, 'utf8').trim();
		const pid = line.split(' ')[0];
		return line ? `pid ${pid}, since ${line.split(' ')[1] ?? '?'}` : 'unknown';
	} catch {
		return 'unknown';
	}
}
