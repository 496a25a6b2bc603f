/* model.c: mixlm_model_load (GGUF file or HF folder), the checks both readers share, tensor
 * lookup, and the JSON description printed by `mixlm inspect --json`. */
#include "model/loader.h"
#include "model/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Small helpers ------------------------------------------------------------------------ */

const char *mx_attn_kind_name(mx_attn_kind kind) {
    switch (kind) {
    case MX_ATTN_FULL: return "full";
    case MX_ATTN_SLIDING: return "sliding";
    case MX_ATTN_CHUNKED: return "chunked";
    }
    return "?";
}

const char *mx_family_name(mx_family family) {
    switch (family) {
    case MX_FAMILY_LLAMA: return "llama";
    case MX_FAMILY_QWEN2: return "qwen2";
    case MX_FAMILY_QWEN3: return "qwen3";
    case MX_FAMILY_GEMMA2: return "gemma2";
    case MX_FAMILY_GEMMA3: return "gemma3";
    }
    return "?";
}

float mx_embd_scale(int32_t n_embd, mx_type embd_type) {
    float s = (float)sqrt((double)n_embd);
    /* HF multiplies by a tensor of the hidden states' dtype (55.4256 becomes 55.5 in bf16). */
    if (embd_type == MX_TYPE_BF16) return mx_bf16_to_f32(mx_f32_to_bf16(s));
    if (embd_type == MX_TYPE_F16) return mx_f16_to_f32(mx_f32_to_f16(s));
    return s;
}

void mx_add_eos(mx_hparams *hp, int64_t id) {
    if (id < 0 || id > INT32_MAX) return;
    for (int i = 0; i < hp->n_eos; i++)
        if (hp->eos_ids[i] == id) return;
    if (hp->n_eos < MX_MAX_EOS) hp->eos_ids[hp->n_eos++] = (int32_t)id;
}

static int cmp_tensor_ptr(const void *a, const void *b) {
    return strcmp((*(const mx_tensor *const *)a)->name, (*(const mx_tensor *const *)b)->name);
}

const mx_tensor *mx_model_tensor(const mixlm_model *m, const char *name) {
    if (!m || !name || !m->tensor_order) return NULL;
    int32_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        const mx_tensor *t = &m->tensors[m->tensor_order[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- Shared validation ------------------------------------------------------------------- */

static int finite_pos(float x) { return isfinite(x) && x > 0; }

mixlm_status mx_model_finish(mixlm_model *m) {
    mx_hparams *hp = &m->hp;
    const char *p = m->path;
#define RANGE(field, lo, hi)                                                                   \
    if (hp->field < (lo) || hp->field > (hi))                                                  \
        return mx_err(MIXLM_ERR_FORMAT, "%s: " #field " = %lld is outside %lld..%lld", p,      \
                      (long long)hp->field, (long long)(lo), (long long)(hi));
    RANGE(n_layer, 1, MX_MAX_LAYERS)
    RANGE(n_embd, 1, MX_MAX_EMBD)
    RANGE(n_ff, 1, MX_MAX_FF)
    RANGE(n_head, 1, MX_MAX_HEADS)
    RANGE(n_head_kv, 1, MX_MAX_HEADS)
    RANGE(head_dim, 1, MX_MAX_HEAD_DIM)
    RANGE(n_vocab, 1, MX_MAX_VOCAB)
    RANGE(n_ctx_train, 0, INT32_MAX)
#undef RANGE
    if (hp->n_head % hp->n_head_kv != 0)
        return mx_err(MIXLM_ERR_FORMAT, "%s: n_head %d is not a multiple of n_head_kv %d", p,
                      hp->n_head, hp->n_head_kv);
    if (hp->head_dim % 2 != 0)
        return mx_err(MIXLM_ERR_FORMAT, "%s: head_dim %d is odd (RoPE rotates pairs)", p,
                      hp->head_dim);
    if (!finite_pos(hp->rms_eps) || hp->rms_eps >= 1)
        return mx_err(MIXLM_ERR_FORMAT, "%s: rms_norm_eps %g is not in (0, 1)", p,
                      (double)hp->rms_eps);
    if (!finite_pos(hp->attn_scale) || !finite_pos(hp->embd_scale))
        return mx_err(MIXLM_ERR_FORMAT, "%s: attention or embedding scale is not positive", p);
    if (!isfinite(hp->final_softcap) || hp->final_softcap < 0)
        return mx_err(MIXLM_ERR_FORMAT, "%s: final_logit_softcapping %g is negative", p,
                      (double)hp->final_softcap);
    for (int i = 0; i < hp->n_eos; i++)
        if (hp->eos_ids[i] >= hp->n_vocab)
            return mx_err(MIXLM_ERR_FORMAT, "%s: eos token id %d is outside the vocabulary (%d)", p,
                          hp->eos_ids[i], hp->n_vocab);
    if (hp->bos_id >= hp->n_vocab) hp->bos_id = -1; /* unusable: treat as unknown */
    if (hp->pad_id >= hp->n_vocab) hp->pad_id = -1;
    for (int i = 0; i < hp->n_layer; i++) {
        const mx_layer_spec *l = &m->layers[i];
        if (l->attn != MX_ATTN_FULL && (l->window < 1 || l->window > MX_MAX_WINDOW))
            return mx_err(MIXLM_ERR_FORMAT, "%s: layer %d: %s window %d is not in 1..%d", p, i,
                          mx_attn_kind_name(l->attn), l->window, MX_MAX_WINDOW);
        if (l->attn == MX_ATTN_FULL && l->window != 0)
            return mx_err(MIXLM_ERR_INTERNAL, "%s: layer %d: full layer with a window", p, i);
        if (l->use_rope && (!finite_pos(l->rope_base) || !finite_pos(l->rope_scale)))
            return mx_err(MIXLM_ERR_FORMAT, "%s: layer %d: RoPE base %g / scale %g not positive", p,
                          i, (double)l->rope_base, (double)l->rope_scale);
        if (!isfinite(l->attn_softcap) || l->attn_softcap < 0)
            return mx_err(MIXLM_ERR_FORMAT, "%s: layer %d: attention soft-cap %g is negative", p, i,
                          (double)l->attn_softcap);
    }

    /* Plain-typed tensors must be aligned to their element size so that the engine may read
     * them through typed pointers (a safetensors header of odd length could break that). */
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const mx_tensor *t = &m->tensors[i];
        const mx_type_info *ti = mx_type_get(t->type);
        if (ti && ti->block == 1 && ((uintptr_t)t->data % ti->bytes) != 0)
            return mx_err(MIXLM_ERR_UNSUPPORTED,
                          "%s: tensor '%s': %s data is not aligned to %u bytes in the file", p,
                          t->name, ti->name, ti->bytes);
    }

    /* Name index; readers already rejected duplicates, so a duplicate here is a mapping bug or
     * two source names mapped to one canonical name. */
    m->tensor_order = mx_malloc((size_t)(m->n_tensors ? m->n_tensors : 1) * sizeof *m->tensor_order);
    const mx_tensor **order = mx_malloc((size_t)(m->n_tensors ? m->n_tensors : 1) * sizeof *order);
    if (!m->tensor_order || !order) {
        free(order);
        return MIXLM_ERR_NOMEM;
    }
    for (int32_t i = 0; i < m->n_tensors; i++) order[i] = &m->tensors[i];
    qsort(order, (size_t)m->n_tensors, sizeof *order, cmp_tensor_ptr);
    mixlm_status st = MIXLM_OK;
    for (int32_t i = 0; i < m->n_tensors; i++) {
        m->tensor_order[i] = (int32_t)(order[i] - m->tensors);
        if (i && strcmp(order[i - 1]->name, order[i]->name) == 0 && !st)
            st = mx_err(MIXLM_ERR_FORMAT, "%s: two tensors map to the name '%s'", p, order[i]->name);
    }
    free(order);
    if (st) return st;
    const mx_tensor *embd = mx_model_tensor(m, "token_embd.weight");
    if (!embd)
        return mx_err(MIXLM_ERR_FORMAT, "%s: no token embedding tensor (token_embd.weight)", p);
    /* The vocabulary size and width the rest of the program sizes buffers with must be the
     * embedding's own. */
    if (embd->n_dims != 2 || embd->ne[0] != hp->n_embd || embd->ne[1] != hp->n_vocab)
        return mx_err(MIXLM_ERR_FORMAT,
                      "%s: token_embd.weight is [%lld, %lld] but the model declares n_embd %d and "
                      "a vocabulary of %d",
                      p, (long long)embd->ne[0], (long long)embd->ne[1], hp->n_embd, hp->n_vocab);
    return MIXLM_OK;
}

/* ---- Loading ------------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static mixlm_status finish_load(mixlm_model *m, mixlm_status st, mixlm_model **out) {
    if (!st) st = mx_model_finish(m);
    if (st) {
        mixlm_model_free(m);
        return st;
    }
    *out = m;
    return MIXLM_OK;
}

mixlm_status mixlm_model_load(const char *path, mixlm_model **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "mixlm_model_load: out is NULL");
    *out = NULL;
    if (!path || !*path) return mx_err(MIXLM_ERR_INVALID_ARG, "mixlm_model_load: empty path");
    mixlm_model *m = mx_calloc(1, sizeof *m);
    if (!m) return MIXLM_ERR_NOMEM;
    m->path = mx_strdup(path);
    if (!m->path) return finish_load(m, MIXLM_ERR_NOMEM, out);
    mixlm_status st;
    if (mx_is_dir(path)) {
        m->format = MX_FORMAT_HF;
        st = mx_model_fill_hf(m, path);
    } else if (mx_file_exists(path)) {
        m->format = MX_FORMAT_GGUF;
        mx_gguf *g = NULL;
        st = mx_gguf_open(path, &g);
        if (!st) st = mx_model_fill_gguf(m, g);
        if (st && !ends_with(path, ".gguf") && g == NULL)
            mx_err_prefix(st, "%s is neither a GGUF file nor a model folder: ", path);
    } else {
        st = mx_err(MIXLM_ERR_IO, "%s: no such file or folder", path);
    }
    return finish_load(m, st, out);
}

mixlm_status mx_model_load_gguf_memory(const uint8_t *data, uint64_t size, mixlm_model **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "mx_model_load_gguf_memory: out is NULL");
    *out = NULL;
    mixlm_model *m = mx_calloc(1, sizeof *m);
    if (!m) return MIXLM_ERR_NOMEM;
    m->path = mx_strdup("<memory>");
    m->format = MX_FORMAT_GGUF;
    mx_gguf *g = NULL;
    mixlm_status st = m->path ? mx_gguf_open_memory(data, size, &g) : MIXLM_ERR_NOMEM;
    if (!st) st = mx_model_fill_gguf(m, g);
    return finish_load(m, st, out);
}

mixlm_status mx_model_load_hf_memory(const char *config, size_t config_len, const char *gen_config,
                                     size_t gen_len, const uint8_t *weights, uint64_t weights_size,
                                     mixlm_model **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "mx_model_load_hf_memory: out is NULL");
    *out = NULL;
    mixlm_model *m = mx_calloc(1, sizeof *m);
    if (!m) return MIXLM_ERR_NOMEM;
    m->path = mx_strdup("<memory>");
    m->format = MX_FORMAT_HF;
    mixlm_status st = m->path ? mx_model_fill_hf_memory(m, config, config_len, gen_config, gen_len,
                                                         weights, weights_size)
                              : MIXLM_ERR_NOMEM;
    return finish_load(m, st, out);
}

void mixlm_model_free(mixlm_model *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_tensors; i++) free(m->tensors[i].name);
    free(m->tensors);
    free(m->tensor_order);
    free(m->layers);
    mx_gguf_free(m->gguf);
    for (int32_t i = 0; i < m->n_shards; i++) mx_safetensors_free(m->shards[i]);
    free(m->shards);
    free(m->config_json);
    free(m->generation_config_json);
    free(m->path);
    free(m);
}

/* ---- Description ------------------------------------------------------------------------- */

static void json_float(mx_buf *b, double x) {
    if (isfinite(x)) mx_buf_printf(b, "%.9g", x);
    else mx_buf_puts(b, "null");
}

char *mixlm_model_describe_json(const mixlm_model *m) {
    if (!m) return NULL;
    const mx_hparams *hp = &m->hp;
    mx_buf b = {0};
    mx_buf_puts(&b, "{\"format\":");
    mx_buf_puts(&b, m->format == MX_FORMAT_GGUF ? "\"gguf\"" : "\"hf\"");
    mx_buf_puts(&b, ",\"path\":");
    mx_buf_json_str(&b, m->path, strlen(m->path));
    mx_buf_puts(&b, ",\"architecture\":");
    mx_buf_json_str(&b, hp->arch, strlen(hp->arch));
    mx_buf_printf(&b, ",\"family\":\"%s\"", mx_family_name(hp->family));
    if (m->gguf) {
        const char *s;
        size_t len;
        mx_buf_printf(&b, ",\"gguf_version\":%u", mx_gguf_version(m->gguf));
        if (mx_gguf_get_str(m->gguf, "general.name", &s, &len) == 1) {
            mx_buf_puts(&b, ",\"name\":");
            mx_buf_json_str(&b, s, len);
        }
    }
    mx_buf_printf(&b,
                  ",\"n_layers\":%d,\"n_embd\":%d,\"n_ff\":%d,\"n_head\":%d,\"n_head_kv\":%d,"
                  "\"head_dim\":%d,\"n_vocab\":%d,\"n_ctx_train\":%d",
                  hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv, hp->head_dim,
                  hp->n_vocab, hp->n_ctx_train);
    mx_buf_puts(&b, ",\"rms_eps\":");
    json_float(&b, hp->rms_eps);
    mx_buf_puts(&b, ",\"attn_scale\":");
    json_float(&b, hp->attn_scale);
    mx_buf_puts(&b, ",\"final_softcap\":");
    json_float(&b, hp->final_softcap);
    mx_buf_puts(&b, ",\"embd_scale\":");
    json_float(&b, hp->embd_scale);
    mx_buf_printf(&b, ",\"activation\":\"%s\"", hp->act == MX_ACT_GELU_TANH ? "gelu_tanh" : "silu");
    mx_buf_printf(&b,
                  ",\"rope_neox\":%s,\"norm_add_one\":%s,\"qk_norm\":%s,\"sandwich_norm\":%s,"
                  "\"qkv_bias\":%s,\"tied_embeddings\":%s",
                  hp->rope_neox ? "true" : "false", hp->norm_add_one ? "true" : "false",
                  hp->qk_norm ? "true" : "false", hp->sandwich_norm ? "true" : "false",
                  hp->qkv_bias ? "true" : "false", hp->tied_embeddings ? "true" : "false");
    mx_buf_printf(&b, ",\"bos_id\":%d,\"pad_id\":%d,\"eos_ids\":[", hp->bos_id, hp->pad_id);
    for (int i = 0; i < hp->n_eos; i++) mx_buf_printf(&b, "%s%d", i ? "," : "", hp->eos_ids[i]);
    mx_buf_puts(&b, "],\"layers\":[");
    for (int i = 0; i < hp->n_layer; i++) {
        const mx_layer_spec *l = &m->layers[i];
        mx_buf_printf(&b, "%s{\"index\":%d,\"attention\":\"%s\",\"window\":%d,\"rope\":%s,", i ? "," : "",
                      i, mx_attn_kind_name(l->attn), l->window, l->use_rope ? "true" : "false");
        mx_buf_puts(&b, "\"rope_base\":");
        json_float(&b, l->rope_base);
        mx_buf_puts(&b, ",\"rope_scale\":");
        json_float(&b, l->rope_scale);
        mx_buf_puts(&b, ",\"attn_softcap\":");
        json_float(&b, l->attn_softcap);
        mx_buf_putc(&b, '}');
    }
    /* Tensor totals by type, in type-id order. */
    uint64_t total = 0, bytes_by[MX_TYPE_COUNT] = {0};
    int32_t count_by[MX_TYPE_COUNT] = {0};
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const mx_tensor *t = &m->tensors[i];
        total += t->nbytes;
        if ((unsigned)t->type < MX_TYPE_COUNT) {
            bytes_by[t->type] += t->nbytes;
            count_by[t->type]++;
        }
    }
    mx_buf_printf(&b, "],\"tensors\":{\"count\":%d,\"bytes\":%llu,\"by_type\":{", m->n_tensors,
                  (unsigned long long)total);
    int first = 1;
    for (int t = 0; t < MX_TYPE_COUNT; t++) {
        if (!count_by[t]) continue;
        mx_buf_printf(&b, "%s\"%s\":{\"count\":%d,\"bytes\":%llu}", first ? "" : ",",
                      mx_type_get((uint32_t)t)->name, count_by[t], (unsigned long long)bytes_by[t]);
        first = 0;
    }
    mx_buf_puts(&b, "}}");
    /* The native contract derived from the model (src/contract/native.c), with default
     * parameters; null plus the reason when the model cannot be described by one. */
    mixlm_contract *contract = NULL;
    if (mixlm_model_contract(m, mixlm_contract_default_params(), &contract) == MIXLM_OK) {
        char *cj = mixlm_contract_to_json(contract);
        mx_buf_puts(&b, ",\"contract\":");
        mx_buf_puts(&b, cj ? cj : "null");
        free(cj);
        mixlm_contract_free(contract);
    } else {
        mx_buf_puts(&b, ",\"contract\":null,\"contract_error\":");
        mx_buf_json_str(&b, mixlm_last_error(), strlen(mixlm_last_error()));
    }
    mx_buf_putc(&b, '}');
    return mx_buf_take(&b);
}
