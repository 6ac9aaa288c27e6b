// explain and recompress through the CLI, on Debian's installed kernel files and temp sysroots.
import {execFileSync, spawnSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {cached, DEBIAN_KV} from '../helpers/paths.js';
import {exampleModule, makeSysroot} from '../helpers/tree.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
const kmodpress = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {encoding: 'utf8'});

test('explain --json: Debian 6.12.115 compresses xz, crc32, dict 1 MiB; every part says where it came from', () => {
	const r = kmodpress(['explain', '--kernel', DEBIAN_KV, '--json']);
	assert.is(r.status, 0, r.stderr);
	const e = JSON.parse(r.stdout);
	assert.is(e.kernel.release.value ?? e.kernel.release, DEBIAN_KV);
	assert.is(e.policy.compress.value, true);
	assert.match(e.policy.compress.from, /Makefile\.modinst:\d+/);
	assert.is(e.policy.algorithm.value, 'xz');
	assert.equal(e.policy.params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32', format: 'single'});
	assert.match(e.policy.command.from, /scripts\/Makefile\.modinst:\d+/);
	for (const k of ['check', 'dictSize', 'preset']) assert.type(e.policy.paramSources[k], 'string');
	assert.is(e.policy.decompressor.value.algorithm, 'xz');
	assert.match(e.policy.kmod.from, /kmod --version/);
	const human = kmodpress(['explain', '--kernel', DEBIAN_KV]);
	assert.is(human.status, 0);
	assert.match(human.stdout, /Makefile\.modinst:\d+/);
	const help = kmodpress(['explain', '--help']);
	assert.is(help.status, 0);
	assert.match(help.stdout, /Usage: kmodpress explain/);
});

test('recompress: finds the out-of-tree modules of a kernel (not modules.order\'s), fixes crc64 and twin names, depmod once; --dry-run first changes nothing; a second run changes nothing', () => {
	const s = makeSysroot();
	try {
		const m = exampleModule();
		s.put('updates/dkms/kmodpress_hello.ko.xz', execFileSync('/usr/bin/xz', ['--check=crc64', '-c'], {input: m}));
		const dep = readFileSync(cached('fixtures/current', 'kp_dep.ko'));
		s.put('extra/twin/kp_dep.ko', dep);
		s.put('extra/twin/kp_dep.ko.xz', execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-c'], {input: dep}));
		const inTree = readFileSync(join(s.moduleDir, 'kernel/lib/crc8.ko.xz'));
		const dry = kmodpress(['recompress', '--kernel', s.kv, '--root', s.root, '--dry-run', '--json']);
		assert.is(dry.status, 0, dry.stderr + dry.stdout);
		assert.ok(existsSync(join(s.moduleDir, 'extra/twin/kp_dep.ko')), 'dry run changed nothing');
		const r = kmodpress(['recompress', '--kernel', s.kv, '--root', s.root, '--json']);
		assert.is(r.status, 0, r.stderr + r.stdout);
		const out = JSON.parse(r.stdout);
		const report = out.kernels ? out.kernels[0] : out;
		const paths = report.modules.map((x: {path: string}) => x.path.slice(s.moduleDir.length + 1)).sort();
		assert.equal(paths, ['extra/twin/kp_dep.ko', 'updates/dkms/kmodpress_hello.ko.xz']);
		assert.ok(readFileSync(join(s.moduleDir, 'kernel/lib/crc8.ko.xz')).equals(inTree), 'in-tree modules are not touched');
		assert.match(execFileSync('/usr/bin/xz', ['--robot', '--list', join(s.moduleDir, 'updates/dkms/kmodpress_hello.ko.xz')], {encoding: 'utf8'}), /\tCRC32\t/);
		assert.equal(readdirSync(join(s.moduleDir, 'extra/twin')), ['kp_dep.ko.xz']);
		assert.ok(execFileSync('/usr/bin/xz', ['-dc', join(s.moduleDir, 'extra/twin/kp_dep.ko.xz')]).equals(dep));
		const modulesDep = readFileSync(join(s.moduleDir, 'modules.dep'), 'utf8');
		assert.match(modulesDep, /^updates\/dkms\/kmodpress_hello\.ko\.xz:/m);
		assert.match(modulesDep, /^extra\/twin\/kp_dep\.ko\.xz: kernel\/lib\/crc-itu-t\.ko\.xz$/m);
		const again = kmodpress(['recompress', '--kernel', s.kv, '--root', s.root, '--json']);
		const a = JSON.parse(again.stdout);
		assert.is((a.kernels ? a.kernels[0] : a).changed, 0);
	} finally {
		s.cleanup();
	}
});

test('recompress --dry-run in words: "would recompress", "would compress", never the past tense; nothing changes', () => {
	const s = makeSysroot();
	try {
		const m = exampleModule();
		s.put('updates/dkms/kmodpress_hello.ko.xz', execFileSync('/usr/bin/xz', ['--check=crc64', '-c'], {input: m}));
		s.put('extra/kp_dep.ko', readFileSync(cached('fixtures/current', 'kp_dep.ko')));
		const before = readFileSync(join(s.moduleDir, 'updates/dkms/kmodpress_hello.ko.xz'));
		const dry = kmodpress(['recompress', '--kernel', s.kv, '--root', s.root, '--dry-run']);
		assert.is(dry.status, 0, dry.stderr + dry.stdout);
		assert.match(dry.stdout, /^would recompress +updates\/dkms\/kmodpress_hello\.ko\.xz \(/m, dry.stdout);
		assert.match(dry.stdout, /^would compress +extra\/kp_dep\.ko → extra\/kp_dep\.ko\.xz/m, dry.stdout);
		assert.not.match(dry.stdout, /^(recompressed|compressed|decompressed) /m, dry.stdout);
		assert.match(dry.stdout, /^would change 2, unchanged 0, failed 0$/m, dry.stdout);
		assert.ok(readFileSync(join(s.moduleDir, 'updates/dkms/kmodpress_hello.ko.xz')).equals(before), 'dry run changed nothing');
		assert.ok(existsSync(join(s.moduleDir, 'extra/kp_dep.ko')), 'dry run changed nothing');
	} finally {
		s.cleanup();
	}
});

test.run();
