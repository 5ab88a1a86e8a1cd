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
    /* written so that NaN selects lo: the conversion to int below stays defined */
    float xc = x >= lo ? x : lo;
    float t, n, r, p;
    int32_t e;
    uint32_t bits, pbits, xbits, nan_mask;
    float scale;
    xc = xc <= hi ? xc : hi;
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
    p = p * scale;
    /* NaN passes through, by a bit select rather than ?: on floats: gcc would
     * sink the polynomial into a branch and then not vectorise the loop (it
     * may not speculate possibly-trapping float operations). */
    memcpy(&pbits, &p, sizeof p);
    memcpy(&xbits, &x, sizeof x);
    nan_mask = (uint32_t)0 - (uint32_t)(x != x);
    pbits = (pbits & ~nan_mask) | (xbits & nan_mask);
    memcpy(&p, &pbits, sizeof p);
    return p;
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
    float p = -5.70498872745e-3f, big, res;
    uint32_t pbits, bbits, sign, small_mask;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    p = p * z * x + x;
    big = 1.0f - 2.0f / (exp_f32(2.0f * a) + 1.0f);
    /* sign of x onto big, then pick p for |x| < 0.625, both by bit selects
     * (see exp_f32 for why not ?:). NaN: a < 0.625 is false, big is NaN. */
    memcpy(&pbits, &p, sizeof p);
    memcpy(&bbits, &big, sizeof big);
    memcpy(&sign, &x, sizeof x);
    bbits |= sign & 0x80000000u;
    small_mask = (uint32_t)0 - (uint32_t)(a < 0.625f);
    bbits = (pbits & small_mask) | (bbits & ~small_mask);
    memcpy(&res, &bbits, sizeof res);
    return res;
}

/* Array forms of the scalar approximations: the portable path. */
static void vsigmoid_base(size_t n, const float *x, float *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = sigmoid_f32(x[k]);
}

static void vtanh_base(size_t n, const float *x, float *y) {
    size_t k;
    for (k = 0; k < n; ++k) y[k] = tanh_f32(x[k]);
}

#if PYLSTM_GEMM_HAVE_X86
#include <immintrin.h>

/* The same algorithm as exp_f32, 8 lanes (AVX2 + FMA). max/min return their
 * second operand for NaN, so NaN lanes are clamped like x = lo and put back
 * at the end. */
PYLSTM_TARGET("avx2,fma") PYLSTM_ALWAYS_INLINE __m256 exp_avx2(__m256 x) {
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    __m256i e;
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    p = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_blendv_ps(p, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

PYLSTM_TARGET("avx2,fma") PYLSTM_ALWAYS_INLINE __m256 sigmoid_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

PYLSTM_TARGET("avx2,fma") PYLSTM_ALWAYS_INLINE __m256 tanh_avx2(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    const __m256 a = _mm256_andnot_ps(sign, x), z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f), big;
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f),
                                           _mm256_add_ps(exp_avx2(_mm256_add_ps(a, a)), one)));
    big = _mm256_or_ps(big, _mm256_and_ps(x, sign));
    return _mm256_blendv_ps(big, p, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

PYLSTM_TARGET("avx2,fma") static void vsigmoid_avx2(size_t n, const float *x, float *y) {
    size_t k = 0;
    for (; k + 8 <= n; k += 8) _mm256_storeu_ps(y + k, sigmoid_avx2(_mm256_loadu_ps(x + k)));
    for (; k < n; ++k) y[k] = sigmoid_f32(x[k]);
}

PYLSTM_TARGET("avx2,fma") static void vtanh_avx2(size_t n, const float *x, float *y) {
    size_t k = 0;
    for (; k + 8 <= n; k += 8) _mm256_storeu_ps(y + k, tanh_avx2(_mm256_loadu_ps(x + k)));
    for (; k < n; ++k) y[k] = tanh_f32(x[k]);
}

/* 16 lanes (AVX-512F); tails with masked loads and stores. */
PYLSTM_TARGET("avx512f") PYLSTM_ALWAYS_INLINE __m512 exp_avx512(__m512 x) {
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    __m512i e;
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    p = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), p, x);
}

PYLSTM_TARGET("avx512f") PYLSTM_ALWAYS_INLINE __m512 sigmoid_avx512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

PYLSTM_TARGET("avx512f") PYLSTM_ALWAYS_INLINE __m512 tanh_avx512(__m512 x) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    const __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-5.70498872745e-3f), big;
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f),
                                           _mm512_add_ps(exp_avx512(_mm512_add_ps(a, a)), one)));
    big = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(big), _mm512_and_si512(_mm512_castps_si512(x), sign)));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ), big, p);
}

PYLSTM_TARGET("avx512f") static void vsigmoid_avx512(size_t n, const float *x, float *y) {
    size_t k = 0;
    for (; k + 16 <= n; k += 16) _mm512_storeu_ps(y + k, sigmoid_avx512(_mm512_loadu_ps(x + k)));
    if (k < n) {
        const __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        _mm512_mask_storeu_ps(y + k, m, sigmoid_avx512(_mm512_maskz_loadu_ps(m, x + k)));
    }
}

PYLSTM_TARGET("avx512f") static void vtanh_avx512(size_t n, const float *x, float *y) {
    size_t k = 0;
    for (; k + 16 <= n; k += 16) _mm512_storeu_ps(y + k, tanh_avx512(_mm512_loadu_ps(x + k)));
    if (k < n) {
        const __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        _mm512_mask_storeu_ps(y + k, m, tanh_avx512(_mm512_maskz_loadu_ps(m, x + k)));
    }
}
#endif

#define REAL float

#define TARGET
#define NAME(x) x##_f32_base
#define VSIGMOID vsigmoid_base
#define VTANH vtanh_base
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef VSIGMOID
#undef VTANH

#if PYLSTM_GEMM_HAVE_X86
#define TARGET PYLSTM_TARGET("avx2,fma")
#define NAME(x) x##_f32_avx2
#define VSIGMOID vsigmoid_avx2
#define VTANH vtanh_avx2
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef VSIGMOID
#undef VTANH

#define TARGET PYLSTM_TARGET("avx512f,avx2,fma")
#define NAME(x) x##_f32_avx512
#define VSIGMOID vsigmoid_avx512
#define VTANH vtanh_avx512
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef VSIGMOID
#undef VTANH
#endif

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

/* The ISA of the chosen GEMM kernel decides the gate loops' too. */
static int act_isa(void) {
#if PYLSTM_GEMM_HAVE_X86
    return pylstm_gemm_active()->id;
#else
    return PYLSTM_KERNEL_REF;
#endif
}

void pylstm_gates_fwd_f32(size_t B, size_t H, size_t j0, size_t j1, size_t t,
                          const int64_t *lengths, const float *bias, float *gates,
                          const float *c_prev, float *c_cur, float *m) {
    switch (act_isa()) {
#if PYLSTM_GEMM_HAVE_X86
    case PYLSTM_KERNEL_AVX512:
        gates_fwd_f32_avx512(B, H, j0, j1, t, lengths, bias, gates, c_prev, c_cur, m);
        return;
    case PYLSTM_KERNEL_AVX2:
        gates_fwd_f32_avx2(B, H, j0, j1, t, lengths, bias, gates, c_prev, c_cur, m);
        return;
#endif
    default:
        gates_fwd_f32_base(B, H, j0, j1, t, lengths, bias, gates, c_prev, c_cur, m);
    }
}

void pylstm_gates_bwd_f32(size_t B, size_t H, size_t j0, size_t j1, size_t t,
                          const int64_t *lengths, const float *gates, const float *c_prev,
                          const float *c_cur, const float *dm, float *dc, float *dgates) {
    switch (act_isa()) {
#if PYLSTM_GEMM_HAVE_X86
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
    switch (act_isa()) {
#if PYLSTM_GEMM_HAVE_X86
    case PYLSTM_KERNEL_AVX512: vsigmoid_avx512(n, x, y); return;
    case PYLSTM_KERNEL_AVX2: vsigmoid_avx2(n, x, y); return;
#endif
    default: vsigmoid_base(n, x, y);
    }
}

void pylstm_tanh_array_f32(size_t n, const float *x, float *y) {
    switch (act_isa()) {
#if PYLSTM_GEMM_HAVE_X86
    case PYLSTM_KERNEL_AVX512: vtanh_avx512(n, x, y); return;
    case PYLSTM_KERNEL_AVX2: vtanh_avx2(n, x, y); return;
#endif
    default: vtanh_base(n, x, y);
    }
}
