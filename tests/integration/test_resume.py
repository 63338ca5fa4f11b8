#!/usr/bin/env python3
"""Resume: an agent killed (SIGKILL) and started again mid-call, with each store.

fssim runs 4 calls (8 legs) of exactly 16 s, RTCP every second at 5 % loss, no new calls after
them, so leg report k carries cumulative Lost = floor(k x 1000/20 x 5/100) = floor(2.5 k)
(docs/fssim.md) and the last one (k = 16) says 40. Agent A exports the first seconds and is
killed; 1.5 s later agent B (same config) carries the legs to their hangup. At the real gRPC
receiver, over both agents:

  - every RTCP point carries its leg's correlation_id and domain_name, and each leg keeps one
    value of each (B learnt them from FreeSWITCH's uuid_dump, memory store, or from Redis);
  - no leg's summed inbound packets_lost exceeds its final cumulative Lost, 40 (memory: B's first
    report per direction only sets the base; Redis: B continues from the stored base, so the sum
    is 40 exactly, or at most one report (3 packets) more if A's last write died with it);
  - every leg gets exactly one QoS point, and no leg ends counted under an empty domain;
  - B's books: memory store, 8 legs learnt, 1 channel list naming 8 channels, 8 uuid_dumps, 8
    labels received, none timed out; Redis store, the 8 legs loaded from Redis, no uuid_dump.

FreeSWITCH restarted under the agent: fssim (4 calls) is killed and another fssim (3 other calls,
another seed) starts on the same port. The agent reconnects; the new list does not name the 8 old
legs, so they end (LEG_DOWN "NOT_LISTED": 8 at the receiver in freeswitch.legs.ended, and
fsagent_legs_gone_total 8) instead of counting as active for a day; the 6 new legs are active.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402
from fsatest import SLOW, Checks, agent_config, free_ports, last_stats, start_agent, start_fssim, wait_for  # noqa: E402
from test_e2e_redis import Redis, storage_yaml  # noqa: E402

LEGS = 8
PER_LEG_RTCP = ("freeswitch.rtcp.jitter", "freeswitch.rtcp.packets_lost", "freeswitch.rtcp.fraction_lost",
                "freeswitch.rtcp.rtt", "freeswitch.rtcp.mos")
FINAL_LOST = 40  # floor(2.5 x 16)


def processed(agent, kind):
    st = last_stats(agent, "stats") or {}
    return st.get("instances", {}).get("fs1", {}).get("processed", {}).get(kind, 0)


def run(c, label, storage=""):
    rx = X.Receiver()
    port = free_ports(1)
    sim = start_fssim(port, "--calls", 4, "--total-calls", 4, "--call-duration", 16, "--rtcp-interval-ms", 1000,
                      "--loss-pct", 5, "--heartbeat", 1, "--seed", 11)
    otel = ("opentelemetry: {endpoint: \"127.0.0.1:%d\", insecure: true, batch_interval_ms: 100, timeout_ms: 5000}\n"
            % rx.port)
    cfg = agent_config([port], otel=otel, extra=storage)
    a = start_agent(cfg)
    c.check(wait_for(lambda: processed(a, "RECV_RTCP_MESSAGE") >= LEGS * 4, 30 * SLOW),
            "%s: agent A saw 4 reports per leg" % label)
    time.sleep(0.5)  # its points reach the receiver (batches every 100 ms)
    a.kill()
    time.sleep(1.5)  # reports in this gap reach nobody, as when an agent is really down
    b = start_agent(cfg)
    c.check(wait_for(lambda: processed(b, "CHANNEL_HANGUP_COMPLETE") >= LEGS, 60 * SLOW),
            "%s: agent B saw the %d hangups" % (label, LEGS))
    time.sleep(0.5)
    c.eq(b.stop(), 0, "%s: agent B exit code" % label)
    fb = last_stats(b)
    sim.stop()
    reqs = rx.ok_requests()
    rx.stop()
    if not c.check(fb is not None, "%s: agent B's final counters" % label):
        b.dump()
        return None

    corr, dom, lost, qos, rtcp_points, unlabelled = {}, {}, {}, {}, 0, 0
    ended_empty_domain = 0
    for _, m in X.metrics(reqs):
        name = m["name"]
        for dp in X.points(m)[1]:
            at = X.attrs(dp["attributes"])
            if name in PER_LEG_RTCP:
                rtcp_points += 1
                leg = at["channel_id"]
                if not at.get("correlation_id") or not at.get("domain_name"):
                    unlabelled += 1
                corr.setdefault(leg, set()).add(at.get("correlation_id"))
                dom.setdefault(leg, set()).add(at.get("domain_name"))
                if name == "freeswitch.rtcp.packets_lost" and at["direction"] == "inbound":
                    lost[leg] = lost.get(leg, 0) + X.value(dp)
            elif name == "freeswitch.qos.total_packets":
                qos[at["channel_id"]] = qos.get(at["channel_id"], 0) + 1
            elif name == "freeswitch.legs.ended" and at.get("domain_name", "") == "":
                ended_empty_domain += X.value(dp)
    c.check(rtcp_points > 0, "%s: RTCP points arrived (%d)" % (label, rtcp_points))
    c.eq(unlabelled, 0, "%s: RTCP points without correlation_id or domain_name" % label)
    c.eq(len(corr), LEGS, "%s: legs with RTCP points" % label)
    c.eq(sorted(k for k, v in corr.items() if len(v) != 1), [], "%s: legs with more than one correlation_id" % label)
    c.eq(sorted(k for k, v in dom.items() if len(v) != 1), [], "%s: legs with more than one domain_name" % label)
    c.eq(sorted(qos.values()), [1] * LEGS, "%s: one QoS point per leg" % label)
    c.eq(ended_empty_domain, 0, "%s: legs ended under an empty domain" % label)
    return fb, lost


def memory(c):
    got = run(c, "memory")
    if not got:
        return
    fb, lost = got
    c.eq(len(lost), LEGS, "memory: inbound packets_lost from every leg")
    c.eq([v for v in lost.values() if v > FINAL_LOST], [],
         "memory: summed inbound packets_lost above the final cumulative %d" % FINAL_LOST)
    c.check(all(v > 0 for v in lost.values()), "memory: loss was counted (%r)" % sorted(lost.values()))
    cal, inst = fb["calc"], fb["instances"]["fs1"]
    c.eq(cal["legs_learnt"], LEGS, "memory: B learnt the legs mid-call")
    c.eq(cal["rtcp_base_only"], LEGS, "memory: one base-only report per leg (inbound only: no SEND reports)")
    c.eq((cal["labels"]["requested"], cal["labels"]["received"], cal["labels"]["timeout"], cal["labels"]["failed"]),
         (LEGS, LEGS, 0, 0), "memory: labels asked, received, timed out, failed")
    rs = inst["resync"]
    c.eq((rs["lists"], rs["channels"], rs["dumps"], rs["dumps_ok"]), (1, LEGS, LEGS, LEGS),
         "memory: one channel list of 8, 8 uuid_dumps answered")


def redis(c):
    r = Redis()
    try:
        got = run(c, "redis", storage_yaml(r))
        if not got:
            return
        fb, lost = got
        c.eq(len(lost), LEGS, "redis: inbound packets_lost from every leg")
        c.eq([v for v in lost.values() if not FINAL_LOST <= v <= FINAL_LOST + 3], [],
             "redis: summed inbound packets_lost outside [%d, %d]" % (FINAL_LOST, FINAL_LOST + 3))
        cal, inst = fb["calc"], fb["instances"]["fs1"]
        c.eq(cal["redis"]["load_hits"], LEGS, "redis: B loaded the legs A left in Redis")
        c.eq(cal["labels"]["requested"], 0, "redis: no label asked for (Redis had them)")
        c.eq(inst["resync"]["dumps"], 0, "redis: no uuid_dump sent")
        c.eq(inst["resync"]["lists"], 1, "redis: the channel list still asked for once")
    finally:
        r.stop()


def fs_restart(c):
    rx = X.Receiver()
    port = free_ports(1)
    sim = start_fssim(port, "--calls", 4, "--total-calls", 4, "--call-duration", 600, "--rtcp-interval-ms", 1000,
                      "--heartbeat", 1, "--seed", 21)
    otel = ("opentelemetry: {endpoint: \"127.0.0.1:%d\", insecure: true, batch_interval_ms: 100, timeout_ms: 5000}\n"
            % rx.port)
    a = start_agent(agent_config([port], otel=otel))
    c.check(wait_for(lambda: ((last_stats(a, "stats") or {}).get("calc", {}).get("legs_active", 0) == LEGS),
                     30 * SLOW), "fs restart: the agent holds the 8 legs")
    sim.kill()
    time.sleep(6)  # FreeSWITCH down for more than calc's 5 s margin: the old legs' last events predate the list
    sim2 = start_fssim(port, "--calls", 3, "--total-calls", 3, "--call-duration", 600, "--rtcp-interval-ms", 1000,
                       "--heartbeat", 1, "--seed", 22)
    c.check(wait_for(lambda: (last_stats(a, "stats") or {}).get("calc", {}).get("legs_gone", 0) >= LEGS, 30 * SLOW),
            "fs restart: the 8 old legs retired after the reconnect")
    time.sleep(1)
    st = last_stats(a, "stats") or {}
    c.eq(st.get("calc", {}).get("legs_active"), 6, "fs restart: the new calls' 6 legs active")
    c.eq(a.stop(), 0, "fs restart: agent exit code")
    final = last_stats(a)
    sim2.stop()
    reqs = rx.ok_requests()
    rx.stop()
    c.eq(final["calc"]["legs_gone"] if final else None, LEGS, "fs restart: legs_gone")
    series = {}  # a cumulative sum per attribute set (domain, ...): its last value counts
    for _, m in X.metrics(reqs):
        if m["name"] == "freeswitch.legs.ended":
            for dp in X.points(m)[1]:
                at = X.attrs(dp["attributes"])
                if at.get("hangup_cause") == "NOT_LISTED":
                    series[tuple(sorted(at.items()))] = X.value(dp)
    c.eq(sum(series.values()), LEGS, "fs restart: legs.ended{hangup_cause=NOT_LISTED} at the receiver")


def fs_restart_redis(c):
    """Agent A (Redis) stops cleanly with 8 legs stored; FreeSWITCH restarts with 3 other calls; agent B's
    channel list does not name the 8 old legs, which B never held: its sweep deletes them from Redis."""
    r = Redis()
    try:
        port = free_ports(1)
        sim = start_fssim(port, "--calls", 4, "--total-calls", 4, "--call-duration", 600, "--rtcp-interval-ms",
                          1000, "--heartbeat", 1, "--seed", 31)
        cfg = agent_config([port], extra=storage_yaml(r))
        a = start_agent(cfg)
        c.check(wait_for(lambda: ((last_stats(a, "stats") or {}).get("calc", {}).get("legs_active", 0) == LEGS),
                         30 * SLOW), "fs restart, redis: agent A holds the 8 legs")
        time.sleep(1.5)
        c.eq(a.stop(), 0, "fs restart, redis: agent A stopped cleanly")
        old = {f.rsplit(":", 1)[0] for f in (r.hkeys("fsagent:leg:v2:fs1") or []) if f != "_v"}
        c.eq(len(old), LEGS, "fs restart, redis: A left the 8 legs in Redis")
        sim.kill()
        sim2 = start_fssim(port, "--calls", 3, "--total-calls", 3, "--call-duration", 600, "--rtcp-interval-ms",
                           1000, "--heartbeat", 1, "--seed", 32)
        b = start_agent(cfg)

        def swept():
            return ((last_stats(b, "stats") or {}).get("calc", {}).get("redis", {}).get("swept", 0))
        c.check(wait_for(lambda: swept() >= LEGS, 30 * SLOW), "fs restart, redis: B swept the 8 old legs (%d)"
                % swept())
        time.sleep(1.5)
        left = {f.rsplit(":", 1)[0] for f in (r.hkeys("fsagent:leg:v2:fs1") or []) if f != "_v"}
        c.eq(sorted(old & left), [], "fs restart, redis: no field of an old leg left")
        c.eq(len(left), 6, "fs restart, redis: the new calls' 6 legs are stored")
        c.eq(b.stop(), 0, "fs restart, redis: agent B exit code")
        final = last_stats(b)
        c.eq(final["calc"]["redis"]["swept"] if final else None, LEGS, "fs restart, redis: swept exactly 8")
        sim2.stop()
    finally:
        r.stop()


def main():
    c = Checks()
    X.ensure_deps()
    memory(c)
    redis(c)
    fs_restart(c)
    fs_restart_redis(c)
    c.finish()


if __name__ == "__main__":
    main()
