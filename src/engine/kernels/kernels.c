/* kernels.c: picks the active kernel tables once (reference, overlaid with SIMD entries the
 * CPU supports) and implements mixlm_force_reference_kernels(). */
#include "engine/kernels/kernels.h"

#include "common/util.h"

#include <pthread.h>
#include <stdatomic.h>

static mx_type_kernels g_active[MX_TYPE_COUNT];
static mx_type_kernels g_avx2[MX_TYPE_COUNT];
static const char *g_isa = "reference";
static mx_gemm_f32_fn g_gemm;
static mx_act_mul_fn g_gelu = mx_gelu_tanh_mul, g_silu = mx_silu_mul;
static mx_exp_sum_fn g_exp_sum = mx_exp_sum;
static atomic_bool g_force_ref = false;
static atomic_int g_ready = 0; /* 0 = not filled; 1 = filled */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

#if defined(MIXLM_HAVE_X86_KERNELS) && defined(__GNUC__)
#include <cpuid.h>
#endif

bool mx_kernels_have_avx2(void) {
#if defined(MIXLM_HAVE_X86_KERNELS) && defined(__GNUC__)
    /* F16C through CPUID leaf 1: clang 14's __builtin_cpu_supports does not know "f16c". */
    unsigned eax, ebx, ecx, edx;
    bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#else
    return false;
#endif
}

static void fill_locked(void) {
    for (int t = 0; t < MX_TYPE_COUNT; t++) {
        const mx_type_kernels *r = mx_kernels_ref((mx_type)t);
        if (r) g_active[t] = *r;
        else memset(&g_active[t], 0, sizeof g_active[t]);
    }
    memset(g_avx2, 0, sizeof g_avx2);
    g_isa = "reference";
    g_gemm = mx_gemm_f32_ref_fn();
    g_gelu = mx_gelu_tanh_mul;
    g_silu = mx_silu_mul;
    g_exp_sum = mx_exp_sum;
#if defined(MIXLM_HAVE_X86_KERNELS)
    if (mx_kernels_have_avx2()) {
        /* The AVX2 table is the reference table with the entries kernels_avx2.c implements
         * written over it (SIMD only where a reference exists). */
        memcpy(g_avx2, g_active, sizeof g_avx2);
        mx_kernels_avx2_fill(g_avx2);
        for (int t = 0; t < MX_TYPE_COUNT; t++)
            if (!g_active[t].dot) memset(&g_avx2[t], 0, sizeof g_avx2[t]);
        if (!atomic_load(&g_force_ref)) {
            memcpy(g_active, g_avx2, sizeof g_active);
            g_gemm = mx_gemm_f32_avx2_fn();
            g_gelu = mx_gelu_tanh_mul_avx2_fn();
            g_silu = mx_silu_mul_avx2_fn();
            g_exp_sum = mx_exp_sum_avx2_fn();
            g_isa = "avx2";
        }
    }
#endif
    atomic_store(&g_ready, 1);
}

static void ensure_ready(void) {
    if (atomic_load(&g_ready)) return;
    pthread_mutex_lock(&g_lock);
    if (!atomic_load(&g_ready)) fill_locked();
    pthread_mutex_unlock(&g_lock);
}

void mixlm_force_reference_kernels(bool force) {
    pthread_mutex_lock(&g_lock);
    atomic_store(&g_force_ref, force);
    fill_locked();
    pthread_mutex_unlock(&g_lock);
}

const mx_type_kernels *mx_kernels_get(mx_type type) {
    ensure_ready();
    if ((unsigned)type >= MX_TYPE_COUNT || !g_active[type].dot) return NULL;
    return &g_active[type];
}

const mx_type_kernels *mx_kernels_avx2(mx_type type) {
    ensure_ready();
    if ((unsigned)type >= MX_TYPE_COUNT || !g_avx2[type].dot) return NULL;
    return &g_avx2[type];
}

const char *mx_kernels_isa(void) {
    ensure_ready();
    return g_isa;
}

mx_gemm_f32_fn mx_kernels_gemm_f32(void) {
    ensure_ready();
    return g_gemm;
}

mx_act_mul_fn mx_kernels_gelu_tanh_mul(void) {
    ensure_ready();
    return g_gelu;
}

mx_act_mul_fn mx_kernels_silu_mul(void) {
    ensure_ready();
    return g_silu;
}

mx_exp_sum_fn mx_kernels_exp_sum(void) {
    ensure_ready();
    return g_exp_sum;
}

/* The packed layout of the f32 tile product (kernels.h). */
int64_t mx_gemm_packed_floats(int64_t nrows, int rb, int64_t n) {
    return (nrows + rb - 1) / rb * rb * n;
}

void mx_gemm_pack_block(const float *src, int64_t stride, int nrows, int rb, int64_t n, float *dst) {
    enum { MAX_RB = 8 };
    const float *rows[MAX_RB];
    const int64_t n8 = n & ~(int64_t)7;
    rb = MX_MIN(rb, (int)MAX_RB);
    for (int r = 0; r < rb; r++) rows[r] = src + MX_MIN(r, nrows - 1) * stride;
    float *d = dst;
    for (int j = 0; j < 4; j++)
        for (int64_t k0 = (int64_t)j * MX_DOT_RUN; k0 < n8; k0 += 4 * MX_DOT_RUN)
            for (int64_t k = k0; k < MX_MIN(k0 + MX_DOT_RUN, n8); k += 8)
                for (int r = 0; r < rb; r++, d += 8) memcpy(d, rows[r] + k, 8 * sizeof(float));
    for (int r = 0; r < rb; r++, d += n - n8) memcpy(d, rows[r] + n8, (size_t)(n - n8) * sizeof(float));
}

#if !defined(MIXLM_HAVE_X86_KERNELS)
void mx_kernels_avx2_fill(mx_type_kernels *tables) { (void)tables; }
mx_gemm_f32_fn mx_gemm_f32_avx2_fn(void) { return NULL; }
mx_act_mul_fn mx_gelu_tanh_mul_avx2_fn(void) { return NULL; }
mx_act_mul_fn mx_silu_mul_avx2_fn(void) { return NULL; }
mx_exp_sum_fn mx_exp_sum_avx2_fn(void) { return NULL; }
uint64_t mx_read_sweep_avx2(const void *p, size_t bytes) { (void)p; (void)bytes; return 0; }
#endif
