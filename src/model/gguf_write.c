/* gguf_write.c: GGUF v3 writer: metadata serialised as it is added, tensors laid out at
 * aligned offsets, written to a file (streaming, row callbacks allowed) or to memory. */
#include "model/gguf_write.h"

#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct w_tensor {
    char *name;
    mx_type type;
    int n_dims;
    int64_t ne[MX_GGUF_MAX_DIMS];
    const void *data;
    mx_gguf_fill_fn fill;
    void *user;
    uint64_t nbytes;
    uint64_t offset;
} w_tensor;

struct mx_gguf_writer {
    mx_buf kv;                  /* serialised key/value pairs */
    uint64_t n_kv;
    char **keys;                /* for duplicate checks */
    w_tensor *tensors;
    uint64_t n_tensors;
    uint32_t alignment;
    mixlm_status error;         /* first error, returned by every later call */
};

mx_gguf_writer *mx_gguf_writer_new(void) {
    mx_gguf_writer *w = mx_calloc(1, sizeof *w);
    if (w) w->alignment = MX_GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void mx_gguf_writer_free(mx_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    mx_buf_free(&w->kv);
    free(w);
}

static mixlm_status fail(mx_gguf_writer *w, mixlm_status st) {
    if (w && !w->error) w->error = st;
    return st;
}

mixlm_status mx_gguf_w_set_alignment(mx_gguf_writer *w, uint32_t a) {
    if (!w) return mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: NULL writer");
    if (a == 0 || (a & (a - 1)) || a > MX_GGUF_MAX_ALIGNMENT)
        return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: alignment %u is not a power of two", a));
    w->alignment = a;
    return MIXLM_OK;
}

/* ---- Metadata -------------------------------------------------------------------------------- */

static void put_le(mx_buf *b, uint64_t v, int n) {
    uint8_t tmp[8];
    for (int i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    mx_buf_append(b, tmp, (size_t)n);
}

static void put_str(mx_buf *b, const char *s, size_t len) {
    put_le(b, len, 8);
    mx_buf_append(b, s, len);
}

/* Start a kv: check the key, record it, write key and type. */
static mixlm_status begin_kv(mx_gguf_writer *w, const char *key, mx_gguf_vtype type) {
    if (!w) return mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: NULL writer");
    if (w->error) return w->error;
    if (!key || !*key || !mx_utf8_valid(key, strlen(key)) || strlen(key) > MX_GGUF_MAX_KEY)
        return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: invalid key"));
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: duplicate key '%s'", key));
    char **grown = mx_realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *grown);
    if (!grown) return fail(w, MIXLM_ERR_NOMEM);
    w->keys = grown;
    if (!(w->keys[w->n_kv] = mx_strdup(key))) return fail(w, MIXLM_ERR_NOMEM);
    w->n_kv++;
    put_str(&w->kv, key, strlen(key));
    put_le(&w->kv, (uint64_t)type, 4);
    return MIXLM_OK;
}

static mixlm_status end_kv(mx_gguf_writer *w) {
    if (w->kv.failed) return fail(w, mx_err(MIXLM_ERR_NOMEM, "gguf writer: out of memory"));
    return MIXLM_OK;
}

static mixlm_status scalar(mx_gguf_writer *w, const char *key, mx_gguf_vtype t, uint64_t bits,
                           int n) {
    mixlm_status st = begin_kv(w, key, t);
    if (st) return st;
    put_le(&w->kv, bits, n);
    return end_kv(w);
}

mixlm_status mx_gguf_w_u8(mx_gguf_writer *w, const char *k, uint8_t v) { return scalar(w, k, MX_GGUF_UINT8, v, 1); }
mixlm_status mx_gguf_w_i8(mx_gguf_writer *w, const char *k, int8_t v) { return scalar(w, k, MX_GGUF_INT8, (uint8_t)v, 1); }
mixlm_status mx_gguf_w_u16(mx_gguf_writer *w, const char *k, uint16_t v) { return scalar(w, k, MX_GGUF_UINT16, v, 2); }
mixlm_status mx_gguf_w_i16(mx_gguf_writer *w, const char *k, int16_t v) { return scalar(w, k, MX_GGUF_INT16, (uint16_t)v, 2); }
mixlm_status mx_gguf_w_u32(mx_gguf_writer *w, const char *k, uint32_t v) { return scalar(w, k, MX_GGUF_UINT32, v, 4); }
mixlm_status mx_gguf_w_i32(mx_gguf_writer *w, const char *k, int32_t v) { return scalar(w, k, MX_GGUF_INT32, (uint32_t)v, 4); }
mixlm_status mx_gguf_w_u64(mx_gguf_writer *w, const char *k, uint64_t v) { return scalar(w, k, MX_GGUF_UINT64, v, 8); }
mixlm_status mx_gguf_w_i64(mx_gguf_writer *w, const char *k, int64_t v) { return scalar(w, k, MX_GGUF_INT64, (uint64_t)v, 8); }
mixlm_status mx_gguf_w_bool(mx_gguf_writer *w, const char *k, bool v) { return scalar(w, k, MX_GGUF_BOOL, v ? 1 : 0, 1); }

mixlm_status mx_gguf_w_f32(mx_gguf_writer *w, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return scalar(w, k, MX_GGUF_FLOAT32, u, 4);
}

mixlm_status mx_gguf_w_f64(mx_gguf_writer *w, const char *k, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return scalar(w, k, MX_GGUF_FLOAT64, u, 8);
}

mixlm_status mx_gguf_w_strn(mx_gguf_writer *w, const char *key, const char *s, size_t len) {
    if (!s && len) return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: NULL string"));
    mixlm_status st = begin_kv(w, key, MX_GGUF_STRING);
    if (st) return st;
    put_str(&w->kv, s, len);
    return end_kv(w);
}

mixlm_status mx_gguf_w_str(mx_gguf_writer *w, const char *key, const char *s) {
    return mx_gguf_w_strn(w, key, s, s ? strlen(s) : 0);
}

static int elem_size(mx_gguf_vtype t) {
    switch (t) {
    case MX_GGUF_UINT8: case MX_GGUF_INT8: case MX_GGUF_BOOL: return 1;
    case MX_GGUF_UINT16: case MX_GGUF_INT16: return 2;
    case MX_GGUF_UINT32: case MX_GGUF_INT32: case MX_GGUF_FLOAT32: return 4;
    case MX_GGUF_UINT64: case MX_GGUF_INT64: case MX_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

mixlm_status mx_gguf_w_arr(mx_gguf_writer *w, const char *key, mx_gguf_vtype elem,
                           const void *data, uint64_t n) {
    int sz = elem_size(elem);
    if (!sz || (!data && n) || n > MX_GGUF_MAX_ARRAY)
        return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: %s: bad numeric array", key ? key : "?"));
    mixlm_status st = begin_kv(w, key, MX_GGUF_ARRAY);
    if (st) return st;
    put_le(&w->kv, (uint64_t)elem, 4);
    put_le(&w->kv, n, 8);
    const uint8_t *p = data;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = 0;
        /* host order in, little-endian out */
        if (sz == 1) v = p[i];
        else if (sz == 2) { uint16_t x; memcpy(&x, p + i * 2, 2); v = x; }
        else if (sz == 4) { uint32_t x; memcpy(&x, p + i * 4, 4); v = x; }
        else { memcpy(&v, p + i * 8, 8); }
        put_le(&w->kv, v, sz);
    }
    return end_kv(w);
}

mixlm_status mx_gguf_w_arr_str(mx_gguf_writer *w, const char *key, const char *const *strs,
                               const size_t *lens, uint64_t n) {
    if ((!strs && n) || n > MX_GGUF_MAX_ARRAY)
        return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: %s: bad string array", key ? key : "?"));
    mixlm_status st = begin_kv(w, key, MX_GGUF_ARRAY);
    if (st) return st;
    put_le(&w->kv, MX_GGUF_STRING, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n; i++) {
        const char *s = strs[i] ? strs[i] : "";
        put_str(&w->kv, s, lens ? lens[i] : strlen(s));
    }
    return end_kv(w);
}

mixlm_status mx_gguf_w_copy_kv(mx_gguf_writer *w, const mx_gguf *src, int64_t i) {
    uint64_t len = 0;
    const uint8_t *raw = mx_gguf_kv_raw(src, i, &len);
    if (!raw) return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: no key/value %lld", (long long)i));
    mixlm_status st = begin_kv(w, mx_gguf_key(src, i), mx_gguf_kv_type(src, i));
    if (st) return st;
    mx_buf_append(&w->kv, raw, (size_t)len);
    return end_kv(w);
}

mixlm_status mx_gguf_w_copy_all_kv(mx_gguf_writer *w, const mx_gguf *src) {
    for (int64_t i = 0; i < mx_gguf_n_kv(src); i++) {
        if (strcmp(mx_gguf_key(src, i), "general.alignment") == 0) continue;
        mixlm_status st = mx_gguf_w_copy_kv(w, src, i);
        if (st) return st;
    }
    return w ? w->error : MIXLM_ERR_INVALID_ARG;
}

/* ---- Tensors --------------------------------------------------------------------------------- */

static mixlm_status add_tensor(mx_gguf_writer *w, const char *name, mx_type type, int n_dims,
                               const int64_t *ne, const void *data, uint64_t nbytes, int check_bytes,
                               mx_gguf_fill_fn fill, void *user) {
    if (!w) return mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: NULL writer");
    if (w->error) return w->error;
    if (!name || !*name || strlen(name) > MX_GGUF_MAX_NAME || !mx_utf8_valid(name, strlen(name)))
        return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: invalid tensor name"));
    if (n_dims < 1 || n_dims > MX_GGUF_MAX_DIMS || !ne)
        return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: %s: n_dims %d not in 1..4", name, n_dims));
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: duplicate tensor '%s'", name));
    uint64_t need;
    if (!mx_type_tensor_bytes((uint32_t)type, ne, n_dims, &need))
        return fail(w, mx_err_prefix(MIXLM_ERR_INVALID_ARG, "gguf writer: %s: ", name));
    if (check_bytes && nbytes != need)
        return fail(w, mx_err(MIXLM_ERR_INVALID_ARG,
                              "gguf writer: %s: %llu bytes given, type and shape need %llu", name,
                              (unsigned long long)nbytes, (unsigned long long)need));
    w_tensor *grown = mx_realloc(w->tensors, (size_t)(w->n_tensors + 1) * sizeof *grown);
    if (!grown) return fail(w, MIXLM_ERR_NOMEM);
    w->tensors = grown;
    w_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = mx_strdup(name))) return fail(w, MIXLM_ERR_NOMEM);
    w->n_tensors++;
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < MX_GGUF_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    t->data = data;
    t->fill = fill;
    t->user = user;
    t->nbytes = need;
    return MIXLM_OK;
}

mixlm_status mx_gguf_w_tensor(mx_gguf_writer *w, const char *name, mx_type type, int n_dims,
                              const int64_t *ne, const void *data, uint64_t nbytes) {
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, 1, NULL, NULL);
}

mixlm_status mx_gguf_w_tensor_fn(mx_gguf_writer *w, const char *name, mx_type type, int n_dims,
                                 const int64_t *ne, mx_gguf_fill_fn fill, void *user) {
    if (!fill) return fail(w, mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: NULL fill function"));
    return add_tensor(w, name, type, n_dims, ne, NULL, 0, 0, fill, user);
}

/* ---- Output ---------------------------------------------------------------------------------- */

typedef struct sink {
    FILE *f;                    /* file output, or */
    uint8_t *mem;               /* memory output of known size */
    uint64_t pos;
    int failed;
} sink;

static void out(sink *s, const void *p, uint64_t n) {
    if (s->failed || n == 0) return;
    if (s->f) {
        if (fwrite(p, 1, (size_t)n, s->f) != n) s->failed = 1;
    } else {
        if (p) memcpy(s->mem + s->pos, p, (size_t)n);
        else memset(s->mem + s->pos, 0, (size_t)n);
    }
    s->pos += n;
}

static void out_zeros(sink *s, uint64_t n) {
    static const uint8_t zeros[4096];
    while (n > 0 && !s->failed) {
        uint64_t k = MX_MIN(n, (uint64_t)sizeof zeros);
        out(s, zeros, k);
        n -= k;
    }
}

/* Lay out the data section; returns the header size (before padding) or 0 on overflow. */
static int layout(mx_gguf_writer *w, mx_buf *head, uint64_t *data_start, uint64_t *total) {
    int add_align = w->alignment != MX_GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; add_align && i < w->n_kv; i++)
        if (strcmp(w->keys[i], "general.alignment") == 0) add_align = 0; /* caller wrote it */
    mx_buf_append(head, "GGUF", 4);
    put_le(head, 3, 4);
    put_le(head, w->n_tensors, 8);
    put_le(head, w->n_kv + (uint64_t)add_align, 8);
    mx_buf_append(head, w->kv.data, w->kv.len);
    if (add_align) {
        put_str(head, "general.alignment", 17);
        put_le(head, MX_GGUF_UINT32, 4);
        put_le(head, w->alignment, 4);
    }
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        w_tensor *t = &w->tensors[i];
        t->offset = off;
        put_str(head, t->name, strlen(t->name));
        put_le(head, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(head, (uint64_t)t->ne[d], 8);
        put_le(head, (uint64_t)t->type, 4);
        put_le(head, t->offset, 8);
        uint64_t end;
        if (!mx_add_ok(off, t->nbytes, &end) || !mx_add_ok(end, w->alignment, &off)) return 0;
        off = end + (w->alignment - end % w->alignment) % w->alignment;
    }
    if (head->failed) return 0;
    uint64_t h = head->len;
    *data_start = h + (w->alignment - h % w->alignment) % w->alignment;
    /* The last tensor is not padded after its data. */
    uint64_t data_len = 0;
    if (w->n_tensors) {
        const w_tensor *last = &w->tensors[w->n_tensors - 1];
        data_len = last->offset + last->nbytes;
    }
    return mx_add_ok(*data_start, data_len, total);
}

static mixlm_status emit(mx_gguf_writer *w, const mx_buf *head, uint64_t data_start, sink *s) {
    out(s, head->data, head->len);
    out_zeros(s, data_start - head->len);
    void *row = NULL;
    mixlm_status st = MIXLM_OK;
    for (uint64_t i = 0; i < w->n_tensors && !st && !s->failed; i++) {
        const w_tensor *t = &w->tensors[i];
        if (s->pos != data_start + t->offset) out_zeros(s, data_start + t->offset - s->pos);
        if (t->fill) {
            uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
            uint64_t rb = rows ? t->nbytes / rows : 0;
            free(row);
            row = rb ? mx_malloc((size_t)rb) : NULL;
            if (rb && !row) {
                st = MIXLM_ERR_NOMEM;
                break;
            }
            for (uint64_t r = 0; r < rows && !st && rb; r++) {
                if (t->fill(t->user, r, row, rb) != 0)
                    st = mx_err(MIXLM_ERR_CANCELLED, "gguf writer: %s: fill callback failed at row %llu",
                                t->name, (unsigned long long)r);
                else out(s, row, rb);
            }
        } else if (t->data) {
            out(s, t->data, t->nbytes);
        } else {
            out_zeros(s, t->nbytes);
        }
    }
    free(row);
    return st;
}

mixlm_status mx_gguf_w_write_memory(mx_gguf_writer *w, uint8_t **result, uint64_t *size) {
    if (!w || !result || !size) return mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: NULL argument");
    *result = NULL;
    *size = 0;
    if (w->error) return w->error;
    mx_buf head = {0};
    uint64_t data_start = 0, total = 0;
    if (!layout(w, &head, &data_start, &total) || total > SIZE_MAX) {
        mx_buf_free(&head);
        return mx_err(MIXLM_ERR_NOMEM, "gguf writer: image too large or out of memory");
    }
    sink s = {0};
    s.mem = mx_malloc((size_t)(total ? total : 1));
    if (!s.mem) {
        mx_buf_free(&head);
        return MIXLM_ERR_NOMEM;
    }
    mixlm_status st = emit(w, &head, data_start, &s);
    mx_buf_free(&head);
    if (st) {
        free(s.mem);
        return st;
    }
    *result = s.mem;
    *size = total;
    return MIXLM_OK;
}

mixlm_status mx_gguf_w_write_file(mx_gguf_writer *w, const char *path) {
    if (!w || !path) return mx_err(MIXLM_ERR_INVALID_ARG, "gguf writer: NULL argument");
    if (w->error) return w->error;
    mx_buf head = {0};
    uint64_t data_start = 0, total = 0;
    if (!layout(w, &head, &data_start, &total)) {
        mx_buf_free(&head);
        return mx_err(MIXLM_ERR_NOMEM, "gguf writer: image too large or out of memory");
    }
    sink s = {0};
    s.f = fopen(path, "wb");
    if (!s.f) {
        mx_buf_free(&head);
        return mx_err(MIXLM_ERR_IO, "%s: %s", path, strerror(errno));
    }
    mixlm_status st = emit(w, &head, data_start, &s);
    mx_buf_free(&head);
    if (fclose(s.f) != 0) s.failed = 1;
    if (!st && s.failed) st = mx_err(MIXLM_ERR_IO, "%s: write failed", path);
    if (st) remove(path);
    return st;
}
