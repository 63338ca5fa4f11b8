/*
 * The hand-written OTLP writer (export/otlp.c) against the protobuf-c encoder
 * it replaced (test_otlp_ref.h, the old otlp.c): the same records, batch
 * limits, snapshots and gzip setting must give the same sealed bytes, and the
 * same message once both are unpacked by protobuf-c's generated code
 * (build/proto-gen), compared field by field. Random streams cover NaN and
 * infinite fields, empty and full-length labels, long instance names (2-byte
 * varint lengths), as_int rounding and clamping, time 0, every record kind,
 * direction codes out of range, both temporalities and small batch limits.
 * Targeted tests pin values derived by hand: the exact bytes of one data
 * point, as_int vs as_double, NaN omission, empty attribute strings, start
 * times of gauges, sums and histograms in both temporalities.
 */
#include <math.h>

#include "export/otlp.h"
#include "fsa_test.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "test_otlp_ref.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest Req;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics RM;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics SM;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NDP;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HDP;
typedef Opentelemetry__Proto__Common__V1__KeyValue KV;

#define CASE_DOUBLE OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE
#define CASE_INT OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT
#define CASE_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define DATA_GAUGE OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE
#define DATA_SUM OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM
#define DATA_HIST OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM
#define TEMP_DELTA OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
#define TEMP_CUMULATIVE OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE

static char long_name[201];
static const char *names3[] = {"fs1", "", long_name};

/* ---- the two encoders side by side ---- */

struct pair {
    struct fsa_otlp *n; /* new */
    struct ref_otlp *r; /* reference */
    struct fsa_gzip *z;
    bool delta;
    unsigned sealed, points;
};

static const char *version = "1.2.3";

static struct fsa_otlp_params params(bool per_leg, bool delta, unsigned max_points, size_t max_bytes, uint64_t start)
{
    return (struct fsa_otlp_params){
        .instance_names = names3,
        .ninstances = 3,
        .service_version = version,
        .instance_id = "agent-9",
        .host_name = "", /* an empty resource attribute value */
        .per_leg = per_leg,
        .delta = delta,
        .batch_max_points = max_points,
        .batch_max_bytes = max_bytes,
        .max_agg_keys = 8, /* small, so folding into __overflow__ happens too */
        .start_unix_ns = start,
    };
}

static void pair_open(struct pair *p, const struct fsa_otlp_params *prm, bool gzip)
{
    memset(p, 0, sizeof(*p));
    CHECK(fsa_otlp_create(prm, &p->n) == NULL);
    CHECK(ref_otlp_create(prm, &p->r) == NULL);
    p->z = gzip ? fsa_gzip_create(1) : NULL;
    p->delta = prm->delta;
}

static void pair_close(struct pair *p)
{
    fsa_otlp_destroy(p->n);
    ref_otlp_destroy(p->r);
    if (p->z)
        fsa_gzip_destroy(p->z);
}

/* The plain message of a sealed frame (gunzip'd when flagged); malloc'd. */
static uint8_t *plain_of(const uint8_t *msg, size_t len, size_t *n)
{
    uint32_t fl = (uint32_t)msg[1] << 24 | (uint32_t)msg[2] << 16 | (uint32_t)msg[3] << 8 | msg[4];
    CHECK_EQ_U64(fl, len - 5);
    size_t cap = msg[0] ? (size_t)64 << 20 : len - 5 + 1;
    uint8_t *out = malloc(cap);
    if (msg[0]) {
        long pl = fsa_gunzip(msg + 5, fl, out, cap);
        CHECK(pl > 0);
        *n = pl > 0 ? (size_t)pl : 0;
    } else {
        memcpy(out, msg + 5, len - 5);
        *n = len - 5;
    }
    return out;
}

/* ---- field-by-field comparison of two unpacked requests ---- */

#define SAME(cond, what)                                                                                               \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            return what;                                                                                               \
    } while (0)

static bool same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0; /* bit for bit: -0.0 is not 0.0 */
}

static const char *cmp_kvs(KV *const *a, size_t na, KV *const *b, size_t nb)
{
    SAME(na == nb, "attribute count");
    for (size_t i = 0; i < na; i++) {
        SAME(strcmp(a[i]->key, b[i]->key) == 0, "attribute key");
        SAME((a[i]->value == NULL) == (b[i]->value == NULL), "attribute value presence");
        if (!a[i]->value)
            continue;
        SAME(a[i]->value->value_case == b[i]->value->value_case, "attribute value case");
        if (a[i]->value->value_case == CASE_STRING)
            SAME(strcmp(a[i]->value->string_value, b[i]->value->string_value) == 0, "attribute string");
    }
    return NULL;
}

static const char *cmp_ndp(const NDP *a, const NDP *b)
{
    const char *d = cmp_kvs(a->attributes, a->n_attributes, b->attributes, b->n_attributes);
    SAME(!d, d);
    SAME(a->start_time_unix_nano == b->start_time_unix_nano, "start_time_unix_nano");
    SAME(a->time_unix_nano == b->time_unix_nano, "time_unix_nano");
    SAME(a->value_case == b->value_case, "value case");
    if (a->value_case == CASE_DOUBLE)
        SAME(same_double(a->as_double, b->as_double), "as_double");
    if (a->value_case == CASE_INT)
        SAME(a->as_int == b->as_int, "as_int");
    SAME(a->n_exemplars == b->n_exemplars && a->flags == b->flags, "exemplars/flags");
    return NULL;
}

static const char *cmp_hdp(const HDP *a, const HDP *b)
{
    const char *d = cmp_kvs(a->attributes, a->n_attributes, b->attributes, b->n_attributes);
    SAME(!d, d);
    SAME(a->start_time_unix_nano == b->start_time_unix_nano, "hist start_time_unix_nano");
    SAME(a->time_unix_nano == b->time_unix_nano, "hist time_unix_nano");
    SAME(a->count == b->count, "hist count");
    SAME(a->_sum_case == b->_sum_case && same_double(a->sum, b->sum), "hist sum");
    SAME(a->_min_case == b->_min_case && same_double(a->min, b->min), "hist min");
    SAME(a->_max_case == b->_max_case && same_double(a->max, b->max), "hist max");
    SAME(a->n_bucket_counts == b->n_bucket_counts, "bucket count");
    for (size_t i = 0; i < a->n_bucket_counts; i++)
        SAME(a->bucket_counts[i] == b->bucket_counts[i], "bucket_counts");
    SAME(a->n_explicit_bounds == b->n_explicit_bounds, "bound count");
    for (size_t i = 0; i < a->n_explicit_bounds; i++)
        SAME(same_double(a->explicit_bounds[i], b->explicit_bounds[i]), "explicit_bounds");
    SAME(a->n_exemplars == b->n_exemplars && a->flags == b->flags, "hist exemplars/flags");
    return NULL;
}

static const char *cmp_metric(const Metric *a, const Metric *b)
{
    SAME(strcmp(a->name, b->name) == 0, "metric name");
    SAME(strcmp(a->description, b->description) == 0, "metric description");
    SAME(strcmp(a->unit, b->unit) == 0, "metric unit");
    SAME(a->data_case == b->data_case, "metric data case");
    SAME(a->n_metadata == b->n_metadata, "metric metadata");
    const char *d = NULL;
    if (a->data_case == DATA_GAUGE) {
        SAME(a->gauge->n_data_points == b->gauge->n_data_points, "gauge point count");
        for (size_t i = 0; !d && i < a->gauge->n_data_points; i++)
            d = cmp_ndp(a->gauge->data_points[i], b->gauge->data_points[i]);
    } else if (a->data_case == DATA_SUM) {
        SAME(a->sum->aggregation_temporality == b->sum->aggregation_temporality, "sum temporality");
        SAME(a->sum->is_monotonic == b->sum->is_monotonic, "sum is_monotonic");
        SAME(a->sum->n_data_points == b->sum->n_data_points, "sum point count");
        for (size_t i = 0; !d && i < a->sum->n_data_points; i++)
            d = cmp_ndp(a->sum->data_points[i], b->sum->data_points[i]);
    } else if (a->data_case == DATA_HIST) {
        SAME(a->histogram->aggregation_temporality == b->histogram->aggregation_temporality, "hist temporality");
        SAME(a->histogram->n_data_points == b->histogram->n_data_points, "hist point count");
        for (size_t i = 0; !d && i < a->histogram->n_data_points; i++)
            d = cmp_hdp(a->histogram->data_points[i], b->histogram->data_points[i]);
    }
    return d;
}

static const char *cmp_req(const Req *a, const Req *b)
{
    SAME(a->n_resource_metrics == b->n_resource_metrics, "resource_metrics count");
    for (size_t i = 0; i < a->n_resource_metrics; i++) {
        const RM *ra = a->resource_metrics[i], *rb = b->resource_metrics[i];
        SAME((ra->resource == NULL) == (rb->resource == NULL), "resource presence");
        const char *d = cmp_kvs(ra->resource->attributes, ra->resource->n_attributes, rb->resource->attributes,
                                rb->resource->n_attributes);
        SAME(!d, d);
        SAME(ra->resource->dropped_attributes_count == rb->resource->dropped_attributes_count, "resource dropped");
        SAME(strcmp(ra->schema_url, rb->schema_url) == 0, "resource schema_url");
        SAME(ra->n_scope_metrics == rb->n_scope_metrics, "scope_metrics count");
        for (size_t j = 0; j < ra->n_scope_metrics; j++) {
            const SM *sa = ra->scope_metrics[j], *sb = rb->scope_metrics[j];
            SAME((sa->scope == NULL) == (sb->scope == NULL), "scope presence");
            SAME(strcmp(sa->scope->name, sb->scope->name) == 0, "scope name");
            SAME(strcmp(sa->scope->version, sb->scope->version) == 0, "scope version");
            SAME(sa->scope->n_attributes == sb->scope->n_attributes, "scope attributes");
            SAME(strcmp(sa->schema_url, sb->schema_url) == 0, "scope schema_url");
            SAME(sa->n_metrics == sb->n_metrics, "metric count");
            for (size_t k = 0; !d && k < sa->n_metrics; k++)
                d = cmp_metric(sa->metrics[k], sb->metrics[k]);
            SAME(!d, d);
        }
    }
    return NULL;
}

static Req *unpack(const uint8_t *p, size_t n)
{
    Req *r = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(NULL, n, p);
    CHECK(r != NULL);
    return r;
}

static void free_req(Req *r)
{
    if (r)
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(r, NULL);
}

/*
 * What the message says on its own, whatever the reference did: per-leg
 * gauges carry no start time and no NaN, counts are as_int and the rest
 * as_double, every attribute is a string, sums and histograms carry the
 * configured temporality.
 */
static void check_meaning(const Req *r, bool delta)
{
    const SM *sm = r->resource_metrics[0]->scope_metrics[0];
    unsigned bad = 0;
    for (size_t k = 0; k < sm->n_metrics; k++) {
        const Metric *m = sm->metrics[k];
        int id = -1;
        for (int i = 0; i < FSA_M_COUNT; i++)
            if (strcmp(fsa_otlp_metric_defs[i].name, m->name) == 0)
                id = i;
        bad += id < 0;
        if (id < 0)
            continue;
        bool as_int = fsa_otlp_metric_defs[id].as_int;
        if (m->data_case == DATA_GAUGE) {
            for (size_t i = 0; i < m->gauge->n_data_points; i++) {
                const NDP *dp = m->gauge->data_points[i];
                bad += dp->start_time_unix_nano != 0;
                bad += dp->value_case != (as_int ? CASE_INT : CASE_DOUBLE);
                bad += dp->value_case == CASE_DOUBLE && !isfinite(dp->as_double);
                size_t want = id < FSA_M_QOS_MOS_SCORE ? 5 : id < FSA_M_FIRST_AGG ? 9 : 2;
                bad += dp->n_attributes != want;
                for (size_t a = 0; a < dp->n_attributes; a++)
                    bad += dp->attributes[a]->value->value_case != CASE_STRING;
            }
        } else if (m->data_case == DATA_SUM) {
            bad += m->sum->aggregation_temporality != (delta ? TEMP_DELTA : TEMP_CUMULATIVE) || !m->sum->is_monotonic;
        } else {
            bad += m->histogram->aggregation_temporality != (delta ? TEMP_DELTA : TEMP_CUMULATIVE);
        }
    }
    CHECK_EQ_U64(bad, 0);
}

/* Seals both; same bytes, same decoded message. The new encoder's request, unpacked (or NULL if empty). */
static Req *seal_both(struct pair *p, unsigned *points)
{
    uint8_t *m1, *m2;
    size_t l1, l2;
    unsigned p1, p2;
    const char *w1 = fsa_otlp_seal(p->n, p->z, &m1, &l1, &p1);
    const char *w2 = ref_otlp_seal(p->r, p->z, &m2, &l2, &p2);
    CHECK(w1 == NULL && w2 == NULL);
    CHECK_EQ_U64(p1, p2);
    *points = p1;
    CHECK((m1 == NULL) == (m2 == NULL));
    if (!m1 || !m2) {
        free(m1);
        free(m2);
        return NULL;
    }
    CHECK_EQ_U64(m1[0], m2[0]);
    size_t n1, n2;
    uint8_t *b1 = plain_of(m1, l1, &n1), *b2 = plain_of(m2, l2, &n2);
    CHECK_EQ_U64(n1, n2);
    bool same_bytes = n1 == n2 && memcmp(b1, b2, n1) == 0;
    CHECK(same_bytes);
    if (!p->z) /* gzip of the same input with the same settings is the same too */
        CHECK(l1 == l2 && memcmp(m1, m2, l1) == 0);
    Req *r1 = unpack(b1, n1), *r2 = unpack(b2, n2);
    if (r1 && r2) {
        const char *d = cmp_req(r1, r2);
        if (d)
            fprintf(stderr, "decoded requests differ: %s\n", d);
        CHECK(d == NULL);
        check_meaning(r1, p->delta);
    }
    free_req(r2);
    free(b1);
    free(b2);
    free(m1);
    free(m2);
    p->sealed++;
    p->points += p1;
    return r1;
}

static void seal_compare(struct pair *p)
{
    unsigned pts;
    free_req(seal_both(p, &pts));
}

/* As the exporter does: FULL seals and retries, a full batch is sealed at once. */
static void feed(struct pair *p, const struct fsa_metric_record *rec)
{
    for (int tries = 0; tries < 2; tries++) {
        enum fsa_otlp_add_result a = fsa_otlp_add(p->n, rec), b = ref_otlp_add(p->r, rec);
        CHECK_EQ_U64(a, b);
        if (a == FSA_OTLP_FULL && b == FSA_OTLP_FULL) {
            seal_compare(p);
            continue;
        }
        break;
    }
    CHECK_EQ_U64(fsa_otlp_open_points(p->n), ref_otlp_open_points(p->r));
    CHECK_EQ_U64(fsa_otlp_open_bytes(p->n), ref_otlp_open_bytes(p->r));
    CHECK(fsa_otlp_open_full(p->n) == ref_otlp_open_full(p->r));
    if (fsa_otlp_open_full(p->n))
        seal_compare(p);
}

static void snapshot_both(struct pair *p, uint64_t now)
{
    fsa_otlp_snapshot_begin(p->n, now);
    ref_otlp_snapshot_begin(p->r, now);
    for (int guard = 0; guard < 100000; guard++) {
        bool d1 = fsa_otlp_snapshot_step(p->n), d2 = ref_otlp_snapshot_step(p->r);
        CHECK(d1 == d2);
        seal_compare(p);
        if (d1 || d2)
            break;
    }
}

/* ---- random records ---- */

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned pick(unsigned n)
{
    return (unsigned)(next_rand() % n);
}

/* A label: empty, short, or filling its whole array (no NUL: the encoders stop at the array's end). */
static void rand_label(char *dst, size_t cap, const char *const *choices, unsigned nchoices)
{
    memset(dst, 0, cap);
    unsigned c = pick(nchoices + 2);
    if (c == nchoices) {
        return; /* empty */
    } else if (c == nchoices + 1) {
        for (size_t i = 0; i < cap; i++)
            dst[i] = (char)('a' + (i % 26));
    } else {
        snprintf(dst, cap, "%s", choices[c]);
    }
}

static double rand_value(void)
{
    switch (pick(14)) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return 0.0;
    case 4: return -0.0;
    case 5: return 2.5;   /* as_int: llround -> 3 */
    case 6: return -2.5;  /* -> -3 */
    case 7: return 1e19;  /* -> INT64_MAX */
    case 8: return -1e19; /* -> INT64_MIN */
    case 9: return 4.2;
    case 10: return 1e-300;
    default: return (double)(next_rand() % 100000) / 7.0;
    }
}

static struct fsa_metric_record rand_record(void)
{
    static const char *const domains[] = {"example.com", "b.example", "c", "d.example", "e", "f",
                                          "g",           "h",         "i", "j",         "k", "l"};
    static const char *const codecs[] = {"PCMA", "PCMU", "opus", "G722"};
    static const char *const ips[] = {"192.0.2.1", "2001:db8::1", "198.51.100.20"};
    static const char *const ids[] = {"c0ffee00-1111-2222-3333-444455556666", "x", "a@b"};
    static const char *const causes[] = {"NORMAL_CLEARING", "USER_BUSY", "NONE", "TTL_EXPIRED"};
    struct fsa_metric_record r;
    memset(&r, 0, sizeof(r));
    unsigned k = pick(10);
    r.kind = k < 6 ? FSA_REC_RTCP : k < 8 ? FSA_REC_QOS : k == 8 ? FSA_REC_LEG_UP : FSA_REC_LEG_DOWN;
    if (pick(200) == 0)
        r.kind = (uint8_t)pick(8); /* NONE and unknown kinds: INVALID for both */
    r.time_unix_us = pick(20) == 0 ? 0 : 1700000000000000ull + next_rand() % 1000000000ull;
    r.labels.instance = (uint16_t)(pick(50) == 0 ? 3 : pick(3)); /* 3: unknown instance */
    r.labels.direction = (uint8_t)pick(4);                       /* 3: out of range, sent as "unknown" */
    rand_label(r.labels.channel_id, sizeof(r.labels.channel_id), ids, 3);
    rand_label(r.labels.correlation_id, sizeof(r.labels.correlation_id), ids, 3);
    rand_label(r.labels.domain_name, sizeof(r.labels.domain_name), domains, 12);
    rand_label(r.labels.codec_name, sizeof(r.labels.codec_name), codecs, 4);
    rand_label(r.labels.src_ip, sizeof(r.labels.src_ip), ips, 3);
    rand_label(r.labels.dst_ip, sizeof(r.labels.dst_ip), ips, 3);
    rand_label(r.hangup_cause, sizeof(r.hangup_cause), causes, 4);
    if (r.kind == FSA_REC_RTCP) {
        r.u.rtcp = (struct fsa_rtcp_record){rand_value(), rand_value(), rand_value(), rand_value(), rand_value(), 7, 0};
    } else if (r.kind == FSA_REC_QOS) {
        double *f = &r.u.qos.mos_score;
        _Static_assert(sizeof(struct fsa_qos_record) == 11 * sizeof(double), "every QoS field is random");
        for (int i = 0; i < 11; i++)
            f[i] = rand_value();
    }
    return r;
}

/* Random streams, in every configuration: same bytes every batch. */
static void test_random_streams(void)
{
    struct cfg {
        bool per_leg, delta, gzip;
        unsigned max_points;
        size_t max_bytes;
        uint64_t start;
    } cfgs[] = {
        {true, false, false, 8192, 4u << 20, 1111},
        {true, true, false, 8192, 4u << 20, 1111},
        {true, false, true, 8192, 4u << 20, 1111},
        {true, true, true, 37, 4u << 20, 0},   /* start 0: sums and histograms carry none */
        {true, false, false, 100000, 4096, 5}, /* cut by bytes */
        {false, false, false, 5, 4u << 20, 7}, /* aggregates only, snapshots cut in many batches */
        {false, true, false, 8192, 4u << 20, 7},
        {true, true, false, 300, 4u << 20, 3}, /* and an empty service.version: the scope has none */
    };
    size_t ncfg = sizeof(cfgs) / sizeof(cfgs[0]);
    for (size_t c = 0; c < ncfg; c++) {
        version = c == ncfg - 1 ? "" : "1.2.3";
        struct fsa_otlp_params prm =
            params(cfgs[c].per_leg, cfgs[c].delta, cfgs[c].max_points, cfgs[c].max_bytes, cfgs[c].start);
        struct pair p;
        pair_open(&p, &prm, cfgs[c].gzip);
        uint64_t now = 1700000000000000000ull;
        for (int i = 0; i < 6000; i++) {
            struct fsa_metric_record r = rand_record();
            feed(&p, &r);
            if (pick(400) == 0) /* the batch interval */
                seal_compare(&p);
            if (i % 1500 == 1499)
                snapshot_both(&p, now += 10000000000ull);
        }
        snapshot_both(&p, pick(4) == 0 ? 0 : now + 1); /* a snapshot stamped 0: time absent */
        seal_compare(&p);
        CHECK(p.sealed > 2);
        CHECK(p.points > 0);
        pair_close(&p);
    }
    version = "1.2.3";
}

/* ---- values pinned by hand ---- */

static void base(struct fsa_metric_record *r, int kind, unsigned inst)
{
    memset(r, 0, sizeof(*r));
    r->kind = (uint8_t)kind;
    r->labels.instance = (uint16_t)inst;
}

static const Metric *find_metric(const Req *r, const char *name)
{
    const SM *sm = r->resource_metrics[0]->scope_metrics[0];
    for (size_t i = 0; i < sm->n_metrics; i++)
        if (strcmp(sm->metrics[i]->name, name) == 0)
            return sm->metrics[i];
    return NULL;
}

static const char *attr(KV *const *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0 && kv[i]->value && kv[i]->value->value_case == CASE_STRING)
            return kv[i]->value->string_value;
    return NULL;
}

/*
 * One RTCP record, fs_instance "fs1", channel_id "c", correlation_id and
 * domain_name empty, outbound, at 1 µs, packets_lost 3: its packets_lost
 * point, byte by byte (tag = field << 3 | wire type):
 *   0a 7d                         Gauge.data_points (1, LEN), 125 bytes:
 *   19 e8 03 00 00 00 00 00 00      time_unix_nano (3, I64) = 1000 = 0x3e8, little-endian
 *   31 03 00 00 00 00 00 00 00      as_int (6, I64) = 3
 *   3a 14 0a 0b "fs_instance" 12 05 0a 03 "fs1"
 *                                   attributes (7, LEN): key (1) 2+11, value (2) 2+ AnyValue
 *                                   {string_value (1) 2+3} = 20 = 0x14 bytes, 22 with tag and length
 *   3a 11 0a 0a "channel_id" 12 03 0a 01 "c"              12 + 5 = 17 = 0x11, 19 in all
 *   3a 14 0a 0e "correlation_id" 12 02 0a 00              16 + 4 = 20, 22 in all: the empty
 *                                   string is still sent, string_value being a oneof member
 *   3a 11 0a 0b "domain_name" 12 02 0a 00                 13 + 4 = 17, 19 in all
 *   3a 17 0a 09 "direction" 12 0a 0a 08 "outbound"        11 + 12 = 23 = 0x17, 25 in all
 * attributes 22 + 19 + 22 + 19 + 25 = 107; body 9 + 9 + 107 = 125 = 0x7d.
 */
static void test_point_bytes(void)
{
    static const uint8_t want[] = {
        0x0a, 0x7d, 0x19, 0xe8, 0x03, 0,    0,    0,    0,    0,    0,    0x31, 0x03, 0,   0,   0,   0,    0,    0,
        0,    0x3a, 0x14, 0x0a, 0x0b, 'f',  's',  '_',  'i',  'n',  's',  't',  'a',  'n', 'c', 'e', 0x12, 0x05, 0x0a,
        0x03, 'f',  's',  '1',  0x3a, 0x11, 0x0a, 0x0a, 'c',  'h',  'a',  'n',  'n',  'e', 'l', '_', 'i',  'd',  0x12,
        0x03, 0x0a, 0x01, 'c',  0x3a, 0x14, 0x0a, 0x0e, 'c',  'o',  'r',  'r',  'e',  'l', 'a', 't', 'i',  'o',  'n',
        '_',  'i',  'd',  0x12, 0x02, 0x0a, 0x00, 0x3a, 0x11, 0x0a, 0x0b, 'd',  'o',  'm', 'a', 'i', 'n',  '_',  'n',
        'a',  'm',  'e',  0x12, 0x02, 0x0a, 0x00, 0x3a, 0x17, 0x0a, 0x09, 'd',  'i',  'r', 'e', 'c', 't',  'i',  'o',
        'n',  0x12, 0x0a, 0x0a, 0x08, 'o',  'u',  't',  'b',  'o',  'u',  'n',  'd'};
    _Static_assert(sizeof(want) == 127, "2 + 125 bytes");
    struct fsa_otlp_params prm = params(true, false, 8192, 4u << 20, 0);
    struct fsa_otlp *o;
    CHECK(fsa_otlp_create(&prm, &o) == NULL);
    struct fsa_metric_record r;
    base(&r, FSA_REC_RTCP, 0);
    r.time_unix_us = 1;
    r.labels.direction = FSA_DIR_OUTBOUND;
    snprintf(r.labels.channel_id, sizeof(r.labels.channel_id), "c");
    r.u.rtcp =
        (struct fsa_rtcp_record){.jitter_ms = NAN, .packets_lost = 3, .fraction_lost = NAN, .rtt_ms = NAN, .mos = NAN};
    CHECK(fsa_otlp_add(o, &r) == FSA_OTLP_ADDED);
    uint8_t *msg;
    size_t len;
    unsigned pts;
    CHECK(fsa_otlp_seal(o, NULL, &msg, &len, &pts) == NULL);
    CHECK_EQ_U64(pts, 1);
    /* The Gauge holds exactly this one entry: Metric.gauge (5, LEN) = 2a 7f (127 bytes). */
    CHECK(msg && memmem(msg, len, "\x2a\x7f", 2) != NULL);
    CHECK(msg && memmem(msg, len, want, sizeof(want)) != NULL);
    free(msg);
    fsa_otlp_destroy(o);
}

/* as_int vs as_double, NaN and infinities omitted, rounding and clamping, time 0, empty labels. */
static void test_values(void)
{
    struct fsa_otlp_params prm = params(true, false, 8192, 4u << 20, 0);
    struct pair p;
    pair_open(&p, &prm, false);
    struct fsa_metric_record q;
    base(&q, FSA_REC_QOS, 1); /* fs_instance "" */
    q.time_unix_us = 0;
    q.u.qos = (struct fsa_qos_record){.mos_score = -0.0,
                                      .jitter_avg_ms = NAN,
                                      .jitter_min_ms = INFINITY,
                                      .jitter_max_ms = 2.5,  /* as_double: 2.5 as it is */
                                      .total_packets = 2.5,  /* as_int: llround, half away from 0 -> 3 */
                                      .packet_loss = -2.5,   /* -> -3 */
                                      .total_bytes = 1e19,   /* past INT64_MAX -> INT64_MAX */
                                      .r_factor = -INFINITY, /* omitted */
                                      .mos_emodel = 4.0,
                                      .hold_seconds = NAN, /* omitted */
                                      .media_gap_ratio = 0.5};
    feed(&p, &q);
    CHECK_EQ_U64(fsa_otlp_open_points(p.n), 7); /* 11 - jitter_avg, jitter_min, r_factor, hold_seconds */
    q.u.qos.total_bytes = -1e19;                /* -> INT64_MIN */
    feed(&p, &q);
    unsigned pts;
    Req *r = seal_both(&p, &pts);
    CHECK_EQ_U64(pts, 14);
    CHECK(r != NULL);
    if (r) {
        CHECK(find_metric(r, "freeswitch.qos.jitter_avg") == NULL);
        CHECK(find_metric(r, "freeswitch.qos.jitter_min") == NULL);
        CHECK(find_metric(r, "freeswitch.qos.r_factor") == NULL);
        const Metric *m = find_metric(r, "freeswitch.qos.mos_score");
        CHECK(m && m->gauge->data_points[0]->value_case == CASE_DOUBLE);
        CHECK(m && same_double(m->gauge->data_points[0]->as_double, -0.0)); /* the sign bit survives */
        m = find_metric(r, "freeswitch.qos.jitter_max");
        CHECK(m && m->gauge->data_points[0]->value_case == CASE_DOUBLE && m->gauge->data_points[0]->as_double == 2.5);
        m = find_metric(r, "freeswitch.qos.total_packets");
        CHECK(m && m->gauge->data_points[0]->value_case == CASE_INT && m->gauge->data_points[0]->as_int == 3);
        m = find_metric(r, "freeswitch.qos.packet_loss");
        CHECK(m && m->gauge->data_points[0]->as_int == -3);
        m = find_metric(r, "freeswitch.qos.total_bytes");
        CHECK(m && m->gauge->n_data_points == 2);
        if (m && m->gauge->n_data_points == 2) {
            CHECK_EQ_I64(m->gauge->data_points[0]->as_int, INT64_MAX);
            CHECK_EQ_I64(m->gauge->data_points[1]->as_int, INT64_MIN);
            const NDP *dp = m->gauge->data_points[0];
            CHECK_EQ_U64(dp->time_unix_nano, 0); /* time 0: the field is absent, decoded 0 */
            CHECK_EQ_U64(dp->n_attributes, 9);
            CHECK_STR(attr(dp->attributes, dp->n_attributes, "fs_instance"), "");
            CHECK_STR(attr(dp->attributes, dp->n_attributes, "channel_id"), "");
            CHECK_STR(attr(dp->attributes, dp->n_attributes, "dst_ip"), "");
            CHECK_STR(attr(dp->attributes, dp->n_attributes, "call_direction"), "unknown"); /* no Call-Direction */
            CHECK_STR(attr(dp->attributes, dp->n_attributes, "hangup_cause"), "");
        }
        free_req(r);
    }
    pair_close(&p);
}

/*
 * Start times and temporality. Params: start_unix_ns 1111.
 *   cumulative: legs.ended and histograms start at 1111 in every snapshot;
 *   delta: the first snapshot (at 5000) starts at 1111, the next (at 6000) at 5000;
 *   calls.active (a gauge) and per-leg gauges never carry one.
 */
static void check_starts(bool delta)
{
    struct fsa_otlp_params prm = params(true, delta, 8192, 4u << 20, 1111);
    struct pair p;
    pair_open(&p, &prm, false);
    uint64_t want_start[2] = {1111, delta ? 5000 : 1111};
    for (int round = 0; round < 2; round++) {
        struct fsa_metric_record r;
        base(&r, FSA_REC_LEG_UP, 0);
        snprintf(r.labels.domain_name, sizeof(r.labels.domain_name), "d");
        feed(&p, &r);
        r.kind = FSA_REC_LEG_DOWN;
        snprintf(r.hangup_cause, sizeof(r.hangup_cause), "NORMAL_CLEARING");
        feed(&p, &r);
        base(&r, FSA_REC_RTCP, 0);
        r.time_unix_us = 7;
        r.u.rtcp = (struct fsa_rtcp_record){
            .jitter_ms = 1, .packets_lost = 0, .fraction_lost = 0.5, .rtt_ms = NAN, .mos = NAN};
        feed(&p, &r);
        unsigned pts;
        fsa_otlp_snapshot_begin(p.n, 5000 + 1000 * (uint64_t)round);
        ref_otlp_snapshot_begin(p.r, 5000 + 1000 * (uint64_t)round);
        CHECK(fsa_otlp_snapshot_step(p.n) && ref_otlp_snapshot_step(p.r));
        Req *q = seal_both(&p, &pts);
        /* rtcp jitter, packets_lost, fraction_lost; calls.active, legs.ended, loss_fraction */
        CHECK_EQ_U64(pts, 6);
        if (!q)
            continue;
        const Metric *m = find_metric(q, "freeswitch.rtcp.jitter");
        CHECK(m && m->gauge->data_points[0]->start_time_unix_nano == 0 &&
              m->gauge->data_points[0]->time_unix_nano == 7000);
        m = find_metric(q, "freeswitch.calls.active");
        CHECK(m && m->data_case == DATA_GAUGE && m->gauge->data_points[0]->start_time_unix_nano == 0 &&
              m->gauge->data_points[0]->as_int == 0);
        m = find_metric(q, "freeswitch.legs.ended");
        CHECK(m && m->data_case == DATA_SUM);
        if (m) {
            CHECK_EQ_U64(m->sum->aggregation_temporality, delta ? TEMP_DELTA : TEMP_CUMULATIVE);
            CHECK(m->sum->is_monotonic);
            CHECK_EQ_U64(m->sum->data_points[0]->start_time_unix_nano, want_start[round]);
            CHECK_EQ_U64(m->sum->data_points[0]->time_unix_nano, 5000 + 1000 * (uint64_t)round);
            /* one leg ended per round: delta sends 1 each time, cumulative 1 then 2 */
            CHECK_EQ_I64(m->sum->data_points[0]->as_int, delta ? 1 : round + 1);
        }
        m = find_metric(q, "freeswitch.rtcp.loss_fraction");
        CHECK(m && m->data_case == DATA_HIST);
        if (m) {
            const HDP *h = m->histogram->data_points[0];
            CHECK_EQ_U64(m->histogram->aggregation_temporality, delta ? TEMP_DELTA : TEMP_CUMULATIVE);
            CHECK_EQ_U64(h->start_time_unix_nano, want_start[round]);
            CHECK_EQ_U64(h->count, delta ? 1 : round + 1);
            CHECK_EQ_U64(h->bucket_counts[7], delta ? 1 : round + 1); /* 0.5 is in (0.2, 0.5] */
        }
        free_req(q);
    }
    pair_close(&p);
}

static void test_start_times(void)
{
    check_starts(false);
    check_starts(true);
}

int main(void)
{
    memset(long_name, 'n', sizeof(long_name) - 1); /* 200 bytes: a 2-byte length varint */
    test_point_bytes();
    test_values();
    test_start_times();
    test_random_streams();
    return fsa_test_finish();
}
