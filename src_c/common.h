/* Internal helpers shared by the core's C files. Not part of the public API.
 * Functions declared here trust their callers: arguments are checked once, at
 * the public boundary. */
#ifndef PYLSTM_COMMON_H
#define PYLSTM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "pylstm.h"

/* No floating-point contraction: a * b + c is a rounded product and a rounded
 * sum, never one fused multiply-add, unless the code asks for an FMA itself
 * (the kernels' intrinsics). Compilers differ in what they contract by
 * default (clang fuses within an expression wherever the ISA has an FMA,
 * gcc in GNU mode across statements, gcc in ISO mode and MSVC 2022 not at
 * all), so without this the same kernel built by two of them gives results
 * that differ in the last bits. Every C file of the core includes this
 * header first; the builds (setup.py, CMakeLists.txt) also pass
 * -ffp-contract=off to gcc and clang, which gcc, ignoring this pragma,
 * needs. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#if defined(__GNUC__) && !defined(_WIN32)
#define PYLSTM_INTERNAL __attribute__((visibility("hidden")))
#else
#define PYLSTM_INTERNAL
#endif

/* C99's restrict; MSVC, in its default C mode, knows only its own spelling. */
#if defined(_MSC_VER) && !defined(__clang__)
#define PYLSTM_RESTRICT __restrict
#else
#define PYLSTM_RESTRICT restrict
#endif

/* PYLSTM_PREFETCH(p) asks for the cache line holding p ahead of its use: a
 * hint, which changes no result (nothing where the compiler offers none). */
#if defined(__GNUC__) || defined(__clang__)
#define PYLSTM_PREFETCH(p) __builtin_prefetch(p)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#define PYLSTM_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define PYLSTM_PREFETCH(p) ((void)(p))
#endif

/* Every sub-buffer carved out of a caller's workspace starts on this boundary
 * (one cache line, and the widest vector register). */
#define PYLSTM_ALIGN 64

/* a * b into *out; returns 0 on overflow of size_t, 1 otherwise. */
static inline int pylstm_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* a + b into *out; returns 0 on overflow. */
static inline int pylstm_add_ok(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

/* Rounds n up to a multiple of PYLSTM_ALIGN; returns 0 on overflow. */
static inline int pylstm_round_up_ok(size_t n, size_t *out) {
    if (n > SIZE_MAX - (PYLSTM_ALIGN - 1)) return 0;
    *out = (n + (PYLSTM_ALIGN - 1)) & ~(size_t)(PYLSTM_ALIGN - 1);
    return 1;
}

/* A matrix of `rows` rows of `cols` elements at stride ld is addressable:
 * ld >= cols and (rows - 1) * ld + cols fits in size_t. */
static inline int pylstm_rows_ok(size_t rows, size_t ld, size_t cols) {
    size_t span;
    return ld >= cols && rows >= 1 && pylstm_mul_ok(rows - 1, ld, &span) &&
           pylstm_add_ok(span, cols, &span);
}

/* Lays out consecutive PYLSTM_ALIGN-aligned regions of one buffer (work,
 * reserve, a packed copy), tracking overflow: start with {0, 1} (or another
 * first offset), then each pylstm_carve returns where its region starts.
 * Once a size overflows, ok stays 0 and every later offset is 0. */
typedef struct {
    size_t off;
    int ok;
} pylstm_carver;

/* Appends count * esize bytes, rounded up to PYLSTM_ALIGN; returns their
 * offset. */
static inline size_t pylstm_carve(pylstm_carver *cv, size_t count, size_t esize) {
    size_t bytes, start = cv->off;
    if (!cv->ok) return 0;
    if (!pylstm_mul_ok(count, esize, &bytes) || !pylstm_round_up_ok(bytes, &bytes) ||
        !pylstm_add_ok(cv->off, bytes, &cv->off)) {
        cv->ok = 0;
        return 0;
    }
    return start;
}

/* The bytes a caller's buffer needs for the regions so far: with PYLSTM_ALIGN
 * of slack, so that an unaligned buffer can be aligned first. */
static inline size_t pylstm_carve_total(pylstm_carver *cv) {
    size_t total;
    if (!cv->ok || !pylstm_add_ok(cv->off, PYLSTM_ALIGN, &total)) {
        cv->ok = 0;
        return 0;
    }
    return total;
}

/* First PYLSTM_ALIGN-aligned address at or after p. */
static inline void *pylstm_align_ptr(void *p) {
    uintptr_t u = (uintptr_t)p;
    u = (u + (PYLSTM_ALIGN - 1)) & ~(uintptr_t)(PYLSTM_ALIGN - 1);
    return (void *)u;
}

#endif
