"""Helpers for the packaging tests (test_install.py, test_deploy.py, test_dashboard.py):
what the code says, read from the code itself, so the files an operator gets
(example config, man page, unit, manifests, dashboard) are checked against it
and not against a second list kept by hand.

  config_schema()   every YAML key path of engine/config.c's field tables, with
                    its kind and the default fsa_config_defaults() sets
  env_names()       every environment variable engine/config.c reads
  otlp_catalogue()  every OTLP metric export/otlp.c defines (name, unit, type)
  prom_names()      the names an OpenTelemetry Collector's Prometheus exporter
                    gives an OTLP metric
  load_yaml_all()   PyYAML (Debian's python3-yaml); re-runs the test under
                    /usr/bin/python3 if the python3 in PATH has no yaml module
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("FSA_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))

try:
    import yaml  # noqa: F401
except ImportError:  # pyenv/venv python without PyYAML: Debian's python3 has python3-yaml
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise


# What an operator's shell would hand the agent: no FSAGENT_*/OTEL_* from the test's
# environment, but the sanitizer options of a sanitizer build.
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
CLEAN_ENV.update({k: v for k, v in os.environ.items()
                  if k in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS")})


def run(argv, env=None, cwd=None, timeout=300):
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def load_yaml_all(path):
    """Every document of a YAML file (a k8s manifest may hold several)."""
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---- engine/config.c -------------------------------------------------------

def _c_int(expr):
    """A C integer constant expression as config.c writes them: 8192, 1u << 20, (size_t)64 << 20."""
    e = re.sub(r"\((?:size_t|unsigned|int|uint64_t)\)", "", expr)
    e = re.sub(r"(?<=\d)(?:ull|ul|u|ll|l)\b", "", e, flags=re.I)
    if not re.fullmatch(r"[\d\s<>*+()]+", e):
        raise ValueError("not a constant: %r" % expr)
    return eval(e)  # digits, shifts and parentheses only (checked above)


def config_schema():
    """{key path: {"kind", "member", "table", "words", "default"}} for every leaf key of the
    YAML schema; instance keys are "freeswitch_instances[].name" etc. A default of None means
    the code computes it at run time (worker_threads: CPUs; agent_id: host name)."""
    src = read("engine/config.c")
    words = {m.group(1): re.findall(r'"([^"]*)"', m.group(2))
             for m in re.finditer(r"static const char \*const (\w+)\[\] = \{([^}]*)\}", src)}
    tables = dict(re.findall(r"static const struct table (\w+)_table = TABLE\((\w+)_fields", src))
    fields = {}
    for m in re.finditer(r"static const struct field (\w+)_fields\[\] = \{(.*?)\n\};", src, re.S):
        entries = []
        for fm in re.finditer(r"^\s*F_(\w+)\((.*)\),?\s*(?:/\*.*\*/)?$", m.group(2), re.M):
            macro, args = fm.group(1), [a.strip() for a in fm.group(2).split(",")]
            if macro == "NUM":
                kind, key, member = args[0], args[1], args[3]
            else:
                kind, key = macro, args[0]
                # a custom field's member is named as its key (o->endpoint, o->insecure)
                member = args[2] if macro in ("STR", "BOOL", "ENUM") else key.strip('"')
            sub = re.search(r"&(\w+)_table", fm.group(2)) if macro == "MAP" else None
            entries.append({"kind": kind, "key": key.strip('"'), "member": member,
                            "sub": sub.group(1) if sub else None,
                            "words": words.get(args[3]) if macro == "ENUM" else None})
        fields[m.group(1)] = entries
    schema = {}

    def walk(table, prefix):
        for f in fields[tables[table]]:
            path = prefix + f["key"]
            if f["kind"] == "MAP":
                walk(f["sub"], path + ".")
            elif f["key"] == "freeswitch_instances":
                walk("instance", path + "[].")
            else:
                schema[path] = {"kind": f["kind"], "member": f["member"], "table": table, "words": f["words"],
                                "default": None}
    walk("root", "")

    # Defaults: everything starts zeroed (memset), then fsa_config_defaults() and instance_defaults().
    for info in schema.values():
        info["default"] = {"STR": "", "BOOL": False, "ENUM": info["words"][0] if info["words"] else None,
                           "CUSTOM": None}.get(info["kind"], 0)
    schema["opentelemetry.headers"]["default"] = {}  # nheaders = 0
    owner = {"cfg->redis.": ["redis"], "cfg->": ["storage", "http", "logging", "events", "metrics", "emodel"],
             "o->": ["otel"], "e->": ["engine"], "in->": ["instance"]}
    body = re.search(r"void fsa_config_defaults\(struct fsa_config \*cfg\)\n\{(.*?)\n\}", src, re.S).group(1)
    body += re.search(r"static void instance_defaults\(struct fsa_instance_config \*in\)\n\{(.*?)\n\}",
                      src, re.S).group(1)
    sets = re.findall(r"^\s*(cfg->redis\.|cfg->|o->|e->|in->)(\w+) = (.+);$", body, re.M)
    sets += [(p, m, '"%s"' % v) for p, m, v in
             re.findall(r'^\s*memcpy\((cfg->redis\.|cfg->|o->|e->|in->)(\w+), "([^"]*)"', body, re.M)]
    for prefix, member, value in sets:
        hits = [p for p, i in schema.items() if i["member"] == member and i["table"] in owner[prefix]]
        if len(hits) != 1:
            continue  # e.g. o->scheme_set: not a key
        info = schema[hits[0]]
        v = value.strip()
        if v.startswith('"'):
            info["default"] = v.strip('"')
        elif v in ("true", "false"):
            info["default"] = (v == "true") if info["words"] is None else info["words"][v == "true"]
        elif re.fullmatch(r"FSA_\w+", v):
            info["default"] = v.rsplit("_", 1)[1].lower()  # FSA_LOG_INFO -> info
        else:
            try:
                info["default"] = _c_int(v)
            except ValueError:
                info["default"] = None  # computed at run time (worker_threads)
    for dynamic in ("opentelemetry.agent_id",):  # filled from gethostname()
        schema[dynamic]["default"] = None
    return schema


def env_names():
    """Every variable name in engine/config.c's env_names[] table."""
    src = read("engine/config.c")
    block = re.search(r"env_names\[E_COUNT\] = \{(.*?)\n\};", src, re.S).group(1)
    defines = dict(re.findall(r'#define (\w+) "([A-Z_]+)"', src))
    names = re.findall(r'\] = "([A-Z_]+)"', block)
    names += [defines[d] for d in re.findall(r"\] = ([A-Z_]+),", block)]
    return names


def config_default_http_port():
    return config_schema()["http.port"]["default"]


# ---- export/otlp.c ---------------------------------------------------------

def otlp_catalogue():
    """[(name, unit, kind)] from fsa_otlp_metric_defs; kind is gauge, sum or histogram."""
    src = read("export/otlp.c")
    block = re.search(r"fsa_otlp_metric_defs\[FSA_M_COUNT\] = \{(.*?)\n\};", src, re.S).group(1)
    kinds = {"G": "gauge", "S": "sum", "H": "histogram"}
    out = []
    for m in re.finditer(r'\{"([^"]+)", "([^"]*)",\s*(?:"(?:[^"\\]|\\.)*"\s*)+,\s*([GSH]),', block):
        out.append((m.group(1), m.group(2), kinds[m.group(3)]))
    return out


# ---- the Collector's Prometheus exporter -----------------------------------
# Restated from opentelemetry-collector-contrib pkg/translator/prometheus
# (normalize_name.go; the same rules live on in prometheus/otlptranslator's
# MetricNamer with suffixes on), which the prometheus exporter applies with its
# default add_metric_suffixes: true:
#   - the name is split into tokens at every character that is not a letter or
#     digit, and the tokens joined with "_";
#   - the unit is split at "/": the main unit is appended when it is not blank,
#     has no {annotation}, maps to a non-empty word (ms -> milliseconds,
#     By -> bytes, 1 -> nothing, ...) and that word is not a token already;
#     the per unit likewise as "per_<word>" (s -> second);
#   - a monotonic sum gets "total" (moved to the end if it is a token already);
#   - a gauge whose unit is exactly "1" gets "ratio" (moved to the end likewise);
#   - histograms are exposed as <name>_bucket, <name>_sum, <name>_count.
UNIT_WORDS = {"d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
              "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes",
              "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes",
              "GBy": "gigabytes", "TBy": "terabytes", "m": "meters", "V": "volts", "A": "amperes", "J": "joules",
              "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent"}
PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}


def _tokens(s):
    return [t for t in re.split(r"[^A-Za-z0-9]+", s) if t]


def prom_base_name(name, unit, kind, monotonic=False):
    toks = _tokens(name)
    parts = unit.split("/", 1)
    main = parts[0].strip()
    if main and "{" not in main and "}" not in main:
        word = "_".join(_tokens(UNIT_WORDS.get(main, main)))
        if word and word not in toks:
            toks.append(word)
    if len(parts) > 1 and parts[1].strip():
        per = parts[1].strip()
        if "{" not in per and "}" not in per:
            word = "_".join(_tokens(PER_UNIT_WORDS.get(per, per)))
            if word and word not in toks:
                toks += ["per", word]
    if kind == "sum" and monotonic:
        toks = [t for t in toks if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        toks = [t for t in toks if t != "ratio"] + ["ratio"]
    out = "_".join(toks)
    return "_" + out if out[:1].isdigit() else out


def prom_names(name, unit, kind, monotonic=False):
    """The series names Prometheus will hold for one OTLP metric."""
    base = prom_base_name(name, unit, kind, monotonic)
    if kind == "histogram":
        return [base + "_bucket", base + "_sum", base + "_count"]
    return [base]
