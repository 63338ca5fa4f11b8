"""Helpers for the exporter's integration tests (tests/integration/test_export_*.py):
the Node OTLP receiver (receiver.js), the C driver (fsa_export_driver), and the
expected values of the driver's "basic" scenario, restated here from its
comment so the tests do not trust the C code's own account."""
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import fsatest  # noqa: E402
from fsatest import Checks, Proc, wait_for, SLOW  # noqa: E402,F401

SOURCE = os.environ.get("FSA_SOURCE_DIR", os.path.join(HERE, "..", ".."))
DRIVER = os.path.join(fsatest.BUILD, "fsa_export_driver")
RECEIVER = os.path.join(SOURCE, "tests", "receiver", "receiver.js")


def ensure_deps():
    """npm install of the receiver's packages, once (scripts/receiver-deps.sh)."""
    subprocess.run([os.path.join(SOURCE, "scripts", "receiver-deps.sh")], check=True)


class Receiver:
    def __init__(self, *args, port=0):
        fd, self.out = tempfile.mkstemp(prefix="otlp-", suffix=".jsonl")
        os.close(fd)
        self.proc = Proc(["node", RECEIVER, "--port", str(port), "--out", self.out] + [str(a) for a in args],
                         name="receiver")
        line = wait_for(lambda: self._listening() or (not self.proc.alive() and "dead"), 30)
        if not line or line == "dead":
            self.proc.dump()
            raise RuntimeError("receiver did not start")
        self.port = int(line)

    def _listening(self):
        for l in self.proc.stdout().splitlines():
            if l.startswith("listening "):
                return l.split()[1]
        return None

    def lines(self):
        out = []
        with open(self.out) as f:
            for l in f:
                l = l.strip()
                if l:
                    out.append(json.loads(l))
        return out

    def ok_requests(self):
        return [l["request"] for l in self.lines() if l["status"] == "OK"]

    def stop(self):
        self.proc.stop()


def run_driver(endpoint, *args, timeout=120, expect_fail=False):
    """Runs the driver to completion; returns (final stats, run info, stderr text)."""
    p = Proc([DRIVER, "--endpoint", endpoint] + [str(a) for a in args], name="driver")
    try:
        p.p.wait(timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        p.dump()
        raise
    final = info = None
    for l in p.stdout().splitlines():
        if l.startswith('{"final"'):
            final = json.loads(l)["final"]
        elif l.startswith('{"pushed"'):
            info = json.loads(l)
    if (p.p.returncode != 0 or final is None) and not expect_fail:
        p.dump()
    return final, info, p.stderr()


def start_driver(endpoint, *args):
    return Proc([DRIVER, "--endpoint", endpoint] + [str(a) for a in args], name="driver")


def driver_result(p):
    final = info = None
    for l in p.stdout().splitlines():
        if l.startswith('{"final"'):
            final = json.loads(l)["final"]
        elif l.startswith('{"pushed"'):
            info = json.loads(l)
    return final, info


# ---- the contract: unit of every metric, type of the non-gauges ----

UNITS = {
    "freeswitch.rtcp.jitter": "ms", "freeswitch.rtcp.packets_lost": "{packet}", "freeswitch.rtcp.fraction_lost": "1",
    "freeswitch.rtcp.rtt": "ms", "freeswitch.rtcp.mos": "1", "freeswitch.qos.mos_score": "1",
    "freeswitch.qos.jitter_avg": "ms", "freeswitch.qos.jitter_min": "ms", "freeswitch.qos.jitter_max": "ms",
    "freeswitch.qos.total_packets": "{packet}", "freeswitch.qos.packet_loss": "{packet}",
    "freeswitch.qos.total_bytes": "By", "freeswitch.qos.r_factor": "1", "freeswitch.qos.mos_emodel": "1",
    "freeswitch.calls.active": "{leg}", "freeswitch.legs.ended": "{leg}", "freeswitch.leg.mos": "1",
    "freeswitch.leg.jitter": "ms", "freeswitch.rtcp.loss_fraction": "1",
    "freeswitch.qos.hold_seconds": "s", "freeswitch.qos.media_gap_ratio": "1", "freeswitch.leg.media_gap": "1",
}
TYPES = {"freeswitch.calls.active": "gauge", "freeswitch.legs.ended": "sum", "freeswitch.leg.mos": "histogram",
         "freeswitch.leg.jitter": "histogram", "freeswitch.rtcp.loss_fraction": "histogram",
         "freeswitch.leg.media_gap": "histogram"}

# ---- reading requests ----

def attrs(kvs):
    return {kv["key"]: kv["value"].get("string_value") for kv in kvs or []}


def metrics(requests):
    """Every metric of every request, in order: (request index, metric dict)."""
    out = []
    for i, req in enumerate(requests):
        for rm in req.get("resource_metrics", []):
            for sm in rm.get("scope_metrics", []):
                for m in sm.get("metrics", []):
                    out.append((i, m))
    return out


def points(m):
    for kind in ("gauge", "sum", "histogram"):
        if kind in m:
            return kind, m[kind].get("data_points", [])
    return None, []


def count_points(requests):
    return sum(len(points(m)[1]) for _, m in metrics(requests))


def value(dp):
    if "as_int" in dp:
        return int(dp["as_int"])
    return dp.get("as_double")


# ---- the driver's "basic" scenario, restated ----

T0 = 1700000000000000


def leg_labels(i, domains=3):
    return {
        "fs_instance": "fs-a" if i % 2 == 0 else "fs-b",
        "channel_id": "chan-%04d" % i,
        "correlation_id": "call-%04d@example" % i,
        "domain_name": "d%d.example" % (i % domains),
        "codec_name": "OPUS" if i % 2 else "PCMU",
        "src_ip": "10.0.0.%d" % (i % 250),
        "dst_ip": "10.0.1.%d" % (i % 250),
        "direction": "inbound" if i % 2 == 0 else "outbound",
    }


def expected_leg_points(legs, reports, first=0, domains=3):
    """{(metric name, channel_id, time_unix_nano): (value, attributes)} of the per-leg gauges."""
    exp = {}
    for i in range(first, first + legs):
        lab = leg_labels(i, domains)
        t0 = T0 + i * 1000000
        for k in range(reports):
            t = str((t0 + (k + 1) * 5000) * 1000)
            a = {x: lab[x] for x in ("fs_instance", "channel_id", "correlation_id", "domain_name")}
            a["direction"] = "outbound" if k % 2 else "inbound"
            vals = {
                "freeswitch.rtcp.jitter": 1.5 + i + 0.25 * k,
                "freeswitch.rtcp.packets_lost": k,
                "freeswitch.rtcp.fraction_lost": k / 256.0,
                "freeswitch.rtcp.rtt": None if k == 0 else 20.0 + k,
                "freeswitch.rtcp.mos": 4.4 - 0.01 * k,
            }
            for name, v in vals.items():
                if v is not None:
                    exp[(name, lab["channel_id"], t)] = (v, a)
        if i % 4 == 3:
            continue
        t = str((t0 + 60000000) * 1000)
        a = {x: lab[x] for x in ("fs_instance", "channel_id", "correlation_id", "domain_name", "codec_name",
                                 "src_ip", "dst_ip")}
        a["call_direction"] = lab["direction"]  # the leg's Call-Direction, not an RTCP report's
        a["hangup_cause"] = "USER_BUSY" if i % 2 else "NORMAL_CLEARING"
        vals = {
            "freeswitch.qos.mos_score": 4.1 + (i % 5) * 0.05,
            "freeswitch.qos.jitter_avg": None if i % 2 else 2.0 + i,
            "freeswitch.qos.jitter_min": 0.5,
            "freeswitch.qos.jitter_max": 10.0 + i,
            "freeswitch.qos.total_packets": 1000 + i,
            "freeswitch.qos.packet_loss": i,
            "freeswitch.qos.total_bytes": 160000 + i,
            "freeswitch.qos.r_factor": 90.0 - i * 0.5,
            "freeswitch.qos.mos_emodel": 4.3 - i * 0.01,
            "freeswitch.qos.hold_seconds": None if i % 3 == 0 else float(i % 7),
            "freeswitch.qos.media_gap_ratio": None if i % 5 == 4 else 0.004 * i,
        }
        for name, v in vals.items():
            if v is not None:
                exp[(name, lab["channel_id"], t)] = (v, a)
    return exp


MOS_BOUNDS = [1.5, 2.0, 2.5, 3.0, 3.5, 3.6, 3.8, 4.0, 4.1, 4.2, 4.3, 4.4]
JITTER_BOUNDS = [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500]
LOSS_BOUNDS = [0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
GAP_BOUNDS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]  # contract's measured ranges, export/aggregate.c


def bucket(bounds, v):
    for i, b in enumerate(bounds):
        if v <= b:
            return i
    return len(bounds)


def expected_aggregates(legs, reports, domains=3):
    """calls.active {(inst, dom): n}, legs.ended {(inst, dom, cause): n},
    histograms {name: {(inst, dom, codec, dir): [values]}}."""
    active, ended = {}, {}
    hist = {"freeswitch.leg.mos": {}, "freeswitch.leg.jitter": {}, "freeswitch.rtcp.loss_fraction": {},
            "freeswitch.leg.media_gap": {}}
    for i in range(legs):
        lab = leg_labels(i, domains)
        key = (lab["fs_instance"], lab["domain_name"])
        active[key] = active.get(key, 0) + (1 if i % 4 == 3 else 0)
        for k in range(reports):
            hk = (lab["fs_instance"], lab["domain_name"], lab["codec_name"], "outbound" if k % 2 else "inbound")
            hist["freeswitch.rtcp.loss_fraction"].setdefault(hk, []).append(k / 256.0)
        if i % 4 == 3:
            continue
        cause = "USER_BUSY" if i % 2 else "NORMAL_CLEARING"
        ek = key + (cause,)
        ended[ek] = ended.get(ek, 0) + 1
        hk = (lab["fs_instance"], lab["domain_name"], lab["codec_name"], lab["direction"])
        hist["freeswitch.leg.mos"].setdefault(hk, []).append(4.3 - i * 0.01)
        hist["freeswitch.leg.jitter"].setdefault(hk, []).append(10.0 + i if i % 2 else 2.0 + i)
        if i % 5 != 4:
            hist["freeswitch.leg.media_gap"].setdefault(hk, []).append(0.004 * i)
    return active, ended, hist


def make_cert(dirname, name, cn, sans, ca=None):
    """A key and certificate (self-signed, or signed by ca=(cert, key)); returns (cert, key) paths."""
    key = os.path.join(dirname, name + ".key")
    crt = os.path.join(dirname, name + ".crt")
    ext = os.path.join(dirname, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:%s\n" % (",".join(sans) if sans else "email:none@example",
                                                                   "TRUE" if not ca and not sans else "FALSE"))
    if ca is None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "2", "-subj", "/CN=" + cn] +
                       (["-addext", "subjectAltName=" + ",".join(sans)] if sans else
                        ["-addext", "basicConstraints=critical,CA:TRUE"]),
                       check=True, capture_output=True)
    else:
        csr = os.path.join(dirname, name + ".csr")
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                        "-subj", "/CN=" + cn], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
                        "-out", crt, "-days", "2", "-extfile", ext], check=True, capture_output=True)
    return crt, key


def hostname():
    return socket.gethostname()
