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

/* Element k of layer l's dropout keep-test value, in [0, 1) (see pylstm.h). */
PYLSTM_INTERNAL double pylstm_dropout_uniform(uint64_t seed, size_t layer, size_t k);

#endif
