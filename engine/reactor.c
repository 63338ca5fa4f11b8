/*
 * reactor: io_uring event loop for a share of the FreeSWITCH connections.
 *
 * Life of a connection (struct conn):
 *   IDLE/BACKOFF --timer--> CONNECTING (a host name is first looked up off
 *       this thread, by a lookup thread polled on the timer tick and bounded
 *       by connect_timeout_ms; then connect + linked timeout)
 *   CONNECTING --ok--> AUTHENTICATING: multishot recv armed; we wait for
 *       auth/request, answer "auth <pw>", wait for "+OK accepted"
 *   AUTHENTICATING --+OK--> SUBSCRIBING: "event plain <list>", wait for +OK
 *   SUBSCRIBING --+OK--> STREAMING: events flow; silence for one heartbeat
 *       period sends "api status" as a probe, silence for three is a fault
 *   any --fault--> CLOSING: shutdown(2) + cancel; once no operation is in
 *       flight the fd is closed and the connection waits in BACKOFF.
 * The handshake has a deadline (connect_timeout_ms per step).
 *
 * Operations in flight are counted per connection (inflight); a connection
 * is only reused once it reaches zero, so a late completion can never touch
 * a newer session. user_data = connection index << 8 | operation.
 *
 * Resync (contract "Resume"). Once a connection streams, the reactor asks
 * FreeSWITCH for its live channels (`bgapi show channels as json`) and hands
 * each Unique-ID to its worker as a CHANNEL_LIVE message; a worker that does
 * not know a leg (no CHANNEL_CREATE seen, nothing in the store) asks back on
 * its request lane, and the reactor sends `bgapi uuid_dump <uuid>`; the answer
 * goes to the worker as CHANNEL_DATA (the leg's labels) or LABELS_FAILED.
 * `bgapi`, not `api`: an api runs in the listener's own thread in
 * mod_event_socket and holds the connection's events back behind it. Calls
 * are paced by a token bucket, engine.resync_rate per second for the whole
 * agent (each reactor gets its share), checked on the timer tick; one list
 * is in flight per reactor at a time, since only a list may be larger than
 * max_frame_bytes (about 900 bytes a channel: the framer and the assembly
 * buffer grow to resync_max_bytes for it, and shrink back afterwards).
 *
 * Buffers: one provided-buffer ring per reactor (buf_count x BUF_SIZE). A
 * completion's bytes are framed in place when no partial frame is pending;
 * only a frame that straddles two buffers is copied into the connection's
 * assembly buffer (bounded by max_frame_bytes + BUF_SIZE), and only up to its
 * end. Buffers go back to the kernel as soon as their bytes are consumed.
 */
#include "reactor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "calc/worker.h"
#include "ring/fsa_lookup.h"
#include "ring/fsa_time.h"
#include "esl.h"
#include "log.h"
#include "resync.h"

/*
 * Provided buffers: 64 KiB each, two per connection (at least 16, at most
 * 256; a power of two). The kernel fills them in ring order, so the whole
 * ring is the copy's working set: 1 MiB for one busy connection stays in
 * cache where 256 x 32 KiB (8 MiB) did not, and one recv carries ~64 events.
 * Interleaved fsabench runs, one connection (perf/README.md): reactor CPU per
 * event ~820 ns with 16 x 64 KiB against ~860-980 ns with 256 x 32 KiB; 8 x
 * 128 KiB was worse (~1090 ns: the ring runs dry, -ENOBUFS, re-arm). Every
 * connection with data in flight needs a buffer per completion until the
 * batch is processed, hence two each.
 */
#define BUF_SIZE (64u * 1024u)
#define BUF_COUNT_MIN 16u
#define BUF_COUNT_MAX 256u
#define BUF_GROUP 0
#define RING_ENTRIES 512u
#define OUT_CAP 2048u
#define STASH_STEP 512u /* bytes copied at a time while a straddling frame's header block is incomplete */
#define TIMER_TICK_MS 50u
#define REDO_MAX 1024u /* uuid_dump answers lost at a full lane, kept to ask again */
#define REPEAT_LOG_NS (300ull * 1000000000ull)
#define GOOD_SESSION_NS (5ull * 1000000000ull) /* streaming this long resets the backoff */
#define DUMPS_INFLIGHT_MAX 64u                  /* uuid_dump jobs outstanding per connection */
#define LIST_TIMEOUT_NS (120ull * 1000000000ull) /* a list not answered by then is given up */

enum op { OP_CONNECT = 1, OP_LINK_TIMEOUT, OP_RECV, OP_SEND, OP_CANCEL };

struct conn {
    struct fsa_reactor *r;
    unsigned index;    /* in r->conns */
    unsigned instance; /* global instance index */
    const struct fsa_instance_config *icfg;
    struct fsa_instance_stats *st;
    int fd;
    enum fsa_conn_state state;
    unsigned inflight;
    bool recv_armed;
    bool send_inflight;
    bool probe_pending; /* an "api status" keepalive awaits its reply */
    bool decode_error_logged;
    enum fsa_fault fault;
    enum fsa_fault logged_fault;
    uint64_t logged_fault_ns;

    struct sockaddr_storage addr;
    socklen_t addrlen;
    /* A host name is looked up by a thread of its own (ring/fsa_lookup.h); numeric hosts resolve inline. */
    struct fsa_lookup *lookup; /* in flight, or NULL */
    uint64_t resolve_deadline_ns;

    uint64_t backoff_ms;
    uint64_t next_attempt_ns;
    uint64_t deadline_ns; /* handshake step deadline */
    uint64_t last_rx_ns;
    uint64_t streaming_since_ns;
    bool ever_attempted;

    struct esl_framer framer;
    char *buf; /* assembly buffer for a frame that straddles reads */
    size_t len, cap;

    char out[OUT_CAP]; /* commands waiting to be sent; out[0..out_sent) is in flight */
    size_t out_len, out_sent;

    /* Resync of this session (see the top of the file). */
    bool resync_due;          /* streaming, its channel list not asked for yet */
    bool list_inflight;       /* the list is asked for; framer and buffer are at resync_max_bytes */
    uint64_t list_asked_ns;
    uint64_t list_deadline_ns;
    unsigned dumps_inflight;
};

struct fsa_reactor {
    struct fsa_reactor_params p;
    const struct fsa_config *cfg;
    struct io_uring ring;
    bool ring_ready;
    struct io_uring_buf_ring *br;
    unsigned buf_count; /* provided buffers: a power of two, see BUF_SIZE */
    size_t br_bytes;
    char *bufs;
    struct conn *conns;
    unsigned nconns;
    atomic_bool stop;
    uint64_t now_ns;
    uint64_t rng;
    uint64_t last_timer_ns;
    struct fsa_lane **lanes;      /* [worker] */
    struct fsa_doorbell **bells;  /* [worker] */
    struct fsa_lane **requests;   /* [worker]: label requests (NULL: no resync) */
    bool *wake; /* [worker]: published to since the last doorbell round */
    struct __kernel_timespec connect_ts;
    uint64_t now_wall_us;       /* CLOCK_REALTIME with now_ns: one clock read per completion batch, not per event */
    struct esl_event_scan scan; /* the event being decoded: 1.3 KB, kept off the stack */
    char subscribe_cmd[512];
    size_t subscribe_len;

    /* Resync pacing: a token bucket of api calls (this reactor's share of engine.resync_rate). */
    double resync_rate, tokens;
    uint64_t tokens_ns;
    uint64_t job_seq;
    unsigned next_request_lane;
    bool list_busy;                  /* one list in flight per reactor (memory: resync_max_bytes) */
    /*
     * The last list's names, handed to the workers as CHANNEL_LIVE while
     * their lanes are at most half full (a 20,000-name list at once would
     * crowd the events out); the next list waits until they are all out.
     */
    struct conn *names_conn; /* NULL: none pending */
    char (*names)[FSA_UUID_MAX];
    uint8_t *name_len;
    uint32_t names_n, names_pos, names_lost;
    bool names_whole;
    bool held_valid;                 /* a request taken from a lane that could not be sent yet */
    struct fsa_label_request held;
    /*
     * Legs whose uuid_dump answer met a full lane: asked again (before new
     * requests), since their worker asks only once. A full ring loses the
     * answer for good (counted in resync_dropped_ring_full, as before).
     */
    struct fsa_label_request redo[REDO_MAX];
    unsigned redo_head, redo_n;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Single-writer counter bump: a plain load+store, no locked instruction. */
static inline void bump(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t ud(const struct conn *c, enum op op)
{
    return ((uint64_t)c->index << 8) | (uint64_t)op;
}

static void set_state(struct conn *c, enum fsa_conn_state s)
{
    c->state = s;
    atomic_store_explicit(&c->st->state, (int)s, memory_order_relaxed);
}

const char *fsa_fault_name(enum fsa_fault f)
{
    switch (f) {
    case FSA_FAULT_NONE: return "none";
    case FSA_FAULT_CONNECT_REFUSED: return "connect_refused";
    case FSA_FAULT_CONNECT_TIMEOUT: return "connect_timeout";
    case FSA_FAULT_CONNECT_ERROR: return "connect_error";
    case FSA_FAULT_RESOLVE: return "resolve_failed";
    case FSA_FAULT_AUTH_FAILED: return "auth_failed";
    case FSA_FAULT_ACL_REJECTED: return "acl_rejected";
    case FSA_FAULT_HANDSHAKE_TIMEOUT: return "handshake_timeout";
    case FSA_FAULT_SUBSCRIBE_FAILED: return "subscribe_failed";
    case FSA_FAULT_SERVER_CLOSED: return "server_closed";
    case FSA_FAULT_CLOSED_MID_FRAME: return "closed_mid_frame";
    case FSA_FAULT_DISCONNECT_NOTICE: return "disconnect_notice";
    case FSA_FAULT_WATCHDOG: return "watchdog";
    case FSA_FAULT_FRAME_TOO_LARGE: return "frame_too_large";
    case FSA_FAULT_PROTOCOL: return "protocol_error";
    case FSA_FAULT_IO: return "io_error";
    case FSA_FAULT_COUNT: break;
    }
    return "unknown";
}

const char *fsa_fault_text(enum fsa_fault f)
{
    switch (f) {
    case FSA_FAULT_NONE: return "";
    case FSA_FAULT_CONNECT_REFUSED: return "connection refused";
    case FSA_FAULT_CONNECT_TIMEOUT: return "connect timed out";
    case FSA_FAULT_CONNECT_ERROR: return "connect failed";
    case FSA_FAULT_RESOLVE: return "cannot resolve host";
    case FSA_FAULT_AUTH_FAILED: return "authentication failed (wrong ESL password)";
    case FSA_FAULT_ACL_REJECTED: return "rejected by ESL ACL (check event_socket.conf.xml apply-inbound-acl)";
    case FSA_FAULT_HANDSHAKE_TIMEOUT: return "ESL handshake timed out";
    case FSA_FAULT_SUBSCRIBE_FAILED: return "event subscription refused";
    case FSA_FAULT_SERVER_CLOSED: return "server closed the connection";
    case FSA_FAULT_CLOSED_MID_FRAME: return "server closed the connection in the middle of a frame";
    case FSA_FAULT_DISCONNECT_NOTICE: return "server sent a disconnect notice";
    case FSA_FAULT_WATCHDOG: return "no data for 3 heartbeat periods (watchdog)";
    case FSA_FAULT_FRAME_TOO_LARGE: return "frame larger than engine.max_frame_bytes";
    case FSA_FAULT_PROTOCOL: return "malformed ESL frame";
    case FSA_FAULT_IO: return "socket error";
    case FSA_FAULT_COUNT: break;
    }
    return "unknown";
}

const char *fsa_conn_state_name(enum fsa_conn_state s)
{
    switch (s) {
    case FSA_CONN_IDLE: return "idle";
    case FSA_CONN_CONNECTING: return "connecting";
    case FSA_CONN_AUTHENTICATING: return "authenticating";
    case FSA_CONN_SUBSCRIBING: return "subscribing";
    case FSA_CONN_STREAMING: return "streaming";
    case FSA_CONN_CLOSING: return "closing";
    case FSA_CONN_BACKOFF: return "backoff";
    }
    return "unknown";
}

size_t fsa_reactor_subscribe_command(const struct fsa_config *cfg, char *out, size_t cap)
{
    /* Narrow on purpose: every event subscribed costs FreeSWITCH a queue slot per listener. */
    int n = snprintf(out, cap, "event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_BRIDGE%s%s HEARTBEAT%s\n\n",
                     cfg->events_qos ? " CHANNEL_HANGUP_COMPLETE" : "",
                     cfg->events_rtcp ? " RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE" : "",
                     cfg->engine.resync_rate ? " BACKGROUND_JOB" : ""); /* the resync's answers */
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static struct io_uring_sqe *get_sqe(struct fsa_reactor *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {
        /* SQ full: flush it to the kernel and take a fresh one. */
        io_uring_submit(&r->ring);
        sqe = io_uring_get_sqe(&r->ring);
    }
    return sqe;
}

/* ---- connection life cycle --------------------------------------------- */

static void begin_close(struct conn *c, enum fsa_fault fault, const char *detail);

static void finish_close(struct conn *c)
{
    struct fsa_reactor *r = c->r;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->len = 0;
    esl_framer_init(&c->framer, r->cfg->engine.max_frame_bytes);
    if (c->list_inflight)
        r->list_busy = false;
    if (r->names_conn == c) { /* its names are of a session that is over */
        r->names_conn = NULL;
        r->list_busy = false;
    }
    c->resync_due = c->list_inflight = false;
    c->dumps_inflight = 0; /* their legs' points go without labels after resync_label_wait_ms */
    c->out_len = c->out_sent = 0;
    c->send_inflight = c->recv_armed = c->probe_pending = false;
    atomic_store_explicit(&c->st->connected_since_unix_us, 0, memory_order_relaxed);

    bool good = c->streaming_since_ns && r->now_ns - c->streaming_since_ns >= GOOD_SESSION_NS;
    c->streaming_since_ns = 0;
    if (good)
        c->backoff_ms = r->cfg->engine.backoff_initial_ms;
    if (c->fault == FSA_FAULT_ACL_REJECTED)
        c->backoff_ms = r->cfg->engine.backoff_max_ms; /* retrying fast cannot help */

    /* Equal jitter: wait between half and all of the current step, then double it. */
    uint64_t step = c->backoff_ms;
    uint64_t wait_ms = step / 2 + (step > 1 ? xorshift(&r->rng) % (step / 2 + 1) : 0);
    c->next_attempt_ns = r->now_ns + wait_ms * 1000000ull;
    c->backoff_ms = step * 2 > r->cfg->engine.backoff_max_ms ? r->cfg->engine.backoff_max_ms : step * 2;
    set_state(c, FSA_CONN_BACKOFF);
    if (atomic_load_explicit(&r->stop, memory_order_relaxed))
        set_state(c, FSA_CONN_IDLE);
}

static void op_done(struct conn *c)
{
    c->inflight--;
    if (c->inflight == 0 && c->state == FSA_CONN_CLOSING)
        finish_close(c);
}

static void begin_close(struct conn *c, enum fsa_fault fault, const char *detail)
{
    struct fsa_reactor *r = c->r;
    if (c->state == FSA_CONN_CLOSING || c->state == FSA_CONN_BACKOFF || c->state == FSA_CONN_IDLE)
        return;
    c->fault = fault;
    if (fault != FSA_FAULT_NONE) {
        bump(&c->st->faults[fault], 1);
        atomic_store_explicit(&c->st->last_fault, (int)fault, memory_order_relaxed);
        /* A fault that repeats (a server down for an hour) is logged again only every few minutes. */
        enum fsa_log_level lvl = FSA_LOG_WARN;
        if (fault == c->logged_fault && r->now_ns - c->logged_fault_ns < REPEAT_LOG_NS)
            lvl = FSA_LOG_DEBUG;
        else
            c->logged_fault_ns = r->now_ns;
        c->logged_fault = fault;
        fsa_log(lvl, c->icfg->name, "%s%s%s (%s:%u), reconnecting", fsa_fault_text(fault), detail ? ": " : "",
                detail ? detail : "", c->icfg->host, (unsigned)c->icfg->port);
    }
    set_state(c, FSA_CONN_CLOSING);
    if (c->fd >= 0) {
        /* Ends a pending multishot recv with EOF; the cancel covers connect and send. */
        shutdown(c->fd, SHUT_RDWR);
        struct io_uring_sqe *sqe = get_sqe(r);
        if (sqe) {
            io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, ud(c, OP_CANCEL));
            c->inflight++;
        }
    }
    if (c->inflight == 0)
        finish_close(c);
}

/*
 * A host name is looked up off this thread (ring/fsa_lookup.h: a DNS server
 * that does not answer would otherwise stall every connection of this
 * reactor for glibc's 5 s per try); the timer tick polls it (check_resolve),
 * bounded by connect_timeout_ms. A numeric host resolves inline.
 */
static void start_resolve(struct conn *c)
{
    if (c->lookup) { /* cannot happen: a lookup ends or is let go before the next attempt */
        fsa_lookup_release(c->lookup);
        c->lookup = NULL;
    }
    int err = 0;
    c->lookup = fsa_lookup_start(c->icfg->host, c->icfg->port, &err);
    if (!c->lookup) {
        begin_close(c, FSA_FAULT_RESOLVE, strerror(err));
        return;
    }
    c->resolve_deadline_ns = c->r->now_ns + (uint64_t)c->r->cfg->engine.connect_timeout_ms * 1000000ull;
}

static void connect_now(struct conn *c);

/* Timer tick: has the lookup ended? Past its deadline the connection lets go of it (the thread finishes alone). */
static void check_resolve(struct conn *c)
{
    struct fsa_lookup *l = c->lookup;
    if (c->state != FSA_CONN_CONNECTING) { /* closed meanwhile (stop): the answer is no longer wanted */
        c->lookup = NULL;
        fsa_lookup_release(l);
        return;
    }
    if (!fsa_lookup_done(l)) {
        if (c->r->now_ns >= c->resolve_deadline_ns) {
            c->lookup = NULL;
            fsa_lookup_release(l);
            begin_close(c, FSA_FAULT_RESOLVE, "lookup timed out");
        }
        return;
    }
    c->lookup = NULL;
    int rc = fsa_lookup_result(l, &c->addr, &c->addrlen);
    fsa_lookup_release(l);
    if (rc == 0)
        connect_now(c);
    else
        begin_close(c, FSA_FAULT_RESOLVE, gai_strerror(rc));
}

static void start_connect(struct conn *c)
{
    if (c->ever_attempted)
        bump(&c->st->reconnects, 1);
    c->ever_attempted = true;
    c->fault = FSA_FAULT_NONE;
    c->decode_error_logged = false;
    c->fd = -1;
    set_state(c, FSA_CONN_CONNECTING);
    if (fsa_lookup_numeric(c->icfg->host, c->icfg->port, &c->addr, &c->addrlen) == 0)
        connect_now(c);
    else
        start_resolve(c);
}

static void connect_now(struct conn *c)
{
    struct fsa_reactor *r = c->r;
    c->fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        begin_close(c, FSA_FAULT_CONNECT_ERROR, strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int idle = 15, intvl = 5, cnt = 3; /* a dead peer is noticed in ~30 s even without the watchdog */
    setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    /* connect and its linked timeout must reach the kernel in the same submission */
    if (io_uring_sq_space_left(&r->ring) < 2)
        io_uring_submit(&r->ring);
    if (io_uring_sq_space_left(&r->ring) < 2) { /* the kernel took nothing: survived like a full lane, retried */
        bump(&c->st->sq_full, 1);
        begin_close(c, FSA_FAULT_CONNECT_ERROR, "io_uring submission queue full");
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->addr, c->addrlen);
    io_uring_sqe_set_data64(sqe, ud(c, OP_CONNECT));
    sqe->flags |= IOSQE_IO_LINK;
    c->inflight++;

    /* Read by the kernel at submission; the value is the same for every connect. */
    sqe = get_sqe(r);
    io_uring_prep_link_timeout(sqe, &r->connect_ts, 0);
    io_uring_sqe_set_data64(sqe, ud(c, OP_LINK_TIMEOUT));
    c->inflight++;
}

/* A full submission queue leaves recv_armed false: the timer tick tries again (run_timers). */
static void arm_recv(struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(c->r);
    if (!sqe) {
        bump(&c->st->sq_full, 1);
        return;
    }
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
    c->inflight++;
    c->recv_armed = true;
}

static void flush_out(struct conn *c)
{
    if (c->send_inflight || c->out_len == 0 || c->fd < 0 || c->state == FSA_CONN_CLOSING)
        return;
    struct io_uring_sqe *sqe = get_sqe(c->r);
    if (!sqe) { /* the commands stay queued: the timer tick sends them (run_timers) */
        bump(&c->st->sq_full, 1);
        return;
    }
    io_uring_prep_send(sqe, c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
    c->out_sent = c->out_len;
    c->send_inflight = true;
    c->inflight++;
}

static int queue_cmd(struct conn *c, const char *cmd, size_t n)
{
    /* A command can only be appended while no send owns the buffer's head. */
    if (c->out_len + n > sizeof(c->out))
        return -ENOSPC;
    memcpy(c->out + c->out_len, cmd, n);
    c->out_len += n;
    flush_out(c);
    return 0;
}

static void send_auth(struct conn *c)
{
    char cmd[FSA_SECRET_MAX + 16];
    int n = snprintf(cmd, sizeof(cmd), "auth %s\n\n", c->icfg->password);
    if (n > 0 && (size_t)n < sizeof(cmd))
        queue_cmd(c, cmd, (size_t)n);
    explicit_bzero(cmd, sizeof(cmd));
}

/* ---- resync ------------------------------------------------------------- */

static unsigned shard_of(const struct fsa_reactor *r, const char *uuid, size_t n)
{
    /* The shard hash is a serial multiply per byte (~30 ns): not worth paying to choose among one. */
    return r->p.nworkers > 1 ? fsa_shard_of(uuid, n, r->p.nworkers) : 0;
}

/* A payload-less resync message on worker w's lane; false (counted) when that lane is full. */
static bool publish_note_to(struct conn *c, unsigned w, enum fsa_event_kind kind, const char *uuid, size_t n,
                            uint64_t ingest_ns)
{
    struct fsa_reactor *r = c->r;
    struct fsa_event_msg *m = fsa_lane_acquire_sp(r->p.lanes[w]);
    r->wake[w] = true;
    if (!m) {
        bump(&c->st->resync_dropped_ring_full, 1);
        return false;
    }
    memset(m, 0, offsetof(struct fsa_event_msg, u));
    m->kind = (uint8_t)kind;
    m->instance = (uint16_t)c->instance;
    m->uuid_len = (uint32_t)n;
    memcpy(m->uuid, uuid, n);
    m->event_time_us = r->now_wall_us;
    m->ingest_ns = ingest_ns;
    fsa_lane_publish_sp(r->p.lanes[w], m);
    bump(&c->st->events_published[kind], 1);
    return true;
}

/* The same for the leg's own worker (CHANNEL_LIVE, LABELS_FAILED). */
static bool publish_note(struct conn *c, enum fsa_event_kind kind, const char *uuid, size_t n)
{
    return publish_note_to(c, shard_of(c->r, uuid, n), kind, uuid, n, c->r->now_ns);
}

static bool send_job(struct conn *c, enum fsa_resync_job kind, const char *command, const char *arg)
{
    struct fsa_reactor *r = c->r;
    char job[FSA_JOB_UUID_LEN + 1], cmd[160];
    fsa_resync_job_uuid(job, r->p.job_nonce, kind, (uint16_t)c->instance, ++r->job_seq);
    int n = snprintf(cmd, sizeof(cmd), "bgapi %s %s\nJob-UUID: %s\n\n", command, arg, job);
    return n > 0 && (size_t)n < sizeof(cmd) && queue_cmd(c, cmd, (size_t)n) == 0;
}

static void end_list(struct conn *c)
{
    c->list_inflight = false;
    c->r->list_busy = false;
    c->framer.max_frame = c->r->cfg->engine.max_frame_bytes;
}

#define LIST_NAMES_MAX 65536u /* names of one channel list held for pacing; more: the list is not whole */

/*
 * Hands the pending list names to their workers while each lane is at most
 * half full; the rest waits for the next pass (after every completion batch).
 * When all are out: LIST_END if the list was whole and every name arrived.
 */
static void publish_names(struct fsa_reactor *r)
{
    struct conn *c = r->names_conn;
    if (!c)
        return;
    unsigned half = r->cfg->engine.ring_slots / 2;
    for (; r->names_pos < r->names_n; r->names_pos++) {
        const char *uuid = r->names[r->names_pos];
        size_t n = r->name_len[r->names_pos];
        unsigned w = shard_of(r, uuid, n);
        if (fsa_lane_occupancy(r->p.lanes[w]) >= half) {
            r->wake[w] = true;
            return; /* the next pass goes on */
        }
        r->names_lost += !publish_note_to(c, w, FSA_EV_CHANNEL_LIVE, uuid, n, r->now_ns);
    }
    if (r->names_lost) {
        /* A worker did not get every name: it must not retire legs on this list's word. */
        fsa_log_warn(c->icfg->name, "channel list: %u of %u channel(s) could not reach the workers (lanes full)",
                     r->names_lost, r->names_n);
    } else if (r->names_whole) {
        fsa_log_info(c->icfg->name, "resync: FreeSWITCH lists %u live channel(s)", r->names_n);
        /* Whole: each worker retires this instance's legs it names no more (calc.c list_end). */
        for (unsigned w = 0; w < r->p.nworkers; w++)
            publish_note_to(c, w, FSA_EV_LIST_END, "*", 1, c->list_asked_ns);
    }
    r->names_conn = NULL;
    r->list_busy = false; /* the next instance's list may be asked for */
}

/* The list's answer: every Unique-ID goes to its worker (paced), which asks back for the ones it does not know. */
static void list_answered(struct conn *c, struct fsa_str json)
{
    struct fsa_reactor *r = c->r;
    if (!r->names) { /* once per reactor, at its first list */
        r->names = malloc(LIST_NAMES_MAX * sizeof(*r->names));
        r->name_len = malloc(LIST_NAMES_MAX);
    }
    char uuid[FSA_UUID_MAX];
    size_t pos = 0, n;
    unsigned skipped = 0, listed = 0, held = 0;
    while ((n = fsa_resync_next_uuid(json, &pos, uuid, &skipped)) > 0) {
        if (r->names && r->name_len && held < LIST_NAMES_MAX) {
            memcpy(r->names[held], uuid, n);
            r->name_len[held++] = (uint8_t)n;
        }
        listed++;
    }
    bump(&c->st->resync_channels, listed);
    long rows = fsa_resync_row_count(json);
    bool whole = !skipped && rows >= 0 && (unsigned long)rows == listed && held == listed;
    if (!whole)
        /* Not provably whole: no leg may be retired on its word. */
        fsa_log_warn(c->icfg->name, "channel list: %u channel(s) read, row_count %ld, %u unusable Unique-ID(s), %u held",
                     listed, rows, skipped, held);
    end_list(c);
    r->list_busy = true; /* until its names are out (publish_names) */
    r->names_conn = c;
    r->names_n = held;
    r->names_pos = r->names_lost = 0;
    r->names_whole = whole;
    publish_names(r);
}

/* A uuid_dump's answer: the channel's headers as CHANNEL_DATA, or LABELS_FAILED for the leg asked about. */
static void dump_answered(struct conn *c, const struct fsa_bgjob *j)
{
    struct fsa_reactor *r = c->r;
    struct esl_event_scan *sc = &r->scan;
    const char *err = NULL;
    if (c->dumps_inflight)
        c->dumps_inflight--;
    if (!fsa_str_has_prefix(j->output, "-ERR", 4) &&
        esl_event_scan(j->output, sc, NULL, &err) == ESL_DECODE_EVENT && sc->kind == FSA_EV_CHANNEL_DATA) {
        unsigned w = shard_of(r, sc->uuid, sc->uuid_len);
        struct fsa_event_msg *m = fsa_lane_acquire_sp(r->p.lanes[w]);
        r->wake[w] = true;
        if (!m) {
            bump(&c->st->resync_dropped_ring_full, 1);
            if (r->redo_n < REDO_MAX && sc->uuid_len > 0 && sc->uuid_len < FSA_UUID_MAX) {
                struct fsa_label_request *q = &r->redo[(r->redo_head + r->redo_n++) % REDO_MAX];
                q->instance = (uint16_t)c->instance;
                q->uuid_len = (uint8_t)sc->uuid_len;
                memcpy(q->uuid, sc->uuid, sc->uuid_len);
            }
            return;
        }
        esl_event_fill(sc, m);
        m->instance = (uint16_t)c->instance;
        m->ingest_ns = r->now_ns;
        fsa_lane_publish_sp(r->p.lanes[w], m);
        bump(&c->st->events_published[FSA_EV_CHANNEL_DATA], 1);
        bump(&c->st->resync_dumps_ok, 1);
        return;
    }
    /* "-ERR No such channel!" (it ended meanwhile) or bytes we cannot read: the worker stops waiting. */
    bump(&c->st->resync_dumps_failed, 1);
    char uuid[FSA_UUID_MAX];
    bool cut = false;
    size_t n = esl_url_decode(j->arg, uuid, sizeof(uuid), &cut);
    if (n && !cut)
        publish_note(c, FSA_EV_LABELS_FAILED, uuid, n);
}

static void handle_bgjob(struct conn *c, struct fsa_str body)
{
    struct fsa_bgjob j;
    uint16_t instance;
    if (!fsa_resync_bgjob(body, &j))
        return; /* not ours to judge: another client's job may look like anything */
    enum fsa_resync_job kind = fsa_resync_job_parse(j.job_uuid, c->r->p.job_nonce, &instance);
    if (kind == FSA_JOB_NONE || instance != c->instance)
        return; /* another listener's job (every subscriber sees every BACKGROUND_JOB) */
    if (kind == FSA_JOB_LIST && c->list_inflight)
        list_answered(c, j.output);
    else if (kind == FSA_JOB_DUMP)
        dump_answered(c, &j);
}

static struct conn *conn_of_instance(struct fsa_reactor *r, unsigned instance)
{
    for (unsigned i = 0; i < r->nconns; i++)
        if (r->conns[i].instance == instance)
            return &r->conns[i];
    return NULL;
}

/* A worker's request: send its uuid_dump, or tell it at once that none can go. false: try again next tick. */
static bool serve_request(struct fsa_reactor *r, const struct fsa_label_request *q)
{
    struct conn *c = conn_of_instance(r, q->instance);
    size_t n = q->uuid_len < FSA_UUID_MAX ? q->uuid_len : FSA_UUID_MAX - 1;
    if (!c)
        return true; /* not this reactor's instance: a bug upstream, nothing to answer on */
    if (c->state != FSA_CONN_STREAMING) {
        bump(&c->st->resync_dumps_unsent, 1);
        publish_note(c, FSA_EV_LABELS_FAILED, q->uuid, n);
        return true;
    }
    if (c->dumps_inflight >= DUMPS_INFLIGHT_MAX)
        return false;
    char uuid[FSA_UUID_MAX];
    memcpy(uuid, q->uuid, n);
    uuid[n] = '\0';
    if (strcspn(uuid, " \r\n") != n) { /* never let a Unique-ID add a line to the command */
        publish_note(c, FSA_EV_LABELS_FAILED, q->uuid, n);
        return true;
    }
    if (!send_job(c, FSA_JOB_DUMP, "uuid_dump", uuid))
        return false; /* the command buffer is full: next tick */
    c->dumps_inflight++;
    bump(&c->st->resync_dumps, 1);
    return true;
}

static bool take_request(struct fsa_reactor *r, struct fsa_label_request *q)
{
    if (r->redo_n) { /* an answer that could not reach its worker: ask again first */
        *q = r->redo[r->redo_head];
        r->redo_head = (r->redo_head + 1) % REDO_MAX;
        r->redo_n--;
        return true;
    }
    for (unsigned k = 0; k < r->p.nworkers; k++) {
        unsigned w = (r->next_request_lane + k) % r->p.nworkers;
        struct fsa_label_request *slot = fsa_lane_pop_sc(r->p.requests[w]);
        if (slot) {
            *q = *slot;
            fsa_lane_release_sc(r->p.requests[w], slot);
            r->next_request_lane = w + 1;
            return true;
        }
    }
    return false;
}

static bool start_list(struct conn *c)
{
    struct fsa_reactor *r = c->r;
    size_t want = r->cfg->engine.resync_max_bytes + BUF_SIZE;
    if (c->cap < want) {
        char *nb = realloc(c->buf, want); /* untouched pages cost no RSS */
        if (!nb)
            return false;
        c->buf = nb;
        c->cap = want;
    }
    if (!send_job(c, FSA_JOB_LIST, "show", "channels as json"))
        return false;
    c->resync_due = false;
    c->list_inflight = true;
    c->list_asked_ns = r->now_ns;
    c->list_deadline_ns = r->now_ns + LIST_TIMEOUT_NS;
    c->framer.max_frame = r->cfg->engine.resync_max_bytes;
    r->list_busy = true;
    bump(&c->st->resync_lists, 1);
    return true;
}

/* Timer tick: refill the bucket, then the lists due, then the workers' requests, while tokens last. */
static void resync_pump(struct fsa_reactor *r)
{
    if (r->resync_rate <= 0 || !r->p.requests)
        return;
    double burst = r->resync_rate * TIMER_TICK_MS / 1000.0 + 1.0;
    r->tokens += r->resync_rate * (double)(r->now_ns - r->tokens_ns) / 1e9;
    if (r->tokens > burst)
        r->tokens = burst;
    r->tokens_ns = r->now_ns;
    size_t normal_cap = r->cfg->engine.max_frame_bytes + BUF_SIZE;
    for (unsigned i = 0; i < r->nconns; i++) {
        struct conn *c = &r->conns[i];
        if (c->list_inflight && r->now_ns >= c->list_deadline_ns) {
            fsa_log_warn(c->icfg->name, "channel list not answered in %llu s: resync given up for this session",
                         (unsigned long long)(LIST_TIMEOUT_NS / 1000000000ull));
            end_list(c);
        }
        if (!c->list_inflight && c->cap > normal_cap && c->len <= normal_cap) {
            char *nb = realloc(c->buf, normal_cap); /* the list is done: give its memory back */
            if (nb) {
                c->buf = nb;
                c->cap = normal_cap;
            }
        }
        if (c->state == FSA_CONN_STREAMING && c->resync_due && !r->list_busy && r->tokens >= 1.0 && start_list(c))
            r->tokens -= 1.0;
    }
    while (r->tokens >= 1.0) {
        if (!r->held_valid && !(r->held_valid = take_request(r, &r->held)))
            break;
        if (!serve_request(r, &r->held))
            break;
        r->held_valid = false;
        r->tokens -= 1.0;
    }
}

/* ---- events -------------------------------------------------------------- */

static void handle_event(struct conn *c, struct fsa_str body)
{
    struct fsa_reactor *r = c->r;
    struct esl_event_scan *sc = &r->scan;
    const char *err = NULL;
    struct fsa_str name;
    bump(&c->st->events_received, 1);
    atomic_store_explicit(&c->st->last_event_unix_us, r->now_wall_us, memory_order_relaxed);

    /* Scan first: the Unique-ID picks the lane, and the message is then written straight into its slot. */
    switch (esl_event_scan(body, sc, &name, &err)) {
    case ESL_DECODE_HEARTBEAT:
        bump(&c->st->heartbeats, 1);
        return;
    case ESL_DECODE_OTHER:
        bump(&c->st->events_other, 1);
        if (FSA_STR_IS(name, "BACKGROUND_JOB"))
            handle_bgjob(c, body);
        return;
    case ESL_DECODE_ERROR:
        bump(&c->st->events_decode_errors, 1);
        if (!c->decode_error_logged) { /* once per session: the stream itself is still in step */
            c->decode_error_logged = true;
            fsa_log_warn(c->icfg->name, "undecodable event dropped: %s (further ones this session are only counted)",
                         err ? err : "unknown");
        }
        return;
    case ESL_DECODE_EVENT:
        break;
    }
    if (sc->kind == FSA_EV_CHANNEL_DATA)
        return; /* only a uuid_dump's answer means something (dump_answered), not a stray event */
    unsigned w = shard_of(r, sc->uuid, sc->uuid_len);
    struct fsa_event_msg *m = fsa_lane_acquire_sp(r->p.lanes[w]);
    if (!m) {
        bump(&c->st->events_dropped_ring_full, 1);
        r->wake[w] = true; /* make sure the worker is awake to drain */
        return;
    }
    esl_event_fill(sc, m);
    m->instance = (uint16_t)c->instance;
    m->ingest_ns = r->now_ns;
    fsa_lane_publish_sp(r->p.lanes[w], m);
    r->wake[w] = true;
    bump(&c->st->events_published[sc->kind], 1);
}

static void handle_frame(struct conn *c, const struct esl_frame *f)
{
    struct fsa_reactor *r = c->r;
    bump(&c->st->frames_received, 1);
    switch (f->type) {
    case ESL_CT_EVENT_PLAIN:
        if (c->state == FSA_CONN_STREAMING)
            handle_event(c, f->body);
        return;
    case ESL_CT_AUTH_REQUEST:
        if (c->state == FSA_CONN_AUTHENTICATING && c->out_len == 0) {
            send_auth(c);
            c->deadline_ns = r->now_ns + (uint64_t)r->cfg->engine.connect_timeout_ms * 1000000ull;
        }
        return;
    case ESL_CT_COMMAND_REPLY:
        if (c->state == FSA_CONN_AUTHENTICATING) {
            if (fsa_str_has_prefix(f->reply_text, "+OK", 3)) {
                set_state(c, FSA_CONN_SUBSCRIBING);
                queue_cmd(c, r->subscribe_cmd, r->subscribe_len);
                c->deadline_ns = r->now_ns + (uint64_t)r->cfg->engine.connect_timeout_ms * 1000000ull;
            } else {
                begin_close(c, FSA_FAULT_AUTH_FAILED, NULL);
            }
        } else if (c->state == FSA_CONN_SUBSCRIBING) {
            if (fsa_str_has_prefix(f->reply_text, "+OK", 3)) {
                set_state(c, FSA_CONN_STREAMING);
                c->streaming_since_ns = r->now_ns;
                c->resync_due = r->resync_rate > 0 && r->p.requests; /* every (re)connect: legs may be up */
                bump(&c->st->connects, 1);
                atomic_store_explicit(&c->st->connected_since_unix_us, fsa_wall_ns() / 1000, memory_order_relaxed);
                atomic_store_explicit(&c->st->last_fault, FSA_FAULT_NONE, memory_order_relaxed);
                fsa_log_info(c->icfg->name, "connected and subscribed (%s:%u)", c->icfg->host,
                             (unsigned)c->icfg->port);
            } else {
                char text[128];
                fsa_str_copy(text, sizeof(text), f->reply_text);
                begin_close(c, FSA_FAULT_SUBSCRIBE_FAILED, text);
            }
        }
        return;
    case ESL_CT_API_RESPONSE:
        c->probe_pending = false;
        return;
    case ESL_CT_DISCONNECT_NOTICE:
        begin_close(c, FSA_FAULT_DISCONNECT_NOTICE, NULL);
        return;
    case ESL_CT_RUDE_REJECTION:
        begin_close(c, FSA_FAULT_ACL_REJECTED, NULL);
        return;
    case ESL_CT_NONE:
    case ESL_CT_UNKNOWN:
    case ESL_CT_EVENT_JSON:
    case ESL_CT_EVENT_XML:
    case ESL_CT_LOG_DATA:
        return; /* not asked for; framed correctly, so the stream is still in step */
    }
}

/* The awaited channel list's BACKGROUND_JOB (our Job-UUID, a list job of this instance)? */
static bool is_list_answer(const struct conn *c, const struct esl_frame *f)
{
    struct fsa_bgjob j;
    uint16_t instance;
    return c->list_inflight && f->type == ESL_CT_EVENT_PLAIN && fsa_resync_bgjob(f->body, &j) &&
           fsa_resync_job_parse(j.job_uuid, c->r->p.job_nonce, &instance) == FSA_JOB_LIST &&
           instance == c->instance;
}

/* Frames every whole frame at the start of buf; returns bytes consumed, or SIZE_MAX after a fault. */
static size_t frame_bytes(struct conn *c, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len && c->state != FSA_CONN_CLOSING) {
        struct esl_frame f;
        size_t used = 0;
        const char *err = NULL;
        int rc = esl_framer_next(&c->framer, buf + off, len - off, &f, &used, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            begin_close(c, err == ESL_ERR_FRAME_TOO_LARGE ? FSA_FAULT_FRAME_TOO_LARGE : FSA_FAULT_PROTOCOL, err);
            return SIZE_MAX;
        }
        /*
         * While our channel list is awaited the framer takes frames up to
         * resync_max_bytes; only that list may be one of them. Anything else
         * that large is the fault it always was.
         */
        if (used > c->r->cfg->engine.max_frame_bytes && !is_list_answer(c, &f)) {
            begin_close(c, FSA_FAULT_FRAME_TOO_LARGE, ESL_ERR_FRAME_TOO_LARGE);
            return SIZE_MAX;
        }
        handle_frame(c, &f);
        off += used;
    }
    return c->state == FSA_CONN_CLOSING ? SIZE_MAX : off;
}

static int stash(struct conn *c, const char *p, size_t n)
{
    if (c->len + n > c->cap) {
        /* Cannot happen while the framer enforces max_frame; refuse rather than overflow. */
        begin_close(c, FSA_FAULT_FRAME_TOO_LARGE, "assembly buffer full");
        return -1;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    return 0;
}

static void on_bytes(struct conn *c, const char *data, size_t n)
{
    bump(&c->st->bytes_received, n);
    c->last_rx_ns = c->r->now_ns;
    while (n > 0 && c->state != FSA_CONN_CLOSING) {
        if (c->len == 0) {
            size_t used = frame_bytes(c, data, n);
            if (used == SIZE_MAX)
                return;
            stash(c, data + used, n - used);
            return;
        }
        /*
         * A frame is pending: copy only up to its end when its size is known,
         * else a small step, so a read that splits a header block does not
         * copy the whole next buffer (the framer resumes where it stopped).
         */
        size_t take = n < STASH_STEP ? n : STASH_STEP;
        if (c->framer.header_len) {
            size_t total = c->framer.header_len + c->framer.content_length;
            take = total > c->len ? total - c->len : 0;
            if (take > n)
                take = n;
        }
        if (stash(c, data, take) < 0)
            return;
        data += take;
        n -= take;
        size_t used = frame_bytes(c, c->buf, c->len);
        if (used == SIZE_MAX)
            return;
        if (used) {
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
        }
    }
}

/* ---- completions --------------------------------------------------------- */

static void recycle_buffer(struct fsa_reactor *r, unsigned bid)
{
    io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(r->buf_count), 0);
    io_uring_buf_ring_advance(r->br, 1);
}

static void on_recv(struct conn *c, const struct io_uring_cqe *cqe)
{
    struct fsa_reactor *r = c->r;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (cqe->res > 0 && c->state != FSA_CONN_CLOSING)
            on_bytes(c, r->bufs + (size_t)bid * BUF_SIZE, (size_t)cqe->res);
        recycle_buffer(r, bid);
    }
    if (more)
        return;
    c->recv_armed = false;
    if (c->state == FSA_CONN_CLOSING) {
        op_done(c);
        return;
    }
    if (cqe->res == 0) {
        begin_close(c, c->len ? FSA_FAULT_CLOSED_MID_FRAME : FSA_FAULT_SERVER_CLOSED, NULL);
    } else if (cqe->res < 0 && cqe->res != -ENOBUFS) {
        begin_close(c, FSA_FAULT_IO, strerror(-cqe->res));
    } else {
        /* Buffers ran dry (-ENOBUFS) or the kernel ended the multishot: re-arm, keep reading. */
        arm_recv(c);
    }
    op_done(c);
}

static void on_send(struct conn *c, const struct io_uring_cqe *cqe)
{
    c->send_inflight = false;
    if (c->state != FSA_CONN_CLOSING) {
        if (cqe->res < 0) {
            begin_close(c, FSA_FAULT_IO, strerror(-cqe->res));
        } else {
            size_t sent = (size_t)cqe->res;
            if (sent > c->out_sent)
                sent = c->out_sent;
            memmove(c->out, c->out + sent, c->out_len - sent);
            c->out_len -= sent;
            explicit_bzero(c->out + c->out_len, sizeof(c->out) - c->out_len); /* no password left behind */
            flush_out(c);
        }
    }
    op_done(c);
}

static void on_connect(struct conn *c, const struct io_uring_cqe *cqe)
{
    struct fsa_reactor *r = c->r;
    if (c->state == FSA_CONN_CONNECTING) {
        if (cqe->res == 0) {
            set_state(c, FSA_CONN_AUTHENTICATING);
            c->last_rx_ns = r->now_ns;
            c->deadline_ns = r->now_ns + (uint64_t)r->cfg->engine.connect_timeout_ms * 1000000ull;
            arm_recv(c);
        } else if (cqe->res == -ECONNREFUSED) {
            begin_close(c, FSA_FAULT_CONNECT_REFUSED, NULL);
        } else if (cqe->res == -ECANCELED || cqe->res == -ETIME) {
            begin_close(c, FSA_FAULT_CONNECT_TIMEOUT, NULL);
        } else {
            begin_close(c, FSA_FAULT_CONNECT_ERROR, strerror(-cqe->res));
        }
    }
    op_done(c);
}

static void dispatch(struct fsa_reactor *r, const struct io_uring_cqe *cqe)
{
    uint64_t data = io_uring_cqe_get_data64(cqe);
    unsigned idx = (unsigned)(data >> 8);
    if (idx >= r->nconns)
        return;
    struct conn *c = &r->conns[idx];
    switch ((enum op)(data & 0xff)) {
    case OP_CONNECT: on_connect(c, cqe); break;
    case OP_RECV: on_recv(c, cqe); break;
    case OP_SEND: on_send(c, cqe); break;
    case OP_LINK_TIMEOUT:
    case OP_CANCEL: op_done(c); break;
    }
}

/* ---- timers -------------------------------------------------------------- */

static void run_timers(struct fsa_reactor *r)
{
    const struct fsa_engine_config *e = &r->cfg->engine;
    uint64_t hb_ns = (uint64_t)e->heartbeat_s * 1000000000ull;
    bool stopping = atomic_load_explicit(&r->stop, memory_order_relaxed);
    for (unsigned i = 0; i < r->nconns; i++) {
        struct conn *c = &r->conns[i];
        if (c->lookup)
            check_resolve(c);
        /* What a full submission queue left undone (arm_recv, flush_out): tried again now. */
        if (c->fd >= 0 && c->state != FSA_CONN_CLOSING && c->state != FSA_CONN_CONNECTING) {
            if (!c->recv_armed)
                arm_recv(c);
            flush_out(c);
        }
        switch (c->state) {
        case FSA_CONN_IDLE:
        case FSA_CONN_BACKOFF:
            if (!stopping && r->now_ns >= c->next_attempt_ns)
                start_connect(c);
            break;
        case FSA_CONN_AUTHENTICATING:
        case FSA_CONN_SUBSCRIBING:
            if (r->now_ns >= c->deadline_ns)
                begin_close(c, FSA_FAULT_HANDSHAKE_TIMEOUT, fsa_conn_state_name(c->state));
            break;
        case FSA_CONN_STREAMING:
            if (hb_ns && r->now_ns - c->last_rx_ns >= 3 * hb_ns) {
                begin_close(c, FSA_FAULT_WATCHDOG, NULL);
            } else if (hb_ns && r->now_ns - c->last_rx_ns >= hb_ns && !c->probe_pending) {
                /* Silent for a heartbeat: ask something cheap, a live server answers at once. */
                c->probe_pending = true;
                queue_cmd(c, "api status\n\n", 12);
            }
            break;
        case FSA_CONN_CONNECTING: /* bounded by its linked timeout */
        case FSA_CONN_CLOSING:
            break;
        }
    }
}

static void ring_doorbells(struct fsa_reactor *r)
{
    for (unsigned w = 0; w < r->p.nworkers; w++) {
        if (r->wake[w]) {
            r->wake[w] = false;
            fsa_doorbell_ring(r->p.bells[w]);
        }
    }
}

/* ---- setup and loop ------------------------------------------------------ */

int fsa_reactor_create(const struct fsa_reactor_params *params, struct fsa_reactor **out, const char **why)
{
    struct fsa_reactor *r = calloc(1, sizeof(*r));
    if (!r) {
        *why = "out of memory";
        return -ENOMEM;
    }
    r->p = *params;
    r->cfg = params->cfg;
    atomic_init(&r->stop, false);
    r->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)params->index << 32) ^ fsa_mono_ns();
    r->connect_ts.tv_sec = r->cfg->engine.connect_timeout_ms / 1000;
    r->connect_ts.tv_nsec = (long long)(r->cfg->engine.connect_timeout_ms % 1000) * 1000000LL;
    r->subscribe_len = fsa_reactor_subscribe_command(r->cfg, r->subscribe_cmd, sizeof(r->subscribe_cmd));
    /* This reactor's share of the agent's api-call budget (resync_rate is for the whole agent). */
    r->resync_rate = params->requests && params->nreactors ? (double)r->cfg->engine.resync_rate / params->nreactors : 0;
    r->tokens = 1.0;
    r->tokens_ns = fsa_mono_ns();
    r->wake = calloc(params->nworkers ? params->nworkers : 1, sizeof(bool));
    r->conns = calloc(params->ninstances ? params->ninstances : 1, sizeof(*r->conns));
    /* The caller's arrays are its own: keep copies. */
    r->lanes = calloc(params->nworkers ? params->nworkers : 1, sizeof(*r->lanes));
    r->bells = calloc(params->nworkers ? params->nworkers : 1, sizeof(*r->bells));
    if (!r->wake || !r->conns || !r->lanes || !r->bells) {
        *why = "out of memory";
        fsa_reactor_destroy(r);
        return -ENOMEM;
    }
    for (unsigned w = 0; w < params->nworkers; w++) {
        r->lanes[w] = params->lanes[w];
        r->bells[w] = params->bells[w];
    }
    r->p.lanes = r->lanes;
    r->p.bells = r->bells;
    if (params->requests) {
        r->requests = calloc(params->nworkers ? params->nworkers : 1, sizeof(*r->requests));
        if (!r->requests) {
            *why = "out of memory";
            fsa_reactor_destroy(r);
            return -ENOMEM;
        }
        for (unsigned w = 0; w < params->nworkers; w++)
            r->requests[w] = params->requests[w];
        r->p.requests = r->requests;
    }
    r->p.instances = NULL;
    r->nconns = params->ninstances;
    size_t cap = r->cfg->engine.max_frame_bytes + BUF_SIZE;
    for (unsigned i = 0; i < r->nconns; i++) {
        struct conn *c = &r->conns[i];
        c->r = r;
        c->index = i;
        c->instance = params->instances[i];
        c->icfg = &r->cfg->instances[c->instance];
        c->st = &params->stats[c->instance];
        c->fd = -1;
        c->backoff_ms = r->cfg->engine.backoff_initial_ms;
        esl_framer_init(&c->framer, r->cfg->engine.max_frame_bytes);
        /* Untouched pages cost no RSS: only a frame straddling reads is ever copied here. */
        c->buf = malloc(cap);
        c->cap = cap;
        if (!c->buf) {
            *why = "out of memory (connection buffers)";
            fsa_reactor_destroy(r);
            return -ENOMEM;
        }
        set_state(c, FSA_CONN_IDLE);
    }

    struct io_uring_params up = {0};
    /*
     * SINGLE_ISSUER binds the ring to the thread that enables it: create it
     * disabled here (so setup errors reach the caller) and enable it on the
     * reactor thread in fsa_reactor_run().
     */
    up.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
    int rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &up);
    if (rc == -EINVAL) {
        /* Kernels before 6.1 lack DEFER_TASKRUN: plain setup works the same, a little slower. */
        memset(&up, 0, sizeof(up));
        up.flags = IORING_SETUP_R_DISABLED;
        rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &up);
    }
    if (rc < 0) {
        *why = "io_uring_queue_init";
        fsa_reactor_destroy(r);
        return rc;
    }
    r->ring_ready = true;

    r->buf_count = BUF_COUNT_MIN;
    while (r->buf_count < BUF_COUNT_MAX && r->buf_count < 2 * r->nconns)
        r->buf_count *= 2;
    r->br_bytes = r->buf_count * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, r->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        *why = "mmap buffer ring";
        fsa_reactor_destroy(r);
        return -errno;
    }
    r->br = mem;
    io_uring_buf_ring_init(r->br);
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)r->br, .ring_entries = r->buf_count,
                                   .bgid = BUF_GROUP};
    rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
    if (rc < 0) {
        *why = "io_uring_register_buf_ring (kernel without provided buffer rings?)";
        fsa_reactor_destroy(r);
        return rc;
    }
    r->bufs = aligned_alloc(4096, (size_t)r->buf_count * BUF_SIZE);
    if (!r->bufs) {
        *why = "out of memory (receive buffers)";
        fsa_reactor_destroy(r);
        return -ENOMEM;
    }
    for (unsigned b = 0; b < r->buf_count; b++)
        io_uring_buf_ring_add(r->br, r->bufs + (size_t)b * BUF_SIZE, BUF_SIZE, (unsigned short)b,
                              io_uring_buf_ring_mask(r->buf_count), (int)b);
    io_uring_buf_ring_advance(r->br, r->buf_count);
    *out = r;
    return 0;
}

void fsa_reactor_destroy(struct fsa_reactor *r)
{
    if (!r)
        return;
    if (r->ring_ready) {
        if (r->br)
            io_uring_unregister_buf_ring(&r->ring, BUF_GROUP);
        io_uring_queue_exit(&r->ring);
    }
    if (r->br)
        munmap(r->br, r->br_bytes);
    free(r->bufs);
    for (unsigned i = 0; r->conns && i < r->nconns; i++) {
        struct conn *c = &r->conns[i];
        if (c->lookup)
            fsa_lookup_release(c->lookup); /* a thread still looking frees it when it ends */
        if (c->fd >= 0)
            close(c->fd);
        free(c->buf);
    }
    free(r->conns);
    free(r->wake);
    free(r->names);
    free(r->name_len);
    free(r->lanes);
    free(r->bells);
    free(r->requests);
    free(r);
}

void fsa_reactor_request_stop(struct fsa_reactor *r)
{
    atomic_store_explicit(&r->stop, true, memory_order_release);
}

static void process_completions(struct fsa_reactor *r)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    r->now_ns = fsa_mono_ns();
    r->now_wall_us = fsa_wall_ns() / 1000;
    io_uring_for_each_cqe(&r->ring, head, cqe)
    {
        dispatch(r, cqe);
        seen++;
    }
    io_uring_cq_advance(&r->ring, seen);
}

/* liburing 2.3 declares io_uring_enable_rings() but its library does not export it. */
static int enable_ring(struct io_uring *ring)
{
    long rc = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    return rc < 0 ? -errno : 0;
}

int fsa_reactor_run(struct fsa_reactor *r)
{
    int rc = enable_ring(&r->ring);
    if (rc < 0) {
        fsa_log_error(NULL, "reactor %u: cannot enable io_uring: %s", r->p.index, strerror(-rc));
        return rc;
    }
    r->now_ns = fsa_mono_ns();
    run_timers(r);
    int last_error = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = TIMER_TICK_MS * 1000000LL};
        struct io_uring_cqe *cqe = NULL;
        rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            /* Unexpected: log it once per distinct error, and never spin on it. */
            if (rc != last_error)
                fsa_log_error(NULL, "reactor %u: io_uring wait failed: %s", r->p.index, strerror(-rc));
            last_error = rc;
            struct timespec pause = {.tv_sec = 0, .tv_nsec = TIMER_TICK_MS * 1000000L};
            nanosleep(&pause, NULL);
        }
        process_completions(r);
        publish_names(r);
        ring_doorbells(r);
        if (r->now_ns - r->last_timer_ns >= TIMER_TICK_MS * 1000000ull) {
            r->last_timer_ns = r->now_ns;
            run_timers(r);
            resync_pump(r);
        }
    }

    /* Stop reading: close every connection, then reap until nothing is in flight. */
    for (unsigned i = 0; i < r->nconns; i++)
        begin_close(&r->conns[i], FSA_FAULT_NONE, NULL);
    uint64_t give_up = fsa_mono_ns() + 2000000000ull;
    for (;;) {
        unsigned busy = 0;
        for (unsigned i = 0; i < r->nconns; i++)
            busy += r->conns[i].inflight;
        if (!busy || fsa_mono_ns() > give_up)
            break;
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000LL};
        struct io_uring_cqe *cqe = NULL;
        io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
        process_completions(r);
    }
    ring_doorbells(r);
    for (unsigned i = 0; i < r->nconns; i++)
        set_state(&r->conns[i], FSA_CONN_IDLE);
    return 0;
}
