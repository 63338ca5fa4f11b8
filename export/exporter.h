/*
 * exporter: the OTLP/gRPC exporter thread (fsa-exporter).
 *
 * It is the single consumer of one lane per calculator worker (ring/: each
 * lane carries struct fsa_metric_record). It batches records into OTLP
 * requests (otlp.h) by size and by interval, keeps a bounded queue of
 * encoded requests, sends them over one HTTP/2 connection with several
 * concurrent streams (grpc_client.h), retries what may be retried with
 * jittered exponential backoff, and counts everything it could not deliver.
 * Workers never wait on it: they only push to their lane (a full lane is
 * counted on their side) and ring fsa_exporter_doorbell().
 *
 * Life cycle (all but the doorbell and the stats from the thread that owns
 * the exporter, the agent's main thread):
 *   fsa_exporter_create()   loads TLS files, resolves nothing yet
 *   fsa_exporter_start()    the thread, named fsa-exporter
 *   fsa_exporter_doorbell() any producer thread, after publishing
 *   fsa_exporter_stop()     after the producers stopped: drains the lanes,
 *                           seals the last batch and a final aggregate
 *                           snapshot, sends what is queued until the
 *                           deadline, counts the rest as dropped, returns
 *   fsa_exporter_destroy()
 * fsa_exporter_stats_read() is for any thread at any time (relaxed loads of
 * single-writer counters; the error text under a small lock).
 */
#ifndef FSA_EXPORT_EXPORTER_H
#define FSA_EXPORT_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/config.h"
#include "grpc.h"
#include "ring/fsa_metric.h"
#include "ring/fsa_ring.h"

struct fsa_exporter;

struct fsa_exporter_params {
    /* opentelemetry.* and metrics.per_leg; instance names too unless given below. Copied. */
    const struct fsa_config *cfg;
    /* fs_instance names indexed by fsa_metric_labels.instance; NULL: cfg->instances[i].name. Copied. */
    const char *const *instance_names;
    unsigned ninstances;
    /* One lane per worker; the exporter is their single consumer. The array is copied, the lanes are not. */
    struct fsa_lane **inputs;
    unsigned ninputs;

    /* Tunables; 0 takes the default in brackets. */
    unsigned aggregate_interval_ms; /* aggregate snapshot period [10000] */
    unsigned max_aggregate_keys;    /* per aggregate family [10000] */
    unsigned max_streams;           /* concurrent Export calls [8] */
    unsigned retry_initial_ms;      /* first retry delay [1000], doubling ... */
    unsigned retry_max_ms;          /* ... up to [30000] (then +-50 % jitter below it) */
    unsigned retry_max_elapsed_ms;  /* a batch is dropped once it has been retried this long [300000] */
    unsigned reconnect_initial_ms;  /* [500] doubling ... */
    unsigned reconnect_max_ms;      /* ... to [30000]; reset after a good connection */
    size_t batch_max_bytes;         /* encoded size cap of one request [min(3.5 MiB, queue_max_bytes / 4)] */
};

enum fsa_export_drop {
    FSA_DROP_QUEUE_FULL = 0, /* the queue was full: oldest waiting batch dropped */
    FSA_DROP_NON_RETRYABLE,  /* the server refused it with a code that must not be retried */
    FSA_DROP_RETRY_EXPIRED,  /* still failing after retry_max_elapsed_ms */
    FSA_DROP_SHUTDOWN,       /* still queued when the stop deadline came */
    FSA_DROP_ENCODE,         /* could not be encoded (memory short) */
    FSA_DROP_COUNT
};

/* Bounds (µs) of the latency histograms on /metrics: fine around the 2 ms objective, then coarse. */
#define FSA_EXPORT_AGE_BOUNDS 16
extern const uint64_t fsa_export_age_le_us[FSA_EXPORT_AGE_BOUNDS];

struct fsa_exporter_stats {
    uint64_t records[FSA_REC_KIND_COUNT]; /* records received, per kind */
    uint64_t records_invalid;             /* bad kind or instance index */
    uint64_t points_encoded;              /* data points put into batches */
    uint64_t points_exported;             /* accepted by the collector (minus partial-success rejections) */
    uint64_t points_dropped[FSA_DROP_COUNT];
    uint64_t points_rejected;   /* partial_success.rejected_data_points */
    uint64_t partial_successes; /* answers that carried a partial_success with rejections */
    uint64_t batches_encoded;
    uint64_t batches_sent; /* Export calls started (attempts) */
    uint64_t batches_ok;
    uint64_t batches_failed[FSA_GRPC_CODE_COUNT];  /* attempts that ended with this code (index 0 unused) */
    uint64_t batches_retried[FSA_GRPC_CODE_COUNT]; /* ... of which were queued again */
    uint64_t bytes_sent;                           /* message bytes of successful calls (after gzip) */
    uint64_t queue_bytes;                          /* now: encoded batches waiting or in flight */
    uint64_t queue_bytes_peak;
    uint64_t queue_batches;          /* now */
    uint64_t queue_max_bytes;        /* the bound */
    uint64_t aggregate_keys;         /* series held */
    uint64_t aggregate_overflow;     /* observations folded into "__overflow__" */
    uint64_t aggregate_dropped;      /* observations without room even after folding */
    uint64_t calls_active_underflow; /* LEG_DOWN without a counted leg */
    uint64_t connects;               /* connections that reached READY */
    uint64_t connect_failures;
    uint64_t last_success_unix_ns; /* 0: never */
    /*
     * Latency in µs, as percentiles of a log-linear histogram (ring/fsa_hist.h,
     * within +12.5 %). event_age: wall clock when an RTCP/QoS point was encoded
     * minus the event's own Event-Date-Timestamp (FreeSWITCH fired it -> it is
     * in an outgoing request; across hosts it includes their clock offset).
     * batch_wait: first point into a batch -> the batch sealed, i.e. the
     * deliberate batch interval, reported apart. pipeline_age: the reactor
     * framed the event -> its point encoded (fsagent's own share of
     * event_age, one host's monotonic clock).
     */
    uint64_t pipeline_age_p50_us, pipeline_age_p99_us, pipeline_age_max_us;
    /* The same two as cumulative counts at fsa_export_age_le_us, with the +Inf count and the sum in µs. */
    uint64_t event_age_le[FSA_EXPORT_AGE_BOUNDS], event_age_total, event_age_sum_us;
    uint64_t pipeline_age_le[FSA_EXPORT_AGE_BOUNDS], pipeline_age_total, pipeline_age_sum_us;
    uint64_t event_age_count, event_age_p50_us, event_age_p99_us, event_age_max_us;
    uint64_t batch_wait_p50_us, batch_wait_p99_us, batch_wait_max_us;
    int conn_state;                /* enum fsa_grpc_conn_state, or -1 backing off */
    char conn_state_name[16];      /* "ready", "backoff", ... */
    char last_error[160];          /* connection or export error, never a header value; "" if none */
};

/* 0, or -EINVAL / -ENOMEM with *why naming the problem (e.g. a CA file that does not load). */
int fsa_exporter_create(const struct fsa_exporter_params *p, struct fsa_exporter **out, const char **why);
/* 0 or -errno (pthread_create). */
int fsa_exporter_start(struct fsa_exporter *e);
/* Any producer thread: wakes the exporter if it sleeps; one fence and a load when it does not. */
void fsa_exporter_doorbell(struct fsa_exporter *e);
/* Flush within deadline_ms, join the thread. Safe to call once; a no-op if never started. */
void fsa_exporter_stop(struct fsa_exporter *e, unsigned deadline_ms);
void fsa_exporter_destroy(struct fsa_exporter *e);

void fsa_exporter_stats_read(const struct fsa_exporter *e, struct fsa_exporter_stats *out);

/* The stats as one JSON object (for the stats log line and tests); bytes written, cut to cap. */
size_t fsa_exporter_stats_json(const struct fsa_exporter_stats *s, char *out, size_t cap);

#endif
