/*
 * RTCP and QoS calculators (calc/calc.c) on hand-made messages: each rule of
 * the contract and each decision calc.c documents, one case at a time, with
 * the arithmetic in comments. Real-data checks are in test_calc_capture.c.
 */
#include "calc/calc.h"
#include "calc/emodel.h"
#include "fsa_test.h"

#define EPS 1e-9

/* ---- a sink and message builders --------------------------------------------------------------------------- */

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

static struct fsa_calc *new_calc(void)
{
    nrec = 0;
    struct fsa_calc_params p = {.max_legs = 64, .ninstances = 2, .emit = emit};
    return fsa_calc_create(&p);
}

static struct fsa_event_msg chan(enum fsa_event_kind kind, const char *uuid, const char *codec, uint32_t rate,
                                 uint8_t direction)
{
    struct fsa_event_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = (uint8_t)kind;
    m.uuid_len = (uint32_t)strlen(uuid);
    memcpy(m.uuid, uuid, m.uuid_len);
    m.event_time_us = 1000;
    snprintf(m.u.chan.codec, sizeof(m.u.chan.codec), "%s", codec);
    m.u.chan.codec_rate = rate;
    m.u.chan.direction = direction;
    snprintf(m.u.chan.domain, sizeof(m.u.chan.domain), "example.com");
    m.u.chan.domain_rank = FSA_DOMAIN_FROM_VARIABLE;
    snprintf(m.u.chan.local_media_ip, sizeof(m.u.chan.local_media_ip), "10.0.0.1");
    snprintf(m.u.chan.remote_media_ip, sizeof(m.u.chan.remote_media_ip), "192.0.2.7");
    return m;
}

struct blk {
    uint32_t ssrc, fraction, lost_raw, jitter;
    double rtt_s;
};

static struct fsa_event_msg rtcp(enum fsa_event_kind kind, const char *uuid, uint32_t rtp_rate, const struct blk *b,
                                 unsigned n)
{
    struct fsa_event_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = (uint8_t)kind;
    m.uuid_len = (uint32_t)strlen(uuid);
    memcpy(m.uuid, uuid, m.uuid_len);
    m.event_time_us = 2000;
    m.u.rtcp.rtp_rate = rtp_rate;
    m.u.rtcp.nblocks = (uint8_t)n;
    for (unsigned i = 0; i < n && i < FSA_RTCP_MAX_BLOCKS; i++) {
        m.u.rtcp.block[i].source_ssrc = b[i].ssrc;
        m.u.rtcp.block[i].fraction = b[i].fraction;
        m.u.rtcp.block[i].lost_raw = b[i].lost_raw;
        m.u.rtcp.block[i].jitter = b[i].jitter;
        m.u.rtcp.block[i].rtt_avg_s = b[i].rtt_s;
    }
    return m;
}

/* One block; returns the RTCP record it produced (or NULL). */
static const struct fsa_rtcp_record *one(struct fsa_calc *c, enum fsa_event_kind kind, const char *uuid, uint32_t rate,
                                         struct blk b)
{
    size_t before = nrec;
    struct fsa_event_msg m = rtcp(kind, uuid, rate, &b, 1);
    fsa_calc_process(c, &m, 1);
    for (size_t i = before; i < nrec && i < MAXREC; i++)
        if (rec[i].kind == FSA_REC_RTCP)
            return &rec[i].u.rtcp;
    return NULL;
}

static double lost_of(struct fsa_calc *c, enum fsa_event_kind kind, const char *uuid, uint32_t ssrc, uint32_t lost)
{
    const struct fsa_rtcp_record *r = one(c, kind, uuid, 8000, (struct blk){ssrc, 0, lost, 0, NAN});
    return r ? r->packets_lost : -1;
}

/* A leg whose birth the calculator sees (its first report counts from 0). */
static void born(struct fsa_calc *c, const char *uuid)
{
    struct fsa_event_msg m = chan(FSA_EV_CHANNEL_CREATE, uuid, "PCMU", 8000, FSA_DIR_INBOUND);
    fsa_calc_process(c, &m, 1);
}

/* ---- packets_lost ------------------------------------------------------------------------------------------ */

/*
 * "cumulative Lost (as int32) minus the previous report's for the same leg,
 * direction and source SSRC; the first report counts from 0; a decrease
 * gives 0". Cumulative 5, 3, 6, 6, 10 on one SSRC:
 *   5 - 0 = 5 (first: base 0); 3 - 5 = -2 -> 0; 6 - 3 = 3 (the base moved to
 *   the previous report, 3); 6 - 6 = 0; 10 - 6 = 4.
 */
static void calc_rtcp_lost_deltas(void)
{
    struct fsa_calc *c = new_calc();
    struct fsa_event_msg m = chan(FSA_EV_CHANNEL_CREATE, "leg-a", "PCMU", 8000, FSA_DIR_INBOUND);
    fsa_calc_process(c, &m, 1);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x1111, 5), 5, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x1111, 3), 0, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x1111, 6), 3, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x1111, 6), 0, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x1111, 10), 4, EPS);
    /* The other direction has its own base: its first report counts from 0 (7 - 0). */
    CHECK_NEAR(lost_of(c, FSA_EV_SEND_RTCP, "leg-a", 0x1111, 7), 7, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x1111, 11), 1, EPS);
    /* Another leg, same SSRC: its own base too. */
    born(c, "leg-b");
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-b", 0x1111, 2), 2, EPS);
    fsa_calc_destroy(c);
}

/*
 * Lost is a signed 24-bit count printed unsigned: "4294967295" is -1.
 *   first report 4294967295 -> int32 -1 -> -1 - 0 = -1 -> 0 (a decrease);
 *   then 2 -> 2 - (-1) = 3; then 4294967294 (-2) -> -2 - 2 = -4 -> 0;
 *   then 0 -> 0 - (-2) = 2. Never "4 billion" (esl.md's pitfall).
 * Extremes: 2147483647 then 2147483648 (= INT32_MIN): INT32_MIN - INT32_MAX
 * = -4294967295 -> 0 (computed in 64 bits, no overflow).
 */
static void calc_rtcp_lost_int32(void)
{
    struct fsa_calc *c = new_calc();
    born(c, "leg-a");
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x22, 4294967295u), 0, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x22, 2), 3, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x22, 4294967294u), 0, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0x22, 0), 2, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_SEND_RTCP, "leg-a", 0x22, 2147483647u), 2147483647.0, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_SEND_RTCP, "leg-a", 0x22, 2147483648u), 0, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_SEND_RTCP, "leg-a", 0x22, 2147483647u), 4294967295.0, EPS);
    fsa_calc_destroy(c);
}

/*
 * One source SSRC is kept per direction: a report from a new SSRC is that
 * stream's first report (base 0) and becomes the base.
 *   A:10 -> 10; A:12 -> 2; B:4 -> 4 (new SSRC, from 0); B:5 -> 1;
 *   A:13 -> 13 (A's base was replaced by B's: A counts from 0 again).
 */
static void calc_rtcp_ssrc_change(void)
{
    struct fsa_calc *c = new_calc();
    born(c, "leg-a");
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0xa, 10), 10, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0xa, 12), 2, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0xb, 4), 4, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0xb, 5), 1, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "leg-a", 0xa, 13), 13, EPS);
    const struct fsa_leg *l = fsa_calc_leg(c, 0, "leg-a", 5);
    CHECK(l && l->rtcp[FSA_LEG_RTCP_RECV].source_ssrc == 0xa && l->rtcp[FSA_LEG_RTCP_RECV].last_lost == 13);
    fsa_calc_destroy(c);
}

/*
 * A leg learnt mid-call (its first event is not CHANNEL_CREATE: the agent
 * started, restarted or reconnected while it was up) has a cumulative Lost
 * that began before the agent saw it. Restart case of the issue: cumulative
 * 49 at the first report after the restart, then 52, 60:
 *   49 -> no packets_lost (base only; jitter etc. still exported), 52 -> 3,
 *   60 -> 8: the sum 11 never exceeds the final cumulative 60 (exporting 49
 *   as "lost since the last report" is what made 135 > 102).
 * Each direction has its own first report: SEND 7 -> none, 9 -> 2.
 * After the base, a new SSRC is that stream's first report as usual: 4 -> 4.
 * A leg first seen by CHANNEL_ANSWER is learnt too; a born leg counts from 0.
 */
static void calc_rtcp_learnt_leg(void)
{
    struct fsa_calc *c = new_calc();
    const struct fsa_rtcp_record *r = one(c, FSA_EV_RECV_RTCP, "mid", 8000, (struct blk){0x1111, 12, 49, 160, NAN});
    CHECK(r && isnan(r->packets_lost));
    CHECK(r && fabs(r->jitter_ms - 20.0) < EPS && fabs(r->fraction_lost - 12.0 / 256.0) < EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "mid", 0x1111, 52), 3, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "mid", 0x1111, 60), 8, EPS);
    CHECK(isnan(lost_of(c, FSA_EV_SEND_RTCP, "mid", 0x2222, 7)));
    CHECK_NEAR(lost_of(c, FSA_EV_SEND_RTCP, "mid", 0x2222, 9), 2, EPS);
    CHECK_NEAR(lost_of(c, FSA_EV_SEND_RTCP, "mid", 0x3333, 4), 4, EPS);

    struct fsa_event_msg m = chan(FSA_EV_CHANNEL_ANSWER, "answered", "PCMU", 8000, FSA_DIR_OUTBOUND);
    fsa_calc_process(c, &m, 1);
    CHECK(isnan(lost_of(c, FSA_EV_RECV_RTCP, "answered", 0x1, 5)));
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "answered", 0x1, 6), 1, EPS);

    born(c, "born");
    CHECK_NEAR(lost_of(c, FSA_EV_RECV_RTCP, "born", 0x1, 5), 5, EPS);

    struct fsa_calc_stats st;
    fsa_calc_stats_read(c, &st);
    CHECK_EQ_U64(st.legs_learnt, 2);    /* mid, answered */
    CHECK_EQ_U64(st.rtcp_base_only, 3); /* mid RECV, mid SEND, answered RECV */
    CHECK_EQ_U64(st.legs_created, 3);
    fsa_calc_destroy(c);
}

/* ---- jitter clock ------------------------------------------------------------------------------------------ */

/*
 * jitter_ms = Jitter x 1000 / clock; clock = RTP-Rate when > 0, else the
 * codec's RTP clock, else the leg's codec rate, else 8000. Jitter 480:
 *   RTP-Rate 16000                 -> 480000 / 16000 = 30 ms (even on an OPUS leg)
 *   OPUS leg, no RTP-Rate          -> 480000 / 48000 = 10 ms
 *   G722 leg (codec_rate 16000)    -> 480000 / 8000  = 60 ms (G.722's RTP clock is 8000)
 *   PCMA leg                       -> 60 ms
 *   "L16" leg, codec_rate 16000    -> 480000 / 16000 = 30 ms (not in the table: its rate)
 *   "L16" leg, codec_rate unknown  -> 480000 / 8000  = 60 ms
 *   leg with no channel event yet  -> 60 ms
 */
static void calc_rtcp_jitter_clock(void)
{
    struct fsa_calc *c = new_calc();
    struct {
        const char *uuid, *codec;
        uint32_t codec_rate, rtp_rate;
        double want_ms;
    } cases[] = {
        {"opus-rate", "opus", 48000, 16000, 30}, {"opus", "opus", 48000, 0, 10}, {"g722", "G722", 16000, 0, 60},
        {"pcma", "PCMA", 8000, 0, 60},           {"l16", "L16", 16000, 0, 30},   {"l16-norate", "L16", 0, 0, 60},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fsa_event_msg m =
            chan(FSA_EV_CHANNEL_ANSWER, cases[i].uuid, cases[i].codec, cases[i].codec_rate, FSA_DIR_INBOUND);
        fsa_calc_process(c, &m, 1);
        const struct fsa_rtcp_record *r =
            one(c, FSA_EV_SEND_RTCP, cases[i].uuid, cases[i].rtp_rate, (struct blk){1, 0, 0, 480, NAN});
        CHECK(r && fabs(r->jitter_ms - cases[i].want_ms) < EPS);
    }
    const struct fsa_rtcp_record *r = one(c, FSA_EV_RECV_RTCP, "no-channel-yet", 0, (struct blk){1, 0, 0, 480, NAN});
    CHECK(r && fabs(r->jitter_ms - 60) < EPS);
    fsa_calc_destroy(c);
}

/* ---- fraction, RTT, live MOS ------------------------------------------------------------------------------- */

/*
 * OPUS leg (Ie 11, Bpl 25.1: Opus conceals whatever emodel.plc says), RTP-Rate 48000.
 * RECV: Fraction 64, Jitter 960, Rtt0-Avg 0.080:
 *   fraction_lost = 64/256 = 0.25; jitter = 960000/48000 = 20 ms; rtt = 80 ms
 *   MOS: d = 40 + 40 + 10 = 90, Id = 2.25; loss % = 25;
 *        Ie,eff = 11 + 84 x 25 / 50.1 = 11 + 2100 / 50.1 = 11 + 41.916167664671 = 52.916167664671
 *        R = 93.2 - 2.25 - 52.916167664671 = 38.033832335329
 *        MOS = 1 + 1.331184131737 + 7e-6 x 38.033832335329 x (-21.966167664671) x 61.966167664671
 *              38.033832335329 x 21.966167664671 = 835.457...; x 61.966167664671 = 51770.101877;
 *              x 7e-6 = 0.362390713138
 *            = 1 + 1.331184131737 - 0.362390713138 = 1.968793418599
 * SEND: no RTT in SEND reports -> rtt_ms NaN; the MOS uses the leg's last RTT (80).
 *   Fraction 300 (out of range) is clamped to 255 -> 255/256.
 * RECV with Rtt0-Avg 0, NaN, -1 or inf: rtt_ms NaN, the last RTT (80) stays.
 */
static void calc_rtcp_fraction_rtt_mos(void)
{
    struct fsa_calc *c = new_calc();
    struct fsa_event_msg m = chan(FSA_EV_CHANNEL_ANSWER, "opus-leg", "opus", 48000, FSA_DIR_INBOUND);
    fsa_calc_process(c, &m, 1);
    const struct fsa_rtcp_record *r = one(c, FSA_EV_RECV_RTCP, "opus-leg", 48000, (struct blk){7, 64, 0, 960, 0.080});
    CHECK(r != NULL);
    if (r) {
        CHECK_NEAR(r->fraction_lost, 0.25, EPS);
        CHECK_NEAR(r->jitter_ms, 20, EPS);
        CHECK_NEAR(r->rtt_ms, 80, 1e-12);
        struct fsa_emodel_result e = fsa_emodel_eval(FSA_CODEC_OPUS, true, 80, 20, 25);
        CHECK_NEAR(e.r, 38.033832335329, EPS);
        CHECK_NEAR(r->mos, e.mos, 1e-6);
        CHECK_NEAR(r->mos, 1.968793418599, 1e-8);
    }
    r = one(c, FSA_EV_SEND_RTCP, "opus-leg", 0, (struct blk){7, 300, 0, 0, NAN});
    CHECK(r && isnan(r->rtt_ms));
    if (r) {
        CHECK_NEAR(r->fraction_lost, 255.0 / 256.0, EPS);
        /* RTT 80 (last), jitter 0, loss 99.609375 %: */
        CHECK_NEAR(r->mos, fsa_emodel_eval(FSA_CODEC_OPUS, true, 80, 0, 25500.0 / 256.0).mos, 1e-6);
    }
    const double bad_rtt[] = {0.0, NAN, -1.0, INFINITY, 1e300};
    for (size_t i = 0; i < sizeof(bad_rtt) / sizeof(bad_rtt[0]); i++) {
        r = one(c, FSA_EV_RECV_RTCP, "opus-leg", 48000, (struct blk){7, 0, 0, 0, bad_rtt[i]});
        CHECK(r && isnan(r->rtt_ms));
        if (r)
            CHECK_NEAR(r->mos, fsa_emodel_eval(FSA_CODEC_OPUS, true, 80, 0, 0).mos, 1e-6);
    }
    fsa_calc_destroy(c);
}

/* Blocks: SSRC 0 is empty and skipped; several blocks give several records; nblocks is clamped. */
static void calc_rtcp_blocks(void)
{
    struct fsa_calc *c = new_calc();
    struct blk b[FSA_RTCP_MAX_BLOCKS] = {
        {0, 0, 9, 8, NAN}, {0x51, 0, 3, 8, NAN}, {0x52, 0, 4, 16, NAN}, {0x53, 0, 5, 0, NAN}};
    struct fsa_event_msg m = rtcp(FSA_EV_RECV_RTCP, "multi", 8000, b, FSA_RTCP_MAX_BLOCKS);
    m.u.rtcp.nblocks = 200; /* lies: only FSA_RTCP_MAX_BLOCKS exist */
    size_t before = nrec;
    fsa_calc_process(c, &m, 1);
    unsigned n = 0;
    for (size_t i = before; i < nrec; i++)
        if (rec[i].kind == FSA_REC_RTCP) {
            n++;
            CHECK(rec[i].u.rtcp.source_ssrc != 0);
            CHECK_EQ_U64(rec[i].labels.direction, FSA_DIR_INBOUND);
        }
    CHECK_EQ_U64(n, 3);
    /* Three blocks in one RECV each from their own SSRC: the base follows the last (0x53, 5). */
    const struct fsa_leg *l = fsa_calc_leg(c, 0, "multi", 5);
    CHECK(l && l->rtcp[FSA_LEG_RTCP_RECV].source_ssrc == 0x53 && l->rtcp[FSA_LEG_RTCP_RECV].last_lost == 5);
    /* Jitter accumulators: 1 + 2 + 0 ms over 3 blocks. */
    CHECK(l && l->jitter_count == 3 && fabs(l->jitter_sum_ms - 3) < EPS && l->jitter_min_ms == 0 &&
          l->jitter_max_ms == 2);
    struct fsa_calc_stats s;
    fsa_calc_stats_read(c, &s);
    CHECK_EQ_U64(s.rtcp_processed, 1);
    CHECK_EQ_U64(s.records[FSA_REC_RTCP], 3);
    fsa_calc_destroy(c);
}

/* ---- QoS --------------------------------------------------------------------------------------------------- */

static struct fsa_event_msg hangup(const char *uuid, uint8_t direction)
{
    struct fsa_event_msg m = chan(FSA_EV_CHANNEL_HANGUP_COMPLETE, uuid, "PCMU", 8000, direction);
    m.event_time_us = 9000;
    snprintf(m.u.chan.hangup_cause, sizeof(m.u.chan.hangup_cause), "NORMAL_CLEARING");
    return m;
}

static const struct fsa_metric_record *find(enum fsa_record_kind kind, const char *uuid)
{
    for (size_t i = 0; i < nrec && i < MAXREC; i++)
        if (rec[i].kind == kind && strcmp(rec[i].labels.channel_id, uuid) == 0)
            return &rec[i];
    return NULL;
}

/*
 * A leg with reports in both directions, RTT from RECV, and every counter:
 *   RECV (8000 Hz): Jitter 80 -> 10 ms, Lost 3, Rtt0-Avg 0.1 -> 100 ms
 *   SEND:           Jitter 40 -> 5 ms,  Lost 7
 *   SEND:           Jitter 160 -> 20 ms, Lost 4294967295 (-1)
 *   hangup: in_mos 4.2, in 1000, out 900, skip 50, in_raw 172000, out_raw 154800
 * jitter: (10 + 5 + 20) / 3 = 11.666666666667, min 5, max 20
 * total_packets = 1900; total_bytes = 326800
 * packet_loss: inbound = SEND's last cumulative, -1 -> counts as 0 (skip 50 is NOT used: SEND reports
 *              exist); outbound = RECV's last 3 -> 3
 * E-model: jitter 11.666666666667, RTT 100, loss % = 100 x 3 / (1000 + 0 + 900) = 0.157894736842
 *   d = 50 + 23.333333333333 + 10 = 83.333333333333, Id = 2.083333333333
 *   emodel.plc true (default, PCMU Bpl 25.1):
 *     Ie,eff = 95 x 0.157894736842 / 25.257894736842 = 15 / 25.257894736842 = 0.593873723692
 *     R = 93.2 - 2.083333333333 - 0.593873723692 = 90.522792942975
 *   emodel.plc false (Bpl 4.3):
 *     Ie,eff = 95 x 0.157894736842 / 4.457894736842 = 15 / 4.457894736842 = 3.364817001181
 *     R = 93.2 - 2.083333333333 - 3.364817001181 = 87.751849665486
 * Labels: inbound leg -> src = remote 192.0.2.7, dst = local 10.0.0.1.
 */
static void qos_with_reports(bool plc)
{
    nrec = 0;
    struct fsa_calc_params p = {.max_legs = 64, .ninstances = 2, .emit = emit, .emodel_no_plc = !plc};
    struct fsa_calc *c = fsa_calc_create(&p);
    struct fsa_event_msg m = chan(FSA_EV_CHANNEL_CREATE, "q1", "PCMU", 8000, FSA_DIR_INBOUND);
    fsa_calc_process(c, &m, 1);
    one(c, FSA_EV_RECV_RTCP, "q1", 8000, (struct blk){5, 0, 3, 80, 0.1});
    one(c, FSA_EV_SEND_RTCP, "q1", 0, (struct blk){6, 0, 7, 40, NAN});
    one(c, FSA_EV_SEND_RTCP, "q1", 0, (struct blk){6, 0, 4294967295u, 160, NAN});
    m = hangup("q1", FSA_DIR_INBOUND);
    struct fsa_channel_payload *ch = &m.u.chan;
    ch->qos_present = FSA_QOS_IN_MOS | FSA_QOS_IN_PACKETS | FSA_QOS_OUT_PACKETS | FSA_QOS_IN_SKIP_PACKETS |
                      FSA_QOS_IN_RAW_BYTES | FSA_QOS_OUT_RAW_BYTES | FSA_QOS_IN_JITTER_MIN_VAR |
                      FSA_QOS_IN_JITTER_MAX_VAR;
    ch->in_mos = 4.2;
    ch->in_packets = 1000;
    ch->out_packets = 900;
    ch->in_skip_packets = 50;
    ch->in_raw_bytes = 172000;
    ch->out_raw_bytes = 154800;
    ch->in_jitter_min_variance = 4; /* unused: the leg had reports */
    ch->in_jitter_max_variance = 400;
    fsa_calc_process(c, &m, 2);
    const struct fsa_metric_record *r = find(FSA_REC_QOS, "q1");
    CHECK(r != NULL);
    if (r) {
        const struct fsa_qos_record *q = &r->u.qos;
        CHECK_NEAR(q->mos_score, 4.2, EPS);
        CHECK_NEAR(q->jitter_avg_ms, 35.0 / 3.0, EPS);
        CHECK_NEAR(q->jitter_min_ms, 5, EPS);
        CHECK_NEAR(q->jitter_max_ms, 20, EPS);
        CHECK_NEAR(q->total_packets, 1900, EPS);
        CHECK_NEAR(q->packet_loss, 3, EPS);
        CHECK_NEAR(q->total_bytes, 326800, EPS);
        double want_r = plc ? 90.522792942975 : 87.751849665486;
        CHECK_NEAR(q->r_factor, want_r, 1e-9);
        CHECK_NEAR(q->mos_emodel, fsa_emodel_mos_from_r(want_r), 1e-9);
        CHECK_STR(r->labels.src_ip, "192.0.2.7");
        CHECK_STR(r->labels.dst_ip, "10.0.0.1");
        CHECK_STR(r->hangup_cause, "NORMAL_CLEARING");
        CHECK_EQ_U64(r->time_unix_us, 9000);
    }
    fsa_calc_destroy(c);
}

static void calc_qos_with_reports(void)
{
    qos_with_reports(true); /* the default */
    qos_with_reports(false);
}

/*
 * Without reports: jitter from the variances, loss from skip.
 *   min var 2.25 -> 1.5 ms; max var 6.25 -> 2.5 ms; avg NaN
 *   packet_loss = skip 20; E-model jitter = 2.5 (max), RTT 0,
 *   loss % = 100 x 20 / (480 + 20 + 500) = 2
 *   d = 0 + 5 + 10 = 15, Id = 0.375; Ie,eff = 95 x 2 / 27.1 = 7.011070110701 (PCMU, plc: Bpl 25.1)
 *   R = 93.2 - 0.375 - 7.011070110701 = 85.813929889299
 * Outbound leg: src = local 10.0.0.1, dst = remote 192.0.2.7 (IPv6 below).
 */
static void calc_qos_without_reports(void)
{
    struct fsa_calc *c = new_calc();
    struct fsa_event_msg m = hangup("q2", FSA_DIR_OUTBOUND); /* its first event: handled on a stack copy */
    snprintf(m.u.chan.local_media_ip, sizeof(m.u.chan.local_media_ip), "2001:0db8:0:0::1");
    snprintf(m.u.chan.remote_media_ip, sizeof(m.u.chan.remote_media_ip), "not-an-ip");
    struct fsa_channel_payload *ch = &m.u.chan;
    ch->qos_present = FSA_QOS_IN_PACKETS | FSA_QOS_OUT_PACKETS | FSA_QOS_IN_SKIP_PACKETS | FSA_QOS_IN_JITTER_MIN_VAR |
                      FSA_QOS_IN_JITTER_MAX_VAR;
    ch->in_packets = 480;
    ch->out_packets = 500;
    ch->in_skip_packets = 20;
    ch->in_jitter_min_variance = 2.25;
    ch->in_jitter_max_variance = 6.25;
    fsa_calc_process(c, &m, 1);
    const struct fsa_metric_record *r = find(FSA_REC_QOS, "q2");
    CHECK(r != NULL);
    if (r) {
        const struct fsa_qos_record *q = &r->u.qos;
        CHECK(isnan(q->mos_score)); /* in_mos absent */
        CHECK(isnan(q->jitter_avg_ms));
        CHECK_NEAR(q->jitter_min_ms, 1.5, EPS);
        CHECK_NEAR(q->jitter_max_ms, 2.5, EPS);
        CHECK_NEAR(q->total_packets, 980, EPS);
        CHECK_NEAR(q->packet_loss, 20, EPS);
        CHECK(isnan(q->total_bytes)); /* neither byte counter present */
        CHECK_NEAR(q->r_factor, 85.813929889299, 1e-9);
        CHECK_STR(r->labels.src_ip, "2001:db8::1"); /* canonical text */
        CHECK_STR(r->labels.dst_ip, "");            /* not an address: unknown */
        CHECK_EQ_U64(r->labels.direction, FSA_DIR_OUTBOUND);
    }
    /* The hangup-only leg is still counted up and down, and leaves nothing behind. */
    CHECK(find(FSA_REC_LEG_UP, "q2") && find(FSA_REC_LEG_DOWN, "q2"));
    CHECK(fsa_calc_leg(c, 0, "q2", 2) == NULL);

    /* No media statistics at all: no QoS record (not zeros), but LEG_DOWN. */
    m = hangup("q3", FSA_DIR_INBOUND);
    m.u.chan.qos_present = FSA_QOS_IN_MOS | FSA_QOS_IN_SKIP_PACKETS; /* no packet counts: not "media" */
    fsa_calc_process(c, &m, 1);
    CHECK(find(FSA_REC_QOS, "q3") == NULL);
    CHECK(find(FSA_REC_LEG_DOWN, "q3") != NULL);

    /* Only the inbound count: total = in; packet_loss NaN (no reports, no skip); bad variance -> NaN. */
    m = hangup("q4", FSA_DIR_INBOUND);
    m.u.chan.qos_present = FSA_QOS_IN_PACKETS | FSA_QOS_IN_JITTER_MAX_VAR;
    m.u.chan.in_packets = 10;
    m.u.chan.in_jitter_max_variance = -4;
    fsa_calc_process(c, &m, 1);
    r = find(FSA_REC_QOS, "q4");
    CHECK(r && r->u.qos.total_packets == 10 && isnan(r->u.qos.packet_loss) && isnan(r->u.qos.jitter_max_ms) &&
          isnan(r->u.qos.jitter_min_ms) && isfinite(r->u.qos.r_factor));
    struct fsa_calc_stats s;
    fsa_calc_stats_read(c, &s);
    CHECK_EQ_U64(s.qos_generated, 2);
    CHECK_EQ_U64(s.legs_active, 0);
    fsa_calc_destroy(c);
}

/* The QoS record of a hangup-only leg with the given counters (present = FSA_QOS_* bits). */
static const struct fsa_qos_record *gap_leg(struct fsa_calc *c, const char *uuid, uint32_t present, uint64_t in,
                                            uint64_t skip, uint64_t hold_s)
{
    struct fsa_event_msg m = hangup(uuid, FSA_DIR_INBOUND);
    m.u.chan.qos_present = present | FSA_QOS_OUT_PACKETS; /* out counts make it a leg with media */
    m.u.chan.in_packets = in;
    m.u.chan.in_skip_packets = skip;
    m.u.chan.out_packets = 1000;
    m.u.chan.hold_accum_s = hold_s;
    fsa_calc_process(c, &m, 1);
    const struct fsa_metric_record *r = find(FSA_REC_QOS, uuid);
    CHECK(r != NULL);
    return r ? &r->u.qos : NULL;
}

/*
 * media_gap_ratio = rtp_audio_in_skip_packet_count / (rtp_audio_in_packet_count + skip),
 * the live FreeSWITCH 1.11.1 figures of contract.md as (skip, packets) vectors, by hand:
 *   clean call               3 / (997 + 3)    = 3 / 1000    = 0.003
 *   40 +- 30 ms jitter       17 / (983 + 17)  = 17 / 1000   = 0.017
 *   10 % network loss, low   125 / (1125 + 125) = 125 / 1250 = 0.1
 *   10 % network loss, high  262 / (986 + 262)  = 262 / 1248 = 0.209935897436
 *   8 % output-path drops    214 / (856 + 214)  = 214 / 1070 = 0.2
 *                            309 / (657 + 309)  = 309 / 966  = 0.319875776398
 * The drops leg also has what FreeSWITCH showed on those calls: MOS 4.50 and
 * RTCP Lost 1 each way, so packet_loss = 1 + 1 = 2 and the E-model sees
 * loss % = 100 x 2 / (856 + 1 + 1000) = 0.107700592353: nearly clean, while
 * the gap says a fifth of the ticks had nothing to play.
 * Edges: skip absent -> 0 / in = 0; in absent -> skip / skip = 1; both absent
 * or both 0 -> NaN (no point). hold_seconds: the counter as is, NaN if absent.
 */
static void calc_qos_media_gap(void)
{
    struct fsa_calc *c = new_calc();
    const uint32_t both = FSA_QOS_IN_PACKETS | FSA_QOS_IN_SKIP_PACKETS;
    static const struct {
        const char *uuid;
        uint64_t skip, in;
        double gap;
    } v[] = {
        {"g-clean", 3, 997, 0.003},
        {"g-jitter", 17, 983, 0.017},
        {"g-loss-lo", 125, 1125, 0.1},
        {"g-loss-hi", 262, 986, 0.209935897436},
        {"g-drop-hi", 309, 657, 0.319875776398},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const struct fsa_qos_record *q = gap_leg(c, v[i].uuid, both, v[i].in, v[i].skip, 0);
        CHECK(q && fabs(q->media_gap_ratio - v[i].gap) < 1e-12);
        CHECK(q && isnan(q->hold_seconds)); /* not in the event */
    }

    struct fsa_event_msg m = chan(FSA_EV_CHANNEL_CREATE, "g-drop-lo", "PCMU", 8000, FSA_DIR_INBOUND);
    fsa_calc_process(c, &m, 1);
    one(c, FSA_EV_RECV_RTCP, "g-drop-lo", 8000, (struct blk){5, 0, 1, 0, 0.02});
    one(c, FSA_EV_SEND_RTCP, "g-drop-lo", 0, (struct blk){6, 0, 1, 0, NAN});
    m = hangup("g-drop-lo", FSA_DIR_INBOUND);
    m.u.chan.qos_present = both | FSA_QOS_OUT_PACKETS | FSA_QOS_IN_MOS | FSA_QOS_HOLD_SECONDS;
    m.u.chan.in_packets = 856;
    m.u.chan.in_skip_packets = 214;
    m.u.chan.out_packets = 1000;
    m.u.chan.in_mos = 4.5;
    m.u.chan.hold_accum_s = 0;
    fsa_calc_process(c, &m, 2);
    const struct fsa_metric_record *r = find(FSA_REC_QOS, "g-drop-lo");
    CHECK(r != NULL);
    if (r) {
        CHECK_NEAR(r->u.qos.media_gap_ratio, 0.2, 1e-12);
        CHECK_NEAR(r->u.qos.packet_loss, 2, 0);
        CHECK_NEAR(r->u.qos.mos_score, 4.5, 0);
        CHECK_NEAR(r->u.qos.hold_seconds, 0, 0);
        CHECK(r->u.qos.mos_emodel > 4.3); /* the E-model does not see these drops: the gap does */
    }

    const struct fsa_qos_record *q = gap_leg(c, "g-no-skip", FSA_QOS_IN_PACKETS, 500, 77, 0);
    CHECK(q && q->media_gap_ratio == 0.0);
    q = gap_leg(c, "g-no-in", FSA_QOS_IN_SKIP_PACKETS, 77, 50, 0);
    CHECK(q && q->media_gap_ratio == 1.0);
    q = gap_leg(c, "g-none", 0, 500, 50, 0);
    CHECK(q && isnan(q->media_gap_ratio));
    q = gap_leg(c, "g-zero", both, 0, 0, 0);
    CHECK(q && isnan(q->media_gap_ratio));
    q = gap_leg(c, "g-held", both | FSA_QOS_HOLD_SECONDS, 600, 900, 18);           /* 18 s of 30 on hold */
    CHECK(q && q->hold_seconds == 18.0 && fabs(q->media_gap_ratio - 0.6) < 1e-12); /* 900 / 1500 */
    q = gap_leg(c, "g-huge", both | FSA_QOS_HOLD_SECONDS, UINT64_MAX, UINT64_MAX, UINT64_MAX);
    CHECK(q && q->media_gap_ratio == 0.5 && isfinite(q->hold_seconds)); /* hostile counters stay finite */
    fsa_calc_destroy(c);
}

int main(void)
{
    calc_rtcp_lost_deltas();
    calc_rtcp_lost_int32();
    calc_rtcp_ssrc_change();
    calc_rtcp_learnt_leg();
    calc_rtcp_jitter_clock();
    calc_rtcp_fraction_rtt_mos();
    calc_rtcp_blocks();
    calc_qos_with_reports();
    calc_qos_without_reports();
    calc_qos_media_gap();
    return fsa_test_finish();
}
