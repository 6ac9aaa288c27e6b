// Child of bench/compress.ts: compresses every file of a directory with kmodpress's codec pool, the way
// compress.ts keeps work in flight (largest first, bounded), writes <file>.<ext>, and prints its wall time and peak RSS.
import {readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {createCodecPool} from '../src/codecs/pool.js';
import type {CompressionParams} from '../src/types.js';

const [dir, alg, threads] = process.argv.slice(2) as [string, string, string];
const PARAMS: Record<string, CompressionParams> = {
	xz: {algorithm: 'xz', preset: 6, extreme: false, dictSize: 1 << 20, check: 'crc32'},
	zstd: {algorithm: 'zstd', level: 3, checksum: true, contentSize: true},
	gzip: {algorithm: 'gzip', level: 6},
};
const SUFFIX: Record<string, string> = {xz: '.xz', zstd: '.zst', gzip: '.gz'};
const files = readdirSync(dir).map((n) => ({p: join(dir, n), size: statSync(join(dir, n)).size})).sort((a, b) => b.size - a.size);
const pool = createCodecPool({threads: Number(threads)});
const t0 = process.hrtime.bigint();
let next = 0;
const worker = async (): Promise<void> => {
	while (next < files.length) {
		const f = files[next++]!;
		const out = await pool.compress(readFileSync(f.p), PARAMS[alg]!);
		writeFileSync(`${f.p}${SUFFIX[alg]}`, out);
	}
};
await Promise.all(Array.from({length: Number(threads) * 2}, worker));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
await pool.close();
console.log(JSON.stringify({seconds, rssMb: Math.round(process.resourceUsage().maxRSS / 1024)}));
