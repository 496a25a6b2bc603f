/* util.h: small helpers shared by every module: errors, logging, checked size arithmetic,
 * file mapping, half-precision conversion and a growable byte buffer. */
#ifndef MX_UTIL_H
#define MX_UTIL_H

#include "mixlm.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define MX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MX_PRINTF(a, b)
#endif

/* ---- Errors and logging ------------------------------------------------------------------ */

/* Record a formatted message as this thread's last error and return status, so that a failing
 * path reads `return mx_err(MIXLM_ERR_FORMAT, "gguf: %s: truncated header", path);`. */
mixlm_status mx_err(mixlm_status status, const char *fmt, ...) MX_PRINTF(2, 3);

/* Prefix the current last error with more context ("loading X: <old message>"). Returns status. */
mixlm_status mx_err_prefix(mixlm_status status, const char *fmt, ...) MX_PRINTF(2, 3);

void mx_err_clear(void);

void mx_log(mixlm_log_level level, const char *fmt, ...) MX_PRINTF(2, 3);
#define MX_WARN(...) mx_log(MIXLM_LOG_WARN, __VA_ARGS__)
#define MX_INFO(...) mx_log(MIXLM_LOG_INFO, __VA_ARGS__)
#define MX_DEBUG(...) mx_log(MIXLM_LOG_DEBUG, __VA_ARGS__)

/* ---- Checked size arithmetic (every size derived from file bytes goes through these) ----- */

static inline int mx_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int mx_add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return 0;
    *out = a + b;
    return 1;
}

/* ---- Allocation: malloc wrappers that set the last error on failure ---------------------- */

void *mx_malloc(size_t n);
void *mx_calloc(size_t count, size_t size);
void *mx_realloc(void *p, size_t n);
char *mx_strdup(const char *s);
char *mx_strndup(const char *s, size_t n);
/* Aligned allocation for kernels (align is a power of two >= sizeof(void*)); free with free(). */
void *mx_aligned_alloc(size_t align, size_t n);

/* ---- Files -------------------------------------------------------------------------------- */

typedef struct mx_map {
    const uint8_t *data; /* read-only mapping (NULL for an empty file) */
    uint64_t size;
} mx_map;

/* Map a whole file read-only. */
mixlm_status mx_map_file(const char *path, mx_map *out);
void mx_unmap(mx_map *map);

/* Read a whole file into a malloc'd buffer with a NUL appended (not counted in *len).
 * Files larger than max_bytes are rejected. */
mixlm_status mx_read_file(const char *path, uint64_t max_bytes, char **out, size_t *len);

int mx_is_dir(const char *path);
int mx_file_exists(const char *path);
/* dir + "/" + name into a malloc'd string. */
char *mx_path_join(const char *dir, const char *name);

/* ---- UTF-8 -------------------------------------------------------------------------------- */

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int mx_utf8_valid(const char *s, size_t n);

/* ---- Half precision (exact, scalar; kernels have their own SIMD forms) ------------------- */

float mx_f16_to_f32(uint16_t h);
uint16_t mx_f32_to_f16(float f);   /* round to nearest even */
static inline float mx_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)h << 16;
    return v.f;
}
uint16_t mx_f32_to_bf16(float f);  /* round to nearest even, NaN stays NaN */

/* ---- Growable byte buffer ------------------------------------------------------------------ */

typedef struct mx_buf {
    char *data; /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    int failed; /* set once an allocation failed; later appends are ignored */
} mx_buf;

void mx_buf_append(mx_buf *b, const void *data, size_t n);
void mx_buf_puts(mx_buf *b, const char *s);
void mx_buf_printf(mx_buf *b, const char *fmt, ...) MX_PRINTF(2, 3);
void mx_buf_putc(mx_buf *b, char c);
/* Append s as a JSON string literal with quotes and escapes. */
void mx_buf_json_str(mx_buf *b, const char *s, size_t n);
/* Hand the NUL-terminated contents to the caller (who frees them) and reset b. NULL if failed. */
char *mx_buf_take(mx_buf *b);
void mx_buf_free(mx_buf *b);

#define MX_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MX_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* MX_UTIL_H */
