/* server.h: the OpenAI-compatible HTTP server behind `mixlm serve`: its configuration, the
 * backend interface the scheduler drives, and start/stop.
 *
 * Layers, top to bottom:
 *   http.c      libmicrohttpd routes, limits, auth, JSON and server-sent-event responses
 *   request.c   OpenAI request parsing and validation into an mx_srv_request
 *   sched.c     N slots, a request queue and one worker thread doing continuous batching:
 *               every step is ONE backend step over all active slots; requests join between
 *               steps and leave when done; a slot's cached tokens give prompt-prefix reuse
 *   backend     a table of functions (tokenize, template, sequence state, batched step,
 *               sampling). fake_backend.c is a deterministic one for tests; the real one wraps
 *               a model, tokenizer, chat template and sampler.
 * The server never knows a model family or a tensor name: it sees tokens and logits. */
#ifndef MX_SERVER_H
#define MX_SERVER_H

#include "mixlm.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* ---- Sampling parameters of one request ------------------------------------------------- */

#define MX_SRV_MAX_TOP_LOGPROBS 20
#define MX_SRV_MAX_STOP 4
#define MX_SRV_MAX_LOGIT_BIAS 300

typedef struct mx_srv_sampling {
    float temperature;        /* 0 = greedy; default 1 */
    float top_p;              /* 1 = off */
    int32_t top_k;            /* 0 = off */
    float min_p;              /* 0 = off */
    float presence_penalty;   /* OpenAI semantics, over the generated tokens */
    float frequency_penalty;
    uint64_t seed;            /* always set: from the request or drawn by the server */
    int32_t n_logit_bias;
    int32_t bias_ids[MX_SRV_MAX_LOGIT_BIAS];
    float bias_values[MX_SRV_MAX_LOGIT_BIAS];
    int32_t n_top_logprobs;   /* alternatives to report per token (0..20); -1 = no logprobs */
} mx_srv_sampling;

/* The token a sampler picked, with log-probabilities when asked for. */
typedef struct mx_srv_pick {
    int32_t token;
    float logprob;
    int32_t n_top;
    int32_t top_ids[MX_SRV_MAX_TOP_LOGPROBS];
    float top_logprobs[MX_SRV_MAX_TOP_LOGPROBS];
} mx_srv_pick;

/* ---- The backend ------------------------------------------------------------------------ */

/* One sequence's part of a batched step: feed tokens[0..n_tokens) at the sequence's current
 * position and write the logits after the last of them to logits (n_vocab floats). */
typedef struct mx_srv_batch_item {
    void *seq;
    const int32_t *tokens;
    int32_t n_tokens;
    float *logits;
} mx_srv_batch_item;

/* Everything the server needs from a model. Functions marked [any thread] are called from the
 * HTTP threads concurrently and must be thread-safe; the others run on the scheduler's worker
 * thread only. Every function returning mixlm_status leaves a message with mx_err on failure. */
typedef struct mx_srv_backend {
    void *ctx;
    const char *model_id;  /* the name /v1/models reports */
    int32_t n_ctx;         /* tokens per sequence (prompt + generation) */
    int32_t n_vocab;

    /* [any thread] Render an OpenAI chat request (its "messages", optional "tools",
     * "chat_template_kwargs") to prompt text with the generation prompt added. *out is
     * malloc'd. MIXLM_ERR_TEMPLATE / INVALID_ARG = the client's fault (400). */
    mixlm_status (*render_chat)(void *ctx, const struct cJSON *request, char **out);
    /* [any thread] Text to token ids (*ids malloc'd). add_special: prepend BOS etc. */
    mixlm_status (*tokenize)(void *ctx, const char *text, size_t len, int add_special,
                             int32_t **ids, size_t *n_ids);
    /* [any thread] The raw bytes of one token (may be part of a UTF-8 character). Returns the
     * length (<= cap), or -1 for an invalid id. Control tokens give 0 bytes. */
    int (*token_bytes)(void *ctx, int32_t id, char *buf, size_t cap);
    /* [any thread] Non-zero when id ends a generation (EOS, end of turn). */
    int (*is_eog)(void *ctx, int32_t id);
    /* Optional streaming detokenizer, one per request (all four NULL: the server assembles
     * UTF-8 text from token_bytes itself). push returns the text the id completes (valid
     * UTF-8, possibly empty; valid until the next call on d); flush returns what is held back
     * at the end of the answer. */
    mixlm_status (*detok_new)(void *ctx, void **d);
    void (*detok_free)(void *ctx, void *d);
    mixlm_status (*detok_push)(void *ctx, void *d, int32_t id, const char **text, size_t *len);
    mixlm_status (*detok_flush)(void *ctx, void *d, const char **text, size_t *len);

    /* Sequence state (the KV cache of one slot). */
    mixlm_status (*seq_new)(void *ctx, void **seq);
    void (*seq_free)(void *ctx, void *seq);
    /* Keep the first n_keep tokens of the state, drop the rest. Truncating to 0 always works;
     * other lengths may fail (a sliding-window ring cannot go back past its window), and then
     * the server truncates to 0 and prefills the whole prompt. */
    mixlm_status (*seq_truncate)(void *ctx, void *seq, int32_t n_keep);
    /* One forward pass over every item (continuous batching). */
    mixlm_status (*step)(void *ctx, mx_srv_batch_item *items, int32_t n_items);

    /* Sampling: one sampler per request, created from its parameters. */
    mixlm_status (*sampler_new)(void *ctx, const mx_srv_sampling *params, void **smp);
    void (*sampler_free)(void *ctx, void *smp);
    /* Pick the next token from logits (which the sampler may modify in place). generated holds
     * the tokens picked so far in this request (for the penalties). */
    mixlm_status (*sample)(void *ctx, void *smp, float *logits, const int32_t *generated,
                           size_t n_generated, mx_srv_pick *out);

    /* Release ctx (called by mx_server_free when the server owns the backend); may be NULL. */
    void (*destroy)(void *ctx);
} mx_srv_backend;

/* A deterministic stand-in model for tests and `mixlm serve --fake-backend`: bytes are tokens,
 * logits are a hash of the whole token history (so a wrong prefix reuse changes the answer),
 * and a step can be slowed down by step_delay_us to let requests overlap. */
typedef struct mx_fake_backend_params {
    int32_t n_ctx;          /* default 2048 */
    uint32_t step_delay_us; /* sleep per step, default 0 */
} mx_fake_backend_params;

mixlm_status mx_fake_backend_create(mx_fake_backend_params params, mx_srv_backend *out);

/* The real backend: a model file or folder on the native engine, its tokenizer, its chat
 * template (optional: without one, chat requests get a 400) and the library's sampler. */
typedef struct mx_model_backend_params {
    const char *model_path;
    const char *template_file;  /* a .jinja file instead of the model's template, or NULL */
    const char *tokenizer_path; /* a tokenizer.json (or folder) instead of the model's, or NULL */
    int32_t n_ctx;              /* 0 = the model's training context (at most 8192) */
    int32_t n_threads;          /* 0 = one per CPU, at most 8 */
    mixlm_dtype kv_dtype;       /* KV cache element type of every slot (zero: f32) */
} mx_model_backend_params;

mixlm_status mx_model_backend_create(const mx_model_backend_params *params, mx_srv_backend *out);
/* The largest number of sequences the fake backend has seen in one step call. */
int32_t mx_fake_backend_max_batch(const mx_srv_backend *b);

/* ---- Server configuration --------------------------------------------------------------- */

typedef struct mx_server_params {
    const char *host;           /* default "127.0.0.1" (loopback only unless asked) */
    uint16_t port;              /* 0 = any free port (see mx_server_port) */
    int32_t n_slots;            /* --parallel, default 4 */
    int32_t queue_cap;          /* waiting requests beyond the slots; more get 503. default 64 */
    size_t max_body;            /* request body cap in bytes, default 1 MiB (413 beyond) */
    size_t max_header;          /* per-connection memory for headers, default 16 KiB */
    int32_t max_tokens_cap;     /* largest max_tokens a request may ask; default 4096 */
    int32_t prefill_chunk;      /* tokens of one prompt per step; default 512 */
    int32_t step_token_budget;  /* tokens per step over all slots; default 1024 */
    uint32_t timeout_s;         /* idle connection timeout (slow clients), default 30 */
    int32_t max_connections;    /* default 64 */
    const char *api_key;        /* NULL = no auth */
} mx_server_params;

mx_server_params mx_server_default_params(void);

typedef struct mx_server mx_server;

/* Start serving with the given backend (copied; the server calls backend.destroy on free when
 * own_backend is set). Returns once the socket listens. */
mixlm_status mx_server_start(const mx_server_params *params, const mx_srv_backend *backend,
                             int own_backend, mx_server **out);
/* The port the server listens on (useful with port 0). */
uint16_t mx_server_port(const mx_server *srv);
/* Stop accepting work (new requests get 503), let in-flight requests finish for up to
 * grace_ms, cancel what is left, then close every connection. Safe to call once. */
void mx_server_shutdown(mx_server *srv, uint32_t grace_ms);
/* Shut down (grace 0 if not done yet) and free. NULL is fine. */
void mx_server_free(mx_server *srv);

/* Counters for /health and tests. */
typedef struct mx_server_stats {
    int32_t n_slots, slots_busy, queued;
    uint64_t requests_total, requests_cancelled, steps, max_batch;
    uint64_t prompt_tokens, cached_prompt_tokens, generated_tokens;
} mx_server_stats;
void mx_server_get_stats(mx_server *srv, mx_server_stats *out);

#endif /* MX_SERVER_H */
