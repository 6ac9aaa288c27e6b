import {spawn, spawnSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {isKmodpressError} from '../../src/errors.js';
import {acquireKernelLock} from '../../src/disk/lock.js';

const CHILD = `
import {acquireKernelLock} from ${JSON.stringify(join(import.meta.dirname, '../../src/disk/lock.ts'))};
import {appendFileSync} from 'node:fs';
const [dir, log, holdMs] = process.argv.slice(-3);
const lock = await acquireKernelLock(dir, {timeoutMs: 60000});
appendFileSync(log, 'start ' + process.pid + ' ' + Date.now() + '\\n');
await new Promise((r) => setTimeout(r, Number(holdMs)));
appendFileSync(log, 'end ' + process.pid + ' ' + Date.now() + '\\n');
await lock.release();
`;

function setup(): {dir: string; script: string; log: string} {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-lock-'));
	const script = join(dir, 'child.mts');
	writeFileSync(script, CHILD);
	return {dir, script, log: join(dir, 'log')};
}

test('4 processes at once on one kernel tree serialize: no two hold the lock together', async () => {
	const {dir, script, log} = setup();
	const children = Array.from({length: 4}, () => spawn(process.execPath, ['--import', 'tsx', script, dir, log, '300'], {stdio: 'inherit'}));
	await Promise.all(children.map((c) => new Promise((r) => c.on('exit', r))));
	const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
	assert.is(events.length, 8);
	for (let i = 0; i < 8; i += 2) {
		assert.is(events[i]![0], 'start');
		assert.is(events[i + 1]![0], 'end');
		assert.is(events[i]![1], events[i + 1]![1], 'each start is followed by the same process\'s end');
	}
	rmSync(dir, {recursive: true});
});

test('a holder killed with SIGKILL does not block the next one', async () => {
	const {dir, script, log} = setup();
	const holder = spawn(process.execPath, ['--import', 'tsx', script, dir, log, '60000'], {stdio: 'inherit'});
	for (let i = 0; i < 100 && !readFileSync(log, {flag: 'a+'}).toString().includes('start'); i++) await new Promise((r) => setTimeout(r, 100));
	holder.kill('SIGKILL');
	const t0 = Date.now();
	const lock = await acquireKernelLock(dir, {timeoutMs: 10000});
	assert.ok(Date.now() - t0 < 5000, `acquired ${Date.now() - t0} ms after the kill`);
	await lock.release();
	rmSync(dir, {recursive: true});
});

test('a timeout names the holder and maps to E_LOCK_TIMEOUT', async () => {
	const {dir} = setup();
	const lock = await acquireKernelLock(dir);
	const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
		import(${JSON.stringify(join(import.meta.dirname, '../../src/disk/lock.ts'))}).then(async (m) => {
			try { await m.acquireKernelLock(${JSON.stringify(dir)}, {timeoutMs: 1000}); console.log('ACQUIRED'); }
			catch (e) { console.log(e.code, e.message); }
		});`], {encoding: 'utf8'});
	assert.match(r.stdout, new RegExp(`E_LOCK_TIMEOUT .*pid ${process.pid}`));
	await lock.release();
	const again = await acquireKernelLock(dir, {timeoutMs: 2000});
	await again.release();
	assert.ok(isKmodpressError(new (await import('../../src/errors.js')).KmodpressError('E_LOCK_TIMEOUT', 'x')));
	rmSync(dir, {recursive: true});
});

test.run();
