#!/usr/bin/env python3
"""storage: redis through Redis Sentinel, and a failover under load.

A real master and replica (redis-server) and one Sentinel (redis-server --sentinel) on free
loopback ports; the agent is given only the Sentinel's address and the master's name. fssim runs
calls with RTCP every second, so every worker writes to Redis all the time.

  1. The agent finds the master through the Sentinel: the 40 legs appear on the master (the
     instance hash fsagent:leg:v2:fs1 holds a labels field per leg, and the format version).
  2. SENTINEL FAILOVER: the replica becomes master and the old master a replica, which answers
     the agent's writes with READONLY. Each worker's connection goes down, asks the Sentinel again,
     follows the failover (fsagent_storage_redis_failovers_total, one per worker connection), and
     writes to the new master: a leg's jitter accumulators (checkpointed every second here) keep
     changing there, the store is up at the end.
  3. Nothing of the agent's own work is lost meanwhile: every event processed, no record dropped.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsatest import (SLOW, Checks, Proc, agent_config, free_ports, last_stats, start_agent, start_fssim,  # noqa: E402
                     wait_for)


def cmd(port, *args):
    """One command; the decoded reply (enough for status, integers, bulk strings and flat arrays)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.endswith(b"\r\n") and (not data.startswith(b"*") or data.count(b"\r\n") >= 1 + 2 * int(
                        data[1:data.index(b"\r\n")] or 0)):
                    break
    except OSError:
        return None
    text = data.decode(errors="replace")
    if text.startswith("$"):
        lines = text.split("\r\n")
        return lines[1] if not text.startswith("$-1") and len(lines) > 1 else None
    if text.startswith("*"):
        lines = text.split("\r\n")
        return [lines[i] for i in range(2, len(lines), 2) if i < len(lines)]
    return text.split("\r\n")[0]


def redis_server(port, *extra):
    p = Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
              "--dir", os.environ.get("TMPDIR", "/tmp")] + list(extra), name="redis-%d" % port)
    if not wait_for(lambda: cmd(port, "PING") == "+PONG", 10):
        p.dump()
        raise RuntimeError("redis-server on %d did not start" % port)
    return p


HASH = "fsagent:leg:v2:fs1"


def dbsize(port):
    r = cmd(port, "DBSIZE")
    return int(r[1:]) if r and r.startswith(":") else -1


def hlen(port):
    r = cmd(port, "HLEN", HASH)
    return int(r[1:]) if r and r.startswith(":") else -1


def master_port(sport):
    r = cmd(sport, "SENTINEL", "get-master-addr-by-name", "mymaster")
    return int(r[1]) if isinstance(r, list) and len(r) == 2 else None


def main():
    c = Checks()
    pm, pr, ps, fs = free_ports(1), free_ports(1), free_ports(1), free_ports(1)
    master = redis_server(pm)
    replica = redis_server(pr, "--replicaof", "127.0.0.1", str(pm))
    conf = os.path.join(os.environ.get("TMPDIR", "/tmp"), "sentinel-%d.conf" % ps)
    with open(conf, "w") as f:
        f.write("port %d\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 %d 1\n"
                "sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\n" % (ps, pm))
    sentinel = Proc(["redis-server", conf, "--sentinel"], name="sentinel")
    sim = agent = None
    try:
        c.check(wait_for(lambda: master_port(ps) == pm, 15), "the Sentinel knows the master")
        c.check(wait_for(lambda: "connected_slaves:1" in (rawinfo(pm) or ""), 15), "the replica is attached")
        sim = start_fssim(fs, "--calls", 20, "--cps", 20, "--call-duration", 600, "--rtcp-interval-ms", 1000,
                          "--heartbeat", 1)
        storage = ("storage: {type: redis, redis: {host: 127.0.0.1, port: 1, timeout_ms: 500, checkpoint_interval_s: 1, "
                   "sentinel: {master_name: mymaster, addresses: [\"127.0.0.1:%d\"]}}}\n" % ps)
        agent = start_agent(agent_config([fs], extra=storage))
        c.check(wait_for(lambda: hlen(pm) >= 1 + 40, 30 * SLOW), "the legs on the master named by the Sentinel (%d)"
                % hlen(pm))
        before = hlen(pr)
        r = cmd(ps, "SENTINEL", "FAILOVER", "mymaster")
        c.eq(r, "+OK", "SENTINEL FAILOVER accepted")
        c.check(wait_for(lambda: master_port(ps) == pr, 30), "the Sentinel names the old replica as master")

        def followed():
            st = last_stats(agent, "stats") or {}
            rs = st.get("calc", {}).get("redis", {})
            return rs.get("failovers", 0) >= 1 and rs.get("state") == "up"
        c.check(wait_for(followed, 30 * SLOW), "the agent followed the failover and is up")
        # The legs keep changing on the new master: a report a second per leg moves its jitter part.
        fields = [f for f in (cmd(pr, "HKEYS", HASH) or []) if f.endswith(":j")]
        key = fields[0] if fields else ""
        j0 = cmd(pr, "HGET", HASH, key) if key else None
        time.sleep(3)
        j1 = cmd(pr, "HGET", HASH, key) if key else None
        c.check(hlen(pr) >= before and j0 is not None and j1 is not None and j0 != j1,
                "the agent writes to the new master (%s: %r -> %r)" % (key, j0, j1))
        c.check("role:master" in (rawinfo(pr) or ""), "the new master's role is master")
        c.check("role:slave" in (rawinfo(pm) or ""), "the old master is a replica now")
    finally:
        rc = agent.stop() if agent else None
        final = last_stats(agent) if agent else None
        if sim:
            sim.stop()
        for p in (sentinel, replica, master):
            p.stop()
    c.eq(rc, 0, "agent exit code")
    if c.check(final is not None, "final counters"):
        rs = final["calc"]["redis"]
        c.check(rs["failovers"] >= 1, "failovers counted (%d)" % rs["failovers"])
        c.check(rs["connects"] >= 2, "connected again after the failover (%d)" % rs["connects"])
        c.eq(final["calc"]["records_dropped"], {"rtcp": 0, "qos": 0, "leg_up": 0, "leg_down": 0}, "records dropped")
        inst = final["instances"]["fs1"]
        c.eq(inst["dropped_ring_full"], 0, "events dropped at full lanes")
    c.finish()


def rawinfo(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n")
            time.sleep(0.1)
            return s.recv(65536).decode(errors="replace")
    except OSError:
        return None


if __name__ == "__main__":
    main()
