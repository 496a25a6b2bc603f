/* test_contract_styles.c: executors declaring each contract style of SPEC.md section 6
 * (single causal mask; full + full-length sliding mask in f16; ring-buffer masks with
 * current_pos / ring_pos / update_mask / RoPE tables; local/global states) plus a local-only
 * model, driven through the public C API (mixlm_decode) over a 300-token prompt in mixed chunks
 * (longer than the window too) and 100 greedy decode steps.
 *
 * The test executor is a toy transformer with one "head" of size 1: it stores key = position+1
 * and value = token in the caches the runtime hands it, and for every query it reads back
 * through its mask (or, where the style has no mask for a layer, its own rule) the keys it
 * stored. It checks that exactly the positions SPEC.md section 1 makes visible are reached,
 * each once, and computes logits from the tokens it found, so every state-handling mistake
 * changes the generated tokens. Every input it receives is also checked against a
 * brute-force evaluation of the SPEC rules written here.
 *
 * Also: chunk-split invariance of logits (whole, 1, 7, 64), batched sequences, save / load /
 * continue equals never stopping, rewind rules, context-full errors, exact state bytes. */
#include "check.h"
#include "common/util.h"
#include "mixlm.h"

#include <math.h>
#include <stdint.h>

#define VOCAB 32
#define PROMPT 300
#define GEN 100
#define MAX_LAYERS 4

/* ---- Brute-force reference rules ------------------------------------------------------------ */

static int ref_visible(mixlm_attn_kind kind, int w, long long q, long long k) {
    if (k < 0 || k > q) return 0;
    if (kind == MIXLM_ATTN_CAUSAL) return 1;
    if (kind == MIXLM_ATTN_SLIDING) return q - k < w;
    return (k / w) == (q / w);
}

static double tget(const mixlm_tensor *t, size_t i) {
    switch (t->dtype) {
    case MIXLM_DTYPE_F32: return ((const float *)t->data)[i];
    case MIXLM_DTYPE_F16: return mx_f16_to_f32(((const uint16_t *)t->data)[i]);
    case MIXLM_DTYPE_BF16: return mx_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case MIXLM_DTYPE_I32: return ((const int32_t *)t->data)[i];
    case MIXLM_DTYPE_I64: return (double)((const int64_t *)t->data)[i];
    case MIXLM_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    }
    return NAN;
}

static size_t tcount(const mixlm_tensor *t) {
    size_t c = 1;
    for (int i = 0; i < t->n_dims; i++) c *= (size_t)t->shape[i];
    return c;
}

/* ---- The toy executor ----------------------------------------------------------------------- */

typedef struct toy_layer {
    mixlm_attn_kind kind;
    int w;
    const char *mask_name; /* NULL: the executor applies the rule itself */
} toy_layer;

typedef struct toy {
    mixlm_contract *c;
    int n_layers;
    toy_layer layers[MAX_LAYERS];
    int mask_input[MAX_LAYERS];
    long long steps, bad;  /* bad: failed checks inside the executor */
    int max_n_seen;
    char first_bad[300];
} toy;

#define TOY_FAIL(t, ...)                                                                    \
    do {                                                                                    \
        if (!(t)->bad) snprintf((t)->first_bad, sizeof (t)->first_bad, __VA_ARGS__);      \
        (t)->bad++;                                                                         \
    } while (0)

static const mixlm_contract *toy_contract(void *self) { return ((toy *)self)->c; }

/* Resolved length of a declared dim for this step (independent of the runtime's code). */
static long long want_dim(const toy *t, const mixlm_input_decl *in, const mixlm_dim *d,
                          long long p, int n) {
    switch (d->sym) {
    case MIXLM_DIM_FIXED: return d->value;
    case MIXLM_DIM_N: return n;
    case MIXLM_DIM_CTX: return mixlm_contract_n_ctx(t->c);
    case MIXLM_DIM_W: return in->role == MIXLM_ROLE_ATTENTION_MASK ? in->mask.window : in->window;
    case MIXLM_DIM_KV:
        if (in->mask.layout == MIXLM_KEYS_ABSOLUTE) return p + n;
        return in->mask.chunk_region ? in->mask.window + n : in->mask.window;
    }
    return -1;
}

static void check_input(toy *t, const mixlm_input_decl *in, const mixlm_tensor *x,
                        const mixlm_step_seq *ss) {
    long long p = ss->pos;
    int n = ss->n_tokens;
    if (x->n_dims != in->shape.n_dims) {
        TOY_FAIL(t, "%s: %d dims, declared %d", in->name, x->n_dims, in->shape.n_dims);
        return;
    }
    for (int d = 0; d < x->n_dims; d++)
        if (x->shape[d] != want_dim(t, in, &in->shape.dims[d], p, n)) {
            TOY_FAIL(t, "%s: dim %d is %lld, want %lld", in->name, d, (long long)x->shape[d],
                     want_dim(t, in, &in->shape.dims[d], p, n));
            return;
        }
    if (x->dtype != in->dtype) TOY_FAIL(t, "%s: dtype", in->name);
    if (in->flags & MIXLM_INPUT_EXECUTOR_EVAL) {
        if (x->data) TOY_FAIL(t, "%s: executor-evaluated input was materialised", in->name);
        return;
    }
    if (!x->data || x->nbytes != tcount(x) * mixlm_dtype_size(x->dtype)) {
        TOY_FAIL(t, "%s: no data or wrong byte count", in->name);
        return;
    }
    size_t cnt = tcount(x);
    switch (in->role) {
    case MIXLM_ROLE_TOKEN_IDS:
        for (int i = 0; i < n; i++)
            if (tget(x, (size_t)i) != ss->tokens[i]) TOY_FAIL(t, "%s[%d] wrong", in->name, i);
        break;
    case MIXLM_ROLE_POSITIONS:
        for (int i = 0; i < n; i++)
            if (tget(x, (size_t)i) != (double)(p + i)) TOY_FAIL(t, "%s[%d] wrong", in->name, i);
        break;
    case MIXLM_ROLE_CURRENT_POS:
        if (tget(x, 0) != (double)p) TOY_FAIL(t, "%s = %g, want %lld", in->name, tget(x, 0), p);
        break;
    case MIXLM_ROLE_RING_POS:
        if (tget(x, 0) != (double)(p % in->window)) TOY_FAIL(t, "%s wrong", in->name);
        break;
    case MIXLM_ROLE_UPDATE_MASK:
        for (size_t s = 0; s < cnt; s++)
            if (tget(x, s) != ((long long)s == (in->window > 0 ? p % in->window : p) ? 1.0 : 0.0))
                TOY_FAIL(t, "%s[%zu] wrong at p=%lld", in->name, s, p);
        break;
    case MIXLM_ROLE_ROPE_COS:
    case MIXLM_ROLE_ROPE_SIN: {
        long long last = x->shape[x->n_dims - 1];
        for (int i = 0; i < n; i++)
            for (long long j = 0; j < last; j++) {
                long long pair = last == in->rope_dim ? j % (in->rope_dim / 2) : j;
                double ang = (double)(p + i) / in->rope_scale *
                             pow(in->rope_base, -2.0 * (double)pair / in->rope_dim);
                double want = in->role == MIXLM_ROLE_ROPE_COS ? cos(ang) : sin(ang);
                double got = tget(x, (size_t)(i * last + j));
                if (fabs(got - want) > 1e-6 + 1e-6 * fabs(want))
                    TOY_FAIL(t, "%s[%d][%lld] = %g, want %g", in->name, i, j, got, want);
            }
        break;
    }
    case MIXLM_ROLE_ATTENTION_MASK: {
        const mixlm_mask_spec *m = &in->mask;
        long long kv = x->shape[x->n_dims - 1];
        long long slots[64];
        if (m->layout == MIXLM_KEYS_RING) {
            long long upto = m->chunk_region ? p : p + n;
            for (int s = 0; s < m->window; s++) slots[s] = -1;
            for (long long j = 0; j < upto; j++) slots[j % m->window] = j;
        }
        double blocked = m->form == MIXLM_MASK_BOOLEAN ? 0.0
                         : !isnan(m->blocked)          ? (double)m->blocked
                         : x->dtype == MIXLM_DTYPE_F16 ? -65504.0
                                                       : -INFINITY;
        for (int i = 0; i < n; i++)
            for (long long cidx = 0; cidx < kv; cidx++) {
                long long k;
                if (m->layout == MIXLM_KEYS_ABSOLUTE) k = cidx < p + n ? cidx : -1;
                else if (cidx < m->window) k = slots[cidx];
                else k = p + (cidx - m->window);
                int vis = ref_visible(m->kind, m->window, p + i, k);
                double want = vis ? (m->form == MIXLM_MASK_BOOLEAN ? 1.0 : 0.0) : blocked;
                double got = tget(x, (size_t)(i * kv + cidx));
                if (got != want) {
                    TOY_FAIL(t, "%s p=%lld n=%d [%d][%lld] = %g, want %g", in->name, p, n, i, cidx,
                             got, want);
                    return;
                }
            }
        break;
    }
    case MIXLM_ROLE_COUNT:
        break;
    }
}

/* Cache access: state buffers hold [L or 2, 1, S, 1] values of the state's dtype. */
typedef struct cache_ref {
    void *base;
    mixlm_dtype dtype;
    long long cap;   /* S */
    bool ring;
    long long k_off, v_off; /* element offsets of this layer's keys and values */
} cache_ref;

static double cget(const cache_ref *r, long long off) {
    if (r->dtype == MIXLM_DTYPE_F16) return mx_f16_to_f32(((uint16_t *)r->base)[off]);
    return ((float *)r->base)[off];
}
static void cput(const cache_ref *r, long long off, double v) {
    if (r->dtype == MIXLM_DTYPE_F16) ((uint16_t *)r->base)[off] = mx_f32_to_f16((float)v);
    else ((float *)r->base)[off] = (float)v;
}

static void layer_cache(toy *t, const mixlm_step_seq *ss, int l, cache_ref *kr, cache_ref *vr) {
    int32_t si, idx, vi, vidx;
    mixlm_contract_layer_state(t->c, l, MIXLM_STATE_KEYS, &si, &idx);
    mixlm_contract_layer_state(t->c, l, MIXLM_STATE_VALUES, &vi, &vidx);
    const mixlm_state_decl *sd = mixlm_contract_state(t->c, si);
    long long cap = sd->layout == MIXLM_CACHE_FULL ? mixlm_contract_n_ctx(t->c) : sd->window;
    cache_ref r = {ss->states[si], sd->dtype, cap, sd->layout != MIXLM_CACHE_FULL, 0, 0};
    if (sd->holds == MIXLM_STATE_KV) {
        r.k_off = 0;
        r.v_off = cap;
        *kr = *vr = r;
    } else {
        r.k_off = (long long)idx * cap;
        *kr = r;
        const mixlm_state_decl *vd = mixlm_contract_state(t->c, vi);
        cache_ref v = {ss->states[vi], vd->dtype, cap, vd->layout != MIXLM_CACHE_FULL, 0,
                       (long long)vidx * cap};
        *vr = v;
    }
}

static void write_key(const cache_ref *kr, const cache_ref *vr, long long slot, long long pos, int tok) {
    cput(kr, kr->k_off + slot, (double)(pos + 1));
    cput(vr, vr->v_off + slot, (double)tok);
}

static mixlm_status toy_step(void *self, const mixlm_step_seq *seqs, int32_t n_seqs) {
    toy *t = self;
    const mixlm_contract *c = t->c;
    for (int32_t s = 0; s < n_seqs; s++) {
        const mixlm_step_seq *ss = &seqs[s];
        long long p = ss->pos;
        int n = ss->n_tokens;
        t->steps++;
        if (n > t->max_n_seen) t->max_n_seen = n;
        if (p != mixlm_state_pos(ss->state)) TOY_FAIL(t, "step pos %lld != state pos", p);
        for (int32_t i = 0; i < mixlm_contract_n_inputs(c); i++)
            check_input(t, mixlm_contract_input(c, i), &ss->inputs[i], ss);
        uint64_t acc[512];
        memset(acc, 0, sizeof acc);
        for (int l = 0; l < t->n_layers; l++) {
            const toy_layer *L = &t->layers[l];
            cache_ref kr, vr;
            layer_cache(t, ss, l, &kr, &vr);
            const mixlm_input_decl *md = t->mask_input[l] >= 0 ? mixlm_contract_input(c, t->mask_input[l]) : NULL;
            const mixlm_tensor *mx = md ? &ss->inputs[t->mask_input[l]] : NULL;
            bool ring_single = md && md->mask.layout == MIXLM_KEYS_RING && !md->mask.chunk_region;
            bool write_first = !kr.ring || ring_single;
            if (write_first) {
                for (int i = 0; i < n; i++) {
                    long long slot = kr.ring ? (p + i) % kr.cap : p + i;
                    if (ring_single) {
                        /* a ring-buffer export writes where its update mask says */
                        for (int32_t a = 0; a < mixlm_contract_n_inputs(c); a++) {
                            const mixlm_input_decl *in = mixlm_contract_input(c, a);
                            if (in->role == MIXLM_ROLE_UPDATE_MASK && in->window == kr.cap) {
                                long long hot = -1;
                                for (long long z = 0; z < kr.cap; z++)
                                    if (tget(&ss->inputs[a], (size_t)z) == 1.0) hot = z;
                                if (hot != slot) TOY_FAIL(t, "update mask slot %lld, want %lld", hot, slot);
                            }
                        }
                    }
                    write_key(&kr, &vr, slot, p + i, ss->tokens[i]);
                }
            }
            for (int i = 0; i < n; i++) {
                long long q = p + i;
                /* found[k - lo] counts how often position k was reached */
                long long lo = q - 600 < 0 ? 0 : q - 600;
                static int found[1024];
                memset(found, 0, sizeof found);
                uint64_t a = 0;
                if (md) {
                    long long kv = mx->shape[mx->n_dims - 1];
                    for (long long col = 0; col < kv; col++) {
                        double v = md->flags & MIXLM_INPUT_EXECUTOR_EVAL ? 0 : tget(mx, (size_t)(i * kv + col));
                        bool vis = md->mask.form == MIXLM_MASK_BOOLEAN ? v == 1.0 : v == 0.0;
                        if (!vis) continue;
                        long long k;
                        int tok;
                        if (md->mask.layout == MIXLM_KEYS_RING && col >= md->mask.window) {
                            k = p + (col - md->mask.window);
                            tok = ss->tokens[col - md->mask.window];
                        } else {
                            k = (long long)cget(&kr, kr.k_off + col) - 1;
                            tok = (int)cget(&vr, vr.v_off + col);
                        }
                        if (k < lo || k > q) {
                            TOY_FAIL(t, "layer %d q=%lld: visible column %lld holds position %lld", l, q, col, k);
                            continue;
                        }
                        found[k - lo]++;
                        a += (uint64_t)(tok + 1) * (uint64_t)(k % 97 + 1);
                    }
                } else {
                    /* no mask for this layer: the executor's own rule over its ring plus the
                     * step's keys (kept in "scratch", here: read from ss->tokens) */
                    for (long long slot = 0; slot < kr.cap; slot++) {
                        long long k = (long long)cget(&kr, kr.k_off + slot) - 1;
                        if (k < 0 || k >= p || !ref_visible(L->kind, L->w, q, k)) continue;
                        found[k - lo]++;
                        a += (uint64_t)((int)cget(&vr, vr.v_off + slot) + 1) * (uint64_t)(k % 97 + 1);
                    }
                    for (int j = 0; j <= i; j++)
                        if (ref_visible(L->kind, L->w, q, p + j)) {
                            found[p + j - lo]++;
                            a += (uint64_t)(ss->tokens[j] + 1) * (uint64_t)((p + j) % 97 + 1);
                        }
                }
                for (long long k = lo; k <= q; k++) {
                    int want = ref_visible(L->kind, L->w, q, k);
                    if (found[k - lo] != want)
                        TOY_FAIL(t, "layer %d q=%lld: position %lld reached %d times, want %d", l, q, k,
                                 found[k - lo], want);
                }
                acc[i % 512] = acc[i % 512] * 1000003u + a;
            }
            if (!write_first)
                for (int i = 0; i < n; i++)
                    write_key(&kr, &vr, (p + i) % kr.cap, p + i, ss->tokens[i]);
        }
        if (ss->logits) {
            const mixlm_output_decl *o = mixlm_contract_output(c);
            bool all = o->rows == MIXLM_LOGITS_ALL || (o->rows == MIXLM_LOGITS_REQUESTED && ss->logits_all);
            int first = all ? 0 : n - 1;
            for (int i = first; i < n; i++) {
                float *row = ss->logits + (size_t)(i - first) * VOCAB;
                for (int v = 0; v < VOCAB; v++)
                    row[v] = (float)(((acc[i % 512] + 1) * 2654435761u * (uint64_t)(v + 3)) % 1009u);
            }
        }
    }
    return MIXLM_OK;
}

static void toy_destroy(void *self) {
    toy *t = self;
    mixlm_contract_free(t->c);
    free(t);
}

static const mixlm_executor_iface TOY_IFACE = {toy_contract, toy_step, toy_destroy};

static mixlm_executor *make_toy(mixlm_contract *c, const toy_layer *layers, int n_layers, toy **out) {
    toy *t = calloc(1, sizeof *t);
    t->c = c;
    t->n_layers = n_layers;
    for (int l = 0; l < n_layers; l++) {
        t->layers[l] = layers[l];
        t->mask_input[l] = -1;
        for (int32_t i = 0; layers[l].mask_name && i < mixlm_contract_n_inputs(c); i++)
            if (!strcmp(mixlm_contract_input(c, i)->name, layers[l].mask_name)) t->mask_input[l] = i;
        if (layers[l].mask_name && t->mask_input[l] < 0) fprintf(stderr, "no mask %s\n", layers[l].mask_name);
    }
    mixlm_executor *ex = NULL;
    mixlm_status st = mixlm_executor_create(&TOY_IFACE, t, &ex);
    CHECK_MSG(st == MIXLM_OK, "executor_create: %s", mixlm_last_error());
    *out = t;
    return ex;
}

/* ---- Driving ------------------------------------------------------------------------------- */

static int argmax(const float *row) {
    int best = 0;
    for (int v = 1; v < VOCAB; v++)
        if (row[v] > row[best]) best = v;
    return best;
}

/* Feed tokens to one state in pieces of `chunk` (0 = all at once); logits of the last token. */
static mixlm_status feed(mixlm_executor *ex, mixlm_state *st, const int32_t *tok, int n, int chunk,
                         float *logits) {
    int done = 0;
    while (done < n) {
        int m = chunk > 0 && chunk < n - done ? chunk : n - done;
        mixlm_seq sq = {st, tok + done, m, NULL, false, done + m == n ? logits : NULL};
        mixlm_status s = mixlm_decode(ex, &sq, 1);
        if (s) return s;
        done += m;
    }
    return MIXLM_OK;
}

/* Feed with a list of chunk sizes (cycled). */
static mixlm_status feed_list(mixlm_executor *ex, mixlm_state *st, const int32_t *tok, int n,
                              const int *sizes, int n_sizes, float *logits) {
    int done = 0, k = 0;
    while (done < n) {
        int want = sizes[k++ % n_sizes];
        int m = MX_MIN(want, n - done);
        mixlm_seq sq = {st, tok + done, m, NULL, false, done + m == n ? logits : NULL};
        mixlm_status s = mixlm_decode(ex, &sq, 1);
        if (s) return s;
        done += m;
    }
    return MIXLM_OK;
}

/* Greedy generation of count tokens starting from logits; returns tokens in out. */
static mixlm_status generate(mixlm_executor *ex, mixlm_state *st, float *logits, int count, int32_t *out) {
    for (int g = 0; g < count; g++) {
        int32_t tok = argmax(logits);
        out[g] = tok;
        mixlm_seq sq = {st, &tok, 1, NULL, false, logits};
        mixlm_status s = mixlm_decode(ex, &sq, 1);
        if (s) return s;
    }
    return MIXLM_OK;
}

static uint64_t expected_bytes(const mixlm_contract *c) {
    uint64_t total = 0;
    for (int32_t i = 0; i < mixlm_contract_n_states(c); i++) {
        const mixlm_state_decl *sd = mixlm_contract_state(c, i);
        uint64_t e = mixlm_dtype_size(sd->dtype);
        for (int d = 0; d < sd->shape.n_dims; d++) {
            const mixlm_dim *dd = &sd->shape.dims[d];
            e *= (uint64_t)(dd->sym == MIXLM_DIM_FIXED ? dd->value
                            : dd->sym == MIXLM_DIM_CTX ? mixlm_contract_n_ctx(c)
                                                       : sd->window);
        }
        total += e;
    }
    return total;
}

static void run_style(const char *file, const toy_layer *layers, int n_layers, int has_ring) {
    mixlm_contract *c = NULL;
    mixlm_status st = mixlm_contract_load(test_data(file), &c);
    CHECK_MSG(st == MIXLM_OK, "%s: %s", file, mixlm_last_error());
    if (st) return;
    /* the contract prints back to JSON that reads back to the same contract */
    char *js = mixlm_contract_to_json(c);
    mixlm_contract *c2 = NULL;
    CHECK_MSG(js && mixlm_contract_parse_json(js, strlen(js), &c2) == MIXLM_OK, "%s: reparse: %s", file,
              mixlm_last_error());
    char *js2 = c2 ? mixlm_contract_to_json(c2) : NULL;
    CHECK_MSG(js && js2 && !strcmp(js, js2), "%s: JSON round trip differs", file);
    CHECK(mixlm_contract_fingerprint(c) == mixlm_contract_fingerprint(c2));
    free(js);
    free(js2);
    mixlm_contract_free(c2);

    toy *t;
    mixlm_executor *ex = make_toy(c, layers, n_layers, &t);
    if (!ex) return;
    const mixlm_contract *cc = mixlm_executor_contract(ex);
    int32_t prompt[PROMPT], prompt2[PROMPT];
    for (int i = 0; i < PROMPT; i++) {
        prompt[i] = (int32_t)((i * 7 + 3) % VOCAB ^ (i / 11 % 5));
        prompt2[i] = (int32_t)((i * 13 + 1) % VOCAB);
    }

    /* Reference: mixed chunks, some longer than the window (16), then 100 greedy steps. */
    static const int mixed[] = {37, 64, 1, 100, 20, 78};
    mixlm_state *sref = NULL;
    CHECK(mixlm_state_create(cc, &sref) == MIXLM_OK);
    CHECK_EQ_INT(mixlm_state_bytes(sref), expected_bytes(cc));
    float logits_prompt[VOCAB], logits[VOCAB];
    st = feed_list(ex, sref, prompt, PROMPT, mixed, 6, logits_prompt);
    CHECK_MSG(st == MIXLM_OK, "%s: prompt: %s", file, mixlm_last_error());
    CHECK_EQ_INT(mixlm_state_pos(sref), PROMPT);
    if (!has_ring || mixlm_contract_max_step(cc) != 1) CHECK_MSG(t->max_n_seen > 16, "%s: no step longer than W", file);
    else CHECK_EQ_INT(t->max_n_seen, 1);
    memcpy(logits, logits_prompt, sizeof logits);
    int32_t gen_ref[GEN];
    st = generate(ex, sref, logits, GEN, gen_ref);
    CHECK_MSG(st == MIXLM_OK, "%s: generate: %s", file, mixlm_last_error());
    CHECK_EQ_INT(mixlm_state_pos(sref), PROMPT + GEN);

    /* Chunk-split invariance: whole, 1, 7, 64 give the same logits and tokens. */
    static const int splits[] = {0, 1, 7, 64};
    for (int si = 0; si < 4; si++) {
        mixlm_state *s = NULL;
        mixlm_state_create(cc, &s);
        float lg[VOCAB];
        st = feed(ex, s, prompt, PROMPT, splits[si], lg);
        CHECK_MSG(st == MIXLM_OK && !memcmp(lg, logits_prompt, sizeof lg),
                  "%s: split %d: prompt logits differ (%s)", file, splits[si], mixlm_last_error());
        int32_t gen[GEN];
        st = generate(ex, s, lg, GEN, gen);
        CHECK_MSG(st == MIXLM_OK && !memcmp(gen, gen_ref, sizeof gen), "%s: split %d: tokens differ", file,
                  splits[si]);
        mixlm_state_free(s);
    }

    /* Batch: two sequences with different prompts in one call, then decoding together. */
    {
        mixlm_state *a = NULL, *b = NULL, *solo = NULL;
        mixlm_state_create(cc, &a);
        mixlm_state_create(cc, &b);
        mixlm_state_create(cc, &solo);
        float la[VOCAB], lb[VOCAB], ls[VOCAB];
        mixlm_seq sq[2] = {{a, prompt, PROMPT, NULL, false, la}, {b, prompt2, 123, NULL, false, lb}};
        st = mixlm_decode(ex, sq, 2);
        CHECK_MSG(st == MIXLM_OK, "%s: batch: %s", file, mixlm_last_error());
        CHECK(!memcmp(la, logits_prompt, sizeof la));
        feed(ex, solo, prompt2, 123, 0, ls);
        CHECK_MSG(!memcmp(lb, ls, sizeof lb), "%s: batched sequence 2 differs from running alone", file);
        int32_t ga[GEN], gb[GEN], gs[GEN];
        for (int g = 0; g < GEN; g++) {
            ga[g] = argmax(la);
            gb[g] = argmax(lb);
            mixlm_seq d[2] = {{a, &ga[g], 1, NULL, false, la}, {b, &gb[g], 1, NULL, false, lb}};
            st = mixlm_decode(ex, d, 2);
            if (st) break;
        }
        CHECK(st == MIXLM_OK);
        CHECK_MSG(!memcmp(ga, gen_ref, sizeof ga), "%s: batched generation differs", file);
        generate(ex, solo, ls, GEN, gs);
        CHECK(!memcmp(gb, gs, sizeof gb));
        /* one state twice in a call is refused */
        mixlm_seq dup[2] = {{a, ga, 1, NULL, false, NULL}, {a, ga, 1, NULL, false, NULL}};
        CHECK_EQ_INT(mixlm_decode(ex, dup, 2), MIXLM_ERR_INVALID_ARG);
        mixlm_state_free(a);
        mixlm_state_free(b);
        mixlm_state_free(solo);
    }

    /* All-rows logits: row i equals the last-row logits of feeding the prefix up to i. */
    {
        mixlm_state *s = NULL, *s2 = NULL;
        mixlm_state_create(cc, &s);
        mixlm_state_create(cc, &s2);
        static float rows[40 * VOCAB];
        mixlm_seq sq = {s, prompt, 40, NULL, true, rows};
        st = mixlm_decode(ex, &sq, 1);
        CHECK_MSG(st == MIXLM_OK, "%s: all logits: %s", file, mixlm_last_error());
        int bad = 0;
        for (int i = 0; i < 40; i++) {
            float lg[VOCAB];
            feed(ex, s2, prompt + i, 1, 0, lg);
            bad += memcmp(lg, rows + i * VOCAB, sizeof lg) != 0;
        }
        CHECK_MSG(bad == 0, "%s: %d logit rows differ", file, bad);
        mixlm_state_free(s);
        mixlm_state_free(s2);
    }

    /* Save after the prompt and 50 tokens; continuing, or loading and continuing, gives the
     * same 50 tokens as never stopping. */
    {
        const char *path = test_tmp("contract_style.state");
        mixlm_state *s = NULL, *s2 = NULL;
        mixlm_state_create(cc, &s);
        mixlm_state_create(cc, &s2);
        float lg[VOCAB];
        feed(ex, s, prompt, PROMPT, 64, lg);
        int32_t g1[GEN];
        generate(ex, s, lg, 50, g1);
        CHECK(!memcmp(g1, gen_ref, 50 * sizeof(int32_t)));
        st = mixlm_state_save(s, path);
        CHECK_MSG(st == MIXLM_OK, "save: %s", mixlm_last_error());
        float lg_saved[VOCAB];
        memcpy(lg_saved, lg, sizeof lg);
        /* the file holds the header and, of a full cache, only the used positions */
        {
            uint64_t want = 40 + 8 * (uint64_t)mixlm_contract_n_states(cc);
            for (int32_t i = 0; i < mixlm_contract_n_states(cc); i++) {
                const mixlm_state_decl *sd = mixlm_contract_state(cc, i);
                uint64_t e = mixlm_dtype_size(sd->dtype);
                for (int d = 0; d < sd->shape.n_dims; d++) {
                    const mixlm_dim *dd = &sd->shape.dims[d];
                    e *= (uint64_t)(dd->sym == MIXLM_DIM_FIXED ? dd->value
                                    : dd->sym == MIXLM_DIM_CTX ? PROMPT + 50
                                                               : sd->window);
                }
                want += e;
            }
            FILE *sf = fopen(path, "rb");
            long size = -1;
            if (sf) {
                fseek(sf, 0, SEEK_END);
                size = ftell(sf);
                fclose(sf);
            }
            CHECK_MSG((uint64_t)size == want, "%s: state file has %ld bytes, want %llu", file, size,
                      (unsigned long long)want);
        }
        generate(ex, s, lg, 50, g1 + 50);
        CHECK(!memcmp(g1, gen_ref, sizeof g1));
        st = mixlm_state_load(s2, path);
        CHECK_MSG(st == MIXLM_OK, "load: %s", mixlm_last_error());
        CHECK_EQ_INT(mixlm_state_pos(s2), PROMPT + 50);
        int32_t g2[50];
        generate(ex, s2, lg_saved, 50, g2);
        CHECK_MSG(!memcmp(g2, gen_ref + 50, sizeof g2), "%s: load + continue differs", file);
        /* a truncated file is refused and leaves the state as it was */
        FILE *f = fopen(path, "r+b");
        if (f) {
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            fclose(f);
            char *buf = malloc((size_t)size);
            f = fopen(path, "rb");
            size_t got = fread(buf, 1, (size_t)size, f);
            fclose(f);
            f = fopen(path, "wb");
            fwrite(buf, 1, got - 3, f);
            fclose(f);
            int64_t before = mixlm_state_pos(s2);
            CHECK_EQ_INT(mixlm_state_load(s2, path), MIXLM_ERR_FORMAT);
            CHECK_EQ_INT(mixlm_state_pos(s2), before);
            buf[0] = 'X';
            f = fopen(path, "wb");
            fwrite(buf, 1, got, f);
            fclose(f);
            CHECK_EQ_INT(mixlm_state_load(s2, path), MIXLM_ERR_FORMAT);
            free(buf);
        }
        mixlm_state_free(s);
        mixlm_state_free(s2);
    }

    /* Rewind. */
    {
        mixlm_state *s = NULL;
        mixlm_state_create(cc, &s);
        float lg[VOCAB];
        feed(ex, s, prompt, PROMPT, 64, lg);
        CHECK(mixlm_state_can_rewind(s, PROMPT));
        CHECK(mixlm_state_can_rewind(s, PROMPT - 1));
        CHECK(!mixlm_state_can_rewind(s, PROMPT + 1));
        CHECK_EQ_INT(mixlm_state_rewind(s, PROMPT + 1), MIXLM_ERR_STATE);
        if (has_ring) {
            CHECK(!mixlm_state_can_rewind(s, PROMPT - 2));
            CHECK(!mixlm_state_can_rewind(s, 150));
            CHECK(mixlm_state_can_rewind(s, 0));
            CHECK_EQ_INT(mixlm_state_rewind(s, 150), MIXLM_ERR_STATE);
            CHECK_MSG(strstr(mixlm_last_error(), "ring") != NULL, "message: %s", mixlm_last_error());
            CHECK_EQ_INT(mixlm_state_pos(s), PROMPT);
            CHECK_EQ_INT(mixlm_state_rewind(s, PROMPT - 1), MIXLM_OK);
            float l2[VOCAB];
            feed(ex, s, prompt + PROMPT - 1, 1, 0, l2);
            CHECK_MSG(!memcmp(l2, logits_prompt, sizeof l2), "%s: rewind by one and refeed differs", file);
            /* before the ring has wrapped, any rewind works */
            mixlm_state_reset(s);
            feed(ex, s, prompt, 12, 0, l2);
            CHECK(mixlm_state_can_rewind(s, 3));
            CHECK_EQ_INT(mixlm_state_rewind(s, 3), MIXLM_OK);
            feed(ex, s, prompt + 3, PROMPT - 3, 7, l2);
            CHECK_MSG(!memcmp(l2, logits_prompt, sizeof l2), "%s: early rewind and refeed differs", file);
        } else {
            CHECK_EQ_INT(mixlm_state_rewind(s, 150), MIXLM_OK);
            float l2[VOCAB];
            feed(ex, s, prompt + 150, PROMPT - 150, 7, l2);
            CHECK_MSG(!memcmp(l2, logits_prompt, sizeof l2), "%s: rewind and refeed differs", file);
        }
        mixlm_state_reset(s);
        CHECK_EQ_INT(mixlm_state_pos(s), 0);
        feed(ex, s, prompt, PROMPT, 0, lg);
        CHECK(!memcmp(lg, logits_prompt, sizeof lg));

        /* Context full: 512 positions. */
        int32_t more[300];
        for (int i = 0; i < 300; i++) more[i] = (int32_t)(i % VOCAB);
        mixlm_seq sq = {s, more, 213, NULL, false, lg};
        CHECK_EQ_INT(mixlm_decode(ex, &sq, 1), MIXLM_ERR_CONTEXT_FULL);
        CHECK_MSG(strstr(mixlm_last_error(), "context") != NULL, "message: %s", mixlm_last_error());
        CHECK_EQ_INT(mixlm_state_pos(s), PROMPT);
        sq.n_tokens = 212;
        CHECK_EQ_INT(mixlm_decode(ex, &sq, 1), MIXLM_OK);
        CHECK_EQ_INT(mixlm_state_pos(s), 512);
        sq.n_tokens = 1;
        CHECK_EQ_INT(mixlm_decode(ex, &sq, 1), MIXLM_ERR_CONTEXT_FULL);
        mixlm_state_free(s);
    }

    /* A state of another contract is refused. */
    {
        mixlm_contract *other = NULL;
        mixlm_contract_load(test_data(strcmp(file, "contracts/good_single_mask.json")
                                          ? "contracts/good_single_mask.json"
                                          : "contracts/good_two_mask_f16.json"),
                            &other);
        mixlm_state *s = NULL;
        mixlm_state_create(other, &s);
        int32_t tk = 1;
        mixlm_seq sq = {s, &tk, 1, NULL, false, NULL};
        CHECK_EQ_INT(mixlm_decode(ex, &sq, 1), MIXLM_ERR_STATE);
        const char *path2 = test_tmp("contract_style2.state");
        CHECK(mixlm_state_save(sref, path2) == MIXLM_OK);
        CHECK_EQ_INT(mixlm_state_load(s, path2), MIXLM_ERR_STATE);
        CHECK_EQ_INT(mixlm_state_pos(s), 0);
        mixlm_state_free(s);
        mixlm_contract_free(other);
    }

    CHECK_MSG(t->bad == 0, "%s: %lld bad checks in the executor; first: %s", file, t->bad, t->first_bad);
    CHECK(t->steps > 0);
    printf("%s: %lld executor steps checked\n", file, t->steps);
    mixlm_state_free(sref);
    mixlm_executor_free(ex);
}

/* A model with only local layers runs past any length: no context limit. */
static void test_local_only(void) {
    mixlm_contract *c = NULL;
    mixlm_contract_create(0, &c);
    mixlm_input_decl in;
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "ids");
    in.role = MIXLM_ROLE_TOKEN_IDS;
    in.dtype = MIXLM_DTYPE_I32;
    in.shape.n_dims = 1;
    in.shape.dims[0].sym = MIXLM_DIM_N;
    mixlm_contract_add_input(c, &in);
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "chunk_mask");
    in.role = MIXLM_ROLE_ATTENTION_MASK;
    in.dtype = MIXLM_DTYPE_BF16;
    in.shape.n_dims = 2;
    in.shape.dims[0].sym = MIXLM_DIM_N;
    in.shape.dims[1].sym = MIXLM_DIM_KV;
    in.mask.kind = MIXLM_ATTN_CHUNKED;
    in.mask.window = 24;
    in.mask.form = MIXLM_MASK_BOOLEAN;
    in.mask.blocked = NAN;
    in.mask.layout = MIXLM_KEYS_RING;
    in.mask.chunk_region = true;
    mixlm_contract_add_input(c, &in);
    memset(&in, 0, sizeof in);
    snprintf(in.name, sizeof in.name, "slide_mask");
    in.role = MIXLM_ROLE_ATTENTION_MASK;
    in.dtype = MIXLM_DTYPE_F32;
    in.shape.n_dims = 2;
    in.shape.dims[0].sym = MIXLM_DIM_N;
    in.shape.dims[1].sym = MIXLM_DIM_KV;
    in.mask.kind = MIXLM_ATTN_SLIDING;
    in.mask.window = 10;
    in.mask.blocked = NAN;
    in.mask.layout = MIXLM_KEYS_RING;
    in.mask.chunk_region = true;
    mixlm_contract_add_input(c, &in);
    mixlm_state_decl *sd = calloc(1, sizeof *sd);
    snprintf(sd->name, sizeof sd->name, "chunk_kv");
    sd->holds = MIXLM_STATE_KV;
    sd->layout = MIXLM_CACHE_CHUNK;
    sd->window = 24;
    sd->dtype = MIXLM_DTYPE_F32;
    sd->shape.n_dims = 4;
    sd->shape.dims[0] = (mixlm_dim){MIXLM_DIM_FIXED, 2};
    sd->shape.dims[1] = (mixlm_dim){MIXLM_DIM_FIXED, 1};
    sd->shape.dims[2] = (mixlm_dim){MIXLM_DIM_W, 0};
    sd->shape.dims[3] = (mixlm_dim){MIXLM_DIM_FIXED, 1};
    sd->n_layers = 1;
    sd->layers[0] = 0;
    mixlm_contract_add_state(c, sd);
    snprintf(sd->name, sizeof sd->name, "ring_kv");
    sd->layout = MIXLM_CACHE_RING;
    sd->window = 10;
    sd->layers[0] = 1;
    mixlm_contract_add_state(c, sd);
    free(sd);
    mixlm_output_decl o = {"logits", MIXLM_LOGITS_LAST, VOCAB};
    mixlm_contract_set_output(c, &o);
    CHECK_MSG(mixlm_contract_validate(c) == MIXLM_OK, "local-only: %s", mixlm_last_error());

    toy_layer layers[2] = {{MIXLM_ATTN_CHUNKED, 24, "chunk_mask"}, {MIXLM_ATTN_SLIDING, 10, "slide_mask"}};
    toy *t;
    mixlm_executor *ex = make_toy(c, layers, 2, &t);
    if (!ex) return;
    mixlm_state *s = NULL;
    CHECK(mixlm_state_create(c, &s) == MIXLM_OK);
    CHECK_EQ_INT(mixlm_state_bytes(s), (2 * 24 + 2 * 10) * 4);
    int32_t tok[3000];
    for (int i = 0; i < 3000; i++) tok[i] = (int32_t)((i * 5 + 1) % VOCAB);
    static const int sizes[] = {50, 3, 31, 1, 97};
    float lg[VOCAB], lg2[VOCAB];
    mixlm_status st = feed_list(ex, s, tok, 3000, sizes, 5, lg);
    CHECK_MSG(st == MIXLM_OK, "local-only: %s", mixlm_last_error());
    CHECK_EQ_INT(mixlm_state_pos(s), 3000);
    mixlm_state *s2 = NULL;
    mixlm_state_create(c, &s2);
    feed(ex, s2, tok, 3000, 1, lg2);
    CHECK(!memcmp(lg, lg2, sizeof lg));
    /* chunk-local rewind: within the current chunk of 24 positions and the last 10 */
    CHECK(mixlm_state_can_rewind(s, 2999));
    CHECK(!mixlm_state_can_rewind(s, 2980));
    CHECK_MSG(t->bad == 0, "local-only: %lld bad checks; first: %s", t->bad, t->first_bad);
    mixlm_state_free(s);
    mixlm_state_free(s2);
    mixlm_executor_free(ex);
}

/* Bidirectional spans: a step never splits a span; the mask ORs the span overlay onto the
 * kind, checked against brute force; a span longer than the step limit is a clear error. */
typedef struct span_exec {
    mixlm_contract *c;
    const int32_t *all_spans; /* span ids of the whole sequence, by position */
    int n_steps, step_start[64], step_len[64];
    long long bad;
} span_exec;

static const mixlm_contract *span_contract(void *self) { return ((span_exec *)self)->c; }

static mixlm_status span_step(void *self, const mixlm_step_seq *seqs, int32_t n_seqs) {
    span_exec *e = self;
    for (int32_t s = 0; s < n_seqs; s++) {
        const mixlm_step_seq *ss = &seqs[s];
        if (e->n_steps < 64) {
            e->step_start[e->n_steps] = (int)ss->pos;
            e->step_len[e->n_steps] = ss->n_tokens;
        }
        e->n_steps++;
        const mixlm_tensor *m = &ss->inputs[1];
        long long kv = m->shape[m->n_dims - 1];
        if (kv != ss->pos + ss->n_tokens) e->bad++;
        for (int i = 0; i < ss->n_tokens; i++)
            for (long long k = 0; k < kv; k++) {
                long long q = ss->pos + i;
                int vis = ref_visible(MIXLM_ATTN_SLIDING, 3, q, k);
                /* the overlay joins keys of the same span in this step */
                if (k >= ss->pos && e->all_spans[q] && e->all_spans[q] == e->all_spans[k]) vis = 1;
                if (ss->span_ids[i] != e->all_spans[q]) e->bad++;
                if (tget(m, (size_t)(i * kv + k)) != (vis ? 1.0 : 0.0)) e->bad++;
            }
    }
    return MIXLM_OK;
}

static void span_destroy(void *self) {
    span_exec *e = self;
    mixlm_contract_free(e->c);
    free(e);
}

static void test_spans(void) {
    static const char js[] =
        "{\"mixlm_contract\": 1, \"context\": 64, \"max_step\": 8,"
        " \"inputs\": [{\"name\": \"ids\", \"role\": \"token_ids\", \"dtype\": \"i32\", \"shape\": [\"n\"]},"
        "  {\"name\": \"mask\", \"role\": \"attention_mask\", \"dtype\": \"f32\", \"shape\": [\"n\", \"kv\"],"
        "   \"attention\": {\"kind\": \"sliding\", \"window\": 3, \"form\": \"boolean\","
        "    \"bidirectional_spans\": true}}],"
        " \"states\": [{\"name\": \"kv\", \"holds\": \"kv\", \"layout\": \"full\", \"dtype\": \"f32\","
        "   \"shape\": [2, \"ctx\"]}],"
        " \"output\": {\"name\": \"logits\", \"rows\": \"last\", \"vocab\": 4}}";
    span_exec *e = calloc(1, sizeof *e);
    CHECK_MSG(mixlm_contract_parse_json(js, strlen(js), &e->c) == MIXLM_OK, "spans: %s", mixlm_last_error());
    /* positions 6..10 form span 1 (an "image"), 12..13 span 2 */
    /* 32 entries: the second decode below feeds position 20 before it fails, and the
     * executor looks that position up here (positions past 19 are outside every span). */
    static int32_t spans[32] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 2, 2, 0, 0, 0, 0, 0, 0};
    int32_t tok[20] = {0};
    e->all_spans = spans;
    static const mixlm_executor_iface iface = {span_contract, span_step, span_destroy};
    mixlm_executor *ex = NULL;
    CHECK(mixlm_executor_create(&iface, e, &ex) == MIXLM_OK);
    mixlm_state *s = NULL;
    mixlm_state_create(mixlm_executor_contract(ex), &s);
    float lg[4];
    mixlm_seq sq = {s, tok, 20, spans, false, lg};
    CHECK_MSG(mixlm_decode(ex, &sq, 1) == MIXLM_OK, "spans: %s", mixlm_last_error());
    CHECK_EQ_INT(e->bad, 0);
    /* steps: [0,6) stops before the span, [6,14) holds it whole, [14,20) */
    CHECK_EQ_INT(e->n_steps, 3);
    CHECK_EQ_INT(e->step_start[1], 6);
    CHECK_EQ_INT(e->step_len[1], 8);
    CHECK_EQ_INT(mixlm_state_pos(s), 20);
    /* a span longer than max_step cannot be fed */
    static int32_t long_span[12] = {0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0};
    mixlm_seq bad = {s, tok, 12, long_span, false, lg};
    CHECK_EQ_INT(mixlm_decode(ex, &bad, 1), MIXLM_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mixlm_last_error(), "span") != NULL, "message: %s", mixlm_last_error());
    CHECK_EQ_INT(mixlm_state_pos(s), 21);
    mixlm_state_free(s);
    mixlm_executor_free(ex);
}

int main(void) {
    test_spans();
    toy_layer single[] = {{MIXLM_ATTN_CAUSAL, 0, "causalMask"}};
    toy_layer two[] = {{MIXLM_ATTN_CAUSAL, 0, "fullAttentionMask"}, {MIXLM_ATTN_SLIDING, 16, "slidingAttentionMask"}};
    toy_layer ring[] = {{MIXLM_ATTN_CAUSAL, 0, "causal_mask_full"}, {MIXLM_ATTN_SLIDING, 16, "causal_mask_sliding"}};
    toy_layer lg[] = {{MIXLM_ATTN_CAUSAL, 0, "attention_mask"}, {MIXLM_ATTN_SLIDING, 16, NULL}};
    run_style("contracts/good_single_mask.json", single, 1, 0);
    run_style("contracts/good_two_mask_f16.json", two, 2, 0);
    run_style("contracts/good_ring_buffer.json", ring, 2, 1);
    run_style("contracts/good_local_global.json", lg, 2, 1);
    test_local_only();
    return check_summary("test_contract_styles");
}
