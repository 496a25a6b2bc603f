/* fuzz_tokenizer_encode.c: libFuzzer harness for encoding: any bytes as text (the first byte
 * picks a tokenizer and the flags) through small tokenizers of every model kind: byte-level BPE
 * with a split regex, SentencePiece-style BPE with byte fallback, Unigram, WordPiece. Checks that
 * ids are in range, decode succeeds, streaming equals decode (before clean-up), and byte-level
 * text round-trips exactly (before clean-up). */
#define _GNU_SOURCE
#include "common/util.h"
#include "mixlm.h"
#include "text/tokenizer_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mixlm_tokenizer *toks[4];

static void bytelevel_vocab(mx_buf *b) {
    /* the 256 byte characters, then a few merges */
    int n = 0;
    for (unsigned c = 0; c < 256; c++) {
        unsigned cp = ((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)) ? c : 256 + (unsigned)n++;
        mx_buf_puts(b, c ? ", " : "");
        mx_buf_putc(b, '"');
        if (cp == '"' || cp == '\\') mx_buf_putc(b, '\\');
        tok_utf8_put(b, cp);
        mx_buf_printf(b, "\": %u", c);
    }
    mx_buf_puts(b, ", \"\\u0120t\": 256, \"he\": 257, \"\\u0120the\": 258, \"in\": 259}, \"merges\": [\"\\u0120 t\", \"h e\", \"\\u0120t he\", \"i n\"]");
}

static mixlm_tokenizer *make(const char *json, size_t len) {
    mixlm_tokenizer *t = NULL;
    if (mixlm_tokenizer_from_json(json, len, NULL, 0, &t) != MIXLM_OK) {
        fprintf(stderr, "fuzz_tokenizer_encode: %s\n", mixlm_last_error());
        abort();
    }
    return t;
}

static void init(void) {
    mx_buf b = {0};
    mx_buf_puts(&b, "{\"added_tokens\": [{\"id\": 260, \"content\": \"<|end|>\", \"special\": true}], "
                    "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
                    "{\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
                    "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": "
                    "\"Isolated\"}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}, "
                    "\"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"vocab\": {");
    bytelevel_vocab(&b);
    mx_buf_puts(&b, "}}");
    toks[0] = make(b.data, b.len);
    b.len = 0;
    mx_buf_puts(&b, "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true}, {\"id\": 1, \"content\": "
                    "\"<bos>\", \"special\": true}, {\"id\": 300, \"content\": \"\\n\", \"special\": false}], "
                    "\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}, "
                    "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<bos>\", "
                    "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}]}, \"decoder\": {\"type\": \"Sequence\", "
                    "\"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\\u2581\"}, \"content\": \" \"}, "
                    "{\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}]}, \"model\": {\"type\": \"BPE\", \"unk_token\": "
                    "\"<unk>\", \"fuse_unk\": true, \"byte_fallback\": true, \"vocab\": {\"<unk>\": 0, \"<bos>\": 1");
    for (int i = 0; i < 256; i++) mx_buf_printf(&b, ", \"<0x%02X>\": %d", i, 2 + i);
    mx_buf_puts(&b, ", \"a\": 258, \"b\": 259, \"\\u2581\": 260, \"ab\": 261, \"\\u2581a\": 262, \"\\u2581ab\": 263}, "
                    "\"merges\": [[\"a\", \"b\"], [\"\\u2581\", \"a\"], [\"\\u2581a\", \"b\"]]}}");
    toks[1] = make(b.data, b.len);
    b.len = 0;
    mx_buf_puts(&b, "{\"normalizer\": {\"type\": \"NFKC\"}, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": "
                    "\"\\u2581\", \"add_prefix_space\": true}, \"decoder\": {\"type\": \"Metaspace\", \"replacement\": "
                    "\"\\u2581\", \"add_prefix_space\": true}, \"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": "
                    "[[\"<unk>\", 0], [\"\\u2581\", -2], [\"a\", -3], [\"b\", -3], [\"ab\", -2.5], [\"\\u2581ab\", -1], [\"c\", -4]]}}");
    toks[2] = make(b.data, b.len);
    b.len = 0;
    mx_buf_puts(&b, "{\"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true, "
                    "\"lowercase\": true}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"decoder\": {\"type\": "
                    "\"WordPiece\", \"prefix\": \"##\"}, \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", "
                    "\"vocab\": {\"[UNK]\": 0, \"a\": 1, \"b\": 2, \"##a\": 3, \"##b\": 4, \"ab\": 5, \",\": 6}}}");
    toks[3] = make(b.data, b.len);
    mx_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!toks[0]) init();
    if (size == 0) return 0;
    const mixlm_tokenizer *t = toks[data[0] & 3];
    unsigned flags = (data[0] >> 2) & 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids = NULL;
    size_t n = 0;
    if (mixlm_tokenizer_encode_ex(t, text, len, flags, &ids, &n) != MIXLM_OK) abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= mixlm_tokenizer_n_vocab(t)) abort();
    char *s = NULL;
    size_t sl = 0;
    if (mixlm_tokenizer_decode(t, ids, n, false, &s, &sl) != MIXLM_OK) abort();
    if (!mx_utf8_valid(s, sl)) abort();
    /* streaming gives decode's text (these tokenizers have no clean-up) */
    mixlm_detokenizer *d = NULL;
    if (mixlm_detokenizer_create(t, false, &d) != MIXLM_OK) abort();
    mx_buf acc = {0};
    const char *p;
    size_t pl;
    for (size_t i = 0; i < n; i++) {
        if (mixlm_detokenizer_push(d, ids[i], &p, &pl) != MIXLM_OK) abort();
        mx_buf_append(&acc, p, pl);
    }
    if (mixlm_detokenizer_flush(d, &p, &pl) != MIXLM_OK) abort();
    mx_buf_append(&acc, p, pl);
    mx_buf full = {0};
    if (tok_decode_impl(t, ids, n, false, false, &full) != MIXLM_OK) abort();
    if (acc.len != full.len || (acc.len && memcmp(acc.data, full.data, acc.len))) abort();
    /* byte-level BPE without special tokens in the text loses nothing (before the clean-up of
     * spaces that decode applies, as the reference does, when there is no tokenizer_config) */
    if (t == toks[0] && !(flags & MIXLM_ENCODE_ADD_SPECIAL) && mx_utf8_valid(text, len) && !memmem(text, len, "<|end|>", 7) &&
        (full.len != len || (len && memcmp(full.data, text, len))))
        abort();
    mx_buf_free(&acc);
    mx_buf_free(&full);
    mixlm_detokenizer_free(d);
    free(s);
    free(ids);
    return 0;
}
