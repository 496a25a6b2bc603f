/* cmd_perplexity.c: `mixlm perplexity`: the perplexity of a token sequence (or of a text file,
 * through the model's tokenizer) under the native engine, scored in independent windows of
 * --ctx tokens. */
#include "cli.h"
#include "cli_engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Logit rows computed per call: bounds the buffer at ROWS x n_vocab floats. */
#define ROWS 32

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixlm perplexity MODEL (--tokens LIST_OR_FILE | --file TEXT) [options]\n"
            "\n"
            "Perplexity exp(mean negative log-likelihood of each next token). The sequence is\n"
            "cut into windows of --ctx tokens, each scored from an empty state: every token\n"
            "of a window but the first is predicted from the ones before it in that window.\n"
            "\n"
            "  --tokens X        comma-separated ids, or a file of ids (commas or spaces)\n"
            "  --file TEXT       a UTF-8 text file, tokenized with the model's tokenizer\n"
            "                    (adds BOS the way the tokenizer's post-processor does)\n"
            "  --ctx N           window length (default: 512, or the sequence if shorter)\n"
            "  --threads N       worker threads (default %d)\n"
            "  --kv f32|f16|bf16 KV cache element type (default " CLI_DEFAULT_KV ")\n"
            "  --json            print one JSON object instead of text\n",
            cli_default_threads());
}

/* -log softmax(row)[target], in double. */
static double nll(const float *row, int32_t n_vocab, int32_t target) {
    float mx = row[0];
    for (int32_t i = 1; i < n_vocab; i++) mx = row[i] > mx ? row[i] : mx;
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)row[i] - mx);
    return log(sum) + mx - (double)row[target];
}

static int tokens_from_text(const char *model_path, const char *file, int32_t **out, int32_t *n) {
    char *text = NULL;
    size_t len = 0;
    mixlm_model *model = NULL;
    mixlm_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    mixlm_status st = mx_read_file(file, (uint64_t)1 << 30, &text, &len);
    if (st) {
        cli_lib_error("perplexity", file, st);
        return 0;
    }
    cli_progress prog;
    cli_progress_init(&prog, "perplexity");
    cli_progress_stage(&prog, "tokenizing %s", file);
    st = mixlm_model_load(model_path, &model);
    if (!st) st = mixlm_tokenizer_from_model(model, &tok);
    if (!st) st = mixlm_tokenizer_encode(tok, text, len, true, &ids, &n_ids);
    cli_progress_clear(&prog);
    if (st) cli_lib_error("perplexity", "tokenizing the text", st);
    mixlm_tokenizer_free(tok);
    mixlm_model_free(model);
    free(text);
    if (st) return 0;
    if (n_ids > INT32_MAX) {
        cli_error("perplexity", "%s: too many tokens", file);
        free(ids);
        return 0;
    }
    *out = ids;
    *n = (int32_t)n_ids;
    return 1;
}

int cmd_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *tokens_arg = NULL, *file = NULL, *kv_arg = CLI_DEFAULT_KV;
    long ctx = 0, threads = cli_default_threads();
    bool json = false;
    const cli_opt opts[] = {
        CLI_OPT_STR("--tokens", NULL, &tokens_arg),
        CLI_OPT_STR("--file", NULL, &file),
        CLI_OPT_LONG("--ctx", NULL, &ctx, 2, 1 << 24),
        CLI_OPT_LONG("--threads", NULL, &threads, 1, 256),
        CLI_OPT_STR("--kv", NULL, &kv_arg),
        CLI_OPT_FLAG("--json", NULL, &json),
        CLI_OPT_END};
    const cli_args spec = {"perplexity", opts, usage, &model_path, "model", NULL};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    if (!model_path || (!tokens_arg) == (!file)) {
        cli_error("perplexity", "need MODEL and one of --tokens or --file (see --help)");
        return 2;
    }
    mx_type kv_type;
    if (!cli_parse_kv_type(kv_arg, &kv_type)) {
        cli_error("perplexity", "--kv must be f32, f16 or bf16, not '%s'", kv_arg);
        return 2;
    }

    int32_t *tokens = NULL, n_tokens = 0;
    if (tokens_arg) {
        /* A list when it looks like one and names no file; else a file of ids. */
        const char *arg = tokens_arg;
        char buf[4096];
        if (tokens_arg[0] != '@' && mx_file_exists(tokens_arg)) {
            snprintf(buf, sizeof buf, "@%s", tokens_arg);
            arg = buf;
        }
        if (!cli_parse_tokens("perplexity", arg, &tokens, &n_tokens)) return 2;
    } else if (!tokens_from_text(model_path, file, &tokens, &n_tokens)) {
        return 1;
    }
    if (n_tokens < 2) {
        cli_error("perplexity", "need at least 2 tokens, got %d", n_tokens);
        free(tokens);
        return 1;
    }
    if (ctx == 0) ctx = MX_MIN(512, n_tokens);

    int rc = 1;
    cli_engine ce;
    float *logits = NULL;
    if (cli_engine_open(&ce, "perplexity", model_path, (int)threads, (int32_t)ctx, kv_type)) goto done;
    const int32_t n_vocab = ce.n_vocab;
    logits = malloc((size_t)ROWS * (size_t)n_vocab * sizeof(float));
    if (!logits) {
        cli_error("perplexity", "out of memory");
        goto done;
    }
    cli_progress prog;
    cli_progress_init(&prog, "perplexity");
    double sum = 0.0;
    int64_t n_scored = 0, n_windows = 0;
    for (int32_t w0 = 0; w0 + 1 < n_tokens; w0 += (int32_t)ctx) {
        const int32_t wn = (int32_t)MX_MIN((long)(n_tokens - w0), ctx);
        if (wn < 2) break;
        cli_engine_reset(&ce);
        n_windows++;
        for (int32_t i = 0; i < wn; i += ROWS) {
            const int32_t n = MX_MIN(ROWS, wn - i);
            if (cli_engine_feed(&ce, "perplexity", tokens + w0 + i, n, logits, true)) goto done;
            for (int32_t r = 0; r < n; r++) {
                if (i + r + 1 >= wn) break; /* the window's last token predicts nothing scored */
                const int32_t target = tokens[w0 + i + r + 1];
                if (target < 0 || target >= n_vocab) {
                    cli_error("perplexity", "token id %d out of range", target);
                    goto done;
                }
                sum += nll(logits + (size_t)r * (size_t)n_vocab, n_vocab, target);
                n_scored++;
            }
            cli_progress_count(&prog, "tokens", w0 + i + n, n_tokens);
        }
    }
    cli_progress_clear(&prog);
    const double mean = sum / (double)n_scored, ppl = exp(mean);
    if (json)
        printf("{\"perplexity\": %.6f, \"mean_nll\": %.8f, \"n_tokens\": %d, \"n_scored\": %lld, "
               "\"ctx\": %ld, \"n_windows\": %lld}\n",
               ppl, mean, n_tokens, (long long)n_scored, ctx, (long long)n_windows);
    else
        printf("perplexity %.4f (mean nll %.6f over %lld predictions, %lld window(s) of up to "
               "%ld tokens)\n",
               ppl, mean, (long long)n_scored, (long long)n_windows, ctx);
    rc = 0;
done:
    free(logits);
    free(tokens);
    cli_engine_close(&ce);
    return rc;
}
