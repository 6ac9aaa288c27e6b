// Directory fsyncs, batched. Every module renames in its directory and then needs that directory durable; an fsync
// that starts after a caller's rename covers it, so callers that arrive while one runs share the next one. Thousands
// of modules in one directory then cost a few dozen directory fsyncs instead of two each — each of which holds the
// directory against everyone else's renames while it writes.
import * as nodeFs from 'node:fs';

/** Group commit over `once` (exported for its test): a call made while one runs resolves with the next run, which
 * starts after the current one ends; calls made meanwhile share that next run. Calls are grouped by `keyOf` (undefined:
 * not grouped). */
export function groupCommit(once: (d: string) => Promise<void>, keyOf: (d: string) => string | undefined): (d: string) => Promise<void> {
	const states = new Map<string, {running?: Promise<void>; queued?: Promise<void>}>();
	return (d) => {
		const key = keyOf(d);
		if (key === undefined) return once(d);
		let state = states.get(key);
		if (!state) {
			state = {};
			states.set(key, state);
		}
		const s = state;
		const start = (): Promise<void> => {
			const p = once(d).finally(() => {
				if (s.running === p) s.running = undefined;
			});
			s.running = p;
			return p;
		};
		if (s.queued) return s.queued;
		if (!s.running) return start();
		const queued = s.running.catch(() => {}).then(() => {
			s.queued = undefined;
			return start();
		});
		s.queued = queued;
		return queued;
	};
}

async function fsyncDirOnce(d: string): Promise<void> {
	const fh = await nodeFs.promises.open(d, nodeFs.constants.O_RDONLY | nodeFs.constants.O_DIRECTORY);
	try {
		await fh.sync();
	} finally {
		await fh.close();
	}
}

/** fsync a directory, sharing the fsync with every caller that renamed in it meanwhile. Keyed by the directory's
 * inode: each module reaches it through its own pinned /proc/self/fd path, which stays open while its caller waits. */
export const fsyncDirGrouped = groupCommit(fsyncDirOnce, (d) => {
	try {
		const st = nodeFs.statSync(d);
		return `${st.dev}:${st.ino}`;
	} catch {
		return undefined; // let the real call report the error
	}
});

/** fsync a directory before returning (the synchronous callers: recovery, removing an older name). */
export function fsyncDirSync(dir: string): void {
	const fd = nodeFs.openSync(dir, nodeFs.constants.O_RDONLY | nodeFs.constants.O_DIRECTORY);
	try {
		nodeFs.fsyncSync(fd);
	} finally {
		nodeFs.closeSync(fd);
	}
}
