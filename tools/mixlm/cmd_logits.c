/* cmd_logits.c: `mixlm logits`: run a token sequence through the native engine and write the
 * raw logits of every position (little-endian f32, [n_tokens][n_vocab]), optionally feeding the
 * prompt in chunks through the stateful path. */
#include "cli.h"
#include "cli_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixlm logits MODEL --tokens ID,ID,... --out FILE [options]\n"
            "\n"
            "Write the logits after each token: raw little-endian float32, row-major\n"
            "[n_tokens][n_vocab]; row i predicts token i+1.\n"
            "\n"
            "  MODEL             a .gguf file or a Hugging Face model folder\n"
            "  --tokens LIST     comma-separated token ids (or @FILE: ids from a file)\n"
            "  --out FILE        where to write the logits ('-' = stdout)\n"
            "  --chunk N         feed the tokens N at a time through the KV state (default: all\n"
            "                    at once)\n"
            "  --threads N       worker threads (default %d)\n"
            "  --kv f32|f16|bf16 KV cache element type (default " CLI_DEFAULT_KV ")\n"
            "  --reference       use the scalar reference kernels\n",
            cli_default_threads());
}

int cmd_logits(int argc, char **argv) {
    const char *model_path = NULL, *tokens_arg = NULL, *out_path = NULL, *kv_arg = CLI_DEFAULT_KV;
    long chunk = 0, threads = cli_default_threads();
    bool reference = false;
    const cli_opt opts[] = {
        CLI_OPT_STR("--tokens", NULL, &tokens_arg),
        CLI_OPT_STR("--out", NULL, &out_path),
        CLI_OPT_LONG("--chunk", NULL, &chunk, 1, 1 << 20),
        CLI_OPT_LONG("--threads", NULL, &threads, 1, 256),
        CLI_OPT_STR("--kv", NULL, &kv_arg),
        CLI_OPT_FLAG("--reference", NULL, &reference),
        CLI_OPT_END};
    const cli_args spec = {"logits", opts, usage, &model_path, "model", NULL};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    if (!model_path || !tokens_arg || !out_path) {
        cli_error("logits", "need MODEL, --tokens and --out (see mixlm logits --help)");
        return 2;
    }
    mx_type kv_type;
    if (!cli_parse_kv_type(kv_arg, &kv_type)) {
        cli_error("logits", "--kv must be f32, f16 or bf16, not '%s'", kv_arg);
        return 2;
    }

    int32_t *tokens = NULL;
    int32_t n_tokens = 0;
    if (!cli_parse_tokens("logits", tokens_arg, &tokens, &n_tokens)) return 2;

    int rc = 1;
    cli_engine ce;
    float *logits = NULL;
    FILE *f = NULL;
    if (reference) mixlm_force_reference_kernels(true);
    if (cli_engine_open(&ce, "logits", model_path, (int)threads, n_tokens, kv_type) != 0) goto done;
    const int32_t n_vocab = ce.n_vocab;
    logits = malloc((size_t)n_tokens * (size_t)n_vocab * sizeof(float));
    if (!logits) {
        cli_error("logits", "out of memory for %d x %d logits", n_tokens, n_vocab);
        goto done;
    }
    const int32_t step = chunk > 0 ? (int32_t)MX_MIN(chunk, (long)n_tokens) : n_tokens;
    for (int32_t done = 0; done < n_tokens; done += step) {
        const int32_t n = MX_MIN(step, n_tokens - done);
        if (cli_engine_feed(&ce, "logits", tokens + done, n, logits + (size_t)done * (size_t)n_vocab,
                            true) != 0)
            goto done;
    }
    f = strcmp(out_path, "-") ? fopen(out_path, "wb") : stdout;
    if (!f) {
        cli_error("logits", "cannot open %s for writing: %s", out_path, strerror(errno));
        goto done;
    }
    /* The file format is little-endian f32; x86-64 and arm64 hosts store floats that way. */
    if (fwrite(logits, sizeof(float), (size_t)n_tokens * (size_t)n_vocab, f) !=
            (size_t)n_tokens * (size_t)n_vocab ||
        fflush(f) != 0) {
        cli_error("logits", "writing %s failed: %s", out_path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (f && f != stdout && fclose(f) != 0 && rc == 0) {
        cli_error("logits", "closing %s failed: %s", out_path, strerror(errno));
        rc = 1;
    }
    free(logits);
    free(tokens);
    cli_engine_close(&ce);
    return rc;
}
