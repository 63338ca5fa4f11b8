"""The whole pipeline on real data: fssim replays fs-plain-all.raw -> fsagent (reactor,
workers, exporter) -> a real gRPC server (grpc-js with the official OTLP protos).

Asserts at the receiver: resource and scope; every metric's unit and type; every RTCP and
QoS value of the five hand-verified legs (capture.py), with timestamps and attributes;
mos_score / total_packets / total_bytes of all 50 legs with media against the hangup
headers read by Python; no QoS for the two legs without media; exact point counts
(RTCP 249 inbound + 72 outbound per RTCP metric, 50 QoS points per QoS metric); the
aggregates (52 legs ended, 2 of them NO_ROUTE_DESTINATION; calls.active back to 0; the
MOS histogram holding 50 observations); and no point lost on the way (exporter counters).

With FSA_E2E_STORAGE=redis it runs the same with storage: redis against a real
redis-server (see test_e2e_redis.py)."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import capture  # noqa: E402
import exporttest as X  # noqa: E402
from fsatest import (Checks, agent_config, free_ports, instance_stats, last_stats, start_agent,  # noqa: E402
                     start_fssim, wait_for, SLOW)

UNITS, TYPES = X.UNITS, X.TYPES
QOS_ATTRS = ("fs_instance", "channel_id", "correlation_id", "domain_name", "codec_name", "src_ip", "dst_ip",
             "call_direction", "hangup_cause")
EPS = 1e-9
EPS_MOS = 1e-7  # E-model outputs: the leg keeps RTT as a float (calc/legs.h)


def close(got, want, name):
    eps = EPS_MOS if name.endswith(("mos", "mos_emodel", "r_factor")) else EPS
    return got is not None and abs(float(got) - want) <= eps


USED_EVENTS = 52 + 50 + 13 + 52 + 249 + 88  # CREATE ANSWER BRIDGE HANGUP_COMPLETE RECV SEND


def replay_through_agent(rx, otel_extra="", host="127.0.0.1", storage_yaml=""):
    """fssim replays the capture to fsagent exporting to rx; returns the agent, stopped by SIGTERM."""
    port = free_ports(1)
    sim = start_fssim(port, "--replay", capture.CAPTURE, "--heartbeat", "0")
    otel = ("opentelemetry:\n  endpoint: \"%s:%d\"\n  agent_id: e2e-agent\n  batch_interval_ms: 200\n"
            "  timeout_ms: 10000\n%s" % (host, rx.port, otel_extra or "  insecure: true\n"))
    agent = start_agent(agent_config([port], otel=otel, extra=storage_yaml))

    def processed():
        s = instance_stats(agent, "fs1")
        return s and sum(s["processed"].values()) >= USED_EVENTS
    ok = wait_for(processed, 30 * SLOW)
    agent.rc = agent.stop()  # SIGTERM: drains the lanes, flushes the exporter
    sim.stop()
    agent.all_processed = bool(ok)
    return agent


def run(c, label="h2c", rx_args=(), otel_extra="", host="127.0.0.1", storage_yaml=""):
    rx = X.Receiver(*rx_args)
    agent = replay_through_agent(rx, otel_extra, host, storage_yaml)
    c.check(agent.all_processed, label + ": all 504 events processed")
    c.eq(agent.rc, 0, label + ": exit code after SIGTERM")
    final = last_stats(agent)
    reqs = rx.ok_requests()
    lines = rx.lines()
    rx.stop()
    c.check(final is not None, label + ": final counters line")
    if final is None:
        agent.dump()
        return agent
    c.eq(len(lines), len(reqs), label + ": every request answered OK")

    ex = final["export"]
    c.eq(sum(ex["points_dropped"].values()) if isinstance(ex["points_dropped"], dict) else ex["points_dropped"],
         0, label + ": no point dropped by the exporter")
    c.eq(ex["points_exported"], ex["points_encoded"], label + ": every encoded point exported")
    c.eq(X.count_points(reqs), ex["points_exported"], label + ": points at the receiver = points exported")
    calc = final["calc"]
    c.eq(calc["records"], {"rtcp": 321, "qos": 50, "leg_up": 52, "leg_down": 52}, label + ": records published")
    c.eq(calc["records_dropped"], {"rtcp": 0, "qos": 0, "leg_up": 0, "leg_down": 0}, label + ": records dropped")

    for req in reqs:
        rms = req["resource_metrics"]
        c.eq(len(rms), 1, label + ": one ResourceMetrics")
        res = X.attrs(rms[0]["resource"]["attributes"])
        c.eq(res.get("service.name"), "fsagent", label + ": service.name")
        c.eq(res.get("service.instance.id"), "e2e-agent", label + ": service.instance.id")
        c.eq(res.get("host.name"), X.hostname(), label + ": host.name")

    # Every point, keyed (name, channel_id, time, direction); units and types per metric.
    per_leg = {}
    aggregates = {}
    dups = 0
    for _, m in X.metrics(reqs):
        name = m["name"]
        c.eq(m.get("unit"), UNITS.get(name), label + ": unit of " + name)
        kind, dps = X.points(m)
        c.eq(kind, TYPES.get(name, "gauge"), label + ": type of " + name)
        if name in TYPES:
            aggregates.setdefault(name, []).append(dps)
            continue
        for dp in dps:
            a = X.attrs(dp["attributes"])
            key = (name, a.get("channel_id"), dp["time_unix_nano"], a.get("direction"))
            dups += key in per_leg
            per_leg[key] = (X.value(dp), a)
    c.eq(dups, 0, label + ": no per-leg point twice")

    # Point counts per metric.
    counts = {}
    for (name, _, _, d) in per_leg:
        counts[(name, d)] = counts.get((name, d), 0) + 1
    for name in ("freeswitch.rtcp.jitter", "freeswitch.rtcp.packets_lost", "freeswitch.rtcp.fraction_lost",
                 "freeswitch.rtcp.mos"):
        for d, n in capture.RTCP_POINTS_PER_NAME.items():
            c.eq(counts.get((name, d), 0), n, "%s: %s %s points" % (label, name, d))
    for name in ("freeswitch.qos.mos_score", "freeswitch.qos.jitter_min", "freeswitch.qos.jitter_max",
                 "freeswitch.qos.total_packets", "freeswitch.qos.packet_loss", "freeswitch.qos.total_bytes",
                 "freeswitch.qos.r_factor", "freeswitch.qos.mos_emodel", "freeswitch.qos.hold_seconds",
                 "freeswitch.qos.media_gap_ratio"):
        c.eq(sum(n for (nm, _), n in counts.items() if nm == name), capture.QOS_LEGS,
             "%s: %s points (legs with media)" % (label, name))

    # The hand-verified RTCP points: exact values, times and attributes.
    for (name, uuid, t), (want, attrs) in capture.hand_rtcp_points().items():
        got = per_leg.get((name, uuid, t, attrs["direction"]))
        if not c.check(got is not None, "%s: %s %s at %s present" % (label, name, uuid[:8], t)):
            continue
        c.check(close(got[0], want, name), "%s: %s %s at %s = %r (want %r)" % (label, name, uuid[:8], t, got[0], want))
        c.eq({k: got[1].get(k) for k in attrs}, attrs, "%s: attributes of %s %s" % (label, name, uuid[:8]))
    for uuid, leg in capture.HAND.items():
        n_rtcp = sum(1 for (nm, u, _, _) in per_leg if u == uuid and nm == "freeswitch.rtcp.jitter")
        c.eq(n_rtcp, len(leg["rtcp"]), "%s: RTCP reports of %s" % (label, uuid[:8]))
        n_rtt = sum(1 for (nm, u, _, _) in per_leg if u == uuid and nm == "freeswitch.rtcp.rtt")
        c.eq(n_rtt, sum(1 for r in leg["rtcp"] if r[5] is not None), "%s: RTT points of %s" % (label, uuid[:8]))

    # QoS: the hand-verified legs in full, then what the headers alone say for all 50.
    hang = capture.hangups()
    qos = {}
    for (name, uuid, t, _), (v, a) in per_leg.items():
        if name.startswith("freeswitch.qos."):
            qos.setdefault(uuid, {})[name] = (v, a, t)
    for uuid, leg in capture.HAND.items():
        got = qos.get(uuid, {})
        c.eq(set(got), set(leg["qos"]), "%s: QoS metrics of %s" % (label, uuid[:8]))
        for name, want in leg["qos"].items():
            if name in got:
                c.check(close(got[name][0], want, name),
                        "%s: %s of %s = %r (want %r)" % (label, name, uuid[:8], got[name][0], want))
        if got:
            v, a, t = next(iter(got.values()))
            want_attrs = {"fs_instance": "fs1", "channel_id": uuid, "correlation_id": leg["call_id"],
                          "domain_name": "example.com", "codec_name": "PCMU", "src_ip": "127.0.0.1",
                          "dst_ip": "127.0.0.1", "call_direction": leg["direction"],
                          "hangup_cause": "NORMAL_CLEARING"}
            c.eq({k: a.get(k) for k in QOS_ATTRS}, want_attrs, "%s: QoS attributes of %s" % (label, uuid[:8]))
    with_media = {u for u, h in hang.items() if "variable_rtp_audio_in_mos" in h}
    c.eq(len(with_media), capture.QOS_LEGS, "capture: legs with media statistics")
    c.eq(set(qos), with_media, label + ": QoS for exactly the legs with media")
    for u in capture.NO_MEDIA:
        c.check(u not in qos, "%s: no QoS for the no-media leg %s" % (label, u[:8]))
    bad = []
    for u in with_media:
        want = capture.qos_from_headers(hang[u])
        want_t = str(int(hang[u]["Event-Date-Timestamp"]) * 1000)
        for name, w in want.items():
            g = qos.get(u, {}).get(name)
            if g is None or not close(g[0], w, name) or g[2] != want_t:
                bad.append((u[:8], name, g and g[0], w))
    c.eq(bad, [], label + ": mos_score, total_packets, total_bytes, hold_seconds, media_gap_ratio and time of "
         "every leg vs its hangup headers")
    bad = []
    for u in with_media:
        want = {"call_direction": hang[u]["Call-Direction"], "hangup_cause": hang[u]["Hangup-Cause"]}
        for name, (_, a, _) in qos.get(u, {}).items():
            if {k: a.get(k) for k in want} != want:
                bad.append((u[:8], name, a.get("call_direction"), a.get("hangup_cause"), want))
    c.eq(bad, [], label + ": call_direction and hangup_cause of every QoS point vs its hangup headers")

    # Aggregates: the last snapshot (sent at stop) holds the totals.
    def last_points(name):
        return aggregates.get(name, [[]])[-1]
    ended = last_points("freeswitch.legs.ended")
    c.eq(sum(X.value(dp) for dp in ended), 52, label + ": legs.ended total")
    by_cause = {}
    for dp in ended:
        cause = X.attrs(dp["attributes"]).get("hangup_cause")
        by_cause[cause] = by_cause.get(cause, 0) + X.value(dp)
    c.eq(by_cause, {"NORMAL_CLEARING": 50, "NO_ROUTE_DESTINATION": 2}, label + ": legs.ended by hangup_cause")
    c.eq(sum(X.value(dp) for dp in last_points("freeswitch.calls.active")), 0, label + ": calls.active at the end")
    mos_h = last_points("freeswitch.leg.mos")
    c.eq(sum(int(dp["count"]) for dp in mos_h), capture.QOS_LEGS, label + ": leg.mos histogram observations")
    # leg.media_gap: every leg with media, in the buckets its ratio (from the headers) falls in.
    gap_h = last_points("freeswitch.leg.media_gap")
    want_b = [0] * (len(X.GAP_BOUNDS) + 1)
    for u in with_media:
        want_b[X.bucket(X.GAP_BOUNDS, capture.qos_from_headers(hang[u])["freeswitch.qos.media_gap_ratio"])] += 1
    got_b = [0] * (len(X.GAP_BOUNDS) + 1)
    for dp in gap_h:
        got_b = [a + int(b) for a, b in zip(got_b, dp["bucket_counts"])]
    c.eq(got_b, want_b, label + ": leg.media_gap buckets over the 50 legs")
    c.eq(sum(int(dp["count"]) for dp in gap_h), capture.QOS_LEGS, label + ": leg.media_gap histogram observations")
    if c.failed:
        agent.dump()
    return agent


def tls_cases(c):
    """The same replay over TLS (certificate made here, trusted through ca_file) to a receiver that
    requires a header; then with a wrong header value: UNAUTHENTICATED, never retried, counted."""
    d = tempfile.mkdtemp(prefix="fsa-e2e-tls-")
    ca_crt, ca_key = X.make_cert(d, "ca", "fsagent e2e CA", None)
    crt, key = X.make_cert(d, "server", "localhost", ["DNS:localhost", "IP:127.0.0.1"], ca=(ca_crt, ca_key))
    rx_args = ("--tls-cert", crt, "--tls-key", key, "--require-header", "x-api-key=e2e-Secret-77")
    tls = "  insecure: false\n  ca_file: \"%s\"\n" % ca_crt
    agent = run(c, "tls+header", rx_args, tls + "  headers: {x-api-key: e2e-Secret-77}\n", host="localhost")
    c.check(agent is not None and "e2e-Secret-77" not in agent.stderr(), "tls+header: header value never logged")

    rx = X.Receiver(*rx_args)
    agent = replay_through_agent(rx, tls + "  headers: {x-api-key: wrong-Secret-78}\n", host="localhost")
    final = last_stats(agent)
    lines = rx.lines()
    rx.stop()
    c.eq(agent.rc, 0, "wrong header: exit code")
    if not c.check(final is not None, "wrong header: final counters"):
        return
    ex = final["export"]
    c.check(ex["batches_sent"] >= 1, "wrong header: batches sent")
    c.eq(ex["batches_failed"], {"UNAUTHENTICATED": ex["batches_sent"]}, "wrong header: every call UNAUTHENTICATED")
    c.eq(ex["batches_retried"], {}, "wrong header: never retried")
    c.eq(ex["points_exported"], 0, "wrong header: nothing exported")
    c.eq(ex["points_dropped"]["non_retryable"], ex["points_encoded"], "wrong header: every point counted dropped")
    c.eq(len(lines), ex["batches_sent"], "wrong header: the receiver saw each call once")
    c.check(all(l["status"] == "UNAUTHENTICATED" for l in lines), "wrong header: receiver refused all")
    logs = agent.stderr()
    c.check("wrong-Secret-78" not in logs and "e2e-Secret-77" not in logs, "wrong header: no header value logged")


# emodel.plc: false (PCMU Bpl 4.3): the legs facing sipp, by hand in tests/unit/test_calc_capture.c.
NO_PLC = {"ce5aab7d-0931-481d-8d2f-75f91316e88e": (25.263121596575, 1.425105553380),
          "77408067-ab0a-4628-b7e6-a7604ca459e1": (48.135075890720, 2.477380342882)}


def no_plc_case(c):
    """The same replay with emodel.plc: false reaches the calculators: the worst-case E-model values."""
    rx = X.Receiver()
    agent = replay_through_agent(rx, storage_yaml="emodel: {plc: false}\n")
    reqs = rx.ok_requests()
    rx.stop()
    c.check(agent.all_processed, "plc false: all events processed")
    got = {}
    for _, m in X.metrics(reqs):
        if m["name"] in ("freeswitch.qos.r_factor", "freeswitch.qos.mos_emodel"):
            for dp in X.points(m)[1]:
                got[(m["name"], X.attrs(dp["attributes"]).get("channel_id"))] = X.value(dp)
    for uuid, (r, mos) in NO_PLC.items():
        c.check(close(got.get(("freeswitch.qos.r_factor", uuid)), r, "r_factor"),
                "plc false: r_factor of %s = %r (want %r)" % (uuid[:8], got.get(("freeswitch.qos.r_factor", uuid)), r))
        c.check(close(got.get(("freeswitch.qos.mos_emodel", uuid)), mos, "mos_emodel"),
                "plc false: mos_emodel of %s = %r (want %r)" % (uuid[:8], got.get(("freeswitch.qos.mos_emodel", uuid)),
                                                                 mos))


def main():
    c = Checks()
    X.ensure_deps()
    run(c)
    no_plc_case(c)
    tls_cases(c)
    c.finish()


if __name__ == "__main__":
    main()
