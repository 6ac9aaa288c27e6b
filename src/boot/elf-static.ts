// Is an executable static (no PT_INTERP)? The lab's initramfs has no dynamic loader or libraries, so busybox and
// the module loader must be static.
export function isStaticExecutable(buf: Buffer): boolean {
	if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) return false;
	const is64 = buf[4] === 2;
	const le = buf[5] === 1;
	const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
	const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
	const u64 = (o: number) => Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
	const phoff = is64 ? u64(0x20) : u32(0x1c);
	const phentsize = is64 ? u16(0x36) : u16(0x2a);
	const phnum = is64 ? u16(0x38) : u16(0x2c);
	for (let i = 0; i < phnum; i++) {
		const off = phoff + i * phentsize;
		if (off + 4 > buf.length) return false;
		if (u32(off) === 3 /* PT_INTERP */) return false;
	}
	return true;
}
