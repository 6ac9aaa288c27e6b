// One power-cut run: build the module tree and the guest, boot Debian's kernel under QEMU (TCG) with sparse virtio
// disks, and read what the driver (driver.ts) reports on the console.
import {spawn} from 'node:child_process';
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, ftruncateSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {compressWith, debianCorpus, sha256} from '../stress/_lib.js';
import {DEBIAN_KV, DEBIAN_MODDIR} from '../helpers/paths.js';
import {IN_TREE} from '../helpers/tree.js';
import type {DriverConfig, FsConfig, ModuleSpec} from './driver.js';
import {buildInitrd, KERNEL_IMAGE, POWER_CACHE} from './guest.js';

export interface StateResult {
	fs: string;
	n: number;
	of: number;
	index: number;
	kind: string;
	mark: string;
	temps?: number;
	oldNames?: number;
	newNames?: number;
	rerunMs?: number;
	ms: number;
	problems: {kind: string; module?: string; detail: string}[];
}

export interface RunResult {
	states: StateResult[];
	logs: Record<string, {entries: number; dataBytes: number; crashPoints: number; chosen: number}>;
	recorded: Record<string, {recordMs: number; runMs: number}>;
	replayed: Record<string, {states: number; ms: number}>;
	done: boolean;
	errors: string[];
	console: string;
	seconds: {build: number; boot: number; total: number; guest?: number};
	modules: number;
}

export interface RunOptions {
	filesystems: ('ext4' | 'xfs')[];
	/** out-of-tree modules in the tree (Debian's smallest, decompressed; every fourth crc64 xz) */
	modules?: number;
	maxPoints?: number;
	omitFsync?: '' | 'file' | 'dir';
	rerun?: 'inprocess' | 'spawn';
	/** rerun on every state (default: once per distinct tree content; KMODPRESS_POWER_RERUN_ALL=1) */
	rerunAll?: boolean;
	timeoutMs?: number;
	log?: (line: string) => void;
}

const FS: Record<'ext4' | 'xfs', Omit<FsConfig, 'data' | 'log' | 'replay' | 'cow'>> = {
	// Debian's defaults (data=ordered, delalloc); no discard at mkfs, so the log holds no 320 MiB DISCARD to replay
	ext4: {name: 'ext4', mkfs: ['/usr/sbin/mkfs.ext4', '-q', '-F', '-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0'], mountOpts: 'data=ordered'},
	xfs: {name: 'xfs', mkfs: ['/usr/sbin/mkfs.xfs', '-q', '-f', '-K'], mountOpts: 'defaults'},
};
const DATA_MIB = 320; // mkfs.xfs refuses file systems under 300 MB
const LOG_MIB = 1024;

/** The tree: three of Debian's in-tree modules with modules.order (so it is a real kernel's tree and depmod runs),
 * and `count` out-of-tree modules in extra/ and updates/dkms/, plain .ko or (every fourth) crc64 .ko.xz. */
export function moduleTree(count: number): {tree: Map<string, Buffer>; modules: ModuleSpec[]} {
	const tree = new Map<string, Buffer>();
	for (const rel of IN_TREE) tree.set(rel, readFileSync(join(DEBIAN_MODDIR, rel)));
	tree.set('modules.order', Buffer.from(IN_TREE.map((p) => p.replace(/\.xz$/, '')).join('\n') + '\n'));
	for (const f of ['modules.builtin', 'modules.builtin.modinfo']) tree.set(f, readFileSync(join(DEBIAN_MODDIR, f)));
	const modules: ModuleSpec[] = [];
	debianCorpus(count).forEach((m, i) => {
		const dir = i % 2 ? 'updates/dkms' : 'extra';
		const crc64 = i % 4 === 1;
		const bytes = crc64 ? compressWith('xz', ['-T1'], m.image) : m.image;
		tree.set(`${dir}/${m.name}.ko${crc64 ? '.xz' : ''}`, bytes);
		modules.push({key: `${dir}/${m.name}`, oldSha: sha256(bytes), imageSha: sha256(m.image)});
	});
	return {tree, modules};
}

export async function powerRun(opts: RunOptions): Promise<RunResult> {
	const started = Date.now();
	const work = mkdtempSync(join(tmpdir(), 'kmodpress-power-'));
	try {
		const count = opts.modules ?? 24;
		const {tree, modules} = moduleTree(count);
		const disks: string[] = [];
		const disk = (name: string, mib: number): string => {
			const p = join(work, `${name}.img`);
			const fd = openSync(p, 'w');
			ftruncateSync(fd, mib << 20);
			closeSync(fd);
			disks.push(p);
			return `/dev/vd${String.fromCharCode(97 + disks.length - 1)}`;
		};
		const filesystems = opts.filesystems.map((name): FsConfig => ({...FS[name], data: disk(`${name}-data`, DATA_MIB), log: disk(`${name}-log`, LOG_MIB),
			replay: disk(`${name}-replay`, DATA_MIB), cow: disk(`${name}-cow`, 256)}));
		const config: DriverConfig = {
			kv: DEBIAN_KV, filesystems, maxPoints: opts.maxPoints ?? 200, omitFsync: opts.omitFsync ?? '',
			args: ['recompress', '--kernel', DEBIAN_KV, '--no-verify', '--json'], modules, rerun: opts.rerun ?? 'inprocess', rerunAll: opts.rerunAll ?? process.env.KMODPRESS_POWER_RERUN_ALL === '1',
		};
		const initrd = join(work, 'initrd');
		const built = buildInitrd(initrd, {config, tree});
		const bootStarted = Date.now();
		// one vCPU per file system (multi-threaded TCG): their record and replay run side by side
		const args = ['-accel', 'tcg,thread=multi', '-cpu', 'max', '-m', '3072', '-smp', String(Math.max(1, opts.filesystems.length)), '-nographic', '-no-reboot', '-nic', 'none',
			'-kernel', KERNEL_IMAGE, '-initrd', initrd,
			'-append', 'console=ttyS0 panic=-1 quiet loglevel=4 i8042.noaux i8042.nokbd',
			...disks.flatMap((d) => ['-drive', `file=${d},if=virtio,format=raw,cache=unsafe`])];
		let text = '';
		let booted: number | undefined;
		await new Promise<void>((resolve) => {
			const q = spawn('/usr/bin/qemu-system-x86_64', args, {stdio: ['ignore', 'pipe', 'pipe']});
			let pending = '';
			const onData = (d: Buffer): void => {
				text += d.toString('utf8');
				pending += d.toString('utf8');
				let i;
				while ((i = pending.indexOf('\n')) >= 0) {
					const line = pending.slice(0, i).replace(/\r$/, '');
					pending = pending.slice(i + 1);
					if (booted === undefined && line.startsWith('@@PWR BOOTED')) booted = Date.now();
					opts.log?.(line);
				}
			};
			q.stdout.on('data', onData);
			q.stderr.on('data', onData);
			const timer = setTimeout(() => {
				text += '\n@@PWR ERROR {"message":"timed out: QEMU killed"}\n';
				q.kill('SIGKILL');
			}, opts.timeoutMs ?? 20 * 60_000);
			q.on('close', () => {
				clearTimeout(timer);
				resolve();
			});
		});
		const result: RunResult = {
			states: [], logs: {}, recorded: {}, replayed: {}, done: false, errors: [], console: text, modules: count,
			seconds: {build: built.seconds, boot: booted ? (booted - bootStarted) / 1000 : NaN, total: 0, guest: (Date.now() - bootStarted) / 1000},
		};
		for (const raw of text.split('\n')) {
			const m = /@@PWR (\S+) ?(.*)$/.exec(raw.replace(/\r$/, ''));
			if (!m) continue;
			let data: any;
			try {
				data = m[2] ? JSON.parse(m[2]) : undefined;
			} catch {
				data = m[2];
			}
			switch (m[1]) {
				case 'STATE': result.states.push(data as StateResult); break;
				case 'LOG': result.logs[data.fs] = data; break;
				case 'RECORDED': result.recorded[data.fs] = data; break;
				case 'REPLAYED': result.replayed[data.fs] = data; break;
				case 'DONE': result.done = true; break;
				case 'ERROR': result.errors.push(data.message ?? String(data)); break;
				case 'INSMOD-FAILED': result.errors.push(`insmod failed: ${m[2]}`); break;
				default: break;
			}
		}
		result.seconds.total = (Date.now() - started) / 1000;
		return result;
	} finally {
		if (process.env.KMODPRESS_POWER_KEEP !== '1') rmSync(work, {recursive: true, force: true});
		else writeFileSync(join(POWER_CACHE, 'last-work-dir'), work);
	}
}
