// Human output. The library never prints; commands pass these strings to stdout.
import type {KernelTarget} from '../target/discover.js';
import type {Policy} from '../policy/index.js';
import type {CompressionParams} from '../types.js';
import type {VerifyReport} from '../verify/index.js';

const mib = (n: number): string => (n % (1 << 20) === 0 ? `${n >> 20} MiB` : n % 1024 === 0 ? `${n >> 10} KiB` : `${n} B`);

export function describeParams(p: CompressionParams): string {
	if (p.algorithm === 'xz') return `xz preset ${p.preset}${p.extreme ? 'e' : ''}, LZMA2 dict ${mib(p.dictSize)}, check ${p.check}, ${p.format === 'multi' ? 'multi-threaded format' : 'single-threaded format'}`;
	if (p.algorithm === 'zstd') return `zstd level ${p.level}, checksum ${p.checksum ? 'on' : 'off'}, content size ${p.contentSize ? 'on' : 'off'}${p.windowLog ? `, window 2^${p.windowLog}` : ''}, one frame`;
	return `gzip level ${p.level}, no name, MTIME 0, one member`;
}

export function formatPolicy(target: KernelTarget, policy: Policy, verbose = false): string {
	const lines: string[] = [];
	const row = (k: string, v: string, from?: string): void => {
		lines.push(`${k.padEnd(14)}${v}`);
		if (from) lines.push(`${''.padEnd(14)}  from ${from}`);
	};
	row('kernel', `${target.release.value}${target.running ? ' (running)' : ''}`, target.release.from);
	row('root', `${target.root}${target.stagingImage ? ' (staging image: no depmod)' : ''}`);
	if (target.targetRoot) row('target root', `${target.targetRoot.value}: its build dir, config, installed modules and /etc/kmodpress judge the image`, target.targetRoot.from);
	row('module dir', target.moduleDir);
	row('build dir', target.buildDir?.value ?? 'none found', target.buildDir?.from);
	row('config', policy.configFrom);
	row('compress', policy.compress.value ? `yes, ${policy.algorithm.value}` : 'no: modules stay as they are', policy.compress.from);
	if (policy.command) row('command', policy.command.value, policy.command.from);
	if (policy.params) {
		row('parameters', describeParams(policy.params));
		for (const [k, v] of Object.entries(policy.paramSources)) {
			const value = (policy.params as unknown as Record<string, unknown>)[k];
			lines.push(`${''.padEnd(16)}${k} = ${typeof value === 'number' && k === 'dictSize' ? mib(value) : String(value)}: ${verbose ? v : v.split(' — ')[0]}`);
		}
	}
	// plan.ts: a compressed module the target accepts is kept, whoever compressed it
	if (policy.compress.value) row('kept as is', `a module already ${policy.algorithm.value} in a form this kernel reads is kept as it is, not rewritten with these parameters (e.g. Gentoo linux-mod-r1's USE=modules-compress xz, multi-threaded format)`);
	const d = policy.decompressor.value;
	row('kernel reads', d.algorithm ? `${d.algorithm} modules itself (MODULE_DECOMPRESS)${d.algorithm === 'xz' ? `; xz BCJ filters: ${[...d.xzBcj].join(', ') || 'none'}` : ''}` : 'no compressed modules itself: kmod decompresses in userspace', policy.decompressor.from);
	const feats = Object.entries(policy.kmod.features).map(([k, v]) => `${v ? '+' : '-'}${k}`).join(' ');
	row('kmod', policy.kmod.version === undefined ? 'not installed' : `${policy.kmod.version} (${feats})${policy.algorithm.value ? `; reads ${policy.algorithm.value}: ${policy.kmod.reads === undefined ? 'unknown' : policy.kmod.reads ? 'yes' : 'no'}` : ''}`, policy.kmod.from);
	for (const n of policy.notes) lines.push(`note: ${n}`);
	for (const w of policy.warnings) lines.push(`warning: ${w}`);
	return lines.join('\n');
}

import type {CompressReport} from '../install/compress.js';
import type {DkmsCopyResult} from '../install/dkms.js';

const size = (n: number | undefined): string => (n === undefined ? '?' : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

/** One line per module, then depmod, then a summary line. */
export function formatCompressReport(report: CompressReport, target: KernelTarget, policy: Policy, verbose = false): string {
	const rel = (p: string): string => (p.startsWith(`${target.moduleDir}/`) ? p.slice(target.moduleDir.length + 1) : p);
	const lines: string[] = [];
	lines.push(`kernel ${report.kernel}: ${policy.params ? describeParams(policy.params) : 'modules stay uncompressed'}${report.dryRun ? ' (dry run: nothing changed)' : ''}`);
	// a dry run's outcomes are what would happen: "would recompress", not "recompressed"
	const label = (o: string): string => (report.dryRun && o !== 'unchanged' && o !== 'failed' ? `would ${o.replace(/ed$/, '')}`.padEnd(16) : o.padEnd(12));
	for (const m of report.modules) {
		if (m.outcome === 'failed') {
			lines.push(`${'FAILED'.padEnd(12)} ${rel(m.path)}: ${m.error ? `${m.error.code}: ${m.error.message}${m.error.fix ? ` Fix: ${m.error.fix}` : ''}` : m.reason}`);
			continue;
		}
		const arrow = m.result && m.result !== m.path ? ` → ${rel(m.result)}` : '';
		const sizes = m.outcome === 'unchanged' ? '' : ` (${size(m.bytesBefore)} → ${size(m.bytesAfter)})`;
		lines.push(`${label(m.outcome)} ${rel(m.path)}${arrow}${sizes}${verbose || m.outcome !== 'unchanged' ? `: ${m.reason}` : ''}`);
		for (const w of m.warnings ?? []) lines.push(`             warning: ${w}`);
		if (m.verify && (verbose || !m.verify.loadable)) {
			for (const f of m.verify.findings) if (verbose || f.severity === 'error') lines.push(`             ${f.severity}: ${f.code}: ${f.message}`);
		}
	}
	for (const e of report.errors) lines.push(`${'FAILED'.padEnd(12)} ${e.file ?? ''}: ${e.code}: ${e.message}${e.fix ? ` Fix: ${e.fix}` : ''}`);
	if (report.depmod) {
		if (report.depmod.ran) lines.push(`${'depmod'.padEnd(12)} ${report.depmod.argv?.join(' ')}${report.depmod.missing.length ? `: ${report.depmod.missing.length} module(s) missing from modules.dep` : ': every module is in modules.dep'}`);
		else lines.push(`${'depmod'.padEnd(12)} skipped: ${report.depmod.reason}`);
	}
	const count = (o: string): number => report.modules.filter((m) => m.outcome === o).length;
	lines.push(`${report.dryRun ? 'would change' : 'changed'} ${report.changed}, unchanged ${count('unchanged')}, failed ${report.failed}${report.changed === 0 && report.failed === 0 ? ' — nothing to do' : ''}`);
	return lines.join('\n');
}

/** DKMS's copies recompress brought in step (or left: another build), one line each; in-step ones only when verbose. */
export function formatDkmsCopies(copies: readonly DkmsCopyResult[], verbose = false): string {
	const words = {'in-step': 'DKMS copy in step', rewritten: 'DKMS copy rewritten', 'would-rewrite': 'DKMS copy would be rewritten', 'other-build': 'DKMS copy left'};
	const lines: string[] = [];
	for (const c of copies) {
		if (c.outcome === 'in-step' && !verbose) continue;
		const why = c.outcome === 'other-build' ? `: another build of the module than ${c.installed} (dkms status will say "Diff between built and installed module"; dkms install --force ${c.build} reinstalls it)` : ` = ${c.installed}`;
		lines.push(`${words[c.outcome]} ${c.copy} (${c.build})${why}`);
	}
	return lines.length ? `${lines.join('\n')}\n` : '';
}

export function formatVerifyReport(report: VerifyReport, verbose = false, boot?: unknown): string {
	const lines: string[] = [];
	for (const m of report.modules) {
		const first = m.findings.find((x) => x.severity === 'error') ?? m.findings.find((x) => x.severity === 'warning');
		const deps = m.depends.length ? ` (after ${m.depends.join(', ')})` : '';
		lines.push(`${m.loadable ? 'loadable    ' : 'NOT loadable'} ${m.path}${deps}${first ? `: ${first.code}: ${first.message}` : ''}`);
		if (verbose) for (const x of m.findings) if (x !== first) lines.push(`    ${x.severity.padEnd(7)} ${x.code}: ${x.message}`);
	}
	for (const e of report.errors) lines.push(`error        ${e.file ?? ''}: ${e.message}${e.fix ? ` (${e.fix})` : ''}`);
	if (verbose) {
		lines.push('', `kernel ${report.kernel}; what the verdicts rest on:`);
		for (const [k, v] of Object.entries(report.sources)) lines.push(`  ${k.padEnd(20)} ${v}`);
	}
	const bad = report.modules.filter((m) => !m.loadable).length;
	lines.push(`${report.modules.length} module${report.modules.length === 1 ? '' : 's'} for ${report.kernel}: ${report.modules.length - bad} loadable, ${bad} not loadable`);
	if (boot !== undefined) {
		const b = boot as {summary: string; results: {path: string; loaded: boolean; agrees: boolean; errno: string; message: string[]}[]};
		for (const r of b.results) {
			lines.push(`${r.loaded ? 'booted: loaded' : `booted: ${r.errno || 'refused'}`.padEnd(14)} ${r.path}${r.agrees ? '' : ' (kmodpress predicted otherwise)'}${!r.loaded && r.message.length ? `: ${r.message.join(' | ')}` : ''}`);
		}
		lines.push(b.summary);
	}
	return lines.join('\n');
}
