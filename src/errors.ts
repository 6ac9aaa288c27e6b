// KmodpressError: the one error type of kmodpress, shaped after execa's lib/return/final-error.js. Every failure is
// one: a stable code (E_<AREA>_<WHAT>), the file it is about, what is wrong (what the kernel would do), and the fix.
// The message never repeats the file: `line` (what the CLI prints) and `toJSON` (what --json prints) are built here
// and nowhere else, and so is the form an error takes to cross a worker thread (toWire / fromWire). Exit codes:
// exitCodeFor.

const brand = Symbol.for('kmodpress.error');

export type ErrorCode =
	// usage and configuration (exit 2)
	| 'E_USAGE'
	| 'E_CONFIG_INVALID'
	| 'E_KERNEL_NOT_FOUND'
	| 'E_KERNEL_BUILD_DIR'
	| 'E_POLICY_KMOD_CANNOT_READ'
	| 'E_POLICY_UNKNOWN'
	| 'E_TOOL_MISSING'
	| 'E_NATIVE_MISSING'
	| 'E_NATIVE_ADDON'
	// a module (exit 1)
	| 'E_INPUT_UNREADABLE'
	| 'E_INPUT_EMPTY'
	| 'E_INPUT_NOT_REGULAR'
	| 'E_INPUT_SYMLINK'
	| 'E_ELF_NOT_ELF'
	| 'E_ELF_TRUNCATED'
	| 'E_ELF_BAD'
	| 'E_ELF_CLASS'
	| 'E_ELF_MACHINE'
	| 'E_ELF_NOT_MODULE'
	| 'E_MODINFO_MISSING'
	| 'E_VERMAGIC_MISMATCH'
	| 'E_SIG_AFTER_COMPRESSION'
	| 'E_CODEC_CORRUPT'
	| 'E_CODEC_BOMB'
	| 'E_CODEC_ROUNDTRIP'
	| 'E_WRITE_FAILED'
	| 'E_LOCK_TIMEOUT'
	| 'E_DEPMOD_FAILED'
	| 'E_DEPMOD_MISSING_MODULE'
	| 'E_VERIFY_NOT_LOADABLE'
	| 'E_BOOT_FAILED'
	| 'E_INTERNAL';

export interface KmodpressErrorOptions {
	/** The file the error is about, as the user named it or as found in the tree. */
	file?: string;
	/** What to do about it, one sentence. */
	fix?: string;
	cause?: unknown;
}

export class KmodpressError extends Error {
	readonly code: ErrorCode;
	readonly file: string | undefined;
	readonly fix: string | undefined;

	constructor(code: ErrorCode, message: string, options: KmodpressErrorOptions = {}) {
		super(message, options.cause === undefined ? undefined : {cause: options.cause});
		this.code = code;
		this.file = options.file;
		this.fix = options.fix;
		Object.defineProperty(this, 'name', {value: 'KmodpressError', enumerable: false, configurable: true, writable: true});
		Object.defineProperty(this, brand, {value: true, enumerable: false});
	}

	/** One line: `CODE: file: message Fix: …` — what the CLI prints. */
	get line(): string {
		const where = this.file === undefined ? '' : `${this.file}: `;
		const fix = this.fix === undefined ? '' : ` Fix: ${this.fix}`;
		return `${this.code}: ${where}${this.message}${fix}`.replace(/\s*\n\s*/g, ' ');
	}

	toJSON(): {code: ErrorCode; file?: string; message: string; fix?: string} {
		return {
			code: this.code,
			...(this.file === undefined ? {} : {file: this.file}),
			message: this.message,
			...(this.fix === undefined ? {} : {fix: this.fix}),
		};
	}
}

/** The JSON form of an error: a KmodpressError's fields, anything else an internal error with its message. */
export type ErrorJSON = ReturnType<KmodpressError['toJSON']>;
export function errorToJSON(error: unknown): ErrorJSON {
	if (isKmodpressError(error)) return error.toJSON();
	return {code: 'E_INTERNAL', message: String((error as Error)?.stack ?? error)};
}

/** What an error becomes to cross a worker thread (structured clone keeps `cause` when it is an Error or plain data). */
export interface ErrorWire {
	code: ErrorCode;
	message: string;
	file?: string;
	fix?: string;
	cause?: unknown;
}

export function toWire(error: unknown): ErrorWire {
	if (isKmodpressError(error)) {
		return {code: error.code, message: error.message, ...(error.file === undefined ? {} : {file: error.file}), ...(error.fix === undefined ? {} : {fix: error.fix}), ...(error.cause === undefined ? {} : {cause: cloneable(error.cause)})};
	}
	return {code: 'E_INTERNAL', message: String((error as Error)?.stack ?? error), cause: cloneable(error)};
}

export function fromWire(wire: ErrorWire): KmodpressError {
	return new KmodpressError(wire.code, wire.message, {...(wire.file === undefined ? {} : {file: wire.file}), ...(wire.fix === undefined ? {} : {fix: wire.fix}), ...(wire.cause === undefined ? {} : {cause: wire.cause})});
}

/** A cause that survives structured clone: an Error as {name, message, code}, data as is, anything else as text. */
function cloneable(cause: unknown): unknown {
	if (cause instanceof Error) return {name: cause.name, message: cause.message, ...((cause as NodeJS.ErrnoException).code === undefined ? {} : {code: (cause as NodeJS.ErrnoException).code})};
	if (cause === null || ['string', 'number', 'boolean'].includes(typeof cause)) return cause;
	return String(cause);
}

/** Works across realms and duplicated module copies, like execa's isExecaError. */
export function isKmodpressError(value: unknown): value is KmodpressError {
	return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** Exit codes, documented in the README. */
export const EXIT = {
	OK: 0,
	/** a module failed verification, could not be compressed or written, or depmod left it out */
	MODULE: 1,
	/** usage, configuration or environment error: nothing was changed */
	USAGE: 2,
	/** another kmodpress holds the kernel's lock and did not let go in time */
	LOCKED: 3,
	/** an internal error (a bug): please report it */
	INTERNAL: 70,
} as const;

const usageCodes = new Set<ErrorCode>([
	'E_USAGE', 'E_CONFIG_INVALID', 'E_KERNEL_NOT_FOUND', 'E_KERNEL_BUILD_DIR', 'E_POLICY_KMOD_CANNOT_READ',
	'E_POLICY_UNKNOWN', 'E_TOOL_MISSING', 'E_NATIVE_MISSING', 'E_NATIVE_ADDON',
]);

export function exitCodeFor(error: unknown): number {
	if (!isKmodpressError(error)) return EXIT.INTERNAL;
	if (error.code === 'E_LOCK_TIMEOUT') return EXIT.LOCKED;
	if (error.code === 'E_INTERNAL') return EXIT.INTERNAL;
	return usageCodes.has(error.code) ? EXIT.USAGE : EXIT.MODULE;
}

/** Turn anything thrown by node:fs into a KmodpressError naming the file. */
export function fsError(code: ErrorCode, file: string, what: string, cause: unknown, fix?: string): KmodpressError {
	const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
	const reason = errno === undefined ? String((cause as Error | undefined)?.message ?? cause) : errno;
	return new KmodpressError(code, `cannot ${what} (${reason})`, {file, cause, ...(fix ? {fix} : {})});
}
