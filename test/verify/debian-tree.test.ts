// The whole of Debian's installed 6.12 tree through the verifier: every module loadable with its dependencies, no
// warning or error at all (a false alarm here would be a false alarm on every Debian machine).
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

test.run();
