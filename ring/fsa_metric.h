/*
 * fsa_metric: what a calculator worker hands to the exporter.
 *
 * One record per derived observation, fixed size, carrying its labels by
 * value so the exporter never looks into a worker's leg table. Units are the
 * contract's (contract.md): ms for jitter and RTT, {packet}, By, ratios 0..1.
 * A double field that has no value for this record is NaN; the exporter
 * omits it (e.g. rtt_ms when Rtt0-Avg was 0 or absent, jitter_avg_ms for a
 * leg without RTCP reports). Every string is NUL-terminated within its array
 * and the bytes after the NUL are zero.
 *
 * Record kinds:
 *   RTCP      one per RTCP report block: freeswitch.rtcp.* gauges
 *   QOS       one per leg with media at CHANNEL_HANGUP_COMPLETE: freeswitch.qos.*
 *   LEG_UP    a leg started being counted in freeswitch.calls.active
 *   LEG_DOWN  it stopped (hangup or TTL expiry); hangup_cause set
 *             ("TTL_EXPIRED" for expiry, "NONE" when FreeSWITCH gave none)
 * The exporter builds the bounded aggregates (calls.active, legs.ended,
 * histograms) from these.
 *
 * Labels (calc.c has the derivations):
 *   RTCP      direction = the report's (inbound for RECV_RTCP_MESSAGE,
 *             outbound for SEND_RTCP_MESSAGE); the rest from the leg as known
 *             at that report (codec, src/dst too, though the contract's RTCP
 *             series do not use them).
 *   QOS       direction = the leg's Call-Direction (exported as call_direction,
 *             beside hangup_cause); src_ip/dst_ip by the
 *             contract's rule (inbound leg: src = remote, dst = local;
 *             outbound leg: src = local, dst = remote; unknown: as inbound).
 *   LEG_UP, LEG_DOWN
 *             domain_name, codec_name and direction are the values the leg
 *             was counted under at LEG_UP, and a LEG_DOWN repeats exactly its
 *             LEG_UP's, even if the leg learnt a better domain later; so the
 *             exporter can decrement the very series it incremented. A leg
 *             gets at most one LEG_UP and one LEG_DOWN; a LEG_DOWN is sent
 *             only for a leg whose LEG_UP was published.
 * correlation_id carries at most FSA_LEG_CALL_ID_MAX - 1 (79) bytes of the
 * Call-ID (the leg record's field; calc/legs.h).
 *
 * Ownership: as any lane slot, the worker's while it fills it, the
 * exporter's from publish until release.
 */
#ifndef FSA_METRIC_H
#define FSA_METRIC_H

#include <stdint.h>

#include "fsa_msg.h"

enum fsa_record_kind {
    FSA_REC_NONE = 0,
    FSA_REC_RTCP,
    FSA_REC_QOS,
    FSA_REC_LEG_UP,
    FSA_REC_LEG_DOWN,
    FSA_REC_KIND_COUNT
};

struct fsa_metric_labels {
    uint16_t instance; /* index into the configured instance list: fs_instance */
    uint8_t direction; /* enum fsa_direction: RTCP's direction attribute, else the leg's */
    uint8_t pad;
    char channel_id[FSA_UUID_MAX];        /* Unique-ID */
    char correlation_id[FSA_CALL_ID_MAX]; /* SIP Call-ID */
    char domain_name[FSA_DOMAIN_MAX];
    char codec_name[FSA_CODEC_MAX];
    char src_ip[FSA_IP_MAX];
    char dst_ip[FSA_IP_MAX];
};

struct fsa_rtcp_record {
    double jitter_ms;
    double packets_lost;  /* delta of cumulative Lost since the previous report of the same leg,
                             direction, source SSRC; >= 0 */
    double fraction_lost; /* 0..1 */
    double rtt_ms;        /* NaN unless Rtt0-Avg > 0 */
    double mos;           /* live E-model estimate for the leg */
    uint32_t source_ssrc; /* the report block's source SSRC */
    uint32_t pad;
};

struct fsa_qos_record {
    double mos_score;     /* rtp_audio_in_mos; NaN if absent */
    double jitter_avg_ms; /* NaN without RTCP reports */
    double jitter_min_ms;
    double jitter_max_ms;
    double total_packets;   /* in + out packet counts */
    double packet_loss;     /* packets; see calc.c */
    double total_bytes;     /* in + out raw bytes */
    double r_factor;        /* E-model R for the whole leg */
    double mos_emodel;      /* MOS from r_factor */
    double hold_seconds;    /* variable_hold_accum_seconds; NaN if absent */
    double media_gap_ratio; /* skip / (in packets + skip), 0..1; NaN if both absent or the sum is 0 */
};

struct fsa_metric_record {
    uint8_t kind; /* enum fsa_record_kind */
    uint8_t pad[7];
    uint64_t time_unix_us; /* the event's own time (Event-Date-Timestamp); for a TTL
                              expiry the wall clock when the sweep retired the leg */
    uint64_t ingest_ns;    /* reactor's CLOCK_MONOTONIC stamp, for latency; 0 for TTL expiry */
    struct fsa_metric_labels labels;
    char hangup_cause[FSA_CAUSE_MAX]; /* LEG_DOWN and QOS */
    union {
        struct fsa_rtcp_record rtcp;
        struct fsa_qos_record qos;
    } u;
};

#endif
