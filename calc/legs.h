/*
 * legs: a calculator worker's table of live call legs.
 *
 * Shard rule. A leg's events all go to worker fsa_hash64(Unique-ID) mod W
 * (worker.h), so this table is touched by one thread only and needs no lock.
 * Inside the worker the same hash places the leg: the index position comes
 * from the hash's top bits (oaindex.h), not the low bits the shard rule used.
 * The key is (instance, Unique-ID): two FreeSWITCH servers sharing an
 * Unique-ID stay two legs.
 *
 * Memory. Capacity (max_legs) is fixed at creation: a pool of max_legs
 * 256-byte records, a 4-byte free-stack entry each, and an index of 8-byte
 * slots sized for a load factor <= 0.75 (slots = the power of two >= 4/3 x
 * max_legs, so 10.7 to 21.3 bytes per leg): 271 to 281 bytes per leg of
 * capacity (276 at the default 262144: 16 bytes of index). Everything is
 * calloc'ed once; pool records are handed out from a high-water mark (then
 * the free stack), so pages of a large capacity are not touched until legs
 * use them. Nothing is allocated per event. When the pool is full the table
 * refuses the new leg (NULL) and the caller counts it.
 *
 * Records never move: a pointer to a leg stays valid until that leg is
 * removed. Removal is backward-shift deletion in the index (no tombstones)
 * and the record goes back on the free stack.
 *
 * Expiry. fsa_leg_table_next_stale() walks the pool a bounded number of
 * records per call, wrapping around, and hands back legs whose last_seen_ns
 * is ttl_ns or more behind `now`; the caller retires them.
 *
 * Thread contract: fsa_leg_table_* only from the owning worker thread.
 */
#ifndef FSA_LEGS_H
#define FSA_LEGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oaindex.h"
#include "ring/fsa_msg.h"

/*
 * Call-ID kept per leg, with its NUL. FreeSWITCH's own Call-IDs are 36-byte
 * UUIDs; common SIP stacks use 32-64 bytes (e.g. 32 hex + "@" + host:port).
 * 79 bytes keeps all of those and is what fits in 256 bytes; a longer one is
 * cut (at a byte boundary: Call-IDs are ASCII tokens per RFC 3261).
 */
#define FSA_LEG_CALL_ID_MAX 80

enum fsa_leg_rtcp_dir {
    FSA_LEG_RTCP_RECV = 0, /* RECV_RTCP_MESSAGE: far end's report on our stream, "inbound" */
    FSA_LEG_RTCP_SEND = 1, /* SEND_RTCP_MESSAGE: our report on the far end's stream, "outbound" */
};

/* fsa_leg.flags */
#define FSA_LEG_COUNTED 0x01u      /* a LEG_UP was published: a LEG_DOWN is owed */
#define FSA_LEG_RTCP_RECV_OK 0x02u /* rtcp[RECV] holds a delta base */
#define FSA_LEG_RTCP_SEND_OK 0x04u /* rtcp[SEND] holds a delta base */
#define FSA_LEG_LEARNT 0x08u       /* first seen mid-call (no CHANNEL_CREATE): its cumulative Lost has no known start */
#define FSA_LEG_LABELS_PENDING 0x10u /* its labels were asked for; its events wait in the park */
#define FSA_LEG_LABELS_ASKED 0x20u   /* asked once: not again, whatever the answer */
#define FSA_LEG_LISTED 0x40u         /* named by the channel list being read (until its LIST_END) */
#define FSA_LEG_PARKED 0x80u         /* has events in the park: the end of its wait walks the park (else it need not) */

/* Delta base of one RTCP direction: only the last source SSRC is kept. */
struct fsa_leg_rtcp {
    uint32_t source_ssrc; /* report block's source SSRC the base belongs to */
    int32_t last_lost;    /* that source's last cumulative Lost, as int32 (packets) */
};

/*
 * One leg. Units of every stored field:
 *   uuid, call_id        bytes, NUL-terminated ("" uuid = free record)
 *   local_ip, remote_ip  binary address in network order (IPv4 in the first
 *                        4 bytes), *_ip_family 0 (unknown), 4 or 6
 *   a_leg_hash           fsa_hash64 of the A leg's Unique-ID (Channel-Call-UUID
 *                        when it is another leg, else Other-Leg-Unique-ID of an
 *                        outbound leg): names the A leg's worker (mod W) and
 *                        its table slot; 0 = this is an A leg / unknown
 *   created_us           Event-Date-Timestamp of the leg's first event (µs, epoch)
 *   last_seen_ns         monotonic time of its last event (ns; TTL clock)
 *   jitter_*_ms          over every RTCP report block of the leg, both
 *                        directions: sum, min, max in ms; jitter_count blocks
 *   rtcp[dir]            delta base per direction (see fsa_leg_rtcp)
 *   last_rtt_ms          last Rtt0-Avg > 0 in ms (0 = none yet)
 *   last_fraction        last report's Fraction, 0..255 (/256 = loss fraction)
 *   codec_rate           variable_rtp_use_codec_rate (Hz; 0 = unknown)
 *   codec_class          enum fsa_codec_class of codec_id's name
 *   domain_id, codec_id  current labels (fsa_labels ids; 0 = "")
 *   up_*                 the labels its LEG_UP was counted under
 *   domain_rank          enum fsa_domain_rank of domain_id (lower wins)
 *   direction            enum fsa_direction
 */
struct fsa_leg {
    char uuid[FSA_UUID_MAX];
    char call_id[FSA_LEG_CALL_ID_MAX];
    uint8_t local_ip[16];
    uint8_t remote_ip[16];
    uint64_t a_leg_hash;
    uint64_t created_us;
    uint64_t last_seen_ns;
    double jitter_sum_ms;
    double jitter_min_ms;
    double jitter_max_ms;
    struct fsa_leg_rtcp rtcp[2];
    float last_rtt_ms;
    uint32_t jitter_count;
    uint32_t codec_rate;
    uint16_t instance;
    uint16_t domain_id, up_domain_id;
    uint16_t codec_id, up_codec_id;
    uint8_t uuid_len;
    uint8_t direction, up_direction;
    uint8_t domain_rank;
    uint8_t codec_class;
    uint8_t local_ip_family, remote_ip_family;
    uint8_t last_fraction;
    uint8_t flags;
};

_Static_assert(sizeof(struct fsa_leg) <= 256, "a leg record must fit in four cache lines");

/* A lookup key, hashed once and used for find then insert. */
struct fsa_leg_key {
    const char *uuid;
    size_t n; /* 1..FSA_UUID_MAX-1 */
    uint16_t instance;
    uint64_t hash; /* fsa_hash64(uuid, n): the shard hash */
};

struct fsa_leg_key fsa_leg_key_make(uint16_t instance, const char *uuid, size_t n);

struct fsa_leg_table {
    struct fsa_oa_index ix;
    struct fsa_leg *legs; /* pool */
    uint32_t *free_ids;   /* stack of released pool indices */
    uint32_t nfree;
    uint32_t high; /* pool indices [0, high) have been used */
    uint32_t max;
    uint32_t count;     /* live legs */
    uint32_t sweep_pos; /* next pool index the stale walk looks at */
};

/* max_legs 1..FSA_OA_MAX_ENTRIES; 0 or -EINVAL / -ENOMEM. */
int fsa_leg_table_init(struct fsa_leg_table *t, uint32_t max_legs);
void fsa_leg_table_destroy(struct fsa_leg_table *t);

struct fsa_leg *fsa_leg_table_find(const struct fsa_leg_table *t, const struct fsa_leg_key *k);

/*
 * Hints for a batch of lookups (the calculator's group prefetch): first the
 * index slots of every key, then, once those have had time to arrive, the
 * records their home slots name. Only hints: a slot that turns out empty,
 * taken by another leg or changed by the time of find() costs nothing.
 */
static inline void fsa_leg_table_prefetch_slot(const struct fsa_leg_table *t, const struct fsa_leg_key *k)
{
    __builtin_prefetch(&t->ix.slot[fsa_oa_home(&t->ix, fsa_oa_tag(k->hash))]);
}

static inline void fsa_leg_table_prefetch_leg(const struct fsa_leg_table *t, const struct fsa_leg_key *k)
{
    uint32_t tag = fsa_oa_tag(k->hash);
    uint64_t s = t->ix.slot[fsa_oa_home(&t->ix, tag)];
    if (s && fsa_oa_slot_tag(s) == tag) {
        const char *leg = (const char *)&t->legs[fsa_oa_slot_id(s)];
        for (size_t off = 0; off < sizeof(struct fsa_leg); off += 64)
            __builtin_prefetch(leg + off, 1); /* the event updates it */
    }
}
/*
 * Adds a leg that find() did not return: a zeroed record with instance, uuid
 * and uuid_len set. NULL when the table is at capacity (or the key's length
 * is out of range).
 */
struct fsa_leg *fsa_leg_table_insert(struct fsa_leg_table *t, const struct fsa_leg_key *k);
/* Removes a leg returned by find/insert/next_stale; the pointer is dead afterwards. */
void fsa_leg_table_remove(struct fsa_leg_table *t, struct fsa_leg *leg);

/*
 * Next leg with now_ns - last_seen_ns >= ttl_ns, looking at no more than
 * *budget pool records (decremented as it goes); NULL when the budget is
 * spent or the table is empty. The leg stays in the table: retire it, then
 * remove it. A last_seen_ns in the future (clock fed out of order) is age 0.
 */
struct fsa_leg *fsa_leg_table_next_stale(struct fsa_leg_table *t, uint64_t now_ns, uint64_t ttl_ns, unsigned *budget);

static inline uint32_t fsa_leg_table_count(const struct fsa_leg_table *t)
{
    return t->count;
}

#endif
