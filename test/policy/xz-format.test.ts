// Which xz container the kernel's command writes: the installed xz's version decides (policy/xz-format.ts), read
// from the real binaries — bookworm's xz 5.4.1 (run) and trixie's xz 5.8.1 (read from a sysroot; it cannot run with
// bookworm's liblzma) — and the container of real in-tree modules and of real xz output (formats/xz/container.ts).
import {execFileSync, spawnSync} from 'node:child_process';
import {chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {decidePolicy, type PolicyInputs} from '../../src/policy/index.js';
import {xzDefaultFormat} from '../../src/policy/xz-format.js';
import {detectXz, parseXzVersion, type XzTool} from '../../src/target/xz-tool.js';
import {discoverKernel, readKernelFiles, resolveInRoot} from '../../src/target/discover.js';
import {parseKernelConfig} from '../../src/target/kernel-config.js';
import {parseKmodVersion} from '../../src/target/kmod.js';
import {parseModinst} from '../../src/target/kbuild/modinst.js';
import {xzContainer} from '../../src/formats/xz/container.js';
import {DEBIAN_BUILD, DEBIAN_MODDIR} from '../helpers/paths.js';
import {installTrixieXz, makeSysroot, trixieXz} from '../helpers/tree.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
const kmodpress = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {encoding: 'utf8'});
const hostVersion = execFileSync('/usr/bin/xz', ['--version'], {env: {}, encoding: 'utf8'});
const trixieVersion = trixieXz(['--version']).toString();
const tool = (text: string): XzTool => parseXzVersion(text, 'test');

test('the version lines of the real binaries: bookworm 5.4.1, trixie 5.8.1', () => {
	assert.equal(tool(hostVersion).version, [5, 4, 1]);
	assert.is(tool(hostVersion).line, 'xz (XZ Utils) 5.4.1');
	assert.equal(tool(trixieVersion).version, [5, 8, 1]);
	// what a sysroot's binary is read for: the same line is a constant in its bytes
	assert.equal(tool(readFileSync(join(process.env.KMODPRESS_CACHE ?? '/var/cache/kmodpress-test', 'xz-trixie/usr/bin/xz')).toString('latin1')).line, 'xz (XZ Utils) 5.8.1');
	assert.is(tool('lzma (not xz)').version, undefined);
	assert.match(tool('lzma (not xz)').broken!, /no "xz \(XZ Utils\) X\.Y\.Z" line in test/);
});

test('the decision: 5.4.1 → single, 5.6.0 → multi, 5.8.1 → multi, 5.5.1alpha → single, absent → single with why', () => {
	const fmt = (text: string) => xzDefaultFormat(tool(text));
	assert.is(fmt(hostVersion).value, 'single');
	assert.match(fmt(hostVersion).from, /^"xz \(XZ Utils\) 5\.4\.1" from test: xz < 5\.6\.0 defaults to single-threaded mode/);
	assert.is(fmt('xz (XZ Utils) 5.6.0\nliblzma 5.6.0\n').value, 'multi');
	assert.is(fmt(trixieVersion).value, 'multi');
	assert.match(fmt(trixieVersion).from, /"xz \(XZ Utils\) 5\.8\.1" from test: xz >= 5\.6\.0 defaults to multi-threaded mode/);
	assert.is(fmt('xz (XZ Utils) 5.5.1alpha\n').value, 'single');
	assert.is(fmt('xz (XZ Utils) 6.0.0\n').value, 'multi');
	const absent = xzDefaultFormat({version: undefined, line: undefined, from: 'no xz in /usr/sbin, /usr/bin, /sbin, /bin'});
	assert.is(absent.value, 'single');
	assert.match(absent.from, /no xz version to go by \(no xz in \/usr\/sbin, \/usr\/bin, \/sbin, \/bin\): single-threaded format, the default of xz < 5\.6/);
});

test('which xz: the host\'s is run; a sysroot\'s own is read; a sysroot without one falls back to the host\'s, said so', () => {
	const host = detectXz({root: '/', sysroot: false, resolve: (p) => p});
	assert.equal(host.version, [5, 4, 1]);
	assert.is(host.from, '/usr/bin/xz --version');
	const s = makeSysroot();
	try {
		const resolve = (p: string) => resolveInRoot(s.root, p);
		const none = detectXz({root: s.root, sysroot: true, resolve});
		assert.equal(none.version, [5, 4, 1]);
		assert.match(none.from, /^\/usr\/bin\/xz --version \(host; no xz in .*'s \/usr\/sbin, \/usr\/bin, \/sbin, \/bin\)$/);
		installTrixieXz(s.root);
		symlinkSync('usr/bin', join(s.root, 'bin')); // merged /usr: found once, through the fixed directories
		const own = detectXz({root: s.root, sysroot: true, resolve});
		assert.equal(own.version, [5, 8, 1]);
		assert.is(own.from, `${s.root}/usr/bin/xz (its version line, read from the binary: a sysroot's xz is not run)`);
		// a staging image is built on this host: the host's xz writes its modules
		assert.equal(detectXz({root: s.root, sysroot: false, resolve}).version, [5, 4, 1]);
		// broken is told apart from absent
		mkdirSync(join(s.root, 'usr/sbin'), {recursive: true});
		writeFileSync(join(s.root, 'usr/sbin/xz'), '#!/bin/sh\n');
		chmodSync(join(s.root, 'usr/sbin/xz'), 0o755);
		const broken = detectXz({root: s.root, sysroot: true, resolve});
		assert.is(broken.version, undefined);
		assert.match(broken.broken!, /no "xz \(XZ Utils\) X\.Y\.Z" line/);
	} finally {
		s.cleanup();
	}
});

test('the container of real files: Debian 12\'s in-tree modules and xz -T1 are single, xz -T2 and trixie\'s default are multi (offset 13)', () => {
	const inTree = readFileSync(join(DEBIAN_MODDIR, 'kernel/net/key/af_key.ko.xz'));
	assert.is(xzContainer(inTree), 'single');
	const image = execFileSync('/usr/bin/xz', ['-dc'], {input: inTree, maxBuffer: 1 << 28});
	const t1 = execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], {input: image, env: {}});
	const t2 = execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T2', '-c'], {input: image, env: {}});
	const t0 = trixieXz(['--check=crc32', '--lzma2=dict=1MiB', '-c'], image);
	assert.is(xzContainer(t1), 'single');
	assert.is(xzContainer(t2), 'multi');
	assert.is(xzContainer(t0), 'multi');
	// the first difference: offset 12, the block header's size (cmp's byte 13), then its flags at offset 13
	assert.ok(t0.subarray(0, 12).equals(t1.subarray(0, 12)) && t0[12] !== t1[12] && t0[13] === 0xc0 && t1[13] === 0x00);
	assert.is(xzContainer(Buffer.from('not xz')), null);
	assert.is(xzContainer(execFileSync('/usr/bin/xz', ['-c'], {input: Buffer.alloc(0), env: {}})), 'other');
});

const kmod30 = parseKmodVersion('kmod version 30\n+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL\n', 'test');
function inputs(modinstCmd: string, xz: XzTool | undefined, over: Partial<PolicyInputs> = {}): PolicyInputs {
	const config = parseKernelConfig('CONFIG_MODULE_COMPRESS_XZ=y\nCONFIG_MODULE_DECOMPRESS=y\n', '/b/include/config/auto.conf');
	const modinst = parseModinst({modinstText: `suffix-$(CONFIG_MODULE_COMPRESS_XZ) := .xz\n      cmd_xz = ${modinstCmd}\n`, modinstFile: '/b/scripts/Makefile.modinst', topMakefileText: undefined, topMakefileFile: '/b/Makefile', config});
	return {release: '6.12.0-test', version: [6, 12, 0], running: false, config, configSearch: [], modinst, sysfsCompression: undefined, inTree: undefined, kmod: kmod30, xz, ...over};
}

test('decidePolicy: the format lands in params with its source; an explicit -T in the command wins; in-tree differences are told', () => {
	const kernelCmd = '$(XZ) --check=crc32 --lzma2=dict=1MiB -f $<';
	const p = decidePolicy(inputs(kernelCmd, tool(trixieVersion)));
	assert.equal(p.params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32', format: 'multi'});
	assert.match(p.paramSources.format!, /"xz \(XZ Utils\) 5\.8\.1"/);
	assert.equal(decidePolicy(inputs(kernelCmd, tool(hostVersion))).params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32', format: 'single'});
	const t1 = decidePolicy(inputs('$(XZ) --check=crc32 --lzma2=dict=1MiB -T1 -f $<', tool(trixieVersion)));
	assert.is(t1.params?.algorithm === 'xz' && t1.params.format, 'single');
	assert.match(t1.paramSources.format!, /^-T1 \(single-threaded mode\) — \/b\/scripts\/Makefile\.modinst:2/);
	const t4 = decidePolicy(inputs('$(XZ) --check=crc32 --threads=4 -f $<', tool(hostVersion)));
	assert.is(t4.params?.algorithm === 'xz' && t4.params.format, 'multi');
	const broken = decidePolicy(inputs(kernelCmd, {version: undefined, line: undefined, from: '/usr/bin/xz --version', broken: '/usr/bin/xz --version failed: Illegal instruction'}));
	assert.is(broken.params?.algorithm === 'xz' && broken.params.format, 'single');
	assert.ok(broken.warnings.some((w) => w.startsWith('/usr/bin/xz --version failed: Illegal instruction: taking the single-threaded format')), broken.warnings.join('\n'));
	const sid = decidePolicy(inputs(kernelCmd, tool(hostVersion), {inTreeXzFormat: {value: 'multi', from: '/lib/modules/7.2/kernel/net/key/af_key.ko.xz: block flags 0xc0 (offset 13)'}}));
	assert.ok(sid.notes.some((n) => /^the in-tree modules use the multi-threaded format .*af_key\.ko\.xz: block flags 0xc0 .*modules_install here writes the single-threaded format/.test(n)), sid.notes.join('\n'));
	const same = decidePolicy(inputs(kernelCmd, tool(hostVersion), {inTreeXzFormat: {value: 'single', from: 'x'}}));
	assert.not.ok(same.notes.some((n) => n.startsWith('the in-tree modules use')));
});

test('Debian\'s installed 6.12.115: the host xz 5.4.1 decides single, its in-tree modules agree', () => {
	const t = discoverKernel({kernel: '6.12.115+deb12-amd64', buildDir: DEBIAN_BUILD});
	const files = readKernelFiles(t);
	assert.is(files.inTreeXzFormat?.value, 'single');
	assert.match(files.inTreeXzFormat!.from, /\.ko\.xz: block flags 0x00 \(offset 13\)$/);
	assert.equal(files.xz.version, [5, 4, 1]);
});

test('explain (text and --json) on a sysroot whose xz is trixie\'s 5.8.1: multi-threaded, from its version line, in-tree modules differ', () => {
	const s = makeSysroot();
	try {
		installTrixieXz(s.root);
		const text = kmodpress(['explain', '--kernel', s.kv, '--root', s.root, '--build-dir', DEBIAN_BUILD]);
		assert.is(text.status, 0, text.stderr);
		assert.match(text.stdout, /^parameters {4}xz preset 6, LZMA2 dict 1 MiB, check crc32, multi-threaded format$/m);
		assert.match(text.stdout, new RegExp(`^ {16}format = multi: "xz \\(XZ Utils\\) 5\\.8\\.1" from ${s.root}/usr/bin/xz \\(its version line, read from the binary: a sysroot's xz is not run\\): xz >= 5\\.6\\.0 defaults to multi-threaded mode`, 'm'));
		assert.match(text.stdout, /^note: the in-tree modules use the single-threaded format \(xz -T1: one block, no sizes in its header\) \(.*\.ko\.xz: block flags 0x00 \(offset 13\)\)/m);
		const json = kmodpress(['explain', '--kernel', s.kv, '--root', s.root, '--build-dir', DEBIAN_BUILD, '--json']);
		assert.is(json.status, 0, json.stderr);
		const e = JSON.parse(json.stdout);
		assert.is(e.policy.params.format, 'multi');
		assert.match(e.policy.paramSources.format, /"xz \(XZ Utils\) 5\.8\.1"/);
		// the same sysroot without its own xz: the host's 5.4.1 decides, and explain says whose it is
		rmSync(join(s.root, 'usr/bin/xz'));
		const host = JSON.parse(kmodpress(['explain', '--kernel', s.kv, '--root', s.root, '--build-dir', DEBIAN_BUILD, '--json']).stdout);
		assert.is(host.policy.params.format, 'single');
		assert.match(host.policy.paramSources.format, /"xz \(XZ Utils\) 5\.4\.1" from \/usr\/bin\/xz --version \(host; no xz in /);
		assert.not.ok(host.policy.notes.some((n: string) => n.startsWith('the in-tree modules use')), 'no note when they agree');
	} finally {
		s.cleanup();
	}
});

test.run();
