import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {parseCompressCommand, parseXzSize} from '../../../src/target/kbuild/compress-commands.js';

test('command lines: xz presets reset the dictionary, -T picks the container, unknown options are reported', () => {
	assert.equal(parseCompressCommand('xz', 'xz -9e -f').params, {algorithm: 'xz', preset: 9, extreme: true, dictSize: 64 << 20, check: 'crc64'});
	assert.equal(parseCompressCommand('xz', 'xz --lzma2=dict=1MiB -9').params.algorithm === 'xz' && (parseCompressCommand('xz', 'xz --lzma2=dict=1MiB -9').params as {dictSize: number}).dictSize, 64 << 20);
	assert.equal(parseCompressCommand('xz', 'xz --lzma2=preset=3,dict=512KiB -C none').params, {algorithm: 'xz', preset: 3, extreme: false, dictSize: 512 << 10, check: 'none'});
	const t = parseCompressCommand('xz', 'xz --lzma2=dict=2MiB -f -T0');
	assert.is(t.params.algorithm === 'xz' && t.params.format, 'multi');
	assert.is(t.sources.format, '-T0 (multi-threaded mode)');
	const t1 = parseCompressCommand('xz', 'xz -T 1 -f');
	assert.is(t1.params.algorithm === 'xz' && t1.params.format, 'single');
	assert.is(t1.sources.format, '-T 1 (single-threaded mode)');
	assert.equal(parseCompressCommand('xz', 'xz --threads=x').unsupported, ['--threads=x']);
	assert.equal(parseCompressCommand('xz', 'xz --lzma2=dict=1MiB,lc=4 --x86').unsupported, ['--lzma2=dict=1MiB,lc=4 (lc=4)', '--x86']);
	assert.equal(parseCompressCommand('zstd', 'zstd --ultra -22 --no-check').params, {algorithm: 'zstd', level: 22, checksum: false, contentSize: true});
	assert.equal(parseCompressCommand('zstd', 'zstd --zstd=wlog=21 -T0').params, {algorithm: 'zstd', level: 3, checksum: true, contentSize: true, windowLog: 21});
	assert.equal(parseCompressCommand('zstd', 'zstd --long=27').unsupported, ['--long=27']);
	assert.equal(parseCompressCommand('gzip', 'gzip -n -f --best').params, {algorithm: 'gzip', level: 9});
	assert.equal(parseCompressCommand('gzip', 'gzip -N').unsupported, ['-N']);
	assert.is(parseXzSize('1MiB'), 1 << 20);
	assert.is(parseXzSize('64M'), 64 << 20);
	assert.is(parseXzSize('1536KiB'), 1536 << 10);
	assert.is(parseXzSize('12x'), undefined);
});

test.run();
