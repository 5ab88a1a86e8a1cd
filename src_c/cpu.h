/* Run-time CPU feature detection, and which instruction sets this build can
 * compile code for. Internal. This file knows nothing of its users: the GEMM
 * (gemm.c) picks its micro-kernel from the features, the gate loops (act.c)
 * their vector instance.
 *
 * Detection runs once, on first use, and caches one int. Thread safety: the
 * cache is read and written with relaxed atomics (__atomic builtins on
 * gcc/clang; on MSVC an aligned volatile int, whose loads and stores are
 * atomic on x86 and arm64). Two threads racing on first use both compute the
 * same value, so whichever store wins is right. This is one of the core's two
 * pieces of global mutable state (the other is the thread pool);
 * pylstm_cpu_set_cap, test-only, writes it too.
 *
 * PYLSTM_KERNEL=ref|avx2|avx512|neon (environment, read at detection) caps
 * the features the library uses, so every code path can be tested on one
 * machine: "avx512" keeps AVX-512 and AVX2, "avx2" AVX2 only, "neon" NEON
 * only, "ref" none; a cap never adds what the CPU lacks (avx512 on an
 * AVX2-only CPU gives AVX2, avx2 on x86 without AVX2 gives none, neon on x86
 * none); an unknown value is ignored. */
#ifndef PYLSTM_CPU_H
#define PYLSTM_CPU_H

#include "common.h"

/* Which instruction sets this build compiles code for. The x86 kernels need
 * only per-function target attributes (gcc/clang) or per-file flags (MSVC,
 * from sources.txt), never a global -m flag. */
#if (defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)) &&      \
    ((defined(__GNUC__) && (__GNUC__ >= 5 || defined(__clang__))) || defined(_MSC_VER))
#define PYLSTM_HAVE_X86 1
#else
#define PYLSTM_HAVE_X86 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define PYLSTM_HAVE_NEON 1
#else
#define PYLSTM_HAVE_NEON 0
#endif

/* Per-function ISA targets and forced inlining (the kernel bodies rely on
 * inlining with a constant row count to keep every accumulator in a register). */
#if defined(__GNUC__) || defined(__clang__)
#define PYLSTM_TARGET(isa) __attribute__((target(isa)))
#define PYLSTM_ALWAYS_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define PYLSTM_TARGET(isa)
#define PYLSTM_ALWAYS_INLINE static __forceinline
#else
#define PYLSTM_TARGET(isa)
#define PYLSTM_ALWAYS_INLINE static inline
#endif

/* Feature bits. */
#define PYLSTM_CPU_AVX2 0x1u   /* AVX2 and FMA, with the OS saving YMM state */
#define PYLSTM_CPU_AVX512 0x2u /* AVX-512F, with the OS saving opmask and ZMM state */
#define PYLSTM_CPU_NEON 0x4u   /* Advanced SIMD (the arm64 baseline) */

/* The features the library may use: detected, capped by PYLSTM_KERNEL or
 * pylstm_cpu_set_cap. */
PYLSTM_INTERNAL unsigned pylstm_cpu_features(void);

/* The features of the hardware, without any cap: what code may run at all
 * (e.g. a buffer packed by a kernel that a cap no longer selects). */
PYLSTM_INTERNAL unsigned pylstm_cpu_hw_features(void);

/* Size in bytes of the level-1 data, level-2 or level-3 cache (level 1, 2,
 * 3) of the core running the caller, 0 when unknown. Read once, on first use:
 * cpuid leaf 4 (Intel) or 0x8000001D (AMD) on x86, sysconf or sysctl
 * elsewhere where the system reports it. The GEMM sizes its blocks from
 * these (gemm_impl.h). */
PYLSTM_INTERNAL size_t pylstm_cpu_cache_size(int level);

/* Test hook: makes pylstm_cpu_cache_size(level) return `bytes` (rounded down
 * to KiB; 0: unknown), or read the hardware again when bytes is
 * (size_t)-1. Not meant to be called while other threads compute. */
PYLSTM_INTERNAL void pylstm_cpu_set_cache_size(int level, size_t bytes);

/* Test and benchmark hook: caps the features as PYLSTM_KERNEL=name would
 * ("ref", "avx2", "avx512", "neon") and returns 0, or returns -1 and changes
 * nothing when the name is unknown or the CPU lacks its feature. NULL goes
 * back to the default (the detection capped by PYLSTM_KERNEL). Not meant to
 * be called while other threads compute. */
PYLSTM_INTERNAL int pylstm_cpu_set_cap(const char *name);

#endif
