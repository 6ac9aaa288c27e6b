import {readFileSync} from 'node:fs';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {parseKernelConfig} from '../../../src/target/kernel-config.js';
import {parseModinst} from '../../../src/target/kbuild/modinst.js';
import {parseCompressCommand} from '../../../src/target/kbuild/compress-commands.js';
import {DEBIAN_BUILD, DEBIAN_MODDIR} from '../../helpers/paths.js';

const cfg = (text: string) => parseKernelConfig(text, 'auto.conf');

// The compression part of scripts/Makefile.modinst as each era wrote it (5.13, 6.6, 6.12), around the same rules.
const modinst = (opts: {gate?: boolean; gzip: string; xz: string; zstd?: string}) => `
include include/config/auto.conf
ifeq ($(KBUILD_EXTMOD),)
dst := $(MODLIB)/kernel
else
INSTALL_MOD_DIR ?= updates
dst := $(MODLIB)/$(INSTALL_MOD_DIR)
endif

suffix-y				:=
${opts.gate ? 'ifdef CONFIG_MODULE_COMPRESS_ALL\n' : ''}suffix-$(CONFIG_MODULE_COMPRESS_GZIP)	:= .gz
suffix-$(CONFIG_MODULE_COMPRESS_XZ)	:= .xz
suffix-$(CONFIG_MODULE_COMPRESS_ZSTD)	:= .zst
${opts.gate ? 'endif\n' : ''}
quiet_cmd_gzip = GZIP    $@
      cmd_gzip = ${opts.gzip}
quiet_cmd_xz = XZ      $@
      cmd_xz = ${opts.xz}
${opts.zstd ? `quiet_cmd_zstd = ZSTD    $@\n      cmd_zstd = ${opts.zstd}\n` : ''}
$(dst)/%.ko.xz: $(dst)/%.ko FORCE
	$(call cmd,xz)
`;

const top512 = (xz: string) => `
KGZIP		= gzip
XZ		= xz
mod_compress_cmd = true
ifdef CONFIG_MODULE_COMPRESS
  ifdef CONFIG_MODULE_COMPRESS_GZIP
    mod_compress_cmd = $(KGZIP) -n -f
  endif # CONFIG_MODULE_COMPRESS_GZIP
  ifdef CONFIG_MODULE_COMPRESS_XZ
    mod_compress_cmd = ${xz}
  endif # CONFIG_MODULE_COMPRESS_XZ
endif # CONFIG_MODULE_COMPRESS
export mod_compress_cmd
`;

test('Debian 6.12.115: Makefile.modinst evaluated with its auto.conf gives xz crc32 dict 1 MiB, with file and line', () => {
	const text = readFileSync(`${DEBIAN_BUILD}/scripts/Makefile.modinst`, 'utf8');
	const config = parseKernelConfig(readFileSync(`${DEBIAN_BUILD}/include/config/auto.conf`, 'utf8'), 'auto.conf');
	const info = parseModinst({modinstText: text, modinstFile: 'Makefile.modinst', topMakefileText: readFileSync(`${DEBIAN_MODDIR}/source/Makefile`, 'utf8'), topMakefileFile: 'Makefile', config});
	assert.is(info.algorithm.value, 'xz');
	assert.is(info.command?.expanded, 'xz --check=crc32 --lzma2=dict=1MiB -f');
	const line = text.split('\n')[info.command!.line - 1]!;
	assert.match(line, /cmd_xz = \$\(XZ\) --check=crc32/);
	assert.equal(parseCompressCommand('xz', info.command!.expanded).params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32'});
	assert.is(info.commands.zstd?.expanded, 'zstd --rm -f -q');
	// Without COMPRESS_ALL, 6.12's modules_install leaves modules alone even with MODULE_COMPRESS_XZ.
	const noAll = parseModinst({modinstText: text, modinstFile: 'm', topMakefileText: undefined, topMakefileFile: 'Makefile', config: cfg('CONFIG_MODULE_COMPRESS_XZ=y\nCONFIG_MODULES=y\n')});
	assert.is(noAll.algorithm.value, null);
	assert.match(noAll.algorithm.from, /suffix-y is empty/);
});

test('6.12+: COMPRESS_ALL gates compression; 5.13–6.11: the algorithm alone decides', () => {
	const text612 = modinst({gate: true, gzip: '$(KGZIP) -n -f $<', xz: '$(XZ) --check=crc32 --lzma2=dict=1MiB -f $<', zstd: '$(ZSTD) --rm -f -q $<'});
	const zstdAll = parseModinst({modinstText: text612, modinstFile: 'm', topMakefileText: undefined, topMakefileFile: 'M', config: cfg('CONFIG_MODULE_COMPRESS_ZSTD=y\nCONFIG_MODULE_COMPRESS_ALL=y\n')});
	assert.is(zstdAll.algorithm.value, 'zstd');
	assert.equal(parseCompressCommand('zstd', zstdAll.command!.expanded).params, {algorithm: 'zstd', level: 3, checksum: true, contentSize: true});
	const zstdOnly = parseModinst({modinstText: text612, modinstFile: 'm', topMakefileText: undefined, topMakefileFile: 'M', config: cfg('CONFIG_MODULE_COMPRESS_ZSTD=y\n')});
	assert.is(zstdOnly.algorithm.value, null);
	const text61 = modinst({gzip: '$(KGZIP) -n -f $<', xz: '$(XZ) --lzma2=dict=2MiB -f $<', zstd: '$(ZSTD) -T0 --rm -f -q $<'});
	const xz61 = parseModinst({modinstText: text61, modinstFile: 'm', topMakefileText: undefined, topMakefileFile: 'M', config: cfg('CONFIG_MODULE_COMPRESS_XZ=y\n')});
	assert.is(xz61.algorithm.value, 'xz');
	const p = parseCompressCommand('xz', xz61.command!.expanded);
	assert.equal(p.params, {algorithm: 'xz', preset: 6, extreme: false, dictSize: 2 << 20, check: 'crc64'});
	assert.is(p.sources.check, 'xz default (crc64)');
});

test('a flavour patch: -$(CONFIG_MODULE_COMPRESS_ZSTD_LEVEL) is expanded from the config', () => {
	const text = modinst({gzip: '$(KGZIP) -n -f $<', xz: '$(XZ) --lzma2=dict=2MiB -f $<', zstd: '$(ZSTD) -$(CONFIG_MODULE_COMPRESS_ZSTD_LEVEL) -T0 --rm -f -q $<'});
	const info = parseModinst({modinstText: text, modinstFile: 'm', topMakefileText: 'ZSTD = zstd\n', topMakefileFile: 'M', config: cfg('CONFIG_MODULE_COMPRESS_ZSTD=y\nCONFIG_MODULE_COMPRESS_ZSTD_LEVEL=19\n')});
	assert.is(info.command?.expanded, 'zstd -19 -T0 --rm -f -q');
	const p = parseCompressCommand('zstd', info.command!.expanded);
	assert.is(p.params.algorithm === 'zstd' && p.params.level, 19);
	assert.is(p.sources.level, '-19');
	assert.ok(p.notes.some((n) => /-T0/.test(n)));
});

test('<= 5.12: the top Makefile mod_compress_cmd, gated by CONFIG_MODULE_COMPRESS', () => {
	const c = cfg('CONFIG_MODULE_COMPRESS=y\nCONFIG_MODULE_COMPRESS_XZ=y\n');
	const info = parseModinst({modinstText: undefined, modinstFile: 'm', topMakefileText: top512('$(XZ) --lzma2=dict=2MiB -f'), topMakefileFile: 'Makefile', config: c});
	assert.is(info.algorithm.value, 'xz');
	assert.is(info.command?.expanded, 'xz --lzma2=dict=2MiB -f');
	assert.is(info.command?.line, 10);
	const off = parseModinst({modinstText: undefined, modinstFile: 'm', topMakefileText: top512('$(XZ) -f'), topMakefileFile: 'Makefile', config: cfg('CONFIG_MODULE_COMPRESS_XZ=y\n')});
	assert.is(off.algorithm.value, null);
	assert.match(off.algorithm.from, /mod_compress_cmd = true/);
	const gz = parseModinst({modinstText: undefined, modinstFile: 'm', topMakefileText: top512('$(XZ) -f').replace('KGZIP\t\t= gzip', 'KGZIP\t\t= pigz'), topMakefileFile: 'Makefile', config: cfg('CONFIG_MODULE_COMPRESS=y\nCONFIG_MODULE_COMPRESS_GZIP=y\n')});
	assert.is(gz.algorithm.value, 'gzip');
	assert.is(gz.command?.expanded, 'pigz -n -f');
});

test.run();
