/* gen-random-model.c: writes a GGUF file of a Gemma 3 text model with random weights, for
 * benchmarks and tests that need realistic shapes but no download. Default shapes are those of
 * Gemma 3 1B (26 layers, hidden 1152, 4 heads, 1 KV head, head_dim 256, FFN 6912, window 512)
 * with a 32000-token vocabulary. The logits mean nothing; only the work per token is real.
 *
 * Weights: matrices N(0, 1/fan_in) (a seeded xoshiro256** generator and Box-Muller), stored in
 * the chosen type (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, or the Q4_K_M-style mix
 * described in usage(); quantised with the engine's reference kernels); norm
 * weights 1 + 0.1 N(0, 1) in F32, in GGUF Gemma's convention (the file holds 1 + w). The GGUF
 * container (version 3) is written here directly: header, metadata, tensor infos, 32-byte
 * aligned data. */
#include "common/util.h"
#include "engine/kernels/kernels.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Random numbers ----------------------------------------------------------------------- */

static uint64_t g_s[4];
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next_u64(void) {
    const uint64_t r = rotl(g_s[1] * 5, 7) * 9, t = g_s[1] << 17;
    g_s[2] ^= g_s[0];
    g_s[3] ^= g_s[1];
    g_s[1] ^= g_s[2];
    g_s[0] ^= g_s[3];
    g_s[2] ^= t;
    g_s[3] = rotl(g_s[3], 45);
    return r;
}
static void seed(uint64_t s) {
    for (int i = 0; i < 4; i++) { /* splitmix64 */
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        g_s[i] = z ^ (z >> 31);
    }
}
static double uniform01(void) { return ((double)(next_u64() >> 11) + 0.5) / 9007199254740992.0; }
static void normals(float *out, int64_t n, double sd) {
    for (int64_t i = 0; i < n; i += 2) {
        const double r = sqrt(-2.0 * log(uniform01())), a = 6.283185307179586 * uniform01();
        out[i] = (float)(sd * r * cos(a));
        if (i + 1 < n) out[i + 1] = (float)(sd * r * sin(a));
    }
}

/* ---- GGUF writing ------------------------------------------------------------------------- */

enum { GGUF_U32 = 4, GGUF_F32 = 6, GGUF_STRING = 8 };
#define ALIGN 32

typedef struct wtensor {
    char name[64];
    int64_t ne[2];
    int n_dims;
    mx_type type;
    double sd;       /* matrices: N(0, sd^2); vectors: 1 + N(0, sd^2) */
    uint64_t offset; /* in the data section */
    uint64_t bytes;
} wtensor;

static int w_ok = 1;
static void wr(FILE *f, const void *p, size_t n) {
    if (w_ok && fwrite(p, 1, n, f) != n) w_ok = 0;
}
static void wr_u32(FILE *f, uint32_t v) { wr(f, &v, 4); }
static void wr_u64(FILE *f, uint64_t v) { wr(f, &v, 8); }
static void wr_str(FILE *f, const char *s) {
    wr_u64(f, strlen(s));
    wr(f, s, strlen(s));
}
static void kv_u32(FILE *f, const char *k, uint32_t v) { wr_str(f, k); wr_u32(f, GGUF_U32); wr_u32(f, v); }
static void kv_f32(FILE *f, const char *k, float v) { wr_str(f, k); wr_u32(f, GGUF_F32); wr(f, &v, 4); }
static void kv_str(FILE *f, const char *k, const char *v) { wr_str(f, k); wr_u32(f, GGUF_STRING); wr_str(f, v); }
static void pad(FILE *f, uint64_t *pos) {
    static const uint8_t zeros[ALIGN];
    const uint64_t p = (ALIGN - *pos % ALIGN) % ALIGN;
    wr(f, zeros, (size_t)p);
    *pos += p;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: gen-random-model --out FILE [--type TYPE] [--seed N]\n"
            "                        [--layers N] [--vocab N] [--embd N] [--ff N] [--heads N]\n"
            "                        [--kv-heads N] [--head-dim N] [--window N] [--ctx N]\n"
            "Writes a Gemma 3 GGUF with random weights (default: Gemma 3 1B shapes, vocab 32000,\n"
            "F16).\n"
            "TYPE: f32 f16 bf16 q8_0 q4_0 q5_0 q4_k q5_k q6_k (every matrix; the row length must\n"
            "be a multiple of the block size: 32, or 256 for the K-quants), or q4_k_m, a mix in the\n"
            "manner of the common Q4_K_M recipe:\n"
            "  token_embd (tied, so also the output matrix)          Q6_K\n"
            "  attn_v and ffn_down of layer i when more_bits(i)      Q6_K\n"
            "  every other matrix                                    Q4_K\n"
            "  more_bits(i) = i < L/8 || i >= 7L/8 || (i - L/8) %% 3 == 2  (L layers, integer /)\n"
            "  a row length that is not a multiple of 256 falls back: Q4_K -> Q5_0, Q6_K -> Q8_0\n"
            "  (Gemma 3 1B: hidden 1152, so q/k/v/gate/up are Q5_0 or Q8_0 and token_embd Q8_0).\n"
            "Norm weights are F32.\n");
}

/* The Q4_K_M-style rule for "use more bits" on layer i of n (as the common recipe has it). */
static int more_bits(long i, long n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The type of matrix `role` of layer `il` (-1: not in a layer) with rows of n_in elements. */
static mx_type matrix_type(const char *type_s, mx_type type, const char *role, long il,
                           long layers, int64_t n_in) {
    if (strcmp(type_s, "q4_k_m")) return type;
    mx_type t = MX_TYPE_Q4_K;
    if (!strcmp(role, "token_embd")) t = MX_TYPE_Q6_K;
    else if ((!strcmp(role, "attn_v") || !strcmp(role, "ffn_down")) && more_bits(il, layers))
        t = MX_TYPE_Q6_K;
    if (n_in % 256) t = t == MX_TYPE_Q4_K ? MX_TYPE_Q5_0 : MX_TYPE_Q8_0;
    return t;
}

int main(int argc, char **argv) {
    const char *out_path = NULL, *type_s = "f16";
    long layers = 26, vocab = 32000, embd = 1152, ff = 6912, heads = 4, kv_heads = 1,
         head_dim = 256, window = 512, ctx = 32768, seed_v = 1234;
    struct { const char *opt; long *v; long lo, hi; } nums[] = {
        {"--layers", &layers, 1, 512},      {"--vocab", &vocab, 8, 1 << 20},
        {"--embd", &embd, 32, 1 << 16},     {"--ff", &ff, 32, 1 << 18},
        {"--heads", &heads, 1, 256},        {"--kv-heads", &kv_heads, 1, 256},
        {"--head-dim", &head_dim, 2, 1024}, {"--window", &window, 0, 1 << 24},
        {"--ctx", &ctx, 1, 1 << 24},        {"--seed", &seed_v, 0, 1L << 40}};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gen-random-model: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[i + 1];
        int done = 0;
        if (!strcmp(argv[i], "--out")) out_path = v, done = 1;
        else if (!strcmp(argv[i], "--type")) type_s = v, done = 1;
        for (size_t k = 0; k < MX_ARRAY_LEN(nums) && !done; k++) {
            if (strcmp(argv[i], nums[k].opt)) continue;
            char *end;
            errno = 0;
            long x = strtol(v, &end, 10);
            if (errno || *end || x < nums[k].lo || x > nums[k].hi) {
                fprintf(stderr, "gen-random-model: %s: '%s' not in %ld..%ld\n", argv[i], v,
                        nums[k].lo, nums[k].hi);
                return 2;
            }
            *nums[k].v = x;
            done = 1;
        }
        if (!done) {
            fprintf(stderr, "gen-random-model: unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    static const struct { const char *name; mx_type t; } TYPES[] = {
        {"f32", MX_TYPE_F32},   {"f16", MX_TYPE_F16},   {"bf16", MX_TYPE_BF16},
        {"q8_0", MX_TYPE_Q8_0}, {"q4_0", MX_TYPE_Q4_0}, {"q5_0", MX_TYPE_Q5_0},
        {"q4_k", MX_TYPE_Q4_K}, {"q5_k", MX_TYPE_Q5_K}, {"q6_k", MX_TYPE_Q6_K},
        {"q4_k_m", MX_TYPE_Q4_K}};
    mx_type type = MX_TYPE_COUNT;
    for (size_t k = 0; k < MX_ARRAY_LEN(TYPES); k++)
        if (!strcmp(type_s, TYPES[k].name)) type = TYPES[k].t;
    if (type == MX_TYPE_COUNT) {
        fprintf(stderr, "gen-random-model: --type must be f32, f16, bf16, q8_0, q4_0, q5_0, q4_k, "
                        "q5_k, q6_k or q4_k_m\n");
        return 2;
    }
    if (!out_path) {
        fprintf(stderr, "gen-random-model: --out is required\n");
        return 2;
    }
    if (heads % kv_heads) {
        fprintf(stderr, "gen-random-model: heads must be a multiple of kv-heads\n");
        return 2;
    }
    seed((uint64_t)seed_v);

    /* Tensor list in llama.cpp's order. */
    const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim;
    const int64_t n_t = 2 + layers * 13;
    wtensor *ts = calloc((size_t)n_t, sizeof *ts);
    if (!ts) return 1;
    int nt = 0;
#define MAT(nm, role, il, in, out)                                                        \
    do {                                                                                  \
        wtensor *t = &ts[nt++];                                                           \
        snprintf(t->name, sizeof t->name, "%s", nm);                                      \
        t->n_dims = 2, t->ne[0] = (in), t->ne[1] = (out);                                 \
        t->type = matrix_type(type_s, type, role, il, layers, in);                        \
        t->sd = 1.0 / sqrt((double)(in));                                                 \
    } while (0)
#define VEC(nm, n)                                                                        \
    do {                                                                                  \
        wtensor *t = &ts[nt++];                                                           \
        snprintf(t->name, sizeof t->name, "%s", nm);                                      \
        t->n_dims = 1, t->ne[0] = (n), t->ne[1] = 1, t->type = MX_TYPE_F32, t->sd = 0.1;  \
    } while (0)
    char nm[64];
    MAT("token_embd.weight", "token_embd", -1L, embd, vocab);
    for (long l = 0; l < layers; l++) {
#define N(s) (snprintf(nm, sizeof nm, "blk.%ld." s, l), nm)
        VEC(N("attn_norm.weight"), embd);
        MAT(N("attn_q.weight"), "attn_q", l, embd, q_dim);
        MAT(N("attn_k.weight"), "attn_k", l, embd, kv_dim);
        MAT(N("attn_v.weight"), "attn_v", l, embd, kv_dim);
        VEC(N("attn_q_norm.weight"), head_dim);
        VEC(N("attn_k_norm.weight"), head_dim);
        MAT(N("attn_output.weight"), "attn_output", l, q_dim, embd);
        VEC(N("post_attention_norm.weight"), embd);
        VEC(N("ffn_norm.weight"), embd);
        MAT(N("ffn_gate.weight"), "ffn_gate", l, embd, ff);
        MAT(N("ffn_up.weight"), "ffn_up", l, embd, ff);
        MAT(N("ffn_down.weight"), "ffn_down", l, ff, embd);
        VEC(N("post_ffw_norm.weight"), embd);
#undef N
    }
    VEC("output_norm.weight", embd);
    for (int i = 0; i < nt; i++) {
        const mx_type_info *ti = mx_type_get(ts[i].type);
        if (ts[i].ne[0] % ti->block) {
            fprintf(stderr, "gen-random-model: %s has rows of %lld elements, not a multiple of the "
                            "%s block size %u\n", ts[i].name, (long long)ts[i].ne[0], ti->name,
                    ti->block);
            free(ts);
            return 2;
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        ts[i].offset = off;
        ts[i].bytes = mx_type_row_bytes(ts[i].type, (uint64_t)ts[i].ne[0]) * (uint64_t)ts[i].ne[1];
        off += ts[i].bytes;
        off += (ALIGN - off % ALIGN) % ALIGN;
    }

    FILE *f = fopen(out_path, "wb");
    if (!f) {
        fprintf(stderr, "gen-random-model: cannot create %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    const int n_kv = 18;
    wr(f, "GGUF", 4);
    wr_u32(f, 3);
    wr_u64(f, (uint64_t)nt);
    wr_u64(f, (uint64_t)n_kv);
    kv_str(f, "general.architecture", "gemma3");
    kv_str(f, "general.name", "random-weight gemma3 (mixlm gen-random-model)");
    kv_u32(f, "general.alignment", ALIGN);
    kv_u32(f, "gemma3.context_length", (uint32_t)ctx);
    kv_u32(f, "gemma3.block_count", (uint32_t)layers);
    kv_u32(f, "gemma3.embedding_length", (uint32_t)embd);
    kv_u32(f, "gemma3.feed_forward_length", (uint32_t)ff);
    kv_u32(f, "gemma3.attention.head_count", (uint32_t)heads);
    kv_u32(f, "gemma3.attention.head_count_kv", (uint32_t)kv_heads);
    kv_u32(f, "gemma3.attention.key_length", (uint32_t)head_dim);
    kv_u32(f, "gemma3.attention.value_length", (uint32_t)head_dim);
    kv_f32(f, "gemma3.attention.layer_norm_rms_epsilon", 1e-6f);
    kv_f32(f, "gemma3.rope.freq_base", 1000000.0f);
    kv_f32(f, "gemma3.rope.freq_base_swa", 10000.0f);
    kv_u32(f, "gemma3.attention.sliding_window", (uint32_t)window);
    kv_u32(f, "gemma3.attention.sliding_window_pattern", 6);
    kv_u32(f, "tokenizer.ggml.bos_token_id", 2);
    kv_u32(f, "tokenizer.ggml.eos_token_id", 1);
    uint64_t pos = 4 + 4 + 8 + 8;
    (void)pos;
    for (int i = 0; i < nt; i++) {
        wr_str(f, ts[i].name);
        wr_u32(f, (uint32_t)ts[i].n_dims);
        for (int d = 0; d < ts[i].n_dims; d++) wr_u64(f, (uint64_t)ts[i].ne[d]);
        wr_u32(f, (uint32_t)ts[i].type);
        wr_u64(f, ts[i].offset);
    }
    long here = ftell(f);
    if (here < 0) w_ok = 0;
    pos = (uint64_t)here;
    pad(f, &pos);

    const int64_t max_in = MX_MAX(MX_MAX(embd, ff), q_dim);
    float *row = malloc((size_t)max_in * sizeof(float));
    uint8_t *qrow = malloc((size_t)mx_type_row_bytes(MX_TYPE_F32, (uint64_t)max_in));
    uint64_t data_pos = 0;
    for (int i = 0; i < nt && w_ok; i++) {
        const wtensor *t = &ts[i];
        while (data_pos < t->offset) { /* alignment padding between tensors */
            wr(f, "", 1);
            data_pos++;
        }
        const uint64_t rb = mx_type_row_bytes(t->type, (uint64_t)t->ne[0]);
        for (int64_t r = 0; r < t->ne[1]; r++) {
            normals(row, t->ne[0], t->sd);
            if (t->n_dims == 1) {
                for (int64_t k = 0; k < t->ne[0]; k++) row[k] += 1.0f;
                wr(f, row, (size_t)rb);
            } else {
                mx_kernels_ref(t->type)->from_f32(row, qrow, t->ne[0]);
                wr(f, qrow, (size_t)rb);
            }
            data_pos += rb;
        }
    }
    free(row);
    free(qrow);
    free(ts);
    if (fclose(f) != 0) w_ok = 0;
    if (!w_ok) {
        fprintf(stderr, "gen-random-model: writing %s failed\n", out_path);
        return 1;
    }
    fprintf(stderr, "gen-random-model: wrote %s (%d tensors, %.1f MiB of weights)\n", out_path,
            nt, (double)off / 1048576.0);
    return 0;
}
