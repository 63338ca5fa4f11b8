/*
 * aggregate: see aggregate.h for the families, keys, folding rule and why
 * each histogram takes the value it takes.
 *
 * Bucket bounds (explicit, upper-inclusive as OTLP defines them):
 *   leg.mos             1.5 2 2.5 3 3.5 3.6 3.8 4 4.1 4.2 4.3 4.4
 *       fine where carriers set SLAs (3.5..4.4: G.107's "some users
 *       dissatisfied" at R 70 = MOS 3.6 up to "very satisfied" at R 90 =
 *       MOS 4.34), coarse below 3.5 where every leg is simply bad.
 *   leg.jitter (ms)     1 2 5 10 20 30 50 75 100 150 200 300 500
 *       a jitter buffer of 20..60 ms absorbs the low buckets; 100+ is audible.
 *   rtcp.loss_fraction  0 0.005 0.01 0.02 0.05 0.1 0.2 0.5
 *       RTCP's fraction has a 1/256 (0.0039) step: the first bucket is
 *       exactly-no-loss, the next one-step (0.4 %), then 1 %, 2 %, 5 % (where
 *       G.711 without PLC becomes poor), and the tail.
 *   leg.media_gap       0.005 0.01 0.02 0.05 0.1 0.2 0.3 0.5
 *       from live FreeSWITCH 1.11.1 calls (contract.md): clean calls
 *       0.002-0.005 land in the first bucket, 40 +- 30 ms jitter up to 0.017
 *       in the next two, 10 % network loss 0.10-0.21 and 8 % output-path
 *       drops 0.20-0.32 in the upper ones; 0.05 is where an alert starts.
 */
#include "aggregate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double mos_bounds[] = {1.5, 2.0, 2.5, 3.0, 3.5, 3.6, 3.8, 4.0, 4.1, 4.2, 4.3, 4.4};
static const double jitter_bounds[] = {1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500};
static const double loss_bounds[] = {0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5};
static const double gap_bounds[] = {0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5};

_Static_assert(sizeof(mos_bounds) / sizeof(double) < FSA_AGG_MAX_BUCKETS, "bucket room");
_Static_assert(sizeof(jitter_bounds) / sizeof(double) < FSA_AGG_MAX_BUCKETS, "bucket room");
_Static_assert(sizeof(loss_bounds) / sizeof(double) < FSA_AGG_MAX_BUCKETS, "bucket room");
_Static_assert(sizeof(gap_bounds) / sizeof(double) < FSA_AGG_MAX_BUCKETS, "bucket room");

const double *fsa_agg_bounds(enum fsa_agg_family f, size_t *n)
{
    switch (f) {
    case FSA_AGG_LEG_MOS: *n = sizeof(mos_bounds) / sizeof(double); return mos_bounds;
    case FSA_AGG_LEG_JITTER: *n = sizeof(jitter_bounds) / sizeof(double); return jitter_bounds;
    case FSA_AGG_LOSS_FRACTION: *n = sizeof(loss_bounds) / sizeof(double); return loss_bounds;
    case FSA_AGG_LEG_MEDIA_GAP: *n = sizeof(gap_bounds) / sizeof(double); return gap_bounds;
    default: *n = 0; return NULL;
    }
}

static uint32_t pow2_at_least(uint32_t v)
{
    uint32_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

int fsa_agg_init(struct fsa_agg *a, unsigned max_keys)
{
    memset(a, 0, sizeof(*a));
    if (max_keys == 0)
        max_keys = FSA_AGG_DEFAULT_MAX_KEYS;
    if (max_keys > (1u << 22))
        return -EINVAL;
    uint32_t hard = max_keys + 2 * FSA_AGG_FOLD_RESERVE;
    uint32_t slots = pow2_at_least(hard * 2);
    for (int f = 0; f < FSA_AGG_FAMILY_COUNT; f++) {
        struct fsa_agg_table *t = &a->t[f];
        t->max_keys = max_keys;
        t->mask = slots - 1;
        t->index = calloc(slots, sizeof(*t->index));
        if (!t->index) {
            fsa_agg_free(a);
            return -ENOMEM;
        }
    }
    return 0;
}

void fsa_agg_free(struct fsa_agg *a)
{
    for (int f = 0; f < FSA_AGG_FAMILY_COUNT; f++) {
        free(a->t[f].entries);
        free(a->t[f].index);
        a->t[f] = (struct fsa_agg_table){0};
    }
}

uint64_t fsa_agg_keys(const struct fsa_agg *a)
{
    uint64_t n = 0;
    for (int f = 0; f < FSA_AGG_FAMILY_COUNT; f++)
        n += a->t[f].n;
    return n;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= 0xff; /* separator, so ("ab","c") and ("a","bc") differ */
    return h * 1099511628211ULL;
}

static uint64_t key_hash(const struct fsa_agg_key *k)
{
    uint64_t h = 1469598103934665603ULL;
    h ^= k->instance;
    h *= 1099511628211ULL;
    h ^= k->direction;
    h *= 1099511628211ULL;
    h = fnv_str(h, k->domain);
    h = fnv_str(h, k->codec);
    return fnv_str(h, k->cause);
}

static bool key_eq(const struct fsa_agg_key *a, const struct fsa_agg_key *b)
{
    return a->instance == b->instance && a->direction == b->direction && strcmp(a->domain, b->domain) == 0 &&
           strcmp(a->codec, b->codec) == 0 && strcmp(a->cause, b->cause) == 0;
}

static struct fsa_agg_entry *lookup(struct fsa_agg_table *t, const struct fsa_agg_key *k, uint64_t h,
                                    uint32_t *slot_out)
{
    uint32_t i = (uint32_t)h & t->mask;
    for (;;) {
        uint32_t v = t->index[i];
        if (v == 0) {
            *slot_out = i;
            return NULL;
        }
        struct fsa_agg_entry *e = &t->entries[v - 1];
        if (e->hash == h && key_eq(&e->key, k))
            return e;
        i = (i + 1) & t->mask;
    }
}

/* Inserts at the empty index slot lookup() found; NULL when memory is short. */
static struct fsa_agg_entry *insert(struct fsa_agg_table *t, const struct fsa_agg_key *k, uint64_t h, uint32_t slot)
{
    if (t->n == t->cap) {
        /* Grows only when a new series appears: never per record in the steady state. */
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        struct fsa_agg_entry *ne = realloc(t->entries, (size_t)cap * sizeof(*ne));
        if (!ne)
            return NULL;
        t->entries = ne;
        t->cap = cap;
    }
    struct fsa_agg_entry *e = &t->entries[t->n];
    memset(e, 0, sizeof(*e));
    e->key = *k;
    e->hash = h;
    t->n++;
    t->index[slot] = t->n;
    return e;
}

static struct fsa_agg_entry *find_or_add(struct fsa_agg *a, enum fsa_agg_family f, struct fsa_agg_key *k)
{
    struct fsa_agg_table *t = &a->t[f];
    uint32_t slot;
    uint64_t h = key_hash(k);
    struct fsa_agg_entry *e = lookup(t, k, h, &slot);
    if (e)
        return e;
    if (t->n < t->max_keys)
        return insert(t, k, h, slot);

    a->overflow++;
    memset(k->domain, 0, sizeof(k->domain));
    memcpy(k->domain, FSA_AGG_OVERFLOW_DOMAIN, sizeof(FSA_AGG_OVERFLOW_DOMAIN));
    h = key_hash(k);
    if ((e = lookup(t, k, h, &slot)) != NULL)
        return e;
    if (t->n < t->max_keys + FSA_AGG_FOLD_RESERVE)
        return insert(t, k, h, slot);

    /* Last resort: only fs_instance is kept. */
    k->direction = 0;
    memset(k->codec, 0, sizeof(k->codec));
    memset(k->cause, 0, sizeof(k->cause));
    h = key_hash(k);
    if ((e = lookup(t, k, h, &slot)) != NULL)
        return e;
    if (t->n < t->max_keys + 2 * FSA_AGG_FOLD_RESERVE)
        return insert(t, k, h, slot);
    a->dropped++;
    return NULL;
}

/* Copies a label that should be NUL-terminated in its array, cutting it if it is not. */
static void copy_label(char *dst, size_t cap, const char *src, size_t src_cap)
{
    size_t n = strnlen(src, src_cap);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    memset(dst + n, 0, cap - n);
}

static void make_key(struct fsa_agg_key *k, enum fsa_agg_family f, const struct fsa_metric_record *rec)
{
    memset(k, 0, sizeof(*k));
    const struct fsa_metric_labels *l = &rec->labels;
    k->instance = l->instance;
    copy_label(k->domain, sizeof(k->domain), l->domain_name, sizeof(l->domain_name));
    if (f == FSA_AGG_LEGS_ENDED)
        copy_label(k->cause, sizeof(k->cause), rec->hangup_cause, sizeof(rec->hangup_cause));
    if (f >= FSA_AGG_LEG_MOS) {
        copy_label(k->codec, sizeof(k->codec), l->codec_name, sizeof(l->codec_name));
        k->direction = l->direction <= FSA_DIR_OUTBOUND ? l->direction : FSA_DIR_UNKNOWN;
    }
}

double fsa_agg_observed_value(enum fsa_agg_family f, const struct fsa_metric_record *rec)
{
    switch (f) {
    case FSA_AGG_LEG_MOS:
        if (rec->kind != FSA_REC_QOS)
            return NAN;
        return rec->u.qos.mos_emodel; /* one model (aggregate.h): no fallback to FreeSWITCH's MOS */
    case FSA_AGG_LEG_JITTER:
        if (rec->kind != FSA_REC_QOS)
            return NAN;
        return isfinite(rec->u.qos.jitter_avg_ms) ? rec->u.qos.jitter_avg_ms : rec->u.qos.jitter_max_ms;
    case FSA_AGG_LOSS_FRACTION: return rec->kind == FSA_REC_RTCP ? rec->u.rtcp.fraction_lost : NAN;
    case FSA_AGG_LEG_MEDIA_GAP: return rec->kind == FSA_REC_QOS ? rec->u.qos.media_gap_ratio : NAN;
    default: return NAN;
    }
}

static void observe(struct fsa_agg *a, enum fsa_agg_family f, const struct fsa_metric_record *rec)
{
    double v = fsa_agg_observed_value(f, rec);
    if (!isfinite(v))
        return;
    struct fsa_agg_key k;
    make_key(&k, f, rec);
    struct fsa_agg_entry *e = find_or_add(a, f, &k);
    if (!e)
        return;
    size_t nb;
    const double *b = fsa_agg_bounds(f, &nb);
    size_t i = 0;
    while (i < nb && v > b[i])
        i++;
    struct fsa_agg_hist *hs = &e->v.hist;
    if (hs->count == 0 || v < hs->min)
        hs->min = v;
    if (hs->count == 0 || v > hs->max)
        hs->max = v;
    hs->count++;
    hs->sum += v;
    hs->buckets[i]++;
    e->dirty = true;
}

void fsa_agg_record(struct fsa_agg *a, const struct fsa_metric_record *rec)
{
    struct fsa_agg_key k;
    struct fsa_agg_entry *e;
    switch (rec->kind) {
    case FSA_REC_LEG_UP:
        make_key(&k, FSA_AGG_CALLS_ACTIVE, rec);
        if ((e = find_or_add(a, FSA_AGG_CALLS_ACTIVE, &k)) != NULL) {
            e->v.gauge++;
            e->dirty = true;
        }
        break;
    case FSA_REC_LEG_DOWN:
        make_key(&k, FSA_AGG_CALLS_ACTIVE, rec);
        if ((e = find_or_add(a, FSA_AGG_CALLS_ACTIVE, &k)) != NULL) {
            if (e->v.gauge > 0)
                e->v.gauge--;
            else
                a->underflow++;
            e->dirty = true;
        }
        make_key(&k, FSA_AGG_LEGS_ENDED, rec);
        if ((e = find_or_add(a, FSA_AGG_LEGS_ENDED, &k)) != NULL) {
            e->v.sum.total++;
            e->dirty = true;
        }
        break;
    case FSA_REC_QOS:
        observe(a, FSA_AGG_LEG_MOS, rec);
        observe(a, FSA_AGG_LEG_JITTER, rec);
        observe(a, FSA_AGG_LEG_MEDIA_GAP, rec);
        break;
    case FSA_REC_RTCP: observe(a, FSA_AGG_LOSS_FRACTION, rec); break;
    default: break;
    }
}
