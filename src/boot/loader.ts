// The boot check's module loader: native/loader.c, compiled on demand with `gcc -static -O2` when bootAndLoad() is
// not handed a prebuilt one. It loads a module the way kmod >= 31 does: finit_module(fd, params,
// MODULE_INIT_COMPRESSED_FILE) for .gz/.xz/.zst, flags 0 otherwise.
import {createHash} from 'node:crypto';
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {fsError, KmodpressError} from '../errors.js';
import {requireTool, run} from '../disk/exec.js';
import {isStaticExecutable} from './elf-static.js';

/** native/loader.c in this package (src/boot/loader.ts and dist/boot/loader.js both sit two levels below the root). */
export const LOADER_SOURCE = fileURLToPath(new URL('../../native/loader.c', import.meta.url));

/** A static loader binary built from LOADER_SOURCE, cached under dir (default: $TMPDIR/kmodpress-loader-<hash>). */
export async function ensureLoader(dir?: string): Promise<string> {
	let source: Buffer;
	try {
		source = readFileSync(LOADER_SOURCE);
	} catch (e) {
		throw fsError('E_TOOL_MISSING', LOADER_SOURCE, 'read the module loader source', e, 'reinstall kmodpress (its package ships native/loader.c)');
	}
	const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
	let outDir = dir ?? join(tmpdir(), `kmodpress-loader-${hash}`);
	// a shared temp dir: reuse the cached binary only from a directory that is ours and nobody else can write
	if (dir === undefined && existsSync(outDir)) {
		const st = lstatSync(outDir);
		const ours = st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
		if (!ours) outDir = mkdtempSync(join(tmpdir(), 'kmodpress-loader-'));
	}
	const out = join(outDir, 'loader');
	if (existsSync(out) && isStaticExecutable(readFileSync(out))) return out;
	const gcc = requireTool('gcc', 'build the static module loader for the boot check', 'gcc libc6-dev');
	mkdirSync(outDir, {recursive: true, mode: 0o700});
	const tmp = join(outDir, `loader.${process.pid}.tmp`);
	const r = await run(gcc, ['-static', '-O2', '-o', tmp, LOADER_SOURCE]);
	if (r.exitCode !== 0) {
		throw new KmodpressError('E_TOOL_MISSING', `gcc -static could not build the module loader: ${String(r.stderr).trim().split('\n').slice(-3).join(' ')}`, {
			file: LOADER_SOURCE,
			fix: 'install the static C library (Debian: apt-get install libc6-dev) or pass a prebuilt static loader',
		});
	}
	renameSync(tmp, out);
	return out;
}
