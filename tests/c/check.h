/* What the C tests share: counted checks, a seeded random source and a
 * checked malloc. A test prints one line per failed check and "N passed,
 * N failed" last (check_summary), and exits non-zero on any failure. */
#ifndef PYLSTM_TEST_CHECK_H
#define PYLSTM_TEST_CHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static int n_pass, n_fail;

static inline void check(int ok, const char *fmt, ...) {
    va_list ap;
    if (ok) {
        ++n_pass;
        return;
    }
    ++n_fail;
    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* Prints the counts; the exit status for main. */
static inline int check_summary(void) {
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

/* malloc that ends the program on failure (n = 0 allocates 1 byte). */
static inline void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}

/* xorshift64: the same numbers on every platform. A test that has its own
 * seed sets rng_state to it before drawing. */
static unsigned long long rng_state = 0x51F15E3C9A1B2D47ull;
static inline unsigned long long next_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
/* Uniform in [-1, 1). */
static inline double urand(void) { return (double)(next_u64() >> 11) / 9007199254740992.0 * 2 - 1; }
/* Uniform in lo..hi. */
static inline size_t rnd(size_t lo, size_t hi) { return lo + (size_t)(next_u64() % (hi - lo + 1)); }

#endif
