/* sampler.c: logits processors (bias, repetition/presence/frequency penalties, temperature,
 * top-k, top-p, min-p, typical-p) and the seeded draw, allocation-free per token.
 *
 * Semantics follow Hugging Face transformers' LogitsProcessor classes and the order in which
 * generate() applies them; docs/sampling.md lists every difference. Probabilities are computed
 * in double with the deterministic mx_det_exp/mx_det_log, so a seed gives identical tokens everywhere.
 *
 * Working representation: `work[n_vocab]` holds the processed scores (float, like HF's
 * float32 scores; -inf = removed). The truncating warpers need the tokens in score order, so the
 * first of them builds `cand[0..n_cand)`: the surviving token ids sorted by score descending,
 * ties by lower id (a stable radix sort of the ids taken in increasing order). Each truncation
 * then shortens or filters that list and writes -inf into `work` for what it removed. */
#include "generate/gen_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Largest vocabulary accepted (today's largest is ~262k; this leaves room and bounds memory). */
#define MX_MAX_VOCAB (1 << 26)
/* Largest penalty window (tokens). */
#define MX_MAX_PENALTY_WINDOW (1 << 24)
/* Candidate prefilter (build_candidates): histogram bins and the size from which it pays. */
#define MX_BINS 65536
#define MX_PREFILTER_MIN 8192

struct mixlm_sampler {
    int32_t n_vocab;
    mixlm_sampler_params p;
    mixlm_logit_bias *bias; /* owned copy of p.logit_bias */
    mx_rng rng;

    float *work;         /* [n_vocab] processed scores */
    uint32_t *cand;      /* [n_vocab] candidate ids, score descending */
    uint32_t *cand_tmp;  /* [n_vocab] radix/merge scratch */
    uint32_t *key;       /* [n_vocab] radix keys / merge indices */
    uint32_t *key_tmp;   /* [n_vocab] */
    double *prob;        /* [n_vocab] unnormalised probabilities */
    double *shift;       /* [n_vocab] typical-p: |-log p - H| per candidate */
    int32_t n_cand;
    int have_cand;       /* cand[] is valid for the current step */
    int32_t n_prob;      /* prob[0..n_prob) = exp(score - top score) of cand[0..n_prob) */
    double mass_below;   /* top-p prefilter: weight of the dropped low tail */
    double mass_total;   /* top-p prefilter: weight of every finite token (0: no prefilter) */
    uint32_t *bin_count; /* [MX_BINS] prefilter histograms, only for large vocabularies */
    double *bin_mass;    /* [MX_BINS] */
    double log_min_p;    /* log(min_p), computed once */

    uint32_t *count;     /* [n_vocab] occurrences inside the penalty window */
    int32_t *ring;       /* [penalty_window] when the window is finite */
    int32_t ring_cap, ring_len, ring_head;
};

mixlm_sampler_params mixlm_sampler_default_params(void) {
    mixlm_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.typical_p = 1.0f;
    p.min_tokens_to_keep = 1;
    p.repetition_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.penalty_window = -1;
    p.logit_bias = NULL;
    p.n_logit_bias = 0;
    p.seed = 0;
    p.logprobs_mode = MIXLM_LOGPROBS_RAW;
    return p;
}

/* ====================================================================================== */
/* Create / free / history                                                                */
/* ====================================================================================== */

static mixlm_status check_params(int32_t n_vocab, const mixlm_sampler_params *p) {
    if (n_vocab < 1 || n_vocab > MX_MAX_VOCAB)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: vocabulary size %d out of range", (int)n_vocab);
    if (isnan(p->temperature))
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: temperature is NaN");
    if (p->top_k < 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: top_k %d must be >= 0", (int)p->top_k);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: top_p %g must be in [0, 1]", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: min_p %g must be in [0, 1]", (double)p->min_p);
    if (!(p->typical_p > 0.0f && p->typical_p <= 1.0f))
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: typical_p %g must be in (0, 1]",
                      (double)p->typical_p);
    if (p->min_tokens_to_keep < 1)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: min_tokens_to_keep %d must be >= 1",
                      (int)p->min_tokens_to_keep);
    if (!(p->repetition_penalty > 0.0f) || isinf(p->repetition_penalty))
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: repetition_penalty %g must be > 0",
                      (double)p->repetition_penalty);
    if (!isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty))
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: presence/frequency penalty must be finite");
    if (p->penalty_window < -1 || p->penalty_window > MX_MAX_PENALTY_WINDOW)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: penalty_window %d must be -1, 0 or up to %d",
                      (int)p->penalty_window, MX_MAX_PENALTY_WINDOW);
    if (p->n_logit_bias > 0 && !p->logit_bias)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: n_logit_bias %zu with no logit_bias array",
                      p->n_logit_bias);
    for (size_t i = 0; i < p->n_logit_bias; i++) {
        const mixlm_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || b->token >= n_vocab)
            return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: logit bias token %d outside the vocabulary (%d)",
                          (int)b->token, (int)n_vocab);
        if (isnan(b->bias) || b->bias == INFINITY)
            return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: logit bias for token %d must be a number or -inf",
                          (int)b->token);
    }
    if (p->logprobs_mode != MIXLM_LOGPROBS_RAW && p->logprobs_mode != MIXLM_LOGPROBS_PROCESSED)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: unknown logprobs mode %d", (int)p->logprobs_mode);
    return MIXLM_OK;
}

mixlm_status mixlm_sampler_create(int32_t n_vocab, const mixlm_sampler_params *params,
                                  mixlm_sampler **out) {
    if (!out) return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: NULL output");
    *out = NULL;
    mixlm_sampler_params p = params ? *params : mixlm_sampler_default_params();
    mixlm_status st = check_params(n_vocab, &p);
    if (st != MIXLM_OK) return st;

    mixlm_sampler *s = mx_calloc(1, sizeof *s);
    if (!s) return MIXLM_ERR_NOMEM;
    size_t v = (size_t)n_vocab;
    s->n_vocab = n_vocab;
    s->work = mx_malloc(v * sizeof *s->work);
    s->cand = mx_malloc(v * sizeof *s->cand);
    s->cand_tmp = mx_malloc(v * sizeof *s->cand_tmp);
    s->key = mx_malloc(v * sizeof *s->key);
    s->key_tmp = mx_malloc(v * sizeof *s->key_tmp);
    s->prob = mx_malloc(v * sizeof *s->prob);
    s->shift = p.typical_p < 1.0f ? mx_malloc(v * sizeof *s->shift) : NULL;
    s->count = mx_calloc(v, sizeof *s->count);
    if (p.penalty_window > 0) {
        s->ring_cap = p.penalty_window;
        s->ring = mx_malloc((size_t)p.penalty_window * sizeof *s->ring);
    }
    if (n_vocab > MX_PREFILTER_MIN) {
        s->bin_count = mx_malloc(MX_BINS * sizeof *s->bin_count);
        s->bin_mass = mx_malloc(MX_BINS * sizeof *s->bin_mass);
        if (!s->bin_count || !s->bin_mass) {
            mixlm_sampler_free(s);
            return MIXLM_ERR_NOMEM;
        }
    }
    if (p.n_logit_bias) {
        s->bias = mx_malloc(p.n_logit_bias * sizeof *s->bias);
        if (s->bias) memcpy(s->bias, p.logit_bias, p.n_logit_bias * sizeof *s->bias);
    }
    if (!s->work || !s->cand || !s->cand_tmp || !s->key || !s->key_tmp || !s->prob || !s->count ||
        (p.typical_p < 1.0f && !s->shift) || (p.penalty_window > 0 && !s->ring) ||
        (p.n_logit_bias && !s->bias)) {
        mixlm_sampler_free(s);
        return MIXLM_ERR_NOMEM;
    }
    p.logit_bias = s->bias;
    s->p = p;
    s->log_min_p = p.min_p > 0.0f ? mx_det_log((double)p.min_p) : -INFINITY;
    mx_rng_seed(&s->rng, p.seed);
    *out = s;
    return MIXLM_OK;
}

void mixlm_sampler_free(mixlm_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cand);
    free(s->cand_tmp);
    free(s->key);
    free(s->key_tmp);
    free(s->prob);
    free(s->shift);
    free(s->count);
    free(s->ring);
    free(s->bias);
    free(s->bin_count);
    free(s->bin_mass);
    free(s);
}

void mixlm_sampler_reset(mixlm_sampler *s) {
    if (!s) return;
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    s->ring_len = s->ring_head = 0;
    mx_rng_seed(&s->rng, s->p.seed);
}

void mixlm_sampler_set_seed(mixlm_sampler *s, uint64_t seed) {
    if (!s) return;
    s->p.seed = seed;
    mx_rng_seed(&s->rng, seed);
}

mixlm_status mixlm_sampler_accept(mixlm_sampler *s, int32_t token) {
    if (!s) return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: NULL sampler");
    if (token < 0 || token >= s->n_vocab)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: token %d outside the vocabulary (%d)",
                      (int)token, (int)s->n_vocab);
    if (s->p.penalty_window == 0) return MIXLM_OK;
    if (s->p.penalty_window > 0) {
        if (s->ring_len == s->ring_cap) {
            int32_t old = s->ring[s->ring_head];
            s->count[old]--;
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % s->ring_cap;
        } else {
            s->ring[(s->ring_head + s->ring_len) % s->ring_cap] = token;
            s->ring_len++;
        }
    }
    if (s->count[token] != UINT32_MAX) s->count[token]++;
    return MIXLM_OK;
}

/* ====================================================================================== */
/* Processors                                                                             */
/* ====================================================================================== */

/* NaN -> -inf (never chosen), +inf -> FLT_MAX (so that max-subtraction stays finite). */
static inline float sanitize(float x) {
    if (x != x) return -INFINITY;
    if (x == INFINITY) return FLT_MAX;
    return x;
}

static void sanitize_all(float *w, int32_t n) {
    for (int32_t i = 0; i < n; i++) w[i] = sanitize(w[i]);
}

/* Logit bias: transformers' SequenceBiasLogitsProcessor for one-token sequences, and
 * OpenAI's logit_bias; first in the chain, as in generate(). */
static void apply_bias(mixlm_sampler *s) {
    for (size_t i = 0; i < s->p.n_logit_bias; i++) s->work[s->bias[i].token] += s->bias[i].bias;
}

/* RepetitionPenaltyLogitsProcessor (CTRL): once per distinct seen token, divide a positive
 * logit and multiply a negative one. Then OpenAI's presence and frequency penalties:
 * l -= count * frequency + (count > 0) * presence. */
static void apply_penalties(mixlm_sampler *s) {
    const mixlm_sampler_params *p = &s->p;
    int rep = p->repetition_penalty != 1.0f;
    int openai = p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f;
    if (p->penalty_window == 0 || (!rep && !openai)) return;
    float r = p->repetition_penalty;
    for (int32_t t = 0; t < s->n_vocab; t++) {
        uint32_t c = s->count[t];
        if (!c) continue;
        float l = s->work[t];
        if (rep) l = l < 0 ? l * r : l / r;
        if (openai) l -= (float)c * p->frequency_penalty + p->presence_penalty;
        s->work[t] = l;
    }
}

/* Sort key that orders floats descending when sorted ascending as unsigned integers.
 * -0 is folded into +0 so that the two compare equal, as they do as floats. */
static inline uint32_t desc_key(float f) {
    if (f == 0.0f) f = 0.0f;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}

static inline int32_t at_least(int32_t n, int32_t floor_) { return n < floor_ ? floor_ : n; }

/* Sort cand[0..n) by score descending, ties by lower id: an LSD radix sort (stable, 4 passes
 * of 8 bits, passes where every key shares the digit skipped), linear in n and independent of
 * any libc qsort. The input is in increasing id order, so stability gives the tie order. */
static void sort_candidates(mixlm_sampler *s, int32_t n) {
    uint32_t *k = s->key, *kt = s->key_tmp, *c = s->cand, *ct = s->cand_tmp;
    for (int32_t i = 0; i < n; i++) k[i] = desc_key(s->work[c[i]]);
    for (int shift = 0; shift < 32; shift += 8) {
        size_t hist[256] = {0};
        for (int32_t i = 0; i < n; i++) hist[(k[i] >> shift) & 255u]++;
        if (hist[(k[0] >> shift) & 255u] == (size_t)n) continue;
        size_t pos = 0;
        for (int b = 0; b < 256; b++) {
            size_t h = hist[b];
            hist[b] = pos;
            pos += h;
        }
        for (int32_t i = 0; i < n; i++) {
            size_t d = hist[(k[i] >> shift) & 255u]++;
            kt[d] = k[i];
            ct[d] = c[i];
        }
        uint32_t *t = k; k = kt; kt = t;
        t = c; c = ct; ct = t;
    }
    if (c != s->cand) memcpy(s->cand, c, (size_t)n * sizeof *c);
}

/* Collect the finite tokens whose key's top 16 bits are <= max_bin (all when max_bin is
 * 0xFFFF), in increasing id order; the others are removed (-inf), as the truncation that
 * follows would remove them. */
static int32_t collect(mixlm_sampler *s, uint32_t max_bin) {
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float w = s->work[i];
        if (w == -INFINITY) continue;
        if ((desc_key(w) >> 16) <= max_bin) s->cand[n++] = (uint32_t)i;
        else s->work[i] = -INFINITY;
    }
    return n;
}

/* Build cand[]: the tokens that can survive the first truncation, sorted by score.
 *
 * Sorting a 262k vocabulary for every token costs milliseconds, and the first truncation
 * usually keeps a handful, so large vocabularies are first bucketed by the top 16 bits of the
 * sort key (65536 bins, each a narrow score range). top-k needs only the bins up to the one
 * holding the k-th score; top-p only the bins above the low tail whose whole mass is within
 * 1 - top_p (that tail's mass is remembered so the exact cut inside the boundary bin sees the
 * same cumulative sums); min-p only the scores above its threshold. Tokens outside these bins
 * are removed by that first truncation in any case, so the result is the same as sorting
 * everything. */
static mixlm_status build_candidates(mixlm_sampler *s) {
    const mixlm_sampler_params *p = &s->p;
    s->mass_below = 0.0;
    s->mass_total = 0.0;
    s->have_cand = 1;
    s->n_prob = 0;
    int32_t n_finite = 0;
    float mxf = -INFINITY;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float w = s->work[i];
        if (w != -INFINITY) {
            n_finite++;
            if (w > mxf) mxf = w;
        }
    }
    if (n_finite == 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: every token was removed (logit bias or -inf logits)");
    int32_t n = -1;
    int32_t keep_min = p->min_tokens_to_keep;
    int32_t k = at_least(p->top_k, keep_min);
    if (s->bin_count && n_finite > MX_PREFILTER_MIN) {
        if (p->top_k > 0 && k < n_finite) {
            memset(s->bin_count, 0, MX_BINS * sizeof *s->bin_count);
            for (int32_t i = 0; i < s->n_vocab; i++)
                if (s->work[i] != -INFINITY) s->bin_count[desc_key(s->work[i]) >> 16]++;
            uint32_t b = 0, cum = 0;
            for (; b < MX_BINS; b++) {
                cum += s->bin_count[b];
                if (cum >= (uint32_t)k) break;
            }
            n = collect(s, b);
        } else if (p->top_p < 1.0f) {
            double mx = (double)mxf;
            memset(s->bin_mass, 0, MX_BINS * sizeof *s->bin_mass);
            memset(s->bin_count, 0, MX_BINS * sizeof *s->bin_count);
            for (int32_t i = 0; i < s->n_vocab; i++)
                if (s->work[i] != -INFINITY) {
                    uint32_t bin = desc_key(s->work[i]) >> 16;
                    s->bin_mass[bin] += mx_det_exp((double)s->work[i] - mx);
                    s->bin_count[bin]++;
                }
            double z = 0.0;
            for (int32_t b = MX_BINS - 1; b >= 0; b--) z += s->bin_mass[b];
            double limit = 1.0 - (double)p->top_p, acc = 0.0;
            int32_t b = MX_BINS - 1;
            for (; b > 0; b--) {
                if (s->bin_mass[b] == 0.0) continue;
                if ((acc + s->bin_mass[b]) / z <= limit) acc += s->bin_mass[b];
                else break;
            }
            uint32_t kept = 0;
            for (int32_t c = 0; c <= b; c++) kept += s->bin_count[c];
            if (kept >= (uint32_t)keep_min) { /* else min_tokens_to_keep needs the tail */
                n = collect(s, (uint32_t)b);
                s->mass_below = acc;
                s->mass_total = z;
            }
        } else if (p->min_p > 0.0f) {
            double mx = (double)mxf;
            n = 0;
            for (int32_t i = 0; i < s->n_vocab; i++)
                if (s->work[i] != -INFINITY && (double)s->work[i] - mx >= s->log_min_p)
                    s->cand[n++] = (uint32_t)i;
            if (n < keep_min) {
                n = -1;
            } else {
                for (int32_t i = 0; i < s->n_vocab; i++)
                    if (s->work[i] != -INFINITY && (double)s->work[i] - mx < s->log_min_p)
                        s->work[i] = -INFINITY;
            }
        }
    }
    if (n < 0) n = collect(s, 0xFFFFu);
    sort_candidates(s, n);
    s->n_cand = n;
    return MIXLM_OK;
}

/* Keep cand[0..keep) and write -inf for the removed suffix. */
static void truncate_to(mixlm_sampler *s, int32_t keep) {
    if (keep >= s->n_cand) return;
    for (int32_t i = keep; i < s->n_cand; i++) s->work[s->cand[i]] = -INFINITY;
    s->n_cand = keep;
    if (s->n_prob > keep) s->n_prob = keep; /* the prefix's weights stay valid */
}

/* TopKLogitsWarper: remove scores < the k-th highest (ties with it survive),
 * k = max(top_k, min_tokens_to_keep). */
static void apply_top_k(mixlm_sampler *s) {
    int32_t k = at_least(s->p.top_k, s->p.min_tokens_to_keep);
    if (k >= s->n_cand) return;
    float thr = s->work[s->cand[k - 1]];
    int32_t keep = k;
    while (keep < s->n_cand && s->work[s->cand[keep]] >= thr) keep++;
    truncate_to(s, keep);
}

/* prob[i] = exp(score_i - score_max) for the candidates, in candidate order; returns the sum
 * accumulated from the lowest score up (the order of HF's ascending cumsum). */
static double candidate_weights(mixlm_sampler *s) {
    double mx = (double)s->work[s->cand[0]];
    for (int32_t i = s->n_prob; i < s->n_cand; i++)
        s->prob[i] = mx_det_exp((double)s->work[s->cand[i]] - mx);
    s->n_prob = s->n_cand;
    double z = 0.0;
    for (int32_t i = s->n_cand - 1; i >= 0; i--) z += s->prob[i];
    return z;
}

/* TopPLogitsWarper: with the scores sorted ascending and cumulative probabilities c_i
 * (token i included), remove every token with c_i <= 1 - top_p, keeping the
 * min_tokens_to_keep highest. The removed tokens form the low-score end of the list. */
static void apply_top_p(mixlm_sampler *s) {
    double z = candidate_weights(s);
    double limit = 1.0 - (double)s->p.top_p;
    double acc = 0.0;
    if (s->mass_total > 0.0) { /* the candidates were prefiltered: start above the dropped tail */
        z = s->mass_total;
        acc = s->mass_below;
    }
    int32_t cut = s->n_cand;
    for (int32_t i = s->n_cand - 1; i >= 0; i--) {
        acc += s->prob[i];
        if (acc / z <= limit) cut = i;
        else break;
    }
    truncate_to(s, at_least(cut, s->p.min_tokens_to_keep));
}

/* MinPLogitsWarper: remove p_i < min_p * p_max, i.e. l_i - l_max < log(min_p), keeping the
 * min_tokens_to_keep highest. */
static void apply_min_p(mixlm_sampler *s) {
    double mx = (double)s->work[s->cand[0]];
    int32_t cut = s->n_cand;
    for (int32_t i = 1; i < s->n_cand; i++) {
        if ((double)s->work[s->cand[i]] - mx < s->log_min_p) {
            cut = i;
            break;
        }
    }
    truncate_to(s, at_least(cut, s->p.min_tokens_to_keep));
}

/* Stable bottom-up merge sort of positions a[0..n) by v[pos] ascending. */
static void merge_sort_by(uint32_t *a, uint32_t *tmp, int32_t n, const double *v) {
    uint32_t *src = a, *dst = tmp;
    for (int32_t w = 1; w < n; w *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * w) {
            int32_t mid = lo + w < n ? lo + w : n;
            int32_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            int32_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = v[src[j]] < v[src[i]] ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        uint32_t *t = src; src = dst; dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

/* TypicalLogitsWarper (Meister et al. 2022): rank tokens by |-log p_i - H| ascending, find the
 * first rank whose cumulative probability reaches typical_p, and remove every token whose
 * distance is greater than that rank's (ties survive), keeping the min_tokens_to_keep
 * first-ranked. Survivors keep their score order. */
static void apply_typical(mixlm_sampler *s) {
    int32_t n = s->n_cand;
    double z = candidate_weights(s);
    double mx = (double)s->work[s->cand[0]];
    double log_z = mx_det_log(z);
    double ent = 0.0;
    for (int32_t i = 0; i < n; i++) {
        double logp = ((double)s->work[s->cand[i]] - mx) - log_z;
        ent -= (s->prob[i] / z) * logp;
    }
    for (int32_t i = 0; i < n; i++) {
        double logp = ((double)s->work[s->cand[i]] - mx) - log_z;
        s->shift[i] = fabs(-logp - ent);
    }
    uint32_t *order = s->key;
    for (int32_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    merge_sort_by(order, s->key_tmp, n, s->shift);
    double mass = (double)s->p.typical_p, acc = 0.0;
    int32_t last = 0;
    while (last < n) {
        acc += s->prob[order[last]] / z;
        if (!(acc < mass)) break;
        last++;
    }
    if (last > n - 1) last = n - 1;
    double thr = s->shift[order[last]];
    int32_t keep_first = s->p.min_tokens_to_keep;
    for (int32_t r = 0; r < n; r++)
        if (r >= keep_first && s->shift[order[r]] > thr) s->work[s->cand[order[r]]] = -INFINITY;
    uint32_t old_top = s->cand[0];
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (s->work[s->cand[i]] != -INFINITY) {
            s->prob[m] = s->prob[i];
            s->cand[m++] = s->cand[i];
        }
    s->n_cand = m;
    /* The weights stay valid (compacted with the ids) while they are relative to the top score;
     * typical-p may remove the most likely token, and then they are recomputed. */
    s->n_prob = s->cand[0] == old_top ? m : 0;
}

static int is_greedy(const mixlm_sampler *s) { return !(s->p.temperature > 0.0f); }

/* The whole chain into s->work (and s->cand when a truncation ran). */
static mixlm_status process(mixlm_sampler *s, const float *logits) {
    const mixlm_sampler_params *p = &s->p;
    s->have_cand = 0;
    memcpy(s->work, logits, (size_t)s->n_vocab * sizeof *s->work);
    sanitize_all(s->work, s->n_vocab);
    apply_bias(s);
    apply_penalties(s);
    sanitize_all(s->work, s->n_vocab);
    if (is_greedy(s)) return MIXLM_OK;
    if (p->temperature != 1.0f) {
        for (int32_t i = 0; i < s->n_vocab; i++) s->work[i] /= p->temperature;
        sanitize_all(s->work, s->n_vocab);
    }
    int truncating = p->top_k > 0 || p->top_p < 1.0f || p->min_p > 0.0f || p->typical_p < 1.0f;
    if (!truncating) return MIXLM_OK;
    mixlm_status st = build_candidates(s);
    if (st != MIXLM_OK) return st;
    if (p->top_k > 0) apply_top_k(s);
    if (p->top_p < 1.0f) apply_top_p(s);
    if (p->min_p > 0.0f) apply_min_p(s);
    if (p->typical_p < 1.0f) apply_typical(s);
    return MIXLM_OK;
}

mixlm_status mixlm_sampler_apply(mixlm_sampler *s, const float *logits, float *scores) {
    if (!s || !logits || !scores) return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: NULL argument");
    mixlm_status st = process(s, logits);
    if (st != MIXLM_OK) return st;
    int any = 0;
    for (int32_t i = 0; i < s->n_vocab && !any; i++) any = s->work[i] != -INFINITY;
    if (!any)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: every token was removed (logit bias or -inf logits)");
    memcpy(scores, s->work, (size_t)s->n_vocab * sizeof *scores);
    return MIXLM_OK;
}

/* ====================================================================================== */
/* Draw and log-probabilities                                                             */
/* ====================================================================================== */

static int32_t argmax(const float *w, int32_t n) {
    int32_t best = -1;
    float bv = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (w[i] > bv) {
            bv = w[i];
            best = i;
        }
    return best;
}

/* Inverse-CDF draw: one uniform u in [0,1), walk the weights in a fixed order (candidates in
 * score order, or ids in increasing order) until the running sum passes u * total. */
static int32_t draw(mixlm_sampler *s) {
    double u = mx_rng_uniform(&s->rng);
    if (s->have_cand) {
        candidate_weights(s);
        double z = 0.0;
        for (int32_t i = 0; i < s->n_cand; i++) z += s->prob[i];
        double target = u * z, acc = 0.0;
        for (int32_t i = 0; i < s->n_cand; i++) {
            acc += s->prob[i];
            if (target < acc) return (int32_t)s->cand[i];
        }
        return (int32_t)s->cand[0]; /* unreachable unless rounding; the mode is a safe answer */
    }
    int32_t best = argmax(s->work, s->n_vocab);
    if (best < 0) return -1;
    double mx = (double)s->work[best], z = 0.0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        s->prob[i] = mx_det_exp((double)s->work[i] - mx);
        z += s->prob[i];
    }
    double target = u * z, acc = 0.0;
    int32_t last = best;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        if (s->prob[i] == 0.0) continue;
        acc += s->prob[i];
        last = i;
        if (target < acc) return i;
    }
    return last;
}

/* log_softmax over v[0..n) (sanitised on the fly) for one token plus the n_top highest. */
static void fill_logprobs(const float *v, int32_t n, int32_t token, mixlm_sample_info *info) {
    double mx = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        double x = (double)sanitize(v[i]);
        if (x > mx) mx = x;
    }
    double z = 0.0;
    for (int32_t i = 0; i < n; i++) z += mx_det_exp((double)sanitize(v[i]) - mx);
    double log_z = mx_det_log(z);
    info->logprob = (float)(((double)sanitize(v[token]) - mx) - log_z);

    int32_t want = info->n_top;
    if (want < 0) want = 0;
    if (want > MIXLM_MAX_TOP_LOGPROBS) want = MIXLM_MAX_TOP_LOGPROBS;
    int32_t m = 0;
    float topv[MIXLM_MAX_TOP_LOGPROBS];
    for (int32_t i = 0; i < n && want > 0; i++) {
        float x = sanitize(v[i]);
        if (x == -INFINITY) continue;
        if (m == want && !(x > topv[m - 1])) continue;
        int32_t pos = m < want ? m : want - 1;
        while (pos > 0 && topv[pos - 1] < x) {
            topv[pos] = topv[pos - 1];
            info->top[pos] = info->top[pos - 1];
            pos--;
        }
        topv[pos] = x;
        info->top[pos].token = i;
        if (m < want) m++;
    }
    for (int32_t i = 0; i < m; i++)
        info->top[i].logprob = (float)(((double)topv[i] - mx) - log_z);
    info->n_top_out = m;
}

mixlm_status mixlm_sampler_sample(mixlm_sampler *s, const float *logits, int32_t *token,
                                  mixlm_sample_info *info) {
    if (!s || !logits || !token) return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: NULL argument");
    mixlm_status st = process(s, logits);
    if (st != MIXLM_OK) return st;
    int32_t t = is_greedy(s) ? argmax(s->work, s->n_vocab) : draw(s);
    if (t < 0)
        return mx_err(MIXLM_ERR_INVALID_ARG, "sampler: every token was removed (logit bias or -inf logits)");
    *token = t;
    if (info) {
        if (s->p.logprobs_mode == MIXLM_LOGPROBS_PROCESSED) fill_logprobs(s->work, s->n_vocab, t, info);
        else fill_logprobs(logits, s->n_vocab, t, info);
    }
    return MIXLM_OK;
}
