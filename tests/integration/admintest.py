"""Helpers for the admin server's tests (test_admin_*.py): an agent config with
the admin server on, plain HTTP requests, and a Prometheus text parser."""
import http.client
import json
import re

from fsatest import agent_config


def admin_config(fs_ports, http_port, **kw):
    """fsatest's agent config (exporter sent nowhere) with the admin server on 127.0.0.1:http_port."""
    text = agent_config(fs_ports, **kw)
    assert "http: {port: 0}" in text
    return text.replace("http: {port: 0}", "http: {port: %d, bind: 127.0.0.1}" % http_port)


def request(port, path, method="GET", timeout=5.0):
    """(status, {lower-case header: value}, body text); raises OSError when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def get_json(port, path):
    status, headers, body = request(port, path)
    return status, headers, json.loads(body)


def answers(port):
    try:
        request(port, "/ready", timeout=1.0)
        return True
    except (OSError, http.client.HTTPException):
        return False


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prom(text):
    """{(name, ((label, value), ...) sorted): float} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError("not a sample line: %r" % line)
        labels = tuple(sorted(_LABEL.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def sample(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def report(c, agent, rc):
    """The agent's exit code after SIGTERM (0), its log on failure, the tally."""
    c.eq(rc, 0, "fsagent exit code after SIGTERM")
    if c.failed:
        agent.dump()
    c.finish()
