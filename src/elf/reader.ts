// The one place that indexes a module's bytes (libkmod-elf.c's habits): class and endianness settled once, every
// read bounds-checked (offset + size neither overflows nor passes the end), bad input an error naming the file, never
// a crash. Modules are ET_REL ELF files; kmodpress reads section headers, section names and contents.
//
//   ELF header (64-bit): e_ident[16] e_type u16 e_machine u16 … e_shoff u64 (0x28) … e_shentsize u16 (0x3A)
//                        e_shnum u16 (0x3C) e_shstrndx u16 (0x3E)
//   Section header (64): sh_name u32, sh_type u32, sh_flags u64, sh_addr u64, sh_offset u64 (0x18), sh_size u64 (0x20),
//                        sh_link u32, sh_info u32, sh_addralign u64, sh_entsize u64 (0x38)
import {KmodpressError} from '../errors.js';

export const EM: Readonly<Record<number, string>> = {3: 'i386', 62: 'x86_64', 40: 'arm', 183: 'aarch64', 243: 'riscv', 21: 'ppc64', 22: 's390', 258: 'loongarch', 8: 'mips'};
export const ET_REL = 1;
export const SHT_SYMTAB = 2;
export const SHT_NOBITS = 8;

export interface Section {
	name: string;
	type: number;
	offset: number;
	size: number;
	link: number;
	info: number;
	entsize: number;
	index: number;
}

export class ElfFile {
	readonly bytes: Buffer;
	readonly file: string;
	readonly is64: boolean;
	readonly littleEndian: boolean;
	readonly type: number;
	readonly machine: number;
	readonly sections: Section[];

	constructor(bytes: Buffer, file: string) {
		this.bytes = bytes;
		this.file = file;
		if (bytes.length < 16 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
			throw new KmodpressError('E_ELF_NOT_ELF', `not an ELF file`, {file, fix: 'reinstall the module (rebuild the package)'});
		}
		const cls = bytes[4];
		const data = bytes[5];
		if (cls !== 1 && cls !== 2) throw new KmodpressError('E_ELF_BAD', `unknown ELF class ${cls}`, {file, fix: 'rebuild the module'});
		if (data !== 1 && data !== 2) throw new KmodpressError('E_ELF_BAD', `unknown ELF data encoding ${data}`, {file, fix: 'rebuild the module'});
		this.is64 = cls === 2;
		this.littleEndian = data === 1;
		const ehsize = this.is64 ? 64 : 52;
		this.range(0, ehsize, 'the ELF header');
		this.type = this.u16(16);
		this.machine = this.u16(18);
		const shoff = this.is64 ? this.u64(0x28) : this.u32(0x20);
		const shentsize = this.u16(this.is64 ? 0x3a : 0x2e);
		const shnum = this.u16(this.is64 ? 0x3c : 0x30);
		const shstrndx = this.u16(this.is64 ? 0x3e : 0x32);
		const want = this.is64 ? 64 : 40;
		if (shnum === 0) throw new KmodpressError('E_ELF_BAD', `no section headers`, {file, fix: 'rebuild the module'});
		if (shentsize !== want) throw new KmodpressError('E_ELF_BAD', `section header size ${shentsize}, expected ${want}`, {file, fix: 'rebuild the module'});
		this.range(shoff, shnum * shentsize, 'the section header table');
		const header = (i: number): Section => {
			const o = shoff + i * shentsize;
			const s: Section = this.is64
				? {name: '', type: this.u32(o + 4), offset: this.u64(o + 0x18), size: this.u64(o + 0x20), link: this.u32(o + 0x28), info: this.u32(o + 0x2c), entsize: this.u64(o + 0x38), index: i}
				: {name: '', type: this.u32(o + 4), offset: this.u32(o + 0x10), size: this.u32(o + 0x14), link: this.u32(o + 0x18), info: this.u32(o + 0x1c), entsize: this.u32(o + 0x24), index: i};
			if (s.type !== SHT_NOBITS && s.type !== 0) this.range(s.offset, s.size, `section ${i}`);
			return s;
		};
		const sections: Section[] = [];
		for (let i = 0; i < shnum; i++) sections.push(header(i));
		if (shstrndx >= shnum) throw new KmodpressError('E_ELF_BAD', `section name table index ${shstrndx} out of range`, {file, fix: 'rebuild the module'});
		const strtab = sections[shstrndx]!;
		for (let i = 0; i < shnum; i++) sections[i]!.name = this.cstr(strtab.offset, strtab.size, this.u32(shoff + i * shentsize), 'a section name');
		this.sections = sections;
	}

	/** elf_range_valid(): offset + size inside the file, no overflow. */
	range(offset: number, size: number, what: string): void {
		if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 || offset + size > this.bytes.length) {
			throw new KmodpressError('E_ELF_TRUNCATED', `${what} (offset ${offset}, ${size} bytes) runs past the end of the file (${this.bytes.length} bytes): truncated or corrupt`, {
				file: this.file, fix: 'reinstall the module (rebuild the package)',
			});
		}
	}

	u16(o: number): number {
		this.range(o, 2, 'a field');
		return this.littleEndian ? this.bytes.readUInt16LE(o) : this.bytes.readUInt16BE(o);
	}

	u32(o: number): number {
		this.range(o, 4, 'a field');
		return this.littleEndian ? this.bytes.readUInt32LE(o) : this.bytes.readUInt32BE(o);
	}

	/** A 64-bit field as a number; past 2^53 it is MAX_SAFE_INTEGER, which every range check then refuses. */
	u64(o: number): number {
		this.range(o, 8, 'a field');
		const lo = this.littleEndian ? this.bytes.readUInt32LE(o) : this.bytes.readUInt32BE(o + 4);
		const hi = this.littleEndian ? this.bytes.readUInt32LE(o + 4) : this.bytes.readUInt32BE(o);
		if (hi === 0) return lo;
		return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + lo;
	}

	/** A NUL-terminated string at `off` inside the table [tableOff, tableOff+tableSize). */
	cstr(tableOff: number, tableSize: number, off: number, what: string): string {
		if (off >= tableSize) throw new KmodpressError('E_ELF_BAD', `${what} points outside its string table`, {file: this.file, fix: 'rebuild the module'});
		const start = tableOff + off;
		const end = this.bytes.indexOf(0, start);
		if (end < 0 || end >= tableOff + tableSize) throw new KmodpressError('E_ELF_BAD', `${what} is not NUL-terminated`, {file: this.file, fix: 'rebuild the module'});
		return this.bytes.toString('latin1', start, end);
	}

	section(name: string): Section | undefined {
		return this.sections.find((s) => s.name === name);
	}

	sectionsNamed(name: string): Section[] {
		return this.sections.filter((s) => s.name === name);
	}

	contents(s: Section): Buffer {
		if (s.type === SHT_NOBITS) return Buffer.alloc(0);
		return this.bytes.subarray(s.offset, s.offset + s.size);
	}
}
