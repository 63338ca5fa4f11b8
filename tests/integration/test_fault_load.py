"""Faults under load, with every event and point accounted for.

1. Collector down for 30 s while three FreeSWITCH instances carry calls (RTCP every second,
   SEND reports on): the agent stays up, memory stays bounded, nothing is dropped (the queue
   holds the outage), and once the receiver is up everything arrives: one QoS point per leg
   of every call fssim completed, and the receiver's point count equals the exporter's.
2. SIGTERM in the middle of a flood: exit 0 within the flush deadline, and the books balance:
   per instance, events received = heartbeats + decode errors + ring drops + published + other
   (BACKGROUND_JOB: the resync's answers);
   published = processed by the workers; the exporter's encoded points = exported + dropped
   (by cause).

fssim's own summary (events it sent, calls it completed) is the independent count."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402
from fsatest import (FIXTURES, SLOW, Checks, agent_config, free_ports, last_stats, start_agent, stop_fssims,  # noqa: E402
                     start_fssim, wait_for)

KINDS = ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "RECV_RTCP_MESSAGE",
         "SEND_RTCP_MESSAGE")
RSS_BOUND_KIB = 300 * 1024  # agent with 3 instances and a 64 MiB export queue; sanitizers double it


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def books_balance(c, label, final):
    for name, s in final["instances"].items():
        # Events FreeSWITCH fires, not the resync's own notes (CHANNEL_LIVE, LIST_END, LABELS_FAILED, dumps' CHANNEL_DATA).
        fired = ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "RECV_RTCP_MESSAGE",
                 "SEND_RTCP_MESSAGE")
        pub = sum(s["published"][k] for k in fired)
        c.eq(s["events_received"], s["heartbeats"] + s["decode_errors"] + s["dropped_ring_full"] + pub + s["events_other"],
             "%s: %s received = heartbeats + decode errors + ring drops + published + other" % (label, name))
        c.eq(s["processed"], s["published"], "%s: %s processed = published, per kind" % (label, name))
    ex = final["export"]
    c.eq(ex["points_encoded"], ex["points_exported"] + sum(ex["points_dropped"].values()) + ex["points_rejected"],
         "%s: encoded = exported + dropped + rejected" % label)
    calc = final["calc"]
    c.eq(ex["records"], calc["records"], "%s: the exporter took every record the workers published" % label)


def collector_outage(c):
    rx_port = free_ports(1)
    ports = [free_ports(1) for _ in range(3)]
    sims = [start_fssim(p, "--calls", 40, "--cps", 10, "--call-duration", 12, "--duration-jitter", 0.5,
                        "--total-calls", 80, "--rtcp-interval-ms", 1000, "--fire-rtcp", "--loss-pct", 1,
                        "--heartbeat", 1, "--seed", i + 7) for i, p in enumerate(ports)]
    otel = ("opentelemetry: {endpoint: \"127.0.0.1:%d\", insecure: true, batch_interval_ms: 200, timeout_ms: 20000}\n"
            % rx_port)
    agent = start_agent(agent_config(ports, otel=otel))
    t0 = time.time()
    peak = 0
    alive = True
    while time.time() - t0 < 30:
        peak = max(peak, rss_kib(agent.p.pid))
        alive = alive and agent.alive()
        time.sleep(0.5)
    c.check(alive, "outage: agent alive through 30 s without a collector")
    rx = X.Receiver(port=rx_port)

    def calls_done():
        # Only when to stop waiting; what is asserted below comes from fssim's own summary.
        st = last_stats(agent, "stats")
        return st and all(st["instances"]["fs%d" % (i + 1)]["published"]["CHANNEL_HANGUP_COMPLETE"] >= 160
                          for i in range(3))
    c.check(wait_for(calls_done, 120 * SLOW, step=0.5), "outage: 80 calls x 2 legs per instance hung up")
    time.sleep(3)  # last hangups through the pipeline and one batch interval
    peak = max(peak, rss_kib(agent.p.pid))
    rc = agent.stop()
    final = last_stats(agent)
    sums = stop_fssims(sims)
    reqs = rx.ok_requests()
    rx.stop()
    c.eq(rc, 0, "outage: exit code")
    c.check(peak < RSS_BOUND_KIB * (2 if SLOW > 1 else 1), "outage: peak RSS %d KiB under the bound" % peak)
    if not c.check(final is not None and all(sums), "outage: final counters and fssim summaries"):
        agent.dump()
        return
    books_balance(c, "outage", final)
    ex = final["export"]
    c.eq(sum(ex["points_dropped"].values()), 0, "outage: no point dropped (the queue held the outage)")
    c.check(ex["connect_failures"] >= 1, "outage: failed connects counted (%d)" % ex["connect_failures"])
    c.eq(X.count_points(reqs), ex["points_exported"], "outage: receiver points = exported points")
    for i, summ in enumerate(sums):
        inst = summ["instances"][0]
        name = "fs%d" % (i + 1)
        got = final["instances"][name]
        for k in KINDS:
            c.eq(got["published"].get(k, 0), inst["events_sent"].get(k, 0), "outage: %s %s all arrived" % (name, k))
    # One QoS point per leg of every completed call (2 legs a call; synthetic legs all have media).
    legs = sum(s["instances"][0]["calls_completed"] for s in sums) * 2
    qos = set()
    for _, m in X.metrics(reqs):
        if m["name"] == "freeswitch.qos.mos_score":
            for dp in X.points(m)[1]:
                qos.add(X.attrs(dp["attributes"])["channel_id"])
    c.eq(len(qos), legs, "outage: a QoS point for every leg of every completed call")
    if c.failed:
        agent.dump()


def sigterm_under_flood(c):
    ports = [free_ports(1) for _ in range(2)]
    sims = [start_fssim(p, "--flood", 3000000, "--heartbeat", 0) for p in ports]
    rx = X.Receiver()
    otel = ("opentelemetry: {endpoint: \"127.0.0.1:%d\", insecure: true, batch_interval_ms: 200, timeout_ms: 2000}\n"
            % rx.port)
    agent = start_agent(agent_config(ports, otel=otel))
    wait_for(lambda: (last_stats(agent, "stats") or {}).get("events_processed", 0) > 100000, 20 * SLOW)
    t = time.time()
    rc = agent.stop()
    took = time.time() - t
    final = last_stats(agent)
    for s in sims:
        s.stop()
    rx.stop()
    c.eq(rc, 0, "flood: exit code after SIGTERM")
    c.check(took < 2 + 5 * SLOW, "flood: stopped in %.1f s (flush deadline 2 s)" % took)
    if not c.check(final is not None, "flood: final counters"):
        agent.dump()
        return
    books_balance(c, "flood", final)
    c.check(final["events_processed"] > 100000, "flood: events processed before the stop (%d)" %
            final["events_processed"])
    if c.failed:
        agent.dump()


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_without_collector(c):
    """SIGTERM with data queued and no collector: the exporter waits out its 3 s flush deadline
    asleep (it once spun on poll(0) for the whole deadline: 3 s of CPU)."""
    port = free_ports(1)
    sim = start_fssim(port, "--replay", os.path.join(FIXTURES, "fs-plain-all.raw"), "--heartbeat", 0)
    otel = "opentelemetry: {endpoint: \"127.0.0.1:1\", insecure: true, timeout_ms: 3000}\n"
    agent = start_agent(agent_config([port], otel=otel))
    wait_for(lambda: ((last_stats(agent, "stats") or {}).get("events_processed", 0) >= 504), 20 * SLOW)
    c0, used = cpu_s(agent.p.pid), 0.0
    agent.p.send_signal(signal.SIGTERM)
    while agent.p.poll() is None:
        try:
            used = cpu_s(agent.p.pid) - c0
        except OSError:
            break
        time.sleep(0.05)
    sim.stop()
    c.eq(agent.p.returncode, 0, "no collector: exit code")
    c.check(used < 1.0, "no collector: %.2f s of CPU while waiting out the 3 s flush deadline" % used)
    final = last_stats(agent)
    if c.check(final is not None, "no collector: final counters"):
        ex = final["export"]
        c.eq(ex["points_dropped"]["shutdown"], ex["points_encoded"], "no collector: every point counted as a shutdown drop")


def main():
    c = Checks()
    X.ensure_deps()
    collector_outage(c)
    sigterm_under_flood(c)
    stop_without_collector(c)
    c.finish()


if __name__ == "__main__":
    main()
