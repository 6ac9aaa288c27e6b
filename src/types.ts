// Types shared across kmodpress. Derived values carry their source so `kmodpress explain` can show it.

export type Algorithm = 'xz' | 'zstd' | 'gzip';

/** A value and where it came from: "include/config/auto.conf:123 CONFIG_MODULE_COMPRESS_XZ", "/sys/module/compression",
 * "fallback table (6.6–6.11)", "--compress flag", "/etc/kmodpress/config.json:compress". */
export interface Sourced<T> {
	value: T;
	from: string;
}

export type XzCheck = 'none' | 'crc32' | 'crc64' | 'sha256';

/** The xz command's two containers (formats/xz/container.ts): 'single' is `xz -T1`'s one block (xz < 5.6's
 * default), 'multi' the multi-threaded encoder's blocks of max(3 × dict, 1 MiB) with their sizes in each header
 * (xz >= 5.6's default; the same bytes for any thread count). */
export type XzFormat = 'single' | 'multi';

/** Exactly the parameters of one compressor invocation (what the kernel's Makefile would run). */
export type CompressionParams =
	| {
		algorithm: 'xz';
		/** xz preset 0–9 (6 is xz's default) */
		preset: number;
		extreme: boolean;
		/** LZMA2 dictionary size in bytes (--lzma2=dict=) */
		dictSize: number;
		check: XzCheck;
		/** the container; undefined = 'single'. The policy always sets it (policy/xz-format.ts) */
		format?: XzFormat;
	}
	| {
		algorithm: 'zstd';
		/** 1–22 (3 is zstd's default); negative levels are zstd's fast levels */
		level: number;
		/** --ultra is needed above 19 */
		checksum: boolean;
		/** write the content size in the frame header (the CLI does, from a file) */
		contentSize: boolean;
		/** --long[=windowLog]; undefined = the level's default window */
		windowLog?: number;
	}
	| {
		algorithm: 'gzip';
		/** 1–9 (6 is gzip's default) */
		level: number;
	};

export type XzParams = Extract<CompressionParams, {algorithm: 'xz'}>;
export type ZstdParams = Extract<CompressionParams, {algorithm: 'zstd'}>;
export type GzipParams = Extract<CompressionParams, {algorithm: 'gzip'}>;

/** What a target kernel can decompress by itself (kernel/module/decompress.c) and what its xz decoder has. */
export interface KernelDecompressor {
	/** The one algorithm built in with CONFIG_MODULE_DECOMPRESS, or null when there is no in-kernel decompression. */
	algorithm: Algorithm | null;
	/** BCJ filters compiled into lib/xz (CONFIG_XZ_DEC_X86 → 'x86', ARM, ARMTHUMB, ARM64, POWERPC, SPARC, RISCV, IA64). */
	xzBcj: ReadonlySet<string>;
}

/** A log function the library calls instead of printing (kmod_set_log_fn). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, message: string) => void;
export const silentLog: Log = () => {};

/** A verification verdict, shaped like a pass (execa's result.js): verify never throws for a bad module. */
export type Severity = 'error' | 'warning' | 'info';

/** Every finding code, each documented in docs/verify.md ("Findings"), in the order the kernel meets them. */
export type FindingCode =
	// reading the file (kernel/module/decompress.c, or kmod's userspace decompression)
	| 'FILE_UNREADABLE'
	| 'KERNEL_DECOMPRESS'
	| 'DECOMPRESSION_BOMB'
	| 'DECOMPRESS_NOTE'
	| 'WRONG_ALGORITHM'
	| 'USERSPACE_DECOMPRESS'
	| 'ZSTD_NO_CONTENT_SIZE'
	| 'BUSYBOX_NO_ZSTD'
	// signature (module_sig_check)
	| 'SIG_UNSIGNED'
	| 'SIG_MALFORMED'
	| 'SIG_UNKNOWN_KEY'
	| 'SIG_AFTER_COMPRESSION'
	| 'SIG_OK'
	| 'SIG_KEY_UNCHECKED'
	// ELF validity (elf_validity_cache_copy)
	| 'ELF_INVALID'
	| 'ELF_NOT_RELOCATABLE'
	| 'ELF_MACHINE'
	| 'ELF_CLASS'
	| 'ELF_NO_SYMTAB'
	| 'ELF_MODINFO'
	| 'ELF_NO_THIS_MODULE'
	| 'THIS_MODULE_SIZE'
	| 'ELF_VERSION_EXT'
	// vermagic (check_modinfo → same_magic)
	| 'VERMAGIC_MISMATCH'
	| 'VERMAGIC_RELEASE'
	| 'VERMAGIC_MISSING'
	// modversions (check_modstruct_version, check_version)
	| 'NO_VERSIONS'
	| 'NO_SYMBOL_VERSION'
	| 'MODULE_LAYOUT_MISMATCH'
	| 'CRC_MISMATCH'
	// symbols (simplify_symbols → resolve_symbol) and dependencies
	| 'UNKNOWN_SYMBOL'
	| 'MISSING_DEPENDENCY'
	| 'DEPENDENCY_NOT_LOADABLE'
	| 'GPL_ONLY_SYMBOL'
	| 'NAMESPACE_NOT_IMPORTED'
	// module BTF (btf_parse_module)
	| 'BTF_MISMATCH'
	| 'BTF_DISTILLED'
	| 'BTF_UNCHECKED'
	// modprobe finds it
	| 'NOT_IN_MODULES_DEP';

export interface Finding {
	/** Stable, documented in docs/verify.md: e.g. "KERNEL_DECOMPRESS", "UNKNOWN_SYMBOL". */
	code: FindingCode;
	severity: Severity;
	/** What the kernel would say or do, and the fix. */
	message: string;
}
