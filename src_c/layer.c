/* One direction of one LSTM layer over a sequence: buffer planning, argument
 * checks, and the float32 / float64 instantiations of layer_impl.h. */
#include "layer.h"

#include "act.h"
#include "gemm.h"

/* Carves consecutive aligned regions out of one buffer, tracking overflow. */
typedef struct {
    size_t off;
    int ok;
} pylstm_carver;

static size_t carve(pylstm_carver *cv, size_t count, size_t esize) {
    size_t bytes, start = cv->off;
    if (!cv->ok) return 0;
    if (!pylstm_mul_ok(count, esize, &bytes) || !pylstm_round_up_ok(bytes, &bytes) ||
        !pylstm_add_ok(cv->off, bytes, &cv->off)) {
        cv->ok = 0;
        return 0;
    }
    return start;
}

/* Total bytes with slack for aligning an arbitrary caller pointer. */
static size_t carve_total(pylstm_carver *cv) {
    size_t total;
    if (!cv->ok || !pylstm_add_ok(cv->off, PYLSTM_ALIGN, &total)) {
        cv->ok = 0;
        return 0;
    }
    return total;
}

pylstm_status pylstm_layer_plan_make(size_t T, size_t B, size_t I, size_t H, size_t P,
                                     size_t esize, pylstm_layer_plan *p) {
    size_t R = P ? P : H, TB, TB4H, TBH, G4, T1BH, T1BR, BR, BH, BR2, BH2;
    pylstm_carver cv;
    int ok = T < SIZE_MAX && pylstm_mul_ok(T, B, &TB) && pylstm_mul_ok(H, 4, &G4) &&
             pylstm_mul_ok(TB, G4, &TB4H) && pylstm_mul_ok(TB, H, &TBH) &&
             pylstm_mul_ok(B, R, &BR) && pylstm_mul_ok(B, H, &BH) &&
             pylstm_mul_ok(T + 1, BH, &T1BH) && pylstm_mul_ok(T + 1, BR, &T1BR) &&
             pylstm_mul_ok(BR, 2, &BR2) && pylstm_mul_ok(BH, 2, &BH2);
    if (!ok) return PYLSTM_ERR_OVERFLOW;
    p->T = T, p->B = B, p->I = I, p->H = H, p->P = P, p->R = R;

    cv.off = 0, cv.ok = 1;
    p->res_gates = carve(&cv, TB4H, esize);
    p->res_c = carve(&cv, T1BH, esize);
    p->res_h = carve(&cv, T1BR, esize);
    p->res_m = carve(&cv, P ? TBH : 0, esize);
    p->res_total = carve_total(&cv);
    if (!cv.ok) return PYLSTM_ERR_OVERFLOW;

    cv.off = 0;
    p->wf_gates = carve(&cv, TB4H, esize);
    p->wf_h = carve(&cv, BR2, esize);
    p->wf_c = carve(&cv, BH2, esize);
    p->wf_m = carve(&cv, P ? BH : 0, esize);
    p->wf_bias = carve(&cv, G4, esize);
    p->wf_gemm = carve(&cv, pylstm_gemm_work_size(), 1);
    p->wf_total = carve_total(&cv);
    if (!cv.ok) return PYLSTM_ERR_OVERFLOW;

    cv.off = 0;
    p->wt_bias = carve(&cv, G4, esize);
    p->wt_gemm = carve(&cv, pylstm_gemm_work_size(), 1);
    p->wt_total = carve_total(&cv);
    if (!cv.ok) return PYLSTM_ERR_OVERFLOW;

    cv.off = 0;
    p->wb_dgates = carve(&cv, TB4H, esize);
    p->wb_dh = carve(&cv, BR2, esize);
    p->wb_dc = carve(&cv, BH, esize);
    p->wb_dm = carve(&cv, P ? BH : 0, esize);
    p->wb_dhall = carve(&cv, P ? TB * P : 0, esize); /* TB * P <= TB * H: no overflow */
    p->wb_dbias = carve(&cv, G4, esize);
    p->wb_gemm = carve(&cv, pylstm_gemm_work_size(), 1);
    p->wb_total = carve_total(&cv);
    return cv.ok ? PYLSTM_OK : PYLSTM_ERR_OVERFLOW;
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
