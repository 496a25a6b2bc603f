/* mixlm/state.h: the state of one sequence: the KV caches a contract declares (full caches of
 * ctx slots, rings of exactly W slots, chunk-local caches of C slots) and the sequence's
 * position. A model loads once and serves many states. Included by mixlm.h. */
#ifndef MIXLM_STATE_H
#define MIXLM_STATE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mixlm_state mixlm_state;

/* Allocate (zeroed) every state buffer the contract declares, sized from its shape with ctx and
 * W resolved. The state keeps a copy of what it needs; the contract may be freed afterwards.
 * Free with mixlm_state_free(). */
MIXLM_API mixlm_status mixlm_state_create(const mixlm_contract *contract, mixlm_state **out);
MIXLM_API void mixlm_state_free(mixlm_state *state);

/* Position of the next token (= number of tokens the state has seen). */
MIXLM_API int64_t mixlm_state_pos(const mixlm_state *state);

/* Forget everything: position 0. (Buffers are not cleared: masks block empty slots.) */
MIXLM_API void mixlm_state_reset(mixlm_state *state);

/* Can the state go back to position pos (0 <= pos <= current)? Full caches always can; a ring
 * of W slots needs positions pos-W+1..pos-1 still in the ring; a chunk-local cache needs the
 * positions of pos's chunk before pos. */
MIXLM_API bool mixlm_state_can_rewind(const mixlm_state *state, int64_t pos);
/* Go back to pos; MIXLM_ERR_STATE with a message saying which cache lost what otherwise. */
MIXLM_API mixlm_status mixlm_state_rewind(mixlm_state *state, int64_t pos);

/* Exact bytes held by the state's buffers (the sum of every declared state's size). */
MIXLM_API uint64_t mixlm_state_bytes(const mixlm_state *state);

/* Buffer i (in the contract's state order) and its size in bytes; NULL when out of range. */
MIXLM_API void *mixlm_state_buffer(mixlm_state *state, int32_t i, uint64_t *nbytes);
MIXLM_API int32_t mixlm_state_n_buffers(const mixlm_state *state);
/* The contract fingerprint the state was made for. */
MIXLM_API uint64_t mixlm_state_fingerprint(const mixlm_state *state);

/* Save to / load from a file. The file starts with a header (magic "MXSTATE\0", version,
 * contract fingerprint, n_ctx, position, buffer count and sizes) that load checks against
 * this state before reading anything: a file for another contract or a truncated file is
 * MIXLM_ERR_STATE / MIXLM_ERR_FORMAT and leaves the state unchanged. Full caches are saved up
 * to the position only, so a short conversation makes a small file (format: docs/contract.md). */
MIXLM_API mixlm_status mixlm_state_save(const mixlm_state *state, const char *path);
MIXLM_API mixlm_status mixlm_state_load(mixlm_state *state, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_STATE_H */
