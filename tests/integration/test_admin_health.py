"""/health and /ready through FreeSWITCH connections going away and coming back.

Two fssim processes, one instance each (fs1, fs2), so each can be stopped and
started again on its own port. Steps and what the contract says they show:
  both up        /health 200 healthy, both connected with a recent last_event; /ready 200
  fs2 down       /health 200 degraded, fs2 connected false with a last_error; /ready 200 (1 up)
  both down      /health 200 degraded, no connection; /ready 503
  both up again  /health 200 healthy; /ready 200 (2 up)"""
import datetime
import time

from admintest import admin_config, answers, get_json, report
from fsatest import SLOW, Checks, free_ports, start_agent, start_fssim, wait_for

SIM_ARGS = ("--heartbeat", "1", "--calls", "2", "--call-duration", "600", "--rtcp-interval-ms", "500")


def sim(port):
    return start_fssim(port, *SIM_ARGS)


def state(port):
    try:
        hs, _, health = get_json(port, "/health")
        rs, _, ready = get_json(port, "/ready")
    except (OSError, ValueError):
        return None
    return hs, health, rs, ready


def connected(st, name):
    return st is not None and st[1]["connections"][name]["connected"]


def parse_rfc3339(s):
    # "2026-11-26T02:09:25.089Z": RFC 3339, UTC
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def main():
    c = Checks()
    base = free_ports(3)
    p1, p2, http_port = base, base + 1, base + 2
    sims = {"fs1": sim(p1), "fs2": sim(p2)}
    agent = start_agent(admin_config([p1, p2], http_port))
    try:
        c.check(wait_for(lambda: answers(http_port), 15), "admin server answers")

        # Both up: healthy.
        st = wait_for(lambda: (lambda s: s if s and s[1]["status"] == "healthy" else None)(state(http_port)), 20)
        c.check(st is not None, "both up: healthy")
        if st:
            hs, health, rs, ready = st
            c.eq(hs, 200, "both up: /health code")
            c.eq(sorted(health), ["connections", "status"], "health keys")
            c.eq(sorted(health["connections"]), ["fs1", "fs2"], "health names the instances")
            for name in ("fs1", "fs2"):
                conn = health["connections"][name]
                c.eq(conn["connected"], True, name + " connected")
                c.check("last_error" not in conn, name + ": no last_error while connected")
                c.check("last_event" in conn, name + ": last_event")
                if "last_event" in conn:
                    age = (datetime.datetime.now(datetime.timezone.utc) - parse_rfc3339(conn["last_event"]))
                    # fssim sends a heartbeat every second
                    c.check(-1 <= age.total_seconds() < 10 * SLOW, name + ": last_event is recent (%s)" % age)
            c.eq((rs, ready), (200, {"ready": True, "connected": 2, "instances": 2}), "both up: /ready")

        # fs2 down: degraded, still ready.
        sims["fs2"].stop()
        st = wait_for(lambda: (lambda s: s if s and not connected(s, "fs2") else None)(state(http_port)), 20)
        c.check(st is not None, "fs2 down seen")
        if st:
            hs, health, rs, ready = st
            c.eq((hs, health["status"]), (200, "degraded"), "fs2 down: /health")
            c.eq(health["connections"]["fs1"]["connected"], True, "fs2 down: fs1 still connected")
            fs2 = health["connections"]["fs2"]
            c.check(fs2.get("last_error") in ("server closed the connection", "connection refused"),
                    "fs2 down: last_error says why (%r)" % fs2.get("last_error"))
            c.check("last_event" in fs2, "fs2 down: its last event is still shown")
            c.eq((rs, ready), (200, {"ready": True, "connected": 1, "instances": 2}), "fs2 down: /ready")
        # The reconnect attempts find nobody listening.
        st = wait_for(lambda: (lambda s: s if s and s[1]["connections"]["fs2"].get("last_error") ==
                               "connection refused" else None)(state(http_port)), 10)
        c.check(st is not None, "fs2 down: last_error becomes connection refused")

        # Both down: not ready.
        sims["fs1"].stop()
        st = wait_for(lambda: (lambda s: s if s and s[2] == 503 else None)(state(http_port)), 20)
        c.check(st is not None, "both down: /ready 503")
        if st:
            hs, health, rs, ready = st
            c.eq((hs, health["status"]), (200, "degraded"), "both down: /health")
            c.eq([health["connections"][n]["connected"] for n in ("fs1", "fs2")], [False, False],
                 "both down: nothing connected")
            c.eq(ready, {"ready": False, "connected": 0, "instances": 2}, "both down: /ready body")

        # Both back on the same ports: healthy again.
        sims = {"fs1": sim(p1), "fs2": sim(p2)}
        st = wait_for(lambda: (lambda s: s if s and s[1]["status"] == "healthy" else None)(state(http_port)), 20)
        c.check(st is not None, "both back: healthy")
        if st:
            hs, health, rs, ready = st
            c.eq(hs, 200, "both back: /health code")
            for name in ("fs1", "fs2"):
                c.check("last_error" not in health["connections"][name], name + ": last_error cleared")
            c.eq((rs, ready), (200, {"ready": True, "connected": 2, "instances": 2}), "both back: /ready")
    finally:
        t0 = time.time()
        rc = agent.stop()
        stop_s = time.time() - t0
        for p in sims.values():
            p.stop()
    c.check(stop_s < 15 * SLOW, "stopped promptly (%.1f s)" % stop_s)
    report(c, agent, rc)


if __name__ == "__main__":
    main()
