// BTF (include/uapi/linux/btf.h) and the checks kernel/bpf/btf.c's btf_parse_module() makes on a module's .BTF as
// split BTF on top of vmlinux's: header, string section, every type's meta data (names are valid offsets and
// identifiers, vlen fits), and every reference (type IDs exist, a FUNC points at a FUNC_PROTO, members fit their
// struct). A module built against another vmlinux fails these ("failed to validate module [x] BTF: -22"). Pure.
//
//   header: u16 magic 0xEB9F, u8 version 1, u8 flags 0, u32 hdr_len, u32 type_off, u32 type_len, u32 str_off, u32 str_len
//   type:   u32 name_off, u32 info (vlen 0-15, kind 24-28, kind_flag 31), u32 size|type, then per-kind data

export const BTF_KIND = {UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19} as const;
const K = BTF_KIND;
const MAX_KIND = 19;

export interface BtfType {
	kind: number;
	nameOff: number;
	vlen: number;
	kindFlag: boolean;
	/** size for INT/STRUCT/UNION/ENUM/DATASEC/FLOAT/ENUM64, type for the others */
	sizeOrType: number;
	/** offset of the per-kind data in `data` */
	extra: number;
	/** the blob this type lives in (the base's or the split BTF's) */
	data: DataView;
}

export interface Btf {
	bytes: Uint8Array;
	types: BtfType[];
	/** type ID of types[0] (1 for vmlinux, base count for split BTF) */
	startId: number;
	strOff: number;
	strLen: number;
	/** string offset of this BTF's first string (base str_len for split BTF) */
	startStrOff: number;
	base?: Btf;
}

export class BtfError extends Error {}

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

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
	const v = dv(bytes);
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
	const types: BtfType[] = [];
	const data = dv(bytes);
	let p = hdrLen + typeOff;
	const end = hdrLen + typeOff + typeLen;
	while (p < end) {
		if (p + 12 > end) throw new BtfError('Type section truncated');
		const info = v.getUint32(p + 4, true);
		const kind = (info >>> 24) & 0x1f;
		const vlen = info & 0xffff;
		if (kind === 0 || kind > MAX_KIND) throw new BtfError(`Invalid kind ${kind}`);
		const t: BtfType = {kind, nameOff: v.getUint32(p, true), vlen, kindFlag: (info >>> 31) === 1, sizeOrType: v.getUint32(p + 8, true), extra: p + 12, data};
		p += 12 + extraSize(kind, vlen);
		if (p > end) throw new BtfError('Type section truncated');
		types.push(t);
	}
	const startId = base ? base.startId + base.types.length : 1;
	const btf: Btf = {bytes, types, startId, strOff: hdrLen + strOff, strLen, startStrOff: base ? base.startStrOff + base.strLen : 0, ...(base ? {base} : {})};
	return btf;
}

export const btfTypeCount = (b: Btf): number => b.startId + b.types.length;

export function btfTypeById(b: Btf, id: number): BtfType | undefined {
	if (id >= b.startId) return b.types[id - b.startId];
	return b.base ? btfTypeById(b.base, id) : undefined;
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

export const btfName = (b: Btf, off: number): string | undefined => nameAt(b, off);

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
	const t = btfTypeById(b, id);
	if (!t) return undefined;
	switch (t.kind) {
		case K.INT: case K.STRUCT: case K.UNION: case K.ENUM: case K.ENUM64: case K.FLOAT: case K.DATASEC: return t.sizeOrType;
		case K.PTR: return 8;
		case K.TYPEDEF: case K.VOLATILE: case K.CONST: case K.RESTRICT: case K.TYPE_TAG: return typeSize(b, t.sizeOrType, depth + 1);
		case K.ARRAY: {
			const elem = typeSize(b, t.data.getUint32(t.extra, true), depth + 1);
			return elem === undefined ? undefined : elem * t.data.getUint32(t.extra + 8, true);
		}
		default: return undefined;
	}
}

/** btf_check_all_metas + btf_check_all_types on the types of `b` (not its base). Returns the first error, like the
 * kernel, or undefined when the BTF is valid. */
export function checkBtf(b: Btf): string | undefined {
	const v = dv(b.bytes);
	const total = btfTypeCount(b);
	const nameOk = (off: number) => off === 0 || nameOffsetValid(b, off);
	const refOk = (id: number) => id < total;
	for (let i = 0; i < b.types.length; i++) {
		const t = b.types[i]!;
		const id = b.startId + i;
		const where = `[${id}]`;
		if (!nameOk(t.nameOff)) return `${where} Invalid name_offset ${t.nameOff}`;
		switch (t.kind) {
			case K.STRUCT: case K.UNION: {
				if (t.nameOff && !identAt(b, t.nameOff)) return `${where} Invalid name`;
				for (let m = 0; m < t.vlen; m++) {
					const o = t.extra + m * 12;
					const mName = v.getUint32(o, true), mType = v.getUint32(o + 4, true), mOff = v.getUint32(o + 8, true);
					if (mName && !identAt(b, mName)) return `${where} Invalid member name`;
					if (!refOk(mType) || mType === 0) return `${where} Invalid member type_id ${mType}`;
					const mt = btfTypeById(b, mType)!;
					if (mt.kind === K.FUNC || mt.kind === K.DATASEC || mt.kind === K.VAR || mt.kind === K.DECL_TAG) return `${where} Invalid member`;
					const bitfield = t.kindFlag ? mOff >>> 24 : 0;
					const bitOff = t.kindFlag ? mOff & 0xffffff : mOff;
					if (bitfield === 0 && mt.kind !== K.INT && mt.kind !== K.ENUM && mt.kind !== K.ENUM64) {
						if (bitOff % 8) return `${where} Member is not byte aligned`;
						const size = typeSize(b, mType);
						if (size !== undefined && bitOff / 8 + size > t.sizeOrType) return `${where} Member exceeds struct_size`;
					}
				}
				break;
			}
			case K.ENUM: case K.ENUM64:
				if (t.nameOff && !identAt(b, t.nameOff)) return `${where} Invalid name`;
				for (let m = 0; m < t.vlen; m++) {
					const n = v.getUint32(t.extra + m * (t.kind === K.ENUM ? 8 : 12), true);
					if (!n || !identAt(b, n)) return `${where} Invalid name`;
				}
				break;
			case K.FWD: case K.TYPEDEF: case K.FUNC:
				if (!t.nameOff || !identAt(b, t.nameOff)) return `${where} Invalid name`;
				if (t.kind === K.TYPEDEF && !refOk(t.sizeOrType)) return `${where} Invalid type_id`;
				if (t.kind === K.FUNC) {
					const proto = btfTypeById(b, t.sizeOrType);
					if (!proto || proto.kind !== K.FUNC_PROTO) return `${where} Invalid type_id`;
				}
				break;
			case K.PTR: case K.VOLATILE: case K.CONST: case K.RESTRICT: case K.TYPE_TAG:
				if (!refOk(t.sizeOrType)) return `${where} Invalid type_id`;
				break;
			case K.ARRAY: {
				const elem = v.getUint32(t.extra, true), index = v.getUint32(t.extra + 4, true);
				if (!refOk(elem) || !refOk(index)) return `${where} Invalid elem`;
				const idx = btfTypeById(b, index);
				if (index !== 0 && idx && idx.kind !== K.INT && idx.kind !== K.TYPEDEF) return `${where} Invalid index`;
				break;
			}
			case K.FUNC_PROTO:
				if (t.nameOff) return `${where} Invalid name`;
				if (!refOk(t.sizeOrType)) return `${where} Invalid return type`;
				for (let m = 0; m < t.vlen; m++) {
					const o = t.extra + m * 8;
					const pName = v.getUint32(o, true), pType = v.getUint32(o + 4, true);
					if (pName && !nameOk(pName)) return `${where} Invalid arg name`;
					if (!refOk(pType)) return `${where} Invalid arg type_id`;
					const pt = pType ? btfTypeById(b, pType) : undefined;
					if (pt && (pt.kind === K.FUNC || pt.kind === K.DATASEC)) return `${where} Invalid arg type`;
				}
				break;
			case K.VAR: case K.DECL_TAG:
				if (!refOk(t.sizeOrType)) return `${where} Invalid type_id`;
				break;
			case K.DATASEC:
				for (let m = 0; m < t.vlen; m++) {
					const vt = v.getUint32(t.extra + m * 12, true);
					const var_ = btfTypeById(b, vt);
					if (!var_ || (var_.kind !== K.VAR && var_.kind !== K.FUNC)) return `${where} Invalid type_id`;
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
	for (const t of b.types) {
		if (t.kind === K.STRUCT && t.nameOff && nameAt(b, t.nameOff) === name) return t.sizeOrType;
	}
	return undefined;
}
