/* The streaming step against the machine's memory bandwidth.
 *
 * A step of a one-layer float32 LSTM at B = 1 (pylstm_stream_step_f32 from the
 * public header) reads every packed weight once: W_ih^T and W_hh^T, 8 H^2
 * floats for I = H, and does only 2 flops per weight read, so its floor is the
 * time to read the packed buffer from wherever it sits (L2 at H = 64, 128 KiB;
 * L2 or L3 beyond). This program times, in one run and interleaved, for
 * H = I = 64, 128, 256:
 *
 *   step   one pylstm_stream_step_f32 (the state carries from step to step)
 *   run    one pylstm_model_run_f32 with T = 1 from a model handle (what
 *          lstm(x, hx) calls underneath; for reference)
 *   read   a sum of all floats of a buffer of the packed weights' size, with
 *          the widest vector loop the CPU (capped by PYLSTM_KERNEL) runs:
 *          AVX-512 or AVX2 intrinsics behind the same run-time check as the
 *          kernels, else plain C that the compiler vectorises (16 independent
 *          sums, no reassociation needed)
 *
 * and prints step / read (the goal: at most 1.25). Each figure is the minimum
 * over SAMPLES samples of ~2 ms (noise on a shared machine only adds time),
 * the median beside it.
 *
 * Build (from the repository root, the core's own flags as in setup.py):
 *   gcc -std=c99 -O3 -ffp-contract=off -Isrc_c/include -Isrc_c benchmarks/stream_bench.c \
 *       $(grep -v '^#' src_c/sources.txt | cut -d' ' -f1) -pthread -lm -o stream_bench
 * Usage: [PYLSTM_KERNEL=avx2] ./stream_bench [H ...]   (default 64 128 256) */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pylstm.h>

#include "cpu.h"

#if PYLSTM_HAVE_X86
#include <immintrin.h>
#endif

#define SAMPLES 41
#define SAMPLE_SECONDS 0.002

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void check(pylstm_status st, const char *what) {
    if (st != PYLSTM_OK) {
        fprintf(stderr, "%s: %s\n", what, pylstm_strerror(st));
        exit(1);
    }
}

/* ---- read loops: n floats, n a multiple of 64, p 64-byte aligned ---------- */

static float read_plain(const float *p, size_t n) {
    float acc[16] = {0}, s = 0;
    size_t i, j;
    for (i = 0; i < n; i += 16)
        for (j = 0; j < 16; ++j) acc[j] += p[i + j];
    for (j = 0; j < 16; ++j) s += acc[j];
    return s;
}

#if PYLSTM_HAVE_X86
PYLSTM_TARGET("avx2") static float read_avx2(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    float out[8];
    size_t i;
    for (i = 0; i < n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

PYLSTM_TARGET("avx512f") static float read_avx512(const float *p, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i;
    for (i = 0; i < n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}
#endif

typedef float (*read_fn)(const float *, size_t);

/* ---- one case ------------------------------------------------------------- */

typedef struct {
    pylstm_model_desc d;
    void *packed, *work, *run_work;
    size_t packed_size, work_size, run_work_size;
    pylstm_model *model;
    float *x, *h, *c, *y, *h0, *c0, *hn, *cn, *buf;
    void *buf_raw;
    size_t nbuf;
    read_fn read;
    volatile float sink;
} bench_case;

enum { STEP, RUN, READ, N_WHAT };

static void once(bench_case *b, int what) {
    switch (what) {
    case STEP:
        check(pylstm_stream_step_f32(&b->d, b->packed, b->packed_size, 1, b->x, b->h, b->c, b->y,
                                     b->work, b->work_size),
              "step");
        break;
    case RUN:
        check(pylstm_model_run_f32(b->model, 1, 1, b->x, b->h0, b->c0, NULL, b->y, b->hn, b->cn,
                                   b->run_work, b->run_work_size),
              "run");
        break;
    default:
        b->sink = b->read(b->buf, b->nbuf);
    }
}

static void teardown(bench_case *b) {
    pylstm_model_free(b->model);
    free(b->packed), free(b->work), free(b->run_work), free(b->buf_raw);
    free(b->x), free(b->h), free(b->c), free(b->y);
    free(b->h0), free(b->c0), free(b->hn), free(b->cn);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void setup(bench_case *b, size_t H, read_fn read) {
    const size_t I = H, G4 = 4 * H;
    size_t i, work_bytes;
    float *W_ih = xmalloc(G4 * I * sizeof(float)), *W_hh = xmalloc(G4 * H * sizeof(float));
    float *b_ih = xmalloc(G4 * sizeof(float)), *b_hh = xmalloc(G4 * sizeof(float));
    pylstm_weights_f32 w;
    memset(b, 0, sizeof *b);
    b->d.input_size = I, b->d.hidden_size = H, b->d.num_layers = 1;
    for (i = 0; i < G4 * I; ++i) W_ih[i] = (float)((int)(i % 29) - 14) * 0.004f;
    for (i = 0; i < G4 * H; ++i) W_hh[i] = (float)((int)(i % 23) - 11) * 0.005f;
    for (i = 0; i < G4; ++i) b_ih[i] = 0.01f, b_hh[i] = -0.02f;
    w.W_ih = W_ih, w.W_hh = W_hh, w.b_ih = b_ih, w.b_hh = b_hh, w.W_hr = NULL;
    check(pylstm_stream_sizes_f32(&b->d, 1, &b->packed_size, &b->work_size), "sizes");
    b->packed = xmalloc(b->packed_size);
    b->work = xmalloc(b->work_size);
    check(pylstm_stream_pack_f32(&b->d, &w, b->packed, b->packed_size), "pack");
    check(pylstm_model_create_f32(&b->d, &w, &b->model), "create");
    check(pylstm_model_run_size(b->model, 1, 1, &work_bytes), "run size");
    b->run_work_size = work_bytes;
    b->run_work = xmalloc(work_bytes ? work_bytes : 1);
    b->x = xmalloc(I * sizeof(float));
    b->h = xmalloc(H * sizeof(float)), b->c = xmalloc(H * sizeof(float));
    b->y = xmalloc(H * sizeof(float));
    b->h0 = xmalloc(H * sizeof(float)), b->c0 = xmalloc(H * sizeof(float));
    b->hn = xmalloc(H * sizeof(float)), b->cn = xmalloc(H * sizeof(float));
    for (i = 0; i < I; ++i) b->x[i] = (float)((int)(i % 7) - 3) * 0.1f;
    for (i = 0; i < H; ++i) b->h[i] = b->c[i] = b->h0[i] = b->c0[i] = 0.0f;
    /* the read buffer: the packed size rounded up to whole 64-float blocks */
    b->nbuf = (b->packed_size / sizeof(float) + 63) / 64 * 64;
    b->buf_raw = xmalloc(b->nbuf * sizeof(float) + 64);
    b->buf = (float *)(void *)((char *)b->buf_raw + (64 - (size_t)b->buf_raw % 64) % 64);
    for (i = 0; i < b->nbuf; ++i) b->buf[i] = (float)(i % 5);
    b->read = read;
    free(W_ih), free(W_hh), free(b_ih), free(b_hh);
}

/* Seconds per call of each of STEP, RUN, READ: min and median over SAMPLES
 * interleaved samples. */
static void measure(bench_case *b, double best[N_WHAT], double median[N_WHAT]) {
    static double t[N_WHAT][SAMPLES];
    long reps[N_WHAT];
    int what, k;
    for (what = 0; what < N_WHAT; ++what) { /* warm up, size a sample */
        long n = 0;
        double t0 = now();
        do once(b, what), ++n;
        while (now() - t0 < SAMPLE_SECONDS);
        reps[what] = n;
    }
    for (k = 0; k < SAMPLES; ++k)
        for (what = 0; what < N_WHAT; ++what) {
            long r;
            double t0 = now();
            for (r = 0; r < reps[what]; ++r) once(b, what);
            t[what][k] = (now() - t0) / (double)reps[what];
        }
    for (what = 0; what < N_WHAT; ++what) {
        qsort(t[what], SAMPLES, sizeof(double), cmp_double);
        best[what] = t[what][0];
        median[what] = t[what][SAMPLES / 2];
    }
}

int main(int argc, char **argv) {
    static const size_t default_H[] = {64, 128, 256};
    const char *read_name = "plain C";
    read_fn read = read_plain;
    int a, nh = 0;
    size_t Hs[16];
    unsigned feat = pylstm_cpu_features();
    for (a = 1; a < argc && nh < 16; ++a) Hs[nh++] = (size_t)strtoul(argv[a], NULL, 10);
    if (nh == 0)
        for (; nh < 3; ++nh) Hs[nh] = default_H[nh];
#if PYLSTM_HAVE_X86
    if (feat & PYLSTM_CPU_AVX512)
        read = read_avx512, read_name = "AVX-512";
    else if (feat & PYLSTM_CPU_AVX2)
        read = read_avx2, read_name = "AVX2";
#else
    (void)feat;
#endif
    printf("pylstm %s, kernel %s, read loop %s; float32, 1 layer, B = 1, I = H; one thread;\n"
           "min (median) over %d interleaved samples of ~%.0f ms\n",
           pylstm_version(), pylstm_gemm_kernel(), read_name, SAMPLES, SAMPLE_SECONDS * 1e3);
    printf("%5s %10s %18s %18s %18s %12s\n", "H", "packed", "step", "read", "run T=1",
           "step/read");
    for (a = 0; a < nh; ++a) {
        bench_case b;
        double best[N_WHAT], med[N_WHAT];
        char col[N_WHAT][32];
        int what;
        if (Hs[a] < 1) continue;
        setup(&b, Hs[a], read);
        measure(&b, best, med);
        for (what = 0; what < N_WHAT; ++what)
            sprintf(col[what], "%.3f (%.3f) us", best[what] * 1e6, med[what] * 1e6);
        printf("%5lu %7.0f KiB %18s %18s %18s %12.2f\n", (unsigned long)Hs[a],
               (double)b.packed_size / 1024.0, col[STEP], col[READ], col[RUN],
               best[STEP] / best[READ]);
        fflush(stdout);
        teardown(&b);
    }
    return 0;
}
