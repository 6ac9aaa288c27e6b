import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {isKmodpressError} from '../../src/errors.js';
import {groupCommit} from '../../src/disk/group-commit.js';
import {recoverInterrupted} from '../../src/disk/recovery.js';
import {type FsPort, realFs, replaceFile, type Step} from '../../src/disk/safe-replace.js';

const OLD = Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(5000, 1)]);
// real xz bytes so recovery can tell the content from its magic
const NEW = spawnSync('/usr/bin/xz', ['-c', '--check=crc32'], {input: OLD}).stdout as Buffer;

function dir(): string {
	const d = mkdtempSync(join(tmpdir(), 'kmodpress-sr-'));
	writeFileSync(join(d, 'foo.ko'), OLD, {mode: 0o640});
	return d;
}
const names = (d: string) => readdirSync(d).sort();
const only = (d: string): {name: string; data: Buffer} => {
	const n = names(d);
	assert.is(n.length, 1, `exactly one name: ${n.join(', ')}`);
	return {name: n[0]!, data: readFileSync(join(d, n[0]!))};
};

test('success: foo.ko becomes foo.ko.xz with the mode kept, one name', async () => {
	const d = dir();
	const steps: Step[] = [];
	const r = await replaceFile({dir: d, from: 'foo.ko', to: 'foo.ko.xz', data: NEW, onStep: (s) => steps.push(s)});
	assert.is(r.written, join(d, 'foo.ko.xz'));
	assert.equal(names(d), ['foo.ko.xz']);
	assert.ok(readFileSync(join(d, 'foo.ko.xz')).equals(NEW));
	assert.is(fs.statSync(join(d, 'foo.ko.xz')).mode & 0o777, 0o640);
	assert.equal(steps, ['open', 'write', 'chown', 'fsync', 'close', 'verify', 'rename', 'fsync-dir', 'rename-name', 'fsync-dir-2']);
	rmSync(d, {recursive: true});
});

for (const failing of ['open', 'write', 'fsync', 'close', 'rename', 'fsyncDir', 'readFile'] as const) {
	test(`a failing ${failing}() leaves the original intact and no temp file`, async () => {
		const d = dir();
		const port: FsPort = {...realFs, [failing]: () => {
			throw Object.assign(new Error(`${failing} failed`), {code: 'EIO'});
		}};
		try {
			await replaceFile({dir: d, from: 'foo.ko', to: 'foo.ko.xz', data: NEW, fs: port});
			assert.unreachable();
		} catch (e) {
			assert.ok(isKmodpressError(e), String(e));
			assert.is(e.code, 'E_WRITE_FAILED');
			assert.match(e.file!, new RegExp(`${d}/foo\\.ko`));
		}
		const left = only(d);
		// fsyncDir failing after the first rename: the new bytes are durable under the old name (a later run renames)
		if (failing === 'fsyncDir') assert.ok(left.data.equals(NEW) || left.data.equals(OLD));
		else assert.ok(left.data.equals(OLD), `${left.name} holds the old bytes`);
		rmSync(d, {recursive: true});
	});
}

test('a verify callback that throws aborts: nothing changes', async () => {
	const d = dir();
	await replaceFile({dir: d, from: 'foo.ko', to: 'foo.ko.xz', data: NEW, verify: () => {
		throw new Error('decoded bytes differ');
	}}).then(() => assert.unreachable(), () => {});
	assert.equal(names(d), ['foo.ko']);
	rmSync(d, {recursive: true});
});

// A real crash: a child process SIGKILLs itself at a step; no finally, no cleanup runs.
const CHILD = `
import {replaceFile} from ${JSON.stringify(join(import.meta.dirname, '../../src/disk/safe-replace.ts'))};
import {readFileSync} from 'node:fs';
const [dir, step] = process.argv.slice(-2);
await replaceFile({dir, from: 'foo.ko', to: 'foo.ko.xz', data: readFileSync(dir + '/../new.bin'), onStep: (s) => { if (s === step) process.kill(process.pid, 'SIGKILL'); }});
`;

for (const step of ['open', 'write', 'chown', 'fsync', 'close', 'verify', 'rename', 'fsync-dir', 'rename-name', 'fsync-dir-2'] as const) {
	test(`SIGKILL at ${step}: one name, old or new bytes; recovery leaves the right name and no temp`, () => {
		const top = mkdtempSync(join(tmpdir(), 'kmodpress-crash-'));
		const d = join(top, 'extra');
		fs.mkdirSync(d);
		writeFileSync(join(d, 'foo.ko'), OLD);
		writeFileSync(join(top, 'new.bin'), NEW);
		const script = join(top, 'child.mts');
		writeFileSync(script, CHILD);
		const r = spawnSync(process.execPath, ['--import', 'tsx', script, d, step], {encoding: 'utf8'});
		assert.is(r.signal, 'SIGKILL', r.stderr);
		const live = names(d).filter((n) => !n.startsWith('.kmodpress-'));
		assert.is(live.length, 1, `one live name after the kill: ${names(d).join(', ')}`);
		const data = readFileSync(join(d, live[0]!));
		assert.ok(data.equals(OLD) || data.equals(NEW));
		recoverInterrupted(d);
		const after = only(d);
		assert.is(after.name, after.data.equals(NEW) ? 'foo.ko.xz' : 'foo.ko', 'the name matches the content');
		rmSync(top, {recursive: true});
	});
}

function tmpfs(sizeKb: number): {dir: string; done: () => void} {
	const d = mkdtempSync(join(tmpdir(), 'kmodpress-mnt-'));
	const r = spawnSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'kmodpress-test', d]);
	assert.is(r.status, 0, `mount tmpfs: ${r.stderr}`);
	return {dir: d, done: () => {
		spawnSync('/usr/bin/umount', [d]);
		rmSync(d, {recursive: true, force: true});
	}};
}

test('a full filesystem: a clear error naming the file and the fix, the original intact, no temp left', async () => {
	const m = tmpfs(64);
	try {
		writeFileSync(join(m.dir, 'foo.ko'), OLD);
		// fill the rest
		try {
			writeFileSync(join(m.dir, 'filler'), Buffer.alloc(200 << 10));
		} catch {
			// ENOSPC expected: whatever fit stays
		}
		const big = Buffer.alloc(100 << 10, 7);
		try {
			await replaceFile({dir: m.dir, from: 'foo.ko', to: 'foo.ko.xz', data: big});
			assert.unreachable();
		} catch (e) {
			assert.ok(isKmodpressError(e));
			assert.match(e.message, /ENOSPC/);
			assert.match(e.fix!, /free space/);
		}
		assert.ok(readFileSync(join(m.dir, 'foo.ko')).equals(OLD));
		assert.equal(names(m.dir), ['filler', 'foo.ko']);
	} finally {
		m.done();
	}
});

test('a read-only filesystem: EROFS, the original intact', async () => {
	const m = tmpfs(1024);
	try {
		writeFileSync(join(m.dir, 'foo.ko'), OLD);
		assert.is(spawnSync('/usr/bin/mount', ['-o', 'remount,ro', m.dir]).status, 0);
		try {
			await replaceFile({dir: m.dir, from: 'foo.ko', to: 'foo.ko.xz', data: NEW});
			assert.unreachable();
		} catch (e) {
			assert.ok(isKmodpressError(e));
			assert.match(e.message, /EROFS/);
		}
		assert.equal(names(m.dir), ['foo.ko']);
		assert.ok(readFileSync(join(m.dir, 'foo.ko')).equals(OLD));
	} finally {
		m.done();
	}
});

test('a symlink planted at the temp or target name is never followed', async () => {
	const d = dir();
	const victim = join(d, '..', `victim-${process.pid}`);
	writeFileSync(victim, 'secret');
	fs.symlinkSync(victim, join(d, 'foo.ko.xz'));
	await replaceFile({dir: d, from: 'foo.ko', to: 'foo.ko.xz', data: NEW});
	assert.is(readFileSync(victim, 'utf8'), 'secret');
	assert.ok(fs.lstatSync(join(d, 'foo.ko.xz')).isFile());
	rmSync(victim);
	rmSync(d, {recursive: true});
});

test('owner, group and security xattrs of the old file are kept', async () => {
	const d = dir();
	fs.chownSync(join(d, 'foo.ko'), 1234, 5678);
	assert.is(spawnSync('/usr/bin/setfattr', ['-n', 'security.kmodpress-test', '-v', '0x616263', join(d, 'foo.ko')]).status, 0);
	const {readSecurityXattrs} = await import('../../src/disk/xattrs.js');
	const xattrs = await readSecurityXattrs(join(d, 'foo.ko'));
	assert.equal(xattrs, {'security.kmodpress-test': '0x616263'});
	await replaceFile({dir: d, from: 'foo.ko', to: 'foo.ko.xz', data: NEW, xattrs});
	const st = fs.statSync(join(d, 'foo.ko.xz'));
	assert.is(st.uid, 1234);
	assert.is(st.gid, 5678);
	const r = spawnSync('/usr/bin/getfattr', ['-n', 'security.kmodpress-test', '-e', 'hex', join(d, 'foo.ko.xz')], {encoding: 'utf8'});
	assert.match(r.stdout, /security\.kmodpress-test=0x616263/);
	rmSync(d, {recursive: true});
});

test('directory fsyncs are group-committed: a caller that arrives while one runs gets a later one, never an earlier', async () => {
	const runs: {started: number; finish: () => void}[] = [];
	let clock = 0;
	const once = (): Promise<void> => new Promise<void>((res) => runs.push({started: ++clock, finish: res}));
	const sync = groupCommit(once, (d) => d);
	const done: number[] = [];
	const first = sync('/d').then(() => done.push(0));
	const arrived = ++clock; // callers 1..5 arrive (their renames happened) after the first fsync started
	const later = [1, 2, 3, 4, 5].map((i) => sync('/d').then(() => done.push(i)));
	assert.is(runs.length, 1);
	runs[0]!.finish();
	await first;
	await new Promise((r) => setImmediate(r));
	assert.equal(done, [0], 'the five did not ride on the fsync that started before they arrived');
	assert.is(runs.length, 2, 'one more fsync for all five');
	assert.ok(runs[1]!.started > arrived);
	runs[1]!.finish();
	await Promise.all(later);
	assert.equal(done, [0, 1, 2, 3, 4, 5]);
	// another directory is not held up by this one's
	const other = sync('/e');
	assert.is(runs.length, 3);
	runs[2]!.finish();
	await other;
});

test.run();
