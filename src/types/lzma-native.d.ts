// The part of lzma-native (8.x, no bundled types) that kmodpress uses.
declare module 'lzma-native' {
	interface LzmaStream extends NodeJS.ReadWriteStream {
		destroy(): void;
	}
	const lzma: {
		createStream(coder: 'streamEncoder' | 'streamDecoder' | 'autoDecoder' | 'rawDecoder', options: Record<string, unknown>): LzmaStream;
		CHECK_NONE: number;
		CHECK_CRC32: number;
		CHECK_CRC64: number;
		CHECK_SHA256: number;
		FILTER_LZMA2: string;
		FILTER_X86: string;
		FILTER_DELTA: string;
		MODE_FAST: number;
		MODE_NORMAL: number;
		MF_HC3: number;
		MF_HC4: number;
		MF_BT2: number;
		MF_BT3: number;
		MF_BT4: number;
		LZMA_CONCATENATED: number;
	};
	export default lzma;
}
