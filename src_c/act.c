/* Gate nonlinearities and the fused per-step gate loops: the portable
 * float32 instance, the float64 one, and the run-time choice between them and
 * the vector instances of act_avx2.c and act_avx512.c.
 *
 * float32 uses its own exp, sigmoid and tanh (act_f32.h): branch-free, so the
 * loops of act_impl.h vectorise, compiled three times — baseline here, AVX2+FMA
 * and AVX-512 in their own files — and picked at run time from the CPU
 * features. float64's portable instance here keeps libm (the precision
 * reference); its vector instances (act_f64_vec.h) stay within a few ulp of
 * it. */
#include "act.h"

#include "act_f32.h"
#include "cpu.h"

/* Array forms of the scalar approximations: the portable path. */
void pylstm_sigmoid_array_f32_base(size_t n, const float *x, float *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = sigmoid_f32(x[k]);
}

void pylstm_tanh_array_f32_base(size_t n, const float *x, float *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = tanh_f32(x[k]);
}

#define REAL float
#define TARGET
#define NAME(x) pylstm_##x##_f32_base
#define VSIGMOID pylstm_sigmoid_array_f32_base
#define VTANH pylstm_tanh_array_f32_base
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef VSIGMOID
#undef VTANH
#undef REAL

void pylstm_sigmoid_array_f64_base(size_t n, const double *x, double *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = pylstm_sigmoid_f64(x[k]);
}

void pylstm_tanh_array_f64_base(size_t n, const double *x, double *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = tanh(x[k]);
}

#define REAL double
#define TARGET
#define NAME(x) pylstm_##x##_f64_base
#define VSIGMOID pylstm_sigmoid_array_f64_base
#define VTANH pylstm_tanh_array_f64_base
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef VSIGMOID
#undef VTANH
#undef REAL

/* The dispatchers, for both element types: each calls the instance of the
 * widest ISA the usable CPU features allow (cpu.h, capped by PYLSTM_KERNEL
 * like the GEMM's choice, so one cap tests both). */
#if PYLSTM_HAVE_X86
enum { ACT_BASE, ACT_AVX2, ACT_AVX512 };
static int act_isa(void) {
    const unsigned f = pylstm_cpu_features();
    if (f & PYLSTM_CPU_AVX512) return ACT_AVX512;
    if (f & PYLSTM_CPU_AVX2) return ACT_AVX2;
    return ACT_BASE;
}

#define ACT_CALL(fn, SUFFIX, args)                                                             \
    switch (act_isa()) {                                                                       \
    case ACT_AVX512: fn##_##SUFFIX##_avx512 args; return;                                      \
    case ACT_AVX2: fn##_##SUFFIX##_avx2 args; return;                                          \
    default: fn##_##SUFFIX##_base args;                                                        \
    }
#else
#define ACT_CALL(fn, SUFFIX, args) fn##_##SUFFIX##_base args;
#endif

#define DEFINE_DISPATCH(REAL, SUFFIX)                                                          \
    void pylstm_gates_fwd_##SUFFIX(size_t B, size_t H, size_t j0, size_t j1, size_t t,          \
                                   const int64_t *lengths, const REAL *bias, const REAL *rec,   \
                                   REAL *gates, const REAL *c_prev, REAL *c_cur, REAL *m,      \
                                   size_t ldm) {                                                \
        ACT_CALL(pylstm_gates_fwd, SUFFIX,                                                     \
                 (B, H, j0, j1, t, lengths, bias, rec, gates, c_prev, c_cur, m, ldm))           \
    }                                                                                          \
    void pylstm_gates_bwd_##SUFFIX(size_t B, size_t H, size_t j0, size_t j1, size_t t,          \
                                   const int64_t *lengths, const REAL *gates,                   \
                                   const REAL *c_prev, const REAL *c_cur, const REAL *dm,       \
                                   REAL *dc, REAL *dgates) {                                    \
        ACT_CALL(pylstm_gates_bwd, SUFFIX,                                                     \
                 (B, H, j0, j1, t, lengths, gates, c_prev, c_cur, dm, dc, dgates))              \
    }                                                                                          \
    void pylstm_sigmoid_array_##SUFFIX(size_t n, const REAL *x, REAL *y) {                     \
        ACT_CALL(pylstm_sigmoid_array, SUFFIX, (n, x, y))                                      \
    }                                                                                          \
    void pylstm_tanh_array_##SUFFIX(size_t n, const REAL *x, REAL *y) {                        \
        ACT_CALL(pylstm_tanh_array, SUFFIX, (n, x, y))                                         \
    }

DEFINE_DISPATCH(float, f32)
DEFINE_DISPATCH(double, f64)
