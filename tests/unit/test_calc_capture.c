/*
 * The calculators on real FreeSWITCH data: every frame of fs-plain-all.raw is
 * framed and decoded (engine/esl.h) and fed, in capture order, to ONE
 * calculator, synchronously (fsa_calc_process, no threads). The TTL clock is
 * the event clock (Event-Date-Timestamp x 1000).
 *
 * Expected values were computed by hand from header values extracted from the
 * capture (grep / a few lines of Python over the URL-decoded plain events),
 * and the arithmetic is written next to each leg below; the E-model steps
 * follow contract.md (see test_emodel.c for the formula). The intermediate
 * products of each MOS are shown to 9-12 digits. The capture is run with
 * both emodel.plc settings: PCMU's Bpl is 25.1 with concealment (the
 * default) and 4.3 without; a value without loss is the same under both.
 *
 * Whole-capture counts (README.txt of the fixtures):
 *   52 legs, all CHANNEL_CREATE first, 52 CHANNEL_HANGUP_COMPLETE
 *   -> 52 LEG_UP, 52 LEG_DOWN, 0 legs active at the end;
 *   50 legs with rtp_audio_* statistics -> 50 QOS; the 2 NO_ROUTE_DESTINATION
 *   legs (ffe89e6b..., 32be906d...) have none -> no QOS, but a LEG_DOWN;
 *   249 RECV_RTCP_MESSAGE with one block each (no SSRC 0) -> 249 inbound RTCP;
 *   88 SEND_RTCP_MESSAGE, 16 of them with Source-SSRC 00000000 (skipped by
 *   the decoder as empty) -> 72 outbound RTCP; 337 RTCP messages processed.
 */
#include "calc/calc.h"
#include "engine/esl.h"
#include "fsa_test.h"

#define EPS 1e-9     /* exact decimal arithmetic: jitter, fractions, counts */
#define EPS_MOS 1e-7 /* E-model outputs: RTT is kept as a float in the leg (see calc/legs.h) */

struct sink {
    struct fsa_metric_record *v;
    size_t n, cap;
};

static void sink_emit(void *ctx, const struct fsa_metric_record *r)
{
    struct sink *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        if (!s->v)
            exit(2);
    }
    s->v[s->n++] = *r;
}

static struct sink sink;
static struct fsa_calc *calc;
static bool g_plc; /* emodel.plc of the run */
static unsigned frames, plain_events, used_events;

/*
 * batch 0: one fsa_calc_process() per event with the event clock; batch N:
 * fsa_calc_process_batch() over groups of N, the group's first event clock.
 */
static void feed_capture(unsigned batch)
{
    struct fsa_event_msg group[FSA_CALC_BATCH];
    const struct fsa_event_msg *ptrs[FSA_CALC_BATCH];
    unsigned ngroup = 0;
    frames = plain_events = used_events = 0;
    size_t len;
    char *buf = fsa_test_read_file(fsa_test_fixture("fs-plain-all.raw"), &len);
    struct esl_framer f;
    esl_framer_init(&f, 1u << 20);
    size_t off = 0;
    while (off < len) {
        struct esl_frame fr;
        size_t consumed;
        const char *err = NULL;
        int rc = esl_framer_next(&f, buf + off, len - off, &fr, &consumed, &err);
        if (rc != 1) {
            fprintf(stderr, "framing stopped at %zu: rc %d %s\n", off, rc, err ? err : "");
            break;
        }
        frames++;
        if (fr.type == ESL_CT_EVENT_PLAIN) {
            plain_events++;
            struct fsa_event_msg m;
            if (esl_decode_plain_event(fr.body, &m, NULL, &err) == ESL_DECODE_EVENT) {
                used_events++;
                m.instance = 0;
                m.ingest_ns = 0;
                if (!batch) {
                    fsa_calc_process(calc, &m, m.event_time_us * 1000);
                } else {
                    group[ngroup] = m;
                    ptrs[ngroup] = &group[ngroup];
                    if (++ngroup == batch) {
                        fsa_calc_process_batch(calc, ptrs, ngroup, group[0].event_time_us * 1000);
                        ngroup = 0;
                    }
                }
            }
        }
        off += consumed;
    }
    if (ngroup)
        fsa_calc_process_batch(calc, ptrs, ngroup, group[0].event_time_us * 1000);
    free(buf);
}

/* The records of one leg (Unique-ID prefix) and kind, in emission order. */
static size_t leg_records(const char *uuid, enum fsa_record_kind kind, const struct fsa_metric_record **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sink.n; i++)
        if (sink.v[i].kind == kind && strcmp(sink.v[i].labels.channel_id, uuid) == 0) {
            if (n < max)
                out[n] = &sink.v[i];
            n++;
        }
    return n;
}

struct rtcp_exp {
    uint8_t direction; /* FSA_DIR_INBOUND = RECV, FSA_DIR_OUTBOUND = SEND */
    uint64_t time_us;  /* Event-Date-Timestamp */
    uint32_t ssrc;     /* Source(0)-SSRC */
    double jitter_ms, packets_lost, fraction_lost, rtt_ms;
    double mos;     /* emodel.plc false (Bpl 4.3) */
    double mos_plc; /* emodel.plc true (Bpl 25.1); 0: the same as mos (no loss in the report) */
};

static void check_rtcp(const char *uuid, const struct rtcp_exp *e, size_t n)
{
    const struct fsa_metric_record *r[32];
    size_t got = leg_records(uuid, FSA_REC_RTCP, r, 32);
    CHECK_EQ_U64(got, n);
    for (size_t i = 0; i < n && i < got; i++) {
        const struct fsa_rtcp_record *x = &r[i]->u.rtcp;
        CHECK_EQ_U64(r[i]->labels.direction, e[i].direction);
        CHECK_EQ_U64(r[i]->time_unix_us, e[i].time_us);
        CHECK_EQ_U64(x->source_ssrc, e[i].ssrc);
        CHECK_NEAR(x->jitter_ms, e[i].jitter_ms, EPS);
        CHECK_NEAR(x->packets_lost, e[i].packets_lost, EPS);
        CHECK_NEAR(x->fraction_lost, e[i].fraction_lost, EPS);
        if (isnan(e[i].rtt_ms))
            CHECK(isnan(x->rtt_ms));
        else
            CHECK_NEAR(x->rtt_ms, e[i].rtt_ms, EPS);
        CHECK_NEAR(x->mos, g_plc && e[i].mos_plc ? e[i].mos_plc : e[i].mos, EPS_MOS);
        CHECK_STR(r[i]->labels.domain_name, "example.com");
        CHECK_STR(r[i]->labels.codec_name, "PCMU");
    }
}

struct qos_exp {
    double mos_score, jitter_avg_ms, jitter_min_ms, jitter_max_ms, total_packets, packet_loss, total_bytes, r_factor,
        mos_emodel;                      /* emodel.plc false */
    double media_gap_ratio;              /* skip / (in_packet_count + skip), by hand below */
    double r_factor_plc, mos_emodel_plc; /* emodel.plc true */
};

static void check_qos(const char *uuid, const char *call_id, uint8_t direction, const struct qos_exp *e)
{
    const struct fsa_metric_record *r[2];
    CHECK_EQ_U64(leg_records(uuid, FSA_REC_QOS, r, 2), 1);
    const struct fsa_qos_record *q = &r[0]->u.qos;
    CHECK_NEAR(q->mos_score, e->mos_score, EPS);
    if (isnan(e->jitter_avg_ms))
        CHECK(isnan(q->jitter_avg_ms));
    else
        CHECK_NEAR(q->jitter_avg_ms, e->jitter_avg_ms, EPS);
    CHECK_NEAR(q->jitter_min_ms, e->jitter_min_ms, EPS);
    CHECK_NEAR(q->jitter_max_ms, e->jitter_max_ms, EPS);
    CHECK_NEAR(q->total_packets, e->total_packets, EPS);
    CHECK_NEAR(q->packet_loss, e->packet_loss, EPS);
    CHECK_NEAR(q->total_bytes, e->total_bytes, EPS);
    CHECK_NEAR(q->r_factor, g_plc ? e->r_factor_plc : e->r_factor, EPS_MOS);
    CHECK_NEAR(q->mos_emodel, g_plc ? e->mos_emodel_plc : e->mos_emodel, EPS_MOS);
    CHECK_NEAR(q->media_gap_ratio, e->media_gap_ratio, 1e-12);
    CHECK_NEAR(q->hold_seconds, 0.0, 0); /* variable_hold_accum_seconds: 0 on every leg of the capture */
    /* Labels: the leg's final state (all these legs: example.com, PCMU, media on loopback). */
    CHECK_STR(r[0]->labels.correlation_id, call_id);
    CHECK_STR(r[0]->labels.domain_name, "example.com");
    CHECK_STR(r[0]->labels.codec_name, "PCMU");
    CHECK_STR(r[0]->labels.src_ip, "127.0.0.1");
    CHECK_STR(r[0]->labels.dst_ip, "127.0.0.1");
    CHECK_EQ_U64(r[0]->labels.direction, direction);
    CHECK_STR(r[0]->hangup_cause, "NORMAL_CLEARING");
}

/*
 * b0c6292b: BATCH2, cid 1011, inbound leg sofia/b/1011@example.com, PCMU,
 * fire_rtcp_events=true -> 6 RECV + 6 SEND. Headers (RTP-Rate 8000 on every
 * RECV; SEND has none, so the clock is PCMU's 8000):
 *   ts                SEND Source-SSRC Frac Lost Jit | RECV Source0-SSRC Frac Lost Jit Rtt0-Avg
 *   1795481656206391  00000000 1 1 0 (empty block: skipped by the decoder)
 *   1795481656246481                                | 3f1c25fc 1 1 0 0.000000
 *   1795481660226359  3307ebec 0 1 0
 *   1795481660266367                                | 3f1c25fc 0 1 0 0.040009
 *   1795481664246354  3307ebec 0 1 0
 *   1795481664286362                                | 3f1c25fc 0 1 0 0.040013
 *   1795481668266392  3307ebec 0 1 0
 *   1795481668306395                                | 3f1c25fc 0 1 0 0.039993
 *   1795481673286461  3307ebec 0 1 0
 *   1795481673326453                                | 3f1c25fc 0 1 0 0.040003
 *   1795481678306373  3307ebec 0 1 0
 *   1795481678346365                                | 3f1c25fc 0 1 0 0.040000
 * Every jitter is 0 -> 0 x 1000 / 8000 = 0 ms.
 * Lost: first RECV (3f1c25fc) counts from 0: 1 - 0 = 1; then 1 - 1 = 0.
 *       first SEND with an SSRC (3307ebec): 1 - 0 = 1; then 0.
 * Fraction 1 -> 1/256 = 0.00390625; 0 -> 0.
 * RTT: 0.000000 -> NaN; 0.040009 -> 40.009 ms, etc. SEND: NaN.
 * MOS (PCMU Ie 0 Bpl 4.3; RTT = last > 0 seen, else 0; loss % = Fraction/256 x 100):
 *   RECV#1: RTT 0, jitter 0, loss 0.390625 %: d = 10, Id = 0.25;
 *           Ie,eff = 95 x 0.390625 / 4.690625 = 37.109375 / 4.690625 = 7.911392405063
 *           R = 93.2 - 0.25 - 7.911392405063 = 85.038607594937
 *           MOS = 1 + 2.976351265823 + 7e-6 x (85.038607594937 x 25.038607594937 = 2129.248325989
 *                 x 14.961392405063 = 31856.519732952) = 1 + 2.976351265823 + 0.222995638131 = 4.199346903953
 *     with plc (Bpl 25.1): Ie,eff = 37.109375 / 25.490625 = 1.455804830207
 *           R = 93.2 - 0.25 - 1.455804830207 = 91.494195169793
 *           MOS = 1 + 3.202296830943 + 7e-6 x (91.494195169793 x 31.494195169793 = 2881.536039581
 *                 x 8.505804830207 = 24509.783163880) = 1 + 3.202296830943 + 0.171568482147 = 4.373865313090
 *   (every other report of the leg has Fraction 0: the same MOS under both settings)
 *   SEND#1: RTT still none (RECV#1 had 0), jitter 0, loss 0: R = 93.2 - 0.25 = 92.95
 *           MOS = 1 + 3.25325 + 7e-6 x 92.95 x 32.95 x 7.05 = 1 + 3.25325 + 0.151144368375 = 4.404394368375
 *   RTT 40.009: d = 20.0045 + 10 = 30.0045, Id = 0.7501125, R = 92.4498875
 *           MOS = 1 + 3.2357460625 + 7e-6 x 22650.250286859 = 4.394297814508 (RECV#2 and SEND#2)
 *   RTT 40.013: Id = 0.7501625, R = 92.4498375, MOS = 1 + 3.2357443125 + 0.158552471949 = 4.394296784449
 *   RTT 39.993: Id = 0.7499125, R = 92.4500875, MOS = 1 + 3.2357530625 + 0.158548872202 = 4.394301934702
 *   RTT 40.003: Id = 0.7500375, R = 92.4499625, MOS = 1 + 3.2357486875 + 0.158550672088 = 4.394299359588
 *   RTT 40.000: Id = 0.75,      R = 92.45,      MOS = 1 + 3.23575      + 0.158550132125 = 4.394300132125
 * QoS (HANGUP_COMPLETE: in_mos 4.50, in_packet_count 1495, out_packet_count 1500,
 *      in_skip_packet_count 5, in_raw_bytes 257140, out_raw_bytes 258000):
 *   jitter over the 11 report blocks (6 RECV + 5 SEND), all 0 ms: avg 0/11 = 0, min 0, max 0
 *   total_packets = 1495 + 1500 = 2995
 *   packet_loss   = SEND's last cumulative Lost 1 (so not skip 5) + RECV's last cumulative Lost 1 = 2
 *   total_bytes   = 257140 + 258000 = 515140
 *   E-model: jitter 0 (avg), RTT 40.000 (last), loss % = 100 x 2 / (1495 + 1 + 1500) = 200 / 2996
 *            = 0.066755674232; d = 20 + 0 + 10 = 30, Id = 0.75
 *            Ie,eff = 95 x 0.066755674232 / 4.366755674232 = 1.452288500933
 *            R = 93.2 - 0.75 - 1.452288500933 = 90.997711499067
 *            MOS = 1 + 3.184919902467 + 7e-6 x (2820.720808123 x 9.002288500933 = 25392.942495311)
 *                = 1 + 3.184919902467 + 0.177750597467 = 4.362670499935
 *   with plc: Ie,eff = 95 x 0.066755674232 / 25.166755674232 = 0.251990726741
 *            R = 93.2 - 0.75 - 0.251990726741 = 92.198009273259
 *            MOS = 1 + 3.226930324564 + 7e-6 x (2968.592357556 x 7.801990726741 = 23160.930045130)
 *                = 1 + 3.226930324564 + 0.162126510316 = 4.389056834880
 *   media_gap_ratio = skip 5 / (1495 + 5) = 5 / 1500 = 0.003333333333 (a clean call: 0.002-0.005 live)
 */
static void capture_leg_b0c6292b(void)
{
    const char *u = "b0c6292b-0197-4183-9245-3f7f203ddc84";
    const uint8_t I = FSA_DIR_INBOUND, O = FSA_DIR_OUTBOUND;
    const struct rtcp_exp e[] = {
        {I, 1795481656246481, 0x3f1c25fc, 0, 1, 0.00390625, NAN, 4.199346903953, 4.373865313090},
        {O, 1795481660226359, 0x3307ebec, 0, 1, 0, NAN, 4.404394368375, 0},
        {I, 1795481660266367, 0x3f1c25fc, 0, 0, 0, 40.009, 4.394297814508, 0},
        {O, 1795481664246354, 0x3307ebec, 0, 0, 0, NAN, 4.394297814508, 0},
        {I, 1795481664286362, 0x3f1c25fc, 0, 0, 0, 40.013, 4.394296784449, 0},
        {O, 1795481668266392, 0x3307ebec, 0, 0, 0, NAN, 4.394296784449, 0},
        {I, 1795481668306395, 0x3f1c25fc, 0, 0, 0, 39.993, 4.394301934702, 0},
        {O, 1795481673286461, 0x3307ebec, 0, 0, 0, NAN, 4.394301934702, 0},
        {I, 1795481673326453, 0x3f1c25fc, 0, 0, 0, 40.003, 4.394299359588, 0},
        {O, 1795481678306373, 0x3307ebec, 0, 0, 0, NAN, 4.394299359588, 0},
        {I, 1795481678346365, 0x3f1c25fc, 0, 0, 0, 40.000, 4.394300132125, 0},
    };
    check_rtcp(u, e, sizeof(e) / sizeof(e[0]));
    const struct qos_exp q = {
        4.50, 0, 0, 0, 2995, 2, 515140, 90.997711499067, 4.362670499935, 5.0 / 1500, 92.198009273259, 4.389056834880};
    check_qos(u, "67acd41d-6244-1240-9495-06c5022e40d8", FSA_DIR_INBOUND, &q);
}

/*
 * ebd223a0: BATCH3 (about 5 % random loss on loopback), cid 1022, inbound,
 * PCMU, fire_rtcp_events -> 5 RECV + 5 SEND. Headers:
 *   ts                SEND Source-SSRC Frac Lost Jit | RECV Source0-SSRC Frac Lost Jit Rtt0-Avg
 *   1795481695446373  00000000 1 1 30 (empty: skipped; its jitter is not a report)
 *   1795481695466452                                | 3f124e23 1 1 0 0.000000
 *   1795481699466399  2f0e4eb3 0 1 17
 *   1795481699506397                                | 3f124e23 0 1 0 0.040100
 *   1795481703486366  2f0e4eb3 0 1 21
 *   1795481703526368                                | 3f124e23 0 1 0 0.040100
 *   1795481707506368  2f0e4eb3 0 1 37
 *   1795481707546367                                | 3f124e23 0 1 0 0.040063
 *   1795481712526377  2f0e4eb3 0 1 22
 *   1795481712546385                                | 3f124e23 0 1 0 0.034046
 * SEND jitter at 8000 Hz: 17 -> 17000/8000 = 2.125 ms; 21 -> 2.625; 37 -> 4.625; 22 -> 2.75.
 * Lost: first of each direction 1 - 0 = 1, then 1 - 1 = 0 (FreeSWITCH's Lost stayed 1 despite the
 * induced loss: README's observation).
 * MOS:
 *   RECV#1: as b0c6292b's RECV#1 (RTT 0, jitter 0, Fraction 1) = 4.199346903953, with plc 4.373865313090
 *   SEND#1: RTT 0, jitter 2.125: d = 0 + 4.25 + 10 = 14.25, Id = 0.35625, R = 92.84375
 *           MOS = 1 + 3.24953125 + 7e-6 x (3049.336914062 x 7.15625 = 21821.817291260) = 4.402283971039
 *   RECV#2: RTT 40.1, jitter 0: d = 20.05 + 10 = 30.05, Id = 0.75125, R = 92.44875
 *           MOS = 1 + 3.23570625 + 0.158568129657 = 4.394274379657 (RECV#3: same RTT and jitter)
 *   SEND#2: RTT 40.1, jitter 2.625: d = 20.05 + 5.25 + 10 = 35.3, Id = 0.8825, R = 92.3175
 *           MOS = 1 + 3.2311125 + 0.160443601283 = 4.391556101283
 *   SEND#3: RTT 40.1, jitter 4.625: d = 20.05 + 9.25 + 10 = 39.3, Id = 0.9825, R = 92.2175
 *           MOS = 1 + 3.2276125 + 0.161853595301 = 4.389466095301
 *   RECV#4: RTT 40.063: d = 30.0315, Id = 0.7507875, R = 92.4492125, MOS = 1 + 3.2357224375 + 0.158561470869
 *           = 4.394283908369
 *   SEND#4: RTT 40.063, jitter 2.75: d = 20.0315 + 5.5 + 10 = 35.5315, Id = 0.8882875, R = 92.3117125
 *           MOS = 1 + 3.2309099375 + 0.160525650666 = 4.391435588166
 *   RECV#5: RTT 34.046: d = 17.023 + 10 = 27.023, Id = 0.675575, R = 92.524425
 *           MOS = 1 + 3.238354875 + 0.157473929679 = 4.395828804679
 * QoS (in_mos 4.50, in_packet_count 975, out_packet_count 1188, in_skip_packet_count 275,
 *      in_raw_bytes 167700, out_raw_bytes 204336):
 *   jitter over 9 blocks: 5 RECV x 0 + 2.125 + 2.625 + 4.625 + 2.75 = 12.125; avg 12.125/9 = 1.347222222222;
 *          min 0, max 4.625
 *   total_packets = 975 + 1188 = 2163
 *   packet_loss   = SEND last 1 (not skip 275) + RECV last 1 = 2
 *   total_bytes   = 167700 + 204336 = 372036
 *   E-model: jitter 1.347222222222, RTT 34.046, loss % = 200 / (975 + 1 + 1188) = 200/2164 = 0.092421441774
 *            d = 17.023 + 2.694444444444 + 10 = 29.717444444444, Id = 0.742936111111
 *            Ie,eff = 95 x 0.092421441774 / 4.392421441774 = 1.998905862054
 *            R = 93.2 - 0.742936111111 - 1.998905862054 = 90.458158026834
 *            MOS = 1 + 3.166035530939 + 7e-6 x 26289.576822826 = 1 + 3.166035530939 + 0.184027037760 = 4.350062568699
 *   with plc: Ie,eff = 95 x 0.092421441774 / 25.192421441774 = 0.348518977775
 *            R = 93.2 - 0.742936111111 - 0.348518977775 = 92.108544911113
 *            MOS = 1 + 3.223799071889 + 7e-6 x (2957.471350976 x 7.891455088887 = 23338.752342894)
 *                = 1 + 3.223799071889 + 0.163371266400 = 4.387170338289
 *   media_gap_ratio = 275 / (975 + 275) = 275 / 1250 = 0.22: the loss RTCP's Lost (stuck at 1) never showed
 */
static void capture_leg_ebd223a0(void)
{
    const char *u = "ebd223a0-57ce-4a39-b0bc-3b8101e5c9ff";
    const uint8_t I = FSA_DIR_INBOUND, O = FSA_DIR_OUTBOUND;
    const struct rtcp_exp e[] = {
        {I, 1795481695466452, 0x3f124e23, 0, 1, 0.00390625, NAN, 4.199346903953, 4.373865313090},
        {O, 1795481699466399, 0x2f0e4eb3, 2.125, 1, 0, NAN, 4.402283971039, 0},
        {I, 1795481699506397, 0x3f124e23, 0, 0, 0, 40.1, 4.394274379657, 0},
        {O, 1795481703486366, 0x2f0e4eb3, 2.625, 0, 0, NAN, 4.391556101283, 0},
        {I, 1795481703526368, 0x3f124e23, 0, 0, 0, 40.1, 4.394274379657, 0},
        {O, 1795481707506368, 0x2f0e4eb3, 4.625, 0, 0, NAN, 4.389466095301, 0},
        {I, 1795481707546367, 0x3f124e23, 0, 0, 0, 40.063, 4.394283908369, 0},
        {O, 1795481712526377, 0x2f0e4eb3, 2.75, 0, 0, NAN, 4.391435588166, 0},
        {I, 1795481712546385, 0x3f124e23, 0, 0, 0, 34.046, 4.395828804679, 0},
    };
    check_rtcp(u, e, sizeof(e) / sizeof(e[0]));
    const struct qos_exp q = {
        4.50,          12.125 / 9, 0, 4.625, 2163, 2, 372036, 90.458158026834, 4.350062568699, 0.22, 92.108544911113,
        4.387170338289};
    check_qos(u, "7f1052a7-6244-1240-9495-06c5022e40d8", FSA_DIR_INBOUND, &q);
}

/*
 * 9a7a9f3f: BATCH7 (sipp's lossy, jittery pcap upstream), cid 1062, outbound
 * leg sofia/a/2040@127.0.0.1:5090, default RTCP -> 5 RECV, no SEND. Its
 * CHANNEL_CREATE has no codec (outbound legs learn it at ANSWER).
 *   ts                RECV Source0-SSRC Frac Lost Jit Rtt0-Avg (RTP-Rate 8000)
 *   1795481900874746  470e85f0 0 0 7  0.000000
 *   1795481904886368  470e85f0 0 0 30 0.000000
 *   1795481908906480  470e85f0 0 0 22 0.020004
 *   1795481912946355  470e85f0 0 0 34 0.019963
 *   1795481917938891  470e85f0 0 0 27 0.019966
 * jitter: 7000/8000 = 0.875; 3.75; 2.75; 4.25; 3.375 ms. Lost 0 - 0 = 0 throughout.
 * MOS (no loss, Ie,eff 0):
 *   #1 RTT 0: d = 1.75 + 10 = 11.75, Id = 0.29375, R = 92.90625, MOS = 1 + 3.25171875 + 0.151808903229 = 4.403527653229
 *   #2 RTT 0: d = 7.5 + 10 = 17.5, Id = 0.4375, R = 92.7625, MOS = 1 + 3.2466875 + 0.153969994869 = 4.400657494869
 *   #3 RTT 20.004: d = 10.002 + 5.5 + 10 = 25.502, Id = 0.63755, R = 92.56245
 *      MOS = 1 + 3.23968575 + 0.156920561481 = 4.396606311481
 *   #4 RTT 19.963: d = 9.9815 + 8.5 + 10 = 28.4815, Id = 0.7120375, R = 92.4879625
 *      MOS = 1 + 3.2370786875 + 0.158002323878 = 4.395081011378
 *   #5 RTT 19.966: d = 9.983 + 6.75 + 10 = 26.733, Id = 0.668325, R = 92.531675
 *      MOS = 1 + 3.238608625 + 0.157368605965 = 4.395977230965
 * QoS (in_mos 4.50, in 1299, out 1054, skip 4, in_raw 223428, out_raw 181288):
 *   jitter: (0.875 + 3.75 + 2.75 + 4.25 + 3.375) / 5 = 15 / 5 = 3; min 0.875, max 4.25
 *   total_packets = 1299 + 1054 = 2353
 *   packet_loss   = no SEND reports -> skip 4; + RECV last cumulative 0 = 4
 *   total_bytes   = 223428 + 181288 = 404716
 *   E-model: jitter 3, RTT 19.966, loss % = 400 / (1299 + 4 + 1054) = 400/2357 = 0.169707254985
 *            d = 9.983 + 6 + 10 = 25.983, Id = 0.649575
 *            Ie,eff = 95 x 0.169707254985 / 4.469707254985 = 3.606989966873
 *            R = 93.2 - 0.649575 - 3.606989966873 = 88.943435033127
 *            MOS = 1 + 3.113020226159 + 7e-6 x 28463.230676767 = 1 + 3.113020226159 + 0.199242614737 = 4.312262840897
 *   with plc: Ie,eff = 95 x 0.169707254985 / 25.269707254985 = 0.638004590275
 *            R = 93.2 - 0.649575 - 0.638004590275 = 91.912420409725
 *            MOS = 1 + 3.216934714340 + 7e-6 x (2933.147800991 x 8.087579590275 = 23722.066290551)
 *                = 1 + 3.216934714340 + 0.166054464034 = 4.382989178374
 *   media_gap_ratio = 4 / (1299 + 4) = 4 / 1303 = 0.003069838833
 * Outbound leg: src = local, dst = remote (both 127.0.0.1 here). Its LEG_UP
 * was counted at CHANNEL_CREATE, before the codec was known: LEG_UP and
 * LEG_DOWN both say codec "" although the QoS says PCMU.
 */
static void capture_leg_9a7a9f3f(void)
{
    const char *u = "9a7a9f3f-0650-48e8-8911-745c8f6afe35";
    const uint8_t I = FSA_DIR_INBOUND;
    const struct rtcp_exp e[] = {
        {I, 1795481900874746, 0x470e85f0, 0.875, 0, 0, NAN, 4.403527653229, 0},
        {I, 1795481904886368, 0x470e85f0, 3.75, 0, 0, NAN, 4.400657494869, 0},
        {I, 1795481908906480, 0x470e85f0, 2.75, 0, 0, 20.004, 4.396606311481, 0},
        {I, 1795481912946355, 0x470e85f0, 4.25, 0, 0, 19.963, 4.395081011378, 0},
        {I, 1795481917938891, 0x470e85f0, 3.375, 0, 0, 19.966, 4.395977230965, 0},
    };
    check_rtcp(u, e, sizeof(e) / sizeof(e[0]));
    const struct qos_exp q = {4.50,           3.0,        0.875,           4.25,
                              2353,           4,          404716,          88.943435033127,
                              4.312262840897, 4.0 / 1303, 91.912420409725, 4.382989178374};
    check_qos(u, "f982e2a8-6244-1240-9495-06c5022e40d8", FSA_DIR_OUTBOUND, &q);

    const struct fsa_metric_record *up[2], *down[2];
    CHECK_EQ_U64(leg_records(u, FSA_REC_LEG_UP, up, 2), 1);
    CHECK_EQ_U64(leg_records(u, FSA_REC_LEG_DOWN, down, 2), 1);
    CHECK_STR(up[0]->labels.codec_name, "");
    CHECK_STR(down[0]->labels.codec_name, "");
    CHECK_STR(down[0]->labels.domain_name, "example.com");
    CHECK_EQ_U64(down[0]->labels.direction, FSA_DIR_OUTBOUND);
    CHECK_STR(down[0]->hangup_cause, "NORMAL_CLEARING");
    CHECK_EQ_U64(up[0]->time_unix_us, 1795481896866382);   /* its CHANNEL_CREATE */
    CHECK_EQ_U64(down[0]->time_unix_us, 1795481922932948); /* its CHANNEL_HANGUP_COMPLETE */
}

/*
 * ce5aab7d: BATCH7, cid 1062, the inbound leg facing sipp (no RTCP at all),
 * FreeSWITCH MOS 3.73 < 4.5. HANGUP_COMPLETE: in_mos 3.73, in_packet_count
 * 1055, out_packet_count 1297, in_skip_packet_count 255,
 * in_jitter_min_variance 33.33, in_jitter_max_variance 1151.74,
 * in_raw_bytes 181460, out_raw_bytes 223084.
 *   jitter_avg  = NaN (no reports)
 *   jitter_min  = sqrt(33.33)   = 5.773214009544 ms
 *   jitter_max  = sqrt(1151.74) = 33.937295119087 ms
 *   total_packets = 1055 + 1297 = 2352
 *   packet_loss   = skip 255 (no SEND) + 0 (no RECV) = 255
 *   total_bytes   = 181460 + 223084 = 404544
 *   E-model: jitter = jitter_max 33.937295119087 (no reports), RTT 0,
 *            loss % = 100 x 255 / (1055 + 255 + 1297) = 25500/2607 = 9.781357882624
 *            d = 0 + 67.874590238174 + 10 = 77.874590238174, Id = 1.946864755954
 *            Ie,eff = 95 x 9.781357882624 / 14.081357882624 = 65.990013647470
 *            R = 93.2 - 1.946864755954 - 65.990013647470 = 25.263121596575
 *            MOS = 1 + 0.884209255880 + 7e-6 x (25.263121596575 x -34.736878403425 = -877.561982991
 *                  x 74.736878403425 = -65586.243214279) = 1 + 0.884209255880 - 0.459103702500 = 1.425105553380
 *   with plc: Ie,eff = 95 x 9.781357882624 / 34.881357882624 = 26.639702559061
 *            R = 93.2 - 1.946864755954 - 26.639702559061 = 64.613432684985
 *            MOS = 1 + 2.261470143974 + 7e-6 x (64.613432684985 x 4.613432684985 = 298.089722238
 *                  x 35.386567315015 = 10548.372021888) = 1 + 2.261470143974 + 0.073838604153 = 3.335308748128
 *            (FreeSWITCH's own MOS for this leg: 3.73)
 *   media_gap_ratio = 255 / (1055 + 255) = 255 / 1310 = 0.194656488550
 */
static void capture_leg_ce5aab7d(void)
{
    const char *u = "ce5aab7d-0931-481d-8d2f-75f91316e88e";
    check_rtcp(u, NULL, 0);
    const struct qos_exp q = {3.73,
                              NAN,
                              5.773214009544,
                              33.937295119087,
                              2352,
                              255,
                              404544,
                              25.263121596575,
                              1.425105553380,
                              0.194656488550,
                              64.613432684985,
                              3.335308748128};
    check_qos(u, "1-19112@127.0.0.1", FSA_DIR_INBOUND, &q);
}

/*
 * 77408067: BATCH6, cid 1061, inbound leg facing sipp, MOS 4.41. No RTCP.
 * in_mos 4.41, in 1208, out 1297, skip 94, min var 153.84, max var 800.00,
 * in_raw 207776, out_raw 223084.
 *   jitter_min = sqrt(153.84) = 12.403225386971, jitter_max = sqrt(800) = 28.284271247462
 *   total_packets = 2505, packet_loss = 94, total_bytes = 430860
 *   loss % = 9400 / (1208 + 94 + 1297) = 9400/2599 = 3.616775682955
 *   d = 56.568542494924 + 10 = 66.568542494924, Id = 1.664213562373
 *   Ie,eff = 95 x 3.616775682955 / 7.916775682955 = 43.400710546907
 *   R = 93.2 - 1.664213562373 - 43.400710546907 = 48.135075890720
 *   MOS = 1 + 1.684727656175 - 7e-6 x 29621.044756105 = 1 + 1.684727656175 - 0.207347313293 = 2.477380342882
 *   with plc: Ie,eff = 95 x 3.616775682955 / 28.716775682955 = 11.964911857589
 *   R = 93.2 - 1.664213562373 - 11.964911857589 = 79.570874580037
 *   MOS = 1 + 2.784980610301 + 7e-6 x (1557.271606630 x 20.429125419963 = 31813.696964787)
 *       = 1 + 2.784980610301 + 0.222695878754 = 4.007676489055   (FreeSWITCH's: 4.41)
 *   media_gap_ratio = 94 / (1208 + 94) = 94 / 1302 = 0.072196620584
 */
static void capture_leg_77408067(void)
{
    const char *u = "77408067-ab0a-4628-b7e6-a7604ca459e1";
    check_rtcp(u, NULL, 0);
    const struct qos_exp q = {4.41,
                              NAN,
                              12.403225386971,
                              28.284271247462,
                              2505,
                              94,
                              430860,
                              48.135075890720,
                              2.477380342882,
                              0.072196620584,
                              79.570874580037,
                              4.007676489055};
    check_qos(u, "1-18847@127.0.0.1", FSA_DIR_INBOUND, &q);
}

/* The two NO_ROUTE_DESTINATION legs: no media statistics, so no QoS; but counted up and down. */
static void capture_no_media_legs(void)
{
    const char *legs[] = {"ffe89e6b-ef00-4393-9059-f44f8246e84c", "32be906d-e383-4825-8928-9180bcba913e"};
    for (int i = 0; i < 2; i++) {
        const struct fsa_metric_record *r[2];
        CHECK_EQ_U64(leg_records(legs[i], FSA_REC_QOS, r, 2), 0);
        CHECK_EQ_U64(leg_records(legs[i], FSA_REC_RTCP, r, 2), 0);
        CHECK_EQ_U64(leg_records(legs[i], FSA_REC_LEG_UP, r, 2), 1);
        CHECK_EQ_U64(leg_records(legs[i], FSA_REC_LEG_DOWN, r, 2), 1);
        CHECK_STR(r[0]->hangup_cause, "NO_ROUTE_DESTINATION");
        /* ffe89e6b never had variable_domain_name: sip_from_host example.com (rank 2) all along. */
        CHECK_STR(r[0]->labels.domain_name, "example.com");
    }
}

/* Whole-capture counts, and LEG_UP/LEG_DOWN pairing over every leg. */
static void capture_counts(void)
{
    CHECK_EQ_U64(frames, 1791);
    CHECK_EQ_U64(plain_events, 1785);
    /* used: CREATE 52 + ANSWER 50 + BRIDGE 13 + HANGUP_COMPLETE 52 + RECV 249 + SEND 88 = 504 */
    CHECK_EQ_U64(used_events, 504);

    struct fsa_calc_stats s;
    fsa_calc_stats_read(calc, &s);
    CHECK_EQ_U64(s.records[FSA_REC_QOS], 50);
    CHECK_EQ_U64(s.records[FSA_REC_RTCP], 249 + 72);
    CHECK_EQ_U64(s.records[FSA_REC_LEG_UP], 52);
    CHECK_EQ_U64(s.records[FSA_REC_LEG_DOWN], 52);
    CHECK_EQ_U64(s.legs_active, 0);
    CHECK_EQ_U64(s.legs_created, 52);
    CHECK_EQ_U64(s.legs_ended, 52);
    CHECK_EQ_U64(s.legs_expired, 0);
    CHECK_EQ_U64(s.legs_refused, 0);
    CHECK_EQ_U64(s.events_late, 0);
    CHECK_EQ_U64(s.messages_invalid, 0);
    CHECK_EQ_U64(s.rtcp_processed, 249 + 88);
    CHECK_EQ_U64(s.qos_generated, 50);
    CHECK_EQ_U64(s.labels_full, 0);
    for (int k = 0; k < FSA_REC_KIND_COUNT; k++)
        CHECK_EQ_U64(s.records_dropped[k], 0);

    size_t in = 0, out = 0, bad = 0, unpaired = 0;
    for (size_t i = 0; i < sink.n; i++) {
        const struct fsa_metric_record *r = &sink.v[i];
        if (r->kind == FSA_REC_RTCP) {
            in += r->labels.direction == FSA_DIR_INBOUND;
            out += r->labels.direction == FSA_DIR_OUTBOUND;
            const struct fsa_rtcp_record *x = &r->u.rtcp;
            if (!isfinite(x->jitter_ms) || !isfinite(x->packets_lost) || x->packets_lost < 0 ||
                !(x->mos >= 1 && x->mos <= 4.5) || (!isnan(x->rtt_ms) && !(x->rtt_ms > 0)))
                bad++;
        }
        if (r->kind != FSA_REC_LEG_DOWN)
            continue;
        /* Its LEG_UP came earlier, with the very same aggregate labels. */
        size_t j;
        for (j = 0; j < i; j++)
            if (sink.v[j].kind == FSA_REC_LEG_UP && strcmp(sink.v[j].labels.channel_id, r->labels.channel_id) == 0)
                break;
        if (j == i || strcmp(sink.v[j].labels.domain_name, r->labels.domain_name) != 0 ||
            strcmp(sink.v[j].labels.codec_name, r->labels.codec_name) != 0 ||
            sink.v[j].labels.direction != r->labels.direction || sink.v[j].labels.instance != r->labels.instance)
            unpaired++;
    }
    CHECK_EQ_U64(in, 249);
    CHECK_EQ_U64(out, 72);
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(unpaired, 0);

    /* Nothing is left to expire, even a day later. */
    CHECK_EQ_U64(fsa_calc_sweep(calc, (1795481922932948ull + 86400ull * 2000000) * 1000, 0, 1000), 0);
}

/* Every check of this file, on the capture fed one event at a time (batch 0) or in groups. */
static void run_all(unsigned batch, bool plc)
{
    g_plc = plc;
    struct fsa_calc_params p = {
        .max_legs = 1024, .ninstances = 1, .emit = sink_emit, .emit_ctx = &sink, .emodel_no_plc = !plc};
    calc = fsa_calc_create(&p);
    CHECK(calc != NULL);
    if (!calc)
        return;
    feed_capture(batch);
    capture_counts();
    capture_leg_b0c6292b();
    capture_leg_ebd223a0();
    capture_leg_9a7a9f3f();
    capture_leg_ce5aab7d();
    capture_leg_77408067();
    capture_no_media_legs();
    fsa_calc_destroy(calc);
}

int main(void)
{
    run_all(0, false); /* emodel.plc: false */
    free(sink.v);
    sink = (struct sink){0};
    run_all(0, true); /* the default */
    struct sink one_by_one = sink;
    sink = (struct sink){0};
    /* Groups of 5 (not a divisor of anything in the capture) and of the largest batch the worker uses. */
    unsigned batches[] = {5, FSA_CALC_BATCH};
    for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
        run_all(batches[b], true);
        /* The same records, byte for byte, in the same order. */
        CHECK_EQ_U64(sink.n, one_by_one.n);
        size_t same = 0;
        for (size_t i = 0; i < sink.n && i < one_by_one.n; i++)
            same += memcmp(&sink.v[i], &one_by_one.v[i], sizeof(sink.v[i])) == 0;
        CHECK_EQ_U64(same, one_by_one.n);
        free(sink.v);
        sink = (struct sink){0};
    }
    free(one_by_one.v);
    return fsa_test_finish();
}
