/* The float32 sigmoid/tanh approximations of act.c against libm (in double),
 * for every kernel ISA this CPU runs: error in float32 ulps of the true value,
 * exact saturation, NaN propagation, and the fused gate loop against a scalar
 * recomputation. Prints "N passed, N failed" last.
 * Build: cc -std=c99 -Isrc_c/include -Isrc_c tests/c/test_act.c src_c/x.c -lm */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "act.h"
#include "check.h"
#include "cpu.h"

/* One check of `kernel`, with a number that tells how far off it was. */
static void check_kernel(int ok, const char *what, const char *kernel, double detail) {
    check(ok, "[%s] %s (%g)", kernel, what, detail);
}

/* |got - want| in units of the float32 spacing at want (normal range). */
static double ulps(float got, double want) {
    double spacing = ldexp(1.0, ilogb(fabs(want) > FLT_MIN ? want : FLT_MIN) - 23);
    return fabs((double)got - want) / spacing;
}

#define N 200001

static float xs[N], ys[N];

static void test_kernel(const char *kernel) {
    size_t k;
    double worst_sig = 0, worst_tanh = 0;
    float x[4], y[4];
    for (k = 0; k < N; ++k) xs[k] = (float)(-30.0 + 60.0 * (double)k / (N - 1));

    pylstm_sigmoid_array_f32(N, xs, ys);
    for (k = 0; k < N; ++k) {
        double want = 1.0 / (1.0 + exp(-(double)xs[k]));
        if (want > FLT_MIN) {
            double u = ulps(ys[k], want);
            if (u > worst_sig) worst_sig = u;
        }
    }
    check_kernel(worst_sig <= 4, "sigmoid within 4 ulp on [-30, 30]", kernel, worst_sig);

    pylstm_tanh_array_f32(N, xs, ys);
    for (k = 0; k < N; ++k) {
        double want = tanh((double)xs[k]);
        if (fabs(want) > FLT_MIN) {
            double u = ulps(ys[k], want);
            if (u > worst_tanh) worst_tanh = u;
        }
    }
    check_kernel(worst_tanh <= 4, "tanh within 4 ulp on [-30, 30]", kernel, worst_tanh);

    /* tiny arguments: tanh(x) = x to float precision, sigmoid(x) = 1/2 */
    x[0] = 1e-30f, x[1] = -1e-20f, x[2] = 1e-3f, x[3] = -1e-3f;
    pylstm_tanh_array_f32(4, x, y);
    for (k = 0; k < 4; ++k)
        check_kernel(ulps(y[k], tanh((double)x[k])) <= 2, "tanh near 0", kernel, (double)x[k]);

    /* saturation and extremes: exact limits, never NaN */
    x[0] = 1e30f, x[1] = -1e30f, x[2] = INFINITY, x[3] = -INFINITY;
    pylstm_tanh_array_f32(4, x, y);
    check_kernel(y[0] == 1 && y[1] == -1 && y[2] == 1 && y[3] == -1, "tanh saturates to +-1",
                 kernel, 0);
    pylstm_sigmoid_array_f32(4, x, y);
    check_kernel(y[0] == 1 && y[1] >= 0 && y[1] < 1e-37 && y[2] == 1 && y[3] >= 0 && y[3] < 1e-37,
                 "sigmoid saturates to 0 and 1", kernel, (double)y[1]);
    x[0] = NAN;
    pylstm_sigmoid_array_f32(1, x, y);
    check_kernel(y[0] != y[0], "sigmoid(NaN) is NaN", kernel, 0);
    pylstm_tanh_array_f32(1, x, y);
    check_kernel(y[0] != y[0], "tanh(NaN) is NaN", kernel, 0);

    /* the fused forward step against a double recomputation */
    {
        enum { B = 3, H = 37 };
        static float gates[B * 4 * H], c_prev[B * H], c_cur[B * H], m[B * H];
        static double ref_c[B * H], ref_m[B * H];
        int64_t lengths[B] = {5, 1, 5};
        size_t b, j;
        double worst = 0;
        int pad_ok = 1;
        for (k = 0; k < B * 4 * H; ++k) gates[k] = (float)sin(0.37 * (double)k) * 6.0f;
        for (k = 0; k < B * H; ++k) c_prev[k] = (float)cos(0.11 * (double)k) * 2.0f;
        for (b = 0; b < B; ++b)
            for (j = 0; j < H; ++j) {
                const float *g = gates + b * 4 * H;
                double i = 1 / (1 + exp(-(double)g[j])), f = 1 / (1 + exp(-(double)g[H + j]));
                double gg = tanh((double)g[2 * H + j]), o = 1 / (1 + exp(-(double)g[3 * H + j]));
                ref_c[b * H + j] = f * c_prev[b * H + j] + i * gg;
                ref_m[b * H + j] = o * tanh(ref_c[b * H + j]);
            }
        pylstm_gates_fwd_f32(B, H, 0, H, 2, lengths, NULL, gates, c_prev, c_cur, m);
        for (b = 0; b < B; ++b)
            for (j = 0; j < H; ++j) {
                if (b == 1) { /* padding row: state carried, output 0 */
                    pad_ok &= c_cur[b * H + j] == c_prev[b * H + j] && m[b * H + j] == 0;
                    continue;
                }
                if (fabs(c_cur[b * H + j] - ref_c[b * H + j]) > worst)
                    worst = fabs(c_cur[b * H + j] - ref_c[b * H + j]);
                if (fabs(m[b * H + j] - ref_m[b * H + j]) > worst)
                    worst = fabs(m[b * H + j] - ref_m[b * H + j]);
            }
        check_kernel(worst < 2e-6, "fused forward step matches double recomputation", kernel,
                     worst);
        check_kernel(pad_ok, "padding rows carry the state", kernel, 0);
    }
}

int main(void) {
    static const char *const kernels[] = {"ref", "avx2", "avx512", "neon"};
    size_t k;
    for (k = 0; k < sizeof kernels / sizeof kernels[0]; ++k) {
        if (pylstm_cpu_set_cap(kernels[k]) != 0) continue;
        test_kernel(kernels[k]);
    }
    pylstm_cpu_set_cap(NULL);
    return check_summary();
}
