/*
 * test_otlp_ref.h: the reference OTLP encoder, for tests and bench/otlp_bench.c only.
 *
 * This is export/otlp.c as it was before the hand-written protobuf writer
 * (git 0bd91a1): records become protobuf-c structs in an arena, packed by
 * protobuf-c's descriptor-driven packer. It is kept verbatim but for the
 * names (ref_ prefix, static), so tests/unit/test_otlp_equiv.c can feed the
 * same records to both encoders and require the same bytes, and the bench can
 * time both in one run. It shares the product's metric catalogue
 * (fsa_otlp_metric_defs): names and units are checked by test_otlp_encode.c.
 */
#ifndef FSA_TEST_OTLP_REF_H
#define FSA_TEST_OTLP_REF_H

#include "export/otlp.h"

#define REF_FN static __attribute__((unused))

struct ref_otlp;
REF_FN void ref_otlp_destroy(struct ref_otlp *o);

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "export/arena.h"
#include "export/buf.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

#ifndef FSA_VERSION
#define FSA_VERSION "0.0.0"
#endif

typedef Opentelemetry__Proto__Common__V1__KeyValue KV;
typedef Opentelemetry__Proto__Common__V1__AnyValue AV;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NDP;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HDP;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__Gauge Gauge;
typedef Opentelemetry__Proto__Metrics__V1__Sum Sum;
typedef Opentelemetry__Proto__Metrics__V1__Histogram Histogram;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics ScopeMetrics;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics ResourceMetrics;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest Request;

struct ref_num_pt {
    NDP dp;
    struct ref_num_pt *next;
};

struct ref_hist_pt {
    HDP dp;
    struct ref_hist_pt *next;
};

struct ref_acc {
    void *head;  /* struct ref_num_pt or struct ref_hist_pt list, by the metric's type */
    void **tail; /* where the next pointer goes */
    unsigned n;
};

#define REF_NRES 4

struct ref_otlp {
    struct fsa_otlp_params p;
    char **names;
    size_t *name_len;
    char *version, *instance_id, *host_name;

    struct fsa_arena arena;
    struct ref_acc acc[FSA_M_COUNT];
    unsigned points; /* in the open batch */
    size_t bytes;    /* estimated encoded size of the open batch */

    struct fsa_agg agg;
    bool snap_active;
    int snap_family;
    uint32_t snap_idx;
    uint64_t snap_now_ns, last_snap_ns;

    /* Built once: every request points at them. */
    KV res_kv[REF_NRES];
    AV res_av[REF_NRES];
    KV *res_attrs[REF_NRES];
    Resource resource;
    Scope scope;

    struct fsa_buf scratch; /* the uncompressed message when gzip is on */
};

static const char *const ref_direction_names[] = {"unknown", "inbound", "outbound"};

static char *ref_dup_cstr(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static void ref_set_kv(KV *kv, AV *av, const char *key, const char *val)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(av);
    /* protobuf-c's string fields are char *: packing only reads them. */
    kv->key = (char *)key;
    kv->value = av;
    av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    av->string_value = (char *)val;
}

REF_FN const char *ref_otlp_create(const struct fsa_otlp_params *p, struct ref_otlp **out)
{
    *out = NULL;
    if (p->batch_max_points == 0 || p->batch_max_bytes < 1024)
        return "batch limits are zero";
    struct ref_otlp *o = calloc(1, sizeof(*o));
    if (!o)
        return "out of memory";
    o->p = *p;
    fsa_arena_init(&o->arena, (size_t)1 << 20);
    fsa_buf_init(&o->scratch, (size_t)1 << 30);
    for (int m = 0; m < FSA_M_COUNT; m++)
        o->acc[m].tail = &o->acc[m].head;
    unsigned ni = p->ninstances;
    o->names = calloc(ni ? ni : 1, sizeof(*o->names));
    o->name_len = calloc(ni ? ni : 1, sizeof(*o->name_len));
    o->version = ref_dup_cstr(p->service_version ? p->service_version : FSA_VERSION);
    o->instance_id = ref_dup_cstr(p->instance_id ? p->instance_id : "");
    o->host_name = ref_dup_cstr(p->host_name ? p->host_name : "");
    bool ok = o->names && o->name_len && o->version && o->instance_id && o->host_name;
    for (unsigned i = 0; ok && i < ni; i++) {
        o->names[i] = ref_dup_cstr(p->instance_names && p->instance_names[i] ? p->instance_names[i] : "");
        ok = o->names[i] != NULL;
        if (ok)
            o->name_len[i] = strlen(o->names[i]);
    }
    if (!ok || fsa_agg_init(&o->agg, p->max_agg_keys) != 0) {
        ref_otlp_destroy(o);
        return "out of memory";
    }
    o->p.instance_names = NULL; /* ours are o->names */
    o->last_snap_ns = p->start_unix_ns;

    ref_set_kv(&o->res_kv[0], &o->res_av[0], "service.name", "fsagent");
    ref_set_kv(&o->res_kv[1], &o->res_av[1], "service.version", o->version);
    ref_set_kv(&o->res_kv[2], &o->res_av[2], "service.instance.id", o->instance_id);
    ref_set_kv(&o->res_kv[3], &o->res_av[3], "host.name", o->host_name);
    for (int i = 0; i < REF_NRES; i++)
        o->res_attrs[i] = &o->res_kv[i];
    opentelemetry__proto__resource__v1__resource__init(&o->resource);
    o->resource.n_attributes = REF_NRES;
    o->resource.attributes = o->res_attrs;
    opentelemetry__proto__common__v1__instrumentation_scope__init(&o->scope);
    o->scope.name = (char *)"fsagent";
    o->scope.version = o->version;
    *out = o;
    return NULL;
}

REF_FN void ref_otlp_destroy(struct ref_otlp *o)
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
    fsa_agg_free(&o->agg);
    fsa_arena_free(&o->arena);
    fsa_buf_free(&o->scratch);
    free(o);
}

REF_FN const struct fsa_agg *ref_otlp_aggregates(const struct ref_otlp *o)
{
    return &o->agg;
}

REF_FN size_t ref_otlp_arena_bytes(const struct ref_otlp *o)
{
    return o->arena.bytes_reserved;
}

REF_FN unsigned ref_otlp_open_points(const struct ref_otlp *o)
{
    return o->points;
}

REF_FN size_t ref_otlp_open_bytes(const struct ref_otlp *o)
{
    return o->bytes;
}

REF_FN bool ref_otlp_open_full(const struct ref_otlp *o)
{
    return o->points >= o->p.batch_max_points || o->bytes >= o->p.batch_max_bytes;
}

/* ---- attributes ---- */

struct ref_attr_src {
    const char *key;
    const char *val; /* NUL-terminated within val_cap */
    size_t val_cap;
    bool copy; /* from the record (lane slot): copy into the arena */
};

/* Builds the shared attribute array; *est gets its encoded size estimate. */
static KV **ref_make_attrs(struct ref_otlp *o, const struct ref_attr_src *src, size_t n, size_t *est)
{
    KV **arr = fsa_arena_alloc(&o->arena, n * (sizeof(KV *) + sizeof(KV) + sizeof(AV)));
    if (!arr)
        return NULL;
    KV *kv = (KV *)(arr + n);
    AV *av = (AV *)(kv + n);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t vl = strnlen(src[i].val, src[i].val_cap);
        const char *v = src[i].val;
        if (src[i].copy) {
            v = fsa_arena_strndup(&o->arena, src[i].val, vl);
            if (!v)
                return NULL;
        }
        ref_set_kv(&kv[i], &av[i], src[i].key, v);
        arr[i] = &kv[i];
        /* KeyValue tag+len, key tag+len+key, value tag+len, string tag+len+value */
        bytes += strlen(src[i].key) + vl + 12;
    }
    *est = bytes;
    return arr;
}

static void ref_acc_push(struct ref_acc *a, void *pt, void **next_field)
{
    *a->tail = pt;
    a->tail = next_field;
    *next_field = NULL;
    a->n++;
}

/* ---- per-leg records ---- */

struct ref_leg_value {
    int metric;
    double v;
};

static size_t ref_record_values(const struct fsa_metric_record *rec, struct ref_leg_value *out)
{
    size_t n = 0;
#define PUT(m, x)                                                                                                      \
    do {                                                                                                               \
        if (isfinite(x))                                                                                               \
            out[n++] = (struct ref_leg_value){(m), (x)};                                                               \
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

static void ref_set_number(NDP *dp, int metric, double v)
{
    if (fsa_otlp_metric_defs[metric].as_int) {
        dp->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
        /* Counts come as doubles from the calculators; clamp before converting. */
        dp->as_int = v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)llround(v);
    } else {
        dp->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
        dp->as_double = v;
    }
}

REF_FN enum fsa_otlp_add_result ref_otlp_add(struct ref_otlp *o, const struct fsa_metric_record *rec)
{
    if (rec->kind == FSA_REC_NONE || rec->kind >= FSA_REC_KIND_COUNT || rec->labels.instance >= o->p.ninstances)
        return FSA_OTLP_INVALID;

    struct ref_leg_value vals[FSA_OTLP_MAX_POINTS_PER_RECORD];
    size_t nv = o->p.per_leg ? ref_record_values(rec, vals) : 0;
    if (nv > 0) {
        const struct fsa_metric_labels *l = &rec->labels;
        unsigned dir = l->direction <= FSA_DIR_OUTBOUND ? l->direction : FSA_DIR_UNKNOWN;
        struct ref_attr_src src[9];
        size_t na = 0;
        src[na++] = (struct ref_attr_src){"fs_instance", o->names[l->instance], o->name_len[l->instance] + 1, false};
        src[na++] = (struct ref_attr_src){"channel_id", l->channel_id, sizeof(l->channel_id), true};
        src[na++] = (struct ref_attr_src){"correlation_id", l->correlation_id, sizeof(l->correlation_id), true};
        src[na++] = (struct ref_attr_src){"domain_name", l->domain_name, sizeof(l->domain_name), true};
        if (rec->kind == FSA_REC_RTCP) {
            src[na++] = (struct ref_attr_src){"direction", ref_direction_names[dir], 16, false};
        } else {
            src[na++] = (struct ref_attr_src){"codec_name", l->codec_name, sizeof(l->codec_name), true};
            src[na++] = (struct ref_attr_src){"src_ip", l->src_ip, sizeof(l->src_ip), true};
            src[na++] = (struct ref_attr_src){"dst_ip", l->dst_ip, sizeof(l->dst_ip), true};
            src[na++] = (struct ref_attr_src){"call_direction", ref_direction_names[dir], 16, false};
            src[na++] = (struct ref_attr_src){"hangup_cause", rec->hangup_cause, sizeof(rec->hangup_cause), true};
        }
        /* Upper bound before building anything, so FULL leaves the batch untouched. */
        size_t attr_upper = 0;
        for (size_t i = 0; i < na; i++)
            attr_upper += strlen(src[i].key) + strnlen(src[i].val, src[i].val_cap) + 12;
        size_t est = nv * (attr_upper + 40);
        if (o->points > 0 && (o->points + nv > o->p.batch_max_points || o->bytes + est > o->p.batch_max_bytes))
            return FSA_OTLP_FULL;

        size_t attr_est;
        KV **attrs = ref_make_attrs(o, src, na, &attr_est);
        struct ref_num_pt *pts = attrs ? fsa_arena_alloc(&o->arena, nv * sizeof(*pts)) : NULL;
        if (!pts) {
            fsa_agg_record(&o->agg, rec);
            return FSA_OTLP_NOMEM;
        }
        uint64_t t_ns = rec->time_unix_us * 1000u;
        for (size_t i = 0; i < nv; i++) {
            NDP *dp = &pts[i].dp;
            opentelemetry__proto__metrics__v1__number_data_point__init(dp);
            dp->n_attributes = na;
            dp->attributes = attrs;
            dp->time_unix_nano = t_ns;
            ref_set_number(dp, vals[i].metric, vals[i].v);
            ref_acc_push(&o->acc[vals[i].metric], &pts[i], (void **)&pts[i].next);
        }
        o->points += (unsigned)nv;
        o->bytes += est;
    }
    fsa_agg_record(&o->agg, rec);
    return FSA_OTLP_ADDED;
}

/* ---- aggregate snapshot ---- */

REF_FN void ref_otlp_snapshot_begin(struct ref_otlp *o, uint64_t now_unix_ns)
{
    o->snap_active = true;
    o->snap_family = 0;
    o->snap_idx = 0;
    o->snap_now_ns = now_unix_ns;
}

static bool ref_agg_should_emit(const struct ref_otlp *o, int f, const struct fsa_agg_entry *e)
{
    switch (f) {
    case FSA_AGG_CALLS_ACTIVE: return true; /* a gauge: always its current value */
    case FSA_AGG_LEGS_ENDED: return o->p.delta ? e->v.sum.total != e->v.sum.exported : true;
    default: return e->v.hist.count > 0 && (!o->p.delta || e->dirty);
    }
}

/* Emits one aggregate entry; false when memory is short. */
static bool ref_agg_emit(struct ref_otlp *o, int f, struct fsa_agg_entry *e, size_t est)
{
    const struct fsa_agg_key *k = &e->key;
    struct ref_attr_src src[4];
    size_t na = 0;
    unsigned inst = k->instance < o->p.ninstances ? k->instance : 0;
    src[na++] = (struct ref_attr_src){"fs_instance", o->names[inst], o->name_len[inst] + 1, false};
    src[na++] = (struct ref_attr_src){"domain_name", k->domain, sizeof(k->domain), true};
    if (f == FSA_AGG_LEGS_ENDED) {
        src[na++] = (struct ref_attr_src){"hangup_cause", k->cause, sizeof(k->cause), true};
    } else if (f != FSA_AGG_CALLS_ACTIVE) {
        src[na++] = (struct ref_attr_src){"codec_name", k->codec, sizeof(k->codec), true};
        src[na++] =
            (struct ref_attr_src){"direction", ref_direction_names[k->direction <= 2 ? k->direction : 0], 16, false};
    }
    size_t attr_est;
    KV **attrs = ref_make_attrs(o, src, na, &attr_est);
    if (!attrs)
        return false;
    int m = FSA_M_FIRST_AGG + f;
    uint64_t start = o->p.delta ? o->last_snap_ns : o->p.start_unix_ns;
    if (f == FSA_AGG_CALLS_ACTIVE || f == FSA_AGG_LEGS_ENDED) {
        struct ref_num_pt *pt = fsa_arena_alloc(&o->arena, sizeof(*pt));
        if (!pt)
            return false;
        NDP *dp = &pt->dp;
        opentelemetry__proto__metrics__v1__number_data_point__init(dp);
        dp->n_attributes = na;
        dp->attributes = attrs;
        dp->time_unix_nano = o->snap_now_ns;
        dp->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
        if (f == FSA_AGG_CALLS_ACTIVE) {
            dp->as_int = e->v.gauge;
        } else {
            dp->start_time_unix_nano = start;
            dp->as_int = (int64_t)(o->p.delta ? e->v.sum.total - e->v.sum.exported : e->v.sum.total);
            e->v.sum.exported = e->v.sum.total;
        }
        ref_acc_push(&o->acc[m], pt, (void **)&pt->next);
    } else {
        size_t nb;
        const double *bounds = fsa_agg_bounds((enum fsa_agg_family)f, &nb);
        struct ref_hist_pt *pt = fsa_arena_alloc(&o->arena, sizeof(*pt) + (nb + 1) * sizeof(uint64_t));
        if (!pt)
            return false;
        uint64_t *counts = (uint64_t *)(pt + 1);
        HDP *dp = &pt->dp;
        opentelemetry__proto__metrics__v1__histogram_data_point__init(dp);
        dp->n_attributes = na;
        dp->attributes = attrs;
        dp->start_time_unix_nano = start;
        dp->time_unix_nano = o->snap_now_ns;
        const struct fsa_agg_hist *h = &e->v.hist;
        dp->count = h->count;
        dp->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
        dp->sum = h->sum;
        dp->_min_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MIN_MIN;
        dp->min = h->min;
        dp->_max_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MAX_MAX;
        dp->max = h->max;
        memcpy(counts, h->buckets, (nb + 1) * sizeof(uint64_t));
        dp->n_bucket_counts = nb + 1;
        dp->bucket_counts = counts;
        dp->n_explicit_bounds = nb;
        dp->explicit_bounds = (double *)bounds; /* static, only read by the packer */
        if (o->p.delta)
            memset(&e->v.hist, 0, sizeof(e->v.hist));
        ref_acc_push(&o->acc[m], pt, (void **)&pt->next);
    }
    e->dirty = false;
    o->points++;
    o->bytes += est;
    return true;
}

REF_FN bool ref_otlp_snapshot_step(struct ref_otlp *o)
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
            if (!ref_agg_should_emit(o, f, e))
                continue;
            size_t est = strlen(e->key.domain) + strlen(e->key.codec) + strlen(e->key.cause) + 160 + nb * 20;
            if (o->points > 0 && (o->points + 1 > o->p.batch_max_points || o->bytes + est > o->p.batch_max_bytes))
                return false;
            /* Memory short: seal (which frees the arena) and go on; on an empty batch, skip the entry. */
            if (!ref_agg_emit(o, f, e, est) && o->points > 0)
                return false;
        }
    }
    o->snap_active = false;
    o->last_snap_ns = o->snap_now_ns;
    return true;
}

/* ---- seal ---- */

static void ref_reset_batch(struct ref_otlp *o)
{
    fsa_arena_reset(&o->arena);
    for (int m = 0; m < FSA_M_COUNT; m++) {
        o->acc[m].head = NULL;
        o->acc[m].tail = &o->acc[m].head;
        o->acc[m].n = 0;
    }
    o->points = 0;
    o->bytes = 0;
}

/* Lays a metric's point list out as the pointer array protobuf-c wants. */
static Metric *ref_build_metric(struct ref_otlp *o, int m)
{
    const struct fsa_otlp_metric_def *d = &fsa_otlp_metric_defs[m];
    struct ref_acc *a = &o->acc[m];
    Metric *mt = fsa_arena_alloc(&o->arena, sizeof(*mt));
    void **arr = fsa_arena_alloc(&o->arena, a->n * sizeof(void *));
    if (!mt || !arr)
        return NULL;
    opentelemetry__proto__metrics__v1__metric__init(mt);
    mt->name = (char *)d->name;
    mt->unit = (char *)d->unit;
    mt->description = (char *)d->description;
    int temporality =
        o->p.delta ? OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
                   : OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
    size_t i = 0;
    if (d->type == FSA_OTLP_HISTOGRAM) {
        for (struct ref_hist_pt *p = a->head; p; p = p->next)
            arr[i++] = &p->dp;
        Histogram *h = fsa_arena_alloc(&o->arena, sizeof(*h));
        if (!h)
            return NULL;
        opentelemetry__proto__metrics__v1__histogram__init(h);
        h->n_data_points = a->n;
        h->data_points = (HDP **)arr;
        h->aggregation_temporality = temporality;
        mt->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
        mt->histogram = h;
        return mt;
    }
    for (struct ref_num_pt *p = a->head; p; p = p->next)
        arr[i++] = &p->dp;
    if (d->type == FSA_OTLP_SUM) {
        Sum *s = fsa_arena_alloc(&o->arena, sizeof(*s));
        if (!s)
            return NULL;
        opentelemetry__proto__metrics__v1__sum__init(s);
        s->n_data_points = a->n;
        s->data_points = (NDP **)arr;
        s->aggregation_temporality = temporality;
        s->is_monotonic = 1;
        mt->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
        mt->sum = s;
    } else {
        Gauge *g = fsa_arena_alloc(&o->arena, sizeof(*g));
        if (!g)
            return NULL;
        opentelemetry__proto__metrics__v1__gauge__init(g);
        g->n_data_points = a->n;
        g->data_points = (NDP **)arr;
        mt->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
        mt->gauge = g;
    }
    return mt;
}

REF_FN const char *ref_otlp_seal(struct ref_otlp *o, struct fsa_gzip *z, uint8_t **out, size_t *len, unsigned *points)
{
    *out = NULL;
    *len = 0;
    *points = 0;
    if (o->points == 0) {
        ref_reset_batch(o);
        return NULL;
    }
    const char *why = NULL;
    unsigned pts = o->points;
    Metric **metrics = fsa_arena_alloc(&o->arena, FSA_M_COUNT * sizeof(*metrics));
    size_t nm = 0;
    for (int m = 0; metrics && m < FSA_M_COUNT; m++) {
        if (o->acc[m].n == 0)
            continue;
        if (!(metrics[nm++] = ref_build_metric(o, m))) {
            metrics = NULL;
            break;
        }
    }
    if (!metrics) {
        ref_reset_batch(o);
        return "out of memory building the request";
    }
    ScopeMetrics sm;
    opentelemetry__proto__metrics__v1__scope_metrics__init(&sm);
    sm.scope = &o->scope;
    sm.n_metrics = nm;
    sm.metrics = metrics;
    ScopeMetrics *smp = &sm;
    ResourceMetrics rm;
    opentelemetry__proto__metrics__v1__resource_metrics__init(&rm);
    rm.resource = &o->resource;
    rm.n_scope_metrics = 1;
    rm.scope_metrics = &smp;
    ResourceMetrics *rmp = &rm;
    Request req;
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
    req.n_resource_metrics = 1;
    req.resource_metrics = &rmp;

    size_t size = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(&req);
    if (size > UINT32_MAX - FSA_GRPC_FRAME_HEADER) {
        ref_reset_batch(o);
        return "request larger than 4 GiB";
    }
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    if (z) {
        o->scratch.n = 0;
        if (fsa_buf_reserve(&o->scratch, size) != 0) {
            why = "out of memory packing the request";
        } else {
            opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, o->scratch.p);
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
        } else {
            opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(
                &req, msg + FSA_GRPC_FRAME_HEADER);
            fsa_grpc_frame_header(msg, false, (uint32_t)size);
            msg_len = FSA_GRPC_FRAME_HEADER + size;
        }
    }
    ref_reset_batch(o);
    if (why)
        return why;
    *out = msg;
    *len = msg_len;
    *points = pts;
    return NULL;
}

#endif
