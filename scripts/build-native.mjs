#!/usr/bin/env node
// Builds kmodpress's native xz decoder (native/xz-decode.c → build/xz-decode.node) against the system's liblzma
// (Debian: liblzma-dev) and Node's own N-API headers, with the C compiler directly: no node-gyp, no download.
// Without it kmodpress decodes xz through lzma-native, correctly but slower. Run by `npm install` (postinstall) and
// scripts/setup.sh (--strict: a failure is an error there, since setup installs what the build needs).
import {existsSync, mkdirSync, renameSync, rmSync, statSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {spawnSync} from 'node:child_process';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native/xz-decode.c');
const target = join(root, 'build/xz-decode.node');
const strict = process.argv.includes('--strict');

function fail(why) {
	console.error(`kmodpress: the native xz decoder was not built: ${why}; kmodpress decodes xz through lzma-native instead (slower). Install gcc and liblzma-dev, then run: node scripts/build-native.mjs`);
	process.exit(strict ? 1 : 0);
}

const loads = (file) => spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(file)}); if (typeof m.decode !== 'function') process.exit(1)`], {stdio: 'ignore'}).status === 0;

if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs && loads(target)) process.exit(0);
const headers = [process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'), join(dirname(process.execPath), '../include/node')]
	.find((d) => d && existsSync(join(d, 'node_api.h')));
if (!headers) fail(`no node_api.h next to ${process.execPath} (../include/node)`);
mkdirSync(dirname(target), {recursive: true});
const tmp = join(dirname(target), `.xz-decode.${process.pid}.node`); // .node: require() loads it as an addon
const cc = process.env.CC || 'cc';
const r = spawnSync(cc, ['-O2', '-Wall', '-shared', '-fPIC', '-I', headers, '-o', tmp, source, '-llzma'], {stdio: ['ignore', 'inherit', 'inherit']});
if (r.error || r.status !== 0) {
	rmSync(tmp, {force: true});
	fail(r.error ? `${cc}: ${r.error.message}` : `${cc} exited ${r.status}`);
}
if (!loads(tmp)) {
	rmSync(tmp, {force: true});
	fail('the compiled addon does not load into this Node.js');
}
renameSync(tmp, target);
console.error(`kmodpress: built ${target}`);
