/* cmd_serve.c: `mixlm serve`: the OpenAI-compatible HTTP server, until SIGINT or SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "cli_engine.h"
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
        "      --kv f32|f16|bf16   KV cache element type of every slot (default " CLI_DEFAULT_KV ")\n"
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

int cmd_serve(int argc, char **argv) {
    mx_server_params p = mx_server_default_params();
    const char *model = NULL, *port_file = NULL, *template_file = NULL, *tokenizer = NULL;
    const char *kv_arg = CLI_DEFAULT_KV;
    long ctx = 0, grace = 10, fake_delay = 0, threads = 0;
    long port = p.port, slots = p.n_slots, queue = p.queue_cap, max_tokens = p.max_tokens_cap;
    long max_body = (long)p.max_body, timeout = (long)p.timeout_s, max_conn = p.max_connections;
    bool fake = false;
    p.api_key = getenv("MIXLM_API_KEY");
    const cli_opt opts[] = {
        CLI_OPT_STR("--model", "-m", &model),
        CLI_OPT_STR("--host", NULL, &p.host),
        CLI_OPT_LONG("--port", NULL, &port, 0, 65535),
        CLI_OPT_STR("--port-file", NULL, &port_file),
        CLI_OPT_LONG("--parallel", NULL, &slots, 1, 256),
        CLI_OPT_LONG("--ctx", NULL, &ctx, 2, 1 << 24),
        CLI_OPT_LONG("--threads", NULL, &threads, 0, 256),
        CLI_OPT_STR("--kv", NULL, &kv_arg),
        CLI_OPT_STR("--tokenizer", NULL, &tokenizer),
        CLI_OPT_STR("--template", NULL, &template_file),
        CLI_OPT_STR("--api-key", NULL, &p.api_key),
        CLI_OPT_LONG("--queue", NULL, &queue, 0, 1 << 20),
        CLI_OPT_LONG("--max-tokens", NULL, &max_tokens, 1, 1 << 24),
        CLI_OPT_LONG("--max-body", NULL, &max_body, 16, 1L << 30),
        CLI_OPT_LONG("--timeout", NULL, &timeout, 1, 86400),
        CLI_OPT_LONG("--max-connections", NULL, &max_conn, 1, 10000),
        CLI_OPT_LONG("--grace", NULL, &grace, 0, 3600),
        CLI_OPT_FLAG("--fake-backend", NULL, &fake),
        CLI_OPT_LONG("--fake-delay-us", NULL, &fake_delay, 0, 10000000),
        CLI_OPT_END};
    const cli_args spec = {"serve", opts, serve_usage, NULL, NULL, NULL};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    mx_type kv_type;
    if (!cli_parse_kv_type(kv_arg, &kv_type)) {
        cli_error("serve", "--kv must be f32, f16 or bf16, not '%s'", kv_arg);
        return 2;
    }
    p.port = (uint16_t)port;
    p.n_slots = (int32_t)slots;
    p.queue_cap = (int32_t)queue;
    p.max_tokens_cap = (int32_t)max_tokens;
    p.max_body = (size_t)max_body;
    p.timeout_s = (uint32_t)timeout;
    p.max_connections = (int32_t)max_conn;

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
        mx_model_backend_params mp = {model, template_file, tokenizer, (int32_t)ctx, (int32_t)threads,
                                      cli_kv_dtype(kv_type)};
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
    unsigned bound = mx_server_port(srv);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f || fprintf(f, "%u\n", bound) < 0 || fclose(f) != 0) {
            cli_error("serve", "cannot write %s: %s", port_file, strerror(errno));
            mx_server_free(srv);
            return 1;
        }
    }
    fprintf(stderr, "mixlm serve: model %s, %d slots, listening on http://%s%s%s:%u\n", be.model_id,
            (int)p.n_slots, strchr(p.host, ':') ? "[" : "", p.host, strchr(p.host, ':') ? "]" : "", bound);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "mixlm serve: %s: finishing requests (up to %ld s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
    mx_server_shutdown(srv, (uint32_t)grace * 1000u);
    mx_server_free(srv);
    fprintf(stderr, "mixlm serve: stopped\n");
    return 0;
}
