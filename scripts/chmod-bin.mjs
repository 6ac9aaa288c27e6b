#!/usr/bin/env node
// Run after tsc by `npm run build` and `prepare`: make every file package.json's "bin" names executable (tsc writes
// dist/cli.js with mode 0644; npm sets the execute bit only when it installs a package from a tarball, not for a
// checkout that is built in place, so `npx kmodpress` there said "Permission denied").
import {chmodSync, readFileSync, statSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const {bin = {}} = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const rel of typeof bin === 'string' ? [bin] : Object.values(bin)) {
	const file = join(root, rel);
	chmodSync(file, (statSync(file).mode & 0o7777) | 0o111);
}
