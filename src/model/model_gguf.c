/* model_gguf.c: GGUF metadata -> mx_hparams and per-layer specs, following the conventions of
 * llama.cpp's GGUF files (key names "<arch>.<name>", defaults where keys are absent). */
#include "model/loader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gctx {
    const mx_gguf *g;
    const char *path;
    const char *arch;
} gctx;

static const char *akey(const gctx *c, const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s.%s", c->arch, name);
    return buf;
}

static mixlm_status bad_type(const gctx *c, const char *key, const char *want) {
    int64_t i = mx_gguf_find_key(c->g, key);
    return mx_err(MIXLM_ERR_FORMAT, "%s: key %s has type %s (%s expected) or is out of range",
                  c->path, key, mx_gguf_vtype_name(mx_gguf_kv_type(c->g, i)), want);
}

/* Integer "<arch>.name": required when def < 0. Result must lie in 0..INT32_MAX. */
static mixlm_status get_int(const gctx *c, const char *name, int64_t def, int32_t *out) {
    char key[256];
    akey(c, name, key, sizeof key);
    int64_t v;
    int r = mx_gguf_get_i64(c->g, key, &v);
    if (r == 0) {
        if (def < 0) return mx_err(MIXLM_ERR_FORMAT, "%s: missing key %s", c->path, key);
        *out = (int32_t)def;
        return MIXLM_OK;
    }
    if (r < 0 || v < 0 || v > INT32_MAX) return bad_type(c, key, "a non-negative integer");
    *out = (int32_t)v;
    return MIXLM_OK;
}

static mixlm_status get_float(const gctx *c, const char *name, double def, int required,
                              float *out) {
    char key[256];
    akey(c, name, key, sizeof key);
    int r = mx_gguf_get_f32(c->g, key, out);
    if (r == 0) {
        if (required) return mx_err(MIXLM_ERR_FORMAT, "%s: missing key %s", c->path, key);
        *out = (float)def;
        return MIXLM_OK;
    }
    if (r < 0 || !isfinite(*out)) return bad_type(c, key, "a finite number");
    return MIXLM_OK;
}

static int str_eq(const char *s, size_t n, const char *lit) {
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* Token id keys: absent or out of range -> -1. */
static int64_t token_id(const mx_gguf *g, const char *key) {
    int64_t v;
    return mx_gguf_get_i64(g, key, &v) == 1 && v >= 0 && v <= INT32_MAX ? v : -1;
}

/* GGUF files often name only one eos id, while the HF generation_config of the same chat model
 * lists the end-of-turn tokens too (Gemma [1, 106], Qwen [151645, 151643], Llama 3 [128001,
 * 128008, 128009]). Add the vocabulary's end-of-turn tokens by their exact text so that both
 * formats stop generation at the same tokens. */
static void add_end_of_turn_tokens(mx_hparams *hp, const mx_gguf *g) {
    static const char *names[] = {"<end_of_turn>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>",
                                  "<|eom_id|>", "<|end_of_text|>"};
    mx_gguf_vtype et;
    uint64_t n;
    if (mx_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) != 1 || et != MX_GGUF_STRING) return;
    for (uint64_t i = 0; i < n && i <= INT32_MAX; i++) {
        const char *s;
        size_t len;
        if (mx_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len) != 1 || len < 5 || s[0] != '<')
            continue;
        for (size_t k = 0; k < MX_ARRAY_LEN(names); k++)
            if (len == strlen(names[k]) && memcmp(s, names[k], len) == 0) mx_add_eos(hp, (int64_t)i);
    }
}

static mixlm_status fill_tensors(mixlm_model *m, const mx_gguf *g) {
    int64_t n = mx_gguf_n_tensors(g);
    if (n > INT32_MAX) return mx_err(MIXLM_ERR_FORMAT, "%s: too many tensors", m->path);
    m->tensors = mx_calloc((size_t)(n ? n : 1), sizeof *m->tensors);
    if (!m->tensors) return MIXLM_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        mx_tensor *t = &m->tensors[i];
        t->name = mx_strdup(mx_gguf_tensor_name(g, i));
        if (!t->name) return MIXLM_ERR_NOMEM;
        m->n_tensors = (int32_t)i + 1;
        t->type = (mx_type)mx_gguf_tensor_type(g, i);
        t->n_dims = mx_gguf_tensor_n_dims(g, i);
        memcpy(t->ne, mx_gguf_tensor_ne(g, i), sizeof t->ne);
        t->data = mx_gguf_tensor_data(g, i);
        t->nbytes = mx_gguf_tensor_nbytes(g, i);
    }
    return MIXLM_OK;
}

/* Sliding layers from "<arch>.attention.sliding_window_pattern": an integer n (llama.cpp:
 * layer i slides iff n == 0 or i % n < n - 1) or a per-layer bool/int array. Returns 1 when the
 * key was present and *sliding filled, 0 when absent. */
static int pattern_layers(const gctx *c, int32_t n_layer, bool *sliding, mixlm_status *st) {
    char key[256];
    akey(c, "attention.sliding_window_pattern", key, sizeof key);
    *st = MIXLM_OK;
    int64_t pat;
    int r = mx_gguf_get_i64(c->g, key, &pat);
    if (r == 1) {
        if (pat < 0 || pat > INT32_MAX) {
            *st = bad_type(c, key, "a non-negative integer");
            return 0;
        }
        for (int32_t i = 0; i < n_layer; i++) sliding[i] = pat == 0 || (i % pat) < (pat - 1);
        return 1;
    }
    mx_gguf_vtype et;
    uint64_t n;
    if (mx_gguf_get_arr(c->g, key, &et, &n) == 1) {
        if (n != (uint64_t)n_layer) {
            *st = mx_err(MIXLM_ERR_FORMAT, "%s: %s has %llu entries for %d layers", c->path, key,
                         (unsigned long long)n, n_layer);
            return 0;
        }
        for (int32_t i = 0; i < n_layer; i++) {
            int64_t v;
            if (mx_gguf_arr_i64(c->g, key, (uint64_t)i, &v) != 1) {
                *st = bad_type(c, key, "an array of bools");
                return 0;
            }
            sliding[i] = v != 0;
        }
        return 1;
    }
    if (r < 0) *st = bad_type(c, key, "an integer or an array");
    return 0;
}

mixlm_status mx_model_fill_gguf(mixlm_model *m, mx_gguf *g) {
    m->gguf = g;
    m->format = MX_FORMAT_GGUF;
    mx_hparams *hp = &m->hp;
    const char *path = m->path;
    const char *s;
    size_t len;
    int r = mx_gguf_get_str(g, "general.architecture", &s, &len);
    if (r != 1)
        return mx_err(MIXLM_ERR_FORMAT, "%s: %s general.architecture", path,
                      r == 0 ? "missing key" : "wrong type for");
    if (len >= sizeof hp->arch || memchr(s, 0, len))
        return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: unsupported architecture (name too long)", path);
    memcpy(hp->arch, s, len);
    hp->arch[len] = 0;
    if (str_eq(s, len, "llama") || str_eq(s, len, "mistral")) hp->family = MX_FAMILY_LLAMA;
    else if (str_eq(s, len, "qwen2")) hp->family = MX_FAMILY_QWEN2;
    else if (str_eq(s, len, "qwen3")) hp->family = MX_FAMILY_QWEN3;
    else if (str_eq(s, len, "gemma2")) hp->family = MX_FAMILY_GEMMA2;
    else if (str_eq(s, len, "gemma3")) hp->family = MX_FAMILY_GEMMA3;
    else
        return mx_err(MIXLM_ERR_UNSUPPORTED,
                      "%s: unsupported architecture '%s' (supported: llama, mistral, qwen2, qwen3, "
                      "gemma2, gemma3)",
                      path, hp->arch);
    gctx c = {g, path, hp->arch};
    mixlm_status st = fill_tensors(m, g);
    if (st) return st;

    bool gemma = hp->family == MX_FAMILY_GEMMA2 || hp->family == MX_FAMILY_GEMMA3;
    if ((st = get_int(&c, "block_count", -1, &hp->n_layer))) return st;
    if ((st = get_int(&c, "embedding_length", -1, &hp->n_embd))) return st;
    if ((st = get_int(&c, "feed_forward_length", -1, &hp->n_ff))) return st;
    if ((st = get_int(&c, "attention.head_count", -1, &hp->n_head))) return st;
    if ((st = get_int(&c, "attention.head_count_kv", hp->n_head, &hp->n_head_kv))) return st;
    if ((st = get_int(&c, "context_length", 0, &hp->n_ctx_train))) return st;
    if (hp->n_head <= 0 || hp->n_layer <= 0 || hp->n_layer > MX_MAX_LAYERS)
        return mx_err(MIXLM_ERR_FORMAT, "%s: block_count %d / head_count %d out of range", path,
                      hp->n_layer, hp->n_head);
    int64_t def_hd = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : -1;
    if ((st = get_int(&c, "attention.key_length", def_hd, &hp->head_dim))) return st;
    int32_t vlen;
    if ((st = get_int(&c, "attention.value_length", hp->head_dim, &vlen))) return st;
    if (vlen != hp->head_dim)
        return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: key_length %d != value_length %d", path,
                      hp->head_dim, vlen);
    if ((st = get_float(&c, "attention.layer_norm_rms_epsilon", 0, 1, &hp->rms_eps))) return st;

    /* Vocabulary size: the embedding's rows, else the vocab_size key, else the token list. */
    int64_t ei = mx_gguf_find_tensor(g, "token_embd.weight");
    if (ei < 0) return mx_err(MIXLM_ERR_FORMAT, "%s: no tensor token_embd.weight", path);
    const int64_t *ene = mx_gguf_tensor_ne(g, ei);
    if (mx_gguf_tensor_n_dims(g, ei) != 2 || ene[0] != hp->n_embd)
        return mx_err(MIXLM_ERR_FORMAT, "%s: token_embd.weight is not [n_embd=%d, n_vocab]", path,
                      hp->n_embd);
    if (ene[1] > MX_MAX_VOCAB)
        return mx_err(MIXLM_ERR_FORMAT, "%s: vocabulary of %lld exceeds %d", path,
                      (long long)ene[1], MX_MAX_VOCAB);
    hp->n_vocab = (int32_t)ene[1];

    hp->act = gemma ? MX_ACT_GELU_TANH : MX_ACT_SILU;
    /* llama.cpp rotates interleaved pairs for llama-family files (its converter permuted the Q/K
     * rows to match) and half-split (NeoX) pairs for Qwen and Gemma. */
    hp->rope_neox = hp->family != MX_FAMILY_LLAMA;
    hp->norm_add_one = false; /* GGUF Gemma norms already hold 1 + w */
    hp->qk_norm = hp->family == MX_FAMILY_QWEN3 || hp->family == MX_FAMILY_GEMMA3;
    hp->sandwich_norm = gemma;
    hp->qkv_bias = hp->family == MX_FAMILY_QWEN2 || mx_gguf_find_tensor(g, "blk.0.attn_q.bias") >= 0;
    hp->tied_embeddings = mx_gguf_find_tensor(g, "output.weight") < 0;

    /* Attention scale (llama.cpp): 1/sqrt(head_dim), except the 27B Gemma shapes (Gemma 2:
     * 46 layers, Gemma 3: 62 layers) which use 1/sqrt(n_embd / n_head) with integer division,
     * matching their query_pre_attn_scalar. */
    double qscale = hp->head_dim;
    if ((hp->family == MX_FAMILY_GEMMA2 && hp->n_layer == 46) ||
        (hp->family == MX_FAMILY_GEMMA3 && hp->n_layer == 62))
        qscale = (double)(hp->n_embd / hp->n_head);
    hp->attn_scale = (float)(1.0 / sqrt(qscale));
    hp->embd_scale = gemma ? mx_embd_scale(hp->n_embd, (mx_type)mx_gguf_tensor_type(g, ei)) : 1.0f;

    float attn_cap = 0;
    if ((st = get_float(&c, "final_logit_softcapping", hp->family == MX_FAMILY_GEMMA2 ? 30.0 : 0.0,
                        0, &hp->final_softcap)))
        return st;
    if ((st = get_float(&c, "attn_logit_softcapping", hp->family == MX_FAMILY_GEMMA2 ? 50.0 : 0.0,
                        0, &attn_cap)))
        return st;

    hp->bos_id = (int32_t)token_id(g, "tokenizer.ggml.bos_token_id");
    hp->pad_id = (int32_t)token_id(g, "tokenizer.ggml.padding_token_id");
    mx_add_eos(hp, token_id(g, "tokenizer.ggml.eos_token_id"));
    mx_add_eos(hp, token_id(g, "tokenizer.ggml.eot_token_id"));
    mx_add_eos(hp, token_id(g, "tokenizer.ggml.eom_token_id"));
    add_end_of_turn_tokens(hp, g);

    /* RoPE: base, optional linear scaling. */
    float base, base_swa, factor = 1.0f;
    if ((st = get_float(&c, "rope.freq_base", 10000.0, 0, &base))) return st;
    if ((st = get_float(&c, "rope.freq_base_swa", 10000.0, 0, &base_swa))) return st;
    char key[256];
    if (mx_gguf_get_str(g, akey(&c, "rope.scaling.type", key, sizeof key), &s, &len) == 1 &&
        !str_eq(s, len, "none") && !str_eq(s, len, "linear"))
        return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: unsupported RoPE scaling type '%.*s' (linear only)",
                      path, (int)MX_MIN(len, 32), s);
    if (!(mx_gguf_get_str(g, key, &s, &len) == 1 && str_eq(s, len, "none"))) {
        if ((st = get_float(&c, "rope.scaling.factor", 0.0, 0, &factor))) return st;
        if (factor == 0.0f && (st = get_float(&c, "rope.scale_linear", 0.0, 0, &factor))) return st;
        if (factor == 0.0f) factor = 1.0f;
    }

    /* Llama 3.1-style scaling ships per-dimension frequency factors as a tensor; mixlm's layer
     * specs carry only a linear factor, so refuse rather than run it wrongly. */
    if (mx_gguf_find_tensor(g, "rope_freqs.weight") >= 0)
        return mx_err(MIXLM_ERR_UNSUPPORTED,
                      "%s: RoPE frequency factors (rope_freqs.weight, Llama 3.1-style scaling) are "
                      "not supported",
                      path);

    /* Layers. */
    int32_t window = 0;
    if ((st = get_int(&c, "attention.sliding_window",
                      hp->family == MX_FAMILY_GEMMA2 ? 4096 : 0, &window)))
        return st;
    m->layers = mx_calloc((size_t)hp->n_layer, sizeof *m->layers);
    bool *sliding = mx_calloc((size_t)hp->n_layer, sizeof *sliding);
    if (!m->layers || !sliding) {
        free(sliding);
        return MIXLM_ERR_NOMEM;
    }
    if (window > 0 && !pattern_layers(&c, hp->n_layer, sliding, &st) && !st) {
        /* Family rules when the file gives a window but no pattern (SPEC.md section 2). */
        for (int32_t i = 0; i < hp->n_layer; i++) {
            if (hp->family == MX_FAMILY_GEMMA2) sliding[i] = i % 2 == 0;
            else if (hp->family == MX_FAMILY_GEMMA3) sliding[i] = (i + 1) % 6 != 0;
            else if (hp->family == MX_FAMILY_LLAMA) sliding[i] = true; /* Mistral */
            else sliding[i] = false;
        }
    }
    if (st) {
        free(sliding);
        return st;
    }
    for (int32_t i = 0; i < hp->n_layer; i++) {
        mx_layer_spec *l = &m->layers[i];
        bool sl = window > 0 && sliding[i];
        l->attn = sl ? MX_ATTN_SLIDING : MX_ATTN_FULL;
        l->window = sl ? window : 0;
        l->use_rope = true;
        l->attn_softcap = attn_cap;
        /* Gemma 3: local layers use their own base and no scaling; global layers the main base
         * with the linear factor. Other families: one base and factor everywhere. */
        if (hp->family == MX_FAMILY_GEMMA3 && sl) {
            l->rope_base = base_swa;
            l->rope_scale = 1.0f;
        } else {
            l->rope_base = base;
            l->rope_scale = factor;
        }
    }
    free(sliding);
    return MIXLM_OK;
}
