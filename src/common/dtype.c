/* dtype.c: the table of tensor element types and checked size computation. Block sizes and
 * byte counts follow the GGUF format's type definitions. */
#include "dtype.h"

#include "util.h"

static const mx_type_info g_types[MX_TYPE_COUNT] = {
    [MX_TYPE_F32] = {"F32", 1, 4},
    [MX_TYPE_F16] = {"F16", 1, 2},
    [MX_TYPE_Q4_0] = {"Q4_0", 32, 18},
    [MX_TYPE_Q4_1] = {"Q4_1", 32, 20},
    [MX_TYPE_Q5_0] = {"Q5_0", 32, 22},
    [MX_TYPE_Q5_1] = {"Q5_1", 32, 24},
    [MX_TYPE_Q8_0] = {"Q8_0", 32, 34},
    [MX_TYPE_Q8_1] = {"Q8_1", 32, 36},
    [MX_TYPE_Q2_K] = {"Q2_K", 256, 84},
    [MX_TYPE_Q3_K] = {"Q3_K", 256, 110},
    [MX_TYPE_Q4_K] = {"Q4_K", 256, 144},
    [MX_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [MX_TYPE_Q6_K] = {"Q6_K", 256, 210},
    [MX_TYPE_Q8_K] = {"Q8_K", 256, 292},
    [MX_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66},
    [MX_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74},
    [MX_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98},
    [MX_TYPE_IQ1_S] = {"IQ1_S", 256, 50},
    [MX_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18},
    [MX_TYPE_IQ3_S] = {"IQ3_S", 256, 110},
    [MX_TYPE_IQ2_S] = {"IQ2_S", 256, 82},
    [MX_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136},
    [MX_TYPE_I8] = {"I8", 1, 1},
    [MX_TYPE_I16] = {"I16", 1, 2},
    [MX_TYPE_I32] = {"I32", 1, 4},
    [MX_TYPE_I64] = {"I64", 1, 8},
    [MX_TYPE_F64] = {"F64", 1, 8},
    [MX_TYPE_IQ1_M] = {"IQ1_M", 256, 56},
    [MX_TYPE_BF16] = {"BF16", 1, 2},
    [MX_TYPE_TQ1_0] = {"TQ1_0", 256, 54},
    [MX_TYPE_TQ2_0] = {"TQ2_0", 256, 66},
    [MX_TYPE_MXFP4] = {"MXFP4", 32, 17},
};

const mx_type_info *mx_type_get(uint32_t type) {
    if (type >= MX_TYPE_COUNT || !g_types[type].name) return NULL;
    return &g_types[type];
}

uint64_t mx_type_row_bytes(uint32_t type, uint64_t n) {
    const mx_type_info *t = mx_type_get(type);
    if (!t || n % t->block) return 0;
    uint64_t out;
    if (!mx_mul_ok(n / t->block, t->bytes, &out)) return 0;
    return out;
}

int mx_type_tensor_bytes(uint32_t type, const int64_t *ne, int n_dims, uint64_t *out) {
    const mx_type_info *t = mx_type_get(type);
    if (!t) {
        mx_err(MIXLM_ERR_UNSUPPORTED, "unknown tensor type id %u", type);
        return 0;
    }
    if (n_dims < 1) {
        *out = t->bytes; /* a scalar */
        return 1;
    }
    for (int i = 0; i < n_dims; i++) {
        if (ne[i] < 0) {
            mx_err(MIXLM_ERR_FORMAT, "negative dimension %lld", (long long)ne[i]);
            return 0;
        }
    }
    if ((uint64_t)ne[0] % t->block) {
        mx_err(MIXLM_ERR_FORMAT, "first dimension %lld is not a multiple of the %s block size %u",
               (long long)ne[0], t->name, t->block);
        return 0;
    }
    uint64_t bytes = mx_type_row_bytes(type, (uint64_t)ne[0]);
    for (int i = 1; i < n_dims; i++) {
        if (!mx_mul_ok(bytes, (uint64_t)ne[i], &bytes)) {
            mx_err(MIXLM_ERR_FORMAT, "tensor size overflows 64 bits");
            return 0;
        }
    }
    *out = bytes;
    return 1;
}
