/*
 * calc: the calculators of one worker, without the thread around them.
 *
 * A worker (worker.c) pops fsa_event_msg from its lanes and hands each to
 * fsa_calc_process(); the calculators keep the shard's leg state (legs.h),
 * turn RTCP reports and end-of-call statistics into fsa_metric_record
 * (ring/fsa_metric.h) and publish them on the output lane. Tests drive
 * fsa_calc_process() directly, synchronously, with a callback sink.
 *
 * The leg life cycle, the metric derivations and every decision the
 * contract left open are written at the top of calc.c.
 *
 * Thread contract: fsa_calc_create/destroy by the worker's creator,
 * fsa_calc_process/sweep/flush/take_published only from the worker thread
 * (the single writer of all calc state and counters); fsa_calc_stats_read
 * from any thread (relaxed loads of single-writer counters).
 */
#ifndef FSA_CALC_H
#define FSA_CALC_H

#include <stdatomic.h>
#include <stdint.h>

#include "legs.h"
#include "ring/fsa_metric.h"
#include "ring/fsa_msg.h"
#include "ring/fsa_ring.h"
#include "ring/fsa_str.h"
#include "store.h"

#define FSA_CALC_DEFAULT_MAX_LEGS 262144u /* config default of max_legs_per_worker */
#define FSA_CALC_DEFAULT_LEG_TTL_S 86400u

/* Test sink: called with each record in order; the record is only valid during the call. */
typedef void (*fsa_calc_emit_fn)(void *ctx, const struct fsa_metric_record *rec);

struct fsa_calc_params {
    uint32_t max_legs;   /* legs held at most (1..2^28); 0: FSA_CALC_DEFAULT_MAX_LEGS */
    uint32_t leg_ttl_s;  /* retire legs silent this long; 0: FSA_CALC_DEFAULT_LEG_TTL_S */
    unsigned ninstances; /* > 0: a message with instance >= ninstances is refused as invalid */
    /*
     * Where records go: the output lane (this calc is its single producer),
     * else the emit callback, else nowhere (counted in records[] and
     * discarded). A full lane drops the record and counts it per kind.
     */
    struct fsa_lane *output;
    fsa_calc_emit_fn emit;
    void *emit_ctx;
    const struct fsa_store *store; /* NULL: memory (nothing persisted) */
    struct fsa_snapshot *snapshot; /* NULL: none; else every QoS goes into its MOS histogram (snapshot.h) */
    /*
     * Resume: asks for the labels of a leg learnt mid-call that neither its
     * events nor the store labelled (the worker turns it into a uuid_dump
     * request); false when it could not be asked now. NULL: never asks. The
     * answer comes as FSA_EV_CHANNEL_DATA or FSA_EV_LABELS_FAILED; meanwhile
     * the leg's events wait (parked, bounded) for label_wait_ms at most
     * (0: FSA_CALC_DEFAULT_LABEL_WAIT_MS), then go on without labels.
     */
    bool (*request_labels)(void *ctx, uint16_t instance, const char *uuid, size_t n);
    void *request_ctx;
    unsigned label_wait_ms;
    bool emodel_no_plc;            /* emodel.plc: false (Bpl without concealment); zero = the default, plc */
    /*
     * A persistent store is written behind: the labels and delta bases that
     * changed, once per store_flush_ms (0: FSA_CALC_DEFAULT_STORE_FLUSH_MS),
     * jitter accumulators at most every store_checkpoint_s (0: the default).
     */
    unsigned store_flush_ms;
    unsigned store_checkpoint_s;
    /*
     * This calculator's shard (fsa_shard_of) among shard_count: a sweep of
     * the store (after a whole channel list) judges only its own legs.
     * shard_count 0 or 1: every leg is this calculator's.
     */
    unsigned shard_index, shard_count;
};

/* The shard rule: an event with Unique-ID u goes to worker fsa_shard_of(u, W) (worker.h). */
static inline unsigned fsa_shard_of(const char *uuid, size_t len, unsigned nworkers)
{
    return (unsigned)(fsa_hash64(uuid, len) % nworkers);
}

#define FSA_CALC_DEFAULT_STORE_FLUSH_MS 1000
#define FSA_CALC_DEFAULT_STORE_CHECKPOINT_S 30

#define FSA_CALC_DEFAULT_LABEL_WAIT_MS 3000
#define FSA_CALC_PARK_SLOTS 4096 /* events waiting for their leg's labels, per calculator */

/* A snapshot of the counters (monotonic totals unless noted). */
struct fsa_calc_stats {
    uint64_t legs_active;                         /* gauge: legs in the table now */
    uint64_t legs_created;                        /* legs first seen (table or hangup-only) */
    uint64_t legs_ended;                          /* retired at CHANNEL_HANGUP_COMPLETE */
    uint64_t legs_expired;                        /* retired by TTL */
    uint64_t legs_refused;                        /* events that would have created a leg in a full table */
    uint64_t events_late;                         /* events for a leg that had just ended (dropped) */
    uint64_t messages_invalid;                    /* messages refused: bad kind, instance or Unique-ID */
    uint64_t rtcp_processed;                      /* RECV_/SEND_RTCP_MESSAGE handled */
    uint64_t legs_learnt;                         /* legs first seen mid-call (not by CHANNEL_CREATE) */
    uint64_t rtcp_base_only;                      /* report blocks that only set a learnt leg's Lost base */
    uint64_t labels_requested;                    /* learnt legs whose labels were asked for (uuid_dump) */
    uint64_t labels_received;                     /* ... and came while the leg's events waited */
    uint64_t labels_failed;                       /* ... and the dump failed (channel gone, connection down) */
    uint64_t labels_timeout;                      /* ... and did not come within label_wait_ms */
    uint64_t labels_unrequested;                  /* could not be asked (request lane full): asked again later */
    uint64_t events_parked;                       /* events that waited for their leg's labels */
    uint64_t park_full;                           /* events that could not wait (park full): sent unlabelled */
    uint64_t legs_gone;                           /* retired: no longer listed by FreeSWITCH after a (re)connect */
    uint64_t qos_generated;                       /* end-of-call QoS computed */
    uint64_t labels_full;                         /* labels left empty: label table full */
    uint64_t records[FSA_REC_KIND_COUNT];         /* published (or handed to the sink) per kind */
    uint64_t records_dropped[FSA_REC_KIND_COUNT]; /* output lane full, per kind */
    /*
     * Persistent store: loads asked, found (either format), leg writes and
     * deletes handed to the store, refusals (store down, bad answer), write
     * rounds, writes put off to the next round (no room), legs whose events
     * stopped waiting for their load after label_wait_ms, answers that came
     * after the leg stopped waiting.
     */
    uint64_t store_loads, store_hits, store_saves, store_deletes, store_errors;
    uint64_t store_rounds, store_deferred, store_loads_timeout, store_loads_late;
};

struct fsa_calc;
struct fsa_snapshot;

/* NULL when memory is short or a parameter is out of range. */
struct fsa_calc *fsa_calc_create(const struct fsa_calc_params *p);
void fsa_calc_destroy(struct fsa_calc *c);

/*
 * Handles one event message. now_ns is the TTL clock (monotonic; tests may
 * pass the event clock): it stamps the leg's last_seen_ns. The message is
 * not trusted: any byte pattern is handled without overreading.
 */
void fsa_calc_process(struct fsa_calc *c, const struct fsa_event_msg *m, uint64_t now_ns);
/* The same for up to FSA_CALC_BATCH messages in order, their leg lookups' cache misses overlapped. */
#define FSA_CALC_BATCH 16
void fsa_calc_process_batch(struct fsa_calc *c, const struct fsa_event_msg *const *m, unsigned n, uint64_t now_ns);

/*
 * Retires legs silent for leg_ttl_s or more (LEG_DOWN "TTL_EXPIRED", stamped
 * now_unix_us), looking at no more than `budget` leg records: call it often
 * with a small budget. Returns how many legs it retired.
 */
unsigned fsa_calc_sweep(struct fsa_calc *c, uint64_t now_ns, uint64_t now_unix_us, unsigned budget);

/* At stop: every event still waiting for labels goes through now, without them. */
void fsa_calc_release_parked(struct fsa_calc *c, uint64_t now_ns);

/*
 * The persistent store's clock, from the worker loop (often: it reads the
 * clock only through now_ns and does I/O only when due): hands the store the
 * loads that wait, reads its answers without waiting (a leg whose state came
 * back stops waiting) and, once per flush interval, writes what changed.
 * Nothing with a memory store.
 */
void fsa_calc_store_tick(struct fsa_calc *c, uint64_t now_ns);
/* true while the store has answers to come: the worker sleeps briefly instead of its idle wait. */
bool fsa_calc_store_busy(const struct fsa_calc *c);
/* At stop (after the last event): writes every change of every leg, jitter included, and waits for the store until deadline_ns. */
void fsa_calc_store_final(struct fsa_calc *c, uint64_t deadline_ns);

/* Records published on the output lane since the last call: > 0 means ring the consumer's doorbell. */
unsigned fsa_calc_take_published(struct fsa_calc *c);

/* Any thread. */
void fsa_calc_stats_read(const struct fsa_calc *c, struct fsa_calc_stats *out);

/* Worker thread: the leg table, read-only (the status page's worst-legs walk, snapshot.c). */
const struct fsa_leg_table *fsa_calc_legs(const struct fsa_calc *c);
/* Worker thread (tests): the live leg, or NULL. */
const struct fsa_leg *fsa_calc_leg(const struct fsa_calc *c, uint16_t instance, const char *uuid, size_t n);
/* Worker thread (tests): a label id's string. */
const char *fsa_calc_label(const struct fsa_calc *c, uint16_t id);
/* The concealment setting the E-model runs with (emodel.plc). */
bool fsa_calc_emodel_plc(const struct fsa_calc *c);
/* Worker thread (tests, fuzzing): label strings referenced now; 0 once every leg is gone. */
unsigned fsa_calc_labels_live(const struct fsa_calc *c);

#endif
