// Parses the lab's serial console (markers written by the /init of initramfs.ts, lines of native/loader.c).
import {constants} from 'node:os';
import {MARK} from './initramfs.js';

export interface LoaderLine {
	target: string;
	rc: number;
	errno: number;
	/** strerror() inside the guest, e.g. "Exec format error" */
	error: string;
}

export interface StepRecord {
	id: string;
	guestPath: string;
	loader?: LoaderLine;
	exit?: number;
	/** modules that appeared in /proc/modules with this step */
	newModules: string[];
	/** the kernel's log lines of this step (dmesg -c after it), timestamps removed */
	dmesg: string[];
	/** module name → unloaded successfully (only for modules of this step) */
	unloaded: Record<string, LoaderLine>;
}

export interface ParsedConsole {
	begun: boolean;
	ended: boolean;
	uname?: string;
	/** /sys/module/compression in the guest ('' when the kernel has no MODULE_DECOMPRESS) */
	compression?: string;
	sigEnforce?: string;
	steps: Map<string, StepRecord>;
	/** dmesg blocks by their id (step ids, "boot", "end", "unload-<name>") */
	dmesg: Map<string, string[]>;
}

const ERRNO_NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(num)) ERRNO_NAMES.set(num, name);
// node's table lacks a few Linux ones the module loader uses; 524 is kernel-internal (include/linux/errno.h ENOTSUPP)
// yet reaches init_module's caller, e.g. from btf_parse_hdr for an unknown BTF version
for (const [num, name] of [[126, 'ENOKEY'], [127, 'EKEYEXPIRED'], [128, 'EKEYREVOKED'], [129, 'EKEYREJECTED'], [524, 'ENOTSUPP']] as const) {
	if (!ERRNO_NAMES.has(num)) ERRNO_NAMES.set(num, name);
}
export const errnoName = (n: number): string => (n === 0 ? '' : ERRNO_NAMES.get(n) ?? `errno ${n}`);

const LOADER_RE = /^LOADER (\S+) rc=(-?\d+) errno=(\d+) (.*)$/;

export function parseLoaderLine(line: string): LoaderLine | undefined {
	const m = LOADER_RE.exec(line);
	if (!m) return undefined;
	return {target: m[1]!, rc: Number(m[2]), errno: Number(m[3]), error: m[4]!};
}

/** "[    1.234567] text" → "text" (Debian's kernels print timestamps; the tiny ones do not). */
export const stripTimestamp = (line: string): string => line.replace(/^\[\s*\d+\.\d+\]\s?/, '');

export function parseConsole(text: string): ParsedConsole {
	const out: ParsedConsole = {begun: false, ended: false, steps: new Map(), dmesg: new Map()};
	let current: StepRecord | undefined;
	let unloading: {step?: StepRecord; name: string} | undefined;
	let dmesgBlock: {id: string; lines: string[]} | undefined;
	const step = (id: string): StepRecord => {
		let s = out.steps.get(id);
		if (!s) {
			s = {id, guestPath: '', newModules: [], dmesg: [], unloaded: {}};
			out.steps.set(id, s);
		}
		return s;
	};
	for (const raw of text.split('\n')) {
		const line = raw.replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
		const at = line.indexOf(`${MARK} `);
		if (at >= 0) {
			const [kind = '', ...rest] = line.slice(at + MARK.length + 1).split(' ');
			const arg = rest.join(' ');
			switch (kind) {
				case 'BEGIN': out.begun = true; break;
				case 'END': out.ended = true; break;
				case 'UNAME': out.uname = arg.trim(); break;
				case 'COMPRESSION': out.compression = arg.trim(); break;
				case 'SIGENFORCE': out.sigEnforce = arg.trim(); break;
				case 'LOAD': current = step(rest[0] ?? ''); current.guestPath = rest[1] ?? ''; unloading = undefined; break;
				case 'EXIT': step(rest[0] ?? '').exit = Number(rest[1]); break;
				case 'NEW': step(rest[0] ?? '').newModules = rest.slice(1).filter((m) => m !== ''); break;
				case 'UNLOAD': {
					const [id = '', name = ''] = rest;
					const owner = id === 'end' ? [...out.steps.values()].find((s) => s.newModules.includes(name)) : out.steps.get(id);
					unloading = {step: owner, name};
					break;
				}
				case 'DMESG-BEGIN': dmesgBlock = {id: arg.trim(), lines: []}; break;
				case 'DMESG-END':
					if (dmesgBlock) {
						out.dmesg.set(dmesgBlock.id, dmesgBlock.lines);
						const s = out.steps.get(dmesgBlock.id);
						if (s) s.dmesg = dmesgBlock.lines;
					}
					dmesgBlock = undefined;
					break;
				default: break;
			}
			continue;
		}
		if (dmesgBlock) {
			if (line.trim() !== '') dmesgBlock.lines.push(stripTimestamp(line));
			continue;
		}
		const loader = parseLoaderLine(line);
		if (loader) {
			if (unloading) {
				if (unloading.step) unloading.step.unloaded[unloading.name] = loader;
				unloading = undefined;
			} else if (current && !current.loader) {
				current.loader = loader;
			}
		}
	}
	return out;
}
