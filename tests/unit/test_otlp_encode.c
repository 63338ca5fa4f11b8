/*
 * OTLP encoding (export/otlp.c): what goes into an ExportMetricsServiceRequest,
 * checked by unpacking the sealed bytes with the same generated protobuf-c
 * code a collector's decoder is equivalent to.
 */
#include <math.h>

#include "export/otlp.h"
#include "fsa_test.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest Req;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NDP;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HDP;
typedef Opentelemetry__Proto__Common__V1__KeyValue KV;

static const char *names[] = {"fs1", "fs2"};

static struct fsa_otlp *make(bool per_leg, bool delta, unsigned max_points)
{
    struct fsa_otlp_params p = {
        .instance_names = names,
        .ninstances = 2,
        .service_version = "9.9.9",
        .instance_id = "agent-7",
        .host_name = "host-x",
        .per_leg = per_leg,
        .delta = delta,
        .batch_max_points = max_points,
        .batch_max_bytes = 4u << 20,
        .max_agg_keys = 0,
        .start_unix_ns = 1111,
    };
    struct fsa_otlp *o;
    const char *why = fsa_otlp_create(&p, &o);
    CHECK(why == NULL);
    return o;
}

static void base_labels(struct fsa_metric_record *r, unsigned inst, const char *chan)
{
    memset(r, 0, sizeof(*r));
    r->labels.instance = (uint16_t)inst;
    snprintf(r->labels.channel_id, sizeof(r->labels.channel_id), "%s", chan);
    snprintf(r->labels.correlation_id, sizeof(r->labels.correlation_id), "cid-%s", chan);
    snprintf(r->labels.domain_name, sizeof(r->labels.domain_name), "example.com");
    snprintf(r->labels.codec_name, sizeof(r->labels.codec_name), "PCMA");
    snprintf(r->labels.src_ip, sizeof(r->labels.src_ip), "192.0.2.1");
    snprintf(r->labels.dst_ip, sizeof(r->labels.dst_ip), "198.51.100.2");
}

static struct fsa_metric_record rtcp(unsigned inst, const char *chan, uint64_t t_us, double jitter, double rtt)
{
    struct fsa_metric_record r;
    base_labels(&r, inst, chan);
    r.kind = FSA_REC_RTCP;
    r.time_unix_us = t_us;
    r.labels.direction = FSA_DIR_OUTBOUND;
    r.u.rtcp.jitter_ms = jitter;
    r.u.rtcp.packets_lost = 3;
    r.u.rtcp.fraction_lost = 0.25;
    r.u.rtcp.rtt_ms = rtt;
    r.u.rtcp.mos = 4.25;
    return r;
}

static struct fsa_metric_record qos(unsigned inst, const char *chan, uint64_t t_us)
{
    struct fsa_metric_record r;
    base_labels(&r, inst, chan);
    r.kind = FSA_REC_QOS;
    r.time_unix_us = t_us;
    r.labels.direction = FSA_DIR_INBOUND;
    snprintf(r.hangup_cause, sizeof(r.hangup_cause), "NORMAL_CLEARING");
    r.u.qos = (struct fsa_qos_record){.mos_score = 4.5,
                                      .jitter_avg_ms = NAN,
                                      .jitter_min_ms = 1.0,
                                      .jitter_max_ms = 7.5,
                                      .total_packets = 3000.0,
                                      .packet_loss = 12.4, /* rounds to 12 as_int */
                                      .total_bytes = 480000.0,
                                      .r_factor = 88.5,
                                      .mos_emodel = 4.2,
                                      .hold_seconds = 12.0,
                                      .media_gap_ratio = 0.2}; /* bucket (0.1, 0.2] of leg.media_gap */
    return r;
}

static struct fsa_metric_record leg(int kind, unsigned inst, const char *domain, const char *cause)
{
    struct fsa_metric_record r;
    base_labels(&r, inst, "x");
    r.kind = (uint8_t)kind;
    snprintf(r.labels.domain_name, sizeof(r.labels.domain_name), "%s", domain);
    if (cause)
        snprintf(r.hangup_cause, sizeof(r.hangup_cause), "%s", cause);
    return r;
}

static Req *seal_unpack(struct fsa_otlp *o, struct fsa_gzip *z, unsigned *points)
{
    uint8_t *msg;
    size_t len;
    const char *why = fsa_otlp_seal(o, z, &msg, &len, points);
    CHECK(why == NULL);
    if (!msg)
        return NULL;
    CHECK(len > 5);
    uint32_t n = (uint32_t)msg[1] << 24 | (uint32_t)msg[2] << 16 | (uint32_t)msg[3] << 8 | msg[4];
    CHECK_EQ_U64(n, len - 5);
    CHECK_EQ_U64(msg[0], z ? 1 : 0);
    uint8_t *plain = msg + 5;
    uint8_t *buf = NULL;
    if (z) {
        buf = malloc(64u << 20);
        long pl = fsa_gunzip(msg + 5, n, buf, 64u << 20);
        CHECK(pl > 0);
        plain = buf;
        n = (uint32_t)pl;
    }
    Req *r = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(NULL, n, plain);
    CHECK(r != NULL);
    free(buf);
    free(msg);
    return r;
}

static const Metric *find_metric(const Req *r, const char *name)
{
    const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = r->resource_metrics[0]->scope_metrics[0];
    for (size_t i = 0; i < sm->n_metrics; i++)
        if (strcmp(sm->metrics[i]->name, name) == 0)
            return sm->metrics[i];
    return NULL;
}

static const char *attr(KV **kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0)
            return kv[i]->value->string_value;
    return NULL;
}

static void free_req(Req *r)
{
    if (r)
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(r, NULL);
}

/* Resource, scope, per-leg gauges with their attributes, units, NaN omission, as_int rounding. */
static void test_per_leg_points(void)
{
    struct fsa_otlp *o = make(true, false, 8192);
    struct fsa_metric_record a = rtcp(1, "chan-1", 1700000000123456ull, 12.5, NAN);
    struct fsa_metric_record q = qos(0, "chan-2", 1700000001000000ull);
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_ADDED);
    CHECK(fsa_otlp_add(o, &q) == FSA_OTLP_ADDED);
    CHECK_EQ_U64(fsa_otlp_open_points(o), 4 + 10); /* rtt NaN, jitter_avg NaN */
    unsigned points;
    Req *r = seal_unpack(o, NULL, &points);
    CHECK_EQ_U64(points, 14);
    CHECK_EQ_U64(fsa_otlp_open_points(o), 0);
    CHECK_EQ_U64(r->n_resource_metrics, 1);
    const Opentelemetry__Proto__Resource__V1__Resource *res = r->resource_metrics[0]->resource;
    CHECK_STR(attr(res->attributes, res->n_attributes, "service.name"), "fsagent");
    CHECK_STR(attr(res->attributes, res->n_attributes, "service.version"), "9.9.9");
    CHECK_STR(attr(res->attributes, res->n_attributes, "service.instance.id"), "agent-7");
    CHECK_STR(attr(res->attributes, res->n_attributes, "host.name"), "host-x");
    CHECK_EQ_U64(r->resource_metrics[0]->n_scope_metrics, 1);
    CHECK_STR(r->resource_metrics[0]->scope_metrics[0]->scope->name, "fsagent");
    CHECK_STR(r->resource_metrics[0]->scope_metrics[0]->scope->version, "9.9.9");
    CHECK_EQ_U64(r->resource_metrics[0]->scope_metrics[0]->n_metrics, 14);

    const Metric *m = find_metric(r, "freeswitch.rtcp.jitter");
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
    if (m) {
        CHECK_STR(m->unit, "ms");
        CHECK(m->description && m->description[0]);
        CHECK_EQ_U64(m->gauge->n_data_points, 1);
        const NDP *dp = m->gauge->data_points[0];
        CHECK_EQ_U64(dp->time_unix_nano, 1700000000123456000ull);
        CHECK_EQ_U64(dp->start_time_unix_nano, 0);
        CHECK(dp->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
        CHECK_NEAR(dp->as_double, 12.5, 0);
        CHECK_EQ_U64(dp->n_attributes, 5);
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "fs_instance"), "fs2");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "channel_id"), "chan-1");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "correlation_id"), "cid-chan-1");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "domain_name"), "example.com");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "direction"), "outbound");
        CHECK(attr(dp->attributes, dp->n_attributes, "codec_name") == NULL);
    }
    CHECK(find_metric(r, "freeswitch.rtcp.rtt") == NULL);
    m = find_metric(r, "freeswitch.rtcp.packets_lost");
    CHECK(m &&
          m->gauge->data_points[0]->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
    CHECK(m && m->gauge->data_points[0]->as_int == 3);
    CHECK(m && strcmp(m->unit, "{packet}") == 0);
    m = find_metric(r, "freeswitch.rtcp.fraction_lost");
    CHECK(m && m->gauge->data_points[0]->as_double == 0.25 && strcmp(m->unit, "1") == 0);

    m = find_metric(r, "freeswitch.qos.packet_loss");
    CHECK(m && m->gauge->data_points[0]->as_int == 12);
    m = find_metric(r, "freeswitch.qos.total_bytes");
    CHECK(m && m->gauge->data_points[0]->as_int == 480000 && strcmp(m->unit, "By") == 0);
    CHECK(find_metric(r, "freeswitch.qos.jitter_avg") == NULL);
    m = find_metric(r, "freeswitch.qos.mos_emodel");
    CHECK(m && m->gauge->data_points[0]->as_double == 4.2);
    if (m) {
        const NDP *dp = m->gauge->data_points[0];
        CHECK_EQ_U64(dp->time_unix_nano, 1700000001000000000ull);
        CHECK_EQ_U64(dp->n_attributes, 9);
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "fs_instance"), "fs1");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "codec_name"), "PCMA");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "src_ip"), "192.0.2.1");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "dst_ip"), "198.51.100.2");
        /* The leg's Call-Direction under its own name: "direction" is the RTCP report's. */
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "call_direction"), "inbound");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "hangup_cause"), "NORMAL_CLEARING");
        CHECK(attr(dp->attributes, dp->n_attributes, "direction") == NULL);
    }
    /* Metrics come in the catalogue's order. */
    const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = r->resource_metrics[0]->scope_metrics[0];
    CHECK_STR(sm->metrics[0]->name, "freeswitch.rtcp.jitter");
    CHECK_STR(sm->metrics[sm->n_metrics - 1]->name, "freeswitch.qos.media_gap_ratio");
    m = find_metric(r, "freeswitch.qos.hold_seconds");
    CHECK(m && m->gauge->data_points[0]->value_case ==
                   OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
    CHECK(m && m->gauge->data_points[0]->as_double == 12.0 && strcmp(m->unit, "s") == 0);
    CHECK(m && m->gauge->data_points[0]->n_attributes == 9);
    m = find_metric(r, "freeswitch.qos.media_gap_ratio");
    CHECK(m && m->gauge->data_points[0]->as_double == 0.2 && strcmp(m->unit, "1") == 0);
    free_req(r);
    fsa_otlp_destroy(o);
}

static void test_invalid_and_empty(void)
{
    struct fsa_otlp *o = make(true, false, 100);
    struct fsa_metric_record a = rtcp(2, "c", 1, 1, 1); /* instance 2 of 2 */
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_INVALID);
    a = rtcp(0, "c", 1, 1, 1);
    a.kind = 99;
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_INVALID);
    uint8_t *msg;
    size_t len;
    unsigned pts;
    CHECK(fsa_otlp_seal(o, NULL, &msg, &len, &pts) == NULL);
    CHECK(msg == NULL && len == 0 && pts == 0);
    /* A record whose every value is NaN adds nothing. */
    a = rtcp(0, "c", 1, NAN, NAN);
    a.u.rtcp.packets_lost = a.u.rtcp.fraction_lost = a.u.rtcp.mos = NAN;
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_ADDED);
    CHECK_EQ_U64(fsa_otlp_open_points(o), 0);
    fsa_otlp_destroy(o);
}

/* Size limit: FULL leaves the batch as it was; a record is never split. */
static void test_batch_limit(void)
{
    struct fsa_otlp *o = make(true, false, 12);
    struct fsa_metric_record a = rtcp(0, "c", 1, 1, 1); /* 5 points */
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_ADDED);
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_ADDED);
    CHECK(!fsa_otlp_open_full(o));
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_FULL);
    CHECK_EQ_U64(fsa_otlp_open_points(o), 10);
    unsigned pts;
    Req *r = seal_unpack(o, NULL, &pts);
    CHECK_EQ_U64(pts, 10);
    free_req(r);
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_ADDED);
    fsa_otlp_destroy(o);

    /* A limit below one record's points still takes the record into an empty batch. */
    o = make(true, false, 2);
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_ADDED);
    CHECK_EQ_U64(fsa_otlp_open_points(o), 5);
    CHECK(fsa_otlp_open_full(o));
    CHECK(fsa_otlp_add(o, &a) == FSA_OTLP_FULL);
    fsa_otlp_destroy(o);
}

/* gzip: the same request, compressed, flagged 1. */
static void test_gzip(void)
{
    struct fsa_otlp *o = make(true, false, 8192);
    struct fsa_gzip *z = fsa_gzip_create(1);
    CHECK(z != NULL);
    for (int i = 0; i < 100; i++) {
        struct fsa_metric_record a = rtcp(0, "chan", 1700000000000000ull + (uint64_t)i, i, 10);
        fsa_otlp_add(o, &a);
    }
    unsigned pts;
    Req *r = seal_unpack(o, z, &pts);
    CHECK_EQ_U64(pts, 500);
    const Metric *m = find_metric(r, "freeswitch.rtcp.jitter");
    CHECK(m && m->gauge->n_data_points == 100 && m->gauge->data_points[99]->as_double == 99);
    free_req(r);
    fsa_gzip_destroy(z);
    fsa_otlp_destroy(o);
}

/* The arena stops growing: same-sized batches allocate nothing new after the first. */
static void test_steady_state_memory(void)
{
    struct fsa_otlp *o = make(true, false, 8192);
    size_t after_first = 0;
    unsigned not_added = 0;
    for (int b = 0; b < 20; b++) {
        for (int i = 0; i < 1600; i++) {
            struct fsa_metric_record a = rtcp(i & 1, "chan-abcdef", 1, i, 10);
            not_added += fsa_otlp_add(o, &a) != FSA_OTLP_ADDED;
        }
        uint8_t *msg;
        size_t len;
        unsigned pts;
        CHECK(fsa_otlp_seal(o, NULL, &msg, &len, &pts) == NULL);
        CHECK_EQ_U64(pts, 8000);
        free(msg);
        if (b == 0)
            after_first = fsa_otlp_arena_bytes(o);
    }
    CHECK_EQ_U64(not_added, 0);
    CHECK(after_first > 0);
    CHECK_EQ_U64(fsa_otlp_arena_bytes(o), after_first);
    fsa_otlp_destroy(o);
}

static const NDP *find_point(const Metric *m, const char *key, const char *val)
{
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint **dps =
        m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM ? m->sum->data_points
                                                                            : m->gauge->data_points;
    size_t n = m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM ? m->sum->n_data_points
                                                                                   : m->gauge->n_data_points;
    for (size_t i = 0; i < n; i++) {
        const char *v = attr(dps[i]->attributes, dps[i]->n_attributes, key);
        if (v && strcmp(v, val) == 0)
            return dps[i];
    }
    return NULL;
}

/* Aggregates, cumulative: calls.active, legs.ended with a fixed start, histograms with explicit bounds. */
static void test_aggregates_cumulative(void)
{
    struct fsa_otlp *o = make(false, false, 8192);
    struct fsa_metric_record r;
    r = leg(FSA_REC_LEG_UP, 0, "a.example", NULL);
    fsa_otlp_add(o, &r);
    fsa_otlp_add(o, &r);
    r = leg(FSA_REC_LEG_UP, 0, "b.example", NULL);
    fsa_otlp_add(o, &r);
    r = leg(FSA_REC_LEG_DOWN, 0, "a.example", "USER_BUSY");
    fsa_otlp_add(o, &r);
    struct fsa_metric_record q = qos(0, "c", 5); /* mos_emodel 4.2 -> bucket (4.1, 4.2]; jitter_max 7.5 (avg NaN) */
    fsa_otlp_add(o, &q);
    q.u.qos.mos_emodel = 4.45; /* -> last bucket (> 4.4); mos_score 4.5 is never used */
    q.u.qos.jitter_avg_ms = 2.0;
    fsa_otlp_add(o, &q);
    struct fsa_metric_record a = rtcp(0, "c", 5, 1, 1); /* fraction 0.25 -> (0.2, 0.5] */
    a.labels.direction = FSA_DIR_INBOUND;
    fsa_otlp_add(o, &a);
    CHECK_EQ_U64(fsa_otlp_open_points(o), 0); /* per_leg off */

    fsa_otlp_snapshot_begin(o, 5000);
    CHECK(fsa_otlp_snapshot_step(o));
    unsigned pts;
    Req *req = seal_unpack(o, NULL, &pts);
    CHECK_EQ_U64(pts, 2 + 1 + 1 + 1 + 1 + 1); /* active x2, ended, mos, jitter, loss, media gap */
    const Metric *m = find_metric(req, "freeswitch.calls.active");
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
    if (m) {
        const NDP *dp = find_point(m, "domain_name", "a.example");
        CHECK(dp && dp->as_int == 1 && dp->time_unix_nano == 5000 && dp->n_attributes == 2);
        dp = find_point(m, "domain_name", "b.example");
        CHECK(dp && dp->as_int == 1);
        CHECK_STR(m->unit, "{leg}");
    }
    m = find_metric(req, "freeswitch.legs.ended");
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
    if (m) {
        CHECK(m->sum->is_monotonic);
        CHECK(m->sum->aggregation_temporality ==
              OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
        const NDP *dp = m->sum->data_points[0];
        CHECK_EQ_I64(dp->as_int, 1);
        CHECK_EQ_U64(dp->start_time_unix_nano, 1111);
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "hangup_cause"), "USER_BUSY");
        CHECK_STR(attr(dp->attributes, dp->n_attributes, "fs_instance"), "fs1");
    }
    m = find_metric(req, "freeswitch.leg.mos");
    CHECK(m && m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
    if (m) {
        const HDP *h = m->histogram->data_points[0];
        CHECK_EQ_U64(h->count, 2);
        CHECK_NEAR(h->sum, 8.65, 1e-12);
        CHECK(h->_min_case == OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MIN_MIN && h->min == 4.2);
        CHECK(h->_max_case == OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MAX_MAX && h->max == 4.45);
        CHECK_EQ_U64(h->n_explicit_bounds, 12);
        CHECK_EQ_U64(h->n_bucket_counts, 13);
        CHECK_EQ_U64(h->bucket_counts[9], 1);  /* (4.1, 4.2] */
        CHECK_EQ_U64(h->bucket_counts[12], 1); /* (4.4, +inf) */
        CHECK_STR(attr(h->attributes, h->n_attributes, "codec_name"), "PCMA");
        CHECK_STR(attr(h->attributes, h->n_attributes, "direction"), "inbound");
        CHECK_EQ_U64(h->start_time_unix_nano, 1111);
        CHECK_EQ_U64(h->time_unix_nano, 5000);
    }
    m = find_metric(req, "freeswitch.leg.jitter");
    if (m) {
        const HDP *h = m->histogram->data_points[0];
        CHECK_EQ_U64(h->count, 2);
        CHECK_NEAR(h->sum, 9.5, 0);           /* 7.5 (max, no avg) + 2.0 */
        CHECK_EQ_U64(h->bucket_counts[1], 1); /* (1, 2] */
        CHECK_EQ_U64(h->bucket_counts[3], 1); /* (5, 10] */
    }
    CHECK(m != NULL);
    m = find_metric(req, "freeswitch.rtcp.loss_fraction");
    if (m) {
        const HDP *h = m->histogram->data_points[0];
        CHECK_EQ_U64(h->count, 1);
        CHECK_EQ_U64(h->bucket_counts[7], 1); /* (0.2, 0.5] */
        CHECK_STR(attr(h->attributes, h->n_attributes, "direction"), "inbound");
    }
    CHECK(m != NULL);
    m = find_metric(req, "freeswitch.leg.media_gap");
    if (m) {
        const HDP *h = m->histogram->data_points[0];
        CHECK_STR(m->unit, "1");
        CHECK_EQ_U64(h->count, 2); /* both QoS records: 0.2 each */
        CHECK_NEAR(h->sum, 0.4, 1e-15);
        CHECK_EQ_U64(h->n_explicit_bounds, 8);
        CHECK_EQ_U64(h->bucket_counts[5], 2); /* (0.1, 0.2]: bounds 0.005 0.01 0.02 0.05 0.1 0.2 */
        CHECK_STR(attr(h->attributes, h->n_attributes, "codec_name"), "PCMA");
        CHECK_STR(attr(h->attributes, h->n_attributes, "direction"), "inbound");
    }
    CHECK(m != NULL);
    free_req(req);

    /* Cumulative: the next snapshot repeats every series, with the totals so far. */
    r = leg(FSA_REC_LEG_DOWN, 0, "a.example", "USER_BUSY");
    fsa_otlp_add(o, &r);
    fsa_otlp_snapshot_begin(o, 6000);
    CHECK(fsa_otlp_snapshot_step(o));
    req = seal_unpack(o, NULL, &pts);
    CHECK_EQ_U64(pts, 7);
    m = find_metric(req, "freeswitch.legs.ended");
    CHECK(m && m->sum->data_points[0]->as_int == 2 && m->sum->data_points[0]->start_time_unix_nano == 1111);
    m = find_metric(req, "freeswitch.calls.active");
    CHECK(m && find_point(m, "domain_name", "a.example")->as_int == 0);
    free_req(req);
    fsa_otlp_destroy(o);
}

/* Delta: only what changed since the last snapshot, starting at it. */
static void test_aggregates_delta(void)
{
    struct fsa_otlp *o = make(false, true, 8192);
    struct fsa_metric_record r = leg(FSA_REC_LEG_UP, 1, "a", NULL);
    fsa_otlp_add(o, &r);
    r = leg(FSA_REC_LEG_DOWN, 1, "a", "NORMAL_CLEARING");
    fsa_otlp_add(o, &r);
    fsa_otlp_add(o, &r); /* underflow: stays 0 */
    struct fsa_metric_record q = qos(1, "c", 5);
    fsa_otlp_add(o, &q);
    fsa_otlp_snapshot_begin(o, 5000);
    CHECK(fsa_otlp_snapshot_step(o));
    unsigned pts;
    Req *req = seal_unpack(o, NULL, &pts);
    CHECK_EQ_U64(pts, 5);
    const Metric *m = find_metric(req, "freeswitch.legs.ended");
    CHECK(m && m->sum->aggregation_temporality ==
                   OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA);
    CHECK(m && m->sum->data_points[0]->as_int == 2 && m->sum->data_points[0]->start_time_unix_nano == 1111);
    m = find_metric(req, "freeswitch.leg.mos");
    CHECK(m && m->histogram->aggregation_temporality ==
                   OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA);
    CHECK_EQ_U64(fsa_otlp_aggregates(o)->underflow, 1);
    free_req(req);

    /* Nothing new: only the gauge. */
    fsa_otlp_snapshot_begin(o, 6000);
    CHECK(fsa_otlp_snapshot_step(o));
    req = seal_unpack(o, NULL, &pts);
    CHECK_EQ_U64(pts, 1);
    CHECK(find_metric(req, "freeswitch.calls.active") != NULL);
    free_req(req);

    fsa_otlp_add(o, &r);
    fsa_otlp_add(o, &q);
    fsa_otlp_snapshot_begin(o, 7000);
    CHECK(fsa_otlp_snapshot_step(o));
    req = seal_unpack(o, NULL, &pts);
    m = find_metric(req, "freeswitch.legs.ended");
    CHECK(m && m->sum->data_points[0]->as_int == 1 && m->sum->data_points[0]->start_time_unix_nano == 6000 &&
          m->sum->data_points[0]->time_unix_nano == 7000);
    m = find_metric(req, "freeswitch.leg.mos");
    CHECK(m && m->histogram->data_points[0]->count == 1 && m->histogram->data_points[0]->start_time_unix_nano == 6000);
    free_req(req);
    fsa_otlp_destroy(o);
}

/* A snapshot larger than a batch is cut into several; every series appears once. */
static void test_snapshot_split(void)
{
    struct fsa_otlp *o = make(false, false, 7);
    for (int i = 0; i < 20; i++) {
        char d[16];
        snprintf(d, sizeof(d), "d%d", i);
        struct fsa_metric_record r = leg(FSA_REC_LEG_UP, 0, d, NULL);
        fsa_otlp_add(o, &r);
    }
    fsa_otlp_snapshot_begin(o, 1);
    unsigned total = 0, batches = 0;
    for (;;) {
        bool done = fsa_otlp_snapshot_step(o);
        unsigned pts;
        Req *req = seal_unpack(o, NULL, &pts);
        if (req) {
            CHECK(pts <= 7);
            total += pts;
            batches++;
            free_req(req);
        }
        if (done)
            break;
    }
    CHECK_EQ_U64(total, 20);
    CHECK_EQ_U64(batches, 3);
    fsa_otlp_destroy(o);
}

int main(void)
{
    test_per_leg_points();
    test_invalid_and_empty();
    test_batch_limit();
    test_gzip();
    test_steady_state_memory();
    test_aggregates_cumulative();
    test_aggregates_delta();
    test_snapshot_split();
    return fsa_test_finish();
}
