/*
 * otlp_sink: a fast OTLP/gRPC metrics endpoint for benchmarks (h2c, prior
 * knowledge). It answers every Export call OK with an empty response, counts
 * calls and bytes, and with --count-points unpacks each request (protobuf-c,
 * the exporter's own proto subset) to count data points.
 *
 * Why not the tests' receiver: grpc-js with proto-loader decodes to JSON at
 * about 95 k points/s, so in a benchmark it, not fsagent, would be measured.
 * Correctness against the official protos is the tests' job (tests/receiver);
 * this one only has to keep up.
 *
 *   otlp_sink [--port P] [--count-points] [--ready-file F] [--duration S]
 * Prints "listening PORT" once bound; at SIGTERM/SIGINT (or --duration) one
 * JSON line {"calls":N,"bytes":N,"points":N,"errors":N} and exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

#define MAX_CONNS 32
#define MAX_BODY (16u << 20) /* gRPC servers refuse more than 4 MiB by default; be generous */

struct stream {
    int32_t id;
    uint8_t *body;
    size_t len;
    bool overflow;
    bool responded;
};

struct conn {
    int fd;
    nghttp2_session *session;
    struct stream streams[128]; /* concurrent streams we track; SETTINGS caps the peer at this */
};

static struct {
    bool count_points;
    uint64_t calls, bytes, points, errors;
} sink;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static struct stream *stream_find(struct conn *c, int32_t id, bool create)
{
    struct stream *free_slot = NULL;
    for (size_t i = 0; i < sizeof(c->streams) / sizeof(c->streams[0]); i++) {
        if (c->streams[i].id == id)
            return &c->streams[i];
        if (!c->streams[i].id && !free_slot)
            free_slot = &c->streams[i];
    }
    if (!create || !free_slot)
        return NULL;
    *free_slot = (struct stream){.id = id};
    return free_slot;
}

static uint64_t count_points(const uint8_t *msg, size_t len)
{
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(NULL, len, msg);
    if (!req) {
        sink.errors++;
        return 0;
    }
    uint64_t n = 0;
    for (size_t r = 0; r < req->n_resource_metrics; r++)
        for (size_t s = 0; s < req->resource_metrics[r]->n_scope_metrics; s++) {
            const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = req->resource_metrics[r]->scope_metrics[s];
            for (size_t m = 0; m < sm->n_metrics; m++) {
                const Opentelemetry__Proto__Metrics__V1__Metric *x = sm->metrics[m];
                switch (x->data_case) {
                case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE: n += x->gauge->n_data_points; break;
                case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: n += x->sum->n_data_points; break;
                case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
                    n += x->histogram->n_data_points;
                    break;
                default: break;
                }
            }
        }
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(req, NULL);
    return n;
}

/* The gRPC message of an empty ExportMetricsServiceResponse: uncompressed flag, length 0. */
static const uint8_t empty_response[5] = {0, 0, 0, 0, 0};

static ssize_t response_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                             uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)source;
    (void)user_data;
    if (length < sizeof(empty_response))
        return NGHTTP2_ERR_DEFERRED;
    memcpy(buf, empty_response, sizeof(empty_response));
    /* End the data but not the stream: the trailers carry grpc-status. */
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    static const nghttp2_nv trailers[] = {
        {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE},
    };
    if (nghttp2_submit_trailer(session, stream_id, trailers, 1) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return sizeof(empty_response);
}

static void respond(nghttp2_session *session, struct stream *st)
{
    if (st->responded)
        return;
    st->responded = true;
    sink.calls++;
    if (st->overflow)
        sink.errors++;
    else if (sink.count_points && st->len >= 5) {
        uint32_t mlen = (uint32_t)st->body[1] << 24 | (uint32_t)st->body[2] << 16 | (uint32_t)st->body[3] << 8 |
                        st->body[4];
        if (st->body[0] == 0 && (size_t)mlen + 5 <= st->len)
            sink.points += count_points(st->body + 5, mlen);
        else
            sink.errors++; /* compressed or cut: the exporter under benchmark should not gzip */
    }
    static const nghttp2_nv headers[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd = {.read_callback = response_read};
    if (nghttp2_submit_response(session, st->id, headers, 2, &prd) != 0)
        sink.errors++;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)session;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        !stream_find(user_data, frame->hd.stream_id, true))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* more streams than SETTINGS allowed */
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    struct stream *st = stream_find(user_data, stream_id, false);
    if (!st)
        return 0;
    sink.bytes += len;
    if (!sink.count_points || st->overflow)
        return 0;
    if (st->len + len > MAX_BODY) {
        st->overflow = true;
        return 0;
    }
    uint8_t *grown = realloc(st->body, st->len + len);
    if (!grown) {
        st->overflow = true;
        return 0;
    }
    st->body = grown;
    memcpy(st->body + st->len, data, len);
    st->len += len;
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct stream *st = stream_find(user_data, frame->hd.stream_id, false);
        if (st)
            respond(session, st);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
    (void)session;
    (void)error_code;
    struct stream *st = stream_find(user_data, stream_id, false);
    if (st) {
        free(st->body);
        *st = (struct stream){0};
    }
    return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    return cb;
}

static void conn_close(struct conn *c)
{
    for (size_t i = 0; i < sizeof(c->streams) / sizeof(c->streams[0]); i++)
        free(c->streams[i].body);
    nghttp2_session_del(c->session);
    close(c->fd);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

/* Sends what nghttp2 has queued; false when the connection is done. */
static bool conn_flush(struct conn *c)
{
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0)
            return false;
        if (n == 0)
            break;
        size_t off = 0;
        while (off < (size_t)n) {
            ssize_t w = send(c->fd, data + off, (size_t)n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                /* A benchmark sink answers in tiny frames: wait for room rather than buffer. */
                struct pollfd p = {.fd = c->fd, .events = POLLOUT};
                poll(&p, 1, 1000);
                continue;
            }
            if (w <= 0)
                return false;
            off += (size_t)w;
        }
    }
    return nghttp2_session_want_read(c->session) || nghttp2_session_want_write(c->session);
}

static bool conn_read(struct conn *c)
{
    static uint8_t buf[256 * 1024];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return conn_flush(c);
        if (n <= 0)
            return false;
        if (nghttp2_session_mem_recv(c->session, buf, (size_t)n) < 0)
            return false;
        if (!conn_flush(c))
            return false;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    unsigned port = 0;
    double duration = 0;
    const char *ready_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--count-points"))
            sink.count_points = true;
        else if (!strcmp(argv[i], "--ready-file") && i + 1 < argc)
            ready_file = argv[++i];
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
            duration = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: otlp_sink [--port P] [--count-points] [--ready-file F] [--duration S]\n");
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        fprintf(stderr, "otlp_sink: cannot listen on 127.0.0.1:%u: %s\n", port, strerror(errno));
        return 1;
    }
    printf("listening %u\n", ntohs(sa.sin_port));
    fflush(stdout);
    if (ready_file) {
        FILE *f = fopen(ready_file, "w");
        if (f) {
            fprintf(f, "%u\n", ntohs(sa.sin_port));
            fclose(f);
        }
    }

    nghttp2_session_callbacks *cb = callbacks();
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 128},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (1u << 31) - 1},
    };
    static struct conn conns[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    double end = duration > 0 ? now_s() + duration : 0;
    while (!stopping && (!end || now_s() < end)) {
        struct pollfd pfd[MAX_CONNS + 1];
        pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++)
            pfd[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        if (poll(pfd, MAX_CONNS + 1, 200) < 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            int slot = -1;
            for (int i = 0; fd >= 0 && i < MAX_CONNS && slot < 0; i++)
                if (conns[i].fd < 0)
                    slot = i;
            if (fd >= 0 && slot < 0)
                close(fd);
            else if (fd >= 0) {
                struct conn *c = &conns[slot];
                c->fd = fd;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                if (nghttp2_session_server_new(&c->session, cb, c) != 0 ||
                    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2) != 0 ||
                    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, (1 << 30)) != 0 ||
                    !conn_flush(c))
                    conn_close(c);
            }
        }
        for (int i = 0; i < MAX_CONNS; i++)
            if (conns[i].fd >= 0 && (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) && !conn_read(&conns[i]))
                conn_close(&conns[i]);
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    nghttp2_session_callbacks_del(cb);
    printf("{\"calls\":%llu,\"bytes\":%llu,\"points\":%llu,\"errors\":%llu}\n", (unsigned long long)sink.calls,
           (unsigned long long)sink.bytes, (unsigned long long)sink.points, (unsigned long long)sink.errors);
    return 0;
}
