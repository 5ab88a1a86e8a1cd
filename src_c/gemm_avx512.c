/* AVX-512F micro-kernel (float32 12 x 32, float64 12 x 16).
 *
 * 32 zmm registers: 24 accumulators (12 rows x 2 vectors), 2 for the B row,
 * 1-2 for A broadcasts (vbroadcastss from memory). Per k step:
 * 2 vector loads + 12 broadcasts feed 24 FMAs, i.e. 12 cycles at Zen 5's two
 * 512-bit FMA pipes, well within its load bandwidth. (14 x 32, with 28
 * accumulators, measured no faster; 8 x 32 up to a third slower.)
 *
 * Cache blocks, tuned on AMD EPYC Zen 5 (48 KiB L1d, 1 MiB L2 per core; see
 * benchmarks/gemm_bench.c): KC = 512, deeper than the "KC x NR panel of B fits
 * half of L1" rule (64 KiB here, streamed from L2 by the prefetchers), because
 * each depth block costs a pass over C: KC 256 -> 512 gave +5-10% on
 * K >= 1024 products, 768 no more. MC x KC of A (f32 192 x 512 x 4 = 384 KiB,
 * f64 96 x 512 x 8 = 384 KiB) stays in L2. NC (B block in L3) made no
 * measurable difference between 1024 and 4096, so it is kept small to bound
 * the workspace (2.4 MiB). Large f32 products run at 195-230 GFLOP/s, about
 * 90% of the 2 x 16 x 2 flop/cycle peak. On Zen 4 (32 KiB L1d, 1 MiB L2),
 * which splits each 512-bit FMA into two 256-bit halves, this kernel, the
 * AVX2 one and OpenBLAS (SkylakeX core) all reach ~105 GFLOP/s f32, the
 * 256-bit peak, and KC 256..512 with MC 96..384 measured alike within noise
 * (3%). Compiled with a per-function target
 * attribute only: the file builds for baseline x86-64 and the kernel runs
 * only when cpu.c has found AVX-512F and ZMM state saved by the OS. */
#include "gemm.h"

#if PYLSTM_HAVE_X86
#include <immintrin.h>

#define UKR_TARGET PYLSTM_TARGET("avx512f")
#define UKR_MR 12
#define NV 2
/* Prefetch the C tile while the k loop runs (gemm_kernel_impl.h): +15-20%
 * on products with K > KC, whose C tiles are reloaded from L3/memory once
 * per depth block, and ~5% on a step's product into its gate rows. */
#define UKR_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)

#define REAL float
#define VEC __m512
#define VL 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_BCAST(x) _mm512_set1_ps(x)
#define V_ADD(x, y) _mm512_add_ps(x, y)
#define V_FMA(x, y, acc) _mm512_fmadd_ps(x, y, acc)
#define UKR_NAME ukr_avx512_f32
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
#define VEC __m512d
#define VL 8
#define V_ZERO() _mm512_setzero_pd()
#define V_LOAD(p) _mm512_loadu_pd(p)
#define V_STORE(p, v) _mm512_storeu_pd(p, v)
#define V_BCAST(x) _mm512_set1_pd(x)
#define V_ADD(x, y) _mm512_add_pd(x, y)
#define V_FMA(x, y, acc) _mm512_fmadd_pd(x, y, acc)
#define UKR_NAME ukr_avx512_f64
#include "gemm_kernel_impl.h"

const pylstm_gemm_kernel_t pylstm_gemm_kernel_avx512 = {
    "avx512", PYLSTM_KERNEL_AVX512,
    {12, 32, 16, 512, 192, 1024, ukr_avx512_f32, ukr_avx512_f32_gemv, ukr_avx512_f32_edge, 0},
    {12, 16, 8, 512, 96, 512, ukr_avx512_f64, ukr_avx512_f64_gemv, ukr_avx512_f64_edge, 0}};

#else
typedef int pylstm_gemm_avx512_unused; /* ISO C forbids an empty translation unit */
#endif
