// Shared by the bench scripts: one command's wall time and peak RSS (GNU time's %M), in a clean environment.
import {spawnSync} from 'node:child_process';

export interface Timed {
	seconds: number;
	status: number | null;
	/** peak resident set size of the command, KiB */
	rssKb: number;
	/** the command's own stderr (without time's line) */
	stderr: string;
}

export function timed(file: string, argv: string[]): Timed {
	const t0 = process.hrtime.bigint();
	const r = spawnSync('/usr/bin/time', ['-f', '%M', file, ...argv], {encoding: 'utf8', maxBuffer: 1 << 28, env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin'}});
	const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
	const lines = r.stderr.trim().split('\n');
	return {seconds, status: r.status, rssKb: Number(lines.pop()), stderr: lines.join('\n')};
}

export const best = (xs: readonly number[]): number => Math.min(...xs);
