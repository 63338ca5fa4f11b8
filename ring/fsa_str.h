/*
 * fsa_str: a length-carrying view of bytes that came from the wire.
 *
 * Headers and values are never NUL-terminated copies on the hot path: a
 * parser hands out slices into the buffer it was given, valid for as long as
 * that buffer is. Copies into fixed-size fields go through fsa_str_copy(),
 * which truncates, always terminates, and says whether it truncated.
 */
#ifndef FSA_STR_H
#define FSA_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fsa_str {
    const char *p;
    size_t n;
};

#define FSA_STR_LIT(s) ((struct fsa_str){(s), sizeof(s) - 1})
#define FSA_STR_NULL ((struct fsa_str){NULL, 0})

static inline struct fsa_str fsa_str_make(const char *p, size_t n)
{
    return (struct fsa_str){p, n};
}

static inline struct fsa_str fsa_str_cstr(const char *s)
{
    return (struct fsa_str){s, s ? strlen(s) : 0};
}

static inline bool fsa_str_eq(struct fsa_str a, struct fsa_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool fsa_str_eq_lit(struct fsa_str a, const char *lit, size_t lit_len)
{
    return a.n == lit_len && memcmp(a.p, lit, lit_len) == 0;
}
#define FSA_STR_IS(s, lit) fsa_str_eq_lit((s), (lit), sizeof(lit) - 1)

static inline bool fsa_str_has_prefix(struct fsa_str a, const char *lit, size_t lit_len)
{
    return a.n >= lit_len && memcmp(a.p, lit, lit_len) == 0;
}

/* Copies into dst[cap] (cap >= 1), NUL-terminated; returns false if it had to cut. */
static inline bool fsa_str_copy(char *dst, size_t cap, struct fsa_str src)
{
    size_t n = src.n < cap - 1 ? src.n : cap - 1;
    if (n)
        memcpy(dst, src.p, n);
    dst[n] = '\0';
    return n == src.n;
}

/* Value of one hexadecimal digit, either case; -1 for anything else. */
static inline int fsa_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* ASCII lower case */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Strict decimal parse of the whole slice (optional leading '-').
 * Returns false on empty input, stray characters or overflow.
 */
bool fsa_str_to_i64(struct fsa_str s, int64_t *out);
bool fsa_str_to_u64(struct fsa_str s, uint64_t *out);
/* Whole-slice hexadecimal (no 0x), at most 16 digits. */
bool fsa_str_hex_to_u64(struct fsa_str s, uint64_t *out);
/* Decimal floating point as FreeSWITCH prints it ("%0.2f", "0.020004"); rejects nan/inf text. */
bool fsa_str_to_double(struct fsa_str s, double *out);

/* 64-bit FNV-1a: the shard hash of a Unique-ID. Stable across runs and agents. */
static inline uint64_t fsa_hash64(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#endif
