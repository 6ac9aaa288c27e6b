// Kernel configuration: include/config/auto.conf (what kbuild reads), .config, /boot/config-<release>, /proc/config.gz.
// Pure: parse text into a map that remembers, for each symbol, the file and line it came from.

export interface ConfigEntry {
	/** "y", "m", a number, or the unquoted string value; "n" for "# CONFIG_X is not set" */
	value: string;
	file: string;
	line: number;
}

export class KernelConfig {
	readonly entries: ReadonlyMap<string, ConfigEntry>;
	readonly file: string;

	constructor(entries: Map<string, ConfigEntry>, file: string) {
		this.entries = entries;
		this.file = file;
	}

	/** The value of CONFIG_<name> (name given with or without the CONFIG_ prefix); undefined when unset. */
	get(name: string): string | undefined {
		const v = this.entries.get(strip(name))?.value;
		return v === 'n' ? undefined : v;
	}

	/** True for "y" (and "m" for tristates). */
	enabled(name: string): boolean {
		const v = this.get(name);
		return v === 'y' || v === 'm';
	}

	/** "file:line CONFIG_NAME" for provenance, or "file (CONFIG_NAME not set)". */
	where(name: string): string {
		const e = this.entries.get(strip(name));
		return e ? `${e.file}:${e.line} CONFIG_${strip(name)}` : `${this.file} (CONFIG_${strip(name)} not set)`;
	}
}

const strip = (name: string): string => (name.startsWith('CONFIG_') ? name.slice(7) : name);

/** Parse auto.conf / .config / config-<release> text. Unknown lines are ignored, as Kconfig does. */
export function parseKernelConfig(text: string, file: string): KernelConfig {
	const entries = new Map<string, ConfigEntry>();
	const lines = text.split('\n');
	for (let i = 0; i < lines.length; i++) {
		const line = lines[i]!.trim();
		let m = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
		if (m) {
			let value = m[2]!;
			if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
				value = value.slice(1, -1).replace(/\\(["\\])/g, '$1');
			}
			entries.set(m[1]!, {value, file, line: i + 1});
			continue;
		}
		m = /^# CONFIG_([A-Za-z0-9_]+) is not set$/.exec(line);
		if (m) entries.set(m[1]!, {value: 'n', file, line: i + 1});
	}
	return new KernelConfig(entries, file);
}
