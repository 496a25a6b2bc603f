/* json.c: contract files: the JSON reader (every field checked, unknown keys rejected), the
 * JSON writer (reads back to the same contract) and the text description for people.
 * The format is documented in docs/contract.md. */
#include "contract/internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CONTRACT_JSON_MAX (16u << 20) /* a contract file is small; refuse anything huge */
#define CONTRACT_FORMAT_VERSION 1

/* ---- Reading --------------------------------------------------------------------------- */

typedef struct pctx {
    char what[160]; /* "input \"x\"", "state \"y\"", ... for messages */
} pctx;

static mixlm_status perr(const pctx *p, const char *fmt, const char *a) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a ? a : "");
    return mx_err(MIXLM_ERR_CONTRACT, "contract: %s: %s", p->what, msg);
}

static int lookup(const char *const *names, int count, const char *s) {
    for (int i = 0; i < count; i++)
        if (names[i] && strcmp(names[i], s) == 0) return i;
    return -1;
}

static const char *const ROLE_NAMES[] = {"token_ids", "positions", "current_pos", "attention_mask",
                                         "ring_pos", "update_mask", "rope_cos", "rope_sin"};
static const char *const DTYPE_NAMES[] = {"f32", "f16", "bf16", "i32", "i64", "bool"};
static const char *const KIND_NAMES[] = {"causal", "sliding", "chunked"};
static const char *const HOLDS_NAMES[] = {"keys", "values", "kv", "other"};
static const char *const LAYOUT_NAMES[] = {"full", "ring", "chunk"};
static const char *const ROWS_NAMES[] = {"last", "all", "requested"};

/* Reject keys not in the allowed list: a misspelt key would otherwise be silently ignored. */
static mixlm_status check_keys(const pctx *p, const cJSON *obj, const char *const *allowed) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            if (it->string && strcmp(it->string, allowed[i]) == 0) ok = 1;
        if (!ok) return perr(p, "unknown key \"%s\"", it->string ? it->string : "");
    }
    return MIXLM_OK;
}

static mixlm_status get_int(const pctx *p, const cJSON *obj, const char *key, int64_t lo,
                            int64_t hi, bool required, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required) return perr(p, "missing \"%s\"", key);
        return MIXLM_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "\"%%s\" must be an integer from %lld to %lld", (long long)lo,
                 (long long)hi);
        return perr(p, msg, key);
    }
    *out = (int64_t)v->valuedouble;
    return MIXLM_OK;
}

static mixlm_status get_enum(const pctx *p, const cJSON *obj, const char *key,
                             const char *const *names, int count, bool required, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required) return perr(p, "missing \"%s\"", key);
        return MIXLM_OK;
    }
    if (!cJSON_IsString(v)) return perr(p, "\"%s\" must be a string", key);
    int i = lookup(names, count, v->valuestring);
    if (i < 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "unknown %s \"%.80s\"", key, v->valuestring);
        return perr(p, "%s", msg);
    }
    *out = i;
    return MIXLM_OK;
}

static mixlm_status get_bool(const pctx *p, const cJSON *obj, const char *key, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return MIXLM_OK;
    if (!cJSON_IsBool(v)) return perr(p, "\"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v);
    return MIXLM_OK;
}

static mixlm_status get_float(const pctx *p, const cJSON *obj, const char *key, float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return MIXLM_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > 3.4e38)
        return perr(p, "\"%s\" must be a finite number", key);
    *out = (float)v->valuedouble;
    return MIXLM_OK;
}

static mixlm_status get_name(const pctx *p, const cJSON *obj, char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!v) return perr(p, "missing \"name\"", NULL);
    if (!cJSON_IsString(v) || !v->valuestring[0]) return perr(p, "\"name\" must be a non-empty string", NULL);
    size_t len = strlen(v->valuestring);
    if (len >= MIXLM_CONTRACT_NAME_MAX) return perr(p, "name longer than 63 bytes", NULL);
    if (!mx_utf8_valid(v->valuestring, len)) return perr(p, "name is not UTF-8", NULL);
    memcpy(name, v->valuestring, len + 1);
    return MIXLM_OK;
}

static mixlm_status get_shape(const pctx *p, const cJSON *obj, bool required, mixlm_shape *s) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "shape");
    if (!v) return required ? perr(p, "missing \"shape\"", NULL) : MIXLM_OK;
    if (!cJSON_IsArray(v)) return perr(p, "\"shape\" must be an array", NULL);
    int n = cJSON_GetArraySize(v);
    if (n > MIXLM_CONTRACT_MAX_DIMS) return perr(p, "\"shape\" has more than 8 dims", NULL);
    s->n_dims = n;
    int i = 0;
    for (const cJSON *d = v->child; d; d = d->next, i++) {
        if (cJSON_IsString(d)) {
            static const char *const syms[] = {NULL, "n", "kv", "ctx", "W"};
            int k = lookup(syms, 5, d->valuestring);
            if (k < 0) {
                char msg[160];
                snprintf(msg, sizeof msg, "shape dim %d: unknown symbol \"%.40s\" (use n, kv, ctx or W)",
                         i, d->valuestring);
                return perr(p, "%s", msg);
            }
            s->dims[i].sym = (mixlm_dim_sym)k;
            s->dims[i].value = 0;
        } else if (cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= (double)((int64_t)1 << 40) &&
                   d->valuedouble == floor(d->valuedouble)) {
            s->dims[i].sym = MIXLM_DIM_FIXED;
            s->dims[i].value = (int64_t)d->valuedouble;
        } else {
            char msg[96];
            snprintf(msg, sizeof msg, "shape dim %d must be a positive integer or a symbol", i);
            return perr(p, "%s", msg);
        }
    }
    return MIXLM_OK;
}

static mixlm_status parse_attention(const pctx *p, const cJSON *a, mixlm_input_decl *in) {
    static const char *const keys[] = {"kind", "window", "chunk", "form", "blocked", "keys",
                                       "chunk_region", "bidirectional_spans", NULL};
    if (!cJSON_IsObject(a)) return perr(p, "\"attention\" must be an object", NULL);
    mixlm_status st = check_keys(p, a, keys);
    if (st) return st;
    mixlm_mask_spec *m = &in->mask;
    int kind = 0, form = 0, layout = 0;
    static const char *const forms[] = {"additive", "boolean"};
    static const char *const layouts[] = {"absolute", "ring"};
    if ((st = get_enum(p, a, "kind", KIND_NAMES, 3, true, &kind))) return st;
    if ((st = get_enum(p, a, "form", forms, 2, false, &form))) return st;
    if ((st = get_enum(p, a, "keys", layouts, 2, false, &layout))) return st;
    m->kind = (mixlm_attn_kind)kind;
    m->form = (mixlm_mask_form)form;
    m->layout = (mixlm_key_layout)layout;
    int64_t w = 0, ch = 0;
    if ((st = get_int(p, a, "window", 1, INT32_MAX, false, &w))) return st;
    if ((st = get_int(p, a, "chunk", 1, INT32_MAX, false, &ch))) return st;
    if (m->kind == MIXLM_ATTN_SLIDING) {
        if (ch) return perr(p, "a sliding mask takes \"window\", not \"chunk\"", NULL);
        m->window = (int32_t)w;
    } else if (m->kind == MIXLM_ATTN_CHUNKED) {
        if (w) return perr(p, "a chunked mask takes \"chunk\", not \"window\"", NULL);
        m->window = (int32_t)ch;
    } else {
        if (w || ch) return perr(p, "a causal mask takes no window or chunk (use kind sliding)", NULL);
        m->window = 0;
    }
    m->blocked = NAN;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(a, "blocked");
    if (b) {
        if (cJSON_IsString(b) && strcmp(b->valuestring, "-inf") == 0) m->blocked = -INFINITY;
        else if ((st = get_float(p, a, "blocked", &m->blocked))) return perr(p, "\"blocked\" must be a number or \"-inf\"", NULL);
    }
    if ((st = get_bool(p, a, "chunk_region", &m->chunk_region))) return st;
    if ((st = get_bool(p, a, "bidirectional_spans", &m->bidirectional_spans))) return st;
    return MIXLM_OK;
}

static mixlm_status parse_input(const cJSON *o, int index, mixlm_input_decl *in) {
    pctx p;
    snprintf(p.what, sizeof p.what, "input %d", index);
    if (!cJSON_IsObject(o)) return perr(&p, "must be an object", NULL);
    memset(in, 0, sizeof *in);
    mixlm_status st = get_name(&p, o, in->name);
    if (st) return st;
    snprintf(p.what, sizeof p.what, "input \"%s\"", in->name);
    static const char *const keys[] = {"name", "role", "dtype", "shape", "attention", "window",
                                       "rope", "evaluated_by_executor", NULL};
    if ((st = check_keys(&p, o, keys))) return st;
    int role = 0, dtype = 0;
    if ((st = get_enum(&p, o, "role", ROLE_NAMES, MIXLM_ROLE_COUNT, true, &role))) return st;
    if ((st = get_enum(&p, o, "dtype", DTYPE_NAMES, 6, true, &dtype))) return st;
    in->role = (mixlm_role)role;
    in->dtype = (mixlm_dtype)dtype;
    if ((st = get_shape(&p, o, true, &in->shape))) return st;
    bool eval = false;
    if ((st = get_bool(&p, o, "evaluated_by_executor", &eval))) return st;
    if (eval) in->flags |= MIXLM_INPUT_EXECUTOR_EVAL;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "attention");
    if (in->role == MIXLM_ROLE_ATTENTION_MASK) {
        if (!a) return perr(&p, "an attention mask needs \"attention\" {\"kind\", ...}", NULL);
        if ((st = parse_attention(&p, a, in))) return st;
    } else if (a) {
        return perr(&p, "\"attention\" is only for role attention_mask", NULL);
    }
    int64_t w = 0;
    if ((st = get_int(&p, o, "window", 1, INT32_MAX, false, &w))) return st;
    if (w && in->role != MIXLM_ROLE_RING_POS && in->role != MIXLM_ROLE_UPDATE_MASK)
        return perr(&p, "\"window\" is only for ring_pos and update_mask (masks say it in \"attention\")", NULL);
    in->window = (int32_t)w;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "rope");
    if (in->role == MIXLM_ROLE_ROPE_COS || in->role == MIXLM_ROLE_ROPE_SIN) {
        if (!r || !cJSON_IsObject(r)) return perr(&p, "needs \"rope\" {\"base\", \"dim\"}", NULL);
        static const char *const rkeys[] = {"base", "dim", "scale", NULL};
        if ((st = check_keys(&p, r, rkeys))) return st;
        int64_t dim = 0;
        if ((st = get_int(&p, r, "dim", 2, 1 << 16, true, &dim))) return st;
        in->rope_dim = (int32_t)dim;
        in->rope_scale = 1.0f;
        if (!cJSON_GetObjectItemCaseSensitive(r, "base")) return perr(&p, "missing \"base\"", NULL);
        if ((st = get_float(&p, r, "base", &in->rope_base))) return st;
        if ((st = get_float(&p, r, "scale", &in->rope_scale))) return st;
    } else if (r) {
        return perr(&p, "\"rope\" is only for roles rope_cos and rope_sin", NULL);
    }
    return MIXLM_OK;
}

static mixlm_status parse_state(const cJSON *o, int index, mixlm_state_decl *sd) {
    pctx p;
    snprintf(p.what, sizeof p.what, "state %d", index);
    if (!cJSON_IsObject(o)) return perr(&p, "must be an object", NULL);
    memset(sd, 0, sizeof *sd);
    mixlm_status st = get_name(&p, o, sd->name);
    if (st) return st;
    snprintf(p.what, sizeof p.what, "state \"%s\"", sd->name);
    static const char *const keys[] = {"name", "holds", "layout", "window", "dtype", "shape",
                                       "layers", NULL};
    if ((st = check_keys(&p, o, keys))) return st;
    int holds = 0, layout = 0, dtype = 0;
    if ((st = get_enum(&p, o, "holds", HOLDS_NAMES, 4, true, &holds))) return st;
    if ((st = get_enum(&p, o, "layout", LAYOUT_NAMES, 3, true, &layout))) return st;
    if ((st = get_enum(&p, o, "dtype", DTYPE_NAMES, 6, true, &dtype))) return st;
    sd->holds = (mixlm_state_holds)holds;
    sd->layout = (mixlm_cache_layout)layout;
    sd->dtype = (mixlm_dtype)dtype;
    int64_t w = 0;
    if ((st = get_int(&p, o, "window", 1, INT32_MAX, false, &w))) return st;
    sd->window = (int32_t)w;
    if ((st = get_shape(&p, o, true, &sd->shape))) return st;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "layers");
    if (l) {
        if (!cJSON_IsArray(l)) return perr(&p, "\"layers\" must be an array of layer indices", NULL);
        if (cJSON_GetArraySize(l) > MIXLM_CONTRACT_MAX_LAYERS) return perr(&p, "too many layers", NULL);
        for (const cJSON *e = l->child; e; e = e->next) {
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
                e->valuedouble >= MIXLM_CONTRACT_MAX_LAYERS)
                return perr(&p, "\"layers\" entries must be integers from 0 to 1023", NULL);
            sd->layers[sd->n_layers++] = (int32_t)e->valuedouble;
        }
    }
    return MIXLM_OK;
}

static mixlm_status parse_output(const cJSON *o, mixlm_output_decl *out) {
    pctx p;
    snprintf(p.what, sizeof p.what, "output");
    if (!cJSON_IsObject(o)) return perr(&p, "must be an object", NULL);
    memset(out, 0, sizeof *out);
    mixlm_status st = get_name(&p, o, out->name);
    if (st) return st;
    snprintf(p.what, sizeof p.what, "output \"%s\"", out->name);
    static const char *const keys[] = {"name", "role", "rows", "vocab", NULL};
    if ((st = check_keys(&p, o, keys))) return st;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "role");
    if (r && !(cJSON_IsString(r) && strcmp(r->valuestring, "logits") == 0))
        return perr(&p, "the only output role is \"logits\"", NULL);
    int rows = 0;
    if ((st = get_enum(&p, o, "rows", ROWS_NAMES, 3, true, &rows))) return st;
    out->rows = (mixlm_logits_rows)rows;
    int64_t v = 0;
    if ((st = get_int(&p, o, "vocab", 1, 1 << 24, true, &v))) return st;
    out->n_vocab = (int32_t)v;
    return MIXLM_OK;
}

static mixlm_status parse_doc(const cJSON *root, mixlm_contract **out) {
    pctx p;
    snprintf(p.what, sizeof p.what, "top level");
    if (!cJSON_IsObject(root)) return perr(&p, "the document must be a JSON object", NULL);
    static const char *const keys[] = {"mixlm_contract", "context", "max_step", "inputs", "states",
                                       "output", NULL};
    mixlm_status st = check_keys(&p, root, keys);
    if (st) return st;
    int64_t version = 0, ctx = 0, max_step = 0;
    if ((st = get_int(&p, root, "mixlm_contract", 1, 1000, true, &version))) return st;
    if (version != CONTRACT_FORMAT_VERSION)
        return mx_err(MIXLM_ERR_UNSUPPORTED, "contract: format version %lld; this mixlm reads version %d",
                      (long long)version, CONTRACT_FORMAT_VERSION);
    if ((st = get_int(&p, root, "context", 0, (int64_t)1 << 40, false, &ctx))) return st;
    if ((st = get_int(&p, root, "max_step", 0, INT32_MAX, false, &max_step))) return st;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    const cJSON *states = cJSON_GetObjectItemCaseSensitive(root, "states");
    const cJSON *output = cJSON_GetObjectItemCaseSensitive(root, "output");
    if (!inputs || !cJSON_IsArray(inputs)) return perr(&p, "\"inputs\" must be an array", NULL);
    if (states && !cJSON_IsArray(states)) return perr(&p, "\"states\" must be an array", NULL);
    if (!output) return perr(&p, "missing \"output\" (the logits)", NULL);
    if (cJSON_GetArraySize(inputs) > MIXLM_CONTRACT_MAX_INPUTS) return perr(&p, "too many inputs", NULL);
    if (states && cJSON_GetArraySize(states) > MIXLM_CONTRACT_MAX_STATES) return perr(&p, "too many states", NULL);

    mixlm_contract *c;
    if ((st = mixlm_contract_create(ctx, &c))) return st;
    mixlm_contract_set_max_step(c, (int32_t)max_step);
    int i = 0;
    for (const cJSON *e = inputs->child; e && !st; e = e->next, i++) {
        mixlm_input_decl in;
        st = parse_input(e, i, &in);
        if (!st) st = mixlm_contract_add_input(c, &in);
    }
    mixlm_state_decl *sd = st ? NULL : mx_malloc(sizeof *sd);
    if (!st && !sd) st = MIXLM_ERR_NOMEM;
    i = 0;
    for (const cJSON *e = states ? states->child : NULL; e && !st; e = e->next, i++) {
        st = parse_state(e, i, sd);
        if (!st) st = mixlm_contract_add_state(c, sd);
    }
    free(sd);
    if (!st) {
        mixlm_output_decl o;
        st = parse_output(output, &o);
        if (!st) st = mixlm_contract_set_output(c, &o);
    }
    if (!st) st = mixlm_contract_validate(c);
    if (st) {
        mixlm_contract_free(c);
        return st;
    }
    *out = c;
    return MIXLM_OK;
}

mixlm_status mixlm_contract_parse_json(const char *json, size_t len, mixlm_contract **out) {
    if (!json || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL argument");
    *out = NULL;
    if (len > CONTRACT_JSON_MAX) return mx_err(MIXLM_ERR_FORMAT, "contract: document larger than 16 MiB");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        return mx_err(MIXLM_ERR_FORMAT, "contract: not valid JSON (near byte %zu)", at);
    }
    mixlm_status st = parse_doc(root, out);
    cJSON_Delete(root);
    return st;
}

mixlm_status mixlm_contract_load(const char *path, mixlm_contract **out) {
    if (!path || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "contract: NULL argument");
    char *text;
    size_t len;
    mixlm_status st = mx_read_file(path, CONTRACT_JSON_MAX, &text, &len);
    if (st) return st;
    st = mixlm_contract_parse_json(text, len, out);
    free(text);
    if (st) return mx_err_prefix(st, "%s: ", path);
    return MIXLM_OK;
}

/* ---- Writing ---------------------------------------------------------------------------- */

static void put_shape(mx_buf *b, const mixlm_shape *s) {
    mx_buf_putc(b, '[');
    for (int i = 0; i < s->n_dims; i++) {
        if (i) mx_buf_puts(b, ", ");
        if (s->dims[i].sym == MIXLM_DIM_FIXED)
            mx_buf_printf(b, "%lld", (long long)s->dims[i].value);
        else
            mx_buf_printf(b, "\"%s\"", mx_dim_sym_name(s->dims[i].sym));
    }
    mx_buf_putc(b, ']');
}

static void put_str(mx_buf *b, const char *s) { mx_buf_json_str(b, s, strlen(s)); }

char *mixlm_contract_to_json(const mixlm_contract *c) {
    if (!c) return NULL;
    mx_buf b = {0};
    mx_buf_printf(&b, "{\n  \"mixlm_contract\": %d,\n  \"context\": %lld,\n  \"max_step\": %d,\n",
                  CONTRACT_FORMAT_VERSION, (long long)c->n_ctx, (int)c->max_step);
    mx_buf_puts(&b, "  \"inputs\": [");
    for (int32_t i = 0; i < c->n_inputs; i++) {
        const mixlm_input_decl *in = &c->inputs[i];
        mx_buf_puts(&b, i ? ",\n    {" : "\n    {");
        mx_buf_puts(&b, "\"name\": ");
        put_str(&b, in->name);
        mx_buf_printf(&b, ", \"role\": \"%s\", \"dtype\": \"%s\", \"shape\": ",
                      mixlm_role_name(in->role), mixlm_dtype_name(in->dtype));
        put_shape(&b, &in->shape);
        if (in->flags & MIXLM_INPUT_EXECUTOR_EVAL) mx_buf_puts(&b, ", \"evaluated_by_executor\": true");
        if (in->role == MIXLM_ROLE_ATTENTION_MASK) {
            const mixlm_mask_spec *m = &in->mask;
            mx_buf_printf(&b, ",\n     \"attention\": {\"kind\": \"%s\"", mixlm_attn_kind_name(m->kind));
            if (m->kind == MIXLM_ATTN_SLIDING) mx_buf_printf(&b, ", \"window\": %d", (int)m->window);
            if (m->kind == MIXLM_ATTN_CHUNKED) mx_buf_printf(&b, ", \"chunk\": %d", (int)m->window);
            mx_buf_printf(&b, ", \"form\": \"%s\"", m->form == MIXLM_MASK_ADDITIVE ? "additive" : "boolean");
            if (m->form == MIXLM_MASK_ADDITIVE && !isnan(m->blocked)) {
                if (isinf(m->blocked)) mx_buf_puts(&b, ", \"blocked\": \"-inf\"");
                else mx_buf_printf(&b, ", \"blocked\": %.9g", (double)m->blocked);
            }
            mx_buf_printf(&b, ", \"keys\": \"%s\"", m->layout == MIXLM_KEYS_RING ? "ring" : "absolute");
            if (m->chunk_region) mx_buf_puts(&b, ", \"chunk_region\": true");
            if (m->bidirectional_spans) mx_buf_puts(&b, ", \"bidirectional_spans\": true");
            mx_buf_putc(&b, '}');
        }
        if ((in->role == MIXLM_ROLE_RING_POS || in->role == MIXLM_ROLE_UPDATE_MASK) && in->window > 0)
            mx_buf_printf(&b, ", \"window\": %d", (int)in->window);
        if (in->role == MIXLM_ROLE_ROPE_COS || in->role == MIXLM_ROLE_ROPE_SIN)
            mx_buf_printf(&b, ", \"rope\": {\"base\": %.9g, \"dim\": %d, \"scale\": %.9g}",
                          (double)in->rope_base, (int)in->rope_dim, (double)in->rope_scale);
        mx_buf_putc(&b, '}');
    }
    mx_buf_puts(&b, "\n  ],\n  \"states\": [");
    for (int32_t i = 0; i < c->n_states; i++) {
        const mixlm_state_decl *sd = &c->states[i];
        mx_buf_puts(&b, i ? ",\n    {" : "\n    {");
        mx_buf_puts(&b, "\"name\": ");
        put_str(&b, sd->name);
        mx_buf_printf(&b, ", \"holds\": \"%s\", \"layout\": \"%s\"", mx_holds_name(sd->holds),
                      mx_layout_name(sd->layout));
        if (sd->window > 0) mx_buf_printf(&b, ", \"window\": %d", (int)sd->window);
        mx_buf_printf(&b, ", \"dtype\": \"%s\", \"shape\": ", mixlm_dtype_name(sd->dtype));
        put_shape(&b, &sd->shape);
        if (sd->n_layers > 0) {
            mx_buf_puts(&b, ", \"layers\": [");
            for (int32_t j = 0; j < sd->n_layers; j++) mx_buf_printf(&b, j ? ", %d" : "%d", (int)sd->layers[j]);
            mx_buf_putc(&b, ']');
        }
        mx_buf_putc(&b, '}');
    }
    mx_buf_puts(&b, c->n_states ? "\n  ],\n" : "],\n");
    if (c->has_output) {
        mx_buf_puts(&b, "  \"output\": {\"name\": ");
        put_str(&b, c->output.name);
        mx_buf_printf(&b, ", \"role\": \"logits\", \"rows\": \"%s\", \"vocab\": %d}\n",
                      mx_rows_name(c->output.rows), (int)c->output.n_vocab);
    } else {
        mx_buf_puts(&b, "  \"output\": null\n");
    }
    mx_buf_puts(&b, "}\n");
    return mx_buf_take(&b);
}

/* ---- Text for people ------------------------------------------------------------------- */

static void text_shape(mx_buf *b, const mixlm_shape *s) {
    mx_buf_putc(b, '[');
    for (int i = 0; i < s->n_dims; i++) {
        if (i) mx_buf_putc(b, ',');
        if (s->dims[i].sym == MIXLM_DIM_FIXED) mx_buf_printf(b, "%lld", (long long)s->dims[i].value);
        else mx_buf_puts(b, mx_dim_sym_name(s->dims[i].sym));
    }
    mx_buf_putc(b, ']');
}

char *mixlm_contract_describe(const mixlm_contract *c) {
    if (!c) return NULL;
    mx_buf b = {0};
    int32_t ms = mixlm_contract_max_step(c);
    mx_buf_printf(&b, "contract: context %lld, ", (long long)c->n_ctx);
    if (ms == 1) mx_buf_puts(&b, "single-token steps\n");
    else if (ms > 1) mx_buf_printf(&b, "steps of up to %d tokens\n", (int)ms);
    else mx_buf_puts(&b, "steps of any length\n");
    mx_buf_printf(&b, "  inputs (%d):\n", (int)c->n_inputs);
    for (int32_t i = 0; i < c->n_inputs; i++) {
        const mixlm_input_decl *in = &c->inputs[i];
        mx_buf_printf(&b, "    %-22s %-15s %-4s ", in->name, mixlm_role_name(in->role),
                      mixlm_dtype_name(in->dtype));
        text_shape(&b, &in->shape);
        if (in->role == MIXLM_ROLE_ATTENTION_MASK) {
            const mixlm_mask_spec *m = &in->mask;
            mx_buf_printf(&b, "  %s", mixlm_attn_kind_name(m->kind));
            if (m->kind == MIXLM_ATTN_SLIDING) mx_buf_printf(&b, " W=%d", (int)m->window);
            if (m->kind == MIXLM_ATTN_CHUNKED) mx_buf_printf(&b, " C=%d", (int)m->window);
            if (m->bidirectional_spans) mx_buf_puts(&b, " +bidirectional spans");
            if (m->form == MIXLM_MASK_BOOLEAN) mx_buf_puts(&b, ", boolean");
            else if (isnan(m->blocked)) mx_buf_puts(&b, ", additive");
            else mx_buf_printf(&b, ", additive (blocked %g)", (double)m->blocked);
            mx_buf_printf(&b, ", %s keys%s", m->layout == MIXLM_KEYS_RING ? "ring" : "absolute",
                          m->chunk_region ? " + chunk region" : "");
        }
        if ((in->role == MIXLM_ROLE_RING_POS || in->role == MIXLM_ROLE_UPDATE_MASK) && in->window > 0)
            mx_buf_printf(&b, "  W=%d", (int)in->window);
        if (in->role == MIXLM_ROLE_ROPE_COS || in->role == MIXLM_ROLE_ROPE_SIN)
            mx_buf_printf(&b, "  base %g, dim %d, scale %g", (double)in->rope_base, (int)in->rope_dim,
                          (double)in->rope_scale);
        if (in->flags & MIXLM_INPUT_EXECUTOR_EVAL) mx_buf_puts(&b, "  (evaluated by the executor)");
        mx_buf_putc(&b, '\n');
    }
    mx_buf_printf(&b, "  states (%d):\n", (int)c->n_states);
    for (int32_t i = 0; i < c->n_states; i++) {
        const mixlm_state_decl *sd = &c->states[i];
        mx_buf_printf(&b, "    %-22s %-6s %-5s", sd->name, mx_holds_name(sd->holds), mx_layout_name(sd->layout));
        if (sd->window > 0) mx_buf_printf(&b, " W=%-5d", (int)sd->window);
        else mx_buf_puts(&b, "        ");
        mx_buf_printf(&b, " %-4s ", mixlm_dtype_name(sd->dtype));
        text_shape(&b, &sd->shape);
        uint64_t bytes = 0;
        if (!mx_state_decl_bytes(c, sd, &bytes)) mx_buf_printf(&b, "  %llu bytes", (unsigned long long)bytes);
        if (sd->n_layers > 0) {
            mx_buf_puts(&b, "  layers ");
            for (int32_t j = 0; j < sd->n_layers; j++) mx_buf_printf(&b, j ? ",%d" : "%d", (int)sd->layers[j]);
        }
        mx_buf_putc(&b, '\n');
    }
    if (c->has_output)
        mx_buf_printf(&b, "  output: %s, logits rows: %s, vocabulary %d\n", c->output.name,
                      mx_rows_name(c->output.rows), (int)c->output.n_vocab);
    return mx_buf_take(&b);
}
