/* kquants_avx2.c: AVX2 siblings of the Q4_0 / Q5_0 / K-quant kernels (kquants_ref.c): decoding with the
 * reference's float operations (bit-identical), the f32 dot in the F32 AVX2 kernel's order, the
 * integer dots (exact integer sums with maddubs/madd; the K-quants then share the reference's
 * float steps, so they match it bit for bit) and the Q8_K activation quantiser. */
#include "engine/kernels/kquants.h"

#include "common/util.h"
#include "engine/kernels/avx2_common.h"

#include <immintrin.h>

/* ---- helpers -------------------------------------------------------------------------------- */

/* 8 bytes widened to 8 int32 lanes (unsigned / signed). */
static inline __m256i u8x8(const uint8_t *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}
static inline __m256i i8x8(const int8_t *p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
}
/* d * q - o with a separate multiply and subtract, as the reference rounds. */
static inline __m256 scale_sub(__m256 d, __m256i q, __m256 o) {
    return _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(q)), o);
}

/* f32 dot and axpy through blocks decoded 256 elements at a time; the dot feeds four 8-lane
 * accumulators by runs of MX_DOT_RUN elements in turn, exactly as the F32 AVX2 dot does on the
 * decoded row (a 256-element piece starts a round of runs). */
static float dot_decoded(mx_to_f32_fn dec, uint32_t bs, uint32_t bb, const void *row,
                         const float *x, int64_t n) {
    _Alignas(32) float buf[MX_QK_K];
    const uint8_t *p = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < n; i += MX_QK_K) {
        const int64_t m = MX_MIN((int64_t)MX_QK_K, n - i);
        dec(p + (uint64_t)(i / bs) * bb, buf, m);
        for (int64_t k = 0; k < MX_DOT_RUN && k < m; k += 8) {
            a0 = _mm256_fmadd_ps(_mm256_load_ps(buf + k), _mm256_loadu_ps(x + i + k), a0);
            if (k + MX_DOT_RUN < m)
                a1 = _mm256_fmadd_ps(_mm256_load_ps(buf + k + MX_DOT_RUN), _mm256_loadu_ps(x + i + k + MX_DOT_RUN), a1);
            if (k + 2 * MX_DOT_RUN < m)
                a2 = _mm256_fmadd_ps(_mm256_load_ps(buf + k + 2 * MX_DOT_RUN), _mm256_loadu_ps(x + i + k + 2 * MX_DOT_RUN), a2);
            if (k + 3 * MX_DOT_RUN < m)
                a3 = _mm256_fmadd_ps(_mm256_load_ps(buf + k + 3 * MX_DOT_RUN), _mm256_loadu_ps(x + i + k + 3 * MX_DOT_RUN), a3);
        }
    }
    return hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}
static void axpy_decoded(mx_to_f32_fn dec, uint32_t bs, uint32_t bb, float a, const void *row,
                         float *y, int64_t n) {
    _Alignas(32) float buf[MX_QK_K];
    const uint8_t *p = row;
    const __m256 va = _mm256_set1_ps(a);
    for (int64_t i = 0; i < n; i += MX_QK_K) {
        const int64_t m = MX_MIN((int64_t)MX_QK_K, n - i);
        dec(p + (uint64_t)(i / bs) * bb, buf, m);
        for (int64_t k = 0; k < m; k += 8)
            _mm256_storeu_ps(y + i + k, _mm256_fmadd_ps(va, _mm256_load_ps(buf + k),
                                                        _mm256_loadu_ps(y + i + k)));
    }
}

/* ---- Q4_0 ----------------------------------------------------------------------------------- */

static void to_f32_q4_0_avx2(const void *row, float *out, int64_t n) {
    const mx_block_q4_0 *b = row;
    const __m256i eight = _mm256_set1_epi32(8), m4 = _mm256_set1_epi32(0x0F);
    for (int64_t ib = 0; ib < n / MX_QK4_0; ib++, out += MX_QK4_0) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[ib].d));
        for (int g = 0; g < 2; g++) {
            const __m256i v = u8x8(b[ib].qs + 8 * g);
            const __m256i lo = _mm256_sub_epi32(_mm256_and_si256(v, m4), eight);
            const __m256i hi = _mm256_sub_epi32(_mm256_srli_epi32(v, 4), eight);
            _mm256_storeu_ps(out + 8 * g, _mm256_mul_ps(d, _mm256_cvtepi32_ps(lo)));
            _mm256_storeu_ps(out + 16 + 8 * g, _mm256_mul_ps(d, _mm256_cvtepi32_ps(hi)));
        }
    }
}
static float dot_q4_0_avx2(const void *row, const float *x, int64_t n) {
    return dot_decoded(to_f32_q4_0_avx2, MX_QK4_0, sizeof(mx_block_q4_0), row, x, n);
}
static void axpy_q4_0_avx2(float a, const void *row, float *y, int64_t n) {
    axpy_decoded(to_f32_q4_0_avx2, MX_QK4_0, sizeof(mx_block_q4_0), a, row, y, n);
}
/* Decode reads each row once from memory: ask for the bytes KQ_PREFETCH ahead of each block
 * (as the Q8_0 and f32-activation dots do; see kernels_avx2.c). */
#define KQ_PREFETCH 1024
static inline void kq_prefetch(const void *p, size_t bytes) { prefetch_ahead(p, bytes, KQ_PREFETCH); }

/* The integer dot of Q4_0 and Q5_0: with their four-row kernel below. */

/* ---- Q5_0 --------------------------------------------------------------------------------- */

static void to_f32_q5_0_avx2(const void *row, float *out, int64_t n) {
    const mx_block_q5_0 *b = row;
    const __m256i sixteen = _mm256_set1_epi32(16), m4 = _mm256_set1_epi32(0x0F), one = _mm256_set1_epi32(1);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t ib = 0; ib < n / MX_QK5_0; ib++, out += MX_QK5_0) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[ib].d));
        uint32_t h;
        memcpy(&h, b[ib].qh, 4); /* little-endian host (x86) */
        const __m256i hv = _mm256_set1_epi32((int)h);
        for (int g = 0; g < 2; g++) {
            const __m256i v = u8x8(b[ib].qs + 8 * g);
            const __m256i b0 = _mm256_and_si256(_mm256_srlv_epi32(hv, _mm256_add_epi32(lane, _mm256_set1_epi32(8 * g))), one);
            const __m256i b1 = _mm256_and_si256(_mm256_srlv_epi32(hv, _mm256_add_epi32(lane, _mm256_set1_epi32(16 + 8 * g))), one);
            const __m256i lo = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(v, m4), _mm256_slli_epi32(b0, 4)), sixteen);
            const __m256i hi = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(v, 4), _mm256_slli_epi32(b1, 4)), sixteen);
            _mm256_storeu_ps(out + 8 * g, _mm256_mul_ps(d, _mm256_cvtepi32_ps(lo)));
            _mm256_storeu_ps(out + 16 + 8 * g, _mm256_mul_ps(d, _mm256_cvtepi32_ps(hi)));
        }
    }
}
static float dot_q5_0_avx2(const void *row, const float *x, int64_t n) {
    return dot_decoded(to_f32_q5_0_avx2, MX_QK5_0, sizeof(mx_block_q5_0), row, x, n);
}
static void axpy_q5_0_avx2(float a, const void *row, float *y, int64_t n) {
    axpy_decoded(to_f32_q5_0_avx2, MX_QK5_0, sizeof(mx_block_q5_0), a, row, y, n);
}
/* ---- Q4_K / Q5_K ---------------------------------------------------------------------------- */

static void to_f32_q4_k_avx2(const void *row, float *out, int64_t n) {
    const mx_block_q4_k *b = row;
    const __m256i m4 = _mm256_set1_epi32(0x0F);
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, out += MX_QK_K) {
        const float d = _cvtsh_ss(b[ib].d), dmin = _cvtsh_ss(b[ib].dmin);
        for (int c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1;
            mx_kq_scale_min(2 * c, b[ib].scales, &sc0, &m0);
            mx_kq_scale_min(2 * c + 1, b[ib].scales, &sc1, &m1);
            const __m256 d0 = _mm256_set1_ps(d * (float)sc0), o0 = _mm256_set1_ps(dmin * (float)m0);
            const __m256 d1 = _mm256_set1_ps(d * (float)sc1), o1 = _mm256_set1_ps(dmin * (float)m1);
            for (int g = 0; g < 4; g++) {
                const __m256i v = u8x8(b[ib].qs + 32 * c + 8 * g);
                _mm256_storeu_ps(out + 64 * c + 8 * g, scale_sub(d0, _mm256_and_si256(v, m4), o0));
                _mm256_storeu_ps(out + 64 * c + 32 + 8 * g, scale_sub(d1, _mm256_srli_epi32(v, 4), o1));
            }
        }
    }
}
static void to_f32_q5_k_avx2(const void *row, float *out, int64_t n) {
    const mx_block_q5_k *b = row;
    const __m256i m4 = _mm256_set1_epi32(0x0F), one = _mm256_set1_epi32(1);
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, out += MX_QK_K) {
        const float d = _cvtsh_ss(b[ib].d), dmin = _cvtsh_ss(b[ib].dmin);
        for (int c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1;
            mx_kq_scale_min(2 * c, b[ib].scales, &sc0, &m0);
            mx_kq_scale_min(2 * c + 1, b[ib].scales, &sc1, &m1);
            const __m256 d0 = _mm256_set1_ps(d * (float)sc0), o0 = _mm256_set1_ps(dmin * (float)m0);
            const __m256 d1 = _mm256_set1_ps(d * (float)sc1), o1 = _mm256_set1_ps(dmin * (float)m1);
            const __m128i sh0 = _mm_cvtsi32_si128(2 * c), sh1 = _mm_cvtsi32_si128(2 * c + 1);
            for (int g = 0; g < 4; g++) {
                const __m256i v = u8x8(b[ib].qs + 32 * c + 8 * g), h = u8x8(b[ib].qh + 8 * g);
                const __m256i h0 = _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(h, sh0), one), 4);
                const __m256i h1 = _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(h, sh1), one), 4);
                _mm256_storeu_ps(out + 64 * c + 8 * g,
                                 scale_sub(d0, _mm256_or_si256(_mm256_and_si256(v, m4), h0), o0));
                _mm256_storeu_ps(out + 64 * c + 32 + 8 * g,
                                 scale_sub(d1, _mm256_or_si256(_mm256_srli_epi32(v, 4), h1), o1));
            }
        }
    }
}
static float dot_q4_k_avx2(const void *row, const float *x, int64_t n) {
    return dot_decoded(to_f32_q4_k_avx2, MX_QK_K, sizeof(mx_block_q4_k), row, x, n);
}
static void axpy_q4_k_avx2(float a, const void *row, float *y, int64_t n) {
    axpy_decoded(to_f32_q4_k_avx2, MX_QK_K, sizeof(mx_block_q4_k), a, row, y, n);
}
static float dot_q5_k_avx2(const void *row, const float *x, int64_t n) {
    return dot_decoded(to_f32_q5_k_avx2, MX_QK_K, sizeof(mx_block_q5_k), row, x, n);
}
static void axpy_q5_k_avx2(float a, const void *row, float *y, int64_t n) {
    axpy_decoded(to_f32_q5_k_avx2, MX_QK_K, sizeof(mx_block_q5_k), a, row, y, n);
}

/* Levels 0..15 (Q5_K: 0..31) as unsigned bytes times int8 activations: maddubs pairs stay below
 * 2 * 31 * 128 (no saturation); madd with the sub-block scale gives exact int32 lanes. One body
 * serves both types (five: Q5_K, whose fifth bits are added once per block) and both the dot
 * and the tile product. */
typedef struct kq45_block {
    __m256i q[8];       /* the levels of sub-blocks 0..7, 32 bytes each */
    __m256i scv[8];     /* each sub-block's scale in every 16-bit lane */
    __m256i mv;         /* the mins, each twice: the lanes of a madd against bsums */
    float d, dmin;
} kq45_block;

static inline __attribute__((always_inline)) void kq45_unpack(const void *blk, const int five,
                                                              kq45_block *u) {
    const mx_block_q4_k *b4 = blk;
    const mx_block_q5_k *b5 = blk;
    const uint8_t *scales = five ? b5->scales : b4->scales, *qs = five ? b5->qs : b4->qs;
    /* mx_kq_scale_min() for all eight sub-blocks at once, a byte per value: scales 0..3 and
     * mins 0..3 are the low 6 bits of bytes 0..3 and 4..7; scales (mins) 4..7 take the low (high)
     * nibbles of bytes 8..11 and, as bits 4..5, the top two bits of bytes 0..3 (4..7). */
    uint32_t w[3];
    memcpy(w, scales, 12);
    const uint32_t sc03 = w[0] & 0x3F3F3F3Fu, mn03 = w[1] & 0x3F3F3F3Fu;
    const uint32_t sc47 = (w[2] & 0x0F0F0F0Fu) | ((w[0] >> 2) & 0x30303030u);
    const uint32_t mn47 = ((w[2] >> 4) & 0x0F0F0F0Fu) | ((w[1] >> 2) & 0x30303030u);
    /* scales and mins as 16-bit lanes: [sc0..sc7 | mn0..mn7] */
    const __m256i sm = _mm256_cvtepu8_epi16(_mm_setr_epi32((int)sc03, (int)sc47, (int)mn03, (int)mn47));
    const __m256i scl = _mm256_permute2x128_si256(sm, sm, 0x00); /* the scales in both halves */
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) /* word j of each half in every 16-bit lane */
        u->scv[j] = _mm256_shuffle_epi8(scl, _mm256_set1_epi16((int16_t)(0x0100 + 0x0202 * j)));
    const __m128i mn = _mm256_extracti128_si256(sm, 1);
    u->mv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(mn, mn)), _mm_unpackhi_epi16(mn, mn), 1);
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256i qh = five ? _mm256_loadu_si256((const __m256i *)b5->qh) : _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        u->q[2 * c] = _mm256_and_si256(v, m4);
        u->q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if (five) { /* bit 2c (2c+1) of qh[l], now in bit 0 (1), becomes bit 4 of the level */
            u->q[2 * c] = _mm256_or_si256(u->q[2 * c], _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
            u->q[2 * c + 1] = _mm256_or_si256(
                u->q[2 * c + 1], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4));
            qh = _mm256_srli_epi16(qh, 2);
        }
    }
    u->d = _cvtsh_ss(five ? b5->d : b4->d);
    u->dmin = _cvtsh_ss(five ? b5->dmin : b4->dmin);
}

/* One unpacked block against one token's Q8_K block: the term dot_q adds for it. */
static inline float kq45_term(const kq45_block *u, const mx_block_q8_k *yb) {
    __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        const __m256i yv = _mm256_loadu_si256((const __m256i *)(yb->qs + 32 * j));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u->q[j], yv), u->scv[j]));
    }
    const int32_t msum = hsum_i32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)yb->bsums), u->mv));
    return mx_kq_combine(yb->d, u->d, u->dmin, hsum_i32(acc), msum);
}

static inline __attribute__((always_inline)) float dotq_kq45(const void *row, const void *xq, int64_t n,
                                                             const int five) {
    const size_t bs = five ? sizeof(mx_block_q5_k) : sizeof(mx_block_q4_k);
    const mx_block_q8_k *y = xq;
    float s = 0.0f;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++) {
        const uint8_t *blk = (const uint8_t *)row + (size_t)ib * bs;
        kq_prefetch(blk, bs);
        kq45_block u;
        kq45_unpack(blk, five, &u);
        s += kq45_term(&u, &y[ib]);
    }
    return s;
}
static float dotq_q4_k_avx2(const void *row, const void *xq, int64_t n) { return dotq_kq45(row, xq, n, 0); }
static float dotq_q5_k_avx2(const void *row, const void *xq, int64_t n) { return dotq_kq45(row, xq, n, 1); }

/* ---- Q6_K ----------------------------------------------------------------------------------- */

static void to_f32_q6_k_avx2(const void *row, float *out, int64_t n) {
    const mx_block_q6_k *b = row;
    const __m256i m4 = _mm256_set1_epi32(0x0F), m2 = _mm256_set1_epi32(3), off = _mm256_set1_epi32(32);
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, out += MX_QK_K) {
        const float d = _cvtsh_ss(b[ib].d);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++) {
                const __m128i sh = _mm_cvtsi32_si128(2 * k);
                for (int g = 0; g < 4; g++) {
                    const int e = 128 * h + 32 * k + 8 * g;
                    const __m256i lo = u8x8(b[ib].ql + 64 * h + 32 * (k & 1) + 8 * g);
                    const __m256i nib = k < 2 ? _mm256_and_si256(lo, m4) : _mm256_srli_epi32(lo, 4);
                    const __m256i hb = _mm256_and_si256(_mm256_srl_epi32(u8x8(b[ib].qh + 32 * h + 8 * g), sh), m2);
                    const __m256i q = _mm256_sub_epi32(_mm256_or_si256(nib, _mm256_slli_epi32(hb, 4)), off);
                    const __m256 dj = _mm256_set1_ps(d * (float)b[ib].scales[e / 16]);
                    _mm256_storeu_ps(out + e, _mm256_mul_ps(dj, _mm256_cvtepi32_ps(q)));
                }
            }
    }
}
static float dot_q6_k_avx2(const void *row, const float *x, int64_t n) {
    return dot_decoded(to_f32_q6_k_avx2, MX_QK_K, sizeof(mx_block_q6_k), row, x, n);
}
static void axpy_q6_k_avx2(float a, const void *row, float *y, int64_t n) {
    axpy_decoded(to_f32_q6_k_avx2, MX_QK_K, sizeof(mx_block_q6_k), a, row, y, n);
}
/* A Q6_K block's 16 int8 scales as madd operands: scv[k] holds scale 2k in every 16-bit lane
 * of the low 128-bit half and scale 2k + 1 in the high half (a maddubs result of 32 elements is
 * two groups of 16); sc16 is all 16 widened, against the activations' bsums. */
static inline __attribute__((always_inline)) void q6_k_scales(const int8_t *sc, __m256i scv[8], __m256i *sc16) {
    const __m256i s = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)); /* 0..7 | 8..15 */
    *sc16 = s;
    const __m256i half[2] = {_mm256_permute4x64_epi64(s, 0x44), _mm256_permute4x64_epi64(s, 0xEE)};
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) { /* word 2k' of the half in the low lanes, 2k' + 1 in the high */
        const int k2 = k % 4;
        const __m256i ctrl = _mm256_set_m128i(_mm_set1_epi16((short)(0x0302 + 0x0404 * k2)),
                                              _mm_set1_epi16((short)(0x0100 + 0x0404 * k2)));
        scv[k] = _mm256_shuffle_epi8(half[k / 4], ctrl);
    }
}

/* Levels u = q + 32 in 0..63 as unsigned bytes (maddubs pairs <= 2 * 63 * 128, no saturation),
 * each 16-element group times its int8 scale by madd; then isum = A - 32 sum_j sc_j bsums_j. */
static float dotq_q6_k_avx2(const void *row, const void *xq, int64_t n) {
    const mx_block_q6_k *b = row;
    const mx_block_q8_k *y = xq;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    float s = 0.0f;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++) {
        kq_prefetch(&b[ib], sizeof b[ib]);
        __m256i scv[8], sc16;
        q6_k_scales(b[ib].scales, scv, &sc16);
        const int32_t bsum = hsum_i32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[ib].bsums), sc16));
        __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i qa = _mm256_loadu_si256((const __m256i *)(b[ib].ql + 64 * h));
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(b[ib].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b[ib].qh + 32 * h));
            __m256i u[4];
            u[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
            u[1] = _mm256_or_si256(_mm256_and_si256(qb, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
            u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
            u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m256i yv = _mm256_loadu_si256((const __m256i *)(y[ib].qs + 128 * h + 32 * k));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u[k], yv), scv[4 * h + k]));
            }
        }
        const int32_t isum = hsum_i32(acc) - 32 * bsum;
        s += mx_kq_combine(y[ib].d, _cvtsh_ss(b[ib].d), 0.0f, isum, 0);
    }
    return s;
}

/* ---- Q8_K ----------------------------------------------------------------------------------- */

static void to_f32_q8_k_avx2(const void *row, float *out, int64_t n) {
    const mx_block_q8_k *b = row;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, out += MX_QK_K) {
        const __m256 d = _mm256_set1_ps(b[ib].d);
        for (int i = 0; i < MX_QK_K; i += 8)
            _mm256_storeu_ps(out + i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(i8x8(b[ib].qs + i))));
    }
}
static float dot_q8_k_avx2(const void *row, const float *x, int64_t n) {
    return dot_decoded(to_f32_q8_k_avx2, MX_QK_K, sizeof(mx_block_q8_k), row, x, n);
}
/* The reference's operations: absmax (NaN ignored, as fmaxf does), id = 127 / absmax, x * id
 * clamped to +-127 (a NaN becomes -127 in both), rounded half to even. */
static void from_f32_q8_k_avx2(const float *x, void *row, int64_t n) {
    mx_block_q8_k *b = row;
    const __m256 sign = _mm256_set1_ps(-0.0f), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, x += MX_QK_K) {
        __m256 mx = _mm256_setzero_ps();
        for (int i = 0; i < MX_QK_K; i += 8)
            mx = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), mx);
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
        const float amax = _mm_cvtss_f32(m);
        const float idf = amax > 0.0f ? 127.0f / amax : 0.0f;
        b[ib].d = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(idf);
        for (int i = 0; i < MX_QK_K; i += 32) {
            __m256i q[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), id);
                v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
                q[k] = _mm256_cvtps_epi32(v);
            }
            const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(b[ib].qs + i), _mm256_permutevar8x32_epi32(p, perm));
        }
        for (int j = 0; j < 16; j++) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(b[ib].qs + 16 * j));
            const __m256i w = _mm256_cvtepi8_epi16(v);
            const __m256i s = _mm256_madd_epi16(w, _mm256_set1_epi16(1));
            b[ib].bsums[j] = (int16_t)hsum_i32(s);
        }
    }
}

/* ---- tile products -------------------------------------------------------------------------- */

/* Tile products of Q4_K, Q5_K and Q6_K: for each row, blocks outer and up to GQ tokens inner, so a
 * superblock's levels and scales are unpacked once for all the tokens. Each (row, token) pair
 * gets the same exact integers and the same float steps, in the same block order, as dot_q:
 * equal bit for bit. */
#define GQ 8

static inline __attribute__((always_inline)) void
gemmq_kq45_tile(const void *w, uint64_t row_bytes, int nr, const void *xq, uint64_t xq_bytes, int nt,
                float *y, int64_t y_stride, int64_t n, const int five) {
    if (nt == 1) { /* one token: the dot itself */
        for (int r = 0; r < nr; r++) y[r] = dotq_kq45((const uint8_t *)w + (uint64_t)r * row_bytes, xq, n, five);
        return;
    }
    const size_t bs = five ? sizeof(mx_block_q5_k) : sizeof(mx_block_q4_k);
    const int64_t nb = n / MX_QK_K;
    for (int r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + (uint64_t)r * row_bytes;
        for (int t0 = 0; t0 < nt; t0 += GQ) {
            const int g = MX_MIN(GQ, nt - t0);
            float s[GQ] = {0};
            for (int64_t ib = 0; ib < nb; ib++) {
                kq45_block u;
                kq45_unpack(row + (size_t)ib * bs, five, &u);
                for (int t = 0; t < g; t++)
                    s[t] += kq45_term(&u, (const mx_block_q8_k *)((const uint8_t *)xq + (uint64_t)(t0 + t) * xq_bytes) + ib);
            }
            for (int t = 0; t < g; t++) y[(int64_t)(t0 + t) * y_stride + r] = s[t];
        }
    }
}
static void gemmq_q4_k_avx2_tile(const void *w, uint64_t row_bytes, int nr, const void *xq,
                                 uint64_t xq_bytes, int nt, float *y, int64_t y_stride, int64_t n) {
    gemmq_kq45_tile(w, row_bytes, nr, xq, xq_bytes, nt, y, y_stride, n, 0);
}
static void gemmq_q5_k_avx2_tile(const void *w, uint64_t row_bytes, int nr, const void *xq,
                                 uint64_t xq_bytes, int nt, float *y, int64_t y_stride, int64_t n) {
    gemmq_kq45_tile(w, row_bytes, nr, xq, xq_bytes, nt, y, y_stride, n, 1);
}

static void gemmq_q6_k_avx2_tile(const void *w, uint64_t row_bytes, int nr, const void *xq,
                            uint64_t xq_bytes, int nt, float *y, int64_t y_stride, int64_t n) {
    if (nt == 1) { /* one token: the dot itself */
        for (int r = 0; r < nr; r++) y[r] = dotq_q6_k_avx2((const uint8_t *)w + (uint64_t)r * row_bytes, xq, n);
        return;
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const int64_t nb = n / MX_QK_K;
    for (int r = 0; r < nr; r++) {
        const mx_block_q6_k *b = (const mx_block_q6_k *)((const uint8_t *)w + (uint64_t)r * row_bytes);
        for (int t0 = 0; t0 < nt; t0 += GQ) {
            const int g = MX_MIN(GQ, nt - t0);
            float s[GQ] = {0};
            for (int64_t ib = 0; ib < nb; ib++) {
                __m256i u[8], scv[8], sc16;
                q6_k_scales(b[ib].scales, scv, &sc16);
                for (int h = 0; h < 2; h++) {
                    const __m256i qa = _mm256_loadu_si256((const __m256i *)(b[ib].ql + 64 * h));
                    const __m256i qb = _mm256_loadu_si256((const __m256i *)(b[ib].ql + 64 * h + 32));
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b[ib].qh + 32 * h));
                    u[4 * h] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
                    u[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(qb, m4),
                                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
                    u[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
                    u[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
                }
                const float d = _cvtsh_ss(b[ib].d);
                for (int t = 0; t < g; t++) {
                    const mx_block_q8_k *yb =
                        (const mx_block_q8_k *)((const uint8_t *)xq + (uint64_t)(t0 + t) * xq_bytes) + ib;
                    __m256i acc = _mm256_setzero_si256();
                    for (int k = 0; k < 8; k++) {
                        const __m256i yv = _mm256_loadu_si256((const __m256i *)(yb->qs + 32 * k));
                        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u[k], yv), scv[k]));
                    }
                    const int32_t bsum =
                        hsum_i32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)yb->bsums), sc16));
                    s[t] += mx_kq_combine(yb->d, d, 0.0f, hsum_i32(acc) - 32 * bsum, 0);
                }
            }
            for (int t = 0; t < g; t++) y[(int64_t)(t0 + t) * y_stride + r] = s[t];
        }
    }
}


/* Q4_0 and Q5_0 against Q8_0 activations: exactly Q8_0's dot_q on the blocks' levels (int8,
 * -8..7 or -16..15) with the same scales (kquants_ref.c). A block's signed levels come from
 * q4_0_levels / q5_0_levels; a level times an activation byte goes through the sign trick
 * (maddubs needs one unsigned operand). Q5_0's 32 fifth bits are spread to bytes (byte j takes
 * byte j / 8 of qh and tests bit j % 8), and q - 16 = nibble | 0xF0 where the bit is clear. */
static inline __m256i q4_0_levels(const uint8_t *blk) {
    const mx_block_q4_0 *b = (const mx_block_q4_0 *)blk;
    const __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
    const __m256i nib = _mm256_and_si256(
        _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1), _mm256_set1_epi8(0x0F));
    return _mm256_sub_epi8(nib, _mm256_set1_epi8(8));
}
static inline __m256i q5_0_levels(const uint8_t *blk) {
    const mx_block_q5_0 *b = (const mx_block_q5_0 *)blk;
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    uint32_t h;
    memcpy(&h, b->qh, 4); /* little-endian host (x86) */
    const __m256i hb = _mm256_cmpeq_epi8(
        _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)h), spread), bit), bit);
    const __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
    const __m256i nib = _mm256_and_si256(
        _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1), _mm256_set1_epi8(0x0F));
    return _mm256_or_si256(nib, _mm256_andnot_si256(hb, _mm256_set1_epi8((char)0xF0)));
}
/* The unsigned levels u of rows4_levels with a bias (levels = u - 8 for Q4_0, u - 16 for Q5_0): the 16
 * bytes of nibbles are loaded into both halves and the upper half shifted down by 4 (one
 * variable shift instead of a shift and a lane insert). */
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}
static inline __m256i q4_0_ulevels(const uint8_t *blk) {
    return nibbles32(((const mx_block_q4_0 *)blk)->qs);
}
static inline __m256i q5_0_ulevels(const uint8_t *blk) {
    const mx_block_q5_0 *b = (const mx_block_q5_0 *)blk;
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    int32_t h;
    memcpy(&h, b->qh, 4);
    const __m256i hb = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(h), spread), bit), bit);
    return _mm256_or_si256(nibbles32(b->qs), _mm256_and_si256(hb, _mm256_set1_epi8(0x10)));
}

/* One row: per block P = the exact sum of the 32 products, acc = acc + (dw dx) * P. */
static inline __attribute__((always_inline)) float
dotq_lv(__m256i (*levels)(const uint8_t *), const size_t bsz, const void *row, const void *xq, int64_t n) {
    const mx_block_q8_0 *y = xq;
    const __m256i ones = _mm256_set1_epi16(1);
    float acc = 0.0f;
    for (int64_t ib = 0; ib < n / 32; ib++) {
        const uint8_t *blk = (const uint8_t *)row + (size_t)ib * bsz;
        kq_prefetch(blk, bsz);
        const __m256i lv = levels(blk), yv = _mm256_loadu_si256((const __m256i *)y[ib].qs);
        const int32_t p = hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(lv, lv), _mm256_sign_epi8(yv, lv)), ones));
        const float dd = _cvtsh_ss(block_scale(blk)) * _cvtsh_ss(y[ib].d);
        acc = acc + dd * (float)p;
    }
    return acc;
}
static float dotq_q4_0_avx2(const void *row, const void *xq, int64_t n) {
    return dotq_lv(q4_0_levels, sizeof(mx_block_q4_0), row, xq, n);
}
static float dotq_q5_0_avx2(const void *row, const void *xq, int64_t n) {
    return dotq_lv(q5_0_levels, sizeof(mx_block_q5_0), row, xq, n);
}

/* Tile products: four rows at a time (rows4_levels with a bias, avx2_common.h; the rest by dot_q), tokens
 * four at a time inner. */
#define GEMM_LV(name, ulevels, bias, btype, dotq)                                                  \
    static void name##_r4_1(const uint8_t *w, uint64_t rb, const uint8_t *xq, uint64_t xb, int64_t nb, float *out, int64_t ys) { rows4_levels(ulevels, bias, sizeof(btype), w, rb, xq, xb, nb, out, ys, 1); } \
    static void name##_r4_2(const uint8_t *w, uint64_t rb, const uint8_t *xq, uint64_t xb, int64_t nb, float *out, int64_t ys) { rows4_levels(ulevels, bias, sizeof(btype), w, rb, xq, xb, nb, out, ys, 2); } \
    static void name##_r4_3(const uint8_t *w, uint64_t rb, const uint8_t *xq, uint64_t xb, int64_t nb, float *out, int64_t ys) { rows4_levels(ulevels, bias, sizeof(btype), w, rb, xq, xb, nb, out, ys, 3); } \
    static void name##_r4_4(const uint8_t *w, uint64_t rb, const uint8_t *xq, uint64_t xb, int64_t nb, float *out, int64_t ys) { rows4_levels(ulevels, bias, sizeof(btype), w, rb, xq, xb, nb, out, ys, 4); } \
    static void name(const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb, int nt, float *y, \
                     int64_t ys, int64_t n) {                                                       \
        void (*const r4[4])(const uint8_t *, uint64_t, const uint8_t *, uint64_t, int64_t, float *, int64_t) = \
            {name##_r4_1, name##_r4_2, name##_r4_3, name##_r4_4};                                  \
        int r = 0;                                                                                 \
        for (; r + 4 <= nr; r += 4)                                                                \
            for (int t0 = 0; t0 < nt; t0 += 4)                                                     \
                r4[MX_MIN(4, nt - t0) - 1]((const uint8_t *)w + (uint64_t)r * rb, rb,               \
                                           (const uint8_t *)xq + (uint64_t)t0 * xb, xb, n / 32, y + (int64_t)t0 * ys + r, ys); \
        for (; r < nr; r++)                                                                        \
            for (int t = 0; t < nt; t++)                                                           \
                y[(int64_t)t * ys + r] = dotq((const uint8_t *)w + (uint64_t)r * rb, (const uint8_t *)xq + (uint64_t)t * xb, n); \
    }
GEMM_LV(gemmq_q4_0_avx2_tile, q4_0_ulevels, 8, mx_block_q4_0, dotq_q4_0_avx2)
GEMM_LV(gemmq_q5_0_avx2_tile, q5_0_ulevels, 16, mx_block_q5_0, dotq_q5_0_avx2)
#undef GEMM_LV

/* The tile kernels take rows outer and every token inner, so each row meets the activations of
 * all the step's tokens: a 512-token step at width 1152 is 600 KiB of them, past L2, read again
 * for every row. The tokens are therefore fed in chunks of about GQ_CHUNK_BYTES of activations
 * (a whole number of groups of GQ), which stay in L2 while the rows stream past. Each (row,
 * token) result is computed exactly as before: the bits do not change. */
#define GQ_CHUNK_BYTES (128 * 1024)
#define GEMM_CHUNKED(name)                                                                          \
    static void name(const void *w, uint64_t row_bytes, int nr, const void *xq, uint64_t xq_bytes, \
                     int nt, float *y, int64_t y_stride, int64_t n) {                            \
        const int tc = (int)MX_MAX((uint64_t)GQ, GQ_CHUNK_BYTES / MX_MAX(xq_bytes, (uint64_t)1) / GQ * GQ); \
        for (int t0 = 0; t0 < nt; t0 += tc)                                                      \
            name##_tile(w, row_bytes, nr, (const uint8_t *)xq + (uint64_t)t0 * xq_bytes, xq_bytes,  \
                        MX_MIN(tc, nt - t0), y + (int64_t)t0 * y_stride, y_stride, n);            \
    }
GEMM_CHUNKED(gemmq_q4_0_avx2)
GEMM_CHUNKED(gemmq_q5_0_avx2)
GEMM_CHUNKED(gemmq_q4_k_avx2)
GEMM_CHUNKED(gemmq_q5_k_avx2)
GEMM_CHUNKED(gemmq_q6_k_avx2)
#undef GEMM_CHUNKED

/* ---- K-quant prefill with one token per lane --------------------------------------------------- */

/* For 8 tokens or more, Q4_K and Q5_K (and Q6_K, Q4_0 and Q5_0 below) take a tile product in
 * the manner of Q8_0's (kernels_avx2.c): tokens in groups of 8, one per 32-bit lane. A group's Q8_K blocks are
 * re-laid out a segment of KL_SEG superblocks at a time (per superblock: the 8 scales, per
 * 4-byte chunk the 8 tokens' bytes side by side, per pair of bsums the 8 tokens' pairs). A
 * weight row's levels (unsigned, unpacked once per superblock for up to KL_TG groups) are
 * broadcast 4 at a time and multiplied with 8 tokens by one maddubs; the 16-bit pair sums of a
 * sub-block's 8 chunks add up without overflow (8 * 2 * 15 * 127 < 2^15; Q5_K's levels reach
 * 31, so it takes 4 chunks at a time), then one madd with the sub-block's scale widens them:
 * exact integers, as in dot_q. The mins go the same way against the bsums, and each lane takes
 * mx_kq_combine's float steps in block order: every result equals dot_q bit for bit. */
#define KL_TG LANE_TG /* token groups of 8 per pass over a row */
#define KL_SEG 2  /* superblocks per activation segment: KL_TG * KL_SEG * 2.3 KiB */
#define KL_ROWS 64 /* rows per pass */
typedef struct kl_block {
    float d[8];          /* the tokens' Q8_K scales */
    int32_t q[64][8];    /* [chunk][token]: bytes 4c..4c+3 */
    int32_t bs[8][8];    /* [k][token]: bsums 2k and 2k+1 as two int16 */
} kl_block;

/* Superblocks b0 .. b0+nb-1 of tokens t0 .. t0+7 (zeros past nt). */
static void kl_pack(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, void *outv) {
    kl_block *out = outv;
    const mx_block_q8_k *rows[8];
    static const mx_block_q8_k zero; /* all zero: d 0, levels 0, bsums 0 */
    for (int j = 0; j < 8; j++)
        rows[j] = t0 + j < nt ? (const mx_block_q8_k *)(xq + (uint64_t)(t0 + j) * xb) + b0 : NULL;
    for (int b = 0; b < nb; b++) {
        const mx_block_q8_k *y[8];
        for (int j = 0; j < 8; j++) {
            y[j] = rows[j] ? &rows[j][b] : &zero;
            out[b].d[j] = y[j]->d;
        }
        __m256i r[8], c8[8];
        for (int s = 0; s < 8; s++) { /* 32 bytes (8 chunks) of every token at a time */
            for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_si256((const __m256i *)(y[j]->qs + 32 * s));
            transpose8_epi32(r, c8);
            for (int c = 0; c < 8; c++) _mm256_store_si256((__m256i *)out[b].q[8 * s + c], c8[c]);
        }
        for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_si256((const __m256i *)y[j]->bsums);
        transpose8_epi32(r, c8);
        for (int k = 0; k < 8; k++) _mm256_store_si256((__m256i *)out[b].bs[k], c8[k]);
    }
}

/* One row's superblock against ng (1..KL_TG) packed groups; acc[g] carried. */
static inline __attribute__((always_inline)) void
kl45_row_block(const uint8_t *blk, const kl_block *xs, int64_t gstride, __m256 *acc, const int ng,
               const int five) {
    kq45_block u;
    kq45_unpack(blk, five, &u);
    _Alignas(32) uint8_t lv[8][32];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) _mm256_store_si256((__m256i *)lv[j], u.q[j]);
    __m256i isum[KL_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) isum[g] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        for (int h = 0; h < 1 + five; h++) {
            __m256i p[KL_TG];
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) p[g] = _mm256_setzero_si256();
            const int c0 = five ? 4 * h : 0, c1 = five ? 4 * h + 4 : 8;
#pragma GCC unroll 8
            for (int c = c0; c < c1; c++) {
                int32_t w4;
                memcpy(&w4, lv[j] + 4 * c, 4);
                const __m256i wv = _mm256_set1_epi32(w4);
#pragma GCC unroll 4
                for (int g = 0; g < ng; g++)
                    p[g] = _mm256_add_epi16(p[g], _mm256_maddubs_epi16(wv, _mm256_load_si256((const __m256i *)xs[g * gstride].q[8 * j + c])));
            }
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) isum[g] = _mm256_add_epi32(isum[g], _mm256_madd_epi16(p[g], u.scv[j]));
        }
    }
    __m256i msum[KL_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) msum[g] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) { /* min k (in both words of dword k of mv) against bsums 2k, 2k+1 */
        const __m256i mk = _mm256_permutevar8x32_epi32(u.mv, _mm256_set1_epi32(k));
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++)
            msum[g] = _mm256_add_epi32(msum[g], _mm256_madd_epi16(_mm256_load_si256((const __m256i *)xs[g * gstride].bs[k]), mk));
    }
    const __m256 d = _mm256_set1_ps(u.d), dmin = _mm256_set1_ps(u.dmin);
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) { /* mx_kq_combine, lane by lane */
        const __m256 yd = _mm256_load_ps(xs[g * gstride].d);
        const __m256 ta = _mm256_mul_ps(_mm256_mul_ps(yd, d), _mm256_cvtepi32_ps(isum[g]));
        const __m256 tb = _mm256_mul_ps(_mm256_mul_ps(yd, dmin), _mm256_cvtepi32_ps(msum[g]));
        acc[g] = _mm256_add_ps(acc[g], _mm256_sub_ps(ta, tb));
    }
}

#define KL45_ROW_SEG(G, F)                                                                             \
    static void kl45_row_seg_##G##_##F(const uint8_t *row, const void *xv, int64_t gstride, int nb,    \
                                       __m256 *acc) {                                                 \
        const kl_block *xs = xv;                                                                        \
        __m256 a[KL_TG];                                                                                \
        for (int g = 0; g < G; g++) a[g] = acc[g];                                                     \
        for (int b = 0; b < nb; b++)                                                                   \
            kl45_row_block(row + (size_t)b * (F ? sizeof(mx_block_q5_k) : sizeof(mx_block_q4_k)), xs + b, \
                           gstride, a, G, F);                                                          \
        for (int g = 0; g < G; g++) acc[g] = a[g];                                                     \
    }
KL45_ROW_SEG(1, 0) KL45_ROW_SEG(2, 0) KL45_ROW_SEG(3, 0) KL45_ROW_SEG(4, 0)
KL45_ROW_SEG(1, 1) KL45_ROW_SEG(2, 1) KL45_ROW_SEG(3, 1) KL45_ROW_SEG(4, 1)
#undef KL45_ROW_SEG

_Static_assert(KL_SEG * sizeof(kl_block) <= LANE_SEG_BYTES, "lane segment");
static const lane_kind g_lane_q4_k = {kl_pack, {kl45_row_seg_1_0, kl45_row_seg_2_0, kl45_row_seg_3_0, kl45_row_seg_4_0},
                                      sizeof(mx_block_q4_k), sizeof(kl_block), MX_QK_K, KL_SEG, KL_ROWS};
static const lane_kind g_lane_q5_k = {kl_pack, {kl45_row_seg_1_1, kl45_row_seg_2_1, kl45_row_seg_3_1, kl45_row_seg_4_1},
                                      sizeof(mx_block_q5_k), sizeof(kl_block), MX_QK_K, KL_SEG, KL_ROWS};

/* Q6_K the same way: levels u = q + 32 (0..63) per 16-element sub-block with its int8 scale;
 * two chunks' byte products fit 16 bits (2 * 2 * 63 * 127 < 2^15), so a sub-block takes two
 * madds with its scale; then isum = A - 32 sum_s sc_s bsums_s per lane, as dotq_q6_k. */
static inline __attribute__((always_inline)) void
kl6_row_block(const uint8_t *blk, const kl_block *xs, int64_t gstride, __m256 *acc, const int ng) {
    const mx_block_q6_k *b = (const mx_block_q6_k *)blk;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    _Alignas(32) uint8_t lv[8][32];
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256i qa = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
        const __m256i qb = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        _mm256_store_si256((__m256i *)lv[4 * h],
                           _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)));
        _mm256_store_si256((__m256i *)lv[4 * h + 1],
                           _mm256_or_si256(_mm256_and_si256(qb, m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)));
        _mm256_store_si256((__m256i *)lv[4 * h + 2],
                           _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)));
        _mm256_store_si256((__m256i *)lv[4 * h + 3],
                           _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)));
    }
    __m256i isum[KL_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) isum[g] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int m = 0; m < 8; m++) {          /* 32 levels: sub-blocks 2m and 2m + 1 */
#pragma GCC unroll 4
        for (int c = 0; c < 8; c += 2) {   /* chunks c, c + 1 of sub-block 2m + c / 4 */
            const __m256i sc = _mm256_set1_epi16((short)b->scales[2 * m + c / 4]);
            int32_t w0, w1;
            memcpy(&w0, lv[m] + 4 * c, 4);
            memcpy(&w1, lv[m] + 4 * c + 4, 4);
            const __m256i wv0 = _mm256_set1_epi32(w0), wv1 = _mm256_set1_epi32(w1);
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) {
                const __m256i p = _mm256_add_epi16(
                    _mm256_maddubs_epi16(wv0, _mm256_load_si256((const __m256i *)xs[g * gstride].q[8 * m + c])),
                    _mm256_maddubs_epi16(wv1, _mm256_load_si256((const __m256i *)xs[g * gstride].q[8 * m + c + 1])));
                isum[g] = _mm256_add_epi32(isum[g], _mm256_madd_epi16(p, sc));
            }
        }
    }
    /* dword k of sc16 holds scales 2k and 2k + 1, against bsums 2k and 2k + 1 */
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    __m256i bsum[KL_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) bsum[g] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        const __m256i sk = _mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(k));
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++)
            bsum[g] = _mm256_add_epi32(bsum[g], _mm256_madd_epi16(_mm256_load_si256((const __m256i *)xs[g * gstride].bs[k]), sk));
    }
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d)), zero = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) { /* mx_kq_combine(yd, d, 0, isum, 0), lane by lane */
        const __m256 yd = _mm256_load_ps(xs[g * gstride].d);
        const __m256i is = _mm256_sub_epi32(isum[g], _mm256_slli_epi32(bsum[g], 5));
        const __m256 ta = _mm256_mul_ps(_mm256_mul_ps(yd, d), _mm256_cvtepi32_ps(is));
        const __m256 tb = _mm256_mul_ps(_mm256_mul_ps(yd, zero), zero);
        acc[g] = _mm256_add_ps(acc[g], _mm256_sub_ps(ta, tb));
    }
}
#define KL6_ROW_SEG(G)                                                                                 \
    static void kl6_row_seg_##G(const uint8_t *row, const void *xv, int64_t gstride, int nb, __m256 *acc) { \
        const kl_block *xs = xv;                                                                        \
        __m256 a[KL_TG];                                                                                \
        for (int g = 0; g < G; g++) a[g] = acc[g];                                                     \
        for (int b = 0; b < nb; b++) kl6_row_block(row + (size_t)b * sizeof(mx_block_q6_k), xs + b, gstride, a, G); \
        for (int g = 0; g < G; g++) acc[g] = a[g];                                                     \
    }
KL6_ROW_SEG(1) KL6_ROW_SEG(2) KL6_ROW_SEG(3) KL6_ROW_SEG(4)
#undef KL6_ROW_SEG
static const lane_kind g_lane_q6_k = {kl_pack, {kl6_row_seg_1, kl6_row_seg_2, kl6_row_seg_3, kl6_row_seg_4},
                                      sizeof(mx_block_q6_k), sizeof(kl_block), MX_QK_K, KL_SEG, KL_ROWS};

/* Q4_0 and Q5_0 the same way against Q8_0 activations: a group's blocks re-laid out as the 8
 * scales, per chunk the 8 tokens' bytes, and each token's sum of the block's bytes; a row's
 * unsigned levels u (0..15, 0..31) broadcast 4 at a time, the byte products of 8 chunks (Q5_0:
 * 4) added in 16 bits, widened by madd, and the bias taken off as bias * sum: P is the exact
 * block sum of (u - bias) x, and each lane takes acc = acc + (d_w d_x) P as dot_q does. */
typedef struct l0_block {
    float d[8];
    int32_t q[8][8];     /* [chunk][token] */
    int32_t sx[8];       /* [token]: sum of the block's 32 bytes */
} l0_block;

static void l0_pack(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, void *outv) {
    l0_block *out = outv;
    q8_0_lanes_pack(xq, xb, t0, nt, b0, nb, out->d, &out->q[0][0], out->sx, sizeof *out / sizeof(float));
}

/* The byte products of chunks c0 .. c0+nc-1 of a row's levels against ng groups, summed in 16
 * bits, widened into p32. */
static inline __attribute__((always_inline)) void
l0_chunks(const uint8_t *lv, const l0_block *xs, int64_t gstride, __m256i *p32, const int ng, const int c0,
          const int nc) {
    __m256i p[KL_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) p[g] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++) {
        int32_t w4;
        memcpy(&w4, lv + 4 * (c0 + c), 4);
        const __m256i wv = _mm256_set1_epi32(w4);
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++)
            p[g] = _mm256_add_epi16(p[g], _mm256_maddubs_epi16(wv, _mm256_load_si256((const __m256i *)xs[g * gstride].q[c0 + c])));
    }
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) p32[g] = _mm256_add_epi32(p32[g], _mm256_madd_epi16(p[g], _mm256_set1_epi16(1)));
}

static inline __attribute__((always_inline)) void
l0_row_block(const uint8_t *blk, const l0_block *xs, int64_t gstride, __m256 *acc, const int ng, const int five) {
    _Alignas(32) uint8_t lv[32];
    _mm256_store_si256((__m256i *)lv, five ? q5_0_ulevels(blk) : q4_0_ulevels(blk));
    __m256i p32[KL_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) p32[g] = _mm256_setzero_si256();
    if (five) { /* 4 * 2 * 31 * 127 < 2^15 */
        l0_chunks(lv, xs, gstride, p32, ng, 0, 4);
        l0_chunks(lv, xs, gstride, p32, ng, 4, 4);
    } else {    /* 8 * 2 * 15 * 127 < 2^15 */
        l0_chunks(lv, xs, gstride, p32, ng, 0, 8);
    }
    const __m256 dw = _mm256_set1_ps(_cvtsh_ss(block_scale(blk)));
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) {
        const __m256i sx = _mm256_load_si256((const __m256i *)xs[g * gstride].sx);
        const __m256i pb = _mm256_sub_epi32(p32[g], _mm256_slli_epi32(sx, five ? 4 : 3));
        const __m256 d = _mm256_mul_ps(dw, _mm256_load_ps(xs[g * gstride].d));
        acc[g] = _mm256_add_ps(acc[g], _mm256_mul_ps(d, _mm256_cvtepi32_ps(pb)));
    }
}

#define L0_ROW_SEG(G, F)                                                                               \
    static void l0_row_seg_##G##_##F(const uint8_t *row, const void *xv, int64_t gstride, int nb,      \
                                     __m256 *acc) {                                                   \
        const l0_block *xs = xv;                                                                        \
        __m256 a[KL_TG];                                                                                \
        for (int g = 0; g < G; g++) a[g] = acc[g];                                                     \
        for (int b = 0; b < nb; b++)                                                                   \
            l0_row_block(row + (size_t)b * (F ? sizeof(mx_block_q5_0) : sizeof(mx_block_q4_0)), xs + b, gstride, a, G, F); \
        for (int g = 0; g < G; g++) acc[g] = a[g];                                                     \
    }
L0_ROW_SEG(1, 0) L0_ROW_SEG(2, 0) L0_ROW_SEG(3, 0) L0_ROW_SEG(4, 0)
L0_ROW_SEG(1, 1) L0_ROW_SEG(2, 1) L0_ROW_SEG(3, 1) L0_ROW_SEG(4, 1)
#undef L0_ROW_SEG
#define L0_SEG 16 /* blocks of 32 per activation segment */
_Static_assert(L0_SEG * sizeof(l0_block) <= LANE_SEG_BYTES, "lane segment");
static const lane_kind g_lane_q4_0 = {l0_pack, {l0_row_seg_1_0, l0_row_seg_2_0, l0_row_seg_3_0, l0_row_seg_4_0},
                                      sizeof(mx_block_q4_0), sizeof(l0_block), 32, L0_SEG, KL_ROWS};
static const lane_kind g_lane_q5_0 = {l0_pack, {l0_row_seg_1_1, l0_row_seg_2_1, l0_row_seg_3_1, l0_row_seg_4_1},
                                      sizeof(mx_block_q5_0), sizeof(l0_block), 32, L0_SEG, KL_ROWS};

/* gemm_q of the five types: the lane tile from 8 tokens, the row-by-row tiles below that. */
#define GEMM_LANES(name, kind, rowwise)                                                           \
    static void name(const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb, int nt, float *y, \
                     int64_t ys, int64_t n) {                                                     \
        if (nt < 8) rowwise(w, rb, nr, xq, xb, nt, y, ys, n);                                     \
        else lane_gemm(&kind, w, rb, nr, xq, xb, nt, y, ys, n);                                   \
    }
GEMM_LANES(gemmq_q4_0_lanes, g_lane_q4_0, gemmq_q4_0_avx2)
GEMM_LANES(gemmq_q5_0_lanes, g_lane_q5_0, gemmq_q5_0_avx2)
GEMM_LANES(gemmq_q4_k_lanes, g_lane_q4_k, gemmq_q4_k_avx2)
GEMM_LANES(gemmq_q5_k_lanes, g_lane_q5_k, gemmq_q5_k_avx2)
GEMM_LANES(gemmq_q6_k_lanes, g_lane_q6_k, gemmq_q6_k_avx2)
#undef GEMM_LANES

/* ---- registration --------------------------------------------------------------------------- */

void mx_kquants_avx2_fill(mx_type_kernels *t) {
    t[MX_TYPE_Q4_0].dot = dot_q4_0_avx2;
    t[MX_TYPE_Q4_0].to_f32 = to_f32_q4_0_avx2;
    t[MX_TYPE_Q4_0].axpy = axpy_q4_0_avx2;
    t[MX_TYPE_Q4_0].dot_q = dotq_q4_0_avx2;
    t[MX_TYPE_Q4_0].gemm_q = gemmq_q4_0_lanes;
    t[MX_TYPE_Q5_0].dot = dot_q5_0_avx2;
    t[MX_TYPE_Q5_0].to_f32 = to_f32_q5_0_avx2;
    t[MX_TYPE_Q5_0].axpy = axpy_q5_0_avx2;
    t[MX_TYPE_Q5_0].dot_q = dotq_q5_0_avx2;
    t[MX_TYPE_Q5_0].gemm_q = gemmq_q5_0_lanes;
    t[MX_TYPE_Q4_K].dot = dot_q4_k_avx2;
    t[MX_TYPE_Q4_K].to_f32 = to_f32_q4_k_avx2;
    t[MX_TYPE_Q4_K].axpy = axpy_q4_k_avx2;
    t[MX_TYPE_Q4_K].dot_q = dotq_q4_k_avx2;
    t[MX_TYPE_Q4_K].gemm_q = gemmq_q4_k_lanes;
    t[MX_TYPE_Q5_K].dot = dot_q5_k_avx2;
    t[MX_TYPE_Q5_K].to_f32 = to_f32_q5_k_avx2;
    t[MX_TYPE_Q5_K].axpy = axpy_q5_k_avx2;
    t[MX_TYPE_Q5_K].dot_q = dotq_q5_k_avx2;
    t[MX_TYPE_Q5_K].gemm_q = gemmq_q5_k_lanes;
    t[MX_TYPE_Q6_K].dot = dot_q6_k_avx2;
    t[MX_TYPE_Q6_K].to_f32 = to_f32_q6_k_avx2;
    t[MX_TYPE_Q6_K].axpy = axpy_q6_k_avx2;
    t[MX_TYPE_Q6_K].dot_q = dotq_q6_k_avx2;
    t[MX_TYPE_Q6_K].gemm_q = gemmq_q6_k_lanes;
    t[MX_TYPE_Q8_K].dot = dot_q8_k_avx2;
    t[MX_TYPE_Q8_K].to_f32 = to_f32_q8_k_avx2;
    t[MX_TYPE_Q8_K].from_f32 = from_f32_q8_k_avx2;
}
