"""One fsagent, many FreeSWITCH instances (fssim processes), each with one fault.
Every fault must give its own log line naming the instance and the cause, its
counter, and a reconnect; the healthy instance's data must arrive complete; the
process must stay up and exit 0 on SIGTERM.

Faults: connection refused, wrong password, ACL rejection, disconnect mid-frame,
garbage, oversized frame, stall past the watchdog, and a server restart."""
import os

from fsatest import (FIXTURES, Checks, agent_config, free_ports, instance_stats, last_stats, log_lines,
                     start_agent, start_fssim, wait_for)

SECRET = "Sup3rSecretPw"
CALLS = ["--calls", "2", "--call-duration", "30", "--rtcp-interval-ms", "50", "--fire-rtcp"]
# name -> (fssim args or None for "nothing listens", expected fault counter, words in the log line)
CASES = {
    "refused": (None, "connect_refused", "connection refused"),
    "badpw": (["--fault", "wrong-password"], "auth_failed", "wrong ESL password"),
    "acl": (["--fault", "reject"], "acl_rejected", "rejected by ESL ACL"),
    "midframe": (CALLS + ["--fault", "disconnect-mid-frame", "--fault-after", "5"], "closed_mid_frame",
                 "middle of a frame"),
    "garbage": (CALLS + ["--fault", "garbage", "--fault-after", "5"], "protocol_error", "malformed ESL frame"),
    "oversize": (CALLS + ["--fault", "oversized", "--fault-after", "5", "--oversize-bytes", "2097152"],
                 "frame_too_large", "larger than engine.max_frame_bytes"),
    "stall": (CALLS + ["--fault", "stall", "--fault-after", "5"], "watchdog", "watchdog"),
}


def main():
    c = Checks()
    names = ["healthy", "restart"] + list(CASES)
    base = free_ports(len(names))
    ports = {n: base + i for i, n in enumerate(names)}
    sims = {}
    sims["healthy"] = start_fssim(ports["healthy"], "--replay", os.path.join(FIXTURES, "fs-plain-all.raw"),
                                  "--heartbeat", "1", "--password", SECRET)
    sims["restart"] = start_fssim(ports["restart"], "--heartbeat", "1", "--password", SECRET)
    for n, (args, _, _) in CASES.items():
        if args is not None:
            sims[n] = start_fssim(ports[n], "--heartbeat", "1", "--password", SECRET, *args)

    cfg = agent_config([ports[n] for n in names], names=names, password=SECRET,
                       engine="  heartbeat_s: 1\n  max_frame_bytes: 65536\n  connect_timeout_ms: 2000\n")
    agent = start_agent(cfg)

    def fault_count(name, fault):
        s = instance_stats(agent, name)
        return s["faults"].get(fault, 0) if s else 0

    # Every fault shows up at least twice: it was survived and retried.
    for n, (_, fault, _) in CASES.items():
        ok = wait_for(lambda: fault_count(n, fault) >= 2, 20)
        c.check(ok, "%s: fault %s counted twice (got %s)" % (n, fault, instance_stats(agent, n)))
        c.check(agent.alive(), "%s: agent still running" % n)

    # Restart: kill the server, bring it back on the same port, expect a second session.
    wait_for(lambda: (instance_stats(agent, "restart") or {}).get("connects", 0) >= 1, 10)
    sims["restart"].kill()
    wait_for(lambda: fault_count("restart", "server_closed") >= 1, 10)
    c.check(fault_count("restart", "server_closed") >= 1, "restart: server_closed counted")
    sims["restart"] = start_fssim(ports["restart"], "--heartbeat", "1", "--password", SECRET)
    ok = wait_for(lambda: (instance_stats(agent, "restart") or {}).get("connects", 0) >= 2, 15)
    c.check(ok, "restart: reconnected and resubscribed (%s)" % instance_stats(agent, "restart"))
    hb_before = (instance_stats(agent, "restart") or {}).get("heartbeats", 0)
    ok = wait_for(lambda: (instance_stats(agent, "restart") or {}).get("heartbeats", 0) > hb_before, 10)
    c.check(ok, "restart: heartbeats flow again after resubscribe")

    healthy_done = wait_for(lambda: (instance_stats(agent, "healthy") or {}).get("published", {})
                            .get("RECV_RTCP_MESSAGE", 0) >= 249, 20)
    c.check(healthy_done, "healthy instance streamed the whole capture")

    rc = agent.stop()
    for p in sims.values():
        p.stop()
    c.eq(rc, 0, "fsagent exit code after SIGTERM")
    final = last_stats(agent)
    c.check(final is not None, "final counters present")
    if final:
        h = final["instances"]["healthy"]
        for kind, want in {"CHANNEL_CREATE": 52, "CHANNEL_ANSWER": 50, "CHANNEL_BRIDGE": 13,
                           "CHANNEL_HANGUP_COMPLETE": 52, "RECV_RTCP_MESSAGE": 249,
                           "SEND_RTCP_MESSAGE": 88}.items():
            c.eq(h["processed"][kind], want, "healthy: processed " + kind)
        c.eq(h["connects"], 1, "healthy: one session, never disturbed")
        c.eq(h["faults"], {}, "healthy: no faults")

    # One log line per fault, naming the instance and the cause; secrets never.
    logs = log_lines(agent)
    for n, (_, fault, words) in CASES.items():
        lines = [r for r in logs if r.get("instance") == n and r.get("level") == "warn" and words in r.get("msg", "")]
        c.check(len(lines) >= 1, "%s: a warn line naming the instance and '%s'" % (n, words))
    c.check(SECRET not in agent.stderr(), "password never appears in the logs")
    if c.failed:
        agent.dump()
    c.finish()


if __name__ == "__main__":
    main()
