/*
 * aggregate: the bounded series the exporter builds from metric records.
 *
 * Six families, each a table keyed only by low-cardinality labels
 * (contract.md, "Bounded aggregates"):
 *
 *   family                         key                                     fed by
 *   freeswitch.calls.active        fs_instance, domain_name                LEG_UP +1, LEG_DOWN -1
 *   freeswitch.legs.ended          fs_instance, domain_name, hangup_cause  LEG_DOWN +1
 *   freeswitch.leg.mos             fs_instance, domain_name, codec_name,   QOS: mos_emodel only
 *                                  direction
 *   freeswitch.leg.jitter (ms)     same                                    QOS: jitter_avg_ms, else
 *                                                                            jitter_max_ms when NaN
 *   freeswitch.rtcp.loss_fraction  same (direction = the report's)         RTCP: fraction_lost
 *   freeswitch.leg.media_gap       same as leg.mos                         QOS: media_gap_ratio
 *
 * Why mos_emodel feeds leg.mos: it is the same model as the live
 * freeswitch.rtcp.mos gauges, on one scale for every codec, so the histogram
 * and the live series agree. One model only (contract): FreeSWITCH's own
 * rtp_audio_in_mos never fills in for a leg the E-model did not rate, or an
 * SLA report built on the histogram would mix two models' scales; it stays
 * in its own per-leg series, freeswitch.qos.mos_score. Why jitter_avg_ms: it is the mean
 * of the leg's RTCP reports (the contract's leg jitter); a leg without
 * reports contributes FreeSWITCH's max jitter, an upper bound, so every leg
 * with media is counted.
 *
 * Bounds: each family holds at most max_keys ordinary keys (default 10000).
 * A new key beyond that is folded: its domain_name becomes "__overflow__"
 * (other labels kept), counted in `overflow` per observation; those folded
 * keys may use 1024 more slots, and past those every label but fs_instance
 * is folded too (1024 more). Only when even that is full is an observation
 * dropped (`dropped`). Keys are never evicted, so a LEG_DOWN always finds the
 * series its LEG_UP counted (folded or not) and calls.active stays balanced.
 * A LEG_DOWN that would take a gauge below 0 (its LEG_UP was lost upstream)
 * leaves it at 0 and counts `underflow`.
 *
 * Single-threaded: the exporter thread owns it.
 */
#ifndef FSA_EXPORT_AGGREGATE_H
#define FSA_EXPORT_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring/fsa_metric.h"

enum fsa_agg_family {
    FSA_AGG_CALLS_ACTIVE = 0,
    FSA_AGG_LEGS_ENDED,
    FSA_AGG_LEG_MOS,
    FSA_AGG_LEG_JITTER,
    FSA_AGG_LOSS_FRACTION,
    FSA_AGG_LEG_MEDIA_GAP,
    FSA_AGG_FAMILY_COUNT
};

#define FSA_AGG_DEFAULT_MAX_KEYS 10000u
#define FSA_AGG_FOLD_RESERVE 1024u /* slots for "__overflow__" keys, and again for the last resort */
#define FSA_AGG_OVERFLOW_DOMAIN "__overflow__"
#define FSA_AGG_MAX_BUCKETS 16

struct fsa_agg_key {
    uint16_t instance;
    uint8_t direction; /* enum fsa_direction; histograms only */
    uint8_t pad;
    char domain[FSA_DOMAIN_MAX];
    char codec[FSA_CODEC_MAX]; /* histograms only */
    char cause[FSA_CAUSE_MAX]; /* legs.ended only */
};

struct fsa_agg_hist {
    uint64_t count;
    double sum, min, max;
    uint64_t buckets[FSA_AGG_MAX_BUCKETS]; /* nbounds + 1 used */
};

struct fsa_agg_entry {
    struct fsa_agg_key key;
    uint64_t hash;
    bool dirty; /* changed since the last snapshot */
    union {
        int64_t gauge;
        struct {
            uint64_t total;    /* since start */
            uint64_t exported; /* total at the last snapshot (delta temporality) */
        } sum;
        struct fsa_agg_hist hist;
    } v;
};

struct fsa_agg_table {
    struct fsa_agg_entry *entries; /* dense, in insertion order */
    uint32_t n, cap;
    uint32_t *index; /* open addressing; entry index + 1, 0 = empty */
    uint32_t mask;
    uint32_t max_keys;
};

struct fsa_agg {
    struct fsa_agg_table t[FSA_AGG_FAMILY_COUNT];
    uint64_t overflow;  /* observations folded into an "__overflow__" key */
    uint64_t dropped;   /* observations with no room even after folding */
    uint64_t underflow; /* LEG_DOWN on a calls.active series already at 0 */
};

/* max_keys 0: FSA_AGG_DEFAULT_MAX_KEYS. 0 or -ENOMEM / -EINVAL. */
int fsa_agg_init(struct fsa_agg *a, unsigned max_keys);
void fsa_agg_free(struct fsa_agg *a);

/* Feeds one record (any kind; NONE and unknown kinds are ignored). */
void fsa_agg_record(struct fsa_agg *a, const struct fsa_metric_record *rec);

/* Explicit bucket bounds of a histogram family (NULL for the others). */
const double *fsa_agg_bounds(enum fsa_agg_family f, size_t *n);

/* The value a histogram family takes from a record, NaN when it takes none. */
double fsa_agg_observed_value(enum fsa_agg_family f, const struct fsa_metric_record *rec);

uint64_t fsa_agg_keys(const struct fsa_agg *a);

#endif
