/*
 * grpc_client: gRPC over HTTP/2 by hand, on nghttp2 and OpenSSL.
 *
 * Connection life: DOWN -> connect() resolves the endpoint and starts a
 * non-blocking connect to each address in turn -> CONNECTING -> (TLS only)
 * HANDSHAKING -> READY: the nghttp2 client session sends the preface and our
 * SETTINGS, calls go out as streams. A GOAWAY from the server moves to
 * DRAINING (nghttp2 itself fails the streams the server will not process,
 * with REFUSED_STREAM, which maps to UNAVAILABLE and so is retried); once
 * the open calls are done the connection closes. Any I/O or protocol error
 * closes it at once, ending every open call with UNAVAILABLE. Reconnecting
 * and its backoff are the exporter's business.
 *
 * Bytes: reads go straight into nghttp2_session_mem_recv; writes take what
 * nghttp2_session_mem_send produces and keep only an unwritten tail in
 * `out` (for TLS the retry then passes exactly the same bytes again, as
 * SSL_write wants). A request's DATA is copied from the queued message by
 * the data provider, frame by frame, under HTTP/2 flow control.
 *
 * A call: HEADERS (:method POST, :scheme, :path, :authority, content-type
 * application/grpc, te trailers, grpc-timeout, user-agent, grpc-encoding
 * gzip when compressing, then the configured headers, marked never-indexed
 * since they are usually credentials) and DATA (the framed message). The
 * answer's status is read from whichever HEADERS frame carries grpc-status:
 * trailers normally, the only HEADERS frame for Trailers-Only errors. Header
 * values we send are never logged; what the server sends back (grpc-message)
 * is cleaned of control bytes before anyone logs it.
 *
 * Dead peers: each call has a deadline (the configured timeout, also sent as
 * grpc-timeout). At the deadline the stream is reset (DEADLINE_EXCEEDED);
 * if nothing at all arrived on the connection since that call started, the
 * connection is presumed dead and closed, so a vanished collector is noticed
 * within one timeout rather than by TCP many minutes later.
 */
#include "grpc_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"

#ifndef FSA_VERSION
#define FSA_VERSION "0.0.0"
#endif

#define READ_CHUNK 16384
#define BODY_MAX 8192
#define DETAILS_MAX 4096
#define RST_GRACE_NS 2000000000ull /* a reset stream that has not closed by then: the connection is stuck */
#define MAX_FIXED_HEADERS 9

struct call {
    struct fsa_grpc_client *c;
    bool in_use;
    int32_t stream_id;
    void *ctx;
    const uint8_t *msg;
    size_t len, off;
    uint64_t deadline_ns;
    uint64_t recv_at_start; /* c->bytes_recv when the call started */
    int http_status;
    int grpc_status; /* -1: none yet */
    bool deadline_hit;
    bool resp_gzip;
    bool body_overflow;
    char message[256];
    size_t details_len;
    uint8_t details[DETAILS_MAX];
    size_t body_len;
    uint8_t body[BODY_MAX];
};

struct fsa_grpc_client {
    struct fsa_grpc_client_params p;
    struct fsa_otel_config otel; /* our copy: header names and values live here */
    char host[FSA_HOST_MAX];
    char port[8];
    bool host_is_ip;
    bool tls;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    bool ssl_want_write;

    int fd;
    int state;
    struct addrinfo *ai_list, *ai_next;
    uint64_t connect_deadline_ns;
    nghttp2_session *h2;
    struct fsa_buf out; /* unwritten tail of what nghttp2 produced */

    struct call *calls;
    unsigned ncalls, open;
    nghttp2_nv nva[MAX_FIXED_HEADERS + FSA_MAX_OTLP_HEADERS];
    size_t nnv;
    char timeout_str[16];
    char ua[64];

    uint64_t bytes_recv;
    bool good, graceful;
    bool fatal; /* set inside nghttp2 callbacks; acted on after they return */
    char fatal_msg[160];
    char last_error[160];
    uint8_t rbuf[READ_CHUNK];
};

/* snprintf for messages that are meant to be cut when long (host names can be 255 bytes). */
__attribute__((format(printf, 3, 4))) static void msgf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}

static const char *const state_names[] = {"down", "connecting", "handshaking", "ready", "draining"};

const char *fsa_grpc_conn_state_name(int state)
{
    return state >= 0 && state <= FSA_GRPC_CONN_DRAINING ? state_names[state] : "unknown";
}

/* The newest OpenSSL error (or verification failure) as text, for last_error. */
static void tls_error_text(struct fsa_grpc_client *c, char *out, size_t cap)
{
    long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (vr != X509_V_OK) {
        msgf(out, cap, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    } else if (e) {
        char buf[160];
        ERR_error_string_n(e, buf, sizeof(buf));
        msgf(out, cap, "%s", buf);
    } else {
        msgf(out, cap, "%s", errno ? strerror(errno) : "connection closed during TLS");
    }
    ERR_clear_error();
}

/* "host:port" or "[v6]:port" (the config has normalised it) into host and port. */
static const char *split_endpoint(const char *ep, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon;
    const char *h = ep;
    size_t hn;
    if (ep[0] == '[') {
        const char *end = strchr(ep, ']');
        if (!end || end[1] != ':')
            return "endpoint must be host:port";
        h = ep + 1;
        hn = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(ep, ':');
        if (!colon)
            return "endpoint must be host:port";
        hn = (size_t)(colon - ep);
    }
    size_t pn = strlen(colon + 1);
    if (hn == 0 || hn >= hcap || pn == 0 || pn >= pcap)
        return "endpoint must be host:port";
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, colon + 1, pn + 1);
    return NULL;
}

static void nv_set(nghttp2_nv *nv, const char *name, const char *value, uint8_t flags)
{
    nv->name = (uint8_t *)(uintptr_t)name;
    nv->namelen = strlen(name);
    nv->value = (uint8_t *)(uintptr_t)value;
    nv->valuelen = strlen(value);
    /* Everything pointed to lives as long as the client. */
    nv->flags = flags | NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
}

static const char *tls_setup(struct fsa_grpc_client *c, char *errbuf, size_t errcap)
{
    c->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ssl_ctx)
        return "TLS: cannot create a context";
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(c->ssl_ctx) != 1)
        ERR_clear_error(); /* no system store is not fatal when a CA file is given */
    if (c->otel.ca_file[0] && SSL_CTX_load_verify_locations(c->ssl_ctx, c->otel.ca_file, NULL) != 1) {
        tls_error_text(c, errbuf, errcap);
        return "TLS: cannot load opentelemetry.ca_file";
    }
    if (c->otel.client_cert[0]) {
        if (SSL_CTX_use_certificate_chain_file(c->ssl_ctx, c->otel.client_cert) != 1) {
            tls_error_text(c, errbuf, errcap);
            return "TLS: cannot load opentelemetry.client_cert";
        }
        if (SSL_CTX_use_PrivateKey_file(c->ssl_ctx, c->otel.client_key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(c->ssl_ctx) != 1) {
            tls_error_text(c, errbuf, errcap);
            return "TLS: cannot load opentelemetry.client_key (or it does not match the certificate)";
        }
    }
    static const unsigned char alpn[] = {2, 'h', '2'};
    if (SSL_CTX_set_alpn_protos(c->ssl_ctx, alpn, sizeof(alpn)) != 0)
        return "TLS: cannot set ALPN";
    return NULL;
}

const char *fsa_grpc_client_create(const struct fsa_grpc_client_params *p, struct fsa_grpc_client **out, char *errbuf,
                                   size_t errcap)
{
    *out = NULL;
    if (errcap)
        errbuf[0] = '\0';
    struct fsa_grpc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return "out of memory";
    c->p = *p;
    c->otel = *p->otel;
    c->p.otel = &c->otel;
    c->fd = -1;
    if (c->p.max_streams == 0)
        c->p.max_streams = 8;
    if (c->p.connect_timeout_ms == 0)
        c->p.connect_timeout_ms = c->otel.timeout_ms ? c->otel.timeout_ms : 10000;
    fsa_buf_init(&c->out, (size_t)64 << 20);
    const char *why = split_endpoint(c->otel.endpoint, c->host, sizeof(c->host), c->port, sizeof(c->port));
    if (why) {
        free(c);
        return why;
    }
    unsigned char tmp[sizeof(struct in6_addr)];
    c->host_is_ip = inet_pton(AF_INET, c->host, tmp) == 1 || inet_pton(AF_INET6, c->host, tmp) == 1;
    c->tls = !c->otel.insecure;
    c->ncalls = c->p.max_streams;
    c->calls = calloc(c->ncalls, sizeof(*c->calls));
    if (!c->calls) {
        free(c);
        return "out of memory";
    }
    if (c->tls && (why = tls_setup(c, errbuf, errcap)) != NULL) {
        fsa_grpc_client_destroy(c);
        return why;
    }

    fsa_grpc_format_timeout(c->otel.timeout_ms ? c->otel.timeout_ms : 10000, c->timeout_str);
    msgf(c->ua, sizeof(c->ua), "%s", p->user_agent ? p->user_agent : "fsagent/" FSA_VERSION);
    size_t n = 0;
    nv_set(&c->nva[n++], ":method", "POST", 0);
    nv_set(&c->nva[n++], ":scheme", c->tls ? "https" : "http", 0);
    nv_set(&c->nva[n++], ":path", FSA_GRPC_PATH, 0);
    nv_set(&c->nva[n++], ":authority", c->otel.endpoint, 0);
    nv_set(&c->nva[n++], "content-type", "application/grpc", 0);
    nv_set(&c->nva[n++], "te", "trailers", 0);
    nv_set(&c->nva[n++], "grpc-timeout", c->timeout_str, 0);
    nv_set(&c->nva[n++], "user-agent", c->ua, 0);
    if (c->otel.gzip)
        nv_set(&c->nva[n++], "grpc-encoding", "gzip", 0);
    for (unsigned i = 0; i < c->otel.nheaders && i < FSA_MAX_OTLP_HEADERS; i++)
        nv_set(&c->nva[n++], c->otel.headers[i].name, c->otel.headers[i].value, NGHTTP2_NV_FLAG_NO_INDEX);
    c->nnv = n;
    *out = c;
    return NULL;
}

static void release_transport(struct fsa_grpc_client *c)
{
    if (c->h2) {
        nghttp2_session_del(c->h2);
        c->h2 = NULL;
    }
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->ai_list) {
        freeaddrinfo(c->ai_list);
        c->ai_list = c->ai_next = NULL;
    }
    c->out.n = 0;
    c->ssl_want_write = false;
    c->fatal = false;
    c->state = FSA_GRPC_CONN_DOWN;
}

void fsa_grpc_client_destroy(struct fsa_grpc_client *c)
{
    if (!c)
        return;
    fsa_grpc_client_close(c, FSA_GRPC_CANCELLED, NULL);
    if (c->ssl_ctx)
        SSL_CTX_free(c->ssl_ctx);
    fsa_buf_free(&c->out);
    free(c->calls);
    /* The copy of the config holds header values: do not leave them in freed memory. */
    memset(&c->otel, 0, sizeof(c->otel));
    free(c);
}

int fsa_grpc_client_state(const struct fsa_grpc_client *c)
{
    return c->state;
}

int fsa_grpc_client_fd(const struct fsa_grpc_client *c)
{
    return c->fd;
}

bool fsa_grpc_client_was_good(const struct fsa_grpc_client *c)
{
    return c->good;
}

bool fsa_grpc_client_was_graceful(const struct fsa_grpc_client *c)
{
    return c->graceful;
}

const char *fsa_grpc_client_last_error(const struct fsa_grpc_client *c)
{
    return c->last_error;
}

unsigned fsa_grpc_client_open_calls(const struct fsa_grpc_client *c)
{
    return c->open;
}

/* ---- ending calls ---- */

static void call_release(struct fsa_grpc_client *c, struct call *k)
{
    k->in_use = false;
    k->ctx = NULL;
    k->msg = NULL;
    c->open--;
}

/* Builds the result of a call whose stream closed with h2_error, and reports it. */
static void call_finish(struct fsa_grpc_client *c, struct call *k, uint32_t h2_error)
{
    struct fsa_grpc_result r;
    memset(&r, 0, sizeof(r));
    r.http_status = k->http_status;
    if (k->grpc_status >= 0) {
        r.code = k->grpc_status;
        memcpy(r.message, k->message, sizeof(r.message));
    } else if (k->deadline_hit) {
        r.code = FSA_GRPC_DEADLINE_EXCEEDED;
        r.transport = true;
        msgf(r.message, sizeof(r.message), "no answer within %s", c->timeout_str);
    } else if (k->http_status != 0 && k->http_status != 200) {
        r.code = fsa_grpc_code_from_http(k->http_status);
        msgf(r.message, sizeof(r.message), "HTTP status %d without grpc-status", k->http_status);
    } else if (h2_error != NGHTTP2_NO_ERROR) {
        r.code = fsa_grpc_code_from_h2_error(h2_error);
        r.transport = true;
        msgf(r.message, sizeof(r.message), "stream reset: %s", nghttp2_http2_strerror(h2_error));
    } else {
        r.code = FSA_GRPC_INTERNAL;
        msgf(r.message, sizeof(r.message), "stream ended without grpc-status");
    }
    if (k->details_len) {
        bool has;
        uint64_t delay;
        if (!fsa_grpc_status_details_retry(k->details, k->details_len, &has, &delay) && has) {
            r.has_retry_info = true;
            r.retry_delay_ms = delay;
        }
    }
    if (r.code == FSA_GRPC_OK) {
        const char *why = k->body_overflow
                              ? "response larger than 8 KiB"
                              : fsa_grpc_parse_export_response(k->body, k->body_len, k->resp_gzip, &r.response);
        if (why)
            msgf(r.message, sizeof(r.message), "%s", why);
    }
    void *ctx = k->ctx;
    call_release(c, k);
    c->p.done(c->p.done_ctx, ctx, &r);
}

/* Ends a call that never got an answer: the connection went away under it. */
static void call_fail_local(struct fsa_grpc_client *c, struct call *k, int code, const char *why)
{
    struct fsa_grpc_result r;
    memset(&r, 0, sizeof(r));
    r.code = k->deadline_hit ? FSA_GRPC_DEADLINE_EXCEEDED : code;
    r.transport = true;
    r.http_status = k->http_status;
    msgf(r.message, sizeof(r.message), "%s", why ? why : "connection closed");
    void *ctx = k->ctx;
    call_release(c, k);
    c->p.done(c->p.done_ctx, ctx, &r);
}

void fsa_grpc_client_close(struct fsa_grpc_client *c, int code, const char *why)
{
    if (why && why[0])
        msgf(c->last_error, sizeof(c->last_error), "%s", why);
    if (c->h2) {
        /* Forget the streams first: deleting the session must not call back into a freed call. */
        for (unsigned i = 0; i < c->ncalls; i++)
            if (c->calls[i].in_use && c->calls[i].stream_id > 0)
                nghttp2_session_set_stream_user_data(c->h2, c->calls[i].stream_id, NULL);
    }
    release_transport(c);
    for (unsigned i = 0; i < c->ncalls; i++)
        if (c->calls[i].in_use)
            call_fail_local(c, &c->calls[i], code, why && why[0] ? why : "connection closed");
}

/* ---- raw I/O ---- */

static long conn_read(struct fsa_grpc_client *c, uint8_t *buf, size_t n)
{
    if (!c->tls) {
        for (;;) {
            ssize_t r = recv(c->fd, buf, n, 0);
            if (r >= 0)
                return r;
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(c->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
    if (r > 0)
        return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: return -EAGAIN;
    case SSL_ERROR_WANT_WRITE: c->ssl_want_write = true; return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL: return errno ? -errno : 0;
    default: return -EPROTO;
    }
}

static long conn_write(struct fsa_grpc_client *c, const uint8_t *buf, size_t n)
{
    if (!c->tls) {
        for (;;) {
            ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
            if (r >= 0)
                return r;
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(c->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
    if (r > 0) {
        c->ssl_want_write = false;
        return r;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_WRITE: c->ssl_want_write = true; return -EAGAIN;
    case SSL_ERROR_WANT_READ: return -EAGAIN;
    case SSL_ERROR_SYSCALL: return errno ? -errno : -EPIPE;
    default: return -EPROTO;
    }
}

/* Closes after an I/O error, naming it. */
static void io_fail(struct fsa_grpc_client *c, const char *what, long err)
{
    char msg[160];
    if (err == -EPROTO && c->tls) {
        char tls[120];
        tls_error_text(c, tls, sizeof(tls));
        msgf(msg, sizeof(msg), "%s %s:%s: TLS: %s", what, c->host, c->port, tls);
    } else if (err == 0) {
        msgf(msg, sizeof(msg), "%s %s:%s: connection closed by the server", what, c->host, c->port);
    } else {
        msgf(msg, sizeof(msg), "%s %s:%s: %s", what, c->host, c->port, strerror((int)-err));
    }
    fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
}

/* ---- nghttp2 callbacks ---- */

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
    (void)flags;
    (void)user;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct call *k = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!k)
        return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
    if (IS(":status")) {
        int v = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            v = v * 10 + (value[i] >= '0' && value[i] <= '9' ? value[i] - '0' : 0);
        k->http_status = v;
    } else if (IS("grpc-status")) {
        int code;
        k->grpc_status = fsa_grpc_parse_status(value, valuelen, &code) ? FSA_GRPC_UNKNOWN : code;
    } else if (IS("grpc-message")) {
        fsa_grpc_percent_decode(value, valuelen, k->message, sizeof(k->message));
    } else if (IS("grpc-status-details-bin")) {
        size_t n = valuelen < sizeof(k->details) ? valuelen : 0; /* too large: ignored, not cut */
        memcpy(k->details, value, n);
        k->details_len = n;
    } else if (IS("grpc-encoding")) {
        k->resp_gzip = valuelen == 4 && memcmp(value, "gzip", 4) == 0;
    }
#undef IS
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len,
                         void *user)
{
    (void)flags;
    (void)user;
    struct call *k = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!k)
        return 0;
    if (len > sizeof(k->body) - k->body_len) {
        k->body_overflow = true;
        return 0;
    }
    memcpy(k->body + k->body_len, data, len);
    k->body_len += len;
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    (void)s;
    struct fsa_grpc_client *c = user;
    c->good = true;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->graceful = frame->goaway.error_code == NGHTTP2_NO_ERROR;
        if (c->state == FSA_GRPC_CONN_READY)
            c->state = FSA_GRPC_CONN_DRAINING;
        msgf(c->last_error, sizeof(c->last_error), "server sent GOAWAY (%s)",
             nghttp2_http2_strerror(frame->goaway.error_code));
    }
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *user)
{
    struct fsa_grpc_client *c = user;
    struct call *k = nghttp2_session_get_stream_user_data(s, stream_id);
    if (!k)
        return 0;
    nghttp2_session_set_stream_user_data(s, stream_id, NULL);
    call_finish(c, k, error_code);
    return 0;
}

static ssize_t data_read(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user)
{
    (void)s;
    (void)stream_id;
    (void)user;
    struct call *k = source->ptr;
    size_t n = k->len - k->off;
    if (n > length)
        n = length;
    memcpy(buf, k->msg + k->off, n);
    k->off += n;
    if (k->off == k->len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ---- pumps ---- */

static void pump_write(struct fsa_grpc_client *c)
{
    while (c->h2 || c->out.n) {
        if (c->out.n) {
            long w = conn_write(c, c->out.p, c->out.n);
            if (w == -EAGAIN)
                return;
            if (w < 0) {
                io_fail(c, "write to", w);
                return;
            }
            fsa_buf_consume(&c->out, (size_t)w);
            continue;
        }
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0) {
            char msg[160];
            msgf(msg, sizeof(msg), "HTTP/2 send: %s", nghttp2_strerror((int)n));
            fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
            return;
        }
        if (n == 0)
            return;
        long w = conn_write(c, data, (size_t)n);
        if (w == -EAGAIN)
            w = 0;
        if (w < 0) {
            io_fail(c, "write to", w);
            return;
        }
        if (w < n && fsa_buf_append(&c->out, data + w, (size_t)(n - w)) != 0) {
            fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, "out of memory buffering a write");
            return;
        }
        if (c->out.n)
            return; /* the socket is full: wait for POLLOUT */
    }
}

static void pump_read(struct fsa_grpc_client *c)
{
    while (c->h2) {
        long n = conn_read(c, c->rbuf, sizeof(c->rbuf));
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            io_fail(c, "read from", n);
            return;
        }
        c->bytes_recv += (uint64_t)n;
        ssize_t r = nghttp2_session_mem_recv(c->h2, c->rbuf, (size_t)n);
        if (r < 0) {
            char msg[160];
            msgf(msg, sizeof(msg), "HTTP/2 from %s:%s: %s", c->host, c->port, nghttp2_strerror((int)r));
            fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
            return;
        }
        if (c->fatal) {
            fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, c->fatal_msg);
            return;
        }
    }
}

/* ---- connection setup ---- */

static void start_h2(struct fsa_grpc_client *c)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, "out of memory (nghttp2)");
        return;
    }
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rc = nghttp2_session_client_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, "out of memory (nghttp2)");
        return;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0}, /* the server never opens streams to us */
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    c->state = FSA_GRPC_CONN_READY;
    pump_write(c);
}

static void tls_handshake(struct fsa_grpc_client *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        const unsigned char *proto = NULL;
        unsigned plen = 0;
        SSL_get0_alpn_selected(c->ssl, &proto, &plen);
        if (plen != 2 || memcmp(proto, "h2", 2) != 0) {
            char msg[160];
            msgf(msg, sizeof(msg), "TLS %s:%s: the server did not agree to HTTP/2 (ALPN h2)", c->host, c->port);
            fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
            return;
        }
        c->ssl_want_write = false;
        start_h2(c);
        return;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: c->ssl_want_write = false; return;
    case SSL_ERROR_WANT_WRITE: c->ssl_want_write = true; return;
    default: {
        char tls[120], msg[160];
        tls_error_text(c, tls, sizeof(tls));
        msgf(msg, sizeof(msg), "TLS %s:%s: %s", c->host, c->port, tls);
        fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
        return;
    }
    }
}

static void connected(struct fsa_grpc_client *c)
{
    if (c->ai_list) {
        freeaddrinfo(c->ai_list);
        c->ai_list = c->ai_next = NULL;
    }
    if (!c->tls) {
        start_h2(c);
        return;
    }
    c->ssl = SSL_new(c->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, "TLS: cannot create a session");
        return;
    }
    if (c->host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, c->host);
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(c->ssl, c->host);
    }
    c->state = FSA_GRPC_CONN_HANDSHAKING;
    tls_handshake(c);
}

/* Starts a non-blocking connect to the next address; false when none is left. */
static bool connect_next(struct fsa_grpc_client *c, int *last_err)
{
    while (c->ai_next) {
        struct addrinfo *ai = c->ai_next;
        c->ai_next = ai->ai_next;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            *last_err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            c->fd = fd;
            c->state = FSA_GRPC_CONN_CONNECTING;
            return true;
        }
        *last_err = errno;
        close(fd);
    }
    return false;
}

int fsa_grpc_client_connect(struct fsa_grpc_client *c, uint64_t now_ns)
{
    if (c->state != FSA_GRPC_CONN_DOWN)
        return -EALREADY;
    c->good = c->graceful = false;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(c->host, c->port, &hints, &c->ai_list);
    if (rc != 0) {
        c->ai_list = NULL;
        char msg[160];
        msgf(msg, sizeof(msg), "resolve %s: %s", c->host, gai_strerror(rc));
        msgf(c->last_error, sizeof(c->last_error), "%s", msg);
        return -EHOSTUNREACH;
    }
    c->ai_next = c->ai_list;
    c->connect_deadline_ns = now_ns + (uint64_t)c->p.connect_timeout_ms * 1000000u;
    int err = ECONNREFUSED;
    if (!connect_next(c, &err)) {
        char msg[160];
        msgf(msg, sizeof(msg), "connect %s:%s: %s", c->host, c->port, strerror(err));
        fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
        return -err;
    }
    return 0;
}

short fsa_grpc_client_events(const struct fsa_grpc_client *c)
{
    switch (c->state) {
    case FSA_GRPC_CONN_CONNECTING: return POLLOUT;
    case FSA_GRPC_CONN_HANDSHAKING: return (short)(POLLIN | (c->ssl_want_write ? POLLOUT : 0));
    case FSA_GRPC_CONN_READY:
    case FSA_GRPC_CONN_DRAINING: {
        bool w = c->out.n || c->ssl_want_write || (c->h2 && nghttp2_session_want_write(c->h2));
        return (short)(POLLIN | (w ? POLLOUT : 0));
    }
    default: return 0;
    }
}

/* After I/O: a session that wants nothing more, or a drained GOAWAY, ends the connection. */
static void check_session_end(struct fsa_grpc_client *c)
{
    if (!c->h2)
        return;
    if (c->state == FSA_GRPC_CONN_DRAINING && c->open == 0 && c->out.n == 0) {
        fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, NULL);
        return;
    }
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) && c->out.n == 0) {
        char msg[160];
        msgf(msg, sizeof(msg), "HTTP/2 session with %s:%s ended", c->host, c->port);
        fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
    }
}

void fsa_grpc_client_io(struct fsa_grpc_client *c, short revents, uint64_t now_ns)
{
    (void)now_ns;
    switch (c->state) {
    case FSA_GRPC_CONN_CONNECTING: {
        if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
            return;
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == 0) {
            connected(c);
            return;
        }
        close(c->fd);
        c->fd = -1;
        if (!connect_next(c, &err)) {
            char msg[160];
            msgf(msg, sizeof(msg), "connect %s:%s: %s", c->host, c->port, strerror(err));
            fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
        }
        return;
    }
    case FSA_GRPC_CONN_HANDSHAKING:
        if (revents)
            tls_handshake(c);
        if (c->state == FSA_GRPC_CONN_READY) {
            pump_read(c);
            check_session_end(c);
        }
        return;
    case FSA_GRPC_CONN_READY:
    case FSA_GRPC_CONN_DRAINING:
        if (revents & (POLLIN | POLLERR | POLLHUP) || (c->tls && (revents & POLLOUT)))
            pump_read(c);
        if (c->h2)
            pump_write(c);
        check_session_end(c);
        return;
    default: return;
    }
}

unsigned fsa_grpc_client_room(const struct fsa_grpc_client *c)
{
    if (c->state != FSA_GRPC_CONN_READY || !c->h2 || !nghttp2_session_check_request_allowed(c->h2))
        return 0;
    uint32_t peer = nghttp2_session_get_remote_settings(c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    unsigned cap = c->ncalls < peer ? c->ncalls : peer;
    return cap > c->open ? cap - c->open : 0;
}

int fsa_grpc_client_call(struct fsa_grpc_client *c, const uint8_t *msg, size_t len, void *call_ctx, uint64_t now_ns)
{
    if (fsa_grpc_client_room(c) == 0)
        return -EAGAIN;
    struct call *k = NULL;
    for (unsigned i = 0; i < c->ncalls && !k; i++)
        if (!c->calls[i].in_use)
            k = &c->calls[i];
    if (!k)
        return -EAGAIN;
    k->c = c;
    k->ctx = call_ctx;
    k->msg = msg;
    k->len = len;
    k->off = 0;
    k->deadline_ns = now_ns + (uint64_t)(c->otel.timeout_ms ? c->otel.timeout_ms : 10000) * 1000000u;
    k->recv_at_start = c->bytes_recv;
    k->http_status = 0;
    k->grpc_status = -1;
    k->deadline_hit = k->resp_gzip = k->body_overflow = false;
    k->message[0] = '\0';
    k->details_len = 0;
    k->body_len = 0;
    nghttp2_data_provider prd = {.source.ptr = k, .read_callback = data_read};
    int32_t id = nghttp2_submit_request(c->h2, NULL, c->nva, c->nnv, &prd, k);
    if (id < 0)
        return id == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EAGAIN;
    k->stream_id = id;
    k->in_use = true;
    c->open++;
    pump_write(c);
    return 0;
}

uint64_t fsa_grpc_client_tick(struct fsa_grpc_client *c, uint64_t now_ns)
{
    if (c->state == FSA_GRPC_CONN_CONNECTING || c->state == FSA_GRPC_CONN_HANDSHAKING) {
        if (now_ns >= c->connect_deadline_ns) {
            char msg[160];
            msgf(msg, sizeof(msg), "connect %s:%s: timed out", c->host, c->port);
            fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
            return UINT64_MAX;
        }
        return c->connect_deadline_ns;
    }
    if (!c->h2)
        return UINT64_MAX;
    uint64_t next = UINT64_MAX;
    bool dead = false, reset = false;
    for (unsigned i = 0; i < c->ncalls; i++) {
        struct call *k = &c->calls[i];
        if (!k->in_use)
            continue;
        if (!k->deadline_hit && now_ns >= k->deadline_ns) {
            k->deadline_hit = true;
            if (c->bytes_recv == k->recv_at_start)
                dead = true; /* not one byte from the server in a whole timeout */
            nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, k->stream_id, NGHTTP2_CANCEL);
            reset = true;
        }
        if (k->deadline_hit && now_ns >= k->deadline_ns + RST_GRACE_NS)
            dead = true;
        uint64_t t = k->deadline_hit ? k->deadline_ns + RST_GRACE_NS : k->deadline_ns;
        if (t < next)
            next = t;
    }
    if (dead) {
        char msg[160];
        msgf(msg, sizeof(msg), "%s:%s: no answer within %s, connection presumed dead", c->host, c->port,
             c->timeout_str);
        fsa_grpc_client_close(c, FSA_GRPC_UNAVAILABLE, msg);
        return UINT64_MAX;
    }
    if (reset) {
        pump_write(c);
        check_session_end(c);
    }
    return next;
}

void fsa_grpc_client_shutdown(struct fsa_grpc_client *c)
{
    if (c->h2 && (c->state == FSA_GRPC_CONN_READY || c->state == FSA_GRPC_CONN_DRAINING)) {
        nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
        c->state = FSA_GRPC_CONN_DRAINING;
        pump_write(c);
        if (c->h2)
            check_session_end(c);
    }
}
