"""The admin server's /metrics against a replay of the real capture, and its HTTP
behaviour: promtool accepts the exposition; counter values equal the capture's
exact counts; 404, 405, HEAD; the connection cap; a port in use stops the start.

Expected numbers (fixture README, as in test_ingest.py): fs-plain-all.raw holds
CHANNEL_CREATE 52, CHANNEL_ANSWER 50, CHANNEL_BRIDGE 13, CHANNEL_HANGUP_COMPLETE 52,
RECV_RTCP_MESSAGE 249, SEND_RTCP_MESSAGE 88 and 17 HEARTBEAT: 504 events the
calculators process + 17 heartbeats = 521 frames received; RTCP messages
249 + 88 = 337; 52 legs created and ended; 50 of the 52 hangups carry media
statistics, so 50 QoS (the calculators' capture test verifies which two do not)."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from admintest import admin_config, answers, parse_prom, report, request, sample
from fsatest import (FIXTURES, FSAGENT, SLOW, Checks, free_ports, log_lines, start_agent, start_fssim,
                     wait_for)

FULL = {"CHANNEL_CREATE": 52, "CHANNEL_ANSWER": 50, "CHANNEL_BRIDGE": 13, "CHANNEL_HANGUP_COMPLETE": 52,
        "RECV_RTCP_MESSAGE": 249, "SEND_RTCP_MESSAGE": 88}
HEARTBEATS = 17
MAX_CONNS = 64  # engine/admin.h FSA_ADMIN_MAX_CONNS


def metrics(port):
    status, headers, body = request(port, "/metrics")
    return status, headers, body, parse_prom(body)


def check_promtool(c, text):
    promtool = shutil.which("promtool")
    c.check(promtool is not None, "promtool installed (Debian package prometheus, scripts/deps.sh --test)")
    if not promtool:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".prom", delete=False) as f:
        f.write(text)
    with open(f.name) as stdin:
        p = subprocess.run([promtool, "check", "metrics"], stdin=stdin, capture_output=True, text=True, timeout=60)
    c.eq(p.returncode, 0, "promtool check metrics exit code")
    # promtool prints lint findings (missing HELP, counters without _total, ...) even when it exits 0.
    c.eq((p.stdout + p.stderr).strip(), "", "promtool findings")


def check_counts(c, s):
    def eq(name, want, **labels):
        c.eq(sample(s, name, **labels), want, "%s%s" % (name, labels or ""))
    for kind, n in FULL.items():
        eq("fsagent_events_processed_total", n, fs_instance="fs1", event=kind)
    eq("fsagent_events_received_total", sum(FULL.values()) + HEARTBEATS, fs_instance="fs1")  # 504 + 17 = 521
    eq("fsagent_heartbeats_received_total", HEARTBEATS, fs_instance="fs1")
    eq("fsagent_rtcp_messages_processed_total", 249 + 88)
    eq("fsagent_qos_messages_generated_total", 50)
    eq("fsagent_legs_created_total", 52)
    eq("fsagent_legs_ended_total", 52)
    eq("fsagent_legs_expired_total", 0)
    eq("fsagent_legs_learnt_total", 0)  # every leg of the capture starts with CHANNEL_CREATE
    eq("fsagent_rtcp_loss_base_only_total", 0)
    eq("fsagent_legs_active", 0)
    eq("fsagent_records_published_total", 50, kind="qos")
    eq("fsagent_records_published_total", 52, kind="leg_up")
    eq("fsagent_records_published_total", 52, kind="leg_down")
    eq("fsagent_fs_connections", 1, fs_instance="fs1")
    eq("fsagent_fs_connects_total", 1, fs_instance="fs1")
    eq("fsagent_fs_reconnects_total", 0, fs_instance="fs1")
    eq("fsagent_events_dropped_total", 0, fs_instance="fs1", cause="ring_full")
    eq("fsagent_events_dropped_total", 0, fs_instance="fs1", cause="decode_error")
    eq("fsagent_ring_occupancy", 0)
    eq("fsagent_storage_operations_total", 0, operation="save")  # memory storage persists nothing
    version = subprocess.run([FSAGENT, "--version"], capture_output=True, text=True).stdout.split()[-1]
    eq("fsagent_build_info", 1, version=version)
    for name in ("fsagent_export_batches_sent_total", "fsagent_export_points_exported_total",
                 "fsagent_export_queue_bytes", "fsagent_export_connected"):
        c.check(sample(s, name) is not None, name + " present")
    c.eq(sample(s, "fsagent_export_connected"), 0, "no collector listening: export not connected")
    check_age_histograms(c, s)


def check_age_histograms(c, s):
    """Both latency histograms count every RTCP and QoS point the exporter took in (the points are
    queued even with no collector), with cumulative buckets at the documented bounds."""
    points = (sample(s, "fsagent_records_published_total", kind="rtcp") or 0) + 50
    c.check(points > 50, "RTCP records were published")
    bounds = ["0.000250", "0.000500", "0.000750", "0.001000", "0.001500", "0.002000", "0.003000", "0.005000",
              "0.007500", "0.010000", "0.025000", "0.050000", "0.100000", "0.250000", "1.000000", "5.000000", "+Inf"]
    for name in ("fsagent_export_event_age_seconds", "fsagent_export_pipeline_age_seconds"):
        c.eq(sample(s, name + "_count"), points, name + "_count: every RTCP and QoS point")
        counts = [sample(s, name + "_bucket", le=b) for b in bounds]
        c.eq(counts[-1], points, name + " +Inf bucket")
        c.check(all(v is not None for v in counts) and counts == sorted(counts), name + " buckets cumulative")
        c.check((sample(s, name + "_sum") or 0) > 0, name + "_sum positive")
    # Reading the replay and encoding it takes well under 5 s even under a sanitizer.
    c.eq(sample(s, "fsagent_export_pipeline_age_seconds_bucket", le="5.000000"), points,
         "pipeline age: every point under 5 s")


def check_http(c, port):
    st, hd, body = request(port, "/nope")
    c.eq(st, 404, "unknown path: 404")
    st, hd, body = request(port, "/metrics", method="POST")
    c.eq(st, 405, "POST /metrics: 405")
    c.eq(hd.get("allow"), "GET, HEAD", "405 names the allowed methods")
    st, hd, body = request(port, "/health", method="DELETE")
    c.eq(st, 405, "DELETE /health: 405")
    st, hd, body = request(port, "/metrics", method="HEAD")
    c.eq((st, body), (200, ""), "HEAD /metrics: 200 without a body")
    st, hd, body = request(port, "/metrics?x=1")
    c.eq(st, 200, "a query string does not change the route")


def check_connection_cap(c, port):
    """MAX_CONNS idle connections fill the server; one more is answered only once some close."""
    idle = []
    for _ in range(MAX_CONNS):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        idle.append(s)
    time.sleep(0.5 * SLOW)  # let the server accept them all
    blocked = False
    try:
        request(port, "/ready", timeout=1.5)
    except OSError:  # socket.timeout: the kernel queued it, the server did not take it
        blocked = True
    c.check(blocked, "request beyond %d open connections waits" % MAX_CONNS)
    for s in idle[:8]:
        s.close()
    ok = wait_for(lambda: answers(port), 10)
    c.check(ok, "answered again once connections closed")
    for s in idle[8:]:
        s.close()


def main():
    c = Checks()
    fs_port = free_ports(2)
    http_port = fs_port + 1
    sim = start_fssim(fs_port, "--replay", os.path.join(FIXTURES, "fs-plain-all.raw"), "--heartbeat", "0")
    # No resync: the exact counts of a replayed capture (its own 12 BACKGROUND_JOBs are not subscribed then).
    agent = start_agent(admin_config([fs_port], http_port, engine="  resync_rate: 0\n"))
    try:
        c.check(wait_for(lambda: answers(http_port), 15), "admin server answers")

        def replayed():
            try:
                s = metrics(http_port)[3]
            except (OSError, ValueError):
                return False
            done = sum(sample(s, "fsagent_events_processed_total", fs_instance="fs1", event=k) or 0 for k in FULL)
            # ... and the exporter thread has taken in every RTCP and QoS record the calculators published
            published = sum(sample(s, "fsagent_records_published_total", kind=k) or 0 for k in ("rtcp", "qos"))
            exported = sample(s, "fsagent_export_event_age_seconds_count") or 0
            return (done >= sum(FULL.values()) and (sample(s, "fsagent_legs_ended_total") or 0) >= 52
                    and published >= 50 and exported >= published)
        c.check(wait_for(replayed, 30), "replay processed")
        status, headers, text, s = metrics(http_port)
        c.eq(status, 200, "/metrics status")
        c.eq(headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8", "/metrics content type")
        check_promtool(c, text)
        check_counts(c, s)
        check_http(c, http_port)
        check_connection_cap(c, http_port)

        # Another agent on the same admin port: one line saying so, exit 1, at start.
        other = start_agent(admin_config([fs_port], http_port))
        try:
            rc = other.p.wait(timeout=20 * SLOW)
        except subprocess.TimeoutExpired:
            rc = other.stop()
        c.eq(rc, 1, "admin port in use: exit code")
        errs = [r for r in log_lines(other) if r.get("level") == "error"]
        c.eq(len(errs), 1, "admin port in use: one error line")
        c.check(bool(errs) and ("127.0.0.1:%d" % http_port) in errs[0].get("msg", "")
                and "Address already in use" in errs[0].get("msg", ""), "the line names the address and the cause")
    finally:
        rc = agent.stop()
        sim.stop()
    report(c, agent, rc)


if __name__ == "__main__":
    main()
