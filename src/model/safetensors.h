/* safetensors.h: a zero-copy reader for one .safetensors file, validated when opened.
 *
 * On-disk format: an 8-byte little-endian header length N, N bytes of JSON (an object mapping
 * tensor names to {"dtype", "shape", "data_offsets": [begin, end]}, plus an optional
 * "__metadata__" object of strings, ignored here), then the tensor bytes; offsets are relative
 * to the first byte after the header. Shapes are outermost-first (PyTorch order).
 */
#ifndef MX_SAFETENSORS_H
#define MX_SAFETENSORS_H

#include "mixlm.h"

#include <stddef.h>
#include <stdint.h>

#define MX_ST_MAX_HEADER (100u << 20)  /* bytes of JSON header */
#define MX_ST_MAX_TENSORS (1u << 20)
#define MX_ST_MAX_DIMS 8
#define MX_ST_MAX_NESTING 16           /* a valid header nests 3 deep */
#define MX_ST_MAX_NAME 1024

typedef struct mx_st_tensor {
    char *name;                 /* as in the file, NUL-terminated */
    const char *dtype;          /* "F32", "BF16", ... (static string) */
    int type;                   /* the mx_type (common/dtype.h) or -1 when mixlm has none */
    int elem_size;              /* bytes per element */
    int n_dims;                 /* 0..MX_ST_MAX_DIMS */
    int64_t shape[MX_ST_MAX_DIMS]; /* outermost first */
    uint64_t offset;            /* relative to the data section */
    uint64_t nbytes;
    const void *data;           /* inside the image */
} mx_st_tensor;

typedef struct mx_safetensors mx_safetensors;

/* Map and validate a file. */
mixlm_status mx_safetensors_open(const char *path, mx_safetensors **out);
/* Validate an image already in memory (not copied; must outlive the result). */
mixlm_status mx_safetensors_open_memory(const uint8_t *data, uint64_t size, mx_safetensors **out);
void mx_safetensors_free(mx_safetensors *st);

int64_t mx_safetensors_n_tensors(const mx_safetensors *st);
const mx_st_tensor *mx_safetensors_tensor(const mx_safetensors *st, int64_t i);
int64_t mx_safetensors_find(const mx_safetensors *st, const char *name); /* -1 if absent */

/* Maximum nesting depth of the JSON text s[0..n) (brackets outside strings), or -1 when it
 * exceeds limit. Used before handing untrusted JSON to a recursive parser. */
int mx_json_depth(const char *s, size_t n, int limit);

#endif /* MX_SAFETENSORS_H */
