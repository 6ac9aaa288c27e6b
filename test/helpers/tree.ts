// Temporary sysroots for tests (the role of kmod's TESTSUITE_ROOTFS): <root>/lib/modules/KV with a few of Debian's
// real in-tree modules (so depmod -b ROOT works and the tree is a real kernel's, not a staging image), plus whatever
// out-of-tree files a test puts in. Nothing outside the temp dir is touched.
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {execFileSync} from 'node:child_process';
import {CACHE, cached, DEBIAN_KV, DEBIAN_MODDIR} from './paths.js';

export interface Sysroot {
	root: string;
	moduleDir: string;
	kv: string;
	/** write a file under moduleDir (creating directories) and return its absolute path */
	put(rel: string, data: Buffer | string, mode?: number): string;
	cleanup(): void;
}

/** In-tree modules copied into every sysroot: small, with a dependency between them. */
export const IN_TREE = ['kernel/lib/crc-itu-t.ko.xz', 'kernel/fs/omfs/omfs.ko.xz', 'kernel/lib/crc8.ko.xz'];

export function makeSysroot(opts: {inTree?: readonly string[]; staging?: boolean} = {}): Sysroot {
	const root = mkdtempSync(join(tmpdir(), 'kmodpress-root-'));
	const kv = DEBIAN_KV;
	const moduleDir = join(root, 'lib/modules', kv);
	mkdirSync(moduleDir, {recursive: true});
	if (!opts.staging) {
		const inTree = (opts.inTree ?? IN_TREE).filter((p) => {
			try {
				readFileSync(join(DEBIAN_MODDIR, p));
				return true;
			} catch {
				return false;
			}
		});
		for (const rel of inTree) {
			mkdirSync(dirname(join(moduleDir, rel)), {recursive: true});
			copyFileSync(join(DEBIAN_MODDIR, rel), join(moduleDir, rel));
		}
		writeFileSync(join(moduleDir, 'modules.order'), inTree.map((p) => p.replace(/\.xz$/, '')).join('\n') + '\n');
		for (const f of ['modules.builtin', 'modules.builtin.modinfo']) copyFileSync(join(DEBIAN_MODDIR, f), join(moduleDir, f));
	}
	return {
		root, moduleDir, kv,
		put(rel, data, mode = 0o644) {
			const p = join(moduleDir, rel);
			mkdirSync(dirname(p), {recursive: true});
			writeFileSync(p, data, {mode});
			return p;
		},
		cleanup() {
			rmSync(root, {recursive: true, force: true});
		},
	};
}

/** The example module built by test/helpers/build-example.sh. */
export function exampleModule(variant: 'plain' | 'signed' = 'plain'): Buffer {
	return readFileSync(cached('example/current', variant === 'plain' ? 'kmodpress_hello.ko' : 'kmodpress_hello.signed.ko'));
}

/** trixie's xz 5.8.1, unpacked by test/helpers/fetch-xz-trixie.sh (its liblzma in usr/lib/x86_64-linux-gnu). */
export const TRIXIE_XZ_DIR = join(CACHE, 'xz-trixie');

/** Run trixie's xz with its own liblzma and an empty environment (XZ_DEFAULTS/XZ_OPT would change its output). */
export function trixieXz(args: string[], input?: Buffer): Buffer {
	const dir = cached('xz-trixie');
	return execFileSync(join(dir, 'usr/bin/xz'), args, {input, env: {LD_LIBRARY_PATH: join(dir, 'usr/lib/x86_64-linux-gnu')}, maxBuffer: 1 << 30});
}

/** Make trixie's xz the sysroot's own: <root>/usr/bin/xz and its liblzma, as installing xz-utils there would. */
export function installTrixieXz(root: string): void {
	const dir = cached('xz-trixie');
	for (const rel of ['usr/bin/xz', 'usr/lib/x86_64-linux-gnu/liblzma.so.5']) {
		mkdirSync(dirname(join(root, rel)), {recursive: true});
		copyFileSync(join(dir, rel), join(root, rel));
	}
}
