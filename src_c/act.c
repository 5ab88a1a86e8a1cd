/* Gate nonlinearities and the fused per-step gate loops: the portable
 * float32 instance, the float64 one, and the run-time choice between them and
 * the vector instances of act_avx2.c and act_avx512.c.
 *
 * float32 uses its own exp, sigmoid and tanh (act_f32.h): branch-free, so the
 * loops of act_impl.h vectorise, compiled three times — baseline here, AVX2+FMA
 * and AVX-512 in their own files — and picked at run time from the CPU
 * features. float64 keeps libm: it is the precision reference. */
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

static void vsigmoid_f64(size_t n, const double *x, double *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = pylstm_sigmoid_f64(x[k]);
}

static void vtanh_f64(size_t n, const double *x, double *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = tanh(x[k]);
}

#define REAL double
#define TARGET
#define NAME(x) pylstm_##x##_f64
#define VSIGMOID vsigmoid_f64
#define VTANH vtanh_f64
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef VSIGMOID
#undef VTANH
#undef REAL

/* The widest instance the usable CPU features allow (cpu.h, capped by
 * PYLSTM_KERNEL like the GEMM's choice, so one cap tests both). */
enum { ACT_BASE, ACT_AVX2, ACT_AVX512 };
static int act_isa(void) {
#if PYLSTM_HAVE_X86
    const unsigned f = pylstm_cpu_features();
    if (f & PYLSTM_CPU_AVX512) return ACT_AVX512;
    if (f & PYLSTM_CPU_AVX2) return ACT_AVX2;
#endif
    return ACT_BASE;
}

void pylstm_gates_fwd_f32(size_t B, size_t H, size_t j0, size_t j1, size_t t,
                          const int64_t *lengths, const float *bias, float *gates,
                          const float *c_prev, float *c_cur, float *m) {
    switch (act_isa()) {
#if PYLSTM_HAVE_X86
    case ACT_AVX512:
        pylstm_gates_fwd_f32_avx512(B, H, j0, j1, t, lengths, bias, gates, c_prev, c_cur, m);
        return;
    case ACT_AVX2:
        pylstm_gates_fwd_f32_avx2(B, H, j0, j1, t, lengths, bias, gates, c_prev, c_cur, m);
        return;
#endif
    default:
        pylstm_gates_fwd_f32_base(B, H, j0, j1, t, lengths, bias, gates, c_prev, c_cur, m);
    }
}

void pylstm_gates_bwd_f32(size_t B, size_t H, size_t j0, size_t j1, size_t t,
                          const int64_t *lengths, const float *gates, const float *c_prev,
                          const float *c_cur, const float *dm, float *dc, float *dgates) {
    switch (act_isa()) {
#if PYLSTM_HAVE_X86
    case ACT_AVX512:
        pylstm_gates_bwd_f32_avx512(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, dm, dc, dgates);
        return;
    case ACT_AVX2:
        pylstm_gates_bwd_f32_avx2(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, dm, dc, dgates);
        return;
#endif
    default:
        pylstm_gates_bwd_f32_base(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, dm, dc, dgates);
    }
}

void pylstm_sigmoid_array_f32(size_t n, const float *x, float *y) {
    switch (act_isa()) {
#if PYLSTM_HAVE_X86
    case ACT_AVX512: pylstm_sigmoid_array_f32_avx512(n, x, y); return;
    case ACT_AVX2: pylstm_sigmoid_array_f32_avx2(n, x, y); return;
#endif
    default: pylstm_sigmoid_array_f32_base(n, x, y);
    }
}

void pylstm_tanh_array_f32(size_t n, const float *x, float *y) {
    switch (act_isa()) {
#if PYLSTM_HAVE_X86
    case ACT_AVX512: pylstm_tanh_array_f32_avx512(n, x, y); return;
    case ACT_AVX2: pylstm_tanh_array_f32_avx2(n, x, y); return;
#endif
    default: pylstm_tanh_array_f32_base(n, x, y);
    }
}
