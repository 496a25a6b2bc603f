/* membw.c: the machine's memory read bandwidth as the decoder could see it at best (mixlm
 * bench's roofline): a large 2 MiB-aligned buffer with transparent huge pages, read by several
 * threads with the widest loads the CPU has, best of a few trials. */
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
    pthread_t tid[BW_MAX_THREADS];
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
        const double t0 = now_s();
        int started = 0;
        for (int t = 1; t < n_threads; t++) {
            if (pthread_create(&tid[t], NULL, bw_thread, &sl[t]) != 0) break;
            started = t;
        }
        bw_thread(&sl[0]);
        for (int t = started + 1; t < n_threads; t++) bw_thread(&sl[t]); /* not started */
        for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
        const double dt = now_s() - t0;
        volatile uint64_t sink = 0;
        for (int t = 0; t < n_threads; t++) sink += sl[t].sum;
        (void)sink;
        if (dt > 0) best = MX_MAX(best, (double)bytes / dt / 1e9);
    }
    munmap(map, map_bytes);
    return best;
}
