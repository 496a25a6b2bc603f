/* tokenizer_json.c: builds a tokenizer from a Hugging Face tokenizer.json (and optionally its
 * tokenizer_config.json). Every field is checked; what the file asks for and mixlm cannot do is
 * a clear "unsupported" error, never a silent approximation. */
#include "text/tok_json.h"
#include "text/tokenizer_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_COMPONENTS 64   /* entries in one Sequence */
#define MAX_NESTING 8       /* Sequence inside Sequence */

typedef struct jl {
    mixlm_tokenizer *t;
    tj_doc *d;
    const char *what;
} jl;

static mixlm_status bad(const jl *c, const char *fmt, const char *arg) {
    return mx_err(MIXLM_ERR_FORMAT, "%s: %s%s", c->what, fmt, arg ? arg : "");
}

static char *node_strdup(const tj_node *n) { return mx_strndup(n->v.str, n->len); }

/* A string field (required or optional). */
static mixlm_status get_str(const jl *c, const tj_node *obj, const char *key, bool required, char **out, size_t *len) {
    const tj_node *n = tj_get(c->d, obj, key);
    *out = NULL;
    if (len) *len = 0;
    if (!n || n->type == TJ_NULL) {
        if (required) return mx_err(MIXLM_ERR_FORMAT, "%s: missing string field \"%s\"", c->what, key);
        return MIXLM_OK;
    }
    if (n->type != TJ_STRING) return mx_err(MIXLM_ERR_FORMAT, "%s: field \"%s\" must be a string", c->what, key);
    *out = node_strdup(n);
    if (!*out) return MIXLM_ERR_NOMEM;
    if (len) *len = n->len;
    return MIXLM_OK;
}

static mixlm_status get_bool(const jl *c, const tj_node *obj, const char *key, bool def, bool *out) {
    const tj_node *n = tj_get(c->d, obj, key);
    *out = def;
    if (!n || n->type == TJ_NULL) return MIXLM_OK;
    if (n->type != TJ_TRUE && n->type != TJ_FALSE)
        return mx_err(MIXLM_ERR_FORMAT, "%s: field \"%s\" must be true or false", c->what, key);
    *out = n->type == TJ_TRUE;
    return MIXLM_OK;
}

/* {"String": "..."} or {"Regex": "..."} */
static mixlm_status get_pattern(const jl *c, const tj_node *obj, tok_regex **re) {
    const tj_node *p = tj_get(c->d, obj, "pattern");
    if (!p || p->type != TJ_OBJECT) return bad(c, "pattern must be an object with \"String\" or \"Regex\"", NULL);
    const tj_node *s = tj_get(c->d, p, "String");
    const tj_node *r = tj_get(c->d, p, "Regex");
    if (tj_is_str(s)) {
        if (s->len == 0) return bad(c, "empty String pattern", NULL);
        return tok_regex_compile(s->v.str, s->len, 1, re);
    }
    if (tj_is_str(r)) {
        mixlm_status st = tok_regex_compile(r->v.str, r->len, 0, re);
        if (st) return mx_err_prefix(st, "%s: ", c->what);
        return MIXLM_OK;
    }
    return bad(c, "pattern must have a string \"String\" or \"Regex\"", NULL);
}

static const char *type_of(const jl *c, const tj_node *obj) {
    static char buf[64];
    const tj_node *t = tj_get(c->d, obj, "type");
    if (!tj_is_str(t)) return NULL;
    snprintf(buf, sizeof buf, "%.*s", (int)MX_MIN(t->len, 60), t->v.str);
    return buf;
}

static mixlm_status seq_alloc(const jl *c, const tj_node *arr, const char *key, size_t elem, void **out, int *n) {
    if (!arr || arr->type != TJ_ARRAY) return mx_err(MIXLM_ERR_FORMAT, "%s: \"%s\" must be an array", c->what, key);
    if (arr->len > MAX_COMPONENTS) return mx_err(MIXLM_ERR_FORMAT, "%s: \"%s\" has too many entries", c->what, key);
    *out = mx_calloc(arr->len ? arr->len : 1, elem);
    if (!*out) return MIXLM_ERR_NOMEM;
    *n = (int)arr->len;
    return MIXLM_OK;
}

/* ---- Normalizers ---------------------------------------------------------------------------- */

static mixlm_status parse_norm(const jl *c, const tj_node *o, tok_norm *nz, int depth) {
    if (!o || o->type != TJ_OBJECT) return bad(c, "normalizer must be an object", NULL);
    if (depth > MAX_NESTING) return bad(c, "normalizers nested too deep", NULL);
    const char *ty = type_of(c, o);
    if (!ty) return bad(c, "normalizer without a string \"type\"", NULL);
    if (!strcmp(ty, "Sequence")) {
        nz->type = NORM_SEQUENCE;
        const tj_node *arr = tj_get(c->d, o, "normalizers");
        mixlm_status st = seq_alloc(c, arr, "normalizers", sizeof(tok_norm), (void **)&nz->sub, &nz->n_sub);
        if (st) return st;
        int i = 0;
        for (const tj_node *e = tj_first(c->d, arr); e; e = tj_next(c->d, e), i++) {
            st = parse_norm(c, e, &nz->sub[i], depth + 1);
            if (st) return st;
        }
        return MIXLM_OK;
    }
    if (!strcmp(ty, "NFC")) { nz->type = NORM_NFC; return MIXLM_OK; }
    if (!strcmp(ty, "NFD")) { nz->type = NORM_NFD; return MIXLM_OK; }
    if (!strcmp(ty, "NFKC")) { nz->type = NORM_NFKC; return MIXLM_OK; }
    if (!strcmp(ty, "NFKD")) { nz->type = NORM_NFKD; return MIXLM_OK; }
    if (!strcmp(ty, "Lowercase")) { nz->type = NORM_LOWERCASE; return MIXLM_OK; }
    if (!strcmp(ty, "StripAccents")) { nz->type = NORM_STRIP_ACCENTS; return MIXLM_OK; }
    if (!strcmp(ty, "Precompiled")) { nz->type = NORM_PRECOMPILED; return MIXLM_OK; }
    if (!strcmp(ty, "Replace")) {
        nz->type = NORM_REPLACE;
        mixlm_status st = get_pattern(c, o, &nz->re);
        if (st) return st;
        return get_str(c, o, "content", true, &nz->str, &nz->str_len);
    }
    if (!strcmp(ty, "Prepend")) {
        nz->type = NORM_PREPEND;
        return get_str(c, o, "prepend", true, &nz->str, &nz->str_len);
    }
    if (!strcmp(ty, "Strip")) {
        nz->type = NORM_STRIP;
        mixlm_status st = get_bool(c, o, "strip_left", false, &nz->left);
        if (!st) st = get_bool(c, o, "strip_right", false, &nz->right);
        return st;
    }
    if (!strcmp(ty, "BertNormalizer")) {
        nz->type = NORM_BERT;
        bool sa_set = false, sa = false;
        mixlm_status st = get_bool(c, o, "clean_text", false, &nz->clean_text);
        if (!st) st = get_bool(c, o, "handle_chinese_chars", false, &nz->chinese);
        if (!st) st = get_bool(c, o, "lowercase", false, &nz->lower);
        if (st) return st;
        const tj_node *san = tj_get(c->d, o, "strip_accents");
        if (san && (san->type == TJ_TRUE || san->type == TJ_FALSE)) { sa_set = true; sa = san->type == TJ_TRUE; }
        /* null strip_accents follows lowercase, as in the reference */
        nz->strip_accents = nz->lower ? (!sa_set || sa) : (sa_set && sa);
        return MIXLM_OK;
    }
    return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: normalizer type \"%s\" is not supported", c->what, ty);
}

/* ---- Pre-tokenizers ------------------------------------------------------------------------- */

/* GPT-2's pattern, used by ByteLevel when use_regex is true. */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static mixlm_status parse_pre(const jl *c, const tj_node *o, tok_pre *p, int depth) {
    if (!o || o->type != TJ_OBJECT) return bad(c, "pre_tokenizer must be an object", NULL);
    if (depth > MAX_NESTING) return bad(c, "pre-tokenizers nested too deep", NULL);
    const char *ty = type_of(c, o);
    if (!ty) return bad(c, "pre_tokenizer without a string \"type\"", NULL);
    mixlm_status st = MIXLM_OK;
    if (!strcmp(ty, "Sequence")) {
        p->type = PRE_SEQUENCE;
        const tj_node *arr = tj_get(c->d, o, "pretokenizers");
        st = seq_alloc(c, arr, "pretokenizers", sizeof(tok_pre), (void **)&p->sub, &p->n_sub);
        if (st) return st;
        int i = 0;
        for (const tj_node *e = tj_first(c->d, arr); e; e = tj_next(c->d, e), i++) {
            st = parse_pre(c, e, &p->sub[i], depth + 1);
            if (st) return st;
        }
        return MIXLM_OK;
    }
    if (!strcmp(ty, "ByteLevel")) {
        p->type = PRE_BYTELEVEL;
        st = get_bool(c, o, "add_prefix_space", false, &p->add_prefix_space);
        if (!st) st = get_bool(c, o, "use_regex", true, &p->use_regex);
        if (!st && p->use_regex) st = tok_regex_compile(GPT2_PATTERN, sizeof GPT2_PATTERN - 1, 0, &p->re);
        return st;
    }
    if (!strcmp(ty, "Split")) {
        p->type = PRE_SPLIT;
        st = get_pattern(c, o, &p->re);
        if (!st) st = get_bool(c, o, "invert", false, &p->invert);
        if (st) return st;
        /* The reference isolates matches for every behavior except "Removed" (see docs). */
        const tj_node *b = tj_get(c->d, o, "behavior");
        p->removed = false;
        if (tj_is_str(b) && b->len == 7) {
            p->removed = true;
            for (int i = 0; i < 7; i++)
                if ((b->v.str[i] | 0x20) != "removed"[i]) p->removed = false;
        }
        return MIXLM_OK;
    }
    if (!strcmp(ty, "Metaspace")) {
        p->type = PRE_METASPACE;
        char *rep = NULL, *str_rep = NULL, *scheme = NULL;
        size_t rl = 0, sl = 0;
        st = get_str(c, o, "replacement", true, &rep, &rl);
        if (!st) st = get_str(c, o, "str_rep", false, &str_rep, &sl);
        if (!st) st = get_bool(c, o, "add_prefix_space", false, &p->add_prefix_space);
        if (!st) st = get_str(c, o, "prepend_scheme", false, &scheme, NULL);
        if (!st && rl == 0) st = bad(c, "Metaspace replacement is empty", NULL);
        if (!st) {
            p->prepend_scheme = PREPEND_ALWAYS;
            if (scheme && !strcmp(scheme, "first")) p->prepend_scheme = PREPEND_FIRST;
            else if (scheme && !strcmp(scheme, "never")) p->prepend_scheme = PREPEND_NEVER;
            /* The reference prepends str_rep but tests for the replacement; they are equal in
             * every file seen, and the replacement is what is used here. */
            p->str = rep;
            p->str_len = rl;
            rep = NULL;
        }
        free(rep);
        free(str_rep);
        free(scheme);
        return st;
    }
    if (!strcmp(ty, "Digits")) {
        p->type = PRE_DIGITS;
        return get_bool(c, o, "individual_digits", false, &p->individual_digits);
    }
    if (!strcmp(ty, "Punctuation")) { p->type = PRE_PUNCTUATION; return MIXLM_OK; }
    if (!strcmp(ty, "Whitespace")) { p->type = PRE_WHITESPACE; return MIXLM_OK; }
    if (!strcmp(ty, "WhitespaceSplit")) { p->type = PRE_WHITESPACE_SPLIT; return MIXLM_OK; }
    if (!strcmp(ty, "BertPreTokenizer")) { p->type = PRE_BERT; return MIXLM_OK; }
    if (!strcmp(ty, "Replace")) {
        p->type = PRE_REPLACE;
        st = get_pattern(c, o, &p->re);
        if (!st) st = get_str(c, o, "content", true, &p->str, &p->str_len);
        return st;
    }
    return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: pre-tokenizer type \"%s\" is not supported", c->what, ty);
}

/* ---- Decoders ------------------------------------------------------------------------------- */

static mixlm_status parse_dec(const jl *c, const tj_node *o, tok_dec *d, int depth) {
    if (!o || o->type != TJ_OBJECT) return bad(c, "decoder must be an object", NULL);
    if (depth > MAX_NESTING) return bad(c, "decoders nested too deep", NULL);
    const char *ty = type_of(c, o);
    if (!ty) return bad(c, "decoder without a string \"type\"", NULL);
    mixlm_status st = MIXLM_OK;
    if (!strcmp(ty, "Sequence")) {
        d->type = DEC_SEQUENCE;
        const tj_node *arr = tj_get(c->d, o, "decoders");
        st = seq_alloc(c, arr, "decoders", sizeof(tok_dec), (void **)&d->sub, &d->n_sub);
        if (st) return st;
        int i = 0;
        for (const tj_node *e = tj_first(c->d, arr); e; e = tj_next(c->d, e), i++) {
            st = parse_dec(c, e, &d->sub[i], depth + 1);
            if (st) return st;
        }
        return MIXLM_OK;
    }
    if (!strcmp(ty, "ByteLevel")) { d->type = DEC_BYTELEVEL; return MIXLM_OK; }
    if (!strcmp(ty, "ByteFallback")) { d->type = DEC_BYTEFALLBACK; return MIXLM_OK; }
    if (!strcmp(ty, "Fuse")) { d->type = DEC_FUSE; return MIXLM_OK; }
    if (!strcmp(ty, "Replace")) {
        d->type = DEC_REPLACE;
        st = get_pattern(c, o, &d->re);
        if (!st) st = get_str(c, o, "content", true, &d->str, &d->str_len);
        return st;
    }
    if (!strcmp(ty, "Strip")) {
        d->type = DEC_STRIP;
        int64_t a = 0, b = 0;
        st = get_str(c, o, "content", true, &d->str, &d->str_len);
        if (st) return st;
        if (d->str_len == 0) return bad(c, "Strip decoder content is empty", NULL);
        if (!tj_int(tj_get(c->d, o, "start"), 0, 1 << 20, &a) || !tj_int(tj_get(c->d, o, "stop"), 0, 1 << 20, &b))
            return bad(c, "Strip decoder needs integer \"start\" and \"stop\"", NULL);
        d->start = (int)a;
        d->stop = (int)b;
        return MIXLM_OK;
    }
    if (!strcmp(ty, "Metaspace")) {
        d->type = DEC_METASPACE;
        st = get_str(c, o, "replacement", true, &d->str, &d->str_len);
        if (!st) st = get_bool(c, o, "add_prefix_space", false, &d->add_prefix_space);
        return st;
    }
    if (!strcmp(ty, "WordPiece")) {
        d->type = DEC_WORDPIECE;
        st = get_str(c, o, "prefix", false, &d->str, &d->str_len);
        if (!st && !d->str) { d->str = mx_strdup("##"); d->str_len = 2; if (!d->str) return MIXLM_ERR_NOMEM; }
        if (!st) st = get_bool(c, o, "cleanup", false, &d->cleanup);
        if (!st && d->cleanup)
            st = mx_err(MIXLM_ERR_UNSUPPORTED, "%s: WordPiece decoder with cleanup is not supported", c->what);
        return st;
    }
    if (!strcmp(ty, "BPEDecoder")) {
        d->type = DEC_BPE;
        st = get_str(c, o, "suffix", false, &d->str, &d->str_len);
        if (!st && !d->str) { d->str = mx_strdup("</w>"); d->str_len = 4; if (!d->str) return MIXLM_ERR_NOMEM; }
        return st;
    }
    return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: decoder type \"%s\" is not supported", c->what, ty);
}

/* ---- Post-processor ------------------------------------------------------------------------- */

static mixlm_status post_id(const jl *c, const tj_node *specials, const char *name, size_t len, int32_t *out) {
    int32_t id = tok_lookup(c->t, name, len);
    if (id >= 0) { *out = id; return MIXLM_OK; }
    /* Not a vocabulary piece: TemplateProcessing's own table may give its id. */
    for (const tj_node *e = tj_first(c->d, specials); e; e = tj_next(c->d, e)) {
        if (e->key_len != len || memcmp(e->key, name, len)) continue;
        const tj_node *ids = tj_get(c->d, e, "ids");
        int64_t v;
        if (ids && ids->type == TJ_ARRAY && ids->len == 1 && tj_int(tj_first(c->d, ids), 0, c->t->n_vocab - 1, &v)) {
            *out = (int32_t)v;
            return MIXLM_OK;
        }
    }
    return mx_err(MIXLM_ERR_FORMAT, "%s: post-processor names token \"%.*s\", which is not in the vocabulary",
                  c->what, (int)MX_MIN(len, 100), name);
}

static mixlm_status push_post(int32_t **arr, int32_t *n, int32_t id) {
    if (*n >= 64) return mx_err(MIXLM_ERR_FORMAT, "post-processor adds too many tokens");
    int32_t *p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
    if (!p) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    p[(*n)++] = id;
    *arr = p;
    return MIXLM_OK;
}

/* Wrap the current template: new_pre + old_pre ... old_post + new_post. */
static mixlm_status wrap_post(mixlm_tokenizer *t, const int32_t *pre, int32_t npre, const int32_t *post, int32_t npost) {
    int32_t *np = NULL, *nq = NULL;
    int32_t a = 0, b = 0;
    mixlm_status st = MIXLM_OK;
    for (int32_t i = 0; i < npre && !st; i++) st = push_post(&np, &a, pre[i]);
    for (int32_t i = 0; i < t->n_post_pre && !st; i++) st = push_post(&np, &a, t->post_pre[i]);
    for (int32_t i = 0; i < t->n_post_post && !st; i++) st = push_post(&nq, &b, t->post_post[i]);
    for (int32_t i = 0; i < npost && !st; i++) st = push_post(&nq, &b, post[i]);
    if (st) { free(np); free(nq); return st; }
    free(t->post_pre);
    free(t->post_post);
    t->post_pre = np;
    t->post_post = nq;
    t->n_post_pre = a;
    t->n_post_post = b;
    return MIXLM_OK;
}

static mixlm_status parse_post(const jl *c, const tj_node *o, int depth) {
    if (!o || o->type != TJ_OBJECT) return bad(c, "post_processor must be an object", NULL);
    if (depth > MAX_NESTING) return bad(c, "post-processors nested too deep", NULL);
    const char *ty = type_of(c, o);
    if (!ty) return bad(c, "post_processor without a string \"type\"", NULL);
    mixlm_status st = MIXLM_OK;
    if (!strcmp(ty, "Sequence")) {
        const tj_node *arr = tj_get(c->d, o, "processors");
        if (!arr || arr->type != TJ_ARRAY || arr->len > MAX_COMPONENTS) return bad(c, "\"processors\" must be an array", NULL);
        for (const tj_node *e = tj_first(c->d, arr); e && !st; e = tj_next(c->d, e)) st = parse_post(c, e, depth + 1);
        return st;
    }
    if (!strcmp(ty, "ByteLevel")) return MIXLM_OK; /* offsets only */
    if (!strcmp(ty, "TemplateProcessing")) {
        const tj_node *single = tj_get(c->d, o, "single");
        const tj_node *specials = tj_get(c->d, o, "special_tokens");
        if (!single || single->type != TJ_ARRAY || single->len > 64) return bad(c, "TemplateProcessing needs a \"single\" array", NULL);
        int32_t pre[64], post[64], np = 0, nq = 0;
        int seen_a = 0;
        for (const tj_node *e = tj_first(c->d, single); e; e = tj_next(c->d, e)) {
            const tj_node *sp = tj_get(c->d, e, "SpecialToken");
            const tj_node *sq = tj_get(c->d, e, "Sequence");
            if (sp) {
                const tj_node *id = tj_get(c->d, sp, "id");
                if (!tj_is_str(id)) return bad(c, "TemplateProcessing SpecialToken needs a string \"id\"", NULL);
                int32_t v;
                st = post_id(c, specials, id->v.str, id->len, &v);
                if (st) return st;
                if (seen_a) post[nq++] = v;
                else pre[np++] = v;
            } else if (sq) {
                const tj_node *id = tj_get(c->d, sq, "id");
                if (tj_str_eq(id, "A")) seen_a = 1;
                else return bad(c, "TemplateProcessing single template may only use sequence A", NULL);
            } else {
                return bad(c, "TemplateProcessing item must be SpecialToken or Sequence", NULL);
            }
        }
        return wrap_post(c->t, pre, np, post, nq);
    }
    if (!strcmp(ty, "BertProcessing") || !strcmp(ty, "RobertaProcessing")) {
        const tj_node *cls = tj_get(c->d, o, "cls"), *sep = tj_get(c->d, o, "sep");
        const tj_node *cs = tj_index(c->d, cls, 0), *ss = tj_index(c->d, sep, 0);
        if (!tj_is_str(cs) || !tj_is_str(ss)) return bad(c, "Bert/RobertaProcessing needs \"cls\" and \"sep\" pairs", NULL);
        int32_t a, b;
        st = post_id(c, NULL, cs->v.str, cs->len, &a);
        if (!st) st = post_id(c, NULL, ss->v.str, ss->len, &b);
        if (st) return st;
        return wrap_post(c->t, &a, 1, &b, 1);
    }
    return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: post-processor type \"%s\" is not supported", c->what, ty);
}

/* ---- Model ---------------------------------------------------------------------------------- */

static mixlm_status load_vocab_object(const jl *c, const tj_node *vocab) {
    mixlm_tokenizer *t = c->t;
    if (!vocab || vocab->type != TJ_OBJECT) return bad(c, "model.vocab must be an object", NULL);
    if (vocab->len == 0) return bad(c, "model.vocab is empty", NULL);
    int64_t max_id = -1;
    for (const tj_node *e = tj_first(c->d, vocab); e; e = tj_next(c->d, e)) {
        int64_t id;
        if (!tj_int(e, 0, (1 << 24) - 1, &id))
            return mx_err(MIXLM_ERR_FORMAT, "%s: vocab entry \"%.*s\" has no valid id (an integer in 0..16777215)",
                          c->what, (int)MX_MIN(e->key_len, 100), e->key);
        if (id > max_id) max_id = id;
    }
    mixlm_status st = tok_set_vocab_size(t, (int32_t)max_id + 1);
    if (st) return st;
    for (const tj_node *e = tj_first(c->d, vocab); e; e = tj_next(c->d, e)) {
        int32_t id = (int32_t)e->v.num;
        if (!(t->attr[id] & ATTR_HOLE))
            return mx_err(MIXLM_ERR_FORMAT, "%s: vocab id %d is given to two pieces", c->what, (int)id);
        st = tok_set_piece(t, id, e->key, e->key_len);
        if (st) return st;
    }
    return MIXLM_OK;
}

/* Merges are checked and entered in batches so that their vocabulary lookups overlap (see
 * tok_lookup_batch). */
#define MERGE_BATCH 256

static mixlm_status merge_error(const jl *c, uint32_t rank, const char *which, size_t wl) {
    return mx_err(MIXLM_ERR_FORMAT, "%s: merge #%u names \"%.*s\", which is not in the vocabulary", c->what, rank,
                  (int)MX_MIN(wl, 100), which);
}

static mixlm_status load_merges(const jl *c, const tj_node *merges) {
    mixlm_tokenizer *t = c->t;
    if (!merges || merges->type != TJ_ARRAY) return bad(c, "model.merges must be an array", NULL);
    mixlm_status st = tok_merges_alloc(t, merges->len);
    if (st) return st;
    const char *ptr[3 * MERGE_BATCH];
    size_t len[3 * MERGE_BATCH];
    int32_t ids[3 * MERGE_BATCH];
    size_t coff[MERGE_BATCH];
    char *cat = malloc((size_t)1 << 16);
    size_t cat_cap = (size_t)1 << 16;
    if (!cat) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    uint32_t rank = 0;
    const tj_node *e = tj_first(c->d, merges);
    while (e && !st) {
        size_t m = 0, cat_len = 0;
        uint32_t first = rank;
        /* pass 1: split, concatenate */
        for (; e && m < MERGE_BATCH; e = tj_next(c->d, e), m++, rank++) {
            const char *a, *b;
            size_t al, bl;
            if (e->type == TJ_STRING) {
                const char *sp = memchr(e->v.str, ' ', e->len);
                if (!sp || memchr(sp + 1, ' ', e->len - (size_t)(sp + 1 - e->v.str)) || sp == e->v.str ||
                    sp + 1 == e->v.str + e->len) {
                    st = mx_err(MIXLM_ERR_FORMAT, "%s: merge #%u \"%.*s\" is not two pieces separated by one space",
                                c->what, rank, (int)MX_MIN(e->len, 100), e->v.str);
                    break;
                }
                a = e->v.str;
                al = (size_t)(sp - a);
                b = sp + 1;
                bl = e->len - al - 1;
            } else if (e->type == TJ_ARRAY && e->len == 2 && tj_is_str(tj_first(c->d, e)) &&
                       tj_is_str(tj_next(c->d, tj_first(c->d, e)))) {
                const tj_node *x = tj_first(c->d, e), *y = tj_next(c->d, x);
                a = x->v.str; al = x->len; b = y->v.str; bl = y->len;
            } else {
                st = mx_err(MIXLM_ERR_FORMAT, "%s: merge #%u must be a string \"a b\" or a pair of strings", c->what, rank);
                break;
            }
            if (cat_cap - cat_len < al + bl) {
                /* the batch's concatenations live in one buffer: make room, then re-point */
                size_t nc = cat_cap;
                while (nc - cat_len < al + bl) nc *= 2;
                char *p = realloc(cat, nc);
                if (!p) { st = mx_err(MIXLM_ERR_NOMEM, "out of memory"); break; }
                cat = p;
                cat_cap = nc;
            }
            memcpy(cat + cat_len, a, al);
            memcpy(cat + cat_len + al, b, bl);
            ptr[3 * m] = a; len[3 * m] = al;
            ptr[3 * m + 1] = b; len[3 * m + 1] = bl;
            coff[m] = cat_len; len[3 * m + 2] = al + bl;
            cat_len += al + bl;
        }
        if (st) break;
        for (size_t k = 0; k < m; k++) ptr[3 * k + 2] = cat + coff[k];
        /* pass 2: look everything up, then enter the merges */
        tok_lookup_batch(t, 3 * m, ptr, len, ids);
        for (size_t k = 0; k < 3 * m; k++)
            if (ids[k] < 0) {
                st = merge_error(c, first + (uint32_t)(k / 3), ptr[k], len[k]);
                break;
            }
        if (!st) tok_add_merges(t, m, ids, first);
    }
    free(cat);
    return st;
}

static mixlm_status load_model(const jl *c, const tj_node *m, const tj_node *added) {
    mixlm_tokenizer *t = c->t;
    if (!m || m->type != TJ_OBJECT) return bad(c, "missing \"model\" object", NULL);
    const char *ty = type_of(c, m);
    const tj_node *vocab = tj_get(c->d, m, "vocab");
    const tj_node *merges = tj_get(c->d, m, "merges");
    char tyb[64] = "";
    if (ty) snprintf(tyb, sizeof tyb, "%s", ty);
    if (!ty) {
        /* Older files have no type: infer it as the reference does. */
        if (vocab && vocab->type == TJ_ARRAY) snprintf(tyb, sizeof tyb, "Unigram");
        else if (tj_get(c->d, m, "continuing_subword_prefix") && tj_get(c->d, m, "unk_token"))
            snprintf(tyb, sizeof tyb, "%s", merges ? "BPE" : "WordPiece");
        else return bad(c, "model has no \"type\" and is not recognisable", NULL);
    }
    mixlm_status st;
    char *unk = NULL;
    size_t unk_len = 0;
    if (!strcmp(tyb, "BPE")) {
        t->model = TOK_BPE;
        st = load_vocab_object(c, vocab);
        if (!st) st = get_str(c, m, "unk_token", false, &unk, &unk_len);
        if (!st) st = get_bool(c, m, "fuse_unk", false, &t->fuse_unk);
        if (!st) st = get_bool(c, m, "byte_fallback", false, &t->byte_fallback);
        if (!st) st = get_bool(c, m, "ignore_merges", false, &t->ignore_merges);
        if (!st) st = get_str(c, m, "end_of_word_suffix", false, &t->eow_suffix, &t->eow_suffix_len);
        if (!st && t->eow_suffix && t->eow_suffix_len == 0) { free(t->eow_suffix); t->eow_suffix = NULL; }
    } else if (!strcmp(tyb, "WordPiece")) {
        t->model = TOK_WORDPIECE;
        st = load_vocab_object(c, vocab);
        if (!st) st = get_str(c, m, "unk_token", false, &unk, &unk_len);
        if (!st) st = get_str(c, m, "continuing_subword_prefix", false, &t->wp_prefix, &t->wp_prefix_len);
        if (!st && !t->wp_prefix) {
            t->wp_prefix = mx_strdup("##");
            t->wp_prefix_len = 2;
            if (!t->wp_prefix) st = MIXLM_ERR_NOMEM;
        }
        int64_t mc;
        const tj_node *mcn = tj_get(c->d, m, "max_input_chars_per_word");
        if (!st && mcn && mcn->type != TJ_NULL) {
            if (!tj_int(mcn, 1, 1 << 30, &mc)) st = bad(c, "max_input_chars_per_word must be a positive integer", NULL);
            else t->wp_max_chars = (int32_t)mc;
        }
    } else if (!strcmp(tyb, "Unigram")) {
        t->model = TOK_UNIGRAM;
        if (!vocab || vocab->type != TJ_ARRAY || vocab->len == 0) return bad(c, "Unigram model.vocab must be a non-empty array", NULL);
        if (vocab->len > (1u << 24)) return bad(c, "Unigram vocabulary too large", NULL);
        st = tok_set_vocab_size(t, (int32_t)vocab->len);
        if (st) return st;
        t->scores = malloc(vocab->len * sizeof *t->scores);
        if (!t->scores) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        int32_t i = 0;
        double min_score = INFINITY;
        for (const tj_node *e = tj_first(c->d, vocab); e; e = tj_next(c->d, e), i++) {
            const tj_node *p = tj_index(c->d, e, 0), *s = tj_index(c->d, e, 1);
            if (!tj_is_str(p) || !s || s->type != TJ_NUMBER || e->len != 2)
                return mx_err(MIXLM_ERR_FORMAT, "%s: Unigram vocab entry %d must be [piece, score]", c->what, (int)i);
            st = tok_set_piece(t, i, p->v.str, p->len);
            if (st) return st;
            t->scores[i] = (float)s->v.num;
            if (s->v.num < min_score) min_score = s->v.num;
        }
        t->unk_score = min_score - 10.0;
        int64_t uid;
        const tj_node *un = tj_get(c->d, m, "unk_id");
        if (un && un->type != TJ_NULL) {
            if (!tj_int(un, 0, t->n_vocab - 1, &uid)) return bad(c, "Unigram unk_id out of range", NULL);
            t->unk_id = (int32_t)uid;
            t->scores[uid] = (float)t->unk_score;
        }
    } else {
        return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported", c->what, tyb);
    }
    if (st) { free(unk); return st; }

    /* Added tokens (they may extend the id range). */
    if (added && added->type != TJ_NULL) {
        if (added->type != TJ_ARRAY) { free(unk); return bad(c, "\"added_tokens\" must be an array", NULL); }
        for (const tj_node *e = tj_first(c->d, added); e; e = tj_next(c->d, e)) {
            tok_added a = {0};
            int64_t id;
            const tj_node *content = tj_get(c->d, e, "content");
            if (!tj_int(tj_get(c->d, e, "id"), 0, (1 << 24) - 1, &id) || !tj_is_str(content) || content->len == 0) {
                free(unk);
                return bad(c, "an added token needs an integer \"id\" (0..16777215) and a non-empty \"content\"", NULL);
            }
            a.id = (int32_t)id;
            a.len = content->len;
            st = get_bool(c, e, "special", false, &a.special);
            if (!st) st = get_bool(c, e, "lstrip", false, &a.lstrip);
            if (!st) st = get_bool(c, e, "rstrip", false, &a.rstrip);
            if (!st) st = get_bool(c, e, "single_word", false, &a.single_word);
            if (!st) st = get_bool(c, e, "normalized", false, &a.normalized);
            if (!st) st = tok_add_added(t, &a, content->v.str);
            if (st) { free(unk); return st; }
        }
    }
    st = tok_build_index(t);
    if (!st) st = tok_build_trie(t);
    if (!st && unk) {
        t->unk_id = tok_lookup(t, unk, unk_len);
        if (t->unk_id < 0 && t->model == TOK_WORDPIECE)
            st = mx_err(MIXLM_ERR_FORMAT, "%s: unk_token \"%.*s\" is not in the vocabulary", c->what,
                        (int)MX_MIN(unk_len, 100), unk);
    }
    free(unk);
    if (!st && t->model == TOK_BPE) st = load_merges(c, merges);
    return st;
}

/* ---- tokenizer_config.json ------------------------------------------------------------------ */

/* A token named in the config: a string or {"content": ...}. */
static int32_t config_token(const jl *c, const tj_node *cfg, const char *key, const char **name, size_t *len) {
    const tj_node *n = tj_get(c->d, cfg, key);
    if (n && n->type == TJ_OBJECT) n = tj_get(c->d, n, "content");
    if (!tj_is_str(n) || n->len == 0) return -2;
    if (name) { *name = n->v.str; *len = n->len; }
    return tok_lookup(c->t, n->v.str, n->len);
}

static mixlm_status load_config(mixlm_tokenizer *t, const char *cfg, size_t cfg_len, const char *what) {
    tj_doc d;
    char where[512];
    snprintf(where, sizeof where, "%s (tokenizer_config.json)", what);
    mixlm_status st = tj_parse(&d, cfg, cfg_len, where);
    if (st) return st;
    jl c = {t, &d, where};
    const tj_node *root = tj_root(&d);
    if (root->type != TJ_OBJECT) { tj_free(&d); return bad(&c, "not a JSON object", NULL); }
    int32_t id;
    if ((id = config_token(&c, root, "bos_token", NULL, NULL)) >= 0) t->special.bos = id;
    if ((id = config_token(&c, root, "eos_token", NULL, NULL)) >= 0) t->special.eos = id;
    if ((id = config_token(&c, root, "unk_token", NULL, NULL)) >= 0) t->special.unk = id;
    if ((id = config_token(&c, root, "pad_token", NULL, NULL)) >= 0) t->special.pad = id;
    else if (t->special.pad < 0) t->special.pad = t->special.eos;
    const tj_node *cl = tj_get(&d, root, "clean_up_tokenization_spaces");
    if (cl && (cl->type == TJ_TRUE || cl->type == TJ_FALSE)) t->cleanup = cl->type == TJ_TRUE;
    t->remove_space = tj_bool(tj_get(&d, root, "remove_space"), false);
    const tj_node *extra = tj_get(&d, root, "additional_special_tokens");
    for (const tj_node *e = tj_first(&d, extra); e; e = tj_next(&d, e)) {
        const tj_node *s = e->type == TJ_OBJECT ? tj_get(&d, e, "content") : e;
        if (!tj_is_str(s)) continue;
        int32_t x = tok_lookup(t, s->v.str, s->len);
        if (x >= 0) t->attr[x] |= ATTR_SPECIAL;
    }
    tj_free(&d);
    return MIXLM_OK;
}

/* ---- Entry point ---------------------------------------------------------------------------- */

mixlm_status tok_load_json(mixlm_tokenizer *t, const char *json, size_t len, const char *cfg, size_t cfg_len,
                           const char *what) {
    tj_doc d;
    mixlm_status st = tj_parse(&d, json, len, what);
    if (st) return st;
    jl c = {t, &d, what};
    const tj_node *root = tj_root(&d);
    if (root->type != TJ_OBJECT) { tj_free(&d); return bad(&c, "not a JSON object", NULL); }
    st = load_model(&c, tj_get(&d, root, "model"), tj_get(&d, root, "added_tokens"));
    const tj_node *n;
    if (!st && (n = tj_get(&d, root, "normalizer")) && n->type != TJ_NULL) {
        t->norm = mx_calloc(1, sizeof *t->norm);
        st = t->norm ? parse_norm(&c, n, t->norm, 0) : MIXLM_ERR_NOMEM;
    }
    if (!st && (n = tj_get(&d, root, "pre_tokenizer")) && n->type != TJ_NULL) {
        t->pre = mx_calloc(1, sizeof *t->pre);
        st = t->pre ? parse_pre(&c, n, t->pre, 0) : MIXLM_ERR_NOMEM;
    }
    if (!st && (n = tj_get(&d, root, "decoder")) && n->type != TJ_NULL) {
        t->dec = mx_calloc(1, sizeof *t->dec);
        st = t->dec ? parse_dec(&c, n, t->dec, 0) : MIXLM_ERR_NOMEM;
    }
    if (!st && (n = tj_get(&d, root, "post_processor")) && n->type != TJ_NULL) st = parse_post(&c, n, 0);
    tj_free(&d);
    if (st) return st;

    tok_detect_fast(t);
    /* The reference cleans up decoded text unless the config says otherwise. */
    t->cleanup = true;
    t->special.unk = t->unk_id;
    if (cfg) {
        st = load_config(t, cfg, cfg_len, what);
        if (st) return st;
    }
    /* What encode(add_special) adds. */
    t->special.add_bos = t->n_post_pre > 0;
    t->special.add_eos = t->n_post_post > 0;
    if (t->special.bos < 0 && t->n_post_pre > 0) t->special.bos = t->post_pre[0];
    if (t->special.eos < 0 && t->n_post_post > 0) t->special.eos = t->post_post[t->n_post_post - 1];
    return MIXLM_OK;
}
