/*
 * Resume in the calculator (calc/calc.c "resume"): a leg learnt mid-call is
 * asked about once, its events wait in the park until its labels come
 * (CHANNEL_DATA), the dump fails (LABELS_FAILED), the leg hangs up, or the
 * wait times out; then they are handled in order. Hand-made messages; the
 * expected records are spelled out case by case.
 */
#include "calc/calc.h"
#include "fsa_test.h"

#define MAXREC 8192
static struct fsa_metric_record rec[MAXREC];
static size_t nrec;

static void emit(void *ctx, const struct fsa_metric_record *r)
{
    (void)ctx;
    if (nrec < MAXREC)
        rec[nrec] = *r;
    nrec++;
}

/* The reactor's side, faked: requests are recorded; `refuse` plays a full request lane. */
static char asked[16][FSA_UUID_MAX];
static unsigned nasked;
static bool refuse;

static bool request_labels(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    (void)ctx;
    (void)instance;
    if (refuse)
        return false;
    if (nasked < 16)
        snprintf(asked[nasked], FSA_UUID_MAX, "%.*s", (int)n, uuid);
    nasked++;
    return true;
}

static struct fsa_calc *new_calc(unsigned wait_ms)
{
    nrec = 0;
    nasked = 0;
    refuse = false;
    struct fsa_calc_params p = {.max_legs = 8192, .ninstances = 1, .emit = emit, .request_labels = request_labels,
                                .label_wait_ms = wait_ms};
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
    return m;
}

static struct fsa_event_msg rtcp(const char *uuid, uint32_t lost)
{
    struct fsa_event_msg m = msg(FSA_EV_RECV_RTCP, uuid);
    m.u.rtcp.rtp_rate = 8000;
    m.u.rtcp.nblocks = 1;
    m.u.rtcp.block[0].source_ssrc = 0x1234;
    m.u.rtcp.block[0].lost_raw = lost;
    m.u.rtcp.block[0].jitter = 80; /* 10 ms at 8 kHz */
    m.u.rtcp.block[0].rtt_avg_s = NAN;
    return m;
}

static struct fsa_event_msg labels(enum fsa_event_kind kind, const char *uuid, const char *call_id, const char *domain)
{
    struct fsa_event_msg m = msg(kind, uuid);
    snprintf(m.u.chan.call_id, sizeof(m.u.chan.call_id), "%s", call_id);
    snprintf(m.u.chan.domain, sizeof(m.u.chan.domain), "%s", domain);
    m.u.chan.domain_rank = FSA_DOMAIN_FROM_VARIABLE;
    m.u.chan.direction = FSA_DIR_INBOUND;
    snprintf(m.u.chan.codec, sizeof(m.u.chan.codec), "PCMU");
    m.u.chan.codec_rate = 8000;
    return m;
}

static void feed(struct fsa_calc *c, struct fsa_event_msg m, uint64_t now_ns)
{
    fsa_calc_process(c, &m, now_ns);
}

static struct fsa_calc_stats stats(struct fsa_calc *c)
{
    struct fsa_calc_stats s;
    fsa_calc_stats_read(c, &s);
    return s;
}

/*
 * The restart case: the first event is an RTCP report (cumulative 49). The
 * leg is asked about (one request), the report waits: no record yet. The
 * labels arrive: LEG_UP under the tenant's domain, then the report, labelled,
 * without packets_lost (a learnt leg's first report only sets the base).
 * The next report (52) is handled at once: packets_lost 3.
 */
static void labels_arrive(void)
{
    struct fsa_calc *c = new_calc(0);
    feed(c, rtcp("leg-1", 49), 1000);
    CHECK_EQ_U64(nasked, 1);
    CHECK_STR(asked[0], "leg-1");
    CHECK_EQ_U64(nrec, 0);
    feed(c, labels(FSA_EV_CHANNEL_DATA, "leg-1", "call-1@pbx", "tenant.example"), 2000);
    CHECK_EQ_U64(nrec, 2);
    CHECK(rec[0].kind == FSA_REC_LEG_UP);
    CHECK_STR(rec[0].labels.domain_name, "tenant.example");
    CHECK(rec[1].kind == FSA_REC_RTCP);
    CHECK_STR(rec[1].labels.correlation_id, "call-1@pbx");
    CHECK_STR(rec[1].labels.domain_name, "tenant.example");
    CHECK(isnan(rec[1].u.rtcp.packets_lost));
    CHECK_NEAR(rec[1].u.rtcp.jitter_ms, 10.0, 1e-12);
    feed(c, rtcp("leg-1", 52), 3000);
    CHECK_EQ_U64(nrec, 3);
    CHECK_NEAR(rec[2].u.rtcp.packets_lost, 3.0, 0);
    CHECK_STR(rec[2].labels.correlation_id, "call-1@pbx");
    CHECK_EQ_U64(nasked, 1); /* asked once */
    struct fsa_calc_stats s = stats(c);
    CHECK_EQ_U64(s.labels_requested, 1);
    CHECK_EQ_U64(s.labels_received, 1);
    CHECK_EQ_U64(s.events_parked, 1);
    CHECK_EQ_U64(s.legs_learnt, 1);
    fsa_calc_destroy(c);
}

/* The dump failed: the two waiting reports go out unlabelled, in order (none, then 51 - 49 = 2). */
static void labels_fail(void)
{
    struct fsa_calc *c = new_calc(0);
    feed(c, rtcp("leg-2", 49), 1000);
    feed(c, rtcp("leg-2", 51), 1100);
    CHECK_EQ_U64(nrec, 0);
    feed(c, msg(FSA_EV_LABELS_FAILED, "leg-2"), 1200);
    CHECK_EQ_U64(nrec, 3);
    CHECK(rec[0].kind == FSA_REC_LEG_UP && rec[0].labels.domain_name[0] == '\0');
    CHECK(rec[1].kind == FSA_REC_RTCP && isnan(rec[1].u.rtcp.packets_lost));
    CHECK(rec[2].kind == FSA_REC_RTCP && rec[2].u.rtcp.packets_lost == 2.0);
    CHECK_STR(rec[2].labels.correlation_id, "");
    /* Not asked again: a later event goes straight through. */
    feed(c, rtcp("leg-2", 51), 1300);
    CHECK_EQ_U64(nrec, 4);
    CHECK_EQ_U64(nasked, 1);
    CHECK_EQ_U64(stats(c).labels_failed, 1);
    fsa_calc_destroy(c);
}

/* No answer: the wait ends label_wait_ms (100 ms here) after the first parked event, at a sweep. */
static void labels_timeout(void)
{
    struct fsa_calc *c = new_calc(100);
    uint64_t t0 = 1000000000ull;
    feed(c, rtcp("leg-3", 7), t0);
    fsa_calc_sweep(c, t0 + 99000000ull, 0, 16);
    CHECK_EQ_U64(nrec, 0);
    fsa_calc_sweep(c, t0 + 100000000ull, 0, 16);
    CHECK_EQ_U64(nrec, 2); /* LEG_UP, RTCP */
    CHECK_EQ_U64(stats(c).labels_timeout, 1);
    /* Labels that come after all: later points carry them, nothing is re-sent. */
    feed(c, labels(FSA_EV_CHANNEL_DATA, "leg-3", "late-call", "late.example"), t0 + 200000000ull);
    CHECK_EQ_U64(nrec, 2);
    feed(c, rtcp("leg-3", 9), t0 + 300000000ull);
    CHECK_EQ_U64(nrec, 3);
    CHECK_STR(rec[2].labels.correlation_id, "late-call");
    CHECK_NEAR(rec[2].u.rtcp.packets_lost, 2.0, 0);
    fsa_calc_destroy(c);
}

/* The hangup while waiting: it names the leg itself, so the waiting report leaves labelled, then QoS and LEG_DOWN. */
static void hangup_while_waiting(void)
{
    struct fsa_calc *c = new_calc(0);
    feed(c, rtcp("leg-4", 3), 1000);
    struct fsa_event_msg h = labels(FSA_EV_CHANNEL_HANGUP_COMPLETE, "leg-4", "call-4", "four.example");
    h.u.chan.qos_present = FSA_QOS_IN_PACKETS | FSA_QOS_OUT_PACKETS;
    h.u.chan.in_packets = 100;
    h.u.chan.out_packets = 100;
    snprintf(h.u.chan.hangup_cause, sizeof(h.u.chan.hangup_cause), "NORMAL_CLEARING");
    feed(c, h, 2000);
    CHECK_EQ_U64(nrec, 4);
    CHECK(rec[0].kind == FSA_REC_LEG_UP);
    CHECK_STR(rec[0].labels.domain_name, "four.example");
    CHECK(rec[1].kind == FSA_REC_RTCP);
    CHECK_STR(rec[1].labels.correlation_id, "call-4");
    CHECK(rec[2].kind == FSA_REC_QOS);
    CHECK(rec[3].kind == FSA_REC_LEG_DOWN);
    CHECK_STR(rec[3].labels.domain_name, "four.example");
    CHECK_EQ_U64(stats(c).legs_active, 0);
    fsa_calc_destroy(c);
}

/*
 * The channel list: an unknown Unique-ID is asked about and counted as up
 * once its labels come; a leg seen from CHANNEL_CREATE is not asked about;
 * labels for a leg the calculator does not hold create nothing.
 */
static void listed_legs(void)
{
    struct fsa_calc *c = new_calc(0);
    feed(c, msg(FSA_EV_CHANNEL_LIVE, "listed"), 1000);
    CHECK_EQ_U64(nasked, 1);
    CHECK_EQ_U64(nrec, 0);
    feed(c, labels(FSA_EV_CHANNEL_DATA, "listed", "call-l", "l.example"), 2000);
    CHECK_EQ_U64(nrec, 1);
    CHECK(rec[0].kind == FSA_REC_LEG_UP);
    CHECK_STR(rec[0].labels.domain_name, "l.example");

    feed(c, labels(FSA_EV_CHANNEL_CREATE, "born", "call-b", "b.example"), 3000);
    CHECK_EQ_U64(nrec, 2);
    feed(c, msg(FSA_EV_CHANNEL_LIVE, "born"), 4000);
    CHECK_EQ_U64(nasked, 1);
    CHECK_EQ_U64(nrec, 2);

    feed(c, labels(FSA_EV_CHANNEL_DATA, "stranger", "call-s", "s.example"), 5000);
    feed(c, msg(FSA_EV_LABELS_FAILED, "stranger"), 5000);
    CHECK_EQ_U64(stats(c).legs_active, 2);
    CHECK_EQ_U64(nrec, 2);
    fsa_calc_destroy(c);
}

/* A first event that labels the leg itself (CHANNEL_ANSWER carries the variables): nothing to ask. */
static void self_labelled(void)
{
    struct fsa_calc *c = new_calc(0);
    feed(c, labels(FSA_EV_CHANNEL_ANSWER, "answered", "call-a", "a.example"), 1000);
    CHECK_EQ_U64(nasked, 0);
    CHECK_EQ_U64(nrec, 1);
    CHECK_STR(rec[0].labels.domain_name, "a.example");
    fsa_calc_destroy(c);
}

/*
 * The request lane is full: the event goes through unlabelled (counted); for
 * the next 50 ms no request is tried at all (the lane drains at the
 * reactor's pace; trying on every event would only cost), then the leg's
 * next event asks again.
 */
static void request_refused(void)
{
    struct fsa_calc *c = new_calc(0);
    const uint64_t ms = 1000000ull;
    refuse = true;
    feed(c, rtcp("leg-r", 1), 1000 * ms);
    CHECK_EQ_U64(nrec, 2); /* LEG_UP + RTCP, unlabelled */
    CHECK_EQ_U64(stats(c).labels_unrequested, 1);
    refuse = false;
    feed(c, rtcp("leg-r", 2), 1049 * ms);
    CHECK_EQ_U64(nasked, 0); /* within 50 ms: not tried */
    CHECK_EQ_U64(nrec, 3);
    CHECK_EQ_U64(stats(c).labels_unrequested, 2);
    feed(c, rtcp("leg-r", 3), 1050 * ms);
    CHECK_EQ_U64(nasked, 1);
    CHECK_EQ_U64(nrec, 3); /* this one waits */
    fsa_calc_destroy(c);
}

/*
 * The park holds FSA_CALC_PARK_SLOTS events: one more goes through at once
 * (counted), and at stop everything still waiting is handled.
 */
static void park_bounds(void)
{
    struct fsa_calc *c = new_calc(60000);
    char uuid[32];
    for (unsigned i = 0; i <= FSA_CALC_PARK_SLOTS; i++) {
        snprintf(uuid, sizeof(uuid), "p-%u", i);
        feed(c, rtcp(uuid, 1), 1000 + i);
    }
    struct fsa_calc_stats s = stats(c);
    CHECK_EQ_U64(s.events_parked, FSA_CALC_PARK_SLOTS);
    CHECK_EQ_U64(s.park_full, 1);
    CHECK_EQ_U64(nrec, 2); /* the one that did not fit: LEG_UP + RTCP */
    /* A waiting leg's next event, the park full: through at once, counted once (not once per attempt). */
    feed(c, rtcp("p-0", 2), 5000);
    CHECK_EQ_U64(stats(c).park_full, 2);
    CHECK_EQ_U64(nrec, 4);
    fsa_calc_release_parked(c, 2000000);
    /* Each parked leg: LEG_UP + RTCP, but p-0's LEG_UP went out with the event let through. */
    CHECK_EQ_U64(nrec, 4 + 2 * FSA_CALC_PARK_SLOTS - 1);
    CHECK_EQ_U64(stats(c).labels_timeout, FSA_CALC_PARK_SLOTS);
    fsa_calc_destroy(c);
}

/*
 * After a (re)connect's whole channel list (LIST_END, asked for at t = 20 s):
 *   "listed"  named by the list                          -> kept
 *   "gone"    not named, last event at 1 s (< 20 - 5)    -> retired, LEG_DOWN "NOT_LISTED", no QoS
 *   "fresh"   not named, event at 16 s (within the 5 s margin: it may have raced the request) -> kept
 *   "other"   not named, but on instance 1               -> kept (the list is instance 0's)
 * A second list later that names nobody retires "listed" (its flag was cleared by the first).
 */
static void list_end_retires_the_unlisted(void)
{
    nrec = 0;
    nasked = 0;
    refuse = false;
    struct fsa_calc_params p = {.max_legs = 64, .ninstances = 2, .emit = emit, .request_labels = request_labels};
    struct fsa_calc *c = fsa_calc_create(&p);
    const uint64_t s = 1000000000ull;
    feed(c, labels(FSA_EV_CHANNEL_CREATE, "listed", "c-l", "x.example"), 1 * s);
    feed(c, labels(FSA_EV_CHANNEL_CREATE, "gone", "c-g", "x.example"), 1 * s);
    feed(c, labels(FSA_EV_CHANNEL_CREATE, "fresh", "c-f", "x.example"), 16 * s);
    struct fsa_event_msg o = labels(FSA_EV_CHANNEL_CREATE, "other", "c-o", "x.example");
    o.instance = 1;
    feed(c, o, 1 * s);
    CHECK_EQ_U64(nrec, 4); /* four LEG_UPs */
    feed(c, msg(FSA_EV_CHANNEL_LIVE, "listed"), 21 * s);
    struct fsa_event_msg end = msg(FSA_EV_LIST_END, "*");
    end.ingest_ns = 20 * s;
    end.event_time_us = 77;
    feed(c, end, 22 * s);
    CHECK_EQ_U64(nrec, 5);
    CHECK(rec[4].kind == FSA_REC_LEG_DOWN);
    CHECK_STR(rec[4].labels.channel_id, "gone");
    CHECK_STR(rec[4].hangup_cause, "NOT_LISTED");
    CHECK_EQ_U64(rec[4].time_unix_us, 77);
    struct fsa_calc_stats st = stats(c);
    CHECK_EQ_U64(st.legs_gone, 1);
    CHECK_EQ_U64(st.legs_active, 3);
    CHECK_EQ_U64(st.qos_generated, 0);
    CHECK_EQ_U64(nasked, 0); /* the listed leg was known: nothing to ask */
    end.ingest_ns = 40 * s;
    feed(c, end, 41 * s);
    CHECK_EQ_U64(stats(c).legs_gone, 3); /* listed and fresh now; other is instance 1's */
    CHECK_EQ_U64(stats(c).legs_active, 1);
    fsa_calc_destroy(c);
}

int main(void)
{
    labels_arrive();
    labels_fail();
    labels_timeout();
    hangup_while_waiting();
    listed_legs();
    self_labelled();
    request_refused();
    park_bounds();
    list_end_retires_the_unlisted();
    return fsa_test_finish();
}
