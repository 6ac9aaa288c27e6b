// BTF (include/uapi/linux/btf.h) and the checks kernel/bpf/btf.c's btf_parse_module() makes on a module's .BTF as
// split BTF on top of vmlinux's: header, string section, every type's meta data (names are valid offsets and
// identifiers, vlen fits), and every reference (type IDs exist, a FUNC points at a FUNC_PROTO, members fit their
// struct). A module built against another vmlinux fails these ("failed to validate module [x] BTF: -22"). Pure.
//
//   header: u16 magic 0xEB9F, u8 version 1, u8 flags 0, u32 hdr_len, u32 type_off, u32 type_len, u32 str_off, u32 str_len
//   type:   u32 name_off, u32 info (vlen 0-15, kind 24-28, kind_flag 31), u32 size|type, then per-kind data
//
// A parsed BTF is its bytes plus one offset per type, nothing per type on the JS heap: vmlinux has ~130k types, and a
// worker keeps them for every module it checks (objects there made each garbage collection walk them all).

export const BTF_KIND = {UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19} as const;
const K = BTF_KIND;
const MAX_KIND = 19;

export interface Btf {
	bytes: Uint8Array;
	view: DataView;
	/** byte offset in `bytes` of each type's record, for type IDs startId … startId + count - 1 */
	offsets: Uint32Array;
	count: number;
	/** type ID of the first type (1 for vmlinux, the base's count for split BTF) */
	startId: number;
	strOff: number;
	strLen: number;
	/** string offset of this BTF's first string (base str_len for split BTF) */
	startStrOff: number;
	base: Btf | undefined;
}

export class BtfError extends Error {}

function extraSize(kind: number, vlen: number): number {
	switch (kind) {
		case K.INT: case K.VAR: case K.DECL_TAG: return 4;
		case K.ARRAY: return 12;
		case K.STRUCT: case K.UNION: case K.DATASEC: case K.ENUM64: return vlen * 12;
		case K.ENUM: case K.FUNC_PROTO: return vlen * 8;
		default: return 0;
	}
}

/** btf_parse_hdr + btf_parse_str_sec + the type section walk. Throws BtfError with the kernel's words. */
export function parseBtf(bytes: Uint8Array, base?: Btf): Btf {
	if (bytes.length < 24) throw new BtfError('btf_data_size less than btf_header');
	const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	if (v.getUint16(0, true) !== 0xeb9f) throw new BtfError('Invalid magic (big-endian BTF is not a module for this machine)');
	if (bytes[2] !== 1) throw new BtfError('Unsupported version');
	if (bytes[3] !== 0) throw new BtfError('Unsupported flags');
	const hdrLen = v.getUint32(4, true);
	if (hdrLen < 24 || hdrLen > bytes.length) throw new BtfError('Unsupported btf_header');
	for (let i = 24; i < hdrLen; i++) if (bytes[i] !== 0) throw new BtfError('Unsupported btf_header');
	const typeOff = v.getUint32(8, true), typeLen = v.getUint32(12, true), strOff = v.getUint32(16, true), strLen = v.getUint32(20, true);
	const dataLen = bytes.length - hdrLen;
	if (typeOff % 4) throw new BtfError('Unaligned type_off');
	if (typeOff + typeLen > dataLen || strOff + strLen > dataLen) throw new BtfError('Invalid section offset/size');
	if (typeOff !== 0 || typeOff + typeLen !== strOff) throw new BtfError('Unsupported section found');
	if (hdrLen + strOff + strLen !== bytes.length) throw new BtfError('String section is not at the end');
	if (!(base && strLen === 0)) {
		if (strLen === 0 || bytes[hdrLen + strOff + strLen - 1] !== 0) throw new BtfError('Invalid string section');
		if (!base && bytes[hdrLen + strOff] !== 0) throw new BtfError('Invalid string section');
	}
	const startId = base ? base.startId + base.count : 1;
	const startStrOff = base ? base.startStrOff + base.strLen : 0;
	// every record is at least 12 bytes
	const offsets = new Uint32Array(Math.floor(typeLen / 12));
	const count = scanTypes(v, hdrLen + typeOff, hdrLen + typeOff + typeLen, offsets);
	return {bytes, view: v, offsets: offsets.subarray(0, count), count, startId, strOff: hdrLen + strOff, strLen, startStrOff, base};
}

/** The type section walk: each record's offset into `offsets`; returns how many. Its own function, with nothing after
 * the loop: V8 compiles a hot loop on the fly (OSR) together with the rest of its function, and code after the loop
 * that had never run then deoptimized on every call (once per module). */
function scanTypes(v: DataView, start: number, end: number, offsets: Uint32Array): number {
	let count = 0;
	for (let p = start; p < end;) {
		if (p + 12 > end) throw new BtfError('Type section truncated');
		const info = v.getUint32(p + 4, true);
		const kind = (info >>> 24) & 0x1f;
		if (kind === 0 || kind > MAX_KIND) throw new BtfError(`Invalid kind ${kind}`);
		offsets[count++] = p;
		p += 12 + extraSize(kind, info & 0xffff);
		if (p > end) throw new BtfError('Type section truncated');
	}
	return count;
}

export const btfTypeCount = (b: Btf): number => b.startId + b.count;

/** The BTF (this one or a base) that holds type `id`; undefined for 0 (void) and IDs past the end. */
function owner(b: Btf, id: number): Btf | undefined {
	let o: Btf | undefined = b;
	while (o && id < o.startId) o = o.base;
	return o && id - o.startId < o.count ? o : undefined;
}

/** The kind of type `id`, 0 when there is no such type. */
function kindOf(b: Btf, id: number): number {
	const o = owner(b, id);
	return o ? (o.view.getUint32(o.offsets[id - o.startId]! + 4, true) >>> 24) & 0x1f : 0;
}

function nameAt(b: Btf, off: number): string | undefined {
	if (off < b.startStrOff) return b.base ? nameAt(b.base, off) : undefined;
	const rel = off - b.startStrOff;
	if (rel >= b.strLen) return undefined;
	const start = b.strOff + rel;
	const end = b.bytes.indexOf(0, start);
	if (end < 0 || end >= b.strOff + b.strLen) return undefined;
	return Buffer.from(b.bytes.buffer, b.bytes.byteOffset + start, end - start).toString('latin1');
}

/** btf_name_valid_identifier() on the bytes, without making a string: [A-Za-z_][A-Za-z0-9_]*, shorter than
 * KSYM_NAME_LEN (512), NUL-terminated inside the string section that holds it. */
function identAt(b: Btf, off: number): boolean {
	if (off < b.startStrOff) return b.base ? identAt(b.base, off) : false;
	const rel = off - b.startStrOff;
	if (rel >= b.strLen) return false;
	const bytes = b.bytes;
	const start = b.strOff + rel;
	const end = b.strOff + b.strLen;
	for (let i = start; i < end && i - start < 512; i++) {
		const c = bytes[i]!;
		if (c === 0) return i > start;
		const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
		if (!alpha && (i === start || c < 0x30 || c > 0x39)) return false;
	}
	return false;
}
const nameOffsetValid = (b: Btf, off: number): boolean =>
	off < b.startStrOff ? (b.base ? nameOffsetValid(b.base, off) : false) : off - b.startStrOff < b.strLen;

/** btf_type_id_size(): the byte size of a type, following typedefs and modifiers; undefined when it has none. */
function typeSize(b: Btf, id: number, depth = 0): number | undefined {
	if (depth > 32) return undefined;
	const o = owner(b, id);
	if (!o) return undefined;
	const at = o.offsets[id - o.startId]!;
	const v = o.view;
	const sizeOrType = v.getUint32(at + 8, true);
	switch ((v.getUint32(at + 4, true) >>> 24) & 0x1f) {
		case K.INT: case K.STRUCT: case K.UNION: case K.ENUM: case K.ENUM64: case K.FLOAT: case K.DATASEC: return sizeOrType;
		case K.PTR: return 8;
		case K.TYPEDEF: case K.VOLATILE: case K.CONST: case K.RESTRICT: case K.TYPE_TAG: return typeSize(b, sizeOrType, depth + 1);
		case K.ARRAY: {
			const elem = typeSize(b, v.getUint32(at + 12, true), depth + 1);
			return elem === undefined ? undefined : elem * v.getUint32(at + 20, true);
		}
		default: return undefined;
	}
}

const where = (b: Btf, i: number): string => `[${b.startId + i}]`;

/** btf_check_all_metas + btf_check_all_types on the types of `b` (not its base). Returns the first error, like the
 * kernel, or undefined when the BTF is valid. */
export function checkBtf(b: Btf): string | undefined {
	const v = b.view;
	const total = btfTypeCount(b);
	for (let i = 0; i < b.count; i++) {
		const at = b.offsets[i]!;
		const nameOff = v.getUint32(at, true);
		const info = v.getUint32(at + 4, true);
		const kind = (info >>> 24) & 0x1f;
		const vlen = info & 0xffff;
		const sizeOrType = v.getUint32(at + 8, true);
		const extra = at + 12;
		if (nameOff !== 0 && !nameOffsetValid(b, nameOff)) return `${where(b, i)} Invalid name_offset ${nameOff}`;
		switch (kind) {
			case K.STRUCT: case K.UNION: {
				if (nameOff && !identAt(b, nameOff)) return `${where(b, i)} Invalid name`;
				const kindFlag = info >>> 31 === 1;
				for (let m = 0; m < vlen; m++) {
					const o = extra + m * 12;
					const mName = v.getUint32(o, true), mType = v.getUint32(o + 4, true), mOff = v.getUint32(o + 8, true);
					if (mName && !identAt(b, mName)) return `${where(b, i)} Invalid member name`;
					if (mType >= total || mType === 0) return `${where(b, i)} Invalid member type_id ${mType}`;
					const mk = kindOf(b, mType);
					if (mk === K.FUNC || mk === K.DATASEC || mk === K.VAR || mk === K.DECL_TAG) return `${where(b, i)} Invalid member`;
					const bitfield = kindFlag ? mOff >>> 24 : 0;
					const bitOff = kindFlag ? mOff & 0xffffff : mOff;
					if (bitfield === 0 && mk !== K.INT && mk !== K.ENUM && mk !== K.ENUM64) {
						if (bitOff % 8) return `${where(b, i)} Member is not byte aligned`;
						const size = typeSize(b, mType);
						if (size !== undefined && bitOff / 8 + size > sizeOrType) return `${where(b, i)} Member exceeds struct_size`;
					}
				}
				break;
			}
			case K.ENUM: case K.ENUM64:
				if (nameOff && !identAt(b, nameOff)) return `${where(b, i)} Invalid name`;
				for (let m = 0; m < vlen; m++) {
					const n = v.getUint32(extra + m * (kind === K.ENUM ? 8 : 12), true);
					if (!n || !identAt(b, n)) return `${where(b, i)} Invalid name`;
				}
				break;
			case K.FWD: case K.TYPEDEF: case K.FUNC:
				if (!nameOff || !identAt(b, nameOff)) return `${where(b, i)} Invalid name`;
				if (kind === K.TYPEDEF && sizeOrType >= total) return `${where(b, i)} Invalid type_id`;
				if (kind === K.FUNC && kindOf(b, sizeOrType) !== K.FUNC_PROTO) return `${where(b, i)} Invalid type_id`;
				break;
			// one case for every kind that only refers to a type (a rare kind given its own case would, the first time a
			// module has one, throw away the compiled code of this whole loop: it had never run there)
			case K.PTR: case K.VOLATILE: case K.CONST: case K.RESTRICT: case K.TYPE_TAG: case K.VAR: case K.DECL_TAG:
				if (sizeOrType >= total) return `${where(b, i)} Invalid type_id`;
				break;
			case K.ARRAY: {
				const elem = v.getUint32(extra, true), index = v.getUint32(extra + 4, true);
				if (elem >= total || index >= total) return `${where(b, i)} Invalid elem`;
				const ik = kindOf(b, index);
				if (index !== 0 && ik !== 0 && ik !== K.INT && ik !== K.TYPEDEF) return `${where(b, i)} Invalid index`;
				break;
			}
			case K.FUNC_PROTO:
				if (nameOff) return `${where(b, i)} Invalid name`;
				if (sizeOrType >= total) return `${where(b, i)} Invalid return type`;
				for (let m = 0; m < vlen; m++) {
					const o = extra + m * 8;
					const pName = v.getUint32(o, true), pType = v.getUint32(o + 4, true);
					if (pName !== 0 && !nameOffsetValid(b, pName)) return `${where(b, i)} Invalid arg name`;
					if (pType >= total) return `${where(b, i)} Invalid arg type_id`;
					const pk = pType ? kindOf(b, pType) : 0;
					if (pk === K.FUNC || pk === K.DATASEC) return `${where(b, i)} Invalid arg type`;
				}
				break;
			case K.DATASEC:
				for (let m = 0; m < vlen; m++) {
					const vk = kindOf(b, v.getUint32(extra + m * 12, true));
					if (vk !== K.VAR && vk !== K.FUNC) return `${where(b, i)} Invalid type_id`;
				}
				break;
			default:
				break;
		}
	}
	return undefined;
}

/** The size of `struct module` from vmlinux BTF (what .gnu.linkonce.this_module must measure). */
export function structSize(b: Btf, name: string): number | undefined {
	const v = b.view;
	for (let i = 0; i < b.count; i++) {
		const at = b.offsets[i]!;
		const nameOff = v.getUint32(at, true);
		if (nameOff && ((v.getUint32(at + 4, true) >>> 24) & 0x1f) === K.STRUCT && nameAt(b, nameOff) === name) return v.getUint32(at + 8, true);
	}
	return undefined;
}
