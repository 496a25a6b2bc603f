/* cli_engine.c: shared plumbing of `mixlm logits` and `mixlm perplexity` (see cli_engine.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli_engine.h"

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return (int)(n > 8 ? 8 : n);
}

int cli_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cli_parse_kv_type(const char *s, mx_type *out) {
    if (!strcmp(s, "f32")) *out = MX_TYPE_F32;
    else if (!strcmp(s, "f16")) *out = MX_TYPE_F16;
    else if (!strcmp(s, "bf16")) *out = MX_TYPE_BF16;
    else return 0;
    return 1;
}

mixlm_dtype cli_kv_dtype(mx_type t) {
    return t == MX_TYPE_F16 ? MIXLM_DTYPE_F16 : t == MX_TYPE_BF16 ? MIXLM_DTYPE_BF16 : MIXLM_DTYPE_F32;
}

int cli_parse_token_text(const char *cmd, const char *what, const char *text, int32_t **out,
                         int32_t *n_out) {
    *out = NULL;
    *n_out = 0;
    size_t cap = 0, n = 0;
    int32_t *ids = NULL;
    const char *p = text;
    for (;;) {
        while (*p && (isspace((unsigned char)*p) || *p == ',')) p++;
        if (!*p) break;
        if (!isdigit((unsigned char)*p)) {
            cli_error(cmd, "%s: expected a token id at '%.20s'", what, p);
            free(ids);
            return 0;
        }
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || v > INT32_MAX) {
            cli_error(cmd, "%s: token id '%.20s' out of range", what, p);
            free(ids);
            return 0;
        }
        if (n == cap) {
            if (cap >= ((size_t)1 << 28)) {
                cli_error(cmd, "%s: too many token ids", what);
                free(ids);
                return 0;
            }
            cap = cap ? cap * 2 : 256;
            int32_t *g = realloc(ids, cap * sizeof *ids);
            if (!g) {
                cli_error(cmd, "out of memory");
                free(ids);
                return 0;
            }
            ids = g;
        }
        ids[n++] = (int32_t)v;
        p = end;
        if (*p && !isspace((unsigned char)*p) && *p != ',') {
            cli_error(cmd, "%s: unexpected '%c' after a token id", what, *p);
            free(ids);
            return 0;
        }
    }
    if (n == 0) {
        cli_error(cmd, "%s: no token ids", what);
        free(ids);
        return 0;
    }
    *out = ids;
    *n_out = (int32_t)n;
    return 1;
}

int cli_parse_tokens(const char *cmd, const char *arg, int32_t **out, int32_t *n_out) {
    if (arg[0] != '@') return cli_parse_token_text(cmd, "--tokens", arg, out, n_out);
    char *text = NULL;
    size_t len = 0;
    mixlm_status st = mx_read_file(arg + 1, (uint64_t)1 << 30, &text, &len);
    if (st) {
        cli_lib_error(cmd, "reading token file", st);
        return 0;
    }
    int ok = cli_parse_token_text(cmd, arg + 1, text, out, n_out);
    free(text);
    return ok;
}

int cli_engine_open(cli_engine *ce, const char *cmd, const char *model_path, int threads,
                    int32_t n_ctx, mx_type kv_type) {
    memset(ce, 0, sizeof *ce);
    /* Mapping is quick, but checking a large model's tensors and sizing its buffers is not
     * always: say what is happening on a terminal until the engine is ready. */
    cli_progress prog;
    cli_progress_init(&prog, cmd);
    cli_progress_stage(&prog, "loading %s", model_path);
    mixlm_status st = mixlm_model_load(model_path, &ce->model);
    if (st) {
        cli_lib_error(cmd, model_path, st);
        return 1;
    }
    mixlm_native_params p = mixlm_native_default_params();
    p.n_threads = threads;
    p.contract.n_ctx = n_ctx;
    p.contract.kv_dtype = cli_kv_dtype(kv_type);
    st = mixlm_native_executor_create(ce->model, p, &ce->ex);
    if (!st) st = mixlm_state_create(mixlm_executor_contract(ce->ex), &ce->state);
    if (st) {
        cli_lib_error(cmd, model_path, st);
        cli_engine_close(ce);
        return 1;
    }
    ce->n_vocab = ce->model->hp.n_vocab;
    cli_progress_clear(&prog);
    return 0;
}

int cli_engine_feed(cli_engine *ce, const char *cmd, const int32_t *tokens, int32_t n,
                    float *logits, bool all) {
    mixlm_seq seq = {.state = ce->state, .tokens = tokens, .n_tokens = n, .logits_all = all,
                     .logits = logits};
    mixlm_status st = mixlm_decode(ce->ex, &seq, 1);
    if (st) {
        cli_lib_error(cmd, "decode", st);
        return 1;
    }
    return 0;
}

void cli_engine_reset(cli_engine *ce) { mixlm_state_reset(ce->state); }

void cli_engine_close(cli_engine *ce) {
    mixlm_state_free(ce->state);
    mixlm_executor_free(ce->ex);
    mixlm_model_free(ce->model);
    memset(ce, 0, sizeof *ce);
}
