/* test_gguf_hostile.c: hand-made broken GGUF files, built byte by byte here, must each be
 * rejected with a clear message (and no crash under ASan+UBSan); every truncation and many
 * byte mutations of a valid file must be handled cleanly; bad hyper-parameters are rejected by
 * the model loader. */
#include "check.h"
#include "model/gguf.h"
#include "model/gguf_write.h"
#include "model/model.h"

/* ---- A byte builder ------------------------------------------------------------------------ */

typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void put(bb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(bb *b, uint32_t v) {
    uint8_t t[4];
    for (int i = 0; i < 4; i++) t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, 4);
}
static void u64(bb *b, uint64_t v) {
    uint8_t t[8];
    for (int i = 0; i < 8; i++) t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, 8);
}
static void str(bb *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void kv_u32(bb *b, const char *key, uint32_t v) {
    str(b, key);
    u32(b, MX_GGUF_UINT32);
    u32(b, v);
}
/* A tensor info with n_dims dims from ne. */
static void tinfo(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t offset) {
    str(b, name);
    u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) u64(b, i < 4 ? ne[i] : 1);
    u32(b, type);
    u64(b, offset);
}
static void pad_to(bb *b, size_t align) {
    static const uint8_t z[64];
    while (b->n % align) put(b, z, 1);
}
static void zeros(bb *b, size_t n) {
    for (size_t i = 0; i < n; i++) put(b, "", 1);
}

/* Expect the image to be rejected with a message containing `want`. */
static void expect_fail(const char *what, bb *b, const char *want) {
    mx_gguf *g = NULL;
    mixlm_status st = mx_gguf_open_memory(b->p, b->n, &g);
    const char *msg = mixlm_last_error();
    CHECK_MSG(st != MIXLM_OK && g == NULL, "%s: accepted", what);
    CHECK_MSG(msg && *msg, "%s: empty message", what);
    CHECK_MSG(msg && strstr(msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, want);
    mx_gguf_free(g);
    free(b->p);
    memset(b, 0, sizeof *b);
}

static mx_gguf *expect_ok(const char *what, bb *b) {
    mx_gguf *g = NULL;
    mixlm_status st = mx_gguf_open_memory(b->p, b->n, &g);
    CHECK_MSG(st == MIXLM_OK, "%s: rejected: %s", what, mixlm_last_error());
    return g;
}

/* ---- The list ---------------------------------------------------------------------------- */

static void test_headers(void) {
    bb b = {0};
    put(&b, "GG", 2);
    expect_fail("2 bytes", &b, "truncated");
    b.p = malloc(1);
    expect_fail("empty", &b, "truncated");
    header(&b, 3, 0, 0);
    b.p[3] = 'X';
    expect_fail("bad magic", &b, "magic");
    header(&b, 1, 0, 0);
    expect_fail("version 1", &b, "version 1");
    header(&b, 4, 0, 0);
    expect_fail("version 4", &b, "unknown GGUF version 4");
    header(&b, 0x03000000, 0, 0);
    expect_fail("big-endian", &b, "big-endian");
    put(&b, "GGUF", 4);
    u32(&b, 3);
    u32(&b, 0);
    expect_fail("truncated counts", &b, "truncated");
    header(&b, 3, UINT64_MAX, 0);
    expect_fail("huge tensor count", &b, "exceeds the limit");
    header(&b, 3, 0, 1ull << 40);
    expect_fail("huge kv count", &b, "exceeds the limit");
    header(&b, 3, 1000, 1000);
    expect_fail("counts beyond the file", &b, "truncated");
    /* A minimal valid file: v2 and v3, no kv, no tensors. */
    header(&b, 2, 0, 0);
    mx_gguf *g = expect_ok("empty v2", &b);
    CHECK(g && mx_gguf_n_kv(g) == 0 && mx_gguf_n_tensors(g) == 0 && mx_gguf_version(g) == 2);
    mx_gguf_free(g);
    free(b.p);
}

static void test_kv(void) {
    bb b = {0};
    header(&b, 3, 0, 1);
    u64(&b, 1ull << 62);
    zeros(&b, 16);
    expect_fail("huge key length", &b, "key length");
    header(&b, 3, 0, 1);
    u64(&b, 10);
    put(&b, "abc", 3);
    expect_fail("key past the end", &b, "truncated");
    header(&b, 3, 0, 1);
    str(&b, "bad\xff\xfekey");
    u32(&b, MX_GGUF_UINT8);
    put(&b, "\1", 1);
    expect_fail("invalid UTF-8 key", &b, "UTF-8");
    header(&b, 3, 0, 1);
    str(&b, "over\xc0\xaflong");
    u32(&b, MX_GGUF_UINT8);
    put(&b, "\1", 1);
    expect_fail("overlong UTF-8 key", &b, "UTF-8");
    header(&b, 3, 0, 1);
    u64(&b, 3);
    put(&b, "a\0b", 3);
    u32(&b, MX_GGUF_UINT8);
    put(&b, "\1", 1);
    expect_fail("NUL in key", &b, "UTF-8");
    header(&b, 3, 0, 1);
    str(&b, "");
    u32(&b, MX_GGUF_UINT8);
    put(&b, "\1", 1);
    expect_fail("empty key", &b, "empty key");
    header(&b, 3, 0, 2);
    kv_u32(&b, "a.b", 1);
    kv_u32(&b, "a.b", 2);
    expect_fail("duplicate key", &b, "duplicate key 'a.b'");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, 13);
    u32(&b, 0);
    expect_fail("unknown value type", &b, "unknown value type 13");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_BOOL);
    put(&b, "\2", 1);
    expect_fail("bool 2", &b, "not 0 or 1");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_STRING);
    u64(&b, UINT64_MAX);
    expect_fail("huge string", &b, "string value length");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_STRING);
    u64(&b, 100);
    put(&b, "short", 5);
    expect_fail("string past the end", &b, "truncated");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_UINT64);
    u32(&b, 7);
    expect_fail("truncated scalar", &b, "truncated");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_ARRAY);
    u32(&b, MX_GGUF_UINT32);
    u64(&b, 1ull << 40);
    expect_fail("huge array", &b, "array length");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_ARRAY);
    u32(&b, MX_GGUF_STRING);
    u64(&b, 1u << 25);
    zeros(&b, 64);
    expect_fail("string array past the end", &b, "truncated");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_ARRAY);
    u32(&b, 77);
    u64(&b, 1);
    expect_fail("unknown element type", &b, "unknown array element type");
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_ARRAY);
    u32(&b, MX_GGUF_BOOL);
    u64(&b, 2);
    put(&b, "\1\5", 2);
    expect_fail("bool array element 5", &b, "not 0 or 1");
    /* Arrays nested 9 deep. */
    header(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, MX_GGUF_ARRAY);
    for (int i = 0; i < 9; i++) {
        u32(&b, MX_GGUF_ARRAY);
        u64(&b, 1);
    }
    u32(&b, MX_GGUF_UINT8);
    u64(&b, 0);
    expect_fail("deep nesting", &b, "nested deeper");
    /* Nested arrays within the limit are fine: [[1,2],[3]] of uint16. */
    header(&b, 3, 0, 2);
    str(&b, "nested");
    u32(&b, MX_GGUF_ARRAY);
    u32(&b, MX_GGUF_ARRAY);
    u64(&b, 2);
    u32(&b, MX_GGUF_UINT16);
    u64(&b, 2);
    put(&b, "\1\0\2\0", 4);
    u32(&b, MX_GGUF_UINT16);
    u64(&b, 1);
    put(&b, "\3\0", 2);
    kv_u32(&b, "after", 42);
    mx_gguf *g = expect_ok("nested arrays", &b);
    if (g) {
        mx_gguf_vtype et;
        uint64_t n;
        uint32_t v;
        CHECK_EQ_INT(mx_gguf_get_arr(g, "nested", &et, &n), 1);
        CHECK_EQ_INT(et, MX_GGUF_ARRAY);
        CHECK_EQ_INT(n, 2);
        CHECK(mx_gguf_arr_data(g, "nested", &et, &n) == NULL);
        CHECK_EQ_INT(mx_gguf_get_u32(g, "after", &v), 1); /* parsing resumed after the array */
        CHECK_EQ_INT(v, 42);
        char *j = mx_gguf_kv_json(g, mx_gguf_find_key(g, "nested"), 10);
        CHECK_EQ_STR(j, "[[1,2],[3]]");
        free(j);
        j = mx_gguf_kv_json(g, mx_gguf_find_key(g, "nested"), 1);
        CHECK_EQ_STR(j, "[[1,\"...\"],\"...\"]");
        free(j);
    }
    mx_gguf_free(g);
    free(b.p);
    memset(&b, 0, sizeof b);
    /* general.alignment must be a uint32 power of two. */
    const uint32_t bad_align[] = {0, 3, 48, 1u << 30};
    for (size_t i = 0; i < 4; i++) {
        header(&b, 3, 0, 1);
        kv_u32(&b, "general.alignment", bad_align[i]);
        expect_fail("bad alignment", &b, "general.alignment");
    }
    header(&b, 3, 0, 1);
    str(&b, "general.alignment");
    u32(&b, MX_GGUF_STRING);
    str(&b, "32");
    expect_fail("alignment as string", &b, "general.alignment has type string");
}

/* A file with one kv (alignment), and tensors described by the caller. */
static void tensor_file(bb *b, int n, const char *const *names, const uint32_t *n_dims,
                        const uint64_t (*ne)[4], const uint32_t *types, const uint64_t *offsets,
                        size_t data_bytes) {
    header(b, 3, (uint64_t)n, 1);
    kv_u32(b, "general.alignment", 32);
    for (int i = 0; i < n; i++) tinfo(b, names[i], n_dims[i], ne[i], types[i], offsets[i]);
    pad_to(b, 32);
    zeros(b, data_bytes);
}

static void test_tensors(void) {
    bb b = {0};
    const char *one[] = {"t"};
    const uint32_t d2[] = {2}, d99[] = {99}, d0[] = {0};
    const uint64_t ne8x4[][4] = {{8, 4}};
    const uint32_t f32[] = {MX_TYPE_F32};
    const uint64_t off0[] = {0}, off1[] = {1}, off_far[] = {1ull << 40}, off_max[] = {UINT64_MAX - 31};
    tensor_file(&b, 1, one, d2, ne8x4, f32, off0, 128);
    mx_gguf *g = expect_ok("one tensor", &b);
    CHECK(g && mx_gguf_tensor_nbytes(g, 0) == 128);
    mx_gguf_free(g);
    free(b.p);
    memset(&b, 0, sizeof b);
    tensor_file(&b, 1, one, d2, ne8x4, f32, off0, 127);
    expect_fail("data one byte short", &b, "outside the file");
    tensor_file(&b, 1, one, d99, ne8x4, f32, off0, 128);
    expect_fail("n_dims 99", &b, "n_dims 99");
    tensor_file(&b, 1, one, d0, ne8x4, f32, off0, 128);
    expect_fail("n_dims 0", &b, "n_dims 0");
    tensor_file(&b, 1, one, d2, ne8x4, f32, off1, 256);
    expect_fail("unaligned offset", &b, "not a multiple of the alignment");
    tensor_file(&b, 1, one, d2, ne8x4, f32, off_far, 128);
    expect_fail("offset beyond the file", &b, "outside the file");
    tensor_file(&b, 1, one, d2, ne8x4, f32, off_max, 128);
    expect_fail("offset + size overflows", &b, "outside the file");
    const uint32_t t99[] = {99}, t4[] = {4}, q8[] = {MX_TYPE_Q8_0};
    tensor_file(&b, 1, one, d2, ne8x4, t99, off0, 128);
    expect_fail("type 99", &b, "unsupported tensor type 99");
    tensor_file(&b, 1, one, d2, ne8x4, t4, off0, 128);
    expect_fail("removed type 4", &b, "unsupported tensor type 4");
    const uint64_t ne33[][4] = {{33, 1}};
    tensor_file(&b, 1, one, d2, ne33, q8, off0, 128);
    expect_fail("Q8_0 row of 33", &b, "block size");
    const uint64_t huge[][4] = {{1ull << 40, 1ull << 40}};
    tensor_file(&b, 1, one, d2, huge, f32, off0, 128);
    expect_fail("size overflow", &b, "overflow");
    const uint64_t neg[][4] = {{8, 1ull << 63}};
    tensor_file(&b, 1, one, d2, neg, f32, off0, 128);
    expect_fail("dimension above INT64_MAX", &b, "too large");
    const char *two[] = {"a", "b"}, *dup[] = {"a", "a"};
    const uint32_t d22[] = {2, 2}, f32f32[] = {MX_TYPE_F32, MX_TYPE_F32};
    const uint64_t ne2[][4] = {{8, 4}, {8, 4}};
    const uint64_t overlap[] = {0, 64}, apart[] = {0, 128};
    tensor_file(&b, 2, two, d22, ne2, f32f32, overlap, 256);
    expect_fail("overlapping tensors", &b, "overlap");
    tensor_file(&b, 2, dup, d22, ne2, f32f32, apart, 256);
    expect_fail("duplicate tensor names", &b, "duplicate tensor name 'a'");
    tensor_file(&b, 2, two, d22, ne2, f32f32, apart, 256);
    g = expect_ok("two tensors", &b);
    mx_gguf_free(g);
    free(b.p);
    memset(&b, 0, sizeof b);
    const char *badname[] = {"bad\xe2\x82"};
    tensor_file(&b, 1, badname, d2, ne8x4, f32, off0, 128);
    expect_fail("invalid UTF-8 tensor name", &b, "UTF-8");
    char longname[2000];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    const char *lname[] = {longname};
    tensor_file(&b, 1, lname, d2, ne8x4, f32, off0, 128);
    expect_fail("tensor name of 1999 bytes", &b, "tensor name length");
}

/* ---- Truncations and mutations of a valid file --------------------------------------------- */

static uint8_t *small_model(uint64_t *size) {
    mx_gguf_writer *w = mx_gguf_writer_new();
    mx_gguf_w_str(w, "general.architecture", "llama");
    mx_gguf_w_u32(w, "llama.block_count", 2);
    mx_gguf_w_u32(w, "llama.embedding_length", 8);
    mx_gguf_w_u32(w, "llama.feed_forward_length", 16);
    mx_gguf_w_u32(w, "llama.attention.head_count", 2);
    mx_gguf_w_u32(w, "llama.attention.head_count_kv", 1);
    mx_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    const char *toks[4] = {"<pad>", "<eos>", "<bos>", "<end_of_turn>"};
    mx_gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4);
    mx_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 1);
    int64_t ne_e[2] = {8, 4}, ne_n[1] = {8};
    mx_gguf_w_tensor(w, "token_embd.weight", MX_TYPE_F32, 2, ne_e, NULL, 128);
    mx_gguf_w_tensor(w, "output_norm.weight", MX_TYPE_F32, 1, ne_n, NULL, 32);
    uint8_t *img = NULL;
    CHECK_EQ_INT(mx_gguf_w_write_memory(w, &img, size), MIXLM_OK);
    mx_gguf_writer_free(w);
    return img;
}

static void test_truncations_and_mutations(void) {
    uint64_t size = 0;
    uint8_t *img = small_model(&size);
    if (!img) return;
    mixlm_model *m = NULL;
    CHECK_MSG(mx_model_load_gguf_memory(img, size, &m) == MIXLM_OK, "%s", mixlm_last_error());
    if (m) {
        CHECK_EQ_INT(m->hp.n_layer, 2);
        CHECK_EQ_INT(m->hp.n_vocab, 4);
        CHECK_EQ_INT(m->hp.head_dim, 4);
        CHECK(!m->hp.rope_neox);
        /* eos from the key, plus the end-of-turn token found by its text */
        CHECK_EQ_INT(m->hp.n_eos, 2);
        CHECK_EQ_INT(m->hp.eos_ids[0], 1);
        CHECK_EQ_INT(m->hp.eos_ids[1], 3);
        mixlm_model_free(m);
    }
    /* Every proper prefix is rejected as a GGUF file, with a message. */
    int bad = 0;
    for (uint64_t n = 0; n < size; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, img, n);
        mx_gguf *g = NULL;
        mixlm_status st = mx_gguf_open_memory(copy, n, &g);
        if (st == MIXLM_OK || !*mixlm_last_error()) bad++;
        mx_gguf_free(g);
        free(copy);
    }
    CHECK_MSG(bad == 0, "%d of %llu truncations accepted", bad, (unsigned long long)size);
    /* Mutations: byte flips anywhere must never crash; the loader may accept or reject. */
    uint64_t s = 12345;
    int rejected_without_message = 0;
    for (int it = 0; it < 3000; it++) {
        uint8_t *copy = malloc(size);
        memcpy(copy, img, size);
        for (int k = 0; k < 1 + it % 4; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t pos = (s >> 33) % size;
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            copy[pos] = (uint8_t)(s >> 56);
        }
        mixlm_model *mm = NULL;
        mixlm_status st = mx_model_load_gguf_memory(copy, size, &mm);
        if (st != MIXLM_OK && !*mixlm_last_error()) rejected_without_message++;
        mixlm_model_free(mm);
        free(copy);
    }
    CHECK_EQ_INT(rejected_without_message, 0);
    free(img);
}

/* ---- Bad hyper-parameters in a well-formed file -------------------------------------------- */

typedef struct hp_case {
    const char *what;
    const char *key;     /* key to override (u32 unless str_value) */
    uint32_t value;
    const char *str_value;
    const char *want;
} hp_case;

static void test_bad_hparams(void) {
    const hp_case cases[] = {
        {"zero heads", "llama.attention.head_count", 0, NULL, "out of range"},
        {"kv heads not dividing", "llama.attention.head_count_kv", 3, NULL, "n_head_kv"},
        {"too many layers", "llama.block_count", 100000, NULL, "out of range"},
        {"zero embedding", "llama.embedding_length", 0, NULL, "n_embd"},
        {"zero ff", "llama.feed_forward_length", 0, NULL, "n_ff"},
        {"odd head_dim", "llama.attention.key_length", 3, NULL, "odd"},
        {"eos outside vocab", "tokenizer.ggml.eos_token_id", 999, NULL, "outside the vocabulary"},
        {"unknown architecture", "general.architecture", 0, "gpt-neo", "unsupported architecture"},
        {"head_count as string", "llama.attention.head_count", 0, "two", "type string"},
        {"llama3 frequency factors", "rope_freqs", 1, NULL, "rope_freqs.weight"},
        {"yarn scaling", "llama.rope.scaling.type", 0, "yarn", "unsupported RoPE scaling type 'yarn'"},
        {"window without pattern overflows", "llama.attention.sliding_window", 0x7fffffffu, NULL,
         "window"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mx_gguf_writer *w = mx_gguf_writer_new();
        const char *keys[] = {"general.architecture", "llama.block_count", "llama.embedding_length",
                              "llama.feed_forward_length", "llama.attention.head_count",
                              "llama.attention.head_count_kv", "tokenizer.ggml.eos_token_id"};
        const uint32_t vals[] = {0, 2, 8, 16, 2, 1, 1};
        for (size_t k = 0; k < 7; k++) {
            const char *key = keys[k];
            int override = strcmp(key, cases[c].key) == 0;
            if (override && cases[c].str_value) mx_gguf_w_str(w, key, cases[c].str_value);
            else if (override) mx_gguf_w_u32(w, key, cases[c].value);
            else if (k == 0) mx_gguf_w_str(w, key, "llama");
            else mx_gguf_w_u32(w, key, vals[k]);
        }
        int listed = 0;
        for (size_t k = 0; k < 7; k++) listed |= strcmp(keys[k], cases[c].key) == 0;
        if (!listed && cases[c].str_value) mx_gguf_w_str(w, cases[c].key, cases[c].str_value);
        else if (!listed) mx_gguf_w_u32(w, cases[c].key, cases[c].value); /* an extra key */
        mx_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
        int64_t ne_e[2] = {8, 4};
        mx_gguf_w_tensor(w, "token_embd.weight", MX_TYPE_F32, 2, ne_e, NULL, 128);
        if (strcmp(cases[c].key, "rope_freqs") == 0) {
            int64_t ne_f[1] = {2};
            mx_gguf_w_tensor(w, "rope_freqs.weight", MX_TYPE_F32, 1, ne_f, NULL, 8);
        }
        uint8_t *img = NULL;
        uint64_t size = 0;
        CHECK_EQ_INT(mx_gguf_w_write_memory(w, &img, &size), MIXLM_OK);
        mixlm_model *m = NULL;
        mixlm_status st = mx_model_load_gguf_memory(img, size, &m);
        const char *msg = mixlm_last_error();
        CHECK_MSG(st != MIXLM_OK && !m, "%s: accepted", cases[c].what);
        CHECK_MSG(strstr(msg, cases[c].want) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  cases[c].what, msg, cases[c].want);
        mixlm_model_free(m);
        free(img);
        mx_gguf_writer_free(w);
    }
}

int main(void) {
    test_headers();
    test_kv();
    test_tensors();
    test_truncations_and_mutations();
    test_bad_hparams();
    return check_summary("test_gguf_hostile");
}
