/*
 * reactor: one thread, one io_uring, a share of the FreeSWITCH instances.
 *
 * A reactor owns its sockets and nothing else. Per connection it connects,
 * authenticates, subscribes narrowly, receives with multishot recv into a
 * provided-buffer ring, frames ESL incrementally and turns each event the
 * calculators use into a fsa_event_msg on the lane of worker
 * fsa_shard_of(Unique-ID). It never blocks on a worker: a full lane drops the
 * event and counts it, and reading goes on (FreeSWITCH kills listeners that
 * stop reading).
 *
 * Faults (refused connect, wrong password, ACL rejection, EOF, mid-frame EOF,
 * silence past 3 heartbeats, oversized or malformed frame, handshake timeout)
 * each give one log line with the instance and the cause, a counter, and a
 * reconnect after exponential backoff with jitter, reset after a good session.
 *
 * Counters per instance live in struct fsa_instance_stats: written only by the
 * owning reactor thread, read relaxed by anyone (admin, logs, tests).
 */
#ifndef FSA_REACTOR_H
#define FSA_REACTOR_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "ring/fsa_msg.h"
#include "ring/fsa_ring.h"

enum fsa_fault {
    FSA_FAULT_NONE = 0,
    FSA_FAULT_CONNECT_REFUSED,
    FSA_FAULT_CONNECT_TIMEOUT,
    FSA_FAULT_CONNECT_ERROR,
    FSA_FAULT_RESOLVE,
    FSA_FAULT_AUTH_FAILED,
    FSA_FAULT_ACL_REJECTED,
    FSA_FAULT_HANDSHAKE_TIMEOUT,
    FSA_FAULT_SUBSCRIBE_FAILED,
    FSA_FAULT_SERVER_CLOSED,
    FSA_FAULT_CLOSED_MID_FRAME,
    FSA_FAULT_DISCONNECT_NOTICE,
    FSA_FAULT_WATCHDOG,
    FSA_FAULT_FRAME_TOO_LARGE,
    FSA_FAULT_PROTOCOL,
    FSA_FAULT_IO,
    FSA_FAULT_COUNT
};

/* Stable snake_case name, used in logs and as a Prometheus label value. */
const char *fsa_fault_name(enum fsa_fault f);
/* What an operator reads in /health's last_error. */
const char *fsa_fault_text(enum fsa_fault f);

enum fsa_conn_state {
    FSA_CONN_IDLE = 0,
    FSA_CONN_CONNECTING,
    FSA_CONN_AUTHENTICATING,
    FSA_CONN_SUBSCRIBING,
    FSA_CONN_STREAMING,
    FSA_CONN_CLOSING,
    FSA_CONN_BACKOFF,
};
const char *fsa_conn_state_name(enum fsa_conn_state s);

/* Padded so two reactors' instances never share a cache line. */
struct fsa_instance_stats {
    _Alignas(FSA_CACHELINE) atomic_int state; /* enum fsa_conn_state */
    atomic_int last_fault;                     /* enum fsa_fault */
    atomic_uint_fast64_t last_event_unix_us;   /* wall clock of the last event received */
    atomic_uint_fast64_t connected_since_unix_us;
    atomic_uint_fast64_t bytes_received;
    atomic_uint_fast64_t frames_received;
    atomic_uint_fast64_t events_received;      /* every event frame, used or not */
    atomic_uint_fast64_t heartbeats;
    atomic_uint_fast64_t events_other;         /* valid events the calculators do not use (BACKGROUND_JOB, ...) */
    atomic_uint_fast64_t sq_full;              /* io_uring submissions put off: its queue was full (retried) */
    atomic_uint_fast64_t events_published[FSA_EV_KIND_COUNT];
    atomic_uint_fast64_t events_dropped_ring_full;
    atomic_uint_fast64_t events_decode_errors;
    atomic_uint_fast64_t connects;             /* sessions that reached streaming */
    atomic_uint_fast64_t reconnects;           /* connect attempts after the first */
    atomic_uint_fast64_t faults[FSA_FAULT_COUNT];
    /* Resume (reactor.c "Resync"): api calls sent, and what came of them. */
    atomic_uint_fast64_t resync_lists;          /* `bgapi show channels as json` sent */
    atomic_uint_fast64_t resync_channels;       /* Unique-IDs the lists named */
    atomic_uint_fast64_t resync_dumps;          /* `bgapi uuid_dump` sent */
    atomic_uint_fast64_t resync_dumps_ok;       /* answered with the channel's headers */
    atomic_uint_fast64_t resync_dumps_failed;   /* -ERR (the channel ended), or unreadable */
    atomic_uint_fast64_t resync_dumps_unsent;   /* asked for while the connection was down */
    atomic_uint_fast64_t resync_dropped_ring_full; /* answers lost to a full lane */
};

struct fsa_reactor;

struct fsa_reactor_params {
    unsigned index;
    const struct fsa_config *cfg;
    const unsigned *instances;        /* global instance indexes this reactor owns */
    unsigned ninstances;
    struct fsa_lane **lanes;          /* [worker]: lanes this reactor produces into */
    struct fsa_doorbell **bells;      /* [worker] */
    unsigned nworkers;
    struct fsa_instance_stats *stats; /* [global instance index] */
    /*
     * [worker]: lanes of struct fsa_label_request this reactor consumes (NULL:
     * no resync): workers ask here for the labels of legs learnt mid-call.
     */
    struct fsa_lane **requests;
    unsigned nreactors; /* the agent's: resync_rate is shared among them */
    uint32_t job_nonce; /* marks this process's BACKGROUND_JOBs (resync.h); the agent picks it at random */
};

/* 0 or -errno; *why names what failed (static string). */
int fsa_reactor_create(const struct fsa_reactor_params *params, struct fsa_reactor **out, const char **why);
void fsa_reactor_destroy(struct fsa_reactor *r);
/* Thread body: runs until fsa_reactor_request_stop(); closes its sockets on the way out. 0 or -errno. */
int fsa_reactor_run(struct fsa_reactor *r);
void fsa_reactor_request_stop(struct fsa_reactor *r);

/* Builds the subscription command for the config (exposed for tests). */
size_t fsa_reactor_subscribe_command(const struct fsa_config *cfg, char *out, size_t cap);

#endif
