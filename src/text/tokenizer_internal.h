/* tokenizer_internal.h: the in-memory tokenizer shared by the tokenizer.json loader, the GGUF
 * vocabulary loader, the encoder/decoder and the streaming detokenizer.
 *
 * The pipeline mirrors the Hugging Face one, and where the reference (transformers.js) differs
 * from the Rust tokenizers, it follows the reference (see docs/tokenizer.md): added tokens are
 * matched on the raw text (longest match, left to right), each remaining section is normalised,
 * pre-tokenised and run through the model, then the post-processor adds its special tokens.
 */
#ifndef MX_TOKENIZER_INTERNAL_H
#define MX_TOKENIZER_INTERNAL_H

#include "common/util.h"
#include "text/tok_regex.h"

#include <stdbool.h>

/* ---- Piece lists (the strings passed between pipeline stages) ---------------------------- */

typedef struct tok_list {
    mx_buf buf;        /* the bytes of every piece, back to back */
    size_t *off, *len;
    size_t n, cap;
    int failed;
} tok_list;

void tok_list_clear(tok_list *l);
void tok_list_free(tok_list *l);
void tok_list_push(tok_list *l, const char *s, size_t n);
/* Start a piece that is then appended to with mx_buf_* on l->buf and closed by tok_list_end. */
void tok_list_begin(tok_list *l);
void tok_list_end(tok_list *l);
static inline const char *tok_list_at(const tok_list *l, size_t i, size_t *len) {
    *len = l->len[i];
    return l->buf.data ? l->buf.data + l->off[i] : ""; /* all pieces empty: no buffer yet */
}

/* ---- Pipeline components ------------------------------------------------------------------- */

enum {
    NORM_SEQUENCE = 1, NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_REPLACE, NORM_PREPEND,
    NORM_STRIP, NORM_LOWERCASE, NORM_STRIP_ACCENTS, NORM_PRECOMPILED, NORM_BERT
};

typedef struct tok_norm {
    int type;
    tok_regex *re;                /* Replace */
    char *str;                    /* Replace: content; Prepend: prepend */
    size_t str_len;
    bool left, right;             /* Strip */
    bool clean_text, chinese, lower, strip_accents; /* BertNormalizer */
    struct tok_norm *sub;         /* Sequence */
    int n_sub;
} tok_norm;

enum {
    PRE_SEQUENCE = 1, PRE_BYTELEVEL, PRE_SPLIT, PRE_METASPACE, PRE_DIGITS, PRE_PUNCTUATION,
    PRE_WHITESPACE, PRE_WHITESPACE_SPLIT, PRE_BERT, PRE_REPLACE
};
enum { PREPEND_ALWAYS = 0, PREPEND_FIRST, PREPEND_NEVER };

typedef struct tok_pre {
    int type;
    bool add_prefix_space, use_regex; /* ByteLevel, Metaspace */
    tok_regex *re;                /* Split, Replace; ByteLevel when use_regex */
    bool invert, removed;         /* Split */
    char *str;                    /* Metaspace: replacement; Replace: content */
    size_t str_len;
    int prepend_scheme;           /* Metaspace */
    bool individual_digits;       /* Digits */
    struct tok_pre *sub;
    int n_sub;
} tok_pre;

enum {
    DEC_SEQUENCE = 1, DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP,
    DEC_METASPACE, DEC_WORDPIECE, DEC_BPE
};

typedef struct tok_dec {
    int type;
    tok_regex *re;                /* Replace */
    char *str;                    /* Replace: content; Metaspace: replacement; WordPiece: prefix;
                                     BPE: suffix; Strip: content (one character) */
    size_t str_len;
    int start, stop;              /* Strip */
    bool add_prefix_space;        /* Metaspace */
    bool cleanup;                 /* WordPiece */
    struct tok_dec *sub;
    int n_sub;
} tok_dec;

/* ---- Vocabulary ----------------------------------------------------------------------------- */

enum { TOK_BPE = 1, TOK_UNIGRAM, TOK_WORDPIECE };

enum {
    ATTR_SPECIAL = 1,   /* skipped by decode(skip_special) */
    ATTR_ADDED = 2,     /* an added token (ByteLevel decoding passes it through unchanged) */
    ATTR_HOLE = 4       /* an id with no piece */
};

typedef struct tok_added {
    int32_t id;
    uint32_t off, len;            /* content in the pool */
    bool special, lstrip, rstrip, single_word, normalized;
} tok_added;

typedef struct tok_trie_node {
    int32_t child, sibling;       /* first child, next sibling (0 = none) */
    int32_t added;                /* index in added[] of the token ending here, -1 if none */
    uint8_t byte;
} tok_trie_node;

/* One slot of the piece hash: the hash's high bits as a tag and the piece's place in the pool,
 * so that a probe touches one cache line and compares bytes only when the tag matches. */
typedef struct tok_hslot {
    uint32_t tag;
    int32_t id;
    uint32_t off, len;
} tok_hslot;

typedef struct tok_mslot {
    uint64_t key;                 /* (left id << 32 | right id) + 1, 0 = empty */
    uint32_t rank;
    int32_t result;
} tok_mslot;

struct mixlm_tokenizer {
    int model;                    /* TOK_* */

    /* Pieces: id -> bytes in pool; a hash from bytes -> id (added tokens override the model's
     * entries with the same text, as the reference's token-to-id map does). */
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t *piece_off, *piece_len;
    uint8_t *attr;
    int32_t n_vocab;
    tok_hslot *hash;              /* open addressing, id -1 = empty */
    uint32_t hash_mask;

    /* BPE */
    tok_mslot *merges;            /* open addressing on (left id, right id) */
    uint32_t merge_mask;
    int32_t n_merges;
    bool merges_by_score;         /* GGUF SentencePiece: the merged piece with the best score wins */
    bool byte_fallback, fuse_unk, ignore_merges;
    char *eow_suffix;             /* end_of_word_suffix (NULL when none) */
    size_t eow_suffix_len;
    int32_t byte_ids[256];        /* <0xXX> pieces, -1 when absent */
    int32_t unk_id;               /* -1 when none */

    /* Unigram */
    float *scores;
    double unk_score;
    int32_t max_piece_len;        /* bytes */

    /* WordPiece */
    char *wp_prefix;
    size_t wp_prefix_len;
    int32_t wp_max_chars;

    /* Added tokens and the trie that finds them in text. */
    tok_added *added;
    int32_t n_added;
    tok_trie_node *trie;
    int32_t n_trie, cap_trie;
    int32_t trie_root[256];       /* first byte -> node (0 = none) */

    tok_norm *norm;
    tok_pre *pre;
    tok_dec *dec;
    /* The usual byte-level pre-tokenizer (a split regex, then bytes to characters), run by a
     * fast path that caches words by their raw bytes (tok_detect_fast). Points into pre. */
    const tok_regex *fast_split;
    bool fast_matches_only;       /* ByteLevel's own regex: text between matches is dropped */
    /* SentencePiece-style BPE has no pre-tokenizer: a whole section is one word. It may be cut
     * in front of a "▁" that follows another character when no piece can span the cut: the only
     * pieces that could are those with such a "X▁" inside (spm_cross: id, offset of the ▁). */
    bool spm_split;
    int32_t (*spm_cross)[2];
    int32_t n_spm_cross;

    /* Post-processor (single sequence): ids before and after the text when add_special. */
    int32_t *post_pre, *post_post;
    int32_t n_post_pre, n_post_post;

    bool cleanup;                 /* clean_up_tokenization_spaces */
    bool remove_space;            /* tokenizer_config remove_space */
    mixlm_special_tokens special;
};

/* ---- Shared helpers ------------------------------------------------------------------------- */

/* Decode one code point of valid UTF-8 at s[*i] (advances *i). */
static inline uint32_t tok_utf8_next(const char *s, size_t n, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k = *i;
    uint32_t c = u[k];
    if (c < 0x80) { *i = k + 1; return c; }
    if (c < 0xE0 && k + 1 < n) { *i = k + 2; return ((c & 0x1F) << 6) | (u[k + 1] & 0x3F); }
    if (c < 0xF0 && k + 2 < n) {
        *i = k + 3;
        return ((c & 0x0F) << 12) | ((uint32_t)(u[k + 1] & 0x3F) << 6) | (u[k + 2] & 0x3F);
    }
    if (k + 3 < n) {
        *i = k + 4;
        return ((c & 0x07) << 18) | ((uint32_t)(u[k + 1] & 0x3F) << 12) | ((uint32_t)(u[k + 2] & 0x3F) << 6) |
               (u[k + 3] & 0x3F);
    }
    *i = n;
    return 0xFFFD;
}
static inline size_t tok_utf8_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}
void tok_utf8_put(mx_buf *b, uint32_t cp);
/* Append s[0..n) to b, replacing ill-formed UTF-8 with U+FFFD the way the WHATWG decoder does
 * (TextDecoder in the reference). */
void tok_utf8_sanitize(mx_buf *b, const char *s, size_t n);

/* Tokenizer construction (tokenizer.c). */
mixlm_tokenizer *tok_new(void);
mixlm_status tok_set_vocab_size(mixlm_tokenizer *t, int32_t n);
mixlm_status tok_set_piece(mixlm_tokenizer *t, int32_t id, const char *s, size_t n);
mixlm_status tok_build_index(mixlm_tokenizer *t);  /* hash of pieces, byte ids, holes */
int32_t tok_lookup(const mixlm_tokenizer *t, const char *s, size_t n);
void tok_lookup_batch(const mixlm_tokenizer *t, size_t n, const char *const *s, const size_t *len, int32_t *out);
mixlm_status tok_add_merge(mixlm_tokenizer *t, int32_t a, int32_t b, int32_t result, uint32_t rank);
/* n merges as (a, b, result) triples in abr, ranks first, first + 1, ... (batched: faster). */
void tok_add_merges(mixlm_tokenizer *t, size_t n, const int32_t *abr, uint32_t first);
mixlm_status tok_merges_alloc(mixlm_tokenizer *t, size_t n);
mixlm_status tok_add_added(mixlm_tokenizer *t, const tok_added *a, const char *content);
mixlm_status tok_build_trie(mixlm_tokenizer *t);
void tok_detect_fast(mixlm_tokenizer *t);
void tok_norm_free(tok_norm *n);
void tok_pre_free(tok_pre *p);
void tok_dec_free(tok_dec *d);

/* Loaders. */
mixlm_status tok_load_json(mixlm_tokenizer *t, const char *json, size_t len, const char *cfg,
                           size_t cfg_len, const char *what);
struct mx_gguf;
mixlm_status tok_load_gguf(mixlm_tokenizer *t, const struct mx_gguf *g, const char *what);

/* Models (tokenizer_models.c): append the ids of one pre-tokenized word. */
typedef struct tok_scratch tok_scratch;
tok_scratch *tok_scratch_new(void);
void tok_scratch_free(tok_scratch *s);
mixlm_status tok_model_word(const mixlm_tokenizer *t, tok_scratch *s, const char *w, size_t n,
                            int32_t **ids, size_t *n_ids, size_t *cap);

/* Decoding with raw bytes (no U+FFFD replacement at the byte-level steps, no clean-up): the
 * streaming detokenizer works on this. */
mixlm_status tok_decode_impl(const mixlm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                             bool raw, mx_buf *out);

#endif /* MX_TOKENIZER_INTERNAL_H */
