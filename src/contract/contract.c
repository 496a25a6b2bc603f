/* contract.c: the contract object: declarations, validation (can the runtime fill every
 * input?), read access, the single-token rule and the state fingerprint. */
#include "contract/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* strnlen is POSIX, not C11 */
static size_t name_len(const char *s, size_t max) {
    size_t n = 0;
    while (n < max && s[n]) n++;
    return n;
}

/* ---- Names ----------------------------------------------------------------------------- */

size_t mixlm_dtype_size(mixlm_dtype dtype) {
    switch (dtype) {
    case MIXLM_DTYPE_F32: return 4;
    case MIXLM_DTYPE_F16: return 2;
    case MIXLM_DTYPE_BF16: return 2;
    case MIXLM_DTYPE_I32: return 4;
    case MIXLM_DTYPE_I64: return 8;
    case MIXLM_DTYPE_BOOL: return 1;
    }
    return 0;
}

const char *mixlm_dtype_name(mixlm_dtype dtype) {
    switch (dtype) {
    case MIXLM_DTYPE_F32: return "f32";
    case MIXLM_DTYPE_F16: return "f16";
    case MIXLM_DTYPE_BF16: return "bf16";
    case MIXLM_DTYPE_I32: return "i32";
    case MIXLM_DTYPE_I64: return "i64";
    case MIXLM_DTYPE_BOOL: return "bool";
    }
    return "?";
}

const char *mixlm_role_name(mixlm_role role) {
    switch (role) {
    case MIXLM_ROLE_TOKEN_IDS: return "token_ids";
    case MIXLM_ROLE_POSITIONS: return "positions";
    case MIXLM_ROLE_CURRENT_POS: return "current_pos";
    case MIXLM_ROLE_ATTENTION_MASK: return "attention_mask";
    case MIXLM_ROLE_RING_POS: return "ring_pos";
    case MIXLM_ROLE_UPDATE_MASK: return "update_mask";
    case MIXLM_ROLE_ROPE_COS: return "rope_cos";
    case MIXLM_ROLE_ROPE_SIN: return "rope_sin";
    case MIXLM_ROLE_COUNT: break;
    }
    return "?";
}

const char *mixlm_attn_kind_name(mixlm_attn_kind kind) {
    switch (kind) {
    case MIXLM_ATTN_CAUSAL: return "causal";
    case MIXLM_ATTN_SLIDING: return "sliding";
    case MIXLM_ATTN_CHUNKED: return "chunked";
    }
    return "?";
}

const char *mx_dim_sym_name(mixlm_dim_sym sym) {
    switch (sym) {
    case MIXLM_DIM_FIXED: return "fixed";
    case MIXLM_DIM_N: return "n";
    case MIXLM_DIM_KV: return "kv";
    case MIXLM_DIM_CTX: return "ctx";
    case MIXLM_DIM_W: return "W";
    }
    return "?";
}

const char *mx_holds_name(mixlm_state_holds h) {
    switch (h) {
    case MIXLM_STATE_KEYS: return "keys";
    case MIXLM_STATE_VALUES: return "values";
    case MIXLM_STATE_KV: return "kv";
    case MIXLM_STATE_OTHER: return "other";
    }
    return "?";
}

const char *mx_layout_name(mixlm_cache_layout l) {
    switch (l) {
    case MIXLM_CACHE_FULL: return "full";
    case MIXLM_CACHE_RING: return "ring";
    case MIXLM_CACHE_CHUNK: return "chunk";
    }
    return "?";
}

const char *mx_rows_name(mixlm_logits_rows r) {
    switch (r) {
    case MIXLM_LOGITS_LAST: return "last";
    case MIXLM_LOGITS_ALL: return "all";
    case MIXLM_LOGITS_REQUESTED: return "requested";
    }
    return "?";
}

/* ---- Life cycle --------------------------------------------------------------------------- */

mixlm_status mixlm_contract_create(int64_t n_ctx, mixlm_contract **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: out is NULL");
    *out = NULL;
    if (n_ctx < 0 || n_ctx > ((int64_t)1 << 40))
        return mx_err(MIXLM_ERR_INVALID_ARG, "contract: context length %lld out of range",
                      (long long)n_ctx);
    mixlm_contract *c = mx_calloc(1, sizeof *c);
    if (!c) return MIXLM_ERR_NOMEM;
    c->n_ctx = n_ctx;
    *out = c;
    return MIXLM_OK;
}

void mixlm_contract_free(mixlm_contract *c) {
    if (!c) return;
    free(c->states);
    free(c);
}

mixlm_status mixlm_contract_clone(const mixlm_contract *c, mixlm_contract **out) {
    if (!c || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL argument");
    mixlm_status st = mixlm_contract_create(c->n_ctx, out);
    if (st) return st;
    mixlm_contract *d = *out;
    mixlm_state_decl *states = d->states;
    *d = *c;
    d->states = states;
    d->n_states = 0;
    for (int32_t i = 0; i < c->n_states; i++) {
        st = mixlm_contract_add_state(d, &c->states[i]);
        if (st) {
            mixlm_contract_free(d);
            *out = NULL;
            return st;
        }
    }
    return MIXLM_OK;
}

mixlm_status mixlm_contract_add_input(mixlm_contract *c, const mixlm_input_decl *in) {
    if (!c || !in) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL argument");
    if (c->n_inputs >= MIXLM_CONTRACT_MAX_INPUTS)
        return mx_err(MIXLM_ERR_CONTRACT, "contract: more than %d inputs",
                      MIXLM_CONTRACT_MAX_INPUTS);
    c->inputs[c->n_inputs] = *in;
    c->inputs[c->n_inputs].name[MIXLM_CONTRACT_NAME_MAX - 1] = 0;
    c->n_inputs++;
    return MIXLM_OK;
}

mixlm_status mixlm_contract_add_state(mixlm_contract *c, const mixlm_state_decl *st) {
    if (!c || !st) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL argument");
    if (c->n_states >= MIXLM_CONTRACT_MAX_STATES)
        return mx_err(MIXLM_ERR_CONTRACT, "contract: more than %d states",
                      MIXLM_CONTRACT_MAX_STATES);
    mixlm_state_decl *s = mx_realloc(c->states, (size_t)(c->n_states + 1) * sizeof *s);
    if (!s) return MIXLM_ERR_NOMEM;
    c->states = s;
    s[c->n_states] = *st;
    s[c->n_states].name[MIXLM_CONTRACT_NAME_MAX - 1] = 0;
    c->n_states++;
    return MIXLM_OK;
}

mixlm_status mixlm_contract_set_output(mixlm_contract *c, const mixlm_output_decl *out) {
    if (!c || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL argument");
    c->output = *out;
    c->output.name[MIXLM_CONTRACT_NAME_MAX - 1] = 0;
    c->has_output = true;
    return MIXLM_OK;
}

void mixlm_contract_set_max_step(mixlm_contract *c, int32_t max_step) {
    if (c) c->max_step = max_step < 0 ? 0 : max_step;
}

/* ---- Read access -------------------------------------------------------------------------- */

int64_t mixlm_contract_n_ctx(const mixlm_contract *c) { return c ? c->n_ctx : 0; }
int32_t mixlm_contract_n_inputs(const mixlm_contract *c) { return c ? c->n_inputs : 0; }
const mixlm_input_decl *mixlm_contract_input(const mixlm_contract *c, int32_t i) {
    return c && i >= 0 && i < c->n_inputs ? &c->inputs[i] : NULL;
}
int32_t mixlm_contract_n_states(const mixlm_contract *c) { return c ? c->n_states : 0; }
const mixlm_state_decl *mixlm_contract_state(const mixlm_contract *c, int32_t i) {
    return c && i >= 0 && i < c->n_states ? &c->states[i] : NULL;
}
const mixlm_output_decl *mixlm_contract_output(const mixlm_contract *c) {
    return c && c->has_output ? &c->output : NULL;
}

/* ---- Shapes ---------------------------------------------------------------------------- */

int mx_shape_count(const mixlm_shape *s, mixlm_dim_sym sym, int *first) {
    int count = 0;
    if (first) *first = -1;
    for (int i = 0; i < s->n_dims && i < MIXLM_CONTRACT_MAX_DIMS; i++) {
        if (s->dims[i].sym == sym) {
            if (count == 0 && first) *first = i;
            count++;
        }
    }
    return count;
}

mixlm_status mx_shape_resolve(const mixlm_shape *s, int64_t n, int64_t kv, int64_t ctx,
                              int64_t w, int64_t *dims, uint64_t *count) {
    uint64_t total = 1;
    if (s->n_dims < 0 || s->n_dims > MIXLM_CONTRACT_MAX_DIMS)
        return mx_err(MIXLM_ERR_CONTRACT, "shape has %d dims", s->n_dims);
    for (int i = 0; i < s->n_dims; i++) {
        int64_t v = -1;
        switch (s->dims[i].sym) {
        case MIXLM_DIM_FIXED: v = s->dims[i].value; break;
        case MIXLM_DIM_N: v = n; break;
        case MIXLM_DIM_KV: v = kv; break;
        case MIXLM_DIM_CTX: v = ctx; break;
        case MIXLM_DIM_W: v = w; break;
        }
        if (v < 0) return mx_err(MIXLM_ERR_CONTRACT, "dim %d (%s) has no value here", i,
                                 mx_dim_sym_name(s->dims[i].sym));
        if (dims) dims[i] = v;
        if (!mx_mul_ok(total, (uint64_t)v, &total))
            return mx_err(MIXLM_ERR_NOMEM, "shape too large");
    }
    if (count) *count = total;
    return MIXLM_OK;
}

int32_t mx_input_window(const mixlm_input_decl *in) {
    return in->role == MIXLM_ROLE_ATTENTION_MASK ? in->mask.window : in->window;
}

/* Every dim is fixed 1 except those with a symbol in `allowed` (a bit set of 1 << sym) */
static int only_ones_and(const mixlm_shape *s, unsigned allowed) {
    for (int i = 0; i < s->n_dims; i++) {
        const mixlm_dim *d = &s->dims[i];
        if (d->sym == MIXLM_DIM_FIXED) {
            if (d->value != 1) return 0;
        } else if (!(allowed & (1u << d->sym))) {
            return 0;
        }
    }
    return 1;
}

bool mx_input_single_token(const mixlm_input_decl *in) {
    int has_n = mx_shape_count(&in->shape, MIXLM_DIM_N, NULL) > 0;
    switch (in->role) {
    case MIXLM_ROLE_TOKEN_IDS:
    case MIXLM_ROLE_POSITIONS:
    case MIXLM_ROLE_RING_POS:
    case MIXLM_ROLE_UPDATE_MASK:
    case MIXLM_ROLE_ROPE_COS:
    case MIXLM_ROLE_ROPE_SIN:
        return !has_n;
    case MIXLM_ROLE_ATTENTION_MASK:
        return !has_n || (in->mask.layout == MIXLM_KEYS_RING && !in->mask.chunk_region);
    case MIXLM_ROLE_CURRENT_POS:
    case MIXLM_ROLE_COUNT:
        break;
    }
    return false;
}

int32_t mixlm_contract_max_step(const mixlm_contract *c) {
    if (!c) return 0;
    for (int32_t i = 0; i < c->n_inputs; i++)
        if (mx_input_single_token(&c->inputs[i])) return 1;
    return c->max_step;
}

/* ---- Validation ----------------------------------------------------------------------------- */

static bool is_float(mixlm_dtype t) {
    return t == MIXLM_DTYPE_F32 || t == MIXLM_DTYPE_F16 || t == MIXLM_DTYPE_BF16;
}
static bool is_int(mixlm_dtype t) { return t == MIXLM_DTYPE_I32 || t == MIXLM_DTYPE_I64; }
static bool dtype_ok(mixlm_dtype t) { return mixlm_dtype_size(t) != 0; }

static int name_ok(const char *name) {
    size_t len = name_len(name, MIXLM_CONTRACT_NAME_MAX);
    return len > 0 && len < MIXLM_CONTRACT_NAME_MAX;
}

static bool shape_syms_ok(const mixlm_shape *s) {
    if (s->n_dims < 0 || s->n_dims > MIXLM_CONTRACT_MAX_DIMS) return false;
    for (int i = 0; i < s->n_dims; i++) {
        if ((unsigned)s->dims[i].sym > MIXLM_DIM_W) return false;
        if (s->dims[i].sym == MIXLM_DIM_FIXED && (s->dims[i].value < 1 || s->dims[i].value > ((int64_t)1 << 40)))
            return false;
    }
    return true;
}

#define FAIL(...) do { snprintf(why, why_len, __VA_ARGS__); return 0; } while (0)

static int validate_mask(const mixlm_contract *c, const mixlm_input_decl *in, char *why,
                         size_t why_len) {
    const mixlm_mask_spec *m = &in->mask;
    const mixlm_shape *s = &in->shape;
    if ((unsigned)m->kind > MIXLM_ATTN_CHUNKED) FAIL("unknown attention kind %d", (int)m->kind);
    if ((unsigned)m->form > MIXLM_MASK_BOOLEAN) FAIL("unknown mask form %d", (int)m->form);
    if ((unsigned)m->layout > MIXLM_KEYS_RING) FAIL("unknown key layout %d", (int)m->layout);
    if (m->kind == MIXLM_ATTN_SLIDING && m->window <= 0) FAIL("sliding mask without a window");
    if (m->kind == MIXLM_ATTN_CHUNKED && m->window <= 0) FAIL("chunked mask without a chunk size");
    if (m->kind == MIXLM_ATTN_CAUSAL && m->window != 0)
        FAIL("causal mask with a window (%d): use kind sliding", (int)m->window);
    if (m->window < 0) FAIL("negative window");
    if (m->form == MIXLM_MASK_ADDITIVE && !is_float(in->dtype))
        FAIL("an additive mask needs a float dtype, not %s", mixlm_dtype_name(in->dtype));
    if (m->form == MIXLM_MASK_ADDITIVE && !isnan(m->blocked) && !(m->blocked < 0))
        FAIL("additive blocked value must be negative");
    if (m->layout == MIXLM_KEYS_RING && m->kind == MIXLM_ATTN_CAUSAL)
        FAIL("a ring key layout needs a window: a causal mask sees every key");
    if (m->chunk_region && m->layout != MIXLM_KEYS_RING)
        FAIL("a chunk region is only meaningful with the ring key layout");
    if (m->bidirectional_spans && m->layout == MIXLM_KEYS_RING && !m->chunk_region)
        FAIL("a bidirectional span overlay needs multi-token steps, which a ring without "
             "chunk region cannot take");
    if (s->n_dims < 2) FAIL("mask shape needs at least [n, kv]");
    const mixlm_dim *qd = &s->dims[s->n_dims - 2], *kd = &s->dims[s->n_dims - 1];
    for (int i = 0; i < s->n_dims - 2; i++)
        if (s->dims[i].sym != MIXLM_DIM_FIXED || s->dims[i].value != 1)
            FAIL("mask dims before [n, kv] must be 1 (dim %d is %s)", i,
                 s->dims[i].sym == MIXLM_DIM_FIXED ? "fixed > 1" : mx_dim_sym_name(s->dims[i].sym));
    if (!(qd->sym == MIXLM_DIM_N || (qd->sym == MIXLM_DIM_FIXED && qd->value == 1)))
        FAIL("mask query dim (second to last) must be n or 1, not %s",
             qd->sym == MIXLM_DIM_FIXED ? "a fixed number > 1" : mx_dim_sym_name(qd->sym));
    if (m->layout == MIXLM_KEYS_ABSOLUTE) {
        if (kd->sym == MIXLM_DIM_CTX) {
            if (c->n_ctx <= 0) FAIL("key dim ctx but the contract has no context length");
        } else if (kd->sym != MIXLM_DIM_KV) {
            FAIL("absolute key layout needs key dim kv (= p + n) or ctx, not %s",
                 kd->sym == MIXLM_DIM_FIXED ? "a fixed number" : mx_dim_sym_name(kd->sym));
        }
    } else if (m->chunk_region) {
        if (kd->sym != MIXLM_DIM_KV)
            FAIL("ring key layout with chunk region needs key dim kv (= W + n), not %s",
                 kd->sym == MIXLM_DIM_FIXED ? "a fixed number" : mx_dim_sym_name(kd->sym));
    } else {
        if (kd->sym != MIXLM_DIM_W && kd->sym != MIXLM_DIM_KV)
            FAIL("ring key layout needs key dim W (the ring slots), not %s",
                 kd->sym == MIXLM_DIM_FIXED ? "a fixed number" : mx_dim_sym_name(kd->sym));
    }
    return 1;
}

static int validate_input(const mixlm_contract *c, const mixlm_input_decl *in, char *why,
                          size_t why_len) {
    const mixlm_shape *s = &in->shape;
    if ((unsigned)in->role >= MIXLM_ROLE_COUNT) FAIL("unknown role %d", (int)in->role);
    if (!dtype_ok(in->dtype)) FAIL("unknown dtype %d", (int)in->dtype);
    if (!shape_syms_ok(s)) FAIL("bad shape (dims must be positive numbers or n, kv, ctx, W)");
    if (in->flags & ~MIXLM_INPUT_EXECUTOR_EVAL) FAIL("unknown flags 0x%x", (unsigned)in->flags);
    int n_count = mx_shape_count(s, MIXLM_DIM_N, NULL);
    if (n_count > 1) FAIL("shape has %d n dims", n_count);
    if (in->role != MIXLM_ROLE_ATTENTION_MASK && mx_shape_count(s, MIXLM_DIM_KV, NULL) > 0)
        FAIL("only an attention mask has a kv dim");
    switch (in->role) {
    case MIXLM_ROLE_TOKEN_IDS:
    case MIXLM_ROLE_POSITIONS:
        if (!is_int(in->dtype)) FAIL("%s needs dtype i32 or i64, not %s", mixlm_role_name(in->role),
                                     mixlm_dtype_name(in->dtype));
        if (!only_ones_and(s, 1u << MIXLM_DIM_N))
            FAIL("shape contradicts role %s: it must be [n] or [1, n] (dims other than n are 1)",
                 mixlm_role_name(in->role));
        return 1;
    case MIXLM_ROLE_CURRENT_POS:
        if (!is_int(in->dtype)) FAIL("current_pos needs dtype i32 or i64, not %s",
                                     mixlm_dtype_name(in->dtype));
        if (!only_ones_and(s, 0)) FAIL("shape contradicts role current_pos: a scalar (every dim 1)");
        return 1;
    case MIXLM_ROLE_RING_POS:
        if (in->window <= 0) FAIL("ring_pos without a window");
        if (!is_int(in->dtype)) FAIL("ring_pos needs dtype i32 or i64, not %s",
                                     mixlm_dtype_name(in->dtype));
        if (!only_ones_and(s, 1u << MIXLM_DIM_N))
            FAIL("shape contradicts role ring_pos: a scalar or one n dim");
        return 1;
    case MIXLM_ROLE_UPDATE_MASK: {
        if (in->window < 0) FAIL("negative window");
        mixlm_dim_sym slot = in->window > 0 ? MIXLM_DIM_W : MIXLM_DIM_CTX;
        if (in->window == 0 && c->n_ctx <= 0)
            FAIL("update_mask over a ctx-long cache but the contract has no context length");
        if (mx_shape_count(s, slot, NULL) != 1)
            FAIL("shape contradicts role update_mask: it needs exactly one %s dim (the slots)",
                 in->window > 0 ? "W" : "ctx");
        if (!only_ones_and(s, (1u << MIXLM_DIM_N) | (1u << slot)))
            FAIL("shape contradicts role update_mask: dims other than n and the slots must be 1");
        return 1;
    }
    case MIXLM_ROLE_ROPE_COS:
    case MIXLM_ROLE_ROPE_SIN: {
        if (!is_float(in->dtype)) FAIL("%s needs a float dtype", mixlm_role_name(in->role));
        if (in->rope_dim <= 0 || in->rope_dim % 2) FAIL("rope dim must be even and positive");
        if (!(in->rope_base > 1.0f) || !isfinite(in->rope_base)) FAIL("rope base must be > 1");
        if (!(in->rope_scale > 0.0f) || !isfinite(in->rope_scale)) FAIL("rope scale must be > 0");
        if (s->n_dims < 1) FAIL("shape contradicts role %s: it needs a last dim of dim or dim/2",
                                mixlm_role_name(in->role));
        const mixlm_dim *last = &s->dims[s->n_dims - 1];
        if (last->sym != MIXLM_DIM_FIXED ||
            (last->value != in->rope_dim && last->value != in->rope_dim / 2))
            FAIL("shape contradicts role %s: last dim must be %d or %d", mixlm_role_name(in->role),
                 (int)in->rope_dim, (int)in->rope_dim / 2);
        mixlm_shape head = *s;
        head.n_dims--;
        if (!only_ones_and(&head, 1u << MIXLM_DIM_N))
            FAIL("shape contradicts role %s: dims before the last must be n or 1",
                 mixlm_role_name(in->role));
        return 1;
    }
    case MIXLM_ROLE_ATTENTION_MASK:
        return validate_mask(c, in, why, why_len);
    case MIXLM_ROLE_COUNT:
        break;
    }
    FAIL("unknown role");
}

mixlm_status mx_state_decl_bytes(const mixlm_contract *c, const mixlm_state_decl *st, uint64_t *out) {
    uint64_t count;
    mixlm_status s = mx_shape_resolve(&st->shape, -1, -1, c->n_ctx, st->window, NULL, &count);
    if (s) return s;
    if (!mx_mul_ok(count, mixlm_dtype_size(st->dtype), out)) return mx_err(MIXLM_ERR_NOMEM, "too large");
    return MIXLM_OK;
}

static int validate_state(const mixlm_contract *c, const mixlm_state_decl *st, char *why,
                          size_t why_len) {
    if ((unsigned)st->holds > MIXLM_STATE_OTHER) FAIL("unknown holds %d", (int)st->holds);
    if ((unsigned)st->layout > MIXLM_CACHE_CHUNK) FAIL("unknown cache layout %d", (int)st->layout);
    if (!dtype_ok(st->dtype)) FAIL("unknown dtype %d", (int)st->dtype);
    if (!shape_syms_ok(&st->shape)) FAIL("bad shape (dims must be positive numbers, ctx or W)");
    if (mx_shape_count(&st->shape, MIXLM_DIM_N, NULL) || mx_shape_count(&st->shape, MIXLM_DIM_KV, NULL))
        FAIL("a state shape cannot use n or kv: it is sized once");
    if (st->layout == MIXLM_CACHE_FULL) {
        if (st->window != 0) FAIL("a full cache has no window (use layout ring or chunk)");
        if (c->n_ctx <= 0) FAIL("a full cache needs the contract's context length");
        if (mx_shape_count(&st->shape, MIXLM_DIM_CTX, NULL) != 1 ||
            mx_shape_count(&st->shape, MIXLM_DIM_W, NULL) != 0)
            FAIL("a full cache needs exactly one ctx dim (its capacity)");
    } else {
        if (st->window <= 0) FAIL("a %s cache without a window", mx_layout_name(st->layout));
        if (mx_shape_count(&st->shape, MIXLM_DIM_W, NULL) != 1 ||
            mx_shape_count(&st->shape, MIXLM_DIM_CTX, NULL) != 0)
            FAIL("a %s cache needs exactly one W dim (its %d slots)", mx_layout_name(st->layout),
                 (int)st->window);
    }
    if (st->n_layers < 0 || st->n_layers > MIXLM_CONTRACT_MAX_LAYERS) FAIL("bad layer count");
    for (int32_t i = 0; i < st->n_layers; i++) {
        if (st->layers[i] < 0 || st->layers[i] >= MIXLM_CONTRACT_MAX_LAYERS)
            FAIL("layer %d out of range", (int)st->layers[i]);
        for (int32_t j = 0; j < i; j++)
            if (st->layers[j] == st->layers[i]) FAIL("layer %d listed twice", (int)st->layers[i]);
    }
    if (st->n_layers > 0 && (st->holds == MIXLM_STATE_KEYS || st->holds == MIXLM_STATE_VALUES)) {
        const mixlm_dim *d0 = &st->shape.dims[0];
        if (st->shape.n_dims < 1 || d0->sym != MIXLM_DIM_FIXED || d0->value != st->n_layers)
            FAIL("lists %d layers but its outermost dim is not %d", (int)st->n_layers,
                 (int)st->n_layers);
    }
    uint64_t bytes;
    if (mx_state_decl_bytes(c, st, &bytes) || bytes > ((uint64_t)1 << 42))
        FAIL("too large");
    return 1;
}

static bool holds_overlap(mixlm_state_holds a, mixlm_state_holds b) {
    if (a == MIXLM_STATE_OTHER || b == MIXLM_STATE_OTHER) return false;
    return a == b || a == MIXLM_STATE_KV || b == MIXLM_STATE_KV;
}

mixlm_status mixlm_contract_validate(const mixlm_contract *c) {
    char why[256];
    if (!c) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL");
    for (int32_t i = 0; i < c->n_inputs; i++) {
        const mixlm_input_decl *in = &c->inputs[i];
        if (!name_ok(in->name)) return mx_err(MIXLM_ERR_CONTRACT, "contract: input %d has no name", (int)i);
        for (int32_t j = 0; j < i; j++)
            if (strcmp(c->inputs[j].name, in->name) == 0)
                return mx_err(MIXLM_ERR_CONTRACT, "contract: input \"%s\": two inputs have this name",
                              in->name);
        if (!validate_input(c, in, why, sizeof why))
            return mx_err(MIXLM_ERR_CONTRACT, "contract: input \"%s\" (%s): %s", in->name,
                          (unsigned)in->role < MIXLM_ROLE_COUNT ? mixlm_role_name(in->role) : "?", why);
    }
    for (int32_t i = 0; i < c->n_states; i++) {
        const mixlm_state_decl *st = &c->states[i];
        if (!name_ok(st->name)) return mx_err(MIXLM_ERR_CONTRACT, "contract: state %d has no name", (int)i);
        for (int32_t j = 0; j < c->n_inputs; j++)
            if (strcmp(c->inputs[j].name, st->name) == 0)
                return mx_err(MIXLM_ERR_CONTRACT,
                              "contract: state \"%s\": an input has the same name", st->name);
        for (int32_t j = 0; j < i; j++)
            if (strcmp(c->states[j].name, st->name) == 0)
                return mx_err(MIXLM_ERR_CONTRACT, "contract: state \"%s\": two states have this name",
                              st->name);
        if (!validate_state(c, st, why, sizeof why))
            return mx_err(MIXLM_ERR_CONTRACT, "contract: state \"%s\": %s", st->name, why);
        for (int32_t j = 0; j < i; j++) {
            if (!holds_overlap(c->states[j].holds, st->holds)) continue;
            for (int32_t a = 0; a < st->n_layers; a++)
                for (int32_t b = 0; b < c->states[j].n_layers; b++)
                    if (st->layers[a] == c->states[j].layers[b])
                        return mx_err(MIXLM_ERR_CONTRACT,
                                      "contract: state \"%s\": layer %d is already held by state \"%s\"",
                                      st->name, (int)st->layers[a], c->states[j].name);
        }
    }
    if (!c->has_output) return mx_err(MIXLM_ERR_CONTRACT, "contract: no logits output declared");
    if (!name_ok(c->output.name)) return mx_err(MIXLM_ERR_CONTRACT, "contract: the output has no name");
    for (int32_t j = 0; j < c->n_inputs; j++)
        if (strcmp(c->inputs[j].name, c->output.name) == 0)
            return mx_err(MIXLM_ERR_CONTRACT, "contract: output \"%s\": an input has the same name",
                          c->output.name);
    for (int32_t j = 0; j < c->n_states; j++)
        if (strcmp(c->states[j].name, c->output.name) == 0)
            return mx_err(MIXLM_ERR_CONTRACT, "contract: output \"%s\": a state has the same name",
                          c->output.name);
    if (c->output.n_vocab <= 0 || c->output.n_vocab > (1 << 24))
        return mx_err(MIXLM_ERR_CONTRACT, "contract: output \"%s\": vocabulary size %d out of range",
                      c->output.name, (int)c->output.n_vocab);
    if ((unsigned)c->output.rows > MIXLM_LOGITS_REQUESTED)
        return mx_err(MIXLM_ERR_CONTRACT, "contract: output \"%s\": unknown rows value", c->output.name);
    if (c->max_step < 0) return mx_err(MIXLM_ERR_CONTRACT, "contract: negative max_step");
    return MIXLM_OK;
}

/* ---- Layers and fingerprint --------------------------------------------------------------- */

mixlm_status mixlm_contract_layer_state(const mixlm_contract *c, int32_t layer,
                                        mixlm_state_holds holds, int32_t *state_index,
                                        int32_t *index_in_state) {
    if (!c) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL");
    for (int32_t i = 0; i < c->n_states; i++) {
        const mixlm_state_decl *st = &c->states[i];
        if (st->holds != holds && st->holds != MIXLM_STATE_KV) continue;
        for (int32_t j = 0; j < st->n_layers; j++) {
            if (st->layers[j] == layer) {
                if (state_index) *state_index = i;
                if (index_in_state) *index_in_state = j;
                return MIXLM_OK;
            }
        }
    }
    return mx_err(MIXLM_ERR_CONTRACT, "contract: no state holds the %s of layer %d",
                  mx_holds_name(holds), (int)layer);
}

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t fnv_i64(uint64_t h, int64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)v >> (8 * i));
    return fnv(h, b, 8);
}

uint64_t mixlm_contract_fingerprint(const mixlm_contract *c) {
    uint64_t h = 0xcbf29ce484222325ULL;
    if (!c) return h;
    h = fnv_i64(h, c->n_ctx);
    h = fnv_i64(h, c->n_states);
    for (int32_t i = 0; i < c->n_states; i++) {
        const mixlm_state_decl *st = &c->states[i];
        h = fnv(h, st->name, name_len(st->name, MIXLM_CONTRACT_NAME_MAX));
        h = fnv_i64(h, st->holds);
        h = fnv_i64(h, st->layout);
        h = fnv_i64(h, st->window);
        h = fnv_i64(h, st->dtype);
        h = fnv_i64(h, st->shape.n_dims);
        for (int d = 0; d < st->shape.n_dims && d < MIXLM_CONTRACT_MAX_DIMS; d++) {
            h = fnv_i64(h, st->shape.dims[d].sym);
            h = fnv_i64(h, st->shape.dims[d].sym == MIXLM_DIM_FIXED ? st->shape.dims[d].value : 0);
        }
        h = fnv_i64(h, st->n_layers);
        for (int32_t j = 0; j < st->n_layers && j < MIXLM_CONTRACT_MAX_LAYERS; j++)
            h = fnv_i64(h, st->layers[j]);
    }
    return h;
}
