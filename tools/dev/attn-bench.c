/* attn-bench.c: the cache reads of decode attention at long context, by themselves. Four
 * layers' caches of --keys rows (one KV head of 256 dims, 4 query heads, as Gemma 3 1B) are
 * read as split decode reads them: each of --threads threads takes a contiguous share of the
 * 128-key blocks and, per block, computes the scores, the softmax pieces and the values
 * (`pass`), or only the scores (`scores`) or the values (`values`), or reads the rows plainly
 * (`read`, the bound). Between layers every thread reads its share of an --evict-mib buffer,
 * as the weights evict the cache between layers in a real decode step (not timed). Prints the
 * cache bytes read per second of each. Kernels: the active set, or --isa. */
#define _GNU_SOURCE
#include "engine/kernels/kernels.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

enum { HD = 256, NQ = 4, BLOCK = 128, LAYERS = 4, MAX_THREADS = 64 };
enum { PASS, SCORES, VALUES, READ, N_MODES };
static const char *const mode_names[N_MODES] = {"pass", "scores", "values", "read"};

typedef struct bench {
    int64_t keys;
    int threads, reps, mode;
    uint64_t row_bytes, evict_bytes;
    uint8_t *k[LAYERS], *v[LAYERS], *evict;
    const mx_type_kernels *kern;
    mx_exp_sum_fn exp_sum;
    mx_scale_max_fn scale_max;
    float q[NQ * HD];
    atomic_int arrived, phase;
    double seconds; /* thread 0's timed part */
} bench;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void barrier(bench *b) {
    const int ph = atomic_load(&b->phase);
    if (atomic_fetch_add(&b->arrived, 1) == b->threads - 1) {
        atomic_store(&b->arrived, 0);
        atomic_fetch_add(&b->phase, 1);
    } else {
        while (atomic_load(&b->phase) == ph) {
        }
    }
}

static uint64_t read_bytes(const uint8_t *p, uint64_t n) {
    if (mx_isa_available(MX_ISA_AVX2)) return mx_read_sweep_avx2(p, n / 256 * 256);
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        s += x;
    }
    return s;
}

typedef struct worker {
    bench *b;
    int ith;
    uint64_t sink;
} worker;

static void *run(void *arg) {
    worker *w = arg;
    bench *b = w->b;
    const int64_t nb = b->keys / BLOCK, b0 = nb * w->ith / b->threads, b1 = nb * (w->ith + 1) / b->threads;
    const uint64_t blk = (uint64_t)BLOCK * b->row_bytes, share = b->evict_bytes / (uint64_t)b->threads / 256 * 256;
    float p[NQ * BLOCK], part[NQ * (HD + 2)] = {0};
    for (int i = 0; i < NQ * BLOCK; i++) p[i] = 1.0f / BLOCK; /* the values pass alone weighs rows by these */
    for (int r = 0; r < b->reps; r++) {
        for (int l = 0; l < LAYERS; l++) {
            if (share) w->sink += read_bytes(b->evict + (uint64_t)w->ith * share, share);
            barrier(b);
            const double t0 = now();
            const uint8_t *k = b->k[l] + (uint64_t)b0 * blk, *v = b->v[l] + (uint64_t)b0 * blk;
            if (b->mode == READ) {
                w->sink += read_bytes(k, (uint64_t)(b1 - b0) * blk) + read_bytes(v, (uint64_t)(b1 - b0) * blk);
            } else {
                for (int64_t i = 0; i < b1 - b0; i++, k += blk, v += blk) {
                    if (b->mode != VALUES) b->kern->attn_scores(k, b->row_bytes, BLOCK, b->q, HD, NQ, p, BLOCK, HD);
                    if (b->mode == SCORES) continue;
                    for (int h = 0; h < NQ; h++) {
                        float *o = part + h * (HD + 2);
                        if (b->mode == PASS) {
                            const float m = b->scale_max(p + h * BLOCK, BLOCK, 0.0625f);
                            o[HD + 1] = b->exp_sum(p + h * BLOCK, BLOCK, m);
                        }
                        memset(o, 0, HD * sizeof(float));
                    }
                    b->kern->attn_values(p, BLOCK, v, b->row_bytes, BLOCK, part, HD + 2, NQ, HD);
                }
                w->sink += (uint64_t)part[0];
            }
            barrier(b);
            if (w->ith == 0) b->seconds += now() - t0;
        }
    }
    return NULL;
}

static void *big_buffer(uint64_t bytes, int fill) {
    const uint64_t align = (uint64_t)2 << 20, n = (bytes + align - 1) / align * align;
    void *p = NULL;
    if (posix_memalign(&p, align, n) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    uint16_t *h = p;
    for (uint64_t i = 0; i < n / 2; i++) h[i] = (uint16_t)(fill + (rand() & 0x3ff)); /* small f16 values */
    return p;
}

static long num(const char *flag, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "attn-bench: %s wants an integer in %ld..%ld, not '%s'\n", flag, lo, hi, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    static bench b = {.keys = 16384, .threads = 2, .reps = 10, .evict_bytes = (uint64_t)256 << 20};
    int isa = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: attn-bench [--keys N] [--threads T] [--reps R] [--evict-mib M] [--isa ref|avx2|avx512]\n");
            return 0;
        }
        if (!val) {
            fprintf(stderr, "attn-bench: unknown flag or missing value: %s (see --help)\n", a);
            return 2;
        }
        if (!strcmp(a, "--keys")) b.keys = num(a, val, BLOCK, 1 << 22) / BLOCK * BLOCK;
        else if (!strcmp(a, "--threads")) b.threads = (int)num(a, val, 1, MAX_THREADS);
        else if (!strcmp(a, "--reps")) b.reps = (int)num(a, val, 1, 1000000);
        else if (!strcmp(a, "--evict-mib")) b.evict_bytes = (uint64_t)num(a, val, 0, 1 << 16) << 20;
        else if (!strcmp(a, "--isa")) {
            for (int k = 0; k < MX_ISA_COUNT; k++)
                if (!strcmp(val, mx_isa_name((mx_isa)k))) isa = k;
            if (isa < 0 || !mx_isa_available((mx_isa)isa)) {
                fprintf(stderr, "attn-bench: --isa %s is not a kernel set this CPU runs\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "attn-bench: unknown flag %s (see --help)\n", a);
            return 2;
        }
        i++;
    }
    b.kern = isa < 0 ? mx_kernels_get(MX_TYPE_F16) : mx_kernels_of((mx_isa)isa, MX_TYPE_F16);
    b.exp_sum = mx_kernels_exp_sum();
    b.scale_max = mx_kernels_scale_max();
    b.row_bytes = HD * 2;
    const uint64_t cache_bytes = (uint64_t)b.keys * b.row_bytes;
    for (int l = 0; l < LAYERS; l++)
        if (!(b.k[l] = big_buffer(cache_bytes, 0x3000)) || !(b.v[l] = big_buffer(cache_bytes, 0x3000))) {
            fprintf(stderr, "attn-bench: out of memory for the caches\n");
            return 1;
        }
    if (b.evict_bytes && !(b.evict = big_buffer(b.evict_bytes, 0))) {
        fprintf(stderr, "attn-bench: out of memory for the eviction buffer\n");
        return 1;
    }
    for (int i = 0; i < NQ * HD; i++) b.q[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    printf("%lld keys x %d layers, f16 rows of %d, %d heads, %d threads, %d reps, %s kernels\n", (long long)b.keys,
           LAYERS, HD, NQ, b.threads, b.reps, isa < 0 ? "active" : mx_isa_name((mx_isa)isa));
    uint64_t sink = 0;
    for (b.mode = 0; b.mode < N_MODES; b.mode++) {
        pthread_t th[MAX_THREADS];
        worker w[MAX_THREADS];
        b.seconds = 0;
        for (int t = 0; t < b.threads; t++) {
            w[t] = (worker){.b = &b, .ith = t};
            if (t > 0 && pthread_create(&th[t], NULL, run, &w[t]) != 0) {
                fprintf(stderr, "attn-bench: could not start thread %d\n", t);
                return 1;
            }
        }
        run(&w[0]);
        for (int t = 1; t < b.threads; t++) pthread_join(th[t], NULL);
        for (int t = 0; t < b.threads; t++) sink += w[t].sink;
        const double bytes = (double)b.reps * LAYERS * (double)cache_bytes * (b.mode == SCORES || b.mode == VALUES ? 1 : 2);
        printf("%-7s %6.1f GB/s (%.1f us per layer)\n", mode_names[b.mode], bytes / b.seconds / 1e9,
               b.seconds / b.reps / LAYERS * 1e6);
    }
    fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sink);
    return 0;
}
