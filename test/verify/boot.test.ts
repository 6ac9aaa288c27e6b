// `kmodpress verify --boot`: Debian's own kernel, booted under QEMU, loads what verify predicts loadable and refuses
// the rest, for the same files, with and without signature enforcement.
import {execFileSync, spawnSync} from 'node:child_process';
import {copyFileSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {cached, DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {exampleModule} from '../helpers/tree.js';
import {patchSectionSize} from '../helpers/patch.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
interface BootReport {modules: {path: string; loadable: boolean}[]; boot: {results: {path: string; predicted: boolean; loaded: boolean; agrees: boolean; errno: string; message: string[]}[]; summary: string}}

function bootVerify(files: string[], extra: string[] = []): BootReport {
	const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'verify', '--kernel', DEBIAN_KV, '--boot', '--json', ...extra, ...files], {encoding: 'utf8', timeout: 300_000});
	try {
		return JSON.parse(r.stdout) as BootReport;
	} catch {
		throw new Error(`no JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
	}
}

test('Debian 6.12 booted in QEMU agrees with verify: clean, dependency, unknown symbol, crc64 xz, signed Debian module', () => {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-boot-'));
	try {
		copyFileSync(cached('fixtures/current', 'kp_dep.ko'), join(dir, 'kp_dep.ko'));
		copyFileSync(cached('fixtures/current', 'kp_unknown.ko'), join(dir, 'kp_unknown.ko'));
		writeFileSync(join(dir, 'kmodpress_hello.ko.xz'), execFileSync('/usr/bin/xz', ['--check=crc64', '-c'], {input: exampleModule()}));
		copyFileSync(join(DEBIAN_MODDIR, 'kernel/lib/crc8.ko.xz'), join(dir, 'crc8.ko.xz'));
		const arm = Buffer.from(exampleModule());
		arm.writeUInt16LE(183, 18); // EM_AARCH64
		execFileSync('/usr/bin/mkdir', ['-p', join(dir, 'arm'), join(dir, 'size')]);
		writeFileSync(join(dir, 'arm/kmodpress_hello.ko'), arm);
		writeFileSync(join(dir, 'size/kmodpress_hello.ko'), patchSectionSize(exampleModule(), '.gnu.linkonce.this_module', -64));
		const files = ['kp_dep.ko', 'kp_unknown.ko', 'kmodpress_hello.ko.xz', 'crc8.ko.xz', 'arm/kmodpress_hello.ko', 'size/kmodpress_hello.ko'].map((f) => join(dir, f));
		const r = bootVerify(files);
		assert.equal(r.boot.results.map((x) => [x.loaded, x.predicted]), [[true, true], [false, false], [false, false], [true, true], [false, false], [false, false]], JSON.stringify(r.boot.results, null, 1));
		assert.equal(r.boot.results.slice(4).map((x) => x.errno), ['ENOEXEC', 'ENOEXEC']);
		assert.match(r.boot.results[1]!.message.join('\n'), /Unknown symbol kmodpress_no_such_symbol/);
		assert.match(r.boot.results[2]!.message.join('\n'), /decompression failed with status 6/);
		assert.match(r.boot.summary, /agrees with every prediction/);
	} finally {
		rmSync(dir, {recursive: true, force: true});
	}
});

test('with module.sig_enforce=1: unsigned and foreign-key modules refused as predicted, Debian\'s signed module loads', () => {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-boot-'));
	try {
		writeFileSync(join(dir, 'kmodpress_hello.ko'), exampleModule());
		const foreign = join(dir, 'foreign');
		execFileSync('/usr/bin/mkdir', [foreign]);
		writeFileSync(join(foreign, 'kmodpress_hello.ko'), exampleModule('signed'));
		copyFileSync(join(DEBIAN_MODDIR, 'kernel/lib/crc8.ko.xz'), join(dir, 'crc8.ko.xz'));
		const files = [join(dir, 'kmodpress_hello.ko'), join(foreign, 'kmodpress_hello.ko'), join(dir, 'crc8.ko.xz')];
		// verify reads the kernel's trusted key from /boot/vmlinuz-KV: the test key is not among them
		const r = bootVerify(files, ['--sig-enforce']);
		const got = r.boot.results.map((x) => [x.loaded, x.errno]);
		assert.equal(got[0], [false, 'EKEYREJECTED']);
		assert.match(r.boot.results[0]!.message.join('\n'), /Loading of unsigned module is rejected/);
		assert.equal(got[1], [false, 'EKEYREJECTED']);
		assert.match(r.boot.results[1]!.message.join('\n'), /Loading of module with unavailable key is rejected/);
		assert.equal(got[2], [true, '']);
		assert.equal(r.boot.results.map((x) => x.agrees), [true, true, true], JSON.stringify(r.modules));
	} finally {
		rmSync(dir, {recursive: true, force: true});
	}
});

test.run();
