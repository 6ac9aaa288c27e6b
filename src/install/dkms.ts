// DKMS's own copy of what it installed. `dkms install` copies <dkms_tree>/<module>/<version>/<KV>/<arch>/module/<name>.ko*
// (its "built" copy, already compressed by DKMS) into the kernel's module tree, and `dkms status` compares the two
// byte for byte (dkms 3.0.10, /usr/sbin/dkms: module_status_built_extra prints "WARNING! Diff between built and
// installed module!" when `diff -q` says they differ). So when kmodpress rewrites an installed DKMS module, DKMS's
// copy must get the same bytes under the same name, as hooks/dkms/post-install does for a fresh `dkms install`.
//
// The rule, shared with hooks/dkms/post-install: DKMS's copy of an installed module is the file of the same module
// name in the module/ directory of a DKMS build installed for that kernel (the <dkms_tree>/<module>/kernel-<KV>-<arch>
// link names it) whose module image — the ELF after decompression — is the installed file's. It gets the installed
// file's final bytes and name; its other names (foo.ko next to foo.ko.xz) go. A copy with another image is another
// build of the module (rebuilt but not installed): it is left alone and reported.
import {existsSync, readdirSync, readFileSync, readlinkSync} from 'node:fs';
import {basename, join} from 'node:path';
import {decompressAs, detectFormat} from '../formats/index.js';
import {MODULE_NAME_RE, moduleNameOfFile} from '../formats/table.js';
import {isKmodpressError, KmodpressError} from '../errors.js';
import {removeStaleName, replaceFile} from '../disk/safe-replace.js';
import type {Log} from '../types.js';

/** One DKMS build installed for a kernel: <dkms_tree>/<module>/<version>/<KV>/<arch>/module. */
export interface DkmsBuild {
	module: string;
	version: string;
	arch: string;
	dir: string;
}

/** What happened to DKMS's copy of one installed module. */
export interface DkmsCopyResult {
	/** the installed module (under lib/modules/KV) */
	installed: string;
	/** DKMS's copy as it is now */
	copy: string;
	/** 'in-step': already the same bytes; 'rewritten' (or 'would-rewrite' in a dry run): given the installed bytes;
	 * 'other-build': a different module image, left alone */
	outcome: 'in-step' | 'rewritten' | 'would-rewrite' | 'other-build';
	build: string;
}

/**
 * dkms_tree as DKMS sees it under `root`: the last `dkms_tree=` line of /etc/dkms/framework.conf and
 * framework.conf.d/*.conf (read, never sourced; dkms 3.0.10 reads them in that order), else /var/lib/dkms.
 */
export function dkmsTree(root: string): string {
	let value = '';
	const files = [join(root, 'etc/dkms/framework.conf')];
	try {
		files.push(...readdirSync(join(root, 'etc/dkms/framework.conf.d')).filter((n) => n.endsWith('.conf')).sort().map((n) => join(root, 'etc/dkms/framework.conf.d', n)));
	} catch {
		// no framework.conf.d
	}
	for (const f of files) {
		let text: string;
		try {
			text = readFileSync(f, 'utf8');
		} catch {
			continue;
		}
		for (const line of text.split('\n')) {
			const m = /^\s*dkms_tree=["']?([^"'\s]+)["']?\s*$/.exec(line);
			if (m) value = m[1]!;
		}
	}
	return join(root, value || '/var/lib/dkms');
}

/** The DKMS builds installed for kernel `kv` (each <module>/kernel-<KV>-<arch> link → <version>/<KV>/<arch>). */
export function dkmsBuilds(tree: string, kv: string): DkmsBuild[] {
	const out: DkmsBuild[] = [];
	let modules: string[];
	try {
		modules = readdirSync(tree).sort();
	} catch {
		return out; // no DKMS
	}
	const prefix = `kernel-${kv}-`;
	for (const module of modules) {
		let entries: string[];
		try {
			entries = readdirSync(join(tree, module));
		} catch {
			continue;
		}
		for (const link of entries.filter((n) => n.startsWith(prefix)).sort()) {
			let target: string;
			try {
				target = readlinkSync(join(tree, module, link));
			} catch {
				continue;
			}
			const version = target.split('/')[0]!;
			const arch = link.slice(prefix.length);
			const dir = join(tree, module, version, kv, arch, 'module');
			if (existsSync(dir)) out.push({module, version, arch, dir});
		}
	}
	return out;
}

/** The module image of a module file's bytes (decompressed by magic, as kmod reads it). */
async function imageOf(bytes: Buffer, maxOutput: number): Promise<Buffer | undefined> {
	const format = detectFormat(bytes);
	if (format === 'elf') return bytes;
	if (format === 'xz' || format === 'zstd' || format === 'gzip') {
		try {
			return await decompressAs(bytes, format, {maxOutput});
		} catch {
			return undefined;
		}
	}
	return undefined;
}

/**
 * Bring DKMS's copy of each installed module in `installed` in step with it (see the rule at the top). Files that no
 * DKMS build of `kv` built are skipped. Throws nothing: a copy that cannot be rewritten is an error in `errors`.
 */
export async function syncDkmsCopies(opts: {root: string; kv: string; installed: readonly string[]; dryRun?: boolean; maxOutput: number; log?: Log}): Promise<{copies: DkmsCopyResult[]; errors: KmodpressError[]}> {
	const copies: DkmsCopyResult[] = [];
	const errors: KmodpressError[] = [];
	const builds = dkmsBuilds(dkmsTree(opts.root), opts.kv);
	if (builds.length === 0) return {copies, errors};
	const name = (file: string): string => moduleNameOfFile(file);
	for (const installed of opts.installed) {
		const finalName = basename(installed);
		try {
			let bytes: Buffer | undefined;
			let image: Buffer | undefined;
			for (const build of builds) {
				// DKMS's files of this module in this build (foo.ko.xz; foo.ko too, after an interrupted run)
				const mine = readdirSync(build.dir).filter((n) => MODULE_NAME_RE.test(n) && name(n) === name(installed)).sort();
				if (mine.length === 0) continue;
				const label = `${build.module}/${build.version}`;
				bytes ??= readFileSync(installed);
				if (mine.length === 1 && mine[0] === finalName && readFileSync(join(build.dir, finalName)).equals(bytes)) {
					copies.push({installed, copy: join(build.dir, finalName), outcome: 'in-step', build: label});
					continue;
				}
				image ??= await imageOf(bytes, opts.maxOutput);
				let from: string | undefined;
				for (const n of mine) {
					const copyImage = await imageOf(readFileSync(join(build.dir, n)), opts.maxOutput);
					if (image && copyImage?.equals(image)) {
						from = n;
						break;
					}
				}
				if (from === undefined) {
					copies.push({installed, copy: join(build.dir, mine[0]!), outcome: 'other-build', build: label});
					continue;
				}
				if (opts.dryRun) {
					copies.push({installed, copy: join(build.dir, from), outcome: 'would-rewrite', build: label});
					continue;
				}
				await replaceFile({dir: build.dir, from, to: finalName, data: bytes, ...(opts.log ? {log: opts.log} : {})});
				for (const other of mine) if (other !== from && other !== finalName) removeStaleName(build.dir, other, opts.log ? {log: opts.log} : {});
				opts.log?.('info', `${join(build.dir, finalName)}: DKMS's copy rewritten to the bytes of ${installed}`);
				copies.push({installed, copy: join(build.dir, finalName), outcome: 'rewritten', build: label});
			}
		} catch (e) {
			errors.push(isKmodpressError(e) ? e : new KmodpressError('E_WRITE_FAILED', `cannot bring DKMS's copy in step (${(e as Error).message})`, {
				file: installed, cause: e, fix: 'check the DKMS tree (dkms status) and run kmodpress recompress again',
			}));
		}
	}
	return {copies, errors};
}
