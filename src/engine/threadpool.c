/* threadpool.c: the persistent worker pool (pthreads). Workers sleep on a condition variable
 * between runs: the machine this was written on is shared, so idle workers must not spin.
 * Measured there (2 vCPUs, load average ~12): bounded polling before sleeping (30 us, yielding
 * the CPU at each turn) cut the cost of empty pool runs but made decode slower by the wall
 * clock (3.2-3.5 vs 5.1-5.7 tokens/s on the Gemma 3 1B-shaped Q8_0 model, 2 threads): a
 * yielding poller loses the core for a whole time slice, while a woken sleeper is favoured by
 * the scheduler. Polling may pay on an idle machine; it needs measuring there first. */
#include "engine/threadpool.h"

#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>

struct mx_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start;   /* a new generation was posted (or quit) */
    pthread_cond_t done;    /* pending reached 0 */
    unsigned long generation;
    int pending;            /* workers still running the current generation */
    int quit;
    mx_pool_fn fn;
    void *ctx;
    struct worker_arg { mx_pool *pool; int ith; } *args;
};

static void *worker_main(void *p) {
    struct worker_arg *a = p;
    mx_pool *pool = a->pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (pool->generation == seen && !pool->quit) pthread_cond_wait(&pool->start, &pool->mu);
        if (pool->quit) {
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        seen = pool->generation;
        mx_pool_fn fn = pool->fn;
        void *ctx = pool->ctx;
        pthread_mutex_unlock(&pool->mu);

        fn(ctx, a->ith, pool->n);

        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mu);
    }
}

mixlm_status mx_pool_create(int n_threads, mx_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return mx_err(MIXLM_ERR_INVALID_ARG, "thread count %d out of range 1..1024", n_threads);
    mx_pool *pool = mx_calloc(1, sizeof *pool);
    if (!pool) return MIXLM_ERR_NOMEM;
    pool->n = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    if (n_threads > 1) {
        pool->threads = mx_calloc((size_t)n_threads, sizeof *pool->threads);
        pool->args = mx_calloc((size_t)n_threads, sizeof *pool->args);
        if (!pool->threads || !pool->args) {
            mx_pool_free(pool);
            return MIXLM_ERR_NOMEM;
        }
        for (int i = 1; i < n_threads; i++) {
            pool->args[i].pool = pool;
            pool->args[i].ith = i;
            if (pthread_create(&pool->threads[i], NULL, worker_main, &pool->args[i]) != 0) {
                pool->n = i; /* join only those started */
                mx_pool_free(pool);
                return mx_err(MIXLM_ERR_INTERNAL, "could not start worker thread %d", i);
            }
        }
    }
    *out = pool;
    return MIXLM_OK;
}

void mx_pool_free(mx_pool *pool) {
    if (!pool) return;
    if (pool->threads) {
        pthread_mutex_lock(&pool->mu);
        pool->quit = 1;
        pthread_cond_broadcast(&pool->start);
        pthread_mutex_unlock(&pool->mu);
        for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool->args);
    free(pool);
}

int mx_pool_size(const mx_pool *pool) { return pool ? pool->n : 1; }

void mx_pool_run(mx_pool *pool, mx_pool_fn fn, void *ctx) {
    if (!pool || pool->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->pending = pool->n - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);

    fn(ctx, 0, pool->n);

    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}
