/* The float32 sigmoid/tanh approximations of act.c against libm (in double),
 * for every kernel ISA this CPU runs: error in float32 ulps of the true value,
 * exact saturation, NaN propagation, and the fused gate loop against a scalar
 * recomputation and, bit for bit, with rec and bias against the sum formed
 * first; the float64 vector versions against libm in float64 ulps (dense
 * grids, tails, subnormal results, +-0, +-inf, NaN) and their gate loops
 * against the libm instance. Prints "N passed, N failed" last.
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

    /* A value in a whole vector has the same bits however many values the
     * call covers: the vector kernels go four vectors at a time, then the
     * whole vectors left through a zero-padded copy (only the last n % 8
     * values take the scalar function). */
    {
        static float x96[96], full_s[96], full_t[96], part[96];
        size_t n;
        int same = 1;
        for (k = 0; k < 96; ++k) x96[k] = (float)sin(1.7 * (double)k) * 9.0f;
        pylstm_sigmoid_array_f32(96, x96, full_s);
        pylstm_tanh_array_f32(96, x96, full_t);
        for (n = 1; n <= 96; ++n) {
            pylstm_sigmoid_array_f32(n, x96, part);
            same &= memcmp(part, full_s, n / 8 * 8 * sizeof(float)) == 0;
            pylstm_tanh_array_f32(n, x96, part);
            same &= memcmp(part, full_t, n / 8 * 8 * sizeof(float)) == 0;
            /* in place too (the gate loops pass y = x) */
            memcpy(part, x96, n * sizeof(float));
            pylstm_sigmoid_array_f32(n, part, part);
            same &= memcmp(part, full_s, n / 8 * 8 * sizeof(float)) == 0;
        }
        check_kernel(same, "whole vectors: the same bits for every call length", kernel, 0);
    }

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
        pylstm_gates_fwd_f32(B, H, 0, H, 2, lengths, NULL, NULL, gates, c_prev, c_cur, m, H);
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

    /* With a kept-apart product (rec) and a bias, over units j0..j1 that start
     * and end off every vector boundary: bit for bit the same loop run on
     * (g + rec) + bias formed beforehand, the rounding the layers and the
     * stream step share; a padding row gets rec only. (The reference is the
     * loop itself, not a recomputation here: clang contracts the loop's cell
     * update into an FMA where the ISA has one.) */
    {
        enum { B = 3, H = 45, J0 = 3, J1 = 44, W = J1 - J0 };
        static float gates[B * 4 * H], want[B * 4 * H], rec[B * 4 * W], bias[4 * H];
        static float c_prev[B * H], c_cur[B * H], m[B * H], want_c[B * H], want_m[B * H];
        int64_t lengths[B] = {4, 2, 4};
        size_t b, j, g;
        for (k = 0; k < B * 4 * H; ++k) gates[k] = want[k] = (float)sin(0.29 * (double)k) * 5.0f;
        for (k = 0; k < B * 4 * W; ++k) rec[k] = (float)cos(0.17 * (double)k) * 3.0f;
        for (k = 0; k < 4 * H; ++k) bias[k] = (float)sin(0.53 * (double)k);
        for (k = 0; k < B * H; ++k) {
            c_prev[k] = (float)cos(0.23 * (double)k) * 2.0f;
            c_cur[k] = m[k] = want_c[k] = want_m[k] = -7.0f; /* outside J0..J1: untouched */
        }
        for (b = 0; b < B; ++b)
            for (g = 0; g < 4; ++g)
                for (j = J0; j < J1; ++j) {
                    float *e = want + (b * 4 + g) * H + j;
                    *e += rec[(b * 4 + g) * W + j - J0];
                    if (b != 1) *e += bias[g * H + j];
                }
        pylstm_gates_fwd_f32(B, H, J0, J1, 3, lengths, NULL, NULL, want, c_prev, want_c, want_m, H);
        pylstm_gates_fwd_f32(B, H, J0, J1, 3, lengths, bias, rec, gates, c_prev, c_cur, m, H);
        check_kernel(memcmp(gates, want, sizeof gates) == 0 &&
                         memcmp(c_cur, want_c, sizeof c_cur) == 0 &&
                         memcmp(m, want_m, sizeof m) == 0,
                     "gate loop with rec and bias: (g + rec) + bias added first", kernel, 0);
    }
}

/* |got - want| in units of the float64 spacing at want (subnormal spacing
 * below DBL_MIN, so tiny results are held to the same count of steps). */
static double ulps64(double got, double want) {
    const int e = want == 0 ? -1022 : ilogb(fabs(want));
    return fabs(got - want) / ldexp(1.0, (e < -1022 ? -1022 : e) - 52);
}

#define N64 400001

static double xd[N64], yd[N64];

/* The float64 vector sigmoid/tanh (act_f64_vec.h; libm itself under "ref")
 * against libm's formulas. */
static void test_kernel_f64(const char *kernel) {
    /* dense grids: the whole non-saturated range, around 0, the underflow */
    static const double lo[] = {-40.0, -1.0, -1e-6, -750.0, 700.0};
    static const double hi[] = {40.0, 1.0, 1e-6, -700.0, 750.0};
    static const double special[] = {0.0, -0.0, 5e-324, -5e-324, 1e-310, -2.2e-308, 1e-300,
                                     -1e-200, 19.0, -19.5, 22.0, 36.0, -708.0, -709.9,
                                     -744.0, -745.1, -746.0, 1e300, -1e300, INFINITY,
                                     -INFINITY};
    enum { NS = sizeof special / sizeof special[0] };
    double s[NS], t[NS], worst_sig = 0, worst_tanh = 0;
    size_t r, k;
    int exact = 1;
    for (r = 0; r < sizeof lo / sizeof lo[0]; ++r) {
        for (k = 0; k < N64; ++k) xd[k] = lo[r] + (hi[r] - lo[r]) * (double)k / (N64 - 1);
        pylstm_sigmoid_array_f64(N64, xd, yd);
        for (k = 0; k < N64; ++k) {
            const double u = ulps64(yd[k], pylstm_sigmoid_f64(xd[k]));
            if (u > worst_sig) worst_sig = u;
        }
        pylstm_tanh_array_f64(N64, xd, yd);
        for (k = 0; k < N64; ++k) {
            const double u = ulps64(yd[k], tanh(xd[k]));
            if (u > worst_tanh) worst_tanh = u;
        }
    }
    /* measured 2 ulp for both on AVX2 and AVX-512 */
    check_kernel(worst_sig <= 3, "f64 sigmoid within 3 ulp of libm", kernel, worst_sig);
    check_kernel(worst_tanh <= 3, "f64 tanh within 3 ulp of libm", kernel, worst_tanh);
    printf("[%s] f64 max error vs libm: sigmoid %.2f ulp, tanh %.2f ulp\n", kernel, worst_sig,
           worst_tanh);

    /* special values, each also as a tail element (odd count) */
    pylstm_sigmoid_array_f64(NS, special, s);
    pylstm_tanh_array_f64(NS, special, t);
    for (k = 0; k < NS; ++k) {
        const double ws = pylstm_sigmoid_f64(special[k]), wt = tanh(special[k]);
        if (ulps64(s[k], ws) > 3 || ulps64(t[k], wt) > 3 || signbit(t[k]) != signbit(wt)) {
            exact = 0;
            printf("[%s] x=%g: sigmoid %.17g (libm %.17g), tanh %.17g (libm %.17g)\n", kernel,
                   special[k], s[k], ws, t[k], wt);
        }
    }
    check_kernel(exact, "f64 special values (+-0, subnormals, saturation, +-inf)", kernel, 0);
    check_kernel(s[NS - 2] == 1 && s[NS - 1] == 0 && t[NS - 2] == 1 && t[NS - 1] == -1 &&
                     s[17] == 1 && s[18] == 0 && t[17] == 1 && t[18] == -1,
                 "f64 exact limits", kernel, 0);
    xd[0] = NAN, xd[1] = -NAN, xd[2] = 0.5;
    pylstm_sigmoid_array_f64(3, xd, yd);
    check_kernel(yd[0] != yd[0] && yd[1] != yd[1] && yd[2] == yd[2], "f64 sigmoid(NaN) is NaN",
                 kernel, 0);
    pylstm_tanh_array_f64(3, xd, yd);
    check_kernel(yd[0] != yd[0] && yd[1] != yd[1] && yd[2] == yd[2], "f64 tanh(NaN) is NaN",
                 kernel, 0);

    /* the fused forward and backward steps against the libm instance */
    {
        enum { B = 2, H = 29 };
        static double gates[B * 4 * H], g_ref[B * 4 * H], c_prev[B * H], c_cur[B * H],
            c_ref[B * H], m[B * H], m_ref[B * H], dm[B * H], dc[B * H], dc_ref[B * H],
            dg[B * 4 * H], dg_ref[B * 4 * H];
        double worst = 0;
        for (k = 0; k < B * 4 * H; ++k) gates[k] = g_ref[k] = sin(0.37 * (double)k) * 6.0;
        for (k = 0; k < B * H; ++k) {
            c_prev[k] = cos(0.11 * (double)k) * 2.0;
            dm[k] = sin(0.7 * (double)k);
            dc[k] = dc_ref[k] = cos(0.3 * (double)k);
        }
        pylstm_gates_fwd_f64(B, H, 0, H, 0, NULL, NULL, NULL, gates, c_prev, c_cur, m, H);
        pylstm_gates_fwd_f64_base(B, H, 0, H, 0, NULL, NULL, NULL, g_ref, c_prev, c_ref, m_ref,
                                  H);
        pylstm_gates_bwd_f64(B, H, 0, H, 0, NULL, g_ref, c_prev, c_ref, dm, dc, dg);
        pylstm_gates_bwd_f64_base(B, H, 0, H, 0, NULL, g_ref, c_prev, c_ref, dm, dc_ref, dg_ref);
        for (k = 0; k < B * H; ++k) {
            worst = fmax(worst, fabs(c_cur[k] - c_ref[k]));
            worst = fmax(worst, fabs(m[k] - m_ref[k]));
            worst = fmax(worst, fabs(dc[k] - dc_ref[k]));
        }
        for (k = 0; k < B * 4 * H; ++k) {
            worst = fmax(worst, fabs(gates[k] - g_ref[k]));
            worst = fmax(worst, fabs(dg[k] - dg_ref[k]));
        }
        check_kernel(worst < 1e-14, "f64 fused steps match the libm instance", kernel, worst);
    }
}

int main(void) {
    static const char *const kernels[] = {"ref", "avx2", "avx512", "neon"};
    size_t k;
    for (k = 0; k < sizeof kernels / sizeof kernels[0]; ++k) {
        if (pylstm_cpu_set_cap(kernels[k]) != 0) continue;
        test_kernel(kernels[k]);
        test_kernel_f64(kernels[k]);
    }
    pylstm_cpu_set_cap(NULL);
    return check_summary();
}
