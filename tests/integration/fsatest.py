"""Shared helpers for integration tests: free ports, fssim and fsagent processes,
JSON log parsing, and a tiny check/report harness ("N passed, N failed")."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("FSA_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SRC = os.environ.get("FSA_SOURCE_DIR") or os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                       "..", ".."))
# The real FreeSWITCH captures kept in the repository (tests/fixtures/README.md);
# FSA_FIXTURES_DIR points at another capture of the same kind.
FIXTURES_ROOT = os.path.join(SRC, "tests", "fixtures")
FIXTURES = os.environ.get("FSA_FIXTURES_DIR") or os.path.join(FIXTURES_ROOT, "freeswitch-1.11.2")
API_FIXTURES = os.path.join(FIXTURES_ROOT, "freeswitch-1.11.1-api")
FSSIM = os.path.join(BUILD, "fssim")
FSAGENT = os.path.join(BUILD, "fsagent")
SANITIZED = bool(os.environ.get("FSA_SANITIZE"))
# Sanitizer builds run several times slower: scale waits, never assertions.
SLOW = 4 if SANITIZED else 1


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL:", what, file=sys.stderr, flush=True)
        return bool(cond)

    def eq(self, got, want, what):
        self.check(got == want, "%s: got %r, want %r" % (what, got, want))

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        if self.passed + self.failed == 0:
            print("FAIL: no check ran", file=sys.stderr, flush=True)
            sys.exit(1)
        sys.exit(1 if self.failed else 0)


def free_ports(n=1):
    """n distinct free loopback ports that are consecutive (fssim serves a range)."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + n >= 65000:
            continue
        ok = True
        for p in range(base, base + n):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return base
    raise RuntimeError("no free port range")


def wait_for(pred, timeout, step=0.05):
    end = time.time() + timeout * SLOW
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Proc:
    def __init__(self, argv, env=None, name="proc"):
        self.name = name
        self.out = tempfile.NamedTemporaryFile(prefix=name + "-", suffix=".out", delete=False)
        self.err = tempfile.NamedTemporaryFile(prefix=name + "-", suffix=".err", delete=False)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=self.err, env=full_env)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def stdout(self):
        with open(self.out.name, "r", errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err.name, "r", errors="replace") as f:
            return f.read()

    def dump(self):
        sys.stderr.write("---- %s stderr (tail) ----\n%s\n" % (self.name, self.stderr()[-4000:]))


def start_fssim(port, *args, instances=1):
    ready = tempfile.mktemp(prefix="fssim-ready-")
    p = Proc([FSSIM, "--port", str(port), "--instances", str(instances), "--ready-file", ready] + [str(a) for a in args],
             name="fssim")
    if not wait_for(lambda: os.path.exists(ready) or not p.alive(), 10):
        p.dump()
        raise RuntimeError("fssim did not become ready")
    return p


def fssim_summary(p):
    for line in reversed(p.stdout().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    return None


def stop_fssims(sims):
    """SIGTERM each fssim; their summaries (None where one printed none), in order."""
    out = []
    for s in sims:
        s.stop()
        out.append(fssim_summary(s))
    return out


def write_config(text):
    f = tempfile.NamedTemporaryFile("w", prefix="fsagent-", suffix=".yaml", delete=False)
    f.write(text)
    f.close()
    return f.name


# Port 1 on loopback: nothing listens, a connect is refused at once.
NO_COLLECTOR = "opentelemetry: {endpoint: \"127.0.0.1:1\", insecure: true, timeout_ms: 1000}\n"


def agent_config(ports, names=None, password="ClueCon", extra="", engine="", otel=NO_COLLECTOR):
    """A test config; tests that do not look at the export send it nowhere and wait 1 s at most on stop."""
    names = names or ["fs%d" % (i + 1) for i in range(len(ports))]
    inst = "\n".join("  - {name: %s, host: 127.0.0.1, port: %d, password: %s}" % (n, p, password)
                     for n, p in zip(names, ports))
    return ("freeswitch_instances:\n%s\n"
            "logging: {level: debug, format: json}\n"
            "http: {port: 0}\n"
            "engine:\n  backoff_initial_ms: 100\n  backoff_max_ms: 400\n  stats_log_interval_s: 1\n"
            "  worker_threads: 2\n%s%s%s") % (inst, engine, otel, extra)


def start_agent(config_text, env=None):
    path = write_config(config_text)
    return Proc([FSAGENT, "--config", path], env=env, name="fsagent")


def log_lines(proc):
    out = []
    for line in proc.stderr().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def last_stats(proc, msg="final counters"):
    for rec in reversed(log_lines(proc)):
        if rec.get("msg") == msg:
            return rec
    return None


def instance_stats(proc, name, msg="stats"):
    rec = last_stats(proc, msg)
    if rec is None:
        return None
    return rec["instances"].get(name)
