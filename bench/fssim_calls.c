/*
 * fssim_calls.c: the synthetic FreeSWITCH behind each instance.
 *
 * A call is two legs, like the bridged pair in the capture: an inbound A leg
 * (the caller, sofia/a/<num>@<domain>) bridged to an outbound B leg
 * (sofia/a/<dest>@127.0.0.1:5090, Channel-Call-UUID = Other-Leg-Unique-ID =
 * the A leg). Its timeline, t0 = start, ta = t0 + 20 ms (answer):
 *
 *   t0          A CHANNEL_STATE, A CHANNEL_CREATE, B CHANNEL_STATE, B CHANNEL_CREATE
 *   ta          B CHANNEL_ANSWER, B CHANNEL_CALLSTATE, A CHANNEL_ANSWER,
 *               A CHANNEL_CALLSTATE, A CHANNEL_BRIDGE
 *   ta + k*I    for k = 1 .. floor(D / I): B [SEND_RTCP_MESSAGE], B RECV_RTCP_MESSAGE,
 *               A [SEND_RTCP_MESSAGE], A RECV_RTCP_MESSAGE   (SEND only with --fire-rtcp)
 *   ta + D      B CHANNEL_HANGUP, B CHANNEL_HANGUP_COMPLETE, A CHANNEL_HANGUP,
 *               B CHANNEL_DESTROY, A CHANNEL_HANGUP_COMPLETE, A CHANNEL_DESTROY
 *
 * with I = --rtcp-interval-ms and D = the call's media duration (--call-duration,
 * +/- --duration-jitter). So each leg gets exactly floor(D / I) RECV reports (and
 * as many SEND reports with --fire-rtcp), the capture's 6 per 30 s leg at 5 s.
 *
 * Every event takes the next Event-Sequence of its instance when it is fired,
 * whether or not anybody listens (as in FreeSWITCH), and carries the real time
 * of firing. Everything else comes from the instance's PRNG, seeded from --seed
 * and the instance index, so the same seed gives the same calls, UUIDs, codecs,
 * ports and statistics (only the time fields differ between runs).
 *
 * Units and formulas (per leg, both directions alike; L = --loss-pct,
 * J = --jitter-ms, 20 ms ptime so 50 packets/s; n = D / 20 at hangup):
 *   RTCP report k:  n_k = k*I/20; cumulative Lost = floor(n_k * L / 100) (the
 *                   agent must difference it); Fraction = 256 * (lost in the
 *                   interval) / (packets in the interval), capped at 255;
 *                   Jitter = J * clock / 1000 in RTP timestamp units (J*8 at
 *                   8 kHz, J*48 for opus); Rtt0-Avg = --rtt-ms / 1000 in seconds
 *                   with "%f" (0.000000 on the first report); LSR/DLSR 0 on the
 *                   first report, then the NTP middle 32 bits of the previous
 *                   report and the delay since in 1/65536 s.
 *   hangup:         in_packet_count = n - gap, in_skip_packet_count = gap,
 *                   in_flaw_total = lost, quality R = floor(100*(in - flaws)/in)
 *                   (100 without loss), in_mos = 1 + 0.035R + 7e-6 R(R-60)(100-R)
 *                   ("%0.2f", 4.50 at R=100, FreeSWITCH's own formula),
 *                   jitter variances J^2/20 and 4J^2 ms^2, bytes = packets *
 *                   (payload + 12).
 *   gap (ticks with nothing to play) = lost + dropped + silent + held + dead, at
 *   most n: lost = floor(n L / 100) as above; dropped = floor(n X / 100) with
 *   X = --drop-pct (the far side's sendto() failed: FreeSWITCH rewinds the
 *   sequence, so no RTCP Lost, no flaw, MOS stays 4.50); silent =
 *   floor(n V / 100) with V = --vad-pct (VAD/DTX: no loss either, and
 *   in_cng_packet_count = ceil(silent / 50), one comfort-noise packet per
 *   second of silence); held = floor(n / 2) on the A leg of a --hold-pct call
 *   (hold_accum_seconds = floor(D / 2 s)); dead = n - floor(n / 2) on the A leg
 *   of a MEDIA_TIMEOUT call (its far end went silent half way).
 *
 * Per-call choices that must not disturb the PRNG stream (so a seed gives the
 * same calls with or without them) are made from the call index i alone:
 * call i is picked for a share P % when (37 i + salt) mod 100 < P, i.e. exactly
 * P calls of every 100 consecutive ones. Salts: --ip-from-pct 23, --hold-pct
 * 61, --hangup-causes 11 (the causes take consecutive ranges of that value, in
 * fssim_cause_names order). An unanswered cause (USER_BUSY, NO_USER_RESPONSE,
 * NO_ANSWER, CALL_REJECTED, ORIGINATOR_CANCEL) gives a call without ANSWER,
 * BRIDGE or RTCP that hangs up after ringing (1 s for USER_BUSY and
 * CALL_REJECTED, else D) with no rtp_audio_* statistics, as the capture's
 * NO_ROUTE_DESTINATION legs.
 */
#include "fssim.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- codecs */

struct codec {
    const char *name;   /* Channel-Read-Codec-Name, rtp_use_codec_name */
    unsigned rate;      /* Channel-Read-Codec-Rate (samples/s) */
    unsigned clock;     /* RTP clock (RTP-Rate, jitter units) */
    unsigned pt;        /* payload type */
    unsigned bitrate;   /* Channel-Read-Codec-Bit-Rate */
    unsigned payload;   /* bytes per 20 ms packet */
    unsigned ts_step;   /* RTP timestamp step per packet */
    const char *module; /* ep_codec_string prefix */
    const char *rtpmap; /* SDP a=rtpmap encoding */
};

static const struct codec codecs[] = {
    {"PCMU", 8000, 8000, 0, 64000, 160, 160, "CORE_PCM_MODULE", "PCMU/8000"},
    {"PCMA", 8000, 8000, 8, 64000, 160, 160, "CORE_PCM_MODULE", "PCMA/8000"},
    {"G722", 16000, 8000, 9, 64000, 160, 160, "CORE_SPANDSP_MODULE", "G722/8000"},
    {"opus", 48000, 48000, 102, 40000, 80, 960, "mod_opus", "opus/48000/2"},
};
const char *const fssim_codec_names[] = {"PCMU", "PCMA", "G722", "OPUS"};
const int fssim_codec_count = 4;

static const char *const domains[] = {"example.com", "carrier-a.net", "tenant-b.org"};

/* --ip-from-pct: the gateway's address as PBXs put it in the From host, every form the agent must skip. */
static const char *const gateways[] = {"198.51.100.7", "198.51.100.7:5060", "[2001:db8::7]", "[2001:db8::7]:5080"};

/* Hangup causes: Q.850 code (FreeSWITCH's own for the non-Q.850 ones), SIP status, what happens to the call. */
enum cause_kind { CK_ANSWERED, CK_RING_SHORT, CK_RING, CK_MEDIA_TIMEOUT };
static const struct {
    const char *name;
    unsigned q850, sip;
    enum cause_kind kind;
} causes[] = {
    {"NORMAL_CLEARING", 16, 200, CK_ANSWERED},     {"USER_BUSY", 17, 486, CK_RING_SHORT},
    {"NO_USER_RESPONSE", 18, 408, CK_RING},        {"NO_ANSWER", 19, 480, CK_RING},
    {"CALL_REJECTED", 21, 603, CK_RING_SHORT},     {"ORIGINATOR_CANCEL", 487, 487, CK_RING},
    {"MEDIA_TIMEOUT", 604, 200, CK_MEDIA_TIMEOUT},
};
#define NCAUSES (int)(sizeof(causes) / sizeof(causes[0]))
_Static_assert(sizeof(causes) / sizeof(causes[0]) <= sizeof(fssim_cfg.cause_pct) / sizeof(fssim_cfg.cause_pct[0]),
               "cause_pct has a share per cause");

bool fssim_parse_causes(const char *arg)
{
    unsigned pct[sizeof(fssim_cfg.cause_pct) / sizeof(fssim_cfg.cause_pct[0])] = {0}, total = 0;
    const char *p = arg;
    while (p && *p) {
        const char *colon = strchr(p, ':'), *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        if (!colon || colon > end)
            return false;
        int k = -1;
        for (int i = 1; i < NCAUSES; i++)
            if (strlen(causes[i].name) == (size_t)(colon - p) && !strncmp(p, causes[i].name, (size_t)(colon - p)))
                k = i;
        unsigned v = 0;
        const char *d = colon + 1;
        if (k < 0 || d == end || end - d > 3)
            return false;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9')
                return false;
            v = v * 10 + (unsigned)(*d - '0');
        }
        pct[k] = v;
        p = *end ? end + 1 : end;
    }
    for (int i = 1; i < NCAUSES; i++)
        total += pct[i];
    if (total > 100)
        return false;
    memcpy(fssim_cfg.cause_pct, pct, sizeof(pct));
    return true;
}

/* Call i is one of P % of calls (exactly P of any 100 consecutive ones), the salt decorrelating choices. */
static bool picked(uint64_t i, unsigned salt, unsigned pct)
{
    return (i * 37 + salt) % 100 < pct;
}

static int cause_of(uint64_t i)
{
    unsigned u = (unsigned)((i * 37 + 11) % 100), cum = 0;
    for (int k = 1; k < NCAUSES; k++) {
        cum += fssim_cfg.cause_pct[k];
        if (u < cum)
            return k;
    }
    return 0;
}

/* ---------------------------------------------------------------- call state */

enum step { STEP_ANSWER, STEP_REPORT, STEP_HANGUP };

struct fssim_call {
    struct fssim_call *prev, *next;
    struct fssim_inst *in;
    uint64_t idx;
    char uuid[2][37], call_id[2][37];
    char num[24], dest[16];
    char rip[2][20];
    int domain;
    bool has_domain;
    int codec;
    int cause;     /* index into causes[] */
    bool answered; /* causes[cause].kind is not a ringing one */
    bool held;     /* --hold-pct: the A leg is held half the call */
    bool ip_from;  /* --ip-from-pct: From host = a gateway literal, To host = the tenant */
    bool ended;    /* hangup fired: the hold time is known */
    uint32_t ssrc[2], peer_ssrc[2];
    uint32_t seq0[2], peer_seq0[2];
    uint16_t lport[2], rport[2];
    uint32_t session_id[2];
    uint64_t ta_ns;   /* planned answer time (CLOCK_MONOTONIC) */
    uint32_t dur_ms;  /* planned media duration */
    uint32_t nrep, k; /* reports planned / done */
    uint64_t created_us, answered_us, hangup_us;
    uint64_t prev_ntp[2]; /* NTP (32.32) of the previous report per leg, for LSR */
    uint64_t prev_lost;
    uint64_t prev_n;
    enum step step;
};

/* RTCP report values for one event. */
struct rtcp_vals {
    uint32_t ssrc, src_ssrc;
    uint32_t ntp_msw, ntp_lsw;
    uint32_t rtp_ts, last_ts, pkts, octets, rate;
    uint64_t capture_us;
    uint32_t fraction, lost, loss_avg, hseq, jitter, lsr, dlsr;
    double rtt_s;
};

struct hb_vals {
    uint64_t up_us;
};

/* Everything a token may need for one event. */
struct tokctx {
    struct fssim_inst *in;
    const struct fssim_call *c;
    int leg;
    uint64_t seq, ev_us;
    const struct rtcp_vals *rv;
    const struct hb_vals *hb;
    const char *job_uuid, *job_cmd, *job_arg;
};

static int kind_of_tpl[FSSIM_TPL_COUNT];

/* ---------------------------------------------------------------- token values */

static void put_uptime(struct fssim_buf *b, uint64_t us)
{
    /* switch_core "UP %u year%s, %u day%s, ..." with "s" unless the number is 1 */
    uint64_t s = us / 1000000;
    unsigned yr = (unsigned)(s / (86400ULL * 365));
    unsigned day = (unsigned)((s / 86400) % 365);
    unsigned hr = (unsigned)((s / 3600) % 24);
    unsigned mn = (unsigned)((s / 60) % 60);
    unsigned sec = (unsigned)(s % 60);
    unsigned ms = (unsigned)((us / 1000) % 1000);
    unsigned mu = (unsigned)(us % 1000);
#define PL(x) ((x) == 1 ? "" : "s")
    fssim_buf_printf(b, "%u year%s, %u day%s, %u hour%s, %u minute%s, %u second%s, %u millisecond%s, %u microsecond%s",
                     yr, PL(yr), day, PL(day), hr, PL(hr), mn, PL(mn), sec, PL(sec), ms, PL(ms), mu, PL(mu));
#undef PL
}

static uint32_t max_sessions(void)
{
    uint64_t need = (uint64_t)fssim_cfg.calls * 2;
    if (need <= 200)
        return 200;
    return (uint32_t)((need + 999) / 1000 * 1000);
}

struct leg_stats {
    uint64_t n, lost, skip, cng, in_pkts, flaws, r;
    double media_ms;
};

static void leg_stats(const struct fssim_call *c, int leg, struct leg_stats *s)
{
    s->media_ms = (double)c->dur_ms; /* planned, so the same seed gives the same statistics */
    s->n = (uint64_t)(s->media_ms / 20.0);
    s->lost = (uint64_t)floor((double)s->n * fssim_cfg.loss_pct / 100.0);
    if (s->lost > s->n)
        s->lost = s->n;
    uint64_t dropped = (uint64_t)floor((double)s->n * fssim_cfg.drop_pct / 100.0);
    uint64_t silent = (uint64_t)floor((double)s->n * fssim_cfg.vad_pct / 100.0);
    uint64_t held = leg == 0 && c->held ? s->n / 2 : 0;
    uint64_t dead = leg == 0 && causes[c->cause].kind == CK_MEDIA_TIMEOUT ? s->n - s->n / 2 : 0;
    s->skip = s->lost + dropped + silent + held + dead;
    if (s->skip > s->n)
        s->skip = s->n;
    s->cng = (silent + 49) / 50;
    s->in_pkts = s->n - s->skip;
    s->flaws = s->lost < s->in_pkts ? s->lost : s->in_pkts;
    if (!s->flaws || !s->in_pkts)
        s->r = 100;
    else
        s->r = (uint64_t)floor(100.0 * (double)(s->in_pkts - (s->flaws < s->in_pkts ? s->flaws : s->in_pkts)) /
                               (double)s->in_pkts);
}

static void put_codec_str(struct fssim_buf *b, const struct codec *k)
{
    fssim_buf_printf(b, "%s@%uh@20i", k->name, k->rate);
}

static void put_codec_ep(struct fssim_buf *b, const struct codec *k)
{
    fssim_buf_printf(b, "%s.%s@%uh@20i@%ub", k->module, k->name, k->rate, k->bitrate);
}

static const struct codec *second_codec(const struct codec *k)
{
    return k == &codecs[0] ? &codecs[1] : &codecs[0];
}

static void tok_value(struct fssim_buf *b, enum fssim_tok tok, const void *vctx)
{
    const struct tokctx *x = vctx;
    const struct fssim_call *c = x->c;
    const struct rtcp_vals *rv = x->rv;
    const struct codec *k = c ? &codecs[c->codec] : &codecs[0];
    int L = x->leg;
    struct leg_stats st;

    switch (tok) {
    case FSSIM_TOK_EV_LOCAL: fssim_fmt_local(b, x->ev_us); return;
    case FSSIM_TOK_EV_GMT: fssim_fmt_gmt(b, x->ev_us); return;
    case FSSIM_TOK_EV_TS: fssim_buf_u64(b, x->ev_us); return;
    case FSSIM_TOK_SEQ: fssim_buf_u64(b, x->seq); return;
    case FSSIM_TOK_CORE_UUID: fssim_buf_puts(b, x->in->core_uuid); return;
    case FSSIM_TOK_HOSTNAME:
    case FSSIM_TOK_SWITCHNAME: fssim_buf_puts(b, x->in->name); return;
    case FSSIM_TOK_JOB_UUID: fssim_buf_puts(b, x->job_uuid ? x->job_uuid : ""); return;
    case FSSIM_TOK_JOB_CMD: fssim_buf_puts(b, x->job_cmd ? x->job_cmd : ""); return;
    case FSSIM_TOK_JOB_ARG: fssim_buf_puts(b, x->job_arg ? x->job_arg : ""); return;
    default: break;
    }
    if (x->hb) {
        const struct fssim_inst *in = x->in;
        switch (tok) {
        case FSSIM_TOK_HB_UPTIME: put_uptime(b, x->hb->up_us); return;
        case FSSIM_TOK_HB_UPTIME_MS: fssim_buf_u64(b, x->hb->up_us / 1000); return;
        case FSSIM_TOK_HB_SESSIONS: fssim_buf_u64(b, in->legs_active); return;
        case FSSIM_TOK_HB_MAX_SESSIONS: fssim_buf_u64(b, max_sessions()); return;
        case FSSIM_TOK_HB_SPS_LAST: fssim_buf_u64(b, in->sps_last); return;
        case FSSIM_TOK_HB_SPS_MAX:
        case FSSIM_TOK_HB_SPS_5MIN: fssim_buf_u64(b, in->sps_peak); return;
        case FSSIM_TOK_HB_SINCE_STARTUP: fssim_buf_u64(b, in->legs_total); return;
        case FSSIM_TOK_HB_PEAK:
        case FSSIM_TOK_HB_PEAK_5MIN: fssim_buf_u64(b, in->legs_peak); return;
        case FSSIM_TOK_HB_IDLE_CPU: fssim_buf_puts(b, "98.000000"); return;
        default: break;
        }
    }
    if (rv) {
        switch (tok) {
        case FSSIM_TOK_RTCP_SSRC: fssim_buf_printf(b, "%08x", rv->ssrc); return;
        case FSSIM_TOK_RTCP_SRC_SSRC: fssim_buf_printf(b, "%08x", rv->src_ssrc); return;
        case FSSIM_TOK_RTCP_NTP_MSW: fssim_buf_u64(b, rv->ntp_msw); return;
        case FSSIM_TOK_RTCP_NTP_LSW: fssim_buf_u64(b, rv->ntp_lsw); return;
        case FSSIM_TOK_RTCP_RTP_TS: fssim_buf_u64(b, rv->rtp_ts); return;
        case FSSIM_TOK_RTCP_LAST_TS: fssim_buf_u64(b, rv->last_ts); return;
        case FSSIM_TOK_RTCP_PKTS: fssim_buf_u64(b, rv->pkts); return;
        case FSSIM_TOK_RTCP_OCTETS: fssim_buf_u64(b, rv->octets); return;
        case FSSIM_TOK_RTCP_RATE: fssim_buf_u64(b, rv->rate); return;
        case FSSIM_TOK_CAPTURE_TIME: fssim_buf_u64(b, rv->capture_us); return;
        case FSSIM_TOK_RTCP_FRACTION: fssim_buf_u64(b, rv->fraction); return;
        case FSSIM_TOK_RTCP_LOST: fssim_buf_u64(b, rv->lost); return;
        case FSSIM_TOK_RTCP_LOSS_AVG: fssim_buf_u64(b, rv->loss_avg); return;
        case FSSIM_TOK_RTCP_HSEQ: fssim_buf_u64(b, rv->hseq); return;
        case FSSIM_TOK_RTCP_JITTER: fssim_buf_u64(b, rv->jitter); return;
        case FSSIM_TOK_RTCP_LSR: fssim_buf_u64(b, rv->lsr); return;
        case FSSIM_TOK_RTCP_DLSR: fssim_buf_u64(b, rv->dlsr); return;
        case FSSIM_TOK_RTCP_RTT: fssim_buf_printf(b, "%f", rv->rtt_s); return;
        default: break;
        }
    }
    if (!c) {
        fssim_buf_puts(b, "0"); /* a token this event kind does not define: never in practice */
        return;
    }
    switch (tok) {
    case FSSIM_TOK_A_UUID: fssim_buf_puts(b, c->uuid[0]); return;
    case FSSIM_TOK_B_UUID: fssim_buf_puts(b, c->uuid[1]); return;
    case FSSIM_TOK_L_UUID: fssim_buf_puts(b, c->uuid[L]); return;
    case FSSIM_TOK_A_CALL_ID: fssim_buf_puts(b, c->call_id[0]); return;
    case FSSIM_TOK_B_CALL_ID: fssim_buf_puts(b, c->call_id[1]); return;
    case FSSIM_TOK_A_NUM: fssim_buf_puts(b, c->num); return;
    case FSSIM_TOK_DEST: fssim_buf_puts(b, c->dest); return;
    case FSSIM_TOK_DOMAIN: fssim_buf_puts(b, domains[c->domain]); return;
    case FSSIM_TOK_FROM_HOST: fssim_buf_puts(b, c->ip_from ? gateways[c->idx % 4] : domains[c->domain]); return;
    case FSSIM_TOK_TO_HOST: fssim_buf_puts(b, c->ip_from ? domains[c->domain] : "127.0.0.1"); return;
    case FSSIM_TOK_TO_HOST_5090: fssim_buf_puts(b, c->ip_from ? domains[c->domain] : "127.0.0.1:5090"); return;
    case FSSIM_TOK_CAUSE: fssim_buf_puts(b, causes[c->cause].name); return;
    case FSSIM_TOK_CAUSE_Q850: fssim_buf_u64(b, causes[c->cause].q850); return;
    case FSSIM_TOK_SIP_REASON:
        fssim_buf_printf(b, "Q.850;cause=%u;text=\"%s\"", causes[c->cause].q850, causes[c->cause].name);
        return;
    case FSSIM_TOK_SIP_STATUS: fssim_buf_u64(b, causes[c->cause].sip); return;
    case FSSIM_TOK_SIP_PROTO: fssim_buf_printf(b, "sip:%u", causes[c->cause].sip); return;
    case FSSIM_TOK_HOLD_S:
    case FSSIM_TOK_HOLD_MS:
    case FSSIM_TOK_HOLD_US: {
        /* the A leg's hold, known once the call ended (0 in earlier events, as FreeSWITCH accumulates it) */
        uint64_t ms = c->ended && c->held && L == 0 ? c->dur_ms / 2 : 0;
        fssim_buf_u64(b, tok == FSSIM_TOK_HOLD_S ? ms / 1000 : tok == FSSIM_TOK_HOLD_MS ? ms : ms * 1000);
        return;
    }
    case FSSIM_TOK_L_SESSION_ID: fssim_buf_u64(b, c->session_id[L]); return;
    case FSSIM_TOK_L_SSRC_DEC: fssim_buf_u64(b, c->ssrc[L]); return;
    case FSSIM_TOK_LOCAL_MEDIA_IP: fssim_buf_puts(b, "192.0.2.2"); return;
    case FSSIM_TOK_A_REMOTE_IP: fssim_buf_puts(b, c->rip[0]); return;
    case FSSIM_TOK_B_REMOTE_IP: fssim_buf_puts(b, c->rip[1]); return;
    case FSSIM_TOK_A_LOCAL_PORT: fssim_buf_u64(b, c->lport[0]); return;
    case FSSIM_TOK_A_REMOTE_PORT: fssim_buf_u64(b, c->rport[0]); return;
    case FSSIM_TOK_B_LOCAL_PORT: fssim_buf_u64(b, c->lport[1]); return;
    case FSSIM_TOK_B_REMOTE_PORT: fssim_buf_u64(b, c->rport[1]); return;
    case FSSIM_TOK_CODEC_NAME: fssim_buf_puts(b, k->name); return;
    case FSSIM_TOK_CODEC_RATE: fssim_buf_u64(b, k->rate); return;
    case FSSIM_TOK_CODEC_BITRATE: fssim_buf_u64(b, k->bitrate); return;
    case FSSIM_TOK_CODEC_PT: fssim_buf_u64(b, k->pt); return;
    case FSSIM_TOK_CODEC_STR: put_codec_str(b, k); return;
    case FSSIM_TOK_CODEC_LAST_STR:
        put_codec_str(b, k);
        fssim_buf_puts(b, "@1c");
        return;
    case FSSIM_TOK_CODEC_EP: put_codec_ep(b, k); return;
    case FSSIM_TOK_CODEC_EP_OFFER:
        put_codec_ep(b, k);
        fssim_buf_putc(b, ',');
        put_codec_ep(b, second_codec(k));
        return;
    case FSSIM_TOK_CODEC_OFFER_NAMES: fssim_buf_printf(b, "%s,%s", k->name, second_codec(k)->name); return;
    case FSSIM_TOK_SDP_OFFER_PTS: fssim_buf_printf(b, "%u %u", k->pt, second_codec(k)->pt); return;
    case FSSIM_TOK_SDP_OFFER_RTPMAPS:
        fssim_buf_printf(b, "a=rtpmap:%u %s\r\na=rtpmap:%u %s\r\n", k->pt, k->rtpmap, second_codec(k)->pt,
                         second_codec(k)->rtpmap);
        return;
    case FSSIM_TOK_SDP_RTPMAP: fssim_buf_printf(b, "a=rtpmap:%u %s\r\n", k->pt, k->rtpmap); return;
    case FSSIM_TOK_RTCP_INTERVAL_MS: fssim_buf_u64(b, fssim_cfg.rtcp_interval_ms); return;
    case FSSIM_TOK_CREATED_US: fssim_buf_u64(b, c->created_us); return;
    case FSSIM_TOK_ANSWERED_US: fssim_buf_u64(b, c->answered_us); return; /* 0: never answered */
    case FSSIM_TOK_HANGUP_US: fssim_buf_u64(b, c->hangup_us); return;
    case FSSIM_TOK_CREATED_EPOCH: fssim_buf_u64(b, c->created_us / 1000000); return;
    case FSSIM_TOK_ANSWERED_EPOCH: fssim_buf_u64(b, c->answered_us / 1000000); return;
    case FSSIM_TOK_HANGUP_EPOCH: fssim_buf_u64(b, c->hangup_us / 1000000); return;
    case FSSIM_TOK_CREATED_STAMP: fssim_fmt_local(b, c->created_us); return;
    case FSSIM_TOK_ANSWERED_STAMP: fssim_fmt_local(b, c->answered_us); return;
    case FSSIM_TOK_HANGUP_STAMP: fssim_fmt_local(b, c->hangup_us); return;
    case FSSIM_TOK_DUR_S: fssim_buf_u64(b, (c->hangup_us - c->created_us) / 1000000); return;
    case FSSIM_TOK_DUR_MS: fssim_buf_u64(b, (c->hangup_us - c->created_us) / 1000); return;
    case FSSIM_TOK_DUR_US: fssim_buf_u64(b, c->hangup_us - c->created_us); return;
    case FSSIM_TOK_BILL_S: fssim_buf_u64(b, c->answered ? (c->hangup_us - c->answered_us) / 1000000 : 0); return;
    case FSSIM_TOK_BILL_MS: fssim_buf_u64(b, c->answered ? (c->hangup_us - c->answered_us) / 1000 : 0); return;
    case FSSIM_TOK_BILL_US: fssim_buf_u64(b, c->answered ? c->hangup_us - c->answered_us : 0); return;
    case FSSIM_TOK_ANS_S: fssim_buf_u64(b, c->answered ? (c->answered_us - c->created_us) / 1000000 : 0); return;
    case FSSIM_TOK_ANS_MS: fssim_buf_u64(b, c->answered ? (c->answered_us - c->created_us) / 1000 : 0); return;
    case FSSIM_TOK_ANS_US: fssim_buf_u64(b, c->answered ? c->answered_us - c->created_us : 0); return;
    default: break;
    }
    /* end-of-call RTP statistics */
    leg_stats(c, L, &st);
    uint64_t hdr = k->payload + 12;
    double j = fssim_cfg.jitter_ms;
    switch (tok) {
    case FSSIM_TOK_RTP_IN_RAW_BYTES:
    case FSSIM_TOK_RTP_IN_MEDIA_BYTES: fssim_buf_u64(b, st.in_pkts * hdr); return;
    case FSSIM_TOK_RTP_IN_PACKET_COUNT:
    case FSSIM_TOK_RTP_IN_MEDIA_PACKET_COUNT: fssim_buf_u64(b, st.in_pkts); return;
    case FSSIM_TOK_RTP_IN_SKIP_PACKET_COUNT: fssim_buf_u64(b, st.skip); return;
    case FSSIM_TOK_RTP_IN_CNG_PACKET_COUNT: fssim_buf_u64(b, st.cng); return;
    case FSSIM_TOK_RTP_IN_FLAW_TOTAL: fssim_buf_u64(b, st.flaws); return;
    case FSSIM_TOK_RTP_IN_JITTER_MIN_VARIANCE: fssim_buf_printf(b, "%0.2f", j * j / 20.0); return;
    case FSSIM_TOK_RTP_IN_JITTER_MAX_VARIANCE: fssim_buf_printf(b, "%0.2f", 4.0 * j * j); return;
    case FSSIM_TOK_RTP_IN_JITTER_LOSS_RATE:
    case FSSIM_TOK_RTP_IN_JITTER_BURST_RATE: fssim_buf_puts(b, "0.00"); return;
    case FSSIM_TOK_RTP_IN_MEAN_INTERVAL:
        fssim_buf_printf(b, "%0.2f", st.in_pkts ? st.media_ms / (double)st.in_pkts : 0.0);
        return;
    case FSSIM_TOK_RTP_IN_QUALITY_PERCENTAGE: fssim_buf_printf(b, "%0.2f", (double)st.r); return;
    case FSSIM_TOK_RTP_IN_MOS: {
        double r = (double)st.r;
        fssim_buf_printf(b, "%0.2f", 1.0 + 0.035 * r + 0.000007 * r * (r - 60.0) * (100.0 - r));
        return;
    }
    case FSSIM_TOK_RTP_OUT_RAW_BYTES:
    case FSSIM_TOK_RTP_OUT_MEDIA_BYTES: fssim_buf_u64(b, st.n * hdr); return;
    case FSSIM_TOK_RTP_OUT_PACKET_COUNT:
    case FSSIM_TOK_RTP_OUT_MEDIA_PACKET_COUNT: fssim_buf_u64(b, st.n); return;
    case FSSIM_TOK_RTP_RTCP_PACKET_COUNT:
        /* misnamed in FreeSWITCH: the far end's sender packet count at its last report */
        fssim_buf_u64(b, (uint64_t)c->nrep * fssim_cfg.rtcp_interval_ms / 20);
        return;
    case FSSIM_TOK_RTP_RTCP_OCTET_COUNT:
        fssim_buf_u64(b, (uint64_t)c->nrep * fssim_cfg.rtcp_interval_ms / 20 * k->payload);
        return;
    default: fssim_buf_puts(b, "0"); return; /* jitter/dtmf/cng/flush/jb/out-skip counters */
    }
}

/* ---------------------------------------------------------------- firing */

static unsigned call_cond(const struct fssim_call *c)
{
    unsigned m = 0;
    if (c && c->has_domain)
        m |= 1u << FSSIM_COND_DOMAIN;
    if (fssim_cfg.fire_rtcp)
        m |= 1u << FSSIM_COND_FIRE;
    if (!c || c->answered)
        m |= 1u << FSSIM_COND_MEDIA | 1u << FSSIM_COND_ANSWERED;
    return m;
}

static void fire(struct fssim_inst *in, struct tokctx *x, int tpl, unsigned cond, const char *body, size_t body_len)
{
    x->in = in;
    x->seq = ++in->seq;
    x->ev_us = fssim_real_us();
    struct fssim_event ev = {
        .kind = kind_of_tpl[tpl],
        .tpl = tpl,
        .cond_mask = cond,
        .tok = tok_value,
        .ctx = x,
        .body = body,
        .body_len = body_len,
        .subclass = NULL,
    };
    fssim_fire(in, &ev);
}

static void fire_leg(struct fssim_call *c, int leg, int tpl, const struct rtcp_vals *rv)
{
    struct tokctx x = {.c = c, .leg = leg, .rv = rv};
    fire(c->in, &x, tpl, call_cond(c), NULL, 0);
}

/* ---------------------------------------------------------------- RTCP */

static uint64_t ntp_now(void)
{
    uint64_t us = fssim_real_us();
    uint64_t sec = us / 1000000 + 2208988800ULL;
    uint64_t frac = ((us % 1000000) << 32) / 1000000;
    return (sec << 32) | frac;
}

/* dir 0 = RECV (far end's report on what this leg sends), 1 = SEND (this leg's report). */
static void rtcp_fill(const struct fssim_call *c, int leg, int dir, uint32_t k, uint64_t ntp, struct rtcp_vals *rv)
{
    const struct codec *cd = &codecs[c->codec];
    uint32_t I = fssim_cfg.rtcp_interval_ms;
    uint64_t n = (uint64_t)k * I / 20, n_prev = (uint64_t)(k - 1) * I / 20;
    uint64_t lost = (uint64_t)floor((double)n * fssim_cfg.loss_pct / 100.0);
    uint64_t lost_prev = (uint64_t)floor((double)n_prev * fssim_cfg.loss_pct / 100.0);
    memset(rv, 0, sizeof(*rv));
    rv->ssrc = dir == 0 ? c->peer_ssrc[leg] : c->ssrc[leg];
    rv->src_ssrc = dir == 0 ? c->ssrc[leg] : c->peer_ssrc[leg];
    rv->ntp_msw = (uint32_t)(ntp >> 32);
    rv->ntp_lsw = (uint32_t)ntp;
    rv->pkts = (uint32_t)n;
    rv->octets = (uint32_t)(n * cd->payload);
    rv->rtp_ts = (uint32_t)(n * cd->ts_step);
    rv->last_ts = dir == 0 ? rv->rtp_ts + cd->ts_step : rv->rtp_ts;
    rv->rate = cd->clock;
    rv->capture_us = fssim_cfg.stamp ? fssim_mono_ns() / 1000 : fssim_real_us();
    uint64_t dn = n - n_prev, dl = lost - lost_prev;
    rv->fraction = dn ? (uint32_t)(dl * 256 / dn) : 0;
    if (rv->fraction > 255)
        rv->fraction = 255;
    rv->lost = (uint32_t)lost;
    rv->loss_avg = n ? (uint32_t)(lost * 100 / n) : 0;
    rv->hseq = (dir == 0 ? c->seq0[leg] : c->peer_seq0[leg]) + (uint32_t)n;
    rv->jitter = (uint32_t)llround(fssim_cfg.jitter_ms * cd->clock / 1000.0);
    if (k > 1 && c->prev_ntp[leg]) {
        rv->lsr = (uint32_t)(c->prev_ntp[leg] >> 16);
        double d = (double)I - fssim_cfg.rtt_ms / 2.0;
        rv->dlsr = d > 0 ? (uint32_t)(d * 65.536) : 0;
        rv->rtt_s = dir == 0 ? fssim_cfg.rtt_ms / 1000.0 : 0;
    }
}

/* ---------------------------------------------------------------- call life cycle */

static void count_sps(struct fssim_inst *in, uint64_t now_ns, uint32_t legs)
{
    if (now_ns - in->sps_window_ns >= 1000000000ULL) {
        in->sps_last = in->sps_count;
        in->sps_count = 0;
        in->sps_window_ns = now_ns;
    }
    in->sps_count += legs;
    if (in->sps_count > in->sps_peak)
        in->sps_peak = in->sps_count;
}

static uint16_t rand_port(struct fssim_rng *r)
{
    return (uint16_t)(16384 + 2 * (fssim_rng_next(r) % 8192));
}

static bool may_start(const struct fssim_inst *in)
{
    if (fssim_cfg.total_calls >= 0 && in->calls_started >= (uint64_t)fssim_cfg.total_calls)
        return false;
    return in->calls_active < fssim_cfg.calls;
}

static void start_call(struct fssim_inst *in, uint64_t now_ns)
{
    struct fssim_call *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    struct fssim_rng *r = &in->rng;
    c->in = in;
    c->idx = in->calls_started++;
    in->calls_active++;
    for (int l = 0; l < 2; l++) {
        fssim_rng_uuid(r, c->uuid[l]);
        fssim_rng_uuid(r, c->call_id[l]);
        c->ssrc[l] = (uint32_t)fssim_rng_next(r);
        c->peer_ssrc[l] = (uint32_t)fssim_rng_next(r);
        c->seq0[l] = (uint32_t)(fssim_rng_next(r) & 0x7fff);
        c->peer_seq0[l] = (uint32_t)(fssim_rng_next(r) & 0x7fff);
        c->lport[l] = rand_port(r);
        c->rport[l] = rand_port(r);
        c->session_id[l] = ++in->session_id;
    }
    uint64_t i = c->idx;
    snprintf(c->rip[0], sizeof(c->rip[0]), "198.51.100.%u", (unsigned)(i % 254 + 1));
    snprintf(c->rip[1], sizeof(c->rip[1]), "203.0.113.%u", (unsigned)((i * 7) % 254 + 1));
    if (i % 4 == 3)
        snprintf(c->num, sizeof(c->num), "+1555%07u", (unsigned)(i % 10000000));
    else
        snprintf(c->num, sizeof(c->num), "%u", (unsigned)(1000 + i % 9000));
    snprintf(c->dest, sizeof(c->dest), "%u", (unsigned)(2000 + (i * 37) % 8000));
    c->domain = (int)(i % 3);
    c->has_domain = i % 10 != 4; /* one call in ten (the 5th, 15th, ...): no variable_domain_name */
    c->ip_from = picked(i, 23, fssim_cfg.ip_from_pct);
    if (c->ip_from)
        c->has_domain = false; /* a gateway's call: the tenant is only in the To host */
    c->held = picked(i, 61, fssim_cfg.hold_pct);
    c->cause = cause_of(i);
    c->answered = causes[c->cause].kind == CK_ANSWERED || causes[c->cause].kind == CK_MEDIA_TIMEOUT;
    if (fssim_cfg.codec >= 0) {
        c->codec = fssim_cfg.codec;
    } else {
        uint64_t u = fssim_rng_next(r) % 10; /* 70% PCMU, 10% each PCMA, G722, opus */
        c->codec = u < 7 ? 0 : (int)(u - 6);
    }
    double d = fssim_cfg.call_duration_s;
    if (fssim_cfg.duration_jitter > 0)
        d *= 1.0 + fssim_cfg.duration_jitter * (2.0 * fssim_rng_unit(r) - 1.0);
    c->dur_ms = d * 1000.0 < 20.0 ? 20 : (uint32_t)llround(d * 1000.0);
    c->nrep = fssim_cfg.rtcp_interval_ms ? c->dur_ms / fssim_cfg.rtcp_interval_ms : 0;

    c->next = in->calls;
    if (in->calls)
        in->calls->prev = c;
    in->calls = c;
    in->legs_total += 2;
    in->legs_active += 2;
    if (in->legs_active > in->legs_peak)
        in->legs_peak = in->legs_active;
    count_sps(in, now_ns, 2);

    c->created_us = fssim_real_us();
    fire_leg(c, 0, FSSIM_TPL_A_STATE, NULL);
    fire_leg(c, 0, FSSIM_TPL_A_CREATE, NULL);
    fire_leg(c, 1, FSSIM_TPL_B_STATE, NULL);
    fire_leg(c, 1, FSSIM_TPL_B_CREATE, NULL);
    c->ta_ns = now_ns + 20000000ULL;
    if (c->answered) {
        c->step = STEP_ANSWER;
        fssim_timer_add(c->ta_ns, FSSIM_T_CALL, c, 0);
    } else {
        /* rings, then fails: no answer, no media */
        uint64_t ring_ms = causes[c->cause].kind == CK_RING_SHORT && c->dur_ms > 1000 ? 1000 : c->dur_ms;
        c->step = STEP_HANGUP;
        fssim_timer_add(now_ns + ring_ms * 1000000ULL, FSSIM_T_CALL, c, 0);
    }
}

static void end_call(struct fssim_call *c, uint64_t now_ns)
{
    struct fssim_inst *in = c->in;
    if (c->prev)
        c->prev->next = c->next;
    else
        in->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    in->calls_active--;
    in->calls_ended++;
    in->legs_active -= 2;
    free(c);
    if (fssim_cfg.cps <= 0 && may_start(in))
        start_call(in, now_ns);
}

static void call_step(struct fssim_call *c, uint64_t now_ns)
{
    switch (c->step) {
    case STEP_ANSWER:
        c->answered_us = fssim_real_us();
        fire_leg(c, 1, FSSIM_TPL_B_ANSWER, NULL);
        fire_leg(c, 1, FSSIM_TPL_B_CALLSTATE, NULL);
        fire_leg(c, 0, FSSIM_TPL_A_ANSWER, NULL);
        fire_leg(c, 0, FSSIM_TPL_A_CALLSTATE, NULL);
        fire_leg(c, 0, FSSIM_TPL_A_BRIDGE, NULL);
        break;
    case STEP_REPORT: {
        c->k++;
        uint64_t ntp = ntp_now();
        for (int leg = 1; leg >= 0; leg--) {
            struct rtcp_vals rv;
            if (fssim_cfg.fire_rtcp) {
                rtcp_fill(c, leg, 1, c->k, ntp, &rv);
                fire_leg(c, leg, FSSIM_TPL_SEND_RTCP, &rv);
            }
            rtcp_fill(c, leg, 0, c->k, ntp, &rv);
            fire_leg(c, leg, FSSIM_TPL_RECV_RTCP, &rv);
            c->prev_ntp[leg] = ntp;
        }
        break;
    }
    case STEP_HANGUP:
        c->hangup_us = fssim_real_us();
        c->ended = true;
        fire_leg(c, 1, FSSIM_TPL_B_HANGUP, NULL);
        fire_leg(c, 1, FSSIM_TPL_B_HANGUP_COMPLETE, NULL);
        fire_leg(c, 0, FSSIM_TPL_A_HANGUP, NULL);
        fire_leg(c, 1, FSSIM_TPL_B_DESTROY, NULL);
        fire_leg(c, 0, FSSIM_TPL_A_HANGUP_COMPLETE, NULL);
        fire_leg(c, 0, FSSIM_TPL_A_DESTROY, NULL);
        end_call(c, now_ns);
        return;
    }
    /* schedule the next step on the planned timeline (not on "now"), so lateness never drifts */
    if (c->k < c->nrep) {
        c->step = STEP_REPORT;
        fssim_timer_add(c->ta_ns + (uint64_t)(c->k + 1) * fssim_cfg.rtcp_interval_ms * 1000000ULL, FSSIM_T_CALL, c, 0);
    } else {
        c->step = STEP_HANGUP;
        fssim_timer_add(c->ta_ns + (uint64_t)c->dur_ms * 1000000ULL, FSSIM_T_CALL, c, 0);
    }
}

/* ---------------------------------------------------------------- instance */

void fssim_gen_init(struct fssim_inst *in)
{
    static bool kinds_done;
    if (!kinds_done) {
        for (int t = 0; t < FSSIM_TPL_COUNT; t++) {
            const char *n = fssim_templates[t].event_name;
            kind_of_tpl[t] = fssim_event_kind(n, strlen(n));
        }
        kinds_done = true;
    }
    fssim_rng_seed(&in->rng, fssim_cfg.seed, (uint64_t)in->idx * 2 + 1);
    fssim_rng_seed(&in->rng_misc, fssim_cfg.seed, (uint64_t)in->idx * 2 + 2);
    fssim_rng_uuid(&in->rng, in->core_uuid);
    in->start_ns = fssim_mono_ns();
    in->sps_window_ns = in->start_ns;
    if (fssim_cfg.heartbeat_s > 0)
        fssim_timer_add(in->start_ns + (uint64_t)(fssim_cfg.heartbeat_s * 1e9), FSSIM_T_HEARTBEAT, in, 0);
}

void fssim_gen_start(struct fssim_inst *in, uint64_t now_ns)
{
    if (in->gen_started || !fssim_cfg.calls)
        return;
    in->gen_started = true;
    if (fssim_cfg.cps > 0) {
        fssim_timer_add(now_ns, FSSIM_T_SPAWN, in, 0);
    } else {
        while (may_start(in))
            start_call(in, now_ns);
    }
}

static void heartbeat(struct fssim_inst *in, uint64_t now_ns)
{
    struct hb_vals hb = {.up_us = (now_ns - in->start_ns) / 1000};
    struct tokctx x = {.hb = &hb};
    count_sps(in, now_ns, 0);
    fire(in, &x, FSSIM_TPL_HEARTBEAT, 0, NULL, 0);
}

void fssim_gen_timer(enum fssim_timer_kind kind, void *ptr, uint64_t now_ns)
{
    switch (kind) {
    case FSSIM_T_CALL: call_step(ptr, now_ns); break;
    case FSSIM_T_SPAWN: {
        struct fssim_inst *in = ptr;
        if (may_start(in))
            start_call(in, now_ns);
        if (fssim_cfg.total_calls < 0 || in->calls_started < (uint64_t)fssim_cfg.total_calls)
            fssim_timer_add(now_ns + (uint64_t)(1e9 / fssim_cfg.cps), FSSIM_T_SPAWN, in, 0);
        break;
    }
    case FSSIM_T_HEARTBEAT: {
        struct fssim_inst *in = ptr;
        heartbeat(in, now_ns);
        fssim_timer_add(now_ns + (uint64_t)(fssim_cfg.heartbeat_s * 1e9), FSSIM_T_HEARTBEAT, in, 0);
        break;
    }
    default: break;
    }
}

void fssim_gen_free(struct fssim_inst *in)
{
    while (in->calls) {
        struct fssim_call *c = in->calls;
        in->calls = c->next;
        free(c);
    }
    for (int f = 0; f < 2; f++) {
        struct fssim_flood *fl = in->flood[f];
        if (!fl)
            continue;
        fssim_buf_free(&fl->buf);
        free(fl->frame_end);
        free(fl->ts_off);
        free(fl->cap_off);
        free(fl);
        in->flood[f] = NULL;
    }
}

/* ---------------------------------------------------------------- api */

static void status_text(struct fssim_inst *in, struct fssim_buf *o)
{
    uint64_t now = fssim_mono_ns();
    count_sps(in, now, 0);
    fssim_buf_puts(o, "UP ");
    put_uptime(o, (now - in->start_ns) / 1000);
    fssim_buf_puts(o, "\nFreeSWITCH (Version 1.11.2-release  64bit) is ready\n");
    fssim_buf_printf(o, "%" PRIu64 " session(s) since startup\n", in->legs_total);
    fssim_buf_printf(o, "%u session(s) - peak %u, last 5min %u \n", in->legs_active, in->legs_peak, in->legs_peak);
    fssim_buf_printf(o, "%u session(s) per Sec out of max 30, peak %u, last 5min %u \n", in->sps_last, in->sps_peak,
                     in->sps_peak);
    fssim_buf_printf(o, "%u session(s) max\n", max_sessions());
    fssim_buf_puts(o, "min idle cpu 0.00/98.00\n");
    fssim_buf_puts(o, "Current Stack Size/Max 240K/8192K\n");
}

/*
 * `show channels as json`, as FreeSWITCH 1.11 writes it (tests/fixtures/
 * freeswitch-1.11.1-api/show-channels-json.raw): one row per live leg with
 * the same keys in the same order, no spaces, no newline; the empty list is
 * {"row_count": 0} (with a space, and no "rows"). A leg is listed from its
 * CHANNEL_CREATE to its hangup.
 */
static void show_channels_json(struct fssim_inst *in, struct fssim_buf *o)
{
    unsigned rows = 0;
    for (const struct fssim_call *c = in->calls; c; c = c->next)
        rows += 2;
    if (!rows) {
        fssim_buf_puts(o, "{\"row_count\": 0}\n");
        return;
    }
    fssim_buf_printf(o, "{\"row_count\":%u,\"rows\":[", rows);
    bool first = true;
    for (const struct fssim_call *c = in->calls; c; c = c->next) {
        const struct codec *k = &codecs[c->codec];
        time_t t = (time_t)(c->created_us / 1000000);
        struct tm tm;
        char created[32];
        localtime_r(&t, &tm);
        strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
        for (int leg = 0; leg < 2; leg++) {
            const char *dir = leg == 0 ? "inbound" : "outbound";
            fssim_buf_printf(o,
                             "%s{\"uuid\":\"%s\",\"direction\":\"%s\",\"created\":\"%s\",\"created_epoch\":\"%llu\","
                             "\"name\":\"sofia/%s/%s@%s\",\"state\":\"CS_EXECUTE\",\"cid_name\":\"%s\",\"cid_num\":\"%s\","
                             "\"ip_addr\":\"%s\",\"dest\":\"%s\",\"application\":\"bridge\",\"application_data\":\"\","
                             "\"dialplan\":\"XML\",\"context\":\"default\",\"read_codec\":\"%s\",\"read_rate\":\"%u\","
                             "\"read_bit_rate\":\"%u\",\"write_codec\":\"%s\",\"write_rate\":\"%u\",\"write_bit_rate\":\"%u\","
                             "\"secure\":\"\",\"hostname\":\"%s\",\"presence_id\":\"\",\"presence_data\":\"\","
                             "\"accountcode\":\"\",\"callstate\":\"%s\",\"callee_name\":\"\",\"callee_num\":\"%s\","
                             "\"callee_direction\":\"%s\",\"call_uuid\":\"%s\",\"sent_callee_name\":\"\","
                             "\"sent_callee_num\":\"\",\"initial_cid_name\":\"\",\"initial_cid_num\":\"%s\","
                             "\"initial_ip_addr\":\"\",\"initial_dest\":\"%s\",\"initial_dialplan\":\"\","
                             "\"initial_context\":\"default\"}",
                             first ? "" : ",", c->uuid[leg], dir, created, (unsigned long long)t,
                             leg == 0 ? "internal" : "external", leg == 0 ? c->num : c->dest, c->rip[leg], c->num,
                             c->num, c->rip[leg], c->dest, k->name, k->rate, k->bitrate, k->name, k->rate, k->bitrate,
                             in->name, c->answered_us ? "ACTIVE" : "RINGING", c->dest, leg == 0 ? "SEND" : "RECV",
                             c->uuid[0], c->num, c->dest);
            first = false;
        }
    }
    fssim_buf_puts(o, "]}\n");
}

/*
 * `uuid_dump <uuid>`: the leg's channel headers as a CHANNEL_DATA event body
 * (event-plain, URL-encoded values, ending with a blank line), which is what
 * FreeSWITCH sends: the leg's own CHANNEL_ANSWER template (every channel
 * header and variable the calculators read, this call's values) under the
 * name CHANNEL_DATA. An unknown uuid gives "-ERR No such channel!\n".
 */
static void uuid_dump(struct fssim_inst *in, const char *uuid, struct fssim_buf *o)
{
    for (const struct fssim_call *c = in->calls; c; c = c->next) {
        for (int leg = 0; leg < 2; leg++) {
            if (!uuid || strcmp(uuid, c->uuid[leg]) != 0)
                continue;
            struct fssim_buf frame = {0};
            struct tokctx x = {.in = in, .c = c, .leg = leg, .seq = in->seq + 1, .ev_us = fssim_real_us()};
            fssim_render_frame(&frame, FSSIM_FMT_PLAIN, leg == 0 ? FSSIM_TPL_A_ANSWER : FSSIM_TPL_B_ANSWER,
                               call_cond(c), tok_value, &x, NULL, 0);
            const char *body = memmem(frame.p, frame.n, "\n\n", 2);
            static const char name[] = "Event-Name: CHANNEL_ANSWER\n";
            const char *ev = body ? memmem(body, frame.n - (size_t)(body - frame.p), name, sizeof(name) - 1) : NULL;
            if (!ev) {
                fssim_buf_puts(o, "-ERR No such channel!\n");
            } else {
                body += 2;
                fssim_buf_put(o, body, (size_t)(ev - body));
                fssim_buf_puts(o, "Event-Name: CHANNEL_DATA\n");
                const char *rest = ev + sizeof(name) - 1;
                fssim_buf_put(o, rest, frame.n - (size_t)(rest - frame.p));
            }
            fssim_buf_free(&frame);
            return;
        }
    }
    fssim_buf_puts(o, "-ERR No such channel!\n");
}

/* The few APIs fssim knows; false = "-ERR <cmd> Command not found!". */
bool fssim_api(struct fssim_inst *in, const char *cmd, const char *arg, struct fssim_buf *out)
{
    if (strcmp(cmd, "status") == 0) {
        status_text(in, out);
        return true;
    }
    if (strcmp(cmd, "version") == 0) {
        fssim_buf_puts(out, "FreeSWITCH Version 1.11.2-release~64bit ( 64bit)\n");
        return true;
    }
    if (strcmp(cmd, "hostname") == 0) {
        fssim_buf_puts(out, in->name);
        return true;
    }
    if (strcmp(cmd, "echo") == 0) {
        fssim_buf_puts(out, arg ? arg : "");
        return true;
    }
    if (strcmp(cmd, "show") == 0 && arg && strcmp(arg, "channels as json") == 0) {
        in->st_resync_lists++;
        show_channels_json(in, out);
        return true;
    }
    if (strcmp(cmd, "uuid_dump") == 0) {
        in->st_resync_dumps++;
        uuid_dump(in, arg, out);
        return true;
    }
    return false;
}

void fssim_fire_api(struct fssim_inst *in, const char *cmd, const char *arg)
{
    struct tokctx x = {.job_cmd = cmd, .job_arg = arg};
    fire(in, &x, FSSIM_TPL_API, arg && *arg ? 1u << FSSIM_COND_ARG : 0, NULL, 0);
}

void fssim_fire_bgjob(struct fssim_inst *in, const char *uuid, const char *cmd, const char *arg, const char *body,
                      size_t body_len)
{
    struct tokctx x = {.job_uuid = uuid, .job_cmd = cmd, .job_arg = arg};
    fire(in, &x, FSSIM_TPL_BACKGROUND_JOB, arg && *arg ? 1u << FSSIM_COND_ARG : 0, body, body_len);
}

/* ---------------------------------------------------------------- flood */

static size_t find_digits(const char *p, size_t n, const char *key, size_t *width)
{
    const char *hit = memmem(p, n, key, strlen(key));
    if (!hit)
        return SIZE_MAX;
    const char *v = hit + strlen(key);
    size_t w = 0;
    while (v + w < p + n && v[w] >= '0' && v[w] <= '9')
        w++;
    *width = w;
    return (size_t)(v - p);
}

/*
 * --flood's stream: RECV_RTCP_MESSAGE for --flood-legs legs, report after report,
 * rendered once from the real template. Its length is a whole number of cycles
 * over the legs (at least ~2048 frames) unless --flood itself is smaller.
 */
const struct fssim_flood *fssim_flood_get(struct fssim_inst *in, enum fssim_fmt fmt)
{
    int f = fmt == FSSIM_FMT_JSON ? 1 : 0;
    if (in->flood[f])
        return in->flood[f];
    struct fssim_flood *fl = calloc(1, sizeof(*fl));
    if (!fl)
        abort();
    uint64_t legs = fssim_cfg.flood_legs ? fssim_cfg.flood_legs : 1;
    uint64_t nf = legs * ((2048 + legs - 1) / legs);
    if (nf > fssim_cfg.flood)
        nf = fssim_cfg.flood;
    fl->nframes = (size_t)nf;
    fl->frame_end = calloc(nf, sizeof(size_t));
    fl->ts_off = calloc(nf, sizeof(size_t));
    fl->cap_off = calloc(nf, sizeof(size_t));
    if (!fl->frame_end || !fl->ts_off || !fl->cap_off)
        abort();
    /* legs: a call skeleton per leg is enough for the RTCP template (codec PCMU) */
    struct fssim_rng r;
    fssim_rng_seed(&r, fssim_cfg.seed, 0x466c6f6f64ULL + (uint64_t)in->idx); /* "Flood" */
    struct fssim_call *lg = calloc(legs, sizeof(*lg));
    if (!lg)
        abort();
    for (uint64_t i = 0; i < legs; i++) {
        lg[i].in = in;
        fssim_rng_uuid(&r, lg[i].uuid[0]);
        lg[i].ssrc[0] = (uint32_t)fssim_rng_next(&r);
        lg[i].peer_ssrc[0] = (uint32_t)fssim_rng_next(&r);
        lg[i].seq0[0] = (uint32_t)(fssim_rng_next(&r) & 0x7fff);
    }
    uint32_t saved_interval = fssim_cfg.rtcp_interval_ms;
    if (!fssim_cfg.rtcp_interval_ms)
        fssim_cfg.rtcp_interval_ms = 5000;
    uint64_t ntp = ntp_now();
    for (uint64_t i = 0; i < nf; i++) {
        struct fssim_call *c = &lg[i % legs];
        uint32_t k = (uint32_t)(i / legs) + 1;
        struct rtcp_vals rv;
        rtcp_fill(c, 0, 0, k, ntp, &rv);
        c->prev_ntp[0] = ntp;
        struct tokctx x = {.in = in, .c = c, .leg = 0, .rv = &rv};
        x.seq = ++in->seq;
        x.ev_us = fssim_real_us();
        size_t start = fssim_render_frame(&fl->buf, fmt, FSSIM_TPL_RECV_RTCP, call_cond(NULL), tok_value, &x, NULL, 0);
        size_t w = 0;
        const char *fp = fl->buf.p + start;
        size_t flen = fl->buf.n - start;
        size_t o = find_digits(fp, flen, f ? "\"Event-Date-Timestamp\":\"" : "Event-Date-Timestamp: ", &w);
        fl->ts_off[i] = o == SIZE_MAX || w != 16 ? SIZE_MAX : start + o;
        o = find_digits(fp, flen, f ? "\"Capture-Time\":\"" : "Capture-Time: ", &w);
        fl->cap_off[i] = o == SIZE_MAX ? SIZE_MAX : start + o;
        if (i == 0)
            fl->cap_width = w;
        else if (w != fl->cap_width)
            fl->cap_off[i] = SIZE_MAX;
        fl->frame_end[i] = fl->buf.n;
    }
    fssim_cfg.rtcp_interval_ms = saved_interval;
    free(lg);
    in->flood[f] = fl;
    return fl;
}

/* --stamp: rewrite the frame's Event-Date-Timestamp (real µs) and Capture-Time (monotonic µs) in place. */
void fssim_flood_stamp(const struct fssim_flood *fl, size_t frame)
{
    char tmp[24];
    if (fl->ts_off[frame] != SIZE_MAX) {
        snprintf(tmp, sizeof(tmp), "%016" PRIu64, fssim_real_us());
        memcpy(fl->buf.p + fl->ts_off[frame], tmp, 16);
    }
    if (fl->cap_off[frame] != SIZE_MAX) {
        int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, fssim_mono_ns() / 1000);
        if (n > 0 && (size_t)n <= fl->cap_width) {
            /* same width as reserved: left-pad never needed in practice; keep digits aligned */
            size_t pad = fl->cap_width - (size_t)n;
            memset(fl->buf.p + fl->cap_off[frame], '0', pad);
            memcpy(fl->buf.p + fl->cap_off[frame] + pad, tmp, (size_t)n);
        }
    }
}

/* ---------------------------------------------------------------- oversized frame */

/*
 * --fault oversized: a BACKGROUND_JOB event (as if `bgapi show channels` had
 * returned a huge table) whose frame Content-Length is exactly body_bytes.
 */
void fssim_build_oversized(struct fssim_inst *in, enum fssim_fmt fmt, size_t body_bytes, struct fssim_buf *out)
{
    struct fssim_buf tmp = {0}, body = {0};
    size_t blen = body_bytes > 2048 ? body_bytes - 1024 : 64;
    char uuid[37];
    fssim_rng_uuid(&in->rng_misc, uuid);
    for (int iter = 0; iter < 8; iter++) {
        body.n = 0;
        fssim_buf_reserve(&body, blen);
        for (size_t i = 0; i < blen; i++)
            body.p[i] = (char)('a' + i % 26);
        body.n = blen;
        tmp.n = 0;
        struct tokctx x = {.job_uuid = uuid, .job_cmd = "show", .job_arg = "channels"};
        x.in = in;
        x.seq = in->seq + 1;
        x.ev_us = fssim_real_us();
        fssim_render_frame(&tmp, fmt, FSSIM_TPL_BACKGROUND_JOB, 1u << FSSIM_COND_ARG, tok_value, &x, body.p, body.n);
        const char *hend = memmem(tmp.p, tmp.n, "\n\n", 2);
        size_t got = tmp.n - (size_t)(hend + 2 - tmp.p);
        if (got == body_bytes)
            break;
        if (got > body_bytes) {
            size_t d = got - body_bytes;
            blen = blen > d ? blen - d : 1;
        } else {
            blen += body_bytes - got;
        }
    }
    in->seq++;
    fssim_buf_put(out, tmp.p, tmp.n);
    fssim_buf_free(&tmp);
    fssim_buf_free(&body);
}
