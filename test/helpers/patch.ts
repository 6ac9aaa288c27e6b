// Byte patches that turn a real module into the case a kernel check is about.
import {ElfFile} from '../../src/elf/reader.js';

/** Change the size recorded in a section header (the bytes stay; the kernel reads the header). */
export function patchSectionSize(image: Buffer, name: string, delta: number): Buffer {
	const out = Buffer.from(image);
	const elf = new ElfFile(out, 'patch');
	const s = elf.section(name)!;
	const shoff = Number(out.readBigUInt64LE(0x28));
	const o = shoff + s.index * 64 + 0x20;
	out.writeBigUInt64LE(BigInt(s.size + delta), o);
	return out;
}

