/* Blocking loops, packing, the packed-B API and the threaded products of the
 * matrix product (see gemm.h); the generic body is gemm_impl.h, instantiated
 * for float and double. Also the kernel table and the choice of kernel from
 * the CPU features cpu.c reports. */
#include "gemm.h"

#include "threads.h"

static const pylstm_gemm_kernel_t *const all_kernels[] = {
    &pylstm_gemm_kernel_ref,
#if PYLSTM_HAVE_X86
    &pylstm_gemm_kernel_avx2,
    &pylstm_gemm_kernel_avx512,
#endif
#if PYLSTM_HAVE_NEON
    &pylstm_gemm_kernel_neon,
#endif
};
#define N_KERNELS (sizeof all_kernels / sizeof all_kernels[0])

/* The widest kernel a feature set runs. */
static const pylstm_gemm_kernel_t *kernel_for(unsigned features) {
#if PYLSTM_HAVE_X86
    if (features & PYLSTM_CPU_AVX512) return &pylstm_gemm_kernel_avx512;
    if (features & PYLSTM_CPU_AVX2) return &pylstm_gemm_kernel_avx2;
#endif
#if PYLSTM_HAVE_NEON
    if (features & PYLSTM_CPU_NEON) return &pylstm_gemm_kernel_neon;
#endif
    (void)features;
    return &pylstm_gemm_kernel_ref;
}

/* The feature a kernel needs (0 for the portable one). */
static unsigned kernel_needs(int id) {
    switch (id) {
    case PYLSTM_KERNEL_AVX2: return PYLSTM_CPU_AVX2;
    case PYLSTM_KERNEL_AVX512: return PYLSTM_CPU_AVX512;
    case PYLSTM_KERNEL_NEON: return PYLSTM_CPU_NEON;
    default: return 0;
    }
}

const pylstm_gemm_kernel_t *pylstm_gemm_active(void) { return kernel_for(pylstm_cpu_features()); }

const pylstm_gemm_kernel_t *pylstm_gemm_kernel_by_id(int id) {
    const unsigned hw = pylstm_cpu_hw_features();
    size_t i;
    for (i = 0; i < N_KERNELS; ++i)
        if (all_kernels[i]->id == id && (hw & kernel_needs(id)) == kernel_needs(id))
            return all_kernels[i];
    return NULL;
}

const char *pylstm_gemm_kernel(void) { return pylstm_gemm_active()->name; }

/* Block sizes are small constants, so this cannot overflow. */
static size_t gemm_round_up(size_t n) {
    return (n + (PYLSTM_ALIGN - 1)) & ~(size_t)(PYLSTM_ALIGN - 1);
}

/* The A block (MC x KC) then the B block (KC x NC), each PYLSTM_ALIGN-aligned;
 * the largest over every kernel built in and both types, so that the size is
 * a constant whatever kernel the CPU (or PYLSTM_KERNEL) picks. */
size_t pylstm_gemm_work_size(void) {
    size_t best = 0, i, s;
    for (i = 0; i < N_KERNELS; ++i) {
        const pylstm_gemm_kernel_t *k = all_kernels[i];
        s = gemm_round_up(k->f32.mc * k->f32.kc * sizeof(float)) +
            gemm_round_up(k->f32.kc * k->f32.nc * sizeof(float));
        if (s > best) best = s;
        s = gemm_round_up(k->f64.mc * k->f64.kc * sizeof(double)) +
            gemm_round_up(k->f64.kc * k->f64.nc * sizeof(double));
        if (s > best) best = s;
    }
    return best;
}

/* Row of B holding column n of op(B) = B^T when columns come in groups of
 * `group` rows, group g starting at row g * gstride (group 0: no groups). */
static size_t group_row(size_t n, size_t group, size_t gstride) {
    return group ? n / group * gstride + n % group : n;
}

/* Header of a packed-B buffer (layout rule in gemm.h). */
#define PACKED_MAGIC 0x424b5050u /* "PPKB" */
#define PACKED_HEADER_BYTES 64
typedef struct {
    unsigned magic, elem_size;
    int kernel;
    size_t nr, kc, n, k;
} packed_header;
typedef char packed_header_fits[sizeof(packed_header) <= PACKED_HEADER_BYTES ? 1 : -1];

/* Header + K x N rounded up to nr columns; 0 on overflow. */
static size_t packed_size(size_t N, size_t K, size_t elem_size, size_t nr) {
    size_t n;
    if (N > SIZE_MAX - nr) return 0;
    if (!pylstm_mul_ok((N + nr - 1) / nr * nr, K, &n) || !pylstm_mul_ok(n, elem_size, &n) ||
        !pylstm_add_ok(n, PACKED_HEADER_BYTES, &n))
        return 0;
    return n;
}

/* The largest packed size over every kernel built in, so the size does not
 * depend on the kernel active when packing. (Not simply the widest NR: N
 * padded to 8 can exceed N padded to 12.) 0 on overflow. */
static size_t packed_size_f32(size_t N, size_t K) {
    size_t i, s, best = 0;
    for (i = 0; i < N_KERNELS; ++i) {
        if (!(s = packed_size(N, K, sizeof(float), all_kernels[i]->f32.nr))) return 0;
        if (s > best) best = s;
    }
    return best;
}

static size_t packed_size_f64(size_t N, size_t K) {
    size_t i, s, best = 0;
    for (i = 0; i < N_KERNELS; ++i) {
        if (!(s = packed_size(N, K, sizeof(double), all_kernels[i]->f64.nr))) return 0;
        if (s > best) best = s;
    }
    return best;
}

size_t pylstm_gemm_packed_b_bytes(size_t esize, size_t N, size_t K) {
    return esize == sizeof(float) ? packed_size_f32(N, K) : packed_size_f64(N, K);
}

/* How many of nt threads a product of M x N x K multiply-adds is split
 * between: all, or one when a part would do less than
 * PYLSTM_GEMM_PAR_AWAKE_MIN. */
static size_t par_parts(size_t nt, size_t M, size_t N, size_t K) {
    return (double)M * (double)N * (double)K >= PYLSTM_GEMM_PAR_AWAKE_MIN * (double)nt ? nt : 1;
}

/* Runs the parts of a product: waking threads that sleep only from
 * PYLSTM_GEMM_PAR_MIN multiply-adds per part (a product at the start of a
 * call may find the other threads asleep on their condition variable, tens
 * of microseconds away), else on the threads that are awake. */
static void par_run(pylstm_job_fn fn, void *ctx, size_t parts, size_t M, size_t N, size_t K) {
    if ((double)M * (double)N * (double)K >= PYLSTM_GEMM_PAR_MIN * (double)parts)
        pylstm_pool_run(fn, ctx, parts);
    else
        pylstm_pool_run_awake(fn, ctx, parts);
}

/* Packing transposes: op(A) rows become the contiguous MR values of a panel
 * column, and B^T's rows the NR values of a B panel row. Element by element
 * that costs a few cycles per value, as much as 15-20% of a product whose
 * other side is 256 wide (measured on Zen 4: bwd NN 3200 x 256 x 1024). On
 * x86 the transpose goes by 4 x 4 blocks in SSE2 registers (the x86-64
 * baseline: no target attribute); tr4(src, ld, dst, dld) writes
 * dst[k*dld + i] = src[i*ld + k] for i, k < 4, tr2 the same for i < 2. */
#if PYLSTM_HAVE_X86
#include <emmintrin.h>
#define PYLSTM_HAVE_TR4 1
static void tr4_f32(const float *src, size_t ld, float *dst, size_t dld) {
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + ld);
    __m128 r2 = _mm_loadu_ps(src + 2 * ld), r3 = _mm_loadu_ps(src + 3 * ld);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0);
    _mm_storeu_ps(dst + dld, r1);
    _mm_storeu_ps(dst + 2 * dld, r2);
    _mm_storeu_ps(dst + 3 * dld, r3);
}
/* tr2(src, ld, dst, dld): dst[k*dld + i] = src[i*ld + k] for i < 2, k < 4:
 * the last two rows of an AVX2 tile of 6, until then element by element
 * (the packing took 25% of the AVX2 kernel's 6400 x 40 x 320 product, then
 * 20%; 0.86 -> 0.90-0.92 of OpenBLAS's speed on Zen 4). */
static void tr2_f32(const float *src, size_t ld, float *dst, size_t dld) {
    const __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + ld);
    const __m128 lo = _mm_unpacklo_ps(r0, r1), hi = _mm_unpackhi_ps(r0, r1);
    _mm_storel_pi((__m64 *)dst, lo);
    _mm_storeh_pi((__m64 *)(dst + dld), lo);
    _mm_storel_pi((__m64 *)(dst + 2 * dld), hi);
    _mm_storeh_pi((__m64 *)(dst + 3 * dld), hi);
}
static void tr2_f64(const double *src, size_t ld, double *dst, size_t dld) {
    size_t k;
    for (k = 0; k < 4; k += 2) {
        const __m128d x = _mm_loadu_pd(src + k), y = _mm_loadu_pd(src + ld + k);
        _mm_storeu_pd(dst + k * dld, _mm_unpacklo_pd(x, y));
        _mm_storeu_pd(dst + (k + 1) * dld, _mm_unpackhi_pd(x, y));
    }
}
/* two pairs of rows, each as tr2 */
static void tr4_f64(const double *src, size_t ld, double *dst, size_t dld) {
    tr2_f64(src, ld, dst, dld);
    tr2_f64(src + 2 * ld, ld, dst + 2, dld);
}
#endif

#define REAL float
#define SUFFIX f32
#include "gemm_impl.h"
#undef REAL
#undef SUFFIX

#define REAL double
#define SUFFIX f64
#include "gemm_impl.h"
#undef REAL
#undef SUFFIX
