/* jinja_internal.h: shared pieces of the Jinja interpreter: arena, tokens, syntax tree, runtime
 * values. The structure mirrors @huggingface/jinja (lexer -> parser -> interpreter) because its
 * output is the reference we must equal byte for byte. */
#ifndef MX_JINJA_INTERNAL_H
#define MX_JINJA_INTERNAL_H

#include "common/util.h"
#include "text/jinja.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Arena: every allocation of a parse or a render, freed at once ------------------------- */

typedef struct ja_chunk ja_chunk;
typedef struct jarena {
    ja_chunk *head;
    uint64_t used;   /* bytes handed out (plus chunk overhead) */
    uint64_t limit;  /* 0 = unlimited */
    int failed;      /* an allocation failed or hit the limit */
} jarena;

void *ja_alloc(jarena *a, size_t n);  /* zeroed, 8-byte aligned; NULL when failed */
char *ja_strndup(jarena *a, const char *s, size_t n);
void ja_free_all(jarena *a);

/* ---- JavaScript-compatible text helpers -------------------------------------------------- */

/* Length of the JS whitespace character (\s, String.prototype.trim) at s[0..n), 0 if none. */
size_t js_space_len(const char *s, size_t n);
/* Length of the JS whitespace character ending at s[n-1], 0 if none. */
size_t js_space_len_back(const char *s, size_t n);
/* Number -> string exactly as JS Number.prototype.toString(); buf >= 32 bytes. */
void js_num_str(double v, char *buf);
/* Decode one UTF-8 code point at s (n > 0 bytes); invalid bytes decode as U+FFFD, 1 byte. */
uint32_t utf8_decode(const char *s, size_t n, size_t *used);
size_t utf8_encode(uint32_t cp, char *out);  /* out >= 4 bytes */

/* ---- Tokens --------------------------------------------------------------------------------- */

typedef enum {
    T_TEXT, T_NUM, T_STR, T_IDENT, T_EQUALS, T_LPAREN, T_RPAREN, T_OPEN_STMT, T_CLOSE_STMT,
    T_OPEN_EXPR, T_CLOSE_EXPR, T_LBRACKET, T_RBRACKET, T_LBRACE, T_RBRACE, T_COMMA, T_DOT,
    T_COLON, T_PIPE, T_ADD, T_MUL, T_POW, T_CMP, T_UNARY, T_COMMENT
} jtok_type;

typedef struct jtok {
    jtok_type type;
    const char *v;  /* NUL-terminated, in the arena */
    size_t n;
    int line;       /* line in the original template text, from 1 */
} jtok;

/* Tokenize src (with the lstrip_blocks/trim_blocks preprocessing the reference applies).
 * On error returns MIXLM_ERR_TEMPLATE with the message set. */
mixlm_status mx_jinja_lex(jarena *a, const char *src, size_t len, jtok **toks, size_t *ntok);

/* ---- Syntax tree ----------------------------------------------------------------------------- */

typedef enum {
    N_TEXT, N_STR, N_INT, N_FLOAT, N_IDENT, N_ARRAY, N_TUPLE, N_OBJECT, N_MEMBER, N_SLICE,
    N_CALL, N_KWARG, N_SPREAD, N_KWSPREAD, N_BINARY, N_UNARY, N_FILTER, N_TEST, N_SELECT,
    N_TERNARY, N_SET, N_IF, N_FOR, N_MACRO, N_CALLSTMT, N_FILTERSTMT, N_BREAK, N_CONTINUE,
    N_COMMENT
} jnode_kind;

typedef enum {
    OP_ADD, OP_SUB, OP_CONCAT, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_EQ, OP_NE, OP_LT,
    OP_GT, OP_LE, OP_GE, OP_AND, OP_OR, OP_IN, OP_NOTIN, OP_NOT, OP_NEG, OP_POS
} jop;

typedef struct jnode jnode;
struct jnode {
    jnode_kind kind;
    int line;
    jop op;
    bool flag;          /* MEMBER: computed; TEST: negated; CALLSTMT: has caller args */
    const char *str;    /* IDENT name, STR/TEXT value, KWARG key, TEST name, MACRO name */
    size_t slen;
    double num;
    jnode *a, *b, *c;   /* operands (see jinja_parse.c for each kind) */
    jnode **list;       /* body / elements / arguments / object keys */
    size_t nlist;
    jnode **list2;      /* alternate / else block / object values / macro body */
    size_t nlist2;
};

/* Parse tokens into a program (a list of statements). */
mixlm_status mx_jinja_parse_tokens(jarena *a, const jtok *toks, size_t ntok, jnode ***body,
                                   size_t *nbody);

struct mx_jinja {
    jarena arena;
    jnode **body;
    size_t nbody;
};

/* Number parsing and printing must not follow the caller's LC_NUMERIC: parse and render switch
 * the calling thread to the "C" locale and back (uselocale, thread-local). */
void *mx_jinja_locale_enter(void);
void mx_jinja_locale_leave(void *saved);

/* Set the last error to "template line N: <message>". */
mixlm_status mx_jinja_error(int line, const char *fmt, ...) MX_PRINTF(2, 3);

#endif /* MX_JINJA_INTERNAL_H */
