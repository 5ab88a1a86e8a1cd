/* The one matrix product every LSTM loop calls. Internal, not exported.
 *
 *   C (M x N)  =  op(A) (M x K) * op(B) (K x N)  [+ C when accumulate]
 *
 * Row-major. op(A) = A (lda >= K) or, when trans_a, A^T with A stored K x M
 * (lda >= M); likewise op(B) = B stored K x N (ldb >= N) or, when trans_b, B^T
 * with B stored N x K (ldb >= K). When accumulate is 0, C is overwritten (its
 * previous contents, NaN included, are never read). Elements of C outside the
 * M x N block (the ldc padding) are never touched.
 *
 * work must point to at least pylstm_gemm_work_size() bytes aligned to
 * PYLSTM_ALIGN; the product may use it for packed panels. The callers (layer.c,
 * model.c) trust their own size arithmetic, so nothing here is checked. K may be
 * 0 (C is then zeroed or left as it is); M or N may be 0 (nothing happens).
 *
 * Structure (BLIS, Van Zee & van de Geijn 2015): gemm.c holds the five blocking
 * loops and the packing (generic body in gemm_impl.h); each gemm_<isa>.c holds
 * only a register-blocked micro-kernel (generic body in gemm_kernel_impl.h);
 * gemm.c picks one at run time from the CPU features cpu.c reports. gemm_ref.c
 * holds the plain-loop reference product (the spec) and the portable
 * micro-kernel (the fallback). */
#ifndef PYLSTM_GEMM_H
#define PYLSTM_GEMM_H

#include "cpu.h"

/* Bytes of workspace a product needs: a constant (the same for every shape,
 * dtype and kernel), so a caller can allocate it once. */
PYLSTM_INTERNAL size_t pylstm_gemm_work_size(void);

PYLSTM_INTERNAL void pylstm_gemm_f32(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                                     const float *A, size_t lda, const float *B, size_t ldb,
                                     int accumulate, float *C, size_t ldc, void *work);
PYLSTM_INTERNAL void pylstm_gemm_f64(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                                     const double *A, size_t lda, const double *B, size_t ldb,
                                     int accumulate, double *C, size_t ldc, void *work);

/* The portable reference product with the same contract; the spec every fast
 * kernel is tested against. */
PYLSTM_INTERNAL void pylstm_gemm_ref_f32(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                                         const float *A, size_t lda, const float *B, size_t ldb,
                                         int accumulate, float *C, size_t ldc);
PYLSTM_INTERNAL void pylstm_gemm_ref_f64(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                                         const double *A, size_t lda, const double *B,
                                         size_t ldb, int accumulate, double *C, size_t ldc);

/* ---- Pre-packed B ("weights packed once per parameter change") ----------
 *
 * The LSTM multiplies by the same weight matrix at every time step (e.g. the
 * recurrent product h_{t-1} (B x R) * W_hh^T, i.e. trans_b = 1 with W_hh stored
 * 4H x R). Packing it once into the micro-kernel's panel layout removes the
 * per-call packing, which dominates when M (the batch) is small.
 *
 * pylstm_gemm_packed_b_size_*(N, K): bytes the packed op(B) (K x N) needs; the
 *   same value whatever kernel is active (the largest over every kernel built
 *   in). Returns 0 if the size overflows size_t.
 * pylstm_gemm_pack_b_*(trans_b, N, K, B, ldb, packed): packs op(B) (B as in the
 *   product above) into packed, which must hold packed_b_size bytes and be
 *   aligned to PYLSTM_ALIGN. B is not needed afterwards.
 * pylstm_gemm_packed_*(trans_a, M, N, K, A, lda, packed, accumulate, C, ldc,
 *   work): the product above with op(B) taken from packed (same N and K as
 *   when packing). Same result contract (to rounding: summation order may
 *   differ from the reference, exactly as the unpacked product's does).
 *
 * Layout rule: a 64-byte header records the kernel that packed the buffer, its
 * panel width NR and depth block KC, N, K and the element size; then the
 * values. K is cut into blocks of KC (the last one shorter, kc = its length);
 * block by block, N is cut into panels of NR columns (the last one
 * zero-padded to NR); each panel is stored k-major, op(B)(k, j) at
 * panel[k * NR + j]. Block p starts at element p*KC*Npad, Npad = N rounded up
 * to NR; its panel q at (block start) + q*NR*kc.
 * The layout therefore depends on the kernel active at packing time, and the
 * header records it: pylstm_gemm_packed_* always multiplies with the recording
 * kernel (whatever is active later), so switching kernels never misreads a
 * buffer. A buffer is process-local, not a file format: if the recorded kernel
 * is not usable in the process that reads it, a slow scalar loop that follows
 * the layout rule is used instead, still correct.
 *
 * When to use it: whenever the same B meets a small M more than once. The
 * unpacked product with trans_b and M of a few rows packs B on every call,
 * which costs about as much as the product itself (1 x 256 x 64 f32: ~5 us
 * unpacked, ~0.4 us packed on Zen 5). A row-major B (trans_b = 0) with
 * M <= MR is read in place, unpacked. Packing time is one pass over B. */
PYLSTM_INTERNAL size_t pylstm_gemm_packed_b_size_f32(size_t N, size_t K);
PYLSTM_INTERNAL size_t pylstm_gemm_packed_b_size_f64(size_t N, size_t K);
PYLSTM_INTERNAL void pylstm_gemm_pack_b_f32(int trans_b, size_t N, size_t K, const float *B,
                                            size_t ldb, void *packed);
PYLSTM_INTERNAL void pylstm_gemm_pack_b_f64(int trans_b, size_t N, size_t K, const double *B,
                                            size_t ldb, void *packed);
/* pylstm_gemm_pack_b_groups_*(N, K, B, ldb, group, group_stride, packed): as
 * pack_b with trans_b = 1, but op(B)'s column n is row
 * (n / group) * group_stride + n % group of B: the rows are gathered in
 * blocks of `group` (a part's four gate blocks of W_hh) without a copy. */
PYLSTM_INTERNAL void pylstm_gemm_pack_b_groups_f32(size_t N, size_t K, const float *B, size_t ldb,
                                                   size_t group, size_t group_stride,
                                                   void *packed);
PYLSTM_INTERNAL void pylstm_gemm_pack_b_groups_f64(size_t N, size_t K, const double *B,
                                                   size_t ldb, size_t group, size_t group_stride,
                                                   void *packed);
/* pylstm_gemm_packed_groups_*(M, N, K, A, lda, packed, accumulate, C, ldc,
 * group, group_stride, work): pylstm_gemm_packed_* with trans_a = 0, except
 * that column n of the product is stored at column
 * (n / group) * group_stride + n % group of C (the mirror of
 * pack_b_groups: a part's four gate blocks written into the gates in place).
 * Each element is computed as by pylstm_gemm_packed_* (with accumulate, C
 * plus the sum of each depth block in turn), so it does not depend on the
 * grouping; M = 1 goes through the micro-kernel, not the gemv. */
PYLSTM_INTERNAL void pylstm_gemm_packed_groups_f32(size_t M, size_t N, size_t K, const float *A,
                                                   size_t lda, const void *packed, int accumulate,
                                                   float *C, size_t ldc, size_t group,
                                                   size_t group_stride, void *work);
PYLSTM_INTERNAL void pylstm_gemm_packed_groups_f64(size_t M, size_t N, size_t K,
                                                   const double *A, size_t lda,
                                                   const void *packed, int accumulate, double *C,
                                                   size_t ldc, size_t group, size_t group_stride,
                                                   void *work);
PYLSTM_INTERNAL void pylstm_gemm_packed_f32(int trans_a, size_t M, size_t N, size_t K,
                                            const float *A, size_t lda, const void *packed,
                                            int accumulate, float *C, size_t ldc, void *work);
PYLSTM_INTERNAL void pylstm_gemm_packed_f64(int trans_a, size_t M, size_t N, size_t K,
                                            const double *A, size_t lda, const void *packed,
                                            int accumulate, double *C, size_t ldc, void *work);

/* pylstm_gemv_packed_*(N, K, a, packed, y, backward): one row, y (N) =
 * a (K) * op(B) from a packed B (same N and K as when packing): exactly
 * pylstm_gemm_packed_* with M = 1 (bit for bit, no workspace; both go
 * through the kernel's gemv), for the per-step products of a batch of one.
 * B is read as a sequence of groups of column panels, last to first when
 * backward: a loop that alternates the direction from call to call finds at
 * the start of each call the panels that the previous call read last still
 * in L1 (for a 64 KiB B and a 32 KiB L1, about half of B), while a fixed
 * direction evicts every line before it is used again. Measured on Zen 4
 * (AMD EPYC), 1 x 256 x 64 float32: a plain read of the 64 KiB takes
 * 0.55 us one way, 0.42 us alternating; this product 0.59 / 0.49 us (AVX-512
 * and AVX2 alike), where the register-tile micro-kernel took 0.64 (AVX-512)
 * and 0.66 us (AVX2). */
PYLSTM_INTERNAL void pylstm_gemv_packed_f32(size_t N, size_t K, const float *a,
                                            const void *packed, float *y, int backward);
PYLSTM_INTERNAL void pylstm_gemv_packed_f64(size_t N, size_t K, const double *a,
                                            const void *packed, double *y, int backward);

/* pylstm_gemm_packed_b_size_* for an element size (sizeof(float) or
 * sizeof(double)). */
PYLSTM_INTERNAL size_t pylstm_gemm_packed_b_bytes(size_t esize, size_t N, size_t K);

/* ---- Products split between threads -------------------------------------
 *
 * pylstm_gemm_par_*(nt, work, work_stride, <the product's arguments>): the
 * product above, split between up to nt threads of the pool (threads.h) by
 * blocks of C when it has at least PYLSTM_GEMM_PAR_MIN multiply-adds per
 * thread; from PYLSTM_GEMM_PAR_AWAKE_MIN between the threads that are awake
 * (pylstm_pool_run_awake: the input projection of T = 100, B = 1, I = 32,
 * H = 64 took 14 of the call's 88 us at 1 thread, 70 us in all at 2 with
 * it split); else in the calling thread. Part p uses the workspace at
 * work + p * work_stride (work_stride >= pylstm_gemm_work_size(), aligned).
 * No element's value depends on the split, so results are bit-identical for
 * every nt (see gemm_impl.h for why each split keeps them so).
 * pylstm_gemm_packed_par_*: the same for pylstm_gemm_packed_* with
 * trans_a = 0, split by row blocks only (the threads share the packed B).
 * pylstm_gemm_tn_pair_*(M, K, A, lda, N1, B1, ldb1, C1, ldc1, N2, B2, ldb2,
 * C2, ldc2, accumulate, work): the two products C1 (+)= A^T B1 and
 * C2 (+)= A^T B2 (A stored K x M, B1 and B2 row-major), bit for bit as two
 * calls of the product above, with each block of A packed once for both;
 * pylstm_gemm_tn_pair_par_* splits them between threads like
 * pylstm_gemm_par_. */
#define PYLSTM_GEMM_PAR_MIN 2097152.0
#define PYLSTM_GEMM_PAR_AWAKE_MIN 262144.0

/* Rows of a product are split between threads in multiples of this: the
 * least common multiple of every micro-kernel's row tile (MR = 12, 6, 8, 4
 * in gemm_*.c). It was 96: a weight gradient of H = 64 (256 rows, 64
 * columns) then had too few rows to split, and too few columns, and ran on
 * one thread; 400 rows (H = 100) split 288 / 112. */
#define PYLSTM_ROW_GRAIN 24

#define PYLSTM_DECLARE_GEMM_PAR(REAL, SUFFIX)                                                   \
    PYLSTM_INTERNAL void pylstm_gemm_par_##SUFFIX(                                              \
        size_t nt, void *work, size_t work_stride, int trans_a, int trans_b, size_t M, size_t N, \
        size_t K, const REAL *A, size_t lda, const REAL *B, size_t ldb, int accumulate, REAL *C, \
        size_t ldc);                                                                            \
    PYLSTM_INTERNAL void pylstm_gemm_packed_par_##SUFFIX(                                       \
        size_t nt, void *work, size_t work_stride, size_t M, size_t N, size_t K, const REAL *A, \
        size_t lda, const void *packed, int accumulate, REAL *C, size_t ldc);                   \
    PYLSTM_INTERNAL void pylstm_gemm_tn_pair_##SUFFIX(                                          \
        size_t M, size_t K, const REAL *A, size_t lda, size_t N1, const REAL *B1, size_t ldb1,  \
        REAL *C1, size_t ldc1, size_t N2, const REAL *B2, size_t ldb2, REAL *C2, size_t ldc2,   \
        int accumulate, void *work);                                                            \
    PYLSTM_INTERNAL void pylstm_gemm_tn_pair_par_##SUFFIX(                                      \
        size_t nt, void *work, size_t work_stride, size_t M, size_t K, const REAL *A,           \
        size_t lda, size_t N1, const REAL *B1, size_t ldb1, REAL *C1, size_t ldc1, size_t N2,   \
        const REAL *B2, size_t ldb2, REAL *C2, size_t ldc2, int accumulate);
PYLSTM_DECLARE_GEMM_PAR(float, f32)
PYLSTM_DECLARE_GEMM_PAR(double, f64)

/* ---- Micro-kernels (for gemm.c and the kernel files only) --------
 *
 * ukr(k, a, sa, b, sb, c, ldc, accumulate, m, vat) computes the m x NR tile
 *   c[i*ldc + at(j)] (+)= sum_{p<k} a[p*sa + i] * b[p*sb + j],  i < m <= MR, j < NR,
 * overwriting c without reading it when accumulate is 0. at(j) = j when vat
 * is NULL; else the row's NR columns are NR / VL vectors (VL: the table's
 * vl), each stored whole where vat says: at(j) = vat[j / VL] + j % VL (a
 * tile of a step's gates whose columns jump from one gate's block to the
 * next at a vector boundary is still written straight from the registers).
 * With packed panels sa = MR and sb = NR; gemm.c also passes unpacked
 * operands whose layout already fits (a transposed A: sa = lda; a row-major
 * B: sb = ldb). It writes exactly m full rows of NR values; gemm.c routes
 * narrower edge tiles, and tiles with a vector across two blocks of columns,
 * through a scratch tile. */
typedef void (*pylstm_ukr_f32_t)(size_t k, const float *a, size_t sa, const float *b, size_t sb,
                                 float *c, size_t ldc, int accumulate, int m, const size_t *vat);
typedef void (*pylstm_ukr_f64_t)(size_t k, const double *a, size_t sa, const double *b,
                                 size_t sb, double *c, size_t ldc, int accumulate, int m,
                                 const size_t *vat);

/* gemv(k, a, b, panels, y, accumulate) computes one row over `panels` packed
 * panels of NR columns (panel q at b + q*k*NR, stride NR per k):
 *   y[q*NR + j] (+)= sum_{p<k} a[p] * b[q*k*NR + p*NR + j],  q < panels, j < NR,
 * overwriting y without reading it when accumulate is 0. Each column's sum
 * is computed in an order fixed by the kernel alone (the SIMD kernels: two
 * chains of fused multiply-adds, over the even and the odd p, added at the
 * end; the portable one: one chain in the order of p, a multiply then an
 * add), so its value depends neither on how many panels a call covers nor on
 * their order. With M = 1 the blocking loops call it for
 * every packed B (several panels share one broadcast of a[p], which the
 * register-tile micro-kernel would repeat per panel). */
typedef void (*pylstm_gemv_f32_t)(size_t k, const float *a, const float *b, size_t panels,
                                  float *y, int accumulate);
typedef void (*pylstm_gemv_f64_t)(size_t k, const double *a, const double *b, size_t panels,
                                  double *y, int accumulate);

/* A micro-kernel with its register block (MR x NR, a row of NR / VL vectors)
 * and cache blocks: KC (depth of a packed panel; MR x KC of A and KC x NR of
 * B stay in L1), MC (rows of the packed A block kept in L2, a multiple of MR)
 * and NC (columns of the packed B block, a multiple of NR). The table holds
 * the sizes tuned for the ISA; gemm_impl.h (blocking_) shrinks them to the
 * cache sizes of the CPU. ukr_edge (or NULL) is the same micro-kernel over
 * the first VL columns of a panel only (B read with the same stride), for a
 * partial last panel of at most VL columns: each column's chain of
 * operations is the full kernel's, so the results are the same bits, for
 * fewer multiply-adds (a product with N = 40 and NR = 32 computed 64
 * columns, now 48). mc_deep (0: mc) is the height of the row blocks of a
 * product with more than MC rows, a multiple of MR at most MC; its last
 * block takes whatever is left once that is at most MC rows, so a product of
 * at most MC rows (a step's batch) still sweeps B once (gemm_impl.h,
 * row_block_). */
typedef struct {
    size_t mr, nr, vl, kc, mc, nc;
    pylstm_ukr_f32_t ukr;
    pylstm_gemv_f32_t gemv;
    pylstm_ukr_f32_t ukr_edge;
    size_t mc_deep;
} pylstm_gemm_blocking_f32_t;
typedef struct {
    size_t mr, nr, vl, kc, mc, nc;
    pylstm_ukr_f64_t ukr;
    pylstm_gemv_f64_t gemv;
    pylstm_ukr_f64_t ukr_edge;
    size_t mc_deep;
} pylstm_gemm_blocking_f64_t;

/* Kernel ids (recorded in packed buffers). */
#define PYLSTM_KERNEL_REF 0
#define PYLSTM_KERNEL_AVX2 1
#define PYLSTM_KERNEL_AVX512 2
#define PYLSTM_KERNEL_NEON 3
#define PYLSTM_KERNEL_COUNT 4

typedef struct {
    const char *name;
    int id;
    pylstm_gemm_blocking_f32_t f32;
    pylstm_gemm_blocking_f64_t f64;
} pylstm_gemm_kernel_t;

/* Bounds every kernel respects (scratch edge tile, packed-size query). */
#define PYLSTM_GEMM_MR_MAX 16
#define PYLSTM_GEMM_NR_MAX 64

PYLSTM_INTERNAL extern const pylstm_gemm_kernel_t pylstm_gemm_kernel_ref;
#if PYLSTM_HAVE_X86
PYLSTM_INTERNAL extern const pylstm_gemm_kernel_t pylstm_gemm_kernel_avx2;
PYLSTM_INTERNAL extern const pylstm_gemm_kernel_t pylstm_gemm_kernel_avx512;
#endif
#if PYLSTM_HAVE_NEON
PYLSTM_INTERNAL extern const pylstm_gemm_kernel_t pylstm_gemm_kernel_neon;
#endif

/* The kernel in use: the widest the usable CPU features allow (cpu.h: the
 * detection, capped by PYLSTM_KERNEL or pylstm_cpu_set_cap). Never NULL.
 * pylstm_gemm_kernel() (pylstm.h) is its name. */
PYLSTM_INTERNAL const pylstm_gemm_kernel_t *pylstm_gemm_active(void);

/* The kernel with this id if it is built in and the hardware runs it, else
 * NULL (used to check the kernel recorded in a packed buffer). */
PYLSTM_INTERNAL const pylstm_gemm_kernel_t *pylstm_gemm_kernel_by_id(int id);

#endif
