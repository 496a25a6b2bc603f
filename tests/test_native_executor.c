/* test_native_executor.c: the native engine behind the executor seam: oracle logits through
 * mixlm_decode() with the native contract's states (rings of W slots for sliding layers) in
 * every chunking, several sequences in one call, and the engine's on-the-fly mask rule against
 * the contract's materialised masks. */
#include "check.h"

#include "common/util.h"
#include "engine/engine.h"

#include <stdint.h>

#define N_VOCAB 512

static int read_case(const char *name, int32_t *tok, int32_t *n_tok, float **expected) {
    char path[256], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "oracle/%s.tokens.txt", name);
    if (mx_read_file(test_data(path), 1 << 16, &text, &len)) return 0;
    *n_tok = 0;
    for (char *p = text; *p && *n_tok < 64;) {
        tok[(*n_tok)++] = (int32_t)strtol(p, &p, 10);
        while (*p == ',' || *p == ' ' || *p == '\n') p++;
    }
    free(text);
    snprintf(path, sizeof path, "oracle/%s.logits.f32", name);
    char *raw;
    if (mx_read_file(test_data(path), 1 << 20, &raw, &len)) return 0;
    *expected = (float *)raw;
    return len == (size_t)*n_tok * N_VOCAB * 4;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

static void test_oracle_decode(const char *name, const char *path) {
    int32_t tok[64], n = 0;
    float *expected = NULL;
    CHECK_MSG(read_case(name, tok, &n, &expected), "oracle files of %s", name);
    mixlm_model *m = NULL;
    mixlm_status st = mixlm_model_load(test_data(path), &m);
    CHECK_MSG(!st, "%s: %s", path, mixlm_last_error());
    if (st) {
        free(expected);
        return;
    }
    mixlm_native_params p = mixlm_native_default_params();
    p.n_threads = 2;
    p.contract.n_ctx = 64;
    mixlm_executor *ex = NULL;
    st = mixlm_native_executor_create(m, p, &ex);
    CHECK_MSG(!st, "%s: executor: %s", path, mixlm_last_error());
    /* The state holds rings of exactly W slots for sliding layers and n_ctx for full ones. */
    if (ex) {
        mixlm_state *s = NULL;
        CHECK_EQ_INT(mixlm_state_create(mixlm_executor_contract(ex), &s), MIXLM_OK);
        uint64_t want = 0;
        for (int l = 0; l < m->hp.n_layer; l++)
            want += (uint64_t)(m->layers[l].attn == MX_ATTN_FULL ? 64 : m->layers[l].window) *
                    (uint64_t)m->hp.n_head_kv * (uint64_t)m->hp.head_dim * 4 * 2;
        CHECK_EQ_INT(mixlm_state_bytes(s), want);
        mixlm_state_free(s);
    }
    float *got = malloc((size_t)n * N_VOCAB * 4);
    const int chunks[] = {0, 1, 7};
    for (size_t c = 0; ex && c < MX_ARRAY_LEN(chunks); c++) {
        mixlm_state *s = NULL;
        CHECK_EQ_INT(mixlm_state_create(mixlm_executor_contract(ex), &s), MIXLM_OK);
        const int step = chunks[c] ? chunks[c] : n;
        for (int i = 0; i < n && !st; i += step) {
            mixlm_seq seq = {.state = s, .tokens = tok + i, .n_tokens = MX_MIN(step, n - i),
                             .logits_all = true, .logits = got + (size_t)i * N_VOCAB};
            st = mixlm_decode(ex, &seq, 1);
        }
        CHECK_MSG(!st, "%s chunk %d: %s", path, chunks[c], mixlm_last_error());
        CHECK_EQ_INT(mixlm_state_pos(s), n);
        const double d = max_diff(got, expected, (size_t)n * N_VOCAB);
        CHECK_MSG(d <= 1e-4, "%s decode chunk %d: max |diff| %.3g", path, chunks[c], d);
        mixlm_state_free(s);
    }
    /* Two sequences in one call (the oracle prompt, and its first 17 tokens) give each one's
     * own logits: last rows only. */
    if (ex) {
        mixlm_state *a = NULL, *b = NULL;
        mixlm_state_create(mixlm_executor_contract(ex), &a);
        mixlm_state_create(mixlm_executor_contract(ex), &b);
        float la[N_VOCAB], lb[N_VOCAB];
        mixlm_seq seqs[2] = {{.state = a, .tokens = tok, .n_tokens = n, .logits = la},
                             {.state = b, .tokens = tok, .n_tokens = 17, .logits = lb}};
        CHECK_EQ_INT(mixlm_decode(ex, seqs, 2), MIXLM_OK);
        CHECK(max_diff(la, expected + (size_t)(n - 1) * N_VOCAB, N_VOCAB) <= 1e-4);
        CHECK(max_diff(lb, expected + (size_t)16 * N_VOCAB, N_VOCAB) <= 1e-4);
        mixlm_state_free(a);
        mixlm_state_free(b);
        /* bidirectional spans are not part of the native contract: a clear error */
        mixlm_state *c = NULL;
        mixlm_state_create(mixlm_executor_contract(ex), &c);
        int32_t spans[4] = {0, 1, 1, 0};
        mixlm_seq sp = {.state = c, .tokens = tok, .n_tokens = 4, .span_ids = spans, .logits = la};
        CHECK(mixlm_decode(ex, &sp, 1) != MIXLM_OK);
        CHECK_MSG(strstr(mixlm_last_error(), "bidirectional") != NULL, "message: %s", mixlm_last_error());
        int32_t zeros[4] = {0, 0, 0, 0};
        sp.span_ids = zeros;
        CHECK_EQ_INT(mixlm_decode(ex, &sp, 1), MIXLM_OK);
        mixlm_state_free(c);
    }
    free(got);
    free(expected);
    mixlm_executor_free(ex);
    mixlm_model_free(m);
}

/* The engine attends to keys [k0, q] from mx_attn_key_range(); the contract's builders
 * materialise the same rule as masks. Compare for every kind, absolute and ring layouts, and
 * many (p, n). */
static void test_mask_agreement(void) {
    const struct { mx_attn_kind ek; mixlm_attn_kind ck; int32_t w; } kinds[] = {
        {MX_ATTN_FULL, MIXLM_ATTN_CAUSAL, 0},   {MX_ATTN_SLIDING, MIXLM_ATTN_SLIDING, 1},
        {MX_ATTN_SLIDING, MIXLM_ATTN_SLIDING, 8}, {MX_ATTN_SLIDING, MIXLM_ATTN_SLIDING, 5},
        {MX_ATTN_CHUNKED, MIXLM_ATTN_CHUNKED, 4}, {MX_ATTN_CHUNKED, MIXLM_ATTN_CHUNKED, 7}};
    float *mask = malloc(64 * 128 * sizeof(float));
    int mismatches = 0, compared = 0;
    for (size_t ki = 0; ki < MX_ARRAY_LEN(kinds); ki++) {
        mx_layer_spec spec = {.attn = kinds[ki].ek, .window = kinds[ki].w};
        for (int layout = 0; layout < 2; layout++) {
            if (layout == 1 && kinds[ki].ck == MIXLM_ATTN_CAUSAL) continue;
            mixlm_mask_spec ms = {.kind = kinds[ki].ck, .window = kinds[ki].w,
                                  .form = MIXLM_MASK_ADDITIVE, .blocked = NAN,
                                  .layout = layout ? MIXLM_KEYS_RING : MIXLM_KEYS_ABSOLUTE,
                                  .chunk_region = layout == 1};
            for (int64_t p = 0; p < 40; p += 3) {
                for (int32_t n = 1; n <= 20; n += 6) {
                    const int64_t kv = mixlm_mask_kv(&ms, p, n);
                    if (mixlm_mask_build(&ms, MIXLM_DTYPE_F32, p, n, kv, NULL, mask) != MIXLM_OK) {
                        CHECK_MSG(0, "mask build: %s", mixlm_last_error());
                        continue;
                    }
                    for (int32_t i = 0; i < n; i++) {
                        const int64_t q = p + i;
                        int64_t k0;
                        mx_attn_key_range(&spec, q, &k0);
                        for (int64_t col = 0; col < kv; col++) {
                            const int64_t pos = mixlm_mask_column_position(&ms, p, n, col);
                            const bool engine = pos >= 0 && pos >= k0 && pos <= q;
                            const bool built = mask[i * kv + col] == 0.0f;
                            compared++;
                            if (engine != built && mismatches++ < 5)
                                fprintf(stderr, "kind %d W %d layout %d p %lld n %d row %d col %lld: "
                                        "engine %d mask %d\n", (int)kinds[ki].ck, kinds[ki].w,
                                        layout, (long long)p, n, i, (long long)col, engine, built);
                        }
                    }
                }
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK(compared > 10000);
    free(mask);
}

int main(void) {
    const char *models[] = {"tiny-gemma3-swa8", "tiny-gemma2-swa8", "tiny-llama"};
    for (size_t i = 0; i < MX_ARRAY_LEN(models); i++) {
        char gguf[128], hf[128];
        snprintf(gguf, sizeof gguf, "oracle/%s.gguf", models[i]);
        snprintf(hf, sizeof hf, "oracle/hf-%s", models[i]);
        test_oracle_decode(models[i], gguf);
        test_oracle_decode(models[i], hf);
    }
    test_mask_agreement();
    return check_summary("test_native_executor");
}
