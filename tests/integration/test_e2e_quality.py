"""The quality signals end to end: fssim's simulations (output-path drops, VAD silence, held legs,
IP-literal gateways with the tenant in the To host, BUSY / NO_ANSWER / MEDIA_TIMEOUT hangups) ->
fsagent -> a real gRPC receiver (grpc-js with the official OTLP protos).

What fssim sends is planned by docs/fssim.md's rules, restated here (quality_plan) rather than read
from fssim or fsagent; the expected values follow from the contract:
  - QoS only for answered legs; each QoS point carries call_direction (the leg's Call-Direction)
    and hangup_cause; media_gap_ratio = skip / (packets + skip) per leg; hold_seconds as the A leg
    was held; RTCP packets_lost 0 throughout (drops and silence are no RTCP loss) while
    freeswitch.qos.mos_score is FreeSWITCH's 4.50: "MOS fine, media gap high";
  - domain_name is the tenant for every leg, never the gateway's IP literal (From host), so
    freeswitch.legs.ended splits by tenant and cause exactly as planned;
  - the bounded freeswitch.leg.media_gap histogram holds every answered leg in its bucket, and
    freeswitch.leg.mos (E-model only) one observation per answered leg.
The shared capture's side of the same signals is in test_e2e_replay.py."""
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402
from fsatest import (Checks, agent_config, free_ports, instance_stats, last_stats, start_agent,  # noqa: E402
                     start_fssim, wait_for, SLOW)

CALLS = 20
ARGS = ["--calls", CALLS, "--call-duration", 2, "--rtcp-interval-ms", 1000, "--total-calls", CALLS,
        "--heartbeat", 0, "--seed", 3, "--fire-rtcp", "--codec", "PCMU", "--drop-pct", 8, "--vad-pct", 4,
        "--hold-pct", 20, "--ip-from-pct", 25, "--hangup-causes", "USER_BUSY:10,NO_ANSWER:10,MEDIA_TIMEOUT:10"]
DOMAINS = ["example.com", "carrier-a.net", "tenant-b.org"]  # fssim's tenants, call i -> DOMAINS[i % 3]
EPS = 1e-12


def quality_plan():
    """docs/fssim.md: call i is one of P % when (37 i + salt) mod 100 < P (salts: ip-from 23, hold 61);
    the causes take consecutive ranges of (37 i + 11) mod 100 in the order given there."""
    plan = []
    for i in range(CALLS):
        u = (37 * i + 11) % 100
        cause = "USER_BUSY" if u < 10 else "NO_ANSWER" if u < 20 else "MEDIA_TIMEOUT" if u < 30 else "NORMAL_CLEARING"
        plan.append({"cause": cause, "ip_from": (37 * i + 23) % 100 < 25, "held": (37 * i + 61) % 100 < 20,
                     "domain": DOMAINS[i % 3]})
    return plan


def expected_qos(plan):
    """Counter of (call_direction, hangup_cause, hold_seconds, media_gap_ratio) over the answered legs.
    2000 ms / 20 ms = 100 ticks a leg: dropped floor(100 x 8 %) = 8, silent floor(100 x 4 %) = 4, so
    B legs 12 / 100 = 0.12; the A leg adds 50 held ticks (hold 1 s) and 50 dead ones after a media
    timeout, at most 100 in all."""
    want = collections.Counter()
    for p in plan:
        if p["cause"] not in ("NORMAL_CLEARING", "MEDIA_TIMEOUT"):
            continue
        gap_a = min(100, 12 + (50 if p["held"] else 0) + (50 if p["cause"] == "MEDIA_TIMEOUT" else 0))
        want[("inbound", p["cause"], 1.0 if p["held"] else 0.0, gap_a / 100)] += 1
        want[("outbound", p["cause"], 0.0, 0.12)] += 1
    return want


def main():
    c = Checks()
    X.ensure_deps()
    plan = quality_plan()
    answered = [p for p in plan if p["cause"] in ("NORMAL_CLEARING", "MEDIA_TIMEOUT")]
    c.check(any(p["ip_from"] for p in plan) and any(p["held"] for p in answered) and
            len({p["cause"] for p in plan}) == 4, "the plan covers every simulation")

    rx = X.Receiver()
    port = free_ports(1)
    sim = start_fssim(port, *ARGS)
    otel = ("opentelemetry:\n  endpoint: \"127.0.0.1:%d\"\n  insecure: true\n  agent_id: quality-agent\n"
            "  batch_interval_ms: 200\n  timeout_ms: 10000\n" % rx.port)
    agent = start_agent(agent_config([port], otel=otel))
    # CREATE 40 + HANGUP_COMPLETE 40, and per answered call 2 ANSWER, 1 BRIDGE, 4 RECV, 4 SEND
    used = 2 * CALLS * 2 + len(answered) * 11

    def processed():
        s = instance_stats(agent, "fs1")
        return s and sum(s["processed"].values()) >= used
    c.check(wait_for(processed, 30 * SLOW), "agent processed all %d events" % used)
    c.eq(agent.stop(), 0, "agent exit code after SIGTERM")
    sim.stop()
    final = last_stats(agent)
    reqs = rx.ok_requests()
    rx.stop()
    if not c.check(final is not None, "final counters"):
        agent.dump()
        c.finish()
    c.eq(final["calc"]["records"], {"rtcp": len(answered) * 8, "qos": 2 * len(answered), "leg_up": 2 * CALLS,
                                    "leg_down": 2 * CALLS}, "records published")
    c.eq(X.count_points(reqs), final["export"]["points_exported"], "points at the receiver = points exported")

    per_leg, aggs = collections.defaultdict(dict), collections.defaultdict(list)
    for _, m in X.metrics(reqs):
        c.eq(m.get("unit"), X.UNITS.get(m["name"]), "unit of " + m["name"])
        kind, dps = X.points(m)
        c.eq(kind, X.TYPES.get(m["name"], "gauge"), "type of " + m["name"])
        if m["name"] in X.TYPES:
            aggs[m["name"]].append(dps)
            continue
        for dp in dps:
            a = X.attrs(dp["attributes"])
            per_leg[a["channel_id"]][m["name"]] = (X.value(dp), a)

    # QoS: exactly the answered legs, attributes and values as planned.
    qos = {u: v for u, v in per_leg.items() if "freeswitch.qos.media_gap_ratio" in v}
    got = collections.Counter()
    for u, v in qos.items():
        a = v["freeswitch.qos.media_gap_ratio"][1]
        got[(a.get("call_direction"), a.get("hangup_cause"), v.get("freeswitch.qos.hold_seconds", (None,))[0],
             round(v["freeswitch.qos.media_gap_ratio"][0], 12))] += 1
    want = collections.Counter({(d, cause, h, round(g, 12)): n for (d, cause, h, g), n in expected_qos(plan).items()})
    c.eq(got, want, "QoS legs by (call_direction, hangup_cause, hold_seconds, media_gap_ratio)")
    attrs_ok = all(set(v["freeswitch.qos.media_gap_ratio"][1]) == {
        "fs_instance", "channel_id", "correlation_id", "domain_name", "codec_name", "src_ip", "dst_ip",
        "call_direction", "hangup_cause"} for v in qos.values())
    c.check(attrs_ok, "every QoS point has the contract's nine attributes")
    c.eq({v["freeswitch.qos.mos_score"][0] for v in qos.values()}, {4.5},
         "FreeSWITCH's MOS 4.50 on every leg: the drops and silence are no loss to it")
    rtcp_lost = [v["freeswitch.rtcp.packets_lost"][0] for v in per_leg.values() if "freeswitch.rtcp.packets_lost" in v]
    c.check(rtcp_lost and set(rtcp_lost) == {0}, "RTCP packets_lost 0 throughout: %r" % set(rtcp_lost))
    c.check(all(v["freeswitch.qos.mos_emodel"][0] > 4.3 for v in qos.values()),
            "E-model MOS stays high (no loss it can see) while the gap is 0.12 or more")

    # domain_name: the tenant on every point, never an IP literal; legs.ended by tenant and cause as planned.
    doms = {a["domain_name"] for v in per_leg.values() for _, a in v.values()}
    c.eq(doms, set(DOMAINS) & {p["domain"] for p in plan}, "domain_name is always a tenant, never the gateway's IP")

    def last(name):
        return aggs.get(name, [[]])[-1]
    ended = collections.Counter()
    for dp in last("freeswitch.legs.ended"):
        a = X.attrs(dp["attributes"])
        ended[(a["domain_name"], a["hangup_cause"])] += X.value(dp)
    c.eq(ended, collections.Counter((p["domain"], p["cause"]) for p in plan for _ in range(2)),
         "legs.ended by (domain_name, hangup_cause): two legs per planned call")
    gw = collections.Counter(p["domain"] for p in plan if p["ip_from"])
    c.check(sum(gw.values()) >= 4, "gateway calls in the plan: %r" % gw)

    # the bounded histogram of the gap: every answered leg in its bucket
    want_b = [0] * (len(X.GAP_BOUNDS) + 1)
    for (_, _, _, g), n in expected_qos(plan).items():
        want_b[X.bucket(X.GAP_BOUNDS, g)] += n
    got_b = [0] * (len(X.GAP_BOUNDS) + 1)
    for dp in last("freeswitch.leg.media_gap"):
        got_b = [x + int(y) for x, y in zip(got_b, dp["bucket_counts"])]
        c.eq(set(X.attrs(dp["attributes"])), {"fs_instance", "domain_name", "codec_name", "direction"},
             "leg.media_gap attributes are the bounded ones")
    c.eq(got_b, want_b, "leg.media_gap buckets")
    c.eq(sum(int(dp["count"]) for dp in last("freeswitch.leg.mos")), 2 * len(answered),
         "leg.mos: one E-model observation per answered leg")
    if c.failed:
        agent.dump()
    c.finish()


if __name__ == "__main__":
    main()
