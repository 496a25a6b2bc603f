/* internal.h: the contract, state and executor structs shared by the files of src/contract. */
#ifndef MX_CONTRACT_INTERNAL_H
#define MX_CONTRACT_INTERNAL_H

#include "common/util.h"

struct mixlm_contract {
    int64_t n_ctx;
    int32_t max_step;           /* declared; 0 = none */
    int32_t n_inputs;
    mixlm_input_decl inputs[MIXLM_CONTRACT_MAX_INPUTS];
    int32_t n_states;
    mixlm_state_decl *states;   /* n_states entries (malloc'd: each is a few KB) */
    bool has_output;
    mixlm_output_decl output;
};

typedef struct mx_state_buf {
    char name[MIXLM_CONTRACT_NAME_MAX];
    mixlm_cache_layout layout;
    int32_t window;
    void *data;
    uint64_t nbytes;
    /* The buffer as [outer][cap][inner bytes] around its capacity dim, so that a full cache
     * can be saved up to its position only. */
    uint64_t outer, cap, inner;
} mx_state_buf;

struct mixlm_state {
    uint64_t fingerprint;
    int64_t n_ctx;
    int64_t pos;
    int32_t n_bufs;
    mx_state_buf *bufs;
    void **ptrs;                /* bufs[i].data, in the form mixlm_step_seq wants */
    uint64_t *sizes;
};

/* Resolve a shape for a step: n, kv, ctx and W replaced. kv < 0 means "not meaningful". */
mixlm_status mx_shape_resolve(const mixlm_shape *s, int64_t n, int64_t kv, int64_t ctx,
                              int64_t w, int64_t *dims, uint64_t *count);
/* Number of dims with symbol sym and the index of the first one (-1). */
int mx_shape_count(const mixlm_shape *s, mixlm_dim_sym sym, int *first);
/* The window an input's W symbol stands for. */
int32_t mx_input_window(const mixlm_input_decl *in);
/* Does input in force single-token steps? */
bool mx_input_single_token(const mixlm_input_decl *in);
/* Write value as element idx of a dtype buffer. */
void mx_put_value(void *buf, mixlm_dtype dtype, uint64_t idx, double value);
/* Parse helpers shared by the JSON reader and printer. */
const char *mx_dim_sym_name(mixlm_dim_sym sym);
const char *mx_holds_name(mixlm_state_holds h);
const char *mx_layout_name(mixlm_cache_layout l);
const char *mx_rows_name(mixlm_logits_rows r);
/* Bytes of a state declaration's buffer (validated contract). */
mixlm_status mx_state_decl_bytes(const mixlm_contract *c, const mixlm_state_decl *st, uint64_t *out);

#endif /* MX_CONTRACT_INTERNAL_H */
