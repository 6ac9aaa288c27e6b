// Full disks, read-only places and concurrent runs (issue #6), on many modules at once:
//   - a sysroot on a small tmpfs filled to the last byte: every write fails with a clear ENOSPC error naming the
//     module, the tree is byte-identical afterwards, no temp file; with room for only some modules: nothing lost,
//     and a rerun after freeing space finishes the job;
//   - a read-only bind mount (EROFS), an immutable directory and immutable module files (chattr +i, EPERM), an
//     append-only directory (chattr +a): clear error naming each file, unchanged, no temp file, other directories
//     still processed;
//   - 4 compress processes at once on one kernel tree: they serialize on the lock (each module compressed by exactly
//     one of them), the result equals a single run's, nothing lost; the lock holder SIGKILLed mid-run does not
//     block the others.
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, relative} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {makeSysroot, type Sysroot} from '../helpers/tree.js';
import {checkModules, compressWith, debianCorpus, fmtS, kmodpress, scanTree, sha256, sleep, spawnKmodpress, waitGroupGone} from './_lib.js';

const KV = '6.12.115+deb12-amd64';

/** a snapshot of every file under dir: relative name → sha256 */
function snapshot(dir: string): Map<string, string> {
	const out = new Map<string, string>();
	const walk = (d: string): void => {
		for (const e of readdirSync(d, {withFileTypes: true})) {
			const p = join(d, e.name);
			if (e.isDirectory()) walk(p);
			else if (e.isFile() && e.name !== '.kmodpress.lock') out.set(relative(dir, p), sha256(readFileSync(p)));
		}
	};
	walk(dir);
	return out;
}
const same = (a: Map<string, string>, b: Map<string, string>): boolean => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

function populate(s: Sysroot, n: number, dir = 'extra'): Map<string, Buffer> {
	const expected = new Map<string, Buffer>();
	debianCorpus(n).forEach((m, i) => {
		const rel = `${dir}/${m.name}`;
		if (i % 5 === 1) s.put(`${rel}.ko.xz`, compressWith('xz', ['-T1'], m.image));
		else s.put(`${rel}.ko`, m.image);
		expected.set(join(s.moduleDir, rel), m.image);
	});
	return expected;
}

test('full disk: a tmpfs filled to the last byte — clear ENOSPC per module, tree byte-identical; partly full — nothing lost, a rerun finishes', () => {
	const started = Date.now();
	const mnt = mkdtempSync(join(tmpdir(), 'kmodpress-full-'));
	execFileSync('/bin/mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
	try {
		// a sysroot on the small tmpfs: modules.builtin* and the in-tree modules are copied by makeSysroot into tmpdir;
		// move the whole sysroot there
		const s0 = makeSysroot();
		execFileSync('/bin/cp', ['-a', `${s0.root}/.`, mnt]);
		s0.cleanup();
		const s: Sysroot = {...s0, root: mnt, moduleDir: join(mnt, 'lib/modules', KV), put(rel, data) {
			const p = join(mnt, 'lib/modules', KV, rel);
			mkdirSync(join(p, '..'), {recursive: true});
			writeFileSync(p, data);
			return p;
		}, cleanup() {}};
		const expected = populate(s, 60);
		const known = new Map<string, string>();
		// an installed kernel has a modules.dep
		execFileSync('/usr/sbin/depmod', ['-b', mnt, '-a', KV]);
		// 1. filled to the last byte
		const fill = (): void => {
			const st = statfsSync(mnt);
			const free = Number(st.bavail) * Number(st.bsize);
			if (free > 0) writeFileSync(join(mnt, 'filler'), Buffer.alloc(free));
		};
		fill();
		assert.is(Number(statfsSync(mnt).bavail), 0, 'the tmpfs is full');
		const before = snapshot(s.moduleDir);
		// without depmod: one clear error per module
		const r = kmodpress(['compress', '--kernel', KV, '--root', mnt, '--json', '--no-depmod']);
		const report = JSON.parse(r.stdout);
		const failed = report.modules.filter((m: {outcome: string}) => m.outcome === 'failed');
		// the error names the file in its file field (the module or its .ko.xz target), the errno in its message
		const named = failed.filter((m: {path: string; error?: {message: string; file?: string}}) => (m.error?.file ?? '').startsWith(m.path.replace(/\.ko(\.xz)?$/, '')) && /ENOSPC/.test(m.error!.message)).length;
		const after = snapshot(s.moduleDir);
		console.log(`STRESS full disk: 0 bytes free: exit ${r.code}, ${failed.length}/${report.modules.length} modules failed, ${named} naming the file and ENOSPC, e.g. "${failed[0]?.error?.code}: ${failed[0]?.error?.message}"; tree unchanged ${same(before, after)}`);
		assert.is(r.code, 1, r.stderr);
		assert.is(failed.length, expected.size);
		assert.is(named, expected.size, JSON.stringify(failed[0]));
		assert.ok(same(before, after), 'the tree is byte-identical');
		assert.equal(scanTree(s.moduleDir).temps, []);
		// the same with depmod on: every module still fails, so nothing changed — modules.dep must survive too (kmod
		// 30's depmod leaves a 0-byte modules.dep when it runs out of space)
		const depBefore = readFileSync(join(s.moduleDir, 'modules.dep')).length;
		const rd = kmodpress(['compress', '--kernel', KV, '--root', mnt, '--json', '--no-verify']);
		const depAfter1 = readFileSync(join(s.moduleDir, 'modules.dep')).length;
		console.log(`STRESS full disk: 0 bytes free, depmod on: exit ${rd.code}, modules.dep ${depBefore} → ${depAfter1} bytes, tree unchanged ${same(before, snapshot(s.moduleDir))}, per-module results ${JSON.parse(rd.stdout).modules ? 'kept' : 'replaced by one error'}`);
		assert.is(rd.code, 1);
		assert.is(depAfter1, depBefore, 'modules.dep survives (skip depmod when nothing changed, failures or not; or keep a hard link to restore)');
		assert.ok(same(before, snapshot(s.moduleDir)), 'the tree is byte-identical');
		// 2. 8 KiB free: room for a few temp files at a time
		rmSync(join(mnt, 'filler'));
		fill();
		rmSync(join(mnt, 'filler'));
		writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, Number(statfsSync(mnt).bavail) * Number(statfsSync(mnt).bsize) - 8 * 1024)));
		const r2 = kmodpress(['compress', '--kernel', KV, '--root', mnt, '--json', '--no-verify', '--no-depmod']);
		const rep2 = JSON.parse(r2.stdout);
		const outcomes: Record<string, number> = {};
		for (const m of rep2.modules) outcomes[m.outcome] = (outcomes[m.outcome] ?? 0) + 1;
		const c2 = checkModules(s.moduleDir, expected, known);
		const inTree = [...c2.problems].filter((p) => !p.startsWith('kernel/'));
		console.log(`STRESS full disk: 8 KiB free: exit ${r2.code}, outcomes ${JSON.stringify(outcomes)}, problems ${inTree.length}, temps ${c2.state.temps.length}`);
		// each compressed module frees space for the next, so how many fit depends on the order: any mix is fine
		assert.ok(r2.code === 0 || r2.code === 1);
		for (const m of rep2.modules) if (m.outcome === 'failed') assert.match(m.error.message, /ENOSPC/);
		assert.equal(inTree.filter((p) => !p.includes('unexpected')), [], 'nothing lost or altered');
		assert.equal(c2.state.temps, []);
		// 3. free the space: the rerun finishes everything
		rmSync(join(mnt, 'filler'));
		const r3 = kmodpress(['compress', '--kernel', KV, '--root', mnt, '--json', '--no-verify']);
		assert.is(r3.code, 0, r3.stderr + r3.stdout.slice(0, 800));
		const c3 = checkModules(s.moduleDir, expected, known);
		assert.equal(c3.problems.filter((p) => !p.includes('unexpected')), []);
		assert.ok([...c3.state.names.values()].every((n) => n.length === 1 && (n[0]!.endsWith('.ko.xz') || n[0]!.includes('/kernel/'))));
		console.log(`STRESS full disk: after freeing space: exit ${r3.code}, every module a .ko.xz`);
		// 4. nothing left to do, and the disk full again: the run (with depmod) must say ENOSPC if anything fails,
		// and leave the tree — modules.dep included — byte-identical
		fill();
		const before4 = snapshot(s.moduleDir);
		const depBytes = readFileSync(join(s.moduleDir, 'modules.dep')).length;
		const r4 = kmodpress(['compress', '--kernel', KV, '--root', mnt, '--json', '--no-verify']);
		const said = /ENOSPC|No space left/.test(r4.stdout + r4.stderr);
		const after4 = snapshot(s.moduleDir);
		const depAfter = readFileSync(join(s.moduleDir, 'modules.dep')).length;
		console.log(`STRESS full disk: nothing to do, disk full, depmod on: exit ${r4.code}, says ENOSPC ${said}, modules.dep ${depBytes} → ${depAfter} bytes, tree unchanged ${same(before4, after4)}: ${r4.stdout.replace(/\s+/g, ' ').slice(0, 240)}; ${fmtS(Date.now() - started)}`);
		assert.ok(r4.code === 0 || (r4.code === 1 && said), `exit ${r4.code}`);
		assert.is(depAfter, depBytes, 'modules.dep survives a full disk (depmod truncates it on ENOSPC: do not run it when nothing changed, or run it with -o into a scratch dir)');
		assert.ok(same(before4, after4), 'the tree is byte-identical');
	} finally {
		execFileSync('/bin/umount', [mnt]);
		rmSync(mnt, {recursive: true, force: true});
	}
});

for (const appendOnly of [false, true]) test(appendOnly
	? 'an append-only directory (chattr +a): a clear error, the directory unchanged — no temp file left that nobody can remove'
	: 'read-only places: ro bind mount (EROFS), chattr +i directory and files (EPERM) — clear errors, unchanged, others processed', () => {
	const s = makeSysroot();
	const mounts: string[] = [];
	const immutable: string[] = [];
	try {
		const corpus = debianCorpus(24);
		const put = (dir: string, from: number, to: number): string[] => corpus.slice(from, to).map((m) => s.put(`${dir}/${m.name}.ko`, m.image));
		const ro = put('extra/ro', 0, 5);
		const imm = put('extra/immutable-dir', 5, 10);
		const immFiles = put('extra/immutable-files', 10, 15);
		const app = appendOnly ? put('extra/append-only', 15, 20) : [];
		const ok = put('updates/fine', 20, 24);
		const roDir = join(s.moduleDir, 'extra/ro');
		execFileSync('/bin/mount', ['--bind', roDir, roDir]);
		mounts.push(roDir);
		execFileSync('/bin/mount', ['-o', 'remount,ro,bind', roDir]);
		const chattr = (flag: string, p: string): void => {
			execFileSync('/usr/bin/chattr', [flag, p]);
			immutable.push(p);
		};
		chattr('+i', join(s.moduleDir, 'extra/immutable-dir'));
		for (const f of immFiles) chattr('+i', f);
		if (appendOnly) chattr('+a', join(s.moduleDir, 'extra/append-only'));
		const before = snapshot(join(s.moduleDir, 'extra'));
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json', '--no-verify', '--no-depmod']);
		const report = JSON.parse(r.stdout);
		const byPath = new Map(report.modules.map((m: {path: string}) => [m.path, m]));
		const problems: string[] = [];
		const codes = new Set<string>();
		for (const [files, errno] of [[ro, 'EROFS'], [imm, 'EPERM'], [immFiles, 'EPERM'], [app, 'EPERM']] as const) {
			for (const f of files) {
				const m = byPath.get(f) as {outcome: string; error?: {code: string; message: string; file?: string; fix?: string}} | undefined;
				if (!m || m.outcome !== 'failed') problems.push(`${relative(s.moduleDir, f)}: ${m?.outcome ?? 'absent'}`);
				else if (!(m.error!.file ?? '').startsWith(f.replace(/\.ko$/, '')) || !m.error!.message.includes(errno)) problems.push(`${relative(s.moduleDir, f)}: unclear error ${m.error!.message}`);
				else codes.add(`${m.error!.code} (${errno}) Fix: ${m.error!.fix}`);
			}
		}
		for (const f of ok) if (!existsSync(`${f}.xz`) || existsSync(f)) problems.push(`${relative(s.moduleDir, f)}: not compressed`);
		const after = snapshot(join(s.moduleDir, 'extra'));
		const temps = scanTree(s.moduleDir).temps.map((t) => relative(s.moduleDir, t));
		console.log(`STRESS read-only${appendOnly ? ' + append-only' : ''}: temps left ${temps.length}${temps.length ? ` (${temps[0]})` : ''}, exit ${r.code}, ${report.failed} failed, errors: ${[...codes].join(' | ')}; read-only trees unchanged ${same(before, after)}; problems ${problems.length}`);
		assert.is(r.code, 1);
		assert.equal(problems, []);
		assert.equal(temps, []);
		assert.ok(same(before, after), 'byte-identical');
	} finally {
		for (const p of immutable) execFileSync('/usr/bin/chattr', ['-i', '-a', p]);
		for (const m of mounts) execFileSync('/bin/umount', [m]);
		s.cleanup();
	}
});

test('concurrency: 4 compress processes at once serialize on the lock — each module compressed exactly once, result = one run; a SIGKILLed holder blocks nobody', async () => {
	const started = Date.now();
	const N = 120;
	// reference: one run
	const ref = makeSysroot();
	const expected0 = populate(ref, N);
	const r0 = kmodpress(['compress', '--kernel', ref.kv, '--root', ref.root, '--json', '--no-verify']);
	assert.is(r0.code, 0, r0.stderr);
	const refSnap = new Map([...snapshot(ref.moduleDir)].filter(([k]) => !k.startsWith('.kmodpress.lock')));
	ref.cleanup();
	void expected0;
	const runRound = async (killHolder: boolean): Promise<{codes: (number | null)[]; compressedTotal: number; ms: number; problems: string[]; killedPid?: number}> => {
		const s = makeSysroot();
		const expected = populate(s, N);
		const t0 = Date.now();
		const kids = Array.from({length: 4}, () => spawnKmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json', '--no-verify']));
		const outs = kids.map((k) => {
			let o = '';
			k.stdout!.on('data', (d) => (o += d));
			return () => o;
		});
		const done = kids.map((k) => new Promise<{code: number | null; signal: string | null}>((res) => k.on('close', (code, signal) => res({code, signal}))));
		let killedPid: number | undefined;
		if (killHolder) {
			// the lock file names the holder once it holds the lock; kill that node process alone (its flock child
			// must then let go by itself)
			const lockFile = join(s.moduleDir, '.kmodpress.lock');
			for (let i = 0; i < 400 && killedPid === undefined; i++) {
				await sleep(10);
				const pid = Number((existsSync(lockFile) ? readFileSync(lockFile, 'utf8') : '').split(' ')[0]);
				if (kids.some((k) => k.pid === pid)) killedPid = pid;
			}
			assert.ok(killedPid, 'a holder showed up in the lock file');
			await sleep(150);
			process.kill(killedPid!, 'SIGKILL');
		}
		const results = await Promise.all(done);
		for (const k of kids) await waitGroupGone(k.pid!);
		const ms = Date.now() - t0;
		const problems: string[] = [];
		let compressedTotal = 0;
		results.forEach((res, i) => {
			if (kids[i]!.pid === killedPid) {
				if (res.signal !== 'SIGKILL') problems.push(`the killed holder ended with ${res.code}/${res.signal}`);
				return;
			}
			if (res.code !== 0) problems.push(`process ${i} exit ${res.code} ${res.signal}`);
			try {
				const rep = JSON.parse(outs[i]!());
				compressedTotal += rep.modules.filter((m: {outcome: string}) => m.outcome === 'compressed' || m.outcome === 'recompressed').length;
				if (rep.failed) problems.push(`process ${i}: failed ${rep.failed}`);
			} catch {
				problems.push(`process ${i}: no JSON`);
			}
		});
		const c = checkModules(s.moduleDir, expected, new Map());
		problems.push(...c.problems.filter((p) => !p.startsWith('kernel/') && !p.includes('unexpected')));
		if (c.state.temps.length) problems.push(`temps left: ${c.state.temps.length}`);
		const snap = new Map([...snapshot(s.moduleDir)].filter(([k]) => !k.startsWith('.kmodpress.lock')));
		if (!same(snap, refSnap)) problems.push('the tree differs from a single run\'s');
		s.cleanup();
		return {codes: results.map((r) => r.code), compressedTotal, ms, problems, ...(killedPid ? {killedPid} : {})};
	};
	const a = await runRound(false);
	console.log(`STRESS concurrency: 4 processes on ${N} modules: exits ${a.codes.join('/')}, modules compressed in total ${a.compressedTotal} (once each: ${a.compressedTotal === N}), result = one run: ${!a.problems.some((p) => p.includes('differs'))}, ${fmtS(a.ms)}`);
	assert.equal(a.problems, []);
	assert.is(a.compressedTotal, N, 'each module compressed by exactly one process');
	const b = await runRound(true);
	console.log(`STRESS concurrency: holder SIGKILLed mid-run: exits ${b.codes.join('/')}, the 3 others finished in ${fmtS(b.ms)}, problems ${b.problems.length}; ${fmtS(Date.now() - started)}`);
	assert.equal(b.problems, []);
	assert.ok(b.ms < 60_000, 'nobody waited for the lock timeout');
});

test.run();
