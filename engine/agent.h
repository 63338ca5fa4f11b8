/*
 * agent: wires the pipeline together and owns its threads.
 *
 *   reactors (R threads) --lane[r][w]--> workers (W threads) --out[w]--> exporter
 *
 * Instance i is served by reactor i mod R. Reactor r is pinned to CPU r,
 * worker w to CPU (R + w) mod ncpu, when pinning is on. Shutdown order is the
 * one the contract asks for: stop reading (reactors close their sockets and
 * exit), then workers drain every lane and exit, then the exporter drains its
 * lanes and flushes within opentelemetry.timeout_ms.
 */
#ifndef FSA_AGENT_H
#define FSA_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "calc/calc.h"
#include "calc/store_redis.h"
#include "calc/snapshot.h"
#include "reactor.h"

struct fsa_exporter;

struct fsa_agent;

/* 0 or -errno, with *why naming the step that failed. */
int fsa_agent_start(const struct fsa_config *cfg, struct fsa_agent **out, const char **why);
/* Stops reading, drains, joins. Safe to call once. */
void fsa_agent_stop(struct fsa_agent *a);
void fsa_agent_destroy(struct fsa_agent *a);

/* A reactor thread failed to run (logged already): the process should exit 1. */
bool fsa_agent_failed(const struct fsa_agent *a);

/* Read side for the admin server and the stats log (any thread). */
const struct fsa_config *fsa_agent_config(const struct fsa_agent *a);
const struct fsa_exporter *fsa_agent_exporter(const struct fsa_agent *a);
/* The Redis stores' counters summed over workers; false (and zeros) with storage: memory. */
bool fsa_agent_store_stats(const struct fsa_agent *a, struct fsa_store_redis_stats *out);
/* The calculators' counters summed over workers (legs_active is the sum of the gauges). */
void fsa_agent_calc_stats(const struct fsa_agent *a, struct fsa_calc_stats *out);
/* The workers' status-page snapshots (MOS histogram, worst legs) merged (calc/snapshot.h). */
void fsa_agent_snapshot_read(const struct fsa_agent *a, struct fsa_snapshot_view *out);
const struct fsa_instance_stats *fsa_agent_instance_stats(const struct fsa_agent *a, unsigned instance);
/* Events of a kind from an instance processed by all workers. */
uint64_t fsa_agent_events_processed(const struct fsa_agent *a, unsigned instance, enum fsa_event_kind kind);
uint64_t fsa_agent_events_processed_total(const struct fsa_agent *a);
unsigned fsa_agent_lane_occupancy(const struct fsa_agent *a);

/* The summed calculator counters as one JSON object; bytes written. */
size_t fsa_agent_calc_stats_json(const struct fsa_agent *a, char *out, size_t cap);
/* One JSON object with every instance's counters, for the stats log line. */
size_t fsa_agent_stats_json(const struct fsa_agent *a, char *out, size_t cap);

#endif
