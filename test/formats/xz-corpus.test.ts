// Every one of Debian's shipped 6.12.115 modules (4230 .ko.xz, written by the kernel's own
// `xz --check=crc32 --lzma2=dict=1MiB`), decompressed and recompressed by kmodpress, must be byte-identical.
import {readdirSync, readFileSync} from 'node:fs';
import {availableParallelism} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {createCodecPool} from '../../src/workers/pool.js';
import {DEBIAN_MODDIR} from '../helpers/paths.js';

test('all of Debian 6.12.115\'s shipped modules recompress byte-identically', async () => {
	const files = (readdirSync(join(DEBIAN_MODDIR, 'kernel'), {recursive: true}) as string[]).filter((f) => f.endsWith('.ko.xz')).map((f) => join(DEBIAN_MODDIR, 'kernel', f));
	assert.is(files.length, 4230);
	const pool = createCodecPool({threads: availableParallelism()});
	const params = {algorithm: 'xz' as const, preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32' as const};
	const mismatches: string[] = [];
	let next = 0;
	let bytes = 0;
	const started = Date.now();
	const worker = async (): Promise<void> => {
		while (next < files.length) {
			const f = files[next++]!;
			const shipped = readFileSync(f);
			const plain = await pool.decompress(shipped, 'xz', {maxOutput: 1 << 30});
			bytes += plain.length;
			const again = await pool.compress(plain, params);
			if (!again.equals(shipped)) mismatches.push(f);
		}
	};
	await Promise.all(Array.from({length: availableParallelism() * 2}, worker));
	await pool.close();
	console.log(`  ${files.length} modules, ${(bytes / 1e6).toFixed(0)} MB decompressed, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
	assert.equal(mismatches, []);
});

test.run();
