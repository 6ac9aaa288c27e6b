// Reading one module the way the target's loader would: the kernel's own decompressor when the file's algorithm is
// the one the kernel has (what kmod >= 31 hands it), kmod's userspace decompression otherwise; then the facts of the
// image it gets. Runs in a codec worker: no file system, no shared state.
import {detectFormat} from '../../formats/index.js';
import {decodeAsKernel} from '../../formats/kernel.js';
import {Scratch} from '../../formats/scratch.js';
import {parseZstdFrameHeader} from '../../formats/zstd/header.js';
import {isKmodpressError} from '../../errors.js';
import {kmodReads, type KmodInfo} from '../../target/kmod.js';
import {endsWithSignature, KMOD_FEATURE} from '../../formats/table.js';
import type {Algorithm, Finding, KernelDecompressor} from '../../types.js';
import {finding} from './finding.js';
import {type Btf, BtfError, checkBtf, parseBtf} from './btf.js';
import {type FactsWire, tryAnalyze} from './facts.js';
import {moduleNameOf} from './symvers.js';

export interface Loaded {
	path: string;
	module: string;
	algorithm: Algorithm | null;
	facts?: FactsWire;
	findings: Finding[];
}

export interface LoadOptions {
	/** check module BTF as split BTF on this vmlinux BTF (shared memory) */
	btfBase?: Uint8Array;
	/** names btfBase (a worker parses each base once; shared memory arrives as a new object with every message) */
	btfBaseKey?: string;
	decompressor: KernelDecompressor;
	kmod: Pick<KmodInfo, 'version' | 'features'>;
	release: string;
	enforce: boolean;
	maxOutput: number;
}

export type Decompress = (data: Uint8Array, algorithm: Algorithm, opts: {maxOutput: number}) => Promise<Buffer>;

const baseCache = new Map<string, Btf>();
/** Where the kernel's decompressor puts each module's image in turn, leased for one load (loads interleave at their
 * awaits: on the main thread's inline pool, or a worker's queued messages); never kept past it. */
const imageScratch = new Scratch();

export async function loadImage(bytes: Buffer, path: string, o: LoadOptions, decompress: Decompress): Promise<Loaded> {
	const into = imageScratch.acquire();
	try {
		const d = await decodeForLoad(bytes, path, o, decompress, into);
		return d.image ? analyseForLoad(d.loaded, d.image, o) : d.loaded;
	} finally {
		into?.release();
	}
}

/** The first half of a load: the image the kernel gets (decoded by its decompressor, or kmod's), with the findings
 * on the way there; no image when it gets none. With `into`, the image is a view of that scratch buffer. */
export async function decodeForLoad(bytes: Buffer, path: string, o: LoadOptions, decompress: Decompress, into?: Scratch): Promise<{loaded: Loaded; image?: Buffer}> {
	const findings: Finding[] = [];
	const loaded: Loaded = {path, module: moduleNameOf(path), algorithm: null, findings};
	if (bytes.length === 0) {
		findings.push(finding('ELF_INVALID', 'error', 'empty file; the kernel says "Invalid ELF header" (ENOEXEC): reinstall the module'));
		return {loaded};
	}
	const format = detectFormat(bytes);
	let image: Buffer | undefined;
	if (format === 'elf') image = bytes;
	else if (format === 'xz' || format === 'zstd' || format === 'gzip') {
		loaded.algorithm = format;
		image = await decompressForLoad(bytes, format, o, decompress, findings, into);
		if (endsWithSignature(bytes)) {
			findings.push(finding('SIG_AFTER_COMPRESSION', o.enforce ? 'error' : 'warning',
				`the signature was appended after compression: the kernel checks the decompressed image, which is unsigned${o.enforce ? ' ("Loading of unsigned module is rejected")' : ' (it taints the kernel)'}; sign the plain .ko, then compress (kmodpress compress refuses such files)`));
		}
	} else {
		findings.push(finding('ELF_INVALID', 'error', `not an ELF module nor a gzip/xz/zstd compressed one (starts with ${bytes.subarray(0, 6).toString('hex')}); the kernel says "Invalid ELF header" (ENOEXEC): reinstall the module`));
		return {loaded};
	}
	return image ? {loaded, image} : {loaded};
}

/** The second half: the facts of the image (ELF, .modinfo, symbols, signature, BTF against the vmlinux base), added
 * to what decodeForLoad found. Synchronous, and keeps nothing that points into the image. */
export function analyseForLoad(loaded: Loaded, image: Buffer, o: LoadOptions): Loaded {
	const {path, findings} = loaded;
	const r = tryAnalyze(image, path);
	if ('error' in r) {
		findings.push(finding('ELF_INVALID', 'error', `${r.error}; the kernel refuses it (ENOEXEC): reinstall or rebuild the module`));
		return loaded;
	}
	const facts = r.facts;
	if (facts.btf && !facts.btfBase && o.btfBase) {
		const key = o.btfBaseKey ?? String(o.btfBase.length);
		let base = baseCache.get(key);
		if (!base) {
			base = parseBtf(o.btfBase);
			baseCache.set(key, base);
		}
		try {
			facts.btfError = checkBtf(parseBtf(facts.btf, base)) ?? null;
		} catch (e) {
			facts.btfError = e instanceof BtfError ? e.message : String(e);
		}
	}
	facts.btf = undefined; // a view into the image: checked here, not sent back
	loaded.facts = facts;
	const name = r.facts.modinfo.name?.[0];
	if (name) loaded.module = name.replace(/-/g, '_');
	return loaded;
}

async function decompressForLoad(bytes: Buffer, alg: Algorithm, o: LoadOptions, decompress: Decompress, findings: Finding[], into: Scratch | undefined): Promise<Buffer | undefined> {
	const kernelAlg = o.decompressor.algorithm;
	const kmod = o.kmod;
	const maxOutput = o.maxOutput;
	const fix = `recompress it as the kernel expects: kmodpress recompress --kernel ${o.release}`;
	if (alg === kernelAlg) {
		const k = await decodeAsKernel(bytes, o.decompressor, {maxOutput, ...(into ? {into} : {})});
		if (!k.ok) {
			const code = k.bomb ? 'DECOMPRESSION_BOMB' : 'KERNEL_DECOMPRESS';
			let userspace = '';
			if (!k.bomb && (kmod.version ?? 99) <= 30 && kmodReads(kmod as KmodInfo, alg)) {
				try {
					await decompress(bytes, alg, {maxOutput});
					userspace = ` (kmod ${kmod.version} still decompresses it in userspace today, but kmod >= 31 hands ${alg} files to the kernel, which refuses it)`;
				} catch {
					// kmod cannot either
				}
			}
			findings.push(finding(code, 'error', `the kernel's ${alg} decompressor refuses it: "${k.message}"${k.reason ? ` — ${k.reason}` : ''}${userspace}; ${fix}`));
			return undefined;
		}
		for (const n of k.notes) findings.push(finding('DECOMPRESS_NOTE', 'info', n));
		return k.data;
	}
	const reads = kmodReads(kmod as KmodInfo, alg);
	if (kernelAlg) {
		findings.push(finding('WRONG_ALGORITHM', 'warning', `the kernel decompresses only ${kernelAlg}: it answers "not a ${alg} compressed module" (EINVAL) and kmod >= 31 falls back to its own ${alg} decompression${alg === 'zstd' ? '; busybox modprobe (initramfs) cannot read zstd at all' : ''}; ${fix}`));
	}
	if (reads === false) {
		findings.push(finding('USERSPACE_DECOMPRESS', 'error', `kmod ${kmod.version ?? ''} has no ${alg} support (-${KMOD_FEATURE[alg]}): modprobe cannot load it and depmod leaves it out of modules.dep; ${fix}, or rebuild kmod with ${alg}`));
		return undefined;
	}
	if (alg === 'zstd' && (kmod.version ?? 0) >= 34) {
		const h = parseZstdFrameHeader(bytes);
		if (h && !('status' in h) && h.contentSize === undefined) {
			findings.push(finding('ZSTD_NO_CONTENT_SIZE', 'error', `kmod ${kmod.version} needs the zstd content size in the frame header and this file has none (compressed from a pipe); ${fix}`));
			return undefined;
		}
	}
	try {
		return await decompress(bytes, alg, {maxOutput});
	} catch (e) {
		findings.push(finding(isKmodpressError(e) && e.code === 'E_CODEC_BOMB' ? 'DECOMPRESSION_BOMB' : 'USERSPACE_DECOMPRESS', 'error', `kmod cannot decompress it: ${isKmodpressError(e) ? e.message : String(e)}; reinstall the module`));
		return undefined;
	}
}

