/* Generic body of the reference product and of the portable micro-kernel;
 * included by gemm_ref.c once per type with REAL and SUFFIX defined (and
 * PYLSTM_REF_MR / PYLSTM_REF_NR, the micro-kernel's tile). */

#define PYLSTM_CAT_(a, b) a##b
#define PYLSTM_CAT(a, b) PYLSTM_CAT_(a, b)
#define FN(name) PYLSTM_CAT(name, SUFFIX)

void FN(pylstm_gemm_ref_)(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                          const REAL *A, size_t lda, const REAL *B, size_t ldb, int accumulate,
                          REAL *C, size_t ldc) {
    size_t i, j, k;
    for (i = 0; i < M; ++i) {
        REAL *c = C + i * ldc;
        if (!accumulate)
            for (j = 0; j < N; ++j) c[j] = 0;
        if (!trans_b) {
            /* i-k-j order: the inner loop runs along contiguous rows of B and C. */
            for (k = 0; k < K; ++k) {
                const REAL a = trans_a ? A[k * lda + i] : A[i * lda + k];
                const REAL *b = B + k * ldb;
                for (j = 0; j < N; ++j) c[j] += a * b[j];
            }
        } else {
            /* B^T: each C element is a dot product of two contiguous rows. */
            for (j = 0; j < N; ++j) {
                const REAL *b = B + j * ldb;
                REAL s = 0;
                if (!trans_a) {
                    const REAL *a = A + i * lda;
                    for (k = 0; k < K; ++k) s += a[k] * b[k];
                } else {
                    for (k = 0; k < K; ++k) s += A[k * lda + i] * b[k];
                }
                c[j] += s;
            }
        }
    }
}

/* The portable micro-kernel (contract in gemm.h, pylstm_ukr_*_t): the
 * fallback on CPUs without a SIMD kernel. Plain C over a small accumulator
 * tile that compilers keep in registers or vectorise for the baseline ISA. */
static void FN(pylstm_ukr_ref_)(size_t k, const REAL *a, size_t sa, const REAL *b, size_t sb,
                                REAL *c, size_t ldc, int accumulate, int m, const size_t *vat) {
    REAL acc[PYLSTM_REF_MR * PYLSTM_REF_NR];
    size_t p;
    int i, j;
    for (i = 0; i < PYLSTM_REF_MR * PYLSTM_REF_NR; ++i) acc[i] = 0;
    for (p = 0; p < k; ++p, a += sa, b += sb)
        for (i = 0; i < m; ++i) {
            const REAL ai = a[i];
            REAL *t = acc + i * PYLSTM_REF_NR;
            for (j = 0; j < PYLSTM_REF_NR; ++j) t[j] += ai * b[j];
        }
    for (i = 0; i < m; ++i) {
        REAL *ci = c + (size_t)i * ldc;
        const REAL *t = acc + i * PYLSTM_REF_NR;
        if (vat) /* vectors of one column */
            for (j = 0; j < PYLSTM_REF_NR; ++j) ci[vat[j]] = accumulate ? ci[vat[j]] + t[j] : t[j];
        else if (accumulate)
            for (j = 0; j < PYLSTM_REF_NR; ++j) ci[j] += t[j];
        else
            for (j = 0; j < PYLSTM_REF_NR; ++j) ci[j] = t[j];
    }
}

/* The portable one-row kernel (gemm.h, pylstm_gemv_*_t): one multiply-add
 * chain per column in the order of p; compilers vectorise the j loop. */
static void FN(pylstm_gemv_ref_)(size_t k, const REAL *a, const REAL *b, size_t panels, REAL *y,
                                 int accumulate) {
    REAL acc[PYLSTM_REF_NR];
    size_t q, p, j;
    for (q = 0; q < panels; ++q, b += k * PYLSTM_REF_NR, y += PYLSTM_REF_NR) {
        for (j = 0; j < PYLSTM_REF_NR; ++j) acc[j] = 0;
        for (p = 0; p < k; ++p)
            for (j = 0; j < PYLSTM_REF_NR; ++j) acc[j] += a[p] * b[p * PYLSTM_REF_NR + j];
        for (j = 0; j < PYLSTM_REF_NR; ++j) y[j] = accumulate ? y[j] + acc[j] : acc[j];
    }
}

#undef FN
#undef PYLSTM_CAT
#undef PYLSTM_CAT_
