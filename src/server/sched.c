/* sched.c: the scheduler: N slots, a bounded queue and one worker thread doing continuous
 * batching. Each step is one backend call over every active slot (prefill chunks and decode
 * tokens together); requests join between steps and leave as soon as they finish or their
 * client goes away. A slot keeps the tokens of its state after a request, so a later request
 * sharing that prefix prefills only the new tokens. */
#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime */
#include "server/srv_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Small helpers --------------------------------------------------------------------------- */

int mx_cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t a;
    if (pthread_condattr_init(&a)) return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

void mx_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, uint32_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- Jobs ------------------------------------------------------------------------------------ */

mx_job *mx_job_new(const int32_t *prompt, size_t n_prompt, const mx_srv_request *req,
                   int32_t max_tokens) {
    if (n_prompt == 0 || n_prompt > INT32_MAX || max_tokens < 1) return NULL;
    mx_job *j = mx_calloc(1, sizeof *j);
    if (!j) return NULL;
    if (mx_cond_init_monotonic(&j->cv)) {
        free(j);
        return NULL;
    }
    j->prompt = mx_malloc(n_prompt * sizeof(int32_t));
    j->generated = mx_malloc((size_t)max_tokens * sizeof(int32_t));
    int ok = j->prompt && j->generated;
    if (ok) memcpy(j->prompt, prompt, n_prompt * sizeof(int32_t));
    j->n_prompt = (int32_t)n_prompt;
    j->max_tokens = max_tokens;
    j->sp = req->sp;
    for (int32_t i = 0; ok && i < req->n_stop; i++) {
        j->stop[i] = mx_strdup(req->stop[i]);
        ok = j->stop[i] != NULL;
        j->n_stop = i + 1;
    }
    if (ok && j->sp.n_top_logprobs >= 0) {
        j->toks = mx_calloc((size_t)max_tokens, sizeof(mx_token_rec));
        ok = j->toks != NULL;
    }
    j->refs = 1;
    j->state = MX_JOB_QUEUED;
    if (!ok) {
        j->refs = 0;
        pthread_cond_destroy(&j->cv);
        free(j->prompt);
        free(j->generated);
        free(j->toks);
        for (int32_t i = 0; i < j->n_stop; i++) free(j->stop[i]);
        free(j);
        return NULL;
    }
    return j;
}

static void job_destroy(mx_job *j) {
    pthread_cond_destroy(&j->cv);
    free(j->prompt);
    free(j->generated);
    free(j->toks);
    free(j->pend);
    for (int32_t i = 0; i < j->n_stop; i++) free(j->stop[i]);
    mx_buf_free(&j->text);
    free(j);
}

void mx_job_release_locked(mx_sched *s, mx_job *j) {
    (void)s;
    if (!j) return;
    if (--j->refs == 0) job_destroy(j);
}

/* ---- Text: UTF-8 assembly and stop strings (worker thread) -------------------------------- */

/* Length of a complete, valid UTF-8 sequence at s[0..n): >0 valid, 0 incomplete (could still
 * become valid with more bytes), -1 invalid. */
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3;
    else if (c >= 0xF0 && c <= 0xF4) len = 4;
    else return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0;
        unsigned d = s[i];
        if ((d & 0xC0) != 0x80) return -1;
        if (i == 1) {
            if (c == 0xE0 && d < 0xA0) return -1;  /* overlong */
            if (c == 0xED && d > 0x9F) return -1;  /* surrogate */
            if (c == 0xF0 && d < 0x90) return -1;  /* overlong */
            if (c == 0xF4 && d > 0x8F) return -1;  /* > U+10FFFF */
        }
    }
    return len;
}

static int pend_reserve(mx_job *j, size_t extra) {
    if (j->pend_len + extra <= j->pend_cap) return 1;
    size_t cap = j->pend_cap ? j->pend_cap * 2 : 64;
    while (cap < j->pend_len + extra) cap *= 2;
    char *p = realloc(j->pend, cap);
    if (!p) return 0;
    j->pend = p;
    j->pend_cap = cap;
    return 1;
}

/* The pending bytes are kept as: [valid text held back][incomplete UTF-8 tail]. Invalid bytes
 * become U+FFFD when they enter the text part. Returns the length of the text part. */
static size_t pend_normalise(mx_job *j, size_t text_len, int final) {
    size_t i = text_len;
    while (i < j->pend_len) {
        int k = utf8_seq((const unsigned char *)j->pend + i, j->pend_len - i);
        if (k > 0) {
            i += (size_t)k;
        } else if (k == 0 && !final) {
            break; /* wait for the rest of the character */
        } else {
            /* Replace one bad byte by EF BF BD (2 more bytes than it took). */
            if (!pend_reserve(j, 2)) return i;
            memmove(j->pend + i + 3, j->pend + i + 1, j->pend_len - i - 1);
            memcpy(j->pend + i, "\xEF\xBF\xBD", 3);
            j->pend_len += 2;
            i += 3;
        }
    }
    return i;
}

/* Emit text[0..n) to the job and drop it from pend. */
static void pend_emit(mx_job *j, size_t n) {
    if (n == 0) return;
    mx_buf_append(&j->text, j->pend, n);
    memmove(j->pend, j->pend + n, j->pend_len - n);
    j->pend_len -= n;
}

/* After new bytes arrived: emit what is safe, hold back what might start a stop string.
 * Returns 1 when a stop string matched (the text before it is emitted, the rest dropped). */
static int text_advance(mx_job *j, int final) {
    size_t tl = pend_normalise(j, 0, final);
    /* Earliest complete stop match within the held text. Held text never contains the start
     * of a match that began in already-emitted text, because that start would have been held. */
    size_t best = SIZE_MAX;
    for (int32_t s = 0; s < j->n_stop; s++) {
        size_t sl = strlen(j->stop[s]);
        if (sl > tl) continue;
        for (size_t p = 0; p + sl <= tl && p < best; p++)
            if (memcmp(j->pend + p, j->stop[s], sl) == 0) {
                best = p;
                break;
            }
    }
    if (best != SIZE_MAX) {
        pend_emit(j, best);
        j->pend_len = 0;
        return 1;
    }
    if (final) {
        pend_emit(j, tl);
        return 0;
    }
    /* Hold back the longest suffix of the text that is a proper prefix of a stop string. */
    size_t hold = 0;
    for (int32_t s = 0; s < j->n_stop; s++) {
        size_t sl = strlen(j->stop[s]);
        for (size_t k = MX_MIN(sl - 1, tl); k > hold; k--)
            if (memcmp(j->pend + tl - k, j->stop[s], k) == 0) {
                hold = k;
                break;
            }
    }
    /* Never cut a character in two when holding back. */
    size_t emit = tl - hold;
    while (emit > 0 && emit < tl && ((unsigned char)j->pend[emit] & 0xC0) == 0x80) emit--;
    pend_emit(j, emit);
    return 0;
}

/* ---- Slots ------------------------------------------------------------------------------------ */

static void job_finish(mx_sched *s, mx_slot *slot, mx_job *j, const char *finish,
                       mixlm_status err, const char *msg) {
    if (err == MIXLM_OK) {
        if (j->detok) {
            const char *t = NULL;
            size_t n = 0;
            if (s->be.detok_flush(s->be.ctx, j->detok, &t, &n) == MIXLM_OK && n > 0 &&
                pend_reserve(j, n)) {
                memcpy(j->pend + j->pend_len, t, n);
                j->pend_len += n;
            }
        }
        text_advance(j, 1);
    }
    if (j->detok) {
        s->be.detok_free(s->be.ctx, j->detok);
        j->detok = NULL;
    }
    j->finish = err == MIXLM_OK ? finish : NULL;
    j->err = err;
    if (msg) snprintf(j->errmsg, sizeof j->errmsg, "%s", msg);
    j->state = MX_JOB_DONE;
    if (j->smp) {
        s->be.sampler_free(s->be.ctx, j->smp);
        j->smp = NULL;
    }
    if (err == MIXLM_ERR_CANCELLED) s->stats.requests_cancelled++;
    s->stats.generated_tokens += (uint64_t)j->n_generated;
    pthread_cond_broadcast(&j->cv);
    if (slot) {
        slot->job = NULL;
        slot->last_used = ++s->use_clock;
    }
    mx_job_release_locked(s, j);
    pthread_cond_broadcast(&s->idle_cv);
}

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t n = MX_MIN(na, nb), i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Put queued jobs into idle slots, preferring the slot whose cached tokens share the longest
 * prefix with the prompt, then the least recently used one. */
static void admit_jobs(mx_sched *s) {
    while (s->queue_head) {
        mx_job *j = s->queue_head;
        mx_slot *best = NULL;
        int32_t best_lcp = -1;
        for (int32_t i = 0; i < s->n_slots; i++) {
            mx_slot *sl = &s->slots[i];
            if (sl->job) continue;
            int32_t lcp = common_prefix(sl->cache, sl->n_cache, j->prompt, j->n_prompt);
            if (lcp > best_lcp || (lcp == best_lcp && sl->last_used < best->last_used)) {
                best = sl;
                best_lcp = lcp;
            }
        }
        if (!best) return;
        s->queue_head = j->next;
        if (!s->queue_head) s->queue_tail = NULL;
        j->next = NULL;
        s->n_queued--;

        /* At least the last prompt token is fed again: its logits start the answer. */
        int32_t keep = MX_MIN(best_lcp, j->n_prompt - 1);
        if (keep != best->n_cache && s->be.seq_truncate(s->be.ctx, best->seq, keep) != MIXLM_OK) {
            keep = 0;
            if (s->be.seq_truncate(s->be.ctx, best->seq, 0) != MIXLM_OK) {
                best->n_cache = 0;
                job_finish(s, NULL, j, NULL, MIXLM_ERR_INTERNAL, "cannot reset a sequence state");
                continue;
            }
        }
        best->n_cache = keep;
        mixlm_status st = s->be.sampler_new(s->be.ctx, &j->sp, &j->smp);
        if (st == MIXLM_OK && s->be.detok_new) st = s->be.detok_new(s->be.ctx, &j->detok);
        if (st != MIXLM_OK) {
            job_finish(s, NULL, j, NULL, st, mixlm_last_error());
            continue;
        }
        best->job = j;
        best->n_fed = keep;
        j->n_cached = keep;
        j->state = MX_JOB_RUNNING;
        s->stats.cached_prompt_tokens += (uint64_t)keep;
        s->stats.prompt_tokens += (uint64_t)j->n_prompt;
    }
}

/* The sampled token for a slot whose logits are fresh. */
static void slot_sample(mx_sched *s, mx_slot *sl) {
    mx_job *j = sl->job;
    mx_srv_pick pick;
    memset(&pick, 0, sizeof pick);
    mixlm_status st = s->be.sample(s->be.ctx, j->smp, sl->logits, j->generated,
                                   (size_t)j->n_generated, &pick);
    if (st != MIXLM_OK || pick.token < 0 || pick.token >= s->be.n_vocab) {
        job_finish(s, sl, j, NULL, st != MIXLM_OK ? st : MIXLM_ERR_INTERNAL,
                   st != MIXLM_OK ? mixlm_last_error() : "sampler returned an invalid token");
        return;
    }
    j->generated[j->n_generated++] = pick.token;
    if (s->be.is_eog(s->be.ctx, pick.token)) {
        job_finish(s, sl, j, "stop", MIXLM_OK, NULL);
        return;
    }
    /* The end-of-generation token is counted in usage but, as in OpenAI's answers, not listed
     * among the logprobs. */
    if (j->toks) j->toks[j->n_toks++].pick = pick;
    char piece[256];
    const char *text = piece;
    size_t n = 0;
    if (j->detok) {
        mixlm_status ds = s->be.detok_push(s->be.ctx, j->detok, pick.token, &text, &n);
        if (ds != MIXLM_OK) {
            job_finish(s, sl, j, NULL, ds, mixlm_last_error());
            return;
        }
    } else {
        int k = s->be.token_bytes(s->be.ctx, pick.token, piece, sizeof piece);
        n = k > 0 ? (size_t)k : 0;
    }
    if (n > 0 && pend_reserve(j, n)) {
        memcpy(j->pend + j->pend_len, text, n);
        j->pend_len += n;
    }
    int stopped = text_advance(j, 0);
    pthread_cond_broadcast(&j->cv);
    if (stopped) {
        job_finish(s, sl, j, "stop", MIXLM_OK, NULL);
    } else if (j->n_generated >= j->max_tokens || sl->n_cache >= s->be.n_ctx) {
        job_finish(s, sl, j, "length", MIXLM_OK, NULL);
    } else {
        sl->last_token = pick.token;
    }
}

/* ---- The worker ------------------------------------------------------------------------------ */

static void *worker_main(void *arg) {
    mx_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        /* Jobs whose clients went away leave at once. */
        for (int32_t i = 0; i < s->n_slots; i++) {
            mx_slot *sl = &s->slots[i];
            if (sl->job && sl->job->cancelled)
                job_finish(s, sl, sl->job, NULL, MIXLM_ERR_CANCELLED, "cancelled");
        }
        for (mx_job **pp = &s->queue_head; *pp;) {
            mx_job *j = *pp;
            if (j->cancelled) {
                *pp = j->next;
                s->n_queued--;
                j->next = NULL;
                job_finish(s, NULL, j, NULL, MIXLM_ERR_CANCELLED, "cancelled");
            } else {
                pp = &j->next;
            }
        }
        s->queue_tail = NULL;
        for (mx_job *j = s->queue_head; j; j = j->next) s->queue_tail = j;
        admit_jobs(s);

        /* One batch: a decode token for every generating slot first, then prefill chunks
         * within the step's token budget. */
        int32_t n_items = 0, budget = s->step_budget;
        for (int32_t pass = 0; pass < 2; pass++) {
            for (int32_t i = 0; i < s->n_slots; i++) {
                mx_slot *sl = &s->slots[i];
                mx_job *j = sl->job;
                if (!j) continue;
                int prefill = sl->n_fed < j->n_prompt;
                if (pass == 0 && !prefill) {
                    s->items[n_items] = (mx_srv_batch_item){sl->seq, &sl->last_token, 1, sl->logits};
                    s->item_slot[n_items++] = i;
                    budget--;
                } else if (pass == 1 && prefill && budget > 0) {
                    int32_t n = MX_MIN(j->n_prompt - sl->n_fed, MX_MIN(s->prefill_chunk, budget));
                    s->items[n_items] = (mx_srv_batch_item){sl->seq, j->prompt + sl->n_fed, n, sl->logits};
                    s->item_slot[n_items++] = i;
                    budget -= n;
                }
            }
        }
        if (n_items == 0) {
            if (s->quit) break;
            pthread_cond_wait(&s->work_cv, &s->mu);
            continue;
        }

        /* The step runs unlocked so that HTTP threads can queue and read meanwhile; the slots
         * in the batch are only touched by this thread. Jobs cancelled during the step are
         * dropped right after it. */
        pthread_mutex_unlock(&s->mu);
        mixlm_status st = s->be.step(s->be.ctx, s->items, n_items);
        char msg[256] = "";
        if (st != MIXLM_OK) snprintf(msg, sizeof msg, "%s", mixlm_last_error());
        pthread_mutex_lock(&s->mu);
        s->stats.steps++;
        if ((uint64_t)n_items > s->stats.max_batch) s->stats.max_batch = (uint64_t)n_items;

        for (int32_t k = 0; k < n_items; k++) {
            mx_slot *sl = &s->slots[s->item_slot[k]];
            mx_job *j = sl->job;
            const mx_srv_batch_item *it = &s->items[k];
            if (st != MIXLM_OK) {
                /* The state of every sequence in a failed step is unknown: start it over. */
                s->be.seq_truncate(s->be.ctx, sl->seq, 0);
                sl->n_cache = 0;
                job_finish(s, sl, j, NULL, st, msg[0] ? msg : "step failed");
                continue;
            }
            memcpy(sl->cache + sl->n_cache, it->tokens, (size_t)it->n_tokens * sizeof(int32_t));
            sl->n_cache += it->n_tokens;
            int was_prefill = sl->n_fed < j->n_prompt;
            if (was_prefill) sl->n_fed += it->n_tokens;
            if (j->cancelled) continue; /* finished at the top of the loop */
            if (!was_prefill || sl->n_fed == j->n_prompt) slot_sample(s, sl);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- Public side ------------------------------------------------------------------------------ */

mixlm_status mx_sched_init(mx_sched *s, const mx_srv_backend *be, const mx_server_params *p) {
    memset(s, 0, sizeof *s);
    s->be = *be;
    s->n_slots = p->n_slots;
    s->queue_cap = p->queue_cap;
    s->prefill_chunk = MX_MAX(1, p->prefill_chunk);
    s->step_budget = MX_MAX(p->step_token_budget, p->n_slots + 1);
    if (s->n_slots < 1 || s->n_slots > 256 || be->n_ctx < 2 || be->n_vocab < 1)
        return mx_err(MIXLM_ERR_INVALID_ARG, "server: bad slot count %d or context %d", s->n_slots,
                      be->n_ctx);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    mx_cond_init_monotonic(&s->idle_cv);
    s->slots = mx_calloc((size_t)s->n_slots, sizeof(mx_slot));
    s->items = mx_calloc((size_t)s->n_slots, sizeof(mx_srv_batch_item));
    s->item_slot = mx_calloc((size_t)s->n_slots, sizeof(int32_t));
    if (!s->slots || !s->items || !s->item_slot) goto fail;
    for (int32_t i = 0; i < s->n_slots; i++) {
        mx_slot *sl = &s->slots[i];
        sl->id = i;
        sl->cache = mx_malloc((size_t)be->n_ctx * sizeof(int32_t));
        sl->logits = mx_malloc((size_t)be->n_vocab * sizeof(float));
        if (!sl->cache || !sl->logits) goto fail;
        if (be->seq_new(be->ctx, &sl->seq) != MIXLM_OK) goto fail;
    }
    s->stats.n_slots = s->n_slots;
    if (pthread_create(&s->worker, NULL, worker_main, s) != 0) {
        mx_err(MIXLM_ERR_INTERNAL, "server: cannot start the worker thread");
        goto fail;
    }
    s->worker_started = 1;
    return MIXLM_OK;
fail:
    mx_sched_free(s);
    return MIXLM_ERR_NOMEM;
}

int mx_sched_submit(mx_sched *s, mx_job *job) {
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->draining) rc = 2;
    else if (s->n_queued >= s->queue_cap) rc = 1;
    if (rc == 0) {
        job->refs++;
        job->state = MX_JOB_QUEUED;
        if (s->queue_tail) s->queue_tail->next = job;
        else s->queue_head = job;
        s->queue_tail = job;
        s->n_queued++;
        s->stats.requests_total++;
        pthread_cond_signal(&s->work_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void mx_sched_cancel_locked(mx_sched *s, mx_job *job) {
    if (job->state == MX_JOB_DONE || job->cancelled) return;
    job->cancelled = 1;
    pthread_cond_signal(&s->work_cv);
}

static int busy_locked(mx_sched *s) {
    int n = s->n_queued;
    for (int32_t i = 0; i < s->n_slots; i++) n += s->slots[i].job != NULL;
    return n;
}

void mx_sched_drain(mx_sched *s, uint32_t grace_ms) {
    if (!s->slots) return;
    pthread_mutex_lock(&s->mu);
    s->draining = 1;
    uint64_t end = now_ms() + grace_ms;
    while (busy_locked(s) && now_ms() < end) mx_cond_wait_ms(&s->idle_cv, &s->mu, 50);
    for (mx_job *j = s->queue_head; j; j = j->next) mx_sched_cancel_locked(s, j);
    for (int32_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].job) mx_sched_cancel_locked(s, s->slots[i].job);
    /* Cancelled jobs leave after the step in progress: bounded by one step. */
    end = now_ms() + 60000;
    while (busy_locked(s) && now_ms() < end) mx_cond_wait_ms(&s->idle_cv, &s->mu, 50);
    pthread_mutex_unlock(&s->mu);
}

void mx_sched_free(mx_sched *s) {
    if (s->worker_started) {
        pthread_mutex_lock(&s->mu);
        s->draining = 1;
        s->quit = 1;
        for (mx_job *j = s->queue_head; j; j = j->next) j->cancelled = 1;
        for (int32_t i = 0; i < s->n_slots; i++)
            if (s->slots[i].job) s->slots[i].job->cancelled = 1;
        pthread_cond_signal(&s->work_cv);
        pthread_mutex_unlock(&s->mu);
        /* The worker finishes the cancelled jobs at the top of its loop, then finds no work
         * and quits. */
        pthread_join(s->worker, NULL);
        s->worker_started = 0;
    }
    if (s->slots) {
        for (int32_t i = 0; i < s->n_slots; i++) {
            if (s->slots[i].seq) s->be.seq_free(s->be.ctx, s->slots[i].seq);
            free(s->slots[i].cache);
            free(s->slots[i].logits);
        }
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work_cv);
        pthread_cond_destroy(&s->idle_cv);
    }
    free(s->slots);
    free(s->items);
    free(s->item_slot);
    s->slots = NULL;
    s->items = NULL;
    s->item_slot = NULL;
}
