/* CPU feature detection (see cpu.h). */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

#if PYLSTM_HAVE_X86
#if defined(_MSC_VER) && !defined(__clang__)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

/* Cached state: 0 = not detected yet; else 0x100 | hw << 4 | usable, with hw
 * and usable feature masks (usable = hw & cap). */
#if defined(__GNUC__) || defined(__clang__)
static int g_state;
static int state_load(void) { return __atomic_load_n(&g_state, __ATOMIC_RELAXED); }
static void state_store(int v) { __atomic_store_n(&g_state, v, __ATOMIC_RELAXED); }
#else
static volatile long g_state;
static int state_load(void) { return (int)g_state; }
static void state_store(int v) { g_state = v; }
#endif

#if PYLSTM_HAVE_X86
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

static unsigned detect_hw(void) {
    unsigned r[4], max_leaf, f = 0;
    unsigned long long xcr0;
    int fma, avx2, avx512f;
    cpuid(0, 0, r);
    max_leaf = r[0];
    if (max_leaf < 7) return 0;
    cpuid(1, 0, r);
    /* ECX bit 27 OSXSAVE (xgetbv usable), 28 AVX, 12 FMA. */
    if (!(r[2] & (1u << 27)) || !(r[2] & (1u << 28))) return 0;
    fma = (r[2] >> 12) & 1;
    xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0; /* XMM and YMM state */
    cpuid(7, 0, r);
    avx2 = (r[1] >> 5) & 1;     /* EBX bit 5 */
    avx512f = (r[1] >> 16) & 1; /* EBX bit 16 */
    if (avx2 && fma) f |= PYLSTM_CPU_AVX2;
    /* Opmask, upper ZMM0-15 and ZMM16-31 state (bits 5, 6, 7). */
    if (avx512f && (xcr0 & 0xe6) == 0xe6) f |= PYLSTM_CPU_AVX512;
    return f;
}
#elif PYLSTM_HAVE_NEON
static unsigned detect_hw(void) { return PYLSTM_CPU_NEON; } /* baseline on arm64 */
#else
static unsigned detect_hw(void) { return 0; }
#endif

/* A PYLSTM_KERNEL value: the features it keeps (a cap; avx512 keeps AVX2
 * too, which an AVX-512 CPU capped below AVX-512 uses) and the one it names
 * (0 for ref). NULL for an unknown name. */
typedef struct {
    const char *name;
    unsigned keep, own;
} cpu_cap;

static const cpu_cap *cap_of(const char *name) {
    static const cpu_cap caps[] = {
        {"ref", 0, 0},
        {"avx2", PYLSTM_CPU_AVX2, PYLSTM_CPU_AVX2},
        {"avx512", PYLSTM_CPU_AVX2 | PYLSTM_CPU_AVX512, PYLSTM_CPU_AVX512},
        {"neon", PYLSTM_CPU_NEON, PYLSTM_CPU_NEON}};
    size_t i;
    for (i = 0; i < sizeof caps / sizeof caps[0]; ++i)
        if (strcmp(name, caps[i].name) == 0) return &caps[i];
    return NULL;
}

static unsigned default_usable(unsigned hw) {
    const char *env = getenv("PYLSTM_KERNEL");
    const cpu_cap *cap = env ? cap_of(env) : NULL;
    return cap ? hw & cap->keep : hw;
}

static int state(void) {
    int s = state_load();
    if (!s) {
        const unsigned hw = detect_hw();
        s = (int)(0x100u | hw << 4 | default_usable(hw));
        state_store(s);
    }
    return s;
}

unsigned pylstm_cpu_features(void) { return (unsigned)state() & 0xfu; }

unsigned pylstm_cpu_hw_features(void) { return ((unsigned)state() >> 4) & 0xfu; }

int pylstm_cpu_set_cap(const char *name) {
    const unsigned hw = pylstm_cpu_hw_features();
    const cpu_cap *cap;
    if (!name) {
        state_store((int)(0x100u | hw << 4 | default_usable(hw)));
        return 0;
    }
    /* Unlike PYLSTM_KERNEL, a name whose own feature the CPU lacks is
     * refused, so a test knows which path it runs. */
    cap = cap_of(name);
    if (!cap || (hw & cap->own) != cap->own) return -1;
    state_store((int)(0x100u | hw << 4 | (hw & cap->keep)));
    return 0;
}
