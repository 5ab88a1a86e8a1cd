/* Generic body of the float64 vector sigmoid and tanh, included by
 * act_avx2.c and act_avx512.c (one ISA each) with these macros set:
 *
 *   VD, VL          the vector type and its lanes of double
 *   D_TARGET        the target attribute of the functions
 *   D_ISA           the suffix of the functions defined (avx2, avx512)
 *   D_SET1(x) D_LOADU(p) D_STOREU(p, v) D_ADD D_SUB D_MUL D_DIV D_MIN D_MAX
 *   D_FMA(a, b, c)  a*b + c, fused;  D_FNMA(a, b, c)  c - a*b, fused
 *   D_ROUND(x)      round to nearest integer (as a double)
 *   D_ABS(x)        |x|;  D_SIGN(x)  the sign bit of x (0 or -0.0)
 *   D_OR(a, b)      bitwise or
 *   D_SEL_LT(a, b, x, y)  lane-wise a < b ? x : y
 *   D_SEL_NAN(v, x, y)    lane-wise v is NaN ? x : y
 *   D_POW2(n)       2^n for integral n in [-1022, 1023] (exponent bits)
 *
 * Accuracy (tests/c/test_act.c measures it against libm over a dense grid,
 * the tails and the special values): within a few ulp of libm's
 * 1/(1 + exp(-x)) and tanh(x) wherever the result is a normal double,
 * subnormal results included for sigmoid; exactly 0, 1 and +-1 where they
 * saturate; +-0 and NaN kept. */

#define D_CAT_(a, b) a##b
#define D_CAT(a, b) D_CAT_(a, b)
#define D_FN(name) D_CAT(name, D_ISA)

/* exp(z) for z <= 40: Cephes' exp (Moshier): z = n ln2 + r, |r| <= ln2/2,
 * exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)) (a Pade form, about 1 ulp),
 * times 2^n. Below -745.2 the result is 0, as for libm; NaN stays NaN. 2^n is
 * applied in two halves so that a result in the subnormal range is rounded
 * once, like libm's, instead of flushed. */
PYLSTM_ALWAYS_INLINE D_TARGET VD D_FN(exp_f64_)(VD z) {
    const VD zc = D_MIN(D_MAX(z, D_SET1(-746.0)), D_SET1(40.0));
    const VD n = D_ROUND(D_MUL(zc, D_SET1(1.4426950408889634073599)));
    const VD n1 = D_ROUND(D_MUL(n, D_SET1(0.5))), n2 = D_SUB(n, n1);
    VD r = D_FNMA(n, D_SET1(6.93145751953125E-1), zc), rr, p, q, e;
    r = D_FNMA(n, D_SET1(1.42860682030941723212E-6), r);
    rr = D_MUL(r, r);
    p = D_FMA(D_SET1(1.26177193074810590878E-4), rr, D_SET1(3.02994407707441961300E-2));
    p = D_MUL(r, D_FMA(p, rr, D_SET1(9.99999999999999999910E-1)));
    q = D_FMA(D_SET1(3.00198505138664455042E-6), rr, D_SET1(2.52448340349684104192E-3));
    q = D_FMA(q, rr, D_SET1(2.27265548208155028766E-1));
    q = D_FMA(q, rr, D_SET1(2.00000000000000000009E0));
    e = D_FMA(D_SET1(2.0), D_DIV(p, D_SUB(q, p)), D_SET1(1.0));
    e = D_MUL(D_MUL(e, D_POW2(n1)), D_POW2(n2));
    return D_SEL_NAN(z, z, e);
}

/* sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with
 * e = exp(-|x|) <= 1: the two forms of act.h's reference, so nothing
 * overflows and tiny results keep their relative accuracy. */
PYLSTM_ALWAYS_INLINE D_TARGET VD D_FN(sigmoid_f64_)(VD x) {
    const VD one = D_SET1(1.0);
    const VD e = D_FN(exp_f64_)(D_SUB(D_SET1(0.0), D_ABS(x)));
    return D_DIV(D_SEL_LT(x, D_SET1(0.0), e, one), D_ADD(one, e));
}

/* tanh(x): for |x| < 0.625 Cephes' x + x^3 P(x^2) / Q(x^2) (no cancellation
 * near 0, exact for +-0 and subnormals); otherwise
 * sign(x) (1 - 2 / (exp(2|x|) + 1)), which is exactly +-1 from |x| ~ 19.1
 * (exp's clamp at 40 is past that). */
PYLSTM_ALWAYS_INLINE D_TARGET VD D_FN(tanh_f64_)(VD x) {
    const VD a = D_ABS(x), z = D_MUL(a, a), one = D_SET1(1.0);
    VD p, q, small, big;
    p = D_FMA(D_SET1(-9.64399179425052238628E-1), z, D_SET1(-9.92877231001918586564E1));
    p = D_FMA(p, z, D_SET1(-1.61468768441708447952E3));
    q = D_ADD(z, D_SET1(1.12811678491632931402E2));
    q = D_FMA(q, z, D_SET1(2.23548839060100448583E3));
    q = D_FMA(q, z, D_SET1(4.84406305325125486048E3));
    small = D_FMA(D_MUL(a, z), D_DIV(p, q), a);
    big = D_SUB(one, D_DIV(D_SET1(2.0), D_ADD(D_FN(exp_f64_)(D_ADD(a, a)), one)));
    /* tanh(|x|) then x's sign bit, which keeps -0. NaN: a < 0.625 is false
     * and big is NaN. */
    return D_OR(D_SEL_LT(a, D_SET1(0.625), small, big), D_SIGN(x));
}

/* The array forms (y may equal x); a partial last vector goes through a
 * padded copy, so every element is computed by the same vector code. */
#define D_ARRAY(fn)                                                                            \
    D_TARGET void D_CAT(D_CAT(pylstm_, fn), D_CAT(_array_f64_, D_ISA))(size_t n, const double *x, \
                                                                    double *y) {              \
        double pad[VL];                                                                        \
        size_t k = 0, j;                                                                       \
        for (; k + VL <= n; k += VL) D_STOREU(y + k, D_FN(D_CAT(fn, _f64_))(D_LOADU(x + k)));   \
        if (k == n) return;                                                                    \
        for (j = 0; j < VL; ++j) pad[j] = k + j < n ? x[k + j] : 0.0;                          \
        D_STOREU(pad, D_FN(D_CAT(fn, _f64_))(D_LOADU(pad)));                                   \
        for (j = 0; k + j < n; ++j) y[k + j] = pad[j];                                         \
    }
D_ARRAY(sigmoid)
D_ARRAY(tanh)

#undef D_ARRAY
#undef D_CAT_
#undef D_CAT
#undef D_FN
