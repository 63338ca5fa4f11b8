/*
 * The Redis leg store (calc/store_redis.c) against a real redis-server on a
 * free loopback port (fsa_redis_test.h): every field of fsa_leg_state read
 * back exactly, the hash an operator sees (HGETALL text), TTL set and
 * refreshed, delete, password + db, refused commands, and the failure rules:
 * Redis killed (fail fast, counted, one connect attempt per backoff step,
 * reconnect after restart), Redis stopped (every call bounded by
 * timeout_ms), the pending bound (drops counted, the queue does not grow).
 * Counters are asserted exactly; the log lines are counted and searched for
 * the password. Last, a throughput figure of the pipelined save path and
 * the worst worker stall seen (printed, for the README).
 */
#include <pthread.h>
#include <sys/resource.h>

#include "calc/store_redis.h"
#include "fsa_redis_test.h"
#include "fsa_test.h"

#define PASSWORD "s3cr3t-Pa55"

/* ---- log capture ------------------------------------------------------------------------------------------- */

#define MAX_LINES 32
static struct {
    bool fault;
    char label[64];
    char msg[400];
} lines[MAX_LINES];
static unsigned nlines;

static void capture_log(void *ctx, bool fault, const char *label, const char *msg)
{
    (void)ctx;
    if (nlines < MAX_LINES) {
        lines[nlines].fault = fault;
        snprintf(lines[nlines].label, sizeof(lines[nlines].label), "%s", label);
        snprintf(lines[nlines].msg, sizeof(lines[nlines].msg), "%s", msg);
    }
    printf("  log %s [%s] %s\n", fault ? "WARN" : "INFO", label, msg);
    nlines++;
}

/* No line ever carries a password (the one in use or a wrong one tried). */
static void check_no_secret(const char *secret)
{
    for (unsigned i = 0; i < nlines && i < MAX_LINES; i++)
        CHECK(strstr(lines[i].msg, secret) == NULL && strstr(lines[i].label, secret) == NULL);
}

static const char *last_line(void)
{
    return nlines && nlines <= MAX_LINES ? lines[nlines - 1].msg : "";
}

/* ---- helpers ----------------------------------------------------------------------------------------------- */

static const char *const names[] = {"fs-a", "fs-b"};

static struct fsa_store_redis_params params(const struct test_redis *r)
{
    return (struct fsa_store_redis_params){
        .host = "127.0.0.1",
        .port = r->port,
        .password = r->password,
        .ttl_s = 1000,
        .timeout_ms = 300,
        .instance_names = names,
        .ninstances = 2,
        .label = "redis.w0",
        .log = capture_log,
    };
}

static struct fsa_store_redis_stats stats(const struct fsa_store_redis *s)
{
    struct fsa_store_redis_stats st;
    fsa_store_redis_stats_read(s, &st);
    return st;
}

#define OK_(op) ops[FSA_STORE_OP_##op][FSA_STORE_RESULT_OK]
#define ERR_(op) ops[FSA_STORE_OP_##op][FSA_STORE_RESULT_ERROR]
#define DROP_(op) ops[FSA_STORE_OP_##op][FSA_STORE_RESULT_DROPPED]

static void leg_uuid(struct fsa_leg_state *st, unsigned i)
{
    snprintf(st->uuid, sizeof(st->uuid), "leg-%04u", i);
}

/* A realistic state: every field set to a value that shows in the hash. */
static void state_full(struct fsa_leg_state *st)
{
    memset(st, 0, sizeof(*st));
    st->instance = 1; /* "fs-b" */
    st->direction = FSA_DIR_OUTBOUND;
    st->domain_rank = FSA_DOMAIN_FROM_SIP_FROM;
    st->flags = FSA_LEG_RTCP_RECV_OK; /* SEND's base values below still travel */
    st->last_fraction = 200;
    st->local_ip_family = 4;
    inet_pton(AF_INET, "10.1.2.3", st->local_ip);
    st->remote_ip_family = 6;
    inet_pton(AF_INET6, "2001:db8::7", st->remote_ip);
    snprintf(st->uuid, sizeof(st->uuid), "b0c6292b-0197-4183-9245-3f7f203ddc84");
    snprintf(st->call_id, sizeof(st->call_id), "a84b4c76e66710@pc33.atlanta.example.com");
    snprintf(st->domain, sizeof(st->domain), "example.com");
    snprintf(st->codec, sizeof(st->codec), "PCMU");
    st->codec_rate = 8000;
    st->jitter_count = 11;
    st->a_leg_hash = 0xfedcba9876543210ull;
    st->created_us = 1795481656206391ull;
    st->jitter_sum_ms = 12.125;
    st->jitter_min_ms = 0.1;
    st->jitter_max_ms = 4.625;
    st->last_rtt_ms = (float)40.009; /* the leg keeps RTT as a float */
    st->rtcp[FSA_LEG_RTCP_RECV] = (struct fsa_leg_rtcp){0xdeadbeefu, -5};
    st->rtcp[FSA_LEG_RTCP_SEND] = (struct fsa_leg_rtcp){0x3307ebecu, 1};
}

/* Edges: longest strings, extreme numbers, enum values without a name, no IPs, instance without a name. */
static void state_edges(struct fsa_leg_state *st)
{
    memset(st, 0, sizeof(*st));
    st->instance = 5;
    st->direction = 7;
    st->domain_rank = 4; /* calc's rank for a domain of unknown origin */
    st->flags = FSA_LEG_RTCP_RECV_OK | FSA_LEG_RTCP_SEND_OK;
    st->last_fraction = 255;
    memset(st->uuid, 'u', sizeof(st->uuid) - 1);
    memset(st->call_id, 'c', sizeof(st->call_id) - 1);
    st->call_id[0] = ' '; /* RESP bulk strings are binary safe */
    st->call_id[1] = '\r';
    st->call_id[2] = '\n';
    memset(st->domain, 'd', sizeof(st->domain) - 1);
    memset(st->codec, 'k', sizeof(st->codec) - 1);
    st->codec_rate = UINT32_MAX;
    st->jitter_count = UINT32_MAX;
    st->a_leg_hash = 0;
    st->created_us = UINT64_MAX;
    st->jitter_sum_ms = 1e300;
    st->jitter_min_ms = 5e-324;              /* smallest denormal: 17 digits */
    st->jitter_max_ms = 0.30000000000000004; /* 0.1 + 0.2: 17 digits */
    st->last_rtt_ms = -0.0;
    st->rtcp[FSA_LEG_RTCP_RECV] = (struct fsa_leg_rtcp){0xffffffffu, INT32_MIN};
    st->rtcp[FSA_LEG_RTCP_SEND] = (struct fsa_leg_rtcp){1u, INT32_MAX};
}

static void check_same_state(const struct fsa_leg_state *a, const struct fsa_leg_state *b)
{
    CHECK_EQ_U64(a->instance, b->instance);
    CHECK_EQ_U64(a->direction, b->direction);
    CHECK_EQ_U64(a->domain_rank, b->domain_rank);
    CHECK_EQ_U64(a->flags, b->flags);
    CHECK_EQ_U64(a->last_fraction, b->last_fraction);
    CHECK_EQ_U64(a->local_ip_family, b->local_ip_family);
    CHECK_EQ_U64(a->remote_ip_family, b->remote_ip_family);
    CHECK_STR(a->uuid, b->uuid);
    CHECK_STR(a->call_id, b->call_id);
    CHECK_STR(a->domain, b->domain);
    CHECK_STR(a->codec, b->codec);
    CHECK(memcmp(a->local_ip, b->local_ip, 16) == 0);
    CHECK(memcmp(a->remote_ip, b->remote_ip, 16) == 0);
    CHECK_EQ_U64(a->codec_rate, b->codec_rate);
    CHECK_EQ_U64(a->jitter_count, b->jitter_count);
    CHECK_EQ_U64(a->a_leg_hash, b->a_leg_hash);
    CHECK_EQ_U64(a->created_us, b->created_us);
    /* Doubles bit for bit (-0.0 and denormals included). */
    CHECK(memcmp(&a->jitter_sum_ms, &b->jitter_sum_ms, sizeof(double)) == 0);
    CHECK(memcmp(&a->jitter_min_ms, &b->jitter_min_ms, sizeof(double)) == 0);
    CHECK(memcmp(&a->jitter_max_ms, &b->jitter_max_ms, sizeof(double)) == 0);
    CHECK(memcmp(&a->last_rtt_ms, &b->last_rtt_ms, sizeof(double)) == 0);
    for (int d = 0; d < 2; d++) {
        CHECK_EQ_U64(a->rtcp[d].source_ssrc, b->rtcp[d].source_ssrc);
        CHECK_EQ_I64(a->rtcp[d].last_lost, b->rtcp[d].last_lost);
    }
    CHECK(memcmp(a, b, sizeof(*a)) == 0); /* and nothing else differs (both were zeroed first) */
}

/* ---- round trip, layout, TTL, delete, refused commands ----------------------------------------------------- */

static void store_round_trip(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    struct fsa_store_redis_params p = params(&r);
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    CHECK(s != NULL);
    struct fsa_store st = fsa_store_redis_store(s);
    CHECK(st.ops == &fsa_store_redis_ops && st.ops->persistent);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_INIT); /* nothing happens before the worker's first call */

    struct fsa_leg_state a, b, got;
    state_full(&a);
    state_edges(&b);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a), 0);
    CHECK_EQ_I64(st.ops->save(st.ctx, &b), 0);
    CHECK_EQ_U64(stats(s).pending, 4); /* 2 x (HSET, EXPIRE), below the batch: nothing sent yet */
    st.ops->flush(st.ctx);
    CHECK_EQ_U64(stats(s).pending, 0);
    CHECK_EQ_I64(st.ops->load(st.ctx, 1, a.uuid, strlen(a.uuid), &got), 1);
    check_same_state(&a, &got);
    CHECK_EQ_I64(st.ops->load(st.ctx, 5, b.uuid, strlen(b.uuid), &got), 1);
    check_same_state(&b, &got);
    /* Same Unique-ID under the other instance: another key, not there. */
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, a.uuid, strlen(a.uuid), &got), 0);
    struct fsa_leg_state zero;
    memset(&zero, 0, sizeof(zero));
    CHECK(memcmp(&got, &zero, sizeof(got)) == 0);

    /* What an operator sees (store_redis.c's layout). */
    const char *key = "fsagent:leg:fs-b:b0c6292b-0197-4183-9245-3f7f203ddc84";
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", key), 25);
    CHECK_STR(test_redis_hget(&r, 0, key, "instance"), "fs-b");
    CHECK_STR(test_redis_hget(&r, 0, key, "uuid"), "b0c6292b-0197-4183-9245-3f7f203ddc84");
    CHECK_STR(test_redis_hget(&r, 0, key, "call_id"), "a84b4c76e66710@pc33.atlanta.example.com");
    CHECK_STR(test_redis_hget(&r, 0, key, "direction"), "outbound");
    CHECK_STR(test_redis_hget(&r, 0, key, "domain"), "example.com");
    CHECK_STR(test_redis_hget(&r, 0, key, "domain_source"), "sip_from_host");
    CHECK_STR(test_redis_hget(&r, 0, key, "codec"), "PCMU");
    CHECK_STR(test_redis_hget(&r, 0, key, "codec_rate"), "8000");
    CHECK_STR(test_redis_hget(&r, 0, key, "local_ip"), "10.1.2.3");
    CHECK_STR(test_redis_hget(&r, 0, key, "remote_ip"), "2001:db8::7");
    CHECK_STR(test_redis_hget(&r, 0, key, "a_leg_hash"), "fedcba9876543210");
    CHECK_STR(test_redis_hget(&r, 0, key, "created_us"), "1795481656206391");
    CHECK_STR(test_redis_hget(&r, 0, key, "jitter_count"), "11");
    CHECK_STR(test_redis_hget(&r, 0, key, "jitter_sum_ms"), "12.125");
    CHECK_STR(test_redis_hget(&r, 0, key, "jitter_min_ms"), "0.1");
    CHECK_STR(test_redis_hget(&r, 0, key, "jitter_max_ms"), "4.625");
    /* (float)40.009 = 40.008998870849609375 exactly; 16 significant digits are the shortest that read back. */
    CHECK_STR(test_redis_hget(&r, 0, key, "last_rtt_ms"), "40.00899887084961");
    CHECK_STR(test_redis_hget(&r, 0, key, "last_fraction"), "200");
    CHECK_STR(test_redis_hget(&r, 0, key, "rtcp_in_valid"), "1");
    CHECK_STR(test_redis_hget(&r, 0, key, "rtcp_in_ssrc"), "deadbeef");
    CHECK_STR(test_redis_hget(&r, 0, key, "rtcp_in_lost"), "-5");
    CHECK_STR(test_redis_hget(&r, 0, key, "rtcp_out_valid"), "0");
    CHECK_STR(test_redis_hget(&r, 0, key, "rtcp_out_ssrc"), "3307ebec");
    CHECK_STR(test_redis_hget(&r, 0, key, "rtcp_out_lost"), "1");
    char key_b[160];
    snprintf(key_b, sizeof(key_b), "fsagent:leg:5:%s", b.uuid); /* instance 5 has no name: its id */
    CHECK_STR(test_redis_hget(&r, 0, key_b, "direction"), "7");
    CHECK_STR(test_redis_hget(&r, 0, key_b, "domain_source"), "4");
    CHECK_STR(test_redis_hget(&r, 0, key_b, "local_ip"), "");
    CHECK_STR(test_redis_hget(&r, 0, key_b, "a_leg_hash"), "0000000000000000");
    CHECK_STR(test_redis_hget(&r, 0, key_b, "created_us"), "18446744073709551615");
    /* 16 digits (%.16g) already read back to the smallest denormal. */
    CHECK_STR(test_redis_hget(&r, 0, key_b, "jitter_min_ms"), "4.940656458412465e-324");
    CHECK_STR(test_redis_hget(&r, 0, key_b, "jitter_max_ms"), "0.30000000000000004");
    CHECK_STR(test_redis_hget(&r, 0, key_b, "last_rtt_ms"), "-0");
    CHECK_STR(test_redis_hget(&r, 0, key_b, "rtcp_in_lost"), "-2147483648");
    CHECK_STR(test_redis_hget(&r, 0, key_b, "rtcp_in_ssrc"), "ffffffff");

    /* TTL: set by the save, and refreshed by the next one. */
    long long ttl = test_redis_int(&r, 0, "TTL %s", key);
    CHECK(ttl > 0 && ttl <= 1000);
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXPIRE %s 5", key), 1);
    CHECK(test_redis_int(&r, 0, "TTL %s", key) <= 5);
    a.jitter_count = 12;
    CHECK_EQ_I64(st.ops->save(st.ctx, &a), 0);
    st.ops->flush(st.ctx);
    ttl = test_redis_int(&r, 0, "TTL %s", key);
    CHECK(ttl > 5 && ttl <= 1000);
    CHECK_STR(test_redis_hget(&r, 0, key, "jitter_count"), "12");

    /* Delete; then the leg is gone for a load. */
    CHECK_EQ_I64(st.ops->del(st.ctx, 1, a.uuid, strlen(a.uuid)), 0);
    CHECK_EQ_I64(st.ops->load(st.ctx, 1, a.uuid, strlen(a.uuid), &got), 0); /* queued behind the DEL: sees it */
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS %s", key), 0);

    /* Values that are not ours, a key of another type: load errors; the connection stays up. */
    CHECK_EQ_I64(test_redis_int(&r, 0, "HSET fsagent:leg:fs-a:bad codec_rate abc"), 1);
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, "bad", 3, &got), -EBADMSG);
    CHECK(memcmp(&got, &zero, sizeof(got)) == 0);
    CHECK_EQ_I64(test_redis_int(&r, 0, "RPUSH fsagent:leg:fs-a:list x"), 1);
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, "list", 4, &got), -EPROTO); /* WRONGTYPE */
    CHECK_EQ_I64(st.ops->save(st.ctx, &b), 0);
    st.ops->flush(st.ctx);

    /* Out of range: refused before Redis, counted. */
    char long_uuid[FSA_UUID_MAX + 1];
    memset(long_uuid, 'x', sizeof(long_uuid));
    CHECK_EQ_I64(st.ops->del(st.ctx, 0, long_uuid, sizeof(long_uuid)), -EINVAL);

    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.OK_(SAVE), 4); /* a, b, a again, b again */
    CHECK_EQ_U64(x.ERR_(SAVE), 0);
    CHECK_EQ_U64(x.OK_(LOAD), 4);  /* a, b, miss under fs-a, miss after DEL */
    CHECK_EQ_U64(x.ERR_(LOAD), 2); /* "abc", WRONGTYPE */
    CHECK_EQ_U64(x.load_hits, 2);
    CHECK_EQ_U64(x.OK_(DELETE), 1);
    CHECK_EQ_U64(x.ERR_(DELETE), 1);
    CHECK_EQ_U64(x.DROP_(SAVE) + x.DROP_(DELETE) + x.DROP_(LOAD), 0);
    CHECK_EQ_U64(x.connects, 1);
    CHECK_EQ_U64(x.connect_failures, 0);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_UP);
    /* Lines: connected, then the first refused command (WRONGTYPE) once. */
    CHECK_EQ_U64(nlines, 2);
    CHECK(nlines >= 1 && !lines[0].fault && strstr(lines[0].msg, "connected") &&
          strcmp(lines[0].label, "redis.w0") == 0);
    CHECK(nlines >= 2 && lines[1].fault && strstr(lines[1].msg, "WRONGTYPE"));

    /* Redis drops the idle connection (as its `timeout` setting would): the idle flush notices, nothing lost. */
    CHECK_EQ_I64(test_redis_int(&r, 0, "CLIENT KILL TYPE normal"), 1); /* ours; the asking one is skipped */
    for (int i = 0; i < 100 && stats(s).state == FSA_STORE_REDIS_UP; i++) {
        st.ops->flush(st.ctx);
        test_redis_sleep_ms(i ? 10 : 0);
    }
    x = stats(s);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    CHECK_EQ_U64(x.ERR_(SAVE) + x.ERR_(LOAD) + x.ERR_(DELETE), 0 + 2 + 1); /* unchanged */
    CHECK(strstr(last_line(), "down: connection closed by the server") != NULL);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- password and database --------------------------------------------------------------------------------- */

static void store_password_and_db(void)
{
    struct test_redis r;
    test_redis_start(&r, PASSWORD);
    nlines = 0;
    struct fsa_store_redis_params p = params(&r);
    p.db = 3;
    p.key_prefix = "t:";
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state a, got;
    state_full(&a);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a), 0);
    st.ops->flush(st.ctx);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(stats(s).OK_(SAVE), 1);
    const char *key = "t:fs-b:b0c6292b-0197-4183-9245-3f7f203ddc84";
    CHECK_EQ_I64(test_redis_int(&r, 3, "EXISTS %s", key), 1);
    CHECK_EQ_I64(test_redis_int(&r, 3, "DBSIZE"), 1);
    CHECK_EQ_I64(test_redis_int(&r, 0, "DBSIZE"), 0);
    CHECK_EQ_I64(st.ops->load(st.ctx, 1, a.uuid, strlen(a.uuid), &got), 1);
    check_same_state(&a, &got);
    fsa_store_redis_destroy(s);

    /* A wrong password: down at the first call, with Redis's reason; neither password in the log. */
    nlines = 0;
    p.password = "Wr0ng-Pa55";
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a), -ENOTCONN);
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    CHECK_EQ_U64(x.connect_failures, 1);
    CHECK_EQ_U64(x.connects, 0);
    CHECK_EQ_U64(x.ERR_(SAVE), 1);
    CHECK_EQ_U64(nlines, 1);
    CHECK(lines[0].fault && strstr(lines[0].msg, "unavailable") && strstr(lines[0].msg, "AUTH refused") &&
          strstr(lines[0].msg, "WRONGPASS"));
    check_no_secret("Wr0ng-Pa55");
    check_no_secret(PASSWORD);
    fsa_store_redis_destroy(s);

    /* No password at all: SELECT is refused (NOAUTH). */
    nlines = 0;
    p.password = NULL;
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    CHECK_EQ_I64(st.ops->load(st.ctx, 1, a.uuid, strlen(a.uuid), &got), -ENOTCONN);
    CHECK_EQ_U64(stats(s).ERR_(LOAD), 1);
    CHECK_EQ_U64(nlines, 1);
    CHECK(strstr(last_line(), "SELECT refused") && strstr(last_line(), "NOAUTH"));
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/*
 * Redis 6 ACL: a user of its own (`ACL SETUSER fsa-agent on >Us3r-Pa55 ~t:* +@all`, keys t:* only),
 * reached with AUTH <user> <password>: saves land under t:, the default user's password is not what
 * logs in; a wrong password for the user is refused (WRONGPASS) with neither password in the log;
 * and the same user writing outside its keys (prefix u:) gets each save refused (NOPERM), counted.
 */
static void store_acl_user(void)
{
    struct test_redis r;
    test_redis_start(&r, PASSWORD);
    redisReply *rep = test_redis_command(&r, 0, "ACL SETUSER fsa-agent on >Us3r-Pa55 ~t:* +@all");
    CHECK(rep && rep->type == REDIS_REPLY_STATUS);
    if (rep)
        freeReplyObject(rep);
    nlines = 0;
    struct fsa_store_redis_params p = params(&r);
    p.username = "fsa-agent";
    p.password = "Us3r-Pa55";
    p.key_prefix = "t:";
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state a, got;
    state_full(&a);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a), 0);
    st.ops->flush(st.ctx);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(stats(s).OK_(SAVE), 1);
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS t:fs-b:b0c6292b-0197-4183-9245-3f7f203ddc84"), 1);
    CHECK_EQ_I64(st.ops->load(st.ctx, 1, a.uuid, strlen(a.uuid), &got), 1);
    check_same_state(&a, &got);
    fsa_store_redis_destroy(s);

    nlines = 0;
    p.password = "Wr0ng-Pa55";
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a), -ENOTCONN);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_DOWN);
    CHECK(nlines == 1 && strstr(lines[0].msg, "AUTH refused") && strstr(lines[0].msg, "WRONGPASS"));
    check_no_secret("Wr0ng-Pa55");
    check_no_secret("Us3r-Pa55");
    check_no_secret(PASSWORD);
    fsa_store_redis_destroy(s);

    nlines = 0;
    p.password = "Us3r-Pa55";
    p.key_prefix = "u:";
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a), 0);
    st.ops->flush(st.ctx);
    CHECK_EQ_U64(stats(s).ERR_(SAVE), 1);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP); /* a refused command is not a connection fault */
    CHECK(nlines >= 1 && strstr(last_line(), "NOPERM"));
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS u:fs-b:b0c6292b-0197-4183-9245-3f7f203ddc84"), 0);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- Redis killed and restarted: a worker-style loop ------------------------------------------------------- */

static uint64_t worst_stall_ns; /* longest single store call while Redis was dead or stopped */

enum call { SAVE, LOAD, DEL, FLUSH };

/* One store call as the worker makes it, timed; its return value (0 for a flush). */
static int timed(struct fsa_store st, enum call what, struct fsa_leg_state *l)
{
    struct fsa_leg_state out;
    int rc = 0;
    uint64_t t0 = test_redis_now_ns();
    switch (what) {
    case SAVE: rc = st.ops->save(st.ctx, l); break;
    case LOAD: rc = st.ops->load(st.ctx, 0, l->uuid, strlen(l->uuid), &out); break;
    case DEL: rc = st.ops->del(st.ctx, 0, l->uuid, strlen(l->uuid)); break;
    case FLUSH: st.ops->flush(st.ctx); break;
    }
    uint64_t d = test_redis_now_ns() - t0;
    worst_stall_ns = d > worst_stall_ns ? d : worst_stall_ns;
    return rc;
}

struct watcher {
    const struct fsa_store_redis *s;
    _Atomic bool stop;
    uint64_t reads;
};

/* The admin server's view: counters read from another thread while the worker writes them (TSan). */
static void *watch(void *arg)
{
    struct watcher *w = arg;
    while (!w->stop) {
        struct fsa_store_redis_stats x;
        fsa_store_redis_stats_read(w->s, &x);
        w->reads += x.state <= FSA_STORE_REDIS_DOWN;
    }
    return NULL;
}

static void store_redis_killed(void)
{
    struct test_redis r;
    test_redis_start(&r, PASSWORD);
    nlines = 0;
    worst_stall_ns = 0;
    struct fsa_store_redis_params p = params(&r);
    p.batch = 8;
    p.max_pending = 64;
    p.backoff_min_ms = 500;
    p.backoff_max_ms = 2000;
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct watcher w = {.s = s};
    pthread_t tid;
    CHECK(pthread_create(&tid, NULL, watch, &w) == 0);

    /* A: Redis up. 20 saves (sent in batches of 8 commands = 4 saves), 5 deletes, 4 loads. */
    struct fsa_leg_state l, got;
    state_full(&l);
    l.instance = 0;
    for (unsigned i = 0; i < 20; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(st.ops->save(st.ctx, &l), 0);
    }
    for (unsigned i = 0; i < 5; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(st.ops->del(st.ctx, 0, l.uuid, strlen(l.uuid)), 0);
    }
    st.ops->flush(st.ctx);
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, "leg-0007", 8, &got), 1);
    CHECK_STR(got.uuid, "leg-0007");
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, "leg-0019", 8, &got), 1);
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, "leg-0000", 8, &got), 0);
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, "leg-0004", 8, &got), 0);
    CHECK_EQ_I64(test_redis_int(&r, 0, "DBSIZE"), 15); /* 20 saved - 5 deleted */
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.OK_(SAVE), 20);
    CHECK_EQ_U64(x.OK_(DELETE), 5);
    CHECK_EQ_U64(x.OK_(LOAD), 4);
    CHECK_EQ_U64(x.load_hits, 2);
    CHECK_EQ_U64(nlines, 1); /* connected */

    /* B: Redis killed. The queued save fails at the next send/receive, the store goes down (one line). */
    test_redis_kill(&r);
    leg_uuid(&l, 20);
    CHECK_EQ_I64(timed(st, SAVE, &l), 0); /* queued: 2 commands < batch */
    timed(st, FLUSH, NULL);
    x = stats(s);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    CHECK_EQ_U64(x.ERR_(SAVE), 1);
    CHECK_EQ_U64(x.pending, 0);
    CHECK_EQ_U64(nlines, 2);
    CHECK(lines[1].fault && strstr(lines[1].msg, " down: "));
    uint64_t down_at = test_redis_now_ns();

    /* Backing off (500 ms): every call fails at once, counted; the loop carries on. */
    uint64_t t0 = test_redis_now_ns();
    for (unsigned i = 0; i < 30; i++) {
        leg_uuid(&l, 100 + i);
        CHECK_EQ_I64(timed(st, SAVE, &l), -ENOTCONN);
        CHECK_EQ_I64(timed(st, LOAD, &l), -ENOTCONN);
        CHECK_EQ_I64(timed(st, DEL, &l), -ENOTCONN);
        timed(st, FLUSH, NULL);
    }
    uint64_t loop_ns = test_redis_now_ns() - t0;
    CHECK(loop_ns < 400000000ull); /* 120 calls without a syscall (microseconds): inside one backoff step */
    x = stats(s);
    CHECK_EQ_U64(x.ERR_(SAVE), 31);
    CHECK_EQ_U64(x.ERR_(LOAD), 30);
    CHECK_EQ_U64(x.ERR_(DELETE), 30);
    CHECK_EQ_U64(x.connect_failures, 0); /* no attempt inside the step */
    CHECK_EQ_U64(x.connects, 1);

    /* C: after the step, exactly one attempt (refused at once); then none for the next, doubled, step. */
    uint64_t since = (test_redis_now_ns() - down_at) / 1000000;
    test_redis_sleep_ms(since < 550 ? (unsigned)(550 - since) : 0);
    timed(st, FLUSH, NULL);
    CHECK_EQ_U64(stats(s).connect_failures, 1);
    uint64_t failed_at = test_redis_now_ns();
    for (unsigned i = 0; i < 20; i++) {
        leg_uuid(&l, 200 + i);
        CHECK_EQ_I64(timed(st, SAVE, &l), -ENOTCONN);
        timed(st, FLUSH, NULL);
    }
    CHECK_EQ_U64(stats(s).connect_failures, 1);
    CHECK_EQ_U64(stats(s).ERR_(SAVE), 51);
    CHECK_EQ_U64(nlines, 2); /* still down: nothing new logged */

    /* D: Redis back on the same port; after the 1000 ms step the store reconnects (one line). */
    CHECK(test_redis_spawn(&r));
    since = (test_redis_now_ns() - failed_at) / 1000000;
    test_redis_sleep_ms(since < 1050 ? (unsigned)(1050 - since) : 0);
    timed(st, FLUSH, NULL);
    x = stats(s);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(x.connects, 2);
    CHECK_EQ_U64(x.reconnects, 1);
    CHECK_EQ_U64(x.connect_failures, 1);
    CHECK_EQ_U64(nlines, 3);
    CHECK(!lines[2].fault && strstr(lines[2].msg, "up again after 1 failed attempt(s)"));
    for (unsigned i = 0; i < 10; i++) {
        leg_uuid(&l, 300 + i);
        CHECK_EQ_I64(st.ops->save(st.ctx, &l), 0);
    }
    st.ops->flush(st.ctx);
    x = stats(s);
    CHECK_EQ_U64(x.OK_(SAVE), 30);
    CHECK_EQ_U64(x.ERR_(SAVE), 51);
    CHECK_EQ_I64(test_redis_int(&r, 0, "DBSIZE"), 10); /* the restarted Redis kept nothing (--save '') */
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, "leg-0309", 8, &got), 1);

    /* Every call while Redis was dead returned within timeout_ms (refused connects are immediate). */
    printf("perf: worst single call with Redis killed: %.3f ms (timeout_ms %u)\n", worst_stall_ns / 1e6, p.timeout_ms);
    CHECK(worst_stall_ns < (uint64_t)p.timeout_ms * 1000000u);
    check_no_secret(PASSWORD);
    w.stop = true;
    pthread_join(tid, NULL);
    CHECK(w.reads > 0);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- Redis stopped (SIGSTOP): a server that never answers -------------------------------------------------- */

static void store_redis_stopped(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    struct fsa_store_redis_params p = params(&r);
    p.timeout_ms = 200;
    p.backoff_min_ms = 300;
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state l;
    state_full(&l);
    st.ops->flush(st.ctx); /* idle worker: connects */
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);

    /*
     * A load waits for its answer at most timeout_ms, then the store is down.
     * Upper bounds leave room for a loaded CI machine but stay below two
     * timeouts (what a connect plus a separate wait would take).
     */
    test_redis_signal(&r, SIGSTOP);
    worst_stall_ns = 0;
    uint64_t t0 = test_redis_now_ns();
    CHECK_EQ_I64(timed(st, LOAD, &l), -ETIMEDOUT);
    uint64_t took = test_redis_now_ns() - t0;
    printf("perf: load with Redis stopped returned after %.3f ms (timeout_ms 200)\n", took / 1e6);
    CHECK(took >= 200000000ull && took < 390000000ull);
    CHECK_EQ_U64(stats(s).ERR_(LOAD), 1);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_DOWN);
    CHECK(strstr(last_line(), "down: no reply within 200 ms") != NULL);

    /* The next attempt connects (the kernel completes TCP) but SELECT gets no answer: bounded too. */
    test_redis_sleep_ms(320);
    t0 = test_redis_now_ns();
    CHECK_EQ_I64(timed(st, SAVE, &l), -ENOTCONN);
    took = test_redis_now_ns() - t0;
    printf("perf: connect attempt to a stopped Redis returned after %.3f ms\n", took / 1e6);
    CHECK(took >= 200000000ull && took < 390000000ull);
    CHECK_EQ_U64(stats(s).connect_failures, 1);
    CHECK_EQ_U64(stats(s).ERR_(SAVE), 1);
    CHECK_EQ_U64(nlines, 2); /* connected, down */
    printf("perf: worst single call with Redis stopped: %.3f ms (timeout_ms 200)\n", worst_stall_ns / 1e6);
    CHECK(worst_stall_ns < 390000000ull);

    /* Resumed: back after the (600 ms) step. */
    test_redis_signal(&r, SIGCONT);
    test_redis_sleep_ms(650);
    st.ops->flush(st.ctx);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(stats(s).reconnects, 1);
    fsa_store_redis_destroy(s);

    /*
     * The pending bound (max_pending 64 commands, batch 16): stopped again,
     * 100 saves arrive well within the no-reply limit (1 s here). 64
     * commands = 32 saves fit; the other 68 are dropped and counted; the
     * queue stays at 64. The idle flush then waits its timeout and the 32
     * unanswered saves fail with the connection.
     */
    p.timeout_ms = 1000;
    p.max_pending = 64;
    p.batch = 16;
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    st.ops->flush(st.ctx);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    test_redis_signal(&r, SIGSTOP);
    for (unsigned i = 0; i < 100; i++) {
        leg_uuid(&l, i);
        int rc = st.ops->save(st.ctx, &l);
        CHECK(i < 32 ? rc == 0 : rc == -ENOBUFS);
    }
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.pending, 64);
    CHECK_EQ_U64(x.DROP_(SAVE), 68);
    CHECK_EQ_U64(x.OK_(SAVE), 0);
    CHECK_EQ_U64(x.ERR_(SAVE), 0);
    t0 = test_redis_now_ns();
    st.ops->flush(st.ctx);
    took = test_redis_now_ns() - t0;
    CHECK(took < 1190000000ull);
    x = stats(s);
    CHECK_EQ_U64(x.ERR_(SAVE), 32);
    CHECK_EQ_U64(x.DROP_(SAVE), 68);
    CHECK_EQ_U64(x.pending, 0);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    test_redis_signal(&r, SIGCONT);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- throughput of the pipelined save path ----------------------------------------------------------------- */

/* CPU time of this process (the test is one thread here: the worker's cost). */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void store_save_throughput(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    const char *env = getenv("FSA_REDIS_BENCH_SAVES");
    unsigned n = env ? (unsigned)strtoul(env, NULL, 10) : 20000, nlegs = 1000;
    struct fsa_store_redis_params p = params(&r);
    p.timeout_ms = 1000;
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state l;
    state_full(&l);
    l.instance = 0;
    st.ops->flush(st.ctx);

    /* As a worker does it: never wait; a full queue drops (counted). */
    uint64_t t0 = test_redis_now_ns();
    for (unsigned i = 0; i < n; i++) {
        leg_uuid(&l, i % nlegs);
        l.jitter_count = i;
        st.ops->save(st.ctx, &l);
    }
    st.ops->flush(st.ctx);
    double secs = (test_redis_now_ns() - t0) / 1e9;
    struct fsa_store_redis_stats x = stats(s);
    printf("perf: %u saves offered without waiting in %.3f s: %.0f saves/s offered, %" PRIu64 " ok (%.0f/s), %" PRIu64
           " dropped\n",
           n, secs, n / secs, x.OK_(SAVE), x.OK_(SAVE) / secs, x.DROP_(SAVE));
    CHECK_EQ_U64(x.OK_(SAVE) + x.DROP_(SAVE), n);
    CHECK_EQ_U64(x.ERR_(SAVE), 0);

    /* What Redis sustains through the pipeline: on a full queue, wait for the replies (flush) and retry. */
    uint64_t ok0 = x.OK_(SAVE), waits = 0;
    double cpu0 = cpu_seconds();
    t0 = test_redis_now_ns();
    for (unsigned i = 0; i < n; i++) {
        leg_uuid(&l, i % nlegs);
        l.jitter_count = n + i;
        if (st.ops->save(st.ctx, &l) == -ENOBUFS) {
            waits++;
            st.ops->flush(st.ctx);
            CHECK_EQ_I64(st.ops->save(st.ctx, &l), 0);
        }
    }
    st.ops->flush(st.ctx);
    secs = (test_redis_now_ns() - t0) / 1e9;
    x = stats(s);
    printf("perf: %u saves with backpressure in %.3f s: %.0f saves/s (%" PRIu64
           " waits for a full queue), %.2f us worker CPU per save\n",
           n, secs, (x.OK_(SAVE) - ok0) / secs, waits, (cpu_seconds() - cpu0) * 1e6 / n);
    CHECK_EQ_U64(x.OK_(SAVE) - ok0, n);
    CHECK_EQ_I64(test_redis_int(&r, 0, "DBSIZE"), nlegs);
    /* The last save (i = n - 1, leg (n - 1) mod 1000) carried jitter_count n + n - 1. */
    char key[64], want[24];
    snprintf(key, sizeof(key), "fsagent:leg:fs-a:leg-%04u", (n - 1) % nlegs);
    snprintf(want, sizeof(want), "%u", 2 * n - 1);
    CHECK_STR(test_redis_hget(&r, 0, key, "jitter_count"), want);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

int main(void)
{
    test_redis_require(); /* SIGPIPE stays fatal: the store must never raise it (MSG_NOSIGNAL) */
    store_round_trip();
    store_password_and_db();
    store_acl_user();
    store_redis_killed();
    store_redis_stopped();
    store_save_throughput();
    return fsa_test_finish();
}
