/* engine.c: the native decoder. One block, parameterised by mx_hparams flags and per-layer
 * mx_layer_spec, covers Gemma 2/3 and the Llama family (Mistral, Qwen 2/3); families differ only
 * in the flags and specs the model readers fill in. */
#include "engine/engine.h"

#include "engine/kernels/kernels.h"
#include "engine/threadpool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* ====================================================================================== */
/* Weights                                                                                */
/* ====================================================================================== */

typedef struct mx_mat {
    const mx_tensor *t;
    const mx_type_kernels *k;
    /* The integer path (types with dot_q): activations quantised with vk (the kernels of
     * k->vec_type) into rows of xq_bytes; vk is NULL when the matrix uses the f32 path. */
    const mx_type_kernels *vk;
    uint64_t xq_bytes;
    uint64_t row_bytes;
    int64_t n_in, n_out;
} mx_mat;

typedef struct mx_layer_w {
    mx_mat wq, wk, wv, wo, gate, up, down;
    /* Norm weights and biases as f32 copies; norms already hold (1 + w) when norm_add_one, so
     * the decoder always multiplies plainly. NULL when absent. */
    float *attn_norm, *post_attn_norm, *ffn_norm, *post_ffw_norm, *q_norm, *k_norm;
    float *bq, *bk, *bv;
    int rope_cfg; /* index into the engine's distinct (base, scale) list; -1 = no RoPE */
} mx_layer_w;

#define MX_MAX_ROPE_CFG 8
#define MM_TILE_ROWS 32        /* weight rows of a prefill tile, see mm_worker() */
#define MM_QUANT_PAR_MIN 32768     /* activation elements worth quantising on every thread */
#define MM_MAX_JOBS 3
#define MM_GUIDED 4            /* a unit is 1/MM_GUIDED of the share left, see mm_worker() */
#define MM_SHARE_STRIDE 8      /* 64 bytes between the threads' share counters */
#define MX_OUT_ROWS 16         /* logit rows of a multi-sequence step computed in one pass */
#define MX_MAX_SEGS 64         /* sequences packed into one pass over the weights */
#define MX_MAX_GQA_GROUP 16    /* query heads of one KV head (of up to 16 tokens) that attend
                                * together, see attn_worker() */
#define MX_ATTN_BLOCK 128      /* keys per attention block, see attn_run() */
#define MX_ATTN_SPLIT_ITEMS 64 /* most items of a step whose blocks are spread over the threads */
#define MX_ATTN_SPLIT_MIN_BLOCKS 2 /* fewest blocks per thread worth spreading, see attn_run() */
#define MX_ATTN_SERIAL_FOLD 8      /* most partials left after the first thread's that the caller folds */
#define ATTN_GROUPS_PER_THREAD 4   /* fewest token groups per thread for grouping, see attn_run() */

struct mx_engine {
    const mixlm_model *m;
    mx_hparams hp;
    mx_engine_params p;
    mx_pool *pool;

    mx_mat embd, output;
    float *output_norm;
    mx_layer_w *layers;

    int n_rope;
    double rope_inv_freq[MX_MAX_ROPE_CFG][512]; /* base^(-2i/d) for i < d/2 (d <= 1024) */
    double rope_scale[MX_MAX_ROPE_CFG];
    float rope_base[MX_MAX_ROPE_CFG];

    int32_t q_dim, kv_dim, max_keys;
    /* Scratch, [n_batch][...] each, allocated once. */
    float *x, *xb, *q, *k, *v, *att, *o, *g, *u;
    float *rope_cos, *rope_sin;   /* [n_rope][n_batch][head_dim/2] */
    float *scores;                /* [n_threads][attn_thread_floats]: see attn_worker() */
    float *attn_parts;            /* block partials of a decode step, see attn_run() */
    int64_t attn_thread_floats, attn_part_slots;
    uint16_t *kv_tmp16;           /* [threads][kv_dim] (f32-sized): rounding through a 16-bit cache type */
    float *tile;                  /* [n_threads][tile_floats]: packed f32 weight tiles for
                                   * prefill, their conversion rows and the product's scratch */
    uint8_t *xq;                  /* quantised or packed activations of a matrix product, see
                                   * mm_run() */
    uint64_t xq_slot[MM_MAX_JOBS]; /* bytes of each of its slots */
    int64_t *tok_pos;             /* [n_batch]: position of each row of the step */
    int32_t *attn_groups;         /* [n_batch][2]: first row and count of each token group of a
                                   * prefill step's attention, see attn_run() */
    int32_t *tok_seg;             /* [n_batch]: which segment (sequence) each row belongs to */
    _Atomic uint64_t *mm_share;   /* [n_threads][MM_SHARE_STRIDE]: the rows each thread's share
                                   * of a matrix product has left, see mm_worker() */
    float *out_rows;              /* [MX_OUT_ROWS][n_vocab]: logits of several sequences */
    int64_t tile_floats;
};

static mixlm_status tensor_check(const mixlm_model *m, const char *name, int64_t ne0, int64_t ne1,
                                 bool matrix, const mx_tensor **out) {
    const mx_tensor *t = mx_model_tensor(m, name);
    *out = t;
    if (!t) return mx_err(MIXLM_ERR_FORMAT, "tensor %s: missing", name);
    int64_t want[2] = {ne0, ne1};
    int nd = ne1 > 0 ? 2 : 1;
    bool ok = t->n_dims == nd || (t->n_dims > nd && t->ne[nd] == 1);
    for (int i = 0; i < nd && ok; i++) ok = t->ne[i] == want[i];
    for (int i = nd; i < t->n_dims && ok; i++) ok = t->ne[i] == 1;
    if (!ok) {
        char got[96];
        int len = 0;
        for (int i = 0; i < t->n_dims && len < (int)sizeof got - 24; i++)
            len += snprintf(got + len, sizeof got - (size_t)len, "%s%lld", i ? ", " : "",
                            (long long)t->ne[i]);
        if (nd == 2)
            return mx_err(MIXLM_ERR_FORMAT, "tensor %s: shape [%s], expected [%lld, %lld]", name,
                          got, (long long)ne0, (long long)ne1);
        return mx_err(MIXLM_ERR_FORMAT, "tensor %s: shape [%s], expected [%lld]", name, got,
                      (long long)ne0);
    }
    const mx_type_info *ti = mx_type_get(t->type);
    bool type_ok = matrix ? mx_kernels_matrix_type_ok(t->type)
                          : (t->type == MX_TYPE_F32 || t->type == MX_TYPE_F16 ||
                             t->type == MX_TYPE_BF16);
    if (!type_ok || !mx_kernels_get(t->type))
        return mx_err(MIXLM_ERR_UNSUPPORTED,
                      "tensor %s: type %s, which the native engine cannot use for a %s", name,
                      ti ? ti->name : "unknown",
                      matrix ? "matrix (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K)"
                             : "vector (F32, F16, BF16)");
    /* Kernels read elements in place: 16-bit types and Q8_0 blocks (an f16 scale first) need
     * 2-byte alignment, F32 4. GGUF aligns tensor data to 32 bytes, so only a broken file
     * fails here. */
    const uintptr_t align = t->type == MX_TYPE_F32 ? 4 : 2;
    if ((uintptr_t)t->data % align)
        return mx_err(MIXLM_ERR_FORMAT, "tensor %s: data not aligned to %u bytes", name,
                      (unsigned)align);
    uint64_t need = 0;
    int64_t dims[2] = {ne0, nd == 2 ? ne1 : 1};
    if (!mx_type_tensor_bytes(t->type, dims, 2, &need))
        return mx_err_prefix(MIXLM_ERR_FORMAT, "tensor %s: ", name);
    if (t->nbytes < need || !t->data)
        return mx_err(MIXLM_ERR_FORMAT, "tensor %s: holds %llu bytes, needs %llu", name,
                      (unsigned long long)t->nbytes, (unsigned long long)need);
    return MIXLM_OK;
}

static mixlm_status mat_get(const mixlm_model *m, const char *name, int64_t n_in, int64_t n_out,
                            mx_mat *out) {
    const mx_tensor *t;
    mixlm_status st = tensor_check(m, name, n_in, n_out, true, &t);
    if (st) return st;
    out->t = t;
    out->k = mx_kernels_get(t->type);
    out->row_bytes = mx_type_row_bytes(t->type, (uint64_t)n_in);
    out->n_in = n_in;
    out->n_out = n_out;
    out->vk = NULL;
    out->xq_bytes = 0;
    if (out->k->dot_q) {
        /* a vec_type without a quantiser in this build leaves the matrix on the f32 path */
        const mx_type_kernels *vk = mx_kernels_get(out->k->vec_type);
        const uint64_t xb = mx_type_row_bytes(out->k->vec_type, (uint64_t)n_in);
        if (vk && vk->from_f32 && xb > 0) {
            out->vk = vk;
            out->xq_bytes = xb;
        }
    }
    return MIXLM_OK;
}

/* A norm or bias vector as a malloc'd f32 copy (add_one: 1 + w, computed in f32 as HF does). */
static mixlm_status vec_get(const mixlm_model *m, const char *name, int64_t n, bool add_one,
                            bool optional, float **out) {
    *out = NULL;
    if (optional && !mx_model_tensor(m, name)) return MIXLM_OK;
    const mx_tensor *t;
    mixlm_status st = tensor_check(m, name, n, 0, false, &t);
    if (st) return st;
    float *v = mx_malloc((size_t)n * sizeof(float));
    if (!v) return MIXLM_ERR_NOMEM;
    mx_kernels_ref(t->type)->to_f32(t->data, v, n);
    if (add_one)
        for (int64_t i = 0; i < n; i++) v[i] = 1.0f + v[i];
    *out = v;
    return MIXLM_OK;
}

/* ====================================================================================== */
/* Create / free                                                                          */
/* ====================================================================================== */

mx_engine_params mx_engine_default_params(void) {
    mx_engine_params p = {.n_threads = 1, .n_batch = 256, .n_ctx = 4096};
    return p;
}

static void layer_free(mx_layer_w *l) {
    free(l->attn_norm);
    free(l->post_attn_norm);
    free(l->ffn_norm);
    free(l->post_ffw_norm);
    free(l->q_norm);
    free(l->k_norm);
    free(l->bq);
    free(l->bk);
    free(l->bv);
}

void mx_engine_free(mx_engine *e) {
    if (!e) return;
    mx_pool_free(e->pool);
    if (e->layers)
        for (int i = 0; i < e->hp.n_layer; i++) layer_free(&e->layers[i]);
    free(e->layers);
    free(e->output_norm);
    free(e->x);
    free(e->xb);
    free(e->q);
    free(e->k);
    free(e->v);
    free(e->att);
    free(e->o);
    free(e->g);
    free(e->u);
    free(e->rope_cos);
    free(e->rope_sin);
    free(e->scores);
    free(e->attn_parts);
    free(e->tile);
    free(e->xq);
    free(e->out_rows);
    free(e->tok_pos);
    free(e->tok_seg);
    free(e->attn_groups);
    free((void *)e->mm_share);
    free(e->kv_tmp16);
    free(e);
}

/* Bytes per token of a matrix's prepared activations: its quantised row, or the token's
 * packed f32 copy (the f32 path). */
static uint64_t mm_x_bytes(const mx_mat *m) {
    return m->vk ? m->xq_bytes : (uint64_t)m->n_in * sizeof(float);
}

static float *scratch(int64_t a, int64_t b, mixlm_status *st) {
    uint64_t n;
    if (*st) return NULL;
    if (!mx_mul_ok((uint64_t)a, (uint64_t)b, &n) || !mx_mul_ok(n, sizeof(float), &n) ||
        n > ((uint64_t)1 << 40)) {
        *st = mx_err(MIXLM_ERR_NOMEM, "engine scratch too large");
        return NULL;
    }
    float *p = mx_aligned_alloc(64, (size_t)(n ? n : 64));
    if (!p) *st = MIXLM_ERR_NOMEM;
    return p;
}

static mixlm_status hp_check(const mx_hparams *hp, const mx_layer_spec *specs) {
    if (hp->n_layer < 1 || hp->n_layer > 4096 || hp->n_embd < 1 || hp->n_embd > (1 << 20) ||
        hp->n_ff < 1 || hp->n_ff > (1 << 22) || hp->n_head < 1 || hp->n_head > 4096 ||
        hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv != 0 || hp->head_dim < 2 ||
        hp->head_dim > 1024 || hp->head_dim % 2 || hp->n_vocab < 1 || hp->n_vocab > (1 << 24))
        return mx_err(MIXLM_ERR_UNSUPPORTED,
                      "engine: hyper-parameters out of range (layers %d, hidden %d, ffn %d, heads "
                      "%d/%d, head_dim %d, vocab %d)",
                      hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv, hp->head_dim,
                      hp->n_vocab);
    if (!specs) return mx_err(MIXLM_ERR_INTERNAL, "engine: model has no layer specs");
    for (int i = 0; i < hp->n_layer; i++) {
        const mx_layer_spec *s = &specs[i];
        if (s->attn != MX_ATTN_FULL && s->window < 1)
            return mx_err(MIXLM_ERR_UNSUPPORTED, "engine: layer %d is %s with window %d", i,
                          mx_attn_kind_name(s->attn), s->window);
        if (s->use_rope && (!(s->rope_base > 0.0f) || !(s->rope_scale > 0.0f)))
            return mx_err(MIXLM_ERR_UNSUPPORTED, "engine: layer %d has RoPE base %g scale %g", i,
                          (double)s->rope_base, (double)s->rope_scale);
    }
    return MIXLM_OK;
}

mixlm_status mx_engine_create(const mixlm_model *m, mx_engine_params p, mx_engine **out) {
    *out = NULL;
    if (!m) return mx_err(MIXLM_ERR_INVALID_ARG, "engine: no model");
    if (p.n_threads < 1) p.n_threads = 1;
    if (p.n_batch < 1) p.n_batch = 1;
    if (p.n_ctx < 1) p.n_ctx = 1;
    const mx_hparams *hp = &m->hp;
    mixlm_status st = hp_check(hp, m->layers);
    if (st) return st;

    mx_engine *e = mx_calloc(1, sizeof *e);
    if (!e) return MIXLM_ERR_NOMEM;
    e->m = m;
    e->hp = *hp;
    e->p = p;
    e->q_dim = hp->n_head * hp->head_dim;
    e->kv_dim = hp->n_head_kv * hp->head_dim;
    const int64_t E = hp->n_embd, F = hp->n_ff, hd = hp->head_dim;
    char name[96];

    st = mat_get(m, "token_embd.weight", E, hp->n_vocab, &e->embd);
    if (!st) {
        if (mx_model_tensor(m, "output.weight"))
            st = mat_get(m, "output.weight", E, hp->n_vocab, &e->output);
        else if (hp->tied_embeddings)
            e->output = e->embd;
        else
            st = mx_err(MIXLM_ERR_FORMAT, "tensor output.weight: missing (embeddings not tied)");
    }
    if (!st) st = vec_get(m, "output_norm.weight", E, hp->norm_add_one, false, &e->output_norm);
    if (!st && !(e->layers = mx_calloc((size_t)hp->n_layer, sizeof *e->layers))) st = MIXLM_ERR_NOMEM;

    for (int il = 0; il < hp->n_layer && !st; il++) {
        mx_layer_w *l = &e->layers[il];
        const bool a1 = hp->norm_add_one;
#define NM(fmt) (snprintf(name, sizeof name, "blk.%d." fmt, il), name)
        st = vec_get(m, NM("attn_norm.weight"), E, a1, false, &l->attn_norm);
        if (!st) st = mat_get(m, NM("attn_q.weight"), E, e->q_dim, &l->wq);
        if (!st) st = mat_get(m, NM("attn_k.weight"), E, e->kv_dim, &l->wk);
        if (!st) st = mat_get(m, NM("attn_v.weight"), E, e->kv_dim, &l->wv);
        if (!st) st = mat_get(m, NM("attn_output.weight"), e->q_dim, E, &l->wo);
        if (!st) st = vec_get(m, NM("attn_q.bias"), e->q_dim, false, !hp->qkv_bias, &l->bq);
        if (!st) st = vec_get(m, NM("attn_k.bias"), e->kv_dim, false, !hp->qkv_bias, &l->bk);
        if (!st) st = vec_get(m, NM("attn_v.bias"), e->kv_dim, false, !hp->qkv_bias, &l->bv);
        if (hp->qk_norm) {
            if (!st) st = vec_get(m, NM("attn_q_norm.weight"), hd, a1, false, &l->q_norm);
            if (!st) st = vec_get(m, NM("attn_k_norm.weight"), hd, a1, false, &l->k_norm);
        }
        if (hp->sandwich_norm) {
            if (!st) st = vec_get(m, NM("post_attention_norm.weight"), E, a1, false, &l->post_attn_norm);
            if (!st) st = vec_get(m, NM("post_ffw_norm.weight"), E, a1, false, &l->post_ffw_norm);
        }
        if (!st) st = vec_get(m, NM("ffn_norm.weight"), E, a1, false, &l->ffn_norm);
        if (!st) st = mat_get(m, NM("ffn_gate.weight"), E, F, &l->gate);
        if (!st) st = mat_get(m, NM("ffn_up.weight"), E, F, &l->up);
        if (!st) st = mat_get(m, NM("ffn_down.weight"), F, E, &l->down);
#undef NM
        /* Distinct RoPE configurations share one angle table per step. */
        const mx_layer_spec *s = &m->layers[il];
        l->rope_cfg = -1;
        if (!st && s->use_rope) {
            int c = 0;
            for (; c < e->n_rope; c++)
                if (e->rope_scale[c] == (double)s->rope_scale && e->rope_base[c] == s->rope_base) break;
            if (c == e->n_rope) {
                if (e->n_rope == MX_MAX_ROPE_CFG) {
                    st = mx_err(MIXLM_ERR_UNSUPPORTED, "engine: more than %d RoPE configurations",
                                MX_MAX_ROPE_CFG);
                    break;
                }
                /* Angles in double from the closed form base^(-2i/d), so that they do not
                 * drift with position (an f32 running product does, by ~1e-7 relative). */
                for (int64_t i = 0; i < hd / 2; i++)
                    e->rope_inv_freq[c][i] = pow((double)s->rope_base, -2.0 * (double)i / (double)hd);
                e->rope_scale[c] = (double)s->rope_scale;
                e->rope_base[c] = s->rope_base;
                e->n_rope++;
            }
            l->rope_cfg = c;
        }
    }

    /* Scratch: sized once here; the token loop never allocates. */
    int64_t max_window = 0;
    for (int il = 0; il < hp->n_layer; il++)
        if (m->layers[il].attn != MX_ATTN_FULL) max_window = MX_MAX(max_window, m->layers[il].window);
    e->max_keys = (int32_t)MX_MIN((int64_t)INT32_MAX / 2, MX_MAX((int64_t)p.n_ctx, max_window) + p.n_batch);
    const int64_t B = p.n_batch;
    e->x = scratch(B, E, &st);
    e->xb = scratch(B, MX_MAX(E, e->q_dim), &st);
    e->q = scratch(B, e->q_dim, &st);
    e->k = scratch(B, e->kv_dim, &st);
    e->v = scratch(B, e->kv_dim, &st);
    e->att = scratch(B, e->q_dim, &st);
    e->o = scratch(B, E, &st);
    e->g = scratch(B, F, &st);
    e->u = scratch(B, F, &st);
    e->rope_cos = scratch((int64_t)MX_MAX(e->n_rope, 1) * B, hd / 2, &st);
    e->rope_sin = scratch((int64_t)MX_MAX(e->n_rope, 1) * B, hd / 2, &st);
    {
        /* per thread: the scores, a block's partials, the running partials and the queries of
         * an item (MX_MAX_GQA_GROUP heads at most, of one token or several) */
        const int64_t heads = MX_MIN(hp->n_head / hp->n_head_kv, MX_MAX_GQA_GROUP);
        e->attn_thread_floats = MX_MAX_GQA_GROUP * (MX_ATTN_BLOCK + 2 * (hd + 2) + hd);
        e->scores = scratch(p.n_threads, e->attn_thread_floats, &st);
        /* split decode (several threads): fewer items than threads, each with at most
         * max_keys / BLOCK + 2 blocks */
        e->attn_part_slots = p.n_threads > 1 ? (int64_t)p.n_threads * (e->max_keys / MX_ATTN_BLOCK + 2) : 0;
        e->attn_parts = scratch(e->attn_part_slots, heads * (hd + 2), &st);
    }
    const int64_t widest_in = MX_MAX(MX_MAX(E, F), (int64_t)e->q_dim);
    e->tile_floats = (MM_TILE_ROWS + MX_GEMM_WB) * widest_in + MX_GEMM_SCRATCH_FLOATS;
    e->tile = scratch(p.n_threads, e->tile_floats, &st);
    e->out_rows = scratch(MX_MIN((int64_t)MX_OUT_ROWS, B), hp->n_vocab, &st);
    /* Activations prepared once per matrix product (quantised rows, or the packed f32 tokens
     * of a prefill product): slot 0 holds those of any matrix (the widest input), slots 1 and
     * 2 serve tasks whose matrices want different forms of the same input (n_in = E). */
    if (!st) {
        uint64_t widest = 0, widest_e = 0, total = 0;
        const mx_mat *all[2] = {&e->embd, &e->output};
        for (int i = 0; i < 2; i++) widest = MX_MAX(widest, mm_x_bytes(all[i]));
        widest_e = widest;
        for (int il = 0; il < hp->n_layer; il++) {
            const mx_layer_w *l = &e->layers[il];
            const mx_mat *ms[7] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down};
            for (int i = 0; i < 7; i++) {
                widest = MX_MAX(widest, mm_x_bytes(ms[i]));
                if (ms[i]->n_in == E) widest_e = MX_MAX(widest_e, mm_x_bytes(ms[i]));
            }
        }
        const uint64_t B3 = (uint64_t)(B + MX_GEMM_XB - 1) / MX_GEMM_XB * MX_GEMM_XB;
        for (int s = 0; s < MM_MAX_JOBS; s++) {
            e->xq_slot[s] = B3 * (s == 0 ? widest : widest_e);
            total += e->xq_slot[s];
        }
        if (total > 0 && !(e->xq = mx_aligned_alloc(64, (size_t)total))) st = MIXLM_ERR_NOMEM;
    }
    if (!st && !(e->tok_pos = mx_malloc((size_t)B * sizeof *e->tok_pos))) st = MIXLM_ERR_NOMEM;
    if (!st && !(e->tok_seg = mx_malloc((size_t)B * sizeof *e->tok_seg))) st = MIXLM_ERR_NOMEM;
    if (!st && !(e->attn_groups = mx_malloc((size_t)B * 2 * sizeof *e->attn_groups))) st = MIXLM_ERR_NOMEM;
    if (!st) st = mx_pool_create(p.n_threads, &e->pool);
    const size_t share_bytes = (size_t)mx_pool_size(e->pool) * MM_SHARE_STRIDE * sizeof *e->mm_share;
    if (!st && !(e->mm_share = mx_aligned_alloc(64, share_bytes))) st = MIXLM_ERR_NOMEM;
    if (!st && !(e->kv_tmp16 = mx_malloc((size_t)mx_pool_size(e->pool) * (size_t)e->kv_dim * sizeof(float))))
        st = MIXLM_ERR_NOMEM;
    if (st) {
        mx_engine_free(e);
        return st;
    }
    *out = e;
    return MIXLM_OK;
}

const mixlm_model *mx_engine_model(const mx_engine *e) { return e->m; }
int32_t mx_engine_kv_dim(const mx_engine *e) { return e->kv_dim; }
int32_t mx_engine_n_vocab(const mx_engine *e) { return e->hp.n_vocab; }
int mx_engine_n_threads(const mx_engine *e) { return mx_pool_size(e->pool); }

/* ====================================================================================== */
/* Parallel pieces                                                                        */
/* ====================================================================================== */

/* Up to three matrix products over the same tokens: y[t][r] = W[r] . x[t]. The rows are cut
 * into units that the threads take in turn; each row's dot is computed the same way whatever
 * the unit or thread, so results do not depend on the thread count. */
typedef struct mm_job {
    const mx_mat *w;
    const float *x;
    int64_t x_stride;
    float *y;
    int64_t y_stride;
    int q;                /* slot of the prepared x (quantised, or packed f32); -1: none */
} mm_job;
typedef struct mm_task {
    mm_job jobs[MM_MAX_JOBS];
    int n_jobs;
    int n_tok;
    float *tile;          /* [n_threads][tile_floats] */
    int64_t tile_floats;
    /* prepared activations: slot s holds q_job[s]'s x for all n_tok tokens, as rows of
     * q_bytes[s] quantised by its vk, or (vk NULL) packed in blocks of MX_GEMM_XB tokens */
    int n_q;
    uint8_t *q_rows[MM_MAX_JOBS];
    uint64_t q_bytes[MM_MAX_JOBS];
    const mm_job *q_job[MM_MAX_JOBS];
    /* row units (see mm_worker): the jobs' rows counted in order, job j's ending at
     * row_end[j], its units multiples of align[j] rows within it; share[i * MM_SHARE_STRIDE]
     * holds the rows thread i's share has left, lo << 32 | hi (one cache line per thread) */
    int64_t row_end[MM_MAX_JOBS], align[MM_MAX_JOBS];
    _Atomic uint64_t *share;
} mm_task;

/* Items of slot s: one token (quantised) or one block of MX_GEMM_XB tokens (packed). */
static int64_t mm_slot_items(const mm_task *task, int s) {
    return task->q_job[s]->w->vk ? task->n_tok : (task->n_tok + MX_GEMM_XB - 1) / MX_GEMM_XB;
}

/* Prepare the task's activations (slot x item, split by thread). */
static void mm_prep_worker(void *ctx, int ith, int nth) {
    const mm_task *task = ctx;
    int64_t total = 0;
    for (int s = 0; s < task->n_q; s++) total += mm_slot_items(task, s);
    int64_t i0, i1;
    mx_split_rows(total, ith, nth, &i0, &i1);
    int s = 0;
    int64_t first = 0; /* first item of slot s */
    for (int64_t i = i0; i < i1; i++) {
        while (i >= first + mm_slot_items(task, s)) first += mm_slot_items(task, s++);
        const mm_job *jb = task->q_job[s];
        const int64_t it = i - first, n = jb->w->n_in;
        if (jb->w->vk) {
            jb->w->vk->from_f32(jb->x + it * jb->x_stride, task->q_rows[s] + (uint64_t)it * task->q_bytes[s], n);
        } else {
            const int t0 = (int)it * MX_GEMM_XB;
            mx_gemm_pack_block(jb->x + t0 * jb->x_stride, jb->x_stride, MX_MIN(MX_GEMM_XB, task->n_tok - t0),
                               MX_GEMM_XB, n, (float *)task->q_rows[s] + (int64_t)t0 * n);
        }
    }
}

/* Rows r0..r1 of one job, on thread ith.
 *
 * Integer path (types with dot_q): the activations were quantised once for the whole task (to
 * the type's vec_type); decode and prefill alike take one tile product gemm_q over the rows
 * and all tokens (one dot_q per row and token when the type has no gemm_q). The kernel blocks
 * for the caches itself: each weight byte it loads serves many tokens, so the rows need not
 * stay in cache. gemm_q equals dot_q bit for bit (kernels.h).
 *
 * f32 path (F32, F16, BF16): decode takes the type's own dot per row; prefill packs the tokens
 * once for the task (mm_prep_worker), then each thread converts a tile of MM_TILE_ROWS rows
 * to f32 (exactly: those types widen exactly), packs it, and multiplies it with every token by
 * the f32 tile product, which reuses each weight across tokens and equals the dot bit for bit.
 *
 * Either way results do not depend on how a prompt is split into steps. */
static void mm_rows(const mm_task *task, const mm_job *jb, int ith, int64_t r0, int64_t r1) {
    const mx_mat *w = jb->w;
    const uint8_t *base = w->t->data;
    if (w->vk && jb->q >= 0) {
        const uint8_t *xq = task->q_rows[jb->q];
        const uint64_t xb = task->q_bytes[jb->q];
        if (!w->k->gemm_q) {
            const mx_dot_q_fn dot_q = w->k->dot_q;
            for (int t = 0; t < task->n_tok; t++)
                for (int64_t r = r0; r < r1; r++)
                    jb->y[t * jb->y_stride + r] = dot_q(base + (uint64_t)r * w->row_bytes,
                                                        xq + (uint64_t)t * xb, w->n_in);
            return;
        }
        w->k->gemm_q(base + (uint64_t)r0 * w->row_bytes, w->row_bytes, (int)(r1 - r0), xq, xb,
                     task->n_tok, jb->y + r0, jb->y_stride, w->n_in);
        return;
    }
    if (jb->q < 0) {
        const mx_dot_fn dot = w->k->dot;
        for (int t = 0; t < task->n_tok; t++)
            for (int64_t r = r0; r < r1; r++)
                jb->y[t * jb->y_stride + r] = dot(base + (uint64_t)r * w->row_bytes, jb->x + t * jb->x_stride, w->n_in);
        return;
    }
    const int64_t n = w->n_in;
    float *tile = task->tile + (int64_t)ith * task->tile_floats;
    float *conv = tile + MM_TILE_ROWS * n, *part = conv + MX_GEMM_WB * n;
    const mx_gemm_f32_fn gemm = mx_kernels_gemm_f32();
    for (int64_t rt = r0; rt < r1; rt += MM_TILE_ROWS) {
        const int nr = (int)MX_MIN((int64_t)MM_TILE_ROWS, r1 - rt);
        for (int b = 0; b < nr; b += MX_GEMM_WB) {
            const int nb = MX_MIN(MX_GEMM_WB, nr - b);
            const uint8_t *rows = base + (uint64_t)(rt + b) * w->row_bytes;
            if (w->t->type == MX_TYPE_F32) {
                mx_gemm_pack_block((const float *)rows, n, nb, MX_GEMM_WB, n, tile + b * n);
            } else {
                for (int i = 0; i < nb; i++) w->k->to_f32(rows + (uint64_t)i * w->row_bytes, conv + i * n, n);
                mx_gemm_pack_block(conv, n, nb, MX_GEMM_WB, n, tile + b * n);
            }
        }
        gemm(tile, nr, (const float *)task->q_rows[jb->q], task->n_tok, jb->y + rt, jb->y_stride, n, part);
    }
}

static int mm_job_of(const mm_task *task, int64_t row) {
    int j = 0;
    while (row >= task->row_end[j]) j++;
    return j;
}
static int64_t mm_job_start(const mm_task *task, int j) { return task->row_end[j] - task->jobs[j].w->n_out; }
/* The start of the aligned unit of job j that holds task row `row`. */
static int64_t mm_unit_start(const mm_task *task, int j, int64_t row) {
    const int64_t js = mm_job_start(task, j);
    return js + (row - js) / task->align[j] * task->align[j];
}
static uint64_t mm_share_pack(int64_t lo, int64_t hi) { return (uint64_t)lo << 32 | (uint64_t)hi; }

/* Take a unit of rows [*r0, *r1) (task rows) from share s: from its front, 1/MM_GUIDED of what
 * is left (the owner), or one aligned unit from its back (a thread whose share is done). 0 when
 * the share is empty. Units never cross a job's end and start at multiples of the job's
 * alignment within it. */
static bool mm_take(mm_task *task, int s, bool front, int64_t *r0, int64_t *r1) {
    _Atomic uint64_t *p = &task->share[s * MM_SHARE_STRIDE];
    uint64_t v = atomic_load_explicit(p, memory_order_relaxed);
    for (;;) {
        const int64_t lo = (int64_t)(v >> 32), hi = (int64_t)(v & 0xffffffffu);
        if (lo >= hi) return false;
        const int j = mm_job_of(task, front ? lo : hi - 1);
        const int64_t al = task->align[j];
        int64_t a, b;
        uint64_t nv;
        if (front) {
            a = lo;
            b = MX_MIN(MX_MIN(lo + ((hi - lo + MM_GUIDED - 1) / MM_GUIDED + al - 1) / al * al, task->row_end[j]), hi);
            nv = mm_share_pack(b, hi);
        } else {
            a = MX_MAX(lo, mm_unit_start(task, j, hi - 1));
            b = hi;
            nv = mm_share_pack(lo, a);
        }
        if (atomic_compare_exchange_weak_explicit(p, &v, nv, memory_order_relaxed, memory_order_relaxed)) {
            *r0 = a;
            *r1 = b;
            return true;
        }
    }
}

/* Each thread owns a contiguous share of the task's rows and takes units from its front, so it
 * reads the weights as one forward stream: threads taking small interleaved units from one
 * counter read memory markedly slower (two threads on Q8_0 decode rows, 32-row units: 38-42
 * GB/s, against 50-78 for the same calls on contiguous halves in the same minutes; presumably
 * the cores' prefetchers run past a unit's end into rows the other thread reads). A thread
 * done with its share takes units from the back of the share with the most rows left, so a
 * thread slowed down by the machine does less of the work. Results do not depend on who
 * computes a row. */
static void mm_worker(void *ctx, int ith, int nth) {
    mm_task *task = ctx;
    int64_t r0, r1;
    for (;;) {
        if (!mm_take(task, ith, true, &r0, &r1)) {
            int s = -1; /* the share with the most rows left */
            int64_t most = 0;
            for (int i = 0; i < nth; i++) {
                const uint64_t v = atomic_load_explicit(&task->share[i * MM_SHARE_STRIDE], memory_order_relaxed);
                const int64_t left = (int64_t)(v & 0xffffffffu) - (int64_t)(v >> 32);
                if (left > most) {
                    most = left;
                    s = i;
                }
            }
            if (s < 0) return;
            if (!mm_take(task, s, false, &r0, &r1)) continue;
        }
        const int j = mm_job_of(task, r0);
        const int64_t js = mm_job_start(task, j);
        mm_rows(task, &task->jobs[j], ith, r0 - js, r1 - js);
    }
}

/* Run a task: first prepare the activations of its jobs, once per distinct (input, form): the
 * q, k and v products share one prepared input, as do gate and up. Integer-path matrices
 * quantise it; f32-path matrices pack it when the task has several tokens (decode's single
 * token goes to the dot as it is). Preparation runs on every thread when there is enough of
 * it; then the products. */
static void mm_run(mx_engine *e, mm_task *task) {
    task->tile = e->tile;
    task->tile_floats = e->tile_floats;
    task->n_q = 0;
    int64_t q_elems = 0;
    uint8_t *slot_base = e->xq;
    for (int j = 0; j < task->n_jobs; j++) {
        mm_job *jb = &task->jobs[j];
        const mx_mat *w = jb->w;
        jb->q = -1;
        if (!w->vk && task->n_tok == 1) continue;
        for (int s = 0; s < task->n_q && jb->q < 0; s++) {
            const mm_job *o = task->q_job[s];
            if (o->x == jb->x && o->x_stride == jb->x_stride && o->w->vk == w->vk && o->w->n_in == w->n_in)
                jb->q = s;
        }
        if (jb->q >= 0) continue;
        const int s = task->n_q;
        const uint64_t tokens = w->vk ? (uint64_t)task->n_tok
                                      : (uint64_t)(task->n_tok + MX_GEMM_XB - 1) / MX_GEMM_XB * MX_GEMM_XB;
        if (tokens * mm_x_bytes(w) > e->xq_slot[s]) continue; /* cannot happen (the engine sizes
                                                                 * the slots); the plain dot then */
        task->q_rows[s] = slot_base;
        task->q_bytes[s] = mm_x_bytes(w);
        task->q_job[s] = jb;
        slot_base += e->xq_slot[s];
        q_elems += (int64_t)task->n_tok * w->n_in;
        jb->q = s;
        task->n_q++;
    }
    if (task->n_q > 0) {
        if (q_elems >= MM_QUANT_PAR_MIN) mx_pool_run(e->pool, mm_prep_worker, task);
        else mm_prep_worker(task, 0, 1);
    }
    /* Units of a multiple of `align` rows: whole tiles of the f32 path, whole 128-row passes
     * of the integer tile products, 32-row pieces of decode. The shares: the rows cut into
     * nth parts at aligned rows. */
    int64_t rows = 0;
    for (int j = 0; j < task->n_jobs; j++) {
        const mm_job *jb = &task->jobs[j];
        task->align[j] = task->n_tok == 1 ? 32 : jb->w->vk ? 128 : MM_TILE_ROWS;
        rows += jb->w->n_out;
        task->row_end[j] = rows;
    }
    const int nth = mx_pool_size(e->pool);
    task->share = e->mm_share;
    int64_t lo = 0;
    for (int i = 0; i < nth; i++) {
        int64_t hi = rows;
        if (i + 1 < nth) {
            const int64_t want = rows * (i + 1) / nth;
            hi = MX_MAX(lo, mm_unit_start(task, mm_job_of(task, want), want));
        }
        atomic_store_explicit(&task->share[i * MM_SHARE_STRIDE], mm_share_pack(lo, hi), memory_order_relaxed);
        lo = hi;
    }
    mx_pool_run(e->pool, mm_worker, task);
}

/* The gated activation g = act(g) * u over the step's rows, in pieces of ACT_PIECE elements
 * that start at multiples of ACT_PIECE within a row: every element is computed by the same
 * code (SIMD body or scalar tail of its row) whatever the thread count or prompt split. */
#define ACT_PIECE 1024
typedef struct act_task {
    float *g;
    const float *u;
    int64_t F;
    int n_tok;
    mx_act_mul_fn fn;
} act_task;

static void act_worker(void *ctx, int ith, int nth) {
    const act_task *a = ctx;
    const int64_t per_row = (a->F + ACT_PIECE - 1) / ACT_PIECE;
    int64_t i0, i1;
    mx_split_rows(per_row * a->n_tok, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        const int64_t t = i / per_row, c0 = (i % per_row) * ACT_PIECE;
        const int64_t off = t * a->F + c0;
        a->fn(a->g + off, a->u + off, MX_MIN((int64_t)ACT_PIECE, a->F - c0));
    }
}

static void act_run(mx_engine *e, int n_tok) {
    act_task a = {.g = e->g, .u = e->u, .F = e->hp.n_ff, .n_tok = n_tok,
                  .fn = e->hp.act == MX_ACT_GELU_TANH ? mx_kernels_gelu_tanh_mul() : mx_kernels_silu_mul()};
    if ((int64_t)n_tok * a.F >= 16 * ACT_PIECE) mx_pool_run(e->pool, act_worker, &a);
    else act_worker(&a, 0, 1);
}

void mx_attn_key_range(const mx_layer_spec *spec, int64_t q, int64_t *k0) {
    switch (spec->attn) {
    case MX_ATTN_SLIDING: *k0 = MX_MAX((int64_t)0, q - spec->window + 1); break;
    case MX_ATTN_CHUNKED: *k0 = (q / spec->window) * spec->window; break;
    default: *k0 = 0; break;
    }
}

/* One sequence's part of a step: its rows are row0 .. row0+n-1 of the step's scratch. */
typedef struct seg {
    const mx_kv_view *kv;     /* n_layer views */
    const int32_t *tokens;
    int n;
    int64_t pos0;
    float *logits;            /* NULL, [n][n_vocab] (all) or [n_vocab] */
    bool all;
    int row0;
} seg;

/* Query heads of a GQA group that one attention work item takes together, so each key and
 * value row is read once for all of them (at long context the cache reads dominate attention).
 * Groups larger than MX_MAX_GQA_GROUP are split into equal parts, and with `split_heads` also
 * as far as needed to give every thread an item (in a divisor of the group). Each head's
 * result is the same whatever the parts. */
static int attn_heads_per_item(const mx_hparams *hp, int n_tok, int nth, bool split_heads) {
    const int group = hp->n_head / hp->n_head_kv;
    int parts = 1;
    while (group / parts > MX_MAX_GQA_GROUP || group % parts) parts++;
    while (split_heads && parts < group && (int64_t)n_tok * hp->n_head_kv * parts < nth) {
        parts++;
        while (group % parts) parts++;
    }
    return group / parts;
}

typedef struct attn_task {
    mx_engine *e;
    const mx_layer_spec *spec;
    const seg *segs;
    int layer;
    int hpi;         /* query heads per item */
    int64_t n_items; /* (token, KV head, part of its group) */
    /* prefill: the items of the tokens of group g (rows groups[2g] .. + groups[2g + 1] - 1,
     * one sequence) with the same KV head and part go to one thread together */
    const int32_t *groups;
    int64_t n_groups;
    /* split decode: unit u of item i (unit0[i] <= u < unit0[i + 1]) is its (u - unit0[i])-th
     * block, with its partial at e->attn_parts + u * hpi * (head_dim + 2) */
    int64_t unit0[MX_ATTN_SPLIT_ITEMS + 1];
    int64_t n_keys;    /* split decode: the keys of all the units */
    mx_exp_sum_fn exp_sum; /* the active softmax kernels */
    mx_scale_max_fn scale_max;
    mx_fold_fn fold;
} attn_task;

/* One work item: a token's query heads h0 .. h0+hpi-1, all of KV head kvh. */
typedef struct attn_item {
    const seg *sg;
    const mx_kv_view *kv;
    int kvh;
    const float *q, *sk, *sv; /* queries; the step's own keys and values of this sequence */
    int64_t k0, qpos;         /* visible keys k0 .. qpos */
    float *out;
} attn_item;

static attn_item attn_item_at(const attn_task *a, int64_t item) {
    const mx_engine *e = a->e;
    const int hd = e->hp.head_dim, group = e->hp.n_head / e->hp.n_head_kv, parts = group / a->hpi;
    const int t = (int)(item / ((int64_t)e->hp.n_head_kv * parts));
    const int kvh = (int)(item / parts % e->hp.n_head_kv), h0 = kvh * group + (int)(item % parts) * a->hpi;
    attn_item it = {.sg = &a->segs[e->tok_seg[t]], .kvh = kvh, .qpos = e->tok_pos[t]};
    it.kv = &it.sg->kv[a->layer];
    it.q = e->q + (int64_t)t * e->q_dim + (int64_t)h0 * hd;
    it.sk = e->k + (int64_t)it.sg->row0 * e->kv_dim;
    it.sv = e->v + (int64_t)it.sg->row0 * e->kv_dim;
    it.out = e->att + (int64_t)t * e->q_dim + (int64_t)h0 * hd;
    mx_attn_key_range(a->spec, it.qpos, &it.k0);
    return it;
}

/* Byte offset of position pos of KV head kvh in a cache view ([n_head_kv][n_slots][head_dim]
 * rows of row_bytes; a ring keeps position pos in slot pos % n_slots). */
static inline uint64_t kv_row_offset(const mx_kv_view *kv, int kvh, int64_t pos, uint64_t row_bytes) {
    const uint64_t slot = (uint64_t)(kv->ring ? pos % kv->n_slots : pos);
    return ((uint64_t)kvh * (uint64_t)kv->n_slots + slot) * row_bytes;
}

/* Rows of positions j .. at most `last` that lie one after another in memory, with the kernels
 * of their element type: cache rows up to the ring's wrap or the step's first position, else
 * the step's own f32 scratch rows. */
typedef struct kv_run {
    const uint8_t *rows;
    uint64_t row_bytes;
    int64_t n;
    const mx_type_kernels *k;
} kv_run;

static kv_run kv_run_at(const mx_engine *e, const attn_item *it, bool values, int64_t j, int64_t last) {
    const int hd = e->hp.head_dim, kvh = it->kvh;
    const mx_kv_view *kv = it->kv;
    const int64_t pos0 = it->sg->pos0;
    if (j >= pos0)
        return (kv_run){(const uint8_t *)((values ? it->sv : it->sk) + (j - pos0) * e->kv_dim + (int64_t)kvh * hd),
                        (uint64_t)e->kv_dim * sizeof(float), last - j + 1, mx_kernels_get(MX_TYPE_F32)};
    const uint64_t es = mx_type_get(kv->type)->bytes, rb = (uint64_t)hd * es;
    int64_t end = MX_MIN(last + 1, pos0);
    if (kv->ring) end = MX_MIN(end, j + (int64_t)kv->n_slots - j % (int64_t)kv->n_slots);
    return (kv_run){(const uint8_t *)(values ? kv->v : kv->k) + kv_row_offset(kv, kvh, j, rb), rb, end - j,
                    mx_kernels_get(kv->type)};
}

/* Blocks of an item: its visible keys meet blocks first_block .. last_block. */
static int64_t first_block(const attn_item *it) { return it->k0 / MX_ATTN_BLOCK; }
static int64_t last_block(const attn_item *it) { return it->qpos / MX_ATTN_BLOCK; }
static int64_t n_blocks(const attn_item *it) { return last_block(it) - first_block(it) + 1; }
/* The visible keys of an item in block b (j0 > j1: none). */
static void block_keys(const attn_item *it, int64_t b, int64_t *j0, int64_t *j1) {
    *j0 = MX_MAX(it->k0, b * MX_ATTN_BLOCK);
    *j1 = MX_MIN(it->qpos, b * MX_ATTN_BLOCK + MX_ATTN_BLOCK - 1);
}

/* The partial of block b for nq query heads (q: [nq][head_dim]) over the item's keys in it,
 * into part ([nq][head_dim + 2]: o, then m and l; see attn_run()), with p ([nq][MX_ATTN_BLOCK])
 * for the scores. The heads are the item's own, or those of several items that see the same
 * keys of this block (attn_worker). */
static void block_partial(const attn_task *a, const attn_item *it, int64_t b, const float *q, int nq, float *p,
                          float *part) {
    const mx_engine *e = a->e;
    const int hd = e->hp.head_dim, W = hd + 2;
    int64_t j0, j1;
    block_keys(it, b, &j0, &j1);
    for (int64_t j = j0; j <= j1;) {
        const kv_run run = kv_run_at(e, it, false, j, j1);
        run.k->attn_scores(run.rows, run.row_bytes, run.n, q, hd, nq, p + (j - j0), MX_ATTN_BLOCK, hd);
        j += run.n;
    }
    const float scale = e->hp.attn_scale, cap = a->spec->attn_softcap;
    for (int i = 0; i < nq; i++) {
        float *sc = p + i * MX_ATTN_BLOCK, m = -INFINITY, l;
        if (cap > 0.0f) {
            for (int64_t k = 0; k <= j1 - j0; k++) {
                const float v = cap * tanhf(sc[k] * scale / cap);
                sc[k] = v;
                if (v > m) m = v;
            }
        } else {
            m = a->scale_max(sc, j1 - j0 + 1, scale);
        }
        l = a->exp_sum(sc, j1 - j0 + 1, m);
        float *o = part + i * W;
        memset(o, 0, (size_t)hd * sizeof(float));
        o[hd] = m;
        o[hd + 1] = l;
    }
    for (int64_t j = j0; j <= j1;) {
        const kv_run run = kv_run_at(e, it, true, j, j1);
        run.k->attn_values(p + (j - j0), MX_ATTN_BLOCK, run.rows, run.row_bytes, run.n, part, W, nq, hd);
        j += run.n;
    }
}

/* Fold a block's partial into the running one (the first block starts it), for the output
 * elements [k0, k1) of each head (each element is folded the same way whatever the range). */
static void block_fold(const attn_task *a, float *acc, const float *part, int hpi, int hd, bool first, int k0,
                       int k1) {
    const int W = hd + 2;
    for (int i = 0; i < hpi; i++) {
        float *o = acc + i * W;
        const float *ob = part + i * W;
        if (first) {
            memcpy(o + k0, ob + k0, (size_t)(k1 - k0) * sizeof(float));
            o[hd] = ob[hd];
            o[hd + 1] = ob[hd + 1];
            continue;
        }
        const float mx = ob[hd] > o[hd] ? ob[hd] : o[hd];
        const float al = expf(o[hd] - mx), be = expf(ob[hd] - mx);
        a->fold(o + k0, ob + k0, al, be, k1 - k0);
        o[hd] = mx;
        o[hd + 1] = o[hd + 1] * al + ob[hd + 1] * be;
    }
}

static void block_finish(const float *acc, float *out, int hpi, int hd, int k0, int k1) {
    for (int i = 0; i < hpi; i++) {
        const float *o = acc + i * (hd + 2);
        const float inv = 1.0f / o[hd + 1];
        for (int k = k0; k < k1; k++) out[i * hd + k] = o[k] * inv;
    }
}

/* Prefill: the items of a token group (same KV head and part) on one thread, each item's
 * blocks computed and folded in order. A block whose keys all the group's tokens see alike
 * (all but the last block of a causal step, and the first of a sliding window) is computed
 * for all their heads at once, so each key and value row is read once for the group: at long
 * context the reads of the cache dominate prefill attention. Each head's results are those of
 * its item alone (the kernels' results belong to their row and head), so grouping changes no
 * bits. Groups are dealt round-robin: a causal step's later tokens see more keys. Thread
 * scratch: the block's scores, its partials, the running partials and the group's queries. */
static void attn_worker(void *ctx, int ith, int nth) {
    const attn_task *a = ctx;
    const int hd = a->e->hp.head_dim, W = hd + 2, hpi = a->hpi;
    float *p = a->e->scores + (int64_t)ith * a->e->attn_thread_floats;
    float *part = p + MX_MAX_GQA_GROUP * MX_ATTN_BLOCK, *acc = part + MX_MAX_GQA_GROUP * W;
    float *qg = acc + MX_MAX_GQA_GROUP * W;
    const int64_t ipt = a->e->hp.n_head_kv * (a->e->hp.n_head / a->e->hp.n_head_kv / hpi); /* items per token */
    for (int64_t u = ith; u < a->n_groups * ipt; u += nth) {
        const int32_t *g = a->groups + 2 * (u / ipt);
        const int nt = g[1];
        attn_item it[MX_MAX_GQA_GROUP];
        int64_t b0 = INT64_MAX, b1 = -1;
        for (int i = 0; i < nt; i++) {
            it[i] = attn_item_at(a, (g[0] + i) * ipt + u % ipt);
            if (nt > 1) memcpy(qg + (int64_t)i * hpi * hd, it[i].q, (size_t)hpi * (size_t)hd * sizeof(float));
            b0 = MX_MIN(b0, first_block(&it[i]));
            b1 = MX_MAX(b1, last_block(&it[i]));
        }
        for (int64_t b = b0; b <= b1; b++) {
            int64_t j0, j1, k0, k1;
            block_keys(&it[0], b, &j0, &j1);
            bool same = nt > 1 && j0 <= j1;
            for (int i = 1; i < nt && same; i++) {
                block_keys(&it[i], b, &k0, &k1);
                same = k0 == j0 && k1 == j1;
            }
            if (same) block_partial(a, &it[0], b, qg, nt * hpi, p, part);
            for (int i = 0; i < nt; i++) {
                if (b < first_block(&it[i]) || b > last_block(&it[i])) continue;
                float *pi = part + (int64_t)i * hpi * W;
                if (!same) block_partial(a, &it[i], b, it[i].q, hpi, p, pi);
                block_fold(a, acc + (int64_t)i * hpi * W, pi, hpi, hd, b == first_block(&it[i]), 0, hd);
            }
        }
        for (int i = 0; i < nt; i++) block_finish(acc + (int64_t)i * hpi * W, it[i].out, hpi, hd, 0, hd);
    }
}

/* The unit before which the keys of the units come nearest to `target` (the later unit on
 * a tie: thread 0, the caller, starts first). */
static int64_t attn_unit_cut(const attn_task *a, int64_t target) {
    int64_t keys = 0;
    for (int64_t i = 0; i < a->n_items; i++) {
        const attn_item it = attn_item_at(a, i);
        for (int64_t b = first_block(&it); b <= last_block(&it); b++) {
            int64_t j0, j1;
            block_keys(&it, b, &j0, &j1);
            const int64_t next = keys + j1 - j0 + 1;
            if (next >= target) return a->unit0[i] + (b - first_block(&it)) + (next - target <= target - keys);
            keys = next;
        }
    }
    return a->unit0[a->n_items];
}

/* The first unit of thread ith's share of the units. The shares are contiguous and cut by
 * keys, not units: a sliding window's first and last blocks are partial (a window of 512
 * meets five blocks of 128), and cutting by units would give one of two threads up to a block
 * more. */
static int64_t attn_share_start(const attn_task *a, int ith, int nth) {
    return attn_unit_cut(a, a->n_keys * ith / nth);
}

/* The partial of unit u (in the parts, the slot of unit u). Thread 0's share is the first
 * units, so every item it meets begins in it: thread 0 folds its blocks of an item as it goes,
 * in order, into the slot of the item's last unit in its share, which is the fold of those
 * blocks exactly as the second pass would do it, without writing out and reading back their
 * partials. */
static float *attn_part(const attn_task *a, int64_t u) {
    return a->e->attn_parts + u * a->hpi * (a->e->hp.head_dim + 2);
}
static int64_t attn_last0(const attn_task *a, int64_t item, int64_t c0) {
    return MX_MIN(a->unit0[item + 1], c0) - 1;
}

/* Split decode, first pass: every (item, block) unit; each thread takes a contiguous share of
 * them, so it streams through its own cached rows in order. */
static void attn_block_worker(void *ctx, int ith, int nth) {
    const attn_task *a = ctx;
    const int hd = a->e->hp.head_dim;
    float *p = a->e->scores + (int64_t)ith * a->e->attn_thread_floats, *part = p + MX_MAX_GQA_GROUP * MX_ATTN_BLOCK;
    int64_t item = 0;
    const int64_t u0 = attn_share_start(a, ith, nth), u1 = attn_share_start(a, ith + 1, nth);
    for (int64_t u = u0; u < u1; u++) {
        while (u >= a->unit0[item + 1]) item++;
        const attn_item it = attn_item_at(a, item);
        const int64_t b = first_block(&it) + (u - a->unit0[item]);
        if (ith > 0) {
            block_partial(a, &it, b, it.q, a->hpi, p, attn_part(a, u));
            continue;
        }
        float *acc = attn_part(a, attn_last0(a, item, u1));
        if (u == a->unit0[item]) {
            block_partial(a, &it, b, it.q, a->hpi, p, acc);
        } else {
            block_partial(a, &it, b, it.q, a->hpi, p, part);
            block_fold(a, acc, part, a->hpi, hd, false, 0, hd);
        }
    }
}

/* Split decode, second pass: each item folds its blocks' partials in order, each thread a
 * range of the output elements (the running max and sum are folded by every thread alike). */
static void attn_fold_worker(void *ctx, int ith, int nth) {
    const attn_task *a = ctx;
    const int hd = a->e->hp.head_dim;
    float *acc = a->e->scores + (int64_t)ith * a->e->attn_thread_floats;
    const int64_t nv = hd / 8; /* whole vectors of 8 per thread; the last range takes the rest */
    int64_t v0, v1;
    mx_split_rows(nv, ith, nth, &v0, &v1);
    const int64_t k0 = v0 * 8, k1 = v1 == nv && (v1 > v0 || (nv == 0 && ith == 0)) ? hd : v1 * 8;
    if (k1 <= k0) return;
    /* the end of thread 0's share of the first pass, which ran on all the pool's threads */
    const int64_t c0 = attn_share_start(a, 1, mx_pool_size(a->e->pool));
    for (int64_t item = 0; item < a->n_items; item++) {
        const attn_item it = attn_item_at(a, item);
        /* an item begun in thread 0's share starts from thread 0's fold of its blocks there */
        const int64_t first = MX_MAX(a->unit0[item], attn_last0(a, item, c0));
        for (int64_t u = first; u < a->unit0[item + 1]; u++)
            block_fold(a, acc, attn_part(a, u), a->hpi, hd, u == first, (int)k0, (int)k1);
        block_finish(acc, it.out, a->hpi, hd, (int)k0, (int)k1);
    }
}

/* Attention for each (token, KV head, part of its query heads) over the visible keys (old keys
 * from the cache, then the step's own keys from scratch; the range comes from the layer's rule,
 * no mask is materialised), in blocks of MX_ATTN_BLOCK keys by absolute position (block b:
 * positions b * BLOCK .. b * BLOCK + BLOCK - 1, cut to the visible range). Per block and head:
 * the scores s_j (scaled, soft-capped), their max m, l = sum of exp(s_j - m) in key order, and
 * o = sum of exp(s_j - m) v_j (the values kernel from zero, in key order). The blocks are then
 * folded in block order: M' = max(M, m), a = exp(M - M'), c = exp(m - M'), L = L a + l c,
 * O = O a + o c; the output is O / L. Each step depends on the block's keys and the block
 * order alone, so:
 *  - prefill (many items) computes and folds an item's blocks on one thread (with the items
 *    of a few consecutive tokens, see attn_worker());
 *  - decode with fewer items than threads and at least MX_ATTN_SPLIT_MIN_BLOCKS blocks per
 *    thread gives each thread a contiguous share of the blocks (each reads its own cached
 *    rows: a decode step at long context is bound by reading the cache); the first thread
 *    folds its blocks as it goes, the others keep their partials, which every thread then
 *    folds onto the first's in block order over a range of the output elements (the caller
 *    alone when at most MX_ATTN_SERIAL_FOLD are left);
 *  - decode over fewer blocks (a short context, a short window) splits the query heads;
 * and all give the same bits, whatever the thread count or the split of a prompt. */
static void attn_set_heads(attn_task *a, const mx_hparams *hp, int n_tok, int nth, bool split_heads) {
    a->hpi = attn_heads_per_item(hp, n_tok, nth, split_heads);
    a->n_items = (int64_t)n_tok * hp->n_head_kv * (hp->n_head / hp->n_head_kv / a->hpi);
}

static void attn_run(mx_engine *e, const mx_layer_spec *spec, const seg *segs, int layer, int n_tok) {
    const mx_hparams *hp = &e->hp;
    const int nth = mx_pool_size(e->pool);
    attn_task a = {.e = e, .spec = spec, .segs = segs, .layer = layer, .exp_sum = mx_kernels_exp_sum(),
                   .scale_max = mx_kernels_scale_max(), .fold = mx_kernels_fold()};
    attn_set_heads(&a, hp, n_tok, nth, false);
    if (nth > 1 && a.n_items < nth && a.n_items <= MX_ATTN_SPLIT_ITEMS) {
        a.unit0[0] = 0;
        a.n_keys = 0;
        for (int64_t i = 0; i < a.n_items; i++) {
            const attn_item it = attn_item_at(&a, i);
            a.unit0[i + 1] = a.unit0[i] + n_blocks(&it);
            a.n_keys += it.qpos - it.k0 + 1;
        }
        /* few blocks (a sliding window, a short context): the query heads are split instead */
        if (a.unit0[a.n_items] >= MX_ATTN_SPLIT_MIN_BLOCKS * nth && a.unit0[a.n_items] <= e->attn_part_slots) {
            mx_pool_run(e->pool, attn_block_worker, &a);
            /* a few partials left to fold (a sliding window's): the caller folds them alone,
             * saving a second start of the threads */
            if (a.unit0[a.n_items] - attn_share_start(&a, 1, nth) <= MX_ATTN_SERIAL_FOLD)
                attn_fold_worker(&a, 0, 1);
            else
                mx_pool_run(e->pool, attn_fold_worker, &a);
            return;
        }
        attn_set_heads(&a, hp, n_tok, nth, true);
    }
    /* Token groups of up to MX_MAX_GQA_GROUP / hpi consecutive tokens of one sequence, when
     * that leaves at least ATTN_GROUPS_PER_THREAD units per thread (else single tokens). */
    int32_t *g = e->attn_groups;
    int tpg = MX_MAX(1, MX_MAX_GQA_GROUP / a.hpi);
    if (a.n_items / tpg < (int64_t)ATTN_GROUPS_PER_THREAD * nth) tpg = 1;
    a.n_groups = 0;
    for (int t = 0; t < n_tok; t++) {
        if (t == 0 || g[2 * a.n_groups - 1] == tpg || e->tok_seg[t] != e->tok_seg[t - 1]) {
            g[2 * a.n_groups] = t;
            g[2 * a.n_groups + 1] = 0;
            a.n_groups++;
        }
        g[2 * a.n_groups - 1]++;
    }
    a.groups = g;
    mx_pool_run(e->pool, attn_worker, &a);
}

/* ====================================================================================== */
/* Per-token element-wise pieces (main thread: O(hidden) per token)                          */
/* ====================================================================================== */

static void rope_tables(mx_engine *e, int n_tok) {
    const int half = e->hp.head_dim / 2;
    for (int c = 0; c < e->n_rope; c++) {
        for (int t = 0; t < n_tok; t++) {
            const double p = (double)e->tok_pos[t] / e->rope_scale[c];
            float *co = e->rope_cos + ((int64_t)c * e->p.n_batch + t) * half;
            float *si = e->rope_sin + ((int64_t)c * e->p.n_batch + t) * half;
            for (int i = 0; i < half; i++) {
                const double ang = p * e->rope_inv_freq[c][i];
                co[i] = (float)cos(ang);
                si[i] = (float)sin(ang);
            }
        }
    }
}

/* Round a row through the cache type (keys and values of a step meet cache rows in attention;
 * using the same rounded values makes results independent of how a prompt is split). The
 * conversions of every kernel set round to nearest even alike (the same bits for every float
 * but a NaN's payload; tests/test_kernels.c). */
static void round_kv(mx_engine *e, mx_type type, float *row, int ith) {
    const mx_type_kernels *kc = mx_kernels_get(type);
    uint16_t *tmp = e->kv_tmp16 + (size_t)ith * (size_t)e->kv_dim * 2;
    kc->from_f32(row, tmp, e->kv_dim);
    kc->to_f32(tmp, row, e->kv_dim);
}

static void kv_store(mx_engine *e, const mx_kv_view *kv, int n_tok, int64_t pos0, int row0) {
    const mx_type_kernels *kc = mx_kernels_get(kv->type);
    const uint64_t es = mx_type_get(kv->type)->bytes;
    const int hd = e->hp.head_dim;
    for (int t = 0; t < n_tok; t++) {
        if (kv->ring && n_tok - t > kv->n_slots) continue; /* would be overwritten in this step */
        for (int h = 0; h < e->hp.n_head_kv; h++) {
            const uint64_t off = kv_row_offset(kv, h, pos0 + t, (uint64_t)hd * es);
            kc->from_f32(e->k + (int64_t)(row0 + t) * e->kv_dim + h * hd, (uint8_t *)kv->k + off, hd);
            kc->from_f32(e->v + (int64_t)(row0 + t) * e->kv_dim + h * hd, (uint8_t *)kv->v + off, hd);
        }
    }
}

static void add_into(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* The per-token steps between the matrix products (norms, residual adds, biases, q/k norms,
 * RoPE, the rounding of new keys and values to a 16-bit cache type). Each token's results
 * come from its own rows by the same code whichever thread runs it, so splitting the tokens
 * among the threads (from TOK_PAR_MIN tokens on; prefill spent 6% of its one-thread time
 * here) changes no bits. */
enum tok_step { TOK_ATTN_NORM, TOK_QKV, TOK_ATTN_OUT, TOK_FFN_OUT };
#define TOK_PAR_MIN 16
typedef struct tok_task {
    mx_engine *e;
    const seg *segs;
    int il, n_tok;
    enum tok_step step;
} tok_task;

static void tok_worker(void *ctx, int ith, int nth) {
    const tok_task *a = ctx;
    mx_engine *e = a->e;
    const mx_hparams *hp = &e->hp;
    const mx_layer_w *l = &e->layers[a->il];
    const int64_t E = hp->n_embd, hd = hp->head_dim;
    const mx_rmsnorm_fn rmsnorm = mx_kernels_rmsnorm();
    const mx_rope_fn rope = mx_kernels_rope();
    int64_t t0, t1;
    mx_split_rows(a->n_tok, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        float *x = e->x + t * E, *xb = e->xb + t * E, *o = e->o + t * E;
        switch (a->step) {
        case TOK_ATTN_NORM: rmsnorm(xb, x, l->attn_norm, E, hp->rms_eps); break;
        case TOK_QKV: {
            float *q = e->q + t * e->q_dim, *k = e->k + t * e->kv_dim, *v = e->v + t * e->kv_dim;
            if (l->bq) add_into(q, l->bq, e->q_dim);
            if (l->bk) add_into(k, l->bk, e->kv_dim);
            if (l->bv) add_into(v, l->bv, e->kv_dim);
            if (l->q_norm) {
                for (int h = 0; h < hp->n_head; h++) rmsnorm(q + h * hd, q + h * hd, l->q_norm, hd, hp->rms_eps);
                for (int h = 0; h < hp->n_head_kv; h++) rmsnorm(k + h * hd, k + h * hd, l->k_norm, hd, hp->rms_eps);
            }
            if (l->rope_cfg >= 0) {
                const int64_t off = ((int64_t)l->rope_cfg * e->p.n_batch + t) * (hd / 2);
                rope(q, hp->n_head, (int)hd, hp->rope_neox, e->rope_cos + off, e->rope_sin + off);
                rope(k, hp->n_head_kv, (int)hd, hp->rope_neox, e->rope_cos + off, e->rope_sin + off);
            }
            const mx_type kt = a->segs[e->tok_seg[t]].kv[a->il].type;
            if (kt != MX_TYPE_F32) {
                round_kv(e, kt, k, ith);
                round_kv(e, kt, v, ith);
            }
            break;
        }
        case TOK_ATTN_OUT:
            if (l->post_attn_norm) rmsnorm(o, o, l->post_attn_norm, E, hp->rms_eps);
            add_into(x, o, E);
            rmsnorm(xb, x, l->ffn_norm, E, hp->rms_eps);
            break;
        case TOK_FFN_OUT:
            if (l->post_ffw_norm) rmsnorm(o, o, l->post_ffw_norm, E, hp->rms_eps);
            add_into(x, o, E);
            break;
        }
    }
}

static void tok_run(mx_engine *e, const seg *segs, int il, int n_tok, enum tok_step step) {
    tok_task a = {.e = e, .segs = segs, .il = il, .n_tok = n_tok, .step = step};
    if (n_tok >= TOK_PAR_MIN) mx_pool_run(e->pool, tok_worker, &a);
    else tok_worker(&a, 0, 1);
}

/* ====================================================================================== */
/* Forward                                                                                */
/* ====================================================================================== */

static mixlm_status check_kv(const mx_engine *e, const mx_kv_view *kv, int64_t pos_end) {
    for (int il = 0; il < e->hp.n_layer; il++) {
        const mx_kv_view *v = &kv[il];
        const mx_layer_spec *s = &e->m->layers[il];
        if (!v->k || !v->v || !mx_kv_type_ok(v->type) || v->n_slots < 1)
            return mx_err(MIXLM_ERR_STATE, "engine: layer %d: KV state is not an F32/F16/BF16 cache", il);
        if (v->ring) {
            if (s->attn == MX_ATTN_FULL)
                return mx_err(MIXLM_ERR_STATE, "engine: layer %d is full attention but its cache is a ring", il);
            if (v->n_slots < s->window)
                return mx_err(MIXLM_ERR_STATE, "engine: layer %d: ring of %d slots < window %d", il,
                              v->n_slots, s->window);
        } else if (pos_end > v->n_slots) {
            return mx_err(MIXLM_ERR_CONTEXT_FULL,
                          "engine: layer %d: cache holds %d positions, step needs %lld", il,
                          v->n_slots, (long long)pos_end);
        }
        if (s->attn == MX_ATTN_FULL && pos_end > (int64_t)e->max_keys)
            return mx_err(MIXLM_ERR_CONTEXT_FULL, "engine: step reaches position %lld, engine sized for %d",
                          (long long)pos_end, e->max_keys);
    }
    return MIXLM_OK;
}

/* One pass over the weights for the segments of a step (n rows in all, <= n_batch): the rows
 * of every segment go through each matrix together; attention and cache writes are per
 * segment. Each output row is computed exactly as it would be alone. */
static mixlm_status forward_piece(mx_engine *e, const seg *segs, int n_segs, int n) {
    const mx_hparams *hp = &e->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff;

    for (int si = 0; si < n_segs; si++)
        for (int i = 0; i < segs[si].n; i++) {
            const int t = segs[si].row0 + i;
            e->tok_pos[t] = segs[si].pos0 + i;
            e->tok_seg[t] = si;
            float *x = e->x + t * E;
            const int32_t id = segs[si].tokens[i];
            e->embd.k->to_f32((const uint8_t *)e->embd.t->data + (uint64_t)id * e->embd.row_bytes, x, E);
            if (hp->embd_scale != 1.0f && hp->embd_scale != 0.0f)
                for (int64_t k = 0; k < E; k++) x[k] *= hp->embd_scale;
        }
    rope_tables(e, n);

    for (int il = 0; il < hp->n_layer; il++) {
        const mx_layer_w *l = &e->layers[il];
        const mx_layer_spec *spec = &e->m->layers[il];

        /* ---- attention ---- */
        tok_run(e, segs, il, n, TOK_ATTN_NORM);
        mm_task qkv = {.n_tok = n, .n_jobs = 3,
                       .jobs = {{&l->wq, e->xb, E, e->q, e->q_dim},
                                {&l->wk, e->xb, E, e->k, e->kv_dim},
                                {&l->wv, e->xb, E, e->v, e->kv_dim}}};
        mm_run(e, &qkv);
        tok_run(e, segs, il, n, TOK_QKV);
        attn_run(e, spec, segs, il, n);
        for (int si = 0; si < n_segs; si++)
            kv_store(e, &segs[si].kv[il], segs[si].n, segs[si].pos0, segs[si].row0);

        mm_task wo = {.n_tok = n, .n_jobs = 1, .jobs = {{&l->wo, e->att, e->q_dim, e->o, E}}};
        mm_run(e, &wo);
        tok_run(e, segs, il, n, TOK_ATTN_OUT);

        /* ---- feed-forward ---- */
        mm_task gu = {.n_tok = n, .n_jobs = 2,
                      .jobs = {{&l->gate, e->xb, E, e->g, F}, {&l->up, e->xb, E, e->u, F}}};
        mm_run(e, &gu);
        act_run(e, n);
        mm_task dn = {.n_tok = n, .n_jobs = 1, .jobs = {{&l->down, e->g, F, e->o, E}}};
        mm_run(e, &dn);
        tok_run(e, segs, il, n, TOK_FFN_OUT);
    }

    /* ---- output: the wanted rows, normalised and packed at the front of xb ---- */
    int n_out = 0;
    for (int si = 0; si < n_segs; si++) {
        if (!segs[si].logits) continue;
        for (int i = segs[si].all ? 0 : segs[si].n - 1; i < segs[si].n; i++, n_out++)
            mx_kernels_rmsnorm()(e->xb + n_out * E, e->x + (segs[si].row0 + i) * E, e->output_norm, E, hp->rms_eps);
    }
    if (n_out == 0) return MIXLM_OK;
    const int64_t V = hp->n_vocab;
    const int64_t out_cap = MX_MIN((int64_t)MX_OUT_ROWS, (int64_t)e->p.n_batch);
    if (n_segs == 1) {
        /* one sequence: straight into the caller's rows */
        mm_task head = {.n_tok = n_out, .n_jobs = 1, .jobs = {{&e->output, e->xb, E, segs[0].logits, V}}};
        mm_run(e, &head);
    } else {
        /* several: one pass over the output matrix per MX_OUT_ROWS rows, then copy out */
        int row = 0;
        for (int si = 0; si < n_segs; si++) {
            if (!segs[si].logits) continue;
            const int cnt = segs[si].all ? segs[si].n : 1;
            for (int i = 0; i < cnt; i++, row++) {
                if (row % out_cap == 0) {
                    const int rows = (int)MX_MIN(out_cap, (int64_t)(n_out - row));
                    mm_task head = {.n_tok = rows, .n_jobs = 1,
                                    .jobs = {{&e->output, e->xb + (int64_t)row * E, E, e->out_rows, V}}};
                    mm_run(e, &head);
                }
                memcpy(segs[si].logits + (int64_t)i * V, e->out_rows + (int64_t)(row % out_cap) * V,
                       (size_t)V * sizeof(float));
            }
        }
    }
    if (hp->final_softcap > 0.0f) {
        const float c = hp->final_softcap;
        for (int si = 0; si < n_segs; si++) {
            if (!segs[si].logits) continue;
            const int64_t cnt = (segs[si].all ? segs[si].n : 1) * V;
            for (int64_t i = 0; i < cnt; i++) segs[si].logits[i] = c * tanhf(segs[si].logits[i] / c);
        }
    }
    return MIXLM_OK;
}

static mixlm_status check_seq(const mx_engine *e, const mx_engine_seq *sq) {
    if (!sq->kv || (!sq->tokens && sq->n > 0) || sq->n < 0 || sq->pos0 < 0 || sq->pos0 > INT32_MAX)
        return mx_err(MIXLM_ERR_INVALID_ARG, "engine: bad forward arguments");
    for (int32_t i = 0; i < sq->n; i++)
        if (sq->tokens[i] < 0 || sq->tokens[i] >= e->hp.n_vocab)
            return mx_err(MIXLM_ERR_INVALID_ARG, "engine: token id %d out of range 0..%d",
                          sq->tokens[i], e->hp.n_vocab - 1);
    return check_kv(e, sq->kv, sq->pos0 + sq->n);
}

/* A sequence longer than one pass: pieces of n_batch rows, one after another. */
static mixlm_status forward_long(mx_engine *e, const mx_engine_seq *sq) {
    for (int32_t done = 0; done < sq->n;) {
        const int piece = (int)MX_MIN((int32_t)e->p.n_batch, sq->n - done);
        const bool last = done + piece == sq->n;
        seg sg = {.kv = sq->kv, .tokens = sq->tokens + done, .n = piece, .pos0 = sq->pos0 + done,
                  .all = sq->all_logits, .row0 = 0};
        if (sq->logits && sq->all_logits) sg.logits = sq->logits + (int64_t)done * e->hp.n_vocab;
        else if (sq->logits && last) sg.logits = sq->logits;
        mixlm_status st = forward_piece(e, &sg, 1, piece);
        if (st) return st;
        done += piece;
    }
    return MIXLM_OK;
}

mixlm_status mx_engine_forward_batch(mx_engine *e, const mx_engine_seq *seqs, int32_t n_seqs) {
    if (!e || (!seqs && n_seqs > 0) || n_seqs < 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "engine: bad forward arguments");
    for (int32_t i = 0; i < n_seqs; i++) {
        mixlm_status st = check_seq(e, &seqs[i]);
        if (st) return mx_err_prefix(st, "sequence %d: ", (int)i);
    }
    seg segs[MX_MAX_SEGS];
    int n_segs = 0, rows = 0;
    for (int32_t i = 0; i <= n_seqs; i++) {
        const mx_engine_seq *sq = i < n_seqs ? &seqs[i] : NULL;
        /* flush the packed segments when this sequence does not fit (or at the end) */
        if (n_segs > 0 && (!sq || rows + sq->n > e->p.n_batch || n_segs == MX_MAX_SEGS)) {
            mixlm_status st = forward_piece(e, segs, n_segs, rows);
            if (st) return st;
            n_segs = 0;
            rows = 0;
        }
        if (!sq || sq->n == 0) continue;
        if (sq->n > e->p.n_batch) {
            mixlm_status st = forward_long(e, sq);
            if (st) return st;
            continue;
        }
        segs[n_segs++] = (seg){.kv = sq->kv, .tokens = sq->tokens, .n = sq->n, .pos0 = sq->pos0,
                               .logits = sq->logits, .all = sq->all_logits, .row0 = rows};
        rows += sq->n;
    }
    return MIXLM_OK;
}

mixlm_status mx_engine_forward(mx_engine *e, const mx_kv_view *kv, const int32_t *tokens,
                               int32_t n, int64_t pos0, float *logits, bool all_logits) {
    mx_engine_seq sq = {.kv = kv, .tokens = tokens, .n = n, .pos0 = pos0, .logits = logits,
                        .all_logits = all_logits};
    return mx_engine_forward_batch(e, &sq, 1);
}

/* ====================================================================================== */
/* Self-contained KV cache                                                                */
/* ====================================================================================== */

mixlm_status mx_kv_cache_create(const mx_engine *e, int32_t n_ctx, mx_type type,
                                bool full_length_local, mx_kv_cache **out) {
    *out = NULL;
    if (!mx_kv_type_ok(type))
        return mx_err(MIXLM_ERR_INVALID_ARG, "KV cache type must be F32, F16 or BF16");
    if (n_ctx < 1) return mx_err(MIXLM_ERR_INVALID_ARG, "KV cache length %d", n_ctx);
    const int nl = e->hp.n_layer;
    const uint64_t es = mx_type_get(type)->bytes;
    mx_kv_cache *c = mx_calloc(1, sizeof *c);
    if (!c || !(c->layers = mx_calloc((size_t)nl, sizeof *c->layers))) {
        free(c);
        return MIXLM_ERR_NOMEM;
    }
    c->n_layer = nl;
    uint64_t total = 0;
    for (int il = 0; il < nl; il++) {
        const mx_layer_spec *s = &e->m->layers[il];
        mx_kv_view *v = &c->layers[il];
        v->type = type;
        v->ring = s->attn != MX_ATTN_FULL && !full_length_local;
        v->n_slots = v->ring ? s->window : n_ctx;
        uint64_t b;
        if (!mx_mul_ok((uint64_t)v->n_slots, (uint64_t)e->kv_dim * es * 2, &b) || !mx_add_ok(total, b, &total)) {
            mx_kv_cache_free(c);
            return mx_err(MIXLM_ERR_NOMEM, "KV cache size overflows");
        }
    }
    c->mem = mx_calloc(1, (size_t)total);
    if (!c->mem) {
        mx_kv_cache_free(c);
        return MIXLM_ERR_NOMEM;
    }
    c->bytes = total;
    uint8_t *p = c->mem;
    for (int il = 0; il < nl; il++) {
        mx_kv_view *v = &c->layers[il];
        const uint64_t half = (uint64_t)v->n_slots * (uint64_t)e->kv_dim * es;
        v->k = p;
        v->v = p + half;
        p += 2 * half;
    }
    *out = c;
    return MIXLM_OK;
}

void mx_kv_cache_free(mx_kv_cache *c) {
    if (!c) return;
    free(c->mem);
    free(c->layers);
    free(c);
}
