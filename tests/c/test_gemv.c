/* Tests of the one-row product from a packed B (pylstm_gemv_packed_*, the
 * per-step product of a batch of one), for every kernel this CPU can run,
 * float32 and float64:
 *  - against pylstm_gemm_packed_* with M = 1, bit for bit (the contract: the
 *    stream step and the layer rely on it to match the model exactly), in both
 *    directions;
 *  - against the plain reference loops (gemm_ref) within the rounding bound
 *    of test_gemm.c (2 (K+2) eps sum |a||b|);
 *  - y's neighbours are never written;
 *  - the kernel's gemv gives each column the same bits whether a call covers
 *    all panels or they come one, two or three at a time (a thread's share of
 *    a step is some of the panels; results must not depend on the count).
 * Sizes: 1, odd primes, non-multiples of every kernel's panel width and
 * vector length, 4H for common H, and depths past the kernel's KC block.
 * Prints failures and "N passed, N failed" last. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "check.h"
#include "cpu.h"
#include "gemm.h"

#define SENTINEL (-12345.0)

/* One case, in the element type of the instantiation below. */
#define DEFINE_CASE(REAL, SUFFIX, EPS)                                                         \
    static void case_##SUFFIX(const char *kern, size_t N, size_t K) {                          \
        const size_t pbytes = pylstm_gemm_packed_b_size_##SUFFIX(N, K);                        \
        unsigned char *raw = (unsigned char *)xmalloc(pbytes + PYLSTM_ALIGN);                   \
        void *pk = pylstm_align_ptr(raw);                                                      \
        unsigned char *wraw = (unsigned char *)xmalloc(pylstm_gemm_work_size() + PYLSTM_ALIGN); \
        REAL *W = (REAL *)xmalloc(N * K * sizeof(REAL)), *a = (REAL *)xmalloc(K * sizeof(REAL)); \
        REAL *y = (REAL *)xmalloc((N + 2) * sizeof(REAL)), *g = (REAL *)xmalloc(N * sizeof(REAL)); \
        REAL *r = (REAL *)xmalloc(N * sizeof(REAL)), *absW, *absa, *bound;                     \
        size_t i;                                                                              \
        int dir;                                                                               \
        absW = (REAL *)xmalloc(N * K * sizeof(REAL));                                          \
        absa = (REAL *)xmalloc(K * sizeof(REAL));                                              \
        bound = (REAL *)xmalloc(N * sizeof(REAL));                                             \
        for (i = 0; i < N * K; ++i) W[i] = (REAL)urand(), absW[i] = (REAL)fabs((double)W[i]);  \
        for (i = 0; i < K; ++i) a[i] = (REAL)urand(), absa[i] = (REAL)fabs((double)a[i]);      \
        /* op(B) = W^T, W stored N x K: the layout of W_hh (4H x R) */                         \
        pylstm_gemm_pack_b_##SUFFIX(1, N, K, W, K, pk);                                        \
        pylstm_gemm_packed_##SUFFIX(0, 1, N, K, a, K, pk, 0, g, N, pylstm_align_ptr(wraw));     \
        pylstm_gemm_ref_##SUFFIX(0, 1, 1, N, K, a, K, W, K, 0, r, N);                          \
        pylstm_gemm_ref_##SUFFIX(0, 1, 1, N, K, absa, K, absW, K, 0, bound, N);                \
        for (dir = 0; dir < 2; ++dir) {                                                        \
            int same = 1, close = 1;                                                           \
            y[0] = y[N + 1] = (REAL)SENTINEL;                                                  \
            for (i = 1; i <= N; ++i) y[i] = (REAL)NAN;                                         \
            pylstm_gemv_packed_##SUFFIX(N, K, a, pk, y + 1, dir);                              \
            for (i = 0; i < N; ++i) {                                                          \
                same &= memcmp(&y[i + 1], &g[i], sizeof(REAL)) == 0;                           \
                close &= fabs((double)y[i + 1] - (double)r[i]) <=                              \
                         2.0 * (double)(K + 2) * EPS * (double)bound[i];                       \
            }                                                                                  \
            check(same, "[%s] %s gemv N=%lu K=%lu dir=%d: not gemm_packed's bits", kern,       \
                  #SUFFIX, (unsigned long)N, (unsigned long)K, dir);                           \
            check(close, "[%s] %s gemv N=%lu K=%lu dir=%d: off the reference", kern, #SUFFIX,  \
                  (unsigned long)N, (unsigned long)K, dir);                                    \
            check(y[0] == (REAL)SENTINEL && y[N + 1] == (REAL)SENTINEL,                        \
                  "[%s] %s gemv N=%lu K=%lu: wrote outside y", kern, #SUFFIX,                  \
                  (unsigned long)N, (unsigned long)K);                                         \
        }                                                                                      \
        free(raw), free(wraw), free(W), free(a), free(y), free(g), free(r), free(absW);        \
        free(absa), free(bound);                                                               \
    }

DEFINE_CASE(float, f32, FLT_EPSILON)
DEFINE_CASE(double, f64, DBL_EPSILON)

/* The kernel's gemv over `panels` panels of depth k in one call against the
 * same panels in calls of `per` panels (the last call takes what is left). */
#define DEFINE_GROUPING(REAL, SUFFIX)                                                          \
    static void grouping_##SUFFIX(const char *kern, const pylstm_gemm_blocking_##SUFFIX##_t *bl, \
                                  size_t panels, size_t k, size_t per) {                       \
        const size_t NR = bl->nr, N = panels * NR;                                             \
        REAL *b = (REAL *)xmalloc(N * k * sizeof(REAL)), *a = (REAL *)xmalloc(k * sizeof(REAL)); \
        REAL *whole = (REAL *)xmalloc(N * sizeof(REAL)), *parts = (REAL *)xmalloc(N * sizeof(REAL)); \
        size_t i, q;                                                                           \
        for (i = 0; i < N * k; ++i) b[i] = (REAL)urand();                                      \
        for (i = 0; i < k; ++i) a[i] = (REAL)urand();                                          \
        bl->gemv(k, a, b, panels, whole, 0);                                                   \
        for (q = 0; q < panels; q += per)                                                      \
            bl->gemv(k, a, b + q * k * NR, q + per <= panels ? per : panels - q,               \
                     parts + q * NR, 0);                                                       \
        check(memcmp(whole, parts, N * sizeof(REAL)) == 0,                                     \
              "[%s] %s gemv of %lu panels, k=%lu: not the same bits %lu at a time", kern,      \
              #SUFFIX, (unsigned long)panels, (unsigned long)k, (unsigned long)per);           \
        free(b), free(a), free(whole), free(parts);                                            \
    }

DEFINE_GROUPING(float, f32)
DEFINE_GROUPING(double, f64)

int main(void) {
    static const char *const names[] = {"ref", "avx2", "avx512", "neon"};
    static const size_t Ns[] = {1, 2, 3, 7, 13, 17, 31, 33, 37, 61, 64, 65, 97, 256, 268, 1031};
    static const size_t Ks[] = {1, 2, 5, 13, 31, 64, 97};
    size_t n, k, i;
    int tested = 0;
    for (i = 0; i < 4; ++i) {
        const pylstm_gemm_kernel_t *kern;
        if (pylstm_cpu_set_cap(names[i]) != 0) {
            printf("kernel %s: not supported here, skipped\n", names[i]);
            continue;
        }
        ++tested;
        kern = pylstm_gemm_active();
        for (n = 0; n < sizeof Ns / sizeof Ns[0]; ++n)
            for (k = 0; k < sizeof Ks / sizeof Ks[0]; ++k) {
                case_f32(names[i], Ns[n], Ks[k]);
                case_f64(names[i], Ns[n], Ks[k]);
            }
        /* depth past one and two KC blocks, with a partial last panel */
        case_f32(names[i], 4 * 17, kern->f32.kc + 3);
        case_f64(names[i], 4 * 17, kern->f64.kc + 3);
        case_f32(names[i], 37, 2 * kern->f32.kc + 5);
        case_f64(names[i], 37, 2 * kern->f64.kc + 5);
        {
            static const size_t panels[] = {1, 2, 3, 5, 7, 8, 11}, depths[] = {1, 2, 7, 64, 257};
            size_t p, d, per;
            for (p = 0; p < sizeof panels / sizeof panels[0]; ++p)
                for (d = 0; d < sizeof depths / sizeof depths[0]; ++d)
                    for (per = 1; per <= 3; ++per) {
                        grouping_f32(names[i], &kern->f32, panels[p], depths[d], per);
                        grouping_f64(names[i], &kern->f64, panels[p], depths[d], per);
                    }
        }
        printf("kernel %s: done (%d passed, %d failed so far)\n", names[i], n_pass, n_fail);
    }
    pylstm_cpu_set_cap(NULL);
    check(tested > 0, "no kernel tested");
    return check_summary();
}
