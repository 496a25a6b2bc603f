/* detokenizer.c: streaming decode. Each push decodes a short window of recent ids to raw bytes
 * and returns what is new and complete. The window starts with ids already returned (context),
 * so decoder rules that act on the first token of a text (a stripped leading space) act only at
 * the real start; bytes of a character split over several tokens wait until it is complete. */
#include "text/tokenizer_internal.h"

#include <stdlib.h>

struct mixlm_detokenizer {
    const mixlm_tokenizer *tok;
    bool skip_special;
    int32_t *ids;           /* the window: ids[0..n) */
    size_t n, cap;
    size_t read;            /* ids[0..read) are context: their text was returned earlier */
    size_t emitted;         /* bytes of decode(ids[0..n)) already returned */
    mx_buf full, out;
};

mixlm_status mixlm_detokenizer_create(const mixlm_tokenizer *tok, bool skip_special, mixlm_detokenizer **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "detokenizer: NULL output");
    *out = NULL;
    if (!tok) return mx_err(MIXLM_ERR_INVALID_ARG, "detokenizer: NULL tokenizer");
    mixlm_detokenizer *d = mx_calloc(1, sizeof *d);
    if (!d) return MIXLM_ERR_NOMEM;
    d->tok = tok;
    d->skip_special = skip_special;
    *out = d;
    return MIXLM_OK;
}

void mixlm_detokenizer_reset(mixlm_detokenizer *d) {
    if (!d) return;
    d->n = d->read = d->emitted = 0;
    d->out.len = 0;
}

void mixlm_detokenizer_free(mixlm_detokenizer *d) {
    if (!d) return;
    free(d->ids);
    mx_buf_free(&d->full);
    mx_buf_free(&d->out);
    free(d);
}

/* Bytes at the end of s[0..n) that start a UTF-8 character not yet complete (0..3). */
static size_t incomplete_tail(const unsigned char *s, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation: look further back */
        size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 1;
        if (need <= back) return 0;
        /* the bytes so far must be a valid beginning, or the character can never complete */
        if (back >= 2) {
            unsigned char d = s[n - back + 1];
            unsigned char lo = 0x80, hi = 0xBF;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
            if (d < lo || d > hi) return 0;
        }
        return back;
    }
    return 0;
}

static mixlm_status emit(mixlm_detokenizer *d, bool final, const char **text, size_t *len) {
    d->full.len = 0;
    d->out.len = 0;
    mixlm_status st = tok_decode_impl(d->tok, d->ids, d->n, false, true, &d->full);
    if (st) return st;
    const char *f = d->full.data ? d->full.data : "";
    size_t fl = d->full.len;
    /* The window's decode may (rarely) be shorter than what was returned; then nothing new. */
    size_t start = d->emitted < fl ? d->emitted : fl;
    size_t end = fl;
    if (!final) end -= incomplete_tail((const unsigned char *)f + start, fl - start);
    if (end > start) tok_utf8_sanitize(&d->out, f + start, end - start);
    if (d->out.failed) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
    d->emitted = end;
    if (end == fl && d->n > 0) {
        /* Everything is out: the newest ids become the context of the next window. */
        size_t keep = d->n - d->read;
        if (keep > 8) keep = 8;
        if (keep == 0) keep = 1;
        memmove(d->ids, d->ids + (d->n - keep), keep * sizeof *d->ids);
        d->n = keep;
        d->read = keep;
        mx_buf ctx = {0};
        st = tok_decode_impl(d->tok, d->ids, d->n, false, true, &ctx);
        d->emitted = ctx.len;
        mx_buf_free(&ctx);
        if (st) return st;
    }
    *text = d->out.data ? d->out.data : "";
    *len = d->out.len;
    return MIXLM_OK;
}

mixlm_status mixlm_detokenizer_push(mixlm_detokenizer *d, int32_t id, const char **text, size_t *len) {
    if (!d || !text || !len) return mx_err(MIXLM_ERR_INVALID_ARG, "detokenizer: NULL argument");
    *text = "";
    *len = 0;
    if (id < 0 || id >= d->tok->n_vocab)
        return mx_err(MIXLM_ERR_INVALID_ARG, "token id %d out of range (vocabulary of %d)", (int)id, (int)d->tok->n_vocab);
    if (d->skip_special && (d->tok->attr[id] & ATTR_SPECIAL)) return MIXLM_OK;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 32;
        int32_t *p = realloc(d->ids, nc * sizeof *p);
        if (!p) return mx_err(MIXLM_ERR_NOMEM, "out of memory");
        d->ids = p;
        d->cap = nc;
    }
    d->ids[d->n++] = id;
    return emit(d, false, text, len);
}

mixlm_status mixlm_detokenizer_flush(mixlm_detokenizer *d, const char **text, size_t *len) {
    if (!d || !text || !len) return mx_err(MIXLM_ERR_INVALID_ARG, "detokenizer: NULL argument");
    mixlm_status st = emit(d, true, text, len);
    /* keep the returned text alive in out; forget the stream */
    d->n = d->read = d->emitted = 0;
    return st;
}
