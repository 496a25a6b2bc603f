/* jinja_eval.c: the Jinja interpreter: evaluates the syntax tree with the reference's value
 * semantics (JS numbers and equality, Python-like truthiness, its filters, tests and methods),
 * under limits on steps, depth, memory and output. */
#define _POSIX_C_SOURCE 200809L
#include "text/jinja_value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

enum { R_OK = 0, R_ERR = 1, R_BREAK = 2, R_CONT = 3 };

#define DEFAULT_MAX_OUTPUT (64ull << 20)
#define DEFAULT_MAX_STEPS 50000000ull
#define DEFAULT_MAX_MEMORY (1ull << 30)
#define DEFAULT_MAX_DEPTH 256u
#define MAX_RANGE 10000000.0
#define MAX_VALUE_DEPTH 512

/* ==== Context, errors, string builder ======================================================== */

typedef struct ctx {
    jarena *A;
    mx_jinja_opts o;
    uint64_t steps;
    uint32_t depth;
    int has_err;
    int err_line;
    char err[512];
} ctx;

static int fail(ctx *C, int line, const char *fmt, ...) MX_PRINTF(3, 4);
static int fail(ctx *C, int line, const char *fmt, ...) {
    if (!C->has_err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(C->err, sizeof C->err, fmt, ap);
        va_end(ap);
        C->has_err = 1;
        C->err_line = line;
    }
    return R_ERR;
}

static int oom(ctx *C, int line) {
    return fail(C, line, "template exceeds its memory limit (%llu bytes)",
                (unsigned long long)C->o.max_memory);
}

typedef struct sb {
    char *p;
    size_t n, cap;
    uint64_t limit;
    int failed;  /* 1 = allocation, 2 = limit */
} sb;

static void sb_init(ctx *C, sb *b) {
    memset(b, 0, sizeof *b);
    b->limit = C->o.max_output;
}

static void sb_add(sb *b, const char *s, size_t n) {
    if (b->failed || n == 0) return;
    if (n > b->limit || b->n > b->limit - n) {
        b->failed = 2;
        return;
    }
    if (b->cap - b->n <= n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n <= n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sb *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_putc(sb *b, char c) { sb_add(b, &c, 1); }
static void sb_free(sb *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int sb_check(ctx *C, sb *b, int line) {
    if (!b->failed) return R_OK;
    if (b->failed == 2)
        return fail(C, line, "output exceeds the limit of %llu bytes",
                    (unsigned long long)C->o.max_output);
    return fail(C, line, "out of memory");
}

/* ==== Values ================================================================================ */

static jv v_undef(void) { jv v = {0}; v.t = V_UNDEF; return v; }
/* A raw JS undefined (what the reference's `[] | first` yields): it turns into an ordinary
 * undefined when stored in a variable or read back from a list or object, and fails wherever
 * it is used directly. */
static jv v_raw_undef(void) { jv v = {0}; v.t = V_UNDEF; v.u.b = 1; return v; }
static int is_raw(jv v) { return v.t == V_UNDEF && v.u.b; }
static jv cooked(jv v) { if (is_raw(v)) v.u.b = 0; return v; }
static int use(ctx *C, jv v, int line) {
    return is_raw(v) ? fail(C, line, "cannot use the result of first/last of an empty list") : R_OK;
}
static jv v_null(void) { jv v = {0}; v.t = V_NULL; return v; }
static jv v_bool(int b) { jv v = {0}; v.t = V_BOOL; v.u.b = !!b; return v; }
static jv v_int(double n) { jv v = {0}; v.t = V_INT; v.u.n = n; return v; }
static jv v_float(double n) { jv v = {0}; v.t = V_FLOAT; v.u.n = n; return v; }
static jv v_str_ref(const char *p, size_t n) {
    jv v = {0};
    v.t = V_STR;
    v.u.s.p = p ? p : "";
    v.u.s.len = n;
    return v;
}
static jv v_str(ctx *C, const char *p, size_t n) {
    char *c = ja_strndup(C->A, p ? p : "", n);
    return v_str_ref(c ? c : "", c ? n : 0);
}
/* Take a builder's text as a string value (the builder is freed). */
static int v_from_sb(ctx *C, sb *b, int line, jv *out) {
    int r = sb_check(C, b, line);
    if (r == R_OK) *out = v_str(C, b->p, b->n);
    sb_free(b);
    if (r == R_OK && C->A->failed) r = oom(C, line);
    return r;
}

static jarr *arr_new(ctx *C, size_t n) {
    jarr *a = ja_alloc(C->A, sizeof *a);
    if (!a) return NULL;
    if (n) {
        uint64_t bytes;
        if (!mx_mul_ok(n, sizeof(jv), &bytes) || bytes > SIZE_MAX || !(a->v = ja_alloc(C->A, (size_t)bytes)))
            return NULL;
    }
    a->n = n;
    return a;
}
static jv v_arr(jarr *a) {
    jv v = {0};
    v.t = V_ARR;
    v.u.a = a;
    return v;
}

static jobj *obj_new(ctx *C, okind kind) {
    jobj *o = ja_alloc(C->A, sizeof *o);
    if (o) o->kind = kind;
    return o;
}
static jv v_obj(jobj *o) {
    jv v = {0};
    v.t = V_OBJ;
    v.u.o = o;
    return v;
}

static jv *obj_get(const jobj *o, const char *k, size_t n) {
    for (size_t i = 0; i < o->n; i++)
        if (o->k[i].len == n && !memcmp(o->k[i].p, k, n)) return &o->v[i];
    return NULL;
}

/* Map.set: replace in place or append. Key bytes must outlive the object (arena or AST). */
static int obj_set(ctx *C, jobj *o, const char *k, size_t n, jv v) {
    jv *slot = obj_get(o, k, n);
    if (slot) {
        *slot = v;
        return 0;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        jkey *nk = ja_alloc(C->A, cap * sizeof *nk);
        jv *nv = ja_alloc(C->A, cap * sizeof *nv);
        if (!nk || !nv) return -1;
        if (o->n) {
            memcpy(nk, o->k, o->n * sizeof *nk);
            memcpy(nv, o->v, o->n * sizeof *nv);
        }
        o->k = nk;
        o->v = nv;
        o->cap = cap;
    }
    o->k[o->n] = (jkey){k, n};
    o->v[o->n++] = v;
    return 0;
}

static jv v_fn(ctx *C, fkind kind, int method, jv self) {
    jfn *f = ja_alloc(C->A, sizeof *f);
    if (!f) return v_undef();
    f->kind = kind;
    f->method = method;
    f->self = self;
    jv v = {0};
    v.t = V_FUNC;
    v.u.f = f;
    return v;
}

static const char *tname(jv v) {
    switch (v.t) {
    case V_UNDEF: return "undefined";
    case V_NULL: return "none";
    case V_BOOL: return "boolean";
    case V_INT: return "integer";
    case V_FLOAT: return "float";
    case V_STR: return "string";
    case V_ARR: return v.u.a->tuple ? "tuple" : "list";
    case V_OBJ: return v.u.o->kind == O_NS ? "namespace" : v.u.o->kind == O_KWARGS ? "keyword arguments" : "object";
    case V_FUNC: return "function";
    }
    return "?";
}

static int is_num(jv v) { return v.t == V_INT || v.t == V_FLOAT; }
static int is_numlike(jv v) { return v.t == V_INT || v.t == V_FLOAT || v.t == V_BOOL; }
static double numlike(jv v) { return v.t == V_BOOL ? (double)v.u.b : v.u.n; }
static int is_mapping(jv v) { return v.t == V_OBJ && v.u.o->kind != O_NS; } /* instanceof ObjectValue */
static int is_container(jv v) { return v.t == V_OBJ; } /* ObjectValue or NamespaceValue */

/* __bool__ */
static int truthy(jv v) {
    switch (v.t) {
    case V_UNDEF: case V_NULL: return 0;
    case V_BOOL: return v.u.b;
    case V_INT: case V_FLOAT: return v.u.n != 0 && !isnan(v.u.n);
    case V_STR: return v.u.s.len > 0;
    case V_ARR: return v.u.a->n > 0;
    case V_OBJ: return v.u.o->kind == O_NS ? 1 : v.u.o->n > 0;
    case V_FUNC: return 1;
    }
    return 0;
}

/* JS truthiness of the raw .value (containers are JS objects: always true). */
static int raw_truthy(jv v) {
    if (v.t == V_ARR || v.t == V_OBJ || v.t == V_FUNC) return 1;
    return truthy(v);
}

/* ==== Text helpers with JS semantics ========================================================== */

static size_t utf16_len(const char *s, size_t n) {
    size_t units = 0;
    for (size_t i = 0; i < n;) {
        size_t used;
        uint32_t c = utf8_decode(s + i, n - i, &used);
        units += c >= 0x10000 ? 2 : 1;
        i += used;
    }
    return units;
}

static void trim_js(const char **p, size_t *n, int start, int end) {
    size_t sp;
    if (start)
        while (*n && (sp = js_space_len(*p, *n))) {
            *p += sp;
            *n -= sp;
        }
    if (end)
        while (*n && (sp = js_space_len_back(*p, *n))) *n -= sp;
}

/* toUpperCase / toLowerCase (utf8proc's simple mappings plus the common full mappings). */
static void case_map(sb *b, const char *s, size_t n, int upper) {
    for (size_t i = 0; i < n;) {
        size_t used;
        uint32_t c = utf8_decode(s + i, n - i, &used);
        if (c == 0xFFFD && used == 1 && (unsigned char)s[i] >= 0x80) {
            sb_add(b, s + i, 1);
            i++;
            continue;
        }
        i += used;
        if (upper && c == 0xDF) {
            sb_puts(b, "SS");
            continue;
        }
        if (!upper && c == 0x130) {
            sb_puts(b, "i\xCC\x87");
            continue;
        }
        uint32_t m = (uint32_t)(upper ? utf8proc_toupper((utf8proc_int32_t)c) : utf8proc_tolower((utf8proc_int32_t)c));
        char buf[4];
        sb_add(b, buf, utf8_encode(m, buf));
    }
}

/* Compare strings in UTF-16 code unit order (JS < on strings). */
static int cmp_utf16(const char *a, size_t an, const char *b, size_t bn) {
    size_t i = 0, j = 0;
    while (i < an && j < bn) {
        size_t ua, ub;
        uint32_t ca = utf8_decode(a + i, an - i, &ua), cb = utf8_decode(b + j, bn - j, &ub);
        if (ca != cb) {
            uint32_t ka = ca >= 0x10000 ? 0xD800 + ((ca - 0x10000) >> 10) : ca;
            uint32_t kb = cb >= 0x10000 ? 0xD800 + ((cb - 0x10000) >> 10) : cb;
            if (ka != kb) return ka < kb ? -1 : 1;
            uint32_t la = ca >= 0x10000 ? 0xDC00 + ((ca - 0x10000) & 0x3FF) : 0;
            uint32_t lb = cb >= 0x10000 ? 0xDC00 + ((cb - 0x10000) & 0x3FF) : 0;
            return la < lb ? -1 : 1;
        }
        i += ua;
        j += ub;
    }
    return (i < an) - (j < bn);
}

/* JS ToNumber(string). */
static double js_str_to_num(const char *s, size_t n) {
    trim_js(&s, &n, 1, 1);
    if (n == 0) return 0;
    char buf[400];
    if (n >= sizeof buf) return NAN;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (n > 2 && buf[0] == '0' && strchr("xXoObB", buf[1])) {
        int base = (buf[1] == 'x' || buf[1] == 'X') ? 16 : (buf[1] == 'o' || buf[1] == 'O') ? 8 : 2;
        double v = 0;
        for (size_t i = 2; i < n; i++) {
            int d = buf[i] >= '0' && buf[i] <= '9' ? buf[i] - '0'
                    : buf[i] >= 'a' && buf[i] <= 'f' ? buf[i] - 'a' + 10
                    : buf[i] >= 'A' && buf[i] <= 'F' ? buf[i] - 'A' + 10 : 99;
            if (d >= base) return NAN;
            v = v * base + d;
        }
        return v;
    }
    const char *p = buf;
    int neg = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    if (!strcmp(p, "Infinity")) return neg ? -INFINITY : INFINITY;
    /* StrDecimalLiteral: digits [. digits] | . digits, then optional exponent */
    const char *q = p;
    int digits = 0;
    while (*q >= '0' && *q <= '9') q++, digits++;
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9') q++, digits++;
    }
    if (!digits) return NAN;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-') q++;
        if (!(*q >= '0' && *q <= '9')) return NAN;
        while (*q >= '0' && *q <= '9') q++;
    }
    if (*q) return NAN;
    return strtod(buf, NULL);
}

/* parseInt(s, 10) / parseFloat(s): the longest valid prefix after leading whitespace. */
static double js_parse_num(const char *s, size_t n, int is_float) {
    trim_js(&s, &n, 1, 0);
    char buf[400];
    size_t k = 0;
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) buf[k++] = s[i++];
    if (is_float && n - i >= 8 && !memcmp(s + i, "Infinity", 8)) return buf[0] == '-' ? -INFINITY : INFINITY;
    int digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && k < sizeof buf - 8) buf[k++] = s[i++], digits++;
    if (is_float) {
        if (i < n && s[i] == '.') {
            buf[k++] = s[i++];
            while (i < n && s[i] >= '0' && s[i] <= '9' && k < sizeof buf - 8) buf[k++] = s[i++], digits++;
        }
        if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
            size_t save = k, si = i;
            buf[k++] = s[i++];
            if (i < n && (s[i] == '+' || s[i] == '-')) buf[k++] = s[i++];
            int ed = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9' && k < sizeof buf - 2) buf[k++] = s[i++], ed++;
            if (!ed) {
                k = save;
                i = si;
            }
        }
    }
    if (!digits) return NAN;
    buf[k] = 0;
    return strtod(buf, NULL);
}

/* ==== Conversions to text ===================================================================== */

typedef struct json_opts {
    int indent;        /* 0 = none */
    int ensure_ascii;
    int sort_keys;
    const char *item_sep, *key_sep;
    size_t item_sep_n, key_sep_n;
} json_opts;

static void json_quote(sb *b, const char *s, size_t n, int ensure_ascii) {
    sb_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            i++;
            switch (c) {
            case '"': sb_puts(b, "\\\""); break;
            case '\\': sb_puts(b, "\\\\"); break;
            case '\b': sb_puts(b, "\\b"); break;
            case '\f': sb_puts(b, "\\f"); break;
            case '\n': sb_puts(b, "\\n"); break;
            case '\r': sb_puts(b, "\\r"); break;
            case '\t': sb_puts(b, "\\t"); break;
            default:
                if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
                    char e[8];
                    snprintf(e, sizeof e, "\\u%04x", c);
                    sb_puts(b, e);
                } else {
                    sb_putc(b, (char)c);
                }
            }
            continue;
        }
        size_t used;
        uint32_t cp = utf8_decode(s + i, n - i, &used);
        if (!ensure_ascii) {
            sb_add(b, s + i, used);
        } else {
            char e[16];
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(e, sizeof e, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else {
                snprintf(e, sizeof e, "\\u%04x", cp);
            }
            sb_puts(b, e);
        }
        i += used;
    }
    sb_putc(b, '"');
}

static void put_num(sb *b, double v) {
    char buf[40];
    js_num_str(v, buf);
    sb_puts(b, buf);
}

/* FloatValue.toString(): integral floats keep one decimal ("1.0"), -0 is "-0.0". */
static void put_float_display(sb *b, double v) {
    if (v == 0 && signbit(v)) {
        sb_puts(b, "-0.0");
        return;
    }
    if (isfinite(v) && fmod(v, 1.0) == 0) {
        if (fabs(v) >= 1e21) {
            put_num(b, v);
        } else {
            char buf[400];
            snprintf(buf, sizeof buf, "%.1f", v);
            sb_puts(b, buf);
        }
        return;
    }
    put_num(b, v);
}

/* localeCompare stand-in for sort_keys: case-insensitive first, then code units. */
static int key_cmp(const jkey *a, const jkey *b) {
    sb x = {0}, y = {0};
    x.limit = y.limit = UINT64_MAX;
    case_map(&x, a->p, a->len, 0);
    case_map(&y, b->p, b->len, 0);
    int r = cmp_utf16(x.p ? x.p : "", x.n, y.p ? y.p : "", y.n);
    sb_free(&x);
    sb_free(&y);
    if (r == 0) r = -cmp_utf16(a->p, a->len, b->p, b->len);
    return r;
}

static int to_json(ctx *C, jv v, sb *b, const json_opts *o, int depth, int undef_null, int line) {
    if (depth > MAX_VALUE_DEPTH) return fail(C, line, "value nested too deeply (or cyclic) for JSON");
    if (is_raw(v)) return use(C, v, line);
    switch (v.t) {
    case V_NULL: sb_puts(b, "null"); return R_OK;
    case V_UNDEF: sb_puts(b, undef_null ? "null" : "undefined"); return R_OK;
    case V_BOOL: sb_puts(b, v.u.b ? "true" : "false"); return R_OK;
    case V_INT:
    case V_FLOAT:
        if (isfinite(v.u.n)) put_num(b, v.u.n);
        else sb_puts(b, "null");
        return R_OK;
    case V_STR: json_quote(b, v.u.s.p, v.u.s.len, o->ensure_ascii); return R_OK;
    case V_FUNC: return fail(C, line, "cannot convert a function to JSON");
    case V_ARR:
    case V_OBJ: break;
    }
    if (v.t == V_ARR && v.u.a->tuple) return fail(C, line, "cannot convert a tuple to JSON");
    if (v.t == V_OBJ && v.u.o->kind == O_KWARGS)
        return fail(C, line, "cannot convert keyword arguments to JSON");
    /* "\n" + indent*depth, and one level deeper for children */
#define PAD(d)                                                          \
    do {                                                                \
        sb_putc(b, '\n');                                               \
        for (long long i_ = 0; i_ < (long long)o->indent * (d) && !b->failed; i_++) sb_putc(b, ' '); \
    } while (0)
    if (v.t == V_ARR) {
        const jarr *a = v.u.a;
        sb_putc(b, '[');
        for (size_t i = 0; i < a->n; i++) {
            if (i) sb_add(b, o->item_sep, o->item_sep_n);
            if (o->indent) PAD(depth + 1);
            int r = to_json(C, a->v[i], b, o, depth + 1, undef_null, line);
            if (r) return r;
            if (b->failed) return sb_check(C, b, line);
        }
        if (o->indent && a->n) PAD(depth);
        sb_putc(b, ']');
        return R_OK;
    }
    const jobj *ob = v.u.o;
    size_t *order = NULL;
    if (o->sort_keys && ob->n > 1) {
        order = malloc(ob->n * sizeof *order);
        if (!order) return fail(C, line, "out of memory");
        for (size_t i = 0; i < ob->n; i++) order[i] = i;
        for (size_t i = 1; i < ob->n; i++) /* insertion sort: stable, objects are small */
            for (size_t j = i; j > 0 && key_cmp(&ob->k[order[j - 1]], &ob->k[order[j]]) > 0; j--) {
                size_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    }
    sb_putc(b, '{');
    int r = R_OK;
    for (size_t i = 0; i < ob->n && r == R_OK; i++) {
        size_t k = order ? order[i] : i;
        if (i) sb_add(b, o->item_sep, o->item_sep_n);
        if (o->indent) PAD(depth + 1);
        json_quote(b, ob->k[k].p, ob->k[k].len, o->ensure_ascii);
        sb_add(b, o->key_sep, o->key_sep_n);
        r = to_json(C, ob->v[k], b, o, depth + 1, undef_null, line);
        if (r == R_OK && b->failed) r = sb_check(C, b, line);
    }
    free(order);
    if (r) return r;
    if (o->indent && ob->n) PAD(depth);
    sb_putc(b, '}');
#undef PAD
    return R_OK;
}

static const json_opts JSON_DEFAULT = {0, 0, 0, ", ", ": ", 2, 2};

/* RuntimeValue.toString(): what {{ value }} prints. */
static int display(ctx *C, jv v, sb *b, int line) {
    switch (v.t) {
    /* the reference's NullValue holds JS undefined, so it prints like undefined */
    case V_UNDEF:
    case V_NULL: sb_puts(b, "undefined"); return R_OK;
    case V_BOOL: sb_puts(b, v.u.b ? "true" : "false"); return R_OK;
    case V_INT: put_num(b, v.u.n); return R_OK;
    case V_FLOAT: put_float_display(b, v.u.n); return R_OK;
    case V_STR: sb_add(b, v.u.s.p, v.u.s.len); return R_OK;
    case V_ARR:
    case V_OBJ: return to_json(C, v, b, &JSON_DEFAULT, 0, 0, line);
    case V_FUNC: return fail(C, line, "cannot print a function");
    }
    return R_OK;
}

/* String(value.value): the JS-level text used by `~`, `+` and join (JS numbers print without
 * ".0"; arrays join their elements' display text with ","; maps print "[object Map]"). In join
 * mode none and undefined are empty, as Array.prototype.join does. */
static int js_text(ctx *C, jv v, sb *b, int line, int join_mode, int depth) {
    if (depth > MAX_VALUE_DEPTH) return fail(C, line, "value nested too deeply");
    switch (v.t) {
    case V_UNDEF: if (!join_mode) sb_puts(b, "undefined"); return R_OK;
    case V_NULL: if (!join_mode) sb_puts(b, "undefined"); return R_OK;
    case V_BOOL: sb_puts(b, v.u.b ? "true" : "false"); return R_OK;
    case V_INT: case V_FLOAT: put_num(b, v.u.n); return R_OK;
    case V_STR: sb_add(b, v.u.s.p, v.u.s.len); return R_OK;
    case V_ARR:
        for (size_t i = 0; i < v.u.a->n; i++) {
            if (i) sb_putc(b, ',');
            int r = display(C, v.u.a->v[i], b, line);
            if (r) return r;
        }
        return R_OK;
    case V_OBJ: sb_puts(b, "[object Map]"); return R_OK;
    case V_FUNC: return fail(C, line, "cannot convert a function to text");
    }
    return R_OK;
}

/* ==== Equality and ordering =================================================================== */

static jv to_primitive(ctx *C, jv v, int line, int *err) {
    sb b;
    sb_init(C, &b);
    *err = js_text(C, v, &b, line, 0, 0);
    jv out = v_undef();
    if (!*err) *err = v_from_sb(C, &b, line, &out);
    else sb_free(&b);
    return out;
}

/* JS `==` on the raw values. */
static int loose_eq(ctx *C, jv a, jv b, int line, int *res) {
    for (int guard = 0; guard < 4; guard++) {
        int an = a.t == V_UNDEF || a.t == V_NULL, bn = b.t == V_UNDEF || b.t == V_NULL;
        if (an || bn) {
            *res = an && bn;
            return R_OK;
        }
        if (is_num(a) && is_num(b)) { *res = a.u.n == b.u.n; return R_OK; }
        if (a.t == V_STR && b.t == V_STR) {
            *res = a.u.s.len == b.u.s.len && !memcmp(a.u.s.p, b.u.s.p, a.u.s.len);
            return R_OK;
        }
        if (a.t == V_BOOL && b.t == V_BOOL) { *res = a.u.b == b.u.b; return R_OK; }
        int ao = a.t == V_ARR || a.t == V_OBJ || a.t == V_FUNC;
        int bo = b.t == V_ARR || b.t == V_OBJ || b.t == V_FUNC;
        if (ao && bo) {
            *res = a.t == b.t && (a.t == V_ARR ? a.u.a == b.u.a : a.t == V_OBJ ? a.u.o == b.u.o : a.u.f == b.u.f);
            return R_OK;
        }
        if (a.t == V_BOOL) { a = v_int(a.u.b); continue; }
        if (b.t == V_BOOL) { b = v_int(b.u.b); continue; }
        if (is_num(a) && b.t == V_STR) { *res = a.u.n == js_str_to_num(b.u.s.p, b.u.s.len); return R_OK; }
        if (a.t == V_STR && is_num(b)) { *res = b.u.n == js_str_to_num(a.u.s.p, a.u.s.len); return R_OK; }
        int err = 0;
        if (ao) a = to_primitive(C, a, line, &err);
        else if (bo) b = to_primitive(C, b, line, &err);
        if (err) return err;
    }
    *res = 0;
    return R_OK;
}

/* JS `===` on the raw values. */
static int strict_eq(jv a, jv b) {
    if (is_num(a) && is_num(b)) return a.u.n == b.u.n;
    /* none and undefined both hold JS undefined in the reference */
    if ((a.t == V_NULL || a.t == V_UNDEF) && (b.t == V_NULL || b.t == V_UNDEF)) return 1;
    if (a.t != b.t) return 0;
    switch (a.t) {
    case V_UNDEF: case V_NULL: return 1;
    case V_BOOL: return a.u.b == b.u.b;
    case V_STR: return a.u.s.len == b.u.s.len && !memcmp(a.u.s.p, b.u.s.p, a.u.s.len);
    case V_ARR: return a.u.a == b.u.a;
    case V_OBJ: return a.u.o == b.u.o;
    case V_FUNC: return a.u.f == b.u.f;
    default: return 0;
    }
}

/* compareRuntimeValues() for sort and dictsort. */
static int compare_values(ctx *C, jv a, jv b, int case_sensitive, int line, int *res) {
    if (a.t == V_NULL && b.t == V_NULL) { *res = 0; return R_OK; }
    if (a.t == V_NULL || b.t == V_NULL || ((a.t == V_UNDEF) != (b.t == V_UNDEF)))
        return fail(C, line, "cannot compare %s with %s", tname(a), tname(b));
    if (a.t == V_UNDEF) { *res = 0; return R_OK; }
    if (is_numlike(a) && is_numlike(b)) {
        double x = numlike(a), y = numlike(b);
        *res = x < y ? -1 : x > y ? 1 : 0;
        return R_OK;
    }
    if (a.t != b.t || (a.t == V_ARR && a.u.a->tuple != b.u.a->tuple) ||
        (a.t == V_OBJ && a.u.o->kind != b.u.o->kind))
        return fail(C, line, "cannot compare different types: %s and %s", tname(a), tname(b));
    if (a.t != V_STR) return fail(C, line, "cannot compare values of type %s", tname(a));
    if (case_sensitive) {
        *res = cmp_utf16(a.u.s.p, a.u.s.len, b.u.s.p, b.u.s.len);
        return R_OK;
    }
    sb x, y;
    sb_init(C, &x);
    sb_init(C, &y);
    case_map(&x, a.u.s.p, a.u.s.len, 0);
    case_map(&y, b.u.s.p, b.u.s.len, 0);
    int r = sb_check(C, &x, line);
    if (!r) r = sb_check(C, &y, line);
    if (!r) *res = cmp_utf16(x.p ? x.p : "", x.n, y.p ? y.p : "", y.n);
    sb_free(&x);
    sb_free(&y);
    return r;
}

/* Stable merge sort whose comparison may fail. keyf extracts the sort key of an element. */
typedef struct sort_spec {
    int case_sensitive, reverse;
    const char *attr;  /* dotted attribute path or NULL */
    size_t attr_n;
    int by_value;      /* dictsort: compare element [1] instead of [0] */
    int pairs;         /* elements are [key, value] pairs */
} sort_spec;

static jv attr_path(jv item, const char *path, size_t n);

static jv sort_key(jv v, const sort_spec *s) {
    if (s->pairs) return v.u.a->v[s->by_value ? 1 : 0];
    if (s->attr) return attr_path(v, s->attr, s->attr_n);
    return v;
}

static int msort(ctx *C, jv *v, jv *tmp, size_t n, const sort_spec *s, int line) {
    if (n < 2) return R_OK;
    size_t h = n / 2;
    int r = msort(C, v, tmp, h, s, line);
    if (!r) r = msort(C, v + h, tmp, n - h, s, line);
    if (r) return r;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c = 0;
        r = compare_values(C, sort_key(v[i], s), sort_key(v[j], s), s->case_sensitive, line, &c);
        if (r) return r;
        if (s->reverse) c = -c;
        tmp[k++] = c <= 0 ? v[i++] : v[j++];
    }
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
    return R_OK;
}

static int sort_values(ctx *C, const jarr *in, const sort_spec *s, int line, jv *out) {
    jarr *a = arr_new(C, in->n);
    jv *tmp = in->n ? ja_alloc(C->A, in->n * sizeof *tmp) : NULL;
    if (!a || (in->n && !tmp)) return oom(C, line);
    if (in->n) memcpy(a->v, in->v, in->n * sizeof(jv));
    int r = msort(C, a->v, tmp, a->n, s, line);
    if (r) return r;
    *out = v_arr(a);
    return R_OK;
}

/* getAttributeValue(): "a.b.0" through objects and arrays. */
static jv attr_path(jv item, const char *path, size_t n) {
    jv v = item;
    size_t i = 0;
    while (1) {
        size_t j = i;
        while (j < n && path[j] != '.') j++;
        if (is_container(v)) {
            jv *slot = obj_get(v.u.o, path + i, j - i);
            v = slot ? *slot : v_undef();
        } else if (v.t == V_ARR) {
            /* parseInt(part, 10) */
            double idx = js_parse_num(path + i, j - i, 0);
            if (isnan(idx) || idx < 0 || idx >= (double)v.u.a->n) return v_undef();
            v = v.u.a->v[(size_t)idx];
        } else {
            return v_undef();
        }
        if (j >= n) break;
        i = j + 1;
    }
    return v;
}

/* ==== Environment ============================================================================ */

typedef struct jenv {
    struct jenv *parent;
    const char **names;
    jv *vals;
    size_t n, cap;
} jenv;

static jenv *env_new(ctx *C, jenv *parent) {
    jenv *e = ja_alloc(C->A, sizeof *e);
    if (e) e->parent = parent;
    return e;
}

static int env_set(ctx *C, jenv *e, const char *name, jv v) {
    v = cooked(v);
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->names[i], name)) {
            e->vals[i] = v;
            return 0;
        }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        const char **nn = ja_alloc(C->A, cap * sizeof *nn);
        jv *nv = ja_alloc(C->A, cap * sizeof *nv);
        if (!nn || !nv) return -1;
        if (e->n) {
            memcpy(nn, e->names, e->n * sizeof *nn);
            memcpy(nv, e->vals, e->n * sizeof *nv);
        }
        e->names = nn;
        e->vals = nv;
        e->cap = cap;
    }
    e->names[e->n] = name;
    e->vals[e->n++] = v;
    return 0;
}

static int env_has(const jenv *e, const char *name) {
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->names[i], name)) return 1;
    return 0;
}

static jv env_get(const jenv *e, const char *name) {
    for (; e; e = e->parent)
        for (size_t i = 0; i < e->n; i++)
            if (!strcmp(e->names[i], name)) return e->vals[i];
    return v_undef();
}

/* ==== Evaluation ============================================================================== */

static int ev(ctx *C, const jnode *x, jenv *env, jv *out);
static int ex_block(ctx *C, jnode *const *list, size_t n, jenv *env, sb *out);
static int call_fn(ctx *C, jv fn, jv *args, size_t nargs, jenv *env, int line, jv *out);

#define TRY(e)                \
    do {                      \
        int r_ = (e);         \
        if (r_) return r_;    \
    } while (0)

/* Evaluate call arguments: positional (with * spreads) first, then keyword arguments. *kw is
 * NULL when there are none. */
static int ev_args(ctx *C, const jnode *call, jenv *env, jv **pos, size_t *npos, jobj **kw) {
    size_t cap = 0, n = 0;
    jv *v = NULL;
    *kw = NULL;
    for (size_t i = 0; i < call->nlist; i++) {
        const jnode *a = call->list[i];
        if (a->kind == N_KWARG || a->kind == N_KWSPREAD) continue;
        jv val;
        TRY(ev(C, a->kind == N_SPREAD ? a->a : a, env, &val));
        size_t add = 1;
        if (a->kind == N_SPREAD) {
            if (val.t != V_ARR) return fail(C, a->line, "cannot unpack a %s", tname(val));
            add = val.u.a->n;
        }
        if (n + add + 1 > cap) {
            size_t nc = (n + add + 1) * 2;
            jv *nv = ja_alloc(C->A, nc * sizeof *nv);
            if (!nv) return oom(C, a->line);
            if (n) memcpy(nv, v, n * sizeof *nv);
            v = nv;
            cap = nc;
        }
        if (a->kind == N_SPREAD) {
            for (size_t k = 0; k < add; k++) v[n++] = val.u.a->v[k];
        } else {
            v[n++] = val;
        }
    }
    for (size_t i = 0; i < call->nlist; i++) {
        const jnode *a = call->list[i];
        if (a->kind != N_KWARG && a->kind != N_KWSPREAD) continue;
        if (!*kw && !(*kw = obj_new(C, O_KWARGS))) return oom(C, a->line);
        jv val;
        TRY(ev(C, a->a, env, &val));
        if (a->kind == N_KWARG) {
            if (obj_get(*kw, a->str, strlen(a->str)))
                return fail(C, a->line, "got multiple values for keyword argument '%s'", a->str);
            if (obj_set(C, *kw, a->str, strlen(a->str), val)) return oom(C, a->line);
        } else {
            if (!is_mapping(val)) return fail(C, a->line, "argument after ** must be a mapping, not %s", tname(val));
            for (size_t k = 0; k < val.u.o->n; k++) {
                if (obj_get(*kw, val.u.o->k[k].p, val.u.o->k[k].len))
                    return fail(C, a->line, "got multiple values for keyword argument '%.*s'",
                                (int)val.u.o->k[k].len, val.u.o->k[k].p);
                if (obj_set(C, *kw, val.u.o->k[k].p, val.u.o->k[k].len, val.u.o->v[k])) return oom(C, a->line);
            }
        }
    }
    if (!v && !(v = ja_alloc(C->A, sizeof *v))) return oom(C, call->line);
    *pos = v;
    *npos = n;
    return R_OK;
}

static jv kwarg(const jobj *kw, const char *name) {
    if (!kw) return v_undef();
    jv *s = obj_get(kw, name, strlen(name));
    return s ? *s : v_undef();
}

/* args.at(i) ?? kwargs.get(name) ?? fallback */
static jv arg_or(const jv *args, size_t n, size_t i, const jobj *kw, const char *name, jv fallback) {
    if (i < n) return args[i];
    jv k = kwarg(kw, name);
    return k.t == V_UNDEF && !(kw && obj_get(kw, name, strlen(name))) ? fallback : k;
}

/* ---- Tests ------------------------------------------------------------------------------- */

static int lower_upper_same(ctx *C, jv v, int upper, int line, int *res) {
    if (v.t != V_STR) { *res = 0; return R_OK; }
    sb b;
    sb_init(C, &b);
    case_map(&b, v.u.s.p, v.u.s.len, upper);
    int r = sb_check(C, &b, line);
    if (!r) *res = b.n == v.u.s.len && (b.n == 0 || !memcmp(b.p, v.u.s.p, b.n));
    sb_free(&b);
    return r;
}

/* Run test `name` on a (b is the optional second operand of equalto/eq). */
static int run_test(ctx *C, const char *name, jv a, const jv *b, int line, int *res) {
    if (!strcmp(name, "boolean")) *res = a.t == V_BOOL;
    else if (!strcmp(name, "callable")) *res = a.t == V_FUNC;
    else if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        if (a.t != V_INT) return fail(C, line, "cannot test %s on %s", name, tname(a));
        int odd = fmod(a.u.n, 2) != 0;
        *res = name[0] == 'o' ? odd : !odd;
    } else if (!strcmp(name, "false")) *res = a.t == V_BOOL && !a.u.b;
    else if (!strcmp(name, "true")) *res = a.t == V_BOOL && a.u.b;
    else if (!strcmp(name, "none")) *res = a.t == V_NULL;
    else if (!strcmp(name, "string")) *res = a.t == V_STR;
    else if (!strcmp(name, "number")) *res = is_num(a);
    else if (!strcmp(name, "integer")) *res = a.t == V_INT;
    else if (!strcmp(name, "iterable")) *res = (a.t == V_ARR && !a.u.a->tuple) || a.t == V_STR;
    else if (!strcmp(name, "mapping")) *res = is_mapping(a);
    else if (!strcmp(name, "sequence")) *res = a.t == V_ARR || is_mapping(a) || a.t == V_STR;
    else if (!strcmp(name, "lower")) return lower_upper_same(C, a, 0, line, res);
    else if (!strcmp(name, "upper")) return lower_upper_same(C, a, 1, line, res);
    else if (!strcmp(name, "defined")) *res = a.t != V_UNDEF;
    else if (!strcmp(name, "undefined")) *res = a.t == V_UNDEF;
    else if (!strcmp(name, "equalto") || !strcmp(name, "eq")) *res = strict_eq(a, b ? *b : v_undef());
    else return fail(C, line, "unknown test '%s'", name);
    return R_OK;
}

/* ---- String methods -------------------------------------------------------------------------- */

enum { SM_UPPER, SM_LOWER, SM_STRIP, SM_TITLE, SM_CAPITALIZE, SM_RSTRIP, SM_LSTRIP, SM_STARTSWITH,
       SM_ENDSWITH, SM_SPLIT, SM_REPLACE, SM_COUNT };
static const char *const STR_METHODS[SM_COUNT] = {"upper", "lower", "strip", "title", "capitalize",
    "rstrip", "lstrip", "startswith", "endswith", "split", "replace"};

enum { OM_GET, OM_ITEMS, OM_KEYS, OM_VALUES, OM_DICTSORT, OM_COUNT };
static const char *const OBJ_METHODS[OM_COUNT] = {"get", "items", "keys", "values", "dictsort"};

static int title_case(ctx *C, jv s, int line, jv *out) {
    sb b;
    sb_init(C, &b);
    sb_add(&b, s.u.s.p, s.u.s.len);
    TRY(sb_check(C, &b, line));
    /* /\b\w/g with ASCII \w: a word character not preceded by a word character */
    int prev_word = 0;
    for (size_t i = 0; i < b.n; i++) {
        char c = b.p[i];
        int w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (w && !prev_word && c >= 'a' && c <= 'z') b.p[i] = (char)(c - 32);
        prev_word = w;
    }
    return v_from_sb(C, &b, line, out);
}

static int str_replace(ctx *C, jv s, jv old, jv rep, double count, int line, jv *out) {
    if (count == 0) {
        *out = s;
        return R_OK;
    }
    double remaining = (isnan(count) || count < 0) ? INFINITY : count;
    sb b;
    sb_init(C, &b);
    const char *p = s.u.s.p;
    size_t n = s.u.s.len, on = old.u.s.len;
    if (on == 0) {
        /* /(?=)/gu: an empty match before every code point and at the end */
        size_t i = 0;
        while (1) {
            if (remaining > 0) {
                sb_add(&b, rep.u.s.p, rep.u.s.len);
                remaining--;
            }
            if (i >= n) break;
            size_t used;
            utf8_decode(p + i, n - i, &used);
            sb_add(&b, p + i, used);
            i += used;
        }
    } else {
        size_t i = 0;
        while (i < n) {
            if (remaining > 0 && n - i >= on && !memcmp(p + i, old.u.s.p, on)) {
                sb_add(&b, rep.u.s.p, rep.u.s.len);
                remaining--;
                i += on;
            } else {
                sb_add(&b, p + i, 1);
                i++;
            }
        }
    }
    return v_from_sb(C, &b, line, out);
}

static int push_str(ctx *C, jv **v, size_t *n, size_t *cap, const char *p, size_t len) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        jv *nv = ja_alloc(C->A, nc * sizeof *nv);
        if (!nv) return -1;
        if (*n) memcpy(nv, *v, *n * sizeof *nv);
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = v_str_ref(p, len);
    return 0;
}

static int str_split(ctx *C, jv s, const jv *args, size_t nargs, int line, jv *out) {
    jv sep = nargs > 0 ? args[0] : v_null();
    if (sep.t != V_STR && sep.t != V_NULL) return fail(C, line, "split(): sep must be a string or none");
    jv maxv = nargs > 1 ? args[1] : v_int(-1);
    if (maxv.t != V_INT) return fail(C, line, "split(): maxsplit must be an integer");
    double maxsplit = maxv.u.n;
    jv *v = NULL;
    size_t n = 0, cap = 0;
    if (sep.t == V_NULL) {
        const char *p = s.u.s.p;
        size_t len = s.u.s.len;
        trim_js(&p, &len, 1, 0);
        size_t i = 0;
        while (i < len) {
            size_t sp;
            while (i < len && (sp = js_space_len(p + i, len - i))) i += sp;
            if (i >= len) break;
            size_t st = i;
            while (i < len && !js_space_len(p + i, len - i)) {
                size_t used;
                utf8_decode(p + i, len - i, &used);
                i += used;
            }
            if (maxsplit != -1 && (double)n >= maxsplit) {
                if (push_str(C, &v, &n, &cap, p + st, len - st)) return oom(C, line);
                break;
            }
            if (push_str(C, &v, &n, &cap, p + st, i - st)) return oom(C, line);
        }
    } else {
        if (sep.u.s.len == 0) return fail(C, line, "split(): empty separator");
        const char *p = s.u.s.p;
        size_t len = s.u.s.len, sl = sep.u.s.len, st = 0;
        for (size_t i = 0; i + sl <= len;) {
            if (!memcmp(p + i, sep.u.s.p, sl)) {
                if (push_str(C, &v, &n, &cap, p + st, i - st)) return oom(C, line);
                i += sl;
                st = i;
            } else {
                i++;
            }
        }
        if (push_str(C, &v, &n, &cap, p + st, len - st)) return oom(C, line);
        if (maxsplit != -1 && (double)n > maxsplit) {
            /* result.push(result.splice(maxsplit).join(sep)) */
            double k = maxsplit < 0 ? MX_MAX(0.0, (double)n + maxsplit) : maxsplit;
            size_t from = (size_t)k;
            sb b;
            sb_init(C, &b);
            for (size_t i = from; i < n; i++) {
                if (i > from) sb_add(&b, sep.u.s.p, sep.u.s.len);
                sb_add(&b, v[i].u.s.p, v[i].u.s.len);
            }
            jv joined;
            TRY(v_from_sb(C, &b, line, &joined));
            n = from;
            v[n++] = joined;
        }
    }
    jarr *a = arr_new(C, 0);
    if (!a) return oom(C, line);
    a->v = v;
    a->n = n;
    *out = v_arr(a);
    return R_OK;
}

static int affix(ctx *C, jv s, const jv *args, size_t nargs, int ends, int line, jv *out) {
    const char *what = ends ? "endswith" : "startswith";
    if (nargs == 0) return fail(C, line, "%s() requires at least one argument", what);
    jv pat = args[0];
    const jv *pats = &pat;
    size_t np = 1;
    if (pat.t == V_ARR) {
        pats = pat.u.a->v;
        np = pat.u.a->n;
    } else if (pat.t != V_STR) {
        return fail(C, line, "%s() argument must be a string or tuple of strings", what);
    }
    for (size_t i = 0; i < np; i++) {
        if (pats[i].t != V_STR) return fail(C, line, "%s() tuple elements must be strings", what);
        size_t pl = pats[i].u.s.len;
        if (pl <= s.u.s.len &&
            !memcmp(s.u.s.p + (ends ? s.u.s.len - pl : 0), pats[i].u.s.p, pl)) {
            *out = v_bool(1);
            return R_OK;
        }
    }
    *out = v_bool(0);
    return R_OK;
}

static int call_str_method(ctx *C, int m, jv s, jv *args, size_t nargs, int line, jv *out) {
    switch (m) {
    case SM_UPPER:
    case SM_LOWER: {
        sb b;
        sb_init(C, &b);
        case_map(&b, s.u.s.p, s.u.s.len, m == SM_UPPER);
        return v_from_sb(C, &b, line, out);
    }
    case SM_STRIP:
    case SM_RSTRIP:
    case SM_LSTRIP: {
        /* The reference ignores the characters argument: it trims whitespace. */
        const char *p = s.u.s.p;
        size_t n = s.u.s.len;
        trim_js(&p, &n, m != SM_RSTRIP, m != SM_LSTRIP);
        *out = v_str_ref(p, n);
        return R_OK;
    }
    case SM_TITLE: return title_case(C, s, line, out);
    case SM_CAPITALIZE: {
        if (s.u.s.len == 0) { *out = s; return R_OK; }
        size_t used;
        uint32_t c = utf8_decode(s.u.s.p, s.u.s.len, &used);
        if (c >= 0x10000) { *out = s; return R_OK; }
        sb b;
        sb_init(C, &b);
        case_map(&b, s.u.s.p, used, 1);
        sb_add(&b, s.u.s.p + used, s.u.s.len - used);
        return v_from_sb(C, &b, line, out);
    }
    case SM_STARTSWITH: return affix(C, s, args, nargs, 0, line, out);
    case SM_ENDSWITH: return affix(C, s, args, nargs, 1, line, out);
    case SM_SPLIT: return str_split(C, s, args, nargs, line, out);
    case SM_REPLACE: {
        if (nargs < 2) return fail(C, line, "replace() requires at least two arguments");
        if (args[0].t != V_STR || args[1].t != V_STR) return fail(C, line, "replace() arguments must be strings");
        jv count = v_null();
        if (nargs > 2) {
            if (args[2].t == V_OBJ && args[2].u.o->kind == O_KWARGS) {
                jv *c = obj_get(args[2].u.o, "count", 5);
                count = c ? *c : v_null();
            } else {
                count = args[2];
            }
        }
        if (count.t != V_INT && count.t != V_NULL) return fail(C, line, "replace() count must be an integer or none");
        return str_replace(C, s, args[0], args[1], count.t == V_INT ? count.u.n : NAN, line, out);
    }
    }
    return fail(C, line, "unknown string method");
}

static int obj_items(ctx *C, const jobj *o, int what, int line, jv *out) {
    jarr *a = arr_new(C, o->n);
    if (!a) return oom(C, line);
    for (size_t i = 0; i < o->n; i++) {
        if (what == OM_KEYS) {
            a->v[i] = v_str_ref(o->k[i].p, o->k[i].len);
        } else if (what == OM_VALUES) {
            a->v[i] = o->v[i];
        } else {
            jarr *pair = arr_new(C, 2);
            if (!pair) return oom(C, line);
            pair->v[0] = v_str_ref(o->k[i].p, o->k[i].len);
            pair->v[1] = o->v[i];
            a->v[i] = v_arr(pair);
        }
    }
    *out = v_arr(a);
    return R_OK;
}

static int call_obj_method(ctx *C, int m, jv self, jv *args, size_t nargs, int line, jv *out) {
    const jobj *o = self.u.o;
    switch (m) {
    case OM_GET: {
        if (nargs < 1 || args[0].t != V_STR)
            return fail(C, line, "get(): key must be a string, got %s", nargs ? tname(args[0]) : "nothing");
        jv *s = obj_get(o, args[0].u.s.p, args[0].u.s.len);
        *out = s ? *s : (nargs > 1 ? args[1] : v_null());
        return R_OK;
    }
    case OM_ITEMS:
    case OM_KEYS:
    case OM_VALUES: return obj_items(C, o, m, line, out);
    case OM_DICTSORT: {
        const jobj *kw = NULL;
        size_t np = nargs;
        if (np && args[np - 1].t == V_OBJ && args[np - 1].u.o->kind == O_KWARGS) kw = args[--np].u.o;
        jv cs = arg_or(args, np, 0, kw, "case_sensitive", v_bool(0));
        if (cs.t != V_BOOL) return fail(C, line, "dictsort: case_sensitive must be a boolean");
        jv by = arg_or(args, np, 1, kw, "by", v_str_ref("key", 3));
        if (by.t != V_STR) return fail(C, line, "dictsort: by must be a string");
        int by_value = by.u.s.len == 5 && !memcmp(by.u.s.p, "value", 5);
        if (!by_value && !(by.u.s.len == 3 && !memcmp(by.u.s.p, "key", 3)))
            return fail(C, line, "dictsort: by must be either 'key' or 'value'");
        jv rev = arg_or(args, np, 2, kw, "reverse", v_bool(0));
        if (rev.t != V_BOOL) return fail(C, line, "dictsort: reverse must be a boolean");
        jv items;
        TRY(obj_items(C, o, OM_ITEMS, line, &items));
        sort_spec spec = {cs.u.b, rev.u.b, NULL, 0, by_value, 1};
        return sort_values(C, items.u.a, &spec, line, out);
    }
    }
    return fail(C, line, "unknown object method");
}

/* ---- Built-in functions ----------------------------------------------------------------------- */

static int fn_strftime(ctx *C, jv *args, size_t nargs, int line, jv *out) {
    if (nargs < 1 || args[0].t != V_STR) return fail(C, line, "strftime_now() needs a format string");
    time_t t = C->o.now ? (time_t)C->o.now : time(NULL);
    struct tm tm;
    if (!localtime_r(&t, &tm)) return fail(C, line, "strftime_now(): cannot read the clock");
    static const char *const LONG[12] = {"January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December"};
    static const char *const SHORT[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
        "Sep", "Oct", "Nov", "Dec"};
    sb b;
    sb_init(C, &b);
    const char *f = args[0].u.s.p;
    size_t n = args[0].u.s.len;
    char tmp[32];
    for (size_t i = 0; i < n; i++) {
        if (f[i] == '%' && i + 1 < n && strchr("YmdbBHM%", f[i + 1]) && f[i + 1]) {
            switch (f[++i]) {
            case 'Y': snprintf(tmp, sizeof tmp, "%d", tm.tm_year + 1900); break;
            case 'm': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mon + 1); break;
            case 'd': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mday); break;
            case 'b': snprintf(tmp, sizeof tmp, "%s", SHORT[tm.tm_mon]); break;
            case 'B': snprintf(tmp, sizeof tmp, "%s", LONG[tm.tm_mon]); break;
            case 'H': snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour); break;
            case 'M': snprintf(tmp, sizeof tmp, "%02d", tm.tm_min); break;
            default: snprintf(tmp, sizeof tmp, "%%"); break;
            }
            sb_puts(&b, tmp);
        } else {
            sb_putc(&b, f[i]);
        }
    }
    return v_from_sb(C, &b, line, out);
}

static int fn_range(ctx *C, jv *args, size_t nargs, int line, jv *out) {
    if (nargs && args[nargs - 1].t == V_OBJ && args[nargs - 1].u.o->kind == O_KWARGS)
        return fail(C, line, "range() takes no keyword arguments");
    if (nargs < 1 || nargs > 3) return fail(C, line, "range() takes 1 to 3 arguments");
    for (size_t i = 0; i < nargs; i++)
        if (!is_numlike(args[i])) return fail(C, line, "range() arguments must be numbers");
    double start = 0, stop, step = 1;
    if (nargs == 1) {
        stop = numlike(args[0]);
    } else {
        start = numlike(args[0]);
        stop = numlike(args[1]);
        if (nargs == 3) step = numlike(args[2]);
    }
    if (step == 0) return fail(C, line, "range() step must not be zero");
    if (isnan(start) || isnan(stop) || isnan(step)) { *out = v_arr(arr_new(C, 0)); return C->A->failed ? oom(C, line) : R_OK; }
    double count = step > 0 ? ceil((stop - start) / step) : ceil((start - stop) / -step);
    if (!(count > 0)) count = 0;
    if (count > MAX_RANGE) return fail(C, line, "range() of more than %.0f numbers", MAX_RANGE);
    jarr *a = arr_new(C, (size_t)count);
    if (!a) return oom(C, line);
    double v = start;
    size_t k = 0;
    for (; k < (size_t)count && (step > 0 ? v < stop : v > stop); k++, v += step)
        a->v[k] = (isfinite(v) && floor(v) == v) ? v_int(v) : v_float(v);
    a->n = k;
    *out = v_arr(a);
    return R_OK;
}

static int fn_namespace(ctx *C, jv *args, size_t nargs, int line, jv *out) {
    const jobj *kw = NULL;
    if (nargs && args[nargs - 1].t == V_OBJ && args[nargs - 1].u.o->kind == O_KWARGS) kw = args[--nargs].u.o;
    if (nargs > 1) return fail(C, line, "namespace() expected at most 1 argument, got %zu", nargs);
    jobj *ns = obj_new(C, O_NS);
    if (!ns) return oom(C, line);
    if (nargs == 1) {
        jv src = args[0];
        if (is_mapping(src)) {
            for (size_t i = 0; i < src.u.o->n; i++)
                if (obj_set(C, ns, src.u.o->k[i].p, src.u.o->k[i].len, src.u.o->v[i])) return oom(C, line);
        } else if (src.t == V_ARR) {
            for (size_t i = 0; i < src.u.a->n; i++) {
                jv pair = src.u.a->v[i];
                if (pair.t != V_ARR || pair.u.a->n != 2)
                    return fail(C, line, "namespace() expected an object or an iterable of [key, value] pairs");
                if (pair.u.a->v[0].t != V_STR) return fail(C, line, "namespace() keys must be strings");
                if (obj_set(C, ns, pair.u.a->v[0].u.s.p, pair.u.a->v[0].u.s.len, pair.u.a->v[1])) return oom(C, line);
            }
        } else {
            return fail(C, line, "namespace(): a %s is not iterable", tname(src));
        }
    }
    if (kw)
        for (size_t i = 0; i < kw->n; i++)
            if (obj_set(C, ns, kw->k[i].p, kw->k[i].len, kw->v[i])) return oom(C, line);
    *out = v_obj(ns);
    return R_OK;
}

/* ---- Macros ---------------------------------------------------------------------------------- */

static int mentions(const jnode *x, const char *name, int depth) {
    if (!x || depth > 400) return 0;
    if (x->kind == N_IDENT && !strcmp(x->str, name)) return 1;
    if (mentions(x->a, name, depth + 1) || mentions(x->b, name, depth + 1) || mentions(x->c, name, depth + 1))
        return 1;
    for (size_t i = 0; i < x->nlist; i++)
        if (mentions(x->list[i], name, depth + 1)) return 1;
    for (size_t i = 0; i < x->nlist2; i++)
        if (mentions(x->list2[i], name, depth + 1)) return 1;
    return 0;
}

static int body_mentions(jnode *const *body, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (mentions(body[i], name, 0)) return 1;
    return 0;
}

static const char *param_name(const jnode *p) { return p->str; }

/* bindMacroArguments(): positional, then keyword, then defaults evaluated in the macro scope. */
static int bind_args(ctx *C, const char *display_name, jnode *const *params, size_t np,
                     jnode *const *body, size_t nbody, jv *args, size_t nargs, jenv *scope, int line) {
    const jobj *kw = NULL;
    if (nargs && args[nargs - 1].t == V_OBJ && args[nargs - 1].u.o->kind == O_KWARGS) kw = args[--nargs].u.o;
    jobj *rest = obj_new(C, O_OBJ);
    if (!rest) return oom(C, line);
    if (kw)
        for (size_t i = 0; i < kw->n; i++)
            if (obj_set(C, rest, kw->k[i].p, kw->k[i].len, kw->v[i])) return oom(C, line);
    for (size_t i = 0; i < np; i++) {
        const char *name = param_name(params[i]);
        jv v = v_undef();
        int have = 0;
        if (i < nargs && !is_raw(args[i])) {
            v = args[i];
            have = 1;
        } else {
            jv *s = obj_get(rest, name, strlen(name));
            if (s) {
                v = *s;
                have = 1;
                /* delete the consumed keyword */
                size_t k = (size_t)(s - rest->v);
                memmove(rest->k + k, rest->k + k + 1, (rest->n - k - 1) * sizeof *rest->k);
                memmove(rest->v + k, rest->v + k + 1, (rest->n - k - 1) * sizeof *rest->v);
                rest->n--;
            }
        }
        if (env_set(C, scope, name, have ? v : v_undef())) return oom(C, line);
    }
    if (body_mentions(body, nbody, "kwargs")) {
        if (env_set(C, scope, "kwargs", v_obj(rest))) return oom(C, line);
    } else if (rest->n) {
        return fail(C, line, "macro %s takes no keyword argument '%.*s'", display_name, (int)rest->k[0].len, rest->k[0].p);
    }
    if (body_mentions(body, nbody, "varargs")) {
        size_t extra = nargs > np ? nargs - np : 0;
        jarr *a = arr_new(C, extra);
        if (!a) return oom(C, line);
        for (size_t i = 0; i < extra; i++) a->v[i] = args[np + i];
        if (env_set(C, scope, "varargs", v_arr(a))) return oom(C, line);
    } else if (nargs > np) {
        return fail(C, line, "macro %s takes not more than %zu argument(s)", display_name, np);
    }
    for (size_t i = 0; i < np; i++) {
        const jnode *p = params[i];
        if (p->kind != N_KWARG) continue;
        int have = (i < nargs && !is_raw(args[i])) || (kw && obj_get(kw, p->str, strlen(p->str)));
        if (have) continue;
        jv v;
        TRY(ev(C, p->a, scope, &v));
        if (env_set(C, scope, p->str, v)) return oom(C, line);
    }
    return R_OK;
}

static int call_fn(ctx *C, jv fn, jv *args, size_t nargs, jenv *env, int line, jv *out) {
    if (fn.t != V_FUNC) return fail(C, line, "cannot call a %s: it is not a function", tname(fn));
    const jfn *f = fn.u.f;
    switch (f->kind) {
    case F_RAISE: {
        sb b;
        sb_init(C, &b);
        if (nargs > 0 && args[0].t != V_UNDEF && args[0].t != V_NULL) TRY(js_text(C, args[0], &b, line, 0, 0));
        TRY(sb_check(C, &b, line));
        fail(C, line, "%s", b.p ? b.p : "");
        sb_free(&b);
        return R_ERR;
    }
    case F_RANGE: return fn_range(C, args, nargs, line, out);
    case F_STRFTIME: return fn_strftime(C, args, nargs, line, out);
    case F_NAMESPACE: return fn_namespace(C, args, nargs, line, out);
    case F_STRMETH: return call_str_method(C, f->method, f->self, args, nargs, line, out);
    case F_OBJMETH: return call_obj_method(C, f->method, f->self, args, nargs, line, out);
    case F_MACRO:
    case F_CALLER: {
        const jnode *m = f->node;
        jenv *scope = env_new(C, f->kind == F_MACRO ? env : f->env);
        if (!scope) return oom(C, line);
        char name[80];
        if (f->kind == F_MACRO) snprintf(name, sizeof name, "'%s'", m->str);
        else snprintf(name, sizeof name, "None");
        jnode *const *params = f->kind == F_MACRO ? m->list : m->list;
        size_t np = m->nlist;
        TRY(bind_args(C, name, params, np, m->list2, m->nlist2, args, nargs, scope, line));
        sb b;
        sb_init(C, &b);
        int r = ex_block(C, m->list2, m->nlist2, scope, &b);
        if (r) {
            sb_free(&b);
            return r;
        }
        return v_from_sb(C, &b, line, out);
    }
    }
    return fail(C, line, "unknown function");
}

/* ---- Filters ----------------------------------------------------------------------------------- */

static int tojson_opts(ctx *C, const jobj *kw, int line, json_opts *o) {
    *o = JSON_DEFAULT;
    jv indent = kwarg(kw, "indent");
    if (indent.t != V_UNDEF && indent.t != V_NULL && indent.t != V_INT)
        return fail(C, line, "tojson: indent must be an integer");
    jv ea = kwarg(kw, "ensure_ascii");
    if (ea.t != V_UNDEF && ea.t != V_BOOL) return fail(C, line, "tojson: ensure_ascii must be a boolean");
    jv sk = kwarg(kw, "sort_keys");
    if (sk.t != V_UNDEF && sk.t != V_BOOL) return fail(C, line, "tojson: sort_keys must be a boolean");
    jv seps = kwarg(kw, "separators");
    if (indent.t == V_INT) {
        if (indent.u.n < 0) return fail(C, line, "tojson: indent must not be negative");
        if (indent.u.n > 1000) return fail(C, line, "tojson: indent larger than 1000");
        o->indent = (int)indent.u.n;
    }
    o->ensure_ascii = ea.t == V_BOOL && ea.u.b;
    o->sort_keys = sk.t == V_BOOL && sk.u.b;
    if (o->indent) {
        o->item_sep = ",";
        o->item_sep_n = 1;
    }
    if (seps.t == V_ARR) {
        if (seps.u.a->n != 2 || seps.u.a->v[0].t != V_STR || seps.u.a->v[1].t != V_STR)
            return fail(C, line, "tojson: separators must be a tuple of two strings");
        o->item_sep = seps.u.a->v[0].u.s.p;
        o->item_sep_n = seps.u.a->v[0].u.s.len;
        o->key_sep = seps.u.a->v[1].u.s.p;
        o->key_sep_n = seps.u.a->v[1].u.s.len;
    } else if (seps.t != V_UNDEF && seps.t != V_NULL) {
        return fail(C, line, "tojson: separators must be a tuple of two strings");
    }
    return R_OK;
}

static int do_tojson(ctx *C, jv v, const json_opts *o, int line, jv *out) {
    sb b;
    sb_init(C, &b);
    int r = to_json(C, v, &b, o, 0, 1, line);
    if (r) {
        sb_free(&b);
        return r;
    }
    return v_from_sb(C, &b, line, out);
}

static int join_values(ctx *C, jv v, jv sep, int line, jv *out) {
    sb b;
    sb_init(C, &b);
    if (v.t == V_STR) {
        /* Array.from(string): code points */
        for (size_t i = 0; i < v.u.s.len;) {
            size_t used;
            utf8_decode(v.u.s.p + i, v.u.s.len - i, &used);
            if (i) sb_add(&b, sep.u.s.p, sep.u.s.len);
            sb_add(&b, v.u.s.p + i, used);
            i += used;
        }
    } else {
        for (size_t i = 0; i < v.u.a->n; i++) {
            if (i) sb_add(&b, sep.u.s.p, sep.u.s.len);
            int r = js_text(C, v.u.a->v[i], &b, line, 1, 0);
            if (r) {
                sb_free(&b);
                return r;
            }
        }
    }
    return v_from_sb(C, &b, line, out);
}

static int indent_text(ctx *C, jv s, size_t width, int first, int blank, int line, jv *out) {
    sb b;
    sb_init(C, &b);
    const char *p = s.u.s.p;
    size_t n = s.u.s.len, st = 0;
    for (size_t i = 0, ln = 0; i <= n; i++) {
        if (i == n || p[i] == '\n') {
            size_t len = i - st;
            int skip = (!first && ln == 0) || (!blank && len == 0);
            if (!skip)
                for (size_t k = 0; k < width && !b.failed; k++) sb_putc(&b, ' ');
            sb_add(&b, p + st, len);
            if (i < n) sb_putc(&b, '\n');
            st = i + 1;
            ln++;
        }
    }
    return v_from_sb(C, &b, line, out);
}

static int filter_ident(ctx *C, jv v, const char *name, jenv *env, int line, jv *out) {
    if (!strcmp(name, "safe")) { *out = v; return R_OK; }
    if (!strcmp(name, "tojson")) return do_tojson(C, v, &JSON_DEFAULT, line, out);
    if (v.t == V_ARR) {
        const jarr *a = v.u.a;
        if (!strcmp(name, "list")) { *out = v; return R_OK; }
        /* On an empty list the reference yields a raw JS undefined that fails wherever it is used. */
        if (!strcmp(name, "first") || !strcmp(name, "last")) {
            if (!a->n) {
                *out = v_raw_undef();
                return R_OK;
            }
            *out = name[0] == 'f' ? a->v[0] : a->v[a->n - 1];
            return R_OK;
        }
        if (!strcmp(name, "length")) { *out = v_int((double)a->n); return R_OK; }
        if (!strcmp(name, "reverse")) {
            jarr *r = arr_new(C, a->n);
            if (!r) return oom(C, line);
            for (size_t i = 0; i < a->n; i++) r->v[i] = a->v[a->n - 1 - i];
            *out = v_arr(r);
            return R_OK;
        }
        if (!strcmp(name, "sort")) {
            sort_spec spec = {0, 0, NULL, 0, 0, 0};
            return sort_values(C, a, &spec, line, out);
        }
        if (!strcmp(name, "join")) return join_values(C, v, v_str_ref("", 0), line, out);
        if (!strcmp(name, "string")) {
            sb b;
            sb_init(C, &b);
            int r = to_json(C, v, &b, &JSON_DEFAULT, 0, 0, line);
            if (r) { sb_free(&b); return r; }
            return v_from_sb(C, &b, line, out);
        }
        if (!strcmp(name, "unique")) {
            jarr *r = arr_new(C, a->n);
            if (!r) return oom(C, line);
            size_t k = 0;
            for (size_t i = 0; i < a->n; i++) {
                int seen = 0;
                for (size_t j = 0; j < k && !seen; j++) {
                    jv x = a->v[i], y = r->v[j];
                    /* Set semantics: SameValueZero on the raw values */
                    seen = strict_eq(x, y) || (is_num(x) && is_num(y) && isnan(x.u.n) && isnan(y.u.n));
                }
                if (!seen) r->v[k++] = a->v[i];
            }
            r->n = k;
            *out = v_arr(r);
            return R_OK;
        }
        return fail(C, line, "unknown filter '%s' for a list", name);
    }
    if (v.t == V_STR) {
        if (!strcmp(name, "length")) { *out = v_int((double)utf16_len(v.u.s.p, v.u.s.len)); return R_OK; }
        if (!strcmp(name, "upper")) return call_str_method(C, SM_UPPER, v, NULL, 0, line, out);
        if (!strcmp(name, "lower")) return call_str_method(C, SM_LOWER, v, NULL, 0, line, out);
        if (!strcmp(name, "title")) return call_str_method(C, SM_TITLE, v, NULL, 0, line, out);
        if (!strcmp(name, "capitalize")) return call_str_method(C, SM_CAPITALIZE, v, NULL, 0, line, out);
        if (!strcmp(name, "trim")) return call_str_method(C, SM_STRIP, v, NULL, 0, line, out);
        if (!strcmp(name, "indent")) return indent_text(C, v, 4, 0, 0, line, out);
        if (!strcmp(name, "join") || !strcmp(name, "string")) { *out = v; return R_OK; }
        if (!strcmp(name, "int")) {
            double d = js_parse_num(v.u.s.p, v.u.s.len, 0);
            *out = v_int(isnan(d) ? 0 : d);
            return R_OK;
        }
        if (!strcmp(name, "float")) {
            double d = js_parse_num(v.u.s.p, v.u.s.len, 1);
            *out = v_float(isnan(d) ? 0 : d);
            return R_OK;
        }
        return fail(C, line, "unknown filter '%s' for a string", name);
    }
    if (is_num(v)) {
        if (!strcmp(name, "abs")) { *out = v.t == V_INT ? v_int(fabs(v.u.n)) : v_float(fabs(v.u.n)); return R_OK; }
        if (!strcmp(name, "int")) { *out = v_int(floor(v.u.n)); return R_OK; }
        if (!strcmp(name, "float")) { *out = v_float(v.u.n); return R_OK; }
        if (!strcmp(name, "string")) {
            sb b;
            sb_init(C, &b);
            TRY(display(C, v, &b, line));
            return v_from_sb(C, &b, line, out);
        }
        return fail(C, line, "unknown filter '%s' for a number", name);
    }
    if (is_mapping(v)) {
        if (!strcmp(name, "items")) return obj_items(C, v.u.o, OM_ITEMS, line, out);
        if (!strcmp(name, "length")) { *out = v_int((double)v.u.o->n); return R_OK; }
        for (int m = 0; m < OM_COUNT; m++)
            if (!strcmp(name, OBJ_METHODS[m])) return call_obj_method(C, m, v, NULL, 0, line, out);
        return fail(C, line, "unknown filter '%s' for an object", name);
    }
    if (v.t == V_BOOL) {
        if (!strcmp(name, "bool")) { *out = v; return R_OK; }
        if (!strcmp(name, "int")) { *out = v_int(v.u.b); return R_OK; }
        if (!strcmp(name, "float")) { *out = v_float(v.u.b); return R_OK; }
        if (!strcmp(name, "string")) { *out = v_str_ref(v.u.b ? "true" : "false", v.u.b ? 4 : 5); return R_OK; }
        return fail(C, line, "unknown filter '%s' for a boolean", name);
    }
    (void)env;
    return fail(C, line, "cannot apply filter '%s' to %s", name, tname(v));
}

static int filter_call(ctx *C, jv v, const jnode *call, jenv *env, int line, jv *out) {
    if (call->a->kind != N_IDENT) return fail(C, line, "unknown filter");
    const char *name = call->a->str;
    jv *args;
    size_t nargs;
    jobj *kw;
    if (!strcmp(name, "tojson")) {
        TRY(ev_args(C, call, env, &args, &nargs, &kw));
        json_opts o;
        TRY(tojson_opts(C, kw, line, &o));
        return do_tojson(C, v, &o, line, out);
    }
    if (!strcmp(name, "join")) {
        if (v.t != V_STR && v.t != V_ARR) return fail(C, line, "cannot apply filter 'join' to %s", tname(v));
        TRY(ev_args(C, call, env, &args, &nargs, &kw));
        jv sep = arg_or(args, nargs, 0, kw, "separator", v_str_ref("", 0));
        if (sep.t != V_STR) return fail(C, line, "join: separator must be a string");
        return join_values(C, v, sep, line, out);
    }
    if (!strcmp(name, "int") || !strcmp(name, "float")) {
        int is_int = name[0] == 'i';
        TRY(ev_args(C, call, env, &args, &nargs, &kw));
        jv def = arg_or(args, nargs, 0, kw, "default", is_int ? v_int(0) : v_float(0));
        if (v.t == V_STR) {
            double d = js_parse_num(v.u.s.p, v.u.s.len, !is_int);
            *out = isnan(d) ? def : is_int ? v_int(d) : v_float(d);
        } else if (is_num(v)) {
            *out = v;
        } else if (v.t == V_BOOL) {
            *out = is_int ? v_int(v.u.b) : v_float(v.u.b);
        } else {
            return fail(C, line, "cannot apply filter '%s' to %s", name, tname(v));
        }
        return R_OK;
    }
    if (!strcmp(name, "default")) {
        TRY(ev_args(C, call, env, &args, &nargs, &kw));
        jv def = nargs > 0 ? args[0] : v_str_ref("", 0);
        jv boolean = arg_or(args, nargs, 1, kw, "boolean", v_bool(0));
        if (boolean.t != V_BOOL) return fail(C, line, "default: the boolean flag must be a boolean");
        if (is_raw(v)) {
            if (boolean.u.b) return use(C, v, line);
            *out = v;
            return R_OK;
        }
        *out = (v.t == V_UNDEF || (boolean.u.b && !truthy(v))) ? def : v;
        return R_OK;
    }
    if (v.t == V_ARR) {
        const jarr *a = v.u.a;
        if (!strcmp(name, "sort")) {
            TRY(ev_args(C, call, env, &args, &nargs, &kw));
            jv rev = arg_or(args, nargs, 0, kw, "reverse", v_bool(0));
            if (rev.t != V_BOOL) return fail(C, line, "sort: reverse must be a boolean");
            jv cs = arg_or(args, nargs, 1, kw, "case_sensitive", v_bool(0));
            if (cs.t != V_BOOL) return fail(C, line, "sort: case_sensitive must be a boolean");
            jv attr = arg_or(args, nargs, 2, kw, "attribute", v_null());
            if (attr.t != V_STR && attr.t != V_INT && attr.t != V_NULL)
                return fail(C, line, "sort: attribute must be a string, integer or none");
            sort_spec spec = {cs.u.b, rev.u.b, NULL, 0, 0, 0};
            char numbuf[40];
            if (attr.t == V_STR) {
                spec.attr = attr.u.s.p;
                spec.attr_n = attr.u.s.len;
            } else if (attr.t == V_INT) {
                js_num_str(attr.u.n, numbuf);
                spec.attr = numbuf;
                spec.attr_n = strlen(numbuf);
            }
            return sort_values(C, a, &spec, line, out);
        }
        if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr")) {
            int select = name[0] == 's';
            for (size_t i = 0; i < a->n; i++)
                if (!is_container(a->v[i])) return fail(C, line, "%s can only be applied to a list of objects", name);
            for (size_t i = 0; i < call->nlist; i++)
                if (call->list[i]->kind != N_STR) return fail(C, line, "the arguments of %s must be strings", name);
            if (call->nlist < 1) return fail(C, line, "%s needs an attribute name", name);
            const jnode *attr = call->list[0];
            const char *test = call->nlist > 1 ? call->list[1]->str : NULL;
            jv value = call->nlist > 2 ? v_str_ref(call->list[2]->str, call->list[2]->slen) : v_undef();
            if (test) {
                int dummy;
                /* an unknown test fails even on an empty list, as in the reference */
                if (strcmp(test, "equalto") && strcmp(test, "eq")) {
                    int r = run_test(C, test, v_undef(), NULL, line, &dummy);
                    if (r && strstr(C->err, "unknown test")) return r;
                    C->has_err = 0;
                }
            }
            jarr *res = arr_new(C, a->n);
            if (!res) return oom(C, line);
            size_t k = 0;
            for (size_t i = 0; i < a->n; i++) {
                jv *item = obj_get(a->v[i].u.o, attr->str, attr->slen);
                int ok = 0;
                if (item) {
                    if (test) TRY(run_test(C, test, *item, call->nlist > 2 ? &value : NULL, line, &ok));
                    else ok = truthy(*item);
                }
                if (select ? ok : !ok) res->v[k++] = a->v[i];
            }
            res->n = k;
            *out = v_arr(res);
            return R_OK;
        }
        if (!strcmp(name, "map")) {
            TRY(ev_args(C, call, env, &args, &nargs, &kw));
            jv *attr = kw ? obj_get(kw, "attribute", 9) : NULL;
            if (!attr) return fail(C, line, "map without attribute= is not supported");
            if (attr->t != V_STR) return fail(C, line, "map: attribute must be a string");
            jv *def = obj_get(kw, "default", 7);
            jarr *res = arr_new(C, a->n);
            if (!res) return oom(C, line);
            for (size_t i = 0; i < a->n; i++) {
                if (!is_container(a->v[i])) return fail(C, line, "map: items must be objects");
                jv x = attr_path(a->v[i], attr->u.s.p, attr->u.s.len);
                res->v[i] = x.t == V_UNDEF ? (def ? *def : v_undef()) : x;
            }
            *out = v_arr(res);
            return R_OK;
        }
        return fail(C, line, "unknown filter '%s' for a list", name);
    }
    if (v.t == V_STR) {
        if (!strcmp(name, "indent")) {
            TRY(ev_args(C, call, env, &args, &nargs, &kw));
            jv width = arg_or(args, nargs, 0, kw, "width", v_int(4));
            if (width.t != V_INT) return fail(C, line, "indent: width must be an integer");
            if (width.u.n < 0) width.u.n = 0;
            if (width.u.n > 100000) return fail(C, line, "indent: width larger than 100000");
            jv first = arg_or(args, nargs, 1, kw, "first", v_bool(0));
            jv blank = arg_or(args, nargs, 2, kw, "blank", v_bool(0));
            return indent_text(C, v, (size_t)width.u.n, raw_truthy(first), raw_truthy(blank), line, out);
        }
        if (!strcmp(name, "replace")) {
            TRY(ev_args(C, call, env, &args, &nargs, &kw));
            jv *all = ja_alloc(C->A, (nargs + 1) * sizeof *all);
            if (!all) return oom(C, line);
            if (nargs) memcpy(all, args, nargs * sizeof *all);
            jobj *k2 = kw ? kw : obj_new(C, O_KWARGS);
            if (!k2) return oom(C, line);
            all[nargs] = v_obj(k2);
            return call_str_method(C, SM_REPLACE, v, all, nargs + 1, line, out);
        }
        return fail(C, line, "unknown filter '%s' for a string", name);
    }
    if (is_mapping(v)) {
        for (int m = 0; m < OM_COUNT; m++) {
            if (strcmp(name, OBJ_METHODS[m])) continue;
            TRY(ev_args(C, call, env, &args, &nargs, &kw));
            if (kw && kw->n) args[nargs++] = v_obj(kw);
            return call_obj_method(C, m, v, args, nargs, line, out);
        }
        return fail(C, line, "unknown filter '%s' for an object", name);
    }
    return fail(C, line, "cannot apply filter '%s' to %s", name, tname(v));
}

static int apply_filter(ctx *C, jv v, const jnode *f, jenv *env, int line, jv *out) {
    if (is_raw(v)) {
        int dflt = f->kind == N_CALL && f->a->kind == N_IDENT && !strcmp(f->a->str, "default");
        if (f->kind == N_IDENT && !strcmp(f->str, "safe")) {
            *out = v;
            return R_OK;
        }
        if (!dflt) return use(C, v, line);
    }
    if (f->kind == N_IDENT) return filter_ident(C, v, f->str, env, line, out);
    if (f->kind == N_CALL) return filter_call(C, v, f, env, line, out);
    return fail(C, line, "unknown filter");
}

/* ---- Expressions ------------------------------------------------------------------------------ */

static const char *op_name(jop op) {
    static const char *const names[] = {"+", "-", "~", "*", "/", "//", "%", "**", "==", "!=", "<",
                                        ">", "<=", ">=", "and", "or", "in", "not in", "not", "-", "+"};
    return (unsigned)op < MX_ARRAY_LEN(names) ? names[op] : "?";
}

static int concat_text(ctx *C, jv l, jv r, int line, jv *out) {
    sb b;
    sb_init(C, &b);
    int e = js_text(C, l, &b, line, 0, 0);
    if (!e) e = js_text(C, r, &b, line, 0, 0);
    if (e) {
        sb_free(&b);
        return e;
    }
    return v_from_sb(C, &b, line, out);
}

static int contains(const jv *hay, jv needle) {
    size_t n = hay->u.s.len, m = needle.u.s.len;
    if (m > n) return 0;
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(hay->u.s.p + i, needle.u.s.p, m)) return 1;
    return 0;
}

static int ev_binary(ctx *C, const jnode *x, jenv *env, jv *out) {
    jv l, r;
    TRY(ev(C, x->a, env, &l));
    TRY(use(C, l, x->line));
    if (x->op == OP_AND) return truthy(l) ? ev(C, x->b, env, out) : (*out = l, R_OK);
    if (x->op == OP_OR) return truthy(l) ? (*out = l, R_OK) : ev(C, x->b, env, out);
    TRY(ev(C, x->b, env, &r));
    TRY(use(C, r, x->line));
    int line = x->line;
    jop op = x->op;
    if (op == OP_EQ || op == OP_NE) {
        int eq;
        TRY(loose_eq(C, l, r, line, &eq));
        *out = v_bool(op == OP_EQ ? eq : !eq);
        return R_OK;
    }
    if (l.t == V_UNDEF || r.t == V_UNDEF) {
        if (r.t == V_UNDEF && (op == OP_IN || op == OP_NOTIN)) {
            *out = v_bool(op == OP_NOTIN);
            return R_OK;
        }
        return fail(C, line, "cannot apply '%s' to an undefined value", op_name(op));
    } else if (l.t == V_NULL || r.t == V_NULL) {
        return fail(C, line, "cannot apply '%s' to none", op_name(op));
    } else if (op == OP_CONCAT) {
        return concat_text(C, l, r, line, out);
    } else if (op == OP_POW && is_numlike(l) && is_numlike(r)) {
        double a = numlike(l), b = numlike(r);
        if (a == 0 && b < 0) return fail(C, line, "0.0 cannot be raised to a negative power");
        double res = pow(a, b);
        if (!isfinite(res)) return fail(C, line, "exponentiation result is not a finite real number");
        *out = (l.t == V_FLOAT || r.t == V_FLOAT || b < 0) ? v_float(res) : v_int(res);
        return R_OK;
    } else if (is_num(l) && is_num(r)) {
        double a = l.u.n, b = r.u.n;
        int fl = l.t == V_FLOAT || r.t == V_FLOAT;
        switch (op) {
        case OP_ADD: *out = fl ? v_float(a + b) : v_int(a + b); return R_OK;
        case OP_SUB: *out = fl ? v_float(a - b) : v_int(a - b); return R_OK;
        case OP_MUL: *out = fl ? v_float(a * b) : v_int(a * b); return R_OK;
        case OP_DIV: *out = v_float(a / b); return R_OK;
        case OP_FLOORDIV: *out = fl ? v_float(floor(a / b)) : v_int(floor(a / b)); return R_OK;
        case OP_MOD: *out = fl ? v_float(fmod(a, b)) : v_int(fmod(a, b)); return R_OK;
        case OP_LT: *out = v_bool(a < b); return R_OK;
        case OP_GT: *out = v_bool(a > b); return R_OK;
        case OP_GE: *out = v_bool(a >= b); return R_OK;
        case OP_LE: *out = v_bool(a <= b); return R_OK;
        default: break;
        }
    } else if (l.t == V_ARR && r.t == V_ARR) {
        if (op == OP_ADD) {
            uint64_t n;
            if (!mx_add_ok(l.u.a->n, r.u.a->n, &n)) return oom(C, line);
            jarr *a = arr_new(C, (size_t)n);
            if (!a) return oom(C, line);
            if (l.u.a->n) memcpy(a->v, l.u.a->v, l.u.a->n * sizeof(jv));
            if (r.u.a->n) memcpy(a->v + l.u.a->n, r.u.a->v, r.u.a->n * sizeof(jv));
            *out = v_arr(a);
            return R_OK;
        }
    } else if (r.t == V_ARR) {
        if (op == OP_IN || op == OP_NOTIN) {
            int member = 0;
            for (size_t i = 0; i < r.u.a->n && !member; i++) member = strict_eq(r.u.a->v[i], l);
            *out = v_bool(op == OP_IN ? member : !member);
            return R_OK;
        }
    }
    if ((l.t == V_STR || r.t == V_STR) && op == OP_ADD) return concat_text(C, l, r, line, out);
    if (l.t == V_STR && r.t == V_STR && (op == OP_IN || op == OP_NOTIN)) {
        int c = contains(&r, l);
        *out = v_bool(op == OP_IN ? c : !c);
        return R_OK;
    }
    if (l.t == V_STR && is_mapping(r) && (op == OP_IN || op == OP_NOTIN)) {
        int c = obj_get(r.u.o, l.u.s.p, l.u.s.len) != NULL;
        *out = v_bool(op == OP_IN ? c : !c);
        return R_OK;
    }
    return fail(C, line, "unsupported operator '%s' between %s and %s", op_name(op), tname(l), tname(r));
}

/* Python-style slice of n items (utils.slice in the reference). idx receives the indices. */
static size_t slice_indices(size_t len, const jv *start, const jv *stop, const jv *step, size_t *idx) {
    double n = (double)len, st = step->t == V_UNDEF ? 1 : step->u.n;
    double s, e;
    if (st >= 0) {
        s = start->t == V_UNDEF ? 0 : start->u.n;
        s = s < 0 ? MX_MAX(n + s, 0) : MX_MIN(s, n);
        e = stop->t == V_UNDEF ? n : stop->u.n;
        e = e < 0 ? MX_MAX(n + e, 0) : MX_MIN(e, n);
    } else {
        s = start->t == V_UNDEF ? n - 1 : start->u.n;
        s = s < 0 ? MX_MAX(n + s, -1) : MX_MIN(s, n - 1);
        e = stop->t == V_UNDEF ? -1 : stop->u.n;
        e = e < -1 ? MX_MAX(n + e, -1) : MX_MIN(e, n - 1);
    }
    double dir = st > 0 ? 1 : st < 0 ? -1 : 0;
    size_t k = 0;
    for (double i = s; dir * i < dir * e; i += st) idx[k++] = (size_t)i;
    return k;
}

static int ev_slice(ctx *C, jv obj, const jnode *sl, jenv *env, int line, jv *out) {
    TRY(use(C, obj, line));
    if (obj.t != V_ARR && obj.t != V_STR) return fail(C, line, "only lists and strings can be sliced, not %s", tname(obj));
    jv p[3] = {v_undef(), v_undef(), v_undef()};
    const jnode *parts[3] = {sl->a, sl->b, sl->c};
    static const char *const names[3] = {"start", "stop", "step"};
    for (int i = 0; i < 3; i++) {
        if (parts[i]) TRY(ev(C, parts[i], env, &p[i]));
        if (p[i].t != V_INT && p[i].t != V_UNDEF) return fail(C, line, "slice %s must be an integer", names[i]);
    }
    if (obj.t == V_ARR) {
        size_t *idx = obj.u.a->n ? malloc(obj.u.a->n * sizeof *idx) : NULL;
        if (obj.u.a->n && !idx) return oom(C, line);
        size_t k = slice_indices(obj.u.a->n, &p[0], &p[1], &p[2], idx);
        jarr *a = arr_new(C, k);
        if (a)
            for (size_t i = 0; i < k; i++) a->v[i] = obj.u.a->v[idx[i]];
        free(idx);
        if (!a) return oom(C, line);
        *out = v_arr(a);
        return R_OK;
    }
    /* strings slice by code point (Array.from) */
    size_t ncp = 0;
    for (size_t i = 0; i < obj.u.s.len; ncp++) {
        size_t used;
        utf8_decode(obj.u.s.p + i, obj.u.s.len - i, &used);
        i += used;
    }
    size_t *off = malloc((ncp + 1) * sizeof *off), *idx = malloc((ncp + 1) * sizeof *idx);
    if (!off || !idx) {
        free(off);
        free(idx);
        return oom(C, line);
    }
    for (size_t i = 0, c = 0; i < obj.u.s.len; c++) {
        size_t used;
        utf8_decode(obj.u.s.p + i, obj.u.s.len - i, &used);
        off[c] = i;
        i += used;
    }
    off[ncp] = obj.u.s.len;
    size_t k = slice_indices(ncp, &p[0], &p[1], &p[2], idx);
    sb b;
    sb_init(C, &b);
    for (size_t i = 0; i < k; i++) sb_add(&b, obj.u.s.p + off[idx[i]], off[idx[i] + 1] - off[idx[i]]);
    free(off);
    free(idx);
    return v_from_sb(C, &b, line, out);
}

/* String.prototype.at(i) with UTF-16 indexing; half of a surrogate pair reads as U+FFFD. */
static jv str_at(ctx *C, jv s, double i) {
    double len = (double)utf16_len(s.u.s.p, s.u.s.len);
    if (i < 0) i += len;
    if (i < 0 || i >= len) return v_undef();
    size_t unit = 0;
    for (size_t p = 0; p < s.u.s.len;) {
        size_t used;
        uint32_t c = utf8_decode(s.u.s.p + p, s.u.s.len - p, &used);
        size_t w = c >= 0x10000 ? 2 : 1;
        if ((double)unit <= i && i < (double)(unit + w)) {
            if (w == 2) return v_str_ref("\xEF\xBF\xBD", 3);
            return v_str(C, s.u.s.p + p, used);
        }
        unit += w;
        p += used;
    }
    return v_undef();
}

static int ev_member(ctx *C, const jnode *x, jenv *env, jv *out) {
    jv obj;
    TRY(ev(C, x->a, env, &obj));
    TRY(use(C, obj, x->line));
    int line = x->line;
    jv prop;
    if (x->flag) {
        if (x->b->kind == N_SLICE) return ev_slice(C, obj, x->b, env, line, out);
        TRY(ev(C, x->b, env, &prop));
    } else if (x->b->kind == N_INT) {
        prop = v_int(x->b->num);
    } else {
        prop = v_str_ref(x->b->str, x->b->slen);
    }
    *out = v_undef();
    if (is_container(obj)) {
        if (prop.t != V_STR) return fail(C, line, "cannot access an object property with a %s", tname(prop));
        jv *s = obj_get(obj.u.o, prop.u.s.p, prop.u.s.len);
        if (s) {
            *out = *s;
        } else if (is_mapping(obj)) {
            for (int m = 0; m < OM_COUNT; m++)
                if (strlen(OBJ_METHODS[m]) == prop.u.s.len && !memcmp(OBJ_METHODS[m], prop.u.s.p, prop.u.s.len))
                    *out = v_fn(C, F_OBJMETH, m, obj);
        }
    } else if (obj.t == V_ARR || obj.t == V_STR) {
        if (prop.t == V_INT) {
            if (obj.t == V_STR) {
                *out = str_at(C, obj, trunc(prop.u.n));
            } else {
                double i = trunc(prop.u.n), n = (double)obj.u.a->n;
                if (i < 0) i += n;
                if (i >= 0 && i < n) *out = obj.u.a->v[(size_t)i];
            }
        } else if (prop.t == V_STR) {
            if (prop.u.s.len == 6 && !memcmp(prop.u.s.p, "length", 6)) {
                *out = v_int(obj.t == V_ARR ? (double)obj.u.a->n : (double)utf16_len(obj.u.s.p, obj.u.s.len));
            } else if (obj.t == V_STR) {
                for (int m = 0; m < SM_COUNT; m++)
                    if (strlen(STR_METHODS[m]) == prop.u.s.len && !memcmp(STR_METHODS[m], prop.u.s.p, prop.u.s.len))
                        *out = v_fn(C, F_STRMETH, m, obj);
            }
        } else {
            return fail(C, line, "cannot index a %s with a %s", tname(obj), tname(prop));
        }
    } else if (prop.t != V_STR) {
        return fail(C, line, "cannot access a property of %s with a %s", tname(obj), tname(prop));
    }
    *out = cooked(*out);
    return C->A->failed ? oom(C, line) : R_OK;
}

static int ev_call(ctx *C, const jnode *x, jenv *env, jv *out) {
    jv *args;
    size_t nargs;
    jobj *kw;
    TRY(ev_args(C, x, env, &args, &nargs, &kw));
    if (kw) args[nargs++] = v_obj(kw);
    jv fn;
    TRY(ev(C, x->a, env, &fn));
    TRY(use(C, fn, x->line));
    return call_fn(C, fn, args, nargs, env, x->line, out);
}

static int ev_inner(ctx *C, const jnode *x, jenv *env, jv *out) {
    switch (x->kind) {
    case N_TEXT:
    case N_STR: *out = v_str_ref(x->str, x->slen); return R_OK;
    case N_INT: *out = v_int(x->num); return R_OK;
    case N_FLOAT: *out = v_float(x->num); return R_OK;
    case N_IDENT: *out = env_get(env, x->str); return R_OK;
    case N_ARRAY:
    case N_TUPLE: {
        jarr *a = arr_new(C, x->nlist);
        if (!a) return oom(C, x->line);
        a->tuple = x->kind == N_TUPLE;
        for (size_t i = 0; i < x->nlist; i++) TRY(ev(C, x->list[i], env, &a->v[i]));
        *out = v_arr(a);
        return R_OK;
    }
    case N_OBJECT: {
        jobj *o = obj_new(C, O_OBJ);
        if (!o) return oom(C, x->line);
        for (size_t i = 0; i < x->nlist; i++) {
            jv k, v;
            TRY(ev(C, x->list[i], env, &k));
            if (k.t != V_STR) return fail(C, x->line, "object keys must be strings, got %s", tname(k));
            TRY(ev(C, x->list2[i], env, &v));
            if (obj_set(C, o, k.u.s.p, k.u.s.len, v)) return oom(C, x->line);
        }
        *out = v_obj(o);
        return R_OK;
    }
    case N_MEMBER: return ev_member(C, x, env, out);
    case N_CALL: return ev_call(C, x, env, out);
    case N_UNARY: {
        jv v;
        TRY(ev(C, x->a, env, &v));
        TRY(use(C, v, x->line));
        if (x->op == OP_NOT) {
            *out = v_bool(!truthy(v));
            return R_OK;
        }
        if (!is_numlike(v)) return fail(C, x->line, "unary '%s' needs a number, not %s", op_name(x->op), tname(v));
        double r = (x->op == OP_NEG ? -1 : 1) * numlike(v);
        *out = v.t == V_FLOAT ? v_float(r) : v_int(r);
        return R_OK;
    }
    case N_BINARY: return ev_binary(C, x, env, out);
    case N_FILTER: {
        jv v;
        TRY(ev(C, x->a, env, &v));
        return apply_filter(C, v, x->b, env, x->line, out);
    }
    case N_TEST: {
        jv v;
        TRY(ev(C, x->a, env, &v));
        TRY(use(C, v, x->line));
        int res;
        TRY(run_test(C, x->str, v, NULL, x->line, &res));
        *out = v_bool(x->flag ? !res : res);
        return R_OK;
    }
    case N_SELECT: {
        jv t;
        TRY(ev(C, x->b, env, &t));
        if (!truthy(t)) {
            *out = v_undef();
            return R_OK;
        }
        return ev(C, x->a, env, out);
    }
    case N_TERNARY: {
        jv t;
        TRY(ev(C, x->a, env, &t));
        return ev(C, truthy(t) ? x->b : x->c, env, out);
    }
    case N_CALLSTMT: {
        const jnode *call = x->a;
        jv cf = v_fn(C, F_CALLER, 0, v_undef());
        if (cf.t != V_FUNC) return oom(C, x->line);
        /* the caller() block: parameters in list, body in list2 (a macro-shaped node) */
        cf.u.f->node = x;
        cf.u.f->env = env;
        jv *args;
        size_t nargs;
        jobj *kw;
        TRY(ev_args(C, call, env, &args, &nargs, &kw));
        if (!kw && !(kw = obj_new(C, O_KWARGS))) return oom(C, x->line);
        jv *all = ja_alloc(C->A, (nargs + 1) * sizeof *all);
        if (!all) return oom(C, x->line);
        if (nargs) memcpy(all, args, nargs * sizeof *all);
        all[nargs++] = v_obj(kw);
        jv fn;
        TRY(ev(C, call->a, env, &fn));
        if (fn.t != V_FUNC) return fail(C, x->line, "cannot call a %s: it is not a function", tname(fn));
        jenv *e2 = env_new(C, env);
        if (!e2 || env_set(C, e2, "caller", cf)) return oom(C, x->line);
        return call_fn(C, fn, all, nargs, e2, x->line, out);
    }
    case N_FILTERSTMT: {
        sb b;
        sb_init(C, &b);
        int r = ex_block(C, x->list, x->nlist, env, &b);
        jv body;
        if (r) {
            sb_free(&b);
            return r;
        }
        TRY(v_from_sb(C, &b, x->line, &body));
        return apply_filter(C, body, x->a, env, x->line, out);
    }
    case N_KWARG:
    case N_SPREAD:
    case N_KWSPREAD:
    case N_SLICE: return fail(C, x->line, "unexpected argument syntax here");
    case N_COMMENT:
    case N_MACRO:
    case N_SET:
    case N_IF:
    case N_FOR:
    case N_BREAK:
    case N_CONTINUE: break;
    }
    return fail(C, x->line, "unexpected statement in an expression");
}

static int ev(ctx *C, const jnode *x, jenv *env, jv *out) {
    if (++C->steps > C->o.max_steps)
        return fail(C, x->line, "template exceeds the limit of %llu evaluation steps",
                    (unsigned long long)C->o.max_steps);
    if (++C->depth > C->o.max_depth) {
        C->depth--;
        return fail(C, x->line, "template nests deeper than %u (runaway recursion?)", C->o.max_depth);
    }
    int r = ev_inner(C, x, env, out);
    C->depth--;
    if (r == R_OK && C->A->failed) r = oom(C, x->line);
    return r;
}

/* ---- Statements -------------------------------------------------------------------------------- */

static int ex_set(ctx *C, const jnode *x, jenv *env) {
    jv rhs;
    if (x->b) {
        TRY(ev(C, x->b, env, &rhs));
    } else {
        sb b;
        sb_init(C, &b);
        int r = ex_block(C, x->list, x->nlist, env, &b);
        if (r) {
            sb_free(&b);
            return r;
        }
        TRY(v_from_sb(C, &b, x->line, &rhs));
    }
    const jnode *t = x->a;
    if (t->kind == N_IDENT) {
        if (env_set(C, env, t->str, rhs)) return oom(C, x->line);
    } else if (t->kind == N_TUPLE) {
        if (rhs.t != V_ARR) return fail(C, x->line, "cannot unpack a %s in set", tname(rhs));
        if (rhs.u.a->n != t->nlist)
            return fail(C, x->line, "too %s items to unpack in set", t->nlist > rhs.u.a->n ? "few" : "many");
        for (size_t i = 0; i < t->nlist; i++) {
            if (t->list[i]->kind != N_IDENT) return fail(C, x->line, "cannot unpack to a non-identifier in set");
            if (env_set(C, env, t->list[i]->str, rhs.u.a->v[i])) return oom(C, x->line);
        }
    } else if (t->kind == N_MEMBER) {
        jv obj;
        TRY(ev(C, t->a, env, &obj));
        if (obj.t != V_OBJ || obj.u.o->kind != O_NS)
            return fail(C, x->line, "cannot assign an attribute of %s (only of a namespace)", tname(obj));
        if (t->b->kind != N_IDENT) return fail(C, x->line, "cannot assign to a member with a non-identifier property");
        if (obj_set(C, obj.u.o, t->b->str, t->b->slen, rhs)) return oom(C, x->line);
    } else {
        return fail(C, x->line, "invalid left-hand side in set");
    }
    return R_OK;
}

static int bind_loopvar(ctx *C, const jnode *lv, jv cur, jenv *scope, int line) {
    if (lv->kind == N_IDENT) return env_set(C, scope, lv->str, cur) ? oom(C, line) : R_OK;
    if (cur.t != V_ARR || cur.u.a->tuple) return fail(C, line, "cannot unpack a %s", tname(cur));
    if (lv->nlist != cur.u.a->n) return fail(C, line, "too %s items to unpack", lv->nlist > cur.u.a->n ? "few" : "many");
    for (size_t j = 0; j < lv->nlist; j++) {
        if (lv->list[j]->kind != N_IDENT) return fail(C, line, "cannot unpack to a non-identifier");
        if (env_set(C, scope, lv->list[j]->str, cur.u.a->v[j])) return oom(C, line);
    }
    return R_OK;
}

static int ex_for(ctx *C, const jnode *x, jenv *env, sb *out) {
    jenv *scope = env_new(C, env);
    if (!scope) return oom(C, x->line);
    const jnode *test = NULL;
    jv it;
    if (x->b->kind == N_SELECT) {
        TRY(ev(C, x->b->a, scope, &it));
        test = x->b->b;
    } else {
        TRY(ev(C, x->b, scope, &it));
    }
    TRY(use(C, it, x->line));
    if (it.t == V_OBJ && it.u.o->kind != O_NS) TRY(obj_items(C, it.u.o, OM_KEYS, x->line, &it));
    if (it.t != V_ARR) return fail(C, x->line, "cannot loop over %s", tname(it));
    const jarr *src = it.u.a;
    jv *items = src->v;
    size_t n = src->n;
    if (test) {
        jarr *kept = arr_new(C, n);
        if (!kept) return oom(C, x->line);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            jenv *ls = env_new(C, scope);
            if (!ls) return oom(C, x->line);
            TRY(bind_loopvar(C, x->a, src->v[i], ls, x->line));
            jv t;
            TRY(ev(C, test, ls, &t));
            if (truthy(t)) kept->v[k++] = src->v[i];
        }
        items = kept->v;
        n = k;
    }
    int no_iteration = 1;
    for (size_t i = 0; i < n; i++) {
        jobj *loop = obj_new(C, O_OBJ);
        if (!loop) return oom(C, x->line);
        int bad = obj_set(C, loop, "index", 5, v_int((double)i + 1)) ||
                  obj_set(C, loop, "index0", 6, v_int((double)i)) ||
                  obj_set(C, loop, "revindex", 8, v_int((double)(n - i))) ||
                  obj_set(C, loop, "revindex0", 9, v_int((double)(n - i - 1))) ||
                  obj_set(C, loop, "first", 5, v_bool(i == 0)) ||
                  obj_set(C, loop, "last", 4, v_bool(i == n - 1)) ||
                  obj_set(C, loop, "length", 6, v_int((double)n)) ||
                  obj_set(C, loop, "previtem", 8, i > 0 ? items[i - 1] : v_undef()) ||
                  obj_set(C, loop, "nextitem", 8, i + 1 < n ? items[i + 1] : v_undef()) ||
                  env_set(C, scope, "loop", v_obj(loop));
        if (bad) return oom(C, x->line);
        TRY(bind_loopvar(C, x->a, items[i], scope, x->line));
        size_t mark = out->n;
        int r = ex_block(C, x->list, x->nlist, scope, out);
        if (r == R_CONT || r == R_BREAK) {
            /* the iteration's partial output is dropped, as the reference's exception does */
            out->n = mark;
            if (out->p) out->p[mark] = 0;
            if (r == R_BREAK) break;
            continue;
        }
        if (r) return r;
        no_iteration = 0;
    }
    if (no_iteration) return ex_block(C, x->list2, x->nlist2, scope, out);
    return R_OK;
}

/* Run statements, appending their text to out. */
static int ex_block(ctx *C, jnode *const *list, size_t n, jenv *env, sb *out) {
    if (++C->depth > C->o.max_depth) {
        C->depth--;
        return fail(C, n ? list[0]->line : 0, "template nests deeper than %u", C->o.max_depth);
    }
    int r = R_OK;
    for (size_t i = 0; i < n && r == R_OK; i++) {
        const jnode *x = list[i];
        if (++C->steps > C->o.max_steps) {
            r = fail(C, x->line, "template exceeds the limit of %llu evaluation steps",
                     (unsigned long long)C->o.max_steps);
            break;
        }
        switch (x->kind) {
        case N_TEXT: sb_add(out, x->str, x->slen); break;
        case N_COMMENT: break;
        case N_SET: r = ex_set(C, x, env); break;
        case N_IF: {
            jv t;
            r = ev(C, x->a, env, &t);
            if (r == R_OK) r = truthy(t) ? ex_block(C, x->list, x->nlist, env, out)
                                         : ex_block(C, x->list2, x->nlist2, env, out);
            break;
        }
        case N_FOR: r = ex_for(C, x, env, out); break;
        case N_MACRO: {
            jv f = v_fn(C, F_MACRO, 0, v_undef());
            if (f.t != V_FUNC) {
                r = oom(C, x->line);
                break;
            }
            f.u.f->node = x;
            if (env_set(C, env, x->str, f)) r = oom(C, x->line);
            break;
        }
        case N_BREAK: r = R_BREAK; break;
        case N_CONTINUE: r = R_CONT; break;
        default: {
            jv v;
            r = ev(C, x, env, &v);
            if (r == R_OK) r = use(C, v, x->line);
            if (r == R_OK && v.t != V_NULL && v.t != V_UNDEF) r = display(C, v, out, x->line);
        }
        }
        if (r == R_OK && out->failed) r = sb_check(C, out, x->line);
        if (r == R_OK && C->A->failed) r = oom(C, x->line);
    }
    C->depth--;
    return r;
}

/* ==== Values from JSON ========================================================================== */

/* An array index key ("0", "17"; canonical, < 2^32 - 1) sorts first in a JS object. */
static int index_key(const char *k, double *out) {
    size_t n = strlen(k);
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0')) return 0;
    double v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9') return 0;
        v = v * 10 + (k[i] - '0');
    }
    if (v >= 4294967295.0) return 0;
    *out = v;
    return 1;
}

static int from_json(ctx *C, const cJSON *j, jv *out, int depth) {
    if (depth > 1000) return fail(C, 0, "input JSON nested too deeply");
    if (cJSON_IsNull(j) || cJSON_IsInvalid(j)) *out = v_null();
    else if (cJSON_IsBool(j)) *out = v_bool(cJSON_IsTrue(j));
    else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        *out = (isfinite(d) && floor(d) == d) ? v_int(d) : v_float(d);
    } else if (cJSON_IsString(j)) {
        *out = v_str(C, j->valuestring, strlen(j->valuestring));
    } else if (cJSON_IsArray(j)) {
        size_t n = (size_t)cJSON_GetArraySize(j);
        jarr *a = arr_new(C, n);
        if (!a) return oom(C, 0);
        size_t i = 0;
        for (const cJSON *c = j->child; c && i < n; c = c->next) TRY(from_json(C, c, &a->v[i++], depth + 1));
        a->n = i;
        *out = v_arr(a);
    } else if (cJSON_IsObject(j)) {
        jobj *o = obj_new(C, O_OBJ);
        if (!o) return oom(C, 0);
        /* integer-like keys first in ascending order, then the rest in document order */
        for (int pass = 0; pass < 2; pass++) {
            for (const cJSON *c = j->child; c; c = c->next) {
                if (!c->string) continue;
                double idx;
                int is_idx = index_key(c->string, &idx);
                if (is_idx != (pass == 0)) continue;
                jv v;
                TRY(from_json(C, c, &v, depth + 1));
                size_t kl = strlen(c->string);
                char *k = ja_strndup(C->A, c->string, kl);
                if (!k || obj_set(C, o, k, kl, v)) return oom(C, 0);
            }
            if (pass == 0 && o->n > 1) {
                for (size_t a = 1; a < o->n; a++)
                    for (size_t b = a; b > 0; b--) {
                        double x, y;
                        index_key(o->k[b - 1].p, &x);
                        index_key(o->k[b].p, &y);
                        if (x <= y) break;
                        jkey tk = o->k[b];
                        o->k[b] = o->k[b - 1];
                        o->k[b - 1] = tk;
                        jv tv = o->v[b];
                        o->v[b] = o->v[b - 1];
                        o->v[b - 1] = tv;
                    }
            }
        }
        *out = v_obj(o);
    } else {
        *out = v_null();
    }
    return C->A->failed ? oom(C, 0) : R_OK;
}

/* ==== Public entry points ======================================================================== */

static mixlm_status parse_impl(const char *src, size_t len, mx_jinja **out);

mixlm_status mx_jinja_parse(const char *src, size_t len, mx_jinja **out) {
    void *saved = mx_jinja_locale_enter();
    mixlm_status st = parse_impl(src, len, out);
    mx_jinja_locale_leave(saved);
    return st;
}

static mixlm_status parse_impl(const char *src, size_t len, mx_jinja **out) {
    *out = NULL;
    if (!src && len) return mx_err(MIXLM_ERR_INVALID_ARG, "template: source is NULL");
    mx_jinja *j = mx_calloc(1, sizeof *j);
    if (!j) return MIXLM_ERR_NOMEM;
    j->arena.limit = 256ull << 20;
    jtok *toks = NULL;
    size_t ntok = 0;
    mixlm_status st = mx_jinja_lex(&j->arena, src ? src : "", len, &toks, &ntok);
    if (st == MIXLM_OK) st = mx_jinja_parse_tokens(&j->arena, toks, ntok, &j->body, &j->nbody);
    free(toks);
    if (st == MIXLM_OK && j->arena.failed) st = mx_err(MIXLM_ERR_NOMEM, "template: out of memory");
    if (st != MIXLM_OK) {
        mx_jinja_free(j);
        return st;
    }
    *out = j;
    return MIXLM_OK;
}

void mx_jinja_free(mx_jinja *j) {
    if (!j) return;
    ja_free_all(&j->arena);
    free(j);
}

static const char *const GLOBALS[] = {"namespace", "false", "true", "none", "raise_exception",
                                      "range", "strftime_now", "True", "False", "None"};

static mixlm_status render_impl(const mx_jinja *j, const cJSON *vars, const mx_jinja_opts *opts,
                                char **out, size_t *len);

mixlm_status mx_jinja_render(const mx_jinja *j, const cJSON *vars, const mx_jinja_opts *opts,
                             char **out, size_t *len) {
    void *saved = mx_jinja_locale_enter();
    mixlm_status st = render_impl(j, vars, opts, out, len);
    mx_jinja_locale_leave(saved);
    return st;
}

static mixlm_status render_impl(const mx_jinja *j, const cJSON *vars, const mx_jinja_opts *opts,
                                char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    if (!j) return mx_err(MIXLM_ERR_INVALID_ARG, "template: NULL template");
    jarena arena = {0};
    ctx Cs = {0}, *C = &Cs;
    C->A = &arena;
    if (opts) C->o = *opts;
    if (!C->o.max_output) C->o.max_output = DEFAULT_MAX_OUTPUT;
    if (!C->o.max_steps) C->o.max_steps = DEFAULT_MAX_STEPS;
    if (!C->o.max_memory) C->o.max_memory = DEFAULT_MAX_MEMORY;
    if (!C->o.max_depth) C->o.max_depth = DEFAULT_MAX_DEPTH;
    arena.limit = C->o.max_memory;
    sb b;
    sb_init(C, &b);
    int r = R_OK;
    jenv *g = env_new(C, NULL);
    if (!g) r = oom(C, 0);
    for (size_t i = 0; r == R_OK && i < MX_ARRAY_LEN(GLOBALS); i++) {
        const char *name = GLOBALS[i];
        jv v;
        if (!strcmp(name, "namespace")) v = v_fn(C, F_NAMESPACE, 0, v_undef());
        else if (!strcmp(name, "raise_exception")) v = v_fn(C, F_RAISE, 0, v_undef());
        else if (!strcmp(name, "range")) v = v_fn(C, F_RANGE, 0, v_undef());
        else if (!strcmp(name, "strftime_now")) v = v_fn(C, F_STRFTIME, 0, v_undef());
        else if (!strcmp(name, "true") || !strcmp(name, "True")) v = v_bool(1);
        else if (!strcmp(name, "false") || !strcmp(name, "False")) v = v_bool(0);
        else v = v_null();
        if (env_set(C, g, name, v)) r = oom(C, 0);
    }
    if (r == R_OK && vars) {
        for (const cJSON *c = vars->child; c && r == R_OK; c = c->next) {
            if (!c->string) continue;
            /* Environment.set() refuses to redeclare a global such as `true` or `range`. */
            if (env_has(g, c->string)) {
                r = fail(C, 0, "variable already declared: %s", c->string);
                break;
            }
            jv v;
            r = from_json(C, c, &v, 0);
            if (r == R_OK) {
                char *name = ja_strndup(C->A, c->string, strlen(c->string));
                if (!name || env_set(C, g, name, v)) r = oom(C, 0);
            }
        }
    }
    if (r == R_OK) {
        r = ex_block(C, j->body, j->nbody, g, &b);
        if (r == R_BREAK || r == R_CONT) r = fail(C, 0, "'break' or 'continue' outside a loop");
    }
    if (r == R_OK) r = sb_check(C, &b, 0);
    mixlm_status st = MIXLM_OK;
    if (r != R_OK) {
        st = mx_jinja_error(C->err_line, "%s", C->err);
        sb_free(&b);
    } else {
        if (!b.p) {
            b.p = malloc(1);
            if (b.p) b.p[0] = 0;
        }
        if (!b.p) {
            st = mx_err(MIXLM_ERR_NOMEM, "template: out of memory");
        } else {
            *out = b.p;
            if (len) *len = b.n;
        }
    }
    ja_free_all(&arena);
    return st;
}
