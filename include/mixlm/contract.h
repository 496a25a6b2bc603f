/* mixlm/contract.h: the model contract as data: every input an executor wants (name, role,
 * dtype, shape, role parameters), every state (KV cache) it keeps, and its logits output;
 * plus the attention-mask rules of SPEC.md section 3 as public builders. Included by mixlm.h.
 *
 * The runtime above the executor never hard-codes an input name: it reads each input's role
 * here and builds the tensor from it (docs/contract.md explains the design and the JSON file
 * format an application ships beside an external model). */
#ifndef MIXLM_CONTRACT_H
#define MIXLM_CONTRACT_H

#ifdef __cplusplus
extern "C" {
#endif

#define MIXLM_CONTRACT_MAX_DIMS 8
#define MIXLM_CONTRACT_NAME_MAX 64     /* bytes of a name including the NUL */
#define MIXLM_CONTRACT_MAX_LAYERS 1024 /* layers one state declaration may list */
#define MIXLM_CONTRACT_MAX_INPUTS 64
#define MIXLM_CONTRACT_MAX_STATES 64

/* ---- Element types ------------------------------------------------------------------------ */

typedef enum mixlm_dtype {
    MIXLM_DTYPE_F32 = 0,
    MIXLM_DTYPE_F16,
    MIXLM_DTYPE_BF16,
    MIXLM_DTYPE_I32,
    MIXLM_DTYPE_I64,
    MIXLM_DTYPE_BOOL /* one byte, 0 or 1 */
} mixlm_dtype;

MIXLM_API size_t mixlm_dtype_size(mixlm_dtype dtype);       /* 0 for an unknown value */
MIXLM_API const char *mixlm_dtype_name(mixlm_dtype dtype);  /* "f32", "f16", ...; "?" */

/* ---- Shapes: fixed numbers and symbols ---------------------------------------------------- */

typedef enum mixlm_dim_sym {
    MIXLM_DIM_FIXED = 0, /* the number in `value` */
    MIXLM_DIM_N,         /* new tokens of this step */
    MIXLM_DIM_KV,        /* keys of the mask's layout: absolute p + n; ring W; ring with chunk
                            region W + n */
    MIXLM_DIM_CTX,       /* the contract's context length (n_ctx) */
    MIXLM_DIM_W          /* the window of this input or state (W of a sliding mask or ring,
                            C of a chunked mask or chunk-local cache) */
} mixlm_dim_sym;

typedef struct mixlm_dim {
    mixlm_dim_sym sym;
    int64_t value; /* MIXLM_DIM_FIXED only */
} mixlm_dim;

typedef struct mixlm_shape {
    int32_t n_dims; /* 0 = a scalar */
    mixlm_dim dims[MIXLM_CONTRACT_MAX_DIMS];
} mixlm_shape;

/* ---- Roles -------------------------------------------------------------------------------- */

typedef enum mixlm_role {
    MIXLM_ROLE_TOKEN_IDS = 0, /* the new token ids; shape [n] or [1, n] (integer) */
    MIXLM_ROLE_POSITIONS,     /* absolute positions p..p+n-1; shape like token ids */
    MIXLM_ROLE_CURRENT_POS,   /* the scalar p (position of the first new token); all dims 1 */
    MIXLM_ROLE_ATTENTION_MASK,/* [1, 1, n, kv] (leading dims 1 may be dropped); see mask */
    MIXLM_ROLE_RING_POS,      /* ring write index (p + i) % W; scalar, or one n dim */
    MIXLM_ROLE_UPDATE_MASK,   /* one-hot of the cache slot written: one slot dim (W of `window`,
                                 or ctx when window is 0), optionally one n dim (row i marks
                                 slot of token i); other dims 1 */
    MIXLM_ROLE_ROPE_COS,      /* cos(pos * base^(-2j/dim) / scale): one n dim, last dim dim/2
                                 (one entry per rotary pair) or dim (the two halves repeated) */
    MIXLM_ROLE_ROPE_SIN,      /* the same with sin */
    MIXLM_ROLE_COUNT
} mixlm_role;

MIXLM_API const char *mixlm_role_name(mixlm_role role); /* "token_ids", "attention_mask", ... */

/* ---- Attention masks (SPEC.md sections 1 and 3) ------------------------------------------- */

typedef enum mixlm_attn_kind {
    MIXLM_ATTN_CAUSAL = 0,  /* k <= q (full, global) */
    MIXLM_ATTN_SLIDING = 1, /* k <= q and q - k < W (W keys, the query itself included) */
    MIXLM_ATTN_CHUNKED = 2  /* k <= q and k / C == q / C */
} mixlm_attn_kind;

MIXLM_API const char *mixlm_attn_kind_name(mixlm_attn_kind kind); /* "causal", ... */

typedef enum mixlm_mask_form {
    MIXLM_MASK_ADDITIVE = 0, /* 0 where visible, `blocked` elsewhere (float dtypes only) */
    MIXLM_MASK_BOOLEAN = 1   /* 1 where visible, 0 elsewhere (any dtype) */
} mixlm_mask_form;

typedef enum mixlm_key_layout {
    MIXLM_KEYS_ABSOLUTE = 0, /* column j is position j (kv = p + n, or ctx: padded, columns at
                                or past p + n blocked) */
    MIXLM_KEYS_RING = 1      /* column s is ring slot s holding the latest position j < p with
                                j % W == s (empty slots blocked); with a chunk region, columns
                                W + i are the step's new keys */
} mixlm_key_layout;

typedef struct mixlm_mask_spec {
    mixlm_attn_kind kind;
    int32_t window;            /* W (sliding) or C (chunked); 0 for causal */
    mixlm_mask_form form;
    float blocked;             /* additive blocked value; NaN = the dtype's default: -inf for
                                  f32, -65504 for f16, the lowest finite bf16 for bf16 */
    mixlm_key_layout layout;
    bool chunk_region;         /* ring only: kv = W + n and steps of any length */
    bool bidirectional_spans;  /* OR a bidirectional overlay for tokens of one marked span
                                  (mixlm_seq.span_ids) onto the kind */
} mixlm_mask_spec;

/* The brute-force rule of SPEC.md section 1: may a query at position q see the key at k?
 * window is W for sliding and C for chunked (ignored for causal). */
MIXLM_API bool mixlm_mask_visible(mixlm_attn_kind kind, int32_t window, int64_t q, int64_t k);

/* The position held by ring slot `slot` (of `window` slots) before a step at position p:
 * the latest j < p with j % window == slot, or -1 when the slot is still empty. */
MIXLM_API int64_t mixlm_ring_slot_position(int32_t window, int64_t p, int64_t slot);

/* The position a mask column describes for a step of n tokens at p (-1: an empty ring slot,
 * or a padded absolute column at or past p + n). */
MIXLM_API int64_t mixlm_mask_column_position(const mixlm_mask_spec *mask, int64_t p, int32_t n,
                                             int64_t column);

/* The key-axis length of the mask's layout for n new tokens at p ("kv"): absolute p + n,
 * ring W, ring with chunk region W + n. */
MIXLM_API int64_t mixlm_mask_kv(const mixlm_mask_spec *mask, int64_t p, int32_t n);

/* Fill out ([n, kv] row-major, in dtype) with the mask for a step of n new tokens at
 * positions p..p+n-1. kv is mixlm_mask_kv() or, for an absolute layout, any larger width
 * (a padded ctx-wide mask). span_ids: NULL, or n ids where equal nonzero ids mark one
 * bidirectional span (used only when mask->bidirectional_spans). A row never blocks every
 * column: the query always sees itself. MIXLM_ERR_INVALID_ARG for an impossible request (a
 * ring without chunk region with n > 1, kv too small, a bad dtype for the form). */
MIXLM_API mixlm_status mixlm_mask_build(const mixlm_mask_spec *mask, mixlm_dtype dtype,
                                        int64_t p, int32_t n, int64_t kv,
                                        const int32_t *span_ids, void *out);

/* ---- Input, state and output declarations ------------------------------------------------ */

/* Input flags. */
#define MIXLM_INPUT_EXECUTOR_EVAL 1u /* declared (shown by inspect, validated) but evaluated by
                                        the executor itself: the runtime does not materialise
                                        it and hands the executor data = NULL for it */

typedef struct mixlm_input_decl {
    char name[MIXLM_CONTRACT_NAME_MAX];
    mixlm_role role;
    mixlm_dtype dtype;
    mixlm_shape shape;
    uint32_t flags;          /* MIXLM_INPUT_* */
    mixlm_mask_spec mask;    /* MIXLM_ROLE_ATTENTION_MASK */
    int32_t window;          /* RING_POS: W (> 0); UPDATE_MASK: W, or 0 for a ctx-long cache */
    float rope_base;         /* ROPE_COS / ROPE_SIN: theta */
    float rope_scale;        /* linear scaling: angles use pos / scale (1 = none) */
    int32_t rope_dim;        /* rotary dimension (even) */
} mixlm_input_decl;

typedef enum mixlm_state_holds {
    MIXLM_STATE_KEYS = 0,
    MIXLM_STATE_VALUES = 1,
    MIXLM_STATE_KV = 2,      /* keys and values in one tensor (layout is the executor's) */
    MIXLM_STATE_OTHER = 3
} mixlm_state_holds;

typedef enum mixlm_cache_layout {
    MIXLM_CACHE_FULL = 0,    /* position j in slot j, capacity ctx */
    MIXLM_CACHE_RING = 1,    /* position j in slot j % W, capacity exactly W */
    MIXLM_CACHE_CHUNK = 2    /* chunk-local: position j in slot j % C, capacity C; holds only
                                the current chunk */
} mixlm_cache_layout;

typedef struct mixlm_state_decl {
    char name[MIXLM_CONTRACT_NAME_MAX];
    mixlm_state_holds holds;
    mixlm_cache_layout layout;
    int32_t window;          /* W (ring) or C (chunk); 0 for full */
    mixlm_dtype dtype;
    mixlm_shape shape;       /* exactly one capacity dim (ctx for full, W otherwise), every
                                other dim fixed; e.g. [layers, kv_heads, ctx, head_dim] */
    int32_t n_layers;        /* 0 = not said; else the model layers this state holds, layer
                                layers[i] at index i of the outermost dim */
    int32_t layers[MIXLM_CONTRACT_MAX_LAYERS];
} mixlm_state_decl;

typedef enum mixlm_logits_rows {
    MIXLM_LOGITS_LAST = 0,      /* one row: the last new token */
    MIXLM_LOGITS_ALL = 1,       /* one row per new token */
    MIXLM_LOGITS_REQUESTED = 2  /* the executor honours mixlm_step_seq.logits_all */
} mixlm_logits_rows;

typedef struct mixlm_output_decl {
    char name[MIXLM_CONTRACT_NAME_MAX];
    mixlm_logits_rows rows;
    int32_t n_vocab;
} mixlm_output_decl;

/* ---- The contract -------------------------------------------------------------------------- */

typedef struct mixlm_contract mixlm_contract;

/* An empty contract for a context of n_ctx positions (0 = unbounded: only allowed when
 * nothing uses ctx). Add declarations, then validate. Free with mixlm_contract_free(). */
MIXLM_API mixlm_status mixlm_contract_create(int64_t n_ctx, mixlm_contract **out);
MIXLM_API void mixlm_contract_free(mixlm_contract *c);
MIXLM_API mixlm_status mixlm_contract_clone(const mixlm_contract *c, mixlm_contract **out);

/* Append a declaration (copied). Checks happen in mixlm_contract_validate(). */
MIXLM_API mixlm_status mixlm_contract_add_input(mixlm_contract *c, const mixlm_input_decl *in);
MIXLM_API mixlm_status mixlm_contract_add_state(mixlm_contract *c, const mixlm_state_decl *st);
MIXLM_API mixlm_status mixlm_contract_set_output(mixlm_contract *c, const mixlm_output_decl *out);
/* The most new tokens one step of one sequence may carry (0 = no limit of the executor's). */
MIXLM_API void mixlm_contract_set_max_step(mixlm_contract *c, int32_t max_step);

/* Check that the runtime can fill every input: MIXLM_ERR_CONTRACT with a message naming the
 * first input (or state) it cannot fill and why. Executors and states validate on creation. */
MIXLM_API mixlm_status mixlm_contract_validate(const mixlm_contract *c);

/* Read a JSON contract (docs/contract.md) from memory or a file; validated. */
MIXLM_API mixlm_status mixlm_contract_parse_json(const char *json, size_t len, mixlm_contract **out);
MIXLM_API mixlm_status mixlm_contract_load(const char *path, mixlm_contract **out);

/* The contract as JSON in the file format (reads back to the same contract), and as text for
 * people. malloc'd NUL-terminated strings the caller frees with free(); NULL on failure. */
MIXLM_API char *mixlm_contract_to_json(const mixlm_contract *c);
MIXLM_API char *mixlm_contract_describe(const mixlm_contract *c);

/* Read access. Indices run from 0 to the count; out-of-range indices give NULL. */
MIXLM_API int64_t mixlm_contract_n_ctx(const mixlm_contract *c);
MIXLM_API int32_t mixlm_contract_n_inputs(const mixlm_contract *c);
MIXLM_API const mixlm_input_decl *mixlm_contract_input(const mixlm_contract *c, int32_t i);
MIXLM_API int32_t mixlm_contract_n_states(const mixlm_contract *c);
MIXLM_API const mixlm_state_decl *mixlm_contract_state(const mixlm_contract *c, int32_t i);
MIXLM_API const mixlm_output_decl *mixlm_contract_output(const mixlm_contract *c);
/* The step limit the runtime enforces: the declared max_step, or 1 for contracts that take
 * single-token steps (an input whose query dim is fixed at 1, a ring mask without chunk
 * region, a ring index or update mask without an n dim). 0 = no limit. Valid contracts only. */
MIXLM_API int32_t mixlm_contract_max_step(const mixlm_contract *c);
/* Find the state holding `holds` (keys or values) of model layer `layer`: *state_index and
 * *index_in_state (its index in the outermost dim). MIXLM_ERR_CONTRACT when none does. */
MIXLM_API mixlm_status mixlm_contract_layer_state(const mixlm_contract *c, int32_t layer,
                                                  mixlm_state_holds holds,
                                                  int32_t *state_index, int32_t *index_in_state);
/* A 64-bit fingerprint of everything a saved state depends on (states, n_ctx). */
MIXLM_API uint64_t mixlm_contract_fingerprint(const mixlm_contract *c);

/* ---- The native contract of a loaded model ---------------------------------------------- */

typedef struct mixlm_contract_params {
    int64_t n_ctx;           /* context length; 0 = the model's training context, at most
                                8192 (full caches are allocated up front) */
    mixlm_dtype kv_dtype;    /* KV cache element type: f32, f16 or bf16 */
    int32_t max_step;        /* most new tokens per step per sequence (0 = no limit) */
} mixlm_contract_params;

MIXLM_API mixlm_contract_params mixlm_contract_default_params(void);

/* The contract the native engine implements for this model: token ids and positions; one
 * attention mask per distinct (kind, window) among its layers (Gemma 3: a causal mask and a
 * sliding mask; Llama: one causal mask; Llama 4 style: a chunked mask ...), flagged
 * MIXLM_INPUT_EXECUTOR_EVAL because the engine evaluates the rule on the fly; one key state
 * and one value state per group of layers sharing (kind, window), shaped
 * [layers_in_group, n_head_kv, capacity, head_dim] with capacity ctx (full), W (ring) or
 * C (chunk); logits for the requested rows. The caller frees *out. */
MIXLM_API mixlm_status mixlm_model_contract(const mixlm_model *model, mixlm_contract_params params,
                                            mixlm_contract **out);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_CONTRACT_H */
