/*
 * store: where a leg's persistent fields may also live, besides the worker.
 *
 * contract.md: `memory` (default) keeps leg state only in the calculator
 * workers; `redis` also writes it to Redis (hash per leg, 24 h TTL, refreshed
 * on update) so another agent can carry on after a restart or failover. This
 * is the seam the Redis back end plugs into; the memory back end persists
 * nothing.
 *
 * When the worker calls it (calc.c):
 *   load    when an event other than CHANNEL_CREATE (a leg's first event,
 *           so nothing can be stored for it) names a leg the table does not
 *           hold, before the leg is created: a hit seeds the new record
 *           (labels, RTCP delta bases, jitter accumulators), so loss deltas
 *           do not restart at 0 after a failover.
 *   save    after an event changed a live leg (at most once per event).
 *   del     when the leg is retired (CHANNEL_HANGUP_COMPLETE or TTL expiry).
 * A back end must not block the worker for long: the Redis one is expected
 * to pipeline saves and deletes and bound a load by its configured timeout;
 * a failure is returned, counted by the worker, and the worker carries on
 * from memory (contract: "If Redis is down, the agent keeps working").
 *
 * Thread contract: one store context per worker, called only from that
 * worker's thread (each worker owns its Redis connection): no locks.
 */
#ifndef FSA_STORE_H
#define FSA_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "legs.h"
#include "ring/fsa_msg.h"

/*
 * A leg's persistent fields, with labels as strings (a leg record's label
 * ids mean nothing outside its worker). Units as in struct fsa_leg.
 * Not persisted: the table position, last_seen_ns (a monotonic clock is
 * per host) and the up_* labels and COUNTED flag (a loading agent counts the
 * leg in its own aggregates).
 */
struct fsa_leg_state {
    uint16_t instance;
    uint8_t direction;
    uint8_t domain_rank;
    uint8_t flags; /* FSA_LEG_RTCP_RECV_OK | FSA_LEG_RTCP_SEND_OK | FSA_LEG_LEARNT */
    uint8_t last_fraction;
    uint8_t local_ip_family, remote_ip_family;
    char uuid[FSA_UUID_MAX];
    char call_id[FSA_LEG_CALL_ID_MAX];
    char domain[FSA_DOMAIN_MAX];
    char codec[FSA_CODEC_MAX];
    uint8_t local_ip[16];
    uint8_t remote_ip[16];
    uint32_t codec_rate;
    uint32_t jitter_count;
    uint64_t a_leg_hash;
    uint64_t created_us;
    double jitter_sum_ms, jitter_min_ms, jitter_max_ms;
    double last_rtt_ms;
    struct fsa_leg_rtcp rtcp[2];
};

struct fsa_store_ops {
    const char *name;
    /*
     * false: the back end keeps nothing (memory), and the worker skips
     * building fsa_leg_state altogether.
     */
    bool persistent;
    /* 1 and *out filled when found, 0 when not, -errno on failure. */
    int (*load)(void *ctx, uint16_t instance, const char *uuid, size_t uuid_len, struct fsa_leg_state *out);
    /* 0 or -errno. May queue: the state is copied before it returns. */
    int (*save)(void *ctx, const struct fsa_leg_state *state);
    /* 0 or -errno. */
    int (*del)(void *ctx, uint16_t instance, const char *uuid, size_t uuid_len);
    /* Called when the worker is idle: send what was queued. May be NULL. */
    void (*flush)(void *ctx);
};

struct fsa_store {
    const struct fsa_store_ops *ops;
    void *ctx;
};

/* The memory back end: keeps nothing, never fails. The Redis one: store_redis.h. */
extern const struct fsa_store_ops fsa_store_memory_ops;

#endif
