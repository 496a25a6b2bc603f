/* template.c: chat templates: finding a model's template and special tokens (tokenizer_config.json,
 * chat_template.jinja, GGUF metadata) and rendering a chat request through the Jinja interpreter. */
#include "mixlm.h"

#include "common/util.h"
#include "model/gguf.h"
#include "text/jinja.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_BYTES (64u << 20)  /* tokenizer_config.json (some embed large vocabularies) */
#define MAX_REQUEST_BYTES (1u << 30)

static const char *const TOKEN_NAMES[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
#define N_TOKENS 4

struct mixlm_chat_template {
    mx_jinja *def;       /* the default template */
    char *def_src;
    mx_jinja *tool_use;  /* optional "tool_use" template, used when a request has tools */
    char *tool_src;
    char *tokens[N_TOKENS];
    int64_t now;
};

static int token_index(const char *name) {
    for (int i = 0; i < N_TOKENS; i++)
        if (name && !strcmp(name, TOKEN_NAMES[i])) return i;
    return -1;
}

void mixlm_chat_template_free(mixlm_chat_template *t) {
    if (!t) return;
    mx_jinja_free(t->def);
    mx_jinja_free(t->tool_use);
    free(t->def_src);
    free(t->tool_src);
    for (int i = 0; i < N_TOKENS; i++) free(t->tokens[i]);
    free(t);
}

/* Parse src as the default (which == 0) or tool_use (which == 1) template of t. */
static mixlm_status set_source(mixlm_chat_template *t, int which, const char *src, size_t len) {
    mx_jinja *j = NULL;
    mixlm_status st = mx_jinja_parse(src, len, &j);
    if (st != MIXLM_OK) return st;
    char *copy = mx_strndup(src, len);
    if (!copy) {
        mx_jinja_free(j);
        return MIXLM_ERR_NOMEM;
    }
    if (which == 0) {
        mx_jinja_free(t->def);
        free(t->def_src);
        t->def = j;
        t->def_src = copy;
    } else {
        mx_jinja_free(t->tool_use);
        free(t->tool_src);
        t->tool_use = j;
        t->tool_src = copy;
    }
    return MIXLM_OK;
}

mixlm_status mixlm_chat_template_set_token(mixlm_chat_template *t, const char *name,
                                           const char *value) {
    int i = token_index(name);
    if (!t || i < 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "chat template: unknown special token name '%s'",
                      name ? name : "(null)");
    char *copy = NULL;
    if (value && !(copy = mx_strdup(value))) return MIXLM_ERR_NOMEM;
    free(t->tokens[i]);
    t->tokens[i] = copy;
    return MIXLM_OK;
}

const char *mixlm_chat_template_token(const mixlm_chat_template *t, const char *name) {
    int i = token_index(name);
    return t && i >= 0 ? t->tokens[i] : NULL;
}

const char *mixlm_chat_template_source(const mixlm_chat_template *t) {
    return t ? t->def_src : NULL;
}

void mixlm_chat_template_set_time(mixlm_chat_template *t, int64_t unix_seconds) {
    if (t) t->now = unix_seconds;
}

mixlm_status mixlm_chat_template_from_string(const char *source, size_t len,
                                             mixlm_chat_template **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "chat template: out is NULL");
    *out = NULL;
    if (!source && len) return mx_err(MIXLM_ERR_INVALID_ARG, "chat template: source is NULL");
    mixlm_chat_template *t = mx_calloc(1, sizeof *t);
    if (!t) return MIXLM_ERR_NOMEM;
    mixlm_status st = set_source(t, 0, source ? source : "", len);
    if (st != MIXLM_OK) {
        mixlm_chat_template_free(t);
        return st;
    }
    *out = t;
    return MIXLM_OK;
}

/* ---- tokenizer_config.json ------------------------------------------------------------------- */

/* A special token in tokenizer_config.json is a string or an AddedToken object {"content": ...}. */
static const char *config_token_str(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

/* Read tokens (always) and templates (when want_template) from a tokenizer_config.json.
 * *found_template says whether a template was set. */
static mixlm_status load_config(mixlm_chat_template *t, const char *path, int want_template,
                                int *found_template) {
    *found_template = 0;
    char *text = NULL;
    size_t len = 0;
    mixlm_status st = mx_read_file(path, MAX_CONFIG_BYTES, &text, &len);
    if (st != MIXLM_OK) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mx_err(MIXLM_ERR_FORMAT, "%s: not a JSON object", path);
    }
    for (int i = 0; i < N_TOKENS && st == MIXLM_OK; i++) {
        const char *s = config_token_str(cJSON_GetObjectItemCaseSensitive(root, TOKEN_NAMES[i]));
        if (s) st = mixlm_chat_template_set_token(t, TOKEN_NAMES[i], s);
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
    if (st == MIXLM_OK && want_template && ct && !cJSON_IsNull(ct)) {
        if (cJSON_IsString(ct)) {
            st = set_source(t, 0, ct->valuestring, strlen(ct->valuestring));
            if (st == MIXLM_OK) *found_template = 1;
        } else if (cJSON_IsArray(ct)) {
            /* A list of named templates: [{"name": "default", "template": "..."}, ...]. */
            const cJSON *item;
            cJSON_ArrayForEach(item, ct) {
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
                const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(item, "template");
                if (!cJSON_IsString(name) || !cJSON_IsString(tpl)) {
                    st = mx_err(MIXLM_ERR_FORMAT,
                                "%s: chat_template list entries need string name and template",
                                path);
                    break;
                }
                int which = !strcmp(name->valuestring, "default")    ? 0
                            : !strcmp(name->valuestring, "tool_use") ? 1
                                                                     : -1;
                if (which < 0) continue;
                st = set_source(t, which, tpl->valuestring, strlen(tpl->valuestring));
                if (st != MIXLM_OK) break;
                if (which == 0) *found_template = 1;
            }
            if (st == MIXLM_OK && !*found_template && t->tool_use)
                st = mx_err(MIXLM_ERR_FORMAT, "%s: chat_template list has no \"default\" entry",
                            path);
        } else {
            st = mx_err(MIXLM_ERR_FORMAT, "%s: chat_template is neither a string nor a list", path);
        }
    }
    if (st == MIXLM_ERR_TEMPLATE) mx_err_prefix(st, "%s: chat_template: ", path);
    cJSON_Delete(root);
    return st;
}

static mixlm_status load_template_file(mixlm_chat_template *t, const char *path) {
    char *text = NULL;
    size_t len = 0;
    mixlm_status st = mx_read_file(path, MX_JINJA_MAX_SOURCE, &text, &len);
    if (st != MIXLM_OK) return st;
    st = set_source(t, 0, text, len);
    free(text);
    if (st == MIXLM_ERR_TEMPLATE) mx_err_prefix(st, "%s: ", path);
    return st;
}

/* ---- GGUF ------------------------------------------------------------------------------------- */

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int is_gguf_file(const char *path) {
    if (has_suffix(path, ".gguf")) return 1;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(magic, "GGUF", 4);
}

static mixlm_status load_gguf(mixlm_chat_template *t, const char *path, int want_template,
                              int *found_template) {
    *found_template = 0;
    mx_gguf *g = NULL;
    mixlm_status st = mx_gguf_open(path, &g);
    if (st != MIXLM_OK) return st;
    static const char *const id_keys[N_TOKENS] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"};
    for (int i = 0; i < N_TOKENS && st == MIXLM_OK; i++) {
        int64_t id = -1;
        if (mx_gguf_get_i64(g, id_keys[i], &id) != 1 || id < 0) continue;
        const char *s = NULL;
        size_t len = 0;
        if (mx_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)id, &s, &len) != 1) continue;
        char *copy = mx_strndup(s, len);
        if (!copy) {
            st = MIXLM_ERR_NOMEM;
            break;
        }
        free(t->tokens[i]);
        t->tokens[i] = copy;
    }
    if (st == MIXLM_OK && want_template) {
        const char *s = NULL;
        size_t len = 0;
        if (mx_gguf_get_str(g, "tokenizer.chat_template", &s, &len) == 1) {
            st = set_source(t, 0, s, len);
            if (st == MIXLM_OK) *found_template = 1;
        }
        if (st == MIXLM_OK && mx_gguf_get_str(g, "tokenizer.chat_template.tool_use", &s, &len) == 1)
            st = set_source(t, 1, s, len);
        if (st == MIXLM_ERR_TEMPLATE) mx_err_prefix(st, "%s: tokenizer.chat_template: ", path);
    }
    mx_gguf_free(g);
    return st;
}

/* ---- Loading ------------------------------------------------------------------------------------ */

/* Fill t from path: tokens always, the template when want_template. */
static mixlm_status load_path(mixlm_chat_template *t, const char *path, int want_template,
                              int *found) {
    *found = 0;
    if (mx_is_dir(path)) {
        char *cfg = mx_path_join(path, "tokenizer_config.json");
        char *jinja = mx_path_join(path, "chat_template.jinja");
        mixlm_status st = (cfg && jinja) ? MIXLM_OK : MIXLM_ERR_NOMEM;
        int have_cfg = st == MIXLM_OK && mx_file_exists(cfg);
        int have_jinja = st == MIXLM_OK && mx_file_exists(jinja);
        /* chat_template.jinja, when present, wins over the config's template (as in transformers). */
        if (st == MIXLM_OK && have_cfg) st = load_config(t, cfg, want_template && !have_jinja, found);
        if (st == MIXLM_OK && want_template && have_jinja) {
            st = load_template_file(t, jinja);
            if (st == MIXLM_OK) *found = 1;
        }
        if (st == MIXLM_OK && want_template && !*found) {
            /* processor-style chat_template.json: {"chat_template": "..."} */
            char *pj = mx_path_join(path, "chat_template.json");
            if (!pj) st = MIXLM_ERR_NOMEM;
            else if (mx_file_exists(pj)) {
                int found_pj = 0;
                mixlm_chat_template tmp = {0};
                st = load_config(&tmp, pj, 1, &found_pj);
                if (st == MIXLM_OK && found_pj) {
                    st = set_source(t, 0, tmp.def_src, strlen(tmp.def_src));
                    if (st == MIXLM_OK) *found = 1;
                }
                mx_jinja_free(tmp.def);
                mx_jinja_free(tmp.tool_use);
                free(tmp.def_src);
                free(tmp.tool_src);
                for (int i = 0; i < N_TOKENS; i++) free(tmp.tokens[i]);
                have_jinja = 1;
            }
            free(pj);
        }
        if (st == MIXLM_OK && !have_cfg && !have_jinja && want_template)
            st = mx_err(MIXLM_ERR_UNSUPPORTED,
                        "%s has no chat template (no tokenizer_config.json or chat_template.jinja)", path);
        free(cfg);
        free(jinja);
        return st;
    }
    if (!mx_file_exists(path)) return mx_err(MIXLM_ERR_IO, "%s: no such file or folder", path);
    if (is_gguf_file(path)) return load_gguf(t, path, want_template, found);
    /* tokenizer.json (or any other file of a model folder): use the folder */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strcmp(base, "tokenizer.json") || !strcmp(base, "config.json")) {
        char *dir = base == path ? mx_strdup(".") : mx_strndup(path, (size_t)(base - path - 1));
        if (!dir) return MIXLM_ERR_NOMEM;
        mixlm_status st = load_path(t, dir[0] ? dir : "/", want_template, found);
        free(dir);
        return st;
    }
    if (has_suffix(path, ".jinja")) {
        if (!want_template) return MIXLM_OK;
        mixlm_status st = load_template_file(t, path);
        if (st == MIXLM_OK) *found = 1;
        return st;
    }
    return load_config(t, path, want_template, found);
}

mixlm_status mixlm_chat_template_load_with_file(const char *model_path, const char *template_file,
                                                mixlm_chat_template **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "chat template: out is NULL");
    *out = NULL;
    if (!model_path && !template_file)
        return mx_err(MIXLM_ERR_INVALID_ARG, "chat template: no model and no template file");
    mixlm_chat_template *t = mx_calloc(1, sizeof *t);
    if (!t) return MIXLM_ERR_NOMEM;
    mixlm_status st = MIXLM_OK;
    int found = 0;
    if (model_path) st = load_path(t, model_path, template_file == NULL, &found);
    if (st == MIXLM_OK && template_file) {
        st = load_template_file(t, template_file);
        found = st == MIXLM_OK;
    }
    if (st == MIXLM_OK && !found)
        st = mx_err(MIXLM_ERR_UNSUPPORTED, "%s has no chat template", model_path);
    if (st != MIXLM_OK) {
        mixlm_chat_template_free(t);
        return st;
    }
    *out = t;
    return MIXLM_OK;
}

mixlm_status mixlm_chat_template_load(const char *path, mixlm_chat_template **out) {
    if (!path) {
        if (out) *out = NULL;
        return mx_err(MIXLM_ERR_INVALID_ARG, "chat template: path is NULL");
    }
    return mixlm_chat_template_load_with_file(path, NULL, out);
}

/* ---- Rendering ---------------------------------------------------------------------------------- */

mixlm_status mixlm_chat_template_render(const mixlm_chat_template *t, const char *request_json,
                                        bool add_generation_prompt, char **out, size_t *len) {
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!t || !request_json || !out)
        return mx_err(MIXLM_ERR_INVALID_ARG, "chat template render: NULL argument");
    size_t rlen = strlen(request_json);
    if (rlen > MAX_REQUEST_BYTES)
        return mx_err(MIXLM_ERR_NOMEM, "chat template render: request larger than %u bytes",
                      MAX_REQUEST_BYTES);
    cJSON *req = cJSON_ParseWithLength(request_json, rlen);
    if (!req) return mx_err(MIXLM_ERR_FORMAT, "chat request: not valid JSON");
    const cJSON *messages = NULL, *tools = NULL, *kwargs = NULL;
    if (cJSON_IsArray(req)) {
        messages = req;
    } else if (cJSON_IsObject(req)) {
        messages = cJSON_GetObjectItemCaseSensitive(req, "messages");
        tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
        kwargs = cJSON_GetObjectItemCaseSensitive(req, "chat_template_kwargs");
        if (cJSON_IsNull(tools)) tools = NULL;
        if (cJSON_IsNull(kwargs)) kwargs = NULL;
    }
    mixlm_status st = MIXLM_OK;
    if (!cJSON_IsArray(messages))
        st = mx_err(MIXLM_ERR_FORMAT, "chat request: expected an array of messages or an object "
                                      "with a \"messages\" array");
    else if (kwargs && !cJSON_IsObject(kwargs))
        st = mx_err(MIXLM_ERR_FORMAT, "chat request: chat_template_kwargs must be an object");
    if (st != MIXLM_OK) {
        cJSON_Delete(req);
        return st;
    }
    /* The variables, in the order transformers.js spreads them: kwargs override the rest. */
    cJSON *vars = cJSON_CreateObject();
    int ok = vars != NULL;
    ok = ok && cJSON_AddItemReferenceToObject(vars, "messages", (cJSON *)messages);
    ok = ok && cJSON_AddBoolToObject(vars, "add_generation_prompt", add_generation_prompt);
    if (tools) ok = ok && cJSON_AddItemReferenceToObject(vars, "tools", (cJSON *)tools);
    else ok = ok && cJSON_AddNullToObject(vars, "tools");
    for (int i = 0; ok && i < N_TOKENS; i++)
        if (t->tokens[i] && t->tokens[i][0])
            ok = cJSON_AddStringToObject(vars, TOKEN_NAMES[i], t->tokens[i]) != NULL;
    if (ok && kwargs) {
        const cJSON *kv;
        cJSON_ArrayForEach(kv, kwargs) {
            if (!kv->string) continue;
            cJSON_DeleteItemFromObjectCaseSensitive(vars, kv->string);
            if (!(ok = cJSON_AddItemReferenceToObject(vars, kv->string, (cJSON *)kv))) break;
        }
    }
    if (!ok) {
        cJSON_Delete(vars);
        cJSON_Delete(req);
        return mx_err(MIXLM_ERR_NOMEM, "chat template render: out of memory");
    }
    const mx_jinja *j = (tools && t->tool_use) ? t->tool_use : t->def;
    mx_jinja_opts opts = {0};
    opts.now = t->now;
    st = mx_jinja_render(j, vars, &opts, out, len);
    cJSON_Delete(vars);
    cJSON_Delete(req);
    return st;
}
