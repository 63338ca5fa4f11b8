/*
 * Leg life cycle in the calculators (calc/calc.c): creation by any event,
 * filling rules (non-empty overwrite, best domain rank), LEG_UP / LEG_DOWN
 * pairing and labels, retirement at hangup and by TTL, late events, the
 * capacity bound, a full output lane, refused messages, and the store seam.
 */
#include "calc/calc.h"
#include "fsa_test.h"

#define MAXREC 256
static struct fsa_metric_record rec[MAXREC];
static size_t nrec;

static void emit(void *ctx, const struct fsa_metric_record *r)
{
    (void)ctx;
    if (nrec < MAXREC)
        rec[nrec] = *r;
    nrec++;
}

static struct fsa_calc *new_calc(uint32_t max_legs, uint32_t ttl_s)
{
    nrec = 0;
    struct fsa_calc_params p = {.max_legs = max_legs, .leg_ttl_s = ttl_s, .ninstances = 2, .emit = emit};
    return fsa_calc_create(&p);
}

static struct fsa_event_msg msg(enum fsa_event_kind kind, const char *uuid)
{
    struct fsa_event_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = (uint8_t)kind;
    m.uuid_len = (uint32_t)strlen(uuid);
    memcpy(m.uuid, uuid, m.uuid_len);
    m.event_time_us = 5000;
    if (kind == FSA_EV_RECV_RTCP || kind == FSA_EV_SEND_RTCP) {
        m.u.rtcp.rtp_rate = 8000;
        m.u.rtcp.nblocks = 1;
        m.u.rtcp.block[0].source_ssrc = 0x1234;
        m.u.rtcp.block[0].lost_raw = 1;
        m.u.rtcp.block[0].rtt_avg_s = NAN;
    }
    return m;
}

static void set_domain(struct fsa_event_msg *m, const char *d, uint8_t rank)
{
    snprintf(m->u.chan.domain, sizeof(m->u.chan.domain), "%s", d);
    m->u.chan.domain_rank = rank;
}

static size_t count(enum fsa_record_kind kind, const char *uuid)
{
    size_t n = 0;
    for (size_t i = 0; i < nrec && i < MAXREC; i++)
        n += rec[i].kind == kind && (!uuid || strcmp(rec[i].labels.channel_id, uuid) == 0);
    return n;
}

static const struct fsa_metric_record *last(enum fsa_record_kind kind)
{
    for (size_t i = nrec < MAXREC ? nrec : MAXREC; i-- > 0;)
        if (rec[i].kind == kind)
            return &rec[i];
    return NULL;
}

static struct fsa_calc_stats stats(const struct fsa_calc *c)
{
    struct fsa_calc_stats s;
    fsa_calc_stats_read(c, &s);
    return s;
}

/*
 * Filling: domain keeps the best rank ever seen (lower wins; equal replaces);
 * every field is only overwritten by a non-empty value. LEG_UP is counted at
 * the first event with the labels known then, and LEG_DOWN repeats them.
 */
static void calc_leg_filling_and_labels(void)
{
    struct fsa_calc *c = new_calc(16, 0);
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_CREATE, "leg-1");
    set_domain(&m, "203.0.113.9", FSA_DOMAIN_FROM_SIP_FROM + FSA_DOMAIN_IP_LITERAL); /* from host: an IP */
    snprintf(m.u.chan.call_id, sizeof(m.u.chan.call_id), "call-1@host");
    m.u.chan.direction = FSA_DIR_INBOUND;
    fsa_calc_process(c, &m, 1);
    const struct fsa_metric_record *up = last(FSA_REC_LEG_UP);
    CHECK(up && strcmp(up->labels.domain_name, "203.0.113.9") == 0 && up->labels.codec_name[0] == '\0' &&
          up->labels.direction == FSA_DIR_INBOUND && strcmp(up->labels.correlation_id, "call-1@host") == 0 &&
          up->time_unix_us == 5000);

    m = msg(FSA_EV_CHANNEL_ANSWER, "leg-1"); /* domain_name (rank 1) now, codec known, no Call-ID */
    set_domain(&m, "tenant.example", FSA_DOMAIN_FROM_VARIABLE);
    snprintf(m.u.chan.codec, sizeof(m.u.chan.codec), "PCMA");
    fsa_calc_process(c, &m, 2);
    const struct fsa_leg *l = fsa_calc_leg(c, 0, "leg-1", 5);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "tenant.example") == 0 && l->domain_rank == 1);
    CHECK(l && strcmp(l->call_id, "call-1@host") == 0); /* empty Call-ID did not clear it */
    CHECK(l && strcmp(fsa_calc_label(c, l->up_domain_id), "203.0.113.9") == 0);

    m = msg(FSA_EV_CHANNEL_BRIDGE, "leg-1"); /* a worse rank does not replace */
    set_domain(&m, "127.0.0.1", FSA_DOMAIN_FROM_SIP_TO);
    fsa_calc_process(c, &m, 3);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "tenant.example") == 0);
    m = msg(FSA_EV_CHANNEL_BRIDGE, "leg-1"); /* an IP literal of the best variable does not replace a name */
    set_domain(&m, "192.0.2.1", FSA_DOMAIN_FROM_VARIABLE + FSA_DOMAIN_IP_LITERAL);
    fsa_calc_process(c, &m, 3);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "tenant.example") == 0);
    m = msg(FSA_EV_CHANNEL_BRIDGE, "leg-1"); /* an equal rank replaces: dialplan changed domain_name */
    set_domain(&m, "tenant2.example", FSA_DOMAIN_FROM_VARIABLE);
    m.u.chan.direction = FSA_DIR_UNKNOWN; /* unknown never overwrites */
    fsa_calc_process(c, &m, 4);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "tenant2.example") == 0 && l->direction == FSA_DIR_INBOUND);
    m = msg(FSA_EV_CHANNEL_BRIDGE, "leg-1"); /* a rank outside the enum ranks below every real one */
    set_domain(&m, "bogus.example", 77);
    fsa_calc_process(c, &m, 4);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "tenant2.example") == 0);
    CHECK_EQ_U64(count(FSA_REC_LEG_UP, "leg-1"), 1); /* counted once */

    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "leg-1");
    snprintf(m.u.chan.hangup_cause, sizeof(m.u.chan.hangup_cause), "USER_BUSY");
    fsa_calc_process(c, &m, 5);
    const struct fsa_metric_record *down = last(FSA_REC_LEG_DOWN);
    CHECK(down && strcmp(down->labels.domain_name, "203.0.113.9") == 0); /* what LEG_UP counted */
    CHECK(down && down->labels.codec_name[0] == '\0' && down->labels.direction == FSA_DIR_INBOUND);
    CHECK(down && strcmp(down->hangup_cause, "USER_BUSY") == 0);
    CHECK(fsa_calc_leg(c, 0, "leg-1", 5) == NULL);

    /* Hangup without a cause: "NONE". Instances are part of the key. */
    m = msg(FSA_EV_CHANNEL_CREATE, "leg-2");
    fsa_calc_process(c, &m, 1);
    m.instance = 1;
    fsa_calc_process(c, &m, 1);
    CHECK_EQ_U64(stats(c).legs_active, 2);
    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "leg-2");
    fsa_calc_process(c, &m, 1);
    down = last(FSA_REC_LEG_DOWN);
    CHECK(down && strcmp(down->hangup_cause, "NONE") == 0 && down->labels.instance == 0);
    CHECK(fsa_calc_leg(c, 1, "leg-2", 5) != NULL);
    CHECK_EQ_U64(stats(c).legs_active, 1);
    fsa_calc_destroy(c);
}

/*
 * domain_name across events (contract): the best candidate so far, any name
 * above any IP literal. A leg whose events carry only IP literals shows the
 * best of them until a name comes; from then on no IP replaces the name.
 */
static void calc_domain_ip_literals_across_events(void)
{
    struct fsa_calc *c = new_calc(16, 0);
    const struct fsa_leg *l;
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_CREATE, "ip-leg");
    set_domain(&m, "10.0.0.9", FSA_DOMAIN_FROM_SIP_REQ + FSA_DOMAIN_IP_LITERAL); /* rank 8, the worst */
    fsa_calc_process(c, &m, 1);
    l = fsa_calc_leg(c, 0, "ip-leg", 6);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "10.0.0.9") == 0 && l->domain_rank == 8);
    m = msg(FSA_EV_CHANNEL_ANSWER, "ip-leg"); /* a better-ranked IP (the From host's) replaces it */
    set_domain(&m, "[2001:db8::7]", FSA_DOMAIN_FROM_SIP_FROM + FSA_DOMAIN_IP_LITERAL);
    fsa_calc_process(c, &m, 2);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "[2001:db8::7]") == 0 && l->domain_rank == 6);
    m = msg(FSA_EV_CHANNEL_BRIDGE, "ip-leg"); /* the worst name (request host) beats the best IP */
    set_domain(&m, "tenant.example", FSA_DOMAIN_FROM_SIP_REQ);
    fsa_calc_process(c, &m, 3);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "tenant.example") == 0 && l->domain_rank == 4);
    m = msg(FSA_EV_CHANNEL_BRIDGE, "ip-leg"); /* and no IP, even domain_name's, takes it back */
    set_domain(&m, "203.0.113.1", FSA_DOMAIN_FROM_VARIABLE + FSA_DOMAIN_IP_LITERAL);
    fsa_calc_process(c, &m, 4);
    CHECK(l && strcmp(fsa_calc_label(c, l->domain_id), "tenant.example") == 0 && l->domain_rank == 4);
    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "ip-leg");
    fsa_calc_process(c, &m, 5);
    const struct fsa_metric_record *down = last(FSA_REC_LEG_DOWN);
    CHECK(down && strcmp(down->labels.domain_name, "10.0.0.9") == 0); /* LEG_DOWN repeats what LEG_UP counted */
    fsa_calc_destroy(c);
}

/* Out of order: an RTCP report first creates the leg (LEG_UP with what is known: nothing but the id). */
static void calc_leg_created_by_rtcp(void)
{
    struct fsa_calc *c = new_calc(16, 0);
    struct fsa_event_msg m = msg(FSA_EV_SEND_RTCP, "early");
    fsa_calc_process(c, &m, 1);
    CHECK_EQ_U64(count(FSA_REC_LEG_UP, "early"), 1);
    CHECK_EQ_U64(count(FSA_REC_RTCP, "early"), 1);
    CHECK(rec[0].kind == FSA_REC_LEG_UP && rec[1].kind == FSA_REC_RTCP); /* up before its first data */
    m = msg(FSA_EV_CHANNEL_CREATE, "early");
    set_domain(&m, "late.example", FSA_DOMAIN_FROM_VARIABLE);
    fsa_calc_process(c, &m, 2);
    CHECK_EQ_U64(count(FSA_REC_LEG_UP, "early"), 1);
    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "early");
    fsa_calc_process(c, &m, 3);
    const struct fsa_metric_record *down = last(FSA_REC_LEG_DOWN);
    CHECK(down && down->labels.domain_name[0] == '\0'); /* as counted */
    CHECK_EQ_U64(stats(c).legs_created, 1);
    fsa_calc_destroy(c);
}

/*
 * Late events: RTCP and ANSWER after the hangup are dropped and counted
 * instead of creating a zombie leg; CHANNEL_CREATE with that Unique-ID is a
 * new leg; a second HANGUP_COMPLETE is still handled (on a stack copy).
 */
static void calc_leg_late_events(void)
{
    struct fsa_calc *c = new_calc(16, 0);
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_CREATE, "gone");
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "gone");
    fsa_calc_process(c, &m, 2);
    m = msg(FSA_EV_RECV_RTCP, "gone");
    fsa_calc_process(c, &m, 3);
    m = msg(FSA_EV_CHANNEL_ANSWER, "gone");
    fsa_calc_process(c, &m, 3);
    struct fsa_calc_stats s = stats(c);
    CHECK_EQ_U64(s.events_late, 2);
    CHECK_EQ_U64(s.legs_active, 0);
    CHECK_EQ_U64(count(FSA_REC_RTCP, NULL), 0);
    m = msg(FSA_EV_CHANNEL_CREATE, "gone");
    fsa_calc_process(c, &m, 4);
    CHECK_EQ_U64(stats(c).legs_active, 1);
    CHECK_EQ_U64(count(FSA_REC_LEG_UP, "gone"), 2);
    fsa_calc_destroy(c);
}

/*
 * Capacity: max_legs 2. A third leg is refused (per event) and nothing
 * crashes; its HANGUP_COMPLETE is still handled on a stack copy, so its QoS
 * goes out and the aggregates see it start and end.
 */
static void calc_leg_capacity(void)
{
    struct fsa_calc *c = new_calc(2, 0);
    const char *ids[] = {"c1", "c2", "c3"};
    for (int i = 0; i < 3; i++) {
        struct fsa_event_msg m = msg(FSA_EV_CHANNEL_CREATE, ids[i]);
        fsa_calc_process(c, &m, 1);
    }
    struct fsa_event_msg m = msg(FSA_EV_RECV_RTCP, "c3");
    fsa_calc_process(c, &m, 1);
    struct fsa_calc_stats s = stats(c);
    CHECK_EQ_U64(s.legs_active, 2);
    CHECK_EQ_U64(s.legs_refused, 2);
    CHECK_EQ_U64(count(FSA_REC_RTCP, "c3"), 0);
    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "c3");
    m.u.chan.qos_present = FSA_QOS_IN_PACKETS;
    m.u.chan.in_packets = 5;
    fsa_calc_process(c, &m, 1);
    CHECK_EQ_U64(count(FSA_REC_QOS, "c3"), 1);
    CHECK_EQ_U64(count(FSA_REC_LEG_UP, "c3"), 1);
    CHECK_EQ_U64(count(FSA_REC_LEG_DOWN, "c3"), 1);
    s = stats(c);
    CHECK_EQ_U64(s.legs_active, 2);
    CHECK_EQ_U64(s.legs_created, 3);
    fsa_calc_destroy(c);
}

/*
 * TTL: leg_ttl_s 10, the TTL clock in ns. Seen at t = 1 s and 4 s; at 13.9 s
 * the first is 12.9 s old and goes, the second (9.9 s) stays; at 14 s it goes
 * too. LEG_DOWN "TTL_EXPIRED" stamped with the sweep's wall time, labels as
 * counted; no QoS. Budget bounds the work per call.
 */
static void calc_leg_ttl_expiry(void)
{
    const uint64_t S = 1000000000ull;
    struct fsa_calc *c = new_calc(16, 10);
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_CREATE, "old");
    set_domain(&m, "ttl.example", FSA_DOMAIN_FROM_VARIABLE);
    fsa_calc_process(c, &m, 1 * S);
    m = msg(FSA_EV_CHANNEL_CREATE, "newer");
    fsa_calc_process(c, &m, 4 * S);
    CHECK_EQ_U64(fsa_calc_sweep(c, 10 * S, 777, 100), 0);
    CHECK_EQ_U64(fsa_calc_sweep(c, 13 * S + 9 * S / 10, 778, 1), 1); /* budget 1: record 0 is "old" */
    CHECK_EQ_U64(fsa_calc_sweep(c, 13 * S + 9 * S / 10, 778, 100), 0);
    const struct fsa_metric_record *down = last(FSA_REC_LEG_DOWN);
    CHECK(down && strcmp(down->labels.channel_id, "old") == 0 && strcmp(down->hangup_cause, "TTL_EXPIRED") == 0 &&
          down->time_unix_us == 778 && down->ingest_ns == 0 && strcmp(down->labels.domain_name, "ttl.example") == 0);
    CHECK_EQ_U64(fsa_calc_sweep(c, 14 * S, 779, 100), 1);
    struct fsa_calc_stats s = stats(c);
    CHECK_EQ_U64(s.legs_expired, 2);
    CHECK_EQ_U64(s.legs_active, 0);
    CHECK_EQ_U64(s.records[FSA_REC_QOS], 0);
    CHECK_EQ_U64(s.records[FSA_REC_LEG_DOWN], 2);
    /* An event keeps a leg alive: seen again at 20 s, not gone at 29 s. */
    m = msg(FSA_EV_CHANNEL_CREATE, "busy");
    fsa_calc_process(c, &m, 15 * S);
    m = msg(FSA_EV_RECV_RTCP, "busy");
    fsa_calc_process(c, &m, 20 * S);
    CHECK_EQ_U64(fsa_calc_sweep(c, 29 * S, 0, 100), 0);
    CHECK_EQ_U64(fsa_calc_sweep(c, 30 * S, 0, 100), 1);
    fsa_calc_destroy(c);
}

/*
 * A full output lane drops records (counted per kind) and never blocks; a
 * LEG_UP that could not go out is retried at the leg's next event, and a leg
 * whose LEG_UP never went out gets no LEG_DOWN.
 */
static void calc_leg_output_lane_full(void)
{
    struct fsa_lane lane;
    CHECK(fsa_lane_init(&lane, 2, sizeof(struct fsa_metric_record)) == 0);
    struct fsa_calc_params p = {.max_legs = 8, .output = &lane};
    struct fsa_calc *c = fsa_calc_create(&p);
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_CREATE, "a"); /* LEG_UP a: slot 1 */
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_RECV_RTCP, "a"); /* RTCP a: slot 2 */
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_CHANNEL_CREATE, "b"); /* LEG_UP b: dropped */
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_RECV_RTCP, "b"); /* LEG_UP b retried: dropped; RTCP b: dropped */
    fsa_calc_process(c, &m, 1);
    struct fsa_calc_stats s = stats(c);
    CHECK_EQ_U64(s.records[FSA_REC_LEG_UP], 1);
    CHECK_EQ_U64(s.records[FSA_REC_RTCP], 1);
    CHECK_EQ_U64(s.records_dropped[FSA_REC_LEG_UP], 2);
    CHECK_EQ_U64(s.records_dropped[FSA_REC_RTCP], 1);
    CHECK_EQ_U64(fsa_calc_take_published(c), 2);
    CHECK_EQ_U64(fsa_calc_take_published(c), 0);
    /* The consumer drains; in order. */
    struct fsa_metric_record *r = fsa_lane_pop_sc(&lane);
    CHECK(r && r->kind == FSA_REC_LEG_UP && strcmp(r->labels.channel_id, "a") == 0);
    fsa_lane_release_sc(&lane, r);
    r = fsa_lane_pop_sc(&lane);
    CHECK(r && r->kind == FSA_REC_RTCP);
    fsa_lane_release_sc(&lane, r);
    /* b's next event: its LEG_UP goes out now (and its RTCP). */
    m = msg(FSA_EV_RECV_RTCP, "b");
    fsa_calc_process(c, &m, 1);
    r = fsa_lane_pop_sc(&lane);
    CHECK(r && r->kind == FSA_REC_LEG_UP && strcmp(r->labels.channel_id, "b") == 0);
    fsa_lane_release_sc(&lane, r);
    r = fsa_lane_pop_sc(&lane);
    CHECK(r && r->kind == FSA_REC_RTCP);
    fsa_lane_release_sc(&lane, r);
    /* Fill the lane, then create and hang up c: its LEG_UP is dropped, so no LEG_DOWN is owed. */
    m = msg(FSA_EV_RECV_RTCP, "a");
    fsa_calc_process(c, &m, 1);
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_CHANNEL_CREATE, "c");
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "c");
    fsa_calc_process(c, &m, 1);
    s = stats(c);
    CHECK_EQ_U64(s.records_dropped[FSA_REC_LEG_DOWN], 0);
    CHECK_EQ_U64(s.records[FSA_REC_LEG_DOWN], 0);
    CHECK_EQ_U64(s.legs_active, 2);
    while ((r = fsa_lane_pop_sc(&lane)))
        fsa_lane_release_sc(&lane, r);
    fsa_calc_destroy(c);
    fsa_lane_destroy(&lane);
}

/* Messages the calculators refuse: bad kind, instance, Unique-ID length or content. */
static void calc_leg_invalid_messages(void)
{
    struct fsa_calc *c = new_calc(8, 0);
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_CREATE, "x");
    m.kind = FSA_EV_NONE;
    fsa_calc_process(c, &m, 1);
    m.kind = 200;
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_CHANNEL_CREATE, "x");
    m.instance = 2; /* ninstances = 2 */
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_CHANNEL_CREATE, "x");
    m.uuid_len = 0;
    fsa_calc_process(c, &m, 1);
    m.uuid_len = FSA_UUID_MAX;
    fsa_calc_process(c, &m, 1);
    m.uuid_len = 0xffffffffu;
    fsa_calc_process(c, &m, 1);
    m = msg(FSA_EV_CHANNEL_CREATE, "x");
    m.uuid[0] = '\0'; /* uuid_len 1 but empty */
    fsa_calc_process(c, &m, 1);
    struct fsa_calc_stats s = stats(c);
    CHECK_EQ_U64(s.messages_invalid, 7);
    CHECK_EQ_U64(s.legs_created, 0);
    /* Unterminated strings everywhere: cut at their field size, never overread. */
    memset(&m, 'A', sizeof(m));
    m.kind = FSA_EV_CHANNEL_ANSWER;
    m.instance = 0;
    m.uuid_len = FSA_UUID_MAX - 1;
    m.u.chan.direction = 9;
    m.u.chan.domain_rank = 1;
    fsa_calc_process(c, &m, 1);
    const struct fsa_metric_record *up = last(FSA_REC_LEG_UP);
    CHECK(up && strlen(up->labels.channel_id) == FSA_UUID_MAX - 1);
    CHECK(up && strlen(up->labels.domain_name) == FSA_DOMAIN_MAX - 1);
    CHECK(up && strlen(up->labels.codec_name) == FSA_CODEC_MAX - 1);
    CHECK(up && strlen(up->labels.correlation_id) == FSA_LEG_CALL_ID_MAX - 1);
    CHECK(up && up->labels.src_ip[0] == '\0' && up->labels.direction == FSA_DIR_UNKNOWN);
    fsa_calc_destroy(c);
}

/* ---- the store seam: a fake persistent back end ------------------------------------------------------------ */

/*
 * Holds one leg's state, merged part by part as a real store would; answers
 * loads at the next poll (never at once, like Redis); counts what it is asked.
 */
struct fake_store {
    int loads, saves, dels, rounds, fail;
    unsigned last_parts;
    struct fsa_leg_state saved;
    bool have;
    int answer; /* FSA_STORE_LOAD_HIT or _HIT_OLD for a load that finds the leg */
    uint64_t epoch;
    struct fsa_leg_state asked[4];
    int nasked;
};

static int fake_load(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    struct fake_store *f = ctx;
    f->loads++;
    if (f->fail)
        return -EIO;
    struct fsa_leg_state *a = &f->asked[f->nasked++];
    memset(a, 0, sizeof(*a));
    a->instance = instance;
    memcpy(a->uuid, uuid, n);
    return 0;
}

static int fake_save(void *ctx, const struct fsa_leg_state *s, unsigned parts)
{
    struct fake_store *f = ctx;
    if (f->fail)
        return -EIO;
    f->saves++;
    f->last_parts = parts;
    struct fsa_leg_state *o = &f->saved;
    if (!f->have) {
        memset(o, 0, sizeof(*o));
        o->instance = s->instance;
        memcpy(o->uuid, s->uuid, sizeof(o->uuid));
        f->have = true;
    }
    if (parts & FSA_STORE_PART_LABELS) {
        memcpy(o->call_id, s->call_id, sizeof(o->call_id));
        memcpy(o->domain, s->domain, sizeof(o->domain));
        memcpy(o->codec, s->codec, sizeof(o->codec));
        o->domain_rank = s->domain_rank;
        o->direction = s->direction;
        o->flags = (uint8_t)((o->flags & ~FSA_LEG_LEARNT) | (s->flags & FSA_LEG_LEARNT));
    }
    if (parts & FSA_STORE_PART_BASES) {
        memcpy(o->rtcp, s->rtcp, sizeof(o->rtcp));
        o->flags = (uint8_t)((o->flags & FSA_LEG_LEARNT) | (s->flags & ~FSA_LEG_LEARNT));
    }
    if (parts & FSA_STORE_PART_JITTER) {
        o->jitter_count = s->jitter_count;
        o->jitter_sum_ms = s->jitter_sum_ms;
        o->jitter_min_ms = s->jitter_min_ms;
        o->jitter_max_ms = s->jitter_max_ms;
    }
    return 0;
}

static int fake_del(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    struct fake_store *f = ctx;
    (void)instance, (void)uuid, (void)n;
    if (f->fail)
        return -EIO;
    f->dels++;
    f->have = false;
    return 0;
}

static void fake_round_end(void *ctx)
{
    struct fake_store *f = ctx;
    f->rounds++;
}

static void fake_poll(void *ctx, fsa_store_loaded_fn loaded, void *arg)
{
    struct fake_store *f = ctx;
    for (int i = 0; i < f->nasked; i++) {
        struct fsa_leg_state *a = &f->asked[i];
        bool hit = f->have && strcmp(f->saved.uuid, a->uuid) == 0;
        loaded(arg, hit ? &f->saved : a, hit ? f->answer : FSA_STORE_LOAD_MISS);
    }
    f->nasked = 0;
}

static bool fake_busy(void *ctx)
{
    return ((struct fake_store *)ctx)->nasked > 0;
}

static uint64_t fake_epoch(void *ctx)
{
    return ((struct fake_store *)ctx)->epoch;
}

static void fake_drain(void *ctx, uint64_t deadline_ns, fsa_store_loaded_fn loaded, void *arg)
{
    (void)deadline_ns;
    fake_poll(ctx, loaded, arg);
}

static const struct fsa_store_ops fake_ops = {.name = "fake",
                                              .persistent = true,
                                              .load = fake_load,
                                              .save = fake_save,
                                              .del = fake_del,
                                              .round_end = fake_round_end,
                                              .poll = fake_poll,
                                              .busy = fake_busy,
                                              .epoch = fake_epoch,
                                              .drain = fake_drain};

#define MS (1000000ull)

/*
 * Write-behind and failover. Agent 1 learns "fo" mid-call: its events wait
 * for the load (a miss), then it is written once per flush interval, only
 * the parts that changed (jitter at the stop, the checkpoint never being
 * due). Agent 2 loads it at the leg's next event, so Lost 12 after a stored
 * base of 11 gives 1, not 12, and the labels are back.
 */
static void calc_leg_store_seam(void)
{
    struct fake_store f = {.answer = FSA_STORE_LOAD_HIT, .epoch = 1};
    struct fsa_store st = {&fake_ops, &f};
    nrec = 0;
    struct fsa_calc_params p = {.max_legs = 8, .emit = emit, .store = &st};
    struct fsa_calc *c1 = fsa_calc_create(&p);
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_ANSWER, "fo");
    set_domain(&m, "fail.example", FSA_DOMAIN_FROM_VARIABLE);
    snprintf(m.u.chan.codec, sizeof(m.u.chan.codec), "G722");
    snprintf(m.u.chan.local_media_ip, sizeof(m.u.chan.local_media_ip), "10.1.2.3");
    fsa_calc_process(c1, &m, 1 * MS);
    CHECK_EQ_U64(count(FSA_REC_LEG_UP, "fo"), 0); /* waiting for its load */
    CHECK(fsa_calc_store_busy(c1));
    fsa_calc_store_tick(c1, 1 * MS); /* load asked, answered (miss), first round */
    CHECK_EQ_U64(f.loads, 1);
    CHECK_EQ_U64(count(FSA_REC_LEG_UP, "fo"), 1);
    CHECK_EQ_U64(f.saves, 1);
    CHECK_EQ_U64(f.last_parts, FSA_STORE_PART_LABELS | FSA_STORE_PART_BASES);
    CHECK_STR(f.saved.domain, "fail.example");

    m = msg(FSA_EV_RECV_RTCP, "fo");
    m.u.rtcp.block[0].lost_raw = 10;
    fsa_calc_process(c1, &m, 2 * MS);
    fsa_calc_store_tick(c1, 500 * MS); /* not due */
    CHECK_EQ_U64(f.saves, 1);
    fsa_calc_store_tick(c1, 1001 * MS);
    CHECK_EQ_U64(f.saves, 2);
    CHECK_EQ_U64(f.last_parts, FSA_STORE_PART_BASES); /* jitter waits for a checkpoint */
    CHECK_EQ_U64(f.saved.rtcp[FSA_LEG_RTCP_RECV].last_lost, 10);
    m.u.rtcp.block[0].lost_raw = 11;
    fsa_calc_process(c1, &m, 1500 * MS);
    fsa_calc_process(c1, &m, 1600 * MS); /* the same report again: the base does not change */
    fsa_calc_store_tick(c1, 2001 * MS);
    CHECK_EQ_U64(f.saves, 3);
    CHECK_EQ_U64(f.saved.rtcp[FSA_LEG_RTCP_RECV].last_lost, 11);
    fsa_calc_store_tick(c1, 3001 * MS); /* nothing changed but jitter */
    CHECK_EQ_U64(f.saves, 3);
    CHECK_EQ_U64(f.saved.jitter_count, 0);
    fsa_calc_store_final(c1, UINT64_MAX); /* the clean stop writes the jitter too */
    CHECK_EQ_U64(f.saves, 4);
    CHECK_EQ_U64(f.last_parts, FSA_STORE_PART_JITTER);
    CHECK_EQ_U64(f.saved.jitter_count, 3);
    CHECK_EQ_U64(f.dels, 0);
    fsa_calc_destroy(c1); /* agent 1 stops */

    struct fsa_calc *c2 = fsa_calc_create(&p);
    nrec = 0;
    m = msg(FSA_EV_RECV_RTCP, "fo");
    m.u.rtcp.block[0].lost_raw = 12;
    fsa_calc_process(c2, &m, 1 * MS);
    CHECK_EQ_U64(count(FSA_REC_RTCP, "fo"), 0); /* parked until the answer */
    int saves = f.saves;
    fsa_calc_store_tick(c2, 1 * MS); /* load answered, events replayed, then c2's first round (a checkpoint) */
    const struct fsa_metric_record *r = last(FSA_REC_RTCP);
    CHECK(r && r->u.rtcp.packets_lost == 1);
    CHECK(r && strcmp(r->labels.domain_name, "fail.example") == 0 && strcmp(r->labels.codec_name, "G722") == 0);
    const struct fsa_leg *l = fsa_calc_leg(c2, 0, "fo", 2);
    CHECK(l && l->codec_class != 0 && l->jitter_count == 4);
    CHECK_EQ_U64(f.saves, saves + 1); /* the base moved to 12 and jitter to 4 reports; labels as loaded: not written */
    CHECK_EQ_U64(f.last_parts, FSA_STORE_PART_BASES | FSA_STORE_PART_JITTER);
    CHECK_EQ_U64(f.saved.rtcp[FSA_LEG_RTCP_RECV].last_lost, 12);
    fsa_calc_store_tick(c2, 1001 * MS);
    CHECK_EQ_U64(f.saves, saves + 1);
    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "fo");
    fsa_calc_process(c2, &m, 1100 * MS);
    CHECK_EQ_U64(f.dels, 0); /* gathered for the next round */
    fsa_calc_store_tick(c2, 2001 * MS);
    CHECK_EQ_U64(f.dels, 1);

    /* Store down: counted, the leg stays queued, and the worker carries on from memory. */
    f.fail = 1;
    m = msg(FSA_EV_CHANNEL_CREATE, "fo2");
    fsa_calc_process(c2, &m, 2100 * MS);
    fsa_calc_store_tick(c2, 3001 * MS);
    f.fail = 0;
    saves = f.saves;
    f.epoch = 2; /* reconnected: everything is written again, changed or not */
    fsa_calc_store_tick(c2, 4001 * MS);
    CHECK_EQ_U64(f.saves, saves + 1);
    CHECK_EQ_U64(f.last_parts, FSA_STORE_PART_ALL);
    m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, "fo2");
    fsa_calc_process(c2, &m, 4100 * MS);
    fsa_calc_store_tick(c2, 5001 * MS);
    CHECK_EQ_U64(f.dels, 2);
    struct fsa_calc_stats s = stats(c2);
    CHECK_EQ_U64(s.store_errors, 1); /* the refused round (CHANNEL_CREATE loads nothing: a new leg) */
    CHECK_EQ_U64(s.store_hits, 1);
    CHECK_EQ_U64(s.store_loads, 1);
    CHECK_EQ_U64(s.records[FSA_REC_LEG_DOWN], 2);
    fsa_calc_destroy(c2);

    /* The previous format: found, then written anew whole at the next round. */
    f = (struct fake_store){.answer = FSA_STORE_LOAD_HIT_OLD, .epoch = 1, .have = true};
    f.saved.instance = 0;
    snprintf(f.saved.uuid, sizeof(f.saved.uuid), "old");
    snprintf(f.saved.call_id, sizeof(f.saved.call_id), "call-old");
    f.saved.flags = FSA_LEG_RTCP_RECV_OK;
    f.saved.rtcp[FSA_LEG_RTCP_RECV] = (struct fsa_leg_rtcp){.source_ssrc = 0x1234, .last_lost = 5};
    struct fsa_calc *c3 = fsa_calc_create(&p);
    m = msg(FSA_EV_RECV_RTCP, "old");
    m.u.rtcp.block[0].lost_raw = 7;
    fsa_calc_process(c3, &m, 1 * MS);
    fsa_calc_store_tick(c3, 1 * MS);
    r = last(FSA_REC_RTCP);
    CHECK(r && r->u.rtcp.packets_lost == 2 && strcmp(r->labels.correlation_id, "call-old") == 0);
    CHECK_EQ_U64(f.last_parts, FSA_STORE_PART_LABELS | FSA_STORE_PART_BASES | FSA_STORE_PART_JITTER);
    fsa_calc_destroy(c3);
}

/*
 * A report let through while its leg waited for its load (the park full)
 * set a base newer than the stored one: the stored base must not replace
 * it. Stored: cumulative Lost 5; let through: 8 (base only, learnt); then 9
 * counts 9 - 8 = 1, not 9 - 5 = 4; its jitter block joins the stored ones.
 */
static void calc_leg_store_let_through(void)
{
    struct fake_store f = {.answer = FSA_STORE_LOAD_HIT, .epoch = 1, .have = true};
    snprintf(f.saved.uuid, sizeof(f.saved.uuid), "lt");
    f.saved.flags = FSA_LEG_RTCP_RECV_OK;
    f.saved.rtcp[FSA_LEG_RTCP_RECV] = (struct fsa_leg_rtcp){.source_ssrc = 0x1234, .last_lost = 5};
    f.saved.jitter_count = 2;
    f.saved.jitter_sum_ms = 3.0;
    f.saved.jitter_min_ms = 1.0;
    f.saved.jitter_max_ms = 2.0;
    struct fsa_store st = {&fake_ops, &f};
    nrec = 0;
    struct fsa_calc_params p = {.max_legs = 8, .emit = emit, .store = &st};
    struct fsa_calc *c = fsa_calc_create(&p);
    struct fsa_event_msg m = msg(FSA_EV_RECV_RTCP, "yy");
    for (unsigned i = 0; i < FSA_CALC_PARK_SLOTS; i++)
        fsa_calc_process(c, &m, 1 * MS); /* "yy" waits for its load: the park fills */
    m = msg(FSA_EV_RECV_RTCP, "lt");
    m.u.rtcp.block[0].lost_raw = 8;
    m.u.rtcp.block[0].jitter = 40; /* 5 ms at 8 kHz */
    fsa_calc_process(c, &m, 2 * MS);
    struct fsa_calc_stats s = stats(c);
    CHECK_EQ_U64(s.park_full, 1);
    CHECK_EQ_U64(s.rtcp_base_only, 1);
    fsa_calc_store_tick(c, 3 * MS); /* both loads asked and answered: "yy" misses, "lt" hits */
    m.u.rtcp.block[0].lost_raw = 9;
    m.u.rtcp.block[0].jitter = 8; /* 1 ms */
    nrec = 0; /* "yy"'s 4096 replayed reports are past the record buffer */
    fsa_calc_process(c, &m, 4 * MS);
    const struct fsa_metric_record *r = last(FSA_REC_RTCP);
    CHECK(r && strcmp(r->labels.channel_id, "lt") == 0 && r->u.rtcp.packets_lost == 1);
    const struct fsa_leg *l = fsa_calc_leg(c, 0, "lt", 2);
    CHECK(l && l->jitter_count == 4);
    CHECK(l && l->jitter_sum_ms == 3.0 + 5.0 + 1.0 && l->jitter_min_ms == 1.0 && l->jitter_max_ms == 5.0);
    fsa_calc_destroy(c);
}

int main(void)
{
    calc_leg_filling_and_labels();
    calc_domain_ip_literals_across_events();
    calc_leg_created_by_rtcp();
    calc_leg_late_events();
    calc_leg_capacity();
    calc_leg_ttl_expiry();
    calc_leg_output_lane_full();
    calc_leg_invalid_messages();
    calc_leg_store_seam();
    calc_leg_store_let_through();
    return fsa_test_finish();
}
