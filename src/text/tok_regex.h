/* tok_regex.h: the regular expressions of tokenizer.json (Split pre-tokenizers, Replace
 * normalizers and decoders), compiled with PCRE2 (UTF, Unicode properties, JIT) after a rewrite
 * that gives them the meaning they have in the reference (JavaScript RegExp with the `u` flag):
 * \s, \S, \d, \D, \w, \W use JavaScript's character sets, and the case-insensitive contraction
 * group is spelled out as the reference spells it. */
#ifndef MX_TOK_REGEX_H
#define MX_TOK_REGEX_H

#include "common/util.h"

typedef struct tok_regex tok_regex;
typedef struct tok_match tok_match;   /* per-call matching scratch (not shared between threads) */

/* Compile a pattern (UTF-8, pattern_len bytes). literal: match the text exactly. */
mixlm_status tok_regex_compile(const char *pattern, size_t pattern_len, int literal, tok_regex **out);
void tok_regex_free(tok_regex *re);

tok_match *tok_match_new(void);
void tok_match_free(tok_match *m);

/* Find the next match in s[0..n) (valid UTF-8) at or after start. Returns 1 and the match
 * [*ms, *me), 0 when there is none, -1 on a matching error (resource limit). */
int tok_regex_find(const tok_regex *re, tok_match *m, const char *s, size_t n, size_t start, size_t *ms,
                   size_t *me);

/* JavaScript's whitespace (the set of \s and String.prototype.trim). */
int tok_js_space(uint32_t cp);

#endif /* MX_TOK_REGEX_H */
