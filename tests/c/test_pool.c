/* The thread pool itself (threads.h): every part of every job runs exactly
 * once and its writes are visible when pylstm_pool_run returns, whatever the
 * thread count and the number of parts (more parts than threads included),
 * with parts of very unequal length (the caller then waits, spinning and
 * then asleep, for a part a worker runs), with pauses between jobs longer
 * than the workers' spin (they fall asleep and must be woken), and with a
 * job started from inside a part (the pool is busy: it runs serially).
 * Prints "N passed, N failed" last. */
#include <string.h>

#include "check.h"
#include "threads.h"

#define MAX_PARTS 9

typedef struct {
    unsigned char ran[MAX_PARTS];
    unsigned long out[MAX_PARTS];
    unsigned long spin[MAX_PARTS]; /* busy iterations of each part */
    int nested;                    /* each part runs a small job of its own */
} job;

static unsigned long busy(unsigned long n) {
    volatile unsigned long x = 0;
    unsigned long i;
    for (i = 0; i < n; ++i) x += i ^ (x >> 3);
    return x;
}

static void inner_part(void *ctx, size_t part, size_t nparts) {
    unsigned long *sum = (unsigned long *)ctx;
    sum[part] = 1000 * part + nparts;
}

static void part_fn(void *ctx, size_t part, size_t nparts) {
    job *j = (job *)ctx;
    unsigned long x = busy(j->spin[part]) & 1;
    if (j->nested) {
        unsigned long sum[3] = {0, 0, 0};
        pylstm_pool_run(inner_part, sum, 3);
        x += sum[0] + sum[1] + sum[2]; /* 3 * 3 + 1000 + 2000 */
    }
    ++j->ran[part];
    j->out[part] = 7 * part + nparts + x - (busy(j->spin[part]) & 1);
}

/* Runs `jobs` random jobs; returns the number whose parts did not each run
 * exactly once with the expected output. */
static int run_jobs(int jobs, int long_parts, int pauses, int nested) {
    int bad = 0, k;
    for (k = 0; k < jobs; ++k) {
        job j;
        size_t nparts = 2 + (size_t)(next_u64() % (MAX_PARTS - 1)), p;
        memset(&j, 0, sizeof j);
        j.nested = nested;
        for (p = 0; p < nparts; ++p) {
            j.spin[p] = next_u64() % 2000;
            /* now and then one part 100x longer than the others */
            if (long_parts && next_u64() % 8 == 0) j.spin[p] *= 100;
        }
        pylstm_pool_run(part_fn, &j, nparts);
        for (p = 0; p < MAX_PARTS; ++p) {
            const unsigned long want = 7 * p + nparts + (nested ? 3009ul : 0ul);
            if (j.ran[p] != (p < nparts) || (p < nparts && j.out[p] != want)) {
                ++bad;
                break;
            }
        }
        if (pauses && k % 16 == 0) (void)busy(200000);
    }
    return bad;
}

int main(void) {
    size_t nt;
    for (nt = 1; nt <= 4; ++nt) {
        check(pylstm_set_num_threads(nt) == PYLSTM_OK, "%u threads start", (unsigned)nt);
        check(run_jobs(20000, 0, 0, 0) == 0, "%u threads: short parts", (unsigned)nt);
        check(run_jobs(2000, 1, 0, 0) == 0, "%u threads: unequal parts", (unsigned)nt);
        check(run_jobs(1000, 0, 1, 0) == 0, "%u threads: pauses between jobs", (unsigned)nt);
        check(run_jobs(2000, 0, 0, 1) == 0, "%u threads: jobs inside parts", (unsigned)nt);
    }
    check(pylstm_set_num_threads(1) == PYLSTM_OK, "back to 1 thread");
    return check_summary();
}
