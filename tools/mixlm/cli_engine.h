/* cli_engine.h: what `mixlm logits` and `mixlm perplexity` share: argument parsing for token
 * lists, thread counts and KV types, and a loaded model with the native engine and one
 * sequence state fed step by step. */
#ifndef MIXLM_CLI_ENGINE_H
#define MIXLM_CLI_ENGINE_H

#include "engine/engine.h"

#include <stdbool.h>
#include <stdint.h>

/* The model behind the native executor and one sequence state: the same stateful path the
 * generation loop uses (mixlm_decode), so --chunk exercises the real KV state handling. */
typedef struct cli_engine {
    mixlm_model *model;
    mixlm_executor *ex;
    mixlm_state *state;
    int32_t n_vocab;
} cli_engine;

int cli_default_threads(void);
/* 1 when s is a whole decimal number in [lo, hi]. */
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* The KV cache element type of every command that takes --kv: f16 halves the cache's memory
 * and the bytes long-context decoding reads (docs/cli.md has the measured cost in accuracy). */
#define CLI_DEFAULT_KV "f16"
/* "f32" | "f16" | "bf16". */
int cli_parse_kv_type(const char *s, mx_type *out);
/* The library's name of an element type cli_parse_kv_type gave. */
mixlm_dtype cli_kv_dtype(mx_type t);
/* "2,62,166" or "@FILE" (ids separated by commas or white space). Prints the error. */
int cli_parse_tokens(const char *cmd, const char *arg, int32_t **out, int32_t *n_out);
/* Parse ids from text (commas or white space). 0 on bad input (error printed). */
int cli_parse_token_text(const char *cmd, const char *what, const char *text, int32_t **out,
                         int32_t *n_out);

/* Load the model and make an engine and a state for n_ctx positions. 0 on success; errors are
 * printed. */
int cli_engine_open(cli_engine *ce, const char *cmd, const char *model_path, int threads,
                    int32_t n_ctx, mx_type kv_type);
/* Feed n tokens at the current position; logits: [n][n_vocab] (all) or [n_vocab], or NULL. */
int cli_engine_feed(cli_engine *ce, const char *cmd, const int32_t *tokens, int32_t n,
                    float *logits, bool all);
void cli_engine_reset(cli_engine *ce);
void cli_engine_close(cli_engine *ce);

#endif
