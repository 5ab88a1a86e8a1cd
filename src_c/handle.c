/* The model handle (pylstm_model_* in pylstm.h): a whole torch.nn.LSTM whose
 * parameters the library owns, loaded from a safetensors file or copied from
 * caller weights, with its weights packed once for runs and streams. Besides
 * safetensors.c this is the only file of the core that allocates.
 *
 * A handle is one malloc'd struct plus four blocks, all made at creation and
 * never written again (so any number of threads may read it):
 *   entries  the parameter table in torch's state-dict order: name, shape and
 *            offset of every tensor;
 *   values   every parameter, contiguous, host byte order, in that order;
 *            weights[l*D + d] (pylstm_weights_*) point into it;
 *   prep     the weights packed for pylstm_model_forward_prep_* (model.h), so
 *            a run does not repack them;
 *   packed   for a unidirectional model, the pylstm_stream_pack_* buffer that
 *            every stream opened on the handle steps from.
 *
 * Loading treats the file as untrusted. safetensors.c checks the container;
 * here the configuration comes from pylstm.save's "pylstm" metadata (a flat
 * JSON object, read by the small strict reader below) or is inferred from the
 * tensor names as pylstm/io.py's _infer does. Every count and shape is then
 * compared with the tensors present before anything the configuration sizes
 * is allocated: the number of tensors a configuration implies is computed
 * without a loop over num_layers and compared with the file's count first
 * (so the parameter table, one entry per tensor present, is the only earlier
 * allocation), and the values, prepared and packed blocks are only allocated
 * once every tensor matched its expected shape, so their sizes are bounded by
 * the file's own size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define N_KINDS 5 /* W_ih, W_hh, b_ih, b_hh, W_hr: the members of pylstm_weights_* */
#define NAME_MAX_LEN 48 /* "weight_hr_l" + 20 digits + "_reverse" + NUL = 40 */

static const char *const kind_names[N_KINDS] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                                "weight_hr"};

typedef struct param_entry {
    char name[NAME_MAX_LEN];
    size_t rows, cols;  /* cols 0: a 1-D tensor (a bias) of `rows` elements */
    size_t offset;      /* in elements, into values */
    size_t group, kind; /* weights[group], member kind_names[kind] */
} param_entry;

struct pylstm_model {
    pylstm_model_desc desc;
    pylstm_dtype dtype;
    size_t esize; /* sizeof(float) or sizeof(double) */
    int bias, batch_first;
    double dropout;
    size_t n_entries;
    param_entry *entries;
    void *values;
    void *weights; /* pylstm_weights_f32 or _f64 [num_layers * D] */
    void *prep;    /* pylstm_model_prep_* */
    size_t prep_size;
    void *packed;  /* unidirectional only, else NULL */
    size_t packed_size;
};

struct pylstm_model_stream {
    const pylstm_model *model;
    size_t B, h_bytes, c_bytes, work_size;
    void *h, *c, *work; /* one block, owned through h */
};

/* What the configuration sources (metadata, names, caller desc) produce. */
typedef struct model_config {
    pylstm_model_desc desc;
    int bias, batch_first;
    double dropout;
    pylstm_dtype dtype; /* 0: not stated (no metadata) */
} model_config;

/* ---- small helpers ------------------------------------------------------ */

static size_t n_groups(const pylstm_model_desc *d) {
    return d->num_layers * (d->bidirectional ? 2 : 1); /* checked by count_tensors first */
}

static size_t kinds_per_group(const pylstm_model_desc *d, int bias) {
    return 2 + (bias ? 2 : 0) + (d->proj_size ? 1 : 0);
}

/* Appends the decimal digits of v to s (room checked by NAME_MAX_LEN). */
static char *put_decimal(char *s, size_t v) {
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *s++ = digits[--n];
    return s;
}

static void param_name(char *out, size_t kind, size_t layer, int reverse) {
    size_t len = strlen(kind_names[kind]);
    char *s = out;
    memcpy(s, kind_names[kind], len);
    s += len;
    *s++ = '_';
    *s++ = 'l';
    s = put_decimal(s, layer);
    if (reverse) {
        memcpy(s, "_reverse", 8);
        s += 8;
    }
    *s = '\0';
}

/* The tensor count the configuration implies, into *count, computed without
 * a loop over num_layers. 0 on overflow. */
static int count_tensors(const pylstm_model_desc *d, int bias, size_t *count) {
    size_t groups;
    return pylstm_mul_ok(d->num_layers, d->bidirectional ? 2 : 1, &groups) &&
           pylstm_mul_ok(groups, kinds_per_group(d, bias), count);
}

/* The parameter table of a checked configuration (pylstm_model_sizes_* OK
 * for it, so 4H, the products below and every offset fit), and the total
 * element count. */
static pylstm_status table_make(const pylstm_model_desc *d, int bias, param_entry **out,
                                size_t *n_out, size_t *total) {
    const size_t D = d->bidirectional ? 2 : 1, H = d->hidden_size, P = d->proj_size;
    const size_t R = P ? P : H;
    size_t n, bytes, l, dir, kind, k = 0, off = 0;
    param_entry *e;
    if (!count_tensors(d, bias, &n) || !pylstm_mul_ok(n, sizeof *e, &bytes))
        return PYLSTM_ERR_OVERFLOW;
    e = (param_entry *)malloc(bytes);
    if (!e) return PYLSTM_ERR_OUT_OF_MEMORY;
    for (l = 0; l < d->num_layers; ++l) {
        for (dir = 0; dir < D; ++dir) {
            for (kind = 0; kind < N_KINDS; ++kind) {
                size_t rows = 4 * H, cols = 0, elems;
                if ((kind == 2 || kind == 3) && !bias) continue;
                if (kind == 4 && !P) continue;
                if (kind == 0) cols = l ? D * R : d->input_size;
                if (kind == 1) cols = R;
                if (kind == 4) rows = P, cols = H;
                e[k].offset = off;
                if (!pylstm_mul_ok(rows, cols ? cols : 1, &elems) ||
                    !pylstm_add_ok(off, elems, &off)) {
                    free(e);
                    return PYLSTM_ERR_OVERFLOW;
                }
                param_name(e[k].name, kind, l, (int)dir);
                e[k].rows = rows, e[k].cols = cols;
                e[k].group = l * D + dir, e[k].kind = kind;
                ++k;
            }
        }
    }
    *out = e;
    *n_out = n;
    *total = off;
    return PYLSTM_OK;
}

static size_t entry_elems(const param_entry *e) { return e->rows * (e->cols ? e->cols : 1); }

/* ---- the "pylstm" metadata: a flat JSON object ---------------------------
 * pylstm.save writes json.dumps of {"class": "LSTM" | "LSTMCell", the
 * constructor arguments, "dtype": "float32" | "float64"}. The reader accepts
 * exactly a flat object of string, number, true, false and null values, each
 * key once, and only the keys of the named class; it never recurses and reads
 * each byte a bounded number of times. */

enum {
    K_CLASS, K_INPUT, K_HIDDEN, K_LAYERS, K_BIAS, K_BATCH_FIRST, K_DROPOUT, K_BIDIR, K_PROJ,
    K_DTYPE, N_KEYS
};
static const char *const json_keys[N_KEYS] = {
    "class", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
    "bidirectional", "proj_size", "dtype"};
/* Keys an LSTMCell's metadata may hold (pylstm/io.py's _CELL_ARGS + class, dtype). */
#define CELL_KEYS ((1u << K_CLASS) | (1u << K_INPUT) | (1u << K_HIDDEN) | (1u << K_BIAS) | \
                   (1u << K_DTYPE))

typedef enum { J_STRING, J_INT, J_NUMBER, J_BOOL, J_NULL } json_type;

typedef struct json_value {
    json_type type;
    char text[16]; /* J_STRING: the decoded text if short and ASCII, else "" */
    size_t integer; /* J_INT: a non-negative integer that fits */
    double number;  /* J_INT, J_NUMBER */
    int boolean;
} json_value;

typedef struct json_cursor {
    const char *s;
    size_t pos;
} json_cursor;

static void json_ws(json_cursor *j) {
    while (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' || j->s[j->pos] == '\n' ||
           j->s[j->pos] == '\r')
        j->pos++;
}

static int json_eat(json_cursor *j, char c) {
    json_ws(j);
    if (j->s[j->pos] != c) return 0;
    j->pos++;
    return 1;
}

/* A string into out (NUL-terminated, at most cap - 1 bytes). A string that is
 * longer or holds anything but ASCII is read to its end and given as "", which
 * matches no key or value this reader knows. The text is NUL-terminated and
 * valid UTF-8 (safetensors.c decoded it), so scanning stops at its end. */
static int json_string(json_cursor *j, char *out, size_t cap) {
    size_t n = 0;
    int plain = 1;
    if (!json_eat(j, '"')) return 0;
    for (;;) {
        unsigned char c = (unsigned char)j->s[j->pos];
        char ch;
        if (c == '\0' || c < 0x20) return 0;
        j->pos++;
        if (c == '"') break;
        if (c == '\\') {
            unsigned v = 0;
            size_t k;
            c = (unsigned char)j->s[j->pos++];
            switch (c) {
            case '"': case '\\': case '/': ch = (char)c; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u':
                for (k = 0; k < 4; ++k) {
                    char h = j->s[j->pos++];
                    unsigned dgt;
                    if (h >= '0' && h <= '9') dgt = (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') dgt = (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') dgt = (unsigned)(h - 'A' + 10);
                    else return 0;
                    v = v * 16 + dgt;
                }
                /* surrogates and non-ASCII cannot spell a known word: skip */
                if (v == 0 || v >= 0x80) plain = 0;
                ch = (char)v;
                break;
            default: return 0;
            }
        } else {
            if (c >= 0x80) plain = 0;
            ch = (char)c;
        }
        if (plain && n + 1 < cap) out[n++] = ch;
        else plain = 0;
    }
    out[plain ? n : 0] = '\0';
    return 1;
}

/* 10^e for 0 <= e <= 22, exact in double. */
static double pow10_exact(int e) {
    double r = 1;
    while (e-- > 0) r *= 10;
    return r;
}

/* A JSON number. Integers (no sign, fraction or exponent) that fit in size_t
 * are J_INT. Others are J_NUMBER with a value computed without the C
 * library's locale-dependent strtod: exact for up to 15 significant digits
 * and a decimal exponent within +-22 (Clinger's fast path, which covers
 * every dropout Python writes), approximate beyond. */
static int json_number(json_cursor *j, json_value *v) {
    const char *s = j->s;
    size_t p = j->pos, digits = 0;
    int neg = 0, is_int = 1, fits = 1, exp10 = 0, dropped = 0;
    uint64_t mant = 0;
    size_t whole = 0;
    if (s[p] == '-') neg = 1, is_int = 0, p++;
    if (s[p] < '0' || s[p] > '9') return 0;
    if (s[p] == '0' && s[p + 1] >= '0' && s[p + 1] <= '9') return 0; /* leading zero */
    for (; s[p] >= '0' && s[p] <= '9'; p++) {
        unsigned dgt = (unsigned)(s[p] - '0');
        if (fits && (!pylstm_mul_ok(whole, 10, &whole) || !pylstm_add_ok(whole, dgt, &whole)))
            fits = 0;
        if (digits < 18) mant = mant * 10 + dgt, digits += mant != 0;
        else dropped++;
    }
    if (s[p] == '.') {
        is_int = 0;
        p++;
        if (s[p] < '0' || s[p] > '9') return 0;
        for (; s[p] >= '0' && s[p] <= '9'; p++) {
            if (digits < 18) mant = mant * 10 + (unsigned)(s[p] - '0'), digits += mant != 0,
                             exp10--;
        }
    }
    if (s[p] == 'e' || s[p] == 'E') {
        int eneg = 0, e = 0;
        is_int = 0;
        p++;
        if (s[p] == '+' || s[p] == '-') eneg = s[p] == '-', p++;
        if (s[p] < '0' || s[p] > '9') return 0;
        for (; s[p] >= '0' && s[p] <= '9'; p++)
            if (e < 10000) e = e * 10 + (s[p] - '0');
        exp10 += eneg ? -e : e;
    }
    exp10 += dropped;
    j->pos = p;
    if (is_int && fits) {
        v->type = J_INT;
        v->integer = whole;
    } else {
        v->type = J_NUMBER;
    }
    {
        double x = (double)mant;
        if (exp10 >= 0 && exp10 <= 22) x *= pow10_exact(exp10);
        else if (exp10 < 0 && exp10 >= -22) x /= pow10_exact(-exp10);
        else if (mant == 0) x = 0;
        else if (exp10 > 0) x = HUGE_VAL; /* far out of every accepted range */
        else x = 0;
        v->number = neg ? -x : x;
    }
    return 1;
}

static int json_literal(json_cursor *j, const char *word) {
    size_t n = strlen(word);
    if (strncmp(j->s + j->pos, word, n) != 0) return 0;
    j->pos += n;
    return 1;
}

static int json_value_read(json_cursor *j, json_value *v) {
    char c;
    json_ws(j);
    c = j->s[j->pos];
    if (c == '"') {
        v->type = J_STRING;
        return json_string(j, v->text, sizeof v->text);
    }
    if (c == 't' || c == 'f') {
        v->type = J_BOOL;
        v->boolean = c == 't';
        return json_literal(j, c == 't' ? "true" : "false");
    }
    if (c == 'n') {
        v->type = J_NULL;
        return json_literal(j, "null");
    }
    return json_number(j, v); /* '[' and '{' fail here: no nesting */
}

/* A size for key k: a JSON integer >= minimum. */
static int json_size(const json_value *v, size_t minimum, size_t *out) {
    if (v->type != J_INT || v->integer < minimum) return 0;
    *out = v->integer;
    return 1;
}

static int json_flag(const json_value *v, int *out) {
    if (v->type != J_BOOL) return 0;
    *out = v->boolean;
    return 1;
}

/* Fills cfg from the metadata text; 0 if it is not exactly what pylstm.save
 * writes (up to key order, white space and JSON spelling). */
static int config_from_json(const char *text, model_config *cfg, int *is_cell) {
    json_cursor j;
    unsigned seen = 0;
    int cell = -1;
    json_value vals[N_KEYS];
    size_t k;
    memset(vals, 0, sizeof vals);
    j.s = text;
    j.pos = 0;
    if (!json_eat(&j, '{')) return 0;
    if (!json_eat(&j, '}')) {
        for (;;) {
            char key[16];
            json_value v;
            if (!json_string(&j, key, sizeof key) || !json_eat(&j, ':') ||
                !json_value_read(&j, &v))
                return 0;
            for (k = 0; k < N_KEYS; ++k)
                if (strcmp(key, json_keys[k]) == 0) break;
            if (k == N_KEYS || (seen & (1u << k))) return 0; /* unknown or repeated */
            seen |= 1u << k;
            vals[k] = v;
            if (json_eat(&j, '}')) break;
            if (!json_eat(&j, ',')) return 0;
        }
    }
    json_ws(&j);
    if (j.s[j.pos] != '\0') return 0;
    if (!(seen & (1u << K_CLASS)) || vals[K_CLASS].type != J_STRING) return 0;
    if (strcmp(vals[K_CLASS].text, "LSTM") == 0) cell = 0;
    if (strcmp(vals[K_CLASS].text, "LSTMCell") == 0) cell = 1;
    if (cell < 0 || (cell && (seen & ~CELL_KEYS))) return 0;
    *is_cell = cell;
    if (!(seen & (1u << K_INPUT)) || !(seen & (1u << K_HIDDEN))) return 0;
    /* torch's defaults for the keys left out */
    memset(cfg, 0, sizeof *cfg);
    cfg->desc.num_layers = 1;
    cfg->bias = 1;
    cfg->dtype = PYLSTM_DTYPE_F32;
    if (!json_size(&vals[K_INPUT], 1, &cfg->desc.input_size) ||
        !json_size(&vals[K_HIDDEN], 1, &cfg->desc.hidden_size))
        return 0;
    if ((seen & (1u << K_LAYERS)) && !json_size(&vals[K_LAYERS], 1, &cfg->desc.num_layers))
        return 0;
    if ((seen & (1u << K_PROJ)) && !json_size(&vals[K_PROJ], 0, &cfg->desc.proj_size)) return 0;
    if ((seen & (1u << K_BIAS)) && !json_flag(&vals[K_BIAS], &cfg->bias)) return 0;
    if ((seen & (1u << K_BATCH_FIRST)) && !json_flag(&vals[K_BATCH_FIRST], &cfg->batch_first))
        return 0;
    if ((seen & (1u << K_BIDIR)) && !json_flag(&vals[K_BIDIR], &cfg->desc.bidirectional))
        return 0;
    if (seen & (1u << K_DROPOUT)) {
        const json_value *v = &vals[K_DROPOUT];
        if ((v->type != J_INT && v->type != J_NUMBER) || !(v->number >= 0 && v->number <= 1))
            return 0;
        cfg->dropout = v->number;
    }
    if (seen & (1u << K_DTYPE)) {
        const json_value *v = &vals[K_DTYPE];
        if (v->type != J_STRING) return 0;
        if (strcmp(v->text, "float32") == 0) cfg->dtype = PYLSTM_DTYPE_F32;
        else if (strcmp(v->text, "float64") == 0) cfg->dtype = PYLSTM_DTYPE_F64;
        else return 0;
    }
    return cfg->desc.proj_size < cfg->desc.hidden_size;
}

/* ---- configuration from torch's tensor names (pylstm/io.py's _infer) ---- */

/* kind_l<layer>[_reverse]: 1 and the parts, or 0. Digits without a leading
 * zero; a layer index >= limit (more layers than the file has tensors) is
 * refused at once, so no count is ever derived from a huge number. */
static int parse_param_name(const char *name, size_t limit, size_t *layer, int *reverse) {
    size_t k, v = 0;
    const char *s = NULL;
    for (k = 0; k < N_KINDS && !s; ++k) {
        size_t n = strlen(kind_names[k]);
        if (strncmp(name, kind_names[k], n) == 0 && name[n] == '_' && name[n + 1] == 'l')
            s = name + n + 2;
    }
    if (!s || *s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) return 0;
    for (; *s >= '0' && *s <= '9'; ++s) {
        v = v * 10 + (size_t)(*s - '0');
        if (v >= limit) return 0;
    }
    *reverse = 0;
    if (strcmp(s, "_reverse") == 0) *reverse = 1;
    else if (*s) return 0;
    *layer = v;
    return 1;
}

/* A (4H, n) matrix's info, or 0. */
static int find_gates_matrix(const pylstm_safetensors *f, const char *name,
                             pylstm_safetensors_info *info) {
    size_t index;
    return pylstm_safetensors_find(f, name, &index) == PYLSTM_OK &&
           pylstm_safetensors_tensor(f, index, info) == PYLSTM_OK && info->ndim == 2 &&
           info->shape[0] != 0 && info->shape[0] % 4 == 0;
}

static int has_tensor(const pylstm_safetensors *f, const char *name) {
    size_t index;
    return pylstm_safetensors_find(f, name, &index) == PYLSTM_OK;
}

/* *cell is set when the names are those of an LSTMCell (which then loads as
 * a one-layer LSTM whose tensors carry the cell's names). */
static int config_from_names(const pylstm_safetensors *f, model_config *cfg, int *cell) {
    static const char *const cell_names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    pylstm_safetensors_info ih, hh;
    size_t n, k, max_layer = 0;
    int any_reverse = 0, all_cell = 1;
    memset(cfg, 0, sizeof *cfg);
    if (pylstm_safetensors_count(f, &n) != PYLSTM_OK || n == 0) return 0;
    for (k = 0; k < n && all_cell; ++k) {
        pylstm_safetensors_info t;
        size_t c;
        pylstm_safetensors_tensor(f, k, &t);
        for (c = 0; c < 4; ++c)
            if (strcmp(t.name, cell_names[c]) == 0) break;
        all_cell = c < 4;
    }
    *cell = all_cell;
    if (all_cell) {
        if (!find_gates_matrix(f, "weight_ih", &ih) || !has_tensor(f, "weight_hh")) return 0;
        cfg->desc.input_size = ih.shape[1];
        cfg->desc.hidden_size = ih.shape[0] / 4;
        cfg->desc.num_layers = 1;
        cfg->bias = has_tensor(f, "bias_ih");
        return 1;
    }
    for (k = 0; k < n; ++k) {
        pylstm_safetensors_info t;
        size_t layer;
        int reverse;
        pylstm_safetensors_tensor(f, k, &t);
        if (!parse_param_name(t.name, n, &layer, &reverse)) return 0;
        if (layer > max_layer) max_layer = layer;
        any_reverse |= reverse;
    }
    if (!find_gates_matrix(f, "weight_ih_l0", &ih) || !find_gates_matrix(f, "weight_hh_l0", &hh))
        return 0;
    cfg->desc.input_size = ih.shape[1];
    cfg->desc.hidden_size = ih.shape[0] / 4;
    cfg->desc.num_layers = max_layer + 1;
    cfg->desc.bidirectional = any_reverse;
    cfg->desc.proj_size = has_tensor(f, "weight_hr_l0") ? hh.shape[1] : 0;
    cfg->bias = has_tensor(f, "bias_ih_l0");
    return 1;
}

/* ---- construction ------------------------------------------------------- */

void pylstm_model_free(pylstm_model *model) {
    if (!model) return;
    free(model->entries);
    free(model->values);
    free(model->weights);
    free(model->prep);
    free(model->packed);
    free(model);
}

/* A handle for a checked configuration, with its table and an uninitialised
 * values block: the caller fills values, then calls model_finish. */
static pylstm_status model_alloc(const model_config *cfg, size_t esize, pylstm_model **out) {
    pylstm_model *m;
    size_t total, bytes, wbytes;
    pylstm_status st;
    *out = NULL;
    m = (pylstm_model *)calloc(1, sizeof *m);
    if (!m) return PYLSTM_ERR_OUT_OF_MEMORY;
    m->desc = cfg->desc;
    m->dtype = esize == sizeof(float) ? PYLSTM_DTYPE_F32 : PYLSTM_DTYPE_F64;
    m->esize = esize;
    m->bias = cfg->bias;
    m->batch_first = cfg->batch_first;
    m->dropout = cfg->dropout;
    st = table_make(&m->desc, m->bias, &m->entries, &m->n_entries, &total);
    if (st == PYLSTM_OK && (!pylstm_mul_ok(total, esize, &bytes) ||
                            !pylstm_mul_ok(n_groups(&m->desc), sizeof(pylstm_weights_f64),
                                           &wbytes)))
        st = PYLSTM_ERR_OVERFLOW;
    if (st == PYLSTM_OK) {
        m->values = malloc(bytes ? bytes : 1);
        m->weights = calloc(1, wbytes);
        if (!m->values || !m->weights) st = PYLSTM_ERR_OUT_OF_MEMORY;
    }
    if (st != PYLSTM_OK) {
        pylstm_model_free(m);
        return st;
    }
    *out = m;
    return PYLSTM_OK;
}

/* Points the weights into values and packs them for runs and streams. */
static pylstm_status model_finish(pylstm_model *m) {
    size_t k, work;
    pylstm_status st;
    const int f64 = m->dtype == PYLSTM_DTYPE_F64;
    const pylstm_weights_f32 *w32 = (const pylstm_weights_f32 *)m->weights;
    const pylstm_weights_f64 *w64 = (const pylstm_weights_f64 *)m->weights;
    for (k = 0; k < m->n_entries; ++k) {
        const param_entry *e = &m->entries[k];
        const char *p = (const char *)m->values + e->offset * m->esize;
        /* pylstm_weights_f32 and _f64 are five pointers each, in kind order */
        if (f64) {
            pylstm_weights_f64 *w = (pylstm_weights_f64 *)m->weights + e->group;
            const double **slot[N_KINDS] = {&w->W_ih, &w->W_hh, &w->b_ih, &w->b_hh, &w->W_hr};
            *slot[e->kind] = (const double *)(const void *)p;
        } else {
            pylstm_weights_f32 *w = (pylstm_weights_f32 *)m->weights + e->group;
            const float **slot[N_KINDS] = {&w->W_ih, &w->W_hh, &w->b_ih, &w->b_hh, &w->W_hr};
            *slot[e->kind] = (const float *)(const void *)p;
        }
    }
    /* prepared for the thread count now; a run at another count repacks
     * W_hh^T into its work, as the unprepared forward does */
    m->prep_size = f64 ? pylstm_model_prep_size_f64(&m->desc) : pylstm_model_prep_size_f32(&m->desc);
    if (m->prep_size == 0) return PYLSTM_ERR_OVERFLOW;
    m->prep = malloc(m->prep_size);
    if (!m->prep) return PYLSTM_ERR_OUT_OF_MEMORY;
    st = f64 ? pylstm_model_prep_f64(&m->desc, w64, m->prep, m->prep_size)
             : pylstm_model_prep_f32(&m->desc, w32, m->prep, m->prep_size);
    if (st != PYLSTM_OK || m->desc.bidirectional) return st;
    st = f64 ? pylstm_stream_sizes_f64(&m->desc, 1, &m->packed_size, &work)
             : pylstm_stream_sizes_f32(&m->desc, 1, &m->packed_size, &work);
    if (st != PYLSTM_OK) return st;
    m->packed = malloc(m->packed_size);
    if (!m->packed) return PYLSTM_ERR_OUT_OF_MEMORY;
    return f64 ? pylstm_stream_pack_f64(&m->desc, w64, m->packed, m->packed_size)
               : pylstm_stream_pack_f32(&m->desc, w32, m->packed, m->packed_size);
}

/* The configuration is one pylstm_model_forward_* accepts (sizes >= 1,
 * P < H, bidirectional 0/1, every buffer size fits). */
static pylstm_status check_config(const model_config *cfg) {
    pylstm_sizes s;
    return cfg->dtype == PYLSTM_DTYPE_F64 ? pylstm_model_sizes_f64(&cfg->desc, 1, 1, &s)
                                          : pylstm_model_sizes_f32(&cfg->desc, 1, 1, &s);
}

/* Little-endian file bytes to host-order elements, whatever the host's byte
 * order: each element is assembled as an integer, then copied bit for bit. */
static void decode_le(void *dst, const unsigned char *src, size_t n, size_t esize) {
    size_t k, b;
    for (k = 0; k < n; ++k, src += esize) {
        if (esize == 4) {
            uint32_t u = 0;
            float v;
            for (b = 0; b < 4; ++b) u |= (uint32_t)src[b] << (8 * b);
            memcpy(&v, &u, 4);
            ((float *)dst)[k] = v;
        } else {
            uint64_t u = 0;
            double v;
            for (b = 0; b < 8; ++b) u |= (uint64_t)src[b] << (8 * b);
            memcpy(&v, &u, 8);
            ((double *)dst)[k] = v;
        }
    }
}

/* The name entry e has in the file: the cell's own names for a cell file. */
static const char *file_name(const param_entry *e, int cell) {
    return cell ? kind_names[e->kind] : e->name;
}

static pylstm_status load_checked(const pylstm_safetensors *f, pylstm_model **out) {
    model_config cfg;
    const char *meta = NULL;
    size_t n_file, n_want, k, total = 0, n_entries;
    param_entry *table = NULL;
    pylstm_st_dtype st_dtype = PYLSTM_ST_F32;
    int cell = 0;
    pylstm_status st;
    pylstm_model *m;

    pylstm_safetensors_count(f, &n_file);
    if (pylstm_safetensors_metadata(f, "pylstm", &meta) == PYLSTM_OK) {
        /* an LSTMCell's file (cell set) holds the cell's tensor names */
        if (!config_from_json(meta, &cfg, &cell)) return PYLSTM_ERR_FORMAT;
    } else if (!config_from_names(f, &cfg, &cell)) {
        return PYLSTM_ERR_FORMAT;
    }
    /* Counts before anything that loops over layers or allocates. */
    if (cfg.desc.num_layers > n_file || !count_tensors(&cfg.desc, cfg.bias, &n_want) ||
        n_want != n_file)
        return PYLSTM_ERR_FORMAT;
    if (check_config(&cfg) != PYLSTM_OK) return PYLSTM_ERR_FORMAT;
    /* The table has n_file entries: bounded by the file's size. */
    st = table_make(&cfg.desc, cfg.bias, &table, &n_entries, &total);
    if (st != PYLSTM_OK) return st == PYLSTM_ERR_OVERFLOW ? PYLSTM_ERR_FORMAT : st;
    for (k = 0; k < n_entries; ++k) {
        const param_entry *e = &table[k];
        pylstm_safetensors_info t;
        size_t index;
        if (pylstm_safetensors_find(f, file_name(e, cell), &index) != PYLSTM_OK) break;
        pylstm_safetensors_tensor(f, index, &t);
        if (k == 0) st_dtype = t.dtype;
        if ((t.dtype != PYLSTM_ST_F32 && t.dtype != PYLSTM_ST_F64) || t.dtype != st_dtype) break;
        if (t.ndim != (e->cols ? 2u : 1u) || t.shape[0] != e->rows ||
            (e->cols && t.shape[1] != e->cols))
            break;
    }
    free(table);
    /* Every expected name present, as many tensors as expected and names
     * unique in the file: nothing missing, nothing extra. */
    if (k < n_entries) return PYLSTM_ERR_FORMAT;
    {
        const pylstm_dtype dtype = st_dtype == PYLSTM_ST_F64 ? PYLSTM_DTYPE_F64
                                                             : PYLSTM_DTYPE_F32;
        if (cfg.dtype != 0 && cfg.dtype != dtype) return PYLSTM_ERR_FORMAT;
        cfg.dtype = dtype;
    }
    st = model_alloc(&cfg, cfg.dtype == PYLSTM_DTYPE_F64 ? sizeof(double) : sizeof(float), &m);
    if (st != PYLSTM_OK) return st;
    for (k = 0; k < m->n_entries; ++k) {
        const param_entry *e = &m->entries[k];
        pylstm_safetensors_info t;
        size_t index;
        pylstm_safetensors_find(f, file_name(e, cell), &index);
        pylstm_safetensors_tensor(f, index, &t);
        decode_le((char *)m->values + e->offset * m->esize, (const unsigned char *)t.data,
                  entry_elems(e), m->esize);
    }
    st = model_finish(m);
    if (st != PYLSTM_OK) {
        pylstm_model_free(m);
        return st;
    }
    *out = m;
    return PYLSTM_OK;
}

/* Loads from an opened file (st: the status of opening it), then frees it. */
static pylstm_status load_opened(pylstm_safetensors *f, pylstm_status st, pylstm_model **out) {
    if (st == PYLSTM_OK) st = load_checked(f, out);
    pylstm_safetensors_free(f);
    return st;
}

pylstm_status pylstm_model_load(const char *path, pylstm_model **out) {
    pylstm_safetensors *f = NULL;
    pylstm_status st;
    if (!out) return PYLSTM_ERR_NULL_POINTER;
    *out = NULL;
    if (!path) return PYLSTM_ERR_NULL_POINTER;
    st = pylstm_safetensors_open(path, &f);
    return load_opened(f, st, out);
}

pylstm_status pylstm_model_load_bytes(const void *bytes, size_t len, pylstm_model **out) {
    pylstm_safetensors *f = NULL;
    pylstm_status st;
    if (!out) return PYLSTM_ERR_NULL_POINTER;
    *out = NULL;
    st = pylstm_safetensors_parse(bytes, len, &f);
    return load_opened(f, st, out);
}

/* Group g's W_ih, W_hh, b_ih, b_hh, W_hr (kind order) from w32 or w64. */
static void group_pointers(const pylstm_weights_f32 *w32, const pylstm_weights_f64 *w64,
                           size_t g, const void *p[N_KINDS]) {
    if (w64) {
        p[0] = w64[g].W_ih, p[1] = w64[g].W_hh, p[2] = w64[g].b_ih, p[3] = w64[g].b_hh;
        p[4] = w64[g].W_hr;
    } else {
        p[0] = w32[g].W_ih, p[1] = w32[g].W_hh, p[2] = w32[g].b_ih, p[3] = w32[g].b_hh;
        p[4] = w32[g].W_hr;
    }
}

/* pylstm_model_create_*: exactly one of w32, w64 is given. */
static pylstm_status create(const pylstm_model_desc *desc, const pylstm_weights_f32 *w32,
                            const pylstm_weights_f64 *w64, pylstm_model **out) {
    model_config cfg;
    pylstm_model *m;
    pylstm_status st;
    size_t g, k;
    const size_t esize = w64 ? sizeof(double) : sizeof(float);
    if (!out) return PYLSTM_ERR_NULL_POINTER;
    *out = NULL;
    if (!desc || (!w32 && !w64)) return PYLSTM_ERR_NULL_POINTER;
    memset(&cfg, 0, sizeof cfg);
    cfg.desc = *desc;
    cfg.dtype = w64 ? PYLSTM_DTYPE_F64 : PYLSTM_DTYPE_F32;
    if ((st = check_config(&cfg)) != PYLSTM_OK) return st;
    for (g = 0; g < n_groups(desc); ++g) {
        const void *p[N_KINDS];
        group_pointers(w32, w64, g, p);
        if (!p[0] || !p[1] || (desc->proj_size && !p[4])) return PYLSTM_ERR_NULL_POINTER;
        if (!desc->proj_size && p[4]) return PYLSTM_ERR_BAD_ARGUMENT;
        if (p[2] || p[3]) cfg.bias = 1;
    }
    st = model_alloc(&cfg, esize, &m);
    if (st != PYLSTM_OK) return st;
    for (k = 0; k < m->n_entries; ++k) {
        const param_entry *e = &m->entries[k];
        const void *p[N_KINDS];
        char *dst = (char *)m->values + e->offset * esize;
        group_pointers(w32, w64, e->group, p);
        /* a NULL bias beside given ones is zero, as in the model functions */
        if (p[e->kind]) memcpy(dst, p[e->kind], entry_elems(e) * esize);
        else memset(dst, 0, entry_elems(e) * esize);
    }
    st = model_finish(m);
    if (st != PYLSTM_OK) {
        pylstm_model_free(m);
        return st;
    }
    *out = m;
    return PYLSTM_OK;
}

pylstm_status pylstm_model_create_f32(const pylstm_model_desc *desc, const pylstm_weights_f32 *w,
                                      pylstm_model **out) {
    if (!w) return out ? (*out = NULL, PYLSTM_ERR_NULL_POINTER) : PYLSTM_ERR_NULL_POINTER;
    return create(desc, w, NULL, out);
}

pylstm_status pylstm_model_create_f64(const pylstm_model_desc *desc, const pylstm_weights_f64 *w,
                                      pylstm_model **out) {
    if (!w) return out ? (*out = NULL, PYLSTM_ERR_NULL_POINTER) : PYLSTM_ERR_NULL_POINTER;
    return create(desc, NULL, w, out);
}

/* ---- queries ------------------------------------------------------------ */

pylstm_status pylstm_model_config_get(const pylstm_model *model, pylstm_model_config *out) {
    pylstm_model_config c;
    size_t want;
    if (!model || !out) return PYLSTM_ERR_NULL_POINTER;
    want = out->struct_size;
    if (want < offsetof(pylstm_model_config, dtype) + sizeof c.dtype)
        return PYLSTM_ERR_BAD_ARGUMENT;
    memset(&c, 0, sizeof c);
    c.struct_size = want;
    c.dtype = model->dtype;
    c.input_size = model->desc.input_size;
    c.hidden_size = model->desc.hidden_size;
    c.proj_size = model->desc.proj_size;
    c.num_layers = model->desc.num_layers;
    c.bidirectional = model->desc.bidirectional;
    c.bias = model->bias;
    c.batch_first = model->batch_first;
    c.dropout = model->dropout;
    memcpy(out, &c, want < sizeof c ? want : sizeof c);
    return PYLSTM_OK;
}

pylstm_status pylstm_model_param_count(const pylstm_model *model, size_t *count) {
    if (!model || !count) return PYLSTM_ERR_NULL_POINTER;
    *count = model->n_entries;
    return PYLSTM_OK;
}

pylstm_status pylstm_model_param(const pylstm_model *model, size_t index, const char **name,
                                 size_t *rows, size_t *cols, const void **values) {
    const param_entry *e;
    if (!model || !name || !rows || !cols || !values) return PYLSTM_ERR_NULL_POINTER;
    if (index >= model->n_entries) return PYLSTM_ERR_NOT_FOUND;
    e = &model->entries[index];
    *name = e->name;
    *rows = e->rows;
    *cols = e->cols;
    *values = (const char *)model->values + e->offset * model->esize;
    return PYLSTM_OK;
}

/* ---- runs ----------------------------------------------------------------
 * The one place that chooses how a handle runs: the prepared forward, which
 * gives pylstm_model_forward_*'s results bit for bit with its work size. */

static pylstm_status run_size(const pylstm_model *m, size_t T, size_t B, size_t *bytes) {
    pylstm_sizes s;
    pylstm_status st = m->dtype == PYLSTM_DTYPE_F64 ? pylstm_model_sizes_f64(&m->desc, T, B, &s)
                                                    : pylstm_model_sizes_f32(&m->desc, T, B, &s);
    if (st == PYLSTM_OK) *bytes = s.work_forward;
    return st;
}

static pylstm_status run(const pylstm_model *m, size_t T, size_t B, const void *x,
                         const void *h0, const void *c0, const int64_t *lengths, void *y,
                         void *h_n, void *c_n, void *work, size_t work_size) {
    if (m->dtype == PYLSTM_DTYPE_F64)
        return pylstm_model_forward_prep_f64(
            &m->desc, (const pylstm_weights_f64 *)m->weights, m->prep, m->prep_size, T, B,
            (const double *)x, (const double *)h0, (const double *)c0, lengths, (double *)y,
            (double *)h_n, (double *)c_n, work, work_size);
    return pylstm_model_forward_prep_f32(
        &m->desc, (const pylstm_weights_f32 *)m->weights, m->prep, m->prep_size, T, B,
        (const float *)x, (const float *)h0, (const float *)c0, lengths, (float *)y,
        (float *)h_n, (float *)c_n, work, work_size);
}

pylstm_status pylstm_model_run_size(const pylstm_model *model, size_t T, size_t B,
                                    size_t *work_bytes) {
    if (!model || !work_bytes) return PYLSTM_ERR_NULL_POINTER;
    return run_size(model, T, B, work_bytes);
}

/* Both element types: the dtype is checked, then work is allocated if the
 * caller gave none. */
static pylstm_status run_checked(const pylstm_model *m, pylstm_dtype dtype, size_t T, size_t B,
                                 const void *x, const void *h0, const void *c0,
                                 const int64_t *lengths, void *y, void *h_n, void *c_n,
                                 void *work, size_t work_size) {
    pylstm_status st;
    if (!m) return PYLSTM_ERR_NULL_POINTER;
    if (m->dtype != dtype) return PYLSTM_ERR_DTYPE;
    if (work) return run(m, T, B, x, h0, c0, lengths, y, h_n, c_n, work, work_size);
    if ((st = run_size(m, T, B, &work_size)) != PYLSTM_OK) return st;
    work = malloc(work_size ? work_size : 1);
    if (!work) return PYLSTM_ERR_OUT_OF_MEMORY;
    st = run(m, T, B, x, h0, c0, lengths, y, h_n, c_n, work, work_size);
    free(work);
    return st;
}

pylstm_status pylstm_model_run_f32(const pylstm_model *model, size_t T, size_t B,
                                   const float *x, const float *h0, const float *c0,
                                   const int64_t *lengths, float *y, float *h_n, float *c_n,
                                   void *work, size_t work_size) {
    return run_checked(model, PYLSTM_DTYPE_F32, T, B, x, h0, c0, lengths, y, h_n, c_n, work,
                       work_size);
}

pylstm_status pylstm_model_run_f64(const pylstm_model *model, size_t T, size_t B,
                                   const double *x, const double *h0, const double *c0,
                                   const int64_t *lengths, double *y, double *h_n, double *c_n,
                                   void *work, size_t work_size) {
    return run_checked(model, PYLSTM_DTYPE_F64, T, B, x, h0, c0, lengths, y, h_n, c_n, work,
                       work_size);
}

/* ---- streams ------------------------------------------------------------ */

pylstm_status pylstm_model_stream_open(const pylstm_model *model, size_t B,
                                       pylstm_model_stream **out) {
    pylstm_model_stream *s;
    size_t packed, LB, h_bytes, c_bytes, work, off, total, R;
    pylstm_status st;
    if (!out) return PYLSTM_ERR_NULL_POINTER;
    *out = NULL;
    if (!model) return PYLSTM_ERR_NULL_POINTER;
    R = model->desc.proj_size ? model->desc.proj_size : model->desc.hidden_size;
    if (B < 1) return PYLSTM_ERR_BAD_SIZE;
    if (model->desc.bidirectional) return PYLSTM_ERR_BAD_ARGUMENT;
    st = model->dtype == PYLSTM_DTYPE_F64 ? pylstm_stream_sizes_f64(&model->desc, B, &packed, &work)
                                          : pylstm_stream_sizes_f32(&model->desc, B, &packed, &work);
    if (st != PYLSTM_OK) return st;
    if (!pylstm_mul_ok(model->desc.num_layers, B, &LB) ||
        !pylstm_mul_ok(LB, R * model->esize, &h_bytes) ||
        !pylstm_mul_ok(LB, model->desc.hidden_size * model->esize, &c_bytes) ||
        !pylstm_round_up_ok(h_bytes, &off) || !pylstm_round_up_ok(c_bytes, &total) ||
        !pylstm_add_ok(off, total, &total) || !pylstm_add_ok(total, work, &total))
        return PYLSTM_ERR_OVERFLOW;
    s = (pylstm_model_stream *)malloc(sizeof *s);
    if (!s) return PYLSTM_ERR_OUT_OF_MEMORY;
    /* h, c, work in one block; each part starts on an element boundary */
    s->h = calloc(1, total ? total : 1);
    if (!s->h) {
        free(s);
        return PYLSTM_ERR_OUT_OF_MEMORY;
    }
    s->model = model;
    s->B = B;
    s->h_bytes = h_bytes;
    s->c_bytes = c_bytes;
    s->c = (char *)s->h + off;
    pylstm_round_up_ok(c_bytes, &total);
    s->work = (char *)s->c + total;
    s->work_size = work;
    *out = s;
    return PYLSTM_OK;
}

void pylstm_model_stream_free(pylstm_model_stream *stream) {
    if (!stream) return;
    free(stream->h);
    free(stream);
}

pylstm_status pylstm_model_stream_reset(pylstm_model_stream *stream, const void *h,
                                        const void *c) {
    if (!stream) return PYLSTM_ERR_NULL_POINTER;
    if (h) memcpy(stream->h, h, stream->h_bytes);
    else memset(stream->h, 0, stream->h_bytes);
    if (c) memcpy(stream->c, c, stream->c_bytes);
    else memset(stream->c, 0, stream->c_bytes);
    return PYLSTM_OK;
}

pylstm_status pylstm_model_stream_state(const pylstm_model_stream *stream, void *h, void *c) {
    if (!stream) return PYLSTM_ERR_NULL_POINTER;
    if (h) memcpy(h, stream->h, stream->h_bytes);
    if (c) memcpy(c, stream->c, stream->c_bytes);
    return PYLSTM_OK;
}

pylstm_status pylstm_model_stream_step_f32(pylstm_model_stream *stream, const float *x,
                                           float *y) {
    const pylstm_model *m;
    if (!stream || !x || !y) return PYLSTM_ERR_NULL_POINTER;
    m = stream->model;
    if (m->dtype != PYLSTM_DTYPE_F32) return PYLSTM_ERR_DTYPE;
    return pylstm_stream_step_f32(&m->desc, m->packed, m->packed_size, stream->B, x,
                                  (float *)stream->h, (float *)stream->c, y, stream->work,
                                  stream->work_size);
}

pylstm_status pylstm_model_stream_step_f64(pylstm_model_stream *stream, const double *x,
                                           double *y) {
    const pylstm_model *m;
    if (!stream || !x || !y) return PYLSTM_ERR_NULL_POINTER;
    m = stream->model;
    if (m->dtype != PYLSTM_DTYPE_F64) return PYLSTM_ERR_DTYPE;
    return pylstm_stream_step_f64(&m->desc, m->packed, m->packed_size, stream->B, x,
                                  (double *)stream->h, (double *)stream->c, y, stream->work,
                                  stream->work_size);
}
