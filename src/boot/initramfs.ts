// The lab's initramfs: busybox (static), the loader, the module files and a generated /init that loads each file in
// order, reports every step on the serial console between markers, unloads what it loaded (reverse order), prints
// the rest of dmesg and reboots (QEMU runs with -no-reboot, so that ends it; poweroff needs ACPI, tiny kernels lack it).
import {readFileSync} from 'node:fs';
import {basename} from 'node:path';
import {type CpioEntry, gzipNewcArchive} from './cpio.js';

/** Every line /init prints for the parser starts with this. */
export const MARK = '@@KMP';

export interface LoadItem {
	/** stable id used in the markers: "c<case>" for cases, "d<n>" for dependencies loaded only as such */
	id: string;
	/** the file on the host */
	file: string;
	/** where it is in the initramfs (keeps the basename, so the suffix still picks the loader's flags) */
	guestPath: string;
	params: string;
	/** unload what this load added right after it (so a later file of the same module name is not refused EEXIST) */
	isolate: boolean;
}

const SAFE = /[^A-Za-z0-9._+-]/g;
const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export function guestPathFor(index: number, file: string): string {
	return `/m/${index}/${basename(file).replace(SAFE, '_')}`;
}

export function initScript(items: readonly LoadItem[]): string {
	const lines = [
		'#!/bin/busybox sh',
		'/bin/busybox --install -s',
		'export PATH=/sbin:/bin:/usr/sbin:/usr/bin',
		'mount -t proc proc /proc',
		'mount -t sysfs sysfs /sys',
		'mount -t devtmpfs devtmpfs /dev 2>/dev/null',
		// only the markers on the console from here: kernel messages are read per step with dmesg -c
		'dmesg -n 1',
		`echo "${MARK} BEGIN"`,
		`echo "${MARK} UNAME $(uname -r)"`,
		`echo "${MARK} COMPRESSION $(cat /sys/module/compression 2>/dev/null)"`,
		`echo "${MARK} SIGENFORCE $(cat /sys/module/module/parameters/sig_enforce 2>/dev/null)"`,
		`echo "${MARK} DMESG-BEGIN boot"; dmesg -c; echo "${MARK} DMESG-END boot"`,
		'stack=""',
		'step() { # id file params isolate',
		`\techo "${MARK} LOAD $1 $2"`,
		'\tknown=" $(cut -d" " -f1 /proc/modules | tr "\\n" " ")"',
		'\t/sbin/kmodpress-loader "$2" "$3"',
		`\techo "${MARK} EXIT $1 $?"`,
		'\tnew=""',
		'\tfor m in $(cut -d" " -f1 /proc/modules); do',
		'\t\tcase "$known" in *" $m "*) ;; *) new="$m $new" ;; esac',
		'\tdone',
		`\techo "${MARK} NEW $1 $new"`,
		`\techo "${MARK} DMESG-BEGIN $1"; dmesg -c; echo "${MARK} DMESG-END $1"`,
		'\tif [ "$4" = 1 ]; then',
		'\t\tfor m in $new; do unload "$1" "$m"; done',
		'\telse',
		'\t\tstack="$new $stack"',
		'\tfi',
		'}',
		'unload() { # id name',
		`\techo "${MARK} UNLOAD $1 $2"`,
		'\t/sbin/kmodpress-loader -r "$2"',
		`\techo "${MARK} DMESG-BEGIN unload-$2"; dmesg -c; echo "${MARK} DMESG-END unload-$2"`,
		'}',
		...items.map((it) => `step ${it.id} ${shQuote(it.guestPath)} ${shQuote(it.params)} ${it.isolate ? 1 : 0}`),
		'for m in $stack; do unload end "$m"; done',
		`echo "${MARK} DMESG-BEGIN end"; dmesg; echo "${MARK} DMESG-END end"`,
		`echo "${MARK} END"`,
		'sync',
		'reboot -f',
		'sleep 60',
		'',
	];
	return lines.join('\n');
}

/** The gzip'd newc initramfs for `items`, with busybox and the loader at the given host paths. */
export function buildInitramfs(items: readonly LoadItem[], busybox: string, loader: string): Buffer {
	const entries: CpioEntry[] = [
		...['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'tmp', 'm'].map((path): CpioEntry => ({type: 'dir', path})),
		{type: 'chardev', path: 'dev/console', major: 5, minor: 1},
		{type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666},
		{type: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755},
		{type: 'symlink', path: 'bin/sh', target: 'busybox'},
		{type: 'file', path: 'sbin/kmodpress-loader', data: readFileSync(loader), mode: 0o755},
		{type: 'file', path: 'init', data: initScript(items), mode: 0o755},
	];
	const dirs = new Set<string>();
	for (const it of items) {
		const dir = it.guestPath.slice(1, it.guestPath.lastIndexOf('/'));
		if (!dirs.has(dir)) {
			dirs.add(dir);
			entries.push({type: 'dir', path: dir});
		}
		entries.push({type: 'file', path: it.guestPath.slice(1), data: readFileSync(it.file)});
	}
	return gzipNewcArchive(entries);
}
