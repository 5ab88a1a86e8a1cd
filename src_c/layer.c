/* One direction of one LSTM layer over a sequence: buffer planning, argument
 * checks, and the float32 / float64 instantiations of layer_impl.h. */
#include "layer.h"

#include "act.h"
#include "gemm.h"
#include "threads.h"

size_t pylstm_slice_max(size_t count, size_t nt) {
    size_t chunks = (count + PYLSTM_SLICE_GRAIN - 1) / PYLSTM_SLICE_GRAIN;
    return ((chunks + nt - 1) / nt) * PYLSTM_SLICE_GRAIN;
}

size_t pylstm_slice_stride(size_t esize, size_t N, size_t K, size_t parts) {
    size_t bytes = pylstm_gemm_packed_b_bytes(esize, pylstm_slice_max(N, parts), K);
    return bytes && pylstm_round_up_ok(bytes, &bytes) ? bytes : 0;
}

size_t pylstm_hh_pack_stride(size_t esize, size_t H, size_t R, size_t parts) {
    size_t bytes = pylstm_gemm_packed_b_bytes(esize, 4 * pylstm_slice_max(H, parts), R);
    return bytes && pylstm_round_up_ok(bytes, &bytes) ? bytes : 0;
}

/* Room for the slices of an N x K operand cut `per_part` ways per part into
 * 1 or nt parts (the loops use one part for small work, nt for large). */
static size_t slices_region(size_t esize, size_t N, size_t K, size_t nt, size_t per_part) {
    size_t one = pylstm_slice_stride(esize, N, K, 1), many = pylstm_slice_stride(esize, N, K, nt);
    size_t a, b;
    if (!one || !many || !pylstm_mul_ok(one, per_part, &a) || !pylstm_mul_ok(many, per_part, &b) ||
        !pylstm_mul_ok(b, nt, &b))
        return 0;
    return a > b ? a : b;
}

pylstm_status pylstm_layer_plan_make(size_t T, size_t B, size_t I, size_t H, size_t P,
                                     size_t esize, size_t nt, pylstm_layer_plan *p) {
    size_t R = P ? P : H, TB, TB4H, TBH, G4, BG4, T1BH, T1BR, BR, BH, BR2, BH2;
    size_t pk_hr, pk_hrb;
    pylstm_carver cv;
    int ok = T < SIZE_MAX && H < SIZE_MAX / 8 && pylstm_mul_ok(T, B, &TB) &&
             pylstm_mul_ok(H, 4, &G4) && pylstm_mul_ok(TB, G4, &TB4H) &&
             pylstm_mul_ok(B, G4, &BG4) && pylstm_mul_ok(TB, H, &TBH) &&
             pylstm_mul_ok(B, R, &BR) && pylstm_mul_ok(B, H, &BH) &&
             pylstm_mul_ok(T + 1, BH, &T1BH) && pylstm_mul_ok(T + 1, BR, &T1BR) &&
             pylstm_mul_ok(BR, 2, &BR2) && pylstm_mul_ok(BH, 2, &BH2);
    if (!ok) return PYLSTM_ERR_OVERFLOW;
    p->T = T, p->B = B, p->I = I, p->H = H, p->P = P, p->R = R, p->nt = nt;

    /* packed slices: 0 from the size queries means overflow */
    {
        /* one part: W_hh^T packed whole; nt parts: nt side-by-side gate slices */
        size_t one = pylstm_hh_pack_stride(esize, H, R, 1);
        size_t many = pylstm_hh_pack_stride(esize, H, R, nt);
        if (!one || !many || !pylstm_mul_ok(many, nt, &many) ||
            !pylstm_mul_ok(G4, B, &p->step_tmp) || !pylstm_mul_ok(p->step_tmp, esize, &p->step_tmp))
            return PYLSTM_ERR_OVERFLOW;
        p->pk_hh_region = one > many ? one : many;
    }
    p->pk_hhb_region = slices_region(esize, R, G4, nt, 1);
    pk_hr = P ? pylstm_gemm_packed_b_bytes(esize, P, H) : 0;
    pk_hrb = P ? pylstm_gemm_packed_b_bytes(esize, H, P) : 0;
    if (!p->pk_hh_region || !p->pk_hhb_region || (P && (!pk_hr || !pk_hrb)) ||
        !pylstm_round_up_ok(pylstm_gemm_work_size(), &p->gemm_stride))
        return PYLSTM_ERR_OVERFLOW;

    cv.off = 0, cv.ok = 1;
    p->res_gates = pylstm_carve(&cv, TB4H, esize);
    p->res_c = pylstm_carve(&cv, T1BH, esize);
    p->res_h = pylstm_carve(&cv, T1BR, esize);
    p->res_m = pylstm_carve(&cv, P ? TBH : 0, esize);
    p->res_total = pylstm_carve_total(&cv);
    if (!cv.ok) return PYLSTM_ERR_OVERFLOW;

    cv.off = 0;
    p->wf_gates = pylstm_carve(&cv, TB4H, esize);
    p->wf_h = pylstm_carve(&cv, BR2, esize);
    p->wf_c = pylstm_carve(&cv, BH2, esize);
    p->wf_m = pylstm_carve(&cv, P ? BH : 0, esize);
    p->wf_bias = pylstm_carve(&cv, G4, esize);
    p->wf_pk_hh = pylstm_carve(&cv, p->pk_hh_region, 1);
    p->wf_pk_hr = pylstm_carve(&cv, pk_hr, 1);
    p->wf_tmp = pylstm_carve(&cv, p->step_tmp, 1);
    p->wf_gemm = pylstm_carve(&cv, nt, p->gemm_stride);
    p->wf_total = pylstm_carve_total(&cv);
    if (!cv.ok) return PYLSTM_ERR_OVERFLOW;

    cv.off = 0;
    p->wt_bias = pylstm_carve(&cv, G4, esize);
    p->wt_pk_hh = pylstm_carve(&cv, p->pk_hh_region, 1);
    p->wt_pk_hr = pylstm_carve(&cv, pk_hr, 1);
    p->wt_tmp = pylstm_carve(&cv, p->step_tmp, 1);
    p->wt_gemm = pylstm_carve(&cv, nt, p->gemm_stride);
    p->wt_total = pylstm_carve_total(&cv);
    if (!cv.ok) return PYLSTM_ERR_OVERFLOW;

    cv.off = 0;
    p->wb_dgates = pylstm_carve(&cv, TB4H, esize);
    p->wb_dh = pylstm_carve(&cv, BR2, esize);
    p->wb_dc = pylstm_carve(&cv, BH, esize);
    p->wb_dm = pylstm_carve(&cv, P ? BH : 0, esize);
    p->wb_dhall = pylstm_carve(&cv, P ? TB * P : 0, esize); /* TB * P <= TB * H: no overflow */
    p->wb_dbias = pylstm_carve(&cv, BG4, esize); /* one running sum per batch row */
    p->wb_pk_hh = pylstm_carve(&cv, p->pk_hhb_region, 1);
    p->wb_pk_hr = pylstm_carve(&cv, pk_hrb, 1);
    p->wb_gemm = pylstm_carve(&cv, nt, p->gemm_stride);
    p->wb_total = pylstm_carve_total(&cv);
    return cv.ok ? PYLSTM_OK : PYLSTM_ERR_OVERFLOW;
}

typedef struct {
    size_t T, B, I, H, P, esize;
    int purpose;
    pylstm_layer_plan *p;
} layer_fit_ctx;

static pylstm_status layer_fit_plan(void *vctx, size_t nt, size_t *need) {
    const layer_fit_ctx *c = (const layer_fit_ctx *)vctx;
    const pylstm_layer_plan *p = c->p;
    pylstm_status st = pylstm_layer_plan_make(c->T, c->B, c->I, c->H, c->P, c->esize, nt, c->p);
    *need = pylstm_plan_need(c->purpose, p->wf_total, p->wt_total, p->wb_total);
    return st;
}

pylstm_status pylstm_layer_plan_fit(size_t T, size_t B, size_t I, size_t H, size_t P,
                                    size_t esize, int purpose, size_t work_size,
                                    pylstm_layer_plan *p) {
    layer_fit_ctx c;
    c.T = T, c.B = B, c.I = I, c.H = H, c.P = P, c.esize = esize, c.purpose = purpose, c.p = p;
    return pylstm_fit_threads(layer_fit_plan, &c, work_size);
}

pylstm_status pylstm_layer_check_desc(const pylstm_layer_desc *desc, size_t T, size_t B,
                                      const void *W_ih, const void *W_hh, const void *W_hr) {
    if (!desc || !W_ih || !W_hh) return PYLSTM_ERR_NULL_POINTER;
    if (T < 1 || B < 1 || desc->input_size < 1 || desc->hidden_size < 1)
        return PYLSTM_ERR_BAD_SIZE;
    if (desc->proj_size >= desc->hidden_size) return PYLSTM_ERR_BAD_SIZE;
    if (desc->proj_size > 0 && !W_hr) return PYLSTM_ERR_NULL_POINTER;
    if (desc->proj_size == 0 && W_hr) return PYLSTM_ERR_BAD_ARGUMENT;
    return PYLSTM_OK;
}

pylstm_status pylstm_check_lengths(const int64_t *lengths, size_t T, size_t B) {
    size_t b;
    if (!lengths) return PYLSTM_OK;
    for (b = 0; b < B; ++b)
        if (lengths[b] < 1 || (uint64_t)lengths[b] > (uint64_t)T) return PYLSTM_ERR_BAD_LENGTHS;
    return PYLSTM_OK;
}

/* The kind of a step loop, for pylstm_pool_steps_split: the forward's or the
 * backward's, in float32 or float64, with per_step multiply-adds in each
 * step's recurrent product, folded into a positive long (32 bits on
 * Windows). Loops whose kinds collide share their timings. */
static long loop_kind(size_t per_step, int back, size_t real_size) {
    return 1 + 4 * (long)(per_step % 268435399u) + 2 * back + (real_size == 8);
}

#define REAL float
#define SUFFIX f32
#include "layer_impl.h"
#undef REAL
#undef SUFFIX

#define REAL double
#define SUFFIX f64
#include "layer_impl.h"
#undef REAL
#undef SUFFIX
