"""Redis down for 30 s under load (storage: redis).

Two FreeSWITCH instances carry 60 calls each while redis-server is stopped for 30 s and then
started again on the same port. The agent keeps working from memory: it stays up, every event
fssim sent is processed, every leg of every completed call exports its QoS point, memory stays
bounded. The store's books balance exactly (each save and delete the workers asked for ended
ok, error or dropped, nothing in between), the outage is logged once per state change rather
than once per operation, and the store is back up at the end."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402
from fsatest import (SLOW, Checks, Proc, free_ports, last_stats, log_lines, start_agent, start_fssim,  # noqa: E402
                     stop_fssims, wait_for)
from test_e2e_redis import Redis  # noqa: E402
from test_fault_load import KINDS, rss_kib  # noqa: E402
import admintest as A  # noqa: E402

CALLS = 60
WORKERS = 2  # agent_config's engine.worker_threads


def main():
    c = Checks()
    X.ensure_deps()
    r = Redis()
    rx = X.Receiver()
    ports = [free_ports(1) for _ in range(2)]
    sims = [start_fssim(p, "--calls", 20, "--cps", 10, "--call-duration", 10, "--duration-jitter", 0.5,
                        "--total-calls", CALLS, "--rtcp-interval-ms", 1000, "--heartbeat", 1, "--seed", i + 3)
            for i, p in enumerate(ports)]
    otel = ("opentelemetry: {endpoint: \"127.0.0.1:%d\", insecure: true, batch_interval_ms: 200, timeout_ms: 5000}\n"
            % rx.port)
    storage = "storage: {type: redis, redis: {host: 127.0.0.1, port: %d, timeout_ms: 200}}\n" % r.port
    http_port = free_ports(1)
    agent = start_agent(A.admin_config(ports, http_port, otel=otel, extra=storage))
    time.sleep(5)
    r.stop()
    t0 = time.time()
    peak, alive = 0, True
    while time.time() - t0 < 30:
        peak = max(peak, rss_kib(agent.p.pid))
        alive = alive and agent.alive()
        time.sleep(0.5)
    c.check(alive, "agent alive through 30 s without Redis")
    down = last_stats(agent, "stats")
    r.proc = Proc(["redis-server", "--port", str(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                  name="redis")
    c.check(wait_for(lambda: r.cmd("PING") == "+PONG", 10), "redis-server back on the same port")

    def all_hung_up():
        st = last_stats(agent, "stats")
        return st and all(st["instances"]["fs%d" % (i + 1)]["published"]["CHANNEL_HANGUP_COMPLETE"] >= 2 * CALLS
                          for i in range(2))
    c.check(wait_for(all_hung_up, 120 * SLOW, step=0.5), "every call hung up")
    c.check(wait_for(lambda: (last_stats(agent, "stats") or {}).get("calc", {}).get("redis", {}).get("state") == "up",
                     15 * SLOW), "the store reconnected")
    time.sleep(2)
    peak = max(peak, rss_kib(agent.p.pid))
    status, _, body = A.request(http_port, "/metrics")
    prom = A.parse_prom(body) if status == 200 else {}
    rc = agent.stop()
    final = last_stats(agent)
    sums = stop_fssims(sims)
    reqs = rx.ok_requests()
    rx.stop()
    r.stop()
    c.eq(rc, 0, "exit code")
    c.check(peak < 300 * 1024 * (2 if SLOW > 1 else 1), "peak RSS %d KiB bounded" % peak)
    if not c.check(final is not None and down is not None and all(sums), "counters and summaries"):
        agent.dump()
        c.finish()

    # Every event arrived and was processed; every leg's QoS was exported.
    for i, summ in enumerate(sums):
        name = "fs%d" % (i + 1)
        inst = final["instances"][name]
        for k in KINDS:
            c.eq(inst["published"].get(k, 0), summ["instances"][0]["events_sent"].get(k, 0), "%s %s all arrived" % (name, k))
        c.eq(inst["processed"], inst["published"], "%s processed = published" % name)
    legs = 2 * sum(s["instances"][0]["calls_completed"] for s in sums)
    qos = set()
    for _, m in X.metrics(reqs):
        if m["name"] == "freeswitch.qos.mos_score":
            qos.update(X.attrs(dp["attributes"])["channel_id"] for dp in X.points(m)[1])
    c.eq(len(qos), legs, "a QoS point for every leg of every completed call")
    c.eq(sum(final["export"]["points_dropped"].values()), 0, "no export drop")

    # The store's books.
    calc = final["calc"]
    rs = calc["redis"]
    c.eq(sum(rs["ops"]["save"].values()), calc["store"]["saves"], "every save ended ok, error or dropped")
    c.eq(sum(rs["ops"]["delete"].values()), calc["store"]["deletes"], "every delete ended ok, error or dropped")
    c.eq(sum(rs["ops"]["load"].values()), calc["store"]["loads"], "every load ended ok, error or dropped")
    c.check(rs["ops"]["save"]["error"] + rs["ops"]["save"]["dropped"] > 0, "saves failed during the outage: %r" %
            rs["ops"]["save"])
    c.check(rs["ops"]["save"]["ok"] > down["calc"]["redis"]["ops"]["save"]["ok"], "saves ok again after the outage")
    c.check(rs["connect_failures"] >= WORKERS, "failed connects counted: %d" % rs["connect_failures"])
    c.check(rs["reconnects"] >= WORKERS, "each worker reconnected: %d" % rs["reconnects"])
    c.eq(rs["state"], "up", "store up at the end")
    # /metrics shows the same books (read just before the stop, so at most a few saves behind).
    c.eq(A.sample(prom, "fsagent_storage_redis_up"), 1.0, "/metrics: fsagent_storage_redis_up 1")
    for res in ("error", "dropped"):
        c.eq(A.sample(prom, "fsagent_storage_redis_operations_total", operation="save", result=res),
             float(rs["ops"]["save"][res]), "/metrics: save %s count (no save fails after recovery)" % res)
    c.check((A.sample(prom, "fsagent_storage_redis_reconnects_total") or 0) >= WORKERS, "/metrics: reconnects")
    lines = [l for l in log_lines(agent) if str(l.get("instance", "")).startswith("redis.w")]
    c.check(1 <= len(lines) <= 4 * WORKERS, "the outage is logged per state change, not per operation (%d lines)" %
            len(lines))
    if c.failed:
        agent.dump()
    c.finish()


if __name__ == "__main__":
    main()
