/* model_backend.c: the server's backend for a real model: the native executor (one
 * mixlm_decode call per step for every active slot), one KV state per slot, the model's
 * tokenizer and chat template, and the library's sampler. Nothing here knows a model family. */
#define _POSIX_C_SOURCE 200809L
#include "server/srv_internal.h"
#include "model/model.h"

/* The sampler comes from the generation module (mixlm/generate.h); a tree without it still
 * builds the server, with the fake backend only. */
#if defined(__has_include)
#if __has_include("mixlm/generate.h")
#include "mixlm/generate.h"
#define MB_HAVE_SAMPLER 1
#endif
#endif

#ifdef MB_HAVE_SAMPLER

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EOG 16

typedef struct model_ctx {
    mixlm_model *model;
    mixlm_executor *ex;
    mixlm_tokenizer *tok;
    mixlm_chat_template *tmpl;  /* NULL: the model has none */
    char tmpl_error[256];
    int32_t n_vocab, n_ctx;
    int32_t eog[MAX_EOG];
    int32_t n_eog;
    mixlm_seq *seqs;            /* scratch for one step, n_slots entries (worker thread only) */
    int32_t seqs_cap;
    char model_id[128];
} model_ctx;

/* ---- Text --------------------------------------------------------------------------------- */

static mixlm_status mb_render(void *ctx, const cJSON *req, char **out) {
    model_ctx *c = ctx;
    if (!c->tmpl)
        return mx_err(MIXLM_ERR_UNSUPPORTED, "this model has no chat template (%s); use /v1/completions",
                      c->tmpl_error);
    char *json = cJSON_PrintUnformatted(req);
    if (!json) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    mixlm_status st = mixlm_chat_template_render(c->tmpl, json, true, out, NULL);
    free(json);
    return st;
}

static mixlm_status mb_tokenize(void *ctx, const char *text, size_t len, int add_special,
                                int32_t **ids, size_t *n_ids) {
    model_ctx *c = ctx;
    return mixlm_tokenizer_encode(c->tok, text, len, add_special != 0, ids, n_ids);
}

/* A token's text on its own (for logprobs). Decoding a lone token drops what a decoder strips
 * at the start of a text (e.g. SentencePiece's leading space); the streamed answer itself goes
 * through the detokenizer and is exact. */
static int mb_token_bytes(void *ctx, int32_t id, char *buf, size_t cap) {
    model_ctx *c = ctx;
    if (id < 0 || id >= mixlm_tokenizer_n_vocab(c->tok)) return id >= 0 && id < c->n_vocab ? 0 : -1;
    char *text = NULL;
    size_t len = 0;
    if (mixlm_tokenizer_decode(c->tok, &id, 1, false, &text, &len) != MIXLM_OK) return -1;
    if (len > cap) len = cap;
    memcpy(buf, text, len);
    free(text);
    return (int)len;
}

static int mb_is_eog(void *ctx, int32_t id) {
    model_ctx *c = ctx;
    for (int32_t i = 0; i < c->n_eog; i++)
        if (c->eog[i] == id) return 1;
    return 0;
}

static mixlm_status mb_detok_new(void *ctx, void **d) {
    model_ctx *c = ctx;
    return mixlm_detokenizer_create(c->tok, true, (mixlm_detokenizer **)d);
}
static void mb_detok_free(void *ctx, void *d) {
    (void)ctx;
    mixlm_detokenizer_free(d);
}
static mixlm_status mb_detok_push(void *ctx, void *d, int32_t id, const char **text, size_t *len) {
    model_ctx *c = ctx;
    if (id >= mixlm_tokenizer_n_vocab(c->tok)) { /* padding rows of the embedding: no text */
        *text = "";
        *len = 0;
        return MIXLM_OK;
    }
    return mixlm_detokenizer_push(d, id, text, len);
}
static mixlm_status mb_detok_flush(void *ctx, void *d, const char **text, size_t *len) {
    (void)ctx;
    return mixlm_detokenizer_flush(d, text, len);
}

/* ---- Sequences and the step ------------------------------------------------------------- */

static mixlm_status mb_seq_new(void *ctx, void **seq) {
    model_ctx *c = ctx;
    return mixlm_state_create(mixlm_executor_contract(c->ex), (mixlm_state **)seq);
}
static void mb_seq_free(void *ctx, void *seq) {
    (void)ctx;
    mixlm_state_free(seq);
}
static mixlm_status mb_seq_truncate(void *ctx, void *seq, int32_t n_keep) {
    (void)ctx;
    if (n_keep == 0) {
        mixlm_state_reset(seq);
        return MIXLM_OK;
    }
    if (!mixlm_state_can_rewind(seq, n_keep))
        return mx_err(MIXLM_ERR_STATE, "state cannot go back to position %d", n_keep);
    return mixlm_state_rewind(seq, n_keep);
}

static mixlm_status mb_step(void *ctx, mx_srv_batch_item *items, int32_t n_items) {
    model_ctx *c = ctx;
    if (n_items > c->seqs_cap) {
        /* Sized once for the largest batch (the slot count); grows only if that changes. */
        mixlm_seq *g = realloc(c->seqs, (size_t)n_items * sizeof *g);
        if (!g) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        c->seqs = g;
        c->seqs_cap = n_items;
    }
    for (int32_t i = 0; i < n_items; i++) {
        c->seqs[i] = (mixlm_seq){0};
        c->seqs[i].state = items[i].seq;
        c->seqs[i].tokens = items[i].tokens;
        c->seqs[i].n_tokens = items[i].n_tokens;
        c->seqs[i].logits = items[i].logits;
    }
    return mixlm_decode(c->ex, c->seqs, n_items);
}

/* ---- Sampling --------------------------------------------------------------------------- */

typedef struct mb_sampler {
    mixlm_sampler *s;
    int32_t n_top; /* -1: no logprobs */
} mb_sampler;

static mixlm_status mb_sampler_new(void *ctx, const mx_srv_sampling *p, void **out) {
    model_ctx *c = ctx;
    mixlm_sampler_params sp = mixlm_sampler_default_params();
    sp.temperature = p->temperature;
    sp.top_k = p->top_k;
    sp.top_p = p->top_p;
    sp.min_p = p->min_p;
    sp.presence_penalty = p->presence_penalty;
    sp.frequency_penalty = p->frequency_penalty;
    sp.seed = p->seed;
    sp.logprobs_mode = MIXLM_LOGPROBS_RAW;
    mixlm_logit_bias bias[MX_SRV_MAX_LOGIT_BIAS];
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        bias[i].token = p->bias_ids[i];
        /* OpenAI: -100 bans a token, 100 makes it the only choice. */
        bias[i].bias = p->bias_values[i] <= -100.0f ? -INFINITY : p->bias_values[i];
    }
    sp.logit_bias = p->n_logit_bias ? bias : NULL;
    sp.n_logit_bias = (size_t)p->n_logit_bias;
    mb_sampler *m = mx_calloc(1, sizeof *m);
    if (!m) return MIXLM_ERR_NOMEM;
    m->n_top = p->n_top_logprobs;
    mixlm_status st = mixlm_sampler_create(c->n_vocab, &sp, &m->s);
    if (st != MIXLM_OK) {
        free(m);
        return st;
    }
    *out = m;
    return MIXLM_OK;
}

static void mb_sampler_free(void *ctx, void *smp) {
    (void)ctx;
    mb_sampler *m = smp;
    if (!m) return;
    mixlm_sampler_free(m->s);
    free(m);
}

static mixlm_status mb_sample(void *ctx, void *smp, float *logits, const int32_t *gen,
                              size_t n_gen, mx_srv_pick *out) {
    (void)ctx;
    (void)gen;
    (void)n_gen;
    mb_sampler *m = smp;
    mixlm_sample_info info;
    memset(&info, 0, sizeof info);
    info.n_top = m->n_top > 0 ? MX_MIN(m->n_top, MX_SRV_MAX_TOP_LOGPROBS) : 0;
    int32_t tok = -1;
    mixlm_status st = mixlm_sampler_sample(m->s, logits, &tok, m->n_top >= 0 ? &info : NULL);
    if (st != MIXLM_OK) return st;
    /* The penalties look at the generated tokens only (OpenAI's "text so far" of the answer). */
    st = mixlm_sampler_accept(m->s, tok);
    if (st != MIXLM_OK) return st;
    out->token = tok;
    out->logprob = info.logprob;
    out->n_top = info.n_top_out;
    for (int32_t i = 0; i < info.n_top_out && i < MX_SRV_MAX_TOP_LOGPROBS; i++) {
        out->top_ids[i] = info.top[i].token;
        out->top_logprobs[i] = info.top[i].logprob;
    }
    return MIXLM_OK;
}

/* ---- Creation ------------------------------------------------------------------------- */

static void mb_destroy(void *ctx) {
    model_ctx *c = ctx;
    if (!c) return;
    mixlm_chat_template_free(c->tmpl);
    mixlm_tokenizer_free(c->tok);
    mixlm_executor_free(c->ex);
    mixlm_model_free(c->model);
    free(c->seqs);
    free(c);
}

static void add_eog(model_ctx *c, int32_t id) {
    if (id < 0 || id >= c->n_vocab || c->n_eog >= MAX_EOG || mb_is_eog(c, id)) return;
    c->eog[c->n_eog++] = id;
}

/* End-of-generation ids: the model's (GGUF eos and end-of-turn tokens, a Hugging Face
 * folder's generation_config.json eos_token_id), the tokenizer's EOS and end-of-turn, and the
 * template's eos_token. */
static void find_eog(model_ctx *c, const char *path) {
    for (int32_t i = 0; i < c->model->hp.n_eos && i < MX_MAX_EOS; i++) add_eog(c, c->model->hp.eos_ids[i]);
    /* The generation module's list, with the end-of-turn tokens of the common chat formats:
     * a chat answer ends at its turn's end, and so does a completion that reaches one. */
    int32_t ids[MAX_EOG];
    int32_t n = mixlm_eos_ids(path, c->tok, true, ids, MAX_EOG);
    for (int32_t i = 0; i < n && i < MAX_EOG; i++) add_eog(c, ids[i]);
    mixlm_special_tokens sp = mixlm_tokenizer_special(c->tok);
    add_eog(c, sp.eos);
    add_eog(c, sp.eot);
    const char *eos = c->tmpl ? mixlm_chat_template_token(c->tmpl, "eos_token") : NULL;
    if (eos) add_eog(c, mixlm_tokenizer_piece_id(c->tok, eos, strlen(eos)));
    if (!mx_is_dir(path)) return;
    char *gc_path = mx_path_join(path, "generation_config.json");
    char *text = NULL;
    size_t len = 0;
    if (gc_path && mx_file_exists(gc_path) && mx_read_file(gc_path, 1 << 20, &text, &len) == MIXLM_OK) {
        cJSON *gc = cJSON_ParseWithLength(text, len);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(gc, "eos_token_id");
        if (cJSON_IsNumber(e)) add_eog(c, (int32_t)e->valuedouble);
        const cJSON *it;
        if (cJSON_IsArray(e)) cJSON_ArrayForEach(it, e) if (cJSON_IsNumber(it)) add_eog(c, (int32_t)it->valuedouble);
        cJSON_Delete(gc);
    }
    free(text);
    free(gc_path);
    mx_err_clear();
}

mixlm_status mx_model_backend_create(const mx_model_backend_params *p, mx_srv_backend *out) {
    memset(out, 0, sizeof *out);
    model_ctx *c = mx_calloc(1, sizeof *c);
    if (!c) return MIXLM_ERR_NOMEM;
    mixlm_status st = mixlm_model_load(p->model_path, &c->model);
    if (st != MIXLM_OK) goto fail;
    mixlm_native_params np = mixlm_native_default_params();
    np.n_threads = p->n_threads;
    np.contract.n_ctx = p->n_ctx;
    np.contract.kv_dtype = p->kv_dtype;
    st = mixlm_native_executor_create(c->model, np, &c->ex);
    if (st != MIXLM_OK) goto fail;
    const mixlm_contract *ct = mixlm_executor_contract(c->ex);
    c->n_ctx = (int32_t)MX_MIN(mixlm_contract_n_ctx(ct), (int64_t)INT32_MAX);
    c->n_vocab = mixlm_contract_output(ct)->n_vocab;
    st = p->tokenizer_path ? mixlm_tokenizer_load(p->tokenizer_path, &c->tok)
                           : mixlm_tokenizer_from_model(c->model, &c->tok);
    if (st != MIXLM_OK) goto fail;
    if (mixlm_tokenizer_n_vocab(c->tok) > c->n_vocab) {
        st = mx_err(MIXLM_ERR_FORMAT, "the tokenizer has %d tokens but the model only %d logits",
                    mixlm_tokenizer_n_vocab(c->tok), c->n_vocab);
        goto fail;
    }
    st = p->template_file ? mixlm_chat_template_load_with_file(p->model_path, p->template_file, &c->tmpl)
                          : mixlm_chat_template_load(p->model_path, &c->tmpl);
    if (st != MIXLM_OK) {
        if (p->template_file || st != MIXLM_ERR_UNSUPPORTED) goto fail;
        /* No template: completions still work; chat requests get a clear 400. */
        snprintf(c->tmpl_error, sizeof c->tmpl_error, "%s", mixlm_last_error());
        c->tmpl = NULL;
        mx_err_clear();
    }
    find_eog(c, p->model_path);
    const char *base = strrchr(p->model_path, '/');
    base = base && base[1] ? base + 1 : p->model_path;
    snprintf(c->model_id, sizeof c->model_id, "%s", base);
    size_t idl = strlen(c->model_id);
    while (idl > 1 && c->model_id[idl - 1] == '/') c->model_id[--idl] = 0;

    out->ctx = c;
    out->model_id = c->model_id;
    out->n_ctx = c->n_ctx;
    out->n_vocab = c->n_vocab;
    out->render_chat = mb_render;
    out->tokenize = mb_tokenize;
    out->token_bytes = mb_token_bytes;
    out->is_eog = mb_is_eog;
    out->detok_new = mb_detok_new;
    out->detok_free = mb_detok_free;
    out->detok_push = mb_detok_push;
    out->detok_flush = mb_detok_flush;
    out->seq_new = mb_seq_new;
    out->seq_free = mb_seq_free;
    out->seq_truncate = mb_seq_truncate;
    out->step = mb_step;
    out->sampler_new = mb_sampler_new;
    out->sampler_free = mb_sampler_free;
    out->sample = mb_sample;
    out->destroy = mb_destroy;
    return MIXLM_OK;
fail:
    mb_destroy(c);
    return st;
}

#else /* !MB_HAVE_SAMPLER */

mixlm_status mx_model_backend_create(const mx_model_backend_params *p, mx_srv_backend *out) {
    (void)p;
    memset(out, 0, sizeof *out);
    return mx_err(MIXLM_ERR_UNSUPPORTED, "this build has no sampler (mixlm/generate.h): only --fake-backend");
}

#endif
