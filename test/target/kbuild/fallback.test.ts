import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {fallbackCommands} from '../../../src/target/kbuild/fallback.js';

test('fallback table by kernel version (scripts/Makefile.modinst and the top Makefile of each era)', () => {
	assert.is(fallbackCommands([5, 10, 0]).commands.xz, 'xz -f');
	assert.is(fallbackCommands([5, 12, 0]).commands.xz, 'xz --lzma2=dict=2MiB -f');
	assert.is(fallbackCommands([5, 12, 0]).commands.zstd, undefined);
	assert.is(fallbackCommands([6, 5, 9]).commands.zstd, 'zstd -T0 --rm -f -q');
	assert.is(fallbackCommands([6, 6, 0]).commands.xz, 'xz --check=crc32 --lzma2=dict=1MiB -f');
	assert.is(fallbackCommands([6, 12, 0]).commands.zstd, 'zstd --rm -f -q');
	assert.is(fallbackCommands([6, 12, 0]).gate, 'MODULE_COMPRESS_ALL');
});

test.run();
