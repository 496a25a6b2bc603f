/* mixlm/executor.h: the seam between generation and computation. An executor declares its
 * contract and computes one step for a batch of sequences from the inputs the runtime built;
 * mixlm_decode() is the runtime side that builds those inputs from their roles, enforces the
 * ring and context rules, and advances each sequence's state. The native CPU engine is one
 * executor; an application's Core ML / ONNX / accelerator graph is another (see
 * examples/external_executor.c). Included by mixlm.h. */
#ifndef MIXLM_EXECUTOR_H
#define MIXLM_EXECUTOR_H

#ifdef __cplusplus
extern "C" {
#endif

/* One built input: a dense row-major tensor with the contract's dtype and its shape resolved
 * for this step (n, kv, ctx and W replaced by numbers). data is NULL for inputs flagged
 * MIXLM_INPUT_EXECUTOR_EVAL. Owned by the runtime, valid during the step call only. */
typedef struct mixlm_tensor {
    const void *data;
    mixlm_dtype dtype;
    int32_t n_dims;
    int64_t shape[MIXLM_CONTRACT_MAX_DIMS];
    uint64_t nbytes;
} mixlm_tensor;

/* What the executor gets for one sequence of a step. */
typedef struct mixlm_step_seq {
    int32_t seq;               /* index of the sequence in the mixlm_decode() call */
    int64_t pos;               /* position of tokens[0]; tokens are at pos..pos+n_tokens-1 */
    int32_t n_tokens;          /* >= 1 */
    const int32_t *tokens;
    const int32_t *span_ids;   /* NULL, or n_tokens ids (equal nonzero = one bidirectional span) */
    const mixlm_tensor *inputs;/* one per contract input, in contract order */
    void *const *states;       /* one buffer per contract state, in contract order; the
                                  executor reads and writes the caches here */
    const uint64_t *state_bytes; /* their sizes */
    mixlm_state *state;        /* the sequence's state object (for executors that want it) */
    bool logits_all;           /* rows for every new token (only with MIXLM_LOGITS_REQUESTED
                                  or MIXLM_LOGITS_ALL); otherwise one row for the last token */
    float *logits;             /* where to write the rows (n_vocab floats each); NULL = the
                                  runtime needs no logits from this step (an early prefill
                                  chunk): the executor may skip the output projection */
} mixlm_step_seq;

/* The functions an executor provides. `self` is the executor's own object. */
typedef struct mixlm_executor_iface {
    /* The contract (owned by self, alive until destroy). Called once, at create. */
    const mixlm_contract *(*contract)(void *self);
    /* Compute one step for n_seqs sequences (each with its own state and tokens) and write
     * their keys/values into their state buffers. Return MIXLM_OK or an error status with
     * mx/mixlm's last error set (external executors: any message; the runtime adds context). */
    mixlm_status (*step)(void *self, const mixlm_step_seq *seqs, int32_t n_seqs);
    /* Release self (may be NULL). */
    void (*destroy)(void *self);
} mixlm_executor_iface;

typedef struct mixlm_executor mixlm_executor;

/* Wrap an executor: validates its contract (MIXLM_ERR_CONTRACT naming the input the runtime
 * cannot fill). iface is copied. On success *out owns self and mixlm_executor_free() calls
 * iface->destroy(self); on failure the caller still owns self. */
MIXLM_API mixlm_status mixlm_executor_create(const mixlm_executor_iface *iface, void *self,
                                             mixlm_executor **out);
MIXLM_API void mixlm_executor_free(mixlm_executor *ex);
MIXLM_API const mixlm_contract *mixlm_executor_contract(const mixlm_executor *ex);
/* The executor's own object (what was passed to create). */
MIXLM_API void *mixlm_executor_self(const mixlm_executor *ex);

/* One sequence of a decode call. */
typedef struct mixlm_seq {
    mixlm_state *state;        /* made with mixlm_state_create() for this executor's contract */
    const int32_t *tokens;     /* new tokens, fed at mixlm_state_pos(state) onwards */
    int32_t n_tokens;          /* >= 1 */
    const int32_t *span_ids;   /* NULL or n_tokens ids; a span is never split across steps */
    bool logits_all;           /* logits for every token (else only for the last) */
    float *logits;             /* caller-owned: n_vocab floats, or n_tokens * n_vocab with
                                  logits_all; NULL = no logits wanted */
} mixlm_seq;

/* Feed every sequence its new tokens and compute logits. For each sequence the runtime checks
 * room (MIXLM_ERR_CONTEXT_FULL when a full cache or a ctx-long input cannot hold the tokens;
 * nothing is computed then), splits the tokens into steps the contract allows (single-token
 * steps for ring contracts without chunk region, max_step, one-row logits executors asked for
 * every row), builds every declared input from its role, calls the executor once per round
 * with all sequences that still have tokens, and advances each state's position. On failure
 * states keep the position of the last completed step.
 * One decode call at a time per executor: the executor handle keeps the built inputs in
 * buffers it reuses (so that the token loop does not allocate); a server that serves many
 * sequences batches them into one call. */
MIXLM_API mixlm_status mixlm_decode(mixlm_executor *ex, mixlm_seq *seqs, int32_t n_seqs);

/* Build input `index` of `contract` for one step into out (resolved shape, dtype) using
 * buf/buf_cap bytes of caller memory. For executors and tests that build inputs themselves;
 * mixlm_decode() uses the same code. MIXLM_ERR_NOMEM when buf_cap is too small (*needed says
 * how much). */
MIXLM_API mixlm_status mixlm_input_build(const mixlm_contract *contract, int32_t index,
                                         int64_t pos, int32_t n_tokens, const int32_t *tokens,
                                         const int32_t *span_ids, void *buf, uint64_t buf_cap,
                                         uint64_t *needed, mixlm_tensor *out);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_EXECUTOR_H */
