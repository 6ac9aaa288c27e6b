import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {isKmodpressError} from '../../src/errors.js';
import {parseKernelConfig} from '../../src/target/kernel-config.js';
import {discoverKernel, readKernelFiles} from '../../src/target/discover.js';
import {detectKmod, parseKmodVersion} from '../../src/target/kmod.js';
import {parseModinst} from '../../src/target/kbuild/modinst.js';
import {decidePolicy, type PolicyInputs, policyFromFiles} from '../../src/policy/index.js';
import {DEBIAN_KV} from '../helpers/paths.js';

const kmod30 = parseKmodVersion('kmod version 30\n+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL\n', 'test');
const cfg = (t: string) => parseKernelConfig(t, '/b/include/config/auto.conf');

function inputs(over: Partial<PolicyInputs> & {configText?: string; modinstText?: string}): PolicyInputs {
	const config = over.configText === undefined ? undefined : cfg(over.configText);
	const modinst = over.modinstText === undefined ? undefined
		: parseModinst({modinstText: over.modinstText, modinstFile: '/b/scripts/Makefile.modinst', topMakefileText: undefined, topMakefileFile: '/b/Makefile', config});
	return {release: '6.1.0-test', version: [6, 1, 0], running: false, config, configSearch: [], modinst, sysfsCompression: undefined, inTree: undefined, kmod: kmod30, ...over};
}

const modinst61 = `suffix-y :=
suffix-$(CONFIG_MODULE_COMPRESS_GZIP) := .gz
suffix-$(CONFIG_MODULE_COMPRESS_XZ) := .xz
suffix-$(CONFIG_MODULE_COMPRESS_ZSTD) := .zst
      cmd_gzip = $(KGZIP) -n -f $<
      cmd_xz = $(XZ) --lzma2=dict=2MiB -f $<
      cmd_zstd = $(ZSTD) -T0 --rm -f -q $<
`;

test("Debian's installed 6.12.115: xz, crc32, 1 MiB, the kernel decompresses xz, kmod 30 reads it", async () => {
	const t = discoverKernel({kernel: DEBIAN_KV});
	const p = policyFromFiles(t, readKernelFiles(t), await detectKmod());
	assert.is(p.compress.value, true);
	assert.equal(p.params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32', format: 'single'});
	assert.match(p.algorithm.from, /scripts\/Makefile\.modinst:\d+ suffix-y = \.xz/);
	assert.match(p.paramSources.check!, /--check=crc32 — .*Makefile\.modinst:\d+/);
	assert.is(p.decompressor.value.algorithm, 'xz');
	assert.ok(p.decompressor.value.xzBcj.has('x86'));
	assert.match(p.decompressor.from, /auto\.conf:\d+ CONFIG_MODULE_DECOMPRESS/);
	assert.is(p.kmod.reads, true);
	assert.equal(p.inTree?.counts, {'.ko.xz': 4230});
	assert.equal(p.warnings, []);
});

test('a 6.1 kernel with MODULE_DECOMPRESS: its own crc64 command is corrected to crc32, and explain says why', () => {
	const p = decidePolicy(inputs({configText: 'CONFIG_MODULE_COMPRESS_XZ=y\nCONFIG_MODULE_DECOMPRESS=y\n', modinstText: modinst61}));
	assert.equal(p.params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 2 << 20, check: 'crc32', format: 'single'});
	assert.match(p.paramSources.check!, /changed from crc64 .* status 6/);
	// Without in-kernel decompression kmod's liblzma reads crc64: the kernel's own command is kept byte for byte.
	const q = decidePolicy(inputs({configText: 'CONFIG_MODULE_COMPRESS_XZ=y\n', modinstText: modinst61}));
	assert.is(q.params?.algorithm === 'xz' && q.params.check, 'crc64');
});

test('refuses, before touching anything, a suffix the installed kmod cannot read (Debian 12 kmod: -ZLIB)', () => {
	try {
		decidePolicy(inputs({configText: 'CONFIG_MODULE_COMPRESS_GZIP=y\n', modinstText: modinst61}));
		assert.unreachable('should throw');
	} catch (e) {
		assert.ok(isKmodpressError(e));
		assert.is(e.code, 'E_POLICY_KMOD_CANNOT_READ');
		assert.match(e.message, /without ZLIB .*modules\.dep/);
		assert.match(e.fix!, /rebuild kmod with gzip support/);
	}
	// --compress none is the way out, and then nothing needs reading.
	const p = decidePolicy(inputs({configText: 'CONFIG_MODULE_COMPRESS_GZIP=y\n', modinstText: modinst61, overrides: {compress: {value: 'none', from: '--compress none'}}}));
	assert.is(p.compress.value, false);
});

test('no build tree: the fallback table by version, said so', () => {
	const p = decidePolicy(inputs({release: '6.12.9-x', version: [6, 12, 9], configText: 'CONFIG_MODULE_COMPRESS_ZSTD=y\nCONFIG_MODULE_COMPRESS_ALL=y\nCONFIG_MODULE_DECOMPRESS=y\n'}));
	assert.is(p.algorithm.value, 'zstd');
	assert.match(p.command!.from, /fallback table \(kernel 6\.12\+\)/);
	assert.ok(p.notes.some((n) => /fallback table/.test(n)));
	assert.is(p.decompressor.value.algorithm, 'zstd');
	const none = decidePolicy(inputs({release: '6.12.9-x', version: [6, 12, 9], configText: 'CONFIG_MODULE_COMPRESS_ZSTD=y\n'}));
	assert.is(none.compress.value, false);
	assert.match(none.compress.from, /MODULE_COMPRESS_ALL not set/);
	const forced = decidePolicy(inputs({release: '6.12.9-x', version: [6, 12, 9], configText: 'CONFIG_MODULE_COMPRESS_ZSTD=y\n', overrides: {compress: {value: 'force', from: '--compress force'}}}));
	assert.is(forced.algorithm.value, 'zstd');
	assert.is(forced.params?.algorithm, 'zstd');
	// zstd before 6.2 is never decompressed in the kernel, whatever the config says
	const old = decidePolicy(inputs({release: '6.1.0', version: [6, 1, 0], configText: 'CONFIG_MODULE_COMPRESS_ZSTD=y\nCONFIG_MODULE_DECOMPRESS=y\n', modinstText: modinst61}));
	assert.is(old.decompressor.value.algorithm, null);
});

test('the running kernel: /sys/module/compression wins over the config, with a warning', () => {
	const p = decidePolicy(inputs({running: true, configText: 'CONFIG_MODULE_COMPRESS_XZ=y\n', modinstText: modinst61, sysfsCompression: {value: 'xz', from: '/sys/module/compression'}}));
	assert.is(p.decompressor.value.algorithm, 'xz');
	assert.is(p.decompressor.from, '/sys/module/compression');
	assert.ok(p.warnings.some((w) => /running kernel wins/.test(w)));
	// and it makes the crc64 correction apply
	assert.is(p.params?.algorithm === 'xz' && p.params.check, 'crc32');
});

test('discovery: a staging image (${ED}) has no kernel of its own; the target root\'s (default /) build dir and config describe it', () => {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-root-'));
	try {
		mkdirSync(join(dir, 'lib/modules', DEBIAN_KV, 'extra'), {recursive: true});
		const t = discoverKernel({kernel: DEBIAN_KV, root: dir, env: {}});
		assert.is(t.stagingImage, true);
		assert.is(t.running, false);
		assert.equal(t.targetRoot, {value: '/', from: 'default (no --target-root, $EROOT or $ROOT)'});
		assert.match(t.buildDir!.from, /\(target root \/; not in --root\)/);
		const p = policyFromFiles(t, readKernelFiles(t), kmod30);
		assert.is(p.algorithm.value, 'xz');
		// a sysroot whose build link is absolute is resolved inside the root
		mkdirSync(join(dir, 'lib/modules', DEBIAN_KV, 'kernel'), {recursive: true});
		mkdirSync(join(dir, 'usr/src/hdr/include/config'), {recursive: true});
		writeFileSync(join(dir, 'usr/src/hdr/include/config/auto.conf'), 'CONFIG_MODULE_COMPRESS_ZSTD=y\nCONFIG_MODULE_COMPRESS_ALL=y\n');
		symlinkSync('/usr/src/hdr', join(dir, 'lib/modules', DEBIAN_KV, 'build'));
		const s = discoverKernel({kernel: DEBIAN_KV, root: dir});
		assert.is(s.stagingImage, false);
		assert.is(s.buildDir!.value, join(dir, 'usr/src/hdr'));
		const sp = policyFromFiles(s, readKernelFiles(s), kmod30);
		assert.is(sp.algorithm.value, 'zstd');
	} finally {
		rmSync(dir, {recursive: true, force: true});
	}
});

test('release from $KV_FULL, then $kernelver, then uname -r; a bad one is a usage error', () => {
	assert.equal(discoverKernel({env: {KV_FULL: DEBIAN_KV, kernelver: 'x'}}).release, {value: DEBIAN_KV, from: '$KV_FULL'});
	assert.equal(discoverKernel({env: {kernelver: DEBIAN_KV}}).release, {value: DEBIAN_KV, from: '$kernelver'});
	assert.is(discoverKernel({env: {}, runningRelease: DEBIAN_KV}).release.from, 'uname -r');
	assert.is(discoverKernel({env: {}, runningRelease: DEBIAN_KV}).running, true);
	assert.throws(() => discoverKernel({kernel: '../../etc'}), (e: unknown) => isKmodpressError(e) && e.code === 'E_USAGE');
});

test.run();
