// Every undefined symbol, as kernel/module/main.c simplify_symbols → resolve_symbol finds it: an exporter (vmlinux,
// a module given, an installed module), GPL-only exports under a GPL-compatible license, the CRC (check_version),
// the namespace import, and the exporting module as a dependency.
import type {Finding} from '../../types.js';
import type {VerifyContext} from './context-types.js';
import type {ModuleFacts} from './facts.js';
import {finding, hex8, rebuildFix} from './finding.js';
import {type Export, licenseIsGplCompatible} from './symvers.js';
import type {ModuleVersions} from './version.js';

export interface SymbolResolution {
	findings: Finding[];
	/** the modules that export what this one uses, given or installed: loaded first */
	directDeps: Set<string>;
	/** undefined symbols (weak ones too) that no exporter has */
	missing: number;
}

/** `given`: the names of the modules being verified (each may replace an installed one). */
export function resolveSymbols(facts: ModuleFacts, module: string, versions: ModuleVersions, exports: ReadonlyMap<string, Export>, given: {has(name: string): boolean}, ctx: VerifyContext): SymbolResolution {
	const findings: Finding[] = [];
	const directDeps = new Set<string>();
	let missing = 0;
	const license = facts.modinfo.license?.[0];
	const gplOk = licenseIsGplCompatible(license);
	const imports = new Set(facts.modinfo.import_ns ?? []);
	const unknown: string[] = [];
	const names = facts.undefinedNames;
	for (let i = 0; i < names.length; i++) {
		const name = names[i]!;
		if (name === '_GLOBAL_OFFSET_TABLE_' && facts.machine === 3) continue;
		const e = exports.get(name);
		if (!e) {
			missing++;
			if (facts.undefinedWeak[i] !== 1) unknown.push(name);
			continue;
		}
		if (e.gplOnly && !gplOk) {
			findings.push(finding('GPL_ONLY_SYMBOL', 'error', `"Unknown symbol ${name} (err -2)": ${e.module} exports it GPL-only and the license is ${license === undefined ? 'missing' : `"${license}"`}, not GPL-compatible; use a GPL-compatible MODULE_LICENSE or stop using the symbol`));
			continue;
		}
		if (ctx.modversions && versions.any && e.crc !== undefined) {
			const mine = versions.crcOf(name);
			if (mine !== undefined && mine !== e.crc) {
				findings.push(finding('CRC_MISMATCH', 'error', `"disagrees about version of symbol ${name}": the module expects 0x${hex8(mine)}, ${e.module} exports 0x${hex8(e.crc)} (${e.from}); ${rebuildFix(ctx.release)}`));
			}
		}
		if (e.namespace && !imports.has(e.namespace)) {
			findings.push(finding('NAMESPACE_NOT_IMPORTED', ctx.allowMissingNamespace ? 'warning' : 'error', `"module uses symbol (${name}) from namespace ${e.namespace}, but does not import it." add MODULE_IMPORT_NS(${e.namespace}) and rebuild`));
		}
		if (e.module !== 'vmlinux' && e.module !== module) {
			if (given.has(e.module) || ctx.installed.has(e.module)) directDeps.add(e.module);
			else findings.push(finding('MISSING_DEPENDENCY', undecided(ctx), `"Unknown symbol ${name} (err -2)": it comes from module ${e.module}, which is not installed for ${ctx.release}${stagingNote(ctx)}; install ${e.module} first`));
		}
	}
	if (unknown.length) findings.push(unknownSymbols(unknown, ctx));
	return {findings, directDeps, missing};
}

/** A staging image cannot settle a dependency that neither it nor its target root holds (another package may bring it
 * before the image is merged): a warning there; after the merge the same finding is an error. */
const undecided = (ctx: VerifyContext): 'warning' | 'error' => (ctx.staging ? 'warning' : 'error');
const stagingNote = (ctx: VerifyContext): string => (ctx.staging ? ` (neither in the staging image nor in ${ctx.staging.targetRoot}; decided after merging)` : '');

function unknownSymbols(unknown: readonly string[], ctx: VerifyContext): Finding {
	const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '');
	return finding('UNKNOWN_SYMBOL', undecided(ctx), `"Unknown symbol ${unknown[0]} (err -2)": nothing in ${ctx.release} (vmlinux, the modules given, the installed modules${ctx.staging ? ` of the image and of ${ctx.staging.targetRoot}` : ''}) exports ${shown}; ${ctx.symvers ? 'install the module that provides it, or rebuild against this kernel' : 'no Module.symvers to look in: install the headers'}`);
}
