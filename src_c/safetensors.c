/* The safetensors reader: the one file of the core that allocates memory and
 * touches files (see the section "safetensors reader" of pylstm.h for the
 * format and every check).
 *
 * The input is untrusted. Everything is checked before it is used:
 *  - the header length against the file size and PYLSTM_SAFETENSORS_MAX_HEADER;
 *  - the header by a small strict parser that accepts exactly the grammar the
 *    format uses (an object of tensor entries and one optional string map), so
 *    there is no recursion and no general JSON value to nest;
 *  - every number by an overflow-checked decimal conversion, every byte count
 *    by pylstm_mul_ok;
 *  - the tensors' byte ranges: sorted by offset they must tile the byte buffer
 *    with no gap and no overlap, as the reference implementation
 *    (safetensors/src/tensor.rs, Metadata::validate) requires.
 * All parsing happens on a private copy of the file, so no pointer handed out
 * can outlive or alias the caller's bytes.
 *
 * Opening a path, on POSIX systems only a regular file is read (opened
 * without blocking, so a FIFO cannot hang the caller, then checked with
 * fstat), and no more than its size: /dev/zero or a pipe cannot feed the
 * reader until memory runs out. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* open, fstat, read, close under -std=c99 */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>
#elif defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define ST_POSIX 1
#endif

/* One tensor entry: strings point into the object's string arena. */
typedef struct st_tensor {
    const char *name;
    pylstm_st_dtype dtype;
    size_t ndim;
    size_t shape[PYLSTM_SAFETENSORS_MAX_NDIM];
    size_t begin, end;
} st_tensor;

typedef struct st_meta {
    const char *key;
    const char *value;
} st_meta;

struct pylstm_safetensors {
    unsigned char *bytes;       /* the whole file */
    size_t len;
    const unsigned char *data;  /* the byte buffer: bytes + 8 + N */
    size_t data_len;
    char *strings;              /* decoded names, keys, values, each NUL-terminated */
    st_tensor *tensors;         /* header order */
    size_t n_tensors, cap_tensors;
    size_t *by_name;            /* tensor indices sorted by name, for find */
    st_meta *meta;              /* header order */
    size_t n_meta, cap_meta;
};

/* ---- dtypes ------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t bits;
} dtypes[] = {
    {"BOOL", 8},  {"U8", 8},       {"I8", 8},       {"U16", 16},         {"I16", 16},
    {"U32", 32},  {"I32", 32},     {"U64", 64},     {"I64", 64},         {"F16", 16},
    {"BF16", 16}, {"F32", 32},     {"F64", 64},     {"C64", 64},         {"F8_E5M2", 8},
    {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"F6_E2M3", 6},
    {"F6_E3M2", 6}, {"F4", 4},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

/* ---- the header parser ----------------------------------------------------
 * A cursor over the header's N bytes. Each function returns 1 on success and
 * 0 on any malformation (the caller turns 0 into PYLSTM_ERR_FORMAT), or sets
 * p->oom for an allocation failure. */

typedef struct parser {
    const unsigned char *s;
    size_t pos, len;
    char *arena; /* decoded strings; N + 1 bytes always suffice (see parse_string) */
    size_t arena_used;
    int oom;
} parser;

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Skips white space, then consumes `c` if it is next. */
static int eat(parser *p, unsigned char c) {
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == c) {
        p->pos++;
        return 1;
    }
    return 0;
}

static int hex4(parser *p, unsigned *out) {
    unsigned v = 0;
    size_t k;
    if (p->len - p->pos < 4) return 0;
    for (k = 0; k < 4; k++) {
        unsigned char c = p->s[p->pos++];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

/* Appends code point cp as UTF-8 (cp is a valid scalar value, > 0). */
static void put_utf8(parser *p, unsigned long cp) {
    char *o = p->arena + p->arena_used;
    if (cp < 0x80) {
        o[0] = (char)cp;
        p->arena_used += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        p->arena_used += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        p->arena_used += 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        p->arena_used += 4;
    }
}

/* Length (2..4) of the well-formed UTF-8 sequence at s[0..avail), or 0
 * (Unicode 15, table 3-7: no overlong forms, no surrogates, <= U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    size_t n, k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3;
    else if (c >= 0xF0 && c <= 0xF4) n = 4;
    else return 0;
    if (avail < n) return 0;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (s[1] < lo || s[1] > hi) return 0;
    for (k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF) return 0;
    return n;
}

/* Parses a JSON string at the cursor (after white space) into the arena and
 * returns its NUL-terminated decoded text in *out. The decoded text is never
 * longer than its JSON spelling and the quotes pay for the NUL, so all the
 * strings of a header fit in N + 1 bytes. NUL characters (\u0000) are
 * refused so every string can be handed out NUL-terminated. */
static int parse_string(parser *p, const char **out) {
    char *start;
    if (!eat(p, '"')) return 0;
    start = p->arena + p->arena_used;
    for (;;) {
        unsigned char c;
        if (p->pos >= p->len) return 0;
        c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) return 0; /* control characters must be escaped */
        if (c == '\\') {
            unsigned char e;
            p->pos++;
            if (p->pos >= p->len) return 0;
            e = p->s[p->pos++];
            switch (e) {
            case '"': p->arena[p->arena_used++] = '"'; break;
            case '\\': p->arena[p->arena_used++] = '\\'; break;
            case '/': p->arena[p->arena_used++] = '/'; break;
            case 'b': p->arena[p->arena_used++] = '\b'; break;
            case 'f': p->arena[p->arena_used++] = '\f'; break;
            case 'n': p->arena[p->arena_used++] = '\n'; break;
            case 'r': p->arena[p->arena_used++] = '\r'; break;
            case 't': p->arena[p->arena_used++] = '\t'; break;
            case 'u': {
                unsigned u, u2;
                unsigned long cp;
                if (!hex4(p, &u)) return 0;
                if (u >= 0xDC00 && u <= 0xDFFF) return 0; /* lone low surrogate */
                if (u >= 0xD800 && u <= 0xDBFF) {
                    /* a high surrogate must be followed by \u and a low one */
                    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return 0;
                    p->pos += 2;
                    if (!hex4(p, &u2) || u2 < 0xDC00 || u2 > 0xDFFF) return 0;
                    cp = 0x10000 + (((unsigned long)u - 0xD800) << 10) + (u2 - 0xDC00);
                } else {
                    cp = u;
                }
                if (cp == 0) return 0;
                put_utf8(p, cp); /* 12 spelled bytes -> 4, 6 -> <= 3 */
                break;
            }
            default: return 0;
            }
        } else if (c < 0x80) {
            p->arena[p->arena_used++] = (char)c;
            p->pos++;
        } else {
            size_t n = utf8_seq(p->s + p->pos, p->len - p->pos);
            if (n == 0) return 0;
            memcpy(p->arena + p->arena_used, p->s + p->pos, n);
            p->arena_used += n;
            p->pos += n;
        }
    }
    p->arena[p->arena_used++] = '\0';
    *out = start;
    return 1;
}

/* A non-negative decimal integer without sign, fraction, exponent or
 * leading zero (JSON's spelling of one) that fits in size_t. */
static int parse_size(parser *p, size_t *out) {
    size_t v = 0;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') return 0;
    if (p->s[p->pos] == '0') {
        p->pos++;
    } else {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            size_t d = (size_t)(p->s[p->pos] - '0');
            if (!pylstm_mul_ok(v, 10, &v) || !pylstm_add_ok(v, d, &v)) return 0;
            p->pos++;
        }
    }
    /* "1.5", "1e3", "01" are not integers of this grammar */
    if (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9')) return 0;
    }
    *out = v;
    return 1;
}

/* [n0, n1, ...] with at most `max` entries; their count in *n. */
static int parse_size_array(parser *p, size_t *vals, size_t max, size_t *n) {
    size_t k = 0;
    if (!eat(p, '[')) return 0;
    if (eat(p, ']')) {
        *n = 0;
        return 1;
    }
    for (;;) {
        if (k == max) return 0;
        if (!parse_size(p, &vals[k])) return 0;
        k++;
        if (eat(p, ']')) break;
        if (!eat(p, ',')) return 0;
    }
    *n = k;
    return 1;
}

static int push_tensor(pylstm_safetensors *f, parser *p, st_tensor **out) {
    if (f->n_tensors == f->cap_tensors) {
        size_t cap = f->cap_tensors ? f->cap_tensors * 2 : 16, bytes;
        st_tensor *t;
        if (!pylstm_mul_ok(cap, sizeof *t, &bytes)) {
            p->oom = 1;
            return 0;
        }
        t = (st_tensor *)realloc(f->tensors, bytes);
        if (!t) {
            p->oom = 1;
            return 0;
        }
        f->tensors = t;
        f->cap_tensors = cap;
    }
    *out = &f->tensors[f->n_tensors++];
    memset(*out, 0, sizeof **out);
    return 1;
}

static int push_meta(pylstm_safetensors *f, parser *p, const char *key, const char *value) {
    if (f->n_meta == f->cap_meta) {
        size_t cap = f->cap_meta ? f->cap_meta * 2 : 8, bytes;
        st_meta *m;
        if (!pylstm_mul_ok(cap, sizeof *m, &bytes)) {
            p->oom = 1;
            return 0;
        }
        m = (st_meta *)realloc(f->meta, bytes);
        if (!m) {
            p->oom = 1;
            return 0;
        }
        f->meta = m;
        f->cap_meta = cap;
    }
    f->meta[f->n_meta].key = key;
    f->meta[f->n_meta].value = value;
    f->n_meta++;
    return 1;
}

/* {"k": "v", ...}: strings only. Duplicate keys are found later. */
static int parse_metadata(pylstm_safetensors *f, parser *p) {
    if (!eat(p, '{')) return 0;
    if (eat(p, '}')) return 1;
    for (;;) {
        const char *key, *value;
        if (!parse_string(p, &key) || !eat(p, ':') || !parse_string(p, &value)) return 0;
        if (!push_meta(f, p, key, value)) return 0;
        if (eat(p, '}')) return 1;
        if (!eat(p, ',')) return 0;
    }
}

/* {"dtype": "...", "shape": [...], "data_offsets": [b, e]}: each key exactly
 * once, in any order, nothing else. */
static int parse_tensor(parser *p, st_tensor *t) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (!eat(p, '{')) return 0;
    for (;;) {
        const char *key;
        size_t mark = p->arena_used;
        if (!parse_string(p, &key) || !eat(p, ':')) return 0;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            const char *name;
            size_t k;
            if (!parse_string(p, &name)) return 0;
            for (k = 0; k < N_DTYPES; k++)
                if (strcmp(name, dtypes[k].name) == 0) break;
            if (k == N_DTYPES) return 0;
            t->dtype = (pylstm_st_dtype)k;
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!parse_size_array(p, t->shape, PYLSTM_SAFETENSORS_MAX_NDIM, &t->ndim)) return 0;
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            size_t off[2], n;
            if (!parse_size_array(p, off, 2, &n) || n != 2) return 0;
            t->begin = off[0];
            t->end = off[1];
            have_offsets = 1;
        } else {
            return 0; /* unknown or repeated key */
        }
        p->arena_used = mark; /* the entry's keys and dtype name are not kept */
        if (eat(p, '}')) break;
        if (!eat(p, ',')) return 0;
    }
    return have_dtype && have_shape && have_offsets;
}

static int parse_header(pylstm_safetensors *f, parser *p) {
    int have_meta = 0;
    /* The format requires the header to begin with '{' itself. */
    if (p->len == 0 || p->s[0] != '{') return 0;
    p->pos = 1;
    if (!eat(p, '}')) {
        for (;;) {
            const char *name;
            if (!parse_string(p, &name) || !eat(p, ':')) return 0;
            if (strcmp(name, "__metadata__") == 0) {
                if (have_meta) return 0;
                have_meta = 1;
                if (!parse_metadata(f, p)) return 0;
            } else {
                st_tensor *t;
                if (!push_tensor(f, p, &t)) return 0;
                t->name = name;
                if (!parse_tensor(p, t)) return 0;
            }
            if (eat(p, '}')) break;
            if (!eat(p, ',')) return 0;
        }
    }
    skip_ws(p); /* the spec pads with spaces; any JSON white space is harmless */
    return p->pos == p->len;
}

/* ---- checks after parsing --------------------------------------------- */

/* C99's qsort has no context argument, so each sort key is copied next to
 * the index it belongs to. */
typedef struct name_key {
    const char *name;
    size_t index;
} name_key;

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const name_key *)a)->name, ((const name_key *)b)->name);
}

typedef struct range_key {
    size_t begin, end;
} range_key;

static int cmp_range(const void *a, const void *b) {
    const range_key *x = (const range_key *)a, *y = (const range_key *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sizes, unique names, and the tiling of the byte buffer. */
static pylstm_status check_tensors(pylstm_safetensors *f) {
    size_t n = f->n_tensors, k, bytes, pos;
    name_key *names;
    range_key *ranges;
    for (k = 0; k < n; k++) {
        const st_tensor *t = &f->tensors[k];
        size_t elems = 1, bits, d;
        for (d = 0; d < t->ndim; d++)
            if (!pylstm_mul_ok(elems, t->shape[d], &elems)) return PYLSTM_ERR_FORMAT;
        if (!pylstm_mul_ok(elems, dtypes[t->dtype].bits, &bits)) return PYLSTM_ERR_FORMAT;
        if (bits % 8 != 0) return PYLSTM_ERR_FORMAT; /* sub-byte dtypes must fill whole bytes */
        if (t->begin > t->end || t->end > f->data_len || t->end - t->begin != bits / 8)
            return PYLSTM_ERR_FORMAT;
    }
    /* names: unique among tensors, and (separately) among metadata keys */
    if (n > 0) {
        if (!pylstm_mul_ok(n, sizeof *names, &bytes)) return PYLSTM_ERR_OUT_OF_MEMORY;
        names = (name_key *)malloc(bytes);
        if (!names) return PYLSTM_ERR_OUT_OF_MEMORY;
        for (k = 0; k < n; k++) {
            names[k].name = f->tensors[k].name;
            names[k].index = k;
        }
        qsort(names, n, sizeof *names, cmp_name);
        for (k = 1; k < n; k++) {
            if (strcmp(names[k - 1].name, names[k].name) == 0) {
                free(names);
                return PYLSTM_ERR_FORMAT;
            }
        }
        if (!pylstm_mul_ok(n, sizeof *f->by_name, &bytes)) {
            free(names);
            return PYLSTM_ERR_OUT_OF_MEMORY;
        }
        f->by_name = (size_t *)malloc(bytes);
        if (!f->by_name) {
            free(names);
            return PYLSTM_ERR_OUT_OF_MEMORY;
        }
        for (k = 0; k < n; k++) f->by_name[k] = names[k].index;
        free(names);
    }
    if (f->n_meta > 1) {
        if (!pylstm_mul_ok(f->n_meta, sizeof *names, &bytes)) return PYLSTM_ERR_OUT_OF_MEMORY;
        names = (name_key *)malloc(bytes);
        if (!names) return PYLSTM_ERR_OUT_OF_MEMORY;
        for (k = 0; k < f->n_meta; k++) {
            names[k].name = f->meta[k].key;
            names[k].index = k;
        }
        qsort(names, f->n_meta, sizeof *names, cmp_name);
        for (k = 1; k < f->n_meta; k++) {
            if (strcmp(names[k - 1].name, names[k].name) == 0) {
                free(names);
                return PYLSTM_ERR_FORMAT;
            }
        }
        free(names);
    }
    /* Sorted by offset, each range starts where the last ended and the last
     * ends at the buffer's end: no overlap (two tensors sharing bytes), no
     * hole (bytes no tensor accounts for, the reference's anti-polyglot rule). */
    pos = 0;
    if (n > 0) {
        if (!pylstm_mul_ok(n, sizeof *ranges, &bytes)) return PYLSTM_ERR_OUT_OF_MEMORY;
        ranges = (range_key *)malloc(bytes);
        if (!ranges) return PYLSTM_ERR_OUT_OF_MEMORY;
        for (k = 0; k < n; k++) {
            ranges[k].begin = f->tensors[k].begin;
            ranges[k].end = f->tensors[k].end;
        }
        qsort(ranges, n, sizeof *ranges, cmp_range);
        for (k = 0; k < n; k++) {
            if (ranges[k].begin != pos) {
                free(ranges);
                return PYLSTM_ERR_FORMAT;
            }
            pos = ranges[k].end;
        }
        free(ranges);
    }
    return pos == f->data_len ? PYLSTM_OK : PYLSTM_ERR_FORMAT;
}

/* ---- construction ------------------------------------------------------ */

void pylstm_safetensors_free(pylstm_safetensors *file) {
    if (!file) return;
    free(file->bytes);
    free(file->strings);
    free(file->tensors);
    free(file->by_name);
    free(file->meta);
    free(file);
}

/* Parses `bytes` (malloc'd, len bytes), taking ownership of it whatever the
 * outcome. */
static pylstm_status parse_owned(unsigned char *bytes, size_t len, pylstm_safetensors **out) {
    pylstm_safetensors *f;
    parser p;
    unsigned long long n64 = 0;
    size_t n, k;
    pylstm_status st;
    *out = NULL;
    if (len < 8) {
        free(bytes);
        return PYLSTM_ERR_FORMAT;
    }
    for (k = 0; k < 8; k++) n64 |= (unsigned long long)bytes[k] << (8 * k);
    if (n64 > PYLSTM_SAFETENSORS_MAX_HEADER || n64 > len - 8) {
        free(bytes);
        return PYLSTM_ERR_FORMAT;
    }
    n = (size_t)n64;
    f = (pylstm_safetensors *)calloc(1, sizeof *f);
    if (!f) {
        free(bytes);
        return PYLSTM_ERR_OUT_OF_MEMORY;
    }
    f->bytes = bytes;
    f->len = len;
    f->data = bytes + 8 + n;
    f->data_len = len - 8 - n;
    f->strings = (char *)malloc(n + 1);
    if (!f->strings) {
        pylstm_safetensors_free(f);
        return PYLSTM_ERR_OUT_OF_MEMORY;
    }
    p.s = bytes + 8;
    p.pos = 0;
    p.len = n;
    p.arena = f->strings;
    p.arena_used = 0;
    p.oom = 0;
    if (!parse_header(f, &p)) {
        st = p.oom ? PYLSTM_ERR_OUT_OF_MEMORY : PYLSTM_ERR_FORMAT;
        pylstm_safetensors_free(f);
        return st;
    }
    st = check_tensors(f);
    if (st != PYLSTM_OK) {
        pylstm_safetensors_free(f);
        return st;
    }
    *out = f;
    return PYLSTM_OK;
}

pylstm_status pylstm_safetensors_parse(const void *bytes, size_t len, pylstm_safetensors **out) {
    unsigned char *copy;
    if (!out) return PYLSTM_ERR_NULL_POINTER;
    *out = NULL;
    if (!bytes && len) return PYLSTM_ERR_NULL_POINTER;
    if (len < 8) return PYLSTM_ERR_FORMAT;
    copy = (unsigned char *)malloc(len);
    if (!copy) return PYLSTM_ERR_OUT_OF_MEMORY;
    memcpy(copy, bytes, len);
    return parse_owned(copy, len, out);
}

#if !defined(ST_POSIX)
/* fopen(path, "rb") for a UTF-8 path. Windows' fopen reads the name in the
 * ANSI code page, so there the name becomes UTF-16 for _wfopen; elsewhere
 * the bytes go to fopen unchanged. On failure *fp is NULL, errno says why
 * (EILSEQ for a name that is not UTF-8) and the status is PYLSTM_ERR_IO, or
 * PYLSTM_ERR_OUT_OF_MEMORY. */
static pylstm_status open_utf8(const char *path, FILE **fp) {
#if defined(_WIN32)
    wchar_t *wide;
    int n, saved;
    *fp = NULL;
    n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
    if (n <= 0) {
        errno = EILSEQ;
        return PYLSTM_ERR_IO;
    }
    wide = (wchar_t *)malloc((size_t)n * sizeof *wide);
    if (!wide) return PYLSTM_ERR_OUT_OF_MEMORY;
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, wide, n);
    *fp = _wfopen(wide, L"rb");
    saved = errno; /* _wfopen's reason, kept across free */
    free(wide);
    errno = saved;
#else
    *fp = fopen(path, "rb");
#endif
    return *fp ? PYLSTM_OK : PYLSTM_ERR_IO;
}
#endif

#if defined(ST_POSIX)
/* The bytes of the regular file at path, at most its size when opened, into
 * a new buffer (*buf, *len). Anything but a regular file is PYLSTM_ERR_IO
 * before a byte is read: errno EISDIR for a directory, EINVAL for a FIFO, a
 * device or a socket. */
static pylstm_status read_regular(const char *path, unsigned char **buf, size_t *len) {
    struct stat sb;
    size_t size, got = 0;
    int saved, fd = open(path, O_RDONLY | O_NONBLOCK);
    *buf = NULL;
    *len = 0;
    if (fd < 0) return PYLSTM_ERR_IO;
    if (fstat(fd, &sb) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return PYLSTM_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        errno = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        return PYLSTM_ERR_IO;
    }
    if (sb.st_size < 0 ||
        (unsigned long long)(size_t)sb.st_size != (unsigned long long)sb.st_size) {
        close(fd);
        return PYLSTM_ERR_OUT_OF_MEMORY;
    }
    size = (size_t)sb.st_size;
    *buf = (unsigned char *)malloc(size ? size : 1);
    if (!*buf) {
        close(fd);
        return PYLSTM_ERR_OUT_OF_MEMORY;
    }
    while (got < size) { /* a file that grows meanwhile is read to its first size */
        size_t want = size - got < 1u << 30 ? size - got : 1u << 30;
        ssize_t n = read(fd, *buf + got, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            saved = errno;
            free(*buf);
            *buf = NULL;
            close(fd);
            errno = saved;
            return PYLSTM_ERR_IO;
        }
        if (n == 0) break; /* it shrank: the parser refuses what is missing */
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return PYLSTM_OK;
}
#endif

pylstm_status pylstm_safetensors_open(const char *path, pylstm_safetensors **out) {
    unsigned char *buf = NULL;
    size_t len = 0;
    pylstm_status st;
#if !defined(ST_POSIX)
    FILE *fp;
    size_t cap = 0;
#endif
    if (!out) return PYLSTM_ERR_NULL_POINTER;
    *out = NULL;
    if (!path) return PYLSTM_ERR_NULL_POINTER;
#if defined(ST_POSIX)
    st = read_regular(path, &buf, &len);
    if (st != PYLSTM_OK) return st;
#else
    st = open_utf8(path, &fp);
    if (st != PYLSTM_OK) return st;
    /* Read to end of file in doubling chunks: no fseek/ftell, whose long is
     * 32 bits on Windows. */
    for (;;) {
        size_t got, want;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *nb;
            if (ncap < cap) {
                free(buf);
                fclose(fp);
                return PYLSTM_ERR_OUT_OF_MEMORY;
            }
            nb = (unsigned char *)realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return PYLSTM_ERR_OUT_OF_MEMORY;
            }
            buf = nb;
            cap = ncap;
        }
        want = cap - len;
        got = fread(buf + len, 1, want, fp);
        len += got;
        if (got < want) { /* end of file or a read error */
            if (ferror(fp)) {
                free(buf);
                fclose(fp);
                return PYLSTM_ERR_IO;
            }
            break;
        }
    }
    fclose(fp);
#endif
    return parse_owned(buf, len, out);
}

/* ---- queries ------------------------------------------------------------ */

pylstm_status pylstm_safetensors_count(const pylstm_safetensors *file, size_t *count) {
    if (!file || !count) return PYLSTM_ERR_NULL_POINTER;
    *count = file->n_tensors;
    return PYLSTM_OK;
}

pylstm_status pylstm_safetensors_tensor(const pylstm_safetensors *file, size_t index,
                                        pylstm_safetensors_info *info) {
    const st_tensor *t;
    size_t d;
    if (!file || !info) return PYLSTM_ERR_NULL_POINTER;
    if (index >= file->n_tensors) return PYLSTM_ERR_NOT_FOUND;
    t = &file->tensors[index];
    info->name = t->name;
    info->dtype = t->dtype;
    info->dtype_name = dtypes[t->dtype].name;
    info->element_bits = dtypes[t->dtype].bits;
    info->ndim = t->ndim;
    for (d = 0; d < PYLSTM_SAFETENSORS_MAX_NDIM; d++) info->shape[d] = d < t->ndim ? t->shape[d] : 0;
    info->offset = t->begin;
    info->nbytes = t->end - t->begin;
    info->data = file->data + t->begin;
    return PYLSTM_OK;
}

pylstm_status pylstm_safetensors_find(const pylstm_safetensors *file, const char *name,
                                      size_t *index) {
    size_t lo = 0, hi;
    if (!file || !name || !index) return PYLSTM_ERR_NULL_POINTER;
    hi = file->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(file->tensors[file->by_name[mid]].name, name);
        if (c == 0) {
            *index = file->by_name[mid];
            return PYLSTM_OK;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return PYLSTM_ERR_NOT_FOUND;
}

pylstm_status pylstm_safetensors_metadata(const pylstm_safetensors *file, const char *key,
                                          const char **value) {
    size_t k;
    if (!value) return PYLSTM_ERR_NULL_POINTER;
    *value = NULL;
    if (!file || !key) return PYLSTM_ERR_NULL_POINTER;
    /* Metadata maps are a handful of entries: a linear scan. */
    for (k = 0; k < file->n_meta; k++) {
        if (strcmp(file->meta[k].key, key) == 0) {
            *value = file->meta[k].value;
            return PYLSTM_OK;
        }
    }
    return PYLSTM_ERR_NOT_FOUND;
}

pylstm_status pylstm_safetensors_metadata_count(const pylstm_safetensors *file, size_t *count) {
    if (!file || !count) return PYLSTM_ERR_NULL_POINTER;
    *count = file->n_meta;
    return PYLSTM_OK;
}

pylstm_status pylstm_safetensors_metadata_entry(const pylstm_safetensors *file, size_t index,
                                                const char **key, const char **value) {
    if (!file || !key || !value) return PYLSTM_ERR_NULL_POINTER;
    if (index >= file->n_meta) return PYLSTM_ERR_NOT_FOUND;
    *key = file->meta[index].key;
    *value = file->meta[index].value;
    return PYLSTM_OK;
}
