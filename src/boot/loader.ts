// The lab's module loader: a copy of test/lab/loader.c (a test checks they are identical), compiled on demand with
// `gcc -static -O2` when bootAndLoad() is not handed a prebuilt one. It loads a module the way kmod >= 31 does:
// finit_module(fd, params, MODULE_INIT_COMPRESSED_FILE) for .gz/.xz/.zst, flags 0 otherwise.
import {createHash} from 'node:crypto';
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {KmodpressError} from '../errors.js';
import {requireTool, run} from '../disk/exec.js';
import {isStaticExecutable} from './elf-static.js';

export const LOADER_C = "/*\n * kmodpress lab loader: loads a kernel module the way kmod >= 31 does, and nothing more.\n *\n *   loader FILE [params]   finit_module(fd, params, flags); flags = MODULE_INIT_COMPRESSED_FILE (4) when FILE\n *                          ends in .gz, .xz or .zst (the kernel decompresses it itself), else 0.\n *   loader -r NAME         delete_module(NAME, O_NONBLOCK)\n *\n * Prints exactly one parseable line on stdout:\n *   LOADER <file-or-name> rc=<0|-1> errno=<n> <strerror>\n * and exits 0 when the call succeeded, 1 when it failed, 2 on usage/open errors.\n * Built with `gcc -static -O2` by test/lab/build-kernels.sh; runs as PID-1's child in the lab's initramfs.\n */\n#define _GNU_SOURCE\n#include <errno.h>\n#include <fcntl.h>\n#include <stdio.h>\n#include <string.h>\n#include <sys/syscall.h>\n#include <unistd.h>\n\n#ifndef MODULE_INIT_COMPRESSED_FILE\n#define MODULE_INIT_COMPRESSED_FILE 4\n#endif\n\nstatic int ends_with(const char *s, const char *suffix)\n{\n\tsize_t n = strlen(s), m = strlen(suffix);\n\treturn n >= m && strcmp(s + n - m, suffix) == 0;\n}\n\nstatic int report(const char *what, long rc, int err)\n{\n\tprintf(\"LOADER %s rc=%ld errno=%d %s\\n\", what, rc, rc == 0 ? 0 : err, rc == 0 ? \"Success\" : strerror(err));\n\tfflush(stdout);\n\treturn rc == 0 ? 0 : 1;\n}\n\nint main(int argc, char **argv)\n{\n\tif (argc >= 3 && strcmp(argv[1], \"-r\") == 0) {\n\t\tlong rc = syscall(SYS_delete_module, argv[2], O_NONBLOCK);\n\t\treturn report(argv[2], rc, errno);\n\t}\n\tif (argc < 2 || argc > 3 || argv[1][0] == '-') {\n\t\tfprintf(stderr, \"usage: loader FILE [params] | loader -r NAME\\n\");\n\t\treturn 2;\n\t}\n\tconst char *file = argv[1];\n\tconst char *params = argc == 3 ? argv[2] : \"\";\n\tint flags = 0;\n\tif (ends_with(file, \".gz\") || ends_with(file, \".xz\") || ends_with(file, \".zst\"))\n\t\tflags = MODULE_INIT_COMPRESSED_FILE;\n\tint fd = open(file, O_RDONLY | O_CLOEXEC);\n\tif (fd < 0) {\n\t\tint err = errno;\n\t\tprintf(\"LOADER %s rc=-1 errno=%d open: %s\\n\", file, err, strerror(err));\n\t\tfflush(stdout);\n\t\treturn 2;\n\t}\n\tlong rc = syscall(SYS_finit_module, fd, params, flags);\n\tint err = errno;\n\tclose(fd);\n\treturn report(file, rc, err);\n}\n";

/** A static loader binary built from LOADER_C, cached under dir (default: $TMPDIR/kmodpress-loader-<hash>). */
export async function ensureLoader(dir?: string): Promise<string> {
	const hash = createHash('sha256').update(LOADER_C).digest('hex').slice(0, 16);
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
	const src = join(outDir, 'loader.c');
	writeFileSync(src, LOADER_C);
	const tmp = join(outDir, `loader.${process.pid}.tmp`);
	const r = await run(gcc, ['-static', '-O2', '-o', tmp, src]);
	if (r.exitCode !== 0) {
		throw new KmodpressError('E_TOOL_MISSING', `gcc -static could not build the module loader: ${String(r.stderr).trim().split('\n').slice(-3).join(' ')}`, {
			fix: 'install the static C library (Debian: apt-get install libc6-dev) or pass a prebuilt static loader',
		});
	}
	renameSync(tmp, out);
	return out;
}
