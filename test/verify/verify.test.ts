// kmodpress verify on real modules built against Debian's 6.12.115 headers (test/fixtures/build.sh, the example),
// each case one refusal of kernel/module/{decompress,main,version,signing}.c (docs/verify.md), with the exact byte change that produces it. Runs through the CLI, as
// callers do, in temp sysroots holding Debian's real in-tree modules.
import {execFileSync, spawnSync} from 'node:child_process';
import {mkdirSync, readFileSync, symlinkSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ElfFile} from '../../src/elf/reader.js';
import {checkBtf, parseBtf} from '../../src/verify/checks/btf.js';
import {cached, DEBIAN_BUILD} from '../helpers/paths.js';
import {patchSectionSize} from '../helpers/patch.js';
import {exampleModule, makeSysroot, type Sysroot} from '../helpers/tree.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');
const fixture = (name: string) => readFileSync(cached('fixtures/current', `${name}.ko`));
const certificate = () => cached('example/current', 'signing_key.x509');

interface Verdict {path: string; module: string; loadable: boolean; depends: string[]; findings: {code: string; severity: string; message: string}[]}
function verify(s: Sysroot, files: string[], extra: string[] = []): {code: number | null; report: {kernel: string; modules: Verdict[]}; stderr: string} {
	const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'verify', '--kernel', s.kv, '--root', s.root, '--json', ...extra, ...files], {encoding: 'utf8'});
	let report;
	try {
		report = JSON.parse(r.stdout);
	} catch {
		throw new Error(`verify printed no JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
	}
	return {code: r.status, report, stderr: r.stderr};
}
const errors = (v: Verdict) => v.findings.filter((f) => f.severity === 'error').map((f) => f.code);
const codes = (v: Verdict) => v.findings.map((f) => f.code);

/** Replace `key=from` in .modinfo with `key=to` (same length, or shorter and NUL-padded). */
function patchModinfo(image: Buffer, key: string, from: string, to: string): Buffer {
	const needle = Buffer.from(`${key}=${from}\0`);
	const at = image.indexOf(needle);
	if (at < 0) throw new Error(`${key}=${from} not in .modinfo`);
	if (to.length > from.length) throw new Error('can only shorten');
	const out = Buffer.from(image);
	Buffer.concat([Buffer.from(`${key}=${to}`), Buffer.alloc(from.length - to.length + 1)]).copy(out, at);
	return out;
}

/** Flip the CRC __versions records for `symbol`. */
function patchVersion(image: Buffer, symbol: string): Buffer {
	const out = Buffer.from(image);
	const elf = new ElfFile(out, 'patch');
	const s = elf.section('__versions')!;
	for (let o = s.offset; o < s.offset + s.size; o += 64) {
		const name = out.toString('latin1', o + 8, out.indexOf(0, o + 8));
		if (name === symbol) {
			out.writeUInt32LE((out.readUInt32LE(o) ^ 0x5a5a5a5a) >>> 0, o);
			return out;
		}
	}
	throw new Error(`${symbol} not in __versions`);
}

const xz = (data: Buffer, args: string[]) => execFileSync('/usr/bin/xz', [...args, '-c'], {input: data, maxBuffer: 1 << 28, env: {PATH: '/usr/bin:/bin'}});
const gzip = (data: Buffer) => execFileSync('/usr/bin/gzip', ['-n', '-c'], {input: data, maxBuffer: 1 << 28});
const zstd = (data: Buffer) => execFileSync('/usr/bin/zstd', ['-q', '-c'], {input: data, maxBuffer: 1 << 28});

test('a clean module is loadable; a dependency on an installed in-tree module is reported in load order', () => {
	const s = makeSysroot();
	try {
		const hello = s.put('extra/kmodpress_hello.ko', exampleModule());
		const dep = s.put('extra/kp_dep.ko', fixture('kp_dep'));
		const ns = s.put('extra/kp_ns.ko', fixture('kp_ns'));
		const {code, report} = verify(s, [hello, dep, ns]);
		assert.is(code, 0, JSON.stringify(report));
		const [h, d, n] = report.modules;
		assert.is(h!.loadable, true, JSON.stringify(h));
		assert.equal(errors(h!), []);
		assert.is(d!.loadable, true, JSON.stringify(d));
		assert.equal(d!.depends, ['crc_itu_t']);
		assert.is(n!.loadable, true, JSON.stringify(n));
		assert.equal(n!.depends, []);
	} finally {
		s.cleanup();
	}
});

test('a symbol from an installed out-of-tree module (in modules.dep, not in Module.symvers) resolves to it, CRC included', () => {
	const s = makeSysroot({inTree: []});
	try {
		s.put('updates/kp_provider.ko', fixture('kp_provider'));
		execFileSync('/sbin/depmod', ['-b', s.root, s.kv]);
		const user = s.put('extra/kp_user.ko', fixture('kp_user'));
		const {code, report} = verify(s, [user]);
		assert.is(code, 0, JSON.stringify(report));
		assert.equal(report.modules[0]!.depends, ['kp_provider']);
		// the CRC kp_user was built against is checked against the installed module's __crc_kp_provided
		const wrong = s.put('extra/kp_user.ko', patchVersion(fixture('kp_user'), 'kp_provided'));
		const bad = verify(s, [wrong]);
		assert.is(bad.code, 1);
		assert.equal(errors(bad.report.modules[0]!), ['CRC_MISMATCH']);
		assert.match(bad.report.modules[0]!.findings.find((f) => f.code === 'CRC_MISMATCH')!.message, /kp_provided.*kp_provider exports/);
	} finally {
		s.cleanup();
	}
});

test('unknown symbol, missing dependency, missing namespace import, GPL-only symbol under a non-GPL license', () => {
	const s = makeSysroot({inTree: []});
	try {
		const unknown = s.put('extra/kp_unknown.ko', fixture('kp_unknown'));
		const dep = s.put('extra/kp_dep.ko', fixture('kp_dep'));
		const ns = s.put('extra/kp_ns.ko', patchModinfo(fixture('kp_ns'), 'import_ns', 'DEVMEM', 'DEVMEX'));
		const gpl = s.put('extra/kp_gpl.ko', patchModinfo(fixture('kp_ns'), 'license', 'GPL', 'XPL'));
		const {code, report} = verify(s, [unknown, dep, ns, gpl]);
		assert.is(code, 1);
		const [u, d, n, g] = report.modules;
		assert.equal(errors(u!), ['UNKNOWN_SYMBOL']);
		assert.match(u!.findings[u!.findings.length - 1]!.message, /Unknown symbol kmodpress_no_such_symbol \(err -2\)/);
		// crc-itu-t is not installed in this sysroot
		assert.equal(errors(d!), ['MISSING_DEPENDENCY']);
		assert.match(d!.findings.find((f) => f.code === 'MISSING_DEPENDENCY')!.message, /crc_itu_t/);
		assert.equal(errors(n!), ['NAMESPACE_NOT_IMPORTED']);
		assert.match(n!.findings.find((f) => f.severity === 'error')!.message, /module uses symbol \(cpu_cache_has_invalidate_memregion\) from namespace DEVMEM, but does not import it\./);
		assert.equal(errors(g!), ['GPL_ONLY_SYMBOL']);
		for (const v of [u, d, n, g]) assert.is(v!.loadable, false);
	} finally {
		s.cleanup();
	}
});

test('modversions: a wrong symbol CRC and a wrong module_layout CRC; vermagic release vs flags (same_magic)', () => {
	const s = makeSysroot();
	try {
		const base = exampleModule();
		const crc = s.put('extra/a/kmodpress_hello.ko', patchVersion(base, '_printk'));
		const layout = s.put('extra/b/kmodpress_hello.ko', patchVersion(base, 'module_layout'));
		const release = s.put('extra/c/kmodpress_hello.ko', patchModinfo(base, 'vermagic', '6.12.115+deb12-amd64 SMP preempt mod_unload modversions ', '6.12.999+deb12-amd64 SMP preempt mod_unload modversions '));
		const flags = s.put('extra/d/kmodpress_hello.ko', patchModinfo(base, 'vermagic', '6.12.115+deb12-amd64 SMP preempt mod_unload modversions ', '6.12.115+deb12-amd64 SMP mod_unload modversions '));
		const {report} = verify(s, [crc, layout, release, flags]);
		const [c, l, r, fl] = report.modules;
		assert.equal(errors(c!), ['CRC_MISMATCH']);
		assert.match(c!.findings.find((f) => f.code === 'CRC_MISMATCH')!.message, /disagrees about version of symbol _printk/);
		assert.equal(errors(l!), ['MODULE_LAYOUT_MISMATCH']);
		assert.match(l!.findings.find((f) => f.severity === 'error')!.message, /disagrees about version of symbol module_layout/);
		assert.is(r!.loadable, true, 'the release word is skipped when the module has __versions');
		assert.ok(codes(r!).includes('VERMAGIC_RELEASE'));
		assert.equal(errors(fl!), ['VERMAGIC_MISMATCH']);
		assert.match(fl!.findings.find((f) => f.severity === 'error')!.message, /version magic '6\.12\.115\+deb12-amd64 SMP mod_unload modversions ' should be '6\.12\.115\+deb12-amd64 SMP preempt mod_unload modversions '/);
	} finally {
		s.cleanup();
	}
});

test('signatures: unsigned under enforcement, a foreign key, the right key, signed after compression', () => {
	const s = makeSysroot();
	try {
		const plain = s.put('extra/a/kmodpress_hello.ko', exampleModule());
		const signed = s.put('extra/b/kmodpress_hello.ko', exampleModule('signed'));
		const debian = s.put('extra/c/crc8.ko.xz', readFileSync(join(s.moduleDir, 'kernel/lib/crc8.ko.xz')));
		const sigTrailer = exampleModule('signed').subarray(exampleModule().length);
		const late = s.put('extra/d/kmodpress_hello.ko.xz', Buffer.concat([xz(exampleModule(), ['--check=crc32', '--lzma2=dict=1MiB']), sigTrailer]));
		const lax = verify(s, [plain, signed, debian, late]);
		assert.equal(lax.report.modules.map((m) => m.loadable), [true, true, true, true], JSON.stringify(lax.report));
		assert.ok(codes(lax.report.modules[0]!).includes('SIG_UNSIGNED'));
		assert.ok(codes(lax.report.modules[3]!).includes('SIG_AFTER_COMPRESSION'));
		// the sysroot has no /boot: verify trusts the certificates built into the host's image of the same release
		const strict = verify(s, [plain, signed, debian, late], ['--sig-enforce']);
		const [p, sg, d, l] = strict.report.modules;
		assert.equal(errors(p!), ['SIG_UNSIGNED']);
		assert.match(p!.findings[0]!.message, /Loading of unsigned module is rejected/);
		assert.equal(errors(sg!), ['SIG_UNKNOWN_KEY'], 'the test key is not Debian\'s');
		assert.match(sg!.findings.find((f) => f.severity === 'error')!.message, /Loading of module with unavailable key is rejected/);
		assert.is(d!.loadable, true, JSON.stringify(d));
		assert.ok(codes(d!).includes('SIG_OK'));
		assert.match(d!.findings.find((f) => f.code === 'SIG_OK')!.message, /Build time autogenerated kernel key/);
		assert.equal(errors(l!), ['SIG_AFTER_COMPRESSION']);
		// a certificate named on the command line is trusted too
		const withCert = verify(s, [signed], ['--sig-enforce', '--certificate', certificate()]);
		assert.is(withCert.report.modules[0]!.loadable, true);
		assert.ok(codes(withCert.report.modules[0]!).includes('SIG_OK'));
		assert.is(strict.code, 1);
	} finally {
		s.cleanup();
	}
});

test('compression on an xz kernel (Debian): crc32 loads, crc64/sha256/delta refused by the kernel, a split stream is a truncated ELF, gzip unreadable by kmod 30, zstd only through kmod', () => {
	const s = makeSysroot();
	try {
		const m = exampleModule();
		const kernelOpts = ['--check=crc32', '--lzma2=dict=1MiB'];
		const half = Math.floor(m.length / 2);
		const files = [
			s.put('extra/ok/kmodpress_hello.ko.xz', xz(m, kernelOpts)),
			s.put('extra/crc64/kmodpress_hello.ko.xz', xz(m, ['--check=crc64'])),
			s.put('extra/sha256/kmodpress_hello.ko.xz', xz(m, ['--check=sha256'])),
			s.put('extra/delta/kmodpress_hello.ko.xz', xz(m, ['--check=crc32', '--delta=dist=4', '--lzma2=dict=1MiB'])),
			s.put('extra/split/kmodpress_hello.ko.xz', Buffer.concat([xz(m.subarray(0, half), kernelOpts), xz(m.subarray(half), kernelOpts)])),
			s.put('extra/gz/kmodpress_hello.ko.gz', gzip(m)),
			s.put('extra/zst/kmodpress_hello.ko.zst', zstd(m)),
		];
		const {report} = verify(s, files);
		const [ok, c64, sha, delta, split, gz, zst] = report.modules;
		assert.is(ok!.loadable, true, JSON.stringify(ok));
		for (const v of [c64, sha, delta]) {
			assert.equal(errors(v!), ['KERNEL_DECOMPRESS'], JSON.stringify(v));
			assert.match(v!.findings[0]!.message, /decompression failed with status 6/);
		}
		assert.match(c64!.findings[0]!.message, /kmod 30 still decompresses it in userspace today/);
		assert.equal(errors(split!), ['ELF_INVALID'], JSON.stringify(split));
		assert.equal(errors(gz!), ['USERSPACE_DECOMPRESS'], JSON.stringify(gz));
		assert.ok(codes(gz!).includes('WRONG_ALGORITHM'));
		assert.is(zst!.loadable, true, JSON.stringify(zst));
		assert.ok(codes(zst!).includes('WRONG_ALGORITHM'));
	} finally {
		s.cleanup();
	}
});

test('ELF: another machine, a struct module of another size, a stripped symbol table', () => {
	const s = makeSysroot();
	try {
		const base = exampleModule();
		const arm = Buffer.from(base);
		arm.writeUInt16LE(183, 18); // EM_AARCH64
		const files = [
			s.put('extra/a/kmodpress_hello.ko', arm),
			s.put('extra/b/kmodpress_hello.ko', patchSectionSize(base, '.gnu.linkonce.this_module', -64)),
			s.put('extra/c/kmodpress_hello.ko', base),
		];
		execFileSync('/usr/bin/objcopy', ['--strip-all', files[2]!]);
		const {report} = verify(s, files);
		assert.equal(report.modules.map((m) => errors(m)[0]), ['ELF_MACHINE', 'THIS_MODULE_SIZE', 'ELF_NO_SYMTAB'], JSON.stringify(report.modules.map((m) => m.findings)));
	} finally {
		s.cleanup();
	}
});

test('a system whose modprobe is busybox cannot load zstd modules; xz is fine', () => {
	const s = makeSysroot();
	try {
		mkdirSync(join(s.root, 'sbin'));
		symlinkSync('../bin/busybox', join(s.root, 'sbin/modprobe'));
		const m = exampleModule();
		const files = [s.put('extra/a/kmodpress_hello.ko.zst', zstd(m)), s.put('extra/b/kmodpress_hello.ko.xz', xz(m, ['--check=crc32', '--lzma2=dict=1MiB']))];
		const {report} = verify(s, files);
		assert.ok(errors(report.modules[0]!).includes('BUSYBOX_NO_ZSTD'));
		assert.is(report.modules[1]!.loadable, true);
	} finally {
		s.cleanup();
	}
});

test('BTF: a module\'s .BTF validates as split BTF on Debian\'s vmlinux BTF and fails on a vmlinux with other type IDs', () => {
	const vm = new ElfFile(readFileSync(join(DEBIAN_BUILD, 'vmlinux')), 'vmlinux');
	const baseBytes = vm.contents(vm.section('.BTF')!);
	const mod = new ElfFile(fixture('kp_dep'), 'kp_dep.ko');
	const modBtf = mod.contents(mod.section('.BTF')!);
	const base = parseBtf(baseBytes);
	assert.is(checkBtf(parseBtf(modBtf, base)), undefined);
	// another vmlinux: the same types but one more at the front, so every base type ID the module uses shifts by one
	const hdrLen = baseBytes.readUInt32LE(4);
	const extra = Buffer.alloc(12);
	extra.writeUInt32LE((2 << 24) >>> 0, 4); // a PTR to void
	const typeLen = baseBytes.readUInt32LE(12);
	const other = Buffer.concat([baseBytes.subarray(0, hdrLen), extra, baseBytes.subarray(hdrLen)]);
	other.writeUInt32LE(typeLen + 12, hdrLen - 12); // type_len
	other.writeUInt32LE(baseBytes.readUInt32LE(16) + 12, hdrLen - 8); // str_off
	const otherBase = parseBtf(other);
	assert.type(checkBtf(parseBtf(modBtf, otherBase)), 'string');
});

test('verify over a staging-less sysroot of Debian\'s real in-tree modules: all loadable, dependencies from modules.dep', () => {
	const s = makeSysroot();
	try {
		const files = ['kernel/lib/crc-itu-t.ko.xz', 'kernel/fs/omfs/omfs.ko.xz', 'kernel/lib/crc8.ko.xz'].map((p) => join(s.moduleDir, p));
		execFileSync('/sbin/depmod', ['-b', s.root, s.kv]);
		const {code, report} = verify(s, files);
		assert.is(code, 0, JSON.stringify(report));
		assert.equal(report.modules.map((m) => [m.module, m.loadable, m.depends]), [['crc_itu_t', true, []], ['omfs', true, ['crc_itu_t']], ['crc8', true, []]]);
	} finally {
		s.cleanup();
	}
});

test.run();
