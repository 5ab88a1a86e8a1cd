/* A small persistent thread pool for the compute loops. Internal.
 *
 * pylstm_pool_run(fn, ctx, nparts) runs fn(ctx, part, nparts) for every part
 * in 0..nparts-1 and returns when all are done. Parts go to whichever thread
 * claims them first, the caller included (which runs every part no worker
 * took), so a part must write only its own outputs and scratch (indexed by
 * part, never by thread). Callers split their work by part in a way that
 * does not depend on nparts for any single output element, so results are
 * bit-identical for every thread count and every assignment of parts to
 * threads.
 *
 * When the pool is busy (another thread of the program is inside a parallel
 * call) or has one thread, every part runs in the caller, one after another:
 * the same results, no waiting. */
#ifndef PYLSTM_THREADS_H
#define PYLSTM_THREADS_H

#include "common.h"

typedef void (*pylstm_job_fn)(void *ctx, size_t part, size_t nparts);

/* Runs fn(ctx, part, nparts) for part = 0..nparts-1 (nparts <= 64): in
 * parallel when the pool has workers and is free, else one after another in
 * the caller. */
PYLSTM_INTERNAL void pylstm_pool_run(pylstm_job_fn fn, void *ctx, size_t nparts);

/* The same, but workers asleep (after the bounded spin that follows each job)
 * stay asleep: the job runs on the threads that are awake, and only in the
 * caller if none is. For work too short to repay a wake-up: waking a thread
 * cost the caller 10-26 us in the system call on a 2-core VM, and the thread
 * ran about as long after. */
PYLSTM_INTERNAL void pylstm_pool_run_awake(pylstm_job_fn fn, void *ctx, size_t nparts);

/* A job in steps: fn(ctx, step, part, nparts) for step = 0..nsteps-1 and
 * part = 0..nparts-1 (nparts <= 64), each step's parts after every part of
 * the step before has ended. In parallel, the threads stay in the job from
 * step to step and meet through the parts' counters (about 0.1 us a step on
 * a 2-core VM, against about 0.4 us for a pylstm_pool_run per step); each
 * thread runs the same part every step (its data stays in that core's
 * caches) unless its thread is late, when another claims it. Serially: every
 * step's parts in order. The same outputs either way, under the rule of
 * pylstm_pool_run. Workers asleep are woken only if `wake`, as in
 * pylstm_pool_run_awake. A `kind` other than 0 (pylstm_pool_steps_split)
 * has the job timed, when it runs in parallel or in one part. */
typedef void (*pylstm_step_fn)(void *ctx, size_t step, size_t part, size_t nparts);
PYLSTM_INTERNAL void pylstm_pool_run_steps(pylstm_step_fn fn, void *ctx, size_t nsteps,
                                           size_t nparts, int wake, long kind);

/* Whether a step loop of kind `kind` (> 0: the loop's function and the size
 * of its steps, as the caller names them) is to split its steps between the
 * threads (a stepped job of several parts) or to run in one part in the
 * calling thread; asked when the loop could split. A split step costs its
 * part and the threads' meeting, about 0.2 us on a quiet 2-core VM. But a
 * thread that shares its core with another program, or with the calling
 * thread (the system kept both on one core for seconds at a time on the
 * same VM), stalls every step: a batch of one at H = 64 then took 1.5-1.8
 * times as long at 2 threads as at 1 (a step 1.5 us split, 0.74 us in one
 * part). So pylstm_pool_run_steps times the loops of each kind, split and
 * in one part, and the answer is the split unless it took more than 1.5
 * times as long a step as one part when each last ran (and, once left,
 * until it takes less than 1.25 times); the other way is tried again (3
 * runs in a row) after 250 us, then, while it keeps losing, twice as late
 * each time up to 25 ms. A kind not seen yet splits. */
PYLSTM_INTERNAL int pylstm_pool_steps_split(long kind);

/* The bookkeeping behind pylstm_pool_steps_split for one kind, apart from
 * the clock (microseconds modulo PYLSTM_US_MASK + 1) for its tests: the
 * time per step each way (ns[0] in one part, ns[1] split; 0: not yet run;
 * the way chosen's smoothed over its runs, the other's its last try's),
 * the way chosen, when the other is to be tried (wait_us after since_us),
 * and the runs left of a try under way. A new kind's is {kind, {0, 0}, 1,
 * now, PYLSTM_TRY_MIN_US, 0}. */
#define PYLSTM_US_MASK 0x3fffffffL
#define PYLSTM_TRY_MIN_US 250L
#define PYLSTM_TRY_MAX_US 25000L
#define PYLSTM_TRY_RUNS 3
#define PYLSTM_SPLIT_LEAVE 1.5
#define PYLSTM_SPLIT_TAKE 1.25
typedef struct {
    long kind;
    double ns[2];
    int split;
    long since_us, wait_us;
    int trying;
} pylstm_steps_stats;
/* the way to run now: the one chosen, or the other when its try is due */
PYLSTM_INTERNAL int pylstm_steps_choose(const pylstm_steps_stats *s, long now_us);
/* after a loop that ran the way `split` and took ns per step */
PYLSTM_INTERNAL void pylstm_steps_record(pylstm_steps_stats *s, int split, double ns,
                                         long now_us);

/* A job whose parts are whole step loops that never meet (each part runs
 * every step of its own share): fn(ctx, part, nparts) as in pylstm_pool_run,
 * but it counts as a stepped job does: workers asleep are woken only if
 * `wake`, they wait for the next call afterwards as after a stepped job, and
 * its end is a step loop's end for pylstm_pool_threads_for. */
PYLSTM_INTERNAL void pylstm_pool_run_loops(pylstm_job_fn fn, void *ctx, size_t nparts,
                                           int wake);

/* The number of threads parallel calls use (>= 1): the count set by
 * pylstm_set_num_threads (a forked child starts its workers on its first
 * parallel call). Plans size their work for it. */
PYLSTM_INTERNAL size_t pylstm_pool_threads(void);

/* For work that is to run as one job (a step loop): how many threads it
 * would run on if started now, and in *wake (on entry: whether the work is
 * long enough to repay waking sleeping workers) whether it is to wake them:
 * also when the last step loop (a stepped job of any number of parts, or
 * pylstm_pool_run_loops), or the work after it that pylstm_pool_note_end
 * marks, ended less than 50 us before (calls in a loop: a woken worker spins
 * from one call to the next). Then pylstm_pool_threads(), else 1 and the
 * workers that are awake. A hint for splitting the work: it may change
 * before the job starts. */
PYLSTM_INTERNAL size_t pylstm_pool_threads_for(int *wake);

/* Records the end of a call's work that follows its stepped job (the
 * backward's weight gradients), for pylstm_pool_threads_for: calls in a loop
 * are recognised by the time from the end of one to the start of the next. */
PYLSTM_INTERNAL void pylstm_pool_note_end(void);

/* The contiguous share [*lo, *hi) of `count` items, in multiples of `grain`,
 * that part `part` of `nparts` takes. */
PYLSTM_INTERNAL void pylstm_split(size_t count, size_t grain, size_t part, size_t nparts,
                                  size_t *lo, size_t *hi);

/* Plans work for nt parts into ctx and sets *need to the bytes it then needs
 * from the caller's buffer; anything but PYLSTM_OK stops the fit. */
typedef pylstm_status (*pylstm_plan_fn)(void *ctx, size_t nt, size_t *need);

/* The one "fit the thread count to the buffer" loop: plans for the pool's
 * thread count, then fewer, down to one, and stops at the first plan that
 * needs at most `avail` bytes (or at one part, whatever it needs: the caller
 * checks). The last plan made is the one left in ctx. */
PYLSTM_INTERNAL pylstm_status pylstm_fit_threads(pylstm_plan_fn plan, void *ctx, size_t avail);

#endif
