// Child of bench/compress.ts: runs kmodpress's whole compress path (library call, as the CLI does it: policy from the
// target's kbuild files, read, encode in the worker pool, decode back under the kernel's rules, crash-safe replace
// with fsync; no depmod, no final verify) over a staging image whose extra/ holds the corpus, and prints its wall time
// and peak RSS. With --small, compresses one module N times in one warm process and prints the median.
import {copyFileSync, mkdirSync, readdirSync, rmSync} from 'node:fs';
import {join} from 'node:path';
import {compressModules} from '../src/install/compress.js';
import {discoverKernel, readKernelFiles} from '../src/target/discover.js';
import {detectKmod} from '../src/target/kmod.js';
import {policyFromFiles} from '../src/policy/index.js';
import type {Algorithm} from '../src/types.js';

const KV = '6.12.115+deb12-amd64';
const [root, alg, threads, mode, source] = process.argv.slice(2) as [string, Algorithm, string, string | undefined, string | undefined];
const target = discoverKernel({kernel: KV, root, buildDir: `/lib/modules/${KV}/build`});
const files = readKernelFiles(target);
const policy = policyFromFiles(target, files, await detectKmod(), {compress: {value: 'force', from: 'bench'}, algorithm: {value: alg, from: 'bench'}});
const extra = join(target.moduleDir, 'extra');

if (mode === '--small') {
	// one module, compressed, checked and written N times by a warm process (what a long-lived caller pays per module)
	const name = source!.slice(source!.lastIndexOf('/') + 1);
	const runs: number[] = [];
	for (let i = 0; i < 9; i++) {
		rmSync(extra, {recursive: true, force: true});
		mkdirSync(extra, {recursive: true});
		copyFileSync(source!, join(extra, name));
		const t0 = process.hrtime.bigint();
		const r = await compressModules({target, policy, config: files.config, paths: [extra], depmod: false, verify: true, threads: 1});
		runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
		if (r.failed !== 0 && r.modules[0]?.error?.code !== 'E_VERIFY_NOT_LOADABLE') throw new Error(JSON.stringify(r.modules[0]));
	}
	runs.sort((a, b) => a - b);
	console.log(JSON.stringify({medianMs: runs[4], firstMs: runs[0]}));
} else {
	const t0 = process.hrtime.bigint();
	const r = await compressModules({target, policy, config: files.config, paths: [extra], depmod: false, verify: false, threads: Number(threads)});
	const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
	if (r.failed !== 0) throw new Error(`${r.failed} modules failed: ${JSON.stringify(r.modules.find((m) => m.error))}`);
	console.log(JSON.stringify({seconds, rssMb: Math.round(process.resourceUsage().maxRSS / 1024), files: readdirSync(extra).length}));
}
