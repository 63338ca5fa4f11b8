/*
 * store_redis: what a worker's legs need for a resume, mirrored to Redis
 * behind the worker (store.h, store_redis.h).
 *
 * Key layout (format version 2). One hash per FreeSWITCH instance:
 *     <key_prefix>v2:<instance name>              e.g. fsagent:leg:v2:fs1
 * with field _v = "2" (written with every HSET: the format version) and
 * three fields per leg, each written only when that part changed:
 *   <Unique-ID>:l   labels: call_id, direction, domain, domain_source, codec,
 *                   codec_rate, local_ip, remote_ip, a_leg_hash, created_us, learnt
 *   <Unique-ID>:b   RTCP delta bases: rtcp_in_valid, rtcp_in_ssrc, rtcp_in_lost,
 *                   rtcp_out_valid, rtcp_out_ssrc, rtcp_out_lost, last_fraction
 *   <Unique-ID>:j   jitter: jitter_count, jitter_sum_ms, jitter_min_ms,
 *                   jitter_max_ms, last_rtt_ms
 * A value is name/value netstrings ("7:call_id,12:abc@example,"): any byte
 * of a Call-ID survives, and names a load does not know are skipped, so a
 * later version may add fields. Values are text, units as in struct
 * fsa_leg_state:
 *   direction       unknown | inbound | outbound
 *   domain_source   none | variable_domain_name | sip_from_host | sip_to_host
 *   local_ip, ...   IPv4 or IPv6 text, "" = not known
 *   a_leg_hash      16 hex digits; *_ssrc 8 hex digits; *_lost as int32
 *   doubles         decimal text that reads back to the same double
 *   flags           1 or 0
 * An enum value without a name is written in decimal; a load reads both.
 * One hash per instance, not per leg, is what lets a round of writes be one
 * HSET (per 64 KiB of values) and one EXPIRE per instance: Redis sees a few
 * commands per second per worker instead of two per event. The TTL (ttl_s)
 * is the hash's, refreshed at every round that wrote to it; a hangup
 * deletes the leg's three fields (HDEL, gathered per instance and round).
 *
 * The previous format (version 1: one hash per leg at <key_prefix><instance
 * name>:<Unique-ID>, every field a hash field, no version) is still read: a
 * load sends HMGET of the leg's three fields and _v, then HGETALL of the old
 * key; the current format wins, an old hit is handed out as
 * FSA_STORE_LOAD_HIT_OLD and its key deleted (the worker writes it anew). A
 * leg found but unreadable (a value that does not parse, a _v this version
 * does not know) is counted (unreadable) and answered as a miss.
 *
 * Pipeline. Saves and deletes of a round are gathered into a stage (one
 * instance's HSET or HDEL arguments, at most STAGE_CAP bytes) that becomes
 * one command when the instance or the kind changes, the stage is full, or
 * the round ends; commands are formatted (RESP, by hand) into one send
 * buffer and their kinds into a ring of max_pending entries, and written
 * without waiting (MSG_DONTWAIT). No room: the save or delete is refused
 * with -EAGAIN and the worker keeps it for its next round. Loads wait in a
 * ring of LOADS_MAX until there is room to ask; their answers are parsed by
 * hiredis's redisReader with our own object functions (counted and filled
 * in place, no reply trees) and handed out by poll() in request order.
 * Nothing waits but a connect (with its handshake: AUTH if a password is
 * set, then SELECT db, which also proves Redis answers, within timeout_ms)
 * and drain() at stop.
 *
 * Failure. A socket error, a close, a protocol error, or commands without
 * any reply for timeout_ms while the worker was looking take the store
 * down: the connection is closed, every unanswered write counts as an error
 * (Redis may have applied some of them), every waiting load is answered
 * FSA_STORE_LOAD_FAILED, and the epoch moves at the next connection so the
 * worker writes everything again. While down, every call fails at once (no
 * syscall), and the first call (or poll) after the backoff makes exactly one
 * connect attempt; the backoff starts at backoff_min_ms and doubles per
 * failed attempt up to backoff_max_ms. The worker keeps all leg state in
 * memory regardless (calc.c). One log line per state change: unavailable/
 * down with the cause, up again with the failed attempts and the time down.
 * A command Redis refuses (e.g. OOM) is counted; the first one per
 * connection is also logged. The password is never formatted into a log
 * line (Redis's AUTH error does not echo it), and the buffer that carried
 * AUTH is wiped.
 *
 * Host names (the master's, the Sentinels') are resolved at every connect
 * attempt off the worker thread (ring/fsa_lookup.h) within the attempt's
 * deadline; hiredis only ever sees a numeric address.
 *
 * Thread contract: see store_redis.h.
 */
#include "store_redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <netdb.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ring/fsa_lookup.h"
#include "ring/fsa_ring.h"
#include "ring/fsa_str.h"
#include "ring/fsa_time.h"

#define OUT_CAP (256u * 1024u) /* unsent command bytes at most */
#define KEY_MAX (2 * FSA_STORE_REDIS_NAME_MAX + FSA_UUID_MAX + 8)
#define READ_CHUNK 16384u /* bytes per recv: the reader keeps its own buffer below 2x this */
#define ERR_TEXT 128

/*
 * What a queued command is, in send order. A ring entry is the kind in its
 * low 8 bits and, for HSET and HDEL, the legs it carries above them.
 */
enum cmd { CMD_AUTH, CMD_SELECT, CMD_LOAD, CMD_LOAD_OLD, CMD_HSET, CMD_HDEL, CMD_EXPIRE, CMD_DEL_OLD, CMD_SCAN, CMD_SWEEP_DEL };
#define ENTRY(c, legs) ((uint32_t)(c) | (uint32_t)(legs) << 8)
#define ENTRY_CMD(e) ((enum cmd)((e)&0xffu))
#define ENTRY_LEGS(e) ((e) >> 8)

enum counter {
    C_OPS, /* [op][result] */
    C_LOAD_HITS = C_OPS + FSA_STORE_OP_COUNT * FSA_STORE_RESULT_COUNT,
    C_CONNECTS,
    C_CONNECT_FAILURES,
    C_RECONNECTS,
    C_PENDING,
    C_STATE,
    C_FAILOVERS,
    C_SENTINEL_FAILURES,
    C_UNREADABLE,
    C_LOAD_HITS_OLD,
    C_COMMANDS,
    C_SWEPT,
    C_COUNT
};

/* ---- hash fields ------------------------------------------------------------------------------------------- */

enum field {
    F_INSTANCE,
    F_UUID,
    F_CALL_ID,
    F_DIRECTION,
    F_DOMAIN,
    F_DOMAIN_SOURCE,
    F_CODEC,
    F_CODEC_RATE,
    F_LOCAL_IP,
    F_REMOTE_IP,
    F_A_LEG_HASH,
    F_CREATED_US,
    F_JITTER_COUNT,
    F_JITTER_SUM_MS,
    F_JITTER_MIN_MS,
    F_JITTER_MAX_MS,
    F_LAST_RTT_MS,
    F_LAST_FRACTION,
    F_RTCP_IN_VALID,
    F_RTCP_IN_SSRC,
    F_RTCP_IN_LOST,
    F_RTCP_OUT_VALID,
    F_RTCP_OUT_SSRC,
    F_RTCP_OUT_LOST,
    F_LEARNT,
    F_COUNT
};

// clang-format off
#define LIT(s) {(s), sizeof(s) - 1} /* FSA_STR_LIT is a compound literal: not for static tables */
// clang-format on
static const struct fsa_str field_names[F_COUNT] = {
    LIT("instance"),      LIT("uuid"),           LIT("call_id"),       LIT("direction"),     LIT("domain"),
    LIT("domain_source"), LIT("codec"),          LIT("codec_rate"),    LIT("local_ip"),      LIT("remote_ip"),
    LIT("a_leg_hash"),    LIT("created_us"),     LIT("jitter_count"),  LIT("jitter_sum_ms"), LIT("jitter_min_ms"),
    LIT("jitter_max_ms"), LIT("last_rtt_ms"),    LIT("last_fraction"), LIT("rtcp_in_valid"), LIT("rtcp_in_ssrc"),
    LIT("rtcp_in_lost"),  LIT("rtcp_out_valid"), LIT("rtcp_out_ssrc"), LIT("rtcp_out_lost"), LIT("learnt"),
};
static const struct fsa_str direction_names[] = {LIT("unknown"), LIT("inbound"), LIT("outbound")};
static const struct fsa_str domain_source_names[] = {LIT("none"), LIT("variable_domain_name"), LIT("sip_from_host"),
                                                     LIT("sip_to_host")};
#undef LIT
#define NAMES(a) (a), (sizeof(a) / sizeof((a)[0]))

/* ---- the store --------------------------------------------------------------------------------------------- */

#define SENTINELS_MAX 8
#define LOADS_MAX 1024u         /* loads asked and unanswered or not yet asked, per worker */
#define STAGE_CAP (64u * 1024u) /* one HSET/HDEL's arguments at most */
#define PART_MAX 1024u          /* one part's value: strings are bounded by struct fsa_leg_state */
#define SWEEP_PAGE "200"        /* HSCAN COUNT: fields per page of a sweep (a hint to Redis) */
#define GONE_MAX 256u           /* legs one sweep page may delete; more: the walk runs again */

#define TOUCHED_WORDS (65536u / 64u)
#define FORMAT_VERSION "2" /* field _v of every instance hash; the previous format (a hash per leg) had none */

struct load {
    struct fsa_leg_state st; /* instance and uuid: the key; the rest filled by the answer */
    int result;              /* FSA_STORE_LOAD_* once answered */
    uint8_t version;         /* _v read back: 0 none, 1 ours, 2 another */
    bool found, bad, failed; /* a part of ours was there / a value could not be read / the HMGET failed */
};

struct fsa_store_redis {
    /* Configuration (read-only after create). */
    char host[256]; /* with a Sentinel: the master it named last */
    char username[128];
    char password[256];
    char sentinel_master[128];
    char sentinels[SENTINELS_MAX][256];
    unsigned nsentinels, sentinel_next; /* the one to ask first: the last that answered */
    char sentinel_password[256];
    uint16_t port;
    int db;
    unsigned ttl_s, timeout_ms;
    uint64_t timeout_ns, backoff_min_ns, backoff_max_ns;
    unsigned max_pending;
    char prefix[FSA_STORE_REDIS_NAME_MAX];
    size_t prefix_len;
    char (*names)[FSA_STORE_REDIS_NAME_MAX];
    unsigned nnames;
    char label[FSA_STORE_REDIS_NAME_MAX];
    char field_resp[F_COUNT][48]; /* "$<len>\r\n<name>\r\n" of each field name (w_bulk wants len + 24) */
    uint8_t field_resp_len[F_COUNT];
    fsa_store_redis_log_fn log;
    void *log_ctx;

    SSL_CTX *tls_ctx; /* NULL: plain TCP */
    char tls_server_name[256];

    /* Connection and queue: the worker thread only. */
    redisContext *rc; /* NULL when not connected */
    SSL *ssl;         /* over fd, with TLS */
    int fd;
    redisReader *reader;
    char *out; /* [OUT_CAP]: unsent bytes are out[out_off, out_len) */
    size_t out_off, out_len;
    uint32_t *ring; /* [ring_cap] ENTRY()s of queued/unanswered commands, oldest at ring_head */
    unsigned ring_cap, ring_head, nq;
    uint64_t answered;    /* replies consumed, ever */
    uint64_t progress_ns; /* last reply (or first send) while nq > 0; 0 = clock not started */
    uint64_t looked_ns;   /* the last io_step: replies are only seen when the worker looks */
    enum fsa_store_redis_state state;
    uint64_t next_attempt_ns, backoff_ns, down_since_ns;
    unsigned failed_attempts; /* connect attempts that failed since the store went down */
    bool connecting, hs_failed, cmd_err_logged, readonly;
    char hs_err[ERR_TEXT + 32];

    uint64_t epoch; /* connections made */

    /*
     * Loads, one ring of LOADS_MAX in request order: [load_head, load_done)
     * answered and not yet handed out, [load_done, load_sent) asked (their
     * two commands queued), [load_sent, load_tail) waiting for room to ask.
     */
    struct load *loads;
    uint32_t load_head, load_done, load_sent, load_tail;

    /*
     * The command being gathered: the field-value pairs (HSET) or fields
     * (HDEL) of one instance's hash, sent as one command when the instance
     * or the kind changes, the stage is full, or the round ends.
     */
    char *stage;
    size_t stage_len;
    unsigned stage_args, stage_legs;
    uint16_t stage_instance;
    enum cmd stage_cmd;
    uint64_t *touched; /* [65536 / 64] instances written this round: their EXPIRE is owed */

    /*
     * Sweep: instances waiting for one (bitmap), the one being walked with
     * HSCAN (its cursor, a page in flight) and the legs of the last page
     * that keep() said are gone, deleted by the next poll.
     */
    uint64_t *sweep_pending;
    bool sweeping, scan_in_flight, sweep_overflow;
    uint16_t sweep_instance;
    char cursor[24];
    size_t cursor_len;
    fsa_store_keep_fn keep;
    void *keep_arg;
    char (*gone)[FSA_UUID_MAX];
    unsigned ngone, nsweep_pending;
    bool expire_owed;
    bool round_open; /* saves or deletes since the last round_end: its EXPIREs wait for it */

    /* The reply being parsed (object functions below). */
    int reply_type;
    long long reply_elements;
    char reply_err[ERR_TEXT];
    int load_field; /* field of the value to come, -1 = unknown / ignored */

    /* Written by the worker thread only (load + store, no RMW), read by anyone. */
    _Alignas(FSA_CACHELINE) atomic_uint_fast64_t ctr[C_COUNT];
};

static inline void ctr_add(struct fsa_store_redis *s, int i, uint64_t n)
{
    atomic_store_explicit(&s->ctr[i], atomic_load_explicit(&s->ctr[i], memory_order_relaxed) + n, memory_order_relaxed);
}

static inline void ctr_set(struct fsa_store_redis *s, int i, uint64_t v)
{
    atomic_store_explicit(&s->ctr[i], v, memory_order_relaxed);
}

static inline void count_op(struct fsa_store_redis *s, enum fsa_store_op op, enum fsa_store_result r)
{
    ctr_add(s, C_OPS + op * FSA_STORE_RESULT_COUNT + r, 1);
}

static void say(struct fsa_store_redis *s, bool fault, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct fsa_store_redis *s, bool fault, const char *fmt, ...)
{
    if (!s->log)
        return;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->log(s->log_ctx, fault, s->label, msg);
}

static const char *errno_text(int err, char *buf, size_t cap)
{
    return strerror_r(err, buf, cap); /* GNU: returns the message (static or buf) */
}

/* ---- formatting: RESP into a bounded buffer ---------------------------------------------------------------- */

struct wbuf {
    char *p, *end;
    bool ok;  /* false once something did not fit: the command is abandoned */
    bool net; /* a part's value: netstrings ("<len>:<bytes>,") instead of RESP bulk strings */
};

static void w_raw(struct wbuf *w, const char *src, size_t n)
{
    if (!w->ok || (size_t)(w->end - w->p) < n) {
        w->ok = false;
        return;
    }
    memcpy(w->p, src, n);
    w->p += n;
}

/* Decimal digits of v into dst[20+]; returns the length. */
static size_t fmt_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

static size_t fmt_i64(char *dst, int64_t v)
{
    if (v >= 0)
        return fmt_u64(dst, (uint64_t)v);
    dst[0] = '-';
    return 1 + fmt_u64(dst + 1, 0 - (uint64_t)v);
}

static size_t fmt_hex(char *dst, uint64_t v, unsigned digits)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < digits; i++)
        dst[i] = hex[(v >> (4 * (digits - 1 - i))) & 0xf];
    return digits;
}

/* The shorter %g text (16 or 17 significant digits) that strtod reads back to v exactly. */
static size_t fmt_double(char *dst, size_t cap, double v)
{
    if (isnan(v))
        return (size_t)snprintf(dst, cap, "nan");
    if (isinf(v))
        return (size_t)snprintf(dst, cap, v > 0 ? "inf" : "-inf");
    if (v == 0.0 && !signbit(v)) {
        dst[0] = '0';
        return 1;
    }
    /*
     * Fast path, no printf: v is k / 10^6 for an integer k (jitter at 8 kHz is
     * a multiple of 0.125 ms). m / 1e6 is the correctly rounded quotient, the
     * same double strtod gives for the decimal text of k x 10^-6, so the
     * check proves the text reads back to v.
     */
    double m = v * 1e6;
    if (v != 0.0 && fabs(v) < 1e9 && m == nearbyint(m) && m / 1e6 == v) {
        int64_t k = (int64_t)m;
        uint64_t u = k < 0 ? 0 - (uint64_t)k : (uint64_t)k;
        size_t n = 0;
        if (k < 0)
            dst[n++] = '-';
        n += fmt_u64(dst + n, u / 1000000);
        unsigned frac = (unsigned)(u % 1000000);
        if (frac) {
            dst[n++] = '.';
            for (unsigned div = 100000; frac; div /= 10) {
                dst[n++] = (char)('0' + frac / div);
                frac %= div;
            }
        }
        return n;
    }
    int n = 0;
    for (int prec = 16; prec <= 17; prec++) { /* %g drops trailing zeros: 16 digits print 0.1 as "0.1" */
        n = snprintf(dst, cap, "%.*g", prec, v);
        if (prec == 17 || strtod(dst, NULL) == v)
            break;
    }
    return (size_t)n;
}

/* "<type><n>\r\n" at o; returns the end. */
static char *put_header(char *o, char type, uint64_t n)
{
    *o++ = type;
    if (n < 10) {
        *o++ = (char)('0' + n);
    } else if (n < 100) { /* nearly every length in a save */
        *o++ = (char)('0' + n / 10);
        *o++ = (char)('0' + n % 10);
    } else {
        o += fmt_u64(o, n);
    }
    *o++ = '\r';
    *o++ = '\n';
    return o;
}

static void w_header(struct wbuf *w, char type, uint64_t n)
{
    if (!w->ok || w->end - w->p < 24) {
        w->ok = false;
        return;
    }
    w->p = put_header(w->p, type, n);
}

/* One bulk string (or netstring), with a single room check (24 covers "$<len>\r\n" and the final "\r\n"). */
static void w_bulk(struct wbuf *w, const char *p, size_t n)
{
    if (!w->ok || (size_t)(w->end - w->p) < n + 24) {
        w->ok = false;
        return;
    }
    if (w->net) {
        char *o = w->p + fmt_u64(w->p, n);
        *o++ = ':';
        memcpy(o, p, n);
        o[n] = ',';
        w->p = o + n + 1;
        return;
    }
    char *o = put_header(w->p, '$', n);
    memcpy(o, p, n);
    o[n] = '\r';
    o[n + 1] = '\n';
    w->p = o + n + 2;
}

static void w_lit(struct wbuf *w, struct fsa_str s)
{
    w_bulk(w, s.p, s.n);
}

static void w_cstr(struct wbuf *w, const char *s, size_t cap)
{
    w_bulk(w, s, strnlen(s, cap));
}

static void w_u64(struct wbuf *w, uint64_t v)
{
    char b[24];
    w_bulk(w, b, fmt_u64(b, v));
}

static void w_i64(struct wbuf *w, int64_t v)
{
    char b[24];
    w_bulk(w, b, fmt_i64(b, v));
}

static void w_hex(struct wbuf *w, uint64_t v, unsigned digits)
{
    char b[16];
    w_bulk(w, b, fmt_hex(b, v, digits));
}

static void w_double(struct wbuf *w, double v)
{
    char b[40];
    w_bulk(w, b, fmt_double(b, sizeof(b), v));
}

static void w_enum(struct wbuf *w, unsigned v, const struct fsa_str *names, size_t nnames)
{
    if (v < nnames)
        w_lit(w, names[v]);
    else
        w_u64(w, v);
}

static void w_ip(struct wbuf *w, const uint8_t ip[16], uint8_t family)
{
    char b[INET6_ADDRSTRLEN];
    b[0] = '\0';
    if ((family == 4 || family == 6) && !inet_ntop(family == 4 ? AF_INET : AF_INET6, ip, b, sizeof(b)))
        b[0] = '\0';
    w_cstr(w, b, sizeof(b));
}

/* A field name, from its RESP encoding made once at create. */
static void w_field(struct wbuf *w, const struct fsa_store_redis *s, enum field f)
{
    if (w->net)
        w_lit(w, field_names[f]);
    else
        w_raw(w, s->field_resp[f], s->field_resp_len[f]);
}

/* ---- parsing a loaded hash --------------------------------------------------------------------------------- */

static int field_lookup(const char *p, size_t n)
{
    for (int f = 0; f < F_COUNT; f++)
        if (fsa_str_eq(field_names[f], fsa_str_make(p, n)))
            return f;
    return -1;
}

static bool p_str(char *dst, size_t cap, struct fsa_str v)
{
    if (v.n >= cap || memchr(v.p, '\0', v.n))
        return false; /* longer than anything we write: not ours */
    memcpy(dst, v.p, v.n);
    dst[v.n] = '\0';
    return true;
}

static bool p_u64(struct fsa_str v, uint64_t max, uint64_t *out)
{
    return fsa_str_to_u64(v, out) && *out <= max;
}

static bool p_u8(struct fsa_str v, uint8_t *out)
{
    uint64_t x;
    if (!p_u64(v, UINT8_MAX, &x))
        return false;
    *out = (uint8_t)x;
    return true;
}

static bool p_u32(struct fsa_str v, uint32_t *out)
{
    uint64_t x;
    if (!p_u64(v, UINT32_MAX, &x))
        return false;
    *out = (uint32_t)x;
    return true;
}

static bool p_enum(struct fsa_str v, const struct fsa_str *names, size_t nnames, uint8_t *out)
{
    for (size_t i = 0; i < nnames; i++)
        if (fsa_str_eq(v, names[i])) {
            *out = (uint8_t)i;
            return true;
        }
    return p_u8(v, out);
}

static bool p_flag(struct fsa_str v, uint8_t *flags, uint8_t bit)
{
    if (fsa_str_eq_lit(v, "1", 1))
        *flags |= bit;
    else if (fsa_str_eq_lit(v, "0", 1))
        *flags &= (uint8_t)~bit;
    else
        return false;
    return true;
}

static bool p_double(struct fsa_str v, double *out)
{
    if (fsa_str_to_double(v, out))
        return true;
    if (fsa_str_eq_lit(v, "nan", 3))
        *out = NAN;
    else if (fsa_str_eq_lit(v, "inf", 3))
        *out = INFINITY;
    else if (fsa_str_eq_lit(v, "-inf", 4))
        *out = -INFINITY;
    else
        return false;
    return true;
}

static bool p_ip(struct fsa_str v, uint8_t ip[16], uint8_t *family)
{
    memset(ip, 0, 16);
    *family = 0;
    if (v.n == 0)
        return true;
    char b[INET6_ADDRSTRLEN];
    if (!p_str(b, sizeof(b), v))
        return false;
    bool v6 = memchr(v.p, ':', v.n) != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, b, ip) != 1)
        return false;
    *family = v6 ? 6 : 4;
    return true;
}

static bool p_ssrc(struct fsa_str v, uint32_t *out)
{
    uint64_t x;
    if (v.n > 8 || !fsa_str_hex_to_u64(v, &x))
        return false;
    *out = (uint32_t)x;
    return true;
}

static bool p_lost(struct fsa_str v, int32_t *out)
{
    int64_t x;
    if (!fsa_str_to_i64(v, &x) || x < INT32_MIN || x > INT32_MAX)
        return false;
    *out = (int32_t)x;
    return true;
}

static bool parse_field(struct fsa_leg_state *o, int f, struct fsa_str v)
{
    switch ((enum field)f) {
    case F_INSTANCE:
    case F_UUID: return true; /* the key says them */
    case F_CALL_ID: return p_str(o->call_id, sizeof(o->call_id), v);
    case F_DIRECTION: return p_enum(v, NAMES(direction_names), &o->direction);
    case F_DOMAIN: return p_str(o->domain, sizeof(o->domain), v);
    case F_DOMAIN_SOURCE: return p_enum(v, NAMES(domain_source_names), &o->domain_rank);
    case F_CODEC: return p_str(o->codec, sizeof(o->codec), v);
    case F_CODEC_RATE: return p_u32(v, &o->codec_rate);
    case F_LOCAL_IP: return p_ip(v, o->local_ip, &o->local_ip_family);
    case F_REMOTE_IP: return p_ip(v, o->remote_ip, &o->remote_ip_family);
    case F_A_LEG_HASH: return fsa_str_hex_to_u64(v, &o->a_leg_hash);
    case F_CREATED_US: return p_u64(v, UINT64_MAX, &o->created_us);
    case F_JITTER_COUNT: return p_u32(v, &o->jitter_count);
    case F_JITTER_SUM_MS: return p_double(v, &o->jitter_sum_ms);
    case F_JITTER_MIN_MS: return p_double(v, &o->jitter_min_ms);
    case F_JITTER_MAX_MS: return p_double(v, &o->jitter_max_ms);
    case F_LAST_RTT_MS: return p_double(v, &o->last_rtt_ms);
    case F_LAST_FRACTION: return p_u8(v, &o->last_fraction);
    case F_RTCP_IN_VALID: return p_flag(v, &o->flags, FSA_LEG_RTCP_RECV_OK);
    case F_RTCP_IN_SSRC: return p_ssrc(v, &o->rtcp[FSA_LEG_RTCP_RECV].source_ssrc);
    case F_RTCP_IN_LOST: return p_lost(v, &o->rtcp[FSA_LEG_RTCP_RECV].last_lost);
    case F_RTCP_OUT_VALID: return p_flag(v, &o->flags, FSA_LEG_RTCP_SEND_OK);
    case F_RTCP_OUT_SSRC: return p_ssrc(v, &o->rtcp[FSA_LEG_RTCP_SEND].source_ssrc);
    case F_RTCP_OUT_LOST: return p_lost(v, &o->rtcp[FSA_LEG_RTCP_SEND].last_lost);
    case F_LEARNT: return p_flag(v, &o->flags, FSA_LEG_LEARNT);
    case F_COUNT: break;
    }
    return true;
}

/* ---- reply objects: counted and parsed in place, nothing allocated ----------------------------------------- */

/* The load whose answer is being read: answers come in request order. */
static struct load *load_current(struct fsa_store_redis *s)
{
    return &s->loads[s->load_done % LOADS_MAX];
}

/* One netstring "<len>:<bytes>," off the front of *v. */
static bool take_netstring(struct fsa_str *v, struct fsa_str *out)
{
    size_t len = 0, i = 0;
    while (i < v->n && i < 7 && v->p[i] >= '0' && v->p[i] <= '9')
        len = len * 10 + (size_t)(v->p[i++] - '0');
    if (i == 0 || i >= v->n || v->p[i] != ':' || v->n - i - 1 < len + 1 || v->p[i + 1 + len] != ',')
        return false;
    *out = fsa_str_make(v->p + i + 1, len);
    v->p += i + 2 + len;
    v->n -= i + 2 + len;
    return true;
}

/* A part's value: name/value netstring pairs; names this version does not know are skipped. */
static bool parse_part(struct fsa_leg_state *o, struct fsa_str v)
{
    while (v.n) {
        struct fsa_str name, value;
        if (!take_netstring(&v, &name) || !take_netstring(&v, &value))
            return false;
        int f = field_lookup(name.p, name.n);
        if (f >= 0 && !parse_field(o, f, value))
            return false;
    }
    return true;
}

/*
 * One string of an HSCAN page: the next cursor (the reply's first element),
 * or a field of the instance hash (even positions of the second): a leg's
 * part whose leg keep() does not know is gone.
 */
static void sweep_field(struct fsa_store_redis *s, const redisReadTask *t, const char *str, size_t len)
{
    if (!t->parent->parent) {
        if (t->idx == 0 && len < sizeof(s->cursor)) {
            memcpy(s->cursor, str, len);
            s->cursor_len = len;
        }
        return;
    }
    if (t->idx % 2 != 0 || len < 3 || len - 2 >= FSA_UUID_MAX || str[len - 2] != ':' ||
        !memchr("lbj", str[len - 1], 3))
        return; /* a value, _v, or not a leg's part */
    size_t n = len - 2;
    if (s->keep(s->keep_arg, s->sweep_instance, str, n))
        return;
    for (unsigned i = s->ngone; i-- > 0;)
        if (strncmp(s->gone[i], str, n) == 0 && s->gone[i][n] == '\0')
            return; /* another part of a leg this page found already (one HDEL takes all three) */
    if (s->ngone == GONE_MAX) {
        s->sweep_overflow = true;
        return;
    }
    memcpy(s->gone[s->ngone], str, n);
    s->gone[s->ngone++][n] = '\0';
}

static void *obj_string(const redisReadTask *t, char *str, size_t len)
{
    struct fsa_store_redis *s = t->privdata;
    if (!t->parent) {
        s->reply_type = t->type;
        if (t->type == REDIS_REPLY_ERROR) {
            size_t n = len < sizeof(s->reply_err) - 1 ? len : sizeof(s->reply_err) - 1;
            memcpy(s->reply_err, str, n);
            s->reply_err[n] = '\0';
        }
        return s;
    }
    enum cmd c = s->nq ? ENTRY_CMD(s->ring[s->ring_head]) : CMD_AUTH;
    if (c == CMD_SCAN) {
        sweep_field(s, t, str, len);
        return s;
    }
    struct load *e = load_current(s);
    if (c == CMD_LOAD) {
        /* HMGET <hash> _v <uuid>:l <uuid>:b <uuid>:j */
        if (t->idx == 0) {
            e->version = len == 1 && str[0] == FORMAT_VERSION[0] ? 1 : 2;
        } else {
            e->found = true;
            if (!parse_part(&e->st, fsa_str_make(str, len)))
                e->bad = true;
        }
    } else if (c == CMD_LOAD_OLD && !e->found) {
        /* HGETALL of the previous format's hash: field names at even positions, their values at odd ones. */
        if (t->idx % 2 == 0)
            s->load_field = field_lookup(str, len);
        else if (s->load_field >= 0 && !parse_field(&e->st, s->load_field, fsa_str_make(str, len)))
            e->bad = true;
    }
    return s; /* any non-NULL pointer: the reader only passes it back to us */
}

static void *obj_array(const redisReadTask *t, int elements)
{
    struct fsa_store_redis *s = t->privdata;
    if (!t->parent) {
        s->reply_type = t->type;
        s->reply_elements = elements;
    }
    return s;
}

static void *obj_integer(const redisReadTask *t, long long v)
{
    struct fsa_store_redis *s = t->privdata;
    (void)v;
    if (!t->parent)
        s->reply_type = t->type;
    return s;
}

static void *obj_nil(const redisReadTask *t)
{
    struct fsa_store_redis *s = t->privdata;
    if (!t->parent)
        s->reply_type = t->type;
    return s;
}

static void obj_free(void *obj)
{
    (void)obj;
}

static redisReplyObjectFunctions reply_objects = {
    .createString = obj_string,
    .createArray = obj_array,
    .createInteger = obj_integer,
    .createNil = obj_nil,
    .freeObject = obj_free,
};

static bool reader_renew(struct fsa_store_redis *s)
{
    if (s->reader)
        redisReaderFree(s->reader);
    s->reader = redisReaderCreateWithFunctions(&reply_objects);
    if (!s->reader)
        return false;
    s->reader->privdata = s;
    /*
     * Keep the parse buffer once grown (hiredis frees it when more than 16 KiB
     * sits unused): no free/malloc per recv. It stays below 2 x READ_CHUNK
     * plus one partial reply.
     */
    s->reader->maxbuf = 0;
    return true;
}

static void reply_reset(struct fsa_store_redis *s)
{
    s->reply_type = 0;
    s->reply_elements = 0;
    s->reply_err[0] = '\0';
    s->load_field = -1;
}

/* ---- queue ------------------------------------------------------------------------------------------------- */

static ssize_t conn_send(struct fsa_store_redis *s, const char *p, size_t n);
static ssize_t conn_recv(struct fsa_store_redis *s, char *buf, size_t cap);

static void ring_push(struct fsa_store_redis *s, uint32_t entry)
{
    if (s->nq == 0)
        s->progress_ns = 0; /* the no-reply clock starts at the next send */
    s->ring[(s->ring_head + s->nq) % s->ring_cap] = entry;
    s->nq++;
    ctr_add(s, C_COMMANDS, 1);
}

/* A load's state is back to its key: what a partial or unreadable answer filled is dropped. */
static void load_clear(struct load *e)
{
    struct fsa_leg_state key = {.instance = e->st.instance};
    memcpy(key.uuid, e->st.uuid, sizeof(key.uuid));
    e->st = key;
    e->found = e->bad = false;
    e->version = 0;
}

/* The second answer of a load (its HGETALL of the previous format) is in: the load is decided. */
static void load_finish(struct fsa_store_redis *s, struct load *e, bool failed)
{
    bool unreadable = false;
    if (failed) {
        e->result = FSA_STORE_LOAD_FAILED;
    } else if (e->found) {
        unreadable = e->bad || e->version != 1; /* no version, or one this agent does not know */
        e->result = unreadable ? FSA_STORE_LOAD_MISS : FSA_STORE_LOAD_HIT;
    } else if (s->reply_elements > 0) {
        unreadable = e->bad;
        e->result = unreadable ? FSA_STORE_LOAD_MISS : FSA_STORE_LOAD_HIT_OLD;
    } else {
        e->result = FSA_STORE_LOAD_MISS;
    }
    if (e->result != FSA_STORE_LOAD_HIT && e->result != FSA_STORE_LOAD_HIT_OLD)
        load_clear(e);
    if (unreadable)
        ctr_add(s, C_UNREADABLE, 1);
    count_op(s, FSA_STORE_OP_LOAD, failed ? FSA_STORE_RESULT_ERROR : FSA_STORE_RESULT_OK);
    if (e->result == FSA_STORE_LOAD_HIT || e->result == FSA_STORE_LOAD_HIT_OLD)
        ctr_add(s, C_LOAD_HITS, 1);
    if (e->result == FSA_STORE_LOAD_HIT_OLD)
        ctr_add(s, C_LOAD_HITS_OLD, 1);
    s->load_done++;
}

/* A command's reply is in: count it. */
static void complete_head(struct fsa_store_redis *s, uint64_t now)
{
    uint32_t entry = s->ring[s->ring_head];
    enum cmd c = ENTRY_CMD(entry);
    s->ring_head = (s->ring_head + 1) % s->ring_cap;
    s->nq--;
    s->answered++;
    s->progress_ns = s->nq ? now : 0;
    bool err = s->reply_type == REDIS_REPLY_ERROR;
    enum fsa_store_result r = err ? FSA_STORE_RESULT_ERROR : FSA_STORE_RESULT_OK;
    switch (c) {
    case CMD_AUTH:
    case CMD_SELECT:
        if (err && !s->hs_failed) {
            s->hs_failed = true;
            snprintf(s->hs_err, sizeof(s->hs_err), "%s refused: %s", c == CMD_AUTH ? "AUTH" : "SELECT", s->reply_err);
        }
        break;
    case CMD_LOAD:
        if (err || s->reply_type != REDIS_REPLY_ARRAY)
            load_current(s)->failed = true;
        break;
    case CMD_LOAD_OLD: {
        struct load *e = load_current(s);
        load_finish(s, e, e->failed || err || (s->reply_type != REDIS_REPLY_ARRAY && s->reply_type != REDIS_REPLY_NIL));
        break;
    }
    case CMD_HSET: ctr_add(s, C_OPS + FSA_STORE_OP_SAVE * FSA_STORE_RESULT_COUNT + r, ENTRY_LEGS(entry)); break;
    case CMD_HDEL: ctr_add(s, C_OPS + FSA_STORE_OP_DELETE * FSA_STORE_RESULT_COUNT + r, ENTRY_LEGS(entry)); break;
    case CMD_SCAN:
        s->scan_in_flight = false;
        if (err || s->reply_type != REDIS_REPLY_ARRAY) {
            s->sweeping = false; /* the next whole channel list sweeps again */
        } else if (s->cursor_len == 1 && s->cursor[0] == '0') {
            s->sweeping = s->sweep_overflow; /* a page had more gone legs than it could hold: once more */
            s->sweep_overflow = false;
            s->cursor_len = 1;
        }
        break;
    case CMD_SWEEP_DEL:
        if (!err)
            ctr_add(s, C_SWEPT, ENTRY_LEGS(entry));
        break;
    case CMD_EXPIRE:
    case CMD_DEL_OLD: break; /* not operations of their own; a refusal is logged below */
    }
    if (err && strncmp(s->reply_err, "READONLY", 8) == 0)
        s->readonly = true; /* a demoted master (failover): the connection goes down after this batch */
    if (err && c != CMD_AUTH && c != CMD_SELECT && !s->cmd_err_logged) {
        s->cmd_err_logged = true;
        say(s, true, "Redis %s port %u refused a command: %s (counted; not logged again on this connection)", s->host,
            s->port, s->reply_err);
    }
    reply_reset(s);
}

/* Every queued or unanswered command fails with the connection, and so does the round being gathered. */
static void fail_queued(struct fsa_store_redis *s)
{
    for (unsigned i = 0; i < s->nq; i++) {
        uint32_t entry = s->ring[(s->ring_head + i) % s->ring_cap];
        if (ENTRY_CMD(entry) == CMD_HSET)
            ctr_add(s, C_OPS + FSA_STORE_OP_SAVE * FSA_STORE_RESULT_COUNT + FSA_STORE_RESULT_ERROR, ENTRY_LEGS(entry));
        else if (ENTRY_CMD(entry) == CMD_HDEL)
            ctr_add(s, C_OPS + FSA_STORE_OP_DELETE * FSA_STORE_RESULT_COUNT + FSA_STORE_RESULT_ERROR,
                    ENTRY_LEGS(entry));
    }
    /* Loads asked or waiting to be asked: answered "failed", so their legs go on without them. */
    while (s->load_done != s->load_tail) {
        struct load *e = load_current(s);
        load_clear(e);
        e->result = FSA_STORE_LOAD_FAILED;
        count_op(s, FSA_STORE_OP_LOAD, FSA_STORE_RESULT_ERROR);
        s->load_done++;
    }
    s->load_sent = s->load_tail;
    if (s->stage_legs)
        ctr_add(s,
                C_OPS + (s->stage_cmd == CMD_HSET ? FSA_STORE_OP_SAVE : FSA_STORE_OP_DELETE) * FSA_STORE_RESULT_COUNT +
                    FSA_STORE_RESULT_ERROR,
                s->stage_legs);
    s->stage_len = s->stage_args = s->stage_legs = 0;
    memset(s->touched, 0, TOUCHED_WORDS * sizeof(s->touched[0]));
    s->expire_owed = false;
    s->sweeping = s->scan_in_flight = s->sweep_overflow = false; /* the next whole channel list sweeps again */
    s->ngone = 0;
    s->ring_head = 0;
    s->nq = 0;
    s->out_off = s->out_len = 0;
    ctr_set(s, C_PENDING, 0);
}

static void set_state(struct fsa_store_redis *s, enum fsa_store_redis_state st)
{
    s->state = st;
    ctr_set(s, C_STATE, st);
}

/*
 * The connection failed (or could not be made): close it, fail what was
 * queued, go down (logged once) and schedule the next attempt.
 */
static void conn_fail(struct fsa_store_redis *s, uint64_t now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_fail(struct fsa_store_redis *s, uint64_t now, const char *fmt, ...)
{
    char cause[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cause, sizeof(cause), fmt, ap);
    va_end(ap);

    fail_queued(s);
    if (s->ssl) {
        SSL_free(s->ssl); /* and its BIO; no close_notify: the socket may be dead */
        s->ssl = NULL;
    }
    if (s->rc)
        redisFree(s->rc);
    s->rc = NULL;
    s->fd = -1;
    /* A reply may have been cut in the middle: the next connection starts with a clean parser (or retries it). */
    (void)reader_renew(s);
    reply_reset(s);
    if (s->connecting) {
        ctr_add(s, C_CONNECT_FAILURES, 1);
        s->failed_attempts++;
    }
    if (s->state != FSA_STORE_REDIS_DOWN) {
        say(s, true, "Redis %s port %u %s: %s; leg state stays in memory, reconnecting with backoff %u..%u ms", s->host,
            s->port, s->state == FSA_STORE_REDIS_UP ? "down" : "unavailable", cause,
            (unsigned)(s->backoff_min_ns / 1000000), (unsigned)(s->backoff_max_ns / 1000000));
        set_state(s, FSA_STORE_REDIS_DOWN);
        s->down_since_ns = now;
        s->backoff_ns = s->backoff_min_ns;
        if (!s->connecting)
            s->failed_attempts = 0;
    } else {
        s->backoff_ns = s->backoff_ns * 2 < s->backoff_max_ns ? s->backoff_ns * 2 : s->backoff_max_ns;
    }
    s->next_attempt_ns = now + s->backoff_ns;
}

/* Replies that are complete in the reader's buffer. */
static bool drain_replies(struct fsa_store_redis *s, uint64_t now)
{
    for (;;) {
        void *obj = NULL;
        if (redisReaderGetReply(s->reader, &obj) != REDIS_OK) {
            conn_fail(s, now, "protocol error: %s", s->reader->errstr);
            return false;
        }
        if (!obj)
            break;
        if (s->nq == 0) {
            conn_fail(s, now, "protocol error: a reply nothing asked for");
            return false;
        }
        complete_head(s, now);
    }
    ctr_set(s, C_PENDING, s->nq);
    if (s->readonly) {
        s->readonly = false;
        conn_fail(s, now, "the master became a replica (READONLY): asking the Sentinels again");
        return false;
    }
    return true;
}

/*
 * Non-blocking: writes what the socket takes, consumes the replies that
 * arrived, and takes the store down when commands wait for a reply longer
 * than timeout_ms. false: the connection failed (handled).
 */
static bool io_step(struct fsa_store_redis *s, uint64_t now)
{
    char eb[64];
    while (s->out_off < s->out_len) {
        ssize_t n = conn_send(s, s->out + s->out_off, s->out_len - s->out_off);
        if (n > 0) {
            s->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            conn_fail(s, now, "send: %s", errno_text(errno, eb, sizeof(eb)));
            return false;
        }
    }
    if (s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    /*
     * The no-reply clock runs only while the worker looks: after a gap of
     * its own (a busy stretch of events), Redis gets timeout_ms from now.
     */
    if (s->nq && (s->progress_ns == 0 || now - s->looked_ns > s->timeout_ns / 2))
        s->progress_ns = now;
    s->looked_ns = now;

    char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = conn_recv(s, buf, sizeof(buf));
        if (n > 0) {
            if (redisReaderFeed(s->reader, buf, (size_t)n) != REDIS_OK) {
                conn_fail(s, now, "protocol error: %s", s->reader->errstr);
                return false;
            }
            if (!drain_replies(s, now))
                return false;
            if ((size_t)n < sizeof(buf))
                break;
        } else if (n == 0) {
            conn_fail(s, now, "connection closed by the server");
            return false;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            conn_fail(s, now, "recv: %s", errno_text(errno, eb, sizeof(eb)));
            return false;
        }
    }
    if (s->nq && now - s->progress_ns > s->timeout_ns) {
        conn_fail(s, now, "no reply within %u ms", s->timeout_ms);
        return false;
    }
    return true;
}

static void sleep_on_fd(int fd, short events, uint64_t now, uint64_t deadline)
{
    uint64_t left = deadline - now;
    struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u), .tv_nsec = (long)(left % 1000000000u)};
    struct pollfd p = {.fd = fd, .events = events};
    (void)ppoll(&p, 1, &ts, NULL); /* EINTR or a wake-up: the caller looks again */
}

/* Blocks until `target` replies have been consumed, or the deadline (then the store goes down). */
static bool io_wait(struct fsa_store_redis *s, uint64_t target, uint64_t deadline)
{
    for (;;) {
        uint64_t now = fsa_mono_ns();
        if (!io_step(s, now))
            return false;
        if (s->answered >= target)
            return true;
        if (now >= deadline) {
            conn_fail(s, now, "no reply within %u ms", s->timeout_ms);
            return false;
        }
        sleep_on_fd(s->fd, (short)(POLLIN | (s->out_len > s->out_off ? POLLOUT : 0)), now, deadline);
    }
}

/* ---- TLS (storage.redis.tls): OpenSSL over the store's own non-blocking socket ---------------------------- */

/*
 * A socket BIO whose writes never raise SIGPIPE (send with MSG_NOSIGNAL):
 * OpenSSL's own socket BIO uses write(), and a Redis that closed the
 * connection must cost a reconnect, not the process.
 */
static int bio_write(BIO *b, const char *p, int n)
{
    ssize_t r = send((int)(intptr_t)BIO_get_data(b), p, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    BIO_clear_retry_flags(b);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)r;
}

static int bio_read(BIO *b, char *p, int n)
{
    ssize_t r = recv((int)(intptr_t)BIO_get_data(b), p, (size_t)n, MSG_DONTWAIT);
    BIO_clear_retry_flags(b);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    return (int)r;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_method_nosignal(void)
{
    static BIO_METHOD *m; /* made once, on the first TLS store's create (before any worker thread runs) */
    if (!m && (m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fsagent-redis")) != NULL) {
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
    }
    return m;
}

/* The client context: peer verified against ca_file (or the system's CAs), TLS 1.2 at least. NULL with *why. */
static SSL_CTX *tls_ctx_new(const struct fsa_store_redis_params *p, char *why, size_t cap)
{
    SSL_CTX *ctx = bio_method_nosignal() ? SSL_CTX_new(TLS_client_method()) : NULL;
    const char *step = "context";
    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    step = "storage.redis.tls.ca_file";
    if (p->tls_ca_file && p->tls_ca_file[0] ? SSL_CTX_load_verify_locations(ctx, p->tls_ca_file, NULL) != 1
                                            : SSL_CTX_set_default_verify_paths(ctx) != 1)
        goto fail;
    if (p->tls_cert_file && p->tls_cert_file[0]) {
        step = "storage.redis.tls.cert_file";
        if (SSL_CTX_use_certificate_chain_file(ctx, p->tls_cert_file) != 1)
            goto fail;
        step = "storage.redis.tls.key_file";
        if (SSL_CTX_use_PrivateKey_file(ctx, p->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
            goto fail;
    }
    return ctx;
fail:
    snprintf(why, cap, "%s: %s", step, ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "cannot be used");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* What went wrong in a TLS call, for the log line (the certificate check's verdict first). */
static void tls_error_text(struct fsa_store_redis *s, int e, char *out, size_t cap)
{
    long v = s->ssl ? SSL_get_verify_result(s->ssl) : X509_V_OK;
    unsigned long err = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(out, cap, "certificate: %s", X509_verify_cert_error_string(v));
    else if (err)
        snprintf(out, cap, "%s", ERR_reason_error_string(err) ? ERR_reason_error_string(err) : "TLS error");
    else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
        snprintf(out, cap, "connection closed by the server during TLS");
    else
        snprintf(out, cap, "TLS error %d", e);
    ERR_clear_error();
}

/* TLS over the connected socket, within the connect's deadline; false: the store went down (logged). */
static bool tls_handshake(struct fsa_store_redis *s, uint64_t deadline)
{
    BIO *bio = BIO_new(bio_method_nosignal());
    s->ssl = bio ? SSL_new(s->tls_ctx) : NULL;
    if (!s->ssl) {
        BIO_free(bio);
        conn_fail(s, fsa_mono_ns(), "TLS: out of memory");
        return false;
    }
    BIO_set_data(bio, (void *)(intptr_t)s->fd);
    SSL_set_bio(s->ssl, bio, bio);
    const char *name = s->tls_server_name[0] ? s->tls_server_name : s->host;
    unsigned char addr[16];
    bool literal = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    X509_VERIFY_PARAM *vp = SSL_get0_param(s->ssl);
    if (literal) {
        X509_VERIFY_PARAM_set1_ip_asc(vp, name);
    } else {
        SSL_set_tlsext_host_name(s->ssl, name);
        X509_VERIFY_PARAM_set1_host(vp, name, 0);
    }
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(s->ssl);
        if (r == 1)
            return true;
        int e = SSL_get_error(s->ssl, r);
        uint64_t now = fsa_mono_ns();
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && now < deadline) {
            sleep_on_fd(s->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, now, deadline);
            continue;
        }
        char why[160];
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            snprintf(why, sizeof(why), "no answer within %u ms", s->timeout_ms);
        else
            tls_error_text(s, e, why, sizeof(why));
        conn_fail(s, now, "TLS handshake with %s: %s", name, why);
        return false;
    }
}

/* send()/recv() of the connection, plain or TLS: bytes, 0 (closed: recv only), or -1 with errno. */
static ssize_t conn_send(struct fsa_store_redis *s, const char *p, size_t n)
{
    if (!s->ssl)
        return send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    ERR_clear_error();
    int r = SSL_write(s->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(s->ssl, r);
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : e == SSL_ERROR_SYSCALL && errno ? errno
                                                                                                               : EPROTO;
    ERR_clear_error();
    return -1;
}

static ssize_t conn_recv(struct fsa_store_redis *s, char *buf, size_t cap)
{
    if (!s->ssl)
        return recv(s->fd, buf, cap, MSG_DONTWAIT);
    ERR_clear_error();
    int r = SSL_read(s->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0)
        return r;
    int e = SSL_get_error(s->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : e == SSL_ERROR_SYSCALL && errno ? errno
                                                                                                               : EPROTO;
    ERR_clear_error();
    return -1;
}

/* ---- commands ---------------------------------------------------------------------------------------------- */

/* Where the next command goes, with room for `need` bytes if it can be made by moving unsent bytes to the front. */
static struct wbuf out_begin(struct fsa_store_redis *s, size_t need)
{
    if (s->out_off == s->out_len) {
        s->out_off = s->out_len = 0;
    } else if (s->out_off && OUT_CAP - s->out_len < need) {
        memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
        s->out_len -= s->out_off;
        s->out_off = 0;
    }
    return (struct wbuf){s->out + s->out_len, s->out + OUT_CAP, true, false};
}

/* Appends the instance's name (or its id in decimal) to key[k]; returns the new length. */
static size_t put_instance(const struct fsa_store_redis *s, char *key, size_t k, uint16_t instance)
{
    if (instance < s->nnames && s->names[instance][0]) {
        size_t nl = strlen(s->names[instance]);
        memcpy(key + k, s->names[instance], nl);
        return k + nl;
    }
    return k + fmt_u64(key + k, instance);
}

/* The previous format's hash of one leg: <prefix><instance>:<uuid> */
static void w_key(struct fsa_store_redis *s, struct wbuf *w, uint16_t instance, const char *uuid, size_t n)
{
    char key[KEY_MAX];
    memcpy(key, s->prefix, s->prefix_len);
    size_t k = put_instance(s, key, s->prefix_len, instance);
    key[k++] = ':';
    memcpy(key + k, uuid, n); /* n < FSA_UUID_MAX: checked by the callers */
    w_bulk(w, key, k + n);
}

/* The hash of every leg of one instance: <prefix>v2:<instance> */
static void w_hash_key(struct fsa_store_redis *s, struct wbuf *w, uint16_t instance)
{
    char key[KEY_MAX];
    memcpy(key, s->prefix, s->prefix_len);
    memcpy(key + s->prefix_len, "v2:", 3);
    w_bulk(w, key, put_instance(s, key, s->prefix_len + 3, instance));
}

/* A part's field in the instance hash: <uuid>:l, <uuid>:b or <uuid>:j */
static void w_part_field(struct wbuf *w, const char *uuid, size_t n, char part)
{
    char f[FSA_UUID_MAX + 2];
    memcpy(f, uuid, n);
    f[n] = ':';
    f[n + 1] = part;
    w_bulk(w, f, n + 2);
}

static void build_part(struct fsa_store_redis *s, struct wbuf *w, const struct fsa_leg_state *st, unsigned part)
{
    switch (part) {
    case FSA_STORE_PART_LABELS:
        w_field(w, s, F_CALL_ID), w_cstr(w, st->call_id, sizeof(st->call_id));
        w_field(w, s, F_DIRECTION), w_enum(w, st->direction, NAMES(direction_names));
        w_field(w, s, F_DOMAIN), w_cstr(w, st->domain, sizeof(st->domain));
        w_field(w, s, F_DOMAIN_SOURCE), w_enum(w, st->domain_rank, NAMES(domain_source_names));
        w_field(w, s, F_CODEC), w_cstr(w, st->codec, sizeof(st->codec));
        w_field(w, s, F_CODEC_RATE), w_u64(w, st->codec_rate);
        w_field(w, s, F_LOCAL_IP), w_ip(w, st->local_ip, st->local_ip_family);
        w_field(w, s, F_REMOTE_IP), w_ip(w, st->remote_ip, st->remote_ip_family);
        w_field(w, s, F_A_LEG_HASH), w_hex(w, st->a_leg_hash, 16);
        w_field(w, s, F_CREATED_US), w_u64(w, st->created_us);
        w_field(w, s, F_LEARNT), w_u64(w, (st->flags & FSA_LEG_LEARNT) != 0);
        break;
    case FSA_STORE_PART_BASES:
        w_field(w, s, F_RTCP_IN_VALID), w_u64(w, (st->flags & FSA_LEG_RTCP_RECV_OK) != 0);
        w_field(w, s, F_RTCP_IN_SSRC), w_hex(w, st->rtcp[FSA_LEG_RTCP_RECV].source_ssrc, 8);
        w_field(w, s, F_RTCP_IN_LOST), w_i64(w, st->rtcp[FSA_LEG_RTCP_RECV].last_lost);
        w_field(w, s, F_RTCP_OUT_VALID), w_u64(w, (st->flags & FSA_LEG_RTCP_SEND_OK) != 0);
        w_field(w, s, F_RTCP_OUT_SSRC), w_hex(w, st->rtcp[FSA_LEG_RTCP_SEND].source_ssrc, 8);
        w_field(w, s, F_RTCP_OUT_LOST), w_i64(w, st->rtcp[FSA_LEG_RTCP_SEND].last_lost);
        w_field(w, s, F_LAST_FRACTION), w_u64(w, st->last_fraction);
        break;
    case FSA_STORE_PART_JITTER:
        w_field(w, s, F_JITTER_COUNT), w_u64(w, st->jitter_count);
        w_field(w, s, F_JITTER_SUM_MS), w_double(w, st->jitter_sum_ms);
        w_field(w, s, F_JITTER_MIN_MS), w_double(w, st->jitter_min_ms);
        w_field(w, s, F_JITTER_MAX_MS), w_double(w, st->jitter_max_ms);
        w_field(w, s, F_LAST_RTT_MS), w_double(w, st->last_rtt_ms);
        break;
    }
}

static void touch(struct fsa_store_redis *s, uint16_t instance)
{
    s->touched[instance / 64] |= 1ull << (instance % 64);
    s->expire_owed = true;
}

/*
 * The gathered HSET or HDEL goes to the send buffer as one command. A full
 * buffer first gets one non-blocking send/receive. 0, -EAGAIN (no room: the
 * stage waits) or -EIO (the connection failed; the stage was failed with it).
 */
static int stage_emit(struct fsa_store_redis *s)
{
    if (!s->stage_args)
        return 0;
    bool hset = s->stage_cmd == CMD_HSET;
    for (int attempt = 0;; attempt++) {
        if (s->nq < s->max_pending) {
            struct wbuf w = out_begin(s, s->stage_len + KEY_MAX + 96);
            w_header(&w, '*', 2 + s->stage_args + (hset ? 2 : 0));
            w_bulk(&w, hset ? "HSET" : "HDEL", 4);
            w_hash_key(s, &w, s->stage_instance);
            if (hset)
                w_bulk(&w, "_v", 2), w_bulk(&w, FORMAT_VERSION, sizeof(FORMAT_VERSION) - 1);
            w_raw(&w, s->stage, s->stage_len);
            if (w.ok) {
                s->out_len = (size_t)(w.p - s->out);
                ring_push(s, ENTRY(s->stage_cmd, s->stage_legs));
                if (hset)
                    touch(s, s->stage_instance);
                s->stage_len = s->stage_args = s->stage_legs = 0;
                ctr_set(s, C_PENDING, s->nq);
                return 0;
            }
        }
        if (attempt)
            return -EAGAIN;
        if (!io_step(s, fsa_mono_ns()))
            return -EIO;
    }
}

/* The stage, ready to take `need` more bytes of a `c` for `instance`: 0, -EAGAIN or -EIO as stage_emit. */
static int stage_open(struct fsa_store_redis *s, enum cmd c, uint16_t instance, size_t need)
{
    if (s->stage_args && (s->stage_cmd != c || s->stage_instance != instance || STAGE_CAP - s->stage_len < need)) {
        int rc = stage_emit(s);
        if (rc)
            return rc;
    }
    s->stage_cmd = c;
    s->stage_instance = instance;
    return 0;
}

/* The EXPIREs owed by this round's HSETs: the TTL of each instance hash written runs from its last write. */
static void send_expires(struct fsa_store_redis *s)
{
    if (!s->expire_owed)
        return;
    for (unsigned i = 0; i < TOUCHED_WORDS; i++) {
        while (s->touched[i]) {
            unsigned bit = (unsigned)__builtin_ctzll(s->touched[i]);
            if (s->nq >= s->max_pending)
                return;
            struct wbuf w = out_begin(s, KEY_MAX + 64);
            w_header(&w, '*', 3);
            w_bulk(&w, "EXPIRE", 6);
            w_hash_key(s, &w, (uint16_t)(i * 64 + bit));
            w_u64(&w, s->ttl_s);
            if (!w.ok)
                return; /* the next poll tries again */
            s->out_len = (size_t)(w.p - s->out);
            ring_push(s, ENTRY(CMD_EXPIRE, 0));
            s->touched[i] &= s->touched[i] - 1;
        }
    }
    s->expire_owed = false;
}

/* Loads waiting for room are asked: HMGET of the current format, HGETALL of the previous one. */
static void send_loads(struct fsa_store_redis *s)
{
    while (s->load_sent != s->load_tail && s->nq + 2 <= s->max_pending) {
        const struct fsa_leg_state *st = &s->loads[s->load_sent % LOADS_MAX].st;
        size_t n = strnlen(st->uuid, sizeof(st->uuid));
        struct wbuf w = out_begin(s, 2 * KEY_MAX + 4 * FSA_UUID_MAX + 160);
        w_header(&w, '*', 6);
        w_bulk(&w, "HMGET", 5);
        w_hash_key(s, &w, st->instance);
        w_bulk(&w, "_v", 2);
        w_part_field(&w, st->uuid, n, 'l');
        w_part_field(&w, st->uuid, n, 'b');
        w_part_field(&w, st->uuid, n, 'j');
        w_header(&w, '*', 2);
        w_bulk(&w, "HGETALL", 7);
        w_key(s, &w, st->instance, st->uuid, n);
        if (!w.ok)
            return;
        s->out_len = (size_t)(w.p - s->out);
        ring_push(s, ENTRY(CMD_LOAD, 0));
        ring_push(s, ENTRY(CMD_LOAD_OLD, 0));
        s->load_sent++;
    }
    ctr_set(s, C_PENDING, s->nq);
}

/*
 * The sweep's next step: delete the legs the last page found gone (one
 * HDEL), then ask for the next page, or start on the next instance waiting.
 */
static void send_sweep(struct fsa_store_redis *s)
{
    if (s->ngone && s->nq < s->max_pending) {
        struct wbuf w = out_begin(s, (size_t)s->ngone * 3 * (FSA_UUID_MAX + 16) + KEY_MAX + 64);
        w_header(&w, '*', 2 + 3 * (uint64_t)s->ngone);
        w_bulk(&w, "HDEL", 4);
        w_hash_key(s, &w, s->sweep_instance);
        for (unsigned i = 0; i < s->ngone; i++) {
            size_t n = strnlen(s->gone[i], FSA_UUID_MAX);
            w_part_field(&w, s->gone[i], n, 'l');
            w_part_field(&w, s->gone[i], n, 'b');
            w_part_field(&w, s->gone[i], n, 'j');
        }
        if (!w.ok)
            return; /* no room now: the next poll */
        s->out_len = (size_t)(w.p - s->out);
        ring_push(s, ENTRY(CMD_SWEEP_DEL, s->ngone));
        s->ngone = 0;
    }
    if (s->ngone || s->scan_in_flight || s->nq >= s->max_pending)
        return;
    if (!s->sweeping) {
        if (!s->nsweep_pending)
            return;
        unsigned i = 0;
        while (!s->sweep_pending[i])
            i++;
        unsigned bit = (unsigned)__builtin_ctzll(s->sweep_pending[i]);
        s->sweep_pending[i] &= ~(1ull << bit);
        s->nsweep_pending--;
        s->sweep_instance = (uint16_t)(i * 64 + bit);
        s->sweeping = true;
        s->sweep_overflow = false;
        s->cursor[0] = '0';
        s->cursor_len = 1;
    }
    struct wbuf w = out_begin(s, KEY_MAX + 96);
    w_header(&w, '*', 5);
    w_bulk(&w, "HSCAN", 5);
    w_hash_key(s, &w, s->sweep_instance);
    w_bulk(&w, s->cursor, s->cursor_len);
    w_bulk(&w, "COUNT", 5);
    w_bulk(&w, SWEEP_PAGE, sizeof(SWEEP_PAGE) - 1);
    if (!w.ok)
        return;
    s->out_len = (size_t)(w.p - s->out);
    ring_push(s, ENTRY(CMD_SCAN, 0));
    s->scan_in_flight = true;
}

/* A leg found in the previous format is written anew by its worker: its old hash goes (best effort). */
static void send_del_old(struct fsa_store_redis *s, const struct fsa_leg_state *st)
{
    struct wbuf w = out_begin(s, KEY_MAX + 32);
    w_header(&w, '*', 2);
    w_bulk(&w, "DEL", 3);
    w_key(s, &w, st->instance, st->uuid, strnlen(st->uuid, sizeof(st->uuid)));
    if (w.ok && s->nq < s->max_pending) {
        s->out_len = (size_t)(w.p - s->out);
        ring_push(s, ENTRY(CMD_DEL_OLD, 0));
    }
}

static void build_handshake(struct fsa_store_redis *s, struct wbuf *w, const void *arg)
{
    (void)arg;
    if (s->password[0]) {
        /* Redis 6 ACL: AUTH <user> <password>; without a user, the default user's password. */
        w_header(w, '*', s->username[0] ? 3 : 2);
        w_bulk(w, "AUTH", 4);
        if (s->username[0])
            w_cstr(w, s->username, sizeof(s->username));
        w_cstr(w, s->password, sizeof(s->password));
    }
    w_header(w, '*', 2);
    w_bulk(w, "SELECT", 6);
    w_u64(w, (uint64_t)s->db);
}

/* ---- connection -------------------------------------------------------------------------------------------- */

/*
 * host as a numeric address in ip[INET6_ADDRSTRLEN], for hiredis (which would
 * call getaddrinfo on a name itself, unbounded): a literal at once, a name
 * looked up off this thread (ring/fsa_lookup.h) and waited for until the
 * deadline, so a DNS server that does not answer costs the worker at most
 * timeout_ms. false with *why.
 */
static bool numeric_host(const char *host, uint16_t port, uint64_t deadline, char *ip, char *why, size_t whycap)
{
    struct sockaddr_storage a;
    socklen_t len = 0;
    if (fsa_lookup_numeric(host, port, &a, &len) != 0) {
        int err = 0;
        struct fsa_lookup *l = fsa_lookup_start(host, port, &err);
        if (!l) {
            snprintf(why, whycap, "cannot resolve %s: %s", host, strerror(err));
            return false;
        }
        bool done = fsa_lookup_wait(l, deadline);
        int rc = done ? fsa_lookup_result(l, &a, &len) : 0;
        fsa_lookup_release(l);
        if (!done || rc != 0) {
            snprintf(why, whycap, "cannot resolve %s: %s", host, done ? gai_strerror(rc) : "lookup timed out");
            return false;
        }
    }
    const void *bin = a.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&a)->sin6_addr
                                              : (const void *)&((struct sockaddr_in *)&a)->sin_addr;
    if (!inet_ntop(a.ss_family, bin, ip, INET6_ADDRSTRLEN)) {
        snprintf(why, whycap, "cannot resolve %s: bad address", host);
        return false;
    }
    return true;
}

/* "host:port" or "[v6]:port" into host (no brackets) and port; false when malformed. */
static bool split_host_port(const char *hp, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return false;
    const char *h = hp, *e = colon;
    if (*h == '[' && e > h + 1 && e[-1] == ']')
        h++, e--;
    size_t n = (size_t)(e - h);
    if (n == 0 || n >= cap)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = atoi(colon + 1);
    return *port > 0 && *port <= 65535;
}

/*
 * Asks the Sentinels, in turn from the last that answered, for the master's
 * address, within the deadline; a changed address is a failover (counted,
 * logged). false: none answered (the caller fails the attempt).
 */
static bool sentinel_lookup(struct fsa_store_redis *s, uint64_t deadline, char *why, size_t whycap)
{
    snprintf(why, whycap, "no Sentinel answered");
    for (unsigned k = 0; k < s->nsentinels; k++) {
        unsigned i = (s->sentinel_next + k) % s->nsentinels;
        char host[256];
        int port;
        uint64_t now = fsa_mono_ns();
        if (now >= deadline)
            break;
        if (!split_host_port(s->sentinels[i], host, sizeof(host), &port))
            continue;
        char ip[INET6_ADDRSTRLEN];
        if (!numeric_host(host, (uint16_t)port, deadline, ip, why, whycap))
            continue;
        now = fsa_mono_ns();
        if (now >= deadline)
            break;
        uint64_t left = deadline - now;
        struct timeval tv = {.tv_sec = (time_t)(left / 1000000000u), .tv_usec = (long)(left % 1000000000u / 1000)};
        redisContext *c = redisConnectWithTimeout(ip, port, tv);
        if (!c || c->err) {
            snprintf(why, whycap, "Sentinel %s: %s", s->sentinels[i], c ? c->errstr : "out of memory");
            if (c)
                redisFree(c);
            continue;
        }
        redisSetTimeout(c, tv);
        bool ok = true;
        if (s->sentinel_password[0]) {
            redisReply *a = redisCommand(c, "AUTH %s", s->sentinel_password);
            ok = a && a->type == REDIS_REPLY_STATUS;
            snprintf(why, whycap, "Sentinel %s: AUTH refused", s->sentinels[i]); /* its reply never echoes the password */
            if (a)
                freeReplyObject(a);
        }
        redisReply *r = ok ? redisCommand(c, "SENTINEL get-master-addr-by-name %s", s->sentinel_master) : NULL;
        if (ok && r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
            r->element[1]->type == REDIS_REPLY_STRING && r->element[0]->len < sizeof(s->host)) {
            char mhost[256];
            snprintf(mhost, sizeof(mhost), "%.*s", (int)r->element[0]->len, r->element[0]->str);
            int mport = atoi(r->element[1]->str);
            if (mport > 0 && mport <= 65535) {
                if (s->host[0] && (strcmp(mhost, s->host) != 0 || mport != s->port)) {
                    ctr_add(s, C_FAILOVERS, 1);
                    say(s, true, "Redis master \"%s\" is now %s port %d (was %s port %u): failover followed",
                        s->sentinel_master, mhost, mport, s->host, s->port);
                }
                memcpy(s->host, mhost, sizeof(s->host));
                s->port = (uint16_t)mport;
                s->sentinel_next = i;
                freeReplyObject(r);
                redisFree(c);
                return true;
            }
        }
        if (ok && snprintf(why, whycap, "Sentinel %s does not know master \"%s\"", s->sentinels[i],
                           s->sentinel_master) < 0)
            why[0] = '\0'; /* (a long one is cut: a log line, not data) */
        if (r)
            freeReplyObject(r);
        redisFree(c);
    }
    ctr_add(s, C_SENTINEL_FAILURES, 1);
    return false;
}

static bool conn_open(struct fsa_store_redis *s, uint64_t now, uint64_t deadline)
{
    char eb[64];
    s->connecting = true;
    bool ok = false;
    if (!s->reader && !reader_renew(s)) {
        conn_fail(s, now, "out of memory");
        goto out;
    }
    if (s->nsentinels) {
        char why[sizeof(s->hs_err)];
        if (!sentinel_lookup(s, deadline, why, sizeof(why))) {
            conn_fail(s, fsa_mono_ns(), "%s", why);
            goto out;
        }
    }
    char ip[INET6_ADDRSTRLEN], why[160];
    if (!numeric_host(s->host, s->port, deadline, ip, why, sizeof(why))) {
        conn_fail(s, fsa_mono_ns(), "%s", why);
        goto out;
    }
    redisContext *c = redisConnectNonBlock(ip, s->port);
    if (!c || c->err) {
        char cause[sizeof(c->errstr)];
        snprintf(cause, sizeof(cause), "%s", c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        conn_fail(s, now, "connect: %s", cause);
        goto out;
    }
    s->rc = c;
    s->fd = c->fd;
    for (;;) { /* the TCP handshake, within the same deadline */
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        now = fsa_mono_ns();
        if (now >= deadline) {
            conn_fail(s, now, "connect: no answer within %u ms", s->timeout_ms);
            goto out;
        }
        uint64_t left = deadline - now;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u), .tv_nsec = (long)(left % 1000000000u)};
        int r = ppoll(&p, 1, &ts, NULL);
        if (r > 0)
            break;
        if (r < 0 && errno != EINTR) {
            conn_fail(s, now, "connect: poll: %s", errno_text(errno, eb, sizeof(eb)));
            goto out;
        }
    }
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr) {
        conn_fail(s, fsa_mono_ns(), "connect: %s", errno_text(soerr, eb, sizeof(eb)));
        goto out;
    }
    if (s->tls_ctx && !tls_handshake(s, deadline))
        goto out;

    s->hs_failed = false;
    s->cmd_err_logged = false;
    struct wbuf w = out_begin(s, 0);
    build_handshake(s, &w, NULL);
    size_t hs_len = (size_t)(w.p - s->out);
    if (!w.ok) { /* a 255-byte password always fits: cannot happen */
        conn_fail(s, fsa_mono_ns(), "handshake does not fit");
        goto out;
    }
    s->out_len = hs_len;
    if (s->password[0])
        ring_push(s, ENTRY(CMD_AUTH, 0));
    ring_push(s, ENTRY(CMD_SELECT, 0));
    bool answered = io_wait(s, s->answered + s->nq, deadline);
    explicit_bzero(s->out, hs_len); /* the password does not linger in the buffer */
    if (!answered)
        goto out;
    if (s->hs_failed) {
        conn_fail(s, fsa_mono_ns(), "%s", s->hs_err);
        goto out;
    }

    now = fsa_mono_ns();
    s->epoch++;
    ctr_add(s, C_CONNECTS, 1);
    if (s->state == FSA_STORE_REDIS_DOWN) {
        ctr_add(s, C_RECONNECTS, 1);
        say(s, false, "Redis %s port %u db %d up again after %u failed attempt(s), %llu ms down", s->host, s->port,
            s->db, s->failed_attempts, (unsigned long long)((now - s->down_since_ns) / 1000000));
    } else {
        say(s, false, "Redis %s port %u db %d connected", s->host, s->port, s->db);
    }
    set_state(s, FSA_STORE_REDIS_UP);
    s->backoff_ns = s->backoff_min_ns;
    s->failed_attempts = 0;
    ok = true;
out:
    s->connecting = false;
    return ok;
}

/*
 * Connected, or one attempt if the backoff allows it (none while it runs).
 * deadline 0: now + timeout_ms. Reads the clock only when not connected.
 */
static bool ensure_up(struct fsa_store_redis *s, uint64_t deadline)
{
    if (s->state == FSA_STORE_REDIS_UP)
        return true;
    uint64_t now = fsa_mono_ns();
    if (s->state == FSA_STORE_REDIS_DOWN && now < s->next_attempt_ns)
        return false;
    return conn_open(s, now, deadline ? deadline : now + s->timeout_ns);
}

/* ---- the store operations ---------------------------------------------------------------------------------- */

/*
 * Checks the arguments and the connection (one attempt if due); 0, or the
 * error (already counted).
 */
static int op_begin(struct fsa_store_redis *s, enum fsa_store_op op, bool valid)
{
    int rc = !valid ? -EINVAL : !ensure_up(s, 0) ? -ENOTCONN : 0;
    if (rc)
        count_op(s, op, FSA_STORE_RESULT_ERROR);
    return rc;
}

static int redis_save(void *ctx, const struct fsa_leg_state *st, unsigned parts)
{
    struct fsa_store_redis *s = ctx;
    size_t n = strnlen(st->uuid, sizeof(st->uuid));
    int rc = op_begin(s, FSA_STORE_OP_SAVE, n > 0 && n < FSA_UUID_MAX && (parts & FSA_STORE_PART_ALL));
    if (rc == 0 && (rc = stage_open(s, CMD_HSET, st->instance, 3 * (PART_MAX + FSA_UUID_MAX + 32))) == -EIO)
        count_op(s, FSA_STORE_OP_SAVE, FSA_STORE_RESULT_ERROR); /* the connection failed while making room */
    if (rc)
        return rc; /* -EAGAIN: not counted, the caller keeps it for the next round */
    static const char tag[] = {'l', 'b', 'j'};
    for (unsigned i = 0; i < 3; i++) {
        unsigned part = 1u << i;
        if (!(parts & part))
            continue;
        char v[PART_MAX];
        struct wbuf b = {v, v + sizeof(v), true, true};
        build_part(s, &b, st, part);
        struct wbuf w = {s->stage + s->stage_len, s->stage + STAGE_CAP, b.ok, false};
        w_part_field(&w, st->uuid, n, tag[i]);
        w_bulk(&w, v, (size_t)(b.p - v));
        if (!w.ok) /* cannot happen: stage_open made room for three parts of the largest size */
            continue;
        s->stage_len = (size_t)(w.p - s->stage);
        s->stage_args += 2;
    }
    s->stage_legs++;
    s->round_open = true;
    return 0;
}

static int redis_del(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    struct fsa_store_redis *s = ctx;
    int rc = op_begin(s, FSA_STORE_OP_DELETE, n > 0 && n < FSA_UUID_MAX);
    if (rc == 0 && (rc = stage_open(s, CMD_HDEL, instance, 3 * (FSA_UUID_MAX + 32))) == -EIO)
        count_op(s, FSA_STORE_OP_DELETE, FSA_STORE_RESULT_ERROR);
    if (rc)
        return rc;
    struct wbuf w = {s->stage + s->stage_len, s->stage + STAGE_CAP, true, false};
    w_part_field(&w, uuid, n, 'l');
    w_part_field(&w, uuid, n, 'b');
    w_part_field(&w, uuid, n, 'j');
    s->stage_len = (size_t)(w.p - s->stage);
    s->stage_args += 3;
    s->stage_legs++;
    s->round_open = true;
    return 0;
}

static int redis_load(void *ctx, uint16_t instance, const char *uuid, size_t n)
{
    struct fsa_store_redis *s = ctx;
    int rc = op_begin(s, FSA_STORE_OP_LOAD, n > 0 && n < FSA_UUID_MAX);
    if (rc == 0 && s->load_tail - s->load_head >= LOADS_MAX)
        rc = -EAGAIN; /* not counted: the caller asks again when there is room */
    if (rc)
        return rc;
    struct load *e = &s->loads[s->load_tail++ % LOADS_MAX];
    memset(e, 0, sizeof(*e));
    e->st.instance = instance;
    memcpy(e->st.uuid, uuid, n);
    send_loads(s);
    return 0;
}

static void redis_round_end(void *ctx)
{
    struct fsa_store_redis *s = ctx;
    s->round_open = false;
    if (s->state != FSA_STORE_REDIS_UP || stage_emit(s) != 0)
        return;
    send_expires(s);
    (void)io_step(s, fsa_mono_ns());
}

/* Answered loads go to `loaded`, oldest first. */
static void deliver_loads(struct fsa_store_redis *s, fsa_store_loaded_fn loaded, void *arg)
{
    while (s->load_head != s->load_done) {
        /* A copy: the callback may queue a load into the slot this answer leaves. */
        struct load e = s->loads[s->load_head % LOADS_MAX];
        if (e.result == FSA_STORE_LOAD_HIT_OLD && s->state == FSA_STORE_REDIS_UP)
            send_del_old(s, &e.st);
        s->load_head++;
        if (loaded)
            loaded(arg, &e.st, e.result);
    }
}

static void redis_poll(void *ctx, fsa_store_loaded_fn loaded, void *arg)
{
    struct fsa_store_redis *s = ctx;
    if (ensure_up(s, 0)) { /* down: one connect attempt when the backoff allows it */
        if (!s->round_open && stage_emit(s) == 0) /* a round_end that found no room */
            send_expires(s);
        send_loads(s);
        if (!s->round_open)
            send_sweep(s);
        /*
         * The clock is read after stage_emit, which may have stepped the
         * connection itself: an earlier `now` than its would wrap the
         * unsigned no-reply arithmetic in io_step.
         */
        if (io_step(s, fsa_mono_ns()))
            send_loads(s);
    }
    deliver_loads(s, loaded, arg);
}

static bool redis_busy(void *ctx)
{
    const struct fsa_store_redis *s = ctx;
    return s->load_head != s->load_tail || s->nq || s->expire_owed || s->stage_args || s->sweeping ||
           s->nsweep_pending || s->ngone;
}

static void redis_sweep(void *ctx, uint16_t instance, fsa_store_keep_fn keep, void *arg)
{
    struct fsa_store_redis *s = ctx;
    if (!keep)
        return;
    s->keep = keep;
    s->keep_arg = arg;
    if (!(s->sweep_pending[instance / 64] & (1ull << (instance % 64)))) {
        s->sweep_pending[instance / 64] |= 1ull << (instance % 64);
        s->nsweep_pending++;
    }
}

static uint64_t redis_epoch(void *ctx)
{
    const struct fsa_store_redis *s = ctx;
    return s->epoch;
}

static void redis_drain(void *ctx, uint64_t deadline_ns, fsa_store_loaded_fn loaded, void *arg)
{
    struct fsa_store_redis *s = ctx;
    while (s->state == FSA_STORE_REDIS_UP && fsa_mono_ns() < deadline_ns) {
        int rc = stage_emit(s);
        if (rc == 0)
            send_expires(s);
        send_loads(s);
        if (!s->nq && !s->stage_args && !s->expire_owed && s->load_sent == s->load_tail)
            break;
        if (!io_wait(s, s->answered + (s->nq ? 1 : 0), deadline_ns))
            break;
    }
    deliver_loads(s, loaded, arg);
}

const struct fsa_store_ops fsa_store_redis_ops = {
    .name = "redis",
    .persistent = true,
    .load = redis_load,
    .save = redis_save,
    .del = redis_del,
    .round_end = redis_round_end,
    .poll = redis_poll,
    .busy = redis_busy,
    .epoch = redis_epoch,
    .sweep = redis_sweep,
    .drain = redis_drain,
};

/* ---- create / destroy / stats ------------------------------------------------------------------------------ */

static void copy_cstr(char *dst, size_t cap, const char *src, const char *dflt)
{
    snprintf(dst, cap, "%s", src && src[0] ? src : dflt);
}

struct fsa_store_redis *fsa_store_redis_create(const struct fsa_store_redis_params *p)
{
    if (!p->host || !p->host[0] || strlen(p->host) >= 256 || (p->password && strlen(p->password) >= 256) ||
        (p->username && strlen(p->username) >= 128) || p->db < 0)
        return NULL;
    struct fsa_store_redis *s = aligned_alloc(FSA_CACHELINE, sizeof(*s));
    if (!s)
        return NULL;
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < C_COUNT; i++)
        atomic_init(&s->ctr[i], 0);
    copy_cstr(s->host, sizeof(s->host), p->host, "");
    copy_cstr(s->username, sizeof(s->username), p->username, "");
    if (p->sentinel_master && p->sentinel_master[0] && p->nsentinels) {
        copy_cstr(s->sentinel_master, sizeof(s->sentinel_master), p->sentinel_master, "");
        for (unsigned i = 0; i < p->nsentinels && i < SENTINELS_MAX; i++)
            copy_cstr(s->sentinels[i], sizeof(s->sentinels[i]), p->sentinels[i], "");
        s->nsentinels = p->nsentinels < SENTINELS_MAX ? p->nsentinels : SENTINELS_MAX;
        copy_cstr(s->sentinel_password, sizeof(s->sentinel_password), p->sentinel_password, "");
        s->host[0] = '\0'; /* not known until a Sentinel names it */
    }
    copy_cstr(s->password, sizeof(s->password), p->password, "");
    s->port = p->port ? p->port : 6379;
    s->db = p->db;
    s->ttl_s = p->ttl_s ? p->ttl_s : FSA_STORE_REDIS_DEFAULT_TTL_S;
    s->timeout_ms = p->timeout_ms ? p->timeout_ms : FSA_STORE_REDIS_DEFAULT_TIMEOUT_MS;
    s->timeout_ns = (uint64_t)s->timeout_ms * 1000000u;
    s->max_pending = p->max_pending ? p->max_pending : FSA_STORE_REDIS_DEFAULT_MAX_PENDING;
    if (s->max_pending < 4)
        s->max_pending = 4; /* a load is two commands */
    unsigned bmin = p->backoff_min_ms ? p->backoff_min_ms : FSA_STORE_REDIS_DEFAULT_BACKOFF_MIN_MS;
    unsigned bmax = p->backoff_max_ms ? p->backoff_max_ms : FSA_STORE_REDIS_DEFAULT_BACKOFF_MAX_MS;
    s->backoff_min_ns = (uint64_t)bmin * 1000000u;
    s->backoff_max_ns = (uint64_t)(bmax > bmin ? bmax : bmin) * 1000000u;
    copy_cstr(s->prefix, sizeof(s->prefix), p->key_prefix, FSA_STORE_REDIS_DEFAULT_PREFIX);
    s->prefix_len = strlen(s->prefix);
    copy_cstr(s->label, sizeof(s->label), p->label, "redis");
    s->log = p->log;
    s->log_ctx = p->log_ctx;
    if (p->tls) {
        char why[256];
        copy_cstr(s->tls_server_name, sizeof(s->tls_server_name), p->tls_server_name, "");
        if (!(s->tls_ctx = tls_ctx_new(p, why, sizeof(why)))) {
            say(s, true, "Redis TLS cannot be set up: %s", why);
            fsa_store_redis_destroy(s);
            return NULL;
        }
    }
    s->fd = -1;
    s->ring_cap = s->max_pending + 1;
    s->out = malloc(OUT_CAP);
    s->ring = calloc(s->ring_cap, sizeof(*s->ring));
    s->loads = calloc(LOADS_MAX, sizeof(*s->loads));
    s->stage = malloc(STAGE_CAP);
    s->touched = calloc(TOUCHED_WORDS, sizeof(*s->touched));
    s->sweep_pending = calloc(TOUCHED_WORDS, sizeof(*s->sweep_pending));
    s->gone = calloc(GONE_MAX, sizeof(*s->gone));
    s->nnames = p->instance_names ? p->ninstances : 0;
    s->names = calloc(s->nnames ? s->nnames : 1, sizeof(*s->names));
    if (!s->out || !s->ring || !s->loads || !s->stage || !s->touched || !s->sweep_pending || !s->gone || !s->names || !reader_renew(s)) {
        fsa_store_redis_destroy(s);
        return NULL;
    }
    for (unsigned i = 0; i < s->nnames; i++)
        copy_cstr(s->names[i], sizeof(s->names[i]), p->instance_names[i], "");
    for (int f = 0; f < F_COUNT; f++) {
        struct wbuf w = {s->field_resp[f], s->field_resp[f] + sizeof(s->field_resp[f]), true, false};
        w_lit(&w, field_names[f]);
        if (!w.ok) { /* a field name too long for field_resp: a programming error, caught by every test */
            fsa_store_redis_destroy(s);
            return NULL;
        }
        s->field_resp_len[f] = (uint8_t)(w.p - s->field_resp[f]);
    }
    reply_reset(s);
    return s;
}

void fsa_store_redis_destroy(struct fsa_store_redis *s)
{
    if (!s)
        return;
    if (s->state == FSA_STORE_REDIS_UP)
        redis_drain(s, fsa_mono_ns() + s->timeout_ns, NULL, NULL);
    SSL_free(s->ssl);
    SSL_CTX_free(s->tls_ctx);
    if (s->rc)
        redisFree(s->rc);
    if (s->reader)
        redisReaderFree(s->reader);
    explicit_bzero(s->password, sizeof(s->password));
    explicit_bzero(s->sentinel_password, sizeof(s->sentinel_password));
    free(s->out);
    free(s->ring);
    free(s->loads);
    free(s->stage);
    free(s->touched);
    free(s->sweep_pending);
    free(s->gone);
    free(s->names);
    free(s);
}

struct fsa_store fsa_store_redis_store(struct fsa_store_redis *s)
{
    return (struct fsa_store){&fsa_store_redis_ops, s};
}

void fsa_store_redis_stats_read(const struct fsa_store_redis *s, struct fsa_store_redis_stats *o)
{
#define R(i) atomic_load_explicit(&s->ctr[i], memory_order_relaxed)
    memset(o, 0, sizeof(*o));
    for (int op = 0; op < FSA_STORE_OP_COUNT; op++)
        for (int r = 0; r < FSA_STORE_RESULT_COUNT; r++)
            o->ops[op][r] = R(C_OPS + op * FSA_STORE_RESULT_COUNT + r);
    o->load_hits = R(C_LOAD_HITS);
    o->connects = R(C_CONNECTS);
    o->connect_failures = R(C_CONNECT_FAILURES);
    o->reconnects = R(C_RECONNECTS);
    o->pending = R(C_PENDING);
    o->failovers = R(C_FAILOVERS);
    o->sentinel_failures = R(C_SENTINEL_FAILURES);
    o->unreadable = R(C_UNREADABLE);
    o->load_hits_old = R(C_LOAD_HITS_OLD);
    o->commands = R(C_COMMANDS);
    o->swept = R(C_SWEPT);
    o->state = (unsigned)R(C_STATE);
#undef R
}

const char *fsa_store_op_name(enum fsa_store_op op)
{
    static const char *const n[FSA_STORE_OP_COUNT] = {"load", "save", "delete"};
    return (unsigned)op < FSA_STORE_OP_COUNT ? n[op] : "?";
}

const char *fsa_store_result_name(enum fsa_store_result r)
{
    static const char *const n[FSA_STORE_RESULT_COUNT] = {"ok", "error", "dropped"};
    return (unsigned)r < FSA_STORE_RESULT_COUNT ? n[r] : "?";
}

const char *fsa_store_redis_state_name(enum fsa_store_redis_state st)
{
    static const char *const n[] = {"init", "up", "down"};
    return (unsigned)st < sizeof(n) / sizeof(n[0]) ? n[st] : "?";
}
