/* AVX2+FMA micro-kernel (float32 6 x 16, float64 6 x 8).
 *
 * 16 ymm registers: 12 accumulators (6 rows x 2 vectors), 2 for the B row,
 * 1-2 for A broadcasts: the classic Haswell shape. Per k step 2 loads + 6
 * broadcasts feed 12 FMAs. Cache blocks as for AVX-512 (see gemm_avx512.c):
 * KC = 512 (the KC x NR panel of B, 32 KiB f32, in L1; the MR x KC panel of
 * A, 12 KiB), MC x KC of A (192 KiB) in L2. Measured on Zen 5: 105-123
 * GFLOP/s f32 on large products, the 256-bit FMA peak of the core; KC 256 was
 * 0-10% slower. On Zen 3 (512 KiB L2) KC 256 and 384 against 512, in one
 * process, 11 rounds: within the noise on the LSTM's large products and on
 * squares. Products of more than MC rows go by blocks of 60 (mc_deep, 120
 * KiB of A at KC 512): on that Zen 3, a VM on a shared host, each against
 * OpenBLAS in one process (8-25 rounds, the row block switched in turn),
 * 60 rows took less time than 96 in 18 of 18 runs: the input projection
 * with W_ih packed (M x 1024 x 256, M = 3200; M x 4096 x 1024, M = 600 and
 * 1280), dX (3200 x 256 x 1024, 600 x 1024 x 4096), dW (1024 x 256 x 3200,
 * 4096 x 1024 x 600) and squares of 1024 and 2048, by 0.2-8% of the time
 * (about 3% typically; most while the host was busy); 48 was about as good,
 * 24 slower. A whole LSTM forward (medium; large with T = 20 and 50) moved
 * within its noise (-3% to +3%). A step's batch of at most MC rows keeps
 * one block (one sweep of W_hh). Compiled with a per-function target
 * attribute only (see gemm_avx512.c). */
#include "gemm.h"

#if PYLSTM_HAVE_X86
#include <immintrin.h>

#define UKR_TARGET PYLSTM_TARGET("avx2,fma")
#define UKR_MR 6
#define NV 2
#define UKR_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
/* the one-row kernel two panels at a time: 2 panels x 2 vectors x 2 chains
 * (gemm_kernel_impl.h) = 8 accumulators of the 16 registers */
#define GEMV_WIDE 2

#define REAL float
#define VEC __m256
#define VL 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_BCAST(x) _mm256_set1_ps(x)
#define V_ADD(x, y) _mm256_add_ps(x, y)
#define V_FMA(x, y, acc) _mm256_fmadd_ps(x, y, acc)
#define UKR_NAME ukr_avx2_f32
#include "gemm_kernel_impl.h"
#undef REAL
#undef VEC
#undef VL
#undef V_ZERO
#undef V_LOAD
#undef V_STORE
#undef V_BCAST
#undef V_ADD
#undef V_FMA
#undef UKR_NAME

#define REAL double
#define VEC __m256d
#define VL 4
#define V_ZERO() _mm256_setzero_pd()
#define V_LOAD(p) _mm256_loadu_pd(p)
#define V_STORE(p, v) _mm256_storeu_pd(p, v)
#define V_BCAST(x) _mm256_set1_pd(x)
#define V_ADD(x, y) _mm256_add_pd(x, y)
#define V_FMA(x, y, acc) _mm256_fmadd_pd(x, y, acc)
#define UKR_NAME ukr_avx2_f64
#include "gemm_kernel_impl.h"

const pylstm_gemm_kernel_t pylstm_gemm_kernel_avx2 = {
    "avx2", PYLSTM_KERNEL_AVX2,
    {6, 16, 8, 512, 96, 1024, ukr_avx2_f32, ukr_avx2_f32_gemv, ukr_avx2_f32_edge, 60},
    {6, 8, 4, 512, 48, 512, ukr_avx2_f64, ukr_avx2_f64_gemv, ukr_avx2_f64_edge, 0}};

#else
typedef int pylstm_gemm_avx2_unused; /* ISO C forbids an empty translation unit */
#endif
