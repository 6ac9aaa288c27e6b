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
		assert.is(e.file, join(root, 'etc/kmodpress/config.yaml'));
		assert.is(e.message, 'unknown key "compres"');
		assert.match(e.line, /^E_CONFIG_INVALID: .*config\.yaml: unknown key "compres" Fix: use only: /);
	});
	writeFileSync(join(root, 'etc/kmodpress/config.yaml'), 'threads: many\n');
	// a sysroot with a kernel of its own (a root without one is a staging image, judged by its target root's config)
	mkdirSync(join(root, 'lib/modules', DEBIAN_KV), {recursive: true});
	writeFileSync(join(root, 'lib/modules', DEBIAN_KV, 'modules.order'), '');
	const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'compress', '--kernel', DEBIAN_KV, '--root', root, '--dry-run'], {encoding: 'utf8'});
	assert.is(r.status, 2);
	assert.match(r.stderr, /E_CONFIG_INVALID: .*config\.yaml: "threads" must be a whole number from 1 to 256, got "many"/);
	writeFileSync(join(root, 'etc/kmodpress/config.yaml'), '{{{ not yaml');
	await loadConfig({root}).then(() => assert.unreachable(), (e) => assert.is(e.code, 'E_CONFIG_INVALID'));
	rmSync(root, {recursive: true});
});

test('config files are data: first non-empty file wins, YAML tags, duplicate keys, $import and bombs are refused', async () => {
	const root = mkdtempSync(join(tmpdir(), 'kmodpress-cfg-'));
	const dir = join(root, 'etc/kmodpress');
	mkdirSync(dir, {recursive: true});
	const marker = join(root, 'EXECUTED');
	const refused = async (name: string, text: string, why: RegExp) => {
		writeFileSync(join(dir, name), text);
		await loadConfig({root}).then(() => assert.unreachable(`${name}: ${text}`), (e) => {
			assert.ok(isKmodpressError(e), String(e));
			assert.is(e.code, 'E_CONFIG_INVALID');
			assert.is(e.file, join(dir, name));
			assert.match(e.message, why);
		});
		rmSync(join(dir, name));
	};
	// an empty (or comment-only, or null) config.json gives way to config.yaml, as no file does
	writeFileSync(join(dir, 'config.json'), '  \n');
	writeFileSync(join(dir, 'config.yml'), '# nothing\n');
	assert.equal(await loadConfig({root}), {config: {}, from: undefined});
	writeFileSync(join(dir, 'config.yaml'), 'algorithm: zstd\n');
	assert.equal(await loadConfig({root}), {config: {algorithm: 'zstd'}, from: join(dir, 'config.yaml')});
	writeFileSync(join(dir, 'config.json'), 'null');
	assert.equal(await loadConfig({root}), {config: {algorithm: 'zstd'}, from: join(dir, 'config.yaml')});
	rmSync(join(dir, 'config.json'));
	rmSync(join(dir, 'config.yml'));
	rmSync(join(dir, 'config.yaml'));
	// anchors and aliases are plain data
	writeFileSync(join(dir, 'config.yaml'), 'threads: &n 4\nlockTimeoutSeconds: *n\n');
	assert.equal((await loadConfig({root})).config, {threads: 4, lockTimeoutSeconds: 4});
	rmSync(join(dir, 'config.yaml'));
	const js = `function(){ require('fs').writeFileSync('${marker}', 'x'); return 'none'; }`;
	await refused('config.yaml', `compress: !!js/function "${js}"\n`, /cannot parse \(Unresolved tag/);
	await refused('config.yaml', 'compress: !<tag:yaml.org,2002:js/undefined> ""\n', /cannot parse \(Unresolved tag/);
	await refused('config.yaml', 'threads: !!binary aGVsbG8=\n', /cannot parse \(Unresolved tag/);
	await refused('config.yaml', 'threads: 2\nthreads: 3\n', /cannot parse \(Map keys must be unique/);
	await refused('config.yaml', 'threads: 2\n---\nthreads: 3\n', /cannot parse \(Source contains multiple documents/);
	await refused('config.yaml', `a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n${[...'bcdefghij'].map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefghij'[i]}`).join(', ')}]`).join('\n')}\n`, /cannot parse/);
	await refused('config.json', JSON.stringify({$import: '/etc/passwd', compress: 'none'}), /"\$import" is not allowed/);
	await refused('config.yml', '$import: [other.yml]\n', /"\$import" is not allowed/);
	await refused('config.json', '{"threads": 2,}', /cannot parse/);
	await refused('config.json', '[1]', /expected an object of settings, got an array/);
	assert.not.ok(existsSync(marker), 'nothing ran');
	rmSync(root, {recursive: true});
});

test('validateConfig: what came in, what was expected', () => {
	assert.equal(validateConfig({algorithm: 'zstd', depmod: false}, 'f'), {algorithm: 'zstd', depmod: false});
	assert.throws(() => validateConfig({algorithm: 'lz4'}, 'f'), /"algorithm" must be one of "gzip", "xz", "zstd", got "lz4"/);
	assert.throws(() => validateConfig([1], 'f'), /expected an object/);
	assert.throws(() => validateConfig({__proto__: {x: 1}, maxDecompressedBytes: 5}, 'f'), /maxDecompressedBytes/);
});

test.run();
