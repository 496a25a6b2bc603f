/* fuzz_tokenizer_load.c: libFuzzer harness for tokenizer.json: any bytes as a tokenizer.json;
 * whatever loads must encode and decode a few texts (with and without special tokens, and
 * streaming) without crashing, and every id it produces must be in range. */
#include "mixlm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mixlm_tokenizer *t = NULL;
    if (mixlm_tokenizer_from_json((const char *)data, size, NULL, 0, &t) != MIXLM_OK) return 0;
    static const char *texts[] = {"", "Hello, world! 123", "  a\tb\r\n\xE2\x96\x81x \xF0\x9F\x98\x80 caf\xC3\xA9",
                                  "<s>ab</s> [CLS]", "\xFF\xFE bad bytes"};
    int32_t n_vocab = mixlm_tokenizer_n_vocab(t);
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        for (unsigned flags = 0; flags < 4; flags++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (mixlm_tokenizer_encode_ex(t, texts[k], strlen(texts[k]), flags, &ids, &n) != MIXLM_OK) continue;
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= n_vocab) abort();
            char *s = NULL;
            size_t len = 0;
            if (mixlm_tokenizer_decode(t, ids, n, flags & 1, &s, &len) == MIXLM_OK && strlen(s) > len) abort();
            free(s);
            mixlm_detokenizer *d = NULL;
            if (mixlm_detokenizer_create(t, false, &d) == MIXLM_OK) {
                const char *p;
                size_t pl;
                for (size_t i = 0; i < n; i++) mixlm_detokenizer_push(d, ids[i], &p, &pl);
                mixlm_detokenizer_flush(d, &p, &pl);
                mixlm_detokenizer_free(d);
            }
            free(ids);
        }
    }
    for (int32_t id = 0; id < n_vocab && id < 64; id++) {
        size_t pl;
        const char *p = mixlm_tokenizer_piece(t, id, &pl);
        if (p && mixlm_tokenizer_piece_id(t, p, pl) < 0) abort();
    }
    mixlm_tokenizer_free(t);
    return 0;
}
