"""What fs-plain-all.raw must turn into at the OTLP receiver, derived without fsagent's code.

Two sources, both independent of the C side:
- a plain Python reading of the capture (framing by Content-Length, URL-decoding the
  event headers), for per-leg facts any reader can check: which legs have media
  statistics, their rtp_audio_* counters and hangup times;
- the five legs whose every RTCP and QoS value was computed by hand from the capture's
  header values (E-model with emodel.plc's default, true: PCMU Bpl 25.1). The arithmetic (jitter x 1000 / 8000, Lost deltas, the E-model steps
  to 9-12 digits) is written out next to the same numbers in
  tests/unit/test_calc_capture.c; they are restated here, not recomputed by the code
  under test.
"""
import os
import urllib.parse

from fsatest import FIXTURES

CAPTURE = os.path.join(FIXTURES, "fs-plain-all.raw")


def events(path=CAPTURE):
    """Every text/event-plain body of the capture as a dict of URL-decoded headers."""
    data = open(path, "rb").read()
    off, out = 0, []
    while off < len(data):
        end = data.index(b"\n\n", off)
        head = dict(l.split(": ", 1) for l in data[off:end].decode().split("\n") if ": " in l)
        off = end + 2
        body = b""
        if "Content-Length" in head:
            n = int(head["Content-Length"])
            body, off = data[off:off + n], off + n
        if head.get("Content-Type") == "text/event-plain":
            ev = {}
            for line in body.decode().split("\n"):
                if ": " in line:
                    k, v = line.split(": ", 1)
                    ev[k] = urllib.parse.unquote(v)
            out.append(ev)
    return out


def hangups(path=CAPTURE):
    """{Unique-ID: CHANNEL_HANGUP_COMPLETE headers}."""
    return {e["Unique-ID"]: e for e in events(path) if e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"}


def qos_from_headers(h):
    """The QoS values a reader derives from the hangup headers alone (contract.md)."""
    skip = int(h["variable_rtp_audio_in_skip_packet_count"])
    return {
        "freeswitch.qos.media_gap_ratio": skip / (int(h["variable_rtp_audio_in_packet_count"]) + skip),
        "freeswitch.qos.hold_seconds": float(h["variable_hold_accum_seconds"]),
        "freeswitch.qos.mos_score": float(h["variable_rtp_audio_in_mos"]),
        "freeswitch.qos.total_packets": int(h["variable_rtp_audio_in_packet_count"]) +
        int(h["variable_rtp_audio_out_packet_count"]),
        "freeswitch.qos.total_bytes": int(h["variable_rtp_audio_in_raw_bytes"]) +
        int(h["variable_rtp_audio_out_raw_bytes"]),
    }


I, O = "inbound", "outbound"
NAN = None  # no point: RTT 0 is not exported

# (direction, Event-Date-Timestamp us, jitter ms, packets_lost, fraction_lost, rtt ms or None, mos)
HAND = {
    # BATCH2, fire_rtcp_events: 6 RECV + 6 SEND, the first SEND's block is SSRC 0 (skipped).
    "b0c6292b-0197-4183-9245-3f7f203ddc84": {
        "call_id": "67acd41d-6244-1240-9495-06c5022e40d8", "direction": I,
        "rtcp": [
            (I, 1795481656246481, 0, 1, 0.00390625, NAN, 4.373865313090),
            (O, 1795481660226359, 0, 1, 0, NAN, 4.404394368375),
            (I, 1795481660266367, 0, 0, 0, 40.009, 4.394297814508),
            (O, 1795481664246354, 0, 0, 0, NAN, 4.394297814508),
            (I, 1795481664286362, 0, 0, 0, 40.013, 4.394296784449),
            (O, 1795481668266392, 0, 0, 0, NAN, 4.394296784449),
            (I, 1795481668306395, 0, 0, 0, 39.993, 4.394301934702),
            (O, 1795481673286461, 0, 0, 0, NAN, 4.394301934702),
            (I, 1795481673326453, 0, 0, 0, 40.003, 4.394299359588),
            (O, 1795481678306373, 0, 0, 0, NAN, 4.394299359588),
            (I, 1795481678346365, 0, 0, 0, 40.000, 4.394300132125),
        ],
        "qos": {"freeswitch.qos.mos_score": 4.50, "freeswitch.qos.jitter_avg": 0.0,
                "freeswitch.qos.jitter_min": 0.0, "freeswitch.qos.jitter_max": 0.0,
                "freeswitch.qos.total_packets": 2995, "freeswitch.qos.packet_loss": 2,
                "freeswitch.qos.total_bytes": 515140, "freeswitch.qos.r_factor": 92.198009273259,
                "freeswitch.qos.mos_emodel": 4.389056834880,
                "freeswitch.qos.hold_seconds": 0.0, "freeswitch.qos.media_gap_ratio": 5 / 1500},
    },
    # BATCH3, ~5 % induced loss, fire_rtcp_events.
    "ebd223a0-57ce-4a39-b0bc-3b8101e5c9ff": {
        "call_id": "7f1052a7-6244-1240-9495-06c5022e40d8", "direction": I,
        "rtcp": [
            (I, 1795481695466452, 0, 1, 0.00390625, NAN, 4.373865313090),
            (O, 1795481699466399, 2.125, 1, 0, NAN, 4.402283971039),
            (I, 1795481699506397, 0, 0, 0, 40.1, 4.394274379657),
            (O, 1795481703486366, 2.625, 0, 0, NAN, 4.391556101283),
            (I, 1795481703526368, 0, 0, 0, 40.1, 4.394274379657),
            (O, 1795481707506368, 4.625, 0, 0, NAN, 4.389466095301),
            (I, 1795481707546367, 0, 0, 0, 40.063, 4.394283908369),
            (O, 1795481712526377, 2.75, 0, 0, NAN, 4.391435588166),
            (I, 1795481712546385, 0, 0, 0, 34.046, 4.395828804679),
        ],
        "qos": {"freeswitch.qos.mos_score": 4.50, "freeswitch.qos.jitter_avg": 12.125 / 9,
                "freeswitch.qos.jitter_min": 0.0, "freeswitch.qos.jitter_max": 4.625,
                "freeswitch.qos.total_packets": 2163, "freeswitch.qos.packet_loss": 2,
                "freeswitch.qos.total_bytes": 372036, "freeswitch.qos.r_factor": 92.108544911113,
                "freeswitch.qos.mos_emodel": 4.387170338289,
                "freeswitch.qos.hold_seconds": 0.0, "freeswitch.qos.media_gap_ratio": 275 / 1250},
    },
    # BATCH7, outbound leg, jittery upstream: RECV only.
    "9a7a9f3f-0650-48e8-8911-745c8f6afe35": {
        "call_id": "f982e2a8-6244-1240-9495-06c5022e40d8", "direction": O,
        "rtcp": [
            (I, 1795481900874746, 0.875, 0, 0, NAN, 4.403527653229),
            (I, 1795481904886368, 3.75, 0, 0, NAN, 4.400657494869),
            (I, 1795481908906480, 2.75, 0, 0, 20.004, 4.396606311481),
            (I, 1795481912946355, 4.25, 0, 0, 19.963, 4.395081011378),
            (I, 1795481917938891, 3.375, 0, 0, 19.966, 4.395977230965),
        ],
        "qos": {"freeswitch.qos.mos_score": 4.50, "freeswitch.qos.jitter_avg": 3.0,
                "freeswitch.qos.jitter_min": 0.875, "freeswitch.qos.jitter_max": 4.25,
                "freeswitch.qos.total_packets": 2353, "freeswitch.qos.packet_loss": 4,
                "freeswitch.qos.total_bytes": 404716, "freeswitch.qos.r_factor": 91.912420409725,
                "freeswitch.qos.mos_emodel": 4.382989178374,
                "freeswitch.qos.hold_seconds": 0.0, "freeswitch.qos.media_gap_ratio": 4 / 1303},
    },
    # BATCH7, FreeSWITCH MOS 3.73, no RTCP: jitter from sqrt(variance), no jitter_avg.
    "ce5aab7d-0931-481d-8d2f-75f91316e88e": {
        "call_id": "1-19112@127.0.0.1", "direction": I, "rtcp": [],
        "qos": {"freeswitch.qos.mos_score": 3.73, "freeswitch.qos.jitter_min": 5.773214009544,
                "freeswitch.qos.jitter_max": 33.937295119087, "freeswitch.qos.total_packets": 2352,
                "freeswitch.qos.packet_loss": 255, "freeswitch.qos.total_bytes": 404544,
                "freeswitch.qos.r_factor": 64.613432684985, "freeswitch.qos.mos_emodel": 3.335308748128,
                "freeswitch.qos.hold_seconds": 0.0, "freeswitch.qos.media_gap_ratio": 255 / 1310},
    },
    # BATCH6, MOS 4.41, no RTCP.
    "77408067-ab0a-4628-b7e6-a7604ca459e1": {
        "call_id": "1-18847@127.0.0.1", "direction": I, "rtcp": [],
        "qos": {"freeswitch.qos.mos_score": 4.41, "freeswitch.qos.jitter_min": 12.403225386971,
                "freeswitch.qos.jitter_max": 28.284271247462, "freeswitch.qos.total_packets": 2505,
                "freeswitch.qos.packet_loss": 94, "freeswitch.qos.total_bytes": 430860,
                "freeswitch.qos.r_factor": 79.570874580037, "freeswitch.qos.mos_emodel": 4.007676489055,
                "freeswitch.qos.hold_seconds": 0.0, "freeswitch.qos.media_gap_ratio": 94 / 1302},
    },
}

RTCP_NAMES = ("freeswitch.rtcp.jitter", "freeswitch.rtcp.packets_lost", "freeswitch.rtcp.fraction_lost",
              "freeswitch.rtcp.rtt", "freeswitch.rtcp.mos")
NO_MEDIA = ("ffe89e6b-ef00-4393-9059-f44f8246e84c", "32be906d-e383-4825-8928-9180bcba913e")
# README: 249 RECV blocks; 88 SEND, 16 of them with Source-SSRC 00000000 -> 72.
RTCP_POINTS_PER_NAME = {"inbound": 249, "outbound": 72}
QOS_LEGS = 50


def hand_rtcp_points(instance="fs1"):
    """{(name, channel_id, time_unix_nano): (value, attributes)} of the hand-verified RTCP points."""
    exp = {}
    for uuid, leg in HAND.items():
        for d, t, jit, lost, frac, rtt, mos in leg["rtcp"]:
            attrs = {"fs_instance": instance, "channel_id": uuid, "correlation_id": leg["call_id"],
                     "domain_name": "example.com", "direction": d}
            key_t = str(t * 1000)
            for name, v in zip(RTCP_NAMES, (jit, lost, frac, rtt, mos)):
                if v is not None:
                    exp[(name, uuid, key_t)] = (v, attrs)
    return exp
