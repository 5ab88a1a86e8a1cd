/* Generic body of a SIMD micro-kernel (contract in gemm.h, pylstm_ukr_*_t).
 * Included by gemm_avx512.c, gemm_avx2.c and gemm_neon.c once per type with:
 *
 *   REAL            float or double
 *   VEC             the vector type (VL lanes of REAL)
 *   VL, NV, UKR_MR  lanes, vectors per tile row (1..4; NR = NV*VL), rows (1..16)
 *   V_ZERO() V_LOAD(p) V_STORE(p, v) V_BCAST(x) V_ADD(x, y)
 *   V_FMA(x, y, acc)  acc + x*y, fused
 *   UKR_TARGET      the target attribute (may be empty)
 *   UKR_NAME        the name of the function to define
 *   UKR_PREFETCH(p) optional: prefetch the line at p (used for the C tile)
 *
 * The tile is held in NV*UKR_MR named accumulators c<row>_<vec>. Per k step
 * the kernel loads NV vectors of B and, for each row, broadcasts one value of
 * A and issues NV FMAs (the "row broadcast" scheme, which suits row-major C:
 * a tile row is NV contiguous vectors). The body is an always-inline function
 * of the row count m and the vector count nv (NV; 1 in the edge instance,
 * UKR_NAME_edge, gemm.h: ukr_edge); UKR_NAME switches to a copy instantiated
 * per constant m, so every `if (m > i)` and `if (nv > j)` below folds away and the
 * accumulators of absent rows vanish: edge tiles of fewer rows cost only their
 * own FMAs. For m <= 2 there are too few independent FMA chains to cover FMA
 * latency (4 cycles x 2 pipes needs 8), so k is split four ways over extra
 * accumulator sets d, e, f, summed at the end (changes rounding order only). */

#define UKR_CAT_(a, b) a##b
#define UKR_CAT(a, b) UKR_CAT_(a, b)
#define UKR_BODY UKR_CAT(UKR_NAME, _body)

/* Apply X(S, row, ap) to every row, in order. */
#define UKR_ROWS(X, S, ap)                                                                    \
    X(S, 0, ap) X(S, 1, ap) X(S, 2, ap) X(S, 3, ap) X(S, 4, ap) X(S, 5, ap) X(S, 6, ap)       \
        X(S, 7, ap) X(S, 8, ap) X(S, 9, ap) X(S, 10, ap) X(S, 11, ap) X(S, 12, ap)           \
            X(S, 13, ap) X(S, 14, ap) X(S, 15, ap)
#define UKR_ROWS01(X, S, ap) X(S, 0, ap) X(S, 1, ap)

#define UKR_DECL(S, i, ap)                                                                    \
    VEC S##i##_0 = V_ZERO(), S##i##_1 = V_ZERO(), S##i##_2 = V_ZERO(), S##i##_3 = V_ZERO();

#define UKR_FMA(S, i, ap)                                                                     \
    if (m > i) {                                                                              \
        const VEC a_ = V_BCAST((ap)[i]);                                                      \
        S##i##_0 = V_FMA(a_, b_0, S##i##_0);                                                  \
        if (nv > 1) S##i##_1 = V_FMA(a_, b_1, S##i##_1);                                      \
        if (nv > 2) S##i##_2 = V_FMA(a_, b_2, S##i##_2);                                      \
        if (nv > 3) S##i##_3 = V_FMA(a_, b_3, S##i##_3);                                      \
    }

#define UKR_PF(S, i, ap)                                                                      \
    if (m > i) {                                                                              \
        UKR_PREFETCH(c + (size_t)(i)*ldc + o0);                                               \
        UKR_PREFETCH(c + (size_t)(i)*ldc + o_end);                                            \
    }

/* c += S, for the k-split sets of rows 0 and 1. */
#define UKR_FOLD(S, i, ap)                                                                    \
    c##i##_0 = V_ADD(c##i##_0, S##i##_0);                                                     \
    c##i##_1 = V_ADD(c##i##_1, S##i##_1);                                                     \
    c##i##_2 = V_ADD(c##i##_2, S##i##_2);                                                     \
    c##i##_3 = V_ADD(c##i##_3, S##i##_3);

/* One k step into accumulator set S, reading A at ap and B at bp. */
#define UKR_STEP(S, ap, bp, ROWS)                                                             \
    {                                                                                         \
        const VEC b_0 = V_LOAD(bp);                                                           \
        const VEC b_1 = nv > 1 ? V_LOAD((bp) + VL) : V_ZERO();                                \
        const VEC b_2 = nv > 2 ? V_LOAD((bp) + 2 * VL) : V_ZERO();                            \
        const VEC b_3 = nv > 3 ? V_LOAD((bp) + 3 * VL) : V_ZERO();                            \
        ROWS(UKR_FMA, S, ap)                                                                  \
        (void)b_1, (void)b_2, (void)b_3;                                                      \
    }

/* Steps p .. end - 1 with strides SA and SB (of A and B). */
#define UKR_LOOP(end, SA, SB)                                                                 \
    for (; p < (end); ++p) {                                                                  \
        UKR_STEP(c, a, b, UKR_ROWS)                                                           \
        a += (SA);                                                                            \
        b += (SB);                                                                            \
    }
/* Unroll the loop that follows four times, where the compiler takes the
 * hint (gcc and clang). */
#if defined(__GNUC__)
#define UKR_UNROLL4 _Pragma("GCC unroll 4")
#else
#define UKR_UNROLL4
#endif

#define UKR_STORE_VEC(i, j)                                                                   \
    if (nv > j) {                                                                             \
        REAL *p_ = c + (size_t)(i)*ldc + o##j;                                                \
        V_STORE(p_, accumulate ? V_ADD(V_LOAD(p_), c##i##_##j) : c##i##_##j);                 \
    }
#define UKR_STORE(S, i, ap)                                                                   \
    if (m > i) {                                                                              \
        UKR_STORE_VEC(i, 0) UKR_STORE_VEC(i, 1) UKR_STORE_VEC(i, 2) UKR_STORE_VEC(i, 3)       \
    }

PYLSTM_ALWAYS_INLINE UKR_TARGET void UKR_BODY(const int m, const int nv, size_t k, const REAL *a,
                                              size_t sa, const REAL *b, size_t sb, REAL *c,
                                              size_t ldc, int accumulate, const size_t *vat) {
    UKR_ROWS(UKR_DECL, c, a)
    size_t p = 0;
    /* where vector j of a row starts (gemm.h), and the row's last column */
    const size_t o0 = vat ? vat[0] : 0, o1 = nv > 1 && vat ? vat[1] : VL;
    const size_t o2 = nv > 2 && vat ? vat[2] : 2 * VL;
    const size_t o3 = nv > 3 && vat ? vat[3] : 3 * VL;
    const size_t o_end = (nv == 1 ? o0 : nv == 2 ? o1 : nv == 3 ? o2 : o3) + VL - 1;
    (void)o_end, (void)o1, (void)o2, (void)o3;
#ifdef UKR_PREFETCH
    /* The C tile is touched only after the k loop. Its lines are asked for
     * during the loop, one row every pf_step steps, all within the first
     * half: all 2m at once (up to 24 misses, to L3 when the tile is a step's
     * gate rows) held up the loads of A and B behind them (a 32 x 1024 x 256
     * product accumulating into cold rows: 157 -> 150 us with AVX-512 on
     * Zen 4, AVX2 unchanged). A and B are left to the hardware prefetchers:
     * asking for A 32, 64 or 128 steps ahead and B 4 to 16 steps ahead, at
     * every step, changed nothing beyond the noise with AVX2 on Zen 3 (the
     * LSTM's products and squares, in one process against this kernel). */
    const size_t pf_div = k / (2 * (size_t)m);
    const size_t pf_step = pf_div < 1 ? 1 : pf_div > 8 ? 8 : pf_div;
    size_t pf = 0;
    /* All rows at once for the one- and two-row tiles, and when k is short
     * (less than 16 steps a row), where the staggered loop below cost more
     * than it saved (AVX2 on the Zen 3, K = 32 and 64: 12-15% of the
     * kernel's time while the host was busy, C in L1). */
    if (m <= 2 || pf_step < 8) {
        UKR_ROWS(UKR_PF, c, a)
        pf = m;
    }
#endif
    if (m <= 2) {
        UKR_ROWS01(UKR_DECL, d, a)
        UKR_ROWS01(UKR_DECL, e, a)
        UKR_ROWS01(UKR_DECL, f, a)
        for (; p + 4 <= k; p += 4) {
            UKR_STEP(c, a, b, UKR_ROWS01)
            UKR_STEP(d, a + sa, b + sb, UKR_ROWS01)
            UKR_STEP(e, a + 2 * sa, b + 2 * sb, UKR_ROWS01)
            UKR_STEP(f, a + 3 * sa, b + 3 * sb, UKR_ROWS01)
            a += 4 * sa;
            b += 4 * sb;
        }
        UKR_ROWS01(UKR_FOLD, d, a)
        UKR_ROWS01(UKR_FOLD, e, a)
        UKR_ROWS01(UKR_FOLD, f, a)
    }
    {
        /* Packed A and B (sa = m, sb = NR) take a loop whose strides the
         * compiler knows, unrolled four times: the same FMAs in the same
         * order. With the strides read at run time and the prefetch test
         * inside the loop, the kernel ran as fast on a quiet core but lost
         * a quarter of its speed whenever the host was busy (AVX2 on a Zen 3
         * VM, 6 x 16 tile, K = 256, B in L1, 800 rounds in one process: 69
         * against 81 GFLOP/s in those phases, 92 and 93 when quiet). An
         * unroll written out by hand, in place of the pragma, spilled
         * registers under gcc -O3 and ran 26% slower even when quiet. */
        const int packed = sa == (size_t)m && sb == (size_t)NV * VL;
#ifdef UKR_PREFETCH
        /* otherwise the C tile's rows, one every pf_step steps, first */
        for (; pf < (size_t)m && p < k; ++pf) {
            const size_t end = k - p < pf_step ? k : p + pf_step;
            UKR_PREFETCH(c + pf * ldc + o0);
            UKR_PREFETCH(c + pf * ldc + o_end);
            UKR_LOOP(end, sa, sb)
        }
#endif
        if (packed) {
            UKR_UNROLL4
            UKR_LOOP(k, (size_t)m, (size_t)NV * VL)
        } else {
            UKR_LOOP(k, sa, sb)
        }
    }
    UKR_ROWS(UKR_STORE, c, a)
}

/* Instantiated per row count (NV and m constants), and for vat = NULL (every
 * product but a split step's) apart, whose stores and prefetches keep
 * constant offsets; the edge instance (one vector) for vat = NULL only, the
 * scratch tile of a partial panel being its one use (gemm_impl.h). */
#define UKR_CASES(NVS, VAT)                                                                   \
    switch (m) {                                                                              \
        UKR_CASE(1, NVS, VAT) UKR_CASE(2, NVS, VAT) UKR_CASE(3, NVS, VAT)                     \
        UKR_CASE(4, NVS, VAT) UKR_CASE(5, NVS, VAT) UKR_CASE(6, NVS, VAT)                     \
        UKR_CASE(7, NVS, VAT) UKR_CASE(8, NVS, VAT) UKR_CASE(9, NVS, VAT)                     \
        UKR_CASE(10, NVS, VAT) UKR_CASE(11, NVS, VAT) UKR_CASE(12, NVS, VAT)                  \
        UKR_CASE(13, NVS, VAT) UKR_CASE(14, NVS, VAT) UKR_CASE(15, NVS, VAT)                  \
        UKR_CASE(16, NVS, VAT)                                                                \
    default: break;                                                                           \
    }
/* m <= UKR_MR: the cases above it fold away */
#define UKR_CASE(n, NVS, VAT)                                                                 \
    case n:                                                                                   \
        if (n <= UKR_MR) UKR_BODY(n, NVS, k, a, sa, b, sb, c, ldc, accumulate, VAT);          \
        break;
UKR_TARGET static void UKR_NAME(size_t k, const REAL *a, size_t sa, const REAL *b, size_t sb,
                                REAL *c, size_t ldc, int accumulate, int m, const size_t *vat) {
    if (vat)
        UKR_CASES(NV, vat)
    else
        UKR_CASES(NV, NULL)
}

UKR_TARGET static void UKR_CAT(UKR_NAME, _edge)(size_t k, const REAL *a, size_t sa,
                                                const REAL *b, size_t sb, REAL *c, size_t ldc,
                                                int accumulate, int m, const size_t *vat) {
    (void)vat;
    UKR_CASES(1, NULL)
}
#undef UKR_CASE
#undef UKR_CASES

/* The one-row kernel (gemm.h, pylstm_gemv_*_t) with the same vectors. Each
 * column's sum is two chains of fused multiply-adds, over the even and the
 * odd p, added at the end: a panel alone then has 2 NV independent chains,
 * not NV (one chain per vector waits 4 cycles per p for the one before:
 * with one chain, the backward's step loop at B = 1, H = 128, T = 100, whose
 * threads each have two panels of K = 512, took 305-336 us at 2 threads on
 * a Zen 4 with AVX-512; with two, 176-191 us). Panels go GEMV_WIDE at a
 * time (one broadcast of a[p] for all of them), then two, then one: the same
 * chains in the same order whatever the grouping, so a column's value does
 * not depend on how many panels a call covers. */
#ifndef GEMV_WIDE
#define GEMV_WIDE 4
#endif
#define GEMV_DECL(q, j) VEC e##q##_##j = V_ZERO(), o##q##_##j = V_ZERO();
#define GEMV_FMA(q, j)                                                                        \
    if (w > q && NV > j) {                                                                    \
        e##q##_##j = V_FMA(ae, V_LOAD(bp + (q)*ps + (j)*VL), e##q##_##j);                     \
        o##q##_##j = V_FMA(ao, V_LOAD(bp + (q)*ps + NR + (j)*VL), o##q##_##j);                \
    }
#define GEMV_LAST(q, j)                                                                       \
    if (w > q && NV > j) e##q##_##j = V_FMA(ae, V_LOAD(bp + (q)*ps + (j)*VL), e##q##_##j);
#define GEMV_OUT(q, j)                                                                        \
    if (w > q && NV > j) {                                                                    \
        REAL *y_ = y + (q)*NR + (j)*VL;                                                       \
        const VEC s_ = V_ADD(e##q##_##j, o##q##_##j);                                         \
        V_STORE(y_, accumulate ? V_ADD(V_LOAD(y_), s_) : s_);                                 \
    }
#define GEMV_VECS(X, q) X(q, 0) X(q, 1) X(q, 2) X(q, 3)
#define GEMV_PANELS(X) GEMV_VECS(X, 0) GEMV_VECS(X, 1) GEMV_VECS(X, 2) GEMV_VECS(X, 3)

/* w (1, 2 or 4, a constant after inlining) panels from b into y. */
PYLSTM_ALWAYS_INLINE UKR_TARGET void UKR_CAT(UKR_NAME, _gemv_body)(const int w, size_t k,
                                                                 const REAL *a, const REAL *b,
                                                                 REAL *y, int accumulate) {
    const size_t NR = NV * VL, ps = k * NR;
    const REAL *bp = b;
    size_t p;
    GEMV_PANELS(GEMV_DECL)
    for (p = 0; p + 2 <= k; p += 2, bp += 2 * NR) {
        const VEC ae = V_BCAST(a[p]), ao = V_BCAST(a[p + 1]);
        GEMV_PANELS(GEMV_FMA)
    }
    if (p < k) {
        const VEC ae = V_BCAST(a[p]);
        GEMV_PANELS(GEMV_LAST)
    }
    GEMV_PANELS(GEMV_OUT)
    (void)e0_0, (void)e0_1, (void)e0_2, (void)e0_3, (void)o0_0, (void)o0_1, (void)o0_2;
    (void)o0_3, (void)e1_0, (void)e1_1, (void)e1_2, (void)e1_3, (void)o1_0, (void)o1_1;
    (void)o1_2, (void)o1_3, (void)e2_0, (void)e2_1, (void)e2_2, (void)e2_3, (void)o2_0;
    (void)o2_1, (void)o2_2, (void)o2_3, (void)e3_0, (void)e3_1, (void)e3_2, (void)e3_3;
    (void)o3_0, (void)o3_1, (void)o3_2, (void)o3_3;
}

UKR_TARGET static void UKR_CAT(UKR_NAME, _gemv)(size_t k, const REAL *a, const REAL *b,
                                                size_t panels, REAL *y, int accumulate) {
    const size_t NR = NV * VL, ps = k * NR;
    size_t q = 0;
#if GEMV_WIDE == 4
    for (; q + 4 <= panels; q += 4, b += 4 * ps, y += 4 * NR)
        UKR_CAT(UKR_NAME, _gemv_body)(4, k, a, b, y, accumulate);
#endif
    for (; q + 2 <= panels; q += 2, b += 2 * ps, y += 2 * NR)
        UKR_CAT(UKR_NAME, _gemv_body)(2, k, a, b, y, accumulate);
    if (q < panels) UKR_CAT(UKR_NAME, _gemv_body)(1, k, a, b, y, accumulate);
}

#undef GEMV_DECL
#undef GEMV_FMA
#undef GEMV_LAST
#undef GEMV_OUT
#undef GEMV_VECS
#undef GEMV_PANELS
#undef UKR_CAT_
#undef UKR_CAT
#undef UKR_BODY
#undef UKR_ROWS
#undef UKR_ROWS01
#undef UKR_DECL
#undef UKR_FMA
#undef UKR_FOLD
#undef UKR_PF
#undef UKR_STEP
#undef UKR_LOOP
#undef UKR_UNROLL4
#undef UKR_STORE_VEC
#undef UKR_STORE
