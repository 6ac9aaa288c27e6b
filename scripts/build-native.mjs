#!/usr/bin/env node
// Builds kmodpress's native xz decoder and encoder (native/xz-{decode,encode}.c → build/*.node) against the system's
// liblzma (Debian: liblzma-dev) and Node's own N-API headers, with the C compiler directly: no node-gyp, no download.
// Without them kmodpress decodes and encodes xz through lzma-native, correctly but slower. Run by `npm install`
// (postinstall) and scripts/setup.sh (--strict: a failure is an error there, since setup installs what the build needs).
import {existsSync, mkdirSync, renameSync, rmSync, statSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {spawnSync} from 'node:child_process';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
let failed = false;

// Each addon: its name, the function it must export, and what kmodpress does without it.
const ADDONS = [
	{name: 'xz-decode', what: 'xz decoder', exported: 'decode', without: 'kmodpress decodes xz through lzma-native instead (slower)'},
	{name: 'xz-encode', what: 'xz encoder', exported: 'encode', without: 'kmodpress encodes xz through lzma-native instead'},
];

const loads = (file, exported) => spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(file)}); if (typeof m[${JSON.stringify(exported)}] !== 'function') process.exit(1)`], {stdio: 'ignore'}).status === 0;

function build({name, what, exported, without}) {
	const source = join(root, `native/${name}.c`);
	const target = join(root, `build/${name}.node`);
	const fail = (why) => {
		console.error(`kmodpress: the native ${what} was not built: ${why}; ${without}. Install gcc and liblzma-dev, then run: node scripts/build-native.mjs`);
		failed = true;
	};
	if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs && loads(target, exported)) return;
	const headers = [process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'), join(dirname(process.execPath), '../include/node')]
		.find((d) => d && existsSync(join(d, 'node_api.h')));
	if (!headers) return fail(`no node_api.h next to ${process.execPath} (../include/node)`);
	mkdirSync(dirname(target), {recursive: true});
	const tmp = join(dirname(target), `.${name}.${process.pid}.node`); // .node: require() loads it as an addon
	const cc = process.env.CC || 'cc';
	// Node-API 8 (Node >= 12.22), whatever Node builds it: an addon compiled for a newer Node-API than the Node that
	// runs it crashes that Node (src/formats/addon.ts), and Debian 12's nodejs 18 has Node-API 9.
	const r = spawnSync(cc, ['-O2', '-Wall', '-shared', '-fPIC', '-DNAPI_VERSION=8', '-I', headers, '-o', tmp, source, '-llzma'], {stdio: ['ignore', 'inherit', 'inherit']});
	if (r.error || r.status !== 0) {
		rmSync(tmp, {force: true});
		return fail(r.error ? `${cc}: ${r.error.message}` : `${cc} exited ${r.status}`);
	}
	if (!loads(tmp, exported)) {
		rmSync(tmp, {force: true});
		return fail('the compiled addon does not load into this Node.js');
	}
	renameSync(tmp, target);
	console.error(`kmodpress: built ${target}`);
}

for (const addon of ADDONS) build(addon);
process.exit(failed && strict ? 1 : 0);
