/* test_engine_families.c: the Llama-family variants the oracle does not cover (Qwen 2 biases
 * and partial sliding, Qwen 3 q/k norms with head_dim * heads != hidden, Mistral sliding on
 * every layer, untied output matrices; Gemma 3 with linear RoPE scaling on its global layer
 * and query_pre_attn_scalar != head_dim) against float64 reference logits
 * (tests/data/engine/PROVENANCE.md), through the native executor, in several chunkings. */
#include "check.h"

#include "common/util.h"

#define N_VOCAB 128

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

static void run_case(const char *name, const int32_t *tok, int32_t n) {
    char path[256];
    snprintf(path, sizeof path, "engine/%s.logits.f32", name);
    char *raw = NULL;
    size_t len = 0;
    CHECK_EQ_INT(mx_read_file(test_data(path), 1 << 20, &raw, &len), MIXLM_OK);
    if (!raw || len != (size_t)n * N_VOCAB * 4) {
        CHECK_MSG(0, "%s: reference logits have %zu bytes", name, len);
        free(raw);
        return;
    }
    const float *expected = (const float *)raw;
    snprintf(path, sizeof path, "engine/%s", name);
    mixlm_model *m = NULL;
    mixlm_status st = mixlm_model_load(test_data(path), &m);
    CHECK_MSG(!st, "%s: %s", name, mixlm_last_error());
    mixlm_executor *ex = NULL;
    if (!st) {
        mixlm_native_params p = mixlm_native_default_params();
        p.n_threads = 2;
        p.contract.n_ctx = 32;
        st = mixlm_native_executor_create(m, p, &ex);
        CHECK_MSG(!st, "%s: executor: %s", name, mixlm_last_error());
    }
    float *got = malloc((size_t)n * N_VOCAB * 4);
    const int chunks[] = {0, 1, 5};
    for (size_t c = 0; ex && c < MX_ARRAY_LEN(chunks); c++) {
        mixlm_state *s = NULL;
        mixlm_state_create(mixlm_executor_contract(ex), &s);
        const int step = chunks[c] ? chunks[c] : n;
        for (int i = 0; i < n && !st; i += step) {
            mixlm_seq seq = {.state = s, .tokens = tok + i, .n_tokens = MX_MIN(step, n - i),
                             .logits_all = true, .logits = got + (size_t)i * N_VOCAB};
            st = mixlm_decode(ex, &seq, 1);
        }
        CHECK_MSG(!st, "%s chunk %d: %s", name, chunks[c], mixlm_last_error());
        const double d = max_diff(got, expected, (size_t)n * N_VOCAB);
        printf("  %-16s chunk %d: max |diff| %.3g\n", name, chunks[c], d);
        CHECK_MSG(d <= 1e-4, "%s chunk %d: max |diff| %.3g > 1e-4", name, chunks[c], d);
        mixlm_state_free(s);
    }
    free(got);
    free(raw);
    mixlm_executor_free(ex);
    mixlm_model_free(m);
}

int main(void) {
    char *text = NULL;
    size_t len = 0;
    int32_t tok[64], n = 0;
    CHECK_EQ_INT(mx_read_file(test_data("engine/tokens.txt"), 4096, &text, &len), MIXLM_OK);
    for (char *p = text; p && *p && n < 64;) {
        tok[n++] = (int32_t)strtol(p, &p, 10);
        while (*p == ',' || *p == '\n') p++;
    }
    free(text);
    CHECK_EQ_INT(n, 24);
    run_case("hf-tiny-qwen2", tok, n);
    run_case("hf-tiny-qwen3", tok, n);
    run_case("hf-tiny-mistral", tok, n);
    run_case("hf-tiny-gemma3-scaled", tok, n);
    return check_summary("test_engine_families");
}
