/*
 * Minimal unit-test harness: each test file is one executable under CTest.
 * CHECK* record a failure with file:line and go on; the process exits 1 if
 * any check failed. The last line is "N passed, N failed".
 */
#ifndef FSA_TEST_H
#define FSA_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned fsa_test_passed, fsa_test_failed;

#define CHECK(cond)                                                                                 \
    do {                                                                                            \
        if (cond) {                                                                                 \
            fsa_test_passed++;                                                                      \
        } else {                                                                                    \
            fsa_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                \
        }                                                                                           \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                                          \
    do {                                                                                            \
        uint64_t va_ = (uint64_t)(a), vb_ = (uint64_t)(b);                                          \
        if (va_ == vb_) {                                                                           \
            fsa_test_passed++;                                                                      \
        } else {                                                                                    \
            fsa_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %s failed: %" PRIu64 " != %" PRIu64 "\n", __FILE__,       \
                    __LINE__, #a, #b, va_, vb_);                                                    \
        }                                                                                           \
    } while (0)

#define CHECK_EQ_I64(a, b)                                                                          \
    do {                                                                                            \
        int64_t va_ = (int64_t)(a), vb_ = (int64_t)(b);                                             \
        if (va_ == vb_) {                                                                           \
            fsa_test_passed++;                                                                      \
        } else {                                                                                    \
            fsa_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %s failed: %" PRId64 " != %" PRId64 "\n", __FILE__,       \
                    __LINE__, #a, #b, va_, vb_);                                                    \
        }                                                                                           \
    } while (0)

#define CHECK_NEAR(a, b, eps)                                                                       \
    do {                                                                                            \
        double va_ = (double)(a), vb_ = (double)(b);                                                \
        if (fabs(va_ - vb_) <= (eps)) {                                                             \
            fsa_test_passed++;                                                                      \
        } else {                                                                                    \
            fsa_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s ~= %s failed: %.9g != %.9g\n", __FILE__, __LINE__, #a, #b,   \
                    va_, vb_);                                                                      \
        }                                                                                           \
    } while (0)

#define CHECK_STR(a, b)                                                                             \
    do {                                                                                            \
        const char *va_ = (a), *vb_ = (b);                                                          \
        if (va_ && vb_ && strcmp(va_, vb_) == 0) {                                                  \
            fsa_test_passed++;                                                                      \
        } else {                                                                                    \
            fsa_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a,   \
                    #b, va_ ? va_ : "(null)", vb_ ? vb_ : "(null)");                                \
        }                                                                                           \
    } while (0)

static inline int fsa_test_finish(void)
{
    printf("%u passed, %u failed\n", fsa_test_passed, fsa_test_failed);
    return fsa_test_failed ? 1 : 0;
}

/* Reads a whole file (fixture) into memory; exits the test on failure. */
static inline char *fsa_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Path of a fixture file under $FSA_FIXTURES_DIR. */
static inline const char *fsa_test_fixture(const char *name)
{
    static char path[4096];
    const char *dir = getenv("FSA_FIXTURES_DIR");
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared/fixtures/freeswitch-1.11.2", name);
    return path;
}

#endif
