/* test_server_model.c: the server on a real model (the tiny random-weight Gemma 3 oracle model
 * with a byte-level tokenizer from tests/data/server) through the native engine: greedy answers
 * equal the argmax computed directly through mixlm_decode on a fresh state, alone, batched
 * with other requests, after prompt-prefix reuse and after a reuse that must fall back because
 * the sliding-window ring cannot rewind; chat through the model's template; streams. */
#define _GNU_SOURCE
#include "check.h"
#include "server/server.h"
#include "test_server_client.h"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

/* The tokenizer in tests/data/server: 6 special tokens, then byte b has id 6 + b. */
#define BYTE_ID(b) (6 + (int32_t)(unsigned char)(b))
#define N_GEN 12

static char model_dir[4096];

static int make_model_dir(void) {
    snprintf(model_dir, sizeof model_dir, "%s", test_tmp("server-model"));
    mkdir(model_dir, 0755);
    const char *from_oracle[] = {"config.json", "generation_config.json", "model.safetensors"};
    const char *from_server[] = {"tokenizer.json", "tokenizer_config.json"};
    char src[8300], dst[8300];
    for (int i = 0; i < 5; i++) {
        const char *name = i < 3 ? from_oracle[i] : from_server[i - 3];
        snprintf(src, sizeof src, "%s", test_data(i < 3 ? "oracle/hf-tiny-gemma3-swa8" : "server"));
        size_t n = strlen(src);
        snprintf(src + n, sizeof src - n, "/%s", name);
        snprintf(dst, sizeof dst, "%s/%s", model_dir, name);
        unlink(dst);
        if (symlink(src, dst) != 0) return 0;
    }
    return 1;
}

/* Greedy over the 26 lowercase letters (what a +100 logit bias on them does), computed on a
 * fresh state by feeding the prompt whole and then one token at a time. */
static char *reference_answer(mixlm_executor *ex, const int32_t *prompt, int32_t n) {
    mixlm_state *st = NULL;
    if (mixlm_state_create(mixlm_executor_contract(ex), &st) != MIXLM_OK) return NULL;
    int32_t n_vocab = mixlm_contract_output(mixlm_executor_contract(ex))->n_vocab;
    float *logits = malloc((size_t)n_vocab * sizeof(float));
    char *out = calloc(N_GEN + 1, 1);
    mixlm_seq sq = {0};
    sq.state = st;
    sq.tokens = prompt;
    sq.n_tokens = n;
    sq.logits = logits;
    int32_t tok = 0;
    for (int k = 0; k < N_GEN; k++) {
        if (mixlm_decode(ex, &sq, 1) != MIXLM_OK) {
            free(out);
            out = NULL;
            break;
        }
        int best = 'a';
        for (int c = 'a'; c <= 'z'; c++)
            if (logits[BYTE_ID(c)] > logits[BYTE_ID(best)]) best = c;
        out[k] = (char)best;
        tok = BYTE_ID(best);
        sq.tokens = &tok;
        sq.n_tokens = 1;
    }
    free(logits);
    mixlm_state_free(st);
    return out;
}

/* Into buf (the clients' threads each pass their own). */
static char *letters_bias(char buf[1024]) {
    int n = snprintf(buf, 1024, "\"logit_bias\":{");
    for (int c = 'a'; c <= 'z'; c++)
        n += snprintf(buf + n, 1024 - (size_t)n, "%s\"%d\":100", c > 'a' ? "," : "", BYTE_ID(c));
    snprintf(buf + n, 1024 - (size_t)n, "}");
    return buf;
}

static char *completion_body(const int32_t *ids, int32_t n, int stream) {
    char bias[1024];
    char *b = malloc(8192);
    int k = snprintf(b, 8192, "{\"prompt\":[");
    for (int32_t i = 0; i < n; i++) k += snprintf(b + k, 8192 - (size_t)k, "%s%d", i ? "," : "", ids[i]);
    snprintf(b + k, 8192 - (size_t)k, "],\"max_tokens\":%d,\"temperature\":0,\"stream\":%s,%s}", N_GEN,
             stream ? "true" : "false", letters_bias(bias));
    return b;
}

/* A prompt: BOS then the bytes of text. */
static int32_t make_prompt(const char *text, int32_t *ids) {
    int32_t n = 0;
    ids[n++] = 2;
    for (const char *p = text; *p; p++) ids[n++] = BYTE_ID(*p);
    return n;
}

typedef struct conc_arg {
    uint16_t port;
    int32_t ids[128];
    int32_t n;
    char *answer;
} conc_arg;

static pthread_barrier_t conc_start;

static void *conc_main(void *p) {
    conc_arg *a = p;
    pthread_barrier_wait(&conc_start);
    char *b = completion_body(a->ids, a->n, 1);
    stream_result s;
    if (stream_request(a->port, "/v1/completions", b, &s) == 0 && s.ok) a->answer = s.content;
    else free(s.content);
    free(b);
    return NULL;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    CHECK(make_model_dir());
    /* f16 KV, as `mixlm serve` uses by default; the reference engine below uses the same. */
    mx_model_backend_params mp = {model_dir, NULL, NULL, 256, 1, MIXLM_DTYPE_F16};
    mx_srv_backend be;
    mixlm_status st = mx_model_backend_create(&mp, &be);
    CHECK_MSG(st == MIXLM_OK, "model backend: %s", mixlm_last_error());
    if (st != MIXLM_OK) return check_summary("test_server_model");

    /* An independent engine for the reference answers. */
    mixlm_model *model = NULL;
    mixlm_executor *ex = NULL;
    CHECK(mixlm_model_load(model_dir, &model) == MIXLM_OK);
    mixlm_native_params np = mixlm_native_default_params();
    np.n_threads = 1;
    np.contract.n_ctx = 256;
    np.contract.kv_dtype = MIXLM_DTYPE_F16;
    CHECK(model && mixlm_native_executor_create(model, np, &ex) == MIXLM_OK);

    mx_server_params p = mx_server_default_params();
    p.host = "127.0.0.1";
    p.port = 0;
    p.n_slots = 4;
    p.prefill_chunk = 5; /* prompts span several steps */
    mx_server *srv = NULL;
    CHECK(mx_server_start(&p, &be, 1, &srv) == MIXLM_OK);
    if (!srv || !ex) return check_summary("test_server_model");
    uint16_t port = mx_server_port(srv);

    /* Alone. */
    int32_t ids[256];
    int32_t n = make_prompt("the cat sat on the mat", ids);
    char *ref = reference_answer(ex, ids, n);
    CHECK(ref != NULL);
    char *body = completion_body(ids, n, 0);
    int status;
    cJSON *r = post_json(port, "/v1/completions", body, &status);
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_STR(jstr(r, "choices.0.text"), ref);
    CHECK_EQ_STR(jstr(r, "choices.0.finish_reason"), "length");
    CHECK_EQ_INT(jnum(r, "usage.prompt_tokens"), n);
    CHECK_EQ_INT(jnum(r, "usage.completion_tokens"), N_GEN);
    cJSON_Delete(r);
    free(body);

    /* Streamed, the same text. */
    body = completion_body(ids, n, 1);
    stream_result s;
    CHECK(stream_request(port, "/v1/completions", body, &s) == 0 && s.ok);
    CHECK_EQ_STR(s.content, ref);
    free(s.content);
    free(body);

    /* Prefix reuse: the prompt extended by the answer and more text. The slot holds the prompt
     * and the answer, so only the new tokens are prefilled. */
    int32_t ext[256];
    memcpy(ext, ids, (size_t)n * sizeof(int32_t));
    int32_t m = n;
    for (int k = 0; k < N_GEN - 1; k++) ext[m++] = BYTE_ID(ref[k]);
    for (const char *q = " and then"; *q; q++) ext[m++] = BYTE_ID(*q);
    char *ref2 = reference_answer(ex, ext, m);
    body = completion_body(ext, m, 0);
    r = post_json(port, "/v1/completions", body, &status);
    CHECK_EQ_STR(jstr(r, "choices.0.text"), ref2);
    CHECK_MSG(jnum(r, "usage.prompt_tokens_details.cached_tokens") >= n + N_GEN - 1,
              "cached %g", jnum(r, "usage.prompt_tokens_details.cached_tokens"));
    cJSON_Delete(r);
    free(body);

    /* A prompt sharing only the first tokens with every slot: rewinding a ring of 8 that far
     * back is impossible, so the slot starts over, and the answer is still exact. Slots are
     * all busy-free; make every slot hold a long history first. */
    int32_t alt[256];
    int32_t na = make_prompt("the dog ran far away from home", alt);
    char *ref3 = reference_answer(ex, alt, na);
    for (int k = 0; k < 4; k++) {
        body = completion_body(ext, m, 0);
        cJSON_Delete(post_json(port, "/v1/completions", body, &status));
        free(body);
    }
    body = completion_body(alt, na, 0);
    r = post_json(port, "/v1/completions", body, &status);
    CHECK_EQ_STR(jstr(r, "choices.0.text"), ref3);
    /* It shares "<bos>the " with the slots' histories, but no slot could go back there. */
    CHECK_EQ_INT(jnum(r, "usage.prompt_tokens_details.cached_tokens"), 0);
    cJSON_Delete(r);
    free(body);

    /* Concurrent: 8 different prompts on 4 slots, each equal to its reference. The clients
     * start together, but whether two requests overlap in one step is still up to the machine's
     * timing (a loaded machine may serve them one after another), so the round is repeated, up
     * to 4 times, until the server has batched at least two; every round checks the answers. */
    static conc_arg ca[8];
    pthread_t th[8];
    const char *texts[8] = {"alpha", "bravo charlie", "delta echo foxtrot", "golf", "hotel india",
                            "juliett kilo lima mike", "november", "oscar papa quebec"};
    mx_server_stats stats = {0};
    for (int round = 0; round < 4 && stats.max_batch < 2; round++) {
        pthread_barrier_init(&conc_start, NULL, 8);
        for (int i = 0; i < 8; i++) {
            ca[i].port = port;
            ca[i].n = make_prompt(texts[i], ca[i].ids);
            ca[i].answer = NULL;
            pthread_create(&th[i], NULL, conc_main, &ca[i]);
        }
        for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&conc_start);
        for (int i = 0; i < 8; i++) {
            char *want = reference_answer(ex, ca[i].ids, ca[i].n);
            CHECK_MSG(ca[i].answer && want && !strcmp(ca[i].answer, want), "round %d prompt %d: \"%s\" vs \"%s\"",
                      round, i, ca[i].answer ? ca[i].answer : "(none)", want ? want : "(none)");
            free(want);
            free(ca[i].answer);
        }
        mx_server_get_stats(srv, &stats);
    }
    CHECK_MSG(stats.max_batch >= 2, "largest batch %d", (int)stats.max_batch);
    CHECK(wait_health(port, 0, 0, 3000));

    /* Chat through the model's template: "<bos><start_of_turn>user\nhi<end_of_turn>\n
     * <start_of_turn>model\n" is 1 + 1 + 7 + 1 + 1 + 1 + 6 = 18 tokens. */
    r = post_json(port, "/v1/chat/completions",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5,\"seed\":3}", &status);
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_INT(jnum(r, "usage.prompt_tokens"), 18);
    const char *c1 = jstr(r, "choices.0.message.content");
    char *first = c1 ? strdup(c1) : NULL;
    cJSON_Delete(r);
    r = post_json(port, "/v1/chat/completions",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5,\"seed\":3}", &status);
    CHECK_EQ_STR(jstr(r, "choices.0.message.content"), first);
    cJSON_Delete(r);
    free(first);

    /* End of generation: the model's EOS (id 1) and, for a chat, its end-of-turn token (id 5,
     * "<end_of_turn>") stop the answer with finish_reason "stop"; neither is shown. */
    r = post_json(port, "/v1/completions",
                  "{\"prompt\":\"abc\",\"max_tokens\":9,\"logit_bias\":{\"1\":100}}", &status);
    CHECK_EQ_STR(jstr(r, "choices.0.finish_reason"), "stop");
    CHECK_EQ_STR(jstr(r, "choices.0.text"), "");
    CHECK_EQ_INT(jnum(r, "usage.completion_tokens"), 1);
    cJSON_Delete(r);
    r = post_json(port, "/v1/chat/completions",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":9,"
                  "\"logit_bias\":{\"5\":100}}", &status);
    CHECK_EQ_STR(jstr(r, "choices.0.finish_reason"), "stop");
    CHECK_EQ_STR(jstr(r, "choices.0.message.content"), "");
    cJSON_Delete(r);

    free(ref);
    free(ref2);
    free(ref3);
    mx_server_free(srv);
    mixlm_executor_free(ex);
    mixlm_model_free(model);
    return check_summary("test_server_model");
}
