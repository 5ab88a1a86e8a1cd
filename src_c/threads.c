/* The persistent thread pool (threads.h), on POSIX threads or Win32 threads.
 * Platforms with neither get a pool of one thread: every job runs in the
 * caller, with the same results.
 *
 * A job's parts are claimed, not assigned: the caller and the workers take
 * the next unclaimed part from one atomic counter until none is left, so a
 * worker that is asleep or descheduled when a job starts never stalls it (the
 * caller runs the parts nobody took). Parts write only their own outputs and
 * scratch (threads.h), so which thread runs which part changes nothing.
 *
 * Waiting, by workers for a job and by the caller for parts still running
 * elsewhere, spins for a bounded time (microseconds of clock time, scaled to
 * the parts' length: about the gap between two LSTM steps' jobs) and then
 * sleeps on a condition variable. On a quiet machine the spin catches
 * the next step without a wake-up; on a busy one a waiting thread gives its
 * core back soon instead of taking it from a thread that has work (the way
 * OpenMP runtimes bound their spin time).
 *
 * This (with the step loops' timings, pylstm_pool_steps_split) is the core's
 * one piece of global mutable state besides CPU detection;
 * pylstm_set_num_threads is the only function that creates or ends threads,
 * with one exception: after fork() the child has none of the parent's workers
 * (only the forking thread survives), so an atfork handler resets the pool in
 * the child to "want this many threads, have none", and the child's first
 * parallel call starts its own workers. The prepare handler takes every lock,
 * so no job is in flight and the child inherits them in a known state. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200112L /* clock_gettime */
#endif
#include "threads.h"

#define PYLSTM_MAX_THREADS 64

/* How long a waiting thread spins before it sleeps, from the time the
 * caller's last part took and the time the longest part of the last job of
 * the same function took (the span): a worker waiting for the next job until
 * the span has passed since it started its part, and an eighth of a part
 * more (5-50 us); the caller waiting for parts still running until the span
 * has passed, and half a part more (5-200 us). The gap between two jobs of a
 * step loop is the parts' imbalance, which grows with their length, while a
 * wake-up costs about the same for any job (50-100 us in a VM). Bounds from
 * the caller's part alone put to sleep every step the thread with the
 * smaller part when the parts differ by more than the bound (B = 64, H = 80
 * at 2 threads: parts of 48 and 32 units; the forward's median 1.20-1.22 ms,
 * with the span 1.02 ms). Sleeps also feed themselves: a worker woken late
 * starts its part late, the caller's wait then outlasts its spin and it
 * sleeps too, the worker's next wait outlasts its own, and so on. With a
 * fixed 5 us the medium forward at 2 threads (parts of ~170 us) fell into
 * that, one sleep per step on both threads: 19.7 ms, and 28 ms in stretches
 * of seconds; with the worker's bound alone 18.4 ms, still with the 28 ms
 * stretches; the caller's longer wait breaks the chain: 17.8-18.2 ms with
 * a few sleeps per call. The worker's bound stays small because spinning
 * costs most where the cores are busy (a 200 us worker spin made 2 threads
 * 1.3x slower than 1 on the demo with both cores busy, benchmarks/busy.py);
 * the caller spins only while a part it waits for is running. A worker that
 * found every part of a job taken waits up to a whole part (5-200 us) for the
 * next: woken too late, it could otherwise miss job after job (the medium
 * forward then ran at its 1-thread speed, 33 ms, for a fifth of a second). */
#define PYLSTM_SPIN_NS 5000
#define PYLSTM_SPIN_MAX_NS 50000
#define PYLSTM_WAIT_MAX_NS 200000

/* A stepped job too short to wake sleeping workers for wakes them all the
 * same when the last stepped job ended less than this long before
 * (pylstm_pool_threads_for): calls in a loop, where a worker woken once waits
 * spinning from one call to the next (PYLSTM_SPIN_MAX_NS after a stepped
 * job), and the wake-up pays back over the calls that follow. With longer
 * gaps the worker would sleep between calls and each call would pay for a
 * wake-up. */
#define PYLSTM_RECENT_US (PYLSTM_SPIN_MAX_NS / 1000)

void pylstm_split(size_t count, size_t grain, size_t part, size_t nparts, size_t *lo,
                  size_t *hi) {
    size_t chunks = (count + grain - 1) / grain;
    size_t per = chunks / nparts, extra = chunks % nparts;
    /* The parts with a chunk more are the last ones, which end with the
     * last chunk, the one that may be partial: 100 units in chunks of 16 go
     * as 48 + 52, not 64 + 36. */
    const size_t late = nparts - extra;
    size_t first = part * per + (part > late ? part - late : 0);
    size_t n = per + (part >= late ? 1 : 0);
    *lo = first * grain < count ? first * grain : count;
    *hi = (first + n) * grain < count ? (first + n) * grain : count;
}

/* A job without threads: the same parts, in order, in the caller. */
static void run_serial(pylstm_job_fn fn, void *ctx, size_t nparts) {
    size_t p;
    for (p = 0; p < nparts; ++p) fn(ctx, p, nparts);
}

static void run_steps_serial(pylstm_step_fn fn, void *ctx, size_t nsteps, size_t nparts) {
    size_t s, q;
    for (s = 0; s < nsteps; ++s)
        for (q = 0; q < nparts; ++q) fn(ctx, s, q, nparts);
}

pylstm_status pylstm_fit_threads(pylstm_plan_fn plan, void *ctx, size_t avail) {
    size_t nt = pylstm_pool_threads();
    for (;; --nt) {
        size_t need = 0;
        pylstm_status st = plan(ctx, nt, &need);
        if (st != PYLSTM_OK || need <= avail || nt == 1) return st;
    }
}

/* ---- split or not: a step loop's times per step both ways ---- */

int pylstm_steps_choose(const pylstm_steps_stats *s, long now_us) {
    const long since = (now_us - s->since_us) & PYLSTM_US_MASK;
    return s->trying > 0 || since >= s->wait_us ? !s->split : s->split;
}

/* The way to choose by the times a step took split and in one part, with the
 * way chosen now `split`: a split is left when it takes more than
 * PYLSTM_SPLIT_LEAVE times one part and taken again below PYLSTM_SPLIT_TAKE
 * times. In between, the two ways are about as fast (on a quiet machine a
 * split loop took 1.2-1.6 times its median now and then), and the split
 * stays: it is the way that keeps the other core's caches warm. */
static int way_for(int split, double split_ns, double one_ns) {
    return split_ns <= (split ? PYLSTM_SPLIT_LEAVE : PYLSTM_SPLIT_TAKE) * one_ns;
}

void pylstm_steps_record(pylstm_steps_stats *s, int split, double ns, long now_us) {
    if (split == s->split) {
        /* The way chosen: its time is smoothed over its runs, and it is
         * left as soon as the other's last try is the better by way_for.
         * What slowed it down (another program on a core, both threads on
         * one core) may pass; the next try tells. */
        s->ns[split] += s->ns[split] > 0 ? (ns - s->ns[split]) / 8 : ns;
        if (s->ns[!split] <= 0 || way_for(s->split, s->ns[1], s->ns[0]) == s->split) return;
        s->split = !split;
        s->wait_us = PYLSTM_TRY_MIN_US;
        s->since_us = now_us;
        return;
    }
    /* A try of the other way: PYLSTM_TRY_RUNS runs in a row, judged by the
     * last. The first finds the data where the other way left it: at B = 1,
     * H = 64 the first run of a split try took 800-880 ns a step, the next
     * ones 565-570 (one part: 740). */
    s->ns[split] = ns;
    if (s->trying == 0) s->trying = PYLSTM_TRY_RUNS;
    if (--s->trying > 0) return;
    if (s->ns[!split] <= 0 || way_for(s->split, s->ns[1], s->ns[0]) == split) {
        s->split = split; /* a try that won */
        s->wait_us = PYLSTM_TRY_MIN_US;
    } else {
        /* a try that lost: the next comes twice as late */
        s->wait_us = s->wait_us < PYLSTM_TRY_MAX_US / 2 ? 2 * s->wait_us : PYLSTM_TRY_MAX_US;
    }
    s->since_us = now_us;
}

/* ---- a thin platform layer: mutex, condition variable, thread, atomics,
 * clock ---- */

#if defined(_WIN32)
#define PYLSTM_THREADS_WIN32 1
#include <windows.h>
typedef SRWLOCK plx_mutex;
typedef CONDITION_VARIABLE plx_cond;
typedef HANDLE plx_thread;
typedef volatile LONG plx_atomic;
#define PLX_MUTEX_INIT SRWLOCK_INIT
#define PLX_COND_INIT CONDITION_VARIABLE_INIT
#define plx_lock(m) AcquireSRWLockExclusive(m)
#define plx_unlock(m) ReleaseSRWLockExclusive(m)
#define plx_trylock(m) (TryAcquireSRWLockExclusive(m) != 0)
#define plx_wait(c, m) SleepConditionVariableSRW((c), (m), INFINITE, 0)
#define plx_broadcast(c) WakeAllConditionVariable(c)
#define plx_signal(c) WakeConditionVariable(c)
#define plx_pause() YieldProcessor()
/* Interlocked operations are full barriers (sequentially consistent). */
#define LOAD(p) InterlockedCompareExchange((p), 0, 0)
#define STORE(p, v) ((void)InterlockedExchange((p), (LONG)(v)))
#define ADD(p, v) (InterlockedExchangeAdd((p), (LONG)(v)) + (LONG)(v))
#define CAS(p, old, new) (InterlockedCompareExchange((p), (LONG)(new), (LONG)(old)) == (LONG)(old))
#define SWAP(p, v) InterlockedExchange((p), (LONG)(v))
static double plx_now_ns(void) {
    /* both read shared memory the kernel keeps: no system call; the
     * frequency is fixed at boot */
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return (double)t.QuadPart * (1e9 / (double)f.QuadPart);
}
#elif (defined(__unix__) || defined(__APPLE__)) && (defined(__GNUC__) || defined(__clang__))
#define PYLSTM_THREADS_POSIX 1
#include <pthread.h>
#include <time.h>
typedef pthread_mutex_t plx_mutex;
typedef pthread_cond_t plx_cond;
typedef pthread_t plx_thread;
typedef long plx_atomic;
#define PLX_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define PLX_COND_INIT PTHREAD_COND_INITIALIZER
#define plx_lock(m) pthread_mutex_lock(m)
#define plx_unlock(m) pthread_mutex_unlock(m)
#define plx_trylock(m) (pthread_mutex_trylock(m) == 0)
#define plx_wait(c, m) pthread_cond_wait((c), (m))
#define plx_broadcast(c) pthread_cond_broadcast(c)
#define plx_signal(c) pthread_cond_signal(c)
#if defined(__x86_64__) || defined(__i386__)
#define plx_pause() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define plx_pause() __asm__ __volatile__("yield")
#else
#define plx_pause() ((void)0)
#endif
/* Sequentially consistent, like Win32's: the sleep/wake handshakes below
 * (store one flag, then load the other) need it. */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
static int plx_cas(long *p, long old, long new_) {
    return __atomic_compare_exchange_n(p, &old, new_, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
#define CAS(p, old, new) plx_cas((p), (old), (new))
/* a store that is a read-modify-write, hence a full barrier (see run_job) */
#define SWAP(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
static double plx_now_ns(void) {
    /* a vDSO call on Linux: tens of nanoseconds, no system call */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}
#endif

#if defined(PYLSTM_THREADS_WIN32) || defined(PYLSTM_THREADS_POSIX)

/* A job's claim counter holds nparts in its high bits and the number of
 * claims made in its low bits, so one atomic add both claims a part and says
 * which job's it is: a worker that was late for the previous job and adds
 * after all of its parts were claimed gets a number >= that job's nparts and
 * takes nothing (the caller then overwrites the counter for the next job).
 * Each thread makes at most two claims that find nothing per job, so the
 * count stays far below the field's size. */
#define CLAIM_BITS 16
#define CLAIM_MASK ((1L << CLAIM_BITS) - 1)
#define PYLSTM_SPAN_SLOTS 4

/* Part q of a stepped job (pylstm_pool_run_steps): how many of its steps
 * have been claimed and how many have ended. Each part's counters are on
 * cache lines of their own (128 bytes apart whatever the array's alignment):
 * the thread running the part writes them every step while the others read
 * them. */
typedef struct {
    plx_atomic claimed, ended;
    char pad[128 - 2 * sizeof(plx_atomic)];
} step_slot;

typedef struct {
    plx_mutex lock;        /* guards sleeping and the condition variables */
    plx_cond wake;         /* a new generation or quit */
    plx_cond done;         /* the last part of a job finished */
    plx_mutex run_lock;    /* one parallel job at a time */
    plx_thread threads[PYLSTM_MAX_THREADS];
    plx_atomic want;       /* threads asked for by pylstm_set_num_threads;
                              atomic: compute calls read it any time */
    size_t n;              /* threads running, including the caller (< want
                              only in a forked child until its first parallel
                              call, or when a thread could not start there) */
    plx_atomic generation; /* bumped for each job */
    long start_gen;        /* generation when the workers were created */
    plx_atomic claims;     /* nparts << CLAIM_BITS | parts claimed */
    plx_atomic unfinished; /* parts of the current job not yet done */
    plx_atomic sleepers;   /* workers asleep (or about to be) on wake */
    plx_atomic caller_asleep; /* the caller sleeps (or is about to) on done */
    plx_atomic quit;
    pylstm_job_fn fn;      /* written before the claim counter is reset */
    void *ctx;
    plx_atomic part_ns;    /* the caller's time per part in its last job (in a
                              stepped job: a member's time per step's part) */
    plx_atomic span_ns;    /* the longest any thread has spent on the parts
                              of the current job so far */
    plx_atomic expect_ns;  /* the span the current job is expected to take:
                              the last of a job of its function (0: none) */
    /* The spans of the last jobs of a few functions (the caller's, under
     * run_lock): a step loop alternates two or three kinds of job (backward:
     * the gates, then the product for dh), of different lengths; with the
     * previous job's span, B = 64, H = 80 at 2 threads slept about 30 times
     * per training step (3.78 ms), with its function's 8 (3.31 ms). A
     * function used for jobs of different sizes gets the last one's: it
     * only sets how long a thread spins. */
    pylstm_job_fn span_fn[PYLSTM_SPAN_SLOTS];
    long span_ns_of[PYLSTM_SPAN_SLOTS];
    unsigned span_next;
    plx_cond step_done;      /* a part of a stepped job ended */
    plx_atomic step_waiters; /* threads asleep (or about to be) on it */
    plx_atomic step_kicked;  /* step_done was broadcast and no waiter has
                                looked since */
    plx_atomic last_end_us;  /* when the last step loop (pylstm_pool_run_steps
                                or _run_loops), or the work after it that
                                pylstm_pool_note_end marks, ended (mod 2^30
                                us) */
    plx_atomic linger_ns;    /* the least a worker waits for the next job after
                                this one (after a step loop: the most it may
                                spin, PYLSTM_SPIN_MAX_NS) */
} pylstm_pool;

static pylstm_pool pool = {PLX_MUTEX_INIT, PLX_COND_INIT, PLX_COND_INIT, PLX_MUTEX_INIT,
                           {0}, 1, 1, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, {0}, {0}, 0,
                           PLX_COND_INIT, 0, 0, 0, 0};

/* The span the last job of fn took, 0 if none is on record. */
static long span_of(pylstm_job_fn fn) {
    unsigned i;
    for (i = 0; i < PYLSTM_SPAN_SLOTS; ++i)
        if (pool.span_fn[i] == fn) return pool.span_ns_of[i];
    return 0;
}

static void set_span_of(pylstm_job_fn fn, long span) {
    unsigned i;
    for (i = 0; i < PYLSTM_SPAN_SLOTS && pool.span_fn[i] != fn; ++i)
        ;
    if (i == PYLSTM_SPAN_SLOTS) i = pool.span_next++ % PYLSTM_SPAN_SLOTS, pool.span_fn[i] = fn;
    pool.span_ns_of[i] = span;
}

/* A bounded busy wait: spin_more pauses once and returns 0 when the waiter
 * has spun for about `ns` nanoseconds, within PYLSTM_SPIN_NS..`most`. A
 * pause takes from a few to ~100 ns depending on the CPU (90 ns on the 2-core
 * AMD EPYC VM this was measured on, where the former bound of 100,000 pauses
 * was 9 ms), so the time is read on a clock (tens of nanoseconds), once per 8
 * pauses, starting after the first 8 (most waits end sooner). */
typedef struct {
    unsigned count;
    double deadline;
    double ns, most;
} spin_budget;

static int spin_more(spin_budget *b) {
    if ((++b->count & 7) == 0) {
        const double now = plx_now_ns();
        if (b->count == 8) {
            const double ns = b->ns;
            b->deadline = now +
                          (ns < PYLSTM_SPIN_NS ? PYLSTM_SPIN_NS : ns > b->most ? b->most : ns);
        } else if (now >= b->deadline)
            return 0;
    }
    plx_pause();
    return 1;
}

/* Claims and runs parts of the current job until none is left; returns the
 * number of parts run. The claim's acquire pairs with the release of the
 * counter's reset, so fn and ctx are those of the job the part belongs to,
 * and that job cannot end (nor fn change) before this part is counted done.
 * Before counting a part done it raises span_ns to the time since `start`
 * (when this thread turned to the job), so span_ns ends up about the longest
 * time a thread worked on the job: a maximum taken by a load and a store, not
 * atomically, which is enough for an estimate that only sets spin bounds. */
static long run_parts(double start) {
    long ran = 0;
    for (;;) {
        const long c = ADD(&pool.claims, 1) - 1;
        const long part = c & CLAIM_MASK, nparts = c >> CLAIM_BITS;
        double ns;
        if (part >= nparts) return ran;
        pool.fn(pool.ctx, (size_t)part, (size_t)nparts);
        ++ran;
        ns = plx_now_ns() - start;
        if (ns > (double)LOAD(&pool.span_ns)) STORE(&pool.span_ns, (long)(ns < 1e9 ? ns : 1e9));
        if (ADD(&pool.unfinished, -1) == 0 && LOAD(&pool.caller_asleep)) {
            plx_lock(&pool.lock);
            plx_signal(&pool.done);
            plx_unlock(&pool.lock);
        }
    }
}

static void worker_loop(void) {
    /* Not the current generation: a job may have started before this thread
     * ran and still have parts to claim. start_gen was written before the
     * thread was created, which orders it before this read. */
    long seen = pool.start_gen, ran = 1;
    double busy = 0; /* this thread's time on the last job */
    for (;;) {
        long gen;
        double start;
        /* The next job comes when the longest part of this one ends: spin
         * until then (as the last job of its kind took), and an eighth of a
         * part more, or as long as the job asked (linger_ns: after a
         * stepped job, the most it may spin). A worker that came too late
         * for any part of the last job (woken after the caller had claimed
         * them all) waits longer: otherwise it could keep missing every job,
         * each time waking late again. */
        const double part = (double)LOAD(&pool.part_ns);
        const double lag = (double)LOAD(&pool.expect_ns) - busy;
        const double linger = (double)LOAD(&pool.linger_ns);
        spin_budget budget = {0, 0, 0, PYLSTM_SPIN_MAX_NS};
        budget.ns = (lag > 0 ? lag : 0) + 0.125 * part;
        if (budget.ns < linger) budget.ns = linger;
        if (!ran) budget.ns = part, budget.most = PYLSTM_WAIT_MAX_NS;
        while ((gen = LOAD(&pool.generation)) == seen && !LOAD(&pool.quit) && spin_more(&budget))
            ;
        if (gen == seen && !LOAD(&pool.quit)) {
            /* sleepers is raised before generation is read again, and the
             * caller bumps generation before reading sleepers: one of the two
             * sees the other, so a job is never missed. */
            plx_lock(&pool.lock);
            (void)ADD(&pool.sleepers, 1);
            while ((gen = LOAD(&pool.generation)) == seen && !LOAD(&pool.quit))
                plx_wait(&pool.wake, &pool.lock);
            (void)ADD(&pool.sleepers, -1);
            plx_unlock(&pool.lock);
        }
        if (LOAD(&pool.quit)) return;
        seen = gen;
        start = plx_now_ns();
        ran = run_parts(start);
        busy = plx_now_ns() - start;
    }
}

#if defined(PYLSTM_THREADS_WIN32)
#if defined(__MINGW32__)
#include <float.h>
#endif
static DWORD WINAPI worker(LPVOID arg) {
#if defined(__MINGW32__)
    /* MinGW's libm uses the x87 unit, whose precision setting a new Win32
     * thread does not inherit from the main thread (set by the CRT at start):
     * without this, float64 tanh/exp differ in the last bit between threads
     * and results would depend on the thread count. */
    _fpreset();
#endif
    (void)arg;
    worker_loop();
    return 0;
}
static int start_thread(plx_thread *t) {
    *t = CreateThread(NULL, 0, worker, NULL, 0, NULL);
    return *t != NULL;
}
static void join_thread(plx_thread t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
#else
static void *worker(void *arg) {
    (void)arg;
    worker_loop();
    return NULL;
}
static int start_thread(plx_thread *t) { return pthread_create(t, NULL, worker, NULL) == 0; }
static void join_thread(plx_thread t) { pthread_join(t, NULL); }
#endif

size_t pylstm_pool_threads(void) {
    /* written under run_lock by pylstm_set_num_threads, read anywhere */
    return (size_t)LOAD(&pool.want);
}

/* The clock in microseconds modulo 2^30 (about 18 minutes): a difference
 * that wraps around only makes one call wake the workers when it need not.
 * Reduced in 64 bits: a long is 32 bits on Windows, where the microseconds
 * since boot pass 2^31 after 36 minutes and a conversion to long then gave
 * the same value at every call (so every step loop counted as one in a loop
 * of calls, and woke the workers). */
static long us_of(double ns) {
    return (long)((unsigned long long)(ns / 1000) & (unsigned long long)PYLSTM_US_MASK);
}
static long now_us(void) { return us_of(plx_now_ns()); }

size_t pylstm_pool_threads_for(int *wake) {
    const size_t want = (size_t)LOAD(&pool.want), asleep = (size_t)LOAD(&pool.sleepers);
    if (want < 2) return 1;
    if (((now_us() - LOAD(&pool.last_end_us)) & PYLSTM_US_MASK) < PYLSTM_RECENT_US) *wake = 1;
    /* a forked child has no workers until its first parallel call: they
     * count as asleep here and start with the job */
    return *wake ? want : asleep + 1 < want ? want - asleep : 1;
}

void pylstm_pool_note_end(void) {
    if (LOAD(&pool.want) > 1) STORE(&pool.last_end_us, now_us());
}

/* Starts workers n .. want-1 (under run_lock): in a forked child, whose pool
 * was reset, on its first parallel call. A thread that cannot start ends the
 * attempt: the pool keeps those that did (the caller and they share every
 * job's parts, so any number of threads gives the same results). */
static void start_workers(void) {
    size_t i;
    pool.start_gen = LOAD(&pool.generation);
    for (i = pool.n; i < (size_t)LOAD(&pool.want); ++i) {
        if (!start_thread(&pool.threads[i])) {
            STORE(&pool.want, i);
            return;
        }
        pool.n = i + 1;
    }
}

/* Runs a job of nparts (2..64) parts on the pool's threads, the caller
 * among them; under run_lock, with workers started. Workers asleep are woken
 * only if `wake`. A `loop` job (pylstm_pool_run_steps, whose parts are its
 * members, or pylstm_pool_run_loops) is a whole step loop, most often of one
 * call in a loop of calls: after it the workers wait for the next job as long
 * as they may spin, so that the next call finds them awake, and it leaves
 * part_ns to the stepped job's members, who keep it at their time per step's
 * part (not a whole loop's, which would set the waits after it to their
 * caps). */
static void run_job(pylstm_job_fn fn, void *ctx, size_t nparts, int wake, int loop) {
    pool.fn = fn, pool.ctx = ctx;
    STORE(&pool.linger_ns, loop ? PYLSTM_SPIN_MAX_NS : 0);
    STORE(&pool.expect_ns, span_of(fn));
    STORE(&pool.span_ns, 0);
    STORE(&pool.unfinished, (long)nparts);
    STORE(&pool.claims, (long)nparts << CLAIM_BITS);
    (void)ADD(&pool.generation, 1);
    if (wake && LOAD(&pool.sleepers)) {
        plx_lock(&pool.lock);
        plx_broadcast(&pool.wake);
        plx_unlock(&pool.lock);
    }
    /* The caller takes parts like any worker, so a job never waits for a
     * worker to wake up or be scheduled, only for parts a worker has already
     * started. It spins until the longest part should end (as in the last
     * job of this function: parts of unequal sizes, say 64 and 36 hidden
     * units, leave the thread with the smaller waiting every step) and half
     * its time per part more. */
    const double start = plx_now_ns();
    const long ran = run_parts(start);
    const double busy = plx_now_ns() - start;
    double part = (double)LOAD(&pool.part_ns);
    if (ran > 0 && !loop) {
        /* capped well inside a 32-bit long (Win32's LONG) */
        part = busy / (double)ran;
        STORE(&pool.part_ns, (long)(part < 1e9 ? part : 1e9));
    }
    if (ran < (long)nparts && LOAD(&pool.unfinished) != 0) {
        const double lag = (double)LOAD(&pool.expect_ns) - busy;
        spin_budget budget = {0, 0, 0, PYLSTM_WAIT_MAX_NS};
        budget.ns = (lag > 0 ? lag : 0) + 0.5 * part;
        while (LOAD(&pool.unfinished) != 0 && spin_more(&budget))
            ;
        if (LOAD(&pool.unfinished) != 0) {
            /* the same handshake as the workers' sleep, with caller_asleep
             * and unfinished */
            plx_lock(&pool.lock);
            /* An atomic add, not a store: the handshake needs this write
             * ordered before the load of unfinished below, and a
             * read-modify-write is a full barrier everywhere. A sequentially
             * consistent store should do, but qemu-user running aarch64 code
             * on an x86-64 host lets its stlr pass the next ldar: the last
             * worker then missed caller_asleep, never signalled, and
             * test_pool hung. */
            (void)ADD(&pool.caller_asleep, 1);
            while (LOAD(&pool.unfinished) != 0) plx_wait(&pool.done, &pool.lock);
            STORE(&pool.caller_asleep, 0);
            plx_unlock(&pool.lock);
        }
    }
    /* every part done: each raised span_ns before it counted */
    set_span_of(fn, LOAD(&pool.span_ns));
}

/* For a job of nparts parts: takes run_lock and starts the workers if
 * needed, and returns 1 if the job is to run on the pool; returns 0 (without
 * the lock) if it is to run serially in the caller: one thread, the pool
 * busy with another thread's job, or every worker asleep and none to be
 * woken (the parts then run here without the cost of posting them). */
static int pool_acquire(size_t nparts, int wake) {
    if (nparts < 2 || nparts > PYLSTM_MAX_THREADS || LOAD(&pool.want) < 2 ||
        !plx_trylock(&pool.run_lock))
        return 0;
    if (pool.n < (size_t)LOAD(&pool.want)) start_workers();
    if (pool.n > 1 && (wake || (size_t)LOAD(&pool.sleepers) + 1 < pool.n)) return 1;
    plx_unlock(&pool.run_lock);
    return 0;
}

/* pylstm_pool_run and pylstm_pool_run_awake */
static void pool_run(pylstm_job_fn fn, void *ctx, size_t nparts, int wake) {
    if (pool_acquire(nparts, wake)) {
        run_job(fn, ctx, nparts, wake, 0);
        plx_unlock(&pool.run_lock);
        return;
    }
    run_serial(fn, ctx, nparts);
}

void pylstm_pool_run(pylstm_job_fn fn, void *ctx, size_t nparts) { pool_run(fn, ctx, nparts, 1); }

void pylstm_pool_run_awake(pylstm_job_fn fn, void *ctx, size_t nparts) {
    pool_run(fn, ctx, nparts, 0);
}

/* ---- stepped jobs ---- */

typedef struct {
    pylstm_step_fn fn;
    void *ctx;
    size_t nsteps, nparts;
    step_slot slots[PYLSTM_MAX_THREADS];
} steps_job;

/* Whether every part has ended `step` steps (so step `step` may start). */
static int steps_ended(steps_job *j, size_t step) {
    size_t q;
    for (q = 0; q < j->nparts; ++q)
        if ((size_t)LOAD(&j->slots[q].ended) < step) return 0;
    return 1;
}

/* The lowest step some part has not had claimed yet. */
static size_t steps_next(steps_job *j) {
    size_t q, s = (size_t)LOAD(&j->slots[0].claimed);
    for (q = 1; q < j->nparts; ++q) {
        const size_t c = (size_t)LOAD(&j->slots[q].claimed);
        if (c < s) s = c;
    }
    return s;
}

/* One member of a stepped job (a part of the pool job that carries it): from
 * the first step with an unclaimed part to the last, waits for the step
 * before to end, then claims and runs its home part (member % nparts) of
 * the step and after it any part of the step still unclaimed (whose home
 * thread is late, asleep or busy elsewhere: the job never waits for a
 * thread that is not running one of its parts). A part claimed is run by
 * its claimer, which marks it ended; a thread waiting for a part spins
 * for half as long as its own last part took (5-200 us, as the caller of a
 * job waits for its parts), then sleeps until a part ends. A claim is a
 * compare-and-swap of the part's count of claimed steps from the step's
 * number to the next, so each part of each step runs once; its release
 * pairs with the acquire of the claim, and each step's parts start after
 * the parts of the step before ended (their `ended` stores release what
 * they wrote). */
static void steps_member_(void *vctx, size_t member, size_t members) {
    steps_job *j = (steps_job *)vctx;
    const size_t np = j->nparts, home = member % np;
    double part_ns = 0;
    size_t s = steps_next(j);
    (void)members;
    while (s < j->nsteps) {
        size_t i, ran = 0;
        if (!steps_ended(j, s)) {
            spin_budget budget = {0, 0, 0, PYLSTM_WAIT_MAX_NS};
            budget.ns = 0.5 * part_ns;
            while (!steps_ended(j, s) && spin_more(&budget))
                ;
            if (!steps_ended(j, s)) {
                /* The handshake of the workers' sleep, with step_waiters and
                 * the parts' ended counts. step_kicked is cleared before each
                 * look at the counts (a part ending after the look sees it
                 * clear, and broadcasts); while it is set, threads finishing
                 * parts skip the broadcast: a woken thread on a busy machine
                 * may not run for milliseconds, and each broadcast cost the
                 * other 10-26 us in the system call. */
                plx_lock(&pool.lock);
                (void)ADD(&pool.step_waiters, 1);
                for (;;) {
                    (void)SWAP(&pool.step_kicked, 0);
                    if (steps_ended(j, s)) break;
                    plx_wait(&pool.step_done, &pool.lock);
                }
                (void)ADD(&pool.step_waiters, -1);
                plx_unlock(&pool.lock);
            }
        }
        for (i = 0; i < np; ++i) {
            const size_t q = (home + i) % np;
            step_slot *slot = &j->slots[q];
            double t0 = 0;
            int timed;
            if ((size_t)LOAD(&slot->claimed) != s || !CAS(&slot->claimed, (long)s, (long)s + 1))
                continue;
            /* a part's time, for the spin bound, read every 16th step: two
             * clock reads are 50 ns, a tenth of a step at B = 1, H = 64 */
            timed = !ran++ && (s & 15) == 0;
            if (timed) t0 = plx_now_ns();
            j->fn(j->ctx, s, q, np);
            if (timed) {
                part_ns = plx_now_ns() - t0;
                STORE(&pool.part_ns, (long)(part_ns < 1e9 ? part_ns : 1e9));
            }
            /* an add, not a store: see the caller's sleep in run_job */
            (void)ADD(&slot->ended, 1);
            if (LOAD(&pool.step_waiters) && !LOAD(&pool.step_kicked)) {
                plx_lock(&pool.lock);
                STORE(&pool.step_kicked, 1);
                plx_broadcast(&pool.step_done);
                plx_unlock(&pool.lock);
            }
        }
        /* every part of step s is claimed: on to the first step with one
         * that is not */
        s = steps_next(j);
    }
}

/* The step loops' kinds (pylstm_pool_steps_split), under kinds_lock: no
 * other lock is taken while it is held. */
#define PYLSTM_KIND_SLOTS 8
static plx_mutex kinds_lock = PLX_MUTEX_INIT;
static pylstm_steps_stats kinds[PYLSTM_KIND_SLOTS];
static unsigned kinds_next;

/* The slot of `kind`, NULL if none; under kinds_lock. */
static pylstm_steps_stats *kind_slot(long kind) {
    unsigned i;
    for (i = 0; i < PYLSTM_KIND_SLOTS; ++i)
        if (kinds[i].kind == kind) return &kinds[i];
    return NULL;
}

int pylstm_pool_steps_split(long kind) {
    const long now = now_us();
    const pylstm_steps_stats *s;
    int split;
    plx_lock(&kinds_lock);
    s = kind_slot(kind);
    split = s ? pylstm_steps_choose(s, now) : 1;
    plx_unlock(&kinds_lock);
    return split;
}

/* A loop of kind `kind` ran the way `split`, took ns per step and ended at
 * end_ns on the pool's clock. */
static void note_kind(long kind, int split, double ns, double end_ns) {
    const long now = us_of(end_ns);
    pylstm_steps_stats *s;
    plx_lock(&kinds_lock);
    s = kind_slot(kind);
    if (!s) {
        s = &kinds[kinds_next++ % PYLSTM_KIND_SLOTS];
        s->kind = kind, s->ns[0] = s->ns[1] = 0, s->split = 1;
        s->since_us = now, s->wait_us = PYLSTM_TRY_MIN_US, s->trying = 0;
    }
    pylstm_steps_record(s, split, ns, now);
    plx_unlock(&kinds_lock);
}

void pylstm_pool_run_steps(pylstm_step_fn fn, void *ctx, size_t nsteps, size_t nparts,
                           int wake, long kind) {
    /* Timed from before the job, as its caller waits for it: from when the
     * caller turned to the parts, a caller descheduled meanwhile while a
     * worker ran every step found the job done (1 ns a step). */
    const double start = kind && nsteps > 0 ? plx_now_ns() : 0;
    if (nsteps > 0 && pool_acquire(nparts, wake)) {
        steps_job j;
        size_t q;
        double end;
        j.fn = fn, j.ctx = ctx, j.nsteps = nsteps, j.nparts = nparts;
        for (q = 0; q < nparts; ++q) j.slots[q].claimed = j.slots[q].ended = 0;
        run_job(steps_member_, &j, nparts < pool.n ? nparts : pool.n, wake, 1);
        end = plx_now_ns();
        STORE(&pool.last_end_us, us_of(end));
        plx_unlock(&pool.run_lock);
        if (kind) note_kind(kind, 1, (end - start) / (double)nsteps, end);
        return;
    }
    run_steps_serial(fn, ctx, nsteps, nparts);
    /* (several parts in turn, the pool busy: neither way) */
    if (kind && nparts == 1 && nsteps > 0) {
        const double end = plx_now_ns();
        note_kind(kind, 0, (end - start) / (double)nsteps, end);
    }
    /* (a single step never runs in parallel: no need to read the clock) */
    if (nsteps > 1 && LOAD(&pool.want) > 1) STORE(&pool.last_end_us, now_us());
}

void pylstm_pool_run_loops(pylstm_job_fn fn, void *ctx, size_t nparts, int wake) {
    if (pool_acquire(nparts, wake)) {
        run_job(fn, ctx, nparts, wake, 1);
        STORE(&pool.last_end_us, now_us());
        plx_unlock(&pool.run_lock);
        return;
    }
    run_serial(fn, ctx, nparts);
    if (LOAD(&pool.want) > 1) STORE(&pool.last_end_us, now_us());
}

static void stop_workers(void) {
    size_t i;
    plx_lock(&pool.lock);
    STORE(&pool.quit, 1);
    plx_broadcast(&pool.wake);
    plx_unlock(&pool.lock);
    for (i = 1; i < pool.n; ++i) join_thread(pool.threads[i]);
    STORE(&pool.quit, 0);
    pool.n = 1;
}

#if defined(PYLSTM_THREADS_POSIX)
/* fork(): prepare takes run_lock (waiting for a parallel job of another
 * thread to end) and lock, so the child's copies are consistent; the parent
 * releases them; the child, whose copies are held by the one thread it has
 * (the forking one), replaces every lock and condition variable by a fresh
 * one (the workers that waited on them do not exist there) and records that
 * it has no workers yet. */
static void fork_prepare(void) {
    plx_lock(&pool.run_lock);
    plx_lock(&pool.lock);
    plx_lock(&kinds_lock);
}

static void fork_parent(void) {
    plx_unlock(&kinds_lock);
    plx_unlock(&pool.lock);
    plx_unlock(&pool.run_lock);
}

static void fork_child(void) {
    static const pthread_mutex_t fresh_mutex = PTHREAD_MUTEX_INITIALIZER;
    static const pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
    pool.lock = fresh_mutex;
    pool.run_lock = fresh_mutex;
    kinds_lock = fresh_mutex;
    pool.wake = fresh_cond;
    pool.done = fresh_cond;
    pool.step_done = fresh_cond;
    pool.n = 1;
    STORE(&pool.claims, 0);
    STORE(&pool.unfinished, 0);
    STORE(&pool.sleepers, 0);
    STORE(&pool.caller_asleep, 0);
    STORE(&pool.step_waiters, 0);
    STORE(&pool.step_kicked, 0);
    STORE(&pool.last_end_us, 0);
    STORE(&pool.quit, 0);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_ok;
static void atfork_register(void) {
    atfork_ok = pthread_atfork(fork_prepare, fork_parent, fork_child) == 0;
}

/* Registers the handlers once, before the first worker starts. */
static int fork_safe(void) {
    return pthread_once(&atfork_once, atfork_register) == 0 && atfork_ok;
}
#else
static int fork_safe(void) { return 1; } /* no fork() on Win32 */
#endif

pylstm_status pylstm_set_num_threads(size_t n) {
    if (n < 1 || n > PYLSTM_MAX_THREADS) return PYLSTM_ERR_BAD_SIZE;
    if (n > 1 && !fork_safe()) return PYLSTM_ERR_OUT_OF_MEMORY;
    plx_lock(&pool.run_lock);
    if (n != (size_t)LOAD(&pool.want) || pool.n != n) {
        stop_workers();
        STORE(&pool.want, n);
        start_workers();
    }
    plx_unlock(&pool.run_lock);
    /* keep the threads that started */
    return pool.n == n ? PYLSTM_OK : PYLSTM_ERR_OUT_OF_MEMORY;
}

#else /* no threads: every job runs in the caller */

size_t pylstm_pool_threads(void) { return 1; }

size_t pylstm_pool_threads_for(int *wake) {
    (void)wake;
    return 1;
}

void pylstm_pool_run(pylstm_job_fn fn, void *ctx, size_t nparts) { run_serial(fn, ctx, nparts); }

void pylstm_pool_run_awake(pylstm_job_fn fn, void *ctx, size_t nparts) {
    run_serial(fn, ctx, nparts);
}

void pylstm_pool_run_steps(pylstm_step_fn fn, void *ctx, size_t nsteps, size_t nparts,
                           int wake, long kind) {
    (void)wake, (void)kind;
    run_steps_serial(fn, ctx, nsteps, nparts);
}

int pylstm_pool_steps_split(long kind) {
    (void)kind;
    return 0;
}

void pylstm_pool_run_loops(pylstm_job_fn fn, void *ctx, size_t nparts, int wake) {
    (void)wake;
    run_serial(fn, ctx, nparts);
}

void pylstm_pool_note_end(void) {}

pylstm_status pylstm_set_num_threads(size_t n) {
    return n >= 1 && n <= PYLSTM_MAX_THREADS ? PYLSTM_OK : PYLSTM_ERR_BAD_SIZE;
}

#endif

size_t pylstm_get_num_threads(void) { return pylstm_pool_threads(); }
