/* The gate loops with AVX-512F: float32 exp, sigmoid and tanh on 16 lanes
 * (the algorithm of act_f32.h, tails with masked loads and stores), float64
 * ones on 8 (act_f64_vec.h), and act_impl.h instantiated around each.
 * Compiled like any file by gcc and clang, which take the ISA from the target
 * attributes; MSVC compiles the whole file with /arch:AVX512 (sources.txt).
 * Runs only when cpu.c found AVX-512F (act.c dispatches). */
#include "act_f32.h"

#if PYLSTM_HAVE_X86
#include <immintrin.h>

/* The same algorithm as exp_f32, 16 lanes. max and min return their second
 * operand when either is NaN, so with x second a NaN lane stays NaN through
 * the clamp and the polynomial, with no select at the end; vscalefps puts in
 * 2^n (exact, as the exponent bits are for the clamped n), one instruction
 * for four. */
PYLSTM_TARGET("avx512f") PYLSTM_ALWAYS_INLINE __m512 exp_avx512(__m512 x) {
    const __m512 xc = _mm512_min_ps(_mm512_set1_ps(88.3f), _mm512_max_ps(_mm512_set1_ps(-87.3f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
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

PYLSTM_TARGET("avx512f") void pylstm_sigmoid_array_f32_avx512(size_t n, const float *x, float *y) {
    size_t k = 0;
    for (; k + 16 <= n; k += 16) _mm512_storeu_ps(y + k, sigmoid_avx512(_mm512_loadu_ps(x + k)));
    if (k < n) {
        const __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        _mm512_mask_storeu_ps(y + k, m, sigmoid_avx512(_mm512_maskz_loadu_ps(m, x + k)));
    }
}

PYLSTM_TARGET("avx512f") void pylstm_tanh_array_f32_avx512(size_t n, const float *x, float *y) {
    size_t k = 0;
    for (; k + 16 <= n; k += 16) _mm512_storeu_ps(y + k, tanh_avx512(_mm512_loadu_ps(x + k)));
    if (k < n) {
        const __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        _mm512_mask_storeu_ps(y + k, m, tanh_avx512(_mm512_maskz_loadu_ps(m, x + k)));
    }
}

#define REAL float
#define TARGET PYLSTM_TARGET("avx512f,avx2,fma")
#define NAME(x) pylstm_##x##_f32_avx512
#define VSIGMOID pylstm_sigmoid_array_f32_avx512
#define VTANH pylstm_tanh_array_f32_avx512
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef VSIGMOID
#undef VTANH
#undef REAL

#define VD __m512d
#define VL 8
#define D_TARGET PYLSTM_TARGET("avx512f")
#define D_ISA avx512
#define D_SET1(x) _mm512_set1_pd(x)
#define D_LOADU(p) _mm512_loadu_pd(p)
#define D_STOREU(p, v) _mm512_storeu_pd(p, v)
#define D_ADD(a, b) _mm512_add_pd(a, b)
#define D_SUB(a, b) _mm512_sub_pd(a, b)
#define D_MUL(a, b) _mm512_mul_pd(a, b)
#define D_DIV(a, b) _mm512_div_pd(a, b)
#define D_MIN(a, b) _mm512_min_pd(a, b)
#define D_MAX(a, b) _mm512_max_pd(a, b)
#define D_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define D_FNMA(a, b, c) _mm512_fnmadd_pd(a, b, c)
#define D_ROUND(x) _mm512_roundscale_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/* bit operations through the integer forms: the _pd ones need AVX512DQ */
#define D_BITS(x) _mm512_castpd_si512(x)
#define D_ABS(x) _mm512_castsi512_pd(_mm512_andnot_si512(D_BITS(_mm512_set1_pd(-0.0)), D_BITS(x)))
#define D_SIGN(x) _mm512_castsi512_pd(_mm512_and_si512(D_BITS(_mm512_set1_pd(-0.0)), D_BITS(x)))
#define D_OR(a, b) _mm512_castsi512_pd(_mm512_or_si512(D_BITS(a), D_BITS(b)))
#define D_SEL_LT(a, b, x, y) _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ), y, x)
#define D_SEL_NAN(v, x, y) _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q), y, x)
/* n + 1023 + 2^52 holds n + 1023 in its low bits; shifted into the exponent */
#define D_POW2(n)                                                                              \
    _mm512_castsi512_pd(_mm512_slli_epi64(                                                     \
        D_BITS(_mm512_add_pd(n, _mm512_set1_pd(4503599627371519.0))), 52))
#include "act_f64_vec.h"

#define REAL double
#define TARGET PYLSTM_TARGET("avx512f,avx2,fma")
#define NAME(x) pylstm_##x##_f64_avx512
#define VSIGMOID pylstm_sigmoid_array_f64_avx512
#define VTANH pylstm_tanh_array_f64_avx512
#include "act_impl.h"

#else
typedef int pylstm_act_avx512_empty; /* ISO C wants a declaration in every file */
#endif
