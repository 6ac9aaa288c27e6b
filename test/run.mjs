#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) through uvu, each in its own process so one crash cannot hide the
// others, and ends with the line CI reads: "N passed, N failed". A skipped test counts as failed; a file that
// exits non-zero without a failing test counts one failure of its own.
//   node test/run.mjs [--only SUBSTRING]... [--timeout SECONDS]
import {spawn} from 'node:child_process';
import {readdirSync, statSync} from 'node:fs';
import {dirname, join, relative} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const testDir = join(root, 'test');
const args = process.argv.slice(2);
const only = [];
let timeoutSeconds = 1800;
for (let i = 0; i < args.length; i++) {
	if (args[i] === '--only') only.push(args[++i]);
	else if (args[i] === '--timeout') timeoutSeconds = Number(args[++i]);
	else {
		console.error(`test/run.mjs: unknown argument ${args[i]}; expected --only SUBSTRING or --timeout SECONDS`);
		process.exit(2);
	}
}

function collect(dir) {
	const out = [];
	for (const name of readdirSync(dir).sort()) {
		const path = join(dir, name);
		if (name === 'node_modules' || name.startsWith('.')) continue;
		if (statSync(path).isDirectory()) out.push(...collect(path));
		else if (name.endsWith('.test.ts')) out.push(path);
	}
	return out;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

function runFile(file) {
	const rel = relative(testDir, file);
	return new Promise((resolve) => {
		const started = Date.now();
		const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'test',
			`^${escape(rel)}$`, '--no-color'], {cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, FORCE_COLOR: '0'}});
		let out = '';
		child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
		child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
		const timer = setTimeout(() => { out += `\n${rel}: timed out after ${timeoutSeconds} s\n`; child.kill('SIGKILL'); }, timeoutSeconds * 1000);
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			const text = stripAnsi(out);
			const num = (label) => { const m = text.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm')); return m ? Number(m[1]) : undefined; };
			const total = num('Total'), passed = num('Passed'), skipped = num('Skipped') ?? 0;
			let p = passed ?? 0, f = total === undefined ? 0 : total - (passed ?? 0);
			if (code !== 0 && f === 0) f = 1; // crashed, timed out or failed outside a test
			if (total === undefined && code === 0) f = 1; // ran nothing: a file with no test is a failure
			resolve({rel, passed: p, failed: f, skipped, seconds: (Date.now() - started) / 1000, code, signal});
		});
	});
}

const files = collect(testDir).filter((f) => only.length === 0 || only.some((o) => relative(testDir, f).includes(o)));
const results = [];
for (const file of files) {
	console.log(`\n=== ${relative(root, file)}`);
	results.push(await runFile(file));
}
console.log('\n--- per file');
for (const r of results) {
	console.log(`${r.failed ? 'FAIL' : 'ok  '} ${r.rel}: ${r.passed} passed, ${r.failed} failed${r.skipped ? ` (${r.skipped} skipped)` : ''} in ${r.seconds.toFixed(1)} s${r.code ? ` (exit ${r.code ?? r.signal})` : ''}`);
}
const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0) + (files.length === 0 ? 1 : 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
