/* Stand-in for the Windows CRT's <math.h>, only what pylstm uses (see check.sh). */
#pragma once
double exp(double);
float expf(float);
double tanh(double);
float tanhf(float);
double log(double);
float logf(float);
double log1p(double);
double sqrt(double);
float sqrtf(float);
double fabs(double);
float fabsf(float);
double floor(double);
double pow(double, double);
double sin(double);
double cos(double);
double ldexp(double, int);
int ilogb(double);
double fma(double, double, double);
float fmaf(float, float, float);
double fmax(double, double);
double fmin(double, double);
#define INFINITY __builtin_inff()
#define NAN __builtin_nanf("")
#define HUGE_VAL __builtin_huge_val()
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf(x)
#define isfinite(x) __builtin_isfinite(x)
#define signbit(x) __builtin_signbit(x)
