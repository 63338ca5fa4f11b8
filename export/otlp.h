/*
 * otlp: turns metric records into OTLP ExportMetricsServiceRequest messages.
 *
 * The encoder holds one open batch: the per-leg data points of the records
 * added since the last seal, already protobuf-encoded in one buffer per
 * metric, plus the bounded aggregates (aggregate.h) fed by every record. A
 * snapshot of the aggregates appends their points to the open batch. Sealing
 * writes the request around the buffers as one framed gRPC message (5-byte
 * prefix, optionally gzip) and clears them for the next. The metric catalogue
 * below is the contract's (contract.md): names, units and descriptions are
 * public API.
 *
 * Single-threaded: the exporter thread owns an encoder.
 */
#ifndef FSA_EXPORT_OTLP_H
#define FSA_EXPORT_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "grpc.h"
#include "ring/fsa_metric.h"

enum fsa_otlp_metric {
    /* per leg, from RTCP records */
    FSA_M_RTCP_JITTER = 0,
    FSA_M_RTCP_PACKETS_LOST,
    FSA_M_RTCP_FRACTION_LOST,
    FSA_M_RTCP_RTT,
    FSA_M_RTCP_MOS,
    /* per leg, from QOS records */
    FSA_M_QOS_MOS_SCORE,
    FSA_M_QOS_JITTER_AVG,
    FSA_M_QOS_JITTER_MIN,
    FSA_M_QOS_JITTER_MAX,
    FSA_M_QOS_TOTAL_PACKETS,
    FSA_M_QOS_PACKET_LOSS,
    FSA_M_QOS_TOTAL_BYTES,
    FSA_M_QOS_R_FACTOR,
    FSA_M_QOS_MOS_EMODEL,
    FSA_M_QOS_HOLD_SECONDS,
    FSA_M_QOS_MEDIA_GAP_RATIO,
    /* bounded aggregates, in enum fsa_agg_family order */
    FSA_M_CALLS_ACTIVE,
    FSA_M_LEGS_ENDED,
    FSA_M_LEG_MOS,
    FSA_M_LEG_JITTER,
    FSA_M_RTCP_LOSS_FRACTION,
    FSA_M_LEG_MEDIA_GAP,
    FSA_M_COUNT
};

#define FSA_M_FIRST_AGG FSA_M_CALLS_ACTIVE
#define FSA_OTLP_MAX_POINTS_PER_RECORD 11 /* a QOS record */

enum fsa_otlp_type { FSA_OTLP_GAUGE = 0, FSA_OTLP_SUM, FSA_OTLP_HISTOGRAM };

struct fsa_otlp_metric_def {
    const char *name;
    const char *unit;
    const char *description;
    uint8_t type;   /* enum fsa_otlp_type */
    uint8_t as_int; /* counts of packets, bytes and legs go as integers (as_int) */
};

extern const struct fsa_otlp_metric_def fsa_otlp_metric_defs[FSA_M_COUNT];

struct fsa_otlp_params {
    const char *const *instance_names; /* fs_instance for labels.instance; copied */
    unsigned ninstances;
    const char *service_version; /* NULL: FSA_VERSION */
    const char *instance_id;     /* service.instance.id (the agent id) */
    const char *host_name;       /* host.name */
    bool per_leg;                /* false: aggregates only (metrics.per_leg: false) */
    bool delta;                  /* sums and histograms as DELTA, else CUMULATIVE */
    unsigned batch_max_points;   /* seal at this many points (a record is never split) */
    size_t batch_max_bytes;      /* and at about this many encoded bytes (before gzip) */
    unsigned max_agg_keys;       /* per aggregate family; 0: default */
    uint64_t start_unix_ns;      /* start of every cumulative series */
};

struct fsa_otlp;

/* NULL on success, else a reason; *out is NULL on failure. */
const char *fsa_otlp_create(const struct fsa_otlp_params *p, struct fsa_otlp **out);
void fsa_otlp_destroy(struct fsa_otlp *o);

enum fsa_otlp_add_result {
    FSA_OTLP_ADDED = 0, /* taken (it may have added no point: LEG_UP, per_leg off, all NaN) */
    FSA_OTLP_FULL,      /* the open batch has no room for it: seal, then add it again */
    FSA_OTLP_INVALID,   /* unknown kind or instance: ignored */
    FSA_OTLP_NOMEM,     /* memory short: the record's per-leg points are lost (aggregates kept) */
};

/* Adds a record's per-leg points to the open batch and feeds the aggregates. */
enum fsa_otlp_add_result fsa_otlp_add(struct fsa_otlp *o, const struct fsa_metric_record *rec);

/* Points and estimated encoded bytes in the open batch. */
unsigned fsa_otlp_open_points(const struct fsa_otlp *o);
size_t fsa_otlp_open_bytes(const struct fsa_otlp *o);
/* The open batch reached batch_max_points or batch_max_bytes. */
bool fsa_otlp_open_full(const struct fsa_otlp *o);

/*
 * Aggregate snapshot stamped now_unix_ns: every calls.active series, and
 * the sums and histograms (all series when cumulative; those that changed
 * when delta, which then restart from zero). Call step until it returns
 * true, sealing the batch whenever it returns false (batch full).
 */
void fsa_otlp_snapshot_begin(struct fsa_otlp *o, uint64_t now_unix_ns);
bool fsa_otlp_snapshot_step(struct fsa_otlp *o);

/*
 * Packs the open batch into *out (malloc'd, *len bytes: the 5-byte gRPC
 * prefix and the message, gzip'd when z is given) and resets it. *points is
 * its number of data points. An empty batch gives *out = NULL, *points = 0.
 * NULL or a reason (the batch is lost then, and reset all the same).
 */
const char *fsa_otlp_seal(struct fsa_otlp *o, struct fsa_gzip *z, uint8_t **out, size_t *len, unsigned *points);

/* Aggregate counters (overflow, dropped, underflow, keys). */
const struct fsa_agg *fsa_otlp_aggregates(const struct fsa_otlp *o);
/* Bytes the batch buffers keep (stats; they are reused, not freed, across batches). */
size_t fsa_otlp_arena_bytes(const struct fsa_otlp *o);

#endif
