/* The persistent thread pool (threads.h), on POSIX threads. Platforms without
 * them (and, for now, Windows) get a pool of one thread: every job runs in the
 * caller, with the same results.
 *
 * Workers spin briefly on a generation counter before sleeping on a condition
 * variable: an LSTM step is a few microseconds, far less than a condition
 * variable's wake-up, and sequences run hundreds of steps back to back.
 *
 * This is the core's one piece of global mutable state besides CPU detection;
 * pylstm_set_num_threads is the only function that creates or ends threads. */
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

#if defined(__unix__) || defined(__APPLE__)
#define PYLSTM_HAVE_PTHREADS 1
#include <pthread.h>
#include <sched.h>
#endif

#if defined(PYLSTM_HAVE_PTHREADS) && (defined(__GNUC__) || defined(__clang__))

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

typedef struct {
    pthread_mutex_t lock;      /* guards sleeping and the condition variables */
    pthread_cond_t wake;       /* a new generation or quit */
    pthread_cond_t done;       /* the last worker finished */
    pthread_mutex_t run_lock;  /* one parallel job at a time */
    pthread_t threads[PYLSTM_MAX_THREADS];
    size_t n;                  /* threads including the caller */
    unsigned long generation;  /* bumped for each job */
    unsigned long start_gen;   /* generation when the workers were created */
    unsigned long remaining;   /* workers still running the current job */
    int quit;
    pylstm_job_fn fn;
    void *ctx;
    size_t nparts;
} pylstm_pool;

static pylstm_pool pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                           PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                           {0}, 1, 0, 0, 0, 0, NULL, NULL, 1};

static void *worker(void *arg) {
    const size_t index = (size_t)(uintptr_t)arg;
    /* Not the current generation: a job may have started before this thread
     * ran, and it must take part in it. start_gen was written before
     * pthread_create, which orders it before this read. */
    unsigned long seen = pool.start_gen;
    for (;;) {
        unsigned long gen;
        int spins = 0;
        /* spin a few tens of microseconds (pause is ~10-60 cycles), then sleep */
        while ((gen = LOAD(&pool.generation)) == seen && !LOAD(&pool.quit) && spins < 4000) {
            ++spins;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        if (gen == seen && !LOAD(&pool.quit)) {
            pthread_mutex_lock(&pool.lock);
            while ((gen = LOAD(&pool.generation)) == seen && !LOAD(&pool.quit))
                pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
        if (LOAD(&pool.quit)) return NULL;
        seen = gen;
        if (index < pool.nparts) pool.fn(pool.ctx, index, pool.nparts);
        if (ADD(&pool.remaining, (unsigned long)-1) == 0) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
}

size_t pylstm_pool_threads(void) { return LOAD(&pool.n); }

void pylstm_pool_run(pylstm_job_fn fn, void *ctx, size_t nparts) {
    size_t p;
    if (nparts > 1 && nparts <= LOAD(&pool.n) && pthread_mutex_trylock(&pool.run_lock) == 0) {
        if (nparts <= pool.n) {
            pool.fn = fn, pool.ctx = ctx, pool.nparts = nparts;
            STORE(&pool.remaining, (unsigned long)(pool.n - 1));
            pthread_mutex_lock(&pool.lock);
            ADD(&pool.generation, 1);
            pthread_cond_broadcast(&pool.wake);
            pthread_mutex_unlock(&pool.lock);
            fn(ctx, 0, nparts);
            {
                int spins = 0;
                while (LOAD(&pool.remaining) != 0 && spins < 100000) {
                    ++spins;
#if defined(__x86_64__) || defined(__i386__)
                    __builtin_ia32_pause();
#endif
                }
            }
            if (LOAD(&pool.remaining) != 0) {
                pthread_mutex_lock(&pool.lock);
                while (LOAD(&pool.remaining) != 0) pthread_cond_wait(&pool.done, &pool.lock);
                pthread_mutex_unlock(&pool.lock);
            }
            pthread_mutex_unlock(&pool.run_lock);
            return;
        }
        pthread_mutex_unlock(&pool.run_lock);
    }
    /* Serial: the same parts, in order, in this thread. */
    for (p = 0; p < nparts; ++p) fn(ctx, p, nparts);
}

static void stop_workers(void) {
    size_t i;
    pthread_mutex_lock(&pool.lock);
    STORE(&pool.quit, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (i = 1; i < pool.n; ++i) pthread_join(pool.threads[i], NULL);
    STORE(&pool.quit, 0);
    pool.n = 1;
}

pylstm_status pylstm_set_num_threads(size_t n) {
    size_t i;
    if (n < 1 || n > PYLSTM_MAX_THREADS) return PYLSTM_ERR_BAD_SIZE;
    pthread_mutex_lock(&pool.run_lock);
    if (n != pool.n) {
        stop_workers();
        pool.start_gen = LOAD(&pool.generation);
        for (i = 1; i < n; ++i) {
            if (pthread_create(&pool.threads[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
                pool.n = i; /* keep the threads that started */
                pthread_mutex_unlock(&pool.run_lock);
                return PYLSTM_ERR_OUT_OF_MEMORY;
            }
            pool.n = i + 1;
        }
    }
    pthread_mutex_unlock(&pool.run_lock);
    return PYLSTM_OK;
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
