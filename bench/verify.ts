// bench/verify: `kmodpress verify` over Debian 6.12.115's whole installed module tree (every check) against
// `depmod -n -a -e -E Module.symvers` on the same tree (unknown symbols and CRCs only), in the same run, alternating,
// best of N each (5 by default: this VM's noise is ±15 %, and it hurts the two-threaded kmodpress more than the
// single-threaded depmod when a neighbour takes a core). Target (issue 3): kmodpress ≤ 0.80× depmod's wall time.
//   node --import tsx bench/verify.ts [--runs N]     (after `npm run build`)
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {best, timed} from './timed.js';

const here = dirname(fileURLToPath(import.meta.url));
const KV = '6.12.115+deb12-amd64';
const args = process.argv.slice(2);
const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 5;
const cli = join(here, '../dist/cli.js');


const kp: number[] = [];
const dm: number[] = [];
let rss = 0;
for (let i = 0; i < runs; i++) {
	const a = timed(process.execPath, [cli, 'verify', '--kernel', KV, '--json', `/lib/modules/${KV}/kernel`]);
	if (a.status !== 0) throw new Error(`kmodpress verify exited ${a.status}`);
	kp.push(a.seconds);
	rss = Math.max(rss, a.rssKb);
	const b = timed('/usr/sbin/depmod', ['-n', '-a', '-e', '-E', `/lib/modules/${KV}/build/Module.symvers`, KV]);
	if (b.status !== 0) throw new Error(`depmod exited ${b.status}`);
	dm.push(b.seconds);
}
const ratio = best(kp) / best(dm);
console.log(`kmodpress verify (4230 modules, all checks): best ${best(kp).toFixed(2)} s of [${kp.map((x) => x.toFixed(2)).join(', ')}], peak RSS ${(rss / 1024).toFixed(0)} MB`);
console.log(`depmod -n -a -e -E Module.symvers:            best ${best(dm).toFixed(2)} s of [${dm.map((x) => x.toFixed(2)).join(', ')}]`);
console.log(`${ratio <= 0.8 ? 'ok  ' : 'FAIL'} verify/depmod: ${ratio.toFixed(2)} (target ≤ 0.80)`);
process.exitCode = ratio <= 0.8 ? 0 : 1;
