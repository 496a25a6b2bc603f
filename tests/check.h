/* check.h: a minimal test harness: assertions that print both values and keep counting, and a
 * summary line "N passed, N failed" that CI reads. Each test file is its own program. */
#ifndef MIXLM_CHECK_H
#define MIXLM_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed_ = 0, check_failed_ = 0;

#define CHECK_(cond, ...)                                                         \
    do {                                                                          \
        if (cond) {                                                               \
            check_passed_++;                                                      \
        } else {                                                                  \
            check_failed_++;                                                      \
            fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

/* Rows (of `cols` values) whose largest value sits at the same index in a and b. */
static inline int check_argmax_agree(const float *a, const float *b, int rows, int cols) {
    int agree = 0;
    for (int r = 0; r < rows; r++) {
        int ia = 0, ib = 0;
        for (int i = 1; i < cols; i++) {
            if (a[(size_t)r * cols + i] > a[(size_t)r * cols + ia]) ia = i;
            if (b[(size_t)r * cols + i] > b[(size_t)r * cols + ib]) ib = i;
        }
        agree += ia == ib;
    }
    return agree;
}

/* Largest |a[i] - b[i]|; NaN anywhere gives NaN (which fails any <= bound). */
static inline double check_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

#define CHECK(cond) CHECK_((cond), "%s", #cond)
#define CHECK_MSG(cond, ...) CHECK_((cond), __VA_ARGS__)
#define CHECK_EQ_INT(a, b)                                                        \
    do {                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                       \
        CHECK_(a_ == b_, "%s == %s: %lld vs %lld", #a, #b, a_, b_);               \
    } while (0)
#define CHECK_EQ_STR(a, b)                                                        \
    do {                                                                          \
        const char *a_ = (a), *b_ = (b);                                          \
        CHECK_(a_ && b_ && strcmp(a_, b_) == 0, "%s == %s: \"%s\" vs \"%s\"", #a, #b, \
               a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                     \
    do {                                                                          \
        double a_ = (double)(a), b_ = (double)(b);                                \
        CHECK_(fabs(a_ - b_) <= (tol), "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_, \
               (double)(tol));                                                    \
    } while (0)

/* Path of a file under tests/data (static buffer, valid until the next call). */
static inline const char *test_data(const char *name) {
    static char buf[4096];
    const char *dir = getenv("MIXLM_TEST_DATA");
#ifdef MIXLM_TEST_DATA
    if (!dir) dir = MIXLM_TEST_DATA;
#endif
    if (!dir) dir = "tests/data";
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* A scratch directory for files a test writes. */
static inline const char *test_tmp(const char *name) {
    static char buf[4096];
    const char *dir = getenv("MIXLM_TEST_TMP");
    if (!dir) dir = "/tmp";
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* Print the summary and return the exit status. */
static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

#endif
