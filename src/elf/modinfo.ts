// .modinfo: NUL-separated "key=value" strings (MODULE_INFO in include/linux/module.h). Keys repeat (depends once,
// alias/import_ns/parm many times).
import {KmodpressError} from '../errors.js';
import type {ElfFile} from './reader.js';

export type Modinfo = Map<string, string[]>;

/** The "key=value" entries, in order. With `keys`, only those keys are decoded (the verifier reads a handful; a
 * driver's .modinfo holds hundreds of aliases): each entry is read off the bytes, no string for what is skipped. */
export function parseModinfoBytes(bytes: Uint8Array, keys?: ReadonlySet<string>): Modinfo {
	const out: Modinfo = new Map();
	const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	const filter = keys ? keyFilter(keys) : undefined;
	const n = bytes.length;
	for (let i = 0; i < n;) {
		let e = i;
		while (e < n && bytes[e] !== 0) e++;
		// the key is what precedes the first '='; an entry without one, or with an empty key, is skipped
		if (e > i && (!filter || filter.first[bytes[i]!] === 1)) {
			const limit = filter ? Math.min(e, i + filter.longest + 1) : e;
			let eq = i;
			while (eq < limit && bytes[eq] !== 0x3d) eq++;
			if (eq > i && eq < limit) {
				const key = buf.toString('latin1', i, eq);
				if (!keys || keys.has(key)) {
					const value = buf.toString('latin1', eq + 1, e);
					const list = out.get(key);
					if (list) list.push(value);
					else out.set(key, [value]);
				}
			}
		}
		i = e + 1;
	}
	return out;
}

/** For a key set: which first bytes can start one of its keys, and the longest. */
const filters = new WeakMap<ReadonlySet<string>, {first: Uint8Array; longest: number}>();
function keyFilter(keys: ReadonlySet<string>): {first: Uint8Array; longest: number} {
	let f = filters.get(keys);
	if (!f) {
		f = {first: new Uint8Array(256), longest: 0};
		for (const k of keys) {
			if (k.length > 0) f.first[k.charCodeAt(0) & 0xff] = 1;
			f.longest = Math.max(f.longest, k.length);
		}
		filters.set(keys, f);
	}
	return f;
}

export function readModinfo(elf: ElfFile): Modinfo {
	const secs = elf.sectionsNamed('.modinfo');
	if (secs.length === 0) {
		throw new KmodpressError('E_MODINFO_MISSING', `no .modinfo section: not a kernel module`, {file: elf.file, fix: 'name kernel modules (*.ko built by kbuild) only'});
	}
	if (secs.length > 1) throw new KmodpressError('E_ELF_BAD', `${secs.length} .modinfo sections`, {file: elf.file, fix: 'rebuild the module'});
	return parseModinfoBytes(elf.contents(secs[0]!));
}
