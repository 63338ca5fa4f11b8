/*
 * Strict number parsing for values that came from the wire or the config:
 * the whole slice must be consumed, overflow is an error, nothing reads past n.
 */
#include "fsa_str.h"

#include <math.h>
#include <stdlib.h>

bool fsa_str_to_u64(struct fsa_str s, uint64_t *out)
{
    if (s.n == 0 || s.n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned char)s.p[i] - '0';
        if (d > 9)
            return false;
        if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, d, &v))
            return false;
    }
    *out = v;
    return true;
}

bool fsa_str_to_i64(struct fsa_str s, int64_t *out)
{
    bool neg = s.n > 0 && s.p[0] == '-';
    uint64_t mag;
    if (!fsa_str_to_u64(neg ? fsa_str_make(s.p + 1, s.n - 1) : s, &mag))
        return false;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return false;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)mag;
    }
    return true;
}

bool fsa_str_hex_to_u64(struct fsa_str s, uint64_t *out)
{
    if (s.n == 0 || s.n > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        int d = fsa_hex_digit((unsigned char)s.p[i]);
        if (d < 0)
            return false;
        v = (v << 4) | (unsigned)d;
    }
    *out = v;
    return true;
}

bool fsa_str_to_double(struct fsa_str s, double *out)
{
    /* strtod needs a terminated string; FreeSWITCH numbers are short. */
    char buf[64];
    if (s.n == 0 || s.n >= sizeof(buf))
        return false;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
            return false; /* also refuses "nan", "inf", hex floats */
    }
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + s.n || !isfinite(v))
        return false;
    *out = v;
    return true;
}
