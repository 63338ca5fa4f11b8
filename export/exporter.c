/*
 * exporter: the fsa-exporter thread. See exporter.h for the contract.
 *
 * One loop, one thread, no locks on the data path:
 *
 *   drain lanes ──▶ encoder (otlp.c): per-leg points into the open batch,
 *      │            every record into the aggregates
 *      ├── open batch full (points or bytes) or batch_interval_ms passed ──▶ seal
 *      ├── aggregate_interval_ms passed ──▶ snapshot the aggregates, seal
 *      ▼
 *   queue of sealed batches (framed, maybe gzip'd), oldest first, bounded
 *   by queue_max_bytes (waiting + in flight) ──▶ dispatch: a waiting batch
 *   whose retry time has come starts an Export call when the connection has
 *   room ──▶ grpc_client.c ──▶ done: OK (count, free), retryable (back in
 *   the queue with a delay), anything else (dropped, counted)
 *   poll(eventfd doorbell + the connection's socket, timeout = the nearest
 *   timer: flush, snapshot, retry, reconnect, call deadline)
 *
 * Back-pressure: a batch that does not fit the queue drops the oldest
 * waiting batches until it fits. Calls in flight are not cancelled (the
 * collector may already have the data); they may hold at most half the
 * queue, so there is always a waiting batch to drop instead (only a batch
 * larger than that half could still find no room, and is then dropped
 * itself). Points dropped are counted per cause. The workers never see any of this: their lanes are
 * drained even while the collector is away, because the queue, not the
 * lanes, takes the backlog.
 *
 * Retries: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS,
 * CANCELLED, and RESOURCE_EXHAUSTED with RetryInfo (grpc.c). The delay is
 * the server's RetryInfo when given, else retry_initial_ms doubling per
 * attempt up to retry_max_ms, each drawn uniformly from [d/2, d] so many
 * agents do not retry in step. A batch still failing retry_max_elapsed_ms
 * after its first failure is dropped. A connection failure under a call
 * counts as that call failing UNAVAILABLE (and is retried). Partial success
 * is success: the rejected points are counted, never resent.
 *
 * Connection: lazy (made when a batch is waiting), reconnected after errors
 * with its own backoff (reconnect_initial_ms doubling to reconnect_max_ms,
 * jittered), reset after a connection that got an answer; a graceful GOAWAY
 * reconnects at once.
 *
 * Shutdown: stop() asks; the thread drains every lane, seals, takes a final
 * aggregate snapshot, then keeps sending until the queue is empty or the
 * deadline passes; whatever is left (in flight or waiting) is counted as
 * dropped at shutdown, the connection gets a GOAWAY, the thread exits.
 *
 * Counters are written only by this thread and read relaxed by anyone; the
 * last error text sits behind a mutex (written on errors only).
 */
#include "exporter.h"
#include "ring/fsa_hist.h"
#include "ring/fsa_time.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine/log.h"
#include "grpc_client.h"
#include "otlp.h"

#define DRAIN_BUDGET 4096 /* records per loop turn, so the socket is served under load */
#define STATE_BACKOFF 5
#define STATE_IDLE 6
#define LOG_EVERY_NS 10000000000ull /* repeated failures: one log line per 10 s */

struct batch {
    struct batch *prev, *next;
    uint8_t *msg;
    size_t len;
    unsigned points;
    unsigned attempts;
    uint64_t first_fail_ns; /* 0 until the first failure */
    uint64_t next_try_ns;
    bool in_flight;
};

typedef atomic_uint_fast64_t counter_t;

/* Written by the exporter thread only. */
struct counters {
    counter_t records[FSA_REC_KIND_COUNT];
    counter_t records_invalid;
    counter_t points_encoded, points_exported, points_rejected, partial_successes;
    counter_t points_dropped[FSA_DROP_COUNT];
    counter_t batches_encoded, batches_sent, batches_ok;
    counter_t batches_failed[FSA_GRPC_CODE_COUNT], batches_retried[FSA_GRPC_CODE_COUNT];
    counter_t bytes_sent;
    counter_t queue_bytes, queue_bytes_peak, queue_batches;
    counter_t agg_keys, agg_overflow, agg_dropped, agg_underflow;
    counter_t connects, connect_failures;
    counter_t last_success_unix_ns;
    atomic_int conn_state;
    /*
     * Event age when its point was encoded (wall clock now minus the event's
     * own timestamp, µs; RTCP and QoS): the pipeline's latency, since the
     * interval a point then waits in its open batch is measured apart.
     */
    struct fsa_hist event_age_us;
    struct fsa_hist batch_wait_us; /* first point into a batch -> batch sealed */
    struct fsa_hist pipeline_age_us; /* reactor framed the event -> its point encoded */
};

struct fsa_exporter {
    /* immutable after create */
    struct fsa_otel_config otel;
    struct fsa_lane **inputs;
    unsigned ninputs;
    unsigned agg_interval_ms, retry_initial_ms, retry_max_ms, retry_max_elapsed_ms;
    unsigned reconnect_initial_ms, reconnect_max_ms;
    struct fsa_otlp *enc;
    struct fsa_gzip *gz;
    struct fsa_grpc_client *client;
    int efd;

    /* owner thread */
    pthread_t thread;
    bool started, joined;

    /* shared */
    _Alignas(FSA_CACHELINE) atomic_uint sleeping;
    atomic_bool stop_req;
    atomic_uint stop_deadline_ms;

    /* exporter thread */
    _Alignas(FSA_CACHELINE) struct batch *head, *tail;
    size_t qbytes;         /* waiting + in flight, against queue_max_bytes */
    size_t inflight_bytes; /* in flight: at most half the queue (see dispatch) */
    unsigned qn;
    bool aborting; /* stop deadline: calls ending now are shutdown drops */
    uint64_t next_flush_ns, next_agg_ns, next_connect_ns;
    uint64_t open_since_ns; /* when the open batch got its first point */
    unsigned reconnect_ms;
    int prev_state;
    uint64_t rng;
    uint64_t last_conn_log_ns, last_export_log_ns;
    char last_conn_log[160];

    _Alignas(FSA_CACHELINE) struct counters c;
    pthread_mutex_t err_lock;
    char last_error[160];
};

#define BUMP(f, n)                                                                                                     \
    atomic_store_explicit(&(f), atomic_load_explicit(&(f), memory_order_relaxed) + (n), memory_order_relaxed)
#define SET(f, v) atomic_store_explicit(&(f), (v), memory_order_relaxed)
#define GET(f) atomic_load_explicit(&(f), memory_order_relaxed)

/* xorshift64*: jitter only, no need for more. */
static uint64_t rnd(struct fsa_exporter *e)
{
    e->rng ^= e->rng >> 12;
    e->rng ^= e->rng << 25;
    e->rng ^= e->rng >> 27;
    return e->rng * 2685821657736338717ULL;
}

/* Uniform in [d/2, d] ms, as ns. */
static uint64_t jittered_ns(struct fsa_exporter *e, uint64_t d_ms)
{
    uint64_t half = d_ms * 500000u;
    return half + (half ? rnd(e) % (half + 1) : 0);
}

static void set_last_error(struct fsa_exporter *e, const char *msg)
{
    size_t n = strnlen(msg, sizeof(e->last_error) - 1);
    pthread_mutex_lock(&e->err_lock);
    memcpy(e->last_error, msg, n);
    e->last_error[n] = '\0';
    pthread_mutex_unlock(&e->err_lock);
}

/* ---- queue ---- */

static void q_remove(struct fsa_exporter *e, struct batch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        e->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        e->tail = b->prev;
    e->qbytes -= b->len;
    e->qn--;
    SET(e->c.queue_bytes, e->qbytes);
    SET(e->c.queue_batches, e->qn);
    free(b->msg);
    free(b);
}

static void drop_batch(struct fsa_exporter *e, struct batch *b, enum fsa_export_drop why)
{
    BUMP(e->c.points_dropped[why], b->points);
    q_remove(e, b);
}

static void enqueue(struct fsa_exporter *e, uint8_t *msg, size_t len, unsigned points)
{
    size_t max = e->otel.queue_max_bytes;
    /* Oldest waiting batches make room first; calls in flight are left alone. */
    for (struct batch *b = e->head; b && e->qbytes + len > max;) {
        struct batch *next = b->next;
        if (!b->in_flight) {
            fsa_log_debug(NULL, "exporter: queue full: oldest waiting batch of %u points dropped", b->points);
            drop_batch(e, b, FSA_DROP_QUEUE_FULL);
        }
        b = next;
    }
    struct batch *nb = NULL;
    if (e->qbytes + len > max || !(nb = calloc(1, sizeof(*nb)))) {
        BUMP(e->c.points_dropped[FSA_DROP_QUEUE_FULL], points);
        fsa_log_debug(NULL, "exporter: queue full (%zu of %zu bytes in flight): new batch of %u points dropped",
                      e->qbytes, max, points);
        free(msg);
        return;
    }
    nb->msg = msg;
    nb->len = len;
    nb->points = points;
    nb->prev = e->tail;
    if (e->tail)
        e->tail->next = nb;
    else
        e->head = nb;
    e->tail = nb;
    e->qbytes += len;
    e->qn++;
    SET(e->c.queue_bytes, e->qbytes);
    SET(e->c.queue_batches, e->qn);
    if (e->qbytes > GET(e->c.queue_bytes_peak))
        SET(e->c.queue_bytes_peak, e->qbytes);
}

/* ---- encoding ---- */

static void seal_open(struct fsa_exporter *e)
{
    unsigned open = fsa_otlp_open_points(e->enc);
    uint8_t *msg;
    size_t len;
    unsigned points;
    const char *why = fsa_otlp_seal(e->enc, e->otel.gzip ? e->gz : NULL, &msg, &len, &points);
    if (why) {
        BUMP(e->c.points_dropped[FSA_DROP_ENCODE], open);
        fsa_log_error(NULL, "exporter: a batch of %u points could not be encoded: %s", open, why);
        return;
    }
    if (!msg)
        return;
    BUMP(e->c.batches_encoded, 1);
    BUMP(e->c.points_encoded, points);
    uint64_t now = fsa_mono_ns();
    if (e->open_since_ns && now >= e->open_since_ns)
        fsa_hist_add(&e->c.batch_wait_us, (now - e->open_since_ns) / 1000);
    e->open_since_ns = 0;
    enqueue(e, msg, len, points);
}

static void publish_agg_stats(struct fsa_exporter *e)
{
    const struct fsa_agg *a = fsa_otlp_aggregates(e->enc);
    SET(e->c.agg_keys, fsa_agg_keys(a));
    SET(e->c.agg_overflow, a->overflow);
    SET(e->c.agg_dropped, a->dropped);
    SET(e->c.agg_underflow, a->underflow);
}

static void snapshot(struct fsa_exporter *e)
{
    fsa_otlp_snapshot_begin(e->enc, fsa_wall_ns());
    while (!fsa_otlp_snapshot_step(e->enc))
        seal_open(e);
    seal_open(e);
    publish_agg_stats(e);
}

/*
 * The clocks for the latency histograms, read once per DRAIN_CLOCK_EVERY
 * records rather than twice per record (the reads were ~5 % of this thread):
 * a record may be stamped up to that many records' encoding early (a few µs).
 * The wall clock is the monotonic one plus an offset taken once per drain.
 */
#define DRAIN_CLOCK_EVERY 16
struct drain_clock {
    uint64_t mono_ns;
    int64_t wall_minus_mono_ns;
    unsigned uses;
};

static void handle_record(struct fsa_exporter *e, const struct fsa_metric_record *rec, struct drain_clock *clk)
{
    if (!e->open_since_ns)
        e->open_since_ns = fsa_mono_ns();
    if (rec->kind == FSA_REC_RTCP || rec->kind == FSA_REC_QOS) {
        if (clk->uses == 0)
            clk->wall_minus_mono_ns = (int64_t)fsa_wall_ns() - (int64_t)fsa_mono_ns();
        if (clk->uses++ % DRAIN_CLOCK_EVERY == 0)
            clk->mono_ns = fsa_mono_ns();
        /* A clock behind the event's (another host's skew) counts as 0, not as ~584 000 years. */
        uint64_t now_us = (uint64_t)((int64_t)clk->mono_ns + clk->wall_minus_mono_ns) / 1000;
        fsa_hist_add(&e->c.event_age_us, now_us > rec->time_unix_us ? now_us - rec->time_unix_us : 0);
        if (rec->ingest_ns && clk->mono_ns >= rec->ingest_ns)
            fsa_hist_add(&e->c.pipeline_age_us, (clk->mono_ns - rec->ingest_ns) / 1000);
    }
    for (;;) {
        enum fsa_otlp_add_result r = fsa_otlp_add(e->enc, rec);
        if (r == FSA_OTLP_FULL) {
            seal_open(e);
            continue;
        }
        if (r == FSA_OTLP_INVALID) {
            BUMP(e->c.records_invalid, 1);
            return;
        }
        if (r == FSA_OTLP_NOMEM)
            BUMP(e->c.points_dropped[FSA_DROP_ENCODE], 1);
        break;
    }
    BUMP(e->c.records[rec->kind], 1);
    if (fsa_otlp_open_full(e->enc))
        seal_open(e);
}

static unsigned drain(struct fsa_exporter *e, unsigned budget)
{
    unsigned n = 0;
    struct drain_clock clk = {0};
    for (unsigned i = 0; i < e->ninputs && n < budget; i++) {
        struct fsa_lane *lane = e->inputs[i];
        unsigned per_lane = 0;
        void *slot;
        /* Round-robin in slices, so one busy worker cannot starve the others. */
        while (n < budget && per_lane < 1024 && (slot = fsa_lane_pop_sc(lane)) != NULL) {
            handle_record(e, slot, &clk);
            fsa_lane_release_sc(lane, slot);
            n++;
            per_lane++;
        }
    }
    return n;
}

static bool lanes_empty(const struct fsa_exporter *e)
{
    for (unsigned i = 0; i < e->ninputs; i++)
        if (fsa_lane_occupancy(e->inputs[i]) > 0)
            return false;
    return true;
}

/* ---- calls ---- */

static bool should_log(struct fsa_exporter *e, uint64_t now, uint64_t *last)
{
    if (*last && now - *last < LOG_EVERY_NS)
        return false;
    *last = now;
    (void)e;
    return true;
}

static void on_done(void *ctx, void *call_ctx, const struct fsa_grpc_result *r)
{
    struct fsa_exporter *e = ctx;
    struct batch *b = call_ctx;
    uint64_t now = fsa_mono_ns();
    b->in_flight = false;
    e->inflight_bytes -= b->len;
    if (e->aborting) {
        drop_batch(e, b, FSA_DROP_SHUTDOWN);
        return;
    }
    if (r->code == FSA_GRPC_OK) {
        int64_t rej = r->response.rejected_data_points;
        uint64_t rejected = rej <= 0 ? 0 : (uint64_t)rej > b->points ? b->points : (uint64_t)rej;
        BUMP(e->c.batches_ok, 1);
        BUMP(e->c.bytes_sent, b->len);
        BUMP(e->c.points_exported, b->points - rejected);
        SET(e->c.last_success_unix_ns, fsa_wall_ns());
        if (rejected || r->response.has_partial_success) {
            BUMP(e->c.points_rejected, rejected);
            if (rejected)
                BUMP(e->c.partial_successes, 1);
            if (rejected || r->response.error_message[0])
                fsa_log_warn(NULL, "exporter: collector accepted a batch partially: %llu of %u points rejected: %s",
                             (unsigned long long)rejected, b->points, r->response.error_message);
        }
        q_remove(e, b);
        return;
    }
    int code = r->code > 0 && r->code < FSA_GRPC_CODE_COUNT ? r->code : FSA_GRPC_UNKNOWN;
    BUMP(e->c.batches_failed[code], 1);
    char msg[320];
    snprintf(msg, sizeof(msg), "export failed: %s: %s", fsa_grpc_code_name(code), r->message);
    set_last_error(e, msg);
    if (!fsa_grpc_retryable(code, r->has_retry_info)) {
        fsa_log_error(NULL, "exporter: %s (not retried; %u points dropped)", msg, b->points);
        drop_batch(e, b, FSA_DROP_NON_RETRYABLE);
        return;
    }
    if (!b->first_fail_ns)
        b->first_fail_ns = now;
    if (now - b->first_fail_ns >= (uint64_t)e->retry_max_elapsed_ms * 1000000u) {
        fsa_log_error(NULL, "exporter: %s; still failing after %u ms, %u points dropped", msg, e->retry_max_elapsed_ms,
                      b->points);
        drop_batch(e, b, FSA_DROP_RETRY_EXPIRED);
        return;
    }
    BUMP(e->c.batches_retried[code], 1);
    b->attempts++;
    uint64_t delay_ns;
    if (r->has_retry_info) {
        delay_ns = r->retry_delay_ms * 1000000u;
    } else {
        uint64_t d = e->retry_initial_ms;
        for (unsigned i = 1; i < b->attempts && d < e->retry_max_ms; i++)
            d *= 2;
        if (d > e->retry_max_ms)
            d = e->retry_max_ms;
        delay_ns = jittered_ns(e, d);
    }
    b->next_try_ns = now + delay_ns;
    if (should_log(e, now, &e->last_export_log_ns))
        fsa_log_warn(NULL, "exporter: %s (retry %u in %llu ms)", msg, b->attempts,
                     (unsigned long long)(delay_ns / 1000000u));
}

/*
 * Calls in flight may hold at most half of queue_max_bytes (one at least),
 * so the other half is always free for waiting batches: a full queue then
 * always has a waiting batch to drop (the oldest), and new data is never
 * refused because the collector is busy acknowledging old data.
 */
static void dispatch(struct fsa_exporter *e, uint64_t now)
{
    size_t half = e->otel.queue_max_bytes / 2;
    for (struct batch *b = e->head; b && fsa_grpc_client_room(e->client) > 0; b = b->next) {
        if (b->in_flight || b->next_try_ns > now)
            continue;
        if (e->inflight_bytes > 0 && e->inflight_bytes + b->len > half)
            break;
        /* fsa_grpc_client_call never ends a call synchronously: b stays valid here. */
        if (fsa_grpc_client_call(e->client, b->msg, b->len, b, now) != 0)
            break;
        b->in_flight = true;
        e->inflight_bytes += b->len;
        BUMP(e->c.batches_sent, 1);
    }
}

static bool has_waiting(const struct fsa_exporter *e)
{
    for (const struct batch *b = e->head; b; b = b->next)
        if (!b->in_flight)
            return true;
    return false;
}

/*
 * Earliest future retry time of a waiting batch, UINT64_MAX if none. Batches
 * already due but still waiting are waiting for room (streams or the
 * in-flight budget): a finishing call frees it and wakes poll through the
 * socket, so they must not make the loop spin.
 */
static uint64_t next_retry(const struct fsa_exporter *e, uint64_t now)
{
    uint64_t t = UINT64_MAX;
    for (const struct batch *b = e->head; b; b = b->next)
        if (!b->in_flight && b->next_try_ns > now && b->next_try_ns < t)
            t = b->next_try_ns;
    return t;
}

/* ---- connection ---- */

static void conn_went_down(struct fsa_exporter *e, uint64_t now)
{
    const char *err = fsa_grpc_client_last_error(e->client);
    if (fsa_grpc_client_was_good(e->client)) {
        e->reconnect_ms = e->reconnect_initial_ms;
        e->next_connect_ns = fsa_grpc_client_was_graceful(e->client) ? now : now + jittered_ns(e, e->reconnect_ms);
        fsa_log_info(NULL, "exporter: connection to %s closed: %s", e->otel.endpoint, err);
    } else {
        BUMP(e->c.connect_failures, 1);
        e->next_connect_ns = now + jittered_ns(e, e->reconnect_ms);
        bool same = strcmp(err, e->last_conn_log) == 0;
        if (!same || should_log(e, now, &e->last_conn_log_ns)) {
            fsa_log_warn(NULL, "exporter: cannot reach collector %s: %s (retrying in %u ms or less)", e->otel.endpoint,
                         err, e->reconnect_ms);
            snprintf(e->last_conn_log, sizeof(e->last_conn_log), "%s", err);
            e->last_conn_log_ns = now;
        }
        e->reconnect_ms = e->reconnect_ms >= e->reconnect_max_ms / 2 ? e->reconnect_max_ms : e->reconnect_ms * 2;
    }
    if (err[0])
        set_last_error(e, err);
}

static void observe_state(struct fsa_exporter *e, uint64_t now)
{
    int s = fsa_grpc_client_state(e->client);
    if (s != e->prev_state) {
        if (s == FSA_GRPC_CONN_READY && e->prev_state != FSA_GRPC_CONN_DRAINING) {
            BUMP(e->c.connects, 1);
            e->last_conn_log[0] = '\0';
            fsa_log_info(NULL, "exporter: connected to %s (%s)", e->otel.endpoint, e->otel.insecure ? "h2c" : "TLS");
        }
        if (s == FSA_GRPC_CONN_DOWN)
            conn_went_down(e, now);
        e->prev_state = s;
    }
    int shown = s;
    if (s == FSA_GRPC_CONN_DOWN)
        shown = e->next_connect_ns > now ? STATE_BACKOFF : STATE_IDLE;
    SET(e->c.conn_state, shown);
}

static void manage_connection(struct fsa_exporter *e, uint64_t now)
{
    if (fsa_grpc_client_state(e->client) != FSA_GRPC_CONN_DOWN || !has_waiting(e) || now < e->next_connect_ns)
        return;
    e->prev_state = FSA_GRPC_CONN_CONNECTING;
    if (fsa_grpc_client_connect(e->client, now) != 0)
        observe_state(e, now); /* failed at once: DOWN again, counted as a failure */
}

/*
 * A StoreLoad barrier. GCC's TSan does not model atomic_thread_fence (and
 * refuses it under -Werror): there a seq_cst read-modify-write of the flag
 * itself gives TSan the same ordering to see.
 */
static inline void full_fence(atomic_uint *flag)
{
#if defined(__SANITIZE_THREAD__)
    (void)atomic_fetch_add_explicit(flag, 0, memory_order_seq_cst);
#else
    (void)flag;
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* ---- the thread ---- */

/* stopping: the stop request was taken in already, so it must not cut the sleep short (it would spin). */
static void sleep_until(struct fsa_exporter *e, uint64_t wake_ns, uint64_t now, bool stopping)
{
    struct pollfd fds[2];
    int nfds = 1;
    fds[0] = (struct pollfd){.fd = e->efd, .events = POLLIN};
    int cfd = fsa_grpc_client_fd(e->client);
    short cev = fsa_grpc_client_events(e->client);
    if (cfd >= 0 && cev) {
        fds[1] = (struct pollfd){.fd = cfd, .events = cev};
        nfds = 2;
    }
    int timeout = 0;
    if (wake_ns > now) {
        uint64_t ms = (wake_ns - now + 999999) / 1000000;
        timeout = ms > 1000 ? 1000 : (int)ms; /* a bounded sleep: stop and clock steps are seen soon */
    }
    if (timeout > 0) {
        /* Doorbell protocol: announce, re-check, then sleep (pairs with fsa_exporter_doorbell). */
        atomic_store_explicit(&e->sleeping, 1, memory_order_seq_cst);
        full_fence(&e->sleeping);
        if (!lanes_empty(e) || (!stopping && atomic_load_explicit(&e->stop_req, memory_order_acquire)))
            timeout = 0;
    }
    int rc = poll(fds, (nfds_t)nfds, timeout);
    atomic_store_explicit(&e->sleeping, 0, memory_order_relaxed);
    if (rc <= 0)
        return;
    if (fds[0].revents & POLLIN) {
        uint64_t v;
        (void)!read(e->efd, &v, sizeof(v));
    }
    if (nfds == 2 && fds[1].revents)
        fsa_grpc_client_io(e->client, fds[1].revents, fsa_mono_ns());
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void *exporter_main(void *arg)
{
    struct fsa_exporter *e = arg;
    pthread_setname_np(pthread_self(), "fsa-exporter");
    uint64_t now = fsa_mono_ns();
    e->next_flush_ns = now + (uint64_t)e->otel.batch_interval_ms * 1000000u;
    e->next_agg_ns = now + (uint64_t)e->agg_interval_ms * 1000000u;
    bool stopping = false;
    uint64_t stop_at = 0;

    for (;;) {
        now = fsa_mono_ns();
        unsigned got = drain(e, DRAIN_BUDGET);
        if (got)
            publish_agg_stats(e);
        if (!stopping && atomic_load_explicit(&e->stop_req, memory_order_acquire)) {
            /* Everything the workers published before stop: they have stopped by now. */
            while (drain(e, UINT32_MAX))
                ;
            snapshot(e); /* the aggregates join the open batch, then everything is sealed */
            stopping = true;
            e->next_connect_ns = now; /* one attempt now rather than after a long reconnect backoff */
            stop_at = now + (uint64_t)atomic_load(&e->stop_deadline_ms) * 1000000u;
        }
        if (!stopping) {
            if (now >= e->next_flush_ns) {
                seal_open(e);
                e->next_flush_ns = now + (uint64_t)e->otel.batch_interval_ms * 1000000u;
            }
            if (now >= e->next_agg_ns) {
                snapshot(e);
                e->next_agg_ns = now + (uint64_t)e->agg_interval_ms * 1000000u;
            }
        }
        manage_connection(e, now);
        dispatch(e, now);
        uint64_t t_client = fsa_grpc_client_tick(e->client, now);
        observe_state(e, now);
        if (stopping && (e->qn == 0 || now >= stop_at))
            break;

        uint64_t wake = min_u64(t_client, next_retry(e, now));
        if (fsa_grpc_client_state(e->client) == FSA_GRPC_CONN_DOWN && has_waiting(e))
            wake = min_u64(wake, e->next_connect_ns);
        if (stopping)
            wake = min_u64(wake, stop_at);
        else
            wake = min_u64(wake, min_u64(e->next_flush_ns, e->next_agg_ns));
        if (got >= DRAIN_BUDGET)
            wake = now; /* more records are waiting: do not sleep */
        sleep_until(e, wake, now, stopping);
        observe_state(e, fsa_mono_ns());
    }

    /* Deadline or done: whatever is left was not delivered. */
    e->aborting = true;
    if (e->qn)
        fsa_log_warn(NULL, "exporter: stop deadline reached with %u batches unsent", e->qn);
    fsa_grpc_client_shutdown(e->client);
    fsa_grpc_client_close(e->client, FSA_GRPC_CANCELLED, NULL);
    while (e->head)
        drop_batch(e, e->head, FSA_DROP_SHUTDOWN);
    SET(e->c.conn_state, STATE_IDLE);
    publish_agg_stats(e);
    return NULL;
}

/* ---- API ---- */

int fsa_exporter_create(const struct fsa_exporter_params *p, struct fsa_exporter **out, const char **why)
{
    static char why_buf[256];
    *out = NULL;
    *why = NULL;
    if (!p->cfg || (p->ninputs && !p->inputs)) {
        *why = "exporter: missing config or lanes";
        return -EINVAL;
    }
    const struct fsa_config *cfg = p->cfg;
    struct fsa_exporter *e = aligned_alloc(FSA_CACHELINE, sizeof(*e));
    if (!e) {
        *why = "exporter: out of memory";
        return -ENOMEM;
    }
    memset(e, 0, sizeof(*e));
    e->otel = cfg->otel;
    e->efd = -1;
    pthread_mutex_init(&e->err_lock, NULL);
    atomic_init(&e->sleeping, 0);
    atomic_init(&e->stop_req, false);
    atomic_init(&e->stop_deadline_ms, 0);
    if (e->otel.batch_max_points == 0)
        e->otel.batch_max_points = 8192;
    if (e->otel.batch_interval_ms == 0)
        e->otel.batch_interval_ms = 1000;
    if (e->otel.queue_max_bytes == 0)
        e->otel.queue_max_bytes = (size_t)64 << 20;
    if (e->otel.timeout_ms == 0)
        e->otel.timeout_ms = 10000;
#define DEF(v, d) ((v) ? (v) : (d))
    e->agg_interval_ms = DEF(p->aggregate_interval_ms, 10000);
    e->retry_initial_ms = DEF(p->retry_initial_ms, 1000);
    e->retry_max_ms = DEF(p->retry_max_ms, 30000);
    e->retry_max_elapsed_ms = DEF(p->retry_max_elapsed_ms, 300000);
    e->reconnect_initial_ms = DEF(p->reconnect_initial_ms, 500);
    e->reconnect_max_ms = DEF(p->reconnect_max_ms, 30000);
#undef DEF
    if (e->retry_max_ms < e->retry_initial_ms)
        e->retry_max_ms = e->retry_initial_ms;
    if (e->reconnect_max_ms < e->reconnect_initial_ms)
        e->reconnect_max_ms = e->reconnect_initial_ms;
    e->reconnect_ms = e->reconnect_initial_ms;
    e->rng = fsa_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)e;
    if (!e->rng)
        e->rng = 1;
    e->prev_state = FSA_GRPC_CONN_DOWN;
    SET(e->c.conn_state, STATE_IDLE);

    e->ninputs = p->ninputs;
    e->inputs = calloc(p->ninputs ? p->ninputs : 1, sizeof(*e->inputs));
    if (!e->inputs)
        goto nomem;
    for (unsigned i = 0; i < p->ninputs; i++)
        e->inputs[i] = p->inputs[i];

    unsigned ni = p->instance_names ? p->ninstances : cfg->ninstances;
    const char **names = calloc(ni ? ni : 1, sizeof(*names));
    if (!names)
        goto nomem;
    for (unsigned i = 0; i < ni; i++)
        names[i] = p->instance_names ? p->instance_names[i] : cfg->instances[i].name;
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    size_t max_bytes = p->batch_max_bytes;
    if (!max_bytes) {
        max_bytes = (size_t)3584 << 10; /* under gRPC servers' usual 4 MiB message limit */
        if (max_bytes > e->otel.queue_max_bytes / 4)
            max_bytes = e->otel.queue_max_bytes / 4;
        if (max_bytes < 4096)
            max_bytes = 4096;
    }
    struct fsa_otlp_params op = {
        .instance_names = names,
        .ninstances = ni,
        .service_version = FSA_VERSION,
        .instance_id = e->otel.agent_id[0] ? e->otel.agent_id : host,
        .host_name = host,
        .per_leg = cfg->metrics_per_leg,
        .delta = e->otel.temporality == FSA_TEMPORALITY_DELTA,
        .batch_max_points = e->otel.batch_max_points,
        .batch_max_bytes = max_bytes,
        .max_agg_keys = p->max_aggregate_keys,
        .start_unix_ns = fsa_wall_ns(),
    };
    const char *ewhy = fsa_otlp_create(&op, &e->enc);
    free(names);
    if (ewhy) {
        snprintf(why_buf, sizeof(why_buf), "exporter: %s", ewhy);
        *why = why_buf;
        fsa_exporter_destroy(e);
        return -ENOMEM;
    }
    if (e->otel.gzip && !(e->gz = fsa_gzip_create(1 /* speed: the exporter is one thread */)))
        goto nomem;
    struct fsa_grpc_client_params cp = {
        .otel = &e->otel,
        .max_streams = p->max_streams ? p->max_streams : 8,
        .done = on_done,
        .done_ctx = e,
    };
    char detail[160];
    const char *cwhy = fsa_grpc_client_create(&cp, &e->client, detail, sizeof(detail));
    if (cwhy) {
        snprintf(why_buf, sizeof(why_buf), "%s%s%s", cwhy, detail[0] ? ": " : "", detail);
        *why = why_buf;
        fsa_exporter_destroy(e);
        return -EINVAL;
    }
    e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->efd < 0) {
        int err = errno;
        *why = "exporter: eventfd failed";
        fsa_exporter_destroy(e);
        return -err;
    }
    *out = e;
    return 0;
nomem:
    *why = "exporter: out of memory";
    fsa_exporter_destroy(e);
    return -ENOMEM;
}

int fsa_exporter_start(struct fsa_exporter *e)
{
    if (e->started)
        return -EALREADY;
    /* The exporter takes no signals: the main thread handles SIGTERM/SIGINT; SIGPIPE stays pending, harmless. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&e->thread, NULL, exporter_main, e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -rc;
    e->started = true;
    return 0;
}

void fsa_exporter_doorbell(struct fsa_exporter *e)
{
    /* Pairs with the seq_cst store + fence in sleep_until: we see sleeping, or it sees our publish. */
    full_fence(&e->sleeping);
    if (atomic_load_explicit(&e->sleeping, memory_order_relaxed)) {
        uint64_t one = 1;
        (void)!write(e->efd, &one, sizeof(one));
    }
}

void fsa_exporter_stop(struct fsa_exporter *e, unsigned deadline_ms)
{
    if (!e || !e->started || e->joined)
        return;
    atomic_store(&e->stop_deadline_ms, deadline_ms);
    atomic_store_explicit(&e->stop_req, true, memory_order_release);
    uint64_t one = 1;
    (void)!write(e->efd, &one, sizeof(one));
    pthread_join(e->thread, NULL);
    e->joined = true;
}

void fsa_exporter_destroy(struct fsa_exporter *e)
{
    if (!e)
        return;
    if (e->started && !e->joined)
        fsa_exporter_stop(e, 0);
    e->aborting = true;
    if (e->client)
        fsa_grpc_client_destroy(e->client);
    while (e->head)
        q_remove(e, e->head);
    fsa_otlp_destroy(e->enc);
    fsa_gzip_destroy(e->gz);
    if (e->efd >= 0)
        close(e->efd);
    free(e->inputs);
    pthread_mutex_destroy(&e->err_lock);
    memset(&e->otel, 0, sizeof(e->otel)); /* header values */
    free(e);
}

static const char *const shown_state_names[] = {"down",     "connecting", "handshaking", "ready",
                                                "draining", "backoff",    "idle"};

const uint64_t fsa_export_age_le_us[FSA_EXPORT_AGE_BOUNDS] = {
    250, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000};

void fsa_exporter_stats_read(const struct fsa_exporter *e, struct fsa_exporter_stats *s)
{
    memset(s, 0, sizeof(*s));
    const struct counters *c = &e->c;
    for (int k = 0; k < FSA_REC_KIND_COUNT; k++)
        s->records[k] = GET(c->records[k]);
    s->records_invalid = GET(c->records_invalid);
    s->points_encoded = GET(c->points_encoded);
    s->points_exported = GET(c->points_exported);
    for (int d = 0; d < FSA_DROP_COUNT; d++)
        s->points_dropped[d] = GET(c->points_dropped[d]);
    s->points_rejected = GET(c->points_rejected);
    s->partial_successes = GET(c->partial_successes);
    s->batches_encoded = GET(c->batches_encoded);
    s->batches_sent = GET(c->batches_sent);
    s->batches_ok = GET(c->batches_ok);
    for (int k = 0; k < FSA_GRPC_CODE_COUNT; k++) {
        s->batches_failed[k] = GET(c->batches_failed[k]);
        s->batches_retried[k] = GET(c->batches_retried[k]);
    }
    s->bytes_sent = GET(c->bytes_sent);
    s->queue_bytes = GET(c->queue_bytes);
    s->queue_bytes_peak = GET(c->queue_bytes_peak);
    s->queue_batches = GET(c->queue_batches);
    s->queue_max_bytes = e->otel.queue_max_bytes;
    s->aggregate_keys = GET(c->agg_keys);
    s->aggregate_overflow = GET(c->agg_overflow);
    s->aggregate_dropped = GET(c->agg_dropped);
    s->calls_active_underflow = GET(c->agg_underflow);
    s->connects = GET(c->connects);
    s->connect_failures = GET(c->connect_failures);
    s->last_success_unix_ns = GET(c->last_success_unix_ns);
    s->event_age_count = GET(c->event_age_us.count);
    s->event_age_p50_us = fsa_hist_quantile(&c->event_age_us, 0.50);
    s->event_age_p99_us = fsa_hist_quantile(&c->event_age_us, 0.99);
    s->event_age_max_us = GET(c->event_age_us.max);
    s->batch_wait_p50_us = fsa_hist_quantile(&c->batch_wait_us, 0.50);
    s->batch_wait_p99_us = fsa_hist_quantile(&c->batch_wait_us, 0.99);
    s->batch_wait_max_us = GET(c->batch_wait_us.max);
    s->pipeline_age_p50_us = fsa_hist_quantile(&c->pipeline_age_us, 0.50);
    s->pipeline_age_p99_us = fsa_hist_quantile(&c->pipeline_age_us, 0.99);
    s->pipeline_age_max_us = GET(c->pipeline_age_us.max);
    s->event_age_total = fsa_hist_cumulative(&c->event_age_us, fsa_export_age_le_us, FSA_EXPORT_AGE_BOUNDS,
                                             s->event_age_le, &s->event_age_sum_us);
    s->pipeline_age_total = fsa_hist_cumulative(&c->pipeline_age_us, fsa_export_age_le_us, FSA_EXPORT_AGE_BOUNDS,
                                                s->pipeline_age_le, &s->pipeline_age_sum_us);
    int st = atomic_load_explicit(&c->conn_state, memory_order_relaxed);
    s->conn_state = st;
    snprintf(s->conn_state_name, sizeof(s->conn_state_name), "%s",
             st >= 0 && st <= STATE_IDLE ? shown_state_names[st] : "unknown");
    pthread_mutex_lock((pthread_mutex_t *)&e->err_lock);
    memcpy(s->last_error, e->last_error, sizeof(s->last_error));
    pthread_mutex_unlock((pthread_mutex_t *)&e->err_lock);
}

static const char *const drop_names[FSA_DROP_COUNT] = {"queue_full", "non_retryable", "retry_expired", "shutdown",
                                                       "encode"};
static const char *const kind_names[FSA_REC_KIND_COUNT] = {"none", "rtcp", "qos", "leg_up", "leg_down"};

struct jw {
    char *p;
    size_t cap, n;
};

__attribute__((format(printf, 2, 3))) static void jw_put(struct jw *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = w->n < w->cap ? w->cap - w->n : 0;
    int k = vsnprintf(w->p + w->n, room, fmt, ap);
    va_end(ap);
    if (k > 0)
        w->n += (size_t)k < room ? (size_t)k : (room ? room - 1 : 0);
}

size_t fsa_exporter_stats_json(const struct fsa_exporter_stats *s, char *out, size_t cap)
{
    struct jw w = {out, cap, 0};
    if (cap)
        out[0] = '\0';
    jw_put(&w, "{\"records\":{");
    for (int k = 1; k < FSA_REC_KIND_COUNT; k++)
        jw_put(&w, "%s\"%s\":%llu", k > 1 ? "," : "", kind_names[k], (unsigned long long)s->records[k]);
    jw_put(&w, "},\"records_invalid\":%llu,\"points_encoded\":%llu,\"points_exported\":%llu,\"points_dropped\":{",
           (unsigned long long)s->records_invalid, (unsigned long long)s->points_encoded,
           (unsigned long long)s->points_exported);
    for (int d = 0; d < FSA_DROP_COUNT; d++)
        jw_put(&w, "%s\"%s\":%llu", d ? "," : "", drop_names[d], (unsigned long long)s->points_dropped[d]);
    jw_put(&w,
           "},\"points_rejected\":%llu,\"partial_successes\":%llu,\"batches_encoded\":%llu,"
           "\"batches_sent\":%llu,\"batches_ok\":%llu,\"batches_failed\":{",
           (unsigned long long)s->points_rejected, (unsigned long long)s->partial_successes,
           (unsigned long long)s->batches_encoded, (unsigned long long)s->batches_sent,
           (unsigned long long)s->batches_ok);
    bool first = true;
    for (int k = 1; k < FSA_GRPC_CODE_COUNT; k++) {
        if (!s->batches_failed[k])
            continue;
        jw_put(&w, "%s\"%s\":%llu", first ? "" : ",", fsa_grpc_code_name(k), (unsigned long long)s->batches_failed[k]);
        first = false;
    }
    jw_put(&w, "},\"batches_retried\":{");
    first = true;
    for (int k = 1; k < FSA_GRPC_CODE_COUNT; k++) {
        if (!s->batches_retried[k])
            continue;
        jw_put(&w, "%s\"%s\":%llu", first ? "" : ",", fsa_grpc_code_name(k), (unsigned long long)s->batches_retried[k]);
        first = false;
    }
    jw_put(&w,
           "},\"event_age_us\":{\"count\":%llu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu},"
           "\"batch_wait_us\":{\"p50\":%llu,\"p99\":%llu,\"max\":%llu},"
           "\"pipeline_age_us\":{\"p50\":%llu,\"p99\":%llu,\"max\":%llu",
           (unsigned long long)s->event_age_count, (unsigned long long)s->event_age_p50_us,
           (unsigned long long)s->event_age_p99_us, (unsigned long long)s->event_age_max_us,
           (unsigned long long)s->batch_wait_p50_us, (unsigned long long)s->batch_wait_p99_us,
           (unsigned long long)s->batch_wait_max_us, (unsigned long long)s->pipeline_age_p50_us,
           (unsigned long long)s->pipeline_age_p99_us, (unsigned long long)s->pipeline_age_max_us);
    jw_put(&w,
           "},\"bytes_sent\":%llu,\"queue_bytes\":%llu,\"queue_bytes_peak\":%llu,\"queue_batches\":%llu,"
           "\"queue_max_bytes\":%llu,\"aggregate_keys\":%llu,\"aggregate_overflow\":%llu,"
           "\"aggregate_dropped\":%llu,\"calls_active_underflow\":%llu,\"connects\":%llu,"
           "\"connect_failures\":%llu,\"last_success_unix_ns\":%llu,\"conn_state\":\"%s\",\"last_error\":\"",
           (unsigned long long)s->bytes_sent, (unsigned long long)s->queue_bytes,
           (unsigned long long)s->queue_bytes_peak, (unsigned long long)s->queue_batches,
           (unsigned long long)s->queue_max_bytes, (unsigned long long)s->aggregate_keys,
           (unsigned long long)s->aggregate_overflow, (unsigned long long)s->aggregate_dropped,
           (unsigned long long)s->calls_active_underflow, (unsigned long long)s->connects,
           (unsigned long long)s->connect_failures, (unsigned long long)s->last_success_unix_ns, s->conn_state_name);
    for (const char *p = s->last_error; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\')
            jw_put(&w, "\\%c", ch);
        else if (ch < 0x20)
            jw_put(&w, "\\u%04x", ch);
        else
            jw_put(&w, "%c", ch);
    }
    jw_put(&w, "\"}");
    return w.n;
}
