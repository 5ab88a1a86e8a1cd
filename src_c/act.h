/* Scalar gate nonlinearities: the reference every vectorised version is
 * checked against. Internal. */
#ifndef PYLSTM_ACT_H
#define PYLSTM_ACT_H

#include <math.h>

/* sigmoid(x) = 1 / (1 + exp(-x)), evaluated so that exp never overflows: for
 * x < 0 the equivalent exp(x) / (1 + exp(x)) is used. */
static inline float pylstm_sigmoid_f32(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    {
        const float e = expf(x);
        return e / (1.0f + e);
    }
}

static inline double pylstm_sigmoid_f64(double x) {
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    {
        const double e = exp(x);
        return e / (1.0 + e);
    }
}

static inline float pylstm_tanh_f32(float x) { return tanhf(x); }
static inline double pylstm_tanh_f64(double x) { return tanh(x); }

#endif
