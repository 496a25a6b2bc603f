/* fuzz_safetensors.c: libFuzzer harness for the safetensors reader: any input must be accepted
 * or rejected with a message, never crash, leak or hang. */
#include "model/safetensors.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mx_safetensors *st = NULL;
    if (mx_safetensors_open_memory(data, size, &st) == MIXLM_OK) {
        for (int64_t i = 0; i < mx_safetensors_n_tensors(st); i++) {
            const mx_st_tensor *t = mx_safetensors_tensor(st, i);
            if (mx_safetensors_find(st, t->name) != i) abort(); /* index must agree */
            volatile uint8_t sink = 0;
            const uint8_t *p = t->data;
            if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
            (void)sink;
        }
        mx_safetensors_free(st);
    }
    return 0;
}
