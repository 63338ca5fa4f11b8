#!/usr/bin/env python3
"""fsagent's benchmark harness: one command, one table (README "Benchmarks").

Sections (all run against fssim on this machine, fsagent as the real binary exporting to
bench/otlp_sink, a local OTLP/gRPC endpoint fast enough not to be what is measured):

  ingest   fsabench: plain reader (baseline) vs the full pipeline (reactor, workers, exporter
           sending to otlp_sink) on the same fssim streams from 1, 8 and 64 instances (the ratio
           is the headline figure)
  memory   RSS of fsagent with 1k, 10k and 100k live legs, minus the same agent with none:
           bytes per live leg
  carrier  20 instances x 10,000 concurrent calls (2 legs each), RTCP every 5 s per leg, calls of
           3 min average (180 s +-50 %): agent CPU share of one core, events/s, every drop
           counter, event age p50/p99 over the measured window (FreeSWITCH fired it -> encoded into
           an OTLP request; from two scrapes of the agent's /metrics histograms), fsagent's own share
           of it, the batch wait apart, RSS, sleeps per thread. --carrier-stores memory,redis runs it
           once per store (redis: a redis-server of its own on a free loopback port, no persistence)
           and ends with one table, a row per store: events received, drops, agent CPU, event age
           p99 and, for redis, Redis commands/s, commands per agent event, Redis CPU and the
           commands by name (INFO commandstats and INFO cpu read at both ends of the window).
           --loss-pct N goes to the carrier profile's fssim (synthetic packet loss)
  resume   an agent (A) that saw every call start is stopped while the calls are up, and a second one
           (B, same config) started: by default SIGKILL, 4 instances x 1,000 calls (8,000 legs), memory
           store, at engine.resync_rate 200 (the default) and 1000. Per run: seconds until every live
           leg is labelled again (a store load that found it, or its uuid_dump answered), the api calls
           FreeSWITCH saw (show channels + uuid_dump, and per second), store loads and hits, how the
           waits for labels ended, events parked / let through a full park, drops (full lanes: events,
           channel-list names, records), B's CPU while relabelling and after, fssim's CPU and the
           machine's. --resume-stores memory,redis runs it once per store (redis: a redis-server of its
           own; A's writes are in Redis before the stop); --resume-instances, --resume-calls,
           --resume-cps (fssim's ramp), --resume-rates, --resume-stop kill|term (term: a clean stop,
           which writes every change to Redis first)

  bench/run_bench.py --build build-release [--sections ingest,memory,carrier] [--json out.json]
  bench/run_bench.py --sections carrier --carrier-stores memory,redis [--loss-pct 1]
  bench/run_bench.py --sections resume --resume-stores memory,redis --resume-instances 20 \
      --resume-calls 10000 --resume-cps 1000 --resume-rates 200 --resume-stop term
Benchmarks are not tests: nothing here passes or fails, it reports.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HZ = os.sysconf("SC_CLK_TCK")


def free_port_block(n):
    """n consecutive free loopback ports (fssim takes P..P+n-1)."""
    for base in range(20000, 60000, 97):
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime, stime


def host_busy_s():
    """CPU seconds the whole machine spent busy (every core, idle and iowait apart), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / HZ


def thread_use(pid):
    """({thread name: user+sys seconds}, {thread name: voluntary context switches, i.e. sleeps}), threads
    of one name summed (fsa-worker-0, -1 ... kept apart); one pass over the threads."""
    cpu, sleeps = {}, {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            name = open(base + "comm").read().strip()
            with open(base + "stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            switches = next(int(line.split()[1]) for line in open(base + "status")
                            if line.startswith("voluntary_ctxt_switches:"))
        except (OSError, StopIteration):
            continue
        cpu[name] = cpu.get(name, 0) + (int(fields[11]) + int(fields[12])) / HZ
        sleeps[name] = sleeps.get(name, 0) + switches
    return cpu, sleeps


def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Run:
    """fssim + otlp_sink + fsagent with a config; the agent's stats lines read from its stderr file."""

    def __init__(self, build, ninst, fssim_args, agent_yaml="", workers=None, agent_env=None):
        self.tmp = tempfile.mkdtemp(prefix="fsa-bench-")
        self.agent_env = agent_env  # None: the agent inherits this process's environment
        self.port = free_port_block(ninst)
        ready = os.path.join(self.tmp, "ready")
        self.sim = subprocess.Popen([os.path.join(build, "fssim"), "--port", str(self.port), "--instances",
                                     str(ninst), "--ready-file", ready] + [str(a) for a in fssim_args],
                                    stdout=open(os.path.join(self.tmp, "fssim.out"), "w"),
                                    stderr=open(os.path.join(self.tmp, "fssim.err"), "w"))
        sink_ready = os.path.join(self.tmp, "sink")
        self.sink = subprocess.Popen([os.path.join(build, "otlp_sink"), "--ready-file", sink_ready],
                                     stdout=open(os.path.join(self.tmp, "sink.out"), "w"))
        for _ in range(200):
            if os.path.exists(ready) and os.path.exists(sink_ready) and open(sink_ready).read().strip():
                break
            time.sleep(0.05)
        sink_port = int(open(sink_ready).read())
        inst = "\n".join("  - {name: fs%d, host: 127.0.0.1, port: %d, password: ClueCon}" % (i + 1, self.port + i)
                         for i in range(ninst))
        self.http_port = free_port_block(1)
        cfg = ("freeswitch_instances:\n%s\nhttp: {bind: 127.0.0.1, port: %d}\nlogging: {level: info, format: json}\n"
               "opentelemetry: {endpoint: \"127.0.0.1:%d\", insecure: true}\n"
               "engine:\n  stats_log_interval_s: 1\n%s%s") % (
                   inst, self.http_port, sink_port, "  worker_threads: %d\n" % workers if workers else "", agent_yaml)
        path = os.path.join(self.tmp, "config.yaml")
        open(path, "w").write(cfg)
        self.build, self.config_path = build, path
        self.start_agent()

    def start_agent(self):
        self.err_path = os.path.join(self.tmp, "agent-%d.err" % time.monotonic_ns())
        self.agent = subprocess.Popen([os.path.join(self.build, "fsagent"), "--config", self.config_path],
                                      stderr=open(self.err_path, "w"), stdout=subprocess.DEVNULL, env=self.agent_env)

    def stats(self, msg="stats"):
        last = None
        with open(self.err_path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") == msg:
                    last = rec
        return last

    def histograms(self):
        """{name: [(le seconds, cumulative count), ...]} of the agent's /metrics histograms."""
        return self.scrape()[0]

    def scrape(self):
        """One read of /metrics: (histograms as histograms() gives them, {series: value} of every other
        sample, the series as written, labels included)."""
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port, timeout=10).read().decode()
        out, samples = {}, {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if "_bucket{le=" not in line:
                series, _, value = line.rpartition(" ")
                try:
                    samples[series] = float(value)
                except ValueError:
                    pass
                continue
            name, rest = line.split("_bucket{le=\"", 1)
            le, count = rest.split("\"} ")
            out.setdefault(name, []).append((float("inf") if le == "+Inf" else float(le), int(count)))
        return out, samples

    def wait_stats(self, pred, timeout):
        end = time.time() + timeout
        while time.time() < end:
            s = self.stats()
            if s and pred(s):
                return s
            time.sleep(0.25)
        return None

    def stop(self):
        self.agent.send_signal(signal.SIGTERM)
        try:
            self.agent.wait(60)
        except subprocess.TimeoutExpired:
            self.agent.kill()
        final = self.stats("final counters")
        for p in (self.sim, self.sink):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        sim = last_json(os.path.join(self.tmp, "fssim.out"))
        return final, sim


def last_json(path):
    out = None
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            out = json.loads(line)
    return out


def window_quantiles(h0, h1, name, qs=(0.5, 0.99), under=0.002):
    """Quantiles (µs) of what a histogram recorded between two scrapes, interpolated inside a bucket
    as Prometheus' histogram_quantile does, and the share of values at or under `under` seconds."""
    b0, b1 = dict(h0.get(name, [])), h1.get(name, [])
    diff = [(le, c - b0.get(le, 0)) for le, c in b1]
    total = diff[-1][1] if diff else 0
    if not total:
        return {"count": 0}
    out = {"count": total}
    for q in qs:
        rank, lo, prev = q * total, 0.0, 0
        for le, c in diff:
            if c >= rank:
                if le == float("inf"):
                    out["p%g" % (q * 100)] = "> %d" % (lo * 1e6)
                else:
                    out["p%g" % (q * 100)] = round((lo + (le - lo) * (rank - prev) / max(c - prev, 1)) * 1e6)
                break
            lo, prev = le, c
    out["share_under_%gms" % (under * 1e3)] = next((c for le, c in diff if le >= under), total) / total
    return out


def metric_delta(m0, m1, name, **labels):
    """Sum over a family's series (those with every given label="value") of what it counted between
    two scrapes; None when the agent exports no such series."""
    want = ['%s="%s"' % kv for kv in labels.items()]
    keys = [k for k in m1 if (k == name or k.startswith(name + "{")) and all(w in k for w in want)]
    if not keys:
        return None
    return sum(m1[k] - m0.get(k, 0) for k in keys)


class Redis:
    """A redis-server of the harness's own on a free loopback port, nothing persisted, and a
    minimal RESP client to read its INFO (no Python Redis package needed)."""

    def __init__(self, tmp):
        self.port = free_port_block(1)
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", tmp,
                                      "--logfile", os.path.join(tmp, "redis.log")],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "redis.err"), "w"))
        self.calls = 0  # commands this client sent: INFO counts itself in commandstats
        for _ in range(200):
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("redis-server exited: see %s" % os.path.join(tmp, "redis.log"))
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not listen on port %d" % self.port)
        self.f = self.sock.makefile("rb")
        if self.command("PING") != "PONG":
            raise RuntimeError("redis-server did not answer PING")

    def command(self, *args):
        self.sock.sendall(b"".join([b"*%d\r\n" % len(args)] +
                                   [b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args]))
        self.calls += 1
        line = self.f.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            return None if n < 0 else self.f.read(n + 2)[:-2].decode()
        if line[:1] == b"-":
            raise RuntimeError("redis: %s" % line[1:].decode().strip())
        return line[1:].decode().strip()

    def snapshot(self):
        """Commands served so far by name, this client's own taken out, and CPU seconds (user + sys),
        from one INFO (Redis >= 7 takes several sections in one call: both read at the same instant)."""
        own = self.calls  # the INFO below is counted after it answers, so only the earlier ones show
        cmds, info = {}, {}
        for line in self.command("INFO", "commandstats", "cpu", "memory").splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                continue
            if key.startswith("cmdstat_"):
                stat = dict(kv.split("=", 1) for kv in value.split(","))
                cmds[key[len("cmdstat_"):].upper()] = int(stat["calls"])
            else:
                info[key] = value
        return {"own": own, "cmds": cmds, "cpu_s": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
                "used_memory": int(info.get("used_memory", 0))}

    def stop(self):
        self.sock.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def redis_window(r0, r1, elapsed):
    """What Redis served between two snapshots: commands by name (the harness's own INFO calls taken
    out), commands/s and CPU share of one core."""
    by = {k: v - r0["cmds"].get(k, 0) for k, v in r1["cmds"].items()}
    by["INFO"] = by.get("INFO", 0) - (r1["own"] - r0["own"])
    by = {k: v for k, v in by.items() if v > 0}
    total = sum(by.values())
    return {"commands": total, "commands_per_s": total / elapsed, "by_command": by,
            "cpu_core_share": (r1["cpu_s"] - r0["cpu_s"]) / elapsed, "used_memory_mib": r1["used_memory"] / 1048576}


def drops(final, sim):
    """Every place an event or point can be lost, summed per place."""
    d = {"ring_full": 0, "decode_errors": 0, "records_dropped": 0, "export_points_dropped": 0,
         "fssim_events_dropped": 0, "legs_refused": 0}
    if final:
        for s in final["instances"].values():
            d["ring_full"] += s["dropped_ring_full"]
            d["decode_errors"] += s["decode_errors"]
        d["records_dropped"] = sum(final["calc"]["records_dropped"].values())
        d["legs_refused"] = final["calc"]["legs_refused"]
        d["export_points_dropped"] = sum(final["export"]["points_dropped"].values())
    if sim:
        d["fssim_events_dropped"] = sum(i.get("events_dropped", 0) for i in sim["instances"])
    return d


def section_memory(build, out):
    """RSS at 1k/10k/100k live legs. Calls ramp at legs/20 per second (10 s): started all at once,
    their CREATE bursts would overflow fssim's per-listener queue and get the agent disconnected,
    as FreeSWITCH itself does to slow listeners. The marginal cost per leg is the slope between two
    sizes, where the lanes and the exporter's buffers are warm in both."""
    rows = []
    for legs in (1000, 10000, 100000):
        calls = legs // 2
        r = Run(build, 1, ["--calls", calls, "--cps", max(calls // 10, 50), "--call-duration", 3600,
                           "--rtcp-interval-ms", 5000, "--heartbeat", 20])
        r.wait_stats(lambda s: s["calc"]["legs_active"] >= legs, 120)
        time.sleep(6)  # a full RTCP period: every leg has reported at least once
        rss = proc_rss_kib(r.agent.pid)
        s = r.stats()
        final, sim = r.stop()
        rows.append({"legs": s["calc"]["legs_active"] if s else 0, "rss_mib": rss / 1024,
                     "drops": drops(final, sim)})
    for prev, cur in zip(rows, rows[1:]):
        cur["bytes_per_leg"] = (cur["rss_mib"] - prev["rss_mib"]) * 1048576 / max(cur["legs"] - prev["legs"], 1)
    out["memory"] = rows
    print("\n### Memory (fsagent RSS, 2 workers, default max_legs_per_worker 262144)\n")
    print("| live legs | RSS MiB | marginal bytes per live leg (slope from the row above) | drops |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        bpl = r.get("bytes_per_leg")
        print("| %s | %.1f | %s | %d |" % ("{:,}".format(r["legs"]), r["rss_mib"],
                                          "-" if bpl is None else "%.0f" % bpl, sum(r["drops"].values())))


def store_env(store):
    """(agent environment, Redis or None) for a run with storage `store`: None keeps whatever this process's
    environment says (FSAGENT_STORAGE_TYPE); "memory" or "redis" sets it, redis against a redis-server of
    the run's own. Raises RuntimeError when redis is asked for and there is no redis-server."""
    if store is None:
        return None, None
    env = {k: v for k, v in os.environ.items()
           if k != "FSAGENT_STORAGE_TYPE" and not k.startswith("FSAGENT_REDIS_")}
    env["FSAGENT_STORAGE_TYPE"] = store
    redis = None
    if store == "redis":
        if not shutil.which("redis-server"):
            raise RuntimeError("no redis-server (scripts/deps.sh --test installs it)")
        redis = Redis(tempfile.mkdtemp(prefix="fsa-bench-redis-"))
        env["FSAGENT_REDIS_HOST"], env["FSAGENT_REDIS_PORT"] = "127.0.0.1", str(redis.port)
    return env, redis


def section_carrier(build, out, seconds, window, agent_yaml="", store=None, loss_pct=None):
    """store None: the agent's storage is whatever its environment says (FSAGENT_STORAGE_TYPE); "memory"
    or "redis": set for this run, redis against a redis-server of this run's own."""
    ninst, calls = 20, 10000
    fssim_args = ["--calls", calls, "--cps", 1000, "--call-duration", 180, "--duration-jitter", 0.5,
                  "--rtcp-interval-ms", 5000, "--heartbeat", 20, "--codec", "PCMU"]
    if loss_pct is not None:
        fssim_args += ["--loss-pct", loss_pct]
    try:
        env, redis = store_env(store)
    except RuntimeError as e:
        print("\n### Carrier profile, storage: %s: not run, %s" % (store, e))
        return
    try:
        r = Run(build, ninst, fssim_args, agent_yaml=agent_yaml, agent_env=env)
        t0 = time.time()
        # Ramp: 1000 calls/s per instance reach 10k in 10 s, spreading every leg's RTCP phase over the
        # 5 s period; the first hangups come at 90 s (180 s x 0.5), then arrivals match departures.
        start_window = max(seconds - window, 0)
        time.sleep(start_window)
        s0, cpu0, w0, (t0s, sw0) = r.stats(), proc_cpu_s(r.agent.pid), time.time(), thread_use(r.agent.pid)
        rs0 = redis.snapshot() if redis else None
        h0, m0 = r.scrape()
        sim0 = proc_cpu_s(r.sim.pid)
        time.sleep(window)
        s1, cpu1, w1, (t1s, sw1) = r.stats(), proc_cpu_s(r.agent.pid), time.time(), thread_use(r.agent.pid)
        rs1 = redis.snapshot() if redis else None
        h1, m1 = r.scrape()
        sim1 = proc_cpu_s(r.sim.pid)
        load = os.getloadavg()[0]
        rss = proc_rss_kib(r.agent.pid)
        final, sim = r.stop()
    finally:
        if redis:
            redis.stop()
    elapsed = w1 - w0
    ev = (s1["events_processed"] - s0["events_processed"]) / elapsed if s0 and s1 else 0
    ex = final["export"] if final else {}
    res = {
        "instances": ninst, "calls_per_instance": calls, "seconds": seconds, "window_s": round(elapsed, 1),
        "legs_active_end": s1["calc"]["legs_active"] if s1 else None,
        "events_per_s": ev, "cpu_core_share": (cpu1 - cpu0) / elapsed,
        "cpu_ms_per_1k_events": (cpu1 - cpu0) * 1000 / max(ev * elapsed / 1000, 1),
        "rss_mib": rss / 1024, "drops": drops(final, sim),
        "points_exported": ex.get("points_exported"), "points_encoded": ex.get("points_encoded"),
        "event_age_us": ex.get("event_age_us"), "batch_wait_us": ex.get("batch_wait_us"),
        "pipeline_age_us": ex.get("pipeline_age_us"),
        "window_event_age": window_quantiles(h0, h1, "fsagent_export_event_age_seconds"),
        "window_pipeline_age": window_quantiles(h0, h1, "fsagent_export_pipeline_age_seconds"),
        "wall_s": round(time.time() - t0, 1),
        "threads_core_share": {k: round((t1s.get(k, 0) - v) / elapsed, 3) for k, v in t0s.items()},
        "fssim_core_share": round((sim1 - sim0) / elapsed, 3), "load_avg_1m": load,
        "threads_sleeps_per_s": {k: round((sw1.get(k, 0) - v) / elapsed) for k, v in sw0.items()},
    }
    # Counted from the two /metrics scrapes, so over the window Redis is read over.
    res.update({"storage": store or os.environ.get("FSAGENT_STORAGE_TYPE", "memory"), "loss_pct": loss_pct,
                "window_start_s": start_window,
                "events_received_window": metric_delta(m0, m1, "fsagent_events_received_total"),
                "ring_full_window": metric_delta(m0, m1, "fsagent_events_dropped_total", cause="ring_full")})
    if store is None:
        out["carrier"] = res
    else:
        if redis:
            res["redis"] = redis_window(rs0, rs1, elapsed)
            res["redis_store_ops_window"] = {x: metric_delta(m0, m1, "fsagent_storage_redis_operations_total",
                                                             result=x) for x in ("ok", "error", "dropped")}
            res["redis_store_final"] = (final or {}).get("calc", {}).get("redis")
        out.setdefault("carrier_stores", []).append(res)
    print("\n### Carrier profile: 20 instances x 10,000 concurrent calls, RTCP every 5 s per leg, "
          "calls 180 s +-50 %%, measured %.0f s to %.0f s%s%s\n" % (
              start_window, seconds, ", storage: %s" % store if store else "",
              ", fssim --loss-pct %g" % loss_pct if loss_pct is not None else ""))
    print("| figure | value |")
    print("|---|---:|")
    print("| live legs | %s |" % "{:,}".format(res["legs_active_end"] or 0))
    print("| events processed/s | %s |" % "{:,.0f}".format(ev))
    print("| fsagent CPU, share of one core | %.1f %% |" % (100 * res["cpu_core_share"]))
    print("| CPU ms per 1k events | %.2f |" % res["cpu_ms_per_1k_events"])
    print("| RSS | %.0f MiB |" % res["rss_mib"])
    print("| per thread, share of one core | %s |" % ", ".join(
        "%s %.1f %%" % (k, 100 * v) for k, v in sorted(res["threads_core_share"].items()) if v >= 0.005))
    print("| per thread, sleeps (voluntary context switches) per second | %s |" % ", ".join(
        "%s %s" % (k, "{:,}".format(v)) for k, v in sorted(res["threads_sleeps_per_s"].items()) if v >= 1))
    print("| fssim (20 instances) share of one core; load average | %.1f %%; %.1f |" % (
        100 * res["fssim_core_share"], load))
    wait = res["batch_wait_us"] or {}
    for key, what in (("window_event_age", "event age (fired -> in an OTLP request)"),
                      ("window_pipeline_age", "of which fsagent's own (read by the reactor -> in an OTLP request)")):
        w = res[key]
        print("| %s in the window p50 / p99; share <= 2 ms | %s / %s µs; %.2f %% |" % (
            what, w.get("p50"), w.get("p99"), 100 * w.get("share_under_2ms", 0)))
    age, pipe = res["event_age_us"] or {}, res["pipeline_age_us"] or {}
    print("| whole run incl. ramp: event age p50 / p99 / max; fsagent's own p99 / max | %s / %s / %s; %s / %s µs |" % (
        age.get("p50"), age.get("p99"), age.get("max"), pipe.get("p99"), pipe.get("max")))
    print("| batch wait p50 / p99 (deliberate interval, apart) | %s / %s µs |" % (wait.get("p50"), wait.get("p99")))
    print("| points exported / encoded | %s / %s |" % (res["points_exported"], res["points_encoded"]))
    for k, v in res["drops"].items():
        print("| drops: %s | %d |" % (k, v))


def print_carrier_stores(rows):
    """The carrier profile's runs side by side, one row per store, ready for README.md."""
    if not rows:
        return
    print("\n### Carrier profile by store: 20 instances x 10,000 concurrent calls, measured %.0f s to %.0f s%s\n" % (
        rows[0]["window_start_s"], rows[0]["seconds"],
        ", fssim --loss-pct %g" % rows[0]["loss_pct"] if rows[0]["loss_pct"] is not None else ""))
    print("| storage | events received in the window (/s) | drops: full lanes in the window; every counter, "
          "whole run | fsagent CPU, share of one core | event age p99 in the window | Redis commands/s | "
          "Redis commands per agent event | Redis CPU, share of one core | store operations dropped in the window "
          "(Redis pipeline full) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in rows:
        ev, rd = x["events_received_window"], x.get("redis")
        dropped = (x.get("redis_store_ops_window") or {}).get("dropped")
        print("| %s | %s (%s) | %s; %s | %.1f %% | %s µs | %s | %s | %s | %s |" % (
            x["storage"], "-" if ev is None else "{:,.0f}".format(ev),
            "-" if ev is None else "{:,.0f}".format(ev / x["window_s"]),
            "-" if x["ring_full_window"] is None else "{:,.0f}".format(x["ring_full_window"]),
            "{:,}".format(sum(x["drops"].values())), 100 * x["cpu_core_share"], x["window_event_age"].get("p99"),
            "{:,.0f}".format(rd["commands_per_s"]) if rd else "-",
            "%.2f" % (rd["commands"] / ev) if rd and ev else "-",
            "%.1f %%" % (100 * rd["cpu_core_share"]) if rd else "-",
            "-" if dropped is None else "{:,.0f}".format(dropped)))
    for x in rows:
        rd = x.get("redis")
        if not rd:
            continue
        top = sorted(rd["by_command"].items(), key=lambda kv: -kv[1])[:5]
        ops = x["redis_store_ops_window"]
        print("\nRedis commands in the window by name (top 5 of %d): %s. The agent's Redis store in the window: "
              "operations ok / error / dropped (pipeline full) %s; Redis used_memory at the end %.0f MiB." % (
                  len(rd["by_command"]), ", ".join("%s %s (%.1f %%)" % (k, "{:,}".format(v), 100 * v / rd["commands"])
                                                   for k, v in top),
                  " / ".join("-" if ops[k] is None else "{:,.0f}".format(ops[k]) for k in ("ok", "error", "dropped")),
                  rd["used_memory_mib"]))


def resume_progress(m):
    """What a restarted agent's /metrics says of its relearning: legs labelled again (a store load that found
    the leg, or a uuid_dump answered: ok or -ERR, as the memory-store table always counted), legs learnt,
    api calls sent, full-lane drops."""
    g = lambda name, **kw: metric_delta({}, m, name, **kw) or 0
    return {"store_hits": g("fsagent_storage_hits_total"),
            "dumps_ok": g("fsagent_resync_dumps_total", result="ok"),
            "dumps_failed": g("fsagent_resync_dumps_total", result="failed"),
            "lists": g("fsagent_resync_api_calls_total", command="show_channels"),
            "dumps": g("fsagent_resync_api_calls_total", command="uuid_dump"),
            "learnt": g("fsagent_legs_learnt_total"),
            "ring_full": g("fsagent_events_dropped_total", cause="ring_full"),
            "store_loads": g("fsagent_storage_operations_total", operation="load")}


def resume_run(build, ninst, calls, rate, store, stop, cps, settle_s=10.0, stall_s=60.0):
    """One restart: agent A learns every leg from its CHANNEL_CREATE (and, with redis, writes them behind),
    is stopped (stop "term": SIGTERM, a clean stop that writes every change first; "kill": SIGKILL), and
    agent B (same config) relabels the live legs: from the store where it has them, else uuid_dump."""
    legs = ninst * calls * 2
    env, redis = store_env(store)
    res = {"storage": store, "stop": stop, "rate": rate, "instances": ninst, "calls_per_instance": calls,
           "legs": legs, "cps": cps}
    try:
        r = Run(build, ninst, ["--calls", calls, "--cps", cps, "--call-duration", 36000, "--rtcp-interval-ms", 5000,
                               "--heartbeat", 5], agent_yaml="  resync_rate: %d\n" % rate, agent_env=env)
        t_ramp = time.time()
        up = r.wait_stats(lambda s: s["calc"]["legs_active"] >= legs, calls / cps + 120)
        res["ramp_s"] = round(time.time() - t_ramp, 1) if up else None
        if not up:
            print("resume: agent A saw only %s of %d legs; going on" % (
                (r.stats() or {}).get("calc", {}).get("legs_active"), legs), file=sys.stderr)
        written = None
        if redis:
            # Writes are coalesced per second (storage.redis.flush_interval_ms): wait until the instance
            # hashes hold a labels and a bases field per leg (a leg's first RTCP report, within 5 s).
            keys = ["fsagent:leg:v2:fs%d" % (i + 1) for i in range(ninst)]
            t_w = time.time()
            while time.time() - t_w < 60:
                fields = sum(int(redis.command("HLEN", k)) for k in keys)
                if fields >= 2 * legs + ninst:
                    written = round(time.time() - t_w, 1)
                    break
                time.sleep(0.5)
            res["redis_fields_before_stop"] = sum(int(redis.command("HLEN", k)) for k in keys)
        res["written_wait_s"] = written
        # One RTCP period (5 s) and a write round more: every leg has had a report, and its bases were written
        # (writes are coalesced per storage.redis.flush_interval_ms, 1 s by default).
        time.sleep(6)
        a_err, a_pid = r.err_path, r.agent.pid
        t_stop = time.time()
        if stop == "kill":
            r.agent.kill()
        else:
            r.agent.send_signal(signal.SIGTERM)
        try:
            r.agent.wait(120)
        except subprocess.TimeoutExpired:
            r.agent.kill()
            r.agent.wait()
        res["a_stop_s"] = round(time.time() - t_stop, 2)
        if redis:
            res["redis_fields_at_restart"] = sum(int(redis.command("HLEN", k)) for k in keys)
        final_a = r.stats("final counters") or r.stats()  # its last stats line after a SIGKILL
        res["a_store_final"] = (final_a or {}).get("calc", {}).get("store")
        res["a_drops"] = drops(final_a, None)  # while the calls ramped up and A ran
        rs0 = redis.snapshot() if redis else None
        sim0, host0 = proc_cpu_s(r.sim.pid), host_busy_s()
        t0 = time.time()
        r.start_agent()
        b_pid = r.agent.pid
        bound = t0 + (legs / rate * 3 + 120 if store != "redis" else legs / 1000 + 300)
        done_at, learnt_at, last, next_note = None, None, None, t0 + 30
        best, best_at, stalled = -1, t0, False
        while time.time() < bound:
            try:
                last = resume_progress(r.scrape()[1])
            except OSError:  # not listening yet
                time.sleep(0.1)
                continue
            now = time.time()
            if learnt_at is None and last["learnt"] >= legs:
                learnt_at = now
            labelled = last["store_hits"] + last["dumps_ok"] + last["dumps_failed"]
            if labelled >= legs:
                done_at = now
                break
            if labelled > best:
                best, best_at = labelled, now
            elif learnt_at and now - best_at >= stall_s:
                # Every leg is known and nothing was labelled for stall_s: the rest never will be (a uuid_dump
                # answer lost, for instance: a leg is asked about once). Measured up to the last progress.
                stalled = True
                break
            if now >= next_note:
                next_note = now + 30
                print("resume %s: %.0f s, %s labelled (%s store hits, %s dumps answered), %s learnt" % (
                    store, now - t0, "{:,.0f}".format(last["store_hits"] + last["dumps_ok"] + last["dumps_failed"]),
                    "{:,.0f}".format(last["store_hits"]), "{:,.0f}".format(last["dumps_ok"] + last["dumps_failed"]),
                    "{:,.0f}".format(last["learnt"])), file=sys.stderr)
            time.sleep(0.2)
        elapsed = (done_at or (best_at if stalled else time.time())) - t0
        cpu_b = proc_cpu_s(b_pid)
        sim1, host1 = proc_cpu_s(r.sim.pid), host_busy_s()
        wall = time.time() - t0  # the CPU shares' denominator (the stall's minute included when it stalled)
        rs1 = redis.snapshot() if redis else None
        threads_b, _ = thread_use(b_pid)
        # The steady state that follows: B's CPU once everything is labelled.
        time.sleep(settle_s)
        cpu_settle = proc_cpu_s(b_pid) - cpu_b
        s = r.stats()
        rss = proc_rss_kib(b_pid)
        # "channel list: N of M channel(s) could not reach the workers (lanes full)": names lost per list.
        lost_lists = [int(line.split("channel list: ", 1)[1].split()[0]) for line in open(r.err_path)
                      if "could not reach the workers" in line]
        final, sim = r.stop()
    finally:
        if redis:
            redis.stop()
    calls_sent = (last["lists"] + last["dumps"]) if last else 0
    lab = (final or {}).get("calc", {}).get("labels", {})
    res.update({
        "labelled_s": round(elapsed, 2) if done_at else None, "bound_s": round(bound - t0),
        "stalled": stalled, "labelled_at_end": (last["store_hits"] + last["dumps_ok"] + last["dumps_failed"])
        if last else 0, "last_progress_s": round(best_at - t0, 2),
        "learnt_s": round(learnt_at - t0, 2) if learnt_at else None,
        "progress_at_end": last, "api_calls": calls_sent,
        "api_calls_per_s": calls_sent / elapsed if elapsed else None,
        "b_cpu_core_share": cpu_b / wall,
        "b_threads_core_share": {k: round(v / wall, 3) for k, v in threads_b.items()},
        "b_cpu_core_share_after": cpu_settle / settle_s,
        "fssim_core_share": (sim1 - sim0) / wall,
        "host_busy_cores": (host1 - host0) / wall, "cpus": os.cpu_count(), "b_rss_mib": rss / 1024,
        "rtcp_base_only": (final or {}).get("calc", {}).get("rtcp_base_only"),
        "labels": lab, "legs_learnt": (final or {}).get("calc", {}).get("legs_learnt"),
        "active_after": s["calc"]["legs_active"] if s else None, "drops": drops(final, sim),
        "resync_ring_full": sum(i["resync"]["dropped_ring_full"] for i in final["instances"].values()) if final else None,
        "lists_not_whole": len(lost_lists), "list_names_lost": sum(lost_lists),
        "store_final": (final or {}).get("calc", {}).get("store"),
        "redis_store_final": (final or {}).get("calc", {}).get("redis"),
        "fssim_channel_lists": sum(i.get("channel_lists", 0) for i in sim["instances"]) if sim else None,
        "fssim_uuid_dumps": sum(i.get("uuid_dumps", 0) for i in sim["instances"]) if sim else None,
    })
    if res["resync_ring_full"] is not None:
        # The reactor counts both in resync.dropped_ring_full: names of a list, and uuid_dump answers (a leg is
        # asked about once, so a lost answer leaves it unlabelled until its hangup).
        res["dump_answers_lost"] = res["resync_ring_full"] - res["list_names_lost"]
    if redis:
        res["redis"] = redis_window(rs0, rs1, wall)
    return res


def section_resume(build, out, ninst=4, calls=1000, rates=(200, 1000), stores=("memory",), stop="kill", cps=500):
    """Restart under live calls, once per store and engine.resync_rate (resume_run). Defaults: the table
    README.md has had since the resume work, 8,000 legs, memory store, SIGKILL, rates 200 and 1000."""
    rows = []
    for store in stores:
        for rate in rates:
            try:
                rows.append(resume_run(build, ninst, calls, rate, store, stop, cps))
            except RuntimeError as e:
                print("\n### Resume, storage: %s: not run, %s" % (store, e))
            sys.stdout.flush()
    out["resume"] = rows
    if not rows:
        return
    legs = rows[0]["legs"]
    n = lambda v: "-" if v is None else "{:,.0f}".format(v)
    print("\n### Resume: agent %s and restarted under %s live legs (%d instances x %s calls, RTCP every 5 s), "
          "storage %s\n" % ("SIGKILLed" if stop == "kill" else "stopped (SIGTERM)", "{:,}".format(legs), ninst,
                             "{:,}".format(calls), " / ".join(sorted({x["storage"] for x in rows}))))
    print("| storage | engine.resync_rate | seconds until every leg is labelled again (every leg learnt) | "
          "api calls FreeSWITCH saw: show channels + uuid_dump (/s) | store loads / hits | labels asked (uuid_dump) / "
          "received in time / timed out / failed | store loads timed out | events parked / park full | "
          "drops: full lanes; every counter | restarted agent's CPU, share of one core: relabelling / after |")
    print("|---|---:|---:|---:|---:|---|---:|---|---:|---:|")
    for x in rows:
        lab, st, p = x["labels"], x["store_final"] or {}, x["progress_at_end"] or {}
        print("| %s | %d | %s (%s) | %s + %s (%s) | %s / %s | %s / %s / %s / %s | %s | %s / %s | %s; %s | %s / %.1f %% |" % (
            x["storage"], x["rate"],
            "%.1f" % x["labelled_s"] if x["labelled_s"] else
            "%s of %s by %.1f, then no more" % (n(x["labelled_at_end"]), n(x["legs"]), x["last_progress_s"])
            if x["stalled"] else "not within %d" % x["bound_s"],
            "%.1f" % x["learnt_s"] if x["learnt_s"] else "-", n(p.get("lists")), n(p.get("dumps")),
            "%.0f" % x["api_calls_per_s"] if x["api_calls_per_s"] is not None else "-",
            n(st.get("loads")), n(st.get("hits")), n(lab.get("requested")), n(lab.get("received")),
            n(lab.get("timeout")), n(lab.get("failed")), n(st.get("loads_timeout")), n(lab.get("parked")),
            n(lab.get("park_full")), n((x["drops"]["ring_full"] or 0) + (x["resync_ring_full"] or 0)),
            n(sum(x["drops"].values())),
            "%.1f %%" % (100 * x["b_cpu_core_share"]) if x["b_cpu_core_share"] is not None else "-",
            100 * x["b_cpu_core_share_after"]))
    for x in rows:
        bits = ["%s, rate %d: agent A saw every leg %s s after it started" % (x["storage"], x["rate"], x["ramp_s"])]
        if x["storage"] == "redis":
            bits.append("Redis held %s fields before the stop (%s at the restart; written %s s after the ramp)" % (
                n(x.get("redis_fields_before_stop")), n(x.get("redis_fields_at_restart")), x.get("written_wait_s")))
        bits.append("A's drops while it ran: %s events at full lanes, %s records at the exporter's full lane" % (
            n(x["a_drops"]["ring_full"]), n(x["a_drops"]["records_dropped"])))
        bits.append("A took %.2f s to stop (%s)" % (x["a_stop_s"], "SIGKILL" if x["stop"] == "kill" else "SIGTERM"))
        rs = x.get("redis_store_final") or {}
        if rs:
            bits.append("calc.redis.load_hits %s, previous format %s, unreadable %s" % (
                n(rs.get("load_hits")), n(rs.get("load_hits_old")), n(rs.get("unreadable"))))
        rd = x.get("redis")
        if rd:
            top = sorted(rd["by_command"].items(), key=lambda kv: -kv[1])[:4]
            bits.append("Redis served %s commands until every leg was labelled (%s), %.1f %% of a core" % (
                n(rd["commands"]), ", ".join("%s %s" % (k, n(v)) for k, v in top), 100 * rd["cpu_core_share"]))
        bits.append("while B relabelled: fssim %.0f %% of a core, the machine %.2f of %d cores busy" % (
            100 * (x["fssim_core_share"] or 0), x["host_busy_cores"] or 0, x["cpus"]))
        bits.append("B's threads: %s" % ", ".join("%s %.0f %%" % (k, 100 * v)
                                                  for k, v in sorted(x["b_threads_core_share"].items()) if v >= 0.005))
        d = x["drops"]
        bits.append("B's drops: %s events at full lanes, %s channel-list names that could not reach a worker "
                    "(%d list(s) not whole), %s uuid_dump answers lost at a full lane, %s records at the "
                    "exporter's full lane" % (
                        n(d["ring_full"]), n(x["list_names_lost"]), x["lists_not_whole"],
                        n(x.get("dump_answers_lost")), n(d["records_dropped"])))
        bits.append("RTCP report blocks that only set a loss base (no packets_lost: the leg had no stored base yet): %s" % n(
            x.get("rtcp_base_only")))
        bits.append("fssim counted %s channel lists and %s uuid_dumps over the whole run (both agents)" % (
            n(x["fssim_channel_lists"]), n(x["fssim_uuid_dumps"])))
        print("\n" + "; ".join(bits) + ".")


def section_ingest(build, out, events, runs):
    """fsabench's own table: the plain reader and the full pipeline on the same fssim streams, from 1, 8
    and 64 instances (1M events split over them, 10,000 legs in all), best of `runs`."""
    cmd = [os.path.join(build, "fsabench"), "--fssim", os.path.join(build, "fssim"), "--events", str(events),
           "--runs", str(runs)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    out["ingest"] = p.stdout
    print("\n### Ingest (`%s`)\n" % " ".join(["fsabench"] + cmd[1:]))
    print(p.stdout if p.returncode == 0 else "fsabench failed: %s" % p.stderr[-500:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build-release")
    ap.add_argument("--sections", default="ingest,memory,carrier")
    ap.add_argument("--json")
    ap.add_argument("--events", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--carrier-seconds", type=float, default=150)
    ap.add_argument("--carrier-window", type=float, default=60)
    ap.add_argument("--carrier-stores", help="comma list of memory, redis: the carrier profile once per store, "
                    "then one table, a row per store (without it: one run, storage as FSAGENT_STORAGE_TYPE says)")
    ap.add_argument("--loss-pct", type=float, help="fssim's synthetic packet loss percent in the carrier profile")
    ap.add_argument("--resume-stores", default="memory", help="comma list of memory, redis: the resume section "
                    "once per store (redis: a redis-server of its own on a free loopback port)")
    ap.add_argument("--resume-instances", type=int, default=4, help="fssim instances in the resume section")
    ap.add_argument("--resume-calls", type=int, default=1000, help="concurrent calls per instance (2 legs each)")
    ap.add_argument("--resume-rates", default="200,1000", help="comma list of engine.resync_rate, a run each")
    ap.add_argument("--resume-stop", choices=("kill", "term"), default="kill",
                    help="how the first agent stops: SIGKILL (default) or SIGTERM (a clean stop)")
    ap.add_argument("--resume-cps", type=int, default=500, help="fssim's call starts per second per instance")
    ap.add_argument("--agent-yaml", default="", help="extra lines for the agent's engine: section (experiments)")
    a = ap.parse_args()
    if a.carrier_stores and not set(a.carrier_stores.split(",")) <= {"memory", "redis"}:
        ap.error("--carrier-stores: memory and/or redis")
    if not set(a.resume_stores.split(",")) <= {"memory", "redis"}:
        ap.error("--resume-stores: memory and/or redis")
    out = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
    for sec in a.sections.split(","):
        if sec == "ingest":
            section_ingest(a.build, out, a.events, a.runs)
        elif sec == "memory":
            section_memory(a.build, out)
        elif sec == "resume":
            section_resume(a.build, out, a.resume_instances, a.resume_calls,
                           [int(x) for x in a.resume_rates.split(",")], a.resume_stores.split(","), a.resume_stop,
                           a.resume_cps)
        elif sec == "carrier":
            for store in a.carrier_stores.split(",") if a.carrier_stores else [None]:
                section_carrier(a.build, out, a.carrier_seconds, a.carrier_window, a.agent_yaml.replace('\\n', '\n'),
                                store, a.loss_pct)
                sys.stdout.flush()
        sys.stdout.flush()
    print_carrier_stores(out.get("carrier_stores"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
