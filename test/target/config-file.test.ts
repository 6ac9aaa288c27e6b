import {spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {loadConfig, validateConfig} from '../../src/target/config-file.js';
import {isKmodpressError} from '../../src/errors.js';
import {DEBIAN_KV} from '../helpers/paths.js';

const CLI = join(import.meta.dirname, '../../src/cli.ts');

test('a hostile working directory (and its parents) is never executed or read', () => {
	const top = mkdtempSync(join(tmpdir(), 'kmodpress-hostile-'));
	const cwd = join(top, 'pkg/src');
	mkdirSync(join(cwd, '.config'), {recursive: true});
	mkdirSync(join(top, '.config'), {recursive: true});
	const marker = join(top, 'EXECUTED');
	const js = `require('fs').writeFileSync(${JSON.stringify(marker)}, __filename); module.exports = {compress: 'none'};`;
	const mjs = `import {writeFileSync} from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, import.meta.url); export default {compress: 'none'};`;
	for (const d of [cwd, top]) {
		writeFileSync(join(d, '.config/config.js'), js);
		writeFileSync(join(d, '.config/config.cjs'), js);
		writeFileSync(join(d, '.config/config.mjs'), mjs);
		writeFileSync(join(d, '.config/config.ts'), mjs);
		writeFileSync(join(d, '.config/config.json'), JSON.stringify({searchPlaces: ['evil.json'], compress: 'none'}));
		writeFileSync(join(d, '.kmodpressrc.js'), js);
		writeFileSync(join(d, '.kmodpressrc.json'), JSON.stringify({compress: 'none'}));
		writeFileSync(join(d, 'kmodpress.config.js'), js);
		writeFileSync(join(d, 'kmodpress.config.ts'), mjs);
		writeFileSync(join(d, 'evil.json'), JSON.stringify({compress: 'none'}));
		writeFileSync(join(d, 'package.json'), JSON.stringify({name: 'evil', kmodpress: {compress: 'none'}, cosmiconfig: {searchPlaces: ['.config/config.js']}}));
	}
	const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, 'explain', '--kernel', DEBIAN_KV, '--json'], {cwd, encoding: 'utf8'});
	assert.is(r.status, 0, r.stderr);
	assert.not.ok(existsSync(marker), 'no config code ran');
	const out = JSON.parse(r.stdout);
	assert.is(out.policy.compress.value, true, 'compress: none from the cwd was not read');
	rmSync(top, {recursive: true});
});

test('/etc/kmodpress/config.yaml under --root is read; flags win; a bad one is a usage error naming key and file', async () => {
	const root = mkdtempSync(join(tmpdir(), 'kmodpress-cfg-'));
	mkdirSync(join(root, 'etc/kmodpress'), {recursive: true});
	writeFileSync(join(root, 'etc/kmodpress/config.yaml'), 'compress: none\nthreads: 2\n');
	const {config, from} = await loadConfig({root});
	assert.equal(config, {compress: 'none', threads: 2});
	assert.is(from, join(root, 'etc/kmodpress/config.yaml'));
	writeFileSync(join(root, 'etc/kmodpress/config.yaml'), 'compres: none\n');
	await loadConfig({root}).then(() => assert.unreachable(), (e) => {
		assert.ok(isKmodpressError(e));
		assert.is(e.code, 'E_CONFIG_INVALID');
		assert.match(e.message, /config\.yaml: unknown key "compres"/);
	});
	writeFileSync(join(root, 'etc/kmodpress/config.yaml'), 'threads: many\n');
	const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'compress', '--kernel', DEBIAN_KV, '--root', root, '--dry-run'], {encoding: 'utf8'});
	assert.is(r.status, 2);
	assert.match(r.stderr, /E_CONFIG_INVALID: .*config\.yaml: "threads" must be a whole number from 1 to 256, got "many"/);
	writeFileSync(join(root, 'etc/kmodpress/config.yaml'), '{{{ not yaml');
	await loadConfig({root}).then(() => assert.unreachable(), (e) => assert.is(e.code, 'E_CONFIG_INVALID'));
	rmSync(root, {recursive: true});
});

test('validateConfig: what came in, what was expected', () => {
	assert.equal(validateConfig({algorithm: 'zstd', depmod: false}, 'f'), {algorithm: 'zstd', depmod: false});
	assert.throws(() => validateConfig({algorithm: 'lz4'}, 'f'), /"algorithm" must be one of "gzip", "xz", "zstd", got "lz4"/);
	assert.throws(() => validateConfig([1], 'f'), /expected an object/);
	assert.throws(() => validateConfig({__proto__: {x: 1}, maxDecompressedBytes: 5}, 'f'), /maxDecompressedBytes/);
});

test.run();
