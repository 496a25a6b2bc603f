/* test_server_http.c: the HTTP server end to end over loopback sockets with the deterministic
 * fake backend: routes, OpenAI response and stream shapes, seeds, stop strings, prefix reuse,
 * continuous batching under 8 concurrent clients, limits, hostile input and shutdown. */
#define _GNU_SOURCE
#include "check.h"
#include "server/server.h"
#include "test_server_client.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static mx_server *start(mx_server_params p, uint32_t delay_us, mx_srv_backend *be_out) {
    mx_srv_backend be;
    mx_fake_backend_params fp = {2048, delay_us};
    if (mx_fake_backend_create(fp, &be) != MIXLM_OK) return NULL;
    p.host = "127.0.0.1";
    p.port = 0;
    mx_server *srv = NULL;
    if (mx_server_start(&p, &be, 1, &srv) != MIXLM_OK) {
        fprintf(stderr, "start: %s\n", mixlm_last_error());
        return NULL;
    }
    if (be_out) *be_out = be;
    return srv;
}

static char *chat_body(const char *user, int seed, int max_tokens, int stream, const char *extra) {
    char *b = malloc(4096);
    snprintf(b, 4096,
             "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
             "{\"role\":\"user\",\"content\":\"%s\"}],\"seed\":%d,\"max_tokens\":%d,\"stream\":%s%s%s}",
             user, seed, max_tokens, stream ? "true" : "false", extra ? "," : "", extra ? extra : "");
    return b;
}

/* ---- Tests ------------------------------------------------------------------------------------ */

static void test_routes(uint16_t port) {
    resp r;
    CHECK(http(port, "GET", "/health", NULL, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    cJSON *h = cJSON_Parse(r.body);
    CHECK(h && jnum(h, "slots_total") == 4 && jstr(h, "status") && !strcmp(jstr(h, "status"), "ok"));
    cJSON_Delete(h);
    resp_free(&r);

    CHECK(http(port, "GET", "/v1/models", NULL, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    cJSON *m = cJSON_Parse(r.body);
    CHECK_EQ_STR(jstr(m, "object"), "list");
    CHECK_EQ_STR(jstr(m, "data.0.id"), "mixlm-fake");
    CHECK_EQ_STR(jstr(m, "data.0.object"), "model");
    cJSON_Delete(m);
    resp_free(&r);

    CHECK(http(port, "GET", "/v1/models/mixlm-fake", NULL, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);

    CHECK(http(port, "GET", "/v1/nothing", NULL, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 404);
    cJSON *e = cJSON_Parse(r.body);
    CHECK_EQ_STR(jstr(e, "error.type"), "invalid_request_error");
    CHECK(e && jstr(e, "error.message") && cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "error"), "param")));
    cJSON_Delete(e);
    resp_free(&r);

    CHECK(http(port, "GET", "/v1/chat/completions", NULL, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 405);
    CHECK(r.head && strcasestr(r.head, "Allow: POST"));
    resp_free(&r);
}

static void test_chat_basic(uint16_t port) {
    int st;
    char *b = chat_body("hello there", 7, 24, 0, NULL);
    cJSON *a = post_json(port, "/v1/chat/completions", b, &st);
    CHECK_EQ_INT(st, 200);
    CHECK_EQ_STR(jstr(a, "object"), "chat.completion");
    CHECK(jstr(a, "id") && !strncmp(jstr(a, "id"), "chatcmpl-", 9));
    CHECK_EQ_STR(jstr(a, "choices.0.message.role"), "assistant");
    const char *fin = jstr(a, "choices.0.finish_reason");
    CHECK(fin && (!strcmp(fin, "stop") || !strcmp(fin, "length")));
    /* The fake template is "<|role|>content\n" per message then "<|assistant|>", one token a
     * byte: the prompt token count follows from the text. */
    const char *prompt = "<|system|>be brief\n<|user|>hello there\n<|assistant|>";
    CHECK_EQ_INT(jnum(a, "usage.prompt_tokens"), (double)strlen(prompt));
    double comp = jnum(a, "usage.completion_tokens");
    CHECK(comp >= 1 && comp <= 24);
    CHECK_EQ_INT(jnum(a, "usage.total_tokens"), jnum(a, "usage.prompt_tokens") + comp);
    if (fin && !strcmp(fin, "length")) CHECK_EQ_INT(comp, 24);

    /* Same seed: same answer. Another seed: another answer (24 sampled letters colliding is
     * practically impossible). */
    cJSON *a2 = post_json(port, "/v1/chat/completions", b, &st);
    CHECK_EQ_STR(jstr(a2, "choices.0.message.content"), jstr(a, "choices.0.message.content"));
    char *b3 = chat_body("hello there", 8, 24, 0, NULL);
    cJSON *a3 = post_json(port, "/v1/chat/completions", b3, &st);
    CHECK(jstr(a3, "choices.0.message.content") && jstr(a, "choices.0.message.content") &&
          strcmp(jstr(a3, "choices.0.message.content"), jstr(a, "choices.0.message.content")) != 0);

    /* The stream of the same request carries the same text, role first, finish last, usage. */
    char *bs = chat_body("hello there", 7, 24, 1, "\"stream_options\":{\"include_usage\":true}");
    stream_result s;
    CHECK(stream_request(port, "/v1/chat/completions", bs, &s) == 0);
    CHECK_EQ_INT(s.status, 200);
    CHECK(s.ok);
    CHECK(s.role_first);
    CHECK_EQ_STR(s.content, jstr(a, "choices.0.message.content"));
    CHECK_EQ_STR(s.finish, fin);
    CHECK(s.has_usage);
    CHECK_EQ_INT(s.usage_completion, comp);
    CHECK_EQ_INT(s.usage_prompt, (double)strlen(prompt));
    free(s.content);

    cJSON_Delete(a);
    cJSON_Delete(a2);
    cJSON_Delete(a3);
    free(b);
    free(b3);
    free(bs);
}

static void test_stop_and_logprobs(uint16_t port) {
    int st;
    /* Greedy text first, then the same request stopped at a string found in its middle. */
    const char *body = "{\"prompt\":\"once upon a time\",\"max_tokens\":40,\"temperature\":0}";
    cJSON *a = post_json(port, "/v1/completions", body, &st);
    CHECK_EQ_INT(st, 200);
    CHECK_EQ_STR(jstr(a, "object"), "text_completion");
    const char *text = jstr(a, "choices.0.text");
    CHECK(text && strlen(text) >= 12);
    if (text && strlen(text) >= 12) {
        char stop[4];
        memcpy(stop, text + 8, 3);
        stop[3] = 0;
        const char *at = strstr(text, stop);
        char expect[64];
        snprintf(expect, sizeof expect, "%.*s", (int)(at - text), text);
        char b2[512];
        snprintf(b2, sizeof b2,
                 "{\"prompt\":\"once upon a time\",\"max_tokens\":40,\"temperature\":0,\"stop\":[\"zzzz\",\"%s\"]}", stop);
        cJSON *c = post_json(port, "/v1/completions", b2, &st);
        CHECK_EQ_STR(jstr(c, "choices.0.text"), expect);
        CHECK_EQ_STR(jstr(c, "choices.0.finish_reason"), "stop");
        cJSON_Delete(c);
        /* Streamed: the stop string spans several one-byte tokens and is never sent. */
        snprintf(b2, sizeof b2,
                 "{\"prompt\":\"once upon a time\",\"max_tokens\":40,\"temperature\":0,\"stop\":\"%s\",\"stream\":true}", stop);
        stream_result s;
        CHECK(stream_request(port, "/v1/completions", b2, &s) == 0);
        CHECK(s.ok);
        CHECK_EQ_STR(s.content, expect);
        CHECK_EQ_STR(s.finish, "stop");
        free(s.content);
    }
    cJSON_Delete(a);

    /* Logprobs: one entry per generated token, alternatives sorted, the pick among them when
     * greedy. */
    const char *lb = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":6,"
                     "\"temperature\":0,\"logprobs\":true,\"top_logprobs\":3}";
    cJSON *l = post_json(port, "/v1/chat/completions", lb, &st);
    CHECK_EQ_INT(st, 200);
    const cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(l, "choices"), 0), "logprobs"), "content");
    CHECK(cJSON_IsArray(content));
    int n = cJSON_GetArraySize(content);
    CHECK(n >= 1 && n <= 6);
    const cJSON *e;
    cJSON_ArrayForEach(e, content) {
        const cJSON *top = cJSON_GetObjectItem(e, "top_logprobs");
        CHECK_EQ_INT(cJSON_GetArraySize(top), 3);
        double lp = jnum(e, "logprob"), t0 = jnum(top, "0.logprob"), t1 = jnum(top, "1.logprob");
        CHECK(lp <= 0 && t0 >= t1);
        CHECK_NEAR(lp, t0, 1e-6);
        CHECK_EQ_STR(jstr(e, "token"), jstr(top, "0.token"));
    }
    cJSON_Delete(l);

    /* A model may emit the byte 0: the answer keeps it ("\u0000" in JSON), streamed or not. */
    const char *nb = "{\"prompt\":\"x\",\"max_tokens\":5,\"temperature\":0,\"logit_bias\":{\"0\":100}}";
    resp r0;
    CHECK(http(port, "POST", "/v1/completions", nb, NULL, &r0) == 0);
    CHECK(r0.body && strstr(r0.body, "\"text\":\"\\u0000\\u0000\\u0000\\u0000\\u0000\""));
    resp_free(&r0);
    const char *ns = "{\"prompt\":\"x\",\"max_tokens\":5,\"temperature\":0,\"stream\":true,\"logit_bias\":{\"0\":100}}";
    CHECK(http(port, "POST", "/v1/completions", ns, NULL, &r0) == 0);
    int nul_chunks = 0;
    for (const char *q = r0.body; q && (q = strstr(q, "\\u0000")); q++) nul_chunks++;
    CHECK_EQ_INT(nul_chunks, 5);
    resp_free(&r0);
}

/* A request that extends an earlier conversation reuses the slot's tokens and still gives
 * exactly the answer a fresh server gives. */
static void test_prefix_reuse(uint16_t port, uint16_t fresh_port) {
    int st;
    const char *first = "{\"messages\":[{\"role\":\"user\",\"content\":\"tell me a story about a cat\"}],"
                        "\"max_tokens\":10,\"temperature\":0}";
    cJSON *a = post_json(port, "/v1/chat/completions", first, &st);
    CHECK_EQ_INT(st, 200);
    char second[1024];
    snprintf(second, sizeof second,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"tell me a story about a cat\"},"
             "{\"role\":\"assistant\",\"content\":\"%s\"},{\"role\":\"user\",\"content\":\"and then?\"}],"
             "\"max_tokens\":12,\"temperature\":0}", jstr(a, "choices.0.message.content"));
    cJSON *b = post_json(port, "/v1/chat/completions", second, &st);
    cJSON *c = post_json(fresh_port, "/v1/chat/completions", second, &st);
    double cached = jnum(b, "usage.prompt_tokens_details.cached_tokens");
    CHECK_MSG(cached >= 40, "cached tokens %g", cached);
    CHECK_EQ_INT(jnum(c, "usage.prompt_tokens_details.cached_tokens"), 0);
    CHECK_EQ_STR(jstr(b, "choices.0.message.content"), jstr(c, "choices.0.message.content"));
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
}

static void expect_400(uint16_t port, const char *path, const char *body, const char *param) {
    resp r;
    int rc = http(port, "POST", path, body, NULL, &r);
    CHECK_MSG(rc == 0 && r.status == 400, "%s -> %d", body, r.status);
    cJSON *j = cJSON_Parse(r.body ? r.body : "");
    CHECK_MSG(j && jstr(j, "error.message") && jstr(j, "error.type") &&
                  !strcmp(jstr(j, "error.type"), "invalid_request_error"),
              "%s -> %s", body, r.body ? r.body : "(none)");
    if (param) {
        const char *p = jstr(j, "error.param");
        CHECK_MSG(p && !strcmp(p, param), "%s: param %s, expected %s", body, p ? p : "null", param);
    }
    cJSON_Delete(j);
    resp_free(&r);
}

static void test_bad_requests(uint16_t port) {
    const char *C = "/v1/chat/completions", *P = "/v1/completions";
    expect_400(port, C, "{\"messages\": [", NULL);
    expect_400(port, C, "", NULL);
    expect_400(port, C, "[1,2,3]", NULL);
    expect_400(port, C, "{\"model\":\"m\"}", "messages");
    expect_400(port, C, "{\"messages\":\"hi\"}", "messages");
    expect_400(port, C, "{\"messages\":[]}", "messages");
    expect_400(port, C, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0]");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0]");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", "temperature");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":7}", "temperature");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1e300}", "max_tokens");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1e999}", "max_tokens");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2.5}", "max_tokens");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", "max_tokens");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":100000}", "max_tokens");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":1e30}", "seed");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", "stream");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":7}", "stop");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":3}", "top_logprobs");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":50}", "top_logprobs");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"abc\":1}}", "logit_bias");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"5\":1000}}", "logit_bias");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{\"include_usage\":true}}", "stream_options");
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\"}}", "response_format");
    expect_400(port, P, "{\"prompt\":[1,2,999999]}", "prompt");
    expect_400(port, P, "{\"prompt\":[\"a\",\"b\"]}", "prompt");
    expect_400(port, P, "{\"prompt\":{}}", "prompt");
    expect_400(port, P, "{}", "prompt");
    expect_400(port, P, "{\"prompt\":\"x\",\"echo\":true}", "echo");
    /* nesting deeper than the JSON parser allows */
    char deep[3001];
    memset(deep, '[', 3000);
    deep[3000] = 0;
    expect_400(port, C, deep, NULL);
    /* invalid UTF-8 inside a string */
    expect_400(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28 \xFF\"}]}", NULL);
    /* a prompt longer than the context (2048 tokens): context_length_exceeded */
    char *big = malloc(6000);
    int n = snprintf(big, 6000, "{\"prompt\":\"");
    memset(big + n, 'a', 4000);
    snprintf(big + n + 4000, 100, "\"}");
    resp r;
    CHECK(http(port, "POST", P, big, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 400);
    CHECK(r.body && strstr(r.body, "context_length_exceeded"));
    resp_free(&r);
    free(big);

    /* Unicode (valid) in, valid UTF-8 out. */
    int st;
    cJSON *u = post_json(port, C, "{\"messages\":[{\"role\":\"user\",\"content\":\"h\xC3\xA9llo \xF0\x9F\x98\x80\"}],\"max_tokens\":4}", &st);
    CHECK_EQ_INT(st, 200);
    cJSON_Delete(u);
}

static void test_big_bodies(uint16_t port) {
    /* 10 MB announced with Content-Length: 413 before the body is read. */
    size_t big = 10u << 20;
    int fd = connect_port(port, 10);
    CHECK(fd >= 0);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n", big);
    send_all(fd, head, (size_t)hn);
    char *junk = malloc(1 << 20);
    memset(junk, ' ', 1 << 20);
    for (int i = 0; i < 10; i++)
        if (send_all(fd, junk, 1 << 20) != 0) break; /* the server may close early */
    size_t n = 0;
    char *raw = read_all(fd, &n);
    close(fd);
    resp r;
    int rc = parse_response(raw, n, &r);
    /* The server reads and drops a body of up to 16 MiB before answering, so the client that
     * is still sending gets its 413 (not a reset). */
    CHECK_MSG(rc == 0 && r.status == 413, "10 MB body: rc %d status %d", rc, r.status);
    free(raw);
    resp_free(&r);

    /* 10 MB chunked, no Content-Length: cut off at the cap. */
    fd = connect_port(port, 10);
    const char *h2 = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    send_all(fd, h2, strlen(h2));
    char ch[32];
    int cn = snprintf(ch, sizeof ch, "%x\r\n", 1 << 20);
    for (int i = 0; i < 10; i++) {
        if (send_all(fd, ch, (size_t)cn) || send_all(fd, junk, 1 << 20) || send_all(fd, "\r\n", 2)) break;
    }
    send_all(fd, "0\r\n\r\n", 5);
    raw = read_all(fd, &n);
    close(fd);
    rc = parse_response(raw, n, &r);
    CHECK_MSG(rc == 0 && r.status == 413, "10 MB chunked body: rc %d status %d", rc, r.status);
    free(raw);
    resp_free(&r);
    free(junk);

    /* 40 MB announced: answered at once without reading (the client may see a reset). */
    fd = connect_port(port, 10);
    hn = snprintf(head, sizeof head,
                  "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 40 << 20);
    send_all(fd, head, (size_t)hn);
    raw = read_all(fd, &n);
    close(fd);
    rc = parse_response(raw, n, &r);
    CHECK_MSG(rc == 0 && r.status == 413, "40 MB announced: rc %d status %d", rc, r.status);
    free(raw);
    resp_free(&r);

    /* A slightly-too-large body with an honest length is answered 413 in full. */
    char *body = malloc(300001);
    memset(body, ' ', 300000);
    body[300000] = 0;
    CHECK(http(port, "POST", "/v1/chat/completions", body, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 413);
    CHECK(r.body && strstr(r.body, "\"request_too_large\""));
    resp_free(&r);
    free(body);

    /* Headers above the per-connection memory cap: rejected by libmicrohttpd itself. */
    char *hdr = malloc(100000);
    int k = snprintf(hdr, 100000, "X-Big: ");
    memset(hdr + k, 'a', 90000);
    snprintf(hdr + k + 90000, 10, "\r\n");
    int rc2 = http(port, "GET", "/health", NULL, hdr, &r);
    CHECK_MSG(rc2 != 0 || r.status == 431 || r.status == 413, "big header: %d", r.status);
    resp_free(&r);
    free(hdr);
}

static void test_auth(void) {
    mx_server_params p = mx_server_default_params();
    p.api_key = "sekret-42";
    mx_server *srv = start(p, 0, NULL);
    CHECK(srv != NULL);
    if (!srv) return;
    uint16_t port = mx_server_port(srv);
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":3}";
    resp r;
    CHECK(http(port, "POST", "/v1/chat/completions", b, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 401);
    CHECK(r.body && strstr(r.body, "invalid_api_key"));
    resp_free(&r);
    CHECK(http(port, "POST", "/v1/chat/completions", b, "Authorization: Bearer sekret-43\r\n", &r) == 0);
    CHECK_EQ_INT(r.status, 401);
    resp_free(&r);
    CHECK(http(port, "POST", "/v1/chat/completions", b, "Authorization: Bearer sekret-4\r\n", &r) == 0);
    CHECK_EQ_INT(r.status, 401);
    resp_free(&r);
    CHECK(http(port, "GET", "/v1/models", NULL, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 401);
    resp_free(&r);
    CHECK(http(port, "POST", "/v1/chat/completions", b, "Authorization: Bearer sekret-42\r\n", &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    CHECK(http(port, "GET", "/health", NULL, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 200);
    resp_free(&r);
    mx_server_free(srv);
}

/* ---- Concurrency: 8 clients x 25 requests ----------------------------------------------------- */

#define N_CLIENTS 8
#define N_PER_CLIENT 25

typedef struct client_arg {
    uint16_t port;
    int id;
    char *answers[N_PER_CLIENT];
    char finish[N_PER_CLIENT][16];
    int failures;
} client_arg;

static char *conc_body(int client, int i, int stream) {
    char user[64], extra[128];
    snprintf(user, sizeof user, "client %d question %d", client, i % 5);
    snprintf(extra, sizeof extra, "\"temperature\":0.9,\"top_p\":0.95");
    return chat_body(user, client * 100 + i, 8 + (i * 7 + client) % 40, stream, extra);
}

static void *client_main(void *p) {
    client_arg *a = p;
    for (int i = 0; i < N_PER_CLIENT; i++) {
        int stream = (i + a->id) % 2;
        char *b = conc_body(a->id, i, stream);
        if (stream) {
            stream_result s;
            if (stream_request(a->port, "/v1/chat/completions", b, &s) != 0 || s.status != 200 || !s.ok ||
                s.has_error || !s.finish[0]) {
                fprintf(stderr, "client %d request %d: stream failed (status %d, ok %d, error %d, finish '%s')\n",
                        a->id, i, s.status, s.ok, s.has_error, s.finish);
                a->failures++;
                free(s.content);
            } else {
                a->answers[i] = s.content;
                snprintf(a->finish[i], 16, "%s", s.finish);
            }
        } else {
            int st;
            cJSON *j = post_json(a->port, "/v1/chat/completions", b, &st);
            const char *c = jstr(j, "choices.0.message.content");
            if (st != 200 || !c) a->failures++;
            else {
                a->answers[i] = strdup(c);
                snprintf(a->finish[i], 16, "%s", jstr(j, "choices.0.finish_reason"));
            }
            cJSON_Delete(j);
        }
        free(b);
    }
    return NULL;
}

static void test_concurrency(void) {
    mx_server_params p = mx_server_default_params();
    p.n_slots = 4;
    mx_srv_backend be;
    mx_server *srv = start(p, 300, &be);
    CHECK(srv != NULL);
    if (!srv) return;
    uint16_t port = mx_server_port(srv);
    static client_arg args[N_CLIENTS];
    pthread_t th[N_CLIENTS];
    for (int c = 0; c < N_CLIENTS; c++) {
        memset(&args[c], 0, sizeof args[c]);
        args[c].port = port;
        args[c].id = c;
        pthread_create(&th[c], NULL, client_main, &args[c]);
    }
    for (int c = 0; c < N_CLIENTS; c++) pthread_join(th[c], NULL);
    int failures = 0;
    for (int c = 0; c < N_CLIENTS; c++) failures += args[c].failures;
    CHECK_EQ_INT(failures, 0);
    int32_t max_batch = mx_fake_backend_max_batch(&be);
    CHECK_MSG(max_batch >= 2, "continuous batching: largest batch %d", max_batch);
    CHECK(wait_health(port, 0, 0, 2000));
    mx_server_stats stats;
    mx_server_get_stats(srv, &stats);
    CHECK_EQ_INT(stats.requests_total, N_CLIENTS * N_PER_CLIENT);
    CHECK_EQ_INT(stats.slots_busy, 0);

    /* The same requests one at a time on a fresh server give the same answers. */
    mx_server *alone = start(p, 0, NULL);
    uint16_t ap = mx_server_port(alone);
    int mismatches = 0;
    for (int c = 0; c < N_CLIENTS; c++)
        for (int i = 0; i < N_PER_CLIENT; i++) {
            char *b = conc_body(c, i, 1);
            stream_result s;
            stream_request(ap, "/v1/chat/completions", b, &s);
            if (!args[c].answers[i] || !s.content || strcmp(s.content, args[c].answers[i]) ||
                strcmp(s.finish, args[c].finish[i])) {
                if (mismatches++ < 3)
                    fprintf(stderr, "client %d request %d: concurrent \"%s\" (%s) vs alone \"%s\" (%s)\n", c, i,
                            args[c].answers[i] ? args[c].answers[i] : "(none)", args[c].finish[i],
                            s.content ? s.content : "(none)", s.finish);
            }
            free(s.content);
            free(b);
            free(args[c].answers[i]);
        }
    CHECK_EQ_INT(mismatches, 0);
    mx_server_free(alone);
    mx_server_free(srv);
}

/* ---- Queue limits, disconnects, slow clients, shutdown ---------------------------------------- */

typedef struct bg_req {
    uint16_t port;
    const char *body;
    int stream;
    resp r;
    int rc;
} bg_req;

static void *bg_main(void *p) {
    bg_req *b = p;
    b->rc = http(b->port, "POST", "/v1/chat/completions", b->body, NULL, &b->r);
    return NULL;
}

static void test_queue_full(void) {
    mx_server_params p = mx_server_default_params();
    p.n_slots = 1;
    p.queue_cap = 1;
    mx_server *srv = start(p, 2000, NULL);
    CHECK(srv != NULL);
    if (!srv) return;
    uint16_t port = mx_server_port(srv);
    const char *longb = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":300,"
                        "\"logit_bias\":{\"256\":-100}}";
    bg_req a = {port, longb, 0, {0}, 0}, b = {port, longb, 0, {0}, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, bg_main, &a);
    CHECK(wait_health(port, 1, 0, 3000));
    pthread_create(&tb, NULL, bg_main, &b);
    CHECK(wait_health(port, 1, 1, 3000));
    resp r;
    CHECK(http(port, "POST", "/v1/chat/completions", longb, NULL, &r) == 0);
    CHECK_EQ_INT(r.status, 503);
    CHECK(r.body && strstr(r.body, "queue_full"));
    CHECK(r.head && strcasestr(r.head, "Retry-After:"));
    resp_free(&r);
    /* Shutdown with no grace cancels the running and the queued request cleanly. */
    mx_server_shutdown(srv, 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_MSG(a.rc != 0 || a.r.status == 503, "cancelled running request: %d", a.r.status);
    CHECK_MSG(b.rc != 0 || b.r.status == 503, "cancelled queued request: %d", b.r.status);
    resp_free(&a.r);
    resp_free(&b.r);
    mx_server_free(srv);
}

static void test_disconnect_and_slowloris(void) {
    mx_server_params p = mx_server_default_params();
    p.n_slots = 2;
    p.timeout_s = 2;
    mx_server *srv = start(p, 2000, NULL);
    CHECK(srv != NULL);
    if (!srv) return;
    uint16_t port = mx_server_port(srv);

    /* Abrupt disconnect in the middle of a stream: the slot is free at once. */
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2000,"
                       "\"stream\":true,\"logit_bias\":{\"256\":-100}}";
    for (int round = 0; round < 3; round++) {
        int fd = connect_port(port, 10);
        char head[512];
        int hn = snprintf(head, sizeof head,
                          "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                          strlen(body), body);
        send_all(fd, head, (size_t)hn);
        char buf[2048];
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        CHECK(got > 0);
        CHECK(wait_health(port, 1, 0, 3000));
        if (round == 2) {
            struct linger lg = {1, 0}; /* reset instead of an orderly close */
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
        CHECK_MSG(wait_health(port, 0, 0, 1500), "slot not freed after a disconnect (round %d)", round);
    }
    /* Same for a non-streamed request whose client leaves. */
    {
        const char *nb = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2000,"
                         "\"logit_bias\":{\"256\":-100}}";
        int fd = connect_port(port, 10);
        char head[512];
        int hn = snprintf(head, sizeof head,
                          "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                          strlen(nb), nb);
        send_all(fd, head, (size_t)hn);
        CHECK(wait_health(port, 1, 0, 3000));
        close(fd);
        CHECK(wait_health(port, 0, 0, 1500));
    }
    cJSON *h = get_health(port);
    CHECK(jnum(h, "requests_cancelled") >= 4);
    cJSON_Delete(h);

    /* Slowloris: a client that sends half a header and stalls. Others are served meanwhile;
     * the server drops it after its idle timeout (2 s here). */
    int slow = connect_port(port, 10);
    const char *partial = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le";
    send_all(slow, partial, strlen(partial));
    int st;
    cJSON *ok = post_json(port, "/v1/chat/completions",
                          "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":3}", &st);
    CHECK_EQ_INT(st, 200);
    cJSON_Delete(ok);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char c;
    ssize_t rr = recv(slow, &c, 1, 0); /* returns 0 (or an error) when the server closes */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    CHECK_MSG(rr <= 0 && waited < 8, "slow client closed after %.1f s (recv %zd)", waited, rr);
    close(slow);

    /* A client that sends its body one byte per 0.5 s is also dropped by the idle timeout only
     * if it stalls; here it keeps going and is answered. */
    const char *tiny = "{\"prompt\":\"a\",\"max_tokens\":2}";
    int fd = connect_port(port, 10);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
                      strlen(tiny));
    send_all(fd, head, (size_t)hn);
    for (size_t i = 0; i < strlen(tiny); i++) {
        send_all(fd, tiny + i, 1);
        if (i % 8 == 0) sleep_ms(200);
    }
    size_t n = 0;
    char *raw = read_all(fd, &n);
    close(fd);
    resp r;
    CHECK(parse_response(raw, n, &r) == 0 && r.status == 200);
    resp_free(&r);
    free(raw);

    /* Graceful shutdown lets a running stream finish. */
    const char *fin = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":30,"
                      "\"stream\":true,\"logit_bias\":{\"256\":-100}}";
    bg_req a = {port, fin, 1, {0}, 0};
    pthread_t ta;
    pthread_create(&ta, NULL, bg_main, &a);
    CHECK(wait_health(port, 1, 0, 3000));
    mx_server_shutdown(srv, 10000);
    pthread_join(ta, NULL);
    stream_result s;
    parse_stream(&a.r, 1, &s);
    CHECK(a.rc == 0 && s.ok && !s.has_error);
    CHECK_EQ_STR(s.finish, "length");
    free(s.content);
    resp_free(&a.r);
    mx_server_free(srv);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    mixlm_log_set(NULL, NULL, MIXLM_LOG_ERROR);
    mx_server_params p = mx_server_default_params();
    p.max_body = 256 * 1024;
    p.max_tokens_cap = 4096;
    mx_server *srv = start(p, 0, NULL);
    mx_server *fresh = start(p, 0, NULL);
    CHECK(srv != NULL && fresh != NULL);
    if (!srv || !fresh) return check_summary("test_server_http");
    uint16_t port = mx_server_port(srv);

    test_routes(port);
    test_chat_basic(port);
    test_stop_and_logprobs(port);
    test_prefix_reuse(port, mx_server_port(fresh));
    test_bad_requests(port);
    test_big_bodies(port);
    /* still serving after all of that */
    int st;
    cJSON *ok = post_json(port, "/v1/chat/completions",
                          "{\"messages\":[{\"role\":\"user\",\"content\":\"still there?\"}],\"max_tokens\":3}", &st);
    CHECK_EQ_INT(st, 200);
    cJSON_Delete(ok);
    CHECK(wait_health(port, 0, 0, 2000));
    mx_server_free(srv);
    mx_server_free(fresh);

    test_auth();
    test_concurrency();
    test_queue_full();
    test_disconnect_and_slowloris();
    return check_summary("test_server_http");
}
