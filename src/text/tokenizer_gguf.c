/* tokenizer_gguf.c: builds a tokenizer from the `tokenizer.ggml.*` metadata of a GGUF file, as
 * the pipeline the model's tokenizer.json describes, so that both give the same ids:
 *   tokenizer.ggml.model        "llama" (SentencePiece BPE: pieces merged by score, byte
 *                               fallback) or "gpt2" (byte-level BPE with merges)
 *   tokenizer.ggml.tokens       string[n]: the pieces, index = id
 *   tokenizer.ggml.scores       float32[n] (SentencePiece: merge priority)
 *   tokenizer.ggml.token_type   int32[n]: 1 normal, 2 unknown, 3 control, 4 user-defined,
 *                               5 unused, 6 byte
 *   tokenizer.ggml.merges       string[]: "left right", by rank (gpt2)
 *   tokenizer.ggml.pre          the pre-tokenizer of a gpt2 vocabulary ("llama-bpe", "qwen2",
 *                               "gpt-4o", "default", ...)
 *   tokenizer.ggml.{bos,eos,unknown,padding,eot}_token_id, add_bos_token, add_eos_token,
 *   add_space_prefix
 * Control and user-defined tokens are the added tokens (matched in the text first); control
 * tokens are special. */
#include "text/tokenizer_internal.h"

#include "model/gguf.h"

#include <stdio.h>
#include <stdlib.h>

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* Split patterns of the byte-level pre-tokenizers llama.cpp names, as their tokenizer.json
 * files spell them. */
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_GPT4O[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct pre_name {
    const char *name;
    const char *regex;
    bool nfc, ignore_merges;
} pre_name;

static const pre_name PRE_NAMES[] = {
    {"llama3", RE_LLAMA3, false, true},   {"llama-v3", RE_LLAMA3, false, true},
    {"llama-bpe", RE_LLAMA3, false, true}, {"qwen2", RE_QWEN2, true, false},
    {"deepseek-r1-qwen", RE_QWEN2, true, false}, {"gpt-4o", RE_GPT4O, false, true},
    {"default", RE_GPT2, false, false},   {"gpt2", RE_GPT2, false, false},
    {"gpt-2", RE_GPT2, false, false}, /* llama.cpp's name for the GPT-2 split */
};

static mixlm_status str_dup(const char *s, size_t n, char **out, size_t *len) {
    *out = mx_strndup(s, n);
    if (!*out) return MIXLM_ERR_NOMEM;
    *len = n;
    return MIXLM_OK;
}

static int get_id(const mx_gguf *g, const char *key, int32_t n_vocab, int32_t *out) {
    uint32_t v;
    if (mx_gguf_get_u32(g, key, &v) != 1 || v >= (uint32_t)n_vocab) return 0;
    *out = (int32_t)v;
    return 1;
}

static mixlm_status setup_spm(mixlm_tokenizer *t, bool add_space_prefix) {
    /* normalizer: [Prepend("▁")], Replace(" ", "▁") */
    t->norm = mx_calloc(1, sizeof *t->norm);
    if (!t->norm) return MIXLM_ERR_NOMEM;
    t->norm->type = NORM_SEQUENCE;
    t->norm->sub = mx_calloc(2, sizeof(tok_norm));
    if (!t->norm->sub) return MIXLM_ERR_NOMEM;
    int k = 0;
    mixlm_status st;
    if (add_space_prefix) {
        t->norm->sub[k].type = NORM_PREPEND;
        st = str_dup("\xE2\x96\x81", 3, &t->norm->sub[k].str, &t->norm->sub[k].str_len);
        if (st) return st;
        k++;
    }
    t->norm->sub[k].type = NORM_REPLACE;
    st = tok_regex_compile(" ", 1, 1, &t->norm->sub[k].re);
    if (!st) st = str_dup("\xE2\x96\x81", 3, &t->norm->sub[k].str, &t->norm->sub[k].str_len);
    if (st) return st;
    t->norm->n_sub = k + 1;
    /* decoder: Replace("▁", " "), ByteFallback, Fuse, [Strip(" ", 1, 0)] */
    t->dec = mx_calloc(1, sizeof *t->dec);
    if (!t->dec) return MIXLM_ERR_NOMEM;
    t->dec->type = DEC_SEQUENCE;
    t->dec->sub = mx_calloc(4, sizeof(tok_dec));
    if (!t->dec->sub) return MIXLM_ERR_NOMEM;
    t->dec->sub[0].type = DEC_REPLACE;
    st = tok_regex_compile("\xE2\x96\x81", 3, 1, &t->dec->sub[0].re);
    if (!st) st = str_dup(" ", 1, &t->dec->sub[0].str, &t->dec->sub[0].str_len);
    if (st) return st;
    t->dec->sub[1].type = DEC_BYTEFALLBACK;
    t->dec->sub[2].type = DEC_FUSE;
    t->dec->n_sub = 3;
    if (add_space_prefix) {
        t->dec->sub[3].type = DEC_STRIP;
        t->dec->sub[3].start = 1;
        st = str_dup(" ", 1, &t->dec->sub[3].str, &t->dec->sub[3].str_len);
        if (st) return st;
        t->dec->n_sub = 4;
    }
    t->byte_fallback = true;
    t->fuse_unk = true;
    t->merges_by_score = true;
    return MIXLM_OK;
}

static mixlm_status setup_bytelevel(mixlm_tokenizer *t, const pre_name *p) {
    mixlm_status st;
    if (p->nfc) {
        t->norm = mx_calloc(1, sizeof *t->norm);
        if (!t->norm) return MIXLM_ERR_NOMEM;
        t->norm->type = NORM_NFC;
    }
    t->pre = mx_calloc(1, sizeof *t->pre);
    if (!t->pre) return MIXLM_ERR_NOMEM;
    t->pre->type = PRE_SEQUENCE;
    t->pre->sub = mx_calloc(2, sizeof(tok_pre));
    if (!t->pre->sub) return MIXLM_ERR_NOMEM;
    t->pre->n_sub = 2;
    t->pre->sub[0].type = PRE_SPLIT;
    st = tok_regex_compile(p->regex, strlen(p->regex), 0, &t->pre->sub[0].re);
    if (st) return st;
    t->pre->sub[1].type = PRE_BYTELEVEL;
    t->dec = mx_calloc(1, sizeof *t->dec);
    if (!t->dec) return MIXLM_ERR_NOMEM;
    t->dec->type = DEC_BYTELEVEL;
    t->ignore_merges = p->ignore_merges;
    return MIXLM_OK;
}

static mixlm_status load_merges(mixlm_tokenizer *t, const mx_gguf *g, const char *what) {
    mx_gguf_vtype et;
    uint64_t n;
    if (mx_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n) != 1 || et != MX_GGUF_STRING)
        return mx_err(MIXLM_ERR_FORMAT, "%s: a gpt2 vocabulary needs tokenizer.ggml.merges (string array)", what);
    mixlm_status st = tok_merges_alloc(t, (size_t)n);
    if (st) return st;
    mx_buf cat = {0};
    for (uint64_t i = 0; i < n && !st; i++) {
        const char *s;
        size_t len;
        if (mx_gguf_arr_str(g, "tokenizer.ggml.merges", i, &s, &len) != 1) {
            st = mx_err(MIXLM_ERR_FORMAT, "%s: merge #%llu unreadable", what, (unsigned long long)i);
            break;
        }
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp || sp + 1 == s + len) {
            st = mx_err(MIXLM_ERR_FORMAT, "%s: merge #%llu \"%.*s\" is not two pieces separated by a space", what,
                        (unsigned long long)i, (int)MX_MIN(len, 100), s);
            break;
        }
        size_t al = (size_t)(sp - s), bl = len - al - 1;
        cat.len = 0;
        mx_buf_append(&cat, s, al);
        mx_buf_append(&cat, sp + 1, bl);
        if (cat.failed) { st = mx_err(MIXLM_ERR_NOMEM, "out of memory"); break; }
        int32_t a = tok_lookup(t, s, al), b = tok_lookup(t, sp + 1, bl), r = tok_lookup(t, cat.data, cat.len);
        if (a < 0 || b < 0 || r < 0) {
            st = mx_err(MIXLM_ERR_FORMAT, "%s: merge #%llu \"%.*s\" names a piece that is not in the vocabulary", what,
                        (unsigned long long)i, (int)MX_MIN(len, 100), s);
            break;
        }
        st = tok_add_merge(t, a, b, r, (uint32_t)i);
    }
    mx_buf_free(&cat);
    return st;
}

mixlm_status tok_load_gguf(mixlm_tokenizer *t, const struct mx_gguf *g, const char *what) {
    const char *model;
    size_t model_len;
    if (mx_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len) != 1)
        return mx_err(MIXLM_ERR_FORMAT, "%s: no tokenizer.ggml.model: the file carries no vocabulary", what);
    char mname[32];
    snprintf(mname, sizeof mname, "%.*s", (int)MX_MIN(model_len, 31), model);
    bool spm = !strcmp(mname, "llama");
    bool bpe = !strcmp(mname, "gpt2");
    if (!spm && !bpe)
        return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: tokenizer model \"%s\" is not supported (llama and gpt2 are)", what, mname);

    mx_gguf_vtype et;
    uint64_t n;
    if (mx_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) != 1 || et != MX_GGUF_STRING || n == 0)
        return mx_err(MIXLM_ERR_FORMAT, "%s: tokenizer.ggml.tokens must be a non-empty string array", what);
    if (n > (1u << 24)) return mx_err(MIXLM_ERR_FORMAT, "%s: %llu tokens is too many", what, (unsigned long long)n);
    int32_t nv = (int32_t)n;
    mixlm_status st = tok_set_vocab_size(t, nv);
    if (st) return st;

    uint64_t ns = 0, nt = 0;
    mx_gguf_vtype st_type, tt_type;
    const void *scores = mx_gguf_arr_data(g, "tokenizer.ggml.scores", &st_type, &ns);
    const void *types = mx_gguf_arr_data(g, "tokenizer.ggml.token_type", &tt_type, &nt);
    if (scores && (ns != n || st_type != MX_GGUF_FLOAT32))
        return mx_err(MIXLM_ERR_FORMAT, "%s: tokenizer.ggml.scores must be float32[%llu]", what, (unsigned long long)n);
    if (types && nt != n) return mx_err(MIXLM_ERR_FORMAT, "%s: tokenizer.ggml.token_type has the wrong length", what);
    if (spm) {
        t->scores = malloc((size_t)n * sizeof *t->scores);
        if (!t->scores) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    }
    t->model = TOK_BPE;
    for (int32_t i = 0; i < nv; i++) {
        const char *s;
        size_t len;
        if (mx_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &s, &len) != 1)
            return mx_err(MIXLM_ERR_FORMAT, "%s: token %d unreadable", what, (int)i);
        if (!mx_utf8_valid(s, len)) return mx_err(MIXLM_ERR_FORMAT, "%s: token %d is not valid UTF-8", what, (int)i);
        int64_t type = TT_NORMAL;
        if (types && mx_gguf_arr_i64(g, "tokenizer.ggml.token_type", (uint64_t)i, &type) != 1)
            return mx_err(MIXLM_ERR_FORMAT, "%s: tokenizer.ggml.token_type must be an integer array", what);
        if (spm) {
            float f = 0;
            if (scores) memcpy(&f, (const char *)scores + 4 * (size_t)i, 4);
            t->scores[i] = f;
        }
        if ((type == TT_CONTROL || type == TT_USER) && len > 0) {
            tok_added a = {0};
            a.id = i;
            a.len = (uint32_t)len;
            a.special = type == TT_CONTROL;
            st = tok_add_added(t, &a, s);
        } else {
            st = tok_set_piece(t, i, s, len);
        }
        if (st) return st;
        if (type == TT_UNKNOWN && t->unk_id < 0) t->unk_id = i;
    }
    st = tok_build_index(t);
    if (!st) st = tok_build_trie(t);
    if (st) return st;

    /* absent: SentencePiece vocabularies prepend a space (llama.cpp's default, and Llama 2's
     * tokenizer.json Prepend normalizer) */
    bool add_space_prefix = spm;
    if (mx_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &add_space_prefix) != 1) add_space_prefix = spm;
    if (spm) {
        st = setup_spm(t, add_space_prefix);
    } else {
        const char *pre = "default";
        size_t pl = 7;
        if (mx_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pl) != 1) { pre = "default"; pl = 7; }
        const pre_name *p = NULL;
        for (size_t i = 0; i < MX_ARRAY_LEN(PRE_NAMES); i++)
            if (strlen(PRE_NAMES[i].name) == pl && !memcmp(PRE_NAMES[i].name, pre, pl)) p = &PRE_NAMES[i];
        if (!p)
            return mx_err(MIXLM_ERR_UNSUPPORTED,
                          "%s: pre-tokenizer \"%.*s\" is not supported (llama-bpe, llama3, qwen2, gpt-4o, default)", what,
                          (int)MX_MIN(pl, 60), pre);
        st = setup_bytelevel(t, p);
        if (!st) st = load_merges(t, g, what);
    }
    if (st) return st;

    int32_t id;
    if (get_id(g, "tokenizer.ggml.unknown_token_id", nv, &id)) t->unk_id = id;
    t->special.unk = t->unk_id;
    if (get_id(g, "tokenizer.ggml.bos_token_id", nv, &id)) t->special.bos = id;
    if (get_id(g, "tokenizer.ggml.eos_token_id", nv, &id)) t->special.eos = id;
    if (get_id(g, "tokenizer.ggml.padding_token_id", nv, &id)) t->special.pad = id;
    if (get_id(g, "tokenizer.ggml.eot_token_id", nv, &id)) t->special.eot = id;
    bool add_bos = spm, add_eos = false;
    mx_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos);
    mx_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &add_eos);
    if (add_bos && t->special.bos >= 0) {
        t->post_pre = malloc(sizeof(int32_t));
        if (!t->post_pre) return MIXLM_ERR_NOMEM;
        t->post_pre[0] = t->special.bos;
        t->n_post_pre = 1;
    }
    if (add_eos && t->special.eos >= 0) {
        t->post_post = malloc(sizeof(int32_t));
        if (!t->post_post) return MIXLM_ERR_NOMEM;
        t->post_post[0] = t->special.eos;
        t->n_post_post = 1;
    }
    t->special.add_bos = t->n_post_pre > 0;
    t->special.add_eos = t->n_post_post > 0;
    t->cleanup = false;
    tok_detect_fast(t);
    return MIXLM_OK;
}
