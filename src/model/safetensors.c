/* safetensors.c: safetensors reader: header length and JSON checked (size cap, nesting cap,
 * dtypes, shapes, offsets in range, shape * dtype size == byte length, no overlaps, no
 * duplicate names) before any tensor is handed out. */
#include "model/safetensors.h"

#include "common/dtype.h"
#include "common/util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mx_safetensors {
    mx_map map;
    const uint8_t *data;
    uint64_t size;
    uint64_t data_offset;
    mx_st_tensor *tensors;
    int64_t n_tensors;
    int64_t *by_name;           /* indices sorted by name */
};

typedef struct st_dtype {
    const char *name;
    int type;                   /* mx_type or -1 */
    int size;
} st_dtype;

/* The dtypes of the safetensors format. mixlm computes with F32, F16 and BF16; the others are
 * validated (so that sizes are checked) and rejected by the model loader when used. */
static const st_dtype g_dtypes[] = {
    {"F32", MX_TYPE_F32, 4},   {"F16", MX_TYPE_F16, 2},     {"BF16", MX_TYPE_BF16, 2},
    {"F64", MX_TYPE_F64, 8},   {"I8", MX_TYPE_I8, 1},       {"I16", MX_TYPE_I16, 2},
    {"I32", MX_TYPE_I32, 4},   {"I64", MX_TYPE_I64, 8},     {"U8", -1, 1},
    {"U16", -1, 2},            {"U32", -1, 4},              {"U64", -1, 8},
    {"BOOL", -1, 1},           {"F8_E4M3", -1, 1},          {"F8_E5M2", -1, 1},
    {"F8_E8M0", -1, 1},
};

int mx_json_depth(const char *s, size_t n, int limit) {
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > limit) return -1;
            if (depth > max) max = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const mx_st_tensor *const *)a)->name, (*(const mx_st_tensor *const *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
    const mx_st_tensor *x = *(const mx_st_tensor *const *)a, *y = *(const mx_st_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static mixlm_status parse_entry(const cJSON *e, mx_st_tensor *t, uint64_t data_size,
                                const char *name) {
    if (!cJSON_IsObject(e))
        return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: tensor '%s': entry is not an object", name,
                      t->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return mx_err(MIXLM_ERR_FORMAT,
                      "safetensors: %s: tensor '%s': needs \"dtype\" (string), \"shape\" and "
                      "\"data_offsets\" (arrays)",
                      name, t->name);
    const st_dtype *d = NULL;
    for (size_t i = 0; i < MX_ARRAY_LEN(g_dtypes); i++)
        if (strcmp(dt->valuestring, g_dtypes[i].name) == 0) d = &g_dtypes[i];
    if (!d)
        return mx_err(MIXLM_ERR_UNSUPPORTED, "safetensors: %s: tensor '%s': unsupported dtype '%.32s'",
                      name, t->name, dt->valuestring);
    t->dtype = d->name;
    t->type = d->type;
    t->elem_size = d->size;
    int nd = cJSON_GetArraySize(shape);
    if (nd > MX_ST_MAX_DIMS)
        return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: tensor '%s': %d dimensions (limit %d)",
                      name, t->name, nd, MX_ST_MAX_DIMS);
    t->n_dims = nd;
    uint64_t count = 1;
    int k = 0;
    for (const cJSON *s = shape->child; s; s = s->next, k++) {
        uint64_t v;
        if (!json_uint(s, &v))
            return mx_err(MIXLM_ERR_FORMAT,
                          "safetensors: %s: tensor '%s': shape entries must be non-negative integers",
                          name, t->name);
        t->shape[k] = (int64_t)v;
        if (!mx_mul_ok(count, v, &count))
            return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: tensor '%s': shape product overflows",
                          name, t->name);
    }
    uint64_t begin, end, nbytes = 0;
    if (cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &begin) ||
        !json_uint(offs->child->next, &end) || end < begin)
        return mx_err(MIXLM_ERR_FORMAT,
                      "safetensors: %s: tensor '%s': data_offsets must be [begin, end] with "
                      "0 <= begin <= end",
                      name, t->name);
    if (end > data_size)
        return mx_err(MIXLM_ERR_FORMAT,
                      "safetensors: %s: tensor '%s': data_offsets [%llu, %llu] are outside the "
                      "file (data section holds %llu bytes; truncated file?)",
                      name, t->name, (unsigned long long)begin, (unsigned long long)end,
                      (unsigned long long)data_size);
    if (!mx_mul_ok(count, (uint64_t)d->size, &nbytes))
        return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: tensor '%s': byte size overflows", name,
                      t->name);
    if (nbytes != end - begin)
        return mx_err(MIXLM_ERR_FORMAT,
                      "safetensors: %s: tensor '%s': shape and dtype %s need %llu bytes but "
                      "data_offsets span %llu",
                      name, t->name, d->name, (unsigned long long)nbytes,
                      (unsigned long long)(end - begin));
    t->offset = begin;
    t->nbytes = nbytes;
    return MIXLM_OK;
}

static mixlm_status parse(mx_safetensors *st, const char *name) {
    if (st->size < 8)
        return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: truncated file (%llu bytes, no header)",
                      name, (unsigned long long)st->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | st->data[i];
    if (hlen > MX_ST_MAX_HEADER)
        return mx_err(MIXLM_ERR_FORMAT,
                      "safetensors: %s: header length %llu exceeds the limit of %u bytes", name,
                      (unsigned long long)hlen, MX_ST_MAX_HEADER);
    if (hlen > st->size - 8)
        return mx_err(MIXLM_ERR_FORMAT,
                      "safetensors: %s: truncated file (header of %llu bytes, file of %llu)", name,
                      (unsigned long long)hlen, (unsigned long long)st->size);
    const char *h = (const char *)st->data + 8;
    if (hlen < 2 || h[0] != '{')
        return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: header is not a JSON object (bad magic)",
                      name);
    if (mx_json_depth(h, (size_t)hlen, MX_ST_MAX_NESTING) < 0)
        return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: header JSON nested deeper than %d", name,
                      MX_ST_MAX_NESTING);
    st->data_offset = 8 + hlen;
    uint64_t data_size = st->size - st->data_offset;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: header is not valid JSON", name);
    }
    /* Writers pad the header with spaces; anything else after the object is garbage. */
    for (const char *p = end; p && p < h + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
            cJSON_Delete(root);
            return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: trailing bytes after the header JSON",
                          name);
        }
    }
    int64_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) n++;
    mixlm_status status = MIXLM_OK;
    if (n > (int64_t)MX_ST_MAX_TENSORS) {
        cJSON_Delete(root);
        return mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: %lld tensors exceed the limit %u", name,
                      (long long)n, MX_ST_MAX_TENSORS);
    }
    st->tensors = mx_calloc((size_t)(n ? n : 1), sizeof *st->tensors);
    st->by_name = mx_calloc((size_t)(n ? n : 1), sizeof *st->by_name);
    if (!st->tensors || !st->by_name) {
        cJSON_Delete(root);
        return MIXLM_ERR_NOMEM;
    }
    for (const cJSON *e = root->child; e && !status; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        mx_st_tensor *t = &st->tensors[st->n_tensors];
        size_t nlen = strlen(e->string);
        if (nlen == 0 || nlen > MX_ST_MAX_NAME || !mx_utf8_valid(e->string, nlen)) {
            status = mx_err(MIXLM_ERR_FORMAT,
                            "safetensors: %s: tensor name is empty, too long or not valid UTF-8",
                            name);
            break;
        }
        t->name = mx_strdup(e->string);
        if (!t->name) {
            status = MIXLM_ERR_NOMEM;
            break;
        }
        st->n_tensors++;
        status = parse_entry(e, t, data_size, name);
    }
    cJSON_Delete(root);
    if (status) return status;

    /* Sorted name index: lookups, and duplicate names (which cJSON keeps) become neighbours. */
    const mx_st_tensor **order = mx_malloc((size_t)(st->n_tensors ? st->n_tensors : 1) * sizeof *order);
    if (!order) return MIXLM_ERR_NOMEM;
    for (int64_t i = 0; i < st->n_tensors; i++) order[i] = &st->tensors[i];
    qsort(order, (size_t)st->n_tensors, sizeof *order, cmp_name);
    for (int64_t i = 0; i < st->n_tensors; i++) {
        st->by_name[i] = order[i] - st->tensors;
        if (i && strcmp(order[i - 1]->name, order[i]->name) == 0) {
            status = mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: duplicate tensor name '%s'", name,
                            order[i]->name);
            break;
        }
    }
    if (status) {
        free(order);
        return status;
    }
    qsort(order, (size_t)st->n_tensors, sizeof *order, cmp_offset);
    const mx_st_tensor *prev = NULL;
    for (int64_t i = 0; i < st->n_tensors && !status; i++) {
        if (order[i]->nbytes == 0) continue;
        if (prev && prev->offset + prev->nbytes > order[i]->offset)
            status = mx_err(MIXLM_ERR_FORMAT, "safetensors: %s: tensors '%s' and '%s' overlap",
                            name, prev->name, order[i]->name);
        prev = order[i];
    }
    free(order);
    if (status) return status;
    for (int64_t i = 0; i < st->n_tensors; i++)
        st->tensors[i].data = st->data + st->data_offset + st->tensors[i].offset;
    return MIXLM_OK;
}

static mixlm_status open_image(const uint8_t *data, uint64_t size, mx_map *map, const char *name,
                               mx_safetensors **out) {
    *out = NULL;
    mx_safetensors *st = mx_calloc(1, sizeof *st);
    if (!st) {
        if (map) mx_unmap(map);
        return MIXLM_ERR_NOMEM;
    }
    if (map) st->map = *map;
    st->data = data;
    st->size = size;
    mixlm_status s = parse(st, name);
    if (s) {
        mx_safetensors_free(st);
        return s;
    }
    *out = st;
    return MIXLM_OK;
}

mixlm_status mx_safetensors_open(const char *path, mx_safetensors **out) {
    if (!path || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "safetensors: NULL argument");
    *out = NULL;
    mx_map map;
    mixlm_status s = mx_map_file(path, &map);
    if (s) return mx_err_prefix(s, "safetensors: ");
    return open_image(map.data, map.size, &map, path, out);
}

mixlm_status mx_safetensors_open_memory(const uint8_t *data, uint64_t size, mx_safetensors **out) {
    if (!out || (!data && size)) return mx_err(MIXLM_ERR_INVALID_ARG, "safetensors: NULL argument");
    return open_image(data, size, NULL, "<memory>", out);
}

void mx_safetensors_free(mx_safetensors *st) {
    if (!st) return;
    for (int64_t i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->by_name);
    mx_unmap(&st->map);
    free(st);
}

int64_t mx_safetensors_n_tensors(const mx_safetensors *st) { return st ? st->n_tensors : 0; }

const mx_st_tensor *mx_safetensors_tensor(const mx_safetensors *st, int64_t i) {
    return (st && i >= 0 && i < st->n_tensors) ? &st->tensors[i] : NULL;
}

int64_t mx_safetensors_find(const mx_safetensors *st, const char *name) {
    if (!st || !name) return -1;
    int64_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[st->by_name[mid]].name, name);
        if (c == 0) return st->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}
