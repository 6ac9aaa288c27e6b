// What the target's modprobe does before the kernel sees the module: find it through modules.dep, and read the file
// (busybox modprobe reads gz and xz itself and hands anything else to init_module as it is: modutils/modutils.c
// try_to_mmap_module / xmalloc_open_zipped_read_close).
import {relative} from 'node:path';
import type {Algorithm, Finding} from '../../types.js';
import type {VerifyContext} from './context-types.js';
import {finding} from './finding.js';

export function checkBusyboxModprobe(algorithm: Algorithm | null, ctx: VerifyContext): Finding[] {
	if (!ctx.busyboxModprobe || algorithm !== 'zstd') return [];
	return [finding('BUSYBOX_NO_ZSTD', 'error', `the system's modprobe is busybox (${ctx.busyboxModprobe}), which cannot read zstd: it passes the compressed bytes to init_module ("invalid module format", or "Key was rejected by service" under enforcement); use xz or gzip for this system`)];
}

/** A module inside the module dir that modules.dep does not list: modprobe cannot find it. */
export function checkInModulesDep(path: string, module: string, ctx: VerifyContext): Finding[] {
	const rel = relative(ctx.moduleDir, path);
	if (!ctx.installedFrom || rel.startsWith('..') || ctx.installed.has(module)) return [];
	return [finding('NOT_IN_MODULES_DEP', 'warning', `not listed in ${ctx.installedFrom}: modprobe cannot find it; run depmod -a ${ctx.release}`)];
}
