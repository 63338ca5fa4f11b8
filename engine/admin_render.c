/*
 * admin_render: see admin_render.h.
 *
 * /metrics families (label fs_instance on the per-instance ones). Counters
 * are totals since start, summed over threads when the model is read:
 *   fsagent_build_info{version}                          gauge, always 1
 *   fsagent_fs_connections                               gauge 1 streaming / 0 not
 *   fsagent_fs_last_event_timestamp_seconds              gauge, 0 before the first event
 *   fsagent_fs_connects_total, fsagent_fs_reconnects_total
 *   fsagent_fs_faults_total{cause}                       one series per fault cause
 *   fsagent_bytes_received_total, fsagent_heartbeats_received_total
 *   fsagent_events_received_total                        every event frame read
 *   fsagent_events_dropped_total{cause}                  ring_full, decode_error
 *   fsagent_events_processed_total{event}                by the calculator workers
 *   fsagent_ring_occupancy                               gauge: events waiting in the lanes
 *   fsagent_rtcp_messages_processed_total, fsagent_qos_messages_generated_total
 *   fsagent_legs_active (gauge), fsagent_legs_created_total, _ended_total, _expired_total, _learnt_total
 *   fsagent_rtcp_loss_base_only_total                     a learnt leg's first report per direction
 *   fsagent_calc_events_dropped_total{cause}             leg_table_full, late_event, invalid_message
 *   fsagent_records_published_total{kind}, fsagent_records_dropped_total{kind}
 *   fsagent_storage_operations_total{operation}          load, save, delete
 *   fsagent_storage_hits_total, fsagent_storage_errors_total
 *   fsagent_export_*                                     connection, batches, points, queue
 *   fsagent_export_event_age_seconds, _pipeline_age_seconds  histograms: event fired / read -> in a request
 *                                                        (only when an exporter runs)
 */
#include "admin_render.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "export/grpc.h"
#include "export/grpc_client.h"

/* ---- output ------------------------------------------------------------------------------------------------ */

static void put(struct fsa_admin_out *o, const char *s, size_t n)
{
    if (o->overflow)
        return;
    if (n > o->cap - o->n) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void puts_(struct fsa_admin_out *o, const char *s)
{
    put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct fsa_admin_out *o, const char *fmt, ...)
{
    if (o->overflow)
        return;
    size_t room = o->cap - o->n;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->p + o->n, room, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= room) { /* vsnprintf needs room for its NUL too */
        o->overflow = true;
        return;
    }
    o->n += (size_t)k;
}

/* Appends s with each byte that needs it replaced; runs of plain bytes go in one copy. */
static void put_escaped(struct fsa_admin_out *o, const char *s, const char *(*esc)(unsigned char c, char tmp[8]))
{
    const char *run = s;
    char tmp[8];
    for (; *s; s++) {
        const char *e = esc((unsigned char)*s, tmp);
        if (!e)
            continue;
        put(o, run, (size_t)(s - run));
        puts_(o, e);
        run = s + 1;
    }
    put(o, run, (size_t)(s - run));
}

static const char *html_esc(unsigned char c, char tmp[8])
{
    (void)tmp;
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    default: return NULL;
    }
}

static const char *json_esc(unsigned char c, char tmp[8])
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default:
        if (c >= 0x20)
            return NULL;
        snprintf(tmp, 8, "\\u%04x", c);
        return tmp;
    }
}

static const char *prom_esc(unsigned char c, char tmp[8])
{
    (void)tmp;
    switch (c) {
    case '\\': return "\\\\";
    case '"': return "\\\"";
    case '\n': return "\\n";
    default: return NULL;
    }
}

void fsa_admin_put_html(struct fsa_admin_out *o, const char *s)
{
    put_escaped(o, s, html_esc);
}

void fsa_admin_put_json_string(struct fsa_admin_out *o, const char *s)
{
    puts_(o, "\"");
    put_escaped(o, s, json_esc);
    puts_(o, "\"");
}

void fsa_admin_put_prom_label(struct fsa_admin_out *o, const char *s)
{
    put_escaped(o, s, prom_esc);
}

/* before, s HTML-escaped, after: an element around a string from elsewhere. */
static void put_html_in(struct fsa_admin_out *o, const char *before, const char *s, const char *after)
{
    puts_(o, before);
    fsa_admin_put_html(o, s);
    puts_(o, after);
}

void fsa_admin_rfc3339(uint64_t unix_us, char out[32])
{
    out[0] = '\0';
    if (!unix_us)
        return;
    time_t t = (time_t)(unix_us / 1000000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return;
    char tmp[64]; /* the compiler cannot know tm's fields are small: give it room, the result is 24 bytes */
    int n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(unix_us % 1000000 / 1000));
    if (n > 0 && n < 32)
        memcpy(out, tmp, (size_t)n + 1);
}

/* ---- health and readiness ---------------------------------------------------------------------------------- */

static bool streaming(const struct fsa_admin_instance *in)
{
    return in->state == FSA_CONN_STREAMING;
}

unsigned fsa_admin_connected(const struct fsa_admin_model *m)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->ninstances; i++)
        n += streaming(&m->inst[i]);
    return n;
}

static bool healthy(const struct fsa_admin_model *m)
{
    return fsa_admin_connected(m) == m->ninstances;
}

int fsa_admin_render_health(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    putf(o, "{\"status\":\"%s\",\"connections\":{", healthy(m) ? "healthy" : "degraded");
    for (unsigned i = 0; i < m->ninstances; i++) {
        const struct fsa_admin_instance *in = &m->inst[i];
        if (i)
            puts_(o, ",");
        fsa_admin_put_json_string(o, in->name);
        putf(o, ":{\"connected\":%s", streaming(in) ? "true" : "false");
        char ts[32];
        fsa_admin_rfc3339(in->last_event_unix_us, ts);
        if (ts[0])
            putf(o, ",\"last_event\":\"%s\"", ts);
        if (in->last_fault != FSA_FAULT_NONE) {
            puts_(o, ",\"last_error\":");
            fsa_admin_put_json_string(o, fsa_fault_text((enum fsa_fault)in->last_fault));
        }
        puts_(o, "}");
    }
    puts_(o, "}}\n");
    return 200;
}

int fsa_admin_render_ready(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    unsigned up = fsa_admin_connected(m);
    putf(o, "{\"ready\":%s,\"connected\":%u,\"instances\":%u}\n", up ? "true" : "false", up, m->ninstances);
    return up ? 200 : 503;
}

/* ---- /metrics ---------------------------------------------------------------------------------------------- */

static void family(struct fsa_admin_out *o, const char *name, const char *type, const char *help)
{
    putf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family with one unlabelled sample. */
static void single(struct fsa_admin_out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    family(o, name, type, help);
    putf(o, "%s %" PRIu64 "\n", name, v);
}

/* `name{fs_instance="..."` : the caller closes the braces. */
static void open_instance_sample(struct fsa_admin_out *o, const char *name, const struct fsa_admin_instance *in)
{
    putf(o, "%s{fs_instance=\"", name);
    fsa_admin_put_prom_label(o, in->name);
    puts_(o, "\"");
}

/* A family with one sample per instance, the value a uint64_t field of struct fsa_admin_instance. */
static void per_instance(struct fsa_admin_out *o, const struct fsa_admin_model *m, const char *name, const char *type,
                         const char *help, size_t field)
{
    family(o, name, type, help);
    for (unsigned i = 0; i < m->ninstances; i++) {
        const struct fsa_admin_instance *in = &m->inst[i];
        uint64_t v;
        memcpy(&v, (const char *)in + field, sizeof(v));
        open_instance_sample(o, name, in);
        putf(o, "} %" PRIu64 "\n", v);
    }
}

/* A family with one sample per instance and value of one label; fields[k] holds the count of values[k]. */
static void per_instance_label(struct fsa_admin_out *o, const struct fsa_admin_model *m, const char *name,
                               const char *type, const char *help, const char *label, const char *const *values,
                               const size_t *fields, unsigned n)
{
    family(o, name, type, help);
    for (unsigned i = 0; i < m->ninstances; i++)
        for (unsigned k = 0; k < n; k++) {
            uint64_t v;
            memcpy(&v, (const char *)&m->inst[i] + fields[k], sizeof(v));
            open_instance_sample(o, name, &m->inst[i]);
            putf(o, ",%s=\"%s\"} %" PRIu64 "\n", label, values[k], v);
        }
}

/* A family with one sample per value of one label. */
static void per_label(struct fsa_admin_out *o, const char *name, const char *type, const char *help, const char *label,
                      const char *const *values, const uint64_t *counts, unsigned n)
{
    family(o, name, type, help);
    for (unsigned i = 0; i < n; i++)
        if (values[i])
            putf(o, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, values[i], counts[i]);
}

static const char *const drop_causes[FSA_DROP_COUNT] = {"queue_full", "non_retryable", "retry_expired", "shutdown",
                                                        "encode"};
_Static_assert(FSA_DROP_COUNT == 5, "a name per exporter drop cause");
static const char *const record_kinds[FSA_REC_KIND_COUNT] = {NULL, "rtcp", "qos", "leg_up", "leg_down"};
_Static_assert(FSA_REC_KIND_COUNT == 5, "a name per record kind");

#define FIELD(f) offsetof(struct fsa_admin_instance, f)

static void metrics_instances(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    family(o, "fsagent_fs_connections", "gauge", "FreeSWITCH Event Socket connection streaming events (1) or not (0).");
    for (unsigned i = 0; i < m->ninstances; i++) {
        open_instance_sample(o, "fsagent_fs_connections", &m->inst[i]);
        putf(o, "} %d\n", streaming(&m->inst[i]) ? 1 : 0);
    }
    family(o, "fsagent_fs_last_event_timestamp_seconds", "gauge",
           "Wall-clock time of the last event received from the instance (0: none yet).");
    for (unsigned i = 0; i < m->ninstances; i++) {
        uint64_t us = m->inst[i].last_event_unix_us;
        open_instance_sample(o, "fsagent_fs_last_event_timestamp_seconds", &m->inst[i]);
        putf(o, "} %" PRIu64 ".%06" PRIu64 "\n", us / 1000000, us % 1000000);
    }
    per_instance(o, m, "fsagent_fs_connects_total", "counter", "ESL sessions that reached event streaming.",
                 FIELD(connects));
    per_instance(o, m, "fsagent_fs_reconnects_total", "counter", "ESL connection attempts after the first.",
                 FIELD(reconnects));
    family(o, "fsagent_fs_faults_total", "counter", "ESL connection faults by cause (each ends a session or attempt).");
    for (unsigned i = 0; i < m->ninstances; i++)
        for (unsigned f = 1; f < FSA_FAULT_COUNT; f++) {
            open_instance_sample(o, "fsagent_fs_faults_total", &m->inst[i]);
            putf(o, ",cause=\"%s\"} %" PRIu64 "\n", fsa_fault_name((enum fsa_fault)f), m->inst[i].faults[f]);
        }
    per_instance(o, m, "fsagent_bytes_received_total", "counter", "Bytes read from the Event Socket.",
                 FIELD(bytes_received));
    per_instance(o, m, "fsagent_heartbeats_received_total", "counter", "HEARTBEAT events received.", FIELD(heartbeats));
    per_instance(o, m, "fsagent_events_received_total", "counter",
                 "Event frames received from the Event Socket (every kind, heartbeats included).",
                 FIELD(events_received));
    static const char *const drop_causes_in[] = {"ring_full", "decode_error"};
    static const size_t drop_fields[] = {FIELD(dropped_ring_full), FIELD(decode_errors)};
    per_instance_label(o, m, "fsagent_events_dropped_total", "counter",
                       "Events dropped before the calculators: ring_full (worker lane full), decode_error.", "cause",
                       drop_causes_in, drop_fields, 2);
    static const char *const commands[] = {"show_channels", "uuid_dump"};
    static const size_t command_fields[] = {FIELD(resync_lists), FIELD(resync_dumps)};
    per_instance_label(o, m, "fsagent_resync_api_calls_total", "counter",
                       "Resume: bgapi calls sent to FreeSWITCH, by command (show_channels, uuid_dump).", "command",
                       commands, command_fields, 2);
    static const char *const dump_results[] = {"ok", "failed", "unsent"};
    static const size_t dump_fields[] = {FIELD(resync_dumps_ok), FIELD(resync_dumps_failed),
                                         FIELD(resync_dumps_unsent)};
    per_instance_label(o, m, "fsagent_resync_dumps_total", "counter",
                       "Resume: uuid_dump answers by result: ok (the leg's labels), failed (-ERR: the channel ended), "
                       "unsent (asked for while the connection was down).",
                       "result", dump_results, dump_fields, 3);
    per_instance(o, m, "fsagent_resync_channels_listed_total", "counter",
                 "Resume: live channels FreeSWITCH listed (show channels) at the (re)connects.",
                 FIELD(resync_channels));
    family(o, "fsagent_events_processed_total", "counter",
           "Events processed by the calculator workers, by event name.");
    for (unsigned i = 0; i < m->ninstances; i++)
        for (unsigned k = 1; k < FSA_EV_KIND_COUNT; k++) {
            open_instance_sample(o, "fsagent_events_processed_total", &m->inst[i]);
            putf(o, ",event=\"%s\"} %" PRIu64 "\n", fsa_event_kind_name((enum fsa_event_kind)k),
                 m->inst[i].processed[k]);
        }
}

static void metrics_calc(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    const struct fsa_calc_stats *c = &m->calc;
    single(o, "fsagent_ring_occupancy", "gauge", "Events waiting in the reactor-to-worker lanes.", m->ring_occupancy);
    single(o, "fsagent_rtcp_messages_processed_total", "counter",
           "RECV_RTCP_MESSAGE and SEND_RTCP_MESSAGE events processed.", c->rtcp_processed);
    single(o, "fsagent_qos_messages_generated_total", "counter", "End-of-call QoS computed (legs with media).",
           c->qos_generated);
    single(o, "fsagent_legs_active", "gauge", "Call legs held by the calculators now.", c->legs_active);
    single(o, "fsagent_legs_created_total", "counter", "Call legs first seen.", c->legs_created);
    single(o, "fsagent_legs_ended_total", "counter", "Call legs retired at CHANNEL_HANGUP_COMPLETE.", c->legs_ended);
    single(o, "fsagent_legs_expired_total", "counter", "Call legs retired after the TTL without events.",
           c->legs_expired);
    single(o, "fsagent_legs_learnt_total", "counter",
           "Call legs first seen mid-call (no CHANNEL_CREATE: the agent started, restarted or reconnected while "
           "they were up).",
           c->legs_learnt);
    single(o, "fsagent_rtcp_loss_base_only_total", "counter",
           "RTCP report blocks of legs learnt mid-call that only set the packets_lost base (no packets_lost point).",
           c->rtcp_base_only);
    static const char *const label_results[] = {"requested", "received", "failed", "timeout", "unrequested"};
    uint64_t label_counts[] = {c->labels_requested, c->labels_received, c->labels_failed, c->labels_timeout,
                               c->labels_unrequested};
    per_label(o, "fsagent_resume_labels_total", "counter",
              "Resume: legs learnt mid-call whose labels were asked for (uuid_dump), and how the wait ended: "
              "received, failed, timeout (engine.resync_label_wait_ms); unrequested: could not be asked yet.",
              "result", label_results, label_counts, 5);
    single(o, "fsagent_resume_events_parked_total", "counter",
           "Resume: events that waited for their leg's labels before being handled.", c->events_parked);
    single(o, "fsagent_resume_park_full_total", "counter",
           "Resume: events handled without waiting for labels because the wait area was full.", c->park_full);
    single(o, "fsagent_legs_gone_total", "counter",
           "Legs retired (LEG_DOWN NOT_LISTED) because FreeSWITCH no longer listed them after a (re)connect: their "
           "hangup came while the agent was away.",
           c->legs_gone);
    static const char *const calc_causes[] = {"leg_table_full", "late_event", "invalid_message"};
    uint64_t calc_drops[] = {c->legs_refused, c->events_late, c->messages_invalid};
    per_label(o, "fsagent_calc_events_dropped_total", "counter",
              "Events the calculators dropped: leg_table_full, late_event (leg just ended), invalid_message.", "cause",
              calc_causes, calc_drops, 3);
    per_label(o, "fsagent_records_published_total", "counter", "Metric records handed to the exporter, by kind.",
              "kind", record_kinds, c->records, FSA_REC_KIND_COUNT);
    per_label(o, "fsagent_records_dropped_total", "counter",
              "Metric records dropped because the exporter's lane was full, by kind.", "kind", record_kinds,
              c->records_dropped, FSA_REC_KIND_COUNT);
    static const char *const ops[] = {"load", "save", "delete"};
    uint64_t op_counts[] = {c->store_loads, c->store_saves, c->store_deletes};
    per_label(o, "fsagent_storage_operations_total", "counter", "Leg state storage operations (0 with memory storage).",
              "operation", ops, op_counts, 3);
    single(o, "fsagent_storage_hits_total", "counter", "Storage loads that found a leg's state.", c->store_hits);
    single(o, "fsagent_storage_errors_total", "counter", "Storage operations that failed.", c->store_errors);
    single(o, "fsagent_storage_write_rounds_total", "counter",
           "Write-behind rounds (one per storage.redis.flush_interval_ms per worker).", c->store_rounds);
    single(o, "fsagent_storage_writes_deferred_total", "counter",
           "Rounds cut short because the store had no room: the rest waits for the next round.", c->store_deferred);
    single(o, "fsagent_storage_load_timeouts_total", "counter",
           "Legs whose events stopped waiting for their load after engine.resync_label_wait_ms.",
           c->store_loads_timeout);
    single(o, "fsagent_storage_loads_late_total", "counter",
           "Load answers that came after their leg stopped waiting (ignored).", c->store_loads_late);
    if (!m->has_store)
        return;
    /* Redis's own books: a pipelined save that fails after the call returned is only counted here. */
    const struct fsa_store_redis_stats *r = &m->store;
    family(o, "fsagent_storage_redis_operations_total", "counter",
           "Redis store operations by how they ended: ok, error (Redis error, connection lost, or refused while "
           "down), dropped (pipeline at its bound).");
    for (int op = 0; op < FSA_STORE_OP_COUNT; op++)
        for (int res = 0; res < FSA_STORE_RESULT_COUNT; res++)
            putf(o, "fsagent_storage_redis_operations_total{operation=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                 fsa_store_op_name((enum fsa_store_op)op), fsa_store_result_name((enum fsa_store_result)res),
                 r->ops[op][res]);
    single(o, "fsagent_storage_redis_up", "gauge", "Every worker's Redis connection is up (1) or not (0).",
           r->state == FSA_STORE_REDIS_UP);
    single(o, "fsagent_storage_redis_reconnects_total", "counter", "Redis connections re-established after an outage.",
           r->reconnects);
    single(o, "fsagent_storage_redis_connect_failures_total", "counter", "Redis connection attempts that failed.",
           r->connect_failures);
    single(o, "fsagent_storage_redis_pending", "gauge", "Redis commands queued or awaiting their reply.", r->pending);
    single(o, "fsagent_storage_redis_failovers_total", "counter",
           "Redis Sentinel named a new master (failovers followed, counted per worker connection).", r->failovers);
    single(o, "fsagent_storage_redis_sentinel_failures_total", "counter",
           "Redis connection attempts for which no Sentinel named the master.", r->sentinel_failures);
    single(o, "fsagent_storage_redis_unreadable_total", "counter",
           "Loads that found a leg they could not read (bad value, or a format version this agent does not know).",
           r->unreadable);
    single(o, "fsagent_storage_redis_previous_format_total", "counter",
           "Loads that found a leg in the previous format (written again in the current one).", r->load_hits_old);
    single(o, "fsagent_storage_redis_commands_total", "counter", "Redis commands sent.", r->commands);
    single(o, "fsagent_storage_redis_swept_total", "counter",
           "Legs deleted from Redis after a whole channel list: they ended while no agent watched their instance.",
           r->swept);
}

/* A histogram family in seconds from µs counts at fsa_export_age_le_us. */
static void histogram_us(struct fsa_admin_out *o, const char *name, const char *help, const uint64_t *le_counts,
                         uint64_t total, uint64_t sum_us)
{
    family(o, name, "histogram", help);
    for (unsigned j = 0; j < FSA_EXPORT_AGE_BOUNDS; j++) {
        uint64_t us = fsa_export_age_le_us[j];
        putf(o, "%s_bucket{le=\"%" PRIu64 ".%06" PRIu64 "\"} %" PRIu64 "\n", name, us / 1000000, us % 1000000,
             le_counts[j]);
    }
    putf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, total);
    putf(o, "%s_sum %" PRIu64 ".%06" PRIu64 "\n", name, sum_us / 1000000, sum_us % 1000000);
    putf(o, "%s_count %" PRIu64 "\n", name, total);
}

static void metrics_export(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    const struct fsa_exporter_stats *e = &m->exp;
    single(o, "fsagent_export_connected", "gauge", "OTLP/gRPC connection to the collector ready (1) or not (0).",
           e->conn_state == FSA_GRPC_CONN_READY);
    single(o, "fsagent_export_connects_total", "counter", "Connections to the collector that became ready.",
           e->connects);
    single(o, "fsagent_export_connect_failures_total", "counter", "Connection attempts to the collector that failed.",
           e->connect_failures);
    single(o, "fsagent_export_batches_encoded_total", "counter", "OTLP export requests built.", e->batches_encoded);
    single(o, "fsagent_export_batches_sent_total", "counter", "Export calls started (retries included).",
           e->batches_sent);
    single(o, "fsagent_export_batches_succeeded_total", "counter", "Export calls the collector accepted.",
           e->batches_ok);
    const char *codes[FSA_GRPC_CODE_COUNT] = {NULL};
    for (int k = 1; k < FSA_GRPC_CODE_COUNT; k++)
        codes[k] = fsa_grpc_code_name(k);
    per_label(o, "fsagent_export_batch_failures_total", "counter", "Export calls that failed, by gRPC status.", "code",
              codes, e->batches_failed, FSA_GRPC_CODE_COUNT);
    per_label(o, "fsagent_export_batch_retries_total", "counter",
              "Failed export calls queued again for a retry, by gRPC status.", "code", codes, e->batches_retried,
              FSA_GRPC_CODE_COUNT);
    single(o, "fsagent_export_points_encoded_total", "counter", "Data points put into export requests.",
           e->points_encoded);
    single(o, "fsagent_export_points_exported_total", "counter", "Data points the collector accepted.",
           e->points_exported);
    single(o, "fsagent_export_points_rejected_total", "counter",
           "Data points the collector rejected (partial success).", e->points_rejected);
    per_label(o, "fsagent_export_points_dropped_total", "counter", "Data points given up on, by cause.", "cause",
              drop_causes, e->points_dropped, FSA_DROP_COUNT);
    single(o, "fsagent_export_bytes_sent_total", "counter", "Request bytes of successful export calls.", e->bytes_sent);
    single(o, "fsagent_export_queue_batches", "gauge", "Export requests waiting or in flight.", e->queue_batches);
    single(o, "fsagent_export_queue_bytes", "gauge", "Bytes of export requests waiting or in flight.", e->queue_bytes);
    single(o, "fsagent_export_queue_max_bytes", "gauge", "Bound of the export queue in bytes.", e->queue_max_bytes);
    family(o, "fsagent_export_last_success_timestamp_seconds", "gauge",
           "Wall-clock time of the last accepted export call (0: never).");
    uint64_t ns = e->last_success_unix_ns;
    putf(o, "fsagent_export_last_success_timestamp_seconds %" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000,
         ns % 1000000000);
    histogram_us(o, "fsagent_export_event_age_seconds",
                 "RTCP and QoS events from their Event-Date-Timestamp to their point in an export request.",
                 e->event_age_le, e->event_age_total, e->event_age_sum_us);
    histogram_us(o, "fsagent_export_pipeline_age_seconds",
                 "RTCP and QoS events from the reactor reading them to their point in an export request.",
                 e->pipeline_age_le, e->pipeline_age_total, e->pipeline_age_sum_us);
}

int fsa_admin_render_metrics(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    family(o, "fsagent_build_info", "gauge", "fsagent version (always 1).");
    puts_(o, "fsagent_build_info{version=\"");
    fsa_admin_put_prom_label(o, m->version);
    puts_(o, "\"} 1\n");
    metrics_instances(m, o);
    metrics_calc(m, o);
    if (m->has_exporter)
        metrics_export(m, o);
    return 200;
}

/* ---- the status page --------------------------------------------------------------------------------------- */

static const char page_css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f3f4f6;color:#1f2933}"
    "header{background:#1f2a37;color:#fff;padding:12px 20px;display:flex;gap:14px;align-items:center;flex-wrap:wrap}"
    "header h1{font-size:19px;margin:0}header .muted{color:#b8c1cc}"
    "main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}"
    "section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:12px 16px;overflow-x:auto}"
    "section.wide{grid-column:1/-1}h2{font-size:15px;margin:0 0 10px}"
    "table{border-collapse:collapse;width:100%}th{font-weight:600;color:#52606d;font-size:12px}"
    "th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;white-space:nowrap}"
    ".num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#7b8794}"
    ".badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600}"
    ".ok{background:#d3f5dc;color:#0e6027}.warn{background:#fff1c2;color:#7c5a00}.bad{background:#fddede;color:#a01c1c}"
    ".kpis{display:flex;flex-wrap:wrap;gap:10px 28px}.kpi b{display:block;font-size:24px;font-weight:600}"
    "code{font:12px ui-monospace,monospace}svg text{font:10px system-ui,sans-serif;fill:#52606d}";

static void ago(struct fsa_admin_out *o, uint64_t now_us, uint64_t then_us)
{
    uint64_t s = now_us > then_us ? (now_us - then_us) / 1000000 : 0;
    if (s < 120)
        putf(o, "%" PRIu64 " s ago", s);
    else if (s < 7200)
        putf(o, "%" PRIu64 " min ago", s / 60);
    else
        putf(o, "%" PRIu64 " h ago", s / 3600);
}

/* A time cell: RFC 3339 and how long ago, or `none`. */
static void when(struct fsa_admin_out *o, uint64_t now_us, uint64_t then_us, const char *none)
{
    char ts[32];
    fsa_admin_rfc3339(then_us, ts);
    if (!ts[0]) {
        putf(o, "<span class=\"muted\">%s</span>", none);
        return;
    }
    putf(o, "<time datetime=\"%s\">%s</time> <span class=\"muted\">(", ts, ts);
    ago(o, now_us, then_us);
    puts_(o, ")</span>");
}

static void bytes_human(struct fsa_admin_out *o, uint64_t b)
{
    if (b < 1024)
        putf(o, "%" PRIu64 " B", b);
    else if (b < 1024 * 1024)
        putf(o, "%.1f KiB", (double)b / 1024.0);
    else
        putf(o, "%.1f MiB", (double)b / (1024.0 * 1024.0));
}

static void state_badge(struct fsa_admin_out *o, int state)
{
    const char *cls =
        state == FSA_CONN_STREAMING                                                                         ? "ok"
        : state == FSA_CONN_CONNECTING || state == FSA_CONN_AUTHENTICATING || state == FSA_CONN_SUBSCRIBING ? "warn"
                                                                                                            : "bad";
    const char *text = state == FSA_CONN_STREAMING ? "connected" : cls[0] == 'w' ? "connecting" : "down";
    putf(o, "<span class=\"badge %s\" title=\"%s\">%s</span>", cls, fsa_conn_state_name((enum fsa_conn_state)state),
         text);
}

static void page_instances(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    puts_(o, "<section class=\"wide\" id=\"instances\"><h2>FreeSWITCH instances</h2><table><thead><tr>"
             "<th>Instance</th><th>State</th><th>Last event</th><th class=\"num\">Reconnects</th>"
             "<th class=\"num\">Events received</th><th class=\"num\">Dropped</th><th>Last error</th>"
             "</tr></thead><tbody>");
    for (unsigned i = 0; i < m->ninstances; i++) {
        const struct fsa_admin_instance *in = &m->inst[i];
        put_html_in(o, "<tr class=\"instance\" data-instance=\"", in->name, "\">");
        put_html_in(o, "<td><b>", in->name, "</b></td><td>");
        state_badge(o, in->state);
        puts_(o, "</td><td>");
        when(o, m->now_unix_us, in->last_event_unix_us, "none yet");
        putf(o,
             "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%" PRIu64
             "</td><td>",
             in->reconnects, in->events_received, in->dropped_ring_full + in->decode_errors);
        if (in->last_fault != FSA_FAULT_NONE)
            fsa_admin_put_html(o, fsa_fault_text((enum fsa_fault)in->last_fault));
        else
            puts_(o, "<span class=\"muted\">none</span>");
        puts_(o, "</td></tr>");
    }
    puts_(o, "</tbody></table></section>");
}

static void kpi(struct fsa_admin_out *o, const char *id, const char *label, uint64_t v)
{
    putf(o, "<div class=\"kpi\" id=\"%s\"><b>%" PRIu64 "</b><span class=\"muted\">%s</span></div>", id, v, label);
}

static void page_calls(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    puts_(o, "<section id=\"calls\"><h2>Calls</h2><div class=\"kpis\">");
    kpi(o, "legs-active", "active legs", m->calc.legs_active);
    kpi(o, "legs-ended", "legs ended", m->calc.legs_ended);
    kpi(o, "qos-records", "end-of-call QoS", m->calc.qos_generated);
    kpi(o, "rtcp-reports", "RTCP reports", m->calc.rtcp_processed);
    kpi(o, "legs-expired", "legs expired (TTL)", m->calc.legs_expired);
    kpi(o, "ring-occupancy", "events queued", m->ring_occupancy);
    puts_(o, "</div></section>");
}

static const char *mos_color(double lo)
{
    if (lo < 2.5)
        return "#d64545";
    if (lo < 3.5)
        return "#e8a33d";
    if (lo < 4.0)
        return "#b9c23a";
    return "#3fa45b";
}

/* The MOS histogram as an inline SVG bar chart; every bar carries its bucket and count as data attributes. */
static void page_mos(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    enum { W = 460, H = 190, X0 = 40, SLOT = 29, BAR = 23, BASE = 150, PLOT = 130 };
    uint64_t max = 0, total = 0;
    for (unsigned i = 0; i < FSA_SNAP_MOS_BUCKETS; i++) {
        total += m->snap.mos_hist[i];
        if (m->snap.mos_hist[i] > max)
            max = m->snap.mos_hist[i];
    }
    puts_(o, "<section id=\"mos\"><h2>MOS distribution of ended legs</h2>");
    putf(o,
         "<svg id=\"mos-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
         "role=\"img\" aria-label=\"MOS histogram of %" PRIu64 " ended legs\">",
         W, H, W, H, total);
    putf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#9aa5b1\"/>", X0, BASE,
         X0 + SLOT * FSA_SNAP_MOS_BUCKETS, BASE);
    putf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%" PRIu64 "</text>", X0 - 6, BASE - PLOT + 4, max);
    putf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>", X0 - 6, BASE + 3);
    for (unsigned i = 0; i < FSA_SNAP_MOS_BUCKETS; i++) {
        uint64_t n = m->snap.mos_hist[i];
        double lo = FSA_SNAP_MOS_MIN + FSA_SNAP_MOS_STEP * i, hi = lo + FSA_SNAP_MOS_STEP;
        /* A non-empty bucket is at least 2 px tall, so a single leg still shows. */
        unsigned h = max ? (unsigned)((n * PLOT + max / 2) / max) : 0;
        if (n && h < 2)
            h = 2;
        int x = X0 + SLOT * (int)i + (SLOT - BAR) / 2;
        putf(o,
             "<rect class=\"bar\" data-lo=\"%.2f\" data-hi=\"%.2f\" data-count=\"%" PRIu64 "\" x=\"%d\" y=\"%u\" "
             "width=\"%d\" height=\"%u\" fill=\"%s\"><title>MOS %.2f to %.2f: %" PRIu64 " legs</title></rect>",
             lo, hi, n, x, BASE - h, BAR, h, mos_color(lo), lo, hi, n);
        if (n)
            putf(o, "<text x=\"%d\" y=\"%u\" text-anchor=\"middle\">%" PRIu64 "</text>", x + BAR / 2, BASE - h - 3, n);
    }
    for (unsigned i = 0; i <= FSA_SNAP_MOS_BUCKETS; i += 2)
        putf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.1f</text>", X0 + SLOT * (int)i, BASE + 14,
             FSA_SNAP_MOS_MIN + FSA_SNAP_MOS_STEP * i);
    putf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">MOS (E-model)</text>", X0 + SLOT * FSA_SNAP_MOS_BUCKETS / 2,
         BASE + 32);
    puts_(o, "</svg>");
    putf(o, "<p class=\"muted\" id=\"mos-total\">%" PRIu64 " legs ended with media since start", total);
    if (m->snap.qos_without_mos)
        putf(o, " (%" PRIu64 " more without a MOS)", m->snap.qos_without_mos);
    puts_(o, ".</p></section>");
}

static const char *mos_class(double mos)
{
    return mos < 3.1 ? "bad" : mos < 3.6 ? "warn" : "ok";
}

static void page_worst(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    const struct fsa_snap_worst *w = &m->snap.worst;
    puts_(o, "<section class=\"wide\" id=\"worst\"><h2>Worst legs now</h2>");
    putf(o,
         "<p class=\"muted\">Live MOS: E-model from each leg's RTCP (mean jitter, last loss fraction and RTT). "
         "%u of %u live legs have RTCP reports.",
         w->ranked, w->live);
    if (m->snap.workers_missing)
        putf(o, " %u worker(s) busy publishing: their legs are missing from this refresh.", m->snap.workers_missing);
    puts_(o, "</p><table><thead><tr><th>MOS</th><th>Instance</th><th>Domain</th><th>Unique-ID</th><th>Call-ID</th>"
             "<th>Codec</th><th class=\"num\">Jitter ms</th><th class=\"num\">Loss %</th>"
             "<th class=\"num\">RTT ms</th><th class=\"num\">Reports</th></tr></thead><tbody>");
    for (unsigned i = 0; i < w->n && i < FSA_SNAP_WORST; i++) {
        const struct fsa_snap_leg *l = &w->leg[i];
        const char *inst = l->instance < m->ninstances ? m->inst[l->instance].name : "?";
        putf(o, "<tr class=\"worst-leg\"><td><span class=\"badge %s\">%.2f</span></td><td>", mos_class(l->mos), l->mos);
        fsa_admin_put_html(o, inst);
        put_html_in(o, "</td><td>", l->domain, "</td>");
        put_html_in(o, "<td><code>", l->uuid, "</code></td>");
        put_html_in(o, "<td><code>", l->call_id, "</code></td>");
        put_html_in(o, "<td>", l->codec, "</td>");
        putf(o,
             "<td class=\"num\">%.1f</td><td class=\"num\">%.1f</td><td class=\"num\">%.0f</td>"
             "<td class=\"num\">%u</td></tr>",
             l->jitter_ms, l->loss_pct, l->rtt_ms, l->reports);
    }
    if (!w->n)
        puts_(o, "<tr><td colspan=\"10\" class=\"muted\">No live legs with RTCP reports right now.</td></tr>");
    puts_(o, "</tbody></table></section>");
}

/*
 * Badge of a media gap: the live measurements behind the contract put clean calls at 0.002-0.005 and
 * 40 ms of jitter at 0.017 (ok below 0.02); 0.05 and more is what drops, loss or silence look like.
 */
static const char *gap_class(double gap)
{
    return gap < 0.02 ? "ok" : gap < 0.05 ? "warn" : "bad";
}

/* A number cell, or a muted dash for NaN. */
static void num_cell(struct fsa_admin_out *o, const char *fmt, double v)
{
    if (isnan(v)) {
        puts_(o, "<td class=\"num muted\">-</td>");
        return;
    }
    puts_(o, "<td class=\"num\">");
    putf(o, fmt, v);
    puts_(o, "</td>");
}

static void page_gaps(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    const struct fsa_snap_gaps *w = &m->snap.gaps;
    puts_(o, "<section class=\"wide\" id=\"gaps\"><h2>Worst ended legs by media gap</h2>");
    putf(o,
         "<p class=\"muted\">Media gap: share of 20 ms ticks with no packet to play (skipped / (received + "
         "skipped)), of %" PRIu64 " legs that ended in the last 10-20 min. High with a good MOS: packets the far "
         "side never sent (its firewall or socket buffers), hold or silence suppression; see the hold time.</p>",
         w->legs);
    puts_(o, "<table><thead><tr><th>Gap %</th><th>Instance</th><th>Domain</th><th>Unique-ID</th><th>Call-ID</th>"
             "<th>Codec</th><th>Direction</th><th>Hangup cause</th><th class=\"num\">Hold s</th>"
             "<th class=\"num\">MOS (FreeSWITCH)</th><th class=\"num\">MOS (E-model)</th><th>Ended</th></tr></thead>"
             "<tbody>");
    static const char *const dirs[] = {"", "inbound", "outbound"};
    for (unsigned i = 0; i < w->n && i < FSA_SNAP_WORST; i++) {
        const struct fsa_snap_gap_leg *g = &w->leg[i];
        const char *inst = g->instance < m->ninstances ? m->inst[g->instance].name : "?";
        putf(o, "<tr class=\"gap-leg\"><td><span class=\"badge %s\">%.1f</span></td><td>", gap_class(g->gap),
             g->gap * 100.0);
        fsa_admin_put_html(o, inst);
        put_html_in(o, "</td><td>", g->domain, "</td>");
        put_html_in(o, "<td><code>", g->uuid, "</code></td>");
        put_html_in(o, "<td><code>", g->call_id, "</code></td>");
        put_html_in(o, "<td>", g->codec, "</td>");
        putf(o, "<td>%s</td>", g->direction <= FSA_DIR_OUTBOUND ? dirs[g->direction] : "");
        put_html_in(o, "<td>", g->cause, "</td>");
        num_cell(o, "%.0f", g->hold_s);
        num_cell(o, "%.2f", g->mos_score);
        num_cell(o, "%.2f", g->mos_emodel);
        puts_(o, "<td>");
        when(o, m->now_unix_us, g->ended_us, "?");
        puts_(o, "</td></tr>");
    }
    if (!w->n)
        puts_(o, "<tr><td colspan=\"12\" class=\"muted\">No legs with media ended recently.</td></tr>");
    puts_(o, "</tbody></table></section>");
}

static void page_export(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    puts_(o, "<section class=\"wide\" id=\"export\"><h2>Export (OTLP/gRPC)</h2>");
    if (!m->has_exporter) {
        puts_(o, "<p class=\"muted\">No exporter is running.</p></section>");
        return;
    }
    const struct fsa_exporter_stats *e = &m->exp;
    bool up = e->conn_state == FSA_GRPC_CONN_READY;
    put_html_in(o, "<table><tbody><tr><th>Collector</th><td><code>", m->export_endpoint ? m->export_endpoint : "",
                "</code></td></tr>");
    putf(o, "<tr><th>Connection</th><td><span class=\"badge %s\" id=\"export-state\">%s</span> ", up ? "ok" : "bad",
         up ? "connected" : "not connected");
    put_html_in(o, "<span class=\"muted\">", e->conn_state_name, "</span></td></tr>");
    puts_(o, "<tr><th>Last success</th><td>");
    when(o, m->now_unix_us, e->last_success_unix_ns / 1000, "never");
    putf(o, "</td></tr><tr><th>Queue</th><td>%" PRIu64 " batches, ", e->queue_batches);
    bytes_human(o, e->queue_bytes);
    puts_(o, " of ");
    bytes_human(o, e->queue_max_bytes);
    uint64_t dropped = 0, failed = 0, retried = 0;
    for (int d = 0; d < FSA_DROP_COUNT; d++)
        dropped += e->points_dropped[d];
    for (int k = 0; k < FSA_GRPC_CODE_COUNT; k++) {
        failed += e->batches_failed[k];
        retried += e->batches_retried[k];
    }
    putf(o, "</td></tr><tr><th>Points exported</th><td class=\"num\">%" PRIu64 "</td></tr>", e->points_exported);
    putf(o, "<tr><th>Points dropped</th><td class=\"num\">%" PRIu64, dropped);
    for (int d = 0; d < FSA_DROP_COUNT; d++)
        if (e->points_dropped[d])
            putf(o, " <span class=\"muted\">%s %" PRIu64 "</span>", drop_causes[d], e->points_dropped[d]);
    putf(o,
         "</td></tr><tr><th>Batches ok / failed / retried</th><td class=\"num\">%" PRIu64 " / %" PRIu64 " / %" PRIu64
         "</td></tr>",
         e->batches_ok, failed, retried);
    puts_(o, "<tr><th>Last error</th><td>");
    if (e->last_error[0])
        fsa_admin_put_html(o, e->last_error);
    else
        puts_(o, "<span class=\"muted\">none</span>");
    puts_(o, "</td></tr></tbody></table></section>");
}

int fsa_admin_render_page(const struct fsa_admin_model *m, struct fsa_admin_out *o)
{
    bool ok = healthy(m);
    char now[32];
    fsa_admin_rfc3339(m->now_unix_us, now);
    putf(o,
         "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta http-equiv=\"refresh\" content=\"%u\">"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
         "<title>fsagent: %s</title><style>%s</style></head><body>",
         m->refresh_s, ok ? "healthy" : "degraded", page_css);
    put_html_in(o, "<header><h1>fsagent</h1><span class=\"muted\">", m->version, "</span>");
    putf(o,
         "<span class=\"badge %s\" id=\"status\">%s</span><span class=\"muted\">%u of %u instances "
         "connected</span><span class=\"muted\">updated %s, refreshes every %u s</span></header><main>",
         ok ? "ok" : "warn", ok ? "healthy" : "degraded", fsa_admin_connected(m), m->ninstances, now, m->refresh_s);
    page_instances(m, o);
    page_calls(m, o);
    page_mos(m, o);
    page_worst(m, o);
    page_gaps(m, o);
    page_export(m, o);
    puts_(o, "</main></body></html>\n");
    return 200;
}
