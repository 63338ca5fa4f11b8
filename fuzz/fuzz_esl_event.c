/*
 * Fuzzes the plain-event decoder (and the header iterator and URL decoder
 * it is built on) with arbitrary bodies.
 *
 * The body is libFuzzer's own exactly sized buffer, so any read past it is
 * an ASan report. Oracles: the result and error are ones the API documents;
 * every string field is NUL-terminated inside its array and holds no NUL
 * before it; uuid_len matches; nblocks <= FSA_RTCP_MAX_BLOCKS and no block
 * has SSRC 0; enums and flags in range; QoS bits only on HANGUP_COMPLETE;
 * decoding twice gives the same bytes (catches reads of uninitialised state).
 */
#include "engine/esl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void require(int ok)
{
    if (!ok)
        abort();
}

static void check_cstr(const char *s, size_t cap, int may_be_empty)
{
    const char *nul = memchr(s, '\0', cap);
    require(nul != NULL);
    require(may_be_empty || nul != s);
    /* nothing after the terminator: the message was zeroed first */
    for (const char *p = nul; p < s + cap; p++)
        require(*p == '\0');
}

static void check_msg(const struct fsa_event_msg *m)
{
    require(m->kind > FSA_EV_NONE && m->kind < FSA_EV_KIND_COUNT);
    require((m->flags & ~(FSA_MSG_TRUNCATED | FSA_MSG_BAD_VALUE)) == 0);
    require(m->uuid_len > 0 && m->uuid_len < FSA_UUID_MAX);
    require(strlen(m->uuid) == m->uuid_len);
    check_cstr(m->uuid, sizeof(m->uuid), 0);
    require(m->instance == 0 && m->ingest_ns == 0);
    if (m->kind == FSA_EV_RECV_RTCP || m->kind == FSA_EV_SEND_RTCP) {
        const struct fsa_rtcp_payload *r = &m->u.rtcp;
        require(r->nblocks <= FSA_RTCP_MAX_BLOCKS);
        for (unsigned i = 0; i < r->nblocks; i++) {
            require(r->block[i].source_ssrc != 0);
            require(r->block[i].fraction <= 255);
            require(isnan(r->block[i].rtt_avg_s) || isfinite(r->block[i].rtt_avg_s));
            if (m->kind == FSA_EV_SEND_RTCP)
                require(isnan(r->block[i].rtt_avg_s));
        }
        for (unsigned i = r->nblocks; i < FSA_RTCP_MAX_BLOCKS; i++)
            require(r->block[i].source_ssrc == 0);
        return;
    }
    const struct fsa_channel_payload *c = &m->u.chan;
    check_cstr(c->call_id, sizeof(c->call_id), 1);
    check_cstr(c->domain, sizeof(c->domain), 1);
    check_cstr(c->codec, sizeof(c->codec), 1);
    check_cstr(c->local_media_ip, sizeof(c->local_media_ip), 1);
    check_cstr(c->remote_media_ip, sizeof(c->remote_media_ip), 1);
    check_cstr(c->call_uuid, sizeof(c->call_uuid), 1);
    check_cstr(c->other_leg_uuid, sizeof(c->other_leg_uuid), 1);
    check_cstr(c->hangup_cause, sizeof(c->hangup_cause), 1);
    require(c->direction <= FSA_DIR_OUTBOUND);
    require(c->domain_rank <= FSA_DOMAIN_RANK_MAX);
    require((c->domain_rank == FSA_DOMAIN_NONE) == (c->domain[0] == '\0'));
    require((c->qos_present & ~0xfffu) == 0);
    if (m->kind != FSA_EV_CHANNEL_HANGUP_COMPLETE)
        require(c->qos_present == 0);
    const double *d[] = {&c->in_mos, &c->in_jitter_min_variance, &c->in_jitter_max_variance, &c->in_quality_pct,
                         &c->in_mean_interval_ms};
    for (size_t i = 0; i < 5; i++)
        require(isfinite(*d[i]));
}

static void check_url_decode(const uint8_t *data, size_t size)
{
    /* cap from the first byte: exercises truncation at every position, including inside escapes */
    size_t cap = size ? data[0] % 64 : 0;
    char out[64];
    memset(out, 0x5a, sizeof(out));
    bool cut = false;
    size_t n = esl_url_decode(fsa_str_make((const char *)data, size), out, cap, &cut);
    if (cap == 0) {
        require(n == 0 && out[0] == 0x5a && cut == (size > 0));
        return;
    }
    size_t nuls = 0, pct = 0;
    for (size_t i = 0; i < size; i++) {
        nuls += data[i] == '\0';
        pct += data[i] == '%';
    }
    require(n < cap && n <= size + 2 * nuls); /* a raw NUL becomes "%00" */
    require(out[n] == '\0');
    require(memchr(out, '\0', n) == NULL);
    for (size_t i = n + 1; i < sizeof(out); i++)
        require(out[i] == 0x5a); /* nothing written past the terminator */
    if (!cut)                    /* each escape shrinks 3 bytes to 1; nothing else shrinks */
        require(n + 2 * pct >= size);
}

static void check_headers(const char *p, size_t n)
{
    struct fsa_str block = fsa_str_make(p, n), name, value;
    size_t lines = 0;
    while (esl_header_next(&block, &name, &value)) {
        require(name.p >= p && name.p + name.n <= p + n);
        require(value.p == NULL || (value.p >= p && value.p + value.n <= p + n));
        require(memchr(name.p, '\n', name.n) == NULL);
        require(value.p == NULL || memchr(value.p, '\n', value.n) == NULL);
        require(++lines <= n);
    }
    require(block.n <= n && (block.n == 0 || (block.p >= p && block.p + block.n <= p + n)));
    struct fsa_str v = esl_header_get(fsa_str_make(p, n), "Unique-ID");
    require(v.p == NULL || (v.p >= p && v.p + v.n <= p + n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct fsa_str body = fsa_str_make(p, size);
    static struct fsa_event_msg m1, m2;
    struct fsa_str name1, name2;
    const char *err1 = NULL, *err2 = NULL;

    memset(&m1, 0xa5, sizeof(m1)); /* garbage in: the decoder must zero what it hands out */
    enum esl_decode_result r1 = esl_decode_plain_event(body, &m1, &name1, &err1);
    require(r1 >= ESL_DECODE_EVENT && r1 <= ESL_DECODE_ERROR);
    require(name1.p == NULL || (name1.p >= p && name1.p + name1.n <= p + size));
    if (r1 == ESL_DECODE_ERROR)
        require(err1 == ESL_ERR_NO_EVENT_NAME || err1 == ESL_ERR_NO_UNIQUE_ID || err1 == ESL_ERR_BAD_HEADER_LINE);
    if (r1 == ESL_DECODE_HEARTBEAT || r1 == ESL_DECODE_OTHER)
        require(name1.p != NULL && name1.n > 0);
    if (r1 == ESL_DECODE_EVENT) {
        require(name1.p != NULL);
        check_msg(&m1);
    }

    memset(&m2, 0x5a, sizeof(m2));
    enum esl_decode_result r2 = esl_decode_plain_event(body, &m2, &name2, &err2);
    require(r1 == r2 && err1 == err2 && name1.p == name2.p && name1.n == name2.n);
    if (r1 == ESL_DECODE_EVENT)
        require(memcmp(&m1, &m2, sizeof(m1)) == 0);

    check_url_decode(data, size);
    check_headers(p, size);
    return 0;
}
