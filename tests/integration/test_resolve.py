#!/usr/bin/env python3
"""Host names are looked up off the reactor thread, so a DNS server that never answers cannot
stall the other FreeSWITCH connections.

The agent runs in a mount namespace of its own (unshare -m) whose /etc/resolv.conf names a DNS
server on 127.0.0.77:53 that receives the queries and never answers. One reactor serves three
instances: fs1 at 127.0.0.1 (numeric: no lookup), fs2 at a name only DNS could resolve (the
lookup hangs), fs3 at "localhost" (/etc/hosts: resolved at once, without DNS). fssim sends a
HEARTBEAT every second. Over 5 s:

  - fs1 and fs3 connect and stream, and fs1's heartbeats keep arriving, one per second;
  - fs2 fails with resolve_failed ("lookup timed out" after engine.connect_timeout_ms, 1 s), and
    its lookups did reach the black-hole DNS server (so the test did exercise a hanging lookup).
With the lookup made on the reactor thread (glibc waits 5 s per try) fs1 would get no heartbeat
while fs2's lookup hangs.

The Redis store's host is the hanging name too (storage.redis.timeout_ms 300): the store stays
down ("cannot resolve ... lookup timed out"), and the workers keep handling fs1's calls (RTCP every
200 ms): with the lookup inside hiredis, each connect attempt would hold a worker for 10 s.
"""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsatest import (FSAGENT, SLOW, Checks, Proc, agent_config, free_ports, instance_stats, log_lines,  # noqa: E402
                     start_fssim, wait_for, write_config)

DNS_ADDR = ("127.0.0.77", 53)
HANGING_NAME = "fsagent-resolve-test.invalid"


class BlackHoleDns:
    """Counts the UDP queries it receives and answers none."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(DNS_ADDR)
        self.sock.settimeout(0.2)
        self.queries = 0
        self.names = set()
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while self.running:
            try:
                data, _ = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            self.names.add(data[12:].split(b"\0", 1)[0])

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def main():
    c = Checks()
    dns = BlackHoleDns()
    tmp = os.environ.get("TMPDIR", "/tmp")
    resolv = os.path.join(tmp, "resolv.conf.fsa-test")
    with open(resolv, "w") as f:
        f.write("nameserver %s\noptions timeout:5 attempts:2\n" % DNS_ADDR[0])
    ports = [free_ports(1) for _ in range(3)]
    sims = [start_fssim(p, "--heartbeat", 1, *(("--calls", 2, "--rtcp-interval-ms", 200) if p == ports[0] else ()))
            for p in ports]
    storage = "storage: {type: redis, redis: {host: %s, port: 6379, timeout_ms: 300}}\n" % HANGING_NAME
    cfg = agent_config(ports, engine="  connect_timeout_ms: 1000\n  reactor_threads: 1\n", extra=storage)
    cfg = cfg.replace("host: 127.0.0.1, port: %d" % ports[1], "host: %s, port: %d" % (HANGING_NAME, ports[1]))
    cfg = cfg.replace("host: 127.0.0.1, port: %d" % ports[2], "host: localhost, port: %d" % ports[2])
    path = write_config(cfg)
    agent = Proc(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$1" --config "$2"',
                  resolv, FSAGENT, path], name="fsagent")
    try:
        c.check(wait_for(lambda: (instance_stats(agent, "fs1") or {}).get("state") == "streaming", 10 * SLOW),
                "fs1 (numeric host) streams")
        t0 = time.time()
        hb0 = (instance_stats(agent, "fs1") or {}).get("heartbeats", 0)
        rtcp0 = (instance_stats(agent, "fs1") or {}).get("processed", {}).get("RECV_RTCP_MESSAGE", 0)
        time.sleep(5)
        s1, s2, s3 = (instance_stats(agent, n) or {} for n in ("fs1", "fs2", "fs3"))
        elapsed = time.time() - t0
        hb = s1.get("heartbeats", 0) - hb0
        c.check(hb >= int(elapsed) - 2, "fs1's heartbeats kept coming while fs2's lookup hung: %d in %.1f s"
                % (hb, elapsed))
        c.eq(s3.get("state"), "streaming", "fs3 (localhost, from /etc/hosts) streams")
        c.check(s2.get("state") != "streaming", "fs2 (the hanging name) does not stream")
        c.check(s2.get("faults", {}).get("resolve_failed", 0) >= 1,
                "fs2: resolve_failed counted (%r)" % s2.get("faults"))
        # 2 calls = 4 legs, a RECV report per leg every 200 ms: about 20 per second.
        rtcp = s1.get("processed", {}).get("RECV_RTCP_MESSAGE", 0) - rtcp0
        c.check(rtcp >= 15 * (int(elapsed) - 1), "the workers kept handling fs1's reports while the Redis host's "
                "lookup hung: %d in %.1f s" % (rtcp, elapsed))
    finally:
        agent.stop()
        for s in sims:
            s.stop()
        dns.stop()
    msgs = [l.get("msg", "") for l in log_lines(agent)]
    c.check(any("lookup timed out" in m for m in msgs), "the log says the lookup timed out")
    c.check(any("cannot resolve %s: lookup timed out" % HANGING_NAME in m for m in msgs),
            "the Redis store says its host's lookup timed out")
    c.check(dns.queries >= 1 and any(HANGING_NAME.split(".")[0].encode() in n for n in dns.names),
            "the lookup reached the black-hole DNS server (%d queries)" % dns.queries)
    c.finish()


if __name__ == "__main__":
    main()
