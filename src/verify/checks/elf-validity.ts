// ELF validity (kernel/module/main.c elf_validity_cache_copy): a relocatable object for the kernel's machine and
// class, one symbol table, at most one .modinfo, a .gnu.linkonce.this_module the size of the kernel's struct module,
// and on 6.14+ well-formed extended modversions sections (elf_validity_cache_index_versions). Each refusal is ENOEXEC.
import {EM, ET_REL} from '../../elf/reader.js';
import type {Finding} from '../../types.js';
import type {VerifyContext} from './context-types.js';
import type {ModuleFacts} from './facts.js';
import {finding, rebuildFix} from './finding.js';

export function checkElfValidity(facts: ModuleFacts, ctx: VerifyContext): Finding[] {
	const out: Finding[] = [];
	const rebuild = rebuildFix(ctx.release);
	if (facts.type !== ET_REL) out.push(finding('ELF_NOT_RELOCATABLE', 'error', `an ELF of type ${facts.type}, not a relocatable module: the kernel says "Invalid ELF header type" (ENOEXEC)`));
	if (ctx.machine !== undefined && facts.machine !== ctx.machine) out.push(finding('ELF_MACHINE', 'error', `built for ${EM[facts.machine] ?? facts.machine}, the kernel is ${EM[ctx.machine] ?? ctx.machine}: "Invalid ELF header" (ENOEXEC); ${rebuild}`));
	else if (ctx.machine === 62 && !facts.is64) out.push(finding('ELF_CLASS', 'error', `a 32-bit ELF for a 64-bit kernel (ENOEXEC); ${rebuild}`));
	if (facts.symtabCount !== 1) out.push(finding('ELF_NO_SYMTAB', 'error', facts.symtabCount === 0 ? '"module has no symbols (stripped?)" (ENOEXEC): strip with --strip-debug only (strip -g)' : `${facts.symtabCount} symbol tables (ENOEXEC)`));
	if (facts.modinfoCount > 1) out.push(finding('ELF_MODINFO', 'error', `"Module has multiple .modinfo sections" (ENOEXEC); ${rebuild}`));
	if (facts.thisModuleSize === undefined) out.push(finding('ELF_NO_THIS_MODULE', 'error', `"No module found in object": no .gnu.linkonce.this_module (ENOEXEC); build it with kbuild`));
	else if (ctx.structModuleSize && facts.thisModuleSize !== ctx.structModuleSize.size) {
		out.push(finding('THIS_MODULE_SIZE', 'error', `.gnu.linkonce.this_module is ${facts.thisModuleSize} bytes, the kernel's struct module is ${ctx.structModuleSize.size} (${ctx.structModuleSize.from}): "section size must match the kernel's built struct module size at run time" (ENOEXEC); ${rebuild}`));
	}
	if (ctx.extendedModversions && facts.extError) {
		out.push(finding('ELF_VERSION_EXT', 'error', `${facts.extError} (ENOEXEC): the extended modversions sections are damaged; ${rebuild}`));
	}
	return out;
}
