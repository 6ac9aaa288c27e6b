// The X.509 certificates compiled into a kernel image (the system keyring: CONFIG_SYSTEM_TRUSTED_KEYS and the
// build-time module signing key, in .init.data between __cert_list_start and __cert_list_end). A bzImage holds the
// kernel compressed: find the payload (zstd, xz or gzip magic), decode it as the boot loader would, scan for DER
// certificates. Pure (bytes in): decoding a bzImage costs ~150 ms of CPU, so the verifier runs it in a codec worker.
import {decodeAsKernel} from '../../formats/kernel.js';
import {type SignerId, x509Id} from './signature.js';

export type TrustedCertificate = {id: SignerId & {subjectName?: string}; from: string};

const ALL_BCJ = {algorithm: null, xzBcj: new Set(['x86', 'arm', 'arm64', 'armthumb', 'powerpc', 'sparc', 'riscv', 'ia64'])};
const PAYLOADS = [['zstd', [0x28, 0xb5, 0x2f, 0xfd]], ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]], ['gzip', [0x1f, 0x8b, 0x08]]] as const;
/** DER: SEQUENCE with a 2-byte length (a certificate), whose first element is one too (tbsCertificate) */
const SEQ2 = Buffer.from([0x30, 0x82]);

export async function imageCertificatesOf(image: Uint8Array, imagePath: string, maxOutput: number): Promise<TrustedCertificate[]> {
	const bytes = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
	let vmlinux: Buffer | undefined;
	for (const [alg, magic] of PAYLOADS) {
		const m = Buffer.from(magic);
		let at = bytes.indexOf(m);
		for (let tries = 0; at >= 0 && tries < 4 && !vmlinux; tries++, at = bytes.indexOf(m, at + 1)) {
			const r = await decodeAsKernel(bytes.subarray(at), ALL_BCJ, {maxOutput, algorithm: alg});
			const data = r.data ?? r.partial;
			if (data && data.length > 1 << 20 && data[0] === 0x7f && data[1] === 0x45) vmlinux = data;
		}
		if (vmlinux) break;
	}
	if (!vmlinux) return [];
	const out: TrustedCertificate[] = [];
	const seen = new Set<string>();
	for (let i = vmlinux.indexOf(SEQ2); i >= 0 && i < vmlinux.length - 8; i = vmlinux.indexOf(SEQ2, i + 1)) {
		if (vmlinux[i + 4] !== 0x30 || vmlinux[i + 5] !== 0x82) continue;
		const len = vmlinux.readUInt16BE(i + 2) + 4;
		if (len < 200 || len > 8192 || i + len > vmlinux.length) continue;
		try {
			const id = x509Id(vmlinux.subarray(i, i + len));
			if (!id.serial || !id.issuer) continue;
			const key = `${id.issuer}/${id.serial}`;
			if (seen.has(key)) continue;
			seen.add(key);
			out.push({id, from: `${imagePath} (built-in certificate "${id.subjectName ?? id.issuerName ?? '?'}")`});
		} catch {
			// not a certificate
		}
	}
	return out;
}
