/* Gate nonlinearities: scalar references (libm) and the fused per-step gate
 * loops the layer code calls. Internal. */
#ifndef PYLSTM_ACT_H
#define PYLSTM_ACT_H

#include <math.h>

#include "common.h"

/* sigmoid(x) = 1 / (1 + exp(-x)), evaluated so that exp never overflows: for
 * x < 0 the equivalent exp(x) / (1 + exp(x)) is used. The reference. */
static inline float pylstm_sigmoid_ref_f32(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    {
        const float e = expf(x);
        return e / (1.0f + e);
    }
}

static inline double pylstm_sigmoid_f64(double x) {
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    {
        const double e = exp(x);
        return e / (1.0 + e);
    }
}

static inline double pylstm_tanh_f64(double x) { return tanh(x); }

/* The fused step loops (act_impl.h documents them), with sigmoid/tanh
 * vectorised for the widest ISA the usable CPU features (cpu.h) allow:
 * float32 branch-free polynomials (act_f32.h), float64 Cephes' rational forms
 * (act_f64_vec.h); the portable float64 instance uses libm. */
#define PYLSTM_DECLARE_GATES(REAL, SUFFIX)                                                     \
    PYLSTM_INTERNAL void pylstm_gates_fwd_##SUFFIX(                                            \
        size_t B, size_t H, size_t j0, size_t j1, size_t t, const int64_t *lengths,             \
        const REAL *bias, const REAL *rec, REAL *gates, const REAL *c_prev, REAL *c_cur,        \
        REAL *m, size_t ldm);                                                                  \
    PYLSTM_INTERNAL void pylstm_gates_bwd_##SUFFIX(                                            \
        size_t B, size_t H, size_t j0, size_t j1, size_t t, const int64_t *lengths,             \
        const REAL *gates, const REAL *c_prev, const REAL *c_cur, const REAL *dm, REAL *dc,     \
        REAL *dgates);                                                                          \
    /* The nonlinearities the gate loops use, over arrays, for the tests that                   \
     * bound their error against libm: y[k] = sigmoid(x[k]) or tanh(x[k]) (y                    \
     * may equal x). */                                                                         \
    PYLSTM_INTERNAL void pylstm_sigmoid_array_##SUFFIX(size_t n, const REAL *x, REAL *y);        \
    PYLSTM_INTERNAL void pylstm_tanh_array_##SUFFIX(size_t n, const REAL *x, REAL *y);

PYLSTM_DECLARE_GATES(float, f32)
PYLSTM_DECLARE_GATES(double, f64)

/* The instances behind the functions above, one per ISA: _base (act.c),
 * _avx2 (act_avx2.c), _avx512 (act_avx512.c; both x86 only). The vector ones
 * may run only on a CPU with their ISA: call them through the functions
 * above. */
#define PYLSTM_DECLARE_GATES_ISA(ISA)                                                          \
    PYLSTM_DECLARE_GATES(float, f32_##ISA)                                                     \
    PYLSTM_DECLARE_GATES(double, f64_##ISA)

PYLSTM_DECLARE_GATES_ISA(base)
PYLSTM_DECLARE_GATES_ISA(avx2)
PYLSTM_DECLARE_GATES_ISA(avx512)

#endif
