/* request.c: parsing and validating OpenAI chat and completion requests, and the OpenAI error
 * shape. Every field is checked for type and range; a bad one is a 400 naming the parameter. */
#include "server/srv_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Errors ---------------------------------------------------------------------------------- */

void mx_srv_error_set(mx_srv_error *e, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

int mx_srv_bad_param(mx_srv_error *e, const char *param, const char *fmt, ...) {
    e->status = 400;
    e->type = "invalid_request_error";
    e->code = NULL;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return 0;
}

char *mx_srv_error_json(const mx_srv_error *e) {
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    /* The message may quote client bytes cut at a buffer boundary: keep it valid UTF-8. */
    char msg[sizeof e->message];
    snprintf(msg, sizeof msg, "%s", e->message);
    size_t n = strlen(msg);
    while (n > 0 && !mx_utf8_valid(msg, n)) msg[--n] = 0;
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : "server_error");
    if (e->param[0]) cJSON_AddStringToObject(err, "param", e->param);
    else cJSON_AddNullToObject(err, "param");
    if (e->code) cJSON_AddStringToObject(err, "code", e->code);
    else cJSON_AddNullToObject(err, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- Field helpers ------------------------------------------------------------------------- */

/* The field, or NULL when absent or JSON null (OpenAI clients send null for "default"). */
static const cJSON *field(const cJSON *root, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!f || cJSON_IsNull(f)) return NULL;
    return f;
}

static int get_number(const cJSON *root, const char *name, double lo, double hi, float *out,
                      mx_srv_error *e) {
    const cJSON *f = field(root, name);
    if (!f) return 1;
    if (!cJSON_IsNumber(f)) return mx_srv_bad_param(e, name, "'%s' must be a number", name);
    double v = f->valuedouble;
    if (!isfinite(v) || v < lo || v > hi)
        return mx_srv_bad_param(e, name, "'%s' must be between %g and %g", name, lo, hi);
    *out = (float)v;
    return 1;
}

/* An integer in [lo, hi]; absent leaves *out unchanged and sets *given = 0. */
static int get_int(const cJSON *root, const char *name, double lo, double hi, int64_t *out,
                   int *given, mx_srv_error *e) {
    const cJSON *f = field(root, name);
    if (given) *given = 0;
    if (!f) return 1;
    if (!cJSON_IsNumber(f)) return mx_srv_bad_param(e, name, "'%s' must be an integer", name);
    double v = f->valuedouble;
    if (!isfinite(v) || v != floor(v))
        return mx_srv_bad_param(e, name, "'%s' must be an integer", name);
    if (v < lo || v > hi)
        return mx_srv_bad_param(e, name, "'%s' must be between %.0f and %.0f", name, lo, hi);
    *out = (int64_t)v;
    if (given) *given = 1;
    return 1;
}

static int get_bool(const cJSON *root, const char *name, int *out, mx_srv_error *e) {
    const cJSON *f = field(root, name);
    if (!f) return 1;
    if (!cJSON_IsBool(f)) return mx_srv_bad_param(e, name, "'%s' must be a boolean", name);
    *out = cJSON_IsTrue(f) ? 1 : 0;
    return 1;
}

static int parse_stop(const cJSON *root, mx_srv_request *r, mx_srv_error *e) {
    const cJSON *f = field(root, "stop");
    if (!f) return 1;
    if (cJSON_IsString(f)) {
        if (!f->valuestring[0]) return 1;
        r->stop[r->n_stop] = mx_strdup(f->valuestring);
        if (!r->stop[r->n_stop]) return mx_srv_bad_param(e, "stop", "out of memory");
        r->n_stop++;
        return 1;
    }
    if (!cJSON_IsArray(f))
        return mx_srv_bad_param(e, "stop", "'stop' must be a string or an array of strings");
    if (cJSON_GetArraySize(f) > MX_SRV_MAX_STOP)
        return mx_srv_bad_param(e, "stop", "'stop' may hold at most %d strings", MX_SRV_MAX_STOP);
    const cJSON *it;
    cJSON_ArrayForEach(it, f) {
        if (!cJSON_IsString(it))
            return mx_srv_bad_param(e, "stop", "'stop' must be a string or an array of strings");
        if (!it->valuestring[0]) continue;
        if (strlen(it->valuestring) > 256)
            return mx_srv_bad_param(e, "stop", "a stop string may be at most 256 bytes");
        r->stop[r->n_stop] = mx_strdup(it->valuestring);
        if (!r->stop[r->n_stop]) return mx_srv_bad_param(e, "stop", "out of memory");
        r->n_stop++;
    }
    return 1;
}

static int parse_logit_bias(const cJSON *root, mx_srv_request *r, mx_srv_error *e) {
    const cJSON *f = field(root, "logit_bias");
    if (!f) return 1;
    if (!cJSON_IsObject(f))
        return mx_srv_bad_param(e, "logit_bias", "'logit_bias' must be an object mapping token ids to numbers");
    const cJSON *it;
    cJSON_ArrayForEach(it, f) {
        if (r->sp.n_logit_bias >= MX_SRV_MAX_LOGIT_BIAS)
            return mx_srv_bad_param(e, "logit_bias", "'logit_bias' may hold at most %d entries",
                                    MX_SRV_MAX_LOGIT_BIAS);
        const char *k = it->string;
        char *end = NULL;
        long id = k && *k ? strtol(k, &end, 10) : -1;
        if (!k || !*k || *end || id < 0 || id > INT32_MAX)
            return mx_srv_bad_param(e, "logit_bias", "'logit_bias' keys must be token ids");
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < -100 ||
            it->valuedouble > 100)
            return mx_srv_bad_param(e, "logit_bias", "'logit_bias' values must be numbers between -100 and 100");
        r->sp.bias_ids[r->sp.n_logit_bias] = (int32_t)id;
        r->sp.bias_values[r->sp.n_logit_bias] = (float)it->valuedouble;
        r->sp.n_logit_bias++;
    }
    return 1;
}

/* A completion prompt: a string, an array of one string, an array of token ids, or an array
 * holding one array of token ids. Several prompts would need n > 1 choices: rejected. */
static int parse_prompt(const cJSON *root, mx_srv_request *r, mx_srv_error *e) {
    const cJSON *f = field(root, "prompt");
    if (!f) return mx_srv_bad_param(e, "prompt", "'prompt' is required");
    if (cJSON_IsArray(f) && cJSON_GetArraySize(f) == 1 &&
        (cJSON_IsString(f->child) || cJSON_IsArray(f->child)))
        f = f->child;
    if (cJSON_IsString(f)) {
        r->prompt_len = strlen(f->valuestring);
        r->prompt_text = mx_strdup(f->valuestring);
        if (!r->prompt_text) return mx_srv_bad_param(e, "prompt", "out of memory");
        return 1;
    }
    if (!cJSON_IsArray(f))
        return mx_srv_bad_param(e, "prompt", "'prompt' must be a string or an array of token ids");
    int n = cJSON_GetArraySize(f);
    if (n == 0) return mx_srv_bad_param(e, "prompt", "'prompt' must not be empty");
    r->prompt_ids = mx_calloc((size_t)n, sizeof(int32_t));
    if (!r->prompt_ids) return mx_srv_bad_param(e, "prompt", "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, f) {
        if (cJSON_IsString(it) || cJSON_IsArray(it))
            return mx_srv_bad_param(e, "prompt", "only one prompt per request is supported (n = 1)");
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
            it->valuedouble != floor(it->valuedouble) || it->valuedouble < 0 ||
            it->valuedouble > INT32_MAX)
            return mx_srv_bad_param(e, "prompt", "'prompt' token ids must be non-negative integers");
        r->prompt_ids[r->n_prompt_ids++] = (int32_t)it->valuedouble;
    }
    return 1;
}

static int is_text_parts(const cJSON *content) {
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
            !cJSON_IsString(text))
            return 0;
    }
    return 1;
}

static int parse_messages(const cJSON *root, mx_srv_error *e) {
    const cJSON *msgs = field(root, "messages");
    if (!msgs) return mx_srv_bad_param(e, "messages", "'messages' is required");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return mx_srv_bad_param(e, "messages", "'messages' must be a non-empty array");
    int i = 0;
    const cJSON *m;
    char name[64];
    cJSON_ArrayForEach(m, msgs) {
        snprintf(name, sizeof name, "messages[%d]", i);
        if (!cJSON_IsObject(m)) return mx_srv_bad_param(e, name, "'%s' must be an object", name);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role))
            return mx_srv_bad_param(e, name, "'%s.role' must be a string", name);
        static const char *roles[] = {"system", "developer", "user", "assistant", "tool"};
        int ok = 0;
        for (size_t k = 0; k < MX_ARRAY_LEN(roles); k++) ok |= !strcmp(role->valuestring, roles[k]);
        if (!ok)
            return mx_srv_bad_param(e, name, "'%s.role' must be one of system, developer, user, assistant, tool", name);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        int has_calls = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(m, "tool_calls"));
        if (!content || cJSON_IsNull(content)) {
            if (strcmp(role->valuestring, "assistant") != 0 || !has_calls)
                return mx_srv_bad_param(e, name, "'%s.content' is required", name);
        } else if (cJSON_IsArray(content)) {
            if (!is_text_parts(content))
                return mx_srv_bad_param(e, name, "'%s.content' parts must be {\"type\": \"text\", \"text\": ...} (only text is supported)", name);
        } else if (!cJSON_IsString(content)) {
            return mx_srv_bad_param(e, name, "'%s.content' must be a string or an array of text parts", name);
        }
        i++;
    }
    return 1;
}

/* ---- The request ------------------------------------------------------------------------------ */

int mx_srv_request_parse(const cJSON *root, mx_req_kind kind, int32_t max_tokens_cap,
                         mx_srv_request *r, mx_srv_error *e) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->max_tokens = -1;
    r->sp.temperature = 1.0f;
    r->sp.top_p = 1.0f;
    r->sp.n_top_logprobs = -1;
    if (!cJSON_IsObject(root))
        return mx_srv_bad_param(e, NULL, "the request body must be a JSON object");

    const cJSON *model = field(root, "model");
    if (model && !cJSON_IsString(model)) return mx_srv_bad_param(e, "model", "'model' must be a string");

    if (kind == MX_REQ_CHAT) {
        if (!parse_messages(root, e)) return 0;
        const cJSON *tools = field(root, "tools");
        if (tools && !cJSON_IsArray(tools)) return mx_srv_bad_param(e, "tools", "'tools' must be an array");
        const cJSON *kw = field(root, "chat_template_kwargs");
        if (kw && !cJSON_IsObject(kw))
            return mx_srv_bad_param(e, "chat_template_kwargs", "'chat_template_kwargs' must be an object");
        const cJSON *rf = field(root, "response_format");
        if (rf) {
            const cJSON *type = cJSON_IsObject(rf) ? cJSON_GetObjectItemCaseSensitive(rf, "type") : NULL;
            if (!cJSON_IsString(type))
                return mx_srv_bad_param(e, "response_format", "'response_format' must be an object with a 'type'");
            if (strcmp(type->valuestring, "text") != 0)
                return mx_srv_bad_param(e, "response_format", "response_format '%.40s' is not supported (only 'text')",
                                        type->valuestring);
        }
    } else {
        if (!parse_prompt(root, r, e)) return 0;
        int echo = 0;
        if (!get_bool(root, "echo", &echo, e)) return 0;
        if (echo) return mx_srv_bad_param(e, "echo", "'echo' is not supported");
        const cJSON *suffix = field(root, "suffix");
        if (suffix && (!cJSON_IsString(suffix) || suffix->valuestring[0]))
            return mx_srv_bad_param(e, "suffix", "'suffix' is not supported");
        int64_t best_of = 1;
        if (!get_int(root, "best_of", 1, 1, &best_of, NULL, e)) return 0;
    }

    int64_t n = 1;
    if (!get_int(root, "n", 1, 1, &n, NULL, e)) {
        snprintf(e->message, sizeof e->message, "only n = 1 is supported");
        return 0;
    }
    if (!get_bool(root, "stream", &r->stream, e)) return 0;
    const cJSON *so = field(root, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so))
            return mx_srv_bad_param(e, "stream_options", "'stream_options' must be an object");
        if (!r->stream)
            return mx_srv_bad_param(e, "stream_options", "'stream_options' is only allowed when 'stream' is true");
        if (!get_bool(so, "include_usage", &r->include_usage, e)) {
            snprintf(e->param, sizeof e->param, "stream_options.include_usage");
            return 0;
        }
    }

    int64_t v = 0;
    int given = 0;
    const char *mt_name = field(root, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if (!get_int(root, mt_name, 1, max_tokens_cap, &v, &given, e)) return 0;
    if (given) r->max_tokens = (int32_t)v;
    else if (kind == MX_REQ_COMPLETION) r->max_tokens = 16; /* the OpenAI completions default */

    if (!get_number(root, "temperature", 0, 2, &r->sp.temperature, e)) return 0;
    if (!get_number(root, "top_p", 0, 1, &r->sp.top_p, e)) return 0;
    if (!get_number(root, "min_p", 0, 1, &r->sp.min_p, e)) return 0;
    if (!get_number(root, "presence_penalty", -2, 2, &r->sp.presence_penalty, e)) return 0;
    if (!get_number(root, "frequency_penalty", -2, 2, &r->sp.frequency_penalty, e)) return 0;
    if (!get_int(root, "top_k", 0, 1e6, &v, &given, e)) return 0;
    if (given) r->sp.top_k = (int32_t)v;
    /* Seeds are 64-bit in OpenAI's API; a JSON number keeps 53 bits exactly, so larger seeds
     * are accepted as the nearest double. */
    if (!get_int(root, "seed", -9223372036854775807.0, 9223372036854775807.0, &v, &r->has_seed, e))
        return 0;
    if (r->has_seed) r->sp.seed = (uint64_t)v;
    if (!parse_stop(root, r, e)) return 0;
    if (!parse_logit_bias(root, r, e)) return 0;

    if (kind == MX_REQ_CHAT) {
        int lp = 0;
        if (!get_bool(root, "logprobs", &lp, e)) return 0;
        int64_t top = 0;
        if (!get_int(root, "top_logprobs", 0, MX_SRV_MAX_TOP_LOGPROBS, &top, &given, e)) return 0;
        if (given && !lp)
            return mx_srv_bad_param(e, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
        if (lp) r->sp.n_top_logprobs = (int32_t)top;
    } else {
        int64_t top = 0;
        if (!get_int(root, "logprobs", 0, MX_SRV_MAX_TOP_LOGPROBS, &top, &given, e)) return 0;
        if (given) r->sp.n_top_logprobs = (int32_t)top;
    }
    return 1;
}

void mx_srv_request_free(mx_srv_request *r) {
    if (!r) return;
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->prompt_text);
    free(r->prompt_ids);
    memset(r, 0, sizeof *r);
}
