/* generate.c: the generation loop on the executor interface alone: chunked prefill, decode,
 * stop rules (end-of-sequence ids, stop strings across token boundaries, max new tokens,
 * context full) and streaming of valid UTF-8 text with token ids and log-probabilities. */
#define _POSIX_C_SOURCE 200809L
#include "common/util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <time.h>

struct mixlm_generator {
    mixlm_executor *ex;
    const mixlm_tokenizer *tok;
    mixlm_detokenizer *detok;
    mixlm_gen_params p;
    int32_t eos[MIXLM_MAX_EOS_IDS];
    int32_t n_eos;
    char *stop[MIXLM_MAX_STOP_STRINGS]; /* owned copies */
    size_t stop_len[MIXLM_MAX_STOP_STRINGS];
    int32_t n_stop;
    int32_t n_vocab;
    int32_t tok_n_vocab;     /* ids the tokenizer can decode (0 without a tokenizer) */
    int64_t n_ctx;
    bool bounded;            /* the contract has a ctx-long cache or input */
    float *logits;           /* [n_vocab] */
    int32_t *tokens;         /* generated ids */
    int32_t cap_tokens;
    char *pending;           /* decoded text not yet released (may begin a stop string) */
    size_t pending_len, pending_cap;
    mixlm_sample_info info;
};

const char *mixlm_finish_reason_str(mixlm_finish_reason r) {
    switch (r) {
    case MIXLM_FINISH_NONE: return "";
    case MIXLM_FINISH_EOS: return "eos";
    case MIXLM_FINISH_STOP_STRING: return "stop";
    case MIXLM_FINISH_LENGTH: return "length";
    case MIXLM_FINISH_CONTEXT_FULL: return "context_full";
    case MIXLM_FINISH_CANCELLED: return "cancelled";
    }
    return "";
}

mixlm_gen_params mixlm_gen_default_params(void) {
    mixlm_gen_params p;
    memset(&p, 0, sizeof p);
    p.max_new_tokens = -1;
    p.prefill_chunk = 512;
    p.skip_special = true;
    p.top_logprobs = -1;
    return p;
}

/* ====================================================================================== */
/* Create / free                                                                          */
/* ====================================================================================== */

/* Does the contract stop at n_ctx? Full caches and ctx-long inputs do; a model made only of
 * sliding or chunked layers can run past any length. */
static bool contract_bounded(const mixlm_contract *c) {
    for (int32_t i = 0; i < mixlm_contract_n_states(c); i++)
        if (mixlm_contract_state(c, i)->layout == MIXLM_CACHE_FULL) return true;
    for (int32_t i = 0; i < mixlm_contract_n_inputs(c); i++) {
        const mixlm_input_decl *in = mixlm_contract_input(c, i);
        for (int32_t d = 0; d < in->shape.n_dims; d++)
            if (in->shape.dims[d].sym == MIXLM_DIM_CTX) return true;
    }
    return false;
}

mixlm_status mixlm_generator_create(mixlm_executor *ex, const mixlm_tokenizer *tok,
                                    const mixlm_gen_params *params, mixlm_generator **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "generate: NULL output");
    *out = NULL;
    if (!ex) return mx_err(MIXLM_ERR_INVALID_ARG, "generate: NULL executor");
    mixlm_gen_params p = params ? *params : mixlm_gen_default_params();
    const mixlm_contract *c = mixlm_executor_contract(ex);
    const mixlm_output_decl *o = c ? mixlm_contract_output(c) : NULL;
    if (!o || o->n_vocab < 1)
        return mx_err(MIXLM_ERR_CONTRACT, "generate: the executor's contract declares no logits output");
    if (p.max_new_tokens < -1)
        return mx_err(MIXLM_ERR_INVALID_ARG, "generate: max_new_tokens %d must be -1 or >= 0",
                      (int)p.max_new_tokens);
    if (p.prefill_chunk < 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "generate: prefill_chunk %d must be >= 0", (int)p.prefill_chunk);
    if (p.top_logprobs < -1 || p.top_logprobs > MIXLM_MAX_TOP_LOGPROBS)
        return mx_err(MIXLM_ERR_INVALID_ARG, "generate: top_logprobs %d must be -1..%d",
                      (int)p.top_logprobs, MIXLM_MAX_TOP_LOGPROBS);
    if (p.n_eos_ids < 0 || p.n_eos_ids > MIXLM_MAX_EOS_IDS || (p.n_eos_ids && !p.eos_ids))
        return mx_err(MIXLM_ERR_INVALID_ARG, "generate: %d end-of-sequence ids (at most %d)",
                      (int)p.n_eos_ids, MIXLM_MAX_EOS_IDS);
    if (p.n_stop_strings < 0 || p.n_stop_strings > MIXLM_MAX_STOP_STRINGS ||
        (p.n_stop_strings && !p.stop_strings))
        return mx_err(MIXLM_ERR_INVALID_ARG, "generate: %d stop strings (at most %d)",
                      (int)p.n_stop_strings, MIXLM_MAX_STOP_STRINGS);
    if (p.n_stop_strings && !tok)
        return mx_err(MIXLM_ERR_INVALID_ARG, "generate: stop strings need a tokenizer");
    for (int32_t i = 0; i < p.n_eos_ids; i++)
        if (p.eos_ids[i] < 0 || p.eos_ids[i] >= o->n_vocab)
            return mx_err(MIXLM_ERR_INVALID_ARG, "generate: end-of-sequence id %d outside the vocabulary (%d)",
                          (int)p.eos_ids[i], (int)o->n_vocab);
    for (int32_t i = 0; i < p.n_stop_strings; i++) {
        const char *s = p.stop_strings[i];
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > MIXLM_MAX_STOP_LEN)
            return mx_err(MIXLM_ERR_INVALID_ARG, "generate: stop string %d must have 1..%d bytes",
                          (int)i, MIXLM_MAX_STOP_LEN);
        if (!mx_utf8_valid(s, n))
            return mx_err(MIXLM_ERR_INVALID_ARG, "generate: stop string %d is not valid UTF-8", (int)i);
    }

    mixlm_generator *g = mx_calloc(1, sizeof *g);
    if (!g) return MIXLM_ERR_NOMEM;
    g->ex = ex;
    g->tok = tok;
    g->n_vocab = o->n_vocab;
    g->tok_n_vocab = tok ? mixlm_tokenizer_n_vocab(tok) : 0;
    g->n_ctx = mixlm_contract_n_ctx(c);
    g->bounded = g->n_ctx > 0 && contract_bounded(c);
    for (int32_t i = 0; i < p.n_eos_ids; i++) {
        bool dup = false;
        for (int32_t j = 0; j < g->n_eos; j++) dup |= g->eos[j] == p.eos_ids[i];
        if (!dup) g->eos[g->n_eos++] = p.eos_ids[i];
    }
    mixlm_status st = MIXLM_OK;
    for (int32_t i = 0; i < p.n_stop_strings && st == MIXLM_OK; i++) {
        g->stop_len[i] = strlen(p.stop_strings[i]);
        g->stop[i] = mx_strdup(p.stop_strings[i]);
        if (!g->stop[i]) st = MIXLM_ERR_NOMEM;
        g->n_stop = i + 1;
    }
    g->logits = mx_malloc((size_t)g->n_vocab * sizeof *g->logits);
    /* The released text of one step is at most one token's text plus held-back stop prefix;
     * start with room for both and grow only for an unusually long token. */
    g->pending_cap = 4096;
    g->pending = mx_malloc(g->pending_cap);
    g->cap_tokens = p.max_new_tokens >= 0 ? (p.max_new_tokens > 0 ? p.max_new_tokens : 1) : 1024;
    if (g->bounded && g->cap_tokens > g->n_ctx + 1) g->cap_tokens = (int32_t)MX_MIN(g->n_ctx + 1, INT32_MAX);
    g->tokens = mx_malloc((size_t)g->cap_tokens * sizeof *g->tokens);
    if (st == MIXLM_OK && (!g->logits || !g->pending || !g->tokens)) st = MIXLM_ERR_NOMEM;
    if (st == MIXLM_OK && tok) st = mixlm_detokenizer_create(tok, p.skip_special, &g->detok);
    if (st != MIXLM_OK) {
        mixlm_generator_free(g);
        return st;
    }
    p.eos_ids = g->eos;
    p.n_eos_ids = g->n_eos;
    p.stop_strings = (const char *const *)g->stop;
    g->p = p;
    *out = g;
    return MIXLM_OK;
}

void mixlm_generator_free(mixlm_generator *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n_stop; i++) free(g->stop[i]);
    mixlm_detokenizer_free(g->detok);
    free(g->logits);
    free(g->tokens);
    free(g->pending);
    free(g);
}

/* ====================================================================================== */
/* Stop strings                                                                           */
/* ====================================================================================== */

static bool append_pending(mixlm_generator *g, const char *text, size_t len) {
    if (len == 0) return true;
    if (g->pending_len + len > g->pending_cap) {
        size_t cap = g->pending_cap;
        while (cap < g->pending_len + len) cap *= 2;
        char *p = mx_realloc(g->pending, cap);
        if (!p) return false;
        g->pending = p;
        g->pending_cap = cap;
    }
    memcpy(g->pending + g->pending_len, text, len);
    g->pending_len += len;
    return true;
}

/* Earliest complete stop string in pending: its offset, or -1. */
static int64_t find_stop(const mixlm_generator *g) {
    int64_t best = -1;
    for (int32_t i = 0; i < g->n_stop; i++) {
        size_t n = g->stop_len[i];
        if (n > g->pending_len) continue;
        for (size_t at = 0; at + n <= g->pending_len; at++) {
            if (best >= 0 && (int64_t)at >= best) break;
            if (!memcmp(g->pending + at, g->stop[i], n)) {
                best = (int64_t)at;
                break;
            }
        }
    }
    return best;
}

/* Length of the longest suffix of pending that is a proper prefix of some stop string: that
 * much must wait for the next token. Stop strings are valid UTF-8 and begin with a lead byte,
 * so the cut never splits a character of the (valid) pending text. */
static size_t held_back(const mixlm_generator *g) {
    size_t best = 0;
    for (int32_t i = 0; i < g->n_stop; i++) {
        size_t n = g->stop_len[i];
        size_t k = MX_MIN(n - 1, g->pending_len);
        for (; k > best; k--)
            if (!memcmp(g->pending + g->pending_len - k, g->stop[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

static void drop_released(mixlm_generator *g, size_t n) {
    memmove(g->pending, g->pending + n, g->pending_len - n);
    g->pending_len -= n;
}

/* ====================================================================================== */
/* The loop                                                                               */
/* ====================================================================================== */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool is_eos(const mixlm_generator *g, int32_t t) {
    for (int32_t i = 0; i < g->n_eos; i++)
        if (g->eos[i] == t) return true;
    return false;
}

static bool cancelled(const mixlm_generator *g) { return g->p.cancel && *g->p.cancel; }

mixlm_status mixlm_generate(mixlm_generator *g, mixlm_state *state, mixlm_sampler *sampler,
                            const int32_t *prompt, int32_t n_prompt, mixlm_gen_callback cb,
                            void *user, mixlm_gen_result *result) {
    if (result) memset(result, 0, sizeof *result);
    if (!g || !state || !sampler || (!prompt && n_prompt > 0))
        return mx_err(MIXLM_ERR_INVALID_ARG, "generate: NULL argument");
    if (n_prompt < 1)
        return mx_err(MIXLM_ERR_INVALID_ARG, "generate: the prompt is empty (at least one token is needed for logits)");
    for (int32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= g->n_vocab)
            return mx_err(MIXLM_ERR_INVALID_ARG, "generate: prompt token %d at index %d outside the vocabulary (%d)",
                          (int)prompt[i], (int)i, (int)g->n_vocab);
    int64_t pos0 = mixlm_state_pos(state);
    if (g->bounded && pos0 + n_prompt > g->n_ctx) {
        if (pos0 == 0)
            return mx_err(MIXLM_ERR_CONTEXT_FULL,
                          "the prompt has %d tokens but the context holds %lld; use a shorter prompt or a larger context",
                          (int)n_prompt, (long long)g->n_ctx);
        return mx_err(MIXLM_ERR_CONTEXT_FULL,
                      "%d more tokens do not fit: %lld of the context's %lld positions are used",
                      (int)n_prompt, (long long)pos0, (long long)g->n_ctx);
    }
    g->pending_len = 0;
    if (g->detok) mixlm_detokenizer_reset(g->detok);
    int32_t n_gen = 0;
    mixlm_finish_reason finish = MIXLM_FINISH_NONE;
    mixlm_status st = MIXLM_OK;

    /* ---- Prefill --------------------------------------------------------------------- */
    double t0 = now_seconds();
    for (int32_t i = 0; i < n_prompt; i++) mixlm_sampler_accept(sampler, prompt[i]);
    int32_t chunk = g->p.prefill_chunk > 0 ? g->p.prefill_chunk : n_prompt;
    if (g->p.prefill_progress) g->p.prefill_progress(g->p.progress_user, 0, n_prompt);
    for (int32_t off = 0; off < n_prompt; off += chunk) {
        if (cancelled(g)) {
            finish = MIXLM_FINISH_CANCELLED;
            break;
        }
        int32_t n = MX_MIN(chunk, n_prompt - off);
        bool last = off + n == n_prompt;
        mixlm_seq seq = {state, prompt + off, n, NULL, false, last ? g->logits : NULL};
        st = mixlm_decode(g->ex, &seq, 1);
        if (st != MIXLM_OK) {
            /* Leave the state where the caller had it when the executor failed midway. */
            if (mixlm_state_can_rewind(state, pos0)) (void)mixlm_state_rewind(state, pos0);
            return mx_err_prefix(st, "prefill at position %lld: ", (long long)(pos0 + off));
        }
        if (g->p.prefill_progress) g->p.prefill_progress(g->p.progress_user, off + n, n_prompt);
    }
    double t1 = now_seconds();

    /* ---- Decode ---------------------------------------------------------------------- */
    mixlm_sample_info *info = g->p.top_logprobs >= 0 ? &g->info : NULL;
    while (finish == MIXLM_FINISH_NONE) {
        if (cancelled(g)) {
            finish = MIXLM_FINISH_CANCELLED;
            break;
        }
        if (g->p.max_new_tokens >= 0 && n_gen >= g->p.max_new_tokens) {
            finish = MIXLM_FINISH_LENGTH;
            break;
        }
        int32_t t = -1;
        if (info) {
            memset(info, 0, sizeof *info);
            info->n_top = g->p.top_logprobs;
        }
        st = mixlm_sampler_sample(sampler, g->logits, &t, info);
        if (st != MIXLM_OK) return mx_err_prefix(st, "sampling token %d: ", (int)n_gen);
        if (n_gen == g->cap_tokens) {
            int32_t cap = g->cap_tokens > INT32_MAX / 2 ? INT32_MAX : g->cap_tokens * 2;
            int32_t *p = mx_realloc(g->tokens, (size_t)cap * sizeof *p);
            if (!p) return MIXLM_ERR_NOMEM;
            g->tokens = p;
            g->cap_tokens = cap;
        }
        g->tokens[n_gen++] = t;
        mixlm_sampler_accept(sampler, t);
        if (is_eos(g, t)) {
            finish = MIXLM_FINISH_EOS;
            break;
        }
        size_t release = 0;
        if (g->detok) {
            const char *piece = NULL;
            size_t piece_len = 0;
            /* Models often have more logits than the tokenizer has tokens (a padded embedding
             * matrix); such an id has no text. */
            if (t < g->tok_n_vocab) {
                st = mixlm_detokenizer_push(g->detok, t, &piece, &piece_len);
                if (st != MIXLM_OK) return mx_err_prefix(st, "decoding token %d: ", (int)t);
            }
            if (!append_pending(g, piece, piece_len)) return MIXLM_ERR_NOMEM;
            int64_t at = find_stop(g);
            if (at >= 0) {
                release = (size_t)at;
                finish = MIXLM_FINISH_STOP_STRING;
            } else {
                release = g->pending_len - held_back(g);
            }
        }
        bool go_on = true;
        if (cb) {
            mixlm_gen_event ev = {t, n_gen - 1, g->pending, release, info, false, MIXLM_FINISH_NONE};
            go_on = cb(user, &ev);
        }
        if (finish == MIXLM_FINISH_STOP_STRING) {
            g->pending_len = 0; /* the stop string and what follows it are dropped */
            break;
        }
        drop_released(g, release);
        if (!go_on) {
            finish = MIXLM_FINISH_CANCELLED;
            break;
        }
        if (g->p.max_new_tokens >= 0 && n_gen >= g->p.max_new_tokens) {
            finish = MIXLM_FINISH_LENGTH;
            break;
        }
        if (g->bounded && mixlm_state_pos(state) >= g->n_ctx) {
            finish = MIXLM_FINISH_CONTEXT_FULL;
            break;
        }
        mixlm_seq seq = {state, &t, 1, NULL, false, g->logits};
        st = mixlm_decode(g->ex, &seq, 1);
        if (st == MIXLM_ERR_CONTEXT_FULL) {
            finish = MIXLM_FINISH_CONTEXT_FULL;
            break;
        }
        if (st != MIXLM_OK) return mx_err_prefix(st, "decoding at position %lld: ", (long long)mixlm_state_pos(state));
    }

    /* ---- Flush ----------------------------------------------------------------------- */
    if (finish != MIXLM_FINISH_STOP_STRING && g->detok) {
        const char *rest = NULL;
        size_t rest_len = 0;
        if (mixlm_detokenizer_flush(g->detok, &rest, &rest_len) == MIXLM_OK)
            if (!append_pending(g, rest, rest_len)) return MIXLM_ERR_NOMEM;
        /* A stop string can still complete with the flushed bytes. */
        int64_t at = find_stop(g);
        if (at >= 0) {
            g->pending_len = (size_t)at;
            finish = MIXLM_FINISH_STOP_STRING;
        }
    } else if (g->detok) {
        mixlm_detokenizer_reset(g->detok);
    }
    double t2 = now_seconds();
    if (cb) {
        mixlm_gen_event ev = {-1, n_gen, g->pending, g->pending_len, NULL, true, finish};
        cb(user, &ev);
    }
    g->pending_len = 0;
    if (result) {
        result->finish = finish;
        result->n_prompt = n_prompt;
        result->n_generated = n_gen;
        result->tokens = g->tokens;
        result->prefill_seconds = t1 - t0;
        result->decode_seconds = t2 - t1;
    }
    return MIXLM_OK;
}

/* ====================================================================================== */
/* End-of-sequence ids                                                                    */
/* ====================================================================================== */

static void add_id(int32_t *ids, int32_t cap, int32_t *n, int32_t id, int32_t n_vocab) {
    if (id < 0 || (n_vocab > 0 && id >= n_vocab)) return;
    for (int32_t i = 0; i < *n; i++)
        if (ids[i] == id) return;
    if (*n < cap) ids[(*n)++] = id;
}

int32_t mixlm_eos_ids(const char *model_path, const mixlm_tokenizer *tok, bool chat, int32_t *ids,
                      int32_t cap) {
    int32_t n = 0;
    if (!ids || cap <= 0) return 0;
    int32_t n_vocab = tok ? mixlm_tokenizer_n_vocab(tok) : 0;
    if (model_path && mx_is_dir(model_path)) {
        char *path = mx_path_join(model_path, "generation_config.json");
        char *text = NULL;
        size_t len = 0;
        if (path && mx_file_exists(path) && mx_read_file(path, 1u << 20, &text, &len) == MIXLM_OK) {
            cJSON *root = cJSON_ParseWithLength(text, len);
            const cJSON *e = root ? cJSON_GetObjectItemCaseSensitive(root, "eos_token_id") : NULL;
            if (cJSON_IsNumber(e)) {
                add_id(ids, cap, &n, (int32_t)e->valuedouble, n_vocab);
            } else if (cJSON_IsArray(e)) {
                const cJSON *it;
                cJSON_ArrayForEach(it, e) if (cJSON_IsNumber(it) && it->valuedouble >= 0 &&
                                              it->valuedouble < 2147483647.0)
                    add_id(ids, cap, &n, (int32_t)it->valuedouble, n_vocab);
            }
            cJSON_Delete(root);
        }
        free(text);
        free(path);
        mx_err_clear();
    }
    if (tok) {
        mixlm_special_tokens sp = mixlm_tokenizer_special(tok);
        add_id(ids, cap, &n, sp.eos, n_vocab);
        add_id(ids, cap, &n, sp.eot, n_vocab);
        /* Tokens named for the end of a sequence end it whatever tokenizer_config.json calls
         * eos (Gemma's instruction-tuned configs name <end_of_turn>, yet <eos> still ends). */
        static const char *const ends[] = {"<eos>", "</s>", "<|endoftext|>", "<|end_of_text|>"};
        /* Tokens that end a turn in the common chat formats. Not GPT-OSS's <|end|>: it ends a
         * message inside a turn (the analysis before the final answer). */
        static const char *const turns[] = {"<end_of_turn>", "<|eot_id|>", "<|eom_id|>",
                                            "<|im_end|>", "<|return|>", "<|call|>"};
        for (size_t k = 0; k < 2; k++) {
            const char *const *list = k == 0 ? ends : turns;
            size_t count = k == 0 ? MX_ARRAY_LEN(ends) : MX_ARRAY_LEN(turns);
            if (k == 1 && !chat) break;
            for (size_t i = 0; i < count; i++) {
                int32_t id = mixlm_tokenizer_piece_id(tok, list[i], strlen(list[i]));
                if (id >= 0 && mixlm_tokenizer_is_special(tok, id)) add_id(ids, cap, &n, id, n_vocab);
            }
        }
    }
    return n;
}
