/* Internal interface of one layer direction (layer.c), shared with cell.c and
 * model.c. These functions trust their callers: the public entry points check
 * every argument before calling them. */
#ifndef PYLSTM_LAYER_H
#define PYLSTM_LAYER_H

#include "common.h"

/* Where each buffer of a layer direction lives, in bytes from the aligned start
 * of work or reserve, for given T, B, sizes and element size. Every *_total
 * includes PYLSTM_ALIGN bytes of slack so an unaligned caller buffer can be
 * aligned first. */
typedef struct pylstm_layer_plan {
    size_t T, B, I, H, P, R;
    size_t nt; /* parts (threads) the work buffers are sized for */
    /* reserve (training forward -> backward) */
    size_t res_gates; /* (T, B, 4H) activated i, f, g, o */
    size_t res_c;     /* (T+1, B, H) cell states, see layer_impl.h for slots */
    size_t res_h;     /* (T+1, B, R) hidden states */
    size_t res_m;     /* (T, B, H) o*tanh(c) before projection, P > 0 only */
    size_t res_total;
    /* packed weights and per-part GEMM scratch, the same in every work buffer:
     * nt * 4 slices of W_hh^T (one per part and gate), W_hr^T, nt GEMM works;
     * backward: nt column slices of W_hh and W_hr. */
    size_t pk_hh_region, pk_hhb_region, gemm_stride;
    size_t step_tmp;   /* bytes of the recurrent product of a step (B, 4H) */
    /* work of the inference forward */
    size_t wf_gates, wf_h, wf_c, wf_m, wf_bias, wf_pk_hh, wf_pk_hr, wf_tmp, wf_gemm, wf_total;
    /* work of the training forward */
    size_t wt_bias, wt_pk_hh, wt_pk_hr, wt_tmp, wt_gemm, wt_total;
    /* work of backward */
    size_t wb_dgates, wb_dh, wb_dc, wb_dm, wb_dhall, wb_dbias, wb_pk_hh, wb_pk_hr, wb_gemm,
        wb_total;
} pylstm_layer_plan;

/* Fills plan for nt parts; returns PYLSTM_ERR_OVERFLOW if a size does not fit
 * size_t. */
PYLSTM_INTERNAL pylstm_status pylstm_layer_plan_make(size_t T, size_t B, size_t I, size_t H,
                                                     size_t P, size_t esize, size_t nt,
                                                     pylstm_layer_plan *plan);

/* What a plan is for: the sizes query (as many parts as the pool has
 * threads), or a call whose work buffer has work_size bytes (the most parts,
 * down to one, whose work fits). */
#define PYLSTM_PLAN_QUERY 0
#define PYLSTM_PLAN_FORWARD 1
#define PYLSTM_PLAN_TRAIN 2
#define PYLSTM_PLAN_BACKWARD 3
PYLSTM_INTERNAL pylstm_status pylstm_layer_plan_fit(size_t T, size_t B, size_t I, size_t H,
                                                    size_t P, size_t esize, int purpose,
                                                    size_t work_size, pylstm_layer_plan *plan);

/* Of the forward, training and backward work totals, the one `purpose` needs
 * (0 for PYLSTM_PLAN_QUERY). */
static inline size_t pylstm_plan_need(int purpose, size_t wf, size_t wt, size_t wb) {
    return purpose == PYLSTM_PLAN_FORWARD    ? wf
           : purpose == PYLSTM_PLAN_TRAIN    ? wt
           : purpose == PYLSTM_PLAN_BACKWARD ? wb
                                             : 0;
}

/* A step loop with less work in all (multiply-adds of the recurrent
 * products; for a bidirectional layer's directions run at once, model.c, of
 * all its products) runs on the threads that are awake without waking the
 * others: at B = 1, H = 64, T = 100 (1.6M, 76 us at 1 thread) with the other
 * thread asleep (calls 1 ms apart), waking it made the call 90 -> 106-164
 * us. */
#define PYLSTM_STEPS_WAKE_MIN 4194304.0

/* A step loop (forward or backward) splits the batch when every part gets
 * at least this many rows (layer_impl.h: rows_part_, back_rows_part_), and
 * a bidirectional layer at 2 threads below it runs its directions at once
 * (model.c, dir_par). With the batch split each thread runs all the steps
 * of its rows with the whole of W_hh (and with projection, its rows'
 * product with W_hr, which a split of the units leaves to the calling
 * thread after a job per step) and the threads never meet, where a split
 * of the units meets once per step, each time waiting for the slower half.
 * Without projection, on a shared 2-core Zen 4 VM at 2
 * threads, T = 100, median of 30-60 calls from C, units -> rows, forward:
 * B = 32, I = H = 256 18.0-19.0 -> 16.9-17.5 ms; B = 64, H = 80 4.08 -> 3.03
 * ms; B = 16, H = 128 2.06 -> 1.72 ms; B = 8, H = 64 453-517 -> 426-471 us;
 * large, B = 64, H = 1024, unchanged; with 3 rows a part, B = 6, H = 64, 242
 * -> 304 us, hence 4. Backward's step loop (3 alternations): B = 32, I = H =
 * 256 10.3-14.6 -> 9.4-10.7 ms; B = 64, H = 80 4.3-4.7 -> 3.0-3.6 ms. At
 * least 3 rows a part also keep every row tile of the products above the
 * kernels' short-tile paths (gemm_kernel_impl.h), so a row's values do not
 * depend on the split. */
#define PYLSTM_ROWS_MIN_PART 4

/* Hidden units (and columns of h) are split between parts in multiples of
 * this many, so every slice keeps whole vectors. */
#define PYLSTM_SLICE_GRAIN 16

/* Upper bound of a slice's width when `count` is split into nt parts. */
PYLSTM_INTERNAL size_t pylstm_slice_max(size_t count, size_t nt);

/* Bytes between the packed recurrent weights of the parts of a forward step:
 * part p's W_hh^T holds the four gate blocks of its hidden units side by side
 * (N = 4 * slice width, K = R). 0 on overflow. */
PYLSTM_INTERNAL size_t pylstm_hh_pack_stride(size_t esize, size_t H, size_t R, size_t parts);

/* Bytes between the packed slices of an N x K operand cut into `parts`
 * column slices (0 on overflow). */
PYLSTM_INTERNAL size_t pylstm_slice_stride(size_t esize, size_t N, size_t K, size_t parts);

/* Checks the arguments every layer entry point shares (sizes, weights). */
PYLSTM_INTERNAL pylstm_status pylstm_layer_check_desc(const pylstm_layer_desc *desc, size_t T,
                                                      size_t B, const void *W_ih,
                                                      const void *W_hh, const void *W_hr);

/* Checks lengths: NULL, or B values each in 1..T. */
PYLSTM_INTERNAL pylstm_status pylstm_check_lengths(const int64_t *lengths, size_t T, size_t B);

/* A layer direction's weights packed ahead of the call (the model's prepared
 * copy, model.c), each in the packed-B layout of gemm.h. */
typedef struct {
    const void *ih;      /* W_ih^T, (N = 4H, K = I) */
    const void *hh_one;  /* W_hh^T for one part (pylstm_layer_pack_hh_*) */
    const void *hh_many; /* W_hh^T for nt parts, or NULL */
    size_t nt;           /* parts of hh_many */
    const void *hr;      /* W_hr^T (N = P, K = H), P > 0 only */
} pylstm_layer_packed;

#define PYLSTM_DECLARE_LAYER(REAL, SUFFIX)                                                       \
    /* W_hh (4H, R) packed for a step split into nparts parts, at                               \
     * pylstm_hh_pack_stride(.., nparts) bytes per part (pk aligned). */                        \
    PYLSTM_INTERNAL void pylstm_layer_pack_hh_##SUFFIX(size_t H, size_t R, const REAL *W_hh,     \
                                                       size_t nparts, unsigned char *pk);        \
    /* Forward of one direction. reserve != NULL: training (states saved in                     \
     * reserve, which is aligned already); else inference (work holds them).                    \
     * pre != NULL: the weights packed ahead (w still gives the biases). */                     \
    PYLSTM_INTERNAL void pylstm_layer_run_##SUFFIX(                                              \
        const pylstm_layer_plan *p, const pylstm_weights_##SUFFIX *w,                            \
        const pylstm_layer_packed *pre, int reverse, const REAL *x, size_t ldx, const REAL *h0,  \
        const REAL *c0, const int64_t *lengths, REAL *y, size_t ldy, REAL *h_n, REAL *c_n,       \
        unsigned char *reserve, unsigned char *work);                                           \
    /* Backward of one direction; dx is overwritten, or added into when                         \
     * accumulate_dx (the two directions of a bidirectional layer share x). */                  \
    PYLSTM_INTERNAL void pylstm_layer_back_##SUFFIX(                                             \
        const pylstm_layer_plan *p, const pylstm_weights_##SUFFIX *w, int reverse,               \
        const REAL *x, size_t ldx, const int64_t *lengths, const unsigned char *reserve,        \
        const REAL *dy, size_t lddy, const REAL *dh_n, const REAL *dc_n, REAL *dx, size_t lddx,  \
        int accumulate_dx, REAL *dh0, REAL *dc0, const pylstm_grads_##SUFFIX *g,                \
        unsigned char *work);

PYLSTM_DECLARE_LAYER(float, f32)
PYLSTM_DECLARE_LAYER(double, f64)

#endif
