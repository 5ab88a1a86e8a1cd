/* Blocking and dispatch for the matrix product (see gemm.h). For now every
 * product goes to the portable reference; the packed, register-blocked kernels
 * plug in here behind the same interface. */
#include "gemm.h"

size_t pylstm_gemm_work_size(void) { return 0; }

void pylstm_gemm_f32(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A,
                     size_t lda, const float *B, size_t ldb, int accumulate, float *C,
                     size_t ldc, void *work) {
    (void)work;
    pylstm_gemm_ref_f32(trans_a, trans_b, M, N, K, A, lda, B, ldb, accumulate, C, ldc);
}

void pylstm_gemm_f64(int trans_a, int trans_b, size_t M, size_t N, size_t K, const double *A,
                     size_t lda, const double *B, size_t ldb, int accumulate, double *C,
                     size_t ldc, void *work) {
    (void)work;
    pylstm_gemm_ref_f64(trans_a, trans_b, M, N, K, A, lda, B, ldb, accumulate, C, ldc);
}
