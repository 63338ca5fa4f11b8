/*
 * fsa_msg: the compact, fixed-size message a reactor hands to a calculator
 * worker for every FreeSWITCH event that matters.
 *
 * Reactors decode only the headers the calculators use and copy them here;
 * the raw frame never leaves the reactor. Values keep their wire meaning and
 * units (interpretation, e.g. cumulative Lost as int32 or jitter in RTP clock
 * units, is the calculators' job, per contract.md):
 *   - times: event_time_us is Event-Date-Timestamp (µs since the epoch);
 *            ingest_ns is CLOCK_MONOTONIC when the reactor framed the event.
 *   - RTCP:  lost_raw is the header's unsigned text as uint32 (24-bit signed
 *            on the wire, printed unsigned); jitter in RTP timestamp units;
 *            fraction 0..255; lsr/dlsr raw; rtt_avg_s in seconds (NaN when
 *            the header was absent).
 *   - QoS:   counters as printed; mos and variances as doubles; a field is
 *            meaningful only when its FSA_QOS_* bit is set in qos_present.
 * Strings are NUL-terminated, cut to their field size; FSA_MSG_TRUNCATED
 * says a cut happened.
 *
 * Ownership: a message slot belongs to the reactor while it fills it, to the
 * worker from publish until release (see fsa_ring.h).
 */
#ifndef FSA_MSG_H
#define FSA_MSG_H

#include <stdint.h>

enum fsa_event_kind {
    FSA_EV_NONE = 0,
    FSA_EV_CHANNEL_CREATE,
    FSA_EV_CHANNEL_ANSWER,
    FSA_EV_CHANNEL_BRIDGE,
    FSA_EV_CHANNEL_HANGUP_COMPLETE,
    FSA_EV_RECV_RTCP, /* RECV_RTCP_MESSAGE: far end's report on what we send */
    FSA_EV_SEND_RTCP, /* SEND_RTCP_MESSAGE: our report on what we receive */
    /*
     * Resume (a leg learnt mid-call): the reactor's answers to the resync it
     * runs on every (re)connect. CHANNEL_DATA is `uuid_dump`'s body (the
     * channel headers of CHANNEL_CREATE: the leg's labels); CHANNEL_LIVE says
     * `show channels` listed the Unique-ID (no payload); LABELS_FAILED says a
     * uuid_dump asked for by a worker failed (the channel ended meanwhile, or
     * the connection went away before the answer).
     */
    FSA_EV_CHANNEL_DATA,
    FSA_EV_CHANNEL_LIVE,
    FSA_EV_LABELS_FAILED,
    /*
     * The channel list was whole and every CHANNEL_LIVE of it precedes this
     * on the lane: the worker retires the instance's legs the list did not
     * name and that sent nothing since before it was asked for (ingest_ns:
     * when the list was asked for, CLOCK_MONOTONIC). Unique-ID "*".
     */
    FSA_EV_LIST_END,
    FSA_EV_KIND_COUNT
};

const char *fsa_event_kind_name(enum fsa_event_kind kind);

enum fsa_direction { FSA_DIR_UNKNOWN = 0, FSA_DIR_INBOUND, FSA_DIR_OUTBOUND };

/*
 * Where domain_name came from: lower rank wins (contract's ranking). A value
 * that is an IP literal ranks FSA_DOMAIN_IP_LITERAL below its variable's
 * rank, so below every name: an IP is the tenant only when nothing else is.
 */
enum fsa_domain_rank {
    FSA_DOMAIN_NONE = 0,
    FSA_DOMAIN_FROM_VARIABLE = 1, /* variable_domain_name */
    FSA_DOMAIN_FROM_SIP_FROM = 2, /* variable_sip_from_host */
    FSA_DOMAIN_FROM_SIP_TO = 3,   /* variable_sip_to_host */
    FSA_DOMAIN_FROM_SIP_REQ = 4,  /* variable_sip_req_host */
};
#define FSA_DOMAIN_IP_LITERAL 4 /* added to the rank of an IP literal (its port removed) */
#define FSA_DOMAIN_RANK_MAX (FSA_DOMAIN_FROM_SIP_REQ + FSA_DOMAIN_IP_LITERAL)

#define FSA_UUID_MAX 48
#define FSA_CALL_ID_MAX 128
#define FSA_DOMAIN_MAX 96
#define FSA_CODEC_MAX 16
#define FSA_IP_MAX 48
#define FSA_CAUSE_MAX 40
#define FSA_RTCP_MAX_BLOCKS 4

#define FSA_MSG_TRUNCATED 0x01u /* a string field was cut */
#define FSA_MSG_BAD_VALUE 0x02u /* a numeric header did not parse; field left unset */

struct fsa_rtcp_block {
    uint32_t source_ssrc;
    uint32_t fraction;   /* 0..255 of the last interval */
    uint32_t lost_raw;   /* cumulative, as printed (reinterpret as int32) */
    uint32_t jitter;     /* RTP timestamp units */
    uint32_t highest_seq;
    uint32_t lsr;
    uint32_t dlsr;       /* 1/65536 s */
    uint32_t pad;
    double rtt_avg_s;    /* Rtt<N>-Avg, seconds; NaN when absent (SEND) */
};

struct fsa_rtcp_payload {
    uint32_t ssrc;
    uint32_t rtp_rate;   /* RTP-Rate; 0 when absent (SEND) */
    uint64_t sender_packet_count;
    uint64_t sender_octet_count;
    uint8_t nblocks;     /* valid entries of block[]; SSRC-0 blocks already skipped */
    uint8_t pad[7];
    struct fsa_rtcp_block block[FSA_RTCP_MAX_BLOCKS];
};

enum fsa_qos_field {
    FSA_QOS_IN_RAW_BYTES = 1u << 0,
    FSA_QOS_OUT_RAW_BYTES = 1u << 1,
    FSA_QOS_IN_PACKETS = 1u << 2,
    FSA_QOS_OUT_PACKETS = 1u << 3,
    FSA_QOS_IN_SKIP_PACKETS = 1u << 4,
    FSA_QOS_IN_MOS = 1u << 5,
    FSA_QOS_IN_JITTER_MIN_VAR = 1u << 6,
    FSA_QOS_IN_JITTER_MAX_VAR = 1u << 7,
    FSA_QOS_IN_QUALITY_PCT = 1u << 8,
    FSA_QOS_IN_FLAW_TOTAL = 1u << 9,
    FSA_QOS_IN_MEAN_INTERVAL = 1u << 10,
    FSA_QOS_HOLD_SECONDS = 1u << 11,
};

struct fsa_channel_payload {
    char call_id[FSA_CALL_ID_MAX];      /* variable_sip_call_id */
    char domain[FSA_DOMAIN_MAX];        /* best-ranked candidate in this event */
    char codec[FSA_CODEC_MAX];          /* variable_rtp_use_codec_name, else Channel-Read-Codec-Name */
    char local_media_ip[FSA_IP_MAX];
    char remote_media_ip[FSA_IP_MAX];
    char call_uuid[FSA_UUID_MAX];       /* Channel-Call-UUID */
    char other_leg_uuid[FSA_UUID_MAX];  /* Other-Leg-Unique-ID */
    char hangup_cause[FSA_CAUSE_MAX];
    uint8_t direction;                  /* enum fsa_direction */
    uint8_t domain_rank;                /* enum fsa_domain_rank */
    uint16_t local_media_port;
    uint16_t remote_media_port;
    uint16_t codec_ptime_ms;
    uint32_t codec_rate;                /* variable_rtp_use_codec_rate, else Channel-Read-Codec-Rate */
    uint32_t qos_present;               /* FSA_QOS_* bits */
    uint64_t in_raw_bytes, out_raw_bytes;
    uint64_t in_packets, out_packets;
    uint64_t in_skip_packets;
    uint64_t in_flaw_total;
    uint64_t hold_accum_s;              /* variable_hold_accum_seconds: time on hold, s */
    double in_mos;
    double in_jitter_min_variance;      /* ms² */
    double in_jitter_max_variance;      /* ms² */
    double in_quality_pct;
    double in_mean_interval_ms;
};

struct fsa_event_msg {
    uint8_t kind;          /* enum fsa_event_kind */
    uint8_t flags;         /* FSA_MSG_* */
    uint16_t instance;     /* index into the configured instance list */
    uint32_t uuid_len;
    uint64_t event_time_us;
    uint64_t event_seq;    /* Event-Sequence */
    uint64_t ingest_ns;
    char uuid[FSA_UUID_MAX]; /* Unique-ID */
    union {
        struct fsa_rtcp_payload rtcp;
        struct fsa_channel_payload chan;
    } u;
};

/*
 * A worker asks the reactor serving `instance` for a leg's labels (a
 * `bgapi uuid_dump`): one per leg learnt mid-call that neither its events
 * nor the store labelled. The answer comes back on the event lanes as
 * FSA_EV_CHANNEL_DATA or FSA_EV_LABELS_FAILED.
 */
struct fsa_label_request {
    uint16_t instance;
    uint8_t uuid_len; /* 1..FSA_UUID_MAX-1 */
    char uuid[FSA_UUID_MAX];
};

/* Bytes of a message that carry meaning for its kind: what a copy must move. */
static inline unsigned fsa_event_msg_used_size(const struct fsa_event_msg *m)
{
    if (m->kind == FSA_EV_RECV_RTCP || m->kind == FSA_EV_SEND_RTCP)
        return (unsigned)(__builtin_offsetof(struct fsa_event_msg, u) + sizeof(struct fsa_rtcp_payload));
    if (m->kind == FSA_EV_CHANNEL_LIVE || m->kind == FSA_EV_LABELS_FAILED || m->kind == FSA_EV_LIST_END)
        return (unsigned)__builtin_offsetof(struct fsa_event_msg, u);
    return (unsigned)sizeof(struct fsa_event_msg);
}

#endif
