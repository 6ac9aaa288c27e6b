// What kbuild ran on modules when no build tree is there to read, by kernel era: the compression commands of
// scripts/Makefile.modinst (5.13+) and of the top Makefile's mod_compress_cmd (<= 5.12), and which config symbol
// decides whether modules_install compresses at all.

import type {Algorithm} from '../../types.js';

export interface FallbackRow {
	era: string;
	commands: Partial<Record<Algorithm, string>>;
	/** whether MODULE_COMPRESS_ALL decides compression (6.12+), MODULE_COMPRESS (<= 5.12), or the algorithm alone */
	gate: 'MODULE_COMPRESS' | 'ALGORITHM' | 'MODULE_COMPRESS_ALL';
}

export function fallbackCommands(version: readonly [number, number, number]): FallbackRow {
	const [a, b] = version;
	const v = a * 1000 + b;
	if (v <= 5011) return {era: '<= 5.11', commands: {gzip: 'gzip -n -f', xz: 'xz -f'}, gate: 'MODULE_COMPRESS'};
	if (v === 5012) return {era: '5.12', commands: {gzip: 'gzip -n -f', xz: 'xz --lzma2=dict=2MiB -f'}, gate: 'MODULE_COMPRESS'};
	if (v <= 6005) {
		return {era: '5.13–6.5', commands: {gzip: 'gzip -n -f', xz: 'xz --lzma2=dict=2MiB -f', zstd: 'zstd -T0 --rm -f -q'}, gate: 'ALGORITHM'};
	}
	if (v <= 6011) {
		return {era: '6.6–6.11', commands: {gzip: 'gzip -n -f', xz: 'xz --check=crc32 --lzma2=dict=1MiB -f', zstd: 'zstd -T0 --rm -f -q'}, gate: 'ALGORITHM'};
	}
	return {era: '6.12+', commands: {gzip: 'gzip -n -f', xz: 'xz --check=crc32 --lzma2=dict=1MiB -f', zstd: 'zstd --rm -f -q'}, gate: 'MODULE_COMPRESS_ALL'};
}
