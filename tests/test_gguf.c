/* test_gguf.c: the GGUF reader on the oracle files: metadata getters, tensor infos, ranges. */
#include "check.h"
#include "model/gguf.h"
#include "common/dtype.h"
#include "common/util.h"

static void test_oracle(const char *file, const char *arch) {
    mx_gguf *g = NULL;
    mixlm_status st = mx_gguf_open(test_data(file), &g);
    CHECK_MSG(st == MIXLM_OK, "%s: %s", file, mixlm_last_error());
    if (!g) return;
    const char *s;
    size_t len;
    CHECK_EQ_INT(mx_gguf_get_str(g, "general.architecture", &s, &len), 1);
    CHECK(len == strlen(arch) && memcmp(s, arch, len) == 0);
    char key[128];
    snprintf(key, sizeof key, "%s.block_count", arch);
    uint32_t u = 0;
    CHECK_EQ_INT(mx_gguf_get_u32(g, key, &u), 1);
    CHECK_EQ_INT(u, 8);
    snprintf(key, sizeof key, "%s.embedding_length", arch);
    int64_t i64 = 0;
    CHECK_EQ_INT(mx_gguf_get_i64(g, key, &i64), 1);
    CHECK_EQ_INT(i64, 128);
    float f = 0;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    CHECK_EQ_INT(mx_gguf_get_f32(g, key, &f), 1);
    CHECK_NEAR(f, 1e-6, 1e-12);
    CHECK_EQ_INT(mx_gguf_get_u32(g, "general.architecture", &u), -1); /* wrong type */
    CHECK_EQ_INT(mx_gguf_get_u32(g, "no.such.key", &u), 0);
    CHECK_EQ_INT(mx_gguf_find_key(g, "no.such.key"), -1);
    mx_gguf_vtype et;
    uint64_t n = 0;
    CHECK_EQ_INT(mx_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n), 1);
    CHECK_EQ_INT(et, MX_GGUF_STRING);
    CHECK_EQ_INT(n, 512);
    CHECK_EQ_INT(mx_gguf_arr_str(g, "tokenizer.ggml.tokens", n, &s, &len), -1);
    CHECK_EQ_INT(mx_gguf_arr_str(g, "tokenizer.ggml.tokens", n - 1, &s, &len), 1);
    CHECK_EQ_INT(mx_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u), 1);
    CHECK_EQ_INT(u, 2);
    CHECK_EQ_INT(mx_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u), 1);
    CHECK_EQ_INT(u, 1);
    int64_t ti = mx_gguf_find_tensor(g, "token_embd.weight");
    CHECK(ti >= 0);
    if (ti >= 0) {
        CHECK_EQ_INT(mx_gguf_tensor_type(g, ti), MX_TYPE_F32);
        CHECK_EQ_INT(mx_gguf_tensor_n_dims(g, ti), 2);
        CHECK_EQ_INT(mx_gguf_tensor_ne(g, ti)[0], 128);
        CHECK_EQ_INT(mx_gguf_tensor_ne(g, ti)[1], 512);
        CHECK_EQ_INT(mx_gguf_tensor_nbytes(g, ti), 128 * 512 * 4);
        const uint8_t *d = mx_gguf_tensor_data(g, ti);
        CHECK(d >= mx_gguf_base(g) + mx_gguf_data_offset(g));
        CHECK(d + mx_gguf_tensor_nbytes(g, ti) <= mx_gguf_base(g) + mx_gguf_file_size(g));
    }
    CHECK_EQ_INT(mx_gguf_alignment(g), 32);
    CHECK_EQ_INT(mx_gguf_data_offset(g) % 32, 0);
    CHECK(mx_gguf_version(g) == 2 || mx_gguf_version(g) == 3);
    mx_gguf_free(g);
}

int main(void) {
    test_oracle("oracle/tiny-gemma3-swa8.gguf", "gemma3");
    test_oracle("oracle/tiny-gemma2-swa8.gguf", "gemma2");
    test_oracle("oracle/tiny-llama.gguf", "llama");
    mx_gguf_free(NULL);
    return check_summary("test_gguf");
}
