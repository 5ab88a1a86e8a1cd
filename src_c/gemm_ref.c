/* The portable reference matrix product: plain loops, no blocking. It is the
 * specification the fast kernels are tested against, and the fallback on any
 * CPU without one. */
#include "gemm.h"

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
