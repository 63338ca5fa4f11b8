/*
 * Fuzzes the calculators (calc/calc.c) with event messages built from the
 * fuzz bytes: arbitrary kinds (valid and not), instances, Unique-IDs of any
 * length (uuid_len beyond FSA_UUID_MAX, embedded NULs, unterminated), raw
 * byte overlays of the payload (NaN/inf doubles, huge counters, strings
 * without NUL, nblocks > FSA_RTCP_MAX_BLOCKS), structured values at the
 * edges (Lost 2^31 and 2^32-1, RTP-Rate 1 and 2^32-1, RTT 1e300), and TTL
 * sweeps on a clock that only moves forward; events come one at a time or
 * in groups (fsa_calc_process_batch, the worker's path). The worker must not trust a
 * message any more than the decoder trusts the wire.
 *
 * The same operations drive four calculators: one with a callback sink, one
 * with a small output lane drained now and then (drops, LEG_UP retries), one
 * that asks for learnt legs' labels (resume: the park, its waits and their
 * ends; the requests are accepted or refused as the fuzz bytes say), and
 * one with a persistent store whose loads return leg states made of fuzz
 * bytes (a Redis hash is no more trusted than a message) and whose
 * operations fail now and then.
 * Oracles, checked on every record and at the end:
 *   - every record: kind in range; every string NUL-terminated inside its
 *     array and zero after; RTCP: jitter finite >= 0, packets_lost NaN
 *     (a learnt leg's first report) or finite >= 0, fraction in [0, 1], rtt NaN or finite > 0, mos finite in [0.9, 4.5];
 *     QoS: r_factor and mos_emodel finite;
 *   - legs active never above max_legs;
 *   - after a final sweep far in the future: no leg left, no label string
 *     still referenced (refcounts balance), and every published LEG_UP has
 *     its LEG_DOWN (or the LEG_DOWN was dropped and counted).
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc/calc.h"

#define MAX_LEGS 8
#define TTL_S 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok)
{
    if (!ok)
        abort();
}

static void check_cstr(const char *s, size_t cap)
{
    const char *nul = memchr(s, '\0', cap);
    require(nul != NULL);
    for (const char *p = nul; p < s + cap; p++)
        require(*p == '\0');
}

static void check_record(const struct fsa_metric_record *r)
{
    require(r->kind > FSA_REC_NONE && r->kind < FSA_REC_KIND_COUNT);
    const struct fsa_metric_labels *l = &r->labels;
    check_cstr(l->channel_id, sizeof(l->channel_id));
    require(l->channel_id[0] != '\0');
    check_cstr(l->correlation_id, sizeof(l->correlation_id));
    check_cstr(l->domain_name, sizeof(l->domain_name));
    check_cstr(l->codec_name, sizeof(l->codec_name));
    check_cstr(l->src_ip, sizeof(l->src_ip));
    check_cstr(l->dst_ip, sizeof(l->dst_ip));
    check_cstr(r->hangup_cause, sizeof(r->hangup_cause));
    require(l->direction <= FSA_DIR_OUTBOUND);
    if (r->kind == FSA_REC_RTCP) {
        const struct fsa_rtcp_record *x = &r->u.rtcp;
        require(isfinite(x->jitter_ms) && x->jitter_ms >= 0);
        require(isnan(x->packets_lost) || (isfinite(x->packets_lost) && x->packets_lost >= 0));
        require(x->fraction_lost >= 0 && x->fraction_lost <= 1);
        require(isnan(x->rtt_ms) || (isfinite(x->rtt_ms) && x->rtt_ms > 0));
        require(isfinite(x->mos) && x->mos >= 0.9 && x->mos <= 4.5);
        require(x->source_ssrc != 0);
        require(l->direction != FSA_DIR_UNKNOWN);
    } else if (r->kind == FSA_REC_QOS) {
        require(isfinite(r->u.qos.r_factor) && isfinite(r->u.qos.mos_emodel));
        require(r->u.qos.mos_emodel >= 0.9 && r->u.qos.mos_emodel <= 4.5);
        require(r->hangup_cause[0] != '\0');
    } else if (r->kind == FSA_REC_LEG_DOWN) {
        require(r->hangup_cause[0] != '\0');
    }
}

static void sink(void *ctx, const struct fsa_metric_record *r)
{
    (void)ctx;
    check_record(r);
}

/* ---- reading the fuzz bytes -------------------------------------------------------------------------------- */

struct in {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint32_t u32(struct in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | u8(in);
    return v;
}

static void bytes(struct in *in, void *dst, size_t n)
{
    size_t k = n < in->n ? n : in->n;
    memcpy(dst, in->p, k);
    in->p += k;
    in->n -= k;
}

static const char *const uuids[] = {
    "b0c6292b-0197-4183-9245-3f7f203ddc84",
    "ebd223a0-57ce-4a39-b0bc-3b8101e5c9ff",
    "9a7a9f3f-0650-48e8-8911-745c8f6afe35",
    "a",
    "b",
    "ce5aab7d-0931-481d-8d2f-75f91316e88e",
    "0123456789012345678901234567890123456789012345" /* 46 */,
    "01234567890123456789012345678901234567890123456" /* 47 */,
    "x",
    "y",
    "z",
    "w",
};
static const char *const strs[] = {
    "PCMU", "opus", "G722", "G729", "", "example.com", "127.0.0.1", "::1", "2001:db8::1", "garbage", "NORMAL_CLEARING",
    "PCMA"};
static const uint32_t u32s[] = {0, 1, 2, 255, 256, 8000, 48000, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
static const double dbls[] = {0.0, -0.0, 1.0, -1.0, 0.02, 4.5, 1e300, -1e300, DBL_MIN, DBL_MAX};

static double dbl(struct in *in)
{
    uint8_t b = u8(in);
    if (b < 200)
        return dbls[b % (sizeof(dbls) / sizeof(dbls[0]))];
    if (b < 220)
        return NAN;
    if (b < 240)
        return b & 1 ? INFINITY : -INFINITY;
    double d;
    uint64_t raw = (uint64_t)u32(in) << 32 | u32(in);
    memcpy(&d, &raw, sizeof(d));
    return d;
}

static uint32_t num32(struct in *in)
{
    uint8_t b = u8(in);
    return b < 200 ? u32s[b % (sizeof(u32s) / sizeof(u32s[0]))] : u32(in);
}

/* A string field: one of a few values, unterminated junk filling the field, or raw bytes. */
static void str_field(struct in *in, char *dst, size_t cap)
{
    uint8_t b = u8(in);
    memset(dst, 0, cap);
    if (b < 180)
        snprintf(dst, cap, "%s", strs[b % (sizeof(strs) / sizeof(strs[0]))]);
    else if (b < 220)
        memset(dst, 'A' + (b & 7), cap);
    else
        bytes(in, dst, b & 1 ? cap : (size_t)(b % cap));
}

static void build(struct in *in, struct fsa_event_msg *m)
{
    memset(m, 0, sizeof(*m));
    uint8_t op = u8(in);
    m->kind = op < 240 ? (uint8_t)(op % (FSA_EV_KIND_COUNT + 2)) : op; /* includes 0, 7, 8 and 240..255 */
    m->instance = u8(in) % 4;                                          /* 3 is out of range */
    uint8_t sel = u8(in);
    if (sel < 224) {
        const char *u = uuids[sel % (sizeof(uuids) / sizeof(uuids[0]))];
        m->uuid_len = (uint32_t)strlen(u);
        memcpy(m->uuid, u, m->uuid_len);
    } else {
        bytes(in, m->uuid, sizeof(m->uuid)); /* may be unterminated */
        m->uuid_len = sel & 1 ? u32(in) : u8(in);
    }
    m->event_time_us = (uint64_t)u32(in) << (u8(in) & 31);
    m->ingest_ns = u8(in);
    uint8_t how = u8(in);
    if (how & 1) { /* raw overlay of the payload */
        bytes(in, &m->u, sizeof(m->u));
        return;
    }
    if (m->kind == FSA_EV_RECV_RTCP || m->kind == FSA_EV_SEND_RTCP) {
        struct fsa_rtcp_payload *r = &m->u.rtcp;
        r->rtp_rate = num32(in);
        r->nblocks = u8(in) % 6; /* up to 5: one more than exists */
        for (unsigned i = 0; i < FSA_RTCP_MAX_BLOCKS; i++) {
            r->block[i].source_ssrc = u8(in) % 4; /* few SSRCs, 0 included: base switches */
            r->block[i].fraction = num32(in);
            r->block[i].lost_raw = num32(in);
            r->block[i].jitter = num32(in);
            r->block[i].rtt_avg_s = dbl(in);
        }
        return;
    }
    struct fsa_channel_payload *c = &m->u.chan;
    str_field(in, c->call_id, sizeof(c->call_id));
    str_field(in, c->domain, sizeof(c->domain));
    str_field(in, c->codec, sizeof(c->codec));
    str_field(in, c->local_media_ip, sizeof(c->local_media_ip));
    str_field(in, c->remote_media_ip, sizeof(c->remote_media_ip));
    str_field(in, c->call_uuid, sizeof(c->call_uuid));
    str_field(in, c->other_leg_uuid, sizeof(c->other_leg_uuid));
    str_field(in, c->hangup_cause, sizeof(c->hangup_cause));
    c->direction = u8(in) % 5;
    c->domain_rank = u8(in) % (FSA_DOMAIN_RANK_MAX + 3); /* every rank, none, and two out of range */
    c->codec_rate = num32(in);
    c->qos_present = (uint32_t)u8(in) << 4 | u8(in);
    c->in_raw_bytes = (uint64_t)num32(in) * num32(in);
    c->out_raw_bytes = u8(in) & 1 ? UINT64_MAX : num32(in);
    c->in_packets = num32(in);
    c->out_packets = u8(in) & 1 ? UINT64_MAX : num32(in);
    c->in_skip_packets = u8(in) & 1 ? UINT64_MAX : num32(in);
    c->in_mos = dbl(in);
    c->in_jitter_min_variance = dbl(in);
    c->in_jitter_max_variance = dbl(in);
}

/* ---- a store that answers loads with fuzz bytes, later, as Redis does --------------------------------------- */

#define FZ_ASKED 4

struct fuzz_store {
    struct fsa_leg_state state; /* what a load that hits returns (its key set to the one asked) */
    /* bit 0: loads hit; 1: operations fail; 2: (ctl) new state follows; 4: no room (EAGAIN); 5: the old format; 6: reconnected */
    uint8_t mode;
    uint64_t epoch;
    struct fsa_leg_state asked[FZ_ASKED];
    unsigned nasked;
};

static int fz_load(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    struct fuzz_store *f = ctx;
    require(uuid && n > 0 && n < FSA_UUID_MAX && instance < 3);
    if (f->mode & 2)
        return -EIO;
    if ((f->mode & 16) || f->nasked == FZ_ASKED)
        return -EAGAIN;
    struct fsa_leg_state *a = &f->asked[f->nasked++];
    memset(a, 0, sizeof(*a));
    a->instance = instance;
    memcpy(a->uuid, uuid, n);
    return 0;
}

static int fz_save(void *ctx, const struct fsa_leg_state *s, unsigned parts)
{
    struct fuzz_store *f = ctx;
    require(parts && !(parts & ~(unsigned)FSA_STORE_PART_ALL));
    check_cstr(s->uuid, sizeof(s->uuid));
    check_cstr(s->call_id, sizeof(s->call_id));
    check_cstr(s->domain, sizeof(s->domain));
    check_cstr(s->codec, sizeof(s->codec));
    return f->mode & 2 ? -EIO : f->mode & 16 ? -EAGAIN : 0;
}

static void fz_round_end(void *ctx)
{
    (void)ctx;
}

static void fz_poll(void *ctx, fsa_store_loaded_fn loaded, void *arg)
{
    struct fuzz_store *f = ctx;
    if (f->mode & 64)
        f->epoch++;
    unsigned n = f->nasked;
    f->nasked = 0;
    for (unsigned i = 0; i < n; i++) {
        struct fsa_leg_state st = f->asked[i];
        int result = f->mode & 2 ? FSA_STORE_LOAD_FAILED : FSA_STORE_LOAD_MISS;
        if (!(f->mode & 2) && (f->mode & 1)) {
            struct fsa_leg_state key = st;
            st = f->state; /* fuzz bytes, strings unterminated and all: the calc must check them */
            st.instance = key.instance;
            memcpy(st.uuid, key.uuid, sizeof(st.uuid));
            result = f->mode & 32 ? FSA_STORE_LOAD_HIT_OLD : FSA_STORE_LOAD_HIT;
        }
        loaded(arg, &st, result);
    }
}

static bool fz_busy(void *ctx)
{
    return ((struct fuzz_store *)ctx)->nasked > 0;
}

static uint64_t fz_epoch(void *ctx)
{
    return ((struct fuzz_store *)ctx)->epoch;
}

static void fz_drain(void *ctx, uint64_t deadline_ns, fsa_store_loaded_fn loaded, void *arg)
{
    (void)deadline_ns;
    fz_poll(ctx, loaded, arg);
}

static int fz_del(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    struct fuzz_store *f = ctx;
    (void)instance;
    require(uuid && n > 0 && n < FSA_UUID_MAX);
    return f->mode & 2 ? -EIO : f->mode & 16 ? -EAGAIN : 0;
}

/* Resume: a label request is accepted unless the store's mode bit 3 says the request lane is full. */
static bool fz_request(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    struct fuzz_store *f = ctx;
    require(uuid && n > 0 && n < FSA_UUID_MAX && instance < 3);
    return !(f->mode & 8);
}

static const struct fsa_store_ops fuzz_store_ops = {.name = "fuzz",
                                                    .persistent = true,
                                                    .load = fz_load,
                                                    .save = fz_save,
                                                    .del = fz_del,
                                                    .round_end = fz_round_end,
                                                    .poll = fz_poll,
                                                    .busy = fz_busy,
                                                    .epoch = fz_epoch,
                                                    .drain = fz_drain};

static void drain(struct fsa_lane *lane)
{
    struct fsa_metric_record *r;
    while ((r = fsa_lane_pop_sc(lane))) {
        check_record(r);
        fsa_lane_release_sc(lane, r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsa_lane lane;
    if (fsa_lane_init(&lane, 4, sizeof(struct fsa_metric_record)) < 0)
        return 0;
    static struct fuzz_store fz;
    memset(&fz, 0, sizeof(fz));
    struct fsa_store store = {&fuzz_store_ops, &fz};
    struct fsa_calc_params p1 = {.max_legs = MAX_LEGS, .leg_ttl_s = TTL_S, .ninstances = 3, .emit = sink};
    struct fsa_calc_params p2 = {.max_legs = MAX_LEGS, .leg_ttl_s = TTL_S, .ninstances = 3, .output = &lane};
    struct fsa_calc_params p3 = {
        .max_legs = MAX_LEGS, .leg_ttl_s = TTL_S, .ninstances = 3, .emit = sink, .store = &store};
    struct fsa_calc_params p4 = {.max_legs = MAX_LEGS, .leg_ttl_s = TTL_S, .ninstances = 3, .emit = sink,
                                 .request_labels = fz_request, .request_ctx = &fz, .label_wait_ms = 500};
    enum { NCALC = 4 };
    struct fsa_calc *c[NCALC] = {fsa_calc_create(&p1), fsa_calc_create(&p2), fsa_calc_create(&p3),
                                 fsa_calc_create(&p4)};
    require(c[0] && c[1] && c[2] && c[3]);

    struct in in = {data, size};
    uint64_t now = 0;
    const uint64_t S = 1000000000ull;
    while (in.n) {
        uint8_t ctl = u8(&in);
        now += (uint64_t)(ctl & 0x0f) * S / 4; /* the TTL clock only moves forward, up to 3.75 s per step */
        if (ctl >= 0xf0) {                     /* the store's next answers */
            fz.mode = u8(&in);
            if (fz.mode & 4)
                bytes(&in, &fz.state, sizeof(fz.state));
        } else if (ctl >= 0xe0) {
            unsigned budget = u8(&in);
            for (int i = 0; i < NCALC; i++) {
                fsa_calc_sweep(c[i], now, now / 1000, budget);
                fsa_calc_store_tick(c[i], now); /* loads answered, a write round when one is due */
            }
        } else if (ctl >= 0xd0) { /* a group, as the worker hands them over (prefetch path) */
            static struct fsa_event_msg group[FSA_CALC_BATCH];
            const struct fsa_event_msg *ptrs[FSA_CALC_BATCH];
            unsigned n = (unsigned)u8(&in) % FSA_CALC_BATCH + 1;
            for (unsigned j = 0; j < n; j++) {
                build(&in, &group[j]);
                ptrs[j] = &group[j];
            }
            for (int i = 0; i < NCALC; i++)
                fsa_calc_process_batch(c[i], ptrs, n, now);
        } else {
            struct fsa_event_msg m;
            build(&in, &m);
            for (int i = 0; i < NCALC; i++)
                fsa_calc_process(c[i], &m, now);
        }
        if (ctl & 0x10)
            drain(&lane);
        fsa_calc_take_published(c[1]);
        for (int i = 0; i < NCALC; i++) {
            struct fsa_calc_stats s;
            fsa_calc_stats_read(c[i], &s);
            require(s.legs_active <= MAX_LEGS);
        }
    }

    /* Far in the future every leg has expired; nothing may be left behind. */
    now += (uint64_t)(TTL_S + 1) * S;
    for (int i = 0; i < NCALC; i++) {
        fsa_calc_release_parked(c[i], now);
        fsa_calc_store_final(c[i], 0);
        drain(&lane);
        for (int k = 0; k < 4 * MAX_LEGS; k++) {
            fsa_calc_sweep(c[i], now, now / 1000, 1);
            drain(&lane);
        }
        struct fsa_calc_stats s;
        fsa_calc_stats_read(c[i], &s);
        require(s.legs_active == 0);
        require(fsa_calc_labels_live(c[i]) == 0);
        require(s.records[FSA_REC_LEG_UP] == s.records[FSA_REC_LEG_DOWN] + s.records_dropped[FSA_REC_LEG_DOWN]);
        require(s.legs_created == s.legs_ended + s.legs_expired + s.legs_gone + s.legs_active);
        require(s.labels_requested >= s.labels_received + s.labels_failed + s.labels_timeout);
        fsa_calc_destroy(c[i]);
    }
    fsa_lane_destroy(&lane);
    return 0;
}
