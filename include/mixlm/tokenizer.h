/* mixlm/tokenizer.h: text <-> token ids with the model's own tokenizer (a Hugging Face
 * tokenizer.json, or the vocabulary stored in a GGUF file), and a streaming detokenizer.
 * Included by mixlm.h.
 *
 * Encoding follows the Hugging Face tokenizers pipeline: added/special tokens are matched
 * first, then normalizer -> pre-tokenizer -> model (BPE, Unigram, WordPiece) -> post-processor.
 * Decoding runs the tokenizer's decoder chain. Token ids are int32_t; text is UTF-8 with an
 * explicit length (it may contain NUL bytes).
 *
 * A tokenizer is immutable after loading: every function taking a `const mixlm_tokenizer *` may
 * be called from several threads at once. A detokenizer belongs to one thread (one stream).
 */
#ifndef MIXLM_TOKENIZER_H
#define MIXLM_TOKENIZER_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mixlm_tokenizer mixlm_tokenizer;
typedef struct mixlm_detokenizer mixlm_detokenizer;
struct mixlm_model;

/* ---- Loading ------------------------------------------------------------------------------ */

/* Load a tokenizer from
 *  - a tokenizer.json file (tokenizer_config.json next to it is read when present, for the
 *    bos/eos/pad tokens, add_bos_token/add_eos_token and clean_up_tokenization_spaces),
 *  - a Hugging Face model folder (its tokenizer.json and tokenizer_config.json), or
 *  - a .gguf file (the `tokenizer.ggml.*` metadata).
 * On success *out is a new tokenizer the caller frees with mixlm_tokenizer_free(). */
MIXLM_API mixlm_status mixlm_tokenizer_load(const char *path, mixlm_tokenizer **out);

/* The tokenizer of a loaded model: the GGUF vocabulary, or the model folder's tokenizer.json. */
MIXLM_API mixlm_status mixlm_tokenizer_from_model(const struct mixlm_model *model,
                                                  mixlm_tokenizer **out);

/* Build a tokenizer from tokenizer.json text in memory (json, json_len), optionally with the
 * text of tokenizer_config.json (config may be NULL). Neither buffer needs a NUL terminator and
 * both may be freed after the call. */
MIXLM_API mixlm_status mixlm_tokenizer_from_json(const char *json, size_t json_len,
                                                 const char *config, size_t config_len,
                                                 mixlm_tokenizer **out);

MIXLM_API void mixlm_tokenizer_free(mixlm_tokenizer *tok);

/* ---- Vocabulary ----------------------------------------------------------------------------- */

/* Number of ids (model vocabulary plus added tokens): valid ids are 0 .. n-1. Ids in that
 * range that name no token (holes) have no piece and decode to nothing. */
MIXLM_API int32_t mixlm_tokenizer_n_vocab(const mixlm_tokenizer *tok);

/* The piece of an id as the vocabulary stores it (e.g. "Ġthe", "▁the", "<0x0A>", "<bos>"), and
 * its length in *len (len may be NULL). Points into the tokenizer; valid until it is freed.
 * NULL when id is out of range or a hole. */
MIXLM_API const char *mixlm_tokenizer_piece(const mixlm_tokenizer *tok, int32_t id, size_t *len);

/* The id of a piece (exact match against the vocabulary and the added tokens), -1 if none.
 * Use it to look special tokens up by their text: mixlm_tokenizer_piece_id(t, "<|im_end|>", 10). */
MIXLM_API int32_t mixlm_tokenizer_piece_id(const mixlm_tokenizer *tok, const char *piece,
                                           size_t len);

/* True for added tokens flagged special (and GGUF control tokens): decode skips these when
 * asked to, and they are what a template or stop rule usually names. */
MIXLM_API bool mixlm_tokenizer_is_special(const mixlm_tokenizer *tok, int32_t id);

/* The special ids a tokenizer declares (-1 for any it does not have) and whether encoding
 * with add_special adds a BOS / EOS. add_bos/add_eos describe what mixlm_tokenizer_encode
 * does with add_special = true (it follows the post-processor, or the GGUF add_bos/add_eos
 * flags, or tokenizer_config.json add_bos_token/add_eos_token). */
typedef struct mixlm_special_tokens {
    int32_t bos;   /* beginning of sequence */
    int32_t eos;   /* end of sequence as the tokenizer names it (tokenizer_config eos_token,
                      GGUF eos_token_id); generation may stop on more ids than this one */
    int32_t eot;   /* end of turn (GGUF eot_token_id), -1 when not declared */
    int32_t pad;
    int32_t unk;
    bool add_bos;
    bool add_eos;
} mixlm_special_tokens;

MIXLM_API mixlm_special_tokens mixlm_tokenizer_special(const mixlm_tokenizer *tok);

/* ---- Encoding and decoding ------------------------------------------------------------------ */

/* Encode text[0..len) (UTF-8; invalid bytes are replaced by U+FFFD first, as the reference
 * does when it reads text). add_special: let the post-processor add BOS/EOS etc. (what a model
 * expects for a whole prompt); false gives only the text's own tokens. Literal special-token
 * strings in the text (e.g. "<|im_end|>") become their ids, as in the reference.
 * On success *ids is a malloc'd array of *n_ids ids that the caller frees with free()
 * (non-NULL even when *n_ids is 0). */
MIXLM_API mixlm_status mixlm_tokenizer_encode(const mixlm_tokenizer *tok, const char *text,
                                              size_t len, bool add_special, int32_t **ids,
                                              size_t *n_ids);

/* Flags for mixlm_tokenizer_encode_ex. */
enum {
    MIXLM_ENCODE_ADD_SPECIAL = 1u << 0,   /* as add_special above */
    MIXLM_ENCODE_NO_PARSE_SPECIAL = 1u << 1 /* treat special-token strings in the text as plain
                                               text (for untrusted user content in a chat) */
};

MIXLM_API mixlm_status mixlm_tokenizer_encode_ex(const mixlm_tokenizer *tok, const char *text,
                                                 size_t len, unsigned flags, int32_t **ids,
                                                 size_t *n_ids);

/* Decode ids to UTF-8 text through the tokenizer's decoder chain. skip_special drops special
 * tokens. Byte sequences that do not form valid UTF-8 become U+FFFD (as the reference does).
 * Follows tokenizer_config.json's clean_up_tokenization_spaces, as the reference does.
 * On success *text is a malloc'd NUL-terminated string of *len bytes that the caller frees with
 * free(). Fails on an id out of range. */
MIXLM_API mixlm_status mixlm_tokenizer_decode(const mixlm_tokenizer *tok, const int32_t *ids,
                                              size_t n, bool skip_special, char **text,
                                              size_t *len);

/* ---- Streaming decode ----------------------------------------------------------------------- */

/* A detokenizer turns a stream of ids into text pieces as they arrive. It holds back the bytes of
 * a character split over several tokens until it is complete, and applies the decoder's
 * start-of-text rules (e.g. a leading space stripped) only at the start, so that the
 * concatenation of everything it returns equals mixlm_tokenizer_decode() of all the ids
 * (without clean_up_tokenization_spaces). It never emits U+FFFD for a character that later
 * tokens complete. The tokenizer must outlive the detokenizer. */
MIXLM_API mixlm_status mixlm_detokenizer_create(const mixlm_tokenizer *tok, bool skip_special,
                                                mixlm_detokenizer **out);

/* Push one id. *text and *len receive the newly completed text (possibly empty), which points into
 * the detokenizer and stays valid until its next call. Fails on an id out of range. */
MIXLM_API mixlm_status mixlm_detokenizer_push(mixlm_detokenizer *d, int32_t id,
                                              const char **text, size_t *len);

/* End of stream: returns whatever is held back (an incomplete character becomes U+FFFD) and
 * resets the detokenizer for a new stream. */
MIXLM_API mixlm_status mixlm_detokenizer_flush(mixlm_detokenizer *d, const char **text,
                                               size_t *len);

/* Forget everything pushed so far: the next id starts a new text. */
MIXLM_API void mixlm_detokenizer_reset(mixlm_detokenizer *d);

MIXLM_API void mixlm_detokenizer_free(mixlm_detokenizer *d);

#ifdef __cplusplus
}
#endif

#endif /* MIXLM_TOKENIZER_H */
