// The installed kmod: its version and the features it was built with (`kmod --version`, second line:
// "+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL"). depmod silently skips module suffixes whose library is not built in
// (kmod's shared/util.c: kmod_exts[] lists .ko.gz, .ko.xz, .ko.zst only with ENABLE_ZLIB, _XZ, _ZSTD), so a suffix
// kmod cannot read must be refused before anything is written.
import {KMOD_FEATURE} from '../formats/table.js';
import {KmodpressError} from '../errors.js';
import {findTool, queryTool} from '../disk/exec.js';
import type {Algorithm} from '../types.js';

export interface KmodInfo {
	/** 30 for "kmod version 30"; undefined when kmod is not installed */
	version: number | undefined;
	/** Feature names with their sign: {ZSTD: true, XZ: true, ZLIB: false, …} */
	features: Record<string, boolean>;
	/** The binary that was asked, or a note that none was found */
	from: string;
}

/** Parse `kmod --version` output. Pure. */
export function parseKmodVersion(text: string, from: string): KmodInfo {
	const version = /kmod version (\d+)/.exec(text);
	const features: Record<string, boolean> = {};
	for (const m of text.matchAll(/(?:^|\s)([+-])([A-Z0-9_]+)(?=\s|$)/g)) features[m[2]!] = m[1] === '+';
	return {version: version ? Number(version[1]) : undefined, features, from};
}

/** Whether kmod (depmod, modprobe) can read modules compressed with `algorithm`. Unknown → undefined. */
export function kmodReads(kmod: KmodInfo, algorithm: Algorithm): boolean | undefined {
	return kmod.features[KMOD_FEATURE[algorithm]];
}

/** Ask the installed kmod. A missing kmod is not an error here (policy decides); a broken one is. */
export async function detectKmod(): Promise<KmodInfo> {
	const bin = findTool('kmod');
	if (bin === undefined) return {version: undefined, features: {}, from: 'kmod not installed'};
	const r = queryTool(bin, ['--version']);
	if (!r.ok) {
		throw new KmodpressError('E_TOOL_MISSING', `kmod --version failed: ${r.output.trim().split('\n')[0]}`, {
			file: bin,
			fix: 'reinstall kmod (Debian: apt-get install --reinstall kmod)',
		});
	}
	return parseKmodVersion(r.output, `${bin} --version`);
}
