/*
 * Fuzzes the ESL framer: arbitrary bytes, arbitrary read sizes, small limits.
 *
 * Input layout: byte 0-1 choose max_frame (16 .. 65551, little-endian);
 * bytes 2-9 are eight read sizes, used in turn (b < 200: b + 1 bytes;
 * b >= 200: (b - 199) KiB); the rest is the byte stream from the server.
 *
 * Reads past len are ASan reports: the one-buffer run uses libFuzzer's own
 * exactly sized buffer; the chunked run keeps one copy of the stream whose
 * not-yet-received suffix is poisoned (no per-call copies: those would make
 * one-byte reads of a large frame quadratic). Oracles: the contract of esl_framer_next
 * (return values, consumed within bounds, slices inside the frame, limit
 * honoured, 0 only while fewer than max_frame bytes are held) and a
 * differential one: the chunked run must frame exactly like a run that
 * holds the whole stream in one buffer.
 */
#include "engine/esl.h"

#include <sanitizer/asan_interface.h> /* poisoning macros are no-ops without ASan */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEADER 10
#define MAX_FRAMES 4096

struct outcome {
    size_t nframes;
    size_t consumed[MAX_FRAMES];
    uint64_t hash[MAX_FRAMES];
    const char *err; /* NULL: ended waiting for more bytes */
    size_t left;     /* bytes not framed at the end */
};

static void require(int ok)
{
    if (!ok)
        abort();
}

static int inside(struct fsa_str s, const char *p, size_t n)
{
    return s.n == 0 || (s.p >= p && s.n <= n && (size_t)(s.p - p) <= n - s.n);
}

static void check_frame(const struct esl_frame *f, const char *buf, size_t consumed, size_t max_frame)
{
    require(consumed > 0 && consumed <= max_frame);
    require(inside(f->headers, buf, consumed) && f->headers.n > 0);
    require(inside(f->body, buf, consumed));
    require(inside(f->content_type, buf, consumed));
    require(inside(f->reply_text, buf, consumed));
    require(f->body.p == buf + consumed - f->body.n); /* the body ends the frame */
    require(f->type >= ESL_CT_NONE && f->type <= ESL_CT_RUDE_REJECTION);
    require((f->type == ESL_CT_NONE) == (f->content_type.p == NULL));
    /* the header block has no blank line inside */
    for (size_t i = 0; i + 1 < f->headers.n; i++)
        require(!(f->headers.p[i] == '\n' && f->headers.p[i + 1] == '\n'));
    require(memchr(f->headers.p, '\0', f->headers.n) == NULL);
}

static uint64_t frame_hash(const struct esl_frame *f)
{
    return fsa_hash64(f->headers.p, f->headers.n) ^ (fsa_hash64(f->body.p, f->body.n) * 31) ^ (uint64_t)f->type;
}

static int is_framer_error(const char *e)
{
    return e == ESL_ERR_FRAME_TOO_LARGE || e == ESL_ERR_BAD_CONTENT_LENGTH || e == ESL_ERR_BAD_HEADER_LINE ||
           e == ESL_ERR_NUL_IN_HEADERS;
}

static void run_whole(const char *data, size_t len, size_t max_frame, struct outcome *o)
{
    struct esl_framer f;
    esl_framer_init(&f, max_frame);
    memset(o, 0, sizeof(*o));
    size_t off = 0;
    for (;;) {
        size_t n = len - off;
        struct esl_frame fr;
        size_t used = 0;
        const char *err = NULL;
        int rc = esl_framer_next(&f, data + off, n, &fr, &used, &err);
        require(rc >= -1 && rc <= 1);
        if (rc == 1) {
            check_frame(&fr, data + off, used, max_frame);
            require(used <= n);
            if (o->nframes < MAX_FRAMES) {
                o->consumed[o->nframes] = used;
                o->hash[o->nframes] = frame_hash(&fr);
            }
            o->nframes++;
            off += used;
            continue;
        }
        if (rc == 0) {
            require(n < max_frame);
        } else {
            require(is_framer_error(err));
            o->err = err;
        }
        o->left = n;
        return;
    }
}

static void run_chunked(const char *data, size_t len, size_t max_frame, const uint8_t sizes[8], struct outcome *o)
{
    struct esl_framer f;
    esl_framer_init(&f, max_frame);
    memset(o, 0, sizeof(*o));
    char *s = malloc(len ? len : 1);
    memcpy(s, data, len);
    ASAN_POISON_MEMORY_REGION(s, len); /* "not received yet" */
    size_t start = 0, have = 0, k = 0;
    while (start + have < len && !o->err) {
        uint8_t b = sizes[k++ % 8];
        size_t n = b < 200 ? (size_t)b + 1 : (size_t)(b - 199) * 1024;
        if (n > len - start - have)
            n = len - start - have;
        ASAN_UNPOISON_MEMORY_REGION(s + start + have, n);
        have += n;
        for (;;) {
            struct esl_frame fr;
            size_t used = 0;
            const char *err = NULL;
            int rc = esl_framer_next(&f, s + start, have, &fr, &used, &err);
            require(rc >= -1 && rc <= 1);
            if (rc == 1) {
                check_frame(&fr, s + start, used, max_frame);
                require(used <= have);
                if (o->nframes < MAX_FRAMES) {
                    o->consumed[o->nframes] = used;
                    o->hash[o->nframes] = frame_hash(&fr);
                }
                o->nframes++;
                start += used;
                have -= used;
                continue;
            }
            if (rc == 0) {
                require(have < max_frame); /* memory stays bounded by the limit */
            } else {
                require(is_framer_error(err));
                o->err = err;
            }
            break;
        }
    }
    o->left = have;
    ASAN_UNPOISON_MEMORY_REGION(s, len);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    size_t max_frame = 16 + (size_t)(data[0] | data[1] << 8);
    const uint8_t *sizes = data + 2;
    const char *stream = (const char *)data + HEADER;
    size_t len = size - HEADER;

    static struct outcome whole, chunked; /* large: keep them off the stack */
    run_whole(stream, len, max_frame, &whole);
    run_chunked(stream, len, max_frame, sizes, &chunked);

    /* Framing does not depend on how the bytes were cut into reads. */
    require(whole.nframes == chunked.nframes);
    require(whole.err == chunked.err);
    require(whole.err || whole.left == chunked.left); /* after an error, "left" depends on when it was seen */
    size_t n = whole.nframes < MAX_FRAMES ? whole.nframes : MAX_FRAMES;
    for (size_t i = 0; i < n; i++) {
        require(whole.consumed[i] == chunked.consumed[i]);
        require(whole.hash[i] == chunked.hash[i]);
    }
    return 0;
}
