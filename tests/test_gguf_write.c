/* test_gguf_write.c: GGUF writer round trips through the reader: every scalar type, arrays,
 * alignment, tensors from memory and from row callbacks, copying metadata from a file, and a
 * converted oracle model (F32 -> F16) that loads as a model. */
#include "check.h"
#include "model/gguf_write.h"
#include "model/model.h"

static int fill_rows(void *user, uint64_t row, void *buf, uint64_t n) {
    (void)user;
    uint8_t *p = buf;
    for (uint64_t i = 0; i < n; i++) p[i] = (uint8_t)(row * 7 + i);
    return 0;
}

static int fill_fail(void *user, uint64_t row, void *buf, uint64_t n) {
    (void)user;
    (void)buf;
    (void)n;
    return row == 1;
}

static const int32_t ints[3] = {-1, 0, 70000};
static const float fl[2] = {0.5f, -3.0f};
static const char *strs[3] = {"a", "", "ccc"};
static const float a[6] = {1, 2, 3, 4, 5, 6};

/* A writer holding one key of every scalar type, three arrays and three tensors. */
static mx_gguf_writer *make_writer(uint32_t alignment) {
    mx_gguf_writer *w = mx_gguf_writer_new();
    CHECK(w != NULL);
    if (alignment != 32) CHECK_EQ_INT(mx_gguf_w_set_alignment(w, alignment), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_u8(w, "t.u8", 200), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_i8(w, "t.i8", -100), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_u16(w, "t.u16", 60000), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_i16(w, "t.i16", -30000), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_u32(w, "t.u32", 4000000000u), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_i32(w, "t.i32", -2000000000), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_u64(w, "t.u64", 1ull << 40), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_i64(w, "t.i64", -(1ll << 40)), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_f32(w, "t.f32", 1.5f), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_f64(w, "t.f64", -2.25), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_bool(w, "t.bool", true), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_str(w, "t.str", "h\xc3\xa9llo"), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_arr(w, "t.arr_i32", MX_GGUF_INT32, ints, 3), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_arr(w, "t.arr_f32", MX_GGUF_FLOAT32, fl, 2), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_arr_str(w, "t.arr_str", strs, NULL, 3), MIXLM_OK);
    int64_t ne_a[2] = {3, 2}, ne_q[2] = {64, 3}, ne_z[1] = {5};
    CHECK_EQ_INT(mx_gguf_w_tensor(w, "a", MX_TYPE_F32, 2, ne_a, a, sizeof a), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_tensor_fn(w, "q", MX_TYPE_Q8_0, 2, ne_q, fill_rows, NULL), MIXLM_OK);
    CHECK_EQ_INT(mx_gguf_w_tensor(w, "z", MX_TYPE_F16, 1, ne_z, NULL, 10), MIXLM_OK);
    return w;
}

static void test_sticky_errors(void) {
    uint8_t *img = NULL;
    uint64_t size = 0;
    mx_gguf_writer *w = make_writer(32);
    CHECK(mx_gguf_w_u32(w, "t.u8", 1) == MIXLM_ERR_INVALID_ARG); /* duplicate key */
    CHECK(strstr(mixlm_last_error(), "duplicate key") != NULL);
    CHECK(mx_gguf_w_write_memory(w, &img, &size) != MIXLM_OK);
    CHECK(img == NULL);
    mx_gguf_writer_free(w);
    w = make_writer(32);
    int64_t ne[1] = {5};
    CHECK(mx_gguf_w_tensor(w, "bad", MX_TYPE_F32, 1, ne, a, 4) != MIXLM_OK); /* wrong size */
    CHECK(mx_gguf_w_write_memory(w, &img, &size) != MIXLM_OK);
    mx_gguf_writer_free(w);
    w = make_writer(32);
    CHECK(mx_gguf_w_tensor(w, "a", MX_TYPE_F32, 1, ne, NULL, 20) != MIXLM_OK); /* duplicate */
    mx_gguf_writer_free(w);
    w = make_writer(32);
    int64_t ne_q[1] = {33};
    CHECK(mx_gguf_w_tensor(w, "q2", MX_TYPE_Q8_0, 1, ne_q, NULL, 0) != MIXLM_OK); /* not blocks */
    mx_gguf_writer_free(w);
    w = mx_gguf_writer_new();
    CHECK(mx_gguf_w_set_alignment(w, 48) != MIXLM_OK);
    mx_gguf_writer_free(w);
}

static void test_round_trip(uint32_t alignment) {
    uint8_t *img = NULL;
    uint64_t size = 0;
    mx_gguf_writer *w = make_writer(alignment);
    CHECK_EQ_INT(mx_gguf_w_write_memory(w, &img, &size), MIXLM_OK);

    mx_gguf *g = NULL;
    CHECK_MSG(mx_gguf_open_memory(img, size, &g) == MIXLM_OK, "%s", mixlm_last_error());
    if (g) {
        uint32_t u32;
        int64_t i64;
        float f;
        bool b;
        const char *s;
        size_t len;
        CHECK_EQ_INT(mx_gguf_version(g), 3);
        CHECK_EQ_INT(mx_gguf_alignment(g), alignment);
        CHECK_EQ_INT(mx_gguf_get_u32(g, "t.u8", &u32), 1);
        CHECK_EQ_INT(u32, 200);
        CHECK_EQ_INT(mx_gguf_get_i64(g, "t.i8", &i64), 1);
        CHECK_EQ_INT(i64, -100);
        CHECK_EQ_INT(mx_gguf_get_u32(g, "t.i8", &u32), -1); /* negative: out of range */
        CHECK_EQ_INT(mx_gguf_get_i64(g, "t.i16", &i64), 1);
        CHECK_EQ_INT(i64, -30000);
        CHECK_EQ_INT(mx_gguf_get_u32(g, "t.u32", &u32), 1);
        CHECK_EQ_INT(u32, 4000000000u);
        CHECK_EQ_INT(mx_gguf_get_i64(g, "t.i32", &i64), 1);
        CHECK_EQ_INT(i64, -2000000000);
        CHECK_EQ_INT(mx_gguf_get_u32(g, "t.u64", &u32), -1); /* too large */
        CHECK_EQ_INT(mx_gguf_get_i64(g, "t.u64", &i64), 1);
        CHECK_EQ_INT(i64, 1ll << 40);
        CHECK_EQ_INT(mx_gguf_get_i64(g, "t.i64", &i64), 1);
        CHECK_EQ_INT(i64, -(1ll << 40));
        CHECK_EQ_INT(mx_gguf_get_f32(g, "t.f32", &f), 1);
        CHECK(f == 1.5f);
        CHECK_EQ_INT(mx_gguf_get_f32(g, "t.f64", &f), 1);
        CHECK(f == -2.25f);
        CHECK_EQ_INT(mx_gguf_get_f32(g, "t.i16", &f), 1); /* ints convert to float */
        CHECK(f == -30000.0f);
        CHECK_EQ_INT(mx_gguf_get_bool(g, "t.bool", &b), 1);
        CHECK(b);
        CHECK_EQ_INT(mx_gguf_get_bool(g, "t.u8", &b), -1);
        CHECK_EQ_INT(mx_gguf_get_str(g, "t.str", &s, &len), 1);
        CHECK(len == 6 && memcmp(s, "h\xc3\xa9llo", len) == 0);
        mx_gguf_vtype et;
        uint64_t n;
        CHECK_EQ_INT(mx_gguf_get_arr(g, "t.arr_i32", &et, &n), 1);
        CHECK_EQ_INT(et, MX_GGUF_INT32);
        CHECK_EQ_INT(n, 3);
        const void *d = mx_gguf_arr_data(g, "t.arr_i32", &et, &n);
        int32_t back[3];
        CHECK(d != NULL);
        if (d) {
            memcpy(back, d, sizeof back);
            CHECK(back[0] == -1 && back[1] == 0 && back[2] == 70000);
        }
        CHECK_EQ_INT(mx_gguf_arr_i64(g, "t.arr_i32", 2, &i64), 1);
        CHECK_EQ_INT(i64, 70000);
        CHECK_EQ_INT(mx_gguf_arr_f32(g, "t.arr_f32", 1, &f), 1);
        CHECK(f == -3.0f);
        CHECK(mx_gguf_arr_data(g, "t.arr_str", &et, &n) == NULL);
        CHECK_EQ_INT(mx_gguf_arr_str(g, "t.arr_str", 2, &s, &len), 1);
        CHECK(len == 3 && memcmp(s, "ccc", 3) == 0);
        CHECK_EQ_INT(mx_gguf_arr_str(g, "t.arr_str", 1, &s, &len), 1);
        CHECK_EQ_INT(len, 0);
        CHECK_EQ_INT(mx_gguf_arr_str(g, "t.arr_i32", 0, &s, &len), -1);
        char *json = mx_gguf_kv_json(g, mx_gguf_find_key(g, "t.arr_str"), 2);
        CHECK_EQ_STR(json, "[\"a\",\"\",\"...\"]");
        free(json);

        CHECK_EQ_INT(mx_gguf_n_tensors(g), 3);
        int64_t ti = mx_gguf_find_tensor(g, "a");
        CHECK(ti >= 0 && memcmp(mx_gguf_tensor_data(g, ti), a, sizeof a) == 0);
        ti = mx_gguf_find_tensor(g, "q");
        CHECK(ti >= 0);
        if (ti >= 0) {
            CHECK_EQ_INT(mx_gguf_tensor_type(g, ti), MX_TYPE_Q8_0);
            CHECK_EQ_INT(mx_gguf_tensor_nbytes(g, ti), 3 * 2 * 34);
            CHECK_EQ_INT(mx_gguf_tensor_offset(g, ti) % alignment, 0);
            const uint8_t *q = mx_gguf_tensor_data(g, ti);
            CHECK_EQ_INT(q[2 * 68 + 5], (uint8_t)(2 * 7 + 5)); /* row 2, byte 5 */
        }
        ti = mx_gguf_find_tensor(g, "z");
        CHECK(ti >= 0 && ((const uint8_t *)mx_gguf_tensor_data(g, ti))[9] == 0);
        mx_gguf_free(g);
    }
    free(img);
    mx_gguf_writer_free(w);
}

static void test_fill_failure(void) {
    mx_gguf_writer *w = mx_gguf_writer_new();
    int64_t ne[2] = {4, 3};
    mx_gguf_w_tensor_fn(w, "x", MX_TYPE_F32, 2, ne, fill_fail, NULL);
    uint8_t *img = NULL;
    uint64_t size = 0;
    CHECK(mx_gguf_w_write_memory(w, &img, &size) == MIXLM_ERR_CANCELLED);
    CHECK(strstr(mixlm_last_error(), "row 1") != NULL);
    mx_gguf_writer_free(w);
    mx_gguf_writer_free(NULL);
}

/* Convert the oracle llama to F16 matrices (norms stay F32) and load it as a model. */
static void test_convert(void) {
    mx_gguf *src = NULL;
    CHECK_EQ_INT(mx_gguf_open(test_data("oracle/tiny-llama.gguf"), &src), MIXLM_OK);
    if (!src) return;
    mx_gguf_writer *w = mx_gguf_writer_new();
    CHECK_EQ_INT(mx_gguf_w_copy_all_kv(w, src), MIXLM_OK);
    int64_t n = mx_gguf_n_tensors(src);
    uint16_t **bufs = calloc((size_t)n, sizeof *bufs);
    for (int64_t i = 0; i < n; i++) {
        const int64_t *ne = mx_gguf_tensor_ne(src, i);
        int nd = mx_gguf_tensor_n_dims(src, i);
        const char *name = mx_gguf_tensor_name(src, i);
        if (nd == 2) {
            uint64_t cnt = mx_gguf_tensor_nbytes(src, i) / 4;
            bufs[i] = malloc(cnt * 2);
            const float *f = mx_gguf_tensor_data(src, i);
            for (uint64_t k = 0; k < cnt; k++) bufs[i][k] = mx_f32_to_f16(f[k]);
            mx_gguf_w_tensor(w, name, MX_TYPE_F16, nd, ne, bufs[i], cnt * 2);
        } else {
            mx_gguf_w_tensor(w, name, MX_TYPE_F32, nd, ne, mx_gguf_tensor_data(src, i),
                             mx_gguf_tensor_nbytes(src, i));
        }
    }
    const char *path = test_tmp("tiny-llama-f16.gguf");
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    CHECK_MSG(mx_gguf_w_write_file(w, p) == MIXLM_OK, "%s", mixlm_last_error());
    mixlm_model *m = NULL;
    CHECK_MSG(mixlm_model_load(p, &m) == MIXLM_OK, "%s", mixlm_last_error());
    if (m) {
        const mx_tensor *t = mx_model_tensor(m, "token_embd.weight");
        CHECK(t && t->type == MX_TYPE_F16);
        int64_t ei = mx_gguf_find_tensor(src, "token_embd.weight");
        const float *f = mx_gguf_tensor_data(src, ei);
        uint16_t h;
        memcpy(&h, (const char *)t->data + 2 * 1000, 2);
        CHECK_NEAR(mx_f16_to_f32(h), f[1000], fabs(f[1000]) * 1e-3);
        CHECK_EQ_INT(m->hp.n_layer, 8);
        CHECK_EQ_INT(mx_model_tensor(m, "output_norm.weight")->type, MX_TYPE_F32);
        mixlm_model_free(m);
    }
    for (int64_t i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    mx_gguf_writer_free(w);
    mx_gguf_free(src);
    remove(p);
}

int main(void) {
    test_round_trip(32);
    test_round_trip(64);
    test_sticky_errors();
    test_fill_failure();
    test_convert();
    return check_summary("test_gguf_write");
}
