// The verifier's lanes over a whole tree, on N CPUs: N-1 codec workers and this thread. The work is decoding module
// after module (liblzma: ~2/3 of it) and analysing each image (ELF, symbols, signature, BTF). This thread decodes too
// (a worker per CPU would leave it idle while the workers share the CPUs), but it hands its images to a worker to
// analyse: every isolate that analyses compiles that code (~0.5 s of CPU each on Debian's tree), so only workers do.
//
// This thread decodes a module only when the workers have enough queued to stay busy meanwhile: it blocks while it
// decodes, and it is also the one that reads the files and hands them out. Queued compressed bytes stand for the work
// waiting (decoding follows the compressed size; an analysis costs a fifth of a decode or less).
import type {CodecPool} from './ops.js';
import {decodeForLoad, type Decompress, type Loaded, type LoadOptions} from '../verify/checks/load.js';

/** Queued at the workers before this thread takes a module itself: at least this many requests… */
const MIN_QUEUED = 4;
/** …and this many times the module's own size (sizes only fall: the largest modules go first). */
const QUEUED_FACTOR = 2;
/** an analysis against a decode of the same module, roughly, in queued bytes (over the tree: 0.6-1.2 s of CPU against ~5 s) */
const ANALYSIS_SHARE = 0.2;

/** `workers` with this thread as one more lane for verifyLoad; every other operation goes to the workers as it is. */
export function withThisThread(workers: CodecPool, decompress: Decompress): CodecPool {
	let queuedJobs = 0;
	let queuedBytes = 0;
	// The workers' answers come in when the event loop polls, which reading files (synchronous) and decoding here
	// never reach on their own. So each load decides in a turn of the loop of its own, after a poll: loads waiting in
	// one turn would otherwise all decide on the same stale queue and stack up work here while the workers run dry.
	const waiting: (() => void)[] = [];
	let scheduled = false;
	const pump = (): void => {
		const next = waiting.shift();
		scheduled = waiting.length > 0;
		if (scheduled) setImmediate(pump); // the next turn, after a poll
		next?.();
	};
	const nextTurn = (): Promise<void> => new Promise<void>((resolve) => {
		waiting.push(resolve);
		if (!scheduled) {
			scheduled = true;
			setImmediate(pump);
		}
	});
	const toWorkers = async <T>(bytes: number, run: () => Promise<T>): Promise<T> => {
		queuedJobs++;
		queuedBytes += bytes;
		try {
			return await run();
		} finally {
			queuedJobs--;
			queuedBytes -= bytes;
		}
	};
	const here = async (data: Buffer, path: string, o: LoadOptions): Promise<Loaded> => {
		// no scratch buffer: the image moves to the worker
		const {loaded, image} = await decodeForLoad(data, path, o, decompress);
		if (!image) return loaded;
		return toWorkers(Math.ceil(data.length * ANALYSIS_SHARE), () => workers.verifyAnalyse(image, loaded, o));
	};
	return {
		...workers,
		async verifyLoad(data, path, o) {
			const size = data.length;
			await nextTurn();
			if (queuedJobs >= MIN_QUEUED && queuedBytes >= QUEUED_FACTOR * size) return here(data, path, o);
			return toWorkers(size, () => workers.verifyLoad(data, path, o));
		},
	};
}
