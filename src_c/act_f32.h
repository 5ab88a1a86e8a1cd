/* The float32 exp, sigmoid and tanh of the gate loops, as scalar inline
 * functions: the portable path (act.c) and the tails of the vector loops
 * (act_avx2.c, act_avx512.c) use these same definitions. Internal.
 *
 * Branch-free (selects only) so that loops over them vectorise. Accuracy
 * (measured by tests/c/test_act.c against libm in double over [-30, 30] and
 * at the extremes): exp within 2 ulp on [-87, 88]; sigmoid and tanh within a
 * few float32 ulp of the true value wherever the result is a normal float,
 * exactly 0/1 or +-1 in the saturated tails, never NaN for finite input. NaN
 * in, NaN out. */
#ifndef PYLSTM_ACT_F32_H
#define PYLSTM_ACT_F32_H

#include <string.h>

#include "act.h"
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

#endif
