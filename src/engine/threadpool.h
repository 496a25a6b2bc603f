/* threadpool.h: a small persistent pool of worker threads. The caller's thread is worker 0;
 * mx_pool_run() hands one function to every worker and returns when all have finished. Work is
 * split by the callee from (ith, nth), never by a queue, so results do not depend on timing. */
#ifndef MX_THREADPOOL_H
#define MX_THREADPOOL_H

#include "mixlm.h"

typedef void (*mx_pool_fn)(void *ctx, int ith, int nth);

typedef struct mx_pool mx_pool;

/* Start n_threads - 1 workers (n_threads >= 1; the caller is the first). */
mixlm_status mx_pool_create(int n_threads, mx_pool **out);
void mx_pool_free(mx_pool *pool);
int mx_pool_size(const mx_pool *pool);

/* Run fn(ctx, i, n) for i = 0..n-1, i = 0 on the calling thread; returns after all are done.
 * Not reentrant: one run at a time per pool. */
void mx_pool_run(mx_pool *pool, mx_pool_fn fn, void *ctx);

/* Rows [*r0, *r1) of n for worker ith of nth (contiguous, balanced). */
static inline void mx_split_rows(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1) {
    *r0 = n * ith / nth;
    *r1 = n * (ith + 1) / nth;
}

#endif /* MX_THREADPOOL_H */
