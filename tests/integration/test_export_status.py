"""How the exporter treats what a real gRPC server answers: UNAUTHENTICATED
(wrong or missing header) and INVALID_ARGUMENT are counted and never retried;
RESOURCE_EXHAUSTED is retried only with RetryInfo, after the delay it asks
for; UNAVAILABLE is retried with backoff, counted exactly; partial success
counts the rejected points and is not retried; a slow server hits the
deadline (DEADLINE_EXCEEDED, retried)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402

c = X.Checks()
X.ensure_deps()
# Everything in one request, sent at stop: the counts below are exact.
ONE = ["--legs", 6, "--reports", 2, "--interval-ms", 600000, "--agg-interval-ms", 600000,
       "--retry-initial-ms", 50, "--retry-max-ms", 200, "--stop-deadline-ms", 8000]


def statuses(rx):
    return [l["status"] for l in rx.lines()]


# Required header missing: UNAUTHENTICATED, not retried, every point dropped as non-retryable.
rx = X.Receiver("--require-header", "x-api-key=right-key")
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, *ONE, "--header", "x-api-key=wrong-key")
c.eq(statuses(rx), ["UNAUTHENTICATED"], "one attempt, refused")
c.eq(final["batches_failed"], {"UNAUTHENTICATED": 1}, "UNAUTHENTICATED counted")
c.eq(final["batches_retried"], {}, "not retried")
c.eq(final["batches_sent"], 1, "one call")
c.eq(final["points_dropped"]["non_retryable"], final["points_encoded"], "points dropped as non-retryable")
c.eq(final["points_exported"], 0, "nothing exported")
c.check("UNAUTHENTICATED" in final["last_error"], "last_error: %r" % final["last_error"])
c.check("wrong-key" not in err and "right-key" not in err, "no header value in the log")
# With the right value it goes through.
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, *ONE, "--header", "x-api-key=right-key")
c.eq(statuses(rx)[1:], ["OK"], "accepted with the header")
c.eq(final["points_exported"], final["points_encoded"], "all exported")
rx.stop()

# UNAVAILABLE for the first 3 calls: exactly 3 retries, then the same data once.
rx = X.Receiver("--fail-first", 3)
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, *ONE)
c.eq(statuses(rx), ["UNAVAILABLE"] * 3 + ["OK"], "3 refusals then OK")
c.eq(final["batches_failed"], {"UNAVAILABLE": 3}, "3 failures counted")
c.eq(final["batches_retried"], {"UNAVAILABLE": 3}, "3 retries counted")
c.eq(final["batches_sent"], 4, "4 calls")
c.eq(final["batches_ok"], 1, "1 success")
c.eq(final["points_exported"], final["points_encoded"], "everything delivered after the retries")
reqs = [l["request"] for l in rx.lines()]
c.eq(reqs[0], reqs[3], "the retry resends the same request")
times = [l["time_ms"] for l in rx.lines()]
gaps = [b - a for a, b in zip(times, times[1:])]
# Backoff 50, 100, 200 ms, each jittered down to half at most.
c.check(gaps[0] >= 20 and gaps[1] >= 45 and gaps[2] >= 95, "exponential backoff between attempts: %r" % gaps)
rx.stop()

# RESOURCE_EXHAUSTED without RetryInfo: final.
rx = X.Receiver("--fail-first", 1, "--fail-code", "RESOURCE_EXHAUSTED")
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, *ONE)
c.eq(statuses(rx), ["RESOURCE_EXHAUSTED"], "RESOURCE_EXHAUSTED without RetryInfo: one attempt")
c.eq(final["batches_retried"], {}, "not retried")
c.eq(final["points_dropped"]["non_retryable"], final["points_encoded"], "dropped as non-retryable")
rx.stop()

# RESOURCE_EXHAUSTED with RetryInfo (400 ms): retried after the server's delay, not our 50 ms.
rx = X.Receiver("--fail-first", 2, "--fail-code", "RESOURCE_EXHAUSTED", "--retry-delay-ms", 400)
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, *ONE)
c.eq(statuses(rx), ["RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED", "OK"], "retried with RetryInfo")
c.eq(final["batches_retried"], {"RESOURCE_EXHAUSTED": 2}, "2 retries counted")
times = [l["time_ms"] for l in rx.lines()]
c.check(all(b - a >= 380 for a, b in zip(times, times[1:])), "RetryInfo delay honoured: %r" % times)
c.eq(final["points_exported"], final["points_encoded"], "delivered")
rx.stop()

# INVALID_ARGUMENT: never retried.
rx = X.Receiver("--fail-first", 5, "--fail-code", "INVALID_ARGUMENT", "--retry-delay-ms", 10)
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, *ONE)
c.eq(statuses(rx), ["INVALID_ARGUMENT"], "INVALID_ARGUMENT: one attempt, even with RetryInfo")
c.eq(final["batches_failed"], {"INVALID_ARGUMENT": 1}, "counted")
c.eq(final["batches_retried"], {}, "not retried")
rx.stop()

# Partial success (field 1 of the response, absent from the npm protos): counted, not retried.
rx = X.Receiver("--partial-reject", 3, "--partial-message", "3 points had bad names")
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, *ONE)
c.eq(statuses(rx), ["OK"], "one call")
c.eq(final["points_rejected"], 3, "rejected points counted")
c.eq(final["partial_successes"], 1, "partial success counted")
c.eq(final["points_exported"], final["points_encoded"] - 3, "the rest counted as exported")
c.eq(final["batches_retried"], {}, "not retried")
c.check("3 points had bad names" in err, "the collector's message is logged")
rx.stop()

# A server slower than the timeout: DEADLINE_EXCEEDED, retried; what is left at stop is counted.
rx = X.Receiver("--delay-ms", 3000)
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, "--legs", 2, "--reports", 1, "--interval-ms", 600000,
                                "--agg-interval-ms", 600000, "--timeout-ms", 300, "--retry-initial-ms", 50,
                                "--retry-max-ms", 100, "--reconnect-initial-ms", 50, "--stop-deadline-ms", 1500)
c.check(final["batches_failed"].get("DEADLINE_EXCEEDED", 0) >= 2, "deadline hits counted: %r" % final["batches_failed"])
c.eq(final["batches_retried"].get("DEADLINE_EXCEEDED"), final["batches_failed"].get("DEADLINE_EXCEEDED"),
     "each retried")
c.eq(final["points_exported"], 0, "nothing acknowledged in time")
c.eq(final["points_dropped"]["shutdown"], final["points_encoded"], "left over at the stop deadline, counted")
c.check(final["last_error"] != "", "error recorded")
rx.stop()

c.finish()
