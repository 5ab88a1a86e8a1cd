/* GFLOP/s of the matrix product per micro-kernel, float32 and float64, for
 * the shapes an LSTM layer runs (see BENCHMARKS.md's grid):
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
 * recurrent B, H = (1, 64), (32, 256), (64, 1024). One thread. Each figure is the
 * median of several timed samples (the machine is shared and noisy); a sample
 * repeats the call until it lasts ~20 ms.
 *
 * Build: gcc -std=c99 -O2 -Isrc_c/include -Isrc_c benchmarks/gemm_bench.c \
 *          -pthread src_c/gemm*.c src_c/cpu.c src_c/threads.c -lm -o gemm_bench
 * Usage: gemm_bench [kernel ...] [word ...]
 *   kernels: avx512 avx2 neon ref (default: every kernel this CPU runs; the
 *   reference kernel skips products over 2 GFLOP); words: run only the shapes
 *   whose name contains one of them (e.g. "rec", "NN"); --cpu: time with the
 *   thread's CPU time instead of wall time (on a shared machine, time-slicing
 *   by other processes then does not count; their cache traffic still does). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    {"sq   NN  256", 0, 0, 0, 256, 256, 256, 0},
    {"sq   NN  512", 0, 0, 0, 512, 512, 512, 0},
    {"sq   NN  1024", 0, 0, 0, 1024, 1024, 1024, 0},
    {"sq   NN  2048", 0, 0, 0, 2048, 2048, 2048, 0},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])
#define SAMPLES 7

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

static void run(const shape *s, int dbl, void *work, const void *A, const void *B, void *C,
                const void *pk) {
    const size_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    if (s->packed) {
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

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median GFLOP/s of SAMPLES samples, or 0 if skipped. */
static double bench(const shape *s, int dbl, int is_ref, void *work) {
    const double flops = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    const size_t es = dbl ? sizeof(double) : sizeof(float);
    const size_t na = s->M * s->K, nb = s->N * s->K, nc = s->M * s->N;
    char *A, *B, *C, *pkraw = NULL;
    void *pk = NULL;
    double rate[SAMPLES], t0, t;
    size_t i;
    int reps = 1, r, k, samples = SAMPLES;
    if (is_ref && flops > 2e9) return 0;
    if (flops > 1e10) samples = 3;
    A = xmalloc(na * es), B = xmalloc(nb * es), C = xmalloc(nc * es);
    for (i = 0; i < na; ++i)
        if (dbl) ((double *)A)[i] = (double)(i % 17) * 0.01 - 0.08;
        else ((float *)A)[i] = (float)(i % 17) * 0.01f - 0.08f;
    for (i = 0; i < nb; ++i)
        if (dbl) ((double *)B)[i] = (double)(i % 13) * 0.01 - 0.06;
        else ((float *)B)[i] = (float)(i % 13) * 0.01f - 0.06f;
    memset(C, 0, nc * es);
    if (s->packed) {
        size_t bytes = dbl ? pylstm_gemm_packed_b_size_f64(s->N, s->K)
                           : pylstm_gemm_packed_b_size_f32(s->N, s->K);
        pkraw = xmalloc(bytes);
        pk = pylstm_align_ptr(pkraw);
        if (dbl)
            pylstm_gemm_pack_b_f64(s->tb, s->N, s->K, (const double *)B, s->tb ? s->K : s->N, pk);
        else
            pylstm_gemm_pack_b_f32(s->tb, s->N, s->K, (const float *)B, s->tb ? s->K : s->N, pk);
    }
    /* warm up and size a sample to ~20 ms */
    t0 = now();
    run(s, dbl, work, A, B, C, pk);
    t = now() - t0;
    if (t < 0.02) reps = (int)(0.02 / (t > 1e-8 ? t : 1e-8)) + 1;
    for (k = 0; k < samples; ++k) {
        t0 = now();
        for (r = 0; r < reps; ++r) run(s, dbl, work, A, B, C, pk);
        t = now() - t0;
        rate[k] = flops * reps / t * 1e-9;
    }
    qsort(rate, (size_t)samples, sizeof rate[0], cmp_double);
    free(A), free(B), free(C), free(pkraw);
    return rate[samples / 2];
}

static int is_kernel_name(const char *s) {
    return !strcmp(s, "avx512") || !strcmp(s, "avx2") || !strcmp(s, "neon") || !strcmp(s, "ref");
}

int main(int argc, char **argv) {
    static const char *const all[] = {"avx512", "avx2", "neon", "ref"};
    const char *kernels[4], *words[32];
    int nk = 0, nw = 0, any_kernel = 0, i, a, dbl;
    size_t si;
    char *raw = xmalloc(pylstm_gemm_work_size());
    void *work = pylstm_align_ptr(raw);
    for (a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "--cpu") == 0)
            use_cpu_time = 1;
        else if (is_kernel_name(argv[a]))
            any_kernel = 1;
        else if (nw < 32)
            words[nw++] = argv[a];
    }
    for (i = 0; i < 4; ++i) { /* kernels named on the command line, else all */
        int named = 0;
        for (a = 1; a < argc; ++a) named |= strcmp(argv[a], all[i]) == 0;
        if ((named || !any_kernel) && pylstm_cpu_set_cap(all[i]) == 0) kernels[nk++] = all[i];
    }
    printf("GFLOP/s, one thread, %s time, median of %d samples (3 over 10 GFLOP); "
           "'-' = skipped\n",
           use_cpu_time ? "thread CPU" : "wall", SAMPLES);
    printf("%-30s %8s", "shape (M x N x K)", "");
    for (i = 0; i < nk; ++i) printf(" %7s-f32 %7s-f64", kernels[i], kernels[i]);
    printf("\n");
    for (si = 0; si < N_SHAPES; ++si) {
        const shape *s = &shapes[si];
        char dims[40];
        int match = nw == 0;
        for (a = 0; a < nw; ++a) match |= strstr(s->name, words[a]) != NULL;
        if (!match) continue;
        sprintf(dims, "%lux%lux%lu", (unsigned long)s->M, (unsigned long)s->N,
                (unsigned long)s->K);
        printf("%-30s %-16s", s->name, dims);
        for (i = 0; i < nk; ++i) {
            pylstm_cpu_set_cap(kernels[i]);
            for (dbl = 0; dbl < 2; ++dbl) {
                double g = bench(s, dbl, strcmp(kernels[i], "ref") == 0, work);
                if (g > 0)
                    printf(" %11.1f", g);
                else
                    printf(" %11s", "-");
                fflush(stdout);
            }
        }
        printf("\n");
    }
    free(raw);
    return 0;
}
