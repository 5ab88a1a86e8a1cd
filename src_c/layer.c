/* One direction of one LSTM layer over a sequence: buffer planning, argument
 * checks, and the float32 / float64 instantiations of layer_impl.h. */
#include "layer.h"

#include "act.h"
#include "gemm.h"
#include "threads.h"

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

size_t pylstm_slice_max(size_t count, size_t nt) {
    size_t chunks = (count + PYLSTM_SLICE_GRAIN - 1) / PYLSTM_SLICE_GRAIN;
    return ((chunks + nt - 1) / nt) * PYLSTM_SLICE_GRAIN;
}

static size_t packed_size(size_t esize, size_t N, size_t K) {
    return esize == sizeof(float) ? pylstm_gemm_packed_b_size_f32(N, K)
                                  : pylstm_gemm_packed_b_size_f64(N, K);
}

size_t pylstm_slice_stride(size_t esize, size_t N, size_t K, size_t parts) {
    size_t bytes = packed_size(esize, pylstm_slice_max(N, parts), K);
    return bytes && pylstm_round_up_ok(bytes, &bytes) ? bytes : 0;
}

size_t pylstm_hh_pack_stride(size_t esize, size_t H, size_t R, size_t parts) {
    size_t bytes = packed_size(esize, 4 * pylstm_slice_max(H, parts), R);
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
    size_t R = P ? P : H, TB, TB4H, TBH, G4, T1BH, T1BR, BR, BH, BR2, BH2;
    size_t pk_hr, pk_hrb;
    pylstm_carver cv;
    int ok = T < SIZE_MAX && H < SIZE_MAX / 8 && pylstm_mul_ok(T, B, &TB) &&
             pylstm_mul_ok(H, 4, &G4) && pylstm_mul_ok(TB, G4, &TB4H) &&
             pylstm_mul_ok(TB, H, &TBH) && pylstm_mul_ok(B, R, &BR) && pylstm_mul_ok(B, H, &BH) &&
             pylstm_mul_ok(T + 1, BH, &T1BH) && pylstm_mul_ok(T + 1, BR, &T1BR) &&
             pylstm_mul_ok(BR, 2, &BR2) && pylstm_mul_ok(BH, 2, &BH2);
    if (!ok) return PYLSTM_ERR_OVERFLOW;
    p->T = T, p->B = B, p->I = I, p->H = H, p->P = P, p->R = R, p->nt = nt;

    /* packed slices: 0 from the size queries means overflow */
    {
        /* one part: W_hh^T packed whole; nt parts: nt side-by-side gate slices */
        size_t one = pylstm_hh_pack_stride(esize, H, R, 1), many = pylstm_hh_pack_stride(esize, H, R, nt);
        if (!one || !many || !pylstm_mul_ok(many, nt, &many) ||
            !pylstm_mul_ok(G4, B, &p->step_tmp) || !pylstm_mul_ok(p->step_tmp, esize, &p->step_tmp))
            return PYLSTM_ERR_OVERFLOW;
        p->pk_hh_region = one > many ? one : many;
    }
    p->pk_hhb_region = slices_region(esize, R, G4, nt, 1);
    pk_hr = P ? packed_size(esize, P, H) : 0;
    pk_hrb = P ? packed_size(esize, H, P) : 0;
    if (!p->pk_hh_region || !p->pk_hhb_region || (P && (!pk_hr || !pk_hrb)) ||
        !pylstm_round_up_ok(pylstm_gemm_work_size(), &p->gemm_stride))
        return PYLSTM_ERR_OVERFLOW;

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
    p->wf_pk_hh = carve(&cv, p->pk_hh_region, 1);
    p->wf_pk_hr = carve(&cv, pk_hr, 1);
    p->wf_tmp = carve(&cv, p->step_tmp, 1);
    p->wf_gemm = carve(&cv, nt, p->gemm_stride);
    p->wf_total = carve_total(&cv);
    if (!cv.ok) return PYLSTM_ERR_OVERFLOW;

    cv.off = 0;
    p->wt_bias = carve(&cv, G4, esize);
    p->wt_pk_hh = carve(&cv, p->pk_hh_region, 1);
    p->wt_pk_hr = carve(&cv, pk_hr, 1);
    p->wt_tmp = carve(&cv, p->step_tmp, 1);
    p->wt_gemm = carve(&cv, nt, p->gemm_stride);
    p->wt_total = carve_total(&cv);
    if (!cv.ok) return PYLSTM_ERR_OVERFLOW;

    cv.off = 0;
    p->wb_dgates = carve(&cv, TB4H, esize);
    p->wb_dh = carve(&cv, BR2, esize);
    p->wb_dc = carve(&cv, BH, esize);
    p->wb_dm = carve(&cv, P ? BH : 0, esize);
    p->wb_dhall = carve(&cv, P ? TB * P : 0, esize); /* TB * P <= TB * H: no overflow */
    p->wb_dbias = carve(&cv, G4, esize);
    p->wb_pk_hh = carve(&cv, p->pk_hhb_region, 1);
    p->wb_pk_hr = carve(&cv, pk_hrb, 1);
    p->wb_gemm = carve(&cv, nt, p->gemm_stride);
    p->wb_total = carve_total(&cv);
    return cv.ok ? PYLSTM_OK : PYLSTM_ERR_OVERFLOW;
}

pylstm_status pylstm_layer_plan_fit(size_t T, size_t B, size_t I, size_t H, size_t P,
                                    size_t esize, int purpose, size_t work_size,
                                    pylstm_layer_plan *p) {
    size_t nt = pylstm_pool_threads();
    for (;;) {
        size_t need;
        pylstm_status st = pylstm_layer_plan_make(T, B, I, H, P, esize, nt, p);
        if (st != PYLSTM_OK) return st;
        need = purpose == PYLSTM_PLAN_FORWARD ? p->wf_total
               : purpose == PYLSTM_PLAN_TRAIN ? p->wt_total
               : purpose == PYLSTM_PLAN_BACKWARD ? p->wb_total : 0;
        if (need <= work_size || nt == 1) return PYLSTM_OK;
        --nt;
    }
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
