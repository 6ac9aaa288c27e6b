// The kernel's verdict on a compressed module: what kernel/module/decompress.c would make of its bytes.
// Every decoder of formats/*/kernel.ts returns one.
import type {Algorithm} from '../types.js';

export interface KernelDecode {
	/** the kernel decompresses it completely */
	ok: boolean;
	algorithm: Algorithm;
	/** the decompressor's status number, when the kernel prints one */
	status?: number;
	/** what the kernel prints (pr_err in decompress.c), e.g. "decompression failed with status 6" */
	message: string;
	/** why, in kmodpress's words (empty when ok) */
	reason: string;
	/** the bytes the kernel gets (only the first stream / frame / member) */
	data?: Buffer;
	/** what the kernel got before it stopped, when it stopped without an error of its own (truncation) */
	partial?: Buffer;
	/** the file inflates past the bound */
	bomb?: boolean;
	notes: string[];
}
