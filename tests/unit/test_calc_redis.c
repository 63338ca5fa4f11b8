/*
 * The calculators with the Redis store (calc/store_redis.c) on the real
 * capture, against a real redis-server (fsa_redis_test.h). Every plain event
 * of fs-plain-all.raw is decoded once and fed to fsa_calc_process in capture
 * order (the TTL clock is the event clock, as test_calc_capture.c does). After
 * each event the store is ticked on the event clock (write rounds once per
 * second of it), and while loads are unanswered the test ticks again (a
 * worker polls every millisecond then), so parked events are replayed before
 * the next event and the record order is the uninterrupted run's.
 *
 *   full replay   redis mode publishes exactly the records of memory mode
 *                 (byte for byte); the 504 events cost far fewer leg writes
 *                 (one per leg and second at most) and every leg written is
 *                 deleted: the instance hash is left with its version only.
 *   restarts      the agent is stopped cleanly (SIGTERM: every change written)
 *                 twice mid-call and a fresh calc and store on the same Redis
 *                 take over: after cut 1, b0c6292b's two delta bases
 *                 (cumulative Lost 1 each way) are in Redis; after cut 2,
 *                 ebd223a0's. The restarted calcs load them, so every RTCP and
 *                 QoS record of the three generations is the record the
 *                 uninterrupted run published; the legs up at a cut are
 *                 announced again (LEG_UP).
 *   control       the same cuts in memory mode restart the deltas at 0 and
 *                 lose the jitter history: the numbers differ as computed below.
 *
 * Hand numbers (headers as listed in test_calc_capture.c):
 *   b0c6292b  RECV#1 56246481 Lost 1 | SEND#1 60226359 Lost 1 | RECV#2 60266367 Lost 1
 *             -- cut 1 (after 1795481660266367) --
 *             SEND#2 64246354 Lost 1: redis 1 - stored 1 = 0; memory 1 - 0 = 1
 *             RECV#3 64286362 Lost 1: redis 1 - stored 1 = 0; memory 1 - 0 = 1
 *             Redis at the cut: rtcp_in 3f1c25fc/1, rtcp_out 3307ebec/1, 3 report blocks, all jitter 0.
 *   ebd223a0  SEND#1 2.125 ms, RECV#2 0, SEND#2 2.625, RECV#3 0 (and RECV#1 0)
 *             -- cut 2 (after 1795481703526368) --
 *             SEND#3 707506368 Lost 1, jitter 37 -> 4.625 ms: redis 1 - 1 = 0; memory 1 - 0 = 1
 *             RECV#4 707546367 Lost 1: redis 0; memory 1
 *             QoS jitter: redis (0 x 5 + 2.125 + 2.625 + 4.625 + 2.75) / 9 = 12.125 / 9 = 1.347222222222,
 *                         R 90.458158026834, MOS 4.350062568699 (test_calc_capture.c's arithmetic);
 *                         memory: only the 4 blocks after the cut: (4.625 + 0 + 2.75 + 0) / 4 = 1.84375
 */
#include "calc/calc.h"
#include "calc/store_redis.h"
#include "engine/esl.h"
#include "fsa_redis_test.h"
#include "fsa_test.h"

#define MAX_EVENTS 1024
#define MAX_RECS 2048
#define HASH "fsagent:leg:v2:fs1"
#define CUT1_US 1795481660266367ull /* b0c6292b's RECV#2 */
#define CUT2_US 1795481703526368ull /* ebd223a0's RECV#3 */
#define B0C "b0c6292b-0197-4183-9245-3f7f203ddc84"
#define EBD "ebd223a0-57ce-4a39-b0bc-3b8101e5c9ff"

static struct fsa_event_msg *ev;
static size_t nev;
static struct test_redis redis;
static const char *const names[] = {"fs1"};

struct run {
    struct fsa_metric_record *rec;
    size_t n;
};

static void keep(void *ctx, const struct fsa_metric_record *r)
{
    struct run *x = ctx;
    if (x->n < MAX_RECS)
        x->rec[x->n] = *r;
    x->n++;
}

static void run_init(struct run *x)
{
    x->n = 0;
    x->rec = calloc(MAX_RECS, sizeof(*x->rec));
    if (!x->rec)
        exit(2);
}

/* Decodes every plain event of the capture once (504 of the 1785 are kinds the calculators use). */
static void load_events(void)
{
    size_t len;
    char *buf = fsa_test_read_file(fsa_test_fixture("fs-plain-all.raw"), &len);
    struct esl_framer f;
    esl_framer_init(&f, 1u << 20);
    ev = calloc(MAX_EVENTS, sizeof(*ev));
    if (!ev)
        exit(2);
    size_t off = 0, used = 0;
    struct esl_frame fr;
    const char *err = NULL;
    while (off < len && esl_framer_next(&f, buf + off, len - off, &fr, &used, &err) == 1) {
        off += used;
        if (fr.type == ESL_CT_EVENT_PLAIN && nev < MAX_EVENTS &&
            esl_decode_plain_event(fr.body, &ev[nev], NULL, &err) == ESL_DECODE_EVENT) {
            ev[nev].instance = 0;
            ev[nev].ingest_ns = 0;
            nev++;
        }
    }
    free(buf);
}

/* The first event after time t. */
static size_t index_after(uint64_t t)
{
    size_t i = 0;
    while (i < nev && ev[i].event_time_us <= t)
        i++;
    return i;
}

struct gen {
    struct fsa_calc *calc;
    struct fsa_store_redis *store;
};

/* An agent: a calc, with a fresh Redis store unless memory mode. */
static struct gen gen_start(struct run *out, bool redis_mode)
{
    struct gen g = {0};
    struct fsa_store st = {&fsa_store_memory_ops, NULL};
    if (redis_mode) {
        struct fsa_store_redis_params p = {.host = "127.0.0.1",
                                           .port = redis.port,
                                           .timeout_ms = 1000,
                                           .instance_names = names,
                                           .ninstances = 1};
        g.store = fsa_store_redis_create(&p);
        CHECK(g.store != NULL);
        st = fsa_store_redis_store(g.store);
    }
    struct fsa_calc_params cp = {.max_legs = 1024, .ninstances = 1, .emit = keep, .emit_ctx = out, .store = &st};
    g.calc = fsa_calc_create(&cp);
    CHECK(g.calc != NULL);
    return g;
}

static void feed(struct gen *g, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        uint64_t now = ev[i].event_time_us * 1000;
        fsa_calc_process(g->calc, &ev[i], now);
        fsa_calc_store_tick(g->calc, now);
        for (int spins = 0; fsa_calc_store_busy(g->calc) && spins < 20000; spins++) {
            nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL); /* 0.1 ms: Redis answers meanwhile */
            fsa_calc_store_tick(g->calc, now);
        }
        CHECK(!fsa_calc_store_busy(g->calc));
    }
}

/* The agent stops cleanly: every change goes to the store, then the calc goes, then its store. */
static void gen_stop(struct gen *g, struct fsa_calc_stats *cs)
{
    fsa_calc_store_final(g->calc, test_redis_now_ns() + 5000000000ull);
    fsa_calc_stats_read(g->calc, cs);
    fsa_calc_destroy(g->calc);
    if (g->store) {
        fsa_store_redis_destroy(g->store); /* flushes first */
        g->store = NULL;
    }
}

static size_t count_kind(const struct run *x, enum fsa_record_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < x->n && i < MAX_RECS; i++)
        n += x->rec[i].kind == k;
    return n;
}

/* RTCP and QoS records of b, in order, are exactly those of a. */
static void check_same_measurements(const struct run *a, const struct run *b)
{
    size_t i = 0, j = 0, same = 0, compared = 0;
    for (;;) {
        while (i < a->n && a->rec[i].kind != FSA_REC_RTCP && a->rec[i].kind != FSA_REC_QOS)
            i++;
        while (j < b->n && b->rec[j].kind != FSA_REC_RTCP && b->rec[j].kind != FSA_REC_QOS)
            j++;
        if (i >= a->n || j >= b->n)
            break;
        compared++;
        same += memcmp(&a->rec[i], &b->rec[j], sizeof(a->rec[i])) == 0;
        i++, j++;
    }
    CHECK_EQ_U64(compared, 249 + 72 + 50); /* every RTCP record and every QoS record */
    CHECK_EQ_U64(same, compared);
}

/* Legs with an event before index `cut` and no HANGUP_COMPLETE before it, computed from the events. */
static size_t legs_up_at(size_t cut, size_t from_next_to, size_t *with_events_before)
{
    size_t up = 0, touched = 0;
    for (size_t i = 0; i < cut; i++) {
        bool first = true, hung = false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(ev[j].uuid, ev[i].uuid) == 0)
                first = false;
        if (!first)
            continue;
        for (size_t j = i; j < cut; j++)
            if (strcmp(ev[j].uuid, ev[i].uuid) == 0 && ev[j].kind == FSA_EV_CHANNEL_HANGUP_COMPLETE)
                hung = true;
        if (hung)
            continue;
        up++;
        for (size_t j = cut; j < from_next_to; j++)
            if (strcmp(ev[j].uuid, ev[i].uuid) == 0) {
                touched++;
                break;
            }
    }
    *with_events_before = touched;
    return up;
}

/* The records of one leg and kind after time t, in order. */
static size_t leg_recs(const struct run *x, const char *uuid, enum fsa_record_kind k, uint64_t t,
                       const struct fsa_metric_record **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < x->n && i < MAX_RECS; i++)
        if (x->rec[i].kind == k && x->rec[i].time_unix_us > t && strcmp(x->rec[i].labels.channel_id, uuid) == 0) {
            if (n < max)
                out[n] = &x->rec[i];
            n++;
        }
    return n;
}

/*
 * One value of a leg's part in the instance hash, decoded here from the
 * netstrings ("<len>:<name>,<len>:<value>,...") independently of the store;
 * "" when absent.
 */
static const char *part_value(const char *uuid, char part, const char *name)
{
    static char out[256];
    char field[96];
    snprintf(field, sizeof(field), "%s:%c", uuid, part);
    const char *v = test_redis_hget(&redis, 0, HASH, field);
    out[0] = '\0';
    bool is_name = true, match = false;
    while (v && *v) {
        char *end;
        unsigned long len = strtoul(v, &end, 10);
        if (*end != ':' || strlen(end + 1) < len + 1 || end[1 + len] != ',')
            return "<malformed>";
        if (!is_name && match) {
            snprintf(out, sizeof(out), "%.*s", (int)len, end + 1);
            return out;
        }
        match = is_name && strlen(name) == len && memcmp(end + 1, name, len) == 0;
        is_name = !is_name;
        v = end + 2 + len;
    }
    return out;
}

/* Fields of the instance hash whose name ends with suffix (":l": legs held). */
static long long hash_fields(const char *suffix)
{
    redisReply *r = test_redis_command(&redis, 0, "HKEYS %s", HASH);
    long long n = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        size_t fl = strlen(r->element[i]->str), sl = strlen(suffix);
        n += fl >= sl && strcmp(r->element[i]->str + fl - sl, suffix) == 0;
    }
    if (r)
        freeReplyObject(r);
    return n;
}

static void full_replay(const struct run *mem)
{
    struct run x;
    run_init(&x);
    struct gen g = gen_start(&x, true);
    feed(&g, 0, nev);
    fsa_calc_store_final(g.calc, test_redis_now_ns() + 5000000000ull); /* what gen_stop does first */
    struct fsa_store_redis_stats ss;
    fsa_store_redis_stats_read(g.store, &ss);
    struct fsa_calc_stats cs;
    gen_stop(&g, &cs);

    CHECK_EQ_U64(x.n, mem->n);
    size_t same = 0;
    for (size_t i = 0; i < x.n && i < mem->n; i++)
        same += memcmp(&x.rec[i], &mem->rec[i], sizeof(x.rec[i])) == 0;
    CHECK_EQ_U64(same, mem->n);
    CHECK_EQ_U64(mem->n, 52 + 52 + 50 + 321); /* LEG_UP, LEG_DOWN, QOS, RTCP */

    /* Write-behind: at most one write per leg and round, far fewer than one per event. */
    printf("full replay: %llu leg writes, %llu deletes, %llu Redis commands in %llu rounds for %zu events\n",
           (unsigned long long)cs.store_saves, (unsigned long long)cs.store_deletes,
           (unsigned long long)ss.commands, (unsigned long long)cs.store_rounds, nev);
    CHECK(cs.store_saves >= 52 && cs.store_saves < 452 / 2);
    /* Per round at most one HSET, one HDEL and one EXPIRE for the one instance; SELECT at connect. */
    CHECK(ss.commands <= 3 * cs.store_rounds + 1);
    CHECK(cs.store_deletes <= 52);
    CHECK_EQ_U64(cs.store_loads, 0); /* every leg's first event is its CHANNEL_CREATE: nothing to load */
    CHECK_EQ_U64(cs.store_errors, 0);
    CHECK_EQ_U64(ss.ops[FSA_STORE_OP_SAVE][FSA_STORE_RESULT_OK], cs.store_saves);
    CHECK_EQ_U64(ss.ops[FSA_STORE_OP_DELETE][FSA_STORE_RESULT_OK], cs.store_deletes);
    for (int op = 0; op < FSA_STORE_OP_COUNT; op++) {
        CHECK_EQ_U64(ss.ops[op][FSA_STORE_RESULT_ERROR], 0);
        CHECK_EQ_U64(ss.ops[op][FSA_STORE_RESULT_DROPPED], 0);
    }
    CHECK_EQ_U64(ss.pending, 0);
    CHECK_EQ_I64(test_redis_int(&redis, 0, "DBSIZE"), 1);
    CHECK_EQ_I64(test_redis_int(&redis, 0, "HLEN %s", HASH), 1); /* every leg hung up: only _v is left */
    CHECK_STR(test_redis_hget(&redis, 0, HASH, "_v"), "2");
    free(x.rec);
}

/* Runs the capture as three agents in a row (cut before index c1 and c2). */
static void replay_with_restarts(struct run *x, bool redis_mode, size_t c1, size_t c2, struct fsa_calc_stats cs[3])
{
    struct gen g = gen_start(x, redis_mode);
    feed(&g, 0, c1);
    gen_stop(&g, &cs[0]);
    if (redis_mode) {
        CHECK_EQ_I64(hash_fields(":l"), (long long)cs[0].legs_active);
        /* b0c6292b's delta bases and jitter history, as an operator sees them. */
        CHECK_STR(part_value(B0C, 'b', "rtcp_in_valid"), "1");
        CHECK_STR(part_value(B0C, 'b', "rtcp_in_ssrc"), "3f1c25fc");
        CHECK_STR(part_value(B0C, 'b', "rtcp_in_lost"), "1");
        CHECK_STR(part_value(B0C, 'b', "rtcp_out_valid"), "1");
        CHECK_STR(part_value(B0C, 'b', "rtcp_out_ssrc"), "3307ebec");
        CHECK_STR(part_value(B0C, 'b', "rtcp_out_lost"), "1");
        CHECK_STR(part_value(B0C, 'j', "jitter_count"), "3");
        CHECK_STR(part_value(B0C, 'l', "domain"), "example.com");
        CHECK_STR(part_value(B0C, 'l', "codec"), "PCMU");
        long long ttl = test_redis_int(&redis, 0, "TTL %s", HASH);
        CHECK(ttl > 0 && ttl <= 86400);
    }
    g = gen_start(x, redis_mode);
    feed(&g, c1, c2);
    gen_stop(&g, &cs[1]);
    if (redis_mode) {
        CHECK_EQ_I64(hash_fields(":l"), (long long)cs[1].legs_active);
        CHECK_STR(part_value(EBD, 'b', "rtcp_out_lost"), "1");
        CHECK_STR(part_value(EBD, 'j', "jitter_count"), "5");
        CHECK_STR(part_value(EBD, 'j', "jitter_sum_ms"), "4.75"); /* 2.125 + 2.625 */
        CHECK_STR(part_value(EBD, 'j', "jitter_max_ms"), "2.625");
    }
    g = gen_start(x, redis_mode);
    feed(&g, c2, nev);
    gen_stop(&g, &cs[2]);
}

static void restarts(const struct run *mem)
{
    size_t c1 = index_after(CUT1_US), c2 = index_after(CUT2_US);
    size_t touched1, touched2;
    size_t up1 = legs_up_at(c1, c2, &touched1), up2 = legs_up_at(c2, nev, &touched2);
    printf("cut 1 before event %zu: %zu legs up (%zu with events before cut 2); cut 2 before event %zu: %zu legs up\n",
           c1, up1, touched1, c2, up2);
    CHECK(up1 > 0 && up2 > 0);

    struct run x;
    run_init(&x);
    struct fsa_calc_stats cs[3];
    replay_with_restarts(&x, true, c1, c2, cs);
    CHECK_EQ_U64(cs[0].legs_active, up1);
    CHECK_EQ_U64(cs[1].legs_active, up2);
    /* The restarted agents load every leg they did not see born, and find it. */
    CHECK_EQ_U64(cs[1].store_hits, touched1);
    CHECK_EQ_U64(cs[1].store_loads, touched1);
    CHECK_EQ_U64(cs[2].store_hits, up2); /* every leg up at cut 2 hangs up later (incl. any silent in generation 2) */
    CHECK_EQ_U64(cs[0].store_errors + cs[1].store_errors + cs[2].store_errors, 0);
    CHECK_EQ_I64(test_redis_int(&redis, 0, "HLEN %s", HASH), 1);

    check_same_measurements(mem, &x);
    CHECK_EQ_U64(count_kind(&x, FSA_REC_LEG_DOWN), 52);
    CHECK_EQ_U64(count_kind(&x, FSA_REC_LEG_UP), 52 + up1 + up2);

    const struct fsa_metric_record *r[8];
    CHECK_EQ_U64(leg_recs(&x, B0C, FSA_REC_RTCP, CUT1_US, r, 8), 8); /* 4 SEND + 4 RECV after the cut */
    CHECK(r[0]->labels.direction == FSA_DIR_OUTBOUND && r[0]->time_unix_us == 1795481664246354ull);
    CHECK_NEAR(r[0]->u.rtcp.packets_lost, 0, 0); /* 1 - stored 1 */
    CHECK(r[1]->labels.direction == FSA_DIR_INBOUND && r[1]->time_unix_us == 1795481664286362ull);
    CHECK_NEAR(r[1]->u.rtcp.packets_lost, 0, 0);
    CHECK_EQ_U64(leg_recs(&x, EBD, FSA_REC_RTCP, CUT2_US, r, 8), 4);
    CHECK(r[0]->labels.direction == FSA_DIR_OUTBOUND && r[0]->time_unix_us == 1795481707506368ull);
    CHECK_NEAR(r[0]->u.rtcp.packets_lost, 0, 0);
    CHECK_NEAR(r[0]->u.rtcp.jitter_ms, 4.625, 0);
    CHECK_NEAR(r[1]->u.rtcp.packets_lost, 0, 0);
    CHECK_EQ_U64(leg_recs(&x, EBD, FSA_REC_QOS, 0, r, 8), 1);
    CHECK_NEAR(r[0]->u.qos.jitter_avg_ms, 12.125 / 9, 1e-12);
    CHECK_NEAR(r[0]->u.qos.jitter_max_ms, 4.625, 0);
    CHECK_NEAR(r[0]->u.qos.packet_loss, 2, 0);
    /* test_calc_capture.c's ebd223a0 arithmetic, emodel.plc true (the default) */
    CHECK_NEAR(r[0]->u.qos.r_factor, 92.108544911113, 1e-7);
    CHECK_NEAR(r[0]->u.qos.mos_emodel, 4.387170338289, 1e-7);
    free(x.rec);

    /*
     * Control: memory mode across the same cuts has no base after a restart:
     * the legs are learnt mid-call, so each direction's first report only sets
     * the base (no packets_lost: NaN, never the cumulative 1 counted again);
     * and it forgets the jitter.
     */
    run_init(&x);
    replay_with_restarts(&x, false, c1, c2, cs);
    CHECK_EQ_U64(leg_recs(&x, B0C, FSA_REC_RTCP, CUT1_US, r, 8), 8);
    CHECK(isnan(r[0]->u.rtcp.packets_lost)); /* cumulative 1: base only */
    CHECK(isnan(r[1]->u.rtcp.packets_lost));
    CHECK_NEAR(r[2]->u.rtcp.packets_lost, 0, 0); /* then 1 - 1 */
    CHECK_EQ_U64(leg_recs(&x, EBD, FSA_REC_RTCP, CUT2_US, r, 8), 4);
    CHECK(isnan(r[0]->u.rtcp.packets_lost));
    CHECK_EQ_U64(leg_recs(&x, EBD, FSA_REC_QOS, 0, r, 8), 1);
    CHECK_NEAR(r[0]->u.qos.jitter_avg_ms, 1.84375, 1e-12); /* (4.625 + 0 + 2.75 + 0) / 4 */
    free(x.rec);
}

int main(void)
{
    test_redis_require();
    load_events();
    /* CREATE 52 + ANSWER 50 + BRIDGE 13 + HANGUP_COMPLETE 52 + RECV 249 + SEND 88 */
    CHECK_EQ_U64(nev, 504);
    test_redis_start(&redis, NULL);

    struct run mem;
    run_init(&mem);
    struct gen g = gen_start(&mem, false);
    feed(&g, 0, nev);
    struct fsa_calc_stats cs;
    gen_stop(&g, &cs);

    full_replay(&mem);
    restarts(&mem);

    free(mem.rec);
    free(ev);
    test_redis_kill(&redis);
    return fsa_test_finish();
}
