/* test_model_load.c: every oracle model loads from GGUF and from its HF folder; both give the
 * same hyper-parameters, layer table and tensor data (up to the documented format conventions),
 * and match the oracle's documented facts. */
#include "check.h"
#include "model/model.h"

#include <math.h>

typedef struct oracle_case {
    const char *gguf;
    const char *hf;
    mx_family family;
    const char *sliding;   /* '1' per sliding layer */
    int window;
    float base_sliding, base_full;
    float attn_cap, final_cap;
} oracle_case;

static const oracle_case cases[] = {
    {"oracle/tiny-gemma3-swa8.gguf", "oracle/hf-tiny-gemma3-swa8", MX_FAMILY_GEMMA3, "11111011", 8,
     1e4f, 1e6f, 0, 0},
    {"oracle/tiny-gemma2-swa8.gguf", "oracle/hf-tiny-gemma2-swa8", MX_FAMILY_GEMMA2, "10101010", 8,
     1e4f, 1e4f, 50, 30},
    {"oracle/tiny-llama.gguf", "oracle/hf-tiny-llama", MX_FAMILY_LLAMA, "00000000", 0, 1e4f, 1e4f, 0,
     0},
};

static mixlm_model *load(const char *rel) {
    mixlm_model *m = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s", test_data(rel));
    mixlm_status st = mixlm_model_load(path, &m);
    CHECK_MSG(st == MIXLM_OK && m, "load %s: %s", rel, mixlm_last_error());
    return m;
}

static float tensor_f32(const mx_tensor *t, int64_t i) {
    float f;
    memcpy(&f, (const char *)t->data + i * 4, 4);
    return f;
}

/* Compare two F32 tensors element-wise, optionally with an offset (GGUF Gemma norms = 1 + w). */
static void same_tensor(const mixlm_model *a, const mixlm_model *b, const char *name, float add) {
    const mx_tensor *x = mx_model_tensor(a, name), *y = mx_model_tensor(b, name);
    CHECK_MSG(x && y, "tensor %s present in both", name);
    if (!x || !y) return;
    CHECK_EQ_INT(x->type, MX_TYPE_F32);
    CHECK_EQ_INT(y->type, MX_TYPE_F32);
    CHECK_EQ_INT(x->n_dims, y->n_dims);
    for (int d = 0; d < MX_MAX_DIMS; d++) CHECK_EQ_INT(x->ne[d], y->ne[d]);
    CHECK_EQ_INT(x->nbytes, y->nbytes);
    if (x->nbytes != y->nbytes || x->type != MX_TYPE_F32) return;
    int64_t n = (int64_t)(x->nbytes / 4), bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (tensor_f32(x, i) != tensor_f32(y, i) + add) bad++;
    CHECK_MSG(bad == 0, "%s: %lld of %lld values differ", name, (long long)bad, (long long)n);
}

static void check_case(const oracle_case *c) {
    mixlm_model *g = load(c->gguf), *h = load(c->hf);
    if (!g || !h) {
        mixlm_model_free(g);
        mixlm_model_free(h);
        return;
    }
    CHECK_EQ_INT(g->format, MX_FORMAT_GGUF);
    CHECK_EQ_INT(h->format, MX_FORMAT_HF);
    const mx_hparams *a = &g->hp, *b = &h->hp;
    /* Oracle README facts. */
    CHECK_EQ_INT(a->family, c->family);
    CHECK_EQ_INT(a->n_layer, 8);
    CHECK_EQ_INT(a->n_embd, 128);
    CHECK_EQ_INT(a->n_ff, 256);
    CHECK_EQ_INT(a->n_head, 4);
    CHECK_EQ_INT(a->n_head_kv, 2);
    CHECK_EQ_INT(a->head_dim, 32);
    CHECK_EQ_INT(a->n_vocab, 512);
    CHECK_NEAR(a->rms_eps, 1e-6, 1e-12);
    CHECK_EQ_INT(a->bos_id, 2);
    CHECK_EQ_INT(a->pad_id, 0);
    CHECK_EQ_INT(a->n_eos, 1);
    CHECK_EQ_INT(a->eos_ids[0], 1);
    CHECK(a->tied_embeddings);
    CHECK_NEAR(a->attn_scale, 1.0 / sqrt(32.0), 1e-7);
    CHECK_NEAR(a->final_softcap, c->final_cap, 0);
    bool gemma = c->family != MX_FAMILY_LLAMA;
    CHECK_EQ_INT(a->act, gemma ? MX_ACT_GELU_TANH : MX_ACT_SILU);
    CHECK(a->embd_scale == (gemma ? (float)sqrt(128.0) : 1.0f));
    CHECK_EQ_INT(a->qk_norm, c->family == MX_FAMILY_GEMMA3);
    CHECK_EQ_INT(a->sandwich_norm, gemma);
    CHECK_EQ_INT(a->qkv_bias, 0);
    /* Format conventions. */
    CHECK_EQ_INT(a->norm_add_one, 0);
    CHECK_EQ_INT(b->norm_add_one, gemma);
    CHECK_EQ_INT(a->rope_neox, gemma);
    CHECK_EQ_INT(b->rope_neox, 1);
    /* Same everything else. */
    CHECK_EQ_INT(a->family, b->family);
    CHECK_EQ_INT(a->n_layer, b->n_layer);
    CHECK_EQ_INT(a->n_embd, b->n_embd);
    CHECK_EQ_INT(a->n_ff, b->n_ff);
    CHECK_EQ_INT(a->n_head, b->n_head);
    CHECK_EQ_INT(a->n_head_kv, b->n_head_kv);
    CHECK_EQ_INT(a->head_dim, b->head_dim);
    CHECK_EQ_INT(a->n_vocab, b->n_vocab);
    CHECK_EQ_INT(a->n_ctx_train, b->n_ctx_train);
    CHECK(a->rms_eps == b->rms_eps);
    CHECK(a->attn_scale == b->attn_scale);
    CHECK(a->final_softcap == b->final_softcap);
    CHECK(a->embd_scale == b->embd_scale);
    CHECK_EQ_INT(a->act, b->act);
    CHECK_EQ_INT(a->qk_norm, b->qk_norm);
    CHECK_EQ_INT(a->sandwich_norm, b->sandwich_norm);
    CHECK_EQ_INT(a->qkv_bias, b->qkv_bias);
    CHECK_EQ_INT(a->tied_embeddings, b->tied_embeddings);
    CHECK_EQ_INT(a->bos_id, b->bos_id);
    CHECK_EQ_INT(a->pad_id, b->pad_id);
    CHECK_EQ_INT(a->n_eos, b->n_eos);
    CHECK_EQ_INT(a->eos_ids[0], b->eos_ids[0]);
    for (int i = 0; i < 8; i++) {
        const mx_layer_spec *x = &g->layers[i], *y = &h->layers[i];
        bool sl = c->sliding[i] == '1';
        CHECK_MSG(x->attn == (sl ? MX_ATTN_SLIDING : MX_ATTN_FULL), "%s layer %d kind %s", c->gguf,
                  i, mx_attn_kind_name(x->attn));
        CHECK_EQ_INT(x->window, sl ? c->window : 0);
        CHECK(x->use_rope);
        CHECK_NEAR(x->rope_base, sl ? c->base_sliding : c->base_full, 0);
        CHECK(x->rope_scale == 1.0f);
        CHECK_NEAR(x->attn_softcap, c->attn_cap, 0);
        CHECK_EQ_INT(x->attn, y->attn);
        CHECK_EQ_INT(x->window, y->window);
        CHECK_EQ_INT(x->use_rope, y->use_rope);
        CHECK(x->rope_base == y->rope_base);
        CHECK(x->rope_scale == y->rope_scale);
        CHECK(x->attn_softcap == y->attn_softcap);
    }
    /* Tensors: the same names and shapes in both. */
    CHECK_EQ_INT(g->n_tensors, h->n_tensors);
    for (int32_t i = 0; i < g->n_tensors; i++) {
        const mx_tensor *t = &g->tensors[i], *u = mx_model_tensor(h, t->name);
        CHECK_MSG(u != NULL, "%s: HF has no %s", c->hf, t->name);
        if (!u) continue;
        CHECK_EQ_INT(t->n_dims, u->n_dims);
        for (int d = 0; d < MX_MAX_DIMS; d++) CHECK_EQ_INT(t->ne[d], u->ne[d]);
    }
    CHECK(mx_model_tensor(g, "output.weight") == NULL);
    CHECK(mx_model_tensor(g, "no.such.tensor") == NULL);
    /* Tensor data identical where conventions allow: embedding, V and FFN projections; Q/K too
     * for Gemma (llama's are permuted in GGUF); Gemma norms are 1 + w in GGUF. */
    same_tensor(g, h, "token_embd.weight", 0);
    same_tensor(g, h, "blk.3.attn_v.weight", 0);
    same_tensor(g, h, "blk.3.attn_output.weight", 0);
    same_tensor(g, h, "blk.7.ffn_down.weight", 0);
    same_tensor(g, h, "blk.0.ffn_gate.weight", 0);
    if (gemma) {
        same_tensor(g, h, "blk.2.attn_q.weight", 0);
        same_tensor(g, h, "blk.2.attn_k.weight", 0);
        same_tensor(g, h, "blk.1.attn_norm.weight", 1.0f);
        same_tensor(g, h, "blk.1.post_attention_norm.weight", 1.0f);
        same_tensor(g, h, "blk.1.ffn_norm.weight", 1.0f);
        same_tensor(g, h, "blk.1.post_ffw_norm.weight", 1.0f);
        same_tensor(g, h, "output_norm.weight", 1.0f);
    } else {
        same_tensor(g, h, "blk.1.attn_norm.weight", 0);
        same_tensor(g, h, "blk.1.ffn_norm.weight", 0);
        same_tensor(g, h, "output_norm.weight", 0);
    }
    if (c->family == MX_FAMILY_GEMMA3) same_tensor(g, h, "blk.4.attn_q_norm.weight", 1.0f);
    /* HF keeps its config texts; GGUF keeps its metadata. */
    CHECK(h->config_json != NULL && strstr(h->config_json, "num_hidden_layers") != NULL);
    CHECK(h->generation_config_json != NULL);
    CHECK(g->gguf != NULL && g->config_json == NULL);
    /* The description has the keys inspect promises. */
    char *ja = mixlm_model_describe_json(g), *jb = mixlm_model_describe_json(h);
    CHECK(ja && strstr(ja, "\"architecture\":") && strstr(ja, "\"n_layers\":8") &&
          strstr(ja, "\"layers\":[") && strstr(ja, "\"tensors\":{"));
    CHECK(jb && strstr(jb, "\"format\":\"hf\""));
    free(ja);
    free(jb);
    mixlm_model_free(g);
    mixlm_model_free(h);
}

static void test_errors(void) {
    mixlm_model *m = (mixlm_model *)1;
    mixlm_status st = mixlm_model_load(test_data("no/such/model.gguf"), &m);
    CHECK(st == MIXLM_ERR_IO);
    CHECK(m == NULL);
    CHECK(strstr(mixlm_last_error(), "no such file") != NULL);
    /* A folder without config.json. */
    st = mixlm_model_load(test_data("oracle"), &m);
    CHECK(st != MIXLM_OK);
    CHECK(strstr(mixlm_last_error(), "config.json") != NULL);
    /* A file that is not GGUF. */
    st = mixlm_model_load(test_data("oracle/tiny-llama.tokens.txt"), &m);
    CHECK(st == MIXLM_ERR_FORMAT);
    CHECK_MSG(strstr(mixlm_last_error(), "magic") != NULL, "%s", mixlm_last_error());
    mixlm_model_free(NULL);
}

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
    test_errors();
    return check_summary("test_model_load");
}
