/* tok_regex.c: tokenizer.json regular expressions on PCRE2, rewritten to JavaScript semantics
 * (see tok_regex.h). */
#include "text/tok_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>

struct tok_regex {
    pcre2_code *code;   /* NULL for a literal */
    int jit;
    char *lit;
    size_t lit_len;
};

struct tok_match {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
};

int tok_js_space(uint32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D || c == 0x20 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

#define JS_SPACE_SET "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"
#define JS_DIGIT_SET "0-9"
#define JS_WORD_SET "A-Za-z0-9_"

/* The reference replaces this group (JavaScript has no inline flags) with an explicit one; the
 * two differ on U+017F and U+212A, which PCRE2's caseless matching folds to s and k. */
static const char CONTRACTIONS_I[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
static const char CONTRACTIONS_JS[] = "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))";

static void rewrite(mx_buf *o, const char *p, size_t n) {
    int in_class = 0;
    size_t cl = sizeof CONTRACTIONS_I - 1;
    for (size_t i = 0; i < n;) {
        if (!in_class && n - i >= cl && !memcmp(p + i, CONTRACTIONS_I, cl)) {
            mx_buf_puts(o, CONTRACTIONS_JS);
            i += cl;
            continue;
        }
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char e = p[i + 1];
            const char *set = NULL;
            int neg = 0;
            switch (e) {
            case 's': set = JS_SPACE_SET; break;
            case 'S': set = JS_SPACE_SET; neg = 1; break;
            case 'd': set = JS_DIGIT_SET; break;
            case 'D': set = JS_DIGIT_SET; neg = 1; break;
            case 'w': set = JS_WORD_SET; break;
            case 'W': set = JS_WORD_SET; neg = 1; break;
            default: break;
            }
            if (set && !in_class) {
                mx_buf_puts(o, neg ? "[^" : "[");
                mx_buf_puts(o, set);
                mx_buf_putc(o, ']');
                i += 2;
                continue;
            }
            if (set && in_class && !neg) {
                mx_buf_puts(o, set);
                i += 2;
                continue;
            }
            /* A negated set inside a class cannot be spelled out; PCRE2's own meaning is kept. */
            if (e == 'u' && i + 6 <= n) {
                int ok = 1;
                for (int k = 2; k < 6; k++) {
                    char h = p[i + (size_t)k];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) ok = 0;
                }
                if (ok) {
                    mx_buf_puts(o, "\\x{");
                    mx_buf_append(o, p + i + 2, 4);
                    mx_buf_putc(o, '}');
                    i += 6;
                    continue;
                }
            }
            mx_buf_append(o, p + i, 2);
            i += 2;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            mx_buf_putc(o, c);
            i++;
            if (i < n && p[i] == '^') { mx_buf_putc(o, '^'); i++; }
            continue;
        }
        if (c == ']' && in_class) in_class = 0;
        mx_buf_putc(o, c);
        i++;
    }
}

mixlm_status tok_regex_compile(const char *pattern, size_t pattern_len, int literal, tok_regex **out) {
    *out = NULL;
    tok_regex *re = mx_calloc(1, sizeof *re);
    if (!re) return MIXLM_ERR_NOMEM;
    if (literal) {
        if (pattern_len == 0) { free(re); return mx_err(MIXLM_ERR_FORMAT, "empty pattern"); }
        re->lit = mx_strndup(pattern, pattern_len);
        if (!re->lit) { free(re); return MIXLM_ERR_NOMEM; }
        re->lit_len = pattern_len;
        *out = re;
        return MIXLM_OK;
    }
    mx_buf b = {0};
    rewrite(&b, pattern, pattern_len);
    if (b.failed) { mx_buf_free(&b); free(re); return mx_err(MIXLM_ERR_NOMEM, "out of memory"); }
    int err = 0;
    PCRE2_SIZE eoff = 0;
    re->code = pcre2_compile((PCRE2_SPTR)(b.data ? b.data : ""), b.len, PCRE2_UTF | PCRE2_UCP, &err, &eoff, NULL);
    mx_buf_free(&b);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        free(re);
        return mx_err(MIXLM_ERR_FORMAT, "bad regular expression \"%.*s\": %s", (int)MX_MIN(pattern_len, 200),
                      pattern, (const char *)msg);
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    *out = re;
    return MIXLM_OK;
}

void tok_regex_free(tok_regex *re) {
    if (!re) return;
    if (re->code) pcre2_code_free(re->code);
    free(re->lit);
    free(re);
}

/* The PCRE2 parts are made on the first regular-expression match: most calls (literal patterns,
 * decoders without regexes) never need them. */
tok_match *tok_match_new(void) { return mx_calloc(1, sizeof(tok_match)); }

static int match_ready(tok_match *m) {
    if (m->md) return 1;
    m->md = pcre2_match_data_create(1, NULL);
    m->mc = pcre2_match_context_create(NULL);
    /* Long runs of whitespace drive the backtracking of \s+(?!\S) deep; 32 KiB (the default)
     * is not enough for megabyte inputs. */
    m->js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!m->md || !m->mc || !m->js) {
        if (m->md) pcre2_match_data_free(m->md);
        if (m->mc) pcre2_match_context_free(m->mc);
        if (m->js) pcre2_jit_stack_free(m->js);
        m->md = NULL;
        m->mc = NULL;
        m->js = NULL;
        return 0;
    }
    pcre2_jit_stack_assign(m->mc, NULL, m->js);
    return 1;
}

void tok_match_free(tok_match *m) {
    if (!m) return;
    if (m->md) pcre2_match_data_free(m->md);
    if (m->mc) pcre2_match_context_free(m->mc);
    if (m->js) pcre2_jit_stack_free(m->js);
    free(m);
}

int tok_regex_find(const tok_regex *re, tok_match *m, const char *s, size_t n, size_t start, size_t *ms,
                   size_t *me) {
    if (start > n) return 0;
    if (re->lit) {
        if (n - start < re->lit_len) return 0;
        const char *end = s + n - re->lit_len;
        for (const char *q = s + start; q <= end; q++) {
            q = memchr(q, re->lit[0], (size_t)(end - q) + 1);
            if (!q) return 0;
            if (!memcmp(q, re->lit, re->lit_len)) {
                *ms = (size_t)(q - s);
                *me = *ms + re->lit_len;
                return 1;
            }
        }
        return 0;
    }
    if (!match_ready(m)) return -1;
    int rc;
    if (re->jit)
        rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, m->md, m->mc);
    else
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, m->md, m->mc);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0 && rc != 0) return -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}
