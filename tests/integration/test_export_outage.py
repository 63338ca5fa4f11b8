"""The collector goes away and comes back. (1) Down from the start while a
burst larger than the queue arrives: the queue never holds more than its
bound, the oldest batches are the ones dropped (counted), no call is made
while down (so no retry is counted), and once the receiver is up everything
queued and everything after arrives; every point is accounted for. (2) The
receiver restarts between two phases: the exporter reconnects and both
phases arrive in full."""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402
from fsatest import free_ports  # noqa: E402

c = X.Checks()
X.ensure_deps()
AGG = set(X.TYPES)  # the bounded aggregates (exporttest.py keeps the contract's list), no channel_id


def leg_points(reqs):
    out = set()
    for _, m in X.metrics(reqs):
        if m["name"] in AGG:
            continue
        for dp in X.points(m)[1]:
            out.add((m["name"], X.attrs(dp["attributes"])["channel_id"], dp["time_unix_nano"]))
    return out


def channels(points):
    return {p[1] for p in points}


# ---- 1. down, burst, up ----
# Phase 1 (300 legs, ~1.5 MB of points) must overflow it; phase 2 (10 legs, ~60 KB since QoS points carry
# call_direction, hangup_cause, hold_seconds and media_gap_ratio) must fit in it once the collector is back.
QUEUE = 128 * 1024
port = free_ports(1)
tmp = tempfile.mkdtemp(prefix="fsa-outage-")
go = os.path.join(tmp, "go")
samples = os.path.join(tmp, "samples.jsonl")
drv = X.start_driver("127.0.0.1:%d" % port, "--legs", 300, "--reports", 4, "--phase2-legs", 10,
                     "--interval-ms", 20, "--agg-interval-ms", 600000, "--queue-bytes", QUEUE,
                     "--reconnect-initial-ms", 100, "--reconnect-max-ms", 300, "--wait-file", go,
                     "--stats-file", samples, "--stop-deadline-ms", 10000)
# Let it fail to connect a few times with the burst queued.


def last_sample():
    if not os.path.exists(samples):
        return None
    with open(samples) as f:
        lines = f.read().splitlines()
    try:
        return json.loads(lines[-1])["sample"] if lines else None
    except ValueError:  # a line being written
        return json.loads(lines[-2])["sample"] if len(lines) > 1 else None


X.wait_for(lambda: (last_sample() or {}).get("connect_failures", 0) >= 3, 20)
time.sleep(0.3)
rx = X.Receiver(port=port)


def drained():
    s = last_sample()
    return s and s["batches_ok"] > 0 and s["queue_batches"] == 0


# The queued burst goes out once the exporter reconnects (its backoff is <= 300 ms) ...
c.check(X.wait_for(drained, 10), "the queue drains after the outage")
# ... and then more data comes.
open(go, "w").close()
drv.p.wait(timeout=60 * X.SLOW)
final, info = X.driver_result(drv)
c.check(final is not None, "driver finished")
if final is None:
    drv.dump()
    c.finish()

peaks = []
with open(samples) as f:
    for l in f:
        s = json.loads(l)["sample"]
        peaks.append(s["queue_bytes"])
c.check(len(peaks) > 5, "sampled the queue %d times" % len(peaks))
c.check(max(peaks) <= QUEUE, "queue bytes never above the bound: max %d" % max(peaks))
c.check(final["queue_bytes_peak"] <= QUEUE, "peak %d <= %d" % (final["queue_bytes_peak"], QUEUE))
c.check(final["queue_bytes_peak"] > QUEUE // 2, "the queue was actually used: %d" % final["queue_bytes_peak"])
c.check(final["points_dropped"]["queue_full"] > 0, "queue full drops counted: %d" % final["points_dropped"]["queue_full"])
c.check(final["connect_failures"] >= 3, "connection failures counted: %d" % final["connect_failures"])
c.eq(final["batches_failed"], {}, "no call was started while the collector was down")
c.eq(final["batches_retried"], {}, "so no retry is counted")
c.eq(final["batches_sent"], final["batches_ok"], "every call made succeeded")
dropped = sum(final["points_dropped"].values())
c.eq(final["points_encoded"], final["points_exported"] + dropped, "every point exported or counted as dropped")
reqs = rx.ok_requests()
c.eq(X.count_points(reqs), final["points_exported"], "the receiver got exactly the exported points")
got = leg_points(reqs)
phase2 = X.expected_leg_points(10, 4, first=300)
c.eq(len(set(phase2) - got), 0, "everything after the outage arrived")
chans = channels(got)
c.check("chan-0299" in chans or "chan-0298" in chans, "the newest queued batch survived")
c.check("chan-0000" not in chans, "the oldest queued batch was dropped")
c.eq(final["last_error"].startswith("connect 127.0.0.1:%d" % port), True, "last_error: %r" % final["last_error"])
c.eq(final["records"]["rtcp"], 310 * 4, "every record taken off the lanes (none lost upstream)")
if c.failed:
    print(json.dumps(final), file=sys.stderr)
    drv.dump()
rx.stop()

# ---- 2. the receiver restarts between phases ----
port = free_ports(1)
go = os.path.join(tmp, "go2")
rx = X.Receiver(port=port)
drv = X.start_driver("127.0.0.1:%d" % port, "--legs", 20, "--reports", 2, "--phase2-legs", 20,
                     "--interval-ms", 20, "--agg-interval-ms", 600000, "--retry-initial-ms", 50,
                     "--reconnect-initial-ms", 50, "--reconnect-max-ms", 200, "--wait-file", go,
                     "--stop-deadline-ms", 10000)
phase1 = X.expected_leg_points(20, 2)
ok = X.wait_for(lambda: set(phase1) <= leg_points(rx.ok_requests()), 20)
c.check(ok, "phase 1 delivered before the restart")
first = rx
first.stop()
time.sleep(0.2)
rx = X.Receiver(port=port)
open(go, "w").close()
drv.p.wait(timeout=60 * X.SLOW)
final, info = X.driver_result(drv)
c.check(final is not None, "driver finished")
phase2 = X.expected_leg_points(20, 2, first=20)
c.eq(len(set(phase2) - leg_points(rx.ok_requests())), 0, "phase 2 delivered after the restart")
c.eq(final["connects"], 2, "reconnected once")
c.eq(sum(final["points_dropped"].values()), 0, "nothing dropped")
c.eq(final["points_exported"], final["points_encoded"], "everything exported")
c.eq(final["points_exported"], X.count_points(first.ok_requests()) + X.count_points(rx.ok_requests()),
     "receivers got exactly what was exported")
c.eq(final["batches_retried"], final["batches_failed"], "any call caught by the restart was retried")
rx.stop()

c.finish()
