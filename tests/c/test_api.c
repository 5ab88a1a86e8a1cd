/* The public C API (pylstm.h) exercised directly, with no Python.
 *
 *  - pylstm_version and pylstm_strerror.
 *  - Every error status the compute functions (sizes, layer, cell, model;
 *    float64 in full, float32 in part) can return, each triggered by a real
 *    call, and each time every buffer the caller owns (outputs, reserve,
 *    work, gradients) checked byte for byte to be untouched, as the header
 *    promises.
 *  - The layer and cell functions in float64 against ref_layer below, a plain
 *    per-sequence, per-step loop of the header's equations: forward, training
 *    forward, and backward against central differences of
 *        L = sum(y * dy) + sum(h_n * dhn) + sum(c_n * dcn)
 *    through ref_layer, for fixed and seeded random shapes (sizes 1 and small
 *    primes), reverse, lengths, projection, missing biases, padded row
 *    strides (NaN in x's and dy's padding: a read shows up as NaN; a sentinel
 *    in y's and dx's padding: a write shows up as a mismatch). Gradients start
 *    at 0.25 to check that they accumulate. float32 against float64. Shapes
 *    past the GEMM blocking: forward against ref_layer, backward against one
 *    directional difference along a random direction. The cell likewise.
 *  - NaN in x is no error and stays in its own sequence.
 *  - work and reserve at addresses one element past a 64-byte boundary
 *    (everywhere), and bit-identical results to 64-byte aligned buffers.
 *
 * Prints one line per failed check and "N passed, N failed" last; exits
 * non-zero on any failure. Build and run from the repository root (add
 * -fsanitize=address,undefined -fno-omit-frame-pointer -g for the sanitizer
 * run, with UBSAN_OPTIONS=halt_on_error=1): */
// gcc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -Isrc_c/include tests/c/test_api.c src_c/*.c -lm -o build/test_api
// ./build/test_api
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pylstm.h"

/* One check: |got - ref| <= tol * max(1, |ref|) everywhere (NaN fails). */
static void check_close(const char *what, const double *got, const double *ref, size_t n,
                        double tol) {
    size_t k, worst = 0;
    double worst_err = -1;
    for (k = 0; k < n; ++k) {
        const double scale = fabs(ref[k]) > 1 ? fabs(ref[k]) : 1;
        double err = fabs(got[k] - ref[k]) / scale;
        if (err != err) err = INFINITY;
        if (err > worst_err) worst = k, worst_err = err;
    }
    check(n == 0 || worst_err <= tol, "%s: [%zu] got %.17g, expected %.17g (error %.3g > %.3g)",
          what, worst, n ? got[worst] : 0.0, n ? ref[worst] : 0.0, worst_err, tol);
}

/* Caller memory one element past a 64-byte boundary: the header asks for
 * element alignment only. */
static void *odd_alloc(size_t bytes, size_t elem, void **base) {
    unsigned char *b = malloc(bytes + 64 + elem);
    uintptr_t u = ((uintptr_t)b + 63) & ~(uintptr_t)63;
    *base = b;
    return (void *)(u + elem);
}

static double *dalloc(size_t n) { return malloc((n ? n : 1) * sizeof(double)); }

/* ===========================================================================
 * Version and status texts
 * ======================================================================== */

static void test_version_and_strerror(void) {
    static const pylstm_status all[] = {
        PYLSTM_OK,           PYLSTM_ERR_NULL_POINTER,      PYLSTM_ERR_BAD_SIZE,
        PYLSTM_ERR_OVERFLOW, PYLSTM_ERR_WORK_TOO_SMALL,    PYLSTM_ERR_RESERVE_TOO_SMALL,
        PYLSTM_ERR_BAD_LENGTHS, PYLSTM_ERR_BAD_ARGUMENT,   PYLSTM_ERR_OUT_OF_MEMORY,
        PYLSTM_ERR_IO,       PYLSTM_ERR_FORMAT};
    const size_t n = sizeof all / sizeof all[0];
    size_t a, b;
    char expect[32];
    const char *v = pylstm_version();
    check(v != NULL && strcmp(v, PYLSTM_VERSION_STRING) == 0,
          "pylstm_version() = \"%s\", header says \"%s\"", v ? v : "(null)",
          PYLSTM_VERSION_STRING);
    sprintf(expect, "%d.%d.%d", PYLSTM_VERSION_MAJOR, PYLSTM_VERSION_MINOR, PYLSTM_VERSION_PATCH);
    check(strcmp(expect, PYLSTM_VERSION_STRING) == 0 &&
              PYLSTM_VERSION_NUMBER == PYLSTM_VERSION_MAJOR * 10000 +
                                           PYLSTM_VERSION_MINOR * 100 + PYLSTM_VERSION_PATCH,
          "version macros agree");
    check(pylstm_version_number() == PYLSTM_VERSION_NUMBER,
          "pylstm_version_number() = %u, header says %d", pylstm_version_number(),
          PYLSTM_VERSION_NUMBER);
    check(PYLSTM_OK == 0, "PYLSTM_OK is 0");
    for (a = 0; a < n; ++a) {
        const char *s = pylstm_strerror(all[a]);
        int distinct = 1;
        for (b = 0; b < a; ++b)
            if (strcmp(s, pylstm_strerror(all[b])) == 0) distinct = 0;
        check(s != NULL && s[0] != '\0' && distinct && strcmp(s, "unknown status") != 0,
              "pylstm_strerror(%d) = \"%s\": non-empty, distinct, known", (int)all[a], s);
    }
    check(strcmp(pylstm_strerror((pylstm_status)999), "unknown status") == 0,
          "pylstm_strerror(999) is \"unknown status\"");
    check(strcmp(pylstm_strerror((pylstm_status)-1), "unknown status") == 0,
          "pylstm_strerror(-1) is \"unknown status\"");
}

/* ===========================================================================
 * Reference: one layer direction, a sequence and a step at a time
 * ======================================================================== */

static double sigm(double v) { return 1 / (1 + exp(-v)); }

/* y rows (t, b) get their first R values; padding columns are not touched. */
static void ref_layer(size_t T, size_t B, size_t I, size_t H, size_t P,
                      const pylstm_weights_f64 *w, int reverse, const double *x, size_t ldx,
                      const double *h0, const double *c0, const int64_t *lengths, double *y,
                      size_t ldy, double *h_n, double *c_n) {
    const size_t R = P ? P : H;
    double *h = dalloc(R), *c = dalloc(H), *a = dalloc(4 * H), *m = dalloc(H);
    size_t b, s, t, r, k, j;
    for (b = 0; b < B; ++b) {
        const size_t len = lengths ? (size_t)lengths[b] : T;
        for (k = 0; k < R; ++k) h[k] = h0 ? h0[b * R + k] : 0;
        for (k = 0; k < H; ++k) c[k] = c0 ? c0[b * H + k] : 0;
        for (t = 0; t < T; ++t)
            for (k = 0; k < R; ++k) y[(t * B + b) * ldy + k] = 0;
        for (s = 0; s < len; ++s) {
            const double *xt;
            t = reverse ? len - 1 - s : s;
            xt = x + (t * B + b) * ldx;
            for (r = 0; r < 4 * H; ++r) {
                double v = (w->b_ih ? w->b_ih[r] : 0) + (w->b_hh ? w->b_hh[r] : 0);
                for (k = 0; k < I; ++k) v += w->W_ih[r * I + k] * xt[k];
                for (k = 0; k < R; ++k) v += w->W_hh[r * R + k] * h[k];
                a[r] = v;
            }
            for (j = 0; j < H; ++j) {
                const double i = sigm(a[j]), f = sigm(a[H + j]), g = tanh(a[2 * H + j]),
                             o = sigm(a[3 * H + j]);
                c[j] = f * c[j] + i * g;
                m[j] = o * tanh(c[j]);
            }
            for (k = 0; k < R; ++k) {
                if (P) {
                    double v = 0;
                    for (j = 0; j < H; ++j) v += w->W_hr[k * H + j] * m[j];
                    h[k] = v;
                } else {
                    h[k] = m[k];
                }
                y[(t * B + b) * ldy + k] = h[k];
            }
        }
        if (h_n)
            for (k = 0; k < R; ++k) h_n[b * R + k] = h[k];
        if (c_n)
            for (k = 0; k < H; ++k) c_n[b * H + k] = c[k];
    }
    free(h), free(c), free(a), free(m);
}

/* ===========================================================================
 * Layer and cell numerics
 * ======================================================================== */

typedef struct {
    size_t T, B, I, H, P;
    int reverse, use_lengths, use_state;
    int bias; /* 0: b_ih and b_hh, 1: b_ih only, 2: b_hh only, 3: none */
    size_t xpad, ypad; /* extra columns in ldx (= lddx) and ldy (= lddy) */
} lcase;

#define SENTINEL (-7777.0)

/* One problem: inputs, and what the reference loss reads. Finite differences
 * poke its arrays in place. */
static struct {
    lcase c;
    size_t R, ldx, ldy;
    double *W_ih, *W_hh, *b_ih, *b_hh, *W_hr, *x, *h0, *c0, *dy, *dhn, *dcn;
    int64_t *lengths;
    pylstm_weights_f64 w;
} P_;

static void problem_setup(const lcase *c) {
    const size_t H4 = 4 * c->H;
    size_t j, col;
    P_.c = *c;
    P_.R = c->P ? c->P : c->H;
    P_.ldx = c->I + c->xpad;
    P_.ldy = P_.R + c->ypad;
    P_.W_ih = dalloc(H4 * c->I), P_.W_hh = dalloc(H4 * P_.R);
    P_.b_ih = dalloc(H4), P_.b_hh = dalloc(H4), P_.W_hr = dalloc(c->P * c->H);
    for (j = 0; j < H4 * c->I; ++j) P_.W_ih[j] = 0.6 * urand();
    for (j = 0; j < H4 * P_.R; ++j) P_.W_hh[j] = 0.6 * urand();
    for (j = 0; j < H4; ++j) P_.b_ih[j] = 0.5 * urand(), P_.b_hh[j] = 0.5 * urand();
    for (j = 0; j < c->P * c->H; ++j) P_.W_hr[j] = 0.7 * urand();
    P_.x = dalloc(c->T * c->B * P_.ldx);
    for (j = 0; j < c->T * c->B; ++j)
        for (col = 0; col < P_.ldx; ++col) P_.x[j * P_.ldx + col] = col < c->I ? urand() : NAN;
    P_.dy = dalloc(c->T * c->B * P_.ldy);
    for (j = 0; j < c->T * c->B; ++j)
        for (col = 0; col < P_.ldy; ++col) P_.dy[j * P_.ldy + col] = col < P_.R ? urand() : NAN;
    P_.h0 = dalloc(c->B * P_.R), P_.c0 = dalloc(c->B * c->H);
    for (j = 0; j < c->B * P_.R; ++j) P_.h0[j] = c->use_state ? urand() : 0;
    for (j = 0; j < c->B * c->H; ++j) P_.c0[j] = c->use_state ? urand() : 0;
    P_.dhn = dalloc(c->B * P_.R), P_.dcn = dalloc(c->B * c->H);
    for (j = 0; j < c->B * P_.R; ++j) P_.dhn[j] = urand();
    for (j = 0; j < c->B * c->H; ++j) P_.dcn[j] = urand();
    P_.lengths = malloc(c->B * sizeof(int64_t));
    for (j = 0; j < c->B; ++j) P_.lengths[j] = (int64_t)rnd(1, c->T);
    P_.w.W_ih = P_.W_ih, P_.w.W_hh = P_.W_hh;
    P_.w.b_ih = (c->bias == 0 || c->bias == 1) ? P_.b_ih : NULL;
    P_.w.b_hh = (c->bias == 0 || c->bias == 2) ? P_.b_hh : NULL;
    P_.w.W_hr = c->P ? P_.W_hr : NULL;
}

static void problem_free(void) {
    free(P_.W_ih), free(P_.W_hh), free(P_.b_ih), free(P_.b_hh), free(P_.W_hr);
    free(P_.x), free(P_.dy), free(P_.h0), free(P_.c0), free(P_.dhn), free(P_.dcn);
    free(P_.lengths);
}

static const int64_t *problem_lengths(void) { return P_.c.use_lengths ? P_.lengths : NULL; }

/* The reference loss; padding columns of dy are skipped, padding rows count
 * but y is zero there. */
static double ref_loss(void) {
    const lcase *c = &P_.c;
    const size_t R = P_.R, n = c->T * c->B * P_.ldy;
    double *y = dalloc(n), *hn = dalloc(c->B * R), *cn = dalloc(c->B * c->H), s = 0;
    size_t j, col;
    ref_layer(c->T, c->B, c->I, c->H, c->P, &P_.w, c->reverse, P_.x, P_.ldx, P_.h0, P_.c0,
              problem_lengths(), y, P_.ldy, hn, cn);
    for (j = 0; j < c->T * c->B; ++j)
        for (col = 0; col < R; ++col) s += y[j * P_.ldy + col] * P_.dy[j * P_.ldy + col];
    for (j = 0; j < c->B * R; ++j) s += hn[j] * P_.dhn[j];
    for (j = 0; j < c->B * c->H; ++j) s += cn[j] * P_.dcn[j];
    free(y), free(hn), free(cn);
    return s;
}

/* Central differences of ref_loss over v[k] for k < n with k % ld < cols;
 * other entries of num get SENTINEL. */
static void fd_grad(double *v, size_t n, size_t ld, size_t cols, double *num) {
    const double eps = 1e-6;
    size_t k;
    for (k = 0; k < n; ++k) {
        const double keep = v[k];
        double lp, lm;
        if (k % ld >= cols) {
            num[k] = SENTINEL;
            continue;
        }
        v[k] = keep + eps;
        lp = ref_loss();
        v[k] = keep - eps;
        lm = ref_loss();
        v[k] = keep;
        num[k] = (lp - lm) / (2 * eps);
    }
}

/* Compares grad - offset with finite differences of ref_loss over v. */
static void check_fd(const char *what, const char *tag, double *v, size_t n, size_t ld,
                     size_t cols, const double *grad, double offset) {
    double *num = dalloc(n), *got = dalloc(n);
    char name[160];
    size_t k;
    fd_grad(v, n, ld, cols, num);
    for (k = 0; k < n; ++k) got[k] = grad[k] - offset;
    /* Truncation O(eps^2) plus rounding O(1e-16 |L| / eps): far below 1e-7. */
    snprintf(name, sizeof name, "%s: %s vs finite differences", tag, what);
    check_close(name, got, num, n, 1e-7);
    free(num), free(got);
}

static float *to_f32(const double *src, size_t n) {
    float *dst = malloc((n ? n : 1) * sizeof *dst);
    size_t j;
    for (j = 0; j < n; ++j) dst[j] = (float)src[j];
    return dst;
}

static void check_f32(const char *what, const char *tag, const float *got, const double *ref,
                      size_t n, double tol) {
    double *tmp = dalloc(n);
    char name[160];
    size_t j;
    for (j = 0; j < n; ++j) tmp[j] = got[j];
    snprintf(name, sizeof name, "%s: f32 %s vs f64", tag, what);
    check_close(name, tmp, ref, n, tol);
    free(tmp);
}

/* Gradient buffers starting at 0.25 (backward must add into them). */
typedef struct {
    double *W_ih, *W_hh, *b_ih, *b_hh, *W_hr;
    pylstm_grads_f64 g;
} grads64;

static void grads_init(grads64 *G) {
    const lcase *c = &P_.c;
    const size_t H4 = 4 * c->H;
    size_t j;
    G->W_ih = dalloc(H4 * c->I), G->W_hh = dalloc(H4 * P_.R);
    G->b_ih = dalloc(H4), G->b_hh = dalloc(H4), G->W_hr = dalloc(c->P * c->H);
    for (j = 0; j < H4 * c->I; ++j) G->W_ih[j] = 0.25;
    for (j = 0; j < H4 * P_.R; ++j) G->W_hh[j] = 0.25;
    for (j = 0; j < H4; ++j) G->b_ih[j] = G->b_hh[j] = 0.25;
    for (j = 0; j < c->P * c->H; ++j) G->W_hr[j] = 0.25;
    G->g.W_ih = G->W_ih, G->g.W_hh = G->W_hh, G->g.W_hr = c->P ? G->W_hr : NULL;
    G->g.b_ih = P_.w.b_ih ? G->b_ih : NULL;
    G->g.b_hh = P_.w.b_hh ? G->b_hh : NULL;
}

static void grads_free(grads64 *G) {
    free(G->W_ih), free(G->W_hh), free(G->b_ih), free(G->b_hh), free(G->W_hr);
}

/* Gradients of every input and parameter of the problem against finite
 * differences. */
static void check_all_fd(const char *tag, const double *dx, const double *dh0, const double *dc0,
                         const grads64 *G) {
    const lcase *c = &P_.c;
    const size_t H4 = 4 * c->H;
    check_fd("dx", tag, P_.x, c->T * c->B * P_.ldx, P_.ldx, c->I, dx, 0);
    check_fd("dh0", tag, P_.h0, c->B * P_.R, P_.R, P_.R, dh0, 0);
    check_fd("dc0", tag, P_.c0, c->B * c->H, c->H, c->H, dc0, 0);
    check_fd("dW_ih", tag, P_.W_ih, H4 * c->I, c->I, c->I, G->W_ih, 0.25);
    check_fd("dW_hh", tag, P_.W_hh, H4 * P_.R, P_.R, P_.R, G->W_hh, 0.25);
    if (P_.w.b_ih) check_fd("db_ih", tag, P_.b_ih, H4, H4, H4, G->b_ih, 0.25);
    if (P_.w.b_hh) check_fd("db_hh", tag, P_.b_hh, H4, H4, H4, G->b_hh, 0.25);
    if (c->P) check_fd("dW_hr", tag, P_.W_hr, c->P * c->H, c->H, c->H, G->W_hr, 0.25);
}

static void fill(double *v, size_t n, double value) {
    size_t j;
    for (j = 0; j < n; ++j) v[j] = value;
}

static void test_layer_case(const lcase *c) {
    const size_t T = c->T, B = c->B, I = c->I, H = c->H, P = c->P;
    size_t R, ldx, ldy, ny, nx;
    pylstm_layer_desc desc;
    pylstm_sizes sz;
    double *y_ref, *hn_ref, *cn_ref, *y, *y2, *hn, *cn, *dx, *dx2, *dh0, *dc0;
    const double *h0, *c0;
    void *work, *work_base, *res, *res_base, *awork, *awork_base;
    grads64 G;
    pylstm_status st;
    char tag[128];

    problem_setup(c);
    R = P_.R, ldx = P_.ldx, ldy = P_.ldy, ny = T * B * ldy, nx = T * B * ldx;
    h0 = c->use_state ? P_.h0 : NULL;
    c0 = c->use_state ? P_.c0 : NULL;
    snprintf(tag, sizeof tag, "layer T=%zu B=%zu I=%zu H=%zu P=%zu rev=%d len=%d st=%d bias=%d "
             "ldx=%zu ldy=%zu", T, B, I, H, P, c->reverse, c->use_lengths, c->use_state,
             c->bias, ldx, ldy);
    desc.input_size = I, desc.hidden_size = H, desc.proj_size = P;

    st = pylstm_layer_sizes_f64(&desc, T, B, &sz);
    check(st == PYLSTM_OK, "%s: sizes status %d", tag, (int)st);
    work = odd_alloc(sz.work_forward + sz.work_train + sz.work_backward, sizeof(double),
                     &work_base);
    res = odd_alloc(sz.reserve, sizeof(double), &res_base);
    awork = odd_alloc(sz.work_forward + sz.work_train + sz.work_backward, 0, &awork_base);

    y_ref = dalloc(ny), hn_ref = dalloc(B * R), cn_ref = dalloc(B * H);
    fill(y_ref, ny, SENTINEL);
    ref_layer(T, B, I, H, P, &P_.w, c->reverse, P_.x, ldx, P_.h0, P_.c0, problem_lengths(),
              y_ref, ldy, hn_ref, cn_ref);

    /* inference */
    y = dalloc(ny), y2 = dalloc(ny), hn = dalloc(B * R), cn = dalloc(B * H);
    fill(y, ny, SENTINEL);
    st = pylstm_layer_forward_f64(&desc, &P_.w, T, B, c->reverse, P_.x, ldx, h0, c0,
                                  problem_lengths(), y, ldy, hn, cn, work, sz.work_forward);
    check(st == PYLSTM_OK, "%s: forward status %d", tag, (int)st);
    {
        char name[200];
        snprintf(name, sizeof name, "%s: forward y (padding columns untouched)", tag);
        check_close(name, y, y_ref, ny, 1e-12);
        snprintf(name, sizeof name, "%s: forward h_n", tag);
        check_close(name, hn, hn_ref, B * R, 1e-12);
        snprintf(name, sizeof name, "%s: forward c_n", tag);
        check_close(name, cn, cn_ref, B * H, 1e-12);
    }
    /* h_n, c_n NULL; and a 64-byte aligned work: the same y, bit for bit. */
    fill(y2, ny, SENTINEL);
    st = pylstm_layer_forward_f64(&desc, &P_.w, T, B, c->reverse, P_.x, ldx, h0, c0,
                                  problem_lengths(), y2, ldy, NULL, NULL, awork,
                                  sz.work_forward);
    check(st == PYLSTM_OK && memcmp(y, y2, ny * sizeof(double)) == 0,
          "%s: forward with h_n = c_n = NULL and aligned work gives the same y", tag);

    /* training forward */
    fill(y, ny, SENTINEL);
    st = pylstm_layer_forward_train_f64(&desc, &P_.w, T, B, c->reverse, P_.x, ldx, h0, c0,
                                        problem_lengths(), y, ldy, hn, cn, res, sz.reserve,
                                        work, sz.work_train);
    check(st == PYLSTM_OK, "%s: forward_train status %d", tag, (int)st);
    {
        char name[200];
        snprintf(name, sizeof name, "%s: forward_train y", tag);
        check_close(name, y, y_ref, ny, 1e-12);
        snprintf(name, sizeof name, "%s: forward_train h_n", tag);
        check_close(name, hn, hn_ref, B * R, 1e-12);
        snprintf(name, sizeof name, "%s: forward_train c_n", tag);
        check_close(name, cn, cn_ref, B * H, 1e-12);
    }

    /* backward */
    dx = dalloc(nx), dx2 = dalloc(nx), dh0 = dalloc(B * R), dc0 = dalloc(B * H);
    fill(dx, nx, SENTINEL), fill(dh0, B * R, SENTINEL), fill(dc0, B * H, SENTINEL);
    grads_init(&G);
    st = pylstm_layer_backward_f64(&desc, &P_.w, T, B, c->reverse, P_.x, ldx, problem_lengths(),
                                   res, sz.reserve, P_.dy, ldy, P_.dhn, P_.dcn, dx, ldx, dh0,
                                   dc0, &G.g, work, sz.work_backward);
    check(st == PYLSTM_OK, "%s: backward status %d", tag, (int)st);
    check_all_fd(tag, dx, dh0, dc0, &G);
    /* Without gradients (g NULL) and with an aligned work: the same dx. */
    fill(dx2, nx, SENTINEL);
    st = pylstm_layer_backward_f64(&desc, &P_.w, T, B, c->reverse, P_.x, ldx, problem_lengths(),
                                   res, sz.reserve, P_.dy, ldy, P_.dhn, P_.dcn, dx2, ldx, NULL,
                                   NULL, NULL, awork, sz.work_backward);
    check(st == PYLSTM_OK && memcmp(dx, dx2, nx * sizeof(double)) == 0,
          "%s: backward with g = dh0 = dc0 = NULL and aligned work gives the same dx", tag);

    /* float32 against the float64 results */
    {
        const size_t H4 = 4 * H;
        float *W_ih = to_f32(P_.W_ih, H4 * I), *W_hh = to_f32(P_.W_hh, H4 * R);
        float *b_ih = to_f32(P_.b_ih, H4), *b_hh = to_f32(P_.b_hh, H4);
        float *W_hr = to_f32(P_.W_hr, P * H), *x = to_f32(P_.x, nx), *dy = to_f32(P_.dy, ny);
        float *fh0 = to_f32(P_.h0, B * R), *fc0 = to_f32(P_.c0, B * H);
        float *dhn = to_f32(P_.dhn, B * R), *dcn = to_f32(P_.dcn, B * H);
        float *fy = to_f32(y_ref, ny), *fhn = to_f32(hn, B * R), *fcn = to_f32(cn, B * H);
        float *fdx = to_f32(dx, nx), *fdh0 = to_f32(dh0, B * R), *fdc0 = to_f32(dc0, B * H);
        float *gW_ih = to_f32(G.W_ih, H4 * I), *gW_hh = to_f32(G.W_hh, H4 * R);
        float *gb_ih = to_f32(G.b_ih, H4), *gb_hh = to_f32(G.b_hh, H4);
        float *gW_hr = to_f32(G.W_hr, P * H);
        pylstm_weights_f32 w32;
        pylstm_grads_f32 g32;
        pylstm_sizes s32;
        void *w32work, *w32work_base, *r32, *r32_base;
        size_t j;
        w32.W_ih = W_ih, w32.W_hh = W_hh, w32.W_hr = P ? W_hr : NULL;
        w32.b_ih = P_.w.b_ih ? b_ih : NULL, w32.b_hh = P_.w.b_hh ? b_hh : NULL;
        for (j = 0; j < H4 * I; ++j) gW_ih[j] = 0.25f;
        for (j = 0; j < H4 * R; ++j) gW_hh[j] = 0.25f;
        for (j = 0; j < H4; ++j) gb_ih[j] = gb_hh[j] = 0.25f;
        for (j = 0; j < P * H; ++j) gW_hr[j] = 0.25f;
        g32.W_ih = gW_ih, g32.W_hh = gW_hh, g32.W_hr = P ? gW_hr : NULL;
        g32.b_ih = G.g.b_ih ? gb_ih : NULL, g32.b_hh = G.g.b_hh ? gb_hh : NULL;
        st = pylstm_layer_sizes_f32(&desc, T, B, &s32);
        check(st == PYLSTM_OK, "%s: sizes_f32 status %d", tag, (int)st);
        w32work = odd_alloc(s32.work_forward + s32.work_train + s32.work_backward, sizeof(float),
                            &w32work_base);
        r32 = odd_alloc(s32.reserve, sizeof(float), &r32_base);

        for (j = 0; j < ny; ++j) fy[j] = (float)SENTINEL;
        st = pylstm_layer_forward_f32(&desc, &w32, T, B, c->reverse, x, ldx,
                                      c->use_state ? fh0 : NULL, c->use_state ? fc0 : NULL,
                                      problem_lengths(), fy, ldy, fhn, fcn, w32work,
                                      s32.work_forward);
        check(st == PYLSTM_OK, "%s: forward_f32 status %d", tag, (int)st);
        check_f32("forward y", tag, fy, y_ref, ny, 1e-5);
        check_f32("forward h_n", tag, fhn, hn_ref, B * R, 1e-5);
        check_f32("forward c_n", tag, fcn, cn_ref, B * H, 1e-5);
        for (j = 0; j < ny; ++j) fy[j] = (float)SENTINEL;
        st = pylstm_layer_forward_train_f32(&desc, &w32, T, B, c->reverse, x, ldx,
                                            c->use_state ? fh0 : NULL, c->use_state ? fc0 : NULL,
                                            problem_lengths(), fy, ldy, fhn, fcn, r32,
                                            s32.reserve, w32work, s32.work_train);
        check(st == PYLSTM_OK, "%s: forward_train_f32 status %d", tag, (int)st);
        check_f32("forward_train y", tag, fy, y_ref, ny, 1e-5);
        check_f32("forward_train c_n", tag, fcn, cn_ref, B * H, 1e-5);
        for (j = 0; j < nx; ++j) fdx[j] = (float)SENTINEL;
        st = pylstm_layer_backward_f32(&desc, &w32, T, B, c->reverse, x, ldx, problem_lengths(),
                                       r32, s32.reserve, dy, ldy, dhn, dcn, fdx, ldx, fdh0, fdc0,
                                       &g32, w32work, s32.work_backward);
        check(st == PYLSTM_OK, "%s: backward_f32 status %d", tag, (int)st);
        check_f32("backward dx", tag, fdx, dx, nx, 1e-4);
        check_f32("backward dh0", tag, fdh0, dh0, B * R, 1e-4);
        check_f32("backward dc0", tag, fdc0, dc0, B * H, 1e-4);
        check_f32("backward grad W_ih", tag, gW_ih, G.W_ih, H4 * I, 1e-4);
        check_f32("backward grad W_hh", tag, gW_hh, G.W_hh, H4 * R, 1e-4);
        check_f32("backward grad b_ih", tag, gb_ih, G.b_ih, H4, 1e-4);
        check_f32("backward grad b_hh", tag, gb_hh, G.b_hh, H4, 1e-4);
        check_f32("backward grad W_hr", tag, gW_hr, G.W_hr, P * H, 1e-4);
        free(W_ih), free(W_hh), free(b_ih), free(b_hh), free(W_hr), free(x), free(dy);
        free(fh0), free(fc0), free(dhn), free(dcn), free(fy), free(fhn), free(fcn);
        free(fdx), free(fdh0), free(fdc0), free(gW_ih), free(gW_hh), free(gb_ih), free(gb_hh);
        free(gW_hr), free(w32work_base), free(r32_base);
    }

    grads_free(&G);
    free(y_ref), free(hn_ref), free(cn_ref), free(y), free(y2), free(hn), free(cn);
    free(dx), free(dx2), free(dh0), free(dc0);
    free(work_base), free(res_base), free(awork_base);
    problem_free();
}

/* LSTMCell: the reference is the layer loop with T = 1 and no projection;
 * the loss is sum(h_out * dh) + sum(c_out * dc) (dy = 0). */
static void test_cell_case(size_t B, size_t I, size_t H, int use_state, int bias) {
    lcase c;
    pylstm_sizes sz;
    double *h_ref, *c_ref, *h_out, *c_out, *dx, *dh, *dc, *y_ref;
    const double *h, *cc;
    void *work, *work_base, *res, *res_base;
    grads64 G;
    pylstm_status st;
    char tag[96], name[160];
    memset(&c, 0, sizeof c);
    c.T = 1, c.B = B, c.I = I, c.H = H, c.use_state = use_state, c.bias = bias;
    problem_setup(&c);
    fill(P_.dy, B * H, 0);
    h = use_state ? P_.h0 : NULL;
    cc = use_state ? P_.c0 : NULL;
    snprintf(tag, sizeof tag, "cell B=%zu I=%zu H=%zu state=%d bias=%d", B, I, H, use_state,
             bias);

    st = pylstm_cell_sizes_f64(I, H, B, &sz);
    check(st == PYLSTM_OK, "%s: sizes status %d", tag, (int)st);
    work = odd_alloc(sz.work_forward + sz.work_train + sz.work_backward, sizeof(double),
                     &work_base);
    res = odd_alloc(sz.reserve, sizeof(double), &res_base);
    y_ref = dalloc(B * H), h_ref = dalloc(B * H), c_ref = dalloc(B * H);
    ref_layer(1, B, I, H, 0, &P_.w, 0, P_.x, I, P_.h0, P_.c0, NULL, y_ref, H, h_ref, c_ref);

    h_out = dalloc(B * H), c_out = dalloc(B * H);
    st = pylstm_cell_forward_f64(I, H, B, &P_.w, P_.x, h, cc, h_out, c_out, work,
                                 sz.work_forward);
    check(st == PYLSTM_OK, "%s: forward status %d", tag, (int)st);
    snprintf(name, sizeof name, "%s: forward h_out", tag);
    check_close(name, h_out, h_ref, B * H, 1e-12);
    snprintf(name, sizeof name, "%s: forward c_out", tag);
    check_close(name, c_out, c_ref, B * H, 1e-12);

    fill(h_out, B * H, SENTINEL), fill(c_out, B * H, SENTINEL);
    st = pylstm_cell_forward_train_f64(I, H, B, &P_.w, P_.x, h, cc, h_out, c_out, res,
                                       sz.reserve, work, sz.work_train);
    check(st == PYLSTM_OK, "%s: forward_train status %d", tag, (int)st);
    snprintf(name, sizeof name, "%s: forward_train h_out", tag);
    check_close(name, h_out, h_ref, B * H, 1e-12);
    snprintf(name, sizeof name, "%s: forward_train c_out", tag);
    check_close(name, c_out, c_ref, B * H, 1e-12);

    dx = dalloc(B * I), dh = dalloc(B * H), dc = dalloc(B * H);
    grads_init(&G);
    st = pylstm_cell_backward_f64(I, H, B, &P_.w, P_.x, res, sz.reserve, P_.dhn, P_.dcn, dx, dh,
                                  dc, &G.g, work, sz.work_backward);
    check(st == PYLSTM_OK, "%s: backward status %d", tag, (int)st);
    check_all_fd(tag, dx, dh, dc, &G);

    /* float32 forward and backward against float64 */
    {
        float *W_ih = to_f32(P_.W_ih, 4 * H * I), *W_hh = to_f32(P_.W_hh, 4 * H * H);
        float *b_ih = to_f32(P_.b_ih, 4 * H), *b_hh = to_f32(P_.b_hh, 4 * H);
        float *x = to_f32(P_.x, B * I), *fh = to_f32(P_.h0, B * H), *fc = to_f32(P_.c0, B * H);
        float *dho = to_f32(P_.dhn, B * H), *dco = to_f32(P_.dcn, B * H);
        float *ho = to_f32(h_out, B * H), *co = to_f32(c_out, B * H), *fdx = to_f32(dx, B * I);
        float *fdh = to_f32(dh, B * H), *fdc = to_f32(dc, B * H);
        pylstm_weights_f32 w32;
        pylstm_sizes s32;
        void *wk, *wk_base, *rs, *rs_base;
        w32.W_ih = W_ih, w32.W_hh = W_hh, w32.W_hr = NULL;
        w32.b_ih = P_.w.b_ih ? b_ih : NULL, w32.b_hh = P_.w.b_hh ? b_hh : NULL;
        pylstm_cell_sizes_f32(I, H, B, &s32);
        wk = odd_alloc(s32.work_forward + s32.work_train + s32.work_backward, sizeof(float),
                       &wk_base);
        rs = odd_alloc(s32.reserve, sizeof(float), &rs_base);
        st = pylstm_cell_forward_f32(I, H, B, &w32, x, use_state ? fh : NULL,
                                     use_state ? fc : NULL, ho, co, wk, s32.work_forward);
        check(st == PYLSTM_OK, "%s: forward_f32 status %d", tag, (int)st);
        check_f32("forward h_out", tag, ho, h_ref, B * H, 1e-5);
        check_f32("forward c_out", tag, co, c_ref, B * H, 1e-5);
        st = pylstm_cell_forward_train_f32(I, H, B, &w32, x, use_state ? fh : NULL,
                                           use_state ? fc : NULL, ho, co, rs, s32.reserve, wk,
                                           s32.work_train);
        check(st == PYLSTM_OK, "%s: forward_train_f32 status %d", tag, (int)st);
        st = pylstm_cell_backward_f32(I, H, B, &w32, x, rs, s32.reserve, dho, dco, fdx, fdh, fdc,
                                      NULL, wk, s32.work_backward);
        check(st == PYLSTM_OK, "%s: backward_f32 status %d", tag, (int)st);
        check_f32("backward dx", tag, fdx, dx, B * I, 1e-4);
        check_f32("backward dh", tag, fdh, dh, B * H, 1e-4);
        check_f32("backward dc", tag, fdc, dc, B * H, 1e-4);
        free(W_ih), free(W_hh), free(b_ih), free(b_hh), free(x), free(fh), free(fc);
        free(dho), free(dco), free(ho), free(co), free(fdx), free(fdh), free(fdc);
        free(wk_base), free(rs_base);
    }

    grads_free(&G);
    free(y_ref), free(h_ref), free(c_ref), free(h_out), free(c_out), free(dx), free(dh);
    free(dc), free(work_base), free(res_base);
    problem_free();
}

/* Shapes past the GEMM's blocking (tiny shapes above exercise edge tiles
 * only): forward against the reference, backward against one directional
 * central difference along a random direction v of every input and
 * parameter at once, sum(grad . v) vs (L(p + eps v) - L(p - eps v)) / 2 eps. */
static void test_layer_large(const lcase *c) {
    const size_t T = c->T, B = c->B, I = c->I, H = c->H, P = c->P, H4 = 4 * c->H;
    double *arrays[8], *grads[8], *dirs[8], *y_ref, *y, *hn, *cn, *dx, *dh0, *dc0;
    size_t lens[8], ld[8], cols[8], n_arr, a, j, R, ny, nx;
    pylstm_layer_desc desc;
    pylstm_sizes sz;
    void *work, *work_base, *res, *res_base;
    grads64 G;
    pylstm_status st;
    double analytic = 0, lp, lm;
    const double eps = 1e-5;
    char tag[128], name[200];

    problem_setup(c);
    R = P_.R, ny = T * B * P_.ldy, nx = T * B * P_.ldx;
    snprintf(tag, sizeof tag, "large layer T=%zu B=%zu I=%zu H=%zu P=%zu rev=%d", T, B, I, H, P,
             c->reverse);
    desc.input_size = I, desc.hidden_size = H, desc.proj_size = P;
    pylstm_layer_sizes_f64(&desc, T, B, &sz);
    work = odd_alloc(sz.work_forward + sz.work_train + sz.work_backward, sizeof(double),
                     &work_base);
    res = odd_alloc(sz.reserve, sizeof(double), &res_base);
    y_ref = dalloc(ny), y = dalloc(ny), hn = dalloc(B * R), cn = dalloc(B * H);
    fill(y_ref, ny, SENTINEL), fill(y, ny, SENTINEL);
    ref_layer(T, B, I, H, P, &P_.w, c->reverse, P_.x, P_.ldx, P_.h0, P_.c0, problem_lengths(),
              y_ref, P_.ldy, NULL, NULL);
    st = pylstm_layer_forward_train_f64(&desc, &P_.w, T, B, c->reverse, P_.x, P_.ldx, P_.h0,
                                        P_.c0, problem_lengths(), y, P_.ldy, hn, cn, res,
                                        sz.reserve, work, sz.work_train);
    check(st == PYLSTM_OK, "%s: forward_train status %d", tag, (int)st);
    snprintf(name, sizeof name, "%s: forward_train y", tag);
    check_close(name, y, y_ref, ny, 1e-12);

    dx = dalloc(nx), dh0 = dalloc(B * R), dc0 = dalloc(B * H);
    fill(dx, nx, SENTINEL);
    grads_init(&G);
    st = pylstm_layer_backward_f64(&desc, &P_.w, T, B, c->reverse, P_.x, P_.ldx,
                                   problem_lengths(), res, sz.reserve, P_.dy, P_.ldy, P_.dhn,
                                   P_.dcn, dx, P_.ldx, dh0, dc0, &G.g, work, sz.work_backward);
    check(st == PYLSTM_OK, "%s: backward status %d", tag, (int)st);
    for (j = 0; j < H4 * I; ++j) G.W_ih[j] -= 0.25;
    for (j = 0; j < H4 * R; ++j) G.W_hh[j] -= 0.25;
    for (j = 0; j < H4; ++j) G.b_ih[j] -= 0.25, G.b_hh[j] -= 0.25;
    for (j = 0; j < P * H; ++j) G.W_hr[j] -= 0.25;

    n_arr = 0;
#define ADD(arr, grad, n, ld_, cols_) \
    arrays[n_arr] = arr, grads[n_arr] = grad, lens[n_arr] = n, ld[n_arr] = ld_, \
    cols[n_arr++] = cols_
    ADD(P_.x, dx, nx, P_.ldx, I);
    ADD(P_.h0, dh0, B * R, R, R);
    ADD(P_.c0, dc0, B * H, H, H);
    ADD(P_.W_ih, G.W_ih, H4 * I, I, I);
    ADD(P_.W_hh, G.W_hh, H4 * R, R, R);
    ADD(P_.b_ih, G.b_ih, H4, H4, H4);
    ADD(P_.b_hh, G.b_hh, H4, H4, H4);
    if (P) ADD(P_.W_hr, G.W_hr, P * H, H, H);
#undef ADD
    for (a = 0; a < n_arr; ++a) {
        dirs[a] = dalloc(lens[a]);
        for (j = 0; j < lens[a]; ++j) {
            dirs[a][j] = j % ld[a] < cols[a] ? urand() : 0;
            if (dirs[a][j] != 0) analytic += grads[a][j] * dirs[a][j];
        }
    }
    for (a = 0; a < n_arr; ++a)
        for (j = 0; j < lens[a]; ++j) arrays[a][j] += eps * dirs[a][j];
    lp = ref_loss();
    for (a = 0; a < n_arr; ++a)
        for (j = 0; j < lens[a]; ++j) arrays[a][j] -= 2 * eps * dirs[a][j];
    lm = ref_loss();
    for (a = 0; a < n_arr; ++a)
        for (j = 0; j < lens[a]; ++j) arrays[a][j] += eps * dirs[a][j];
    {
        const double numeric = (lp - lm) / (2 * eps);
        check(fabs(analytic - numeric) <= 1e-6 * (1 + fabs(numeric)),
              "%s: directional derivative %.12g vs finite difference %.12g", tag, analytic,
              numeric);
    }
    for (a = 0; a < n_arr; ++a) free(dirs[a]);
    grads_free(&G);
    free(y_ref), free(y), free(hn), free(cn), free(dx), free(dh0), free(dc0);
    free(work_base), free(res_base);
    problem_free();
}

static void test_numerics(void) {
    static const lcase fixed[] = {
        /* T  B  I  H  P  rev len state bias xpad ypad */
        {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
        {1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0},
        {1, 1, 1, 2, 1, 0, 1, 1, 0, 0, 0},
        {1, 1, 1, 2, 1, 1, 0, 1, 3, 0, 0},
        {3, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0},
        {3, 2, 3, 4, 0, 1, 0, 1, 0, 0, 0},
        {5, 3, 2, 3, 0, 0, 1, 1, 0, 2, 1},
        {5, 3, 2, 3, 0, 1, 1, 1, 1, 2, 1},
        {4, 3, 3, 5, 2, 0, 1, 1, 0, 1, 3},
        {4, 3, 3, 5, 2, 1, 1, 1, 2, 1, 3},
        {6, 5, 7, 3, 1, 1, 1, 0, 0, 0, 0},
        {7, 4, 5, 6, 5, 0, 1, 0, 3, 0, 2},
    };
    size_t k;
    for (k = 0; k < sizeof fixed / sizeof fixed[0]; ++k) test_layer_case(&fixed[k]);
    /* Seeded random shapes: sizes from 1 to small primes. */
    for (k = 0; k < 10; ++k) {
        lcase c;
        c.T = rnd(1, 7), c.B = rnd(1, 5), c.I = rnd(1, 7), c.H = rnd(1, 7);
        c.P = c.H > 1 && (next_u64() & 1) ? rnd(1, c.H - 1) : 0;
        c.reverse = (int)(next_u64() & 1), c.use_lengths = (int)(next_u64() & 1);
        c.use_state = (int)(next_u64() & 1), c.bias = (int)rnd(0, 3);
        c.xpad = rnd(0, 2), c.ypad = rnd(0, 2);
        test_layer_case(&c);
    }
    {
        static const lcase large[] = {
            {9, 17, 33, 40, 0, 0, 1, 1, 0, 3, 1},
            {7, 19, 70, 37, 13, 1, 1, 1, 0, 0, 2},
            {3, 65, 129, 67, 0, 1, 0, 1, 3, 1, 0},
        };
        for (k = 0; k < sizeof large / sizeof large[0]; ++k) test_layer_large(&large[k]);
    }
    test_cell_case(1, 1, 1, 0, 0);
    test_cell_case(1, 1, 1, 1, 3);
    test_cell_case(3, 4, 5, 1, 0);
    test_cell_case(2, 7, 3, 0, 1);
    test_cell_case(5, 2, 4, 1, 2);
}

/* NaN and Inf are not errors: they propagate. */
static void test_nan_propagates(void) {
    const pylstm_layer_desc desc = {2, 3, 0};
    double W_ih[24], W_hh[36], x[2 * 2 * 2], y[2 * 2 * 3];
    pylstm_weights_f64 w = {NULL, NULL, NULL, NULL, NULL};
    pylstm_sizes sz;
    void *work;
    size_t j;
    pylstm_status st;
    for (j = 0; j < 24; ++j) W_ih[j] = 0.1 * urand();
    for (j = 0; j < 36; ++j) W_hh[j] = 0.1 * urand();
    for (j = 0; j < 8; ++j) x[j] = urand();
    x[0] = NAN; /* (t=0, b=0): poisons batch row 0 from t=0 on, never row 1 */
    w.W_ih = W_ih, w.W_hh = W_hh;
    pylstm_layer_sizes_f64(&desc, 2, 2, &sz);
    work = malloc(sz.work_forward);
    st = pylstm_layer_forward_f64(&desc, &w, 2, 2, 0, x, 2, NULL, NULL, NULL, y, 3, NULL, NULL,
                                  work, sz.work_forward);
    check(st == PYLSTM_OK && isnan(y[0]) && isnan(y[2 * 3]) && !isnan(y[3]) && !isnan(y[9]),
          "NaN in x: status OK (%d), NaN in its sequence's outputs only", (int)st);
    free(work);
}

/* The model with work and reserve one element off a 64-byte boundary gives
 * bit-identical results to 64-byte aligned buffers. */
static void test_model_unaligned(void) {
    const pylstm_model_desc desc = {3, 4, 2, 2, 1};
    enum { T = 3, B = 2, K = 4, R = 2, H = 4, DR = 4 };
    double params[K][5][4 * H * DR];
    pylstm_weights_f64 w[K];
    double x[T * B * 3], y[2][T * B * DR], hn[2][K * B * R], dx[2][T * B * 3];
    double dy[T * B * DR], gw[2][K][4 * H * DR];
    pylstm_grads_f64 g[2][K];
    pylstm_sizes sz;
    size_t k, m, j, v;
    for (k = 0; k < K; ++k) {
        for (m = 0; m < 5; ++m)
            for (j = 0; j < 4 * H * DR; ++j) params[k][m][j] = 0.5 * urand();
        w[k].W_ih = params[k][0], w[k].W_hh = params[k][1], w[k].b_ih = params[k][2];
        w[k].b_hh = params[k][3], w[k].W_hr = params[k][4];
    }
    for (j = 0; j < T * B * 3; ++j) x[j] = urand();
    for (j = 0; j < T * B * DR; ++j) dy[j] = urand();
    pylstm_model_sizes_f64(&desc, T, B, &sz);
    for (v = 0; v < 2; ++v) {
        void *base_w, *base_r;
        void *work = odd_alloc(sz.work_forward + sz.work_train + sz.work_backward,
                               v ? sizeof(double) : 0, &base_w);
        void *res = odd_alloc(sz.reserve, v ? sizeof(double) : 0, &base_r);
        pylstm_status s1, s2;
        memset(gw[v], 0, sizeof gw[v]);
        for (k = 0; k < K; ++k) {
            g[v][k].W_ih = gw[v][k], g[v][k].W_hh = NULL, g[v][k].b_ih = NULL;
            g[v][k].b_hh = NULL, g[v][k].W_hr = NULL;
        }
        s1 = pylstm_model_forward_train_f64(&desc, w, T, B, x, NULL, NULL, NULL, 0.3, 5, y[v],
                                            hn[v], NULL, res, sz.reserve, work, sz.work_train);
        s2 = pylstm_model_backward_f64(&desc, w, T, B, x, NULL, res, sz.reserve, dy, NULL, NULL,
                                       dx[v], NULL, NULL, g[v], work, sz.work_backward);
        check(s1 == PYLSTM_OK && s2 == PYLSTM_OK, "model with %s work/reserve: status %d, %d",
              v ? "odd" : "aligned", (int)s1, (int)s2);
        free(base_w), free(base_r);
    }
    check(memcmp(y[0], y[1], sizeof y[0]) == 0 && memcmp(hn[0], hn[1], sizeof hn[0]) == 0 &&
              memcmp(dx[0], dx[1], sizeof dx[0]) == 0 && memcmp(gw[0], gw[1], sizeof gw[0]) == 0,
          "model: odd and aligned work/reserve give bit-identical y, h_n, dx, dW_ih");
}

/* ===========================================================================
 * Errors: each status triggered by a real call, nothing the caller owns
 * written.
 * ======================================================================== */

/* Every buffer a call may own, refilled with one byte pattern before each
 * call and compared afterwards. */
#define NBUF 4096
static double E_y[NBUF], E_hn[NBUF], E_cn[NBUF], E_dx[NBUF], E_dh0[NBUF], E_dc0[NBUF];
static double E_gW_ih[NBUF], E_gW_hh[NBUF], E_gb_ih[NBUF], E_gb_hh[NBUF], E_gW_hr[NBUF];
/* work and reserve: malloc'ed by test_errors to the largest size any base
 * case asks for, plus a margin. */
static unsigned char *E_work, *E_res;
static size_t E_work_len, E_res_len;
static unsigned char *E_bufs[13];
static size_t E_lens[13];
static const char *const E_names[] = {"y",     "h_n",  "c_n",  "dx",   "dh0",  "dc0",  "g.W_ih",
                                      "g.W_hh", "g.b_ih", "g.b_hh", "g.W_hr", "work", "reserve"};
#define E_PATTERN 0x5A

static void set_buffers(void) {
    double *const d[] = {E_y,    E_hn,    E_cn,    E_dx,    E_dh0,  E_dc0,
                         E_gW_ih, E_gW_hh, E_gb_ih, E_gb_hh, E_gW_hr};
    size_t k;
    for (k = 0; k < 11; ++k) E_bufs[k] = (unsigned char *)d[k], E_lens[k] = NBUF * sizeof(double);
    E_bufs[11] = E_work, E_lens[11] = E_work_len;
    E_bufs[12] = E_res, E_lens[12] = E_res_len;
}

static void fill_outputs(void) {
    size_t k;
    for (k = 0; k < sizeof E_lens / sizeof E_lens[0]; ++k) memset(E_bufs[k], E_PATTERN, E_lens[k]);
}

/* A sizes query that fails leaves *out alone: the caller's struct starts as
 * the byte pattern (SZ wraps the call) and is compared with it afterwards. */
static pylstm_sizes dummy;
#define SZ(call) (memset(&dummy, E_PATTERN, sizeof dummy), (call))

static void expect_sizes(const char *what, pylstm_status got, pylstm_status want) {
    const unsigned char *b = (const unsigned char *)&dummy;
    size_t j;
    int touched = 0;
    check(got == want, "%s: status %d (%s), expected %d (%s)", what, (int)got,
          pylstm_strerror(got), (int)want, pylstm_strerror(want));
    if (want == PYLSTM_OK) return;
    for (j = 0; j < sizeof dummy; ++j) touched |= b[j] != E_PATTERN;
    check(!touched, "%s: failed call wrote into out", what);
}

/* One check for the status, one for the buffers. */
static void expect(const char *what, pylstm_status got, pylstm_status want) {
    size_t k, j;
    const char *touched = NULL;
    check(got == want, "%s: status %d (%s), expected %d (%s)", what, (int)got,
          pylstm_strerror(got), (int)want, pylstm_strerror(want));
    if (want == PYLSTM_OK) return;
    for (k = 0; k < sizeof E_lens / sizeof E_lens[0] && !touched; ++k)
        for (j = 0; j < E_lens[k]; ++j)
            if (E_bufs[k][j] != E_PATTERN) {
                touched = E_names[k];
                break;
            }
    check(touched == NULL, "%s: failed call wrote into %s", what, touched ? touched : "");
}

/* Error-test inputs (read only): small random weights and data. */
static double E_W[NBUF], E_x[NBUF], E_h0[NBUF], E_c0[NBUF], E_dy[NBUF], E_dhn[NBUF],
    E_dcn[NBUF];

/* The arguments of the layer functions, valid unless a test mutates one. */
typedef struct {
    const pylstm_layer_desc *desc;
    const pylstm_weights_f64 *w;
    size_t T, B;
    int reverse;
    const double *x;
    size_t ldx;
    const int64_t *lengths;
    double *y;
    size_t ldy;
    void *reserve, *work;
    size_t reserve_size, work_f, work_t, work_b;
    const double *dy;
    size_t lddy;
    double *dx;
    size_t lddx;
    const pylstm_grads_f64 *g;
} largs;

enum { F_FWD = 1, F_TRAIN = 2, F_BWD = 4, F_ALL = 7 };

static void layer_expect(const char *what, const largs *a, int which, pylstm_status want) {
    char name[160];
    if (which & F_FWD) {
        fill_outputs();
        snprintf(name, sizeof name, "layer_forward_f64 %s", what);
        expect(name, pylstm_layer_forward_f64(a->desc, a->w, a->T, a->B, a->reverse, a->x, a->ldx,
                                              E_h0, E_c0, a->lengths, a->y, a->ldy, E_hn, E_cn,
                                              a->work, a->work_f),
               want);
    }
    if (which & F_TRAIN) {
        fill_outputs();
        snprintf(name, sizeof name, "layer_forward_train_f64 %s", what);
        expect(name, pylstm_layer_forward_train_f64(a->desc, a->w, a->T, a->B, a->reverse, a->x,
                                                    a->ldx, E_h0, E_c0, a->lengths, a->y, a->ldy,
                                                    E_hn, E_cn, a->reserve, a->reserve_size,
                                                    a->work, a->work_t),
               want);
    }
    if (which & F_BWD) {
        fill_outputs();
        snprintf(name, sizeof name, "layer_backward_f64 %s", what);
        expect(name, pylstm_layer_backward_f64(a->desc, a->w, a->T, a->B, a->reverse, a->x,
                                               a->ldx, a->lengths, a->reserve, a->reserve_size,
                                               a->dy, a->lddy, E_dhn, E_dcn, a->dx, a->lddx,
                                               E_dh0, E_dc0, a->g, a->work, a->work_b),
               want);
    }
}

static void test_layer_errors(size_t P) {
    pylstm_layer_desc desc = {3, 4, 0}, bad;
    pylstm_weights_f64 w, wbad;
    pylstm_grads_f64 g;
    pylstm_sizes sz;
    largs base, a;
    const size_t T = 3, B = 2, R = P ? P : 4;
    int64_t lengths[2];
    const size_t half = (size_t)1 << (sizeof(size_t) * 4);
    desc.proj_size = P;
    w.W_ih = E_W, w.W_hh = E_W, w.b_ih = E_W, w.b_hh = E_W, w.W_hr = P ? E_W : NULL;
    g.W_ih = E_gW_ih, g.W_hh = E_gW_hh, g.b_ih = E_gb_ih, g.b_hh = E_gb_hh;
    g.W_hr = P ? E_gW_hr : NULL;

    /* sizes */
    expect_sizes("layer_sizes_f64 valid", SZ(pylstm_layer_sizes_f64(&desc, T, B, &sz)), PYLSTM_OK);
    check(sz.work_train < E_work_len && sz.reserve < E_res_len &&
              sz.work_forward < E_work_len && sz.work_backward < E_work_len,
          "error-test buffers large enough");
    expect_sizes("layer_sizes_f64 desc NULL", SZ(pylstm_layer_sizes_f64(NULL, T, B, &dummy)),
           PYLSTM_ERR_NULL_POINTER);
    expect_sizes("layer_sizes_f64 out NULL", SZ(pylstm_layer_sizes_f64(&desc, T, B, NULL)),
           PYLSTM_ERR_NULL_POINTER);
    expect_sizes("layer_sizes_f64 T=0", SZ(pylstm_layer_sizes_f64(&desc, 0, B, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    expect_sizes("layer_sizes_f64 B=0", SZ(pylstm_layer_sizes_f64(&desc, T, 0, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.input_size = 0;
    expect_sizes("layer_sizes_f64 I=0", SZ(pylstm_layer_sizes_f64(&bad, T, B, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.hidden_size = 0, bad.proj_size = 0;
    expect_sizes("layer_sizes_f64 H=0", SZ(pylstm_layer_sizes_f64(&bad, T, B, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.proj_size = bad.hidden_size;
    expect_sizes("layer_sizes_f64 P=H", SZ(pylstm_layer_sizes_f64(&bad, T, B, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    expect_sizes("layer_sizes_f64 T=SIZE_MAX/2", SZ(pylstm_layer_sizes_f64(&desc, SIZE_MAX / 2, B, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    expect_sizes("layer_sizes_f64 T=SIZE_MAX", SZ(pylstm_layer_sizes_f64(&desc, SIZE_MAX, 1, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    expect_sizes("layer_sizes_f64 B=SIZE_MAX/2", SZ(pylstm_layer_sizes_f64(&desc, T, SIZE_MAX / 2, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    expect_sizes("layer_sizes_f64 T*B overflows", SZ(pylstm_layer_sizes_f64(&desc, half, half, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    bad = desc, bad.hidden_size = SIZE_MAX / 2;
    expect_sizes("layer_sizes_f64 H=SIZE_MAX/2", SZ(pylstm_layer_sizes_f64(&bad, 1, 1, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    bad = desc, bad.hidden_size = SIZE_MAX / 16;
    expect_sizes("layer_sizes_f64 H=SIZE_MAX/16 (bytes overflow)",
           SZ(pylstm_layer_sizes_f64(&bad, 1, 1, &dummy)), PYLSTM_ERR_OVERFLOW);
    expect_sizes("layer_sizes_f32 T=SIZE_MAX/2", SZ(pylstm_layer_sizes_f32(&desc, SIZE_MAX / 2, B, &dummy)),
           PYLSTM_ERR_OVERFLOW);

    /* forward, training forward, backward */
    base.desc = &desc, base.w = &w, base.T = T, base.B = B, base.reverse = 0, base.x = E_x;
    base.ldx = 3, base.lengths = NULL, base.y = E_y, base.ldy = R, base.reserve = E_res;
    base.work = E_work, base.reserve_size = sz.reserve, base.work_f = sz.work_forward;
    base.work_t = sz.work_train, base.work_b = sz.work_backward, base.dy = E_dy;
    base.lddy = R, base.dx = E_dx, base.lddx = 3, base.g = &g;

    /* The valid base call succeeds (else every other check is meaningless). */
    layer_expect(P ? "valid (P>0)" : "valid (P=0)", &base, F_ALL, PYLSTM_OK);

    a = base, a.desc = NULL;
    layer_expect("desc NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    a = base, a.w = NULL;
    layer_expect("weights NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    wbad = w, wbad.W_ih = NULL, a = base, a.w = &wbad;
    layer_expect("W_ih NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    wbad = w, wbad.W_hh = NULL, a = base, a.w = &wbad;
    layer_expect("W_hh NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    a = base, a.x = NULL;
    layer_expect("x NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    a = base, a.y = NULL;
    layer_expect("y NULL", &a, F_FWD | F_TRAIN, PYLSTM_ERR_NULL_POINTER);
    a = base, a.work = NULL;
    layer_expect("work NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    a = base, a.reserve = NULL;
    layer_expect("reserve NULL", &a, F_TRAIN | F_BWD, PYLSTM_ERR_NULL_POINTER);
    a = base, a.T = 0;
    layer_expect("T=0", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    a = base, a.B = 0;
    layer_expect("B=0", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.input_size = 0, a = base, a.desc = &bad, a.ldx = 0, a.lddx = 0;
    layer_expect("I=0", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.hidden_size = 0, bad.proj_size = 0, a = base, a.desc = &bad;
    wbad = w, wbad.W_hr = NULL, a.w = &wbad;
    layer_expect("H=0", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.proj_size = 4, a = base, a.desc = &bad, wbad = w, wbad.W_hr = E_W,
    a.w = &wbad;
    layer_expect("P=H", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    bad.proj_size = 5;
    layer_expect("P>H", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    a = base, a.ldx = 2;
    layer_expect("ldx < I", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    a = base, a.ldy = R - 1;
    layer_expect("ldy < R", &a, F_FWD | F_TRAIN, PYLSTM_ERR_BAD_SIZE);
    a = base, a.lddy = R - 1;
    layer_expect("lddy < R", &a, F_BWD, PYLSTM_ERR_BAD_SIZE);
    a = base, a.lddx = 2;
    layer_expect("lddx < I", &a, F_BWD, PYLSTM_ERR_BAD_SIZE);
    if (P == 0) {
        wbad = w, wbad.W_hr = E_W, a = base, a.w = &wbad;
        layer_expect("W_hr given with P=0", &a, F_ALL, PYLSTM_ERR_BAD_ARGUMENT);
    } else {
        wbad = w, wbad.W_hr = NULL, a = base, a.w = &wbad;
        layer_expect("W_hr NULL with P>0", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    }
    a = base, a.reverse = 2;
    layer_expect("reverse=2", &a, F_ALL, PYLSTM_ERR_BAD_ARGUMENT);
    a = base, a.reverse = -1;
    layer_expect("reverse=-1", &a, F_ALL, PYLSTM_ERR_BAD_ARGUMENT);
    a = base, a.lengths = lengths;
    lengths[0] = 3, lengths[1] = 0;
    layer_expect("length 0", &a, F_ALL, PYLSTM_ERR_BAD_LENGTHS);
    lengths[0] = (int64_t)T + 1, lengths[1] = 1;
    layer_expect("length T+1", &a, F_ALL, PYLSTM_ERR_BAD_LENGTHS);
    lengths[0] = 2, lengths[1] = -1;
    layer_expect("length -1", &a, F_ALL, PYLSTM_ERR_BAD_LENGTHS);
    lengths[0] = INT64_MIN, lengths[1] = 1;
    layer_expect("length INT64_MIN", &a, F_ALL, PYLSTM_ERR_BAD_LENGTHS);
    lengths[0] = 1, lengths[1] = (int64_t)T;
    layer_expect("lengths 1 and T (valid)", &a, F_ALL, PYLSTM_OK);
    a = base, a.work_f = sz.work_forward - 1, a.work_t = sz.work_train - 1;
    a.work_b = sz.work_backward - 1;
    layer_expect("work one byte short", &a, F_ALL, PYLSTM_ERR_WORK_TOO_SMALL);
    a = base, a.reserve_size = sz.reserve - 1;
    layer_expect("reserve one byte short", &a, F_TRAIN | F_BWD, PYLSTM_ERR_RESERVE_TOO_SMALL);
    a = base, a.T = SIZE_MAX / 2;
    layer_expect("T=SIZE_MAX/2", &a, F_ALL, PYLSTM_ERR_OVERFLOW);
    a = base, a.B = SIZE_MAX / 2;
    layer_expect("B=SIZE_MAX/2", &a, F_ALL, PYLSTM_ERR_OVERFLOW);
    /* Optional pointers NULL are valid. */
    a = base, a.dy = NULL, a.dx = NULL, a.g = NULL, a.lddy = 0, a.lddx = 0;
    layer_expect("dy, dx, g NULL (valid, strides unused)", &a, F_BWD, PYLSTM_OK);
    wbad = w, wbad.b_ih = NULL, wbad.b_hh = NULL, a = base, a.w = &wbad;
    layer_expect("biases NULL (valid)", &a, F_ALL, PYLSTM_OK);
}

/* float32: the same checks run through the same generic code; a sample. */
static void test_layer_errors_f32(void) {
    static float W[NBUF], x[NBUF], y[NBUF];
    const pylstm_layer_desc desc = {3, 4, 0};
    pylstm_weights_f32 w = {NULL, NULL, NULL, NULL, NULL};
    pylstm_sizes sz;
    int64_t lengths[2] = {1, 4};
    w.W_ih = W, w.W_hh = W;
    expect_sizes("layer_sizes_f32 valid", SZ(pylstm_layer_sizes_f32(&desc, 3, 2, &sz)), PYLSTM_OK);
    fill_outputs();
    expect("layer_forward_f32 x NULL",
           pylstm_layer_forward_f32(&desc, &w, 3, 2, 0, NULL, 3, NULL, NULL, NULL, y, 4, NULL,
                                    NULL, E_work, sz.work_forward),
           PYLSTM_ERR_NULL_POINTER);
    fill_outputs();
    expect("layer_forward_f32 ldx < I",
           pylstm_layer_forward_f32(&desc, &w, 3, 2, 0, x, 2, NULL, NULL, NULL, (float *)E_y, 4,
                                    NULL, NULL, E_work, sz.work_forward),
           PYLSTM_ERR_BAD_SIZE);
    fill_outputs();
    expect("layer_forward_f32 length T+1",
           pylstm_layer_forward_f32(&desc, &w, 3, 2, 0, x, 3, NULL, NULL, lengths, (float *)E_y,
                                    4, NULL, NULL, E_work, sz.work_forward),
           PYLSTM_ERR_BAD_LENGTHS);
    fill_outputs();
    expect("layer_forward_f32 work one byte short",
           pylstm_layer_forward_f32(&desc, &w, 3, 2, 0, x, 3, NULL, NULL, NULL, (float *)E_y, 4,
                                    (float *)E_hn, (float *)E_cn, E_work, sz.work_forward - 1),
           PYLSTM_ERR_WORK_TOO_SMALL);
    fill_outputs();
    expect("layer_forward_train_f32 reserve one byte short",
           pylstm_layer_forward_train_f32(&desc, &w, 3, 2, 0, x, 3, NULL, NULL, NULL,
                                          (float *)E_y, 4, NULL, NULL, E_res, sz.reserve - 1,
                                          E_work, sz.work_train),
           PYLSTM_ERR_RESERVE_TOO_SMALL);
    fill_outputs();
    expect("layer_backward_f32 work one byte short",
           pylstm_layer_backward_f32(&desc, &w, 3, 2, 0, x, 3, NULL, E_res, sz.reserve, NULL, 4,
                                     NULL, NULL, (float *)E_dx, 3, NULL, NULL, NULL, E_work,
                                     sz.work_backward - 1),
           PYLSTM_ERR_WORK_TOO_SMALL);
    fill_outputs();
    expect("layer_backward_f32 reverse=3",
           pylstm_layer_backward_f32(&desc, &w, 3, 2, 3, x, 3, NULL, E_res, sz.reserve, NULL, 4,
                                     NULL, NULL, (float *)E_dx, 3, NULL, NULL, NULL, E_work,
                                     sz.work_backward),
           PYLSTM_ERR_BAD_ARGUMENT);
}

static void test_cell_errors(void) {
    const size_t I = 3, H = 4, B = 2;
    pylstm_weights_f64 w = {NULL, NULL, NULL, NULL, NULL}, wbad;
    pylstm_grads_f64 g;
    pylstm_sizes sz;
    w.W_ih = E_W, w.W_hh = E_W, w.b_ih = E_W, w.b_hh = E_W;
    g.W_ih = E_gW_ih, g.W_hh = E_gW_hh, g.b_ih = E_gb_ih, g.b_hh = E_gb_hh, g.W_hr = NULL;

    expect_sizes("cell_sizes_f64 valid", SZ(pylstm_cell_sizes_f64(I, H, B, &sz)), PYLSTM_OK);
    expect_sizes("cell_sizes_f64 out NULL", SZ(pylstm_cell_sizes_f64(I, H, B, NULL)),
           PYLSTM_ERR_NULL_POINTER);
    expect_sizes("cell_sizes_f64 I=0", SZ(pylstm_cell_sizes_f64(0, H, B, &dummy)), PYLSTM_ERR_BAD_SIZE);
    expect_sizes("cell_sizes_f64 H=0", SZ(pylstm_cell_sizes_f64(I, 0, B, &dummy)), PYLSTM_ERR_BAD_SIZE);
    expect_sizes("cell_sizes_f64 B=0", SZ(pylstm_cell_sizes_f64(I, H, 0, &dummy)), PYLSTM_ERR_BAD_SIZE);
    expect_sizes("cell_sizes_f64 H=SIZE_MAX/16", SZ(pylstm_cell_sizes_f64(I, SIZE_MAX / 16, 1, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    expect_sizes("cell_sizes_f64 B=SIZE_MAX/2", SZ(pylstm_cell_sizes_f64(I, H, SIZE_MAX / 2, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    expect_sizes("cell_sizes_f32 B=0", SZ(pylstm_cell_sizes_f32(I, H, 0, &dummy)), PYLSTM_ERR_BAD_SIZE);

#define CELL_FWD(what, I_, H_, B_, w_, x_, ho, co, wk, wsz, want)                               \
    do {                                                                                       \
        fill_outputs();                                                                        \
        expect("cell_forward_f64 " what,                                                      \
               pylstm_cell_forward_f64(I_, H_, B_, w_, x_, E_h0, E_c0, ho, co, wk, wsz), want); \
    } while (0)
#define CELL_TRAIN(what, I_, H_, B_, w_, x_, ho, co, rs, rsz, wk, wsz, want)                   \
    do {                                                                                       \
        fill_outputs();                                                                        \
        expect("cell_forward_train_f64 " what,                                                \
               pylstm_cell_forward_train_f64(I_, H_, B_, w_, x_, E_h0, E_c0, ho, co, rs, rsz,  \
                                             wk, wsz),                                         \
               want);                                                                          \
    } while (0)
#define CELL_BWD(what, I_, H_, B_, w_, x_, rs, rsz, wk, wsz, want)                             \
    do {                                                                                       \
        fill_outputs();                                                                        \
        expect("cell_backward_f64 " what,                                                     \
               pylstm_cell_backward_f64(I_, H_, B_, w_, x_, rs, rsz, E_dhn, E_dcn, E_dx, E_dh0, \
                                        E_dc0, &g, wk, wsz),                                   \
               want);                                                                          \
    } while (0)
#define CELL_ALL(what, I_, H_, B_, w_, x_, want)                                               \
    do {                                                                                       \
        CELL_FWD(what, I_, H_, B_, w_, x_, E_y, E_cn, E_work, sz.work_forward, want);          \
        CELL_TRAIN(what, I_, H_, B_, w_, x_, E_y, E_cn, E_res, sz.reserve, E_work,             \
                   sz.work_train, want);                                                       \
        CELL_BWD(what, I_, H_, B_, w_, x_, E_res, sz.reserve, E_work, sz.work_backward, want); \
    } while (0)

    CELL_ALL("valid", I, H, B, &w, E_x, PYLSTM_OK);
    CELL_ALL("weights NULL", I, H, B, NULL, E_x, PYLSTM_ERR_NULL_POINTER);
    wbad = w, wbad.W_ih = NULL;
    CELL_ALL("W_ih NULL", I, H, B, &wbad, E_x, PYLSTM_ERR_NULL_POINTER);
    wbad = w, wbad.W_hh = NULL;
    CELL_ALL("W_hh NULL", I, H, B, &wbad, E_x, PYLSTM_ERR_NULL_POINTER);
    CELL_ALL("x NULL", I, H, B, &w, NULL, PYLSTM_ERR_NULL_POINTER);
    wbad = w, wbad.W_hr = E_W;
    CELL_ALL("W_hr given", I, H, B, &wbad, E_x, PYLSTM_ERR_BAD_ARGUMENT);
    CELL_ALL("I=0", 0, H, B, &w, E_x, PYLSTM_ERR_BAD_SIZE);
    CELL_ALL("H=0", I, 0, B, &w, E_x, PYLSTM_ERR_BAD_SIZE);
    CELL_ALL("B=0", I, H, 0, &w, E_x, PYLSTM_ERR_BAD_SIZE);
    CELL_ALL("B=SIZE_MAX/2", I, H, SIZE_MAX / 2, &w, E_x, PYLSTM_ERR_OVERFLOW);
    CELL_FWD("h_out NULL", I, H, B, &w, E_x, NULL, E_cn, E_work, sz.work_forward,
             PYLSTM_ERR_NULL_POINTER);
    CELL_FWD("c_out NULL", I, H, B, &w, E_x, E_y, NULL, E_work, sz.work_forward,
             PYLSTM_ERR_NULL_POINTER);
    CELL_FWD("work NULL", I, H, B, &w, E_x, E_y, E_cn, NULL, sz.work_forward,
             PYLSTM_ERR_NULL_POINTER);
    CELL_FWD("work one byte short", I, H, B, &w, E_x, E_y, E_cn, E_work, sz.work_forward - 1,
             PYLSTM_ERR_WORK_TOO_SMALL);
    CELL_TRAIN("h_out NULL", I, H, B, &w, E_x, NULL, E_cn, E_res, sz.reserve, E_work,
               sz.work_train, PYLSTM_ERR_NULL_POINTER);
    CELL_TRAIN("c_out NULL", I, H, B, &w, E_x, E_y, NULL, E_res, sz.reserve, E_work,
               sz.work_train, PYLSTM_ERR_NULL_POINTER);
    CELL_TRAIN("reserve NULL", I, H, B, &w, E_x, E_y, E_cn, NULL, sz.reserve, E_work,
               sz.work_train, PYLSTM_ERR_NULL_POINTER);
    CELL_TRAIN("work NULL", I, H, B, &w, E_x, E_y, E_cn, E_res, sz.reserve, NULL, sz.work_train,
               PYLSTM_ERR_NULL_POINTER);
    CELL_TRAIN("reserve one byte short", I, H, B, &w, E_x, E_y, E_cn, E_res, sz.reserve - 1,
               E_work, sz.work_train, PYLSTM_ERR_RESERVE_TOO_SMALL);
    CELL_TRAIN("work one byte short", I, H, B, &w, E_x, E_y, E_cn, E_res, sz.reserve, E_work,
               sz.work_train - 1, PYLSTM_ERR_WORK_TOO_SMALL);
    CELL_BWD("reserve NULL", I, H, B, &w, E_x, NULL, sz.reserve, E_work, sz.work_backward,
             PYLSTM_ERR_NULL_POINTER);
    CELL_BWD("work NULL", I, H, B, &w, E_x, E_res, sz.reserve, NULL, sz.work_backward,
             PYLSTM_ERR_NULL_POINTER);
    CELL_BWD("reserve one byte short", I, H, B, &w, E_x, E_res, sz.reserve - 1, E_work,
             sz.work_backward, PYLSTM_ERR_RESERVE_TOO_SMALL);
    CELL_BWD("work one byte short", I, H, B, &w, E_x, E_res, sz.reserve, E_work,
             sz.work_backward - 1, PYLSTM_ERR_WORK_TOO_SMALL);
    {
        static float fW[NBUF], fx[NBUF];
        pylstm_weights_f32 w32 = {NULL, NULL, NULL, NULL, NULL};
        pylstm_sizes s32;
        w32.W_ih = fW, w32.W_hh = fW;
        pylstm_cell_sizes_f32(I, H, B, &s32);
        fill_outputs();
        expect("cell_forward_f32 work one byte short",
               pylstm_cell_forward_f32(I, H, B, &w32, fx, NULL, NULL, (float *)E_y,
                                       (float *)E_cn, E_work, s32.work_forward - 1),
               PYLSTM_ERR_WORK_TOO_SMALL);
        fill_outputs();
        expect("cell_backward_f32 reserve NULL",
               pylstm_cell_backward_f32(I, H, B, &w32, fx, NULL, s32.reserve, NULL, NULL,
                                        (float *)E_dx, NULL, NULL, NULL, E_work,
                                        s32.work_backward),
               PYLSTM_ERR_NULL_POINTER);
    }
#undef CELL_FWD
#undef CELL_TRAIN
#undef CELL_BWD
#undef CELL_ALL
}

/* Model arguments, valid unless a test mutates one. */
typedef struct {
    const pylstm_model_desc *desc;
    const pylstm_weights_f64 *w;
    size_t T, B;
    const double *x;
    const int64_t *lengths;
    double dropout;
    double *y;
    void *reserve, *work;
    size_t reserve_size, work_f, work_t, work_b;
} margs;

static void model_expect(const char *what, const margs *a, int which, pylstm_status want) {
    pylstm_grads_f64 g[4];
    size_t k;
    char name[160];
    for (k = 0; k < 4; ++k) {
        g[k].W_ih = E_gW_ih, g[k].W_hh = E_gW_hh, g[k].b_ih = E_gb_ih, g[k].b_hh = E_gb_hh;
        g[k].W_hr = E_gW_hr;
    }
    if (which & F_FWD) {
        fill_outputs();
        snprintf(name, sizeof name, "model_forward_f64 %s", what);
        expect(name, pylstm_model_forward_f64(a->desc, a->w, a->T, a->B, a->x, E_h0, E_c0,
                                              a->lengths, a->y, E_hn, E_cn, a->work, a->work_f),
               want);
    }
    if (which & F_TRAIN) {
        fill_outputs();
        snprintf(name, sizeof name, "model_forward_train_f64 %s", what);
        expect(name, pylstm_model_forward_train_f64(a->desc, a->w, a->T, a->B, a->x, E_h0, E_c0,
                                                    a->lengths, a->dropout, 99, a->y, E_hn, E_cn,
                                                    a->reserve, a->reserve_size, a->work,
                                                    a->work_t),
               want);
    }
    if (which & F_BWD) {
        fill_outputs();
        snprintf(name, sizeof name, "model_backward_f64 %s", what);
        expect(name, pylstm_model_backward_f64(a->desc, a->w, a->T, a->B, a->x, a->lengths,
                                               a->reserve, a->reserve_size, E_dy, E_dhn, E_dcn,
                                               E_dx, E_dh0, E_dc0, g, a->work, a->work_b),
               want);
    }
}

static void test_model_errors(size_t P) {
    pylstm_model_desc desc = {3, 4, 0, 2, 1}, bad;
    pylstm_weights_f64 w[4], wbad[4];
    pylstm_sizes sz;
    margs base, a;
    int64_t lengths[2];
    size_t k;
    desc.proj_size = P;
    for (k = 0; k < 4; ++k) {
        w[k].W_ih = E_W, w[k].W_hh = E_W, w[k].b_ih = E_W, w[k].b_hh = E_W;
        w[k].W_hr = P ? E_W : NULL;
    }

    expect_sizes("model_sizes_f64 valid", SZ(pylstm_model_sizes_f64(&desc, 3, 2, &sz)), PYLSTM_OK);
    check(sz.work_train < E_work_len && sz.reserve < E_res_len &&
              sz.work_forward < E_work_len && sz.work_backward < E_work_len,
          "model error-test buffers large enough");
    expect_sizes("model_sizes_f64 desc NULL", SZ(pylstm_model_sizes_f64(NULL, 3, 2, &dummy)),
           PYLSTM_ERR_NULL_POINTER);
    expect_sizes("model_sizes_f64 out NULL", SZ(pylstm_model_sizes_f64(&desc, 3, 2, NULL)),
           PYLSTM_ERR_NULL_POINTER);
    expect_sizes("model_sizes_f64 T=0", SZ(pylstm_model_sizes_f64(&desc, 0, 2, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    expect_sizes("model_sizes_f64 B=0", SZ(pylstm_model_sizes_f64(&desc, 3, 0, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.input_size = 0;
    expect_sizes("model_sizes_f64 I=0", SZ(pylstm_model_sizes_f64(&bad, 3, 2, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.hidden_size = 0, bad.proj_size = 0;
    expect_sizes("model_sizes_f64 H=0", SZ(pylstm_model_sizes_f64(&bad, 3, 2, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.num_layers = 0;
    expect_sizes("model_sizes_f64 num_layers=0", SZ(pylstm_model_sizes_f64(&bad, 3, 2, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.proj_size = 4;
    expect_sizes("model_sizes_f64 P=H", SZ(pylstm_model_sizes_f64(&bad, 3, 2, &dummy)),
           PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.bidirectional = 2;
    expect_sizes("model_sizes_f64 bidirectional=2", SZ(pylstm_model_sizes_f64(&bad, 3, 2, &dummy)),
           PYLSTM_ERR_BAD_ARGUMENT);
    bad = desc, bad.bidirectional = -1;
    expect_sizes("model_sizes_f64 bidirectional=-1", SZ(pylstm_model_sizes_f64(&bad, 3, 2, &dummy)),
           PYLSTM_ERR_BAD_ARGUMENT);
    expect_sizes("model_sizes_f64 T=SIZE_MAX/2", SZ(pylstm_model_sizes_f64(&desc, SIZE_MAX / 2, 2, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    expect_sizes("model_sizes_f64 B=SIZE_MAX/2", SZ(pylstm_model_sizes_f64(&desc, 3, SIZE_MAX / 2, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    bad = desc, bad.hidden_size = SIZE_MAX / 16;
    expect_sizes("model_sizes_f64 H=SIZE_MAX/16", SZ(pylstm_model_sizes_f64(&bad, 1, 1, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    bad = desc, bad.num_layers = (size_t)1 << 20;
    expect_sizes("model_sizes_f64 num_layers=2^20 (valid)", SZ(pylstm_model_sizes_f64(&bad, 1, 1, &dummy)),
           PYLSTM_OK);
    /* Once a hang: the planner looped num_layers times; now one checked product. */
    bad = desc, bad.num_layers = SIZE_MAX / 2;
    expect_sizes("model_sizes_f64 num_layers=SIZE_MAX/2", SZ(pylstm_model_sizes_f64(&bad, 1, 1, &dummy)),
           PYLSTM_ERR_OVERFLOW);
    expect_sizes("model_sizes_f32 T=SIZE_MAX/2", SZ(pylstm_model_sizes_f32(&desc, SIZE_MAX / 2, 2, &dummy)),
           PYLSTM_ERR_OVERFLOW);

    base.desc = &desc, base.w = w, base.T = 3, base.B = 2, base.x = E_x, base.lengths = NULL;
    base.dropout = 0.5, base.y = E_y, base.reserve = E_res, base.work = E_work;
    base.reserve_size = sz.reserve, base.work_f = sz.work_forward, base.work_t = sz.work_train;
    base.work_b = sz.work_backward;

    model_expect(P ? "valid (P>0)" : "valid (P=0)", &base, F_ALL, PYLSTM_OK);
    a = base, a.desc = NULL;
    model_expect("desc NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    a = base, a.w = NULL;
    model_expect("weights NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    memcpy(wbad, w, sizeof w), wbad[2].W_ih = NULL, a = base, a.w = wbad;
    model_expect("layer 1 W_ih NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    memcpy(wbad, w, sizeof w), wbad[1].W_hh = NULL, a = base, a.w = wbad;
    model_expect("layer 0 reverse W_hh NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    if (P == 0) {
        memcpy(wbad, w, sizeof w), wbad[3].W_hr = E_W, a = base, a.w = wbad;
        model_expect("W_hr given with P=0", &a, F_ALL, PYLSTM_ERR_BAD_ARGUMENT);
    } else {
        memcpy(wbad, w, sizeof w), wbad[3].W_hr = NULL, a = base, a.w = wbad;
        model_expect("W_hr NULL with P>0", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    }
    a = base, a.x = NULL;
    model_expect("x NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    a = base, a.y = NULL;
    model_expect("y NULL", &a, F_FWD | F_TRAIN, PYLSTM_ERR_NULL_POINTER);
    a = base, a.work = NULL;
    model_expect("work NULL", &a, F_ALL, PYLSTM_ERR_NULL_POINTER);
    a = base, a.reserve = NULL;
    model_expect("reserve NULL", &a, F_TRAIN | F_BWD, PYLSTM_ERR_NULL_POINTER);
    a = base, a.T = 0;
    model_expect("T=0", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    a = base, a.B = 0;
    model_expect("B=0", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.num_layers = 0, a = base, a.desc = &bad;
    model_expect("num_layers=0", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.input_size = 0, a = base, a.desc = &bad;
    model_expect("I=0", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.proj_size = 5, a = base, a.desc = &bad;
    model_expect("P>H", &a, F_ALL, PYLSTM_ERR_BAD_SIZE);
    bad = desc, bad.bidirectional = 2, a = base, a.desc = &bad;
    model_expect("bidirectional=2", &a, F_ALL, PYLSTM_ERR_BAD_ARGUMENT);
    a = base, a.lengths = lengths;
    lengths[0] = 0, lengths[1] = 3;
    model_expect("length 0", &a, F_ALL, PYLSTM_ERR_BAD_LENGTHS);
    lengths[0] = 2, lengths[1] = 4;
    model_expect("length T+1", &a, F_ALL, PYLSTM_ERR_BAD_LENGTHS);
    lengths[0] = -1, lengths[1] = 3;
    model_expect("length -1", &a, F_ALL, PYLSTM_ERR_BAD_LENGTHS);
    a = base, a.dropout = -0.1;
    model_expect("dropout -0.1", &a, F_TRAIN, PYLSTM_ERR_BAD_ARGUMENT);
    a.dropout = 1.1;
    model_expect("dropout 1.1", &a, F_TRAIN, PYLSTM_ERR_BAD_ARGUMENT);
    a.dropout = NAN;
    model_expect("dropout NaN", &a, F_TRAIN, PYLSTM_ERR_BAD_ARGUMENT);
    a.dropout = INFINITY;
    model_expect("dropout Inf", &a, F_TRAIN, PYLSTM_ERR_BAD_ARGUMENT);
    a.dropout = 1.0;
    model_expect("dropout 1 (valid)", &a, F_TRAIN, PYLSTM_OK);
    a.dropout = 0.0;
    model_expect("dropout 0 (valid)", &a, F_TRAIN, PYLSTM_OK);
    a = base, a.work_f = sz.work_forward - 1, a.work_t = sz.work_train - 1;
    a.work_b = sz.work_backward - 1;
    model_expect("work one byte short", &a, F_ALL, PYLSTM_ERR_WORK_TOO_SMALL);
    a = base, a.reserve_size = sz.reserve - 1;
    model_expect("reserve one byte short", &a, F_TRAIN | F_BWD, PYLSTM_ERR_RESERVE_TOO_SMALL);
    a = base, a.T = SIZE_MAX / 2;
    model_expect("T=SIZE_MAX/2", &a, F_ALL, PYLSTM_ERR_OVERFLOW);

    {
        static float fW[NBUF], fx[NBUF];
        pylstm_weights_f32 w32[4];
        pylstm_sizes s32;
        for (k = 0; k < 4; ++k) {
            w32[k].W_ih = fW, w32[k].W_hh = fW, w32[k].b_ih = NULL, w32[k].b_hh = NULL;
            w32[k].W_hr = P ? fW : NULL;
        }
        pylstm_model_sizes_f32(&desc, 3, 2, &s32);
        fill_outputs();
        expect("model_forward_train_f32 dropout NaN",
               pylstm_model_forward_train_f32(&desc, w32, 3, 2, fx, NULL, NULL, NULL, NAN, 1,
                                              (float *)E_y, NULL, NULL, E_res, s32.reserve,
                                              E_work, s32.work_train),
               PYLSTM_ERR_BAD_ARGUMENT);
        fill_outputs();
        expect("model_backward_f32 reserve one byte short",
               pylstm_model_backward_f32(&desc, w32, 3, 2, fx, NULL, E_res, s32.reserve - 1,
                                         NULL, NULL, NULL, (float *)E_dx, NULL, NULL, NULL,
                                         E_work, s32.work_backward),
               PYLSTM_ERR_RESERVE_TOO_SMALL);
        fill_outputs();
        expect("model_forward_f32 work one byte short",
               pylstm_model_forward_f32(&desc, w32, 3, 2, fx, NULL, NULL, NULL, (float *)E_y,
                                        NULL, NULL, E_work, s32.work_forward - 1),
               PYLSTM_ERR_WORK_TOO_SMALL);
    }
}

static size_t max4(const pylstm_sizes *s) {
    size_t m = s->work_forward;
    if (s->work_train > m) m = s->work_train;
    if (s->work_backward > m) m = s->work_backward;
    return m;
}

static void test_errors(void) {
    const pylstm_layer_desc ld[2] = {{3, 4, 0}, {3, 4, 2}};
    const pylstm_model_desc md[2] = {{3, 4, 0, 2, 1}, {3, 4, 2, 2, 1}};
    pylstm_sizes s;
    size_t j;
    E_work_len = E_res_len = 0;
    for (j = 0; j < 2; ++j) {
        pylstm_layer_sizes_f64(&ld[j], 3, 2, &s);
        if (max4(&s) > E_work_len) E_work_len = max4(&s);
        if (s.reserve > E_res_len) E_res_len = s.reserve;
        pylstm_model_sizes_f64(&md[j], 3, 2, &s);
        if (max4(&s) > E_work_len) E_work_len = max4(&s);
        if (s.reserve > E_res_len) E_res_len = s.reserve;
    }
    E_work_len += 256, E_res_len += 256;
    E_work = malloc(E_work_len), E_res = malloc(E_res_len);
    set_buffers();
    for (j = 0; j < NBUF; ++j) {
        E_W[j] = 0.3 * urand(), E_x[j] = urand(), E_h0[j] = urand(), E_c0[j] = urand();
        E_dy[j] = urand(), E_dhn[j] = urand(), E_dcn[j] = urand();
    }
    test_layer_errors(0);
    test_layer_errors(2);
    test_layer_errors_f32();
    test_cell_errors();
    test_model_errors(0);
    test_model_errors(2);
    free(E_work), free(E_res);
}

int main(void) {
    rng_state = 0x9E3779B97F4A7C15ull; /* this test's own seed: its random cases stay the same */
    test_version_and_strerror();
    test_errors();
    test_nan_propagates();
    test_numerics();
    test_model_unaligned();
    return check_summary();
}
