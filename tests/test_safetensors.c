/* test_safetensors.c: the safetensors reader on the oracle files and on hand-made broken
 * headers; HF folders built here from the oracle weights: sharded (index.json), multimodal
 * prefixes with vision tensors, eos lists, and broken folders (path traversal, missing
 * tensors, JSON bombs, unsupported settings), each with a clear error. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "common/util.h"
#include "model/model.h"
#include "model/safetensors.h"

#include <sys/stat.h>

/* ---- Building safetensors images ------------------------------------------------------------ */

static uint8_t *image(const char *json, const void *data, size_t data_len, size_t *size) {
    size_t h = strlen(json);
    *size = 8 + h + data_len;
    uint8_t *p = malloc(*size ? *size : 1);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(p + 8, json, h);
    if (data_len) memcpy(p + 8 + h, data, data_len);
    return p;
}

static void expect_st_fail(const char *what, const char *json, size_t data_len, const char *want) {
    static uint8_t zeros[4096];
    size_t size;
    uint8_t *p = image(json, zeros, data_len, &size);
    mx_safetensors *st = NULL;
    mixlm_status s = mx_safetensors_open_memory(p, size, &st);
    const char *msg = mixlm_last_error();
    CHECK_MSG(s != MIXLM_OK && !st, "%s: accepted", what);
    CHECK_MSG(*msg && strstr(msg, want), "%s: message \"%s\" lacks \"%s\"", what, msg, want);
    mx_safetensors_free(st);
    free(p);
}

static void test_hostile_headers(void) {
    mx_safetensors *st = NULL;
    uint8_t small[5] = {1, 0, 0, 0, 0};
    CHECK(mx_safetensors_open_memory(small, 5, &st) == MIXLM_ERR_FORMAT);
    CHECK(strstr(mixlm_last_error(), "truncated"));
    uint8_t huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x10, '{', '}'};
    CHECK(mx_safetensors_open_memory(huge, 16, &st) == MIXLM_ERR_FORMAT);
    CHECK(strstr(mixlm_last_error(), "exceeds the limit"));
    uint8_t beyond[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(mx_safetensors_open_memory(beyond, 16, &st) == MIXLM_ERR_FORMAT);
    CHECK(strstr(mixlm_last_error(), "truncated"));

    expect_st_fail("not JSON", "xxxx", 0, "not a JSON object");
    expect_st_fail("JSON array", "[1, 2]", 0, "not a JSON object");
    expect_st_fail("broken JSON", "{\"a\": {\"dtype\": ", 0, "not valid JSON");
    expect_st_fail("trailing garbage", "{}   x", 0, "trailing bytes");
    /* A nesting bomb: {"a":[[[[...]]]]} 100000 deep. */
    size_t depth = 100000;
    char *bomb = malloc(2 * depth + 16);
    strcpy(bomb, "{\"a\":");
    size_t n = strlen(bomb);
    memset(bomb + n, '[', depth);
    memset(bomb + n + depth, ']', depth);
    strcpy(bomb + n + 2 * depth, "}");
    expect_st_fail("nesting bomb", bomb, 0, "nested deeper");
    free(bomb);
    expect_st_fail("entry not an object", "{\"t\": 5}", 0, "not an object");
    expect_st_fail("missing fields", "{\"t\": {\"dtype\": \"F32\"}}", 0, "needs");
    expect_st_fail("unknown dtype",
                   "{\"t\": {\"dtype\": \"F7\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
                   "unsupported dtype 'F7'");
    expect_st_fail("shape product mismatch",
                   "{\"t\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24,
                   "need 24 bytes but data_offsets span 20");
    expect_st_fail("wrong dtype size",
                   "{\"t\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 16,
                   "need 8 bytes");
    expect_st_fail("out of range",
                   "{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 15,
                   "outside the file");
    expect_st_fail("begin after end",
                   "{\"t\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 16,
                   "begin <= end");
    expect_st_fail("negative shape",
                   "{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4,
                   "non-negative integers");
    expect_st_fail("fractional offset",
                   "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.5]}}", 8,
                   "data_offsets");
    expect_st_fail("shape overflow",
                   "{\"t\": {\"dtype\": \"F32\", \"shape\": [4503599627370496, 4503599627370496], "
                   "\"data_offsets\": [0, 4]}}",
                   4, "overflow");
    expect_st_fail("nine dims",
                   "{\"t\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], "
                   "\"data_offsets\": [0, 4]}}",
                   4, "9 dimensions");
    expect_st_fail("overlap",
                   "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                   " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
                   16, "overlap");
    expect_st_fail("duplicate names",
                   "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                   " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
                   16, "duplicate tensor name 'a'");
    expect_st_fail("invalid UTF-8 name",
                   "{\"a\xff\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
                   "UTF-8");

    /* Valid: metadata ignored, padding spaces, scalars, other dtypes listed. */
    float vals[4] = {1, 2, 3, 4};
    size_t size;
    uint8_t *p = image("{\"__metadata__\": {\"format\": \"pt\"}, "
                       "\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]},"
                       " \"s\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [16, 24]}}   ",
                       NULL, 0, &size);
    uint8_t *q = realloc(p, size + 24);
    memcpy(q + size, vals, 16);
    memset(q + size + 16, 0, 8);
    CHECK_EQ_INT(mx_safetensors_open_memory(q, size + 24, &st), MIXLM_OK);
    if (st) {
        CHECK_EQ_INT(mx_safetensors_n_tensors(st), 2);
        int64_t i = mx_safetensors_find(st, "w");
        const mx_st_tensor *t = mx_safetensors_tensor(st, i);
        CHECK(t && t->type == MX_TYPE_F32 && t->n_dims == 2 && t->shape[0] == 2);
        CHECK(t && memcmp(t->data, vals, 16) == 0);
        t = mx_safetensors_tensor(st, mx_safetensors_find(st, "s"));
        CHECK(t && t->n_dims == 0 && t->nbytes == 8 && strcmp(t->dtype, "I64") == 0);
        CHECK_EQ_INT(mx_safetensors_find(st, "__metadata__"), -1);
        mx_safetensors_free(st);
    }
    free(q);
    mx_safetensors_free(NULL);
}

/* ---- Writing folders ------------------------------------------------------------------------ */

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static char *slurp(const char *path) {
    char *text = NULL;
    size_t len;
    mx_read_file(path, 1 << 24, &text, &len);
    return text;
}

typedef struct st_out {
    mx_buf json;
    mx_buf data;
} st_out;

static void st_add(st_out *o, const char *name, const char *dtype, int nd, const int64_t *shape,
                   const void *data, size_t nbytes) {
    mx_buf_puts(&o->json, o->json.len ? "," : "{");
    mx_buf_json_str(&o->json, name, strlen(name));
    mx_buf_printf(&o->json, ":{\"dtype\":\"%s\",\"shape\":[", dtype);
    for (int i = 0; i < nd; i++) mx_buf_printf(&o->json, "%s%lld", i ? "," : "", (long long)shape[i]);
    mx_buf_printf(&o->json, "],\"data_offsets\":[%zu,%zu]}", o->data.len, o->data.len + nbytes);
    mx_buf_append(&o->data, data, nbytes);
}

static void st_write(st_out *o, const char *path) {
    mx_buf_puts(&o->json, o->json.len ? "}" : "{}");
    while (o->json.len % 8) mx_buf_putc(&o->json, ' ');
    size_t size;
    uint8_t *p = image(o->json.data, o->data.data, o->data.len, &size);
    write_file(path, p, size);
    free(p);
    mx_buf_free(&o->json);
    mx_buf_free(&o->data);
}

static const char *dir_file(const char *dir, const char *name) {
    static char buf[4096];
    if (snprintf(buf, sizeof buf, "%s/%s", dir, name) >= (int)sizeof buf) buf[0] = 0;
    return buf;
}

static char *make_dir(const char *name) {
    char *d = mx_strdup(test_tmp(name));
    mkdir(d, 0755);
    /* Clear files a previous run left. */
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors",
                           "model.safetensors.index.json", "a.safetensors", "b.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) remove(dir_file(d, files[i]));
    return d;
}

static void copy_text(const char *from, const char *to) {
    char *t = slurp(from);
    CHECK(t != NULL);
    if (t) write_file(to, t, strlen(t));
    free(t);
}

static void same_models(const mixlm_model *a, const mixlm_model *b, const char *what) {
    CHECK_MSG(memcmp(&a->hp, &b->hp, offsetof(mx_hparams, arch)) == 0, "%s: family", what);
    CHECK_EQ_INT(a->hp.n_layer, b->hp.n_layer);
    CHECK_EQ_INT(a->hp.n_embd, b->hp.n_embd);
    CHECK_EQ_INT(a->hp.n_head_kv, b->hp.n_head_kv);
    CHECK(a->hp.attn_scale == b->hp.attn_scale && a->hp.embd_scale == b->hp.embd_scale);
    CHECK_EQ_INT(a->hp.tied_embeddings, b->hp.tied_embeddings);
    CHECK_EQ_INT(a->hp.norm_add_one, b->hp.norm_add_one);
    for (int i = 0; i < a->hp.n_layer && i < b->hp.n_layer; i++)
        CHECK_MSG(memcmp(&a->layers[i], &b->layers[i], sizeof a->layers[i]) == 0, "%s: layer %d",
                  what, i);
    CHECK_EQ_INT(a->n_tensors, b->n_tensors);
    for (int32_t i = 0; i < a->n_tensors; i++) {
        const mx_tensor *t = &a->tensors[i], *u = mx_model_tensor(b, t->name);
        CHECK_MSG(u && u->nbytes == t->nbytes && memcmp(u->ne, t->ne, sizeof t->ne) == 0 &&
                      memcmp(u->data, t->data, t->nbytes) == 0,
                  "%s: tensor %s differs", what, t->name);
    }
}

/* Split the oracle llama into two shards with an index, and load it. */
static void test_sharded(void) {
    char src[4096];
    snprintf(src, sizeof src, "%s", test_data("oracle/hf-tiny-llama"));
    mx_safetensors *st = NULL;
    CHECK_EQ_INT(mx_safetensors_open(dir_file(src, "model.safetensors"), &st), MIXLM_OK);
    if (!st) return;
    char *dir = make_dir("hf-sharded");
    char cfg_src[4096];
    snprintf(cfg_src, sizeof cfg_src, "%s", dir_file(src, "config.json"));
    copy_text(cfg_src, dir_file(dir, "config.json"));
    st_out a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    mx_buf index = {0};
    mx_buf_puts(&index, "{\"metadata\":{\"total_size\":0},\"weight_map\":{");
    for (int64_t i = 0; i < mx_safetensors_n_tensors(st); i++) {
        const mx_st_tensor *t = mx_safetensors_tensor(st, i);
        st_add(i % 2 ? &a : &b, t->name, t->dtype, t->n_dims, t->shape, t->data, t->nbytes);
        mx_buf_printf(&index, "%s\"%s\":\"%s\"", i ? "," : "", t->name,
                      i % 2 ? "a.safetensors" : "b.safetensors");
    }
    mx_buf_puts(&index, "}}");
    st_write(&a, dir_file(dir, "a.safetensors"));
    st_write(&b, dir_file(dir, "b.safetensors"));
    write_file(dir_file(dir, "model.safetensors.index.json"), index.data, index.len);
    /* generation_config with an eos list */
    const char *gen = "{\"bos_token_id\": 2, \"eos_token_id\": [1, 106, 1], \"pad_token_id\": 0}";
    write_file(dir_file(dir, "generation_config.json"), gen, strlen(gen));

    mixlm_model *m1 = NULL, *m2 = NULL;
    CHECK_MSG(mixlm_model_load(src, &m1) == MIXLM_OK, "%s", mixlm_last_error());
    CHECK_MSG(mixlm_model_load(dir, &m2) == MIXLM_OK, "sharded: %s", mixlm_last_error());
    if (m1 && m2) {
        CHECK_EQ_INT(m2->n_shards, 2);
        same_models(m1, m2, "sharded");
        CHECK_EQ_INT(m2->hp.n_eos, 2);
        CHECK_EQ_INT(m2->hp.eos_ids[1], 106);
    }
    mixlm_model_free(m2);

    /* The index names a tensor no shard has. */
    char *bad = mx_strdup(index.data);
    char *pos = strstr(bad, "model.norm.weight");
    if (pos) memcpy(pos, "model.XXXX", 10);
    write_file(dir_file(dir, "model.safetensors.index.json"), bad, strlen(bad));
    CHECK(mixlm_model_load(dir, &m2) == MIXLM_ERR_FORMAT);
    CHECK_MSG(strstr(mixlm_last_error(), "in no shard"), "%s", mixlm_last_error());
    free(bad);
    /* Path traversal in the weight map. */
    const char *trav = "{\"weight_map\":{\"model.norm.weight\":\"../../secret.safetensors\"}}";
    write_file(dir_file(dir, "model.safetensors.index.json"), trav, strlen(trav));
    CHECK(mixlm_model_load(dir, &m2) == MIXLM_ERR_FORMAT);
    CHECK_MSG(strstr(mixlm_last_error(), "plain *.safetensors file name"), "%s", mixlm_last_error());
    const char *nomap = "{\"metadata\":{}}";
    write_file(dir_file(dir, "model.safetensors.index.json"), nomap, strlen(nomap));
    CHECK(mixlm_model_load(dir, &m2) == MIXLM_ERR_FORMAT);
    CHECK(strstr(mixlm_last_error(), "weight_map"));
    remove(dir_file(dir, "model.safetensors.index.json"));
    CHECK(mixlm_model_load(dir, &m2) == MIXLM_ERR_IO);
    CHECK(strstr(mixlm_last_error(), "no model.safetensors"));

    mixlm_model_free(m1);
    mx_buf_free(&index);
    mx_safetensors_free(st);
    free(dir);
}

/* The oracle Gemma 3 as a multimodal checkpoint: text_config, prefixed text weights, vision
 * tensors (one of a dtype mixlm does not compute with). */
static void test_multimodal(const char *prefix, const char *dirname) {
    char src[4096];
    snprintf(src, sizeof src, "%s", test_data("oracle/hf-tiny-gemma3-swa8"));
    mx_safetensors *st = NULL;
    CHECK_EQ_INT(mx_safetensors_open(dir_file(src, "model.safetensors"), &st), MIXLM_OK);
    if (!st) return;
    char *dir = make_dir(dirname);
    char *cfg = slurp(dir_file(src, "config.json"));
    mx_buf c = {0};
    mx_buf_puts(&c, "{\"architectures\": [\"Gemma3ForConditionalGeneration\"], \"model_type\": "
                    "\"gemma3\", \"vision_config\": {\"hidden_size\": 16}, \"text_config\": ");
    mx_buf_puts(&c, cfg ? cfg : "{}");
    mx_buf_puts(&c, "}");
    write_file(dir_file(dir, "config.json"), c.data, c.len);
    mx_buf_free(&c);
    free(cfg);
    st_out o;
    memset(&o, 0, sizeof o);
    for (int64_t i = 0; i < mx_safetensors_n_tensors(st); i++) {
        const mx_st_tensor *t = mx_safetensors_tensor(st, i);
        char name[512];
        /* "model.X" -> prefix + "X" */
        snprintf(name, sizeof name, "%s%s", prefix, t->name + strlen("model."));
        st_add(&o, name, t->dtype, t->n_dims, t->shape, t->data, t->nbytes);
    }
    float v[4] = {0};
    int64_t shape[2] = {2, 2};
    st_add(&o, "model.vision_tower.vision_model.embeddings.patch_embedding.weight", "F32", 2, shape,
           v, 16);
    st_add(&o, "model.multi_modal_projector.mm_input_projection_weight", "I64", 1, shape, v, 16);
    st_write(&o, dir_file(dir, "model.safetensors"));

    mixlm_model *m1 = NULL, *m2 = NULL;
    CHECK_MSG(mixlm_model_load(src, &m1) == MIXLM_OK, "%s", mixlm_last_error());
    CHECK_MSG(mixlm_model_load(dir, &m2) == MIXLM_OK, "multimodal %s: %s", prefix,
              mixlm_last_error());
    if (m1 && m2) {
        CHECK_EQ_STR(m2->hp.arch, "gemma3_text");
        same_models(m1, m2, prefix);
    }
    mixlm_model_free(m1);
    mixlm_model_free(m2);
    mx_safetensors_free(st);
    free(dir);
}

/* A folder with the oracle llama weights and a config.json we vary. */
static void expect_config_fail(const char *what, const char *config, const char *want) {
    static char *dir;
    if (!dir) {
        dir = make_dir("hf-config");
        char src[4096];
        snprintf(src, sizeof src, "%s", test_data("oracle/hf-tiny-llama/model.safetensors"));
        mx_map map;
        if (mx_map_file(src, &map) == MIXLM_OK) {
            write_file(dir_file(dir, "model.safetensors"), map.data, (size_t)map.size);
            mx_unmap(&map);
        }
    }
    if (!what) {
        free(dir);
        dir = NULL;
        return;
    }
    write_file(dir_file(dir, "config.json"), config, strlen(config));
    mixlm_model *m = NULL;
    mixlm_status st = mixlm_model_load(dir, &m);
    const char *msg = mixlm_last_error();
    CHECK_MSG(st != MIXLM_OK && !m, "%s: accepted", what);
    CHECK_MSG(*msg && strstr(msg, want), "%s: message \"%s\" lacks \"%s\"", what, msg, want);
    mixlm_model_free(m);
}

#define LLAMA_CFG(extra)                                                                      \
    "{\"model_type\": \"llama\", \"hidden_size\": 128, \"intermediate_size\": 256, "          \
    "\"num_hidden_layers\": 8, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "      \
    "\"vocab_size\": 512, \"rms_norm_eps\": 1e-6" extra "}"

static void test_bad_configs(void) {
    expect_config_fail("not JSON", "{model_type: llama", "not a valid JSON object");
    size_t depth = 50000;
    char *bomb = malloc(2 * depth + 32);
    strcpy(bomb, "{\"a\":");
    memset(bomb + 5, '[', depth);
    memset(bomb + 5 + depth, ']', depth);
    strcpy(bomb + 5 + 2 * depth, "}");
    expect_config_fail("nesting bomb", bomb, "nested deeper");
    free(bomb);
    expect_config_fail("unknown model_type", "{\"model_type\": \"bert\"}", "unsupported model_type 'bert'");
    expect_config_fail("no model_type", "{\"hidden_size\": 4}", "unsupported model_type '(none)'");
    expect_config_fail("negative layers", LLAMA_CFG(", \"num_hidden_layers\": -1"), "num_hidden_layers");
    expect_config_fail("fewer layers than weights", LLAMA_CFG(", \"num_hidden_layers\": 4"),
                       "names a layer beyond 4");
    expect_config_fail("heads not dividing", LLAMA_CFG(", \"num_key_value_heads\": 3"), "n_head_kv");
    expect_config_fail("string head count", LLAMA_CFG(", \"num_attention_heads\": \"4\""),
                       "num_attention_heads");
    expect_config_fail("yarn", LLAMA_CFG(", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}"),
                       "unsupported rope_scaling type 'yarn'");
    expect_config_fail("llama3 rope", LLAMA_CFG(", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}"),
                       "unsupported rope_scaling type 'llama3'");
    expect_config_fail("bad layer_types", LLAMA_CFG(", \"layer_types\": [\"full_attention\"]"),
                       "layer_types");
    expect_config_fail("unknown layer type",
                       LLAMA_CFG(", \"layer_types\": [\"full_attention\", \"x\", \"full_attention\", "
                                 "\"full_attention\", \"full_attention\", \"full_attention\", "
                                 "\"full_attention\", \"full_attention\"]"),
                       "layer_types[1]");
    expect_config_fail("sliding type without window",
                       LLAMA_CFG(", \"layer_types\": [\"sliding_attention\", \"full_attention\", "
                                 "\"full_attention\", \"full_attention\", \"full_attention\", "
                                 "\"full_attention\", \"full_attention\", \"full_attention\"]"),
                       "sliding_window");
    expect_config_fail("untied without lm_head", LLAMA_CFG(", \"tie_word_embeddings\": false"),
                       "lm_head.weight");
    expect_config_fail("llama3 rope_parameters",
                       LLAMA_CFG(", \"rope_parameters\": {\"rope_theta\": 5e5, \"rope_type\": \"llama3\"}"),
                       "unsupported RoPE type 'llama3'");
    expect_config_fail("vocab mismatch", LLAMA_CFG(", \"vocab_size\": 600"), "vocabulary of 600");
    expect_config_fail("eps zero", LLAMA_CFG(", \"rms_norm_eps\": 0"), "rms_norm_eps");
    expect_config_fail("unknown activation", LLAMA_CFG(", \"hidden_act\": \"relu2\""), "activation");
    expect_config_fail(NULL, NULL, NULL);
}

/* Layer rules from config keys (SPEC.md section 2), on the oracle llama weights. */
static mixlm_model *load_config(const char *config) {
    static char *dir;
    if (!dir) {
        dir = make_dir("hf-rules");
        mx_map map;
        if (mx_map_file(test_data("oracle/hf-tiny-llama/model.safetensors"), &map) == MIXLM_OK) {
            write_file(dir_file(dir, "model.safetensors"), map.data, (size_t)map.size);
            mx_unmap(&map);
        }
    }
    if (!config) {
        free(dir);
        dir = NULL;
        return NULL;
    }
    write_file(dir_file(dir, "config.json"), config, strlen(config));
    mixlm_model *m = NULL;
    CHECK_MSG(mixlm_model_load(dir, &m) == MIXLM_OK, "%s: %s", config, mixlm_last_error());
    return m;
}

static void test_layer_rules(void) {
    /* Mistral: sliding_window set -> every layer slides; null -> none. */
    mixlm_model *m = load_config(
        "{\"model_type\": \"mistral\", \"hidden_size\": 128, \"intermediate_size\": 256, "
        "\"num_hidden_layers\": 8, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
        "\"vocab_size\": 512, \"sliding_window\": 16}");
    if (m) {
        for (int i = 0; i < 8; i++) CHECK(m->layers[i].attn == MX_ATTN_SLIDING && m->layers[i].window == 16);
        CHECK_EQ_INT(m->hp.family, MX_FAMILY_LLAMA);
        mixlm_model_free(m);
    }
    m = load_config("{\"model_type\": \"mistral\", \"hidden_size\": 128, \"intermediate_size\": 256, "
                    "\"num_hidden_layers\": 8, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                    "\"vocab_size\": 512, \"sliding_window\": null}");
    if (m) {
        for (int i = 0; i < 8; i++) CHECK(m->layers[i].attn == MX_ATTN_FULL && m->layers[i].window == 0);
        mixlm_model_free(m);
    }
    /* Llama itself has no sliding_window setting: the key is ignored without layer_types. */
    m = load_config(LLAMA_CFG(", \"sliding_window\": 16"));
    if (m) {
        for (int i = 0; i < 8; i++) CHECK(m->layers[i].attn == MX_ATTN_FULL);
        mixlm_model_free(m);
    }
    /* Llama 4 style chunks: chunked unless (i+1) % 4 == 0; those full layers use no RoPE. */
    m = load_config(LLAMA_CFG(", \"attention_chunk_size\": 32, \"rope_theta\": 500000.0, "
                              "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}"));
    if (m) {
        for (int i = 0; i < 8; i++) {
            bool full = (i + 1) % 4 == 0;
            CHECK_EQ_INT(m->layers[i].attn, full ? MX_ATTN_FULL : MX_ATTN_CHUNKED);
            CHECK_EQ_INT(m->layers[i].window, full ? 0 : 32);
            CHECK_EQ_INT(m->layers[i].use_rope, !full);
            CHECK(m->layers[i].rope_base == 500000.0f && m->layers[i].rope_scale == 2.0f);
        }
        mixlm_model_free(m);
    }
    /* layer_types with chunked_attention. */
    m = load_config(LLAMA_CFG(", \"attention_chunk_size\": 16, \"layer_types\": [\"chunked_attention\", "
                              "\"full_attention\", \"chunked_attention\", \"full_attention\", "
                              "\"chunked_attention\", \"full_attention\", \"chunked_attention\", "
                              "\"full_attention\"]"));
    if (m) {
        for (int i = 0; i < 8; i++) {
            CHECK_EQ_INT(m->layers[i].attn, i % 2 ? MX_ATTN_FULL : MX_ATTN_CHUNKED);
            CHECK(m->layers[i].use_rope);
        }
        char *j = mixlm_model_describe_json(m);
        CHECK(j && strstr(j, "\"attention\":\"chunked\",\"window\":16"));
        free(j);
        mixlm_model_free(m);
    }
    /* Qwen2: sliding from max_window_layers on, only with use_sliding_window; qkv biases. */
    m = load_config("{\"model_type\": \"qwen2\", \"hidden_size\": 128, \"intermediate_size\": 256, "
                    "\"num_hidden_layers\": 8, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                    "\"vocab_size\": 512, \"use_sliding_window\": true, \"sliding_window\": 64, "
                    "\"max_window_layers\": 5, \"eos_token_id\": [1, 3]}");
    if (m) {
        for (int i = 0; i < 8; i++) {
            CHECK_EQ_INT(m->layers[i].attn, i >= 5 ? MX_ATTN_SLIDING : MX_ATTN_FULL);
            CHECK_EQ_INT(m->layers[i].window, i >= 5 ? 64 : 0);
        }
        CHECK(m->hp.qkv_bias && !m->hp.qk_norm && !m->hp.norm_add_one);
        CHECK_EQ_INT(m->hp.n_eos, 2);
        mixlm_model_free(m);
    }
    m = load_config("{\"model_type\": \"qwen3\", \"hidden_size\": 128, \"intermediate_size\": 256, "
                    "\"num_hidden_layers\": 8, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                    "\"head_dim\": 32, \"vocab_size\": 512, \"use_sliding_window\": false, "
                    "\"sliding_window\": 64}");
    if (m) {
        for (int i = 0; i < 8; i++) CHECK_EQ_INT(m->layers[i].attn, MX_ATTN_FULL);
        CHECK(m->hp.qk_norm && !m->hp.qkv_bias);
        mixlm_model_free(m);
    }
    /* Gemma 3 without layer_types: pattern rule, local base on sliding, linear factor on global
     * layers only; defaults from the config class (query_pre_attn_scalar 256). */
    m = load_config("{\"model_type\": \"gemma3_text\", \"hidden_size\": 128, \"intermediate_size\": "
                    "256, \"num_hidden_layers\": 8, \"num_attention_heads\": 4, "
                    "\"num_key_value_heads\": 2, \"head_dim\": 32, \"vocab_size\": 512, "
                    "\"sliding_window\": 512, \"rope_scaling\": {\"rope_type\": \"linear\", "
                    "\"factor\": 8.0}}");
    if (m) {
        for (int i = 0; i < 8; i++) {
            bool sl = (i + 1) % 6 != 0;
            CHECK_EQ_INT(m->layers[i].attn, sl ? MX_ATTN_SLIDING : MX_ATTN_FULL);
            CHECK(m->layers[i].rope_base == (sl ? 10000.0f : 1e6f));
            CHECK(m->layers[i].rope_scale == (sl ? 1.0f : 8.0f));
        }
        CHECK_NEAR(m->hp.attn_scale, 1.0 / 16.0, 1e-7);
        CHECK(m->hp.norm_add_one && m->hp.qk_norm && m->hp.sandwich_norm);
        CHECK(m->hp.embd_scale == (float)sqrt(128.0));
        mixlm_model_free(m);
    }
    /* The newer rope_parameters form, one object per layer type. */
    m = load_config("{\"model_type\": \"gemma3_text\", \"hidden_size\": 128, \"intermediate_size\": "
                    "256, \"num_hidden_layers\": 8, \"num_attention_heads\": 4, "
                    "\"num_key_value_heads\": 2, \"head_dim\": 32, \"vocab_size\": 512, "
                    "\"sliding_window\": 512, \"rope_parameters\": {\"full_attention\": "
                    "{\"rope_theta\": 2000000.0, \"rope_type\": \"linear\", \"factor\": 4.0}, "
                    "\"sliding_attention\": {\"rope_theta\": 20000.0, \"rope_type\": \"default\"}}}");
    if (m) {
        for (int i = 0; i < 8; i++) {
            bool sl = (i + 1) % 6 != 0;
            CHECK(m->layers[i].rope_base == (sl ? 20000.0f : 2e6f));
            CHECK(m->layers[i].rope_scale == (sl ? 1.0f : 4.0f));
        }
        mixlm_model_free(m);
    }
    m = load_config(LLAMA_CFG(", \"rope_parameters\": {\"rope_theta\": 500000.0, \"rope_type\": \"default\"}"));
    if (m) {
        for (int i = 0; i < 8; i++) CHECK(m->layers[i].rope_base == 500000.0f && m->layers[i].rope_scale == 1.0f);
        mixlm_model_free(m);
    }
    /* Gemma 2 defaults: soft-caps 50 / 30, even layers slide. */
    m = load_config("{\"model_type\": \"gemma2\", \"hidden_size\": 128, \"intermediate_size\": 256, "
                    "\"num_hidden_layers\": 8, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                    "\"head_dim\": 32, \"vocab_size\": 512, \"query_pre_attn_scalar\": 144}");
    if (m) {
        for (int i = 0; i < 8; i++) CHECK_EQ_INT(m->layers[i].window, i % 2 ? 0 : 4096);
        mixlm_model_free(m);
    }
    m = load_config("{\"model_type\": \"gemma2\", \"hidden_size\": 128, \"intermediate_size\": 256, "
                    "\"num_hidden_layers\": 8, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                    "\"head_dim\": 32, \"vocab_size\": 512, \"sliding_window_size\": 64, "
                    "\"query_pre_attn_scalar\": 144}");
    if (m) {
        for (int i = 0; i < 8; i++) CHECK_EQ_INT(m->layers[i].window, i % 2 ? 0 : 64);
        mixlm_model_free(m);
        m = NULL;
    }
    m = load_config("{\"model_type\": \"gemma2\", \"hidden_size\": 128, \"intermediate_size\": 256, "
                    "\"num_hidden_layers\": 8, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                    "\"head_dim\": 32, \"vocab_size\": 512, \"query_pre_attn_scalar\": 144}");
    if (m) {
        for (int i = 0; i < 8; i++) {
            CHECK_EQ_INT(m->layers[i].attn, i % 2 ? MX_ATTN_FULL : MX_ATTN_SLIDING);
            CHECK_EQ_INT(m->layers[i].window, i % 2 ? 0 : 4096);
            CHECK(m->layers[i].attn_softcap == 50.0f);
        }
        CHECK(m->hp.final_softcap == 30.0f);
        CHECK_NEAR(m->hp.attn_scale, 1.0 / 12.0, 1e-7);
        mixlm_model_free(m);
    }
    load_config(NULL);
}

/* The in-memory HF path (used by the fuzzer) gives the same model as the folder. */
static void test_memory_load(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_data("oracle/hf-tiny-gemma2-swa8"));
    char *cfg = slurp(dir_file(dir, "config.json"));
    char *gen = slurp(dir_file(dir, "generation_config.json"));
    mx_map map;
    CHECK_EQ_INT(mx_map_file(dir_file(dir, "model.safetensors"), &map), MIXLM_OK);
    mixlm_model *a = NULL, *b = NULL;
    CHECK_EQ_INT(mixlm_model_load(dir, &a), MIXLM_OK);
    CHECK_MSG(mx_model_load_hf_memory(cfg, strlen(cfg), gen, strlen(gen), map.data, map.size, &b) ==
                  MIXLM_OK,
              "%s", mixlm_last_error());
    if (a && b) {
        same_models(a, b, "memory");
        CHECK(memcmp(&a->hp, &b->hp, sizeof a->hp) == 0);
        CHECK_EQ_STR(b->generation_config_json, a->generation_config_json);
    }
    mixlm_model_free(b);
    b = NULL;
    const char *llama = "{\"model_type\": \"llama\"}";
    CHECK(mx_model_load_hf_memory(llama, strlen(llama), NULL, 0, map.data, 7, &b) ==
          MIXLM_ERR_FORMAT);
    CHECK(b == NULL && strstr(mixlm_last_error(), "truncated"));
    mixlm_model_free(a);
    mx_unmap(&map);
    free(cfg);
    free(gen);
}

int main(void) {
    test_memory_load();
    test_hostile_headers();
    test_sharded();
    test_multimodal("model.language_model.", "hf-mm1");
    test_multimodal("language_model.model.", "hf-mm2");
    test_bad_configs();
    test_layer_rules();
    return check_summary("test_safetensors");
}
