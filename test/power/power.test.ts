// Power-cut test (issue #16): kmodpress recompresses a real module tree on ext4 (data=ordered) and xfs inside
// Debian's booted kernel, every write logged by dm-log-writes; the disk as it stood at every FLUSH/FUA point after
// the tree was populated (at most KMODPRESS_POWER_POINTS, default 200, evenly spread) is mounted (journal replayed)
// and checked: every module under exactly one name with its old or new bytes (decoded by the real xz), modules.dep
// the old set or the new; then kmodpress is rerun on it and must finish the job (exit 0, every module's new bytes,
// no temporary file, modules.dep the new set). Then the proof that it can fail: the same run on xfs with the temp
// file's fsync left out (KMODPRESS_TEST_OMIT_FSYNC=file) must report a lost module. See run.ts, driver.ts, guest.ts.
//   KMODPRESS_POWER_MODULES (default 8 out-of-tree modules), KMODPRESS_POWER_POINTS, KMODPRESS_POWER_RERUN_ALL=1
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {powerRun, type RunResult, type StateResult} from './run.js';

const MODULES = Number(process.env.KMODPRESS_POWER_MODULES ?? 8);
const MAX_POINTS = Number(process.env.KMODPRESS_POWER_POINTS ?? 200);
const PROOF_POINTS = Number(process.env.KMODPRESS_POWER_PROOF_POINTS ?? 24);
const verbose = process.env.KMODPRESS_POWER_VERBOSE === '1';
const LOSS = new Set(['LOST', 'ALTERED', 'TWO-NAMES', 'MOUNT-FAILED']);

const where = (s: StateResult): string => `${s.fs} state ${s.n + 1}/${s.of} (log entry ${s.index}, ${s.kind}, after mark "${s.mark}")`;
type Problem = StateResult['problems'][number];
const afterRerun = (p: Problem): boolean => p.detail.startsWith('after the rerun');
/** problems found in the crash states themselves (not after the rerun) */
const isLoss = (p: Problem): boolean => LOSS.has(p.kind) && !afterRerun(p);
const isDepmod = (p: Problem): boolean => p.kind === 'DEPMOD' && !afterRerun(p);
const isRerun = (p: Problem): boolean => p.kind === 'RERUN-FAILED' || afterRerun(p);
const problemsOf = (r: RunResult, pick: (p: Problem) => boolean): string[] => r.states
	.flatMap((s) => s.problems.filter(pick).map((p) => `${where(s)}: ${p.kind}${p.module ? ` ${p.module}` : ''}: ${p.detail}`));

function report(label: string, r: RunResult): void {
	for (const [fs, log] of Object.entries(r.logs)) {
		const states = r.states.filter((s) => s.fs === fs);
		const rep = r.replayed[fs];
		const losses = states.filter((s) => s.problems.some(isLoss)).length;
		console.log(`POWER ${label} ${fs}: log ${log.entries} entries, ${(log.dataBytes / 1048576).toFixed(1)} MiB; crash points ${log.crashPoints}, replayed and checked ${states.length}` +
			` (${states.filter((s) => (s.temps ?? 0) > 0).length} with temp files, ${states.filter((s) => (s.oldNames ?? 0) > 0 && (s.newNames ?? 0) > 0).length} half old/half new);` +
			` kmodpress reruns ${rep ? (rep as {reruns?: number}).reruns : '?'}; states with a loss ${losses}; recorded run ${((r.recorded[fs]?.runMs ?? NaN) / 1000).toFixed(1)} s, replay ${((rep?.ms ?? NaN) / 1000).toFixed(1)} s`);
	}
	console.log(`POWER ${label}: ${r.modules} out-of-tree + 3 in-tree modules; initrd built in ${r.seconds.build.toFixed(1)} s, guest ${r.seconds.guest?.toFixed(1)} s, total ${r.seconds.total.toFixed(1)} s`);
}

let main: RunResult | undefined;
const runMain = async (): Promise<RunResult> => {
	main ??= await powerRun({filesystems: ['ext4', 'xfs'], modules: MODULES, maxPoints: MAX_POINTS, log: verbose ? (l) => console.log(l) : undefined});
	return main;
};

test('ext4 and xfs: every FLUSH/FUA point after "populated" (or 200 spread) replayed, mounted and checked', async () => {
	const r = await runMain();
	report('run', r);
	assert.equal(r.errors, [], r.errors.join('\n') || 'no guest error');
	assert.ok(r.done, `the guest did not finish; console tail:\n${r.console.slice(-3000)}`);
	for (const fs of ['ext4', 'xfs']) {
		const log = r.logs[fs];
		assert.ok(log, `no log parsed for ${fs}`);
		const states = r.states.filter((s) => s.fs === fs);
		assert.ok(log.crashPoints > 0, `${fs}: no crash point`);
		assert.is(states.length, Math.min(log.crashPoints, MAX_POINTS), `${fs}: states checked`);
		assert.ok(states.some((s) => (s.oldNames ?? 0) > 0 && (s.newNames ?? 0) > 0), `${fs}: no state caught the run half done`);
	}
});

test('no module lost, altered or under two names at any crash point', async () => {
	const r = await runMain();
	assert.equal(problemsOf(r, isLoss), []);
});

test('modules.dep lists the old set or the new at every crash point', async () => {
	const r = await runMain();
	assert.equal(problemsOf(r, isDepmod), []);
});

test('a rerun of kmodpress finishes the job from every crash state (exit 0, new bytes, no temp file, new modules.dep)', async () => {
	const r = await runMain();
	assert.equal(problemsOf(r, isRerun), []);
});

test('proof it can fail: without the temp file fsync (KMODPRESS_TEST_OMIT_FSYNC=file) xfs loses a module', async () => {
	const r = await powerRun({filesystems: ['xfs'], modules: MODULES, maxPoints: PROOF_POINTS, omitFsync: 'file', log: verbose ? (l) => console.log(l) : undefined});
	report('omit-fsync=file', r);
	assert.equal(r.errors, []);
	const losses = problemsOf(r, isLoss);
	const first = r.states.find((s) => s.problems.some(isLoss));
	if (first) {
		const p = first.problems.find(isLoss)!;
		console.log(`POWER omit-fsync=file: ${r.states.filter((s) => s.problems.some(isLoss)).length} of ${r.states.length} states lose modules; first: ${where(first)}: ${p.kind} ${p.module}: ${p.detail}`);
	}
	assert.ok(losses.length >= 1, 'the test did not notice the missing fsync');
});

test.run();
