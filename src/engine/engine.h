/* engine.h: the native CPU engine: one parameterised decoder block driven by the model's
 * hyper-parameters and per-layer specs (src/model/model.h), weights used in place in their
 * stored type, KV state handed in per call as per-layer buffers (full-length or ring).
 *
 * The engine knows nothing of sampling, text or contracts: native_executor.c adapts it to the
 * executor interface. Everything the token loop needs is allocated by mx_engine_create(). */
#ifndef MX_ENGINE_H
#define MX_ENGINE_H

#include "model/model.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mx_engine mx_engine;

typedef struct mx_engine_params {
    int n_threads;      /* worker threads including the caller (>= 1) */
    int32_t n_batch;    /* most tokens computed together (longer steps are split); scratch size */
    int32_t n_ctx;      /* most positions a full-attention cache may hold (sizes score buffers) */
} mx_engine_params;

mx_engine_params mx_engine_default_params(void);

/* Check every tensor the model's layer specs need (presence, shape, type) and size all
 * scratch. Errors name the offending tensor. The model must outlive the engine. */
mixlm_status mx_engine_create(const mixlm_model *model, mx_engine_params params, mx_engine **out);
void mx_engine_free(mx_engine *e);

const mixlm_model *mx_engine_model(const mx_engine *e);
int32_t mx_engine_kv_dim(const mx_engine *e);    /* n_head_kv * head_dim: one cache row */
int32_t mx_engine_n_vocab(const mx_engine *e);
int mx_engine_n_threads(const mx_engine *e);

/* One layer's KV state as the engine sees it: k and v each [n_head_kv][n_slots][head_dim] of
 * `type` (F32, F16 or BF16; the layout of the native contract's states). A full cache stores
 * position j in slot j; a ring (sliding and chunked layers) stores it in slot j % n_slots and
 * must hold at least the layer's window. */
typedef struct mx_kv_view {
    void *k;
    void *v;
    mx_type type;
    int32_t n_slots;
    bool ring;
} mx_kv_view;

static inline bool mx_kv_type_ok(mx_type t) {
    return t == MX_TYPE_F32 || t == MX_TYPE_F16 || t == MX_TYPE_BF16;
}

/* Which keys a query at position q may see under a layer's rule (SPEC.md section 1): the
 * contiguous range [*k0, q]. The engine evaluates masks this way instead of materialising them. */
void mx_attn_key_range(const mx_layer_spec *spec, int64_t q, int64_t *k0);

/* Compute n tokens of one sequence at positions pos0 .. pos0+n-1, given kv (hp.n_layer views)
 * that hold that sequence's keys and values for positions < pos0. Writes the new keys and
 * values into kv. logits: NULL (none), [n][n_vocab] when all_logits, else [n_vocab] for the
 * last token. The keys of a step live in scratch shared by all layers while the step runs, so
 * a step longer than a ring's window is fine. */
mixlm_status mx_engine_forward(mx_engine *e, const mx_kv_view *kv, const int32_t *tokens,
                               int32_t n, int64_t pos0, float *logits, bool all_logits);

/* One sequence of a batched step. */
typedef struct mx_engine_seq {
    const mx_kv_view *kv;      /* hp.n_layer views of this sequence's state */
    const int32_t *tokens;
    int32_t n;
    int64_t pos0;
    float *logits;             /* as in mx_engine_forward() */
    bool all_logits;
} mx_engine_seq;

/* Several sequences in one step: their rows share each pass over the weights (up to n_batch
 * rows per pass), attention stays within each sequence. Results equal running each sequence
 * alone, bit for bit. Sequences must not share a state. */
mixlm_status mx_engine_forward_batch(mx_engine *e, const mx_engine_seq *seqs, int32_t n_seqs);

/* ---- A self-contained KV cache (tools and tests; the runtime brings its own state) ------- */

typedef struct mx_kv_cache {
    int32_t n_layer;
    mx_kv_view *layers;
    void *mem;
    uint64_t bytes;
} mx_kv_cache;

/* Full layers get n_ctx slots; sliding/chunked layers get a ring of exactly their window, or
 * n_ctx slots with ring = false when full_length_local (the same rule over a longer cache). */
mixlm_status mx_kv_cache_create(const mx_engine *e, int32_t n_ctx, mx_type type,
                                bool full_length_local, mx_kv_cache **out);
void mx_kv_cache_free(mx_kv_cache *c);

#endif /* MX_ENGINE_H */
