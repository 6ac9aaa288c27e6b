// src/boot without booting: the initramfs is a newc archive GNU cpio reads back byte for byte, the on-demand loader
// is a static binary, and missing or unusable tools are E_TOOL_MISSING before QEMU starts.
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {gunzipSync} from 'node:zlib';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {bootAndLoad, ensureLoader, gzipNewcArchive, initScript} from '../../src/boot/index.js';
import {isStaticExecutable} from '../../src/boot/elf-static.js';
import {isKmodpressError} from '../../src/errors.js';

const work = mkdtempSync(join(tmpdir(), 'kmodpress-bootlib-'));
process.on('exit', () => rmSync(work, {recursive: true, force: true}));

test('cpio: GNU cpio lists and extracts the archive exactly (files, modes, symlink, directories, device node)', () => {
	const payload = Buffer.from(Array.from({length: 1001}, (_, i) => i & 0xff));
	const archive = gunzipSync(gzipNewcArchive([
		{type: 'dir', path: 'bin'},
		{type: 'file', path: 'bin/tool', data: payload, mode: 0o755},
		{type: 'symlink', path: 'bin/sh', target: 'tool'},
		{type: 'file', path: 'init', data: '#!/bin/sh\necho hi\n', mode: 0o755},
		{type: 'chardev', path: 'console', major: 5, minor: 1},
	]));
	const listing = execFileSync('/usr/bin/cpio', ['-itv', '--quiet'], {input: archive, encoding: 'utf8'});
	assert.match(listing, /^drwxr-xr-x .* bin$/m);
	assert.match(listing, /^-rwxr-xr-x .* 1001 .* bin\/tool$/m);
	assert.match(listing, /^lrwxrwxrwx .* bin\/sh -> tool$/m);
	assert.match(listing, /^crw------- .* 5,\s+1 .* console$/m);
	const dir = mkdtempSync(join(work, 'x-'));
	execFileSync('/usr/bin/cpio', ['-id', '--quiet', '--no-absolute-filenames', 'bin/tool', 'init'], {cwd: dir, input: archive});
	assert.ok(readFileSync(join(dir, 'bin/tool')).equals(payload));
	assert.is(readFileSync(join(dir, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
});

test('init script: busybox sh parses it (sh -n), loads in the given order, quotes hostile params', () => {
	const script = initScript([
		{id: 'd0', file: '/x/dep.ko.xz', guestPath: '/m/0/dep.ko.xz', params: '', isolate: false},
		{id: 'c0', file: '/x/a.ko.xz', guestPath: '/m/1/a.ko.xz', params: "greeting='$(reboot)'", isolate: true},
	]);
	const f = join(work, 'init');
	writeFileSync(f, script);
	execFileSync('/bin/busybox', ['sh', '-n', f]);
	const steps = script.split('\n').filter((l) => l.startsWith('step '));
	assert.equal(steps, ["step d0 '/m/0/dep.ko.xz' '' 0", `step c0 '/m/1/a.ko.xz' 'greeting='\\''$(reboot)'\\''' 1`]);
});

test('ensureLoader: gcc -static builds native/loader.c into a static executable (reused on the next call) that reports a failed call in its one parseable line', async () => {
	const dir = mkdtempSync(join(work, 'loader-'));
	const a = await ensureLoader(dir);
	assert.ok(isStaticExecutable(readFileSync(a)), 'static');
	const b = await ensureLoader(dir);
	assert.is(b, a);
	let line = '';
	try {
		execFileSync(a, ['-r', 'kmodpress_no_such_module'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
	} catch (e) {
		line = String((e as {stdout?: string}).stdout);
	}
	// ENOENT outside a sandbox, EPERM without CAP_SYS_MODULE, ENOSYS under a seccomp filter: never success
	assert.match(line, /^LOADER kmodpress_no_such_module rc=-1 errno=(2|1|38) \S/);
});

test('bootAndLoad: a busybox that is missing or dynamic is E_TOOL_MISSING, before QEMU starts', async () => {
	for (const busybox of [join(work, 'no-such-busybox'), '/usr/bin/ls']) {
		try {
			await bootAndLoad({kernelImage: '/boot/vmlinuz-6.12.115+deb12-amd64', cases: [], busybox, loader: join(work, 'none')});
			assert.unreachable('should throw');
		} catch (e) {
			assert.ok(isKmodpressError(e), String(e));
			assert.is((e as {code: string}).code, 'E_TOOL_MISSING', String(e));
			assert.match((e as Error).message, busybox === '/usr/bin/ls' ? /not a static executable/ : /cannot be read/);
		}
	}
});

test.run();
