// bench/hook-dkms: what kmodpress's DKMS hook adds to `dkms install` (issue 18, target 1: ≤ 5 % of the caller's own
// time). The example module (examples/kmodpress-hello) is added to Debian's real dkms twice — once with its dkms.conf's
// POST_INSTALL (hooks/dkms/post-install through /usr/lib/kmodpress/hooks), once without — and each is built, then
// `dkms install`ed and `dkms uninstall`ed in turns, best of N. The build is the same for both: timed once each and shown
// beside, outside the ratio; what the ratio compares is `dkms install` (DKMS's copy, its own `xz -f`, its depmod, and
// with the hook, kmodpress's run).
//   node --import tsx bench/hook-dkms.ts [--runs N]     (as root, after `npm run build` and `scripts/setup.sh --test`)
import {spawnSync} from 'node:child_process';
import {copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {best} from './timed.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = join(here, '..');
const KV = '6.12.115+deb12-amd64';
const args = process.argv.slice(2);
const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 3;
const HOOK_LINK = '/usr/lib/kmodpress/hooks';
const binDir = mkdtempSync(join(tmpdir(), 'kmodpress-bench-bin-'));
const bin = join(binDir, 'kmodpress');
writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO, 'dist/cli.js'))} "$@"\n`, {mode: 0o755});
const env = {PATH: '/usr/sbin:/usr/bin:/sbin:/bin', KMODPRESS_BIN: bin};

function dkms(...a: string[]): number {
	const t0 = process.hrtime.bigint();
	const r = spawnSync('/usr/sbin/dkms', a, {encoding: 'utf8', env, cwd: '/'});
	if (r.status !== 0) throw new Error(`dkms ${a.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
	return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** A copy of the example as module NAME/1.0, with or without POST_INSTALL. */
function source(name: string, hook: boolean): string {
	const dir = join(mkdtempSync(join(tmpdir(), 'kmodpress-bench-src-')), `${name}-1.0`);
	mkdirSync(dir);
	for (const f of ['kmodpress_hello.c', 'Kbuild', 'Makefile']) copyFileSync(join(REPO, 'examples/kmodpress-hello', f), join(dir, f));
	let conf = readFileSync(join(REPO, 'examples/kmodpress-hello/dkms.conf'), 'utf8').replace(/^PACKAGE_NAME=.*$/m, `PACKAGE_NAME="${name}"`);
	if (!hook) conf = conf.replace(/^POST_INSTALL=.*$/m, '');
	writeFileSync(join(dir, 'dkms.conf'), conf);
	return dir;
}

const mods = [{name: 'kmodpress-bench-hook', hook: true}, {name: 'kmodpress-bench-plain', hook: false}];
const purge = (): void => {
	for (const m of mods) {
		if (existsSync(`/var/lib/dkms/${m.name}`)) spawnSync('/usr/sbin/dkms', ['remove', `${m.name}/1.0`, '--all'], {env});
		rmSync(`/var/lib/dkms/${m.name}`, {recursive: true, force: true});
	}
};

let linked = false;
try {
	lstatSync(HOOK_LINK);
	if (!(lstatSync(HOOK_LINK).isSymbolicLink() && readlinkSync(HOOK_LINK) === join(REPO, 'hooks'))) throw new Error(`${HOOK_LINK} exists: move it aside first`);
} catch (e) {
	if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
	mkdirSync(dirname(HOOK_LINK), {recursive: true});
	symlinkSync(join(REPO, 'hooks'), HOOK_LINK);
	linked = true;
}
const times: Record<string, number[]> = {hook: [], plain: []};
const builds: number[] = [];
try {
	purge();
	for (const m of mods) {
		dkms('add', source(m.name, m.hook));
		builds.push(dkms('build', `${m.name}/1.0`, '-k', KV));
	}
	for (let i = 0; i < runs; i++) {
		for (const m of i % 2 ? [...mods].reverse() : mods) {
			times[m.hook ? 'hook' : 'plain']!.push(dkms('install', `${m.name}/1.0`, '-k', KV, '--force'));
			dkms('uninstall', `${m.name}/1.0`, '-k', KV);
		}
	}
} finally {
	purge();
	if (linked) rmSync(HOOK_LINK);
	rmSync(binDir, {recursive: true, force: true});
}
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(', ');
const added = best(times.hook!) - best(times.plain!);
console.log(`dkms install with kmodpress's hook:    best ${best(times.hook!).toFixed(2)} s of [${fmt(times.hook!)}]`);
console.log(`dkms install without it:               best ${best(times.plain!).toFixed(2)} s of [${fmt(times.plain!)}]`);
console.log(`dkms build (the same for both, not in the ratio above): ${fmt(builds)} s`);
const whole = best(times.plain!) + best(builds);
console.log(`${added / best(times.plain!) <= 0.05 ? 'ok  ' : 'FAIL'} the hook adds ${added.toFixed(2)} s = ${(100 * added / best(times.plain!)).toFixed(1)} % of dkms install alone (target ≤ 5 %)`);
console.log(`${added / whole <= 0.05 ? 'ok  ' : 'FAIL'} ${(100 * added / whole).toFixed(1)} % of build + install (what \`dkms install\` of a freshly added module does)`);
