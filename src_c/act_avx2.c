/* The gate loops with AVX2 + FMA: float32 exp, sigmoid and tanh on 8 lanes
 * (the algorithm of act_f32.h), float64 ones on 4 (act_f64_vec.h), and
 * act_impl.h instantiated around each.
 * Compiled like any file by gcc and clang, which take the ISA from the target
 * attributes; MSVC compiles the whole file with /arch:AVX2 (sources.txt).
 * Runs only when cpu.c found AVX2 and FMA (act.c dispatches). */
#include "act_f32.h"

#if PYLSTM_HAVE_X86
#include <immintrin.h>

/* The same algorithm as exp_f32, 8 lanes (AVX2 + FMA). max and min return
 * their second operand when either is NaN, so with x second a NaN lane
 * stays NaN through the clamp and the polynomial (times any 2^n), with no
 * select at the end. */
PYLSTM_TARGET("avx2,fma") PYLSTM_ALWAYS_INLINE __m256 exp_avx2(__m256 x) {
    const __m256 xc = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(_mm256_set1_ps(-87.3f), x));
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
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
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

PYLSTM_TARGET("avx2,fma") void pylstm_sigmoid_array_f32_avx2(size_t n, const float *x, float *y) {
    size_t k = 0;
    for (; k + 8 <= n; k += 8) _mm256_storeu_ps(y + k, sigmoid_avx2(_mm256_loadu_ps(x + k)));
    for (; k < n; ++k) y[k] = sigmoid_f32(x[k]);
}

PYLSTM_TARGET("avx2,fma") void pylstm_tanh_array_f32_avx2(size_t n, const float *x, float *y) {
    size_t k = 0;
    for (; k + 8 <= n; k += 8) _mm256_storeu_ps(y + k, tanh_avx2(_mm256_loadu_ps(x + k)));
    for (; k < n; ++k) y[k] = tanh_f32(x[k]);
}

#define REAL float
#define TARGET PYLSTM_TARGET("avx2,fma")
#define NAME(x) pylstm_##x##_f32_avx2
#define VSIGMOID pylstm_sigmoid_array_f32_avx2
#define VTANH pylstm_tanh_array_f32_avx2
#include "act_impl.h"
#undef TARGET
#undef NAME
#undef VSIGMOID
#undef VTANH
#undef REAL

#define VD __m256d
#define VL 4
#define D_TARGET PYLSTM_TARGET("avx2,fma")
#define D_ISA avx2
#define D_SET1(x) _mm256_set1_pd(x)
#define D_LOADU(p) _mm256_loadu_pd(p)
#define D_STOREU(p, v) _mm256_storeu_pd(p, v)
#define D_ADD(a, b) _mm256_add_pd(a, b)
#define D_SUB(a, b) _mm256_sub_pd(a, b)
#define D_MUL(a, b) _mm256_mul_pd(a, b)
#define D_DIV(a, b) _mm256_div_pd(a, b)
#define D_MIN(a, b) _mm256_min_pd(a, b)
#define D_MAX(a, b) _mm256_max_pd(a, b)
#define D_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define D_FNMA(a, b, c) _mm256_fnmadd_pd(a, b, c)
#define D_ROUND(x) _mm256_round_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define D_ABS(x) _mm256_andnot_pd(_mm256_set1_pd(-0.0), x)
#define D_SIGN(x) _mm256_and_pd(x, _mm256_set1_pd(-0.0))
#define D_OR(a, b) _mm256_or_pd(a, b)
#define D_SEL_LT(a, b, x, y) _mm256_blendv_pd(y, x, _mm256_cmp_pd(a, b, _CMP_LT_OQ))
#define D_SEL_NAN(v, x, y) _mm256_blendv_pd(y, x, _mm256_cmp_pd(v, v, _CMP_UNORD_Q))
/* n + 1023 + 2^52 holds n + 1023 in its low bits; shifted into the exponent */
#define D_POW2(n)                                                                              \
    _mm256_castsi256_pd(_mm256_slli_epi64(                                                     \
        _mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(4503599627371519.0))), 52))
#include "act_f64_vec.h"

#define REAL double
#define TARGET PYLSTM_TARGET("avx2,fma")
#define NAME(x) pylstm_##x##_f64_avx2
#define VSIGMOID pylstm_sigmoid_array_f64_avx2
#define VTANH pylstm_tanh_array_f64_avx2
#include "act_impl.h"

#else
typedef int pylstm_act_avx2_empty; /* ISO C wants a declaration in every file */
#endif
