/* mask.c: the attention-mask rules of SPEC.md sections 1 and 3: the brute-force visibility
 * predicate, ring slot bookkeeping and the builders for every kind, form, dtype and layout. */
#include "contract/internal.h"

#include <math.h>

bool mixlm_mask_visible(mixlm_attn_kind kind, int32_t window, int64_t q, int64_t k) {
    if (q < 0 || k < 0 || k > q) return false;
    switch (kind) {
    case MIXLM_ATTN_CAUSAL: return true;
    case MIXLM_ATTN_SLIDING: return q - k < (int64_t)window;
    case MIXLM_ATTN_CHUNKED: return window > 0 && k / window == q / window;
    }
    return false;
}

int64_t mixlm_ring_slot_position(int32_t window, int64_t p, int64_t slot) {
    if (window <= 0 || slot < 0 || slot >= window || p <= slot) return -1;
    /* the latest j < p with j % window == slot */
    return slot + (int64_t)window * ((p - 1 - slot) / window);
}

int64_t mixlm_mask_kv(const mixlm_mask_spec *mask, int64_t p, int32_t n) {
    if (!mask) return -1;
    if (mask->layout == MIXLM_KEYS_ABSOLUTE) return p + n;
    return mask->chunk_region ? (int64_t)mask->window + n : (int64_t)mask->window;
}

int64_t mixlm_mask_column_position(const mixlm_mask_spec *mask, int64_t p, int32_t n,
                                   int64_t column) {
    if (!mask || column < 0 || p < 0 || n < 1) return -1;
    if (mask->layout == MIXLM_KEYS_ABSOLUTE) return column < p + n ? column : -1;
    int64_t w = mask->window;
    if (column < w) {
        /* Without a chunk region the step is one token that the executor writes into its slot
         * before attention, so the ring is described as it is after that write (the query
         * sees itself in slot p % W). With a chunk region the ring columns are the slots as
         * they were before the step, and the new keys have columns of their own. */
        int64_t upto = mask->chunk_region ? p : p + n;
        return mixlm_ring_slot_position(mask->window, upto, column);
    }
    if (mask->chunk_region && column < w + n) return p + (column - w);
    return -1;
}

/* The additive blocked value of a dtype when the contract states none. f16 uses the largest
 * finite negative because -inf * 0 gives NaN in some graphs (SPEC.md section 3); bf16 does
 * the same for the same reason (torch's finfo(bfloat16).min). */
static double default_blocked(mixlm_dtype dtype) {
    switch (dtype) {
    case MIXLM_DTYPE_F16: return -65504.0;
    case MIXLM_DTYPE_BF16: return -3.3895313892515355e38;
    default: return -INFINITY;
    }
}

void mx_put_value(void *buf, mixlm_dtype dtype, uint64_t idx, double value) {
    switch (dtype) {
    case MIXLM_DTYPE_F32: ((float *)buf)[idx] = (float)value; break;
    case MIXLM_DTYPE_F16: ((uint16_t *)buf)[idx] = mx_f32_to_f16((float)value); break;
    case MIXLM_DTYPE_BF16: ((uint16_t *)buf)[idx] = mx_f32_to_bf16((float)value); break;
    case MIXLM_DTYPE_I32: ((int32_t *)buf)[idx] = (int32_t)value; break;
    case MIXLM_DTYPE_I64: ((int64_t *)buf)[idx] = (int64_t)value; break;
    case MIXLM_DTYPE_BOOL: ((uint8_t *)buf)[idx] = value != 0.0; break;
    }
}

mixlm_status mixlm_mask_build(const mixlm_mask_spec *mask, mixlm_dtype dtype, int64_t p,
                              int32_t n, int64_t kv, const int32_t *span_ids, void *out) {
    if (!mask || !out) return mx_err(MIXLM_ERR_INVALID_ARG, "mask: NULL argument");
    if (p < 0 || n < 1) return mx_err(MIXLM_ERR_INVALID_ARG, "mask: bad step p=%lld n=%d",
                                      (long long)p, (int)n);
    if (mixlm_dtype_size(dtype) == 0) return mx_err(MIXLM_ERR_INVALID_ARG, "mask: bad dtype");
    bool is_float = dtype == MIXLM_DTYPE_F32 || dtype == MIXLM_DTYPE_F16 || dtype == MIXLM_DTYPE_BF16;
    if (mask->form == MIXLM_MASK_ADDITIVE && !is_float)
        return mx_err(MIXLM_ERR_INVALID_ARG, "mask: additive form needs a float dtype");
    if ((mask->kind != MIXLM_ATTN_CAUSAL || mask->layout == MIXLM_KEYS_RING) && mask->window <= 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "mask: %s mask without a window",
                      mixlm_attn_kind_name(mask->kind));
    int64_t need = mixlm_mask_kv(mask, p, n);
    if (mask->layout == MIXLM_KEYS_RING) {
        if (!mask->chunk_region && n != 1)
            return mx_err(MIXLM_ERR_INVALID_ARG,
                          "mask: a ring without chunk region takes single-token steps (n=%d)", (int)n);
        if (kv != need)
            return mx_err(MIXLM_ERR_INVALID_ARG, "mask: ring mask has %lld columns, not %lld",
                          (long long)need, (long long)kv);
    } else if (kv < need) {
        return mx_err(MIXLM_ERR_INVALID_ARG, "mask: %lld columns cannot hold %lld keys",
                      (long long)kv, (long long)need);
    }
    double vis_v, blk_v;
    if (mask->form == MIXLM_MASK_ADDITIVE) {
        vis_v = 0.0;
        blk_v = isnan(mask->blocked) ? default_blocked(dtype) : (double)mask->blocked;
    } else {
        vis_v = 1.0;
        blk_v = 0.0;
    }
    bool spans = mask->bidirectional_spans && span_ids;
    for (int32_t i = 0; i < n; i++) {
        int64_t q = p + i;
        uint64_t row = (uint64_t)i * (uint64_t)kv;
        for (int64_t col = 0; col < kv; col++) {
            int64_t k = mixlm_mask_column_position(mask, p, n, col);
            bool vis = k >= 0 && mixlm_mask_visible(mask->kind, mask->window, q, k);
            if (!vis && spans && k >= p && k < p + n) {
                int32_t a = span_ids[i], b = span_ids[k - p];
                vis = a != 0 && a == b;
            }
            mx_put_value(out, dtype, row + (uint64_t)col, vis ? vis_v : blk_v);
        }
    }
    return MIXLM_OK;
}
