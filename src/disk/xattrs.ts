// security.* extended attributes (SELinux labels, IMA/EVM) carried from a module's old file to its new one. Node has
// no xattr API: getfattr/setfattr (Debian package `attr`) are used when installed, once per directory to read, and
// only for files that have any.
import {readdirSync} from 'node:fs';
import {join} from 'node:path';
import {KmodpressError} from '../errors.js';
import {MODULE_NAME_RE} from '../formats/table.js';
import {findTool, queryToolAsync, run} from './exec.js';

// One getfattr per directory, shared by every caller: the promise is cached, not the map it fills, so that callers
// processing modules concurrently all wait for the same, complete map.
const xattrCache = new Map<string, Promise<Map<string, Record<string, string>>>>();

/** The security.* xattrs of `file` (read for its whole directory at once, cached per run). Empty when getfattr is not
 * installed. */
export async function readSecurityXattrs(file: string): Promise<Record<string, string>> {
	const dir = join(file, '..');
	let pending = xattrCache.get(dir);
	if (!pending) {
		pending = readDirSecurityXattrs(dir);
		xattrCache.set(dir, pending);
	}
	return (await pending).get(file) ?? {};
}

async function readDirSecurityXattrs(dir: string): Promise<Map<string, Record<string, string>>> {
	const byFile = new Map<string, Record<string, string>>();
	const getfattr = findTool('getfattr');
	if (!getfattr) return byFile;
	const names = readdirSync(dir).filter((n) => MODULE_NAME_RE.test(n)).map((n) => join(dir, n));
	if (names.length === 0) return byFile;
	const rr = await queryToolAsync(getfattr, ['--absolute-names', '-d', '-m', '^security\\.', '-e', 'hex', '--', ...names]);
	let current: string | undefined;
	for (const line of String(rr.stdout).split('\n')) {
		const f = /^# file: (.*)$/.exec(line);
		if (f) {
			current = f[1]!;
			continue;
		}
		const a = /^(security\.[^=]+)=(0x[0-9a-f]+)$/.exec(line);
		if (a && current) byFile.set(current, {...byFile.get(current), [a[1]!]: a[2]!});
	}
	return byFile;
}

/** Put `xattrs` (as readSecurityXattrs returns them) on `file`. */
export async function writeSecurityXattrs(file: string, xattrs: Record<string, string>): Promise<void> {
	const setfattr = findTool('setfattr');
	if (!setfattr) throw new KmodpressError('E_TOOL_MISSING', `the module has security xattrs (${Object.keys(xattrs).join(', ')}) but setfattr is not installed`, {file, fix: 'apt-get install attr'});
	for (const [name, value] of Object.entries(xattrs)) {
		const r = await run(setfattr, ['-n', name, '-v', value, '--', file]);
		if (r.exitCode !== 0) throw new KmodpressError('E_WRITE_FAILED', `cannot set ${name} (${String(r.stderr).trim()})`, {file});
	}
}
