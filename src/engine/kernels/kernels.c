/* kernels.c: picks the active kernel tables once (reference, overlaid with SIMD entries the
 * CPU supports) and implements mixlm_force_reference_kernels(). */
#include "engine/kernels/kernels.h"

#include "common/util.h"

#include <pthread.h>
#include <stdatomic.h>

static mx_type_kernels g_active[MX_TYPE_COUNT];
/* Each set's tables: the set before it with the entries its own file implements written over. */
static mx_type_kernels g_sets[MX_ISA_COUNT][MX_TYPE_COUNT];
static mx_gemm_f32_fn g_set_gemm[MX_ISA_COUNT];
static bool g_set_ok[MX_ISA_COUNT];
static mx_isa g_isa = MX_ISA_REF;
static mx_gemm_f32_fn g_gemm;
static mx_act_mul_fn g_gelu = mx_gelu_tanh_mul, g_silu = mx_silu_mul;
static mx_exp_sum_fn g_exp_sum = mx_exp_sum;
static mx_scale_max_fn g_scale_max = mx_scale_max;
static mx_fold_fn g_fold = mx_fold;
static mx_rmsnorm_fn g_rmsnorm = mx_rmsnorm;
static mx_rope_fn g_rope = mx_rope;
static _Atomic int g_limit = MX_ISA_COUNT - 1; /* the most capable set the active tables may use */
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

/* AVX-512 F, BW, VL, DQ and VNNI, with the operating system saving the mask and 512-bit
 * register state (XCR0 bits 1, 2, 5, 6, 7: a kernel may turn AVX-512 off while CPUID still
 * lists it). CPUID leaf 7: EBX bit 16 F, 17 DQ, 30 BW, 31 VL; ECX bit 11 VNNI. */
bool mx_kernels_have_avx512(void) {
#if defined(MIXLM_HAVE_X86_KERNELS) && defined(__GNUC__)
    unsigned eax, ebx, ecx, edx;
    if (!mx_kernels_have_avx2() || !__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE)) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0xE6) != 0xE6) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const unsigned need_ebx = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    return (ebx & need_ebx) == need_ebx && (ecx & (1u << 11));
#else
    return false;
#endif
}

static const char *const g_isa_names[MX_ISA_COUNT] = {"reference", "avx2", "avx512"};

const char *mx_isa_name(mx_isa isa) {
    return (unsigned)isa < MX_ISA_COUNT ? g_isa_names[isa] : "unknown";
}

static void fill_locked(void) {
    memset(g_sets, 0, sizeof g_sets);
    memset(g_set_ok, 0, sizeof g_set_ok);
    memset(g_set_gemm, 0, sizeof g_set_gemm);
    for (int t = 0; t < MX_TYPE_COUNT; t++) {
        const mx_type_kernels *r = mx_kernels_ref((mx_type)t);
        if (r) g_sets[MX_ISA_REF][t] = *r;
    }
    g_set_ok[MX_ISA_REF] = true;
    g_set_gemm[MX_ISA_REF] = mx_gemm_f32_ref_fn();
#if defined(MIXLM_HAVE_X86_KERNELS)
    if (mx_kernels_have_avx2()) {
        memcpy(g_sets[MX_ISA_AVX2], g_sets[MX_ISA_REF], sizeof g_sets[0]);
        mx_kernels_avx2_fill(g_sets[MX_ISA_AVX2]);
        g_set_gemm[MX_ISA_AVX2] = mx_gemm_f32_avx2_fn();
        g_set_ok[MX_ISA_AVX2] = true;
        if (mx_kernels_have_avx512() && mx_gemm_f32_avx512_fn()) {
            memcpy(g_sets[MX_ISA_AVX512], g_sets[MX_ISA_AVX2], sizeof g_sets[0]);
            mx_kernels_avx512_fill(g_sets[MX_ISA_AVX512]);
            g_set_gemm[MX_ISA_AVX512] = mx_gemm_f32_avx512_fn();
            g_set_ok[MX_ISA_AVX512] = true;
        }
    }
#endif
    /* SIMD entries only where a reference exists */
    for (int s = 1; s < MX_ISA_COUNT; s++)
        for (int t = 0; t < MX_TYPE_COUNT; t++)
            if (!g_sets[MX_ISA_REF][t].dot) memset(&g_sets[s][t], 0, sizeof g_sets[s][t]);
    g_isa = MX_ISA_REF;
    for (int s = 0; s <= atomic_load(&g_limit); s++)
        if (g_set_ok[s]) g_isa = (mx_isa)s;
    memcpy(g_active, g_sets[g_isa], sizeof g_active);
    g_gemm = g_set_gemm[g_isa];
    /* the activations, softmax and its bookkeeping, RMSNorm and RoPE have AVX2 kernels only;
     * wider sets keep them */
    const bool avx2 = g_isa >= MX_ISA_AVX2;
    g_gelu = avx2 ? mx_gelu_tanh_mul_avx2_fn() : mx_gelu_tanh_mul;
    g_silu = avx2 ? mx_silu_mul_avx2_fn() : mx_silu_mul;
    g_exp_sum = avx2 ? mx_exp_sum_avx2_fn() : mx_exp_sum;
    g_scale_max = avx2 ? mx_scale_max_avx2_fn() : mx_scale_max;
    g_fold = avx2 ? mx_fold_avx2_fn() : mx_fold;
    g_rmsnorm = avx2 ? mx_rmsnorm_avx2_fn() : mx_rmsnorm;
    g_rope = avx2 ? mx_rope_avx2_fn() : mx_rope;
    atomic_store(&g_ready, 1);
}

static void ensure_ready(void) {
    if (atomic_load(&g_ready)) return;
    pthread_mutex_lock(&g_lock);
    if (!atomic_load(&g_ready)) fill_locked();
    pthread_mutex_unlock(&g_lock);
}

static void set_limit(int limit) {
    pthread_mutex_lock(&g_lock);
    atomic_store(&g_limit, limit);
    fill_locked();
    pthread_mutex_unlock(&g_lock);
}

void mixlm_force_reference_kernels(bool force) {
    set_limit(force ? MX_ISA_REF : MX_ISA_COUNT - 1);
}

bool mixlm_kernels_limit(const char *isa) {
    if (!isa || !strcmp(isa, "best")) {
        set_limit(MX_ISA_COUNT - 1);
        return true;
    }
    for (int s = 0; s < MX_ISA_COUNT; s++)
        if (!strcmp(isa, g_isa_names[s])) {
            set_limit(s);
            return true;
        }
    return false;
}

const char *mixlm_kernels_isa(void) {
    return mx_kernels_isa();
}

const mx_type_kernels *mx_kernels_get(mx_type type) {
    ensure_ready();
    if ((unsigned)type >= MX_TYPE_COUNT || !g_active[type].dot) return NULL;
    return &g_active[type];
}

bool mx_isa_available(mx_isa isa) {
    ensure_ready();
    return (unsigned)isa < MX_ISA_COUNT && g_set_ok[isa];
}

const mx_type_kernels *mx_kernels_of(mx_isa isa, mx_type type) {
    ensure_ready();
    if ((unsigned)isa >= MX_ISA_COUNT || !g_set_ok[isa] || (unsigned)type >= MX_TYPE_COUNT || !g_sets[isa][type].dot)
        return NULL;
    return &g_sets[isa][type];
}

mx_gemm_f32_fn mx_gemm_f32_of(mx_isa isa) {
    ensure_ready();
    return (unsigned)isa < MX_ISA_COUNT ? g_set_gemm[isa] : NULL;
}

const char *mx_kernels_isa(void) {
    ensure_ready();
    return g_isa_names[g_isa];
}

mx_gemm_f32_fn mx_kernels_gemm_f32(void) {
    ensure_ready();
    return g_gemm;
}

/* The active per-element kernels (kernels.h), each chosen with the tables. */
#define ACTIVE_KERNEL(type, name, var) \
    type name(void) {                  \
        ensure_ready();                \
        return var;                    \
    }
ACTIVE_KERNEL(mx_act_mul_fn, mx_kernels_gelu_tanh_mul, g_gelu)
ACTIVE_KERNEL(mx_act_mul_fn, mx_kernels_silu_mul, g_silu)
ACTIVE_KERNEL(mx_exp_sum_fn, mx_kernels_exp_sum, g_exp_sum)
ACTIVE_KERNEL(mx_scale_max_fn, mx_kernels_scale_max, g_scale_max)
ACTIVE_KERNEL(mx_fold_fn, mx_kernels_fold, g_fold)
ACTIVE_KERNEL(mx_rmsnorm_fn, mx_kernels_rmsnorm, g_rmsnorm)
ACTIVE_KERNEL(mx_rope_fn, mx_kernels_rope, g_rope)
#undef ACTIVE_KERNEL

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
mx_scale_max_fn mx_scale_max_avx2_fn(void) { return NULL; }
mx_fold_fn mx_fold_avx2_fn(void) { return NULL; }
mx_rmsnorm_fn mx_rmsnorm_avx2_fn(void) { return NULL; }
mx_rope_fn mx_rope_avx2_fn(void) { return NULL; }
void mx_kernels_avx512_fill(mx_type_kernels *tables) { (void)tables; }
mx_gemm_f32_fn mx_gemm_f32_avx512_fn(void) { return NULL; }
uint64_t mx_read_sweep_avx2(const void *p, size_t bytes) { (void)p; (void)bytes; return 0; }
#endif
