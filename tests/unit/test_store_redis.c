/*
 * The Redis leg store (calc/store_redis.c) against a real redis-server on a
 * free loopback port (fsa_redis_test.h), through the write-behind API of
 * calc/store.h: save/del stage, round_end sends, load queues, poll answers.
 *
 * What is asserted, with values worked out here by hand (never read back
 * from the store's own formatting):
 *   - the layout: one hash per FreeSWITCH instance <prefix>v2:<name>, field
 *     _v = "2", per leg <uuid>:l / :b / :j whose values are the exact
 *     netstring bytes written out below; TTL of the hash;
 *   - round trip of every field (full state, edge states: longest strings,
 *     IPv6, NaN/inf/-0/denormal doubles, negative and extreme lost, enum
 *     values without a name) through a second store; a partial save (one
 *     part) leaves the others as they were;
 *   - coalescing: Redis's own INFO commandstats (HSET/EXPIRE/HDEL calls) and
 *     stats.commands per round: one EXPIRE per instance hash written; one
 *     HSET per run of legs of an instance, or as few as the 64 KiB bound on
 *     one command's arguments allows (500 full legs: 6, worked out here);
 *   - delete (HDEL of the three fields, `_v` stays), the previous format
 *     (HIT_OLD, its key DELeted after it was handed out), unreadable values
 *     and unknown format versions (MISS, counted);
 *   - password + db, ACL user, refused commands, the log lines (counted and
 *     searched for the password);
 *   - Redis killed and stopped: no call blocks longer than timeout_ms (plus
 *     a margin), every queued load gets exactly one answer (FAILED), every
 *     accepted save is counted once (ok or error), the queue stays bounded,
 *     and after Redis is back the epoch moves on and saves work again.
 * Last, a throughput figure (legs saved per second, Redis commands per saved
 * leg) and the worst worker stall seen (printed, loose bounds only).
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

/* ---- load answers ------------------------------------------------------------------------------------------ */

#define MAX_ANSWERS 2048
static struct answer {
    struct fsa_leg_state st;
    int result;
} answers[MAX_ANSWERS];
static unsigned nanswers;
static int answer_tag; /* the arg every callback must get back */
static unsigned bad_args;

static void on_loaded(void *arg, const struct fsa_leg_state *st, int result)
{
    if (arg != &answer_tag)
        bad_args++;
    if (nanswers < MAX_ANSWERS) {
        memcpy(&answers[nanswers].st, st, sizeof(*st)); /* padding included: check_same_state compares bytes */
        answers[nanswers].result = result;
    }
    nanswers++;
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
    memset(st->uuid, 0, sizeof(st->uuid));
    snprintf(st->uuid, sizeof(st->uuid), "leg-%04u", i);
}

static void poll_once(struct fsa_store st)
{
    st.ops->poll(st.ctx, on_loaded, &answer_tag);
}

/* Polls (never blocking) until nothing is queued or unanswered, at most max_ms. */
static bool settle(struct fsa_store st, unsigned max_ms)
{
    uint64_t end = test_redis_now_ns() + (uint64_t)max_ms * 1000000u;
    for (;;) {
        poll_once(st);
        if (!st.ops->busy(st.ctx))
            return true;
        if (test_redis_now_ns() > end)
            return false;
        test_redis_sleep_ms(1);
    }
}

/* Polls until `want` answers have arrived in all, at most max_ms. */
static bool await_answers(struct fsa_store st, unsigned want, unsigned max_ms)
{
    uint64_t end = test_redis_now_ns() + (uint64_t)max_ms * 1000000u;
    while (nanswers < want) {
        if (test_redis_now_ns() > end)
            return false;
        poll_once(st);
        if (nanswers < want)
            test_redis_sleep_ms(1);
    }
    return true;
}

/* One load, answered: its result (and state in *out), or -100 when no answer came, or load()'s error. */
static int load_one(struct fsa_store st, uint16_t instance, const char *uuid, struct fsa_leg_state *out)
{
    unsigned before = nanswers;
    int rc = st.ops->load(st.ctx, instance, uuid, strlen(uuid));
    if (rc)
        return rc;
    if (!await_answers(st, before + 1, 3000) || nanswers != before + 1)
        return -100;
    CHECK_EQ_U64(answers[before].st.instance, instance);
    CHECK_STR(answers[before].st.uuid, uuid);
    if (out)
        memcpy(out, &answers[before].st, sizeof(*out));
    return answers[before].result;
}

/* Calls of one command since the server started, from Redis's own INFO commandstats (0: never called). */
static long long cmd_calls(const struct test_redis *r, const char *cmd)
{
    redisReply *rep = test_redis_command(r, 0, "INFO commandstats");
    long long calls = -1;
    if (rep && rep->type == REDIS_REPLY_STRING) { /* RESP2: a bulk string */
        char pat[64];
        snprintf(pat, sizeof(pat), "\ncmdstat_%s:calls=", cmd);
        const char *p = strstr(rep->str, pat);
        calls = p ? strtoll(p + strlen(pat), NULL, 10) : 0;
    }
    if (rep)
        freeReplyObject(rep);
    return calls;
}

/* A hash field's exact bytes. */
static bool hget_is(const struct test_redis *r, int db, const char *key, const char *field, const char *want, size_t n)
{
    redisReply *rep = test_redis_command(r, db, "HGET %s %b", key, field, strlen(field));
    bool ok = rep && rep->type == REDIS_REPLY_STRING && rep->len == n && memcmp(rep->str, want, n) == 0;
    if (!ok)
        fprintf(stderr, "HGET %s %s:\n  got  \"%.*s\"\n  want \"%.*s\"\n", key, field,
                rep && rep->type == REDIS_REPLY_STRING ? (int)rep->len : 6,
                rep && rep->type == REDIS_REPLY_STRING ? rep->str : "(none)", (int)n, want);
    if (rep)
        freeReplyObject(rep);
    return ok;
}
#define CHECK_HGET(r, key, field, lit) CHECK(hget_is((r), 0, (key), (field), (lit), sizeof(lit) - 1))

/* HSET key field value with a binary value: Redis's integer reply. */
static long long hset_raw(const struct test_redis *r, const char *key, const char *field, const char *v, size_t n)
{
    return test_redis_reply_int(test_redis_command(r, 0, "HSET %s %s %b", key, field, v, n));
}

/* A leg's part field name: <uuid>:<tag> */
static const char *part_field(const char *uuid, char tag)
{
    static char f[2][FSA_UUID_MAX + 4];
    static unsigned k;
    char *o = f[k++ % 2];
    snprintf(o, FSA_UUID_MAX + 4, "%s:%c", uuid, tag);
    return o;
}

/*
 * The encoding rule of a part's value, written independently of the store:
 * name/value pairs of netstrings "<decimal length>:<bytes>,".
 */
struct nsbuf {
    char b[2048];
    size_t n;
};

static void ns_add(struct nsbuf *o, const char *name, const char *v, size_t vn)
{
    o->n += (size_t)snprintf(o->b + o->n, sizeof(o->b) - o->n, "%zu:%s,%zu:", strlen(name), name, vn);
    memcpy(o->b + o->n, v, vn);
    o->n += vn;
    o->b[o->n++] = ',';
}

static void ns_str(struct nsbuf *o, const char *name, const char *v)
{
    ns_add(o, name, v, strlen(v));
}

/* ---- states ------------------------------------------------------------------------------------------------ */

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

/* state_full's three parts, by hand (field order as store_redis.c's build_part writes them). */
static const char FULL_L[] = "7:call_id,39:a84b4c76e66710@pc33.atlanta.example.com,9:direction,8:outbound,"
                             "6:domain,11:example.com,13:domain_source,13:sip_from_host,5:codec,4:PCMU,"
                             "10:codec_rate,4:8000,8:local_ip,8:10.1.2.3,9:remote_ip,11:2001:db8::7,"
                             "10:a_leg_hash,16:fedcba9876543210,10:created_us,16:1795481656206391,6:learnt,1:0,";
static const char FULL_B[] = "13:rtcp_in_valid,1:1,12:rtcp_in_ssrc,8:deadbeef,12:rtcp_in_lost,2:-5,"
                             "14:rtcp_out_valid,1:0,13:rtcp_out_ssrc,8:3307ebec,13:rtcp_out_lost,1:1,"
                             "13:last_fraction,3:200,";
/* (float)40.009 = 40.008998870849609375 exactly; 16 significant digits are the shortest that read back. */
static const char FULL_J[] = "12:jitter_count,2:11,13:jitter_sum_ms,6:12.125,13:jitter_min_ms,3:0.1,"
                             "13:jitter_max_ms,5:4.625,11:last_rtt_ms,17:40.00899887084961,";

/*
 * Edges: longest strings (with bytes a netstring or RESP must carry: CR LF,
 * comma, colon, digits), both IPv6, NaN and infinities, the smallest
 * denormal, negative lost at INT32_MIN and -1, unnamed enum values, maximal
 * integers.
 */
static void state_edges(struct fsa_leg_state *st)
{
    memset(st, 0, sizeof(*st));
    st->instance = 0; /* "fs-a" */
    st->direction = 7;
    st->domain_rank = 4; /* calc's rank for a domain of unknown origin */
    st->flags = FSA_LEG_RTCP_RECV_OK | FSA_LEG_RTCP_SEND_OK | FSA_LEG_LEARNT;
    st->last_fraction = 255;
    memset(st->uuid, 'u', sizeof(st->uuid) - 1);
    memset(st->call_id, 'c', sizeof(st->call_id) - 1);
    memcpy(st->call_id, " \r\n12:x,3:", 10); /* looks like netstrings: must not confuse the reader */
    memset(st->domain, 'd', sizeof(st->domain) - 1);
    memset(st->codec, 'k', sizeof(st->codec) - 1);
    st->local_ip_family = 6;
    inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", st->local_ip); /* longest text, 39 */
    st->remote_ip_family = 6;
    inet_pton(AF_INET6, "::ffff:10.0.0.1", st->remote_ip); /* v4-mapped: printed with a dotted tail */
    st->codec_rate = UINT32_MAX;
    st->jitter_count = UINT32_MAX;
    st->a_leg_hash = 0;
    st->created_us = UINT64_MAX;
    st->jitter_sum_ms = INFINITY;
    st->jitter_min_ms = 5e-324; /* smallest denormal */
    st->jitter_max_ms = NAN;
    st->last_rtt_ms = -INFINITY;
    st->rtcp[FSA_LEG_RTCP_RECV] = (struct fsa_leg_rtcp){0xffffffffu, INT32_MIN};
    st->rtcp[FSA_LEG_RTCP_SEND] = (struct fsa_leg_rtcp){1u, -1};
}

/* More edges: an instance without a name (its id in the key), nothing known, doubles that need 17 digits or -0. */
static void state_edges2(struct fsa_leg_state *st)
{
    memset(st, 0, sizeof(*st));
    st->instance = 5;
    st->uuid[0] = 'x';
    st->a_leg_hash = 1;
    st->jitter_sum_ms = 1e300;
    st->jitter_min_ms = -0.0;
    st->jitter_max_ms = 0.30000000000000004; /* 0.1 + 0.2: 17 digits */
    st->last_rtt_ms = 0.0;
    st->rtcp[FSA_LEG_RTCP_SEND] = (struct fsa_leg_rtcp){0u, INT32_MAX};
}

static void check_same_state_at(const struct fsa_leg_state *a, const struct fsa_leg_state *b, int line)
{
    unsigned failed = fsa_test_failed;
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
    /* Doubles bit for bit (NaN, infinities, -0.0 and denormals included). */
    CHECK(memcmp(&a->jitter_sum_ms, &b->jitter_sum_ms, sizeof(double)) == 0);
    CHECK(memcmp(&a->jitter_min_ms, &b->jitter_min_ms, sizeof(double)) == 0);
    CHECK(memcmp(&a->jitter_max_ms, &b->jitter_max_ms, sizeof(double)) == 0);
    CHECK(memcmp(&a->last_rtt_ms, &b->last_rtt_ms, sizeof(double)) == 0);
    for (int d = 0; d < 2; d++) {
        CHECK_EQ_U64(a->rtcp[d].source_ssrc, b->rtcp[d].source_ssrc);
        CHECK_EQ_I64(a->rtcp[d].last_lost, b->rtcp[d].last_lost);
    }
    CHECK(memcmp(a, b, sizeof(*a)) == 0); /* and nothing else differs (both were zeroed first) */
    if (fsa_test_failed != failed)
        fprintf(stderr, "  (states compared at line %d)\n", line);
}
#define check_same_state(a, b) check_same_state_at((a), (b), __LINE__)

/* ---- round trip, layout, partial parts, TTL, refused commands ---------------------------------------------- */

static void store_round_trip(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    nanswers = 0;
    struct fsa_store_redis_params p = params(&r);
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    CHECK(s != NULL);
    struct fsa_store st = fsa_store_redis_store(s);
    CHECK(st.ops == &fsa_store_redis_ops && st.ops->persistent && strcmp(st.ops->name, "redis") == 0);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_INIT); /* nothing happens before the worker's first call */
    CHECK_EQ_U64(st.ops->epoch(st.ctx), 0);
    CHECK(!st.ops->busy(st.ctx));

    /* One round, as calc makes it: legs grouped by instance (0, 1, 5), all parts. */
    struct fsa_leg_state a, b, c, got;
    state_full(&a);
    state_edges(&b);
    state_edges2(&c);
    long long hset0 = cmd_calls(&r, "hset"), expire0 = cmd_calls(&r, "expire");
    CHECK_EQ_I64(hset0, 0);
    CHECK_EQ_I64(st.ops->save(st.ctx, &b, FSA_STORE_PART_ALL), 0); /* connects (epoch 1), then stages */
    CHECK_EQ_U64(st.ops->epoch(st.ctx), 1);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a, FSA_STORE_PART_ALL), 0);
    CHECK_EQ_I64(st.ops->save(st.ctx, &c, FSA_STORE_PART_ALL), 0);
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.pending, 2);      /* instance 0's and 1's HSETs went out of the stage; 5's is still gathered */
    CHECK_EQ_U64(x.commands, 1 + 2); /* SELECT, 2 HSETs (queued, not necessarily sent) */
    CHECK(st.ops->busy(st.ctx));
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS fsagent:leg:v2:fs-a"), 0); /* write-behind: nothing before round_end */
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    x = stats(s);
    CHECK_EQ_U64(x.pending, 0);
    CHECK_EQ_U64(x.OK_(SAVE), 3); /* per leg */
    CHECK_EQ_U64(x.ERR_(SAVE), 0);
    CHECK_EQ_U64(x.commands, 1 + 3 + 3); /* SELECT, 3 HSETs, 3 EXPIREs */
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset0, 3);
    CHECK_EQ_I64(cmd_calls(&r, "expire") - expire0, 3);
    CHECK_EQ_I64(test_redis_int(&r, 0, "DBSIZE"), 3);

    /* What an operator sees: the exact bytes of every part of a. */
    const char *hb = "fsagent:leg:v2:fs-b";
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", hb), 4); /* _v and three parts */
    CHECK_HGET(&r, hb, "_v", "2");
    CHECK_HGET(&r, hb, "b0c6292b-0197-4183-9245-3f7f203ddc84:l", FULL_L);
    CHECK_HGET(&r, hb, "b0c6292b-0197-4183-9245-3f7f203ddc84:b", FULL_B);
    CHECK_HGET(&r, hb, "b0c6292b-0197-4183-9245-3f7f203ddc84:j", FULL_J);
    long long ttl = test_redis_int(&r, 0, "TTL %s", hb);
    CHECK(ttl > 0 && ttl <= 1000);

    /* b's parts: long strings, IPv6, nan/inf texts, INT32_MIN. */
    const char *ha = "fsagent:leg:v2:fs-a";
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", ha), 4);
    struct nsbuf want = {.n = 0};
    ns_str(&want, "call_id", b.call_id);
    ns_str(&want, "direction", "7");
    ns_str(&want, "domain", b.domain);
    ns_str(&want, "domain_source", "4");
    ns_str(&want, "codec", b.codec);
    ns_str(&want, "codec_rate", "4294967295");
    ns_str(&want, "local_ip", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
    ns_str(&want, "remote_ip", "::ffff:10.0.0.1");
    ns_str(&want, "a_leg_hash", "0000000000000000");
    ns_str(&want, "created_us", "18446744073709551615");
    ns_str(&want, "learnt", "1");
    CHECK(strlen(b.call_id) == 79 && want.n > 300);
    CHECK(hget_is(&r, 0, ha, part_field(b.uuid, 'l'), want.b, want.n));
    CHECK_HGET(&r, ha, part_field(b.uuid, 'b'),
               "13:rtcp_in_valid,1:1,12:rtcp_in_ssrc,8:ffffffff,12:rtcp_in_lost,11:-2147483648,"
               "14:rtcp_out_valid,1:1,13:rtcp_out_ssrc,8:00000001,13:rtcp_out_lost,2:-1,13:last_fraction,3:255,");
    /* 16 digits (%.16g) already read back to the smallest denormal. */
    CHECK_HGET(&r, ha, part_field(b.uuid, 'j'),
               "12:jitter_count,10:4294967295,13:jitter_sum_ms,3:inf,13:jitter_min_ms,22:4.940656458412465e-324,"
               "13:jitter_max_ms,3:nan,11:last_rtt_ms,4:-inf,");
    /* c: instance 5 has no name (its id in the key), nothing known. */
    const char *h5 = "fsagent:leg:v2:5";
    CHECK_HGET(&r, h5, "_v", "2");
    CHECK_HGET(&r, h5, "x:l",
               "7:call_id,0:,9:direction,7:unknown,6:domain,0:,13:domain_source,4:none,5:codec,0:,"
               "10:codec_rate,1:0,8:local_ip,0:,9:remote_ip,0:,10:a_leg_hash,16:0000000000000001,"
               "10:created_us,1:0,6:learnt,1:0,");
    CHECK_HGET(&r, h5, "x:b",
               "13:rtcp_in_valid,1:0,12:rtcp_in_ssrc,8:00000000,12:rtcp_in_lost,1:0,14:rtcp_out_valid,1:0,"
               "13:rtcp_out_ssrc,8:00000000,13:rtcp_out_lost,10:2147483647,13:last_fraction,1:0,");
    CHECK_HGET(&r, h5, "x:j",
               "12:jitter_count,1:0,13:jitter_sum_ms,6:1e+300,13:jitter_min_ms,2:-0,"
               "13:jitter_max_ms,19:0.30000000000000004,11:last_rtt_ms,1:0,");

    /* Read back through a second store (another agent): answers in request order, every field equal. */
    struct fsa_store_redis *s2 = fsa_store_redis_create(&p);
    struct fsa_store st2 = fsa_store_redis_store(s2);
    CHECK_EQ_I64(st2.ops->load(st2.ctx, 1, a.uuid, strlen(a.uuid)), 0);
    CHECK_EQ_I64(st2.ops->load(st2.ctx, 0, b.uuid, strlen(b.uuid)), 0);
    CHECK_EQ_I64(st2.ops->load(st2.ctx, 5, c.uuid, strlen(c.uuid)), 0);
    CHECK_EQ_I64(st2.ops->load(st2.ctx, 0, a.uuid, strlen(a.uuid)), 0); /* same Unique-ID, other instance */
    CHECK(st2.ops->busy(st2.ctx));
    CHECK_EQ_U64(nanswers, 0); /* never answered inside load() */
    CHECK(await_answers(st2, 4, 3000));
    CHECK_EQ_U64(nanswers, 4);
    CHECK_EQ_U64(bad_args, 0);
    CHECK_EQ_I64(answers[0].result, FSA_STORE_LOAD_HIT);
    check_same_state(&a, &answers[0].st);
    CHECK_EQ_I64(answers[1].result, FSA_STORE_LOAD_HIT);
    check_same_state(&b, &answers[1].st);
    CHECK_EQ_I64(answers[2].result, FSA_STORE_LOAD_HIT);
    check_same_state(&c, &answers[2].st);
    CHECK_EQ_I64(answers[3].result, FSA_STORE_LOAD_MISS);
    struct fsa_leg_state key_only;
    memset(&key_only, 0, sizeof(key_only));
    memcpy(key_only.uuid, a.uuid, sizeof(a.uuid));
    check_same_state(&key_only, &answers[3].st); /* a miss: the key asked for, nothing else */
    CHECK(settle(st2, 1000));
    x = stats(s2);
    CHECK_EQ_U64(x.OK_(LOAD), 4);
    CHECK_EQ_U64(x.ERR_(LOAD), 0);
    CHECK_EQ_U64(x.load_hits, 3);
    CHECK_EQ_U64(x.load_hits_old, 0);
    CHECK_EQ_U64(x.unreadable, 0);
    CHECK_EQ_U64(x.commands, 1 + 4 * 2); /* SELECT, then HMGET + HGETALL per load */
    CHECK_EQ_I64(cmd_calls(&r, "hmget"), 4);
    CHECK_EQ_I64(cmd_calls(&r, "hgetall"), 4);

    /*
     * Partial parts: a later round writes only a's bases (its labels changed
     * too, but are not part of the save): labels and jitter stay as stored.
     */
    struct fsa_leg_state a2 = a;
    a2.rtcp[FSA_LEG_RTCP_RECV].last_lost = -7;
    a2.flags |= FSA_LEG_RTCP_SEND_OK;
    a2.last_fraction = 3;
    snprintf(a2.codec, sizeof(a2.codec), "PCMA");
    a2.jitter_count = 99;
    long long hset1 = cmd_calls(&r, "hset");
    uint64_t cmds = stats(s).commands;
    CHECK_EQ_I64(st.ops->save(st.ctx, &a2, FSA_STORE_PART_BASES), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_U64(stats(s).commands - cmds, 2); /* HSET + EXPIRE */
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset1, 1);
    CHECK_HGET(&r, hb, "b0c6292b-0197-4183-9245-3f7f203ddc84:l", FULL_L);
    CHECK_HGET(&r, hb, "b0c6292b-0197-4183-9245-3f7f203ddc84:b",
               "13:rtcp_in_valid,1:1,12:rtcp_in_ssrc,8:deadbeef,12:rtcp_in_lost,2:-7,"
               "14:rtcp_out_valid,1:1,13:rtcp_out_ssrc,8:3307ebec,13:rtcp_out_lost,1:1,13:last_fraction,1:3,");
    CHECK_HGET(&r, hb, "b0c6292b-0197-4183-9245-3f7f203ddc84:j", FULL_J);
    struct fsa_leg_state mixed = a; /* labels and jitter of a, bases of a2 */
    mixed.rtcp[FSA_LEG_RTCP_RECV].last_lost = -7;
    mixed.flags |= FSA_LEG_RTCP_SEND_OK;
    mixed.last_fraction = 3;
    CHECK_EQ_I64(load_one(st2, 1, a.uuid, &got), FSA_STORE_LOAD_HIT);
    check_same_state(&mixed, &got);
    /* Labels and jitter only, in one save: two fields, one HSET. */
    hset1 = cmd_calls(&r, "hset");
    CHECK_EQ_I64(st.ops->save(st.ctx, &a2, FSA_STORE_PART_LABELS | FSA_STORE_PART_JITTER), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset1, 1);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", hb), 4);
    CHECK_EQ_I64(load_one(st2, 1, a.uuid, &got), FSA_STORE_LOAD_HIT);
    check_same_state(&a2, &got);

    /* A load queued right after a round_end rides the same connection behind it: it sees the write. */
    a2.jitter_count = 100;
    CHECK_EQ_I64(st.ops->save(st.ctx, &a2, FSA_STORE_PART_JITTER), 0);
    st.ops->round_end(st.ctx);
    CHECK_EQ_I64(load_one(st, 1, a.uuid, &got), FSA_STORE_LOAD_HIT);
    CHECK_EQ_U64(got.jitter_count, 100);

    /* TTL: the hash's TTL runs from its last write; a round that only deletes sends no EXPIRE. */
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXPIRE %s 5", hb), 1);
    CHECK(test_redis_int(&r, 0, "TTL %s", hb) <= 5);
    long long expire1 = cmd_calls(&r, "expire");
    CHECK_EQ_I64(st.ops->del(st.ctx, 1, "not-there", 9), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(cmd_calls(&r, "expire") - expire1, 0);
    ttl = test_redis_int(&r, 0, "TTL %s", hb);
    CHECK(ttl > 0 && ttl <= 5);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a2, FSA_STORE_PART_JITTER), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    ttl = test_redis_int(&r, 0, "TTL %s", hb);
    CHECK(ttl > 5 && ttl <= 1000);

    /* A key of another type where an instance hash belongs: saves (per leg) and the load refused, connection up. */
    CHECK(test_redis_int(&r, 0, "RPUSH fsagent:leg:v2:9 x") == 1);
    nanswers = 0;
    struct fsa_leg_state w = a;
    w.instance = 9;
    x = stats(s);
    uint64_t err0 = x.ERR_(SAVE), ok0 = x.OK_(SAVE);
    CHECK_EQ_I64(st.ops->save(st.ctx, &w, FSA_STORE_PART_ALL), 0);
    leg_uuid(&w, 1);
    CHECK_EQ_I64(st.ops->save(st.ctx, &w, FSA_STORE_PART_ALL), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    x = stats(s);
    CHECK_EQ_U64(x.ERR_(SAVE) - err0, 2); /* one HSET refused (WRONGTYPE), its two legs counted */
    CHECK_EQ_U64(x.OK_(SAVE) - ok0, 0);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_UP);
    CHECK_EQ_I64(load_one(st, 9, "leg-0001", &got), FSA_STORE_LOAD_FAILED);
    x = stats(s);
    CHECK_EQ_U64(x.ERR_(LOAD), 1);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_UP);

    /* Out of range: refused before Redis, counted, no answer to come. */
    char long_uuid[FSA_UUID_MAX + 1];
    memset(long_uuid, 'x', sizeof(long_uuid));
    CHECK_EQ_I64(st.ops->del(st.ctx, 0, long_uuid, FSA_UUID_MAX), -EINVAL);
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, long_uuid, 0), -EINVAL);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a, 0), -EINVAL);
    x = stats(s);
    CHECK_EQ_U64(x.ERR_(DELETE), 1);
    CHECK_EQ_U64(x.ERR_(LOAD), 2);
    CHECK_EQ_U64(x.ERR_(SAVE), 3);
    CHECK(!st.ops->busy(st.ctx));
    CHECK_EQ_U64(x.DROP_(SAVE) + x.DROP_(DELETE) + x.DROP_(LOAD), 0);
    CHECK_EQ_U64(x.connects, 1);
    CHECK_EQ_U64(x.connect_failures, 0);
    CHECK_EQ_U64(st.ops->epoch(st.ctx), 1);
    /* Lines: s connected, s2 connected, then s's first refused command (WRONGTYPE), once. */
    CHECK_EQ_U64(nlines, 3);
    CHECK(nlines >= 1 && !lines[0].fault && strstr(lines[0].msg, "connected") &&
          strcmp(lines[0].label, "redis.w0") == 0);
    CHECK(nlines >= 3 && lines[2].fault && strstr(lines[2].msg, "WRONGTYPE"));

    /* Redis drops the idle connections (as its `timeout` setting would): a poll notices, nothing is counted. */
    uint64_t errs = x.ERR_(SAVE) + x.ERR_(LOAD) + x.ERR_(DELETE);
    CHECK_EQ_I64(test_redis_int(&r, 0, "CLIENT KILL TYPE normal"), 2); /* s and s2; the asking one is skipped */
    for (int i = 0; i < 100 && stats(s).state == FSA_STORE_REDIS_UP; i++) {
        poll_once(st);
        test_redis_sleep_ms(i ? 10 : 0);
    }
    x = stats(s);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    CHECK_EQ_U64(x.ERR_(SAVE) + x.ERR_(LOAD) + x.ERR_(DELETE), errs); /* unchanged */
    CHECK(strstr(last_line(), "down: connection closed by the server") != NULL);
    CHECK(!st.ops->busy(st.ctx));
    fsa_store_redis_destroy(s2);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- coalescing: commands per round ------------------------------------------------------------------------ */

/* Decimal digits of n. */
static size_t digits(size_t n)
{
    size_t d = 1;
    while (n >= 10)
        n /= 10, d++;
    return d;
}

/*
 * The RESP bytes one leg adds to its instance's HSET, worked out from the
 * encoding: per part "$<f>\r\n<uuid>:x\r\n" + "$<n>\r\n<value>\r\n".
 */
static size_t resp_bytes(size_t uuid_len, size_t vl, size_t vb, size_t vj)
{
    size_t f = uuid_len + 2, n = 0;
    size_t v[3] = {vl, vb, vj};
    for (int i = 0; i < 3; i++)
        if (v[i])
            n += (1 + digits(f) + 2 + f + 2) + (1 + digits(v[i]) + 2 + v[i] + 2);
    return n;
}

/*
 * Legs of per_leg bytes that one HSET carries: store_redis.c bounds one
 * command's arguments to 64 KiB (STAGE_CAP) and adds a leg while room for
 * three parts of the largest size, 3 x (1024 + 48 + 32) bytes, is left.
 */
static size_t legs_per_hset(size_t per_leg)
{
    return (65536 - 3 * (1024 + 48 + 32)) / per_leg + 1;
}

/*
 * Saves legs [first, first + n) of l's instance with `parts` as calc does: a
 * save refused for room (-EAGAIN) waits for a poll and is tried again
 * (counted in *waits). Returns the saves that failed otherwise.
 */
static unsigned save_legs(struct fsa_store st, struct fsa_leg_state *l, unsigned first, unsigned n, unsigned parts,
                          unsigned *waits)
{
    unsigned failed = 0;
    for (unsigned i = first; i < first + n; i++) {
        leg_uuid(l, i);
        int rc;
        while ((rc = st.ops->save(st.ctx, l, parts)) == -EAGAIN) {
            ++*waits;
            poll_once(st);
        }
        failed += rc != 0;
    }
    return failed;
}

static void store_coalescing(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    struct fsa_store_redis_params p = params(&r);
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    poll_once(st); /* connects */
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    struct fsa_leg_state l;
    state_full(&l);
    l.instance = 0;
    unsigned waits = 0;

    /* 60 legs of one instance, all parts, one round: exactly one HSET and one EXPIRE. */
    long long hset0 = cmd_calls(&r, "hset"), expire0 = cmd_calls(&r, "expire");
    uint64_t cmds0 = stats(s).commands;
    CHECK_EQ_U64(save_legs(st, &l, 0, 60, FSA_STORE_PART_ALL, &waits), 0);
    CHECK_EQ_U64(stats(s).commands - cmds0, 0); /* all in the one command being gathered */
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset0, 1);
    CHECK_EQ_I64(cmd_calls(&r, "expire") - expire0, 1);
    CHECK_EQ_U64(stats(s).commands - cmds0, 2);
    CHECK_EQ_U64(stats(s).OK_(SAVE), 60);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN fsagent:leg:v2:fs-a"), 1 + 60 * 3);
    CHECK_HGET(&r, "fsagent:leg:v2:fs-a", "leg-0059:b", FULL_B);
    long long ttl = test_redis_int(&r, 0, "TTL fsagent:leg:v2:fs-a");
    CHECK(ttl > 0 && ttl <= 1000);

    /*
     * 500 legs of one instance, one round: still one EXPIRE; the HSETs are as
     * few as the 64 KiB bound on one command's arguments allows (not one:
     * 500 full legs are about 330 KB of arguments).
     */
    size_t vl = sizeof(FULL_L) - 1, vb = sizeof(FULL_B) - 1, vj = sizeof(FULL_J) - 1;
    size_t per_leg = resp_bytes(8, vl, vb, vj), per_hset = legs_per_hset(per_leg);
    unsigned want_hsets = (unsigned)((500 + per_hset - 1) / per_hset);
    printf("coalescing: %zu bytes of arguments per leg, %zu legs per HSET, %u HSETs for 500 legs\n", per_leg, per_hset,
           want_hsets);
    hset0 = cmd_calls(&r, "hset");
    expire0 = cmd_calls(&r, "expire");
    cmds0 = stats(s).commands;
    CHECK_EQ_U64(save_legs(st, &l, 1000, 500, FSA_STORE_PART_ALL, &waits), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    if (waits == 0) { /* a poll in the middle of a round (a full send buffer) may split it */
        CHECK_EQ_I64(cmd_calls(&r, "hset") - hset0, want_hsets);
        CHECK_EQ_I64(cmd_calls(&r, "expire") - expire0, 1);
        CHECK_EQ_U64(stats(s).commands - cmds0, want_hsets + 1);
    } else {
        printf("coalescing: %u waits for room in the 500-leg round\n", waits);
        CHECK(cmd_calls(&r, "hset") - hset0 >= want_hsets);
    }
    CHECK(stats(s).commands - cmds0 <= 500 / 50); /* far below a command per leg */
    CHECK_EQ_U64(stats(s).OK_(SAVE), 560);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN fsagent:leg:v2:fs-a"), 1 + 560 * 3);

    /* Only bases (the usual update): shorter, so more legs per HSET. */
    per_hset = legs_per_hset(resp_bytes(8, 0, vb, 0));
    want_hsets = (unsigned)((500 + per_hset - 1) / per_hset);
    hset0 = cmd_calls(&r, "hset");
    waits = 0;
    CHECK_EQ_U64(save_legs(st, &l, 1000, 500, FSA_STORE_PART_BASES, &waits), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_U64(waits, 0);
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset0, want_hsets);
    CHECK_EQ_U64(want_hsets, 2);

    /* Legs of two instances, grouped (as calc sorts them): 2 HSETs, 2 EXPIREs, one per hash. */
    hset0 = cmd_calls(&r, "hset");
    expire0 = cmd_calls(&r, "expire");
    cmds0 = stats(s).commands;
    for (unsigned inst = 0; inst < 2; inst++) {
        l.instance = (uint16_t)inst;
        CHECK_EQ_U64(save_legs(st, &l, 2000, 40, FSA_STORE_PART_ALL, &waits), 0);
    }
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset0, 2);
    CHECK_EQ_I64(cmd_calls(&r, "expire") - expire0, 2);
    CHECK_EQ_U64(stats(s).commands - cmds0, 4);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN fsagent:leg:v2:fs-b"), 1 + 40 * 3);
    ttl = test_redis_int(&r, 0, "TTL fsagent:leg:v2:fs-b");
    CHECK(ttl > 0 && ttl <= 1000);

    /* Interleaved instances: an HSET per run, still one EXPIRE per hash written. */
    hset0 = cmd_calls(&r, "hset");
    expire0 = cmd_calls(&r, "expire");
    for (unsigned i = 0; i < 6; i++) {
        l.instance = (uint16_t)(i % 2);
        leg_uuid(&l, 3000 + i);
        CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_LABELS), 0);
    }
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset0, 6);
    CHECK_EQ_I64(cmd_calls(&r, "expire") - expire0, 2);

    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.OK_(SAVE), 560 + 500 + 80 + 6);
    CHECK_EQ_U64(x.ERR_(SAVE) + x.DROP_(SAVE), 0);
    CHECK_EQ_U64(nlines, 1);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- sweep: legs no worker holds are deleted after a whole channel list ----------------------------------- */

/* keep(): the legs whose number (leg-NNNN) is a multiple of 3 are live; it counts what it is asked. */
static unsigned keep_asked;
static bool keep_thirds(void *arg, uint16_t instance, const char *uuid, size_t n)
{
    (void)arg;
    keep_asked++;
    CHECK_EQ_U64(instance, 0);
    CHECK(n == 8 && strncmp(uuid, "leg-", 4) == 0);
    return atoi(uuid + 4) % 3 == 0;
}

static void store_sweep(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    struct fsa_store_redis_params p = params(&r);
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state l;
    state_full(&l);
    l.instance = 0;
    /* 1000 legs: a hash table in Redis (not a listpack), so HSCAN walks it in several pages. */
    unsigned waits = 0;
    CHECK_EQ_U64(save_legs(st, &l, 0, 1000, FSA_STORE_PART_ALL, &waits), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 5000));
    const char *h = "fsagent:leg:v2:fs-a";
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", h), 1 + 3 * 1000);
    /* The other instance's hash is not touched by a sweep of fs-a. */
    l.instance = 1;
    CHECK_EQ_U64(save_legs(st, &l, 0, 5, FSA_STORE_PART_ALL, &waits), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 5000));

    long long scans0 = cmd_calls(&r, "hscan");
    keep_asked = 0;
    st.ops->sweep(st.ctx, 0, keep_thirds, NULL);
    st.ops->sweep(st.ctx, 0, keep_thirds, NULL); /* asked twice before it ran: one sweep */
    CHECK(st.ops->busy(st.ctx));
    CHECK(settle(st, 10000));
    /* 334 of 0..999 are multiples of 3: they stay with their 3 fields; 666 legs go. */
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", h), 1 + 3 * 334);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HEXISTS %s %s", h, part_field("leg-0999", 'b')), 1);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HEXISTS %s %s", h, part_field("leg-0998", 'j')), 0);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", "fsagent:leg:v2:fs-b"), 1 + 3 * 5);
    CHECK_EQ_U64(stats(s).swept, 666);
    /* Every leg was looked at; a gone leg's other parts vanish with its HDEL before a later page. */
    CHECK(keep_asked >= 1000 && keep_asked <= 3000);
    CHECK(cmd_calls(&r, "hscan") - scans0 >= 3); /* in pages */
    CHECK_EQ_U64(nlines, 1);                      /* "connected" only */
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- delete ------------------------------------------------------------------------------------------------ */

static void store_delete(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    nanswers = 0;
    struct fsa_store_redis_params p = params(&r);
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state l, got;
    state_full(&l);
    l.instance = 0;
    for (unsigned i = 0; i < 3; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_ALL), 0);
    }
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    const char *h = "fsagent:leg:v2:fs-a";
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", h), 10);

    /* Three deletes in one round: one HDEL of their nine fields, no EXPIRE; _v stays. */
    long long hdel0 = cmd_calls(&r, "hdel"), expire0 = cmd_calls(&r, "expire");
    uint64_t cmds0 = stats(s).commands;
    for (unsigned i = 0; i < 3; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(st.ops->del(st.ctx, 0, l.uuid, strlen(l.uuid)), 0);
    }
    CHECK(st.ops->busy(st.ctx));
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(cmd_calls(&r, "hdel") - hdel0, 1);
    CHECK_EQ_I64(cmd_calls(&r, "expire") - expire0, 0);
    CHECK_EQ_U64(stats(s).commands - cmds0, 1);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", h), 1);
    redisReply *rep = test_redis_command(&r, 0, "HKEYS %s", h);
    CHECK(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && strcmp(rep->element[0]->str, "_v") == 0);
    if (rep)
        freeReplyObject(rep);
    CHECK_EQ_I64(load_one(st, 0, "leg-0001", &got), FSA_STORE_LOAD_MISS);
    CHECK_EQ_U64(stats(s).OK_(DELETE), 3);

    /* Save one leg and delete another of the same instance in one round: HSET, then HDEL, one EXPIRE. */
    leg_uuid(&l, 7);
    CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_ALL), 0);
    leg_uuid(&l, 8);
    CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_ALL), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    long long hset0 = cmd_calls(&r, "hset");
    hdel0 = cmd_calls(&r, "hdel");
    expire0 = cmd_calls(&r, "expire");
    leg_uuid(&l, 9);
    CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_ALL), 0);
    CHECK_EQ_I64(st.ops->del(st.ctx, 0, "leg-0007", 8), 0);
    CHECK_EQ_I64(st.ops->del(st.ctx, 0, "never-saved", 11), 0); /* nothing to remove: still an ok delete */
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset0, 1);
    CHECK_EQ_I64(cmd_calls(&r, "hdel") - hdel0, 1);
    CHECK_EQ_I64(cmd_calls(&r, "expire") - expire0, 1);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN %s", h), 1 + 2 * 3); /* legs 8 and 9 */
    CHECK_EQ_I64(test_redis_int(&r, 0, "HEXISTS %s leg-0007:l", h), 0);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HEXISTS %s leg-0008:j", h), 1);
    /* A delete staged after a save of the same leg in the same round wins (sent in that order). */
    CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_ALL), 0);
    CHECK_EQ_I64(st.ops->del(st.ctx, 0, l.uuid, strlen(l.uuid)), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(test_redis_int(&r, 0, "HEXISTS %s leg-0009:b", h), 0);
    CHECK_EQ_I64(load_one(st, 0, "leg-0009", &got), FSA_STORE_LOAD_MISS);
    CHECK_EQ_I64(load_one(st, 0, "leg-0008", &got), FSA_STORE_LOAD_HIT);

    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.OK_(DELETE), 3 + 2 + 1);
    CHECK_EQ_U64(x.OK_(SAVE), 3 + 2 + 1 + 1);
    CHECK_EQ_U64(x.ERR_(DELETE) + x.ERR_(SAVE) + x.ERR_(LOAD), 0);
    CHECK_EQ_U64(x.OK_(LOAD), 3);
    CHECK_EQ_U64(x.load_hits, 1);
    CHECK_EQ_U64(nlines, 1);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- the previous format ----------------------------------------------------------------------------------- */

static void store_old_format(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    nanswers = 0;
    /* A hash per leg, as the previous agent version wrote it (every field its own hash field). */
    const char *old = "fsagent:leg:fs-a:old-leg-1";
    redisReply *rep = test_redis_command(
        &r, 0,
        "HSET %s instance fs-a uuid old-leg-1 call_id c-old@x direction inbound domain d.example "
        "domain_source variable_domain_name codec G722 codec_rate 16000 local_ip 192.0.2.1 remote_ip 2001:db8::1 "
        "a_leg_hash 00000000000000ab created_us 1700000000000001 jitter_count 7 jitter_sum_ms 3.5 "
        "jitter_min_ms 0.25 jitter_max_ms 1.125 last_rtt_ms 12.5 last_fraction 9 rtcp_in_valid 1 "
        "rtcp_in_ssrc 0a0b0c0d rtcp_in_lost -3 rtcp_out_valid 1 rtcp_out_ssrc 11223344 rtcp_out_lost 42 learnt 1 "
        "some_future_field whatever",
        old);
    CHECK(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 26);
    if (rep)
        freeReplyObject(rep);
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXPIRE %s 1000", old), 1);
    struct fsa_leg_state want;
    memset(&want, 0, sizeof(want));
    want.instance = 0;
    snprintf(want.uuid, sizeof(want.uuid), "old-leg-1");
    snprintf(want.call_id, sizeof(want.call_id), "c-old@x");
    want.direction = FSA_DIR_INBOUND;
    snprintf(want.domain, sizeof(want.domain), "d.example");
    want.domain_rank = FSA_DOMAIN_FROM_VARIABLE;
    snprintf(want.codec, sizeof(want.codec), "G722");
    want.codec_rate = 16000;
    want.local_ip_family = 4;
    inet_pton(AF_INET, "192.0.2.1", want.local_ip);
    want.remote_ip_family = 6;
    inet_pton(AF_INET6, "2001:db8::1", want.remote_ip);
    want.a_leg_hash = 0xab;
    want.created_us = 1700000000000001ull;
    want.jitter_count = 7;
    want.jitter_sum_ms = 3.5;
    want.jitter_min_ms = 0.25;
    want.jitter_max_ms = 1.125;
    want.last_rtt_ms = 12.5;
    want.last_fraction = 9;
    want.flags = FSA_LEG_RTCP_RECV_OK | FSA_LEG_RTCP_SEND_OK | FSA_LEG_LEARNT;
    want.rtcp[FSA_LEG_RTCP_RECV] = (struct fsa_leg_rtcp){0x0a0b0c0du, -3};
    want.rtcp[FSA_LEG_RTCP_SEND] = (struct fsa_leg_rtcp){0x11223344u, 42};

    struct fsa_store_redis_params p = params(&r);
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    CHECK_EQ_I64(st.ops->load(st.ctx, 0, "old-leg-1", 9), 0);
    CHECK(await_answers(st, 1, 3000));
    CHECK_EQ_U64(nanswers, 1);
    CHECK_EQ_I64(answers[0].result, FSA_STORE_LOAD_HIT_OLD);
    check_same_state(&want, &answers[0].st);
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.load_hits_old, 1);
    CHECK_EQ_U64(x.load_hits, 1);
    CHECK_EQ_U64(x.OK_(LOAD), 1);
    CHECK_EQ_U64(x.unreadable, 0);
    /* Handed out: the old hash goes, at the next poll (or the drain), with one DEL. */
    CHECK(st.ops->busy(st.ctx));
    poll_once(st);
    st.ops->drain(st.ctx, test_redis_now_ns() + 2000000000ull, on_loaded, &answer_tag);
    CHECK(!st.ops->busy(st.ctx));
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS %s", old), 0);
    CHECK_EQ_I64(cmd_calls(&r, "del"), 1);
    CHECK_EQ_U64(stats(s).commands, 1 + 2 + 1); /* SELECT, HMGET + HGETALL, DEL */
    CHECK_EQ_U64(nanswers, 1);
    /* Asked again: nothing in either format now. */
    CHECK_EQ_I64(load_one(st, 0, "old-leg-1", NULL), FSA_STORE_LOAD_MISS);

    /* Both formats hold the leg: the current one wins, and the old hash is left to its TTL. */
    struct fsa_leg_state cur;
    state_full(&cur);
    cur.instance = 0;
    memset(cur.uuid, 0, sizeof(cur.uuid));
    snprintf(cur.uuid, sizeof(cur.uuid), "both-leg");
    CHECK_EQ_I64(st.ops->save(st.ctx, &cur, FSA_STORE_PART_ALL), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(test_redis_int(&r, 0, "HSET fsagent:leg:fs-a:both-leg codec OLD1 codec_rate 1"), 2);
    struct fsa_leg_state got;
    CHECK_EQ_I64(load_one(st, 0, "both-leg", &got), FSA_STORE_LOAD_HIT);
    check_same_state(&cur, &got);
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS fsagent:leg:fs-a:both-leg"), 1);
    CHECK_EQ_U64(stats(s).load_hits_old, 1);

    /* An old hash with a value that is not ours: a miss, counted unreadable, the hash kept. */
    CHECK_EQ_I64(test_redis_int(&r, 0, "HSET fsagent:leg:fs-a:bad-old codec PCMU codec_rate abc"), 2);
    CHECK_EQ_I64(load_one(st, 0, "bad-old", &got), FSA_STORE_LOAD_MISS);
    struct fsa_leg_state key_only;
    memset(&key_only, 0, sizeof(key_only));
    snprintf(key_only.uuid, sizeof(key_only.uuid), "bad-old");
    check_same_state(&key_only, &got); /* what was read before the bad value is not handed out */
    CHECK(settle(st, 3000));
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS fsagent:leg:fs-a:bad-old"), 1);
    x = stats(s);
    CHECK_EQ_U64(x.unreadable, 1);
    CHECK_EQ_U64(x.load_hits_old, 1);

    /* An old key of another type: Redis refuses the HGETALL, the load fails, the connection stays. */
    rep = test_redis_command(&r, 0, "SET fsagent:leg:fs-a:str-old x");
    CHECK(rep && rep->type == REDIS_REPLY_STATUS);
    if (rep)
        freeReplyObject(rep);
    CHECK_EQ_I64(load_one(st, 0, "str-old", NULL), FSA_STORE_LOAD_FAILED);
    x = stats(s);
    CHECK_EQ_U64(x.ERR_(LOAD), 1);
    CHECK_EQ_U64(x.OK_(LOAD), 1 + 1 + 1 + 1);
    CHECK_EQ_U64(x.load_hits, 2);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_UP);
    CHECK(strstr(last_line(), "WRONGTYPE") != NULL);
    CHECK_EQ_U64(bad_args, 0);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- unreadable: unknown format version, malformed values --------------------------------------------------- */

static void store_unreadable(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    nanswers = 0;
    struct fsa_store_redis_params p = params(&r);
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state got, key_only;

    /* A later format version ("3") with a leg part present: not ours to read. */
    CHECK_EQ_I64(test_redis_int(&r, 0, "HSET fsagent:leg:v2:fs-a _v 3"), 1);
    CHECK_EQ_I64(hset_raw(&r, "fsagent:leg:v2:fs-a", "u1:l", FULL_L, sizeof(FULL_L) - 1), 1);
    CHECK_EQ_I64(load_one(st, 0, "u1", &got), FSA_STORE_LOAD_MISS);
    memset(&key_only, 0, sizeof(key_only));
    snprintf(key_only.uuid, sizeof(key_only.uuid), "u1");
    check_same_state(&key_only, &got);
    CHECK_EQ_U64(stats(s).unreadable, 1);
    /* Same hash, a leg it does not hold: a plain miss, not unreadable. */
    CHECK_EQ_I64(load_one(st, 0, "u9", &got), FSA_STORE_LOAD_MISS);
    CHECK_EQ_U64(stats(s).unreadable, 1);

    /* A hash without _v at all (instance fs-b), a leg part present: unreadable. */
    CHECK_EQ_I64(hset_raw(&r, "fsagent:leg:v2:fs-b", "u2:b", FULL_B, sizeof(FULL_B) - 1), 1);
    CHECK_EQ_I64(load_one(st, 1, "u2", &got), FSA_STORE_LOAD_MISS);
    CHECK_EQ_U64(stats(s).unreadable, 2);
    /* ... and once _v says "2", the same bytes read. */
    CHECK_EQ_I64(test_redis_int(&r, 0, "HSET fsagent:leg:v2:fs-b _v 2"), 1);
    CHECK_EQ_I64(load_one(st, 1, "u2", &got), FSA_STORE_LOAD_HIT);
    CHECK_EQ_U64(got.rtcp[FSA_LEG_RTCP_RECV].source_ssrc, 0xdeadbeefu);
    CHECK_EQ_I64(got.rtcp[FSA_LEG_RTCP_RECV].last_lost, -5);
    CHECK_EQ_U64(got.last_fraction, 200);
    CHECK_EQ_U64(got.flags, FSA_LEG_RTCP_RECV_OK);
    CHECK_EQ_U64(stats(s).unreadable, 2);

    /* Malformed values in a current-format hash: each a miss, counted. Good parts of the leg do not rescue it. */
    char too_long[128];
    memcpy(too_long, "7:call_id,80:", 13);
    memset(too_long + 13, 'c', 80);
    memcpy(too_long + 93, ",", 2);
    const struct {
        const char *value;
        const char *why;
    } bad[] = {
        {"13:rtcp_in_valid,1:1", "a name without its value"},
        {"13:rtcp_in_valid,1:1,12:rtcp_in_ssrc,8:deadbeef", "last netstring without its comma"},
        {"13:rtcp_in_valid,5:1,", "length past the end"},
        {"12:jitter_count,3:abc,", "not a number"},
        {"12:rtcp_in_lost,10:2147483648,", "lost beyond int32"},
        {"12:rtcp_in_ssrc,9:123456789,", "SSRC of 9 hex digits"},
        {"13:rtcp_in_valid,1:2,", "flag neither 0 nor 1"},
        {"x:codec,4:PCMU,", "length not a number"},
        {"99999999:codec,", "length of 8 digits"},
        {"8:local_ip,9:not-an-ip,", "not an IP"},
        {too_long, "call_id longer than a leg holds (80 bytes)"},
    };
    unsigned nbad = sizeof(bad) / sizeof(bad[0]);
    for (unsigned i = 0; i < nbad; i++) {
        char uuid[16];
        snprintf(uuid, sizeof(uuid), "bad-%u", i);
        CHECK_EQ_I64(hset_raw(&r, "fsagent:leg:v2:fs-b", part_field(uuid, 'j'), bad[i].value, strlen(bad[i].value)), 1);
        CHECK_EQ_I64(hset_raw(&r, "fsagent:leg:v2:fs-b", part_field(uuid, 'l'), FULL_L, sizeof(FULL_L) - 1), 1);
        int res = load_one(st, 1, uuid, &got);
        if (res != FSA_STORE_LOAD_MISS)
            fprintf(stderr, "malformed value read (%s): %s\n", bad[i].why, bad[i].value);
        CHECK_EQ_I64(res, FSA_STORE_LOAD_MISS);
        memset(&key_only, 0, sizeof(key_only));
        key_only.instance = 1;
        snprintf(key_only.uuid, sizeof(key_only.uuid), "%s", uuid);
        check_same_state(&key_only, &got);
        CHECK_EQ_U64(stats(s).unreadable, 3 + i);
    }
    /* Accepted on purpose: names this version does not know, an empty part, reordered fields. */
    CHECK_EQ_I64(hset_raw(&r, "fsagent:leg:v2:fs-b", "ok-1:j", "9:new_field,3:1,2,12:jitter_count,2:42,", 39), 1);
    CHECK_EQ_I64(load_one(st, 1, "ok-1", &got), FSA_STORE_LOAD_HIT);
    CHECK_EQ_U64(got.jitter_count, 42);
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.unreadable, 2 + nbad);
    CHECK_EQ_U64(x.OK_(LOAD), 5 + nbad);
    CHECK_EQ_U64(x.ERR_(LOAD), 0);
    CHECK_EQ_U64(x.load_hits, 2);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(nlines, 1);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- password and database --------------------------------------------------------------------------------- */

static void store_password_and_db(void)
{
    struct test_redis r;
    test_redis_start(&r, PASSWORD);
    nlines = 0;
    nanswers = 0;
    struct fsa_store_redis_params p = params(&r);
    p.db = 3;
    p.key_prefix = "t:";
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state a, got;
    state_full(&a);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a, FSA_STORE_PART_ALL), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(stats(s).OK_(SAVE), 1);
    CHECK_EQ_U64(stats(s).commands, 2 + 2); /* AUTH, SELECT, HSET, EXPIRE */
    CHECK_EQ_I64(test_redis_int(&r, 3, "EXISTS t:v2:fs-b"), 1);
    CHECK_EQ_I64(test_redis_int(&r, 3, "DBSIZE"), 1);
    CHECK_EQ_I64(test_redis_int(&r, 0, "DBSIZE"), 0);
    CHECK(hget_is(&r, 3, "t:v2:fs-b", "b0c6292b-0197-4183-9245-3f7f203ddc84:b", FULL_B, sizeof(FULL_B) - 1));
    CHECK_EQ_I64(load_one(st, 1, a.uuid, &got), FSA_STORE_LOAD_HIT);
    check_same_state(&a, &got);
    fsa_store_redis_destroy(s);

    /* A wrong password: down at the first call, with Redis's reason; neither password in the log. */
    nlines = 0;
    p.password = "Wr0ng-Pa55";
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a, FSA_STORE_PART_ALL), -ENOTCONN);
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    CHECK_EQ_U64(x.connect_failures, 1);
    CHECK_EQ_U64(x.connects, 0);
    CHECK_EQ_U64(x.ERR_(SAVE), 1);
    CHECK_EQ_U64(st.ops->epoch(st.ctx), 0);
    CHECK_EQ_U64(nlines, 1);
    CHECK(lines[0].fault && strstr(lines[0].msg, "unavailable") && strstr(lines[0].msg, "AUTH refused") &&
          strstr(lines[0].msg, "WRONGPASS"));
    check_no_secret("Wr0ng-Pa55");
    check_no_secret(PASSWORD);
    fsa_store_redis_destroy(s);

    /* No password at all: SELECT is refused (NOAUTH); the load gets no answer (refused at once). */
    nlines = 0;
    p.password = NULL;
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    CHECK_EQ_I64(st.ops->load(st.ctx, 1, a.uuid, strlen(a.uuid)), -ENOTCONN);
    CHECK_EQ_U64(stats(s).ERR_(LOAD), 1);
    poll_once(st);
    CHECK_EQ_U64(nanswers, 1); /* only the hit above */
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
    nanswers = 0;
    struct fsa_store_redis_params p = params(&r);
    p.username = "fsa-agent";
    p.password = "Us3r-Pa55";
    p.key_prefix = "t:";
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state a, got;
    state_full(&a);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a, FSA_STORE_PART_ALL), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(stats(s).OK_(SAVE), 1);
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS t:v2:fs-b"), 1);
    CHECK_EQ_I64(load_one(st, 1, a.uuid, &got), FSA_STORE_LOAD_HIT); /* HMGET t:v2:..., HGETALL t:fs-b:... */
    check_same_state(&a, &got);
    fsa_store_redis_destroy(s);

    nlines = 0;
    p.password = "Wr0ng-Pa55";
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    CHECK_EQ_I64(st.ops->save(st.ctx, &a, FSA_STORE_PART_ALL), -ENOTCONN);
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
    CHECK_EQ_I64(st.ops->save(st.ctx, &a, FSA_STORE_PART_ALL), 0);
    a.instance = 0;
    CHECK_EQ_I64(st.ops->save(st.ctx, &a, FSA_STORE_PART_ALL), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_U64(stats(s).ERR_(SAVE), 2);
    CHECK_EQ_U64(stats(s).OK_(SAVE), 0);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP); /* a refused command is not a connection fault */
    CHECK_EQ_U64(nlines, 2);                          /* connected, then one line for the refusals */
    CHECK(strstr(last_line(), "NOPERM") != NULL);
    CHECK_EQ_I64(test_redis_int(&r, 0, "EXISTS u:v2:fs-b"), 0);
    check_no_secret("Us3r-Pa55");
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- Redis killed and restarted: a worker-style loop ------------------------------------------------------- */

static uint64_t worst_stall_ns; /* longest single store call while Redis was dead or stopped */

enum call { SAVE, LOAD, DEL, ROUND_END, POLL };

/* One store call as the worker makes it, timed; its return value (0 for round_end and poll). */
static int timed(struct fsa_store st, enum call what, const struct fsa_leg_state *l)
{
    int rc = 0;
    uint64_t t0 = test_redis_now_ns();
    switch (what) {
    case SAVE: rc = st.ops->save(st.ctx, l, FSA_STORE_PART_ALL); break;
    case LOAD: rc = st.ops->load(st.ctx, l->instance, l->uuid, strlen(l->uuid)); break;
    case DEL: rc = st.ops->del(st.ctx, l->instance, l->uuid, strlen(l->uuid)); break;
    case ROUND_END: st.ops->round_end(st.ctx); break;
    case POLL: poll_once(st); break;
    }
    uint64_t d = test_redis_now_ns() - t0;
    worst_stall_ns = d > worst_stall_ns ? d : worst_stall_ns;
    return rc;
}

/* Timed polls until `want` answers in all (or max_ms). */
static bool timed_await(struct fsa_store st, unsigned want, unsigned max_ms)
{
    uint64_t end = test_redis_now_ns() + (uint64_t)max_ms * 1000000u;
    while (nanswers < want && test_redis_now_ns() < end) {
        timed(st, POLL, NULL);
        if (nanswers < want)
            test_redis_sleep_ms(1);
    }
    return nanswers >= want;
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
    nanswers = 0;
    worst_stall_ns = 0;
    struct fsa_store_redis_params p = params(&r);
    p.max_pending = 64;
    p.backoff_min_ms = 500;
    p.backoff_max_ms = 2000;
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct watcher w = {.s = s};
    pthread_t tid;
    CHECK(pthread_create(&tid, NULL, watch, &w) == 0);

    /* A: Redis up. 20 saves and 5 deletes in one round (one HSET, one HDEL, one EXPIRE), 4 loads. */
    poll_once(st);
    CHECK_EQ_U64(st.ops->epoch(st.ctx), 1);
    struct fsa_leg_state l;
    state_full(&l);
    l.instance = 0;
    for (unsigned i = 0; i < 20; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_ALL), 0);
    }
    for (unsigned i = 0; i < 5; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(st.ops->del(st.ctx, 0, l.uuid, strlen(l.uuid)), 0);
    }
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    static const char *const asked[] = {"leg-0007", "leg-0019", "leg-0000", "leg-0004"};
    for (unsigned i = 0; i < 4; i++)
        CHECK_EQ_I64(st.ops->load(st.ctx, 0, asked[i], 8), 0);
    CHECK(await_answers(st, 4, 3000));
    CHECK_EQ_U64(nanswers, 4);
    for (unsigned i = 0; i < 4 && i < nanswers; i++) {
        CHECK_STR(answers[i].st.uuid, asked[i]);
        CHECK_EQ_I64(answers[i].result, i < 2 ? FSA_STORE_LOAD_HIT : FSA_STORE_LOAD_MISS);
    }
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN fsagent:leg:v2:fs-a"), 1 + 15 * 3); /* 20 saved - 5 deleted */
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.OK_(SAVE), 20);
    CHECK_EQ_U64(x.OK_(DELETE), 5);
    CHECK_EQ_U64(x.OK_(LOAD), 4);
    CHECK_EQ_U64(x.load_hits, 2);
    CHECK_EQ_U64(x.commands, 2 + 3 + 4 * 2); /* AUTH, SELECT; HSET, HDEL, EXPIRE; 4 x (HMGET, HGETALL) */
    CHECK_EQ_U64(nlines, 1);                 /* connected */

    /*
     * B: Redis killed with a round staged and three loads queued. No call
     * blocks; the store goes down (one line); each load gets exactly one
     * answer, FAILED, in request order; the two saves count as errors.
     */
    test_redis_kill(&r);
    nanswers = 0;
    for (unsigned i = 20; i < 22; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(timed(st, SAVE, &l), 0);
    }
    for (unsigned i = 0; i < 3; i++) {
        leg_uuid(&l, 7 + i);
        CHECK_EQ_I64(timed(st, LOAD, &l), 0);
    }
    timed(st, ROUND_END, NULL);
    CHECK(timed_await(st, 3, 3000));
    CHECK_EQ_U64(nanswers, 3);
    for (unsigned i = 0; i < 3 && i < nanswers; i++) {
        leg_uuid(&l, 7 + i);
        CHECK_STR(answers[i].st.uuid, l.uuid);
        CHECK_EQ_I64(answers[i].result, FSA_STORE_LOAD_FAILED);
    }
    x = stats(s);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    CHECK_EQ_U64(x.ERR_(SAVE), 2);
    CHECK_EQ_U64(x.ERR_(LOAD), 3);
    CHECK_EQ_U64(x.pending, 0);
    CHECK(!st.ops->busy(st.ctx));
    CHECK_EQ_U64(nlines, 2);
    CHECK(nlines >= 2 && lines[1].fault && strstr(lines[1].msg, " down: "));
    uint64_t down_at = test_redis_now_ns();

    /* Backing off (500 ms): every call fails at once, counted; no answer is owed for a refused load. */
    uint64_t t0 = test_redis_now_ns();
    for (unsigned i = 0; i < 30; i++) {
        leg_uuid(&l, 100 + i);
        CHECK_EQ_I64(timed(st, SAVE, &l), -ENOTCONN);
        CHECK_EQ_I64(timed(st, LOAD, &l), -ENOTCONN);
        CHECK_EQ_I64(timed(st, DEL, &l), -ENOTCONN);
        timed(st, ROUND_END, NULL);
        timed(st, POLL, NULL);
    }
    uint64_t loop_ns = test_redis_now_ns() - t0;
    CHECK(loop_ns < 400000000ull); /* 150 calls without a syscall (microseconds): inside one backoff step */
    x = stats(s);
    CHECK_EQ_U64(x.ERR_(SAVE), 32);
    CHECK_EQ_U64(x.ERR_(LOAD), 33);
    CHECK_EQ_U64(x.ERR_(DELETE), 30);
    CHECK_EQ_U64(x.connect_failures, 0); /* no attempt inside the step */
    CHECK_EQ_U64(x.connects, 1);
    CHECK_EQ_U64(nanswers, 3);
    CHECK(!st.ops->busy(st.ctx));

    /* C: after the step, exactly one attempt (refused at once); then none for the next, doubled, step. */
    uint64_t since = (test_redis_now_ns() - down_at) / 1000000;
    test_redis_sleep_ms(since < 550 ? (unsigned)(550 - since) : 0);
    timed(st, POLL, NULL);
    CHECK_EQ_U64(stats(s).connect_failures, 1);
    uint64_t failed_at = test_redis_now_ns();
    for (unsigned i = 0; i < 20; i++) {
        leg_uuid(&l, 200 + i);
        CHECK_EQ_I64(timed(st, SAVE, &l), -ENOTCONN);
        timed(st, POLL, NULL);
    }
    CHECK_EQ_U64(stats(s).connect_failures, 1);
    CHECK_EQ_U64(stats(s).ERR_(SAVE), 52);
    CHECK_EQ_U64(st.ops->epoch(st.ctx), 1);
    CHECK_EQ_U64(nlines, 2); /* still down: nothing new logged */

    /* D: Redis back on the same port; after the 1000 ms step the store reconnects (one line), epoch 2. */
    CHECK(test_redis_spawn(&r));
    since = (test_redis_now_ns() - failed_at) / 1000000;
    test_redis_sleep_ms(since < 1050 ? (unsigned)(1050 - since) : 0);
    timed(st, POLL, NULL);
    x = stats(s);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(x.connects, 2);
    CHECK_EQ_U64(x.reconnects, 1);
    CHECK_EQ_U64(x.connect_failures, 1);
    CHECK_EQ_U64(st.ops->epoch(st.ctx), 2);
    CHECK_EQ_U64(nlines, 3);
    CHECK(nlines >= 3 && !lines[2].fault && strstr(lines[2].msg, "up again after 1 failed attempt(s)"));
    for (unsigned i = 0; i < 10; i++) {
        leg_uuid(&l, 300 + i);
        CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_ALL), 0);
    }
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    x = stats(s);
    CHECK_EQ_U64(x.OK_(SAVE), 30);
    CHECK_EQ_U64(x.ERR_(SAVE), 52);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN fsagent:leg:v2:fs-a"), 1 + 10 * 3); /* the new Redis kept nothing */
    CHECK_EQ_I64(load_one(st, 0, "leg-0309", NULL), FSA_STORE_LOAD_HIT);

    /* Every call while Redis was dead returned within timeout_ms (refused connects are immediate). */
    printf("perf: worst single call with Redis killed: %.3f ms (timeout_ms %u)\n", worst_stall_ns / 1e6, p.timeout_ms);
    CHECK(worst_stall_ns < (uint64_t)p.timeout_ms * 1000000u);
    check_no_secret(PASSWORD);
    CHECK_EQ_U64(bad_args, 0);
    w.stop = true;
    pthread_join(tid, NULL);
    CHECK(w.reads > 0);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- Redis stopped (SIGSTOP): a server that never answers -------------------------------------------------- */

#define MARGIN_NS 190000000ull  /* a loaded CI machine (or a sanitizer build) on top of timeout_ms */
#define NONBLOCK_NS 50000000ull /* a call that must not wait at all: microseconds, with room for scheduling */

static void store_redis_stopped(void)
{
    struct test_redis r;
    test_redis_start(&r, NULL);
    nlines = 0;
    nanswers = 0;
    struct fsa_store_redis_params p = params(&r);
    p.timeout_ms = 200;
    p.backoff_min_ms = 300;
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state l;
    state_full(&l);
    l.instance = 0;
    poll_once(st); /* idle worker: connects */
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);

    /*
     * A round and four loads while Redis is stopped: none of these calls
     * waits (the connection is up, nothing to connect); the store notices
     * the silence timeout_ms after the first send, at a poll, and every
     * load gets its one FAILED answer.
     */
    test_redis_signal(&r, SIGSTOP);
    worst_stall_ns = 0;
    uint64_t t0 = test_redis_now_ns();
    for (unsigned i = 0; i < 3; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(timed(st, SAVE, &l), 0);
    }
    timed(st, ROUND_END, NULL);
    for (unsigned i = 0; i < 4; i++) {
        leg_uuid(&l, 10 + i);
        CHECK_EQ_I64(timed(st, LOAD, &l), 0);
    }
    CHECK(timed_await(st, 4, 3000));
    uint64_t took = test_redis_now_ns() - t0;
    printf("perf: loads with Redis stopped answered (FAILED) after %.3f ms (timeout_ms 200), worst call %.3f ms\n",
           took / 1e6, worst_stall_ns / 1e6);
    CHECK(took >= 200000000ull && took < 200000000ull + MARGIN_NS);
    CHECK(worst_stall_ns < NONBLOCK_NS); /* no call waited: the silence was noticed by a poll */
    CHECK_EQ_U64(nanswers, 4);
    for (unsigned i = 0; i < 4 && i < nanswers; i++) {
        leg_uuid(&l, 10 + i);
        CHECK_STR(answers[i].st.uuid, l.uuid);
        CHECK_EQ_I64(answers[i].result, FSA_STORE_LOAD_FAILED);
    }
    struct fsa_store_redis_stats x = stats(s);
    CHECK_EQ_U64(x.ERR_(LOAD), 4);
    CHECK_EQ_U64(x.ERR_(SAVE), 3);
    CHECK_EQ_U64(x.OK_(SAVE) + x.OK_(LOAD), 0);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    CHECK_EQ_U64(x.pending, 0);
    CHECK(strstr(last_line(), "down: no reply within 200 ms") != NULL);

    /* The next attempt connects (the kernel completes TCP) but SELECT gets no answer: bounded by timeout_ms. */
    test_redis_sleep_ms(320);
    t0 = test_redis_now_ns();
    timed(st, POLL, NULL);
    took = test_redis_now_ns() - t0;
    printf("perf: connect attempt to a stopped Redis returned after %.3f ms\n", took / 1e6);
    CHECK(took >= 200000000ull && took < 200000000ull + MARGIN_NS);
    CHECK_EQ_U64(stats(s).connect_failures, 1);
    t0 = test_redis_now_ns();
    CHECK_EQ_I64(timed(st, SAVE, &l), -ENOTCONN); /* inside the next (600 ms) step: at once */
    CHECK(test_redis_now_ns() - t0 < NONBLOCK_NS);
    CHECK_EQ_U64(stats(s).ERR_(SAVE), 4);
    CHECK_EQ_U64(nlines, 2); /* connected, down */
    printf("perf: worst single call with Redis stopped: %.3f ms (timeout_ms 200)\n", worst_stall_ns / 1e6);
    CHECK(worst_stall_ns < 200000000ull + MARGIN_NS);

    /* Resumed: back after the (600 ms) step, a new epoch, saves work again. */
    test_redis_signal(&r, SIGCONT);
    test_redis_sleep_ms(650);
    poll_once(st);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    CHECK_EQ_U64(stats(s).reconnects, 1);
    CHECK_EQ_U64(st.ops->epoch(st.ctx), 2);
    leg_uuid(&l, 500);
    CHECK_EQ_I64(st.ops->save(st.ctx, &l, FSA_STORE_PART_ALL), 0);
    st.ops->round_end(st.ctx);
    CHECK(settle(st, 3000));
    CHECK_EQ_U64(stats(s).OK_(SAVE), 1);
    CHECK_HGET(&r, "fsagent:leg:v2:fs-a", "leg-0500:j", FULL_J);
    fsa_store_redis_destroy(s);

    /*
     * The bounds, with Redis stopped again (no-reply limit 1 s here):
     * max_pending 8 commands. Rounds of 50 saves as calc makes them (stop
     * at the first -EAGAIN, keep the rest for later): the queue never holds
     * more than 8 commands; saves are refused (-EAGAIN, not counted: calc
     * keeps the legs) once the queue and the one command being gathered are
     * full. Then more loads than the store keeps (1024): the excess is
     * refused at once (-EAGAIN, no answer; not counted: calc asks again
     * when there is room). When the silence takes
     * the store down, every accepted save is counted once as an error and
     * every accepted load gets exactly one FAILED answer.
     */
    p.timeout_ms = 1000;
    p.max_pending = 8;
    s = fsa_store_redis_create(&p);
    st = fsa_store_redis_store(s);
    poll_once(st);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);
    test_redis_signal(&r, SIGSTOP);
    nanswers = 0;
    worst_stall_ns = 0;
    t0 = test_redis_now_ns();
    unsigned accepted = 0, deferred = 0;
    for (unsigned round = 0; round < 10; round++) {
        for (unsigned i = 0; i < 50; i++) {
            leg_uuid(&l, round * 50 + i);
            int rc = timed(st, SAVE, &l);
            CHECK(rc == 0 || rc == -EAGAIN);
            if (rc) {
                deferred++;
                break;
            }
            accepted++;
        }
        timed(st, ROUND_END, NULL);
        CHECK(stats(s).pending <= 8);
    }
    printf("bounds: %u saves accepted, %u rounds refused at a save (-EAGAIN)\n", accepted, deferred);
    /*
     * Rounds 0-3 each left an HSET (50 legs) and an EXPIRE: 8 commands, the
     * bound. Round 4's HSET found no room and stayed gathered; round 5 added
     * to it until it was full; rounds 5-9 were each refused at a save.
     */
    unsigned per_hset_full =
        (unsigned)legs_per_hset(resp_bytes(8, sizeof(FULL_L) - 1, sizeof(FULL_B) - 1, sizeof(FULL_J) - 1));
    CHECK_EQ_U64(accepted, 4 * 50 + per_hset_full);
    CHECK_EQ_U64(deferred, 5);
    unsigned nloads = 0, refused = 0;
    for (unsigned i = 0; i < 1030; i++) {
        leg_uuid(&l, 5000 + i);
        int rc = timed(st, LOAD, &l);
        if (rc == 0)
            nloads++;
        else if (rc == -EAGAIN)
            refused++;
    }
    CHECK_EQ_U64(nloads, 1024);
    CHECK_EQ_U64(refused, 6);
    x = stats(s);
    CHECK_EQ_U64(x.DROP_(LOAD), 0); /* -EAGAIN: not counted, calc asks again */
    CHECK_EQ_U64(x.OK_(SAVE) + x.ERR_(SAVE) + x.ERR_(LOAD), 0);
    CHECK(x.pending <= 8);
    CHECK(st.ops->busy(st.ctx));
    CHECK(timed_await(st, 1024, 5000));
    took = test_redis_now_ns() - t0;
    CHECK_EQ_U64(nanswers, 1024);
    unsigned in_order = 0;
    for (unsigned i = 0; i < 1024 && i < nanswers; i++) {
        leg_uuid(&l, 5000 + i);
        in_order += strcmp(answers[i].st.uuid, l.uuid) == 0 && answers[i].result == FSA_STORE_LOAD_FAILED;
    }
    CHECK_EQ_U64(in_order, 1024);
    x = stats(s);
    CHECK_EQ_U64(x.ERR_(SAVE), accepted); /* each accepted save answered once: here, as an error */
    CHECK_EQ_U64(x.OK_(SAVE), 0);
    CHECK_EQ_U64(x.ERR_(LOAD), 1024);
    CHECK_EQ_U64(x.DROP_(LOAD), 0); /* -EAGAIN: not counted, calc asks again */
    CHECK_EQ_U64(x.pending, 0);
    CHECK_EQ_U64(x.state, FSA_STORE_REDIS_DOWN);
    CHECK(!st.ops->busy(st.ctx));
    printf("bounds: down %.3f ms after the first send (timeout_ms 1000), worst call %.3f ms\n", took / 1e6,
           worst_stall_ns / 1e6);
    CHECK(took < 1000000000ull + MARGIN_NS);
    CHECK(worst_stall_ns < NONBLOCK_NS);
    poll_once(st);
    CHECK_EQ_U64(nanswers, 1024); /* nothing answered twice */
    test_redis_signal(&r, SIGCONT);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

/* ---- throughput of the write-behind path ------------------------------------------------------------------- */

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
    nanswers = 0;
    const char *env = getenv("FSA_REDIS_BENCH_ROUNDS");
    unsigned rounds = env ? (unsigned)strtoul(env, NULL, 10) : 20, nlegs = 2000;
    if (rounds == 0)
        rounds = 1;
    struct fsa_store_redis_params p = params(&r);
    p.timeout_ms = 1000;
    struct fsa_store_redis *s = fsa_store_redis_create(&p);
    struct fsa_store st = fsa_store_redis_store(s);
    struct fsa_leg_state l;
    state_full(&l);
    poll_once(st);
    CHECK_EQ_U64(stats(s).state, FSA_STORE_REDIS_UP);

    /*
     * As a worker does it: each round, every leg of two instances (sorted
     * by instance) with all its parts; a refused save (-EAGAIN: no room)
     * waits for a poll and is tried again; a poll after each round_end.
     */
    uint64_t cmds0 = stats(s).commands;
    unsigned waits = 0;
    long long hset0 = cmd_calls(&r, "hset"), expire0 = cmd_calls(&r, "expire");
    double cpu0 = cpu_seconds();
    uint64_t t0 = test_redis_now_ns();
    unsigned failed = 0;
    for (unsigned round = 0; round < rounds; round++) {
        l.jitter_count = round;
        for (unsigned inst = 0; inst < 2; inst++) {
            l.instance = (uint16_t)inst;
            failed += save_legs(st, &l, inst * nlegs / 2, nlegs / 2, FSA_STORE_PART_ALL, &waits);
        }
        st.ops->round_end(st.ctx);
        poll_once(st);
    }
    CHECK_EQ_U64(failed, 0);
    st.ops->drain(st.ctx, test_redis_now_ns() + 5000000000ull, on_loaded, &answer_tag);
    double secs = (test_redis_now_ns() - t0) / 1e9, cpu = cpu_seconds() - cpu0;
    struct fsa_store_redis_stats x = stats(s);
    uint64_t legs = (uint64_t)rounds * nlegs, cmds = x.commands - cmds0;
    printf("perf: %" PRIu64 " leg saves (all parts) in %.3f s: %.0f legs/s, %" PRIu64 " Redis commands "
           "(%.4f per leg; %lld HSET, %lld EXPIRE), %u waits for room, %.2f us worker CPU per leg\n",
           legs, secs, legs / secs, cmds, (double)cmds / (double)legs, cmd_calls(&r, "hset") - hset0,
           cmd_calls(&r, "expire") - expire0, waits, cpu * 1e6 / (double)legs);
    CHECK_EQ_U64(x.OK_(SAVE), legs);
    CHECK_EQ_U64(x.ERR_(SAVE) + x.DROP_(SAVE), 0);
    CHECK(!st.ops->busy(st.ctx));
    CHECK(cmds * 20 < legs);     /* loose: far below one command per leg (about 1/80 here) */
    CHECK(legs / secs > 2000.0); /* loose sanity: sanitizer builds and loaded machines included */
    /* One EXPIRE per instance per round; a poll while a round waited for room may send one early (then one more). */
    long long expires = cmd_calls(&r, "expire") - expire0;
    CHECK(waits ? expires >= 2 * (long long)rounds : expires == 2 * (long long)rounds);
    CHECK_EQ_I64(cmd_calls(&r, "hset") - hset0 + cmd_calls(&r, "expire") - expire0, (long long)cmds);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN fsagent:leg:v2:fs-a"), 1 + nlegs / 2 * 3);
    CHECK_EQ_I64(test_redis_int(&r, 0, "HLEN fsagent:leg:v2:fs-b"), 1 + nlegs / 2 * 3);
    /* The last round's jitter_count landed for the last leg. */
    struct nsbuf want = {.n = 0};
    char num[16];
    snprintf(num, sizeof(num), "%u", rounds - 1);
    ns_str(&want, "jitter_count", num);
    ns_str(&want, "jitter_sum_ms", "12.125");
    ns_str(&want, "jitter_min_ms", "0.1");
    ns_str(&want, "jitter_max_ms", "4.625");
    ns_str(&want, "last_rtt_ms", "40.00899887084961");
    char field[32];
    snprintf(field, sizeof(field), "leg-%04u:j", nlegs - 1);
    CHECK(hget_is(&r, 0, "fsagent:leg:v2:fs-b", field, want.b, want.n));

    /* Loads: 1000 asked at once, answered through polls. */
    nanswers = 0;
    t0 = test_redis_now_ns();
    for (unsigned i = 0; i < 1000; i++) {
        leg_uuid(&l, i);
        CHECK_EQ_I64(st.ops->load(st.ctx, 0, l.uuid, strlen(l.uuid)), 0);
    }
    CHECK(await_answers(st, 1000, 5000));
    secs = (test_redis_now_ns() - t0) / 1e9;
    unsigned hits = 0;
    for (unsigned i = 0; i < nanswers && i < 1000; i++)
        hits += answers[i].result == FSA_STORE_LOAD_HIT && answers[i].st.jitter_count == rounds - 1;
    printf("perf: 1000 loads answered in %.3f s: %.0f loads/s\n", secs, 1000 / secs);
    CHECK_EQ_U64(hits, 1000);
    fsa_store_redis_destroy(s);
    test_redis_kill(&r);
}

int main(void)
{
    test_redis_require(); /* SIGPIPE stays fatal: the store must never raise it (MSG_NOSIGNAL) */
    store_round_trip();
    store_coalescing();
    store_delete();
    store_sweep();
    store_old_format();
    store_unreadable();
    store_password_and_db();
    store_acl_user();
    store_redis_killed();
    store_redis_stopped();
    store_save_throughput();
    return fsa_test_finish();
}
