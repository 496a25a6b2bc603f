/* util.c: errors, logging, allocation, file mapping, UTF-8 checks, half precision and a
 * growable byte buffer, used throughout mixlm. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE, MADV_HUGEPAGE */
#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ====================================================================================== */
/* Errors                                                                                 */
/* ====================================================================================== */

/* One message per thread: a failing call leaves it, the caller reads it with
 * mixlm_last_error(). 1 KiB holds any message mixlm writes with room for context. */
static _Thread_local char g_last_error[1024];

const char *mixlm_status_str(mixlm_status status) {
    switch (status) {
    case MIXLM_OK: return "ok";
    case MIXLM_ERR_INVALID_ARG: return "invalid argument";
    case MIXLM_ERR_IO: return "i/o error";
    case MIXLM_ERR_FORMAT: return "format error";
    case MIXLM_ERR_UNSUPPORTED: return "unsupported";
    case MIXLM_ERR_NOMEM: return "out of memory";
    case MIXLM_ERR_CONTRACT: return "contract error";
    case MIXLM_ERR_CONTEXT_FULL: return "context full";
    case MIXLM_ERR_STATE: return "state error";
    case MIXLM_ERR_CANCELLED: return "cancelled";
    case MIXLM_ERR_TEMPLATE: return "template error";
    case MIXLM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *mixlm_last_error(void) { return g_last_error; }

void mx_err_clear(void) { g_last_error[0] = 0; }

mixlm_status mx_err(mixlm_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    return status;
}

mixlm_status mx_err_prefix(mixlm_status status, const char *fmt, ...) {
    char old[sizeof g_last_error];
    memcpy(old, g_last_error, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof g_last_error)
        snprintf(g_last_error + n, sizeof g_last_error - (size_t)n, "%s", old);
    return status;
}

/* ====================================================================================== */
/* Logging                                                                                */
/* ====================================================================================== */

static void log_stderr(mixlm_log_level level, const char *message, void *user) {
    (void)user;
    static const char *names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "mixlm: %s: %s\n", names[level], message);
}

static mixlm_log_fn g_log_fn = log_stderr;
static void *g_log_user = NULL;
static mixlm_log_level g_log_max = MIXLM_LOG_WARN;

void mixlm_log_set(mixlm_log_fn fn, void *user, mixlm_log_level max_level) {
    g_log_fn = fn;
    g_log_user = user;
    g_log_max = max_level;
}

void mx_log(mixlm_log_level level, const char *fmt, ...) {
    if (!g_log_fn || level > g_log_max) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_log_fn(level, msg, g_log_user);
}

/* ====================================================================================== */
/* Allocation                                                                             */
/* ====================================================================================== */

void *mx_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) mx_err(MIXLM_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *mx_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) mx_err(MIXLM_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *mx_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) mx_err(MIXLM_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return q;
}

char *mx_strndup(const char *s, size_t n) {
    char *p = mx_malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *mx_strdup(const char *s) { return mx_strndup(s, strlen(s)); }

void *mx_aligned_alloc(size_t align, size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, align, n ? n : align) != 0) {
        mx_err(MIXLM_ERR_NOMEM, "out of memory allocating %zu aligned bytes", n);
        return NULL;
    }
    return p;
}

/* ====================================================================================== */
/* Files                                                                                  */
/* ====================================================================================== */

/* The file mapped read-only at a 2 MiB-aligned address, offered transparent huge pages: where
 * the page cache holds a file in 2 MiB folios (recent kernels on ext4, xfs, tmpfs) each can be
 * mapped by one page-table entry, which only lines up when the address and the file offset
 * agree modulo 2 MiB. A hint: 4 KiB pages work too. */
static void *map_aligned(int fd, size_t size) {
    const size_t align = (size_t)2 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *res = mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED) return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    uint8_t *a = (uint8_t *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
    void *p = mmap(a, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        munmap(res, size + align);
        return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    const uint8_t *end = a + (size + page - 1) / page * page;
    if (a > res) munmap(res, (size_t)(a - res));
    if (end < res + size + align) munmap((void *)end, (size_t)(res + size + align - end));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

mixlm_status mx_map_file(const char *path, mx_map *out) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mx_err(MIXLM_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mx_err(MIXLM_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mx_err(MIXLM_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = map_aligned(fd, (size_t)st.st_size);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return mx_err(MIXLM_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
        }
        out->data = p;
        out->size = (uint64_t)st.st_size;
    }
    close(fd);
    return MIXLM_OK;
}

void mx_unmap(mx_map *map) {
    if (map && map->data) munmap((void *)map->data, (size_t)map->size);
    if (map) {
        map->data = NULL;
        map->size = 0;
    }
}

mixlm_status mx_read_file(const char *path, uint64_t max_bytes, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mx_err(MIXLM_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mx_err(MIXLM_ERR_IO, "%s: not a readable regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return mx_err(MIXLM_ERR_FORMAT, "%s: %lld bytes, more than the limit of %llu", path,
                      (long long)st.st_size, (unsigned long long)max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = mx_malloc(n + 1);
    if (!buf) {
        fclose(f);
        return MIXLM_ERR_NOMEM;
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (got != n || bad) {
        free(buf);
        return mx_err(MIXLM_ERR_IO, "%s: read failed", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return MIXLM_OK;
}

int mx_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int mx_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *mx_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = mx_malloc(a + (size_t)slash + b + 1);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + slash, name, b + 1);
    return p;
}

/* ====================================================================================== */
/* UTF-8                                                                                  */
/* ====================================================================================== */

int mx_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
        i += len;
    }
    return 1;
}

/* ====================================================================================== */
/* Half precision                                                                         */
/* ====================================================================================== */

float mx_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    union { uint32_t u; float f; } v;
    v.u = bits;
    return v.f;
}

uint16_t mx_f32_to_f16(float f) {
    union { uint32_t u; float f; } v;
    v.f = f;
    uint32_t x = v.u;
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t exp = (x >> 23) & 0xFF;
    uint32_t man = x & 0x7FFFFF;
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1F) return (uint16_t)(sign | 0x7C00);
    if (e <= 0) {
        if (e < -10) return sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into exponent: ok */
    return (uint16_t)(sign | half);
}

uint16_t mx_f32_to_bf16(float f) {
    union { uint32_t u; float f; } v;
    v.f = f;
    if ((v.u & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((v.u >> 16) | 0x40);
    uint32_t rounding = 0x7FFF + ((v.u >> 16) & 1);
    return (uint16_t)((v.u + rounding) >> 16);
}

/* ====================================================================================== */
/* Growable buffer                                                                        */
/* ====================================================================================== */

static int buf_reserve(mx_buf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return 0;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        mx_err(MIXLM_ERR_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void mx_buf_append(mx_buf *b, const void *data, size_t n) {
    if (!buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
}

void mx_buf_puts(mx_buf *b, const char *s) { mx_buf_append(b, s, strlen(s)); }

void mx_buf_putc(mx_buf *b, char c) { mx_buf_append(b, &c, 1); }

void mx_buf_printf(mx_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n)) {
        va_end(ap2);
        return;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void mx_buf_json_str(mx_buf *b, const char *s, size_t n) {
    mx_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': mx_buf_puts(b, "\\\""); break;
        case '\\': mx_buf_puts(b, "\\\\"); break;
        case '\n': mx_buf_puts(b, "\\n"); break;
        case '\r': mx_buf_puts(b, "\\r"); break;
        case '\t': mx_buf_puts(b, "\\t"); break;
        case '\b': mx_buf_puts(b, "\\b"); break;
        case '\f': mx_buf_puts(b, "\\f"); break;
        default:
            if (c < 0x20) mx_buf_printf(b, "\\u%04x", c);
            else mx_buf_putc(b, (char)c);
        }
    }
    mx_buf_putc(b, '"');
}

char *mx_buf_take(mx_buf *b) {
    if (b->failed) {
        mx_buf_free(b);
        return NULL;
    }
    if (!b->data) mx_buf_append(b, "", 0);
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void mx_buf_free(mx_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
