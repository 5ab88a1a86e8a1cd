/* Tests of the matrix product (src_c/gemm*.c, src_c/cpu.c) against the plain
 * reference loops, for every micro-kernel this CPU can run, float32 and
 * float64, the unpacked and the packed-B API.
 *
 * Shapes: dims of 1, primes, powers of two and sizes past each kernel's own
 * MC / NC / KC blocks; every trans_a / trans_b; lda, ldb, ldc larger than the
 * rows with NaN in the padding of A and B (read => NaN result => failure) and a
 * sentinel in C's padding (written => failure); accumulate 0 with C full of
 * NaN, accumulate 1 with random C.
 *
 * Tolerance: both sides are sums of K products in some order, each within
 * gamma_{K+1} * sum |a||b| (+|c|) of the exact value (Higham, Accuracy and
 * Stability, 3.1), so they may differ by 2 (K+2) eps times that sum, which is
 * computed with the reference on |A|, |B|, |C|.
 *
 * Build: gcc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -Isrc_c/include -Isrc_c \
 *          -pthread tests/c/test_gemm.c src_c/gemm*.c src_c/cpu.c src_c/threads.c -lm
 * Prints one line per failure (up to 30) and "N passed, N failed" last; exits
 * non-zero on any failure. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu.h"
#include "gemm.h"

static const char *cur_kernel = "?";

/* A buffer of float or double, addressed as double. */
typedef struct {
    int dbl;
    size_t n;
    void *p;
} buf;

static buf buf_new(int dbl, size_t n) {
    buf b;
    b.dbl = dbl;
    b.n = n;
    b.p = malloc((n ? n : 1) * (dbl ? sizeof(double) : sizeof(float)));
    if (!b.p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return b;
}
static double get(buf b, size_t i) { return b.dbl ? ((double *)b.p)[i] : ((float *)b.p)[i]; }
static void set(buf b, size_t i, double v) {
    if (b.dbl)
        ((double *)b.p)[i] = v;
    else
        ((float *)b.p)[i] = (float)v;
}

static void *work_area;

static void fail(const char *what) {
    if (++n_fail <= 30) printf("FAIL [%s] %s\n", cur_kernel, what);
}

/* Fills rows x ld with random values in the first `cols` columns, NaN after. */
static void fill(buf b, size_t rows, size_t cols, size_t ld) {
    size_t i, j;
    for (i = 0; i < rows; ++i)
        for (j = 0; j < ld; ++j) set(b, i * ld + j, j < cols ? urand() : NAN);
}

/* Compares one product (packed: through the packed-B API, with the buffer
 * packed under `pack_kernel`, NULL = the active one; forge: corrupt the
 * recorded kernel to force the layout-rule fallback). */
static void run_case(int dbl, int packed, int ta, int tb, size_t M, size_t N, size_t K,
                     int accumulate, const char *pack_kernel, int forge) {
    const size_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
    const size_t lda = ca + rnd(0, 2) + (ca == 0), ldb = cb + rnd(0, 2) + (cb == 0),
                 ldc = N + rnd(0, 2);
    const double eps = dbl ? DBL_EPSILON : FLT_EPSILON, tol = 2.0 * (double)(K + 2) * eps;
    const double sentinel = 1234.5;
    buf A = buf_new(dbl, ra * lda), B = buf_new(dbl, rb * ldb), C = buf_new(dbl, M * ldc);
    buf R = buf_new(dbl, M * ldc), Aa = buf_new(dbl, ra * lda), Ba = buf_new(dbl, rb * ldb);
    buf Ra = buf_new(dbl, M * ldc);
    void *pk = NULL;
    size_t i, j, bad = 0;
    char msg[256];

    fill(A, ra, ca, lda);
    fill(B, rb, cb, ldb);
    for (i = 0; i < M; ++i)
        for (j = 0; j < ldc; ++j)
            set(C, i * ldc + j, j >= N ? sentinel : accumulate ? urand() : NAN);
    for (i = 0; i < A.n; ++i) set(Aa, i, isnan(get(A, i)) ? 0.0 : fabs(get(A, i)));
    for (i = 0; i < B.n; ++i) set(Ba, i, isnan(get(B, i)) ? 0.0 : fabs(get(B, i)));
    for (i = 0; i < C.n; ++i) {
        set(R, i, get(C, i));
        set(Ra, i, isnan(get(C, i)) ? 0.0 : fabs(get(C, i)));
    }
    if (dbl) {
        pylstm_gemm_ref_f64(ta, tb, M, N, K, A.p, lda, B.p, ldb, accumulate, R.p, ldc);
        pylstm_gemm_ref_f64(ta, tb, M, N, K, Aa.p, lda, Ba.p, ldb, accumulate, Ra.p, ldc);
    } else {
        pylstm_gemm_ref_f32(ta, tb, M, N, K, A.p, lda, B.p, ldb, accumulate, R.p, ldc);
        pylstm_gemm_ref_f32(ta, tb, M, N, K, Aa.p, lda, Ba.p, ldb, accumulate, Ra.p, ldc);
    }

    if (!packed) {
        if (dbl)
            pylstm_gemm_f64(ta, tb, M, N, K, A.p, lda, B.p, ldb, accumulate, C.p, ldc,
                            work_area);
        else
            pylstm_gemm_f32(ta, tb, M, N, K, A.p, lda, B.p, ldb, accumulate, C.p, ldc,
                            work_area);
    } else {
        const char *active = pylstm_gemm_kernel();
        size_t bytes = dbl ? pylstm_gemm_packed_b_size_f64(N, K) : pylstm_gemm_packed_b_size_f32(N, K);
        char *raw = malloc(bytes + PYLSTM_ALIGN);
        if (!raw) exit(2);
        pk = pylstm_align_ptr(raw);
        if (pack_kernel) pylstm_cpu_set_cap(pack_kernel);
        if (dbl)
            pylstm_gemm_pack_b_f64(tb, N, K, B.p, ldb, pk);
        else
            pylstm_gemm_pack_b_f32(tb, N, K, B.p, ldb, pk);
        pylstm_cpu_set_cap(active); /* multiply under another kernel than the packer */
        if (forge) {
            int bogus = 99; /* white box: the header's kernel id sits at byte 8 */
            memcpy((char *)pk + 8, &bogus, sizeof bogus);
        }
        if (dbl)
            pylstm_gemm_packed_f64(ta, M, N, K, A.p, lda, pk, accumulate, C.p, ldc, work_area);
        else
            pylstm_gemm_packed_f32(ta, M, N, K, A.p, lda, pk, accumulate, C.p, ldc, work_area);
        free(raw);
    }

    for (i = 0; i < M; ++i)
        for (j = 0; j < ldc; ++j) {
            const size_t at = i * ldc + j;
            const double got = get(C, at), want = get(R, at);
            int ok;
            if (j >= N)
                ok = got == sentinel;
            else
                ok = !isnan(got) && fabs(got - want) <= tol * get(Ra, at) + 1e-300;
            if (!ok && !bad++) {
                sprintf(msg,
                        "%s %s ta=%d tb=%d M=%lu N=%lu K=%lu acc=%d lda=%lu ldb=%lu ldc=%lu "
                        "pack=%s%s: C[%lu,%lu] = %.9g, want %.9g",
                        dbl ? "f64" : "f32", packed ? "packed" : "gemm", ta, tb,
                        (unsigned long)M, (unsigned long)N, (unsigned long)K, accumulate,
                        (unsigned long)lda, (unsigned long)ldb, (unsigned long)ldc,
                        pack_kernel ? pack_kernel : "-", forge ? " forged" : "",
                        (unsigned long)i, (unsigned long)j, got, want);
                fail(msg);
            }
        }
    if (!bad) ++n_pass;
    free(A.p), free(B.p), free(C.p), free(R.p), free(Aa.p), free(Ba.p), free(Ra.p);
}

/* The grouped-columns product (pylstm_gemm_packed_groups_*: column n at
 * (n / group) * stride + n % group of C, stride = group + gap; a gap must keep
 * its sentinel, and gap 0 is a single part's gates, contiguous) against the same product with one group (plain
 * columns): bit for bit, since the layer's result must not depend on how
 * its columns are grouped into parts; and, for M > 1, against
 * pylstm_gemm_packed_* bit for bit (M = 1 there takes the gemv, compared to
 * the reference by run_case). accumulate 1 onto random C. */
static void grouped_case(int dbl, size_t M, size_t N, size_t K, size_t group, size_t gap,
                         int forge) {
    const size_t stride = group + gap, ngroups = (N + group - 1) / group, ldg = ngroups * stride;
    const double sentinel = 1234.5;
    buf B = buf_new(dbl, N * K), A = buf_new(dbl, M * K), C0 = buf_new(dbl, M * N);
    buf One = buf_new(dbl, M * N), Plain = buf_new(dbl, M * N), G = buf_new(dbl, M * ldg);
    size_t bytes = dbl ? pylstm_gemm_packed_b_size_f64(N, K) : pylstm_gemm_packed_b_size_f32(N, K);
    char *raw = malloc(bytes + PYLSTM_ALIGN), msg[200];
    void *pk;
    size_t i, n, bad = 0;
    if (!raw) exit(2);
    pk = pylstm_align_ptr(raw);
    fill(B, N, K, K);
    fill(A, M, K, K);
    fill(C0, M, N, N);
    for (i = 0; i < M * N; ++i) set(One, i, get(C0, i)), set(Plain, i, get(C0, i));
    for (i = 0; i < M * ldg; ++i) {
        const size_t col = i % ldg, n0 = col / stride * group + col % stride;
        set(G, i, col % stride < group && n0 < N ? get(C0, i / ldg * N + n0) : sentinel);
    }
    if (dbl)
        pylstm_gemm_pack_b_f64(1, N, K, B.p, K, pk);
    else
        pylstm_gemm_pack_b_f32(1, N, K, B.p, K, pk);
    if (forge) {
        int bogus = 99; /* as in run_case */
        memcpy((char *)pk + 8, &bogus, sizeof bogus);
    }
    if (dbl) {
        pylstm_gemm_packed_groups_f64(M, N, K, A.p, K, pk, 1, G.p, ldg, group, stride, work_area);
        pylstm_gemm_packed_groups_f64(M, N, K, A.p, K, pk, 1, One.p, N, N, N, work_area);
        pylstm_gemm_packed_f64(0, M, N, K, A.p, K, pk, 1, Plain.p, N, work_area);
    } else {
        pylstm_gemm_packed_groups_f32(M, N, K, A.p, K, pk, 1, G.p, ldg, group, stride, work_area);
        pylstm_gemm_packed_groups_f32(M, N, K, A.p, K, pk, 1, One.p, N, N, N, work_area);
        pylstm_gemm_packed_f32(0, M, N, K, A.p, K, pk, 1, Plain.p, N, work_area);
    }
    for (i = 0; i < M * ldg; ++i) {
        const size_t col = i % ldg, n0 = col / stride * group + col % stride;
        const int inside = col % stride < group && n0 < N;
        const double got = get(G, i), want = inside ? get(One, i / ldg * N + n0) : sentinel;
        if (got != want && !bad++) {
            sprintf(msg,
                    "%s grouped M=%lu N=%lu K=%lu group=%lu gap=%lu%s: element %lu = %.9g, "
                    "want %.9g",
                    dbl ? "f64" : "f32", (unsigned long)M, (unsigned long)N, (unsigned long)K,
                    (unsigned long)group, (unsigned long)gap, forge ? " forged" : "",
                    (unsigned long)i, got, want);
            fail(msg);
        }
    }
    for (n = 0; M > 1 && n < M * N; ++n)
        if (get(One, n) != get(Plain, n) && !bad++) fail("grouped product differs from packed");
    if (!bad) ++n_pass;
    free(raw), free(B.p), free(A.p), free(C0.p), free(One.p), free(Plain.p), free(G.p);
}

static const size_t small_dims[] = {1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 16, 17, 23, 31, 32, 33, 37, 48, 61, 64, 65, 97, 128};
#define N_SMALL (sizeof small_dims / sizeof small_dims[0])

static size_t pick(void) { return small_dims[rnd(0, N_SMALL - 1)]; }

/* A row of a product does not depend on how many rows there are: for M from
 * 3 to 150, every row of op(A)[:M] B is bit for bit that row of the
 * 150-row product. Rows in tiles of three or more rows are each one chain of
 * multiply-adds in depth order; only tiles of one or two rows split the depth
 * (gemm_kernel_impl.h), and gemm_impl.h's tile_rows_ and rows_ never leave
 * such a tile at the end of a product of three or more rows, nor of a cache
 * block (the small-caches run makes MC smaller than 150). */
static void rows_case(int dbl, int ta) {
    enum { MMAX = 150, N = 53, K = 37 };
    const size_t es = dbl ? sizeof(double) : sizeof(float);
    buf A = buf_new(dbl, MMAX * K), B = buf_new(dbl, K * N), C = buf_new(dbl, MMAX * N),
        F = buf_new(dbl, MMAX * N);
    size_t M, i, bad = 0;
    char msg[128];
    fill(A, MMAX, K, K); /* ta: read as the K x MMAX transpose, its first M columns */
    fill(B, K, N, N);
    for (M = 3; M <= MMAX; ++M) {
        buf out = M == MMAX ? F : C;
        if (dbl)
            pylstm_gemm_f64(ta, 0, M, N, K, A.p, ta ? MMAX : K, B.p, N, 0, out.p, N, work_area);
        else
            pylstm_gemm_f32(ta, 0, M, N, K, A.p, ta ? MMAX : K, B.p, N, 0, out.p, N, work_area);
    }
    for (M = 3; M < MMAX; ++M) {
        if (dbl)
            pylstm_gemm_f64(ta, 0, M, N, K, A.p, ta ? MMAX : K, B.p, N, 0, C.p, N, work_area);
        else
            pylstm_gemm_f32(ta, 0, M, N, K, A.p, ta ? MMAX : K, B.p, N, 0, C.p, N, work_area);
        for (i = 0; i < M; ++i)
            if (memcmp((char *)C.p + i * N * es, (char *)F.p + i * N * es, N * es) != 0) {
                if (!bad++) {
                    snprintf(msg, sizeof msg, "%s ta=%d: row %lu of %lu rows differs from the same row of %d",
                             dbl ? "f64" : "f32", ta, (unsigned long)i, (unsigned long)M, MMAX);
                    fail(msg);
                }
            }
    }
    if (!bad) ++n_pass;
    free(A.p), free(B.p), free(C.p), free(F.p);
}

/* pylstm_gemm_tn_pair_ (two products sharing op(A) = A^T) gives bit for bit
 * what two pylstm_gemm_ calls give, C's padding untouched: the shared path
 * (two B blocks in the workspace), and the fallbacks (few rows; B blocks too
 * wide together). */
static void pair_case(int dbl, size_t M, size_t K, size_t N1, size_t N2, int accumulate) {
    const size_t es = dbl ? sizeof(double) : sizeof(float), ld1 = N1 + 3, ld2 = N2 + 5;
    buf A = buf_new(dbl, K * (M + 2)), B1 = buf_new(dbl, K * (N1 + 1)),
        B2 = buf_new(dbl, K * (N2 + 2)), C1 = buf_new(dbl, M * ld1), C2 = buf_new(dbl, M * ld2),
        D1 = buf_new(dbl, M * ld1), D2 = buf_new(dbl, M * ld2);
    size_t i;
    char msg[160];
    fill(A, K, M, M + 2);
    fill(B1, K, N1, N1 + 1);
    fill(B2, K, N2, N2 + 2);
    for (i = 0; i < M * ld1; ++i) set(C1, i, i % ld1 < N1 ? urand() : 12345.0);
    for (i = 0; i < M * ld2; ++i) set(C2, i, i % ld2 < N2 ? urand() : 12345.0);
    memcpy(D1.p, C1.p, M * ld1 * es);
    memcpy(D2.p, C2.p, M * ld2 * es);
    if (dbl) {
        pylstm_gemm_f64(1, 0, M, N1, K, A.p, M + 2, B1.p, N1 + 1, accumulate, C1.p, ld1, work_area);
        pylstm_gemm_f64(1, 0, M, N2, K, A.p, M + 2, B2.p, N2 + 2, accumulate, C2.p, ld2, work_area);
        pylstm_gemm_tn_pair_f64(M, K, A.p, M + 2, N1, B1.p, N1 + 1, D1.p, ld1, N2, B2.p, N2 + 2,
                                D2.p, ld2, accumulate, work_area);
    } else {
        pylstm_gemm_f32(1, 0, M, N1, K, A.p, M + 2, B1.p, N1 + 1, accumulate, C1.p, ld1, work_area);
        pylstm_gemm_f32(1, 0, M, N2, K, A.p, M + 2, B2.p, N2 + 2, accumulate, C2.p, ld2, work_area);
        pylstm_gemm_tn_pair_f32(M, K, A.p, M + 2, N1, B1.p, N1 + 1, D1.p, ld1, N2, B2.p, N2 + 2,
                                D2.p, ld2, accumulate, work_area);
    }
    if (memcmp(C1.p, D1.p, M * ld1 * es) != 0 || memcmp(C2.p, D2.p, M * ld2 * es) != 0) {
        snprintf(msg, sizeof msg,
                 "%s pair M=%lu K=%lu N1=%lu N2=%lu acc=%d: not the two products' bits",
                 dbl ? "f64" : "f32", (unsigned long)M, (unsigned long)K, (unsigned long)N1,
                 (unsigned long)N2, accumulate);
        fail(msg);
    } else {
        ++n_pass;
    }
    free(A.p), free(B1.p), free(B2.p), free(C1.p), free(C2.p), free(D1.p), free(D2.p);
}

/* The kernel's edge instance (gemm.h, ukr_edge) against the full kernel on
 * the same panels: the first VL columns of every row, bit for bit, and the
 * columns past them not written; every row count, depths around the k split
 * of one and two rows (four ways), without and with accumulate. Its values
 * come from a formula, not rnd(), so the other cases' shapes stay the same. */
static void edge_case(int dbl) {
    static const size_t depths[] = {1, 2, 3, 4, 5, 7, 8, 33, 64};
    const pylstm_gemm_kernel_t *kern = pylstm_gemm_active();
    const size_t MR = dbl ? kern->f64.mr : kern->f32.mr, NR = dbl ? kern->f64.nr : kern->f32.nr;
    const size_t VL = dbl ? kern->f64.vl : kern->f32.vl, KMAX = 64;
    const size_t es = dbl ? sizeof(double) : sizeof(float);
    buf a, b, c0, c1, c2;
    size_t m, d, i, j;
    int acc;
    char msg[160];
    if (dbl ? !kern->f64.ukr_edge : !kern->f32.ukr_edge) return;
    a = buf_new(dbl, MR * KMAX), b = buf_new(dbl, KMAX * NR);
    c0 = buf_new(dbl, MR * NR), c1 = buf_new(dbl, MR * NR), c2 = buf_new(dbl, MR * NR);
    for (i = 0; i < a.n; ++i) set(a, i, (double)((i * 7919 + 13) % 2001) / 997.0 - 1.0);
    for (i = 0; i < b.n; ++i) set(b, i, (double)((i * 104729 + 7) % 1999) / 1009.0 - 1.0);
    for (i = 0; i < c0.n; ++i) set(c0, i, (double)((i * 31 + 5) % 97) / 41.0 - 1.0);
    for (m = 1; m <= MR; ++m)
        for (d = 0; d < sizeof depths / sizeof depths[0]; ++d)
            for (acc = 0; acc < 2; ++acc) {
                const size_t k = depths[d];
                int bad = 0;
                memcpy(c1.p, c0.p, c0.n * es), memcpy(c2.p, c0.p, c0.n * es);
                if (dbl) {
                    kern->f64.ukr(k, a.p, m, b.p, NR, c1.p, NR, acc, (int)m, NULL);
                    kern->f64.ukr_edge(k, a.p, m, b.p, NR, c2.p, NR, acc, (int)m, NULL);
                } else {
                    kern->f32.ukr(k, a.p, m, b.p, NR, c1.p, NR, acc, (int)m, NULL);
                    kern->f32.ukr_edge(k, a.p, m, b.p, NR, c2.p, NR, acc, (int)m, NULL);
                }
                for (i = 0; i < MR; ++i)
                    for (j = 0; j < NR; ++j) {
                        const buf want = i < m && j < VL ? c1 : c0;
                        if (memcmp((char *)c2.p + (i * NR + j) * es,
                                   (char *)want.p + (i * NR + j) * es, es) != 0)
                            bad = 1;
                    }
                if (bad) {
                    snprintf(msg, sizeof msg, "%s edge kernel m=%lu k=%lu acc=%d: not the full "
                             "kernel's first %lu columns", dbl ? "f64" : "f32",
                             (unsigned long)m, (unsigned long)k, acc, (unsigned long)VL);
                    fail(msg);
                } else {
                    ++n_pass;
                }
            }
    free(a.p), free(b.p), free(c0.p), free(c1.p), free(c2.p);
}

static void test_kernel(const char *name) {
    static const char *const all[] = {"ref", "avx2", "avx512", "neon"};
    const pylstm_gemm_kernel_t *k = pylstm_gemm_active();
    int dbl, n, ta, tb, acc, packed, i;
    cur_kernel = name;
    if (strcmp(pylstm_gemm_kernel(), name) != 0) fail("pylstm_gemm_kernel() names another kernel");
    for (dbl = 0; dbl < 2; ++dbl) {
        const size_t MC = dbl ? k->f64.mc : k->f32.mc, NC = dbl ? k->f64.nc : k->f32.nc,
                     KC = dbl ? k->f64.kc : k->f32.kc, MR = dbl ? k->f64.mr : k->f32.mr,
                     DEEP_T = dbl ? k->f64.mc_deep : k->f32.mc_deep, DEEP = DEEP_T ? DEEP_T : MC;
        /* every trans combination and both accumulate modes on tiny and edge shapes */
        for (packed = 0; packed < 2; ++packed)
            for (ta = 0; ta < 2; ++ta)
                for (tb = 0; tb < 2; ++tb)
                    for (acc = 0; acc < 2; ++acc) {
                        run_case(dbl, packed, ta, tb, 1, 1, 1, acc, NULL, 0);
                        run_case(dbl, packed, ta, tb, 1, 256, 64, acc, NULL, 0);
                        run_case(dbl, packed, ta, tb, MR, 3 * 16 + 5, 29, acc, NULL, 0);
                        run_case(dbl, packed, ta, tb, MR + 1, 7, KC + 1, acc, NULL, 0);
                        run_case(dbl, packed, ta, tb, 2, 13, 0, acc, NULL, 0); /* K = 0 */
                        for (n = 0; n < 12; ++n)
                            run_case(dbl, packed, ta, tb, pick(), pick(), pick(), acc, NULL, 0);
                    }
        /* past every cache block: MC rows, NC columns, two KC depth blocks; and
         * rows for two blocks of mc_deep and a last one of up to MC */
        for (n = 0; n < 2; ++n) {
            run_case(dbl, n, (int)rnd(0, 1), (int)rnd(0, 1), MC + 1 + rnd(0, MR - 1),
                     NC + 1 + rnd(0, 36), 2 * KC + 3, (int)rnd(0, 1), NULL, 0);
            run_case(dbl, n, (int)rnd(0, 1), (int)rnd(0, 1), MC + DEEP + 1 + rnd(0, MR - 1),
                     1 + rnd(0, 40), KC + 5, (int)rnd(0, 1), NULL, 0);
        }
        /* packed under every other kernel this CPU runs, multiplied under this one;
         * and the layout-rule fallback */
        for (i = 0; i < 4; ++i) {
            if (pylstm_cpu_set_cap(all[i]) != 0) continue;
            pylstm_cpu_set_cap(name);
            run_case(dbl, 1, (int)rnd(0, 1), (int)rnd(0, 1), 1 + rnd(0, 39), 1 + rnd(0, 299),
                     KC + 1 + rnd(0, 49), (int)rnd(0, 1), all[i], 0);
        }
        /* columns grouped as a layer part's gate blocks: groups of whole
         * panels and groups that cut panels, one and two depth blocks */
        for (n = 0; n < 6; ++n) {
            const size_t NR = dbl ? k->f64.nr : k->f32.nr;
            const size_t group = n % 2 ? NR : 1 + rnd(0, NR + 20);
            grouped_case(dbl, n < 2 ? 1 + rnd(0, 2) : 2 + rnd(0, 2 * MR), 4 * group,
                         n < 3 ? 1 + rnd(0, 64) : KC + 1 + rnd(0, 40), group, n == 4 ? 0 : 3,
                         0);
        }
        /* groups a whole number of vectors long but not of panels: a panel's
         * vectors go to two groups, stored by the kernel straight */
        {
            const size_t VL = dbl ? k->f64.vl : k->f32.vl;
            grouped_case(dbl, 2 * MR + 3, 4 * 3 * VL, KC + 9, 3 * VL, 3, 0);
            grouped_case(dbl, 5, 4 * VL, 33, VL, 3, 0);
        }
        grouped_case(dbl, 3, 4 * 13, KC + 5, 13, 3, 1);
        rows_case(dbl, 0);
        rows_case(dbl, 1);
        pair_case(dbl, MC + MR + 1, 2 * KC + 7, 37, 64, 1);
        pair_case(dbl, 4 * 50, 300, 40, 50, 0);
        pair_case(dbl, 9, 100, 20, 30, 1);                   /* few rows: two products */
        pair_case(dbl, 2 * MR + 40, 50, NC / 2 + 1, NC / 2, 1); /* B blocks too wide together */
        run_case(dbl, 1, 0, 1, 5, 37, KC + 9, 1, NULL, 1);
        run_case(dbl, 1, 1, 0, 3, 70, 11, 0, NULL, 1);
        /* zero-sized M or N: nothing happens (the sentinel check covers C) */
        run_case(dbl, 0, 0, 0, 0, 5, 5, 0, NULL, 0);
        run_case(dbl, 0, 0, 0, 5, 0, 5, 1, NULL, 0);
        run_case(dbl, 1, 0, 1, 0, 5, 5, 0, NULL, 0);
        edge_case(dbl);
    }
}

int main(void) {
    static const char *const names[] = {"ref", "avx2", "avx512", "neon"};
    const size_t ws = pylstm_gemm_work_size();
    char *raw = malloc(ws + PYLSTM_ALIGN);
    int i, level, tested = 0;
    if (!raw) return 2;
    rng_state = 0x9e3779b97f4a7c15ull; /* this test's own seed: its random shapes stay the same */
    work_area = pylstm_align_ptr(raw);
    printf("default kernel: %s, work size %lu bytes\n", pylstm_gemm_kernel(), (unsigned long)ws);
    for (i = 0; i < 4; ++i) {
        if (pylstm_cpu_set_cap(names[i]) != 0) {
            printf("kernel %s: not supported here, skipped\n", names[i]);
            continue;
        }
        if (pylstm_gemm_work_size() != ws) fail("work size depends on the kernel");
        ++tested;
        test_kernel(names[i]);
        printf("kernel %s: done (%d passed, %d failed so far)\n", names[i], n_pass, n_fail);
        /* again with caches small enough to shrink every block (gemm_impl.h:
         * blocking_): KC, MC and NC other than the table's */
        pylstm_cpu_set_cache_size(1, 4096);
        pylstm_cpu_set_cache_size(2, 32768);
        pylstm_cpu_set_cache_size(3, 131072);
        test_kernel(names[i]);
        for (level = 1; level <= 3; ++level) pylstm_cpu_set_cache_size(level, (size_t)-1);
        printf("kernel %s, small caches: done (%d passed, %d failed so far)\n", names[i], n_pass,
               n_fail);
    }
    cur_kernel = "-";
    if (pylstm_cpu_set_cap("no-such-kernel") == 0) fail("unknown kernel name accepted");
    pylstm_cpu_set_cap(NULL);
    if (!tested) fail("no kernel tested");
    free(raw);
    return check_summary();
}
