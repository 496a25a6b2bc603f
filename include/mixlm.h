/* mixlm.h: the public API of libmixlm, a CPU runtime for decoder-only language models
 * with mixed attention (full, sliding-window and chunked layers) and a stateful KV cache.
 *
 * Conventions (see docs/ and the module headers in include/mixlm):
 *  - every object has a create or load function and a free function; every free function accepts NULL;
 *  - functions that can fail return a mixlm_status; on failure a message that says what went
 *    wrong is left in a per-thread buffer read with mixlm_last_error();
 *  - the library never prints to stdout and never calls exit(); diagnostics go through the
 *    log callback set with mixlm_log_set();
 *  - memory returned to the caller says who frees it at the function that returns it.
 */
#ifndef MIXLM_H
#define MIXLM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MIXLM_VERSION_MAJOR 0
#define MIXLM_VERSION_MINOR 1
#define MIXLM_VERSION_PATCH 0
#define MIXLM_VERSION_STRING "0.1.0"

#if defined(_WIN32) && defined(MIXLM_SHARED_BUILD)
#define MIXLM_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MIXLM_API __attribute__((visibility("default")))
#else
#define MIXLM_API
#endif

/* ---- Status codes ------------------------------------------------------------------------- */

typedef enum mixlm_status {
    MIXLM_OK = 0,
    MIXLM_ERR_INVALID_ARG,   /* a caller passed a bad argument (NULL, out of range) */
    MIXLM_ERR_IO,            /* a file could not be opened, read, mapped or written */
    MIXLM_ERR_FORMAT,        /* a file or document is malformed (bad header, truncated, ...) */
    MIXLM_ERR_UNSUPPORTED,   /* well-formed but not supported (architecture, tensor type, ...) */
    MIXLM_ERR_NOMEM,         /* an allocation failed or a size limit was exceeded */
    MIXLM_ERR_CONTRACT,      /* a contract is invalid or cannot be filled */
    MIXLM_ERR_CONTEXT_FULL,  /* a full-attention cache has no room for the step */
    MIXLM_ERR_STATE,         /* a state operation is impossible (rewind past a ring, mismatch) */
    MIXLM_ERR_CANCELLED,     /* the caller cancelled the operation */
    MIXLM_ERR_TEMPLATE,      /* a chat template failed to parse or render */
    MIXLM_ERR_INTERNAL       /* a bug in mixlm: please report it */
} mixlm_status;

/* A constant English name for a status, e.g. "format error". Never NULL. */
MIXLM_API const char *mixlm_status_str(mixlm_status status);

/* The message left by the last failing mixlm call on this thread ("" when none).
 * Valid until the next mixlm call on the same thread. */
MIXLM_API const char *mixlm_last_error(void);

/* ---- Logging ------------------------------------------------------------------------------ */

typedef enum mixlm_log_level {
    MIXLM_LOG_ERROR = 0,
    MIXLM_LOG_WARN = 1,
    MIXLM_LOG_INFO = 2,
    MIXLM_LOG_DEBUG = 3
} mixlm_log_level;

typedef void (*mixlm_log_fn)(mixlm_log_level level, const char *message, void *user);

/* Route the library's diagnostics to fn (NULL silences them; the default writes warnings and
 * errors to stderr). Messages above max_level are not formatted at all. */
MIXLM_API void mixlm_log_set(mixlm_log_fn fn, void *user, mixlm_log_level max_level);

/* ---- Kernels ------------------------------------------------------------------------------- */

/* Force the scalar reference kernels (true) or let mixlm pick SIMD kernels for this CPU
 * (false, the default). Call before loading models. */
MIXLM_API void mixlm_force_reference_kernels(bool force);

/* Use no kernels above a given instruction set: "reference", "avx2", "avx512", or "best" (or
 * NULL: the most capable this CPU runs, the default). A set the CPU lacks falls back to the
 * next one below it. False (and nothing changed) for an unknown name. Call before loading
 * models (for benchmarks and comparisons: every set gives the same results up to rounding). */
MIXLM_API bool mixlm_kernels_limit(const char *isa);

/* The instruction set of the kernels in use: "reference", "avx2" or "avx512". */
MIXLM_API const char *mixlm_kernels_isa(void);

#ifdef __cplusplus
}
#endif

#include "mixlm/model.h"
#include "mixlm/tokenizer.h"
#include "mixlm/template.h"
#include "mixlm/contract.h"
#include "mixlm/state.h"
#include "mixlm/executor.h"
#include "mixlm/engine.h"
#include "mixlm/generate.h"

#endif /* MIXLM_H */
