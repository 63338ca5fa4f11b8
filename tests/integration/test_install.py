#!/usr/bin/env python3
"""Bare-metal install: `cmake --install` of this build into a temporary prefix.

  1. the file list (component fsagent, then everything), modes, no build RPATH;
  2. the installed binary: --version, --check-config on the installed example
     config (and a refusal without one, so the check is not a no-op);
  3. the systemd unit: paths rewritten to the prefix, `systemd-analyze verify`
     clean (plus two broken copies that it must reject, proving the verify
     really checks in this container without systemd as PID 1), the hardening
     `systemd-analyze security --offline` scores, the directives the issue
     asks for, no ExecReload while main.c has no SIGHUP handler, and the
     syscall groups the agent needs inside SystemCallFilter=@system-service;
  4. the sysusers.d entry creates the unit's user (systemd-sysusers --dry-run);
  5. the man page: groff -ww and man -l render it without a warning; it names
     every config key, environment variable, metric and option of the code;
  6. config.example.yaml: every key of engine/config.c, with the code's default.
Python 3 (PyYAML from Debian's python3-yaml). Prints "N passed, N failed".
"""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploytest as D  # noqa: E402  (re-runs under /usr/bin/python3 if PyYAML is missing)
from fsatest import BUILD, Checks  # noqa: E402

c = Checks()
SRC = D.SRC
VERSION = re.search(r"project\(fsagent VERSION ([\d.]+)", D.read("CMakeLists.txt")).group(1)
CLEAN_ENV, run = D.CLEAN_ENV, D.run
tmp = tempfile.mkdtemp(prefix="fsa-install-")



def install(prefix, *extra):
    r = run(["cmake", "--install", BUILD, "--prefix", prefix] + list(extra))
    c.eq(r.returncode, 0, "cmake --install %s exit code (stderr: %s)" % (" ".join(extra), r.stderr[-500:]))
    out = set()
    for root, _, files in os.walk(prefix):
        for f in files:
            out.add(os.path.relpath(os.path.join(root, f), prefix))
    return out


# ---- 1. file lists ----
AGENT_FILES = {"bin/fsagent", "etc/fsagent/config.example.yaml", "share/man/man8/fsagent.8",
               "lib/systemd/system/fsagent.service", "lib/sysusers.d/fsagent.conf",
               "share/fsagent/grafana/fsagent.json"}
BENCH_FILES = {"libexec/fsagent/fssim"} | ({"libexec/fsagent/fsabench"}
                                           if os.path.exists(os.path.join(BUILD, "fsabench")) else set())
only_agent = install(os.path.join(tmp, "agent"), "--component", "fsagent")
c.eq(only_agent, AGENT_FILES, "component fsagent installs exactly the agent's files")
P = os.path.join(tmp, "p")
c.eq(install(P), AGENT_FILES | BENCH_FILES, "full install: agent files + bench tools in libexec/fsagent")
for exe in ["bin/fsagent"] + sorted(BENCH_FILES):
    c.check(os.access(os.path.join(P, exe), os.X_OK), "%s is executable" % exe)
for data in AGENT_FILES - {"bin/fsagent"}:
    mode = os.stat(os.path.join(P, data)).st_mode & 0o777
    c.eq(mode & 0o111, 0, "%s is not executable" % data)
for src, dst in (("config.example.yaml", "etc/fsagent/config.example.yaml"), ("docs/fsagent.8", "share/man/man8/fsagent.8"),
                 ("deploy/grafana/fsagent.json", "share/fsagent/grafana/fsagent.json"),
                 ("deploy/systemd/fsagent.sysusers", "lib/sysusers.d/fsagent.conf")):
    with open(os.path.join(SRC, src), "rb") as a, open(os.path.join(P, dst), "rb") as b:
        c.check(a.read() == b.read(), "%s installed unchanged as %s" % (src, dst))
dyn = run(["readelf", "-d", os.path.join(P, "bin/fsagent")]).stdout
c.check(os.path.realpath(BUILD) not in dyn and "RPATH" not in dyn and "RUNPATH" not in dyn,
        "installed fsagent carries no RPATH into the build folder")

# ---- 2. the installed binary ----
FSAGENT = os.path.join(P, "bin/fsagent")
EXAMPLE = os.path.join(P, "etc/fsagent/config.example.yaml")
r = run([FSAGENT, "--version"], env=CLEAN_ENV)
c.eq((r.returncode, r.stdout), (0, "fsagent %s\n" % VERSION), "installed fsagent --version")
r = run([FSAGENT, "--check-config", "--config", EXAMPLE], env=CLEAN_ENV, cwd=tmp)
c.eq((r.returncode, r.stdout), (0, "configuration OK: 1 FreeSWITCH instance(s)\n"),
     "installed fsagent --check-config on the installed example (stderr: %s)" % r.stderr[-300:])
# Control: the same command refuses a config without instances, so exit 0 above means validated.
empty = os.path.join(tmp, "empty.yaml")
with open(empty, "w") as f:
    f.write("http: {port: 8080}\n")
r = run([FSAGENT, "--check-config", "--config", empty], env=CLEAN_ENV, cwd=tmp)
c.eq(r.returncode, 2, "--check-config refuses a config without freeswitch_instances")
c.check("freeswitch_instances" in r.stderr, "... naming the key: %r" % r.stderr[-200:])

# ---- 3. systemd unit ----
UNIT = os.path.join(P, "lib/systemd/system/fsagent.service")
with open(UNIT) as f:
    unit_text = f.read()


def directives(text):
    """[(section, key, value)] of a unit file; repeated keys kept (systemd allows them)."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        out.append((section, k.strip(), v.strip()))
    return out


d = directives(unit_text)
svc = {}
for sec, k, v in d:
    if sec == "Service":
        svc.setdefault(k, []).append(v)
c.check("/usr/local/" not in unit_text, "every /usr/local path rewritten to the prefix")
c.eq(svc.get("ExecStart"), ["%s/bin/fsagent --config %s/etc/fsagent/config.yaml" % (P, P)], "ExecStart")
c.eq(svc.get("EnvironmentFile"), ["-%s/etc/fsagent/fsagent.env" % P], "optional EnvironmentFile")
for key, want in (("User", "fsagent"), ("Group", "fsagent"), ("Restart", "on-failure"), ("NoNewPrivileges", "yes"),
                  ("ProtectSystem", "strict"), ("PrivateTmp", "yes"), ("CapabilityBoundingSet", ""),
                  ("AmbientCapabilities", ""), ("RestartPreventExitStatus", "2")):
    c.eq(svc.get(key), [want], "unit %s" % key)
# 1024 instances (config.c's FSA_MAX_INSTANCES) + collector, Redis, admin clients, stdio.
nofile = int((svc.get("LimitNOFILE") or ["0"])[0])
c.check(nofile >= 4096, "LimitNOFILE %d leaves room for 1024 ESL connections and more" % nofile)
main_c = D.read("engine/main.c")
reload_supported = "SIGHUP" in main_c
c.eq("ExecReload" in svc, reload_supported,
     "ExecReload present exactly when main.c handles SIGHUP (handles it: %s)" % reload_supported)
c.check(any(k == "WantedBy" and v == "multi-user.target" for s, k, v in d if s == "Install"), "WantedBy")

MANPATH = os.path.join(P, "share/man") + ":"
verify_env = dict(os.environ, MANPATH=MANPATH)  # Documentation=man:fsagent(8) is looked up by verify
r = run(["systemd-analyze", "verify", UNIT], env=verify_env)
c.eq((r.returncode, r.stdout + r.stderr), (0, ""), "systemd-analyze verify: clean")
# Controls: verify must fail on a unit whose binary is missing, and speak up on a bad directive.
broken_dir = os.path.join(tmp, "broken")
os.makedirs(broken_dir)
bad1 = os.path.join(broken_dir, "fsagent.service")
with open(bad1, "w") as f:
    f.write(unit_text.replace("%s/bin/fsagent" % P, "%s/bin/no-such-fsagent" % P))
r = run(["systemd-analyze", "verify", bad1], env=verify_env)
c.check(r.returncode != 0 and "not executable" in r.stderr, "verify rejects a missing ExecStart binary: %r" %
        r.stderr[-200:])
with open(bad1, "w") as f:
    f.write(unit_text.replace("Restart=on-failure", "Restart=on-fialure"))
r = run(["systemd-analyze", "verify", bad1], env=verify_env)
c.check("restart" in (r.stdout + r.stderr).lower(), "verify reports a bad Restart= value: %r" % r.stderr[-200:])

r = run(["systemd-analyze", "security", "--offline=true", "--threshold=20", UNIT])
m = re.search(r"Overall exposure level for fsagent\.service: ([\d.]+)", r.stdout)
c.check(r.returncode == 0 and m is not None and float(m.group(1)) <= 2.0,
        "systemd-analyze security: exposure <= 2.0 (got %s)" % (m.group(1) if m else r.stdout[-300:]))
sysfilter = run(["systemd-analyze", "syscall-filter", "@system-service"]).stdout
privileged = run(["systemd-analyze", "syscall-filter", "@privileged"]).stdout
expanded = set(re.findall(r"^\s+([a-z_0-9]+)$", sysfilter, re.M))
for group in re.findall(r"^\s+(@[a-z-]+)$", sysfilter, re.M):
    expanded |= set(re.findall(r"^\s+([a-z_0-9]+)$", run(["systemd-analyze", "syscall-filter", group]).stdout, re.M))
# What the agent calls beyond plain I/O: io_uring (reactors), affinity (engine.pin_threads).
for sc in ("io_uring_setup", "io_uring_enter", "io_uring_register", "sched_setaffinity", "eventfd2"):
    c.check(sc in expanded, "SystemCallFilter=@system-service allows %s" % sc)
    c.check(not re.search(r"^\s+%s$" % sc, privileged, re.M), "~@privileged does not take %s away" % sc)

# ---- 4. sysusers.d ----
r = run(["systemd-sysusers", "--root=" + os.path.join(tmp, "sysroot"), "--dry-run",
         os.path.join(P, "lib/sysusers.d/fsagent.conf")])
c.check(r.returncode == 0 and "Creating user 'fsagent'" in r.stdout + r.stderr,
        "systemd-sysusers creates the unit's user: %r" % (r.stdout + r.stderr)[-300:])

# ---- 5. man page ----
MAN = os.path.join(P, "share/man/man8/fsagent.8")
r = run(["groff", "-ww", "-mdoc", "-Tutf8", MAN])
c.eq((r.returncode, r.stderr), (0, ""), "groff -ww -mdoc renders the man page without warnings")
broken_man = os.path.join(tmp, "broken.8")
with open(MAN) as f, open(broken_man, "w") as g:
    g.write(f.read().replace(".El\n.Sh ENVIRONMENT", ".Sh ENVIRONMENT", 1))
r = run(["groff", "-ww", "-mdoc", "-Tutf8", broken_man])
c.check("warning" in r.stderr, "control: groff -ww does warn about an unclosed .Bl: %r" % r.stderr[-200:])
r = run(["man", "--warnings", "-l", MAN], env=dict(CLEAN_ENV, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))
c.eq((r.returncode, r.stderr), (0, ""), "man --warnings -l renders it without warnings")
page = re.sub(r".\x08", "", r.stdout)
r = run(["man", "-w", "fsagent"], env=dict(CLEAN_ENV, MANPATH=MANPATH))
c.eq(r.stdout.strip(), MAN, "man -w finds fsagent(8) under the prefix")
schema = D.config_schema()
for key in schema:
    leaf = key.rsplit(".", 1)[1]
    c.check(re.search(r"\b%s\b" % re.escape(leaf), page), "man page documents key %s" % key)
for sect in sorted({k.split(".")[0].replace("[]", "") for k in schema}):
    c.check(re.search(r"^   %s$" % sect, page, re.M), "man page has a subsection for %s" % sect)
for name in D.env_names():
    c.check(name in page, "man page documents %s" % name)
for name, unit, kind in D.otlp_catalogue():
    c.check(name in page, "man page documents metric %s" % name)
for opt in re.findall(r'\{"([a-z-]+)", (?:no|required)_argument', main_c):
    c.check("--" + opt in page, "man page documents --%s" % opt)
for code in ("0", "1", "2"):
    c.check(re.search(r"^     %s\s" % code, page, re.M), "man page documents exit status %s" % code)

# ---- 6. config.example.yaml against engine/config.c ----
ex_text = D.read("config.example.yaml")
ex = D.load_yaml_all(os.path.join(SRC, "config.example.yaml"))[0]


def lookup(doc, path):
    node = doc
    for part in path.split("."):
        if part.endswith("[]"):
            node = node.get(part[:-2]) if isinstance(node, dict) else None
            node = node[0] if isinstance(node, list) and node else None
        else:
            if not isinstance(node, dict) or part not in node:
                return KeyError
            node = node[part]
    return node


for key, info in schema.items():
    got = lookup(ex, key)
    leaf = key.rsplit(".", 1)[1]
    if info["default"] is None:
        # Computed at run time (CPU count, host name): documented as a commented line.
        c.check(got is KeyError and re.search(r"^\s*#\s*%s:" % leaf, ex_text, re.M),
                "example documents run-time default of %s as a comment" % key)
    elif key == "freeswitch_instances[].name":
        c.check(isinstance(got, str) and got, "example instance has a name")
    else:
        c.eq(got, info["default"], "example %s is the code's default" % key)
known = set(schema)


def walk(doc, prefix=""):
    for k, v in doc.items():
        path = prefix + k
        if k == "freeswitch_instances":
            for inst in v:
                walk(inst, path + "[].")
        elif isinstance(v, dict) and path != "opentelemetry.headers":
            walk(v, path + ".")
        else:
            c.check(path in known, "example key %s exists in engine/config.c" % path)


walk(ex)
for name in D.env_names():
    c.check(re.search(r"^#.*\b%s\b" % name, ex_text, re.M), "example config documents %s" % name)

# ---- 7. the operator's guide (docs/operations.md) against the code ----
ops = D.read("docs/operations.md")
for key in schema:
    c.check("`%s`" % key in ops, "operations.md documents key %s" % key)
for name in D.env_names():
    c.check("`%s`" % name in ops, "operations.md documents %s" % name)
for name, unit, kind in D.otlp_catalogue():
    prom = D.prom_names(name, unit, kind, monotonic=kind == "sum")[0]
    c.check(re.search(r"^\| `%s` \| `%s` \|" % (re.escape(name), re.escape(prom)), ops, re.M),
            "operations.md lists %s with its Prometheus name %s" % (name, prom))
for topic in ("ESL ACL", "wrong ESL password", "fire_rtcp_events", "media bypass", "domain_name",
              "cannot reach collector", "killed listener because of lost events", "events.rtcp: false",
              "engine.pin_threads", "metrics.per_leg", "engine.worker_threads", "Scaling out"):
    c.check(topic.lower() in ops.lower(), "operations.md covers %r" % topic)

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
