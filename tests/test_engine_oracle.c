/* test_engine_oracle.c: the native engine against the oracle logits (llama.cpp dumps of three
 * tiny random-weight models, tests/data/oracle/PROVENANCE.md) from both the GGUF and the HF
 * layout, in every feeding mode; quantised copies of the same models within measured bounds;
 * ring vs full-length caches; thread counts; load errors that name the tensor. */
#include "check.h"
#include "engine_run.h"

#include "common/util.h"
#include "engine/engine.h"
#include "engine/kernels/kernels.h"

#include <stdint.h>

#define N_VOCAB 512
static const char *MODELS[] = {"tiny-gemma3-swa8", "tiny-gemma2-swa8", "tiny-llama"};

static int32_t g_tokens[64];
static int32_t g_n_tokens;
static float *g_expected; /* [40][512] */

static int load_case(const char *name) {
    char path[512], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "oracle/%s.tokens.txt", name);
    if (mx_read_file(test_data(path), 1 << 16, &text, &len)) return 0;
    g_n_tokens = 0;
    for (char *p = text; *p && g_n_tokens < 64;) {
        g_tokens[g_n_tokens++] = (int32_t)strtol(p, &p, 10);
        while (*p == ',' || *p == ' ' || *p == '\n') p++;
    }
    free(text);
    snprintf(path, sizeof path, "oracle/%s.logits.f32", name);
    char *raw = NULL;
    if (mx_read_file(test_data(path), 1 << 20, &raw, &len)) return 0;
    if (len != (size_t)g_n_tokens * N_VOCAB * 4) {
        free(raw);
        return 0;
    }
    free(g_expected);
    g_expected = (float *)raw;
    return 1;
}

static mixlm_status run(const mixlm_model *m, int threads, int chunk, mx_type kv_type,
                        bool full_length_local, const int32_t *tokens, int32_t n, float *out) {
    return engine_logits(m, threads, chunk, kv_type, full_length_local, tokens, n, N_VOCAB, out);
}


/* ---- A copy of a model with every matrix converted to another type ------------------------ */

typedef struct conv_model {
    mixlm_model m;
    mx_tensor *tensors;
    void **bufs;
} conv_model;

static int convert_model(const mixlm_model *src, mx_type type, conv_model *out) {
    memset(out, 0, sizeof *out);
    out->m = *src; /* shallow: same specs, names and lookup index; new tensor array */
    out->tensors = calloc((size_t)src->n_tensors, sizeof *out->tensors);
    out->bufs = calloc((size_t)src->n_tensors, sizeof *out->bufs);
    const mx_type_kernels *to = mx_kernels_ref(type);
    for (int i = 0; i < src->n_tensors; i++) {
        const mx_tensor *t = &src->tensors[i];
        out->tensors[i] = *t;
        if (t->n_dims != 2 || t->type != MX_TYPE_F32) continue; /* norms and biases stay f32 */
        const int64_t n = t->ne[0] * t->ne[1];
        const uint64_t bytes = mx_type_row_bytes(type, (uint64_t)t->ne[0]) * (uint64_t)t->ne[1];
        void *buf = mx_aligned_alloc(64, (size_t)bytes);
        if (!buf) return 0;
        for (int64_t r = 0; r < t->ne[1]; r++)
            to->from_f32((const float *)t->data + r * t->ne[0],
                         (uint8_t *)buf + (uint64_t)r * mx_type_row_bytes(type, (uint64_t)t->ne[0]),
                         t->ne[0]);
        (void)n;
        out->bufs[i] = buf;
        out->tensors[i].type = type;
        out->tensors[i].data = buf;
        out->tensors[i].nbytes = bytes;
    }
    out->m.tensors = out->tensors;
    return 1;
}

static void convert_free(conv_model *c) {
    for (int i = 0; c->bufs && i < c->m.n_tensors; i++) free(c->bufs[i]);
    free(c->bufs);
    free(c->tensors);
}

/* ---- The tests ----------------------------------------------------------------------------- */

/* f32 weights and KV: max |diff| <= 1e-4 (oracle/README: a correct f32 implementation lands
 * within about 1e-4; the float64 references are at 3e-6) in every feeding mode. */
static void test_oracle(const char *name, const char *path) {
    mixlm_model *m = NULL;
    mixlm_status st = mixlm_model_load(test_data(path), &m);
    CHECK_MSG(st == MIXLM_OK, "%s: load: %s", path, mixlm_last_error());
    if (st) return;
    const size_t n = (size_t)g_n_tokens * N_VOCAB;
    float *got = malloc(n * 4), *whole = malloc(n * 4);
    const int chunks[] = {0, 1, 7};
    for (size_t c = 0; c < MX_ARRAY_LEN(chunks); c++) {
        st = run(m, 2, chunks[c], MX_TYPE_F32, false, g_tokens, g_n_tokens, got);
        CHECK_MSG(st == MIXLM_OK, "%s chunk %d: %s", path, chunks[c], mixlm_last_error());
        if (st) continue;
        const double d = check_max_abs_diff(got, g_expected, n);
        CHECK_MSG(d <= 1e-4, "%s chunk %d: max |diff| %.3g > 1e-4", path, chunks[c], d);
        CHECK_EQ_INT(check_argmax_agree(got, g_expected, g_n_tokens, N_VOCAB), g_n_tokens);
        if (chunks[c] == 0) memcpy(whole, got, n * 4);
        else CHECK_MSG(check_max_abs_diff(got, whole, n) == 0.0, "%s chunk %d: differs from whole feeding",
                       path, chunks[c]);
        printf("  %-28s chunk %d: max |diff| %.3g\n", path, chunks[c], d);
    }
    /* The reference kernels too (the CI machine may lack AVX2; this covers both). */
    mixlm_force_reference_kernels(true);
    st = run(m, 1, 0, MX_TYPE_F32, false, g_tokens, g_n_tokens, got);
    mixlm_force_reference_kernels(false);
    CHECK_MSG(!st && check_max_abs_diff(got, g_expected, n) <= 1e-4, "%s reference kernels: %.3g", path,
              check_max_abs_diff(got, g_expected, n));
    /* Threads: each output row is computed the same way whatever the split. */
    st = run(m, 1, 0, MX_TYPE_F32, false, g_tokens, g_n_tokens, got);
    CHECK_MSG(!st && check_max_abs_diff(got, whole, n) <= 1e-6, "%s: 1 vs 2 threads %.3g", path,
              check_max_abs_diff(got, whole, n));
    /* Decode on more threads than (token, KV head) items splits each GQA group's query heads
     * across threads: the same bits as prefill, for an f32 and an f16 cache. */
    st = run(m, 5, 1, MX_TYPE_F32, false, g_tokens, g_n_tokens, got);
    CHECK_MSG(!st && check_max_abs_diff(got, whole, n) == 0.0, "%s: decode on 5 threads vs prefill %.3g",
              path, check_max_abs_diff(got, whole, n));
    float *f16_whole = malloc(n * sizeof(float));
    CHECK(f16_whole != NULL);
    if (f16_whole) {
        st = run(m, 1, 0, MX_TYPE_F16, false, g_tokens, g_n_tokens, f16_whole);
        if (!st) st = run(m, 5, 1, MX_TYPE_F16, false, g_tokens, g_n_tokens, got);
        CHECK_MSG(!st && check_max_abs_diff(got, f16_whole, n) == 0.0,
                  "%s: f16 KV, decode on 5 threads vs prefill on 1 %.3g", path, check_max_abs_diff(got, f16_whole, n));
        free(f16_whole);
    }
    (void)name;
    free(got);
    free(whole);
    mixlm_model_free(m);
}

/* Quantised weights and 16-bit KV caches against the f32 run of the same model. These random
 * models amplify small weight errors (8 layers of N(0, 1/fan_in) matrices, logits O(5)). The
 * worst max |diff| measured over the three models (AVX2 and reference kernels alike):
 *   weights F16 5.6e-3, BF16 5.7e-2, Q8_0 1.8e-1;  KV cache F16 3.1e-3, BF16 2.2e-2.
 * That ordering is the expected one: element error std ~ 2^-12 (F16), 2^-9 (BF16), and for
 * Q8_0 a step of absmax/127 ~ 2.5 sigma / 127 per block of 32, about 5x BF16's error. Q8_0
 * matrices also quantise their activations to Q8_0 blocks (the integer path): a second error
 * of the same kind and size, independent of the weights' (measured worst 1.5e-1 with f32
 * activations, 1.8e-1 with quantised ones; two independent errors of one size would give up
 * to sqrt(2) x). Bounds are 1.7x (Q8_0) to about twice the worst measured value. Argmax: must agree on every position whose f32
 * top-two margin exceeds twice the bound (where a flip would contradict the max-abs bound),
 * and on at least 90% of positions (measured: >= 37/40). */
static int argmax_agree_where_clear(const float *ref, const float *got, int rows, double bound) {
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        const float *a = ref + r * N_VOCAB, *b = got + r * N_VOCAB;
        int i1 = 0, ib = 0;
        for (int i = 1; i < N_VOCAB; i++) {
            if (a[i] > a[i1]) i1 = i;
            if (b[i] > b[ib]) ib = i;
        }
        float second = -INFINITY;
        for (int i = 0; i < N_VOCAB; i++)
            if (i != i1 && a[i] > second) second = a[i];
        if (a[i1] - second > 2.0 * bound && ib != i1) bad++;
    }
    return bad;
}

static void test_quantised(const char *path) {
    mixlm_model *m = NULL;
    if (mixlm_model_load(test_data(path), &m)) return;
    const size_t n = (size_t)g_n_tokens * N_VOCAB;
    float *ref = malloc(n * 4), *got = malloc(n * 4);
    run(m, 2, 0, MX_TYPE_F32, false, g_tokens, g_n_tokens, ref);
    const struct { mx_type t; const char *name; double bound; } cases[] = {
        {MX_TYPE_F16, "F16", 1.2e-2}, {MX_TYPE_BF16, "BF16", 0.12}, {MX_TYPE_Q8_0, "Q8_0", 0.3}};
    for (size_t c = 0; c < MX_ARRAY_LEN(cases); c++) {
        conv_model cm;
        CHECK(convert_model(m, cases[c].t, &cm));
        mixlm_status st = run(&cm.m, 2, 7, MX_TYPE_F32, false, g_tokens, g_n_tokens, got);
        CHECK_MSG(st == MIXLM_OK, "%s %s: %s", path, cases[c].name, mixlm_last_error());
        const double d = check_max_abs_diff(got, ref, n);
        const int agree = check_argmax_agree(got, ref, g_n_tokens, N_VOCAB);
        printf("  %-28s %-4s weights: max |diff| vs f32 %.3g, argmax %d/%d\n", path,
               cases[c].name, d, agree, g_n_tokens);
        CHECK_MSG(d <= cases[c].bound, "%s %s: max |diff| %.3g > %.3g", path, cases[c].name, d,
                  cases[c].bound);
        CHECK_MSG(agree * 10 >= g_n_tokens * 9, "%s %s: argmax agrees at %d", path, cases[c].name, agree);
        CHECK_EQ_INT(argmax_agree_where_clear(ref, got, g_n_tokens, cases[c].bound), 0);
        /* prefill (f32 or integer tile products) and decode (the type's own dot, or dot_q)
         * agree bit for bit */
        float *one = malloc(n * 4);
        st = run(&cm.m, 2, 1, MX_TYPE_F32, false, g_tokens, g_n_tokens, one);
        CHECK_MSG(!st && check_max_abs_diff(one, got, n) == 0.0, "%s %s: chunk 1 vs chunk 7 %.3g", path,
                  cases[c].name, check_max_abs_diff(one, got, n));
        free(one);
        convert_free(&cm);
    }
    const struct { mx_type t; const char *name; double bound; } kvs[] = {
        {MX_TYPE_F16, "F16", 6e-3}, {MX_TYPE_BF16, "BF16", 5e-2}};
    for (size_t c = 0; c < MX_ARRAY_LEN(kvs); c++) {
        mixlm_status st = run(m, 2, 0, kvs[c].t, false, g_tokens, g_n_tokens, got);
        const double d = check_max_abs_diff(got, ref, n);
        printf("  %-28s %-4s KV cache: max |diff| vs f32 %.3g\n", path, kvs[c].name, d);
        CHECK_MSG(!st && d <= kvs[c].bound, "%s %s KV: %.3g", path, kvs[c].name, d);
        /* a 16-bit cache still gives the same result whatever the feeding */
        float *chunked = malloc(n * 4);
        st = run(m, 2, 3, kvs[c].t, false, g_tokens, g_n_tokens, chunked);
        CHECK_MSG(!st && check_max_abs_diff(chunked, got, n) == 0.0, "%s %s KV: chunk 3 vs whole %.3g",
                  path, kvs[c].name, check_max_abs_diff(chunked, got, n));
        free(chunked);
    }
    free(ref);
    free(got);
    mixlm_model_free(m);
}

/* The window-8 Gemma 3 oracle model and n pseudo-random token ids after BOS (seeded LCG). */
static mixlm_model *load_swa8(void) {
    mixlm_model *m = NULL;
    if (mixlm_model_load(test_data("oracle/tiny-gemma3-swa8.gguf"), &m)) {
        CHECK_MSG(0, "load: %s", mixlm_last_error());
        return NULL;
    }
    return m;
}
static int32_t *random_tokens(int n, uint64_t seed) {
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    tok[0] = 2;
    for (int i = 1; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = 4 + (int32_t)((seed >> 33) % (N_VOCAB - 4));
    }
    return tok;
}

/* 600 tokens on the window-8 Gemma 3 model: ring caches of 8 slots vs full-length caches with
 * the same sliding rule give identical logits, fed whole, by 1 and by 37 (longer than W); the
 * full-attention layers see up to 600 keys, several attention blocks. */
static void test_ring_vs_full(void) {
    mixlm_model *m = load_swa8();
    if (!m) return;
    enum { N = 600 };
    int32_t *tok = random_tokens(N, 42);
    const size_t n = (size_t)N * N_VOCAB;
    float *full = malloc(n * 4), *ring = malloc(n * 4);
    CHECK_EQ_INT(run(m, 2, 0, MX_TYPE_F32, true, tok, N, full), MIXLM_OK);
    const int chunks[] = {0, 1, 37};
    for (size_t c = 0; c < MX_ARRAY_LEN(chunks); c++) {
        CHECK_EQ_INT(run(m, 2, chunks[c], MX_TYPE_F32, false, tok, N, ring), MIXLM_OK);
        const double d = check_max_abs_diff(full, ring, n);
        CHECK_MSG(d == 0.0, "ring (chunk %d) vs full-length cache: max |diff| %.3g", chunks[c], d);
    }
    /* The first 40 positions are the oracle sequence. */
    CHECK_MSG(check_max_abs_diff(full, g_expected, 40 * N_VOCAB) <= 1e-4 || g_n_tokens != 40,
              "600-token run starts like the oracle");
    free(tok);
    free(full);
    free(ring);
    mixlm_model_free(m);
}

/* Decode at a long context on more threads than (token, KV head) items: on 3 threads each
 * token's key blocks are spread over the threads (attn_run: 1600 keys are 13 blocks of 128, at
 * least 4 per thread); on 5 threads (fewer than 4 blocks each) the query heads are split
 * instead, over ranges of several blocks. Either way the same bits as prefill on one thread,
 * with f32 and f16 caches. */
static void test_split_decode(void) {
    mixlm_model *m = load_swa8();
    if (!m) return;
    enum { N = 1600 };
    int32_t *tok = random_tokens(N, 7);
    const size_t n = (size_t)N * N_VOCAB;
    float *whole = malloc(n * 4), *dec = malloc(n * 4);
    const mx_type kv[] = {MX_TYPE_F32, MX_TYPE_F16};
    const int threads[] = {3, 5};
    for (size_t i = 0; i < MX_ARRAY_LEN(kv); i++) {
        CHECK_EQ_INT(run(m, 1, 0, kv[i], false, tok, N, whole), MIXLM_OK);
        for (size_t ti = 0; ti < MX_ARRAY_LEN(threads); ti++) {
            CHECK_EQ_INT(run(m, threads[ti], 1, kv[i], false, tok, N, dec), MIXLM_OK);
            CHECK_MSG(check_max_abs_diff(whole, dec, n) == 0.0, "kv type %d: decode on %d threads vs prefill on 1: %.3g",
                      (int)kv[i], threads[ti], check_max_abs_diff(whole, dec, n));
        }
    }
    free(tok);
    free(whole);
    free(dec);
    mixlm_model_free(m);
}

/* Several sequences in one engine call (rows packed into shared passes over the weights, one
 * longer than a pass, one continuing a state, logit rows beyond one output pass) give exactly
 * the logits each gives alone. */
/* Sequences of one mx_engine_forward_batch call: off, n: their tokens; pos0: a prefix of
 * that many tokens (its own for each sequence) already in the state; all: logits of every row;
 * want: logits at all. */
typedef struct batch_seq { int off, n, pos0; bool all, want; } batch_seq;

/* Each sequence of a batch gets exactly the logits and the state it gets alone. */
static void test_batch(const char *path, int n_ctx, const batch_seq *sp, int n_seq) {
    mixlm_model *m = NULL;
    if (mixlm_model_load(test_data(path), &m)) return;
    mx_engine_params p = mx_engine_default_params();
    p.n_threads = 2;
    p.n_ctx = n_ctx;
    p.n_batch = 64;
    mx_engine *e = NULL;
    CHECK_EQ_INT(mx_engine_create(m, p, &e), MIXLM_OK);
    int32_t tok[400];
    uint64_t r = 9;
    for (int i = 0; i < 400; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = 4 + (int32_t)((r >> 33) % (N_VOCAB - 4));
    }
    mx_kv_cache *kb[5] = {0}, *ka[5] = {0};
    float *lb[5], *la[5];
    mx_engine_seq seqs[5];
    for (int i = 0; i < n_seq; i++) {
        CHECK_EQ_INT(mx_kv_cache_create(e, n_ctx, MX_TYPE_F32, false, &kb[i]), MIXLM_OK);
        CHECK_EQ_INT(mx_kv_cache_create(e, n_ctx, MX_TYPE_F32, false, &ka[i]), MIXLM_OK);
        lb[i] = calloc((size_t)sp[i].n * N_VOCAB, 4);
        la[i] = calloc((size_t)sp[i].n * N_VOCAB, 4);
        if (sp[i].pos0) { /* the same prefix in both states, another for each sequence */
            const int32_t *pre = tok + 100 + 7 * i;
            CHECK_EQ_INT(mx_engine_forward(e, kb[i]->layers, pre, sp[i].pos0, 0, NULL, false), MIXLM_OK);
            CHECK_EQ_INT(mx_engine_forward(e, ka[i]->layers, pre, sp[i].pos0, 0, NULL, false), MIXLM_OK);
        }
        seqs[i] = (mx_engine_seq){.kv = kb[i]->layers, .tokens = tok + sp[i].off, .n = sp[i].n,
                                  .pos0 = sp[i].pos0, .logits = sp[i].want ? lb[i] : NULL,
                                  .all_logits = sp[i].all};
    }
    CHECK_EQ_INT(mx_engine_forward_batch(e, seqs, n_seq), MIXLM_OK);
    for (int i = 0; i < n_seq; i++) {
        CHECK_EQ_INT(mx_engine_forward(e, ka[i]->layers, tok + sp[i].off, sp[i].n, sp[i].pos0,
                                       sp[i].want ? la[i] : NULL, sp[i].all), MIXLM_OK);
        const size_t rows = sp[i].all ? (size_t)sp[i].n : 1;
        const double d = check_max_abs_diff(la[i], lb[i], rows * N_VOCAB);
        CHECK_MSG(d == 0.0, "%s: batched sequence %d differs from alone by %.3g", path, i, d);
        /* the states too: continue both by one token */
        float x1[N_VOCAB], x2[N_VOCAB];
        const int64_t next = sp[i].pos0 + sp[i].n;
        CHECK_EQ_INT(mx_engine_forward(e, kb[i]->layers, tok + 99, 1, next, x1, false), MIXLM_OK);
        CHECK_EQ_INT(mx_engine_forward(e, ka[i]->layers, tok + 99, 1, next, x2, false), MIXLM_OK);
        CHECK_MSG(check_max_abs_diff(x1, x2, N_VOCAB) == 0.0, "%s: state of batched sequence %d", path, i);
        mx_kv_cache_free(kb[i]);
        mx_kv_cache_free(ka[i]);
        free(lb[i]);
        free(la[i]);
    }
    mx_engine_free(e);
    mixlm_model_free(m);
}

/* Load errors name the tensor. */
static void test_bad_tensors(void) {
    mixlm_model *m = NULL;
    if (mixlm_model_load(test_data("oracle/tiny-llama.gguf"), &m)) return;
    mx_engine *e = NULL;
    mx_engine_params p = mx_engine_default_params();
    int qi = -1;
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, "blk.3.attn_q.weight")) qi = i;
    CHECK(qi >= 0);
    if (qi < 0) return;
    mx_tensor saved = m->tensors[qi];

    m->tensors[qi].ne[1] = 100; /* mis-shaped */
    CHECK(mx_engine_create(m, p, &e) == MIXLM_ERR_FORMAT && e == NULL);
    CHECK_MSG(strstr(mixlm_last_error(), "blk.3.attn_q.weight") &&
                  strstr(mixlm_last_error(), "shape"),
              "message: %s", mixlm_last_error());
    m->tensors[qi] = saved;

    m->tensors[qi].type = MX_TYPE_Q2_K; /* a type this engine does not run */
    CHECK(mx_engine_create(m, p, &e) == MIXLM_ERR_UNSUPPORTED && e == NULL);
    CHECK_MSG(strstr(mixlm_last_error(), "blk.3.attn_q.weight") && strstr(mixlm_last_error(), "Q2_K"),
              "message: %s", mixlm_last_error());
    m->tensors[qi] = saved;

    m->tensors[qi].nbytes = 16; /* truncated */
    CHECK(mx_engine_create(m, p, &e) != MIXLM_OK && e == NULL);
    CHECK_MSG(strstr(mixlm_last_error(), "blk.3.attn_q.weight") != NULL, "message: %s",
              mixlm_last_error());
    m->tensors[qi] = saved;

    /* Missing: the lookup must not find it. Renaming to a name that sorts in the same place
     * keeps any sorted index valid. */
    char *old = m->tensors[qi].name;
    char renamed[] = "blk.3.attn_q.weighu";
    m->tensors[qi].name = renamed;
    if (!mx_model_tensor(m, "blk.3.attn_q.weight")) {
        CHECK(mx_engine_create(m, p, &e) == MIXLM_ERR_FORMAT && e == NULL);
        CHECK_MSG(strstr(mixlm_last_error(), "blk.3.attn_q.weight") &&
                      strstr(mixlm_last_error(), "missing"),
                  "message: %s", mixlm_last_error());
    }
    m->tensors[qi].name = old;

    CHECK_EQ_INT(mx_engine_create(m, p, &e), MIXLM_OK);
    /* token ids out of range and a cache too short are errors, not crashes */
    mx_kv_cache *kv = NULL;
    CHECK_EQ_INT(mx_kv_cache_create(e, 4, MX_TYPE_F32, false, &kv), MIXLM_OK);
    int32_t bad = N_VOCAB, ok5[5] = {2, 5, 6, 7, 8};
    float lg[N_VOCAB];
    CHECK_EQ_INT(mx_engine_forward(e, kv->layers, &bad, 1, 0, lg, false), MIXLM_ERR_INVALID_ARG);
    CHECK_EQ_INT(mx_engine_forward(e, kv->layers, ok5, 5, 0, lg, false), MIXLM_ERR_CONTEXT_FULL);
    mx_kv_cache_free(kv);
    mx_engine_free(e);
    mixlm_model_free(m);
}

int main(void) {
    for (size_t i = 0; i < MX_ARRAY_LEN(MODELS); i++) {
        CHECK_MSG(load_case(MODELS[i]), "oracle files of %s", MODELS[i]);
        char gguf[256], hf[256];
        snprintf(gguf, sizeof gguf, "oracle/%s.gguf", MODELS[i]);
        snprintf(hf, sizeof hf, "oracle/hf-%s", MODELS[i]);
        test_oracle(MODELS[i], gguf);
        test_oracle(MODELS[i], hf);
        test_quantised(gguf);
        /* A: 40 rows all; B: 17, last row; C: 5 rows all after a 10-token prefix; D: 70 rows
         * all (longer than a pass of 64); E: 3 rows, no logits. */
        const batch_seq short_seqs[5] = {{0, 40, 0, true, true}, {7, 17, 0, false, true}, {20, 5, 10, true, true},
                                         {3, 70, 0, true, true}, {50, 3, 0, false, false}};
        test_batch(gguf, 128, short_seqs, 5);
        /* Two sequences at the same positions past the first attention block, in one pass:
         * prefill attention groups consecutive tokens of a sequence, never of two (each sees
         * its own cache; their tokens would see the first block's keys alike). 21 rows is not
         * a whole number of groups. */
        const batch_seq long_seqs[2] = {{0, 21, 200, true, true}, {30, 27, 200, true, true}};
        test_batch(gguf, 256, long_seqs, 2);
    }
    load_case("tiny-gemma3-swa8");
    test_ring_vs_full();
    test_split_decode();
    test_bad_tensors();
    free(g_expected);
    return check_summary("test_engine_oracle");
}
