/*
 * fsa_hist: a fixed-size log-linear histogram of non-negative integers
 * (latencies in µs), single writer, readable from any thread.
 *
 * Each power of two is split into FSA_HIST_SUB equal sub-buckets, so a
 * percentile read back is at most 1/FSA_HIST_SUB (12.5 %) above the true
 * value, over the whole uint64 range, in a constant 4 KiB with no allocation:
 * what a per-event hot path can afford. Values below FSA_HIST_SUB get a
 * bucket each.
 */
#ifndef FSA_HIST_H
#define FSA_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define FSA_HIST_SUB_BITS 3
#define FSA_HIST_SUB (1u << FSA_HIST_SUB_BITS)
#define FSA_HIST_BUCKETS ((64 - FSA_HIST_SUB_BITS + 1) * FSA_HIST_SUB)

struct fsa_hist {
    atomic_uint_fast64_t bucket[FSA_HIST_BUCKETS];
    atomic_uint_fast64_t count, sum, max;
};

static inline unsigned fsa_hist_index(uint64_t v)
{
    if (v < FSA_HIST_SUB)
        return (unsigned)v;
    unsigned top = 63u - (unsigned)__builtin_clzll(v); /* >= FSA_HIST_SUB_BITS */
    unsigned shift = top - FSA_HIST_SUB_BITS;
    /* (top - SUB_BITS + 1) octaves above the linear range, then the sub-bucket below the leading one. */
    return (shift + 1) * FSA_HIST_SUB + (unsigned)((v >> shift) & (FSA_HIST_SUB - 1));
}

/* The largest value that falls in bucket i (what a percentile reports). */
static inline uint64_t fsa_hist_upper(unsigned i)
{
    if (i < FSA_HIST_SUB)
        return i;
    unsigned shift = i / FSA_HIST_SUB - 1;
    uint64_t base = (uint64_t)(FSA_HIST_SUB + i % FSA_HIST_SUB) << shift;
    return base + ((1ull << shift) - 1);
}

/* Writer thread only: relaxed load + store, no read-modify-write on the hot path. */
static inline void fsa_hist_add(struct fsa_hist *h, uint64_t v)
{
    atomic_uint_fast64_t *b = &h->bucket[fsa_hist_index(v)];
    atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1, memory_order_relaxed);
    atomic_store_explicit(&h->count, atomic_load_explicit(&h->count, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&h->sum, atomic_load_explicit(&h->sum, memory_order_relaxed) + v, memory_order_relaxed);
    if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, v, memory_order_relaxed);
}

/*
 * The value at quantile q (0..1) of what was recorded, as its bucket's upper
 * bound (capped at the max seen); 0 when empty. Any thread: counts read while
 * the writer goes on may be a few events apart, which a percentile tolerates.
 */
static inline uint64_t fsa_hist_quantile(const struct fsa_hist *h, double q)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < FSA_HIST_BUCKETS; i++)
        total += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    if (!total)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)total + 0.5);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);
    for (unsigned i = 0; i < FSA_HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (seen >= rank) {
            uint64_t up = fsa_hist_upper(i);
            return up < max ? up : max;
        }
    }
    return max;
}

/*
 * Cumulative counts at fixed bounds, for a Prometheus histogram: out[j] =
 * values recorded in buckets whose every value is <= le[j] (le ascending),
 * so a bucket straddling a bound counts above it (never claims a value under
 * a bound it may exceed). Returns the total, the +Inf bucket. One pass over
 * one read of each bucket, so the counts are monotonic even while the writer
 * goes on.
 */
static inline uint64_t fsa_hist_cumulative(const struct fsa_hist *h, const uint64_t *le, unsigned nle, uint64_t *out,
                                           uint64_t *sum)
{
    uint64_t seen = 0;
    unsigned j = 0;
    for (unsigned i = 0; i < FSA_HIST_BUCKETS; i++) {
        while (j < nle && fsa_hist_upper(i) > le[j])
            out[j++] = seen;
        seen += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    }
    while (j < nle)
        out[j++] = seen;
    if (sum)
        *sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
    return seen;
}

#endif
