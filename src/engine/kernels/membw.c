/* membw.c: the machine's memory read bandwidth (mixlm bench's roofline), two ways: at its
 * peak (a large 2 MiB-aligned buffer with transparent huge pages, read by several threads with
 * the widest loads the CPU has, best of a few trials), and sustained over given byte ranges
 * (the model's own weights, where the decoder reads them). */
#define _GNU_SOURCE
#include "engine/kernels/kernels.h"

#include "common/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#define BW_ALIGN ((uint64_t)2 << 20)
#define BW_MAX_THREADS 256

typedef struct bw_slice {
    const uint8_t *p;
    size_t bytes;
    bool avx2;
    uint64_t sum;
} bw_slice;

static uint64_t sweep_scalar(const void *p, size_t bytes) {
    const uint64_t *v = p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i < bytes / 8; i += 4) {
        a0 += v[i];
        a1 += v[i + 1];
        a2 += v[i + 2];
        a3 += v[i + 3];
    }
    return a0 + a1 + a2 + a3;
}

static void *bw_thread(void *arg) {
    bw_slice *s = arg;
    s->sum += s->avx2 ? mx_read_sweep_avx2(s->p, s->bytes) : sweep_scalar(s->p, s->bytes);
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run fn on n argument records (args, `size` bytes apart): record 0 on the calling thread, the
 * others on threads of their own (on the caller too when a thread cannot be started); the
 * seconds from the first start to the last join. */
static double run_timed(void *(*fn)(void *), void *args, size_t size, int n) {
    pthread_t tid[BW_MAX_THREADS];
    const double t0 = now_s();
    int started = 0;
    for (int t = 1; t < n; t++) {
        if (pthread_create(&tid[t], NULL, fn, (char *)args + (size_t)t * size) != 0) break;
        started = t;
    }
    fn(args);
    for (int t = started + 1; t < n; t++) fn((char *)args + (size_t)t * size); /* not started */
    for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
    return now_s() - t0;
}

double mx_read_bandwidth(int n_threads, uint64_t bytes, int trials) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > BW_MAX_THREADS) n_threads = BW_MAX_THREADS;
    if (trials < 1) trials = 1;
    bytes = MX_MAX(bytes, (uint64_t)64 << 20) / BW_ALIGN * BW_ALIGN;
    uint8_t *map = MAP_FAILED;
    size_t map_bytes = 0;
    for (; bytes >= ((uint64_t)64 << 20); bytes /= 2) {
        map_bytes = (size_t)(bytes + BW_ALIGN);
        map = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map != MAP_FAILED) break;
    }
    if (map == MAP_FAILED) return 0;
    uint8_t *buf = (uint8_t *)(((uintptr_t)map + BW_ALIGN - 1) & ~(uintptr_t)(BW_ALIGN - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(buf, (size_t)bytes, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
#endif
    memset(buf, 0x5A, (size_t)bytes); /* real pages, not the shared zero page */

    const bool avx2 = mx_kernels_have_avx2();
    bw_slice sl[BW_MAX_THREADS];
    /* slices are whole multiples of 256 bytes; the last takes the rest */
    const size_t per = (size_t)(bytes / (uint64_t)n_threads) / 256 * 256;
    double best = 0;
    for (int trial = 0; trial < trials; trial++) {
        for (int t = 0; t < n_threads; t++) {
            sl[t].p = buf + (size_t)t * per;
            sl[t].bytes = t == n_threads - 1 ? (size_t)bytes - (size_t)t * per : per;
            sl[t].avx2 = avx2;
            sl[t].sum = 0;
        }
        const double dt = run_timed(bw_thread, sl, sizeof sl[0], n_threads);
        volatile uint64_t sink = 0;
        for (int t = 0; t < n_threads; t++) sink += sl[t].sum;
        (void)sink;
        if (dt > 0) best = MX_MAX(best, (double)bytes / dt / 1e9);
    }
    munmap(map, map_bytes);
    return best;
}

/* ---- Sustained reads of given ranges ------------------------------------------------------ */

typedef struct ranges_share {
    const mx_byte_range *r;
    int n;
    uint64_t from, to; /* bytes of the trimmed ranges taken end to end, multiples of 256 */
    int passes;
    bool avx2;
    uint64_t sum, bytes_read;
} ranges_share;

/* A range trimmed to whole 256-byte stretches from a 32-byte-aligned start (the sweep's need). */
static void trim(const mx_byte_range *r, const uint8_t **p, uint64_t *bytes) {
    const uintptr_t a = ((uintptr_t)r->p + 31) & ~(uintptr_t)31;
    const uint64_t skip = (uint64_t)(a - (uintptr_t)r->p);
    *p = (const uint8_t *)a;
    *bytes = r->bytes > skip ? (r->bytes - skip) / 256 * 256 : 0;
}

static void *ranges_thread(void *arg) {
    ranges_share *s = arg;
    for (int pass = 0; pass < s->passes; pass++) {
        uint64_t at = 0; /* start of range i in the end-to-end count */
        for (int i = 0; i < s->n && at < s->to; i++) {
            const uint8_t *p;
            uint64_t bytes;
            trim(&s->r[i], &p, &bytes);
            const uint64_t a = MX_MAX(at, s->from), b = MX_MIN(at + bytes, s->to);
            if (a < b) {
                s->sum += s->avx2 ? mx_read_sweep_avx2(p + (a - at), (size_t)(b - a))
                                  : sweep_scalar(p + (a - at), (size_t)(b - a));
                s->bytes_read += b - a;
            }
            at += bytes;
        }
    }
    return NULL;
}

double mx_read_ranges_bandwidth(const mx_byte_range *r, int n_ranges, int n_threads, int passes,
                                uint64_t *bytes_read) {
    if (bytes_read) *bytes_read = 0;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > BW_MAX_THREADS) n_threads = BW_MAX_THREADS;
    if (passes < 1) passes = 1;
    uint64_t total = 0;
    for (int i = 0; i < n_ranges; i++) {
        const uint8_t *p;
        uint64_t bytes;
        trim(&r[i], &p, &bytes);
        total += bytes;
    }
    if (total == 0) return 0;
    ranges_share sh[BW_MAX_THREADS];
    const bool avx2 = mx_kernels_have_avx2();
    for (int t = 0; t < n_threads; t++)
        sh[t] = (ranges_share){r, n_ranges, total / 256 * (uint64_t)t / (uint64_t)n_threads * 256,
                               total / 256 * (uint64_t)(t + 1) / (uint64_t)n_threads * 256, passes, avx2, 0, 0};
    const double dt = run_timed(ranges_thread, sh, sizeof sh[0], n_threads);
    volatile uint64_t sink = 0;
    uint64_t read = 0;
    for (int t = 0; t < n_threads; t++) {
        sink += sh[t].sum;
        read += sh[t].bytes_read;
    }
    (void)sink;
    if (bytes_read) *bytes_read = read;
    return dt > 0 ? (double)read / dt / 1e9 : 0;
}
