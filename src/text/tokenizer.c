/* tokenizer.c: placeholder implementation of the tokenizer API (real one follows). */
#include "common/util.h"

mixlm_status mixlm_tokenizer_load(const char *path, mixlm_tokenizer **out) {
    (void)path;
    if (out) *out = NULL;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "tokenizer: not implemented yet");
}
mixlm_status mixlm_tokenizer_from_model(const struct mixlm_model *model, mixlm_tokenizer **out) {
    (void)model;
    if (out) *out = NULL;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "tokenizer: not implemented yet");
}
mixlm_status mixlm_tokenizer_from_json(const char *json, size_t json_len, const char *config,
                                       size_t config_len, mixlm_tokenizer **out) {
    (void)json; (void)json_len; (void)config; (void)config_len;
    if (out) *out = NULL;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "tokenizer: not implemented yet");
}
void mixlm_tokenizer_free(mixlm_tokenizer *tok) { (void)tok; }
int32_t mixlm_tokenizer_n_vocab(const mixlm_tokenizer *tok) { (void)tok; return 0; }
const char *mixlm_tokenizer_piece(const mixlm_tokenizer *tok, int32_t id, size_t *len) {
    (void)tok; (void)id; if (len) *len = 0; return NULL;
}
int32_t mixlm_tokenizer_piece_id(const mixlm_tokenizer *tok, const char *piece, size_t len) {
    (void)tok; (void)piece; (void)len; return -1;
}
bool mixlm_tokenizer_is_special(const mixlm_tokenizer *tok, int32_t id) { (void)tok; (void)id; return false; }
mixlm_special_tokens mixlm_tokenizer_special(const mixlm_tokenizer *tok) {
    (void)tok;
    mixlm_special_tokens s = {-1, -1, -1, -1, -1, false, false};
    return s;
}
mixlm_status mixlm_tokenizer_encode(const mixlm_tokenizer *tok, const char *text, size_t len,
                                    bool add_special, int32_t **ids, size_t *n_ids) {
    return mixlm_tokenizer_encode_ex(tok, text, len, add_special ? MIXLM_ENCODE_ADD_SPECIAL : 0, ids, n_ids);
}
mixlm_status mixlm_tokenizer_encode_ex(const mixlm_tokenizer *tok, const char *text, size_t len,
                                       unsigned flags, int32_t **ids, size_t *n_ids) {
    (void)tok; (void)text; (void)len; (void)flags; (void)ids; (void)n_ids;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "tokenizer: not implemented yet");
}
mixlm_status mixlm_tokenizer_decode(const mixlm_tokenizer *tok, const int32_t *ids, size_t n,
                                    bool skip_special, char **text, size_t *len) {
    (void)tok; (void)ids; (void)n; (void)skip_special; (void)text; (void)len;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "tokenizer: not implemented yet");
}
mixlm_status mixlm_detokenizer_create(const mixlm_tokenizer *tok, bool skip_special, mixlm_detokenizer **out) {
    (void)tok; (void)skip_special; if (out) *out = NULL;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "tokenizer: not implemented yet");
}
mixlm_status mixlm_detokenizer_push(mixlm_detokenizer *d, int32_t id, const char **text, size_t *len) {
    (void)d; (void)id; (void)text; (void)len;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "tokenizer: not implemented yet");
}
mixlm_status mixlm_detokenizer_flush(mixlm_detokenizer *d, const char **text, size_t *len) {
    (void)d; (void)text; (void)len;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "tokenizer: not implemented yet");
}
void mixlm_detokenizer_reset(mixlm_detokenizer *d) { (void)d; }
void mixlm_detokenizer_free(mixlm_detokenizer *d) { (void)d; }
