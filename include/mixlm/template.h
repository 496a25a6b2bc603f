/* mixlm/template.h: chat templates: the Jinja template a model ships (tokenizer_config.json
 * `chat_template`, chat_template.jinja, or GGUF `tokenizer.chat_template`) rendered for a
 * conversation into the exact prompt text the model was trained on. Included by mixlm.h.
 *
 * Rendering follows the @huggingface/jinja interpreter (the one transformers.js uses) byte for
 * byte, including its number printing, `tojson` and whitespace rules; docs/templates.md lists
 * the supported syntax and the known differences.
 *
 * The template sees the variables transformers passes: `messages`, `tools` (none when the
 * request has no tools), `add_generation_prompt`, the special token strings `bos_token`,
 * `eos_token`, `unk_token`, `pad_token` (only those the model defines), and every key of the
 * request's `chat_template_kwargs` (e.g. `enable_thinking`) as a top-level variable.
 *
 * A loaded template is immutable (except for the set_* calls below, which must not run
 * concurrently with a render): several threads may render with it at once.
 */
#ifndef MIXLM_TEMPLATE_H
#define MIXLM_TEMPLATE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mixlm_chat_template mixlm_chat_template;

/* ---- Loading ------------------------------------------------------------------------------ */

/* Load the chat template of a model. path is
 *  - a model folder or any folder holding tokenizer_config.json: its `chat_template` (a string,
 *    or a list of {name, template} objects, of which "default" is used, and "tool_use" when a
 *    request has tools), else a chat_template.jinja file in the folder;
 *  - a tokenizer_config.json file;
 *  - a .gguf file: `tokenizer.chat_template` (and `tokenizer.chat_template.tool_use`).
 * Special tokens come from tokenizer_config.json (`bos_token` etc., strings or {"content": ...}
 * objects) or from GGUF (`tokenizer.ggml.bos_token_id` ... looked up in `tokenizer.ggml.tokens`).
 * A model without a template is MIXLM_ERR_UNSUPPORTED ("... has no chat template"); a template
 * that does not parse is MIXLM_ERR_TEMPLATE with its line number.
 * On success *out is a new template the caller frees with mixlm_chat_template_free(). */
MIXLM_API mixlm_status mixlm_chat_template_load(const char *path, mixlm_chat_template **out);

/* Like mixlm_chat_template_load, but the template text comes from template_file (a .jinja file)
 * and only the special tokens come from model_path. Either may be NULL (no template file: the
 * model's template; no model: no special tokens). */
MIXLM_API mixlm_status mixlm_chat_template_load_with_file(const char *model_path,
                                                          const char *template_file,
                                                          mixlm_chat_template **out);

/* Parse template text (len bytes, no NUL needed; it may be freed after the call). No special
 * tokens are set; add them with mixlm_chat_template_set_token(). */
MIXLM_API mixlm_status mixlm_chat_template_from_string(const char *source, size_t len,
                                                       mixlm_chat_template **out);

MIXLM_API void mixlm_chat_template_free(mixlm_chat_template *tmpl);

/* ---- Settings ------------------------------------------------------------------------------- */

/* Set (value != NULL) or remove (value == NULL) a special token variable: name is one of
 * "bos_token", "eos_token", "unk_token", "pad_token". */
MIXLM_API mixlm_status mixlm_chat_template_set_token(mixlm_chat_template *tmpl, const char *name,
                                                     const char *value);

/* The special token string the template will see for name ("bos_token", ...), NULL if unset.
 * Points into tmpl. */
MIXLM_API const char *mixlm_chat_template_token(const mixlm_chat_template *tmpl,
                                                const char *name);

/* The template text ("default" when there are several). Points into tmpl. */
MIXLM_API const char *mixlm_chat_template_source(const mixlm_chat_template *tmpl);

/* Fix the time strftime_now() sees to unix_seconds, shown in the local time zone (TZ), for
 * reproducible prompts and tests; 0 goes back to the clock (the default). */
MIXLM_API void mixlm_chat_template_set_time(mixlm_chat_template *tmpl, int64_t unix_seconds);

/* ---- Rendering ------------------------------------------------------------------------------ */

/* Render the prompt for a conversation. request_json (NUL-terminated) is either a JSON array of
 * messages ({"role": ..., "content": ...}, with tool_calls etc. as the template expects) or an
 * object shaped like an OpenAI chat request: {"messages": [...], "tools": [...] (optional),
 * "chat_template_kwargs": {...} (optional)}; other keys are ignored.
 * On success *out is a malloc'd NUL-terminated string the caller frees with free() and *len its
 * length in bytes (len may be NULL). Errors: MIXLM_ERR_FORMAT for bad request JSON,
 * MIXLM_ERR_TEMPLATE for a template error (raise_exception, bad operation, limits exceeded),
 * with "template line N: ..." in mixlm_last_error(). */
MIXLM_API mixlm_status mixlm_chat_template_render(const mixlm_chat_template *tmpl,
                                                  const char *request_json,
                                                  bool add_generation_prompt, char **out,
                                                  size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_TEMPLATE_H */
