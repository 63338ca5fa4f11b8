/*
 * grpc_client: one HTTP/2 connection to an OTLP/gRPC collector, many
 * concurrent Export calls on it. The exporter thread drives it from its own
 * poll loop: it asks for the fd and the events to wait for, and hands back
 * what poll saw. Nothing here blocks except name resolution (getaddrinfo at
 * connect time, in the exporter thread only; workers never wait on it).
 *
 * Transport: h2c with prior knowledge when the config says insecure, else
 * TLS (OpenSSL): ALPN "h2" required, the system CA store plus an optional CA
 * file, optional client certificate and key, SNI and host name (or IP)
 * verification against the endpoint's host.
 *
 * A call ends exactly once, through the done callback, with a
 * fsa_grpc_result: the server's grpc-status (from trailers, or from a
 * Trailers-Only HEADERS frame), else the code mapped from a non-200 :status,
 * from a stream reset, from our deadline, or UNAVAILABLE when the connection
 * failed under it. done is called from inside fsa_grpc_client_io / _tick /
 * _close; it must not call back into the client.
 *
 * Thread contract: every function is for the exporter thread only, except
 * fsa_grpc_client_last_error's buffer, which the exporter copies out itself.
 */
#ifndef FSA_EXPORT_GRPC_CLIENT_H
#define FSA_EXPORT_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/config.h"
#include "grpc.h"

enum fsa_grpc_conn_state {
    FSA_GRPC_CONN_DOWN = 0,    /* no socket */
    FSA_GRPC_CONN_CONNECTING,  /* TCP connect in progress */
    FSA_GRPC_CONN_HANDSHAKING, /* TLS handshake in progress */
    FSA_GRPC_CONN_READY,       /* HTTP/2 session up: calls may start */
    FSA_GRPC_CONN_DRAINING,    /* GOAWAY seen or sent: open calls finish, no new ones */
};

const char *fsa_grpc_conn_state_name(int state);

struct fsa_grpc_result {
    int code;                                 /* enum fsa_grpc_code */
    int http_status;                          /* 0 when no :status came */
    bool transport;                           /* no answer from the server: connection failure, reset or our deadline */
    bool has_retry_info;                      /* grpc-status-details-bin carried google.rpc.RetryInfo */
    uint64_t retry_delay_ms;                  /* its retry_delay */
    char message[256];                        /* percent-decoded grpc-message, or what went wrong locally */
    struct fsa_grpc_export_response response; /* code OK: partial_success, if any */
};

typedef void (*fsa_grpc_done_fn)(void *ctx, void *call_ctx, const struct fsa_grpc_result *r);

struct fsa_grpc_client_params {
    const struct fsa_otel_config *otel; /* endpoint, insecure, CA/client cert, headers, timeout, gzip */
    unsigned max_streams;               /* our cap on concurrent calls (the server's may be lower) */
    unsigned connect_timeout_ms;        /* TCP + TLS; 0: otel->timeout_ms */
    const char *user_agent;             /* NULL: "fsagent/<version>" */
    fsa_grpc_done_fn done;
    void *done_ctx;
};

struct fsa_grpc_client;

/* Loads TLS material now, so a bad CA or key file fails at start. NULL or a reason (*errbuf has details). */
const char *fsa_grpc_client_create(const struct fsa_grpc_client_params *p, struct fsa_grpc_client **out, char *errbuf,
                                   size_t errcap);
/* Closes the connection first (open calls end with CANCELLED). */
void fsa_grpc_client_destroy(struct fsa_grpc_client *c);

int fsa_grpc_client_state(const struct fsa_grpc_client *c);

/* Starts connecting (state DOWN only): 0, or -errno with the reason in last_error (state stays DOWN). */
int fsa_grpc_client_connect(struct fsa_grpc_client *c, uint64_t now_ns);

/* For poll: the socket (-1 when DOWN) and the events to wait for. */
int fsa_grpc_client_fd(const struct fsa_grpc_client *c);
short fsa_grpc_client_events(const struct fsa_grpc_client *c);

/* What poll saw on the fd. Failures close the connection (see last_error). */
void fsa_grpc_client_io(struct fsa_grpc_client *c, short revents, uint64_t now_ns);

/* Calls that may start now: 0 unless READY. */
unsigned fsa_grpc_client_room(const struct fsa_grpc_client *c);
unsigned fsa_grpc_client_open_calls(const struct fsa_grpc_client *c);

/*
 * Starts an Export call whose DATA is msg[len] (5-byte prefix included;
 * msg[0] is the compressed flag). msg must stay valid until done. 0 or
 * -errno (-EAGAIN: no room).
 */
int fsa_grpc_client_call(struct fsa_grpc_client *c, const uint8_t *msg, size_t len, void *call_ctx, uint64_t now_ns);

/* Deadlines and the connect timeout. Returns the next time it needs calling (ns), UINT64_MAX if none. */
uint64_t fsa_grpc_client_tick(struct fsa_grpc_client *c, uint64_t now_ns);

/* Graceful: GOAWAY, open calls finish, then the connection closes. */
void fsa_grpc_client_shutdown(struct fsa_grpc_client *c);
/* Abrupt: every open call ends with `code` (UNAVAILABLE or CANCELLED) and the connection closes. */
void fsa_grpc_client_close(struct fsa_grpc_client *c, int code, const char *why);

/*
 * Whether the last connection got as far as a frame from the server (a
 * good connection resets the reconnect backoff), and whether it ended by a
 * GOAWAY with NO_ERROR (reconnect at once).
 */
bool fsa_grpc_client_was_good(const struct fsa_grpc_client *c);
bool fsa_grpc_client_was_graceful(const struct fsa_grpc_client *c);

/* Last connection-level error text (never a header value); "" if none. */
const char *fsa_grpc_client_last_error(const struct fsa_grpc_client *c);

#endif
