// Module BTF (kernel/bpf/btf.c btf_parse_module), only where the kernel reads it (CONFIG_DEBUG_INFO_BTF_MODULES):
// the split-BTF check itself runs where the image is analysed (load.ts); this turns its outcome into a finding.
import type {Finding} from '../../types.js';
import type {VerifyContext} from './context-types.js';
import type {ModuleFacts} from './facts.js';
import {finding, rebuildFix} from './finding.js';

export function checkModuleBtf(facts: ModuleFacts, module: string, ctx: VerifyContext): Finding[] {
	if (!facts.hasBtf || !ctx.btfModules) return [];
	if (facts.btfBase) return [finding('BTF_DISTILLED', 'info', 'distilled base BTF (.BTF.base, 6.11+): the kernel relocates it against its vmlinux BTF')];
	if (typeof facts.btfError === 'string') {
		// kernel/bpf/btf.c btf_parse_hdr(): an unknown version or flags is -ENOTSUPP (524, as booted 7.2 prints it),
		// every other failure of btf_parse_module() here -EINVAL
		const errno = /^Unsupported (version|flags)$/.test(facts.btfError) ? 524 : 22;
		return [finding('BTF_MISMATCH', ctx.allowBtfMismatch ? 'warning' : 'error', `"failed to validate module [${module}] BTF: -${errno}" (${facts.btfError}): built against another vmlinux; ${ctx.allowBtfMismatch ? 'with MODULE_ALLOW_BTF_MISMATCH the kernel drops the BTF and loads it' : 'the kernel refuses it'}; ${rebuildFix(ctx.release)}`)];
	}
	if (facts.btfError === undefined) return [finding('BTF_UNCHECKED', 'info', 'has .BTF; no vmlinux BTF for this kernel to check it against')];
	return [];
}
