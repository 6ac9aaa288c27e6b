import {execFileSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {readModuleFile, walkModules} from '../../src/fs/walk.js';

test('finds modules; refuses symlinks out of the tree, FIFOs and directories named *.ko; keeps going', async () => {
	const top = mkdtempSync(join(tmpdir(), 'kmodpress-walk-'));
	const d = join(top, 'extra');
	mkdirSync(join(d, 'sub'), {recursive: true});
	writeFileSync(join(d, 'a.ko'), 'x');
	writeFileSync(join(d, 'sub/b.ko.xz'), 'x');
	writeFileSync(join(d, 'README'), 'x');
	writeFileSync(join(d, '.kmodpress-a.ko.xz.123.abcd.tmp'), 'x');
	symlinkSync('/etc/shadow', join(d, 'shadow.ko'));
	symlinkSync('/etc', join(d, 'etcdir'));
	symlinkSync(join(d, 'a.ko'), join(d, 'alias.ko'));
	mkdirSync(join(d, 'dir.ko'));
	execFileSync('/usr/bin/mkfifo', [join(d, 'fifo.ko')]);
	const {modules, errors} = await walkModules([d]);
	assert.equal(modules.map((m) => m.path), [join(d, 'a.ko'), join(d, 'sub/b.ko.xz')]);
	const lines = errors.map((e) => `${e.code} ${e.file}`).sort();
	assert.equal(lines, [
		`E_INPUT_NOT_REGULAR ${join(d, 'dir.ko')}`,
		`E_INPUT_NOT_REGULAR ${join(d, 'fifo.ko')}`,
		`E_INPUT_SYMLINK ${join(d, 'etcdir')}`,
		`E_INPUT_SYMLINK ${join(d, 'shadow.ko')}`,
	]);
	for (const e of errors) assert.not.match(e.line, /\n/);
	// a file named directly through a symlinked directory is refused too
	symlinkSync('/etc', join(top, 'linkdir'));
	const r = await walkModules([join(top, 'linkdir/passwd.ko')]);
	assert.is(r.errors[0]?.code, 'E_INPUT_UNREADABLE');
	symlinkSync(d, join(top, 'extra-link'));
	const r2 = await walkModules([join(top, 'extra-link/a.ko')]);
	assert.is(r2.errors[0]?.code, 'E_INPUT_SYMLINK');
	const r3 = await walkModules([join(d, 'shadow.ko')]);
	assert.is(r3.errors[0]?.code, 'E_INPUT_SYMLINK');
	rmSync(top, {recursive: true});
});

test('readModuleFile refuses a file that became a symlink (O_NOFOLLOW)', async () => {
	const top = mkdtempSync(join(tmpdir(), 'kmodpress-walk-'));
	symlinkSync('/etc/passwd', join(top, 'x.ko'));
	await readModuleFile(join(top, 'x.ko')).then(() => assert.unreachable(), (e: {code: string}) => assert.is(e.code, 'E_INPUT_SYMLINK'));
	rmSync(top, {recursive: true});
});

test.run();
