// Shared by the integration tests: a real `kmodpress` executable (the hooks call an executable, never a shell
// string), bash runners, xz facts.
import {execFileSync, spawnSync} from 'node:child_process';
import {chmodSync, mkdtempSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

export const REPO = join(import.meta.dirname, '../..');
export const HOOKS = join(REPO, 'hooks');

/**
 * A directory holding an executable `kmodpress` that runs this checkout's src/cli.ts through tsx (absolute paths,
 * so it works from any working directory, e.g. DKMS's source dir). Tests point KMODPRESS_BIN at it.
 */
export function kmodpressBin(): string {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-bin-'));
	const loader = createRequire(join(REPO, 'package.json')).resolve('tsx');
	const bin = join(dir, 'kmodpress');
	writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import ${JSON.stringify(loader)} ${JSON.stringify(join(REPO, 'src/cli.ts'))} "$@"\n`);
	chmodSync(bin, 0o755);
	return bin;
}

export interface Ran {
	code: number | null;
	/** the signal that killed it, else null */
	signal?: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
	seconds: number;
}

export function run(cmd: string, args: string[], opts: {env?: NodeJS.ProcessEnv; cwd?: string; input?: string} = {}): Ran {
	const t = Date.now();
	const r = spawnSync(cmd, args, {encoding: 'utf8', env: {...process.env, ...opts.env}, cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 28});
	return {code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', seconds: (Date.now() - t) / 1000};
}

/** The integrity check xz recorded: "CRC32", "CRC64", "None", "SHA-256" */
export function xzCheck(file: string): string {
	const out = execFileSync('/usr/bin/xz', ['--robot', '--list', file], {encoding: 'utf8'});
	const totals = out.split('\n').find((l) => l.startsWith('totals\t'));
	if (!totals) throw new Error(`xz --robot --list ${file}: no totals line:\n${out}`);
	return totals.split('\t')[6]!;
}

export const unxz = (file: string): Buffer => execFileSync('/usr/bin/xz', ['-dc', file], {maxBuffer: 1 << 30});

export function show(r: Ran): string {
	return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
