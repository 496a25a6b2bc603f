/* native_executor.c: the native engine as an executor: maps the native contract's states
 * ([layers_in_group, n_head_kv, capacity, head_dim] per (kind, window) group) onto per-layer
 * KV views and runs each sequence of a step through the decoder. */
#define _POSIX_C_SOURCE 200809L
#include "engine/engine.h"

#include <stdlib.h>
#include <unistd.h>

/* Sequences handed to the engine together (their rows share each pass over the weights). */
#define GROUP 64

typedef struct layer_map {
    int32_t k_state, v_state; /* state indices in contract order */
    uint64_t offset;          /* bytes from the state buffer's start to this layer's block */
    uint64_t block;           /* bytes of one layer's block */
    int32_t n_slots;
    bool ring;
} layer_map;

typedef struct native_exec {
    mx_engine *engine;
    mixlm_contract *contract;
    int32_t n_layer;
    layer_map *map;
    mx_type *types;           /* KV element type per layer */
    mx_kv_view *views;        /* [GROUP][n_layer], filled per step; sized once */
    mx_engine_seq seqs[GROUP];
} native_exec;

mixlm_native_params mixlm_native_default_params(void) {
    mixlm_native_params p;
    memset(&p, 0, sizeof p);
    p.contract = mixlm_contract_default_params();
    return p;
}

static const mixlm_contract *ne_contract(void *self) { return ((native_exec *)self)->contract; }

static void ne_destroy(void *self) {
    native_exec *x = self;
    if (!x) return;
    mx_engine_free(x->engine);
    mixlm_contract_free(x->contract);
    free(x->map);
    free(x->views);
    free(x->types);
    free(x);
}

static mixlm_status ne_step(void *self, const mixlm_step_seq *seqs, int32_t n_seqs) {
    native_exec *x = self;
    const int32_t n_states = mixlm_contract_n_states(x->contract);
    for (int32_t g0 = 0; g0 < n_seqs; g0 += GROUP) {
        const int32_t g_n = MX_MIN(GROUP, n_seqs - g0);
        for (int32_t j = 0; j < g_n; j++) {
            const mixlm_step_seq *sq = &seqs[g0 + j];
            mx_kv_view *views = x->views + (int64_t)j * x->n_layer;
            for (int32_t l = 0; l < x->n_layer; l++) {
                const layer_map *mp = &x->map[l];
                mx_kv_view *v = &views[l];
                if (mp->k_state >= n_states || mp->v_state >= n_states || !sq->states ||
                    !sq->states[mp->k_state] || !sq->states[mp->v_state] ||
                    (sq->state_bytes && (sq->state_bytes[mp->k_state] < mp->offset + mp->block ||
                                         sq->state_bytes[mp->v_state] < mp->offset + mp->block)))
                    return mx_err(MIXLM_ERR_STATE, "native executor: state buffers of layer %d are "
                                                   "missing or too small", (int)l);
                *v = (mx_kv_view){.k = (uint8_t *)sq->states[mp->k_state] + mp->offset,
                                  .v = (uint8_t *)sq->states[mp->v_state] + mp->offset,
                                  .type = x->types[l], .n_slots = mp->n_slots, .ring = mp->ring};
            }
            /* The native contract declares no bidirectional overlay (text decoders only): say
             * so rather than silently computing causal attention for a marked span. */
            for (int32_t i = 0; sq->span_ids && i < sq->n_tokens; i++)
                if (sq->span_ids[i] != 0)
                    return mx_err(MIXLM_ERR_CONTRACT,
                                  "native executor: bidirectional spans (span id %d at position "
                                  "%lld) are not supported by this model's native contract",
                                  (int)sq->span_ids[i], (long long)(sq->pos + i));
            x->seqs[j] = (mx_engine_seq){.kv = views, .tokens = sq->tokens, .n = sq->n_tokens,
                                         .pos0 = sq->pos, .logits = sq->logits,
                                         .all_logits = sq->logits_all};
        }
        mixlm_status st = mx_engine_forward_batch(x->engine, x->seqs, g_n);
        if (st) return st;
    }
    return MIXLM_OK;
}

static mixlm_status map_layers(native_exec *x, const mx_engine *e) {
    const mixlm_model *m = mx_engine_model(e);
    const int64_t n_ctx = mixlm_contract_n_ctx(x->contract);
    for (int32_t l = 0; l < x->n_layer; l++) {
        int32_t si[2], idx[2];
        for (int kv = 0; kv < 2; kv++) {
            mixlm_status st = mixlm_contract_layer_state(x->contract, l,
                                                         kv ? MIXLM_STATE_VALUES : MIXLM_STATE_KEYS,
                                                         &si[kv], &idx[kv]);
            if (st) return st;
        }
        const mixlm_state_decl *kd = mixlm_contract_state(x->contract, si[0]);
        const mixlm_state_decl *vd = mixlm_contract_state(x->contract, si[1]);
        if (idx[0] != idx[1] || kd->layout != vd->layout || kd->window != vd->window ||
            kd->dtype != vd->dtype)
            return mx_err(MIXLM_ERR_CONTRACT, "native executor: keys and values of layer %d are "
                                              "laid out differently", (int)l);
        mx_type t = kd->dtype == MIXLM_DTYPE_F32 ? MX_TYPE_F32
                  : kd->dtype == MIXLM_DTYPE_F16 ? MX_TYPE_F16
                  : kd->dtype == MIXLM_DTYPE_BF16 ? MX_TYPE_BF16 : MX_TYPE_COUNT;
        if (t == MX_TYPE_COUNT)
            return mx_err(MIXLM_ERR_CONTRACT, "native executor: KV dtype %s not supported",
                          mixlm_dtype_name(kd->dtype));
        layer_map *mp = &x->map[l];
        mp->k_state = si[0];
        mp->v_state = si[1];
        mp->ring = kd->layout != MIXLM_CACHE_FULL;
        mp->n_slots = (int32_t)(mp->ring ? kd->window : n_ctx);
        if (mp->ring && m->layers[l].attn == MX_ATTN_FULL)
            return mx_err(MIXLM_ERR_CONTRACT, "native executor: layer %d is full attention but its "
                                              "state is a ring", (int)l);
        mp->block = (uint64_t)mp->n_slots * (uint64_t)m->hp.n_head_kv * (uint64_t)m->hp.head_dim *
                    mx_type_get(t)->bytes;
        mp->offset = (uint64_t)idx[0] * mp->block;
        x->types[l] = t;
    }
    return MIXLM_OK;
}

mixlm_status mixlm_native_executor_create(const mixlm_model *model, mixlm_native_params params,
                                          mixlm_executor **out) {
    if (!model || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "native executor: NULL argument");
    *out = NULL;
    native_exec *x = mx_calloc(1, sizeof *x);
    if (!x) return MIXLM_ERR_NOMEM;
    mixlm_status st = mixlm_model_contract(model, params.contract, &x->contract);
    if (!st) {
        mx_engine_params ep = mx_engine_default_params();
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        ep.n_threads = params.n_threads > 0 ? params.n_threads : (int)MX_MAX(1, MX_MIN(ncpu, 8));
        if (params.n_batch > 0) ep.n_batch = params.n_batch;
        const int64_t n_ctx = mixlm_contract_n_ctx(x->contract);
        ep.n_ctx = (int32_t)MX_MIN(n_ctx > 0 ? n_ctx : 4096, (int64_t)INT32_MAX / 4);
        ep.n_batch = (int32_t)MX_MIN((int64_t)ep.n_batch, (int64_t)ep.n_ctx);
        st = mx_engine_create(model, ep, &x->engine);
    }
    if (!st) {
        x->n_layer = model->hp.n_layer;
        x->map = mx_calloc((size_t)x->n_layer, sizeof *x->map);
        x->views = mx_calloc((size_t)x->n_layer * GROUP, sizeof *x->views);
        x->types = mx_calloc((size_t)x->n_layer, sizeof *x->types);
        st = x->map && x->views && x->types ? map_layers(x, x->engine) : MIXLM_ERR_NOMEM;
    }
    static const mixlm_executor_iface iface = {ne_contract, ne_step, ne_destroy};
    if (!st) st = mixlm_executor_create(&iface, x, out);
    if (st) ne_destroy(x);
    return st;
}
