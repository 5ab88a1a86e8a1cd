/* CPU feature detection (see cpu.h). */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

#if !PYLSTM_HAVE_X86 && (defined(__unix__) || defined(__APPLE__))
#include <unistd.h> /* sysconf */
#endif
#if !PYLSTM_HAVE_X86 && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

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
    int fma, avx2, avx512;
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
    avx2 = (r[1] >> 5) & 1; /* EBX bit 5 */
    /* EBX bit 16 AVX512F, which the kernels use. MSVC compiles the avx512
     * files with /arch:AVX512, which lets it emit CD, BW, DQ and VL too
     * (bits 28, 30, 17, 31), so those are required as well: every AVX-512
     * CPU since Skylake-X has them; only the Xeon Phi lacks them. */
    avx512 = ((r[1] >> 16) & 1) && ((r[1] >> 17) & 1) && ((r[1] >> 28) & 1) &&
             ((r[1] >> 30) & 1) && ((r[1] >> 31) & 1);
    if (avx2 && fma) f |= PYLSTM_CPU_AVX2;
    /* Opmask, upper ZMM0-15 and ZMM16-31 state (bits 5, 6, 7). */
    if (avx512 && (xcr0 & 0xe6) == 0xe6) f |= PYLSTM_CPU_AVX512;
    return f;
}

/* Walks the deterministic cache parameters of `leaf` (4 on Intel, 0x8000001D
 * on AMD; the same layout): subleaf i describes one cache until type 0. */
static size_t cache_from_leaf(unsigned leaf, int level) {
    unsigned r[4], i;
    for (i = 0; i < 16; ++i) {
        unsigned type, lvl;
        cpuid(leaf, i, r);
        type = r[0] & 0x1f, lvl = (r[0] >> 5) & 0x7;
        if (type == 0) break;
        /* data (1) or unified (3) */
        if ((type == 1 || type == 3) && (int)lvl == level)
            return (size_t)((r[1] >> 22) + 1) * (((r[1] >> 12) & 0x3ff) + 1) *
                   ((r[1] & 0xfff) + 1) * ((size_t)r[2] + 1);
    }
    return 0;
}

static size_t detect_cache(int level) {
    unsigned r[4];
    cpuid(0, 0, r);
    /* "AuthenticAMD" / "HygonGenuine": leaf 0x8000001D when the topology
     * extensions are there (0x80000001 ECX bit 22) */
    if (r[1] == 0x68747541u || r[1] == 0x6f677948u) {
        cpuid(0x80000000u, 0, r);
        if (r[0] >= 0x8000001Du) {
            cpuid(0x80000001u, 0, r);
            if (r[2] & (1u << 22)) return cache_from_leaf(0x8000001Du, level);
        }
        return 0;
    }
    return r[0] >= 4 ? cache_from_leaf(4, level) : 0;
}
#elif PYLSTM_HAVE_NEON
static unsigned detect_hw(void) { return PYLSTM_CPU_NEON; } /* baseline on arm64 */
#else
static unsigned detect_hw(void) { return 0; }
#endif

#if !PYLSTM_HAVE_X86
static size_t detect_cache(int level) {
#if defined(__APPLE__)
    static const char *const names[] = {"hw.l1dcachesize", "hw.l2cachesize", "hw.l3cachesize"};
    int64_t v = 0;
    size_t len = sizeof v;
    return sysctlbyname(names[level - 1], &v, &len, NULL, 0) == 0 && v > 0 ? (size_t)v : 0;
#elif defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) &&                   \
    defined(_SC_LEVEL3_CACHE_SIZE)
    /* glibc; 0 (or -1) where the kernel does not report it */
    const long v = sysconf(level == 1   ? _SC_LEVEL1_DCACHE_SIZE
                           : level == 2 ? _SC_LEVEL2_CACHE_SIZE
                                        : _SC_LEVEL3_CACHE_SIZE);
    return v > 0 ? (size_t)v : 0;
#else
    (void)level;
    return 0;
#endif
}
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

/* Cached as KiB + 1 (0: not read yet), like the feature state. */
#if defined(__GNUC__) || defined(__clang__)
static int g_cache[3];
static int cache_load(int i) { return __atomic_load_n(&g_cache[i], __ATOMIC_RELAXED); }
static void cache_store(int i, int v) { __atomic_store_n(&g_cache[i], v, __ATOMIC_RELAXED); }
#else
static volatile long g_cache[3];
static int cache_load(int i) { return (int)g_cache[i]; }
static void cache_store(int i, int v) { g_cache[i] = v; }
#endif

size_t pylstm_cpu_cache_size(int level) {
    int v;
    if (level < 1 || level > 3) return 0;
    v = cache_load(level - 1);
    if (!v) {
        size_t kib = detect_cache(level) / 1024;
        v = (int)(kib < 0x1000000 ? kib : 0x1000000) + 1;
        cache_store(level - 1, v);
    }
    return (size_t)(v - 1) * 1024;
}

void pylstm_cpu_set_cache_size(int level, size_t bytes) {
    if (level < 1 || level > 3) return;
    if (bytes == (size_t)-1)
        cache_store(level - 1, 0);
    else
        cache_store(level - 1, (int)(bytes / 1024 < 0x1000000 ? bytes / 1024 : 0x1000000) + 1);
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
