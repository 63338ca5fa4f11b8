/*
 * snapshot: what one calculator worker shows the admin status page.
 *
 * Three bounded things, all written by the worker thread only:
 *
 *   MOS histogram  the E-model MOS of every end-of-call QoS the worker computed since
 *                  start, in FSA_SNAP_MOS_BUCKETS fixed buckets 0.25 wide
 *                  from 1.0 to 4.5 (the last one includes 4.5). The value is
 *                  the record's mos_emodel, the one model the exporter's
 *                  freeswitch.leg.mos histogram uses; a QoS without one is
 *                  counted apart (qos_without_mos), never rated with
 *                  FreeSWITCH's MOS. One relaxed counter bump per QoS.
 *
 *   worst legs     the FSA_SNAP_WORST live legs with the lowest live MOS,
 *                  found by a walk over the leg table that the worker runs a
 *                  bounded slice of after each batch, beside its expiry sweep:
 *                  nothing is done per event. A finished pass is published
 *                  under a sequence lock, then the walk rests until
 *                  FSA_SNAP_PASS_MIN_NS after the pass started.
 *
 *   worst gaps     the FSA_SNAP_WORST legs with the highest media_gap_ratio
 *                  among those that ended in the last FSA_SNAP_GAP_WINDOW_NS
 *                  to twice that (two windows, the older dropped as a new one
 *                  starts): the gap is only known at hangup, so these are
 *                  ended legs, beside the live worst by MOS. Each hangup with
 *                  a gap is a sorted insertion into 10 entries; the list is
 *                  published (its own sequence lock) at the end of each pass.
 *
 * Live MOS of a leg (only legs with at least one RTCP report block are
 * ranked): the contract's E-model with the leg's codec, its last RTT > 0,
 * the mean of its RTCP jitter reports and its last report's loss fraction.
 * The leg record keeps no per-report jitter, and the mean is the steadier
 * "how is this call doing" figure for a page a person reads.
 *
 * Publication. The sequence lock's payload is an array of relaxed atomic
 * 64-bit words, so a reader on any thread copies it without a lock and
 * without a data race (ThreadSanitizer agrees); the sequence numbers give
 * the copy its consistency. The worker never waits for a reader.
 *
 * Thread contract: fsa_snapshot_init by the worker's creator;
 * fsa_snapshot_note_qos and fsa_snapshot_scan by the worker thread only;
 * fsa_snapshot_merge by any thread.
 */
#ifndef FSA_CALC_SNAPSHOT_H
#define FSA_CALC_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>

#include "calc/labels.h"
#include "calc/legs.h"
#include "ring/fsa_metric.h"
#include "ring/fsa_msg.h"
#include "ring/fsa_ring.h"

#define FSA_SNAP_MOS_BUCKETS 14 /* (4.5 - 1.0) / 0.25 */
#define FSA_SNAP_MOS_MIN 1.0
#define FSA_SNAP_MOS_STEP 0.25
#define FSA_SNAP_WORST 10
#define FSA_SNAP_PASS_MIN_NS 250000000ull /* a pass at most every 250 ms: the page refreshes in seconds */
/* Worst gaps: legs ended in the last 10-20 min (two windows of 10). */
#define FSA_SNAP_GAP_WINDOW_NS (600ull * 1000000000ull)

/* One ranked leg, strings NUL-terminated within their arrays. */
struct fsa_snap_leg {
    char uuid[FSA_UUID_MAX];
    char call_id[FSA_LEG_CALL_ID_MAX];
    char domain[FSA_LABEL_MAX];
    char codec[FSA_CODEC_MAX];
    uint16_t instance; /* index into the configured instance list */
    uint8_t direction; /* enum fsa_direction */
    uint8_t pad;
    uint32_t reports;    /* RTCP report blocks seen */
    double mos;          /* live MOS (above) */
    double jitter_ms;    /* mean of the RTCP jitter reports */
    double loss_pct;     /* last report's Fraction / 256 x 100 */
    double rtt_ms;       /* last RTT > 0; 0 = none yet */
    uint64_t created_us; /* Event-Date-Timestamp of the leg's first event */
};

/* One ended leg ranked by its media gap, strings NUL-terminated within their arrays. */
struct fsa_snap_gap_leg {
    char uuid[FSA_UUID_MAX];
    char call_id[FSA_LEG_CALL_ID_MAX];
    char domain[FSA_LABEL_MAX];
    char codec[FSA_CODEC_MAX];
    char cause[FSA_CAUSE_MAX]; /* Hangup-Cause */
    uint16_t instance;         /* index into the configured instance list */
    uint8_t direction;         /* enum fsa_direction: the leg's Call-Direction */
    uint8_t pad[5];
    double gap;        /* media_gap_ratio, 0..1 */
    double hold_s;     /* hold_seconds; NaN if FreeSWITCH did not say */
    double mos_score;  /* FreeSWITCH's MOS; NaN if absent */
    double mos_emodel; /* the E-model's for the whole leg */
    uint64_t ended_us; /* Event-Date-Timestamp of its hangup */
};

/* The worst legs of one pass (one worker), or merged (all workers), worst first. */
struct fsa_snap_worst {
    uint32_t n;      /* entries in leg[] */
    uint32_t ranked; /* live legs with RTCP that the pass(es) ranked */
    uint32_t live;   /* live legs the pass(es) saw */
    uint32_t pad;
    uint64_t passes; /* passes published (summed over workers when merged) */
    struct fsa_snap_leg leg[FSA_SNAP_WORST];
};

/* The ended legs with the highest media gap (one worker, or merged), highest first. */
struct fsa_snap_gaps {
    uint32_t n; /* entries in leg[] */
    uint32_t pad;
    uint64_t legs; /* legs with a gap that ended in the window(s) leg[] is taken from */
    struct fsa_snap_gap_leg leg[FSA_SNAP_WORST];
};

#define FSA_SNAP_WORDS ((sizeof(struct fsa_snap_worst) + 7) / 8)
#define FSA_SNAP_GAP_WORDS ((sizeof(struct fsa_snap_gaps) + 7) / 8)

struct fsa_snap_cand {
    uint32_t idx; /* pool index in the leg table */
    uint16_t instance;
    uint64_t created_us; /* with instance: still the same leg at publish time? */
    double mos;
};

struct fsa_snapshot {
    /* Read by anyone (relaxed), written by the worker. */
    atomic_uint_fast64_t mos_hist[FSA_SNAP_MOS_BUCKETS];
    atomic_uint_fast64_t qos_without_mos;    /* QoS with neither MOS (not in the histogram) */
    _Alignas(FSA_CACHELINE) atomic_uint seq; /* odd while the worker writes words[] */
    atomic_uint_fast64_t words[FSA_SNAP_WORDS];
    _Alignas(FSA_CACHELINE) atomic_uint gseq; /* the same for gwords[], the worst gaps */
    atomic_uint_fast64_t gwords[FSA_SNAP_GAP_WORDS];
    /* Worker thread only: the walk in progress. */
    _Alignas(FSA_CACHELINE) uint32_t cursor;
    uint32_t ncand;
    uint32_t ranked, live;
    uint64_t rest_until_ns;
    uint64_t passes;
    struct fsa_snap_cand cand[FSA_SNAP_WORST]; /* sorted by mos, worst first */
    /* Worst gaps: [0] the current window, [1] the one before; each highest gap first. */
    struct fsa_snap_gap_leg gap_win[2][FSA_SNAP_WORST];
    uint32_t gap_n[2];
    uint64_t gap_seen[2];      /* legs with a gap ended in each window */
    uint64_t gap_win_start_ns; /* monotonic start of window [0]; 0 = none yet */
    struct fsa_snap_worst out; /* staging for the publish */
    struct fsa_snap_gaps gout; /* the same for the gaps */
};

/* A view summed over workers: what the admin server renders. */
struct fsa_snapshot_view {
    uint64_t mos_hist[FSA_SNAP_MOS_BUCKETS];
    uint64_t qos_without_mos;
    unsigned workers;         /* snapshots merged */
    unsigned workers_missing; /* of which no consistent copy was had (the page says so) */
    struct fsa_snap_worst worst;
    struct fsa_snap_gaps gaps;
};

struct fsa_calc;

void fsa_snapshot_init(struct fsa_snapshot *s);

/* Worker thread: one end-of-call QoS into the histogram. */
void fsa_snapshot_note_qos(struct fsa_snapshot *s, const struct fsa_qos_record *q);
/*
 * Worker thread: an ended leg's media gap into the worst-gaps windows (a QoS
 * without a gap is ignored). cause is its Hangup-Cause, ended_us its hangup's
 * event time, now_ns monotonic (the windows' clock).
 */
void fsa_snapshot_note_gap(struct fsa_snapshot *s, const struct fsa_calc *c, const struct fsa_leg *l,
                           const struct fsa_qos_record *q, const char *cause, uint64_t ended_us, uint64_t now_ns);

/*
 * Worker thread: walks up to `budget` leg records of c's table for the worst
 * legs; publishes when a pass ends. now_ns is monotonic (the walk's rest).
 */
void fsa_snapshot_scan(struct fsa_snapshot *s, const struct fsa_calc *c, uint64_t now_ns, unsigned budget);

/* The histogram bucket of a MOS (clamped into range); -1 for NaN. */
int fsa_snapshot_mos_bucket(double mos);

/* Any thread. */
void fsa_snapshot_view_init(struct fsa_snapshot_view *v);
void fsa_snapshot_merge(struct fsa_snapshot_view *v, const struct fsa_snapshot *s);

#endif
