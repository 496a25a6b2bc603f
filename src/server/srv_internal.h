/* srv_internal.h: what the server's modules share: parsed requests, errors in the OpenAI shape,
 * jobs (one request in flight) and the scheduler that runs them. */
#ifndef MX_SRV_INTERNAL_H
#define MX_SRV_INTERNAL_H

#include "server/server.h"
#include "common/util.h"

#include <pthread.h>
#include <stdint.h>

struct cJSON;

/* ---- Errors in the OpenAI shape: {"error": {"message", "type", "param", "code"}} --------- */

typedef struct mx_srv_error {
    int status;        /* HTTP status code */
    const char *type;  /* "invalid_request_error", "server_error", ... (static string) */
    const char *code;  /* static string or NULL (JSON null) */
    char param[64];    /* "" means null */
    char message[512];
} mx_srv_error;

void mx_srv_error_set(mx_srv_error *e, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...) MX_PRINTF(6, 7);
/* A 400 invalid_request_error about one parameter. Returns 0 so that parsers can
 * `return bad_param(...)`. */
int mx_srv_bad_param(mx_srv_error *e, const char *param, const char *fmt, ...) MX_PRINTF(3, 4);
/* The error object as a malloc'd JSON document. */
char *mx_srv_error_json(const mx_srv_error *e);

/* ---- Parsed requests ---------------------------------------------------------------------- */

typedef enum mx_req_kind { MX_REQ_CHAT, MX_REQ_COMPLETION } mx_req_kind;

typedef struct mx_srv_request {
    mx_req_kind kind;
    int stream;
    int include_usage;          /* stream_options.include_usage */
    int32_t max_tokens;         /* -1 = not given (the server picks its cap) */
    int32_t n_stop;
    char *stop[MX_SRV_MAX_STOP];
    int has_seed;
    mx_srv_sampling sp;         /* sp.n_top_logprobs = -1 when logprobs are off */
    /* completions: the prompt as text or as token ids (exactly one is set) */
    char *prompt_text;
    size_t prompt_len;
    int32_t *prompt_ids;
    size_t n_prompt_ids;
} mx_srv_request;

/* Parse and validate a request body (already checked to be valid UTF-8 JSON). On failure
 * returns 0 and fills err (status 400). root stays owned by the caller. */
int mx_srv_request_parse(const struct cJSON *root, mx_req_kind kind, int32_t max_tokens_cap,
                         mx_srv_request *out, mx_srv_error *err);
void mx_srv_request_free(mx_srv_request *r);

/* ---- Jobs ------------------------------------------------------------------------------- */

typedef enum mx_job_state { MX_JOB_QUEUED, MX_JOB_RUNNING, MX_JOB_DONE } mx_job_state;

/* One generated token with its log-probabilities (kept only when the request asks). */
typedef struct mx_token_rec {
    mx_srv_pick pick;
} mx_token_rec;

typedef struct mx_job {
    /* Set before submission, read-only afterwards. */
    int32_t *prompt;   /* owned */
    int32_t n_prompt;
    int32_t max_tokens;
    int32_t n_stop;
    char *stop[MX_SRV_MAX_STOP]; /* owned */
    mx_srv_sampling sp;

    /* Guarded by the scheduler's lock. */
    pthread_cond_t cv;      /* signalled on new output and when done */
    int refs;               /* the HTTP side and the scheduler each hold one */
    mx_job_state state;
    int cancelled;          /* the client went away or the server is stopping */
    mx_buf text;            /* text emitted so far (after UTF-8 and stop-string handling) */
    mx_token_rec *toks;     /* when sp.n_top_logprobs >= 0 */
    int32_t n_toks;
    int32_t n_generated;    /* tokens sampled (completion_tokens) */
    int32_t n_cached;       /* prompt tokens reused from the slot's cache */
    const char *finish;     /* "stop" or "length" once done without error */
    mixlm_status err;       /* MIXLM_OK, or why it failed (CANCELLED when cancelled) */
    char errmsg[256];
    struct mx_job *next;    /* queue link */

    /* Worker-private. */
    void *smp;
    void *detok;            /* the backend's detokenizer, when it has one */
    int32_t *generated;     /* max_tokens entries */
    char *pend;             /* token bytes not yet emitted (incomplete UTF-8 or held back) */
    size_t pend_len, pend_cap;
} mx_job;

/* A job for a prompt (the ids are copied). Returns NULL when out of memory. */
mx_job *mx_job_new(const int32_t *prompt, size_t n_prompt, const mx_srv_request *req,
                   int32_t max_tokens);

/* ---- The scheduler ------------------------------------------------------------------------ */

typedef struct mx_slot {
    int32_t id;
    void *seq;          /* the backend's sequence state */
    int32_t *cache;     /* the tokens held in seq, n_ctx entries */
    int32_t n_cache;
    mx_job *job;        /* NULL when idle */
    int32_t n_fed;      /* prompt tokens already in the state for this job */
    int32_t last_token; /* the sampled token to feed in the next step */
    float *logits;      /* n_vocab */
    uint64_t last_used;
} mx_slot;

typedef struct mx_sched {
    mx_srv_backend be;
    int32_t n_slots, queue_cap, prefill_chunk, step_budget;
    mx_slot *slots;
    mx_srv_batch_item *items;
    int32_t *item_slot;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* the worker waits here for jobs */
    pthread_cond_t idle_cv;  /* signalled whenever a job finishes */
    pthread_t worker;
    int worker_started;
    int draining;            /* refuse new jobs */
    int quit;                /* the worker exits */
    mx_job *queue_head, *queue_tail;
    int32_t n_queued;
    uint64_t use_clock;
    mx_server_stats stats;
} mx_sched;

mixlm_status mx_sched_init(mx_sched *s, const mx_srv_backend *be, const mx_server_params *p);
/* Stop the worker (cancelling whatever is left) and free everything. */
void mx_sched_free(mx_sched *s);
/* Queue a job (the scheduler takes its own reference). 0 ok, 1 queue full, 2 draining. */
int mx_sched_submit(mx_sched *s, mx_job *job);
/* Both need s->mu held. */
void mx_sched_cancel_locked(mx_sched *s, mx_job *job);
void mx_job_release_locked(mx_sched *s, mx_job *job);
/* Refuse new jobs, wait up to grace_ms for the running ones, cancel the rest and wait (bounded)
 * until every slot is idle. */
void mx_sched_drain(mx_sched *s, uint32_t grace_ms);
/* Wait on cv for at most ms milliseconds (mu held). */
void mx_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, uint32_t ms);
int mx_cond_init_monotonic(pthread_cond_t *cv);

#endif /* MX_SRV_INTERNAL_H */
