// Moving bytes between threads instead of copying them: a buffer can be handed over (postMessage's transfer list)
// when it is all of its ArrayBuffer and that memory is not shared.

/** The ArrayBuffers of `buffers` that can be moved to another thread (the others are copied). */
export function movable(...buffers: (Uint8Array | undefined)[]): ArrayBuffer[] {
	return buffers
		.filter((b): b is Uint8Array => b !== undefined && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer))
		.map((b) => b.buffer as ArrayBuffer);
}

/** A Buffer over the same memory (what arrives from another thread is a plain Uint8Array). */
export const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
