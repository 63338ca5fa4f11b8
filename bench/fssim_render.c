/*
 * fssim_render.c: turning templates into ESL event frames, byte for byte as
 * FreeSWITCH 1.11 serialises them.
 *
 * Plain (switch_event_serialize): "Name: url_encoded_value\n" per header in
 * order, then "\n"; an event with a body ends "Content-Length: N\n\n<body>"
 * instead. JSON (switch_event_serialize_json): one flat object
 * {"Name":"value",...} with cJSON string escaping, no trailing newline; values
 * "ARRAY::a|:b" become ["a","b"]; a body adds "Content-Length" and "_body".
 * The frame around either is "Content-Length: N\nContent-Type: text/event-X\n\n".
 *
 * The two value encoders below were checked against every event of the real
 * captures by scripts/gen_fssim_templates.py (same rules, in Python): the plain
 * capture equals url_encode(raw) for all 1785 events, and the JSON capture
 * re-serialises byte for byte.
 *
 * Templates are compiled once: each header value becomes a list of segments,
 * literal runs (pre-encoded for both formats) and {{TOKEN}}s filled per event.
 */
#include "fssim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- buffers */

void fssim_buf_reserve(struct fssim_buf *b, size_t add)
{
    if (b->cap - b->n >= add)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < add)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        fprintf(stderr, "fssim: out of memory (%zu bytes)\n", cap);
        abort();
    }
    b->p = p;
    b->cap = cap;
}

void fssim_buf_put(struct fssim_buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    fssim_buf_reserve(b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

void fssim_buf_puts(struct fssim_buf *b, const char *s)
{
    fssim_buf_put(b, s, strlen(s));
}

void fssim_buf_putc(struct fssim_buf *b, char c)
{
    fssim_buf_reserve(b, 1);
    b->p[b->n++] = c;
}

void fssim_buf_printf(struct fssim_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need <= 0)
        return;
    fssim_buf_reserve(b, (size_t)need + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

void fssim_buf_u64(struct fssim_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    fssim_buf_put(b, tmp + i, sizeof(tmp) - i);
}

void fssim_buf_free(struct fssim_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---------------------------------------------------------------- event names */

const char *const fssim_event_names[] = {
    "CUSTOM",
    "CLONE",
    "CHANNEL_CREATE",
    "CHANNEL_DESTROY",
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "API",
    "LOG",
    "INBOUND_CHAN",
    "OUTBOUND_CHAN",
    "STARTUP",
    "SHUTDOWN",
    "PUBLISH",
    "UNPUBLISH",
    "TALK",
    "NOTALK",
    "SESSION_CRASH",
    "MODULE_LOAD",
    "MODULE_UNLOAD",
    "DTMF",
    "MESSAGE",
    "PRESENCE_IN",
    "NOTIFY_IN",
    "PRESENCE_OUT",
    "PRESENCE_PROBE",
    "MESSAGE_WAITING",
    "MESSAGE_QUERY",
    "ROSTER",
    "CODEC",
    "BACKGROUND_JOB",
    "DETECTED_SPEECH",
    "DETECTED_TONE",
    "PRIVATE_COMMAND",
    "HEARTBEAT",
    "TRAP",
    "ADD_SCHEDULE",
    "DEL_SCHEDULE",
    "EXE_SCHEDULE",
    "RE_SCHEDULE",
    "RELOADXML",
    "NOTIFY",
    "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE",
    "SEND_MESSAGE",
    "RECV_MESSAGE",
    "REQUEST_PARAMS",
    "CHANNEL_DATA",
    "GENERAL",
    "COMMAND",
    "SESSION_HEARTBEAT",
    "CLIENT_DISCONNECTED",
    "SERVER_DISCONNECTED",
    "SEND_INFO",
    "RECV_INFO",
    "RECV_RTCP_MESSAGE",
    "SEND_RTCP_MESSAGE",
    "CALL_SECURE",
    "NAT",
    "RECORD_START",
    "RECORD_STOP",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CALL_UPDATE",
    "FAILURE",
    "SOCKET_DATA",
    "MEDIA_BUG_START",
    "MEDIA_BUG_STOP",
    "CONFERENCE_DATA_QUERY",
    "CONFERENCE_DATA",
    "CALL_SETUP_REQ",
    "CALL_SETUP_RESULT",
    "CALL_DETAIL",
    "DEVICE_STATE",
    "TEXT",
    "SHUTDOWN_REQUESTED",
    "ALL",
};
const int fssim_event_count = (int)(sizeof(fssim_event_names) / sizeof(fssim_event_names[0]));

/* Like switch_name_event(): exact name, case-insensitive, or with "SWITCH_EVENT_" in front. */
int fssim_event_kind(const char *name, size_t n)
{
    if (n > 13 && strncasecmp(name, "SWITCH_EVENT_", 13) == 0) {
        name += 13;
        n -= 13;
    }
    for (int i = 0; i < fssim_event_count; i++) {
        if (strlen(fssim_event_names[i]) == n && strncasecmp(name, fssim_event_names[i], n) == 0)
            return i;
    }
    return -1;
}

/* ---------------------------------------------------------------- PRNG */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fssim_rng_seed(struct fssim_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t fssim_rng_next(struct fssim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double fssim_rng_unit(struct fssim_rng *r)
{
    return (double)(fssim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

void fssim_rng_uuid(struct fssim_rng *r, char out[37])
{
    uint64_t hi = fssim_rng_next(r), lo = fssim_rng_next(r);
    hi = (hi & ~0xf000ULL) | 0x4000ULL;                        /* version 4 */
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; /* variant 10 */
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32), (unsigned)((hi >> 16) & 0xffff),
             (unsigned)(hi & 0xffff), (unsigned)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffULL));
}

/* ---------------------------------------------------------------- encoders */

static const char HEXU[] = "0123456789ABCDEF";

static bool is_hexu(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/*
 * switch_url_encode() (double_encode off): escape bytes < ' ', > '~' and the
 * SWITCH_URL_UNSAFE set; a '%' already followed by two upper-case hex digits
 * is left alone (that is why decoding is not always exact).
 */
void fssim_url_encode(struct fssim_buf *out, const char *p, size_t n)
{
    static bool init;
    static bool unsafe[256];
    if (!init) {
        for (int c = 0; c < 256; c++)
            unsafe[c] = c < ' ' || c > '~';
        for (const char *u = "\r\n #%&+:;<=>?@[\\]^`{|}\""; *u; u++)
            unsafe[(unsigned char)*u] = true;
        init = true;
    }
    fssim_buf_reserve(out, n * 3);
    char *w = out->p + out->n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%' && i + 2 < n && is_hexu(p[i + 1]) && is_hexu(p[i + 2])) {
            *w++ = '%';
        } else if (unsafe[c]) {
            *w++ = '%';
            *w++ = HEXU[c >> 4];
            *w++ = HEXU[c & 15];
        } else {
            *w++ = (char)c;
        }
    }
    out->n = (size_t)(w - out->p);
}

/* cJSON print_string_ptr() without the surrounding quotes. */
static void json_escape(struct fssim_buf *out, const char *p, size_t n)
{
    fssim_buf_reserve(out, n * 6);
    char *w = out->p + out->n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 32 && c != '"' && c != '\\') {
            *w++ = (char)c;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '\b': *w++ = 'b'; break;
        case '\f': *w++ = 'f'; break;
        case '\n': *w++ = 'n'; break;
        case '\r': *w++ = 'r'; break;
        case '\t': *w++ = 't'; break;
        default: w += sprintf(w, "u%04x", c); break;
        }
    }
    out->n = (size_t)(w - out->p);
}

void fssim_json_string(struct fssim_buf *out, const char *p, size_t n)
{
    fssim_buf_putc(out, '"');
    json_escape(out, p, n);
    fssim_buf_putc(out, '"');
}

/* ---------------------------------------------------------------- clocks and dates */

uint64_t fssim_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t fssim_real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* "%Y-%m-%d %H:%M:%S" in local time, as switch_strftime_nocheck("%Y-%m-%d %T"). Cached per second. */
void fssim_fmt_local(struct fssim_buf *out, uint64_t us)
{
    static time_t last = (time_t)-1;
    static char cached[96];
    time_t t = (time_t)(us / 1000000);
    if (t != last) {
        struct tm tm;
        localtime_r(&t, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        last = t;
    }
    fssim_buf_puts(out, cached);
}

/* RFC 822 date in GMT ("Tue, 24 Nov 2026 00:54:12 GMT"), locale-independent. */
void fssim_fmt_gmt(struct fssim_buf *out, uint64_t us)
{
    static const char *const dow[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static time_t last = (time_t)-1;
    static char cached[96];
    time_t t = (time_t)(us / 1000000);
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(cached, sizeof(cached), "%s, %02d %s %04d %02d:%02d:%02d GMT", dow[tm.tm_wday % 7], tm.tm_mday,
                 mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        last = t;
    }
    fssim_buf_puts(out, cached);
}

/* ---------------------------------------------------------------- template compile */

struct seg {
    int tok;               /* FSSIM_TOK_COUNT = literal */
    size_t off[2], len[2]; /* literal: pre-encoded plain / json bytes in lit_pool */
};

struct chdr {
    const char *name;
    size_t name_len;
    int cond;
    bool is_array;
    size_t nseg;
    struct seg *seg;
};

struct ctpl {
    struct chdr *h;
    size_t n;
};

static struct ctpl ctpls[FSSIM_TPL_COUNT];
static struct fssim_buf lit_pool;
static bool compiled;

#define FSSIM_TOK_NAME(n) #n,
static const char *const tok_names[FSSIM_TOK_COUNT] = {FSSIM_TOKENS(FSSIM_TOK_NAME)};
#undef FSSIM_TOK_NAME

static int tok_lookup(const char *p, size_t n)
{
    for (int i = 0; i < FSSIM_TOK_COUNT; i++) {
        if (strlen(tok_names[i]) == n && memcmp(tok_names[i], p, n) == 0)
            return i;
    }
    return -1;
}

static void add_literal(struct chdr *h, const char *p, size_t n, size_t *cap)
{
    if (!n)
        return;
    if (h->nseg == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        h->seg = realloc(h->seg, *cap * sizeof(*h->seg));
        if (!h->seg)
            abort();
    }
    struct seg *s = &h->seg[h->nseg++];
    s->tok = FSSIM_TOK_COUNT;
    s->off[0] = lit_pool.n;
    fssim_url_encode(&lit_pool, p, n);
    s->len[0] = lit_pool.n - s->off[0];
    s->off[1] = lit_pool.n;
    json_escape(&lit_pool, p, n);
    s->len[1] = lit_pool.n - s->off[1];
}

const char *fssim_tpl_compile(void)
{
    if (compiled)
        return NULL;
    for (int t = 0; t < FSSIM_TPL_COUNT; t++) {
        const struct fssim_tpl *tp = &fssim_templates[t];
        if (!tp->hdrs || !tp->n)
            return "template missing (regenerate bench/fssim_templates.c)";
        struct ctpl *ct = &ctpls[t];
        ct->n = tp->n;
        ct->h = calloc(tp->n, sizeof(*ct->h));
        if (!ct->h)
            abort();
        for (size_t i = 0; i < tp->n; i++) {
            struct chdr *h = &ct->h[i];
            const char *v = tp->hdrs[i].value;
            size_t cap = 0;
            h->name = tp->hdrs[i].name;
            h->name_len = strlen(h->name);
            h->cond = tp->hdrs[i].cond;
            h->is_array = strncmp(v, "ARRAY::", 7) == 0;
            /*
             * A literal '%' could join with a token's first bytes into "%XX", which the
             * encoder would then keep; none of the captured literals has one, keep it so.
             */
            if (strchr(v, '%'))
                return "template literal contains '%'";
            const char *lit = v;
            for (const char *p = v; *p;) {
                if (p[0] == '{' && p[1] == '{') {
                    const char *e = strstr(p + 2, "}}");
                    if (!e)
                        return "unterminated {{token}} in a template";
                    int tok = tok_lookup(p + 2, (size_t)(e - p - 2));
                    if (tok < 0) {
                        fprintf(stderr, "fssim: unknown template token %.*s\n", (int)(e - p - 2), p + 2);
                        return "unknown template token";
                    }
                    add_literal(h, lit, (size_t)(p - lit), &cap);
                    if (h->nseg == cap) {
                        cap = cap ? cap * 2 : 4;
                        h->seg = realloc(h->seg, cap * sizeof(*h->seg));
                        if (!h->seg)
                            abort();
                    }
                    h->seg[h->nseg].tok = tok;
                    h->seg[h->nseg].len[0] = h->seg[h->nseg].len[1] = 0;
                    h->nseg++;
                    p = e + 2;
                    lit = p;
                } else {
                    p++;
                }
            }
            add_literal(h, lit, strlen(lit), &cap);
        }
    }
    compiled = true;
    return NULL;
}

/* ---------------------------------------------------------------- rendering */

static struct fssim_buf scratch_body, scratch_raw;

static void put_value(struct fssim_buf *out, enum fssim_fmt fmt, const struct chdr *h, fssim_tok_fn *tok,
                      const void *ctx)
{
    int f = fmt == FSSIM_FMT_JSON ? 1 : 0;
    for (size_t s = 0; s < h->nseg; s++) {
        const struct seg *sg = &h->seg[s];
        if (sg->tok == FSSIM_TOK_COUNT) {
            fssim_buf_put(out, lit_pool.p + sg->off[f], sg->len[f]);
            continue;
        }
        scratch_raw.n = 0;
        tok(&scratch_raw, (enum fssim_tok)sg->tok, ctx);
        if (f)
            json_escape(out, scratch_raw.p, scratch_raw.n);
        else
            fssim_url_encode(out, scratch_raw.p, scratch_raw.n);
    }
}

/* JSON for "ARRAY::a|:b": render the raw value, then split it like switch_event does. */
static void put_json_array(struct fssim_buf *out, const struct chdr *h, fssim_tok_fn *tok, const void *ctx)
{
    struct fssim_buf raw = {0};
    for (size_t s = 0; s < h->nseg; s++) {
        const struct seg *sg = &h->seg[s];
        if (sg->tok == FSSIM_TOK_COUNT) {
            fssim_buf_put(&raw, lit_pool.p + sg->off[1], sg->len[1]);
        } else {
            scratch_raw.n = 0;
            tok(&scratch_raw, (enum fssim_tok)sg->tok, ctx);
            json_escape(&raw, scratch_raw.p, scratch_raw.n);
        }
    }
    /* raw now holds the JSON-escaped text "ARRAY::a|:b"; "|:" never needs escaping */
    const char *p = raw.p + 7, *end = raw.p + raw.n;
    fssim_buf_putc(out, '[');
    bool first = true;
    while (p <= end) {
        const char *sep = NULL;
        for (const char *q = p; q + 1 < end; q++) {
            if (q[0] == '|' && q[1] == ':') {
                sep = q;
                break;
            }
        }
        const char *e = sep ? sep : end;
        if (!first)
            fssim_buf_putc(out, ',');
        first = false;
        fssim_buf_putc(out, '"');
        fssim_buf_put(out, p, (size_t)(e - p));
        fssim_buf_putc(out, '"');
        if (!sep)
            break;
        p = sep + 2;
    }
    fssim_buf_putc(out, ']');
    fssim_buf_free(&raw);
}

size_t fssim_render_frame(struct fssim_buf *out, enum fssim_fmt fmt, int tpl, unsigned cond_mask, fssim_tok_fn *tok,
                          const void *ctx, const char *body, size_t body_len)
{
    const struct ctpl *ct = &ctpls[tpl];
    struct fssim_buf *b = &scratch_body;
    b->n = 0;
    if (fmt == FSSIM_FMT_JSON) {
        fssim_buf_putc(b, '{');
        bool first = true;
        for (size_t i = 0; i < ct->n; i++) {
            const struct chdr *h = &ct->h[i];
            if (h->cond && !(cond_mask & (1u << h->cond)))
                continue;
            if (!first)
                fssim_buf_putc(b, ',');
            first = false;
            fssim_json_string(b, h->name, h->name_len);
            fssim_buf_putc(b, ':');
            if (h->is_array) {
                put_json_array(b, h, tok, ctx);
            } else {
                fssim_buf_putc(b, '"');
                put_value(b, fmt, h, tok, ctx);
                fssim_buf_putc(b, '"');
            }
        }
        if (fssim_templates[tpl].has_body && body) {
            fssim_buf_printf(b, ",\"Content-Length\":\"%zu\",\"_body\":", body_len);
            fssim_json_string(b, body, body_len);
        }
        fssim_buf_putc(b, '}');
    } else {
        for (size_t i = 0; i < ct->n; i++) {
            const struct chdr *h = &ct->h[i];
            if (h->cond && !(cond_mask & (1u << h->cond)))
                continue;
            fssim_buf_put(b, h->name, h->name_len);
            fssim_buf_put(b, ": ", 2);
            put_value(b, fmt, h, tok, ctx);
            fssim_buf_putc(b, '\n');
        }
        if (fssim_templates[tpl].has_body && body && body_len) {
            fssim_buf_printf(b, "Content-Length: %zu\n\n", body_len);
            fssim_buf_put(b, body, body_len);
        } else {
            fssim_buf_putc(b, '\n');
        }
    }
    size_t start = out->n;
    fssim_buf_printf(out, "Content-Length: %zu\nContent-Type: text/event-%s\n\n", b->n,
                     fmt == FSSIM_FMT_JSON ? "json" : "plain");
    fssim_buf_put(out, b->p, b->n);
    return start;
}
