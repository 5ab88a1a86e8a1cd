/* Gate nonlinearities and the fused per-step gate loops.
 *
 * float32 uses its own exp, sigmoid and tanh: branch-free (selects only) so
 * the loops of act_impl.h vectorise, compiled three times — baseline, AVX2+FMA
 * and AVX-512 via per-function target attributes — and picked at run time
 * with the GEMM kernel. float64 keeps libm: it is the precision reference.
 *
 * Accuracy (measured by tests/c/test_act.c against libm in double over
 * [-30, 30] and at the extremes): exp within 2 ulp on [-87, 88]; sigmoid and
 * tanh within a few float32 ulp of the true value wherever the result is a
 * normal float, exactly 0/1 or +-1 in the saturated tails, never NaN for finite
 * input. NaN in, NaN out. */
#include "act.h"

#include <string.h>

#include "gemm.h"
#include "cpu.h"

/* exp(x) for float32: x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-6
 * polynomial (Cephes' expf coefficients, ~1 ulp), 2^n put into the exponent
 * bits. x is clamped to [-87.3, 88.3] so 2^n stays a normal float; the callers
 * only need exp for sigmoid/tanh, where the clamp is invisible. */
PYLSTM_ALWAYS_INLINE float exp_f32(float x) {
    const float lo = -87.3f, hi = 88.3f;
    float xc = x < lo ? lo : x;
    float t, n, r, p;
    int32_t e;
    uint32_t bits;
    float scale;
    xc = xc > hi ? hi : xc;
    t = xc * 1.44269504088896341f;
    /* round to nearest via truncation of t +- 0.5 (vectorises without SSE4.1) */
    n = (float)(int32_t)(t + (t >= 0.0f ? 0.5f : -0.5f));
    r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    e = (int32_t)n + 127;
    bits = (uint32_t)e << 23;
    memcpy(&scale, &bits, sizeof scale);
    return x != x ? x : p * scale; /* NaN passes through */
}

/* sigmoid(x) = 1 / (1 + exp(-x)); for x -> -inf exp(-x) saturates at the clamp
 * and the result is ~1e-38 instead of smaller: below float32's normal range. */
PYLSTM_ALWAYS_INLINE float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

/* tanh(x): for |x| < 0.625 the odd polynomial x + x^3 P(x^2) (Cephes' tanhf,
 * avoiding the cancellation of the exp form near 0); otherwise
 * sign(x) (1 - 2 / (exp(2|x|) + 1)), which saturates to exactly +-1. */
PYLSTM_ALWAYS_INLINE float tanh_f32(float x) {
    const float a = x < 0.0f ? -x : x;
    const float z = x * x;
    float p = -5.70498872745e-3f;
    float big;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    p = p * z * x + x;
    big = 1.0f - 2.0f / (exp_f32(2.0f * a) + 1.0f);
    big = x < 0.0f ? -big : big;
    return a < 0.625f ? p : big;
}

#define REAL float
#define SIGMOID sigmoid_f32
#define TANH tanh_f32

#define TARGET
#define NAME(x) x##_f32_base
#include "act_impl.h"
#undef TARGET
#undef NAME

#if PYLSTM_GEMM_HAVE_X86 && !defined(_MSC_VER)
#define TARGET PYLSTM_TARGET("avx2,fma")
#define NAME(x) x##_f32_avx2
#include "act_impl.h"
#undef TARGET
#undef NAME

#define TARGET PYLSTM_TARGET("avx512f,avx512dq,avx2,fma")
#define NAME(x) x##_f32_avx512
#include "act_impl.h"
#undef TARGET
#undef NAME
#endif

#undef REAL
#undef SIGMOID
#undef TANH

#define REAL double
#define SIGMOID pylstm_sigmoid_f64
#define TANH pylstm_tanh_f64
#define TARGET
#define NAME(x) pylstm_##x##_f64
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef REAL
#undef SIGMOID
#undef TANH

/* The ISA of the chosen GEMM kernel decides the gate loops' too. */
static int act_isa(void) {
#if PYLSTM_GEMM_HAVE_X86 && !defined(_MSC_VER)
    return pylstm_gemm_active()->id;
#else
    return PYLSTM_KERNEL_REF;
#endif
}

void pylstm_gates_fwd_f32(size_t B, size_t H, size_t j0, size_t j1, size_t t,
                          const int64_t *lengths, float *gates, const float *c_prev,
                          float *c_cur, float *m) {
    switch (act_isa()) {
#if PYLSTM_GEMM_HAVE_X86 && !defined(_MSC_VER)
    case PYLSTM_KERNEL_AVX512:
        gates_fwd_f32_avx512(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, m);
        return;
    case PYLSTM_KERNEL_AVX2:
        gates_fwd_f32_avx2(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, m);
        return;
#endif
    default:
        gates_fwd_f32_base(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, m);
    }
}

void pylstm_gates_bwd_f32(size_t B, size_t H, size_t j0, size_t j1, size_t t,
                          const int64_t *lengths, const float *gates, const float *c_prev,
                          const float *c_cur, const float *dm, float *dc, float *dgates) {
    switch (act_isa()) {
#if PYLSTM_GEMM_HAVE_X86 && !defined(_MSC_VER)
    case PYLSTM_KERNEL_AVX512:
        gates_bwd_f32_avx512(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, dm, dc, dgates);
        return;
    case PYLSTM_KERNEL_AVX2:
        gates_bwd_f32_avx2(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, dm, dc, dgates);
        return;
#endif
    default:
        gates_bwd_f32_base(B, H, j0, j1, t, lengths, gates, c_prev, c_cur, dm, dc, dgates);
    }
}

void pylstm_sigmoid_array_f32(size_t n, const float *x, float *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = sigmoid_f32(x[k]);
}

void pylstm_tanh_array_f32(size_t n, const float *x, float *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = tanh_f32(x[k]);
}
