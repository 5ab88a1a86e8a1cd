/* Blocking loops, packing and the packed-B API of the matrix product (see
 * gemm.h); the generic body is gemm_impl.h, instantiated for float and
 * double. The micro-kernel comes from cpu.c's choice. */
#include "gemm.h"

#include "cpu.h"

static const pylstm_gemm_kernel_t *const all_kernels[] = {
    &pylstm_gemm_kernel_ref,
#if PYLSTM_GEMM_HAVE_X86
    &pylstm_gemm_kernel_avx2,
    &pylstm_gemm_kernel_avx512,
#endif
#if PYLSTM_GEMM_HAVE_NEON
    &pylstm_gemm_kernel_neon,
#endif
};
#define N_KERNELS (sizeof all_kernels / sizeof all_kernels[0])

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
