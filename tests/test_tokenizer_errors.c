/* test_tokenizer_errors.c: hostile tokenizer.json files are refused with an error that names
 * the problem; API misuse fails cleanly; edge cases of encode/decode and of the streaming
 * detokenizer (characters split over byte tokens, invalid input bytes, ids out of range). */
#include "check.h"

#include "common/util.h"
#include "mixlm.h"

#include <stdlib.h>

/* A minimal valid byte-level-free BPE tokenizer the broken cases start from. */
#define BASE_MODEL "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"<unk>\": 3}, \"merges\": [\"a b\"], \"unk_token\": \"<unk>\"}"

typedef struct bad_case {
    const char *what;
    const char *json;
    const char *expect; /* a substring of the error message */
} bad_case;

static const bad_case BAD[] = {
    {"empty document", "", "unexpected end"},
    {"not JSON", "hello", "bad value"},
    {"truncated", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0", "unterminated"},
    {"trailing garbage", "{" BASE_MODEL "} x", "trailing"},
    {"not an object", "[1, 2]", "not a JSON object"},
    {"missing model", "{\"normalizer\": null}", "model"},
    {"model not an object", "{\"model\": 7}", "model"},
    {"unknown model type", "{\"model\": {\"type\": \"Quantum\", \"vocab\": {}}}", "not supported"},
    {"vocab wrong type", "{\"model\": {\"type\": \"BPE\", \"vocab\": [1], \"merges\": []}}", "vocab"},
    {"vocab empty", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", "empty"},
    {"negative id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", "valid id"},
    {"huge id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4294967296}, \"merges\": []}}", "valid id"},
    {"huge number", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1e999}, \"merges\": []}}", "out of range"},
    {"fractional id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1.5}, \"merges\": []}}", "valid id"},
    {"string id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}, \"merges\": []}}", "valid id"},
    {"duplicate id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", "two pieces"},
    {"merges not an array", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": 3}}", "merges"},
    {"merge of unknown piece", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}",
     "not in the vocabulary"},
    {"merge result unknown", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
     "not in the vocabulary"},
    {"merge without space", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", "separated"},
    {"merge wrong shape", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}", "pair"},
    {"invalid UTF-8", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\xff\": 0}, \"merges\": []}}", "UTF-8"},
    {"overlong UTF-8", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\xc0\xaf\": 0}, \"merges\": []}}", "UTF-8"},
    {"lone surrogate", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\\ud800\": 0}, \"merges\": []}}", "surrogate"},
    {"bad escape", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\\q\": 0}, \"merges\": []}}", "escape"},
    {"control character", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\x01\": 0}, \"merges\": []}}", "control"},
    {"added token without content", "{" BASE_MODEL ", \"added_tokens\": [{\"id\": 5}]}", "added token"},
    {"added token huge id", "{" BASE_MODEL ", \"added_tokens\": [{\"id\": 99999999999, \"content\": \"x\"}]}", "added token"},
    {"added tokens not an array", "{" BASE_MODEL ", \"added_tokens\": {}}", "added_tokens"},
    {"unknown normalizer", "{" BASE_MODEL ", \"normalizer\": {\"type\": \"Telepathy\"}}", "not supported"},
    {"normalizer without type", "{" BASE_MODEL ", \"normalizer\": {\"x\": 1}}", "type"},
    {"bad regex", "{" BASE_MODEL ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}",
     "regular expression"},
    {"pattern missing", "{" BASE_MODEL ", \"normalizer\": {\"type\": \"Replace\", \"content\": \"x\"}}", "pattern"},
    {"replace content missing", "{" BASE_MODEL ", \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}}}", "content"},
    {"bool of wrong type", "{" BASE_MODEL ", \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": \"yes\"}}",
     "true or false"},
    {"unknown decoder", "{" BASE_MODEL ", \"decoder\": {\"type\": \"Oracle\"}}", "not supported"},
    {"sequence not an array", "{" BASE_MODEL ", \"decoder\": {\"type\": \"Sequence\", \"decoders\": 1}}", "decoders"},
    {"post-processor unknown token", "{" BASE_MODEL ", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
     "[{\"SpecialToken\": {\"id\": \"<nope>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}]}}",
     "not in the vocabulary"},
    {"Unigram vocab wrong shape", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"]]}}", "[piece, score]"},
    {"Unigram unk_id out of range", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0]], \"unk_id\": 5}}", "unk_id"},
    {"WordPiece unknown unk", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"unk_token\": \"[UNK]\"}}", "unk_token"},
};

static void hostile_files(void) {
    for (size_t i = 0; i < MX_ARRAY_LEN(BAD); i++) {
        mixlm_tokenizer *t = (mixlm_tokenizer *)1;
        mixlm_status st = mixlm_tokenizer_from_json(BAD[i].json, strlen(BAD[i].json), NULL, 0, &t);
        const char *msg = mixlm_last_error();
        CHECK_MSG(st != MIXLM_OK, "%s: accepted", BAD[i].what);
        CHECK_MSG(t == NULL, "%s: output not cleared", BAD[i].what);
        CHECK_MSG(strstr(msg, BAD[i].expect) != NULL, "%s: error \"%s\" lacks \"%s\"", BAD[i].what, msg, BAD[i].expect);
        if (st == MIXLM_OK) mixlm_tokenizer_free(t);
    }
    /* Nesting bomb: refused, not a stack overflow. */
    size_t depth = 100000;
    char *bomb = malloc(depth * 2 + 1);
    for (size_t i = 0; i < depth; i++) bomb[i] = '[';
    for (size_t i = 0; i < depth; i++) bomb[depth + i] = ']';
    mixlm_tokenizer *t = NULL;
    CHECK(mixlm_tokenizer_from_json(bomb, depth * 2, NULL, 0, &t) == MIXLM_ERR_FORMAT);
    CHECK(strstr(mixlm_last_error(), "nesting") != NULL);
    free(bomb);
    /* A broken tokenizer_config.json is an error too. */
    const char *good = "{" BASE_MODEL "}";
    CHECK(mixlm_tokenizer_from_json(good, strlen(good), "{\"bos_token\": ", 14, &t) == MIXLM_ERR_FORMAT);
    CHECK(strstr(mixlm_last_error(), "tokenizer_config") != NULL);
    /* Missing files. */
    CHECK(mixlm_tokenizer_load("/nonexistent/tokenizer.json", &t) == MIXLM_ERR_IO);
    CHECK(mixlm_tokenizer_load(test_tmp(""), &t) == MIXLM_ERR_IO); /* a folder without tokenizer.json */
}

static void api_misuse(void) {
    const char *good = "{" BASE_MODEL "}";
    mixlm_tokenizer *t = NULL;
    CHECK(mixlm_tokenizer_from_json(NULL, 0, NULL, 0, &t) == MIXLM_ERR_INVALID_ARG);
    CHECK(t == NULL);
    CHECK(mixlm_tokenizer_from_json(good, strlen(good), NULL, 0, &t) == MIXLM_OK);
    int32_t *ids = NULL;
    size_t n = 5;
    CHECK(mixlm_tokenizer_encode(NULL, "a", 1, false, &ids, &n) == MIXLM_ERR_INVALID_ARG);
    CHECK(mixlm_tokenizer_encode(t, NULL, 3, false, &ids, &n) == MIXLM_ERR_INVALID_ARG);
    CHECK(mixlm_tokenizer_encode(t, NULL, 0, false, &ids, &n) == MIXLM_OK && n == 0 && ids != NULL);
    free(ids);
    CHECK(mixlm_tokenizer_encode(t, "abab", 4, false, &ids, &n) == MIXLM_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) { CHECK_EQ_INT(ids[0], 2); CHECK_EQ_INT(ids[1], 2); }
    free(ids);
    /* unknown characters become <unk> (no byte fallback here) */
    CHECK(mixlm_tokenizer_encode(t, "axb", 3, false, &ids, &n) == MIXLM_OK);
    CHECK_EQ_INT(n, 3);
    if (n == 3) CHECK_EQ_INT(ids[1], 3);
    free(ids);
    int32_t bad_ids[] = {0, 7};
    char *text = NULL;
    size_t len = 0;
    CHECK(mixlm_tokenizer_decode(t, bad_ids, 2, false, &text, &len) == MIXLM_ERR_INVALID_ARG);
    CHECK(text == NULL);
    CHECK(strstr(mixlm_last_error(), "out of range") != NULL);
    int32_t neg[] = {-1};
    CHECK(mixlm_tokenizer_decode(t, neg, 1, false, &text, &len) == MIXLM_ERR_INVALID_ARG);
    CHECK(mixlm_tokenizer_decode(t, NULL, 0, false, &text, &len) == MIXLM_OK && len == 0 && text && !text[0]);
    free(text);
    CHECK(mixlm_tokenizer_piece(t, 99, NULL) == NULL);
    CHECK(mixlm_tokenizer_piece(t, -1, NULL) == NULL);
    CHECK_EQ_INT(mixlm_tokenizer_piece_id(t, "ab", 2), 2);
    CHECK_EQ_INT(mixlm_tokenizer_piece_id(t, "zz", 2), -1);
    mixlm_detokenizer *d = NULL;
    CHECK(mixlm_detokenizer_create(NULL, false, &d) == MIXLM_ERR_INVALID_ARG);
    CHECK(mixlm_detokenizer_create(t, false, &d) == MIXLM_OK);
    const char *piece;
    size_t pl;
    CHECK(mixlm_detokenizer_push(d, 1000, &piece, &pl) == MIXLM_ERR_INVALID_ARG);
    mixlm_detokenizer_free(d);
    mixlm_detokenizer_free(NULL);
    mixlm_tokenizer_free(t);
    mixlm_tokenizer_free(NULL);
}

/* A byte-fallback tokenizer in which every multi-byte character is spelled with byte tokens:
 * streaming must hold the bytes back until the character is complete. */
static void streaming_bytes(void) {
    mx_buf j = {0};
    mx_buf_puts(&j, "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"merges\": [], \"vocab\": {\"a\": 0, \"\\u2581\": 1");
    for (int b = 0; b < 256; b++) mx_buf_printf(&j, ", \"<0x%02X>\": %d", b, 2 + b);
    mx_buf_puts(&j, "}}, \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": "
                    "{\"String\": \"\\u2581\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}]}}");
    mixlm_tokenizer *t = NULL;
    CHECK(mixlm_tokenizer_from_json(j.data, j.len, NULL, 0, &t) == MIXLM_OK);
    mx_buf_free(&j);
    if (!t) return;
    const char *text = "a\xF0\x9F\x98\x80" "a\xE6\x97\xA5"; /* a😀a日 */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(mixlm_tokenizer_encode(t, text, strlen(text), false, &ids, &n) == MIXLM_OK);
    CHECK_EQ_INT(n, 9); /* a, 4 bytes, a, 3 bytes */
    mixlm_detokenizer *d = NULL;
    CHECK(mixlm_detokenizer_create(t, false, &d) == MIXLM_OK);
    mx_buf acc = {0};
    size_t pieces_with_text = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t pl;
        CHECK(mixlm_detokenizer_push(d, ids[i], &p, &pl) == MIXLM_OK);
        CHECK_MSG(mx_utf8_valid(p, pl), "push %zu returned incomplete UTF-8", i);
        CHECK_MSG(!strstr(p, "\xEF\xBF\xBD"), "push %zu returned U+FFFD", i);
        pieces_with_text += pl > 0;
        mx_buf_append(&acc, p, pl);
    }
    const char *p;
    size_t pl;
    CHECK(mixlm_detokenizer_flush(d, &p, &pl) == MIXLM_OK);
    mx_buf_append(&acc, p, pl);
    CHECK_EQ_INT(pieces_with_text, 4); /* a, 😀, a, 日 */
    CHECK(acc.len == strlen(text) && !memcmp(acc.data, text, acc.len));
    /* An incomplete character at the end of the stream: flushed as U+FFFD, as decode does. */
    mixlm_detokenizer_reset(d);
    acc.len = 0;
    for (size_t i = 0; i < 3; i++) {
        CHECK(mixlm_detokenizer_push(d, ids[i], &p, &pl) == MIXLM_OK);
        mx_buf_append(&acc, p, pl);
    }
    CHECK(mixlm_detokenizer_flush(d, &p, &pl) == MIXLM_OK);
    mx_buf_append(&acc, p, pl);
    char *full = NULL;
    size_t fl = 0;
    CHECK(mixlm_tokenizer_decode(t, ids, 3, false, &full, &fl) == MIXLM_OK);
    CHECK(full && acc.len == fl && !memcmp(acc.data, full, fl));
    CHECK(full && strstr(full, "\xEF\xBF\xBD") != NULL);
    free(full);
    /* Invalid UTF-8 given to encode is read as U+FFFD, one per maximal bad subsequence. */
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(mixlm_tokenizer_encode(t, "a\xE6\x97" "a\xFF", 5, false, &a, &na) == MIXLM_OK);
    CHECK(mixlm_tokenizer_encode(t, "a\xEF\xBF\xBD" "a\xEF\xBF\xBD", 8, false, &b, &nb) == MIXLM_OK);
    CHECK(na == nb && !memcmp(a, b, na * sizeof *a));
    free(a);
    free(b);
    mx_buf_free(&acc);
    mixlm_detokenizer_free(d);
    free(ids);
    mixlm_tokenizer_free(t);
}

int main(void) {
    hostile_files();
    api_misuse();
    streaming_bytes();
    return check_summary("test_tokenizer_errors");
}
