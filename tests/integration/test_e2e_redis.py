"""storage: redis, end to end, against a real redis-server on a free loopback port.

1. The capture replay of test_e2e_replay.py with the Redis store: every hand-verified value
   and count exactly as in memory mode; the store's books (every write and delete the workers
   handed over answered ok, none failed) and no leg left in Redis at the end (every leg hung up).
   The replay runs faster than the write rounds (one per second), so most legs end before
   they are ever written: write-behind never writes a short call at all.
2. Restart mid-call: fssim runs 2 calls of exactly 20 s, RTCP every second at 5 % loss, so leg
   report k carries cumulative Lost = floor(k x 1000/20 x 5/100) = floor(2.5 k) (docs/fssim.md)
   and the last (k = 20) says 50. Agent A exports the first seconds and is stopped; agent B,
   started on the same Redis, carries the legs on. Summed over both agents, the packets_lost
   deltas of each leg's inbound reports must come to exactly 50: B continues from A's stored
   cumulative value. (Memory mode has no base after a restart: there the first report only sets it.)
   A's clean stop wrote the 4 live legs whole (labels, bases, jitter: 3 fields each, plus the
   hash's format version _v = 2) into the instance hash fsagent:leg:v2:fs1."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402
import test_e2e_replay as E  # noqa: E402
from fsatest import (SLOW, Checks, Proc, agent_config, free_ports, last_stats, start_agent, start_fssim,  # noqa: E402
                     wait_for)


class Redis:
    def __init__(self):
        self.port = free_ports(1)
        self.proc = Proc(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no"], name="redis")
        if not wait_for(lambda: self.cmd("PING") == "+PONG", 10):
            self.proc.dump()
            raise RuntimeError("redis-server did not start")

    def cmd(self, *args):
        """One command, the first reply line (enough for PING / DBSIZE)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())
                return s.recv(4096).decode().split("\r\n")[0]
        except OSError:
            return None

    def hkeys(self, key):
        """HKEYS key: the field names (a whole RESP array of bulk strings), or None."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(("*2\r\n$5\r\nHKEYS\r\n$%d\r\n%s\r\n" % (len(key), key)).encode())
                data = b""
                while True:
                    parts = data.split(b"\r\n")
                    if parts and parts[0].startswith(b"*") and len(parts) >= 2 * int(parts[0][1:]) + 2:
                        n = int(parts[0][1:])
                        return [parts[2 + 2 * i].decode(errors="replace") for i in range(n)]
                    chunk = s.recv(65536)
                    if not chunk:
                        return None
                    data += chunk
        except (OSError, ValueError):
            return None

    def stop(self):
        self.proc.stop()


def storage_yaml(r):
    return "storage: {type: redis, redis: {host: 127.0.0.1, port: %d, timeout_ms: 500}}\n" % r.port


def replay(c, r):
    agent = E.run(c, "redis", storage_yaml=storage_yaml(r))
    final = last_stats(agent) if agent else None
    if not c.check(final is not None and "redis" in final["calc"], "redis replay: store counters in the log"):
        return
    rs = final["calc"]["redis"]
    st = final["calc"]["store"]
    c.eq(rs["ops"]["delete"], {"ok": st["deletes"], "error": 0, "dropped": 0},
         "redis replay: every delete handed over answered ok")
    c.eq(rs["ops"]["save"], {"ok": st["saves"], "error": 0, "dropped": 0},
         "redis replay: every leg write handed over answered ok")
    c.check(st["saves"] < 452, "redis replay: fewer leg writes (%d) than events that change a leg (452)" % st["saves"])
    c.eq(st["errors"], 0, "redis replay: no store error")
    c.eq(rs["connect_failures"], 0, "redis replay: no failed connect")
    c.check(r.cmd("HLEN", "fsagent:leg:v2:fs1") in (":0", ":1"),
            "redis replay: no leg left in the instance hash (HLEN %s)" % r.cmd("HLEN", "fsagent:leg:v2:fs1"))


def restart(c, r):
    rx = X.Receiver()
    port = free_ports(1)
    sim = start_fssim(port, "--calls", 2, "--total-calls", 2, "--call-duration", 20, "--rtcp-interval-ms", 1000,
                      "--loss-pct", 5, "--heartbeat", 1)
    otel = ("opentelemetry: {endpoint: \"127.0.0.1:%d\", insecure: true, batch_interval_ms: 100, timeout_ms: 5000}\n"
            % rx.port)
    cfg = agent_config([port], otel=otel, extra=storage_yaml(r))
    a = start_agent(cfg)
    wait_for(lambda: ((last_stats(a, "stats") or {}).get("instances", {}).get("fs1", {}).get("processed", {})
                      .get("RECV_RTCP_MESSAGE", 0) >= 4 * 5), 30 * SLOW)
    c.eq(a.stop(), 0, "restart: agent A stopped cleanly mid-call")
    fa = last_stats(a)
    c.eq(r.cmd("HLEN", "fsagent:leg:v2:fs1"), ":13", "restart: the 4 live legs are in Redis, 3 parts each, and _v")
    c.eq(r.cmd("HGET", "fsagent:leg:v2:fs1", "_v"), "$1", "restart: the format version is there")
    time.sleep(1.5)  # reports in this gap reach nobody, as when an agent is really down
    b = start_agent(cfg)
    c.check(wait_for(lambda: ((last_stats(b, "stats") or {}).get("instances", {}).get("fs1", {})
                              .get("processed", {}).get("CHANNEL_HANGUP_COMPLETE", 0) >= 4), 60 * SLOW),
            "restart: agent B saw the 4 hangups")
    time.sleep(0.5)
    c.eq(b.stop(), 0, "restart: agent B exit code")
    fb = last_stats(b)
    sim.stop()
    reqs = rx.ok_requests()
    rx.stop()
    if not c.check(fa is not None and fb is not None, "restart: both agents' final counters"):
        a.dump()
        b.dump()
        return
    c.eq(fb["calc"]["redis"]["load_hits"], 4, "restart: B loaded the 4 legs A left in Redis")
    lost = {}
    reports = {}
    for _, m in X.metrics(reqs):
        if m["name"] != "freeswitch.rtcp.packets_lost":
            continue
        for dp in X.points(m)[1]:
            at = X.attrs(dp["attributes"])
            if at["direction"] == "inbound":
                lost[at["channel_id"]] = lost.get(at["channel_id"], 0) + X.value(dp)
                reports[at["channel_id"]] = reports.get(at["channel_id"], 0) + 1
    c.eq(len(lost), 4, "restart: inbound RTCP from 4 legs")
    c.eq(sorted(lost.values()), [50, 50, 50, 50],
         "restart: each leg's deltas over both agents sum to its last cumulative Lost, floor(2.5 x 20) = 50")
    c.check(all(n < 20 for n in reports.values()), "restart: some reports fell in the gap (%r)" % reports)
    c.eq(r.cmd("HLEN", "fsagent:leg:v2:fs1"), ":1", "restart: after the hangups only _v is left")


def main():
    c = Checks()
    X.ensure_deps()
    r = Redis()
    try:
        replay(c, r)
        restart(c, r)
    finally:
        r.stop()
    c.finish()


if __name__ == "__main__":
    main()
