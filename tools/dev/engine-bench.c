/* engine-bench.c: prefill and decode speed of the native executor on a model (e.g. one made by
 * gen-random-model): times a prompt of --prompt tokens fed as one step, then --gen single-token
 * steps, and prints tokens per second. Token ids are arbitrary (a fixed pseudo-random list). */
#define _POSIX_C_SOURCE 200809L
#include "mixlm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds used by all threads of this process: on a shared machine the wall clock measures
 * the contention, CPU time estimates what an idle machine would give (tokens per CPU-second
 * times the thread count, assuming the work splits evenly). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long num(const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "engine-bench: '%s' is not in %ld..%ld\n", s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    long prompt = 128, gen = 32, threads = 2, reps = 1;
    const char *kv = "f32";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: engine-bench MODEL [--prompt N] [--gen N] [--threads N] [--kv f32|f16] [--reps N]\n");
            return 0;
        }
        if (i + 1 < argc && !strcmp(argv[i], "--prompt")) prompt = num(argv[++i], 1, 1 << 16);
        else if (i + 1 < argc && !strcmp(argv[i], "--gen")) gen = num(argv[++i], 0, 1 << 16);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) threads = num(argv[++i], 1, 256);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps")) reps = num(argv[++i], 1, 100);
        else if (i + 1 < argc && !strcmp(argv[i], "--kv")) kv = argv[++i];
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "engine-bench: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "engine-bench: no model\n");
        return 2;
    }
    mixlm_model *m = NULL;
    mixlm_executor *ex = NULL;
    mixlm_state *s = NULL;
    mixlm_status st = mixlm_model_load(path, &m);
    mixlm_native_params p = mixlm_native_default_params();
    p.n_threads = (int32_t)threads;
    p.contract.n_ctx = prompt + gen;
    p.contract.kv_dtype = !strcmp(kv, "f16") ? MIXLM_DTYPE_F16 : MIXLM_DTYPE_F32;
    if (!st) st = mixlm_native_executor_create(m, p, &ex);
    if (!st) st = mixlm_state_create(mixlm_executor_contract(ex), &s);
    if (st) {
        fprintf(stderr, "engine-bench: %s\n", mixlm_last_error());
        return 1;
    }
    const int32_t n_vocab = mixlm_contract_output(mixlm_executor_contract(ex))->n_vocab;
    int32_t *tok = malloc((size_t)(prompt + gen) * sizeof *tok);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    uint64_t r = 42;
    for (long i = 0; i < prompt + gen; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = i == 0 ? 2 : 4 + (int32_t)((r >> 33) % (uint64_t)(n_vocab - 4));
    }
    double best_pp = 0, best_tg = 0, cpu_pp = 0, cpu_tg = 0;
    for (long rep = 0; rep < reps && !st; rep++) {
        mixlm_state_reset(s);
        double c0 = cpu_now(), t0 = now();
        mixlm_seq seq = {.state = s, .tokens = tok, .n_tokens = (int32_t)prompt, .logits = logits};
        st = mixlm_decode(ex, &seq, 1);
        double t1 = now(), c1 = cpu_now();
        for (long i = 0; i < gen && !st; i++) {
            mixlm_seq one = {.state = s, .tokens = tok + prompt + i, .n_tokens = 1, .logits = logits};
            st = mixlm_decode(ex, &one, 1);
        }
        double t2 = now(), c2 = cpu_now();
        const double pp = (double)prompt / (t1 - t0), tg = gen ? (double)gen / (t2 - t1) : 0;
        if (pp > best_pp) best_pp = pp;
        if (tg > best_tg) best_tg = tg;
        const double cpp = (double)prompt * (double)threads / (c1 - c0);
        const double ctg = gen ? (double)gen * (double)threads / (c2 - c1) : 0;
        if (cpp > cpu_pp) cpu_pp = cpp;
        if (ctg > cpu_tg) cpu_tg = ctg;
    }
    if (st) {
        fprintf(stderr, "engine-bench: %s\n", mixlm_last_error());
        return 1;
    }
    printf("model %s  threads %ld  kv %s\n"
           "  prefill %ld tokens: %.2f tok/s wall, %.2f tok/s from CPU time\n"
           "  decode  %ld tokens: %.2f tok/s wall, %.2f tok/s from CPU time\n",
           path, threads, kv, prompt, best_pp, cpu_pp, gen, best_tg, cpu_tg);
    free(tok);
    free(logits);
    mixlm_state_free(s);
    mixlm_executor_free(ex);
    mixlm_model_free(m);
    return 0;
}
