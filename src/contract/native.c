/* native.c: the contract the native engine implements for a loaded model, derived from its
 * per-layer specs: one mask per distinct attention kind and window, one key state and one
 * value state per group of layers sharing that kind and window. */
#include "contract/internal.h"
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Default context when neither the caller nor the model says: the caches of a full layer
 * are allocated up front, so a model trained on 128k tokens must not get 128k by default. */
#define NATIVE_DEFAULT_CTX 8192

mixlm_contract_params mixlm_contract_default_params(void) {
    mixlm_contract_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.kv_dtype = MIXLM_DTYPE_F32;
    p.max_step = 0;
    return p;
}

typedef struct layer_group {
    mixlm_attn_kind kind;
    int32_t window;
    int32_t n;
} layer_group;

static mixlm_attn_kind kind_of(mx_attn_kind a) {
    switch (a) {
    case MX_ATTN_SLIDING: return MIXLM_ATTN_SLIDING;
    case MX_ATTN_CHUNKED: return MIXLM_ATTN_CHUNKED;
    default: return MIXLM_ATTN_CAUSAL;
    }
}

static void group_name(char *buf, size_t len, const char *prefix, const layer_group *g) {
    if (g->kind == MIXLM_ATTN_CAUSAL)
        snprintf(buf, len, "%sfull", prefix);
    else
        snprintf(buf, len, "%s%s_%d", prefix, mixlm_attn_kind_name(g->kind), (int)g->window);
}

mixlm_status mixlm_model_contract(const mixlm_model *m, mixlm_contract_params params,
                                  mixlm_contract **out) {
    if (!m || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL argument");
    *out = NULL;
    const mx_hparams *hp = &m->hp;
    if (hp->n_layer <= 0 || hp->n_layer > MIXLM_CONTRACT_MAX_LAYERS || !m->layers)
        return mx_err(MIXLM_ERR_UNSUPPORTED, "contract: model has %d layers", (int)hp->n_layer);
    if (hp->n_head_kv <= 0 || hp->head_dim <= 0 || hp->n_vocab <= 0)
        return mx_err(MIXLM_ERR_UNSUPPORTED, "contract: model lacks head counts or vocabulary size");
    if (params.kv_dtype != MIXLM_DTYPE_F32 && params.kv_dtype != MIXLM_DTYPE_F16 &&
        params.kv_dtype != MIXLM_DTYPE_BF16)
        return mx_err(MIXLM_ERR_INVALID_ARG, "contract: KV cache dtype must be f32, f16 or bf16");
    if (params.n_ctx < 0 || params.max_step < 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "contract: negative context or step size");
    int64_t n_ctx = params.n_ctx;
    if (n_ctx == 0) n_ctx = hp->n_ctx_train > 0 ? MX_MIN(hp->n_ctx_train, NATIVE_DEFAULT_CTX)
                                               : NATIVE_DEFAULT_CTX;

    /* Group layers by (kind, window), in order of first appearance. */
    layer_group groups[64];
    int n_groups = 0;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        mixlm_attn_kind k = kind_of(m->layers[l].attn);
        int32_t w = k == MIXLM_ATTN_CAUSAL ? 0 : m->layers[l].window;
        if (k != MIXLM_ATTN_CAUSAL && w <= 0)
            return mx_err(MIXLM_ERR_FORMAT, "contract: layer %d is %s without a window", (int)l,
                          mixlm_attn_kind_name(k));
        int g;
        for (g = 0; g < n_groups; g++)
            if (groups[g].kind == k && groups[g].window == w) break;
        if (g == n_groups) {
            if (n_groups == (int)MX_ARRAY_LEN(groups))
                return mx_err(MIXLM_ERR_UNSUPPORTED, "contract: too many distinct attention kinds");
            groups[g].kind = k;
            groups[g].window = w;
            groups[g].n = 0;
            n_groups++;
        }
        groups[g].n++;
    }

    mixlm_contract *c;
    mixlm_status st = mixlm_contract_create(n_ctx, &c);
    if (st) return st;
    mixlm_contract_set_max_step(c, params.max_step);

    mixlm_input_decl in;
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "tokens");
    in.role = MIXLM_ROLE_TOKEN_IDS;
    in.dtype = MIXLM_DTYPE_I32;
    in.shape.n_dims = 1;
    in.shape.dims[0].sym = MIXLM_DIM_N;
    st = mixlm_contract_add_input(c, &in);
    snprintf(in.name, sizeof in.name, "positions");
    in.role = MIXLM_ROLE_POSITIONS;
    in.dtype = MIXLM_DTYPE_I64;
    if (!st) st = mixlm_contract_add_input(c, &in);

    /* One mask per group. The engine evaluates the rule itself while it attends, so the masks
     * are declared (inspect shows them) but never materialised. Full layers keep every key
     * (absolute layout); sliding and chunked layers keep a ring of W (or C) slots, and the
     * keys of a prefill chunk live in scratch: the ring layout with a chunk region. */
    for (int g = 0; !st && g < n_groups; g++) {
        memset(&in, 0, sizeof in);
        group_name(in.name, sizeof in.name, "mask_", &groups[g]);
        in.role = MIXLM_ROLE_ATTENTION_MASK;
        in.dtype = MIXLM_DTYPE_F32;
        in.flags = MIXLM_INPUT_EXECUTOR_EVAL;
        in.shape.n_dims = 4;
        in.shape.dims[0] = (mixlm_dim){MIXLM_DIM_FIXED, 1};
        in.shape.dims[1] = (mixlm_dim){MIXLM_DIM_FIXED, 1};
        in.shape.dims[2] = (mixlm_dim){MIXLM_DIM_N, 0};
        in.shape.dims[3] = (mixlm_dim){MIXLM_DIM_KV, 0};
        in.mask.kind = groups[g].kind;
        in.mask.window = groups[g].window;
        in.mask.form = MIXLM_MASK_ADDITIVE;
        in.mask.blocked = NAN;
        in.mask.layout = groups[g].kind == MIXLM_ATTN_CAUSAL ? MIXLM_KEYS_ABSOLUTE : MIXLM_KEYS_RING;
        in.mask.chunk_region = groups[g].kind != MIXLM_ATTN_CAUSAL;
        st = mixlm_contract_add_input(c, &in);
    }

    /* Key and value states per group: [layers_in_group, n_head_kv, capacity, head_dim]. */
    mixlm_state_decl *sd = mx_calloc(1, sizeof *sd);
    if (!sd && !st) st = MIXLM_ERR_NOMEM;
    for (int g = 0; !st && g < n_groups; g++) {
        for (int kvi = 0; !st && kvi < 2; kvi++) {
            memset(sd, 0, sizeof *sd);
            group_name(sd->name, sizeof sd->name, kvi == 0 ? "k_" : "v_", &groups[g]);
            sd->holds = kvi == 0 ? MIXLM_STATE_KEYS : MIXLM_STATE_VALUES;
            sd->layout = groups[g].kind == MIXLM_ATTN_CAUSAL ? MIXLM_CACHE_FULL
                         : groups[g].kind == MIXLM_ATTN_SLIDING ? MIXLM_CACHE_RING
                                                                : MIXLM_CACHE_CHUNK;
            sd->window = groups[g].window;
            sd->dtype = params.kv_dtype;
            sd->shape.n_dims = 4;
            sd->shape.dims[0] = (mixlm_dim){MIXLM_DIM_FIXED, groups[g].n};
            sd->shape.dims[1] = (mixlm_dim){MIXLM_DIM_FIXED, hp->n_head_kv};
            sd->shape.dims[2] = (mixlm_dim){groups[g].kind == MIXLM_ATTN_CAUSAL ? MIXLM_DIM_CTX
                                                                                 : MIXLM_DIM_W, 0};
            sd->shape.dims[3] = (mixlm_dim){MIXLM_DIM_FIXED, hp->head_dim};
            for (int32_t l = 0; l < hp->n_layer; l++) {
                mixlm_attn_kind k = kind_of(m->layers[l].attn);
                int32_t w = k == MIXLM_ATTN_CAUSAL ? 0 : m->layers[l].window;
                if (k == groups[g].kind && w == groups[g].window) sd->layers[sd->n_layers++] = l;
            }
            st = mixlm_contract_add_state(c, sd);
        }
    }
    free(sd);

    if (!st) {
        mixlm_output_decl o;
        memset(&o, 0, sizeof o);
        snprintf(o.name, sizeof o.name, "logits");
        o.rows = MIXLM_LOGITS_REQUESTED;
        o.n_vocab = hp->n_vocab;
        st = mixlm_contract_set_output(c, &o);
    }
    if (!st) st = mixlm_contract_validate(c);
    if (st) {
        mixlm_contract_free(c);
        return mx_err_prefix(st, "native contract: ");
    }
    *out = c;
    return MIXLM_OK;
}
