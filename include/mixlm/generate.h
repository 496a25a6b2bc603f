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


/* ---- Generation loop ------------------------------------------------------------------- */

/* Why a generation ended. */
typedef enum mixlm_finish_reason {
    MIXLM_FINISH_NONE = 0,      /* still running (only seen in per-token events) */
    MIXLM_FINISH_EOS,           /* an end-of-sequence id was sampled (its text is not emitted) */
    MIXLM_FINISH_STOP_STRING,   /* a stop string appeared (it and what follows are not emitted) */
    MIXLM_FINISH_LENGTH,        /* max_new_tokens were generated */
    MIXLM_FINISH_CONTEXT_FULL,  /* the state has no room for another token */
    MIXLM_FINISH_CANCELLED      /* the callback returned false or *cancel became nonzero */
} mixlm_finish_reason;

/* "eos", "stop", "length", "context_full", "cancelled" ("" for NONE). */
MIXLM_API const char *mixlm_finish_reason_str(mixlm_finish_reason reason);

#define MIXLM_MAX_STOP_STRINGS 16
#define MIXLM_MAX_STOP_LEN 256   /* bytes of one stop string */
#define MIXLM_MAX_EOS_IDS 16

typedef struct mixlm_gen_params {
    /* Generated tokens at most (the EOS or stop token included); -1 = no limit (until an EOS
     * id, a stop string or a full context). Default -1. */
    int32_t max_new_tokens;
    /* Prompt tokens per mixlm_decode() call during prefill; 0 = the whole prompt in one call
     * (the runtime still splits it as the contract requires). Results do not depend on it.
     * Default 512. */
    int32_t prefill_chunk;
    /* Token ids that end generation (copied; see mixlm_eos_ids()). */
    const int32_t *eos_ids;
    int32_t n_eos_ids;
    /* Strings that end generation, matched on the decoded text across token boundaries
     * (copied, UTF-8, 1..MIXLM_MAX_STOP_LEN bytes each). Needs a tokenizer. */
    const char *const *stop_strings;
    int32_t n_stop_strings;
    bool skip_special;      /* special tokens produce no text (default true) */
    int32_t top_logprobs;   /* -1: no log-probabilities (default); 0..MIXLM_MAX_TOP_LOGPROBS:
                               the chosen token's and this many alternatives' (see
                               mixlm_sampler_params.logprobs_mode) */
    const volatile int *cancel; /* optional: nonzero stops at the next token or prefill chunk */
    /* Optional progress of the prefill, for a display: called with (progress_user, 0, n_prompt)
     * before the first prompt chunk is fed and with (progress_user, done, n_prompt) after each
     * chunk, the last call having done == n_prompt (unless cancelled or failed), before any
     * token is sampled. It runs on the thread that called mixlm_generate(), between executor
     * calls, and must not use the generator or the state. The library itself never prints. */
    void (*prefill_progress)(void *progress_user, int32_t done, int32_t total);
    void *progress_user;
} mixlm_gen_params;

MIXLM_API mixlm_gen_params mixlm_gen_default_params(void);

/* One streamed event. Per generated token (except an EOS token) the callback gets the token, its
 * log-probabilities if asked, and the text that became final with it: valid UTF-8, possibly
 * empty (a character still incomplete, or text held back because it may begin a stop string),
 * possibly text of earlier tokens. A last event (is_final) carries the remaining text and the
 * finish reason. Concatenating every event's text gives the whole output. */
typedef struct mixlm_gen_event {
    int32_t token;                     /* the sampled id; -1 in the final event */
    int32_t index;                     /* its index among the generated tokens */
    const char *text;                  /* not NUL-terminated; valid during the callback */
    size_t len;
    const mixlm_sample_info *logprobs; /* NULL unless params.top_logprobs >= 0 */
    bool is_final;
    mixlm_finish_reason finish;        /* set in the final event */
} mixlm_gen_event;

/* Return false to stop generating (finish reason CANCELLED); the final event still follows. */
typedef bool (*mixlm_gen_callback)(void *user, const mixlm_gen_event *event);

typedef struct mixlm_gen_result {
    mixlm_finish_reason finish;
    int32_t n_prompt;        /* prompt tokens fed */
    int32_t n_generated;     /* tokens sampled, the final EOS or stop token included */
    const int32_t *tokens;   /* those ids; owned by the generator, valid until its next use */
    double prefill_seconds;  /* wall time feeding the prompt */
    double decode_seconds;   /* wall time from the first sampled token to the end */
} mixlm_gen_result;

typedef struct mixlm_generator mixlm_generator;

/* A generator for one executor (and optionally its tokenizer, for text and stop strings; the
 * executor and tokenizer must outlive it). It owns the logits buffer, the detokenizer and the
 * stop-string matcher, so the token loop allocates nothing. One generator serves one
 * generation at a time; it may be reused for many, with any states. */
MIXLM_API mixlm_status mixlm_generator_create(mixlm_executor *ex, const mixlm_tokenizer *tok,
                                              const mixlm_gen_params *params,
                                              mixlm_generator **out);
MIXLM_API void mixlm_generator_free(mixlm_generator *g);

/* Feed prompt[0..n_prompt) to state (at its current position: a chat turn continues the
 * previous one), then sample and feed tokens until a stop rule fires, calling cb (may be NULL)
 * as text becomes available. The sampler's history receives every prompt and generated token.
 * Afterwards the state holds the prompt and every generated token except the last one (the
 * last was sampled, not fed). A prompt that does not fit the context fails with
 * MIXLM_ERR_CONTEXT_FULL before anything is computed; running out of room while generating is
 * the finish reason CONTEXT_FULL, not an error. result may be NULL. */
MIXLM_API mixlm_status mixlm_generate(mixlm_generator *g, mixlm_state *state,
                                      mixlm_sampler *sampler, const int32_t *prompt,
                                      int32_t n_prompt, mixlm_gen_callback cb, void *user,
                                      mixlm_gen_result *result);

/* End-of-sequence ids for a model, deduplicated, at most cap written to ids; returns how many.
 * Sources: generation_config.json `eos_token_id` (a number or a list) in the model folder
 * model_path (skipped for a .gguf file or NULL); the tokenizer's eos and end-of-turn ids
 * (tokenizer_config.json eos_token, GGUF eos_token_id and eot_token_id); the special tokens
 * <eos>, </s>, <|endoftext|>, <|end_of_text|> when the vocabulary has them; with chat, also
 * the special tokens that end a turn in the common chat formats: <end_of_turn> (Gemma),
 * <|eot_id|> and <|eom_id|> (Llama 3), <|im_end|> (Qwen, ChatML), <|return|> and <|call|>
 * (GPT-OSS). tok may be NULL. */
MIXLM_API int32_t mixlm_eos_ids(const char *model_path, const mixlm_tokenizer *tok, bool chat,
                                int32_t *ids, int32_t cap);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_GENERATE_H */
