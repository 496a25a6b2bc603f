/* tok_json.c: the one-pass, arena-backed JSON reader used for tokenizer.json (see tok_json.h). */
#define _DEFAULT_SOURCE
#include "text/tok_json.h"

#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void *tj_big_alloc(size_t n) {
    /* Tables of tens of megabytes: 2 MiB pages cut the page faults of first touch by 512x
     * (measured: about a fifth of the Gemma 3 load time went to page faults). */
    if (n < ((size_t)4 << 20)) return malloc(n);
    void *p = NULL;
    if (posix_memalign(&p, (size_t)2 << 20, n)) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

#define TJ_MAX_DEPTH 128
#define TJ_MAX_DOC ((size_t)1 << 30)
#define TJ_ARENA_FLAG ((uint32_t)1u << 31)

typedef struct tj_parser {
    tj_doc *d;
    const char *s;
    size_t n, pos;
    const char *what;
    /* Strings unescaped into the arena are recorded as offsets (the arena may move while
     * parsing) and turned into pointers at the end. */
} tj_parser;

static mixlm_status tj_fail(tj_parser *p, const char *msg) {
    /* Report a line number: far more useful than a byte offset in a 30 MB file. */
    size_t line = 1;
    for (size_t i = 0; i < p->pos && i < p->n; i++) line += p->s[i] == '\n';
    return mx_err(MIXLM_ERR_FORMAT, "%s: JSON error at byte %zu (line %zu): %s", p->what, p->pos,
                  line, msg);
}

static int tj_new_node(tj_parser *p, uint32_t *out) {
    tj_doc *d = p->d;
    if (d->n_nodes == d->cap_nodes) {
        uint64_t cap = d->cap_nodes ? (uint64_t)d->cap_nodes * 2 : 1024;
        if (cap > UINT32_MAX / 2) return 0;
        tj_node *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return 0;
        d->nodes = nn;
        d->cap_nodes = (uint32_t)cap;
    }
    memset(&d->nodes[d->n_nodes], 0, sizeof(tj_node));
    *out = d->n_nodes++;
    return 1;
}

static inline int tj_is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* Pretty-printed tokenizer files are a third indentation (the Gemma 3 file has 2.4 million
 * lines), so runs of blanks are skipped 16 bytes at a time where SSE2 is there (every x86-64). */
static void tj_ws(tj_parser *p) {
    size_t i = p->pos;
    const char *s = p->s;
    if (i >= p->n || !tj_is_ws(s[i])) return;
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' '), nl = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r'),
                  tb = _mm_set1_epi8('\t');
    while (i + 16 <= p->n) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        const __m128i w = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, nl)),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, tb)));
        const unsigned other = (unsigned)_mm_movemask_epi8(w) ^ 0xFFFFu;
        if (other) {
            p->pos = i + (size_t)__builtin_ctz(other);
            return;
        }
        i += 16;
    }
#endif
    while (i < p->n && tj_is_ws(s[i])) i++;
    p->pos = i;
}

static int tj_hex4(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static int tj_arena_reserve(tj_doc *d, size_t extra) {
    if (d->arena_cap - d->arena_len >= extra) return 1;
    size_t cap = d->arena_cap ? d->arena_cap : 4096;
    while (cap - d->arena_len < extra) {
        if (cap > TJ_MAX_DOC * 4) return 0;
        cap *= 2;
    }
    char *a = realloc(d->arena, cap);
    if (!a) return 0;
    d->arena = a;
    d->arena_cap = cap;
    return 1;
}

/* Parse a string at p->pos (on the opening quote). On success *ptr is either a pointer into the
 * source, or (when *in_arena) an offset into the arena cast to a pointer. */
static mixlm_status tj_string(tj_parser *p, const char **ptr, uint32_t *len, int *in_arena) {
    size_t start = ++p->pos;
    size_t i = start;
    int escaped = 0;
    unsigned char high = 0;
    for (;;) {
#if defined(__SSE2__)
        /* 16 bytes at a time up to the first quote, backslash or control character */
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1F);
        while (i + 16 <= p->n) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p->s + i));
            const __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                              _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
            const unsigned m = (unsigned)_mm_movemask_epi8(stop);
            const unsigned hi = (unsigned)_mm_movemask_epi8(v);
            if (m) {
                const unsigned k = (unsigned)__builtin_ctz(m);
                if (hi & ((1u << k) - 1u)) high |= 0x80;
                i += k;
                break;
            }
            if (hi) high |= 0x80;
            i += 16;
        }
#endif
        if (i >= p->n) { p->pos = i; return tj_fail(p, "unterminated string"); }
        unsigned char c = (unsigned char)p->s[i];
        if (c == '"') break;
        if (c == '\\') { escaped = 1; i += 2; continue; }
        if (c < 0x20) { p->pos = i; return tj_fail(p, "control character in string"); }
        high |= c;
        i++;
    }
    if (i > p->n) { p->pos = p->n; return tj_fail(p, "unterminated string"); }
    size_t raw_len = i - start;
    if (raw_len > UINT32_MAX / 2) return tj_fail(p, "string too long");
    if (!escaped) {
        if ((high & 0x80) && !mx_utf8_valid(p->s + start, raw_len)) {
            p->pos = start;
            return tj_fail(p, "invalid UTF-8 in string");
        }
        *ptr = p->s + start;
        *len = (uint32_t)raw_len;
        *in_arena = 0;
        p->pos = i + 1;
        return MIXLM_OK;
    }
    /* Unescaping never makes a string longer (\uXXXX is 6 bytes for at most 3 of UTF-8, a
     * surrogate pair 12 for 4). */
    tj_doc *d = p->d;
    if (!tj_arena_reserve(d, raw_len + 1)) return mx_err(MIXLM_ERR_NOMEM, "%s: out of memory", p->what);
    size_t off = d->arena_len;
    char *o = d->arena + off;
    size_t k = 0;
    for (size_t j = start; j < i;) {
        char c = p->s[j];
        if (c != '\\') { o[k++] = c; j++; continue; }
        char e = p->s[j + 1];
        j += 2;
        switch (e) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (j + 4 > i || !tj_hex4(p->s + j, &cp)) { p->pos = j; return tj_fail(p, "bad \\u escape"); }
            j += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (j + 6 > i || p->s[j] != '\\' || p->s[j + 1] != 'u' || !tj_hex4(p->s + j + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF) {
                    p->pos = j; return tj_fail(p, "unpaired surrogate in \\u escape");
                }
                j += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                p->pos = j; return tj_fail(p, "unpaired surrogate in \\u escape");
            }
            if (cp < 0x80) o[k++] = (char)cp;
            else if (cp < 0x800) { o[k++] = (char)(0xC0 | (cp >> 6)); o[k++] = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
                o[k++] = (char)(0xE0 | (cp >> 12)); o[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            } else {
                o[k++] = (char)(0xF0 | (cp >> 18)); o[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                o[k++] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[k++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: p->pos = j - 1; return tj_fail(p, "bad escape");
        }
    }
    if (!mx_utf8_valid(o, k)) { p->pos = start; return tj_fail(p, "invalid UTF-8 in string"); }
    o[k] = 0;
    d->arena_len = off + k + 1;
    *ptr = (const char *)(uintptr_t)off;
    *len = (uint32_t)k;
    *in_arena = 1;
    p->pos = i + 1;
    return MIXLM_OK;
}

static mixlm_status tj_number(tj_parser *p, double *out) {
    size_t i = p->pos;
    if (i < p->n && p->s[i] == '-') i++;
    if (i >= p->n) return tj_fail(p, "bad number");
    if (p->s[i] == '0') i++;
    else if (p->s[i] >= '1' && p->s[i] <= '9') while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
    else return tj_fail(p, "bad value");
    if (i < p->n && p->s[i] == '.') {
        i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') return tj_fail(p, "bad number");
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') return tj_fail(p, "bad number");
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    size_t len = i - p->pos;
    /* Fast path for the common case, a small non-negative integer (token ids). */
    if (len <= 15) {
        size_t k = p->pos;
        uint64_t v = 0;
        while (k < i && p->s[k] >= '0' && p->s[k] <= '9') v = v * 10 + (uint64_t)(p->s[k++] - '0');
        if (k == i) {
            *out = (double)v;
            p->pos = i;
            return MIXLM_OK;
        }
    }
    char buf[64];
    if (len >= sizeof buf) return tj_fail(p, "number too long");
    memcpy(buf, p->s + p->pos, len);
    buf[len] = 0;
    double v = strtod(buf, NULL);
    if (!isfinite(v)) return tj_fail(p, "number out of range");
    *out = v;
    p->pos = i;
    return MIXLM_OK;
}

static mixlm_status tj_value(tj_parser *p, uint32_t *out, int depth);

static mixlm_status tj_container(tj_parser *p, uint32_t self, int is_obj, int depth) {
    char close = is_obj ? '}' : ']';
    p->pos++;
    tj_ws(p);
    uint32_t prev = 0, count = 0;
    if (p->pos < p->n && p->s[p->pos] == close) { p->pos++; return MIXLM_OK; }
    for (;;) {
        const char *key = NULL;
        uint32_t key_len = 0;
        int key_arena = 0;
        if (is_obj) {
            tj_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != '"') return tj_fail(p, "expected a string key");
            mixlm_status st = tj_string(p, &key, &key_len, &key_arena);
            if (st) return st;
            tj_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':') return tj_fail(p, "expected ':'");
            p->pos++;
        }
        uint32_t child;
        mixlm_status st = tj_value(p, &child, depth + 1);
        if (st) return st;
        tj_node *c = &p->d->nodes[child];
        if (is_obj) {
            c->key = key;
            c->key_len = key_len | (key_arena ? TJ_ARENA_FLAG : 0);
        }
        if (prev) p->d->nodes[prev].next = child;
        prev = child;
        if (++count == UINT32_MAX) return tj_fail(p, "too many elements");
        tj_ws(p);
        if (p->pos >= p->n) return tj_fail(p, "unterminated array or object");
        char c2 = p->s[p->pos++];
        if (c2 == ',') continue;
        if (c2 == close) break;
        p->pos--;
        return tj_fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    p->d->nodes[self].len = count;
    return MIXLM_OK;
}

static mixlm_status tj_value(tj_parser *p, uint32_t *out, int depth) {
    if (depth > TJ_MAX_DEPTH) return tj_fail(p, "nesting too deep");
    tj_ws(p);
    if (p->pos >= p->n) return tj_fail(p, "unexpected end of document");
    uint32_t self;
    if (!tj_new_node(p, &self)) return mx_err(MIXLM_ERR_NOMEM, "%s: out of memory", p->what);
    *out = self;
    char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        p->d->nodes[self].type = c == '{' ? TJ_OBJECT : TJ_ARRAY;
        return tj_container(p, self, c == '{', depth);
    case '"': {
        const char *s;
        uint32_t len;
        int arena;
        mixlm_status st = tj_string(p, &s, &len, &arena);
        if (st) return st;
        tj_node *n = &p->d->nodes[self];
        n->type = TJ_STRING;
        n->v.str = s;
        n->len = len | (arena ? TJ_ARENA_FLAG : 0);
        return MIXLM_OK;
    }
    case 't':
        if (p->n - p->pos >= 4 && !memcmp(p->s + p->pos, "true", 4)) {
            p->d->nodes[self].type = TJ_TRUE; p->pos += 4; return MIXLM_OK;
        }
        return tj_fail(p, "bad value");
    case 'f':
        if (p->n - p->pos >= 5 && !memcmp(p->s + p->pos, "false", 5)) {
            p->d->nodes[self].type = TJ_FALSE; p->pos += 5; return MIXLM_OK;
        }
        return tj_fail(p, "bad value");
    case 'n':
        if (p->n - p->pos >= 4 && !memcmp(p->s + p->pos, "null", 4)) {
            p->d->nodes[self].type = TJ_NULL; p->pos += 4; return MIXLM_OK;
        }
        return tj_fail(p, "bad value");
    default: {
        double v = 0;
        mixlm_status st = tj_number(p, &v);
        if (st) return st;
        p->d->nodes[self].type = TJ_NUMBER;
        p->d->nodes[self].v.num = v;
        return MIXLM_OK;
    }
    }
}

mixlm_status tj_parse(tj_doc *doc, const char *text, size_t len, const char *what) {
    memset(doc, 0, sizeof *doc);
    if (len > TJ_MAX_DOC) return mx_err(MIXLM_ERR_FORMAT, "%s: document larger than 1 GiB", what);
    tj_parser p = {doc, text, len, 0, what};
    /* A guess that avoids most regrowth: tokenizer.json files hold about one node per 16 bytes. */
    uint64_t guess = len / 16 + 64;
    if (guess > (1u << 26)) guess = 1u << 26;
    doc->nodes = tj_big_alloc((size_t)guess * sizeof(tj_node));
    if (!doc->nodes) return mx_err(MIXLM_ERR_NOMEM, "%s: out of memory", what);
    doc->cap_nodes = (uint32_t)guess;
    uint32_t root;
    mixlm_status st = tj_value(&p, &root, 0);
    if (!st) {
        tj_ws(&p);
        if (p.pos != p.n) st = tj_fail(&p, "trailing characters after the document");
    }
    if (st) { tj_free(doc); return st; }
    /* Turn arena offsets into pointers now that the arena no longer moves. */
    for (uint32_t i = 0; i < doc->n_nodes; i++) {
        tj_node *n = &doc->nodes[i];
        if (n->type == TJ_STRING && (n->len & TJ_ARENA_FLAG)) {
            n->v.str = doc->arena + (uintptr_t)n->v.str;
            n->len &= ~TJ_ARENA_FLAG;
        }
        if (n->key_len & TJ_ARENA_FLAG) {
            n->key = doc->arena + (uintptr_t)n->key;
            n->key_len &= ~TJ_ARENA_FLAG;
        }
    }
    return MIXLM_OK;
}

void tj_free(tj_doc *doc) {
    if (!doc) return;
    free(doc->nodes);
    free(doc->arena);
    memset(doc, 0, sizeof *doc);
}

const tj_node *tj_get(const tj_doc *d, const tj_node *obj, const char *key) {
    if (!obj || obj->type != TJ_OBJECT) return NULL;
    size_t kl = strlen(key);
    const tj_node *found = NULL;
    for (const tj_node *c = tj_first(d, obj); c; c = tj_next(d, c))
        if (c->key_len == kl && !memcmp(c->key, key, kl)) found = c;
    return found;
}

const tj_node *tj_index(const tj_doc *d, const tj_node *arr, uint32_t i) {
    if (!arr || arr->type != TJ_ARRAY) return NULL;
    const tj_node *c = tj_first(d, arr);
    while (c && i--) c = tj_next(d, c);
    return c;
}

bool tj_is_str(const tj_node *n) { return n && n->type == TJ_STRING; }

bool tj_str_eq(const tj_node *n, const char *s) {
    size_t l = strlen(s);
    return tj_is_str(n) && n->len == l && !memcmp(n->v.str, s, l);
}

bool tj_bool(const tj_node *n, bool def) {
    if (!n) return def;
    if (n->type == TJ_TRUE) return true;
    if (n->type == TJ_FALSE) return false;
    return def;
}

int tj_int(const tj_node *n, int64_t lo, int64_t hi, int64_t *out) {
    if (!n || n->type != TJ_NUMBER) return 0;
    double v = n->v.num;
    if (!(v >= (double)lo && v <= (double)hi) || v != floor(v)) return 0;
    *out = (int64_t)v;
    return 1;
}
