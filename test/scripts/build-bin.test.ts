// `npm run build` leaves package.json's "bin" executable: tsc writes dist/cli.js with mode 0644 (it never sets the
// execute bit), and npm links a bin without chmodding it when the package is used from a checkout, so `npx kmodpress`
// said "Permission denied" (issue 17). scripts/chmod-bin.mjs runs after tsc.
import {spawnSync} from 'node:child_process';
import {readFileSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';

const REPO = join(import.meta.dirname, '../..');

test('npm run build: every package.json bin is mode 0755 and runs by its path (its #! line)', () => {
	const b = spawnSync('npm', ['run', 'build'], {cwd: REPO, encoding: 'utf8'});
	assert.is(b.status, 0, b.stdout + b.stderr);
	const bin = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).bin as Record<string, string>;
	assert.equal(Object.keys(bin), ['kmodpress']);
	for (const [name, rel] of Object.entries(bin)) {
		const file = join(REPO, rel);
		assert.is((statSync(file).mode & 0o777).toString(8), '755', `${name}: ${file}`);
		const r = spawnSync(file, ['--help'], {encoding: 'utf8'});
		assert.is(r.status, 0, `${file} --help: ${r.error?.message ?? ''}${r.stderr}`);
		assert.match(r.stdout, /^Usage: kmodpress <command>/m);
	}
});

test.run();
