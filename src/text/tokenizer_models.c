/* tokenizer_models.c: the tokenizer models that turn one pre-tokenized word into ids: BPE (by
 * merge rank, or by piece score for GGUF SentencePiece vocabularies), Unigram (Viterbi) and
 * WordPiece (greedy longest match). */
#include "text/tokenizer_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

typedef struct tok_sym {
    int32_t id;          /* -1: a character that is not in the vocabulary */
    uint32_t start, len; /* bytes of the word */
    int32_t prev, next;  /* -1 at the ends */
    int32_t alive;
} tok_sym;

typedef struct tok_hent {
    uint32_t rank;
    uint32_t pos;        /* index of the left symbol: leftmost first among equal ranks */
    int32_t left_id, right_id, result;
} tok_hent;

struct tok_scratch {
    tok_sym *syms;
    size_t cap_syms;
    tok_hent *heap;
    size_t n_heap, cap_heap;
    mx_buf tmp;
    double *lat_score;
    int32_t *lat_id;
    size_t *lat_from;
    size_t cap_lat;
};

tok_scratch *tok_scratch_new(void) { return mx_calloc(1, sizeof(tok_scratch)); }

void tok_scratch_free(tok_scratch *s) {
    if (!s) return;
    free(s->syms);
    free(s->heap);
    mx_buf_free(&s->tmp);
    free(s->lat_score);
    free(s->lat_id);
    free(s->lat_from);
    free(s);
}

static int push_id(int32_t **ids, size_t *n, size_t *cap, int32_t id) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int32_t *p = realloc(*ids, nc * sizeof *p);
        if (!p) return 0;
        *ids = p;
        *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return 1;
}

/* ---- BPE ------------------------------------------------------------------------------------ */

static inline uint64_t merge_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static int merge_find(const mixlm_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *result) {
    if (!t->merges) return 0;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    for (uint64_t h = merge_hash(key) & t->merge_mask;; h = (h + 1) & t->merge_mask) {
        const tok_mslot *e = &t->merges[h];
        if (!e->key) return 0;
        if (e->key == key) {
            *rank = e->rank;
            *result = e->result;
            return 1;
        }
    }
}

/* Higher score must come first: map the float to an unsigned key that sorts the other way. */
static uint32_t score_rank(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending order of f */
    return ~u;                                      /* descending */
}

static int pair_lookup(const mixlm_tokenizer *t, tok_scratch *s, const char *w, const tok_sym *l,
                       const tok_sym *r, uint32_t *rank, int32_t *result) {
    if (l->id < 0 || r->id < 0) return 0;
    if (!t->merges_by_score) return merge_find(t, l->id, r->id, rank, result);
    /* SentencePiece BPE: any two adjacent pieces whose concatenation is a piece may merge. */
    s->tmp.len = 0;
    mx_buf_append(&s->tmp, w + l->start, l->len);
    mx_buf_append(&s->tmp, w + r->start, r->len);
    if (s->tmp.failed) return 0;
    int32_t id = tok_lookup(t, s->tmp.data, s->tmp.len);
    if (id < 0) return 0;
    *rank = score_rank(t->scores ? t->scores[id] : 0.0f);
    *result = id;
    return 1;
}

static inline int hent_less(const tok_hent *a, const tok_hent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(tok_scratch *s, tok_hent e) {
    if (s->n_heap == s->cap_heap) {
        size_t nc = s->cap_heap ? s->cap_heap * 2 : 256;
        tok_hent *p = realloc(s->heap, nc * sizeof *p);
        if (!p) return 0;
        s->heap = p;
        s->cap_heap = nc;
    }
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!hent_less(&e, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = e;
    return 1;
}

static tok_hent heap_pop(tok_scratch *s) {
    tok_hent top = s->heap[0];
    tok_hent last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && hent_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!hent_less(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static int try_pair(const mixlm_tokenizer *t, tok_scratch *s, const char *w, int32_t li) {
    tok_sym *l = &s->syms[li];
    if (l->next < 0) return 1;
    tok_sym *r = &s->syms[l->next];
    uint32_t rank;
    int32_t result;
    if (!pair_lookup(t, s, w, l, r, &rank, &result)) return 1;
    tok_hent e = {rank, (uint32_t)li, l->id, r->id, result};
    return heap_push(s, e);
}

/* Emit a symbol that is not in the vocabulary: its bytes as <0xXX> pieces when the model falls
 * back to bytes and all of them exist, else the unknown token (none when the model has none). */
static int emit_unknown(const mixlm_tokenizer *t, const char *p, size_t n, int32_t **ids, size_t *nid, size_t *cap) {
    if (t->byte_fallback) {
        int all = 1;
        for (size_t i = 0; i < n; i++)
            if (t->byte_ids[(unsigned char)p[i]] < 0) all = 0;
        if (all) {
            for (size_t i = 0; i < n; i++)
                if (!push_id(ids, nid, cap, t->byte_ids[(unsigned char)p[i]])) return 0;
            return 1;
        }
    }
    if (t->unk_id >= 0) return push_id(ids, nid, cap, t->unk_id);
    return 1;
}

static mixlm_status bpe_word(const mixlm_tokenizer *t, tok_scratch *s, const char *w, size_t n,
                             int32_t **ids, size_t *nid, size_t *cap) {
    if (n == 0) return MIXLM_OK;
    if (t->ignore_merges && !t->eow_suffix) {
        int32_t id = tok_lookup(t, w, n);
        if (id >= 0) return push_id(ids, nid, cap, id) ? MIXLM_OK : mx_err(MIXLM_ERR_NOMEM, "out of memory");
    }
    const char *word = w;
    mx_buf withsuffix = {0};
    if (t->eow_suffix) {
        /* The suffix is glued to the last character (the reference does this before merging). */
        mx_buf_append(&withsuffix, w, n);
        mx_buf_append(&withsuffix, t->eow_suffix, t->eow_suffix_len);
        if (withsuffix.failed) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        word = withsuffix.data;
        if (t->ignore_merges) {
            int32_t id = tok_lookup(t, w, n);
            if (id >= 0) {
                mx_buf_free(&withsuffix);
                return push_id(ids, nid, cap, id) ? MIXLM_OK : mx_err(MIXLM_ERR_NOMEM, "out of memory");
            }
        }
    }
    if (n > UINT32_MAX / 2) { mx_buf_free(&withsuffix); return mx_err(MIXLM_ERR_NOMEM, "word too long"); }
    if (s->cap_syms < n) {
        tok_sym *p = realloc(s->syms, n * sizeof *p);
        if (!p) { mx_buf_free(&withsuffix); return mx_err(MIXLM_ERR_NOMEM, "out of memory"); }
        s->syms = p;
        s->cap_syms = n;
    }
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t st = i;
        size_t cl = tok_utf8_len((unsigned char)w[i]);
        if (cl > n - i) cl = n - i;
        i += cl;
        size_t len = i - st;
        if (i == n && t->eow_suffix) len += t->eow_suffix_len;
        tok_sym *y = &s->syms[ns];
        y->start = (uint32_t)st;
        y->len = (uint32_t)len;
        y->id = tok_lookup(t, word + st, len);
        y->prev = ns - 1;
        y->next = -1;
        y->alive = 1;
        if (ns) s->syms[ns - 1].next = ns;
        ns++;
    }
    s->n_heap = 0;
    if (ns > 1) {
        for (int32_t i = 0; i + 1 < ns; i++)
            if (!try_pair(t, s, word, i)) goto nomem;
        while (s->n_heap) {
            tok_hent e = heap_pop(s);
            tok_sym *l = &s->syms[e.pos];
            if (!l->alive || l->id != e.left_id || l->next < 0) continue;
            tok_sym *r = &s->syms[l->next];
            if (r->id != e.right_id) continue;
            l->id = e.result;
            l->len += r->len;
            r->alive = 0;
            l->next = r->next;
            if (r->next >= 0) s->syms[r->next].prev = (int32_t)e.pos;
            if (l->prev >= 0 && !try_pair(t, s, word, l->prev)) goto nomem;
            if (!try_pair(t, s, word, (int32_t)e.pos)) goto nomem;
        }
    }
    for (int32_t i = 0; i >= 0; i = s->syms[i].next) {
        tok_sym *y = &s->syms[i];
        if (y->id >= 0) {
            if (!push_id(ids, nid, cap, y->id)) goto nomem;
        } else if (!emit_unknown(t, word + y->start, y->len, ids, nid, cap)) {
            goto nomem;
        }
    }
    mx_buf_free(&withsuffix);
    return MIXLM_OK;
nomem:
    mx_buf_free(&withsuffix);
    return mx_err(MIXLM_ERR_NOMEM, "out of memory");
}

/* ---- Unigram -------------------------------------------------------------------------------- */

/* Viterbi over every vocabulary piece that matches at each character, one unknown node of one
 * character where no single-character piece exists (score: lowest score - 10, as the reference
 * does). Ties keep the first path found, scanning starts left to right and, at each start,
 * pieces from short to long, which is the order the reference's lattice uses. */
static mixlm_status unigram_word(const mixlm_tokenizer *t, tok_scratch *s, const char *w, size_t n,
                                 int32_t **ids, size_t *nid, size_t *cap) {
    if (n == 0) return MIXLM_OK;
    if (s->cap_lat < n + 1) {
        size_t c = n + 1;
        double *a = realloc(s->lat_score, c * sizeof *a);
        if (a) s->lat_score = a;
        int32_t *b = realloc(s->lat_id, c * sizeof *b);
        if (b) s->lat_id = b;
        size_t *d = realloc(s->lat_from, c * sizeof *d);
        if (d) s->lat_from = d;
        if (!a || !b || !d) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        s->cap_lat = c;
    }
    double *best = s->lat_score;
    for (size_t i = 0; i <= n; i++) { best[i] = -INFINITY; s->lat_id[i] = -1; s->lat_from[i] = 0; }
    best[0] = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_len((unsigned char)w[i]);
        if (cl > n - i) cl = n - i;
        if (best[i] == -INFINITY) { i += cl; continue; }
        int single = 0;
        size_t maxl = (size_t)t->max_piece_len;
        for (size_t e = i + cl; e <= n && e - i <= maxl;) {
            int32_t id = tok_lookup(t, w + i, e - i);
            if (id >= 0) {
                double sc = best[i] + (id == t->unk_id ? t->unk_score : (double)t->scores[id]);
                if (sc > best[e]) { best[e] = sc; s->lat_id[e] = id; s->lat_from[e] = i; }
                if (e == i + cl) single = 1;
            }
            if (e == n) break;
            size_t l2 = tok_utf8_len((unsigned char)w[e]);
            e += l2 > n - e ? n - e : l2;
        }
        if (!single) {
            double sc = best[i] + t->unk_score;
            if (sc > best[i + cl]) { best[i + cl] = sc; s->lat_id[i + cl] = t->unk_id; s->lat_from[i + cl] = i; }
        }
        i += cl;
    }
    /* Walk back, then emit in order; consecutive unknowns fuse into one (fuse_unk is always on
     * for Unigram). */
    size_t count = 0;
    for (size_t e = n; e > 0; e = s->lat_from[e]) count++;
    size_t base = *nid;
    for (size_t k = 0; k < count; k++)
        if (!push_id(ids, nid, cap, 0)) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    size_t k = count;
    for (size_t e = n; e > 0; e = s->lat_from[e]) (*ids)[base + --k] = s->lat_id[e];
    size_t o = base;
    for (size_t i = base; i < base + count; i++) {
        int32_t id = (*ids)[i];
        if (id < 0) continue; /* no unknown token: drop */
        if (id == t->unk_id && o > base && (*ids)[o - 1] == t->unk_id) continue;
        (*ids)[o++] = id;
    }
    *nid = o;
    return MIXLM_OK;
}

/* ---- WordPiece ------------------------------------------------------------------------------ */

static mixlm_status wordpiece_word(const mixlm_tokenizer *t, tok_scratch *s, const char *w, size_t n,
                                   int32_t **ids, size_t *nid, size_t *cap) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i += tok_utf8_len((unsigned char)w[i])) chars++;
    if (chars > (size_t)t->wp_max_chars) {
        if (t->unk_id >= 0 && !push_id(ids, nid, cap, t->unk_id)) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        return MIXLM_OK;
    }
    size_t base = *nid;
    for (size_t st = 0; st < n;) {
        size_t end = n;
        int32_t found = -1;
        while (end > st) {
            int32_t id;
            if (st > 0) {
                s->tmp.len = 0;
                mx_buf_append(&s->tmp, t->wp_prefix, t->wp_prefix_len);
                mx_buf_append(&s->tmp, w + st, end - st);
                if (s->tmp.failed) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
                id = tok_lookup(t, s->tmp.data, s->tmp.len);
            } else {
                id = tok_lookup(t, w + st, end - st);
            }
            if (id >= 0) { found = id; break; }
            /* step back one character */
            do end--; while (end > st && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (found < 0) {
            *nid = base;
            if (t->unk_id >= 0 && !push_id(ids, nid, cap, t->unk_id)) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
            return MIXLM_OK;
        }
        if (!push_id(ids, nid, cap, found)) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        st = end;
    }
    return MIXLM_OK;
}

mixlm_status tok_model_word(const mixlm_tokenizer *t, tok_scratch *s, const char *w, size_t n,
                            int32_t **ids, size_t *n_ids, size_t *cap) {
    switch (t->model) {
    case TOK_BPE: return bpe_word(t, s, w, n, ids, n_ids, cap);
    case TOK_UNIGRAM: return unigram_word(t, s, w, n, ids, n_ids, cap);
    case TOK_WORDPIECE: return wordpiece_word(t, s, w, n, ids, n_ids, cap);
    default: return mx_err(MIXLM_ERR_INTERNAL, "tokenizer: no model");
    }
}
