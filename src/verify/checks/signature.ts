// Appended module signatures (kernel/module/signing.c, kernel/module_signature.c) and the PKCS#7 / X.509 fields the
// kernel matches a signer by. Pure: bytes in, facts out.
//
//   [ELF image][PKCS#7 DER][struct module_signature: u8 algo, hash, id_type, signer_len, key_id_len, pad[3], be32 sig_len]
//   ["~Module signature appended~\n"]
// mod_check_sig(): sig_len < len - 12, id_type 2 (PKEY_ID_PKCS7) else -ENOPKG, every other byte 0 else -EBADMSG.
// The signer: SignerInfo.sid = IssuerAndSerialNumber (matched against the certificate's issuer and serial) or a
// SubjectKeyIdentifier (matched against the certificate's SKID extension).

import {SIG_MAGIC, endsWithSignature} from '../../formats/table.js';

export interface SignerId {
	/** hex of the serial number's content bytes */
	serial?: string;
	/** hex of the issuer Name's DER (content bytes) */
	issuer?: string;
	/** the issuer's CN (or O), for messages */
	issuerName?: string;
	/** hex of a subjectKeyIdentifier */
	skid?: string;
}

export type SignatureInfo =
	| {present: false}
	| {present: true; ok: false; errno: 'EBADMSG' | 'ENOPKG'; message: string; imageLength: number}
	| {present: true; ok: true; imageLength: number; sigLength: number; signer: SignerId | undefined; digest?: string};

interface Tlv {tag: number; start: number; hdr: number; len: number; end: number}

function tlv(b: Uint8Array, pos: number, limit: number): Tlv {
	if (pos + 2 > limit) throw new Error('DER truncated');
	const tag = b[pos]!;
	let len = b[pos + 1]!;
	let hdr = 2;
	if (len & 0x80) {
		const n = len & 0x7f;
		if (n === 0 || n > 4 || pos + 2 + n > limit) throw new Error('DER length');
		len = 0;
		for (let i = 0; i < n; i++) len = len * 256 + b[pos + 2 + i]!;
		hdr += n;
	}
	const end = pos + hdr + len;
	if (end > limit) throw new Error('DER runs past its container');
	return {tag, start: pos, hdr, len, end};
}

function children(b: Uint8Array, t: Tlv): Tlv[] {
	const out: Tlv[] = [];
	for (let p = t.start + t.hdr; p < t.end;) {
		const c = tlv(b, p, t.end);
		out.push(c);
		p = c.end;
	}
	return out;
}

const hex = (b: Uint8Array, t: Tlv) => Buffer.from(b.subarray(t.start + t.hdr, t.end)).toString('hex');
const OID_CN = '550403', OID_O = '55040a', OID_SKID = '551d0e', OID_SIGNED_DATA = '2a864886f70d010702';
const DIGESTS: Record<string, string> = {
	'608648016503040201': 'sha256', '608648016503040202': 'sha384', '608648016503040203': 'sha512', '2b0e03021a': 'sha1',
	'608648016503040208': 'sha3-256', '608648016503040209': 'sha3-384', '60864801650304020a': 'sha3-512',
};

function nameText(b: Uint8Array, name: Tlv): string | undefined {
	let cn: string | undefined, o: string | undefined;
	for (const rdn of children(b, name)) {
		for (const atv of children(b, rdn)) {
			const [oid, val] = children(b, atv);
			if (!oid || !val) continue;
			const s = Buffer.from(b.subarray(val.start + val.hdr, val.end)).toString('utf8');
			if (hex(b, oid) === OID_CN) cn = s;
			if (hex(b, oid) === OID_O) o = s;
		}
	}
	return cn ?? o;
}

/** The signer of a PKCS#7 SignedData (the first SignerInfo; the kernel requires exactly one to verify). */
export function pkcs7Signer(der: Uint8Array): {signer: SignerId; digest?: string} {
	const ci = tlv(der, 0, der.length);
	const [oid, wrapped] = children(der, ci);
	if (!oid || oid.tag !== 0x06 || hex(der, oid) !== OID_SIGNED_DATA || !wrapped) throw new Error('not PKCS#7 signedData');
	const sd = children(der, wrapped)[0];
	if (!sd) throw new Error('empty signedData');
	const parts = children(der, sd);
	const signerInfos = parts[parts.length - 1]!;
	if (signerInfos.tag !== 0x31) throw new Error('no signerInfos');
	const si = children(der, signerInfos)[0];
	if (!si) throw new Error('no SignerInfo');
	const f = children(der, si);
	const sid = f[1];
	if (!sid) throw new Error('SignerInfo without sid');
	let signer: SignerId;
	if (sid.tag === 0x30) {
		const [issuer, serial] = children(der, sid);
		if (!issuer || !serial) throw new Error('bad IssuerAndSerialNumber');
		signer = {issuer: hex(der, issuer), serial: hex(der, serial), ...(nameText(der, issuer) ? {issuerName: nameText(der, issuer)!} : {})};
	} else if (sid.tag === 0x80 || sid.tag === 0xa0) {
		signer = {skid: sid.tag === 0x80 ? hex(der, sid) : hex(der, children(der, sid)[0]!)};
	} else throw new Error('unknown sid');
	const digAlg = f[2] && children(der, f[2])[0];
	const digest = digAlg ? DIGESTS[hex(der, digAlg)] : undefined;
	return {signer, ...(digest ? {digest} : {})};
}

/** The fields of an X.509 certificate (DER) that identify it as a signer. */
export function x509Id(der: Uint8Array): SignerId & {subjectName?: string} {
	const cert = tlv(der, 0, der.length);
	const tbs = children(der, cert)[0];
	if (!tbs) throw new Error('not a certificate');
	const f = children(der, tbs);
	let i = 0;
	if (f[0]?.tag === 0xa0) i = 1; // [0] version
	const serial = f[i]!, issuer = f[i + 2]!, subject = f[i + 4]!;
	const id: SignerId & {subjectName?: string} = {serial: hex(der, serial), issuer: hex(der, issuer)};
	const iname = nameText(der, issuer);
	if (iname) id.issuerName = iname;
	const sname = nameText(der, subject);
	if (sname) id.subjectName = sname;
	const ext = f.find((t) => t.tag === 0xa3);
	if (ext) {
		for (const e of children(der, children(der, ext)[0]!)) {
			const ef = children(der, e);
			if (ef[0] && hex(der, ef[0]) === OID_SKID) {
				const octet = ef[ef.length - 1]!;
				const inner = tlv(der, octet.start + octet.hdr, octet.end);
				id.skid = hex(der, inner);
			}
		}
	}
	return id;
}

/** PEM or DER certificate file contents → DER of each certificate. */
export function certificatesFrom(bytes: Buffer): Buffer[] {
	const text = bytes.toString('latin1');
	if (text.includes('-----BEGIN CERTIFICATE-----')) {
		return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
	}
	return bytes.length > 0 ? [bytes] : [];
}

export function signerMatches(signer: SignerId, cert: SignerId): boolean {
	if (signer.skid !== undefined) return cert.skid === signer.skid;
	return signer.serial === cert.serial && signer.issuer === cert.issuer;
}

export function describeSigner(s: SignerId | undefined): string {
	if (!s) return 'unknown signer';
	if (s.skid) return `key id ${s.skid}`;
	return `${s.issuerName ?? 'issuer'} serial ${s.serial}`;
}

/** mod_check_sig() and the PKCS#7 signer of an appended signature. */
export function readSignature(image: Uint8Array): SignatureInfo {
	const n = image.length;
	if (!endsWithSignature(image)) return {present: false};
	const len = n - SIG_MAGIC.length;
	if (len < 12) return {present: true, ok: false, errno: 'EBADMSG', message: 'signature trailer shorter than struct module_signature', imageLength: len};
	const ms = image.subarray(len - 12, len);
	const sigLen = ((ms[8]! << 24) | (ms[9]! << 16) | (ms[10]! << 8) | ms[11]!) >>> 0;
	if (sigLen >= len - 12) return {present: true, ok: false, errno: 'EBADMSG', message: `signature length ${sigLen} is larger than the module`, imageLength: len};
	if (ms[2] !== 2) return {present: true, ok: false, errno: 'ENOPKG', message: 'not signed with expected PKCS#7 message', imageLength: len};
	if (ms[0] || ms[1] || ms[3] || ms[4] || ms[5] || ms[6] || ms[7]) return {present: true, ok: false, errno: 'EBADMSG', message: 'PKCS#7 signature info has unexpected non-zero params', imageLength: len};
	const imageLength = len - 12 - sigLen;
	try {
		const {signer, digest} = pkcs7Signer(image.subarray(imageLength, len - 12));
		return {present: true, ok: true, imageLength, sigLength: sigLen, signer, ...(digest ? {digest} : {})};
	} catch (e) {
		return {present: true, ok: false, errno: 'EBADMSG', message: `the PKCS#7 message does not parse (${(e as Error).message})`, imageLength: len};
	}
}
