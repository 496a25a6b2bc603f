/* gguf_write.h: build a GGUF (v3) file or memory image from key/value pairs and tensors of any
 * type, for tests, conversions and generated models. The caller supplies raw tensor bytes (or
 * a per-row callback); the writer lays them out aligned (32 by default) and checks sizes.
 *
 * Usage:
 *   mx_gguf_writer *w = mx_gguf_writer_new();
 *   mx_gguf_w_str(w, "general.architecture", "gemma3");
 *   mx_gguf_w_u32(w, "gemma3.block_count", 26);
 *   int64_t ne[2] = {1152, 262144};                     // ne[0] innermost, as in GGUF
 *   mx_gguf_w_tensor(w, "token_embd.weight", MX_TYPE_F16, 2, ne, data, nbytes);
 *   mixlm_status st = mx_gguf_w_write_file(w, "out.gguf");
 *   mx_gguf_writer_free(w);
 * Setters never fail loudly: the first error (bad argument, duplicate name, allocation) is
 * remembered and returned by the write functions (and by each setter).
 */
#ifndef MX_GGUF_WRITE_H
#define MX_GGUF_WRITE_H

#include "common/dtype.h"
#include "model/gguf.h"

typedef struct mx_gguf_writer mx_gguf_writer;

/* Fill row `row` (0-based, rows = ne[1] * ne[2] * ne[3]) of a tensor: write exactly n bytes to
 * buf. Return 0 on success, non-zero to abort writing. */
typedef int (*mx_gguf_fill_fn)(void *user, uint64_t row, void *buf, uint64_t n);

mx_gguf_writer *mx_gguf_writer_new(void);   /* NULL when out of memory */
void mx_gguf_writer_free(mx_gguf_writer *w);
/* Data alignment (power of two); writes general.alignment when not 32. Call before writing. */
mixlm_status mx_gguf_w_set_alignment(mx_gguf_writer *w, uint32_t alignment);

/* ---- Metadata (keys and strings are copied) ----------------------------------------------- */
mixlm_status mx_gguf_w_u8(mx_gguf_writer *w, const char *key, uint8_t v);
mixlm_status mx_gguf_w_i8(mx_gguf_writer *w, const char *key, int8_t v);
mixlm_status mx_gguf_w_u16(mx_gguf_writer *w, const char *key, uint16_t v);
mixlm_status mx_gguf_w_i16(mx_gguf_writer *w, const char *key, int16_t v);
mixlm_status mx_gguf_w_u32(mx_gguf_writer *w, const char *key, uint32_t v);
mixlm_status mx_gguf_w_i32(mx_gguf_writer *w, const char *key, int32_t v);
mixlm_status mx_gguf_w_u64(mx_gguf_writer *w, const char *key, uint64_t v);
mixlm_status mx_gguf_w_i64(mx_gguf_writer *w, const char *key, int64_t v);
mixlm_status mx_gguf_w_f32(mx_gguf_writer *w, const char *key, float v);
mixlm_status mx_gguf_w_f64(mx_gguf_writer *w, const char *key, double v);
mixlm_status mx_gguf_w_bool(mx_gguf_writer *w, const char *key, bool v);
mixlm_status mx_gguf_w_str(mx_gguf_writer *w, const char *key, const char *s); /* NUL-terminated */
mixlm_status mx_gguf_w_strn(mx_gguf_writer *w, const char *key, const char *s, size_t len);
/* Numeric/bool array: n elements of type elem from data, host order (converted to
 * little-endian). */
mixlm_status mx_gguf_w_arr(mx_gguf_writer *w, const char *key, mx_gguf_vtype elem,
                           const void *data, uint64_t n);
/* String array; lens may be NULL (then each string is NUL-terminated). */
mixlm_status mx_gguf_w_arr_str(mx_gguf_writer *w, const char *key, const char *const *strs,
                               const size_t *lens, uint64_t n);
/* Copy key/value i of an opened file (any type, nested arrays included). */
mixlm_status mx_gguf_w_copy_kv(mx_gguf_writer *w, const mx_gguf *src, int64_t i);
/* Copy every key/value of src except general.alignment. */
mixlm_status mx_gguf_w_copy_all_kv(mx_gguf_writer *w, const mx_gguf *src);

/* ---- Tensors (in the order added) ---------------------------------------------------------- */
/* data (nbytes, which must equal the size the type and dims imply) is NOT copied: it must stay
 * valid until the image is written. data NULL writes zeros. */
mixlm_status mx_gguf_w_tensor(mx_gguf_writer *w, const char *name, mx_type type, int n_dims,
                              const int64_t *ne, const void *data, uint64_t nbytes);
/* A tensor whose bytes come from fill(user, row, ...) row by row when the file is written, so
 * that large generated models need not sit in memory. */
mixlm_status mx_gguf_w_tensor_fn(mx_gguf_writer *w, const char *name, mx_type type, int n_dims,
                                 const int64_t *ne, mx_gguf_fill_fn fill, void *user);

/* ---- Output ---------------------------------------------------------------------------------- */
mixlm_status mx_gguf_w_write_file(mx_gguf_writer *w, const char *path);
/* A malloc'd image the caller frees with free(). */
mixlm_status mx_gguf_w_write_memory(mx_gguf_writer *w, uint8_t **out, uint64_t *size);

#endif /* MX_GGUF_WRITE_H */
