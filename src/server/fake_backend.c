/* fake_backend.c: a deterministic stand-in model for testing the server without weights.
 * Tokens are bytes (0..255), 256 is end-of-sequence and 257 BOS. The logits after a token
 * are a hash of the whole token history, so they depend on every earlier token: a request
 * answered from a wrongly reused prefix, or mixed up with another sequence of the batch,
 * gives a different answer. It also carries a small reference sampler for the OpenAI
 * parameters (the real backend uses the library's sampler). */
#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime */
#include "server/srv_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_VOCAB 258
#define FAKE_EOS 256
#define FAKE_BOS 257

typedef struct fake_ctx {
    int32_t n_ctx;
    uint32_t delay_us;
    atomic_int max_batch;
    char model_id[32];
} fake_ctx;

typedef struct fake_seq {
    int32_t n;
    uint64_t *hash; /* hash[i] = state after i tokens; hash[0] is the empty history */
} fake_seq;

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* ---- Text ------------------------------------------------------------------------------------ */

static void append_content(mx_buf *b, const cJSON *content) {
    if (cJSON_IsString(content)) {
        mx_buf_puts(b, content->valuestring);
    } else if (cJSON_IsArray(content)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, content) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t)) mx_buf_puts(b, t->valuestring);
        }
    }
}

/* A fixed toy template: "<|role|>content\n" per message, then "<|assistant|>". */
static mixlm_status fake_render(void *ctx, const cJSON *req, char **out) {
    (void)ctx;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    if (!cJSON_IsArray(msgs)) return mx_err(MIXLM_ERR_INVALID_ARG, "messages must be an array");
    mx_buf b = {0};
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        mx_buf_printf(&b, "<|%s|>", cJSON_IsString(role) ? role->valuestring : "?");
        append_content(&b, cJSON_GetObjectItemCaseSensitive(m, "content"));
        mx_buf_putc(&b, '\n');
    }
    mx_buf_puts(&b, "<|assistant|>");
    *out = mx_buf_take(&b);
    return *out ? MIXLM_OK : mx_err(MIXLM_ERR_NOMEM, "out of memory");
}

static mixlm_status fake_tokenize(void *ctx, const char *text, size_t len, int add_special,
                                  int32_t **ids, size_t *n_ids) {
    (void)ctx;
    size_t n = len + (add_special ? 1 : 0);
    int32_t *v = mx_malloc((n ? n : 1) * sizeof(int32_t));
    if (!v) return MIXLM_ERR_NOMEM;
    size_t k = 0;
    if (add_special) v[k++] = FAKE_BOS;
    for (size_t i = 0; i < len; i++) v[k++] = (unsigned char)text[i];
    *ids = v;
    *n_ids = k;
    return MIXLM_OK;
}

static int fake_token_bytes(void *ctx, int32_t id, char *buf, size_t cap) {
    (void)ctx;
    if (id < 0 || id >= FAKE_VOCAB) return -1;
    if (id >= 256) return 0;
    if (cap < 1) return -1;
    buf[0] = (char)id;
    return 1;
}

static int fake_is_eog(void *ctx, int32_t id) {
    (void)ctx;
    return id == FAKE_EOS;
}

/* ---- Sequences and the step ------------------------------------------------------------------ */

static mixlm_status fake_seq_new(void *ctx, void **seq) {
    fake_ctx *c = ctx;
    fake_seq *s = mx_calloc(1, sizeof *s);
    if (!s) return MIXLM_ERR_NOMEM;
    s->hash = mx_calloc((size_t)c->n_ctx + 1, sizeof(uint64_t));
    if (!s->hash) {
        free(s);
        return MIXLM_ERR_NOMEM;
    }
    s->hash[0] = 0x6a09e667f3bcc908ULL;
    *seq = s;
    return MIXLM_OK;
}

static void fake_seq_free(void *ctx, void *seq) {
    (void)ctx;
    fake_seq *s = seq;
    if (!s) return;
    free(s->hash);
    free(s);
}

static mixlm_status fake_seq_truncate(void *ctx, void *seq, int32_t n_keep) {
    (void)ctx;
    fake_seq *s = seq;
    if (n_keep < 0 || n_keep > s->n)
        return mx_err(MIXLM_ERR_STATE, "fake: cannot keep %d of %d tokens", n_keep, s->n);
    s->n = n_keep;
    return MIXLM_OK;
}

/* Logits of the next token after a history with hash h: letters and spaces are likely, so the
 * output reads as words; one history in 24 makes end-of-sequence likely. */
static void fake_logits(uint64_t h, float *logits) {
    for (int v = 0; v < FAKE_VOCAB; v++) {
        uint64_t r = mix64(h ^ ((uint64_t)v * 0x9e3779b97f4a7c15ULL));
        float noise = (float)(r >> 40) / (float)(1u << 24) * 4.0f; /* [0, 4) */
        float base = -6.0f;
        if (v >= 'a' && v <= 'z') base = 1.0f;
        else if (v == ' ') base = 2.0f;
        else if (v == FAKE_EOS) base = (mix64(h) % 24 == 0) ? 8.0f : -30.0f;
        logits[v] = base + noise;
    }
}

static mixlm_status fake_step(void *ctx, mx_srv_batch_item *items, int32_t n_items) {
    fake_ctx *c = ctx;
    int prev = atomic_load(&c->max_batch);
    while (n_items > prev && !atomic_compare_exchange_weak(&c->max_batch, &prev, n_items)) {}
    for (int32_t i = 0; i < n_items; i++) {
        fake_seq *s = items[i].seq;
        if (items[i].n_tokens < 1 || items[i].n_tokens > c->n_ctx - s->n)
            return mx_err(MIXLM_ERR_CONTEXT_FULL, "fake: %d tokens do not fit (%d of %d used)",
                          items[i].n_tokens, s->n, c->n_ctx);
        for (int32_t k = 0; k < items[i].n_tokens; k++) {
            int32_t t = items[i].tokens[k];
            if (t < 0 || t >= FAKE_VOCAB) return mx_err(MIXLM_ERR_INVALID_ARG, "fake: bad token %d", t);
            s->hash[s->n + 1] = mix64(s->hash[s->n] ^ (uint64_t)(t + 1) * 0xff51afd7ed558ccdULL);
            s->n++;
        }
        fake_logits(s->hash[s->n], items[i].logits);
    }
    if (c->delay_us) {
        struct timespec ts = {c->delay_us / 1000000u, (long)(c->delay_us % 1000000u) * 1000L};
        nanosleep(&ts, NULL);
    }
    return MIXLM_OK;
}

/* ---- A reference sampler --------------------------------------------------------------------- */

typedef struct fake_sampler {
    mx_srv_sampling p;
    uint64_t rng;
    float prob[FAKE_VOCAB];
    int32_t order[FAKE_VOCAB];
} fake_sampler;

static mixlm_status fake_sampler_new(void *ctx, const mx_srv_sampling *p, void **out) {
    (void)ctx;
    fake_sampler *s = mx_calloc(1, sizeof *s);
    if (!s) return MIXLM_ERR_NOMEM;
    s->p = *p;
    s->rng = mix64(p->seed ^ 0x243f6a8885a308d3ULL);
    *out = s;
    return MIXLM_OK;
}

static void fake_sampler_free(void *ctx, void *smp) {
    (void)ctx;
    free(smp);
}

/* Token ids by descending logit (ties by id). An insertion sort: 258 entries, and no shared
 * comparator state, so several servers in one process may sample at once. */
static void sort_by_logit(const float *logits, int32_t *order, int32_t n) {
    for (int32_t i = 0; i < n; i++) order[i] = i;
    for (int32_t i = 1; i < n; i++) {
        int32_t t = order[i], k = i;
        while (k > 0 && logits[order[k - 1]] < logits[t]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = t;
    }
}

static mixlm_status fake_sample(void *ctx, void *smp, float *logits, const int32_t *gen,
                                size_t n_gen, mx_srv_pick *out) {
    (void)ctx;
    fake_sampler *s = smp;
    const mx_srv_sampling *p = &s->p;
    /* logit bias, then OpenAI's presence and frequency penalties over the generated tokens */
    for (int32_t i = 0; i < p->n_logit_bias; i++)
        if (p->bias_ids[i] >= 0 && p->bias_ids[i] < FAKE_VOCAB) logits[p->bias_ids[i]] += p->bias_values[i];
    if (p->presence_penalty != 0 || p->frequency_penalty != 0) {
        int32_t count[FAKE_VOCAB] = {0};
        for (size_t i = 0; i < n_gen; i++)
            if (gen[i] >= 0 && gen[i] < FAKE_VOCAB) count[gen[i]]++;
        for (int v = 0; v < FAKE_VOCAB; v++)
            if (count[v]) logits[v] -= p->presence_penalty + p->frequency_penalty * (float)count[v];
    }
    /* Log-probabilities are reported from this distribution (before temperature). */
    float mx = -INFINITY;
    for (int v = 0; v < FAKE_VOCAB; v++) mx = fmaxf(mx, logits[v]);
    double z = 0;
    for (int v = 0; v < FAKE_VOCAB; v++) z += exp((double)(logits[v] - mx));
    float logz = mx + (float)log(z);
    sort_by_logit(logits, s->order, FAKE_VOCAB);

    int32_t pick = s->order[0];
    if (p->temperature > 0) {
        int32_t n = FAKE_VOCAB;
        if (p->top_k > 0 && p->top_k < n) n = p->top_k;
        double total = 0;
        for (int32_t i = 0; i < n; i++) {
            s->prob[i] = (float)exp((double)(logits[s->order[i]] - mx) / p->temperature);
            total += s->prob[i];
        }
        if (p->top_p < 1) {
            double acc = 0;
            for (int32_t i = 0; i < n; i++) {
                acc += s->prob[i] / total;
                if (acc >= p->top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
        if (p->min_p > 0) {
            float floor_p = p->min_p * s->prob[0];
            int32_t k = 1;
            while (k < n && s->prob[k] >= floor_p) k++;
            n = k;
        }
        total = 0;
        for (int32_t i = 0; i < n; i++) total += s->prob[i];
        s->rng = mix64(s->rng + 0x9e3779b97f4a7c15ULL);
        double u = (double)(s->rng >> 11) / 9007199254740992.0 * total;
        pick = s->order[n - 1];
        for (int32_t i = 0; i < n; i++) {
            u -= s->prob[i];
            if (u < 0) {
                pick = s->order[i];
                break;
            }
        }
    }
    out->token = pick;
    out->logprob = logits[pick] - logz;
    out->n_top = p->n_top_logprobs > 0 ? p->n_top_logprobs : 0;
    for (int32_t i = 0; i < out->n_top; i++) {
        out->top_ids[i] = s->order[i];
        out->top_logprobs[i] = logits[s->order[i]] - logz;
    }
    return MIXLM_OK;
}

static void fake_destroy(void *ctx) { free(ctx); }

/* ---- Creation -------------------------------------------------------------------------------- */

mixlm_status mx_fake_backend_create(mx_fake_backend_params params, mx_srv_backend *out) {
    fake_ctx *c = mx_calloc(1, sizeof *c);
    if (!c) return MIXLM_ERR_NOMEM;
    c->n_ctx = params.n_ctx > 1 ? params.n_ctx : 2048;
    c->delay_us = params.step_delay_us;
    atomic_init(&c->max_batch, 0);
    snprintf(c->model_id, sizeof c->model_id, "mixlm-fake");
    memset(out, 0, sizeof *out);
    out->ctx = c;
    out->model_id = c->model_id;
    out->n_ctx = c->n_ctx;
    out->n_vocab = FAKE_VOCAB;
    out->render_chat = fake_render;
    out->tokenize = fake_tokenize;
    out->token_bytes = fake_token_bytes;
    out->is_eog = fake_is_eog;
    out->seq_new = fake_seq_new;
    out->seq_free = fake_seq_free;
    out->seq_truncate = fake_seq_truncate;
    out->step = fake_step;
    out->sampler_new = fake_sampler_new;
    out->sampler_free = fake_sampler_free;
    out->sample = fake_sample;
    out->destroy = fake_destroy;
    return MIXLM_OK;
}

int32_t mx_fake_backend_max_batch(const mx_srv_backend *b) {
    fake_ctx *c = b->ctx;
    return atomic_load(&c->max_batch);
}
