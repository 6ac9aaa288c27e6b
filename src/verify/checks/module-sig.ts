// The signature check (kernel/module/signing.c module_sig_check), which runs before the ELF is even parsed: unsigned,
// malformed, signed by a key the kernel holds or by another one, under enforcement or not.
import type {Finding, Severity} from '../../types.js';
import type {VerifyContext} from './context-types.js';
import {finding} from './finding.js';
import {describeSigner, type SignatureInfo, signerMatches} from './signature.js';

/** `afterCompression`: the trailer sits on the compressed file (SIG_AFTER_COMPRESSION already says so). */
export function checkSignature(sig: SignatureInfo, afterCompression: boolean, ctx: VerifyContext): Finding[] {
	if (!sig.present) {
		if (afterCompression) return [];
		if (ctx.enforce.on) return [finding('SIG_UNSIGNED', 'error', `unsigned, and the kernel enforces signatures (${ctx.enforce.from}): "Loading of unsigned module is rejected"; sign it with the kernel's key (scripts/sign-file) before compressing`)];
		if (ctx.moduleSig) return [finding('SIG_UNSIGNED', 'warning', 'unsigned: the kernel loads it but taints itself ("module verification failed: signature and/or required key missing"); sign it to avoid the taint')];
		return [];
	}
	if (!sig.ok) {
		const severity: Severity = sig.errno === 'ENOPKG' && !ctx.enforce.on ? 'warning' : 'error';
		return [finding('SIG_MALFORMED', severity, `the signature trailer is malformed: ${sig.message} (${sig.errno}${sig.errno === 'EBADMSG' ? ': the kernel refuses it even without enforcement' : ''}); re-sign the plain module`)];
	}
	if (ctx.certificates.length === 0) {
		return [finding('SIG_KEY_UNCHECKED', 'info', `signed by ${describeSigner(sig.signer)}; the kernel's certificate is not available here to compare`)];
	}
	const match = ctx.certificates.find((c) => signerMatches(sig.signer ?? {}, c.id));
	if (match) return [finding('SIG_OK', 'info', `signed (${sig.digest ?? 'digest ?'}) by ${match.id.subjectName ?? describeSigner(sig.signer)}, the key in ${match.from}`)];
	return [finding('SIG_UNKNOWN_KEY', ctx.enforce.on ? 'error' : 'warning', `signed by ${describeSigner(sig.signer)}, a key the kernel does not hold (${ctx.certificates.map((c) => c.from).join(', ')})${ctx.enforce.on ? ': "Loading of module with unavailable key is rejected"' : ': it loads but taints the kernel'}; sign it with the kernel's key or enroll yours (MOK)`)];
}
