// Build from the repository root (-O3: the core's gate loops are written for
// the compiler's vectoriser; -ffp-contract=off as CONTRIBUTING.md explains):
//   cc -std=c99 -O3 -ffp-contract=off -pthread -Isrc_c/include examples/c/lstm_from_c.c src_c/*.c -lm

/* Using pylstm's core from C alone: a 2-layer LSTM run over a sequence with
 * pylstm_model_forward_f32, then the same input fed step by step through the
 * streaming API, which must give the same outputs.
 *
 * Weights use PyTorch's layout (torch.nn.LSTM's state dict): here they are
 * random; a real program would fill them from a file (see pylstm_safetensors_*
 * in pylstm.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pylstm.h"

enum { T = 5, B = 2, I = 3, H = 8, L = 2 };

static float uniform(unsigned *state) {
    *state = *state * 1664525u + 1013904223u;
    return ((float)(*state >> 8) / 16777216.0f - 0.5f) * 0.7f;
}

static float *random_array(size_t n, unsigned *state) {
    float *a = malloc(n * sizeof *a);
    size_t k;
    if (!a) exit(1);
    for (k = 0; k < n; ++k) a[k] = uniform(state);
    return a;
}

#define CHECK(call)                                                                            \
    do {                                                                                       \
        pylstm_status st_ = (call);                                                            \
        if (st_ != PYLSTM_OK) {                                                                \
            fprintf(stderr, "%s: %s\n", #call, pylstm_strerror(st_));                         \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

int main(void) {
    pylstm_model_desc desc = {I, H, 0, L, 0}; /* input, hidden, proj, layers, bidirectional */
    pylstm_weights_f32 w[L];
    pylstm_sizes sizes;
    size_t packed_bytes, step_work_bytes, l, t, k;
    unsigned seed = 42;
    float *x = random_array(T * B * I, &seed);
    float y[T * B * H], h_n[L * B * H], c_n[L * B * H];
    float h[L * B * H] = {0}, c[L * B * H] = {0}, y_t[B * H];
    void *work, *packed, *step_work;
    double worst = 0;

    for (l = 0; l < L; ++l) {
        w[l].W_ih = random_array(4 * H * (l ? H : I), &seed);
        w[l].W_hh = random_array(4 * H * H, &seed);
        w[l].b_ih = random_array(4 * H, &seed);
        w[l].b_hh = random_array(4 * H, &seed);
        w[l].W_hr = NULL;
    }
    printf("pylstm %s, kernel %s\n", pylstm_version(), pylstm_gemm_kernel());

    /* The whole sequence at once. */
    CHECK(pylstm_model_sizes_f32(&desc, T, B, &sizes));
    work = malloc(sizes.work_forward);
    if (!work) return 1;
    CHECK(pylstm_model_forward_f32(&desc, w, T, B, x, NULL, NULL, NULL, y, h_n, c_n, work,
                                   sizes.work_forward));

    /* The same, one step at a time, weights packed once. */
    CHECK(pylstm_stream_sizes_f32(&desc, B, &packed_bytes, &step_work_bytes));
    packed = malloc(packed_bytes);
    step_work = malloc(step_work_bytes);
    if (!packed || !step_work) return 1;
    CHECK(pylstm_stream_pack_f32(&desc, w, packed, packed_bytes));
    for (t = 0; t < T; ++t) {
        CHECK(pylstm_stream_step_f32(&desc, packed, packed_bytes, B, x + t * B * I, h, c, y_t,
                                     step_work, step_work_bytes));
        for (k = 0; k < B * H; ++k) {
            double d = fabs((double)y_t[k] - (double)y[t * B * H + k]);
            if (d > worst) worst = d;
        }
    }
    printf("h_n[last layer, batch 0, 0..3] = %.5f %.5f %.5f %.5f\n", h_n[(L - 1) * B * H],
           h_n[(L - 1) * B * H + 1], h_n[(L - 1) * B * H + 2], h_n[(L - 1) * B * H + 3]);
    printf("streaming vs whole sequence: max |difference| = %.2e\n", worst);

    free(work), free(packed), free(step_work), free(x);
    for (l = 0; l < L; ++l) {
        free((void *)w[l].W_ih), free((void *)w[l].W_hh);
        free((void *)w[l].b_ih), free((void *)w[l].b_hh);
    }
    return worst < 1e-5 ? 0 : 1;
}
