// The checks compress runs on every module image before writing it: a real, complete kernel module for the target's
// architecture, whose vermagic the target accepts (kernel/module/version.c same_magic(): with __versions, the release
// word is skipped). The full verifier (symbols, CRCs, signature, BTF) is `kmodpress verify`.
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {ElfFile, EM, ET_REL} from '../../elf/reader.js';
import {KmodpressError} from '../../errors.js';
import type {KernelTarget} from '../../target/discover.js';
import type {KernelConfig} from '../../target/kernel-config.js';
import {readModinfo} from '../../elf/modinfo.js';
import type {Policy} from '../../policy/index.js';

/** The target's ELF machine from its config. */
export function targetMachine(config: KernelConfig | undefined): number | undefined {
	if (!config) return undefined;
	if (config.enabled('X86_64')) return 62;
	if (config.enabled('X86_32') || config.enabled('X86')) return 3;
	if (config.enabled('ARM64')) return 183;
	if (config.enabled('ARM')) return 40;
	if (config.enabled('RISCV')) return 243;
	if (config.enabled('PPC64')) return 21;
	if (config.enabled('S390')) return 22;
	if (config.enabled('LOONGARCH')) return 258;
	return undefined;
}

/** VERMAGIC_STRING (include/linux/vermagic.h) of the target, from its release, config and build dir. */
export function targetVermagic(release: string, config: KernelConfig | undefined, buildDir: string | undefined): string | undefined {
	if (!config) return undefined;
	let s = `${release} `;
	if (config.enabled('SMP')) s += 'SMP ';
	if (config.enabled('PREEMPT_BUILD')) s += 'preempt ';
	else if (config.enabled('PREEMPT_RT')) s += 'preempt_rt ';
	if (config.enabled('MODULE_UNLOAD')) s += 'mod_unload ';
	if (config.enabled('MODVERSIONS')) s += 'modversions ';
	// MODULE_ARCH_VERMAGIC: empty on x86_64; 32-bit x86 and others add a CPU family (not derived here)
	if (config.enabled('RANDSTRUCT_FULL') || config.enabled('RANDSTRUCT_PERFORMANCE')) {
		try {
			const h = readFileSync(join(buildDir ?? '', 'include/generated/randstruct_hash.h'), 'utf8');
			const m = /RANDSTRUCT_HASHED_SEED\s+"([0-9a-f]+)"/.exec(h);
			if (m) s += `RANDSTRUCT_${m[1]}`;
		} catch {
			return undefined;
		}
	}
	return s;
}

/** kernel/module/version.c same_magic() */
export function sameMagic(a: string, b: string, hasCrcs: boolean): boolean {
	if (hasCrcs) {
		a = a.slice(a.indexOf(' ') < 0 ? a.length : a.indexOf(' '));
		b = b.slice(b.indexOf(' ') < 0 ? b.length : b.indexOf(' '));
	}
	return a === b;
}

/** Throws for an image the kernel cannot take at all; returns warnings otherwise. */
export function checkModuleImage(image: Buffer, path: string, target: KernelTarget, policy: Policy, config?: KernelConfig): string[] {
	const warnings: string[] = [];
	const elf = new ElfFile(image, path);
	if (elf.type !== ET_REL) {
		throw new KmodpressError('E_ELF_NOT_MODULE', `an ELF ${elf.type === 2 ? 'executable' : elf.type === 3 ? 'shared object' : `of type ${elf.type}`}, not a relocatable kernel module`, {file: path, fix: 'name kernel modules (*.ko) only'});
	}
	const machine = targetMachine(config);
	if (machine !== undefined && elf.machine !== machine) {
		throw new KmodpressError('E_ELF_MACHINE', `built for ${EM[elf.machine] ?? `machine ${elf.machine}`}, the kernel ${target.release.value} is ${EM[machine] ?? machine} (the kernel would say "Exec format error")`, {file: path, fix: `rebuild the module for ${target.release.value}`});
	}
	if (machine === 62 && !elf.is64) throw new KmodpressError('E_ELF_CLASS', 'a 32-bit ELF for a 64-bit kernel', {file: path, fix: `rebuild the module for ${target.release.value}`});
	const info = readModinfo(elf);
	const vermagic = info.get('vermagic')?.[0];
	if (vermagic === undefined) {
		throw new KmodpressError('E_MODINFO_MISSING', '.modinfo has no vermagic (the kernel says "no symbol version for module_layout" or refuses it)', {file: path, fix: 'rebuild the module with kbuild'});
	}
	const want = targetVermagic(target.release.value, config, target.buildDir?.value);
	if (want !== undefined) {
		const hasCrcs = elf.section('__versions') !== undefined;
		if (!sameMagic(vermagic, want, hasCrcs)) {
			throw new KmodpressError('E_VERMAGIC_MISMATCH', `version magic '${vermagic}' should be '${want}' (what the kernel prints; it refuses the module)`, {file: path, fix: `rebuild the module against ${target.release.value}'s headers`});
		}
		if (vermagic.split(' ')[0] !== target.release.value) {
			warnings.push(`built for ${vermagic.split(' ')[0]}, installed for ${target.release.value}: the kernel accepts it because the module has __versions, if every symbol CRC matches (kmodpress verify checks them)`);
		}
	}
	void policy;
	return warnings;
}
