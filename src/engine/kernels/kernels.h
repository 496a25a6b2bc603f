/* kernels.h: the math kernels of the native engine: one function table per weight type (dot
 * product with an f32 vector, row conversion to and from f32, scaled accumulation, the integer
 * path of quantised types, attention over cached rows of the KV types), a scalar reference for
 * every entry and SIMD siblings picked once at start-up after a CPUID check.
 *
 * Adding a weight type or an instruction set is adding table entries:
 *  - a reference implementation `*_ref` in kernels_ref.c, registered in mx_kernels_ref();
 *  - a SIMD sibling in kernels_<isa>.c (compiled with that ISA's flags only), registered by
 *    mx_kernels_<isa>_fill(), which overwrites the entries it implements.
 * mx_kernels_get() returns the active table; mixlm_force_reference_kernels(true) makes it the
 * reference table (tests compare every SIMD entry against its reference). */
#ifndef MX_KERNELS_H
#define MX_KERNELS_H

#include "common/dtype.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* sum_i row[i] * x[i] for a row of n elements stored in the table's type (n a multiple of the
 * type's block size). Accumulation is in f32, in a fixed order every implementation keeps
 * (kernels_ref.c): four accumulators of 8 lanes fed round-robin by runs of MX_DOT_RUN
 * elements (of the whole groups of 8), a fixed final reduction, then the n % 8 tail. SIMD versions differ from the reference only by fused multiply-add rounding. */
typedef float (*mx_dot_fn)(const void *row, const float *x, int64_t n);
/* out[i] = row[i] as f32. */
typedef void (*mx_to_f32_fn)(const void *row, float *out, int64_t n);
/* row = x converted (rounded to nearest even; Q8_0: per-block absmax scale). */
typedef void (*mx_from_f32_fn)(const float *x, void *row, int64_t n);
/* y[i] += a * row[i]. */
typedef void (*mx_axpy_fn)(float a, const void *row, float *y, int64_t n);

/* The f32 tile product behind prefill works on packed operands. mx_gemm_pack_block() writes
 * (weight rows or token activation rows) as blocks of `rb` rows, the last block padded by
 * repeating the last row. Within a block, the whole groups of 8 elements come in the dot's
 * accumulator order (kernels_ref.c): first every run of MX_DOT_RUN elements that feeds
 * accumulator 0 (runs 0, 4, 8, ...), then those of accumulators 1, 2 and 3, each group of 8 as
 * rb consecutive 8-float vectors, one per row; then the n % 8 tail of each row in turn. So each
 * accumulator of the dot is one contiguous stretch of the block, and a tile product reads its
 * operands in order. A block holds rb * n floats. Weights go in blocks of MX_GEMM_WB rows,
 * tokens in blocks of MX_GEMM_XB. */
#define MX_GEMM_WB 4
#define MX_GEMM_XB 3
/* Floats of the packed form of nrows rows of n elements in blocks of rb. */
int64_t mx_gemm_packed_floats(int64_t nrows, int rb, int64_t n);
/* Pack one block: rows 0 .. nrows - 1 of src (row i at src + i * stride; 1 <= nrows <= rb <=
 * 8) into the rb * n floats at dst, padded by repeating the last row. Block b of a packed
 * operand starts at b * rb * n. */
void mx_gemm_pack_block(const float *src, int64_t stride, int nrows, int rb, int64_t n, float *dst);

/* y[t * y_stride + r] = dot_f32(row r, token t) for r < nr, t < nt from packed weights wp
 * (blocks of MX_GEMM_WB rows) and packed tokens xp (blocks of MX_GEMM_XB tokens), each result
 * bit-identical to the F32 dot kernel of the same table (so prefill and decode agree exactly).
 * scratch holds MX_GEMM_SCRATCH_FLOATS floats (the product's partial sums). */
typedef void (*mx_gemm_f32_fn)(const float *wp, int nr, const float *xp, int nt, float *y,
                               int64_t y_stride, int64_t n, float *scratch);
#define MX_GEMM_SCRATCH_FLOATS (4 * 8 * 16 * 96)

/* Integer path of the quantised weight types. The engine quantises each token's activation
 * vector once per matrix product into the type's `vec_type` (MX_TYPE_Q8_0 for Q8_0 and Q4_0,
 * MX_TYPE_Q8_K for the K-quants) with that type's from_f32, then multiplies integer blocks:
 * dot_q(row, xq, n) = sum_i row[i] * xq[i] (n elements; xq in vec_type's block layout). */
typedef float (*mx_dot_q_fn)(const void *row, const void *xq, int64_t n);
/* Tile form of dot_q for prefill: y[t * y_stride + r] = dot_q(w + r * row_bytes,
 * xq + t * xq_bytes, n) for r < nr, t < nt, each result bit-identical to dot_q of the same
 * table (so prefill and decode agree exactly whatever the prompt split). */
typedef void (*mx_gemm_q_fn)(const void *w, uint64_t row_bytes, int nr, const void *xq,
                             uint64_t xq_bytes, int nt, float *y, int64_t y_stride, int64_t n);

/* Attention over nr cache or scratch rows of n elements (row r at rows + r * row_bytes) for
 * nq query heads at once, so each row is read and widened once for all of them:
 *   attn_scores: s[i * s_stride + r] = sum_k row_r[k] * q[i * q_stride + k], accumulating
 *                element k of the whole groups of 8 in lane k % 8 in order of k, adding the
 *                lanes as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), then the n % 8
 *                tail one by one (one chain per row and head, so a SIMD tile of rows and heads
 *                keeps many chains in flight); the AVX-512 set uses 16 lanes (element k of
 *                the whole groups of 16 in lane k % 16, lanes i and i + 8 added, then the
 *                same eight-lane sum and the n % 16 tail), so its scores differ from the
 *                other sets' by rounding alone;
 *   attn_values: y + i * y_stride += p[i * p_stride + r] * row r, for r = 0, 1, ... in order,
 *                exactly the type's axpy row after row.
 * Each result belongs to its (row, head) alone: results do not depend on nr, nq or where a run
 * of rows is split, and F16, BF16 and F32 rows holding the same values give the same bits
 * within a set (the engine relies on both: decode and prefill agree exactly whatever the
 * threads). SIMD versions differ from the reference only by fused multiply-add rounding and
 * (AVX-512 scores) the order of the additions. */
typedef void (*mx_attn_scores_fn)(const void *rows, uint64_t row_bytes, int64_t nr, const float *q,
                                  int64_t q_stride, int nq, float *s, int64_t s_stride, int64_t n);
typedef void (*mx_attn_values_fn)(const float *p, int64_t p_stride, const void *rows,
                                  uint64_t row_bytes, int64_t nr, float *y, int64_t y_stride, int nq,
                                  int64_t n);

/* Elements per run of the dot order: run r of the whole groups of 8 feeds accumulator r % 4. */
#define MX_DOT_RUN 64

typedef struct mx_type_kernels {
    mx_dot_fn dot;          /* the f32-activation semantics every matrix type defines */
    mx_to_f32_fn to_f32;
    mx_from_f32_fn from_f32;
    mx_axpy_fn axpy;
    /* Optional integer path: vec_type is MX_TYPE_F32 (the zero value) and dot_q NULL for
     * types without one; gemm_q may be NULL (the engine then loops over dot_q). */
    mx_type vec_type;
    mx_dot_q_fn dot_q;
    mx_gemm_q_fn gemm_q;
    /* Attention over cached rows (NULL for types a KV cache cannot hold). */
    mx_attn_scores_fn attn_scores;
    mx_attn_values_fn attn_values;
} mx_type_kernels;

/* The active kernels for a type, or NULL when the engine cannot use that type. The table is
 * chosen on first use (and again after mixlm_force_reference_kernels() or
 * mixlm_kernels_limit()): the most capable set this CPU runs, up to the limit. */
const mx_type_kernels *mx_kernels_get(mx_type type);

/* The scalar reference kernels for a type (NULL when unsupported). */
const mx_type_kernels *mx_kernels_ref(mx_type type);

/* The kernel sets. Each is the one before it with the entries its own file implements written
 * over (kernels_avx2.c, kernels_avx512.c), so a set only lists what it does faster. */
typedef enum mx_isa { MX_ISA_REF, MX_ISA_AVX2, MX_ISA_AVX512, MX_ISA_COUNT } mx_isa;
/* "reference", "avx2", "avx512" */
const char *mx_isa_name(mx_isa isa);
/* True when the set is compiled in and this CPU and operating system run it. */
bool mx_isa_available(mx_isa isa);
/* A set's table for a type (NULL when the set is not available or the type unsupported), and
 * its f32 tile product (NULL when not available); tests compare every set with the reference. */
const mx_type_kernels *mx_kernels_of(mx_isa isa, mx_type type);
mx_gemm_f32_fn mx_gemm_f32_of(mx_isa isa);

/* The active f32 tile product, and the reference and SIMD ones (the SIMD ones NULL when not
 * compiled in). */
mx_gemm_f32_fn mx_kernels_gemm_f32(void);
mx_gemm_f32_fn mx_gemm_f32_ref_fn(void);
mx_gemm_f32_fn mx_gemm_f32_avx2_fn(void);
mx_gemm_f32_fn mx_gemm_f32_avx512_fn(void);

/* Name of the set behind the active tables (mx_isa_name). */
const char *mx_kernels_isa(void);

/* True when this CPU can run the AVX2 kernels (AVX2, FMA, F16C) and they are compiled in. */
bool mx_kernels_have_avx2(void);
/* True when this CPU and operating system can run the AVX-512 kernels (F, BW, VL, DQ, VNNI and
 * the 512-bit register state enabled) and they are compiled in. */
bool mx_kernels_have_avx512(void);

/* Defined in kernels_avx2.c / kernels_avx512.c: write their entries over `tables` (indexed by
 * mx_type), which hold the set below them. */
void mx_kernels_avx2_fill(mx_type_kernels *tables);
void mx_kernels_avx512_fill(mx_type_kernels *tables);
/* Defined in kquants_avx512.c, called by mx_kernels_avx512_fill(). */
void mx_kquants_avx512_fill(mx_type_kernels *tables);

/* The weight types the engine can use for matrices. */
static inline bool mx_kernels_matrix_type_ok(mx_type t) {
    return t == MX_TYPE_F32 || t == MX_TYPE_F16 || t == MX_TYPE_BF16 || t == MX_TYPE_Q8_0 ||
           t == MX_TYPE_Q4_0 || t == MX_TYPE_Q5_0 || t == MX_TYPE_Q4_K || t == MX_TYPE_Q5_K ||
           t == MX_TYPE_Q6_K;
}

/* Q8_0 block layout (GGUF): an f16 scale d, then 32 signed bytes; x[i] = d * q[i]. */
#define MX_QK8_0 32
typedef struct mx_block_q8_0 {
    uint16_t d;
    int8_t qs[MX_QK8_0];
} mx_block_q8_0;

/* Q8_K block layout (GGUF; activations of the K-quant dot products): an f32 scale d, 256
 * signed bytes (x[i] = d * q[i]) and the sums of each group of 16 bytes. */
#define MX_QK_K 256
typedef struct mx_block_q8_k {
    float d;
    int8_t qs[MX_QK_K];
    int16_t bsums[MX_QK_K / 16];
} mx_block_q8_k;

/* ---- memory read bandwidth (mixlm bench's roofline) ------------------------------------ */

/* The machine's read bandwidth in GB/s (1e9 bytes/s) with n_threads threads, as a decoder at
 * its best could read weights: a buffer of about `bytes` (at least 64 MiB; fewer if memory is
 * short), 2 MiB-aligned and offered transparent huge pages, written once, then read in full
 * `trials` times (each thread a contiguous slice, AVX2 loads when the CPU has them); the best
 * trial counts. 0 when no buffer could be had. (membw.c) */
double mx_read_bandwidth(int n_threads, uint64_t bytes, int trials);

/* Sustained read bandwidth in GB/s over given memory (the model's weights, in place): the
 * ranges are read `passes` times end to end, each thread a contiguous share, and the bytes
 * read are divided by the whole time (not the best pass). Each range is read from its first
 * 32-byte boundary in whole 256-byte stretches; *bytes_read (if not NULL) gets the bytes read
 * in all. 0 when there is nothing to read. (membw.c) */
typedef struct mx_byte_range {
    const void *p;
    uint64_t bytes;
} mx_byte_range;
double mx_read_ranges_bandwidth(const mx_byte_range *r, int n_ranges, int n_threads, int passes,
                                uint64_t *bytes_read);

/* Defined in kernels_avx2.c: reads `bytes` (a multiple of 256, 32-byte aligned). */
uint64_t mx_read_sweep_avx2(const void *p, size_t bytes);

/* ---- f32 helpers used by the decoder (not type-dispatched; O(n) work) ------------------ */

/* out = x / sqrt(mean(x^2) + eps) * w  (w may be NULL: no weight; out may be x). Sum of
 * squares in double, in element order; then out[i] = (x[i] * scale) * w[i]. */
typedef void (*mx_rmsnorm_fn)(float *out, const float *x, const float *w, int64_t n, float eps);
void mx_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
/* The active RMSNorm: the reference above, or an AVX2 sibling whose double sum of squares runs
 * in 16 lanes (exact squares, so only the order of the additions differs: the scale is the
 * reference's or one float ulp from it) and whose products are the reference's
 * (tests/test_kernels_act.c). The decoder calls the active one for every norm. */
mx_rmsnorm_fn mx_kernels_rmsnorm(void);
mx_rmsnorm_fn mx_rmsnorm_avx2_fn(void);

/* In-place rotary embedding of n_heads consecutive heads of hd elements with the position's
 * tables c[i] = cos(p theta_i), s[i] = sin(p theta_i), i < hd / 2: the pair (x0, x1) becomes
 * (x0 c - x1 s, x0 s + x1 c), each product rounded (no fused multiply-add); pairs are
 * (i, i + hd/2) when neox, else (2i, 2i + 1). The AVX2 sibling performs exactly these
 * operations eight pairs at a time, so the two give the same bits (tests/test_kernels_act.c);
 * the decoder calls the active one. */
typedef void (*mx_rope_fn)(float *v, int n_heads, int hd, bool neox, const float *c, const float *s);
void mx_rope(float *v, int n_heads, int hd, bool neox, const float *c, const float *s);
/* The pairs i0 .. hd/2 - 1 of one head, as mx_rope does them (the SIMD siblings' tails). */
void mx_rope_pairs(float *v, int hd, bool neox, const float *c, const float *s, int i0);
mx_rope_fn mx_kernels_rope(void);
mx_rope_fn mx_rope_avx2_fn(void);

/* In-place GELU (tanh approximation) of a times b: a[i] = gelu_tanh(a[i]) * b[i]. */
void mx_gelu_tanh_mul(float *a, const float *b, int64_t n);
/* In-place SiLU of a times b: a[i] = a[i] / (1 + exp(-a[i])) * b[i]. */
void mx_silu_mul(float *a, const float *b, int64_t n);

/* The active gated activations: the two above (libm), or AVX2 siblings that compute the same
 * formulas as x / (1 + e^-z) with a polynomial exp (within a few ulp of the reference; tests in
 * tests/test_kernels_act.c). The AVX2 ones are NULL without x86 kernels. */
typedef void (*mx_act_mul_fn)(float *a, const float *b, int64_t n);
mx_act_mul_fn mx_kernels_gelu_tanh_mul(void);
mx_act_mul_fn mx_kernels_silu_mul(void);
mx_act_mul_fn mx_gelu_tanh_mul_avx2_fn(void);
mx_act_mul_fn mx_silu_mul_avx2_fn(void);

/* Attention's softmax over a block of scores: s[k] = e^(s[k] - m) for k < n, returning their
 * sum (m is the block's maximum, so every exponent is <= 0). The reference uses libm's expf and
 * adds in order; the AVX2 sibling the polynomial exp above (exact 0 below e^-87) with the sum
 * in 8 lanes, then the tail in order: within a few ulp per element (tests/test_kernels_act.c).
 * The decoder calls the active one for every block, so prefill and decode agree exactly. */
typedef float (*mx_exp_sum_fn)(float *s, int64_t n, float m);
float mx_exp_sum(float *s, int64_t n, float m);
mx_exp_sum_fn mx_kernels_exp_sum(void);
mx_exp_sum_fn mx_exp_sum_avx2_fn(void);

/* Attention's bookkeeping around the kernels above, per block and head:
 *   scale_max: s[k] *= scale for k < n, returning the largest product (-inf when n = 0; NaNs
 *              passed over, as the reference's `v > m` does);
 *   fold:      o[k] = o[k] * a + ob[k] * b for k < n (each product rounded, then the sum).
 * The AVX2 siblings give the reference's values (no fused multiply-add; the maximum's value,
 * a zero's sign aside), so the active ones may be used anywhere. */
typedef float (*mx_scale_max_fn)(float *s, int64_t n, float scale);
typedef void (*mx_fold_fn)(float *o, const float *ob, float a, float b, int64_t n);
float mx_scale_max(float *s, int64_t n, float scale);
void mx_fold(float *o, const float *ob, float a, float b, int64_t n);
mx_scale_max_fn mx_kernels_scale_max(void);
mx_fold_fn mx_kernels_fold(void);
mx_scale_max_fn mx_scale_max_avx2_fn(void);
mx_fold_fn mx_fold_avx2_fn(void);

#endif /* MX_KERNELS_H */
