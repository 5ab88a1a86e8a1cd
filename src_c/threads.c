/* The persistent thread pool (threads.h), on POSIX threads or Win32 threads.
 * Platforms with neither get a pool of one thread: every job runs in the
 * caller, with the same results.
 *
 * Workers spin briefly on a generation counter before sleeping on a condition
 * variable: an LSTM step is a few microseconds, far less than a condition
 * variable's wake-up, and sequences run hundreds of steps back to back.
 *
 * This is the core's one piece of global mutable state besides CPU detection;
 * pylstm_set_num_threads is the only function that creates or ends threads,
 * with one exception: after fork() the child has none of the parent's workers
 * (only the forking thread survives), so an atfork handler resets the pool in
 * the child to "want this many threads, have none", and the child's first
 * parallel call starts its own workers. The prepare handler takes both locks,
 * so no job is in flight and the child inherits them in a known state. */
#include "threads.h"

#define PYLSTM_MAX_THREADS 64

void pylstm_split(size_t count, size_t grain, size_t part, size_t nparts, size_t *lo,
                  size_t *hi) {
    size_t chunks = (count + grain - 1) / grain;
    size_t per = chunks / nparts, extra = chunks % nparts;
    size_t first = part * per + (part < extra ? part : extra);
    size_t n = per + (part < extra ? 1 : 0);
    *lo = first * grain < count ? first * grain : count;
    *hi = (first + n) * grain < count ? (first + n) * grain : count;
}

pylstm_status pylstm_fit_threads(pylstm_plan_fn plan, void *ctx, size_t avail) {
    size_t nt = pylstm_pool_threads();
    for (;; --nt) {
        size_t need = 0;
        pylstm_status st = plan(ctx, nt, &need);
        if (st != PYLSTM_OK || need <= avail || nt == 1) return st;
    }
}

/* ---- a thin platform layer: mutex, condition variable, thread, atomics ---- */

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
/* Interlocked operations are full barriers. */
#define LOAD(p) InterlockedCompareExchange((p), 0, 0)
#define STORE(p, v) ((void)InterlockedExchange((p), (LONG)(v)))
#define ADD(p, v) (InterlockedExchangeAdd((p), (LONG)(v)) + (LONG)(v))
#elif (defined(__unix__) || defined(__APPLE__)) && (defined(__GNUC__) || defined(__clang__))
#define PYLSTM_THREADS_POSIX 1
#include <pthread.h>
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
#else
#define plx_pause() ((void)0)
#endif
#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)
#endif

#if defined(PYLSTM_THREADS_WIN32) || defined(PYLSTM_THREADS_POSIX)

typedef struct {
    plx_mutex lock;        /* guards sleeping and the condition variables */
    plx_cond wake;         /* a new generation or quit */
    plx_cond done;         /* the last worker finished */
    plx_mutex run_lock;    /* one parallel job at a time */
    plx_thread threads[PYLSTM_MAX_THREADS];
    size_t want;           /* threads asked for by pylstm_set_num_threads */
    size_t n;              /* threads running, including the caller (< want
                              only in a forked child until its first parallel
                              call, or when a thread could not start there) */
    plx_atomic generation; /* bumped for each job */
    long start_gen;        /* generation when the workers were created */
    plx_atomic remaining;  /* workers still running the current job */
    plx_atomic quit;
    pylstm_job_fn fn;
    void *ctx;
    size_t nparts;
} pylstm_pool;

static pylstm_pool pool = {PLX_MUTEX_INIT, PLX_COND_INIT, PLX_COND_INIT, PLX_MUTEX_INIT,
                           {0}, 1, 1, 0, 0, 0, 0, NULL, NULL, 1};

static void worker_loop(size_t index) {
    /* Not the current generation: a job may have started before this thread
     * ran, and it must take part in it. start_gen was written before the
     * thread was created, which orders it before this read. */
    long seen = pool.start_gen;
    for (;;) {
        long gen;
        int spins = 0;
        /* spin a few tens of microseconds (pause is ~10-60 cycles), then sleep */
        while ((gen = LOAD(&pool.generation)) == seen && !LOAD(&pool.quit) && spins < 4000) {
            ++spins;
            plx_pause();
        }
        if (gen == seen && !LOAD(&pool.quit)) {
            plx_lock(&pool.lock);
            while ((gen = LOAD(&pool.generation)) == seen && !LOAD(&pool.quit))
                plx_wait(&pool.wake, &pool.lock);
            plx_unlock(&pool.lock);
        }
        if (LOAD(&pool.quit)) return;
        seen = gen;
        if (index < pool.nparts) pool.fn(pool.ctx, index, pool.nparts);
        if (ADD(&pool.remaining, -1) == 0) {
            plx_lock(&pool.lock);
            plx_signal(&pool.done);
            plx_unlock(&pool.lock);
        }
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
    worker_loop((size_t)(uintptr_t)arg);
    return 0;
}
static int start_thread(plx_thread *t, size_t index) {
    *t = CreateThread(NULL, 0, worker, (LPVOID)(uintptr_t)index, 0, NULL);
    return *t != NULL;
}
static void join_thread(plx_thread t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
#else
static void *worker(void *arg) {
    worker_loop((size_t)(uintptr_t)arg);
    return NULL;
}
static int start_thread(plx_thread *t, size_t index) {
    return pthread_create(t, NULL, worker, (void *)(uintptr_t)index) == 0;
}
static void join_thread(plx_thread t) { pthread_join(t, NULL); }
#endif

size_t pylstm_pool_threads(void) {
    /* want only changes in pylstm_set_num_threads, called at setup */
    return pool.want;
}

/* Starts workers n .. want-1 (under run_lock): in a forked child, whose pool
 * was reset, on its first parallel call. A thread that cannot start ends the
 * attempt: the pool keeps those that did, and calls needing more parts run
 * them in the caller (same results). */
static void start_workers(void) {
    size_t i;
    pool.start_gen = LOAD(&pool.generation);
    for (i = pool.n; i < pool.want; ++i) {
        if (!start_thread(&pool.threads[i], i)) {
            pool.want = i;
            return;
        }
        pool.n = i + 1;
    }
}

void pylstm_pool_run(pylstm_job_fn fn, void *ctx, size_t nparts) {
    size_t p;
    if (nparts > 1 && nparts <= pool.want && plx_trylock(&pool.run_lock)) {
        if (pool.n < pool.want) start_workers();
        if (nparts <= pool.n) {
            pool.fn = fn, pool.ctx = ctx, pool.nparts = nparts;
            STORE(&pool.remaining, (long)(pool.n - 1));
            plx_lock(&pool.lock);
            (void)ADD(&pool.generation, 1);
            plx_broadcast(&pool.wake);
            plx_unlock(&pool.lock);
            fn(ctx, 0, nparts);
            {
                int spins = 0;
                while (LOAD(&pool.remaining) != 0 && spins < 100000) {
                    ++spins;
                    plx_pause();
                }
            }
            if (LOAD(&pool.remaining) != 0) {
                plx_lock(&pool.lock);
                while (LOAD(&pool.remaining) != 0) plx_wait(&pool.done, &pool.lock);
                plx_unlock(&pool.lock);
            }
            plx_unlock(&pool.run_lock);
            return;
        }
        plx_unlock(&pool.run_lock);
    }
    /* Serial: the same parts, in order, in this thread. */
    for (p = 0; p < nparts; ++p) fn(ctx, p, nparts);
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
}

static void fork_parent(void) {
    plx_unlock(&pool.lock);
    plx_unlock(&pool.run_lock);
}

static void fork_child(void) {
    static const pthread_mutex_t fresh_mutex = PTHREAD_MUTEX_INITIALIZER;
    static const pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
    pool.lock = fresh_mutex;
    pool.run_lock = fresh_mutex;
    pool.wake = fresh_cond;
    pool.done = fresh_cond;
    pool.n = 1;
    STORE(&pool.remaining, 0);
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
    if (n != pool.want || pool.n != n) {
        stop_workers();
        pool.want = n;
        start_workers();
    }
    plx_unlock(&pool.run_lock);
    /* keep the threads that started */
    return pool.n == n ? PYLSTM_OK : PYLSTM_ERR_OUT_OF_MEMORY;
}

#else /* no threads: every job runs in the caller */

size_t pylstm_pool_threads(void) { return 1; }

void pylstm_pool_run(pylstm_job_fn fn, void *ctx, size_t nparts) {
    size_t p;
    for (p = 0; p < nparts; ++p) fn(ctx, p, nparts);
}

pylstm_status pylstm_set_num_threads(size_t n) {
    return n >= 1 && n <= PYLSTM_MAX_THREADS ? PYLSTM_OK : PYLSTM_ERR_BAD_SIZE;
}

#endif

size_t pylstm_get_num_threads(void) { return pylstm_pool_threads(); }
