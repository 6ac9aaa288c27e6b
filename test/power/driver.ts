// Runs inside the guest (bundled by guest.ts into /power/driver.mjs; node: imports only, plus ./log-writes.ts).
// For each file system: record — dm-log-writes over the data disk, mkfs, mount, populate the module tree, depmod,
// mark "populated", one real `kmodpress recompress` (a child process, the CLI), sync, unmount; then replay — the log
// applied entry by entry to a zeroed disk, and at each chosen FLUSH/FUA point the disk as it stood then is mounted
// through a throw-away dm-snapshot (so the journal replay and the rerun write only to the COW disk), checked,
// kmodpress rerun on it, checked again. Results go to the console as `@@PWR <KIND> <json>` lines.
import {spawn, spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {closeSync, cpSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeSync} from 'node:fs';
import {join} from 'node:path';
import {applyEntry, crashPoints, type LogEntry, readEntries, spread} from './log-writes.js';

export interface FsConfig {
	name: string;
	mkfs: string[];
	mountOpts: string;
	/** block devices: the data disk logged, the log, a zeroed disk of the data disk's size for the replay */
	data: string;
	log: string;
	replay: string;
	/** the snapshot's copy-on-write disk (each file system its own: they are checked in parallel) */
	cow: string;
}

export interface ModuleSpec {
	/** dir/name under lib/modules/KV, without suffix (extra/foo) */
	key: string;
	/** sha256 of the file as installed (the old bytes) */
	oldSha: string;
	/** sha256 of the ELF image every good state must decode to */
	imageSha: string;
}

export interface DriverConfig {
	kv: string;
	filesystems: FsConfig[];
	maxPoints: number;
	/** KMODPRESS_TEST_OMIT_FSYNC for the recorded run ('' for none) */
	omitFsync: string;
	/** kmodpress arguments, --root ROOT appended */
	args: string[];
	modules: ModuleSpec[];
	/** 'inprocess': the rerun calls the CLI's main() in this process (node starts once); 'spawn': node dist/cli.js */
	rerun: 'inprocess' | 'spawn';
	/** rerun kmodpress on every state, not once per distinct tree content */
	rerunAll: boolean;
}

const KP = '/kmodpress/dist/cli.js';
const t0 = Date.now();
const emit = (kind: string, data: unknown): void => {
	// one write per line: the console is shared with nothing else, but keep lines whole
	writeSync(1, `@@PWR ${kind} ${JSON.stringify(data)}\n`);
};
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function sh(cmd: string, args: string[], opts: {env?: NodeJS.ProcessEnv; allowFail?: boolean} = {}): {code: number; out: string} {
	const r = spawnSync(cmd, args, {encoding: 'utf8', env: opts.env ?? process.env, maxBuffer: 1 << 26});
	const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
	const code = r.status ?? 128;
	if (code !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')}: exit ${code}${r.error ? ` (${r.error.message})` : ''}: ${out.trim().slice(-800)}`);
	return {code, out};
}

const sectors = (dev: string): number => Number(readFileSync(`/sys/block/${dev.replace('/dev/', '')}/size`, 'utf8'));

function dmCreate(name: string, table: string): string {
	sh('/usr/sbin/dmsetup', ['create', name, '--noudevsync', '--table', table]);
	// devtmpfs makes /dev/dm-<minor> for every new device; a /dev/mapper node that dmsetup left from an earlier device
	// of the same name can point to a minor that is gone (ENXIO), so it is not used
	const minor = sh('/usr/sbin/dmsetup', ['info', '-c', '--noheadings', '-o', 'minor', name]).out.trim();
	const node = `/dev/dm-${minor}`;
	for (let i = 0; i < 100 && !existsSync(node); i++) spawnSync('/bin/sleep', ['0.05']);
	return node;
}
const dmRemove = (name: string): void => void sh('/usr/sbin/dmsetup', ['remove', '--noudevsync', name]);

const MODULE_RE = /^(.+)\.ko(\.xz|\.zst|\.gz)?$/;
const TEMP_RE = /^\.kmodpress-.+\.tmp$/;

interface Scan {
	names: Map<string, string[]>;
	temps: string[];
}

function scan(moduleDir: string): Scan {
	const names = new Map<string, string[]>();
	const temps: string[] = [];
	const walk = (d: string, rel: string): void => {
		for (const e of readdirSync(d, {withFileTypes: true})) {
			const r = rel ? `${rel}/${e.name}` : e.name;
			if (e.isDirectory()) walk(join(d, e.name), r);
			else if (TEMP_RE.test(e.name)) temps.push(r);
			else if (e.isFile() || e.isSymbolicLink()) {
				const m = MODULE_RE.exec(e.name);
				if (m) {
					const key = rel ? `${rel}/${m[1]}` : m[1]!;
					names.set(key, [...(names.get(key) ?? []), r]);
				}
			}
		}
	};
	walk(moduleDir, '');
	return {names, temps};
}

/** The ELF image a module file holds, by its magic: plain, or xz decoded by the real xz (not kmodpress' code). */
function decodedSha(bytes: Buffer): string {
	if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x7f454c46) return sha256(bytes);
	if (bytes.length >= 6 && bytes.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))) {
		const r = spawnSync('/usr/bin/xz', ['-dc'], {input: bytes, maxBuffer: 1 << 28});
		return r.status === 0 ? sha256(r.stdout) : `xz failed: ${String(r.stderr).trim()}`;
	}
	return `not a module: ${bytes.length} bytes starting ${bytes.subarray(0, 8).toString('hex') || '(empty)'}`;
}

/** Keys listed in modules.dep (the path before each colon), or why it cannot be read. */
function depSet(moduleDir: string): string[] | string {
	let text: string;
	try {
		text = readFileSync(join(moduleDir, 'modules.dep'), 'utf8');
	} catch (e) {
		return `modules.dep unreadable (${(e as NodeJS.ErrnoException).code})`;
	}
	const keys = text.split('\n').filter((l) => l.includes(':')).map((l) => l.slice(0, l.indexOf(':'))).sort();
	return keys.length ? keys : `modules.dep empty (${text.length} bytes)`;
}
const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

interface Expect {
	modules: ModuleSpec[];
	/** sha256 of each module's file after the recorded run (the new bytes) */
	newSha: Map<string, string>;
	oldDep: string[];
	newDep: string[];
}

interface Problem {
	kind: 'LOST' | 'ALTERED' | 'TWO-NAMES' | 'DEPMOD' | 'TEMP-LEFT' | 'RERUN-FAILED' | 'MOUNT-FAILED' | 'NOT-NEW';
	module?: string;
	detail: string;
}

/** A crash state: every module once, old or new bytes (decoded); modules.dep lists the old set or the new one. With
 * `final`, the state after a rerun: every module's new bytes, no temp file, modules.dep the new set. */
function check(moduleDir: string, ex: Expect, final: boolean): {problems: Problem[]; temps: number; oldNames: number; newNames: number; key: string} {
	const problems: Problem[] = [];
	const s = scan(moduleDir);
	// what the tree holds, as kmodpress sees it: each module file's name and bytes, each temp file's size, the index
	const content: string[] = [];
	let oldNames = 0;
	let newNames = 0;
	const known = new Set(ex.modules.map((m) => m.key));
	for (const m of ex.modules) {
		const present = s.names.get(m.key) ?? [];
		if (present.length === 0) {
			problems.push({kind: 'LOST', module: m.key, detail: 'no file under any name'});
			continue;
		}
		if (present.length > 1) problems.push({kind: 'TWO-NAMES', module: m.key, detail: present.join(', ')});
		for (const rel of present) {
			const bytes = readFileSync(join(moduleDir, rel));
			const h = sha256(bytes);
			content.push(`${rel} ${h}`);
			if (h === ex.newSha.get(m.key)) newNames++;
			else if (h === m.oldSha) {
				oldNames++;
				if (final) problems.push({kind: 'NOT-NEW', module: m.key, detail: `${rel} still holds the old bytes after the rerun`});
			} else {
				const d = decodedSha(bytes);
				if (d !== m.imageSha) problems.push({kind: 'ALTERED', module: m.key, detail: `${rel}: ${d === sha256(bytes) ? 'an ELF image other than the module' : d.length === 64 ? 'decodes to other bytes' : d}`});
				else if (final) problems.push({kind: 'NOT-NEW', module: m.key, detail: `${rel} holds the module but not the bytes the recorded run wrote`});
				else newNames++; // e.g. new bytes under the old name (crash between the two renames)
			}
		}
	}
	for (const key of s.names.keys()) if (!known.has(key) && !key.startsWith('kernel/')) problems.push({kind: 'ALTERED', module: key, detail: 'an unexpected module file'});
	if (final && s.temps.length) problems.push({kind: 'TEMP-LEFT', detail: s.temps.join(', ')});
	const dep = depSet(moduleDir);
	if (typeof dep === 'string') problems.push({kind: 'DEPMOD', detail: dep});
	else if (final ? !sameSet(dep, ex.newDep) : !sameSet(dep, ex.oldDep) && !sameSet(dep, ex.newDep)) {
		const extra = dep.filter((k) => !ex.newDep.includes(k) && !ex.oldDep.includes(k));
		problems.push({kind: 'DEPMOD', detail: `modules.dep lists ${dep.length} paths, neither the old set (${ex.oldDep.length}) nor the new (${ex.newDep.length})${extra.length ? `; e.g. ${extra.slice(0, 3).join(', ')}` : ''}`});
	}
	for (const t of s.temps) content.push(`${t.replace(/\.\d+\.[0-9a-f]+\.tmp$/, '')} temp ${lstatSync(join(moduleDir, t)).size}`);
	try {
		content.push(`modules.dep ${sha256(readFileSync(join(moduleDir, 'modules.dep')))}`);
	} catch {
		content.push('modules.dep none');
	}
	return {problems, temps: s.temps.length, oldNames, newNames, key: sha256(Buffer.from(content.sort().join('\n')))};
}

/** The errors of a --json report (every `error` and `errors` entry, as code: message), else the output's tail. */
function errorsOf(out: string): string {
	try {
		const found: string[] = [];
		const walk = (v: unknown): void => {
			if (Array.isArray(v)) v.forEach(walk);
			else if (v && typeof v === 'object') {
				const o = v as Record<string, unknown>;
				if (typeof o.code === 'string' && typeof o.message === 'string') found.push(`${o.code}: ${typeof o.file === 'string' ? `${o.file}: ` : ''}${o.message}`);
				else for (const x of Object.values(o)) walk(x);
			}
		};
		walk(JSON.parse(out));
		if (found.length) return [...new Set(found)].join('; ').slice(0, 1500);
	} catch {
		// not JSON
	}
	return out.slice(-600);
}

type Main = (argv: string[], io: {stdout?: (t: string) => void; stderr?: (t: string) => void; env?: NodeJS.ProcessEnv}) => Promise<number>;
let mainFn: Main | undefined;

async function kmodpress(cfg: DriverConfig, root: string, how: 'inprocess' | 'spawn', env: NodeJS.ProcessEnv = {}): Promise<{code: number; ms: number; out: string}> {
	const started = Date.now();
	const argv = [...cfg.args, '--root', root];
	if (how === 'spawn') {
		const r = sh('/usr/bin/node', [KP, ...argv], {env: {...process.env, ...env}, allowFail: true});
		return {code: r.code, ms: Date.now() - started, out: r.out};
	}
	const entry = `${KP.replace(/cli\.js$/, '')}cli/main.js`; // a variable, so the bundler leaves the import to run time
	mainFn ??= ((await import(entry)) as {main: Main}).main;
	let out = '';
	const code = await mainFn(argv, {stdout: (t) => void (out += t), stderr: (t) => void (out += t)});
	return {code, ms: Date.now() - started, out};
}

async function record(cfg: DriverConfig, fs: FsConfig): Promise<Expect & {runMs: number; recordMs: number}> {
	const started = Date.now();
	const size = sectors(fs.data);
	const lw = dmCreate(`lw-${fs.name}`, `0 ${size} log-writes ${fs.data} ${fs.log}`);
	sh(fs.mkfs[0]!, [...fs.mkfs.slice(1), lw]);
	const mnt = `/mnt/rec-${fs.name}`;
	mkdirSync(mnt, {recursive: true});
	sh('/bin/mount', ['-t', fs.name, '-o', fs.mountOpts, lw, mnt]);
	const moduleDir = join(mnt, 'lib/modules', cfg.kv);
	mkdirSync(moduleDir, {recursive: true});
	cpSync('/power/tree', moduleDir, {recursive: true});
	sh('/usr/sbin/depmod', ['-b', mnt, cfg.kv]); // what the package manager did when it installed the modules
	const oldDep = depSet(moduleDir);
	if (typeof oldDep === 'string') throw new Error(`populate: ${oldDep}`);
	sh('/bin/sync', []);
	sh('/usr/sbin/dmsetup', ['message', `lw-${fs.name}`, '0', 'mark', 'populated']);
	emit('POPULATED', {fs: fs.name, ms: Date.now() - started});
	const run = await kmodpress(cfg, mnt, 'spawn', cfg.omitFsync ? {KMODPRESS_TEST_OMIT_FSYNC: cfg.omitFsync} : {});
	emit('RECORDED-RUN', {fs: fs.name, code: run.code, ms: run.ms, out: run.code === 0 ? undefined : run.out.slice(-2000)});
	if (run.code !== 0) throw new Error(`kmodpress on ${fs.name} exited ${run.code}: ${run.out.slice(-1500)}`);
	const s = scan(moduleDir);
	const newSha = new Map<string, string>();
	for (const m of cfg.modules) {
		const names = s.names.get(m.key) ?? [];
		if (names.length !== 1) throw new Error(`after the recorded run ${m.key} has ${names.length} names`);
		newSha.set(m.key, sha256(readFileSync(join(moduleDir, names[0]!))));
	}
	const newDep = depSet(moduleDir);
	if (typeof newDep === 'string') throw new Error(`after the recorded run: ${newDep}`);
	sh('/bin/sync', []);
	sh('/usr/sbin/dmsetup', ['message', `lw-${fs.name}`, '0', 'mark', 'done']);
	sh('/bin/umount', [mnt]);
	dmRemove(`lw-${fs.name}`);
	return {modules: cfg.modules, newSha, oldDep, newDep, runMs: run.ms, recordMs: Date.now() - started};
}

async function replay(cfg: DriverConfig, fs: FsConfig, ex: Expect): Promise<void> {
	const started = Date.now();
	const logFd = openSync(fs.log, 'r');
	const read = (off: number, len: number): Buffer => {
		const b = Buffer.allocUnsafe(len);
		let got = 0;
		while (got < len) {
			const n = readSync(logFd, b, got, len - got, off + got);
			if (n === 0) break;
			got += n;
		}
		return b.subarray(0, got);
	};
	const entries: LogEntry[] = [...readEntries(read)];
	const ss = read(24, 4).readUInt32LE(0);
	const points = crashPoints(entries, {from: 'populated'});
	const chosen = spread(points, cfg.maxPoints);
	const want = new Map(chosen.map((p) => [p.index, p]));
	const bytes = entries.reduce((a, e) => a + (e.flags & 4 ? 0 : e.nrSectors * ss), 0);
	emit('LOG', {fs: fs.name, entries: entries.length, dataBytes: bytes, crashPoints: points.length, chosen: chosen.length, parseMs: Date.now() - started});
	const out = openSync(fs.replay, 'r+');
	const write = (off: number, data: Buffer): void => {
		let done = 0;
		while (done < data.length) done += writeSync(out, data, done, data.length - done, off + done);
	};
	const size = sectors(fs.replay);
	let n = 0;
	const rerunOf = new Map<string, {code: number; ms: number; out: string; from: number; after?: Problem[]}>();
	for (const e of entries) {
		applyEntry(e, ss, read, write);
		const p = want.get(e.index);
		if (!p) continue;
		const stateStarted = Date.now();
		fsyncSync(out); // the snapshot reads the disk through bios, below this descriptor's page cache
		const snap = dmCreate(`state-${fs.name}`, `0 ${size} snapshot ${fs.replay} ${fs.cow} N 8`);
		const mnt = `/mnt/${fs.name}-${n}`;
		mkdirSync(mnt, {recursive: true});
		const result: Record<string, unknown> = {fs: fs.name, n, of: chosen.length, index: p.index, kind: p.kind, mark: p.afterMark};
		const m = sh('/bin/mount', ['-t', fs.name, '-o', fs.mountOpts, snap, mnt], {allowFail: true});
		if (m.code !== 0) {
			result.problems = [{kind: 'MOUNT-FAILED', detail: m.out.trim().slice(-300)}];
		} else {
			const moduleDir = join(mnt, 'lib/modules', cfg.kv);
			const mounted = Date.now();
			const crash = check(moduleDir, ex, false);
			const checked = Date.now();
			// A tree whose content was already rerun once gives kmodpress the same input: rerun each content once
			// (rerunAll: every state)
			const seen = cfg.rerunAll ? undefined : rerunOf.get(crash.key);
			const rerun = seen ?? await kmodpress(cfg, mnt, cfg.rerun);
			if (!seen) rerunOf.set(crash.key, {...rerun, from: n});
			result.rerunOf = seen?.from;
			const after = seen ? {problems: seen.after ?? []} : check(moduleDir, ex, true);
			if (!seen) rerunOf.get(crash.key)!.after = after.problems;
			result.phaseMs = {mount: mounted - stateStarted, check: checked - mounted, rerun: seen ? 0 : rerun.ms, check2: seen ? 0 : Date.now() - checked - rerun.ms};
			const problems = [...crash.problems];
			if (rerun.code !== 0) {
				const again = seen ? undefined : await kmodpress(cfg, mnt, 'inprocess');
				problems.push({kind: 'RERUN-FAILED', detail: `exit ${rerun.code}: ${errorsOf(rerun.out)}${again ? ` (a second rerun: exit ${again.code}${again.code ? `: ${errorsOf(again.out)}` : ''})` : ''}`});
			}
			problems.push(...after.problems.map((q) => ({...q, detail: `after the rerun: ${q.detail}`})));
			Object.assign(result, {temps: crash.temps, oldNames: crash.oldNames, newNames: crash.newNames, problems});
			sh('/bin/umount', [mnt]);
		}
		dmRemove(`state-${fs.name}`);
		result.ms = Date.now() - stateStarted;
		emit('STATE', result);
		n++;
	}
	closeSync(out);
	closeSync(logFd);
	emit('REPLAYED', {fs: fs.name, states: n, reruns: rerunOf.size, ms: Date.now() - started});
}

/** Each file system in a node process of its own, at the same time (the guest has a vCPU per file system). */
async function mainDriver(): Promise<void> {
	const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as DriverConfig;
	const only = process.argv[3];
	if (only === undefined) {
		emit('START', {uptime: readFileSync('/proc/uptime', 'utf8').split(' ')[0], node: process.version});
		const children = cfg.filesystems.map((fs) => new Promise<number>((resolve) => {
			const c = spawn(process.execPath, [process.argv[1]!, process.argv[2]!, fs.name], {stdio: 'inherit'});
			c.on('close', (code) => resolve(code ?? 128));
		}));
		const codes = await Promise.all(children);
		emit('DONE', {ms: Date.now() - t0, codes});
		return;
	}
	const fs = cfg.filesystems.find((f) => f.name === only)!;
	if (!lstatSync(fs.cow).isBlockDevice()) throw new Error(`${fs.cow} is not a block device`);
	const ex = await record(cfg, fs);
	emit('RECORDED', {fs: fs.name, recordMs: ex.recordMs, runMs: ex.runMs, oldDep: ex.oldDep.length, newDep: ex.newDep.length});
	await replay(cfg, fs, ex);
}

mainDriver().then(() => process.exit(0), (e: unknown) => {
	emit('ERROR', {message: String((e as Error)?.stack ?? e)});
	process.exit(1);
});
