/* The portable reference matrix product: plain loops, no blocking. It is the
 * specification the fast kernels in gemm.c are tested against. Also the
 * portable micro-kernel that gemm.c's blocking loops use on any CPU without a
 * SIMD kernel (4 x 8, a tile that compilers vectorise for the baseline ISA). */
#include "gemm.h"

#define PYLSTM_REF_MR 4
#define PYLSTM_REF_NR 8

#define REAL float
#define SUFFIX f32
#include "gemm_ref_impl.h"
#undef REAL
#undef SUFFIX

#define REAL double
#define SUFFIX f64
#include "gemm_ref_impl.h"
#undef REAL
#undef SUFFIX

const pylstm_gemm_kernel_t pylstm_gemm_kernel_ref = {
    "ref", PYLSTM_KERNEL_REF,
    {PYLSTM_REF_MR, PYLSTM_REF_NR, 1, 256, 128, 1024, pylstm_ukr_ref_f32, pylstm_gemv_ref_f32,
     NULL, 0},
    {PYLSTM_REF_MR, PYLSTM_REF_NR, 1, 256, 64, 1024, pylstm_ukr_ref_f64, pylstm_gemv_ref_f64,
     NULL, 0}};
