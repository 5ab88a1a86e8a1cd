/* The gate loops with AVX2 + FMA: float32 exp, sigmoid and tanh on 8 lanes
 * (the algorithm of act_f32.h), float64 ones on 4 (act_f64_vec.h), and
 * act_impl.h instantiated around each.
 * Compiled like any file by gcc and clang, which take the ISA from the target
 * attributes; MSVC compiles the whole file with /arch:AVX2 (sources.txt).
 * Runs only when cpu.c found AVX2 and FMA (act.c dispatches). */
#include "act_f32.h"

#if PYLSTM_HAVE_X86
#include <immintrin.h>

/* The same algorithm as exp_f32, 8 lanes (AVX2 + FMA), on four vectors at
 * once, each step for all four before the next (X4): the operations of
 * each lane and their order are those of one vector, but in program order
 * the four dependency chains are interleaved. An exp is a chain of about
 * 20 dependent operations; written one vector after the other, the
 * schedulers filled with the waiting tail of one chain before reaching the
 * head of the next, and a pass over a row of 64 units ran at the chains'
 * latency rather than at the FP units' rate: the five passes of a step at
 * B = 1, H = 64 took 0.19 us, now 0.17, and the whole gate loop 0.27 us,
 * now 0.24 (Zen 3, best of 41, paired runs; act_avx512.c still goes one
 * vector at a time, not yet measured on an AVX-512 machine). max and min
 * return their second operand when either is NaN, so with x second a NaN
 * lane stays NaN through the clamp and the polynomial (times any 2^n), with
 * no select at the end. X4 writes the four statements out with k_ a
 * constant in each: as a loop, gcc -O2 kept the arrays on the stack. */
#define X4(stmt)                                                                               \
    do {                                                                                       \
        { const int k_ = 0; stmt; } { const int k_ = 1; stmt; }                                \
        { const int k_ = 2; stmt; } { const int k_ = 3; stmt; }                                \
    } while (0)
PYLSTM_TARGET("avx2,fma") PYLSTM_ALWAYS_INLINE void exp4_avx2(__m256 x[4]) {
    __m256 n[4], r[4], p[4];
    __m256i e[4];
    X4(x[k_] = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(_mm256_set1_ps(-87.3f), x[k_])));
    X4(n[k_] = _mm256_round_ps(_mm256_mul_ps(x[k_], _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    X4(r[k_] = _mm256_fnmadd_ps(n[k_], _mm256_set1_ps(0.693359375f), x[k_]));
    X4(r[k_] = _mm256_fnmadd_ps(n[k_], _mm256_set1_ps(-2.12194440e-4f), r[k_]));
    X4(p[k_] = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), r[k_],
                               _mm256_set1_ps(1.3981999507e-3f)));
    X4(p[k_] = _mm256_fmadd_ps(p[k_], r[k_], _mm256_set1_ps(8.3334519073e-3f)));
    X4(p[k_] = _mm256_fmadd_ps(p[k_], r[k_], _mm256_set1_ps(4.1665795894e-2f)));
    X4(p[k_] = _mm256_fmadd_ps(p[k_], r[k_], _mm256_set1_ps(1.6666665459e-1f)));
    X4(p[k_] = _mm256_fmadd_ps(p[k_], r[k_], _mm256_set1_ps(5.0000001201e-1f)));
    X4(p[k_] = _mm256_fmadd_ps(p[k_], _mm256_mul_ps(r[k_], r[k_]),
                               _mm256_add_ps(r[k_], _mm256_set1_ps(1.0f))));
    X4(e[k_] = _mm256_slli_epi32(
           _mm256_add_epi32(_mm256_cvtps_epi32(n[k_]), _mm256_set1_epi32(127)), 23));
    X4(x[k_] = _mm256_mul_ps(p[k_], _mm256_castsi256_ps(e[k_])));
}

/* y = sigmoid(v) = 1 / (1 + exp(-v)), four vectors */
PYLSTM_TARGET("avx2,fma") PYLSTM_ALWAYS_INLINE void sigmoid4_avx2(const float *v, float *y) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e[4];
    X4(e[k_] = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_loadu_ps(v + 8 * k_)));
    exp4_avx2(e);
    X4(_mm256_storeu_ps(y + 8 * k_, _mm256_div_ps(one, _mm256_add_ps(one, e[k_]))));
}

/* y = tanh(v) as tanh_f32, four vectors */
PYLSTM_TARGET("avx2,fma") PYLSTM_ALWAYS_INLINE void tanh4_avx2(const float *v, float *y) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 x[4], a[4], z[4], p[4], big[4];
    X4(x[k_] = _mm256_loadu_ps(v + 8 * k_));
    X4(a[k_] = _mm256_andnot_ps(sign, x[k_]));
    X4(z[k_] = _mm256_mul_ps(x[k_], x[k_]));
    X4(p[k_] = _mm256_fmadd_ps(_mm256_set1_ps(-5.70498872745e-3f), z[k_],
                               _mm256_set1_ps(2.06390887954e-2f)));
    X4(p[k_] = _mm256_fmadd_ps(p[k_], z[k_], _mm256_set1_ps(-5.37397155531e-2f)));
    X4(p[k_] = _mm256_fmadd_ps(p[k_], z[k_], _mm256_set1_ps(1.33314422036e-1f)));
    X4(p[k_] = _mm256_fmadd_ps(p[k_], z[k_], _mm256_set1_ps(-3.33332819422e-1f)));
    X4(p[k_] = _mm256_fmadd_ps(_mm256_mul_ps(p[k_], z[k_]), x[k_], x[k_]));
    X4(big[k_] = _mm256_add_ps(a[k_], a[k_]));
    exp4_avx2(big);
    X4(big[k_] = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f),
                                                  _mm256_add_ps(big[k_], one))));
    X4(big[k_] = _mm256_or_ps(big[k_], _mm256_and_ps(x[k_], sign)));
    X4(_mm256_storeu_ps(y + 8 * k_,
                        _mm256_blendv_ps(big[k_], p[k_],
                                         _mm256_cmp_ps(a[k_], _mm256_set1_ps(0.625f),
                                                       _CMP_LT_OQ))));
}
#undef X4

/* y[k] = f(x[k]) for k < n: by four vectors, then the whole vectors left
 * through a zero-padded copy (the same operations on each lane), then the
 * last n % 8 values by the scalar function, as before the four-vector
 * form, so every element keeps its bits. */
#define ACT_ARRAY(NAME, F4, F1)                                                                \
    PYLSTM_TARGET("avx2,fma") void NAME(size_t n, const float *x, float *y) {                 \
        float buf[32];                                                                         \
        size_t k = 0, j, m;                                                                    \
        for (; k + 32 <= n; k += 32) F4(x + k, y + k);                                         \
        m = (n - k) / 8 * 8;                                                                   \
        if (m) {                                                                               \
            for (j = 0; j < 32; ++j) buf[j] = j < m ? x[k + j] : 0.0f;                         \
            F4(buf, buf);                                                                      \
            for (j = 0; j < m; ++j) y[k + j] = buf[j];                                         \
            k += m;                                                                            \
        }                                                                                      \
        for (; k < n; ++k) y[k] = F1(x[k]);                                                    \
    }
ACT_ARRAY(pylstm_sigmoid_array_f32_avx2, sigmoid4_avx2, sigmoid_f32)
ACT_ARRAY(pylstm_tanh_array_f32_avx2, tanh4_avx2, tanh_f32)
#undef ACT_ARRAY

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
