// .modinfo: NUL-separated "key=value" strings (MODULE_INFO in include/linux/module.h). Keys repeat (depends once,
// alias/import_ns/parm many times).
import {KmodpressError} from './errors.js';
import type {ElfFile} from './elf/reader.js';

export type Modinfo = Map<string, string[]>;

export function parseModinfoBytes(bytes: Uint8Array): Modinfo {
	const out: Modinfo = new Map();
	const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
	for (const entry of text.split('\0')) {
		const eq = entry.indexOf('=');
		if (eq <= 0) continue;
		const k = entry.slice(0, eq);
		const list = out.get(k);
		if (list) list.push(entry.slice(eq + 1));
		else out.set(k, [entry.slice(eq + 1)]);
	}
	return out;
}

export function readModinfo(elf: ElfFile): Modinfo {
	const secs = elf.sectionsNamed('.modinfo');
	if (secs.length === 0) {
		throw new KmodpressError('E_MODINFO_MISSING', `${elf.file}: no .modinfo section: not a kernel module`, {file: elf.file, fix: 'name kernel modules (*.ko built by kbuild) only'});
	}
	if (secs.length > 1) throw new KmodpressError('E_ELF_BAD', `${elf.file}: ${secs.length} .modinfo sections`, {file: elf.file, fix: 'rebuild the module'});
	return parseModinfoBytes(elf.contents(secs[0]!));
}
