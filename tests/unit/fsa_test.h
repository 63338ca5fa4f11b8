/*
 * Minimal unit-test harness: each test file is one executable under CTest.
 * CHECK* record a failure with file:line and go on; the process exits 1 if
 * any check failed or none ran. The last line is "N passed, N failed".
 * A test that cannot run at all (a tool missing) exits FSA_TEST_SKIP (77):
 * CTest reports it as skipped and scripts/test.sh fails on a skip.
 */
#ifndef FSA_TEST_H
#define FSA_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FSA_TEST_SKIP 77

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

/* Exit code of the test: 1 if any check failed, and also when none ran (a test
 * that checked nothing has not passed). */
static inline int fsa_test_finish(void)
{
    printf("%u passed, %u failed\n", fsa_test_passed, fsa_test_failed);
    if (fsa_test_passed + fsa_test_failed == 0) {
        fprintf(stderr, "no check ran\n");
        return 1;
    }
    return fsa_test_failed ? 1 : 0;
}

/* The folder for temporary files: $TMPDIR (tests/run_test.sh gives each test
 * its own and removes it afterwards), else /tmp. */
static inline const char *fsa_test_tmpdir(void)
{
    const char *dir = getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
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

/* The repository's tests/fixtures/ (FSA_TEST_SOURCE_DIR is set by tests/CMakeLists.txt). */
#define FSA_TEST_FIXTURES_ROOT FSA_TEST_SOURCE_DIR "/tests/fixtures"

/* Path of a file of the FreeSWITCH 1.11.2 captures: tests/fixtures/freeswitch-1.11.2,
 * or $FSA_FIXTURES_DIR when set (another capture of the same kind). */
static inline const char *fsa_test_fixture(const char *name)
{
    static char path[4096];
    const char *dir = getenv("FSA_FIXTURES_DIR");
    if (dir && *dir)
        snprintf(path, sizeof(path), "%s/%s", dir, name);
    else
        snprintf(path, sizeof(path), "%s/freeswitch-1.11.2/%s", FSA_TEST_FIXTURES_ROOT, name);
    return path;
}

/* Path of a file of the FreeSWITCH 1.11.1 `api`/`bgapi` replies (tests/fixtures/freeswitch-1.11.1-api). */
static inline const char *fsa_test_api_fixture(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/freeswitch-1.11.1-api/%s", FSA_TEST_FIXTURES_ROOT, name);
    return path;
}

#endif
