/*
 * ring/fsa_hist.h: bucket boundaries and percentiles on values whose answer
 * is worked out by hand below.
 */
#include "fsa_test.h"
#include "ring/fsa_hist.h"

#include <stdlib.h>

/*
 * 8 sub-buckets per power of two. Below 8 one bucket per value; then
 * [8,9] .. [15,15] one each (shift 0), [16,17] [18,19] .. [30,31] (shift 1),
 * [32,35] .. (shift 2), and so on: bucket i >= 8 covers
 * [(8 + i%8) << (i/8 - 1), ((8 + i%8 + 1) << (i/8 - 1)) - 1].
 */
static void hist_buckets(void)
{
    CHECK_EQ_U64(fsa_hist_index(0), 0);
    CHECK_EQ_U64(fsa_hist_index(7), 7);
    CHECK_EQ_U64(fsa_hist_index(8), 8);
    CHECK_EQ_U64(fsa_hist_index(15), 15);
    CHECK_EQ_U64(fsa_hist_index(16), 16);
    CHECK_EQ_U64(fsa_hist_index(17), 16);
    CHECK_EQ_U64(fsa_hist_index(18), 17);
    CHECK_EQ_U64(fsa_hist_index(31), 23);
    CHECK_EQ_U64(fsa_hist_index(32), 24);
    /* 1000: leading one at bit 9, shift 6, 1000 >> 6 = 15 -> (6 + 1) x 8 + 7 = 63; covers [960, 1023]. */
    CHECK_EQ_U64(fsa_hist_index(1000), 63);
    CHECK_EQ_U64(fsa_hist_upper(63), 1023);
    /* 1024: bit 10, shift 7, 1024 >> 7 = 8 -> 64; covers [1024, 1151]. */
    CHECK_EQ_U64(fsa_hist_index(1024), 64);
    CHECK_EQ_U64(fsa_hist_upper(64), 1151);
    CHECK_EQ_U64(fsa_hist_upper(16), 17);
    CHECK_EQ_U64(fsa_hist_index(UINT64_MAX), FSA_HIST_BUCKETS - 1);
    CHECK(fsa_hist_upper(FSA_HIST_BUCKETS - 1) == UINT64_MAX);
    /* Every value falls in a bucket whose bounds hold it, and the bound is within 12.5 %. */
    unsigned bad = 0;
    for (uint64_t v = 1; v < (1u << 20); v += 1 + v / 64) {
        unsigned i = fsa_hist_index(v);
        uint64_t up = fsa_hist_upper(i);
        uint64_t lo = i ? fsa_hist_upper(i - 1) + 1 : 0;
        if (v < lo || v > up || (double)up > (double)v * 1.125 + 1)
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
}

static void hist_quantiles(void)
{
    static struct fsa_hist h;
    CHECK_EQ_U64(fsa_hist_quantile(&h, 0.5), 0);
    /* 1..1000 once each: the median's rank is 500 (0.5 x 1000), which lies in [480, 511] -> 511;
     * p99's rank 990 lies in [960, 1023], capped at the max 1000. */
    for (uint64_t v = 1; v <= 1000; v++)
        fsa_hist_add(&h, v);
    CHECK_EQ_U64(atomic_load(&h.count), 1000);
    CHECK_EQ_U64(atomic_load(&h.sum), 500500);
    CHECK_EQ_U64(atomic_load(&h.max), 1000);
    CHECK_EQ_U64(fsa_hist_quantile(&h, 0.5), 511);
    CHECK_EQ_U64(fsa_hist_quantile(&h, 0.99), 1000);
    CHECK_EQ_U64(fsa_hist_quantile(&h, 0.0), 1); /* rank 1: value 1's own bucket */
}

int main(void)
{
    hist_buckets();
    hist_quantiles();
    return fsa_test_finish();
}
