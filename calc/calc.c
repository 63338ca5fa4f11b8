/*
 * calc: leg life cycle, RTCP and end-of-call QoS calculators.
 *
 * Shard rule. Every event of a leg reaches the same worker (fsa_hash64 of
 * the Unique-ID mod W, worker.h), which alone owns this calc: no locks, no
 * shared writes, no allocation after fsa_calc_create(), no syscalls.
 *
 * Leg life cycle.
 *   created   by its first event of ANY kind: ESL does not promise order, so
 *             an RTCP report may precede CHANNEL_CREATE. A LEG_UP record is
 *             published right after that first event's fields are applied
 *             (labels as known then; they are remembered in the up_* fields).
 *             If the output lane was full, the LEG_UP is retried at the leg's
 *             next event: a leg is counted once, and only if its LEG_UP went out.
 *   filled    by CHANNEL_CREATE / _ANSWER / _BRIDGE (and HANGUP_COMPLETE):
 *             a field is only overwritten by a non-empty value; the domain
 *             keeps the best rank ever seen (variable_domain_name beats
 *             sip_from_host beats sip_to_host beats sip_req_host, and any
 *             name beats any IP literal, which the decoder ranks
 *             FSA_DOMAIN_IP_LITERAL lower with its port removed; an equal
 *             rank replaces, so a dialplan that changes domain_name is
 *             followed). Not followed: a variable that turns from a name into
 *             an IP literal in a later event keeps the name (FreeSWITCH sets
 *             these hosts once per dialog).
 *   retired   at CHANNEL_HANGUP_COMPLETE: QoS record (legs with media only),
 *             then LEG_DOWN with the hangup cause; or after leg_ttl_s without
 *             any event (fsa_calc_sweep, bounded work per call): LEG_DOWN
 *             "TTL_EXPIRED", no QoS. A LEG_DOWN repeats its LEG_UP's labels.
 *             A hangup for a leg not in the table (first event of the leg, or
 *             a full table) is handled on a stack copy: LEG_UP, QoS, LEG_DOWN.
 *   after     a small direct-mapped memory of recently retired legs drops
 *             late RTCP/channel events (counted in events_late) instead of
 *             resurrecting a zombie leg that would count as active for a day.
 *             CHANNEL_CREATE always creates; a late HANGUP_COMPLETE is still
 *             handled (its QoS is worth more than the rare double LEG_DOWN).
 *   bound     a new leg in a full table is refused and counted
 *             (legs_refused, one per refused event); nothing crashes.
 *
 * RTCP, per report block with a non-zero source SSRC (one record each):
 *   jitter_ms     = Jitter x 1000 / clock; clock = RTP-Rate when > 0, else the
 *                   codec's RTP clock (8000 PCMU/PCMA/G722/G729, 48000 OPUS),
 *                   else the leg's codec rate, else 8000.
 *   packets_lost  = int32(Lost) - base, or 0 when that is negative. base is
 *                   the previous report's int32(Lost) for the same leg,
 *                   direction and source SSRC. "The first report counts from
 *                   0": with no previous report, base = 0, so the first delta
 *                   is the report's own cumulative value (a cumulative -1 gives
 *                   0). That holds for a leg whose CHANNEL_CREATE this worker
 *                   saw. A leg learnt mid-call (first event not CHANNEL_CREATE:
 *                   agent started, restarted, reconnected or took over) with no
 *                   stored base has a cumulative count that began before us: its
 *                   first report per direction only sets the base and carries no
 *                   packets_lost (NaN; counted in rtcp_base_only), so a leg's
 *                   deltas never add up to more than its final cumulative Lost.
 *                   Only the last source SSRC is kept per direction: a
 *                   report from another SSRC is that stream's first report
 *                   (base 0) and becomes the new base. The base always moves
 *                   to the last report, even after a decrease (the contract's
 *                   "minus the previous report's"), so a dip and recovery of
 *                   the cumulative count is counted again.
 *   fraction_lost = Fraction / 256 (Fraction clamped to 255).
 *   rtt_ms        = Rtt0-Avg x 1000 when > 0, else NaN. SEND reports carry no
 *                   RTT: NaN.
 *   mos           = E-model with this report's jitter_ms, the leg's last
 *                   RTT > 0 (this report's if it has one; else 0) and
 *                   loss % = Fraction / 256 x 100, codec from the leg,
 *                   Bpl as emodel.plc says (emodel.c).
 *   direction     = inbound for RECV, outbound for SEND.
 *   Every block also feeds the leg's jitter accumulators (count, sum, min,
 *   max in ms) and last_fraction.
 *
 * QoS at CHANNEL_HANGUP_COMPLETE, only if the event has media statistics
 * (rtp_audio_in_packet_count or _out_packet_count):
 *   mos_score     = rtp_audio_in_mos
 *   jitter_avg_ms = mean of ALL the leg's RTCP report blocks, RECV and SEND
 *                   (the contract's "the leg's RTCP jitter reports"), NaN
 *                   without any; jitter_min/max_ms = their min/max, else
 *                   sqrt(rtp_audio_in_jitter_min/max_variance) (NaN if absent).
 *   total_packets = in_packet_count + out_packet_count
 *   packet_loss   = in_lost + out_lost, with
 *                   in_lost  = last cumulative Lost of SEND reports (our view
 *                              of what we receive) if any, else
 *                              rtp_audio_in_skip_packet_count;
 *                   out_lost = last cumulative Lost of RECV reports if any
 *                              (the far end's view of what we send), else 0;
 *                   a negative cumulative counts as 0; "last" is the last
 *                   report of the current source SSRC.
 *   total_bytes   = in_raw_bytes + out_raw_bytes
 *   r_factor, mos_emodel = E-model (Bpl per emodel.plc) for the whole leg with
 *                   jitter = jitter_avg_ms if the leg had reports, else
 *                            jitter_max_ms (sqrt of the max variance: the
 *                            pessimistic end), else 0;
 *                   RTT    = the leg's last RTT > 0, else 0;
 *                   loss % = 100 x packet_loss / expected, expected =
 *                            in_packet_count + in_lost (what should have
 *                            arrived) + out_packet_count (what we sent, which
 *                            out_lost is part of); 0 when expected is 0.
 *   hold_seconds  = variable_hold_accum_seconds (NaN if absent).
 *   media_gap_ratio = in_skip / (in_packet_count + in_skip): the share of
 *                   the jitter buffer's 20 ms ticks with no packet to play.
 *                   NaN when both are absent or the sum is 0. It is not an
 *                   E-model input: packets a far side never sent (its
 *                   sendto() failed, or VAD/DTX silence) show up here and
 *                   nowhere else, and silence is no loss. Hold counts too
 *                   (no media while held); hold_seconds is exported beside
 *                   it so the two can be told apart, the ratio itself keeps
 *                   the contract's definition.
 *   A counter absent from the event counts as 0 in a sum; a sum whose every
 *   term is absent is NaN.
 *
 * Units of stored state: see struct fsa_leg (legs.h).
 */
#include "calc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "emodel.h"
#include "labels.h"
#include "ring/fsa_str.h"
#include "ring/fsa_time.h"
#include "snapshot.h"

#define ENDED_SLOTS 4096u /* recently retired legs remembered (power of two) */
#define ENDED_BITS 12
#define RTT_CAP_MS 1e6 /* longer "RTTs" are garbage; keeps the float finite */

/*
 * What a persistent store holds of a leg, beside its record (which has no
 * room left in its four cache lines): indexed like the table's pool, reset
 * when a record is taken, allocated only with a persistent store.
 */
struct leg_store {
    uint32_t labels, bases, jitter; /* digests of the labels and the bases as written last, and jitter_count */
    uint32_t next;                  /* the next leg queued for the same instance, LS_END: none */
    uint8_t flags;                  /* LS_* */
};
#define LS_END UINT32_MAX
#define LS_QUEUED 0x01u  /* linked in an instance's list of legs to write (or in the round's) */
#define LS_HELD 0x02u    /* the store may hold something of it: a delete is owed at its end */
#define LS_LOADING 0x04u /* its load was asked for: the answer is awaited */
#define LS_WANTED 0x08u  /* its load waits for room in the store's queue */
#define LS_JITTER_DUE 0x10u /* its jitter goes with its next write (checkpoint, stop, reconnect) */

#define STORE_DELS_MAX 4096u   /* deletes gathered between rounds; a full list is sent at once */
#define ROUND_SLICE 256u       /* legs written per store tick (~0.5 ms): a round is spread between batches of events */
#define CHECKPOINT_SLICE 1024u /* leg records looked at per store tick by the checkpoint walk */

struct store_del {
    uint16_t instance;
    uint8_t n;
    char uuid[FSA_UUID_MAX];
};

struct park_slot {
    uint64_t parked_ns;
    struct fsa_event_msg msg;
};

enum counter {
    C_LEGS_ACTIVE,
    C_LEGS_CREATED,
    C_LEGS_ENDED,
    C_LEGS_EXPIRED,
    C_LEGS_REFUSED,
    C_EVENTS_LATE,
    C_MESSAGES_INVALID,
    C_RTCP_PROCESSED,
    C_LEGS_LEARNT,
    C_RTCP_BASE_ONLY,
    C_LABELS_REQUESTED,
    C_LABELS_RECEIVED,
    C_LABELS_FAILED,
    C_LABELS_TIMEOUT,
    C_LABELS_UNREQUESTED,
    C_EVENTS_PARKED,
    C_PARK_FULL,
    C_LEGS_GONE,
    C_QOS_GENERATED,
    C_LABELS_FULL,
    C_STORE_LOADS,
    C_STORE_HITS,
    C_STORE_SAVES,
    C_STORE_DELETES,
    C_STORE_ERRORS,
    C_STORE_ROUNDS,
    C_STORE_DEFERRED,
    C_STORE_LOADS_LATE,
    C_STORE_LOADS_TIMEOUT,
    C_RECORDS,                                  /* [kind] */
    C_DROPPED = C_RECORDS + FSA_REC_KIND_COUNT, /* [kind] */
    C_COUNT = C_DROPPED + FSA_REC_KIND_COUNT
};

struct fsa_calc {
    struct fsa_leg_table legs;
    struct fsa_labels labels;
    struct fsa_lane *output;
    fsa_calc_emit_fn emit;
    void *emit_ctx;
    struct fsa_store store;
    struct fsa_snapshot *snapshot;
    bool persistent;
    bool plc; /* emodel.plc */
    unsigned ninstances;
    uint64_t ttl_ns;
    unsigned published;               /* since the last fsa_calc_take_published() */
    uint64_t *ended;                  /* [ENDED_SLOTS] recently retired keys, 0 = empty */
    struct fsa_metric_record scratch; /* the record being built when there is no lane */
    /*
     * The park: events of legs waiting for their labels, in arrival order (a
     * ring of FSA_CALC_PARK_SLOTS; a released slot has kind NONE until the
     * head passes it). Bounded, allocated once.
     */
    struct park_slot *park;
    uint32_t park_head, park_tail; /* positions, mod FSA_CALC_PARK_SLOTS */
    uint64_t label_wait_ns;
    bool (*request_labels)(void *ctx, uint16_t instance, const char *uuid, size_t n);
    void *request_ctx;
    uint64_t request_retry_ns; /* no label request before this (the last one found the lane full) */
    struct fsa_event_msg replay; /* the parked event being handled again */
    /*
     * Write-behind (persistent store only): legs with a change not yet
     * written (each once: FSA_LEG_STORE_QUEUED; entries of legs retired since
     * are skipped), the legs of one round sorted by instance, deletes owed,
     * and legs whose load waits for room in the store's queue.
     */
    struct leg_store *ls; /* [max_legs] */
    uint32_t nbuckets;    /* lists of queued legs: one per instance (the last also takes any higher id) */
    uint32_t *qhead, *qtail, *rhead; /* [nbuckets] queued for the next round; the round's own */
    uint32_t rbucket, rnode;         /* the round's position: list, next leg */
    bool round_active;
    bool ckpt_active; /* the checkpoint walk is under way, at ckpt_pos */
    uint32_t ckpt_pos;
    struct store_del *dels;
    uint32_t ndels;
    uint32_t *to_load, load_head, load_tail, load_cap; /* ring of pool indices */
    uint64_t flush_ns, checkpoint_ns, next_round_ns, next_checkpoint_ns, store_epoch;
    uint64_t tick_ns; /* clock of the last store tick (answers that end a wait use it) */
    uint64_t final_deadline_ns; /* at stop: a full store is waited for until then */
    unsigned shard_index, shard_count; /* fsa_calc_params */
    /* Written by the worker thread only (load + store, no RMW), read by anyone. */
    _Alignas(FSA_CACHELINE) atomic_uint_fast64_t ctr[C_COUNT];
};

/* ---- counters ---------------------------------------------------------------------------------------------- */

static inline void bump(struct fsa_calc *c, int i)
{
    atomic_store_explicit(&c->ctr[i], atomic_load_explicit(&c->ctr[i], memory_order_relaxed) + 1, memory_order_relaxed);
}

static inline void set_ctr(struct fsa_calc *c, int i, uint64_t v)
{
    atomic_store_explicit(&c->ctr[i], v, memory_order_relaxed);
}

void fsa_calc_stats_read(const struct fsa_calc *c, struct fsa_calc_stats *o)
{
#define R(i) atomic_load_explicit(&c->ctr[i], memory_order_relaxed)
    memset(o, 0, sizeof(*o));
    o->legs_active = R(C_LEGS_ACTIVE);
    o->legs_created = R(C_LEGS_CREATED);
    o->legs_ended = R(C_LEGS_ENDED);
    o->legs_expired = R(C_LEGS_EXPIRED);
    o->legs_refused = R(C_LEGS_REFUSED);
    o->events_late = R(C_EVENTS_LATE);
    o->messages_invalid = R(C_MESSAGES_INVALID);
    o->rtcp_processed = R(C_RTCP_PROCESSED);
    o->legs_learnt = R(C_LEGS_LEARNT);
    o->rtcp_base_only = R(C_RTCP_BASE_ONLY);
    o->labels_requested = R(C_LABELS_REQUESTED);
    o->labels_received = R(C_LABELS_RECEIVED);
    o->labels_failed = R(C_LABELS_FAILED);
    o->labels_timeout = R(C_LABELS_TIMEOUT);
    o->labels_unrequested = R(C_LABELS_UNREQUESTED);
    o->events_parked = R(C_EVENTS_PARKED);
    o->park_full = R(C_PARK_FULL);
    o->legs_gone = R(C_LEGS_GONE);
    o->qos_generated = R(C_QOS_GENERATED);
    o->labels_full = R(C_LABELS_FULL);
    o->store_loads = R(C_STORE_LOADS);
    o->store_hits = R(C_STORE_HITS);
    o->store_saves = R(C_STORE_SAVES);
    o->store_deletes = R(C_STORE_DELETES);
    o->store_errors = R(C_STORE_ERRORS);
    o->store_rounds = R(C_STORE_ROUNDS);
    o->store_deferred = R(C_STORE_DEFERRED);
    o->store_loads_late = R(C_STORE_LOADS_LATE);
    o->store_loads_timeout = R(C_STORE_LOADS_TIMEOUT);
    for (int k = 0; k < FSA_REC_KIND_COUNT; k++) {
        o->records[k] = R(C_RECORDS + k);
        o->records_dropped[k] = R(C_DROPPED + k);
    }
#undef R
}

/* ---- create / destroy -------------------------------------------------------------------------------------- */

struct fsa_calc *fsa_calc_create(const struct fsa_calc_params *p)
{
    uint32_t max_legs = p->max_legs ? p->max_legs : FSA_CALC_DEFAULT_MAX_LEGS;
    uint32_t ttl_s = p->leg_ttl_s ? p->leg_ttl_s : FSA_CALC_DEFAULT_LEG_TTL_S;
    if (max_legs > FSA_OA_MAX_ENTRIES)
        return NULL;
    struct fsa_calc *c = aligned_alloc(FSA_CACHELINE, sizeof(*c));
    if (!c)
        return NULL;
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < C_COUNT; i++)
        atomic_init(&c->ctr[i], 0);
    /*
     * A leg references at most 4 label strings (domain, codec and their
     * LEG_UP copies), so 4 x max_legs entries can never run out; ids are
     * 16-bit, so a large table is capped and may fill under a flood of
     * invented domains (counted in labels_full).
     */
    uint64_t label_cap = (uint64_t)max_legs * 4;
    if (label_cap > FSA_LABELS_MAX_CAPACITY)
        label_cap = FSA_LABELS_MAX_CAPACITY;
    c->ended = calloc(ENDED_SLOTS, sizeof(*c->ended));
    c->store = p->store && p->store->ops ? *p->store : (struct fsa_store){&fsa_store_memory_ops, NULL};
    c->persistent = c->store.ops->persistent;
    if (c->persistent) {
        c->load_cap = 2 * max_legs + 1024; /* live legs plus entries of legs retired before their turn */
        c->to_load = malloc((size_t)c->load_cap * sizeof(*c->to_load));
        c->dels = malloc(STORE_DELS_MAX * sizeof(*c->dels));
        c->ls = malloc((size_t)max_legs * sizeof(*c->ls));
        c->nbuckets = p->ninstances ? p->ninstances : 1;
        c->qhead = malloc(c->nbuckets * sizeof(*c->qhead));
        c->qtail = malloc(c->nbuckets * sizeof(*c->qtail));
        c->rhead = malloc(c->nbuckets * sizeof(*c->rhead));
        if (!c->ls || !c->qhead || !c->qtail || !c->rhead || !c->to_load || !c->dels) {
            fsa_calc_destroy(c);
            return NULL;
        }
        c->flush_ns = (uint64_t)(p->store_flush_ms ? p->store_flush_ms : FSA_CALC_DEFAULT_STORE_FLUSH_MS) * 1000000ull;
        c->checkpoint_ns =
            (uint64_t)(p->store_checkpoint_s ? p->store_checkpoint_s : FSA_CALC_DEFAULT_STORE_CHECKPOINT_S) *
            1000000000ull;
        for (uint32_t i = 0; i < max_legs; i++)
            c->ls[i] = (struct leg_store){.next = LS_END};
        for (uint32_t b = 0; b < c->nbuckets; b++)
            c->qhead[b] = c->qtail[b] = c->rhead[b] = LS_END;
    }
    if (p->request_labels || c->persistent) {
        c->park = calloc(FSA_CALC_PARK_SLOTS, sizeof(*c->park)); /* pages untouched until a resume parks */
        if (!c->park) {
            fsa_calc_destroy(c);
            return NULL;
        }
    }
    c->request_labels = p->request_labels;
    c->request_ctx = p->request_ctx;
    c->label_wait_ns = (uint64_t)(p->label_wait_ms ? p->label_wait_ms : FSA_CALC_DEFAULT_LABEL_WAIT_MS) * 1000000ull;
    if (!c->ended || fsa_leg_table_init(&c->legs, max_legs) < 0 ||
        fsa_labels_init(&c->labels, (uint32_t)label_cap) < 0) {
        fsa_calc_destroy(c);
        return NULL;
    }
    c->output = p->output;
    c->emit = p->emit;
    c->emit_ctx = p->emit_ctx;
    c->snapshot = p->snapshot;
    c->shard_index = p->shard_index;
    c->shard_count = p->shard_count;
    c->ninstances = p->ninstances;
    c->plc = !p->emodel_no_plc;
    c->ttl_ns = (uint64_t)ttl_s * 1000000000ull;
    return c;
}

void fsa_calc_destroy(struct fsa_calc *c)
{
    if (!c)
        return;
    fsa_leg_table_destroy(&c->legs);
    fsa_labels_destroy(&c->labels);
    free(c->ended);
    free(c->park);
    free(c->qhead);
    free(c->qtail);
    free(c->rhead);
    free(c->to_load);
    free(c->dels);
    free(c->ls);
    free(c);
}

/* ---- helpers ----------------------------------------------------------------------------------------------- */

/* A fixed-size string field from a message that may lack its NUL. */
static inline struct fsa_str field_str(const char *p, size_t cap)
{
    return fsa_str_make(p, strnlen(p, cap));
}

/* Copies a C string of at most src_cap bytes into dst[cap], terminated, cut if needed. */
static inline void copy_field(char *dst, size_t cap, const char *src, size_t src_cap)
{
    fsa_str_copy(dst, cap, field_str(src, src_cap));
}

/* Cumulative Lost is a signed 24-bit count printed unsigned: reinterpret as int32 without relying on casts. */
static inline int32_t as_int32(uint32_t u)
{
    return u <= INT32_MAX ? (int32_t)u : (int32_t)((int64_t)u - 4294967296LL);
}

static uint16_t intern(struct fsa_calc *c, struct fsa_str s)
{
    uint64_t full = c->labels.full;
    uint16_t id = fsa_labels_intern(&c->labels, s.p, s.n);
    if (c->labels.full != full)
        bump(c, C_LABELS_FULL);
    return id;
}

/* Replaces a label reference with s (non-empty), unless it already says s. */
static void set_label(struct fsa_calc *c, uint16_t *id, struct fsa_str s)
{
    const char *cur = fsa_labels_str(&c->labels, *id);
    if (strlen(cur) == s.n && memcmp(cur, s.p, s.n) == 0)
        return;
    uint16_t nid = intern(c, s);
    fsa_labels_release(&c->labels, *id);
    *id = nid;
}

static unsigned leg_clock(const struct fsa_leg *l)
{
    unsigned k = fsa_emodel_codec((enum fsa_codec_class)l->codec_class)->rtp_clock;
    if (k)
        return k;
    return l->codec_rate ? l->codec_rate : 8000;
}

/* Text IP -> binary; false (and nothing written) if it is not an IPv4/IPv6 literal. */
static bool parse_ip(const char *field, size_t cap, uint8_t out[16], uint8_t *family)
{
    char buf[FSA_IP_MAX];
    struct fsa_str s = field_str(field, cap);
    if (s.n == 0 || s.n >= sizeof(buf))
        return false;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    uint8_t tmp[16] = {0};
    if (inet_pton(AF_INET, buf, tmp) == 1) {
        *family = 4;
    } else if (inet_pton(AF_INET6, buf, tmp) == 1) {
        *family = 6;
    } else {
        return false;
    }
    memcpy(out, tmp, 16);
    return true;
}

/* IPv4 by hand: it runs for every record, and glibc's inet_ntop formats IPv4 with sprintf (~7 % of a worker). */
static void format_ip(char *dst, size_t cap, const uint8_t ip[16], uint8_t family)
{
    dst[0] = '\0';
    if (family == 4 && cap >= INET_ADDRSTRLEN) {
        char *p = dst;
        for (int i = 0; i < 4; i++) {
            unsigned v = ip[i];
            if (v >= 100)
                *p++ = (char)('0' + v / 100);
            if (v >= 10)
                *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
            *p++ = i < 3 ? '.' : '\0';
        }
    } else if (family == 6 && !inet_ntop(AF_INET6, ip, dst, (socklen_t)cap)) {
        dst[0] = '\0';
    }
}

/* ---- recently retired legs --------------------------------------------------------------------------------- */

static inline uint64_t ended_value(const struct fsa_leg_key *k)
{
    return (k->hash ^ ((uint64_t)k->instance << 40)) | 1u; /* never 0: 0 marks an empty slot */
}

static inline uint32_t ended_slot(const struct fsa_leg_key *k)
{
    return (uint32_t)(k->hash >> (64 - ENDED_BITS)); /* top bits: the low ones are the shard's */
}

static void remember_ended(struct fsa_calc *c, const struct fsa_leg_key *k)
{
    c->ended[ended_slot(k)] = ended_value(k);
}

static bool recently_ended(const struct fsa_calc *c, const struct fsa_leg_key *k)
{
    return c->ended[ended_slot(k)] == ended_value(k);
}

/* ---- store ------------------------------------------------------------------------------------------------- */

/*
 * The parts of l a write needs, as a store state: the key always, the rest
 * only for the parts asked (a bases-only write, the common one under loss,
 * copies no label string).
 */
static void leg_to_state(const struct fsa_calc *c, const struct fsa_leg *l, unsigned parts, struct fsa_leg_state *s)
{
    s->instance = l->instance;
    s->flags = l->flags & (FSA_LEG_RTCP_RECV_OK | FSA_LEG_RTCP_SEND_OK | FSA_LEG_LEARNT);
    /* Strings by value, not arrays: a shorter Call-ID leaves an older one's bytes after its NUL. */
    copy_field(s->uuid, sizeof(s->uuid), l->uuid, sizeof(l->uuid));
    if (parts & FSA_STORE_PART_LABELS) {
        s->direction = l->direction;
        s->domain_rank = l->domain_rank;
        s->local_ip_family = l->local_ip_family;
        s->remote_ip_family = l->remote_ip_family;
        copy_field(s->call_id, sizeof(s->call_id), l->call_id, sizeof(l->call_id));
        copy_field(s->domain, sizeof(s->domain), fsa_labels_str(&c->labels, l->domain_id), FSA_LABEL_MAX);
        copy_field(s->codec, sizeof(s->codec), fsa_labels_str(&c->labels, l->codec_id), FSA_LABEL_MAX);
        memcpy(s->local_ip, l->local_ip, 16);
        memcpy(s->remote_ip, l->remote_ip, 16);
        s->codec_rate = l->codec_rate;
        s->a_leg_hash = l->a_leg_hash;
        s->created_us = l->created_us;
    }
    if (parts & FSA_STORE_PART_BASES) {
        s->last_fraction = l->last_fraction;
        memcpy(s->rtcp, l->rtcp, sizeof(s->rtcp));
    }
    if (parts & FSA_STORE_PART_JITTER) {
        s->jitter_count = l->jitter_count;
        s->jitter_sum_ms = l->jitter_sum_ms;
        s->jitter_min_ms = l->jitter_min_ms;
        s->jitter_max_ms = l->jitter_max_ms;
        s->last_rtt_ms = l->last_rtt_ms;
    }
}

/* Seeds a fresh leg from a stored state; the state came from outside, so it is checked like a message. */
static void state_to_leg(struct fsa_calc *c, const struct fsa_leg_state *s, struct fsa_leg *l)
{
    if (s->direction == FSA_DIR_INBOUND || s->direction == FSA_DIR_OUTBOUND)
        l->direction = s->direction;
    copy_field(l->call_id, sizeof(l->call_id), s->call_id, sizeof(s->call_id));
    struct fsa_str d = field_str(s->domain, sizeof(s->domain));
    if (d.n && s->domain_rank >= FSA_DOMAIN_FROM_VARIABLE && s->domain_rank <= FSA_DOMAIN_RANK_MAX) {
        set_label(c, &l->domain_id, d);
        l->domain_rank = s->domain_rank;
    }
    struct fsa_str k = field_str(s->codec, sizeof(s->codec) - 1);
    if (k.n) {
        set_label(c, &l->codec_id, k);
        l->codec_class = (uint8_t)fsa_codec_classify(k.p, k.n);
    }
    l->codec_rate = s->codec_rate;
    if (s->local_ip_family == 4 || s->local_ip_family == 6) {
        memcpy(l->local_ip, s->local_ip, 16);
        l->local_ip_family = s->local_ip_family;
    }
    if (s->remote_ip_family == 4 || s->remote_ip_family == 6) {
        memcpy(l->remote_ip, s->remote_ip, 16);
        l->remote_ip_family = s->remote_ip_family;
    }
    l->a_leg_hash = s->a_leg_hash;
    if (s->created_us)
        l->created_us = s->created_us;
    if (s->jitter_count && isfinite(s->jitter_sum_ms) && isfinite(s->jitter_min_ms) && isfinite(s->jitter_max_ms)) {
        l->jitter_count = s->jitter_count;
        l->jitter_sum_ms = s->jitter_sum_ms;
        l->jitter_min_ms = s->jitter_min_ms;
        l->jitter_max_ms = s->jitter_max_ms;
    }
    if (isfinite(s->last_rtt_ms) && s->last_rtt_ms > 0 && s->last_rtt_ms < RTT_CAP_MS)
        l->last_rtt_ms = (float)s->last_rtt_ms;
    l->last_fraction = s->last_fraction;
    memcpy(l->rtcp, s->rtcp, sizeof(l->rtcp));
    l->flags |= s->flags & (FSA_LEG_RTCP_RECV_OK | FSA_LEG_RTCP_SEND_OK);
    /* Whether the leg's loss counts from 0 is the stored agent's knowledge: it may have seen the birth. */
    l->flags = (uint8_t)((l->flags & ~FSA_LEG_LEARNT) | (s->flags & FSA_LEG_LEARNT));
}

static inline struct leg_store *LS(const struct fsa_calc *c, const struct fsa_leg *l)
{
    return &c->ls[l - c->legs.legs];
}

static void store_load(struct fsa_calc *c, struct fsa_leg *l)
{
    if (!c->persistent)
        return;
    /*
     * Its events wait in the park until the answer (or label_wait_ns): a
     * loss delta must not be computed before the stored base is known.
     */
    if (c->load_tail - c->load_head >= c->load_cap) {
        bump(c, C_STORE_ERRORS); /* cannot happen: a live leg is queued once, and ticks drain the queue */
        return;
    }
    LS(c, l)->flags |= LS_LOADING | LS_WANTED | LS_HELD;
    l->flags |= FSA_LEG_LABELS_PENDING;
    c->to_load[c->load_tail++ % c->load_cap] = (uint32_t)(l - c->legs.legs);
}

/* Digests of what a part of the store holds; 0 is kept for "never written". */
static uint32_t digest(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h ? (uint32_t)h : 1u;
}

static uint32_t labels_digest(const struct fsa_leg *l)
{
    uint64_t h = fsa_hash64(l->call_id, strnlen(l->call_id, sizeof(l->call_id)));
    uint64_t ip[4];
    memcpy(ip, l->local_ip, 16);
    memcpy(ip + 2, l->remote_ip, 16);
    h ^= ((uint64_t)l->domain_id << 48 | (uint64_t)l->codec_id << 32 | l->codec_rate) * 0x9e3779b97f4a7c15ull;
    h ^= (((uint64_t)l->direction << 24 | (uint64_t)l->domain_rank << 16 | (uint64_t)l->local_ip_family << 8 |
           l->remote_ip_family | (uint64_t)(l->flags & FSA_LEG_LEARNT) << 32) +
          l->a_leg_hash + l->created_us) *
         0xc2b2ae3d27d4eb4full;
    h ^= (ip[0] ^ ip[1] * 3 ^ ip[2] * 5 ^ ip[3] * 7) * 0x165667b19e3779f9ull;
    return digest(h);
}

static uint32_t bases_digest(const struct fsa_leg *l)
{
    uint64_t h = ((uint64_t)l->rtcp[0].source_ssrc << 32 | (uint32_t)l->rtcp[0].last_lost) * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t)l->rtcp[1].source_ssrc << 32 | (uint32_t)l->rtcp[1].last_lost) * 0xc2b2ae3d27d4eb4full;
    h ^= (uint64_t)(l->flags & (FSA_LEG_RTCP_RECV_OK | FSA_LEG_RTCP_SEND_OK)) << 8 | l->last_fraction;
    return digest(h);
}

/* The parts of l that differ from what the store holds (jitter only if `checkpoint`). */
static unsigned changed_parts(const struct fsa_calc *c, const struct fsa_leg *l, bool checkpoint)
{
    unsigned parts = 0;
    if (labels_digest(l) != LS(c, l)->labels)
        parts |= FSA_STORE_PART_LABELS;
    if (bases_digest(l) != LS(c, l)->bases)
        parts |= FSA_STORE_PART_BASES;
    if (checkpoint && l->jitter_count != LS(c, l)->jitter)
        parts |= FSA_STORE_PART_JITTER;
    return parts;
}

/* Queues the leg at pool index idx for the next round, in its instance's list (once: LS_QUEUED). */
static void queue_leg(struct fsa_calc *c, uint32_t idx, uint16_t instance)
{
    struct leg_store *s = &c->ls[idx];
    if (s->flags & LS_QUEUED)
        return;
    s->flags |= LS_QUEUED;
    s->next = LS_END;
    uint32_t b = instance < c->nbuckets ? instance : c->nbuckets - 1;
    if (c->qtail[b] == LS_END)
        c->qhead[b] = idx;
    else
        c->ls[c->qtail[b]].next = idx;
    c->qtail[b] = idx;
}

/* After an event changed l: queued for the next round if its labels or bases differ from the store's. */
static void store_save(struct fsa_calc *c, struct fsa_leg *l)
{
    if (!c->persistent || (LS(c, l)->flags & LS_QUEUED))
        return;
    if (changed_parts(c, l, (LS(c, l)->flags & LS_JITTER_DUE) != 0))
        queue_leg(c, (uint32_t)(l - c->legs.legs), l->instance);
}

/* Marks l's jitter for the next round if it changed since written (checkpoint, stop, reconnect). */
static void store_jitter_due(struct fsa_calc *c, struct fsa_leg *l)
{
    if (l->jitter_count != LS(c, l)->jitter && !(LS(c, l)->flags & LS_LOADING))
        LS(c, l)->flags |= LS_JITTER_DUE;
    store_save(c, l);
}

static void store_send_dels(struct fsa_calc *c);

/*
 * The leg ended: whatever the store holds of it goes at the next round. A
 * leg never in the table (its first event was its hangup) may have been
 * stored by an earlier agent. (Its record may still be linked in a round's
 * list: the round skips it, and a leg that takes the record over keeps the
 * link, fsa_calc_process.)
 */
static void store_del(struct fsa_calc *c, const struct fsa_leg *l, bool in_table)
{
    if (!c->persistent || (in_table && !(LS(c, l)->flags & LS_HELD)))
        return;
    if (c->ndels == STORE_DELS_MAX)
        store_send_dels(c);
    if (c->ndels == STORE_DELS_MAX) { /* the store refused them all: this one is left to the TTL */
        bump(c, C_STORE_ERRORS);
        return;
    }
    struct store_del *d = &c->dels[c->ndels++];
    d->instance = l->instance;
    d->n = l->uuid_len;
    memcpy(d->uuid, l->uuid, l->uuid_len);
}

static int cmp_del(const void *a, const void *b)
{
    const struct store_del *x = a, *y = b;
    return (x->instance > y->instance) - (x->instance < y->instance);
}

/* The store reconnected: what it was sent before may be lost, so every leg is written again. */
static void store_requeue_all(struct fsa_calc *c)
{
    struct fsa_leg_table *t = &c->legs;
    for (uint32_t i = 0; i < t->high; i++) {
        struct fsa_leg *l = &t->legs[i];
        if (!l->uuid_len)
            continue;
        LS(c, l)->labels = LS(c, l)->bases = 0;
        LS(c, l)->jitter = l->jitter_count + 1;
        store_jitter_due(c, l);
    }
}

/* The deletes gathered so far, grouped by instance; what the store refuses stays for the next round. */
static void store_send_dels(struct fsa_calc *c)
{
    qsort(c->dels, c->ndels, sizeof(*c->dels), cmp_del);
    uint32_t d = 0;
    for (; d < c->ndels; d++) {
        int rc = c->store.ops->del(c->store.ctx, c->dels[d].instance, c->dels[d].uuid, c->dels[d].n);
        if (rc == -EAGAIN) {
            bump(c, C_STORE_DEFERRED);
            break;
        }
        bump(c, C_STORE_DELETES);
        if (rc < 0) {
            bump(c, C_STORE_ERRORS);
            break;
        }
    }
    memmove(c->dels, c->dels + d, (c->ndels - d) * sizeof(*c->dels));
    c->ndels -= d;
    c->store.ops->round_end(c->store.ctx);
}

/*
 * A write round begins: it takes the queued legs, one list per instance (so
 * the store makes one command per instance of them), and new changes queue
 * for the next round. O(instances): the work is in the steps.
 */
static void store_round_start(struct fsa_calc *c)
{
    uint64_t epoch = c->store.ops->epoch(c->store.ctx);
    if (epoch != c->store_epoch) {
        if (c->store_epoch)
            store_requeue_all(c);
        c->store_epoch = epoch;
    }
    bump(c, C_STORE_ROUNDS);
    for (uint32_t b = 0; b < c->nbuckets; b++) {
        c->rhead[b] = c->qhead[b];
        c->qhead[b] = c->qtail[b] = LS_END;
    }
    c->rbucket = 0;
    c->rnode = c->rhead[0];
    c->round_active = true;
}

/* The next leg of the round (pool index), unlinked, or LS_END when the round has none left. */
static uint32_t round_next(struct fsa_calc *c)
{
    while (c->rnode == LS_END) {
        if (c->rbucket + 1 >= c->nbuckets)
            return LS_END;
        c->rnode = c->rhead[++c->rbucket];
    }
    uint32_t idx = c->rnode;
    struct leg_store *s = &c->ls[idx];
    c->rnode = s->next;
    s->next = LS_END;
    s->flags &= (uint8_t)~LS_QUEUED;
    return idx;
}

/* Whether any leg is queued for the next round. */
static bool store_queued(const struct fsa_calc *c)
{
    for (uint32_t b = 0; b < c->nbuckets; b++)
        if (c->qhead[b] != LS_END)
            return true;
    return false;
}

/* Whether the round has legs left (moves to the next non-empty list, unlinks nothing). */
static bool round_left(struct fsa_calc *c)
{
    while (c->rnode == LS_END && c->rbucket + 1 < c->nbuckets)
        c->rnode = c->rhead[++c->rbucket];
    return c->rnode != LS_END;
}

/*
 * Up to `budget` legs of the round go to the store, between batches of
 * events, so a round of 100k legs never holds a worker's lanes up. A leg is
 * written as it is when its turn comes: the labels and bases that differ
 * from the store's, and its jitter when due (checkpoint). A leg waiting for
 * its load is not written (it would overwrite the stored base): it queues
 * for the next round. When the store refuses (no room, or down), the rest
 * queues for the next round. true: the round is over.
 */
static bool store_round_step(struct fsa_calc *c, uint32_t budget)
{
    struct fsa_leg *legs = c->legs.legs;
    bool refused = false;
    uint32_t idx;
    while (budget && !refused && (idx = round_next(c)) != LS_END) {
        struct fsa_leg *l = &legs[idx];
        struct leg_store *s = &c->ls[idx];
        if (!l->uuid_len)
            continue; /* ended since it was queued */
        if (s->flags & LS_LOADING) {
            queue_leg(c, idx, l->instance);
            continue;
        }
        unsigned parts = changed_parts(c, l, (s->flags & LS_JITTER_DUE) != 0);
        if (!parts)
            continue;
        budget--;
        struct fsa_leg_state st = {0}; /* parts not written stay zero: a store may look at every field */
        leg_to_state(c, l, parts, &st);
        int rc = c->store.ops->save(c->store.ctx, &st, parts);
        if (rc == -EAGAIN && c->final_deadline_ns && fsa_clock_ns(CLOCK_MONOTONIC) < c->final_deadline_ns) {
            /* At stop: wait for the store to take more rather than start round after round. */
            c->store.ops->drain(c->store.ctx, c->final_deadline_ns, NULL, NULL);
            rc = c->store.ops->save(c->store.ctx, &st, parts);
        }
        if (rc == -EAGAIN) {
            bump(c, C_STORE_DEFERRED);
        } else {
            bump(c, C_STORE_SAVES); /* handed to the store, which counts how each ended */
            if (rc < 0)
                bump(c, C_STORE_ERRORS);
        }
        if (rc < 0) {
            refused = true;
            queue_leg(c, idx, l->instance);
            break;
        }
        s->flags |= LS_HELD;
        if (parts & FSA_STORE_PART_LABELS)
            s->labels = labels_digest(l);
        if (parts & FSA_STORE_PART_BASES)
            s->bases = bases_digest(l);
        if (parts & FSA_STORE_PART_JITTER) {
            s->jitter = l->jitter_count;
            s->flags &= (uint8_t)~LS_JITTER_DUE;
        }
    }
    if (refused) /* the next round tries again */
        while ((idx = round_next(c)) != LS_END)
            if (legs[idx].uuid_len)
                queue_leg(c, idx, legs[idx].instance);
    if (round_left(c))
        return false;
    c->round_active = false;
    store_send_dels(c);
    return true;
}

/* A slice of the checkpoint walk: legs whose jitter changed since written get it written at the next round. */
static void store_checkpoint_step(struct fsa_calc *c, uint32_t budget)
{
    struct fsa_leg_table *t = &c->legs;
    for (; c->ckpt_pos < t->high && budget; c->ckpt_pos++, budget--)
        if (t->legs[c->ckpt_pos].uuid_len)
            store_jitter_due(c, &t->legs[c->ckpt_pos]);
    if (c->ckpt_pos >= t->high)
        c->ckpt_active = false;
}

static void emit_leg_up_at(struct fsa_calc *c, struct fsa_leg *l, uint64_t time_us, uint64_t ingest_ns);
static bool labelled(const struct fsa_leg *l);
static void ask_labels(struct fsa_calc *c, struct fsa_leg *l, uint64_t now_ns);
static void unpark_leg(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_leg_key *k);

/* A load's answer (store.h): the leg takes the stored state, then asks FreeSWITCH if still unlabelled. */
static void store_loaded(void *arg, const struct fsa_leg_state *st, int result)
{
    struct fsa_calc *c = arg;
    size_t n = strnlen(st->uuid, sizeof(st->uuid));
    struct fsa_leg_key k = fsa_leg_key_make(st->instance, st->uuid, n);
    struct fsa_leg *l = n ? fsa_leg_table_find(&c->legs, &k) : NULL;
    if (!l || !(LS(c, l)->flags & LS_LOADING)) {
        bump(c, C_STORE_LOADS_LATE); /* it stopped waiting (hangup, or label_wait_ms): its own events rule now */
        return;
    }
    LS(c, l)->flags &= (uint8_t)~(LS_LOADING | LS_WANTED);
    if (result == FSA_STORE_LOAD_FAILED)
        bump(c, C_STORE_ERRORS);
    if (result == FSA_STORE_LOAD_HIT || result == FSA_STORE_LOAD_HIT_OLD) {
        bump(c, C_STORE_HITS);
        /*
         * A report let through while it waited (full park) set a base newer
         * than the stored one: that direction keeps its own, or the next
         * report would count that one's loss again.
         */
        uint8_t own = l->flags & (FSA_LEG_RTCP_RECV_OK | FSA_LEG_RTCP_SEND_OK);
        struct fsa_leg_rtcp kept[2];
        memcpy(kept, l->rtcp, sizeof(kept));
        uint32_t jn = l->jitter_count;
        double jsum = l->jitter_sum_ms, jmin = l->jitter_min_ms, jmax = l->jitter_max_ms;
        l->jitter_count = 0; /* what state_to_leg leaves here is then only the stored blocks */
        state_to_leg(c, st, l);
        if (jn) { /* and its jitter blocks join the stored ones */
            bool stored = l->jitter_count > 0;
            l->jitter_sum_ms = (stored ? l->jitter_sum_ms : 0.0) + jsum;
            l->jitter_min_ms = stored && l->jitter_min_ms < jmin ? l->jitter_min_ms : jmin;
            l->jitter_max_ms = stored && l->jitter_max_ms > jmax ? l->jitter_max_ms : jmax;
            l->jitter_count = (stored ? l->jitter_count : 0) + jn;
        }
        if (own & FSA_LEG_RTCP_RECV_OK)
            l->rtcp[FSA_LEG_RTCP_RECV] = kept[FSA_LEG_RTCP_RECV];
        if (own & FSA_LEG_RTCP_SEND_OK)
            l->rtcp[FSA_LEG_RTCP_SEND] = kept[FSA_LEG_RTCP_SEND];
        l->flags |= own;
        if (result == FSA_STORE_LOAD_HIT) { /* the store holds exactly this: nothing to write back */
            LS(c, l)->labels = labels_digest(l);
            LS(c, l)->bases = bases_digest(l);
            LS(c, l)->jitter = l->jitter_count;
        }
    }
    store_save(c, l);
    if (!(l->flags & FSA_LEG_LABELS_PENDING))
        return;
    l->flags &= (uint8_t)~FSA_LEG_LABELS_PENDING;
    ask_labels(c, l, c->tick_ns); /* unlabelled: a uuid_dump, and the events keep waiting */
    if (l->flags & FSA_LEG_LABELS_PENDING)
        return;
    unpark_leg(c, l, &k);
    if (!(l->flags & FSA_LEG_COUNTED))
        emit_leg_up_at(c, l, (uint64_t)(fsa_clock_ns(CLOCK_REALTIME) / 1000), 0); /* listed only: counted now */
}

/* Loads that wait go to the store while it has room; one refused for good ends that leg's wait. */
static void store_start_loads(struct fsa_calc *c)
{
    while (c->load_head != c->load_tail) {
        uint32_t idx = c->to_load[c->load_head % c->load_cap];
        struct fsa_leg *l = &c->legs.legs[idx];
        if (l->uuid_len && (LS(c, l)->flags & LS_WANTED)) {
            int rc = c->store.ops->load(c->store.ctx, l->instance, l->uuid, l->uuid_len);
            if (rc == -EAGAIN)
                return;
            bump(c, C_STORE_LOADS); /* handed to the store (which counts how each ended) */
            LS(c, l)->flags &= (uint8_t)~LS_WANTED;
            if (rc < 0) {
                struct fsa_leg_state st = {.instance = l->instance};
                memcpy(st.uuid, l->uuid, l->uuid_len);
                store_loaded(c, &st, FSA_STORE_LOAD_FAILED);
            }
        }
        c->load_head++;
    }
}

void fsa_calc_store_tick(struct fsa_calc *c, uint64_t now_ns)
{
    if (!c->persistent)
        return;
    c->tick_ns = now_ns;
    store_start_loads(c);
    c->store.ops->poll(c->store.ctx, store_loaded, c);
    if (!c->ckpt_active && now_ns >= c->next_checkpoint_ns) {
        c->next_checkpoint_ns = now_ns + c->checkpoint_ns;
        c->ckpt_active = true;
        c->ckpt_pos = 0;
    }
    if (c->ckpt_active)
        store_checkpoint_step(c, CHECKPOINT_SLICE);
    if (!c->round_active && now_ns >= c->next_round_ns) {
        c->next_round_ns = now_ns + c->flush_ns;
        store_round_start(c);
    }
    if (c->round_active)
        store_round_step(c, ROUND_SLICE);
}

bool fsa_calc_store_busy(const struct fsa_calc *c)
{
    return c->persistent && (c->round_active || c->ckpt_active || c->load_head != c->load_tail || c->store.ops->busy(c->store.ctx));
}

void fsa_calc_store_final(struct fsa_calc *c, uint64_t deadline_ns)
{
    if (!c->persistent)
        return;
    c->tick_ns = fsa_clock_ns(CLOCK_MONOTONIC);
    c->final_deadline_ns = deadline_ns;
    c->store.ops->poll(c->store.ctx, store_loaded, c);
    if (c->round_active)
        store_round_step(c, UINT32_MAX); /* the round under way ends first: rounds do not nest */
    /* Every leg with any change, jitter included, in rounds until all were taken or the store stops taking them. */
    struct fsa_leg_table *t = &c->legs;
    for (uint32_t i = 0; i < t->high; i++)
        if (t->legs[i].uuid_len)
            store_jitter_due(c, &t->legs[i]);
    c->ckpt_active = false;
    for (int rounds = 0; rounds < 8 && fsa_clock_ns(CLOCK_MONOTONIC) < deadline_ns; rounds++) {
        store_round_start(c);
        store_round_step(c, UINT32_MAX);
        c->store.ops->drain(c->store.ctx, deadline_ns, store_loaded, c);
        if (!c->ndels && !store_queued(c))
            break;
    }
}

/* ---- records ----------------------------------------------------------------------------------------------- */

/* A zeroed record to fill, or NULL (counted) when the output lane is full. */
static struct fsa_metric_record *rec_begin(struct fsa_calc *c, enum fsa_record_kind kind, uint64_t time_us,
                                           uint64_t ingest_ns)
{
    struct fsa_metric_record *r = c->output ? fsa_lane_acquire_sp(c->output) : &c->scratch;
    if (!r) {
        bump(c, C_DROPPED + kind);
        return NULL;
    }
    /* Zeroed whole: strings end in zeros, nothing stale reaches the exporter. */
    memset(r, 0, sizeof(*r));
    r->kind = (uint8_t)kind;
    r->time_unix_us = time_us;
    r->ingest_ns = ingest_ns;
    return r;
}

static void rec_commit(struct fsa_calc *c, struct fsa_metric_record *r)
{
    int kind = r->kind;
    if (c->output) {
        fsa_lane_publish_sp(c->output, r);
        c->published++;
    } else if (c->emit) {
        c->emit(c->emit_ctx, r);
    }
    bump(c, C_RECORDS + kind);
}

unsigned fsa_calc_take_published(struct fsa_calc *c)
{
    unsigned n = c->published;
    c->published = 0;
    return n;
}

/*
 * Labels of a record from the leg. up: the LEG_UP-time domain and codec.
 * direction: the record's (RTCP: the report's; otherwise the leg's).
 */
static void fill_labels(const struct fsa_calc *c, const struct fsa_leg *l, struct fsa_metric_labels *lb,
                        uint8_t direction, bool up)
{
    lb->instance = l->instance;
    lb->direction = direction;
    memcpy(lb->channel_id, l->uuid, l->uuid_len); /* uuid_len < FSA_UUID_MAX; the rest is zero */
    copy_field(lb->correlation_id, sizeof(lb->correlation_id), l->call_id, sizeof(l->call_id));
    copy_field(lb->domain_name, sizeof(lb->domain_name),
               fsa_labels_str(&c->labels, up ? l->up_domain_id : l->domain_id), FSA_LABEL_MAX);
    copy_field(lb->codec_name, sizeof(lb->codec_name), fsa_labels_str(&c->labels, up ? l->up_codec_id : l->codec_id),
               FSA_LABEL_MAX);
    /* contract: inbound leg src = remote, dst = local; outbound leg src = local, dst = remote. */
    bool outbound = l->direction == FSA_DIR_OUTBOUND;
    format_ip(lb->src_ip, sizeof(lb->src_ip), outbound ? l->local_ip : l->remote_ip,
              outbound ? l->local_ip_family : l->remote_ip_family);
    format_ip(lb->dst_ip, sizeof(lb->dst_ip), outbound ? l->remote_ip : l->local_ip,
              outbound ? l->remote_ip_family : l->local_ip_family);
}

static void emit_leg_up_at(struct fsa_calc *c, struct fsa_leg *l, uint64_t time_us, uint64_t ingest_ns)
{
    struct fsa_metric_record *r = rec_begin(c, FSA_REC_LEG_UP, time_us, ingest_ns);
    if (!r)
        return; /* retried at the leg's next event */
    l->up_domain_id = l->domain_id;
    fsa_labels_ref(&c->labels, l->up_domain_id);
    l->up_codec_id = l->codec_id;
    fsa_labels_ref(&c->labels, l->up_codec_id);
    l->up_direction = l->direction;
    fill_labels(c, l, &r->labels, l->up_direction, true);
    rec_commit(c, r);
    l->flags |= FSA_LEG_COUNTED;
}

static void emit_leg_up(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_event_msg *m)
{
    emit_leg_up_at(c, l, m->event_time_us, m->ingest_ns);
}

static void emit_leg_down(struct fsa_calc *c, const struct fsa_leg *l, struct fsa_str cause, uint64_t time_us,
                          uint64_t ingest_ns)
{
    if (!(l->flags & FSA_LEG_COUNTED))
        return; /* its LEG_UP never went out: nothing to take back */
    struct fsa_metric_record *r = rec_begin(c, FSA_REC_LEG_DOWN, time_us, ingest_ns);
    if (!r)
        return;
    fill_labels(c, l, &r->labels, l->up_direction, true);
    fsa_str_copy(r->hangup_cause, sizeof(r->hangup_cause), cause);
    rec_commit(c, r);
}

/* ---- leg state --------------------------------------------------------------------------------------------- */

static void apply_channel(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_channel_payload *ch)
{
    struct fsa_str s = field_str(ch->call_id, sizeof(ch->call_id));
    if (s.n)
        fsa_str_copy(l->call_id, sizeof(l->call_id), s);

    if (ch->direction == FSA_DIR_INBOUND || ch->direction == FSA_DIR_OUTBOUND)
        l->direction = ch->direction;

    s = field_str(ch->domain, sizeof(ch->domain));
    if (s.n) {
        /* A rank outside the enum (a message we must not trust) ranks below every real one. */
        uint8_t rank = ch->domain_rank >= FSA_DOMAIN_FROM_VARIABLE && ch->domain_rank <= FSA_DOMAIN_RANK_MAX
                           ? ch->domain_rank
                           : FSA_DOMAIN_RANK_MAX + 1;
        if (l->domain_rank == FSA_DOMAIN_NONE || rank <= l->domain_rank) {
            set_label(c, &l->domain_id, s);
            l->domain_rank = rank;
        }
    }

    s = field_str(ch->codec, sizeof(ch->codec) - 1); /* fits codec_name[FSA_CODEC_MAX] with its NUL */
    if (s.n) {
        set_label(c, &l->codec_id, s);
        l->codec_class = (uint8_t)fsa_codec_classify(s.p, s.n);
    }
    if (ch->codec_rate)
        l->codec_rate = ch->codec_rate;

    parse_ip(ch->local_media_ip, sizeof(ch->local_media_ip), l->local_ip, &l->local_ip_family);
    parse_ip(ch->remote_media_ip, sizeof(ch->remote_media_ip), l->remote_ip, &l->remote_ip_family);

    /* A leg: Channel-Call-UUID names the call's A leg (itself, for an A leg). */
    s = field_str(ch->call_uuid, sizeof(ch->call_uuid));
    struct fsa_str other = field_str(ch->other_leg_uuid, sizeof(ch->other_leg_uuid));
    if (s.n && !(s.n == l->uuid_len && memcmp(s.p, l->uuid, s.n) == 0))
        l->a_leg_hash = fsa_hash64(s.p, s.n);
    else if (!s.n && other.n && l->direction == FSA_DIR_OUTBOUND)
        l->a_leg_hash = fsa_hash64(other.p, other.n);
}

static void retire(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_leg_key *k, struct fsa_str cause,
                   uint64_t time_us, uint64_t ingest_ns, bool in_table)
{
    emit_leg_down(c, l, cause, time_us, ingest_ns);
    fsa_labels_release(&c->labels, l->domain_id);
    fsa_labels_release(&c->labels, l->up_domain_id);
    fsa_labels_release(&c->labels, l->codec_id);
    fsa_labels_release(&c->labels, l->up_codec_id);
    l->domain_id = l->up_domain_id = l->codec_id = l->up_codec_id = 0;
    store_del(c, l, in_table);
    remember_ended(c, k);
    if (in_table) {
        fsa_leg_table_remove(&c->legs, l);
        set_ctr(c, C_LEGS_ACTIVE, fsa_leg_table_count(&c->legs));
    }
}

/* ---- RTCP -------------------------------------------------------------------------------------------------- */

static void process_rtcp(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_event_msg *m)
{
    const struct fsa_rtcp_payload *p = &m->u.rtcp;
    bool recv = m->kind == FSA_EV_RECV_RTCP;
    int dir = recv ? FSA_LEG_RTCP_RECV : FSA_LEG_RTCP_SEND;
    uint8_t okbit = recv ? FSA_LEG_RTCP_RECV_OK : FSA_LEG_RTCP_SEND_OK;
    unsigned nblocks = p->nblocks < FSA_RTCP_MAX_BLOCKS ? p->nblocks : FSA_RTCP_MAX_BLOCKS;
    bump(c, C_RTCP_PROCESSED);

    for (unsigned i = 0; i < nblocks; i++) {
        const struct fsa_rtcp_block *b = &p->block[i];
        if (b->source_ssrc == 0)
            continue; /* an empty block: the peer's SSRC was not known yet (esl.md) */

        unsigned clock = p->rtp_rate ? p->rtp_rate : leg_clock(l);
        double jitter_ms = (double)b->jitter * 1000.0 / (double)clock;

        struct fsa_leg_rtcp *st = &l->rtcp[dir];
        int32_t lost = as_int32(b->lost_raw);
        bool base_only = !(l->flags & okbit) && (l->flags & FSA_LEG_LEARNT);
        int64_t base = (l->flags & okbit) && st->source_ssrc == b->source_ssrc ? st->last_lost : 0;
        int64_t delta = (int64_t)lost - base;
        if (base_only)
            bump(c, C_RTCP_BASE_ONLY);
        st->source_ssrc = b->source_ssrc;
        st->last_lost = lost;
        l->flags |= okbit;

        unsigned fraction = b->fraction < 255 ? b->fraction : 255;
        l->last_fraction = (uint8_t)fraction;

        double rtt_ms = NAN;
        if (b->rtt_avg_s > 0.0 && b->rtt_avg_s * 1000.0 < RTT_CAP_MS) { /* false for NaN and inf */
            rtt_ms = b->rtt_avg_s * 1000.0;
            l->last_rtt_ms = (float)rtt_ms;
        }

        if (l->jitter_count == 0 || jitter_ms < l->jitter_min_ms)
            l->jitter_min_ms = jitter_ms;
        if (l->jitter_count == 0 || jitter_ms > l->jitter_max_ms)
            l->jitter_max_ms = jitter_ms;
        l->jitter_sum_ms += jitter_ms;
        if (l->jitter_count < UINT32_MAX)
            l->jitter_count++;

        struct fsa_emodel_result e = fsa_emodel_eval((enum fsa_codec_class)l->codec_class, c->plc, l->last_rtt_ms,
                                                     jitter_ms, (double)fraction / 256.0 * 100.0);

        struct fsa_metric_record *r = rec_begin(c, FSA_REC_RTCP, m->event_time_us, m->ingest_ns);
        if (!r)
            continue; /* the leg's state moved on regardless: the next delta stays right */
        fill_labels(c, l, &r->labels, recv ? FSA_DIR_INBOUND : FSA_DIR_OUTBOUND, false);
        r->u.rtcp.jitter_ms = jitter_ms;
        r->u.rtcp.packets_lost = base_only ? NAN : delta > 0 ? (double)delta : 0.0;
        r->u.rtcp.fraction_lost = (double)fraction / 256.0;
        r->u.rtcp.rtt_ms = rtt_ms;
        r->u.rtcp.mos = e.mos;
        r->u.rtcp.source_ssrc = b->source_ssrc;
        rec_commit(c, r);
    }
}

/* ---- QoS --------------------------------------------------------------------------------------------------- */

/* Sum of the present terms; NaN when none is present. */
static double sum2(bool a_ok, uint64_t a, bool b_ok, uint64_t b)
{
    if (!a_ok && !b_ok)
        return NAN;
    return (a_ok ? (double)a : 0.0) + (b_ok ? (double)b : 0.0);
}

static double sqrt_variance(bool ok, double var)
{
    return ok && var >= 0.0 && isfinite(var) ? sqrt(var) : NAN;
}

static void emit_qos(struct fsa_calc *c, const struct fsa_leg *l, const struct fsa_event_msg *m, struct fsa_str cause,
                     uint64_t now_ns)
{
    const struct fsa_channel_payload *ch = &m->u.chan;
    uint32_t q = ch->qos_present;
    if (!(q & (FSA_QOS_IN_PACKETS | FSA_QOS_OUT_PACKETS)))
        return; /* no media statistics: no QoS at all, not zeros (esl.md) */
    bump(c, C_QOS_GENERATED);

    struct fsa_qos_record v;
    v.mos_score = (q & FSA_QOS_IN_MOS) && isfinite(ch->in_mos) ? ch->in_mos : NAN;
    if (l->jitter_count) {
        v.jitter_avg_ms = l->jitter_sum_ms / l->jitter_count;
        v.jitter_min_ms = l->jitter_min_ms;
        v.jitter_max_ms = l->jitter_max_ms;
    } else {
        v.jitter_avg_ms = NAN;
        v.jitter_min_ms = sqrt_variance(q & FSA_QOS_IN_JITTER_MIN_VAR, ch->in_jitter_min_variance);
        v.jitter_max_ms = sqrt_variance(q & FSA_QOS_IN_JITTER_MAX_VAR, ch->in_jitter_max_variance);
    }
    bool in_ok = q & FSA_QOS_IN_PACKETS, out_ok = q & FSA_QOS_OUT_PACKETS;
    v.total_packets = sum2(in_ok, ch->in_packets, out_ok, ch->out_packets);

    double in_lost = NAN, out_lost = NAN;
    if (l->flags & FSA_LEG_RTCP_SEND_OK)
        in_lost = l->rtcp[FSA_LEG_RTCP_SEND].last_lost > 0 ? l->rtcp[FSA_LEG_RTCP_SEND].last_lost : 0;
    else if (q & FSA_QOS_IN_SKIP_PACKETS)
        in_lost = (double)ch->in_skip_packets;
    if (l->flags & FSA_LEG_RTCP_RECV_OK)
        out_lost = l->rtcp[FSA_LEG_RTCP_RECV].last_lost > 0 ? l->rtcp[FSA_LEG_RTCP_RECV].last_lost : 0;
    if (isnan(in_lost) && isnan(out_lost))
        v.packet_loss = NAN;
    else
        v.packet_loss = (isnan(in_lost) ? 0.0 : in_lost) + (isnan(out_lost) ? 0.0 : out_lost);

    v.total_bytes = sum2(q & FSA_QOS_IN_RAW_BYTES, ch->in_raw_bytes, q & FSA_QOS_OUT_RAW_BYTES, ch->out_raw_bytes);

    double jitter = l->jitter_count ? v.jitter_avg_ms : (isnan(v.jitter_max_ms) ? 0.0 : v.jitter_max_ms);
    double expected = (in_ok ? (double)ch->in_packets : 0.0) + (isnan(in_lost) ? 0.0 : in_lost) +
                      (out_ok ? (double)ch->out_packets : 0.0);
    double loss_pct = expected > 0.0 && !isnan(v.packet_loss) ? 100.0 * v.packet_loss / expected : 0.0;
    struct fsa_emodel_result e =
        fsa_emodel_eval((enum fsa_codec_class)l->codec_class, c->plc, l->last_rtt_ms, jitter, loss_pct);
    v.r_factor = e.r;
    v.mos_emodel = e.mos;
    v.hold_seconds = q & FSA_QOS_HOLD_SECONDS ? (double)ch->hold_accum_s : NAN;
    double skip = q & FSA_QOS_IN_SKIP_PACKETS ? (double)ch->in_skip_packets : 0.0;
    double ticks = (in_ok ? (double)ch->in_packets : 0.0) + skip;
    v.media_gap_ratio = ticks > 0.0 ? skip / ticks : NAN;
    if (c->snapshot) {
        fsa_snapshot_note_qos(c->snapshot, &v);
        fsa_snapshot_note_gap(c->snapshot, c, l, &v, cause.p, m->event_time_us, now_ns);
    }

    struct fsa_metric_record *r = rec_begin(c, FSA_REC_QOS, m->event_time_us, m->ingest_ns);
    if (!r)
        return;
    fill_labels(c, l, &r->labels, l->direction, false);
    fsa_str_copy(r->hangup_cause, sizeof(r->hangup_cause), cause);
    r->u.qos = v;
    rec_commit(c, r);
}

/* ---- events ------------------------------------------------------------------------------------------------ */

static void process_hangup(struct fsa_calc *c, const struct fsa_event_msg *m, const struct fsa_leg_key *k,
                           struct fsa_leg *l, uint64_t now_ns)
{
    struct fsa_leg tmp;
    bool in_table = l != NULL;
    if (!l) {
        /*
         * Its first event, or the table is full: the hangup carries every
         * channel field and the statistics, so handle it on a stack copy.
         */
        memset(&tmp, 0, sizeof(tmp));
        memcpy(tmp.uuid, k->uuid, k->n);
        tmp.uuid_len = (uint8_t)k->n;
        tmp.instance = k->instance;
        tmp.created_us = m->event_time_us;
        l = &tmp;
        /* Nothing to load: the hangup carries the leg's statistics (what an earlier agent stored goes, retire()). */
            bump(c, C_LEGS_CREATED);
    }
    l->last_seen_ns = now_ns;
    apply_channel(c, l, &m->u.chan);
    if (!(l->flags & FSA_LEG_COUNTED))
        emit_leg_up(c, l, m);
    struct fsa_str cause = field_str(m->u.chan.hangup_cause, sizeof(m->u.chan.hangup_cause));
    if (cause.n == 0)
        cause = FSA_STR_LIT("NONE");
    emit_qos(c, l, m, cause, now_ns);
    bump(c, C_LEGS_ENDED);
    retire(c, l, k, cause, m->event_time_us, m->ingest_ns, in_table);
}

/* The message's leg key, or false for a message to refuse (counted by the caller). */
static bool message_key(const struct fsa_calc *c, const struct fsa_event_msg *m, struct fsa_leg_key *k)
{
    if (m->kind == FSA_EV_NONE || m->kind >= FSA_EV_KIND_COUNT || (c->ninstances && m->instance >= c->ninstances) ||
        m->uuid_len == 0 || m->uuid_len >= FSA_UUID_MAX)
        return false;
    /* An embedded NUL ends the Unique-ID: it is a C string everywhere downstream. */
    size_t n = strnlen(m->uuid, m->uuid_len);
    if (n == 0)
        return false;
    *k = fsa_leg_key_make(m->instance, m->uuid, n);
    return true;
}

/* ---- resume: labels of legs learnt mid-call --------------------------------------------------------------- */

/*
 * A leg learnt mid-call (LEARNT) that neither its events nor the store
 * labelled is asked about once (request_labels: the reactor sends a
 * uuid_dump). Until the answer, its events wait in the park, so its points
 * leave with the same correlation_id and domain_name as if the agent had seen
 * the call start, and its LEG_UP is counted under its real domain. The wait
 * ends with CHANNEL_DATA (the labels), LABELS_FAILED (the channel ended, or
 * the connection went), the leg's hangup (which carries the labels itself),
 * or label_wait_ns: then the parked events are handled in order, labelled or
 * not (counted). A full park lets the event through unlabelled (counted).
 */
static bool labelled(const struct fsa_leg *l)
{
    return l->call_id[0] != '\0' || l->domain_id != 0;
}

/* After a refused request (the lane to the reactor is full), no new one for this long: it drains at its pace. */
#define REQUEST_RETRY_NS (50ull * 1000000ull)

static void ask_labels(struct fsa_calc *c, struct fsa_leg *l, uint64_t now_ns)
{
    if (!c->request_labels || labelled(l) || (l->flags & (FSA_LEG_LABELS_PENDING | FSA_LEG_LABELS_ASKED)))
        return;
    if (now_ns < c->request_retry_ns ||
        !c->request_labels(c->request_ctx, l->instance, l->uuid, l->uuid_len)) {
        if (now_ns >= c->request_retry_ns)
            c->request_retry_ns = now_ns + REQUEST_RETRY_NS;
        bump(c, C_LABELS_UNREQUESTED); /* asked again at its next event */
        return;
    }
    l->flags |= FSA_LEG_LABELS_PENDING | FSA_LEG_LABELS_ASKED;
    bump(c, C_LABELS_REQUESTED);
}

#define PARK_MASK (FSA_CALC_PARK_SLOTS - 1u)
_Static_assert((FSA_CALC_PARK_SLOTS & PARK_MASK) == 0, "the park is a power-of-two ring");

static bool park_event(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_event_msg *m, uint64_t now_ns)
{
    if (!c->park || c->park_tail - c->park_head >= FSA_CALC_PARK_SLOTS) {
        bump(c, C_PARK_FULL);
        return false;
    }
    struct park_slot *s = &c->park[c->park_tail++ & PARK_MASK];
    s->parked_ns = now_ns;
    memcpy(&s->msg, m, fsa_event_msg_used_size(m));
    l->flags |= FSA_LEG_PARKED;
    bump(c, C_EVENTS_PARKED);
    return true;
}

static void process_keyed(struct fsa_calc *c, const struct fsa_event_msg *m, const struct fsa_leg_key *k,
                          uint64_t now_ns);

/*
 * Handles every parked event of the leg k, in order (the leg is no longer
 * pending), each on the clock of its arrival (the TTL counts from when the
 * leg was last heard of, not from when its wait ended), and drops passed slots.
 */
static void unpark_leg(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_leg_key *k)
{
    if (!(l->flags & FSA_LEG_PARKED))
        return; /* nothing of it waits: no walk (a resume from Redis ends 100k+ waits in seconds) */
    l->flags &= (uint8_t)~FSA_LEG_PARKED; /* before the replay, which may park it again */
    uint32_t end = c->park_tail; /* nothing parked while replaying belongs to this round */
    for (uint32_t pos = c->park_head; pos != end; pos++) {
        struct park_slot *s = &c->park[pos & PARK_MASK];
        const struct fsa_event_msg *m = &s->msg;
        if (m->kind == FSA_EV_NONE || m->instance != k->instance || m->uuid_len != k->n ||
            memcmp(m->uuid, k->uuid, k->n) != 0)
            continue;
        memcpy(&c->replay, m, fsa_event_msg_used_size(m));
        s->msg.kind = FSA_EV_NONE;
        struct fsa_leg_key rk = fsa_leg_key_make(c->replay.instance, c->replay.uuid, c->replay.uuid_len);
        process_keyed(c, &c->replay, &rk, s->parked_ns);
    }
    while (c->park_head != c->park_tail && c->park[c->park_head & PARK_MASK].msg.kind == FSA_EV_NONE)
        c->park_head++;
}

/* The wait of a pending leg is over (labels, failure, hangup or time): its events go through. */
static void end_wait(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_leg_key *k, int why)
{
    l->flags &= (uint8_t)~FSA_LEG_LABELS_PENDING;
    if (c->ls && (LS(c, l)->flags & LS_LOADING)) {
        /* It waited for the store, not for FreeSWITCH: a late answer is ignored (its own events rule now). */
        LS(c, l)->flags &= (uint8_t)~(LS_LOADING | LS_WANTED);
        why = why == C_LABELS_TIMEOUT ? C_STORE_LOADS_TIMEOUT : -1;
    }
    if (why >= 0)
        bump(c, why);
    unpark_leg(c, l, k);
}

/* Parked events whose wait is over (oldest first); O(1) when none is. */
static void expire_parked(struct fsa_calc *c, uint64_t now_ns, bool all)
{
    while (c->park_head != c->park_tail) {
        struct park_slot *s = &c->park[c->park_head & PARK_MASK];
        if (s->msg.kind == FSA_EV_NONE) {
            c->park_head++;
            continue;
        }
        if (!all && now_ns - s->parked_ns < c->label_wait_ns)
            return;
        struct fsa_leg_key k = fsa_leg_key_make(s->msg.instance, s->msg.uuid, s->msg.uuid_len);
        struct fsa_leg *l = fsa_leg_table_find(&c->legs, &k);
        if (l && (l->flags & FSA_LEG_LABELS_PENDING)) {
            end_wait(c, l, &k, C_LABELS_TIMEOUT);
        } else {
            s->msg.kind = FSA_EV_NONE; /* cannot happen: a parked leg is pending until its wait ends */
            c->park_head++;
        }
    }
}

void fsa_calc_release_parked(struct fsa_calc *c, uint64_t now_ns)
{
    expire_parked(c, now_ns, true);
}

/* An event for a leg whose labels are asked for: the answers end the wait, the rest waits. true: handled. */
static bool pending_event(struct fsa_calc *c, struct fsa_leg *l, const struct fsa_event_msg *m,
                          const struct fsa_leg_key *k, uint64_t now_ns)
{
    switch ((enum fsa_event_kind)m->kind) {
    case FSA_EV_CHANNEL_DATA:
        apply_channel(c, l, &m->u.chan);
        end_wait(c, l, k, C_LABELS_RECEIVED);
        if (!(l->flags & FSA_LEG_COUNTED))
            emit_leg_up(c, l, m); /* a leg with no event parked (listed only) is counted now */
        store_save(c, l);
        return true;
    case FSA_EV_LABELS_FAILED:
        end_wait(c, l, k, C_LABELS_FAILED);
        return true;
    case FSA_EV_CHANNEL_HANGUP_COMPLETE:
        apply_channel(c, l, &m->u.chan); /* the hangup names the leg itself: its parked events get the labels */
        end_wait(c, l, k, C_LABELS_RECEIVED);
        return false; /* and the hangup itself is handled as usual */
    case FSA_EV_CHANNEL_LIVE:
        l->flags |= FSA_LEG_LISTED;
        return true; /* already being asked about */
    default:
        l->last_seen_ns = now_ns;
        return park_event(c, l, m, now_ns);
    }
}

/*
 * A whole channel list has been read for `instance`: a leg it did not name,
 * silent since before the list was asked for (less a margin: an event read
 * just before the request may be handled after it), ended while the agent
 * was away, its hangup missed. It is retired now (LEG_DOWN "NOT_LISTED", no
 * QoS) rather than counted as active until its TTL a day later. A walk over
 * the table, once per (re)connect.
 */
#define LIST_MARGIN_NS (5ull * 1000000000ull)

/* A sweep's question (store.h): a leg of this calculator's shard that its table does not hold is gone. */
static bool store_keep(void *arg, uint16_t instance, const char *uuid, size_t n)
{
    const struct fsa_calc *c = arg;
    if (c->shard_count > 1 && fsa_shard_of(uuid, n, c->shard_count) != c->shard_index)
        return true; /* another worker's to judge */
    struct fsa_leg_key k = fsa_leg_key_make(instance, uuid, n);
    return fsa_leg_table_find(&c->legs, &k) != NULL;
}

static void list_end(struct fsa_calc *c, uint16_t instance, uint64_t asked_ns, uint64_t now_unix_us)
{
    struct fsa_leg_table *t = &c->legs;
    for (uint32_t i = 0; i < t->high; i++) {
        struct fsa_leg *l = &t->legs[i];
        if (!l->uuid_len || l->instance != instance)
            continue;
        if (l->flags & FSA_LEG_LISTED) {
            l->flags &= (uint8_t)~FSA_LEG_LISTED;
            continue;
        }
        if (l->flags & FSA_LEG_LABELS_PENDING || l->last_seen_ns + LIST_MARGIN_NS > asked_ns)
            continue;
        struct fsa_leg_key k = fsa_leg_key_make(l->instance, l->uuid, l->uuid_len);
        retire(c, l, &k, FSA_STR_LIT("NOT_LISTED"), now_unix_us, 0, true);
        bump(c, C_LEGS_GONE);
    }
    /* What the store holds of legs no worker holds (ended while no agent watched) goes too. */
    if (c->persistent && c->store.ops->sweep)
        c->store.ops->sweep(c->store.ctx, instance, store_keep, c);
}

/* ---- one event ---------------------------------------------------------------------------------------------- */

static bool channel_kind(uint8_t kind)
{
    return kind == FSA_EV_CHANNEL_CREATE || kind == FSA_EV_CHANNEL_ANSWER || kind == FSA_EV_CHANNEL_BRIDGE ||
           kind == FSA_EV_CHANNEL_HANGUP_COMPLETE;
}

/* An event whose leg key message_key() made. */
static void process_keyed(struct fsa_calc *c, const struct fsa_event_msg *m, const struct fsa_leg_key *k,
                          uint64_t now_ns)
{
    if (m->kind == FSA_EV_LIST_END) {
        list_end(c, m->instance, m->ingest_ns, m->event_time_us);
        return;
    }
    struct fsa_leg *l = fsa_leg_table_find(&c->legs, k);

    /* A waiting leg's event was offered to the park already (a full park lets it through, counted once). */
    bool offered = l && (l->flags & FSA_LEG_LABELS_PENDING);
    if (offered && pending_event(c, l, m, k, now_ns))
        return;
    if (m->kind == FSA_EV_CHANNEL_HANGUP_COMPLETE) {
        process_hangup(c, m, k, l, now_ns);
        return;
    }
    if (m->kind == FSA_EV_LABELS_FAILED)
        return; /* nothing waits: the wait ended already */
    if (m->kind == FSA_EV_CHANNEL_DATA) {
        /* Labels after the wait ended: later points get them. Never a new leg: it may have ended. */
        if (l) {
            apply_channel(c, l, &m->u.chan);
            store_save(c, l);
        }
        return;
    }
    if (!l) {
        if (m->kind != FSA_EV_CHANNEL_CREATE && recently_ended(c, k)) {
            bump(c, C_EVENTS_LATE);
            return;
        }
        l = fsa_leg_table_insert(&c->legs, k);
        if (!l) {
            bump(c, C_LEGS_REFUSED);
            return;
        }
        if (c->ls) { /* a record still linked in a write list (its leg ended) stays linked: the new leg takes its turn */
            struct leg_store *s = LS(c, l);
            *s = (s->flags & LS_QUEUED) ? (struct leg_store){.next = s->next, .flags = LS_QUEUED}
                                        : (struct leg_store){.next = LS_END};
        }
        l->created_us = m->event_time_us;
        /*
         * CHANNEL_CREATE is the leg's birth: nothing stored can belong to it,
         * and a load is a round trip that also flushes the store's pipeline.
         */
        if (m->kind != FSA_EV_CHANNEL_CREATE) {
            l->flags |= FSA_LEG_LEARNT;
            bump(c, C_LEGS_LEARNT);
            store_load(c, l);
        }
        bump(c, C_LEGS_CREATED);
        set_ctr(c, C_LEGS_ACTIVE, fsa_leg_table_count(&c->legs));
    }
    l->last_seen_ns = now_ns;
    if (m->kind == FSA_EV_CHANNEL_LIVE)
        l->flags |= FSA_LEG_LISTED;
    if (channel_kind(m->kind))
        apply_channel(c, l, &m->u.chan);
    if (l->flags & FSA_LEG_LEARNT) {
        ask_labels(c, l, now_ns);
        if ((l->flags & FSA_LEG_LABELS_PENDING) && !offered && park_event(c, l, m, now_ns))
            return;
    }
    if (!(l->flags & FSA_LEG_COUNTED))
        emit_leg_up(c, l, m);
    if (m->kind == FSA_EV_RECV_RTCP || m->kind == FSA_EV_SEND_RTCP)
        process_rtcp(c, l, m);
    store_save(c, l);
}

void fsa_calc_process(struct fsa_calc *c, const struct fsa_event_msg *m, uint64_t now_ns)
{
    struct fsa_leg_key k;
    if (!message_key(c, m, &k)) {
        bump(c, C_MESSAGES_INVALID);
        return;
    }
    process_keyed(c, m, &k, now_ns);
}

/*
 * Group prefetch: with 100k+ legs a lookup is two dependent cache misses
 * (index slot, then record), ~200 ns; issuing every key's slot, then every
 * record, before the first event is handled overlaps them across the batch.
 */
void fsa_calc_process_batch(struct fsa_calc *c, const struct fsa_event_msg *const *m, unsigned n, uint64_t now_ns)
{
    struct fsa_leg_key k[FSA_CALC_BATCH];
    bool ok[FSA_CALC_BATCH];
    if (n > FSA_CALC_BATCH)
        n = FSA_CALC_BATCH;
    for (unsigned i = 0; i < n; i++) {
        ok[i] = message_key(c, m[i], &k[i]);
        if (ok[i])
            fsa_leg_table_prefetch_slot(&c->legs, &k[i]);
    }
    for (unsigned i = 0; i < n; i++)
        if (ok[i])
            fsa_leg_table_prefetch_leg(&c->legs, &k[i]);
    for (unsigned i = 0; i < n; i++) {
        if (ok[i])
            process_keyed(c, m[i], &k[i], now_ns);
        else
            bump(c, C_MESSAGES_INVALID);
    }
}


unsigned fsa_calc_sweep(struct fsa_calc *c, uint64_t now_ns, uint64_t now_unix_us, unsigned budget)
{
    unsigned n = 0;
    expire_parked(c, now_ns, false);
    struct fsa_leg *l;
    while ((l = fsa_leg_table_next_stale(&c->legs, now_ns, c->ttl_ns, &budget))) {
        struct fsa_leg_key k = fsa_leg_key_make(l->instance, l->uuid, l->uuid_len);
        retire(c, l, &k, FSA_STR_LIT("TTL_EXPIRED"), now_unix_us, 0, true);
        bump(c, C_LEGS_EXPIRED);
        n++;
    }
    return n;
}

const struct fsa_leg_table *fsa_calc_legs(const struct fsa_calc *c)
{
    return &c->legs;
}

const struct fsa_leg *fsa_calc_leg(const struct fsa_calc *c, uint16_t instance, const char *uuid, size_t n)
{
    struct fsa_leg_key k = fsa_leg_key_make(instance, uuid, n);
    return fsa_leg_table_find(&c->legs, &k);
}

bool fsa_calc_emodel_plc(const struct fsa_calc *c)
{
    return c->plc;
}

const char *fsa_calc_label(const struct fsa_calc *c, uint16_t id)
{
    return fsa_labels_str(&c->labels, id);
}

unsigned fsa_calc_labels_live(const struct fsa_calc *c)
{
    return c->labels.count;
}
