// Debian sid's Linux 7.x exactly as its packages install it (test/helpers/debian-kernel.ts): split packages
// (linux-binary-, linux-modules-, linux-base-KV), merged /usr (modules and the image under usr/lib/modules/KV, no
// /boot), headers whose scripts link into linux-kbuild-X. explain, verify, recompress and verify --boot on that tree.
// Uncached: ~55 s to fetch (~140 MB) and unpack, plus depmod; cached: the tests themselves (the boot ~1-2 min on TCG).
import {execFileSync, spawnSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ElfFile} from '../../src/elf/reader.js';
import {copyRoot, debianKernel} from '../helpers/debian-kernel.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
const kmodpress = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {encoding: 'utf8', maxBuffer: 1 << 26, timeout: 600_000});

const sid = debianKernel({suite: 'sid', image: /^linux-image-\d+\.\d+\.\d+\+deb\d+-amd64$/});
if (sid.fetchSeconds > 0) console.log(`fetched and unpacked ${sid.packages.join(' ')} in ${sid.fetchSeconds.toFixed(1)} s`);
const KV = sid.kv;
const modDir = (root: string) => join(root, 'usr/lib/modules', KV);
// a v4l2 i2c driver (needs videodev, which needs mc) and a library module with no dependency
const ADV = 'kernel/drivers/media/i2c/adv7170.ko.xz';
const CRC8 = 'kernel/lib/crc/crc8.ko.xz';

interface VerifyJson {modules: {path: string; module: string; loadable: boolean; depends: string[]; findings: {code: string; severity: string; message: string}[]}[]; sources: Record<string, string>; errors: unknown[]}
const verify = (root: string, files: string[], extra: string[] = []): VerifyJson => {
	const r = kmodpress(['verify', '--root', root, '--kernel', KV, '--json', ...extra, ...files]);
	try {
		return JSON.parse(r.stdout) as VerifyJson;
	} catch {
		throw new Error(`no JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
	}
};

const MARKER = '~Module signature appended~\n';

/** The module without Debian's signature (include/linux/module_signature.h: PKCS#7, then struct module_signature,
 * 12 bytes ending in sig_len big-endian, then the marker). Unsigned loads on this kernel (no MODULE_SIG_FORCE, a
 * taint); a signature that no longer matches the bytes would be refused before BTF is looked at (module_sig_check). */
function unsign(ko: Buffer): Buffer {
	assert.is(ko.subarray(ko.length - MARKER.length).toString('latin1'), MARKER);
	const info = ko.length - MARKER.length - 12;
	return ko.subarray(0, info - ko.readUInt32BE(info + 8));
}

/** The module, unsigned, with its .BTF header's version byte changed: btf_parse_module() rejects it ("Unsupported version"). */
function breakBtf(ko: Buffer): Buffer {
	const out = Buffer.from(unsign(ko));
	const btf = new ElfFile(out, 'adv7170.ko').section('.BTF')!;
	assert.is(out.readUInt16LE(btf.offset), 0xeb9f);
	out[btf.offset + 2] = 2;
	return out;
}

/** The xz stream flags' check type (xz-file-format.txt 2.1.1.2: 0x01 CRC32, 0x04 CRC64). */
const xzCheck = (file: string) => readFileSync(file).readUInt8(7);

test(`the tree is what sid's packages install: merged /usr, vmlinuz and config in usr/lib/modules/KV, no /boot, kbuild scripts`, () => {
	const m = modDir(sid.root);
	for (const f of ['vmlinuz', 'config', 'modules.order', 'modules.dep', ADV, CRC8, 'build/scripts/Makefile.modinst']) assert.ok(existsSync(join(m, f)), f);
	assert.not.ok(existsSync(join(sid.root, 'boot')));
	assert.ok(sid.packages.some((p) => p.startsWith(`linux-binary-${KV}=`)) && sid.packages.some((p) => p.startsWith(`linux-modules-${KV}=`)), sid.packages.join(' '));
	const config = readFileSync(join(m, 'config'), 'utf8');
	// what the tests below rely on (Debian's config for this kernel)
	assert.match(config, /^# CONFIG_MODVERSIONS is not set$/m);
	assert.match(config, /^# CONFIG_MODULE_ALLOW_BTF_MISMATCH is not set$/m);
	assert.match(config, /^CONFIG_MODULE_COMPRESS_XZ=y$/m);
	assert.match(config, /^CONFIG_MODULE_SIG_HASH="sha256"$/m);
});

test('explain: xz, crc32, dict 1 MiB from the kbuild package\'s Makefile.modinst; the decompressor with x86, arm64 and riscv BCJ; in-tree modules all .ko.xz', () => {
	const r = kmodpress(['explain', '--root', sid.root, '--kernel', KV, '--json']);
	assert.is(r.status, 0, r.stderr);
	const e = JSON.parse(r.stdout);
	assert.is(e.kernel.moduleDir, modDir(sid.root));
	assert.is(e.kernel.version.value.join('.'), KV.replace(/\+.*$/, ''));
	assert.is(e.policy.algorithm.value, 'xz');
	// the sysroot holds no xz, so the host's (bookworm's 5.4.1: single-threaded) decides the container; sid's own
	// in-tree modules were written by its packager's xz >= 5.6 in the multi-threaded format, and explain says so
	assert.equal(e.policy.params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32', format: 'single'});
	assert.ok(JSON.stringify(e).includes('the in-tree modules use the multi-threaded format'), 'explain notes the in-tree modules\' container');
	// build -> usr/src/linux-headers-KV, whose scripts -> usr/lib/linux-kbuild-X/scripts (found through the link)
	assert.match(e.policy.command.from, /linux-headers-[^/]+\/scripts\/Makefile\.modinst:\d+ cmd: \$\(XZ\) --check=crc32 --lzma2=dict=1MiB/);
	assert.ok(readFileSync(join(sid.root, 'usr/lib', `linux-kbuild-${KV.replace(/-amd64$/, '')}`, 'scripts/Makefile.modinst'), 'utf8').includes('--check=crc32 --lzma2=dict=1MiB'));
	assert.equal(e.policy.decompressor.value, {algorithm: 'xz', xzBcj: ['x86', 'arm64', 'riscv']});
	assert.match(e.policy.decompressor.from, /CONFIG_MODULE_DECOMPRESS/);
	const counts = e.policy.inTree.value ?? e.policy.inTree.counts ?? e.policy.inTree;
	assert.ok(JSON.stringify(counts).match(/"\.ko\.xz":\s*(\d{4})/), JSON.stringify(e.policy.inTree));
});

test('without the headers (linux-image-KV alone, as most machines have it): the config comes from usr/lib/modules/KV/config (linux-base-KV), so explain still knows the kernel decompresses xz itself, and verify knows its vermagic', () => {
	const t = copyRoot(sid);
	try {
		const m = modDir(t.root);
		for (const p of [join(t.root, 'usr/src'), join(m, 'build'), join(m, 'source')]) rmSync(p, {recursive: true, force: true});
		for (const d of readdirSync(join(t.root, 'usr/lib'))) if (d.startsWith('linux-kbuild-')) rmSync(join(t.root, 'usr/lib', d), {recursive: true});
		const r = kmodpress(['explain', '--root', t.root, '--kernel', KV, '--json']);
		assert.is(r.status, 0, r.stderr);
		const e = JSON.parse(r.stdout);
		assert.ok(e.configSearch.includes(`${join(m, 'config')}: used`), JSON.stringify(e.configSearch));
		assert.equal(e.policy.decompressor.value, {algorithm: 'xz', xzBcj: ['x86', 'arm64', 'riscv']}, JSON.stringify(e.policy.decompressor));
		assert.match(e.policy.decompressor.from, new RegExp(`${join(m, 'config').replace(/[+.]/g, '\\$&')}:\\d+ CONFIG_MODULE_DECOMPRESS`));
		assert.is(e.policy.algorithm.value, 'xz');
		assert.is(e.policy.params.check, 'crc32');
		const v = verify(t.root, [join(m, CRC8)]);
		assert.is(v.sources.vermagic, `"${KV} SMP preempt mod_unload " from the kernel config`);
		// no Module.symvers: vmlinux's exports (__fentry__, __x86_return_thunk) are unknown, not missing
		assert.equal(v.modules.map((x) => [x.module, x.loadable]), [['crc8', true]], JSON.stringify(v.modules));
		assert.equal(v.modules[0]!.findings.filter((f) => f.severity === 'error'), []);
		assert.ok(v.modules[0]!.findings.some((f) => f.code === 'UNKNOWN_SYMBOL' && f.severity === 'warning' && /vmlinux's exports are unknown/.test(f.message)), JSON.stringify(v.modules[0]!.findings));
	} finally {
		t.cleanup();
	}
});

test('verify: sid\'s own modules loadable after their dependencies; no symbol-version checks (MODVERSIONS off); signed by the key in usr/lib/modules/KV/vmlinuz; a BTF that does not parse is refused (MODULE_ALLOW_BTF_MISMATCH off)', () => {
	const t = copyRoot(sid);
	try {
		const m = modDir(t.root);
		const broken = join(m, 'extra/adv7170_btf.ko');
		execFileSync('/bin/mkdir', ['-p', join(m, 'extra')]);
		writeFileSync(broken, breakBtf(execFileSync('/usr/bin/xz', ['-dc', join(m, ADV)])));
		const r = verify(t.root, [join(m, ADV), join(m, 'kernel/drivers/media/v4l2-core/videodev.ko.xz'), join(m, CRC8), broken]);
		assert.equal(r.errors, []);
		const [adv, videodev, crc8, btf] = r.modules;
		assert.equal(r.modules.map((x) => [x.module, x.loadable]), [['adv7170', true], ['videodev', true], ['crc8', true], ['adv7170', false]], JSON.stringify(r.modules, null, 1));
		assert.equal([...adv!.depends].sort(), ['mc', 'videodev']);
		assert.equal(videodev!.depends, ['mc']);
		assert.equal(crc8!.depends, []);
		// sid's modules carry no __versions: on a MODVERSIONS kernel that is "disagrees about version of symbol
		// module_layout" (NO_VERSIONS, an error); on this one the kernel checks no CRC at all (kernel/module/version.c
		// is built only with CONFIG_MODVERSIONS)
		assert.is(new ElfFile(execFileSync('/usr/bin/xz', ['-dc', join(m, ADV)]), 'adv7170.ko').section('__versions'), undefined);
		for (const x of [adv, videodev, crc8]) {
			assert.equal(x!.findings.filter((f) => f.severity !== 'info'), [], x!.module);
			assert.not.ok(x!.findings.some((f) => /VERSION|CRC|LAYOUT/.test(f.code)), JSON.stringify(x!.findings));
			// Debian signs with the key built into the image linux-binary-KV puts at usr/lib/modules/KV/vmlinuz
			// (CONFIG_MODULE_SIG_HASH="sha256": the PKCS#7 digest algorithm says so too)
			assert.ok(x!.findings.some((f) => f.code === 'SIG_OK' && f.message.startsWith('signed (sha256)') && f.message.includes(join(m, 'vmlinuz'))), JSON.stringify(x!.findings));
		}
		// the split BTF is checked against the headers' vmlinux BTF; a module whose .BTF the kernel cannot parse is
		// refused (kernel/bpf/btf.c btf_module_notify: the error stands unless CONFIG_MODULE_ALLOW_BTF_MISMATCH)
		// vermagic as kernel/module/main.c's VERMAGIC_STRING builds it: no "modversions " without CONFIG_MODVERSIONS
		assert.is(r.sources.vermagic, `"${KV} SMP preempt mod_unload " from the kernel config`);
		assert.match(r.sources.btf!, /linux-headers-[^/]+\/vmlinux \(\.BTF\)/);
		const mismatch = btf!.findings.find((f) => f.code === 'BTF_MISMATCH');
		assert.ok(mismatch && mismatch.severity === 'error', JSON.stringify(btf!.findings));
		assert.match(mismatch!.message, /"failed to validate module \[adv7170\] BTF: -524" \(Unsupported version\).*the kernel refuses it/);
	} finally {
		t.cleanup();
	}
});

test('recompress: sid modules moved out of the tree and re-encoded as CRC64 xz become CRC32 .ko.xz (content unchanged), depmod lists them; verify --boot boots usr/lib/modules/KV/vmlinuz under QEMU and loads them after their dependencies', () => {
	const t = copyRoot(sid);
	try {
		const m = modDir(t.root);
		execFileSync('/bin/mkdir', ['-p', join(m, 'extra/sid')]);
		const originals: Record<string, Buffer> = {};
		// out of the tree: gone from kernel/ and from modules.order (as if a package had built them)
		const order = readFileSync(join(m, 'modules.order'), 'utf8');
		writeFileSync(join(m, 'modules.order'), order.split('\n').filter((l) => l !== ADV.replace(/\.xz$/, '') && l !== CRC8.replace(/\.xz$/, '')).join('\n'));
		for (const rel of [ADV, CRC8]) {
			const name = rel.slice(rel.lastIndexOf('/') + 1).replace(/\.xz$/, '');
			const plain = execFileSync('/usr/bin/xz', ['-dc', join(m, rel)]);
			originals[name] = plain;
			rmSync(join(m, rel));
			writeFileSync(join(m, 'extra/sid', `${name}.xz`), execFileSync('/usr/bin/xz', ['--check=crc64', '-c'], {input: plain}));
			assert.is(xzCheck(join(m, 'extra/sid', `${name}.xz`)), 0x04);
		}
		const r = kmodpress(['recompress', '--root', t.root, '--kernel', KV, '--json']);
		assert.is(r.status, 0, r.stderr + r.stdout);
		const out = JSON.parse(r.stdout);
		const report = out.kernels ? out.kernels[0] : out;
		assert.equal(report.modules.map((x: {path: string}) => x.path.slice(m.length + 1)).sort(), ['extra/sid/adv7170.ko.xz', 'extra/sid/crc8.ko.xz']);
		for (const [name, plain] of Object.entries(originals)) {
			const file = join(m, 'extra/sid', `${name}.xz`);
			assert.is(xzCheck(file), 0x01, `${name}.xz: CRC32`);
			assert.ok(execFileSync('/usr/bin/xz', ['-dc', file]).equals(plain), name);
		}
		const dep = readFileSync(join(m, 'modules.dep'), 'utf8');
		assert.match(dep, /^extra\/sid\/adv7170\.ko\.xz: kernel\/drivers\/media\/v4l2-core\/videodev\.ko\.xz kernel\/drivers\/media\/mc\/mc\.ko\.xz$/m);
		assert.match(dep, /^extra\/sid\/crc8\.ko\.xz:$/m);

		// the booted kernel agrees; the BTF-broken copy is refused by it too
		const broken = join(m, 'extra/broken/adv7170.ko');
		execFileSync('/bin/mkdir', ['-p', join(m, 'extra/broken')]);
		writeFileSync(broken, breakBtf(originals['adv7170.ko']!));
		const started = Date.now();
		const b = kmodpress(['verify', '--root', t.root, '--kernel', KV, '--boot', '--json', join(m, 'extra/sid/adv7170.ko.xz'), join(m, 'extra/sid/crc8.ko.xz'), broken]);
		let boot: {modules: VerifyJson['modules']; boot: {kernelImage: string; kernelRelease: string; summary: string; results: {module: string; predicted: boolean; loaded: boolean; agrees: boolean; errno: string; message: string[]}[]}};
		try {
			boot = JSON.parse(b.stdout);
		} catch {
			throw new Error(`no JSON (exit ${b.status}): ${b.stdout}\n${b.stderr}`);
		}
		console.log(`verify --boot of ${KV}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
		assert.is(boot.boot.kernelImage, join(m, 'vmlinuz'));
		assert.is(boot.boot.kernelRelease, KV);
		assert.equal(boot.boot.results.map((x) => [x.module, x.predicted, x.loaded]), [['adv7170', true, true], ['crc8', true, true], ['adv7170', false, false]], JSON.stringify(boot.boot.results, null, 1));
		// the kernel's words are the ones verify predicted (btf_parse_hdr: an unknown version is -ENOTSUPP, 524)
		assert.is(boot.boot.results[2]!.errno, 'ENOTSUPP');
		const said = boot.boot.results[2]!.message.find((l) => l.startsWith('failed to validate module'));
		assert.is(said, 'failed to validate module [adv7170] BTF: -524', JSON.stringify(boot.boot.results[2]));
		assert.ok(boot.modules[2]!.findings.some((f) => f.code === 'BTF_MISMATCH' && f.message.includes(`"${said}"`)), JSON.stringify(boot.modules[2]));
		assert.match(boot.boot.summary, /agrees with every prediction/);
		renameSync(join(m, 'vmlinuz'), join(m, 'vmlinuz.away'));
		const none = kmodpress(['verify', '--root', t.root, '--kernel', KV, '--boot', join(m, 'extra/sid/crc8.ko.xz')]);
		assert.is.not(none.status, 0);
		assert.match(none.stderr + none.stdout, /no kernel image to boot/);
	} finally {
		t.cleanup();
	}
});

test.run();
