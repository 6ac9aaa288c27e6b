// Everything the verifier needs from one module image, read once (pure: bytes in, plain data out, so it can cross a
// worker boundary): ELF identity, .modinfo, the symbol table's undefined symbols and exports (with CRCs and
// namespaces), __versions, .gnu.linkonce.this_module's size, the appended signature, the .BTF sections.
import {ElfFile, SHT_SYMTAB} from '../elf/reader.js';
import {isKmodpressError} from '../errors.js';
import {parseModinfoBytes} from '../modinfo.js';
import {readSignature, type SignatureInfo} from './signature.js';

export interface ModuleExport {
	symbol: string;
	crc: number | undefined;
	gplOnly: boolean;
	namespace: string;
}

export interface ModuleFacts {
	is64: boolean;
	machine: number;
	type: number;
	symtabCount: number;
	modinfoCount: number;
	modinfo: Record<string, string[]>;
	thisModuleSize: number | undefined;
	undefinedSymbols: {name: string; weak: boolean}[];
	exports: ModuleExport[];
	/** __versions: symbol → CRC (the first entry of a name, as check_version() finds it) */
	versions: Record<string, number> | undefined;
	versionsFrom: '__versions' | undefined;
	/** 6.14+ extended modversions (__version_ext_crcs + __version_ext_names), in section order; only kernels that
	 * know them read them, and then they decide every CRC */
	extVersions?: {names: string[]; crcs: Uint32Array};
	/** why elf_validity_cache_index_versions() would refuse the extended sections (ENOEXEC) */
	extError?: string;
	signature: SignatureInfo;
	/** .BTF bytes (copied) and whether a distilled .BTF.base travels with it */
	btf: Uint8Array | undefined;
	btfBase: boolean;
	/** has .BTF at all */
	hasBtf: boolean;
	/** the split-BTF check's first error (null: valid; undefined: not checked) */
	btfError?: string | null;
	/** undefinedSymbols and versions as they cross a worker boundary: a few strings and one typed array instead of
	 * thousands of small objects (cloning those cost more than parsing the ELF) */
	packed?: {undefNames: string; undefWeak: string; versionNames: string; versionCrcs: Uint32Array};
}

export function packFacts(f: ModuleFacts): ModuleFacts {
	const names = f.versions ? Object.keys(f.versions) : [];
	const crcs = new Uint32Array(names.length);
	names.forEach((n, i) => (crcs[i] = f.versions![n]!));
	return {
		...f,
		undefinedSymbols: [],
		versions: f.versions ? {} : undefined,
		packed: {
			undefNames: f.undefinedSymbols.map((u) => u.name).join('\n'),
			undefWeak: f.undefinedSymbols.map((u) => (u.weak ? '1' : '0')).join(''),
			versionNames: names.join('\n'),
			versionCrcs: crcs,
		},
	};
}

export function unpackFacts(f: ModuleFacts): ModuleFacts {
	const p = f.packed;
	if (!p) return f;
	const names = p.undefNames === '' ? [] : p.undefNames.split('\n');
	const undefinedSymbols = names.map((name, i) => ({name, weak: p.undefWeak[i] === '1'}));
	let versions: Record<string, number> | undefined;
	if (f.versions) {
		versions = {};
		const vn = p.versionNames === '' ? [] : p.versionNames.split('\n');
		vn.forEach((n, i) => (versions![n] = p.versionCrcs[i]!));
	}
	const {packed: _packed, ...rest} = f;
	return {...rest, undefinedSymbols, versions};
}

const STB_WEAK = 2;
const MODINFO_KEYS = new Set(['name', 'license', 'vermagic', 'depends', 'import_ns', 'sig_id', 'retpoline', 'intree', 'srcversion']);

export function analyzeImage(image: Uint8Array, file: string): ModuleFacts {
	const signature = readSignature(image);
	const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
	// the kernel strips the trailer before it parses the ELF (module_sig_check → info->len)
	const elfBytes = signature.present ? buf.subarray(0, signature.imageLength) : buf;
	const elf = new ElfFile(elfBytes, file);
	const modinfoSecs = elf.sectionsNamed('.modinfo');
	const modinfoMap = modinfoSecs.length === 1 ? parseModinfoBytes(elf.contents(modinfoSecs[0]!)) : new Map<string, string[]>();
	const symtabs = elf.sections.filter((s) => s.type === SHT_SYMTAB);
	const thisModule = elf.section('.gnu.linkonce.this_module');
	const undefinedSymbols: ModuleFacts['undefinedSymbols'] = [];
	const exportsBySym = new Map<string, ModuleExport>();
	const crcs = new Map<string, number>();
	const namespaces = new Map<string, string>();
	if (symtabs.length === 1) {
		const st = symtabs[0]!;
		const strtab = elf.sections[st.link];
		if (!strtab) throw new Error(`${file}: symbol table links to section ${st.link}, which does not exist`);
		const entsize = elf.is64 ? 24 : 16;
		const count = Math.floor(st.size / entsize);
		const le = elf.littleEndian;
		const b = elf.bytes;
		// only symbols in the export sections, and undefined ones, matter: skip the others before decoding a name
		const interesting = elf.sections.map((sec) => sec.name === '__ksymtab' || sec.name === '__ksymtab_gpl' || sec.name.startsWith('__kcrctab') || sec.name === '__ksymtab_strings');
		// st_shndx is read straight off the bytes (this loop sees every symbol of every module: thousands each)
		const shndxAt = elf.is64 ? 6 : 14;
		const hi = le ? 1 : 0;
		const lo = le ? 0 : 1;
		for (let i = 1, o = st.offset + entsize; i < count; i++, o += entsize) {
			const shndx = (b[o + shndxAt + hi]! << 8) | b[o + shndxAt + lo]!;
			if (shndx !== 0 && (shndx >= 0xff00 || !interesting[shndx])) continue;
			const nameOff = le ? b.readUInt32LE(o) : b.readUInt32BE(o);
			if (nameOff === 0) continue;
			const info = elf.is64 ? b[o + 4]! : b[o + 12]!;
			const name = elf.cstr(strtab.offset, strtab.size, nameOff, 'a symbol name');
			if (shndx === 0) {
				undefinedSymbols.push({name, weak: info >> 4 === STB_WEAK});
				continue;
			}
			const value = elf.is64 ? Number(le ? b.readBigUInt64LE(o + 8) : b.readBigUInt64BE(o + 8)) : (le ? b.readUInt32LE(o + 4) : b.readUInt32BE(o + 4));
			const sec = elf.sections[shndx];
			if (!sec) continue;
			if (name.startsWith('__ksymtab_') && (sec.name === '__ksymtab' || sec.name === '__ksymtab_gpl')) {
				const sym = name.slice(10);
				exportsBySym.set(sym, {symbol: sym, crc: undefined, gplOnly: sec.name === '__ksymtab_gpl', namespace: ''});
			} else if (name.startsWith('__crc_') && sec.name.startsWith('__kcrctab')) {
				elf.range(sec.offset + value, 4, `the CRC of ${name.slice(6)}`);
				crcs.set(name.slice(6), le ? b.readUInt32LE(sec.offset + value) : b.readUInt32BE(sec.offset + value));
			} else if (name.startsWith('__kstrtabns_') && sec.name === '__ksymtab_strings') {
				namespaces.set(name.slice(12), elf.cstr(sec.offset, sec.size, value, `the namespace of ${name.slice(12)}`));
			}
		}
	}
	for (const [sym, e] of exportsBySym) {
		e.crc = crcs.get(sym);
		e.namespace = namespaces.get(sym) ?? '';
	}
	let versions: Record<string, number> | undefined;
	let versionsFrom: ModuleFacts['versionsFrom'];
	const vers = elf.section('__versions');
	if (vers) {
		versions = {};
		versionsFrom = '__versions';
		const data = elf.contents(vers);
		const ent = elf.is64 ? 64 : 64; // {unsigned long crc; char name[64 - sizeof(unsigned long)]}
		const crcSize = elf.is64 ? 8 : 4;
		for (let o = 0; o + ent <= data.length; o += ent) {
			const crc = elf.littleEndian ? data.readUInt32LE(o) : data.readUInt32BE(o + crcSize - 4);
			const end = data.indexOf(0, o + crcSize);
			const name = data.toString('latin1', o + crcSize, end < 0 || end > o + ent ? o + ent : end);
			if (!(name in versions)) versions[name] = crc;
		}
	}
	// elf_validity_cache_index_versions() (6.14+): both sections or neither, and a name for every CRC
	let extVersions: ModuleFacts['extVersions'];
	let extError: string | undefined;
	const extCrcs = elf.sectionsNamed('__version_ext_crcs');
	const extNames = elf.sectionsNamed('__version_ext_names');
	if (extCrcs.length > 0 || extNames.length > 0) {
		if ((extCrcs.length > 0) !== (extNames.length > 0)) extError = '"extended version crc+name presence does not match"';
		else {
			const c = elf.contents(extCrcs[0]!);
			const n = elf.contents(extNames[0]!);
			const count = Math.floor(c.length / 4);
			const names: string[] = [];
			let at = 0;
			for (let i = 0; i < count; i++) {
				const end = n.indexOf(0, at);
				if (end < 0) {
					extError = '"more extended version crcs than names"';
					break;
				}
				names.push(n.toString('latin1', at, end));
				at = end + 1;
			}
			if (!extError) {
				const crcs = new Uint32Array(count);
				for (let i = 0; i < count; i++) crcs[i] = elf.littleEndian ? c.readUInt32LE(i * 4) : c.readUInt32BE(i * 4);
				extVersions = {names, crcs};
			}
		}
	}
	const btfSec = elf.section('.BTF');
	return {
		is64: elf.is64,
		machine: elf.machine,
		type: elf.type,
		symtabCount: symtabs.length,
		modinfoCount: modinfoSecs.length,
		// what the checks read (aliases and parameters would only cost a copy across the worker boundary)
		modinfo: Object.fromEntries([...modinfoMap].filter(([k]) => MODINFO_KEYS.has(k))),
		thisModuleSize: thisModule?.size,
		undefinedSymbols,
		exports: [...exportsBySym.values()],
		versions,
		versionsFrom,
		...(extVersions ? {extVersions} : {}),
		...(extError ? {extError} : {}),
		signature,
		btf: btfSec ? elf.contents(btfSec) : undefined,
		hasBtf: btfSec !== undefined,
		btfBase: elf.section('.BTF.base') !== undefined,
	};
}

/** analyzeImage, turning a malformed ELF into the finding the kernel would give (ENOEXEC) instead of a throw. */
export function tryAnalyze(image: Uint8Array, file: string): {facts: ModuleFacts} | {error: string} {
	try {
		return {facts: analyzeImage(image, file)};
	} catch (e) {
		if (isKmodpressError(e)) return {error: e.message};
		if (e instanceof RangeError || e instanceof Error) return {error: `${file}: ${e.message}`};
		throw e;
	}
}
