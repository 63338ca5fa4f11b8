#!/usr/bin/env python3
"""storage: redis over TLS, with a Redis 6 ACL user, against a real redis-server.

The test makes its own CA, a server certificate for the name redis.test and the address
127.0.0.1, and a client certificate (openssl req/x509), and starts redis-server with TLS only
(port 0, tls-port on a free loopback port), client certificates required, the default user off
and one ACL user `fsa` with a password. fssim runs 6 calls of 30 s with RTCP every second.

  1. Verified TLS with a client certificate, server_name redis.test, user fsa: the agent's store
     is up, the 12 legs arrive in the instance hash fsagent:leg:v2:fs1 (read back here over TLS
     with Python's ssl module as the same user), and neither password appears in the log.
  2. The same agent configuration but server_name other.test (not in the certificate): the TLS
     handshake fails with a log line naming the certificate check, the store stays down and is
     counted (connect failures), and the agent keeps working from memory: every event processed.
  3. A configuration with tls.cert_file but no key_file is refused at start (--check-config),
     naming the key.
"""
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsatest import (FSAGENT, SLOW, Checks, Proc, agent_config, free_ports, last_stats, start_agent,  # noqa: E402
                     start_fssim, wait_for, write_config)

PASSWORD = "tls-Secret-9f3"
FSA_PASSWORD = "ClueCon"
HASH = "fsagent:leg:v2:fs1"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_certs(d):
    """CA, server (redis.test + 127.0.0.1), client; PEM files in d."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=fsagent test CA",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:redis.test,IP:127.0.0.1\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=redis.test", "-keyout", "server.key",
            "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "server.ext", "-out", "server.crt", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=fsagent", "-keyout", "client.key",
            "-out", "client.csr", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", "client.crt", cwd=d)


class TlsRedis:
    def __init__(self, d):
        self.d = d
        self.port = free_ports(1)
        self.proc = Proc(["redis-server", "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
                          "--tls-cert-file", os.path.join(d, "server.crt"),
                          "--tls-key-file", os.path.join(d, "server.key"),
                          "--tls-ca-cert-file", os.path.join(d, "ca.crt"), "--tls-auth-clients", "yes",
                          "--save", "", "--appendonly", "no", "--dir", d,
                          "--user", "default", "off",
                          "--user", "fsa", "on", ">" + PASSWORD, "~*", "&*", "+@all"], name="redis-tls")
        if not wait_for(lambda: self.cmd("PING") == "+PONG", 10):
            self.proc.dump()
            raise RuntimeError("redis-server with TLS did not start")

    def cmd(self, *args):
        """One command over TLS as user fsa; the first reply line (a bulk string: its payload)."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.d, "ca.crt"))
        ctx.load_cert_chain(os.path.join(self.d, "client.crt"), os.path.join(self.d, "client.key"))
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as raw:
                with ctx.wrap_socket(raw, server_hostname="redis.test") as s:
                    out = b""
                    for a in (("AUTH", "fsa", PASSWORD), args):
                        s.sendall(("*%d\r\n" % len(a) + "".join("$%d\r\n%s\r\n" % (len(x), x) for x in a)).encode())
                        out = s.recv(65536)
                    lines = out.decode(errors="replace").split("\r\n")
                    return lines[1] if lines[0].startswith("$") and not lines[0].startswith("$-1") else lines[0]
        except (OSError, ssl.SSLError):
            return None

    def hlen(self, key):
        v = self.cmd("HLEN", key)
        return int(v[1:]) if v and v.startswith(":") else -1

    def stop(self):
        self.proc.stop()


def storage(r, d, server_name):
    return ("storage: {type: redis, redis: {host: 127.0.0.1, port: %d, timeout_ms: 500, username: fsa, "
            "password: \"%s\", tls: {enabled: true, ca_file: \"%s\", cert_file: \"%s\", key_file: \"%s\", "
            "server_name: %s}}}\n" % (r.port, PASSWORD, os.path.join(d, "ca.crt"), os.path.join(d, "client.crt"),
                                      os.path.join(d, "client.key"), server_name))


def redis_of(agent):
    return ((last_stats(agent, "stats") or {}).get("calc") or {}).get("redis") or {}


def main():
    c = Checks()
    d = os.environ.get("TMPDIR", "/tmp")
    d = os.path.join(d, "redis-tls-%d" % os.getpid())
    os.makedirs(d, exist_ok=True)
    make_certs(d)
    r = TlsRedis(d)
    fs = free_ports(1)
    sim = start_fssim(fs, "--calls", 6, "--total-calls", 6, "--call-duration", 30, "--rtcp-interval-ms", 1000,
                      "--heartbeat", 1)
    agent = None
    try:
        # 1. verified TLS, client certificate, ACL user
        agent = start_agent(agent_config([fs], password=FSA_PASSWORD, extra=storage(r, d, "redis.test")))
        c.check(wait_for(lambda: redis_of(agent).get("state") == "up", 15 * SLOW), "store up over TLS")
        c.check(wait_for(lambda: r.hlen(HASH) >= 1 + 12 * 2, 15 * SLOW),
                "the 12 legs' labels and bases in %s over TLS (HLEN %d)" % (HASH, r.hlen(HASH)))
        c.eq(r.cmd("HGET", HASH, "_v"), "2", "format version _v")
        c.eq(agent.stop(), 0, "agent exit code")
        final = last_stats(agent)
        log = agent.stdout() + agent.stderr()
        c.check(PASSWORD not in log and FSA_PASSWORD not in log, "no password in the log")
        if c.check(final is not None, "final counters"):
            rs = final["calc"]["redis"]
            c.eq(rs["connect_failures"], 0, "no failed connect")
            c.eq(rs["ops"]["save"]["error"], 0, "no save failed")
            c.check(rs["ops"]["save"]["ok"] >= 12, "every leg written (%d)" % rs["ops"]["save"]["ok"])

        # 2. a name the certificate does not carry: refused by the certificate check, the agent goes on
        agent = start_agent(agent_config([fs], password=FSA_PASSWORD, extra=storage(r, d, "other.test")))
        c.check(wait_for(lambda: redis_of(agent).get("connect_failures", 0) >= 1, 15 * SLOW),
                "TLS refused for server_name other.test")
        time.sleep(1.5)
        c.eq(agent.stop(), 0, "agent exit code (TLS refused)")
        final = last_stats(agent)
        lines = [ln for ln in agent.stderr().splitlines() if "TLS handshake" in ln]
        c.check(lines and "certificate" in lines[0], "one log line names the certificate check: %r" % lines[:1])
        if c.check(final is not None, "final counters (TLS refused)"):
            rs = final["calc"]["redis"]
            c.check(rs["state"] != "up", "store not up (%s)" % rs["state"])
            inst = final["instances"]["fs1"]
            c.eq(inst["processed"], inst["published"], "every event processed without Redis")
            c.check(final["calc"]["rtcp_processed"] > 0, "RTCP handled from memory")
    finally:
        if agent and agent.alive():
            agent.stop()
        sim.stop()
        r.stop()

    # 3. half a client certificate is refused at start
    cfg = write_config(agent_config([fs], extra="storage: {type: redis, redis: {host: 127.0.0.1, tls: {enabled: true, "
                                                 "cert_file: /nonexistent.crt}}}\n"))
    p = subprocess.run([FSAGENT, "--check-config", "--config", cfg], capture_output=True, text=True)
    c.check(p.returncode != 0 and "storage.redis.tls.key_file" in (p.stdout + p.stderr),
            "cert_file without key_file refused: %r" % (p.stdout + p.stderr)[:200])
    c.finish()


if __name__ == "__main__":
    main()
