/* NEON (AArch64 Advanced SIMD) micro-kernel (float32 8 x 12, float64 8 x 6).
 *
 * 32 q registers: 24 accumulators (8 rows x 3 vectors), 3 for the B row, one
 * for the A broadcast (ld1r). Advanced SIMD is part of the arm64 baseline, so
 * no target attribute is needed. */
#include "gemm.h"

#if PYLSTM_HAVE_NEON
#include <arm_neon.h>

#define UKR_TARGET
#define UKR_MR 8
#define NV 3
#if defined(__GNUC__) || defined(__clang__)
#define UKR_PREFETCH(p) __builtin_prefetch(p) /* the C tile, see gemm_avx512.c */
#endif

#define REAL float
#define VEC float32x4_t
#define VL 4
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32(p, v)
#define V_BCAST(x) vdupq_n_f32(x)
#define V_ADD(x, y) vaddq_f32(x, y)
#define V_FMA(x, y, acc) vfmaq_f32(acc, x, y)
#define UKR_NAME ukr_neon_f32
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
#define VEC float64x2_t
#define VL 2
#define V_ZERO() vdupq_n_f64(0.0)
#define V_LOAD(p) vld1q_f64(p)
#define V_STORE(p, v) vst1q_f64(p, v)
#define V_BCAST(x) vdupq_n_f64(x)
#define V_ADD(x, y) vaddq_f64(x, y)
#define V_FMA(x, y, acc) vfmaq_f64(acc, x, y)
#define UKR_NAME ukr_neon_f64
#include "gemm_kernel_impl.h"

const pylstm_gemm_kernel_t pylstm_gemm_kernel_neon = {
    "neon", PYLSTM_KERNEL_NEON,
    {8, 12, 4, 256, 192, 2040, ukr_neon_f32, ukr_neon_f32_gemv, ukr_neon_f32_edge, 0},
    {8, 6, 2, 256, 96, 1020, ukr_neon_f64, ukr_neon_f64_gemv, ukr_neon_f64_edge, 0}};

#else
typedef int pylstm_gemm_neon_unused; /* ISO C forbids an empty translation unit */
#endif
