/* tokenizer.c: the tokenizer object and its pipeline: vocabulary tables, added-token matching,
 * normalizers, pre-tokenizers, post-processor, decoders, and the public encode/decode API. */
#include "text/tokenizer_internal.h"
#include "text/tok_json.h"

#include "model/gguf.h"
#include "model/model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

/* ==== Small helpers ========================================================================= */

void tok_utf8_put(mx_buf *b, uint32_t c) {
    char o[4];
    size_t k = 0;
    if (c < 0x80) o[k++] = (char)c;
    else if (c < 0x800) { o[k++] = (char)(0xC0 | (c >> 6)); o[k++] = (char)(0x80 | (c & 0x3F)); }
    else if (c < 0x10000) {
        o[k++] = (char)(0xE0 | (c >> 12)); o[k++] = (char)(0x80 | ((c >> 6) & 0x3F)); o[k++] = (char)(0x80 | (c & 0x3F));
    } else {
        o[k++] = (char)(0xF0 | (c >> 18)); o[k++] = (char)(0x80 | ((c >> 12) & 0x3F));
        o[k++] = (char)(0x80 | ((c >> 6) & 0x3F)); o[k++] = (char)(0x80 | (c & 0x3F));
    }
    mx_buf_append(b, o, k);
}

/* WHATWG UTF-8 decode: one U+FFFD per maximal ill-formed subsequence. */
void tok_utf8_sanitize(mx_buf *b, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t need = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        size_t k = 1;
        int ok = need > 0;
        for (; ok && k <= need; k++) {
            if (i + k >= n) { ok = 0; break; }
            unsigned char d = s[i + k];
            if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) { ok = 0; break; }
        }
        if (ok) { i += need + 1; continue; }
        /* bytes s[run..i) are good; replace s[i..i+k) (k = bytes consumed before failing, >= 1) */
        mx_buf_append(b, str + run, i - run);
        mx_buf_append(b, "\xEF\xBF\xBD", 3);
        i += need ? k : 1;
        if (need && k == 0) i++;
        run = i;
    }
    mx_buf_append(b, str + run, n - run);
}

void tok_list_clear(tok_list *l) {
    l->buf.len = 0;
    l->n = 0;
}

void tok_list_free(tok_list *l) {
    mx_buf_free(&l->buf);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static int tok_list_grow(tok_list *l) {
    if (l->n < l->cap) return 1;
    size_t nc = l->cap ? l->cap * 2 : 32;
    size_t *a = realloc(l->off, nc * sizeof *a);
    if (!a) { l->failed = 1; return 0; }
    l->off = a;
    size_t *b = realloc(l->len, nc * sizeof *b);
    if (!b) { l->failed = 1; return 0; }
    l->len = b;
    l->cap = nc;
    return 1;
}

void tok_list_push(tok_list *l, const char *s, size_t n) {
    if (!tok_list_grow(l)) return;
    l->off[l->n] = l->buf.len;
    mx_buf_append(&l->buf, s, n);
    l->len[l->n++] = n;
}

void tok_list_begin(tok_list *l) {
    if (!tok_list_grow(l)) return;
    l->off[l->n] = l->buf.len;
}

void tok_list_end(tok_list *l) {
    if (l->failed) return;
    l->len[l->n] = l->buf.len - l->off[l->n];
    l->n++;
}

/* ==== Construction =========================================================================== */

mixlm_tokenizer *tok_new(void) {
    mixlm_tokenizer *t = mx_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->unk_id = -1;
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    t->special = (mixlm_special_tokens){-1, -1, -1, -1, -1, false, false};
    t->wp_max_chars = 100;
    return t;
}

mixlm_status tok_set_vocab_size(mixlm_tokenizer *t, int32_t n) {
    if (n <= 0 || n > (1 << 24)) return mx_err(MIXLM_ERR_FORMAT, "vocabulary size %d out of range", (int)n);
    if (n <= t->n_vocab) return MIXLM_OK;
    uint32_t *a = realloc(t->piece_off, (size_t)n * sizeof *a);
    if (!a) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    t->piece_off = a;
    uint32_t *b = realloc(t->piece_len, (size_t)n * sizeof *b);
    if (!b) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    t->piece_len = b;
    uint8_t *c = realloc(t->attr, (size_t)n);
    if (!c) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    t->attr = c;
    for (int32_t i = t->n_vocab; i < n; i++) {
        t->piece_off[i] = 0;
        t->piece_len[i] = 0;
        t->attr[i] = ATTR_HOLE;
    }
    t->n_vocab = n;
    return MIXLM_OK;
}

static mixlm_status pool_add(mixlm_tokenizer *t, const char *s, size_t n, uint32_t *off) {
    if (n > (1u << 20)) return mx_err(MIXLM_ERR_FORMAT, "token of %zu bytes is too long", n);
    if (t->pool_cap - t->pool_len < n + 1) {
        size_t cap = t->pool_cap ? t->pool_cap : 1 << 16;
        while (cap - t->pool_len < n + 1) cap *= 2;
        if (cap > UINT32_MAX) return mx_err(MIXLM_ERR_NOMEM, "vocabulary text larger than 4 GiB");
        char *p = realloc(t->pool, cap);
        if (!p) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        t->pool = p;
        t->pool_cap = cap;
    }
    *off = (uint32_t)t->pool_len;
    memcpy(t->pool + t->pool_len, s, n);
    t->pool[t->pool_len + n] = 0;
    t->pool_len += n + 1;
    return MIXLM_OK;
}

mixlm_status tok_set_piece(mixlm_tokenizer *t, int32_t id, const char *s, size_t n) {
    if (id < 0 || id >= t->n_vocab) return mx_err(MIXLM_ERR_FORMAT, "token id %d out of range", (int)id);
    uint32_t off = 0;
    mixlm_status st = pool_add(t, s, n, &off);
    if (st) return st;
    t->piece_off[id] = off;
    t->piece_len[id] = (uint32_t)n;
    t->attr[id] &= (uint8_t)~ATTR_HOLE;
    return MIXLM_OK;
}

static inline uint64_t str_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        h = (h ^ v) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
    return h;
}

int32_t tok_lookup(const mixlm_tokenizer *t, const char *s, size_t n) {
    if (!t->hash) return -1;
    uint64_t hv = str_hash(s, n);
    uint32_t tag = (uint32_t)(hv >> 32);
    for (uint64_t h = hv & t->hash_mask;; h = (h + 1) & t->hash_mask) {
        const tok_hslot *e = &t->hash[h];
        if (e->id < 0) return -1;
        if (e->tag == tag && e->len == n && !memcmp(t->pool + e->off, s, n)) return e->id;
    }
}

/* Look up n pieces at once. The tables are far larger than the caches, so one lookup at a time
 * waits for memory twice (slot, then the pool bytes); issuing the loads of a whole batch first
 * lets them overlap. Measured on the Gemma 3 vocabulary: merges load about 3x faster. */
void tok_lookup_batch(const mixlm_tokenizer *t, size_t n, const char *const *s, const size_t *len, int32_t *out) {
    enum { B = 64 };
    uint64_t hv[B];
    for (size_t base = 0; base < n; base += B) {
        size_t m = MX_MIN((size_t)B, n - base);
        for (size_t i = 0; i < m; i++) {
            hv[i] = str_hash(s[base + i], len[base + i]);
            __builtin_prefetch(&t->hash[hv[i] & t->hash_mask]);
        }
        for (size_t i = 0; i < m; i++) {
            const tok_hslot *e = &t->hash[hv[i] & t->hash_mask];
            if (e->id >= 0) __builtin_prefetch(t->pool + e->off);
        }
        for (size_t i = 0; i < m; i++) {
            size_t ln = len[base + i];
            const char *p = s[base + i];
            uint32_t tag = (uint32_t)(hv[i] >> 32);
            int32_t r = -1;
            for (uint64_t h = hv[i] & t->hash_mask;; h = (h + 1) & t->hash_mask) {
                const tok_hslot *e = &t->hash[h];
                if (e->id < 0) break;
                if (e->tag == tag && e->len == ln && !memcmp(t->pool + e->off, p, ln)) { r = e->id; break; }
            }
            out[base + i] = r;
        }
    }
}

static void hash_insert(mixlm_tokenizer *t, int32_t id, uint64_t hv) {
    const char *s = t->pool + t->piece_off[id];
    size_t n = t->piece_len[id];
    uint32_t tag = (uint32_t)(hv >> 32);
    for (uint64_t h = hv & t->hash_mask;; h = (h + 1) & t->hash_mask) {
        tok_hslot *e = &t->hash[h];
        if (e->id < 0) {
            e->tag = tag;
            e->id = id;
            e->off = t->piece_off[id];
            e->len = (uint32_t)n;
            return;
        }
        if (e->tag == tag && e->len == n && !memcmp(t->pool + e->off, s, n)) {
            /* The same text twice: an added token wins over a model piece (the reference's map
             * takes the added tokens last); otherwise the later id wins, as JSON.parse does for
             * repeated keys. */
            if ((t->attr[id] & ATTR_ADDED) || !(t->attr[e->id] & ATTR_ADDED)) e->id = id;
            return;
        }
    }
}

mixlm_status tok_build_index(mixlm_tokenizer *t) {
    /* load factor at most 2/3: short probes, and a table that stays small enough to build fast */
    uint64_t cap = 16;
    while (cap * 2 < (uint64_t)t->n_vocab * 3) cap *= 2;
    free(t->hash);
    t->hash = tj_big_alloc((size_t)cap * sizeof *t->hash);
    if (!t->hash) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < cap; i++) t->hash[i].id = -1;
    t->hash_mask = (uint32_t)(cap - 1);
    /* Model pieces first, then added tokens, so that added tokens override equal text. */
    for (int pass = 0; pass < 2; pass++) {
        /* in batches whose slots are prefetched first (see tok_add_merges) */
        enum { B = 64 };
        int32_t ids[B];
        uint64_t hv[B];
        for (int32_t i = 0; i < t->n_vocab;) {
            int m = 0;
            for (; i < t->n_vocab && m < B; i++) {
                if (t->attr[i] & ATTR_HOLE) continue;
                if (!!(t->attr[i] & ATTR_ADDED) != pass) continue;
                ids[m] = i;
                hv[m] = str_hash(t->pool + t->piece_off[i], t->piece_len[i]);
                __builtin_prefetch(&t->hash[hv[m] & t->hash_mask], 1);
                m++;
            }
            for (int k = 0; k < m; k++) hash_insert(t, ids[k], hv[k]);
        }
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = tok_lookup(t, name, 6);
    }
    t->max_piece_len = 1;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if ((int32_t)t->piece_len[i] > t->max_piece_len) t->max_piece_len = (int32_t)t->piece_len[i];
    return MIXLM_OK;
}

mixlm_status tok_merges_alloc(mixlm_tokenizer *t, size_t n) {
    uint64_t cap = 16;
    while (cap * 2 < (uint64_t)n * 3 + 2) cap *= 2;
    free(t->merges);
    t->merges = tj_big_alloc((size_t)cap * sizeof *t->merges);
    if (t->merges) memset(t->merges, 0, (size_t)cap * sizeof *t->merges);
    if (!t->merges) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    t->merge_mask = (uint32_t)(cap - 1);
    return MIXLM_OK;
}

static inline uint64_t merge_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}
static inline uint64_t merge_slot(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
}

static void merge_insert(mixlm_tokenizer *t, uint64_t key, uint64_t k, int32_t result, uint32_t rank) {
    for (uint64_t h = k & t->merge_mask;; h = (h + 1) & t->merge_mask) {
        tok_mslot *e = &t->merges[h];
        if (!e->key) {
            e->key = key;
            e->rank = rank;
            e->result = result;
            t->n_merges++;
            return;
        }
        if (e->key == key) return; /* a repeated merge keeps its first rank */
    }
}

mixlm_status tok_add_merge(mixlm_tokenizer *t, int32_t a, int32_t b, int32_t result, uint32_t rank) {
    const uint64_t key = merge_key(a, b);
    merge_insert(t, key, merge_slot(key), result, rank);
    return MIXLM_OK;
}

/* Enter n merges given as (a, b, result) triples with ranks first, first+1, ... The table is far
 * larger than the caches: hashing a batch and prefetching its slots before inserting lets the
 * cache misses overlap (same order of insertion as one at a time, so the same table). */
void tok_add_merges(mixlm_tokenizer *t, size_t n, const int32_t *abr, uint32_t first) {
    enum { B = 64 };
    uint64_t key[B], slot[B];
    for (size_t base = 0; base < n; base += B) {
        const size_t m = MX_MIN((size_t)B, n - base);
        for (size_t i = 0; i < m; i++) {
            const int32_t *x = abr + 3 * (base + i);
            key[i] = merge_key(x[0], x[1]);
            slot[i] = merge_slot(key[i]);
            __builtin_prefetch(&t->merges[slot[i] & t->merge_mask], 1);
        }
        for (size_t i = 0; i < m; i++)
            merge_insert(t, key[i], slot[i], abr[3 * (base + i) + 2], first + (uint32_t)(base + i));
    }
}

mixlm_status tok_add_added(mixlm_tokenizer *t, const tok_added *a, const char *content) {
    if (a->len == 0) return mx_err(MIXLM_ERR_FORMAT, "added token %d has empty content", (int)a->id);
    if (a->id < 0) return mx_err(MIXLM_ERR_FORMAT, "added token id %d out of range", (int)a->id);
    if (a->id >= t->n_vocab) {
        mixlm_status st = tok_set_vocab_size(t, a->id + 1);
        if (st) return st;
    }
    if (t->n_added % 64 == 0) {
        tok_added *p = realloc(t->added, (size_t)(t->n_added + 64) * sizeof *p);
        if (!p) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        t->added = p;
    }
    mixlm_status st = tok_set_piece(t, a->id, content, a->len);
    if (st) return st;
    tok_added *d = &t->added[t->n_added++];
    *d = *a;
    d->off = t->piece_off[a->id];
    t->attr[a->id] |= ATTR_ADDED;
    if (a->special) t->attr[a->id] |= ATTR_SPECIAL;
    return MIXLM_OK;
}

static int32_t trie_new(mixlm_tokenizer *t, uint8_t byte) {
    if (t->n_trie == t->cap_trie) {
        int32_t nc = t->cap_trie ? t->cap_trie * 2 : 256;
        tok_trie_node *p = realloc(t->trie, (size_t)nc * sizeof *p);
        if (!p) return -1;
        t->trie = p;
        t->cap_trie = nc;
    }
    tok_trie_node *n = &t->trie[t->n_trie];
    n->child = n->sibling = 0;
    n->added = -1;
    n->byte = byte;
    return t->n_trie++;
}

mixlm_status tok_build_trie(mixlm_tokenizer *t) {
    t->n_trie = 0;
    memset(t->trie_root, 0, sizeof t->trie_root);
    if (trie_new(t, 0) < 0) return mx_err(MIXLM_ERR_NOMEM, "out of memory"); /* node 0 = "none" */
    for (int32_t a = 0; a < t->n_added; a++) {
        const unsigned char *s = (const unsigned char *)t->pool + t->added[a].off;
        uint32_t n = t->added[a].len;
        int32_t node = t->trie_root[s[0]];
        if (!node) {
            node = trie_new(t, s[0]);
            if (node < 0) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
            t->trie_root[s[0]] = node;
        }
        for (uint32_t i = 1; i < n; i++) {
            int32_t c = t->trie[node].child, prev = 0;
            while (c && t->trie[c].byte != s[i]) { prev = c; c = t->trie[c].sibling; }
            if (!c) {
                c = trie_new(t, s[i]);
                if (c < 0) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
                if (prev) t->trie[prev].sibling = c;
                else t->trie[node].child = c;
            }
            node = c;
        }
        t->trie[node].added = a; /* a later token with the same text wins */
    }
    return MIXLM_OK;
}

#define SPM_SPACE "\xE2\x96\x81"

static void detect_spm_split(mixlm_tokenizer *t) {
    t->spm_split = false;
    if (t->model != TOK_BPE || t->pre || tok_lookup(t, SPM_SPACE, 3) < 0) return;
    int32_t cap = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->attr[id] & ATTR_HOLE) continue;
        const char *p = t->pool + t->piece_off[id];
        uint32_t n = t->piece_len[id];
        for (uint32_t k = 1; k + 3 <= n; k++) {
            if (memcmp(p + k, SPM_SPACE, 3)) continue;
            if (k >= 3 && !memcmp(p + k - 3, SPM_SPACE, 3)) continue; /* "▁▁": not a cut point */
            if (t->n_spm_cross == cap) {
                if (cap >= 4096) { free(t->spm_cross); t->spm_cross = NULL; t->n_spm_cross = 0; return; }
                cap = cap ? cap * 2 : 16;
                int32_t(*q)[2] = realloc(t->spm_cross, (size_t)cap * sizeof *q);
                if (!q) { free(t->spm_cross); t->spm_cross = NULL; t->n_spm_cross = 0; return; }
                t->spm_cross = q;
            }
            t->spm_cross[t->n_spm_cross][0] = id;
            t->spm_cross[t->n_spm_cross][1] = (int32_t)k;
            t->n_spm_cross++;
        }
    }
    t->spm_split = true;
}

/* Is a cut in front of s[i] (a "▁" after another character) safe: no piece spans it? */
static int spm_cut_ok(const mixlm_tokenizer *t, const char *s, size_t n, size_t i) {
    for (int32_t c = 0; c < t->n_spm_cross; c++) {
        int32_t id = t->spm_cross[c][0];
        size_t k = (size_t)t->spm_cross[c][1], len = t->piece_len[id];
        if (i < k || i - k + len > n) continue;
        if (!memcmp(s + i - k, t->pool + t->piece_off[id], len)) return 0;
    }
    return 1;
}

void tok_detect_fast(mixlm_tokenizer *t) {
    detect_spm_split(t);
    t->fast_split = NULL;
    const tok_pre *p = t->pre;
    if (!p || t->model != TOK_BPE) return;
    if (p->type == PRE_SEQUENCE && p->n_sub == 2 && p->sub[0].type == PRE_SPLIT && !p->sub[0].invert &&
        !p->sub[0].removed && p->sub[1].type == PRE_BYTELEVEL && !p->sub[1].add_prefix_space && !p->sub[1].use_regex) {
        t->fast_split = p->sub[0].re;
        t->fast_matches_only = false;
    } else if (p->type == PRE_BYTELEVEL && p->use_regex && !p->add_prefix_space) {
        t->fast_split = p->re;
        t->fast_matches_only = true;
    }
}

void tok_norm_free(tok_norm *n) {
    if (!n) return;
    for (int i = 0; i < n->n_sub; i++) {
        tok_regex_free(n->sub[i].re);
        free(n->sub[i].str);
        for (int j = 0; j < n->sub[i].n_sub; j++) tok_norm_free(&n->sub[i].sub[j]);
        free(n->sub[i].sub);
    }
    free(n->sub);
    tok_regex_free(n->re);
    free(n->str);
    memset(n, 0, sizeof *n);
}

void tok_pre_free(tok_pre *p) {
    if (!p) return;
    for (int i = 0; i < p->n_sub; i++) tok_pre_free(&p->sub[i]);
    free(p->sub);
    tok_regex_free(p->re);
    free(p->str);
    memset(p, 0, sizeof *p);
}

void tok_dec_free(tok_dec *d) {
    if (!d) return;
    for (int i = 0; i < d->n_sub; i++) tok_dec_free(&d->sub[i]);
    free(d->sub);
    tok_regex_free(d->re);
    free(d->str);
    memset(d, 0, sizeof *d);
}

void mixlm_tokenizer_free(mixlm_tokenizer *t) {
    if (!t) return;
    free(t->pool);
    free(t->piece_off);
    free(t->piece_len);
    free(t->attr);
    free(t->hash);
    free(t->merges);
    free(t->eow_suffix);
    free(t->scores);
    free(t->wp_prefix);
    free(t->added);
    free(t->trie);
    if (t->norm) { tok_norm_free(t->norm); free(t->norm); }
    if (t->pre) { tok_pre_free(t->pre); free(t->pre); }
    if (t->dec) { tok_dec_free(t->dec); free(t->dec); }
    free(t->post_pre);
    free(t->post_post);
    free(t->spm_cross);
    free(t);
}

/* ==== Normalizers ============================================================================ */

static int is_js_space_at(const char *s, size_t n, size_t i, size_t *next) {
    size_t j = i;
    uint32_t c = tok_utf8_next(s, n, &j);
    *next = j;
    return tok_js_space(c);
}

/* JavaScript trim: [*b, *e) without leading / trailing whitespace. */
static void js_trim(const char *s, size_t n, bool left, bool right, size_t *b, size_t *e) {
    size_t i = 0, j = n, nx;
    if (left) while (i < n && is_js_space_at(s, n, i, &nx)) i = nx;
    if (right) {
        while (j > i) {
            size_t k = j - 1;
            while (k > i && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
            if (!is_js_space_at(s, n, k, &nx)) break;
            j = k;
        }
    }
    *b = i;
    *e = j;
}

static mixlm_status utf8proc_form1(mx_buf *out, const char *s, size_t n, int opts) {
    if (n == 0) return MIXLM_OK;
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res,
                                      (utf8proc_option_t)(opts | UTF8PROC_STABLE));
    if (r < 0) return mx_err(MIXLM_ERR_INTERNAL, "normalization failed: %s", utf8proc_errmsg(r));
    mx_buf_append(out, res, (size_t)r);
    free(res);
    return MIXLM_OK;
}

/* Unicode normalisation, with ASCII passed through: no normal form changes an ASCII character,
 * and none composes a character with an ASCII character that follows it (the second of a
 * composition pair is always a combining mark or a Hangul jamo), so the text can be cut in
 * front of every ASCII character and only the runs between go through utf8proc. */
static mixlm_status utf8proc_form(mx_buf *out, const char *s, size_t n, int opts) {
    size_t i = 0;
    while (i < n) {
        size_t a = i;
        while (i < n && (unsigned char)s[i] < 0x80) i++;
        if (i == n) { mx_buf_append(out, s + a, i - a); break; }
        /* the ASCII character in front of a non-ASCII run may compose with it: keep it with
         * the run (the cut goes in front of it) */
        size_t b = i > a ? i - 1 : i;
        mx_buf_append(out, s + a, b - a);
        while (i < n && (unsigned char)s[i] >= 0x80) i++;
        mixlm_status st = utf8proc_form1(out, s + b, i - b, opts);
        if (st) return st;
    }
    return MIXLM_OK;
}

static int is_control_for_precompiled(uint32_t c) {
    return (c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F ||
           c == 0x9F;
}
static int is_space_for_precompiled(uint32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x2581 || c == 0x3000 || c == 0xFEFF || c == 0xFFFD;
}

static int is_bert_punct(uint32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_PC || k == UTF8PROC_CATEGORY_PD || k == UTF8PROC_CATEGORY_PS ||
           k == UTF8PROC_CATEGORY_PE || k == UTF8PROC_CATEGORY_PI || k == UTF8PROC_CATEGORY_PF ||
           k == UTF8PROC_CATEGORY_PO;
}

static int is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_mark(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

/* Lowercase as JavaScript's toLowerCase does for the cases that differ from the simple mapping:
 * U+0130 becomes "i" + U+0307, and a final capital sigma becomes U+03C2. */
static void js_lower(mx_buf *out, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t c = tok_utf8_next(s, n, &i);
        if (c == 0x130) { mx_buf_puts(out, "i\xCC\x87"); continue; }
        if (c == 0x3A3) {
            /* final sigma: preceded by a letter and not followed by one */
            int before = 0, after = 0;
            if (st > 0) {
                size_t k = st - 1;
                while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
                size_t kk = k;
                uint32_t p = tok_utf8_next(s, n, &kk);
                before = utf8proc_tolower((utf8proc_int32_t)p) != (utf8proc_int32_t)p ||
                         utf8proc_toupper((utf8proc_int32_t)p) != (utf8proc_int32_t)p;
            }
            if (i < n) {
                size_t kk = i;
                uint32_t q = tok_utf8_next(s, n, &kk);
                after = utf8proc_tolower((utf8proc_int32_t)q) != (utf8proc_int32_t)q ||
                        utf8proc_toupper((utf8proc_int32_t)q) != (utf8proc_int32_t)q;
            }
            tok_utf8_put(out, before && !after ? 0x3C2 : 0x3C3);
            continue;
        }
        tok_utf8_put(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
    }
}

static mixlm_status regex_replace(mx_buf *out, const tok_regex *re, tok_match *m, const char *s, size_t n,
                                  const char *with, size_t with_len) {
    size_t pos = 0, ms, me;
    while (pos <= n) {
        int r = tok_regex_find(re, m, s, n, pos, &ms, &me);
        if (r < 0) return mx_err(MIXLM_ERR_INTERNAL, "regular expression failed (resource limit)");
        if (r == 0) break;
        mx_buf_append(out, s + pos, ms - pos);
        mx_buf_append(out, with, with_len);
        if (me == ms) {
            /* empty match: copy one character and move on, as replaceAll does */
            if (ms >= n) { pos = n + 1; break; }
            size_t cl = tok_utf8_len((unsigned char)s[ms]);
            mx_buf_append(out, s + ms, cl);
            pos = ms + cl;
        } else {
            pos = me;
        }
    }
    if (pos < n) mx_buf_append(out, s + pos, n - pos);
    return MIXLM_OK;
}

static mixlm_status normalize(const tok_norm *nz, tok_match *m, const char *s, size_t n, mx_buf *out) {
    switch (nz->type) {
    case NORM_SEQUENCE: {
        mx_buf a = {0}, b = {0};
        mx_buf_append(&a, s, n);
        for (int i = 0; i < nz->n_sub; i++) {
            b.len = 0;
            mixlm_status st = normalize(&nz->sub[i], m, a.data ? a.data : "", a.len, &b);
            if (st) { mx_buf_free(&a); mx_buf_free(&b); return st; }
            mx_buf t = a; a = b; b = t;
        }
        if (a.len) mx_buf_append(out, a.data, a.len);
        int failed = a.failed || b.failed;
        mx_buf_free(&a);
        mx_buf_free(&b);
        return failed ? mx_err(MIXLM_ERR_NOMEM, "out of memory") : MIXLM_OK;
    }
    case NORM_NFC: return utf8proc_form(out, s, n, UTF8PROC_COMPOSE);
    case NORM_NFD: return utf8proc_form(out, s, n, UTF8PROC_DECOMPOSE);
    case NORM_NFKC: return utf8proc_form(out, s, n, UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    case NORM_NFKD: return utf8proc_form(out, s, n, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
    case NORM_REPLACE: return regex_replace(out, nz->re, m, s, n, nz->str, nz->str_len);
    case NORM_PREPEND:
        mx_buf_append(out, nz->str, nz->str_len);
        mx_buf_append(out, s, n);
        return MIXLM_OK;
    case NORM_STRIP: {
        size_t b, e;
        js_trim(s, n, nz->left, nz->right, &b, &e);
        mx_buf_append(out, s + b, e - b);
        return MIXLM_OK;
    }
    case NORM_LOWERCASE: js_lower(out, s, n); return MIXLM_OK;
    case NORM_STRIP_ACCENTS:
        for (size_t i = 0; i < n;) {
            size_t st = i;
            uint32_t c = tok_utf8_next(s, n, &i);
            if (!is_mark(c)) mx_buf_append(out, s + st, i - st);
        }
        return MIXLM_OK;
    case NORM_PRECOMPILED: {
        /* The reference's approximation of SentencePiece's nmt_nfkc rules: drop controls, turn
         * some spaces into U+0020, then NFKC except that U+FF5E stays as it is. */
        mx_buf a = {0};
        for (size_t i = 0; i < n;) {
            size_t st = i;
            uint32_t c = tok_utf8_next(s, n, &i);
            if (is_control_for_precompiled(c)) continue;
            if (is_space_for_precompiled(c)) mx_buf_putc(&a, ' ');
            else mx_buf_append(&a, s + st, i - st);
        }
        mixlm_status st = MIXLM_OK;
        size_t p = 0;
        const char *d = a.data ? a.data : "";
        for (size_t i = 0; i + 3 <= a.len; i++)
            if (!memcmp(d + i, "\xEF\xBD\x9E", 3)) {
                if (!st) st = utf8proc_form(out, d + p, i - p, UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
                mx_buf_append(out, "\xEF\xBD\x9E", 3);
                p = i + 3;
                i += 2;
            }
        if (!st) st = utf8proc_form(out, d + p, a.len - p, UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
        mx_buf_free(&a);
        return st;
    }
    case NORM_BERT: {
        /* As the reference: clean (drop NUL, U+FFFD, controls other than \t \n \r; whitespace
         * to ' '), spaces around BMP CJK ideographs, lowercase, then NFD without Mn marks. */
        mx_buf a = {0}, b = {0};
        for (size_t i = 0; i < n;) {
            size_t st = i;
            uint32_t c = tok_utf8_next(s, n, &i);
            if (nz->clean_text) {
                utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
                if (c == 0 || c == 0xFFFD) continue;
                if (c != '\t' && c != '\n' && c != '\r' &&
                    (k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
                     k == UTF8PROC_CATEGORY_CS))
                    continue;
                if (tok_js_space(c)) { mx_buf_putc(&a, ' '); continue; }
            }
            if (nz->chinese && c < 0x10000 && is_chinese(c)) {
                mx_buf_putc(&a, ' ');
                mx_buf_append(&a, s + st, i - st);
                mx_buf_putc(&a, ' ');
                continue;
            }
            mx_buf_append(&a, s + st, i - st);
        }
        if (nz->lower) {
            js_lower(&b, a.data ? a.data : "", a.len);
            mx_buf t = a; a = b; b = t;
            b.len = 0;
        }
        if (nz->strip_accents) {
            mixlm_status st = utf8proc_form(&b, a.data ? a.data : "", a.len, UTF8PROC_DECOMPOSE);
            if (st) { mx_buf_free(&a); mx_buf_free(&b); return st; }
            for (size_t i = 0; i < b.len;) {
                size_t st2 = i;
                uint32_t c = tok_utf8_next(b.data, b.len, &i);
                if (utf8proc_category((utf8proc_int32_t)c) != UTF8PROC_CATEGORY_MN) mx_buf_append(out, b.data + st2, i - st2);
            }
        } else {
            mx_buf_append(out, a.data ? a.data : "", a.len);
        }
        int failed = a.failed || b.failed;
        mx_buf_free(&a);
        mx_buf_free(&b);
        return failed ? mx_err(MIXLM_ERR_NOMEM, "out of memory") : MIXLM_OK;
    }
    default: return mx_err(MIXLM_ERR_INTERNAL, "unknown normalizer");
    }
}

/* ==== Pre-tokenizers ========================================================================= */

/* The byte -> character table of byte-level BPE (GPT-2): printable bytes map to themselves,
 * the others to U+0100 and up, in byte order. */
static char bl_table[256][3];
static unsigned char bl_lens[256];
static pthread_once_t bl_once = PTHREAD_ONCE_INIT;

static void bytelevel_init(void) {
    int n = 0;
    for (unsigned c = 0; c < 256; c++) {
        unsigned cp;
        if ((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)) cp = c;
        else cp = 256 + (unsigned)n++;
        if (cp < 0x80) { bl_table[c][0] = (char)cp; bl_lens[c] = 1; }
        else { bl_table[c][0] = (char)(0xC0 | (cp >> 6)); bl_table[c][1] = (char)(0x80 | (cp & 0x3F)); bl_lens[c] = 2; }
    }
}

static const char *bytelevel_char(unsigned b, size_t *len) {
    pthread_once(&bl_once, bytelevel_init);
    *len = bl_lens[b];
    return bl_table[b];
}

/* The inverse: a character of a byte-level piece -> its byte, -1 for characters outside the map. */
static int bytelevel_byte(uint32_t cp) {
    if ((cp >= '!' && cp <= '~') || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp < 256 || cp >= 256 + 68) return -1;
    /* the (cp - 256)-th byte outside the printable ranges */
    unsigned n = cp - 256;
    for (unsigned c = 0; c < 256; c++) {
        if ((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)) continue;
        if (n-- == 0) return (int)c;
    }
    return -1;
}

static void emit_split(tok_list *out, const char *s, size_t n, const tok_regex *re, tok_match *m, bool invert,
                       bool removed, int *err) {
    size_t pos = 0, prev = 0, ms, me;
    while (pos <= n) {
        int r = tok_regex_find(re, m, s, n, pos, &ms, &me);
        if (r < 0) { *err = 1; return; }
        if (r == 0) break;
        if (invert) {
            if (me > ms) tok_list_push(out, s + ms, me - ms);
        } else {
            if (prev < ms) tok_list_push(out, s + prev, ms - prev);
            if (me > ms && !removed) tok_list_push(out, s + ms, me - ms);
        }
        prev = me;
        if (me == ms) {
            if (ms >= n) break;
            pos = ms + tok_utf8_len((unsigned char)s[ms]);
        } else {
            pos = me;
        }
    }
    if (!invert && prev < n) tok_list_push(out, s + prev, n - prev);
}

/* Simple character-class splitters (Digits, Punctuation, Whitespace, Bert): runs of characters
 * of the same class become pieces; class 0 is dropped (whitespace). single: each character of
 * class `single` is its own piece. */
typedef int (*char_class_fn)(uint32_t c, const tok_pre *p);

static int cls_digits(uint32_t c, const tok_pre *p) { (void)p; return c >= '0' && c <= '9' ? 2 : 1; }
static int cls_punct(uint32_t c, const tok_pre *p) { (void)p; return is_bert_punct(c) ? 2 : 1; }
static int cls_whitespace(uint32_t c, const tok_pre *p) {
    (void)p;
    if (c < 128 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 1;
    if (tok_js_space(c)) return 0;
    return 2;
}
static int cls_wssplit(uint32_t c, const tok_pre *p) { (void)p; return tok_js_space(c) ? 0 : 1; }
static int cls_bert(uint32_t c, const tok_pre *p) {
    (void)p;
    if (tok_js_space(c)) return 0;
    return is_bert_punct(c) ? 2 : 1;
}

static void split_classes(tok_list *out, const char *s, size_t n, char_class_fn fn, const tok_pre *p,
                          int single_class) {
    size_t start = 0;
    int cur = -1;
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t c = tok_utf8_next(s, n, &i);
        int k = fn(c, p);
        if (k != cur || (k == single_class)) {
            if (cur > 0 && st > start) tok_list_push(out, s + start, st - start);
            start = st;
            cur = k;
        }
    }
    if (cur > 0 && n > start) tok_list_push(out, s + start, n - start);
}

static mixlm_status pre_one(const tok_pre *p, tok_match *m, const char *s, size_t n, int section, tok_list *out) {
    int err = 0;
    switch (p->type) {
    case PRE_BYTELEVEL: {
        mx_buf pre = {0};
        const char *src = s;
        size_t sn = n;
        if (p->add_prefix_space && !(n > 0 && s[0] == ' ')) {
            mx_buf_putc(&pre, ' ');
            mx_buf_append(&pre, s, n);
            src = pre.data;
            sn = pre.len;
        }
        tok_list words = {0};
        if (p->use_regex) emit_split(&words, src, sn, p->re, m, true, false, &err);
        else tok_list_push(&words, src, sn);
        for (size_t w = 0; w < words.n; w++) {
            size_t wl;
            const char *wd = tok_list_at(&words, w, &wl);
            tok_list_begin(out);
            for (size_t i = 0; i < wl; i++) {
                size_t cl;
                const char *ch = bytelevel_char((unsigned char)wd[i], &cl);
                mx_buf_append(&out->buf, ch, cl);
            }
            tok_list_end(out);
        }
        int failed = words.failed || words.buf.failed || pre.failed;
        tok_list_free(&words);
        mx_buf_free(&pre);
        if (failed) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        break;
    }
    case PRE_SPLIT:
        emit_split(out, s, n, p->re, m, p->invert, p->removed, &err);
        break;
    case PRE_METASPACE: {
        tok_list_begin(out);
        /* tested after spaces became the replacement, as the reference does */
        int starts_with_rep = (n > 0 && s[0] == ' ') || (n >= p->str_len && !memcmp(s, p->str, p->str_len));
        if (p->add_prefix_space && !starts_with_rep &&
            (p->prepend_scheme == PREPEND_ALWAYS || (p->prepend_scheme == PREPEND_FIRST && section == 0)))
            mx_buf_append(&out->buf, p->str, p->str_len);
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ') mx_buf_append(&out->buf, p->str, p->str_len);
            else mx_buf_putc(&out->buf, s[i]);
        }
        tok_list_end(out);
        break;
    }
    case PRE_DIGITS: split_classes(out, s, n, cls_digits, p, p->individual_digits ? 2 : -1); break;
    case PRE_PUNCTUATION: split_classes(out, s, n, cls_punct, p, -1); break;
    case PRE_WHITESPACE: split_classes(out, s, n, cls_whitespace, p, -1); break;
    case PRE_WHITESPACE_SPLIT: split_classes(out, s, n, cls_wssplit, p, -1); break;
    case PRE_BERT: {
        size_t b, e;
        js_trim(s, n, true, true, &b, &e);
        split_classes(out, s + b, e - b, cls_bert, p, 2);
        break;
    }
    case PRE_REPLACE: {
        tok_list_begin(out);
        mixlm_status st = regex_replace(&out->buf, p->re, m, s, n, p->str, p->str_len);
        tok_list_end(out);
        if (st) return st;
        break;
    }
    case PRE_SEQUENCE: {
        tok_list a = {0}, b = {0};
        tok_list_push(&a, s, n);
        mixlm_status st = MIXLM_OK;
        for (int i = 0; i < p->n_sub && !st; i++) {
            tok_list_clear(&b);
            for (size_t k = 0; k < a.n && !st; k++) {
                size_t l;
                const char *x = tok_list_at(&a, k, &l);
                st = pre_one(&p->sub[i], m, x, l, section, &b);
            }
            tok_list t = a; a = b; b = t;
        }
        for (size_t k = 0; k < a.n && !st; k++) {
            size_t l;
            const char *x = tok_list_at(&a, k, &l);
            tok_list_push(out, x, l);
        }
        tok_list_free(&a);
        tok_list_free(&b);
        if (st) return st;
        break;
    }
    default: return mx_err(MIXLM_ERR_INTERNAL, "unknown pre-tokenizer");
    }
    if (err) return mx_err(MIXLM_ERR_INTERNAL, "regular expression failed (resource limit)");
    if (out->failed || out->buf.failed) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    return MIXLM_OK;
}

/* ==== Encoding =============================================================================== */

/* A per-call cache of words already run through the model: prose repeats its words, and the
 * model (BPE merges above all) is most of the cost of encoding. Per call, so that a tokenizer
 * stays immutable and shareable between threads. */
typedef struct wc_slot {
    uint64_t hash;                /* 0 = empty */
    uint32_t word_off, word_len;  /* in wc_bytes */
    uint32_t ids_off, ids_len;    /* in wc_ids */
} wc_slot;

#define WC_MAX_WORD 128
#define WC_MAX_SLOTS (1u << 18)

typedef struct enc_ctx {
    tok_match *m;
    tok_scratch *s;
    mx_buf norm, norm2;
    tok_list words;
    int32_t *ids;
    size_t n, cap;
    wc_slot *wc;
    uint32_t wc_cap, wc_used;
    mx_buf wc_bytes;
    int32_t *wc_ids;
    size_t wc_n_ids, wc_cap_ids;
} enc_ctx;

static void wc_free(enc_ctx *c) {
    free(c->wc);
    mx_buf_free(&c->wc_bytes);
    free(c->wc_ids);
}

/* Index of the slot holding word (or of the empty slot where it goes); -1 without a table. */
static int64_t wc_find(const enc_ctx *c, uint64_t h, const char *w, size_t n) {
    if (!c->wc) return -1;
    for (uint32_t i = (uint32_t)h & (c->wc_cap - 1);; i = (i + 1) & (c->wc_cap - 1)) {
        const wc_slot *e = &c->wc[i];
        if (!e->hash) return i;
        if (e->hash == h && e->word_len == n && !memcmp(c->wc_bytes.data + e->word_off, w, n)) return i;
    }
}

static int wc_grow(enc_ctx *c) {
    uint32_t nc = c->wc_cap ? c->wc_cap * 2 : 1024;
    wc_slot *t = calloc(nc, sizeof *t);
    if (!t) return 0;
    for (uint32_t i = 0; i < c->wc_cap; i++) {
        if (!c->wc[i].hash) continue;
        uint32_t j = (uint32_t)c->wc[i].hash & (nc - 1);
        while (t[j].hash) j = (j + 1) & (nc - 1);
        t[j] = c->wc[i];
    }
    free(c->wc);
    c->wc = t;
    c->wc_cap = nc;
    return 1;
}

static void wc_insert(enc_ctx *c, uint64_t h, const char *w, size_t n, const int32_t *ids, size_t k) {
    if (c->wc_used * 2 >= c->wc_cap) {
        if (c->wc_cap >= WC_MAX_SLOTS || !wc_grow(c)) return;
    }
    int64_t i = wc_find(c, h, w, n);
    if (i < 0 || c->wc[i].hash) return;
    if (c->wc_n_ids + k > c->wc_cap_ids) {
        size_t nc = c->wc_cap_ids ? c->wc_cap_ids * 2 : 4096;
        while (nc < c->wc_n_ids + k) nc *= 2;
        int32_t *p = realloc(c->wc_ids, nc * sizeof *p);
        if (!p) return;
        c->wc_ids = p;
        c->wc_cap_ids = nc;
    }
    size_t off = c->wc_bytes.len;
    mx_buf_append(&c->wc_bytes, w, n);
    if (c->wc_bytes.failed || off > UINT32_MAX / 2 || c->wc_n_ids > UINT32_MAX / 2) return;
    if (k) memcpy(c->wc_ids + c->wc_n_ids, ids, k * sizeof *ids);
    c->wc[i] = (wc_slot){h, (uint32_t)off, (uint32_t)n, (uint32_t)c->wc_n_ids, (uint32_t)k};
    c->wc_n_ids += k;
    c->wc_used++;
}

static inline uint64_t wc_hash(const char *s, size_t n) {
    uint64_t h = str_hash(s, n);
    return h ? h : 1;
}

static mixlm_status push_ids(enc_ctx *c, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            int32_t *p = realloc(c->ids, nc * sizeof *p);
            if (!p) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
            c->ids = p;
            c->cap = nc;
        }
        c->ids[c->n++] = ids[i];
    }
    return MIXLM_OK;
}

/* Byte-level BPE the usual way (a split regex, then the byte-to-character map, no prefix
 * space), without building piece lists: each regex piece is looked up in the word cache by its
 * raw bytes and mapped and run through the model only when it is new. Same result as the general
 * path (pre_one + model), which the golden tests check for every byte-level tokenizer. */
static mixlm_status encode_bytelevel_fast(const mixlm_tokenizer *t, enc_ctx *c, const char *s, size_t n) {
    size_t pos = 0, prev = 0, ms, me;
    mixlm_status st = MIXLM_OK;
    for (;;) {
        size_t a, b;  /* the next piece [a, b) */
        int last = 0;
        {
            int r = pos <= n ? tok_regex_find(t->fast_split, c->m, s, n, pos, &ms, &me) : 0;
            if (r < 0) return mx_err(MIXLM_ERR_INTERNAL, "regular expression failed (resource limit)");
            if (r == 0) {
                if (t->fast_matches_only || prev >= n) break;
                a = prev;
                b = n;
                last = 1;
            } else {
                if (!t->fast_matches_only && prev < ms) {
                    /* emit the gap first, then come back for the match */
                    a = prev;
                    b = ms;
                    prev = ms;
                    pos = ms;
                    goto piece;
                }
                a = ms;
                b = me;
                prev = me;
                pos = me > ms ? me : ms + (ms < n ? tok_utf8_len((unsigned char)s[ms]) : 1);
                if (me == ms) continue;
            }
        }
    piece:
        if (b > a) {
            size_t wl = b - a;
            const char *wd = s + a;
            uint64_t h = 0;
            if (wl <= WC_MAX_WORD) {
                h = wc_hash(wd, wl);
                int64_t slot = wc_find(c, h, wd, wl);
                if (slot >= 0 && c->wc[slot].hash) {
                    st = c->wc[slot].ids_len ? push_ids(c, c->wc_ids + c->wc[slot].ids_off, c->wc[slot].ids_len) : MIXLM_OK;
                    if (st) return st;
                    if (last) break;
                    continue;
                }
            }
            c->norm2.len = 0;
            for (size_t i = 0; i < wl; i++) {
                size_t cl;
                const char *ch = bytelevel_char((unsigned char)wd[i], &cl);
                mx_buf_append(&c->norm2, ch, cl);
            }
            if (c->norm2.failed) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
            size_t before = c->n;
            st = tok_model_word(t, c->s, c->norm2.data, c->norm2.len, &c->ids, &c->n, &c->cap);
            if (st) return st;
            if (wl <= WC_MAX_WORD) wc_insert(c, h, wd, wl, c->ids ? c->ids + before : NULL, c->n - before);
        }
        if (last) break;
    }
    return MIXLM_OK;
}

static mixlm_status encode_section(const mixlm_tokenizer *t, enc_ctx *c, const char *s, size_t n, int section) {
    if (n == 0) return MIXLM_OK;
    mx_buf tmp = {0};
    if (t->remove_space) {
        /* x.trim().split(/\s+/).join(" ") */
        size_t b, e;
        js_trim(s, n, true, true, &b, &e);
        for (size_t i = b; i < e;) {
            size_t nx;
            if (is_js_space_at(s, e, i, &nx)) {
                while (i < e && is_js_space_at(s, e, i, &nx)) i = nx;
                mx_buf_putc(&tmp, ' ');
            } else {
                mx_buf_append(&tmp, s + i, nx - i);
                i = nx;
            }
        }
        s = tmp.data ? tmp.data : "";
        n = tmp.len;
    }
    if (t->norm) {
        c->norm.len = 0;
        mixlm_status st = normalize(t->norm, c->m, s, n, &c->norm);
        if (st) { mx_buf_free(&tmp); return st; }
        if (c->norm.failed) { mx_buf_free(&tmp); return mx_err(MIXLM_ERR_NOMEM, "out of memory"); }
        s = c->norm.data ? c->norm.data : "";
        n = c->norm.len;
    }
    if (n == 0) { mx_buf_free(&tmp); return MIXLM_OK; }
    mixlm_status st;
    if (t->fast_split) {
        st = encode_bytelevel_fast(t, c, s, n);
        mx_buf_free(&tmp);
        return st;
    }
    tok_list_clear(&c->words);
    if (t->pre) {
        st = pre_one(t->pre, c->m, s, n, section, &c->words);
    } else if (t->spm_split) {
        /* cut in front of each "▁" that follows another character, where no piece spans */
        size_t start = 0;
        for (size_t i = 3; i + 3 <= n; i++) {
            if ((unsigned char)s[i] != 0xE2 || memcmp(s + i, SPM_SPACE, 3) || !memcmp(s + i - 3, SPM_SPACE, 3)) continue;
            if (!spm_cut_ok(t, s, n, i)) continue;
            tok_list_push(&c->words, s + start, i - start);
            start = i;
        }
        tok_list_push(&c->words, s + start, n - start);
        st = c->words.failed ? mx_err(MIXLM_ERR_NOMEM, "out of memory") : MIXLM_OK;
    } else {
        tok_list_push(&c->words, s, n);
        st = c->words.failed ? mx_err(MIXLM_ERR_NOMEM, "out of memory") : MIXLM_OK;
    }
    mx_buf_free(&tmp);
    if (st) return st;
    size_t first = c->n;
    for (size_t w = 0; w < c->words.n; w++) {
        size_t wl;
        const char *wd = tok_list_at(&c->words, w, &wl);
        if (wl == 0 || wl > WC_MAX_WORD) {
            st = tok_model_word(t, c->s, wd, wl, &c->ids, &c->n, &c->cap);
            if (st) return st;
            continue;
        }
        uint64_t h = wc_hash(wd, wl);
        int64_t slot = wc_find(c, h, wd, wl);
        if (slot >= 0 && c->wc[slot].hash) {
            st = c->wc[slot].ids_len ? push_ids(c, c->wc_ids + c->wc[slot].ids_off, c->wc[slot].ids_len) : MIXLM_OK;
            if (st) return st;
            continue;
        }
        size_t before = c->n;
        st = tok_model_word(t, c->s, wd, wl, &c->ids, &c->n, &c->cap);
        if (st) return st;
        wc_insert(c, h, wd, wl, c->ids ? c->ids + before : NULL, c->n - before);
    }
    if (t->fuse_unk && t->unk_id >= 0 && t->model == TOK_BPE) {
        size_t o = first;
        for (size_t i = first; i < c->n; i++) {
            if (c->ids[i] == t->unk_id && o > first && c->ids[o - 1] == t->unk_id) continue;
            c->ids[o++] = c->ids[i];
        }
        c->n = o;
    }
    return MIXLM_OK;
}

mixlm_status mixlm_tokenizer_encode_ex(const mixlm_tokenizer *t, const char *text, size_t len, unsigned flags,
                                       int32_t **ids, size_t *n_ids) {
    if (!ids || !n_ids) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer encode: NULL output");
    *ids = NULL;
    *n_ids = 0;
    if (!t || (!text && len)) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer encode: NULL argument");
    if (!text) text = "";
    mx_buf clean = {0};
    if (!mx_utf8_valid(text, len)) {
        tok_utf8_sanitize(&clean, text, len);
        if (clean.failed) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        text = clean.data;
        len = clean.len;
    }
    enc_ctx c = {0};
    c.m = tok_match_new();
    c.s = tok_scratch_new();
    mixlm_status st = (!c.m || !c.s) ? mx_err(MIXLM_ERR_NOMEM, "out of memory") : MIXLM_OK;
    bool add_special = flags & MIXLM_ENCODE_ADD_SPECIAL;
    bool parse_special = !(flags & MIXLM_ENCODE_NO_PARSE_SPECIAL);
    if (!st && add_special) st = push_ids(&c, t->post_pre, (size_t)t->n_post_pre);

    /* Split the text at added tokens (longest match at each character, left to right), then
     * honour lstrip/rstrip by trimming the neighbouring sections, as the reference does. */
    size_t sec_start = 0;       /* start of the pending text section */
    size_t trim_next = 0;       /* rstrip of the previous token: trim the start of this section */
    int section = 0;
    for (size_t i = 0; !st && i <= len;) {
        int32_t match = -1;
        size_t mlen = 0;
        if (i < len && t->trie_root[(unsigned char)text[i]]) {
            int32_t node = t->trie_root[(unsigned char)text[i]];
            size_t j = i + 1;
            for (;;) {
                int32_t a = t->trie[node].added;
                if (a >= 0 && (parse_special || !t->added[a].special)) { match = a; mlen = j - i; }
                if (j >= len) break;
                int32_t ch = t->trie[node].child;
                while (ch && t->trie[ch].byte != (unsigned char)text[j]) ch = t->trie[ch].sibling;
                if (!ch) break;
                node = ch;
                j++;
            }
        }
        if (match < 0 && i < len) {
            i += tok_utf8_len((unsigned char)text[i]);
            continue;
        }
        /* End of a text section: at a match or at the end of the text. */
        size_t b = sec_start, e = i;
        if (trim_next) {
            size_t bb, ee;
            js_trim(text + b, e - b, true, false, &bb, &ee);
            b += bb;
        }
        if (match >= 0 && t->added[match].lstrip) {
            size_t bb, ee;
            js_trim(text + b, e - b, false, true, &bb, &ee);
            e = b + ee;
        }
        if (i > sec_start) {
            st = encode_section(t, &c, text + b, e - b, section);
            section++;
        }
        if (match < 0) break;
        if (!st) st = push_ids(&c, &t->added[match].id, 1);
        section++;
        trim_next = t->added[match].rstrip;
        i += mlen;
        sec_start = i;
    }
    if (!st && add_special) st = push_ids(&c, t->post_post, (size_t)t->n_post_post);
    tok_match_free(c.m);
    tok_scratch_free(c.s);
    mx_buf_free(&c.norm);
    mx_buf_free(&c.norm2);
    tok_list_free(&c.words);
    wc_free(&c);
    mx_buf_free(&clean);
    if (st) { free(c.ids); return st; }
    if (!c.ids) c.ids = malloc(sizeof(int32_t));
    if (!c.ids) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    *ids = c.ids;
    *n_ids = c.n;
    return MIXLM_OK;
}

mixlm_status mixlm_tokenizer_encode(const mixlm_tokenizer *t, const char *text, size_t len, bool add_special,
                                    int32_t **ids, size_t *n_ids) {
    return mixlm_tokenizer_encode_ex(t, text, len, add_special ? MIXLM_ENCODE_ADD_SPECIAL : 0, ids, n_ids);
}

/* ==== Decoding =============================================================================== */

static void utf8_out(mx_buf *out, const char *s, size_t n, bool raw) {
    if (raw) mx_buf_append(out, s, n);
    else tok_utf8_sanitize(out, s, n);
}

static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

static mixlm_status decode_chain(const mixlm_tokenizer *t, const tok_dec *d, tok_match *m, tok_list *in,
                                 tok_list *out, bool raw) {
    tok_list_clear(out);
    switch (d->type) {
    case DEC_SEQUENCE: {
        tok_list a = {0}, b = {0};
        for (size_t i = 0; i < in->n; i++) {
            size_t l;
            const char *x = tok_list_at(in, i, &l);
            tok_list_push(&a, x, l);
        }
        mixlm_status st = MIXLM_OK;
        for (int k = 0; k < d->n_sub && !st; k++) {
            st = decode_chain(t, &d->sub[k], m, &a, &b, raw);
            tok_list tt = a; a = b; b = tt;
        }
        for (size_t i = 0; i < a.n && !st; i++) {
            size_t l;
            const char *x = tok_list_at(&a, i, &l);
            tok_list_push(out, x, l);
        }
        tok_list_free(&a);
        tok_list_free(&b);
        return st;
    }
    case DEC_BYTELEVEL: {
        /* Runs of ordinary pieces are turned back into bytes together; added tokens pass
         * through unchanged. */
        mx_buf bytes = {0};
        for (size_t i = 0; i <= in->n; i++) {
            size_t l = 0;
            const char *x = i < in->n ? tok_list_at(in, i, &l) : NULL;
            int is_added = x && tok_lookup(t, x, l) >= 0 && (t->attr[tok_lookup(t, x, l)] & ATTR_ADDED);
            if (!x || is_added) {
                if (bytes.len) {
                    tok_list_begin(out);
                    utf8_out(&out->buf, bytes.data, bytes.len, raw);
                    tok_list_end(out);
                    bytes.len = 0;
                }
                if (x) tok_list_push(out, x, l);
                continue;
            }
            for (size_t k = 0; k < l;) {
                uint32_t cp = tok_utf8_next(x, l, &k);
                int bv = bytelevel_byte(cp);
                /* A character outside the byte map has no byte (the reference produces
                 * undefined -> 0 there); keep the character's own bytes instead. */
                if (bv >= 0) mx_buf_putc(&bytes, (char)bv);
                else tok_utf8_put(&bytes, cp);
            }
        }
        mx_buf_free(&bytes);
        break;
    }
    case DEC_REPLACE:
        for (size_t i = 0; i < in->n; i++) {
            size_t l;
            const char *x = tok_list_at(in, i, &l);
            tok_list_begin(out);
            mixlm_status st = regex_replace(&out->buf, d->re, m, x, l, d->str, d->str_len);
            tok_list_end(out);
            if (st) return st;
        }
        break;
    case DEC_BYTEFALLBACK: {
        mx_buf bytes = {0};
        for (size_t i = 0; i <= in->n; i++) {
            size_t l = 0;
            const char *x = i < in->n ? tok_list_at(in, i, &l) : NULL;
            int bv = x ? byte_token(x, l) : -1;
            if (bv >= 0) { mx_buf_putc(&bytes, (char)bv); continue; }
            if (bytes.len) {
                tok_list_begin(out);
                utf8_out(&out->buf, bytes.data, bytes.len, raw);
                tok_list_end(out);
                bytes.len = 0;
            }
            if (x) tok_list_push(out, x, l);
        }
        mx_buf_free(&bytes);
        break;
    }
    case DEC_FUSE:
        tok_list_begin(out);
        for (size_t i = 0; i < in->n; i++) {
            size_t l;
            const char *x = tok_list_at(in, i, &l);
            mx_buf_append(&out->buf, x, l);
        }
        tok_list_end(out);
        break;
    case DEC_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            size_t l;
            const char *x = tok_list_at(in, i, &l);
            size_t b = 0, e = l;
            for (int k = 0; k < d->start && b + d->str_len <= e && !memcmp(x + b, d->str, d->str_len); k++)
                b += d->str_len;
            for (int k = 0; k < d->stop && e >= b + d->str_len && !memcmp(x + e - d->str_len, d->str, d->str_len); k++)
                e -= d->str_len;
            tok_list_push(out, x + b, e - b);
        }
        break;
    case DEC_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            size_t l;
            const char *x = tok_list_at(in, i, &l);
            tok_list_begin(out);
            size_t o = out->buf.len;
            for (size_t k = 0; k < l;) {
                if (d->str_len && k + d->str_len <= l && !memcmp(x + k, d->str, d->str_len)) {
                    mx_buf_putc(&out->buf, ' ');
                    k += d->str_len;
                } else {
                    mx_buf_putc(&out->buf, x[k++]);
                }
            }
            if (d->add_prefix_space && i == 0 && out->buf.len > o && out->buf.data[o] == ' ') {
                memmove(out->buf.data + o, out->buf.data + o + 1, out->buf.len - o - 1);
                out->buf.len--;
            }
            tok_list_end(out);
        }
        break;
    case DEC_WORDPIECE:
        for (size_t i = 0; i < in->n; i++) {
            size_t l;
            const char *x = tok_list_at(in, i, &l);
            tok_list_begin(out);
            if (i != 0) {
                if (l >= d->str_len && !memcmp(x, d->str, d->str_len)) { x += d->str_len; l -= d->str_len; }
                else mx_buf_putc(&out->buf, ' ');
            }
            mx_buf_append(&out->buf, x, l);
            tok_list_end(out);
        }
        break;
    case DEC_BPE:
        for (size_t i = 0; i < in->n; i++) {
            size_t l;
            const char *x = tok_list_at(in, i, &l);
            tok_list_begin(out);
            for (size_t k = 0; k < l;) {
                if (d->str_len && k + d->str_len <= l && !memcmp(x + k, d->str, d->str_len)) {
                    if (i + 1 != in->n) mx_buf_putc(&out->buf, ' ');
                    k += d->str_len;
                } else {
                    mx_buf_putc(&out->buf, x[k++]);
                }
            }
            tok_list_end(out);
        }
        break;
    default: return mx_err(MIXLM_ERR_INTERNAL, "unknown decoder");
    }
    if (out->failed || out->buf.failed) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    return MIXLM_OK;
}

static void cleanup_spaces(mx_buf *b) {
    static const struct { const char *from, *to; } rules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (size_t r = 0; r < MX_ARRAY_LEN(rules); r++) {
        size_t fl = strlen(rules[r].from), tl = strlen(rules[r].to);
        size_t o = 0;
        for (size_t i = 0; i < b->len;) {
            if (i + fl <= b->len && !memcmp(b->data + i, rules[r].from, fl)) {
                memmove(b->data + o, rules[r].to, tl);
                o += tl;
                i += fl;
            } else {
                b->data[o++] = b->data[i++];
            }
        }
        b->len = o;
        if (b->data) b->data[o] = 0;
    }
}

mixlm_status tok_decode_impl(const mixlm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, bool raw,
                             mx_buf *out) {
    tok_list a = {0}, b = {0};
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab) {
            tok_list_free(&a);
            return mx_err(MIXLM_ERR_INVALID_ARG, "token id %d out of range (vocabulary of %d)", (int)id, (int)t->n_vocab);
        }
        if (t->attr[id] & ATTR_HOLE) continue;
        if (skip_special && (t->attr[id] & ATTR_SPECIAL)) continue;
        tok_list_push(&a, t->pool + t->piece_off[id], t->piece_len[id]);
    }
    if (a.failed || a.buf.failed) { tok_list_free(&a); return mx_err(MIXLM_ERR_NOMEM, "out of memory"); }
    mixlm_status st = MIXLM_OK;
    if (t->dec) {
        tok_match *m = tok_match_new();
        if (!m) st = MIXLM_ERR_NOMEM;
        else st = decode_chain(t, t->dec, m, &a, &b, raw);
        tok_match_free(m);
        for (size_t i = 0; !st && i < b.n; i++) {
            size_t l;
            const char *x = tok_list_at(&b, i, &l);
            mx_buf_append(out, x, l);
        }
    } else {
        for (size_t i = 0; i < a.n; i++) {
            size_t l;
            const char *x = tok_list_at(&a, i, &l);
            if (i) mx_buf_putc(out, ' ');
            mx_buf_append(out, x, l);
        }
    }
    if (!st && t->eow_suffix && t->dec) {
        /* the reference replaces the BPE end-of-word suffix with a space after decoding */
        mx_buf r = {0};
        for (size_t i = 0; i < out->len;) {
            if (i + t->eow_suffix_len <= out->len && !memcmp(out->data + i, t->eow_suffix, t->eow_suffix_len)) {
                mx_buf_putc(&r, ' ');
                i += t->eow_suffix_len;
            } else {
                mx_buf_putc(&r, out->data[i++]);
            }
        }
        size_t bb = 0, ee = r.len;
        if (skip_special) js_trim(r.data ? r.data : "", r.len, true, true, &bb, &ee);
        out->len = 0;
        mx_buf_append(out, r.data ? r.data + bb : "", ee - bb);
        mx_buf_free(&r);
    }
    tok_list_free(&a);
    tok_list_free(&b);
    if (!st && out->failed) st = mx_err(MIXLM_ERR_NOMEM, "out of memory");
    return st;
}

mixlm_status mixlm_tokenizer_decode(const mixlm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                                    char **text, size_t *len) {
    if (!text) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer decode: NULL output");
    *text = NULL;
    if (len) *len = 0;
    if (!t || (!ids && n)) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer decode: NULL argument");
    mx_buf out = {0};
    mixlm_status st = tok_decode_impl(t, ids, n, skip_special, false, &out);
    if (st) { mx_buf_free(&out); return st; }
    if (t->cleanup) cleanup_spaces(&out);
    /* Pieces are valid UTF-8 and every byte-producing step replaced ill-formed bytes; this is a
     * last guard for decoders that can split characters (Strip with a multi-byte content). */
    if (!mx_utf8_valid(out.data ? out.data : "", out.len)) {
        mx_buf s = {0};
        tok_utf8_sanitize(&s, out.data, out.len);
        mx_buf_free(&out);
        out = s;
    }
    size_t l = out.len;
    char *p = mx_buf_take(&out);
    if (!p) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    *text = p;
    if (len) *len = l;
    return MIXLM_OK;
}

/* ==== Vocabulary API ========================================================================= */

int32_t mixlm_tokenizer_n_vocab(const mixlm_tokenizer *t) { return t ? t->n_vocab : 0; }

const char *mixlm_tokenizer_piece(const mixlm_tokenizer *t, int32_t id, size_t *len) {
    if (len) *len = 0;
    if (!t || id < 0 || id >= t->n_vocab || (t->attr[id] & ATTR_HOLE)) return NULL;
    if (len) *len = t->piece_len[id];
    return t->pool + t->piece_off[id];
}

int32_t mixlm_tokenizer_piece_id(const mixlm_tokenizer *t, const char *piece, size_t len) {
    if (!t || !piece) return -1;
    return tok_lookup(t, piece, len);
}

bool mixlm_tokenizer_is_special(const mixlm_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_vocab && (t->attr[id] & ATTR_SPECIAL);
}

mixlm_special_tokens mixlm_tokenizer_special(const mixlm_tokenizer *t) {
    if (!t) return (mixlm_special_tokens){-1, -1, -1, -1, -1, false, false};
    return t->special;
}

/* ==== Loading ================================================================================ */

mixlm_status mixlm_tokenizer_from_json(const char *json, size_t json_len, const char *config, size_t config_len,
                                       mixlm_tokenizer **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer: NULL output");
    *out = NULL;
    if (!json) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer: NULL json");
    mixlm_tokenizer *t = tok_new();
    if (!t) return MIXLM_ERR_NOMEM;
    mixlm_status st = tok_load_json(t, json, json_len, config, config ? config_len : 0, "tokenizer.json");
    if (st) { mixlm_tokenizer_free(t); return st; }
    *out = t;
    return MIXLM_OK;
}

static mixlm_status load_json_files(const char *json_path, const char *cfg_path, mixlm_tokenizer **out) {
    char *cfg = NULL;
    size_t cl = 0;
    /* mapped, not read: the parser only looks at each byte once */
    mx_map map = {0};
    mixlm_status st = mx_map_file(json_path, &map);
    if (st) return st;
    if (map.size > ((uint64_t)1 << 30)) { mx_unmap(&map); return mx_err(MIXLM_ERR_FORMAT, "%s: larger than 1 GiB", json_path); }
    const char *json = map.data ? (const char *)map.data : "";
    size_t jl = (size_t)map.size;
    if (cfg_path && mx_file_exists(cfg_path)) {
        st = mx_read_file(cfg_path, (uint64_t)256 << 20, &cfg, &cl);
        if (st) { mx_unmap(&map); return st; }
    }
    mixlm_tokenizer *t = tok_new();
    if (!t) { mx_unmap(&map); free(cfg); return MIXLM_ERR_NOMEM; }
    st = tok_load_json(t, json, jl, cfg, cl, json_path);
    mx_unmap(&map);
    free(cfg);
    if (st) { mixlm_tokenizer_free(t); return st; }
    *out = t;
    return MIXLM_OK;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return mx_strdup(".");
    return mx_strndup(path, (size_t)(slash - path));
}

static mixlm_status load_gguf_path(const char *path, mixlm_tokenizer **out) {
    mx_gguf *g = NULL;
    mixlm_status st = mx_gguf_open(path, &g);
    if (st) return st;
    mixlm_tokenizer *t = tok_new();
    if (!t) { mx_gguf_free(g); return MIXLM_ERR_NOMEM; }
    st = tok_load_gguf(t, g, path);
    mx_gguf_free(g);
    if (st) { mixlm_tokenizer_free(t); return st; }
    *out = t;
    return MIXLM_OK;
}

mixlm_status mixlm_tokenizer_load(const char *path, mixlm_tokenizer **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer: NULL output");
    *out = NULL;
    if (!path) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer: NULL path");
    mixlm_status st;
    if (mx_is_dir(path)) {
        char *j = mx_path_join(path, "tokenizer.json");
        char *c = mx_path_join(path, "tokenizer_config.json");
        if (!j || !c) { free(j); free(c); return MIXLM_ERR_NOMEM; }
        if (!mx_file_exists(j)) {
            st = mx_err(MIXLM_ERR_IO, "tokenizer: %s has no tokenizer.json", path);
        } else {
            st = load_json_files(j, c, out);
        }
        free(j);
        free(c);
        return st;
    }
    size_t pl = strlen(path);
    if (pl >= 5 && !strcmp(path + pl - 5, ".gguf")) return load_gguf_path(path, out);
    /* Sniff the magic too: a GGUF file need not be named *.gguf. */
    FILE *f = fopen(path, "rb");
    if (!f) return mx_err(MIXLM_ERR_IO, "tokenizer: cannot open %s", path);
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && !memcmp(magic, "GGUF", 4)) return load_gguf_path(path, out);
    char *dir = dir_of(path);
    char *c = dir ? mx_path_join(dir, "tokenizer_config.json") : NULL;
    free(dir);
    if (!c) return MIXLM_ERR_NOMEM;
    st = load_json_files(path, c, out);
    free(c);
    return st;
}

mixlm_status mixlm_tokenizer_from_model(const struct mixlm_model *model, mixlm_tokenizer **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer: NULL output");
    *out = NULL;
    if (!model) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer: NULL model");
    if (model->format == MX_FORMAT_GGUF && model->gguf) {
        mixlm_tokenizer *t = tok_new();
        if (!t) return MIXLM_ERR_NOMEM;
        mixlm_status st = tok_load_gguf(t, model->gguf, model->path ? model->path : "model");
        if (st) { mixlm_tokenizer_free(t); return st; }
        *out = t;
        return MIXLM_OK;
    }
    if (!model->path) return mx_err(MIXLM_ERR_INVALID_ARG, "tokenizer: model has no path");
    if (mx_is_dir(model->path)) return mixlm_tokenizer_load(model->path, out);
    char *dir = dir_of(model->path);
    if (!dir) return MIXLM_ERR_NOMEM;
    mixlm_status st = mixlm_tokenizer_load(dir, out);
    free(dir);
    return st;
}
