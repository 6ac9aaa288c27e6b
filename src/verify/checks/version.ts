// Version checks (kernel/module/version.c, called from kernel/module/main.c): vermagic (check_modinfo → same_magic),
// the module's CRCs (check_version: __versions, or on a 6.14+ kernel the extended sections whenever present), and
// module_layout's CRC (check_modstruct_version), checked before any other symbol.
import type {Finding} from '../../types.js';
import type {VerifyContext} from './context-types.js';
import type {ModuleFacts} from './facts.js';
import {finding, hex8, rebuildFix} from './finding.js';
import {sameMagic} from './module-image.js';
import type {Export} from './symvers.js';

/** The CRCs the module carries, as check_version() reads them. */
export interface ModuleVersions {
	/** the module has CRCs at all (__versions, or extended modversions a 6.14+ kernel reads) */
	any: boolean;
	/** the module's CRC for a symbol */
	crcOf(name: string): number | undefined;
	/** what the kernel prints when the module has no CRC for a symbol */
	missingWords(name: string): string;
}

export function moduleVersions(facts: ModuleFacts, ctx: VerifyContext): ModuleVersions {
	let ext: Map<string, number> | undefined;
	// damaged extended sections are refused earlier (ELF_VERSION_EXT in elf-validity.ts)
	if (ctx.extendedModversions && !facts.extError && facts.extVersions) {
		const {names, crcs} = facts.extVersions;
		ext = new Map();
		names.forEach((n, i) => {
			if (!ext!.has(n)) ext!.set(n, crcs[i]!);
		});
	}
	return {
		any: facts.versions !== undefined || ext !== undefined,
		crcOf: (name) => (ext ? ext.get(name) : facts.versions?.get(name)),
		missingWords: (name) => (ext ? `"no extended symbol version for ${name}"` : `"no symbol version for ${name}"`),
	};
}

/** same_magic() looks at __versions only: with it, the release word is skipped. */
export function checkVermagic(facts: ModuleFacts, ctx: VerifyContext): Finding[] {
	const vermagic = facts.modinfo.vermagic?.[0];
	if (vermagic === undefined) {
		return [finding('VERMAGIC_MISSING', ctx.forceLoad ? 'warning' : 'error', ctx.forceLoad ? 'no vermagic: the kernel force-loads it and taints itself' : `no vermagic: "bad vermagic" (ENOEXEC); ${rebuildFix(ctx.release)}`)];
	}
	if (ctx.vermagic === undefined) return [];
	if (!sameMagic(vermagic, ctx.vermagic, facts.versions !== undefined)) {
		return [finding('VERMAGIC_MISMATCH', 'error', `"version magic '${vermagic}' should be '${ctx.vermagic}'" (ENOEXEC); ${rebuildFix(ctx.release)}`)];
	}
	if (vermagic.split(' ')[0] !== ctx.release) {
		return [finding('VERMAGIC_RELEASE', 'info', `built for ${vermagic.split(' ')[0]}: the kernel ignores the release word because the module has __versions; every symbol CRC decides`)];
	}
	return [];
}

/** check_modstruct_version(): module_layout's CRC, on a MODVERSIONS kernel. */
export function checkModuleLayout(versions: ModuleVersions, exports: ReadonlyMap<string, Export>, ctx: VerifyContext): Finding[] {
	if (!ctx.modversions) return [];
	if (!versions.any) {
		return [finding('NO_VERSIONS', ctx.forceLoad ? 'warning' : 'error', ctx.forceLoad ? 'no __versions: the kernel (MODULE_FORCE_LOAD) loads it without symbol checks and taints itself ("no versions for imported symbols")' : `no __versions on a MODVERSIONS kernel: "disagrees about version of symbol module_layout" (ENOEXEC); ${rebuildFix(ctx.release)}`)];
	}
	const layout = exports.get('module_layout');
	if (layout?.crc === undefined) return [];
	const crc = versions.crcOf('module_layout');
	if (crc === undefined) return [finding('NO_SYMBOL_VERSION', 'warning', `${versions.missingWords('module_layout')}: loads (the kernel lets a broken toolchain go)`)];
	if (crc !== layout.crc) return [finding('MODULE_LAYOUT_MISMATCH', 'error', `"disagrees about version of symbol module_layout": the module has 0x${hex8(crc)}, the kernel 0x${hex8(layout.crc)} (${layout.from}); ${rebuildFix(ctx.release)}`)];
	return [];
}
