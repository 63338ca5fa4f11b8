/*
 * otlp: the OTLP encoder (see otlp.h).
 *
 * Shape of every request: one ResourceMetrics (service.name=fsagent,
 * service.version, service.instance.id = the agent id, host.name), one
 * ScopeMetrics (scope "fsagent", the version), then one Metric per metric
 * name present in the batch, in the catalogue's order, each with its points
 * in arrival order.
 *
 * Per-leg points (contract.md tables):
 *   RTCP record -> freeswitch.rtcp.{jitter,packets_lost,fraction_lost,rtt,mos}
 *                  attributes fs_instance, channel_id, correlation_id,
 *                  domain_name, direction
 *   QOS record  -> freeswitch.qos.{mos_score,jitter_avg,jitter_min,jitter_max,
 *                  total_packets,packet_loss,total_bytes,r_factor,mos_emodel,
 *                  hold_seconds,media_gap_ratio}
 *                  attributes fs_instance, channel_id, correlation_id,
 *                  domain_name, codec_name, src_ip, dst_ip, call_direction
 *                  (the leg's Call-Direction: named apart from the RTCP
 *                  points' direction, which is the report's), hangup_cause
 * All gauges, time_unix_nano = the record's time_unix_us x 1000, no start
 * time (a gauge has none). A NaN field gives no point. Packet, byte and leg
 * counts are sent as_int (rounded), everything else as_double. Every
 * attribute is always present, empty string included, so a series keeps one
 * label set for its life.
 *
 * Encoding: a protobuf writer for exactly these messages, by hand, because
 * protobuf-c's descriptor-driven packer (walking structs built in an arena)
 * cost the exporter thread ~650 ns per point and could not keep up with a
 * carrier's RTCP rate. Each metric has a byte buffer of its finished
 * `data_points` entries (tag, length, NumberDataPoint or HistogramDataPoint),
 * appended as records arrive; a record's attribute block is encoded once and
 * copied into each of its points. The seal knows every length then: it
 * writes the envelope (request -> ResourceMetrics -> resource, ScopeMetrics ->
 * scope, Metric headers) around the buffers, whose fixed parts (resource,
 * scope, each metric's name/description/unit) were encoded at create.
 *
 * The bytes are protobuf-c's for the same message, so nothing changes on the
 * wire: fields in field-number order; proto3 scalars that are zero and
 * non-oneof strings that are empty left out; oneof members (as_double,
 * as_int, string_value, histogram sum/min/max) always written, an empty
 * attribute value included; repeated numbers packed. Field numbers are
 * proto/'s (the official opentelemetry-proto). tests/unit/test_otlp_equiv.c
 * holds the two encoders to the same bytes.
 *
 * Memory: the point buffers and the gzip scratch are cleared, not freed, at
 * each seal, so after the first batches of the usual size the steady state
 * allocates only the sealed message the queue takes. Each buffer has a
 * ceiling (batch_max_bytes + 1 MiB).
 *
 * Size: a batch is sealed at batch_max_points points or at about
 * batch_max_bytes encoded bytes, whichever comes first. The byte estimate
 * (attribute bytes + 40 per number point) is an upper bound of the encoded
 * size, so the message stays under gRPC's usual 4 MiB receive limit when
 * batch_max_bytes does; it is the same estimate as the protobuf-c encoder
 * used, so batches are cut where they always were.
 */
#include "otlp.h"

#include <endian.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#ifndef FSA_VERSION
#define FSA_VERSION "0.0.0"
#endif

#define G FSA_OTLP_GAUGE
#define S FSA_OTLP_SUM
#define H FSA_OTLP_HISTOGRAM
const struct fsa_otlp_metric_def fsa_otlp_metric_defs[FSA_M_COUNT] = {
    [FSA_M_RTCP_JITTER] = {"freeswitch.rtcp.jitter", "ms",
                           "Interarrival jitter of one RTCP report block, in ms (jitter x 1000 / RTP clock rate)", G,
                           0},
    [FSA_M_RTCP_PACKETS_LOST] = {"freeswitch.rtcp.packets_lost", "{packet}",
                                 "Packets lost since the previous RTCP report of the same leg, direction and source", G,
                                 1},
    [FSA_M_RTCP_FRACTION_LOST] = {"freeswitch.rtcp.fraction_lost", "1",
                                  "Fraction of packets lost in the last RTCP interval (Fraction / 256)", G, 0},
    [FSA_M_RTCP_RTT] = {"freeswitch.rtcp.rtt", "ms", "Round-trip time from RTCP (Rtt0-Avg), when known", G, 0},
    [FSA_M_RTCP_MOS] = {"freeswitch.rtcp.mos", "1", "Live E-model MOS estimate for the leg", G, 0},
    [FSA_M_QOS_MOS_SCORE] = {"freeswitch.qos.mos_score", "1", "FreeSWITCH's MOS for the leg (rtp_audio_in_mos)", G, 0},
    [FSA_M_QOS_JITTER_AVG] = {"freeswitch.qos.jitter_avg", "ms", "Mean of the leg's RTCP jitter reports", G, 0},
    [FSA_M_QOS_JITTER_MIN] = {"freeswitch.qos.jitter_min", "ms", "Minimum jitter of the leg", G, 0},
    [FSA_M_QOS_JITTER_MAX] = {"freeswitch.qos.jitter_max", "ms", "Maximum jitter of the leg", G, 0},
    [FSA_M_QOS_TOTAL_PACKETS] = {"freeswitch.qos.total_packets", "{packet}",
                                 "RTP packets received plus sent on the leg", G, 1},
    [FSA_M_QOS_PACKET_LOSS] = {"freeswitch.qos.packet_loss", "{packet}", "Packets lost on the leg, both directions", G,
                               1},
    [FSA_M_QOS_TOTAL_BYTES] = {"freeswitch.qos.total_bytes", "By", "RTP bytes received plus sent on the leg", G, 1},
    [FSA_M_QOS_R_FACTOR] = {"freeswitch.qos.r_factor", "1", "E-model R factor for the whole leg", G, 0},
    [FSA_M_QOS_MOS_EMODEL] = {"freeswitch.qos.mos_emodel", "1", "MOS from the leg's E-model R factor", G, 0},
    [FSA_M_QOS_HOLD_SECONDS] = {"freeswitch.qos.hold_seconds", "s",
                                "Time the leg spent on hold (variable_hold_accum_seconds)", G, 0},
    [FSA_M_QOS_MEDIA_GAP_RATIO] = {"freeswitch.qos.media_gap_ratio", "1",
                                   "Share of 20 ms ticks with no packet to play: rtp_audio_in_skip_packet_count / "
                                   "(rtp_audio_in_packet_count + skip); sees packets the far side never sent",
                                   G, 0},
    [FSA_M_CALLS_ACTIVE] = {"freeswitch.calls.active", "{leg}", "Legs up now", G, 1},
    [FSA_M_LEGS_ENDED] = {"freeswitch.legs.ended", "{leg}", "Legs ended, by hangup cause", S, 1},
    [FSA_M_LEG_MOS] = {"freeswitch.leg.mos", "1",
                       "MOS of ended legs from the E-model alone (freeswitch.qos.mos_emodel; FreeSWITCH's own MOS "
                       "is freeswitch.qos.mos_score)",
                       H, 0},
    [FSA_M_LEG_JITTER] = {"freeswitch.leg.jitter", "ms",
                          "Jitter of ended legs (mean of RTCP reports; max jitter without reports)", H, 0},
    [FSA_M_RTCP_LOSS_FRACTION] = {"freeswitch.rtcp.loss_fraction", "1", "Fraction lost per RTCP report", H, 0},
    [FSA_M_LEG_MEDIA_GAP] = {"freeswitch.leg.media_gap", "1",
                             "Media gap ratio of ended legs (freeswitch.qos.media_gap_ratio)", H, 0},
};
#undef G
#undef S
#undef H

/*
 * Wire tags, (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited),
 * with the field numbers of proto/opentelemetry/proto/.
 */
enum {
    /* ExportMetricsServiceRequest */
    T_REQ_RESOURCE_METRICS = 1 << 3 | 2,
    /* ResourceMetrics */
    T_RM_RESOURCE = 1 << 3 | 2,
    T_RM_SCOPE_METRICS = 2 << 3 | 2,
    /* Resource */
    T_RES_ATTRIBUTES = 1 << 3 | 2,
    /* ScopeMetrics */
    T_SM_SCOPE = 1 << 3 | 2,
    T_SM_METRICS = 2 << 3 | 2,
    /* InstrumentationScope */
    T_SCOPE_NAME = 1 << 3 | 2,
    T_SCOPE_VERSION = 2 << 3 | 2,
    /* Metric */
    T_METRIC_NAME = 1 << 3 | 2,
    T_METRIC_DESCRIPTION = 2 << 3 | 2,
    T_METRIC_UNIT = 3 << 3 | 2,
    T_METRIC_GAUGE = 5 << 3 | 2,
    T_METRIC_SUM = 7 << 3 | 2,
    T_METRIC_HISTOGRAM = 9 << 3 | 2,
    /* Gauge, Sum, Histogram */
    T_DATA_POINTS = 1 << 3 | 2,
    T_TEMPORALITY = 2 << 3 | 0,
    T_SUM_IS_MONOTONIC = 3 << 3 | 0,
    /* NumberDataPoint */
    T_NDP_START = 2 << 3 | 1,
    T_NDP_TIME = 3 << 3 | 1,
    T_NDP_AS_DOUBLE = 4 << 3 | 1,
    T_NDP_AS_INT = 6 << 3 | 1,
    T_NDP_ATTRIBUTES = 7 << 3 | 2,
    /* HistogramDataPoint */
    T_HDP_START = 2 << 3 | 1,
    T_HDP_TIME = 3 << 3 | 1,
    T_HDP_COUNT = 4 << 3 | 1,
    T_HDP_SUM = 5 << 3 | 1,
    T_HDP_BUCKET_COUNTS = 6 << 3 | 2,
    T_HDP_EXPLICIT_BOUNDS = 7 << 3 | 2,
    T_HDP_ATTRIBUTES = 9 << 3 | 2,
    T_HDP_MIN = 11 << 3 | 1,
    T_HDP_MAX = 12 << 3 | 1,
    /* KeyValue, AnyValue */
    T_KV_KEY = 1 << 3 | 2,
    T_KV_VALUE = 2 << 3 | 2,
    T_ANY_STRING = 1 << 3 | 2,
};

/* AggregationTemporality */
#define TEMPORALITY_DELTA 1
#define TEMPORALITY_CUMULATIVE 2

#define FIXED64_FIELD 9           /* tag + 8 bytes */
#define LABEL_MAX FSA_CALL_ID_MAX /* the longest label array of a record or aggregate key */
_Static_assert(FSA_UUID_MAX <= LABEL_MAX && FSA_DOMAIN_MAX <= LABEL_MAX && FSA_CODEC_MAX <= LABEL_MAX &&
                   FSA_IP_MAX <= LABEL_MAX && FSA_CAUSE_MAX <= LABEL_MAX,
               "LABEL_MAX bounds every label");
#define MAX_ATTRS 9          /* a QOS record's */
#define KEY_MAX 16           /* longest attribute key ("correlation_id") and room */
#define BUF_SLACK (1u << 20) /* over batch_max_bytes, for the one record an empty batch always takes */

/* ---- protobuf writer ---- */

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Little-endian, as protobuf's fixed64, sfixed64 and double are on the wire (one store on x86/arm64). */
static inline uint8_t *put_le64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof(v));
    return p + 8;
}

static inline uint8_t *put_fixed64(uint8_t *p, uint8_t tag, uint64_t v)
{
    *p++ = tag;
    return put_le64(p, v);
}

static inline uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

/* Size of a length-delimited field whose body is n bytes. */
static inline size_t ld_size(size_t n)
{
    return 1 + varint_len(n) + n;
}

static inline uint8_t *put_ld_head(uint8_t *p, uint8_t tag, size_t n)
{
    *p++ = tag;
    return put_varint(p, n);
}

static inline uint8_t *put_ld(uint8_t *p, uint8_t tag, const void *s, size_t n)
{
    p = put_ld_head(p, tag, n);
    memcpy(p, s, n);
    return p + n;
}

/* A proto3 string field outside a oneof: absent when empty. */
static size_t str_field_size(size_t n)
{
    return n ? ld_size(n) : 0;
}

static uint8_t *put_str_field(uint8_t *p, uint8_t tag, const char *s, size_t n)
{
    return n ? put_ld(p, tag, s, n) : p;
}

/* An attribute: KeyValue{key, AnyValue{string_value}} (string_value is a oneof member: written even empty). */
struct attr {
    const char *key;
    size_t klen;
    const char *val;
    size_t vlen;
};

#define ATTR(k, v, n) ((struct attr){(k), sizeof(k) - 1, (v), (n)})

static inline size_t kv_body_size(const struct attr *a)
{
    return str_field_size(a->klen) + ld_size(ld_size(a->vlen));
}

static inline uint8_t *put_kv_entry(uint8_t *p, uint8_t tag, const struct attr *a)
{
    p = put_ld_head(p, tag, kv_body_size(a));
    p = put_str_field(p, T_KV_KEY, a->key, a->klen);
    p = put_ld_head(p, T_KV_VALUE, ld_size(a->vlen));
    return put_ld(p, T_ANY_STRING, a->val, a->vlen);
}

static size_t attrs_size(const struct attr *a, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += ld_size(kv_body_size(&a[i]));
    return s;
}

/* A fixed piece of every request (resource, scope, a metric's header), encoded once at create. */
struct piece {
    uint8_t *p;
    size_t n;
};

static int piece_alloc(struct piece *pc, size_t n)
{
    pc->p = malloc(n ? n : 1);
    pc->n = n;
    return pc->p ? 0 : -ENOMEM;
}

/* ---- the encoder ---- */

struct fsa_otlp {
    struct fsa_otlp_params p;
    char **names;
    size_t *name_len;
    char *version, *instance_id, *host_name;

    /* Open batch: each metric's encoded data_points entries. */
    struct fsa_buf pts[FSA_M_COUNT];
    unsigned points; /* in the open batch */
    size_t bytes;    /* estimated encoded size of the open batch */

    uint8_t *attr; /* one record's attribute block */
    size_t attr_cap;

    struct fsa_agg agg;
    bool snap_active;
    int snap_family;
    uint32_t snap_idx;
    uint64_t snap_now_ns, last_snap_ns;

    struct piece resource;           /* ResourceMetrics.resource field, tag included */
    struct piece scope;              /* ScopeMetrics.scope field, tag included */
    struct piece mhead[FSA_M_COUNT]; /* Metric name, description, unit fields */

    struct fsa_buf scratch; /* the uncompressed message when gzip is on */
};

static const char *const direction_names[] = {"unknown", "inbound", "outbound"};
static const size_t direction_len[] = {7, 7, 8};

static char *dup_cstr(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static int build_pieces(struct fsa_otlp *o)
{
    struct attr res[] = {
        ATTR("service.name", "fsagent", 7),
        ATTR("service.version", o->version, strlen(o->version)),
        ATTR("service.instance.id", o->instance_id, strlen(o->instance_id)),
        ATTR("host.name", o->host_name, strlen(o->host_name)),
    };
    size_t rb = attrs_size(res, 4);
    if (piece_alloc(&o->resource, ld_size(rb)) != 0)
        return -ENOMEM;
    uint8_t *w = put_ld_head(o->resource.p, T_RM_RESOURCE, rb);
    for (size_t i = 0; i < 4; i++)
        w = put_kv_entry(w, T_RES_ATTRIBUTES, &res[i]);

    size_t vl = strlen(o->version);
    size_t sb = str_field_size(7) + str_field_size(vl);
    if (piece_alloc(&o->scope, ld_size(sb)) != 0)
        return -ENOMEM;
    w = put_ld_head(o->scope.p, T_SM_SCOPE, sb);
    w = put_str_field(w, T_SCOPE_NAME, "fsagent", 7);
    put_str_field(w, T_SCOPE_VERSION, o->version, vl);

    for (int m = 0; m < FSA_M_COUNT; m++) {
        const struct fsa_otlp_metric_def *d = &fsa_otlp_metric_defs[m];
        size_t nl = strlen(d->name), dl = strlen(d->description), ul = strlen(d->unit);
        if (piece_alloc(&o->mhead[m], str_field_size(nl) + str_field_size(dl) + str_field_size(ul)) != 0)
            return -ENOMEM;
        w = put_str_field(o->mhead[m].p, T_METRIC_NAME, d->name, nl);
        w = put_str_field(w, T_METRIC_DESCRIPTION, d->description, dl);
        put_str_field(w, T_METRIC_UNIT, d->unit, ul);
    }
    return 0;
}

const char *fsa_otlp_create(const struct fsa_otlp_params *p, struct fsa_otlp **out)
{
    *out = NULL;
    if (p->batch_max_points == 0 || p->batch_max_bytes < 1024)
        return "batch limits are zero";
    struct fsa_otlp *o = calloc(1, sizeof(*o));
    if (!o)
        return "out of memory";
    o->p = *p;
    size_t cap = p->batch_max_bytes < ((size_t)1 << 30) ? p->batch_max_bytes : ((size_t)1 << 30);
    for (int m = 0; m < FSA_M_COUNT; m++)
        fsa_buf_init(&o->pts[m], cap + BUF_SLACK);
    fsa_buf_init(&o->scratch, (size_t)1 << 30);
    unsigned ni = p->ninstances;
    o->names = calloc(ni ? ni : 1, sizeof(*o->names));
    o->name_len = calloc(ni ? ni : 1, sizeof(*o->name_len));
    o->version = dup_cstr(p->service_version ? p->service_version : FSA_VERSION);
    o->instance_id = dup_cstr(p->instance_id ? p->instance_id : "");
    o->host_name = dup_cstr(p->host_name ? p->host_name : "");
    bool ok = o->names && o->name_len && o->version && o->instance_id && o->host_name;
    size_t name_max = 0;
    for (unsigned i = 0; ok && i < ni; i++) {
        o->names[i] = dup_cstr(p->instance_names && p->instance_names[i] ? p->instance_names[i] : "");
        ok = o->names[i] != NULL;
        if (ok) {
            o->name_len[i] = strlen(o->names[i]);
            if (o->name_len[i] > name_max)
                name_max = o->name_len[i];
        }
    }
    if (ok) {
        /* fs_instance plus at most MAX_ATTRS - 1 labels, each within LABEL_MAX bytes. */
        struct attr inst = {"", KEY_MAX, "", name_max}, label = {"", KEY_MAX, "", LABEL_MAX};
        o->attr_cap = ld_size(kv_body_size(&inst)) + (MAX_ATTRS - 1) * ld_size(kv_body_size(&label));
        o->attr = malloc(o->attr_cap);
        ok = o->attr && build_pieces(o) == 0;
    }
    if (!ok || fsa_agg_init(&o->agg, p->max_agg_keys) != 0) {
        fsa_otlp_destroy(o);
        return "out of memory";
    }
    o->p.instance_names = NULL; /* ours are o->names */
    o->last_snap_ns = p->start_unix_ns;
    *out = o;
    return NULL;
}

void fsa_otlp_destroy(struct fsa_otlp *o)
{
    if (!o)
        return;
    if (o->names)
        for (unsigned i = 0; i < o->p.ninstances; i++)
            free(o->names[i]);
    free(o->names);
    free(o->name_len);
    free(o->version);
    free(o->instance_id);
    free(o->host_name);
    free(o->attr);
    free(o->resource.p);
    free(o->scope.p);
    for (int m = 0; m < FSA_M_COUNT; m++) {
        free(o->mhead[m].p);
        fsa_buf_free(&o->pts[m]);
    }
    fsa_agg_free(&o->agg);
    fsa_buf_free(&o->scratch);
    free(o);
}

const struct fsa_agg *fsa_otlp_aggregates(const struct fsa_otlp *o)
{
    return &o->agg;
}

size_t fsa_otlp_arena_bytes(const struct fsa_otlp *o)
{
    size_t n = o->attr_cap + o->scratch.cap;
    for (int m = 0; m < FSA_M_COUNT; m++)
        n += o->pts[m].cap;
    return n;
}

unsigned fsa_otlp_open_points(const struct fsa_otlp *o)
{
    return o->points;
}

size_t fsa_otlp_open_bytes(const struct fsa_otlp *o)
{
    return o->bytes;
}

bool fsa_otlp_open_full(const struct fsa_otlp *o)
{
    return o->points >= o->p.batch_max_points || o->bytes >= o->p.batch_max_bytes;
}

/* Encodes attributes as repeated-field entries (tag given) into o->attr; its length, 0 when it would not fit. */
static size_t encode_attrs(struct fsa_otlp *o, uint8_t tag, const struct attr *a, size_t n)
{
    size_t len = attrs_size(a, n);
    if (len > o->attr_cap)
        return 0;
    uint8_t *w = o->attr;
    for (size_t i = 0; i < n; i++)
        w = put_kv_entry(w, tag, &a[i]);
    return len;
}

/* The batch-size estimate of an attribute set (the protobuf-c encoder's: KeyValue framing + 12 per attribute). */
static size_t attrs_estimate(const struct attr *a, size_t n)
{
    size_t est = 0;
    for (size_t i = 0; i < n; i++)
        est += a[i].klen + a[i].vlen + 12;
    return est;
}

/* ---- per-leg records ---- */

struct leg_value {
    int metric;
    double v;
};

static size_t record_values(const struct fsa_metric_record *rec, struct leg_value *out)
{
    size_t n = 0;
#define PUT(m, x)                                                                                                      \
    do {                                                                                                               \
        if (isfinite(x))                                                                                               \
            out[n++] = (struct leg_value){(m), (x)};                                                                   \
    } while (0)
    if (rec->kind == FSA_REC_RTCP) {
        const struct fsa_rtcp_record *r = &rec->u.rtcp;
        PUT(FSA_M_RTCP_JITTER, r->jitter_ms);
        PUT(FSA_M_RTCP_PACKETS_LOST, r->packets_lost);
        PUT(FSA_M_RTCP_FRACTION_LOST, r->fraction_lost);
        PUT(FSA_M_RTCP_RTT, r->rtt_ms);
        PUT(FSA_M_RTCP_MOS, r->mos);
    } else if (rec->kind == FSA_REC_QOS) {
        const struct fsa_qos_record *q = &rec->u.qos;
        PUT(FSA_M_QOS_MOS_SCORE, q->mos_score);
        PUT(FSA_M_QOS_JITTER_AVG, q->jitter_avg_ms);
        PUT(FSA_M_QOS_JITTER_MIN, q->jitter_min_ms);
        PUT(FSA_M_QOS_JITTER_MAX, q->jitter_max_ms);
        PUT(FSA_M_QOS_TOTAL_PACKETS, q->total_packets);
        PUT(FSA_M_QOS_PACKET_LOSS, q->packet_loss);
        PUT(FSA_M_QOS_TOTAL_BYTES, q->total_bytes);
        PUT(FSA_M_QOS_R_FACTOR, q->r_factor);
        PUT(FSA_M_QOS_MOS_EMODEL, q->mos_emodel);
        PUT(FSA_M_QOS_HOLD_SECONDS, q->hold_seconds);
        PUT(FSA_M_QOS_MEDIA_GAP_RATIO, q->media_gap_ratio);
    }
#undef PUT
    return n;
}

/* NumberDataPoint body: start (absent when 0), time (absent when 0), the value (a oneof member), attributes. */
static inline size_t ndp_size(uint64_t start_ns, uint64_t time_ns, size_t alen)
{
    return (start_ns ? FIXED64_FIELD : 0) + (time_ns ? FIXED64_FIELD : 0) + FIXED64_FIELD + alen;
}

/* Writes a data_points entry holding a NumberDataPoint of body size `body` (ndp_size). */
static inline uint8_t *put_ndp_entry(uint8_t *w, size_t body, uint64_t start_ns, uint64_t time_ns, uint8_t value_tag,
                                     uint64_t value_bits, const uint8_t *attrs, size_t alen)
{
    w = put_ld_head(w, T_DATA_POINTS, body);
    if (start_ns)
        w = put_fixed64(w, T_NDP_START, start_ns);
    if (time_ns)
        w = put_fixed64(w, T_NDP_TIME, time_ns);
    w = put_fixed64(w, value_tag, value_bits);
    memcpy(w, attrs, alen);
    return w + alen;
}

static inline uint64_t int_bits(int64_t v)
{
    return (uint64_t)v; /* sfixed64: two's complement */
}

/* Counts come as doubles from the calculators; clamp before converting. */
static inline int64_t count_value(double v)
{
    return v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)llround(v);
}

static size_t leg_attrs(const struct fsa_otlp *o, const struct fsa_metric_record *rec, struct attr *a)
{
    const struct fsa_metric_labels *l = &rec->labels;
    size_t n = 0;
    a[n++] = ATTR("fs_instance", o->names[l->instance], o->name_len[l->instance]);
    a[n++] = ATTR("channel_id", l->channel_id, strnlen(l->channel_id, sizeof(l->channel_id)));
    a[n++] = ATTR("correlation_id", l->correlation_id, strnlen(l->correlation_id, sizeof(l->correlation_id)));
    a[n++] = ATTR("domain_name", l->domain_name, strnlen(l->domain_name, sizeof(l->domain_name)));
    unsigned dir = l->direction <= FSA_DIR_OUTBOUND ? l->direction : FSA_DIR_UNKNOWN;
    if (rec->kind == FSA_REC_RTCP) {
        a[n++] = ATTR("direction", direction_names[dir], direction_len[dir]);
    } else {
        a[n++] = ATTR("codec_name", l->codec_name, strnlen(l->codec_name, sizeof(l->codec_name)));
        a[n++] = ATTR("src_ip", l->src_ip, strnlen(l->src_ip, sizeof(l->src_ip)));
        a[n++] = ATTR("dst_ip", l->dst_ip, strnlen(l->dst_ip, sizeof(l->dst_ip)));
        a[n++] = ATTR("call_direction", direction_names[dir], direction_len[dir]);
        a[n++] = ATTR("hangup_cause", rec->hangup_cause, strnlen(rec->hangup_cause, sizeof(rec->hangup_cause)));
    }
    return n;
}

/* Appends a record's points (its attribute block is in o->attr); -ENOMEM/-ENOSPC leaves every buffer as it was. */
static int put_leg_points(struct fsa_otlp *o, uint64_t time_ns, const struct leg_value *v, size_t nv, size_t alen)
{
    size_t body = ndp_size(0, time_ns, alen);
    size_t entry = ld_size(body);
    for (size_t i = 0; i < nv; i++) {
        int rc = fsa_buf_reserve(&o->pts[v[i].metric], entry);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < nv; i++) {
        struct fsa_buf *b = &o->pts[v[i].metric];
        bool as_int = fsa_otlp_metric_defs[v[i].metric].as_int;
        uint64_t bits = as_int ? int_bits(count_value(v[i].v)) : double_bits(v[i].v);
        put_ndp_entry(b->p + b->n, body, 0, time_ns, as_int ? T_NDP_AS_INT : T_NDP_AS_DOUBLE, bits, o->attr, alen);
        b->n += entry;
    }
    return 0;
}

enum fsa_otlp_add_result fsa_otlp_add(struct fsa_otlp *o, const struct fsa_metric_record *rec)
{
    if (rec->kind == FSA_REC_NONE || rec->kind >= FSA_REC_KIND_COUNT || rec->labels.instance >= o->p.ninstances)
        return FSA_OTLP_INVALID;

    struct leg_value vals[FSA_OTLP_MAX_POINTS_PER_RECORD];
    size_t nv = o->p.per_leg ? record_values(rec, vals) : 0;
    if (nv > 0) {
        struct attr a[MAX_ATTRS];
        size_t na = leg_attrs(o, rec, a);
        /* Decided before writing anything, so FULL leaves the batch untouched. */
        size_t est = nv * (attrs_estimate(a, na) + 40);
        if (o->points > 0 && (o->points + nv > o->p.batch_max_points || o->bytes + est > o->p.batch_max_bytes))
            return FSA_OTLP_FULL;
        size_t alen = encode_attrs(o, T_NDP_ATTRIBUTES, a, na);
        if (alen == 0 || put_leg_points(o, rec->time_unix_us * 1000u, vals, nv, alen) != 0) {
            fsa_agg_record(&o->agg, rec);
            return FSA_OTLP_NOMEM;
        }
        o->points += (unsigned)nv;
        o->bytes += est;
    }
    fsa_agg_record(&o->agg, rec);
    return FSA_OTLP_ADDED;
}

/* ---- aggregate snapshot ---- */

void fsa_otlp_snapshot_begin(struct fsa_otlp *o, uint64_t now_unix_ns)
{
    o->snap_active = true;
    o->snap_family = 0;
    o->snap_idx = 0;
    o->snap_now_ns = now_unix_ns;
}

static bool agg_should_emit(const struct fsa_otlp *o, int f, const struct fsa_agg_entry *e)
{
    switch (f) {
    case FSA_AGG_CALLS_ACTIVE: return true; /* a gauge: always its current value */
    case FSA_AGG_LEGS_ENDED: return o->p.delta ? e->v.sum.total != e->v.sum.exported : true;
    default: return e->v.hist.count > 0 && (!o->p.delta || e->dirty);
    }
}

/* HistogramDataPoint body: start, time, count (each absent when 0), sum, buckets, bounds, attributes, min, max. */
static size_t hdp_size(uint64_t start_ns, uint64_t time_ns, uint64_t count, size_t nb, size_t alen)
{
    return (start_ns ? FIXED64_FIELD : 0) + (time_ns ? FIXED64_FIELD : 0) + (count ? FIXED64_FIELD : 0) +
           FIXED64_FIELD + ld_size((nb + 1) * 8) + (nb ? ld_size(nb * 8) : 0) + alen + 2 * FIXED64_FIELD;
}

static uint8_t *put_hdp_entry(uint8_t *w, size_t body, uint64_t start_ns, uint64_t time_ns,
                              const struct fsa_agg_hist *h, const double *bounds, size_t nb, const uint8_t *attrs,
                              size_t alen)
{
    w = put_ld_head(w, T_DATA_POINTS, body);
    if (start_ns)
        w = put_fixed64(w, T_HDP_START, start_ns);
    if (time_ns)
        w = put_fixed64(w, T_HDP_TIME, time_ns);
    if (h->count)
        w = put_fixed64(w, T_HDP_COUNT, h->count);
    w = put_fixed64(w, T_HDP_SUM, double_bits(h->sum));
    /* Packed repeated fields: one length, then the 8-byte values without tags. */
    w = put_ld_head(w, T_HDP_BUCKET_COUNTS, (nb + 1) * 8);
    for (size_t i = 0; i <= nb; i++)
        w = put_le64(w, h->buckets[i]);
    if (nb) {
        w = put_ld_head(w, T_HDP_EXPLICIT_BOUNDS, nb * 8);
        for (size_t i = 0; i < nb; i++)
            w = put_le64(w, double_bits(bounds[i]));
    }
    memcpy(w, attrs, alen);
    w += alen;
    w = put_fixed64(w, T_HDP_MIN, double_bits(h->min));
    return put_fixed64(w, T_HDP_MAX, double_bits(h->max));
}

/* Emits one aggregate entry; false when memory is short (the entry is then left as it was). */
static bool agg_emit(struct fsa_otlp *o, int f, struct fsa_agg_entry *e, size_t est)
{
    const struct fsa_agg_key *k = &e->key;
    unsigned inst = k->instance < o->p.ninstances ? k->instance : 0;
    bool hist = f != FSA_AGG_CALLS_ACTIVE && f != FSA_AGG_LEGS_ENDED;
    struct attr a[4];
    size_t na = 0;
    a[na++] = ATTR("fs_instance", o->names[inst], o->name_len[inst]);
    a[na++] = ATTR("domain_name", k->domain, strnlen(k->domain, sizeof(k->domain)));
    if (f == FSA_AGG_LEGS_ENDED) {
        a[na++] = ATTR("hangup_cause", k->cause, strnlen(k->cause, sizeof(k->cause)));
    } else if (hist) {
        unsigned dir = k->direction <= FSA_DIR_OUTBOUND ? k->direction : FSA_DIR_UNKNOWN;
        a[na++] = ATTR("codec_name", k->codec, strnlen(k->codec, sizeof(k->codec)));
        a[na++] = ATTR("direction", direction_names[dir], direction_len[dir]);
    }
    size_t alen = encode_attrs(o, hist ? T_HDP_ATTRIBUTES : T_NDP_ATTRIBUTES, a, na);
    if (alen == 0)
        return false;
    struct fsa_buf *b = &o->pts[FSA_M_FIRST_AGG + f];
    uint64_t start = o->p.delta ? o->last_snap_ns : o->p.start_unix_ns;
    uint64_t now = o->snap_now_ns;
    if (!hist) {
        uint64_t st = f == FSA_AGG_LEGS_ENDED ? start : 0; /* calls.active is a gauge: no start */
        int64_t v = f == FSA_AGG_CALLS_ACTIVE ? e->v.gauge
                    : o->p.delta              ? (int64_t)(e->v.sum.total - e->v.sum.exported)
                                              : (int64_t)e->v.sum.total;
        size_t body = ndp_size(st, now, alen);
        if (fsa_buf_reserve(b, ld_size(body)) != 0)
            return false;
        put_ndp_entry(b->p + b->n, body, st, now, T_NDP_AS_INT, int_bits(v), o->attr, alen);
        b->n += ld_size(body);
        if (f == FSA_AGG_LEGS_ENDED)
            e->v.sum.exported = e->v.sum.total;
    } else {
        size_t nb;
        const double *bounds = fsa_agg_bounds((enum fsa_agg_family)f, &nb);
        size_t body = hdp_size(start, now, e->v.hist.count, nb, alen);
        if (fsa_buf_reserve(b, ld_size(body)) != 0)
            return false;
        put_hdp_entry(b->p + b->n, body, start, now, &e->v.hist, bounds, nb, o->attr, alen);
        b->n += ld_size(body);
        if (o->p.delta)
            memset(&e->v.hist, 0, sizeof(e->v.hist));
    }
    e->dirty = false;
    o->points++;
    o->bytes += est;
    return true;
}

bool fsa_otlp_snapshot_step(struct fsa_otlp *o)
{
    if (!o->snap_active)
        return true;
    for (; o->snap_family < FSA_AGG_FAMILY_COUNT; o->snap_family++, o->snap_idx = 0) {
        int f = o->snap_family;
        struct fsa_agg_table *t = &o->agg.t[f];
        size_t nb;
        (void)fsa_agg_bounds((enum fsa_agg_family)f, &nb);
        for (; o->snap_idx < t->n; o->snap_idx++) {
            struct fsa_agg_entry *e = &t->entries[o->snap_idx];
            if (!agg_should_emit(o, f, e))
                continue;
            size_t est = strlen(e->key.domain) + strlen(e->key.codec) + strlen(e->key.cause) + 160 + nb * 20;
            if (o->points > 0 && (o->points + 1 > o->p.batch_max_points || o->bytes + est > o->p.batch_max_bytes))
                return false;
            /* Memory short: seal (which empties the buffers) and go on; on an empty batch, skip the entry. */
            if (!agg_emit(o, f, e, est) && o->points > 0)
                return false;
        }
    }
    o->snap_active = false;
    o->last_snap_ns = o->snap_now_ns;
    return true;
}

/* ---- seal ---- */

static void reset_batch(struct fsa_otlp *o)
{
    for (int m = 0; m < FSA_M_COUNT; m++)
        o->pts[m].n = 0;
    o->points = 0;
    o->bytes = 0;
}

/* Lengths of the enclosing messages, known once every point is in. */
struct layout {
    size_t data[FSA_M_COUNT];   /* metric m's Gauge, Sum or Histogram body; 0: m has no point */
    size_t metric[FSA_M_COUNT]; /* metric m's Metric body */
    size_t scope_metrics, resource_metrics, request;
};

static void plan(const struct fsa_otlp *o, struct layout *l)
{
    l->scope_metrics = o->scope.n;
    for (int m = 0; m < FSA_M_COUNT; m++) {
        size_t n = o->pts[m].n;
        if (n) {
            /* Sum: temporality and is_monotonic; Histogram: temporality (a tag and a 1-byte varint each). */
            uint8_t type = fsa_otlp_metric_defs[m].type;
            n += type == FSA_OTLP_SUM ? 4 : type == FSA_OTLP_HISTOGRAM ? 2 : 0;
            l->metric[m] = o->mhead[m].n + ld_size(n);
            l->scope_metrics += ld_size(l->metric[m]);
        }
        l->data[m] = n;
    }
    l->resource_metrics = o->resource.n + ld_size(l->scope_metrics);
    l->request = ld_size(l->resource_metrics);
}

static uint8_t *put_request(const struct fsa_otlp *o, const struct layout *l, uint8_t *w)
{
    static const uint8_t data_tag[] = {
        [FSA_OTLP_GAUGE] = T_METRIC_GAUGE, [FSA_OTLP_SUM] = T_METRIC_SUM, [FSA_OTLP_HISTOGRAM] = T_METRIC_HISTOGRAM};
    uint8_t temporality = o->p.delta ? TEMPORALITY_DELTA : TEMPORALITY_CUMULATIVE;
    w = put_ld_head(w, T_REQ_RESOURCE_METRICS, l->resource_metrics);
    memcpy(w, o->resource.p, o->resource.n);
    w += o->resource.n;
    w = put_ld_head(w, T_RM_SCOPE_METRICS, l->scope_metrics);
    memcpy(w, o->scope.p, o->scope.n);
    w += o->scope.n;
    for (int m = 0; m < FSA_M_COUNT; m++) {
        if (!l->data[m])
            continue;
        uint8_t type = fsa_otlp_metric_defs[m].type;
        w = put_ld_head(w, T_SM_METRICS, l->metric[m]);
        memcpy(w, o->mhead[m].p, o->mhead[m].n);
        w += o->mhead[m].n;
        w = put_ld_head(w, data_tag[type], l->data[m]);
        memcpy(w, o->pts[m].p, o->pts[m].n);
        w += o->pts[m].n;
        if (type != FSA_OTLP_GAUGE) {
            *w++ = T_TEMPORALITY;
            *w++ = temporality;
        }
        if (type == FSA_OTLP_SUM) {
            *w++ = T_SUM_IS_MONOTONIC;
            *w++ = 1;
        }
    }
    return w;
}

const char *fsa_otlp_seal(struct fsa_otlp *o, struct fsa_gzip *z, uint8_t **out, size_t *len, unsigned *points)
{
    *out = NULL;
    *len = 0;
    *points = 0;
    if (o->points == 0) {
        reset_batch(o);
        return NULL;
    }
    const char *why = NULL;
    unsigned pts = o->points;
    struct layout l;
    plan(o, &l);
    size_t size = l.request;
    if (size > UINT32_MAX - FSA_GRPC_FRAME_HEADER) {
        reset_batch(o);
        return "request larger than 4 GiB";
    }
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    if (z) {
        o->scratch.n = 0;
        if (fsa_buf_reserve(&o->scratch, size) != 0) {
            why = "out of memory packing the request";
        } else if (put_request(o, &l, o->scratch.p) != o->scratch.p + size) {
            why = "request size mismatch"; /* a bug in plan() or put_request(): never send a bad message */
        } else {
            size_t bound = fsa_gzip_bound(z, size);
            msg = malloc(FSA_GRPC_FRAME_HEADER + bound);
            size_t clen = msg ? fsa_gzip_compress(z, o->scratch.p, size, msg + FSA_GRPC_FRAME_HEADER, bound) : 0;
            if (!clen) {
                free(msg);
                msg = NULL;
                why = "gzip failed";
            } else {
                msg_len = FSA_GRPC_FRAME_HEADER + clen;
                uint8_t *shrunk = realloc(msg, msg_len); /* the queue counts what it holds */
                if (shrunk)
                    msg = shrunk;
                fsa_grpc_frame_header(msg, true, (uint32_t)clen);
            }
        }
    } else {
        msg = malloc(FSA_GRPC_FRAME_HEADER + size);
        if (!msg) {
            why = "out of memory packing the request";
        } else if (put_request(o, &l, msg + FSA_GRPC_FRAME_HEADER) != msg + FSA_GRPC_FRAME_HEADER + size) {
            free(msg);
            msg = NULL;
            why = "request size mismatch";
        } else {
            fsa_grpc_frame_header(msg, false, (uint32_t)size);
            msg_len = FSA_GRPC_FRAME_HEADER + size;
        }
    }
    reset_batch(o);
    if (why)
        return why;
    *out = msg;
    *len = msg_len;
    *points = pts;
    return NULL;
}
