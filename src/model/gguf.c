/* gguf.c: GGUF (v2, v3) reader: validates the whole header once (checked arithmetic, caps,
 * ranges, overlaps, alignment, UTF-8 keys) and then serves metadata and tensor infos in place.
 * Format facts: the GGUF specification (magic "GGUF", little-endian, u64 counts since v2,
 * key/value pairs, tensor infos, data section aligned to general.alignment, default 32). */
#include "model/gguf.h"

#include "common/dtype.h"
#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct gguf_kv {
    char *key;                  /* owned copy, NUL-terminated */
    mx_gguf_vtype type;
    uint64_t val;               /* offset of the value bytes (for arrays: first element) */
    uint64_t val_end;           /* offset just past the value */
    mx_gguf_vtype elem;         /* arrays: element type */
    uint64_t n;                 /* arrays: element count */
    uint64_t *str_off;          /* top-level string arrays: offset of each element's length */
} gguf_kv;

typedef struct gguf_tensor {
    char *name;
    uint32_t type;
    int n_dims;
    int64_t ne[MX_GGUF_MAX_DIMS];
    uint64_t offset;            /* relative to the data section */
    uint64_t nbytes;
} gguf_tensor;

/* Open-addressing hash from names to indices, so that duplicate checks and lookups are O(1). */
typedef struct name_index {
    int64_t *slots;             /* -1 = empty */
    uint64_t mask;
} name_index;

struct mx_gguf {
    mx_map map;                 /* owned mapping (open from a path) */
    const uint8_t *data;
    uint64_t size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    gguf_kv *kv;
    int64_t n_kv;
    gguf_tensor *tensors;
    int64_t n_tensors;
    name_index kv_index;
    name_index tensor_index;
};

/* ---- Little-endian reading with bounds checks --------------------------------------------- */

typedef struct reader {
    const uint8_t *data;
    uint64_t size;
    uint64_t pos;
    const char *name;           /* for messages */
} reader;

static mixlm_status truncated(const reader *r, const char *what) {
    return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: truncated file (reading %s at offset %llu of %llu)",
                  r->name, what, (unsigned long long)r->pos, (unsigned long long)r->size);
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int rd(reader *r, int n, uint64_t *out) {
    if (r->size - r->pos < (uint64_t)n) return 0;
    *out = le(r->data + r->pos, n);
    r->pos += (uint64_t)n;
    return 1;
}

static int skip(reader *r, uint64_t n) {
    if (r->size - r->pos < n) return 0;
    r->pos += n;
    return 1;
}

static int scalar_size(mx_gguf_vtype t) {
    switch (t) {
    case MX_GGUF_UINT8: case MX_GGUF_INT8: case MX_GGUF_BOOL: return 1;
    case MX_GGUF_UINT16: case MX_GGUF_INT16: return 2;
    case MX_GGUF_UINT32: case MX_GGUF_INT32: case MX_GGUF_FLOAT32: return 4;
    case MX_GGUF_UINT64: case MX_GGUF_INT64: case MX_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *mx_gguf_vtype_name(mx_gguf_vtype t) {
    static const char *names[MX_GGUF_VTYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64"};
    if ((unsigned)t >= MX_GGUF_VTYPE_COUNT) return "?";
    return names[t];
}

/* ---- Name index ---------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int index_init(name_index *ix, int64_t n) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    ix->slots = mx_malloc(cap * sizeof *ix->slots);
    if (!ix->slots) return 0;
    for (uint64_t i = 0; i < cap; i++) ix->slots[i] = -1;
    ix->mask = cap - 1;
    return 1;
}

/* Find name; with names = the array the index refers to (stride: element size, name at 0). */
#define INDEX_FIND(ix, arr, field, nm, result)                                     \
    do {                                                                           \
        (result) = -1;                                                             \
        if (!(ix).slots) break;                                                    \
        uint64_t h_ = hash_str(nm) & (ix).mask;                                    \
        while ((ix).slots[h_] >= 0) {                                              \
            if (strcmp((arr)[(ix).slots[h_]].field, (nm)) == 0) {                  \
                (result) = (ix).slots[h_];                                         \
                break;                                                             \
            }                                                                      \
            h_ = (h_ + 1) & (ix).mask;                                             \
        }                                                                          \
    } while (0)

static void index_put(name_index *ix, const char *name, int64_t i) {
    uint64_t h = hash_str(name) & ix->mask;
    while (ix->slots[h] >= 0) h = (h + 1) & ix->mask;
    ix->slots[h] = i;
}

/* ---- Parsing ------------------------------------------------------------------------------- */

/* Read a length-prefixed string; checks the length against cap and the file. */
static mixlm_status read_string(reader *r, uint64_t cap, const char *what, uint64_t *off,
                                uint64_t *len) {
    if (!rd(r, 8, len)) return truncated(r, what);
    if (*len > cap)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: %s length %llu exceeds the limit %llu", r->name,
                      what, (unsigned long long)*len, (unsigned long long)cap);
    *off = r->pos;
    if (!skip(r, *len)) return truncated(r, what);
    return MIXLM_OK;
}

/* Skip over one value of type t (validating it), depth counts array nesting. */
static mixlm_status skip_value(reader *r, mx_gguf_vtype t, int depth, const char *key) {
    int sz = scalar_size(t);
    if (sz) {
        uint64_t v;
        if (!rd(r, sz, &v)) return truncated(r, "a value");
        if (t == MX_GGUF_BOOL && v > 1)
            return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: key '%s': bool value %llu is not 0 or 1",
                          r->name, key, (unsigned long long)v);
        return MIXLM_OK;
    }
    if (t == MX_GGUF_STRING) {
        uint64_t off, len;
        return read_string(r, MX_GGUF_MAX_STRING, "a string value", &off, &len);
    }
    if (t != MX_GGUF_ARRAY)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: key '%s': unknown value type %u", r->name, key,
                      (unsigned)t);
    if (depth >= MX_GGUF_MAX_NESTING)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: key '%s': arrays nested deeper than %d", r->name,
                      key, MX_GGUF_MAX_NESTING);
    uint64_t et, n;
    if (!rd(r, 4, &et) || !rd(r, 8, &n)) return truncated(r, "an array header");
    if (et >= MX_GGUF_VTYPE_COUNT)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: key '%s': unknown array element type %llu",
                      r->name, key, (unsigned long long)et);
    if (n > MX_GGUF_MAX_ARRAY)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: key '%s': array length %llu exceeds the limit %u",
                      r->name, key, (unsigned long long)n, MX_GGUF_MAX_ARRAY);
    int esz = scalar_size((mx_gguf_vtype)et);
    if (esz) {
        uint64_t bytes;
        if (!mx_mul_ok(n, (uint64_t)esz, &bytes) || r->size - r->pos < bytes)
            return truncated(r, "array elements");
        if (et == MX_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (r->data[r->pos + i] > 1)
                    return mx_err(MIXLM_ERR_FORMAT,
                                  "gguf: %s: key '%s': bool array element is not 0 or 1", r->name,
                                  key);
        }
        r->pos += bytes;
        return MIXLM_OK;
    }
    /* Each string or array element takes at least 8 bytes: reject impossible counts early so
     * that a hostile count cannot make us loop long. */
    uint64_t min_bytes;
    if (!mx_mul_ok(n, 8, &min_bytes) || r->size - r->pos < min_bytes)
        return truncated(r, "array elements");
    for (uint64_t i = 0; i < n; i++) {
        mixlm_status st = skip_value(r, (mx_gguf_vtype)et, depth + 1, key);
        if (st) return st;
    }
    return MIXLM_OK;
}

static mixlm_status parse_kv(mx_gguf *g, reader *r, gguf_kv *kv) {
    uint64_t koff, klen;
    mixlm_status st = read_string(r, MX_GGUF_MAX_KEY, "a key", &koff, &klen);
    if (st) return st;
    const char *k = (const char *)r->data + koff;
    if (klen == 0) return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: empty key", r->name);
    if (memchr(k, 0, klen) || !mx_utf8_valid(k, klen))
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: key at offset %llu is not valid UTF-8", r->name,
                      (unsigned long long)koff);
    kv->key = mx_strndup(k, klen);
    if (!kv->key) return MIXLM_ERR_NOMEM;
    uint64_t t;
    if (!rd(r, 4, &t)) return truncated(r, "a value type");
    if (t >= MX_GGUF_VTYPE_COUNT)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: key '%s': unknown value type %llu", r->name,
                      kv->key, (unsigned long long)t);
    kv->type = (mx_gguf_vtype)t;
    if (kv->type == MX_GGUF_ARRAY) {
        /* Peek the array header so that the getters know element type, count and start. */
        uint64_t start = r->pos, et, n;
        if (!rd(r, 4, &et) || !rd(r, 8, &n)) return truncated(r, "an array header");
        r->pos = start;
        st = skip_value(r, MX_GGUF_ARRAY, 0, kv->key);
        if (st) return st;
        kv->elem = (mx_gguf_vtype)et;
        kv->n = n;
        kv->val = start + 12;
        kv->val_end = r->pos;
        if (kv->elem == MX_GGUF_STRING && n > 0) {
            /* Remember where each string starts: O(1) random access for vocabularies. */
            kv->str_off = mx_malloc(n * sizeof *kv->str_off);
            if (!kv->str_off) return MIXLM_ERR_NOMEM;
            uint64_t p = kv->val;
            for (uint64_t i = 0; i < n; i++) {
                kv->str_off[i] = p;
                p += 8 + le(g->data + p, 8); /* validated by skip_value */
            }
        }
    } else {
        kv->val = r->pos;
        st = skip_value(r, kv->type, 0, kv->key);
        if (st) return st;
        kv->val_end = r->pos;
    }
    return MIXLM_OK;
}

static mixlm_status parse_tensor(reader *r, gguf_tensor *t) {
    uint64_t noff, nlen;
    mixlm_status st = read_string(r, MX_GGUF_MAX_NAME, "a tensor name", &noff, &nlen);
    if (st) return st;
    const char *nm = (const char *)r->data + noff;
    if (nlen == 0) return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: empty tensor name", r->name);
    if (memchr(nm, 0, nlen) || !mx_utf8_valid(nm, nlen))
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: tensor name at offset %llu is not valid UTF-8",
                      r->name, (unsigned long long)noff);
    t->name = mx_strndup(nm, nlen);
    if (!t->name) return MIXLM_ERR_NOMEM;
    uint64_t nd;
    if (!rd(r, 4, &nd)) return truncated(r, "a tensor's n_dims");
    if (nd < 1 || nd > MX_GGUF_MAX_DIMS)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: tensor '%s': n_dims %llu is not in 1..%d",
                      r->name, t->name, (unsigned long long)nd, MX_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int i = 0; i < MX_GGUF_MAX_DIMS; i++) t->ne[i] = 1;
    for (int i = 0; i < t->n_dims; i++) {
        uint64_t v;
        if (!rd(r, 8, &v)) return truncated(r, "a tensor dimension");
        if (v > (uint64_t)INT64_MAX)
            return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: tensor '%s': dimension %d is too large",
                          r->name, t->name, i);
        t->ne[i] = (int64_t)v;
    }
    uint64_t type, off;
    if (!rd(r, 4, &type)) return truncated(r, "a tensor type");
    if (!rd(r, 8, &off)) return truncated(r, "a tensor offset");
    const mx_type_info *ti = mx_type_get((uint32_t)type);
    if (!ti || type > UINT32_MAX)
        return mx_err(MIXLM_ERR_UNSUPPORTED, "gguf: %s: tensor '%s': unsupported tensor type %llu",
                      r->name, t->name, (unsigned long long)type);
    t->type = (uint32_t)type;
    t->offset = off;
    if ((uint64_t)t->ne[0] % ti->block)
        return mx_err(MIXLM_ERR_FORMAT,
                      "gguf: %s: tensor '%s': first dimension %lld is not a multiple of the %s "
                      "block size %u",
                      r->name, t->name, (long long)t->ne[0], ti->name, ti->block);
    if (!mx_type_tensor_bytes(t->type, t->ne, t->n_dims, &t->nbytes))
        return mx_err_prefix(MIXLM_ERR_FORMAT, "gguf: %s: tensor '%s': ", r->name, t->name);
    return MIXLM_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static mixlm_status parse(mx_gguf *g, const char *name) {
    reader r = {g->data, g->size, 0, name};
    uint64_t magic, version, n_tensors, n_kv;
    if (g->size < 4) return truncated(&r, "the magic");
    if (memcmp(g->data, "GGUF", 4) != 0)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: bad magic (not a GGUF file)", name);
    rd(&r, 4, &magic);
    if (!rd(&r, 4, &version)) return truncated(&r, "the version");
    if (version != 2 && version != 3) {
        if (version == 1)
            return mx_err(MIXLM_ERR_UNSUPPORTED, "gguf: %s: GGUF version 1 is not supported (v2, v3 are)",
                          name);
        if ((version & 0xFFFF) == 0)
            return mx_err(MIXLM_ERR_UNSUPPORTED,
                          "gguf: %s: unknown GGUF version %llu (a big-endian file?)", name,
                          (unsigned long long)version);
        return mx_err(MIXLM_ERR_UNSUPPORTED, "gguf: %s: unknown GGUF version %llu", name,
                      (unsigned long long)version);
    }
    g->version = (uint32_t)version;
    if (!rd(&r, 8, &n_tensors)) return truncated(&r, "the tensor count");
    if (!rd(&r, 8, &n_kv)) return truncated(&r, "the key/value count");
    if (n_tensors > MX_GGUF_MAX_TENSORS)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: tensor count %llu exceeds the limit %u", name,
                      (unsigned long long)n_tensors, MX_GGUF_MAX_TENSORS);
    if (n_kv > MX_GGUF_MAX_KV)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: key/value count %llu exceeds the limit %u", name,
                      (unsigned long long)n_kv, MX_GGUF_MAX_KV);
    /* A kv takes >= 13 bytes and a tensor info >= 29: counts the file cannot hold are truncation,
     * found before allocating anything for them. */
    if (n_kv * 13 + n_tensors * 29 > g->size - r.pos)
        return mx_err(MIXLM_ERR_FORMAT,
                      "gguf: %s: truncated file (%llu keys and %llu tensors cannot fit in %llu bytes)",
                      name, (unsigned long long)n_kv, (unsigned long long)n_tensors,
                      (unsigned long long)g->size);

    g->kv = mx_calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = mx_calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return MIXLM_ERR_NOMEM;
    if (!index_init(&g->kv_index, (int64_t)n_kv) || !index_init(&g->tensor_index, (int64_t)n_tensors))
        return MIXLM_ERR_NOMEM;

    for (uint64_t i = 0; i < n_kv; i++) {
        mixlm_status st = parse_kv(g, &r, &g->kv[i]);
        g->n_kv = (int64_t)i + 1; /* so that free releases what was allocated */
        if (st) return st;
        int64_t dup;
        INDEX_FIND(g->kv_index, g->kv, key, g->kv[i].key, dup);
        if (dup >= 0)
            return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: duplicate key '%s'", name, g->kv[i].key);
        index_put(&g->kv_index, g->kv[i].key, (int64_t)i);
    }

    g->alignment = MX_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = mx_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        uint32_t a;
        if (g->kv[ai].type != MX_GGUF_UINT32)
            return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: general.alignment has type %s, not uint32",
                          name, mx_gguf_vtype_name(g->kv[ai].type));
        a = (uint32_t)le(g->data + g->kv[ai].val, 4);
        if (a == 0 || (a & (a - 1)) != 0 || a > MX_GGUF_MAX_ALIGNMENT)
            return mx_err(MIXLM_ERR_FORMAT,
                          "gguf: %s: general.alignment %u is not a power of two up to %u", name, a,
                          MX_GGUF_MAX_ALIGNMENT);
        g->alignment = a;
    }

    for (uint64_t i = 0; i < n_tensors; i++) {
        mixlm_status st = parse_tensor(&r, &g->tensors[i]);
        g->n_tensors = (int64_t)i + 1;
        if (st) return st;
        int64_t dup;
        INDEX_FIND(g->tensor_index, g->tensors, name, g->tensors[i].name, dup);
        if (dup >= 0)
            return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: duplicate tensor name '%s'", name,
                          g->tensors[i].name);
        index_put(&g->tensor_index, g->tensors[i].name, (int64_t)i);
    }

    /* The data section starts at the next multiple of the alignment. */
    uint64_t data_off = r.pos;
    uint64_t rem = data_off % g->alignment;
    if (rem) data_off += g->alignment - rem; /* cannot overflow: pos <= size < 2^63 in practice */
    g->data_offset = data_off;
    if (n_tensors == 0) return MIXLM_OK;
    if (data_off > g->size)
        return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: truncated file (no tensor data section)", name);
    uint64_t data_size = g->size - data_off;

    for (int64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        uint64_t end;
        if (t->offset % g->alignment)
            return mx_err(MIXLM_ERR_FORMAT,
                          "gguf: %s: tensor '%s': offset %llu is not a multiple of the alignment %u",
                          name, t->name, (unsigned long long)t->offset, g->alignment);
        if (!mx_add_ok(t->offset, t->nbytes, &end) || end > data_size)
            return mx_err(MIXLM_ERR_FORMAT,
                          "gguf: %s: tensor '%s': data range [%llu, +%llu) is outside the file "
                          "(data section holds %llu bytes; truncated file?)",
                          name, t->name, (unsigned long long)t->offset,
                          (unsigned long long)t->nbytes, (unsigned long long)data_size);
    }
    /* No two tensors may share bytes: sort by offset and compare neighbours. */
    const gguf_tensor **order = mx_malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return MIXLM_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = &g->tensors[i];
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_offset);
    mixlm_status st = MIXLM_OK;
    const gguf_tensor *prev = NULL;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = order[i];
        if (t->nbytes == 0) continue;
        if (prev && prev->offset + prev->nbytes > t->offset) {
            st = mx_err(MIXLM_ERR_FORMAT, "gguf: %s: tensors '%s' and '%s' overlap in the file",
                        name, prev->name, t->name);
            break;
        }
        prev = t;
    }
    free(order);
    return st;
}

static mixlm_status open_image(const uint8_t *data, uint64_t size, mx_map *map, const char *name,
                               mx_gguf **out) {
    *out = NULL;
    mx_gguf *g = mx_calloc(1, sizeof *g);
    if (!g) {
        if (map) mx_unmap(map);
        return MIXLM_ERR_NOMEM;
    }
    if (map) g->map = *map;
    g->data = data;
    g->size = size;
    mixlm_status st = parse(g, name);
    if (st) {
        mx_gguf_free(g);
        return st;
    }
    *out = g;
    return MIXLM_OK;
}

mixlm_status mx_gguf_open(const char *path, mx_gguf **out) {
    if (!path || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "gguf: NULL argument");
    *out = NULL;
    mx_map map;
    mixlm_status st = mx_map_file(path, &map);
    if (st) return mx_err_prefix(st, "gguf: ");
    return open_image(map.data, map.size, &map, path, out);
}

mixlm_status mx_gguf_open_memory(const uint8_t *data, uint64_t size, mx_gguf **out) {
    if (!out || (!data && size)) return mx_err(MIXLM_ERR_INVALID_ARG, "gguf: NULL argument");
    return open_image(data, size, NULL, "<memory>", out);
}

void mx_gguf_free(mx_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_off);
    }
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    mx_unmap(&g->map);
    free(g);
}

uint32_t mx_gguf_version(const mx_gguf *g) { return g->version; }
uint32_t mx_gguf_alignment(const mx_gguf *g) { return g->alignment; }
uint64_t mx_gguf_data_offset(const mx_gguf *g) { return g->data_offset; }
uint64_t mx_gguf_file_size(const mx_gguf *g) { return g->size; }
const uint8_t *mx_gguf_base(const mx_gguf *g) { return g->data; }

/* ---- Metadata getters ---------------------------------------------------------------------- */

int64_t mx_gguf_n_kv(const mx_gguf *g) { return g ? g->n_kv : 0; }

int64_t mx_gguf_find_key(const mx_gguf *g, const char *key) {
    if (!g || !key) return -1;
    int64_t i;
    INDEX_FIND(g->kv_index, g->kv, key, key, i);
    return i;
}

const char *mx_gguf_key(const mx_gguf *g, int64_t i) {
    return (g && i >= 0 && i < g->n_kv) ? g->kv[i].key : NULL;
}

mx_gguf_vtype mx_gguf_kv_type(const mx_gguf *g, int64_t i) {
    return (g && i >= 0 && i < g->n_kv) ? g->kv[i].type : (mx_gguf_vtype)-1;
}

static int is_int_type(mx_gguf_vtype t) {
    switch (t) {
    case MX_GGUF_UINT8: case MX_GGUF_INT8: case MX_GGUF_UINT16: case MX_GGUF_INT16:
    case MX_GGUF_UINT32: case MX_GGUF_INT32: case MX_GGUF_UINT64: case MX_GGUF_INT64:
        return 1;
    default:
        return 0;
    }
}

static int is_signed_type(mx_gguf_vtype t) {
    return t == MX_GGUF_INT8 || t == MX_GGUF_INT16 || t == MX_GGUF_INT32 || t == MX_GGUF_INT64;
}

/* Decode an integer element at p of type t: *neg set for negative values, *mag = |v|. */
static void decode_int(const uint8_t *p, mx_gguf_vtype t, int *neg, uint64_t *mag) {
    int sz = scalar_size(t);
    uint64_t v = le(p, sz);
    *neg = 0;
    if (is_signed_type(t)) {
        uint64_t sign = 1ull << (sz * 8 - 1);
        if (v & sign) {
            *neg = 1;
            /* two's complement magnitude within sz bytes */
            uint64_t full = sz == 8 ? 0 : (1ull << (sz * 8));
            *mag = sz == 8 ? (~v + 1) : (full - v);
            return;
        }
    }
    *mag = v;
}

static int elem_to_i64(const uint8_t *p, mx_gguf_vtype t, int64_t *out) {
    if (t == MX_GGUF_BOOL) {
        *out = p[0];
        return 1;
    }
    if (!is_int_type(t)) return -1;
    int neg;
    uint64_t mag;
    decode_int(p, t, &neg, &mag);
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) return -1;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)mag;
    }
    return 1;
}

static int elem_to_f64(const uint8_t *p, mx_gguf_vtype t, double *out) {
    if (t == MX_GGUF_FLOAT32) {
        uint32_t u = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return 1;
    }
    if (t == MX_GGUF_FLOAT64) {
        uint64_t u = le(p, 8);
        double d;
        memcpy(&d, &u, 8);
        *out = d;
        return 1;
    }
    if (is_int_type(t)) {
        int neg;
        uint64_t mag;
        decode_int(p, t, &neg, &mag);
        *out = neg ? -(double)mag : (double)mag;
        return 1;
    }
    return -1;
}

static const gguf_kv *get_kv(const mx_gguf *g, const char *key) {
    int64_t i = mx_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

int mx_gguf_get_u32(const mx_gguf *g, const char *key, uint32_t *out) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    if (!is_int_type(kv->type)) return -1;
    int neg;
    uint64_t mag;
    decode_int(g->data + kv->val, kv->type, &neg, &mag);
    if (neg || mag > UINT32_MAX) return -1;
    *out = (uint32_t)mag;
    return 1;
}

int mx_gguf_get_i64(const mx_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    if (!is_int_type(kv->type)) return -1;
    return elem_to_i64(g->data + kv->val, kv->type, out);
}

int mx_gguf_get_f32(const mx_gguf *g, const char *key, float *out) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    double d;
    if (elem_to_f64(g->data + kv->val, kv->type, &d) != 1) return -1;
    if (isfinite(d) && fabs(d) > 3.4028234663852886e38) return -1;
    *out = (float)d;
    return 1;
}

int mx_gguf_get_bool(const mx_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    if (kv->type != MX_GGUF_BOOL) return -1;
    *out = g->data[kv->val] != 0;
    return 1;
}

int mx_gguf_get_str(const mx_gguf *g, const char *key, const char **s, size_t *len) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    if (kv->type != MX_GGUF_STRING) return -1;
    *len = (size_t)le(g->data + kv->val, 8);
    *s = (const char *)g->data + kv->val + 8;
    return 1;
}

int mx_gguf_get_arr(const mx_gguf *g, const char *key, mx_gguf_vtype *elem, uint64_t *n) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    if (kv->type != MX_GGUF_ARRAY) return -1;
    if (elem) *elem = kv->elem;
    if (n) *n = kv->n;
    return 1;
}

int mx_gguf_arr_str(const mx_gguf *g, const char *key, uint64_t i, const char **s, size_t *len) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    if (kv->type != MX_GGUF_ARRAY || kv->elem != MX_GGUF_STRING || i >= kv->n) return -1;
    uint64_t p = kv->str_off[i];
    *len = (size_t)le(g->data + p, 8);
    *s = (const char *)g->data + p + 8;
    return 1;
}

const void *mx_gguf_arr_data(const mx_gguf *g, const char *key, mx_gguf_vtype *elem, uint64_t *n) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv || kv->type != MX_GGUF_ARRAY || !scalar_size(kv->elem)) return NULL;
    if (elem) *elem = kv->elem;
    if (n) *n = kv->n;
    return g->data + kv->val;
}

int mx_gguf_arr_i64(const mx_gguf *g, const char *key, uint64_t i, int64_t *out) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    if (kv->type != MX_GGUF_ARRAY || i >= kv->n) return -1;
    int sz = scalar_size(kv->elem);
    if (!sz) return -1;
    return elem_to_i64(g->data + kv->val + i * (uint64_t)sz, kv->elem, out);
}

int mx_gguf_arr_f32(const mx_gguf *g, const char *key, uint64_t i, float *out) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return 0;
    if (kv->type != MX_GGUF_ARRAY || i >= kv->n) return -1;
    int sz = scalar_size(kv->elem);
    if (!sz) return -1;
    double d;
    if (elem_to_f64(g->data + kv->val + i * (uint64_t)sz, kv->elem, &d) != 1) return -1;
    *out = (float)d;
    return 1;
}

/* Write one value at *pos (already validated) as JSON and advance *pos. */
static void value_json(const mx_gguf *g, mx_buf *b, mx_gguf_vtype t, uint64_t *pos,
                       uint64_t max_elems) {
    const uint8_t *p = g->data + *pos;
    int sz = scalar_size(t);
    if (t == MX_GGUF_BOOL) {
        mx_buf_puts(b, p[0] ? "true" : "false");
    } else if (t == MX_GGUF_FLOAT32 || t == MX_GGUF_FLOAT64) {
        double d;
        elem_to_f64(p, t, &d);
        if (isfinite(d)) mx_buf_printf(b, "%.9g", d);
        else mx_buf_puts(b, "null");
    } else if (sz) {
        int neg;
        uint64_t mag;
        decode_int(p, t, &neg, &mag);
        mx_buf_printf(b, "%s%llu", neg ? "-" : "", (unsigned long long)mag);
    }
    if (sz) {
        *pos += (uint64_t)sz;
        return;
    }
    if (t == MX_GGUF_STRING) {
        uint64_t len = le(p, 8);
        mx_buf_json_str(b, (const char *)p + 8, (size_t)len);
        *pos += 8 + len;
        return;
    }
    /* array */
    mx_gguf_vtype et = (mx_gguf_vtype)le(p, 4);
    uint64_t n = le(p + 4, 8);
    *pos += 12;
    mx_buf_putc(b, '[');
    int esz = scalar_size(et);
    for (uint64_t i = 0; i < n; i++) {
        if (i == max_elems) {
            mx_buf_puts(b, ",\"...\"");
            if (esz) {
                *pos += (n - i) * (uint64_t)esz;
            } else {
                reader r = {g->data, g->size, *pos, ""};
                for (; i < n; i++) skip_value(&r, et, 1, ""); /* validated at open */
                *pos = r.pos;
            }
            break;
        }
        if (i) mx_buf_putc(b, ',');
        value_json(g, b, et, pos, max_elems);
    }
    mx_buf_putc(b, ']');
}

const uint8_t *mx_gguf_kv_raw(const mx_gguf *g, int64_t i, uint64_t *len) {
    if (!g || i < 0 || i >= g->n_kv) return NULL;
    uint64_t start = g->kv[i].val - (g->kv[i].type == MX_GGUF_ARRAY ? 12 : 0);
    *len = g->kv[i].val_end - start;
    return g->data + start;
}

char *mx_gguf_kv_json(const mx_gguf *g, int64_t i, uint64_t max_elems) {
    if (!g || i < 0 || i >= g->n_kv) return NULL;
    mx_buf b = {0};
    uint64_t pos = g->kv[i].val;
    if (g->kv[i].type == MX_GGUF_ARRAY) pos -= 12;
    value_json(g, &b, g->kv[i].type, &pos, max_elems);
    return mx_buf_take(&b);
}

/* ---- Tensor infos -------------------------------------------------------------------------- */

int64_t mx_gguf_n_tensors(const mx_gguf *g) { return g ? g->n_tensors : 0; }

int64_t mx_gguf_find_tensor(const mx_gguf *g, const char *name) {
    if (!g || !name) return -1;
    int64_t i;
    INDEX_FIND(g->tensor_index, g->tensors, name, name, i);
    return i;
}

const char *mx_gguf_tensor_name(const mx_gguf *g, int64_t i) { return g->tensors[i].name; }
uint32_t mx_gguf_tensor_type(const mx_gguf *g, int64_t i) { return g->tensors[i].type; }
int mx_gguf_tensor_n_dims(const mx_gguf *g, int64_t i) { return g->tensors[i].n_dims; }
const int64_t *mx_gguf_tensor_ne(const mx_gguf *g, int64_t i) { return g->tensors[i].ne; }
uint64_t mx_gguf_tensor_offset(const mx_gguf *g, int64_t i) { return g->tensors[i].offset; }
uint64_t mx_gguf_tensor_nbytes(const mx_gguf *g, int64_t i) { return g->tensors[i].nbytes; }
const void *mx_gguf_tensor_data(const mx_gguf *g, int64_t i) {
    return g->data + g->data_offset + g->tensors[i].offset;
}
