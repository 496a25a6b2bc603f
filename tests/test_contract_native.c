/* test_contract_native.c: the contract runtime with the real engine behind it (tiny oracle
 * models, Gemma 3 with W=8 ring caches and Llama): a 300-token prompt fed whole and in chunks
 * of 1, 7 and 64 gives the same logits; save / load / continue gives the same greedy tokens as
 * never stopping; rewinding a ring by one and refeeding gives the same logits; a full context
 * fails cleanly. */
#include "check.h"
#include "mixlm.h"

#include <math.h>

#define PROMPT 300
#define GEN 40

static int argmax(const float *row, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[b]) b = i;
    return b;
}

static mixlm_status feed(mixlm_executor *ex, mixlm_state *s, const int32_t *tok, int n, int chunk,
                         float *logits) {
    for (int done = 0; done < n;) {
        int m = chunk > 0 && chunk < n - done ? chunk : n - done;
        mixlm_seq sq = {s, tok + done, m, NULL, false, done + m == n ? logits : NULL};
        mixlm_status st = mixlm_decode(ex, &sq, 1);
        if (st) return st;
        done += m;
    }
    return MIXLM_OK;
}

static mixlm_status generate(mixlm_executor *ex, mixlm_state *s, float *logits, int nv, int count,
                             int32_t *out) {
    for (int g = 0; g < count; g++) {
        int32_t t = argmax(logits, nv);
        out[g] = t;
        mixlm_seq sq = {s, &t, 1, NULL, false, logits};
        mixlm_status st = mixlm_decode(ex, &sq, 1);
        if (st) return st;
    }
    return MIXLM_OK;
}

static double max_diff(const float *a, const float *b, int n) {
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static void run_model(const char *path, bool has_ring) {
    mixlm_model *m = NULL;
    mixlm_status st = mixlm_model_load(test_data(path), &m);
    CHECK_MSG(st == MIXLM_OK, "%s: %s", path, mixlm_last_error());
    if (st) return;
    mixlm_native_params np = mixlm_native_default_params();
    np.n_threads = 1;
    np.contract.n_ctx = 384;
    mixlm_executor *ex = NULL;
    st = mixlm_native_executor_create(m, np, &ex);
    CHECK_MSG(st == MIXLM_OK, "%s: %s", path, mixlm_last_error());
    if (st) {
        mixlm_model_free(m);
        return;
    }
    const mixlm_contract *c = mixlm_executor_contract(ex);
    const int nv = mixlm_contract_output(c)->n_vocab;
    int32_t prompt[PROMPT];
    for (int i = 0; i < PROMPT; i++) prompt[i] = (int32_t)((i * 37 + 11) % nv);
    float *ref = malloc(sizeof(float) * (size_t)nv), *lg = malloc(sizeof(float) * (size_t)nv);
    float *lg_saved = malloc(sizeof(float) * (size_t)nv);

    /* Chunk-split invariance with the engine (tolerance: summation order may differ). */
    mixlm_state *s = NULL;
    CHECK(mixlm_state_create(c, &s) == MIXLM_OK);
    st = feed(ex, s, prompt, PROMPT, 0, ref);
    CHECK_MSG(st == MIXLM_OK, "%s whole: %s", path, mixlm_last_error());
    const int chunks[] = {1, 7, 64};
    for (int ci = 0; ci < 3; ci++) {
        mixlm_state_reset(s);
        st = feed(ex, s, prompt, PROMPT, chunks[ci], lg);
        CHECK_MSG(st == MIXLM_OK, "%s chunk %d: %s", path, chunks[ci], mixlm_last_error());
        double d = max_diff(ref, lg, nv);
        CHECK_MSG(d <= 1e-4, "%s chunk %d: max |diff| %.3g vs whole prompt", path, chunks[ci], d);
    }

    /* Save after the prompt and 20 tokens, continue; load into a fresh state and continue: the
     * same tokens and bit-identical logits. */
    mixlm_state_reset(s);
    feed(ex, s, prompt, PROMPT, 64, lg);
    int32_t gen[GEN], gen2[GEN];
    generate(ex, s, lg, nv, GEN / 2, gen);
    const char *file = test_tmp("contract_native.state");
    CHECK_MSG(mixlm_state_save(s, file) == MIXLM_OK, "save: %s", mixlm_last_error());
    memcpy(lg_saved, lg, sizeof(float) * (size_t)nv);
    generate(ex, s, lg, nv, GEN / 2, gen + GEN / 2);
    mixlm_state *s2 = NULL;
    mixlm_state_create(c, &s2);
    CHECK_MSG(mixlm_state_load(s2, file) == MIXLM_OK, "load: %s", mixlm_last_error());
    generate(ex, s2, lg_saved, nv, GEN / 2, gen2);
    CHECK_MSG(!memcmp(gen + GEN / 2, gen2, sizeof(int32_t) * GEN / 2), "%s: load + continue differs", path);
    CHECK_MSG(!memcmp(lg, lg_saved, sizeof(float) * (size_t)nv), "%s: final logits differ", path);

    /* Rewind by one and refeed the same token: same logits. */
    int64_t P = mixlm_state_pos(s);
    mixlm_state_rewind(s2, P); /* no-op: already there */
    CHECK(mixlm_state_rewind(s, P - 1) == MIXLM_OK);
    int32_t last = gen[GEN - 1];
    mixlm_seq one = {s, &last, 1, NULL, false, lg_saved};
    CHECK(mixlm_decode(ex, &one, 1) == MIXLM_OK);
    CHECK_MSG(max_diff(lg, lg_saved, nv) == 0, "%s: rewind + refeed differs", path);
    CHECK_EQ_INT(mixlm_state_can_rewind(s, P - 10), !has_ring);

    /* Context full at 384. */
    int32_t more[100] = {0};
    mixlm_seq big = {s, more, (int32_t)(385 - P), NULL, false, NULL};
    CHECK_EQ_INT(mixlm_decode(ex, &big, 1), MIXLM_ERR_CONTEXT_FULL);
    CHECK_EQ_INT(mixlm_state_pos(s), P);
    big.n_tokens = (int32_t)(384 - P);
    CHECK_EQ_INT(mixlm_decode(ex, &big, 1), MIXLM_OK);

    free(ref);
    free(lg);
    free(lg_saved);
    mixlm_state_free(s);
    mixlm_state_free(s2);
    mixlm_executor_free(ex);
    mixlm_model_free(m);
}

int main(void) {
    run_model("oracle/tiny-gemma3-swa8.gguf", true);
    run_model("oracle/tiny-llama.gguf", false);
    return check_summary("test_contract_native");
}
