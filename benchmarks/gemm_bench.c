/* GFLOP/s of the matrix product per micro-kernel, float32 and float64, for
 * the shapes an LSTM layer runs (the grid of benchmarks/bench.py):
 *
 *   proj  the input projection of all steps, X (T*B x I) * W_ih^T: NT, M = T*B, N = 4H, K = I
 *   rec   one recurrent step, h (B x H) * W_hh^T with W_hh packed once: M = B, N = 4H, K = H
 *         (also unpacked, to show what packing once saves)
 *   rbwd  one backward step, dh = dG (B x 4H) * W_hh: NN, M = B, N = H, K = 4H
 *         (W_hh packed once with trans_b = 0, and unpacked)
 *   bwdNN dX = dG (T*B x 4H) * W_ih: M = T*B, N = I, K = 4H
 *   bwdTN dW_ih += dG^T X: M = 4H, N = I, K = T*B
 *   sq    square NN products
 *
 * for (T, B, I, H) = (100, 32, 256, 256) (medium) and (50, 64, 1024, 1024) (large),
 * recurrent B, H = (1, 64), (32, 256), (64, 1024); and the backward of
 * (100, 64, 40, 80), whose N = I = 40 is no multiple of any kernel's panel
 * width (the last panel's columns). One thread.
 *
 * With --openblas LIB, OpenBLAS's sgemm/dgemm (loaded with dlopen, run on one
 * thread) is timed beside every kernel on the same operands, and each
 * kernel's figure is followed by its ratio to OpenBLAS (1.00 = as fast). The
 * packed rows ("pkd") compare pylstm's product with B packed ahead against
 * OpenBLAS's plain call, which packs B each time: the ratio there says what
 * the LSTM gains, not kernel against kernel. NumPy's wheels bundle OpenBLAS
 * (scipy-openblas, 64-bit integers); its path and the core it picked:
 *
 *   python -c "import numpy, threadpoolctl; print(threadpoolctl.threadpool_info())"
 *
 * Run it with OPENBLAS_NUM_THREADS=1 and without OPENBLAS_CORETYPE or
 * OPENBLAS_L2_SIZE in the environment, so OpenBLAS picks its own core and
 * blocking for this CPU (the program prints the core name it reports). To
 * set the AVX2 kernel against OpenBLAS's own AVX2 code on an AVX-512 machine,
 * run "gemm_bench avx2" with OPENBLAS_CORETYPE=Haswell (or Zen), the one
 * setting that changes.
 *
 * Timing: the engines (kernels, OpenBLAS) take turns sample by sample, so
 * drift in the machine's load hits them alike; each figure is the best of
 * the samples (the least disturbed one on a shared machine); a sample repeats
 * the call until it lasts ~10 ms.
 *
 * Build (from the repository root, with the flags setup.py and CMake's
 * Release build the core with):
 *   gcc -std=c99 -O3 -ffp-contract=off -Isrc_c/include -Isrc_c benchmarks/gemm_bench.c \
 *       -pthread src_c/gemm*.c src_c/cpu.c src_c/threads.c -lm -ldl -o gemm_bench
 * Usage: gemm_bench [--openblas LIB] [--f64] [--cpu] [kernel ...] [word ...]
 *   kernels: avx512 avx2 neon ref (default: every kernel this CPU runs; the
 *   reference kernel skips products over 2 GFLOP); words: run only the shapes
 *   whose name contains one of them (e.g. "rec", "NN"); --f64: float64 too
 *   (default float32 only); --samples N (default 7); --cpu: time with the
 *   thread's CPU time instead of wall time (on a shared machine, time-slicing
 *   by other processes then does not count; their cache traffic still does). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#define HAVE_DLOPEN 1
#endif

#include "cpu.h"
#include "gemm.h"

typedef struct {
    const char *name;
    int packed, ta, tb;
    size_t M, N, K;
    int accumulate;
} shape;

static const shape shapes[] = {
    {"proj NT  T100 B32 I256 H256", 0, 0, 1, 3200, 1024, 256, 0},
    {"proj NT  T50 B64 I1024 H1024", 0, 0, 1, 3200, 4096, 1024, 0},
    {"rec  pkd B1 H64", 1, 0, 1, 1, 256, 64, 1},
    {"rec  pkd B32 H256", 1, 0, 1, 32, 1024, 256, 1},
    {"rec  pkd B64 H1024", 1, 0, 1, 64, 4096, 1024, 1},
    {"rec  NT  B1 H64 (unpacked)", 0, 0, 1, 1, 256, 64, 1},
    {"rec  NT  B32 H256 (unpacked)", 0, 0, 1, 32, 1024, 256, 1},
    {"rbwd NN  B32 H256 (unpacked)", 0, 0, 0, 32, 256, 1024, 0},
    {"rbwd pkd B32 H256", 1, 0, 0, 32, 256, 1024, 0},
    {"rbwd NN  B64 H1024 (unpacked)", 0, 0, 0, 64, 1024, 4096, 0},
    {"rbwd pkd B64 H1024", 1, 0, 0, 64, 1024, 4096, 0},
    {"bwd  NN  T100 B32 I256 H256", 0, 0, 0, 3200, 256, 1024, 0},
    {"bwd  NN  T50 B64 I1024 H1024", 0, 0, 0, 3200, 1024, 4096, 0},
    {"bwd  TN  T100 B32 I256 H256", 0, 1, 0, 1024, 256, 3200, 1},
    {"bwd  TN  T50 B64 I1024 H1024", 0, 1, 0, 4096, 1024, 3200, 1},
    {"bwd  NN  T100 B64 I40 H80", 0, 0, 0, 6400, 40, 320, 0},
    {"bwd  TN  T100 B64 I40 H80", 0, 1, 0, 320, 40, 6400, 1},
    {"sq   NN  256", 0, 0, 0, 256, 256, 256, 0},
    {"sq   NN  512", 0, 0, 0, 512, 512, 512, 0},
    {"sq   NN  1024", 0, 0, 0, 1024, 1024, 1024, 0},
    {"sq   NN  2048", 0, 0, 0, 2048, 2048, 2048, 0},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])
#define MAX_ENGINES 5

static int use_cpu_time;

static double now(void) {
    struct timespec t;
    clock_gettime(use_cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n + PYLSTM_ALIGN);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- OpenBLAS through dlopen ----
 * cblas_?gemm(order, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C,
 * ldc) with integers of 32 bits (plain builds) or 64 bits (NumPy's
 * scipy-openblas64, whose symbols carry a scipy_ prefix and a 64_ suffix). */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*sgemm32_fn)(int, int, int, int, int, int, float, const float *, int,
                           const float *, int, float, float *, int);
typedef void (*dgemm32_fn)(int, int, int, int, int, int, double, const double *, int,
                           const double *, int, double, double *, int);
typedef void (*sgemm64_fn)(int, int, int, long long, long long, long long, float, const float *,
                           long long, const float *, long long, float, float *, long long);
typedef void (*dgemm64_fn)(int, int, int, long long, long long, long long, double,
                           const double *, long long, const double *, long long, double,
                           double *, long long);
static struct {
    int loaded, int64;
    sgemm32_fn s32;
    dgemm32_fn d32;
    sgemm64_fn s64;
    dgemm64_fn d64;
} ob;

static void *sym(void *lib, const char *a, const char *b) {
#ifdef HAVE_DLOPEN
    void *p = dlsym(lib, a);
    return p ? p : dlsym(lib, b);
#else
    (void)lib, (void)a, (void)b;
    return NULL;
#endif
}

/* Loads OpenBLAS, sets it to one thread and prints its core; 0 on success. */
static int load_openblas(const char *path) {
#ifdef HAVE_DLOPEN
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    void (*set_threads)(int);
    char *(*corename)(void);
    char *(*config)(void);
    if (!lib) {
        fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        return -1;
    }
    /* POSIX allows converting dlsym's result to a function pointer; ISO C
     * does not, hence the stores through void **. */
    *(void **)&ob.s64 = dlsym(lib, "scipy_cblas_sgemm64_");
    *(void **)&ob.d64 = dlsym(lib, "scipy_cblas_dgemm64_");
    *(void **)&ob.s32 = dlsym(lib, "cblas_sgemm");
    *(void **)&ob.d32 = dlsym(lib, "cblas_dgemm");
    ob.int64 = ob.s64 && ob.d64;
    if (!ob.int64 && !(ob.s32 && ob.d32)) {
        fprintf(stderr, "%s has no cblas_sgemm / cblas_dgemm\n", path);
        return -1;
    }
    *(void **)&set_threads =
        sym(lib, "scipy_openblas_set_num_threads64_", "openblas_set_num_threads");
    *(void **)&corename = sym(lib, "scipy_openblas_get_corename64_", "openblas_get_corename");
    *(void **)&config = sym(lib, "scipy_openblas_get_config64_", "openblas_get_config");
    if (set_threads) set_threads(1);
    printf("OpenBLAS: %s; core %s; %s; %d-bit integers\n", path, corename ? corename() : "?",
           config ? config() : "?", ob.int64 ? 64 : 32);
    ob.loaded = 1;
    return 0;
#else
    fprintf(stderr, "--openblas needs dlopen (POSIX): %s not loaded\n", path);
    return -1;
#endif
}

static void run_openblas(const shape *s, int dbl, const void *A, size_t lda, const void *B,
                         size_t ldb, void *C) {
    const int ta = s->ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb = s->tb ? CBLAS_TRANS : CBLAS_NO_TRANS;
    const double beta = s->accumulate ? 1.0 : 0.0;
    if (ob.int64 && dbl)
        ob.d64(CBLAS_ROW_MAJOR, ta, tb, (long long)s->M, (long long)s->N,
                               (long long)s->K, 1.0, (const double *)A, (long long)lda,
                               (const double *)B, (long long)ldb, beta, (double *)C,
                               (long long)s->N);
    else if (ob.int64)
        ob.s64(CBLAS_ROW_MAJOR, ta, tb, (long long)s->M, (long long)s->N,
                               (long long)s->K, 1.0f, (const float *)A, (long long)lda,
                               (const float *)B, (long long)ldb, (float)beta, (float *)C,
                               (long long)s->N);
    else if (dbl)
        ob.d32(CBLAS_ROW_MAJOR, ta, tb, (int)s->M, (int)s->N, (int)s->K, 1.0,
                               (const double *)A, (int)lda, (const double *)B, (int)ldb, beta,
                               (double *)C, (int)s->N);
    else
        ob.s32(CBLAS_ROW_MAJOR, ta, tb, (int)s->M, (int)s->N, (int)s->K, 1.0f,
                               (const float *)A, (int)lda, (const float *)B, (int)ldb,
                               (float)beta, (float *)C, (int)s->N);
}

/* One call of engine e: a pylstm kernel (its name), or NULL for OpenBLAS. */
static void run(const shape *s, int dbl, const char *kernel, void *work, const void *A,
                const void *B, void *C, const void *pk) {
    const size_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    if (!kernel) {
        run_openblas(s, dbl, A, lda, B, ldb, C);
    } else if (s->packed) {
        if (dbl)
            pylstm_gemm_packed_f64(s->ta, s->M, s->N, s->K, A, lda, pk, s->accumulate, C, s->N,
                                   work);
        else
            pylstm_gemm_packed_f32(s->ta, s->M, s->N, s->K, A, lda, pk, s->accumulate, C, s->N,
                                   work);
    } else if (dbl) {
        pylstm_gemm_f64(s->ta, s->tb, s->M, s->N, s->K, A, lda, B, ldb, s->accumulate, C, s->N,
                        work);
    } else {
        pylstm_gemm_f32(s->ta, s->tb, s->M, s->N, s->K, A, lda, B, ldb, s->accumulate, C, s->N,
                        work);
    }
}

/* Best GFLOP/s of each engine over `samples` samples taken in turn (engine
 * NULL: OpenBLAS); 0 for an engine skipped (the reference kernel on products
 * over 2 GFLOP). */
static void bench(const shape *s, int dbl, const char *const *engines, int ne, int samples,
                  void *work, double *best) {
    const double flops = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    const size_t es = dbl ? sizeof(double) : sizeof(float);
    const size_t na = s->M * s->K, nb = s->N * s->K, nc = s->M * s->N;
    char *A, *B, *C, *pkraw[MAX_ENGINES] = {0};
    void *pk[MAX_ENGINES] = {0};
    int reps[MAX_ENGINES], e, k, r;
    size_t i;
    if (flops > 1e10 && samples > 3) samples = 3;
    A = xmalloc(na * es), B = xmalloc(nb * es), C = xmalloc(nc * es);
    for (i = 0; i < na; ++i)
        if (dbl) ((double *)A)[i] = (double)(i % 17) * 0.01 - 0.08;
        else ((float *)A)[i] = (float)(i % 17) * 0.01f - 0.08f;
    for (i = 0; i < nb; ++i)
        if (dbl) ((double *)B)[i] = (double)(i % 13) * 0.01 - 0.06;
        else ((float *)B)[i] = (float)(i % 13) * 0.01f - 0.06f;
    memset(C, 0, nc * es);
    for (e = 0; e < ne; ++e) {
        double t0, t;
        best[e] = 0, reps[e] = 0;
        if (engines[e] && !strcmp(engines[e], "ref") && flops > 2e9) continue;
        if (engines[e]) pylstm_cpu_set_cap(engines[e]);
        if (engines[e] && s->packed) {
            /* packed by this kernel: the layout is the active kernel's */
            size_t bytes = dbl ? pylstm_gemm_packed_b_size_f64(s->N, s->K)
                               : pylstm_gemm_packed_b_size_f32(s->N, s->K);
            pkraw[e] = xmalloc(bytes);
            pk[e] = pylstm_align_ptr(pkraw[e]);
            if (dbl)
                pylstm_gemm_pack_b_f64(s->tb, s->N, s->K, (const double *)B,
                                       s->tb ? s->K : s->N, pk[e]);
            else
                pylstm_gemm_pack_b_f32(s->tb, s->N, s->K, (const float *)B,
                                       s->tb ? s->K : s->N, pk[e]);
        }
        /* warm up and size a sample to ~10 ms */
        t0 = now();
        run(s, dbl, engines[e], work, A, B, C, pk[e]);
        t = now() - t0;
        reps[e] = t < 0.01 ? (int)(0.01 / (t > 1e-8 ? t : 1e-8)) + 1 : 1;
    }
    for (k = 0; k < samples; ++k)
        for (e = 0; e < ne; ++e) {
            double t0, t;
            if (!reps[e]) continue;
            if (engines[e]) pylstm_cpu_set_cap(engines[e]);
            t0 = now();
            for (r = 0; r < reps[e]; ++r) run(s, dbl, engines[e], work, A, B, C, pk[e]);
            t = now() - t0;
            if (flops * reps[e] / t * 1e-9 > best[e]) best[e] = flops * reps[e] / t * 1e-9;
        }
    free(A), free(B), free(C);
    for (e = 0; e < ne; ++e) free(pkraw[e]);
}

static int is_kernel_name(const char *s) {
    return !strcmp(s, "avx512") || !strcmp(s, "avx2") || !strcmp(s, "neon") || !strcmp(s, "ref");
}

int main(int argc, char **argv) {
    static const char *const all[] = {"avx512", "avx2", "neon", "ref"};
    const char *engines[MAX_ENGINES], *words[32];
    int ne = 0, nk, nw = 0, any_kernel = 0, with_f64 = 0, samples = 7, i, a, dbl;
    size_t si;
    char *raw = xmalloc(pylstm_gemm_work_size());
    void *work = pylstm_align_ptr(raw);
    for (a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "--cpu") == 0)
            use_cpu_time = 1;
        else if (strcmp(argv[a], "--f64") == 0)
            with_f64 = 1;
        else if (strcmp(argv[a], "--samples") == 0 && a + 1 < argc)
            samples = atoi(argv[++a]) > 0 ? atoi(argv[a]) : 1;
        else if (strcmp(argv[a], "--openblas") == 0 && a + 1 < argc) {
            if (load_openblas(argv[++a])) return 1;
        } else if (is_kernel_name(argv[a]))
            any_kernel = 1;
        else if (nw < 32)
            words[nw++] = argv[a];
    }
    for (i = 0; i < 4; ++i) { /* kernels named on the command line, else all */
        int named = 0;
        for (a = 1; a < argc; ++a) named |= strcmp(argv[a], all[i]) == 0;
        if ((named || !any_kernel) && pylstm_cpu_set_cap(all[i]) == 0) engines[ne++] = all[i];
    }
    nk = ne;
    pylstm_cpu_set_cap(NULL);
    if (ob.loaded) engines[ne++] = NULL;
    printf("kernels: %s (detected); caches: L1d %lu KiB, L2 %lu KiB, L3 %lu KiB\n",
           pylstm_gemm_kernel(), (unsigned long)(pylstm_cpu_cache_size(1) / 1024),
           (unsigned long)(pylstm_cpu_cache_size(2) / 1024),
           (unsigned long)(pylstm_cpu_cache_size(3) / 1024));
    printf("GFLOP/s, one thread, %s time, best of %d samples (3 over 10 GFLOP); '-' = "
           "skipped%s\n",
           use_cpu_time ? "thread CPU" : "wall", samples,
           ob.loaded ? "; (x.xx) = kernel / OpenBLAS" : "");
    for (dbl = 0; dbl <= with_f64; ++dbl) {
        printf("\n%-30s %-16s", dbl ? "float64" : "float32", "M x N x K");
        for (i = 0; i < nk; ++i) printf(" %14s", engines[i]);
        if (ob.loaded) printf(" %8s", "OpenBLAS");
        printf("\n");
        for (si = 0; si < N_SHAPES; ++si) {
            const shape *s = &shapes[si];
            double best[MAX_ENGINES];
            char dims[40];
            int match = nw == 0;
            for (a = 0; a < nw; ++a) match |= strstr(s->name, words[a]) != NULL;
            if (!match) continue;
            sprintf(dims, "%lux%lux%lu", (unsigned long)s->M, (unsigned long)s->N,
                    (unsigned long)s->K);
            printf("%-30s %-16s", s->name, dims);
            fflush(stdout);
            bench(s, dbl, engines, ne, samples, work, best);
            for (i = 0; i < nk; ++i) {
                if (best[i] <= 0)
                    printf(" %14s", "-");
                else if (ob.loaded && best[nk] > 0)
                    printf(" %7.1f (%4.2f)", best[i], best[i] / best[nk]);
                else
                    printf(" %14.1f", best[i]);
            }
            if (ob.loaded) printf(" %8.1f", best[nk]);
            printf("\n");
        }
    }
    free(raw);
    return 0;
}
