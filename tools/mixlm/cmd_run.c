/* cmd_run.c: `mixlm run`: generate a continuation of a prompt (or a chat answer with --chat)
 * and stream it to stdout; statistics go to stderr. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "cli_engine.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_STOPS MIXLM_MAX_STOP_STRINGS

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixlm run [-m MODEL] -p PROMPT [options]\n"
            "\n"
            "Generate text from a prompt and stream it to stdout. Statistics (prompt and\n"
            "generation speed, KV cache size) go to stderr.\n"
            "\n"
            "  -m, --model MODEL     a .gguf file or a Hugging Face model folder (default: $MIXLM_MODEL,\n"
            "                        else the bundled model)\n"
            "  -p, --prompt TEXT     the prompt (or -f FILE)\n"
            "  -f, --file FILE       read the prompt from FILE\n"
            "      --tokens LIST     the prompt as token ids (comma-separated, or @FILE)\n"
            "  -n, --max-tokens N    generate at most N tokens (default 256; -1 = until the end)\n"
            "      --chat            format the prompt as one user message with the model's chat\n"
            "                        template and stop at the end of the answer\n"
            "      --system TEXT     with --chat: a system message first\n"
            "      --temp T          temperature (default 0.8; 0 = greedy)\n"
            "      --top-k K         keep the K most likely tokens (default 40; 0 = off)\n"
            "      --top-p P         nucleus sampling mass (default 0.95; 1 = off)\n"
            "      --min-p M         drop tokens below M x the top probability (default 0.05)\n"
            "      --typical-p P     locally typical sampling (default 1 = off)\n"
            "      --repeat-penalty R  repetition penalty (default 1 = off)\n"
            "      --presence-penalty A, --frequency-penalty B  OpenAI penalties (default 0)\n"
            "      --penalty-window N  tokens the penalties look at (default -1 = all)\n"
            "      --seed S          random seed (default: from the clock; printed with the stats)\n"
            "      --stop STR        stop when STR appears (not printed); repeatable\n"
            "      --ignore-eos      do not stop at end-of-sequence tokens\n"
            "      --json            print one JSON object (text, tokens, finish reason, stats)\n"
            "                        at the end instead of streaming\n"
            "      --logprobs N      with --json: log-probabilities of each token and N alternatives\n"
            "      --ctx N           context length (default: the model's, at most 8192)\n"
            "      --chunk N         prefill N prompt tokens per step (default 512; 0 = all at once)\n"
            "      --threads N       worker threads (default %d)\n"
            "      --kv f32|f16|bf16 KV cache element type (default " CLI_DEFAULT_KV ")\n"
            "\n"
            "Sampling follows Hugging Face transformers' order: repetition penalty, temperature,\n"
            "top-k, top-p, min-p, typical-p (docs/sampling.md).\n",
            cli_default_threads());
}

/* ---- Streaming ----------------------------------------------------------------------------- */

typedef struct run_out {
    bool json;
    mx_buf text;                 /* --json: the whole text */
    mx_buf lp;                   /* --json: the logprobs array items */
    const mixlm_tokenizer *tok;
    int write_failed;
} run_out;

static void json_piece(mx_buf *b, const mixlm_tokenizer *tok, int32_t id) {
    size_t n = 0;
    const char *p = tok ? mixlm_tokenizer_piece(tok, id, &n) : NULL;
    if (p) mx_buf_json_str(b, p, n);
    else mx_buf_puts(b, "null");
}

static bool on_event(void *user, const mixlm_gen_event *ev) {
    run_out *o = user;
    if (!o->json) {
        if (ev->len && fwrite(ev->text, 1, ev->len, stdout) != ev->len) o->write_failed = 1;
        if (fflush(stdout) != 0) o->write_failed = 1;
        return !o->write_failed;
    }
    mx_buf_append(&o->text, ev->text, ev->len);
    if (!ev->is_final && ev->logprobs) {
        const mixlm_sample_info *in = ev->logprobs;
        if (o->lp.len) mx_buf_putc(&o->lp, ',');
        mx_buf_printf(&o->lp, "{\"token\":%d,\"piece\":", (int)ev->token);
        json_piece(&o->lp, o->tok, ev->token);
        mx_buf_printf(&o->lp, ",\"logprob\":%.6g,\"top\":[", (double)in->logprob);
        for (int32_t i = 0; i < in->n_top_out; i++) {
            mx_buf_printf(&o->lp, "%s{\"token\":%d,\"piece\":", i ? "," : "", (int)in->top[i].token);
            json_piece(&o->lp, o->tok, in->top[i].token);
            mx_buf_printf(&o->lp, ",\"logprob\":%.6g}", (double)in->top[i].logprob);
        }
        mx_buf_puts(&o->lp, "]}");
    }
    return true;
}

/* ---- The command --------------------------------------------------------------------------- */

/* The first Ctrl-C sets this and the generation loop stops at the next token or prompt chunk;
 * the handler then resets itself (SA_RESETHAND), so a second Ctrl-C ends the process at once. */
static volatile int g_cancel = 0;
static void on_sigint(int sig) {
    (void)sig;
    g_cancel = 1;
}

/* Exit status after a Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2). */
#define EXIT_INTERRUPTED 130

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cmd_run(int argc, char **argv) {
    const char *model_arg = NULL, *prompt = NULL, *prompt_file = NULL, *tokens_arg = NULL;
    const char *system_msg = NULL, *kv_arg = CLI_DEFAULT_KV;
    const char *stops[MAX_STOPS];
    int n_stops = 0;
    bool chat = false, json = false, ignore_eos = false;
    long max_tokens = 256, ctx = 0, chunk = 512, threads = cli_default_threads(), logprobs = -1;
    /* Built-in defaults, then generation_config.json, then flags. Flags are recorded here and
     * applied after the model is known. */
    float temp = NAN, top_p = NAN, min_p = NAN, typical_p = NAN, rep = NAN, pres = NAN, freq = NAN;
    long top_k = -1, window = -2;
    uint64_t seed = 0;
    bool have_seed = false;

    const cli_opt opts[] = {
        CLI_OPT_STR("--model", "-m", &model_arg),
        CLI_OPT_STR("--prompt", "-p", &prompt),
        CLI_OPT_STR("--file", "-f", &prompt_file),
        CLI_OPT_STR("--tokens", NULL, &tokens_arg),
        CLI_OPT_STR("--system", NULL, &system_msg),
        CLI_OPT_STR("--kv", NULL, &kv_arg),
        CLI_OPT_FLAG("--chat", NULL, &chat),
        CLI_OPT_FLAG("--json", NULL, &json),
        CLI_OPT_FLAG("--ignore-eos", NULL, &ignore_eos),
        CLI_OPT_LONG("--max-tokens", "-n", &max_tokens, -1, 1L << 30),
        CLI_OPT_FLOAT("--temp", NULL, &temp, 0, 100),
        CLI_OPT_LONG("--top-k", NULL, &top_k, 0, 1L << 30),
        CLI_OPT_FLOAT("--top-p", NULL, &top_p, 0, 1),
        CLI_OPT_FLOAT("--min-p", NULL, &min_p, 0, 1),
        CLI_OPT_FLOAT("--typical-p", NULL, &typical_p, 1e-6, 1),
        CLI_OPT_FLOAT("--repeat-penalty", NULL, &rep, 1e-6, 100),
        CLI_OPT_FLOAT("--presence-penalty", NULL, &pres, -100, 100),
        CLI_OPT_FLOAT("--frequency-penalty", NULL, &freq, -100, 100),
        CLI_OPT_LONG("--penalty-window", NULL, &window, -1, 1L << 24),
        CLI_OPT_LONG("--logprobs", NULL, &logprobs, 0, MIXLM_MAX_TOP_LOGPROBS),
        CLI_OPT_LONG("--ctx", NULL, &ctx, 1, 1L << 24),
        CLI_OPT_LONG("--chunk", NULL, &chunk, 0, 1L << 24),
        CLI_OPT_LONG("--threads", NULL, &threads, 1, 256),
        CLI_OPT_U64("--seed", NULL, &seed, &have_seed),
        CLI_OPT_STRS("--stop", NULL, stops, &n_stops, MAX_STOPS),
        CLI_OPT_END};
    const cli_args spec = {"run", opts, usage, NULL, NULL, "the prompt goes after -p"};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    for (int k = 0; k < n_stops; k++) {
        if (!*stops[k] || strlen(stops[k]) > MIXLM_MAX_STOP_LEN) {
            cli_error("run", "--stop strings must have 1..%d bytes", MIXLM_MAX_STOP_LEN);
            return 2;
        }
    }
    if (!!prompt + !!prompt_file + !!tokens_arg != 1) {
        cli_error("run", "give the prompt once: -p TEXT, -f FILE or --tokens LIST (see mixlm run --help)");
        return 2;
    }
    if (chat && tokens_arg) {
        cli_error("run", "--chat needs a text prompt, not --tokens");
        return 2;
    }
    if (logprobs >= 0 && !json) {
        cli_error("run", "--logprobs needs --json");
        return 2;
    }
    mx_type kv_type;
    if (!cli_parse_kv_type(kv_arg, &kv_type)) {
        cli_error("run", "--kv must be f32, f16 or bf16, not '%s'", kv_arg);
        return 2;
    }

    int rc = 1;
    char *model_path = cli_resolve_model(model_arg);
    char *file_text = NULL, *rendered = NULL, *req = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    cli_engine ce;
    memset(&ce, 0, sizeof ce);
    bool engine_open = false;
    mixlm_tokenizer *tok = NULL;
    mixlm_chat_template *tmpl = NULL;
    mixlm_sampler *sampler = NULL;
    mixlm_generator *gen = NULL;
    run_out out;
    memset(&out, 0, sizeof out);
    out.json = json;
    mixlm_status st;

    if (!model_path) {
        cli_error("run", "no model: give -m MODEL or set MIXLM_MODEL (no bundled model was found)");
        goto done;
    }
    if (!mx_file_exists(model_path) && !mx_is_dir(model_path)) {
        cli_error("run", "%s: no such file or folder", model_path);
        goto done;
    }
    if (prompt_file) {
        size_t len = 0;
        st = mx_read_file(prompt_file, 1u << 30, &file_text, &len);
        if (st) {
            cli_lib_error("run", "reading the prompt", st);
            goto done;
        }
        prompt = file_text;
    }

    /* Before the model loads: a model without a chat template fails at once, saying so. */
    if (chat && (st = mixlm_chat_template_load(model_path, &tmpl)) != MIXLM_OK) {
        if (st == MIXLM_ERR_UNSUPPORTED) cli_error("run", "--chat: %s has no chat template", model_path);
        else cli_lib_error("run", "loading the chat template", st);
        goto done;
    }
    cli_progress prog;
    cli_progress_init(&prog, "run");
    if (cli_engine_open(&ce, "run", model_path, (int)threads, (int32_t)ctx, kv_type) != 0) goto done;
    engine_open = true;
    /* A large tokenizer.json (Gemma 3's has 33 MB) takes a moment to parse. */
    cli_progress_stage(&prog, "loading the tokenizer");
    st = mixlm_tokenizer_from_model(ce.model, &tok);
    cli_progress_clear(&prog);
    if (st && !tokens_arg) {
        cli_lib_error("run", "loading the tokenizer", st);
        goto done;
    }
    if (chat) {
        mx_buf b = {0};
        mx_buf_puts(&b, "[");
        if (system_msg) {
            mx_buf_puts(&b, "{\"role\":\"system\",\"content\":");
            mx_buf_json_str(&b, system_msg, strlen(system_msg));
            mx_buf_puts(&b, "},");
        }
        mx_buf_puts(&b, "{\"role\":\"user\",\"content\":");
        mx_buf_json_str(&b, prompt, strlen(prompt));
        mx_buf_puts(&b, "}]");
        req = mx_buf_take(&b);
        size_t len = 0;
        st = req ? mixlm_chat_template_render(tmpl, req, true, &rendered, &len) : MIXLM_ERR_NOMEM;
        if (st) {
            cli_lib_error("run", "rendering the chat template", st);
            goto done;
        }
        /* The rendered text carries its own special tokens (BOS included): encode it as text
         * whose special-token strings are parsed, without adding more (transformers'
         * apply_chat_template does the same). */
        st = mixlm_tokenizer_encode(tok, rendered, len, false, &ids, &n_ids);
    } else if (system_msg) {
        cli_error("run", "--system needs --chat");
        rc = 2;
        goto done;
    } else if (tokens_arg) {
        int32_t *t = NULL, n = 0;
        if (!cli_parse_tokens("run", tokens_arg, &t, &n)) {
            rc = 2;
            goto done;
        }
        ids = t;
        n_ids = (size_t)n;
        st = MIXLM_OK;
    } else {
        st = mixlm_tokenizer_encode(tok, prompt, strlen(prompt), true, &ids, &n_ids);
    }
    if (st) {
        cli_lib_error("run", "tokenizing the prompt", st);
        goto done;
    }
    if (n_ids == 0) {
        cli_error("run", "the prompt is empty after tokenization");
        goto done;
    }

    const mixlm_contract *contract = mixlm_executor_contract(ce.ex);
    int64_t n_ctx = mixlm_contract_n_ctx(contract);
    if (n_ctx > 0 && (int64_t)n_ids > n_ctx) {
        cli_error("run", "the prompt has %zu tokens but the context holds %lld (use a shorter prompt or --ctx)",
                  n_ids, (long long)n_ctx);
        goto done;
    }

    /* Sampling: built-in defaults, the model's generation_config.json, then the flags. */
    mixlm_sampler_params sp = cli_sampler_defaults(model_path);
    cli_sampler_flags(&sp, temp, top_k, top_p, min_p);
    if (!isnan(typical_p)) sp.typical_p = typical_p;
    if (!isnan(rep)) sp.repetition_penalty = rep;
    if (!isnan(pres)) sp.presence_penalty = pres;
    if (!isnan(freq)) sp.frequency_penalty = freq;
    if (window >= -1) sp.penalty_window = (int32_t)window;
    if (!have_seed) seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    sp.seed = seed;
    st = mixlm_sampler_create(ce.n_vocab, &sp, &sampler);
    if (st) {
        cli_lib_error("run", "sampler", st);
        goto done;
    }

    int32_t eos[MIXLM_MAX_EOS_IDS];
    int32_t n_eos = ignore_eos ? 0 : mixlm_eos_ids(model_path, tok, chat, eos, MIXLM_MAX_EOS_IDS);
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.max_new_tokens = (int32_t)max_tokens;
    gp.prefill_chunk = (int32_t)chunk;
    gp.eos_ids = eos;
    gp.n_eos_ids = n_eos;
    gp.stop_strings = stops;
    gp.n_stop_strings = n_stops;
    gp.top_logprobs = (int32_t)logprobs;
    gp.cancel = &g_cancel;
    gp.prefill_progress = cli_progress_prefill;
    gp.progress_user = &prog;
    st = mixlm_generator_create(ce.ex, tok, &gp, &gen);
    if (st) {
        cli_lib_error("run", "generator", st);
        goto done;
    }
    out.tok = tok;
    mixlm_gen_result res;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    double t0 = now_seconds();
    st = mixlm_generate(gen, ce.state, sampler, ids, (int32_t)n_ids, on_event, &out, &res);
    double total = now_seconds() - t0;
    cli_progress_clear(&prog); /* cancelled or failed during the prompt */
    signal(SIGINT, SIG_DFL);
    if (st) {
        if (!json) fflush(stdout);
        cli_lib_error("run", "generation", st);
        goto done;
    }
    if (out.write_failed) {
        cli_error("run", "writing to stdout failed");
        goto done;
    }
    uint64_t kv_bytes = mixlm_state_bytes(ce.state);
    double pp = res.prefill_seconds > 0 ? res.n_prompt / res.prefill_seconds : 0;
    double tg = res.decode_seconds > 0 ? res.n_generated / res.decode_seconds : 0;
    if (json) {
        mx_buf b = {0};
        mx_buf_puts(&b, "{\"text\":");
        mx_buf_json_str(&b, out.text.data ? out.text.data : "", out.text.len);
        mx_buf_puts(&b, ",\"tokens\":[");
        for (int32_t i = 0; i < res.n_generated; i++) mx_buf_printf(&b, "%s%d", i ? "," : "", (int)res.tokens[i]);
        mx_buf_printf(&b, "],\"finish_reason\":\"%s\",\"prompt_tokens\":%d,\"generated_tokens\":%d,"
                          "\"prompt_seconds\":%.6f,\"generation_seconds\":%.6f,"
                          "\"prompt_tokens_per_second\":%.3f,\"generation_tokens_per_second\":%.3f,"
                          "\"kv_bytes\":%llu,\"seed\":%llu",
                      mixlm_finish_reason_str(res.finish), (int)res.n_prompt, (int)res.n_generated,
                      res.prefill_seconds, res.decode_seconds, pp, tg, (unsigned long long)kv_bytes,
                      (unsigned long long)seed);
        if (logprobs >= 0) {
            mx_buf_puts(&b, ",\"logprobs\":[");
            if (out.lp.len) mx_buf_append(&b, out.lp.data, out.lp.len);
            mx_buf_puts(&b, "]");
        }
        mx_buf_puts(&b, "}\n");
        char *s = mx_buf_take(&b);
        if (!s || fputs(s, stdout) == EOF || fflush(stdout) != 0) {
            free(s);
            cli_error("run", "writing to stdout failed");
            goto done;
        }
        free(s);
    } else if (isatty(STDOUT_FILENO)) {
        fputc('\n', stdout);
    }
    fprintf(stderr,
            "\nmixlm run: prompt %d tokens in %.3f s (%.1f tok/s); generated %d tokens in %.3f s "
            "(%.1f tok/s); finish: %s; KV %.1f MiB (%llu bytes); seed %llu; total %.3f s\n",
            (int)res.n_prompt, res.prefill_seconds, pp, (int)res.n_generated, res.decode_seconds, tg,
            mixlm_finish_reason_str(res.finish), (double)kv_bytes / (1024.0 * 1024.0),
            (unsigned long long)kv_bytes, (unsigned long long)seed, total);
    if (res.finish == MIXLM_FINISH_CONTEXT_FULL)
        fprintf(stderr, "mixlm run: stopped: the context (%lld tokens) is full\n", (long long)n_ctx);
    rc = res.finish == MIXLM_FINISH_CANCELLED ? EXIT_INTERRUPTED : 0;
done:
    mixlm_generator_free(gen);
    mixlm_sampler_free(sampler);
    mixlm_chat_template_free(tmpl);
    mixlm_tokenizer_free(tok);
    if (engine_open) cli_engine_close(&ce);
    mx_buf_free(&out.text);
    mx_buf_free(&out.lp);
    free(ids);
    free(req);
    free(rendered);
    free(file_text);
    free(model_path);
    return rc;
}
