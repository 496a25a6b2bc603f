/* tok_json.h: a small, hardened JSON reader built for tokenizer.json files: one pass into a flat
 * array of nodes, strings unescaped into one arena (or left in place when they need no
 * unescaping), so that a 33 MB vocabulary with a million entries costs a handful of allocations.
 *
 * Limits (hostile input): nesting depth 128, document size 1 GiB, every string must be valid
 * UTF-8 (escaped surrogates must pair up), numbers must be finite. Objects keep their members in
 * file order; duplicate keys are kept (callers that build maps let the last one win, as
 * JSON.parse does). The document text must outlive the tree (unescaped strings point into it).
 */
#ifndef MX_TOK_JSON_H
#define MX_TOK_JSON_H

#include "common/util.h"

#include <stdbool.h>

typedef enum tj_type {
    TJ_NULL = 0, TJ_FALSE, TJ_TRUE, TJ_NUMBER, TJ_STRING, TJ_ARRAY, TJ_OBJECT
} tj_type;

typedef struct tj_node {
    const char *key;       /* member of an object: its key (not NUL-terminated) */
    union {
        double num;
        const char *str;   /* not NUL-terminated */
    } v;
    uint32_t len;          /* string: bytes; array/object: number of children */
    uint32_t next;         /* next sibling (0 = none; node 0 is the root, never a sibling) */
    uint32_t key_len;
    uint8_t type;          /* tj_type */
    /* The first child of an array or object, when it has one, is the next node: children are
     * parsed right after their parent. */
} tj_node;

typedef struct tj_doc {
    tj_node *nodes;
    uint32_t n_nodes, cap_nodes;
    char *arena;           /* unescaped strings */
    size_t arena_len, arena_cap;
} tj_doc;

/* Parse text[0..len). what names the document in error messages. */
mixlm_status tj_parse(tj_doc *doc, const char *text, size_t len, const char *what);
void tj_free(tj_doc *doc);

/* malloc for big tables (huge pages where the system offers them); free with free(). */
void *tj_big_alloc(size_t n);

static inline const tj_node *tj_root(const tj_doc *d) { return &d->nodes[0]; }
static inline const tj_node *tj_at(const tj_doc *d, uint32_t i) { return i ? &d->nodes[i] : NULL; }
static inline const tj_node *tj_first(const tj_doc *d, const tj_node *n) {
    return n && (n->type == TJ_ARRAY || n->type == TJ_OBJECT) && n->len ? n + 1 : NULL;
}
static inline const tj_node *tj_next(const tj_doc *d, const tj_node *n) { return tj_at(d, n->next); }

/* Member of an object by key (the last one when repeated); NULL if absent or n not an object. */
const tj_node *tj_get(const tj_doc *d, const tj_node *obj, const char *key);
/* i-th element of an array (linear), NULL when out of range. */
const tj_node *tj_index(const tj_doc *d, const tj_node *arr, uint32_t i);

/* Typed accessors: NULL node, JSON null, or a different type -> the default. */
bool tj_is_str(const tj_node *n);
bool tj_str_eq(const tj_node *n, const char *s);
bool tj_bool(const tj_node *n, bool def);
/* A number that is an integer in [lo, hi]: 1 and *out set; 0 otherwise. */
int tj_int(const tj_node *n, int64_t lo, int64_t hi, int64_t *out);

#endif /* MX_TOK_JSON_H */
