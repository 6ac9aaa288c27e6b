// The whole of Debian's installed 6.12 tree through the verifier: every module loadable with its dependencies, no
// warning or error at all (a false alarm here would be a false alarm on every Debian machine). And the same report
// whichever thread decodes and analyses each module.
import {spawnSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';

test('verify /lib/modules/6.12.115+deb12-amd64/kernel: 4230 modules, all loadable, no false alarm', () => {
	const started = Date.now();
	const r = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts'), 'verify', '--kernel', DEBIAN_KV, '--json', join(DEBIAN_MODDIR, 'kernel')],
		{encoding: 'utf8', maxBuffer: 1 << 28});
	assert.is(r.status, 0, r.stderr.slice(0, 2000));
	const report = JSON.parse(r.stdout) as {modules: {path: string; module: string; loadable: boolean; depends: string[]; findings: {code: string; severity: string; message: string}[]}[]; errors: unknown[]};
	assert.equal(report.errors, []);
	assert.ok(report.modules.length >= 4000, `${report.modules.length} modules`);
	const alarms = report.modules.filter((m) => m.findings.some((f) => f.severity !== 'info'));
	assert.equal(alarms.slice(0, 5).map((m) => [m.path, m.findings]), []);
	assert.ok(report.modules.every((m) => m.loadable));
	// Debian signs every module with the key built into /boot/vmlinuz-KV, which a codec worker decodes and scans
	const unmatched = report.modules.filter((m) => !m.findings.some((f) => f.code === 'SIG_OK' && f.message.includes(`/boot/vmlinuz-${DEBIAN_KV} (built-in certificate`)));
	assert.equal(unmatched.slice(0, 5).map((m) => [m.path, m.findings]), []);
	// every module's dependency chain equals depmod's modules.dep line (as sets)
	const name = (p: string) => p.slice(p.lastIndexOf('/') + 1).replace(/\.ko.*$/, '').replace(/-/g, '_');
	const depmod = new Map<string, string>();
	for (const line of readFileSync(join(DEBIAN_MODDIR, 'modules.dep'), 'utf8').split('\n')) {
		const i = line.indexOf(':');
		if (i > 0) depmod.set(name(line.slice(0, i)), line.slice(i + 1).trim().split(/\s+/).filter(Boolean).map(name).sort().join(' '));
	}
	const differ = report.modules.filter((m) => depmod.get(m.module) !== [...m.depends].sort().join(' '));
	assert.equal(differ.slice(0, 5).map((m) => [m.module, m.depends, depmod.get(m.module)]), []);
	const ext4 = report.modules.find((m) => m.module === 'ext4')!;
	assert.equal([...ext4.depends].sort(), ['crc16', 'jbd2', 'mbcache']);
	console.log(`verified ${report.modules.length} modules in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('the same report wherever each module is decoded: this thread alone, this thread and one worker, two workers, without the native xz decoder', () => {
	// kernel/fs and kernel/net: 600+ modules that use each other's symbols
	const run = (threads: string, env: Record<string, string> = {}) => {
		const r = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts'), 'verify', '--kernel', DEBIAN_KV, '--json', '--threads', threads,
			join(DEBIAN_MODDIR, 'kernel/fs'), join(DEBIAN_MODDIR, 'kernel/net')], {encoding: 'utf8', maxBuffer: 1 << 28, env: {...process.env, ...env}});
		assert.is(r.status, 0, r.stderr.slice(0, 2000));
		return r.stdout;
	};
	const lanes = run('2');
	const report = JSON.parse(lanes) as {modules: {module: string; depends: string[]}[]};
	assert.ok(report.modules.length > 600, `${report.modules.length} modules`);
	assert.ok(report.modules.some((m) => m.depends.length > 0));
	assert.fixture(run('1'), lanes);
	assert.fixture(run('3'), lanes);
	assert.fixture(run('2', {KMODPRESS_NO_NATIVE_XZ: '1'}), lanes);
});

test.run();
