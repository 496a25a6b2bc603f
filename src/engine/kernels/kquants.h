/* kquants.h: block layouts of the 4- to 6-bit GGUF weight types (Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) and the
 * helpers their reference (kquants_ref.c) and AVX2 (kquants_avx2.c) kernels share, so that both
 * decode a block with the same float operations in the same order.
 *
 * Layouts (GGUF / ggml, little-endian; f16 = IEEE half):
 *  - Q4_0, 32 elements in 18 bytes: f16 d, qs[16]. Element j < 16 is the low nibble of qs[j],
 *    element j >= 16 the high nibble of qs[j - 16]; x = d * (q - 8).
 *  - Q5_0, 32 elements in 22 bytes: f16 d, qh[4] (a little-endian 32-bit word: bit j is the
 *    fifth bit of element j), qs[16] as Q4_0; x = d * (q - 16), q = nibble | bit << 4.
 *  - Q4_K, 256 elements in 144 bytes: f16 d, f16 dmin, scales[12] (eight 6-bit scales sc and
 *    eight 6-bit mins m, packed as mx_kq_scale_min() reads them), qs[128]. Sub-block j (32
 *    elements, 0..7) of chunk c = j / 2 (64 elements) reads qs[32c .. 32c+31]: low nibbles for
 *    even j, high nibbles for odd j. x = (d * sc_j) * q - (dmin * m_j).
 *  - Q5_K, 256 elements in 176 bytes: as Q4_K plus qh[32] between scales and qs; element l of
 *    sub-block j (l < 32) adds 16 when bit j of qh[l] is set.
 *  - Q6_K, 256 elements in 210 bytes: ql[128], qh[64], int8 scales[16], f16 d. Half h (128
 *    elements) reads ql[64h ..], qh[32h ..]; its element e = 32k + l (k < 4, l < 32) takes the
 *    low nibble (k = 0, 1) or high nibble (k = 2, 3) of ql[64h + l + 32 (k & 1)] and bits 2k, 2k+1
 *    of qh[32h + l] as bits 4, 5; x = (d * scales[e_global / 16]) * (q - 32).
 *  - Q8_K (activations only), kernels.h: f32 d, qs[256], bsums[16].
 * Sources for these facts: the GGUF format's type table and ggml's block definitions and
 * dequantisation formulas (ggml-common.h / ggml-quants.c); the code here is written anew. */
#ifndef MX_KQUANTS_H
#define MX_KQUANTS_H

#include "engine/kernels/kernels.h"

#include <assert.h>
#include <stdint.h>

#define MX_QK4_0 32

typedef struct mx_block_q4_0 {
    uint16_t d;
    uint8_t qs[MX_QK4_0 / 2];
} mx_block_q4_0;

#define MX_QK5_0 32

typedef struct mx_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[MX_QK5_0 / 2];
} mx_block_q5_0;

typedef struct mx_block_q4_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[MX_QK_K / 2];
} mx_block_q4_k;

typedef struct mx_block_q5_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[MX_QK_K / 8];
    uint8_t qs[MX_QK_K / 2];
} mx_block_q5_k;

typedef struct mx_block_q6_k {
    uint8_t ql[MX_QK_K / 2];
    uint8_t qh[MX_QK_K / 4];
    int8_t scales[MX_QK_K / 16];
    uint16_t d;
} mx_block_q6_k;

static_assert(sizeof(mx_block_q4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(mx_block_q5_0) == 22, "Q5_0 block is 22 bytes");
static_assert(sizeof(mx_block_q4_k) == 144, "Q4_K block is 144 bytes");
static_assert(sizeof(mx_block_q5_k) == 176, "Q5_K block is 176 bytes");
static_assert(sizeof(mx_block_q6_k) == 210, "Q6_K block is 210 bytes");
static_assert(sizeof(mx_block_q8_k) == 292, "Q8_K block is 292 bytes");

/* Scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K/Q5_K: bytes 0-3 hold the
 * low 6 bits of sc_0..3 (and bits 4-5 of sc_4..7 in their top bits), bytes 4-7 the same for the
 * mins, bytes 8-11 the low 4 bits of sc_4..7 (low nibble) and m_4..7 (high nibble). */
static inline void mx_kq_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* The inverse: pack eight 6-bit scales and mins. */
static inline void mx_kq_pack_scale_min(const uint8_t *sc, const uint8_t *m, uint8_t *s) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4));
    }
}

/* Per-superblock float step of the K-quant integer dot products, shared by the reference and
 * AVX2 kernels so both round identically: isum = sum_j sc_j * sum_(k in j) q_k y_k and
 * msum = sum_j m_j * sum_(k in j) y_k are exact integers; the result is
 * (yd * d) * isum - (yd * dmin) * msum, one operation per statement (no contraction). */
static inline float mx_kq_combine(float yd, float d, float dmin, int32_t isum, int32_t msum) {
    const float a = yd * d;
    const float b = yd * dmin;
    const float ta = a * (float)isum;
    const float tb = b * (float)msum;
    return ta - tb;
}

/* Register the Q4_0, Q5_0, Q4_K, Q5_K, Q6_K and Q8_K tables: the reference one (NULL for other types)
 * and the AVX2 entries written over `t` (kquants_avx2.c; absent without x86 kernels). */
const mx_type_kernels *mx_kquants_ref(mx_type type);
void mx_kquants_avx2_fill(mx_type_kernels *t);

#endif /* MX_KQUANTS_H */
