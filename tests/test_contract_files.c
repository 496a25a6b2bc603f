/* test_contract_files.c: contract files: the good ones load, print back and read back the
 * same; each broken one (tests/data/contracts/bad_*.json) fails at load with its own error
 * naming the input and the reason; the native contracts of the oracle models; lookups. */
#include "check.h"
#include "common/util.h"
#include "mixlm.h"

#include <math.h>

typedef struct bad_case {
    const char *file;
    mixlm_status status;
    const char *message; /* a substring the error must contain */
} bad_case;

static const bad_case BAD[] = {
    {"unknown_role", MIXLM_ERR_CONTRACT, "input \"ids\": unknown role \"attention_bias\""},
    {"sliding_no_window", MIXLM_ERR_CONTRACT, "input \"sliding_mask\" (attention_mask): sliding mask without a window"},
    {"shape_contradicts_role", MIXLM_ERR_CONTRACT, "input \"ids\" (token_ids): shape contradicts role token_ids"},
    {"duplicate_name", MIXLM_ERR_CONTRACT, "input \"full_mask\": two inputs have this name"},
    {"additive_bool", MIXLM_ERR_CONTRACT, "input \"full_mask\" (attention_mask): an additive mask needs a float dtype, not bool"},
    {"ring_causal", MIXLM_ERR_CONTRACT, "input \"full_mask\" (attention_mask): a ring key layout needs a window"},
    {"ring_fixed_keys", MIXLM_ERR_CONTRACT, "input \"sliding_mask\" (attention_mask): ring key layout needs key dim W"},
    {"mask_heads", MIXLM_ERR_CONTRACT, "input \"full_mask\" (attention_mask): mask dims before [n, kv] must be 1"},
    {"full_state_no_context", MIXLM_ERR_CONTRACT, "state \"k_full\": a full cache needs the contract's context length"},
    {"ring_state_ctx", MIXLM_ERR_CONTRACT, "state \"k_sliding\": a ring cache needs exactly one W dim"},
    {"layer_twice", MIXLM_ERR_CONTRACT, "state \"k_sliding\": layer 1 is already held by state \"k_full\""},
    {"unknown_key", MIXLM_ERR_CONTRACT, "input \"sliding_mask\": unknown key \"widnow\""},
    {"no_output", MIXLM_ERR_CONTRACT, "missing \"output\""},
    {"ring_pos_no_window", MIXLM_ERR_CONTRACT, "input \"rp\" (ring_pos): ring_pos without a window"},
    {"chunked_with_window", MIXLM_ERR_CONTRACT, "input \"sliding_mask\": a chunked mask takes \"chunk\", not \"window\""},
    {"version", MIXLM_ERR_UNSUPPORTED, "format version 2"},
    {"unknown_symbol", MIXLM_ERR_CONTRACT, "input \"ids\": shape dim 1: unknown symbol \"seq\""},
    {"update_mask_two_slot_dims", MIXLM_ERR_CONTRACT, "input \"um\" (update_mask): shape contradicts role update_mask: it needs exactly one W dim"},
    {"state_input_name_clash", MIXLM_ERR_CONTRACT, "state \"ids\": an input has the same name"},
    {"rope_last_dim", MIXLM_ERR_CONTRACT, "input \"cos\" (rope_cos): shape contradicts role rope_cos: last dim must be 16 or 8"},
    {"region_absolute", MIXLM_ERR_CONTRACT, "input \"full_mask\" (attention_mask): a chunk region is only meaningful with the ring key layout"},
    {"causal_with_window", MIXLM_ERR_CONTRACT, "input \"full_mask\": a causal mask takes no window"},
    {"layers_vs_shape", MIXLM_ERR_CONTRACT, "state \"k_full\": lists 2 layers but its outermost dim is not 2"},
    {"two_n_dims", MIXLM_ERR_CONTRACT, "input \"ids\" (token_ids): shape has 2 n dims"},
    {"token_ids_float", MIXLM_ERR_CONTRACT, "input \"ids\" (token_ids): token_ids needs dtype i32 or i64, not f32"},
    {"negative_dim", MIXLM_ERR_CONTRACT, "input \"ids\": shape dim 0 must be a positive integer or a symbol"},
    {"not_json", MIXLM_ERR_FORMAT, "not valid JSON"},
};

static void test_bad_files(void) {
    char seen[MX_ARRAY_LEN(BAD)][300];
    for (size_t i = 0; i < MX_ARRAY_LEN(BAD); i++) {
        char name[128];
        snprintf(name, sizeof name, "contracts/bad_%s.json", BAD[i].file);
        mixlm_contract *c = (mixlm_contract *)1;
        mixlm_status st = mixlm_contract_load(test_data(name), &c);
        const char *msg = mixlm_last_error();
        CHECK_MSG(st == BAD[i].status, "%s: status %s, want %s (%s)", name, mixlm_status_str(st),
                  mixlm_status_str(BAD[i].status), msg);
        CHECK_MSG(c == NULL, "%s: *out not NULL on failure", name);
        CHECK_MSG(strstr(msg, BAD[i].message) != NULL, "%s: message \"%s\" lacks \"%s\"", name, msg,
                  BAD[i].message);
        CHECK_MSG(strstr(msg, name) != NULL, "%s: message does not name the file: %s", name, msg);
        snprintf(seen[i], sizeof seen[i], "%s", msg);
        /* each broken file gives its own error */
        for (size_t j = 0; j < i; j++) {
            const char *a = strstr(seen[i], ": contract"), *b = strstr(seen[j], ": contract");
            if (a && b) CHECK_MSG(strcmp(a, b) != 0, "%s and bad_%s give the same error", name, BAD[j].file);
        }
        mixlm_contract_free(c == (mixlm_contract *)1 ? NULL : c);
    }
}

static void test_good_files(void) {
    const char *good[] = {"contracts/good_minimal.json", "contracts/good_single_mask.json",
                          "contracts/good_two_mask_f16.json", "contracts/good_ring_buffer.json",
                          "contracts/good_local_global.json"};
    for (size_t i = 0; i < MX_ARRAY_LEN(good); i++) {
        mixlm_contract *c = NULL;
        mixlm_status st = mixlm_contract_load(test_data(good[i]), &c);
        CHECK_MSG(st == MIXLM_OK, "%s: %s", good[i], mixlm_last_error());
        if (st) continue;
        char *js = mixlm_contract_to_json(c);
        mixlm_contract *c2 = NULL;
        CHECK(js && mixlm_contract_parse_json(js, strlen(js), &c2) == MIXLM_OK);
        char *js2 = c2 ? mixlm_contract_to_json(c2) : NULL;
        CHECK_MSG(js && js2 && !strcmp(js, js2), "%s: round trip differs", good[i]);
        /* declarations survive the round trip field by field */
        CHECK_EQ_INT(mixlm_contract_n_inputs(c2), mixlm_contract_n_inputs(c));
        for (int32_t k = 0; c2 && k < mixlm_contract_n_inputs(c); k++) {
            const mixlm_input_decl *a = mixlm_contract_input(c, k), *b = mixlm_contract_input(c2, k);
            CHECK_EQ_STR(a->name, b->name);
            CHECK_EQ_INT(a->role, b->role);
            CHECK_EQ_INT(a->dtype, b->dtype);
            CHECK_EQ_INT(a->shape.n_dims, b->shape.n_dims);
            CHECK_EQ_INT(a->mask.window, b->mask.window);
            CHECK_EQ_INT(a->mask.layout, b->mask.layout);
            CHECK(isnan(a->mask.blocked) ? isnan(b->mask.blocked) : a->mask.blocked == b->mask.blocked);
        }
        CHECK(mixlm_contract_fingerprint(c) == mixlm_contract_fingerprint(c2));
        mixlm_contract *c3 = NULL;
        CHECK(mixlm_contract_clone(c, &c3) == MIXLM_OK);
        char *js3 = c3 ? mixlm_contract_to_json(c3) : NULL;
        CHECK_MSG(js3 && !strcmp(js, js3), "%s: clone differs", good[i]);
        free(js3);
        mixlm_contract_free(c3);
        char *text = mixlm_contract_describe(c);
        CHECK(text && strstr(text, mixlm_contract_input(c, 0)->name));
        free(text);
        free(js);
        free(js2);
        mixlm_contract_free(c2);
        mixlm_contract_free(c);
    }
    /* single-token rule */
    mixlm_contract *c = NULL;
    mixlm_contract_load(test_data("contracts/good_ring_buffer.json"), &c);
    CHECK_EQ_INT(mixlm_contract_max_step(c), 1);
    int32_t si = -1, idx = -1;
    CHECK_EQ_INT(mixlm_contract_layer_state(c, 1, MIXLM_STATE_VALUES, &si, &idx), MIXLM_OK);
    CHECK_EQ_STR(mixlm_contract_state(c, si)->name, "kv_cache_sliding");
    CHECK_EQ_INT(mixlm_contract_layer_state(c, 5, MIXLM_STATE_KEYS, &si, &idx), MIXLM_ERR_CONTRACT);
    mixlm_contract_free(c);
    mixlm_contract_load(test_data("contracts/good_two_mask_f16.json"), &c);
    CHECK_EQ_INT(mixlm_contract_max_step(c), 0);
    CHECK_EQ_INT(mixlm_contract_layer_state(c, 1, MIXLM_STATE_KEYS, &si, &idx), MIXLM_OK);
    CHECK_EQ_INT(si, 0);
    CHECK_EQ_INT(idx, 1);
    mixlm_contract_free(c);
    /* memory-level edge cases */
    CHECK_EQ_INT(mixlm_contract_parse_json("", 0, &c), MIXLM_ERR_FORMAT);
    CHECK_EQ_INT(mixlm_contract_parse_json("[]", 2, &c), MIXLM_ERR_CONTRACT);
    CHECK_EQ_INT(mixlm_contract_parse_json("{\"mixlm_contract\":1}", 20, &c), MIXLM_ERR_CONTRACT);
    CHECK_EQ_INT(mixlm_contract_load(test_data("contracts/no-such-file.json"), &c), MIXLM_ERR_IO);
}

/* The native contract of each oracle model. */
static void test_native(void) {
    struct {
        const char *path;
        int n_masks, has_sliding, n_states;
    } models[] = {
        {"oracle/tiny-gemma3-swa8.gguf", 2, 1, 4}, {"oracle/hf-tiny-gemma3-swa8", 2, 1, 4},
        {"oracle/tiny-gemma2-swa8.gguf", 2, 1, 4}, {"oracle/tiny-llama.gguf", 1, 0, 2},
        {"oracle/hf-tiny-llama", 1, 0, 2},
    };
    for (size_t i = 0; i < MX_ARRAY_LEN(models); i++) {
        mixlm_model *m = NULL;
        mixlm_status st = mixlm_model_load(test_data(models[i].path), &m);
        CHECK_MSG(st == MIXLM_OK, "%s: %s", models[i].path, mixlm_last_error());
        if (st) continue;
        mixlm_contract_params p = mixlm_contract_default_params();
        p.n_ctx = 128;
        p.kv_dtype = MIXLM_DTYPE_F16;
        mixlm_contract *c = NULL;
        st = mixlm_model_contract(m, p, &c);
        CHECK_MSG(st == MIXLM_OK, "%s: %s", models[i].path, mixlm_last_error());
        if (st) {
            mixlm_model_free(m);
            continue;
        }
        int masks = 0, sliding = 0;
        for (int32_t k = 0; k < mixlm_contract_n_inputs(c); k++) {
            const mixlm_input_decl *in = mixlm_contract_input(c, k);
            if (in->role != MIXLM_ROLE_ATTENTION_MASK) continue;
            masks++;
            CHECK(in->flags & MIXLM_INPUT_EXECUTOR_EVAL);
            if (in->mask.kind == MIXLM_ATTN_SLIDING) {
                sliding++;
                CHECK_EQ_INT(in->mask.window, 8);
                CHECK_EQ_INT(in->mask.layout, MIXLM_KEYS_RING);
                CHECK(in->mask.chunk_region);
            }
        }
        CHECK_EQ_INT(masks, models[i].n_masks);
        CHECK_EQ_INT(sliding, models[i].has_sliding);
        CHECK_EQ_INT(mixlm_contract_n_states(c), models[i].n_states);
        CHECK_EQ_INT(mixlm_contract_max_step(c), 0);
        /* every layer's K and V are found, and the state bytes are exact:
         * full layers 128 slots, sliding layers 8, n_head_kv * head_dim f16 values each */
        uint64_t want = 0;
        for (int32_t l = 0; l < 8; l++) {
            int32_t si, idx;
            CHECK_EQ_INT(mixlm_contract_layer_state(c, l, MIXLM_STATE_KEYS, &si, &idx), MIXLM_OK);
            const mixlm_state_decl *sd = mixlm_contract_state(c, si);
            CHECK_EQ_INT(sd->layers[idx], l);
            uint64_t slots = sd->layout == MIXLM_CACHE_FULL ? 128 : (uint64_t)sd->window;
            want += 2 * slots * (uint64_t)sd->shape.dims[1].value * (uint64_t)sd->shape.dims[3].value * 2;
        }
        mixlm_state *s = NULL;
        CHECK(mixlm_state_create(c, &s) == MIXLM_OK);
        CHECK_EQ_INT(mixlm_state_bytes(s), want);
        mixlm_state_free(s);
        mixlm_contract_free(c);
        p.kv_dtype = MIXLM_DTYPE_I32;
        CHECK_EQ_INT(mixlm_model_contract(m, p, &c), MIXLM_ERR_INVALID_ARG);
        mixlm_model_free(m);
    }
}

int main(void) {
    test_bad_files();
    test_good_files();
    test_native();
    return check_summary("test_contract_files");
}
