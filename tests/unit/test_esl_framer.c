/*
 * ESL framer against the real captures and hostile input.
 *
 * The capture counts below were derived independently of this code (Python:
 * split on "\n\n", take Content-Length bytes) and match the fixture README:
 *   fs-plain-all.raw: 1791 frames = 1 auth/request, 3 command/reply,
 *     1 api/response (Content-Length: 335), 1785 text/event-plain,
 *     1 text/disconnect-notice (Content-Length: 67); 7052536 bytes, no tail.
 *   fs-json-all.raw: the same with 1785 text/event-json; 7278566 bytes.
 * Every chunked run (random read sizes, a reader buffer that compacts and
 * moves) must reproduce the one-buffer run frame by frame.
 */
#include "engine/esl.h"
#include "fsa_test.h"

#include <stdint.h>
#include <time.h>

/* ---- reference run and chunked runs ------------------------------------------------------------------------ */

struct frame_rec {
    enum esl_content_type type;
    size_t consumed;
    size_t body_len;
    uint64_t hash; /* of headers and body, to compare runs */
};

struct run {
    struct frame_rec *v;
    size_t n, cap;
    size_t total;
    int errors;
    char reply[3][64];
    size_t nreply;
};

static uint64_t frame_hash(const struct esl_frame *f)
{
    uint64_t h = fsa_hash64(f->headers.p, f->headers.n);
    return h ^ (fsa_hash64(f->body.p, f->body.n) * 31) ^ f->type;
}

static void record(struct run *r, const struct esl_frame *f, size_t consumed)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 2048;
        r->v = realloc(r->v, r->cap * sizeof(r->v[0]));
    }
    r->v[r->n++] = (struct frame_rec){f->type, consumed, f->body.n, frame_hash(f)};
    r->total += consumed;
    if (f->type == ESL_CT_COMMAND_REPLY && r->nreply < 3)
        fsa_str_copy(r->reply[r->nreply++], sizeof(r->reply[0]), f->reply_text);
}

static void run_free(struct run *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* Whole file in one buffer. */
static void run_whole(const char *data, size_t len, size_t max_frame, struct run *r)
{
    struct esl_framer f;
    esl_framer_init(&f, max_frame);
    size_t off = 0;
    for (;;) {
        struct esl_frame fr;
        size_t used = 0;
        const char *err = NULL;
        int rc = esl_framer_next(&f, data + off, len - off, &fr, &used, &err);
        if (rc < 0) {
            fprintf(stderr, "framer error at %zu: %s\n", off, err);
            r->errors++;
            return;
        }
        if (rc == 0)
            break;
        record(r, &fr, used);
        off += used;
    }
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/*
 * Simulates a reactor: reads of the sizes chunk() gives are appended to a
 * buffer; whole frames are taken from its start; the rest is compacted to
 * the front. The buffer grows when a read does not fit, and at random
 * moments the pending bytes move to a fresh allocation and the old one is
 * freed: under ASan (freed memory is quarantined) any pointer the framer
 * kept across calls becomes a use-after-free report.
 */
static void run_chunked(const char *data, size_t len, size_t max_frame, size_t (*chunk)(void), struct run *r)
{
    struct esl_framer f;
    esl_framer_init(&f, max_frame);
    uint64_t move_rng = 0x1234567u ^ len;
    size_t cap = 4096;
    char *buf = malloc(cap);
    size_t have = 0, pos = 0;
    while (pos < len) {
        size_t n = chunk();
        if (n > len - pos)
            n = len - pos;
        move_rng = move_rng * 6364136223846793005ull + 1442695040888963407ull;
        if (have + n > cap || (move_rng >> 58) == 0) { /* grow, or move 1 time in 64 */
            if (have > max_frame) {
                fprintf(stderr, "%zu bytes pending: the framer did not bound the frame\n", have);
                r->errors++;
                break;
            }
            size_t ncap = have + n + 4096;
            char *nb = malloc(ncap);
            memcpy(nb, buf, have);
            free(buf);
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + have, data + pos, n);
        have += n;
        pos += n;
        size_t off = 0;
        for (;;) {
            struct esl_frame fr;
            size_t used = 0;
            const char *err = NULL;
            int rc = esl_framer_next(&f, buf + off, have - off, &fr, &used, &err);
            if (rc < 0) {
                fprintf(stderr, "framer error at %zu: %s\n", pos, err);
                r->errors++;
                free(buf);
                return;
            }
            if (rc == 0)
                break;
            record(r, &fr, used);
            off += used;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    if (have != 0) {
        fprintf(stderr, "%zu bytes left unframed\n", have);
        r->errors++;
    }
    free(buf);
}

static size_t chunk_one(void)
{
    return 1;
}
static size_t chunk_any(void) /* 1 B .. 64 KiB, uniform */
{
    return 1 + (size_t)(rng() % 65536);
}
static size_t chunk_small(void) /* mostly tiny reads: stresses resumption */
{
    uint64_t x = rng();
    switch (x % 4) {
    case 0: return 1;
    case 1: return 1 + (size_t)((x >> 8) % 16);
    case 2: return 1 + (size_t)((x >> 8) % 512);
    default: return 1 + (size_t)((x >> 8) % 8192);
    }
}

static void check_same(const struct run *ref, const struct run *r, const char *what)
{
    CHECK_EQ_U64(r->errors, 0);
    CHECK_EQ_U64(r->n, ref->n);
    CHECK_EQ_U64(r->total, ref->total);
    size_t bad = 0;
    for (size_t i = 0; i < r->n && i < ref->n; i++)
        if (r->v[i].type != ref->v[i].type || r->v[i].consumed != ref->v[i].consumed || r->v[i].hash != ref->v[i].hash)
            bad++;
    if (bad)
        fprintf(stderr, "%s: %zu frames differ from the one-buffer run\n", what, bad);
    CHECK_EQ_U64(bad, 0);
}

static void test_capture(const char *name, enum esl_content_type event_type, size_t expect_total,
                         const char *subscribe_reply)
{
    size_t len;
    char *data = fsa_test_read_file(fsa_test_fixture(name), &len);
    CHECK_EQ_U64(len, expect_total);
    const size_t max_frame = 1 << 20;

    struct run ref = {0};
    run_whole(data, len, max_frame, &ref);
    CHECK_EQ_U64(ref.errors, 0);
    CHECK_EQ_U64(ref.n, 1791);
    CHECK_EQ_U64(ref.total, expect_total);
    size_t counts[ESL_CT_RUDE_REJECTION + 1] = {0};
    for (size_t i = 0; i < ref.n; i++)
        counts[ref.v[i].type]++;
    CHECK_EQ_U64(counts[ESL_CT_AUTH_REQUEST], 1);
    CHECK_EQ_U64(counts[ESL_CT_COMMAND_REPLY], 3);
    CHECK_EQ_U64(counts[ESL_CT_API_RESPONSE], 1);
    CHECK_EQ_U64(counts[event_type], 1785);
    CHECK_EQ_U64(counts[ESL_CT_DISCONNECT_NOTICE], 1);
    CHECK_EQ_U64(counts[ESL_CT_NONE] + counts[ESL_CT_UNKNOWN], 0);
    CHECK_EQ_U64(ref.nreply, 3);
    CHECK_STR(ref.reply[0], "+OK accepted");
    CHECK_STR(ref.reply[1], subscribe_reply);
    CHECK_STR(ref.reply[2], "+OK bye");
    /* First frame "Content-Type: auth/request\n\n" (28 bytes), last the disconnect notice:
       "Content-Type: text/disconnect-notice\nContent-Length: 67\n\n" + 67 bytes of body. */
    CHECK_EQ_U64(ref.v[0].type, ESL_CT_AUTH_REQUEST);
    CHECK_EQ_U64(ref.v[0].consumed, 28);
    CHECK_EQ_U64(ref.v[ref.n - 1].type, ESL_CT_DISCONNECT_NOTICE);
    CHECK_EQ_U64(ref.v[ref.n - 1].body_len, 67);
    CHECK_EQ_U64(ref.v[ref.n - 1].consumed, 37 + 19 + 1 + 67);

    /* One byte per read over the whole file: linear work or this never ends. */
    struct run r1 = {0};
    run_chunked(data, len, max_frame, chunk_one, &r1);
    check_same(&ref, &r1, "1-byte reads");
    run_free(&r1);

    static const uint64_t seeds[] = {1, 0x9e3779b97f4a7c15ull, 42, 7777, 0xdeadbeef};
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
        struct run r = {0};
        rng_state = seeds[s];
        run_chunked(data, len, max_frame, s % 2 ? chunk_small : chunk_any, &r);
        check_same(&ref, &r, "random reads");
        run_free(&r);
    }
    run_free(&ref);
    free(data);
}

/*
 * Over a prefix of the capture, every call gets an exactly sized copy of
 * the pending bytes, so any read past len is an ASan report.
 */
static void test_exact_buffers(void)
{
    size_t len;
    char *data = fsa_test_read_file(fsa_test_fixture("fs-plain-all.raw"), &len);
    size_t prefix = len < 300000 ? len : 300000;
    rng_state = 12345;
    struct esl_framer f;
    esl_framer_init(&f, 1 << 20);
    size_t start = 0, have = 0, frames = 0, errors = 0;
    while (start + have < prefix) {
        size_t n = chunk_small();
        if (n > prefix - start - have)
            n = prefix - start - have;
        have += n;
        for (;;) {
            char *copy = malloc(have ? have : 1);
            memcpy(copy, data + start, have);
            struct esl_frame fr;
            size_t used = 0;
            const char *err = NULL;
            int rc = esl_framer_next(&f, copy, have, &fr, &used, &err);
            free(copy);
            if (rc < 0)
                errors++;
            if (rc != 1)
                break;
            frames++;
            start += used;
            have -= used;
        }
        if (errors)
            break;
    }
    CHECK_EQ_U64(errors, 0);
    struct run ref = {0};
    run_whole(data, prefix, 1 << 20, &ref); /* the frames wholly inside the prefix */
    CHECK(ref.n > 50);
    CHECK_EQ_U64(frames, ref.n);
    CHECK_EQ_U64(start, ref.total);
    run_free(&ref);
    free(data);
}

/* ---- synthetic cases --------------------------------------------------------------------------------------- */

/* Feeds s one byte more per call (exact-size copies); returns the rc of the last call made. */
struct feed_result {
    int rc;
    size_t at; /* bytes held at the call that returned rc */
    size_t consumed;
    const char *err;
    struct esl_frame frame;
    char copy[4096];
};

static void feed_bytewise(const char *s, size_t n, size_t max_frame, struct feed_result *res)
{
    struct esl_framer f;
    esl_framer_init(&f, max_frame);
    memset(res, 0, sizeof(*res));
    for (size_t have = 1; have <= n; have++) {
        char *copy = malloc(have);
        memcpy(copy, s, have);
        res->rc = esl_framer_next(&f, copy, have, &res->frame, &res->consumed, &res->err);
        res->at = have;
        if (res->rc == 1 && have <= sizeof(res->copy)) {
            /* keep the slices valid: rebase them onto res->copy */
            memcpy(res->copy, copy, have);
            struct fsa_str *sl[] = {&res->frame.content_type, &res->frame.reply_text, &res->frame.headers,
                                    &res->frame.body};
            for (size_t k = 0; k < 4; k++)
                if (sl[k]->p)
                    sl[k]->p = res->copy + (sl[k]->p - copy);
        }
        free(copy);
        if (res->rc != 0)
            return;
    }
}

/* One call with all of s. */
static int feed_once(const char *s, size_t n, size_t max_frame, struct esl_frame *fr, size_t *used, const char **err)
{
    struct esl_framer f;
    esl_framer_init(&f, max_frame);
    *err = NULL;
    return esl_framer_next(&f, s, n, fr, used, err);
}

#define LIT(s) s, sizeof(s) - 1

static void test_basic_frames(void)
{
    struct feed_result r;
    feed_bytewise(LIT("Content-Type: command/reply\nReply-Text: +OK accepted\n\n"), 1024, &r);
    CHECK_EQ_U64(r.rc, 1);
    CHECK_EQ_U64(r.at, 54);
    CHECK_EQ_U64(r.consumed, 54);
    CHECK_EQ_U64(r.frame.type, ESL_CT_COMMAND_REPLY);
    CHECK(FSA_STR_IS(r.frame.reply_text, "+OK accepted"));
    CHECK(FSA_STR_IS(r.frame.content_type, "command/reply"));
    CHECK(FSA_STR_IS(r.frame.headers, "Content-Type: command/reply\nReply-Text: +OK accepted\n"));
    CHECK_EQ_U64(r.frame.body.n, 0);

    /* api/response with a body; the next frame's bytes are not consumed */
    static const char two[] = "Content-Type: api/response\nContent-Length: 5\n\n+OK\n\nContent-Type: auth/request\n\n";
    struct esl_frame fr;
    size_t used;
    const char *err;
    CHECK_EQ_U64(feed_once(LIT(two), 1024, &fr, &used, &err), 1);
    CHECK_EQ_U64(used, 51);
    CHECK(FSA_STR_IS(fr.body, "+OK\n\n"));
    CHECK_EQ_U64(fr.type, ESL_CT_API_RESPONSE);
    CHECK_EQ_U64(fr.reply_text.n, 0);
    CHECK(fr.reply_text.p == NULL);

    /* every content type of esl.md, plus unknown and none */
    static const struct {
        const char *text;
        enum esl_content_type type;
    } cts[] = {
        {"Content-Type: auth/request\n\n", ESL_CT_AUTH_REQUEST},
        {"Content-Type: command/reply\n\n", ESL_CT_COMMAND_REPLY},
        {"Content-Type: api/response\n\n", ESL_CT_API_RESPONSE},
        {"Content-Type: text/event-plain\n\n", ESL_CT_EVENT_PLAIN},
        {"Content-Type: text/event-json\n\n", ESL_CT_EVENT_JSON},
        {"Content-Type: text/event-xml\n\n", ESL_CT_EVENT_XML},
        {"Content-Type: log/data\n\n", ESL_CT_LOG_DATA},
        {"Content-Type: text/disconnect-notice\n\n", ESL_CT_DISCONNECT_NOTICE},
        {"Content-Type: text/rude-rejection\n\n", ESL_CT_RUDE_REJECTION},
        {"Content-Type: text/event-plainX\n\n", ESL_CT_UNKNOWN},
        {"Content-Type: Text/Event-Plain\n\n", ESL_CT_UNKNOWN},
        {"Job-UUID: 1\n\n", ESL_CT_NONE},
    };
    for (size_t i = 0; i < sizeof(cts) / sizeof(cts[0]); i++) {
        CHECK_EQ_U64(feed_once(cts[i].text, strlen(cts[i].text), 1024, &fr, &used, &err), 1);
        CHECK_EQ_U64(fr.type, cts[i].type);
        CHECK_EQ_U64(used, strlen(cts[i].text));
    }

    /* Content-Length 0 and leading spaces after ':' */
    CHECK_EQ_U64(feed_once(LIT("Content-Length: 0\n\n"), 1024, &fr, &used, &err), 1);
    CHECK_EQ_U64(used, 19);
    CHECK_EQ_U64(feed_once(LIT("Content-Length:   3\n\nabc"), 1024, &fr, &used, &err), 1);
    CHECK(FSA_STR_IS(fr.body, "abc"));
    /* the first Content-Type wins */
    CHECK_EQ_U64(feed_once(LIT("Content-Type: auth/request\nContent-Type: log/data\n\n"), 1024, &fr, &used, &err), 1);
    CHECK_EQ_U64(fr.type, ESL_CT_AUTH_REQUEST);
    /* Content-Length counts bytes: 4 bytes of UTF-8 are 2 characters */
    CHECK_EQ_U64(feed_once(LIT("Content-Length: 4\n\n\xc3\xa9\xc3\xa9"), 1024, &fr, &used, &err), 1);
    CHECK_EQ_U64(fr.body.n, 4);
    /* a NUL in the body is fine */
    CHECK_EQ_U64(feed_once(LIT("Content-Length: 3\n\na\0b"), 1024, &fr, &used, &err), 1);
    CHECK_EQ_U64(fr.body.n, 3);
}

static void test_crlf_and_blank_lines(void)
{
    struct feed_result r;
    /* CRLF tolerated (libesl does): values lose their '\r', the blank line may be "\r\n" */
    feed_bytewise(LIT("Content-Type: command/reply\r\nReply-Text: +OK bye\r\nContent-Length: 2\r\n\r\nok"), 1024, &r);
    CHECK_EQ_U64(r.rc, 1);
    CHECK_EQ_U64(r.frame.type, ESL_CT_COMMAND_REPLY);
    CHECK(FSA_STR_IS(r.frame.reply_text, "+OK bye"));
    CHECK(FSA_STR_IS(r.frame.body, "ok"));
    CHECK_EQ_U64(r.consumed, 73);

    /* mixed: "\n" lines, "\r\n" blank line */
    feed_bytewise(LIT("Content-Type: auth/request\n\r\n"), 1024, &r);
    CHECK_EQ_U64(r.rc, 1);
    CHECK_EQ_U64(r.consumed, 29);
    CHECK_EQ_U64(r.frame.type, ESL_CT_AUTH_REQUEST);

    /* stray blank lines before a frame are consumed with it */
    feed_bytewise(LIT("\n\r\n\nContent-Type: auth/request\n\n"), 1024, &r);
    CHECK_EQ_U64(r.rc, 1);
    CHECK_EQ_U64(r.consumed, 32);
    CHECK(FSA_STR_IS(r.frame.headers, "Content-Type: auth/request\n"));

    /* ... and count towards the limit: 10 blank bytes with max_frame 10 are refused at the 10th */
    feed_bytewise(LIT("\n\n\n\n\n\n\n\n\n\nContent-Type: auth/request\n\n"), 10, &r);
    CHECK_EQ_U64(r.rc, (uint64_t)-1);
    CHECK_EQ_U64(r.at, 10);
    CHECK(r.err == ESL_ERR_FRAME_TOO_LARGE);

    /* ... also when the max-th byte is a '\r' that might start "\r\n" */
    feed_bytewise(LIT("\n\n\n\n\n\n\n\n\n\r\nContent-Type: auth/request\n\n"), 10, &r);
    CHECK_EQ_U64(r.rc, (uint64_t)-1);
    CHECK_EQ_U64(r.at, 10);
    CHECK(r.err == ESL_ERR_FRAME_TOO_LARGE);

    /* a lone '\r' not followed by '\n' starts a (bad) header line */
    feed_bytewise(LIT("\rX\n\n"), 1024, &r);
    CHECK_EQ_U64(r.rc, (uint64_t)-1);
    CHECK(r.err == ESL_ERR_BAD_HEADER_LINE);
}

static void test_limits(void)
{
    enum { MAX = 100 };
    char s[512];
    struct feed_result r;

    /* Header block with no end: refused the moment MAX bytes are held. */
    memset(s, 'x', sizeof(s));
    memcpy(s, "X-Long: ", 8);
    feed_bytewise(s, sizeof(s), MAX, &r);
    CHECK_EQ_U64(r.rc, (uint64_t)-1);
    CHECK_EQ_U64(r.at, MAX);
    CHECK(r.err == ESL_ERR_FRAME_TOO_LARGE);

    /* A header-only frame of exactly MAX bytes passes; MAX + 1 is refused at MAX bytes. */
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = MAX + (size_t)extra;
        memset(s, 'y', n);
        memcpy(s, "X-Pad: ", 7);
        s[n - 2] = '\n';
        s[n - 1] = '\n';
        feed_bytewise(s, n, MAX, &r);
        if (!extra) {
            CHECK_EQ_U64(r.rc, 1);
            CHECK_EQ_U64(r.consumed, MAX);
        } else {
            CHECK_EQ_U64(r.rc, (uint64_t)-1);
            CHECK_EQ_U64(r.at, MAX);
            CHECK(r.err == ESL_ERR_FRAME_TOO_LARGE);
        }
    }

    /* Header + body of exactly MAX bytes passes; with one more body byte, refused as soon as
       the header block is complete (before any body byte arrives). */
    for (int extra = 0; extra <= 1; extra++) {
        static const char hdr_fmt[] = "Content-Length: %d\n\n"; /* 20 bytes for 2 digits */
        int body = MAX - 20 + extra;
        int h = snprintf(s, sizeof(s), hdr_fmt, body);
        CHECK_EQ_U64(h, 20);
        memset(s + h, 'b', (size_t)body);
        feed_bytewise(s, (size_t)(h + body), MAX, &r);
        if (!extra) {
            CHECK_EQ_U64(r.rc, 1);
            CHECK_EQ_U64(r.consumed, MAX);
            CHECK_EQ_U64(r.frame.body.n, 80);
        } else {
            CHECK_EQ_U64(r.rc, (uint64_t)-1);
            CHECK_EQ_U64(r.at, 20);
            CHECK(r.err == ESL_ERR_FRAME_TOO_LARGE);
        }
    }

    /* A huge Content-Length (no overflow in header_len + length) */
    struct esl_frame fr;
    size_t used;
    const char *err;
    CHECK_EQ_U64(feed_once(LIT("Content-Length: 18446744073709551615\n\n"), MAX, &fr, &used, &err), (uint64_t)-1);
    CHECK(err == ESL_ERR_FRAME_TOO_LARGE);
    /* max_frame 0 refuses everything */
    CHECK_EQ_U64(feed_once(LIT("Content-Type: auth/request\n\n"), 0, &fr, &used, &err), (uint64_t)-1);
    CHECK(err == ESL_ERR_FRAME_TOO_LARGE);
}

static void test_bad_input(void)
{
    static const char *const bad_length[] = {
        "Content-Length: abc\n\n",
        "Content-Length: -1\n\n",
        "Content-Length: +5\n\n",
        "Content-Length: 5 \n\n",
        "Content-Length:\n\n",
        "Content-Length: 5x\n\n",
        "Content-Length: 0x10\n\n",
        "Content-Length: 1.0\n\n",
        "Content-Length: 99999999999999999999999\n\n",
        "Content-Length: 5\nContent-Length: 5\n\n12345",
    };
    struct esl_frame fr;
    size_t used;
    const char *err;
    for (size_t i = 0; i < sizeof(bad_length) / sizeof(bad_length[0]); i++) {
        CHECK_EQ_U64(feed_once(bad_length[i], strlen(bad_length[i]), 1 << 20, &fr, &used, &err), (uint64_t)-1);
        CHECK(err == ESL_ERR_BAD_CONTENT_LENGTH);
    }

    static const char *const bad_line[] = {
        "hello world\n\n",
        ": no name\n\n",
        "Content-Type: auth/request\ngarbage\n\n",
    };
    for (size_t i = 0; i < sizeof(bad_line) / sizeof(bad_line[0]); i++) {
        CHECK_EQ_U64(feed_once(bad_line[i], strlen(bad_line[i]), 1 << 20, &fr, &used, &err), (uint64_t)-1);
        CHECK(err == ESL_ERR_BAD_HEADER_LINE);
    }

    /* NUL in the header block: refused as soon as it is seen, before the blank line */
    struct feed_result r;
    feed_bytewise(LIT("Content-Type: auth/\0request\n\n"), 1024, &r);
    CHECK_EQ_U64(r.rc, (uint64_t)-1);
    CHECK_EQ_U64(r.at, 20);
    CHECK(r.err == ESL_ERR_NUL_IN_HEADERS);
    CHECK_EQ_U64(feed_once(LIT("\0\n\n"), 1024, &fr, &used, &err), (uint64_t)-1);
    CHECK(err == ESL_ERR_NUL_IN_HEADERS);

    /* binary garbage never reads out of bounds and ends in an error or a wait */
    rng_state = 99;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + (size_t)(rng() % 300);
        char *g = malloc(n);
        for (size_t i = 0; i < n; i++)
            g[i] = (char)(rng() % 4 == 0 ? '\n' : rng());
        struct esl_framer f;
        esl_framer_init(&f, 128);
        size_t off = 0;
        while (off < n) {
            int rc = esl_framer_next(&f, g + off, n - off, &fr, &used, &err);
            if (rc != 1)
                break;
            CHECK(used > 0 && used <= 128 && used <= n - off);
            off += used;
        }
        free(g);
    }
}

/*
 * A fresh frame whose whole header block (ended by "\n\n") lies in the first
 * 64 bytes is framed in one step from bit masks; byte-by-byte feeding never
 * takes that path (it holds fewer than 64 bytes when the block completes).
 * Both must give the same result for every case, each followed by filler so
 * that the one-call run holds at least 64 bytes. The expected rc and error
 * are written out too, from the framing rules of esl.h, not from either run.
 */
static size_t slice_off(struct fsa_str s, const char *base)
{
    return s.p ? (size_t)(s.p - base) : SIZE_MAX;
}

static void test_one_step_path(void)
{
    static const struct {
        const char *head;
        size_t len;
        int rc;
        const char *err;
    } cases[] = {
        {LIT("Content-Length: 3\nContent-Type: text/event-plain\n\nabc"), 1, NULL},
        {LIT("Content-Type: command/reply\nReply-Text: +OK a:b:c\n\n"), 1, NULL}, /* colons in a value */
        {LIT("Content-Type:\t \tauth/request\n\n"), 1, NULL},                     /* tabs and spaces skipped */
        {LIT("Content-Type: api/response\nContent-Length: 0\n\n"), 1, NULL},
        {LIT("X: 1\n\n"), 1, NULL},
        /* "\n\n" at bytes 61-62 and 62-63 (the last the one-step path sees), then 63-64 (it cannot) */
        {LIT("Content-Type: text/event-plain\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaa\n\n"), 1, NULL},
        {LIT("Content-Type: text/event-plain\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\n\n"), 1, NULL},
        {LIT("Content-Type: text/event-plain\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaa\n\n"), 1, NULL},
        {LIT("Content-Length: 5\nContent-Length: 5\n\n12345"), -1, ESL_ERR_BAD_CONTENT_LENGTH},
        {LIT("Content-Length: 5x\n\n"), -1, ESL_ERR_BAD_CONTENT_LENGTH},
        {LIT("Content-Length: 99999999999999999999\n\n"), -1, ESL_ERR_BAD_CONTENT_LENGTH},
        {LIT("Content-Type: auth/request\ngarbage\n\n"), -1, ESL_ERR_BAD_HEADER_LINE},
        {LIT("Content-Type: auth/request\n: no name\n\n"), -1, ESL_ERR_BAD_HEADER_LINE},
        {LIT("no colon here\nContent-Type: a:b\n\n"), -1, ESL_ERR_BAD_HEADER_LINE}, /* the next line's ':' is not its */
        {LIT("Content-Length: 2000000\n\n"), -1, ESL_ERR_FRAME_TOO_LARGE},
        {LIT("Content-Type: auth/\0request\n\n"), -1, ESL_ERR_NUL_IN_HEADERS},
        {LIT("Content-Type: command/reply\r\nReply-Text: +OK\r\n\r\n"), 1, NULL}, /* CRLF: the general path */
        {LIT("\n\nContent-Type: auth/request\n\n"), 1, NULL},                     /* stray blank lines */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[256];
        size_t n = cases[i].len;
        memcpy(buf, cases[i].head, n);
        memset(buf + n, 'x', 100); /* the next frame's first bytes, as far as this one is concerned */
        struct esl_frame fr;
        size_t used = 0;
        const char *err = NULL;
        int rc = feed_once(buf, n + 100, 1 << 20, &fr, &used, &err);
        struct feed_result r;
        feed_bytewise(buf, n + 100, 1 << 20, &r);
        CHECK_EQ_I64(rc, cases[i].rc);
        CHECK_EQ_I64(r.rc, cases[i].rc);
        CHECK(err == cases[i].err && r.err == cases[i].err);
        if (rc != 1 || r.rc != 1)
            continue;
        CHECK_EQ_U64(used, n); /* each good case is exactly one frame */
        CHECK_EQ_U64(r.consumed, n);
        CHECK_EQ_U64(fr.type, r.frame.type);
        CHECK_EQ_U64(slice_off(fr.content_type, buf), slice_off(r.frame.content_type, r.copy));
        CHECK_EQ_U64(fr.content_type.n, r.frame.content_type.n);
        CHECK_EQ_U64(slice_off(fr.reply_text, buf), slice_off(r.frame.reply_text, r.copy));
        CHECK_EQ_U64(fr.reply_text.n, r.frame.reply_text.n);
        CHECK_EQ_U64(slice_off(fr.headers, buf), slice_off(r.frame.headers, r.copy));
        CHECK_EQ_U64(fr.headers.n, r.frame.headers.n);
        CHECK_EQ_U64(slice_off(fr.body, buf), slice_off(r.frame.body, r.copy));
        CHECK_EQ_U64(fr.body.n, r.frame.body.n);
    }
    /* spot values of the first two cases */
    struct esl_frame fr;
    size_t used;
    const char *err;
    char buf[256];
    memcpy(buf, cases[1].head, cases[1].len);
    memset(buf + cases[1].len, 'x', 100);
    CHECK_EQ_U64(feed_once(buf, cases[1].len + 100, 1 << 20, &fr, &used, &err), 1);
    CHECK(FSA_STR_IS(fr.reply_text, "+OK a:b:c"));
    CHECK_EQ_U64(fr.type, ESL_CT_COMMAND_REPLY);
    memcpy(buf, cases[0].head, cases[0].len);
    memset(buf + cases[0].len, 'x', 100);
    CHECK_EQ_U64(feed_once(buf, cases[0].len + 100, 1 << 20, &fr, &used, &err), 1);
    CHECK(FSA_STR_IS(fr.body, "abc"));
    CHECK_EQ_U64(fr.type, ESL_CT_EVENT_PLAIN);
}

/* A contract breach (fewer bytes than last time) must not make the framer read past len. */
static void test_shrinking_input(void)
{
    static const char s[] = "Content-Type: auth/request\nX: yyyyyyyyyyyyyyyyyyyyyyyy\n\n";
    struct esl_framer f;
    esl_framer_init(&f, 1024);
    struct esl_frame fr;
    size_t used;
    const char *err;
    char *a = malloc(40);
    memcpy(a, s, 40);
    CHECK_EQ_U64(esl_framer_next(&f, a, 40, &fr, &used, &err), 0);
    free(a);
    a = malloc(10);
    memcpy(a, s, 10);
    CHECK_EQ_U64(esl_framer_next(&f, a, 10, &fr, &used, &err), 0);
    free(a);
    CHECK_EQ_U64(esl_framer_next(&f, s, sizeof(s) - 1, &fr, &used, &err), 1);
    CHECK_EQ_U64(used, sizeof(s) - 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Resumption is linear: a 4 MiB header block, then a 4 MiB body, arriving
 * one byte per call. A framer that rescanned from the start would do ~8e12
 * byte comparisons here and time out; a resumable one does ~8e6 calls.
 */
static void test_linear_resume(void)
{
    const size_t hdr_lines = 4u << 20, body = 4u << 20;
    char head[64];
    int hn = snprintf(head, sizeof(head), "Content-Length: %zu\n", body);
    size_t n = (size_t)hn + hdr_lines + 1 + body;
    char *s = malloc(n);
    memcpy(s, head, (size_t)hn);
    char *p = s + hn;
    for (size_t i = 0; i < hdr_lines; i += 64) { /* 64-byte lines "X-Pad: yyyy…\n" */
        memset(p + i, 'y', 64);
        memcpy(p + i, "X-Pad: ", 7);
        p[i + 63] = '\n';
    }
    p[hdr_lines] = '\n';
    memset(p + hdr_lines + 1, 'b', body);

    struct esl_framer f;
    esl_framer_init(&f, 16u << 20);
    struct esl_frame fr;
    size_t used = 0;
    const char *err = NULL;
    double t0 = now_s();
    int rc = 0;
    size_t have;
    for (have = 1; have <= n; have++) {
        rc = esl_framer_next(&f, s, have, &fr, &used, &err);
        if (rc != 0)
            break;
    }
    double dt = now_s() - t0;
    CHECK_EQ_U64(rc, 1);
    CHECK_EQ_U64(have, n);
    CHECK_EQ_U64(used, n);
    CHECK_EQ_U64(fr.body.n, body);
    printf("linear resume: %zu one-byte calls in %.3f s\n", n, dt);
    CHECK(dt < 20.0);
    free(s);
}

static void test_header_iteration(void)
{
    static const char block[] = "A: 1\r\nBee:\t two \nC:\nNoColon\n:empty\nLast: x\n\nInner: no\n";
    struct fsa_str b = FSA_STR_LIT(block), name, value;
    CHECK(esl_header_next(&b, &name, &value));
    CHECK(FSA_STR_IS(name, "A") && FSA_STR_IS(value, "1"));
    CHECK(esl_header_next(&b, &name, &value));
    CHECK(FSA_STR_IS(name, "Bee") && FSA_STR_IS(value, "two "));
    CHECK(esl_header_next(&b, &name, &value));
    CHECK(FSA_STR_IS(name, "C") && value.n == 0 && value.p != NULL);
    CHECK(esl_header_next(&b, &name, &value));
    CHECK(FSA_STR_IS(name, "NoColon") && value.p == NULL);
    CHECK(esl_header_next(&b, &name, &value));
    CHECK(name.n == 0 && FSA_STR_IS(value, "empty"));
    CHECK(esl_header_next(&b, &name, &value));
    CHECK(FSA_STR_IS(name, "Last") && FSA_STR_IS(value, "x"));
    CHECK(!esl_header_next(&b, &name, &value)); /* blank line */
    CHECK(FSA_STR_IS(b, "Inner: no\n"));        /* what follows it */

    struct fsa_str blk = FSA_STR_LIT(block);
    CHECK(FSA_STR_IS(esl_header_get(blk, "Last"), "x"));
    CHECK(FSA_STR_IS(esl_header_get(blk, "Bee"), "two "));
    CHECK(esl_header_get(blk, "Inner").p == NULL); /* after the blank line */
    CHECK(esl_header_get(blk, "NoColon").p == NULL);
    CHECK(esl_header_get(blk, "a").p == NULL); /* case-sensitive */
    CHECK(esl_header_get(FSA_STR_NULL, "A").p == NULL);
    /* last line without '\n' */
    CHECK(FSA_STR_IS(esl_header_get(FSA_STR_LIT("A: 1\nB: 2"), "B"), "2"));
}

int main(void)
{
    test_basic_frames();
    test_crlf_and_blank_lines();
    test_limits();
    test_bad_input();
    test_one_step_path();
    test_shrinking_input();
    test_header_iteration();
    test_exact_buffers();
    test_linear_resume();
    test_capture("fs-plain-all.raw", ESL_CT_EVENT_PLAIN, 7052536, "+OK event listener enabled plain");
    test_capture("fs-json-all.raw", ESL_CT_EVENT_JSON, 7278566, "+OK event listener enabled json");
    return fsa_test_finish();
}
