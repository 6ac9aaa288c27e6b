#!/usr/bin/env node
// lzma-native ships prebuilt binaries, and its source build passes CFLAGS="-fPIC $CFLAGS" to liblzma's
// ./configure, which replaces autoconf's default "-g -O2": both run liblzma unoptimized, at about half the
// speed of the xz CLI. Rebuild it from source with -O2 unless the existing build already has it.
import {existsSync, readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {spawnSync} from 'node:child_process';

const require = createRequire(import.meta.url);
let dir;
try {
	dir = dirname(require.resolve('lzma-native/package.json'));
} catch {
	console.error('kmodpress: lzma-native is not installed; run npm install first');
	process.exit(1);
}
const makefile = join(dir, 'build/liblzma/Makefile');
const binary = join(dir, 'build/Release/lzma_native.node');
const optimized = () => existsSync(binary) && existsSync(makefile) &&
	/^CFLAGS = .*-O2/m.test(readFileSync(makefile, 'utf8'));
if (optimized()) process.exit(0);
console.error('kmodpress: building lzma-native from source with CFLAGS=-O2 (about a minute)');
const npm = process.env.npm_execpath;
const [cmd, args] = npm ? [process.execPath, [npm, 'rebuild', 'lzma-native']] : ['npm', ['rebuild', 'lzma-native']];
const r = spawnSync(cmd, args, {
	stdio: 'inherit',
	env: {...process.env, CFLAGS: '-O2', npm_config_build_from_source: 'true'},
});
if (r.status !== 0 || !optimized()) {
	console.error('kmodpress: the optimized lzma-native build failed; see the output above');
	process.exit(1);
}
