#!/usr/bin/env python3
"""deploy/: what can be checked without Docker or Kubernetes (neither runs here).

  1. every YAML file under deploy/ parses; the dashboard JSON parses;
  2. Dockerfile, by reading: Debian 12 slim multi-stage, non-root numeric USER,
     EXPOSE = the code's default http.port, HEALTHCHECK on /ready at that port;
     every apt package it names exists in Debian's lists (apt-cache show); the
     build stage has every -dev package scripts/deps.sh builds with;
     then its build stage for real on this Debian 12 machine: the context as the
     Dockerfile's .dockerignore filters it, the RUN command with /src, /build,
     /staging moved into a temporary folder; every COPY --from=build source
     exists; every shared library the staged fsagent loads belongs to a package
     the runtime stage installs (or the slim base has); the staged binary
     validates the config the image ships; and, when the admin server is built
     in, the HEALTHCHECK command itself against a running agent (ready / not);
  3. docker-compose.yml: the services; every fsagent variable is one the code
     reads, and with .env example values the image's config validates; ports,
     host names and passwords line up between fsagent, Redis, the Collector
     (otel-collector.yaml: OTLP in, Prometheus out), Prometheus and Grafana;
  4. k8s/: kinds, kustomization, probes (/health, /ready) on the ConfigMap's
     http.port, Service, non-root read-only securityContext, resources, env
     names, Secret references both ways, no secret in the ConfigMap; the
     ConfigMap's config.yaml validates with the Deployment's environment.
Prints "N passed, N failed".
"""
import fnmatch
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploytest as D  # noqa: E402  (re-runs under /usr/bin/python3 if PyYAML is missing)
from fsatest import FSAGENT, Checks, agent_config, free_ports, start_agent, start_fssim, wait_for  # noqa: E402

c = Checks()
SRC = D.SRC
DEPLOY = os.path.join(SRC, "deploy")
ENV_NAMES = set(D.env_names())
HTTP_PORT = D.config_default_http_port()
tmp = tempfile.mkdtemp(prefix="fsa-deploy-")
CLEAN_ENV, run = D.CLEAN_ENV, D.run



def check_config(config_path, env, what, instances):
    r = run([FSAGENT, "--check-config", "--config", config_path], env=dict(CLEAN_ENV, **env), cwd=tmp)
    c.eq((r.returncode, r.stdout), (0, "configuration OK: %d FreeSWITCH instance(s)\n" % instances),
         "%s validates (stderr: %s)" % (what, r.stderr[-300:]))


def host_port(s):
    s = re.sub(r"^\w+://", "", s)
    h, _, p = s.rpartition(":")
    return h, int(p)


# ---- 1. every YAML / JSON parses ----
yaml_files = []
for root, _, files in os.walk(DEPLOY):
    for f in files:
        if f.endswith((".yaml", ".yml")):
            yaml_files.append(os.path.join(root, f))
c.check(len(yaml_files) >= 10, "deploy/ has its YAML files (%d)" % len(yaml_files))
docs = {}
for p in sorted(yaml_files):
    rel = os.path.relpath(p, DEPLOY)
    try:
        docs[rel] = D.load_yaml_all(p)
        c.check(docs[rel], "%s is not empty" % rel)
    except Exception as e:  # noqa: BLE001 - any parse error is the failure reported
        c.check(False, "%s parses: %s" % (rel, e))
with open(os.path.join(DEPLOY, "grafana", "fsagent.json")) as f:
    c.check(isinstance(json.load(f), dict), "grafana/fsagent.json parses")

# ---- 2. Dockerfile ----
with open(os.path.join(DEPLOY, "Dockerfile")) as f:
    df_text = f.read()
instrs = []  # (stage, INSTRUCTION, args)
stage, buf = -1, ""
for line in df_text.splitlines():
    if not buf and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if line.rstrip().endswith("\\"):
        buf += line.rstrip()[:-1] + " "
        continue
    line, buf = buf + line, ""
    op, _, args = line.strip().partition(" ")
    op = op.upper()
    if op == "FROM":
        stage += 1
    instrs.append((stage, op, args.strip()))
args_default = dict(re.findall(r"^ARG (\w+)=(\S+)$", df_text, re.M))
froms = [a for s, op, a in instrs if op == "FROM"]
c.eq(len(froms), 2, "two stages (build, run)")
for a in froms:
    image = a.split()[0]
    image = re.sub(r"\$\{(\w+)\}", lambda m: args_default.get(m.group(1), "?"), image)
    c.eq(image, "debian:12-slim", "stage FROM %s is Debian 12 slim" % a)
c.check(froms[0].endswith(" AS build"), "first stage is named build")
final = [(op, a) for s, op, a in instrs if s == len(froms) - 1]
user = [a for op, a in final if op == "USER"]
c.eq(user, ["10001:10001"], "runs as the numeric non-root user 10001")
c.check(re.search(r"useradd [^&]*--uid 10001\b", df_text), "the image creates uid 10001")
c.eq([a for op, a in final if op == "EXPOSE"], [str(HTTP_PORT)], "EXPOSE = config.c's default http.port")
hc = [a for op, a in final if op == "HEALTHCHECK"]
c.eq(len(hc), 1, "one HEALTHCHECK")
hc_cmd = hc[0].split(" CMD ", 1)[1] if hc and " CMD " in hc[0] else ""
c.check("http://127.0.0.1:${FSAGENT_HTTP_PORT:-%d}/ready" % HTTP_PORT in hc_cmd,
        "HEALTHCHECK asks /ready on FSAGENT_HTTP_PORT, default %d: %r" % (HTTP_PORT, hc_cmd))
c.check("FSAGENT_HTTP_PORT" in ENV_NAMES, "FSAGENT_HTTP_PORT is a variable the agent reads")
entry = [json.loads(a) for op, a in final if op in ("ENTRYPOINT", "CMD")]
c.eq(entry, [["/usr/local/bin/fsagent"], ["--config", "/etc/fsagent/config.yaml"]], "ENTRYPOINT + CMD")

apt_by_stage = {}
for s, op, a in instrs:
    if op == "RUN" and "apt-get install" in a:
        pkgs = re.search(r"apt-get install ([^&]*)", a).group(1).split()
        apt_by_stage.setdefault(s, []).extend(p for p in pkgs if not p.startswith("-"))
c.eq(sorted(apt_by_stage), [0, 1], "both stages install Debian packages")
for s, pkgs in sorted(apt_by_stage.items()):
    for p in pkgs:
        r = run(["apt-cache", "show", "--no-all-versions", p])
        c.check(r.returncode == 0 and re.search(r"^Package: %s$" % re.escape(p), r.stdout, re.M),
                "stage %d: apt package %s exists in Debian's lists" % (s, p))
deps_sh = D.read("scripts/deps.sh")
build_pkgs = re.search(r"PACKAGES=\((.*?)\)", deps_sh, re.S).group(1).split()
for p in build_pkgs:
    if p.endswith("-dev") and p != "libclang-rt-14-dev" or p in ("cmake", "pkg-config", "gcc", "protobuf-c-compiler"):
        c.check(p in apt_by_stage.get(0, []), "build stage installs %s (scripts/deps.sh)" % p)

# The build stage for real, on this Debian 12 machine.
ignore = [l.strip() for l in open(os.path.join(DEPLOY, "Dockerfile.dockerignore")) if l.strip() and l[0] != "#"]


def ignored(rel):
    for pat in ignore:
        pat = pat[3:] if pat.startswith("**/") else pat
        if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(os.path.basename(rel), pat) or \
                any(fnmatch.fnmatch(part, pat) for part in rel.split(os.sep)[:1]):
            return True
    return False


ctx = os.path.join(tmp, "src")
n_files = 0
for root, dirs, files in os.walk(SRC):
    relroot = os.path.relpath(root, SRC)
    dirs[:] = [d for d in dirs if not ignored(os.path.normpath(os.path.join(relroot, d)))]
    for f in files:
        rel = os.path.normpath(os.path.join(relroot, f))
        if ignored(rel):
            continue
        os.makedirs(os.path.join(ctx, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(SRC, rel), os.path.join(ctx, rel))
        n_files += 1
c.check(not os.path.exists(os.path.join(ctx, "build")) and not os.path.exists(os.path.join(ctx, ".git")),
        "the context leaves out build folders and .git (%d files in)" % n_files)
build_runs = [a for s, op, a in instrs if s == 0 and op == "RUN" and "cmake -S" in a]
c.eq(len(build_runs), 1, "one cmake RUN in the build stage")
staging = os.path.join(tmp, "staging")
if build_runs:
    cmd = build_runs[0].replace("/build", os.path.join(tmp, "build")).replace("/staging", staging)
    r = run(["bash", "-ec", cmd], cwd=ctx, timeout=900)
    c.eq(r.returncode, 0, "the build stage's RUN builds and installs (tail: %s)" % (r.stdout + r.stderr)[-800:])
copies = [a.split()[1:] for s, op, a in instrs if op == "COPY" and a.startswith("--from=build")]
c.check(len(copies) >= 2, "the runtime stage copies from the build stage")
for srcp, dstp in copies:
    c.check(srcp.startswith("/staging/") and os.path.isfile(staging + srcp[len("/staging"):]),
            "COPY --from=build %s exists after the build" % srcp)
staged = staging + "/usr/local/bin/fsagent"
runtime_pkgs = set(apt_by_stage.get(1, []))
# What apt brings with them (h2o's libwslay1, ...).
r = run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks",
         "--no-replaces", "--no-enhances", "--no-pre-depends"] + sorted(runtime_pkgs))
runtime_closure = runtime_pkgs | set(re.findall(r"^(?:  Depends: )?<?([a-z0-9][a-z0-9.+-]*)>?(?::\w+)?$", r.stdout, re.M))
# In debian:12-slim already: libc6, libgcc-s1, and libstdc++6 (apt depends on it).
BASE = {"libc6", "libgcc-s1", "libstdc++6"}


def owner_package(path):
    """dpkg -S on the path as loaded, then as merged-/usr spells it."""
    alt = path[4:] if path.startswith("/usr/") else "/usr" + path
    for p in (path, os.path.realpath(path), alt):
        r = run(["dpkg", "-S", p])
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    return "?"


if c.check(os.path.exists(staged), "the build stage staged %s" % staged):
    for line in run(["ldd", staged]).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if not m:
            continue
        owner = owner_package(m.group(2))
        c.check(owner in runtime_closure | BASE, "%s (package %s) comes with the runtime stage's packages" %
                (m.group(1), owner))
    image_cfg = staging + "/usr/local/etc/fsagent/config.example.yaml"
    check_config(image_cfg, {}, "the image's /etc/fsagent/config.yaml", 1)

# The HEALTHCHECK command itself, run against a live agent (with no command
# there is nothing to run: the check above has failed already).
c.check(bool(hc_cmd), "HEALTHCHECK has a command to run")
if hc_cmd:
    fs_port, http_port = free_ports(1), free_ports(1)
    sim = start_fssim(fs_port, "--heartbeat", "1")
    agent = start_agent(agent_config([fs_port]).replace("http: {port: 0}", "http: {port: %d}" % http_port))
    hc_env = dict(CLEAN_ENV, FSAGENT_HTTP_PORT=str(http_port))

    def healthy():
        return run(["sh", "-c", hc_cmd], env=hc_env, timeout=10).returncode == 0
    c.check(wait_for(healthy, 20), "HEALTHCHECK passes once the agent is connected")
    sim.stop()
    c.check(wait_for(lambda: not healthy(), 30), "HEALTHCHECK fails when no FreeSWITCH is connected")
    agent.stop()

# ---- 3. docker compose ----
compose = docs["docker-compose.yml"][0]
services = compose.get("services", {})
c.eq(set(services), {"fsagent", "redis", "otel-collector", "prometheus", "grafana"}, "compose services")
dotenv = {}
for line in open(os.path.join(DEPLOY, "compose.env.example")):
    m = re.match(r"^([A-Z_]+)=(.*)$", line.strip())
    if m:
        v = m.group(2)
        dotenv[m.group(1)] = v[1:-1] if v[:1] == v[-1:] == "'" else v


def interpolate(v):
    """compose's ${VAR}, ${VAR:?msg}, ${VAR:-default} with the .env example's values."""
    def sub(m):
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if name in dotenv:
            return dotenv[name]
        c.check(op == ":-", "compose variable %s has a value in compose.env.example" % name)
        return arg
    return re.sub(r"\$\{(\w+)(?:(:[?-])([^}]*))?\}", sub, str(v))


fsa = services.get("fsagent", {})
fenv = {k: interpolate(v) for k, v in (fsa.get("environment") or {}).items()}
for name in fenv:
    c.check(name in ENV_NAMES, "compose fsagent variable %s is read by engine/config.c" % name)
check_config(os.path.join(SRC, "config.example.yaml"), fenv, "the image config with compose's environment",
             len(json.loads(dotenv["FSAGENT_FREESWITCH_INSTANCES"])))
c.eq(fsa.get("build"), {"context": "..", "dockerfile": "deploy/Dockerfile"}, "fsagent is built from deploy/Dockerfile")
c.eq(fsa.get("ports"), ["%s:%s" % (fenv.get("FSAGENT_HTTP_PORT"), fenv.get("FSAGENT_HTTP_PORT"))],
     "fsagent publishes its admin port")
c.eq(int(fenv.get("FSAGENT_HTTP_PORT", 0)), HTTP_PORT, "compose keeps the default admin port (the EXPOSEd one)")
c.check(fsa.get("read_only") is True and fsa.get("cap_drop") == ["ALL"] and
        "no-new-privileges:true" in (fsa.get("security_opt") or []), "fsagent: read-only, no capabilities, no-new-privileges")
c.check("seccomp:unconfined" in (fsa.get("security_opt") or []) or
        any(o.startswith("seccomp=") or o.startswith("seccomp:") for o in fsa.get("security_opt") or []),
        "fsagent gets a seccomp profile that lets io_uring through")
c.eq(fenv.get("FSAGENT_REDIS_HOST"), "redis", "fsagent's Redis host is the redis service")
c.eq(fenv.get("FSAGENT_STORAGE_TYPE"), "redis", "compose runs the Redis store")
redis_cmd = [interpolate(x) for x in services.get("redis", {}).get("command", [])]
c.check("--requirepass" in redis_cmd and redis_cmd[redis_cmd.index("--requirepass") + 1] ==
        fenv.get("FSAGENT_REDIS_PASSWORD"), "Redis requires the password fsagent sends")
c.eq(int(fenv.get("FSAGENT_REDIS_PORT", 0)), 6379, "fsagent's Redis port is Redis's")
col = services.get("otel-collector", {})
c.check(str(col.get("image", "")).startswith("otel/opentelemetry-collector-contrib:"), "the Collector is the contrib image")
col_cfg_path = re.search(r"--config=(\S+)", " ".join(col.get("command", []))).group(1)
mounts = {v.split(":")[1]: v.split(":")[0] for v in col.get("volumes", [])}
c.eq(mounts.get(col_cfg_path), "./otel-collector.yaml", "the Collector reads deploy/otel-collector.yaml")
ocfg = docs["otel-collector.yaml"][0]
pipe = ocfg["service"]["pipelines"]["metrics"]
c.check("otlp" in pipe["receivers"] and "prometheus" in pipe["exporters"], "metrics pipeline: otlp -> prometheus")
for kind in ("receivers", "processors", "exporters"):
    for name in pipe.get(kind, []):
        c.check(name in (ocfg.get(kind) or {}), "pipeline %s %s is defined" % (kind, name))
for name in ocfg["service"].get("extensions", []):
    c.check(name in (ocfg.get("extensions") or {}), "extension %s is defined" % name)
otlp_host, otlp_port = host_port(ocfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
ep_host, ep_port = host_port(fenv.get("OTEL_EXPORTER_OTLP_ENDPOINT", ":0"))
c.eq((ep_host, ep_port), ("otel-collector", otlp_port), "fsagent exports to the Collector's OTLP/gRPC port")
c.check(fenv.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").startswith("http://"), "plaintext h2c inside the compose network")
prom = ocfg["exporters"]["prometheus"]
_, prom_port = host_port(prom["endpoint"])
c.check(prom.get("add_metric_suffixes") is True, "Prometheus exporter adds unit/type suffixes (the dashboard's names)")
c.check("%d:%d" % (prom_port, prom_port) in col.get("ports", []), "the Collector publishes its Prometheus port")
c.check("%d:%d" % (otlp_port, otlp_port) in col.get("ports", []), "the Collector publishes its OTLP port")
pcfg = docs["prometheus.yml"][0]
targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in pcfg["scrape_configs"]}
c.eq(targets.get("otel-collector"), ["otel-collector:%d" % prom_port], "Prometheus scrapes the Collector's exporter")
c.eq(targets.get("fsagent"), ["fsagent:%d" % HTTP_PORT], "Prometheus scrapes fsagent's /metrics")
graf = services.get("grafana", {})
for v in graf.get("volumes", []) + services.get("prometheus", {}).get("volumes", []):
    c.check(os.path.exists(os.path.join(DEPLOY, v.split(":")[0])), "compose mount %s exists" % v.split(":")[0])
ds = docs[os.path.join("grafana", "provisioning", "datasources", "prometheus.yaml")][0]["datasources"][0]
c.eq(ds["url"], "http://prometheus:9090", "Grafana reads the prometheus service")
c.check("9090:9090" in services.get("prometheus", {}).get("ports", []), "Prometheus listens on 9090")
dprov = docs[os.path.join("grafana", "provisioning", "dashboards", "fsagent.yaml")][0]["providers"][0]
c.check(any(v.endswith(":" + dprov["options"]["path"] + "/fsagent.json:ro") for v in graf.get("volumes", [])),
        "the dashboard is mounted where the provisioning looks")

# ---- 4. Kubernetes ----
K = {}
for rel, ds_ in docs.items():
    if rel.startswith("k8s" + os.sep):
        for d in ds_:
            K.setdefault(d.get("kind"), []).append((rel, d))
for kind in ("Namespace", "ConfigMap", "Secret", "Deployment", "Service", "Kustomization"):
    c.eq(len(K.get(kind, [])), 1, "one %s manifest" % kind)
kust = K["Kustomization"][0][1]
k8s_files = sorted(f for f in os.listdir(os.path.join(DEPLOY, "k8s")) if f.endswith(".yaml") and f != "kustomization.yaml")
c.eq(sorted(kust["resources"]), k8s_files, "kustomization lists every manifest")
ns = K["Namespace"][0][1]["metadata"]["name"]
c.eq(kust.get("namespace"), ns, "kustomization namespace")
cm = K["ConfigMap"][0][1]
sec = K["Secret"][0][1]
dep = K["Deployment"][0][1]
svc = K["Service"][0][1]
cfg_text = cm["data"]["config.yaml"]
cfg = D.yaml.safe_load(cfg_text)


def keys(d, prefix=""):
    for k, v in d.items():
        yield prefix + k, v
        if isinstance(v, dict):
            yield from keys(v, prefix + k + ".")


schema = set(D.config_schema())
for k, v in keys(cfg):
    c.check(k in schema or any(s.startswith(k + ".") for s in schema), "ConfigMap key %s exists in config.c" % k)
    c.check(not k.endswith(("password", "headers")) and k != "freeswitch_instances",
            "ConfigMap holds no secret (%s)" % k)
pod = dep["spec"]["template"]
ctr = pod["spec"]["containers"][0]
c.eq(dep["spec"]["selector"]["matchLabels"], {"app.kubernetes.io/name": "fsagent"}, "Deployment selector")
c.check(all(pod["metadata"]["labels"].get(k) == v for k, v in dep["spec"]["selector"]["matchLabels"].items()),
        "the pod template carries the selector's labels")
c.check(all(pod["metadata"]["labels"].get(k) == v for k, v in svc["spec"]["selector"].items()),
        "the Service selects the pod")
c.eq(dep["spec"]["replicas"], 1, "one replica per instance list")
c.eq(dep["spec"]["strategy"]["type"], "Recreate", "no two agents on the same servers during a rollout")
ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
c.eq(ports.get("admin"), cfg["http"]["port"], "containerPort admin = the ConfigMap's http.port")
c.eq(cfg["http"]["port"], HTTP_PORT, "the ConfigMap keeps the EXPOSEd default port")
c.eq(ctr["livenessProbe"]["httpGet"], {"path": "/health", "port": "admin"}, "liveness probe: /health on admin")
c.eq(ctr["readinessProbe"]["httpGet"], {"path": "/ready", "port": "admin"}, "readiness probe: /ready on admin")
c.eq([(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]], [(HTTP_PORT, "admin")], "Service port")
ann = pod["metadata"].get("annotations", {})
c.eq((ann.get("prometheus.io/port"), ann.get("prometheus.io/path")), (str(HTTP_PORT), "/metrics"),
     "scrape annotations name the admin port and /metrics")
c.eq(ctr["args"], ["--config", "/etc/fsagent/config.yaml"], "args: the mounted config")
vm = {m["name"]: m for m in ctr["volumeMounts"]}
vol = {v["name"]: v for v in pod["spec"]["volumes"]}
c.check(vm.get("config", {}).get("mountPath") == "/etc/fsagent" and
        vol.get("config", {}).get("configMap", {}).get("name") == cm["metadata"]["name"] and
        vol["config"]["configMap"]["items"] == [{"key": "config.yaml", "path": "config.yaml"}],
        "the ConfigMap is mounted as /etc/fsagent/config.yaml")
psc, csc = pod["spec"]["securityContext"], ctr["securityContext"]
c.check(psc.get("runAsNonRoot") is True and csc.get("runAsNonRoot") is True, "runAsNonRoot")
c.eq(psc.get("runAsUser"), 10001, "runAsUser = the image's user")
c.check(csc.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
c.check(csc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
c.eq(csc.get("capabilities"), {"drop": ["ALL"]}, "every capability dropped")
c.check(csc.get("seccompProfile", {}).get("type") in ("Unconfined", "Localhost"),
        "a seccomp profile that lets io_uring through (containerd 2's RuntimeDefault does not)")
res = ctr["resources"]
c.check(all(k in res.get(x, {}) for x in ("requests", "limits") for k in ("cpu", "memory")), "requests and limits")
c.eq(int(str(res["limits"]["cpu"])), cfg["engine"]["worker_threads"], "worker_threads = the CPU limit")
c.check(cfg["engine"].get("pin_threads") is False, "no pinning in a shared cpuset")
secret_keys = set(sec["stringData"])
used, env = set(), {}
for e in ctr["env"]:
    c.check(e["name"] in ENV_NAMES, "Deployment variable %s is read by engine/config.c" % e["name"])
    ref = e.get("valueFrom", {}).get("secretKeyRef")
    if ref:
        c.eq(ref["name"], sec["metadata"]["name"], "%s comes from the Secret" % e["name"])
        c.check(ref["key"] in secret_keys, "Secret has key %s" % ref["key"])
        used.add(ref["key"])
        env[e["name"]] = sec["stringData"].get(ref["key"], "")
    else:
        env[e["name"]] = str(e["value"])
c.eq(used, secret_keys, "every Secret key is used by the Deployment")
c.eq(int(env.get("FSAGENT_HTTP_PORT", 0)), cfg["http"]["port"], "FSAGENT_HTTP_PORT = http.port")
for secret_var in ("FSAGENT_FREESWITCH_INSTANCES", "FSAGENT_REDIS_PASSWORD", "OTEL_EXPORTER_OTLP_HEADERS"):
    c.check("valueFrom" in next((e for e in ctr["env"] if e["name"] == secret_var), {}),
            "%s only by reference to the Secret" % secret_var)
cm_file = os.path.join(tmp, "k8s-config.yaml")
with open(cm_file, "w") as f:
    f.write(cfg_text)
check_config(cm_file, env, "the ConfigMap's config.yaml with the Deployment's environment",
             len(json.loads(sec["stringData"]["freeswitch-instances"])))

shutil.rmtree(tmp, ignore_errors=True)
c.finish()
