/* The stacked, optionally bidirectional, projected model of torch.nn.LSTM over
 * the layer code: buffer planning, dropout masks, and the float32 / float64
 * instantiations of model_impl.h. */
#include "model.h"

#include <math.h>
#include <string.h>

#include "gemm.h"
#include "threads.h"

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* A bidirectional layer at 2 threads runs its directions at once, one thread
 * each (dir_par), when its batch is too small to split between the threads
 * (layer.h, PYLSTM_ROWS_MIN_PART): one direction's step loop would then
 * split each step's units and meet the threads at every step, or run on one
 * thread when its steps are too small to split. The two directions never meet;
 * the cost is a second layer work in the work buffers (with its (T, B, 4H)
 * gates). Measured on a 2-core Zen 4 (AVX-512), float32, from Python,
 * medians, 2 threads, before -> after (1 thread):
 *   T = 100, B = 1, I = 32, H = 64: forward 153-173 -> 98-105 us (183-186),
 *   forward_train + backward 450-468 -> 306-310 us (507-535);
 *   the same with 2 layers: forward 364-392 -> 243-279 us (447-454);
 *   T = 100, B = 4, I = 64, H = 128: forward 1079-1111 -> 885-987 us (1650);
 *   T = 50, B = 1, I = 128, H = 256: forward 986-1130 -> 671-692 us (1310).
 * From B = 8 each direction splits its batch and scales by itself (B = 8,
 * H = 128: 1.8-1.9x either way). With more threads each direction keeps them
 * all: two directions of one thread each would leave the others idle, and
 * where that still wins was not measured (2 cores here). */
static int dir_par(size_t D, size_t B, size_t nt) {
    return D == 2 && nt == 2 && B < PYLSTM_ROWS_MIN_PART * nt;
}

/* Whether a job over a layer's two directions at once wakes sleeping
 * workers: from PYLSTM_STEPS_WAKE_MIN multiply-adds in the layer's products
 * (layer.h); below, it runs on the threads that are awake, or both
 * directions in the caller. in: the layer's input size. */
static int dir_par_wake(const pylstm_model_plan *p, size_t in) {
    return 2.0 * (double)p->T * (double)p->B * 4.0 * (double)p->H * (double)(in + p->R) >=
           PYLSTM_STEPS_WAKE_MIN;
}

static pylstm_status model_plan_nt(const pylstm_model_desc *d, size_t T, size_t B,
                                   size_t esize, size_t nt, pylstm_model_plan *p);

/* The sizes and flags of a model description. */
static pylstm_status check_desc(const pylstm_model_desc *d) {
    if (d->input_size < 1 || d->hidden_size < 1 || d->num_layers < 1 ||
        d->proj_size >= d->hidden_size)
        return PYLSTM_ERR_BAD_SIZE;
    if (d->bidirectional != 0 && d->bidirectional != 1) return PYLSTM_ERR_BAD_ARGUMENT;
    return PYLSTM_OK;
}

typedef struct {
    const pylstm_model_desc *d;
    size_t T, B, esize;
    int purpose;
    pylstm_model_plan *p;
} model_fit_ctx;

static pylstm_status model_fit_plan(void *vctx, size_t nt, size_t *need) {
    const model_fit_ctx *c = (const model_fit_ctx *)vctx;
    const pylstm_model_plan *p = c->p;
    pylstm_status st = model_plan_nt(c->d, c->T, c->B, c->esize, nt, c->p);
    *need = pylstm_plan_need(c->purpose, p->wf_total, p->wt_total, p->wb_total);
    return st;
}

pylstm_status pylstm_model_plan_make(const pylstm_model_desc *d, size_t T, size_t B,
                                     size_t esize, int purpose, size_t work_size,
                                     pylstm_model_plan *p) {
    model_fit_ctx c;
    c.d = d, c.T = T, c.B = B, c.esize = esize, c.purpose = purpose, c.p = p;
    return pylstm_fit_threads(model_fit_plan, &c, work_size);
}

static pylstm_status model_plan_nt(const pylstm_model_desc *d, size_t T, size_t B,
                                   size_t esize, size_t nt, pylstm_model_plan *p) {
    pylstm_status st;
    pylstm_carver cv;
    size_t seq, off, lnt, lw;
    int ok;
    if ((st = check_desc(d)) != PYLSTM_OK) return st;
    if (T < 1 || B < 1) return PYLSTM_ERR_BAD_SIZE;
    p->L = d->num_layers, p->D = d->bidirectional ? 2 : 1, p->T = T, p->B = B;
    p->I = d->input_size, p->H = d->hidden_size, p->P = d->proj_size;
    p->R = p->P ? p->P : p->H;
    p->DR = p->D * p->R; /* R < SIZE_MAX / 4 follows from 4H fitting, checked by the plans */
    p->dir_par = dir_par(p->D, B, nt);
    lnt = p->dir_par ? 1 : nt;
    st = pylstm_layer_plan_make(T, B, p->I, p->H, p->P, esize, lnt, &p->first);
    if (st != PYLSTM_OK) return st;
    st = pylstm_layer_plan_make(T, B, p->DR, p->H, p->P, esize, lnt, &p->upper);
    if (st != PYLSTM_OK) return st;
    if (!pylstm_mul_ok(T * B, p->DR, &seq) || !pylstm_mul_ok(seq, esize, &seq) ||
        !pylstm_round_up_ok(seq, &seq))
        return PYLSTM_ERR_OVERFLOW;

    /* reserve: D layer-0 reserves, (L-1)*D upper ones, then L-1 inputs and L-1
     * masks; every piece is a multiple of PYLSTM_ALIGN already. */
    {
        size_t n_upper = 0, upper_bytes = 0, first_bytes = 0, seq_bytes = 0;
        ok = pylstm_mul_ok(p->L - 1, p->D, &n_upper) &&
             pylstm_mul_ok(n_upper, p->upper.res_total, &upper_bytes) &&
             pylstm_mul_ok(p->D, p->first.res_total, &first_bytes) &&
             pylstm_mul_ok(p->L - 1, seq, &seq_bytes) && pylstm_mul_ok(seq_bytes, 2, &off);
        if (!ok) return PYLSTM_ERR_OVERFLOW;
        p->res_layer_stride0 = p->first.res_total;
        p->res_layer_stride = p->upper.res_total;
        p->res_seq_stride = seq;
        p->res_layer0 = 0;
        p->res_upper = first_bytes;
        ok = ok && pylstm_add_ok(first_bytes, upper_bytes, &p->res_inputs) &&
             pylstm_add_ok(p->res_inputs, seq_bytes, &p->res_masks) &&
             pylstm_add_ok(p->res_inputs, off, &off) &&
             pylstm_add_ok(off, PYLSTM_ALIGN, &p->res_total);
        if (!ok) return PYLSTM_ERR_OVERFLOW;
    }

    /* work: the layer plans' totals already carry their own alignment slack;
     * with dir_par a second layer work follows the first */
    cv.off = 0, cv.ok = 1;
    p->wf_seq = pylstm_carve(&cv, p->L > 1 ? seq : 0, 1);
    pylstm_carve(&cv, p->L > 1 ? seq : 0, 1);
    lw = max_size(p->first.wf_total, p->upper.wf_total);
    p->wf_layer = pylstm_carve(&cv, lw, 1);
    p->wf_dir = p->dir_par ? pylstm_carve(&cv, lw, 1) - p->wf_layer : 0;
    p->wf_total = pylstm_carve_total(&cv);
    cv.off = 0;
    lw = max_size(p->first.wt_total, p->upper.wt_total);
    p->wt_layer = pylstm_carve(&cv, lw, 1);
    p->wt_dir = p->dir_par ? pylstm_carve(&cv, lw, 1) - p->wt_layer : 0;
    p->wt_total = pylstm_carve_total(&cv);
    cv.off = 0;
    p->wb_seq = pylstm_carve(&cv, p->L > 1 ? seq : 0, 1);
    pylstm_carve(&cv, p->L > 1 ? seq : 0, 1);
    lw = max_size(p->first.wb_total, p->upper.wb_total);
    p->wb_layer = pylstm_carve(&cv, lw, 1);
    p->wb_dir = p->dir_par ? pylstm_carve(&cv, lw, 1) - p->wb_layer : 0;
    p->wb_total = pylstm_carve_total(&cv);
    return cv.ok ? PYLSTM_OK : PYLSTM_ERR_OVERFLOW;
}

/* ---- prepared weights (layout in model.h) ---- */

#define PREP_MAGIC 0x50455250u /* "PREP" */
#define PREP_VERSION 1u
typedef char prep_header_fits[sizeof(pylstm_prep_layout) <= PYLSTM_PREP_HEADER_BYTES ? 1 : -1];

static int prep_block(size_t esize, size_t in, size_t H, size_t P, size_t R, size_t nt,
                      pylstm_prep_block *b) {
    pylstm_carver cv;
    size_t many = 0, one = pylstm_hh_pack_stride(esize, H, R, 1);
    size_t ih = pylstm_gemm_packed_b_bytes(esize, 4 * H, in);
    size_t hr = P ? pylstm_gemm_packed_b_bytes(esize, P, H) : 0;
    /* 0 from a size query is an overflow */
    cv.off = 0, cv.ok = one && ih && (!P || hr);
    if (nt > 1)
        cv.ok = cv.ok && (many = pylstm_hh_pack_stride(esize, H, R, nt)) != 0 &&
                pylstm_mul_ok(many, nt, &many);
    b->ih = pylstm_carve(&cv, ih, 1);
    b->hh_one = pylstm_carve(&cv, one, 1);
    b->hh_many = pylstm_carve(&cv, many, 1);
    b->hr = pylstm_carve(&cv, hr, 1);
    b->bytes = cv.off;
    return cv.ok;
}

pylstm_status pylstm_prep_layout_make(const pylstm_model_desc *d, size_t esize, size_t nt,
                                      pylstm_prep_layout *lay) {
    pylstm_status st;
    size_t n_upper, rest;
    if ((st = check_desc(d)) != PYLSTM_OK) return st;
    memset(lay, 0, sizeof *lay); /* copied into the header whole, padding included */
    lay->magic = PREP_MAGIC, lay->version = PREP_VERSION;
    lay->esize = esize, lay->I = d->input_size, lay->H = d->hidden_size, lay->P = d->proj_size;
    lay->R = lay->P ? lay->P : lay->H, lay->L = d->num_layers, lay->D = d->bidirectional ? 2 : 1;
    lay->nt = nt;
    /* 4H fits: H < SIZE_MAX / 8 is checked before any 4H is formed */
    if (lay->H >= SIZE_MAX / 8 || lay->R > SIZE_MAX / 2 ||
        !prep_block(esize, lay->I, lay->H, lay->P, lay->R, nt, &lay->first) ||
        !prep_block(esize, lay->D * lay->R, lay->H, lay->P, lay->R, nt, &lay->upper) ||
        !pylstm_mul_ok(lay->L - 1, lay->D, &n_upper) ||
        !pylstm_mul_ok(n_upper, lay->upper.bytes, &rest) ||
        !pylstm_mul_ok(lay->D, lay->first.bytes, &n_upper) ||
        !pylstm_add_ok(rest, n_upper, &rest) ||
        !pylstm_add_ok(rest, PYLSTM_PREP_HEADER_BYTES + PYLSTM_ALIGN, &lay->total))
        return PYLSTM_ERR_OVERFLOW;
    return PYLSTM_OK;
}

typedef struct {
    const pylstm_model_desc *d;
    size_t esize;
    pylstm_prep_layout *lay;
} prep_fit_ctx;

static pylstm_status prep_fit_plan(void *vctx, size_t nt, size_t *need) {
    const prep_fit_ctx *c = (const prep_fit_ctx *)vctx;
    pylstm_status st = pylstm_prep_layout_make(c->d, c->esize, nt, c->lay);
    *need = c->lay->total;
    return st;
}

pylstm_status pylstm_prep_layout_fit(const pylstm_model_desc *d, size_t esize,
                                     size_t prep_size, pylstm_prep_layout *lay) {
    prep_fit_ctx c;
    pylstm_status st;
    c.d = d, c.esize = esize, c.lay = lay;
    st = pylstm_fit_threads(prep_fit_plan, &c, prep_size);
    if (st != PYLSTM_OK) return st;
    return prep_size < lay->total ? PYLSTM_ERR_BUFFER_TOO_SMALL : PYLSTM_OK;
}

unsigned char *pylstm_prep_write_header(pylstm_prep_layout *lay, void *prep) {
    unsigned char *s = (unsigned char *)pylstm_align_ptr(prep);
    lay->lead = (size_t)(s - (unsigned char *)prep);
    memset(prep, 0, lay->lead);
    memset(s, 0, PYLSTM_PREP_HEADER_BYTES);
    memcpy(s, lay, sizeof *lay);
    return s;
}

pylstm_status pylstm_prep_read(const pylstm_model_desc *d, size_t esize, const void *prep,
                               size_t prep_size, pylstm_prep_layout *lay,
                               const unsigned char **start) {
    const unsigned char *s = (const unsigned char *)pylstm_align_ptr((void *)(uintptr_t)prep);
    /* Every prepared buffer is larger than this, so the header can be read. */
    if (prep_size < PYLSTM_PREP_HEADER_BYTES + PYLSTM_ALIGN) return PYLSTM_ERR_BUFFER_TOO_SMALL;
    memcpy(lay, s, sizeof *lay);
    if (lay->magic != PREP_MAGIC || lay->version != PREP_VERSION ||
        lay->lead != (size_t)(s - (const unsigned char *)prep) || lay->esize != esize ||
        lay->I != d->input_size || lay->H != d->hidden_size || lay->P != d->proj_size ||
        lay->L != d->num_layers || lay->D != (d->bidirectional ? 2u : 1u) || lay->nt < 1)
        return PYLSTM_ERR_BAD_ARGUMENT;
    if (prep_size < lay->total) return PYLSTM_ERR_BUFFER_TOO_SMALL;
    *start = s;
    return PYLSTM_OK;
}

void pylstm_prep_layer(const pylstm_prep_layout *lay, const unsigned char *start, size_t e,
                       pylstm_layer_packed *out) {
    const pylstm_prep_block *b = e < lay->D ? &lay->first : &lay->upper;
    const unsigned char *blk = start + PYLSTM_PREP_HEADER_BYTES +
                               (e < lay->D ? e * lay->first.bytes
                                           : lay->D * lay->first.bytes +
                                                 (e - lay->D) * lay->upper.bytes);
    out->ih = blk + b->ih;
    out->hh_one = blk + b->hh_one;
    out->hh_many = lay->nt > 1 ? blk + b->hh_many : NULL;
    out->nt = lay->nt;
    out->hr = lay->P ? blk + b->hr : NULL;
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double pylstm_dropout_uniform(uint64_t seed, size_t layer, size_t k) {
    const uint64_t z = (mix64((uint64_t)layer + 1) ^ seed) + ((uint64_t)k + 1) * 0x9E3779B97F4A7C15ULL;
    return (double)(mix64(z) >> 11) * (1.0 / 9007199254740992.0);
}

#define REAL float
#define SUFFIX f32
#include "model_impl.h"
#undef REAL
#undef SUFFIX

#define REAL double
#define SUFFIX f64
#include "model_impl.h"
#undef REAL
#undef SUFFIX
