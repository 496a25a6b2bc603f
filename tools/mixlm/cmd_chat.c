/* cmd_chat.c: `mixlm chat`: an interactive chat whose KV state persists across turns, so each
 * turn prefills only the text the chat template adds after what the state already holds. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "cli_engine.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixlm chat [-m MODEL] [options]\n"
            "\n"
            "Chat with a model through its chat template. The KV state persists across turns:\n"
            "each turn feeds only the tokens the new message adds. Type a message and Enter.\n"
            "  /reset        start a new conversation      /save FILE   save the conversation\n"
            "  /load FILE    load a saved conversation     /help        this list\n"
            "Ctrl-C stops the current answer; Ctrl-D (or /quit) exits.\n"
            "\n"
            "  -m, --model MODEL   a .gguf file or a Hugging Face model folder (default: $MIXLM_MODEL,\n"
            "                      else the bundled model)\n"
            "      --system TEXT   a system message at the start of every conversation\n"
            "  -n, --max-tokens N  longest answer in tokens (default 256)\n"
            "      --temp T, --top-k K, --top-p P, --min-p M, --seed S   sampling (as mixlm run)\n"
            "      --ctx N         context length (default: the model's, at most 8192)\n"
            "      --threads N     worker threads (default %d)\n"
            "      --kv f32|f16|bf16  KV cache element type (default " CLI_DEFAULT_KV ")\n"
            "      --no-reuse      feed the whole conversation again every turn (for comparison)\n"
            "      --stats         print per-turn token counts and speed to stderr\n",
            cli_default_threads());
}

/* Ctrl-C during an answer sets this; the generation loop polls it. */
static volatile int g_cancel = 0;
static void on_sigint(int sig) {
    (void)sig;
    g_cancel = 1;
}

/* The conversation and what the state holds of it. `fed_text` is the text whose tokens are in
 * the state, followed by the text of `pending` (the last sampled token, which the generation
 * loop does not feed); the next turn feeds `pending` and then the tokens of the template's
 * text past fed_text. */
typedef struct chat {
    cli_engine ce;
    mixlm_tokenizer *tok;
    mixlm_chat_template *tmpl;
    mixlm_sampler *sampler;
    mixlm_generator *gen;
    const char *system_msg;
    mx_buf messages;      /* JSON array items, without the brackets */
    mx_buf fed_text;
    int32_t pending;      /* -1 when none */
    const char *kv_name;  /* --kv: a saved state loads only into a cache of the same type */
    bool reuse;
    bool stats;
    bool interactive;
    mx_buf answer;
    cli_progress prog;
} chat;

static bool on_event(void *user, const mixlm_gen_event *ev) {
    chat *c = user;
    mx_buf_append(&c->answer, ev->text, ev->len);
    if (ev->len) fwrite(ev->text, 1, ev->len, stdout);
    fflush(stdout);
    return true;
}

static void add_message(chat *c, const char *role, const char *content, size_t len) {
    if (c->messages.len) mx_buf_putc(&c->messages, ',');
    mx_buf_printf(&c->messages, "{\"role\":\"%s\",\"content\":", role);
    mx_buf_json_str(&c->messages, content, len);
    mx_buf_putc(&c->messages, '}');
}

static void chat_reset(chat *c) {
    mx_buf_free(&c->messages);
    mx_buf_free(&c->fed_text);
    c->pending = -1;
    cli_engine_reset(&c->ce);
    mixlm_sampler_reset(c->sampler);
    if (c->system_msg) add_message(c, "system", c->system_msg, strlen(c->system_msg));
}

/* Render the conversation (+ the generation prompt) to a malloc'd string. */
static char *render(chat *c, size_t *len) {
    mx_buf b = {0};
    mx_buf_putc(&b, '[');
    if (c->messages.len) mx_buf_append(&b, c->messages.data, c->messages.len);
    mx_buf_putc(&b, ']');
    char *req = mx_buf_take(&b), *out = NULL;
    mixlm_status st = req ? mixlm_chat_template_render(c->tmpl, req, true, &out, len) : MIXLM_ERR_NOMEM;
    free(req);
    if (st) {
        cli_lib_error("chat", "rendering the chat template", st);
        return NULL;
    }
    return out;
}

/* One turn: the user's message in, the answer streamed out. 0 ok, 1 error. */
static int chat_turn(chat *c, const char *line, size_t n) {
    add_message(c, "user", line, n);
    size_t len = 0;
    char *text = render(c, &len);
    if (!text) return 1;

    /* What to feed: the pending token and the text past what the state holds, when the
     * template's text still starts with it; otherwise (a template that rewrites earlier
     * turns, or --no-reuse) the whole conversation from an empty state. */
    int32_t *ids = NULL, *feed = NULL;
    size_t n_ids = 0;
    const char *from = text;
    bool reuse = c->reuse && c->fed_text.len > 0 && len >= c->fed_text.len &&
                 memcmp(text, c->fed_text.data, c->fed_text.len) == 0;
    if (reuse) from = text + c->fed_text.len;
    else {
        cli_engine_reset(&c->ce);
        c->pending = -1;
    }
    mixlm_status st = mixlm_tokenizer_encode(c->tok, from, len - (size_t)(from - text), false, &ids, &n_ids);
    if (st) {
        cli_lib_error("chat", "tokenizing", st);
        free(text);
        return 1;
    }
    size_t n_feed = n_ids + (c->pending >= 0 ? 1 : 0);
    feed = malloc((n_feed ? n_feed : 1) * sizeof *feed);
    if (!feed) {
        cli_error("chat", "out of memory");
        free(ids);
        free(text);
        return 1;
    }
    size_t k = 0;
    if (c->pending >= 0) feed[k++] = c->pending;
    memcpy(feed + k, ids, n_ids * sizeof *ids);
    free(ids);

    if (n_feed == 0) { /* nothing new to say: the model answers from where it is */
        free(feed);
        free(text);
        return 0;
    }
    mx_buf_free(&c->answer);
    g_cancel = 0;
    mixlm_gen_result res;
    int64_t pos_before = mixlm_state_pos(c->ce.state);
    st = mixlm_generate(c->gen, c->ce.state, c->sampler, feed, (int32_t)n_feed, on_event, c, &res);
    free(feed);
    cli_progress_clear(&c->prog);
    if (st == MIXLM_ERR_CONTEXT_FULL) {
        fprintf(stdout, "\n");
        cli_error("chat", "the conversation no longer fits the context (%lld tokens): /reset to start again",
                  (long long)mixlm_contract_n_ctx(mixlm_executor_contract(c->ce.ex)));
        /* The message was not answered: drop it again. */
        free(text);
        return 0;
    }
    if (st) {
        cli_lib_error("chat", "generation", st);
        free(text);
        return 1;
    }
    fputc('\n', stdout);
    if (res.finish == MIXLM_FINISH_CANCELLED) fprintf(stderr, "[stopped]\n");
    if (res.finish == MIXLM_FINISH_CONTEXT_FULL)
        fprintf(stderr, "[the context is full: /reset to start again]\n");

    /* The state now holds the fed text and the answer's tokens but the last. */
    mx_buf_free(&c->fed_text);
    mx_buf_append(&c->fed_text, text, len);
    mx_buf_append(&c->fed_text, c->answer.data ? c->answer.data : "", c->answer.len);
    c->pending = res.n_generated > 0 ? res.tokens[res.n_generated - 1] : -1;
    if (c->pending >= 0 && res.finish == MIXLM_FINISH_EOS) {
        /* An end-of-turn token emits no text; the template writes it as text. */
        char *eos = NULL;
        size_t eos_len = 0;
        if (mixlm_tokenizer_decode(c->tok, &c->pending, 1, false, &eos, &eos_len) == MIXLM_OK)
            mx_buf_append(&c->fed_text, eos, eos_len);
        free(eos);
    }
    add_message(c, "assistant", c->answer.data ? c->answer.data : "", c->answer.len);
    if (c->stats)
        fprintf(stderr, "[turn: fed %d tokens at position %lld, generated %d; %.1f tok/s]\n",
                (int)res.n_prompt, (long long)pos_before, (int)res.n_generated,
                res.decode_seconds > 0 ? res.n_generated / res.decode_seconds : 0.0);
    free(text);
    return 0;
}

/* /save FILE: the KV state in FILE and the conversation in FILE.json. */
static void chat_save(chat *c, const char *path) {
    mixlm_status st = mixlm_state_save(c->ce.state, path);
    if (st) {
        cli_lib_error("chat", path, st);
        return;
    }
    mx_buf b = {0};
    mx_buf_puts(&b, "{\"mixlm_chat\":1,\"messages\":[");
    if (c->messages.len) mx_buf_append(&b, c->messages.data, c->messages.len);
    mx_buf_puts(&b, "],\"fed_text\":");
    mx_buf_json_str(&b, c->fed_text.data ? c->fed_text.data : "", c->fed_text.len);
    mx_buf_printf(&b, ",\"pending\":%d,\"kv\":\"%s\"}\n", (int)c->pending, c->kv_name);
    char *json = mx_buf_take(&b);
    char *jpath = malloc(strlen(path) + 6);
    FILE *f = NULL;
    if (json && jpath) {
        sprintf(jpath, "%s.json", path);
        f = fopen(jpath, "wb");
    }
    if (!f || fputs(json, f) == EOF || fclose(f) != 0) cli_error("chat", "%s.json: cannot write", path);
    else fprintf(stderr, "[saved %s and %s]\n", path, jpath);
    free(json);
    free(jpath);
}

/* /load FILE: the counterpart of /save; on any error the current conversation stays. */
static void chat_load(chat *c, const char *path) {
    char *jpath = malloc(strlen(path) + 6), *text = NULL;
    if (!jpath) return;
    sprintf(jpath, "%s.json", path);
    size_t len = 0;
    mixlm_status st = mx_read_file(jpath, 1u << 28, &text, &len);
    cJSON *root = st ? NULL : cJSON_ParseWithLength(text, len);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *fed = cJSON_GetObjectItemCaseSensitive(root, "fed_text");
    const cJSON *pend = cJSON_GetObjectItemCaseSensitive(root, "pending");
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(root, "kv");
    if (st) cli_lib_error("chat", jpath, st);
    else if (!cJSON_IsArray(msgs) || !cJSON_IsString(fed) || !cJSON_IsNumber(pend) ||
             pend->valuedouble < -1 || pend->valuedouble >= c->ce.n_vocab)
        cli_error("chat", "%s: not a conversation saved by mixlm chat", jpath);
    else if (cJSON_IsString(kv) && strcmp(kv->valuestring, c->kv_name) != 0)
        cli_error("chat", "%s: saved with KV type %s; this chat uses %s (start it with --kv %s)", path,
                  kv->valuestring, c->kv_name, kv->valuestring);
    else if ((st = mixlm_state_load(c->ce.state, path)) != MIXLM_OK)
        cli_lib_error("chat", path, st);
    else {
        char *arr = cJSON_PrintUnformatted(msgs);
        mx_buf_free(&c->messages);
        if (arr && strlen(arr) > 2) mx_buf_append(&c->messages, arr + 1, strlen(arr) - 2);
        free(arr);
        mx_buf_free(&c->fed_text);
        mx_buf_puts(&c->fed_text, fed->valuestring);
        c->pending = (int32_t)pend->valuedouble;
        fprintf(stderr, "[loaded %s: %d messages, position %lld]\n", path, cJSON_GetArraySize(msgs),
                (long long)mixlm_state_pos(c->ce.state));
    }
    cJSON_Delete(root);
    free(text);
    free(jpath);
}

int cmd_chat(int argc, char **argv) {
    const char *model_arg = NULL, *kv_arg = CLI_DEFAULT_KV;
    long max_tokens = 256, ctx = 0, threads = cli_default_threads(), top_k = -1;
    float temp = NAN, top_p = NAN, min_p = NAN;
    uint64_t seed = 0;
    bool have_seed = false;
    chat c;
    memset(&c, 0, sizeof c);
    c.reuse = true;
    c.pending = -1;
    const cli_opt opts[] = {
        CLI_OPT_STR("--model", "-m", &model_arg),
        CLI_OPT_STR("--system", NULL, &c.system_msg),
        CLI_OPT_STR("--kv", NULL, &kv_arg),
        CLI_OPT_LONG("--max-tokens", "-n", &max_tokens, 1, 1L << 30),
        CLI_OPT_FLOAT("--temp", NULL, &temp, 0, 100),
        CLI_OPT_LONG("--top-k", NULL, &top_k, 0, 1L << 30),
        CLI_OPT_FLOAT("--top-p", NULL, &top_p, 0, 1),
        CLI_OPT_FLOAT("--min-p", NULL, &min_p, 0, 1),
        CLI_OPT_U64("--seed", NULL, &seed, &have_seed),
        CLI_OPT_LONG("--ctx", NULL, &ctx, 1, 1L << 24),
        CLI_OPT_LONG("--threads", NULL, &threads, 1, 256),
        CLI_OPT_OFF("--no-reuse", NULL, &c.reuse),
        CLI_OPT_FLAG("--stats", NULL, &c.stats),
        CLI_OPT_END};
    const cli_args spec = {"chat", opts, usage, NULL, NULL, "type messages on stdin"};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    mx_type kv_type;
    c.kv_name = kv_arg;
    if (!cli_parse_kv_type(kv_arg, &kv_type)) {
        cli_error("chat", "--kv must be f32, f16 or bf16, not '%s'", kv_arg);
        return 2;
    }

    int rc = 1;
    bool engine_open = false;
    char *model_path = cli_resolve_model(model_arg);
    if (!model_path) {
        cli_error("chat", "no model: give -m MODEL or set MIXLM_MODEL (no bundled model was found)");
        return 1;
    }
    if (!mx_file_exists(model_path) && !mx_is_dir(model_path)) {
        cli_error("chat", "%s: no such file or folder", model_path);
        goto done;
    }
    mixlm_status st = mixlm_chat_template_load(model_path, &c.tmpl);
    if (st) {
        if (st == MIXLM_ERR_UNSUPPORTED) cli_error("chat", "%s has no chat template", model_path);
        else cli_lib_error("chat", "loading the chat template", st);
        goto done;
    }
    if (cli_engine_open(&c.ce, "chat", model_path, (int)threads, (int32_t)ctx, kv_type) != 0) goto done;
    engine_open = true;
    cli_progress_init(&c.prog, "chat");
    cli_progress_stage(&c.prog, "loading the tokenizer");
    st = mixlm_tokenizer_from_model(c.ce.model, &c.tok);
    cli_progress_clear(&c.prog);
    if (st != MIXLM_OK) {
        cli_lib_error("chat", "loading the tokenizer", st);
        goto done;
    }

    mixlm_sampler_params sp = cli_sampler_defaults(model_path);
    cli_sampler_flags(&sp, temp, top_k, top_p, min_p);
    sp.seed = have_seed ? seed : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    if ((st = mixlm_sampler_create(c.ce.n_vocab, &sp, &c.sampler)) != MIXLM_OK) {
        cli_lib_error("chat", "sampler", st);
        goto done;
    }
    int32_t eos[MIXLM_MAX_EOS_IDS];
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.max_new_tokens = (int32_t)max_tokens;
    gp.eos_ids = eos;
    gp.n_eos_ids = mixlm_eos_ids(model_path, c.tok, true, eos, MIXLM_MAX_EOS_IDS);
    gp.cancel = &g_cancel;
    gp.prefill_progress = cli_progress_prefill; /* a long conversation loaded or reset */
    gp.progress_user = &c.prog;
    if ((st = mixlm_generator_create(c.ce.ex, c.tok, &gp, &c.gen)) != MIXLM_OK) {
        cli_lib_error("chat", "generator", st);
        goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: Ctrl-C at the prompt interrupts getline */

    c.interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (c.interactive)
        fprintf(stderr, "mixlm chat: %s (/help for commands, Ctrl-D to quit)\n", model_path);
    chat_reset(&c);
    char *line = NULL;
    size_t cap = 0;
    rc = 0;
    for (;;) {
        if (c.interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        errno = 0;
        g_cancel = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno == EINTR) { /* Ctrl-C at the prompt: a fresh prompt */
                clearerr(stdin);
                if (c.interactive) fputc('\n', stdout);
                continue;
            }
            if (c.interactive) fputc('\n', stdout);
            break; /* Ctrl-D */
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if (line[0] == '/') {
            char *arg = strchr(line, ' ');
            if (arg) {
                *arg++ = 0;
                while (*arg == ' ') arg++;
            }
            if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
            else if (!strcmp(line, "/reset")) {
                chat_reset(&c);
                fprintf(stderr, "[new conversation]\n");
            } else if (!strcmp(line, "/save") && arg && *arg) chat_save(&c, arg);
            else if (!strcmp(line, "/load") && arg && *arg) chat_load(&c, arg);
            else if (!strcmp(line, "/help")) usage(stderr);
            else cli_error("chat", "unknown command %s (/help lists them)", line);
            continue;
        }
        if (chat_turn(&c, line, (size_t)n) != 0) {
            rc = 1;
            break;
        }
    }
    free(line);
done:
    mixlm_generator_free(c.gen);
    mixlm_sampler_free(c.sampler);
    mixlm_tokenizer_free(c.tok);
    mixlm_chat_template_free(c.tmpl);
    if (engine_open) cli_engine_close(&c.ce);
    mx_buf_free(&c.messages);
    mx_buf_free(&c.fed_text);
    mx_buf_free(&c.answer);
    free(model_path);
    return rc;
}
