"""Exporter over TLS to grpc-js: a certificate made here with the openssl CLI,
trusted through opentelemetry.ca_file; host name and IP verification; refusal
of an untrusted or mismatched certificate (counted, named in last_error, never
delivered); mutual TLS with a client certificate."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "receiver"))
import exporttest as X  # noqa: E402

c = X.Checks()
X.ensure_deps()
d = tempfile.mkdtemp(prefix="fsa-tls-")
ca_crt, ca_key = X.make_cert(d, "ca", "fsagent test CA", None)
srv_crt, srv_key = X.make_cert(d, "server", "localhost", ["DNS:localhost", "IP:127.0.0.1"], ca=(ca_crt, ca_key))
other_crt, other_key = X.make_cert(d, "other", "other.example", ["DNS:other.example"], ca=(ca_crt, ca_key))
cli_crt, cli_key = X.make_cert(d, "client", "fsagent-client", ["DNS:fsagent-client"], ca=(ca_crt, ca_key))
FAST = ["--legs", 4, "--reports", 2, "--interval-ms", 100, "--agg-interval-ms", 600000,
        "--reconnect-initial-ms", 100, "--reconnect-max-ms", 200]

rx = X.Receiver("--tls-cert", srv_crt, "--tls-key", srv_key)
# By name: SNI + host name verification against DNS:localhost.
final, info, err = X.run_driver("localhost:%d" % rx.port, "--tls", "--ca", ca_crt, *FAST)
c.check(final and final["points_exported"] > 0, "TLS by name delivers")
c.eq(final["points_exported"], X.count_points(rx.ok_requests()), "every point arrived over TLS")
c.eq(final["connect_failures"], 0, "no TLS failure")
c.eq(final["batches_failed"], {}, "no call failed")
n_before = len(rx.lines())
# By address: verification against IP:127.0.0.1.
final, info, err = X.run_driver("127.0.0.1:%d" % rx.port, "--tls", "--ca", ca_crt, *FAST)
c.check(final["points_exported"] > 0 and final["connect_failures"] == 0, "TLS by IP address delivers")
c.eq(final["points_exported"], X.count_points(rx.ok_requests()[n_before:]), "every point arrived (IP)")

# Not trusted (no CA file; the system store does not know our CA): refused, counted, named.
n_before = len(rx.lines())
final, info, err = X.run_driver("localhost:%d" % rx.port, "--tls", "--stop-deadline-ms", 800, *FAST)
c.eq(final["points_exported"], 0, "untrusted server gets nothing")
c.check(final["connect_failures"] >= 1, "TLS failure counted: %r" % final["connect_failures"])
c.check("certificate verify failed" in final["last_error"], "last_error names it: %r" % final["last_error"])
c.eq(final["points_dropped"]["shutdown"], final["points_encoded"], "undelivered points counted at stop")
c.eq(len(rx.lines()), n_before, "the receiver saw no request")
rx.stop()

# A trusted certificate for another name: host name mismatch.
rx = X.Receiver("--tls-cert", other_crt, "--tls-key", other_key)
final, info, err = X.run_driver("localhost:%d" % rx.port, "--tls", "--ca", ca_crt, "--stop-deadline-ms", 800, *FAST)
c.eq(final["points_exported"], 0, "mismatched name gets nothing")
c.check("certificate verify failed" in final["last_error"], "mismatch named: %r" % final["last_error"])
c.eq(rx.lines(), [], "no request to the mismatched server")
rx.stop()

# Mutual TLS: the server asks for a client certificate signed by the CA.
rx = X.Receiver("--tls-cert", srv_crt, "--tls-key", srv_key, "--client-ca", ca_crt)
final, info, err = X.run_driver("localhost:%d" % rx.port, "--tls", "--ca", ca_crt, "--client-cert", cli_crt,
                                "--client-key", cli_key, *FAST)
c.check(final["points_exported"] > 0 and final["batches_failed"] == {}, "mTLS delivers")
c.eq(final["points_exported"], X.count_points(rx.ok_requests()), "every point arrived (mTLS)")
final, info, err = X.run_driver("localhost:%d" % rx.port, "--tls", "--ca", ca_crt, "--stop-deadline-ms", 800, *FAST)
c.eq(final["points_exported"], 0, "without a client certificate: nothing")
c.check(final["last_error"] != "", "and an error: %r" % final["last_error"])
rx.stop()

# A CA file that does not load is refused at create, naming the key.
final, info, err = X.run_driver("localhost:1", "--tls", "--ca", os.path.join(d, "missing.pem"), *FAST,
                                expect_fail=True)
c.check(final is None and "opentelemetry.ca_file" in err, "bad CA file refused at start")

c.finish()
