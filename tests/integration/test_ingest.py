"""fsagent against fssim replaying the real capture: handshake, narrow subscription,
exact per-kind counts through reactors, lanes and workers, clean SIGTERM.

Expected numbers come from the fixture README (event counts of fs-plain-all.raw):
CHANNEL_CREATE 52, CHANNEL_ANSWER 50, CHANNEL_BRIDGE 13, CHANNEL_HANGUP_COMPLETE 52,
RECV_RTCP_MESSAGE 249, SEND_RTCP_MESSAGE 88, HEARTBEAT 17. fssim filters by the
subscription, so what arrives proves what fsagent subscribed to."""
import os

from fsatest import (FIXTURES, Checks, agent_config, free_ports, instance_stats, last_stats, start_agent,
                     start_fssim, wait_for)

FULL = {"CHANNEL_CREATE": 52, "CHANNEL_ANSWER": 50, "CHANNEL_BRIDGE": 13, "CHANNEL_HANGUP_COMPLETE": 52,
        "RECV_RTCP_MESSAGE": 249, "SEND_RTCP_MESSAGE": 88}
HEARTBEATS = 17


def run_case(c, label, events_yaml, expect):
    port = free_ports(1)
    sim = start_fssim(port, "--replay", os.path.join(FIXTURES, "fs-plain-all.raw"), "--heartbeat", "0")
    # No resync: the exact counts of a replayed capture (its own 12 BACKGROUND_JOBs are not subscribed then).
    agent = start_agent(agent_config([port], extra=events_yaml, engine="  resync_rate: 0\n"))
    want_received = sum(expect.values()) + HEARTBEATS

    def done():
        s = instance_stats(agent, "fs1")
        return s and s["events_received"] >= want_received and sum(s["processed"].values()) >= sum(expect.values())
    wait_for(done, 20)
    rc = agent.stop()
    sim.stop()
    c.eq(rc, 0, label + ": fsagent exit code after SIGTERM")
    final = last_stats(agent)
    c.check(final is not None, label + ": final counters line")
    if final is None:
        agent.dump()
        return
    s = final["instances"]["fs1"]
    c.eq(s["events_received"], want_received, label + ": events received")
    c.eq(s["heartbeats"], HEARTBEATS, label + ": heartbeats")
    c.eq(s["dropped_ring_full"], 0, label + ": ring drops")
    c.eq(s["decode_errors"], 0, label + ": decode errors")
    c.eq(s["connects"], 1, label + ": sessions")
    for kind in FULL:
        c.eq(s["published"][kind], expect.get(kind, 0), "%s: published %s" % (label, kind))
        c.eq(s["processed"][kind], expect.get(kind, 0), "%s: processed %s" % (label, kind))
    c.eq(final["events_processed"], sum(expect.values()), label + ": total processed")
    logs = agent.stderr()
    c.check("ClueCon" not in logs, label + ": password never logged")
    if c.failed:
        agent.dump()


def main():
    c = Checks()
    run_case(c, "all events", "", FULL)
    no_rtcp = {k: v for k, v in FULL.items() if "RTCP" not in k}
    run_case(c, "events.rtcp=false", "events: {rtcp: false, qos: true}\n", no_rtcp)
    no_qos = {k: v for k, v in FULL.items() if k != "CHANNEL_HANGUP_COMPLETE"}
    run_case(c, "events.qos=false", "events: {rtcp: true, qos: false}\n", no_qos)
    c.finish()


if __name__ == "__main__":
    main()
