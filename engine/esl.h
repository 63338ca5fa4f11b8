/*
 * esl: FreeSWITCH Event Socket framing and plain-event decoding.
 *
 * Every byte here comes from the network and is hostile. The framer never
 * reads outside [buf, buf+len), never allocates, and refuses a frame larger
 * than its limit before the frame has arrived (Content-Length is checked as
 * soon as the header block is complete; a header block without its blank
 * line is refused once it passes the limit).
 *
 * A frame (esl.md): header block of "Name: value\n" lines, an empty line,
 * then exactly Content-Length bytes of body when that header is present.
 * A text/event-plain body is itself a header block with URL-encoded values,
 * optionally followed by its own Content-Length, blank line and body.
 *
 * Errors are static strings (ESL_ERR_*), compared by pointer in tests.
 */
#ifndef FSA_ESL_H
#define FSA_ESL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../ring/fsa_msg.h"
#include "../ring/fsa_str.h"

enum esl_content_type {
    ESL_CT_NONE = 0, /* frame without a Content-Type header */
    ESL_CT_UNKNOWN,
    ESL_CT_AUTH_REQUEST,
    ESL_CT_COMMAND_REPLY,
    ESL_CT_API_RESPONSE,
    ESL_CT_EVENT_PLAIN,
    ESL_CT_EVENT_JSON,
    ESL_CT_EVENT_XML,
    ESL_CT_LOG_DATA,
    ESL_CT_DISCONNECT_NOTICE,
    ESL_CT_RUDE_REJECTION,
};

extern const char ESL_ERR_FRAME_TOO_LARGE[];    /* header block or Content-Length over the limit */
extern const char ESL_ERR_BAD_CONTENT_LENGTH[]; /* not a plain decimal number */
extern const char ESL_ERR_BAD_HEADER_LINE[];    /* a line without ':' or with an empty name */
extern const char ESL_ERR_NUL_IN_HEADERS[];     /* binary garbage in a header block */
extern const char ESL_ERR_NO_EVENT_NAME[];      /* event body without Event-Name */
extern const char ESL_ERR_NO_UNIQUE_ID[];       /* an event we use without Unique-ID */

struct esl_frame {
    enum esl_content_type type;
    struct fsa_str content_type; /* raw value of Content-Type */
    struct fsa_str reply_text;   /* Reply-Text, empty when absent */
    struct fsa_str headers;      /* header block, without the blank line */
    struct fsa_str body;         /* Content-Length bytes; empty when none */
};

/*
 * Resumable scan state for the frame at the start of the caller's buffer.
 * Owned by one connection (its reactor thread). Offsets, never pointers, so
 * the caller may move its buffer between calls. The public fields may be
 * read by the caller; the rest is the framer's.
 */
struct esl_framer {
    size_t max_frame;      /* limit on the whole frame as consumed (stray blank lines, headers, blank line, body) */
    size_t scanned;        /* offset where the search for the blank line resumes */
    size_t header_len;     /* 0 until the blank line is found; then the offset of the first body byte */
    size_t content_length; /* valid once header_len != 0: header_len + content_length = whole frame */
    /* framer-private */
    size_t start;          /* first header byte (stray blank lines before it are skipped) */
    size_t headers_end;    /* end of the header lines (last line's '\n' included, blank line excluded) */
    size_t ct_off, ct_len; /* Content-Type value; ct_off == SIZE_MAX when absent */
    size_t rt_off, rt_len; /* Reply-Text value; rt_off == SIZE_MAX when absent */
    enum esl_content_type type;
    bool started; /* start is known: the stray blank lines are behind */
};

/* max_frame: see struct esl_framer; a frame of exactly max_frame bytes passes, one byte more is refused. */
void esl_framer_init(struct esl_framer *f, size_t max_frame);

/*
 * Looks for one whole frame at the start of buf[0..len).
 * Contract: buf starts at the first byte of the current frame; after a 0
 * return the next call passes the same bytes plus more (the buffer may move).
 * Returns 1 and sets *out and *consumed (slices point into buf) when a frame
 * is complete, and readies f for the next frame; 0 when more bytes are
 * needed; -1 with *err on a protocol error (the connection must be reset and
 * f re-initialised). Stray blank lines between frames are consumed silently
 * (returned as 0-consumption is never done: they count in *consumed of the
 * next frame, and towards its max_frame).
 * Header block: "Name: value" lines ended by "\n"; the block ends at the
 * first empty line, "\n" or "\r\n" (CRLF tolerated as libesl does; FreeSWITCH
 * itself sends bare "\n"). Header names are matched case-sensitively.
 * Errors: ESL_ERR_FRAME_TOO_LARGE as soon as max_frame bytes are held without
 * a complete header block, or when the header block is complete and its
 * Content-Length would take the frame past max_frame; ESL_ERR_NUL_IN_HEADERS
 * as soon as a NUL is seen in the header block; ESL_ERR_BAD_CONTENT_LENGTH
 * (not all digits, empty, overflowing, or given twice);
 * ESL_ERR_BAD_HEADER_LINE.
 */
int esl_framer_next(struct esl_framer *f, const char *buf, size_t len, struct esl_frame *out, size_t *consumed,
                    const char **err);

/*
 * Iterates "Name: value\n" lines (a '\r' before the '\n' is dropped; spaces
 * and tabs after the ':' are skipped). Returns false at the end of the block
 * or at a blank line; after a blank line *block holds what follows it (a
 * plain event's own body). A line without ':' comes back whole as *name with
 * value->p == NULL; an empty name (":x") comes back as name->n == 0.
 */
bool esl_header_next(struct fsa_str *block, struct fsa_str *name, struct fsa_str *value);
/* First header with that exact (case-sensitive) name, or an empty slice with p == NULL. */
struct fsa_str esl_header_get(struct fsa_str block, const char *name);

/*
 * Percent-decodes src into dst[cap] (NUL-terminated). A bad or cut escape is
 * copied as is (FreeSWITCH leaves existing %XX alone), and so is "%00"; a raw
 * NUL byte is written as the three characters "%00". So the result never
 * holds a NUL: strlen(dst) is the returned length. '+' stays '+'.
 * Returns the decoded length; *truncated (may be NULL) says whether dst was
 * too small (the output is then cut before a whole decoded byte, never inside
 * an escape). cap == 0 writes nothing.
 */
size_t esl_url_decode(struct fsa_str src, char *dst, size_t cap, bool *truncated);

enum esl_decode_result {
    ESL_DECODE_EVENT = 0, /* msg filled; msg->kind is set */
    ESL_DECODE_HEARTBEAT, /* HEARTBEAT: liveness only */
    ESL_DECODE_OTHER,     /* a valid event the calculators do not use */
    ESL_DECODE_ERROR,     /* *err set */
};

/*
 * Decodes a text/event-plain body. Fills msg (zeroed first) with the fields
 * of fsa_msg.h for CHANNEL_CREATE / _ANSWER / _BRIDGE / _HANGUP_COMPLETE and
 * RECV_ / SEND_RTCP_MESSAGE. msg->instance and msg->ingest_ns are left for
 * the caller. *event_name (may be NULL) is set to the raw Event-Name slice
 * whenever it exists, else to FSA_STR_NULL.
 * Errors: ESL_ERR_NO_EVENT_NAME (absent or empty), ESL_ERR_NO_UNIQUE_ID (a
 * used kind without a usable Unique-ID), ESL_ERR_BAD_HEADER_LINE (a line
 * without ':' or with an empty name before the decoder could stop). Bad
 * numbers never fail an event: see FSA_MSG_BAD_VALUE and esl.c.
 */
enum esl_decode_result esl_decode_plain_event(struct fsa_str body, struct fsa_event_msg *msg,
                                              struct fsa_str *event_name, const char **err);

/*
 * The same decoding in two steps, for a caller that places the message
 * itself: the reactor decodes straight into a lane slot, and which lane
 * depends on the Unique-ID. esl_event_scan() makes the one pass over the
 * body's lines and URL-decodes the Unique-ID; esl_event_fill() then writes
 * the message. Same results and errors as esl_decode_plain_event(), which is
 * exactly scan, then zero the whole message, then fill.
 */
#define ESL_SCAN_FIELDS 40      /* >= the decoder's header count (esl.c checks) */
#define ESL_SCAN_BLOCK_FIELDS 8 /* >= fields per RTCP report block */

struct esl_event_scan {
    uint8_t kind;            /* enum fsa_event_kind, set when the scan returns ESL_DECODE_EVENT */
    bool uuid_cut;           /* the Unique-ID did not fit uuid[] (FSA_MSG_TRUNCATED) */
    uint32_t uuid_len;       /* strlen(uuid) */
    char uuid[FSA_UUID_MAX]; /* URL-decoded Unique-ID: what fsa_shard_of() hashes */
    /* esl.c's: which headers were seen and their raw values (slices into the body) */
    uint64_t seen;
    uint8_t bseen[FSA_RTCP_MAX_BLOCKS + 1];
    struct fsa_str v[ESL_SCAN_FIELDS];
    struct fsa_str bv[FSA_RTCP_MAX_BLOCKS + 1][ESL_SCAN_BLOCK_FIELDS];
};

/* Step 1. Results, errors and *event_name as esl_decode_plain_event(); sc is scratch (not zeroed first). */
enum esl_decode_result esl_event_scan(struct fsa_str body, struct esl_event_scan *sc, struct fsa_str *event_name,
                                      const char **err);
/*
 * Step 2, only after step 1 returned ESL_DECODE_EVENT, with the body still
 * in place (sc points into it). Writes msg as esl_decode_plain_event() would,
 * except for bytes no reader looks at, which are left as they were: an RTCP
 * message's block[] entries from nblocks on and everything after its RTCP
 * payload (the channel payload's room).
 */
void esl_event_fill(const struct esl_event_scan *sc, struct fsa_event_msg *msg);

#endif
