/* tokenizer_gguf.c: builds a tokenizer from the `tokenizer.ggml.*` metadata of a GGUF file. */
#include "text/tokenizer_internal.h"

#include "model/gguf.h"

mixlm_status tok_load_gguf(mixlm_tokenizer *t, const struct mx_gguf *g, const char *what) {
    (void)t; (void)g;
    return mx_err(MIXLM_ERR_UNSUPPORTED, "%s: GGUF vocabularies are not supported yet", what);
}
