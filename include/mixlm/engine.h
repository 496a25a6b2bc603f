/* mixlm/engine.h: the native CPU executor: runs a loaded model's transformer itself behind the
 * executor interface (mixlm/executor.h), with the model's own contract (mixlm_model_contract()).
 * Included by mixlm.h. */
#ifndef MIXLM_ENGINE_H
#define MIXLM_ENGINE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mixlm_native_params {
    int32_t n_threads;               /* worker threads including the caller; 0 = one per CPU, at most 8 */
    int32_t n_batch;                 /* most tokens computed together (a longer step is split
                                        inside the engine; results do not change); 0 = 256 */
    mixlm_contract_params contract;  /* context length, KV dtype (f32, f16, bf16), max step */
} mixlm_native_params;

MIXLM_API mixlm_native_params mixlm_native_default_params(void);

/* Check the model's tensors (a missing, mis-shaped or unusable tensor fails with
 * MIXLM_ERR_FORMAT / MIXLM_ERR_UNSUPPORTED naming it), size every buffer of the token loop,
 * start the threads and wrap it all as an executor. The model must outlive the executor;
 * free with mixlm_executor_free(). States for it: mixlm_state_create(mixlm_executor_contract(ex)).
 * One executor runs one mixlm_decode() at a time (its scratch and threads serve that call);
 * batch sequences into one call, or make one executor per calling thread. */
MIXLM_API mixlm_status mixlm_native_executor_create(const mixlm_model *model,
                                                    mixlm_native_params params,
                                                    mixlm_executor **out);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_ENGINE_H */
