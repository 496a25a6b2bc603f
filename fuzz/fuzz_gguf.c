/* fuzz_gguf.c: libFuzzer harness for the GGUF reader and the GGUF model-building path: any
 * input must be accepted or rejected with a message, never crash, leak or hang. */
#include "model/gguf.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mx_gguf *g = NULL;
    if (mx_gguf_open_memory(data, size, &g) == MIXLM_OK) {
        /* Walk everything the getters can reach. */
        for (int64_t i = 0; i < mx_gguf_n_kv(g); i++) {
            const char *key = mx_gguf_key(g, i);
            char *json = mx_gguf_kv_json(g, i, 64);
            free(json);
            uint32_t u;
            int64_t v;
            float f;
            bool b;
            const char *s;
            size_t len;
            mx_gguf_vtype et;
            uint64_t n;
            mx_gguf_get_u32(g, key, &u);
            mx_gguf_get_i64(g, key, &v);
            mx_gguf_get_f32(g, key, &f);
            mx_gguf_get_bool(g, key, &b);
            mx_gguf_get_str(g, key, &s, &len);
            if (mx_gguf_get_arr(g, key, &et, &n) == 1 && n > 0) {
                mx_gguf_arr_str(g, key, n - 1, &s, &len);
                mx_gguf_arr_i64(g, key, n - 1, &v);
                mx_gguf_arr_f32(g, key, 0, &f);
                mx_gguf_arr_data(g, key, &et, &n);
            }
        }
        for (int64_t i = 0; i < mx_gguf_n_tensors(g); i++) {
            const uint8_t *p = mx_gguf_tensor_data(g, i);
            uint64_t nb = mx_gguf_tensor_nbytes(g, i);
            volatile uint8_t sink = 0;
            if (nb) sink ^= p[0] ^ p[nb - 1]; /* ranges must be inside the input */
            (void)sink;
        }
        mx_gguf_free(g);
    }
    mixlm_model *m = NULL;
    if (mx_model_load_gguf_memory(data, size, &m) == MIXLM_OK) {
        char *json = mixlm_model_describe_json(m);
        free(json);
        mixlm_model_free(m);
    }
    return 0;
}
