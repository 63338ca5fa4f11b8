/*
 * fssim_replay.c: loading a raw ESL capture (server->client bytes as recv()
 * returned them, e.g. fs-plain-all.raw) for --replay.
 *
 * The file is cut into frames by the ESL framing rule (header block up to an
 * empty line, then Content-Length bytes). Only text/event-* frames are kept;
 * the capture's own auth/request, command replies, api responses and the
 * disconnect notice belong to the capture client's session, not to the events.
 * Each kept frame is served verbatim, so a client sees the exact bytes
 * FreeSWITCH sent. Per frame we note the event name (for subscription
 * filtering), the CUSTOM subclass, and Event-Date-Timestamp (for real-time
 * pacing with --replay-speed).
 */
#include "fssim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ring/fsa_str.h"

static const char *find_header(const char *p, const char *end, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if (eol == p)
            return NULL; /* end of the header block */
        if ((size_t)(eol - p) > nl + 1 && memcmp(p, name, nl) == 0 && p[nl] == ':' && p[nl + 1] == ' ') {
            *vlen = (size_t)(eol - p) - nl - 2;
            return p + nl + 2;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Value of "key":"value" in a flat JSON object (no unescaping: names and timestamps need none). */
static const char *find_json(const char *p, const char *end, const char *key, size_t *vlen)
{
    char pat[64];
    int n = snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    if (n <= 0 || (size_t)n >= sizeof(pat))
        return NULL;
    const char *hit = memmem(p, (size_t)(end - p), pat, (size_t)n);
    if (!hit)
        return NULL;
    const char *v = hit + n;
    const char *q = v;
    while (q < end && *q != '"') {
        if (*q == '\\')
            q++;
        q++;
    }
    if (q >= end)
        return NULL;
    *vlen = (size_t)(q - v);
    return v;
}

static char *url_decode_dup(const char *p, size_t n)
{
    char *o = malloc(n + 1), *w = o;
    if (!o)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && fsa_hex_digit((unsigned char)p[i + 1]) >= 0 && fsa_hex_digit((unsigned char)p[i + 2]) >= 0) {
            *w++ = (char)(fsa_hex_digit((unsigned char)p[i + 1]) * 16 + fsa_hex_digit((unsigned char)p[i + 2]));
            i += 2;
        } else {
            *w++ = p[i];
        }
    }
    *w = '\0';
    return o;
}

const char *fssim_replay_load(struct fssim_replay *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fssim: --replay %s: %s\n", path, strerror(errno));
        return "cannot open replay file";
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return "cannot size replay file";
    }
    long sz = ftell(f);
    rewind(f);
    if (sz <= 0) {
        fclose(f);
        return "empty replay file";
    }
    r->data = malloc((size_t)sz);
    if (!r->data)
        abort();
    if (fread(r->data, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        return "short read on replay file";
    }
    fclose(f);
    r->size = (size_t)sz;
    r->fmt = FSSIM_FMT_PLAIN;

    size_t cap = 0;
    bool fmt_set = false;
    size_t pos = 0;
    while (pos < r->size) {
        const char *start = r->data + pos, *end = r->data + r->size;
        const char *hend = memmem(start, (size_t)(end - start), "\n\n", 2);
        if (!hend) {
            fprintf(stderr, "fssim: --replay %s: trailing partial frame at offset %zu ignored\n", path, pos);
            break;
        }
        size_t clen = 0, vlen;
        const char *v = find_header(start, hend + 1, "Content-Length", &vlen);
        if (v) {
            char tmp[24];
            if (vlen == 0 || vlen >= sizeof(tmp))
                return "bad Content-Length in replay file";
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            char *e;
            unsigned long long cl = strtoull(tmp, &e, 10);
            if (*e)
                return "bad Content-Length in replay file";
            clen = (size_t)cl;
        }
        const char *body = hend + 2;
        if ((size_t)(end - body) < clen) {
            fprintf(stderr, "fssim: --replay %s: truncated frame at offset %zu ignored\n", path, pos);
            break;
        }
        const char *ct = find_header(start, hend + 1, "Content-Type", &vlen);
        size_t flen = (size_t)(body + clen - start);
        if (ct && vlen > 11 && memcmp(ct, "text/event-", 11) == 0) {
            enum fssim_fmt fmt;
            if (vlen == 16 && memcmp(ct, "text/event-plain", 16) == 0)
                fmt = FSSIM_FMT_PLAIN;
            else if (vlen == 15 && memcmp(ct, "text/event-json", 15) == 0)
                fmt = FSSIM_FMT_JSON;
            else
                fmt = FSSIM_FMT_XML;
            if (!fmt_set) {
                r->fmt = fmt;
                fmt_set = true;
            } else if (fmt != r->fmt) {
                return "replay file mixes event formats";
            }
            if (r->nframes == cap) {
                cap = cap ? cap * 2 : 1024;
                r->frames = realloc(r->frames, cap * sizeof(*r->frames));
                if (!r->frames)
                    abort();
            }
            struct fssim_replay_frame *fr = &r->frames[r->nframes++];
            memset(fr, 0, sizeof(*fr));
            fr->off = pos;
            fr->len = flen;
            fr->kind = -1;
            const char *bend = body + clen;
            const char *name, *sub, *ts;
            size_t nl = 0, sl = 0, tl = 0;
            if (fmt == FSSIM_FMT_JSON) {
                name = find_json(body, bend, "Event-Name", &nl);
                sub = find_json(body, bend, "Event-Subclass", &sl);
                ts = find_json(body, bend, "Event-Date-Timestamp", &tl);
            } else {
                name = find_header(body, bend, "Event-Name", &nl);
                sub = find_header(body, bend, "Event-Subclass", &sl);
                ts = find_header(body, bend, "Event-Date-Timestamp", &tl);
            }
            if (name)
                fr->kind = fssim_event_kind(name, nl);
            if (sub)
                fr->subclass = url_decode_dup(sub, sl);
            if (ts) {
                for (size_t i = 0; i < tl && ts[i] >= '0' && ts[i] <= '9'; i++)
                    fr->ts_us = fr->ts_us * 10 + (uint64_t)(ts[i] - '0');
            }
        }
        pos += flen;
    }
    if (!r->nframes)
        return "no text/event-* frames in replay file";
    return NULL;
}

void fssim_replay_free(struct fssim_replay *r)
{
    for (size_t i = 0; i < r->nframes; i++)
        free((void *)r->frames[i].subclass);
    free(r->frames);
    free(r->data);
    memset(r, 0, sizeof(*r));
}
