/* external_executor.c: an example external executor plugged into mixlm through the public C
 * API. It declares the "ring-buffer export" contract style (a full mask over ctx, a sliding
 * mask over W ring slots, current_pos, ring_pos and an update mask, single-token steps) the way
 * an application would for its own Core ML / ONNX graph, and lets mixlm_decode build every
 * input and drive prefill and greedy decoding.
 *
 * The "graph" here is a toy so that the example runs anywhere: each layer stores the token id
 * as its value, and the next token is a function of the tokens its masks let it see. A real
 * executor would hand the same tensors to its graph instead.
 *
 * Build: part of the CMake build (target external_executor). Run: ./external_executor */
#include "mixlm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VOCAB 16
#define WINDOW 4
#define CTX 64

/* The contract, as an application would ship it beside its model (see docs/contract.md). */
static const char CONTRACT_JSON[] =
    "{\n"
    " \"mixlm_contract\": 1, \"context\": 64,\n"
    " \"inputs\": [\n"
    "  {\"name\": \"input_ids\", \"role\": \"token_ids\", \"dtype\": \"i32\", \"shape\": [1, 1]},\n"
    "  {\"name\": \"causal_mask_full\", \"role\": \"attention_mask\", \"dtype\": \"f32\",\n"
    "   \"shape\": [1, 1, 1, \"ctx\"], \"attention\": {\"kind\": \"causal\", \"keys\": \"absolute\"}},\n"
    "  {\"name\": \"causal_mask_sliding\", \"role\": \"attention_mask\", \"dtype\": \"f32\",\n"
    "   \"shape\": [1, 1, 1, \"W\"], \"attention\": {\"kind\": \"sliding\", \"window\": 4, \"keys\": \"ring\"}},\n"
    "  {\"name\": \"current_pos\", \"role\": \"current_pos\", \"dtype\": \"i32\", \"shape\": [1]},\n"
    "  {\"name\": \"ring_pos\", \"role\": \"ring_pos\", \"dtype\": \"i32\", \"shape\": [1], \"window\": 4},\n"
    "  {\"name\": \"update_mask\", \"role\": \"update_mask\", \"dtype\": \"f32\", \"shape\": [1, 1, \"W\", 1],\n"
    "   \"window\": 4}\n"
    " ],\n"
    " \"states\": [\n"
    "  {\"name\": \"kv_cache_full\", \"holds\": \"values\", \"layout\": \"full\", \"dtype\": \"f32\",\n"
    "   \"shape\": [1, \"ctx\"], \"layers\": [0]},\n"
    "  {\"name\": \"kv_cache_sliding\", \"holds\": \"values\", \"layout\": \"ring\", \"window\": 4,\n"
    "   \"dtype\": \"f32\", \"shape\": [1, \"W\"], \"layers\": [1]}\n"
    " ],\n"
    " \"output\": {\"name\": \"logits\", \"rows\": \"last\", \"vocab\": 16}\n"
    "}\n";

typedef struct toy_graph {
    mixlm_contract *contract;
    int in_ids, in_full, in_sliding, in_pos, in_ring, in_update; /* input indices by name */
    int verbose_steps;
} toy_graph;

static int find_input(const mixlm_contract *c, const char *name) {
    for (int32_t i = 0; i < mixlm_contract_n_inputs(c); i++)
        if (!strcmp(mixlm_contract_input(c, i)->name, name)) return i;
    return -1;
}

static const mixlm_contract *toy_contract(void *self) { return ((toy_graph *)self)->contract; }

static mixlm_status toy_step(void *self, const mixlm_step_seq *seqs, int32_t n_seqs) {
    toy_graph *g = self;
    for (int32_t s = 0; s < n_seqs; s++) {
        const mixlm_step_seq *ss = &seqs[s];
        /* This contract takes single-token steps: mixlm split the prompt for us. */
        int32_t tok = *(const int32_t *)ss->inputs[g->in_ids].data;
        int32_t pos = *(const int32_t *)ss->inputs[g->in_pos].data;
        int32_t ring = *(const int32_t *)ss->inputs[g->in_ring].data;
        const float *full_mask = ss->inputs[g->in_full].data;    /* [1,1,1,ctx] */
        const float *slide_mask = ss->inputs[g->in_sliding].data; /* [1,1,1,W] ring slots */
        const float *update = ss->inputs[g->in_update].data;     /* [1,1,W,1] one-hot */
        float *full_cache = ss->states[0], *ring_cache = ss->states[1];

        /* Write the new value first (a ring-buffer graph blends it in with the update mask). */
        full_cache[pos] = (float)tok;
        for (int i = 0; i < WINDOW; i++)
            ring_cache[i] = update[i] * (float)tok + (1.0f - update[i]) * ring_cache[i];

        /* "Attention": sum what each mask lets this query see (0 visible, -inf blocked). */
        float global = 0, local = 0;
        for (int j = 0; j < CTX; j++)
            if (full_mask[j] == 0.0f) global += full_cache[j];
        for (int i = 0; i < WINDOW; i++)
            if (slide_mask[i] == 0.0f) local += ring_cache[i];
        if (g->verbose_steps-- > 0)
            printf("  step: pos %d ring_pos %d token %d  sliding mask [%g %g %g %g]\n", pos, ring,
                   tok, slide_mask[0], slide_mask[1], slide_mask[2], slide_mask[3]);
        if (ss->logits) {
            int next = ((int)global * 7 + (int)local * 3 + 1) % VOCAB;
            for (int v = 0; v < VOCAB; v++) ss->logits[v] = v == next ? 1.0f : 0.0f;
        }
    }
    return MIXLM_OK;
}

static void toy_destroy(void *self) {
    toy_graph *g = self;
    mixlm_contract_free(g->contract);
    free(g);
}

int main(void) {
    toy_graph *g = calloc(1, sizeof *g);
    if (!g) return 1;
    if (mixlm_contract_parse_json(CONTRACT_JSON, strlen(CONTRACT_JSON), &g->contract) != MIXLM_OK) {
        fprintf(stderr, "contract: %s\n", mixlm_last_error());
        free(g);
        return 1;
    }
    g->in_ids = find_input(g->contract, "input_ids");
    g->in_full = find_input(g->contract, "causal_mask_full");
    g->in_sliding = find_input(g->contract, "causal_mask_sliding");
    g->in_pos = find_input(g->contract, "current_pos");
    g->in_ring = find_input(g->contract, "ring_pos");
    g->in_update = find_input(g->contract, "update_mask");
    g->verbose_steps = 6;

    char *text = mixlm_contract_describe(g->contract);
    printf("%s\n", text ? text : "");
    free(text);

    static const mixlm_executor_iface iface = {toy_contract, toy_step, toy_destroy};
    mixlm_executor *ex = NULL;
    if (mixlm_executor_create(&iface, g, &ex) != MIXLM_OK) {
        fprintf(stderr, "executor: %s\n", mixlm_last_error());
        toy_destroy(g);
        return 1;
    }
    mixlm_state *state = NULL;
    if (mixlm_state_create(mixlm_executor_contract(ex), &state) != MIXLM_OK) {
        fprintf(stderr, "state: %s\n", mixlm_last_error());
        mixlm_executor_free(ex);
        return 1;
    }
    printf("state: %llu bytes\n", (unsigned long long)mixlm_state_bytes(state));

    /* Prefill 10 tokens in one call (mixlm feeds them one at a time), then decode greedily
     * until the context is full. */
    int32_t prompt[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    float logits[VOCAB];
    mixlm_seq seq = {state, prompt, 10, NULL, false, logits};
    mixlm_status st = mixlm_decode(ex, &seq, 1);
    printf("generated:");
    while (st == MIXLM_OK) {
        int32_t next = 0;
        for (int v = 1; v < VOCAB; v++)
            if (logits[v] > logits[next]) next = v;
        printf(" %d", next);
        mixlm_seq step = {state, &next, 1, NULL, false, logits};
        st = mixlm_decode(ex, &step, 1);
    }
    printf("\nstopped at position %lld: %s\n", (long long)mixlm_state_pos(state), mixlm_last_error());
    int rc = st == MIXLM_ERR_CONTEXT_FULL && mixlm_state_pos(state) == CTX ? 0 : 1;
    mixlm_state_free(state);
    mixlm_executor_free(ex);
    return rc;
}
