// kmodpress's xz encoder: the system's liblzma run over a whole module in one call, in either of the two formats the
// xz command writes. Since xz 5.6.0 the command defaults to multi-threaded mode (-T0); the kernel's cmd_xz
// (`xz --check=crc32 --lzma2=dict=1MiB`, scripts/Makefile.modinst) runs the host's xz, so the host's version decides
// which format `make modules_install` writes:
//
//   multithreaded = false   xz -T1 (xz < 5.6's default): lzma_stream_encoder, one block, no sizes in its header
//   multithreaded = true    xz -T2, -T7, -T0 (xz >= 5.6's default): lzma_stream_encoder_mt, blocks of liblzma's
//                           default size, max(3 x dict, 1 MiB) (lzma_lzma2_block_size(), lzma2_encoder.c), each
//                           header holding its compressed and uncompressed sizes. The bytes do not depend on the
//                           number of threads, so `threads` only decides how many cores a big module uses.
//
//   encode(input: Uint8Array, {preset, extreme, dictSize, check, threads, multithreaded}) -> Buffer
//
// The filter chain is one LZMA2 filter from lzma_lzma_preset() with the dictionary replaced, as xz builds it for
// `-<preset>[e] --lzma2=dict=N`. Failures throw an Error whose code is the lzma_ret name (LZMA_MEM_ERROR …) and whose
// message is that status in kmod's words (xz_uncompress_belch, libkmod/libkmod-file-xz.c).
#include <lzma.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                      \
	do {                                                                                 \
		if ((call) != napi_ok) {                                                         \
			napi_throw_error(env, "E_INTERNAL", "xz-encode: " #call " failed");          \
			return NULL;                                                                 \
		}                                                                                \
	} while (0)

// liblzma accepts at most this many threads (LZMA_THREADS_MAX, src/liblzma/common/common.h; not in its API).
#define THREADS_MAX 16384

#define USAGE "xz-encode: encode(input: Uint8Array, {preset: 0-9, extreme: boolean, dictSize: number, check: 'none'|'crc32'|'crc64'|'sha256', threads: number, multithreaded: boolean})"

// kmod's xz_uncompress_belch(), with the status's name kept as the error's code.
static const char *ret_name(lzma_ret r) {
	switch (r) {
	case LZMA_MEM_ERROR: return "LZMA_MEM_ERROR";
	case LZMA_MEMLIMIT_ERROR: return "LZMA_MEMLIMIT_ERROR";
	case LZMA_FORMAT_ERROR: return "LZMA_FORMAT_ERROR";
	case LZMA_OPTIONS_ERROR: return "LZMA_OPTIONS_ERROR";
	case LZMA_DATA_ERROR: return "LZMA_DATA_ERROR";
	case LZMA_BUF_ERROR: return "LZMA_BUF_ERROR";
	case LZMA_UNSUPPORTED_CHECK: return "LZMA_UNSUPPORTED_CHECK";
	case LZMA_PROG_ERROR: return "LZMA_PROG_ERROR";
	default: return "LZMA_UNKNOWN";
	}
}

static const char *ret_words(lzma_ret r) {
	switch (r) {
	case LZMA_MEM_ERROR: return "Memory allocation failed";
	case LZMA_MEMLIMIT_ERROR: return "Memory usage limit reached";
	case LZMA_FORMAT_ERROR: return "File format not recognized";
	case LZMA_OPTIONS_ERROR: return "Unsupported compression options";
	case LZMA_DATA_ERROR: return "File is corrupt";
	case LZMA_BUF_ERROR: return "Unexpected end of input";
	case LZMA_UNSUPPORTED_CHECK: return "Unsupported integrity check";
	case LZMA_PROG_ERROR: return "Internal error (bug)";
	default: return "Unknown error";
	}
}

static void throw_lzma(napi_env env, lzma_ret r, const char *where) {
	char msg[200];
	snprintf(msg, sizeof msg, "xz: %s (status %d, %s)", ret_words(r), (int)r, where);
	napi_throw_error(env, ret_name(r), msg);
}

// A property of the options object, or 0 (a type error thrown) when it is missing or of another type.
static int get_prop(napi_env env, napi_value obj, const char *name, napi_valuetype want, napi_value *out) {
	napi_valuetype t;
	if (napi_get_named_property(env, obj, name, out) != napi_ok || napi_typeof(env, *out, &t) != napi_ok || t != want) {
		char msg[400];
		snprintf(msg, sizeof msg, "%s: the `%s` option is missing or not a %s", USAGE, name, want == napi_number ? "number" : want == napi_boolean ? "boolean" : "string");
		napi_throw_type_error(env, "E_INTERNAL", msg);
		return 0;
	}
	return 1;
}

static int get_uint(napi_env env, napi_value obj, const char *name, double min, double max, uint32_t *out) {
	napi_value v;
	double d;
	if (!get_prop(env, obj, name, napi_number, &v) || napi_get_value_double(env, v, &d) != napi_ok) return 0;
	if (!(d >= min && d <= max) || d != (double)(uint32_t)d) {
		char msg[400];
		snprintf(msg, sizeof msg, "xz-encode: expected the `%s` option to be an integer %.0f–%.0f, got %g", name, min, max, d);
		napi_throw_range_error(env, "E_INTERNAL", msg);
		return 0;
	}
	*out = (uint32_t)d;
	return 1;
}

static int get_bool(napi_env env, napi_value obj, const char *name, bool *out) {
	napi_value v;
	return get_prop(env, obj, name, napi_boolean, &v) && napi_get_value_bool(env, v, out) == napi_ok;
}

static int get_check(napi_env env, napi_value obj, lzma_check *out) {
	static const struct { const char *name; lzma_check check; } checks[] = {
		{"none", LZMA_CHECK_NONE}, {"crc32", LZMA_CHECK_CRC32}, {"crc64", LZMA_CHECK_CRC64}, {"sha256", LZMA_CHECK_SHA256},
	};
	napi_value v;
	char name[16];
	size_t len;
	if (!get_prop(env, obj, "check", napi_string, &v) || napi_get_value_string_utf8(env, v, name, sizeof name, &len) != napi_ok) return 0;
	for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
		if (strcmp(name, checks[i].name) == 0) {
			*out = checks[i].check;
			return 1;
		}
	}
	char msg[200];
	snprintf(msg, sizeof msg, "xz-encode: expected the `check` option to be one of none, crc32, crc64, sha256, got \"%s\"", name);
	napi_throw_range_error(env, "E_INTERNAL", msg);
	return 0;
}

static void free_output(napi_env env, void *data, void *hint) {
	(void)env;
	(void)hint;
	free(data);
}

static napi_value Encode(napi_env env, napi_callback_info info) {
	size_t argc = 2;
	napi_value argv[2];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	bool is_typed = false;
	napi_valuetype opt_type = napi_undefined;
	napi_typedarray_type type;
	napi_value ab;
	size_t in_len = 0, offset;
	void *in = NULL;
	if (argc < 2 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
		napi_get_typedarray_info(env, argv[0], &type, &in_len, &in, &ab, &offset) != napi_ok || type != napi_uint8_array ||
		napi_typeof(env, argv[1], &opt_type) != napi_ok || opt_type != napi_object) {
		napi_throw_type_error(env, "E_INTERNAL", USAGE);
		return NULL;
	}
	uint32_t preset, dict_size, threads = 1;
	bool extreme, multithreaded;
	lzma_check check;
	if (!get_uint(env, argv[1], "preset", 0, 9, &preset) || !get_bool(env, argv[1], "extreme", &extreme) ||
		!get_uint(env, argv[1], "dictSize", LZMA_DICT_SIZE_MIN, 1536u << 20, &dict_size) || !get_check(env, argv[1], &check) ||
		!get_bool(env, argv[1], "multithreaded", &multithreaded) ||
		(multithreaded && !get_uint(env, argv[1], "threads", 1, THREADS_MAX, &threads)))
		return NULL;

	// xz -<preset>[e] --lzma2=dict=<dictSize>: the preset's options, then the dictionary replaced.
	lzma_options_lzma lzma2;
	if (lzma_lzma_preset(&lzma2, preset | (extreme ? LZMA_PRESET_EXTREME : 0))) {
		throw_lzma(env, LZMA_OPTIONS_ERROR, "lzma_lzma_preset");
		return NULL;
	}
	lzma2.dict_size = dict_size;
	lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &lzma2}, {LZMA_VLI_UNKNOWN, NULL}};

	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;
	const char *where;
	if (multithreaded) {
		lzma_mt mt;
		memset(&mt, 0, sizeof mt);
		mt.threads = threads;
		mt.block_size = 0; // liblzma's default, as xz without --block-size: max(3 x dict, 1 MiB)
		mt.timeout = 0;
		mt.filters = filters;
		mt.check = check;
		r = lzma_stream_encoder_mt(&s, &mt);
		where = "while starting the multi-threaded encoder";
	} else {
		r = lzma_stream_encoder(&s, filters, check);
		where = "while starting the encoder";
	}
	if (r != LZMA_OK) {
		lzma_end(&s);
		throw_lzma(env, r, where);
		return NULL;
	}

	// Modules compress to a quarter or less; the buffer doubles when that is not enough.
	size_t cap = in_len / 4 + 4096, len = 0;
	uint8_t *out = malloc(cap);
	if (!out) {
		lzma_end(&s);
		throw_lzma(env, LZMA_MEM_ERROR, "while allocating the output");
		return NULL;
	}
	s.next_in = in;
	s.avail_in = in_len;
	s.next_out = out;
	s.avail_out = cap;
	for (;;) {
		r = lzma_code(&s, LZMA_FINISH);
		len = cap - s.avail_out;
		if (r == LZMA_STREAM_END) break;
		if (r != LZMA_OK) {
			where = "while compressing";
			break;
		}
		if (s.avail_out == 0) {
			uint8_t *grown = cap > SIZE_MAX / 2 ? NULL : realloc(out, cap * 2);
			if (!grown) {
				r = LZMA_MEM_ERROR;
				where = "while growing the output";
				break;
			}
			out = grown;
			cap *= 2;
			s.next_out = out + len;
			s.avail_out = cap - len;
		}
	}
	lzma_end(&s);
	if (r != LZMA_STREAM_END) {
		free(out);
		throw_lzma(env, r, where);
		return NULL;
	}

	// Hand the bytes to JavaScript without a copy; a runtime that refuses external buffers gets a copy.
	uint8_t *fit = len ? realloc(out, len) : NULL;
	if (fit) out = fit;
	napi_value result;
	void *copy;
	if (len && napi_create_external_buffer(env, len, out, free_output, NULL, &result) == napi_ok) return result;
	napi_status st = napi_create_buffer_copy(env, len, out, &copy, &result);
	free(out);
	if (st != napi_ok) {
		napi_throw_error(env, "E_INTERNAL", "xz-encode: napi_create_buffer_copy failed");
		return NULL;
	}
	return result;
}

NAPI_MODULE_INIT() {
	napi_value fn, version;
	if (napi_create_function(env, "encode", NAPI_AUTO_LENGTH, Encode, NULL, &fn) != napi_ok) return NULL;
	if (napi_set_named_property(env, exports, "encode", fn) != napi_ok) return NULL;
	if (napi_create_string_utf8(env, lzma_version_string(), NAPI_AUTO_LENGTH, &version) != napi_ok) return NULL;
	if (napi_set_named_property(env, exports, "liblzmaVersion", version) != napi_ok) return NULL;
	return exports;
}
