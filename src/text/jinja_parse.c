/* jinja_parse.c: the Jinja parser: tokens -> syntax tree, a recursive-descent port of the
 * reference grammar (same precedence: ternary < or < and < not < comparison/in < + - ~ <
 * * / // % < ** < is-tests < filters < unary sign < call/member < primary). */
#include "text/jinja_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PARSE_DEPTH 200

typedef struct parser {
    jarena *a;
    const jtok *t;
    size_t n, cur;
    int depth;
    mixlm_status st;
} parser;

/* Growable node list (arena-backed: old arrays are abandoned when growing). */
typedef struct nlist {
    jnode **v;
    size_t n, cap;
} nlist;

static int nl_push(parser *P, nlist *l, jnode *x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jnode **v = ja_alloc(P->a, cap * sizeof *v);
        if (!v) return -1;
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

static int cur_line(const parser *P) {
    if (P->n == 0) return 1;
    return P->t[P->cur < P->n ? P->cur : P->n - 1].line;
}

#define FAIL(...)                                                    \
    do {                                                             \
        if (P->st == MIXLM_OK) P->st = mx_jinja_error(cur_line(P), __VA_ARGS__); \
        return NULL;                                                 \
    } while (0)
#define CHECK(x)                  \
    do {                          \
        if (!(x)) return NULL;    \
    } while (0)

static jnode *mk(parser *P, jnode_kind kind, int line) {
    jnode *x = ja_alloc(P->a, sizeof *x);
    if (!x) {
        if (P->st == MIXLM_OK) P->st = mx_err(MIXLM_ERR_NOMEM, "template: out of memory");
        return NULL;
    }
    x->kind = kind;
    x->line = line;
    return x;
}

static const char *tname(jtok_type t) {
    static const char *const names[] = {
        "text", "number", "string", "identifier", "'='", "'('", "')'", "'{%'", "'%}'", "'{{'",
        "'}}'", "'['", "']'", "'{'", "'}'", "','", "'.'", "':'", "'|'", "operator", "operator",
        "'**'", "comparison", "unary operator", "comment"};
    return (unsigned)t < MX_ARRAY_LEN(names) ? names[t] : "?";
}

static int is(const parser *P, jtok_type t) { return P->cur < P->n && P->t[P->cur].type == t; }
static int is_ident(const parser *P, size_t off, const char *name) {
    return P->cur + off < P->n && P->t[P->cur + off].type == T_IDENT &&
           !strcmp(P->t[P->cur + off].v, name);
}
/* {% name ... with name one of the given statement keywords */
static int is_stmt(const parser *P, const char *n1, const char *n2, const char *n3) {
    if (!(P->cur + 1 < P->n && P->t[P->cur].type == T_OPEN_STMT && P->t[P->cur + 1].type == T_IDENT))
        return 0;
    const char *v = P->t[P->cur + 1].v;
    return (n1 && !strcmp(v, n1)) || (n2 && !strcmp(v, n2)) || (n3 && !strcmp(v, n3));
}

static const jtok *expect(parser *P, jtok_type type, const char *what) {
    if (P->cur >= P->n) {
        if (P->st == MIXLM_OK)
            P->st = mx_jinja_error(cur_line(P), "expected %s, got the end of the template", what);
        return NULL;
    }
    const jtok *t = &P->t[P->cur++];
    if (t->type != type) {
        if (P->st == MIXLM_OK)
            P->st = mx_jinja_error(t->line, "expected %s, got %s '%.40s'", what, tname(t->type), t->v);
        return NULL;
    }
    return t;
}

static int expect_ident(parser *P, const char *name) {
    if (!is_ident(P, 0, name)) {
        if (P->st == MIXLM_OK) P->st = mx_jinja_error(cur_line(P), "expected '%s'", name);
        return -1;
    }
    P->cur++;
    return 0;
}

static jnode *parse_any(parser *P);
static jnode *parse_expr(parser *P);
static jnode *parse_primary(parser *P);
static jnode *parse_member(parser *P, jnode *object);
static jnode *parse_call(parser *P, jnode *callee);
static int parse_args(parser *P, int params, nlist *out);

/* Parse statements until {% one of the names; returns -1 on error. */
static int parse_until(parser *P, nlist *body, const char *n1, const char *n2, const char *n3,
                       const char *end) {
    while (!is_stmt(P, n1, n2, n3)) {
        if (P->cur >= P->n) {
            if (P->st == MIXLM_OK)
                P->st = mx_jinja_error(cur_line(P), "unexpected end of template: missing {%% %s %%}", end);
            return -1;
        }
        jnode *x = parse_any(P);
        if (!x || nl_push(P, body, x)) {
            if (P->st == MIXLM_OK) P->st = mx_err(MIXLM_ERR_NOMEM, "template: out of memory");
            return -1;
        }
    }
    return 0;
}

static int end_stmt(parser *P, const char *name) {
    if (!expect(P, T_OPEN_STMT, "'{%'")) return -1;
    if (expect_ident(P, name)) return -1;
    if (!expect(P, T_CLOSE_STMT, "'%}'")) return -1;
    return 0;
}

/* ---- Expressions ------------------------------------------------------------------------- */

static jnode *parse_seq(parser *P, int primary) {
    int line = cur_line(P);
    jnode *first = primary ? parse_primary(P) : parse_expr(P);
    CHECK(first);
    if (!is(P, T_COMMA)) return first;
    nlist l = {0};
    if (nl_push(P, &l, first)) FAIL("out of memory");
    while (1) {
        P->cur++; /* comma */
        jnode *x = primary ? parse_primary(P) : parse_expr(P);
        CHECK(x);
        if (nl_push(P, &l, x)) FAIL("out of memory");
        if (!is(P, T_COMMA)) break;
    }
    jnode *t = mk(P, N_TUPLE, line);
    CHECK(t);
    t->list = l.v;
    t->nlist = l.n;
    return t;
}

static jnode *binary(parser *P, jop op, jnode *l, jnode *r, int line) {
    jnode *x = mk(P, N_BINARY, line);
    CHECK(x);
    x->op = op;
    x->a = l;
    x->b = r;
    return x;
}

static jnode *parse_unary_sign(parser *P);

static jnode *parse_filter_expr(parser *P) {
    jnode *operand = parse_unary_sign(P);
    CHECK(operand);
    while (is(P, T_PIPE)) {
        int line = cur_line(P);
        P->cur++;
        jnode *f = parse_primary(P);
        CHECK(f);
        if (f->kind != N_IDENT) FAIL("expected a filter name after '|'");
        if (is(P, T_LPAREN)) CHECK(f = parse_call(P, f));
        jnode *x = mk(P, N_FILTER, line);
        CHECK(x);
        x->a = operand;
        x->b = f;
        operand = x;
    }
    return operand;
}

static jnode *parse_test_expr(parser *P) {
    jnode *operand = parse_filter_expr(P);
    CHECK(operand);
    while (is_ident(P, 0, "is")) {
        int line = cur_line(P);
        P->cur++;
        int negate = is_ident(P, 0, "not");
        if (negate) P->cur++;
        jnode *f = parse_primary(P);
        CHECK(f);
        if (f->kind != N_IDENT) FAIL("expected a test name after 'is'");
        jnode *x = mk(P, N_TEST, line);
        CHECK(x);
        x->a = operand;
        x->flag = negate;
        x->str = f->str;
        x->slen = f->slen;
        operand = x;
    }
    return operand;
}

static jnode *parse_power(parser *P) {
    jnode *l = parse_test_expr(P);
    CHECK(l);
    while (is(P, T_POW)) {
        int line = cur_line(P);
        P->cur++;
        jnode *r = parse_test_expr(P);
        CHECK(r);
        CHECK(l = binary(P, OP_POW, l, r, line));
    }
    return l;
}

static jnode *parse_mul(parser *P) {
    jnode *l = parse_power(P);
    CHECK(l);
    while (is(P, T_MUL)) {
        const jtok *t = &P->t[P->cur++];
        jop op = !strcmp(t->v, "*") ? OP_MUL : !strcmp(t->v, "/") ? OP_DIV
               : !strcmp(t->v, "//") ? OP_FLOORDIV : OP_MOD;
        jnode *r = parse_power(P);
        CHECK(r);
        CHECK(l = binary(P, op, l, r, t->line));
    }
    return l;
}

static jnode *parse_add(parser *P) {
    jnode *l = parse_mul(P);
    CHECK(l);
    while (is(P, T_ADD)) {
        const jtok *t = &P->t[P->cur++];
        jop op = t->v[0] == '+' ? OP_ADD : t->v[0] == '-' ? OP_SUB : OP_CONCAT;
        jnode *r = parse_mul(P);
        CHECK(r);
        CHECK(l = binary(P, op, l, r, t->line));
    }
    return l;
}

static jnode *parse_comparison(parser *P) {
    jnode *l = parse_add(P);
    CHECK(l);
    while (1) {
        jop op;
        int line = cur_line(P);
        if (is_ident(P, 0, "not") && is_ident(P, 1, "in")) {
            op = OP_NOTIN;
            P->cur += 2;
        } else if (is_ident(P, 0, "in")) {
            op = OP_IN;
            P->cur++;
        } else if (is(P, T_CMP)) {
            const char *v = P->t[P->cur++].v;
            op = !strcmp(v, "==") ? OP_EQ : !strcmp(v, "!=") ? OP_NE : !strcmp(v, "<") ? OP_LT
               : !strcmp(v, ">") ? OP_GT : !strcmp(v, "<=") ? OP_LE : OP_GE;
        } else {
            break;
        }
        jnode *r = parse_add(P);
        CHECK(r);
        CHECK(l = binary(P, op, l, r, line));
    }
    return l;
}

static jnode *parse_not(parser *P) {
    if (is_ident(P, 0, "not")) {
        int line = cur_line(P);
        P->cur++;
        if (++P->depth > MAX_PARSE_DEPTH) FAIL("expression nested too deeply");
        jnode *arg = parse_not(P);
        P->depth--;
        CHECK(arg);
        jnode *x = mk(P, N_UNARY, line);
        CHECK(x);
        x->op = OP_NOT;
        x->a = arg;
        return x;
    }
    return parse_comparison(P);
}

static jnode *parse_and(parser *P) {
    jnode *l = parse_not(P);
    CHECK(l);
    while (is_ident(P, 0, "and")) {
        int line = cur_line(P);
        P->cur++;
        jnode *r = parse_not(P);
        CHECK(r);
        CHECK(l = binary(P, OP_AND, l, r, line));
    }
    return l;
}

static jnode *parse_or(parser *P) {
    jnode *l = parse_and(P);
    CHECK(l);
    while (is_ident(P, 0, "or")) {
        int line = cur_line(P);
        P->cur++;
        jnode *r = parse_and(P);
        CHECK(r);
        CHECK(l = binary(P, OP_OR, l, r, line));
    }
    return l;
}

static jnode *parse_if_expr(parser *P) {
    jnode *a = parse_or(P);
    CHECK(a);
    if (is_ident(P, 0, "if")) {
        int line = cur_line(P);
        P->cur++;
        jnode *test = parse_or(P);
        CHECK(test);
        if (is_ident(P, 0, "else")) {
            P->cur++;
            jnode *f = parse_if_expr(P);
            CHECK(f);
            jnode *x = mk(P, N_TERNARY, line);
            CHECK(x);
            x->a = test;
            x->b = a;
            x->c = f;
            return x;
        }
        jnode *x = mk(P, N_SELECT, line);
        CHECK(x);
        x->a = a;
        x->b = test;
        return x;
    }
    return a;
}

static jnode *parse_expr(parser *P) {
    if (++P->depth > MAX_PARSE_DEPTH) FAIL("expression nested too deeply");
    jnode *x = parse_if_expr(P);
    P->depth--;
    return x;
}

static jnode *parse_unary_sign(parser *P) {
    if (P->cur < P->n && (P->t[P->cur].type == T_UNARY || P->t[P->cur].type == T_ADD) &&
        (!strcmp(P->t[P->cur].v, "-") || !strcmp(P->t[P->cur].v, "+"))) {
        const jtok *t = &P->t[P->cur++];
        if (++P->depth > MAX_PARSE_DEPTH) FAIL("expression nested too deeply");
        jnode *arg = parse_unary_sign(P);
        P->depth--;
        CHECK(arg);
        jnode *x = mk(P, N_UNARY, t->line);
        CHECK(x);
        x->op = t->v[0] == '-' ? OP_NEG : OP_POS;
        x->a = arg;
        return x;
    }
    jnode *m = parse_primary(P);
    CHECK(m);
    CHECK(m = parse_member(P, m));
    if (is(P, T_LPAREN)) return parse_call(P, m);
    return m;
}

static jnode *parse_call(parser *P, jnode *callee) {
    int line = cur_line(P);
    jnode *x = mk(P, N_CALL, line);
    CHECK(x);
    x->a = callee;
    nlist args = {0};
    if (parse_args(P, 0, &args)) return NULL;
    x->list = args.v;
    x->nlist = args.n;
    CHECK(x = parse_member(P, x));
    if (is(P, T_LPAREN)) {
        if (++P->depth > MAX_PARSE_DEPTH) FAIL("expression nested too deeply");
        x = parse_call(P, x);
        P->depth--;
    }
    return x;
}

/* Argument list "( ... )" of a call (params == 0) or of a macro declaration (params == 1). */
static int parse_args(parser *P, int params, nlist *out) {
    if (!expect(P, T_LPAREN, "'('")) return -1;
    int saw_kw = 0, saw_spread = 0;
    while (!is(P, T_RPAREN)) {
        if (P->cur >= P->n) {
            if (P->st == MIXLM_OK) P->st = mx_jinja_error(cur_line(P), "missing ')'");
            return -1;
        }
        int line = cur_line(P);
        int kwspread = is(P, T_POW);
        int spread = is(P, T_MUL) && !strcmp(P->t[P->cur].v, "*");
        if (params && (kwspread || spread)) {
            P->st = mx_jinja_error(line, "argument unpacking is not allowed in parameter declarations");
            return -1;
        }
        jnode *arg;
        if (kwspread) {
            P->cur++;
            jnode *e = parse_expr(P);
            if (!e) return -1;
            if (!(arg = mk(P, N_KWSPREAD, line))) return -1;
            arg->a = e;
            if (nl_push(P, out, arg)) return -1;
            if (is(P, T_COMMA)) P->cur++;
            if (!is(P, T_RPAREN)) {
                P->st = mx_jinja_error(cur_line(P), "'**' must be applied to the final argument");
                return -1;
            }
            break;
        }
        if (spread) {
            if (saw_spread) {
                P->st = mx_jinja_error(line, "only one '*' argument unpacking is allowed");
                return -1;
            }
            saw_spread = 1;
            P->cur++;
            jnode *e = parse_expr(P);
            if (!e) return -1;
            if (!(arg = mk(P, N_SPREAD, line))) return -1;
            arg->a = e;
        } else {
            arg = parse_expr(P);
            if (!arg) return -1;
            if (is(P, T_EQUALS)) {
                P->cur++;
                if (arg->kind != N_IDENT) {
                    P->st = mx_jinja_error(line, params ? "expected identifier for parameter declaration"
                                                        : "expected identifier for keyword argument");
                    return -1;
                }
                jnode *v = parse_expr(P);
                if (!v) return -1;
                jnode *kw = mk(P, N_KWARG, line);
                if (!kw) return -1;
                kw->str = arg->str;
                kw->slen = arg->slen;
                kw->a = v;
                arg = kw;
            }
            if (params) {
                if (arg->kind != N_IDENT && arg->kind != N_KWARG) {
                    P->st = mx_jinja_error(line, "expected identifier for parameter declaration");
                    return -1;
                }
                for (size_t i = 0; i < out->n; i++)
                    if (!strcmp(out->v[i]->str, arg->str)) {
                        P->st = mx_jinja_error(line, "duplicate parameter name: %s", arg->str);
                        return -1;
                    }
            }
            if (arg->kind == N_KWARG) {
                saw_kw = 1;
            } else if (saw_kw) {
                P->st = mx_jinja_error(line, params ? "non-default argument follows default argument"
                                                    : "positional arguments must come before keyword arguments");
                return -1;
            } else if (saw_spread) {
                P->st = mx_jinja_error(line, "positional arguments must not follow '*' argument unpacking");
                return -1;
            }
        }
        if (nl_push(P, out, arg)) return -1;
        if (is(P, T_COMMA)) P->cur++;
    }
    if (!expect(P, T_RPAREN, "')'")) return -1;
    return 0;
}

/* Inside [ ]: an index expression or a slice [start:stop:step]. */
static jnode *parse_subscript(parser *P) {
    int line = cur_line(P);
    jnode *parts[4] = {0};
    size_t np = 0;
    int is_slice = 0;
    while (!is(P, T_RBRACKET)) {
        if (P->cur >= P->n) FAIL("missing ']'");
        if (np >= 4) FAIL("expected 0-3 arguments for a slice");
        if (is(P, T_COLON)) {
            parts[np++] = NULL;
            P->cur++;
            is_slice = 1;
        } else {
            CHECK(parts[np++] = parse_expr(P));
            if (is(P, T_COLON)) {
                P->cur++;
                is_slice = 1;
            }
        }
    }
    if (np == 0) FAIL("expected at least one argument for a member or slice expression");
    if (is_slice) {
        if (np > 3) FAIL("expected 0-3 arguments for a slice");
        jnode *x = mk(P, N_SLICE, line);
        CHECK(x);
        x->a = parts[0];
        x->b = np > 1 ? parts[1] : NULL;
        x->c = np > 2 ? parts[2] : NULL;
        return x;
    }
    return parts[0];
}

static jnode *parse_member(parser *P, jnode *object) {
    while (is(P, T_DOT) || is(P, T_LBRACKET)) {
        int line = cur_line(P);
        int computed = is(P, T_LBRACKET);
        P->cur++;
        jnode *prop;
        if (computed) {
            CHECK(prop = parse_subscript(P));
            if (!expect(P, T_RBRACKET, "']'")) return NULL;
        } else {
            CHECK(prop = parse_primary(P));
            if (prop->kind != N_IDENT && prop->kind != N_INT)
                FAIL("expected an identifier or integer after '.'");
        }
        jnode *x = mk(P, N_MEMBER, line);
        CHECK(x);
        x->a = object;
        x->b = prop;
        x->flag = computed;
        object = x;
    }
    return object;
}

static jnode *parse_primary(parser *P) {
    if (P->cur >= P->n) FAIL("unexpected end of template in an expression");
    if (++P->depth > MAX_PARSE_DEPTH) FAIL("expression nested too deeply");
    const jtok *t = &P->t[P->cur++];
    jnode *x = NULL;
    switch (t->type) {
    case T_NUM:
        x = mk(P, strchr(t->v, '.') ? N_FLOAT : N_INT, t->line);
        if (x) x->num = strtod(t->v, NULL);
        break;
    case T_STR: {
        size_t total = t->n, k = P->cur;
        while (k < P->n && P->t[k].type == T_STR) total += P->t[k++].n;
        char *s = ja_alloc(P->a, total + 1);
        x = mk(P, N_STR, t->line);
        if (!s || !x) break;
        memcpy(s, t->v, t->n);
        size_t o = t->n;
        while (is(P, T_STR)) {
            memcpy(s + o, P->t[P->cur].v, P->t[P->cur].n);
            o += P->t[P->cur++].n;
        }
        x->str = s;
        x->slen = o;
        break;
    }
    case T_IDENT:
        x = mk(P, N_IDENT, t->line);
        if (x) {
            x->str = t->v;
            x->slen = t->n;
        }
        break;
    case T_LPAREN:
        x = parse_seq(P, 0);
        if (x && !expect(P, T_RPAREN, "')'")) x = NULL;
        break;
    case T_LBRACKET: {
        nlist l = {0};
        x = mk(P, N_ARRAY, t->line);
        while (x && !is(P, T_RBRACKET)) {
            if (P->cur >= P->n) {
                P->st = mx_jinja_error(t->line, "missing ']'");
                x = NULL;
                break;
            }
            jnode *e = parse_expr(P);
            if (!e || nl_push(P, &l, e)) {
                x = NULL;
                break;
            }
            if (is(P, T_COMMA)) P->cur++;
        }
        if (x) {
            P->cur++;
            x->list = l.v;
            x->nlist = l.n;
        }
        break;
    }
    case T_LBRACE: {
        nlist keys = {0}, vals = {0};
        x = mk(P, N_OBJECT, t->line);
        while (x && !is(P, T_RBRACE)) {
            if (P->cur >= P->n) {
                P->st = mx_jinja_error(t->line, "missing '}'");
                x = NULL;
                break;
            }
            jnode *k = parse_expr(P);
            if (!k || !expect(P, T_COLON, "':' between key and value")) {
                x = NULL;
                break;
            }
            jnode *v = parse_expr(P);
            if (!v || nl_push(P, &keys, k) || nl_push(P, &vals, v)) {
                x = NULL;
                break;
            }
            if (is(P, T_COMMA)) P->cur++;
        }
        if (x) {
            P->cur++;
            x->list = keys.v;
            x->nlist = keys.n;
            x->list2 = vals.v;
            x->nlist2 = vals.n;
        }
        break;
    }
    default:
        P->depth--;
        P->cur--;
        FAIL("unexpected %s '%.40s'", tname(t->type), t->v);
    }
    P->depth--;
    if (!x && P->st == MIXLM_OK) P->st = mx_err(MIXLM_ERR_NOMEM, "template: out of memory");
    return x;
}

/* ---- Statements ---------------------------------------------------------------------------- */

static jnode *parse_if(parser *P, int line) {
    jnode *x = mk(P, N_IF, line);
    CHECK(x);
    CHECK(x->a = parse_expr(P));
    if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
    nlist body = {0}, alt = {0};
    if (parse_until(P, &body, "elif", "else", "endif", "endif")) return NULL;
    if (is_stmt(P, "elif", NULL, NULL)) {
        int l2 = P->t[P->cur].line;
        P->cur += 2;
        if (++P->depth > MAX_PARSE_DEPTH) FAIL("elif chain too long");
        jnode *nested = parse_if(P, l2);
        P->depth--;
        CHECK(nested);
        if (nl_push(P, &alt, nested)) return NULL;
    } else if (is_stmt(P, "else", NULL, NULL)) {
        P->cur += 2;
        if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
        if (parse_until(P, &alt, "endif", NULL, NULL, "endif")) return NULL;
    }
    x->list = body.v;
    x->nlist = body.n;
    x->list2 = alt.v;
    x->nlist2 = alt.n;
    return x;
}

static jnode *parse_statement(parser *P) {
    const jtok *open = expect(P, T_OPEN_STMT, "'{%'");
    CHECK(open);
    if (!is(P, T_IDENT)) FAIL("expected a statement name after '{%%'");
    const char *name = P->t[P->cur].v;
    int line = P->t[P->cur].line;
    jnode *x = NULL;
    if (!strcmp(name, "set")) {
        P->cur++;
        CHECK(x = mk(P, N_SET, line));
        CHECK(x->a = parse_seq(P, 0));
        if (is(P, T_EQUALS)) {
            P->cur++;
            CHECK(x->b = parse_seq(P, 0));
        } else {
            if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
            nlist body = {0};
            if (parse_until(P, &body, "endset", NULL, NULL, "endset")) return NULL;
            x->list = body.v;
            x->nlist = body.n;
            P->cur++;
            if (expect_ident(P, "endset")) return NULL;
        }
        if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
    } else if (!strcmp(name, "if")) {
        P->cur++;
        CHECK(x = parse_if(P, line));
        if (end_stmt(P, "endif")) return NULL;
    } else if (!strcmp(name, "macro")) {
        P->cur++;
        CHECK(x = mk(P, N_MACRO, line));
        jnode *id = parse_primary(P);
        CHECK(id);
        if (id->kind != N_IDENT) FAIL("expected a macro name");
        x->str = id->str;
        nlist args = {0}, body = {0};
        if (parse_args(P, 1, &args)) return NULL;
        if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
        if (parse_until(P, &body, "endmacro", NULL, NULL, "endmacro")) return NULL;
        x->list = args.v;
        x->nlist = args.n;
        x->list2 = body.v;
        x->nlist2 = body.n;
        if (end_stmt(P, "endmacro")) return NULL;
    } else if (!strcmp(name, "for")) {
        P->cur++;
        CHECK(x = mk(P, N_FOR, line));
        CHECK(x->a = parse_seq(P, 1));
        if (x->a->kind != N_IDENT && x->a->kind != N_TUPLE) FAIL("expected a loop variable");
        if (expect_ident(P, "in")) return NULL;
        CHECK(x->b = parse_expr(P));
        if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
        nlist body = {0}, alt = {0};
        if (parse_until(P, &body, "endfor", "else", NULL, "endfor")) return NULL;
        if (is_stmt(P, "else", NULL, NULL)) {
            P->cur += 2;
            if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
            if (parse_until(P, &alt, "endfor", NULL, NULL, "endfor")) return NULL;
        }
        x->list = body.v;
        x->nlist = body.n;
        x->list2 = alt.v;
        x->nlist2 = alt.n;
        if (end_stmt(P, "endfor")) return NULL;
    } else if (!strcmp(name, "call")) {
        P->cur++;
        CHECK(x = mk(P, N_CALLSTMT, line));
        nlist cargs = {0}, body = {0};
        if (is(P, T_LPAREN)) {
            x->flag = true;
            if (parse_args(P, 1, &cargs)) return NULL;
        }
        jnode *callee = parse_primary(P);
        CHECK(callee);
        if (callee->kind != N_IDENT) FAIL("expected an identifier after 'call'");
        jnode *call = mk(P, N_CALL, line);
        CHECK(call);
        call->a = callee;
        nlist args = {0};
        if (parse_args(P, 0, &args)) return NULL;
        call->list = args.v;
        call->nlist = args.n;
        if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
        if (parse_until(P, &body, "endcall", NULL, NULL, "endcall")) return NULL;
        if (end_stmt(P, "endcall")) return NULL;
        x->a = call;
        x->list = cargs.v;
        x->nlist = cargs.n;
        x->list2 = body.v;
        x->nlist2 = body.n;
    } else if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        P->cur++;
        if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
        CHECK(x = mk(P, name[0] == 'b' ? N_BREAK : N_CONTINUE, line));
    } else if (!strcmp(name, "filter")) {
        P->cur++;
        CHECK(x = mk(P, N_FILTERSTMT, line));
        jnode *f = parse_primary(P);
        CHECK(f);
        if (f->kind == N_IDENT && is(P, T_LPAREN)) CHECK(f = parse_call(P, f));
        if (f->kind != N_IDENT && f->kind != N_CALL) FAIL("expected a filter after 'filter'");
        x->a = f;
        if (!expect(P, T_CLOSE_STMT, "'%}'")) return NULL;
        nlist body = {0};
        if (parse_until(P, &body, "endfilter", NULL, NULL, "endfilter")) return NULL;
        if (end_stmt(P, "endfilter")) return NULL;
        x->list = body.v;
        x->nlist = body.n;
    } else {
        FAIL("unknown statement '%.40s'", name);
    }
    return x;
}

static jnode *parse_any(parser *P) {
    if (P->cur >= P->n) FAIL("unexpected end of template");
    if (++P->depth > MAX_PARSE_DEPTH) FAIL("blocks nested too deeply");
    const jtok *t = &P->t[P->cur];
    jnode *x = NULL;
    switch (t->type) {
    case T_COMMENT:
        P->cur++;
        x = mk(P, N_COMMENT, t->line);
        break;
    case T_TEXT:
        P->cur++;
        x = mk(P, N_TEXT, t->line);
        if (x) {
            x->str = t->v;
            x->slen = t->n;
        }
        break;
    case T_OPEN_STMT:
        x = parse_statement(P);
        break;
    case T_OPEN_EXPR:
        P->cur++;
        x = parse_expr(P);
        if (x && !expect(P, T_CLOSE_EXPR, "'}}'")) x = NULL;
        break;
    default:
        P->depth--;
        FAIL("unexpected %s '%.40s'", tname(t->type), t->v);
    }
    P->depth--;
    return x;
}

mixlm_status mx_jinja_parse_tokens(jarena *a, const jtok *toks, size_t ntok, jnode ***body,
                                   size_t *nbody) {
    parser Ps = {a, toks, ntok, 0, 0, MIXLM_OK}, *P = &Ps;
    nlist l = {0};
    while (P->cur < P->n) {
        jnode *x = parse_any(P);
        if (!x || nl_push(P, &l, x)) {
            if (P->st == MIXLM_OK) P->st = mx_err(MIXLM_ERR_NOMEM, "template: out of memory");
            return P->st;
        }
    }
    *body = l.v;
    *nbody = l.n;
    return MIXLM_OK;
}
