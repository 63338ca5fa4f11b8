/*
 * Bounded aggregates (export/aggregate.c): keys, folding into
 * "__overflow__", balance of calls.active across folding, bucket edges.
 */
#include <math.h>

#include "export/aggregate.h"
#include "fsa_test.h"

static struct fsa_metric_record rec(int kind, unsigned inst, const char *domain, const char *codec, int dir)
{
    struct fsa_metric_record r;
    memset(&r, 0, sizeof(r));
    r.kind = (uint8_t)kind;
    r.labels.instance = (uint16_t)inst;
    r.labels.direction = (uint8_t)dir;
    snprintf(r.labels.domain_name, sizeof(r.labels.domain_name), "%s", domain);
    snprintf(r.labels.codec_name, sizeof(r.labels.codec_name), "%s", codec);
    snprintf(r.hangup_cause, sizeof(r.hangup_cause), "NORMAL_CLEARING");
    return r;
}

static const struct fsa_agg_entry *find(const struct fsa_agg *a, int f, unsigned inst, const char *domain)
{
    const struct fsa_agg_table *t = &a->t[f];
    for (uint32_t i = 0; i < t->n; i++)
        if (t->entries[i].key.instance == inst && strcmp(t->entries[i].key.domain, domain) == 0)
            return &t->entries[i];
    return NULL;
}

/* Past max_keys new domains fold into "__overflow__"; their LEG_DOWNs find the same series. */
static void test_overflow_folding(void)
{
    struct fsa_agg a;
    CHECK(fsa_agg_init(&a, 3) == 0);
    const char *doms[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) {
        struct fsa_metric_record r = rec(FSA_REC_LEG_UP, 0, doms[i], "PCMU", FSA_DIR_INBOUND);
        fsa_agg_record(&a, &r);
    }
    CHECK_EQ_U64(a.t[FSA_AGG_CALLS_ACTIVE].n, 4); /* a, b, c, __overflow__ */
    CHECK_EQ_U64(a.overflow, 2);
    const struct fsa_agg_entry *ov = find(&a, FSA_AGG_CALLS_ACTIVE, 0, FSA_AGG_OVERFLOW_DOMAIN);
    CHECK(ov && ov->v.gauge == 2);
    CHECK(find(&a, FSA_AGG_CALLS_ACTIVE, 0, "d") == NULL);

    /* d ends: its LEG_DOWN folds the same way and decrements the overflow series. */
    struct fsa_metric_record r = rec(FSA_REC_LEG_DOWN, 0, "d", "PCMU", FSA_DIR_INBOUND);
    fsa_agg_record(&a, &r);
    CHECK(ov->v.gauge == 1);
    /* legs.ended is its own family: "d" is its first key, not folded. */
    const struct fsa_agg_entry *ended = find(&a, FSA_AGG_LEGS_ENDED, 0, "d");
    CHECK(ended && ended->v.sum.total == 1);
    r = rec(FSA_REC_LEG_DOWN, 0, "a", "PCMU", FSA_DIR_INBOUND);
    fsa_agg_record(&a, &r);
    CHECK(find(&a, FSA_AGG_CALLS_ACTIVE, 0, "a")->v.gauge == 0);
    CHECK_EQ_U64(a.underflow, 0);
    fsa_agg_record(&a, &r);
    CHECK_EQ_U64(a.underflow, 1);
    CHECK(find(&a, FSA_AGG_CALLS_ACTIVE, 0, "a")->v.gauge == 0);
    /* Another instance's overflow is its own series. */
    r = rec(FSA_REC_LEG_UP, 1, "zzz", "PCMU", FSA_DIR_INBOUND);
    fsa_agg_record(&a, &r);
    CHECK(find(&a, FSA_AGG_CALLS_ACTIVE, 1, FSA_AGG_OVERFLOW_DOMAIN) != NULL);
    fsa_agg_free(&a);
}

/* When even the folded keys run out, only fs_instance is kept; then observations are dropped. */
static void test_last_resort(void)
{
    struct fsa_agg a;
    CHECK(fsa_agg_init(&a, 1) == 0);
    struct fsa_metric_record r;
    char codec[16];
    /* Histogram keys differ by codec: each folded one keeps its codec until the reserve is used. */
    for (unsigned i = 0; i < 1 + FSA_AGG_FOLD_RESERVE + 5; i++) {
        snprintf(codec, sizeof(codec), "c%u", i);
        r = rec(FSA_REC_QOS, 0, i == 0 ? "first" : "other", codec, FSA_DIR_OUTBOUND);
        r.u.qos.mos_emodel = 4.0;
        r.u.qos.jitter_avg_ms = 1.0;
        fsa_agg_record(&a, &r);
    }
    const struct fsa_agg_table *t = &a.t[FSA_AGG_LEG_MOS];
    CHECK_EQ_U64(t->n, 1 + FSA_AGG_FOLD_RESERVE + 1);
    const struct fsa_agg_entry *last = &t->entries[t->n - 1];
    CHECK_STR(last->key.domain, FSA_AGG_OVERFLOW_DOMAIN);
    CHECK_STR(last->key.codec, "");
    CHECK_EQ_U64(last->key.direction, 0);
    CHECK_EQ_U64(last->v.hist.count, 5); /* the 5 past the reserve */
    CHECK_EQ_U64(a.dropped, 0);
    fsa_agg_free(&a);
}

/* Upper-inclusive buckets; NaN observes nothing; the fallbacks. */
static void test_buckets_and_values(void)
{
    struct fsa_agg a;
    CHECK(fsa_agg_init(&a, 0) == 0);
    size_t nb;
    const double *b = fsa_agg_bounds(FSA_AGG_LOSS_FRACTION, &nb);
    CHECK_EQ_U64(nb, 8);
    CHECK(b[0] == 0.0);
    double vals[] = {0.0, 1 / 256.0, 0.5, 0.75, NAN};
    for (size_t i = 0; i < 5; i++) {
        struct fsa_metric_record r = rec(FSA_REC_RTCP, 0, "x", "PCMU", FSA_DIR_INBOUND);
        r.u.rtcp.fraction_lost = vals[i];
        fsa_agg_record(&a, &r);
    }
    const struct fsa_agg_entry *e = find(&a, FSA_AGG_LOSS_FRACTION, 0, "x");
    CHECK(e != NULL);
    if (e) {
        CHECK_EQ_U64(e->v.hist.count, 4);
        CHECK_EQ_U64(e->v.hist.buckets[0], 1); /* exactly 0 */
        CHECK_EQ_U64(e->v.hist.buckets[1], 1); /* (0, 0.005] */
        CHECK_EQ_U64(e->v.hist.buckets[7], 1); /* (0.2, 0.5]: 0.5 is on the bound */
        CHECK_EQ_U64(e->v.hist.buckets[8], 1); /* > 0.5 */
        CHECK(e->v.hist.min == 0.0 && e->v.hist.max == 0.75);
    }
    struct fsa_metric_record q = rec(FSA_REC_QOS, 0, "x", "PCMU", FSA_DIR_INBOUND);
    q.u.qos.mos_emodel = NAN;
    q.u.qos.mos_score = 3.3;
    q.u.qos.jitter_avg_ms = NAN;
    q.u.qos.jitter_max_ms = 42;
    CHECK(isnan(fsa_agg_observed_value(FSA_AGG_LEG_MOS, &q))); /* one model: no fallback to FreeSWITCH's */
    CHECK(fsa_agg_observed_value(FSA_AGG_LEG_JITTER, &q) == 42);
    q.u.qos.mos_emodel = 4.1;
    q.u.qos.jitter_avg_ms = 3;
    CHECK(fsa_agg_observed_value(FSA_AGG_LEG_MOS, &q) == 4.1);
    CHECK(fsa_agg_observed_value(FSA_AGG_LEG_JITTER, &q) == 3);
    q.u.qos.mos_score = NAN;
    q.u.qos.mos_emodel = NAN;
    CHECK(isnan(fsa_agg_observed_value(FSA_AGG_LEG_MOS, &q)));
    CHECK(isnan(fsa_agg_observed_value(FSA_AGG_LOSS_FRACTION, &q)));
    fsa_agg_free(&a);
}

/* Labels that fill their arrays without a NUL are cut, never overread; unknown directions are "unknown". */
static void test_untrusted_labels(void)
{
    struct fsa_agg a;
    CHECK(fsa_agg_init(&a, 0) == 0);
    struct fsa_metric_record r = rec(FSA_REC_RTCP, 0, "", "", 77);
    memset(r.labels.domain_name, 'd', sizeof(r.labels.domain_name));
    memset(r.labels.codec_name, 'c', sizeof(r.labels.codec_name));
    r.u.rtcp.fraction_lost = 0.1;
    fsa_agg_record(&a, &r);
    const struct fsa_agg_table *t = &a.t[FSA_AGG_LOSS_FRACTION];
    CHECK_EQ_U64(t->n, 1);
    CHECK_EQ_U64(strlen(t->entries[0].key.domain), FSA_DOMAIN_MAX - 1);
    CHECK_EQ_U64(strlen(t->entries[0].key.codec), FSA_CODEC_MAX - 1);
    CHECK_EQ_U64(t->entries[0].key.direction, FSA_DIR_UNKNOWN);
    fsa_agg_free(&a);
}

/* Many keys: lookups stay correct across entry-array growth. */
static void test_many_keys(void)
{
    struct fsa_agg a;
    CHECK(fsa_agg_init(&a, 10000) == 0);
    char d[32];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 10000; i++) {
            snprintf(d, sizeof(d), "dom%d", i);
            struct fsa_metric_record r = rec(FSA_REC_LEG_UP, 0, d, "PCMU", 1);
            fsa_agg_record(&a, &r);
        }
    CHECK_EQ_U64(a.t[FSA_AGG_CALLS_ACTIVE].n, 10000);
    CHECK_EQ_U64(a.overflow, 0);
    int bad = 0;
    for (uint32_t i = 0; i < a.t[FSA_AGG_CALLS_ACTIVE].n; i++)
        bad += a.t[FSA_AGG_CALLS_ACTIVE].entries[i].v.gauge != 2;
    CHECK_EQ_U64(bad, 0);
    struct fsa_metric_record r = rec(FSA_REC_LEG_UP, 0, "one-more", "PCMU", 1);
    fsa_agg_record(&a, &r);
    CHECK_EQ_U64(a.overflow, 1);
    fsa_agg_free(&a);
}

int main(void)
{
    test_overflow_folding();
    test_last_resort();
    test_buckets_and_values();
    test_untrusted_labels();
    test_many_keys();
    return fsa_test_finish();
}
