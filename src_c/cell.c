/* torch.nn.LSTMCell: one step is a layer direction with T = 1, no projection
 * and no lengths, so the cell reuses layer.c's code and checks entirely. */
#include "layer.h"

#define PYLSTM_DEFINE_CELL(REAL, SUFFIX)                                                         \
    pylstm_status pylstm_cell_sizes_##SUFFIX(size_t input_size, size_t hidden_size, size_t B,   \
                                             pylstm_sizes *out) {                               \
        pylstm_layer_desc d;                                                                    \
        d.input_size = input_size, d.hidden_size = hidden_size, d.proj_size = 0;                \
        return pylstm_layer_sizes_##SUFFIX(&d, 1, B, out);                                      \
    }                                                                                           \
                                                                                                \
    pylstm_status pylstm_cell_forward_##SUFFIX(                                                 \
        size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_##SUFFIX *w,      \
        const REAL *x, const REAL *h, const REAL *c, REAL *h_out, REAL *c_out, void *work,      \
        size_t work_size) {                                                                     \
        pylstm_layer_desc d;                                                                    \
        d.input_size = input_size, d.hidden_size = hidden_size, d.proj_size = 0;                \
        if (!h_out || !c_out) return PYLSTM_ERR_NULL_POINTER;                                   \
        /* y (T=1) is h_out itself; the layer writes h_n = y again. */                          \
        return pylstm_layer_forward_##SUFFIX(&d, w, 1, B, 0, x, input_size, h, c, NULL, h_out,  \
                                             hidden_size, NULL, c_out, work, work_size);        \
    }                                                                                           \
                                                                                                \
    pylstm_status pylstm_cell_forward_train_##SUFFIX(                                           \
        size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_##SUFFIX *w,      \
        const REAL *x, const REAL *h, const REAL *c, REAL *h_out, REAL *c_out, void *reserve,   \
        size_t reserve_size, void *work, size_t work_size) {                                    \
        pylstm_layer_desc d;                                                                    \
        d.input_size = input_size, d.hidden_size = hidden_size, d.proj_size = 0;                \
        if (!h_out || !c_out) return PYLSTM_ERR_NULL_POINTER;                                   \
        return pylstm_layer_forward_train_##SUFFIX(&d, w, 1, B, 0, x, input_size, h, c, NULL,   \
                                                   h_out, hidden_size, NULL, c_out, reserve,    \
                                                   reserve_size, work, work_size);              \
    }                                                                                           \
                                                                                                \
    pylstm_status pylstm_cell_backward_##SUFFIX(                                                \
        size_t input_size, size_t hidden_size, size_t B, const pylstm_weights_##SUFFIX *w,      \
        const REAL *x, const void *reserve, size_t reserve_size, const REAL *dh_out,            \
        const REAL *dc_out, REAL *dx, REAL *dh, REAL *dc, const pylstm_grads_##SUFFIX *g,       \
        void *work, size_t work_size) {                                                         \
        pylstm_layer_desc d;                                                                    \
        d.input_size = input_size, d.hidden_size = hidden_size, d.proj_size = 0;                \
        /* The step's output is its final state: its gradient enters as dh_n. */               \
        return pylstm_layer_backward_##SUFFIX(&d, w, 1, B, 0, x, input_size, NULL, reserve,     \
                                              reserve_size, NULL, 0, dh_out, dc_out, dx,        \
                                              input_size, dh, dc, g, work, work_size);          \
    }

PYLSTM_DEFINE_CELL(float, f32)
PYLSTM_DEFINE_CELL(double, f64)
