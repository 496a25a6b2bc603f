/* jinja.h: a Jinja template interpreter that renders chat templates exactly as the
 * @huggingface/jinja reference does (its lexer, whitespace rules, value model and filters).
 *
 * Parse once (mx_jinja_parse), render many times (mx_jinja_render) with variables given as a
 * cJSON object. Everything about a render is bounded: output size, evaluation steps, nesting
 * depth and scratch memory, so a hostile template or input ends with MIXLM_ERR_TEMPLATE, never
 * a crash or a hang. Errors carry the template line: "template line N: message".
 */
#ifndef MX_JINJA_H
#define MX_JINJA_H

#include "mixlm.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define MX_JINJA_MAX_SOURCE (4u << 20) /* bytes of template text */

typedef struct mx_jinja mx_jinja;

typedef struct mx_jinja_opts {
    int64_t now;          /* strftime_now() time in unix seconds; 0 = the clock */
    uint64_t max_output;  /* bytes of rendered text (0 = default 64 MiB) */
    uint64_t max_steps;   /* evaluation steps (0 = default 50 million) */
    uint64_t max_memory;  /* scratch bytes for one render (0 = default 1 GiB) */
    uint32_t max_depth;   /* nested evaluation depth (0 = default 256) */
} mx_jinja_opts;

/* Parse template text. On failure the last error is "template line N: ...". */
mixlm_status mx_jinja_parse(const char *src, size_t len, mx_jinja **out);
void mx_jinja_free(mx_jinja *j);

/* Render with the members of vars (a cJSON object, may be NULL) as top-level variables.
 * opts may be NULL. *out is malloc'd and NUL-terminated; the caller frees it. */
mixlm_status mx_jinja_render(const mx_jinja *j, const cJSON *vars, const mx_jinja_opts *opts,
                             char **out, size_t *len);

#endif /* MX_JINJA_H */
