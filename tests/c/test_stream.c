/* The streaming step (pylstm_stream_* in pylstm.h), against the model.
 *
 *  - One step equals pylstm_model_forward with T = 1 and h0 = h, c0 = c bit
 *    for bit (y, h_t, c_t of every layer), float32 and float64, for fixed and
 *    seeded random shapes: sizes 1 and small primes, 1-3 layers, projection,
 *    no bias or only one of b_ih / b_hh, batches past the kernels' row block
 *    and inputs past the depth block (K > 512); also with 2 threads, where the
 *    model splits its products and the step does not.
 *  - Ten steps equal one model forward over T = 10 to rounding (the model
 *    multiplies all ten inputs by W_ih at once, in another summation order).
 *  - Every error status of sizes, pack and step, each from a real call, with
 *    the caller's buffers (packed for pack; h, c, y for step) checked byte for
 *    byte to be untouched: NULLs, sizes < 1, proj_size >= hidden_size,
 *    bidirectional, overflow, too-small packed and work, a packed buffer made
 *    for another desc or element type, never packed, or moved to another
 *    alignment (moved by 64 bytes it still works).
 *  - Caller buffers one element past a 64-byte boundary give bit-identical
 *    results to aligned ones.
 *  - Timing printout (not a check): ns per step for the benchmark's stream
 *    case (1 layer, B = 1, I = H = 64, float32) and a few neighbours, with
 *    pylstm_model_forward (T = 1) for comparison.
 *
 * Prints one line per failed check and "N passed, N failed" last; exits
 * non-zero on any failure. Build and run from the repository root (add
 * -fsanitize=address,undefined for the sanitizer run): */
// gcc -std=c99 -pthread -O2 -Wall -Wextra -pedantic -Werror -Isrc_c/include -Isrc_c tests/c/test_stream.c src_c/*.c -lm -o build/test_stream
// ./build/test_stream
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "pylstm.h"

/* Caller memory `elem` bytes past a 64-byte boundary (elem = 0: aligned). The
 * header asks for element alignment only. */
static void *at_offset(size_t bytes, size_t elem, void **base) {
    unsigned char *b = malloc(bytes + 64 + elem + 1);
    uintptr_t u = ((uintptr_t)b + 63) & ~(uintptr_t)63;
    *base = b;
    return (void *)(u + elem);
}

/* Largest |a - b| / max(1, |b|); NaN counts as infinite. */
static double max_rel_err(const double *a, const double *b, size_t n) {
    double worst = 0;
    size_t k;
    for (k = 0; k < n; ++k) {
        const double s = fabs(b[k]) > 1 ? fabs(b[k]) : 1;
        double e = fabs(a[k] - b[k]) / s;
        if (e != e) e = INFINITY;
        if (e > worst) worst = e;
    }
    return worst;
}

/* ===========================================================================
 * A model's parameters and states in both types
 * ======================================================================== */

typedef struct {
    pylstm_model_desc d;
    size_t R;
    int bias_mode; /* 0 none, 1 both, 2 b_ih only, 3 b_hh only */
    double *params;
    float *params32;
    pylstm_weights_f64 *w64;
    pylstm_weights_f32 *w32;
} model;

static size_t layer_in(const model *m, size_t l) { return l ? m->R : m->d.input_size; }

static void model_make(model *m, size_t I, size_t H, size_t P, size_t L, int bias_mode) {
    size_t l, off = 0, total = 0, k;
    const size_t G4 = 4 * H;
    const double scale = 1.5 / sqrt((double)H);
    memset(m, 0, sizeof *m);
    m->d.input_size = I, m->d.hidden_size = H, m->d.proj_size = P, m->d.num_layers = L;
    m->d.bidirectional = 0;
    m->R = P ? P : H;
    m->bias_mode = bias_mode;
    for (l = 0; l < L; ++l) total += G4 * layer_in(m, l) + G4 * m->R + 2 * G4 + P * H;
    m->params = malloc(total * sizeof(double));
    m->params32 = malloc(total * sizeof(float));
    m->w64 = calloc(L, sizeof *m->w64);
    m->w32 = calloc(L, sizeof *m->w32);
    for (k = 0; k < total; ++k) {
        m->params32[k] = (float)(urand() * scale);
        m->params[k] = m->params32[k];
    }
    for (l = 0; l < L; ++l) {
        const size_t in = layer_in(m, l);
#define TAKE(field, n, present)                                                                \
    do {                                                                                       \
        m->w64[l].field = (present) ? m->params + off : NULL;                                  \
        m->w32[l].field = (present) ? m->params32 + off : NULL;                                \
        off += (n);                                                                            \
    } while (0)
        TAKE(W_ih, G4 * in, 1);
        TAKE(W_hh, G4 * m->R, 1);
        TAKE(b_ih, G4, bias_mode == 1 || bias_mode == 2);
        TAKE(b_hh, G4, bias_mode == 1 || bias_mode == 3);
        TAKE(W_hr, P * H, P > 0);
#undef TAKE
    }
}

static void model_free(model *m) {
    free(m->params), free(m->params32), free(m->w64), free(m->w32);
}

static void fill(double *a, float *a32, size_t n, double scale) {
    size_t k;
    for (k = 0; k < n; ++k) {
        a32[k] = (float)(urand() * scale);
        a[k] = a32[k];
    }
}

/* ===========================================================================
 * One step against the model (T = 1), bit for bit
 * ======================================================================== */

/* The stream's y, h, c after one step from (x, h0, c0), in both types, and
 * the model's, compared byte for byte. `odd` puts every caller buffer one
 * element past a 64-byte boundary. */
static void check_one_step(const model *m, size_t B, int odd, const char *label) {
    const size_t L = m->d.num_layers, I = m->d.input_size, H = m->d.hidden_size, R = m->R;
    const size_t nx = B * I, nh = L * B * R, nc = L * B * H, ny = B * R;
    double *x = malloc(nx * sizeof *x), *h0 = malloc(nh * sizeof *h0);
    double *c0 = malloc(nc * sizeof *c0);
    float *x32 = malloc(nx * sizeof *x32), *h032 = malloc(nh * sizeof *h032);
    float *c032 = malloc(nc * sizeof *c032);
    int pass;
    fill(x, x32, nx, 2.0);
    fill(h0, h032, nh, 1.0);
    fill(c0, c032, nc, 3.0);
    for (pass = 0; pass < 2; ++pass) {
        const size_t es = pass ? sizeof(float) : sizeof(double);
        const size_t eo = odd ? es : 0;
        size_t packed_bytes = 0, work_bytes = 0;
        pylstm_sizes ms;
        void *bp, *bw, *bmw, *bh, *bc, *by, *bx, *bhr, *bcr, *byr;
        unsigned char *packed, *work, *mwork, *h, *c, *y, *xs, *href, *cref, *yref;
        pylstm_status st, st_pack, st_step, st_model;
        st = pass ? pylstm_stream_sizes_f32(&m->d, B, &packed_bytes, &work_bytes)
                  : pylstm_stream_sizes_f64(&m->d, B, &packed_bytes, &work_bytes);
        check(st == PYLSTM_OK, "%s: stream sizes status %d", label, (int)st);
        st = pass ? pylstm_model_sizes_f32(&m->d, 1, B, &ms)
                  : pylstm_model_sizes_f64(&m->d, 1, B, &ms);
        check(st == PYLSTM_OK, "%s: model sizes status %d", label, (int)st);
        packed = at_offset(packed_bytes, eo, &bp);
        work = at_offset(work_bytes, eo, &bw);
        mwork = at_offset(ms.work_forward, 0, &bmw);
        xs = at_offset(nx * es, eo, &bx);
        h = at_offset(nh * es, eo, &bh);
        c = at_offset(nc * es, eo, &bc);
        y = at_offset(ny * es, eo, &by);
        href = at_offset(nh * es, 0, &bhr);
        cref = at_offset(nc * es, 0, &bcr);
        yref = at_offset(ny * es, 0, &byr);
        memcpy(xs, pass ? (void *)x32 : (void *)x, nx * es);
        memcpy(h, pass ? (void *)h032 : (void *)h0, nh * es);
        memcpy(c, pass ? (void *)c032 : (void *)c0, nc * es);
        if (pass) {
            st_pack = pylstm_stream_pack_f32(&m->d, m->w32, packed, packed_bytes);
            st_step = pylstm_stream_step_f32(&m->d, packed, packed_bytes, B, (const float *)xs,
                                             (float *)h, (float *)c, (float *)y, work, work_bytes);
            st_model = pylstm_model_forward_f32(&m->d, m->w32, 1, B, x32, h032, c032, NULL,
                                                (float *)yref, (float *)href, (float *)cref,
                                                mwork, ms.work_forward);
        } else {
            st_pack = pylstm_stream_pack_f64(&m->d, m->w64, packed, packed_bytes);
            st_step = pylstm_stream_step_f64(&m->d, packed, packed_bytes, B, (const double *)xs,
                                             (double *)h, (double *)c, (double *)y, work,
                                             work_bytes);
            st_model = pylstm_model_forward_f64(&m->d, m->w64, 1, B, x, h0, c0, NULL,
                                                (double *)yref, (double *)href, (double *)cref,
                                                mwork, ms.work_forward);
        }
        check(st_pack == PYLSTM_OK && st_step == PYLSTM_OK && st_model == PYLSTM_OK,
              "%s %s: statuses pack %d step %d model %d", label, pass ? "f32" : "f64",
              (int)st_pack, (int)st_step, (int)st_model);
        check(memcmp(y, yref, ny * es) == 0 && memcmp(h, href, nh * es) == 0 &&
                  memcmp(c, cref, nc * es) == 0,
              "%s %s: step differs from model_forward(T=1) (y %d, h %d, c %d)", label,
              pass ? "f32" : "f64", memcmp(y, yref, ny * es) != 0, memcmp(h, href, nh * es) != 0,
              memcmp(c, cref, nc * es) != 0);
        free(bp), free(bw), free(bmw), free(bx), free(bh), free(bc), free(by);
        free(bhr), free(bcr), free(byr);
    }
    free(x), free(h0), free(c0), free(x32), free(h032), free(c032);
}

static void test_one_step(void) {
    static const size_t fixed[][5] = {/* I, H, P, L, B */
                                      {1, 1, 0, 1, 1},    {64, 64, 0, 1, 1},  {64, 64, 0, 2, 1},
                                      {3, 5, 2, 3, 7},    {13, 17, 11, 2, 13}, {600, 37, 0, 2, 3},
                                      {5, 600, 0, 1, 2},  {7, 40, 39, 3, 29},  {2, 3, 1, 1, 1},
                                      {31, 33, 0, 1, 12}, {19, 70, 5, 2, 25}};
    char label[128];
    size_t k;
    int bias_mode, odd;
    for (k = 0; k < sizeof fixed / sizeof fixed[0]; ++k)
        for (bias_mode = 0; bias_mode < 4; ++bias_mode) {
            model m;
            model_make(&m, fixed[k][0], fixed[k][1], fixed[k][2], fixed[k][3], bias_mode);
            for (odd = 0; odd < 2; ++odd) {
                sprintf(label, "I=%zu H=%zu P=%zu L=%zu B=%zu bias=%d odd=%d", fixed[k][0],
                        fixed[k][1], fixed[k][2], fixed[k][3], fixed[k][4], bias_mode, odd);
                check_one_step(&m, fixed[k][4], odd, label);
            }
            model_free(&m);
        }
    for (k = 0; k < 60; ++k) {
        static const size_t sizes[] = {1, 2, 3, 5, 7, 11, 13, 16, 17, 31, 32, 33, 47, 64};
        const size_t ns = sizeof sizes / sizeof sizes[0];
        const size_t I = sizes[rnd(0, ns - 1)], H = sizes[rnd(0, ns - 1)];
        const size_t P = H > 1 && rnd(0, 2) == 0 ? rnd(1, H - 1) : 0;
        const size_t L = rnd(1, 3), B = sizes[rnd(0, 9)];
        model m;
        bias_mode = (int)rnd(0, 3);
        model_make(&m, I, H, P, L, bias_mode);
        sprintf(label, "random I=%zu H=%zu P=%zu L=%zu B=%zu bias=%d", I, H, P, L, B, bias_mode);
        check_one_step(&m, B, (int)(k % 2), label);
        model_free(&m);
    }
}

/* The model splits its products and gate loops between threads; each output
 * element's arithmetic does not depend on the split, so the step still
 * matches. */
static void test_one_step_threads(void) {
    pylstm_status st = pylstm_set_num_threads(2);
    model m;
    if (st != PYLSTM_OK || pylstm_get_num_threads() != 2) {
        printf("note: 2 threads unavailable (%s); thread variant not run\n", pylstm_strerror(st));
        return;
    }
    model_make(&m, 96, 160, 0, 2, 1);
    check_one_step(&m, 40, 0, "2 threads I=96 H=160 L=2 B=40");
    model_free(&m);
    model_make(&m, 50, 130, 60, 3, 1);
    check_one_step(&m, 33, 1, "2 threads I=50 H=130 P=60 L=3 B=33");
    model_free(&m);
    pylstm_set_num_threads(1);
}

/* ===========================================================================
 * Ten steps against one forward over T = 10
 * ======================================================================== */

static void check_sequence(const model *m, size_t B, const char *label) {
    const size_t T = 10, L = m->d.num_layers, I = m->d.input_size, H = m->d.hidden_size;
    const size_t R = m->R, nx = T * B * I, nh = L * B * R, nc = L * B * H, ny = B * R;
    double *x = malloc(nx * sizeof *x), *h0 = malloc(nh * sizeof *h0);
    double *c0 = malloc(nc * sizeof *c0);
    float *x32 = malloc(nx * sizeof *x32), *h032 = malloc(nh * sizeof *h032);
    float *c032 = malloc(nc * sizeof *c032);
    double *yref = malloc(T * ny * sizeof *yref), *href = malloc(nh * sizeof *href);
    double *cref = malloc(nc * sizeof *cref), *ys = malloc(T * ny * sizeof *ys);
    double *h = malloc(nh * sizeof *h), *c = malloc(nc * sizeof *c);
    float *f_yref = malloc(T * ny * sizeof *f_yref), *f_href = malloc(nh * sizeof *f_href);
    float *f_cref = malloc(nc * sizeof *f_cref), *f_y = malloc(T * ny * sizeof *f_y);
    float *f_h = malloc(nh * sizeof *f_h), *f_c = malloc(nc * sizeof *f_c);
    double *tmp = malloc((T * ny + nh + nc) * sizeof *tmp);
    double *tmpr = malloc((T * ny + nh + nc) * sizeof *tmpr);
    size_t packed64, work64, packed32, work32, t, k;
    pylstm_sizes ms64, ms32;
    void *pk64, *wk64, *pk32, *wk32, *mw64, *mw32;
    int ok = 1;
    double e64, e32;
    fill(x, x32, nx, 2.0);
    fill(h0, h032, nh, 1.0);
    fill(c0, c032, nc, 3.0);
    ok &= pylstm_stream_sizes_f64(&m->d, B, &packed64, &work64) == PYLSTM_OK;
    ok &= pylstm_stream_sizes_f32(&m->d, B, &packed32, &work32) == PYLSTM_OK;
    ok &= pylstm_model_sizes_f64(&m->d, T, B, &ms64) == PYLSTM_OK;
    ok &= pylstm_model_sizes_f32(&m->d, T, B, &ms32) == PYLSTM_OK;
    pk64 = malloc(packed64), wk64 = malloc(work64), pk32 = malloc(packed32), wk32 = malloc(work32);
    mw64 = malloc(ms64.work_forward), mw32 = malloc(ms32.work_forward);
    ok &= pylstm_model_forward_f64(&m->d, m->w64, T, B, x, h0, c0, NULL, yref, href, cref, mw64,
                                   ms64.work_forward) == PYLSTM_OK;
    ok &= pylstm_model_forward_f32(&m->d, m->w32, T, B, x32, h032, c032, NULL, f_yref, f_href,
                                   f_cref, mw32, ms32.work_forward) == PYLSTM_OK;
    ok &= pylstm_stream_pack_f64(&m->d, m->w64, pk64, packed64) == PYLSTM_OK;
    ok &= pylstm_stream_pack_f32(&m->d, m->w32, pk32, packed32) == PYLSTM_OK;
    memcpy(h, h0, nh * sizeof *h), memcpy(c, c0, nc * sizeof *c);
    memcpy(f_h, h032, nh * sizeof *f_h), memcpy(f_c, c032, nc * sizeof *f_c);
    for (t = 0; t < T; ++t) {
        ok &= pylstm_stream_step_f64(&m->d, pk64, packed64, B, x + t * B * I, h, c, ys + t * ny,
                                     wk64, work64) == PYLSTM_OK;
        ok &= pylstm_stream_step_f32(&m->d, pk32, packed32, B, x32 + t * B * I, f_h, f_c,
                                     f_y + t * ny, wk32, work32) == PYLSTM_OK;
    }
    check(ok, "%s: a call failed", label);
    memcpy(tmp, ys, T * ny * sizeof *tmp), memcpy(tmp + T * ny, h, nh * sizeof *tmp);
    memcpy(tmp + T * ny + nh, c, nc * sizeof *tmp);
    memcpy(tmpr, yref, T * ny * sizeof *tmp), memcpy(tmpr + T * ny, href, nh * sizeof *tmp);
    memcpy(tmpr + T * ny + nh, cref, nc * sizeof *tmp);
    e64 = max_rel_err(tmp, tmpr, T * ny + nh + nc);
    for (k = 0; k < T * ny; ++k) tmp[k] = f_y[k], tmpr[k] = f_yref[k];
    for (k = 0; k < nh; ++k) tmp[T * ny + k] = f_h[k], tmpr[T * ny + k] = f_href[k];
    for (k = 0; k < nc; ++k) tmp[T * ny + nh + k] = f_c[k], tmpr[T * ny + nh + k] = f_cref[k];
    e32 = max_rel_err(tmp, tmpr, T * ny + nh + nc);
    check(e64 <= 1e-13, "%s: 10 steps vs forward(T=10) f64 error %.3g", label, e64);
    check(e32 <= 2e-5, "%s: 10 steps vs forward(T=10) f32 error %.3g", label, e32);
    free(x), free(h0), free(c0), free(x32), free(h032), free(c032), free(yref), free(href);
    free(cref), free(ys), free(h), free(c), free(f_yref), free(f_href), free(f_cref), free(f_y);
    free(f_h), free(f_c), free(tmp), free(tmpr), free(pk64), free(wk64), free(pk32), free(wk32);
    free(mw64), free(mw32);
}

static void test_sequence(void) {
    char label[128];
    size_t k;
    static const size_t fixed[][5] = {{64, 64, 0, 1, 1}, {5, 7, 3, 3, 2}, {1, 1, 0, 2, 1},
                                      {33, 17, 0, 2, 13}};
    for (k = 0; k < sizeof fixed / sizeof fixed[0]; ++k) {
        model m;
        model_make(&m, fixed[k][0], fixed[k][1], fixed[k][2], fixed[k][3], 1);
        sprintf(label, "sequence I=%zu H=%zu P=%zu L=%zu B=%zu", fixed[k][0], fixed[k][1],
                fixed[k][2], fixed[k][3], fixed[k][4]);
        check_sequence(&m, fixed[k][4], label);
        model_free(&m);
    }
    for (k = 0; k < 12; ++k) {
        const size_t I = rnd(1, 40), H = rnd(1, 40), P = H > 1 && rnd(0, 1) ? rnd(1, H - 1) : 0;
        const size_t L = rnd(1, 3), B = rnd(1, 14);
        model m;
        const int bias_mode = (int)rnd(0, 3);
        model_make(&m, I, H, P, L, bias_mode);
        sprintf(label, "random sequence I=%zu H=%zu P=%zu L=%zu B=%zu bias=%d", I, H, P, L, B,
                bias_mode);
        check_sequence(&m, B, label);
        model_free(&m);
    }
}

/* ===========================================================================
 * Error statuses
 * ======================================================================== */

#define SENTINEL 0xA5

static int all_bytes(const void *p, size_t n, unsigned char v) {
    const unsigned char *b = (const unsigned char *)p;
    size_t k;
    for (k = 0; k < n; ++k)
        if (b[k] != v) return 0;
    return 1;
}

static void test_sizes_errors(void) {
    pylstm_model_desc d = {8, 16, 0, 2, 0}, e;
    size_t pb = 7, wb = 7;
    pylstm_status st;
    check(pylstm_stream_sizes_f64(NULL, 1, &pb, &wb) == PYLSTM_ERR_NULL_POINTER,
          "sizes: NULL desc");
    check(pylstm_stream_sizes_f64(&d, 1, NULL, &wb) == PYLSTM_ERR_NULL_POINTER,
          "sizes: NULL packed_bytes");
    check(pylstm_stream_sizes_f32(&d, 1, &pb, NULL) == PYLSTM_ERR_NULL_POINTER,
          "sizes: NULL work_bytes");
    check(pylstm_stream_sizes_f64(&d, 0, &pb, &wb) == PYLSTM_ERR_BAD_SIZE, "sizes: B = 0");
    e = d, e.input_size = 0;
    check(pylstm_stream_sizes_f64(&e, 1, &pb, &wb) == PYLSTM_ERR_BAD_SIZE, "sizes: I = 0");
    e = d, e.hidden_size = 0;
    check(pylstm_stream_sizes_f32(&e, 1, &pb, &wb) == PYLSTM_ERR_BAD_SIZE, "sizes: H = 0");
    e = d, e.num_layers = 0;
    check(pylstm_stream_sizes_f64(&e, 1, &pb, &wb) == PYLSTM_ERR_BAD_SIZE, "sizes: L = 0");
    e = d, e.proj_size = 16;
    check(pylstm_stream_sizes_f64(&e, 1, &pb, &wb) == PYLSTM_ERR_BAD_SIZE, "sizes: P = H");
    e = d, e.proj_size = 17;
    check(pylstm_stream_sizes_f32(&e, 1, &pb, &wb) == PYLSTM_ERR_BAD_SIZE, "sizes: P > H");
    e = d, e.bidirectional = 1;
    check(pylstm_stream_sizes_f64(&e, 1, &pb, &wb) == PYLSTM_ERR_BAD_ARGUMENT,
          "sizes: bidirectional");
    e = d, e.bidirectional = 2;
    check(pylstm_stream_sizes_f32(&e, 1, &pb, &wb) == PYLSTM_ERR_BAD_ARGUMENT,
          "sizes: bidirectional = 2");
    e = d, e.hidden_size = SIZE_MAX / 2;
    check(pylstm_stream_sizes_f64(&e, 1, &pb, &wb) == PYLSTM_ERR_OVERFLOW, "sizes: huge H");
    e = d, e.input_size = SIZE_MAX / 16;
    check(pylstm_stream_sizes_f32(&e, 1, &pb, &wb) == PYLSTM_ERR_OVERFLOW, "sizes: huge I");
    e = d, e.num_layers = SIZE_MAX / 64;
    check(pylstm_stream_sizes_f64(&e, 1, &pb, &wb) == PYLSTM_ERR_OVERFLOW, "sizes: huge L");
    check(pylstm_stream_sizes_f64(&d, SIZE_MAX / 64, &pb, &wb) == PYLSTM_ERR_OVERFLOW,
          "sizes: huge B");
    check(pb == 7 && wb == 7, "sizes: outputs untouched on error");
    st = pylstm_stream_sizes_f64(&d, 3, &pb, &wb);
    check(st == PYLSTM_OK && pb > 0 && wb > 0, "sizes: ok (%d)", (int)st);
}

static void test_pack_errors(void) {
    model m;
    pylstm_model_desc e;
    pylstm_weights_f64 w2[2];
    size_t pb, wb;
    unsigned char *packed;
    pylstm_status st;
    model_make(&m, 6, 10, 4, 2, 1);
    pylstm_stream_sizes_f64(&m.d, 1, &pb, &wb);
    pb = 2 * pb + 4096; /* room for the descs below that need more */
    packed = malloc(pb);
    memset(packed, SENTINEL, pb);
#define PACK_FAILS(expect, call, what)                                                         \
    do {                                                                                       \
        st = (call);                                                                           \
        check(st == (expect), "pack: %s: status %d, expected %d", what, (int)st, (int)(expect)); \
        check(all_bytes(packed, pb, SENTINEL), "pack: %s: packed buffer written", what);       \
    } while (0)
    PACK_FAILS(PYLSTM_ERR_NULL_POINTER, pylstm_stream_pack_f64(NULL, m.w64, packed, pb),
               "NULL desc");
    PACK_FAILS(PYLSTM_ERR_NULL_POINTER, pylstm_stream_pack_f64(&m.d, NULL, packed, pb),
               "NULL weights");
    PACK_FAILS(PYLSTM_ERR_NULL_POINTER, pylstm_stream_pack_f32(&m.d, m.w32, NULL, pb),
               "NULL packed");
    memcpy(w2, m.w64, sizeof w2), w2[1].W_ih = NULL;
    PACK_FAILS(PYLSTM_ERR_NULL_POINTER, pylstm_stream_pack_f64(&m.d, w2, packed, pb),
               "layer 1 W_ih NULL");
    memcpy(w2, m.w64, sizeof w2), w2[0].W_hh = NULL;
    PACK_FAILS(PYLSTM_ERR_NULL_POINTER, pylstm_stream_pack_f64(&m.d, w2, packed, pb),
               "layer 0 W_hh NULL");
    memcpy(w2, m.w64, sizeof w2), w2[1].W_hr = NULL;
    PACK_FAILS(PYLSTM_ERR_NULL_POINTER, pylstm_stream_pack_f64(&m.d, w2, packed, pb),
               "W_hr NULL with P > 0");
    e = m.d, e.proj_size = 0;
    PACK_FAILS(PYLSTM_ERR_BAD_ARGUMENT, pylstm_stream_pack_f64(&e, m.w64, packed, pb),
               "W_hr given with P = 0");
    e = m.d, e.bidirectional = 1;
    PACK_FAILS(PYLSTM_ERR_BAD_ARGUMENT, pylstm_stream_pack_f64(&e, m.w64, packed, pb),
               "bidirectional");
    e = m.d, e.hidden_size = 0;
    PACK_FAILS(PYLSTM_ERR_BAD_SIZE, pylstm_stream_pack_f64(&e, m.w64, packed, pb), "H = 0");
    e = m.d, e.proj_size = 10;
    PACK_FAILS(PYLSTM_ERR_BAD_SIZE, pylstm_stream_pack_f64(&e, m.w64, packed, pb), "P = H");
    e = m.d, e.input_size = SIZE_MAX / 8;
    PACK_FAILS(PYLSTM_ERR_OVERFLOW, pylstm_stream_pack_f64(&e, m.w64, packed, pb), "huge I");
    {
        size_t need, wb1;
        pylstm_stream_sizes_f64(&m.d, 1, &need, &wb1);
        PACK_FAILS(PYLSTM_ERR_BUFFER_TOO_SMALL,
                   pylstm_stream_pack_f64(&m.d, m.w64, packed, need - 1),
                   "packed_size one byte short");
    }
    PACK_FAILS(PYLSTM_ERR_BUFFER_TOO_SMALL, pylstm_stream_pack_f64(&m.d, m.w64, packed, 0),
               "packed_size 0");
#undef PACK_FAILS
    st = pylstm_stream_pack_f64(&m.d, m.w64, packed, pb);
    check(st == PYLSTM_OK, "pack: ok (%d)", (int)st);
    free(packed);
    model_free(&m);
}

static void test_step_errors(void) {
    model m, other;
    pylstm_model_desc e;
    const size_t B = 3;
    size_t pb, wb, pb32, wb32, pb_big, k, n_h, n_c, n_y;
    unsigned char *packed, *packed32, *zeros, *moved, *work;
    double *x, *h, *c, *y, *h1, *c1, *y1;
    pylstm_status st;
    model_make(&m, 6, 10, 4, 2, 1);
    n_h = 2 * B * m.R, n_c = 2 * B * 10, n_y = B * m.R;
    pylstm_stream_sizes_f64(&m.d, B, &pb, &wb);
    pylstm_stream_sizes_f32(&m.d, B, &pb32, &wb32);
    pb_big = 4 * pb + 4096; /* room for descs with larger packed sizes */
    packed = calloc(pb_big, 1), packed32 = calloc(pb_big, 1), zeros = calloc(pb_big, 1);
    moved = calloc(pb + 128, 1);
    work = malloc(wb);
    x = malloc(B * 6 * sizeof *x), h = malloc(n_h * sizeof *h), c = malloc(n_c * sizeof *c);
    y = malloc(n_y * sizeof *y);
    h1 = malloc(n_h * sizeof *h1), c1 = malloc(n_c * sizeof *c1), y1 = malloc(n_y * sizeof *y1);
    for (k = 0; k < B * 6; ++k) x[k] = urand();
    check(pylstm_stream_pack_f64(&m.d, m.w64, packed, pb_big) == PYLSTM_OK, "step: pack f64");
    check(pylstm_stream_pack_f32(&m.d, m.w32, packed32, pb_big) == PYLSTM_OK, "step: pack f32");

#define RESET()                                                                                \
    do {                                                                                       \
        memset(h, SENTINEL, n_h * sizeof *h), memset(c, SENTINEL, n_c * sizeof *c);            \
        memset(y, SENTINEL, n_y * sizeof *y);                                                  \
    } while (0)
#define STEP_FAILS(expect, call, what)                                                         \
    do {                                                                                       \
        RESET();                                                                               \
        st = (call);                                                                           \
        check(st == (expect), "step: %s: status %d, expected %d", what, (int)st, (int)(expect)); \
        check(all_bytes(h, n_h * sizeof *h, SENTINEL) &&                                       \
                  all_bytes(c, n_c * sizeof *c, SENTINEL) &&                                   \
                  all_bytes(y, n_y * sizeof *y, SENTINEL),                                     \
              "step: %s: h, c or y written", what);                                            \
    } while (0)
    STEP_FAILS(PYLSTM_ERR_NULL_POINTER,
               pylstm_stream_step_f64(NULL, packed, pb_big, B, x, h, c, y, work, wb), "NULL desc");
    STEP_FAILS(PYLSTM_ERR_NULL_POINTER,
               pylstm_stream_step_f64(&m.d, NULL, pb_big, B, x, h, c, y, work, wb), "NULL packed");
    STEP_FAILS(PYLSTM_ERR_NULL_POINTER,
               pylstm_stream_step_f64(&m.d, packed, pb_big, B, NULL, h, c, y, work, wb), "NULL x");
    STEP_FAILS(PYLSTM_ERR_NULL_POINTER,
               pylstm_stream_step_f64(&m.d, packed, pb_big, B, x, NULL, c, y, work, wb), "NULL h");
    STEP_FAILS(PYLSTM_ERR_NULL_POINTER,
               pylstm_stream_step_f64(&m.d, packed, pb_big, B, x, h, NULL, y, work, wb), "NULL c");
    STEP_FAILS(PYLSTM_ERR_NULL_POINTER,
               pylstm_stream_step_f64(&m.d, packed, pb_big, B, x, h, c, NULL, work, wb), "NULL y");
    STEP_FAILS(PYLSTM_ERR_NULL_POINTER,
               pylstm_stream_step_f64(&m.d, packed, pb_big, B, x, h, c, y, NULL, wb), "NULL work");
    STEP_FAILS(PYLSTM_ERR_BAD_SIZE,
               pylstm_stream_step_f64(&m.d, packed, pb_big, 0, x, h, c, y, work, wb), "B = 0");
    e = m.d, e.num_layers = 0;
    STEP_FAILS(PYLSTM_ERR_BAD_SIZE,
               pylstm_stream_step_f64(&e, packed, pb_big, B, x, h, c, y, work, wb), "L = 0");
    e = m.d, e.proj_size = 12;
    STEP_FAILS(PYLSTM_ERR_BAD_SIZE,
               pylstm_stream_step_f64(&e, packed, pb_big, B, x, h, c, y, work, wb), "P > H");
    e = m.d, e.bidirectional = 1;
    STEP_FAILS(PYLSTM_ERR_BAD_ARGUMENT,
               pylstm_stream_step_f64(&e, packed, pb_big, B, x, h, c, y, work, wb),
               "bidirectional");
    STEP_FAILS(PYLSTM_ERR_OVERFLOW,
               pylstm_stream_step_f64(&m.d, packed, pb_big, SIZE_MAX / 16, x, h, c, y, work, wb),
               "huge B");
    /* No buffer can have been packed for a desc whose sizes overflow. */
    e = m.d, e.hidden_size = SIZE_MAX / 4;
    STEP_FAILS(PYLSTM_ERR_BAD_ARGUMENT,
               pylstm_stream_step_f64(&e, packed, pb_big, B, x, h, c, y, work, wb), "huge H");
    STEP_FAILS(PYLSTM_ERR_BUFFER_TOO_SMALL,
               pylstm_stream_step_f64(&m.d, packed, pb - 1, B, x, h, c, y, work, wb),
               "packed_size one byte short");
    STEP_FAILS(PYLSTM_ERR_WORK_TOO_SMALL,
               pylstm_stream_step_f64(&m.d, packed, pb, B, x, h, c, y, work, wb - 1),
               "work_size one byte short");
    /* A work size for a smaller batch is too small for this one. */
    {
        size_t pb1, wb1;
        pylstm_stream_sizes_f64(&m.d, 1, &pb1, &wb1);
        if (wb1 < wb)
            STEP_FAILS(PYLSTM_ERR_WORK_TOO_SMALL,
                       pylstm_stream_step_f64(&m.d, packed, pb, B, x, h, c, y, work, wb1),
                       "work sized for B = 1");
    }
    /* Packed for another desc, type, or never packed. */
    {
        static const size_t other_shapes[][4] = {
            {7, 10, 4, 2}, {6, 11, 4, 2}, {6, 10, 3, 2},
            {6, 10, 4, 1}, {6, 10, 4, 3}, {6, 10, 0, 2}};
        for (k = 0; k < sizeof other_shapes / sizeof other_shapes[0]; ++k) {
            char what[96];
            e = m.d;
            e.input_size = other_shapes[k][0], e.hidden_size = other_shapes[k][1];
            e.proj_size = other_shapes[k][2], e.num_layers = other_shapes[k][3];
            sprintf(what, "packed for I=6 H=10 P=4 L=2, stepped as I=%zu H=%zu P=%zu L=%zu",
                    e.input_size, e.hidden_size, e.proj_size, e.num_layers);
            STEP_FAILS(PYLSTM_ERR_BAD_ARGUMENT,
                       pylstm_stream_step_f64(&e, packed, pb_big, B, x, h, c, y, work, wb), what);
            /* And the other way round: a buffer packed for e, stepped as m. */
            model_make(&other, e.input_size, e.hidden_size, e.proj_size, e.num_layers, 1);
            check(pylstm_stream_pack_f64(&other.d, other.w64, zeros, pb_big) == PYLSTM_OK,
                  "step: pack other");
            sprintf(what, "packed for I=%zu H=%zu P=%zu L=%zu, stepped as I=6 H=10 P=4 L=2",
                    e.input_size, e.hidden_size, e.proj_size, e.num_layers);
            STEP_FAILS(PYLSTM_ERR_BAD_ARGUMENT,
                       pylstm_stream_step_f64(&m.d, zeros, pb_big, B, x, h, c, y, work, wb),
                       what);
            model_free(&other);
        }
        memset(zeros, 0, pb_big);
    }
    STEP_FAILS(PYLSTM_ERR_BAD_ARGUMENT,
               pylstm_stream_step_f64(&m.d, packed32, pb_big, B, x, h, c, y, work, wb),
               "float32 packing given to the float64 step");
    RESET();
    st = pylstm_stream_step_f32(&m.d, packed, pb_big, B, (const float *)x, (float *)h,
                                (float *)c, (float *)y, work, wb);
    check(st == PYLSTM_ERR_BAD_ARGUMENT, "step: float64 packing given to the float32 step: %d",
          (int)st);
    STEP_FAILS(PYLSTM_ERR_BAD_ARGUMENT,
               pylstm_stream_step_f64(&m.d, zeros, pb_big, B, x, h, c, y, work, wb),
               "never packed (zeros)");
    memset(zeros, SENTINEL, pb_big);
    STEP_FAILS(PYLSTM_ERR_BAD_ARGUMENT,
               pylstm_stream_step_f64(&m.d, zeros, pb_big, B, x, h, c, y, work, wb),
               "never packed (0xA5)");

    /* Moved: a copy at another alignment is refused; at the same alignment
     * (64 bytes further) it works and gives the same result. */
    {
        unsigned char *base = (unsigned char *)(((uintptr_t)moved + 63) & ~(uintptr_t)63);
        unsigned char *src = packed, *first;
        size_t shift;
        /* reference result from the original buffer */
        for (k = 0; k < n_h; ++k) h1[k] = urand();
        for (k = 0; k < n_c; ++k) c1[k] = urand();
        memcpy(h, h1, n_h * sizeof *h), memcpy(c, c1, n_c * sizeof *c);
        st = pylstm_stream_step_f64(&m.d, src, pb, B, x, h1, c1, y1, work, wb);
        check(st == PYLSTM_OK, "step: reference step %d", (int)st);
        for (shift = 8; shift <= 64; shift += 8) {
            /* the original starts at alignment a; the copy at a + shift (mod 64) */
            const size_t a = (size_t)((uintptr_t)src & 63);
            first = base + ((a + shift) & 63);
            if (first + pb > moved + pb + 128) first -= 64;
            memcpy(first, src, pb);
            {
                double *hh = malloc(n_h * sizeof *hh), *cc = malloc(n_c * sizeof *cc);
                double *yy = malloc(n_y * sizeof *yy);
                memcpy(hh, h, n_h * sizeof *hh), memcpy(cc, c, n_c * sizeof *cc);
                memset(yy, SENTINEL, n_y * sizeof *yy);
                st = pylstm_stream_step_f64(&m.d, first, pb, B, x, hh, cc, yy, work, wb);
                if (shift == 64) {
                    check(st == PYLSTM_OK && memcmp(hh, h1, n_h * sizeof *hh) == 0 &&
                              memcmp(cc, c1, n_c * sizeof *cc) == 0 &&
                              memcmp(yy, y1, n_y * sizeof *yy) == 0,
                          "step: packed copied 64 bytes away works (%d)", (int)st);
                } else {
                    check(st == PYLSTM_ERR_BAD_ARGUMENT &&
                              memcmp(hh, h, n_h * sizeof *hh) == 0 &&
                              memcmp(cc, c, n_c * sizeof *cc) == 0 &&
                              all_bytes(yy, n_y * sizeof *yy, SENTINEL),
                          "step: packed copied to alignment +%zu refused, untouched (%d)", shift,
                          (int)st);
                }
                free(hh), free(cc), free(yy);
            }
        }
    }
#undef STEP_FAILS
#undef RESET
    free(packed), free(packed32), free(zeros), free(moved), free(work);
    free(x), free(h), free(c), free(y), free(h1), free(c1), free(y1);
    model_free(&m);
}

/* ===========================================================================
 * Timing (printed, not checked)
 * ======================================================================== */

static double now_ns(void) {
#if defined(CLOCK_MONOTONIC) && !defined(_WIN32)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
#else /* processor time: good enough for a printout where there is no POSIX clock */
    return (double)clock() * (1e9 / CLOCKS_PER_SEC);
#endif
}

/* ns per call of the stream step and of model_forward(T = 1), best of 5 runs
 * of enough calls to take ~20 ms each. */
static void time_case(size_t I, size_t H, size_t P, size_t L, size_t B, int f32) {
    model m;
    size_t pb, wb, n, k, nh, nc;
    pylstm_sizes ms;
    void *packed, *work, *mwork;
    double *x, *h, *c, *y;
    float *xf, *hf, *cf, *yf;
    double best_stream = 1e300, best_model = 1e300;
    int rep, which;
    model_make(&m, I, H, P, L, 1);
    nh = L * B * m.R, nc = L * B * H;
    if (f32) {
        pylstm_stream_sizes_f32(&m.d, B, &pb, &wb);
        pylstm_model_sizes_f32(&m.d, 1, B, &ms);
    } else {
        pylstm_stream_sizes_f64(&m.d, B, &pb, &wb);
        pylstm_model_sizes_f64(&m.d, 1, B, &ms);
    }
    packed = malloc(pb), work = malloc(wb), mwork = malloc(ms.work_forward);
    x = calloc(B * I, sizeof *x), h = calloc(nh, sizeof *h), c = calloc(nc, sizeof *c);
    y = calloc(B * m.R, sizeof *y);
    xf = calloc(B * I, sizeof *xf), hf = calloc(nh, sizeof *hf), cf = calloc(nc, sizeof *cf);
    yf = calloc(B * m.R, sizeof *yf);
    for (k = 0; k < B * I; ++k) x[k] = xf[k] = (float)urand();
    if (f32)
        pylstm_stream_pack_f32(&m.d, m.w32, packed, pb);
    else
        pylstm_stream_pack_f64(&m.d, m.w64, packed, pb);
    for (which = 0; which < 2; ++which) {
        double *best = which ? &best_model : &best_stream;
        n = 16;
        for (rep = 0; rep < 8; ++rep) {
            double t0 = now_ns(), dt;
            for (k = 0; k < n; ++k) {
                if (which == 0 && f32)
                    pylstm_stream_step_f32(&m.d, packed, pb, B, xf, hf, cf, yf, work, wb);
                else if (which == 0)
                    pylstm_stream_step_f64(&m.d, packed, pb, B, x, h, c, y, work, wb);
                else if (f32)
                    pylstm_model_forward_f32(&m.d, m.w32, 1, B, xf, hf, cf, NULL, yf, hf, cf,
                                             mwork, ms.work_forward);
                else
                    pylstm_model_forward_f64(&m.d, m.w64, 1, B, x, h, c, NULL, y, h, c, mwork,
                                             ms.work_forward);
            }
            dt = now_ns() - t0;
            if (dt < 2e7 && rep < 7) {
                n = dt > 0 ? (size_t)((double)n * 2e7 / dt) + 1 : n * 16; /* calibrate */
                continue;
            }
            if (dt / (double)n < *best) *best = dt / (double)n;
        }
    }
    printf("timing %s L=%zu B=%zu I=%zu H=%zu P=%zu: stream step %.0f ns, model_forward(T=1) "
           "%.0f ns\n",
           f32 ? "f32" : "f64", L, B, I, H, P, best_stream, best_model);
    free(packed), free(work), free(mwork), free(x), free(h), free(c), free(y);
    free(xf), free(hf), free(cf), free(yf);
    model_free(&m);
}

static void print_timing(void) {
    printf("kernel %s, %zu thread(s)\n", pylstm_gemm_kernel(), pylstm_get_num_threads());
    time_case(64, 64, 0, 1, 1, 1); /* the benchmark's stream case */
    time_case(64, 64, 0, 1, 1, 0);
    time_case(64, 64, 0, 2, 1, 1);
    time_case(64, 128, 32, 1, 1, 1);
    time_case(64, 64, 0, 1, 8, 1);
}

int main(void) {
    rng_state = 0x2545F4914F6CDD1Dull; /* this test's own seed: its random cases stay the same */
    test_sizes_errors();
    test_pack_errors();
    test_step_errors();
    test_one_step();
    test_one_step_threads();
    test_sequence();
    print_timing();
    return check_summary();
}
