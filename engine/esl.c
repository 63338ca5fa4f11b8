/*
 * esl: FreeSWITCH Event Socket framing and plain-event decoding.
 *
 * Where this sits. A reactor thread owns one esl_framer per connection. It
 * hands the framer the bytes it holds for the current frame; the framer says
 * "need more", "here is a frame of N bytes", or "protocol error: reset". For
 * each text/event-plain frame the reactor calls esl_event_scan(), picks the
 * worker by the Unique-ID it returns, and esl_event_fill() writes the
 * fixed-size fsa_event_msg straight into that worker's lane slot (no scratch
 * copy). Nothing here allocates, locks, or keeps pointers between calls.
 * Every byte of an RTCP-heavy stream passes through here, so the hot paths
 * are written to the profile (perf/README.md): bit masks instead of per-line
 * memchr calls, no per-character branch an SSRC's random digits mispredict.
 *
 * Framing (esl.md). A frame is a header block of "Name: value\n" lines, an
 * empty line, then exactly Content-Length *bytes* of body. Decisions:
 *   - Line ends: FreeSWITCH sends bare "\n". We also accept "\r\n" (the
 *     blank line may be "\r\n", a '\r' before '\n' is dropped from values),
 *     as FreeSWITCH's own libesl does; it costs one byte test per '\n'.
 *   - Stray blank lines before a frame are skipped and counted in that
 *     frame's *consumed and towards its limit, so a peer sending endless
 *     "\n" is refused like any other oversize frame.
 *   - Limit: the whole frame as consumed is at most max_frame bytes. Holding
 *     max_frame bytes without a complete header block is refused at once
 *     (no frame can fit any more); a complete header block whose
 *     Content-Length would pass the limit is refused before any body byte.
 *   - Resumable: `scanned` remembers where the search for the blank line
 *     stopped, so a 1 MiB header block arriving one byte per read costs
 *     O(total) memchr work, not O(n^2). Body bytes are only counted.
 *   - One step for the usual frame (frame_fast): a fresh header block that
 *     ends within the first 64 bytes, with no '\r' or NUL, is found and
 *     parsed from bit masks of those bytes; anything else takes the general
 *     path, which gives the same results (fuzz_esl_frame compares the two).
 *   - Hostile input: a NUL in the header block, a line without ':' or with
 *     an empty name, a Content-Length that is not plain ASCII digits (or is
 *     given twice: two lengths are a smuggling hazard) fail the connection.
 *
 * Plain-event decoding. The body is itself a header block with URL-encoded
 * values; we make one pass over its lines, stopping at the event's own blank
 * line (a BACKGROUND_JOB's inner Content-Length body is never looked at).
 * Line ends and colons come from SSE2 bit masks of 64-byte blocks (a ctz per
 * line, no call per line). Each name is classified by length, then one or
 * two characters, then one memcmp (field_id): ~200 names per
 * CHANNEL_HANGUP_COMPLETE must not meet a strcmp chain, and a name we do not
 * keep costs only that. The pass only records value slices (first occurrence
 * wins, e.g. Hangup-Cause appears twice); interpretation happens once, after
 * the pass, for the fields of the event's kind, so header order does not
 * matter.
 * The one shortcut: once Event-Name says the event is not a kind we use,
 * decoding stops (the rest of such an event is not validated).
 *
 * Values and units are copied as on the wire (fsa_msg.h): URL-decoded,
 * "_undef_" or empty means absent. A number that does not parse (or does not
 * fit its field) leaves the field unset and sets FSA_MSG_BAD_VALUE; it never
 * fails the event. RTCP report blocks are all-or-nothing: a block with any
 * bad field is dropped (and flagged), because a half-read block (e.g. Lost
 * left 0) would make the calculators' cumulative-loss deltas lie. A block
 * without SSRC, or with SSRC 00000000 (an empty block, esl.md), is skipped.
 * Lost is a 24-bit signed value printed unsigned: "4294967295" stays
 * 0xffffffff; a leading '-' is accepted down to INT32_MIN and stored as its
 * two's complement; anything beyond 32 bits is bad. Blocks: RECV reads
 * Source<N>-* / Rtt<N>-Avg for N < FSA_RTCP_MAX_BLOCKS (more are ignored),
 * SEND reads the unnumbered Source-* block (no RTT: rtt_avg_s stays NaN).
 *
 * Errors are static strings compared by pointer (ESL_ERR_*).
 */
#include "esl.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

const char ESL_ERR_FRAME_TOO_LARGE[] = "ESL frame larger than the limit";
const char ESL_ERR_BAD_CONTENT_LENGTH[] = "ESL Content-Length is not a plain decimal";
const char ESL_ERR_BAD_HEADER_LINE[] = "ESL header line without ':' or name";
const char ESL_ERR_NUL_IN_HEADERS[] = "NUL byte in an ESL header block";
const char ESL_ERR_NO_EVENT_NAME[] = "ESL event without Event-Name";
const char ESL_ERR_NO_UNIQUE_ID[] = "ESL event without Unique-ID";

/* ---- lines ------------------------------------------------------------------------------------------------- */

/*
 * Splits "Name: value" (line without its '\n' and '\r'). Returns false for a
 * line without ':' or with an empty name.
 */
static inline bool split_header(const char *p, size_t n, struct fsa_str *name, struct fsa_str *value)
{
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return false;
    const char *v = colon + 1, *e = p + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    *name = fsa_str_make(p, (size_t)(colon - p));
    *value = fsa_str_make(v, (size_t)(e - v));
    return true;
}

bool esl_header_next(struct fsa_str *block, struct fsa_str *name, struct fsa_str *value)
{
    if (block->n == 0)
        return false;
    const char *p = block->p, *end = p + block->n;
    const char *nl = memchr(p, '\n', block->n);
    const char *next = nl ? nl + 1 : end;
    size_t n = (size_t)((nl ? nl : end) - p);
    if (n && p[n - 1] == '\r')
        n--;
    block->p = next;
    block->n = (size_t)(end - next);
    if (n == 0)
        return false; /* blank line: the header block ends; *block is what follows */
    if (!split_header(p, n, name, value)) {
        const char *colon = memchr(p, ':', n);
        if (colon) { /* empty name */
            *name = fsa_str_make(p, 0);
            *value = fsa_str_make(colon + 1, (size_t)(p + n - colon - 1));
        } else {
            *name = fsa_str_make(p, n);
            *value = FSA_STR_NULL;
        }
    }
    return true;
}

struct fsa_str esl_header_get(struct fsa_str block, const char *name)
{
    struct fsa_str want = fsa_str_cstr(name), n, v;
    while (esl_header_next(&block, &n, &v))
        if (v.p && fsa_str_eq(n, want))
            return v;
    return FSA_STR_NULL;
}

/* ---- URL decoding ------------------------------------------------------------------------------------------ */

size_t esl_url_decode(struct fsa_str src, char *dst, size_t cap, bool *truncated)
{
    bool cut = false;
    size_t o = 0;
    if (cap == 0) {
        if (truncated)
            *truncated = src.n > 0;
        return 0;
    }
    /* Values are short (a Unique-ID, a host, a Call-ID): a byte loop beats memchr set-up here. */
    const char *s = src.p, *e = src.p + src.n;
    while (s < e) {
        char c = *s;
        if (c != '%' && c != '\0') {
            if (o == cap - 1) {
                cut = true;
                break;
            }
            dst[o++] = c;
            s++;
            continue;
        }
        int hi = c == '%' && e - s >= 3 ? fsa_hex_digit((unsigned char)s[1]) : -1;
        int lo = hi >= 0 ? fsa_hex_digit((unsigned char)s[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            if (o == cap - 1) {
                cut = true;
                break;
            }
            dst[o++] = (char)(hi << 4 | lo);
            s += 3;
        } else if (c == '%') { /* bad, cut or %00 escape: keep the '%', the rest follows as plain text */
            if (o == cap - 1) {
                cut = true;
                break;
            }
            dst[o++] = '%';
            s++;
        } else { /* a raw NUL from the wire is written as the text "%00": outputs stay C strings */
            if (cap - 1 - o < 3) {
                cut = true;
                break;
            }
            memcpy(dst + o, "%00", 3);
            o += 3;
            s++;
        }
    }
    dst[o] = '\0';
    if (truncated)
        *truncated = cut;
    return o;
}

/* ---- framer ------------------------------------------------------------------------------------------------ */

static void framer_reset(struct esl_framer *f)
{
    size_t max = f->max_frame;
    memset(f, 0, sizeof(*f));
    f->max_frame = max;
    f->ct_off = SIZE_MAX;
    f->rt_off = SIZE_MAX;
}

void esl_framer_init(struct esl_framer *f, size_t max_frame)
{
    f->max_frame = max_frame;
    framer_reset(f);
}

static enum esl_content_type content_type_of(struct fsa_str v)
{
    switch (v.n) {
    case 8:
        if (FSA_STR_IS(v, "log/data"))
            return ESL_CT_LOG_DATA;
        break;
    case 12:
        if (FSA_STR_IS(v, "auth/request"))
            return ESL_CT_AUTH_REQUEST;
        if (FSA_STR_IS(v, "api/response"))
            return ESL_CT_API_RESPONSE;
        break;
    case 13:
        if (FSA_STR_IS(v, "command/reply"))
            return ESL_CT_COMMAND_REPLY;
        break;
    case 14:
        if (FSA_STR_IS(v, "text/event-xml"))
            return ESL_CT_EVENT_XML;
        break;
    case 15:
        if (FSA_STR_IS(v, "text/event-json"))
            return ESL_CT_EVENT_JSON;
        break;
    case 16:
        if (FSA_STR_IS(v, "text/event-plain"))
            return ESL_CT_EVENT_PLAIN;
        break;
    case 19:
        if (FSA_STR_IS(v, "text/rude-rejection"))
            return ESL_CT_RUDE_REJECTION;
        break;
    case 22:
        if (FSA_STR_IS(v, "text/disconnect-notice"))
            return ESL_CT_DISCONNECT_NOTICE;
        break;
    }
    return ESL_CT_UNKNOWN;
}

/*
 * Searches for the end of the header block. Returns 1 when found (header_len,
 * headers_end set), 0 when more bytes are needed, -1 on error.
 */
static int find_header_end(struct esl_framer *f, const char *buf, size_t len, const char **err)
{
    size_t max = f->max_frame;
    size_t i = f->scanned;

    if (!f->started) {
        /* Stray blank lines ("\n", "\r\n") before a frame belong to it. */
        for (;;) {
            if (i >= max)
                goto too_large;
            if (i >= len)
                goto need_more;
            if (buf[i] == '\n') {
                i++;
            } else if (buf[i] == '\r') {
                if (i + 1 >= len)
                    goto need_more; /* "\r" then maybe "\n": wait */
                if (buf[i + 1] != '\n')
                    break;
                i += 2;
            } else {
                break;
            }
        }
        f->start = i;
        f->started = true;
    }

    /* Only the first max bytes may hold this frame's header block. */
    size_t w = len < max ? len : max;
    size_t from = i; /* the NUL check covers what this call scans */
    while (i < w) {
        const char *nl = memchr(buf + i, '\n', w - i);
        if (!nl) {
            i = w;
            break;
        }
        size_t j = (size_t)(nl - buf);
        size_t body = 0;
        if (j + 1 >= w) {
            i = j; /* the byte after this '\n' decides: resume here */
            break;
        }
        if (buf[j + 1] == '\n') {
            body = j + 2;
        } else if (buf[j + 1] == '\r') {
            if (j + 2 >= w) {
                i = j;
                break;
            }
            if (buf[j + 2] == '\n')
                body = j + 3;
        }
        if (body) {
            if (memchr(buf + from, '\0', j + 1 - from))
                goto nul;
            f->headers_end = j + 1;
            f->header_len = body;
            return 1;
        }
        i = j + 1;
    }
    if (w > from && memchr(buf + from, '\0', w - from))
        goto nul;
    if (len >= max)
        goto too_large; /* max bytes held, no blank line inside them */
    f->scanned = i;
    return 0;

need_more:
    if (len >= max)
        goto too_large; /* e.g. max bytes of blank lines ending in a lone '\r' */
    f->scanned = i;
    return 0;
too_large:
    *err = ESL_ERR_FRAME_TOO_LARGE;
    return -1;
nul:
    *err = ESL_ERR_NUL_IN_HEADERS;
    return -1;
}

/* One header of a frame's block: records what framing needs. 0, or -1 with *err. */
static int frame_header(struct esl_framer *f, const char *buf, struct fsa_str name, struct fsa_str value,
                        bool *have_length, uint64_t *clen, const char **err)
{
    if (FSA_STR_IS(name, "Content-Length")) {
        if (*have_length || !fsa_str_to_u64(value, clen)) {
            *err = ESL_ERR_BAD_CONTENT_LENGTH;
            return -1;
        }
        *have_length = true;
    } else if (FSA_STR_IS(name, "Content-Type")) {
        if (f->ct_off == SIZE_MAX) {
            f->ct_off = (size_t)(value.p - buf);
            f->ct_len = value.n;
            f->type = content_type_of(value);
        }
    } else if (FSA_STR_IS(name, "Reply-Text")) {
        if (f->rt_off == SIZE_MAX) {
            f->rt_off = (size_t)(value.p - buf);
            f->rt_len = value.n;
        }
    }
    return 0;
}

static int frame_length(struct esl_framer *f, uint64_t clen, const char **err)
{
    if (clen > f->max_frame - f->header_len) { /* header_len <= max_frame here */
        *err = ESL_ERR_FRAME_TOO_LARGE;
        return -1;
    }
    f->content_length = (size_t)clen;
    return 0;
}

/* Validates the header lines once and records what framing needs. */
static int parse_frame_headers(struct esl_framer *f, const char *buf, const char **err)
{
    const char *p = buf + f->start, *end = buf + f->headers_end;
    bool have_length = false;
    uint64_t clen = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)); /* never NULL: the block ends with '\n' */
        const char *next = nl ? nl + 1 : end;
        size_t n = (size_t)((nl ? nl : end) - p);
        if (n && p[n - 1] == '\r')
            n--;
        struct fsa_str name, value;
        if (!split_header(p, n, &name, &value)) {
            *err = ESL_ERR_BAD_HEADER_LINE;
            return -1;
        }
        if (frame_header(f, buf, name, value, &have_length, &clen, err) < 0)
            return -1;
        p = next;
    }
    return frame_length(f, clen, err);
}

/* Bit i set when p[i] == c, for the 64 bytes at p (all readable). */
static inline uint64_t eq_mask64(const char *p, char c)
{
#if defined(__SSE2__)
    const __m128i cc = _mm_set1_epi8(c);
    uint64_t m = 0;
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        m |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, cc)) << (16 * k);
    }
    return m;
#else
    uint64_t m = 0;
    for (int i = 0; i < 64; i++)
        m |= (uint64_t)(p[i] == c) << i;
    return m;
#endif
}

/*
 * The common case in one step: a fresh frame whose whole header block, ended
 * by "\n\n", lies in the first 64 bytes without a '\r', a NUL or a stray
 * blank line before it (every event frame FreeSWITCH sends: Content-Length
 * and Content-Type, ~50 bytes). Bit masks of that block replace the memchr
 * calls of find_header_end() and parse_frame_headers(), with the same results
 * (the fuzz target checks it against one-byte reads, which never take it).
 * Returns 1 when done (or -1 with *err, as the slow path would), 0 when the
 * frame is not of this shape: f is then untouched.
 */
static int frame_fast(struct esl_framer *f, const char *buf, size_t len, const char **err)
{
    if (len < 64 || f->max_frame < 64 || buf[0] == '\n' || buf[0] == '\r')
        return 0;
    uint64_t nl = eq_mask64(buf, '\n');
    uint64_t blank = nl & (nl >> 1); /* bit j: "\n\n" at j */
    if (!blank)
        return 0;
    size_t j = (size_t)__builtin_ctzll(blank);
    uint64_t block = ~0ull >> (63 - j); /* bits 0..j: the header lines with their '\n' */
    if ((eq_mask64(buf, '\r') | eq_mask64(buf, '\0')) & block)
        return 0;
    f->started = true;
    f->start = 0;
    f->headers_end = j + 1;
    f->header_len = j + 2;
    uint64_t col = eq_mask64(buf, ':') & block;
    bool have_length = false;
    uint64_t clen = 0;
    nl &= block;
    for (size_t ls = 0; nl; nl &= nl - 1) {
        size_t le = (size_t)__builtin_ctzll(nl);
        col &= ~0ull << ls; /* colons of earlier lines' values are behind */
        size_t c = col ? (size_t)__builtin_ctzll(col) : 64;
        if (c >= le || c == ls) {
            *err = ESL_ERR_BAD_HEADER_LINE;
            return -1;
        }
        const char *v = buf + c + 1, *e = buf + le;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        if (frame_header(f, buf, fsa_str_make(buf + ls, c - ls), fsa_str_make(v, (size_t)(e - v)), &have_length, &clen,
                         err) < 0)
            return -1;
        ls = le + 1;
    }
    return frame_length(f, clen, err) < 0 ? -1 : 1;
}

int esl_framer_next(struct esl_framer *f, const char *buf, size_t len, struct esl_frame *out, size_t *consumed,
                    const char **err)
{
    if (len < f->scanned || len < f->header_len)
        framer_reset(f); /* the caller broke the contract (fewer bytes than before): rescan, never overread */
    if (f->header_len == 0) {
        int rc = f->scanned == 0 && !f->started ? frame_fast(f, buf, len, err) : 0;
        if (rc < 0)
            return -1;
        if (rc == 0) {
            rc = find_header_end(f, buf, len, err);
            if (rc <= 0)
                return rc;
            if (parse_frame_headers(f, buf, err) < 0)
                return -1;
        }
    }
    if (len - f->header_len < f->content_length)
        return 0;

    out->type = f->ct_off == SIZE_MAX ? ESL_CT_NONE : f->type;
    out->content_type = f->ct_off == SIZE_MAX ? FSA_STR_NULL : fsa_str_make(buf + f->ct_off, f->ct_len);
    out->reply_text = f->rt_off == SIZE_MAX ? FSA_STR_NULL : fsa_str_make(buf + f->rt_off, f->rt_len);
    out->headers = fsa_str_make(buf + f->start, f->headers_end - f->start);
    out->body = fsa_str_make(buf + f->header_len, f->content_length);
    *consumed = f->header_len + f->content_length;
    framer_reset(f);
    return 1;
}

/* ---- plain-event decoding ---------------------------------------------------------------------------------- */

/* Headers the decoder keeps. Ids index scan.v[] and bits of scan.seen. */
enum field {
    F_EVENT_NAME,
    F_TIMESTAMP,
    F_SEQUENCE,
    F_UNIQUE_ID,
    /* RTCP sender part */
    F_SSRC,
    F_RTP_RATE,
    F_SENDER_PACKETS,
    F_SENDER_OCTETS,
    /* channel events */
    F_CALL_ID,
    F_DOMAIN_NAME,
    F_FROM_HOST,
    F_TO_HOST,
    F_REQ_HOST,
    F_DIRECTION,
    F_USE_CODEC_NAME,
    F_USE_CODEC_RATE,
    F_USE_CODEC_PTIME,
    F_READ_CODEC_NAME,
    F_READ_CODEC_RATE,
    F_LOCAL_IP,
    F_LOCAL_PORT,
    F_REMOTE_IP,
    F_REMOTE_PORT,
    F_CALL_UUID,
    F_OTHER_LEG,
    F_HANGUP_CAUSE,
    /* QoS at CHANNEL_HANGUP_COMPLETE */
    F_IN_RAW_BYTES,
    F_OUT_RAW_BYTES,
    F_IN_PACKETS,
    F_OUT_PACKETS,
    F_IN_SKIP,
    F_IN_MOS,
    F_IN_JITTER_MIN_VAR,
    F_IN_JITTER_MAX_VAR,
    F_IN_QUALITY,
    F_IN_FLAW,
    F_IN_MEAN_INTERVAL,
    F_HOLD_ACCUM,
    F_COUNT
};
_Static_assert(F_COUNT <= 64, "scan.seen is a 64-bit mask");

/* Report-block fields; blocks are slots 0..FSA_RTCP_MAX_BLOCKS-1 (Source<N>-) plus one for "Source-". */
enum block_field { B_SSRC, B_FRACTION, B_LOST, B_HIGHEST_SEQ, B_JITTER, B_LSR, B_DLSR, B_RTT, B_COUNT };
#define SLOT_UNNUMBERED FSA_RTCP_MAX_BLOCKS
#define NSLOTS (FSA_RTCP_MAX_BLOCKS + 1)
#define BLOCK_ID(slot, bf) (F_COUNT + (slot)*B_COUNT + (bf))
_Static_assert(FSA_RTCP_MAX_BLOCKS <= 10, "block numbers are one digit");

/* esl_event_scan (esl.h) holds the pass's findings: seen has the F_* bits (v[i] valid only when set), bseen the
 * B_* bits per slot. */
_Static_assert(F_COUNT <= ESL_SCAN_FIELDS && B_COUNT <= ESL_SCAN_BLOCK_FIELDS, "esl.h's scan arrays are too small");

#define IS(lit) (memcmp(p, lit, sizeof(lit) - 1) == 0)

/* q/m: a block header name after "Source". */
static int block_field_id(const char *q, size_t m)
{
    int slot;
    if (m >= 1 && q[0] == '-') {
        slot = SLOT_UNNUMBERED;
        q += 1;
        m -= 1;
    } else if (m >= 2 && q[0] >= '0' && q[0] < '0' + FSA_RTCP_MAX_BLOCKS && q[1] == '-') {
        slot = q[0] - '0';
        q += 2;
        m -= 2;
    } else {
        return -1; /* "Source10-…" and friends: more blocks than we carry */
    }
    const char *p = q;
    switch (m) {
    case 3: return IS("LSR") ? BLOCK_ID(slot, B_LSR) : -1;
    case 4:
        if (p[0] == 'S')
            return IS("SSRC") ? BLOCK_ID(slot, B_SSRC) : -1;
        if (p[0] == 'L')
            return IS("Lost") ? BLOCK_ID(slot, B_LOST) : -1;
        return IS("DLSR") ? BLOCK_ID(slot, B_DLSR) : -1;
    case 6: return IS("Jitter") ? BLOCK_ID(slot, B_JITTER) : -1;
    case 8: return IS("Fraction") ? BLOCK_ID(slot, B_FRACTION) : -1; /* Loss-Avg (8) is not used */
    case 32: return IS("Highest-Sequence-Number-Received") ? BLOCK_ID(slot, B_HIGHEST_SEQ) : -1;
    }
    return -1;
}

/*
 * Classifies a header name: F_*, BLOCK_ID(), or -1. Length first, then one
 * character where the candidates of that length differ, then one memcmp to
 * confirm (so a wrong pick can only miss, never mismatch; the capture test
 * reads every field). Most names of a channel event are unknown "variable_*"
 * ones and leave at the switch or at the memcmp.
 */
static int field_id(const char *p, size_t n)
{
    if (n > 6 && p[0] == 'S' && p[1] == 'o' && IS("Source"))
        return block_field_id(p + 6, n - 6);
    char last = p[n - 1];
    switch (n) {
    case 4: return IS("SSRC") ? F_SSRC : -1;
    case 8:
        if (p[1] == 'T')
            return IS("RTP-Rate") ? F_RTP_RATE : -1;
        if (p[0] == 'R' && p[1] == 't' && p[2] == 't' && p[3] >= '0' && p[3] < '0' + FSA_RTCP_MAX_BLOCKS &&
            memcmp(p + 4, "-Avg", 4) == 0)
            return BLOCK_ID(p[3] - '0', B_RTT);
        return -1;
    case 9: return IS("Unique-ID") ? F_UNIQUE_ID : -1;
    case 10: return IS("Event-Name") ? F_EVENT_NAME : -1;
    case 12: return IS("Hangup-Cause") ? F_HANGUP_CAUSE : -1;
    case 14:
        if (p[0] == 'E')
            return IS("Event-Sequence") ? F_SEQUENCE : -1;
        return IS("Call-Direction") ? F_DIRECTION : -1;
    case 17: return IS("Channel-Call-UUID") ? F_CALL_UUID : -1;
    case 19:
        if (p[0] == 'S')
            return IS("Sender-Packet-Count") ? F_SENDER_PACKETS : -1;
        if (p[1] == 'c')
            return IS("Octect-Packet-Count") ? F_SENDER_OCTETS : -1; /* sic */
        return IS("Other-Leg-Unique-ID") ? F_OTHER_LEG : -1;
    case 20:
        if (p[0] == 'E')
            return IS("Event-Date-Timestamp") ? F_TIMESTAMP : -1;
        if (p[9] == 'd')
            return IS("variable_domain_name") ? F_DOMAIN_NAME : -1;
        if (last == 'd')
            return IS("variable_sip_call_id") ? F_CALL_ID : -1;
        return IS("variable_sip_to_host") ? F_TO_HOST : -1;
    case 21: return IS("variable_sip_req_host") ? F_REQ_HOST : -1;
    case 22: return IS("variable_sip_from_host") ? F_FROM_HOST : -1;
    case 23:
        if (p[0] == 'C') {
            if (p[19] == 'N')
                return IS("Channel-Read-Codec-Name") ? F_READ_CODEC_NAME : -1;
            return IS("Channel-Read-Codec-Rate") ? F_READ_CODEC_RATE : -1;
        }
        return IS("variable_local_media_ip") ? F_LOCAL_IP : -1;
    case 24: return IS("variable_remote_media_ip") ? F_REMOTE_IP : -1;
    case 25:
        if (p[9] == 'l')
            return IS("variable_local_media_port") ? F_LOCAL_PORT : -1;
        return IS("variable_rtp_audio_in_mos") ? F_IN_MOS : -1;
    case 26: return IS("variable_remote_media_port") ? F_REMOTE_PORT : -1;
    case 27:
        if (p[23] == 'n')
            return IS("variable_rtp_use_codec_name") ? F_USE_CODEC_NAME : -1;
        if (p[23] == 'o')
            return IS("variable_hold_accum_seconds") ? F_HOLD_ACCUM : -1;
        return IS("variable_rtp_use_codec_rate") ? F_USE_CODEC_RATE : -1;
    case 28: return IS("variable_rtp_use_codec_ptime") ? F_USE_CODEC_PTIME : -1;
    case 31: return IS("variable_rtp_audio_in_raw_bytes") ? F_IN_RAW_BYTES : -1;
    case 32:
        if (last == 's')
            return IS("variable_rtp_audio_out_raw_bytes") ? F_OUT_RAW_BYTES : -1;
        return IS("variable_rtp_audio_in_flaw_total") ? F_IN_FLAW : -1;
    case 34: return IS("variable_rtp_audio_in_packet_count") ? F_IN_PACKETS : -1;
    case 35:
        if (last == 't')
            return IS("variable_rtp_audio_out_packet_count") ? F_OUT_PACKETS : -1;
        return IS("variable_rtp_audio_in_mean_interval") ? F_IN_MEAN_INTERVAL : -1;
    case 39: return IS("variable_rtp_audio_in_skip_packet_count") ? F_IN_SKIP : -1;
    case 40: return IS("variable_rtp_audio_in_quality_percentage") ? F_IN_QUALITY : -1;
    case 41:
        if (p[30] == 'i')
            return IS("variable_rtp_audio_in_jitter_min_variance") ? F_IN_JITTER_MIN_VAR : -1;
        return IS("variable_rtp_audio_in_jitter_max_variance") ? F_IN_JITTER_MAX_VAR : -1;
    }
    return -1;
}
#undef IS

static enum fsa_event_kind kind_of(struct fsa_str v, bool *heartbeat)
{
    *heartbeat = false;
    switch (v.n) {
    case 9: *heartbeat = FSA_STR_IS(v, "HEARTBEAT"); break;
    case 12:
        if (FSA_STR_IS(v, "CHANNEL_DATA")) /* uuid_dump's body: the channel headers of CHANNEL_CREATE */
            return FSA_EV_CHANNEL_DATA;
        break;
    case 14:
        if (FSA_STR_IS(v, "CHANNEL_CREATE"))
            return FSA_EV_CHANNEL_CREATE;
        if (FSA_STR_IS(v, "CHANNEL_ANSWER"))
            return FSA_EV_CHANNEL_ANSWER;
        if (FSA_STR_IS(v, "CHANNEL_BRIDGE"))
            return FSA_EV_CHANNEL_BRIDGE;
        break;
    case 17:
        if (FSA_STR_IS(v, "RECV_RTCP_MESSAGE"))
            return FSA_EV_RECV_RTCP;
        if (FSA_STR_IS(v, "SEND_RTCP_MESSAGE"))
            return FSA_EV_SEND_RTCP;
        break;
    case 23:
        if (FSA_STR_IS(v, "CHANNEL_HANGUP_COMPLETE"))
            return FSA_EV_CHANNEL_HANGUP_COMPLETE;
        break;
    }
    return FSA_EV_NONE;
}

enum { V_ABSENT, V_OK, V_BAD };

static inline struct fsa_str field(const struct esl_event_scan *sc, int id)
{
    return (sc->seen >> id) & 1 ? sc->v[id] : FSA_STR_NULL;
}

/* FreeSWITCH's spelling of an empty value; treated like an empty one. */
static inline bool absent(struct fsa_str v)
{
    return v.p == NULL || v.n == 0 || FSA_STR_IS(v, "_undef_");
}

/*
 * The URL-decoded text of a short (numeric or enum) value: the slice itself
 * when it has no '%', else decoded into tmp. false when it does not fit.
 */
static bool short_value(struct fsa_str v, char *tmp, size_t cap, struct fsa_str *out)
{
    if (!memchr(v.p, '%', v.n)) {
        *out = v;
        return true;
    }
    bool cut;
    size_t n = esl_url_decode(v, tmp, cap, &cut);
    *out = fsa_str_make(tmp, n);
    return !cut;
}

#define NUM_TMP 64 /* longer than any number FreeSWITCH prints */

/*
 * Inline number parsers for the hot path: fsa_str_to_u64 divides per digit
 * and strtod is slow. Same acceptance rules as the fsa_str_* ones.
 */
static inline bool dec_u64(struct fsa_str s, uint64_t *out)
{
    if (s.n == 0 || s.n > 20)
        return false;
    uint64_t v = 0;
    size_t i = 0, safe = s.n < 19 ? s.n : 19; /* 19 digits always fit */
    for (; i < safe; i++) {
        unsigned d = (unsigned)(unsigned char)s.p[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    for (; i < s.n; i++) {
        unsigned d = (unsigned)(unsigned char)s.p[i] - '0';
        if (d > 9 || __builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, d, &v))
            return false;
    }
    *out = v;
    return true;
}

/* Hex without "0x", up to 16 digits (FreeSWITCH prints %08x), value within 32 bits. */
static inline bool hex_u32(struct fsa_str s, uint32_t *out)
{
    /*
     * Digit value + 1, 0 for anything else: a table lookup, because an SSRC's
     * random mix of letters and digits defeats a digit-or-letter branch.
     */
    static const uint8_t hexv[256] = {
        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
        ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
        ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
    };
    if (s.n == 0 || s.n > 16)
        return false;
    uint64_t v = 0;
    unsigned bad = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = hexv[(unsigned char)s.p[i]];
        bad |= d == 0;
        v = v << 4 | (uint64_t)((d - 1) & 15);
    }
    if (bad)
        return false;
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/*
 * "[-]digits[.digits]" with at most 19 digits: mantissa / 10^k is exact
 * when the mantissa is below 2^53 and k <= 22 (both exactly representable;
 * one correctly rounded division), i.e. the same double strtod gives.
 * Anything else goes to fsa_str_to_double.
 */
static inline bool dec_double(struct fsa_str s, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = s.n && s.p[0] == '-';
    uint64_t mant = 0;
    int digits = 0, frac = -1; /* frac: digits after the '.', -1 before it */
    for (; i < s.n; i++) {
        unsigned d = (unsigned)(unsigned char)s.p[i] - '0';
        if (d <= 9) {
            mant = mant * 10 + d;
            frac += frac >= 0;
            if (++digits > 19)
                return fsa_str_to_double(s, out);
        } else if (s.p[i] == '.' && frac < 0) {
            frac = 0;
        } else {
            return fsa_str_to_double(s, out); /* exponent, '+', junk: the strict parser decides */
        }
    }
    if (digits == 0)
        return false;
    if (mant > (1ull << 53) || frac > 22)
        return fsa_str_to_double(s, out);
    double v = (double)mant;
    if (frac > 0)
        v /= pow10[frac];
    *out = s.p[0] == '-' ? -v : v;
    return true;
}

/*
 * Each val_* parses the raw text first; only a value that fails and holds a
 * '%' is URL-decoded (into tmp) and parsed again: numbers are never escaped
 * in practice, so the common path never scans for '%'.
 */
static inline bool escaped(struct fsa_str v, char tmp[NUM_TMP], struct fsa_str *d)
{
    return memchr(v.p, '%', v.n) && short_value(v, tmp, NUM_TMP, d);
}

static int val_u64(struct fsa_str v, uint64_t max, uint64_t *out)
{
    if (absent(v))
        return V_ABSENT;
    uint64_t x;
    char tmp[NUM_TMP];
    struct fsa_str d;
    if (!dec_u64(v, &x) && !(escaped(v, tmp, &d) && dec_u64(d, &x)))
        return V_BAD;
    if (x > max)
        return V_BAD;
    *out = x;
    return V_OK;
}

static int val_hex32(struct fsa_str v, uint32_t *out)
{
    if (absent(v))
        return V_ABSENT;
    char tmp[NUM_TMP];
    struct fsa_str d;
    if (!hex_u32(v, out) && !(escaped(v, tmp, &d) && hex_u32(d, out)))
        return V_BAD;
    return V_OK;
}

/* Cumulative Lost: unsigned text up to UINT32_MAX, or a negative int32 stored as two's complement. */
static inline bool lost_u32(struct fsa_str d, uint32_t *out)
{
    uint64_t x;
    if (d.n && d.p[0] == '-') {
        if (!dec_u64(fsa_str_make(d.p + 1, d.n - 1), &x) || x > (uint64_t)INT32_MAX + 1)
            return false;
        *out = (uint32_t)(0u - (uint32_t)x);
        return true;
    }
    if (!dec_u64(d, &x) || x > UINT32_MAX)
        return false;
    *out = (uint32_t)x;
    return true;
}

static int val_lost(struct fsa_str v, uint32_t *out)
{
    if (absent(v))
        return V_ABSENT;
    char tmp[NUM_TMP];
    struct fsa_str d;
    if (!lost_u32(v, out) && !(escaped(v, tmp, &d) && lost_u32(d, out)))
        return V_BAD;
    return V_OK;
}

static int val_double(struct fsa_str v, double *out)
{
    if (absent(v))
        return V_ABSENT;
    char tmp[NUM_TMP];
    struct fsa_str d;
    if (!dec_double(v, out) && !(escaped(v, tmp, &d) && dec_double(d, out)))
        return V_BAD;
    return V_OK;
}

/* Sets a numeric field from header id; flags a bad value. Returns true when set. */
static bool set_u64(struct fsa_event_msg *m, const struct esl_event_scan *sc, int id, uint64_t max, uint64_t *out)
{
    int r = val_u64(field(sc, id), max, out);
    if (r == V_BAD)
        m->flags |= FSA_MSG_BAD_VALUE;
    return r == V_OK;
}

static bool set_double(struct fsa_event_msg *m, const struct esl_event_scan *sc, int id, double *out)
{
    int r = val_double(field(sc, id), out);
    if (r == V_BAD)
        m->flags |= FSA_MSG_BAD_VALUE;
    return r == V_OK;
}

/*
 * True when none of the n bytes at p is '%' or NUL, i.e. URL-decoding would
 * give the bytes themselves. Eight bytes per step ("has a zero byte" on x and
 * on x ^ '%%%%%%%%'): a Unique-ID is 36 bytes and never escaped.
 */
static inline bool plain_bytes(const char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull, pct = 0x2525252525252525ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, p + i, 8);
        y = x ^ pct;
        if (((x - ones) & ~x & highs) | ((y - ones) & ~y & highs))
            return false;
    }
    for (; i < n; i++)
        if (p[i] == '%' || p[i] == '\0')
            return false;
    return true;
}

/* esl_url_decode() into dst[cap], with the common case (nothing to decode, it fits) as one memcpy. */
static inline size_t copy_value(struct fsa_str v, char *dst, size_t cap, bool *cut)
{
    if (v.n < cap && plain_bytes(v.p, v.n)) {
        memcpy(dst, v.p, v.n);
        dst[v.n] = '\0';
        *cut = false;
        return v.n;
    }
    return esl_url_decode(v, dst, cap, cut);
}

/* Copies a string value URL-decoded; returns true when it was present. */
static bool set_str(struct fsa_event_msg *m, char *dst, size_t cap, struct fsa_str v)
{
    if (absent(v))
        return false;
    bool cut;
    copy_value(v, dst, cap, &cut);
    if (cut)
        m->flags |= FSA_MSG_TRUNCATED;
    return true;
}

static void fill_rtcp(struct fsa_event_msg *m, const struct esl_event_scan *sc)
{
    struct fsa_rtcp_payload *r = &m->u.rtcp;
    uint64_t x;
    int rc = val_hex32(field(sc, F_SSRC), &r->ssrc);
    if (rc == V_BAD)
        m->flags |= FSA_MSG_BAD_VALUE;
    if (set_u64(m, sc, F_RTP_RATE, UINT32_MAX, &x))
        r->rtp_rate = (uint32_t)x;
    set_u64(m, sc, F_SENDER_PACKETS, UINT64_MAX, &r->sender_packet_count);
    set_u64(m, sc, F_SENDER_OCTETS, UINT64_MAX, &r->sender_octet_count);

    int first = m->kind == FSA_EV_RECV_RTCP ? 0 : SLOT_UNNUMBERED;
    int last = m->kind == FSA_EV_RECV_RTCP ? FSA_RTCP_MAX_BLOCKS - 1 : SLOT_UNNUMBERED;
    for (int s = first; s <= last; s++) {
        if (!sc->bseen[s])
            continue;
        const struct fsa_str *bv = sc->bv[s];
        unsigned seen = sc->bseen[s];
#define BV(bf) ((seen >> (bf)) & 1 ? bv[bf] : FSA_STR_NULL)
        struct fsa_rtcp_block b;
        memset(&b, 0, sizeof(b));
        b.rtt_avg_s = NAN;
        bool bad = false;
        rc = val_hex32(BV(B_SSRC), &b.source_ssrc);
        bad |= rc == V_BAD;
        bool has_ssrc = rc == V_OK;
        uint32_t *const u32s[] = {&b.highest_seq, &b.jitter, &b.lsr, &b.dlsr};
        const int ids[] = {B_HIGHEST_SEQ, B_JITTER, B_LSR, B_DLSR};
        for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
            rc = val_u64(BV(ids[k]), UINT32_MAX, &x);
            bad |= rc == V_BAD;
            if (rc == V_OK)
                *u32s[k] = (uint32_t)x;
        }
        rc = val_u64(BV(B_FRACTION), 255, &x);
        bad |= rc == V_BAD;
        if (rc == V_OK)
            b.fraction = (uint32_t)x;
        bad |= val_lost(BV(B_LOST), &b.lost_raw) == V_BAD;
        if (s != SLOT_UNNUMBERED)
            bad |= val_double(BV(B_RTT), &b.rtt_avg_s) == V_BAD;
#undef BV
        if (bad) {
            m->flags |= FSA_MSG_BAD_VALUE; /* all-or-nothing: see the top of the file */
            continue;
        }
        if (!has_ssrc || b.source_ssrc == 0)
            continue; /* empty block (peer's SSRC not known yet) */
        r->block[r->nblocks++] = b;
    }
}

/* 1 to 5 ASCII digits with a value up to 65535. */
static bool port_digits(const char *p, size_t n)
{
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)p[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    return v <= 65535;
}

/* inet_pton() of n bytes (not NUL-terminated); false for anything longer than an address can be. */
static bool pton(int af, const char *p, size_t n)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned char out[sizeof(struct in6_addr)];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return inet_pton(af, buf, out) == 1;
}

/*
 * Is the host s[0..n) an IP literal: IPv4, IPv6, bracketed IPv6, each with
 * or without ":port"? Then *host_n is its length without the port. A host
 * FreeSWITCH took from a SIP URI is at most a few dozen bytes; the work is
 * bounded by INET6_ADDRSTRLEN whatever n is.
 */
static bool ip_literal(const char *s, size_t n, size_t *host_n)
{
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || !pton(AF_INET6, s + 1, (size_t)(close - s) - 1))
            return false;
        size_t h = (size_t)(close - s) + 1;
        if (h < n && !(s[h] == ':' && port_digits(s + h + 1, n - h - 1)))
            return false;
        *host_n = h;
        return true;
    }
    const char *colon = memchr(s, ':', n);
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) { /* one colon: IPv4:port */
        size_t h = (size_t)(colon - s);
        if (!pton(AF_INET, s, h) || !port_digits(colon + 1, n - h - 1))
            return false;
        *host_n = h;
        return true;
    }
    *host_n = n;
    return pton(colon ? AF_INET6 : AF_INET, s, n); /* two or more colons: IPv6 without brackets, no port */
}

/*
 * domain_name (contract): the best-ranked candidate that is not an IP
 * literal; if every candidate present is one, the best of those without its
 * port, ranked FSA_DOMAIN_IP_LITERAL lower so that a name from any later
 * event replaces it (calc.c keeps the best rank across events).
 */
static void fill_domain(struct fsa_event_msg *m, const struct esl_event_scan *sc, struct fsa_channel_payload *c)
{
    static const struct {
        uint8_t id, rank;
    } chain[] = {
        {F_DOMAIN_NAME, FSA_DOMAIN_FROM_VARIABLE},
        {F_FROM_HOST, FSA_DOMAIN_FROM_SIP_FROM},
        {F_TO_HOST, FSA_DOMAIN_FROM_SIP_TO},
        {F_REQ_HOST, FSA_DOMAIN_FROM_SIP_REQ},
    };
    for (size_t k = 0; k < sizeof(chain) / sizeof(chain[0]); k++) {
        struct fsa_str v = field(sc, chain[k].id);
        if (absent(v))
            continue;
        char tmp[FSA_DOMAIN_MAX];
        bool cut;
        size_t n = copy_value(v, tmp, sizeof(tmp), &cut), host_n;
        if (!cut && ip_literal(tmp, n, &host_n)) { /* a cut value is longer than any address */
            if (c->domain_rank == FSA_DOMAIN_NONE) {
                memcpy(c->domain, tmp, host_n);
                c->domain[host_n] = '\0';
                c->domain_rank = (uint8_t)(chain[k].rank + FSA_DOMAIN_IP_LITERAL);
            }
            continue; /* a name further down still wins */
        }
        if (c->domain_rank != FSA_DOMAIN_NONE) /* an IP literal was kept: no byte of it may stay after the NUL */
            memset(c->domain, 0, sizeof(c->domain));
        memcpy(c->domain, tmp, n + 1);
        c->domain_rank = chain[k].rank;
        if (cut)
            m->flags |= FSA_MSG_TRUNCATED;
        return;
    }
}

static void fill_channel(struct fsa_event_msg *m, const struct esl_event_scan *sc)
{
    struct fsa_channel_payload *c = &m->u.chan;
    uint64_t x;
    set_str(m, c->call_id, sizeof(c->call_id), field(sc, F_CALL_ID));
    fill_domain(m, sc, c);

    struct fsa_str dir = field(sc, F_DIRECTION);
    if (FSA_STR_IS(dir, "inbound"))
        c->direction = FSA_DIR_INBOUND;
    else if (FSA_STR_IS(dir, "outbound"))
        c->direction = FSA_DIR_OUTBOUND;

    /* Codec: each of name and rate falls back on its own when the rtp_use_ one is absent. */
    if (!set_str(m, c->codec, sizeof(c->codec), field(sc, F_USE_CODEC_NAME)))
        set_str(m, c->codec, sizeof(c->codec), field(sc, F_READ_CODEC_NAME));
    int rc = val_u64(field(sc, F_USE_CODEC_RATE), UINT32_MAX, &x);
    if (rc == V_ABSENT)
        rc = val_u64(field(sc, F_READ_CODEC_RATE), UINT32_MAX, &x);
    if (rc == V_OK)
        c->codec_rate = (uint32_t)x;
    else if (rc == V_BAD)
        m->flags |= FSA_MSG_BAD_VALUE;
    if (set_u64(m, sc, F_USE_CODEC_PTIME, UINT16_MAX, &x))
        c->codec_ptime_ms = (uint16_t)x;

    set_str(m, c->local_media_ip, sizeof(c->local_media_ip), field(sc, F_LOCAL_IP));
    set_str(m, c->remote_media_ip, sizeof(c->remote_media_ip), field(sc, F_REMOTE_IP));
    if (set_u64(m, sc, F_LOCAL_PORT, UINT16_MAX, &x))
        c->local_media_port = (uint16_t)x;
    if (set_u64(m, sc, F_REMOTE_PORT, UINT16_MAX, &x))
        c->remote_media_port = (uint16_t)x;
    set_str(m, c->call_uuid, sizeof(c->call_uuid), field(sc, F_CALL_UUID));
    set_str(m, c->other_leg_uuid, sizeof(c->other_leg_uuid), field(sc, F_OTHER_LEG));
    set_str(m, c->hangup_cause, sizeof(c->hangup_cause), field(sc, F_HANGUP_CAUSE));

    if (m->kind != FSA_EV_CHANNEL_HANGUP_COMPLETE)
        return;
    /* QoS: each present and parsable field sets its FSA_QOS_* bit. */
    static const struct {
        uint8_t id;
        bool is_double;
        uint16_t bit;
        uint16_t off;
    } qos[] = {
        {F_IN_RAW_BYTES, false, FSA_QOS_IN_RAW_BYTES, offsetof(struct fsa_channel_payload, in_raw_bytes)},
        {F_OUT_RAW_BYTES, false, FSA_QOS_OUT_RAW_BYTES, offsetof(struct fsa_channel_payload, out_raw_bytes)},
        {F_IN_PACKETS, false, FSA_QOS_IN_PACKETS, offsetof(struct fsa_channel_payload, in_packets)},
        {F_OUT_PACKETS, false, FSA_QOS_OUT_PACKETS, offsetof(struct fsa_channel_payload, out_packets)},
        {F_IN_SKIP, false, FSA_QOS_IN_SKIP_PACKETS, offsetof(struct fsa_channel_payload, in_skip_packets)},
        {F_IN_FLAW, false, FSA_QOS_IN_FLAW_TOTAL, offsetof(struct fsa_channel_payload, in_flaw_total)},
        {F_IN_MOS, true, FSA_QOS_IN_MOS, offsetof(struct fsa_channel_payload, in_mos)},
        {F_IN_JITTER_MIN_VAR, true, FSA_QOS_IN_JITTER_MIN_VAR,
         offsetof(struct fsa_channel_payload, in_jitter_min_variance)},
        {F_IN_JITTER_MAX_VAR, true, FSA_QOS_IN_JITTER_MAX_VAR,
         offsetof(struct fsa_channel_payload, in_jitter_max_variance)},
        {F_IN_QUALITY, true, FSA_QOS_IN_QUALITY_PCT, offsetof(struct fsa_channel_payload, in_quality_pct)},
        {F_IN_MEAN_INTERVAL, true, FSA_QOS_IN_MEAN_INTERVAL, offsetof(struct fsa_channel_payload, in_mean_interval_ms)},
        {F_HOLD_ACCUM, false, FSA_QOS_HOLD_SECONDS, offsetof(struct fsa_channel_payload, hold_accum_s)},
    };
    for (size_t k = 0; k < sizeof(qos) / sizeof(qos[0]); k++) {
        double d;
        bool ok = qos[k].is_double ? set_double(m, sc, qos[k].id, &d) : set_u64(m, sc, qos[k].id, UINT64_MAX, &x);
        if (ok) {
            memcpy((char *)c + qos[k].off, qos[k].is_double ? (const void *)&d : (const void *)&x, 8);
            c->qos_present |= qos[k].bit;
        }
    }
}

/*
 * Line scanning. One SSE2 pass per 64-byte block gives two bit masks, line
 * ends ('\n') and colons; each line then costs a ctz for its end and one for
 * its colon (the first ':' at or after the line start, which may sit in an
 * earlier block than the line end). The last, short block is copied into a
 * zeroed 64-byte buffer, so nothing past the body is read.
 */
struct lines {
    const char *base;
    size_t n;
    size_t blk;       /* offset of the block the masks describe */
    uint64_t nl, col; /* '\n' and ':' positions in that block, those before the cursor cleared */
};

/* eq_mask64() for '\n' and ':' at once: one load per 16 bytes (two calls cost ~150 more instructions an event). */
static inline void masks64(const char *p, uint64_t *nl, uint64_t *col)
{
#if defined(__SSE2__)
    const __m128i cn = _mm_set1_epi8('\n'), cc = _mm_set1_epi8(':');
    uint64_t a = 0, b = 0;
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        a |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, cn)) << (16 * k);
        b |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, cc)) << (16 * k);
    }
    *nl = a;
    *col = b;
#else
    *nl = eq_mask64(p, '\n');
    *col = eq_mask64(p, ':');
#endif
}

static inline void lines_load(struct lines *ln)
{
    if (ln->blk >= ln->n) {
        ln->nl = ln->col = 0;
    } else if (ln->n - ln->blk >= 64) {
        masks64(ln->base + ln->blk, &ln->nl, &ln->col);
    } else {
        char tmp[64];
        memset(tmp, 0, sizeof(tmp));
        memcpy(tmp, ln->base + ln->blk, ln->n - ln->blk);
        masks64(tmp, &ln->nl, &ln->col);
    }
}

/*
 * The line at the cursor: returns its end (offset of its '\n', or n for a
 * last line without one) and sets *colon to its first ':' (SIZE_MAX when the
 * line has none). Moves the cursor past the '\n'. Cursor invariant: it lies
 * in [blk, blk + 64) and the masks hold no position before it.
 */
static inline size_t lines_next(struct lines *ln, size_t *colon)
{
    size_t c = SIZE_MAX, le;
    for (;;) {
        if (c == SIZE_MAX && ln->col)
            c = ln->blk + (size_t)__builtin_ctzll(ln->col);
        if (ln->nl) {
            le = ln->blk + (size_t)__builtin_ctzll(ln->nl);
            break;
        }
        ln->blk += 64;
        if (ln->blk >= ln->n) {
            *colon = c;
            return ln->n;
        }
        lines_load(ln);
    }
    *colon = c < le ? c : SIZE_MAX;
    size_t next = le + 1 - ln->blk; /* 1..64 */
    if (next < 64) {
        uint64_t keep = ~0ull << next;
        ln->nl &= keep;
        ln->col &= keep;
    } else {
        ln->blk += 64;
        lines_load(ln);
    }
    return le;
}

/* Records a header the decoder keeps; first occurrence wins (Hangup-Cause comes twice). */
static inline void keep_field(struct esl_event_scan *sc, int id, struct fsa_str value)
{
    if (id >= F_COUNT) {
        int slot = (id - F_COUNT) / B_COUNT, bf = (id - F_COUNT) % B_COUNT;
        if (!(sc->bseen[slot] & (1u << bf))) {
            sc->bseen[slot] |= (uint8_t)(1u << bf);
            sc->bv[slot][bf] = value;
        }
        return;
    }
    if (!((sc->seen >> id) & 1)) {
        sc->seen |= 1ull << id;
        sc->v[id] = value;
    }
}

enum esl_decode_result esl_event_scan(struct fsa_str body, struct esl_event_scan *sc, struct fsa_str *event_name,
                                      const char **err)
{
    sc->kind = FSA_EV_NONE;
    sc->seen = 0;
    memset(sc->bseen, 0, sizeof(sc->bseen));
    if (event_name)
        *event_name = FSA_STR_NULL;

    enum fsa_event_kind kind = FSA_EV_NONE;
    bool heartbeat = false, named = false;
    struct lines ln = {.base = body.p, .n = body.n};
    lines_load(&ln);
    for (size_t ls = 0; ls < body.n;) {
        size_t colon;
        size_t le = lines_next(&ln, &colon);
        const char *p = body.p + ls;
        size_t n = le - ls;
        ls = le + 1;
        if (n && p[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the event's own blank line: an inner body may follow, not ours */
        size_t c = colon - (size_t)(p - body.p);
        if (colon == SIZE_MAX || c == 0 || c >= n) {
            *err = ESL_ERR_BAD_HEADER_LINE;
            return ESL_DECODE_ERROR;
        }
        int id = field_id(p, c);
        if (id < 0)
            continue;
        /* FreeSWITCH writes "Name: value": one space, then the value; tabs and more spaces are tolerated. */
        const char *v = p + c + 1, *e = p + n;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        struct fsa_str value = fsa_str_make(v, (size_t)(e - v));
        if (id != F_EVENT_NAME || named) {
            keep_field(sc, id, value);
            continue;
        }
        named = true;
        sc->seen |= 1ull << F_EVENT_NAME;
        sc->v[F_EVENT_NAME] = value;
        if (event_name)
            *event_name = value;
        if (value.n == 0)
            break; /* reported as missing below */
        char tmp[NUM_TMP];
        struct fsa_str en;
        kind = short_value(value, tmp, sizeof(tmp), &en) ? kind_of(en, &heartbeat) : FSA_EV_NONE;
        if (kind == FSA_EV_NONE)
            break; /* nothing more to read in an event we do not use */
    }
    if (kind == FSA_EV_NONE) {
        if (named && sc->v[F_EVENT_NAME].n)
            return heartbeat ? ESL_DECODE_HEARTBEAT : ESL_DECODE_OTHER;
        *err = ESL_ERR_NO_EVENT_NAME;
        return ESL_DECODE_ERROR;
    }
    struct fsa_str uid = field(sc, F_UNIQUE_ID);
    if (absent(uid)) {
        *err = ESL_ERR_NO_UNIQUE_ID;
        return ESL_DECODE_ERROR;
    }
    sc->kind = (uint8_t)kind;
    sc->uuid_len = (uint32_t)copy_value(uid, sc->uuid, sizeof(sc->uuid), &sc->uuid_cut);
    return ESL_DECODE_EVENT;
}

void esl_event_fill(const struct esl_event_scan *sc, struct fsa_event_msg *msg)
{
    /*
     * An RTCP message is zeroed only up to its blocks (fill_rtcp writes each
     * kept block whole, readers stop at nblocks): 120 bytes the compiler
     * stores inline, instead of a rep stos over 280.
     */
    if (sc->kind == FSA_EV_RECV_RTCP || sc->kind == FSA_EV_SEND_RTCP) {
#if defined(__SSE2__)
        /* GCC turns even a 120-byte memset into rep stos; eight stores cover it (and start block[0]). */
        _Static_assert(offsetof(struct fsa_event_msg, u.rtcp.block) <= 128 && sizeof(*msg) >= 128, "zeroing");
        for (int k = 0; k < 8; k++)
            _mm_storeu_si128((__m128i *)(void *)msg + k, _mm_setzero_si128());
#else
        memset(msg, 0, offsetof(struct fsa_event_msg, u.rtcp.block));
#endif
    } else {
        memset(msg, 0, sizeof(*msg));
    }
    msg->kind = sc->kind;
    msg->uuid_len = sc->uuid_len;
    memcpy(msg->uuid, sc->uuid, (size_t)sc->uuid_len + 1);
    if (sc->uuid_cut)
        msg->flags |= FSA_MSG_TRUNCATED;
    set_u64(msg, sc, F_TIMESTAMP, UINT64_MAX, &msg->event_time_us);
    set_u64(msg, sc, F_SEQUENCE, UINT64_MAX, &msg->event_seq);
    if (sc->kind == FSA_EV_RECV_RTCP || sc->kind == FSA_EV_SEND_RTCP)
        fill_rtcp(msg, sc);
    else
        fill_channel(msg, sc);
}

enum esl_decode_result esl_decode_plain_event(struct fsa_str body, struct fsa_event_msg *msg,
                                              struct fsa_str *event_name, const char **err)
{
    struct esl_event_scan sc;
    memset(msg, 0, sizeof(*msg));
    enum esl_decode_result r = esl_event_scan(body, &sc, event_name, err);
    if (r == ESL_DECODE_EVENT)
        esl_event_fill(&sc, msg);
    return r;
}
