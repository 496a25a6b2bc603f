/* test_contract_masks.c: randomised property tests of every mask builder (kind, window,
 * form, dtype, key layout, chunk region, spans) against a brute-force evaluation of
 * SPEC.md sections 1 and 3 written independently here; chunk-split invariance of masks. */
#include "check.h"
#include "common/util.h"
#include "mixlm.h"

#include <math.h>
#include <stdint.h>

/* ---- Brute-force reference (independent of src/contract) ---------------------------------- */

static int ref_visible(mixlm_attn_kind kind, int w, long long q, long long k) {
    if (k < 0 || k > q) return 0;
    if (kind == MIXLM_ATTN_CAUSAL) return 1;
    if (kind == MIXLM_ATTN_SLIDING) return q - k < w;
    return (k / w) == (q / w);
}

/* The position each ring slot holds, by simulating the writes 0..upto-1. */
static void ref_ring(int w, long long upto, long long *slots) {
    for (int s = 0; s < w; s++) slots[s] = -1;
    for (long long j = 0; j < upto; j++) slots[j % w] = j;
}

static double read_val(const void *buf, mixlm_dtype dt, size_t i) {
    switch (dt) {
    case MIXLM_DTYPE_F32: return ((const float *)buf)[i];
    case MIXLM_DTYPE_F16: return mx_f16_to_f32(((const uint16_t *)buf)[i]);
    case MIXLM_DTYPE_BF16: return mx_bf16_to_f32(((const uint16_t *)buf)[i]);
    case MIXLM_DTYPE_I32: return ((const int32_t *)buf)[i];
    case MIXLM_DTYPE_I64: return (double)((const int64_t *)buf)[i];
    case MIXLM_DTYPE_BOOL: return ((const uint8_t *)buf)[i];
    }
    return NAN;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* Build one mask and compare every cell with the reference. Returns the number of bad cells. */
static int check_one(const mixlm_mask_spec *m, mixlm_dtype dt, long long p, int n, long long kv_pad,
                     const int32_t *spans, const char *label) {
    long long kv = mixlm_mask_kv(m, p, n);
    if (m->layout == MIXLM_KEYS_ABSOLUTE) kv += kv_pad;
    size_t cells = (size_t)n * (size_t)kv;
    void *buf = malloc(cells * 8 + 8);
    mixlm_status st = mixlm_mask_build(m, dt, p, n, kv, spans, buf);
    if (st) {
        CHECK_MSG(0, "%s: build failed: %s", label, mixlm_last_error());
        free(buf);
        return 1;
    }
    long long *slots = malloc(sizeof(long long) * (size_t)(m->window > 0 ? m->window : 1));
    if (m->layout == MIXLM_KEYS_RING)
        ref_ring(m->window, m->chunk_region ? p : p + n, slots);
    double blocked = m->form == MIXLM_MASK_BOOLEAN ? 0.0
                     : !isnan(m->blocked)          ? (double)m->blocked
                     : dt == MIXLM_DTYPE_F16       ? -65504.0
                     : dt == MIXLM_DTYPE_BF16      ? (double)mx_bf16_to_f32(0xFF7F)
                                                   : -INFINITY;
    /* a stated blocked value is stored rounded to the dtype */
    if (dt == MIXLM_DTYPE_F16 && !isnan(m->blocked) && m->form == MIXLM_MASK_ADDITIVE)
        blocked = mx_f16_to_f32(mx_f32_to_f16(m->blocked));
    if (dt == MIXLM_DTYPE_BF16 && !isnan(m->blocked) && m->form == MIXLM_MASK_ADDITIVE)
        blocked = mx_bf16_to_f32(mx_f32_to_bf16(m->blocked));
    double visible = m->form == MIXLM_MASK_BOOLEAN ? 1.0 : 0.0;
    int bad = 0;
    for (int i = 0; i < n && bad < 3; i++) {
        long long q = p + i;
        int row_any = 0;
        for (long long c = 0; c < kv; c++) {
            long long k;
            if (m->layout == MIXLM_KEYS_ABSOLUTE) k = c < p + n ? c : -1;
            else if (c < m->window) k = slots[c];
            else k = p + (c - m->window);
            int vis = ref_visible(m->kind, m->window, q, k);
            if (!vis && m->bidirectional_spans && spans && k >= p && k < p + n)
                vis = spans[i] != 0 && spans[i] == spans[k - p];
            double want = vis ? visible : blocked;
            double got = read_val(buf, dt, (size_t)i * (size_t)kv + (size_t)c);
            row_any |= vis;
            if (!(got == want)) {
                CHECK_MSG(0, "%s: p=%lld n=%d row %d col %lld (key %lld): got %g want %g", label, p, n,
                          i, c, k, got, want);
                bad++;
                break;
            }
        }
        if (!row_any) {
            CHECK_MSG(0, "%s: row %d blocks every column", label, i);
            bad++;
        }
    }
    if (!bad) CHECK(1);
    free(slots);
    free(buf);
    return bad;
}

static void test_predicate(void) {
    /* The public predicate against the reference, exhaustively on a small square. */
    int bad = 0;
    for (int kind = 0; kind < 3; kind++)
        for (int w = 1; w < 9; w++)
            for (int q = 0; q < 40; q++)
                for (int k = -2; k < 42; k++)
                    if (mixlm_mask_visible((mixlm_attn_kind)kind, w, q, k) !=
                        (ref_visible((mixlm_attn_kind)kind, w, q, k) != 0))
                        bad++;
    CHECK_EQ_INT(bad, 0);
    /* Spot values from SPEC.md: W counts the query itself. */
    CHECK(mixlm_mask_visible(MIXLM_ATTN_SLIDING, 4, 10, 7));
    CHECK(!mixlm_mask_visible(MIXLM_ATTN_SLIDING, 4, 10, 6));
    CHECK(mixlm_mask_visible(MIXLM_ATTN_CHUNKED, 8, 15, 8));
    CHECK(!mixlm_mask_visible(MIXLM_ATTN_CHUNKED, 8, 16, 15));
    CHECK(!mixlm_mask_visible(MIXLM_ATTN_CAUSAL, 0, 3, 4));
    /* ring slots */
    CHECK_EQ_INT(mixlm_ring_slot_position(4, 0, 0), -1);
    CHECK_EQ_INT(mixlm_ring_slot_position(4, 3, 2), 2);
    CHECK_EQ_INT(mixlm_ring_slot_position(4, 3, 3), -1);
    CHECK_EQ_INT(mixlm_ring_slot_position(4, 10, 1), 9);
    CHECK_EQ_INT(mixlm_ring_slot_position(4, 10, 2), 6);
}

static void test_random(void) {
    const mixlm_dtype dts[] = {MIXLM_DTYPE_F32, MIXLM_DTYPE_F16, MIXLM_DTYPE_BF16,
                               MIXLM_DTYPE_BOOL, MIXLM_DTYPE_I32, MIXLM_DTYPE_I64};
    int total_bad = 0;
    for (int iter = 0; iter < 3000 && total_bad < 10; iter++) {
        mixlm_mask_spec m;
        memset(&m, 0, sizeof m);
        m.kind = (mixlm_attn_kind)rnd(3);
        m.window = m.kind == MIXLM_ATTN_CAUSAL ? 0 : 1 + (int)rnd(iter % 3 == 0 ? 4 : 40);
        m.layout = m.kind != MIXLM_ATTN_CAUSAL && rnd(2) ? MIXLM_KEYS_RING : MIXLM_KEYS_ABSOLUTE;
        m.chunk_region = m.layout == MIXLM_KEYS_RING && rnd(3) != 0;
        mixlm_dtype dt = dts[rnd(6)];
        int is_float = dt == MIXLM_DTYPE_F32 || dt == MIXLM_DTYPE_F16 || dt == MIXLM_DTYPE_BF16;
        m.form = is_float && rnd(3) ? MIXLM_MASK_ADDITIVE : MIXLM_MASK_BOOLEAN;
        m.blocked = rnd(3) == 0 ? -1e4f : NAN;
        /* positions: early (ring not full), and after many wraps */
        long long p = rnd(2) ? rnd(20) : rnd(5000);
        int n = (m.layout == MIXLM_KEYS_RING && !m.chunk_region) ? 1 : 1 + (int)rnd(rnd(4) ? 70 : 8);
        long long pad = m.layout == MIXLM_KEYS_ABSOLUTE && rnd(4) == 0 ? rnd(30) : 0;
        int32_t spans[80];
        m.bidirectional_spans = !(m.layout == MIXLM_KEYS_RING && !m.chunk_region) && rnd(4) == 0;
        int span_id = 0;
        for (int i = 0; i < n; i++) {
            if (rnd(5) == 0) span_id = rnd(2) ? (int)rnd(3) + 1 : 0;
            spans[i] = span_id;
        }
        char label[160];
        snprintf(label, sizeof label, "%s W=%d %s %s%s %s", mixlm_attn_kind_name(m.kind), m.window,
                 m.form ? "bool" : "add", m.layout ? "ring" : "abs", m.chunk_region ? "+region" : "",
                 mixlm_dtype_name(dt));
        total_bad += check_one(&m, dt, p, n, pad, m.bidirectional_spans ? spans : NULL, label);
    }
    CHECK_EQ_INT(total_bad, 0);
}

/* A prompt fed whole, in chunks of 1, 7 and 64 (and a ring contract one token at a time) gives
 * for every query the same set of visible positions. */
static void test_chunk_invariance(void) {
    const int total = 300;
    const int splits[] = {300, 1, 7, 64};
    const mixlm_attn_kind kinds[] = {MIXLM_ATTN_CAUSAL, MIXLM_ATTN_SLIDING, MIXLM_ATTN_CHUNKED};
    for (int ki = 0; ki < 3; ki++) {
        for (int lay = 0; lay < 2; lay++) {
            if (kinds[ki] == MIXLM_ATTN_CAUSAL && lay == 1) continue;
            mixlm_mask_spec m;
            memset(&m, 0, sizeof m);
            m.kind = kinds[ki];
            m.window = kinds[ki] == MIXLM_ATTN_CAUSAL ? 0 : 16;
            m.form = MIXLM_MASK_BOOLEAN;
            m.layout = lay ? MIXLM_KEYS_RING : MIXLM_KEYS_ABSOLUTE;
            m.chunk_region = lay == 1;
            /* seen[split][q] = bitmask of visible positions q-63..q as a canonical set */
            static uint8_t sets[4][300][300];
            memset(sets, 0, sizeof sets);
            for (int si = 0; si < 4; si++) {
                int p = 0;
                while (p < total) {
                    int n = MX_MIN(splits[si], total - p);
                    int64_t kv = mixlm_mask_kv(&m, p, n);
                    uint8_t *buf = malloc((size_t)n * (size_t)kv);
                    mixlm_mask_build(&m, MIXLM_DTYPE_BOOL, p, n, kv, NULL, buf);
                    for (int i = 0; i < n; i++)
                        for (int64_t c = 0; c < kv; c++)
                            if (buf[(size_t)i * (size_t)kv + (size_t)c]) {
                                int64_t k = mixlm_mask_column_position(&m, p, n, c);
                                if (k >= 0 && k < total) sets[si][p + i][k] = 1;
                            }
                    free(buf);
                    p += n;
                }
            }
            int diff = 0;
            for (int si = 1; si < 4; si++) diff += memcmp(sets[0], sets[si], sizeof sets[0]) != 0;
            CHECK_MSG(diff == 0, "%s %s: masks differ between chunk splits",
                      mixlm_attn_kind_name(m.kind), lay ? "ring" : "absolute");
            /* and they equal the rule */
            int bad = 0;
            for (int q = 0; q < total; q++)
                for (int k = 0; k < total; k++)
                    bad += sets[0][q][k] != ref_visible(m.kind, m.window, q, k);
            CHECK_EQ_INT(bad, 0);
        }
    }
    /* A ring without chunk region takes single tokens: the same sets again. */
    mixlm_mask_spec m;
    memset(&m, 0, sizeof m);
    m.kind = MIXLM_ATTN_SLIDING;
    m.window = 16;
    m.form = MIXLM_MASK_BOOLEAN;
    m.layout = MIXLM_KEYS_RING;
    int bad = 0;
    for (int q = 0; q < total; q++) {
        uint8_t buf[16];
        mixlm_mask_build(&m, MIXLM_DTYPE_BOOL, q, 1, 16, NULL, buf);
        for (int c = 0; c < 16; c++) {
            int64_t k = mixlm_mask_column_position(&m, q, 1, c);
            int vis = k >= 0 && ref_visible(m.kind, 16, q, k);
            bad += buf[c] != vis;
        }
        /* every visible position appears in exactly one slot */
        for (int k = 0; k <= q; k++) {
            int found = 0;
            for (int c = 0; c < 16; c++) found += buf[c] && mixlm_mask_column_position(&m, q, 1, c) == k;
            bad += found != ref_visible(m.kind, 16, q, k);
        }
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_bad_requests(void) {
    mixlm_mask_spec m;
    memset(&m, 0, sizeof m);
    m.kind = MIXLM_ATTN_SLIDING;
    m.window = 4;
    m.layout = MIXLM_KEYS_RING;
    float buf[64];
    CHECK_EQ_INT(mixlm_mask_build(&m, MIXLM_DTYPE_F32, 10, 2, 4, NULL, buf), MIXLM_ERR_INVALID_ARG);
    m.layout = MIXLM_KEYS_ABSOLUTE;
    CHECK_EQ_INT(mixlm_mask_build(&m, MIXLM_DTYPE_F32, 10, 2, 11, NULL, buf), MIXLM_ERR_INVALID_ARG);
    CHECK_EQ_INT(mixlm_mask_build(&m, MIXLM_DTYPE_I32, 1, 1, 2, NULL, buf), MIXLM_ERR_INVALID_ARG);
    m.window = 0;
    CHECK_EQ_INT(mixlm_mask_build(&m, MIXLM_DTYPE_F32, 1, 1, 2, NULL, buf), MIXLM_ERR_INVALID_ARG);
}

int main(void) {
    test_predicate();
    test_random();
    test_chunk_invariance();
    test_bad_requests();
    return check_summary("test_contract_masks");
}
