/* test_server_client.h: a minimal HTTP/1.1 client over loopback sockets, SSE parsing and JSON
 * helpers shared by the server tests (each test program includes it once). */
#ifndef TEST_SERVER_CLIENT_H
#define TEST_SERVER_CLIENT_H

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- A minimal HTTP/1.1 client -------------------------------------------------------------- */

typedef struct resp {
    int status;
    char *head;   /* status line and headers */
    char *body;   /* de-chunked */
    size_t body_len;
} resp;

static inline void resp_free(resp *r) {
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static inline int connect_port(uint16_t port, int timeout_s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read until EOF (bounded by the socket timeout and a 64 MiB cap). */
static inline char *read_all(int fd, size_t *len) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= (64u << 20)) break;
            cap *= 2;
            b = realloc(b, cap);
        }
        ssize_t r = recv(fd, b + n, cap - n - 1, 0);
        if (r <= 0) break;
        n += (size_t)r;
    }
    b[n] = 0;
    *len = n;
    return b;
}

static inline int parse_response(const char *raw, size_t n, resp *out) {
    memset(out, 0, sizeof *out);
    const char *sep = strstr(raw, "\r\n\r\n");
    if (!sep || sscanf(raw, "HTTP/1.%*d %d", &out->status) != 1) return -1;
    out->head = strndup(raw, (size_t)(sep - raw));
    const char *p = sep + 4, *end = raw + n;
    if (strcasestr(out->head, "Transfer-Encoding: chunked")) {
        out->body = malloc((size_t)(end - p) + 1);
        size_t bl = 0;
        while (p < end) {
            char *e = NULL;
            unsigned long sz = strtoul(p, &e, 16);
            const char *nl = strstr(p, "\r\n");
            if (!nl || e == p) break;
            p = nl + 2;
            if (sz == 0 || p + sz > end) break;
            memcpy(out->body + bl, p, sz);
            bl += sz;
            p += sz + 2;
        }
        out->body[bl] = 0;
        out->body_len = bl;
    } else {
        out->body_len = (size_t)(end - p);
        out->body = strndup(p, out->body_len);
    }
    return 0;
}

/* One request on a fresh connection ("Connection: close"). Returns 0 when a response came. */
static inline int http(uint16_t port, const char *method, const char *path, const char *body,
                const char *extra, resp *out) {
    memset(out, 0, sizeof *out);
    int fd = connect_port(port, 30);
    if (fd < 0) return -1;
    size_t bl = body ? strlen(body) : 0;
    size_t hcap = 512 + (extra ? strlen(extra) : 0) + strlen(path);
    char *head = malloc(hcap);
    int hn = snprintf(head, hcap,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, extra ? extra : "", bl);
    int rc = send_all(fd, head, (size_t)hn);
    free(head);
    if (rc == 0 && bl) rc = send_all(fd, body, bl);
    size_t n = 0;
    char *raw = read_all(fd, &n);
    close(fd);
    rc = parse_response(raw, n, out);
    free(raw);
    return rc;
}

static inline cJSON *post_json(uint16_t port, const char *path, const char *body, int *status) {
    resp r;
    *status = -1;
    if (http(port, "POST", path, body, NULL, &r) != 0) return NULL;
    *status = r.status;
    cJSON *j = cJSON_Parse(r.body);
    resp_free(&r);
    return j;
}

static inline const char *jstr(const cJSON *o, const char *path) {
    /* path like "choices.0.message.content" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *sv = NULL, *tok = strtok_r(buf, ".", &sv); tok && cur; tok = strtok_r(NULL, ".", &sv)) {
        if (cJSON_IsArray(cur)) cur = cJSON_GetArrayItem(cur, atoi(tok));
        else cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static inline double jnum(const cJSON *o, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *sv = NULL, *tok = strtok_r(buf, ".", &sv); tok && cur; tok = strtok_r(NULL, ".", &sv)) {
        if (cJSON_IsArray(cur)) cur = cJSON_GetArrayItem(cur, atoi(tok));
        else cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    }
    return cJSON_IsNumber(cur) ? cur->valuedouble : -1e300;
}

/* ---- Streams ---------------------------------------------------------------------------------- */

typedef struct stream_result {
    int status;
    int ok;             /* well-formed: data lines only, ends with [DONE] */
    int n_chunks;
    int role_first;
    char *content;      /* concatenated delta.content / text */
    char finish[16];
    int usage_prompt, usage_completion, has_usage, has_error;
} stream_result;

static inline void parse_stream(const resp *r, int chat, stream_result *s) {
    memset(s, 0, sizeof *s);
    s->status = r->status;
    size_t cap = r->body_len + 1, cl = 0;
    s->content = calloc(cap, 1);
    const char *p = r->body ? r->body : "";
    int done = 0;
    s->ok = 1;
    while (*p) {
        const char *end = strstr(p, "\n\n");
        if (!end || strncmp(p, "data: ", 6) != 0 || done) {
            s->ok = 0;
            break;
        }
        char *line = strndup(p + 6, (size_t)(end - p - 6));
        p = end + 2;
        if (!strcmp(line, "[DONE]")) {
            done = 1;
            free(line);
            continue;
        }
        cJSON *j = cJSON_Parse(line);
        free(line);
        if (!j) {
            s->ok = 0;
            break;
        }
        if (cJSON_GetObjectItem(j, "error")) {
            s->has_error = 1;
            fprintf(stderr, "stream error event: %s\n", jstr(j, "error.message"));
        }
        const cJSON *choices = cJSON_GetObjectItem(j, "choices");
        const char *obj = jstr(j, "object");
        if (!s->has_error && (!obj || strcmp(obj, chat ? "chat.completion.chunk" : "text_completion")))
            s->ok = 0;
        if (cJSON_GetArraySize(choices) == 1) {
            const char *t = chat ? jstr(j, "choices.0.delta.content") : jstr(j, "choices.0.text");
            if (s->n_chunks == 0 && chat)
                s->role_first = jstr(j, "choices.0.delta.role") && !strcmp(jstr(j, "choices.0.delta.role"), "assistant");
            if (t && cl + strlen(t) < cap) {
                memcpy(s->content + cl, t, strlen(t));
                cl += strlen(t);
            }
            const char *f = jstr(j, "choices.0.finish_reason");
            if (f) snprintf(s->finish, sizeof s->finish, "%s", f);
        } else if (cJSON_GetObjectItem(j, "usage") && cJSON_IsObject(cJSON_GetObjectItem(j, "usage"))) {
            s->has_usage = 1;
            s->usage_prompt = (int)jnum(j, "usage.prompt_tokens");
            s->usage_completion = (int)jnum(j, "usage.completion_tokens");
        }
        s->n_chunks++;
        cJSON_Delete(j);
    }
    if (!done) s->ok = 0;
}

static inline int stream_request(uint16_t port, const char *path, const char *body, stream_result *s) {
    resp r;
    int rc = http(port, "POST", path, body, NULL, &r);
    if (rc == 0) parse_stream(&r, strstr(path, "chat") != NULL, s);
    else memset(s, 0, sizeof *s);
    resp_free(&r);
    return rc;
}

/* ---- Helpers on a running server -------------------------------------------------------------- */

static inline cJSON *get_health(uint16_t port) {
    resp r;
    if (http(port, "GET", "/health", NULL, NULL, &r) != 0) return NULL;
    cJSON *j = cJSON_Parse(r.body);
    resp_free(&r);
    return j;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait (bounded) until /health reports the given number of busy slots and queued requests. */
static inline int wait_health(uint16_t port, int busy, int queued, int timeout_ms) {
    for (int t = 0; t < timeout_ms; t += 20) {
        cJSON *h = get_health(port);
        int ok = h && jnum(h, "slots_busy") == busy && jnum(h, "queued") == queued;
        cJSON_Delete(h);
        if (ok) return 1;
        sleep_ms(20);
    }
    return 0;
}

#endif
