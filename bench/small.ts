// bench/small: what a DKMS or ebuild hook feels for one small module — `kmodpress compress --no-depmod` of the example
// module (compress, decode back, rename, then the full verify) through the CLI, against `node -e 0` (the floor: Node's
// own start) in the same run, alternating, best of N. The module sits in a temp root that holds Debian 6.12.115's
// modules.dep and modules.order (the installed tree verify resolves against) and a /var/cache, so the verify cache
// (src/verify/disk-cache.ts) is warm after the first run, as on a system that has run kmodpress once.
// Target (issue 18): ≤ 0.2 s wall and ≤ 128 MB peak RSS on an idle 2-core machine.
//   node --import tsx bench/small.ts [--runs N]     (after `npm run build` and `scripts/setup.sh --test`)
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {best, timed} from './timed.js';

const here = dirname(fileURLToPath(import.meta.url));
const KV = '6.12.115+deb12-amd64';
const CACHE = process.env.KMODPRESS_CACHE ?? '/var/cache/kmodpress-test';
const args = process.argv.slice(2);
const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 7;
const cli = join(here, '../dist/cli.js');
const module = readFileSync(join(CACHE, 'example/current/kmodpress_hello.ko'));

const root = mkdtempSync(join(tmpdir(), 'kmodpress-bench-small-'));
const moduleDir = join(root, 'lib/modules', KV);
mkdirSync(join(moduleDir, 'extra'), {recursive: true});
mkdirSync(join(root, 'var/cache'), {recursive: true, mode: 0o755});
for (const f of ['modules.dep', 'modules.order', 'modules.builtin', 'modules.builtin.modinfo']) copyFileSync(`/lib/modules/${KV}/${f}`, join(moduleDir, f));


const kp: number[] = [];
const floor: number[] = [];
const rss: number[] = [];
try {
	for (let i = 0; i <= runs; i++) {
		rmSync(join(moduleDir, 'extra'), {recursive: true, force: true});
		mkdirSync(join(moduleDir, 'extra'));
		writeFileSync(join(moduleDir, 'extra/kmodpress_hello.ko'), module);
		const a = timed(process.execPath, [cli, 'compress', '--kernel', KV, '--root', root, '--no-depmod', '--json', join(moduleDir, 'extra/kmodpress_hello.ko')]);
		if (a.status !== 0) throw new Error(`kmodpress compress exited ${a.status}: ${a.stderr}`);
		const b = timed(process.execPath, ['-e', '0']);
		if (i === 0) {
			console.log(`first run (verify cache built): ${a.seconds.toFixed(3)} s, peak RSS ${(a.rssKb / 1024).toFixed(0)} MB`);
			continue;
		}
		kp.push(a.seconds);
		rss.push(a.rssKb / 1024);
		floor.push(b.seconds);
	}
} finally {
	rmSync(root, {recursive: true, force: true});
}
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(', ');
console.log(`kmodpress compress + verify, one small module: best ${best(kp).toFixed(3)} s of [${fmt(kp)}], peak RSS ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB`);
console.log(`node -e 0 (the floor):                         best ${best(floor).toFixed(3)} s of [${fmt(floor)}]`);
console.log(`ratio to the floor: ${(best(kp) / best(floor)).toFixed(1)}×; ${best(kp) <= 0.2 ? 'ok  ' : 'FAIL'} wall ${best(kp).toFixed(3)} s (target ≤ 0.2 s on an idle machine); ${Math.max(...rss) <= 128 ? 'ok  ' : 'FAIL'} peak RSS ${Math.max(...rss).toFixed(0)} MB (target ≤ 128 MB)`);
