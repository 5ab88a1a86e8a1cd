/* Run-time CPU detection and the choice of GEMM micro-kernel.
 *
 * Detection runs once, on first use, and caches one int. Thread safety: the
 * cache is read and written with relaxed atomics (__atomic builtins on
 * gcc/clang; on MSVC an aligned volatile int, whose loads and stores are
 * atomic on x86 and arm64). Two threads racing on first use both compute the
 * same value, so whichever store wins is right. This is the core's only
 * global mutable state (pylstm_gemm_set_kernel, test-only, writes it too).
 *
 * PYLSTM_KERNEL=ref|avx2|avx512|neon (environment, read at detection) forces a
 * kernel no higher than the CPU supports: avx512 on an AVX2-only CPU gives
 * avx2, avx2 on a CPU without AVX2 gives ref, a kernel of another architecture
 * gives ref; an unknown value is ignored. */
#ifndef PYLSTM_CPU_H
#define PYLSTM_CPU_H

#include "gemm.h"

/* Public: the name of the GEMM micro-kernel in use: "avx512", "avx2", "neon"
 * or "ref". The returned string is static. (The prototype is to move to
 * pylstm.h; until then it takes pylstm.h's export macro when there is one.) */
#ifdef PYLSTM_API
PYLSTM_API
#endif
const char *pylstm_gemm_kernel(void);

/* The kernel in use (detected, or forced by PYLSTM_KERNEL or
 * pylstm_gemm_set_kernel). Never NULL. */
PYLSTM_INTERNAL const pylstm_gemm_kernel_t *pylstm_gemm_active(void);

/* The kernel with this id if it is built in and this CPU can run it, else
 * NULL (used to check the kernel recorded in a packed buffer). */
PYLSTM_INTERNAL const pylstm_gemm_kernel_t *pylstm_gemm_kernel_by_id(int id);

/* Test and benchmark hook: selects the kernel with this name ("ref", "avx2",
 * "avx512", "neon") if the CPU supports it and returns 0; otherwise changes
 * nothing and returns -1. NULL goes back to the default (detected, then
 * PYLSTM_KERNEL). Not meant to be called while products run in other
 * threads. */
PYLSTM_INTERNAL int pylstm_gemm_set_kernel(const char *name);

#endif
