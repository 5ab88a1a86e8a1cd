/* Prints a digest of the library's results, for comparing two builds bit for
 * bit: two compilers (gcc and clang), or two sets of flags, building the same
 * sources for the same CPU must print the same lines for each kernel
 * (PYLSTM_KERNEL caps it). Not a test by itself: the numbers are checked
 * against references elsewhere; this only says whether two builds agree.
 *
 * Covered: inference, training forward, backward with every gradient and the
 * stream of a handle, in float32 and float64, for batches of one (the gemv
 * path) and larger (the micro-kernel), hidden sizes off every vector width,
 * two layers, both directions, a projection and per-sequence lengths; at one
 * and two threads (the results do not depend on it, so both print the same).
 *
 * Each line: a case number, then an FNV-1a hash of each output's bytes.
 * Exits non-zero only if a call fails. CMake builds it beside the tests
 * (tests/c/CMakeLists.txt); by hand, from the repository root: */
// cc -std=c99 -O2 -pthread -Isrc_c/include tests/c/fingerprint.c src_c/*.c -lm -o build/fingerprint
// PYLSTM_KERNEL=avx2 ./build/fingerprint
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pylstm.h"

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = 0xcbf29ce484222325u;
    size_t k;
    for (k = 0; k < n; ++k) h = (h ^ b[k]) * 0x100000001b3u;
    return h;
}

/* A fixed sequence in [-1, 1): the same values on every platform. */
static double next_value(uint64_t *state) {
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return (double)(*state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static void *alloc_or_die(size_t bytes) {
    void *p = calloc(bytes ? bytes : 1, 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static int failed(pylstm_status st, const char *what) {
    if (st == PYLSTM_OK) return 0;
    fprintf(stderr, "%s: %s\n", what, pylstm_strerror(st));
    return 1;
}

typedef struct {
    pylstm_model_desc d;
    size_t T, B;
    int lengths; /* 1: lengths T, T-1, ... (at least 1), else none */
} fp_case;

#define PRINT_HASH(name, p, count) printf(" %s=%016llx", name, \
    (unsigned long long)fnv1a((p), (count) * sizeof *(p)))

/* One case in one element type: allocates everything, runs every call,
 * prints one line; returns 0 or 1 (a call failed). */
#define DEFINE_RUN_CASE(REAL, SUFFIX)                                                          \
    static int run_case_##SUFFIX(int number, const fp_case *c) {                               \
        const pylstm_model_desc *d = &c->d;                                                    \
        const size_t D = d->bidirectional ? 2 : 1, H = d->hidden_size;                         \
        const size_t R = d->proj_size ? d->proj_size : H, LD = d->num_layers * D;              \
        const size_t T = c->T, B = c->B, I = d->input_size;                                    \
        size_t n_ih, n_hh, n_hr, n_all = 0, off = 0, k, l, t;                                  \
        uint64_t state = 0x9e3779b97f4a7c15u ^ (uint64_t)number;                               \
        pylstm_weights_##SUFFIX *w =                                                           \
            (pylstm_weights_##SUFFIX *)alloc_or_die(LD * sizeof *w);                           \
        pylstm_grads_##SUFFIX *g = (pylstm_grads_##SUFFIX *)alloc_or_die(LD * sizeof *g);      \
        REAL *params, *grads, *x, *y, *hn, *cn, *dy, *dhn, *dcn, *dx, *dh0, *dc0, *h0, *c0;    \
        int64_t *lengths = NULL;                                                               \
        pylstm_sizes sz;                                                                       \
        void *work, *reserve;                                                                  \
        pylstm_model *model = NULL;                                                            \
        pylstm_model_stream *stream = NULL;                                                    \
        int bad = 0;                                                                           \
        for (l = 0; l < d->num_layers; ++l) {                                                  \
            const size_t in = l == 0 ? I : D * R;                                              \
            n_all += D * (4 * H * in + 4 * H * R + 8 * H + (d->proj_size ? R * H : 0));        \
        }                                                                                      \
        params = (REAL *)alloc_or_die(n_all * sizeof(REAL));                                   \
        grads = (REAL *)alloc_or_die(n_all * sizeof(REAL));                                    \
        for (k = 0; k < n_all; ++k) params[k] = (REAL)(0.4 * next_value(&state));              \
        for (l = 0; l < LD; ++l) {                                                             \
            const size_t in = l / D == 0 ? I : D * R;                                          \
            n_ih = 4 * H * in, n_hh = 4 * H * R, n_hr = d->proj_size ? R * H : 0;              \
            w[l].W_ih = params + off, g[l].W_ih = grads + off, off += n_ih;                    \
            w[l].W_hh = params + off, g[l].W_hh = grads + off, off += n_hh;                    \
            w[l].b_ih = params + off, g[l].b_ih = grads + off, off += 4 * H;                   \
            w[l].b_hh = params + off, g[l].b_hh = grads + off, off += 4 * H;                   \
            if (n_hr) w[l].W_hr = params + off, g[l].W_hr = grads + off, off += n_hr;          \
        }                                                                                      \
        x = (REAL *)alloc_or_die(T * B * I * sizeof(REAL));                                    \
        dx = (REAL *)alloc_or_die(T * B * I * sizeof(REAL));                                   \
        y = (REAL *)alloc_or_die(T * B * D * R * sizeof(REAL));                                \
        dy = (REAL *)alloc_or_die(T * B * D * R * sizeof(REAL));                               \
        h0 = (REAL *)alloc_or_die(LD * B * R * sizeof(REAL));                                  \
        hn = (REAL *)alloc_or_die(LD * B * R * sizeof(REAL));                                  \
        dhn = (REAL *)alloc_or_die(LD * B * R * sizeof(REAL));                                 \
        dh0 = (REAL *)alloc_or_die(LD * B * R * sizeof(REAL));                                 \
        c0 = (REAL *)alloc_or_die(LD * B * H * sizeof(REAL));                                  \
        cn = (REAL *)alloc_or_die(LD * B * H * sizeof(REAL));                                  \
        dcn = (REAL *)alloc_or_die(LD * B * H * sizeof(REAL));                                 \
        dc0 = (REAL *)alloc_or_die(LD * B * H * sizeof(REAL));                                 \
        for (k = 0; k < T * B * I; ++k) x[k] = (REAL)(2 * next_value(&state));                 \
        for (k = 0; k < T * B * D * R; ++k) dy[k] = (REAL)next_value(&state);                  \
        for (k = 0; k < LD * B * R; ++k) h0[k] = (REAL)next_value(&state);                     \
        for (k = 0; k < LD * B * R; ++k) dhn[k] = (REAL)next_value(&state);                    \
        for (k = 0; k < LD * B * H; ++k) c0[k] = (REAL)next_value(&state);                     \
        for (k = 0; k < LD * B * H; ++k) dcn[k] = (REAL)next_value(&state);                    \
        if (c->lengths) {                                                                      \
            lengths = (int64_t *)alloc_or_die(B * sizeof *lengths);                            \
            for (k = 0; k < B; ++k) lengths[k] = k < T ? (int64_t)(T - k) : 1;                 \
        }                                                                                      \
        bad |= failed(pylstm_model_sizes_##SUFFIX(d, T, B, &sz), "sizes");                     \
        work = alloc_or_die(sz.work_forward + sz.work_train + sz.work_backward);               \
        reserve = alloc_or_die(sz.reserve);                                                    \
        printf("%d %s", number, #SUFFIX);                                                      \
        bad |= failed(pylstm_model_forward_##SUFFIX(d, w, T, B, x, h0, c0, lengths, y, hn, cn, \
                                                    work, sz.work_forward),                    \
                      "forward");                                                              \
        PRINT_HASH("y", y, T * B * D * R);                                                     \
        PRINT_HASH("h_n", hn, LD * B * R);                                                     \
        PRINT_HASH("c_n", cn, LD * B * H);                                                     \
        bad |= failed(pylstm_model_forward_train_##SUFFIX(d, w, T, B, x, h0, c0, lengths, 0.0, \
                                                          0, y, hn, cn, reserve, sz.reserve,   \
                                                          work, sz.work_train),                \
                      "forward_train");                                                        \
        PRINT_HASH("train_y", y, T * B * D * R);                                               \
        bad |= failed(pylstm_model_backward_##SUFFIX(d, w, T, B, x, lengths, reserve,          \
                                                     sz.reserve, dy, dhn, dcn, dx, dh0, dc0,   \
                                                     g, work, sz.work_backward),               \
                      "backward");                                                             \
        PRINT_HASH("dx", dx, T * B * I);                                                       \
        PRINT_HASH("dh0", dh0, LD * B * R);                                                    \
        PRINT_HASH("dc0", dc0, LD * B * H);                                                    \
        PRINT_HASH("grads", grads, n_all);                                                     \
        if (!d->bidirectional && !c->lengths) {                                                \
            bad |= failed(pylstm_model_create_##SUFFIX(d, w, &model), "create");               \
            if (model) bad |= failed(pylstm_model_stream_open(model, B, &stream), "stream");   \
            if (stream) {                                                                      \
                for (t = 0; t < T && !bad; ++t)                                                \
                    bad |= failed(pylstm_model_stream_step_##SUFFIX(stream, x + t * B * I,     \
                                                                    y + t * B * R),           \
                                  "step");                                                     \
                PRINT_HASH("stream", y, T * B * R);                                            \
            }                                                                                  \
            pylstm_model_stream_free(stream);                                                  \
            pylstm_model_free(model);                                                          \
        }                                                                                      \
        printf("\n");                                                                          \
        free(w), free(g), free(params), free(grads), free(x), free(dx), free(y), free(dy);     \
        free(h0), free(hn), free(dhn), free(dh0), free(c0), free(cn), free(dcn), free(dc0);    \
        free(lengths), free(work), free(reserve);                                              \
        return bad;                                                                            \
    }

DEFINE_RUN_CASE(float, f32)
DEFINE_RUN_CASE(double, f64)

int main(void) {
    /* {I, H, P, layers, bidirectional}, T, B, lengths */
    static const fp_case cases[] = {
        {{7, 37, 0, 1, 0}, 11, 1, 0},  {{32, 64, 0, 1, 0}, 9, 1, 0},
        {{5, 23, 0, 2, 1}, 8, 3, 1},   {{6, 40, 9, 1, 0}, 7, 4, 0},
        {{24, 70, 0, 1, 0}, 6, 13, 1}, {{64, 128, 0, 2, 0}, 5, 32, 0},
        {{3, 19, 5, 2, 1}, 6, 1, 0},
    };
    const size_t n = sizeof cases / sizeof cases[0];
    size_t threads, k;
    int bad = 0;
    printf("kernel %s\n", pylstm_gemm_kernel());
    for (threads = 1; threads <= 2; ++threads) {
        bad |= failed(pylstm_set_num_threads(threads), "set_num_threads");
        printf("threads %u\n", (unsigned)threads);
        for (k = 0; k < n; ++k) {
            bad |= run_case_f32((int)k, &cases[k]);
            bad |= run_case_f64((int)k, &cases[k]);
        }
    }
    return bad;
}
