/* Generic body of the reference product; included by gemm_ref.c once per type
 * with REAL and SUFFIX defined. */

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

#undef FN
#undef PYLSTM_CAT
#undef PYLSTM_CAT_
