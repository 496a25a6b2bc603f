/* model.h: the in-memory description of a loaded model, the same whichever file format it
 * came from: hyper-parameters, one spec per layer, and named tensors used in place.
 *
 * Both readers (GGUF and Hugging Face folders) fill this struct; the native engine reads it.
 * Readers normalise what differs between formats so that the engine never asks where a model
 * came from:
 *  - tensor names are the GGUF names ("token_embd.weight", "blk.3.attn_q.weight", ...);
 *    the HF reader maps its names (and strips multimodal prefixes) to these;
 *  - norm weights: `norm_add_one` says whether the stored weight w means (1 + w) (HF Gemma) or
 *    w (GGUF Gemma, which stores 1 + w already, and every Llama-family file);
 *  - RoPE pairing: `rope_neox` says whether rotary pairs are (i, i + d/2) (HF files, and GGUF
 *    Gemma/NeoX-style families) or interleaved (2i, 2i+1) (GGUF Llama-family files, whose Q/K
 *    rows the converter permuted). Using the matching form gives identical results without
 *    touching the weights.
 */
#ifndef MX_MODEL_H
#define MX_MODEL_H

#include "common/dtype.h"
#include "common/util.h"

#include <stdbool.h>

/* ---- Tensors --------------------------------------------------------------------------- */

#define MX_MAX_DIMS 4

typedef struct mx_tensor {
    char *name;                /* canonical (GGUF-style) name, owned */
    mx_type type;
    int n_dims;
    int64_t ne[MX_MAX_DIMS];   /* ne[0] is the innermost (contiguous) dimension; unused = 1 */
    const void *data;          /* in the mapped file, never written; for plain types (F32,
                                  F16, BF16, I*) aligned to the element size (the loader
                                  checks), for block types only as the file aligns it */
    uint64_t nbytes;
} mx_tensor;

/* ---- Per-layer spec (SPEC.md sections 1, 2 and 5) ------------------------------------- */

typedef enum mx_attn_kind {
    MX_ATTN_FULL = 0,     /* causal over the whole context */
    MX_ATTN_SLIDING = 1,  /* k <= q and q - k < window */
    MX_ATTN_CHUNKED = 2   /* k <= q and k / window == q / window */
} mx_attn_kind;

typedef struct mx_layer_spec {
    mx_attn_kind attn;
    int32_t window;          /* W for sliding, C for chunked, 0 for full */
    bool use_rope;           /* false on no-RoPE layers */
    float rope_base;         /* theta */
    float rope_scale;        /* linear scaling factor: angles use pos / rope_scale (1 = none) */
    float attn_softcap;      /* c in c * tanh(s / c) applied before the mask; 0 = none */
} mx_layer_spec;

/* ---- Whole-model hyper-parameters ---------------------------------------------------- */

typedef enum mx_family {
    MX_FAMILY_LLAMA = 0,     /* llama, mistral */
    MX_FAMILY_QWEN2,
    MX_FAMILY_QWEN3,
    MX_FAMILY_GEMMA2,
    MX_FAMILY_GEMMA3
} mx_family;

typedef enum mx_activation {
    MX_ACT_SILU = 0,
    MX_ACT_GELU_TANH = 1
} mx_activation;

#define MX_MAX_EOS 8

typedef struct mx_hparams {
    mx_family family;
    char arch[32];           /* as the file names it: "gemma3", "gemma3_text", "llama", ... */
    int32_t n_layer;
    int32_t n_embd;
    int32_t n_ff;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_vocab;
    int32_t n_ctx_train;     /* max_position_embeddings / context_length, 0 if unknown */
    float rms_eps;
    float attn_scale;        /* multiplies q.k (e.g. query_pre_attn_scalar^-0.5) */
    float final_softcap;     /* 0 = none */
    float embd_scale;        /* multiplies embedding rows; 1 = none (Gemma: sqrt(n_embd) rounded
                                through the embedding's dtype as HF does) */
    mx_activation act;
    bool rope_neox;          /* see the header comment */
    bool norm_add_one;       /* see the header comment */
    bool qk_norm;            /* per-head RMSNorm on q and k (Gemma 3, Qwen 3) */
    bool sandwich_norm;      /* post-attention and post-FFN norms (Gemma 2/3) */
    bool qkv_bias;           /* biases on q/k/v projections (Qwen 2) */
    bool tied_embeddings;    /* logits use token_embd when there is no output.weight */
    int32_t bos_id;          /* -1 when unknown */
    int32_t pad_id;
    int32_t n_eos;
    int32_t eos_ids[MX_MAX_EOS];
} mx_hparams;

/* ---- The model ------------------------------------------------------------------------- */

typedef enum mx_format {
    MX_FORMAT_GGUF = 0,
    MX_FORMAT_HF = 1
} mx_format;

struct mx_gguf;          /* model/gguf.h: metadata stays readable (tokenizer, templates) */
struct mx_safetensors;   /* model/safetensors.h */

struct mixlm_model {
    mx_format format;
    char *path;              /* what the user passed (file or folder) */
    mx_hparams hp;
    mx_layer_spec *layers;   /* hp.n_layer entries */
    mx_tensor *tensors;
    int32_t n_tensors;

    /* Owned resources of the source files. */
    struct mx_gguf *gguf;    /* GGUF only */
    struct mx_safetensors **shards; /* HF: one reader (and mapping) per safetensors file */
    int32_t n_shards;
    int32_t *tensor_order;   /* tensor indices sorted by name, for mx_model_tensor() */
    char *config_json;       /* HF: config.json text, NUL-terminated (NULL for GGUF) */
    char *generation_config_json; /* HF: generation_config.json text if present */
};

/* Load a GGUF image from memory (not copied; it must outlive the model). For fuzzing and for
 * tests that build files in memory. */
mixlm_status mx_model_load_gguf_memory(const uint8_t *data, uint64_t size, mixlm_model **out);

/* Load an HF model from memory: config.json text, optional generation_config.json text (NULL
 * for none) and one safetensors image (not copied). For fuzzing and tests. */
mixlm_status mx_model_load_hf_memory(const char *config, size_t config_len, const char *gen_config,
                                     size_t gen_len, const uint8_t *weights, uint64_t weights_size,
                                     mixlm_model **out);

/* Look a tensor up by canonical name; NULL when absent. */
const mx_tensor *mx_model_tensor(const mixlm_model *m, const char *name);

/* Family rules for layers (SPEC.md section 2), shared by both readers. */
const char *mx_attn_kind_name(mx_attn_kind kind);   /* "full", "sliding", "chunked" */
const char *mx_family_name(mx_family family);

#endif /* MX_MODEL_H */
