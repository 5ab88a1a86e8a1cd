/* The model handle (pylstm_model_* in pylstm.h) through the public API only.
 *
 *  - Files built here byte by byte (safetensors with and without pylstm.save's
 *    "pylstm" metadata, torch's names, LSTMCell files, F32 and F64,
 *    bidirectional, projection) load to the configuration and parameters they
 *    hold, and a handle's run equals pylstm_model_forward_* with the same
 *    weights bit for bit (with lengths and initial states, with the caller's
 *    work and with work = NULL); so does a handle made by pylstm_model_create_*.
 *  - A stream's steps equal runs with T = 1 from the stream's state, bit for
 *    bit; reset and state round-trip.
 *  - Hostile files are refused with PYLSTM_ERR_FORMAT and leak nothing (run it
 *    under tests/c/run.sh sanitize): huge num_layers in metadata or in a
 *    tensor name, huge sizes in a tiny file, nested or odd JSON, wrong types,
 *    negative and fractional sizes, missing, extra and misshapen tensors,
 *    mixed dtypes, a metadata dtype that disagrees; short and empty buffers.
 *    Calls of the wrong element type give PYLSTM_ERR_DTYPE.
 *  - Several threads running one handle at once get identical results.
 *
 * Prints one line per failed check and "N passed, N failed" last; exits
 * non-zero on any failure. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pylstm.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <pthread.h>
#endif

/* ---- tensors and file images ---------------------------------------------- */

#define MAX_TENSORS 64

typedef struct {
    char name[48];
    int f64;           /* stored as F64, else F32 */
    size_t ndim, shape[2];
    double *v;         /* values, all exactly representable in float */
} tensor;

typedef struct {
    pylstm_model_desc d;
    int bias;
    tensor t[MAX_TENSORS];
    size_t n;
} tensors;

static void add_tensor(tensors *ts, const char *name, int f64, size_t rows, size_t cols) {
    tensor *t = &ts->t[ts->n++];
    size_t k, n = rows * (cols ? cols : 1);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->f64 = f64;
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows, t->shape[1] = cols;
    t->v = (double *)xmalloc(n * sizeof(double));
    for (k = 0; k < n; ++k) t->v[k] = (float)(urand() * 0.4);
}

/* A model's tensors in state-dict order, torch's names (cell: the cell's). */
static void make_tensors(tensors *ts, size_t I, size_t H, size_t P, size_t L, int bidir,
                         int bias, int f64, int cell) {
    const size_t D = bidir ? 2 : 1, R = P ? P : H;
    size_t l, d;
    memset(ts, 0, sizeof *ts);
    ts->d.input_size = I, ts->d.hidden_size = H, ts->d.proj_size = P, ts->d.num_layers = L;
    ts->d.bidirectional = bidir;
    ts->bias = bias;
    for (l = 0; l < L; ++l) {
        for (d = 0; d < D; ++d) {
            char sfx[32], name[48];
            sfx[0] = '\0';
            if (!cell) snprintf(sfx, sizeof sfx, "_l%u%s", (unsigned)l, d ? "_reverse" : "");
#define ADD(kind, rows, cols)                                                                  \
    do {                                                                                       \
        snprintf(name, sizeof name, "%s%s", kind, sfx);                                        \
        add_tensor(ts, name, f64, rows, cols);                                                 \
    } while (0)
            ADD("weight_ih", 4 * H, l ? D * R : I);
            ADD("weight_hh", 4 * H, R);
            if (bias) {
                ADD("bias_ih", 4 * H, 0);
                ADD("bias_hh", 4 * H, 0);
            }
            if (P) ADD("weight_hr", P, H);
#undef ADD
        }
    }
}

static void free_tensors(tensors *ts) {
    size_t k;
    for (k = 0; k < ts->n; ++k) free(ts->t[k].v);
    ts->n = 0;
}

static size_t tensor_elems(const tensor *t) {
    return t->shape[0] * (t->ndim == 2 ? t->shape[1] : 1);
}

/* A growing text buffer. */
typedef struct {
    char *s;
    size_t len, cap;
} text;

static void put(text *b, const char *fmt, ...) {
    va_list ap;
    int n;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) break;
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 64;
        b->s = (char *)realloc(b->s, b->cap);
        if (!b->s) exit(2);
    }
    b->len += (size_t)n;
}

typedef struct {
    unsigned char *p;
    size_t len;
} image;

/* The safetensors bytes of ts, with __metadata__ {"pylstm": meta} when meta
 * is given (escaped here as a JSON string). */
static image serialize(const tensors *ts, const char *meta) {
    text h = {NULL, 0, 0};
    image im;
    size_t k, off = 0, pos, e, b;
    h.cap = 256;
    h.s = (char *)xmalloc(h.cap);
    put(&h, "{");
    if (meta) {
        const char *c;
        put(&h, "\"__metadata__\":{\"format\":\"pt\",\"pylstm\":\"");
        for (c = meta; *c; ++c) put(&h, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        put(&h, "\"}%s", ts->n ? "," : "");
    }
    for (k = 0; k < ts->n; ++k) {
        const tensor *t = &ts->t[k];
        const size_t nb = tensor_elems(t) * (t->f64 ? 8 : 4);
        put(&h, "\"%s\":{\"dtype\":\"%s\",\"shape\":[%lu", t->name, t->f64 ? "F64" : "F32",
            (unsigned long)t->shape[0]);
        if (t->ndim == 2) put(&h, ",%lu", (unsigned long)t->shape[1]);
        put(&h, "],\"data_offsets\":[%lu,%lu]}%s", (unsigned long)off,
            (unsigned long)(off + nb), k + 1 < ts->n ? "," : "");
        off += nb;
    }
    put(&h, "}");
    im.len = 8 + h.len + off;
    im.p = (unsigned char *)xmalloc(im.len);
    for (b = 0; b < 8; ++b) im.p[b] = (unsigned char)((unsigned long long)h.len >> (8 * b));
    memcpy(im.p + 8, h.s, h.len);
    pos = 8 + h.len;
    for (k = 0; k < ts->n; ++k) { /* little-endian whatever the host */
        const tensor *t = &ts->t[k];
        for (e = 0; e < tensor_elems(t); ++e) {
            if (t->f64) {
                uint64_t u;
                memcpy(&u, &t->v[e], 8);
                for (b = 0; b < 8; ++b) im.p[pos++] = (unsigned char)(u >> (8 * b));
            } else {
                float f = (float)t->v[e];
                uint32_t u;
                memcpy(&u, &f, 4);
                for (b = 0; b < 4; ++b) im.p[pos++] = (unsigned char)(u >> (8 * b));
            }
        }
    }
    free(h.s);
    return im;
}

/* pylstm.save's metadata text for ts. */
static void meta_for(const tensors *ts, int cell, int f64, char *out, size_t cap) {
    if (cell)
        snprintf(out, cap,
                 "{\"bias\": %s, \"class\": \"LSTMCell\", \"dtype\": \"%s\", \"hidden_size\": %lu, "
                 "\"input_size\": %lu}",
                 ts->bias ? "true" : "false", f64 ? "float64" : "float32",
                 (unsigned long)ts->d.hidden_size, (unsigned long)ts->d.input_size);
    else
        snprintf(out, cap,
                 "{\"batch_first\": true, \"bias\": %s, \"bidirectional\": %s, \"class\": "
                 "\"LSTM\", \"dropout\": 0.25, \"dtype\": \"%s\", \"hidden_size\": %lu, "
                 "\"input_size\": %lu, \"num_layers\": %lu, \"proj_size\": %lu}",
                 ts->bias ? "true" : "false", ts->d.bidirectional ? "true" : "false",
                 f64 ? "float64" : "float32", (unsigned long)ts->d.hidden_size,
                 (unsigned long)ts->d.input_size, (unsigned long)ts->d.num_layers,
                 (unsigned long)ts->d.proj_size);
}

/* ---- reference weights ---------------------------------------------------- */

typedef struct {
    pylstm_weights_f32 w32[16];
    pylstm_weights_f64 w64[16];
    float *f[MAX_TENSORS];
} weights;

/* The weights of ts (in state-dict order) as the model functions take them. */
static void weights_of(const tensors *ts, weights *w) {
    size_t g, k = 0;
    const size_t groups = ts->d.num_layers * (ts->d.bidirectional ? 2 : 1);
    memset(w, 0, sizeof *w);
    for (k = 0; k < ts->n; ++k) {
        size_t e, n = tensor_elems(&ts->t[k]);
        w->f[k] = (float *)xmalloc(n * sizeof(float));
        for (e = 0; e < n; ++e) w->f[k][e] = (float)ts->t[k].v[e];
    }
    for (g = 0, k = 0; g < groups; ++g) {
        w->w32[g].W_ih = w->f[k], w->w64[g].W_ih = ts->t[k++].v;
        w->w32[g].W_hh = w->f[k], w->w64[g].W_hh = ts->t[k++].v;
        if (ts->bias) {
            w->w32[g].b_ih = w->f[k], w->w64[g].b_ih = ts->t[k++].v;
            w->w32[g].b_hh = w->f[k], w->w64[g].b_hh = ts->t[k++].v;
        }
        if (ts->d.proj_size) w->w32[g].W_hr = w->f[k], w->w64[g].W_hr = ts->t[k++].v;
    }
}

static void free_weights(weights *w) {
    size_t k;
    for (k = 0; k < MAX_TENSORS; ++k) free(w->f[k]);
}

/* ---- runs against the model functions --------------------------------------- */

typedef struct {
    size_t T, B, nx, ny, nh, nc;
    double *x, *h0, *c0;
    int64_t *lengths; /* (B) */
} inputs;

static void make_inputs(inputs *in, const pylstm_model_desc *d, size_t T, size_t B) {
    const size_t D = d->bidirectional ? 2 : 1, R = d->proj_size ? d->proj_size : d->hidden_size;
    size_t k;
    in->T = T, in->B = B;
    in->nx = T * B * d->input_size, in->ny = T * B * D * R;
    in->nh = d->num_layers * D * B * R, in->nc = d->num_layers * D * B * d->hidden_size;
    in->x = (double *)xmalloc(in->nx * sizeof(double));
    in->h0 = (double *)xmalloc(in->nh * sizeof(double));
    in->c0 = (double *)xmalloc(in->nc * sizeof(double));
    for (k = 0; k < in->nx; ++k) in->x[k] = (float)urand();
    for (k = 0; k < in->nh; ++k) in->h0[k] = (float)(urand() * 0.5);
    for (k = 0; k < in->nc; ++k) in->c0[k] = (float)(urand() * 0.5);
    in->lengths = (int64_t *)xmalloc(B * sizeof(int64_t));
    for (k = 0; k < B; ++k) in->lengths[k] = (int64_t)(1 + (k * 5) % T);
}

static void free_inputs(inputs *in) {
    free(in->x), free(in->h0), free(in->c0), free(in->lengths);
}

static float *to_f32(const double *a, size_t n) {
    float *f = (float *)xmalloc(n * sizeof(float));
    size_t k;
    for (k = 0; k < n; ++k) f[k] = (float)a[k];
    return f;
}

/* The handle's run (caller work and work = NULL) against the model function,
 * bit for bit, in the handle's type. */
static void check_run(const pylstm_model *m, const pylstm_model_desc *d, const weights *w,
                      int f64, size_t T, size_t B, int use_lengths, const char *label) {
    inputs in;
    size_t es = f64 ? 8 : 4, work_size = 0, ws2 = 0;
    pylstm_sizes s;
    void *y1, *y2, *y3, *h1, *h2, *h3, *c1, *c2, *c3, *x, *h0, *c0, *work;
    const int64_t *len;
    pylstm_status a, b, c;
    make_inputs(&in, d, T, B);
    len = use_lengths ? in.lengths : NULL;
    if (f64) {
        x = in.x, h0 = in.h0, c0 = in.c0;
    } else {
        x = to_f32(in.x, in.nx), h0 = to_f32(in.h0, in.nh), c0 = to_f32(in.c0, in.nc);
    }
    y1 = xmalloc(in.ny * es), y2 = xmalloc(in.ny * es), y3 = xmalloc(in.ny * es);
    h1 = xmalloc(in.nh * es), h2 = xmalloc(in.nh * es), h3 = xmalloc(in.nh * es);
    c1 = xmalloc(in.nc * es), c2 = xmalloc(in.nc * es), c3 = xmalloc(in.nc * es);
    check(pylstm_model_run_size(m, T, B, &work_size) == PYLSTM_OK, "%s: run_size", label);
    if (f64) pylstm_model_sizes_f64(d, T, B, &s);
    else pylstm_model_sizes_f32(d, T, B, &s);
    ws2 = s.work_forward;
    work = xmalloc(work_size > ws2 ? work_size : ws2);
    if (f64) {
        a = pylstm_model_forward_f64(d, w->w64, T, B, x, h0, c0, len, y1, h1, c1, work, ws2);
        b = pylstm_model_run_f64(m, T, B, x, h0, c0, len, y2, h2, c2, work, work_size);
        c = pylstm_model_run_f64(m, T, B, x, h0, c0, len, y3, h3, c3, NULL, 0);
    } else {
        a = pylstm_model_forward_f32(d, w->w32, T, B, x, h0, c0, len, y1, h1, c1, work, ws2);
        b = pylstm_model_run_f32(m, T, B, x, h0, c0, len, y2, h2, c2, work, work_size);
        c = pylstm_model_run_f32(m, T, B, x, h0, c0, len, y3, h3, c3, NULL, 0);
    }
    check(a == PYLSTM_OK && b == PYLSTM_OK && c == PYLSTM_OK, "%s: statuses %d %d %d", label,
          (int)a, (int)b, (int)c);
    check(!memcmp(y1, y2, in.ny * es) && !memcmp(h1, h2, in.nh * es) &&
              !memcmp(c1, c2, in.nc * es),
          "%s: run differs from pylstm_model_forward", label);
    check(!memcmp(y1, y3, in.ny * es) && !memcmp(h1, h3, in.nh * es) &&
              !memcmp(c1, c3, in.nc * es),
          "%s: run with work = NULL differs", label);
    if (!f64) free(x), free(h0), free(c0);
    free(y1), free(y2), free(y3), free(h1), free(h2), free(h3), free(c1), free(c2), free(c3);
    free(work);
    free_inputs(&in);
}

/* Configuration and parameters of a loaded handle against ts. */
static void check_loaded(const pylstm_model *m, const tensors *ts, int f64, int meta, int cell,
                         const char *label) {
    pylstm_model_config cfg;
    size_t count = 0, k;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    check(pylstm_model_config_get(m, &cfg) == PYLSTM_OK, "%s: config", label);
    check(cfg.dtype == (f64 ? PYLSTM_DTYPE_F64 : PYLSTM_DTYPE_F32) &&
              cfg.input_size == ts->d.input_size && cfg.hidden_size == ts->d.hidden_size &&
              cfg.proj_size == ts->d.proj_size && cfg.num_layers == ts->d.num_layers &&
              cfg.bidirectional == ts->d.bidirectional && cfg.bias == ts->bias,
          "%s: configuration", label);
    check(cfg.batch_first == (meta && !cell) && cfg.dropout == (meta && !cell ? 0.25 : 0.0),
          "%s: batch_first %d dropout %g from the metadata", label, cfg.batch_first,
          cfg.dropout);
    check(pylstm_model_param_count(m, &count) == PYLSTM_OK && count == ts->n,
          "%s: param count %lu", label, (unsigned long)count);
    for (k = 0; k < ts->n && k < count; ++k) {
        const char *name;
        size_t rows, cols, e, bad = 0;
        const void *v;
        const tensor *t = &ts->t[k];
        char want[48];
        snprintf(want, sizeof want, "%s%s", t->name, cell ? "_l0" : "");
        check(pylstm_model_param(m, k, &name, &rows, &cols, &v) == PYLSTM_OK &&
                  strcmp(name, want) == 0 && rows == t->shape[0] &&
                  cols == (t->ndim == 2 ? t->shape[1] : 0),
              "%s: param %lu is %s", label, (unsigned long)k, want);
        for (e = 0; e < tensor_elems(t); ++e)
            bad += f64 ? ((const double *)v)[e] != t->v[e] : ((const float *)v)[e] != (float)t->v[e];
        check(bad == 0, "%s: %s values (%lu differ)", label, want, (unsigned long)bad);
    }
    {
        const char *name;
        size_t r, c;
        const void *v;
        check(pylstm_model_param(m, count, &name, &r, &c, &v) == PYLSTM_ERR_NOT_FOUND,
              "%s: param past the end", label);
    }
}

/* ---- stream ----------------------------------------------------------------- */

static void check_stream(const pylstm_model *m, const pylstm_model_desc *d, int f64,
                         size_t B, const char *label) {
    const size_t L = d->num_layers, H = d->hidden_size, R = d->proj_size ? d->proj_size : H;
    const size_t es = f64 ? 8 : 4, T = 5;
    size_t t, k;
    pylstm_model_stream *s = NULL;
    unsigned char *x = (unsigned char *)xmalloc(T * B * d->input_size * es);
    unsigned char *y = (unsigned char *)xmalloc(B * R * es), *yr = (unsigned char *)xmalloc(B * R * es);
    unsigned char *h = (unsigned char *)xmalloc(L * B * R * es), *c = (unsigned char *)xmalloc(L * B * H * es);
    unsigned char *hr = (unsigned char *)xmalloc(L * B * R * es), *cr = (unsigned char *)xmalloc(L * B * H * es);
    int same = 1, ok = 1;
    for (k = 0; k < T * B * d->input_size; ++k) {
        double v = (float)urand();
        if (f64) ((double *)x)[k] = v;
        else ((float *)x)[k] = (float)v;
    }
    check(pylstm_model_stream_open(m, B, &s) == PYLSTM_OK && s, "%s: stream open", label);
    if (!s) goto done;
    /* start from a non-zero state, set by reset */
    for (k = 0; k < L * B * R; ++k) {
        if (f64) ((double *)hr)[k] = 0.1 * (double)(float)urand();
        else ((float *)hr)[k] = (float)(0.1 * urand());
    }
    memset(cr, 0, L * B * H * es);
    ok &= pylstm_model_stream_reset(s, hr, NULL) == PYLSTM_OK;
    for (t = 0; t < T; ++t) {
        const unsigned char *xt = x + t * B * d->input_size * es;
        pylstm_status a, b;
        /* the reference: a run with T = 1 from the stream's state */
        ok &= pylstm_model_stream_state(s, h, c) == PYLSTM_OK;
        if (f64) {
            a = pylstm_model_run_f64(m, 1, B, (const double *)xt, (const double *)h,
                                     (const double *)c, NULL, (double *)yr, (double *)hr,
                                     (double *)cr, NULL, 0);
            b = pylstm_model_stream_step_f64(s, (const double *)xt, (double *)y);
        } else {
            a = pylstm_model_run_f32(m, 1, B, (const float *)xt, (const float *)h,
                                     (const float *)c, NULL, (float *)yr, (float *)hr,
                                     (float *)cr, NULL, 0);
            b = pylstm_model_stream_step_f32(s, (const float *)xt, (float *)y);
        }
        ok &= a == PYLSTM_OK && b == PYLSTM_OK;
        ok &= pylstm_model_stream_state(s, h, c) == PYLSTM_OK;
        same &= !memcmp(y, yr, B * R * es) && !memcmp(h, hr, L * B * R * es) &&
                !memcmp(c, cr, L * B * H * es);
    }
    check(ok, "%s: stream calls", label);
    check(same, "%s: stream steps differ from runs with T = 1", label);
    /* the wrong element type */
    if (f64) check(pylstm_model_stream_step_f32(s, (const float *)x, (float *)y) == PYLSTM_ERR_DTYPE,
                   "%s: f32 step on f64", label);
    else check(pylstm_model_stream_step_f64(s, (const double *)x, (double *)y) == PYLSTM_ERR_DTYPE,
               "%s: f64 step on f32", label);
    check(pylstm_model_stream_reset(s, NULL, NULL) == PYLSTM_OK &&
              pylstm_model_stream_state(s, h, NULL) == PYLSTM_OK,
          "%s: reset to zeros", label);
    for (k = 0, same = 1; k < L * B * R * es; ++k) same &= h[k] == 0;
    check(same, "%s: reset zeroes h", label);
done:
    pylstm_model_stream_free(s);
    free(x), free(y), free(yr), free(h), free(c), free(hr), free(cr);
}

/* ---- valid files ------------------------------------------------------------ */

static void check_case(size_t I, size_t H, size_t P, size_t L, int bidir, int bias, int f64,
                       int cell, int meta) {
    tensors ts;
    weights w;
    image im;
    char label[160], mtext[512];
    pylstm_model *m = NULL;
    pylstm_status st;
    snprintf(label, sizeof label, "%s I=%lu H=%lu P=%lu L=%lu bidir=%d bias=%d %s %s",
             cell ? "cell" : "lstm", (unsigned long)I, (unsigned long)H, (unsigned long)P,
             (unsigned long)L, bidir, bias, f64 ? "f64" : "f32", meta ? "metadata" : "names");
    make_tensors(&ts, I, H, P, L, bidir, bias, f64, cell);
    meta_for(&ts, cell, f64, mtext, sizeof mtext);
    im = serialize(&ts, meta ? mtext : NULL);
    st = pylstm_model_load_bytes(im.p, im.len, &m);
    check(st == PYLSTM_OK && m, "%s: load status %d", label, (int)st);
    if (m) {
        weights_of(&ts, &w);
        check_loaded(m, &ts, f64, meta, cell, label);
        check_run(m, &ts.d, &w, f64, 4, 3, 0, label);
        check_run(m, &ts.d, &w, f64, 6, 5, 1, label);
        if (!bidir) check_stream(m, &ts.d, f64, 2, label);
        /* the other element type is refused */
        {
            float f[64] = {0};
            double dd[64] = {0};
            check((f64 ? pylstm_model_run_f32(m, 1, 1, f, NULL, NULL, NULL, f, NULL, NULL, NULL, 0)
                       : pylstm_model_run_f64(m, 1, 1, dd, NULL, NULL, NULL, dd, NULL, NULL, NULL,
                                              0)) == PYLSTM_ERR_DTYPE,
                  "%s: wrong dtype run", label);
        }
        /* a handle made from the same weights runs the same */
        {
            pylstm_model *c = NULL;
            st = f64 ? pylstm_model_create_f64(&ts.d, w.w64, &c)
                     : pylstm_model_create_f32(&ts.d, w.w32, &c);
            check(st == PYLSTM_OK, "%s: create status %d", label, (int)st);
            if (c) check_run(c, &ts.d, &w, f64, 3, 2, 1, label);
            pylstm_model_free(c);
        }
        free_weights(&w);
    }
    pylstm_model_free(m);
    free(im.p);
    free_tensors(&ts);
}

static void test_valid(void) {
    int f64, meta;
    for (f64 = 0; f64 < 2; ++f64) {
        for (meta = 0; meta < 2; ++meta) {
            check_case(3, 5, 0, 1, 0, 1, f64, 0, meta);
            check_case(3, 5, 0, 2, 0, 1, f64, 0, meta);
            check_case(4, 6, 3, 2, 1, 1, f64, 0, meta);
            check_case(7, 4, 2, 3, 0, 0, f64, 0, meta);
            check_case(2, 3, 0, 2, 1, 0, f64, 0, meta);
            check_case(1, 1, 0, 1, 0, 1, f64, 0, meta);
            check_case(3, 5, 0, 1, 0, 1, f64, 1, meta); /* LSTMCell */
            check_case(6, 2, 0, 1, 0, 0, f64, 1, meta);
        }
    }
}

/* The file at a path: load and load_bytes agree. */
static void test_load_path(void) {
    tensors ts;
    image im;
    char mtext[512];
    const char *path = "build/test_handle_model.safetensors";
    FILE *f;
    pylstm_model *m = NULL;
    make_tensors(&ts, 3, 4, 0, 2, 0, 1, 0, 0);
    meta_for(&ts, 0, 0, mtext, sizeof mtext);
    im = serialize(&ts, mtext);
    f = fopen(path, "wb");
    if (f) {
        fwrite(im.p, 1, im.len, f);
        fclose(f);
        check(pylstm_model_load(path, &m) == PYLSTM_OK && m, "load from a path");
        if (m) {
            weights w;
            weights_of(&ts, &w);
            check_run(m, &ts.d, &w, 0, 3, 2, 0, "load from a path");
            free_weights(&w);
        }
        pylstm_model_free(m);
        remove(path);
    } else {
        printf("note: cannot write %s, load from a path not tested\n", path);
    }
    m = (pylstm_model *)&m; /* must be reset to NULL on error */
    check(pylstm_model_load("build/no/such/file", &m) == PYLSTM_ERR_IO && m == NULL,
          "missing file: IO");
    check(pylstm_model_load(NULL, &m) == PYLSTM_ERR_NULL_POINTER, "NULL path");
    check(pylstm_model_load(path, NULL) == PYLSTM_ERR_NULL_POINTER, "NULL out");
    free(im.p);
    free_tensors(&ts);
}

/* ---- hostile files ------------------------------------------------------------ */

static void expect_format(const tensors *ts, const char *meta, const char *label) {
    image im = serialize(ts, meta);
    pylstm_model *m = (pylstm_model *)&im;
    pylstm_status st = pylstm_model_load_bytes(im.p, im.len, &m);
    check(st == PYLSTM_ERR_FORMAT && m == NULL, "%s: status %d, want FORMAT", label, (int)st);
    pylstm_model_free(st == PYLSTM_OK ? m : NULL);
    free(im.p);
}

/* A valid 2-layer LSTM(3, 5) file with metadata `meta` (printf'd with one
 * string argument each). */
static void expect_meta_format(const char *meta, const char *label) {
    tensors ts;
    make_tensors(&ts, 3, 5, 0, 2, 0, 1, 0, 0);
    expect_format(&ts, meta, label);
    free_tensors(&ts);
}

#define GOOD_META_HEAD "{\"class\": \"LSTM\", \"input_size\": 3, \"hidden_size\": 5, "

static void test_hostile_metadata(void) {
    char *deep;
    size_t k;
    tensors ts;
    /* the good metadata loads (the base of every variant below) */
    {
        image im;
        pylstm_model *m = NULL;
        make_tensors(&ts, 3, 5, 0, 2, 0, 1, 0, 0);
        im = serialize(&ts, GOOD_META_HEAD "\"num_layers\": 2}");
        check(pylstm_model_load_bytes(im.p, im.len, &m) == PYLSTM_OK, "minimal metadata loads");
        pylstm_model_free(m);
        free(im.p);
        free_tensors(&ts);
    }
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 100000000}", "num_layers 1e8");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 18446744073709551615}",
                       "num_layers 2^64-1");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 99999999999999999999999}",
                       "num_layers past 2^64");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 1}", "num_layers too small (extra tensors)");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 3}", "num_layers too large (missing)");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 0}", "num_layers 0");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": -2}", "negative num_layers");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2.5}", "fractional num_layers");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2.0}", "num_layers 2.0");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2e0}", "num_layers 2e0");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 02}", "num_layers with a leading zero");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": \"2\"}", "num_layers as a string");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": true}", "num_layers as a bool");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": null}", "num_layers null");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": [2]}", "num_layers nested");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": {\"a\": 2}}", "num_layers an object");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"num_layers\": 2}", "duplicate key");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"color\": 2}", "unknown key");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"dtype\": \"garbage\"}",
                       "dtype garbage");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"dtype\": \"float64\"}",
                       "dtype disagrees with the tensors");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"bias\": 1}", "bias as a number");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"bias\": false}",
                       "bias false with bias tensors");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"dropout\": 1.5}", "dropout 1.5");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"dropout\": -0.1}", "dropout < 0");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"dropout\": 1e999}", "dropout 1e999");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"dropout\": .5}", "dropout .5");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"proj_size\": 5}", "proj_size = H");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2, \"proj_size\": 2}",
                       "proj_size without weight_hr");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2,}", "trailing comma");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2} x", "text after the object");
    expect_meta_format(GOOD_META_HEAD "\"num_layers\": 2", "unterminated object");
    expect_meta_format("{\"class\": \"GRU\", \"input_size\": 3, \"hidden_size\": 5}",
                       "class GRU");
    expect_meta_format("{\"input_size\": 3, \"hidden_size\": 5, \"num_layers\": 2}",
                       "no class");
    expect_meta_format("{\"class\": \"LSTM\", \"hidden_size\": 5, \"num_layers\": 2}",
                       "no input_size");
    expect_meta_format("{\"class\": \"LSTM\", \"input_size\": -3, \"hidden_size\": 5, "
                       "\"num_layers\": 2}",
                       "negative input_size");
    expect_meta_format("{\"class\": \"LSTM\", \"input_size\": 3, \"hidden_size\": 0, "
                       "\"num_layers\": 2}",
                       "hidden_size 0");
    expect_meta_format("{\"class\": \"LSTMCell\", \"input_size\": 3, \"hidden_size\": 5, "
                       "\"num_layers\": 2}",
                       "a cell with num_layers");
    expect_meta_format("", "empty metadata");
    expect_meta_format("[]", "an array");
    expect_meta_format("\"LSTM\"", "a string");
    /* "[[[[..." and "{"a":{"a":..." 100000 deep: refused at once, no recursion */
    deep = (char *)xmalloc(200001);
    for (k = 0; k < 100000; ++k) deep[k] = '[';
    deep[k] = '\0';
    expect_meta_format(deep, "100000 brackets");
    for (k = 0; k + 6 < 200000; k += 6) memcpy(deep + k, "{\"a\": ", 6);
    deep[k] = '\0';
    expect_meta_format(deep, "100000 nested objects");
    free(deep);
    /* a 120-byte file claiming LSTM(4096, 32768): refused before allocating */
    {
        tensors tiny;
        make_tensors(&tiny, 1, 1, 0, 1, 0, 0, 0, 0);
        expect_format(&tiny,
                      "{\"class\": \"LSTM\", \"input_size\": 4096, \"hidden_size\": 32768, "
                      "\"bias\": false}",
                      "huge sizes in a tiny file");
        expect_format(&tiny,
                      "{\"class\": \"LSTM\", \"input_size\": 18446744073709551615, "
                      "\"hidden_size\": 4611686018427387904, \"bias\": false}",
                      "sizes that overflow");
        free_tensors(&tiny);
    }
}

/* Variants of a valid torch-named file (no metadata). */
static void test_hostile_tensors(void) {
    tensors ts;
    /* a tensor named for layer 10^8: refused without a loop over layers */
    make_tensors(&ts, 3, 5, 0, 1, 0, 1, 0, 0);
    snprintf(ts.t[2].name, sizeof ts.t[2].name, "bias_ih_l100000000");
    expect_format(&ts, NULL, "bias_ih_l100000000");
    snprintf(ts.t[2].name, sizeof ts.t[2].name, "bias_ih_l99999999999999999999999999");
    expect_format(&ts, NULL, "a layer index past 2^64");
    snprintf(ts.t[2].name, sizeof ts.t[2].name, "bias_ih_l00");
    expect_format(&ts, NULL, "a layer index with a leading zero");
    snprintf(ts.t[2].name, sizeof ts.t[2].name, "bias_ih_l0_backward");
    expect_format(&ts, NULL, "an unknown suffix");
    snprintf(ts.t[2].name, sizeof ts.t[2].name, "bias_xx_l0");
    expect_format(&ts, NULL, "an unknown kind");
    snprintf(ts.t[2].name, sizeof ts.t[2].name, "bias_ih_l1");
    expect_format(&ts, NULL, "a layer with one tensor");
    free_tensors(&ts);

    make_tensors(&ts, 3, 5, 0, 2, 0, 1, 0, 0);
    free(ts.t[7].v);
    ts.n--; /* no bias_hh_l1 */
    expect_format(&ts, NULL, "a missing tensor");
    free_tensors(&ts);

    make_tensors(&ts, 3, 5, 0, 2, 0, 1, 0, 0);
    add_tensor(&ts, "extra", 0, 2, 0);
    expect_format(&ts, NULL, "an extra tensor");
    free_tensors(&ts);
    make_tensors(&ts, 3, 5, 0, 2, 0, 1, 0, 0);
    add_tensor(&ts, "weight_hr_l0", 0, 2, 5);
    expect_format(&ts, NULL, "weight_hr of a model without projection");
    free_tensors(&ts);

    make_tensors(&ts, 3, 5, 0, 2, 0, 1, 0, 0);
    ts.t[5].shape[1] = 4, ts.t[5].shape[0] = 25; /* weight_hh_l1 (20, 5) -> (25, 4) */
    expect_format(&ts, NULL, "misshapen weight_hh_l1");
    ts.t[5].shape[0] = 20, ts.t[5].shape[1] = 5;
    ts.t[6].ndim = 2, ts.t[6].shape[0] = 4, ts.t[6].shape[1] = 5; /* bias_ih_l1 (20) -> (4, 5) */
    expect_format(&ts, NULL, "a 2-D bias");
    ts.t[6].ndim = 1, ts.t[6].shape[0] = 20;
    ts.t[4].shape[1] = 4; ts.t[4].shape[0] = 25; /* weight_ih_l1 (20, 5) -> (25, 4) */
    expect_format(&ts, NULL, "misshapen weight_ih_l1");
    ts.t[4].shape[0] = 20, ts.t[4].shape[1] = 5;
    ts.t[0].shape[0] = 15, ts.t[0].shape[1] = 4; /* (20, 3) -> (15, 4): rows not 4H */
    expect_format(&ts, NULL, "weight_ih_l0 rows not a multiple of 4");
    free_tensors(&ts);

    make_tensors(&ts, 3, 5, 0, 2, 0, 1, 0, 0);
    ts.t[3].f64 = 1;
    expect_format(&ts, NULL, "mixed F32 and F64");
    free_tensors(&ts);

    /* a cell file missing bias_hh, and one with a cell name beside layer names */
    make_tensors(&ts, 3, 5, 0, 1, 0, 1, 0, 1);
    free(ts.t[3].v);
    ts.n--;
    expect_format(&ts, NULL, "a cell without bias_hh");
    free_tensors(&ts);
    make_tensors(&ts, 3, 5, 0, 1, 0, 1, 0, 0);
    snprintf(ts.t[2].name, sizeof ts.t[2].name, "bias_ih");
    expect_format(&ts, NULL, "cell and layer names mixed");
    free_tensors(&ts);
    /* no tensors at all, and only metadata */
    memset(&ts, 0, sizeof ts);
    expect_format(&ts, NULL, "no tensors");
    expect_format(&ts, GOOD_META_HEAD "\"num_layers\": 1}", "metadata only");
}

static void test_hostile_bytes(void) {
    tensors ts;
    image im;
    size_t cut;
    pylstm_model *m = NULL;
    unsigned char zeros[16] = {0};
    int ok = 1;
    make_tensors(&ts, 3, 4, 0, 1, 0, 1, 0, 0);
    im = serialize(&ts, NULL);
    /* every truncation is refused */
    for (cut = 0; cut < im.len; ++cut) {
        pylstm_status st = pylstm_model_load_bytes(im.p, cut, &m);
        ok &= st == PYLSTM_ERR_FORMAT && m == NULL;
        pylstm_model_free(m);
        m = NULL;
    }
    check(ok, "every truncation gives FORMAT");
    check(pylstm_model_load_bytes(zeros, 0, &m) == PYLSTM_ERR_FORMAT, "empty buffer");
    check(pylstm_model_load_bytes(zeros, sizeof zeros, &m) == PYLSTM_ERR_FORMAT, "zero bytes");
    check(pylstm_model_load_bytes(NULL, 5, &m) == PYLSTM_ERR_NULL_POINTER, "NULL bytes");
    check(pylstm_model_load_bytes(im.p, im.len, NULL) == PYLSTM_ERR_NULL_POINTER, "NULL out");
    free(im.p);
    free_tensors(&ts);
}

/* ---- argument checks of the other functions -------------------------------------- */

static void test_arguments(void) {
    tensors ts;
    weights w;
    pylstm_model *m = NULL, *bi = NULL;
    pylstm_model_stream *s = NULL;
    pylstm_model_config cfg;
    pylstm_model_desc d;
    size_t n;
    float buf[64];
    make_tensors(&ts, 3, 4, 0, 1, 0, 1, 0, 0);
    weights_of(&ts, &w);
    check(pylstm_model_create_f32(&ts.d, w.w32, &m) == PYLSTM_OK, "create");
    d = ts.d;
    d.proj_size = 4;
    check(pylstm_model_create_f32(&d, w.w32, &bi) == PYLSTM_ERR_BAD_SIZE && !bi, "P = H");
    d = ts.d;
    d.bidirectional = 2;
    check(pylstm_model_create_f32(&d, w.w32, &bi) == PYLSTM_ERR_BAD_ARGUMENT, "bidir 2");
    d = ts.d;
    d.num_layers = 0;
    check(pylstm_model_create_f32(&d, w.w32, &bi) == PYLSTM_ERR_BAD_SIZE, "L = 0");
    w.w32[0].W_hr = w.w32[0].W_ih;
    check(pylstm_model_create_f32(&ts.d, w.w32, &bi) == PYLSTM_ERR_BAD_ARGUMENT,
          "W_hr without P");
    w.w32[0].W_hr = NULL;
    w.w32[0].W_hh = NULL;
    check(pylstm_model_create_f32(&ts.d, w.w32, &bi) == PYLSTM_ERR_NULL_POINTER, "no W_hh");
    check(pylstm_model_create_f32(&ts.d, NULL, &bi) == PYLSTM_ERR_NULL_POINTER, "NULL w");
    check(pylstm_model_create_f64(NULL, w.w64, &bi) == PYLSTM_ERR_NULL_POINTER, "NULL desc");
    check(bi == NULL, "out NULL after errors");
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = 4;
    check(pylstm_model_config_get(m, &cfg) == PYLSTM_ERR_BAD_ARGUMENT, "struct_size too small");
    cfg.struct_size = sizeof(size_t) + sizeof(pylstm_dtype) + sizeof(size_t);
    cfg.hidden_size = 77;
    check(pylstm_model_config_get(m, &cfg) == PYLSTM_OK && cfg.dtype == PYLSTM_DTYPE_F32 &&
              cfg.input_size == 3 && cfg.hidden_size == 77,
          "a short struct gets only the fields that fit");
    check(pylstm_model_param_count(NULL, &n) == PYLSTM_ERR_NULL_POINTER, "param_count NULL");
    check(pylstm_model_run_size(m, 0, 1, &n) == PYLSTM_ERR_BAD_SIZE, "run_size T = 0");
    check(pylstm_model_run_f32(NULL, 1, 1, buf, NULL, NULL, NULL, buf, NULL, NULL, NULL, 0) ==
              PYLSTM_ERR_NULL_POINTER,
          "run NULL model");
    check(pylstm_model_run_f32(m, 1, 1, buf, NULL, NULL, NULL, buf + 8, NULL, NULL, buf + 32, 4) ==
              PYLSTM_ERR_WORK_TOO_SMALL,
          "run with too little work");
    check(pylstm_model_stream_open(m, 0, &s) == PYLSTM_ERR_BAD_SIZE && !s, "stream B = 0");
    check(pylstm_model_stream_open(NULL, 1, &s) == PYLSTM_ERR_NULL_POINTER, "stream NULL");
    check(pylstm_model_stream_step_f32(NULL, buf, buf) == PYLSTM_ERR_NULL_POINTER,
          "step NULL stream");
    check(pylstm_model_stream_reset(NULL, NULL, NULL) == PYLSTM_ERR_NULL_POINTER, "reset NULL");
    pylstm_model_free(m);
    free_weights(&w);
    free_tensors(&ts);
    make_tensors(&ts, 3, 4, 0, 1, 1, 1, 0, 0);
    weights_of(&ts, &w);
    check(pylstm_model_create_f32(&ts.d, w.w32, &bi) == PYLSTM_OK, "create bidirectional");
    check(pylstm_model_stream_open(bi, 1, &s) == PYLSTM_ERR_BAD_ARGUMENT && !s,
          "no stream on a bidirectional model");
    pylstm_model_free(bi);
    pylstm_model_free(NULL);
    pylstm_model_stream_free(NULL);
    free_weights(&w);
    free_tensors(&ts);
}

/* Runs at another thread count than the handle was made at (its prepared
 * weights are laid out for the count at creation) still equal the model
 * function at the run's count, bit for bit; sizes large enough for the pool
 * to split the products. */
static void test_thread_counts(void) {
    tensors ts;
    weights w;
    pylstm_model *made1 = NULL, *made2 = NULL;
    make_tensors(&ts, 96, 256, 0, 2, 0, 1, 0, 0);
    weights_of(&ts, &w);
    check(pylstm_set_num_threads(1) == PYLSTM_OK, "1 thread");
    check(pylstm_model_create_f32(&ts.d, w.w32, &made1) == PYLSTM_OK, "create at 1 thread");
    if (pylstm_set_num_threads(2) == PYLSTM_OK && pylstm_get_num_threads() == 2) {
        check(pylstm_model_create_f32(&ts.d, w.w32, &made2) == PYLSTM_OK, "create at 2 threads");
        if (made1) check_run(made1, &ts.d, &w, 0, 3, 48, 1, "made at 1, run at 2 threads");
        if (made2) check_run(made2, &ts.d, &w, 0, 3, 48, 1, "made at 2, run at 2 threads");
        pylstm_set_num_threads(1);
        if (made2) check_run(made2, &ts.d, &w, 0, 3, 48, 1, "made at 2, run at 1 thread");
    } else {
        printf("note: no worker threads here, thread counts not tested\n");
    }
    pylstm_set_num_threads(1);
    pylstm_model_free(made1);
    pylstm_model_free(made2);
    free_weights(&w);
    free_tensors(&ts);
}

/* ---- threads ---------------------------------------------------------------- */

#define N_WORKERS 4
enum { TT = 7, TB = 3 };

typedef struct {
    const pylstm_model *m;
    const float *x;
    float y[TT * TB * 2 * 6];
    float hn[2 * 2 * TB * 6], cn[2 * 2 * TB * 6];
    int rounds;
    pylstm_status st;
} job;

static void run_job(job *j) {
    int r;
    for (r = 0; r < j->rounds && j->st == PYLSTM_OK; ++r)
        j->st = pylstm_model_run_f32(j->m, TT, TB, j->x, NULL, NULL, NULL, j->y, j->hn, j->cn,
                                     NULL, 0);
}

#if defined(_WIN32)
static DWORD WINAPI job_main(LPVOID arg) {
    run_job((job *)arg);
    return 0;
}
#else
static void *job_main(void *arg) {
    run_job((job *)arg);
    return NULL;
}
#endif

static void test_threads(void) {
    tensors ts;
    image im;
    pylstm_model *m = NULL;
    static job jobs[N_WORKERS + 1];
    float x[TT * TB * 5];
    size_t k;
    int same = 1, ok = 1;
    make_tensors(&ts, 5, 6, 0, 2, 1, 1, 0, 0);
    im = serialize(&ts, NULL);
    check(pylstm_model_load_bytes(im.p, im.len, &m) == PYLSTM_OK, "threads: load");
    for (k = 0; k < TT * TB * 5; ++k) x[k] = (float)urand();
    for (k = 0; k <= N_WORKERS; ++k) {
        jobs[k].m = m, jobs[k].x = x, jobs[k].rounds = k ? 20 : 1, jobs[k].st = PYLSTM_OK;
    }
    run_job(&jobs[0]); /* the reference, alone */
#if defined(_WIN32)
    {
        HANDLE th[N_WORKERS];
        for (k = 0; k < N_WORKERS; ++k) th[k] = CreateThread(NULL, 0, job_main, &jobs[k + 1], 0, NULL);
        for (k = 0; k < N_WORKERS; ++k) {
            ok &= th[k] != NULL;
            if (th[k]) WaitForSingleObject(th[k], INFINITE), CloseHandle(th[k]);
        }
    }
#else
    {
        pthread_t th[N_WORKERS];
        int started[N_WORKERS];
        for (k = 0; k < N_WORKERS; ++k) started[k] = pthread_create(&th[k], NULL, job_main, &jobs[k + 1]) == 0;
        for (k = 0; k < N_WORKERS; ++k) {
            ok &= started[k];
            if (started[k]) pthread_join(th[k], NULL);
        }
    }
#endif
    for (k = 1; k <= N_WORKERS; ++k) {
        ok &= jobs[k].st == PYLSTM_OK;
        same &= !memcmp(jobs[k].y, jobs[0].y, sizeof jobs[0].y) &&
                !memcmp(jobs[k].hn, jobs[0].hn, sizeof jobs[0].hn) &&
                !memcmp(jobs[k].cn, jobs[0].cn, sizeof jobs[0].cn);
    }
    check(ok && jobs[0].st == PYLSTM_OK, "threads: every run succeeded");
    check(same, "threads: concurrent runs of one handle agree with a lone run");
    pylstm_model_free(m);
    free(im.p);
    free_tensors(&ts);
}

int main(void) {
    rng_state = 0x9E3779B97F4A7C15ull; /* this test's own seed: its random data stay the same */
    test_valid();
    test_load_path();
    test_hostile_metadata();
    test_hostile_tensors();
    test_hostile_bytes();
    test_arguments();
    test_thread_counts();
    test_threads();
    return check_summary();
}
