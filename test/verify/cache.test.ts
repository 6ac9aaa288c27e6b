// The verify cache (src/verify/disk-cache.ts): Module.symvers's exports and the kernel image's certificates kept
// under <root>/var/cache/kmodpress/verify between runs. A second run reads them (the same report); an entry whose
// source file changed is rebuilt; an entry that is not root's alone (mode, owner, a directory others can write) is
// never believed. The positive control: a forged entry with the right owner and mode IS read — a CRC the kernel would
// refuse appears in the report — so the trust checks below are what keep the forgery out, not a cache that is never
// read. Runs the CLI as callers do, in a temp sysroot (as root: the cache is root's only).
import {spawnSync} from 'node:child_process';
import {chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {exampleModule, makeSysroot, type Sysroot} from '../helpers/tree.js';
import {CLI_ARGV} from '../stress/_lib.js';

interface Verdict {module: string; loadable: boolean; findings: {code: string; severity: string; message: string}[]}
function verify(s: Sysroot, file: string): {code: number | null; verdict: Verdict; ms: number} {
	const t = Date.now();
	const r = spawnSync(process.execPath, [...CLI_ARGV, 'verify', '--kernel', s.kv, '--root', s.root, '--json', file], {encoding: 'utf8'});
	const report = JSON.parse(r.stdout) as {modules: Verdict[]};
	return {code: r.status, verdict: report.modules[0]!, ms: Date.now() - t};
}
const codes = (v: Verdict): string[] => v.findings.map((f) => `${f.severity}:${f.code}`).sort();

function setup(): {s: Sysroot; ko: string; dir: string; entry: (kind: string) => string} {
	const s = makeSysroot();
	mkdirSync(join(s.root, 'var/cache'), {recursive: true, mode: 0o755});
	chmodSync(join(s.root, 'var'), 0o755);
	chmodSync(join(s.root, 'var/cache'), 0o755);
	chmodSync(s.root, 0o755);
	const ko = s.put('extra/kmodpress_hello.ko', exampleModule('signed'));
	const dir = join(s.root, 'var/cache/kmodpress/verify');
	const entry = (kind: string): string => {
		const name = readdirSync(dir).find((n) => n.startsWith(`${kind}-`));
		if (!name) throw new Error(`no ${kind} entry in ${dir}: ${readdirSync(dir).join(', ')}`);
		return join(dir, name);
	};
	return {s, ko, dir, entry};
}

/** Forge the cached CRC of every export the example module needs from vmlinux: a kernel with these CRCs would refuse it. */
function forge(path: string): void {
	const json = JSON.parse(readFileSync(path, 'utf8')) as {value: [string, number | null, string, number, string, string][]};
	for (const row of json.value) if (row[0] === '_printk' || row[0] === 'module_layout') row[1] = 0x12345678;
	writeFileSync(path, JSON.stringify(json), {mode: 0o600});
}

test('a second run reads the cache and reports the same; a forged entry with root\'s owner and mode is read (control); a changed source rebuilds it', () => {
	const {s, ko, dir, entry} = setup();
	try {
		const first = verify(s, ko);
		assert.ok(existsSync(dir), 'the cache directory was made');
		assert.is(statSync(dir).mode & 0o777, 0o700);
		const symvers = entry('symvers');
		assert.is(statSync(symvers).mode & 0o777, 0o600);
		assert.is(statSync(symvers).uid, 0);
		entry('image-certs');
		const second = verify(s, ko);
		assert.equal(codes(second.verdict), codes(first.verdict));
		assert.is(second.verdict.loadable, first.verdict.loadable);
		console.log(`VERIFY-CACHE one module through the CLI: first run ${first.ms} ms (cache built), second ${second.ms} ms (cache read)`);

		forge(symvers);
		const forged = verify(s, ko);
		assert.ok(codes(forged.verdict).some((c) => /CRC/.test(c)), `the forged entry was not read: ${codes(forged.verdict).join(', ')}`);

		// the source file's identity is part of the entry: another mtime, and the forgery is dropped
		const json = JSON.parse(readFileSync(symvers, 'utf8')) as {source: {mtimeMs: number}};
		json.source.mtimeMs += 1000;
		writeFileSync(symvers, JSON.stringify(json), {mode: 0o600});
		const rebuilt = verify(s, ko);
		assert.equal(codes(rebuilt.verdict), codes(first.verdict));
		assert.not.match(readFileSync(entry('symvers'), 'utf8'), /305419896/, 'rebuilt from Module.symvers');
	} finally {
		s.cleanup();
	}
});

test('never believed: an entry readable by others, an entry owned by another user, a cache directory others can write, a corrupt entry', () => {
	const {s, ko, dir, entry} = setup();
	try {
		const first = verify(s, ko);
		const symvers = entry('symvers');
		const cases: [string, () => void, () => void][] = [
			['mode 0644', () => chmodSync(symvers, 0o644), () => chmodSync(symvers, 0o600)],
			['owned by uid 1000', () => chownSync(symvers, 1000, 0), () => chownSync(symvers, 0, 0)],
			['var/cache/kmodpress mode 0777', () => chmodSync(join(s.root, 'var/cache/kmodpress'), 0o777), () => chmodSync(join(s.root, 'var/cache/kmodpress'), 0o700)],
			['var/cache writable by others', () => chmodSync(join(s.root, 'var/cache'), 0o757), () => chmodSync(join(s.root, 'var/cache'), 0o755)],
		];
		for (const [what, spoil, repair] of cases) {
			forge(symvers);
			const before = statSync(symvers);
			spoil();
			const r = verify(s, ko);
			assert.equal(codes(r.verdict), codes(first.verdict), `${what}: the forged entry was believed`);
			repair();
			// restore the forged file's times so the next case starts from the same entry
			utimesSync(symvers, before.atime, before.mtime);
		}
		writeFileSync(symvers, '{"format":1,"kind":"symvers","value":[["x"', {mode: 0o600});
		const corrupt = verify(s, ko);
		assert.is(corrupt.code, first.code);
		assert.equal(codes(corrupt.verdict), codes(first.verdict));
		assert.ok(JSON.parse(readFileSync(entry('symvers'), 'utf8')).value.length > 1000, 'a corrupt entry is rebuilt');
		assert.ok(existsSync(dir));
	} finally {
		s.cleanup();
	}
});

test.run();
