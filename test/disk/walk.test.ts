import {execFileSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {readModuleFile, walkModules} from '../../src/disk/walk.js';

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
	// inside a module tree, a symlinked directory that leads out of it is refused, by file or by directory…
	const moduleDir = join(top, 'lib/modules/6.12.0');
	mkdirSync(moduleDir, {recursive: true});
	symlinkSync(d, join(moduleDir, 'updates'));
	const r2 = await walkModules([join(moduleDir, 'updates/a.ko')], {moduleDir});
	assert.is(r2.errors[0]?.code, 'E_INPUT_SYMLINK', r2.errors[0]?.message);
	assert.equal(r2.modules, []);
	const r2b = await walkModules([join(moduleDir, 'updates')], {moduleDir});
	assert.is(r2b.errors[0]?.code, 'E_INPUT_SYMLINK');
	// …a module dir that is itself a link out of a sysroot is refused…
	const root = join(top, 'image');
	mkdirSync(join(root, 'lib/modules'), {recursive: true});
	symlinkSync(join(top, 'lib/modules/6.12.0'), join(root, 'lib/modules/6.12.0'));
	writeFileSync(join(moduleDir, 'c.ko'), 'x');
	const r2c = await walkModules([join(root, 'lib/modules/6.12.0/c.ko')], {root, moduleDir: join(root, 'lib/modules/6.12.0')});
	assert.is(r2c.errors[0]?.code, 'E_INPUT_SYMLINK');
	// …while a link inside the tree, or above it (Debian's /lib → usr/lib), is the layout and is followed
	mkdirSync(join(moduleDir, 'kernel/real'), {recursive: true});
	writeFileSync(join(moduleDir, 'kernel/real/e.ko'), 'x');
	symlinkSync(join(moduleDir, 'kernel/real'), join(moduleDir, 'kernel/alias'));
	const r2d = await walkModules([join(moduleDir, 'kernel/alias/e.ko')], {moduleDir});
	assert.equal(r2d.errors, []);
	symlinkSync(join(top, 'lib'), join(top, 'lib-link'));
	const r2e = await walkModules([join(top, 'lib-link/modules/6.12.0/c.ko')], {moduleDir: join(top, 'lib-link/modules/6.12.0')});
	assert.equal(r2e.errors, []);
	assert.equal(r2e.modules.map((m) => m.path), [join(top, 'lib-link/modules/6.12.0/c.ko')]);
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
