/* engine_run.h: the logits of every position from the native engine, fed `chunk` tokens per
 * call (0 = all at once): what the engine-level tests compare across kernels, chunkings and
 * thread counts. */
#ifndef MIXLM_TEST_ENGINE_RUN_H
#define MIXLM_TEST_ENGINE_RUN_H

#include "common/util.h"
#include "engine/engine.h"

static inline mixlm_status engine_logits(const mixlm_model *m, int threads, int chunk, mx_type kv_type,
                                         bool full_length_local, const int32_t *tokens, int32_t n,
                                         int32_t n_vocab, float *out) {
    mx_engine_params p = mx_engine_default_params();
    p.n_threads = threads;
    p.n_ctx = n;
    p.n_batch = 64;
    mx_engine *e = NULL;
    mx_kv_cache *kv = NULL;
    mixlm_status st = mx_engine_create(m, p, &e);
    if (!st) st = mx_kv_cache_create(e, n, kv_type, full_length_local, &kv);
    const int step = chunk > 0 ? chunk : n;
    for (int32_t i = 0; i < n && !st; i += step)
        st = mx_engine_forward(e, kv->layers, tokens + i, MX_MIN(step, n - i), i, out + (size_t)i * n_vocab, true);
    mx_kv_cache_free(kv);
    mx_engine_free(e);
    return st;
}

#endif
