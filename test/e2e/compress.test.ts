// The main job end to end, through the CLI as a package manager calls it, on temp sysroots holding Debian's real
// in-tree modules and the example module built against Debian's headers.
import {execFileSync, spawnSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {exampleModule, makeSysroot} from '../helpers/tree.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
function kmodpress(args: string[], env: NodeJS.ProcessEnv = {}) {
	const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {encoding: 'utf8', env: {...process.env, ...env}});
	return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}
const xzInfo = (file: string) => execFileSync('/usr/bin/xz', ['--robot', '--list', file], {encoding: 'utf8'});
const unxz = (file: string) => execFileSync('/usr/bin/xz', ['-dc', file], {maxBuffer: 1 << 30});

test('compress: a plain .ko becomes .ko.xz byte-identical to the kernel\'s own xz command, depmod lists it, a second run changes nothing', () => {
	const s = makeSysroot();
	try {
		const ko = s.put('extra/kmodpress_hello.ko', exampleModule());
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json', join(s.moduleDir, 'extra')]);
		assert.is(r.code, 0, r.stderr + r.stdout);
		const report = JSON.parse(r.stdout);
		assert.is(report.modules.length, 1);
		assert.is(report.modules[0].outcome, 'compressed');
		assert.ok(!existsSync(ko), 'the .ko name is gone');
		const xz = `${ko}.xz`;
		// byte-identical to `xz --check=crc32 --lzma2=dict=1MiB -T1`
		const cli = execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], {input: exampleModule(), env: {PATH: '/usr/bin:/bin'}});
		assert.ok(readFileSync(xz).equals(cli), 'same bytes as the xz CLI with the kernel\'s options');
		assert.match(xzInfo(xz), /\tCRC32\t/);
		assert.ok(unxz(xz).equals(exampleModule()));
		assert.is(report.depmod.ran, true);
		assert.equal(report.depmod.missing, []);
		assert.match(readFileSync(join(s.moduleDir, 'modules.dep'), 'utf8'), /^extra\/kmodpress_hello\.ko\.xz:/m);
		assert.is(statSync(xz).mode & 0o777, 0o644);
		const before = readFileSync(xz);
		const again = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, join(s.moduleDir, 'extra')]);
		assert.is(again.code, 0, again.stderr);
		assert.match(again.stdout, /changed 0, unchanged 1, failed 0 — nothing to do/);
		assert.ok(readFileSync(xz).equals(before));
		assert.equal(readdirSync(join(s.moduleDir, 'extra')), ['kmodpress_hello.ko.xz']);
	} finally {
		s.cleanup();
	}
});

test('compress: a signed module keeps its signature inside the payload; a signature appended after compression is refused', () => {
	const s = makeSysroot();
	try {
		const signed = exampleModule('signed');
		const ko = s.put('updates/dkms/kmodpress_hello.ko', signed);
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--no-depmod', ko]);
		assert.is(r.code, 0, r.stderr + r.stdout);
		const out = unxz(`${ko}.xz`);
		assert.ok(out.equals(signed), 'decompressed bytes are the signed module, trailer included');
		assert.is(out.subarray(out.length - 28).toString('latin1'), '~Module signature appended~\n');
		// sign-file run on the .ko.xz (the classic mistake) appends a trailer after the xz stream
		const bad = Buffer.concat([readFileSync(`${ko}.xz`), signed.subarray(exampleModule().length)]);
		const badPath = s.put('extra/bad.ko.xz', bad);
		const r2 = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--no-depmod', badPath]);
		assert.is(r2.code, 1);
		assert.match(r2.stdout, /E_SIG_AFTER_COMPRESSION/);
		assert.ok(readFileSync(badPath).equals(bad), 'left byte-identical');
	} finally {
		s.cleanup();
	}
});

test('compress: a crc64 xz module (xz default, old DKMS) is recompressed to crc32; its content is unchanged', () => {
	const s = makeSysroot();
	try {
		const crc64 = execFileSync('/usr/bin/xz', ['-c', '-T1'], {input: exampleModule()});
		const p = s.put('updates/dkms/kmodpress_hello.ko.xz', crc64);
		assert.match(xzInfo(p), /\tCRC64\t/);
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json', p]);
		assert.is(r.code, 0, r.stderr + r.stdout);
		const m = JSON.parse(r.stdout).modules[0];
		assert.is(m.outcome, 'recompressed');
		assert.match(m.reason, /status 6/);
		assert.match(xzInfo(p), /\tCRC32\t/);
		assert.ok(unxz(p).equals(exampleModule()));
	} finally {
		s.cleanup();
	}
});

test('compress: bad input gets one line naming the file, exit 1, the file untouched, the neighbours still processed', () => {
	const s = makeSysroot();
	try {
		const good = s.put('extra/kmodpress_hello.ko', exampleModule());
		const trunc = s.put('extra/truncated.ko', exampleModule().subarray(0, 1000));
		const text = s.put('extra/notelf.ko', 'this is not a module\n');
		const empty = s.put('extra/empty.ko', '');
		const corrupt = s.put('extra/corrupt.ko.xz', Buffer.concat([execFileSync('/usr/bin/xz', ['-c', '--check=crc32'], {input: exampleModule()}).subarray(0, 5000)]));
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--no-depmod', join(s.moduleDir, 'extra')]);
		assert.is(r.code, 1, r.stdout + r.stderr);
		for (const [p, code] of [[trunc, 'E_ELF'], [text, 'E_ELF_NOT_ELF'], [empty, 'E_INPUT_EMPTY'], [corrupt, 'E_CODEC']] as const) {
			const line = r.stdout.split('\n').find((l) => l.includes(p.slice(s.moduleDir.length + 1)) && l.startsWith('FAILED'));
			assert.ok(line, `a FAILED line for ${p}:\n${r.stdout}`);
			assert.match(line!, new RegExp(code));
		}
		assert.ok(readFileSync(trunc).equals(exampleModule().subarray(0, 1000)));
		assert.is(readFileSync(text, 'utf8'), 'this is not a module\n');
		assert.is(readFileSync(empty).length, 0);
		assert.ok(!existsSync(good));
		assert.ok(existsSync(`${good}.xz`));
	} finally {
		s.cleanup();
	}
});

test('compress: a staging image (${ED}) is compressed without depmod, and the report says so', () => {
	const s = makeSysroot({staging: true});
	try {
		s.put('extra/kmodpress_hello.ko', exampleModule());
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--json']);
		assert.is(r.code, 0, r.stderr + r.stdout);
		const report = JSON.parse(r.stdout);
		assert.is(report.modules[0].outcome, 'compressed');
		assert.is(report.depmod.ran, false);
		assert.match(report.depmod.reason, /staging image/);
		assert.ok(!existsSync(join(s.moduleDir, 'modules.dep')));
	} finally {
		s.cleanup();
	}
});

test('compress: XZ_OPT, XZ_DEFAULTS, ZSTD_CLEVEL, GZIP in the environment change nothing', () => {
	const s = makeSysroot({staging: true});
	try {
		const ko = s.put('extra/kmodpress_hello.ko', exampleModule());
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, ko], {XZ_OPT: '-9e --check=crc64', XZ_DEFAULTS: '-0', ZSTD_CLEVEL: '19', GZIP: '-1'});
		assert.is(r.code, 0, r.stderr);
		const cli = execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], {input: exampleModule(), env: {PATH: '/usr/bin:/bin'}});
		assert.ok(readFileSync(`${ko}.xz`).equals(cli));
	} finally {
		s.cleanup();
	}
});

test('compress --dry-run changes nothing and says what it would do', () => {
	const s = makeSysroot();
	try {
		const ko = s.put('extra/kmodpress_hello.ko', exampleModule());
		const r = kmodpress(['compress', '--kernel', s.kv, '--root', s.root, '--dry-run', ko]);
		assert.is(r.code, 0, r.stderr);
		assert.match(r.stdout, /^would compress +extra\/kmodpress_hello\.ko → extra\/kmodpress_hello\.ko\.xz/m, r.stdout);
		assert.ok(readFileSync(ko).equals(exampleModule()));
		assert.ok(!existsSync(`${ko}.xz`));
	} finally {
		s.cleanup();
	}
});

test.run();
