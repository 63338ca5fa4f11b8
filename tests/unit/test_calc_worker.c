/*
 * The worker with real threads: a reactor-like producer feeds one input
 * lane, the worker runs its calculators, an exporter-like consumer drains
 * the output lane. Checks that every record arrives once, in per-leg order
 * (LEG_UP, RTCP..., QOS, LEG_DOWN), that counters add up, that stop drains,
 * and that a consumer that never reads makes the worker drop and count, not
 * block. Run under TSan by the tsan build.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "calc/worker.h"
#include "fsa_test.h"

#define LEGS 2000
#define RTCP_PER_LEG 3
#define RECORDS_PER_LEG (1 + RTCP_PER_LEG + 1 + 1) /* LEG_UP, RTCP x3, QOS, LEG_DOWN */

struct shared {
    struct fsa_lane in, out;
    struct fsa_doorbell out_bell;
    struct fsa_worker *w;
    uint64_t got[FSA_REC_KIND_COUNT];
    unsigned order_errors, expect;
    unsigned char stage[LEGS]; /* per leg: 0 nothing, 1 up, 2.. rtcp, then qos, then down */
};

static void fill(struct fsa_event_msg *m, enum fsa_event_kind kind, int leg)
{
    memset(m, 0, sizeof(*m));
    m->kind = (uint8_t)kind;
    m->uuid_len = (uint32_t)snprintf(m->uuid, sizeof(m->uuid), "leg-%05d", leg);
    m->event_time_us = 1000 + (uint64_t)leg;
    if (kind == FSA_EV_RECV_RTCP) {
        m->u.rtcp.rtp_rate = 8000;
        m->u.rtcp.nblocks = 1;
        m->u.rtcp.block[0].source_ssrc = 0x77;
        m->u.rtcp.block[0].lost_raw = 2;
        m->u.rtcp.block[0].jitter = 8;
        m->u.rtcp.block[0].rtt_avg_s = 0.02;
    } else {
        snprintf(m->u.chan.codec, sizeof(m->u.chan.codec), "PCMU");
        snprintf(m->u.chan.domain, sizeof(m->u.chan.domain), "d%d.example", leg % 7);
        m->u.chan.domain_rank = FSA_DOMAIN_FROM_VARIABLE;
        m->u.chan.direction = FSA_DIR_INBOUND;
        if (kind == FSA_EV_CHANNEL_HANGUP_COMPLETE) {
            snprintf(m->u.chan.hangup_cause, sizeof(m->u.chan.hangup_cause), "NORMAL_CLEARING");
            m->u.chan.qos_present = FSA_QOS_IN_PACKETS | FSA_QOS_OUT_PACKETS | FSA_QOS_IN_MOS;
            m->u.chan.in_packets = 100;
            m->u.chan.out_packets = 100;
            m->u.chan.in_mos = 4.5;
        }
    }
}

static void *reactor(void *arg)
{
    struct shared *s = arg;
    for (int leg = 0; leg < LEGS; leg++) {
        for (int e = 0; e < RTCP_PER_LEG + 2; e++) {
            enum fsa_event_kind k = e == 0              ? FSA_EV_CHANNEL_CREATE
                                    : e <= RTCP_PER_LEG ? FSA_EV_RECV_RTCP
                                                        : FSA_EV_CHANNEL_HANGUP_COMPLETE;
            struct fsa_event_msg *m;
            while (!(m = fsa_lane_acquire_sp(&s->in))) { /* a real reactor drops; the test waits */
                fsa_doorbell_ring(fsa_worker_doorbell(s->w));
                sched_yield();
            }
            fill(m, k, leg);
            fsa_lane_publish_sp(&s->in, m);
        }
        if (leg % 16 == 0)
            fsa_doorbell_ring(fsa_worker_doorbell(s->w));
    }
    fsa_doorbell_ring(fsa_worker_doorbell(s->w));
    return NULL;
}

static void *exporter(void *arg)
{
    struct shared *s = arg;
    unsigned total = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (total < s->expect) {
        struct fsa_metric_record *r = fsa_lane_pop_sc(&s->out);
        if (!r) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (t.tv_sec - t0.tv_sec > 60)
                break; /* the test fails on the counts */
            unsigned token = fsa_doorbell_prepare(&s->out_bell);
            r = fsa_lane_pop_sc(&s->out);
            if (!r) {
                fsa_doorbell_wait(&s->out_bell, token, 50);
                continue;
            }
            fsa_doorbell_cancel(&s->out_bell);
        }
        total++;
        if (r->kind < FSA_REC_KIND_COUNT)
            s->got[r->kind]++;
        int leg = atoi(r->labels.channel_id + 4);
        if (leg >= 0 && leg < LEGS) {
            unsigned char *st = &s->stage[leg];
            bool ok = (r->kind == FSA_REC_LEG_UP && *st == 0) ||
                      (r->kind == FSA_REC_RTCP && *st >= 1 && *st <= RTCP_PER_LEG) ||
                      (r->kind == FSA_REC_QOS && *st == RTCP_PER_LEG + 1) ||
                      (r->kind == FSA_REC_LEG_DOWN && *st == RTCP_PER_LEG + 2);
            if (!ok)
                s->order_errors++;
            (*st)++;
        }
        fsa_lane_release_sc(&s->out, r);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    fsa_worker_run(arg);
    return NULL;
}

static void ring_out_bell(void *bell)
{
    fsa_doorbell_ring(bell);
}

static void calc_worker_threads_end_to_end(void)
{
    static struct shared s;
    memset(&s, 0, sizeof(s));
    s.expect = LEGS * RECORDS_PER_LEG;
    CHECK(fsa_lane_init(&s.in, 256, sizeof(struct fsa_event_msg)) == 0);
    CHECK(fsa_lane_init(&s.out, 1u << 15, sizeof(struct fsa_metric_record)) == 0); /* room for everything */
    fsa_doorbell_init(&s.out_bell);
    struct fsa_lane *inputs[1] = {&s.in};
    struct fsa_worker_params p = {.index = 0,
                                  .inputs = inputs,
                                  .ninputs = 1,
                                  .ninstances = 1,
                                  .max_legs = 4096,
                                  .output = &s.out,
                                  .output_wake = ring_out_bell,
                                  .output_wake_arg = &s.out_bell};
    s.w = fsa_worker_create(&p);
    CHECK(s.w != NULL);
    if (!s.w)
        return;
    pthread_t tw, tr, te;
    pthread_create(&tw, NULL, worker_main, s.w);
    pthread_create(&te, NULL, exporter, &s);
    pthread_create(&tr, NULL, reactor, &s);
    pthread_join(tr, NULL);
    pthread_join(te, NULL);
    fsa_worker_request_stop(s.w);
    pthread_join(tw, NULL);

    CHECK_EQ_U64(s.got[FSA_REC_LEG_UP], LEGS);
    CHECK_EQ_U64(s.got[FSA_REC_RTCP], LEGS * RTCP_PER_LEG);
    CHECK_EQ_U64(s.got[FSA_REC_QOS], LEGS);
    CHECK_EQ_U64(s.got[FSA_REC_LEG_DOWN], LEGS);
    CHECK_EQ_U64(s.order_errors, 0);
    struct fsa_calc_stats st;
    fsa_worker_stats_read(s.w, &st);
    CHECK_EQ_U64(st.legs_created, LEGS);
    CHECK_EQ_U64(st.legs_ended, LEGS);
    CHECK_EQ_U64(st.legs_active, 0);
    CHECK_EQ_U64(st.rtcp_processed, LEGS * RTCP_PER_LEG);
    CHECK_EQ_U64(st.qos_generated, LEGS);
    CHECK_EQ_U64(st.records[FSA_REC_RTCP], LEGS * RTCP_PER_LEG);
    CHECK_EQ_U64(st.records_dropped[FSA_REC_RTCP], 0);
    CHECK_EQ_U64(fsa_worker_events_read(s.w, 0, FSA_EV_CHANNEL_CREATE), LEGS);
    CHECK_EQ_U64(fsa_worker_events_read(s.w, 0, FSA_EV_RECV_RTCP), LEGS * RTCP_PER_LEG);
    CHECK_EQ_U64(fsa_worker_events_read(s.w, 0, FSA_EV_CHANNEL_HANGUP_COMPLETE), LEGS);
    fsa_worker_destroy(s.w);
    fsa_lane_destroy(&s.in);
    fsa_lane_destroy(&s.out);
}

/*
 * Nobody reads the output lane (4 slots): the worker keeps consuming its
 * input, drops and counts records, and stops when asked. Messages published
 * before the stop request are all processed (drain on stop).
 */
static void calc_worker_stuck_exporter_and_drain(void)
{
    static struct shared s;
    memset(&s, 0, sizeof(s));
    CHECK(fsa_lane_init(&s.in, 4096, sizeof(struct fsa_event_msg)) == 0);
    CHECK(fsa_lane_init(&s.out, 4, sizeof(struct fsa_metric_record)) == 0);
    struct fsa_lane *inputs[1] = {&s.in};
    struct fsa_worker_params p = {.inputs = inputs, .ninputs = 1, .ninstances = 1, .max_legs = 1024, .output = &s.out};
    s.w = fsa_worker_create(&p);
    CHECK(s.w != NULL);
    if (!s.w)
        return;
    pthread_t tw;
    pthread_create(&tw, NULL, worker_main, s.w);
    enum { N = 500 };
    for (int leg = 0; leg < N; leg++) {
        struct fsa_event_msg *m;
        while (!(m = fsa_lane_acquire_sp(&s.in)))
            sched_yield();
        fill(m, leg % 2 ? FSA_EV_RECV_RTCP : FSA_EV_CHANNEL_CREATE, leg);
        fsa_lane_publish_sp(&s.in, m);
    }
    fsa_worker_request_stop(s.w); /* also rings its doorbell */
    pthread_join(tw, NULL);
    CHECK_EQ_U64(fsa_lane_occupancy(&s.in), 0);
    struct fsa_calc_stats st;
    fsa_worker_stats_read(s.w, &st);
    CHECK_EQ_U64(st.legs_created, N);
    CHECK_EQ_U64(st.legs_active, N);
    CHECK_EQ_U64(st.rtcp_processed, N / 2);
    uint64_t published = 0, dropped = 0;
    for (int k = 0; k < FSA_REC_KIND_COUNT; k++) {
        published += st.records[k];
        dropped += st.records_dropped[k];
    }
    CHECK_EQ_U64(published, 4);
    /* One event per leg: even legs a CREATE (a LEG_UP), odd legs an RTCP report (a LEG_UP and an RTCP). */
    CHECK_EQ_U64(published + dropped, N + N / 2);
    fsa_worker_destroy(s.w);
    fsa_lane_destroy(&s.in);
    fsa_lane_destroy(&s.out);
}

/* No output lane: records are counted and discarded; defaults (max_legs 0, ttl 0) are taken. */
static void calc_worker_no_output(void)
{
    struct fsa_lane in;
    CHECK(fsa_lane_init(&in, 16, sizeof(struct fsa_event_msg)) == 0);
    struct fsa_lane *inputs[1] = {&in};
    struct fsa_worker_params p = {.inputs = inputs, .ninputs = 1, .ninstances = 1};
    struct fsa_worker *w = fsa_worker_create(&p);
    CHECK(w != NULL);
    if (!w)
        return;
    struct fsa_event_msg *m = fsa_lane_acquire_sp(&in);
    fill(m, FSA_EV_CHANNEL_CREATE, 1);
    fsa_lane_publish_sp(&in, m);
    fsa_worker_request_stop(w);
    fsa_worker_run(w); /* drains, then returns: this thread is the worker now */
    struct fsa_calc_stats st;
    fsa_worker_stats_read(w, &st);
    CHECK_EQ_U64(st.records[FSA_REC_LEG_UP], 1);
    CHECK_EQ_U64(st.legs_active, 1);
    fsa_worker_destroy(w);
    fsa_lane_destroy(&in);
}

int main(void)
{
    calc_worker_threads_end_to_end();
    calc_worker_stuck_exporter_and_drain();
    calc_worker_no_output();
    return fsa_test_finish();
}
