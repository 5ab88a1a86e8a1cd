/* Tests of the safetensors reader (src_c/safetensors.c) through the public
 * API only: valid files built in memory parse to the right names, dtypes,
 * shapes, bytes and metadata; hostile ones (every truncation, lying header
 * lengths, malformed JSON, bad strings and UTF-8, deep nesting, wrong or
 * overlapping offsets, overflowing shapes, duplicates) give PYLSTM_ERR_FORMAT
 * without a crash, an out-of-bounds read or a leak (run it under
 * -fsanitize=address,undefined: tests/c/run.sh sanitize); random byte
 * mutations of a valid file give OK or FORMAT and nothing else.
 *
 * Build: cc -std=c99 -Wall -Wextra -pedantic -Werror -Isrc_c/include \
 *          tests/c/test_safetensors.c src_c/safetensors.c src_c/status.c
 * Prints one line per failure and "N passed, N failed" last; exits non-zero
 * on any failure. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* mkfifo under -std=c99 */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/stat.h> /* mkfifo */
#endif
#if defined(_WIN32)
#include <wchar.h> /* _wfopen, _wremove */
#endif

#include "check.h"
#include "pylstm.h"

/* check() with the line of the check in the message. */
#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (cond) {                                                                            \
            n_pass++;                                                                          \
        } else {                                                                               \
            n_fail++;                                                                          \
            printf("FAIL line %d: ", __LINE__);                                                \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

/* A file in memory: 8-byte little-endian header length, header, data. */
typedef struct {
    unsigned char *p;
    size_t len;
} file_buf;

static file_buf make_raw(unsigned long long header_len, const char *header, size_t hlen,
                         const void *data, size_t dlen) {
    file_buf f;
    size_t k;
    f.len = 8 + hlen + dlen;
    f.p = (unsigned char *)xmalloc(f.len);
    for (k = 0; k < 8; k++) f.p[k] = (unsigned char)(header_len >> (8 * k));
    memcpy(f.p + 8, header, hlen);
    if (dlen) memcpy(f.p + 8 + hlen, data, dlen);
    return f;
}

static file_buf make(const char *header, const void *data, size_t dlen) {
    return make_raw(strlen(header), header, strlen(header), data, dlen);
}

static pylstm_status parse_buf(file_buf f, pylstm_safetensors **out) {
    return pylstm_safetensors_parse(f.p, f.len, out);
}

/* Parses header + dlen zero bytes and expects `want`; frees everything. */
static void expect(const char *what, const char *header, size_t dlen, pylstm_status want,
                   int line) {
    unsigned char *zeros = (unsigned char *)calloc(dlen ? dlen : 1, 1);
    file_buf f = make(header, zeros, dlen);
    pylstm_safetensors *st = NULL;
    pylstm_status got = parse_buf(f, &st);
    if (got == want && (want == PYLSTM_OK) == (st != NULL)) {
        n_pass++;
    } else {
        n_fail++;
        printf("FAIL line %d (%s): status %d, want %d\n", line, what, (int)got, (int)want);
    }
    pylstm_safetensors_free(st);
    free(f.p);
    free(zeros);
}
#define BAD(what, header, dlen) expect(what, header, dlen, PYLSTM_ERR_FORMAT, __LINE__)
#define GOOD(what, header, dlen) expect(what, header, dlen, PYLSTM_OK, __LINE__)

/* Reads every byte of every tensor and every string, so that ASan sees any
 * pointer the reader hands out that is not inside its own memory. */
static unsigned touch_all(const pylstm_safetensors *st) {
    size_t n = 0, k, j;
    unsigned acc = 0;
    const char *key, *value;
    pylstm_safetensors_count(st, &n);
    for (k = 0; k < n; k++) {
        pylstm_safetensors_info info;
        if (pylstm_safetensors_tensor(st, k, &info) != PYLSTM_OK) return 0;
        for (j = 0; j < info.nbytes; j++) acc += ((const unsigned char *)info.data)[j];
        acc += (unsigned)strlen(info.name) + (unsigned)strlen(info.dtype_name);
    }
    pylstm_safetensors_metadata_count(st, &n);
    for (k = 0; k < n; k++) {
        if (pylstm_safetensors_metadata_entry(st, k, &key, &value) != PYLSTM_OK) return 0;
        acc += (unsigned)strlen(key) + (unsigned)strlen(value);
    }
    return acc;
}

/* ---- valid files ------------------------------------------------------ */

static const char valid_header[] =
    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"__metadata__\":{\"format\":\"pt\",\"k\\u00e9\":\"v\\\"q\\\\\"},"
    "\"b\":{\"shape\":[2],\"data_offsets\":[24,40],\"dtype\":\"F64\"},"
    "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]}}";

static file_buf valid_file(void) {
    unsigned char data[44];
    float w[6] = {1, 2, 3, 4, 5, 6}, s = 7.5f;
    double b[2] = {-1.25, 1e300};
    memcpy(data, w, 24);
    memcpy(data + 24, b, 16);
    memcpy(data + 40, &s, 4);
    return make(valid_header, data, sizeof data);
}

static int little_endian(void) {
    unsigned x = 1;
    return *(unsigned char *)&x == 1;
}

static void test_valid(void) {
    file_buf f = valid_file();
    pylstm_safetensors *st = NULL;
    pylstm_safetensors_info info;
    size_t n = 99, idx = 99;
    const char *v, *key;
    float w[6], s;
    double b[2];
    pylstm_status rc = parse_buf(f, &st);
    CHECK(rc == PYLSTM_OK && st, "valid file: status %d", (int)rc);
    if (!st) {
        free(f.p);
        return;
    }
    memset(f.p, 0xAB, f.len); /* the reader must have copied */
    CHECK(pylstm_safetensors_count(st, &n) == PYLSTM_OK && n == 3, "count %zu", n);
    CHECK(pylstm_safetensors_tensor(st, 0, &info) == PYLSTM_OK, "tensor 0");
    CHECK(strcmp(info.name, "w") == 0 && info.dtype == PYLSTM_ST_F32 &&
              strcmp(info.dtype_name, "F32") == 0 && info.element_bits == 32 && info.ndim == 2 &&
              info.shape[0] == 2 && info.shape[1] == 3 && info.shape[2] == 0 &&
              info.offset == 0 && info.nbytes == 24,
          "tensor 0 info");
    memcpy(w, info.data, 24);
    if (little_endian()) CHECK(w[0] == 1 && w[5] == 6, "tensor 0 data");
    CHECK(pylstm_safetensors_tensor(st, 1, &info) == PYLSTM_OK && strcmp(info.name, "b") == 0 &&
              info.dtype == PYLSTM_ST_F64 && info.ndim == 1 && info.shape[0] == 2 &&
              info.offset == 24 && info.nbytes == 16,
          "tensor 1 info");
    memcpy(b, info.data, 16);
    if (little_endian()) CHECK(b[0] == -1.25 && b[1] == 1e300, "tensor 1 data");
    CHECK(pylstm_safetensors_tensor(st, 2, &info) == PYLSTM_OK && strcmp(info.name, "s") == 0 &&
              info.ndim == 0 && info.nbytes == 4,
          "scalar info");
    memcpy(&s, info.data, 4);
    if (little_endian()) CHECK(s == 7.5f, "scalar data");
    CHECK(pylstm_safetensors_tensor(st, 3, &info) == PYLSTM_ERR_NOT_FOUND, "index 3");
    CHECK(pylstm_safetensors_find(st, "b", &idx) == PYLSTM_OK && idx == 1, "find b");
    CHECK(pylstm_safetensors_find(st, "s", &idx) == PYLSTM_OK && idx == 2, "find s");
    CHECK(pylstm_safetensors_find(st, "w", &idx) == PYLSTM_OK && idx == 0, "find w");
    idx = 42;
    CHECK(pylstm_safetensors_find(st, "x", &idx) == PYLSTM_ERR_NOT_FOUND && idx == 42,
          "find missing");
    CHECK(pylstm_safetensors_find(st, "__metadata__", &idx) == PYLSTM_ERR_NOT_FOUND,
          "metadata is no tensor");
    CHECK(pylstm_safetensors_metadata(st, "format", &v) == PYLSTM_OK && strcmp(v, "pt") == 0,
          "metadata format");
    CHECK(pylstm_safetensors_metadata(st, "k\xc3\xa9", &v) == PYLSTM_OK &&
              strcmp(v, "v\"q\\") == 0,
          "metadata escapes");
    CHECK(pylstm_safetensors_metadata(st, "nope", &v) == PYLSTM_ERR_NOT_FOUND && v == NULL,
          "metadata missing");
    CHECK(pylstm_safetensors_metadata_count(st, &n) == PYLSTM_OK && n == 2, "metadata count");
    CHECK(pylstm_safetensors_metadata_entry(st, 0, &key, &v) == PYLSTM_OK &&
              strcmp(key, "format") == 0 && strcmp(v, "pt") == 0,
          "metadata entry 0");
    CHECK(pylstm_safetensors_metadata_entry(st, 2, &key, &v) == PYLSTM_ERR_NOT_FOUND,
          "metadata entry 2");
    /* NULL arguments */
    CHECK(pylstm_safetensors_count(NULL, &n) == PYLSTM_ERR_NULL_POINTER, "count NULL");
    CHECK(pylstm_safetensors_count(st, NULL) == PYLSTM_ERR_NULL_POINTER, "count NULL out");
    CHECK(pylstm_safetensors_tensor(st, 0, NULL) == PYLSTM_ERR_NULL_POINTER, "tensor NULL");
    CHECK(pylstm_safetensors_find(st, NULL, &idx) == PYLSTM_ERR_NULL_POINTER, "find NULL");
    CHECK(pylstm_safetensors_metadata(NULL, "a", &v) == PYLSTM_ERR_NULL_POINTER, "meta NULL");
    CHECK(pylstm_safetensors_metadata_entry(st, 0, NULL, &v) == PYLSTM_ERR_NULL_POINTER,
          "meta entry NULL");
    pylstm_safetensors_free(st);
    pylstm_safetensors_free(NULL);
    free(f.p);

    CHECK(pylstm_safetensors_parse(NULL, 0, &st) == PYLSTM_ERR_FORMAT && st == NULL, "empty");
    CHECK(pylstm_safetensors_parse(NULL, 5, &st) == PYLSTM_ERR_NULL_POINTER, "NULL bytes");
    CHECK(pylstm_safetensors_parse("x", 1, NULL) == PYLSTM_ERR_NULL_POINTER, "NULL out");
}

static void test_valid_variants(void) {
    pylstm_safetensors *st = NULL;
    pylstm_safetensors_info info;
    size_t n;
    file_buf f;
    GOOD("empty object", "{}", 0);
    GOOD("white space inside", "{ \"a\" : { \"dtype\" : \"U8\" ,\n\t\"shape\" : [ 2 ] ,"
                               " \"data_offsets\" : [ 0 , 2 ] } }",
         2);
    GOOD("space padding", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}     ",
         1);
    GOOD("metadata only", "{\"__metadata__\":{}}", 0);
    GOOD("metadata last", "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                          "\"__metadata__\":{\"x\":\"\"}}",
         8);
    GOOD("reverse offset order",
         "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]},"
         "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
         8);
    GOOD("empty tensors share offsets",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"c\":{\"dtype\":\"F64\",\"shape\":[5,0],\"data_offsets\":[4,4]}}",
         4);
    GOOD("zero times huge dim",
         "{\"a\":{\"dtype\":\"F64\",\"shape\":[0,18446744073709551615],\"data_offsets\":[0,0]}}", 0);
    GOOD("F4 pair", "{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1);
    GOOD("8 dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}",
         2);
    GOOD("every dtype name",
         "{\"a\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"b\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[1,2]},"
         "\"c\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[2,4]},"
         "\"d\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[4,6]},"
         "\"e\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[6,10]},"
         "\"f\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[10,14]},"
         "\"g\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[14,22]},"
         "\"h\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[22,30]},"
         "\"i\":{\"dtype\":\"F8_E5M2\",\"shape\":[1],\"data_offsets\":[30,31]},"
         "\"j\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[31,32]},"
         "\"k\":{\"dtype\":\"F8_E8M0\",\"shape\":[1],\"data_offsets\":[32,33]},"
         "\"l\":{\"dtype\":\"F8_E4M3FNUZ\",\"shape\":[1],\"data_offsets\":[33,34]},"
         "\"m\":{\"dtype\":\"F8_E5M2FNUZ\",\"shape\":[1],\"data_offsets\":[34,35]},"
         "\"n\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[35,38]},"
         "\"o\":{\"dtype\":\"F6_E3M2\",\"shape\":[4],\"data_offsets\":[38,41]}}",
         41);

    /* strings: escapes, surrogate pairs and raw UTF-8 decode to the same bytes */
    f = make("{\"a\\u00e9\\ud83d\\ude00\\n\\t\\/\\b\\f\\r\xc3\xa9\xf0\x9f\x98\x80\":"
             "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
             "z", 1);
    CHECK(parse_buf(f, &st) == PYLSTM_OK, "escapes parse");
    if (st) {
        CHECK(pylstm_safetensors_tensor(st, 0, &info) == PYLSTM_OK &&
                  strcmp(info.name, "a\xc3\xa9\xf0\x9f\x98\x80\n\t/\b\f\r\xc3\xa9\xf0\x9f\x98\x80") ==
                      0,
              "escapes decode");
        CHECK(pylstm_safetensors_find(st, info.name, &n) == PYLSTM_OK && n == 0, "find escaped");
    }
    pylstm_safetensors_free(st);
    free(f.p);

    /* a header length that counts trailing spaces padding to 8 bytes */
    f = make("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", "zz", 2);
    CHECK(parse_buf(f, &st) == PYLSTM_ERR_FORMAT && st == NULL, "F4 x3 is 12 bits");
    free(f.p);
}

/* ---- hostile files ---------------------------------------------------- */

static void test_truncations(void) {
    file_buf f = valid_file();
    size_t cut;
    int bad = 0;
    for (cut = 0; cut < f.len; cut++) {
        pylstm_safetensors *st = NULL;
        unsigned char *copy = (unsigned char *)malloc(cut ? cut : 1);
        pylstm_status rc;
        memcpy(copy, f.p, cut);
        rc = pylstm_safetensors_parse(copy, cut, &st);
        if (rc != PYLSTM_ERR_FORMAT || st != NULL) {
            if (bad++ < 5) printf("FAIL truncation to %zu bytes: status %d\n", cut, (int)rc);
        }
        pylstm_safetensors_free(st);
        free(copy);
    }
    CHECK(bad == 0, "%d truncations not rejected", bad);
    free(f.p);
}

static void test_header_lengths(void) {
    static const char h[] = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    size_t hl = strlen(h);
    unsigned long long lies[] = {0,
                                 1,
                                 hl - 1,
                                 hl + 1,
                                 hl + 2,
                                 100000000ull,
                                 100000001ull,
                                 0xFFFFFFFFull,
                                 0x100000000ull + hl,
                                 0x7FFFFFFFFFFFFFFFull,
                                 0xFFFFFFFFFFFFFFFFull,
                                 0xFFFFFFFFFFFFFFF8ull};
    size_t k;
    for (k = 0; k < sizeof lies / sizeof lies[0]; k++) {
        file_buf f = make_raw(lies[k], h, hl, "z", 1);
        pylstm_safetensors *st = NULL;
        pylstm_status rc = parse_buf(f, &st);
        CHECK(rc == PYLSTM_ERR_FORMAT && !st, "header length %llu: status %d", lies[k], (int)rc);
        pylstm_safetensors_free(st);
        free(f.p);
    }
}

#define T1(body) "{\"a\":{" body "}}"
#define OK_T "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"

static void test_bad_json(void) {
    GOOD("baseline", T1(OK_T), 4);
    BAD("empty header", "", 4);
    BAD("leading space", " " T1(OK_T), 4);
    BAD("trailing garbage", T1(OK_T) "x", 4);
    BAD("two objects", T1(OK_T) "{}", 4);
    BAD("control character padding", T1(OK_T) "\t\n\r \x01", 4);
    BAD("top-level array", "[]", 0);
    BAD("top-level null", "null", 0);
    BAD("unterminated object", "{\"a\":{" OK_T "}", 4);
    BAD("missing colon", "{\"a\"{" OK_T "}}", 4);
    BAD("trailing comma", "{\"a\":{" OK_T "},}", 4);
    BAD("trailing comma inner", T1(OK_T ","), 4);
    BAD("single quotes", "{'a':{" OK_T "}}", 4);
    BAD("unquoted key", "{a:{" OK_T "}}", 4);
    BAD("unterminated string", "{\"a", 0);
    BAD("control char in string", "{\"a\x01\":{" OK_T "}}", 4);
    BAD("newline in string", "{\"a\n\":{" OK_T "}}", 4);
    BAD("bad escape", "{\"a\\x\":{" OK_T "}}", 4);
    BAD("escape at end", "{\"a\\", 0);
    BAD("short \\u", "{\"a\\u00e\":{" OK_T "}}", 4);
    BAD("bad hex", "{\"a\\u00g0\":{" OK_T "}}", 4);
    BAD("\\u0000", "{\"a\\u0000\":{" OK_T "}}", 4);
    BAD("lone high surrogate", "{\"a\\ud800\":{" OK_T "}}", 4);
    BAD("high + non-low", "{\"a\\ud800\\u0041\":{" OK_T "}}", 4);
    BAD("high + high", "{\"a\\ud800\\ud800\":{" OK_T "}}", 4);
    BAD("lone low surrogate", "{\"a\\udc00\":{" OK_T "}}", 4);
    BAD("high at end", "{\"a\\ud83d", 0);
    BAD("tensor is a number", "{\"a\":4}", 4);
    BAD("tensor is a string", "{\"a\":\"F32\"}", 4);
    BAD("tensor is an array", "{\"a\":[]}", 4);
    BAD("tensor is null", "{\"a\":null}", 4);
    BAD("empty tensor object", "{\"a\":{}}", 0);
    BAD("missing dtype", T1("\"shape\":[1],\"data_offsets\":[0,4]"), 4);
    BAD("missing shape", T1("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4);
    BAD("missing offsets", T1("\"dtype\":\"F32\",\"shape\":[1]"), 4);
    BAD("extra key", T1(OK_T ",\"x\":1"), 4);
    BAD("repeated key", T1(OK_T ",\"dtype\":\"F32\""), 4);
    BAD("unknown dtype", T1("\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]"), 4);
    BAD("lowercase dtype", T1("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4);
    BAD("dtype number", T1("\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]"), 4);
    BAD("negative dim", T1("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4);
    BAD("float dim", T1("\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]"), 4);
    BAD("exponent dim", T1("\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]"), 4);
    BAD("leading zero", T1("\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]"), 4);
    BAD("plus sign", T1("\"dtype\":\"F32\",\"shape\":[+1],\"data_offsets\":[0,4]"), 4);
    BAD("dim overflows u64",
        T1("\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,4]"), 4);
    BAD("offset overflows u64",
        T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]"), 4);
    BAD("shape not an array", T1("\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]"), 4);
    BAD("nested shape", T1("\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]"), 4);
    BAD("shape trailing comma", T1("\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]"), 4);
    BAD("shape unclosed", T1("\"dtype\":\"F32\",\"shape\":[1,\"data_offsets\":[0,4]"), 4);
    BAD("9 dims",
        T1("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"), 1);
    BAD("one offset", T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]"), 4);
    BAD("three offsets", T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]"), 4);
    BAD("no offsets", T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[]"), 4);
    BAD("metadata value number", "{\"__metadata__\":{\"a\":1}}", 0);
    BAD("metadata value object", "{\"__metadata__\":{\"a\":{}}}", 0);
    BAD("metadata is a string", "{\"__metadata__\":\"a\"}", 0);
    BAD("metadata null", "{\"__metadata__\":null}", 0);
    BAD("metadata duplicate key", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0);
    BAD("metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0);
    BAD("duplicate tensor",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        2);
    BAD("duplicate tensor via escape",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"\\u0061\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        2);
}

static void test_bad_utf8(void) {
    BAD("0xFF", "{\"a\xff\":{" OK_T "}}", 4);
    BAD("continuation alone", "{\"a\x80\":{" OK_T "}}", 4);
    BAD("overlong NUL", "{\"a\xc0\x80\":{" OK_T "}}", 4);
    BAD("overlong 3-byte", "{\"a\xe0\x80\xaf\":{" OK_T "}}", 4);
    BAD("UTF-8 surrogate", "{\"a\xed\xa0\x80\":{" OK_T "}}", 4);
    BAD("above U+10FFFF", "{\"a\xf4\x90\x80\x80\":{" OK_T "}}", 4);
    BAD("F5 lead", "{\"a\xf5\x80\x80\x80\":{" OK_T "}}", 4);
    BAD("truncated sequence", "{\"a\xe2\x82\":{" OK_T "}}", 4);
    BAD("sequence cut by end", "{\"a\xe2", 0);
    BAD("non-ASCII outside strings", "{\"a\":{" OK_T "}\xc3\xa9}", 4);
}

static void test_nesting(void) {
    size_t depth = 100000, k;
    char *h = (char *)malloc(2 * depth + 16);
    size_t n = 0;
    memcpy(h, "{\"a\":", 5);
    n = 5;
    for (k = 0; k < depth; k++) h[n++] = '[';
    for (k = 0; k < depth; k++) h[n++] = ']';
    h[n++] = '}';
    h[n] = '\0';
    BAD("deep arrays", h, 0);
    n = 0;
    for (k = 0; k < depth; k++) {
        memcpy(h + n, "{\"a\":", 5);
        n += 5;
        if (n > depth) break;
    }
    h[n] = '\0';
    BAD("deep objects", h, 0);
    strcpy(h, "{\"__metadata__\":{\"a\":{\"b\":{\"c\":\"d\"}}}}");
    BAD("nested metadata", h, 0);
    free(h);
}

static void test_bad_offsets(void) {
    BAD("begin > end", T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]"), 4);
    BAD("end past data", T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 3);
    BAD("hole at the start", T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]"), 8);
    BAD("hole at the end", T1(OK_T), 5);
    BAD("size too small", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 4);
    BAD("size too large", T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]"), 8);
    BAD("huge end", T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551611,"
                       "18446744073709551615]"),
        4);
    BAD("overlap",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        12);
    BAD("same range twice",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        4);
    BAD("hole between",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
        12);
    BAD("shape product overflows",
        T1("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
           "\"data_offsets\":[0,0]"),
        0);
    BAD("shape product wraps to the size",
        T1("\"dtype\":\"U8\",\"shape\":[4294967297,4294967297],\"data_offsets\":[0,8589934593]"),
        0);
    BAD("bits overflow", T1("\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
                            "\"data_offsets\":[0,0]"),
        0);
    BAD("bits overflow to exact 0",
        T1("\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]"), 0);
}

/* Random byte flips, insertions of structural characters and cut lengths of
 * the valid file: whatever happens must be OK or FORMAT, and every pointer
 * handed out must stay inside the reader's memory. */
static void test_mutations(void) {
    static const char specials[] = "{}[]\",:\\u0123456789 \x00\xff\x80";
    file_buf f = valid_file();
    unsigned long long rng;
    int bad = 0, ok = 0, k;
    rng_state = 0x2545F4914F6CDD1Dull; /* this test's own seed: the same mutations */
    for (k = 0; k < 20000; k++) {
        unsigned char *m = (unsigned char *)malloc(f.len);
        size_t len = f.len, flips, j;
        pylstm_safetensors *st = NULL;
        pylstm_status rc;
        memcpy(m, f.p, f.len);
        rng = next_u64();
        flips = 1 + (size_t)(rng % 4);
        for (j = 0; j < flips; j++) {
            size_t at;
            rng = next_u64();
            at = (size_t)(rng >> 8) % len;
            if (rng & 1) m[at] = (unsigned char)specials[(rng >> 40) % (sizeof specials - 1)];
            else m[at] ^= (unsigned char)(1u << ((rng >> 3) & 7));
        }
        if ((rng >> 20) % 8 == 0) len = (size_t)(rng >> 24) % (f.len + 1);
        rc = pylstm_safetensors_parse(m, len, &st);
        if (rc == PYLSTM_OK) {
            ok++;
            (void)touch_all(st);
        } else if (rc != PYLSTM_ERR_FORMAT || st) {
            if (bad++ < 5) printf("FAIL mutation %d: status %d\n", k, (int)rc);
        }
        pylstm_safetensors_free(st);
        free(m);
    }
    CHECK(bad == 0, "%d mutations gave an unexpected status (%d parsed)", bad, ok);
    free(f.p);
}

static void test_open(void) {
    const char *paths[] = {"build/test_safetensors.tmp", "test_safetensors.tmp"};
    const char *path = NULL;
    pylstm_safetensors *st = NULL;
    file_buf f = valid_file();
    size_t k, n = 0;
    for (k = 0; k < 2 && !path; k++) {
        FILE *fp = fopen(paths[k], "wb");
        if (fp) {
            if (fwrite(f.p, 1, f.len, fp) == f.len) path = paths[k];
            fclose(fp);
        }
    }
    CHECK(path != NULL, "could not write a temporary file");
    if (path) {
        pylstm_status rc = pylstm_safetensors_open(path, &st);
        CHECK(rc == PYLSTM_OK && st && pylstm_safetensors_count(st, &n) == PYLSTM_OK && n == 3,
              "open a valid file: status %d", (int)rc);
        CHECK(touch_all(st) != 0, "touch opened file");
        pylstm_safetensors_free(st);
        remove(path);
    }
    st = (pylstm_safetensors *)&n; /* must be reset to NULL on error */
    CHECK(pylstm_safetensors_open("no/such/dir/file.safetensors", &st) == PYLSTM_ERR_IO &&
              st == NULL,
          "missing file is an I/O error");
    CHECK(pylstm_safetensors_open(".", &st) == PYLSTM_ERR_IO && st == NULL,
          "a directory is an I/O error");
#if defined(__unix__) || defined(__APPLE__)
    /* Not regular files: refused before reading, so neither an endless
     * device nor a FIFO without a writer can hang or exhaust the reader. */
    st = (pylstm_safetensors *)&n;
    CHECK(pylstm_safetensors_open("/dev/zero", &st) == PYLSTM_ERR_IO && st == NULL,
          "/dev/zero is refused before reading");
    if (mkfifo("test_safetensors_fifo.tmp", 0600) == 0) {
        st = (pylstm_safetensors *)&n;
        CHECK(pylstm_safetensors_open("test_safetensors_fifo.tmp", &st) == PYLSTM_ERR_IO &&
                  st == NULL,
              "a FIFO without a writer is refused without blocking");
        remove("test_safetensors_fifo.tmp");
    } else {
        CHECK(0, "could not make a FIFO");
    }
#endif
    CHECK(pylstm_safetensors_open(NULL, &st) == PYLSTM_ERR_NULL_POINTER, "NULL path");
    CHECK(pylstm_safetensors_open("x", NULL) == PYLSTM_ERR_NULL_POINTER, "NULL out");
    free(f.p);
}

/* A name with non-ASCII characters (e acute, the euro sign, a CJK
 * character): the file is created the platform's way (_wfopen on Windows,
 * the UTF-8 bytes elsewhere) and must open through its UTF-8 name, which
 * Windows' fopen would misread in the ANSI code page. */
#define NON_ASCII_NAME "test_safetensors_\xc3\xa9\xe2\x82\xac\xe6\xa8\xa1.tmp"
#if defined(_WIN32)
#define NON_ASCII_WIDE L"test_safetensors_\u00e9\u20ac\u6a21.tmp"
#endif

static void test_open_non_ascii_name(void) {
    pylstm_safetensors *st = NULL;
    file_buf f = valid_file();
    size_t n = 0;
    int written = 0;
    pylstm_status rc;
#if defined(_WIN32)
    FILE *fp = _wfopen(NON_ASCII_WIDE, L"wb");
#else
    FILE *fp = fopen(NON_ASCII_NAME, "wb");
#endif
    if (fp) {
        written = fwrite(f.p, 1, f.len, fp) == f.len;
        fclose(fp);
    }
    CHECK(written, "could not write a file with a non-ASCII name");
    if (written) {
        rc = pylstm_safetensors_open(NON_ASCII_NAME, &st);
        CHECK(rc == PYLSTM_OK && st && pylstm_safetensors_count(st, &n) == PYLSTM_OK && n == 3,
              "open a file with a non-ASCII UTF-8 name: status %d", (int)rc);
        pylstm_safetensors_free(st);
    }
#if defined(_WIN32)
    _wremove(NON_ASCII_WIDE);
#else
    remove(NON_ASCII_NAME);
#endif
    /* Not UTF-8 (a lone continuation byte): Windows rejects the name before
     * opening, elsewhere no such file exists. Either way an I/O error. */
    st = (pylstm_safetensors *)&n;
    rc = pylstm_safetensors_open("test_safetensors_\x80.tmp", &st);
    CHECK(rc == PYLSTM_ERR_IO && st == NULL, "a name that is not UTF-8: status %d", (int)rc);
    free(f.p);
}

int main(void) {
    test_valid();
    test_valid_variants();
    test_truncations();
    test_header_lengths();
    test_bad_json();
    test_bad_utf8();
    test_nesting();
    test_bad_offsets();
    test_mutations();
    test_open();
    test_open_non_ascii_name();
    return check_summary();
}
