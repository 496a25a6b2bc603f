/* fuzz_contract.c: libFuzzer harness for contract files: parse any bytes as a JSON contract;
 * whatever parses must validate, print back to JSON that parses to the same fingerprint,
 * describe itself, and build every input for a few small steps without crashing. */
#include "mixlm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mixlm_contract *c = NULL;
    if (mixlm_contract_parse_json((const char *)data, size, &c) != MIXLM_OK) return 0;
    if (mixlm_contract_validate(c) != MIXLM_OK) abort();
    char *js = mixlm_contract_to_json(c);
    if (!js) abort();
    mixlm_contract *c2 = NULL;
    if (mixlm_contract_parse_json(js, strlen(js), &c2) != MIXLM_OK) abort();
    if (mixlm_contract_fingerprint(c) != mixlm_contract_fingerprint(c2)) abort();
    free(js);
    mixlm_contract_free(c2);
    free(mixlm_contract_describe(c));
    /* Build every input for small steps into a bounded buffer: a too-large input must report
     * NOMEM with the size it needs, never write past the buffer. */
    static unsigned char buf[1 << 16];
    int32_t tokens[4] = {1, 2, 3, 4}, spans[4] = {0, 1, 1, 0};
    int32_t max_step = mixlm_contract_max_step(c);
    for (int32_t i = 0; i < mixlm_contract_n_inputs(c); i++) {
        const int64_t ps[] = {0, 5, 37};
        for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
            for (int32_t n = 1; n <= 4; n++) {
                if (max_step && n > max_step) break;
                if (mixlm_contract_n_ctx(c) && ps[pi] + n > mixlm_contract_n_ctx(c)) break;
                uint64_t need = 0;
                mixlm_tensor t;
                mixlm_input_build(c, i, ps[pi], n, tokens, spans, buf, sizeof buf, &need, &t);
            }
        }
    }
    mixlm_contract_free(c);
    return 0;
}
