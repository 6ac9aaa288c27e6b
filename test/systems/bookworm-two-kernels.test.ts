// Debian 12 with its own kernel 6.1 (MODULE_COMPRESS_NONE, plain in-tree .ko) installed beside 6.12 (xz): one
// merged-/usr sysroot with both, each with out-of-tree modules, through `recompress --all-kernels` and explain.
// 6.1 comes from bookworm's linux-image-6.1.0-N-amd64 and linux-headers (test/helpers/debian-kernel.ts, uncached
// ~35 s for ~85 MB), 6.12 from the host's installed tree (a few in-tree modules, modules.order, modules.builtin*).
import {execFileSync, spawnSync} from 'node:child_process';
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {copyRoot, debianKernel} from '../helpers/debian-kernel.js';
import {DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {exampleModule, IN_TREE} from '../helpers/tree.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
const kmodpress = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {encoding: 'utf8', maxBuffer: 1 << 26, timeout: 300_000});

const old = debianKernel({suite: 'bookworm', image: /^linux-image-6\.1\.0-\d+-amd64$/});
if (old.fetchSeconds > 0) console.log(`fetched and unpacked ${old.packages.join(' ')} in ${old.fetchSeconds.toFixed(1)} s`);
const KV61 = old.kv;

/** The sysroot: bookworm's 6.1 packages as dpkg installs them, and the host's 6.12 beside it (as makeSysroot builds it). */
function twoKernels() {
	const t = copyRoot(old);
	const dir612 = join(t.root, 'usr/lib/modules', DEBIAN_KV);
	mkdirSync(dir612, {recursive: true});
	for (const rel of IN_TREE) {
		mkdirSync(dirname(join(dir612, rel)), {recursive: true});
		copyFileSync(join(DEBIAN_MODDIR, rel), join(dir612, rel));
	}
	writeFileSync(join(dir612, 'modules.order'), IN_TREE.map((p) => p.replace(/\.xz$/, '')).join('\n') + '\n');
	for (const f of ['modules.builtin', 'modules.builtin.modinfo']) copyFileSync(join(DEBIAN_MODDIR, f), join(dir612, f));
	execFileSync('/sbin/depmod', ['-b', t.root, DEBIAN_KV]);
	return {...t, dir61: join(t.root, 'usr/lib/modules', KV61), dir612};
}

/** Take an in-tree module out of 6.1's tree (and modules.order) into extra/, as a package built for 6.1 would put it. */
function moveOut(dir61: string, rel: string, to: string): Buffer {
	renameSync(join(dir61, rel), join(dir61, to));
	const order = readFileSync(join(dir61, 'modules.order'), 'utf8').split('\n');
	writeFileSync(join(dir61, 'modules.order'), order.filter((l) => l !== rel).join('\n'));
	return readFileSync(join(dir61, to));
}

test('explain: 6.1 does not compress (CONFIG_MODULE_COMPRESS_NONE, plain in-tree modules), 6.12 compresses xz crc32, each from its own kbuild', () => {
	const t = twoKernels();
	try {
		const e61 = JSON.parse(kmodpress(['explain', '--root', t.root, '--kernel', KV61, '--json']).stdout);
		assert.is(e61.kernel.moduleDir, t.dir61);
		assert.is(e61.policy.compress.value, false, JSON.stringify(e61.policy.compress));
		// 6.1's Makefile.modinst: suffix-y := (empty) unless a CONFIG_MODULE_COMPRESS_{GZIP,XZ,ZSTD} is set, and none is
		assert.match(e61.policy.compress.from, /usr\/src\/linux-headers-6\.1\.0-\d+-amd64\/scripts\/Makefile\.modinst:\d+ suffix-y is empty$/);
		assert.is(e61.policy.decompressor.value.algorithm, null, JSON.stringify(e61.policy.decompressor));
		assert.match(readFileSync(join(t.root, 'boot', `config-${KV61}`), 'utf8'), /^CONFIG_MODULE_COMPRESS_NONE=y$/m);
		const human61 = kmodpress(['explain', '--root', t.root, '--kernel', KV61]).stdout;
		assert.match(human61, /^compress\s+no\b/m);
		assert.match(human61, /in-tree modules: \d{4} \*\.ko\b/);

		const e612 = JSON.parse(kmodpress(['explain', '--root', t.root, '--kernel', DEBIAN_KV, '--json']).stdout);
		assert.is(e612.kernel.moduleDir, t.dir612);
		assert.is(e612.policy.compress.value, true);
		assert.equal(e612.policy.params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32', format: 'single'}); // bookworm's xz 5.4.1: single-threaded
		assert.match(e612.policy.command.from, /Makefile\.modinst:\d+ cmd: \$\(XZ\) --check=crc32 --lzma2=dict=1MiB/);
	} finally {
		t.cleanup();
	}
});

test('recompress --all-kernels: the module for 6.1 stays a plain .ko (a crc64 .ko.xz that kmod reads is kept: plan.ts), the same package\'s module for 6.12 becomes a CRC32 .ko.xz as 6.12\'s `xz` writes it; each modules.dep lists its own', () => {
	const t = twoKernels();
	try {
		// for 6.1: one plain module, one that a package compressed although 6.1 does not (crc64 xz)
		mkdirSync(join(t.dir61, 'extra'), {recursive: true});
		const omfs = moveOut(t.dir61, 'kernel/fs/omfs/omfs.ko', 'extra/omfs.ko');
		const crc8 = moveOut(t.dir61, 'kernel/lib/crc8.ko', 'extra/crc8.ko');
		const crc8xz = execFileSync('/usr/bin/xz', ['--check=crc64', '-c'], {input: crc8});
		writeFileSync(join(t.dir61, 'extra/crc8.ko.xz'), crc8xz);
		execFileSync('/bin/rm', [join(t.dir61, 'extra/crc8.ko')]);
		// for 6.12: the example module, plain, as kbuild's modules_install leaves it before cmd_xz
		const hello = exampleModule();
		mkdirSync(join(t.dir612, 'extra'), {recursive: true});
		writeFileSync(join(t.dir612, 'extra/kmodpress_hello.ko'), hello);

		const r = kmodpress(['recompress', '--all-kernels', '--root', t.root, '--json']);
		assert.is(r.status, 0, r.stderr + r.stdout);
		const out = JSON.parse(r.stdout);
		assert.ok(Array.isArray(out.kernels), r.stdout.slice(0, 500));
		const kernels = (out.kernels as {kernel: string; changed: number; modules: {path: string}[]}[]);
		assert.equal(kernels.map((k) => [k.kernel, k.changed]), [[KV61, 0], [DEBIAN_KV, 1]]);

		assert.equal(readdirSync(join(t.dir61, 'extra')).sort(), ['crc8.ko.xz', 'omfs.ko']);
		assert.ok(readFileSync(join(t.dir61, 'extra/omfs.ko')).equals(omfs), 'the plain 6.1 module is untouched');
		assert.ok(readFileSync(join(t.dir61, 'extra/crc8.ko.xz')).equals(crc8xz), 'kmod 30 decompresses it in userspace (6.1 has no MODULE_DECOMPRESS): kept');
		const k61 = kernels[0]!;
		const why = (k: typeof k61, name: string) => JSON.stringify(k.modules.find((m) => m.path.endsWith(name)));
		assert.match(why(k61, 'extra/omfs.ko'), /the kernel installs modules uncompressed/);
		assert.match(why(k61, 'extra/crc8.ko.xz'), /uncompressed, and this xz module is readable as it is/);
		const dep61 = readFileSync(join(t.dir61, 'modules.dep'), 'utf8');
		assert.match(dep61, /^extra\/omfs\.ko: kernel\/lib\/crc-itu-t\.ko$/m);
		assert.match(dep61, /^extra\/crc8\.ko\.xz:$/m);

		assert.equal(readdirSync(join(t.dir612, 'extra')), ['kmodpress_hello.ko.xz']);
		const xz = readFileSync(join(t.dir612, 'extra/kmodpress_hello.ko.xz'));
		assert.is(xz.readUInt8(7), 0x01, 'CRC32 (xz stream flags)');
		assert.ok(execFileSync('/usr/bin/xz', ['-dc'], {input: xz}).equals(hello));
		const k612 = kernels[1]!;
		assert.match(why(k612, 'kmodpress_hello.ko.xz') + why(k612, 'kmodpress_hello.ko'), /xz as the kernel's modules_install does/);
		// what 6.12's `make modules_install` writes: cmd_xz with this host's xz
		assert.ok(xz.equals(execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-c'], {input: hello})), 'byte-identical to the host xz');
		assert.match(readFileSync(join(t.dir612, 'modules.dep'), 'utf8'), /^extra\/kmodpress_hello\.ko\.xz:/m);

		// bookworm's 6.1 booted under QEMU loads the plain module after its in-tree dependency, as verify predicts
		// (the kept .ko.xz is not booted: the lab's loader always passes MODULE_INIT_COMPRESSED_FILE, which 6.1
		// refuses, where kmod decompresses in userspace)
		const started = Date.now();
		const boot = JSON.parse(kmodpress(['verify', '--root', t.root, '--kernel', KV61, '--boot', '--json', join(t.dir61, 'extra/omfs.ko')]).stdout);
		console.log(`verify --boot of ${KV61}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
		assert.is(boot.boot.kernelImage, join(t.root, 'boot', `vmlinuz-${KV61}`));
		assert.equal(boot.boot.results.map((x: {module: string; predicted: boolean; loaded: boolean}) => [x.module, x.predicted, x.loaded]), [['omfs', true, true]], JSON.stringify(boot.boot.results));

		const again = JSON.parse(kmodpress(['recompress', '--all-kernels', '--root', t.root, '--json']).stdout);
		assert.equal((again.kernels as {changed: number}[]).map((k) => k.changed), [0, 0], 'a second run changes nothing');
		assert.ok(existsSync(join(t.dir612, 'extra/kmodpress_hello.ko.xz')));
	} finally {
		t.cleanup();
	}
});

test.run();
