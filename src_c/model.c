/* The stacked, optionally bidirectional, projected model of torch.nn.LSTM over
 * the layer code: buffer planning, dropout masks, and the float32 / float64
 * instantiations of model_impl.h. */
#include "model.h"

#include <math.h>

#include "threads.h"

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Adds `bytes` (rounded up to the alignment) at *off; returns the old offset. */
static size_t take(size_t *off, size_t bytes, int *ok) {
    size_t start = *off, r;
    if (!*ok || !pylstm_round_up_ok(bytes, &r) || !pylstm_add_ok(*off, r, off)) {
        *ok = 0;
        return 0;
    }
    return start;
}

static pylstm_status model_plan_nt(const pylstm_model_desc *d, size_t T, size_t B,
                                   size_t esize, size_t nt, pylstm_model_plan *p);

pylstm_status pylstm_model_plan_make(const pylstm_model_desc *d, size_t T, size_t B,
                                     size_t esize, int purpose, size_t work_size,
                                     pylstm_model_plan *p) {
    size_t nt = pylstm_pool_threads();
    for (;;) {
        size_t need;
        pylstm_status st = model_plan_nt(d, T, B, esize, nt, p);
        if (st != PYLSTM_OK) return st;
        need = purpose == PYLSTM_PLAN_FORWARD ? p->wf_total
               : purpose == PYLSTM_PLAN_TRAIN ? p->wt_total
               : purpose == PYLSTM_PLAN_BACKWARD ? p->wb_total : 0;
        if (need <= work_size || nt == 1) return PYLSTM_OK;
        --nt;
    }
}

static pylstm_status model_plan_nt(const pylstm_model_desc *d, size_t T, size_t B,
                                   size_t esize, size_t nt, pylstm_model_plan *p) {
    pylstm_status st;
    size_t seq, off;
    int ok = 1;
    if (d->input_size < 1 || d->hidden_size < 1 || d->num_layers < 1 || T < 1 || B < 1 ||
        d->proj_size >= d->hidden_size)
        return PYLSTM_ERR_BAD_SIZE;
    if (d->bidirectional != 0 && d->bidirectional != 1) return PYLSTM_ERR_BAD_ARGUMENT;
    p->L = d->num_layers, p->D = d->bidirectional ? 2 : 1, p->T = T, p->B = B;
    p->I = d->input_size, p->H = d->hidden_size, p->P = d->proj_size;
    p->R = p->P ? p->P : p->H;
    p->DR = p->D * p->R; /* R < SIZE_MAX / 4 follows from 4H fitting, checked by the plans */
    st = pylstm_layer_plan_make(T, B, p->I, p->H, p->P, esize, nt, &p->first);
    if (st != PYLSTM_OK) return st;
    st = pylstm_layer_plan_make(T, B, p->DR, p->H, p->P, esize, nt, &p->upper);
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

    /* work: the layer plans' totals already carry their own alignment slack */
    off = 0;
    p->wf_seq = take(&off, p->L > 1 ? seq : 0, &ok);
    take(&off, p->L > 1 ? seq : 0, &ok);
    p->wf_layer = take(&off, max_size(p->first.wf_total, p->upper.wf_total), &ok);
    ok = ok && pylstm_add_ok(off, PYLSTM_ALIGN, &p->wf_total);
    off = 0;
    p->wt_layer = take(&off, max_size(p->first.wt_total, p->upper.wt_total), &ok);
    ok = ok && pylstm_add_ok(off, PYLSTM_ALIGN, &p->wt_total);
    off = 0;
    p->wb_seq = take(&off, p->L > 1 ? seq : 0, &ok);
    take(&off, p->L > 1 ? seq : 0, &ok);
    p->wb_layer = take(&off, max_size(p->first.wb_total, p->upper.wb_total), &ok);
    ok = ok && pylstm_add_ok(off, PYLSTM_ALIGN, &p->wb_total);
    return ok ? PYLSTM_OK : PYLSTM_ERR_OVERFLOW;
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
