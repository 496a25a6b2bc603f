/* mixlm/model.h: loading model files (GGUF, or a Hugging Face folder with config.json and
 * safetensors) into one in-memory description: hyper-parameters, per-layer specs and named
 * tensors used in place from the mapped files. Included by mixlm.h. */
#ifndef MIXLM_MODEL_H
#define MIXLM_MODEL_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mixlm_model mixlm_model;

/* Load a model from a .gguf file or a Hugging Face model folder (config.json plus
 * model.safetensors or model.safetensors.index.json). Files are mapped read-only; tensors are
 * used in place. On success *out owns the mapping; free it with mixlm_model_free(). */
MIXLM_API mixlm_status mixlm_model_load(const char *path, mixlm_model **out);

MIXLM_API void mixlm_model_free(mixlm_model *model);

/* Describe the model as one JSON object (the document `mixlm inspect --json` prints).
 * Returns a malloc'd NUL-terminated string the caller frees with free(), or NULL on failure. */
MIXLM_API char *mixlm_model_describe_json(const mixlm_model *model);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_MODEL_H */
