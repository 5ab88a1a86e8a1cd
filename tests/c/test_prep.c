/* Prepared weights (the internal pylstm_model_prep_* API of model.h), against
 * the public model forward.
 *
 *  - pylstm_model_forward_prep equals pylstm_model_forward bit for bit (y,
 *    h_n, c_n) for float32 and float64, fixed and seeded random shapes (sizes
 *    1 and small primes), 1-3 layers, bidirectional, projection, lengths, no
 *    bias, at 1 and 2 threads; with shapes big enough that at 2 threads the
 *    step is split (the prepared many-part W_hh^T layout is read) and the
 *    input projection is split by rows, or (unprepared) by columns.
 *  - It packs no weight: after pylstm_model_prep the caller's W_ih, W_hh and
 *    W_hr are overwritten with NaN and the prepared forward still gives the
 *    same bits (biases stay: they are read from w).
 *  - A buffer prepared at one thread count and run at another (whose step
 *    split was not prepared) still gives the same bits, W_hh then being packed
 *    from w into the work buffer; a buffer sized at 1 thread and prepared at
 *    2 threads takes the one-part layout.
 *  - Errors: NULLs, a bad desc (size 0 from the size query), a too small
 *    prepared buffer or work buffer, a buffer prepared for another desc or
 *    element type or never prepared.
 *
 * Prints one line per failed check and "N passed, N failed" last. Build and
 * run from the repository root (tests/c/run.sh does): */
// gcc -std=c99 -pthread -O2 -Wall -Wextra -pedantic -Werror -Isrc_c/include -Isrc_c tests/c/test_prep.c src_c/*.c -lm -o build/test_prep
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "pylstm.h"

/* Caller memory 8 bytes past a 64-byte boundary: the API asks for element
 * alignment only. */
static void *odd_alloc(size_t bytes, void **base) {
    unsigned char *b = malloc(bytes + 64 + 8);
    uintptr_t u = ((uintptr_t)b + 63) & ~(uintptr_t)63;
    *base = b;
    return (void *)(u + 8);
}

typedef struct {
    size_t I, H, P, L, T, B;
    int bidir, use_lengths, bias;
    size_t prep_threads, run_threads; /* thread count at prep and at the forward */
    int prep_small;                   /* prep buffer sized at 1 thread */
} pcase;

static void describe(const pcase *c, char *buf, size_t n) {
    snprintf(buf, n, "I=%zu H=%zu P=%zu L=%zu T=%zu B=%zu bidir=%d lengths=%d bias=%d threads %zu->%zu%s",
             c->I, c->H, c->P, c->L, c->T, c->B, c->bidir, c->use_lengths, c->bias,
             c->prep_threads, c->run_threads, c->prep_small ? " small-prep" : "");
}

/* run_case_f32 / run_case_f64: one case, prepared against unprepared. */
#define DEFINE_CASE(REAL, SUFFIX)                                                                 \
    static void run_case_##SUFFIX(const pcase *c) {                                               \
        const size_t D = c->bidir ? 2 : 1, R = c->P ? c->P : c->H, G4 = 4 * c->H;                 \
        const size_t E = c->L * D, ny = c->T * c->B * D * R;                                      \
        const size_t nh = E * c->B * R, nc = E * c->B * c->H;                                     \
        pylstm_model_desc desc;                                                                   \
        pylstm_weights_##SUFFIX *w = calloc(E, sizeof *w);                                        \
        REAL **mats = calloc(5 * E, sizeof *mats);                                                \
        REAL *x, *h0, *c0, *y1, *h1, *c1, *y2, *h2, *c2;                                          \
        int64_t *lengths = malloc(c->B * sizeof *lengths);                                        \
        pylstm_sizes sz;                                                                          \
        void *work, *work_base, *prep, *prep_base;                                                \
        size_t e, k, prep_size;                                                                   \
        pylstm_status st;                                                                         \
        char label[200];                                                                          \
        describe(c, label, sizeof label);                                                         \
        desc.input_size = c->I, desc.hidden_size = c->H, desc.num_layers = c->L;                  \
        desc.proj_size = c->P, desc.bidirectional = c->bidir;                                     \
        for (e = 0; e < E; ++e) {                                                                 \
            const size_t in = e < D ? c->I : D * R;                                               \
            const size_t n[5] = {G4 * in, G4 * R, G4, G4, c->P * c->H};                           \
            const double scale = 1.0 / sqrt((double)c->H);                                        \
            for (k = 0; k < 5; ++k) {                                                             \
                size_t i;                                                                         \
                mats[5 * e + k] = malloc((n[k] ? n[k] : 1) * sizeof(REAL));                       \
                for (i = 0; i < n[k]; ++i) mats[5 * e + k][i] = (REAL)(scale * urand());          \
            }                                                                                     \
            w[e].W_ih = mats[5 * e], w[e].W_hh = mats[5 * e + 1];                                 \
            w[e].b_ih = c->bias ? mats[5 * e + 2] : NULL;                                         \
            w[e].b_hh = c->bias ? mats[5 * e + 3] : NULL;                                         \
            w[e].W_hr = c->P ? mats[5 * e + 4] : NULL;                                            \
        }                                                                                         \
        x = malloc(c->T * c->B * c->I * sizeof *x);                                               \
        for (k = 0; k < c->T * c->B * c->I; ++k) x[k] = (REAL)urand();                            \
        h0 = malloc(nh * sizeof *h0), c0 = malloc(nc * sizeof *c0);                               \
        for (k = 0; k < nh; ++k) h0[k] = (REAL)(0.5 * urand());                                   \
        for (k = 0; k < nc; ++k) c0[k] = (REAL)(0.5 * urand());                                   \
        for (k = 0; k < c->B; ++k) lengths[k] = (int64_t)rnd(1, c->T);                            \
        y1 = malloc(ny * sizeof *y1), y2 = malloc(ny * sizeof *y2);                               \
        h1 = malloc(nh * sizeof *h1), h2 = malloc(nh * sizeof *h2);                               \
        c1 = malloc(nc * sizeof *c1), c2 = malloc(nc * sizeof *c2);                               \
                                                                                                  \
        pylstm_set_num_threads(c->prep_small ? 1 : c->prep_threads);                              \
        prep_size = pylstm_model_prep_size_##SUFFIX(&desc);                                       \
        check(prep_size > 0, "%s: prep size 0", label);                                           \
        prep = odd_alloc(prep_size, &prep_base);                                                  \
        pylstm_set_num_threads(c->prep_threads);                                                  \
        st = pylstm_model_prep_##SUFFIX(&desc, w, prep, prep_size);                               \
        check(st == PYLSTM_OK, "%s: prep: %s", label, pylstm_strerror(st));                       \
                                                                                                  \
        pylstm_set_num_threads(c->run_threads);                                                   \
        pylstm_model_sizes_##SUFFIX(&desc, c->T, c->B, &sz);                                      \
        work = odd_alloc(sz.work_forward, &work_base);                                            \
        st = pylstm_model_forward_##SUFFIX(&desc, w, c->T, c->B, x, h0, c0,                       \
                                           c->use_lengths ? lengths : NULL, y1, h1, c1, work,     \
                                           sz.work_forward);                                      \
        check(st == PYLSTM_OK, "%s: forward: %s", label, pylstm_strerror(st));                    \
        /* The prepared forward must not read W_ih, W_hr, nor W_hh when its step                  \
         * split was prepared (always at one part; at nt parts when prepared at                   \
         * this thread count). Biases stay. */                                                    \
        {                                                                                         \
            const int hh_prepared = c->run_threads == 1 ||                                        \
                                    (c->run_threads == c->prep_threads && !c->prep_small);        \
            for (e = 0; e < E; ++e) {                                                             \
                const size_t in = e < D ? c->I : D * R;                                           \
                for (k = 0; k < G4 * in; ++k) mats[5 * e][k] = (REAL)NAN;                         \
                for (k = 0; k < c->P * c->H; ++k) mats[5 * e + 4][k] = (REAL)NAN;                 \
                if (hh_prepared)                                                                  \
                    for (k = 0; k < G4 * R; ++k) mats[5 * e + 1][k] = (REAL)NAN;                  \
            }                                                                                     \
        }                                                                                         \
        memset(y2, 0xA5, ny * sizeof *y2);                                                        \
        st = pylstm_model_forward_prep_##SUFFIX(&desc, w, prep, prep_size, c->T, c->B, x, h0, c0, \
                                                c->use_lengths ? lengths : NULL, y2, h2, c2,      \
                                                work, sz.work_forward);                           \
        check(st == PYLSTM_OK, "%s: forward_prep: %s", label, pylstm_strerror(st));               \
        check(memcmp(y1, y2, ny * sizeof *y1) == 0, "%s: y differs", label);                      \
        check(memcmp(h1, h2, nh * sizeof *h1) == 0, "%s: h_n differs", label);                    \
        check(memcmp(c1, c2, nc * sizeof *c1) == 0, "%s: c_n differs", label);                    \
        pylstm_set_num_threads(1);                                                                \
        free(work_base), free(prep_base), free(x), free(h0), free(c0), free(lengths);             \
        free(y1), free(y2), free(h1), free(h2), free(c1), free(c2);                               \
        for (k = 0; k < 5 * E; ++k) free(mats[k]);                                                \
        free(mats), free(w);                                                                      \
    }

DEFINE_CASE(float, f32)
DEFINE_CASE(double, f64)

static void run_both(const pcase *c) {
    run_case_f32(c);
    run_case_f64(c);
}

static void test_fixed(void) {
    /* I, H, P, L, T, B, bidir, lengths, bias, prep threads, run threads, small */
    static const pcase cases[] = {
        {1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0},
        {3, 5, 0, 2, 7, 3, 1, 1, 1, 1, 1, 0},
        {7, 11, 3, 3, 5, 2, 1, 1, 0, 1, 1, 0},
        {13, 17, 0, 1, 4, 5, 0, 1, 1, 2, 2, 0},
        /* step split at 2 threads (B * 4H * R >= 2 * 65536) */
        {40, 96, 0, 2, 6, 8, 1, 1, 1, 2, 2, 0},
        {40, 96, 48, 2, 6, 8, 0, 1, 1, 2, 2, 0},
        /* input projection: rows split (M = 400 > N = 384) ... */
        {40, 96, 0, 1, 50, 8, 0, 0, 1, 2, 2, 0},
        /* ... or, unprepared, columns (M = 80 < N = 512) */
        {128, 128, 0, 1, 10, 8, 1, 0, 1, 2, 2, 0},
        /* run at a thread count whose step split was not prepared */
        {40, 96, 0, 2, 6, 8, 1, 1, 1, 1, 2, 0},
        {40, 96, 0, 2, 6, 8, 1, 1, 1, 2, 1, 0},
        /* prep buffer sized at 1 thread, prepared at 2 */
        {40, 96, 0, 2, 6, 8, 0, 1, 1, 2, 2, 1},
        /* depth past the kernels' K block (KC = 512) */
        {600, 20, 0, 1, 3, 2, 0, 0, 1, 1, 1, 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_both(&cases[i]);
}

static void test_random(void) {
    static const size_t sizes[] = {1, 2, 3, 5, 7, 13, 17, 31, 37};
    int n;
    for (n = 0; n < 24; ++n) {
        pcase c;
        c.I = sizes[rnd(0, 8)], c.H = sizes[rnd(0, 8)];
        c.P = c.H > 1 && rnd(0, 1) ? rnd(1, c.H - 1) : 0;
        c.L = rnd(1, 3), c.T = rnd(1, 9), c.B = rnd(1, 6);
        c.bidir = (int)rnd(0, 1), c.use_lengths = (int)rnd(0, 1), c.bias = rnd(0, 3) != 0;
        c.prep_threads = rnd(1, 2), c.run_threads = rnd(1, 2), c.prep_small = 0;
        run_both(&c);
    }
}

static void test_errors(void) {
    pylstm_model_desc desc = {4, 8, 0, 1, 0}, other = {4, 8, 0, 2, 0}, bad = {0, 8, 0, 1, 0};
    float W_ih[32 * 4], W_hh[32 * 8], x[2 * 4], y[2 * 8];
    double W_ih64[32 * 4], W_hh64[32 * 8], x64[2 * 4], y64[2 * 8];
    pylstm_weights_f32 w = {W_ih, W_hh, NULL, NULL, NULL};
    pylstm_weights_f64 w64 = {W_ih64, W_hh64, NULL, NULL, NULL};
    pylstm_sizes sz;
    size_t n, k;
    void *prep, *prep2, *work;
    for (k = 0; k < sizeof W_ih / sizeof W_ih[0]; ++k) W_ih[k] = (float)urand(), W_ih64[k] = urand();
    for (k = 0; k < sizeof W_hh / sizeof W_hh[0]; ++k) W_hh[k] = (float)urand(), W_hh64[k] = urand();
    for (k = 0; k < 8; ++k) x[k] = (float)urand(), x64[k] = urand();
    check(pylstm_model_prep_size_f32(NULL) == 0, "size of NULL desc not 0");
    check(pylstm_model_prep_size_f32(&bad) == 0, "size of a bad desc not 0");
    n = pylstm_model_prep_size_f32(&desc);
    check(n > 0 && pylstm_model_prep_size_f64(&desc) > n, "f64 prep not larger than f32");
    prep = malloc(n), prep2 = calloc(1, n);
    pylstm_model_sizes_f32(&desc, 2, 1, &sz);
    work = malloc(sz.work_forward);
    check(pylstm_model_prep_f32(NULL, &w, prep, n) == PYLSTM_ERR_NULL_POINTER, "prep NULL desc");
    check(pylstm_model_prep_f32(&desc, NULL, prep, n) == PYLSTM_ERR_NULL_POINTER, "prep NULL w");
    check(pylstm_model_prep_f32(&desc, &w, NULL, n) == PYLSTM_ERR_NULL_POINTER, "prep NULL buf");
    check(pylstm_model_prep_f32(&bad, &w, prep, n) == PYLSTM_ERR_BAD_SIZE, "prep bad desc");
    check(pylstm_model_prep_f32(&desc, &w, prep, n - 1) == PYLSTM_ERR_BUFFER_TOO_SMALL,
          "prep buffer one byte short");
    w.W_hr = W_hh;
    check(pylstm_model_prep_f32(&desc, &w, prep, n) == PYLSTM_ERR_BAD_ARGUMENT,
          "prep W_hr without projection");
    w.W_hr = NULL;
    check(pylstm_model_prep_f32(&desc, &w, prep, n) == PYLSTM_OK, "prep");
    check(pylstm_model_forward_prep_f32(&desc, &w, NULL, n, 2, 1, x, NULL, NULL, NULL, y, NULL,
                                        NULL, work, sz.work_forward) == PYLSTM_ERR_NULL_POINTER,
          "forward_prep NULL prep");
    check(pylstm_model_forward_prep_f32(&desc, &w, prep, n - 1, 2, 1, x, NULL, NULL, NULL, y,
                                        NULL, NULL, work,
                                        sz.work_forward) == PYLSTM_ERR_BUFFER_TOO_SMALL,
          "forward_prep prep_size short");
    check(pylstm_model_forward_prep_f32(&desc, &w, prep, n, 2, 1, x, NULL, NULL, NULL, y, NULL,
                                        NULL, work,
                                        sz.work_forward - 1) == PYLSTM_ERR_WORK_TOO_SMALL,
          "forward_prep work short");
    {
        pylstm_weights_f32 w2[2];
        void *work2;
        pylstm_sizes sz2;
        w2[0] = w, w2[1] = w;
        w2[1].W_ih = W_hh; /* layer 1's input is R = 8 wide: W_ih (32, 8) */
        pylstm_model_sizes_f32(&other, 2, 1, &sz2);
        work2 = malloc(sz2.work_forward);
        check(pylstm_model_forward_prep_f32(&other, w2, prep, n, 2, 1, x, NULL, NULL, NULL, y,
                                            NULL, NULL, work2,
                                            sz2.work_forward) == PYLSTM_ERR_BAD_ARGUMENT,
              "forward_prep: buffer prepared for another desc");
        free(work2);
    }
    check(pylstm_model_forward_prep_f32(&desc, &w, prep2, n, 2, 1, x, NULL, NULL, NULL, y, NULL,
                                        NULL, work, sz.work_forward) == PYLSTM_ERR_BAD_ARGUMENT,
          "forward_prep: never prepared");
    {
        size_t n64 = pylstm_model_prep_size_f64(&desc);
        pylstm_sizes sz64;
        void *work64;
        pylstm_model_sizes_f64(&desc, 2, 1, &sz64);
        work64 = malloc(sz64.work_forward);
        check(pylstm_model_forward_prep_f64(&desc, &w64, prep, n64 < n ? n64 : n, 2, 1, x64, NULL,
                                            NULL, NULL, y64, NULL, NULL, work64,
                                            sz64.work_forward) == PYLSTM_ERR_BAD_ARGUMENT,
              "forward_prep_f64 on a float32 buffer");
        free(work64);
    }
    free(prep), free(prep2), free(work);
}

int main(void) {
    test_fixed();
    test_random();
    test_errors();
    return check_summary();
}
