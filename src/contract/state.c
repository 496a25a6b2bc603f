/* state.c: the per-sequence state: KV buffers allocated from a contract's state
 * declarations, position, reset and rewind rules, and the state file (save/load). */
#include "contract/internal.h"

#include <stdio.h>
#include <stdlib.h>

mixlm_status mixlm_state_create(const mixlm_contract *c, mixlm_state **out) {
    if (!c || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "state: NULL argument");
    *out = NULL;
    mixlm_status st = mixlm_contract_validate(c);
    if (st) return st;
    mixlm_state *s = mx_calloc(1, sizeof *s);
    if (!s) return MIXLM_ERR_NOMEM;
    s->fingerprint = mixlm_contract_fingerprint(c);
    s->n_ctx = c->n_ctx;
    s->n_bufs = c->n_states;
    s->bufs = mx_calloc((size_t)(c->n_states ? c->n_states : 1), sizeof *s->bufs);
    s->ptrs = mx_calloc((size_t)(c->n_states ? c->n_states : 1), sizeof *s->ptrs);
    s->sizes = mx_calloc((size_t)(c->n_states ? c->n_states : 1), sizeof *s->sizes);
    if (!s->bufs || !s->ptrs || !s->sizes) {
        mixlm_state_free(s);
        return MIXLM_ERR_NOMEM;
    }
    for (int32_t i = 0; i < c->n_states; i++) {
        const mixlm_state_decl *d = &c->states[i];
        mx_state_buf *b = &s->bufs[i];
        memcpy(b->name, d->name, sizeof b->name);
        b->layout = d->layout;
        b->window = d->window;
        uint64_t bytes;
        st = mx_state_decl_bytes(c, d, &bytes);
        if (st || bytes > SIZE_MAX) {
            mixlm_state_free(s);
            return st ? st : mx_err(MIXLM_ERR_NOMEM, "state \"%s\" too large", d->name);
        }
        /* 64-byte alignment so that kernels may use aligned vector loads on every row. */
        b->data = mx_aligned_alloc(64, bytes ? (size_t)bytes : 64);
        if (!b->data) {
            mixlm_state_free(s);
            return mx_err(MIXLM_ERR_NOMEM, "state \"%s\": cannot allocate %llu bytes", d->name,
                          (unsigned long long)bytes);
        }
        memset(b->data, 0, bytes ? (size_t)bytes : 64);
        b->nbytes = bytes;
        int cap_dim = -1;
        mx_shape_count(&d->shape, d->layout == MIXLM_CACHE_FULL ? MIXLM_DIM_CTX : MIXLM_DIM_W, &cap_dim);
        int64_t dims[MIXLM_CONTRACT_MAX_DIMS];
        mx_shape_resolve(&d->shape, -1, -1, c->n_ctx, d->window, dims, NULL);
        b->outer = 1;
        b->inner = mixlm_dtype_size(d->dtype);
        for (int k = 0; k < d->shape.n_dims; k++) {
            if (k < cap_dim) b->outer *= (uint64_t)dims[k];
            else if (k > cap_dim) b->inner *= (uint64_t)dims[k];
        }
        b->cap = (uint64_t)dims[cap_dim];
        s->ptrs[i] = b->data;
        s->sizes[i] = bytes;
    }
    *out = s;
    return MIXLM_OK;
}

void mixlm_state_free(mixlm_state *s) {
    if (!s) return;
    if (s->bufs)
        for (int32_t i = 0; i < s->n_bufs; i++) free(s->bufs[i].data);
    free(s->bufs);
    free(s->ptrs);
    free(s->sizes);
    free(s);
}

int64_t mixlm_state_pos(const mixlm_state *s) { return s ? s->pos : 0; }
void mixlm_state_reset(mixlm_state *s) {
    if (s) s->pos = 0;
}

uint64_t mixlm_state_bytes(const mixlm_state *s) {
    uint64_t total = 0;
    if (!s) return 0;
    for (int32_t i = 0; i < s->n_bufs; i++) total += s->bufs[i].nbytes;
    return total;
}

void *mixlm_state_buffer(mixlm_state *s, int32_t i, uint64_t *nbytes) {
    if (!s || i < 0 || i >= s->n_bufs) return NULL;
    if (nbytes) *nbytes = s->bufs[i].nbytes;
    return s->bufs[i].data;
}

int32_t mixlm_state_n_buffers(const mixlm_state *s) { return s ? s->n_bufs : 0; }
uint64_t mixlm_state_fingerprint(const mixlm_state *s) { return s ? s->fingerprint : 0; }

/* ---- Rewind ----------------------------------------------------------------------------- */

/* The lowest position a step at pos will read from a windowed cache of this layout, and
 * whether every position from it up to pos-1 is still held by a cache of `window` slots that
 * has seen positions 0..cur-1 (it holds max(0, cur-window)..cur-1). */
static bool buf_can_rewind(const mx_state_buf *b, int64_t cur, int64_t pos) {
    if (b->layout == MIXLM_CACHE_FULL || pos == cur || pos == 0) return true;
    int64_t w = b->window;
    int64_t need_lo = b->layout == MIXLM_CACHE_RING ? pos - w + 1 : (pos / w) * w;
    if (need_lo < 0) need_lo = 0;
    if (need_lo >= pos) return true;
    return need_lo >= cur - w;
}

bool mixlm_state_can_rewind(const mixlm_state *s, int64_t pos) {
    if (!s || pos < 0 || pos > s->pos) return false;
    for (int32_t i = 0; i < s->n_bufs; i++)
        if (!buf_can_rewind(&s->bufs[i], s->pos, pos)) return false;
    return true;
}

mixlm_status mixlm_state_rewind(mixlm_state *s, int64_t pos) {
    if (!s) return mx_err(MIXLM_ERR_INVALID_ARG, "state: NULL");
    if (pos < 0 || pos > s->pos)
        return mx_err(MIXLM_ERR_STATE, "state: cannot rewind to position %lld: the state is at %lld",
                      (long long)pos, (long long)s->pos);
    for (int32_t i = 0; i < s->n_bufs; i++) {
        const mx_state_buf *b = &s->bufs[i];
        if (!buf_can_rewind(b, s->pos, pos)) {
            int64_t w = b->window;
            int64_t need_lo = b->layout == MIXLM_CACHE_RING ? pos - w + 1 : (pos / w) * w;
            return mx_err(MIXLM_ERR_STATE,
                          "state: cannot rewind to position %lld: %s cache \"%s\" of %lld slots "
                          "holds positions %lld..%lld, but position %lld needs %lld..%lld",
                          (long long)pos, mx_layout_name(b->layout), b->name, (long long)w,
                          (long long)(s->pos - w), (long long)(s->pos - 1), (long long)pos,
                          (long long)need_lo, (long long)(pos - 1));
        }
    }
    s->pos = pos;
    return MIXLM_OK;
}

/* ---- Save and load ---------------------------------------------------------------------- */

/* State file, little-endian:
 *   8 bytes  magic "MXSTATE\0"
 *   u32      version (1)
 *   u32      number of buffers B
 *   u64      contract fingerprint (mixlm_contract_fingerprint)
 *   i64      n_ctx
 *   i64      position
 *   u64 x B  buffer sizes in bytes (as allocated)
 *   then the B buffers in contract order: ring and chunk-local caches whole, full caches only
 *   their first min(position, capacity) slots, in each block of the dims outside the capacity
 *   dim (a [layers, heads, ctx, head_dim] cache: layers * heads runs of position * head_dim).
 * The file size must be exactly the header plus those bytes. */
/* Bytes of buffer b a file holds for a state at position pos: a full cache only up to pos
 * (in each of its outer blocks), a ring or chunk-local cache whole. */
static uint64_t saved_bytes(const mx_state_buf *b, int64_t pos) {
    if (b->layout != MIXLM_CACHE_FULL) return b->nbytes;
    uint64_t used = (uint64_t)pos < b->cap ? (uint64_t)pos : b->cap;
    return b->outer * used * b->inner;
}

/* Write (or read) the saved part of b, block by block. */
static int buf_io(FILE *f, const mx_state_buf *b, int64_t pos, int write) {
    if (b->layout != MIXLM_CACHE_FULL) {
        size_t n = (size_t)b->nbytes;
        return (write ? fwrite(b->data, 1, n, f) : fread(b->data, 1, n, f)) == n;
    }
    uint64_t used = (uint64_t)pos < b->cap ? (uint64_t)pos : b->cap;
    size_t n = (size_t)(used * b->inner);
    for (uint64_t o = 0; o < b->outer; o++) {
        uint8_t *p = (uint8_t *)b->data + o * b->cap * b->inner;
        if ((write ? fwrite(p, 1, n, f) : fread(p, 1, n, f)) != n) return 0;
    }
    return 1;
}

static const char STATE_MAGIC[8] = {'M', 'X', 'S', 'T', 'A', 'T', 'E', 0};
#define STATE_VERSION 1u

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

mixlm_status mixlm_state_save(const mixlm_state *s, const char *path) {
    if (!s || !path) return mx_err(MIXLM_ERR_INVALID_ARG, "state: NULL argument");
    FILE *f = fopen(path, "wb");
    if (!f) return mx_err(MIXLM_ERR_IO, "state: cannot write %s", path);
    uint8_t head[40];
    memcpy(head, STATE_MAGIC, 8);
    put_u32(head + 8, STATE_VERSION);
    put_u32(head + 12, (uint32_t)s->n_bufs);
    put_u64(head + 16, s->fingerprint);
    put_u64(head + 24, (uint64_t)s->n_ctx);
    put_u64(head + 32, (uint64_t)s->pos);
    int ok = fwrite(head, 1, sizeof head, f) == sizeof head;
    for (int32_t i = 0; ok && i < s->n_bufs; i++) {
        uint8_t sz[8];
        put_u64(sz, s->bufs[i].nbytes);
        ok = fwrite(sz, 1, 8, f) == 8;
    }
    for (int32_t i = 0; ok && i < s->n_bufs; i++) ok = buf_io(f, &s->bufs[i], s->pos, 1);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return mx_err(MIXLM_ERR_IO, "state: writing %s failed", path);
    return MIXLM_OK;
}

mixlm_status mixlm_state_load(mixlm_state *s, const char *path) {
    if (!s || !path) return mx_err(MIXLM_ERR_INVALID_ARG, "state: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return mx_err(MIXLM_ERR_IO, "state: cannot open %s", path);
    mixlm_status st = MIXLM_OK;
    uint8_t head[40];
    if (fread(head, 1, sizeof head, f) != sizeof head) {
        st = mx_err(MIXLM_ERR_FORMAT, "state: %s: truncated header", path);
        goto done;
    }
    if (memcmp(head, STATE_MAGIC, 8) != 0) {
        st = mx_err(MIXLM_ERR_FORMAT, "state: %s: not a mixlm state file (bad magic)", path);
        goto done;
    }
    uint32_t version = get_u32(head + 8), n_bufs = get_u32(head + 12);
    uint64_t fp = get_u64(head + 16);
    int64_t n_ctx = (int64_t)get_u64(head + 24), pos = (int64_t)get_u64(head + 32);
    if (version != STATE_VERSION) {
        st = mx_err(MIXLM_ERR_FORMAT, "state: %s: version %u, this mixlm reads version %u", path,
                    version, STATE_VERSION);
        goto done;
    }
    if (fp != s->fingerprint || n_bufs != (uint32_t)s->n_bufs || n_ctx != s->n_ctx) {
        st = mx_err(MIXLM_ERR_STATE,
                    "state: %s was saved for another contract (fingerprint %016llx, %u buffers, "
                    "context %lld; this state: %016llx, %d buffers, context %lld)",
                    path, (unsigned long long)fp, n_bufs, (long long)n_ctx,
                    (unsigned long long)s->fingerprint, (int)s->n_bufs, (long long)s->n_ctx);
        goto done;
    }
    if (pos < 0 || (s->n_ctx > 0 && pos > s->n_ctx)) {
        bool has_full = false;
        for (int32_t i = 0; i < s->n_bufs; i++) has_full |= s->bufs[i].layout == MIXLM_CACHE_FULL;
        if (pos < 0 || has_full) {
            st = mx_err(MIXLM_ERR_FORMAT, "state: %s: position %lld out of range", path, (long long)pos);
            goto done;
        }
    }
    uint64_t total = sizeof head;
    for (uint32_t i = 0; i < n_bufs; i++) {
        uint8_t sz[8];
        if (fread(sz, 1, 8, f) != 8) {
            st = mx_err(MIXLM_ERR_FORMAT, "state: %s: truncated header", path);
            goto done;
        }
        uint64_t n = get_u64(sz);
        if (n != s->bufs[i].nbytes) {
            st = mx_err(MIXLM_ERR_STATE, "state: %s: buffer %u (\"%s\") has %llu bytes, expected %llu",
                        path, i, s->bufs[i].name, (unsigned long long)n,
                        (unsigned long long)s->bufs[i].nbytes);
            goto done;
        }
        total += 8 + saved_bytes(&s->bufs[i], pos);
    }
    /* Check the exact file size before touching the buffers, so that a truncated file leaves
     * the state as it was. */
    if (fseek(f, 0, SEEK_END) != 0) {
        st = mx_err(MIXLM_ERR_IO, "state: %s: cannot seek", path);
        goto done;
    }
    long size = ftell(f);
    if (size < 0 || (uint64_t)size != total) {
        st = mx_err(MIXLM_ERR_FORMAT, "state: %s: file has %ld bytes, its header says %llu", path,
                    size, (unsigned long long)total);
        goto done;
    }
    if (fseek(f, (long)(sizeof head + 8u * n_bufs), SEEK_SET) != 0) {
        st = mx_err(MIXLM_ERR_IO, "state: %s: cannot seek", path);
        goto done;
    }
    for (uint32_t i = 0; i < n_bufs; i++) {
        if (!buf_io(f, &s->bufs[i], pos, 0)) {
            s->pos = 0; /* buffers partly overwritten: nothing in them can be trusted */
            st = mx_err(MIXLM_ERR_IO, "state: %s: read failed", path);
            goto done;
        }
    }
    s->pos = pos;
done:
    fclose(f);
    return st;
}
