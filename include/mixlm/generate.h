/* mixlm/generate.h: logits processors, the seeded sampler and (on top of the executor
 * interface) the generation loop with stop rules and streaming. Included by mixlm.h.
 *
 * The order and meaning of the processors follow Hugging Face transformers' generate():
 *   logit bias -> repetition penalty -> presence/frequency penalties
 *   -> temperature -> top-k -> top-p -> min-p -> typical-p -> draw.
 * Greedy decoding (temperature <= 0) applies the first three and takes the argmax.
 * docs/sampling.md states every difference from transformers and OpenAI. */
#ifndef MIXLM_GENERATE_H
#define MIXLM_GENERATE_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Sampler --------------------------------------------------------------------------- */

/* Most alternatives a sampler reports per token (OpenAI allows 20). */
#define MIXLM_MAX_TOP_LOGPROBS 32

/* Which distribution log-probabilities describe. */
typedef enum mixlm_logprobs_mode {
    /* log_softmax of the logits exactly as the executor returned them: the model's own
     * distribution, independent of every sampling setting (the default). */
    MIXLM_LOGPROBS_RAW = 0,
    /* log_softmax of the scores after every processor (bias, penalties, temperature,
     * truncation): the distribution the token was actually drawn from. Truncated tokens have
     * probability 0 and are never listed among the alternatives. */
    MIXLM_LOGPROBS_PROCESSED = 1
} mixlm_logprobs_mode;

typedef struct mixlm_logit_bias {
    int32_t token;
    float bias; /* added to the token's logit; -INFINITY forbids the token */
} mixlm_logit_bias;

typedef struct mixlm_sampler_params {
    float temperature;        /* <= 0: greedy (argmax). 1: unchanged. Default 1 */
    int32_t top_k;            /* keep the k highest (ties with the k-th kept); 0 = off */
    float top_p;              /* nucleus mass in (0, 1]; 1 = off */
    float min_p;              /* keep p >= min_p * p_max, in [0, 1]; 0 = off */
    float typical_p;          /* locally typical mass in (0, 1]; 1 = off */
    int32_t min_tokens_to_keep; /* every truncation keeps at least this many; default 1 */
    float repetition_penalty; /* HF/CTRL: seen logits l>0 -> l/r, l<0 -> l*r; 1 = off */
    float presence_penalty;   /* OpenAI: l -= presence if the token was seen; 0 = off */
    float frequency_penalty;  /* OpenAI: l -= frequency * count; 0 = off */
    /* Which accepted tokens the three penalties look at: the last N (N > 0), all of them
     * (-1, transformers' behaviour), or none (0). Default -1. */
    int32_t penalty_window;
    const mixlm_logit_bias *logit_bias; /* copied by mixlm_sampler_create; may be NULL */
    size_t n_logit_bias;
    uint64_t seed;            /* the same seed and logits give the same tokens everywhere */
    /* Log-probabilities (mixlm_sample_info): which distribution they describe. */
    mixlm_logprobs_mode logprobs_mode;
} mixlm_sampler_params;

/* The neutral settings: temperature 1, no truncation, no penalties, seed 0. */
MIXLM_API mixlm_sampler_params mixlm_sampler_default_params(void);

typedef struct mixlm_sampler mixlm_sampler;

/* Create a sampler for a vocabulary of n_vocab logits. All scratch memory is allocated here;
 * sampling a token allocates nothing. Invalid settings (top_p outside (0,1], a bias token out
 * of range, ...) fail with MIXLM_ERR_INVALID_ARG and a message naming the setting. */
MIXLM_API mixlm_status mixlm_sampler_create(int32_t n_vocab, const mixlm_sampler_params *params,
                                            mixlm_sampler **out);
MIXLM_API void mixlm_sampler_free(mixlm_sampler *sampler);

/* Forget the penalty history and restart the random stream from params.seed. */
MIXLM_API void mixlm_sampler_reset(mixlm_sampler *sampler);
/* Restart the random stream from seed (the history is kept). */
MIXLM_API void mixlm_sampler_set_seed(mixlm_sampler *sampler, uint64_t seed);

/* Add a token to the penalty history. The generation loop calls this for each prompt token
 * (transformers penalises the prompt too) and for each generated token; sampling does not add
 * the chosen token by itself. A token outside the vocabulary is ignored (INVALID_ARG). */
MIXLM_API mixlm_status mixlm_sampler_accept(mixlm_sampler *sampler, int32_t token);

/* Run every processor over logits[n_vocab] and write the resulting scores to
 * scores[n_vocab]: processed logits, -INFINITY where a token was removed. This is what
 * mixlm_sampler_sample draws from (it is the HF LogitsProcessorList output). NaN logits count
 * as -INFINITY and +INFINITY as the largest float. Fails when every token is removed. */
MIXLM_API mixlm_status mixlm_sampler_apply(mixlm_sampler *sampler, const float *logits,
                                           float *scores);

typedef struct mixlm_token_logprob {
    int32_t token;
    float logprob;
} mixlm_token_logprob;

/* Log-probabilities of one sampled token (see mixlm_logprobs_mode). */
typedef struct mixlm_sample_info {
    int32_t n_top;      /* in: how many alternatives to report, 0..MIXLM_MAX_TOP_LOGPROBS */
    float logprob;      /* out: log-probability of the chosen token */
    int32_t n_top_out;  /* out: alternatives written (fewer than n_top when fewer remain) */
    mixlm_token_logprob top[MIXLM_MAX_TOP_LOGPROBS]; /* out: highest first, ties by lower id */
} mixlm_sample_info;

/* Choose the next token from logits[n_vocab]. The draw uses the sampler's own generator
 * (xoshiro256**), so a seed gives the same tokens on every run, machine and thread count
 * (given the same logits). info may be NULL; when given, its n_top is read and the
 * log-probabilities are written. */
MIXLM_API mixlm_status mixlm_sampler_sample(mixlm_sampler *sampler, const float *logits,
                                            int32_t *token, mixlm_sample_info *info);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_GENERATE_H */
