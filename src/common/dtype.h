/* dtype.h: tensor element types (numbered as in the GGUF format, so that a GGUF type id is an
 * mx_type), their block layouts, and checked row/tensor size computation. */
#ifndef MX_DTYPE_H
#define MX_DTYPE_H

#include <stdint.h>

typedef enum mx_type {
    MX_TYPE_F32 = 0,
    MX_TYPE_F16 = 1,
    MX_TYPE_Q4_0 = 2,
    MX_TYPE_Q4_1 = 3,
    MX_TYPE_Q5_0 = 6,
    MX_TYPE_Q5_1 = 7,
    MX_TYPE_Q8_0 = 8,
    MX_TYPE_Q8_1 = 9,
    MX_TYPE_Q2_K = 10,
    MX_TYPE_Q3_K = 11,
    MX_TYPE_Q4_K = 12,
    MX_TYPE_Q5_K = 13,
    MX_TYPE_Q6_K = 14,
    MX_TYPE_Q8_K = 15,
    MX_TYPE_IQ2_XXS = 16,
    MX_TYPE_IQ2_XS = 17,
    MX_TYPE_IQ3_XXS = 18,
    MX_TYPE_IQ1_S = 19,
    MX_TYPE_IQ4_NL = 20,
    MX_TYPE_IQ3_S = 21,
    MX_TYPE_IQ2_S = 22,
    MX_TYPE_IQ4_XS = 23,
    MX_TYPE_I8 = 24,
    MX_TYPE_I16 = 25,
    MX_TYPE_I32 = 26,
    MX_TYPE_I64 = 27,
    MX_TYPE_F64 = 28,
    MX_TYPE_IQ1_M = 29,
    MX_TYPE_BF16 = 30,
    MX_TYPE_TQ1_0 = 34,
    MX_TYPE_TQ2_0 = 35,
    MX_TYPE_MXFP4 = 39,
    MX_TYPE_COUNT = 40
} mx_type;

typedef struct mx_type_info {
    const char *name;   /* "F32", "Q8_0", ...; NULL for an id that names no type */
    uint32_t block;     /* elements per block (1 for plain types) */
    uint32_t bytes;     /* bytes per block */
} mx_type_info;

/* Info for a type id; NULL when the id is not a known type. */
const mx_type_info *mx_type_get(uint32_t type);

/* Bytes of a row of n elements: 0 when n is not a multiple of the block size or the type is
 * unknown (callers treat 0 as an error for n > 0). */
uint64_t mx_type_row_bytes(uint32_t type, uint64_t n);

/* Bytes of a tensor with the given dims (ne[0] innermost). Returns 0 and sets the last error on
 * overflow, unknown type or a first dimension that is not a whole number of blocks. */
int mx_type_tensor_bytes(uint32_t type, const int64_t *ne, int n_dims, uint64_t *out);

#endif /* MX_DTYPE_H */
