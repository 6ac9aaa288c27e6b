// Everything the verifier needs from one module image, read once (pure: bytes in, plain data out, so it can cross a
// worker boundary): ELF identity, .modinfo, the symbol table's undefined symbols and exports (with CRCs and
// namespaces), __versions, .gnu.linkonce.this_module's size, the appended signature, the .BTF sections.
//
// This runs for every module of a tree (4230 in Debian's), so it reads bytes, not objects: names are copied into one
// NUL-joined string per module instead of a string each, only the .modinfo keys the checks read are decoded, and what
// crosses to the main thread is a few strings and typed arrays (FactsWire), turned into maps there (unpackFacts).
import {ElfFile, SHT_SYMTAB, type Section} from '../../elf/reader.js';
import {isKmodpressError, KmodpressError} from '../../errors.js';
import {parseModinfoBytes} from '../../elf/modinfo.js';
import {readSignature, type SignatureInfo} from './signature.js';

export interface ModuleExport {
	symbol: string;
	crc: number | undefined;
	gplOnly: boolean;
	namespace: string;
}

interface CommonFacts {
	is64: boolean;
	machine: number;
	type: number;
	symtabCount: number;
	modinfoCount: number;
	/** the .modinfo keys the checks read (MODINFO_KEYS), each with its values in order */
	modinfo: Record<string, string[]>;
	thisModuleSize: number | undefined;
	exports: ModuleExport[];
	/** 6.14+ extended modversions (__version_ext_crcs + __version_ext_names), in section order; only kernels that
	 * know them read them, and then they decide every CRC */
	extVersions?: {names: string[]; crcs: Uint32Array};
	/** why elf_validity_cache_index_versions() would refuse the extended sections (ENOEXEC) */
	extError?: string;
	signature: SignatureInfo;
	/** .BTF.base (distilled base BTF, 6.11+) travels with .BTF */
	btfBase: boolean;
	/** has .BTF at all */
	hasBtf: boolean;
	/** the split-BTF check's first error (null: valid; undefined: not checked) */
	btfError?: string | null;
}

/** What analyzeImage returns and a worker sends back. */
export interface FactsWire extends CommonFacts {
	/** undefined symbols in symbol-table order, joined by NUL (no name holds one) */
	undefinedJoined: string;
	/** one byte per undefined symbol: 1 when weak */
	undefinedWeak: Uint8Array;
	/** __versions in section order: names joined by NUL, CRCs aligned; undefined: no __versions section */
	versionsJoined: {names: string; crcs: Uint32Array} | undefined;
	/** the .BTF bytes, for the split-BTF check in the worker (a view into the image; not sent back) */
	btf?: Uint8Array | undefined;
}

/** What the checks read. */
export interface ModuleFacts extends CommonFacts {
	undefinedNames: string[];
	/** 1 at i when undefinedNames[i] is weak */
	undefinedWeak: Uint8Array;
	/** __versions: symbol → CRC, the first entry of each name (as check_version() finds it); undefined: no section */
	versions: Map<string, number> | undefined;
}

const undefinedNamesOf = (w: FactsWire): string[] => (w.undefinedWeak.length === 0 ? [] : w.undefinedJoined.split('\0'));

export function unpackFacts(w: FactsWire): ModuleFacts {
	const {undefinedJoined: _u, versionsJoined, btf: _btf, ...rest} = w;
	const undefinedNames = undefinedNamesOf(w);
	let versions: Map<string, number> | undefined;
	if (versionsJoined) {
		versions = new Map();
		const crcs = versionsJoined.crcs;
		if (crcs.length > 0) {
			const names = versionsJoined.names.split('\0');
			for (let i = 0; i < crcs.length; i++) if (!versions.has(names[i]!)) versions.set(names[i]!, crcs[i]!);
		}
	}
	return {...rest, undefinedNames, versions};
}

/** NUL-joined latin1 names built in one reused buffer: one string per module instead of one per name. */
class Joiner {
	private buf = Buffer.allocUnsafe(1 << 16);
	private len = 0;
	count = 0;

	reset(): this {
		this.len = 0;
		this.count = 0;
		return this;
	}

	add(src: Uint8Array, start: number, end: number): void {
		const need = this.len + (end - start) + 1;
		if (need > this.buf.length) {
			const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
			this.buf.copy(bigger, 0, 0, this.len);
			this.buf = bigger;
		}
		const buf = this.buf;
		let at = this.len;
		if (this.count++ > 0) buf[at++] = 0;
		for (let i = start; i < end; i++) buf[at++] = src[i]!;
		this.len = at;
	}

	toString(): string {
		return this.buf.toString('latin1', 0, this.len);
	}
}
const undefinedJoiner = new Joiner();
const versionJoiner = new Joiner();

const STB_WEAK = 2;
const MODINFO_KEYS: ReadonlySet<string> = new Set(['name', 'license', 'vermagic', 'depends', 'import_ns', 'sig_id', 'retpoline', 'intree', 'srcversion']);

const u32 = (b: Uint8Array, o: number, le: boolean): number => (le
	? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
	: ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0);

/** Export-related sections by index: 1 __ksymtab, 2 __ksymtab_gpl, 3 __kcrctab*, 4 __ksymtab_strings. */
function exportSections(sections: Section[]): Uint8Array | undefined {
	let marks: Uint8Array | undefined;
	for (let i = 0; i < sections.length; i++) {
		const name = sections[i]!.name;
		if (!name.startsWith('__k')) continue;
		const m = name === '__ksymtab' ? 1 : name === '__ksymtab_gpl' ? 2 : name.startsWith('__kcrctab') ? 3 : name === '__ksymtab_strings' ? 4 : 0;
		if (m) (marks ??= new Uint8Array(sections.length))[i] = m;
	}
	return marks;
}

/** The symbol table: undefined symbols into `undefinedJoiner` (+ weak flags), exports with their CRCs and namespaces.
 * Only undefined symbols and symbols in export sections are looked at past their section index. */
function readSymbols(elf: ElfFile, st: Section, file: string): {weak: Uint8Array; exports: ModuleExport[]} {
	const strtab = elf.sections[st.link];
	if (!strtab) throw new KmodpressError('E_ELF_BAD', `the symbol table links to section ${st.link}, which does not exist`, {file, fix: 'rebuild the module'});
	const marks = exportSections(elf.sections);
	exportSymbols.length = 0;
	const n = scanSymbols(elf.bytes, st.offset, st.size, elf.is64, elf.littleEndian, strtab.offset, strtab.size, marks, file);
	return {weak: weakFlags.slice(0, n), exports: exportSymbols.length > 0 ? readExports(elf, exportSymbols, strtab, marks!) : []};
}

/** scanSymbols' outputs besides the names: weak flags (grown as needed) and the offsets of export-related symbols. */
let weakFlags = new Uint8Array(1024);
const exportSymbols: number[] = [];

/** The loop over every symbol of a module, in a function of its own with nothing after the loop: V8 compiles a hot
 * loop on the fly (OSR) together with the rest of its function, and code after it that had never run in the
 * interpreter then deoptimized on every call (2065 times over Debian's tree). Returns the number of undefined
 * symbols (their names in undefinedJoiner, flags in weakFlags). */
function scanSymbols(b: Buffer, symOff: number, symSize: number, is64: boolean, le: boolean, strOff: number, strSize: number, marks: Uint8Array | undefined, file: string): number {
	const entsize = is64 ? 24 : 16;
	const count = Math.floor(symSize / entsize);
	const shndxAt = is64 ? 6 : 14;
	const infoAt = is64 ? 4 : 12;
	const strEnd = strOff + strSize;
	undefinedJoiner.reset();
	for (let i = 1, o = symOff + entsize; i < count; i++, o += entsize) {
		const shndx = le ? b[o + shndxAt]! | (b[o + shndxAt + 1]! << 8) : (b[o + shndxAt]! << 8) | b[o + shndxAt + 1]!;
		if (shndx !== 0) {
			if (shndx < 0xff00 && marks !== undefined && marks[shndx] !== 0) exportSymbols.push(o);
			continue;
		}
		const nameOff = u32(b, o, le);
		if (nameOff === 0) continue;
		if (nameOff >= strSize) throw new KmodpressError('E_ELF_BAD', 'a symbol name points outside its string table', {file, fix: 'rebuild the module'});
		const start = strOff + nameOff;
		let end = start;
		while (end < strEnd && b[end] !== 0) end++;
		if (end >= strEnd) throw new KmodpressError('E_ELF_BAD', 'a symbol name is not NUL-terminated', {file, fix: 'rebuild the module'});
		const n = undefinedJoiner.count;
		if (n === weakFlags.length) {
			const w = new Uint8Array(n * 2);
			w.set(weakFlags);
			weakFlags = w;
		}
		weakFlags[n] = b[o + infoAt]! >> 4 === STB_WEAK ? 1 : 0;
		undefinedJoiner.add(b, start, end);
	}
	return undefinedJoiner.count;
}

/** __ksymtab_<sym> in __ksymtab(_gpl), __crc_<sym> in __kcrctab*, __kstrtabns_<sym> in __ksymtab_strings. */
function readExports(elf: ElfFile, at: readonly number[], strtab: Section, marks: Uint8Array): ModuleExport[] {
	const b = elf.bytes;
	const le = elf.littleEndian;
	const bySym = new Map<string, ModuleExport>();
	const crcs = new Map<string, number>();
	const namespaces = new Map<string, string>();
	for (const o of at) {
		const shndx = le ? b.readUInt16LE(o + (elf.is64 ? 6 : 14)) : b.readUInt16BE(o + (elf.is64 ? 6 : 14));
		const nameOff = u32(b, o, le);
		if (nameOff === 0) continue;
		const name = elf.cstr(strtab.offset, strtab.size, nameOff, 'a symbol name');
		const value = elf.is64 ? Number(le ? b.readBigUInt64LE(o + 8) : b.readBigUInt64BE(o + 8)) : u32(b, o + 4, le);
		const sec = elf.sections[shndx]!;
		const kind = marks[shndx];
		if ((kind === 1 || kind === 2) && name.startsWith('__ksymtab_')) {
			const sym = name.slice(10);
			bySym.set(sym, {symbol: sym, crc: undefined, gplOnly: kind === 2, namespace: ''});
		} else if (kind === 3 && name.startsWith('__crc_')) {
			elf.range(sec.offset + value, 4, `the CRC of ${name.slice(6)}`);
			crcs.set(name.slice(6), u32(b, sec.offset + value, le));
		} else if (kind === 4 && name.startsWith('__kstrtabns_')) {
			namespaces.set(name.slice(12), elf.cstr(sec.offset, sec.size, value, `the namespace of ${name.slice(12)}`));
		}
	}
	for (const [sym, e] of bySym) {
		e.crc = crcs.get(sym);
		e.namespace = namespaces.get(sym) ?? '';
	}
	return [...bySym.values()];
}

/** __versions: {unsigned long crc; char name[64 - sizeof(unsigned long)]} records. */
function readVersions(elf: ElfFile, sec: Section): {names: string; crcs: Uint32Array} {
	const data = elf.contents(sec);
	const ent = 64;
	const crcSize = elf.is64 ? 8 : 4;
	const le = elf.littleEndian;
	const count = Math.floor(data.length / ent);
	const crcs = new Uint32Array(count);
	versionJoiner.reset();
	for (let i = 0, o = 0; i < count; i++, o += ent) {
		crcs[i] = le ? u32(data, o, true) : u32(data, o + crcSize - 4, false);
		let end = o + crcSize;
		while (end < o + ent && data[end] !== 0) end++;
		versionJoiner.add(data, o + crcSize, end);
	}
	return {names: versionJoiner.toString(), crcs};
}

/** elf_validity_cache_index_versions() (6.14+): both sections or neither, and a name for every CRC. */
function readExtVersions(elf: ElfFile, crcSecs: Section[], nameSecs: Section[]): Pick<CommonFacts, 'extVersions' | 'extError'> {
	if ((crcSecs.length > 0) !== (nameSecs.length > 0)) return {extError: '"extended version crc+name presence does not match"'};
	const c = elf.contents(crcSecs[0]!);
	const n = elf.contents(nameSecs[0]!);
	const count = Math.floor(c.length / 4);
	const names: string[] = [];
	let at = 0;
	for (let i = 0; i < count; i++) {
		const end = n.indexOf(0, at);
		if (end < 0) return {extError: '"more extended version crcs than names"'};
		names.push(n.toString('latin1', at, end));
		at = end + 1;
	}
	const crcs = new Uint32Array(count);
	for (let i = 0; i < count; i++) crcs[i] = u32(c, i * 4, elf.littleEndian);
	return {extVersions: {names, crcs}};
}

export function analyzeImage(image: Uint8Array, file: string): FactsWire {
	const signature = readSignature(image);
	const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
	// the kernel strips the trailer before it parses the ELF (module_sig_check → info->len)
	const elf = new ElfFile(signature.present ? buf.subarray(0, signature.imageLength) : buf, file);
	let modinfo: Section | undefined;
	let modinfoCount = 0;
	let symtab: Section | undefined;
	let symtabCount = 0;
	let thisModule: Section | undefined;
	let versions: Section | undefined;
	let btf: Section | undefined;
	let btfBase = false;
	const extCrcs: Section[] = [];
	const extNames: Section[] = [];
	for (const s of elf.sections) {
		if (s.type === SHT_SYMTAB && symtabCount++ === 0) symtab = s;
		switch (s.name) {
			case '.modinfo': if (modinfoCount++ === 0) modinfo = s; break;
			case '.gnu.linkonce.this_module': thisModule ??= s; break;
			case '__versions': versions ??= s; break;
			case '.BTF': btf ??= s; break;
			case '.BTF.base': btfBase = true; break;
			case '__version_ext_crcs': extCrcs.push(s); break;
			case '__version_ext_names': extNames.push(s); break;
			default: break;
		}
	}
	const syms = symtab && symtabCount === 1 ? readSymbols(elf, symtab, file) : {weak: new Uint8Array(0), exports: []};
	if (!(symtab && symtabCount === 1)) undefinedJoiner.reset();
	const ext = extCrcs.length > 0 || extNames.length > 0 ? readExtVersions(elf, extCrcs, extNames) : {};
	return {
		is64: elf.is64,
		machine: elf.machine,
		type: elf.type,
		symtabCount,
		modinfoCount,
		// the keys the checks read (aliases and parameters would only cost a copy across the worker boundary)
		modinfo: modinfo && modinfoCount === 1 ? Object.fromEntries(parseModinfoBytes(elf.contents(modinfo), MODINFO_KEYS)) : {},
		thisModuleSize: thisModule?.size,
		undefinedJoined: undefinedJoiner.toString(),
		undefinedWeak: syms.weak,
		exports: syms.exports,
		versionsJoined: versions ? readVersions(elf, versions) : undefined,
		...ext,
		signature,
		btf: btf ? elf.contents(btf) : undefined,
		hasBtf: btf !== undefined,
		btfBase,
	};
}

/** analyzeImage, turning a malformed ELF into what is wrong with it (the kernel's ENOEXEC) instead of a throw. The
 * error says what is wrong, not which file: the caller has the path. */
export function tryAnalyze(image: Uint8Array, file: string): {facts: FactsWire} | {error: string} {
	try {
		return {facts: analyzeImage(image, file)};
	} catch (e) {
		if (isKmodpressError(e) || e instanceof Error) return {error: e.message};
		throw e;
	}
}
