/* The thread pool itself (threads.h): every part of every job runs exactly
 * once and its writes are visible when pylstm_pool_run (or
 * pylstm_pool_run_awake, or pylstm_pool_run_loops) returns, whatever the
 * thread count and the number
 * of parts (more parts than threads included),
 * with parts of very unequal length (the caller then waits, spinning and
 * then asleep, for a part a worker runs), with pauses between jobs longer
 * than the workers' spin (they fall asleep and must be woken), and with a
 * job started from inside a part (the pool is busy: it runs serially).
 * And pylstm_split, which cuts the work of a job into parts: in order, on
 * multiples of the grain, with the largest part as small as any such cut can
 * make it. And stepped jobs (pylstm_pool_run_steps): every part of every
 * step runs exactly once, each step's parts only after every part of the
 * step before ended, under the same conditions (long parts make the other
 * threads sleep between steps and be woken; a stepped job inside a part runs
 * serially), and pylstm_pool_threads_for's answers (after
 * pylstm_pool_note_end and pylstm_pool_run_loops too). And whether a step
 * loop splits (pylstm_pool_steps_split): the bookkeeping of each kind's
 * times with a clock of the test's own, and with the pool's clock, loops
 * whose split or one-part way is made ten times as long as the other.
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

/* Runs `jobs` random jobs (in turn with pylstm_pool_run,
 * pylstm_pool_run_awake and pylstm_pool_run_loops, waking or not); returns
 * the number whose parts did not each run exactly once with the expected
 * output. */
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
        if (k % 3 == 1)
            pylstm_pool_run_awake(part_fn, &j, nparts);
        else if (k % 3 == 2)
            pylstm_pool_run_loops(part_fn, &j, nparts, (int)(k & 1));
        else
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

/* ---- stepped jobs ---- */

#define MAX_STEPS 40

typedef struct {
    size_t nsteps;
    unsigned char ran[MAX_STEPS][MAX_PARTS];
    unsigned long spin[MAX_STEPS][MAX_PARTS];
    int early;  /* a part found a part of the step before not yet run */
    int nested; /* each part runs a small stepped job of its own */
} steps;

static void inner_step(void *ctx, size_t step, size_t part, size_t nparts) {
    unsigned long(*sum)[2] = (unsigned long(*)[2])ctx;
    sum[step][part] = step ? sum[step - 1][0] + sum[step - 1][1] + part : 10 * part + nparts;
}

static void step_fn(void *ctx, size_t step, size_t part, size_t nparts) {
    steps *j = (steps *)ctx;
    size_t q;
    for (q = 0; step > 0 && q < nparts; ++q)
        if (j->ran[step - 1][q] != 1) j->early = 1;
    (void)busy(j->spin[step][part]);
    if (j->nested) {
        unsigned long sum[2][2] = {{0, 0}, {0, 0}};
        pylstm_pool_run_steps(inner_step, sum, 2, 2, 1, 0);
        /* step 0: 2, 12; step 1: 14 + 0, 14 + 1 */
        if (sum[1][0] != 14 || sum[1][1] != 15) j->early = 1;
    }
    ++j->ran[step][part];
}

/* Runs `jobs` random stepped jobs; returns the number in which a part did not
 * run exactly once or ran before the step before had ended. */
static int run_step_jobs(int jobs, int long_parts, int pauses, int nested) {
    int bad = 0, k;
    for (k = 0; k < jobs; ++k) {
        static steps j;
        size_t nparts = 1 + (size_t)(next_u64() % MAX_PARTS), s, p;
        int ok = 1;
        memset(&j, 0, sizeof j);
        j.nsteps = (size_t)(next_u64() % (MAX_STEPS + 1));
        j.nested = nested;
        for (s = 0; s < j.nsteps; ++s)
            for (p = 0; p < nparts; ++p) {
                j.spin[s][p] = next_u64() % 500;
                if (long_parts && next_u64() % 64 == 0) j.spin[s][p] *= 400;
            }
        pylstm_pool_run_steps(step_fn, &j, j.nsteps, nparts, (int)(k & 1), 0);
        for (s = 0; s < MAX_STEPS; ++s)
            for (p = 0; p < MAX_PARTS; ++p)
                ok = ok && j.ran[s][p] == (s < j.nsteps && p < nparts);
        bad += !ok || j.early;
        if (pauses && k % 8 == 0) (void)busy(200000);
    }
    return bad;
}

/* The least largest part of any cut of `count` items into `nparts`
 * consecutive parts at multiples of `grain`: the least capacity with which a
 * greedy fill of the chunks (all `grain` long but a shorter last one) needs
 * no more than nparts parts. */
static size_t best_largest(size_t count, size_t grain, size_t nparts) {
    size_t cap;
    for (cap = grain < count ? grain : count;; ++cap) {
        size_t used = 1, fill = 0, at;
        for (at = 0; at < count; at += grain) {
            const size_t len = count - at < grain ? count - at : grain;
            if (fill + len > cap) ++used, fill = 0;
            fill += len;
        }
        if (used <= nparts) return cap;
    }
}

/* Every count up to 200 for each grain and part count: one check each for
 * order and for size, naming the first count that fails. */
static void check_split(void) {
    static const size_t grains[] = {1, 4, 16, 64};
    size_t count, g, nparts, part;
    for (g = 0; g < sizeof grains / sizeof grains[0]; ++g)
        for (nparts = 1; nparts <= MAX_PARTS; ++nparts) {
            const size_t grain = grains[g];
            size_t bad_order = 0, bad_size = 0, largest_seen = 0, best_seen = 0;
            for (count = 1; count <= 200; ++count) {
                size_t next = 0, largest = 0, lo, hi;
                int ok = 1;
                for (part = 0; part < nparts; ++part) {
                    pylstm_split(count, grain, part, nparts, &lo, &hi);
                    ok = ok && lo == next && hi >= lo && (lo % grain == 0 || lo == count);
                    next = hi;
                    largest = hi - lo > largest ? hi - lo : largest;
                }
                if ((!ok || next != count) && !bad_order) bad_order = count;
                if (largest != best_largest(count, grain, nparts) && !bad_size)
                    bad_size = count, largest_seen = largest,
                    best_seen = best_largest(count, grain, nparts);
            }
            check(!bad_order, "split by %u into %u: %u items not cut in order on the grain",
                  (unsigned)grain, (unsigned)nparts, (unsigned)bad_order);
            check(!bad_size, "split by %u into %u: %u items, largest part %u, could be %u",
                  (unsigned)grain, (unsigned)nparts, (unsigned)bad_size, (unsigned)largest_seen,
                  (unsigned)best_seen);
        }
}

/* pylstm_pool_threads_for: with `wake` set, every thread; without, between
 * one and every thread (those awake: that depends on timing), `wake` set or
 * not; with one thread, one. */
static void check_threads_for(size_t nt) {
    int wake = 1, k, in_range = 1;
    check(pylstm_pool_threads_for(&wake) == nt && wake == 1,
          "%u threads: a job that wakes the workers gets them all", (unsigned)nt);
    for (k = 0; k < 100; ++k) {
        size_t n;
        wake = 0;
        n = pylstm_pool_threads_for(&wake);
        in_range = in_range && n >= 1 && n <= nt && (nt > 1 || n == 1) && (!wake || n == nt);
        if (k % 10 == 0) (void)busy(200000);
    }
    check(in_range, "%u threads: a job that need not wake them gets 1..%u", (unsigned)nt,
          (unsigned)nt);
}

/* A job of step loops (pylstm_pool_run_loops) of two short parts, that does
 * not ask to wake sleeping workers. */
static void short_loops(void) {
    job j;
    memset(&j, 0, sizeof j);
    pylstm_pool_run_loops(part_fn, &j, 2, 0);
}

/* A call's end, marked by `end` (pylstm_pool_note_end, or a job of step
 * loops): a step loop that starts right after it is taken for the next call
 * in a loop and wakes the workers; one that starts milliseconds later does
 * not (unless its own work asks). */
static void check_call_end(size_t nt, void (*end)(void), const char *what) {
    int wake = 0, k, woke = 0;
    (void)busy(2000000); /* the workers asleep, the last end long past */
    /* a preemption between the two calls may outlast the 50 us: a few tries */
    for (k = 0; k < 5 && !woke; ++k) {
        end();
        wake = 0;
        woke = pylstm_pool_threads_for(&wake) == nt && wake == 1;
    }
    check(nt == 1 || woke, "%u threads: a step loop right after %s wakes the workers",
          (unsigned)nt, what);
    (void)busy(2000000);
    wake = 0;
    (void)pylstm_pool_threads_for(&wake);
    check(!wake, "%u threads: a step loop long after %s need not wake them", (unsigned)nt,
          what);
}

/* pylstm_steps_choose and pylstm_steps_record, on times given by the test:
 * a new kind splits, and tries one part after PYLSTM_TRY_MIN_US; a try is
 * PYLSTM_TRY_RUNS runs, judged by the last; one that loses comes twice as
 * late the next time, up to PYLSTM_TRY_MAX_US; one slow run of the split
 * does not leave it (its time is smoothed), slow runs in a row do, once it
 * takes over PYLSTM_SPLIT_LEAVE times one part's; a split try is taken back
 * under PYLSTM_SPLIT_TAKE times one part's, slower than one part included;
 * the clock may wrap around. */
static void check_steps_choice(void) {
    const long t0 = PYLSTM_US_MASK - 500; /* the clock wraps 500 us in */
    pylstm_steps_stats s = {7, {0, 0}, 1, t0, PYLSTM_TRY_MIN_US, 0};
    long t = t0, wait = PYLSTM_TRY_MIN_US;
    int k, r, doubled = 1, tried = 1;
    check(pylstm_steps_choose(&s, t) == 1 &&
              pylstm_steps_choose(&s, (t + PYLSTM_TRY_MIN_US - 1) & PYLSTM_US_MASK) == 1,
          "steps: a new kind splits");
    pylstm_steps_record(&s, 1, 500, t + 10);
    t = (t + PYLSTM_TRY_MIN_US) & PYLSTM_US_MASK;
    check(pylstm_steps_choose(&s, t) == 0, "steps: one part is tried %ld us later",
          (long)PYLSTM_TRY_MIN_US);
    for (k = 0; k < 12; ++k) { /* one-part tries that lose */
        for (r = 0; r < PYLSTM_TRY_RUNS; ++r) {
            tried = tried && pylstm_steps_choose(&s, t) == 0;
            /* a first run that would have won alone */
            pylstm_steps_record(&s, 0, r ? 800 : 300, t);
        }
        wait = 2 * wait < PYLSTM_TRY_MAX_US ? 2 * wait : PYLSTM_TRY_MAX_US;
        doubled = doubled && s.split == 1 && s.wait_us == wait &&
                  pylstm_steps_choose(&s, (t + wait - 1) & PYLSTM_US_MASK) == 1 &&
                  pylstm_steps_choose(&s, (t + wait) & PYLSTM_US_MASK) == 0;
        t = (t + wait) & PYLSTM_US_MASK;
    }
    check(tried, "steps: a try runs %d times the other way", PYLSTM_TRY_RUNS);
    check(doubled && wait == PYLSTM_TRY_MAX_US,
          "steps: a try that loses (by its last run) comes twice as late, up to %ld us",
          (long)PYLSTM_TRY_MAX_US);
    pylstm_steps_record(&s, 1, 3000, t); /* 500 + 2500 / 8 */
    pylstm_steps_record(&s, 1, 3000, t); /* 812.5 + 2187.5 / 8 */
    check(s.split == 1 && s.ns[1] == 1085.9375,
          "steps: two slow split runs (smoothed: %g ns, against 800) keep it", s.ns[1]);
    pylstm_steps_record(&s, 1, 3000, t); /* 1085.9 + 1914.1 / 8 */
    check(s.split == 0 && s.wait_us == PYLSTM_TRY_MIN_US && s.since_us == t,
          "steps: three (%g ns, over %g times 800) leave it", s.ns[1], PYLSTM_SPLIT_LEAVE);
    pylstm_steps_record(&s, 0, 800, t);
    check(s.split == 0 && s.ns[0] == 800, "steps: one part runs on");
    for (k = 0; k < 2; ++k) { /* a split try that loses, then one that wins */
        const double last = k ? 900 : 1100; /* 1.125 and 1.375 times 800 */
        t = (t + s.wait_us) & PYLSTM_US_MASK;
        for (r = 0; r < PYLSTM_TRY_RUNS; ++r) {
            tried = tried && pylstm_steps_choose(&s, t) == 1;
            pylstm_steps_record(&s, 1, r + 1 < PYLSTM_TRY_RUNS ? 3000 : last, t);
        }
        check(s.split == k && s.ns[1] == last,
              "steps: a split try of %g ns a step against 800 in one part %s", last,
              k ? "is taken back" : "is not");
    }
    check(tried && s.wait_us == PYLSTM_TRY_MIN_US,
          "steps: a try that wins has the other way tried %ld us later", (long)PYLSTM_TRY_MIN_US);
}

/* A step of a kind whose split or whose one-part way is the slow one: each
 * part spins `fast` iterations, or ten times as many. */
typedef struct {
    unsigned long fast;
    int slow_split; /* the split way is slow; else the one part is */
} kind_job;

static void kind_step(void *ctx, size_t step, size_t part, size_t nparts) {
    const kind_job *k = (const kind_job *)ctx;
    const int slow = k->slow_split ? nparts > 1 : nparts == 1;
    (void)step, (void)part;
    (void)busy(slow ? 10 * k->fast : k->fast);
}

/* With the pool's clock: loops of a kind, each run the way
 * pylstm_pool_steps_split says, mostly take the fast way (a try of the other
 * now and then, and a preemption can make a run slow). */
static void check_steps_split(size_t nt) {
    int slow_split;
    for (slow_split = 0; slow_split < 2; ++slow_split) {
        const long kind = 1000 + slow_split;
        kind_job k;
        int n, fast = 0;
        k.fast = 2000, k.slow_split = slow_split;
        for (n = 0; n < 300; ++n) {
            const int split = pylstm_pool_steps_split(kind);
            pylstm_pool_run_steps(kind_step, &k, 8, split ? nt : 1, 1, kind);
            fast += n >= 20 && split != slow_split;
        }
        check(fast >= 2 * 280 / 3, "%u threads: loops whose %s way is slow took the other %d "
              "times of 280", (unsigned)nt, slow_split ? "split" : "one-part", fast);
    }
}

int main(void) {
    size_t nt;
    check_split();
    check_steps_choice();
    for (nt = 1; nt <= 4; ++nt) {
        check(pylstm_set_num_threads(nt) == PYLSTM_OK, "%u threads start", (unsigned)nt);
        check(run_jobs(20000, 0, 0, 0) == 0, "%u threads: short parts", (unsigned)nt);
        check(run_jobs(2000, 1, 0, 0) == 0, "%u threads: unequal parts", (unsigned)nt);
        check(run_jobs(1000, 0, 1, 0) == 0, "%u threads: pauses between jobs", (unsigned)nt);
        check(run_jobs(2000, 0, 0, 1) == 0, "%u threads: jobs inside parts", (unsigned)nt);
        check(run_step_jobs(3000, 0, 0, 0) == 0, "%u threads: stepped jobs", (unsigned)nt);
        check(run_step_jobs(300, 1, 0, 0) == 0, "%u threads: stepped jobs, unequal parts",
              (unsigned)nt);
        check(run_step_jobs(300, 0, 1, 0) == 0, "%u threads: stepped jobs, pauses between",
              (unsigned)nt);
        check(run_step_jobs(300, 0, 0, 1) == 0, "%u threads: stepped jobs inside parts",
              (unsigned)nt);
        check_threads_for(nt);
        check_call_end(nt, pylstm_pool_note_end, "a call's end");
        check_call_end(nt, short_loops, "a job of step loops");
        if (nt > 1) check_steps_split(nt);
    }
    check(pylstm_set_num_threads(1) == PYLSTM_OK, "back to 1 thread");
    return check_summary();
}
