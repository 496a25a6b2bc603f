/* fuzz_hf_config.c: libFuzzer harness for Hugging Face model loading from memory: config.json
 * handling (families, defaults, layer rules, RoPE settings, special tokens), generation config,
 * name mapping and the shared checks. Input: CONFIG [\0 GENERATION_CONFIG [\0 SAFETENSORS]];
 * without a safetensors part a fixed tiny 2-layer model (hidden 8, vocabulary 4) is used. */
#include "common/util.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* safetensors image of token_embd [4, 8], a final norm [8] and layer 0/1 attention norms. */
static uint8_t *tiny_weights(uint64_t *size) {
    static uint8_t *img;
    static uint64_t img_size;
    if (img) {
        *size = img_size;
        return img;
    }
    const char *json =
        "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,128]},"
        "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[128,160]},"
        "\"model.layers.0.input_layernorm.weight\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[160,176]},"
        "\"model.layers.1.post_attention_layernorm.weight\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[176,192]}}";
    size_t h = strlen(json), pad = (8 - h % 8) % 8;
    img_size = 8 + h + pad + 192;
    img = calloc(1, (size_t)img_size);
    if (!img) abort();
    uint64_t hl = h + pad;
    for (int i = 0; i < 8; i++) img[i] = (uint8_t)(hl >> (8 * i));
    memcpy(img + 8, json, h);
    memset(img + 8 + h, ' ', pad);
    *size = img_size;
    return img;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *cfg = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t cfg_len = nul ? (size_t)(nul - data) : size;
    const char *gen = NULL;
    size_t gen_len = 0;
    const uint8_t *weights = NULL;
    uint64_t weights_size = 0;
    if (nul) {
        gen = (const char *)nul + 1;
        const uint8_t *rest = nul + 1;
        size_t left = size - cfg_len - 1;
        const uint8_t *nul2 = memchr(rest, 0, left);
        gen_len = nul2 ? (size_t)(nul2 - rest) : left;
        if (nul2) {
            weights = nul2 + 1;
            weights_size = left - gen_len - 1;
        }
    }
    if (!weights) weights = tiny_weights(&weights_size);
    mixlm_model *m = NULL;
    if (mx_model_load_hf_memory(cfg, cfg_len, gen, gen_len, weights, weights_size, &m) == MIXLM_OK) {
        char *json = mixlm_model_describe_json(m);
        free(json);
        mixlm_model_free(m);
    }
    return 0;
}
