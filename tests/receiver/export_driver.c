/*
 * export_driver: runs the real exporter (export/exporter.h) against a
 * collector, feeding it synthetic metric records with known values through
 * real lanes, then stops it and prints its counters. The integration tests
 * (tests/integration/test_export_*.py) run it against tests/receiver/
 * receiver.js and compare what the receiver got with the formulas below,
 * which they restate independently.
 *
 * Scenario "basic" (leg i = 0 .. legs-1, spread over --lanes lanes by i):
 *   instance  i % 2 ("fs-a", "fs-b")     domain  "d<i%3>.example"
 *   channel   "chan-<i:04>"               call-id "call-<i:04>@example"
 *   codec     i odd: OPUS, else PCMU      leg direction: i even inbound, else outbound
 *   src_ip    "10.0.0.<i%250>"            dst_ip  "10.0.1.<i%250>"
 *   t0 (µs)   1700000000000000 + i * 1000000
 *   LEG_UP    at t0
 *   RTCP k = 0 .. reports-1 at t0 + (k+1)*5000, direction k odd: outbound, else inbound
 *             jitter 1.5 + i + 0.25*k, packets_lost k, fraction_lost k / 256.0,
 *             rtt NaN for k = 0 else 20 + k, mos 4.4 - 0.01*k
 *   legs with i % 4 == 3 stay up; the others end at t0 + 60 s with
 *   QOS       mos_score 4.1 + (i % 5) * 0.05, jitter_avg NaN for odd i else 2.0 + i,
 *             jitter_min 0.5, jitter_max 10.0 + i, total_packets 1000 + i, packet_loss i,
 *             total_bytes 160000 + i, r_factor 90.0 - i * 0.5, mos_emodel 4.3 - i * 0.01,
 *             hold_seconds NaN for i % 3 == 0 else i % 7, media_gap_ratio NaN for
 *             i % 5 == 4 else 0.004 * i
 *   LEG_DOWN  cause i odd: "USER_BUSY", else "NORMAL_CLEARING"
 * "--domains N" replaces the domain by "d<i%N>.example" (aggregate overflow tests).
 *
 * Phases: --legs legs first; with --wait-file, the driver then waits for
 * that file (the test starts the receiver meanwhile) and pushes
 * --phase2-legs more legs (numbered after the first ones). Before stopping
 * it can wait until --wait-exported points were exported.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/log.h"
#include "export/exporter.h"
#include "ring/fsa_metric.h"
#include "ring/fsa_ring.h"

struct opts {
    const char *endpoint, *ca, *cert, *key, *wait_file, *stats_file, *agent_id;
    bool tls, gzip, delta, no_per_leg;
    unsigned batch_points, interval_ms, timeout_ms, agg_interval_ms, retry_initial_ms, retry_max_ms;
    unsigned reconnect_initial_ms, reconnect_max_ms, max_streams, max_agg_keys, lanes, legs, reports;
    unsigned phase2_legs, domains, stop_deadline_ms, wait_timeout_ms, lane_slots;
    unsigned long long queue_bytes, wait_exported;
    char *headers[FSA_MAX_OTLP_HEADERS];
    unsigned nheaders;
};

static struct fsa_lane *g_lanes;
static struct fsa_exporter *g_exp;
static unsigned long long g_pushed[FSA_REC_KIND_COUNT];
static unsigned long long g_expected_points;
static atomic_bool g_sampling;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void push(const struct opts *o, unsigned lane, const struct fsa_metric_record *r)
{
    struct fsa_lane *l = &g_lanes[lane % o->lanes];
    void *slot;
    /* A test wants every record: wait for room instead of dropping as a worker would. */
    while ((slot = fsa_lane_acquire_sp(l)) == NULL) {
        fsa_exporter_doorbell(g_exp);
        usleep(200);
    }
    memcpy(slot, r, sizeof(*r));
    fsa_lane_publish_sp(l, slot);
    g_pushed[r->kind]++;
    if ((g_pushed[r->kind] & 63) == 0)
        fsa_exporter_doorbell(g_exp);
}

static void labels(const struct opts *o, unsigned i, struct fsa_metric_record *r)
{
    memset(r, 0, sizeof(*r));
    struct fsa_metric_labels *l = &r->labels;
    l->instance = (uint16_t)(i % 2);
    l->direction = i % 2 == 0 ? FSA_DIR_INBOUND : FSA_DIR_OUTBOUND;
    snprintf(l->channel_id, sizeof(l->channel_id), "chan-%04u", i);
    snprintf(l->correlation_id, sizeof(l->correlation_id), "call-%04u@example", i);
    snprintf(l->domain_name, sizeof(l->domain_name), "d%u.example", i % (o->domains ? o->domains : 3));
    snprintf(l->codec_name, sizeof(l->codec_name), "%s", i % 2 ? "OPUS" : "PCMU");
    snprintf(l->src_ip, sizeof(l->src_ip), "10.0.0.%u", i % 250);
    snprintf(l->dst_ip, sizeof(l->dst_ip), "10.0.1.%u", i % 250);
}

static unsigned count_finite(const double *v, size_t n)
{
    unsigned c = 0;
    for (size_t i = 0; i < n; i++)
        c += isfinite(v[i]) ? 1 : 0;
    return c;
}

static void push_leg(const struct opts *o, unsigned i)
{
    uint64_t t0 = 1700000000000000ull + (uint64_t)i * 1000000ull;
    struct fsa_metric_record r;
    labels(o, i, &r);
    r.kind = FSA_REC_LEG_UP;
    r.time_unix_us = t0;
    push(o, i, &r);
    for (unsigned k = 0; k < o->reports; k++) {
        labels(o, i, &r);
        r.kind = FSA_REC_RTCP;
        r.time_unix_us = t0 + (uint64_t)(k + 1) * 5000u;
        r.labels.direction = k % 2 ? FSA_DIR_OUTBOUND : FSA_DIR_INBOUND;
        r.u.rtcp.jitter_ms = 1.5 + i + 0.25 * k;
        r.u.rtcp.packets_lost = k;
        r.u.rtcp.fraction_lost = k / 256.0;
        r.u.rtcp.rtt_ms = k == 0 ? NAN : 20.0 + k;
        r.u.rtcp.mos = 4.4 - 0.01 * k;
        r.u.rtcp.source_ssrc = 1000 + i;
        push(o, i, &r);
        if (!o->no_per_leg)
            g_expected_points += count_finite(&r.u.rtcp.jitter_ms, 5);
    }
    if (i % 4 == 3)
        return;
    labels(o, i, &r);
    r.kind = FSA_REC_QOS;
    r.time_unix_us = t0 + 60000000ull;
    snprintf(r.hangup_cause, sizeof(r.hangup_cause), "%s", i % 2 ? "USER_BUSY" : "NORMAL_CLEARING");
    struct fsa_qos_record *q = &r.u.qos;
    q->mos_score = 4.1 + (i % 5) * 0.05;
    q->jitter_avg_ms = i % 2 ? NAN : 2.0 + i;
    q->jitter_min_ms = 0.5;
    q->jitter_max_ms = 10.0 + i;
    q->total_packets = 1000 + i;
    q->packet_loss = i;
    q->total_bytes = 160000 + i;
    q->r_factor = 90.0 - i * 0.5;
    q->mos_emodel = 4.3 - i * 0.01;
    q->hold_seconds = i % 3 == 0 ? NAN : (double)(i % 7);
    q->media_gap_ratio = i % 5 == 4 ? NAN : 0.004 * i;
    push(o, i, &r);
    if (!o->no_per_leg)
        g_expected_points += count_finite(&q->mos_score, 11);
    labels(o, i, &r);
    r.kind = FSA_REC_LEG_DOWN;
    r.time_unix_us = t0 + 60000000ull;
    snprintf(r.hangup_cause, sizeof(r.hangup_cause), "%s", i % 2 ? "USER_BUSY" : "NORMAL_CLEARING");
    push(o, i, &r);
}

static void print_stats(FILE *f, const char *tag)
{
    struct fsa_exporter_stats s;
    fsa_exporter_stats_read(g_exp, &s);
    char buf[8192];
    fsa_exporter_stats_json(&s, buf, sizeof(buf));
    fprintf(f, "{\"%s\":%s}\n", tag, buf);
    fflush(f);
}

static void *sampler(void *arg)
{
    FILE *f = fopen((const char *)arg, "w");
    if (!f)
        return NULL;
    while (atomic_load(&g_sampling)) {
        print_stats(f, "sample");
        usleep(50000);
    }
    fclose(f);
    return NULL;
}

static unsigned long long exported(void)
{
    struct fsa_exporter_stats s;
    fsa_exporter_stats_read(g_exp, &s);
    return s.points_exported;
}

static void usage(void)
{
    fprintf(stderr, "usage: export_driver --endpoint HOST:PORT [options] (see the comment at the top)\n");
    exit(2);
}

static unsigned long long num(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    struct opts o = {
        .lanes = 2, .legs = 8, .reports = 3, .stop_deadline_ms = 5000, .wait_timeout_ms = 30000, .lane_slots = 4096};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT_S(name, field)                                                                                             \
    if (strcmp(a, name) == 0 && v) {                                                                                   \
        o.field = v;                                                                                                   \
        i++;                                                                                                           \
        continue;                                                                                                      \
    }
#define OPT_N(name, field)                                                                                             \
    if (strcmp(a, name) == 0 && v) {                                                                                   \
        o.field = (__typeof__(o.field))num(v);                                                                         \
        i++;                                                                                                           \
        continue;                                                                                                      \
    }
#define OPT_B(name, field)                                                                                             \
    if (strcmp(a, name) == 0) {                                                                                        \
        o.field = true;                                                                                                \
        continue;                                                                                                      \
    }
        OPT_S("--endpoint", endpoint)
        OPT_S("--ca", ca)
        OPT_S("--client-cert", cert)
        OPT_S("--client-key", key)
        OPT_S("--wait-file", wait_file)
        OPT_S("--stats-file", stats_file)
        OPT_S("--agent-id", agent_id)
        OPT_B("--tls", tls)
        OPT_B("--gzip", gzip)
        OPT_B("--delta", delta)
        OPT_B("--no-per-leg", no_per_leg)
        OPT_N("--batch-points", batch_points)
        OPT_N("--interval-ms", interval_ms)
        OPT_N("--timeout-ms", timeout_ms)
        OPT_N("--agg-interval-ms", agg_interval_ms)
        OPT_N("--retry-initial-ms", retry_initial_ms)
        OPT_N("--retry-max-ms", retry_max_ms)
        OPT_N("--reconnect-initial-ms", reconnect_initial_ms)
        OPT_N("--reconnect-max-ms", reconnect_max_ms)
        OPT_N("--max-streams", max_streams)
        OPT_N("--max-agg-keys", max_agg_keys)
        OPT_N("--lanes", lanes)
        OPT_N("--lane-slots", lane_slots)
        OPT_N("--legs", legs)
        OPT_N("--reports", reports)
        OPT_N("--phase2-legs", phase2_legs)
        OPT_N("--domains", domains)
        OPT_N("--stop-deadline-ms", stop_deadline_ms)
        OPT_N("--wait-timeout-ms", wait_timeout_ms)
        OPT_N("--queue-bytes", queue_bytes)
        OPT_N("--wait-exported", wait_exported)
        if (strcmp(a, "--header") == 0 && v && o.nheaders < FSA_MAX_OTLP_HEADERS) {
            o.headers[o.nheaders++] = argv[++i];
            continue;
        }
        usage();
    }
    if (!o.endpoint || o.lanes == 0)
        usage();
    fsa_log_setup(FSA_LOG_DEBUG, FSA_LOG_JSON, 2);

    struct fsa_config cfg;
    fsa_config_defaults(&cfg);
    struct fsa_instance_config inst[2];
    memset(inst, 0, sizeof(inst));
    snprintf(inst[0].name, sizeof(inst[0].name), "fs-a");
    snprintf(inst[1].name, sizeof(inst[1].name), "fs-b");
    cfg.instances = inst;
    cfg.ninstances = 2;
    cfg.metrics_per_leg = !o.no_per_leg;
    struct fsa_otel_config *ot = &cfg.otel;
    snprintf(ot->endpoint, sizeof(ot->endpoint), "%s", o.endpoint);
    ot->insecure = !o.tls;
    if (o.ca)
        snprintf(ot->ca_file, sizeof(ot->ca_file), "%s", o.ca);
    if (o.cert)
        snprintf(ot->client_cert, sizeof(ot->client_cert), "%s", o.cert);
    if (o.key)
        snprintf(ot->client_key, sizeof(ot->client_key), "%s", o.key);
    ot->gzip = o.gzip;
    ot->temporality = o.delta ? FSA_TEMPORALITY_DELTA : FSA_TEMPORALITY_CUMULATIVE;
    if (o.batch_points)
        ot->batch_max_points = o.batch_points;
    if (o.interval_ms)
        ot->batch_interval_ms = o.interval_ms;
    if (o.timeout_ms)
        ot->timeout_ms = o.timeout_ms;
    if (o.queue_bytes)
        ot->queue_max_bytes = (size_t)o.queue_bytes;
    if (o.agent_id)
        snprintf(ot->agent_id, sizeof(ot->agent_id), "%s", o.agent_id);
    for (unsigned h = 0; h < o.nheaders; h++) {
        char *eq = strchr(o.headers[h], '=');
        if (!eq)
            usage();
        snprintf(ot->headers[h].name, sizeof(ot->headers[h].name), "%.*s", (int)(eq - o.headers[h]), o.headers[h]);
        snprintf(ot->headers[h].value, sizeof(ot->headers[h].value), "%s", eq + 1);
    }
    ot->nheaders = o.nheaders;

    g_lanes = calloc(o.lanes, sizeof(*g_lanes));
    struct fsa_lane **inputs = calloc(o.lanes, sizeof(*inputs));
    for (unsigned l = 0; l < o.lanes; l++) {
        if (fsa_lane_init(&g_lanes[l], o.lane_slots, sizeof(struct fsa_metric_record)) != 0)
            return 1;
        inputs[l] = &g_lanes[l];
    }
    struct fsa_exporter_params p = {
        .cfg = &cfg,
        .inputs = inputs,
        .ninputs = o.lanes,
        .aggregate_interval_ms = o.agg_interval_ms,
        .max_aggregate_keys = o.max_agg_keys,
        .max_streams = o.max_streams,
        .retry_initial_ms = o.retry_initial_ms,
        .retry_max_ms = o.retry_max_ms,
        .reconnect_initial_ms = o.reconnect_initial_ms,
        .reconnect_max_ms = o.reconnect_max_ms,
    };
    const char *why;
    int rc = fsa_exporter_create(&p, &g_exp, &why);
    if (rc) {
        fprintf(stderr, "export_driver: %s\n", why);
        printf("{\"create_error\":\"%s\"}\n", why);
        return 3;
    }
    pthread_t smp;
    bool sampling = o.stats_file != NULL;
    if (sampling) {
        atomic_store(&g_sampling, true);
        pthread_create(&smp, NULL, sampler, (void *)o.stats_file);
    }
    if (fsa_exporter_start(g_exp) != 0)
        return 1;

    uint64_t t_start = mono_ms();
    for (unsigned i = 0; i < o.legs; i++)
        push_leg(&o, i);
    fsa_exporter_doorbell(g_exp);
    uint64_t t_pushed = mono_ms();
    if (o.wait_file) {
        struct stat st;
        uint64_t end = mono_ms() + o.wait_timeout_ms;
        while (stat(o.wait_file, &st) != 0 && mono_ms() < end)
            usleep(20000);
        for (unsigned i = o.legs; i < o.legs + o.phase2_legs; i++)
            push_leg(&o, i);
        fsa_exporter_doorbell(g_exp);
    }
    if (o.wait_exported) {
        uint64_t end = mono_ms() + o.wait_timeout_ms;
        while (exported() < o.wait_exported && mono_ms() < end)
            usleep(1000);
    }
    uint64_t t_exported = mono_ms();
    fsa_exporter_stop(g_exp, o.stop_deadline_ms);
    uint64_t t_stopped = mono_ms();
    if (sampling) {
        atomic_store(&g_sampling, false);
        pthread_join(smp, NULL);
    }
    printf("{\"pushed\":{\"rtcp\":%llu,\"qos\":%llu,\"leg_up\":%llu,\"leg_down\":%llu},\"expected_leg_points\":%llu,"
           "\"push_ms\":%llu,\"export_ms\":%llu,\"stop_ms\":%llu}\n",
           g_pushed[FSA_REC_RTCP], g_pushed[FSA_REC_QOS], g_pushed[FSA_REC_LEG_UP], g_pushed[FSA_REC_LEG_DOWN],
           g_expected_points, (unsigned long long)(t_pushed - t_start), (unsigned long long)(t_exported - t_start),
           (unsigned long long)(t_stopped - t_exported));
    print_stats(stdout, "final");
    fsa_exporter_destroy(g_exp);
    for (unsigned l = 0; l < o.lanes; l++)
        fsa_lane_destroy(&g_lanes[l]);
    free(g_lanes);
    free(inputs);
    return 0;
}
