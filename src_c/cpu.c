/* CPU feature detection and kernel dispatch (see cpu.h). */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

#if PYLSTM_GEMM_HAVE_X86
#if defined(_MSC_VER) && !defined(__clang__)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

/* Cached state: 0 = not detected yet; else 0x100 | hw_best << 4 | selected. */
#if defined(__GNUC__) || defined(__clang__)
static int g_state;
static int state_load(void) { return __atomic_load_n(&g_state, __ATOMIC_RELAXED); }
static void state_store(int v) { __atomic_store_n(&g_state, v, __ATOMIC_RELAXED); }
#else
static volatile long g_state;
static int state_load(void) { return (int)g_state; }
static void state_store(int v) { g_state = v; }
#endif

static const char *const kernel_names[PYLSTM_KERNEL_COUNT] = {"ref", "avx2", "avx512", "neon"};

#if PYLSTM_GEMM_HAVE_X86
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER) && !defined(__clang__)
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    r[0] = (unsigned)v[0], r[1] = (unsigned)v[1], r[2] = (unsigned)v[2], r[3] = (unsigned)v[3];
#else
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}

/* XCR0: which register states the OS saves on a context switch. */
static unsigned long long xgetbv0(void) {
#if defined(_MSC_VER) && !defined(__clang__)
    return _xgetbv(0);
#else
    unsigned lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#endif
}

static int detect_hw(void) {
    unsigned r[4], max_leaf;
    unsigned long long xcr0;
    int fma, avx2, avx512;
    cpuid(0, 0, r);
    max_leaf = r[0];
    if (max_leaf < 7) return PYLSTM_KERNEL_REF;
    cpuid(1, 0, r);
    /* ECX bit 27 OSXSAVE (xgetbv usable), 28 AVX, 12 FMA. */
    if (!(r[2] & (1u << 27)) || !(r[2] & (1u << 28))) return PYLSTM_KERNEL_REF;
    fma = (r[2] >> 12) & 1;
    xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return PYLSTM_KERNEL_REF; /* XMM and YMM state */
    cpuid(7, 0, r);
    avx2 = (r[1] >> 5) & 1; /* EBX bit 5 */
    /* EBX bit 16 AVX512F, which the kernels use. MSVC compiles the avx512
     * files with /arch:AVX512, which lets it emit CD, BW, DQ and VL too
     * (bits 28, 30, 17, 31), so those are required as well: every AVX-512
     * CPU since Skylake-X has them; only the Xeon Phi lacks them. */
    avx512 = ((r[1] >> 16) & 1) && ((r[1] >> 17) & 1) && ((r[1] >> 28) & 1) &&
             ((r[1] >> 30) & 1) && ((r[1] >> 31) & 1);
    /* Opmask, upper ZMM0-15 and ZMM16-31 state (bits 5, 6, 7). */
    if (avx512 && (xcr0 & 0xe6) == 0xe6) return PYLSTM_KERNEL_AVX512;
    if (avx2 && fma) return PYLSTM_KERNEL_AVX2;
    return PYLSTM_KERNEL_REF;
}
#elif PYLSTM_GEMM_HAVE_NEON
static int detect_hw(void) { return PYLSTM_KERNEL_NEON; } /* Advanced SIMD is baseline on arm64 */
#else
static int detect_hw(void) { return PYLSTM_KERNEL_REF; }
#endif

/* The best kernel at most `want` that hardware `hw` runs (see cpu.h). */
static int clamp_kernel(int want, int hw) {
    if (want == PYLSTM_KERNEL_REF || hw == PYLSTM_KERNEL_REF) return PYLSTM_KERNEL_REF;
    if (hw == PYLSTM_KERNEL_NEON) return want == PYLSTM_KERNEL_NEON ? want : PYLSTM_KERNEL_REF;
    if (want == PYLSTM_KERNEL_NEON) return PYLSTM_KERNEL_REF;
    return want < hw ? want : hw; /* x86: ref < avx2 < avx512 */
}

static int kernel_id(const char *name) {
    int i;
    for (i = 0; i < PYLSTM_KERNEL_COUNT; ++i)
        if (strcmp(name, kernel_names[i]) == 0) return i;
    return -1;
}

static int default_choice(int hw) {
    const char *env = getenv("PYLSTM_KERNEL");
    int want = env ? kernel_id(env) : -1;
    return want < 0 ? hw : clamp_kernel(want, hw);
}

static int state(void) {
    int s = state_load();
    if (!s) {
        int hw = detect_hw();
        s = 0x100 | hw << 4 | default_choice(hw);
        state_store(s);
    }
    return s;
}

static const pylstm_gemm_kernel_t *kernel_of(int id) {
    switch (id) {
#if PYLSTM_GEMM_HAVE_X86
    case PYLSTM_KERNEL_AVX2: return &pylstm_gemm_kernel_avx2;
    case PYLSTM_KERNEL_AVX512: return &pylstm_gemm_kernel_avx512;
#endif
#if PYLSTM_GEMM_HAVE_NEON
    case PYLSTM_KERNEL_NEON: return &pylstm_gemm_kernel_neon;
#endif
    default: return &pylstm_gemm_kernel_ref;
    }
}

const pylstm_gemm_kernel_t *pylstm_gemm_active(void) { return kernel_of(state() & 0xf); }

const pylstm_gemm_kernel_t *pylstm_gemm_kernel_by_id(int id) {
    int hw = (state() >> 4) & 0xf;
    if (id < 0 || id >= PYLSTM_KERNEL_COUNT || clamp_kernel(id, hw) != id) return NULL;
    return kernel_of(id);
}

const char *pylstm_gemm_kernel(void) { return pylstm_gemm_active()->name; }

int pylstm_gemm_set_kernel(const char *name) {
    int s = state(), hw = (s >> 4) & 0xf, want;
    if (!name) {
        state_store(0x100 | hw << 4 | default_choice(hw));
        return 0;
    }
    want = kernel_id(name);
    if (want < 0 || clamp_kernel(want, hw) != want) return -1;
    state_store(0x100 | hw << 4 | want);
    return 0;
}
