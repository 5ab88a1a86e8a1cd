/* Internal buffer plan of the stacked model (model.c). */
#ifndef PYLSTM_MODEL_H
#define PYLSTM_MODEL_H

#include "layer.h"

typedef struct pylstm_model_plan {
    size_t L, D, T, B, I, H, P, R, DR; /* DR = D * R: width of a layer's output */
    pylstm_layer_plan first, upper;    /* layer 0 (input I) and layers >= 1 (input D*R) */
    /* reserve: per (l, d) a layer reserve; per l < L-1 the next layer's input
     * (after dropout) and the dropout mask, each (T, B, D*R) */
    size_t res_layer0, res_layer_stride0, res_upper, res_layer_stride;
    size_t res_inputs, res_masks, res_seq_stride, res_total;
    /* dir_par: the two directions of each layer run at once, one thread
     * each, from their own layer work (model.c, model_plan_nt); the layer
     * plans are then for one thread, and wf_dir, wt_dir, wb_dir are the
     * bytes from the first direction's layer work to the second's (0: the
     * directions run one after the other from the same layer work). */
    int dir_par;
    size_t wf_dir, wt_dir, wb_dir;
    /* work */
    size_t wf_seq, wf_layer, wf_total; /* two (T, B, D*R) ping-pong outputs + layer work */
    size_t wt_layer, wt_total;
    size_t wb_seq, wb_layer, wb_total; /* two (T, B, D*R) gradient buffers + layer work */
} pylstm_model_plan;

/* As pylstm_layer_plan_fit: purpose is a PYLSTM_PLAN_* value and work_size
 * the caller's work buffer. */
PYLSTM_INTERNAL pylstm_status pylstm_model_plan_make(const pylstm_model_desc *desc, size_t T,
                                                     size_t B, size_t esize, int purpose,
                                                     size_t work_size, pylstm_model_plan *plan);

/* ---- prepared weights (pylstm_model_prep_*) ----
 *
 * A caller whose weights do not change packs them once; a forward from the
 * prepared copy then reads every W^T packed instead of packing W_ih^T (inside
 * the input-projection GEMM), W_hh^T and W_hr^T on every call. Biases stay in
 * the caller's weights. Layout, from the first PYLSTM_ALIGN-aligned byte of
 * the caller's buffer (the bytes before it are zeroed):
 *
 *   header (PYLSTM_PREP_HEADER_BYTES): pylstm_prep_layout
 *   one block per layer direction e = l * D + d, layer 0's D blocks first,
 *   then the same-sized blocks of layers >= 1, each holding
 *       W_ih^T packed whole (N = 4H, K = input size)
 *       W_hh^T packed for one part (pylstm_layer_pack_hh_*)
 *       W_hh^T packed for nt parts (nt > 1 only)
 *       W_hr^T packed (P > 0 only)
 *
 * A step is split into 1 or nt parts (nt: the plan's thread count), and the
 * W_hh^T layout depends on the split, so both layouts for the thread count at
 * prep time are kept; a forward at another count packs W_hh^T into its work as
 * the unprepared forward does. Every packed blob records its kernel (gemm.h). */
#define PYLSTM_PREP_HEADER_BYTES 256

typedef struct {
    size_t ih, hh_one, hh_many, hr, bytes; /* offsets in one block, and its size */
} pylstm_prep_block;

typedef struct {
    uint32_t magic, version;
    size_t lead; /* bytes from the caller's pointer to the header */
    size_t esize, I, H, P, R, L, D, nt;
    pylstm_prep_block first, upper; /* layer 0 (input I), layers >= 1 (input D*R) */
    size_t total;                   /* bytes the caller's buffer needs, with slack */
} pylstm_prep_layout;

/* The layout for nt parts; PYLSTM_ERR_BAD_SIZE / _BAD_ARGUMENT for a bad desc,
 * PYLSTM_ERR_OVERFLOW. */
PYLSTM_INTERNAL pylstm_status pylstm_prep_layout_make(const pylstm_model_desc *desc,
                                                      size_t esize, size_t nt,
                                                      pylstm_prep_layout *lay);

/* The layout with the most parts (the pool's thread count down to 1) whose
 * buffer fits prep_size; PYLSTM_ERR_BUFFER_TOO_SMALL when none does. */
PYLSTM_INTERNAL pylstm_status pylstm_prep_layout_fit(const pylstm_model_desc *desc,
                                                     size_t esize, size_t prep_size,
                                                     pylstm_prep_layout *lay);

/* Writes lay's header into prep (zeroing the lead bytes); returns the aligned
 * start of the buffer. */
PYLSTM_INTERNAL unsigned char *pylstm_prep_write_header(pylstm_prep_layout *lay, void *prep);

/* Reads and checks the header of a prepared buffer against desc and esize:
 * PYLSTM_ERR_BAD_ARGUMENT if it is not a buffer prepared for them,
 * PYLSTM_ERR_BUFFER_TOO_SMALL if prep_size is below its size. */
PYLSTM_INTERNAL pylstm_status pylstm_prep_read(const pylstm_model_desc *desc, size_t esize,
                                               const void *prep, size_t prep_size,
                                               pylstm_prep_layout *lay,
                                               const unsigned char **start);

/* Layer direction e's packed weights in a prepared buffer starting at start. */
PYLSTM_INTERNAL void pylstm_prep_layer(const pylstm_prep_layout *lay, const unsigned char *start,
                                       size_t e, pylstm_layer_packed *out);

/* The internal API of prepared weights, for callers inside the library (the
 * model handle); f64 twins below.
 *
 * pylstm_model_prep_size_f32: bytes a prepared copy of desc's weights needs
 *   for the current thread count (0 on overflow or a bad desc).
 * pylstm_model_prep_f32: packs every layer direction's W_ih^T, W_hh^T (and
 *   W_hr^T) as the forward needs them into prep (any alignment). Checks its
 *   arguments like the public functions; PYLSTM_ERR_BUFFER_TOO_SMALL when
 *   prep_size is below the size for one thread. A buffer sized when fewer
 *   threads were set is fine: it gets the layout for as many parts as fit.
 *   The weights are not read again by forward_prep except the biases and, when
 *   a call's step split was not prepared, W_hh.
 * pylstm_model_forward_prep_f32: exactly pylstm_model_forward_f32 (the same
 *   results bit for bit, the same checks, the same work size) but reading the
 *   packed weights from prep instead of packing them. prep must have been
 *   prepared for this desc and element type at this address
 *   (PYLSTM_ERR_BAD_ARGUMENT if its header says otherwise: a copy moved to
 *   another alignment must be prepared again). It is only read, so several
 *   threads may run from one prepared buffer at once. The products use the
 *   kernel that prepared the buffer, so results equal the unprepared forward's
 *   as long as the kernel choice (PYLSTM_KERNEL, pylstm_cpu_set_cap) has not
 *   changed since. */
#define PYLSTM_DECLARE_PREP(REAL, SUFFIX)                                                        \
    PYLSTM_INTERNAL size_t pylstm_model_prep_size_##SUFFIX(const pylstm_model_desc *desc);       \
    PYLSTM_INTERNAL pylstm_status pylstm_model_prep_##SUFFIX(                                    \
        const pylstm_model_desc *desc, const pylstm_weights_##SUFFIX *w, void *prep,             \
        size_t prep_size);                                                                      \
    PYLSTM_INTERNAL pylstm_status pylstm_model_forward_prep_##SUFFIX(                            \
        const pylstm_model_desc *desc, const pylstm_weights_##SUFFIX *w, const void *prep,       \
        size_t prep_size, size_t T, size_t B, const REAL *x, const REAL *h0, const REAL *c0,     \
        const int64_t *lengths, REAL *y, REAL *h_n, REAL *c_n, void *work, size_t work_size);
PYLSTM_DECLARE_PREP(float, f32)
PYLSTM_DECLARE_PREP(double, f64)

/* Element k of layer l's dropout keep-test value, in [0, 1) (see pylstm.h). */
PYLSTM_INTERNAL double pylstm_dropout_uniform(uint64_t seed, size_t layer, size_t k);

#endif
