/* The one matrix product every LSTM loop calls. Internal, not exported.
 *
 *   C (M x N)  =  op(A) (M x K) * op(B) (K x N)  [+ C when accumulate]
 *
 * Row-major. op(A) = A (lda >= K) or, when trans_a, A^T with A stored K x M
 * (lda >= M); likewise op(B) = B stored K x N (ldb >= N) or, when trans_b, B^T
 * with B stored N x K (ldb >= K). When accumulate is 0, C is overwritten (its
 * previous contents, NaN included, are never read).
 *
 * work must point to at least pylstm_gemm_work_size() bytes aligned to
 * PYLSTM_ALIGN; the product may use it for packed panels. */
#ifndef PYLSTM_GEMM_H
#define PYLSTM_GEMM_H

#include "common.h"

PYLSTM_INTERNAL size_t pylstm_gemm_work_size(void);

PYLSTM_INTERNAL void pylstm_gemm_f32(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                                     const float *A, size_t lda, const float *B, size_t ldb,
                                     int accumulate, float *C, size_t ldc, void *work);
PYLSTM_INTERNAL void pylstm_gemm_f64(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                                     const double *A, size_t lda, const double *B, size_t ldb,
                                     int accumulate, double *C, size_t ldc, void *work);

/* The portable reference product with the same contract. */
PYLSTM_INTERNAL void pylstm_gemm_ref_f32(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                                         const float *A, size_t lda, const float *B, size_t ldb,
                                         int accumulate, float *C, size_t ldc);
PYLSTM_INTERNAL void pylstm_gemm_ref_f64(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                                         const double *A, size_t lda, const double *B,
                                         size_t ldb, int accumulate, double *C, size_t ldc);

#endif
