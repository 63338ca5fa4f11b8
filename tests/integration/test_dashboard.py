#!/usr/bin/env python3
"""deploy/grafana/fsagent.json asks only for metrics and labels fsagent really produces.

fssim replays fs-plain-all.raw (real FreeSWITCH 1.11.2 events) to fsagent, which
exports to a real gRPC receiver (grpc-js, official OTLP protos) and serves its own
/metrics. From what arrives:
  - every OTLP metric (name, unit, type, monotonic) becomes the names an
    OpenTelemetry Collector's Prometheus exporter gives it (deploytest.prom_names:
    dots to underscores, ms -> _milliseconds, gauge of unit 1 -> _ratio, monotonic
    sum -> _total, histogram -> _bucket/_sum/_count), and its attributes the labels;
  - the admin server's /metrics gives the fsagent_* names and labels as scraped.
Then every metric name in every PromQL expression and template query of the
dashboard must be one of those, every label it groups or filters by must be on one
of the expression's metrics, and the panels the issue asks for must be there.
Prints "N passed, N failed".
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "receiver"))
import deploytest as D  # noqa: E402
import exporttest as X  # noqa: E402
from admintest import parse_prom, request  # noqa: E402
from fsatest import (FIXTURES, Checks, agent_config, free_ports, instance_stats, start_agent,  # noqa: E402
                     start_fssim, wait_for)

c = Checks()
X.ensure_deps()
CAPTURE = os.path.join(FIXTURES, "fs-plain-all.raw")
# Events fsagent uses in the capture: CREATE 52, ANSWER 50, BRIDGE 13, HANGUP_COMPLETE 52,
# RECV_RTCP 249, SEND_RTCP 88 (grep -c of Event-Name in the capture).
USED_EVENTS = 52 + 50 + 13 + 52 + 249 + 88

# ---- run: fssim replay -> fsagent -> receiver, and a scrape of /metrics ----
rx = X.Receiver()
fs_port, http_port = free_ports(1), free_ports(1)
sim = start_fssim(fs_port, "--replay", CAPTURE, "--heartbeat", "0")
otel = ("opentelemetry:\n  endpoint: \"127.0.0.1:%d\"\n  insecure: true\n  batch_interval_ms: 200\n" % rx.port)
cfg = agent_config([fs_port], otel=otel).replace("http: {port: 0}", "http: {port: %d, bind: 127.0.0.1}" % http_port)
agent = start_agent(cfg)


def processed():
    s = instance_stats(agent, "fs1")
    return s and sum(s["processed"].values()) >= USED_EVENTS


c.check(wait_for(processed, 30), "agent processed the replay's %d events" % USED_EVENTS)
status, _, metrics_text = request(http_port, "/metrics")
c.eq(status, 200, "GET /metrics")
c.eq(agent.stop(), 0, "agent exit code after SIGTERM (flushes the exporter)")
sim.stop()
requests_ = rx.ok_requests()
rx.stop()

available = {}  # Prometheus name -> set of labels
for _, m in X.metrics(requests_):
    kind, dps = X.points(m)
    monotonic = bool(m.get("sum", {}).get("is_monotonic")) if kind == "sum" else False
    labels = set()
    for dp in dps:
        labels |= {re.sub(r"[^A-Za-z0-9_]", "_", kv["key"]) for kv in dp.get("attributes") or []}
    names = D.prom_names(m["name"], m.get("unit", ""), kind, monotonic)
    for i, n in enumerate(names):
        extra = {"le"} if kind == "histogram" and i == 0 else set()
        available.setdefault(n, set()).update(labels | extra | {"job", "instance"})
otlp_names = {m["name"] for _, m in X.metrics(requests_)}
c.eq(otlp_names, {n for n, _, _ in D.otlp_catalogue()}, "the replay brings every metric export/otlp.c defines")
for name, labels in parse_prom(metrics_text):
    available.setdefault(name, set()).update({k for k, _ in labels} | {"job", "instance"})
    for suffix in ("_bucket", "_sum", "_count"):  # a scraped histogram's family name
        if name.endswith(suffix):
            available.setdefault(name[: -len(suffix)], set())
# The mapping itself, on the names the contract and the collector's docs spell out.
for otlp, want in (("freeswitch.rtcp.jitter", "freeswitch_rtcp_jitter_milliseconds"),
                   ("freeswitch.rtcp.mos", "freeswitch_rtcp_mos_ratio"),
                   ("freeswitch.qos.total_bytes", "freeswitch_qos_total_bytes"),
                   ("freeswitch.rtcp.packets_lost", "freeswitch_rtcp_packets_lost"),
                   ("freeswitch.legs.ended", "freeswitch_legs_ended_total"),
                   ("freeswitch.leg.jitter", "freeswitch_leg_jitter_milliseconds_bucket"),
                   ("freeswitch.leg.mos", "freeswitch_leg_mos_bucket"),
                   ("freeswitch.leg.media_gap", "freeswitch_leg_media_gap_bucket"),
                   ("freeswitch.qos.media_gap_ratio", "freeswitch_qos_media_gap_ratio"),
                   ("freeswitch.qos.hold_seconds", "freeswitch_qos_hold_seconds")):
    c.check(want in available, "%s reaches Prometheus as %s" % (otlp, want))

# ---- the dashboard ----
with open(os.path.join(D.SRC, "deploy", "grafana", "fsagent.json")) as f:
    dash = json.load(f)
panels = [p for p in dash["panels"] if p["type"] != "row"]
exprs = []  # (where, expr)
for p in panels:
    c.eq(p.get("datasource"), {"type": "prometheus", "uid": "${datasource}"}, "panel %r datasource" % p["title"])
    c.check(p.get("targets"), "panel %r has queries" % p["title"])
    for t in p.get("targets", []):
        exprs.append((p["title"], t["expr"]))
for v in dash["templating"]["list"]:
    if v["type"] == "query":
        exprs.append(("variable " + v["name"], v["query"]["query"] if isinstance(v["query"], dict) else v["query"]))
c.check(len(exprs) >= 20, "dashboard queries found (%d)" % len(exprs))

PROMQL_WORDS = {"sum", "avg", "min", "max", "count", "by", "without", "rate", "increase", "histogram_quantile",
                "bottomk", "topk", "label_values", "on", "ignoring", "and", "or", "unless", "offset", "bool",
                "max_over_time", "group_left", "group_right"}
used = set()
for where, expr in exprs:
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # drop string literals (label values, regexes)
    e = re.sub(r"\[[^\]]*\]", "", e)  # range selectors
    metrics_here = set(re.findall(r"\b((?:freeswitch|fsagent)_[A-Za-z0-9_:]+)", e))
    c.check(metrics_here, "%s: %r selects fsagent metrics" % (where, expr))
    # Any other identifier followed by { or standing as a selector is a metric we do not know.
    for ident in re.findall(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\s*\{", e):
        c.check(ident in metrics_here, "%s: selector %s is an fsagent metric" % (where, ident))
    labels = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", e):
        labels |= {x.strip() for x in group.split(",") if x.strip()}
    for sel in re.findall(r"\{([^}]*)\}", e):
        labels |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", sel))
    lv = re.search(r"label_values\([^,]+,\s*(\w+)\)", e)
    if lv:
        labels.add(lv.group(1))
    for m in metrics_here:
        used.add(m)
        c.check(m in available, "%s: metric %s exists in what fsagent exports" % (where, m))
    have = set().union(*(available.get(m, set()) for m in metrics_here))
    for lab in labels - PROMQL_WORDS:
        c.check(lab in have, "%s: label %s is on %s" % (where, lab, sorted(metrics_here)))
print("dashboard uses %d metric names, all checked" % len(used), flush=True)

# PromQL syntax: promtool (Debian package prometheus) parses every panel query as a
# recording rule, with Grafana's variables replaced as Grafana would.
promtool = shutil.which("promtool")
c.check(promtool is not None, "promtool installed (Debian package prometheus)")
if promtool:
    rules = os.path.join(tempfile.mkdtemp(prefix="fsa-dash-"), "rules.yml")
    with open(rules, "w") as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, (where, expr) in enumerate(e for e in exprs if not e[0].startswith("variable ")):
            q = expr.replace("$__rate_interval", "1m").replace("$fs_instance", ".*").replace("$domain", ".*")
            f.write("      - record: dashboard:q%d\n        expr: %s\n" % (i, json.dumps(q)))
    r = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True, timeout=60)
    c.check(r.returncode == 0 and "SUCCESS" in r.stdout, "promtool parses every dashboard query: %s" %
            (r.stdout + r.stderr)[-600:])

# The panels the issue asks for, by title.
titles = [p["title"] for p in panels]
for want in (r"MOS by domain", r"MOS by FreeSWITCH instance", r"Worst legs now", r"RTCP jitter", r"RTCP loss",
             r"Active legs", r"Events per second", r"Drops", r"Export failures", r"reconnects",
             r"Media gap of legs ended", r"Worst media gaps", r"Answered vs failed legs by hangup cause",
             r"Hangup causes by domain"):
    c.check(any(re.search(want, t, re.I) for t in titles), "a panel for %r" % want)
# The new quality panels read the series the contract names, by the labels it gives them.
by_title = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in panels}
gap_panels = [t for t in by_title if re.search(r"media gap", t, re.I)]
c.check(any("freeswitch_leg_media_gap_bucket" in by_title[t] for t in gap_panels), "a panel on freeswitch.leg.media_gap")
c.check(any("freeswitch_qos_media_gap_ratio" in by_title[t] and "call_direction" in by_title[t] and
            "hangup_cause" in by_title[t] for t in gap_panels), "a per-leg media gap table with call_direction, hangup_cause")
cause_panels = [t for t in by_title if re.search(r"hangup cause", t, re.I)]
c.check(any("freeswitch_legs_ended_total" in by_title[t] and "domain_name" in by_title[t] for t in cause_panels),
        "hangup causes by domain from freeswitch.legs.ended")
ids = [p["id"] for p in dash["panels"]]
c.eq(len(ids), len(set(ids)), "panel ids are unique")
cells, overlaps = {}, set()
for p in dash["panels"]:
    g = p["gridPos"]
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                overlaps.add((cells[(x, y)], p["title"]))
            cells[(x, y)] = p["title"]
    c.check(g["x"] + g["w"] <= 24, "panel %r fits the 24-column grid" % p["title"])
c.eq(overlaps, set(), "no two panels overlap")
c.eq(dash["templating"]["list"][0]["type"], "datasource", "a data source variable, so any Prometheus fits")
c.finish()
