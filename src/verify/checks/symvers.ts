// Module.symvers (scripts/mod/modpost.c write_dump()): one export per line,
//   crc \t symbol \t module \t EXPORT_SYMBOL[_GPL] \t namespace
// `module` is "vmlinux" or the in-tree module's path without .ko (drivers/net/foo). Pure: parsing only.

import {MODULE_NAME_RE} from '../../formats/table.js';

export interface Export {
	symbol: string;
	/** the CRC modversions compares (undefined: the exporter supplies none) */
	crc: number | undefined;
	/** "vmlinux" or the exporting module's name (basename, '-' → '_') */
	module: string;
	gplOnly: boolean;
	namespace: string;
	/** where the export was read: "Module.symvers:123" or a module file */
	from: string;
}

/** kmod's modname normalisation: basename without .ko…, '-' → '_' */
export function moduleNameOf(pathOrName: string): string {
	const base = pathOrName.slice(pathOrName.lastIndexOf('/') + 1).replace(MODULE_NAME_RE, '');
	return base.replace(/-/g, '_');
}

export function parseSymvers(text: string, file: string): Map<string, Export> {
	const out = new Map<string, Export>();
	const lines = text.split('\n');
	for (let i = 0; i < lines.length; i++) {
		const line = lines[i]!;
		if (line === '') continue;
		const f = line.split('\t');
		if (f.length < 4) continue;
		const crc = /^0x[0-9a-fA-F]+$/.test(f[0]!) ? Number.parseInt(f[0]!.slice(2), 16) : undefined;
		out.set(f[1]!, {
			symbol: f[1]!, crc, module: f[2] === 'vmlinux' ? 'vmlinux' : moduleNameOf(f[2]!),
			gplOnly: f[3] === 'EXPORT_SYMBOL_GPL', namespace: f[4] ?? '', from: `${file}:${i + 1}`,
		});
	}
	return out;
}

/** include/linux/license.h license_is_gpl_compatible() */
export const GPL_COMPATIBLE = ['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL'];
export const licenseIsGplCompatible = (license: string | undefined): boolean => license !== undefined && GPL_COMPATIBLE.includes(license);
