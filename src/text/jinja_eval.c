/* jinja_eval.c: the Jinja interpreter (placeholder until the interpreter lands). */
#include "text/jinja.h"

#include "common/util.h"

#include <stdlib.h>

struct mx_jinja {
    char *src;
};

mixlm_status mx_jinja_parse(const char *src, size_t len, mx_jinja **out) {
    *out = NULL;
    if (len > MX_JINJA_MAX_SOURCE) return mx_err(MIXLM_ERR_TEMPLATE, "template too large");
    mx_jinja *j = mx_calloc(1, sizeof *j);
    if (!j || !(j->src = mx_strndup(src, len))) {
        free(j);
        return MIXLM_ERR_NOMEM;
    }
    *out = j;
    return MIXLM_OK;
}

void mx_jinja_free(mx_jinja *j) {
    if (!j) return;
    free(j->src);
    free(j);
}

mixlm_status mx_jinja_render(const mx_jinja *j, const cJSON *vars, const mx_jinja_opts *opts,
                             char **out, size_t *len) {
    (void)j; (void)vars; (void)opts;
    *out = NULL;
    if (len) *len = 0;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "chat template rendering is not implemented yet");
}
