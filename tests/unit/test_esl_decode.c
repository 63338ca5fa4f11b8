/*
 * Plain-event decoder against every event of the real capture, then
 * synthetic hostile cases.
 *
 * Expected values were read from fs-plain-all.raw with a separate Python
 * script (split frames by Content-Length, split lines on ": ", unquote), not
 * with this code; the source header lines are quoted in the comments.
 */
#include "engine/esl.h"
#include "fsa_test.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- the capture ------------------------------------------------------------------------------------------- */

static const char *const k_uuids[52] = {
    "12dcce16-41df-4f0f-9429-347c827246cd", "138dcd88-a1b5-45d9-b648-c81be7c21454",
    "14680400-bdc0-4e87-ad61-075fd14ba6ba", "16e2e6ff-7f0d-4694-9a73-8369ed46caeb",
    "1b9999d5-4ad3-4cad-ba1d-ce3f579af90f", "23b9f655-73ea-44a2-971d-de8a090072fd",
    "25285d01-bbbe-45ba-a2df-2ab162d0fd58", "2554e3a8-64ca-461a-b96d-dc5e40be8c9e",
    "32b942ef-bad6-4745-a981-d0f62de99e04", "32be906d-e383-4825-8928-9180bcba913e",
    "380765e7-9e28-4883-bf79-b18618c7f63a", "3d84345c-6b36-4dbb-850d-ed801a78c22b",
    "46c52c19-5059-46ce-a8e1-b90389932286", "4d2f27cb-b811-43ea-90f0-227f0ec81520",
    "51b5472f-b769-4f73-8622-59ca39bca777", "5897ee0b-716f-4966-931f-260a94db0fef",
    "682d5f2b-75da-4792-b1c3-0bf336b6b61b", "699bd948-e61a-4300-a4f6-295fe84c2e6d",
    "6ae44a87-1999-4714-9604-bb02c7d718c3", "77408067-ab0a-4628-b7e6-a7604ca459e1",
    "84cb8f60-5218-4067-be3c-f8568d56b4bb", "8aba3451-d4c5-4aa1-ab3d-3269753260c6",
    "8be716ad-2245-4699-8d2a-50cfe74a2f5e", "8c628e5b-3476-4caa-b6fa-194b0994e724",
    "9116a15a-7007-41bf-a4f9-da27a4704f33", "9a7a9f3f-0650-48e8-8911-745c8f6afe35",
    "9fd4fab1-9aaa-4f61-bda8-1f0ffd6ff0a3", "aab4892a-2e99-4cc1-bb6c-fbe4d3acaf7c",
    "aaf556ea-5cee-45c4-a93a-07f99ea8178a", "ab4f6db3-9a81-4256-852b-fe60bab99fda",
    "ad2b822a-6c8a-467c-9892-206a09a1abc0", "b093a983-f39e-4b2a-b20e-4f268314bd29",
    "b0c6292b-0197-4183-9245-3f7f203ddc84", "b4f848fc-9bd3-4034-9ee7-e49198242392",
    "bd80c9c2-94f5-469c-923a-26881dea6f90", "c61dc9d7-b6aa-45f8-ae6c-ce4be6f5ba30",
    "cbbc2a66-4ece-4d30-887a-41ba289cbb9d", "ce5aab7d-0931-481d-8d2f-75f91316e88e",
    "d0026bb8-74fa-4a42-bf23-6d2d6c2e5fcf", "dc8da548-09c9-4da5-95cd-918a8319139e",
    "dce55eb9-aecb-44d8-a5c7-b388e5ecf34a", "e59b9ba8-7c82-45a8-b123-1750b84501ae",
    "e866fd54-b071-4e8c-8796-83fc7d5a94ee", "e9b673b4-f00c-4be9-97bb-42fe4b80e46e",
    "ebb2c5c8-1f3a-4660-bd1b-ae798895437f", "ebd223a0-57ce-4a39-b0bc-3b8101e5c9ff",
    "ed0f8217-9479-493d-82f3-dd29d6b06a20", "ef029d70-aad9-4b00-8c02-6b8e2cbb19ba",
    "f775979f-7e9e-4079-b513-028a616d2f3d", "f9b7a783-394d-4731-86a4-9991e9099f9d",
    "fcf812fd-28d1-4fb4-b687-fa6f9572a8fc", "ffe89e6b-ef00-4393-9059-f44f8246e84c",
};

struct body_list {
    struct fsa_str *v;
    size_t n;
};

/* The text/event-plain bodies of the capture, framed by the framer (tested on its own). */
static struct body_list capture_bodies(const char *data, size_t len)
{
    struct body_list l = {calloc(2000, sizeof(struct fsa_str)), 0};
    struct esl_framer f;
    esl_framer_init(&f, 1 << 20);
    size_t off = 0;
    struct esl_frame fr;
    size_t used;
    const char *err;
    while (esl_framer_next(&f, data + off, len - off, &fr, &used, &err) == 1) {
        if (fr.type == ESL_CT_EVENT_PLAIN && l.n < 2000)
            l.v[l.n++] = fr.body;
        off += used;
    }
    return l;
}

static int find_uuid(const char *u)
{
    for (int i = 0; i < 52; i++)
        if (strcmp(k_uuids[i], u) == 0)
            return i;
    return -1;
}

static void check_recv_1212(const struct fsa_event_msg *m)
{
    /* Event-Date-Timestamp: 1795481641846357 / Event-Sequence: 1212 /
       Unique-ID: 25285d01-bbbe-45ba-a2df-2ab162d0fd58 / SSRC: 3f23eae7 / Sender-Packet-Count: 1305 /
       Octect-Packet-Count: 208800 / RTP-Rate: 8000 / Source0-SSRC: 5b1c9297 / Source0-Fraction: 0 /
       Source0-Lost: 1 / Source0-Highest-Sequence-Number-Received: 38371 / Source0-Jitter: 1 /
       Source0-LSR: 1587859053 / Source0-DLSR: 327680 / Rtt0-Avg: 0.020004 */
    CHECK_EQ_U64(m->kind, FSA_EV_RECV_RTCP);
    CHECK_EQ_U64(m->flags, 0);
    CHECK_EQ_U64(m->event_time_us, 1795481641846357ull);
    CHECK_EQ_U64(m->event_seq, 1212);
    CHECK_STR(m->uuid, "25285d01-bbbe-45ba-a2df-2ab162d0fd58");
    CHECK_EQ_U64(m->uuid_len, 36);
    CHECK_EQ_U64(m->u.rtcp.ssrc, 0x3f23eae7);
    CHECK_EQ_U64(m->u.rtcp.rtp_rate, 8000);
    CHECK_EQ_U64(m->u.rtcp.sender_packet_count, 1305);
    CHECK_EQ_U64(m->u.rtcp.sender_octet_count, 208800);
    CHECK_EQ_U64(m->u.rtcp.nblocks, 1);
    const struct fsa_rtcp_block *b = &m->u.rtcp.block[0];
    CHECK_EQ_U64(b->source_ssrc, 0x5b1c9297);
    CHECK_EQ_U64(b->fraction, 0);
    CHECK_EQ_U64(b->lost_raw, 1);
    CHECK_EQ_U64(b->highest_seq, 38371);
    CHECK_EQ_U64(b->jitter, 1);
    CHECK_EQ_U64(b->lsr, 1587859053u);
    CHECK_EQ_U64(b->dlsr, 327680);
    CHECK_NEAR(b->rtt_avg_s, 0.020004, 1e-12);
}

static void check_send_1870(const struct fsa_event_msg *m)
{
    /* Event-Date-Timestamp: 1795481699466399 / Event-Sequence: 1870 /
       Unique-ID: ebd223a0-57ce-4a39-b0bc-3b8101e5c9ff / SSRC: 2f0e4eb3 / Sender-Packet-Count: 382 /
       Octect-Packet-Count: 61120 / (no RTP-Rate) / Source-SSRC: 2f0e4eb3 / Source-Fraction: 0 /
       Source-Lost: 1 / Source-Highest-Sequence-Number-Received: 15971 / Source-Jitter: 17 /
       Source-LSR: 1591703401 / Source-DLSR: 262140 / (no Rtt) */
    CHECK_EQ_U64(m->kind, FSA_EV_SEND_RTCP);
    CHECK_EQ_U64(m->flags, 0);
    CHECK_EQ_U64(m->event_time_us, 1795481699466399ull);
    CHECK_EQ_U64(m->event_seq, 1870);
    CHECK_STR(m->uuid, "ebd223a0-57ce-4a39-b0bc-3b8101e5c9ff");
    CHECK_EQ_U64(m->u.rtcp.ssrc, 0x2f0e4eb3);
    CHECK_EQ_U64(m->u.rtcp.rtp_rate, 0);
    CHECK_EQ_U64(m->u.rtcp.sender_packet_count, 382);
    CHECK_EQ_U64(m->u.rtcp.sender_octet_count, 61120);
    CHECK_EQ_U64(m->u.rtcp.nblocks, 1);
    const struct fsa_rtcp_block *b = &m->u.rtcp.block[0];
    CHECK_EQ_U64(b->source_ssrc, 0x2f0e4eb3);
    CHECK_EQ_U64(b->fraction, 0);
    CHECK_EQ_U64(b->lost_raw, 1);
    CHECK_EQ_U64(b->highest_seq, 15971);
    CHECK_EQ_U64(b->jitter, 17);
    CHECK_EQ_U64(b->lsr, 1591703401u);
    CHECK_EQ_U64(b->dlsr, 262140);
    CHECK(isnan(b->rtt_avg_s));
}

static void check_hangup_77408067(const struct fsa_event_msg *m)
{
    /* CHANNEL_HANGUP_COMPLETE, Event-Sequence: 2383, Event-Date-Timestamp: 1795481842746396,
       Unique-ID: 77408067-ab0a-4628-b7e6-a7604ca459e1, Call-Direction: inbound,
       Channel-Call-UUID: 77408067-…, Other-Leg-Unique-ID: fcf812fd-28d1-4fb4-b687-fa6f9572a8fc,
       Hangup-Cause: NORMAL_CLEARING (twice), variable_sip_call_id: 1-18847%40127.0.0.1,
       variable_domain_name: example.com, variable_rtp_use_codec_name: PCMU, _rate: 8000, _ptime: 20,
       variable_local_media_ip: 127.0.0.1, _port: 27068, variable_remote_media_ip: 127.0.0.1, _port: 6000,
       variable_rtp_audio_in_raw_bytes: 207776, _out_raw_bytes: 223084, _in_packet_count: 1208,
       _out_packet_count: 1297, _in_skip_packet_count: 94, _in_mos: 4.41, _in_jitter_min_variance: 153.84,
       _in_jitter_max_variance: 800.00, _in_quality_percentage: 93.00, _in_flaw_total: 73,
       _in_mean_interval: 20.51 */
    const struct fsa_channel_payload *c = &m->u.chan;
    CHECK_EQ_U64(m->kind, FSA_EV_CHANNEL_HANGUP_COMPLETE);
    CHECK_EQ_U64(m->flags, 0);
    CHECK_EQ_U64(m->event_seq, 2383);
    CHECK_EQ_U64(m->event_time_us, 1795481842746396ull);
    CHECK_STR(m->uuid, "77408067-ab0a-4628-b7e6-a7604ca459e1");
    CHECK_EQ_U64(c->direction, FSA_DIR_INBOUND);
    CHECK_STR(c->call_uuid, "77408067-ab0a-4628-b7e6-a7604ca459e1");
    CHECK_STR(c->other_leg_uuid, "fcf812fd-28d1-4fb4-b687-fa6f9572a8fc");
    CHECK_STR(c->hangup_cause, "NORMAL_CLEARING");
    CHECK_STR(c->call_id, "1-18847@127.0.0.1");
    CHECK_STR(c->domain, "example.com");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_VARIABLE);
    CHECK_STR(c->codec, "PCMU");
    CHECK_EQ_U64(c->codec_rate, 8000);
    CHECK_EQ_U64(c->codec_ptime_ms, 20);
    CHECK_STR(c->local_media_ip, "127.0.0.1");
    CHECK_EQ_U64(c->local_media_port, 27068);
    CHECK_STR(c->remote_media_ip, "127.0.0.1");
    CHECK_EQ_U64(c->remote_media_port, 6000);
    CHECK_EQ_U64(c->qos_present, 0xfff); /* the 11 rtp_audio_* fields and variable_hold_accum_seconds: 0 */
    CHECK_EQ_U64(c->hold_accum_s, 0);
    CHECK_EQ_U64(c->in_raw_bytes, 207776);
    CHECK_EQ_U64(c->out_raw_bytes, 223084);
    CHECK_EQ_U64(c->in_packets, 1208);
    CHECK_EQ_U64(c->out_packets, 1297);
    CHECK_EQ_U64(c->in_skip_packets, 94);
    CHECK_EQ_U64(c->in_flaw_total, 73);
    CHECK_NEAR(c->in_mos, 4.41, 1e-12);
    CHECK_NEAR(c->in_jitter_min_variance, 153.84, 1e-12);
    CHECK_NEAR(c->in_jitter_max_variance, 800.00, 1e-12);
    CHECK_NEAR(c->in_quality_pct, 93.00, 1e-12);
    CHECK_NEAR(c->in_mean_interval_ms, 20.51, 1e-12);
}

static void check_hangup_ce5aab7d(const struct fsa_event_msg *m)
{
    /* Event-Sequence: 2484, variable_sip_call_id: 1-19112%40127.0.0.1, _in_mos: 3.73,
       _in_skip_packet_count: 255, _in_flaw_total: 283, _in_packet_count: 1055, _out_packet_count: 1297,
       _in_raw_bytes: 181460, _out_raw_bytes: 223084, _in_jitter_min_variance: 33.33,
       _in_jitter_max_variance: 1151.74, _in_quality_percentage: 73.00, _in_mean_interval: 22.52,
       Other-Leg-Unique-ID: 9a7a9f3f-0650-48e8-8911-745c8f6afe35, local port 17986, remote port 6000 */
    const struct fsa_channel_payload *c = &m->u.chan;
    CHECK_EQ_U64(m->event_seq, 2484);
    CHECK_STR(c->call_id, "1-19112@127.0.0.1");
    CHECK_EQ_U64(c->qos_present, 0xfff);
    CHECK_NEAR(c->in_mos, 3.73, 1e-12);
    CHECK_EQ_U64(c->in_skip_packets, 255);
    CHECK_EQ_U64(c->in_flaw_total, 283);
    CHECK_EQ_U64(c->in_packets, 1055);
    CHECK_EQ_U64(c->out_packets, 1297);
    CHECK_EQ_U64(c->in_raw_bytes, 181460);
    CHECK_EQ_U64(c->out_raw_bytes, 223084);
    CHECK_NEAR(c->in_jitter_min_variance, 33.33, 1e-12);
    CHECK_NEAR(c->in_jitter_max_variance, 1151.74, 1e-12);
    CHECK_NEAR(c->in_quality_pct, 73.00, 1e-12);
    CHECK_NEAR(c->in_mean_interval_ms, 22.52, 1e-12);
    CHECK_STR(c->other_leg_uuid, "9a7a9f3f-0650-48e8-8911-745c8f6afe35");
    CHECK_EQ_U64(c->local_media_port, 17986);
    CHECK_EQ_U64(c->remote_media_port, 6000);
}

static void check_hangup_ffe89e6b(const struct fsa_event_msg *m)
{
    /* The failed call (cid 1041): Event-Sequence: 2165, Call-Direction: inbound,
       Hangup-Cause: NO_ROUTE_DESTINATION, no variable_domain_name, variable_sip_from_host: example.com,
       variable_sip_to_host: 127.0.0.1, variable_sip_call_id: a3644bb2-6244-1240-9495-06c5022e40d8,
       variable_rtp_use_codec_name: PCMU, no variable_local_media_*, variable_remote_media_ip: 127.0.0.1,
       variable_remote_media_port: 23642, no Other-Leg-Unique-ID, no variable_rtp_audio_* at all,
       variable_hold_accum_seconds: 0 (on every hangup of the capture) */
    const struct fsa_channel_payload *c = &m->u.chan;
    CHECK_EQ_U64(m->event_seq, 2165);
    CHECK_EQ_U64(m->flags, 0);
    CHECK_EQ_U64(c->direction, FSA_DIR_INBOUND);
    CHECK_STR(c->hangup_cause, "NO_ROUTE_DESTINATION");
    CHECK_STR(c->domain, "example.com");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_FROM);
    CHECK_STR(c->call_id, "a3644bb2-6244-1240-9495-06c5022e40d8");
    CHECK_STR(c->codec, "PCMU");
    CHECK_STR(c->local_media_ip, "");
    CHECK_EQ_U64(c->local_media_port, 0);
    CHECK_STR(c->remote_media_ip, "127.0.0.1");
    CHECK_EQ_U64(c->remote_media_port, 23642);
    CHECK_STR(c->other_leg_uuid, "");
    CHECK_EQ_U64(c->qos_present, FSA_QOS_HOLD_SECONDS);
    CHECK_EQ_U64(c->in_packets, 0);
}

static void test_capture(void)
{
    size_t len;
    char *data = fsa_test_read_file(fsa_test_fixture("fs-plain-all.raw"), &len);
    struct body_list bodies = capture_bodies(data, len);
    CHECK_EQ_U64(bodies.n, 1785);

    size_t by_kind[FSA_EV_KIND_COUNT] = {0}, heartbeat = 0, other = 0, errors = 0, flagged = 0;
    size_t send_one_block = 0, send_no_block = 0, recv_one_block = 0, qos_full = 0, qos_none = 0;
    uint64_t hold_sum = 0;
    size_t dir_in = 0, dir_out = 0, rank[4] = {0}, with_call_id = 0, with_codec = 0, with_other_leg = 0;
    bool uuid_seen[52] = {false};
    size_t unknown_uuid = 0;
    /* sums over all events of a kind, checked against the Python script's sums */
    uint64_t recv_ssrc = 0, recv_rate = 0, recv_spc = 0, recv_opc = 0, recv_bssrc = 0, recv_frac = 0, recv_lost = 0,
             recv_hsn = 0, recv_jit = 0, recv_lsr = 0, recv_dlsr = 0, recv_ts = 0, recv_seq = 0;
    double recv_rtt = 0;
    uint64_t send_ssrc = 0, send_spc = 0, send_opc = 0, send_bssrc = 0, send_frac = 0, send_lost = 0, send_hsn = 0,
             send_jit = 0, send_lsr = 0, send_dlsr = 0;
    uint64_t hc_in_raw = 0, hc_out_raw = 0, hc_in_pk = 0, hc_out_pk = 0, hc_skip = 0, hc_flaw = 0;
    double hc_mos = 0, hc_jmin = 0, hc_jmax = 0, hc_qual = 0, hc_mean = 0;
    int seen_recv_1212 = 0, seen_send_1870 = 0, seen_77 = 0, seen_ce = 0, seen_ff = 0, seen_dc_create = 0;

    for (size_t i = 0; i < bodies.n; i++) {
        struct fsa_event_msg m;
        struct fsa_str name;
        const char *err = NULL;
        enum esl_decode_result r = esl_decode_plain_event(bodies.v[i], &m, &name, &err);
        CHECK(name.p != NULL);
        if (r == ESL_DECODE_HEARTBEAT) {
            heartbeat++;
            continue;
        }
        if (r == ESL_DECODE_OTHER) {
            other++;
            continue;
        }
        if (r == ESL_DECODE_ERROR) {
            errors++;
            continue;
        }
        by_kind[m.kind]++;
        if (m.flags)
            flagged++;
        CHECK_EQ_U64(m.uuid_len, strlen(m.uuid));
        int u = find_uuid(m.uuid);
        if (u < 0)
            unknown_uuid++;
        else
            uuid_seen[u] = true;

        if (m.kind == FSA_EV_RECV_RTCP) {
            recv_one_block += m.u.rtcp.nblocks == 1;
            recv_ssrc += m.u.rtcp.ssrc;
            recv_rate += m.u.rtcp.rtp_rate;
            recv_spc += m.u.rtcp.sender_packet_count;
            recv_opc += m.u.rtcp.sender_octet_count;
            recv_ts += m.event_time_us;
            recv_seq += m.event_seq;
            for (unsigned b = 0; b < m.u.rtcp.nblocks; b++) {
                const struct fsa_rtcp_block *bl = &m.u.rtcp.block[b];
                recv_bssrc += bl->source_ssrc;
                recv_frac += bl->fraction;
                recv_lost += bl->lost_raw;
                recv_hsn += bl->highest_seq;
                recv_jit += bl->jitter;
                recv_lsr += bl->lsr;
                recv_dlsr += bl->dlsr;
                recv_rtt += bl->rtt_avg_s;
            }
            if (m.event_seq == 1212) {
                seen_recv_1212++;
                check_recv_1212(&m);
            }
        } else if (m.kind == FSA_EV_SEND_RTCP) {
            send_one_block += m.u.rtcp.nblocks == 1;
            send_no_block += m.u.rtcp.nblocks == 0;
            send_ssrc += m.u.rtcp.ssrc;
            send_spc += m.u.rtcp.sender_packet_count;
            send_opc += m.u.rtcp.sender_octet_count;
            CHECK_EQ_U64(m.u.rtcp.rtp_rate, 0);
            for (unsigned b = 0; b < m.u.rtcp.nblocks; b++) {
                const struct fsa_rtcp_block *bl = &m.u.rtcp.block[b];
                send_bssrc += bl->source_ssrc;
                send_frac += bl->fraction;
                send_lost += bl->lost_raw;
                send_hsn += bl->highest_seq;
                send_jit += bl->jitter;
                send_lsr += bl->lsr;
                send_dlsr += bl->dlsr;
                CHECK(isnan(bl->rtt_avg_s));
            }
            if (m.event_seq == 1870) {
                seen_send_1870++;
                check_send_1870(&m);
            }
        } else {
            const struct fsa_channel_payload *c = &m.u.chan;
            dir_in += c->direction == FSA_DIR_INBOUND;
            dir_out += c->direction == FSA_DIR_OUTBOUND;
            rank[c->domain_rank]++;
            with_call_id += c->call_id[0] != 0;
            with_codec += c->codec[0] != 0;
            with_other_leg += c->other_leg_uuid[0] != 0;
            CHECK(c->call_uuid[0] != 0); /* Channel-Call-UUID is on every channel event */
            if (m.kind != FSA_EV_CHANNEL_HANGUP_COMPLETE) {
                CHECK_EQ_U64(c->qos_present, 0);
                CHECK_STR(c->hangup_cause, "");
            } else {
                qos_full += c->qos_present == 0xfff;
                qos_none += c->qos_present == FSA_QOS_HOLD_SECONDS;
                hold_sum += c->hold_accum_s;
                hc_in_raw += c->in_raw_bytes;
                hc_out_raw += c->out_raw_bytes;
                hc_in_pk += c->in_packets;
                hc_out_pk += c->out_packets;
                hc_skip += c->in_skip_packets;
                hc_flaw += c->in_flaw_total;
                hc_mos += c->in_mos;
                hc_jmin += c->in_jitter_min_variance;
                hc_jmax += c->in_jitter_max_variance;
                hc_qual += c->in_quality_pct;
                hc_mean += c->in_mean_interval_ms;
                if (strcmp(m.uuid, "77408067-ab0a-4628-b7e6-a7604ca459e1") == 0) {
                    seen_77++;
                    check_hangup_77408067(&m);
                } else if (strcmp(m.uuid, "ce5aab7d-0931-481d-8d2f-75f91316e88e") == 0) {
                    seen_ce++;
                    check_hangup_ce5aab7d(&m);
                } else if (strcmp(m.uuid, "ffe89e6b-ef00-4393-9059-f44f8246e84c") == 0) {
                    seen_ff++;
                    check_hangup_ffe89e6b(&m);
                }
            }
            if (m.kind == FSA_EV_CHANNEL_CREATE && strcmp(m.uuid, "dc8da548-09c9-4da5-95cd-918a8319139e") == 0) {
                /* The leg killed by uuid_kill, at CHANNEL_CREATE (seq 2181): Call-Direction: outbound,
                   no variable_sip_call_id yet, variable_sip_to_host: 127.0.0.1%3A5080, no codec headers,
                   variable_local_media_port: 26060 */
                seen_dc_create++;
                CHECK_EQ_U64(m.event_seq, 2181);
                CHECK_EQ_U64(m.event_time_us, 1795481757386375ull);
                CHECK_EQ_U64(c->direction, FSA_DIR_OUTBOUND);
                CHECK_STR(c->call_id, "");
                CHECK_STR(c->domain, "example.com");
                CHECK_STR(c->codec, "");
                CHECK_EQ_U64(c->codec_rate, 0);
                CHECK_EQ_U64(c->local_media_port, 26060);
                CHECK_STR(c->remote_media_ip, "");
            }
            if (m.kind == FSA_EV_CHANNEL_ANSWER && strcmp(m.uuid, "1b9999d5-4ad3-4cad-ba1d-ce3f579af90f") == 0) {
                /* seq 2234: variable_sip_call_id: a6615f95-6244-1240-9495-06c5022e40d8, inbound,
                   remote port 26060 (the dc8da548 leg's local port), local port 20424 */
                CHECK_EQ_U64(m.event_seq, 2234);
                CHECK_STR(c->call_id, "a6615f95-6244-1240-9495-06c5022e40d8");
                CHECK_EQ_U64(c->direction, FSA_DIR_INBOUND);
                CHECK_EQ_U64(c->remote_media_port, 26060);
                CHECK_EQ_U64(c->local_media_port, 20424);
                CHECK_EQ_U64(c->codec_ptime_ms, 20);
            }
        }
    }

    /* Event counts of the fixture README */
    CHECK_EQ_U64(by_kind[FSA_EV_CHANNEL_CREATE], 52);
    CHECK_EQ_U64(by_kind[FSA_EV_CHANNEL_ANSWER], 50);
    CHECK_EQ_U64(by_kind[FSA_EV_CHANNEL_BRIDGE], 13);
    CHECK_EQ_U64(by_kind[FSA_EV_CHANNEL_HANGUP_COMPLETE], 52);
    CHECK_EQ_U64(by_kind[FSA_EV_RECV_RTCP], 249);
    CHECK_EQ_U64(by_kind[FSA_EV_SEND_RTCP], 88);
    CHECK_EQ_U64(heartbeat, 17);
    CHECK_EQ_U64(other, 1785 - 52 - 50 - 13 - 52 - 249 - 88 - 17);
    CHECK_EQ_U64(errors, 0);
    CHECK_EQ_U64(flagged, 0);
    CHECK_EQ_U64(recv_one_block, 249);
    /* 16 of the 88 SEND events carry Source-SSRC: 00000000 */
    CHECK_EQ_U64(send_one_block, 72);
    CHECK_EQ_U64(send_no_block, 16);
    CHECK_EQ_U64(unknown_uuid, 0);
    size_t nseen = 0;
    for (int i = 0; i < 52; i++)
        nseen += uuid_seen[i];
    CHECK_EQ_U64(nseen, 52);
    /* 167 channel events: 93 inbound, 74 outbound; domain rank 1 in 139, rank 2 in 28;
       variable_sip_call_id in 142, a codec name in 141, Other-Leg-Unique-ID in 65 */
    CHECK_EQ_U64(dir_in, 93);
    CHECK_EQ_U64(dir_out, 74);
    CHECK_EQ_U64(rank[FSA_DOMAIN_FROM_VARIABLE], 139);
    CHECK_EQ_U64(rank[FSA_DOMAIN_FROM_SIP_FROM], 28);
    CHECK_EQ_U64(rank[FSA_DOMAIN_FROM_SIP_TO] + rank[FSA_DOMAIN_NONE], 0);
    CHECK_EQ_U64(with_call_id, 142);
    CHECK_EQ_U64(with_codec, 141);
    CHECK_EQ_U64(with_other_leg, 65);
    /* 50 of the 52 legs have all QoS fields, the 2 NO_ROUTE_DESTINATION legs only the hold time (0 s, as all) */
    CHECK_EQ_U64(qos_full, 50);
    CHECK_EQ_U64(qos_none, 2);
    CHECK_EQ_U64(hold_sum, 0);

    /* Field sums, all events of a kind (Python over the same capture) */
    CHECK_EQ_U64(recv_ssrc, 279859993428ull);
    CHECK_EQ_U64(recv_rate, 1992000);
    CHECK_EQ_U64(recv_spc, 161578);
    CHECK_EQ_U64(recv_opc, 25852480);
    CHECK_EQ_U64(recv_bssrc, 279190653940ull);
    CHECK_EQ_U64(recv_frac, 46);
    CHECK_EQ_U64(recv_lost, 236);
    CHECK_EQ_U64(recv_hsn, 8001139);
    CHECK_EQ_U64(recv_jit, 249);
    CHECK_EQ_U64(recv_lsr, 322822632777ull);
    CHECK_EQ_U64(recv_dlsr, 56744095);
    CHECK_NEAR(recv_rtt, 6.404283, 1e-9);
    CHECK_EQ_U64(recv_ts, 447074937728478118ull);
    CHECK_EQ_U64(recv_seq, 379525);
    CHECK_EQ_U64(send_ssrc, 90821614824ull);
    CHECK_EQ_U64(send_spc, 53047);
    CHECK_EQ_U64(send_opc, 8487520);
    CHECK_EQ_U64(send_bssrc, 74296380496ull);
    CHECK_EQ_U64(send_frac, 1);
    CHECK_EQ_U64(send_lost, 72);
    CHECK_EQ_U64(send_hsn, 2452845);
    CHECK_EQ_U64(send_jit, 97);
    CHECK_EQ_U64(send_lsr, 114563772602ull);
    CHECK_EQ_U64(send_dlsr, 19801035);
    CHECK_EQ_U64(hc_in_raw, 10757224);
    CHECK_EQ_U64(hc_out_raw, 10929568);
    CHECK_EQ_U64(hc_in_pk, 62542);
    CHECK_EQ_U64(hc_out_pk, 63544);
    CHECK_EQ_U64(hc_skip, 5146);
    CHECK_EQ_U64(hc_flaw, 356);
    CHECK_NEAR(hc_mos, 224.14, 1e-9);
    CHECK_NEAR(hc_jmin, 4008.07, 1e-9);
    CHECK_NEAR(hc_jmax, 31150.67, 1e-8);
    CHECK_NEAR(hc_qual, 4966.00, 1e-9);
    CHECK_NEAR(hc_mean, 1085.64, 1e-9);

    CHECK_EQ_U64(seen_recv_1212, 1);
    CHECK_EQ_U64(seen_send_1870, 1);
    CHECK_EQ_U64(seen_77, 1);
    CHECK_EQ_U64(seen_ce, 1);
    CHECK_EQ_U64(seen_ff, 1);
    CHECK_EQ_U64(seen_dc_create, 1);

    /* Throughput on the capture's RTCP events (informational; not a pass/fail criterion). */
    struct fsa_str rtcp[400];
    size_t nr = 0;
    for (size_t i = 0; i < bodies.n && nr < 400; i++)
        if (fsa_str_has_prefix(bodies.v[i], "Event-Name: RECV_RTCP_MESSAGE", 29) ||
            fsa_str_has_prefix(bodies.v[i], "Event-Name: SEND_RTCP_MESSAGE", 29))
            rtcp[nr++] = bodies.v[i];
    CHECK_EQ_U64(nr, 337);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int rounds = 300;
    uint64_t sink = 0;
    for (int k = 0; k < rounds; k++)
        for (size_t i = 0; i < nr; i++) {
            struct fsa_event_msg m;
            const char *err;
            sink += esl_decode_plain_event(rtcp[i], &m, NULL, &err) == ESL_DECODE_EVENT ? m.u.rtcp.nblocks : 0;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("decode: %.0f RTCP events/s (%zu events x %d, %.3f s, sink %llu)\n", (double)(nr * rounds) / dt, nr, rounds,
           dt, (unsigned long long)sink);

    free(bodies.v);
    free(data);
}

/* ---- synthetic ---------------------------------------------------------------------------------------------- */

static enum esl_decode_result decode(const char *s, struct fsa_event_msg *m, const char **err)
{
    /* exact-size heap copy: ASan sees any read past the body */
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    struct fsa_str name;
    *err = NULL;
    enum esl_decode_result r = esl_decode_plain_event(fsa_str_make(copy, n), m, &name, err);
    free(copy);
    return r;
}

#define RECV_HEAD "Event-Name: RECV_RTCP_MESSAGE\nUnique-ID: u-1\n"
#define SEND_HEAD "Event-Name: SEND_RTCP_MESSAGE\nUnique-ID: u-1\n"
#define HC_HEAD "Event-Name: CHANNEL_HANGUP_COMPLETE\nUnique-ID: u-1\n"

static void test_url_decode(void)
{
    char out[32];
    bool cut;
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("a%3Ab%20c"), out, sizeof(out), &cut), 5);
    CHECK_STR(out, "a:b c");
    CHECK(!cut);
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("%ZZ%4"), out, sizeof(out), &cut), 5);
    CHECK_STR(out, "%ZZ%4"); /* bad and cut escapes are copied */
    esl_url_decode(FSA_STR_LIT("%"), out, sizeof(out), &cut);
    CHECK_STR(out, "%");
    esl_url_decode(FSA_STR_LIT("%4G%g0%%41"), out, sizeof(out), &cut);
    CHECK_STR(out, "%4G%g0%A");
    esl_url_decode(FSA_STR_LIT("x%00y"), out, sizeof(out), &cut);
    CHECK_STR(out, "x%00y"); /* never a NUL inside */
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("a\0b"), out, sizeof(out), &cut), 5);
    CHECK_STR(out, "a%00b");                                            /* a raw NUL from the wire neither */
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("ab\0"), out, 5, &cut), 2); /* "%00" does not fit whole: cut before it */
    CHECK(cut);
    esl_url_decode(FSA_STR_LIT("%7c%7C+"), out, sizeof(out), &cut);
    CHECK_STR(out, "||+");
    esl_url_decode(FSA_STR_LIT("ARRAY%3A%3A2030%7C%3A2030"), out, sizeof(out), &cut);
    CHECK_STR(out, "ARRAY::2030|:2030");
    /* high bytes pass through */
    esl_url_decode(FSA_STR_LIT("%C3%A9\xff"), out, sizeof(out), &cut);
    CHECK_STR(out, "\xc3\xa9\xff");
    /* truncation: cap 4 holds 3 bytes, never half an escape */
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("abcdef"), out, 4, &cut), 3);
    CHECK_STR(out, "abc");
    CHECK(cut);
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("ab%41%42"), out, 4, &cut), 3);
    CHECK_STR(out, "abA");
    CHECK(cut);
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("abc"), out, 4, &cut), 3);
    CHECK(!cut);
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("abc%"), out, 4, &cut), 3);
    CHECK(cut);
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("x"), out, 1, &cut), 0);
    CHECK_STR(out, "");
    CHECK(cut);
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("x"), out, 0, &cut), 0);
    CHECK(cut);
    CHECK_EQ_U64(esl_url_decode(FSA_STR_NULL, out, sizeof(out), &cut), 0);
    CHECK_STR(out, "");
    CHECK(!cut);
    CHECK_EQ_U64(esl_url_decode(FSA_STR_LIT("%41"), out, sizeof(out), NULL), 1);
}

static void test_results(void)
{
    struct fsa_event_msg m;
    const char *err;
    CHECK_EQ_U64(decode("Event-Name: HEARTBEAT\nCore-UUID: x\n\n", &m, &err), ESL_DECODE_HEARTBEAT);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_DESTROY\nUnique-ID: a\n\n", &m, &err), ESL_DECODE_OTHER);
    CHECK_EQ_U64(decode("Event-Name: CUSTOM\n\n", &m, &err), ESL_DECODE_OTHER);
    /* Event-Name need not be first */
    CHECK_EQ_U64(decode("Core-UUID: x\nUnique-ID: abc\nEvent-Name: CHANNEL_ANSWER\n\n", &m, &err), ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.kind, FSA_EV_CHANNEL_ANSWER);
    CHECK_STR(m.uuid, "abc");
    /* missing Event-Name */
    CHECK_EQ_U64(decode("Unique-ID: abc\nCore-UUID: x\n\n", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_NO_EVENT_NAME);
    CHECK_EQ_U64(decode("", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_NO_EVENT_NAME);
    CHECK_EQ_U64(decode("Event-Name: \n\n", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_NO_EVENT_NAME);
    /* Event-Name after the event's blank line (in its inner body) does not count */
    CHECK_EQ_U64(decode("Unique-ID: abc\n\nEvent-Name: CHANNEL_ANSWER\n", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_NO_EVENT_NAME);
    /* a used kind without Unique-ID (or with an empty / _undef_ one) */
    CHECK_EQ_U64(decode("Event-Name: RECV_RTCP_MESSAGE\nSSRC: 1\n\n", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_NO_UNIQUE_ID);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID: _undef_\n\n", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_NO_UNIQUE_ID);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID:\n\n", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_NO_UNIQUE_ID);
    /* bad lines */
    CHECK_EQ_U64(decode(RECV_HEAD "garbage line\n\n", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_BAD_HEADER_LINE);
    CHECK_EQ_U64(decode(": x\n" RECV_HEAD "\n", &m, &err), ESL_DECODE_ERROR);
    CHECK(err == ESL_ERR_BAD_HEADER_LINE);
    /* no trailing blank line, last line without '\n', CRLF lines */
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_BRIDGE\nUnique-ID: abc", &m, &err), ESL_DECODE_EVENT);
    CHECK_STR(m.uuid, "abc");
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_BRIDGE\r\nUnique-ID: abc\r\nCall-Direction: outbound\r\n\r\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_STR(m.uuid, "abc");
    CHECK_EQ_U64(m.u.chan.direction, FSA_DIR_OUTBOUND);
    /* the first Event-Name and Unique-ID win */
    CHECK_EQ_U64(decode("Event-Name: SEND_RTCP_MESSAGE\nEvent-Name: HEARTBEAT\nUnique-ID: a\nUnique-ID: b\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.kind, FSA_EV_SEND_RTCP);
    CHECK_STR(m.uuid, "a");
    /* URL-encoded Unique-ID; a too long one is cut and flagged */
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID: a%3Ab%ZZ%4\n", &m, &err), ESL_DECODE_EVENT);
    CHECK_STR(m.uuid, "a:b%ZZ%4");
    CHECK_EQ_U64(m.uuid_len, 8);
    CHECK_EQ_U64(m.flags, 0);
    /* a raw NUL inside a value: still a C string of uuid_len bytes */
    static const char nul_uid[] = "Event-Name: CHANNEL_CREATE\nUnique-ID: ab\0cd\n";
    CHECK_EQ_U64(esl_decode_plain_event(FSA_STR_LIT(nul_uid), &m, NULL, &err), ESL_DECODE_EVENT);
    CHECK_STR(m.uuid, "ab%00cd");
    CHECK_EQ_U64(m.uuid_len, 7);
    char longu[256];
    snprintf(longu, sizeof(longu), "Event-Name: CHANNEL_CREATE\nUnique-ID: %0100d\n", 7);
    CHECK_EQ_U64(decode(longu, &m, &err), ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.uuid_len, FSA_UUID_MAX - 1);
    CHECK_EQ_U64(strlen(m.uuid), FSA_UUID_MAX - 1);
    CHECK(m.flags & FSA_MSG_TRUNCATED);
    /* event_name slice is the raw value */
    struct fsa_str name;
    static const char hb[] = "Event-Name: HEARTBEAT\n";
    CHECK_EQ_U64(esl_decode_plain_event(FSA_STR_LIT(hb), &m, &name, &err), ESL_DECODE_HEARTBEAT);
    CHECK(FSA_STR_IS(name, "HEARTBEAT"));
    CHECK_EQ_U64(esl_decode_plain_event(FSA_STR_NULL, &m, &name, &err), ESL_DECODE_ERROR);
    CHECK(name.p == NULL);
}

static void test_rtcp_values(void)
{
    struct fsa_event_msg m;
    const char *err;
    /* Lost 4294967295 (-1 printed unsigned) stays 4294967295; "-1" means the same */
    CHECK_EQ_U64(decode(RECV_HEAD "Source0-SSRC: 0000abcd\nSource0-Lost: 4294967295\n"
                                  "Source1-SSRC: 0000abce\nSource1-Lost: -1\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.nblocks, 2);
    CHECK_EQ_U64(m.u.rtcp.block[0].lost_raw, 4294967295u);
    CHECK_EQ_U64(m.u.rtcp.block[1].lost_raw, 4294967295u);
    CHECK(isnan(m.u.rtcp.block[0].rtt_avg_s)); /* no Rtt0-Avg */
    CHECK_EQ_U64(m.flags, 0);

    /* Lost beyond 32 bits: the block is dropped and the message flagged; other blocks stay */
    CHECK_EQ_U64(decode(RECV_HEAD "Source0-SSRC: 00000001\nSource0-Lost: 4294967296\n"
                                  "Source1-SSRC: 00000002\nSource1-Lost: 5\nRtt1-Avg: 0.5\n"
                                  "Source2-SSRC: 00000003\nSource2-Lost: -2147483649\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.nblocks, 1);
    CHECK_EQ_U64(m.u.rtcp.block[0].source_ssrc, 2);
    CHECK_EQ_U64(m.u.rtcp.block[0].lost_raw, 5);
    CHECK_NEAR(m.u.rtcp.block[0].rtt_avg_s, 0.5, 0);
    CHECK(m.flags & FSA_MSG_BAD_VALUE);

    /* SSRC 00000000 blocks are skipped; order kept; Source4+ and Source10 ignored; header order free */
    CHECK_EQ_U64(decode("Source3-SSRC: 00000004\nSource1-SSRC: 00000000\nSource1-Lost: 9\n" RECV_HEAD
                        "Source0-SSRC: 0000000A\nSource2-SSRC: 0000000b\nSource4-SSRC: 00000005\n"
                        "Source10-SSRC: 00000006\nRtt3-Avg: 0.25\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.nblocks, 3);
    CHECK_EQ_U64(m.u.rtcp.block[0].source_ssrc, 10);
    CHECK_EQ_U64(m.u.rtcp.block[1].source_ssrc, 11);
    CHECK_EQ_U64(m.u.rtcp.block[2].source_ssrc, 4);
    CHECK_NEAR(m.u.rtcp.block[2].rtt_avg_s, 0.25, 0);
    CHECK_EQ_U64(m.flags, 0);

    /* SEND reads only the unnumbered block, RECV only the numbered ones */
    CHECK_EQ_U64(decode(SEND_HEAD "Source0-SSRC: 00000001\nSource-SSRC: 00000002\nSource-Jitter: 7\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.nblocks, 1);
    CHECK_EQ_U64(m.u.rtcp.block[0].source_ssrc, 2);
    CHECK_EQ_U64(m.u.rtcp.block[0].jitter, 7);
    CHECK(isnan(m.u.rtcp.block[0].rtt_avg_s));
    CHECK_EQ_U64(decode(RECV_HEAD "Source-SSRC: 00000002\n", &m, &err), ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.nblocks, 0);
    CHECK_EQ_U64(decode(SEND_HEAD "Source-SSRC: 00000000\nSource-Lost: 1\n", &m, &err), ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.nblocks, 0);
    CHECK_EQ_U64(m.flags, 0);
    /* a block without SSRC is not a block */
    CHECK_EQ_U64(decode(RECV_HEAD "Source0-Lost: 3\nRtt0-Avg: 0.1\n", &m, &err), ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.nblocks, 0);

    /* bad block fields: each drops its block */
    static const char *const bad_block[] = {
        "Source0-SSRC: 1g\n",
        "Source0-SSRC: 100000000\n",
        "Source0-Fraction: 256\n",
        "Source0-Jitter: 4294967296\n",
        "Source0-LSR: -1\n",
        "Source0-DLSR: 1.5\n",
        "Rtt0-Avg: nan\n",
        "Rtt0-Avg: inf\n",
        "Source0-Highest-Sequence-Number-Received: x\n",
        "Source0-Lost: 1e3\n",
        "Source0-Fraction: %ZZ\n",
    };
    for (size_t i = 0; i < sizeof(bad_block) / sizeof(bad_block[0]); i++) {
        char ev[256];
        snprintf(ev, sizeof(ev), "%s%sSource0-SSRC: 00000001\nSource1-SSRC: 00000002\n", RECV_HEAD, bad_block[i]);
        CHECK_EQ_U64(decode(ev, &m, &err), ESL_DECODE_EVENT);
        CHECK(m.flags & FSA_MSG_BAD_VALUE);
        CHECK_EQ_U64(m.u.rtcp.nblocks, 1); /* block 0 dropped (a bad SSRC comes first and wins) */
        CHECK_EQ_U64(m.u.rtcp.block[0].source_ssrc, 2);
    }
    /* the first occurrence wins: a later bad duplicate is not even read */
    CHECK_EQ_U64(decode(RECV_HEAD "Source0-SSRC: 00000001\nSource0-SSRC: 1g\n", &m, &err), ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.nblocks, 1);
    CHECK_EQ_U64(m.flags, 0);

    /* huge and odd sender values: flagged, left 0; the rest decodes */
    CHECK_EQ_U64(decode(RECV_HEAD "SSRC: 123456789\nRTP-Rate: 4294967296\nSender-Packet-Count: 99999999999999999999\n"
                                  "Octect-Packet-Count: 18446744073709551615\nEvent-Date-Timestamp: 12x\n"
                                  "Event-Sequence: %31%32\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.ssrc, 0);
    CHECK_EQ_U64(m.u.rtcp.rtp_rate, 0);
    CHECK_EQ_U64(m.u.rtcp.sender_packet_count, 0);
    CHECK_EQ_U64(m.u.rtcp.sender_octet_count, UINT64_MAX);
    CHECK_EQ_U64(m.event_time_us, 0);
    CHECK_EQ_U64(m.event_seq, 12); /* URL-decoded before parsing */
    CHECK(m.flags & FSA_MSG_BAD_VALUE);
    /* SSRC in upper case hex, _undef_ values count as absent (no flag) */
    CHECK_EQ_U64(decode(RECV_HEAD "SSRC: DEADBEEF\nRTP-Rate: _undef_\nSender-Packet-Count:\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(m.u.rtcp.ssrc, 0xdeadbeef);
    CHECK_EQ_U64(m.flags, 0);
}

/* One CHANNEL_CREATE with the four domain candidates; NULL leaves a header out. */
static const struct fsa_channel_payload *domain_of(struct fsa_event_msg *m, const char *dom, const char *from,
                                                   const char *to, const char *req)
{
    char body[1024];
    int n = snprintf(body, sizeof(body), "Event-Name: CHANNEL_CREATE\nUnique-ID: a\n");
    const char *names[] = {"variable_domain_name", "variable_sip_from_host", "variable_sip_to_host",
                           "variable_sip_req_host"};
    const char *vals[] = {dom, from, to, req};
    for (int i = 0; i < 4; i++)
        if (vals[i])
            n += snprintf(body + n, sizeof(body) - (size_t)n, "%s: %s\n", names[i], vals[i]);
    const char *err;
    CHECK_EQ_U64(decode(body, m, &err), ESL_DECODE_EVENT);
    return &m->u.chan;
}

#define IP_RANK(r) ((r) + FSA_DOMAIN_IP_LITERAL)

/*
 * domain_name skips IP literals (contract): rank variable_domain_name >
 * sip_from_host > sip_to_host > sip_req_host, the first that is not an IPv4
 * or IPv6 literal (bracketed or not, with or without :port); if all are, the
 * best of them without its port, ranked below every name. Values URL-encoded
 * as FreeSWITCH sends them ("%3A" for ':', "%5B"/"%5D" for the brackets).
 */
static void test_domain_skips_ip_literals(void)
{
    struct fsa_event_msg m;
    const struct fsa_channel_payload *c;

    /* The PBX case: the gateway's address in the From host, the tenant in the To host. */
    c = domain_of(&m, NULL, "10.1.2.3%3A5080", "tenant.example", "127.0.0.1");
    CHECK_STR(c->domain, "tenant.example");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_TO);
    c = domain_of(&m, NULL, "127.0.0.1", "tenant.example", NULL);
    CHECK_STR(c->domain, "tenant.example");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_TO);
    /* A name shorter than the IP literal kept before it: nothing of the IP stays after the NUL (fuzz_esl_event). */
    c = domain_of(&m, NULL, "192.168.100.200%3A5080", NULL, "a.b");
    CHECK_STR(c->domain, "a.b");
    size_t junk = 0;
    for (size_t i = 3; i < sizeof(c->domain); i++)
        junk += c->domain[i] != 0;
    CHECK_EQ_U64(junk, 0);
    /* Every higher candidate an IP (domain_name too): the request host's name wins. */
    c = domain_of(&m, "192.0.2.10", "%5B2001%3Adb8%3A%3A1%5D%3A5060", "198.51.100.7", "pbx.example");
    CHECK_STR(c->domain, "pbx.example");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_REQ);
    c = domain_of(&m, NULL, NULL, NULL, "req.example");
    CHECK_STR(c->domain, "req.example");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_REQ);
    /* A name still outranks everything below it. */
    c = domain_of(&m, "dom.example", "10.0.0.1", "to.example", "req.example");
    CHECK_STR(c->domain, "dom.example");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_VARIABLE);

    /* All IP literals: the best-ranked one, port removed (IPv6 keeps its brackets, as SIP writes it). */
    c = domain_of(&m, NULL, "%5B2001%3Adb8%3A%3A1%5D%3A5060", "198.51.100.7", "10.0.0.1%3A5080");
    CHECK_STR(c->domain, "[2001:db8::1]");
    CHECK_EQ_U64(c->domain_rank, IP_RANK(FSA_DOMAIN_FROM_SIP_FROM));
    c = domain_of(&m, "203.0.113.5", "10.0.0.1", NULL, NULL);
    CHECK_STR(c->domain, "203.0.113.5");
    CHECK_EQ_U64(c->domain_rank, IP_RANK(FSA_DOMAIN_FROM_VARIABLE));
    c = domain_of(&m, NULL, "2001%3Adb8%3A%3A5", "%5B%3A%3A1%5D", NULL); /* bare IPv6: no port to take */
    CHECK_STR(c->domain, "2001:db8::5");
    CHECK_EQ_U64(c->domain_rank, IP_RANK(FSA_DOMAIN_FROM_SIP_FROM));
    c = domain_of(&m, NULL, NULL, "%5B%3A%3Affff%3A192.0.2.1%5D", NULL);
    CHECK_STR(c->domain, "[::ffff:192.0.2.1]");
    CHECK_EQ_U64(c->domain_rank, IP_RANK(FSA_DOMAIN_FROM_SIP_TO));
    c = domain_of(&m, NULL, NULL, NULL, "10.9.8.7%3A65535");
    CHECK_STR(c->domain, "10.9.8.7");
    CHECK_EQ_U64(c->domain_rank, IP_RANK(FSA_DOMAIN_FROM_SIP_REQ));
    CHECK_EQ_U64(IP_RANK(FSA_DOMAIN_FROM_SIP_REQ), FSA_DOMAIN_RANK_MAX);

    /* Not IP literals, so names (kept whole, port and all). */
    static const char *const names[][2] = {
        {"example.com%3A5060", "example.com:5060"}, /* a name with a port is still a name */
        {"1.2.3.4%3Aabc", "1.2.3.4:abc"},           /* not a port */
        {"1.2.3.4%3A65536", "1.2.3.4:65536"},       /* beyond 65535 */
        {"1.2.3.4%3A", "1.2.3.4:"},                 /* empty port */
        {"256.1.1.1", "256.1.1.1"},                 /* not an IPv4 address */
        {"1.2.3", "1.2.3"},
        {"01.2.3.4", "01.2.3.4"}, /* inet_pton refuses leading zeros */
        {"%5B2001%3Adb8%3A%3A1%5Dx", "[2001:db8::1]x"},
        {"%5B2001%3Adb8%3A%3A1", "[2001:db8::1"}, /* no closing bracket */
        {"%5B1.2.3.4%5D", "[1.2.3.4]"},           /* brackets are for IPv6 only */
        {"%5Bhost.example%5D%3A5060", "[host.example]:5060"},
        {"2001%3Adb8%3A%3Ag", "2001:db8::g"},
        {"%5B%5D", "[]"},
        {"localhost", "localhost"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        c = domain_of(&m, NULL, names[i][0], "to.example", NULL);
        CHECK_STR(c->domain, names[i][1]);
        CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_FROM);
    }
    /* Hostile lengths: a 200-byte "IPv6" is cut to a name (flagged), never read past its field. */
    char big[256];
    memset(big, ':', 200);
    big[200] = '\0';
    c = domain_of(&m, NULL, NULL, big, NULL);
    CHECK_EQ_U64(strlen(c->domain), FSA_DOMAIN_MAX - 1);
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_TO);
    CHECK(m.flags & FSA_MSG_TRUNCATED);
}

/* variable_hold_accum_seconds: a QoS field (hangup only), a bad value flagged and left unset. */
static void test_hold_seconds(void)
{
    struct fsa_event_msg m;
    const char *err;
    const struct fsa_channel_payload *c = &m.u.chan;
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_HANGUP_COMPLETE\nUnique-ID: a\nvariable_hold_accum_seconds: 37\n"
                        "variable_rtp_audio_in_packet_count: 1000\nvariable_rtp_audio_in_skip_packet_count: 250\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(c->qos_present, FSA_QOS_HOLD_SECONDS | FSA_QOS_IN_PACKETS | FSA_QOS_IN_SKIP_PACKETS);
    CHECK_EQ_U64(c->hold_accum_s, 37);
    CHECK_EQ_U64(m.flags, 0);
    CHECK_EQ_U64(
        decode("Event-Name: CHANNEL_HANGUP_COMPLETE\nUnique-ID: a\nvariable_hold_accum_seconds: 3.5\n", &m, &err),
        ESL_DECODE_EVENT);
    CHECK_EQ_U64(c->qos_present, 0);
    CHECK(m.flags & FSA_MSG_BAD_VALUE);
    /* Not a hangup: the statistics (and the hold time) are not read. */
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_ANSWER\nUnique-ID: a\nvariable_hold_accum_seconds: 37\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(c->qos_present, 0);
    CHECK_EQ_U64(c->hold_accum_s, 0);
}

static void test_channel_values(void)
{
    struct fsa_event_msg m;
    const char *err;
    const struct fsa_channel_payload *c = &m.u.chan;

    /* domain fallback: rank 1 > 2 > 3, whatever the order; _undef_ and empty skip a rank */
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID: a\nvariable_sip_to_host: to.example\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_STR(c->domain, "to.example");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_TO);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID: a\nvariable_sip_to_host: to.example\n"
                        "variable_sip_from_host: from.example\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_STR(c->domain, "from.example");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_FROM);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID: a\nvariable_sip_to_host: to.example\n"
                        "variable_sip_from_host: from.example\nvariable_domain_name: dom.example\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_STR(c->domain, "dom.example");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_VARIABLE);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID: a\nvariable_domain_name: _undef_\n"
                        "variable_sip_from_host: \nvariable_sip_to_host: 127.0.0.1%3A5080\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_STR(c->domain, "127.0.0.1"); /* the only candidate is an IP literal: kept, without its port */
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_FROM_SIP_TO + FSA_DOMAIN_IP_LITERAL);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID: a\n", &m, &err), ESL_DECODE_EVENT);
    CHECK_STR(c->domain, "");
    CHECK_EQ_U64(c->domain_rank, FSA_DOMAIN_NONE);
    CHECK_EQ_U64(c->direction, FSA_DIR_UNKNOWN);

    /* codec: rtp_use_ preferred; Channel-Read-Codec-* otherwise, each field on its own */
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_ANSWER\nUnique-ID: a\nChannel-Read-Codec-Name: PCMA\n"
                        "Channel-Read-Codec-Rate: 8000\nvariable_rtp_use_codec_name: opus\n"
                        "variable_rtp_use_codec_rate: 48000\nvariable_rtp_use_codec_ptime: 20\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_STR(c->codec, "opus");
    CHECK_EQ_U64(c->codec_rate, 48000);
    CHECK_EQ_U64(c->codec_ptime_ms, 20);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_ANSWER\nUnique-ID: a\nChannel-Read-Codec-Name: G722\n"
                        "Channel-Read-Codec-Rate: 16000\nvariable_rtp_use_codec_name: _undef_\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_STR(c->codec, "G722");
    CHECK_EQ_U64(c->codec_rate, 16000);
    CHECK_EQ_U64(c->codec_ptime_ms, 0);
    /* a too long codec name is cut and flagged */
    CHECK_EQ_U64(
        decode("Event-Name: CHANNEL_ANSWER\nUnique-ID: a\nvariable_rtp_use_codec_name: ABCDEFGHIJKLMNOPQRSTU\n", &m,
               &err),
        ESL_DECODE_EVENT);
    CHECK_STR(c->codec, "ABCDEFGHIJKLMNO");
    CHECK(m.flags & FSA_MSG_TRUNCATED);

    /* direction, ports, bad port, Hangup-Cause first occurrence, escapes in strings */
    CHECK_EQ_U64(decode(HC_HEAD "Call-Direction: inbound\nHangup-Cause: USER_BUSY\nHangup-Cause: NORMAL_CLEARING\n"
                                "variable_local_media_port: 65535\nvariable_remote_media_port: 65536\n"
                                "variable_sip_call_id: abc%40host\nvariable_remote_media_ip: %3A%3A1\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(c->direction, FSA_DIR_INBOUND);
    CHECK_STR(c->hangup_cause, "USER_BUSY");
    CHECK_EQ_U64(c->local_media_port, 65535);
    CHECK_EQ_U64(c->remote_media_port, 0);
    CHECK(m.flags & FSA_MSG_BAD_VALUE);
    CHECK_STR(c->call_id, "abc@host");
    CHECK_STR(c->remote_media_ip, "::1");
    CHECK_EQ_U64(c->qos_present, 0);
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_CREATE\nUnique-ID: a\nCall-Direction: sideways\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(c->direction, FSA_DIR_UNKNOWN);

    /* QoS: NaN text, huge numbers, _undef_; each field on its own; bits only for good ones */
    CHECK_EQ_U64(decode(HC_HEAD
                        "variable_rtp_audio_in_mos: nan\nvariable_rtp_audio_in_raw_bytes: 18446744073709551616\n"
                        "variable_rtp_audio_out_raw_bytes: 18446744073709551615\n"
                        "variable_rtp_audio_in_packet_count: _undef_\n"
                        "variable_rtp_audio_out_packet_count: 12\n"
                        "variable_rtp_audio_in_skip_packet_count: -3\n"
                        "variable_rtp_audio_in_jitter_min_variance: 1.5e2\n"
                        "variable_rtp_audio_in_jitter_max_variance: 1e999\n"
                        "variable_rtp_audio_in_quality_percentage: 99.5%25\n"
                        "variable_rtp_audio_in_flaw_total: 0\n"
                        "variable_rtp_audio_in_mean_interval: 20.00\n",
                        &m, &err),
                 ESL_DECODE_EVENT);
    CHECK(m.flags & FSA_MSG_BAD_VALUE);
    CHECK_EQ_U64(c->qos_present, FSA_QOS_OUT_RAW_BYTES | FSA_QOS_OUT_PACKETS | FSA_QOS_IN_JITTER_MIN_VAR |
                                     FSA_QOS_IN_FLAW_TOTAL | FSA_QOS_IN_MEAN_INTERVAL);
    CHECK_EQ_U64(c->out_raw_bytes, UINT64_MAX);
    CHECK_EQ_U64(c->out_packets, 12);
    CHECK_NEAR(c->in_jitter_min_variance, 150.0, 0);
    CHECK_EQ_U64(c->in_flaw_total, 0);
    CHECK_NEAR(c->in_mean_interval_ms, 20.0, 0);
    CHECK_NEAR(c->in_mos, 0, 0);
    CHECK_EQ_U64(c->in_raw_bytes, 0);

    /* QoS headers on other channel events are not read */
    CHECK_EQ_U64(decode("Event-Name: CHANNEL_BRIDGE\nUnique-ID: a\nvariable_rtp_audio_in_mos: 4.50\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(c->qos_present, 0);

    /* the inner body of an event (after its blank line) is not read */
    CHECK_EQ_U64(decode(HC_HEAD "Content-Length: 40\n\nvariable_rtp_audio_in_mos: 1.00\nUnique-ID: x\n", &m, &err),
                 ESL_DECODE_EVENT);
    CHECK_EQ_U64(c->qos_present, 0);
    CHECK_STR(m.uuid, "u-1");

    /* string fields: every one cut to its size and NUL-terminated */
    char big[2048];
    char x200[201];
    memset(x200, 'x', 200);
    x200[200] = 0;
    snprintf(big, sizeof(big),
             HC_HEAD "variable_sip_call_id: %s\nvariable_domain_name: %s\nvariable_local_media_ip: %s\n"
                     "variable_remote_media_ip: %s\nChannel-Call-UUID: %s\nOther-Leg-Unique-ID: %s\nHangup-Cause: %s\n",
             x200, x200, x200, x200, x200, x200, x200);
    CHECK_EQ_U64(decode(big, &m, &err), ESL_DECODE_EVENT);
    CHECK(m.flags & FSA_MSG_TRUNCATED);
    CHECK_EQ_U64(strlen(c->call_id), FSA_CALL_ID_MAX - 1);
    CHECK_EQ_U64(strlen(c->domain), FSA_DOMAIN_MAX - 1);
    CHECK_EQ_U64(strlen(c->local_media_ip), FSA_IP_MAX - 1);
    CHECK_EQ_U64(strlen(c->remote_media_ip), FSA_IP_MAX - 1);
    CHECK_EQ_U64(strlen(c->call_uuid), FSA_UUID_MAX - 1);
    CHECK_EQ_U64(strlen(c->other_leg_uuid), FSA_UUID_MAX - 1);
    CHECK_EQ_U64(strlen(c->hangup_cause), FSA_CAUSE_MAX - 1);
}

/*
 * The reactor's two steps (scan, then fill straight into a lane slot that
 * holds an older message) against the one-call decoder, on every event of
 * the capture: same result, error and Event-Name slice; the same bytes
 * wherever a reader looks (for RTCP: up to the kept blocks); the rest of
 * the slot untouched.
 */
static void test_two_steps(void)
{
    size_t len;
    char *data = fsa_test_read_file(fsa_test_fixture("fs-plain-all.raw"), &len);
    struct body_list bodies = capture_bodies(data, len);
    CHECK_EQ_U64(bodies.n, 1785);
    size_t events = 0, rtcp = 0;
    for (size_t i = 0; i < bodies.n; i++) {
        static struct fsa_event_msg one, slot;
        static struct esl_event_scan sc;
        struct fsa_str n1, n2;
        const char *e1 = NULL, *e2 = NULL;
        enum esl_decode_result r1 = esl_decode_plain_event(bodies.v[i], &one, &n1, &e1);
        memset(&sc, 0x5a, sizeof(sc)); /* scratch from the previous event: the scan must not rely on it */
        enum esl_decode_result r2 = esl_event_scan(bodies.v[i], &sc, &n2, &e2);
        CHECK_EQ_U64(r1, r2);
        CHECK(e1 == e2 && n1.p == n2.p && n1.n == n2.n);
        if (r2 != ESL_DECODE_EVENT)
            continue;
        events++;
        CHECK_EQ_U64(sc.kind, one.kind);
        CHECK_EQ_U64(sc.uuid_len, one.uuid_len);
        CHECK_STR(sc.uuid, one.uuid);
        memset(&slot, 0xa5, sizeof(slot));
        esl_event_fill(&sc, &slot);
        size_t same = sizeof(slot);
        if (one.kind == FSA_EV_RECV_RTCP || one.kind == FSA_EV_SEND_RTCP) {
            rtcp++;
            same = offsetof(struct fsa_event_msg, u.rtcp.block) + one.u.rtcp.nblocks * sizeof(struct fsa_rtcp_block);
            /* nothing past the payload is written (bytes 120..127 before block[0] are: a zeroed pad) */
            size_t from = same > 128 ? same : 128;
            size_t untouched = 0;
            for (size_t k = from; k < sizeof(slot); k++)
                untouched += ((const unsigned char *)&slot)[k] == 0xa5;
            CHECK_EQ_U64(untouched, sizeof(slot) - from);
        }
        CHECK(memcmp(&one, &slot, same) == 0);
    }
    /* the capture's counts (test_capture): 52 CREATE + 50 ANSWER + 13 BRIDGE + 52 HANGUP_COMPLETE + 249 RECV_RTCP
       + 88 SEND_RTCP = 504 events, of which 249 + 88 = 337 RTCP */
    CHECK_EQ_U64(events, 504);
    CHECK_EQ_U64(rtcp, 337);
    free(bodies.v);
    free(data);
}

/*
 * Line scanning works on 64-byte blocks: a padding header of every length
 * from 0 to 130 moves each line of a fixed event across block boundaries
 * (line ends, colons and values on either side). The values are the ones
 * written in the event below, whatever the shift.
 */
static void test_block_alignment(void)
{
    for (size_t pad = 0; pad <= 130; pad++) {
        char body[512];
        int n =
            snprintf(body, sizeof(body),
                     "X-Pad: %.*s\nEvent-Name: RECV_RTCP_MESSAGE\nEvent-Date-GMT: Thu, 26 Nov 2026 02:04:05 GMT\n"
                     "Unique-ID: u-%zu\nSSRC: 0000beef\nSource0-SSRC: 0000abcd\nX-Colons: a:b:c:d\n"
                     "Source0-Lost: 7\nSource0-Jitter: 1234567890\nRtt0-Avg: 0.25\nSender-Packet-Count: 42\n\n",
                     (int)pad,
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                     pad);
        struct fsa_event_msg m;
        const char *err = NULL;
        CHECK_EQ_U64(decode(body, &m, &err), ESL_DECODE_EVENT);
        char uid[16];
        snprintf(uid, sizeof(uid), "u-%zu", pad);
        CHECK_STR(m.uuid, uid);
        CHECK_EQ_U64(m.u.rtcp.ssrc, 0xbeef);
        CHECK_EQ_U64(m.u.rtcp.sender_packet_count, 42);
        CHECK_EQ_U64(m.u.rtcp.nblocks, 1);
        CHECK_EQ_U64(m.u.rtcp.block[0].source_ssrc, 0xabcd);
        CHECK_EQ_U64(m.u.rtcp.block[0].lost_raw, 7);
        CHECK_EQ_U64(m.u.rtcp.block[0].jitter, 1234567890u);
        CHECK_NEAR(m.u.rtcp.block[0].rtt_avg_s, 0.25, 0);
        CHECK_EQ_U64(m.flags, 0);
        /* the same event with a line without ':' at the end: refused whatever the alignment */
        CHECK((size_t)n + 8 < sizeof(body));
        memcpy(body + n - 1, "garbage\n\n", 10);
        CHECK_EQ_U64(decode(body, &m, &err), ESL_DECODE_ERROR);
        CHECK(err == ESL_ERR_BAD_HEADER_LINE);
    }
}

int main(void)
{
    test_url_decode();
    test_results();
    test_rtcp_values();
    test_channel_values();
    test_domain_skips_ip_literals();
    test_hold_seconds();
    test_capture();
    test_two_steps();
    test_block_alignment();
    return fsa_test_finish();
}
