/* gguf.h: a zero-copy reader for GGUF (v2, v3) files: typed metadata getters and tensor infos.
 *
 * The whole file is validated when it is opened (every length, count, type, offset and range is
 * checked against the file), so the getters below never fail on malformed bytes: they only say
 * whether a key is absent or has an unexpected type. Strings and arrays point into the mapping
 * (or into the caller's memory for mx_gguf_open_memory), which stays valid until mx_gguf_free.
 *
 * Getter return convention: 1 = found and converted, 0 = key absent,
 * -1 = key present but of the wrong type or out of range for the requested type.
 */
#ifndef MX_GGUF_H
#define MX_GGUF_H

#include "mixlm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MX_GGUF_UINT8 = 0,
    MX_GGUF_INT8 = 1,
    MX_GGUF_UINT16 = 2,
    MX_GGUF_INT16 = 3,
    MX_GGUF_UINT32 = 4,
    MX_GGUF_INT32 = 5,
    MX_GGUF_FLOAT32 = 6,
    MX_GGUF_BOOL = 7,
    MX_GGUF_STRING = 8,
    MX_GGUF_ARRAY = 9,
    MX_GGUF_UINT64 = 10,
    MX_GGUF_INT64 = 11,
    MX_GGUF_FLOAT64 = 12
} mx_gguf_vtype;

#define MX_GGUF_VTYPE_COUNT 13
#define MX_GGUF_MAX_DIMS 4
#define MX_GGUF_DEFAULT_ALIGNMENT 32

/* Caps on what a file may declare (a hostile file cannot make us allocate or loop more). */
#define MX_GGUF_MAX_TENSORS (1u << 20)
#define MX_GGUF_MAX_KV (1u << 16)
#define MX_GGUF_MAX_ARRAY (1u << 26)          /* elements in one array */
#define MX_GGUF_MAX_STRING (256u << 20)       /* bytes in one string value */
#define MX_GGUF_MAX_KEY 65535u                /* bytes in a key */
#define MX_GGUF_MAX_NAME 1024u                /* bytes in a tensor name */
#define MX_GGUF_MAX_NESTING 8                 /* arrays of arrays of ... */
#define MX_GGUF_MAX_ALIGNMENT (1u << 24)

typedef struct mx_gguf mx_gguf;

/* Map and validate a file. On failure the last error says what is wrong ("gguf: PATH: ..."). */
mixlm_status mx_gguf_open(const char *path, mx_gguf **out);
/* Validate a GGUF image already in memory; data is not copied and must outlive the result. */
mixlm_status mx_gguf_open_memory(const uint8_t *data, uint64_t size, mx_gguf **out);
void mx_gguf_free(mx_gguf *g);

uint32_t mx_gguf_version(const mx_gguf *g);
uint32_t mx_gguf_alignment(const mx_gguf *g);     /* general.alignment or 32 */
uint64_t mx_gguf_data_offset(const mx_gguf *g);   /* file offset of the tensor data section */
uint64_t mx_gguf_file_size(const mx_gguf *g);
const uint8_t *mx_gguf_base(const mx_gguf *g);    /* start of the file image */

/* ---- Metadata ------------------------------------------------------------------------------ */

int64_t mx_gguf_n_kv(const mx_gguf *g);
int64_t mx_gguf_find_key(const mx_gguf *g, const char *key);       /* index, -1 if absent */
const char *mx_gguf_key(const mx_gguf *g, int64_t i);              /* NUL-terminated, valid UTF-8 */
mx_gguf_vtype mx_gguf_kv_type(const mx_gguf *g, int64_t i);
const char *mx_gguf_vtype_name(mx_gguf_vtype t);                   /* "uint32", ..., "?" */

/* Scalars. */
int mx_gguf_get_u32(const mx_gguf *g, const char *key, uint32_t *out);  /* any int type in range */
int mx_gguf_get_i64(const mx_gguf *g, const char *key, int64_t *out);   /* any int type in range */
int mx_gguf_get_f32(const mx_gguf *g, const char *key, float *out);     /* float32/64 or int */
int mx_gguf_get_bool(const mx_gguf *g, const char *key, bool *out);
int mx_gguf_get_str(const mx_gguf *g, const char *key, const char **s, size_t *len); /* not NUL-terminated */

/* Arrays (top level). For an array of arrays *elem is MX_GGUF_ARRAY. */
int mx_gguf_get_arr(const mx_gguf *g, const char *key, mx_gguf_vtype *elem, uint64_t *n);
/* i-th string of a string array, O(1). -1 also when i >= n. */
int mx_gguf_arr_str(const mx_gguf *g, const char *key, uint64_t i, const char **s, size_t *len);
/* Numeric (or bool) arrays: the raw little-endian elements inside the image. They may be
 * unaligned: read them with memcpy. NULL when absent or not a numeric array. */
const void *mx_gguf_arr_data(const mx_gguf *g, const char *key, mx_gguf_vtype *elem, uint64_t *n);
/* Element i of an integer array converted to int64 (any integer or bool element type). */
int mx_gguf_arr_i64(const mx_gguf *g, const char *key, uint64_t i, int64_t *out);
/* Element i of a numeric array converted to float. */
int mx_gguf_arr_f32(const mx_gguf *g, const char *key, uint64_t i, float *out);

/* The raw little-endian value bytes of kv i as stored in the file (for arrays: starting at the
 * element type, i.e. including the array header), for copying values verbatim. */
const uint8_t *mx_gguf_kv_raw(const mx_gguf *g, int64_t i, uint64_t *len);

/* Append the value of kv i as JSON to a malloc'd string (arrays longer than max_elems are cut
 * with a trailing "..." string element). Returns NULL on allocation failure. For display. */
char *mx_gguf_kv_json(const mx_gguf *g, int64_t i, uint64_t max_elems);

/* ---- Tensor infos ---------------------------------------------------------------------------- */

int64_t mx_gguf_n_tensors(const mx_gguf *g);
int64_t mx_gguf_find_tensor(const mx_gguf *g, const char *name);   /* index, -1 if absent */
const char *mx_gguf_tensor_name(const mx_gguf *g, int64_t i);      /* NUL-terminated */
uint32_t mx_gguf_tensor_type(const mx_gguf *g, int64_t i);         /* an mx_type (common/dtype.h) */
int mx_gguf_tensor_n_dims(const mx_gguf *g, int64_t i);            /* 1..4 */
/* MX_GGUF_MAX_DIMS dims, ne[0] innermost; unused dims are 1. */
const int64_t *mx_gguf_tensor_ne(const mx_gguf *g, int64_t i);
uint64_t mx_gguf_tensor_offset(const mx_gguf *g, int64_t i);       /* relative to the data section */
uint64_t mx_gguf_tensor_nbytes(const mx_gguf *g, int64_t i);
const void *mx_gguf_tensor_data(const mx_gguf *g, int64_t i);      /* inside the image */

#endif /* MX_GGUF_H */
