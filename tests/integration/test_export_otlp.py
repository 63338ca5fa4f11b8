"""Exporter against a real gRPC server (grpc-js with the official OTLP protos):
every per-leg point with its exact value, timestamp, unit, type and attributes;
the resource; the bounded aggregates; batch sizes; configured headers; gzip;
delta temporality; metrics.per_leg: false."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402

c = X.Checks()
X.ensure_deps()

UNITS, TYPES = X.UNITS, X.TYPES
INT_METRICS = {"freeswitch.rtcp.packets_lost", "freeswitch.qos.total_packets", "freeswitch.qos.packet_loss",
               "freeswitch.qos.total_bytes", "freeswitch.calls.active", "freeswitch.legs.ended"}
AGG = set(TYPES)
LEGS, REPORTS = 12, 3

# ---- 1. h2c, cumulative, per-leg on, a configured header ----
rx = X.Receiver()
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, "--legs", LEGS, "--reports", REPORTS, "--lanes", 3,
                                "--interval-ms", 100, "--agg-interval-ms", 600000, "--agent-id", "agent-test-1",
                                "--header", "x-api-key=s3cret-value-123", "--header", "x-tenant=acme")
c.check(final is not None, "driver finished")
reqs = rx.ok_requests()
lines = rx.lines()
c.eq(len(lines), len(reqs), "every request answered OK")
c.check(len(reqs) >= 1, "requests arrived")

for req in reqs:
    rms = req["resource_metrics"]
    c.eq(len(rms), 1, "one ResourceMetrics")
    res = X.attrs(rms[0]["resource"]["attributes"])
    c.eq(res, {"service.name": "fsagent", "service.version": "0.1.0", "service.instance.id": "agent-test-1",
               "host.name": X.hostname()}, "resource attributes")
    c.eq(len(rms[0]["scope_metrics"]), 1, "one ScopeMetrics")
    c.eq(rms[0]["scope_metrics"][0]["scope"], {"name": "fsagent", "version": "0.1.0"}, "scope")
for l in lines:
    md = l["metadata"]
    c.eq(md.get("x-api-key"), "s3cret-value-123", "configured header sent")
    c.eq(md.get("x-tenant"), "acme", "second configured header sent")
    c.check(md.get("user-agent", "").startswith("fsagent/0.1.0"), "user-agent: %r" % md.get("user-agent"))
c.check("s3cret-value-123" not in err, "header value never logged")

# Per-leg: each expected point exactly once, exact value, unit, type and attributes.
exp = X.expected_leg_points(LEGS, REPORTS)
got = {}
dups = 0
for _, m in X.metrics(reqs):
    name = m["name"]
    c.eq(m.get("unit"), UNITS.get(name), "unit of %s" % name)
    c.check(m.get("description"), "description of %s" % name)
    if name == "freeswitch.leg.mos":  # one model, said where the metric is described (contract)
        c.check("E-model" in m["description"] and "mos_emodel" in m["description"],
                "leg.mos description names its model: %r" % m["description"])
    kind, dps = X.points(m)
    c.eq(kind, TYPES.get(name, "gauge"), "type of %s" % name)
    if name in AGG:
        continue
    for dp in dps:
        a = X.attrs(dp["attributes"])
        key = (name, a.get("channel_id"), dp["time_unix_nano"])
        if key in got:
            dups += 1
        got[key] = (X.value(dp), a, "as_int" in dp, dp.get("start_time_unix_nano"))
c.eq(dups, 0, "no per-leg point twice")
c.eq(set(got), set(exp), "the per-leg points are exactly the expected ones")
bad = []
for key, (v, a) in exp.items():
    g = got.get(key)
    if not g:
        continue
    if g[0] != v or g[1] != a or g[2] != (key[0] in INT_METRICS) or g[3] not in (None, "0"):
        bad.append((key, g, (v, a)))
c.eq(bad[:3], [], "per-leg values, attributes, int/double, no start time")
c.eq(len(exp), info["expected_leg_points"], "the driver agrees on the count")

# Aggregates: one final snapshot (the interval is long), cumulative, exact.
active, ended, hist = X.expected_aggregates(LEGS, REPORTS)
agg = [m for _, m in X.metrics(reqs) if m["name"] in AGG]
by_name = {}
for m in agg:
    by_name.setdefault(m["name"], []).extend(X.points(m)[1])
ga = {}
for dp in by_name.get("freeswitch.calls.active", []):
    a = X.attrs(dp["attributes"])
    c.eq(set(a), {"fs_instance", "domain_name"}, "calls.active attributes")
    ga[(a["fs_instance"], a["domain_name"])] = int(dp["as_int"])
c.eq(ga, active, "calls.active per instance and domain")
ge = {}
starts = set()
for m in agg:
    if m["name"] == "freeswitch.legs.ended":
        c.eq(m["sum"].get("aggregation_temporality"), "AGGREGATION_TEMPORALITY_CUMULATIVE", "legs.ended cumulative")
        c.eq(m["sum"].get("is_monotonic"), True, "legs.ended monotonic")
    if m["name"] in ("freeswitch.leg.mos", "freeswitch.leg.jitter", "freeswitch.rtcp.loss_fraction",
                     "freeswitch.leg.media_gap"):
        c.eq(m["histogram"].get("aggregation_temporality"), "AGGREGATION_TEMPORALITY_CUMULATIVE",
             "%s cumulative" % m["name"])
for dp in by_name.get("freeswitch.legs.ended", []):
    a = X.attrs(dp["attributes"])
    ge[(a["fs_instance"], a["domain_name"], a["hangup_cause"])] = int(dp["as_int"])
    starts.add(dp["start_time_unix_nano"])
    c.check(int(dp["start_time_unix_nano"]) < int(dp["time_unix_nano"]), "start before time")
c.eq(ge, ended, "legs.ended per instance, domain and cause")
bounds = {"freeswitch.leg.mos": X.MOS_BOUNDS, "freeswitch.leg.jitter": X.JITTER_BOUNDS,
          "freeswitch.rtcp.loss_fraction": X.LOSS_BOUNDS, "freeswitch.leg.media_gap": X.GAP_BOUNDS}
for name, series in hist.items():
    gh = {}
    for dp in by_name.get(name, []):
        a = X.attrs(dp["attributes"])
        gh[(a["fs_instance"], a["domain_name"], a["codec_name"], a["direction"])] = dp
        starts.add(dp["start_time_unix_nano"])
    c.eq(set(gh), set(series), "%s series" % name)
    for k, vals in series.items():
        dp = gh.get(k)
        if not dp:
            continue
        want_b = [0] * (len(bounds[name]) + 1)
        for v in vals:
            want_b[X.bucket(bounds[name], v)] += 1
        c.eq([float(b) for b in dp["explicit_bounds"]], [float(b) for b in bounds[name]], "%s bounds" % name)
        c.eq([int(b) for b in dp["bucket_counts"]], want_b, "%s buckets %s" % (name, k))
        c.eq(int(dp["count"]), len(vals), "%s count" % name)
        c.check(abs(dp["sum"] - sum(vals)) < 1e-9, "%s sum" % name)
        c.eq((dp["min"], dp["max"]), (min(vals), max(vals)), "%s min/max" % name)
c.eq(len(starts), 1, "one fixed start time for cumulative series")

total = X.count_points(reqs)
c.eq(final["points_exported"], total, "points_exported = points the receiver got")
c.eq(final["points_encoded"], total, "nothing lost")
c.eq(final["records"], {"rtcp": LEGS * REPORTS, "qos": 9, "leg_up": LEGS, "leg_down": 9}, "records per kind")
c.eq(final["batches_failed"], {}, "no failures")
c.eq(final["batches_sent"], final["batches_ok"], "every call OK")
c.eq(final["batches_ok"], len(reqs), "one call per request")
c.eq(final["queue_bytes"], 0, "queue empty at the end")
c.eq(final["connects"], 1, "one connection")
plain_bytes = final["bytes_sent"]
rx.stop()

# ---- 2. Small batches: the size limit holds, nothing is split or lost ----
rx = X.Receiver()
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, "--legs", LEGS, "--reports", REPORTS,
                                "--batch-points", 11, "--interval-ms", 100000, "--agg-interval-ms", 600000)
reqs = rx.ok_requests()
sizes = [X.count_points([r]) for r in reqs]
leg_sizes = [sum(len(X.points(m)[1]) for _, m in X.metrics([r]) if m["name"] not in AGG) for r in reqs]
# 11: a QoS record's most points (11 metrics, all finite for i = 2, 8, ...), never split over requests.
c.check(all(s <= 11 for s in leg_sizes), "per-leg points per request <= 11: %r" % leg_sizes)
c.check(all(s <= 11 for s in sizes), "points per request <= 11: %r" % sizes)
c.check(len(reqs) >= (info["expected_leg_points"] + 10) // 11, "enough requests: %d" % len(reqs))
got = set()
for _, m in X.metrics(reqs):
    if m["name"] in AGG:
        continue
    for dp in X.points(m)[1]:
        got.add((m["name"], X.attrs(dp["attributes"])["channel_id"], dp["time_unix_nano"]))
c.eq(got, set(X.expected_leg_points(LEGS, REPORTS)), "all per-leg points, split over requests")
c.eq(final["points_exported"], sum(sizes), "points_exported")
rx.stop()

# ---- 3. gzip, delta temporality, per-leg off ----
rx = X.Receiver()
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, "--legs", LEGS, "--reports", REPORTS, "--gzip",
                                "--delta", "--no-per-leg", "--interval-ms", 100, "--agg-interval-ms", 600000)
reqs = rx.ok_requests()
names = {m["name"] for _, m in X.metrics(reqs)}
c.eq(names, AGG, "per_leg off: only the bounded aggregates")
for _, m in X.metrics(reqs):
    kind, dps = X.points(m)
    if kind in ("sum", "histogram"):
        c.eq(m[kind].get("aggregation_temporality"), "AGGREGATION_TEMPORALITY_DELTA", "%s delta" % m["name"])
    for dp in dps:
        a = X.attrs(dp["attributes"])
        c.check("channel_id" not in a and "correlation_id" not in a, "no per-call labels in aggregates")
active, ended, hist = X.expected_aggregates(LEGS, REPORTS)
ge = {}
for _, m in X.metrics(reqs):
    if m["name"] == "freeswitch.legs.ended":
        for dp in m["sum"]["data_points"]:
            a = X.attrs(dp["attributes"])
            k = (a["fs_instance"], a["domain_name"], a["hangup_cause"])
            ge[k] = ge.get(k, 0) + int(dp["as_int"])
c.eq(ge, ended, "delta legs.ended adds up to the totals")
c.eq(final["batches_failed"], {}, "gzip'd requests accepted")
c.check(final["points_exported"] == X.count_points(reqs) > 0, "points_exported with gzip")
rx.stop()

# gzip makes the same data smaller on the wire.
rx = X.Receiver()
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, "--legs", LEGS, "--reports", REPORTS, "--lanes", 3,
                                "--interval-ms", 100, "--agg-interval-ms", 600000, "--agent-id", "agent-test-1",
                                "--header", "x-api-key=s3cret-value-123", "--header", "x-tenant=acme", "--gzip")
c.eq(final["points_exported"], X.count_points(rx.ok_requests()), "gzip run delivered")
c.check(final["bytes_sent"] * 3 < plain_bytes, "gzip: %d bytes vs %d plain" % (final["bytes_sent"], plain_bytes))
rx.stop()

c.finish()
