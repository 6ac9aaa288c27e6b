// One module, start to end: read it through its pinned directory (no symlinks out of the tree), decode it as the
// kernel and as kmod would, check the ELF image and vermagic, plan, encode and decode back under the kernel's rules,
// replace (safe-replace.ts), drop its older names. A failure becomes the module's result, never a throw.
import {lstat} from 'node:fs/promises';
import {basename, dirname, join, relative} from 'node:path';
import type {CodecPool} from '../workers/pool.js';
import {detectFormat} from '../formats/index.js';
import {endsWithSignature, moduleNameOfFile, plainName, targetName} from '../formats/table.js';
import {errorToJSON, type ErrorJSON, isKmodpressError, KmodpressError} from '../errors.js';
import {removeStaleName, replaceFile} from '../disk/safe-replace.js';
import {readSecurityXattrs} from '../disk/xattrs.js';
import {anchorsOf, type PinnedDir, pinDir} from '../disk/pinned-dir.js';
import {readModuleFile} from '../disk/walk.js';
import type {KernelConfig} from '../target/kernel-config.js';
import type {KernelTarget} from '../target/discover.js';
import {checkModuleImage} from '../verify/checks/module-image.js';
import {type Action, type FileFacts, planAction} from './plan.js';
import type {Policy} from '../policy/index.js';
import type {Algorithm, Finding, Log} from '../types.js';
import {parseZstdFrameHeader} from '../formats/zstd/header.js';

export type ModuleOutcome = 'compressed' | 'recompressed' | 'decompressed' | 'unchanged' | 'failed';

export interface ModuleResult {
	/** the file as found */
	path: string;
	/** the module name (file name without .ko and suffix) */
	module: string;
	outcome: ModuleOutcome;
	/** the file after the run (absent when failed) */
	result?: string;
	/** the name removed, when the file changed name */
	removed?: string[];
	algorithm?: Algorithm | null;
	bytesBefore?: number;
	bytesAfter?: number;
	reason: string;
	error?: ErrorJSON;
	warnings?: string[];
	/** the verifier's verdict on the result (compress --no-verify: absent) */
	verify?: {loadable: boolean; depends: string[]; findings: Finding[]};
}

/** Whether the run wrote this module (compressed, recompressed or decompressed it). */
export function wroteModule(r: ModuleResult): boolean {
	return r.outcome !== 'unchanged' && r.outcome !== 'failed';
}

export interface ModuleContext {
	target: KernelTarget;
	policy: Policy;
	config: KernelConfig | undefined;
	pool: CodecPool;
	maxOutput: number;
	/** cores one module may be encoded on (xz's multi-threaded format); undefined: all */
	threads?: number | undefined;
	dryRun: boolean;
	log: Log;
}

/** Group paths by directory + module name: foo.ko and foo.ko.xz in one directory are one module under two names. */
export function groupByModule(paths: readonly string[]): Map<string, string[]> {
	const groups = new Map<string, string[]>();
	for (const p of paths) {
		const key = join(dirname(p), plainName(basename(p)));
		const g = groups.get(key);
		if (g) g.push(p);
		else groups.set(key, [p]);
	}
	return groups;
}

/** Bring one module (all its names in one directory: `group`) into the form the target kernel installs. */
export async function processModule(group: string[], ctx: ModuleContext): Promise<ModuleResult> {
	const {target, policy, log} = ctx;
	// One module under several names: the plain .ko is the one just installed; otherwise the newest.
	const sorted = await sortByPreference(group);
	const path = sorted[0]!;
	const stale = sorted.slice(1);
	const base: ModuleResult = {path, module: moduleNameOfFile(path), outcome: 'failed', reason: ''};
	let pin: PinnedDir | undefined;
	try {
		// every read and write for this module goes through its directory opened once (a symlink swapped in on the
		// path meanwhile cannot redirect them)
		pin = pinDir(dirname(path), anchorsOf(target));
		const bytes = await readModuleFile(join(pin.via, basename(path)), {maxBytes: ctx.maxOutput, label: path});
		const {facts, image} = await inspect(path, bytes, ctx);
		const warnings = checkModuleImage(image, path, target, policy, ctx.config);
		const action: Action = planAction(facts, policy);
		const to = join(dirname(path), targetName(basename(path), action.algorithm));
		base.bytesBefore = bytes.length;
		base.algorithm = action.algorithm;
		if (warnings.length) base.warnings = warnings;
		if (action.kind === 'keep' && stale.length === 0) {
			return {...base, outcome: 'unchanged', result: path, bytesAfter: bytes.length, reason: action.reason};
		}
		let data: Buffer;
		if (action.kind === 'keep') data = bytes;
		else if (action.algorithm === null) data = image;
		else data = await compressChecked(image, action.algorithm, to, ctx);
		const outcome: ModuleOutcome = action.kind === 'compress' ? 'compressed' : action.kind === 'recompress' ? 'recompressed'
			: action.kind === 'decompress' ? 'decompressed' : 'unchanged';
		const removed = [...(to !== path ? [path] : []), ...stale.filter((s) => s !== to)];
		const reason = stale.length ? `${action.reason}; ${stale.map((s) => basename(s)).join(', ')} ${stale.length > 1 ? 'were older names' : 'was an older name'} of the same module` : action.reason;
		if (ctx.dryRun) return {...base, outcome, result: to, ...(removed.length ? {removed} : {}), bytesAfter: data.length, reason};
		if (action.kind !== 'keep' || to !== path) await writeModule(pin, path, to, data, log);
		for (const s of stale) {
			if (s === to || s === path) continue;
			removeStaleName(pin.via, basename(s), {log});
		}
		log('info', `${relative(target.moduleDir, to).startsWith('..') ? to : relative(target.moduleDir, to)}: ${outcome} (${reason})`);
		return {...base, outcome, result: to, ...(removed.length ? {removed} : {}), bytesAfter: data.length, reason};
	} catch (e) {
		const err = errorToJSON(e);
		log('error', isKmodpressError(e) ? e.line : err.message);
		return {...base, outcome: 'failed', reason: err.message, error: err};
	} finally {
		pin?.close();
	}
}

/** Read and understand one file: its algorithm, the ELF image inside, what the kernel and kmod make of it. */
async function inspect(path: string, bytes: Buffer, ctx: ModuleContext): Promise<{facts: FileFacts; image: Buffer}> {
	if (bytes.length === 0) {
		throw new KmodpressError('E_INPUT_EMPTY', 'empty file (an interrupted copy?)', {file: path, fix: 'reinstall the module (rebuild the package)'});
	}
	const magic = detectFormat(bytes);
	if (magic === 'elf') return {facts: {algorithm: null}, image: bytes};
	if (magic === null) {
		throw new KmodpressError('E_ELF_NOT_ELF', `neither an ELF module nor a gzip/xz/zstd compressed one (starts with ${bytes.subarray(0, 6).toString('hex')})`, {
			file: path, fix: 'reinstall the module; if it was compressed by hand, use the kernel\'s algorithm',
		});
	}
	if (magic !== 'xz' && magic !== 'zstd' && magic !== 'gzip') {
		throw new KmodpressError('E_CODEC_CORRUPT', `${magic} data, which no kernel decompresses (only gzip, xz, zstd)`, {
			file: path, fix: 'decompress it and rerun kmodpress',
		});
	}
	if (endsWithSignature(bytes)) {
		throw new KmodpressError('E_SIG_AFTER_COMPRESSION', 'the signature was appended after compression; the kernel checks the decompressed image and rejects it ("Loading of unsigned module is rejected")', {
			file: path, fix: 'sign the plain .ko first, then compress (kbuild order: install → strip → sign → compress)',
		});
	}
	let image: Buffer;
	try {
		image = await ctx.pool.decompress(bytes, magic, {maxOutput: ctx.maxOutput});
	} catch (e) {
		if (isKmodpressError(e)) throw new KmodpressError(e.code, e.message, {file: path, fix: e.fix ?? 'reinstall the module', cause: e});
		throw e;
	}
	const facts: FileFacts = {algorithm: magic};
	if (magic === ctx.policy.decompressor.value.algorithm) {
		const k = await ctx.pool.kernelDecode(bytes, ctx.policy.decompressor.value, {maxOutput: ctx.maxOutput});
		facts.kernel = {ok: k.ok, message: k.message, completeOutput: k.ok && k.data !== undefined && k.data.equals(image)};
	}
	if (magic === 'zstd') facts.zstdWithoutContentSize = !zstdHasContentSize(bytes);
	return {facts, image};
}

/** The Frame_Header_Descriptor's Frame_Content_Size_flag / Single_Segment_flag (RFC 8878 §3.1.1.1.1). */
function zstdHasContentSize(bytes: Buffer): boolean {
	const h = parseZstdFrameHeader(bytes);
	return h !== undefined && !('status' in h) && h.contentSize !== undefined;
}

/** Encode the image and decode what is about to be written the way the target will: the kernel's rules when it
 * decompresses this algorithm itself, kmod's otherwise; it must give back the module byte for byte (signature
 * included). Both happen in a codec worker (the image goes there and back without a copy). */
async function compressChecked(image: Buffer, algorithm: Algorithm, to: string, ctx: ModuleContext): Promise<Buffer> {
	if (ctx.policy.params!.algorithm !== algorithm) throw new KmodpressError('E_INTERNAL', `planned ${algorithm} but the policy encodes ${ctx.policy.params!.algorithm}`, {file: to});
	const r = await ctx.pool.compressChecked(image, ctx.policy.params!, ctx.policy.decompressor.value, {maxOutput: ctx.maxOutput, ...(ctx.threads === undefined ? {} : {threads: ctx.threads})});
	if (r.failure?.kind === 'refused') {
		throw new KmodpressError('E_CODEC_ROUNDTRIP', `the kernel would refuse what kmodpress just encoded (${r.failure.message}); nothing was written`, {file: to, fix: 'report this to kmodpress with the output of `kmodpress explain`'});
	}
	if (r.failure) {
		throw new KmodpressError('E_CODEC_ROUNDTRIP', `decoding the new file with ${r.how} does not give back the module byte for byte; nothing was written`, {file: to, fix: 'report this to kmodpress'});
	}
	return r.data;
}

/** Put `data` under the name `to` in place of `path`, crash-safely, keeping the security xattrs. */
async function writeModule(pin: PinnedDir, path: string, to: string, data: Buffer, log: Log): Promise<void> {
	await replaceFile({
		dir: pin.via,
		dirLabel: dirname(path),
		from: basename(path),
		to: basename(to),
		data,
		log,
		xattrs: await readSecurityXattrs(join(pin.real, basename(path))),
		verify: async (written: Buffer) => {
			if (!written.equals(data)) throw new KmodpressError('E_WRITE_FAILED', 'what reached the disk differs from what was written', {file: to, fix: 'check the filesystem and disk (dmesg)'});
		},
	});
}

/** The names of one module, the one to keep first: a plain .ko (the one just installed), otherwise the newest. */
async function sortByPreference(group: string[]): Promise<string[]> {
	if (group.length === 1) return group;
	const withTime = await Promise.all(group.map(async (p) => ({p, plain: plainName(p) === p, t: (await lstat(p).catch(() => undefined))?.mtimeMs ?? 0})));
	withTime.sort((a, b) => Number(b.plain) - Number(a.plain) || b.t - a.t);
	return withTime.map((x) => x.p);
}
