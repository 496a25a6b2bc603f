/* model_hf.c: Hugging Face model folders: config.json (with the nested text_config of
 * multimodal checkpoints), generation_config.json, safetensors weights (single or sharded), and
 * the mapping of HF tensor names to the canonical (GGUF-style) names. Defaults for keys a
 * config leaves out follow the transformers configuration classes of each family. */
#include "model/loader.h"
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_BYTES (16u << 20)
#define MAX_INDEX_BYTES (64u << 20)
#define MAX_SHARDS 4096
#define MAX_JSON_NESTING 64

/* ---- JSON helpers --------------------------------------------------------------------------- */

/* Parse untrusted JSON text (nesting capped first: cJSON recurses). name is for messages. */
static mixlm_status parse_json(const char *name, const char *text, size_t len, cJSON **out) {
    *out = NULL;
    if (mx_json_depth(text, len, MAX_JSON_NESTING) < 0)
        return mx_err(MIXLM_ERR_FORMAT, "%s: JSON nested deeper than %d", name, MAX_JSON_NESTING);
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return mx_err(MIXLM_ERR_FORMAT, "%s: not a valid JSON object", name);
    }
    *out = j;
    return MIXLM_OK;
}

static mixlm_status read_json(const char *path, uint64_t cap, int required, cJSON **out,
                              char **text_out) {
    *out = NULL;
    if (text_out) *text_out = NULL;
    if (!mx_file_exists(path)) {
        if (!required) return MIXLM_OK;
        return mx_err(MIXLM_ERR_IO, "%s: no such file", path);
    }
    char *text = NULL;
    size_t len = 0;
    mixlm_status st = mx_read_file(path, cap, &text, &len);
    if (st) return st;
    st = parse_json(path, text, len, out);
    if (!st && text_out) *text_out = text;
    else free(text);
    return st;
}

/* Object member lookup. With a repeated key the last one wins, as in Python's json module,
 * which is what the transformers library sees. */
static const cJSON *jget(const cJSON *o, const char *key) {
    const cJSON *found = NULL;
    if (!cJSON_IsObject(o)) return NULL;
    for (const cJSON *e = o->child; e; e = e->next)
        if (e->string && strcmp(e->string, key) == 0) found = e;
    return found;
}

/* Number lookup in the text config, then the top-level config: 1 found, 0 absent/null,
 * -1 present but not a number. */
typedef struct cfg {
    const cJSON *tc;            /* text config (== root for plain models) */
    const cJSON *root;
    const char *path;           /* config.json path for messages */
} cfg;

static const cJSON *cget(const cfg *c, const char *key) {
    const cJSON *v = jget(c->tc, key);
    if (!v && c->tc != c->root) v = jget(c->root, key);
    return v;
}

static int cnum(const cfg *c, const char *key, double *out) {
    const cJSON *v = cget(c, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return -1;
    *out = v->valuedouble;
    return 1;
}

static mixlm_status cint(const cfg *c, const char *key, int64_t def, int64_t lo, int64_t hi,
                         int32_t *out) {
    double d;
    int r = cnum(c, key, &d);
    if (r == 0) {
        if (def == INT64_MIN) return mx_err(MIXLM_ERR_FORMAT, "%s: missing \"%s\"", c->path, key);
        *out = (int32_t)def;
        return MIXLM_OK;
    }
    if (r < 0 || floor(d) != d || d < (double)lo || d > (double)hi)
        return mx_err(MIXLM_ERR_FORMAT, "%s: \"%s\" must be an integer in %lld..%lld", c->path, key,
                      (long long)lo, (long long)hi);
    *out = (int32_t)d;
    return MIXLM_OK;
}

static mixlm_status cfloat(const cfg *c, const char *key, double def, float *out) {
    double d;
    int r = cnum(c, key, &d);
    if (r == 0) {
        *out = (float)def;
        return MIXLM_OK;
    }
    if (r < 0 || fabs(d) > 3.4e38)
        return mx_err(MIXLM_ERR_FORMAT, "%s: \"%s\" must be a finite number", c->path, key);
    *out = (float)d;
    return MIXLM_OK;
}

static int cbool(const cfg *c, const char *key, int def) {
    const cJSON *v = cget(c, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

/* Token ids: an int, or a list of ints (eos). */
static void add_ids(mx_hparams *hp, const cJSON *v) {
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= 0 && d <= INT32_MAX && floor(d) == d) mx_add_eos(hp, (int64_t)d);
    } else if (cJSON_IsArray(v)) {
        for (const cJSON *e = v->child; e; e = e->next) add_ids(hp, e);
    }
}

static int32_t one_id(const cJSON *v) {
    if (cJSON_IsArray(v)) v = v->child; /* a list: take the first */
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    return d >= 0 && d <= INT32_MAX && floor(d) == d ? (int32_t)d : -1;
}

/* ---- Families ------------------------------------------------------------------------------- */

typedef struct family_defaults {
    const char *model_type;
    mx_family family;
    /* transformers defaults for keys a config may omit */
    int32_t vocab, hidden, ff, layers, heads, kv_heads, head_dim; /* kv/head_dim 0: derived */
    double eps, rope_theta;
    int32_t max_pos;
} family_defaults;

static const family_defaults g_families[] = {
    {"gemma3_text", MX_FAMILY_GEMMA3, 262208, 2304, 9216, 26, 8, 4, 256, 1e-6, 1e6, 131072},
    {"gemma3", MX_FAMILY_GEMMA3, 262208, 2304, 9216, 26, 8, 4, 256, 1e-6, 1e6, 131072},
    {"gemma2", MX_FAMILY_GEMMA2, 256000, 2304, 9216, 26, 8, 4, 256, 1e-6, 1e4, 8192},
    {"llama", MX_FAMILY_LLAMA, 32000, 4096, 11008, 32, 32, 0, 0, 1e-6, 1e4, 2048},
    {"mistral", MX_FAMILY_LLAMA, 32000, 4096, 14336, 32, 32, 8, 0, 1e-6, 1e4, 32768},
    {"qwen2", MX_FAMILY_QWEN2, 151936, 4096, 22016, 32, 32, 32, 0, 1e-6, 1e4, 32768},
    {"qwen3", MX_FAMILY_QWEN3, 151936, 4096, 22016, 32, 32, 32, 128, 1e-6, 1e4, 32768},
};

static const struct {
    const char *arch;
    const char *model_type;
} g_arch_map[] = {
    {"Gemma3ForCausalLM", "gemma3_text"}, {"Gemma3ForConditionalGeneration", "gemma3"},
    {"Gemma2ForCausalLM", "gemma2"},      {"LlamaForCausalLM", "llama"},
    {"MistralForCausalLM", "mistral"},    {"Qwen2ForCausalLM", "qwen2"},
    {"Qwen3ForCausalLM", "qwen3"},
};

static const family_defaults *find_family(const char *model_type) {
    for (size_t i = 0; i < MX_ARRAY_LEN(g_families); i++)
        if (strcmp(model_type, g_families[i].model_type) == 0) return &g_families[i];
    return NULL;
}

/* ---- Tensor names ----------------------------------------------------------------------------- */

/* Map an HF name (prefix already stripped to "model." / "lm_head.") to the canonical name.
 * Returns 1 and writes out, 0 when the name is not a known text-model tensor, -1 when the
 * layer number is out of range. */
static int map_name(const char *hf, mx_family fam, int32_t n_layer, char *out, size_t n) {
    static const struct { const char *hf, *gg; } globals[] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"},
    };
    for (size_t i = 0; i < MX_ARRAY_LEN(globals); i++)
        if (strcmp(hf, globals[i].hf) == 0) {
            snprintf(out, n, "%s", globals[i].gg);
            return 1;
        }
    const char *p = "model.layers.";
    if (strncmp(hf, p, strlen(p)) != 0) return 0;
    const char *s = hf + strlen(p);
    if (!isdigit((unsigned char)*s)) return 0;
    long layer = 0;
    int digits = 0;
    while (isdigit((unsigned char)*s)) {
        if (++digits > 6) return -1;
        layer = layer * 10 + (*s++ - '0');
    }
    if (*s++ != '.') return 0;
    if (layer >= n_layer) return -1;
    bool gemma = fam == MX_FAMILY_GEMMA2 || fam == MX_FAMILY_GEMMA3;
    static const struct { const char *hf, *gg; } locals[] = {
        {"input_layernorm", "attn_norm"},
        {"self_attn.q_proj", "attn_q"},
        {"self_attn.k_proj", "attn_k"},
        {"self_attn.v_proj", "attn_v"},
        {"self_attn.o_proj", "attn_output"},
        {"self_attn.q_norm", "attn_q_norm"},
        {"self_attn.k_norm", "attn_k_norm"},
        {"pre_feedforward_layernorm", "ffn_norm"},
        {"post_feedforward_layernorm", "post_ffw_norm"},
        {"mlp.gate_proj", "ffn_gate"},
        {"mlp.up_proj", "ffn_up"},
        {"mlp.down_proj", "ffn_down"},
    };
    const char *gg = NULL;
    size_t k = 0;
    /* Gemma's post_attention_layernorm is a sandwich norm after attention; in Llama-style
     * models it is the norm before the FFN. */
    if (strncmp(s, "post_attention_layernorm.", 25) == 0) {
        gg = gemma ? "post_attention_norm" : "ffn_norm";
        k = 24;
    } else {
        for (size_t i = 0; i < MX_ARRAY_LEN(locals); i++) {
            size_t l = strlen(locals[i].hf);
            if (strncmp(s, locals[i].hf, l) == 0 && s[l] == '.') {
                gg = locals[i].gg;
                k = l;
                break;
            }
        }
    }
    if (!gg) return 0;
    const char *suffix = s + k + 1;
    if (strcmp(suffix, "weight") != 0 && strcmp(suffix, "bias") != 0) return 0;
    snprintf(out, n, "blk.%ld.%s.%s", layer, gg, suffix);
    return 1;
}

/* Multimodal checkpoints nest the text model; vision parts are not ours. Returns the name with
 * the text prefix rewritten into buf, or NULL when the tensor should be ignored. */
static const char *strip_prefix(const char *name, char *buf, size_t n) {
    static const char *vision[] = {"vision_tower.", "model.vision_tower.", "multi_modal_projector.",
                                   "model.multi_modal_projector.", "vision_model.",
                                   "model.vision_model.", "visual.", "model.visual."};
    for (size_t i = 0; i < MX_ARRAY_LEN(vision); i++)
        if (strncmp(name, vision[i], strlen(vision[i])) == 0) return NULL;
    static const struct { const char *from, *to; } prefixes[] = {
        {"model.language_model.model.", "model."},
        {"model.language_model.lm_head.", "lm_head."},
        {"model.language_model.", "model."},
        {"language_model.model.", "model."},
        {"language_model.lm_head.", "lm_head."},
    };
    for (size_t i = 0; i < MX_ARRAY_LEN(prefixes); i++) {
        size_t l = strlen(prefixes[i].from);
        if (strncmp(name, prefixes[i].from, l) == 0) {
            snprintf(buf, n, "%s%s", prefixes[i].to, name + l);
            return buf;
        }
    }
    return name;
}

/* ---- Weights ---------------------------------------------------------------------------------- */

static int valid_shard_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 255 || strchr(s, '/') || strchr(s, '\\') || s[0] == '.') return 0;
    return n > 12 && strcmp(s + n - 12, ".safetensors") == 0;
}

static mixlm_status add_shard(mixlm_model *m, const char *dir, const char *file) {
    char *p = mx_path_join(dir, file);
    if (!p) return MIXLM_ERR_NOMEM;
    mx_safetensors **grown = mx_realloc(m->shards, (size_t)(m->n_shards + 1) * sizeof *grown);
    if (!grown) {
        free(p);
        return MIXLM_ERR_NOMEM;
    }
    m->shards = grown;
    mixlm_status st = mx_safetensors_open(p, &m->shards[m->n_shards]);
    free(p);
    if (st) return st;
    m->n_shards++;
    return MIXLM_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static mixlm_status open_weights(mixlm_model *m, const char *dir) {
    char *single = mx_path_join(dir, "model.safetensors");
    char *index = mx_path_join(dir, "model.safetensors.index.json");
    mixlm_status st = MIXLM_OK;
    if (!single || !index) {
        st = MIXLM_ERR_NOMEM;
    } else if (mx_file_exists(single)) {
        st = add_shard(m, dir, "model.safetensors");
    } else if (mx_file_exists(index)) {
        cJSON *j = NULL;
        st = read_json(index, MAX_INDEX_BYTES, 1, &j, NULL);
        const cJSON *wm = st ? NULL : jget(j, "weight_map");
        if (!st && !cJSON_IsObject(wm))
            st = mx_err(MIXLM_ERR_FORMAT, "%s: no \"weight_map\" object", index);
        /* Distinct shard files, sorted so that each opens once. */
        const char **files = NULL;
        int n = 0;
        if (!st) {
            int count = cJSON_GetArraySize(wm);
            files = mx_calloc((size_t)(count ? count : 1), sizeof *files);
            if (!files) st = MIXLM_ERR_NOMEM;
            for (const cJSON *e = wm->child; e && !st; e = e->next) {
                if (!cJSON_IsString(e) || !valid_shard_name(e->valuestring))
                    st = mx_err(MIXLM_ERR_FORMAT,
                                "%s: weight_map entry for '%.200s' is not a plain *.safetensors "
                                "file name",
                                index, e->string);
                else files[n++] = e->valuestring;
            }
        }
        if (!st) {
            qsort(files, (size_t)n, sizeof *files, cmp_str);
            int distinct = 0;
            for (int i = 0; i < n; i++)
                if (i == 0 || strcmp(files[i], files[i - 1]) != 0) distinct++;
            if (distinct > MAX_SHARDS)
                st = mx_err(MIXLM_ERR_FORMAT, "%s: %d shards exceed the limit %d", index, distinct,
                            MAX_SHARDS);
            for (int i = 0; i < n && !st; i++)
                if (i == 0 || strcmp(files[i], files[i - 1]) != 0) st = add_shard(m, dir, files[i]);
        }
        /* Every tensor the index names must be in the shard it names. */
        for (const cJSON *e = st ? NULL : wm->child; e && !st; e = e->next) {
            int found = 0;
            for (int32_t i = 0; i < m->n_shards && !found; i++) {
                if (mx_safetensors_find(m->shards[i], e->string) >= 0) found = 1;
            }
            if (!found)
                st = mx_err(MIXLM_ERR_FORMAT, "%s: tensor '%.200s' is listed but in no shard", index,
                            e->string);
        }
        free(files);
        cJSON_Delete(j);
    } else {
        st = mx_err(MIXLM_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    free(single);
    free(index);
    return st;
}

static mixlm_status collect_tensors(mixlm_model *m) {
    int64_t total = 0;
    for (int32_t i = 0; i < m->n_shards; i++) total += mx_safetensors_n_tensors(m->shards[i]);
    if (total > INT32_MAX) return mx_err(MIXLM_ERR_FORMAT, "%s: too many tensors", m->path);
    m->tensors = mx_calloc((size_t)(total ? total : 1), sizeof *m->tensors);
    if (!m->tensors) return MIXLM_ERR_NOMEM;
    for (int32_t s = 0; s < m->n_shards; s++) {
        for (int64_t i = 0; i < mx_safetensors_n_tensors(m->shards[s]); i++) {
            const mx_st_tensor *t = mx_safetensors_tensor(m->shards[s], i);
            char buf[2 * MX_ST_MAX_NAME + 64], canon[2 * MX_ST_MAX_NAME + 64];
            const char *name = strip_prefix(t->name, buf, sizeof buf);
            if (!name) continue; /* vision tower, projector */
            int r = map_name(name, m->hp.family, m->hp.n_layer, canon, sizeof canon);
            if (r < 0)
                return mx_err(MIXLM_ERR_FORMAT, "%s: tensor '%s' names a layer beyond %d", m->path,
                              t->name, m->hp.n_layer);
            if (r == 0) {
                /* Unknown to mixlm (e.g. rotary_emb.inv_freq buffers): keep it under its own
                 * name so that inspect shows it; the engine never asks for it. */
                snprintf(canon, sizeof canon, "%s", t->name);
            }
            if (t->type != MX_TYPE_F32 && t->type != MX_TYPE_F16 && t->type != MX_TYPE_BF16) {
                if (r == 0) continue;
                return mx_err(MIXLM_ERR_UNSUPPORTED,
                              "%s: tensor '%s' has dtype %s; mixlm reads F32, F16 and BF16 "
                              "safetensors",
                              m->path, t->name, t->dtype);
            }
            if (t->n_dims < 1 || t->n_dims > MX_MAX_DIMS)
                return mx_err(MIXLM_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (1..%d)",
                              m->path, t->name, t->n_dims, MX_MAX_DIMS);
            mx_tensor *o = &m->tensors[m->n_tensors];
            o->name = mx_strdup(canon);
            if (!o->name) return MIXLM_ERR_NOMEM;
            m->n_tensors++;
            o->type = (mx_type)t->type;
            o->n_dims = t->n_dims;
            for (int d = 0; d < MX_MAX_DIMS; d++) o->ne[d] = 1;
            for (int d = 0; d < t->n_dims; d++) o->ne[d] = t->shape[t->n_dims - 1 - d];
            o->data = t->data;
            o->nbytes = t->nbytes;
        }
    }
    return MIXLM_OK;
}

/* ---- Config ----------------------------------------------------------------------------------- */

static int32_t find_tensor_type(const mixlm_model *m, const char *name) {
    for (int32_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return (int32_t)m->tensors[i].type;
    return -1;
}

/* layer_types entries -> kinds. Returns 1 when present and valid. */
static mixlm_status read_layer_types(const cfg *c, int32_t n_layer, mx_attn_kind *kinds, int *have) {
    const cJSON *lt = cget(c, "layer_types");
    *have = 0;
    if (!lt || cJSON_IsNull(lt)) return MIXLM_OK;
    if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != n_layer)
        return mx_err(MIXLM_ERR_FORMAT, "%s: \"layer_types\" must list %d strings", c->path, n_layer);
    int i = 0;
    for (const cJSON *e = lt->child; e; e = e->next, i++) {
        const char *s = cJSON_IsString(e) ? e->valuestring : "";
        if (strcmp(s, "full_attention") == 0) kinds[i] = MX_ATTN_FULL;
        else if (strcmp(s, "sliding_attention") == 0) kinds[i] = MX_ATTN_SLIDING;
        else if (strcmp(s, "chunked_attention") == 0) kinds[i] = MX_ATTN_CHUNKED;
        else
            return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: layer_types[%d] = '%.40s' is not supported",
                          c->path, i, s);
    }
    *have = 1;
    return MIXLM_OK;
}

/* One set of RoPE parameters: {"rope_type"|"type": "default"|"linear", "factor": f} and, in
 * the newer "rope_parameters" form, "rope_theta". Only keys present change *theta / *factor. */
static mixlm_status read_rope_object(const cfg *c, const cJSON *o, const char *what, float *theta,
                                     float *factor) {
    if (!o || cJSON_IsNull(o)) return MIXLM_OK;
    if (!cJSON_IsObject(o)) return mx_err(MIXLM_ERR_FORMAT, "%s: \"%s\" is not an object", c->path, what);
    const cJSON *th = jget(o, "rope_theta");
    if (th) {
        if (!cJSON_IsNumber(th) || !(th->valuedouble > 0) || th->valuedouble > 1e30)
            return mx_err(MIXLM_ERR_FORMAT, "%s: %s rope_theta must be a positive number", c->path, what);
        *theta = (float)th->valuedouble;
    }
    const cJSON *t = jget(o, "rope_type");
    if (!t) t = jget(o, "type");
    const char *type = cJSON_IsString(t) ? t->valuestring : (th ? "default" : "linear");
    if (strcmp(type, "default") == 0) {
        *factor = 1.0f;
        return MIXLM_OK;
    }
    if (strcmp(type, "linear") != 0)
        return mx_err(MIXLM_ERR_UNSUPPORTED,
                      "%s: unsupported %s type '%.40s' (mixlm supports default and linear)", c->path,
                      strcmp(what, "rope_scaling") == 0 ? "rope_scaling" : "RoPE", type);
    const cJSON *f = jget(o, "factor");
    if (!cJSON_IsNumber(f) || !(f->valuedouble > 0) || f->valuedouble > 1e6)
        return mx_err(MIXLM_ERR_FORMAT, "%s: %s factor must be a positive number", c->path, what);
    *factor = (float)f->valuedouble;
    return MIXLM_OK;
}

/* RoPE for full (global) and sliding (local) layers. Older configs: rope_theta, rope_scaling
 * and Gemma 3's rope_local_base_freq; newer ones: rope_parameters, either one object or one per
 * layer type ("full_attention", "sliding_attention"). */
static mixlm_status read_rope(const cfg *c, const family_defaults *fd, float *theta_full,
                              float *factor_full, float *theta_local, float *factor_local) {
    mixlm_status st;
    *factor_full = 1.0f;
    if ((st = cfloat(c, "rope_theta", fd->rope_theta, theta_full))) return st;
    if ((st = read_rope_object(c, cget(c, "rope_scaling"), "rope_scaling", theta_full, factor_full)))
        return st;
    bool gemma3 = fd->family == MX_FAMILY_GEMMA3;
    /* Gemma 3 local layers: their own base, never scaled; elsewhere as the full layers. */
    *theta_local = *theta_full;
    *factor_local = *factor_full;
    if (gemma3) {
        *factor_local = 1.0f;
        if ((st = cfloat(c, "rope_local_base_freq", 10000.0, theta_local))) return st;
    }
    const cJSON *rp = cget(c, "rope_parameters");
    if (!rp || cJSON_IsNull(rp)) return MIXLM_OK;
    const cJSON *full = jget(rp, "full_attention"), *sliding = jget(rp, "sliding_attention");
    if (full || sliding) {
        if ((st = read_rope_object(c, full, "rope_parameters.full_attention", theta_full, factor_full)))
            return st;
        return read_rope_object(c, sliding, "rope_parameters.sliding_attention", theta_local,
                                factor_local);
    }
    if ((st = read_rope_object(c, rp, "rope_parameters", theta_full, factor_full))) return st;
    if (!gemma3) {
        *theta_local = *theta_full;
        *factor_local = *factor_full;
    }
    return MIXLM_OK;
}

static mixlm_status fill_config(mixlm_model *m, const cfg *c, const family_defaults *fd,
                                const cJSON *gen) {
    mx_hparams *hp = &m->hp;
    mixlm_status st;
    bool gemma = fd->family == MX_FAMILY_GEMMA2 || fd->family == MX_FAMILY_GEMMA3;
    if ((st = cint(c, "num_hidden_layers", fd->layers, 1, MX_MAX_LAYERS, &hp->n_layer))) return st;
    if ((st = cint(c, "hidden_size", fd->hidden, 1, MX_MAX_EMBD, &hp->n_embd))) return st;
    if ((st = cint(c, "intermediate_size", fd->ff, 1, MX_MAX_FF, &hp->n_ff))) return st;
    if ((st = cint(c, "num_attention_heads", fd->heads, 1, MX_MAX_HEADS, &hp->n_head))) return st;
    if ((st = cint(c, "num_key_value_heads", fd->kv_heads ? fd->kv_heads : hp->n_head, 1,
                   MX_MAX_HEADS, &hp->n_head_kv)))
        return st;
    int64_t def_hd = fd->head_dim ? fd->head_dim : hp->n_embd / hp->n_head;
    if ((st = cint(c, "head_dim", def_hd, 1, MX_MAX_HEAD_DIM, &hp->head_dim))) return st;
    if ((st = cint(c, "vocab_size", fd->vocab, 1, MX_MAX_VOCAB, &hp->n_vocab))) return st;
    if ((st = cint(c, "max_position_embeddings", fd->max_pos, 0, INT32_MAX, &hp->n_ctx_train)))
        return st;
    if ((st = cfloat(c, "rms_norm_eps", fd->eps, &hp->rms_eps))) return st;

    hp->act = gemma ? MX_ACT_GELU_TANH : MX_ACT_SILU;
    const cJSON *act = cget(c, gemma ? "hidden_activation" : "hidden_act");
    if (cJSON_IsString(act)) {
        const char *a = act->valuestring;
        if (strcmp(a, "silu") == 0 || strcmp(a, "swish") == 0) hp->act = MX_ACT_SILU;
        else if (strcmp(a, "gelu_pytorch_tanh") == 0 || strcmp(a, "gelu_tanh") == 0)
            hp->act = MX_ACT_GELU_TANH;
        else
            return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: unsupported activation '%.40s'", c->path, a);
    }
    hp->rope_neox = true;      /* HF rotate_half pairs (i, i + d/2) in every family */
    hp->norm_add_one = gemma;  /* HF Gemma RMSNorm multiplies by (1 + w) */
    hp->qk_norm = fd->family == MX_FAMILY_QWEN3 || fd->family == MX_FAMILY_GEMMA3;
    hp->sandwich_norm = gemma;
    hp->qkv_bias = fd->family == MX_FAMILY_QWEN2 || cbool(c, "attention_bias", 0);
    hp->tied_embeddings = find_tensor_type(m, "output.weight") < 0;
    const cJSON *tie = cget(c, "tie_word_embeddings");
    if (hp->tied_embeddings && cJSON_IsFalse(tie))
        return mx_err(MIXLM_ERR_FORMAT,
                      "%s: tie_word_embeddings is false but the weights have no lm_head.weight",
                      c->path);

    double qpas = hp->head_dim;
    if (gemma) {
        double d;
        int r = cnum(c, "query_pre_attn_scalar", &d);
        if (r < 0 || (r == 1 && !(d > 0)))
            return mx_err(MIXLM_ERR_FORMAT, "%s: query_pre_attn_scalar must be positive", c->path);
        qpas = r == 1 ? d : 256.0;
    }
    hp->attn_scale = (float)(1.0 / sqrt(qpas));
    int32_t et = find_tensor_type(m, "token_embd.weight");
    hp->embd_scale = gemma ? mx_embd_scale(hp->n_embd, et < 0 ? MX_TYPE_F32 : (mx_type)et) : 1.0f;

    float final_cap = 0, attn_cap = 0;
    if ((st = cfloat(c, "final_logit_softcapping", fd->family == MX_FAMILY_GEMMA2 ? 30.0 : 0.0,
                     &final_cap)))
        return st;
    if ((st = cfloat(c, "attn_logit_softcapping", fd->family == MX_FAMILY_GEMMA2 ? 50.0 : 0.0,
                     &attn_cap)))
        return st;
    /* An explicit null switches a cap off (cnum treats null as absent; handle it here). */
    const cJSON *v = cget(c, "final_logit_softcapping");
    if (cJSON_IsNull(v)) final_cap = 0;
    v = cget(c, "attn_logit_softcapping");
    if (cJSON_IsNull(v)) attn_cap = 0;
    hp->final_softcap = final_cap;

    /* Special tokens: generation_config.json wins over config.json. */
    hp->bos_id = hp->pad_id = -1;
    hp->n_eos = 0;
    const cJSON *eos = jget(gen, "eos_token_id");
    if (!eos || cJSON_IsNull(eos)) eos = cget(c, "eos_token_id");
    add_ids(hp, eos);
    const cJSON *bos = jget(gen, "bos_token_id");
    hp->bos_id = one_id(bos ? bos : cget(c, "bos_token_id"));
    const cJSON *pad = jget(gen, "pad_token_id");
    hp->pad_id = one_id(pad ? pad : cget(c, "pad_token_id"));

    /* RoPE. */
    float theta, local_theta, factor, local_factor;
    if ((st = read_rope(c, fd, &theta, &factor, &local_theta, &local_factor))) return st;

    /* Window: sliding_window (null = none), Qwen's use_sliding_window switch, Llama 4 chunks. */
    int32_t window = 0, chunk = 0, max_window_layers = 0;
    bool mistral = strcmp(fd->model_type, "mistral") == 0;
    const char *sw_key = "sliding_window";
    if (!cget(c, sw_key) && gemma && cget(c, "sliding_window_size"))
        sw_key = "sliding_window_size"; /* early Gemma 2 configs */
    if (!cget(c, sw_key) && (mistral || gemma)) window = 4096; /* config class defaults */
    else if ((st = cint(c, sw_key, 0, 0, MX_MAX_WINDOW, &window))) return st;
    bool qwen = fd->family == MX_FAMILY_QWEN2 || fd->family == MX_FAMILY_QWEN3;
    if (qwen) {
        if (!cbool(c, "use_sliding_window", 0)) window = 0;
        if ((st = cint(c, "max_window_layers", 28, 0, MX_MAX_LAYERS, &max_window_layers))) return st;
    }
    if ((st = cint(c, "attention_chunk_size", 0, 0, MX_MAX_WINDOW, &chunk))) return st;

    m->layers = mx_calloc((size_t)hp->n_layer, sizeof *m->layers);
    mx_attn_kind *kinds = mx_calloc((size_t)hp->n_layer, sizeof *kinds);
    if (!m->layers || !kinds) {
        free(kinds);
        return MIXLM_ERR_NOMEM;
    }
    int have_types = 0;
    st = read_layer_types(c, hp->n_layer, kinds, &have_types);
    int pattern = 6;
    if (!st && fd->family == MX_FAMILY_GEMMA3)
        st = cint(c, "sliding_window_pattern", 6, 1, MX_MAX_LAYERS, &pattern);
    const cJSON *no_rope = cget(c, "no_rope_layers");
    if (!st && no_rope && !(cJSON_IsArray(no_rope) && cJSON_GetArraySize(no_rope) == hp->n_layer))
        st = mx_err(MIXLM_ERR_FORMAT, "%s: \"no_rope_layers\" must list %d entries", c->path,
                    hp->n_layer);
    const cJSON *nr = no_rope ? no_rope->child : NULL;
    for (int32_t i = 0; i < hp->n_layer && !st; i++, nr = nr ? nr->next : NULL) {
        mx_layer_spec *l = &m->layers[i];
        mx_attn_kind k = MX_ATTN_FULL;
        if (have_types) {
            k = kinds[i];
        } else if (chunk > 0) {
            k = (i + 1) % 4 == 0 ? MX_ATTN_FULL : MX_ATTN_CHUNKED; /* Llama 4 */
        } else if (window > 0) {
            switch (fd->family) {
            case MX_FAMILY_GEMMA2: k = i % 2 == 0 ? MX_ATTN_SLIDING : MX_ATTN_FULL; break;
            case MX_FAMILY_GEMMA3: k = (i + 1) % pattern != 0 ? MX_ATTN_SLIDING : MX_ATTN_FULL; break;
            case MX_FAMILY_QWEN2:
            case MX_FAMILY_QWEN3: k = i >= max_window_layers ? MX_ATTN_SLIDING : MX_ATTN_FULL; break;
            /* Mistral slides everywhere; Llama has no sliding_window setting of its own. */
            case MX_FAMILY_LLAMA: k = mistral ? MX_ATTN_SLIDING : MX_ATTN_FULL; break;
            }
        }
        if (k == MX_ATTN_SLIDING && window <= 0)
            st = mx_err(MIXLM_ERR_FORMAT, "%s: layer %d slides but \"sliding_window\" is not set",
                        c->path, i);
        if (k == MX_ATTN_CHUNKED && chunk <= 0)
            st = mx_err(MIXLM_ERR_FORMAT,
                        "%s: layer %d is chunked but \"attention_chunk_size\" is not set", c->path,
                        i);
        l->attn = k;
        l->window = k == MX_ATTN_SLIDING ? window : k == MX_ATTN_CHUNKED ? chunk : 0;
        l->attn_softcap = attn_cap;
        /* Llama 4 lists which layers rotate (1) and which do not (0); without the list its
         * full layers are the no-RoPE ones. */
        if (nr) l->use_rope = cJSON_IsNumber(nr) ? nr->valuedouble != 0 : cJSON_IsTrue(nr);
        else l->use_rope = !(chunk > 0 && !have_types && k == MX_ATTN_FULL);
        if (k == MX_ATTN_SLIDING) {
            l->rope_base = local_theta;
            l->rope_scale = local_factor;
        } else {
            l->rope_base = theta;
            l->rope_scale = factor;
        }
    }
    free(kinds);
    return st;
}

/* The part shared by folders and memory images: family, weights, hyper-parameters. Weights come
 * from dir when it is set, else from the safetensors image weights[0..weights_size). */
static mixlm_status fill_parsed(mixlm_model *m, const cJSON *root, const cJSON *gen,
                                const char *cpath, const char *dir, const uint8_t *weights,
                                uint64_t weights_size) {
    cfg c = {root, root, cpath};
    const cJSON *tc = jget(root, "text_config");
    if (cJSON_IsObject(tc)) c.tc = tc;
    const cJSON *mt = jget(c.tc, "model_type");
    if (!cJSON_IsString(mt)) mt = jget(root, "model_type");
    const char *model_type = cJSON_IsString(mt) ? mt->valuestring : NULL;
    if (!model_type) {
        const cJSON *archs = jget(root, "architectures");
        const cJSON *a0 = cJSON_IsArray(archs) ? archs->child : NULL;
        for (size_t i = 0; cJSON_IsString(a0) && i < MX_ARRAY_LEN(g_arch_map); i++)
            if (strcmp(a0->valuestring, g_arch_map[i].arch) == 0) model_type = g_arch_map[i].model_type;
    }
    const family_defaults *fd = model_type ? find_family(model_type) : NULL;
    if (!fd)
        return mx_err(MIXLM_ERR_UNSUPPORTED,
                      "%s: unsupported model_type '%.40s' (supported: gemma3, gemma3_text, gemma2, "
                      "llama, mistral, qwen2, qwen3)",
                      cpath, model_type ? model_type : "(none)");
    snprintf(m->hp.arch, sizeof m->hp.arch, "%s", model_type);
    m->hp.family = fd->family;
    mixlm_status st = cint(&c, "num_hidden_layers", fd->layers, 1, MX_MAX_LAYERS, &m->hp.n_layer);
    if (st) return st;
    if (dir) {
        st = open_weights(m, dir);
    } else {
        m->shards = mx_calloc(1, sizeof *m->shards);
        if (!m->shards) return MIXLM_ERR_NOMEM;
        st = mx_safetensors_open_memory(weights, weights_size, &m->shards[0]);
        if (!st) m->n_shards = 1;
    }
    if (!st) st = collect_tensors(m);
    if (!st) st = fill_config(m, &c, fd, gen);
    return st;
}

mixlm_status mx_model_fill_hf(mixlm_model *m, const char *dir) {
    m->format = MX_FORMAT_HF;
    char *cpath = mx_path_join(dir, "config.json");
    char *gpath = mx_path_join(dir, "generation_config.json");
    cJSON *root = NULL, *gen = NULL;
    mixlm_status st = (!cpath || !gpath) ? MIXLM_ERR_NOMEM : MIXLM_OK;
    if (!st && !mx_file_exists(cpath))
        st = mx_err(MIXLM_ERR_IO, "%s: not a model folder (no config.json)", dir);
    if (!st) st = read_json(cpath, MAX_CONFIG_BYTES, 1, &root, &m->config_json);
    if (!st) st = read_json(gpath, MAX_CONFIG_BYTES, 0, &gen, &m->generation_config_json);
    if (!st) st = fill_parsed(m, root, gen, cpath, dir, NULL, 0);
    cJSON_Delete(root);
    cJSON_Delete(gen);
    free(cpath);
    free(gpath);
    return st;
}

mixlm_status mx_model_fill_hf_memory(mixlm_model *m, const char *config, size_t config_len,
                                     const char *gen_config, size_t gen_len,
                                     const uint8_t *weights, uint64_t weights_size) {
    m->format = MX_FORMAT_HF;
    cJSON *root = NULL, *gen = NULL;
    if (!config || config_len > MAX_CONFIG_BYTES || gen_len > MAX_CONFIG_BYTES)
        return mx_err(MIXLM_ERR_INVALID_ARG, "config.json: missing or larger than %u bytes",
                      MAX_CONFIG_BYTES);
    mixlm_status st = MIXLM_OK;
    if (!(m->config_json = mx_strndup(config, config_len))) st = MIXLM_ERR_NOMEM;
    if (!st) st = parse_json("config.json", config, config_len, &root);
    if (!st && gen_config) {
        if (!(m->generation_config_json = mx_strndup(gen_config, gen_len))) st = MIXLM_ERR_NOMEM;
        if (!st) st = parse_json("generation_config.json", gen_config, gen_len, &gen);
    }
    if (!st) st = fill_parsed(m, root, gen, "config.json", NULL, weights, weights_size);
    cJSON_Delete(root);
    cJSON_Delete(gen);
    return st;
}
