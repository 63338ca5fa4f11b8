/*
 * worker: drains its lanes into the calculators (calc.c holds the leg life
 * cycle and the metric derivations). The loop, the sharding and the
 * drain-on-stop: stop is only honoured once every lane is empty, so SIGTERM
 * loses nothing that a reactor had already published.
 *
 * Clocks: one CLOCK_MONOTONIC read per batch stamps the legs' last_seen (the
 * TTL clock) and one CLOCK_REALTIME read stamps TTL expiries; both are vDSO
 * reads, not syscalls, and not per event.
 */
#include "worker.h"
#include "ring/fsa_time.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_WAIT_MS 100 /* bounded sleep, so a stop request and expiries are seen promptly */
#define STORE_POLL_MS 1  /* ... while the store has answers to come */
#define STORE_FINAL_NS (5ull * 1000000000ull) /* the stop's write of every leg to the store, at most */
#define BATCH_PER_LANE 256
#define SWEEP_BUSY 32   /* leg records examined for expiry after each batch, at most */
#define SWEEP_IDLE 4096 /* ... and before a sleep */
/*
 * Leg records the expiry sweep and the status page's worst-legs walk
 * (snapshot.h) each examine after a batch: one per 4 events handled, at most
 * SWEEP_BUSY, so their cost per event stays a fraction of one record even
 * when batches are small. With 100k+ legs every record visited is a cache
 * miss, which is why this is rationed.
 */
#define SCAN_PER_EVENTS 4
/*
 * The big idle slices at most this often: under a steady trickle a worker
 * sleeps ~1000 times a second, and 2 x 4096 records before each sleep cost
 * more than the events (carrier profile, 400k legs). A full pass over 262144
 * legs still takes ~3 s when idle, nothing next to a 24 h TTL.
 */
#define IDLE_SLICE_GAP_NS (50ull * 1000 * 1000)

struct fsa_worker {
    struct fsa_doorbell bell;
    struct fsa_worker_params p;
    uint64_t last_idle_slice_ns;
    struct fsa_lane **inputs;
    struct fsa_lane **requests; /* [reactor] or NULL */
    struct fsa_calc *calc;
    atomic_bool stop;
    /* The status page's view of this shard (snapshot.h). */
    struct fsa_snapshot snap;
    _Alignas(FSA_CACHELINE) atomic_uint_fast64_t *events; /* [instance][kind] */
};

/* calc's way to ask for a learnt leg's labels: a request on the lane of the reactor serving its instance. */
static bool request_labels(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    struct fsa_worker *w = ctx;
    if (!w->requests || !w->p.nreactors || n == 0 || n >= FSA_UUID_MAX)
        return false;
    struct fsa_lane *lane = w->requests[instance % w->p.nreactors];
    struct fsa_label_request *q = fsa_lane_acquire_sp(lane);
    if (!q)
        return false;
    q->instance = instance;
    q->uuid_len = (uint8_t)n;
    memcpy(q->uuid, uuid, n);
    q->uuid[n] = '\0';
    fsa_lane_publish_sp(lane, q);
    return true;
}

struct fsa_worker *fsa_worker_create(const struct fsa_worker_params *params)
{
    struct fsa_worker *w = aligned_alloc(FSA_CACHELINE, sizeof(*w));
    if (!w)
        return NULL;
    *w = (struct fsa_worker){.p = *params};
    fsa_snapshot_init(&w->snap);
    fsa_doorbell_init(&w->bell);
    atomic_init(&w->stop, false);
    w->inputs = calloc(params->ninputs ? params->ninputs : 1, sizeof(*w->inputs));
    w->events = calloc((size_t)params->ninstances * FSA_EV_KIND_COUNT + 1, sizeof(*w->events));
    struct fsa_calc_params cp = {
        .max_legs = params->max_legs,
        .leg_ttl_s = params->leg_ttl_s,
        .ninstances = params->ninstances,
        .output = params->output,
        .store = params->store,
        .snapshot = &w->snap,
        .request_labels = params->requests ? request_labels : NULL,
        .request_ctx = w,
        .label_wait_ms = params->label_wait_ms,
        .store_flush_ms = params->store_flush_ms,
        .store_checkpoint_s = params->store_checkpoint_s,
        .shard_index = params->index,
        .shard_count = params->nworkers,
        .emodel_no_plc = params->emodel_no_plc,
    };
    if (params->requests) {
        w->requests = calloc(params->nreactors ? params->nreactors : 1, sizeof(*w->requests));
        if (!w->requests) {
            fsa_worker_destroy(w);
            return NULL;
        }
        for (unsigned r = 0; r < params->nreactors; r++)
            w->requests[r] = params->requests[r];
        w->p.requests = w->requests;
    }
    w->calc = fsa_calc_create(&cp);
    if (!w->inputs || !w->events || !w->calc) {
        fsa_worker_destroy(w);
        return NULL;
    }
    for (unsigned i = 0; i < params->ninputs; i++)
        w->inputs[i] = params->inputs[i];
    w->p.inputs = w->inputs;
    w->p.store = NULL; /* the calc took a copy; the caller's struct may be gone once this returns */
    return w;
}

void fsa_worker_destroy(struct fsa_worker *w)
{
    if (!w)
        return;
    fsa_calc_destroy(w->calc);
    free(w->inputs);
    free(w->requests);
    free(w->events);
    free(w);
}

struct fsa_doorbell *fsa_worker_doorbell(struct fsa_worker *w)
{
    return &w->bell;
}

void fsa_worker_request_stop(struct fsa_worker *w)
{
    atomic_store_explicit(&w->stop, true, memory_order_release);
    atomic_fetch_add_explicit(&w->bell.seq, 1, memory_order_release);
    fsa_doorbell_ring(&w->bell);
}

static void count_event(struct fsa_worker *w, const struct fsa_event_msg *m)
{
    if (m->kind == FSA_EV_NONE || m->kind >= FSA_EV_KIND_COUNT || m->instance >= w->p.ninstances)
        return;
    atomic_uint_fast64_t *c = &w->events[(size_t)m->instance * FSA_EV_KIND_COUNT + m->kind];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* Expires a bounded slice of legs, walks one for the status page, wakes the exporter if anything was published. */
static void after_batch(struct fsa_worker *w, uint64_t now_ns, unsigned sweep_budget, unsigned scan_budget)
{
    fsa_calc_sweep(w->calc, now_ns, fsa_clock_ns(CLOCK_REALTIME) / 1000, sweep_budget);
    if (scan_budget) /* a zero-budget call at a pass start would still begin the pass's rest */
        fsa_snapshot_scan(&w->snap, w->calc, now_ns, scan_budget);
    if (fsa_calc_take_published(w->calc) && w->p.output_wake)
        w->p.output_wake(w->p.output_wake_arg);
}

/* Drains up to a batch from every lane; returns how many messages it handled. */
static unsigned drain_once(struct fsa_worker *w)
{
    unsigned handled = 0;
    uint64_t now_ns = fsa_clock_ns(CLOCK_MONOTONIC);
    for (unsigned i = 0; i < w->p.ninputs; i++) {
        struct fsa_lane *lane = w->inputs[i];
        for (unsigned n = 0; n < BATCH_PER_LANE;) {
            /* Groups of FSA_CALC_BATCH, so the calculator can overlap their leg lookups. */
            struct fsa_event_msg *m[FSA_CALC_BATCH];
            unsigned got = 0;
            while (got < FSA_CALC_BATCH && (m[got] = fsa_lane_pop_sc(lane)) != NULL)
                count_event(w, m[got++]);
            if (!got)
                break;
            fsa_calc_process_batch(w->calc, (const struct fsa_event_msg *const *)m, got, now_ns);
            for (unsigned j = 0; j < got; j++)
                fsa_lane_release_sc(lane, m[j]);
            handled += got;
            n += got;
            if (got < FSA_CALC_BATCH)
                break;
        }
    }
    if (handled) {
        unsigned slice = handled / SCAN_PER_EVENTS < SWEEP_BUSY ? handled / SCAN_PER_EVENTS + 1 : SWEEP_BUSY;
        after_batch(w, now_ns, slice, slice);
        fsa_calc_store_tick(w->calc, now_ns);
    }
    return handled;
}

void fsa_worker_run(struct fsa_worker *w)
{
    for (;;) {
        if (drain_once(w))
            continue;
        if (atomic_load_explicit(&w->stop, memory_order_acquire)) {
            if (!drain_once(w))
                break;
            continue;
        }
        /* Idle: a larger expiry slice (rationed in time), the store's queue, then sleep. */
        uint64_t now_ns = fsa_clock_ns(CLOCK_MONOTONIC);
        unsigned slice = now_ns - w->last_idle_slice_ns >= IDLE_SLICE_GAP_NS ? SWEEP_IDLE : 0;
        if (slice)
            w->last_idle_slice_ns = now_ns;
        after_batch(w, now_ns, slice, slice);
        fsa_calc_store_tick(w->calc, now_ns);
        unsigned token = fsa_doorbell_prepare(&w->bell);
        if (drain_once(w)) {
            fsa_doorbell_cancel(&w->bell);
            continue;
        }
        /* Store answers arrive on a socket the doorbell does not watch: look again soon while some are due. */
        fsa_doorbell_wait(&w->bell, token, fsa_calc_store_busy(w->calc) ? STORE_POLL_MS : IDLE_WAIT_MS);
    }
    /* Nothing more will come: events still waiting for labels go now, without them. */
    fsa_calc_release_parked(w->calc, fsa_clock_ns(CLOCK_MONOTONIC));
    /* A clean stop writes every leg's state first, so the agent that carries on counts nothing twice. */
    fsa_calc_store_final(w->calc, fsa_clock_ns(CLOCK_MONOTONIC) + STORE_FINAL_NS);
    if (fsa_calc_take_published(w->calc) && w->p.output_wake)
        w->p.output_wake(w->p.output_wake_arg);
}

uint64_t fsa_worker_events_read(const struct fsa_worker *w, unsigned instance, enum fsa_event_kind kind)
{
    if (instance >= w->p.ninstances || kind >= FSA_EV_KIND_COUNT)
        return 0;
    return atomic_load_explicit(&w->events[(size_t)instance * FSA_EV_KIND_COUNT + kind], memory_order_relaxed);
}

void fsa_worker_stats_read(const struct fsa_worker *w, struct fsa_calc_stats *out)
{
    fsa_calc_stats_read(w->calc, out);
}

const struct fsa_snapshot *fsa_worker_snapshot(const struct fsa_worker *w)
{
    return &w->snap;
}
