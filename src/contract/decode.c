/* decode.c: the runtime side of the seam: executors, building every declared input from its
 * role, splitting tokens into the steps a contract allows, room checks, and the decode loop. */
#include "contract/internal.h"

#include <math.h>
#include <stdlib.h>

/* Per-sequence scratch of an executor handle, grown on demand and reused, so that the steady
 * token loop (same shapes step after step) allocates nothing. */
typedef struct seq_scratch {
    void **bufs;          /* one per input */
    uint64_t *caps;
    mixlm_tensor *tensors;
} seq_scratch;

struct mixlm_executor {
    mixlm_executor_iface iface;
    void *self;
    const mixlm_contract *contract;
    uint64_t fingerprint;
    int32_t max_step;     /* mixlm_contract_max_step() */
    bool ctx_bound;       /* the context length limits positions */
    int32_t cap_seqs;
    seq_scratch *scratch;
    mixlm_step_seq *steps;
    int32_t *done;        /* tokens of each sequence already fed in this decode call */
    float *rows;          /* scratch logits when the executor returns rows nobody asked for */
    uint64_t rows_cap;
};

/* ---- Executors -------------------------------------------------------------------------- */

mixlm_status mixlm_executor_create(const mixlm_executor_iface *iface, void *self,
                                   mixlm_executor **out) {
    if (!iface || !out || !iface->contract || !iface->step)
        return mx_err(MIXLM_ERR_INVALID_ARG, "executor: missing interface functions");
    *out = NULL;
    const mixlm_contract *c = iface->contract(self);
    if (!c) return mx_err(MIXLM_ERR_CONTRACT, "executor: it declared no contract");
    mixlm_status st = mixlm_contract_validate(c);
    if (st) return st;
    mixlm_executor *ex = mx_calloc(1, sizeof *ex);
    if (!ex) return MIXLM_ERR_NOMEM;
    ex->iface = *iface;
    ex->self = self;
    ex->contract = c;
    ex->fingerprint = mixlm_contract_fingerprint(c);
    ex->max_step = mixlm_contract_max_step(c);
    if (c->n_ctx > 0) {
        for (int32_t i = 0; i < c->n_states; i++)
            if (c->states[i].layout == MIXLM_CACHE_FULL) ex->ctx_bound = true;
        for (int32_t i = 0; i < c->n_inputs; i++) {
            const mixlm_input_decl *in = &c->inputs[i];
            if (mx_shape_count(&in->shape, MIXLM_DIM_CTX, NULL)) ex->ctx_bound = true;
            if (in->role == MIXLM_ROLE_ATTENTION_MASK && in->mask.layout == MIXLM_KEYS_ABSOLUTE)
                ex->ctx_bound = true;
        }
    }
    *out = ex;
    return MIXLM_OK;
}

void mixlm_executor_free(mixlm_executor *ex) {
    if (!ex) return;
    for (int32_t s = 0; s < ex->cap_seqs; s++) {
        seq_scratch *sc = &ex->scratch[s];
        if (sc->bufs)
            for (int32_t i = 0; i < ex->contract->n_inputs; i++) free(sc->bufs[i]);
        free(sc->bufs);
        free(sc->caps);
        free(sc->tensors);
    }
    free(ex->scratch);
    free(ex->steps);
    free(ex->done);
    free(ex->rows);
    if (ex->iface.destroy) ex->iface.destroy(ex->self);
    free(ex);
}

const mixlm_contract *mixlm_executor_contract(const mixlm_executor *ex) {
    return ex ? ex->contract : NULL;
}
void *mixlm_executor_self(const mixlm_executor *ex) { return ex ? ex->self : NULL; }

/* ---- Building inputs ---------------------------------------------------------------------- */

/* Row-major strides of a resolved shape. */
static void strides_of(const int64_t *dims, int n_dims, uint64_t *strides) {
    uint64_t s = 1;
    for (int i = n_dims - 1; i >= 0; i--) {
        strides[i] = s;
        s *= (uint64_t)dims[i];
    }
}

mixlm_status mixlm_input_build(const mixlm_contract *c, int32_t index, int64_t pos,
                               int32_t n, const int32_t *tokens, const int32_t *span_ids,
                               void *buf, uint64_t buf_cap, uint64_t *needed, mixlm_tensor *out) {
    const mixlm_input_decl *in = mixlm_contract_input(c, index);
    if (!in || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "input: bad index %d", (int)index);
    if (pos < 0 || n < 1) return mx_err(MIXLM_ERR_INVALID_ARG, "input: bad step");
    int64_t kv = -1;
    if (in->role == MIXLM_ROLE_ATTENTION_MASK) kv = mixlm_mask_kv(&in->mask, pos, n);
    int64_t dims[MIXLM_CONTRACT_MAX_DIMS];
    uint64_t count;
    mixlm_status st = mx_shape_resolve(&in->shape, n, kv, c->n_ctx, mx_input_window(in), dims, &count);
    if (st) return mx_err_prefix(st, "input \"%s\": ", in->name);
    if (in->role == MIXLM_ROLE_ATTENTION_MASK && in->shape.n_dims >= 1 &&
        in->shape.dims[in->shape.n_dims - 1].sym == MIXLM_DIM_CTX)
        kv = c->n_ctx;
    int n_dim;
    mx_shape_count(&in->shape, MIXLM_DIM_N, &n_dim);
    if (n_dim < 0 && n != 1 && in->role != MIXLM_ROLE_CURRENT_POS)
        return mx_err(MIXLM_ERR_INVALID_ARG, "input \"%s\" takes single-token steps, not %d tokens",
                      in->name, (int)n);
    uint64_t bytes;
    if (!mx_mul_ok(count, mixlm_dtype_size(in->dtype), &bytes))
        return mx_err(MIXLM_ERR_NOMEM, "input \"%s\": too large", in->name);
    memset(out, 0, sizeof *out);
    out->dtype = in->dtype;
    out->n_dims = in->shape.n_dims;
    for (int i = 0; i < in->shape.n_dims; i++) out->shape[i] = dims[i];
    if (in->flags & MIXLM_INPUT_EXECUTOR_EVAL) {
        if (needed) *needed = 0;
        return MIXLM_OK; /* declared, not materialised */
    }
    if (needed) *needed = bytes;
    if (bytes > buf_cap || (!buf && bytes))
        return mx_err(MIXLM_ERR_NOMEM, "input \"%s\": needs %llu bytes", in->name,
                      (unsigned long long)bytes);
    out->data = buf;
    out->nbytes = bytes;
    switch (in->role) {
    case MIXLM_ROLE_TOKEN_IDS:
        if (!tokens) return mx_err(MIXLM_ERR_INVALID_ARG, "input \"%s\": no tokens", in->name);
        for (int32_t i = 0; i < n; i++) mx_put_value(buf, in->dtype, (uint64_t)i, tokens[i]);
        break;
    case MIXLM_ROLE_POSITIONS:
        if (in->dtype == MIXLM_DTYPE_I32 && pos + n > INT32_MAX)
            return mx_err(MIXLM_ERR_CONTEXT_FULL, "input \"%s\": position past the i32 range", in->name);
        for (int32_t i = 0; i < n; i++) mx_put_value(buf, in->dtype, (uint64_t)i, (double)(pos + i));
        break;
    case MIXLM_ROLE_CURRENT_POS:
        if (in->dtype == MIXLM_DTYPE_I32 && pos > INT32_MAX)
            return mx_err(MIXLM_ERR_CONTEXT_FULL, "input \"%s\": position past the i32 range", in->name);
        for (uint64_t i = 0; i < count; i++) mx_put_value(buf, in->dtype, i, (double)pos);
        break;
    case MIXLM_ROLE_RING_POS: {
        int32_t rows = n_dim >= 0 ? n : 1;
        for (int32_t i = 0; i < rows; i++)
            mx_put_value(buf, in->dtype, (uint64_t)i, (double)((pos + i) % in->window));
        break;
    }
    case MIXLM_ROLE_UPDATE_MASK: {
        int slot_dim;
        mx_shape_count(&in->shape, in->window > 0 ? MIXLM_DIM_W : MIXLM_DIM_CTX, &slot_dim);
        uint64_t strides[MIXLM_CONTRACT_MAX_DIMS];
        strides_of(dims, in->shape.n_dims, strides);
        int64_t slots = dims[slot_dim];
        for (uint64_t e = 0; e < count; e++) {
            int64_t s = (int64_t)((e / strides[slot_dim]) % (uint64_t)slots);
            bool hit = false;
            if (n_dim >= 0) {
                int64_t i = (int64_t)((e / strides[n_dim]) % (uint64_t)dims[n_dim]);
                int64_t j = pos + i;
                hit = (in->window > 0 ? j % in->window : j) == s;
            } else {
                int64_t j = pos; /* single-token step */
                hit = (in->window > 0 ? j % in->window : j) == s;
            }
            mx_put_value(buf, in->dtype, e, hit ? 1.0 : 0.0);
        }
        break;
    }
    case MIXLM_ROLE_ROPE_COS:
    case MIXLM_ROLE_ROPE_SIN: {
        int64_t last = dims[in->shape.n_dims - 1];
        int64_t half = in->rope_dim / 2;
        int32_t rows = n_dim >= 0 ? n : 1;
        for (int32_t i = 0; i < rows; i++) {
            double t = (double)(pos + i) / (double)in->rope_scale;
            for (int64_t j = 0; j < last; j++) {
                int64_t pair = j % half;
                double freq = pow((double)in->rope_base, -2.0 * (double)pair / (double)in->rope_dim);
                double a = t * freq;
                mx_put_value(buf, in->dtype, (uint64_t)i * (uint64_t)last + (uint64_t)j,
                             in->role == MIXLM_ROLE_ROPE_COS ? cos(a) : sin(a));
            }
        }
        break;
    }
    case MIXLM_ROLE_ATTENTION_MASK:
        st = mixlm_mask_build(&in->mask, in->dtype, pos, n, kv,
                              in->mask.bidirectional_spans ? span_ids : NULL, buf);
        if (st) return mx_err_prefix(st, "input \"%s\": ", in->name);
        break;
    case MIXLM_ROLE_COUNT:
        return mx_err(MIXLM_ERR_CONTRACT, "input \"%s\": unknown role", in->name);
    }
    return MIXLM_OK;
}

/* ---- Decode -------------------------------------------------------------------------------- */

static mixlm_status ensure_seqs(mixlm_executor *ex, int32_t n) {
    if (n <= ex->cap_seqs) return MIXLM_OK;
    seq_scratch *sc = mx_realloc(ex->scratch, (size_t)n * sizeof *sc);
    if (!sc) return MIXLM_ERR_NOMEM;
    ex->scratch = sc;
    mixlm_step_seq *steps = mx_realloc(ex->steps, (size_t)n * sizeof *steps);
    if (!steps) return MIXLM_ERR_NOMEM;
    ex->steps = steps;
    int32_t *done = mx_realloc(ex->done, (size_t)n * sizeof *done);
    if (!done) return MIXLM_ERR_NOMEM;
    ex->done = done;
    int32_t ni = ex->contract->n_inputs ? ex->contract->n_inputs : 1;
    for (int32_t s = ex->cap_seqs; s < n; s++) {
        sc[s].bufs = mx_calloc((size_t)ni, sizeof(void *));
        sc[s].caps = mx_calloc((size_t)ni, sizeof(uint64_t));
        sc[s].tensors = mx_calloc((size_t)ni, sizeof(mixlm_tensor));
        ex->cap_seqs = s + 1; /* counted now so that free() releases partial work */
        if (!sc[s].bufs || !sc[s].caps || !sc[s].tensors) return MIXLM_ERR_NOMEM;
    }
    return MIXLM_OK;
}

static mixlm_status build_inputs(mixlm_executor *ex, seq_scratch *sc, int64_t pos, int32_t n,
                                 const int32_t *tokens, const int32_t *spans) {
    const mixlm_contract *c = ex->contract;
    for (int32_t i = 0; i < c->n_inputs; i++) {
        uint64_t need = 0;
        mixlm_status st = mixlm_input_build(c, i, pos, n, tokens, spans, sc->bufs[i], sc->caps[i],
                                            &need, &sc->tensors[i]);
        if (st == MIXLM_ERR_NOMEM && need > sc->caps[i]) {
            /* grow with headroom so that a growing absolute mask does not reallocate per token */
            uint64_t cap = need + need / 2 + 64;
            if (cap > SIZE_MAX) return mx_err(MIXLM_ERR_NOMEM, "input too large");
            free(sc->bufs[i]);
            sc->bufs[i] = mx_aligned_alloc(64, (size_t)cap);
            sc->caps[i] = sc->bufs[i] ? cap : 0;
            if (!sc->bufs[i]) return MIXLM_ERR_NOMEM;
            st = mixlm_input_build(c, i, pos, n, tokens, spans, sc->bufs[i], sc->caps[i], &need,
                                   &sc->tensors[i]);
            if (!st) mx_err_clear(); /* the first attempt's "needs N bytes" is not an error */
        }
        if (st) return st;
    }
    return MIXLM_OK;
}

/* How many of the remaining tokens of one sequence the next step takes. */
static mixlm_status step_len(const mixlm_executor *ex, const mixlm_seq *sq, int32_t done,
                             int32_t seq_i, int32_t *len) {
    int32_t rem = sq->n_tokens - done;
    int32_t lim = ex->max_step;
    if (sq->logits_all && sq->logits && ex->contract->output.rows == MIXLM_LOGITS_LAST) lim = 1;
    int32_t m = lim > 0 && lim < rem ? lim : rem;
    if (sq->span_ids && m < rem) {
        /* never split a bidirectional span: end the step before the span that crosses it */
        int32_t end = done + m;
        int32_t id = sq->span_ids[end];
        if (id != 0 && sq->span_ids[end - 1] == id) {
            int32_t start = end - 1;
            while (start > done && sq->span_ids[start - 1] == id) start--;
            if (start == done)
                return mx_err(MIXLM_ERR_INVALID_ARG,
                              "decode: sequence %d: a bidirectional span is longer than the "
                              "executor's step limit of %d tokens", (int)seq_i, (int)lim);
            m = start - done;
        }
    }
    *len = m;
    return MIXLM_OK;
}

mixlm_status mixlm_decode(mixlm_executor *ex, mixlm_seq *seqs, int32_t n_seqs) {
    if (!ex || (!seqs && n_seqs > 0) || n_seqs < 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "decode: bad arguments");
    const mixlm_contract *c = ex->contract;
    const int32_t n_vocab = c->output.n_vocab;
    /* Check every sequence before computing anything. */
    for (int32_t s = 0; s < n_seqs; s++) {
        const mixlm_seq *sq = &seqs[s];
        if (!sq->state || !sq->tokens || sq->n_tokens < 1)
            return mx_err(MIXLM_ERR_INVALID_ARG, "decode: sequence %d has no state or no tokens", (int)s);
        if (sq->state->fingerprint != ex->fingerprint)
            return mx_err(MIXLM_ERR_STATE, "decode: sequence %d: its state was made for another contract",
                          (int)s);
        for (int32_t t = 0; t < s; t++)
            if (seqs[t].state == sq->state)
                return mx_err(MIXLM_ERR_INVALID_ARG, "decode: sequences %d and %d share one state",
                              (int)t, (int)s);
        int64_t p = sq->state->pos;
        if (ex->ctx_bound && p + sq->n_tokens > c->n_ctx) {
            const char *what = "a ctx-long input";
            for (int32_t i = 0; i < c->n_states; i++)
                if (c->states[i].layout == MIXLM_CACHE_FULL) {
                    what = c->states[i].name;
                    break;
                }
            return mx_err(MIXLM_ERR_CONTEXT_FULL,
                          "decode: sequence %d: context full: %lld tokens seen + %d new exceed the "
                          "context of %lld positions (full-attention cache \"%s\")",
                          (int)s, (long long)p, (int)sq->n_tokens, (long long)c->n_ctx, what);
        }
        if (!ex->ctx_bound && p + sq->n_tokens > ((int64_t)1 << 53))
            return mx_err(MIXLM_ERR_CONTEXT_FULL, "decode: sequence %d: position overflow", (int)s);
    }
    mixlm_status st = ensure_seqs(ex, n_seqs);
    if (st) return st;
    int32_t *done = ex->done;
    if (n_seqs > 0) memset(done, 0, (size_t)n_seqs * sizeof *done);
    for (;;) {
        int32_t k = 0;
        uint64_t rows_need = 0;
        for (int32_t s = 0; s < n_seqs; s++) {
            const mixlm_seq *sq = &seqs[s];
            if (done[s] >= sq->n_tokens) continue;
            int32_t m = 0;
            st = step_len(ex, sq, done[s], s, &m);
            if (st) goto out;
            bool last_chunk = done[s] + m == sq->n_tokens;
            mixlm_step_seq *ss = &ex->steps[k];
            memset(ss, 0, sizeof *ss);
            ss->seq = s;
            ss->pos = sq->state->pos;
            ss->n_tokens = m;
            ss->tokens = sq->tokens + done[s];
            ss->span_ids = sq->span_ids ? sq->span_ids + done[s] : NULL;
            ss->states = sq->state->ptrs;
            ss->state_bytes = sq->state->sizes;
            ss->state = sq->state;
            if (sq->logits) {
                if (sq->logits_all) {
                    ss->logits_all = true;
                    ss->logits = sq->logits + (size_t)done[s] * (size_t)n_vocab;
                } else if (last_chunk) {
                    if (c->output.rows == MIXLM_LOGITS_ALL && m > 1) {
                        /* the executor writes m rows; only the last is wanted */
                        ss->logits = NULL; /* set below once the scratch is sized */
                        rows_need += (uint64_t)m * (uint64_t)n_vocab;
                    } else {
                        ss->logits = sq->logits;
                    }
                }
            }
            st = build_inputs(ex, &ex->scratch[k], ss->pos, m, ss->tokens, ss->span_ids);
            if (st) {
                mx_err_prefix(st, "decode: sequence %d at position %lld: ", (int)s, (long long)ss->pos);
                goto out;
            }
            ss->inputs = ex->scratch[k].tensors;
            k++;
        }
        if (k == 0) break;
        if (rows_need > ex->rows_cap) {
            free(ex->rows);
            ex->rows = rows_need <= SIZE_MAX / sizeof(float) ? mx_malloc((size_t)rows_need * sizeof(float)) : NULL;
            ex->rows_cap = ex->rows ? rows_need : 0;
            if (!ex->rows) {
                st = MIXLM_ERR_NOMEM;
                goto out;
            }
        }
        uint64_t off = 0;
        for (int32_t j = 0; j < k; j++) {
            mixlm_step_seq *ss = &ex->steps[j];
            const mixlm_seq *sq = &seqs[ss->seq];
            if (sq->logits && !sq->logits_all && done[ss->seq] + ss->n_tokens == sq->n_tokens &&
                c->output.rows == MIXLM_LOGITS_ALL && ss->n_tokens > 1) {
                ss->logits = ex->rows + off;
                off += (uint64_t)ss->n_tokens * (uint64_t)n_vocab;
            }
        }
        st = ex->iface.step(ex->self, ex->steps, k);
        if (st) {
            mx_err_prefix(st, "decode: executor step failed: ");
            goto out;
        }
        for (int32_t j = 0; j < k; j++) {
            mixlm_step_seq *ss = &ex->steps[j];
            const mixlm_seq *sq = &seqs[ss->seq];
            if (ss->logits && ss->logits >= ex->rows && ex->rows &&
                ss->logits < ex->rows + ex->rows_cap)
                memcpy(sq->logits, ss->logits + (size_t)(ss->n_tokens - 1) * (size_t)n_vocab,
                       (size_t)n_vocab * sizeof(float));
            sq->state->pos += ss->n_tokens;
            done[ss->seq] += ss->n_tokens;
        }
    }
out:
    return st;
}
