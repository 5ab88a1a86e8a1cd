/* The thread pool through the public API: a model run with 1 and with 2, 3
 * and 4 threads gives bit-identical outputs and gradients, forward and
 * backward, float32 and float64, with a projection and without, for two
 * batch sizes:
 *  - 20 rows: at 2 threads the step loops split the batch's rows (each
 *    thread getting at least 4); at 3 and 4 with a projection the steps are
 *    too small to split;
 *  - 3 rows: at 2 threads each bidirectional layer runs its two directions
 *    at once, one thread each, and the second direction's dx is added to
 *    the first's after both; at 3 and 4 each direction's step loop splits
 *    its units.
 * Without projection T * B * 4H * (I + H) over both directions is over the
 * size for which sleeping workers are woken, so the split does not depend on
 * whether they are awake. pylstm_set_num_threads checks its argument.
 * Prints "N passed, N failed" last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pylstm.h"

enum { T = 20, B = 20, I = 40, H = 80, P = 24, L = 2, D = 2, RMAX = H, LD = L * D };

#define DEFINE_RUN(REAL, SUFFIX)                                                                 \
    static int run_##SUFFIX(size_t proj, size_t nb, REAL *out, size_t n_out) {                   \
        pylstm_model_desc d = {I, H, proj, L, 1};                                               \
        const size_t R = proj ? proj : H;                                                       \
        pylstm_weights_##SUFFIX w[LD];                                                          \
        pylstm_grads_##SUFFIX g[LD];                                                            \
        static REAL params[LD][5][4 * H * (D * RMAX > I ? D * RMAX : I)];                      \
        static REAL grads[LD][5][4 * H * (D * RMAX > I ? D * RMAX : I)];                       \
        static REAL x[T * B * I], y[T * B * D * RMAX], hn[LD * B * RMAX], cn[LD * B * H];      \
        static REAL dx[T * B * I], dh0[LD * B * RMAX], dc0[LD * B * H];                         \
        int64_t lengths[B];                                                                     \
        pylstm_sizes s;                                                                         \
        void *work, *reserve;                                                                   \
        size_t k, e, n = 0;                                                                     \
        unsigned seed = 12345;                                                                  \
        for (e = 0; e < LD; ++e)                                                                \
            for (k = 0; k < 5; ++k) {                                                           \
                size_t j;                                                                       \
                for (j = 0; j < sizeof params[e][k] / sizeof(REAL); ++j) {                      \
                    seed = seed * 1103515245u + 12345u;                                         \
                    params[e][k][j] = (REAL)((double)(seed >> 8) / 16777216.0 - 0.5) / 4;      \
                }                                                                               \
            }                                                                                   \
        memset(grads, 0, sizeof grads);                                                         \
        for (e = 0; e < LD; ++e) {                                                              \
            w[e].W_ih = params[e][0], w[e].W_hh = params[e][1], w[e].b_ih = params[e][2];       \
            w[e].b_hh = params[e][3], w[e].W_hr = proj ? params[e][4] : NULL;                   \
            g[e].W_ih = grads[e][0], g[e].W_hh = grads[e][1], g[e].b_ih = grads[e][2];          \
            g[e].b_hh = grads[e][3], g[e].W_hr = grads[e][4];                                   \
        }                                                                                       \
        for (k = 0; k < T * B * I; ++k) x[k] = (REAL)((k * 7919) % 1000) / 500 - 1;             \
        for (k = 0; k < nb; ++k) lengths[k] = (int64_t)(1 + k % T);                             \
        if (pylstm_model_sizes_##SUFFIX(&d, T, nb, &s) != PYLSTM_OK) return 0;                 \
        work = malloc(s.work_backward > s.work_train ? s.work_backward : s.work_train);         \
        reserve = malloc(s.reserve);                                                            \
        if (!work || !reserve) return 0;                                                        \
        if (pylstm_model_forward_train_##SUFFIX(&d, w, T, nb, x, NULL, NULL, lengths, 0.3, 7,   \
                                                y, hn, cn, reserve, s.reserve, work,            \
                                                s.work_train) != PYLSTM_OK)                     \
            return 0;                                                                           \
        if (pylstm_model_backward_##SUFFIX(&d, w, T, nb, x, lengths, reserve, s.reserve, y, hn, \
                                           cn, dx, dh0, dc0, g, work,                           \
                                           s.work_backward) != PYLSTM_OK)                       \
            return 0;                                                                           \
        free(work);                                                                             \
        free(reserve);                                                                          \
        for (k = 0; k < T * nb * D * R && n < n_out; ++k) out[n++] = y[k];                       \
        for (k = 0; k < T * nb * I && n < n_out; ++k) out[n++] = dx[k];                         \
        for (e = 0; e < LD; ++e)                                                                \
            for (k = 0; k < 5; ++k) {                                                           \
                size_t j;                                                                       \
                for (j = 0; j < 4 * H * I && n < n_out; ++j) out[n++] = grads[e][k][j];         \
            }                                                                                   \
        return 1;                                                                               \
    }

DEFINE_RUN(float, f32)
DEFINE_RUN(double, f64)

#define N_OUT 200000

int main(void) {
    static float a32[N_OUT], b32[N_OUT];
    static double a64[N_OUT], b64[N_OUT];
    static const size_t batches[] = {B, 3};
    size_t nt, proj, k;
    check(pylstm_set_num_threads(0) == PYLSTM_ERR_BAD_SIZE, "0 threads refused");
    check(pylstm_set_num_threads(65) == PYLSTM_ERR_BAD_SIZE, "65 threads refused");
    for (k = 0; k < 2; ++k)
        for (proj = P;; proj = 0) {
            const size_t nb = batches[k];
            memset(a32, 0, sizeof a32), memset(a64, 0, sizeof a64);
            check(pylstm_set_num_threads(1) == PYLSTM_OK && pylstm_get_num_threads() == 1,
                  "1 thread");
            check(run_f32(proj, nb, a32, N_OUT) && run_f64(proj, nb, a64, N_OUT),
                  "runs with 1 thread");
            /* 3 and 4 threads on fewer cores: workers are descheduled mid-job
             * and the caller runs their parts, so parts land on varying
             * threads. */
            for (nt = 2; nt <= 4; ++nt) {
                memset(b32, 0, sizeof b32), memset(b64, 0, sizeof b64);
                check(pylstm_set_num_threads(nt) == PYLSTM_OK, "threads start");
                check(run_f32(proj, nb, b32, N_OUT) && run_f64(proj, nb, b64, N_OUT),
                      "runs with 2-4 threads");
                check(memcmp(a32, b32, sizeof a32) == 0, "f32 identical for 1 and 2-4 threads");
                check(memcmp(a64, b64, sizeof a64) == 0, "f64 identical for 1 and 2-4 threads");
            }
            if (proj == 0) break;
        }
    check(pylstm_set_num_threads(1) == PYLSTM_OK, "back to 1 thread (workers joined)");
    return check_summary();
}
