/* http.c: the HTTP side of the server on libmicrohttpd: routes, API key, body and header caps,
 * OpenAI JSON responses and server-sent-event streams, and start/shutdown.
 *
 * Threading: libmicrohttpd runs one thread per connection (bounded by max_connections), so a
 * handler may block while its request waits in the scheduler. Waits wake every 100 ms to look
 * at the socket: a client that has gone away cancels its job, which frees its slot before the
 * next step. */
#define _GNU_SOURCE /* getaddrinfo, MSG_DONTWAIT */
#include "server/srv_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_SLICE_MS 100

struct mx_server {
    mx_server_params p;
    char *api_key;
    mx_sched sched;
    int sched_ok;
    struct MHD_Daemon *daemon;
    uint16_t port;
    int own_backend;
    mx_srv_backend be;
    atomic_uint_fast64_t next_id;
    uint64_t id_salt;
    int shut_down;
    time_t created;
    atomic_int live_jobs; /* requests holding a job whose response is not finished */
};

enum route { R_CHAT, R_COMPLETIONS, R_MODELS, R_MODEL_ONE, R_HEALTH, R_NOT_FOUND, R_BAD_METHOD };

/* Per-request state. It is referenced by the request and, for a stream, by its response
 * (libmicrohttpd may free them in either order). */
typedef struct conn_ctx {
    atomic_int refs;
    mx_server *srv;
    struct MHD_Connection *conn;
    int fd;
    enum route route;
    const char *allow;  /* for 405: the method the URL takes */
    mx_buf body;
    int responded;
    int too_large;      /* the body passed the cap: the rest is read and dropped, then 413 */
    uint64_t dropped;

    /* a running request */
    mx_job *job;
    mx_req_kind kind;
    int include_usage;
    char id[48];
    long long created;

    /* stream state */
    int phase;          /* 0: nothing sent, 1: role sent, 2: final chunks written */
    size_t text_cur;    /* bytes of job->text already sent */
    int32_t tok_cur;    /* logprob records already sent */
    mx_buf out;         /* bytes to hand to libmicrohttpd */
    size_t out_off;
    size_t lp_offset;   /* completions logprobs: text_offset after the tokens already sent */
} conn_ctx;

static void ctx_unref(conn_ctx *cc) {
    if (!cc || atomic_fetch_sub(&cc->refs, 1) != 1) return;
    if (cc->job) {
        pthread_mutex_lock(&cc->srv->sched.mu);
        mx_sched_cancel_locked(&cc->srv->sched, cc->job);
        mx_job_release_locked(&cc->srv->sched, cc->job);
        pthread_mutex_unlock(&cc->srv->sched.mu);
        atomic_fetch_sub(&cc->srv->live_jobs, 1);
    }
    mx_buf_free(&cc->body);
    mx_buf_free(&cc->out);
    free(cc);
}

/* 1 when the peer closed its side or the socket failed. */
static int client_gone(int fd) {
    if (fd < 0) return 0;
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return 1;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 1;
    return 0;
}

/* ---- Plain responses ------------------------------------------------------------------------ */

static enum MHD_Result send_body(conn_ctx *cc, unsigned status, char *body, const char *ctype,
                                 const char *hname, const char *hval) {
    if (!body) {
        status = 500;
        body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        if (!body) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    if (hname) MHD_add_response_header(r, hname, hval);
    enum MHD_Result ret = MHD_queue_response(cc->conn, status, r);
    MHD_destroy_response(r);
    cc->responded = 1;
    return ret;
}

static enum MHD_Result send_json(conn_ctx *cc, unsigned status, cJSON *doc) {
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    return send_body(cc, status, s, "application/json", NULL, NULL);
}

static enum MHD_Result send_error(conn_ctx *cc, const mx_srv_error *e) {
    const char *hname = NULL, *hval = NULL;
    if (e->status == 401) hname = "WWW-Authenticate", hval = "Bearer";
    else if (e->status == 405) hname = "Allow", hval = cc->allow;
    else if (e->status == 503 || e->status == 429) hname = "Retry-After", hval = "1";
    return send_body(cc, (unsigned)e->status, mx_srv_error_json(e), "application/json", hname, hval);
}

/* ---- JSON pieces ------------------------------------------------------------------------------ */

static void add_common(conn_ctx *cc, cJSON *o, const char *object) {
    cJSON_AddStringToObject(o, "id", cc->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)cc->created);
    cJSON_AddStringToObject(o, "model", cc->srv->be.model_id);
    cJSON_AddStringToObject(o, "system_fingerprint", "mixlm-" MIXLM_VERSION_STRING);
}

/* Add text[0..n) as a JSON string. Generated text may hold NUL bytes (a model can emit the
 * byte 0), which cJSON's C strings would cut off: the literal is written here and added raw. */
static void add_text(cJSON *o, const char *name, const char *text, size_t n) {
    mx_buf b = {0};
    mx_buf_json_str(&b, text ? text : "", text ? n : 0);
    char *lit = mx_buf_take(&b);
    cJSON_AddRawToObject(o, name, lit ? lit : "\"\"");
    free(lit);
}

static cJSON *text_item(const char *text, size_t n) {
    mx_buf b = {0};
    mx_buf_json_str(&b, text ? text : "", text ? n : 0);
    char *lit = mx_buf_take(&b);
    cJSON *item = cJSON_CreateRaw(lit ? lit : "\"\"");
    free(lit);
    return item;
}

/* A token's bytes as valid UTF-8 text (bad bytes become U+FFFD), and the raw bytes. */
static cJSON *token_text(mx_server *srv, int32_t id, cJSON **bytes_out) {
    char piece[256];
    int n = srv->be.token_bytes(srv->be.ctx, id, piece, sizeof piece);
    if (n < 0) n = 0;
    mx_buf b = {0};
    if (bytes_out) *bytes_out = cJSON_CreateArray();
    for (int i = 0; i < n;) {
        int k = 1;
        while (k <= 4 && i + k <= n && !mx_utf8_valid(piece + i, (size_t)k)) k++;
        if (k <= 4 && i + k <= n) {
            mx_buf_append(&b, piece + i, (size_t)k);
            i += k;
        } else {
            mx_buf_puts(&b, "\xEF\xBF\xBD");
            i++;
        }
    }
    for (int i = 0; bytes_out && i < n; i++)
        cJSON_AddItemToArray(*bytes_out, cJSON_CreateNumber((unsigned char)piece[i]));
    cJSON *s = text_item(b.data, b.len);
    mx_buf_free(&b);
    return s;
}

/* The logprobs object for tokens [from, to) of the job (caller holds the lock). */
static cJSON *logprobs_json(conn_ctx *cc, int32_t from, int32_t to) {
    mx_job *j = cc->job;
    if (!j->toks) return cJSON_CreateNull();
    mx_server *srv = cc->srv;
    cJSON *lp = cJSON_CreateObject();
    if (cc->kind == MX_REQ_CHAT) {
        cJSON *content = cJSON_AddArrayToObject(lp, "content");
        for (int32_t i = from; i < to; i++) {
            const mx_srv_pick *p = &j->toks[i].pick;
            cJSON *e = cJSON_CreateObject(), *bytes = NULL;
            cJSON_AddItemToObject(e, "token", token_text(srv, p->token, &bytes));
            cJSON_AddNumberToObject(e, "logprob", p->logprob);
            cJSON_AddItemToObject(e, "bytes", bytes);
            cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
            for (int32_t k = 0; k < p->n_top; k++) {
                cJSON *t = cJSON_CreateObject(), *tb = NULL;
                cJSON_AddItemToObject(t, "token", token_text(srv, p->top_ids[k], &tb));
                cJSON_AddNumberToObject(t, "logprob", p->top_logprobs[k]);
                cJSON_AddItemToObject(t, "bytes", tb);
                cJSON_AddItemToArray(top, t);
            }
            cJSON_AddItemToArray(content, e);
        }
    } else {
        cJSON *tokens = cJSON_AddArrayToObject(lp, "tokens");
        cJSON *lps = cJSON_AddArrayToObject(lp, "token_logprobs");
        cJSON *tops = cJSON_AddArrayToObject(lp, "top_logprobs");
        cJSON *offs = cJSON_AddArrayToObject(lp, "text_offset");
        /* Offsets continue from the previous chunk (from is where it stopped), so a stream
         * costs linear time in its tokens. */
        size_t off = from == 0 ? 0 : cc->lp_offset;
        for (int32_t i = from; i < to; i++) {
            const mx_srv_pick *p = &j->toks[i].pick;
            char piece[256];
            int n = srv->be.token_bytes(srv->be.ctx, p->token, piece, sizeof piece);
            {
                cJSON_AddItemToArray(tokens, token_text(srv, p->token, NULL));
                cJSON_AddItemToArray(lps, cJSON_CreateNumber(p->logprob));
                cJSON *t = cJSON_CreateObject();
                for (int32_t k = 0; k < p->n_top; k++) {
                    /* Object keys are C strings: a NUL inside a token's text ends the key. */
                    char key[256];
                    int kn = srv->be.token_bytes(srv->be.ctx, p->top_ids[k], key, sizeof key - 1);
                    key[kn > 0 ? kn : 0] = 0;
                    size_t kl = strlen(key);
                    while (kl > 0 && !mx_utf8_valid(key, kl)) key[--kl] = 0;
                    if (!cJSON_GetObjectItemCaseSensitive(t, key))
                        cJSON_AddNumberToObject(t, key, p->top_logprobs[k]);
                }
                cJSON_AddItemToArray(tops, t);
                cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
            }
            off += n > 0 ? (size_t)n : 0;
        }
        cc->lp_offset = off;
    }
    return lp;
}

static cJSON *usage_json(const mx_job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", j->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)j->n_prompt + j->n_generated);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", j->n_cached);
    return u;
}

/* The error a failed job gives its client. */
static void job_error(const mx_job *j, mx_srv_error *e) {
    if (j->err == MIXLM_ERR_CANCELLED)
        mx_srv_error_set(e, 503, "server_error", "server_shutting_down", NULL,
                         "the request was cancelled because the server is shutting down");
    else
        mx_srv_error_set(e, 500, "server_error", NULL, NULL, "generation failed: %s",
                         j->errmsg[0] ? j->errmsg : mixlm_status_str(j->err));
}

/* ---- Streaming -------------------------------------------------------------------------------- */

static void sse_add(conn_ctx *cc, cJSON *doc) {
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!s) return;
    mx_buf_puts(&cc->out, "data: ");
    mx_buf_puts(&cc->out, s);
    mx_buf_puts(&cc->out, "\n\n");
    free(s);
}

/* One chunk with text (may be NULL), logprobs of tokens [from, to) and a finish reason. */
static void sse_chunk(conn_ctx *cc, const char *text, size_t len, int32_t from, int32_t to,
                      const char *finish, int role) {
    cJSON *o = cJSON_CreateObject();
    add_common(cc, o, cc->kind == MX_REQ_CHAT ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (cc->kind == MX_REQ_CHAT) {
        cJSON *delta = cJSON_AddObjectToObject(c, "delta");
        if (role) cJSON_AddStringToObject(delta, "role", "assistant");
        if (role || text) add_text(delta, "content", text, text ? len : 0);
    } else {
        add_text(c, "text", text, text ? len : 0);
    }
    if (to > from) cJSON_AddItemToObject(c, "logprobs", logprobs_json(cc, from, to));
    else cJSON_AddNullToObject(c, "logprobs");
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    if (cc->include_usage) cJSON_AddNullToObject(o, "usage");
    sse_add(cc, o);
}

/* Turn what the job produced since the last call into chunks (lock held). Returns 1 when there
 * was something to send. */
static int stream_collect(conn_ctx *cc) {
    mx_job *j = cc->job;
    int any = 0;
    if (cc->phase == 0 && cc->kind == MX_REQ_CHAT) {
        sse_chunk(cc, NULL, 0, 0, 0, NULL, 1);
        cc->phase = 1;
        any = 1;
    }
    cc->phase = cc->phase ? cc->phase : 1;
    size_t tl = j->text.len;
    if (tl > cc->text_cur || j->n_toks > cc->tok_cur) {
        sse_chunk(cc, j->text.data + cc->text_cur, tl - cc->text_cur, cc->tok_cur, j->n_toks,
                  NULL, 0);
        cc->text_cur = tl;
        cc->tok_cur = j->n_toks;
        any = 1;
    }
    if (j->state == MX_JOB_DONE) {
        if (j->finish) {
            sse_chunk(cc, NULL, 0, 0, 0, j->finish, 0);
            if (cc->include_usage) {
                cJSON *o = cJSON_CreateObject();
                add_common(cc, o, cc->kind == MX_REQ_CHAT ? "chat.completion.chunk" : "text_completion");
                cJSON_AddArrayToObject(o, "choices");
                cJSON_AddItemToObject(o, "usage", usage_json(j));
                sse_add(cc, o);
            }
        } else {
            mx_srv_error e;
            job_error(j, &e);
            char *s = mx_srv_error_json(&e);
            if (s) {
                mx_buf_puts(&cc->out, "data: ");
                mx_buf_puts(&cc->out, s);
                mx_buf_puts(&cc->out, "\n\n");
                free(s);
            }
        }
        mx_buf_puts(&cc->out, "data: [DONE]\n\n");
        cc->phase = 2;
        any = 1;
    }
    return any;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    conn_ctx *cc = cls;
    mx_sched *s = &cc->srv->sched;
    if (cc->out_off >= cc->out.len) {
        if (cc->phase == 2) return MHD_CONTENT_READER_END_OF_STREAM;
        cc->out.len = 0;
        cc->out_off = 0;
        pthread_mutex_lock(&s->mu);
        /* Bounded: the job ends (max_tokens, context), or the client leaves, or the server
         * stops and cancels it. */
        while (!stream_collect(cc)) {
            mx_cond_wait_ms(&cc->job->cv, &s->mu, WAIT_SLICE_MS);
            if (cc->job->state != MX_JOB_DONE && client_gone(cc->fd)) {
                mx_sched_cancel_locked(s, cc->job);
                pthread_mutex_unlock(&s->mu);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (cc->out.failed) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = MX_MIN(max, cc->out.len - cc->out_off);
    memcpy(buf, cc->out.data + cc->out_off, n);
    cc->out_off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) { ctx_unref(cls); }

/* ---- Generation requests --------------------------------------------------------------------- */

static enum MHD_Result finish_blocking(conn_ctx *cc) {
    mx_sched *s = &cc->srv->sched;
    mx_job *j = cc->job;
    pthread_mutex_lock(&s->mu);
    while (j->state != MX_JOB_DONE) {
        mx_cond_wait_ms(&j->cv, &s->mu, WAIT_SLICE_MS);
        if (j->state != MX_JOB_DONE && client_gone(cc->fd)) {
            mx_sched_cancel_locked(s, j);
            pthread_mutex_unlock(&s->mu);
            return MHD_NO; /* nobody to answer: close */
        }
    }
    if (!j->finish) {
        mx_srv_error e;
        job_error(j, &e);
        pthread_mutex_unlock(&s->mu);
        return send_error(cc, &e);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *choices;
    if (cc->kind == MX_REQ_CHAT) {
        add_common(cc, o, "chat.completion");
        choices = cJSON_AddArrayToObject(o, "choices");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", 0);
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        add_text(m, "content", j->text.data, j->text.len);
        cJSON_AddItemToObject(c, "logprobs", logprobs_json(cc, 0, j->n_toks));
        cJSON_AddStringToObject(c, "finish_reason", j->finish);
        cJSON_AddItemToArray(choices, c);
    } else {
        add_common(cc, o, "text_completion");
        choices = cJSON_AddArrayToObject(o, "choices");
        cJSON *c = cJSON_CreateObject();
        add_text(c, "text", j->text.data, j->text.len);
        cJSON_AddNumberToObject(c, "index", 0);
        cJSON_AddItemToObject(c, "logprobs", logprobs_json(cc, 0, j->n_toks));
        cJSON_AddStringToObject(c, "finish_reason", j->finish);
        cJSON_AddItemToArray(choices, c);
    }
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    pthread_mutex_unlock(&s->mu);
    return send_json(cc, 200, o);
}

static enum MHD_Result handle_generate(conn_ctx *cc) {
    mx_server *srv = cc->srv;
    mx_srv_error e;
    const char *body = cc->body.data ? cc->body.data : "";
    size_t len = cc->body.len;
    if (len == 0) {
        mx_srv_bad_param(&e, NULL, "the request body is empty; send a JSON object");
        return send_error(cc, &e);
    }
    if (!mx_utf8_valid(body, len)) {
        mx_srv_bad_param(&e, NULL, "the request body is not valid UTF-8");
        return send_error(cc, &e);
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        mx_srv_bad_param(&e, NULL, "we could not parse the JSON body of your request (invalid JSON)");
        return send_error(cc, &e);
    }
    cc->kind = cc->route == R_CHAT ? MX_REQ_CHAT : MX_REQ_COMPLETION;
    mx_srv_request req;
    if (!mx_srv_request_parse(root, cc->kind, srv->p.max_tokens_cap, &req, &e)) {
        mx_srv_request_free(&req);
        cJSON_Delete(root);
        return send_error(cc, &e);
    }

    for (int32_t i = 0; i < req.sp.n_logit_bias; i++)
        if (req.sp.bias_ids[i] >= srv->be.n_vocab) {
            mx_srv_bad_param(&e, "logit_bias", "token id %d is outside the vocabulary (%d tokens)",
                             req.sp.bias_ids[i], srv->be.n_vocab);
            mx_srv_request_free(&req);
            cJSON_Delete(root);
            return send_error(cc, &e);
        }

    /* Prompt tokens: the chat template, or the completion prompt. */
    int32_t *ids = NULL;
    size_t n_ids = 0;
    mixlm_status st = MIXLM_OK;
    if (cc->kind == MX_REQ_CHAT) {
        char *text = NULL;
        st = srv->be.render_chat(srv->be.ctx, root, &text);
        if (st == MIXLM_OK) st = srv->be.tokenize(srv->be.ctx, text, strlen(text), 0, &ids, &n_ids);
        free(text);
    } else if (req.prompt_text) {
        st = srv->be.tokenize(srv->be.ctx, req.prompt_text, req.prompt_len, 1, &ids, &n_ids);
    } else {
        for (size_t i = 0; i < req.n_prompt_ids; i++)
            if (req.prompt_ids[i] >= srv->be.n_vocab) {
                mx_srv_bad_param(&e, "prompt", "token id %d is outside the vocabulary (%d tokens)",
                                 req.prompt_ids[i], srv->be.n_vocab);
                goto fail;
            }
        ids = req.prompt_ids;
        n_ids = req.n_prompt_ids;
        req.prompt_ids = NULL;
    }
    cJSON_Delete(root);
    root = NULL;
    if (st != MIXLM_OK) {
        if (st == MIXLM_ERR_TEMPLATE || st == MIXLM_ERR_INVALID_ARG || st == MIXLM_ERR_FORMAT ||
            st == MIXLM_ERR_UNSUPPORTED)
            mx_srv_bad_param(&e, cc->kind == MX_REQ_CHAT ? "messages" : "prompt", "%s", mixlm_last_error());
        else
            mx_srv_error_set(&e, 500, "server_error", NULL, NULL, "%s", mixlm_last_error());
        goto fail;
    }
    if (n_ids == 0) {
        mx_srv_bad_param(&e, cc->kind == MX_REQ_CHAT ? "messages" : "prompt", "the prompt is empty");
        goto fail;
    }
    if (n_ids >= (size_t)srv->be.n_ctx) {
        mx_srv_error_set(&e, 400, "invalid_request_error", "context_length_exceeded",
                         cc->kind == MX_REQ_CHAT ? "messages" : "prompt",
                         "this model's context is %d tokens, and the prompt has %zu tokens; shorten it",
                         srv->be.n_ctx, n_ids);
        goto fail;
    }
    /* max_tokens: the request's, within the server's cap and the room left in the context. */
    int32_t room = srv->be.n_ctx - (int32_t)n_ids;
    int32_t max_tokens = req.max_tokens > 0 ? req.max_tokens : srv->p.max_tokens_cap;
    max_tokens = MX_MIN(max_tokens, room);
    if (!req.has_seed) {
        uint64_t x = atomic_fetch_add(&srv->next_id, 1) * 0x9e3779b97f4a7c15ULL ^ srv->id_salt;
        req.sp.seed = x ^ (x >> 29);
    }
    cc->include_usage = req.include_usage;
    int stream = req.stream;
    cc->job = mx_job_new(ids, n_ids, &req, max_tokens);
    free(ids);
    ids = NULL;
    mx_srv_request_free(&req);
    if (!cc->job) {
        mx_srv_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        return send_error(cc, &e);
    }
    atomic_fetch_add(&srv->live_jobs, 1);
    uint64_t idn = atomic_fetch_add(&srv->next_id, 1);
    snprintf(cc->id, sizeof cc->id, "%s-%016llx%08llx", cc->kind == MX_REQ_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)srv->id_salt, (unsigned long long)idn);
    cc->created = (long long)time(NULL);

    int rc = mx_sched_submit(&srv->sched, cc->job);
    if (rc == 1) {
        mx_srv_error_set(&e, 503, "server_error", "queue_full", NULL,
                         "the server is busy (all %d slots and the queue of %d are taken); retry later",
                         srv->p.n_slots, srv->p.queue_cap);
        return send_error(cc, &e);
    }
    if (rc == 2) {
        mx_srv_error_set(&e, 503, "server_error", "server_shutting_down", NULL, "the server is shutting down");
        return send_error(cc, &e);
    }
    if (!stream) return finish_blocking(cc);

    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                               stream_read, cc, stream_free);
    if (!r) return MHD_NO;
    atomic_fetch_add(&cc->refs, 1);
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(cc->conn, 200, r);
    MHD_destroy_response(r);
    cc->responded = 1;
    return ret;

fail:
    cJSON_Delete(root);
    free(ids);
    mx_srv_request_free(&req);
    return send_error(cc, &e);
}

/* ---- GET routes ---------------------------------------------------------------------------------- */

static cJSON *model_json(mx_server *srv) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", srv->be.model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)srv->created);
    cJSON_AddStringToObject(m, "owned_by", "mixlm");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddNumberToObject(meta, "n_ctx", srv->be.n_ctx);
    cJSON_AddNumberToObject(meta, "n_vocab", srv->be.n_vocab);
    return m;
}

static enum MHD_Result handle_health(conn_ctx *cc) {
    mx_server *srv = cc->srv;
    mx_sched *s = &srv->sched;
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&s->mu);
    int busy = 0;
    cJSON *slots = cJSON_CreateArray();
    for (int32_t i = 0; i < s->n_slots; i++) {
        cJSON *sl = cJSON_CreateObject();
        cJSON_AddNumberToObject(sl, "id", i);
        cJSON_AddStringToObject(sl, "state", s->slots[i].job ? "busy" : "idle");
        cJSON_AddNumberToObject(sl, "n_cached", s->slots[i].n_cache);
        cJSON_AddItemToArray(slots, sl);
        busy += s->slots[i].job != NULL;
    }
    cJSON_AddStringToObject(o, "status", s->draining ? "draining" : "ok");
    cJSON_AddStringToObject(o, "model", srv->be.model_id);
    cJSON_AddNumberToObject(o, "slots_total", s->n_slots);
    cJSON_AddNumberToObject(o, "slots_idle", s->n_slots - busy);
    cJSON_AddNumberToObject(o, "slots_busy", busy);
    cJSON_AddNumberToObject(o, "queued", s->n_queued);
    cJSON_AddNumberToObject(o, "requests_total", (double)s->stats.requests_total);
    cJSON_AddNumberToObject(o, "requests_cancelled", (double)s->stats.requests_cancelled);
    cJSON_AddNumberToObject(o, "steps", (double)s->stats.steps);
    cJSON_AddNumberToObject(o, "max_batch", (double)s->stats.max_batch);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)s->stats.prompt_tokens);
    cJSON_AddNumberToObject(o, "cached_prompt_tokens", (double)s->stats.cached_prompt_tokens);
    cJSON_AddNumberToObject(o, "generated_tokens", (double)s->stats.generated_tokens);
    pthread_mutex_unlock(&s->mu);
    cJSON_AddItemToObject(o, "slots", slots);
    return send_json(cc, 200, o);
}

/* Bodies over the cap are read and dropped up to this many bytes before the 413 (see above). */
#define DRAIN_CAP ((uint64_t)16 << 20)

static enum MHD_Result send_too_large(conn_ctx *cc) {
    mx_srv_error e;
    mx_srv_error_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                     "the request body is larger than %zu bytes", cc->srv->p.max_body);
    return send_error(cc, &e);
}

/* ---- Routing ---------------------------------------------------------------------------------- */

static enum route find_route(const char *method, const char *url, mx_server *srv, const char **allow) {
    int post = !strcmp(method, "POST"), get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    struct { const char *path; enum route r; int is_post; } table[] = {
        {"/v1/chat/completions", R_CHAT, 1}, {"/v1/completions", R_COMPLETIONS, 1},
        {"/v1/models", R_MODELS, 0},         {"/health", R_HEALTH, 0},
    };
    for (size_t i = 0; i < MX_ARRAY_LEN(table); i++) {
        if (strcmp(url, table[i].path) != 0) continue;
        if (table[i].is_post ? post : get) return table[i].r;
        *allow = table[i].is_post ? "POST" : "GET, HEAD";
        return R_BAD_METHOD;
    }
    if (!strncmp(url, "/v1/models/", 11)) {
        *allow = "GET, HEAD";
        if (!get) return R_BAD_METHOD;
        return strcmp(url + 11, srv->be.model_id) == 0 ? R_MODEL_ONE : R_NOT_FOUND;
    }
    return R_NOT_FOUND;
}

static int key_ok(mx_server *srv, struct MHD_Connection *c) {
    if (!srv->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    size_t n = strlen(h), m = strlen(srv->api_key);
    /* constant time in the key's length: no early exit on the first difference */
    unsigned diff = (unsigned)(n != m);
    for (size_t i = 0; i < m; i++) diff |= (unsigned char)srv->api_key[i] ^ (unsigned char)(i < n ? h[i] : 0);
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    mx_server *srv = cls;
    conn_ctx *cc = *con_cls;
    mx_srv_error e;
    if (!cc) {
        cc = calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        atomic_init(&cc->refs, 1);
        cc->srv = srv;
        cc->conn = c;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        cc->fd = ci ? ci->connect_fd : -1;
        *con_cls = cc;
        cc->route = find_route(method, url, srv, &cc->allow);
        if (cc->route == R_NOT_FOUND) {
            mx_srv_error_set(&e, 404, "invalid_request_error", "not_found", NULL,
                             "unknown URL (%.8s %.200s)", method, url);
            return send_error(cc, &e);
        }
        if (cc->route == R_BAD_METHOD) {
            mx_srv_error_set(&e, 405, "invalid_request_error", "method_not_allowed", NULL,
                             "method %.8s is not allowed for %.200s", method, url);
            return send_error(cc, &e);
        }
        if (cc->route != R_HEALTH && !key_ok(srv, c)) {
            mx_srv_error_set(&e, 401, "invalid_request_error", "invalid_api_key", NULL,
                             "incorrect or missing API key: send 'Authorization: Bearer <key>'");
            return send_error(cc, &e);
        }
        if (cc->route == R_CHAT || cc->route == R_COMPLETIONS) {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            if (cl) {
                char *end = NULL;
                errno = 0;
                unsigned long long v = strtoull(cl, &end, 10);
                if (errno || end == cl || v > srv->p.max_body) {
                    /* Answering at once and closing makes the kernel reset the connection
                     * under a client still sending, and it never reads the 413. So a body up
                     * to DRAIN_CAP is read and dropped first; a larger one (or a client that
                     * waits for 100-continue) gets the answer at once. */
                    const char *ex = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
                    if (errno || end == cl || v > DRAIN_CAP || ex) return send_too_large(cc);
                    cc->too_large = 1;
                }
            }
            return MHD_YES; /* the body follows */
        }
        switch (cc->route) {
        case R_HEALTH: return handle_health(cc);
        case R_MODELS: {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "object", "list");
            cJSON *data = cJSON_AddArrayToObject(o, "data");
            cJSON_AddItemToArray(data, model_json(srv));
            return send_json(cc, 200, o);
        }
        default: return send_json(cc, 200, model_json(srv));
        }
    }
    if (cc->responded) {
        *upload_size = 0; /* an early answer was queued: the rest of the body is dropped */
        return MHD_YES;
    }
    if (*upload_size) {
        if (cc->too_large || cc->body.len + *upload_size > srv->p.max_body) {
            cc->too_large = 1;
            cc->dropped += *upload_size;
            *upload_size = 0;
            mx_buf_free(&cc->body);
            if (cc->dropped > DRAIN_CAP) return send_too_large(cc);
            return MHD_YES;
        }
        mx_buf_append(&cc->body, upload_data, *upload_size);
        *upload_size = 0;
        if (cc->body.failed) {
            mx_srv_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
            return send_error(cc, &e);
        }
        return MHD_YES;
    }
    if (cc->too_large) return send_too_large(cc);
    if (srv->sched.draining) {
        mx_srv_error_set(&e, 503, "server_error", "server_shutting_down", NULL, "the server is shutting down");
        return send_error(cc, &e);
    }
    return handle_generate(cc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    conn_ctx *cc = *con_cls;
    if (!cc) return;
    *con_cls = NULL;
    /* The request is over (answered, or the client went away): a job still running has nobody
     * to answer and leaves its slot at once. */
    if (cc->job) {
        pthread_mutex_lock(&cc->srv->sched.mu);
        mx_sched_cancel_locked(&cc->srv->sched, cc->job);
        pthread_mutex_unlock(&cc->srv->sched.mu);
    }
    ctx_unref(cc);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    MX_DEBUG("http: %s", msg);
}

/* ---- Start and stop ----------------------------------------------------------------------------- */

mx_server_params mx_server_default_params(void) {
    mx_server_params p;
    memset(&p, 0, sizeof p);
    p.host = "127.0.0.1";
    p.port = 8080;
    p.n_slots = 4;
    p.queue_cap = 64;
    p.max_body = 1u << 20;
    p.max_header = 32u << 10;
    p.max_tokens_cap = 4096;
    p.prefill_chunk = 512;
    p.step_token_budget = 1024;
    p.timeout_s = 30;
    p.max_connections = 64;
    return p;
}

mixlm_status mx_server_start(const mx_server_params *params, const mx_srv_backend *backend,
                             int own_backend, mx_server **out) {
    *out = NULL;
    mx_server *srv = mx_calloc(1, sizeof *srv);
    if (!srv) {
        if (own_backend && backend->destroy) backend->destroy(backend->ctx);
        return MIXLM_ERR_NOMEM;
    }
    srv->p = *params;
    srv->be = *backend;
    srv->own_backend = own_backend;
    srv->created = time(NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    srv->id_salt = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    atomic_init(&srv->next_id, 1);
    atomic_init(&srv->live_jobs, 0);
    mixlm_status st = MIXLM_OK;
    if (params->api_key && params->api_key[0]) {
        srv->api_key = mx_strdup(params->api_key);
        if (!srv->api_key) {
            st = MIXLM_ERR_NOMEM;
            goto fail;
        }
    }
    if (srv->p.max_tokens_cap < 1 || srv->p.max_body < 16 || srv->p.max_connections < 1 ||
        srv->p.queue_cap < 0) {
        st = mx_err(MIXLM_ERR_INVALID_ARG, "server: bad limits");
        goto fail;
    }
    st = mx_sched_init(&srv->sched, backend, params);
    if (st != MIXLM_OK) goto fail;
    srv->sched_ok = 1;

    /* Bind exactly the address asked for (loopback by default). */
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)params->port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    const char *host = params->host && params->host[0] ? params->host : "127.0.0.1";
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        st = mx_err(MIXLM_ERR_INVALID_ARG, "server: cannot resolve host '%s': %s", host, gai_strerror(gai));
        goto fail;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_POLL;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, params->port, NULL, NULL, on_request, srv,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MX_MAX(params->max_header, (size_t)8192),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)params->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)params->timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 128u,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        st = mx_err(MIXLM_ERR_IO, "server: cannot listen on %s port %u (in use, or not an address of this machine)",
                    host, (unsigned)params->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : params->port;
    *out = srv;
    return MIXLM_OK;
fail:
    mx_server_free(srv);
    return st;
}

uint16_t mx_server_port(const mx_server *srv) { return srv->port; }

void mx_server_shutdown(mx_server *srv, uint32_t grace_ms) {
    if (!srv || srv->shut_down) return;
    srv->shut_down = 1;
    if (srv->sched_ok) mx_sched_drain(&srv->sched, grace_ms);
    /* Every job is finished or cancelled now; let their connections write the last bytes
     * (final chunk, [DONE] or the error) before the sockets close. Bounded: 5 s. */
    for (int i = 0; i < 500 && atomic_load(&srv->live_jobs) > 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (srv->daemon) MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}

void mx_server_free(mx_server *srv) {
    if (!srv) return;
    mx_server_shutdown(srv, 0);
    if (srv->sched_ok) mx_sched_free(&srv->sched);
    if (srv->own_backend && srv->be.destroy) srv->be.destroy(srv->be.ctx);
    free(srv->api_key);
    free(srv);
}

void mx_server_get_stats(mx_server *srv, mx_server_stats *out) {
    pthread_mutex_lock(&srv->sched.mu);
    *out = srv->sched.stats;
    out->queued = srv->sched.n_queued;
    out->slots_busy = 0;
    for (int32_t i = 0; i < srv->sched.n_slots; i++) out->slots_busy += srv->sched.slots[i].job != NULL;
    pthread_mutex_unlock(&srv->sched.mu);
}
