/* cmd_bench.c: `mixlm bench`: prompt-processing and generation speed of the native engine at
 * chosen context depths (mean and standard deviation over repetitions), the KV bytes and peak
 * memory in use, and a roofline line comparing generation with this machine's read bandwidth. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "cli_engine.h"

#include "engine/kernels/kernels.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_DEPTHS 32
#define BENCH_MAX_TOKENS (1L << 20)
#define BENCH_FILL_CHUNK 512
#define BENCH_MAX_BATCH 64

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixlm bench MODEL [options]\n"
            "\n"
            "Measure prompt processing (ppP) and generation (tgN) speed in tokens/s on random\n"
            "token ids (fixed seed), after D tokens already in the cache (untimed fill).\n"
            "\n"
            "  MODEL             a .gguf file or a Hugging Face model folder\n"
            "  -p N              prompt tokens per pp test, fed in one call (default 512; 0 = none)\n"
            "  -n N              generated tokens per tg test, one call each (default 128; 0 = none)\n"
            "  -t, --threads N   worker threads (default %d)\n"
            "  --depth D         context depth; repeat for several (default 0): each deeper test\n"
            "                    is also given against the same test at depth 0\n"
            "  -b, --batch B     tg tests decode B sequences together, one token each per step\n"
            "                    (as a server with B busy slots); tokens/s counts all B (default 1)\n"
            "  --reps R          repetitions per test, fresh state each, taken round all the\n"
            "                    tests and depths in turn (default 3)\n"
            "  --kv f32|f16|bf16 KV cache element type (default " CLI_DEFAULT_KV ")\n"
            "  --ctx N           make the state for N positions (default: the largest depth plus\n"
            "                    the longest test); the KV bytes reported are those of N\n"
            "  --isa NAME        use kernels up to this instruction set: reference, avx2,\n"
            "                    avx512 or best (default best: the most capable this CPU runs)\n"
            "  --json            print a JSON array (see docs/bench.md)\n"
            "  --no-roofline     skip the read bandwidth measurements (a 1 GiB buffer after the\n"
            "                    tests, ~1 s; the weights in place before each tg run, ~4 GB)\n",
            cli_default_threads());
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Deterministic ids in [0, n_vocab): xorshift64* from a fixed seed, so runs are comparable. */
static void random_tokens(int32_t *out, int64_t n, int32_t n_vocab, uint64_t seed) {
    uint64_t x = seed ? seed : 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out[i] = (int32_t)(((x * 0x2545F4914F6CDD1Dull) >> 33) % (uint64_t)n_vocab);
    }
}

/* ---- Memory read bandwidth ------------------------------------------------------------- */

/* Best of 5 full reads of a 1 GiB huge-page buffer with `threads` threads (docs/bench.md). */
#define BENCH_BW_BYTES ((uint64_t)1 << 30)
#define BENCH_BW_TRIALS 5

/* The weights the decoder reads per generated token: every matrix (2-D or more tensor). The
 * embedding table is a lookup (one row per token), so it counts only when it also serves as
 * the tied output matrix, and then once. Their ranges go into r (room for n_tensors) when r is
 * not NULL; the bytes are returned. */
static uint64_t weight_ranges(const mixlm_model *m, mx_byte_range *r, int *n_ranges) {
    const bool tied = mx_model_tensor(m, "output.weight") == NULL;
    uint64_t total = 0;
    int n = 0;
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const mx_tensor *t = &m->tensors[i];
        int big_dims = 0;
        for (int d = 0; d < t->n_dims && d < MX_MAX_DIMS; d++) big_dims += t->ne[d] > 1;
        if (big_dims < 2) continue;
        if (!strcmp(t->name, "token_embd.weight") && !tied) continue;
        total += t->nbytes;
        if (r) r[n++] = (mx_byte_range){t->data, t->nbytes};
    }
    if (n_ranges) *n_ranges = n;
    return total;
}

/* Sustained bandwidth beside the tg runs: before each repetition the weights are read in
 * place, end to end, enough passes to read about BENCH_SUSTAINED_BYTES. */
#define BENCH_SUSTAINED_BYTES 4000000000.0
typedef struct sustained_bw {
    const mx_byte_range *r;
    int n_ranges, threads, passes;
    double sum;      /* of the samples, GB/s */
    int n;           /* samples */
} sustained_bw;

/* ---- The tests ------------------------------------------------------------------------- */

typedef struct bench_result {
    char name[32];
    bool is_tg;
    int32_t n_tokens;
    int32_t batch;      /* sequences per step (tg); 1 for pp */
    int32_t depth;
    int depth_slot;     /* index of the depth in --depth order: its saved state */
    double mean, sd;
    uint64_t kv_bytes;
    double sustained_bw; /* tg of batch 1 with the roofline: mean GB/s read beside it; else 0 */
    double sum, sum2, bw_sum; /* over the repetitions run so far */
} bench_result;

/* The filled state of one depth, saved once and loaded before every run at that depth: filling
 * a deep context is a long prefill (16384 tokens take minutes), and it would otherwise be
 * repeated for every test and repetition. */
typedef struct depth_snapshot {
    char path[64];      /* a temporary file; "" when none was made */
    int32_t depth;      /* depth it holds; -1 none */
} depth_snapshot;

static void snapshot_drop(depth_snapshot *snap) {
    if (snap->path[0]) remove(snap->path);
    snap->path[0] = 0;
    snap->depth = -1;
}

/* One mixlm_decode() call; 1 (error printed) on failure. */
static int bench_decode(cli_engine *ce, mixlm_seq *seqs, int32_t n_seqs) {
    const mixlm_status st = mixlm_decode(ce->ex, seqs, n_seqs);
    if (st) cli_lib_error("bench", "decode", st);
    return st ? 1 : 0;
}

/* Put `depth` tokens in a state (untimed): reset and feed them, or load the saved state. */
static int fill_depth(cli_engine *ce, mixlm_state *state, const int32_t *fill, int32_t depth,
                      depth_snapshot *snap) {
    if (depth > 0 && snap->depth == depth) {
        if (mixlm_state_load(state, snap->path) == MIXLM_OK) return 0;
        cli_error("bench", "%s", mixlm_last_error());
        return 1;
    }
    mixlm_state_reset(state);
    for (int32_t done = 0; done < depth; done += BENCH_FILL_CHUNK) {
        mixlm_seq seq = {.state = state, .tokens = fill + done,
                         .n_tokens = MX_MIN(BENCH_FILL_CHUNK, depth - done)};
        if (bench_decode(ce, &seq, 1) != 0) return 1;
    }
    if (depth == 0) return 0;
    snapshot_drop(snap);
    const char *dir = getenv("TMPDIR");
    snprintf(snap->path, sizeof snap->path, "%.40s/mixlm-bench-XXXXXX", dir && *dir && strlen(dir) <= 40 ? dir : "/tmp");
    const int fd = mkstemp(snap->path);
    if (fd < 0) { /* no snapshot: the next run fills again */
        snap->path[0] = 0;
        return 0;
    }
    close(fd);
    if (mixlm_state_save(state, snap->path) != MIXLM_OK) {
        snapshot_drop(snap);
        return 0;
    }
    snap->depth = depth;
    return 0;
}

/* One repetition (number rep of reps) of a test on freshly filled states, added to its sums. A
 * tg test with batch B steps states[0..B-1] together, one token each per mixlm_decode() call. */
static int run_rep(cli_engine *ce, mixlm_state **states, bench_result *r, const int32_t *fill,
                   const int32_t *toks, float *logits, int rep, int reps, cli_progress *prog,
                   depth_snapshot *snap, sustained_bw *bw) {
    mixlm_seq seqs[BENCH_MAX_BATCH];
    cli_progress_stage(prog, "%s at depth %d: run %d of %d", r->name, (int)r->depth, rep + 1, reps);
    for (int b = 0; b < r->batch; b++)
        if (fill_depth(ce, states[b], fill, r->depth, snap) != 0) return 1;
    if (bw && r->is_tg && r->batch == 1) {
        const double g = mx_read_ranges_bandwidth(bw->r, bw->n_ranges, bw->threads, bw->passes, NULL);
        r->bw_sum += g;
        bw->sum += g;
        bw->n++;
    }
    const double t0 = now_s();
    if (r->is_tg) {
        for (int32_t i = 0; i < r->n_tokens; i++) {
            for (int b = 0; b < r->batch; b++) /* each sequence its own token stream */
                seqs[b] = (mixlm_seq){.state = states[b], .tokens = toks + (i + 7 * b) % r->n_tokens,
                                      .n_tokens = 1, .logits = logits + (size_t)b * ce->n_vocab};
            if (bench_decode(ce, seqs, r->batch) != 0) return 1;
        }
    } else if (cli_engine_feed(ce, "bench", toks, r->n_tokens, logits, false) != 0) {
        return 1;
    }
    const double dt = now_s() - t0;
    const double tps = dt > 0 ? (double)r->n_tokens * r->batch / dt : 0;
    r->sum += tps;
    r->sum2 += tps * tps;
    r->kv_bytes = 0;
    for (int b = 0; b < r->batch; b++) r->kv_bytes += mixlm_state_bytes(states[b]);
    return 0;
}

/* Mean and sample deviation of a test's reps repetitions. */
static void finish_test(bench_result *r, int reps) {
    r->mean = r->sum / reps;
    r->sustained_bw = r->bw_sum / reps;
    const double var = reps > 1 ? (r->sum2 - r->sum * r->sum / reps) / (reps - 1) : 0;
    r->sd = var > 0 ? sqrt(var) : 0;
}

/* The test of the same name at depth 0 that res[i] (at a depth above 0) compares with; -1 none. */
static int depth_base(const bench_result *res, int n_res, int i) {
    if (res[i].depth == 0) return -1;
    for (int j = 0; j < n_res; j++)
        if (res[j].depth == 0 && strcmp(res[j].name, res[i].name) == 0) return res[j].mean > 0 ? j : -1;
    return -1;
}

/* res[i]'s speed against its depth-0 test's, each first divided by the bandwidth read beside
 * it (so a machine that reads faster or slower between the two tests does not move the ratio);
 * 0 when either has no such reading. */
static double depth_ratio_sustained(const bench_result *r, const bench_result *base) {
    if (r->sustained_bw <= 0 || base->sustained_bw <= 0) return 0;
    return (r->mean / r->sustained_bw) / (base->mean / base->sustained_bw);
}

int cmd_bench(int argc, char **argv) {
    const char *model_path = NULL, *kv_arg = CLI_DEFAULT_KV, *isa_arg = "best";
    long p = 512, n = 128, threads = cli_default_threads(), reps = 3, ctx = 0, batch = 1;
    long depths[BENCH_MAX_DEPTHS];
    int n_depths = 0;
    bool json = false, roofline = true;
    const cli_opt opts[] = {
        CLI_OPT_LONG("-p", NULL, &p, 0, BENCH_MAX_TOKENS),
        CLI_OPT_LONG("-n", NULL, &n, 0, BENCH_MAX_TOKENS),
        CLI_OPT_LONG("--threads", "-t", &threads, 1, 256),
        CLI_OPT_LONGS("--depth", NULL, depths, &n_depths, BENCH_MAX_DEPTHS, 0, BENCH_MAX_TOKENS),
        CLI_OPT_LONG("--reps", NULL, &reps, 1, 1000),
        CLI_OPT_LONG("--batch", "-b", &batch, 1, BENCH_MAX_BATCH),
        CLI_OPT_LONG("--ctx", NULL, &ctx, 0, BENCH_MAX_TOKENS * 2),
        CLI_OPT_STR("--kv", NULL, &kv_arg),
        CLI_OPT_STR("--isa", NULL, &isa_arg),
        CLI_OPT_FLAG("--json", NULL, &json),
        CLI_OPT_OFF("--no-roofline", NULL, &roofline),
        CLI_OPT_END};
    const cli_args spec = {"bench", opts, usage, &model_path, "model", NULL};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    if (!model_path) {
        cli_error("bench", "need MODEL (see mixlm bench --help)");
        return 2;
    }
    if (p == 0 && n == 0) {
        cli_error("bench", "nothing to measure: -p and -n are both 0");
        return 2;
    }
    mx_type kv_type;
    if (!cli_parse_kv_type(kv_arg, &kv_type)) {
        cli_error("bench", "--kv must be f32, f16 or bf16, not '%s'", kv_arg);
        return 2;
    }
    if (!mixlm_kernels_limit(isa_arg)) {
        cli_error("bench", "--isa must be reference, avx2, avx512 or best, not '%s'", isa_arg);
        return 2;
    }
    if (n_depths == 0) depths[n_depths++] = 0;
    long max_depth = 0;
    for (int d = 0; d < n_depths; d++) max_depth = MX_MAX(max_depth, depths[d]);
    const int32_t n_ctx = (int32_t)MX_MAX(ctx, max_depth + MX_MAX(p, n));

    int rc = 1;
    cli_engine ce;
    int32_t *fill = NULL, *toks = NULL;
    float *logits = NULL;
    bench_result res[2 * BENCH_MAX_DEPTHS];
    int n_res = 0;
    cli_progress prog;
    cli_progress_init(&prog, "bench");
    depth_snapshot snaps[BENCH_MAX_DEPTHS];
    for (int d = 0; d < BENCH_MAX_DEPTHS; d++) snaps[d] = (depth_snapshot){"", -1};
    mixlm_state *states[BENCH_MAX_BATCH] = {NULL};
    mx_byte_range *ranges = NULL;
    if (cli_engine_open(&ce, "bench", model_path, (int)threads, n_ctx, kv_type) != 0) goto done;
    states[0] = ce.state;
    for (int b = 1; b < batch; b++) {
        const mixlm_status st = mixlm_state_create(mixlm_executor_contract(ce.ex), &states[b]);
        if (st) {
            cli_lib_error("bench", "state", st);
            goto done;
        }
    }
    fill = malloc(((size_t)max_depth + 1) * sizeof *fill);
    toks = malloc((size_t)MX_MAX(p, n) * sizeof *toks + sizeof *toks);
    logits = malloc((size_t)ce.n_vocab * (size_t)batch * sizeof *logits);
    if (!fill || !toks || !logits) {
        cli_error("bench", "out of memory");
        goto done;
    }
    random_tokens(fill, max_depth, ce.n_vocab, 0x6D69786C6Dull);
    random_tokens(toks, MX_MAX(p, n), ce.n_vocab, 0x62656E6368ull);
    /* Warm-up (untimed): one step touches every weight page of the mapping once, so the
     * first timed repetition does not pay the page faults. Every test resets the state. */
    cli_progress_stage(&prog, "warming up");
    if (cli_engine_feed(&ce, "bench", toks, 1, logits, false) != 0) goto done;

    int n_ranges = 0;
    const uint64_t wbytes = weight_ranges(ce.model, NULL, NULL);
    if (roofline && wbytes > 0) {
        ranges = malloc((size_t)ce.model->n_tensors * sizeof *ranges);
        if (!ranges) {
            cli_error("bench", "out of memory");
            goto done;
        }
        weight_ranges(ce.model, ranges, &n_ranges);
    }
    sustained_bw sbw = {ranges, n_ranges, (int)threads,
                        (int)MX_MIN(64.0, ceil(BENCH_SUSTAINED_BYTES / (double)MX_MAX(wbytes, 1))), 0, 0};
    for (int d = 0; d < n_depths; d++) {
        for (int kind = 0; kind < 2; kind++) {
            const long cnt = kind ? n : p;
            if (cnt == 0) continue;
            bench_result *r = &res[n_res++];
            memset(r, 0, sizeof *r);
            r->is_tg = kind == 1;
            r->n_tokens = (int32_t)cnt;
            r->batch = r->is_tg ? (int32_t)batch : 1;
            r->depth = (int32_t)depths[d];
            r->depth_slot = d;
            if (r->batch > 1) snprintf(r->name, sizeof r->name, "tg%ldx%ld", cnt, batch);
            else snprintf(r->name, sizeof r->name, "%s%ld", kind ? "tg" : "pp", cnt);
        }
    }
    /* Repetitions go round the tests (repetition 1 of every test, then repetition 2, ...), so
     * every depth meets the same stretch of the machine's time; each depth keeps its own
     * saved state. */
    for (int rep = 0; rep < reps; rep++)
        for (int i = 0; i < n_res; i++)
            if (run_rep(&ce, states, &res[i], fill, toks, logits, rep, (int)reps, &prog, &snaps[res[i].depth_slot],
                        ranges ? &sbw : NULL) != 0)
                goto done;
    for (int i = 0; i < n_res; i++) finish_test(&res[i], (int)reps);
    if (roofline) cli_progress_stage(&prog, "measuring memory bandwidth");

    /* Peak memory of the model and tests, taken before the bandwidth buffer inflates it. */
    struct rusage ru;
    const uint64_t peak_rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
    const double bw = roofline ? mx_read_bandwidth((int)threads, BENCH_BW_BYTES, BENCH_BW_TRIALS) : 0;
    const double bound = bw > 0 && wbytes > 0 ? bw * 1e9 / (double)wbytes : 0;
    const double sbw_mean = sbw.n > 0 ? sbw.sum / sbw.n : 0;
    const double sbound = sbw_mean > 0 ? sbw_mean * 1e9 / (double)wbytes : 0;
    const char *kv_name = kv_type == MX_TYPE_F16 ? "f16" : kv_type == MX_TYPE_BF16 ? "bf16" : "f32";
    cli_progress_clear(&prog);

    if (json) {
        printf("[\n");
        for (int i = 0; i < n_res; i++) {
            const bench_result *r = &res[i];
            printf("  {\"test\": \"%s\", \"depth\": %d, \"threads\": %ld, \"n_tokens\": %d, "
                   "\"batch\": %d, \"reps\": %ld, \"tokens_per_second\": %.6g, \"stddev\": %.6g, "
                   "\"kv_bytes\": %llu, \"kv_type\": \"%s\", \"peak_rss_bytes\": %llu, \"isa\": \"%s\"",
                   r->name, r->depth, threads, r->n_tokens, r->batch, reps, r->mean, r->sd,
                   (unsigned long long)r->kv_bytes, kv_name, (unsigned long long)peak_rss, mixlm_kernels_isa());
            if (r->is_tg && r->batch == 1 && bound > 0)
                printf(", \"roofline_fraction\": %.6g", r->mean / bound);
            if (r->sustained_bw > 0)
                printf(", \"sustained_bandwidth_gb_per_second\": %.6g, \"sustained_roofline_fraction\": %.6g",
                       r->sustained_bw, r->mean * (double)wbytes / (r->sustained_bw * 1e9));
            const int b = depth_base(res, n_res, i);
            if (b >= 0) {
                printf(", \"depth_ratio\": %.6g", r->mean / res[b].mean);
                const double rs = depth_ratio_sustained(r, &res[b]);
                if (rs > 0) printf(", \"depth_ratio_sustained\": %.6g", rs);
            }
            printf("},\n");
        }
        printf("  {\"test\": \"roofline\", \"threads\": %ld, \"bandwidth_gb_per_second\": %.6g, "
               "\"weight_bytes_per_token\": %llu, \"tg_bound_tokens_per_second\": %.6g, "
               "\"sustained_bandwidth_gb_per_second\": %.6g, \"tg_sustained_bound_tokens_per_second\": %.6g}\n]\n",
               threads, bw, (unsigned long long)wbytes, bound, sbw_mean, sbound);
    } else {
        printf("| %-8s | %6s | %7s | %12s | %10s | %12s |\n", "test", "depth", "threads", "tokens/s",
               "stddev", "kv bytes");
        printf("|----------|--------|---------|--------------|------------|--------------|\n");
        for (int i = 0; i < n_res; i++) {
            const bench_result *r = &res[i];
            printf("| %-8s | %6d | %7ld | %12.2f | %10.2f | %12llu |\n", r->name, r->depth, threads,
                   r->mean, r->sd, (unsigned long long)r->kv_bytes);
        }
        printf("kv type %s, %ld reps, kernels %s, peak resident memory %.1f MiB\n", kv_name, reps,
               mixlm_kernels_isa(), (double)peak_rss / (1024.0 * 1024.0));
        if (roofline) {
            printf("roofline: weights read per token %.1f MB; peak read bandwidth %.2f GB/s "
                   "(%ld threads, best of %d reads of a 1 GiB buffer): bound %.2f tokens/s",
                   (double)wbytes / 1e6, bw, threads, BENCH_BW_TRIALS, bound);
            if (sbw.n > 0)
                printf("; sustained %.2f GB/s (the weights read in place beside the tg runs, mean "
                       "of %d): bound %.2f tokens/s", sbw_mean, sbw.n, sbound);
            printf("\n");
            for (int i = 0; i < n_res; i++) {
                const bench_result *r = &res[i];
                if (!r->is_tg || r->batch != 1 || bound <= 0) continue;
                printf("roofline: %s@%d reaches %.1f%% of the peak bound", r->name, r->depth,
                       100.0 * r->mean / bound);
                if (r->sustained_bw > 0)
                    printf(", %.1f%% of the sustained bound (%.2f GB/s beside it)",
                           100.0 * r->mean * (double)wbytes / (r->sustained_bw * 1e9), r->sustained_bw);
                printf("\n");
            }
        }
        for (int i = 0; i < n_res; i++) {
            const int b = depth_base(res, n_res, i);
            if (b < 0) continue;
            printf("depth: %s@%d runs at %.1f%% of %s@0", res[i].name, res[i].depth,
                   100.0 * res[i].mean / res[b].mean, res[b].name);
            const double rs = depth_ratio_sustained(&res[i], &res[b]);
            if (rs > 0) printf(" (%.1f%% with each against the bandwidth read beside it)", 100.0 * rs);
            printf("\n");
        }
    }
    rc = 0;
done:
    for (int d = 0; d < BENCH_MAX_DEPTHS; d++) snapshot_drop(&snaps[d]);
    free(ranges);
    for (int b = 1; b < BENCH_MAX_BATCH; b++) mixlm_state_free(states[b]);
    free(fill);
    free(toks);
    free(logits);
    cli_engine_close(&ce);
    return rc;
}
