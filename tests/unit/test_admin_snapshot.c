/*
 * calc/snapshot.c: the status page's data from the workers. The MOS
 * histogram's buckets, the worst-legs walk over a real leg table (legs fed
 * through fsa_calc_process), the merge across workers, the rest between
 * passes, and a validation of the sequence lock under a concurrent reader.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "calc/calc.h"
#include "calc/snapshot.h"
#include "fsa_test.h"

#define EPS 1e-9
#define MS 1000000ull

static struct fsa_calc *new_calc(struct fsa_snapshot *s)
{
    fsa_snapshot_init(s);
    struct fsa_calc_params p = {.max_legs = 64, .ninstances = 2, .snapshot = s};
    return fsa_calc_create(&p);
}

/* A message of a kind for a leg, the rest zero. */
static struct fsa_event_msg msg(enum fsa_event_kind kind, const char *uuid, uint16_t instance, uint64_t time_us)
{
    struct fsa_event_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = (uint8_t)kind;
    m.instance = instance;
    m.uuid_len = (uint32_t)strlen(uuid);
    memcpy(m.uuid, uuid, m.uuid_len);
    m.event_time_us = time_us;
    return m;
}

static void create_leg(struct fsa_calc *c, const char *uuid, uint16_t instance)
{
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_CREATE, uuid, instance, 1000);
    snprintf(m.u.chan.codec, sizeof(m.u.chan.codec), "PCMU");
    m.u.chan.codec_rate = 8000;
    m.u.chan.direction = FSA_DIR_INBOUND;
    snprintf(m.u.chan.domain, sizeof(m.u.chan.domain), "example.com");
    m.u.chan.domain_rank = FSA_DOMAIN_FROM_VARIABLE;
    snprintf(m.u.chan.call_id, sizeof(m.u.chan.call_id), "cid-%s", uuid);
    fsa_calc_process(c, &m, 1);
}

/* One RECV report block: Jitter 80 at 8000 Hz = 10 ms, the given Fraction, no RTT. */
static void report(struct fsa_calc *c, const char *uuid, uint16_t instance, uint32_t fraction)
{
    struct fsa_event_msg m = msg(FSA_EV_RECV_RTCP, uuid, instance, 2000);
    m.u.rtcp.rtp_rate = 8000;
    m.u.rtcp.nblocks = 1;
    m.u.rtcp.block[0].source_ssrc = 0x1234;
    m.u.rtcp.block[0].fraction = fraction;
    m.u.rtcp.block[0].jitter = 80;
    fsa_calc_process(c, &m, 1);
}

static void hangup(struct fsa_calc *c, const char *uuid, uint16_t instance)
{
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, uuid, instance, 3000);
    fsa_calc_process(c, &m, 1);
}

/* Buckets are [1 + 0.25 i, 1 + 0.25 (i + 1)), the last one closed at 4.5; outside values clamp. */
static void snapshot_mos_buckets(void)
{
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(1.0), 0);
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(1.2499), 0);
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(1.25), 1); /* (1.25 - 1) / 0.25 = 1 exactly */
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(4.0), 12); /* (4 - 1) / 0.25 = 12 */
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(4.3), 13); /* 13.2 -> 13 */
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(4.5), 13); /* 14 -> the last bucket */
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(0.5), 0);
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(9.0), 13);
    CHECK_EQ_I64(fsa_snapshot_mos_bucket(NAN), -1);

    struct fsa_snapshot s;
    fsa_snapshot_init(&s);
    struct fsa_qos_record q = {.mos_emodel = 4.3, .mos_score = 1.0};
    fsa_snapshot_note_qos(&s, &q); /* the E-model's: bucket 13 */
    q = (struct fsa_qos_record){.mos_emodel = 2.0, .mos_score = 4.5};
    fsa_snapshot_note_qos(&s, &q); /* (2 - 1) / 0.25 = 4, whatever FreeSWITCH says */
    q = (struct fsa_qos_record){.mos_emodel = NAN, .mos_score = 2.0};
    fsa_snapshot_note_qos(&s, &q); /* one model: FreeSWITCH's MOS never fills in */
    q = (struct fsa_qos_record){.mos_emodel = NAN, .mos_score = NAN};
    fsa_snapshot_note_qos(&s, &q);
    struct fsa_snapshot_view v;
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &s);
    CHECK_EQ_U64(v.mos_hist[13], 1);
    CHECK_EQ_U64(v.mos_hist[4], 1);
    CHECK_EQ_U64(v.qos_without_mos, 2);
    uint64_t sum = 0;
    for (unsigned i = 0; i < FSA_SNAP_MOS_BUCKETS; i++)
        sum += v.mos_hist[i];
    CHECK_EQ_U64(sum, 2);
}

/*
 * Twelve PCMU legs, leg i with Fraction 4 i, jitter 10 ms, no RTT, spread over
 * two workers (legs 0-5, 6-11), plus one leg without RTCP. The live MOS is the
 * contract's E-model (emodel_g107_simplified):
 *   d = 0/2 + 2 x 10 + 10 = 30 ms, Id = 30/40 = 0.75
 *   Ppl = 4i / 256 x 100; Ie,eff = 95 Ppl / (Ppl + 25.1) (PCMU: Ie 0, Bpl 25.1 with
 *   emodel.plc's default, concealment)
 *   leg 11: Ppl = 17.1875, Ie,eff = 95 x 17.1875 / 42.2875 = 38.612178539758,
 *           R = 93.2 - 0.75 - 38.612178539758 = 53.837821460242,
 *           MOS = 1 + 0.035 R + 7e-6 R (R - 60)(100 - R)
 *               = 1 + 1.884323751108 + 7e-6 x (-331.758268030 x 46.162178539758 = -15314.684400823)
 *               = 1 + 1.884323751108 - 0.107202790806 = 2.777120960302
 *   leg 2:  Ppl = 3.125, Ie,eff = 95 x 3.125 / 28.225 = 10.518157661647, R = 81.931842338353,
 *           MOS = 1 + 2.867614481842 + 7e-6 x (1796.916248656 x 18.068157661647 = 32466.966085484)
 *               = 1 + 2.867614481842 + 0.227268762598 = 4.094883244440
 *   leg 0:  Ppl = 0, R = 92.45, MOS = 4.394300
 * The ten worst are legs 11 down to 2, worst first, across both workers.
 */
static void snapshot_worst_legs(void)
{
    static struct fsa_snapshot s1, s2;
    struct fsa_calc *c1 = new_calc(&s1), *c2 = new_calc(&s2);
    CHECK(c1 && c2);
    if (!c1 || !c2)
        return;
    char uuid[32];
    for (unsigned i = 0; i < 12; i++) {
        struct fsa_calc *c = i < 6 ? c1 : c2;
        snprintf(uuid, sizeof(uuid), "leg-%02u", i);
        create_leg(c, uuid, (uint16_t)(i % 2));
        report(c, uuid, (uint16_t)(i % 2), 4 * i);
    }
    create_leg(c1, "quiet", 0); /* live, never ranked */

    fsa_snapshot_scan(&s1, c1, 1000 * MS, 1000);
    fsa_snapshot_scan(&s2, c2, 1000 * MS, 1000);
    struct fsa_snapshot_view v;
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &s1);
    fsa_snapshot_merge(&v, &s2);
    CHECK_EQ_U64(v.workers, 2);
    CHECK_EQ_U64(v.workers_missing, 0);
    CHECK_EQ_U64(v.worst.live, 13);
    CHECK_EQ_U64(v.worst.ranked, 12);
    CHECK_EQ_U64(v.worst.passes, 2);
    CHECK_EQ_U64(v.worst.n, 10);
    for (unsigned k = 0; k < v.worst.n; k++) {
        snprintf(uuid, sizeof(uuid), "leg-%02u", 11 - k);
        CHECK_STR(v.worst.leg[k].uuid, uuid);
    }
    const struct fsa_snap_leg *w = &v.worst.leg[0];
    CHECK_NEAR(w->mos, 2.777120960302, 1e-9);
    CHECK_NEAR(v.worst.leg[9].mos, 4.094883244440, 1e-9);
    CHECK_NEAR(w->jitter_ms, 10.0, EPS);
    CHECK_NEAR(w->loss_pct, 17.1875, EPS);
    CHECK_NEAR(w->rtt_ms, 0.0, EPS);
    CHECK_EQ_U64(w->reports, 1);
    CHECK_EQ_U64(w->instance, 1);
    CHECK_STR(w->call_id, "cid-leg-11");
    CHECK_STR(w->domain, "example.com");
    CHECK_STR(w->codec, "PCMU");

    /* The walk rests 250 ms after a pass started: 100 ms later nothing new, 250 ms later a second pass. */
    fsa_snapshot_scan(&s1, c1, 1100 * MS, 1000);
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &s1);
    CHECK_EQ_U64(v.worst.passes, 1);
    fsa_snapshot_scan(&s1, c1, 1250 * MS, 1000);
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &s1);
    CHECK_EQ_U64(v.worst.passes, 2);
    CHECK_EQ_U64(v.worst.n, 6); /* worker 1 alone: legs 5..0 */
    CHECK_STR(v.worst.leg[0].uuid, "leg-05");
    CHECK_NEAR(v.worst.leg[5].mos, 4.394300132125, 1e-9);

    /*
     * A leg that ends while a pass is under way is not published: walk 3 of
     * the table's 7 records (legs 0-2 are candidates), hang up leg 2, finish.
     */
    fsa_snapshot_scan(&s1, c1, 1600 * MS, 3);
    hangup(c1, "leg-02", 0);
    fsa_snapshot_scan(&s1, c1, 1600 * MS, 1000);
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &s1);
    CHECK_EQ_U64(v.worst.passes, 3);
    CHECK_EQ_U64(v.worst.n, 5);
    for (unsigned k = 0; k < v.worst.n; k++)
        CHECK(strcmp(v.worst.leg[k].uuid, "leg-02") != 0);
    CHECK_EQ_U64(v.worst.live, 7); /* records walked while live: legs 0-2, then 3-5 and quiet */

    fsa_calc_destroy(c1);
    fsa_calc_destroy(c2);
}

/* A hangup with media statistics: in packets and skipped ticks, hold time; at now_ns (the windows' clock). */
static void hangup_gap(struct fsa_calc *c, const char *uuid, uint16_t instance, uint64_t in, uint64_t skip,
                       uint64_t time_us, uint64_t now_ns)
{
    struct fsa_event_msg m = msg(FSA_EV_CHANNEL_HANGUP_COMPLETE, uuid, instance, time_us);
    struct fsa_channel_payload *ch = &m.u.chan;
    snprintf(ch->codec, sizeof(ch->codec), "PCMU");
    snprintf(ch->domain, sizeof(ch->domain), "tenant.example");
    ch->domain_rank = FSA_DOMAIN_FROM_SIP_TO;
    ch->direction = FSA_DIR_OUTBOUND;
    snprintf(ch->hangup_cause, sizeof(ch->hangup_cause), "MEDIA_TIMEOUT");
    ch->qos_present =
        FSA_QOS_IN_PACKETS | FSA_QOS_OUT_PACKETS | FSA_QOS_IN_SKIP_PACKETS | FSA_QOS_IN_MOS | FSA_QOS_HOLD_SECONDS;
    ch->in_packets = in;
    ch->out_packets = 1000;
    ch->in_skip_packets = skip;
    ch->in_mos = 4.5;
    ch->hold_accum_s = 7;
    fsa_calc_process(c, &m, now_ns);
}

/*
 * Worst ended legs by media gap, fed through fsa_calc_process: twelve legs on
 * two workers (legs 0-5, 6-11), leg i with skip 10 i of 1000 ticks, so its
 * gap is 10 i / 1000 = 0.01 i; one more leg without media statistics (no
 * gap, not counted). The ten highest, merged: legs 11 down to 2. Windows of
 * FSA_SNAP_GAP_WINDOW_NS (10 min): at t0 + 10 min the first window becomes
 * the previous one (still shown) and a new leg with gap 0.5 heads the list;
 * at t0 + 30 min both windows are older than 20 min: nothing is shown.
 */
static void snapshot_worst_gaps(void)
{
    static struct fsa_snapshot s1, s2;
    struct fsa_calc *c1 = new_calc(&s1), *c2 = new_calc(&s2);
    CHECK(c1 && c2);
    if (!c1 || !c2)
        return;
    const uint64_t t0 = 1000 * MS, win = FSA_SNAP_GAP_WINDOW_NS;
    char uuid[32];
    for (unsigned i = 0; i < 12; i++) {
        snprintf(uuid, sizeof(uuid), "gap-%02u", i);
        hangup_gap(i < 6 ? c1 : c2, uuid, (uint16_t)(i % 2), 1000 - 10 * i, 10 * i, 5000 + i, t0);
    }
    hangup(c1, "no-media", 0); /* no statistics: no QoS, no gap */
    fsa_snapshot_scan(&s1, c1, t0, 1000);
    fsa_snapshot_scan(&s2, c2, t0, 1000);
    struct fsa_snapshot_view v;
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &s1);
    fsa_snapshot_merge(&v, &s2);
    CHECK_EQ_U64(v.gaps.legs, 12);
    CHECK_EQ_U64(v.gaps.n, 10);
    for (unsigned k = 0; k < v.gaps.n; k++) {
        snprintf(uuid, sizeof(uuid), "gap-%02u", 11 - k);
        CHECK_STR(v.gaps.leg[k].uuid, uuid);
        CHECK_NEAR(v.gaps.leg[k].gap, 0.01 * (11 - k), 1e-15);
    }
    const struct fsa_snap_gap_leg *g = &v.gaps.leg[0];
    CHECK_STR(g->cause, "MEDIA_TIMEOUT");
    CHECK_STR(g->domain, "tenant.example");
    CHECK_STR(g->codec, "PCMU");
    CHECK_EQ_U64(g->direction, FSA_DIR_OUTBOUND);
    CHECK_EQ_U64(g->instance, 1);
    CHECK_EQ_U64(g->ended_us, 5011);
    CHECK_NEAR(g->hold_s, 7, 0);
    CHECK_NEAR(g->mos_score, 4.5, 0);
    /*
     * Without RTCP the leg's packet_loss is its skip count (contract), so this E-model does see the gap:
     * loss % = 100 x 110 / (890 + 110 + 1000) = 5.5; d = 10, Id = 0.25; Ie,eff = 95 x 5.5 / 30.6 =
     * 17.075163398693; R = 93.2 - 0.25 - 17.075163398693 = 75.874836601307; MOS = 1 + 2.655619281046 +
     * 7e-6 x (75.874836601307 x 15.874836601307 x 24.125163398693 = 29058.774589698) = 3.859030703174
     */
    CHECK_NEAR(g->mos_emodel, 3.859030703174, 1e-9);

    /* Ten minutes on: the first window is the previous one, still shown; a new worst leg heads the list. */
    hangup_gap(c1, "gap-new", 0, 500, 500, 9000, t0 + win);
    fsa_snapshot_scan(&s1, c1, t0 + win, 1000);
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &s1);
    CHECK_EQ_U64(v.gaps.legs, 7); /* worker 1: legs 0-5 and the new one */
    CHECK_EQ_U64(v.gaps.n, 7);
    CHECK_STR(v.gaps.leg[0].uuid, "gap-new");
    CHECK_NEAR(v.gaps.leg[0].gap, 0.5, 0);
    CHECK_STR(v.gaps.leg[1].uuid, "gap-05");

    /* Thirty minutes on, with no hangup since: both windows are over, a pass publishes an empty list. */
    fsa_snapshot_scan(&s1, c1, t0 + 3 * win, 1000);
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &s1);
    CHECK_EQ_U64(v.gaps.legs, 0);
    CHECK_EQ_U64(v.gaps.n, 0);
    fsa_calc_destroy(c1);
    fsa_calc_destroy(c2);
}

/*
 * Sequence lock validation: a writer thread republishes 10 legs whose live
 * MOS all change together each round (same Fraction for all); a reader on
 * another thread merges concurrently and must never see a mix of rounds.
 */
#define ROUNDS 3000
static struct fsa_snapshot vs;
static struct fsa_calc *vc;
static atomic_bool writer_done;

static void *writer(void *arg)
{
    (void)arg;
    char uuid[32];
    for (unsigned r = 0; r < ROUNDS; r++) {
        for (unsigned i = 0; i < 10; i++) {
            snprintf(uuid, sizeof(uuid), "v-%u", i);
            report(vc, uuid, 0, r % 200);
        }
        fsa_snapshot_scan(&vs, vc, (uint64_t)(r + 1) * 300 * MS, 1000); /* a whole pass each round */
    }
    atomic_store(&writer_done, true);
    return NULL;
}

static void snapshot_seqlock_validate(void)
{
    vc = new_calc(&vs);
    CHECK(vc != NULL);
    if (!vc)
        return;
    char uuid[32];
    for (unsigned i = 0; i < 10; i++) {
        snprintf(uuid, sizeof(uuid), "v-%u", i);
        create_leg(vc, uuid, 0);
    }
    atomic_init(&writer_done, false);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, writer, NULL) == 0);
    unsigned reads = 0, torn = 0, missing = 0;
    uint64_t last_passes = 0;
    bool backwards = false;
    while (!atomic_load(&writer_done)) {
        struct fsa_snapshot_view v;
        fsa_snapshot_view_init(&v);
        fsa_snapshot_merge(&v, &vs);
        reads++;
        missing += v.workers_missing;
        if (v.workers_missing)
            continue;
        if (v.worst.passes < last_passes)
            backwards = true;
        last_passes = v.worst.passes;
        for (unsigned k = 1; k < v.worst.n; k++)
            if (v.worst.leg[k].mos != v.worst.leg[0].mos || v.worst.leg[k].reports != v.worst.leg[0].reports)
                torn++;
    }
    pthread_join(t, NULL);
    struct fsa_snapshot_view v;
    fsa_snapshot_view_init(&v);
    fsa_snapshot_merge(&v, &vs);
    CHECK_EQ_U64(torn, 0);
    CHECK(!backwards);
    /* The writer here publishes back to back (the worker: once per 250 ms at most), yet reads get through. */
    CHECK(reads > missing);
    CHECK_EQ_U64(v.worst.passes, ROUNDS);
    CHECK_EQ_U64(v.worst.n, 10);
    CHECK_EQ_U64(v.worst.leg[0].reports, ROUNDS);
    fprintf(stderr, "seqlock: %u concurrent reads, %u gave up after retries\n", reads, missing);
    fsa_calc_destroy(vc);
}

int main(void)
{
    snapshot_mos_buckets();
    snapshot_worst_legs();
    snapshot_worst_gaps();
    snapshot_seqlock_validate();
    return fsa_test_finish();
}
