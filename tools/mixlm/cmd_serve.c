/* cmd_serve.c: `mixlm serve`: the OpenAI-compatible HTTP server, until SIGINT or SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "server/server.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void serve_usage(FILE *out) {
    fprintf(out,
        "usage: mixlm serve [-m MODEL] [options]\n"
        "\n"
        "Serve the OpenAI HTTP API (POST /v1/chat/completions, POST /v1/completions,\n"
        "GET /v1/models, GET /health) until SIGINT or SIGTERM.\n"
        "\n"
        "  -m, --model PATH        model file or folder (default: the bundled model)\n"
        "      --host ADDR         address to bind (default 127.0.0.1: this machine only)\n"
        "      --port N            TCP port (default 8080; 0 picks a free one)\n"
        "      --port-file FILE    write the port there once listening\n"
        "      --parallel N        sequences decoded together (slots, default 4)\n"
        "      --ctx N             context length per slot in tokens (default: the model's, at most 8192)\n"
        "      --threads N         engine threads (default: one per CPU, at most 8)\n"
        "      --template FILE     a .jinja chat template instead of the model's own\n"
        "      --tokenizer PATH    a tokenizer.json (or a folder holding one) instead of the model's\n"
        "      --api-key KEY       require 'Authorization: Bearer KEY' (also $MIXLM_API_KEY)\n"
        "      --queue N           requests waiting for a slot before 503 (default 64)\n"
        "      --max-tokens N      largest max_tokens a request may ask (default 4096)\n"
        "      --max-body BYTES    request body cap (default 1048576; 413 beyond)\n"
        "      --timeout S         close connections idle for S seconds (default 30)\n"
        "      --max-connections N open connections at most (default 64)\n"
        "      --grace S           on SIGINT/SIGTERM, let requests finish for S seconds (default 10)\n"
        "      --fake-backend      serve a deterministic fake model (for tests; no -m)\n"
        "      --fake-delay-us N   fake backend: sleep N microseconds per step\n"
        "  -h, --help              this help\n");
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* The bundled model: the first .gguf file or model folder (config.json) in the source tree's
 * models/ (a build run in place) or the installed one. malloc'd path, NULL when none. */

int cmd_serve(int argc, char **argv) {
    mx_server_params p = mx_server_default_params();
    const char *model = NULL, *port_file = NULL, *template_file = NULL, *tokenizer = NULL;
    long ctx = 0, grace = 10, fake_delay = 0, threads = 0;
    int fake = 0;
    p.api_key = getenv("MIXLM_API_KEY");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
#define NEED_VALUE()                                              \
    do {                                                          \
        if (!v) {                                                 \
            cli_error("serve", "option %s needs a value", a);     \
            return 2;                                             \
        }                                                         \
        i++;                                                      \
    } while (0)
#define NUM(lo, hi)                                                           \
    do {                                                                      \
        NEED_VALUE();                                                         \
        if (!parse_long(v, lo, hi, &n)) {                                     \
            cli_error("serve", "%s: '%s' is not a number in [%ld, %ld]", a, v, \
                      (long)(lo), (long)(hi));                                \
            return 2;                                                         \
        }                                                                     \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEED_VALUE();
            model = v;
        } else if (!strcmp(a, "--host")) {
            NEED_VALUE();
            p.host = v;
        } else if (!strcmp(a, "--port")) {
            NUM(0, 65535);
            p.port = (uint16_t)n;
        } else if (!strcmp(a, "--port-file")) {
            NEED_VALUE();
            port_file = v;
        } else if (!strcmp(a, "--parallel")) {
            NUM(1, 256);
            p.n_slots = (int32_t)n;
        } else if (!strcmp(a, "--ctx")) {
            NUM(2, 1 << 24);
            ctx = n;
        } else if (!strcmp(a, "--threads")) {
            NUM(0, 256);
            threads = n;
        } else if (!strcmp(a, "--tokenizer")) {
            NEED_VALUE();
            tokenizer = v;
        } else if (!strcmp(a, "--template")) {
            NEED_VALUE();
            template_file = v;
        } else if (!strcmp(a, "--api-key")) {
            NEED_VALUE();
            p.api_key = v;
        } else if (!strcmp(a, "--queue")) {
            NUM(0, 1 << 20);
            p.queue_cap = (int32_t)n;
        } else if (!strcmp(a, "--max-tokens")) {
            NUM(1, 1 << 24);
            p.max_tokens_cap = (int32_t)n;
        } else if (!strcmp(a, "--max-body")) {
            NUM(16, 1L << 30);
            p.max_body = (size_t)n;
        } else if (!strcmp(a, "--timeout")) {
            NUM(1, 86400);
            p.timeout_s = (uint32_t)n;
        } else if (!strcmp(a, "--max-connections")) {
            NUM(1, 10000);
            p.max_connections = (int32_t)n;
        } else if (!strcmp(a, "--grace")) {
            NUM(0, 3600);
            grace = n;
        } else if (!strcmp(a, "--fake-backend")) {
            fake = 1;
        } else if (!strcmp(a, "--fake-delay-us")) {
            NUM(0, 10000000);
            fake_delay = n;
        } else {
            cli_error("serve", "unknown option '%s' (see mixlm serve --help)", a);
            return 2;
        }
#undef NUM
#undef NEED_VALUE
    }

    mx_srv_backend be;
    mixlm_status st;
    if (fake) {
        if (model) {
            cli_error("serve", "--fake-backend takes no model");
            return 2;
        }
        mx_fake_backend_params fp = {(int32_t)(ctx ? ctx : 2048), (uint32_t)fake_delay};
        st = mx_fake_backend_create(fp, &be);
        if (st != MIXLM_OK) {
            cli_lib_error("serve", "fake backend", st);
            return 1;
        }
    } else {
        char *found = NULL;
        if (!model) {
            found = cli_resolve_model(NULL);
            if (!found) {
                cli_error("serve", "no model given and no bundled model found; use -m MODEL");
                return 2;
            }
            model = found;
        }
        mx_model_backend_params mp = {model, template_file, tokenizer, (int32_t)ctx, (int32_t)threads};
        /* On a terminal a progress line that goes away; in a log, one line saying what loads. */
        cli_progress prog;
        cli_progress_init(&prog, "serve");
        if (prog.on) cli_progress_stage(&prog, "loading %s", model);
        else fprintf(stderr, "mixlm serve: loading %s\n", model);
        st = mx_model_backend_create(&mp, &be);
        cli_progress_clear(&prog);
        free(found);
        if (st != MIXLM_OK) {
            cli_lib_error("serve", mp.model_path, st);
            return 1;
        }
    }

    /* Signals are taken by sigwait() in this thread: block them before any thread starts so
     * that every server thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    mx_server *srv = NULL;
    st = mx_server_start(&p, &be, 1, &srv);
    if (st != MIXLM_OK) {
        cli_lib_error("serve", "start", st);
        return 1;
    }
    unsigned port = mx_server_port(srv);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0) {
            cli_error("serve", "cannot write %s: %s", port_file, strerror(errno));
            mx_server_free(srv);
            return 1;
        }
    }
    fprintf(stderr, "mixlm serve: model %s, %d slots, listening on http://%s%s%s:%u\n", be.model_id,
            (int)p.n_slots, strchr(p.host, ':') ? "[" : "", p.host, strchr(p.host, ':') ? "]" : "", port);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "mixlm serve: %s: finishing requests (up to %ld s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
    mx_server_shutdown(srv, (uint32_t)grace * 1000u);
    mx_server_free(srv);
    fprintf(stderr, "mixlm serve: stopped\n");
    return 0;
}
