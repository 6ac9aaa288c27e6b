// Boot a real kernel under QEMU (TCG) with an initramfs that loads the given module files, and report what the
// kernel said about each: the ground truth behind `kmodpress verify --boot` and the kernel lab's tests.
//
//   const r = await bootAndLoad({kernelImage: '/boot/vmlinuz-KV', cases: [{file: 'dep.ko.xz'}, {file: 'a.ko.xz', deps: ['dep.ko.xz']}]});
//   r.cases[1].loaded, r.cases[1].errnoName, r.cases[1].message
//
// Files load with finit_module(fd, params, MODULE_INIT_COMPRESSED_FILE) for .gz/.xz/.zst (kmod >= 31's way),
// flags 0 otherwise. Needs qemu-system-x86_64 (Debian: qemu-system-x86), a static busybox (busybox-static) and a
// static loader (built on demand with gcc -static unless `loader` is given).
import {accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {fsError, KmodpressError} from '../errors.js';
import {findTool, requireTool, run} from '../disk/exec.js';
import {isStaticExecutable} from './elf-static.js';
import {buildInitramfs, guestPathFor, type LoadItem} from './initramfs.js';
import {ensureLoader} from './loader.js';
import {errnoName, parseConsole, type LoaderLine, type ParsedConsole} from './parse.js';

export {errnoName, parseConsole} from './parse.js';
export {LOADER_SOURCE, ensureLoader} from './loader.js';
export {newcArchive, gzipNewcArchive, type CpioEntry} from './cpio.js';
export {initScript} from './initramfs.js';

export interface BootCase {
	/** the module file on the host (.ko, .ko.gz, .ko.xz, .ko.zst) */
	file: string;
	/** files loaded before this one (each at most once per boot; a dependency that is also a case loads as that case) */
	deps?: string[];
	/** module parameters, e.g. "greeting=hi" */
	params?: string;
	/** unload this case's module right after loading it (lets several files of one module name share a boot) */
	isolate?: boolean;
}

export interface BootOptions {
	/** bzImage / vmlinuz */
	kernelImage: string;
	cases: BootCase[];
	/** add module.sig_enforce=1 to the kernel command line */
	sigEnforce?: boolean;
	/** whole run, QEMU killed after it (default 180 s: TCG on a slow 2-core CI machine) */
	timeoutMs?: number;
	/** every console line as it arrives */
	log?: (line: string) => void;
	/** a static loader binary (native/loader.c); default: built from native/loader.c with gcc -static */
	loader?: string;
	/** a static busybox; default /bin/busybox or /usr/bin/busybox from busybox-static */
	busybox?: string;
	/** extra kernel command line words */
	append?: string;
	/** guest memory, MiB (default 768) */
	memoryMiB?: number;
	/** keep the initramfs and console log here instead of a removed temp dir */
	workDir?: string;
}

export interface LoadResult {
	/** the host file */
	file: string;
	/** finit_module returned 0 */
	loaded: boolean;
	/** 0 when loaded, else the errno finit_module failed with (from inside the guest) */
	errno: number;
	/** "ENOEXEC", "EKEYREJECTED", … ('' when loaded) */
	errnoName: string;
	/** the guest's strerror(), e.g. "Exec format error" ('Success' when loaded) */
	error: string;
	/** the kernel's log lines while this file was loaded (dmesg -c right after), timestamps removed */
	message: string[];
	/** module names this load added to /proc/modules */
	modules: string[];
	/** whether each of those was removed again (delete_module) */
	unloaded: Record<string, boolean>;
}

export interface CaseResult extends LoadResult {
	/** results for this case's deps, in order (shared with other cases that name the same file) */
	deps: LoadResult[];
}

export interface BootResult {
	cases: CaseResult[];
	/** uname -r inside the guest */
	kernelRelease: string;
	/** /sys/module/compression inside the guest ('' without MODULE_DECOMPRESS) */
	compression: string;
	/** /sys/module/module/parameters/sig_enforce inside the guest ('Y'/'N') */
	sigEnforce: string;
	/** the serial console, raw */
	console: string;
	/** seconds from starting QEMU to /init running */
	bootSeconds: number;
	/** seconds from starting QEMU to its exit */
	totalSeconds: number;
	/** the kernel's log at boot, before the first load (timestamps removed) */
	bootLog: string[];
}

function staticTool(explicit: string | undefined, names: string[], why: string, pkg: string): string {
	// requireTool throws E_TOOL_MISSING when none of the names is installed
	const path = explicit ?? names.map((n) => findTool(n)).find((p) => p !== undefined) ?? requireTool(names[0]!, why, pkg);
	let data: Buffer;
	try {
		data = readFileSync(path);
	} catch (e) {
		throw new KmodpressError('E_TOOL_MISSING', `cannot be read (needed to ${why})`, {file: path, fix: `install it (Debian: apt-get install ${pkg})`, cause: e});
	}
	if (!isStaticExecutable(data)) {
		throw new KmodpressError('E_TOOL_MISSING', `not a static executable (the boot check's initramfs has no libraries; needed to ${why})`, {
			file: path,
			fix: `install the static build (Debian: apt-get install ${pkg})`,
		});
	}
	return path;
}

function planItems(cases: readonly BootCase[]): {items: LoadItem[]; caseItem: LoadItem[]; depItems: LoadItem[][]} {
	const items: LoadItem[] = [];
	const byFile = new Map<string, LoadItem>(); // the first item of each file
	const caseOf = new Map<string, number>(); // the first case of each file
	cases.forEach((c, i) => {
		if (!caseOf.has(resolve(c.file))) caseOf.set(resolve(c.file), i);
	});
	const asCase = new Map<number, LoadItem>();
	let depCount = 0;
	const push = (item: LoadItem): LoadItem => {
		items.push(item);
		if (!byFile.has(item.file)) byFile.set(item.file, item);
		return item;
	};
	const newItem = (id: string, file: string, params: string, isolate: boolean): LoadItem =>
		({id, file, guestPath: guestPathFor(items.length, file), params, isolate});
	const caseItem: LoadItem[] = [];
	const depItems: LoadItem[][] = [];
	cases.forEach((c, i) => {
		depItems.push((c.deps ?? []).map((d) => {
			const abs = resolve(d);
			const have = byFile.get(abs);
			if (have) return have;
			const j = caseOf.get(abs);
			if (j !== undefined && j > i) {
				// a later case is this one's dependency: load it now, as that case
				const later = cases[j]!;
				const item = push(newItem(`c${j}`, abs, later.params ?? '', false));
				asCase.set(j, item);
				return item;
			}
			return push(newItem(`d${depCount++}`, abs, '', false));
		}));
		const abs = resolve(c.file);
		const early = asCase.get(i);
		const have = byFile.get(abs);
		if (early) caseItem.push(early);
		// already loaded as a dependency only: that load is this case's verdict
		else if (have && have.id.startsWith('d')) caseItem.push(have);
		// otherwise its own load, even when an earlier case had the same file (each case gets its own verdict)
		else caseItem.push(push(newItem(`c${i}`, abs, c.params ?? '', c.isolate ?? false)));
	});
	return {items, caseItem, depItems};
}

function resultFor(item: LoadItem, parsed: ParsedConsole): LoadResult {
	const s = parsed.steps.get(item.id);
	const l: LoaderLine | undefined = s?.loader;
	if (!s || !l) {
		throw new KmodpressError('E_BOOT_FAILED', `the guest never reported loading this file (step ${item.id})`, {file: item.file});
	}
	const unloaded: Record<string, boolean> = {};
	for (const m of s.newModules) unloaded[m] = s.unloaded[m]?.rc === 0;
	return {
		file: item.file,
		loaded: l.rc === 0,
		errno: l.rc === 0 ? 0 : l.errno,
		errnoName: l.rc === 0 ? '' : errnoName(l.errno),
		error: l.error,
		message: s.dmesg,
		modules: s.newModules,
		unloaded,
	};
}

/** Boot `kernelImage` under QEMU with the cases in an initramfs; one boot for all of them. */
export async function bootAndLoad(opts: BootOptions): Promise<BootResult> {
	const qemu = requireTool('qemu-system-x86_64', 'boot a kernel to check that modules load', 'qemu-system-x86');
	const busybox = staticTool(opts.busybox, ['busybox'], 'boot a kernel to check that modules load', 'busybox-static');
	const loader = staticTool(opts.loader ?? (await ensureLoader()), ['kmodpress-loader'], 'load modules in the booted kernel', 'gcc libc6-dev');
	try {
		accessSync(opts.kernelImage, constants.R_OK);
	} catch (e) {
		throw fsError('E_BOOT_FAILED', opts.kernelImage, 'read the kernel image', e);
	}
	const {items, caseItem, depItems} = planItems(opts.cases);
	const work = opts.workDir ?? mkdtempSync(join(tmpdir(), 'kmodpress-boot-'));
	const initrd = join(work, 'initramfs.cpio.gz');
	writeFileSync(initrd, buildInitramfs(items, busybox, loader));
	const append = ['console=ttyS0', 'panic=-1', 'quiet', 'loglevel=4', 'i8042.noaux', 'i8042.nokbd', ...(opts.sigEnforce ? ['module.sig_enforce=1'] : []),
		...(opts.append ? [opts.append] : [])].join(' ');
	const args = ['-accel', 'tcg', '-cpu', 'max', '-m', String(opts.memoryMiB ?? 768), '-smp', '1', '-nographic', '-no-reboot',
		'-nic', 'none', '-kernel', opts.kernelImage, '-initrd', initrd, '-append', append];
	const timeoutMs = opts.timeoutMs ?? 180_000;
	const started = process.hrtime.bigint();
	const secondsSince = () => Number(process.hrtime.bigint() - started) / 1e9;
	let consoleText = '';
	let bootSeconds = NaN;
	let timedOut = false;
	let stderrText = '';
	try {
		// QEMU is stopped through execa's cancelSignal: on the timeout, and a moment after /init says it is done
		const abort = new AbortController();
		let graceTimer: NodeJS.Timeout | undefined;
		const killTimer = setTimeout(() => {
			timedOut = true;
			abort.abort();
		}, timeoutMs);
		const onLine = (line: string): void => {
			consoleText += `${line}\n`;
			opts.log?.(line);
			if (Number.isNaN(bootSeconds) && line.includes('@@KMP BEGIN')) bootSeconds = secondsSince();
			if (line.includes('@@KMP END') && graceTimer === undefined) graceTimer = setTimeout(() => abort.abort(), 5_000);
		};
		const result = await run(qemu, args, {
			stdout: {transform: function* (line: unknown) { onLine(String(line)); yield line; }},
			stdin: 'ignore',
			cancelSignal: abort.signal,
			killSignal: 'SIGKILL',
			maxBuffer: 64 * 1024 * 1024,
		});
		clearTimeout(killTimer);
		if (graceTimer) clearTimeout(graceTimer);
		stderrText = String(result.stderr ?? '');
		const totalSeconds = secondsSince();
		if (opts.workDir) writeFileSync(join(work, 'console.log'), consoleText);
		const parsed = parseConsole(consoleText);
		const tail = consoleText.replace(/\r/g, '').trim().split('\n').slice(-15).join('\n');
		if (!parsed.ended) {
			const why = timedOut ? `timed out after ${timeoutMs / 1000} s` : !parsed.begun ? 'the kernel never ran /init' : '/init did not finish';
			throw new KmodpressError('E_BOOT_FAILED', `booting under QEMU: ${why}. Console tail:\n${tail}${stderrText.trim() ? `\nqemu: ${stderrText.trim().slice(-500)}` : ''}`, {
				file: opts.kernelImage,
				fix: 'check that the image is an x86_64 kernel with BLK_DEV_INITRD, RD_GZIP, SERIAL_8250_CONSOLE, DEVTMPFS and MODULES',
			});
		}
		const cases: CaseResult[] = opts.cases.map((c, i) => ({...resultFor(caseItem[i]!, parsed), file: resolve(c.file), deps: depItems[i]!.map((d) => resultFor(d, parsed))}));
		return {
			cases,
			kernelRelease: parsed.uname ?? '',
			compression: parsed.compression ?? '',
			sigEnforce: parsed.sigEnforce ?? '',
			console: consoleText,
			bootSeconds,
			totalSeconds,
			bootLog: parsed.dmesg.get('boot') ?? [],
		};
	} finally {
		if (!opts.workDir) rmSync(work, {recursive: true, force: true});
	}
}
