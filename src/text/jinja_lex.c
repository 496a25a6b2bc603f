/* jinja_lex.c: the Jinja lexer: arena, JS-compatible text helpers, the reference's template
 * preprocessing (trailing newline, lstrip_blocks, trim_blocks, {% generation %}) and tokens that
 * remember their line in the original text. */
#define _POSIX_C_SOURCE 200809L
#include "text/jinja_internal.h"

#include <locale.h>
#include <pthread.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Arena ================================================================================ */

struct ja_chunk {
    ja_chunk *next;
    size_t cap, used;
    max_align_t data[];
};

#define JA_CHUNK (64u << 10)

void *ja_alloc(jarena *a, size_t n) {
    if (a->failed) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    ja_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > JA_CHUNK / 2 ? n : JA_CHUNK;
        uint64_t total;
        if (!mx_add_ok(a->used, (uint64_t)cap + sizeof(ja_chunk), &total) ||
            (a->limit && total > a->limit)) {
            a->failed = 1;
            return NULL;
        }
        c = malloc(sizeof(ja_chunk) + cap);
        if (!c) {
            a->failed = 1;
            return NULL;
        }
        a->used = total;
        c->cap = cap;
        c->used = 0;
        if (cap == n && a->head) {
            /* A big block gets its own chunk behind the current one so the latter keeps filling. */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *ja_strndup(jarena *a, const char *s, size_t n) {
    if (n == SIZE_MAX) {
        a->failed = 1;
        return NULL;
    }
    char *p = ja_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void ja_free_all(jarena *a) {
    ja_chunk *c = a->head;
    while (c) {
        ja_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

/* ==== Locale ================================================================================ */

static locale_t g_c_locale = (locale_t)0;
static pthread_once_t g_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { g_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

void *mx_jinja_locale_enter(void) {
    pthread_once(&g_locale_once, make_c_locale);
    if (g_c_locale == (locale_t)0) return NULL;
    return (void *)uselocale(g_c_locale);
}

void mx_jinja_locale_leave(void *saved) {
    if (saved) uselocale((locale_t)saved);
}

/* ==== Errors ================================================================================ */

mixlm_status mx_jinja_error(int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0) return mx_err(MIXLM_ERR_TEMPLATE, "template line %d: %s", line, msg);
    return mx_err(MIXLM_ERR_TEMPLATE, "template: %s", msg);
}

/* ==== UTF-8 and JS text rules ================================================================ */

uint32_t utf8_decode(const char *str, size_t n, size_t *used) {
    const unsigned char *s = (const unsigned char *)str;
    uint32_t c = s[0];
    *used = 1;
    if (c < 0x80) return c;
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || len > n || c > 0xF4) return 0xFFFD;
    uint32_t cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0xFFFD;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0xFFFD;
    *used = len;
    return cp;
}

size_t utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) cp = 0xFFFD;
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ECMAScript WhiteSpace and LineTerminator: what \s and trim() remove. */
static int js_is_space_cp(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

size_t js_space_len(const char *s, size_t n) {
    if (n == 0) return 0;
    size_t used;
    uint32_t c = utf8_decode(s, n, &used);
    if (c == 0xFFFD && used == 1 && (unsigned char)s[0] >= 0x80) return 0;
    return js_is_space_cp(c) ? used : 0;
}

size_t js_space_len_back(const char *s, size_t n) {
    if (n == 0) return 0;
    size_t start = n - 1;
    while (start > 0 && n - start < 4 && ((unsigned char)s[start] & 0xC0) == 0x80) start--;
    size_t used;
    uint32_t c = utf8_decode(s + start, n - start, &used);
    if (start + used != n) return 0;
    return js_is_space_cp(c) ? used : 0;
}

/* Shortest round-trip digits of v > 0 (finite): digits in d (no dot), *k digits, decimal
 * exponent n such that v = 0.d1d2... x 10^n (ECMAScript Number::toString's n). */
static void shortest_digits(double v, char *d, int *k, int *n) {
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v || prec == 17) break;
    }
    /* buf = "D.DDDDe+XX" */
    int nd = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') d[nd++] = *p;
    int e = atoi(p + 1);
    while (nd > 1 && d[nd - 1] == '0') nd--;
    d[nd] = 0;
    *k = nd;
    *n = e + 1;
}

void js_num_str(double v, char *out) {
    if (isnan(v)) {
        strcpy(out, "NaN");
        return;
    }
    if (v == 0) {
        strcpy(out, "0");
        return;
    }
    char *o = out;
    if (v < 0) {
        *o++ = '-';
        v = -v;
    }
    if (isinf(v)) {
        strcpy(o, "Infinity");
        return;
    }
    char d[24];
    int k, n;
    shortest_digits(v, d, &k, &n);
    if (k <= n && n <= 21) {
        memcpy(o, d, (size_t)k);
        o += k;
        for (int i = 0; i < n - k; i++) *o++ = '0';
        *o = 0;
    } else if (0 < n && n <= 21) {
        memcpy(o, d, (size_t)n);
        o += n;
        *o++ = '.';
        memcpy(o, d + n, (size_t)(k - n));
        o += k - n;
        *o = 0;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -n; i++) *o++ = '0';
        memcpy(o, d, (size_t)k);
        o[k] = 0;
    } else {
        *o++ = d[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(k - 1));
            o += k - 1;
        }
        sprintf(o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}

/* ==== Preprocessing ========================================================================== */

/* Text with the original line of every byte, so errors point at the user's line. */
typedef struct ptext {
    char *s;
    int *ln;
    size_t n, cap;
    int failed;
} ptext;

static void pt_put(ptext *p, char c, int line) {
    if (p->failed) return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        char *s = realloc(p->s, cap);
        if (s) p->s = s;
        int *ln = s ? realloc(p->ln, cap * sizeof(int)) : NULL;
        if (!s || !ln) {
            p->failed = 1;
            return;
        }
        p->ln = ln;
        p->cap = cap;
    }
    p->s[p->n] = c;
    p->ln[p->n++] = line;
}

static void pt_free(ptext *p) {
    free(p->s);
    free(p->ln);
    memset(p, 0, sizeof *p);
}

/* Line terminator at s[i] for JS's multiline ^: \n, \r, U+2028, U+2029. Returns its length. */
static size_t line_term_len(const char *s, size_t n, size_t i) {
    if (s[i] == '\n' || s[i] == '\r') return 1;
    if (i + 2 < n + 0 && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
        return 3;
    return 0;
}

/* The reference's preprocess(): drop one trailing newline; lstrip_blocks
 * (/^[ \t]*({[#%-])/gm -> "$1"); trim_blocks (/([#%-]})\n/g -> "$1"); and remove the
 * transformers-specific {% generation %} / {% endgeneration %} tags with their whitespace rules. */
static int preprocess(const char *src, size_t len, ptext *out) {
    ptext a = {0}, b = {0};
    int line = 1;
    size_t n = len;
    if (n > 0 && src[n - 1] == '\n') n--;
    /* lstrip_blocks */
    int at_start = 1;
    for (size_t i = 0; i < n;) {
        if (at_start) {
            size_t q = i;
            while (q < n && (src[q] == ' ' || src[q] == '\t')) q++;
            if (q + 1 < n && src[q] == '{' && (src[q + 1] == '#' || src[q + 1] == '%' || src[q + 1] == '-'))
                i = q;
            at_start = 0;
            if (i >= n) break;
        }
        size_t t = line_term_len(src, n, i);
        if (t) {
            for (size_t j = 0; j < t; j++) pt_put(&a, src[i + j], line);
            if (src[i] == '\n') line++;
            i += t;
            at_start = 1;
            continue;
        }
        pt_put(&a, src[i], line);
        i++;
    }
    /* trim_blocks */
    for (size_t i = 0; i < a.n;) {
        if (i + 2 < a.n && (a.s[i] == '#' || a.s[i] == '%' || a.s[i] == '-') && a.s[i + 1] == '}' &&
            a.s[i + 2] == '\n') {
            pt_put(&b, a.s[i], a.ln[i]);
            pt_put(&b, a.s[i + 1], a.ln[i + 1]);
            i += 3;
            continue;
        }
        pt_put(&b, a.s[i], a.ln[i]);
        i++;
    }
    pt_free(&a);
    /* {% generation %} tags: /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs */
    size_t protect = 0; /* out bytes before this belong to an earlier match */
    for (size_t i = 0; i < b.n;) {
        if (b.s[i] == '{' && i + 1 < b.n && b.s[i + 1] == '%') {
            size_t j = i + 2, sp;
            int lstrip = 0, rstrip = 0;
            if (j < b.n && b.s[j] == '-') {
                lstrip = 1;
                j++;
            }
            while ((sp = js_space_len(b.s + j, b.n - j))) j += sp;
            if (b.n - j >= 3 && !memcmp(b.s + j, "end", 3) && b.n - j >= 13 &&
                !memcmp(b.s + j + 3, "generation", 10))
                j += 3;
            int ok = b.n - j >= 10 && !memcmp(b.s + j, "generation", 10);
            if (ok) {
                j += 10;
                while ((sp = js_space_len(b.s + j, b.n - j))) j += sp;
                if (j < b.n && b.s[j] == '-') {
                    rstrip = 1;
                    j++;
                }
                ok = j + 1 < b.n && b.s[j] == '%' && b.s[j + 1] == '}';
            }
            if (ok) {
                j += 2;
                if (lstrip) {
                    while (out->n > protect && (sp = js_space_len_back(out->s, out->n)) &&
                           out->n - sp >= protect)
                        out->n -= sp;
                }
                size_t k = j;
                while ((sp = js_space_len(b.s + k, b.n - k))) k += sp;
                if (!rstrip)
                    for (size_t q = j; q < k; q++) pt_put(out, b.s[q], b.ln[q]);
                i = k;
                protect = out->n;
                continue;
            }
        }
        pt_put(out, b.s[i], b.ln[i]);
        i++;
    }
    pt_free(&b);
    if (a.failed || b.failed || out->failed) return -1;
    return 0;
}

/* ==== Tokenizer ============================================================================== */

typedef struct lexer {
    jarena *a;
    const char *s;
    const int *ln;
    size_t n, pos;
    jtok *toks;
    size_t ntok, cap;
    int failed;
} lexer;

static int lx_line(const lexer *L, size_t pos) {
    if (L->n == 0) return 1;
    return L->ln[pos < L->n ? pos : L->n - 1];
}

static int push_tok(lexer *L, jtok_type type, const char *v, size_t n, int line) {
    if (L->ntok == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jtok *t = realloc(L->toks, cap * sizeof *t);
        if (!t) return -1;
        L->toks = t;
        L->cap = cap;
    }
    char *copy = ja_strndup(L->a, v, n);
    if (!copy) return -1;
    L->toks[L->ntok++] = (jtok){type, copy, n, line};
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_word(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* trimEnd() of the last text token; drop it when it becomes empty. */
static void strip_trailing(lexer *L) {
    if (!L->ntok || L->toks[L->ntok - 1].type != T_TEXT) return;
    jtok *t = &L->toks[L->ntok - 1];
    size_t sp;
    while ((sp = js_space_len_back(t->v, t->n))) t->n -= sp;
    ((char *)t->v)[t->n] = 0;
    if (t->n == 0) L->ntok--;
}

static void skip_leading(lexer *L) {
    size_t sp;
    while (L->pos < L->n && (sp = js_space_len(L->s + L->pos, L->n - L->pos))) L->pos += sp;
}

#define LEX_FAIL(...)                                    \
    do {                                                 \
        st = mx_jinja_error(lx_line(L, L->pos), __VA_ARGS__); \
        goto done;                                       \
    } while (0)

static const struct {
    const char *seq;
    jtok_type type;
} TABLE[] = {
    {"{%", T_OPEN_STMT}, {"%}", T_CLOSE_STMT}, {"{{", T_OPEN_EXPR}, {"}}", T_CLOSE_EXPR},
    {"(", T_LPAREN},     {")", T_RPAREN},      {"{", T_LBRACE},     {"}", T_RBRACE},
    {"[", T_LBRACKET},   {"]", T_RBRACKET},    {",", T_COMMA},      {".", T_DOT},
    {":", T_COLON},      {"|", T_PIPE},        {"<=", T_CMP},       {">=", T_CMP},
    {"==", T_CMP},       {"!=", T_CMP},        {"<", T_CMP},        {">", T_CMP},
    {"+", T_ADD},        {"-", T_ADD},         {"~", T_ADD},        {"**", T_POW},
    {"*", T_MUL},        {"//", T_MUL},        {"/", T_MUL},        {"%", T_MUL},
    {"=", T_EQUALS},
};

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

mixlm_status mx_jinja_lex(jarena *a, const char *src, size_t len, jtok **toks, size_t *ntok) {
    *toks = NULL;
    *ntok = 0;
    if (len > MX_JINJA_MAX_SOURCE)
        return mx_jinja_error(0, "template larger than %u bytes", MX_JINJA_MAX_SOURCE);
    ptext p = {0};
    if (preprocess(src, len, &p) != 0) {
        pt_free(&p);
        return mx_err(MIXLM_ERR_NOMEM, "template: out of memory");
    }
    lexer Ls = {a, p.s, p.ln, p.n, 0, NULL, 0, 0, 0}, *L = &Ls;
    mixlm_status st = MIXLM_OK;
    const char *s = L->s;
    size_t n = L->n;
    int curly = 0;
    char *str = NULL; /* scratch for string literals */
    while (L->pos < n) {
        jtok_type last = L->ntok ? L->toks[L->ntok - 1].type : (jtok_type)-1;
        if (L->ntok == 0 || last == T_CLOSE_STMT || last == T_CLOSE_EXPR || last == T_COMMENT) {
            size_t start = L->pos;
            while (L->pos < n && !(s[L->pos] == '{' && L->pos + 1 < n &&
                                   (s[L->pos + 1] == '%' || s[L->pos + 1] == '{' || s[L->pos + 1] == '#')))
                L->pos++;
            if (L->pos > start) {
                if (push_tok(L, T_TEXT, s + start, L->pos - start, lx_line(L, start))) goto oom;
                continue;
            }
        }
        int line = lx_line(L, L->pos);
        /* Comments */
        if (s[L->pos] == '{' && L->pos + 1 < n && s[L->pos + 1] == '#') {
            L->pos += 2;
            int strip_before = L->pos < n && s[L->pos] == '-';
            if (strip_before) L->pos++;
            size_t start = L->pos;
            while (!(L->pos + 1 < n && s[L->pos] == '#' && s[L->pos + 1] == '}')) {
                if (L->pos + 2 >= n) LEX_FAIL("missing end of comment tag #}");
                L->pos++;
            }
            size_t clen = L->pos - start;
            int strip_after = clen > 0 && s[start + clen - 1] == '-';
            if (strip_after) clen--;
            if (strip_before) strip_trailing(L);
            if (push_tok(L, T_COMMENT, s + start, clen, line)) goto oom;
            L->pos += 2;
            if (strip_after) skip_leading(L);
            continue;
        }
        if (n - L->pos >= 3 && !memcmp(s + L->pos, "{%-", 3)) {
            strip_trailing(L);
            if (push_tok(L, T_OPEN_STMT, "{%", 2, line)) goto oom;
            L->pos += 3;
            continue;
        }
        if (n - L->pos >= 3 && !memcmp(s + L->pos, "{{-", 3)) {
            strip_trailing(L);
            if (push_tok(L, T_OPEN_EXPR, "{{", 2, line)) goto oom;
            curly = 0;
            L->pos += 3;
            continue;
        }
        /* Whitespace inside a tag (the reference fails when it runs to the end of the input). */
        {
            size_t sp;
            while (L->pos < n && (sp = js_space_len(s + L->pos, n - L->pos))) {
                L->pos += sp;
                if (L->pos >= n) LEX_FAIL("unexpected end of template inside a tag");
            }
        }
        line = lx_line(L, L->pos);
        if (n - L->pos >= 3 && !memcmp(s + L->pos, "-%}", 3)) {
            if (push_tok(L, T_CLOSE_STMT, "%}", 2, line)) goto oom;
            L->pos += 3;
            skip_leading(L);
            continue;
        }
        if (n - L->pos >= 3 && !memcmp(s + L->pos, "-}}", 3)) {
            if (push_tok(L, T_CLOSE_EXPR, "}}", 2, line)) goto oom;
            L->pos += 3;
            skip_leading(L);
            continue;
        }
        char c = s[L->pos];
        if (c == '-' || c == '+') {
            last = L->ntok ? L->toks[L->ntok - 1].type : (jtok_type)-1;
            if (L->ntok == 0 || last == T_TEXT) LEX_FAIL("unexpected character '%c'", c);
            if (!(last == T_IDENT || last == T_NUM || last == T_STR || last == T_RPAREN ||
                  last == T_RBRACKET)) {
                /* A unary sign, possibly part of a number literal: (-1), [-1], not -x */
                size_t start = L->pos;
                L->pos++;
                size_t digits = L->pos;
                while (L->pos < n && is_digit(s[L->pos])) {
                    L->pos++;
                    if (L->pos >= n) LEX_FAIL("unexpected end of template");
                }
                int has_num = L->pos > digits;
                if (has_num && L->pos + 1 < n && s[L->pos] == '.' && is_digit(s[L->pos + 1])) {
                    L->pos++;
                    while (L->pos < n && is_digit(s[L->pos])) {
                        L->pos++;
                        if (L->pos >= n) LEX_FAIL("unexpected end of template");
                    }
                }
                if (push_tok(L, has_num ? T_NUM : T_UNARY, s + start, L->pos - start, line)) goto oom;
                continue;
            }
        }
        int matched = 0;
        for (size_t i = 0; i < MX_ARRAY_LEN(TABLE); i++) {
            if (TABLE[i].type == T_CLOSE_EXPR && curly > 0) continue;
            size_t sl = strlen(TABLE[i].seq);
            if (n - L->pos >= sl && !memcmp(s + L->pos, TABLE[i].seq, sl)) {
                if (push_tok(L, TABLE[i].type, TABLE[i].seq, sl, line)) goto oom;
                if (TABLE[i].type == T_OPEN_EXPR) curly = 0;
                else if (TABLE[i].type == T_LBRACE) curly++;
                else if (TABLE[i].type == T_RBRACE) curly--;
                L->pos += sl;
                matched = 1;
                break;
            }
        }
        if (matched) continue;
        if (c == '\'' || c == '"') {
            L->pos++;
            free(str);
            str = malloc(n - L->pos + 8);
            if (!str) goto oom;
            size_t sn = 0;
            while (1) {
                if (L->pos >= n) LEX_FAIL("unexpected end of template in a string");
                if (s[L->pos] == c) break;
                if (s[L->pos] == '\\') {
                    L->pos++;
                    if (L->pos >= n) LEX_FAIL("unexpected end of template in a string");
                    char e = s[L->pos++];
                    if (e == 'x' || e == 'u') {
                        size_t hl = e == 'x' ? 2 : 4;
                        uint32_t v = 0;
                        for (size_t k = 0; k < hl; k++) {
                            int h = L->pos + k < n ? hexval(s[L->pos + k]) : -1;
                            if (h < 0) LEX_FAIL("invalid hexadecimal escape sequence \\%c", e);
                            v = v * 16 + (uint32_t)h;
                        }
                        L->pos += hl;
                        /* A UTF-16 pair written as two \u escapes is one character. */
                        if (v >= 0xD800 && v <= 0xDBFF && n - L->pos >= 6 && s[L->pos] == '\\' &&
                            s[L->pos + 1] == 'u') {
                            uint32_t lo = 0;
                            int okh = 1;
                            for (size_t k = 0; k < 4; k++) {
                                int h = hexval(s[L->pos + 2 + k]);
                                if (h < 0) okh = 0;
                                lo = lo * 16 + (uint32_t)(h < 0 ? 0 : h);
                            }
                            if (okh && lo >= 0xDC00 && lo <= 0xDFFF) {
                                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                                L->pos += 6;
                            }
                        }
                        sn += utf8_encode(v, str + sn);
                        continue;
                    }
                    char u;
                    switch (e) {
                    case 'n': u = '\n'; break;
                    case 't': u = '\t'; break;
                    case 'r': u = '\r'; break;
                    case 'b': u = '\b'; break;
                    case 'f': u = '\f'; break;
                    case 'v': u = '\v'; break;
                    case '\'': u = '\''; break;
                    case '"': u = '"'; break;
                    case '\\': u = '\\'; break;
                    default: LEX_FAIL("unexpected escaped character '%c'", e);
                    }
                    str[sn++] = u;
                    continue;
                }
                str[sn++] = s[L->pos++];
                if (L->pos >= n) LEX_FAIL("unexpected end of template in a string");
            }
            L->pos++; /* closing quote */
            if (push_tok(L, T_STR, str, sn, line)) goto oom;
            continue;
        }
        if (is_digit(c)) {
            size_t start = L->pos;
            while (L->pos < n && is_digit(s[L->pos])) {
                L->pos++;
                if (L->pos >= n) LEX_FAIL("unexpected end of template");
            }
            int after_dot = L->ntok && L->toks[L->ntok - 1].type == T_DOT;
            if (!after_dot && L->pos + 1 < n && s[L->pos] == '.' && is_digit(s[L->pos + 1])) {
                L->pos++;
                while (L->pos < n && is_digit(s[L->pos])) {
                    L->pos++;
                    if (L->pos >= n) LEX_FAIL("unexpected end of template");
                }
            }
            if (push_tok(L, T_NUM, s + start, L->pos - start, line)) goto oom;
            continue;
        }
        if (is_word(c)) {
            size_t start = L->pos;
            while (L->pos < n && is_word(s[L->pos])) {
                L->pos++;
                if (L->pos >= n) LEX_FAIL("unexpected end of template");
            }
            if (push_tok(L, T_IDENT, s + start, L->pos - start, line)) goto oom;
            continue;
        }
        if ((unsigned char)c >= 0x80) {
            size_t used;
            uint32_t cp = utf8_decode(s + L->pos, n - L->pos, &used);
            LEX_FAIL("unexpected character U+%04X", (unsigned)cp);
        }
        LEX_FAIL("unexpected character '%c'", c);
    }
    goto done;
oom:
    st = mx_err(MIXLM_ERR_NOMEM, "template: out of memory");
done:
    free(str);
    pt_free(&p);
    if (st != MIXLM_OK) {
        free(L->toks);
        return st;
    }
    *toks = L->toks;
    *ntok = L->ntok;
    return MIXLM_OK;
}
