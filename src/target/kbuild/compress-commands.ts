// Compressor command lines → the parameters they give, for the commands kbuild runs on modules: option parsing as
// xz(1), zstd(1) and gzip(1) do it, for the options that change the bytes the kernel gets; options that change only
// how the tool runs are listed as ignored, anything else as unsupported (the caller decides whether that is fatal).
// Pure: words in, values out.

import type {Algorithm, CompressionParams, XzCheck, XzFormat} from '../../types.js';

export interface ParsedCommand {
	params: CompressionParams;
	/** For each parameter, where its value came from ("--check=crc32", "xz default"). */
	sources: Record<string, string>;
	/** Options that change only how the tool runs, not the bytes the kernel gets (-f, -q, --rm, zstd's -T…). */
	ignored: string[];
	/** Options kmodpress cannot reproduce exactly (the caller decides whether that is fatal). */
	unsupported: string[];
	/** Remarks worth showing in explain (e.g. multi-threaded xz writes other, equally valid, bytes). */
	notes: string[];
}

/** "1MiB" → 1048576; xz accepts KiB/MiB/GiB, k/K/m/M/g/G with optional "iB"/"B", and plain bytes. */
export function parseXzSize(text: string): number | undefined {
	const m = /^(\d+)\s*(?:([kKmMgG])(?:i?B)?)?$/.exec(text.trim());
	if (!m) return undefined;
	const mult = m[2] ? 1024 ** ('kmg'.indexOf(m[2].toLowerCase()) + 1) : 1;
	return Number(m[1]) * mult;
}

/** xz preset → LZMA2 dictionary size (xz's lzma_lzma_preset table). */
export const XZ_PRESET_DICT = [256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20] as const;

export function parseXzCommand(words: readonly string[]): ParsedCommand {
	let preset = 6;
	let extreme = false;
	let dictSize: number = XZ_PRESET_DICT[6];
	let format: XzFormat | undefined;
	let check: XzCheck = 'crc64'; // xz's default, a check the kernel's lib/xz refuses (kernelAcceptsXzCheck in formats/xz/check.ts)
	const sources: Record<string, string> = {preset: 'xz default (-6)', extreme: 'xz default', dictSize: 'xz default for -6 (8 MiB)', check: 'xz default (crc64)'};
	const ignored: string[] = [];
	const unsupported: string[] = [];
	const notes: string[] = [];
	const setCheck = (v: string, opt: string): void => {
		if (v === 'crc32' || v === 'crc64' || v === 'none' || v === 'sha256') {
			check = v;
			sources.check = opt;
		} else unsupported.push(opt);
	};
	for (let i = 0; i < words.length; i++) {
		const w = words[i]!;
		let m: RegExpExecArray | null;
		if ((m = /^-(\d)(e?)$/.exec(w))) {
			// A preset resets the filter chain (xz(1)): the dictionary follows the preset again.
			preset = Number(m[1]);
			dictSize = XZ_PRESET_DICT[preset]!;
			sources.preset = w;
			sources.dictSize = `${w} (preset dictionary)`;
			if (m[2]) {
				extreme = true;
				sources.extreme = w;
			}
		} else if (w === '-e' || w === '--extreme') {
			extreme = true;
			sources.extreme = w;
		} else if ((m = /^--check=(.*)$/.exec(w))) setCheck(m[1]!, w);
		else if (w === '-C' && words[i + 1] !== undefined) setCheck(words[++i]!, `-C ${words[i]}`);
		else if ((m = /^-C(\w+)$/.exec(w))) setCheck(m[1]!, w);
		else if ((m = /^--lzma2(?:=(.*))?$/.exec(w))) {
			let lzPreset: number = preset;
			let lzExtreme: boolean = extreme;
			let lzDict: number | undefined;
			for (const opt of (m[1] ?? '').split(',').filter(Boolean)) {
				const [k, v = ''] = opt.split('=');
				if (k === 'preset') {
					const pm = /^(\d)(e?)$/.exec(v);
					if (!pm) unsupported.push(`${w} (${opt})`);
					else {
						lzPreset = Number(pm[1]);
						lzExtreme = pm[2] === 'e';
					}
				} else if (k === 'dict') {
					const size = parseXzSize(v);
					if (size === undefined) unsupported.push(`${w} (${opt})`);
					else lzDict = size;
				} else unsupported.push(`${w} (${opt})`);
			}
			preset = lzPreset;
			extreme = lzExtreme;
			dictSize = lzDict ?? XZ_PRESET_DICT[lzPreset]!;
			sources.preset = lzPreset === 6 && !/preset=/.test(w) ? `${w} (LZMA2 options start from preset 6)` : w;
			sources.dictSize = lzDict === undefined ? `${w} (preset dictionary)` : w;
		} else if ((m = /^(?:-T|--threads=)(\d*)$/.exec(w)) || w === '-T') {
			// An explicit thread count picks the container (xz(1) --threads): 1 is single-threaded mode; 0 or more
			// than 1 is multi-threaded mode (xz 5.4.0 NEWS: -T0 uses the multi-threaded encoder even on one core).
			// Without it, the xz version decides (policy/xz-format.ts).
			const n = m?.[1] || (w === '-T' ? words[++i] : '');
			const word = w === '-T' ? `-T ${n}` : w;
			if (n === undefined || !/^\d+$/.test(n)) unsupported.push(word);
			else {
				format = n === '1' ? 'single' : 'multi';
				sources.format = `${word} (${n === '1' ? 'single-threaded mode' : 'multi-threaded mode'})`;
			}
		} else if (['-f', '--force', '-q', '--quiet', '-k', '--keep', '-z', '--compress', '-v', '-Q', '--no-warn', '--stdout', '-c'].includes(w)) {
			ignored.push(w);
		} else if ((m = /^--format=(.*)$/.exec(w)) || w === '-F') {
			const f = m?.[1] ?? words[++i];
			if (f === 'xz' || f === 'auto') ignored.push(w);
			else unsupported.push(w);
		} else unsupported.push(w);
	}
	return {params: {algorithm: 'xz', preset, extreme, dictSize, check, ...(format ? {format} : {})}, sources, ignored, unsupported, notes};
}

export function parseZstdCommand(words: readonly string[]): ParsedCommand {
	let level = 3;
	let checksum = true;
	let contentSize = true;
	let windowLog: number | undefined;
	const sources: Record<string, string> = {level: 'zstd default (3)', checksum: 'zstd default (on)', contentSize: 'zstd default (on, from a file)', windowLog: "the level's default"};
	const ignored: string[] = [];
	const unsupported: string[] = [];
	const notes: string[] = [];
	let ultra = false;
	for (let i = 0; i < words.length; i++) {
		const w = words[i]!;
		let m: RegExpExecArray | null;
		if ((m = /^-(\d+)$/.exec(w))) {
			level = Number(m[1]);
			sources.level = w;
		} else if ((m = /^--fast(?:=(\d+))?$/.exec(w))) {
			level = -Number(m[1] ?? 1);
			sources.level = w;
		} else if (w === '--ultra') {
			ultra = true;
			ignored.push(w);
		} else if (w === '--no-check') {
			checksum = false;
			sources.checksum = w;
		} else if (w === '-C' || w === '--check') {
			checksum = true;
			sources.checksum = w;
		} else if (w === '--no-content-size') {
			contentSize = false;
			sources.contentSize = w;
		} else if (w === '--content-size') {
			contentSize = true;
			sources.contentSize = w;
		} else if ((m = /^--zstd=(.*)$/.exec(w))) {
			for (const opt of m[1]!.split(',')) {
				const [k, v = ''] = opt.split('=');
				if ((k === 'wlog' || k === 'windowLog') && /^\d+$/.test(v)) {
					windowLog = Number(v);
					sources.windowLog = w;
				} else unsupported.push(`${w} (${opt})`);
			}
		} else if ((m = /^(?:-T|--threads=)(\d*)$/.exec(w))) {
			ignored.push(w);
			if (m[1] !== '' && m[1] !== '1') notes.push(`${w}: zstd's multi-threaded mode writes the same single frame format; kmodpress compresses each module in one worker`);
		} else if (['-f', '--force', '-q', '--quiet', '--rm', '-k', '--keep', '-z', '--compress', '-c', '--stdout', '-v', '--no-progress'].includes(w)) {
			ignored.push(w);
		} else unsupported.push(w); // --long, --patch-from, -D (dictionary) … change the bytes in ways kmodpress does not reproduce
	}
	if (level > 19 && !ultra) notes.push(`-${level} without --ultra: zstd caps it at 19`);
	if (level > 19 && !ultra) level = 19;
	return {params: {algorithm: 'zstd', level, checksum, contentSize, ...(windowLog === undefined ? {} : {windowLog})}, sources, ignored, unsupported, notes};
}

export function parseGzipCommand(words: readonly string[]): ParsedCommand {
	let level = 6;
	const sources: Record<string, string> = {level: 'gzip default (6)'};
	const ignored: string[] = [];
	const unsupported: string[] = [];
	const notes: string[] = [
		'node:zlib writes a different (equally valid) deflate body than the gzip tool at the same level; header and trailer are the same as `gzip -n`, and the kernel reads any valid deflate stream',
	];
	for (const w of words) {
		let m: RegExpExecArray | null;
		if ((m = /^-(\d)$/.exec(w))) {
			level = Number(m[1]);
			sources.level = w;
		} else if (w === '--fast') {
			level = 1;
			sources.level = w;
		} else if (w === '--best') {
			level = 9;
			sources.level = w;
		} else if (['-n', '--no-name', '-f', '--force', '-q', '--quiet', '-k', '--keep', '-c', '--stdout'].includes(w)) {
			ignored.push(w);
		} else unsupported.push(w); // -N (name and time in the header), --rsyncable …
	}
	return {params: {algorithm: 'gzip', level}, sources, ignored, unsupported, notes};
}

/** Parse an expanded compression command ("xz --check=crc32 --lzma2=dict=1MiB -f"); the first word is the tool. */
export function parseCompressCommand(algorithm: Algorithm, expanded: string): ParsedCommand {
	const words = expanded.split(/\s+/).filter(Boolean).slice(1);
	if (algorithm === 'xz') return parseXzCommand(words);
	if (algorithm === 'zstd') return parseZstdCommand(words);
	return parseGzipCommand(words);
}
