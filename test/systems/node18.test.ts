// kmodpress on Debian 12's own nodejs (18.20, Node-API 9, ABI 108): the nodejs and libnode108 packages of bookworm,
// fetched with apt-get download into the cache (keyed by version) and unpacked with dpkg -x, not installed (the test
// machines run another Node, and other tests use it). Debian's libnode loads some builtins from /usr/share/nodejs
// (its "externalized builtins": cjs-module-lexer, undici, acorn), so each run gets a private mount namespace with the
// unpacked /usr/share over the system's (unshare -m, a read-only overlay): nothing outside the process changes.
// kmodpress is built for this test into .dist-node18/ (gitignored) with the repository's own tsc.
// Then: explain, compress (three modules: the worker pool), verify under Node 18; and a native addon built for a newer
// Node-API (zstd-napi compiled by node-gyp as a Node with Node-API 10 compiles it: --napi_build_version=10, cached)
// refused with one E_NATIVE_ADDON line and exit 2, where loading it crashed Node (SIGSEGV) before.
import {execFileSync} from 'node:child_process';
import {cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {CACHE, DEBIAN_KV} from '../helpers/paths.js';
import {exampleModule, makeSysroot} from '../helpers/tree.js';
import {cached} from '../helpers/paths.js';
import {REPO, run, show, xzCheck, type Ran} from '../integrations/helpers.js';

const DIST = join(REPO, '.dist-node18');
const PKGS = ['nodejs', 'libnode108', 'libc-ares2', 'node-acorn', 'node-cjs-module-lexer', 'node-undici'];
let root = '';

/** bookworm's nodejs 18 version from the archive APT knows (bookworm-security first). */
function node18Version(): string {
	const m = run('/usr/bin/apt-cache', ['madison', 'nodejs']).stdout.split('\n').map((l) => l.split('|')[1]?.trim()).find((v) => v?.startsWith('18.'));
	assert.ok(m, 'apt-cache madison nodejs lists an 18.x (Debian 12\'s nodejs; apt-get update?)');
	return m!;
}

/** Debian's nodejs 18 unpacked under the cache: <cache>/node18/<version>/root. */
function unpackNode18(): string {
	const version = node18Version();
	const dir = join(CACHE, 'node18', version);
	const out = join(dir, 'root');
	if (existsSync(join(dir, 'done'))) return out;
	rmSync(dir, {recursive: true, force: true});
	mkdirSync(out, {recursive: true});
	const t = Date.now();
	const dl = run('/usr/bin/apt-get', ['download', `nodejs=${version}`, `libnode108=${version}`, ...PKGS.slice(2)], {cwd: dir});
	assert.is(dl.code, 0, show(dl));
	for (const deb of readdirSync(dir).filter((n) => n.endsWith('.deb'))) execFileSync('/usr/bin/dpkg', ['-x', join(dir, deb), out]);
	writeFileSync(join(dir, 'done'), `${version}\n`);
	console.log(`  Debian nodejs ${version}: downloaded and unpacked in ${((Date.now() - t) / 1000).toFixed(1)} s`);
	return out;
}

/** Run Debian's node 18 with ARGS (environment: ENV) in its own mount namespace. */
function node18(args: string[], env: NodeJS.ProcessEnv = {}, cwd = REPO): Ran {
	const script = 'mount -t overlay overlay -o "lowerdir=$R/usr/share:/usr/share" /usr/share && LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu" exec "$R/usr/bin/node" "$@"';
	return run('/usr/bin/unshare', ['-m', '/bin/bash', '-c', script, 'node18', ...args], {env: {...env, R: root}, cwd});
}

test.before(() => {
	root = unpackNode18();
	const t = Date.now();
	rmSync(DIST, {recursive: true, force: true});
	execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.json'), '--outDir', DIST], {cwd: REPO, stdio: 'inherit'});
	console.log(`  tsc into .dist-node18 in ${((Date.now() - t) / 1000).toFixed(1)} s`);
});

test.after(() => {
	rmSync(DIST, {recursive: true, force: true});
});

test('it is bookworm\'s Node 18 (Node-API 9, ABI 108), not the Node running the tests', () => {
	const r = node18(['-p', 'process.version + " " + process.versions.napi + " " + process.versions.modules']);
	assert.is(r.code, 0, show(r));
	assert.match(r.stdout.trim(), /^v18\.\d+\.\d+ 9 108$/);
	assert.is.not(process.version.split('.')[0], 'v18', 'the tests run on another Node');
});

test('package.json engines admits this Node 18 and is no looser than execa\'s (^18.19.0 || >=20.5.0)', () => {
	const engines = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).engines.node as string;
	const execa = JSON.parse(readFileSync(join(REPO, 'node_modules/execa/package.json'), 'utf8')).engines.node as string;
	assert.is(engines, execa);
	assert.match(engines, /^\^18\.19\.0 \|\|/);
});

test('explain, compress (three modules, worker threads) and verify under Node 18: exit 0, the kernel\'s own bytes', () => {
	const e = node18([join(DIST, 'cli.js'), 'explain', '--kernel', DEBIAN_KV]);
	assert.is(e.code, 0, show(e));
	assert.match(e.stdout, /^compress +yes, xz$/m, e.stdout);
	const s = makeSysroot();
	try {
		const files = [s.put('extra/kmodpress_hello.ko', exampleModule())];
		for (const m of ['kp_dep', 'kp_provider']) files.push(s.put(`extra/${m}.ko`, readFileSync(cached('fixtures/current', `${m}.ko`))));
		const plain = files.map((f) => readFileSync(f));
		const c = node18([join(DIST, 'cli.js'), 'compress', '--kernel', s.kv, '--root', s.root, '--threads', '2', ...files]);
		assert.is(c.code, 0, show(c));
		assert.match(c.stdout, /^changed 3, unchanged 0, failed 0$/m, c.stdout);
		files.forEach((f, i) => {
			assert.is(xzCheck(`${f}.xz`), 'CRC32');
			const want = execFileSync('/usr/bin/xz', ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], {input: plain[i], maxBuffer: 1 << 28});
			assert.ok(readFileSync(`${f}.xz`).equals(want), `${f}.xz = xz --check=crc32 --lzma2=dict=1MiB -T1`);
		});
		const v = node18([join(DIST, 'cli.js'), 'verify', '--kernel', s.kv, '--root', s.root, ...files.map((f) => `${f}.xz`)]);
		assert.is(v.code, 0, show(v));
		assert.match(v.stdout, /3 modules for .*: 3 loadable, 0 not loadable/, v.stdout);
	} finally {
		s.cleanup();
	}
});

/** zstd-napi compiled the way node-gyp compiles it under a Node with Node-API 10 (cached in the test cache). */
function zstdNapiForNapi10(): string {
	const src = join(REPO, 'node_modules/zstd-napi');
	const version = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')).version as string;
	const dir = join(CACHE, 'zstd-napi-napi10', version);
	const pkg = join(dir, 'zstd-napi');
	if (existsSync(join(dir, 'done'))) return pkg;
	rmSync(dir, {recursive: true, force: true});
	mkdirSync(dir, {recursive: true});
	cpSync(src, pkg, {recursive: true, dereference: true, filter: (p) => !p.startsWith(join(src, 'build'))});
	const gyp = join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
	const t = Date.now();
	// --nodedir: this Node's own headers (no download)
	const r = run('/usr/bin/nice', ['-n', '10', process.execPath, gyp, 'rebuild', `--nodedir=${join(dirname(process.execPath), '..')}`, '--napi_build_version=10', '-j', '2'], {cwd: pkg});
	assert.is(r.code, 0, show(r));
	writeFileSync(join(dir, 'done'), '');
	console.log(`  zstd-napi ${version} built for Node-API 10 in ${((Date.now() - t) / 1000).toFixed(1)} s`);
	return pkg;
}

test('an addon built for a newer Node-API: one E_NATIVE_ADDON line naming the fix, exit 2 (loading it would crash Node)', () => {
	const zstd = zstdNapiForNapi10();
	assert.match(readFileSync(join(zstd, 'build/config.gypi'), 'utf8'), /"napi_build_version": "10"/);
	// kmodpress as installed next to that build: its dist, build/ (our addons) and node_modules with this zstd-napi
	const pkg = mkdtempSync(join(tmpdir(), 'kmodpress-napi10-'));
	try {
		cpSync(DIST, join(pkg, 'dist'), {recursive: true});
		cpSync(join(REPO, 'package.json'), join(pkg, 'package.json'));
		symlinkSync(join(REPO, 'build'), join(pkg, 'build'));
		mkdirSync(join(pkg, 'node_modules'));
		for (const n of readdirSync(join(REPO, 'node_modules'))) {
			symlinkSync(n === 'zstd-napi' ? zstd : join(REPO, 'node_modules', n), join(pkg, 'node_modules', n));
		}
		const ko = join(pkg, 'kmodpress_hello.ko.zst');
		writeFileSync(ko, execFileSync('/usr/bin/zstd', ['-q', '-c'], {input: exampleModule()}));
		const r = node18([join(pkg, 'dist/cli.js'), 'verify', '--kernel', DEBIAN_KV, ko]);
		assert.is(r.signal ?? null, null, `killed by ${r.signal}\n${show(r)}`);
		assert.is(r.code, 2, show(r));
		const lines = r.stderr.trim().split('\n');
		assert.is(lines.length, 1, r.stderr);
		assert.match(lines[0]!, /^kmodpress: E_NATIVE_ADDON: .*zstd-napi\/build\/config\.gypi: zstd-napi's addon was built for Node-API 10; this is Node v18\.\d+\.\d+ \(.*Node-API 9, ABI 108\), which would crash loading it Fix: rebuild the native addons .*npm rebuild.*scripts\/setup\.sh/, r.stderr);
	} finally {
		rmSync(pkg, {recursive: true, force: true});
	}
});

test.run();
