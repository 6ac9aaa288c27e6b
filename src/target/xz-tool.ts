// The installed xz command: the program the kernel's cmd_xz runs (`$(XZ) --check=crc32 --lzma2=dict=1MiB -f $<`,
// scripts/Makefile.modinst, with XZ = xz from the top Makefile). Its version decides which container
// `make modules_install` writes (policy/xz-format.ts), so it is read here with where it came from:
//   - the live system (--root /) and a staging image (a package's ${D}, built on this host): the host's xz, found only
//     in the fixed directories (disk/exec.ts) and asked `xz --version` (first line "xz (XZ Utils) 5.4.1", printed by
//     message_version() in xz's src/xz/message.c: "xz (" PACKAGE_NAME ") " LZMA_VERSION_STRING);
//   - a sysroot with its own kernel tree: that system's xz, in the same fixed directories inside the root. It is read,
//     not run: it may be built for another architecture or need the sysroot's own liblzma (trixie's xz 5.8.1 refuses
//     bookworm's liblzma 5.4.1: "version `XZ_5.6.0' not found"). The line message_version() prints is a string
//     constant in the binary, so the same line is found in its bytes. No xz in the sysroot: the host's, said so.
// Absent is not broken: no xz is a fact the policy states; an xz that fails `--version` is reported with its words.
import {closeSync, openSync, readSync, statSync} from 'node:fs';
import {findTool, queryTool, TRUSTED_BIN_DIRS} from '../disk/exec.js';

export interface XzTool {
	/** [major, minor, patch] of the xz command; undefined when none is installed or its version could not be read */
	version: [number, number, number] | undefined;
	/** the version line as xz prints it ("xz (XZ Utils) 5.4.1"), when one was read */
	line: string | undefined;
	/** the binary and how it was read ("/usr/bin/xz --version"), or why there is none */
	from: string;
	/** set when an xz exists but its version could not be read: what went wrong */
	broken?: string;
}

/** message_version()'s first line, "xz (XZ Utils) 5.8.1" (a pre-release may end in alpha/beta). */
const VERSION_LINE = /xz \(XZ Utils\) (\d+)\.(\d+)\.(\d+)[a-z]*/;

/** The xz version from `xz --version` output or from the bytes of the binary. Pure. */
export function parseXzVersion(text: string, from: string): XzTool {
	const m = VERSION_LINE.exec(text);
	if (!m) return {version: undefined, line: undefined, from, broken: `no "xz (XZ Utils) X.Y.Z" line in ${from}`};
	return {version: [Number(m[1]), Number(m[2]), Number(m[3])], line: m[0], from};
}

/** A binary larger than this is not an xz (Debian's is 85 KB; a static build is well under 2 MB). */
const MAX_BINARY = 16 << 20;

function readBinary(path: string): Buffer {
	const size = statSync(path).size;
	if (size > MAX_BINARY) throw new Error(`${size} bytes, too large to be xz`);
	const fd = openSync(path, 'r');
	try {
		const buf = Buffer.alloc(size);
		let off = 0;
		while (off < size) {
			const n = readSync(fd, buf, off, size - off, off);
			if (n === 0) break;
			off += n;
		}
		return buf.subarray(0, off);
	} finally {
		closeSync(fd);
	}
}

/** The xz of a sysroot, as a host path, or undefined. Only the fixed directories, resolved inside the root. */
function findInRoot(root: string, resolve: (path: string) => string): {path: string; shown: string} | undefined {
	for (const dir of TRUSTED_BIN_DIRS) {
		const path = resolve(`${dir}/xz`);
		try {
			if (statSync(path).isFile()) return {path, shown: `${root.replace(/\/$/, '')}${dir}/xz`};
		} catch {
			// next
		}
	}
	return undefined;
}

/** The host's xz: run `xz --version` (scrubbed environment, absolute path). */
function hostXz(note: string): XzTool {
	const bin = findTool('xz');
	if (bin === undefined) return {version: undefined, line: undefined, from: `no xz in ${TRUSTED_BIN_DIRS.join(', ')}${note}`};
	const r = queryTool(bin, ['--version']);
	const from = `${bin} --version${note}`;
	if (!r.ok) return {version: undefined, line: undefined, from, broken: `${bin} --version failed: ${r.output.trim().split('\n')[0]}`};
	return parseXzVersion(r.output, from);
}

/** The xz that writes the modules of the target under `root`: see the header. `sysroot`: root holds a system with a
 * kernel tree of its own (not "/", not a staging image); `resolve` maps a path inside it to the host path, symlinks
 * followed inside the root (discover.ts's resolveInRoot). */
export function detectXz(opts: {root: string; sysroot: boolean; resolve: (path: string) => string}): XzTool {
	if (!opts.sysroot || opts.root === '/') return hostXz('');
	const found = findInRoot(opts.root, opts.resolve);
	if (!found) return hostXz(` (host; no xz in ${opts.root}'s ${TRUSTED_BIN_DIRS.join(', ')})`);
	const from = `${found.shown} (its version line, read from the binary: a sysroot's xz is not run)`;
	try {
		return parseXzVersion(readBinary(found.path).toString('latin1'), from);
	} catch (e) {
		return {version: undefined, line: undefined, from, broken: `cannot read ${found.shown} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`};
	}
}
