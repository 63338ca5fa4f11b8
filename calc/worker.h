/*
 * worker: a calculator worker owns one shard of all leg state.
 *
 * Shard rule: an event with Unique-ID u goes to worker fsa_shard_of(u, W)
 * (FNV-1a of the Unique-ID, mod W), so all events of one leg land on one
 * worker and its state needs no lock. A worker drains one lane per reactor,
 * runs each message through its calculators (calc.h), publishes metric
 * records on its output lane, and sleeps on its doorbell when all inputs are
 * empty. Leg expiry runs a bounded slice after every batch and when idle.
 *
 * Thread contract: fsa_worker_run() is the worker thread's body; every other
 * function but the *_read ones is for the thread that created the worker.
 * Counters are written only by the worker thread and read relaxed by anyone.
 */
#ifndef FSA_WORKER_H
#define FSA_WORKER_H

#include <stdatomic.h>
#include <stdint.h>

#include "calc/calc.h"
#include "calc/snapshot.h"
#include "calc/store.h"
#include "ring/fsa_metric.h"
#include "ring/fsa_msg.h"
#include "ring/fsa_ring.h"
#include "ring/fsa_str.h"

struct fsa_worker;

struct fsa_worker_params {
    unsigned index;    /* this worker's shard, of nworkers (fsa_shard_of) */
    unsigned nworkers;
    struct fsa_lane **inputs; /* one lane per reactor; the worker is their consumer */
    unsigned ninputs;
    unsigned ninstances; /* FreeSWITCH instances, for per-instance counters */
    /* Calculators; zero values take the defaults. */
    unsigned max_legs;  /* legs this worker holds at most; 0: FSA_CALC_DEFAULT_MAX_LEGS */
    unsigned leg_ttl_s; /* retire a leg silent this long; 0: FSA_CALC_DEFAULT_LEG_TTL_S */
    /*
     * Lane of struct fsa_metric_record slots to the exporter, the worker its
     * producer; NULL: records are counted and discarded. A full lane drops
     * the record (counted per kind); the worker never blocks on it.
     */
    struct fsa_lane *output;
    /*
     * Wakes the output's consumer after a batch that published (a callback:
     * the worker does not know how the exporter sleeps); may be NULL.
     */
    void (*output_wake)(void *arg);
    void *output_wake_arg;
    const struct fsa_store *store;    /* NULL: memory; owned by this worker's thread once running */
    /*
     * Resync (contract "Resume"): [reactor] lanes of struct fsa_label_request
     * this worker produces into, one per reactor (instance i is served by
     * reactor i mod nreactors); NULL: legs learnt mid-call are not asked about.
     */
    struct fsa_lane **requests;
    unsigned nreactors;
    unsigned label_wait_ms; /* a learnt leg's events wait this long for its labels (0: the default) */
    unsigned store_flush_ms, store_checkpoint_s; /* write-behind to a persistent store (calc.h; 0: defaults) */
    bool emodel_no_plc;               /* emodel.plc: false */
};

struct fsa_worker *fsa_worker_create(const struct fsa_worker_params *params);
void fsa_worker_destroy(struct fsa_worker *w);
struct fsa_doorbell *fsa_worker_doorbell(struct fsa_worker *w);

/* Thread body: runs until stop was requested and every input lane is empty. */
void fsa_worker_run(struct fsa_worker *w);
void fsa_worker_request_stop(struct fsa_worker *w);

/* Events of a kind from an instance that this worker processed (any thread). */
uint64_t fsa_worker_events_read(const struct fsa_worker *w, unsigned instance, enum fsa_event_kind kind);

/*
 * The calculators' counters (any thread): legs active / created / ended /
 * expired / refused, records emitted and dropped per kind, RTCP messages
 * processed, QoS generated, store operations (calc.h, struct fsa_calc_stats).
 */
void fsa_worker_stats_read(const struct fsa_worker *w, struct fsa_calc_stats *out);

/* The status page's view of this worker's shard (any thread: fsa_snapshot_merge). */
const struct fsa_snapshot *fsa_worker_snapshot(const struct fsa_worker *w);

#endif
