/*
 * admin_render: the admin server's responses, as text, from a model.
 *
 * The server (admin.c) copies what it shows into a struct fsa_admin_model
 * (relaxed loads of other threads' counters, a seqlock copy of the workers'
 * snapshots) and these functions turn the model into bytes. They touch
 * nothing else, so unit tests build a model by hand and compare exact text.
 *
 * Output goes into a caller's fixed buffer (struct fsa_admin_out); a render
 * that does not fit sets `overflow` and the server answers 500 instead of a
 * cut document. Every string that came from the network (Unique-ID,
 * Call-ID, domain, codec, the collector's error text) and every configured
 * name is escaped for where it lands: HTML text and attributes, JSON
 * strings, Prometheus label values.
 *
 * Endpoints (contract.md "Admin HTTP server"):
 *   /health   200 {"status":"healthy"|"degraded","connections":{NAME:{"connected":B,
 *             "last_event":"<RFC 3339>","last_error":"..."}}}; healthy = every
 *             instance streaming; last_event only once one came, last_error
 *             only while the last attempt failed
 *   /ready    200 when at least one instance streams, else 503, with
 *             {"ready":B,"connected":N,"instances":N}
 *   /metrics  Prometheus text format 0.0.4 (metric list in admin_render.c)
 *   /         the status page: HTML with inline CSS and SVG, no script, no
 *             external asset, refreshed by <meta http-equiv="refresh">
 */
#ifndef FSA_ADMIN_RENDER_H
#define FSA_ADMIN_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calc/calc.h"
#include "calc/store_redis.h"
#include "calc/snapshot.h"
#include "export/exporter.h"
#include "reactor.h"

struct fsa_admin_out {
    char *p;
    size_t n, cap;
    bool overflow; /* something did not fit: the document is not whole */
};

/* One FreeSWITCH instance as read at render time. */
struct fsa_admin_instance {
    const char *name;
    int state;      /* enum fsa_conn_state */
    int last_fault; /* enum fsa_fault; FSA_FAULT_NONE once a session is up */
    uint64_t last_event_unix_us;
    uint64_t connected_since_unix_us;
    uint64_t bytes_received, frames_received, events_received, heartbeats;
    uint64_t dropped_ring_full, decode_errors, connects, reconnects;
    uint64_t resync_lists, resync_channels, resync_dumps, resync_dumps_ok, resync_dumps_failed, resync_dumps_unsent;
    uint64_t faults[FSA_FAULT_COUNT];
    uint64_t processed[FSA_EV_KIND_COUNT]; /* summed over workers */
};

struct fsa_admin_model {
    const char *version;
    uint64_t now_unix_us;
    unsigned refresh_s; /* the page's meta refresh */
    unsigned ninstances;
    struct fsa_admin_instance *inst;
    unsigned ring_occupancy;    /* events waiting in reactor->worker lanes */
    struct fsa_calc_stats calc; /* summed over workers */
    bool has_store;             /* storage: redis; store holds its books summed over workers */
    struct fsa_store_redis_stats store;
    bool has_exporter;          /* false: exp is not shown */
    const char *export_endpoint;
    struct fsa_exporter_stats exp;
    struct fsa_snapshot_view snap; /* MOS histogram and worst legs, merged */
};

/* Instances streaming now. */
unsigned fsa_admin_connected(const struct fsa_admin_model *m);

/* Each returns the HTTP status to answer with (the body is in *o unless o->overflow). */
int fsa_admin_render_health(const struct fsa_admin_model *m, struct fsa_admin_out *o);
int fsa_admin_render_ready(const struct fsa_admin_model *m, struct fsa_admin_out *o);
int fsa_admin_render_metrics(const struct fsa_admin_model *m, struct fsa_admin_out *o);
int fsa_admin_render_page(const struct fsa_admin_model *m, struct fsa_admin_out *o);

/* Escaping appenders (exposed for the unit test). */
void fsa_admin_put_html(struct fsa_admin_out *o, const char *s);
void fsa_admin_put_json_string(struct fsa_admin_out *o, const char *s); /* with the quotes */
void fsa_admin_put_prom_label(struct fsa_admin_out *o, const char *s);  /* without the quotes */
/* "2026-11-26T02:10:00.123Z" into out[32]; "" for 0 (never). */
void fsa_admin_rfc3339(uint64_t unix_us, char out[32]);

#endif
