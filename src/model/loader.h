/* loader.h: the pieces of model loading shared between the GGUF and the HF folder readers
 * (internal to src/model). */
#ifndef MX_LOADER_H
#define MX_LOADER_H

#include "model/gguf.h"
#include "model/model.h"

/* Caps on hyper-parameters: anything larger is a hostile or broken file. */
#define MX_MAX_LAYERS 4096
#define MX_MAX_EMBD (1 << 20)
#define MX_MAX_FF (1 << 23)
#define MX_MAX_HEADS 4096
#define MX_MAX_HEAD_DIM 4096
#define MX_MAX_VOCAB (1 << 24)
#define MX_MAX_WINDOW (1 << 30)

/* Fill m from an opened GGUF file; takes ownership of g (stored in m->gguf). */
mixlm_status mx_model_fill_gguf(mixlm_model *m, mx_gguf *g);
/* Fill m from a Hugging Face folder. */
mixlm_status mx_model_fill_hf(mixlm_model *m, const char *dir);
/* Fill m from an HF config (and optional generation config) text and one safetensors image in
 * memory (not copied). */
mixlm_status mx_model_fill_hf_memory(mixlm_model *m, const char *config, size_t config_len,
                                     const char *gen_config, size_t gen_len,
                                     const uint8_t *weights, uint64_t weights_size);
/* Checks shared by both: hyper-parameter sanity, per-layer specs, tensor index. */
mixlm_status mx_model_finish(mixlm_model *m);

/* Gemma embedding scale: sqrt(n_embd) rounded through the embedding's dtype. */
float mx_embd_scale(int32_t n_embd, mx_type embd_type);
/* Add id to the eos list unless present or negative (keeps at most MX_MAX_EOS). */
void mx_add_eos(mx_hparams *hp, int64_t id);

#endif /* MX_LOADER_H */
