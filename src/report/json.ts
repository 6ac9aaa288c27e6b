// JSON output: the library's values with Sets and Buffers made plain. The schema is documented in the README.
export function toJSON(value: unknown): string {
	return JSON.stringify(value, (_k, v: unknown) => {
		if (v instanceof Set) return [...v];
		if (v instanceof Map) return Object.fromEntries(v);
		if (Buffer.isBuffer(v)) return undefined;
		return v;
	}, 2);
}
