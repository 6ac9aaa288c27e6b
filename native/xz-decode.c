// kmodpress's xz decoder: liblzma's stream decoder run over a whole file into a buffer the caller owns, in one call.
// lzma-native (which kmodpress uses for everything else) hands its output back in 64 KiB chunks, each copied twice
// and wrapped in a new Buffer: over Debian's module tree that is 507 MB of short-lived external memory and ~25 000
// calls back into JavaScript, which cost the verifier 0.5-1 s of CPU in all, much of it garbage collection (measured).
//
//   decode(input: Uint8Array, output: Uint8Array, concatenated: boolean) -> [lzma_ret, bytes read, bytes written]
//
// Decoding stops where the output is full, so a file cannot make it use more memory than the caller gave it.
// concatenated: decode every stream (kmod's userspace view, xz -d); otherwise only the first (the kernel's view).
#include <lzma.h>
#include <node_api.h>
#include <stdint.h>

#define CHECK(call)                                                                      \
	do {                                                                                 \
		if ((call) != napi_ok) {                                                         \
			napi_throw_error(env, "E_INTERNAL", "xz-decode: " #call " failed");          \
			return NULL;                                                                 \
		}                                                                                \
	} while (0)

static int bytes_of(napi_env env, napi_value v, uint8_t **data, size_t *length) {
	bool is_typed;
	napi_typedarray_type type;
	napi_value ab;
	size_t offset;
	void *p;
	if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
	if (napi_get_typedarray_info(env, v, &type, length, &p, &ab, &offset) != napi_ok || type != napi_uint8_array) return 0;
	*data = p;
	return 1;
}

static napi_value Decode(napi_env env, napi_callback_info info) {
	size_t argc = 3;
	napi_value argv[3];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	uint8_t *in, *out;
	size_t in_len, out_len;
	bool concatenated = false;
	if (argc < 3 || !bytes_of(env, argv[0], &in, &in_len) || !bytes_of(env, argv[1], &out, &out_len) ||
		napi_get_value_bool(env, argv[2], &concatenated) != napi_ok) {
		napi_throw_type_error(env, "E_INTERNAL", "xz-decode: decode(input: Uint8Array, output: Uint8Array, concatenated: boolean)");
		return NULL;
	}
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r = lzma_stream_decoder(&s, UINT64_MAX, concatenated ? LZMA_CONCATENATED : 0);
	if (r == LZMA_OK) {
		s.next_in = in;
		s.avail_in = in_len;
		s.next_out = out;
		s.avail_out = out_len;
		r = lzma_code(&s, LZMA_FINISH);
	}
	size_t read = in_len - s.avail_in, written = out_len - s.avail_out;
	lzma_end(&s);
	napi_value result, v;
	CHECK(napi_create_array_with_length(env, 3, &result));
	CHECK(napi_create_uint32(env, (uint32_t)r, &v));
	CHECK(napi_set_element(env, result, 0, v));
	CHECK(napi_create_double(env, (double)read, &v));
	CHECK(napi_set_element(env, result, 1, v));
	CHECK(napi_create_double(env, (double)written, &v));
	CHECK(napi_set_element(env, result, 2, v));
	return result;
}

NAPI_MODULE_INIT() {
	napi_value fn, version;
	if (napi_create_function(env, "decode", NAPI_AUTO_LENGTH, Decode, NULL, &fn) != napi_ok) return NULL;
	if (napi_set_named_property(env, exports, "decode", fn) != napi_ok) return NULL;
	if (napi_create_string_utf8(env, lzma_version_string(), NAPI_AUTO_LENGTH, &version) != napi_ok) return NULL;
	if (napi_set_named_property(env, exports, "liblzmaVersion", version) != napi_ok) return NULL;
	return exports;
}
