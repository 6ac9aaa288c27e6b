// One growable buffer a thread decodes into module after module. A fresh buffer per module costs a page fault per
// 4 KiB the first time it is written (Debian's tree inflates to 507 MB: ~124k faults) and external memory that makes
// V8 collect garbage more often. What it holds is valid until the next decode into it: only for a caller that reads
// the image synchronously and keeps nothing that points into it (the verifier's load → analyse), and only while it
// holds the lease: an async caller can be interleaved with another between its decode and its reading.
export class Scratch {
	private buf = Buffer.allocUnsafe(0);
	private leased = false;

	/** This buffer, for one decode-and-read, or undefined while another caller holds it (that one then decodes into
	 * fresh memory). Give it back with release(). */
	acquire(): Scratch | undefined {
		if (this.leased) return undefined;
		this.leased = true;
		return this;
	}

	release(): void {
		this.leased = false;
	}

	/** Make room for `size` bytes: a hint from the file (an xz index), so at most 64 MiB of it; append grows past. */
	reserve(size: number): void {
		if (size > this.buf.length) this.grow(Math.min(size, 64 << 20), 0);
	}

	/** The first `size` bytes, to be written whole (the native decoder writes into it); grows as needed. */
	room(size: number): Buffer {
		if (size > this.buf.length) this.grow(size, 0);
		return this.buf.subarray(0, size);
	}

	/** Copy `chunk` to offset `at` (everything before `at` was appended before). */
	append(at: number, chunk: Uint8Array): void {
		if (at + chunk.length > this.buf.length) this.grow(at + chunk.length, at);
		this.buf.set(chunk, at);
	}

	/** The first `length` bytes. */
	view(length: number): Buffer {
		return this.buf.subarray(0, length);
	}

	private grow(size: number, keep: number): void {
		const bigger = Buffer.allocUnsafe(Math.max(size, Math.min(this.buf.length * 2, size + (64 << 20)), 1 << 20));
		this.buf.copy(bigger, 0, 0, keep);
		this.buf = bigger;
	}
}
