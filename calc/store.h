/*
 * store: where a leg's persistent fields may also live, besides the worker.
 *
 * contract.md: `memory` (default) keeps leg state only in the calculator
 * workers; `redis` also writes what a resume needs (labels, RTCP delta
 * bases, jitter accumulators) so another agent can carry on after a restart
 * or failover. This is the seam the Redis back end plugs into; the memory
 * back end persists nothing.
 *
 * Writes are behind (calc.c): the worker marks a leg dirty when one of its
 * parts changed and, once per flush interval, hands the store the parts that
 * changed (jitter at most every checkpoint interval), grouped by instance,
 * then ends the round; the store coalesces them into few commands. Loads
 * never wait: load() queues the question and poll() hands each answer to a
 * callback later, on the worker's thread; meanwhile the leg's events wait in
 * the worker's park. Nothing here blocks except drain(), used at stop.
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

/* Parts of a leg's state, written separately: each only when it changed. */
enum {
    FSA_STORE_PART_LABELS = 1u, /* call_id, domain, codec, direction, media IPs, a leg, created, learnt */
    FSA_STORE_PART_BASES = 2u,  /* RTCP delta bases of both directions, last fraction */
    FSA_STORE_PART_JITTER = 4u, /* jitter accumulators and last RTT */
    FSA_STORE_PART_ALL = 7u,
};

/* Results of a load, as passed to fsa_store_loaded_fn. */
enum {
    FSA_STORE_LOAD_FAILED = -1, /* Redis down or slow, or the answer could not be read (counted by the store) */
    FSA_STORE_LOAD_MISS = 0,
    FSA_STORE_LOAD_HIT = 1,     /* the current format */
    FSA_STORE_LOAD_HIT_OLD = 2, /* a previous format: the caller should write every part again */
};

/* A load's answer. state->instance and state->uuid are the key asked for; the rest is filled on a hit. */
typedef void (*fsa_store_loaded_fn)(void *arg, const struct fsa_leg_state *state, int result);

/* A sweep's question: is this leg live (or not this worker's to judge)? */
typedef bool (*fsa_store_keep_fn)(void *arg, uint16_t instance, const char *uuid, size_t uuid_len);

struct fsa_store_ops {
    const char *name;
    /*
     * false: the back end keeps nothing (memory), and the worker skips
     * building fsa_leg_state altogether.
     */
    bool persistent;
    /* Queues a load; its answer comes through poll(). 0, or -errno: no answer will come (counted). */
    int (*load)(void *ctx, uint16_t instance, const char *uuid, size_t uuid_len);
    /* Queues a write of `parts` (FSA_STORE_PART_*). 0; -EAGAIN: no room now, keep it for a later round; -errno. */
    int (*save)(void *ctx, const struct fsa_leg_state *state, unsigned parts);
    /* Queues the removal of a leg's state. 0, -EAGAIN or -errno as save. */
    int (*del)(void *ctx, uint16_t instance, const char *uuid, size_t uuid_len);
    /* The round's saves and deletes are complete: send them (with the TTL refresh). */
    void (*round_end)(void *ctx);
    /* Never blocks: sends, reads answers (each finished load goes to loaded), reconnects when due. */
    void (*poll)(void *ctx, fsa_store_loaded_fn loaded, void *arg);
    /* true while loads or writes await an answer: the worker polls again soon instead of sleeping long. */
    bool (*busy)(void *ctx);
    /* Connections made so far: a change means earlier writes may be lost, so the worker writes everything again. */
    uint64_t (*epoch)(void *ctx);
    /*
     * Walks what the store holds for `instance` (in pages, from poll: never
     * waits) and deletes every leg keep() says is not live. Called when a
     * whole channel list was read: a leg that ended while no agent watched
     * its instance is in neither the list nor any worker's table. keep()
     * runs on the worker's thread, between its events, and must not call the
     * store. A sweep already under way for another instance queues this one.
     */
    void (*sweep)(void *ctx, uint16_t instance, fsa_store_keep_fn keep, void *arg);
    /* At stop: sends everything queued and waits for the answers until deadline_ns (monotonic). */
    void (*drain)(void *ctx, uint64_t deadline_ns, fsa_store_loaded_fn loaded, void *arg);
};

struct fsa_store {
    const struct fsa_store_ops *ops;
    void *ctx;
};

/* The memory back end: keeps nothing, never fails. The Redis one: store_redis.h. */
extern const struct fsa_store_ops fsa_store_memory_ops;

#endif
