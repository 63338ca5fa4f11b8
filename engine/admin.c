/*
 * admin: the h2o server around admin_render (see admin.h for the bounds).
 *
 * Everything h2o is created on the starting thread before fsa-admin runs
 * (pthread_create orders it) and touched afterwards only by fsa-admin: h2o's
 * event loop is not thread-safe. Stopping is a flag the loop looks at
 * between polls (h2o_evloop_run waits at most POLL_MS), so no cross-thread
 * wake-up is needed.
 *
 * A request is answered synchronously inside on_req: the model is read
 * (relaxed loads, seqlock copies), rendered into the one render buffer and
 * copied by h2o_send_inline into the request's pool. Nothing blocks.
 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "admin_render.h"
#include "calc/worker.h"
#include "export/exporter.h"
#include "log.h"
#include "ring/fsa_time.h"

#define POLL_MS 100
#define LISTEN_BACKLOG 128
#define MAX_REQUEST_BODY 4096           /* GETs carry none; anything bigger is refused by h2o */
#define RENDER_BASE (96u * 1024)        /* every response but the per-instance lines */
#define RENDER_PER_INSTANCE (6u * 1024) /* /metrics: ~40 lines of at most ~130 bytes; the page: ~1 KB */

struct admin_handler {
    h2o_handler_t super;
    struct fsa_admin *admin;
};

struct fsa_admin {
    const struct fsa_agent *agent;
    const struct fsa_config *cfg;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    bool listener_reading;
    bool ctx_ready; /* h2o_context_init ran: dispose it */
    unsigned nconns;
    pthread_t tid;
    bool started;
    atomic_bool stop;
    bool overflow_logged;
    /* admin thread: the model and the render buffer */
    struct fsa_admin_model model;
    struct fsa_admin_instance *inst;
    char *render;
    size_t render_cap;
};

/* ---- reading the agent ------------------------------------------------------------------------------------- */

#define LOAD(x) ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))

static void gather(struct fsa_admin *a)
{
    struct fsa_admin_model *m = &a->model;
    m->now_unix_us = fsa_wall_ns() / 1000;
    for (unsigned i = 0; i < m->ninstances; i++) {
        const struct fsa_instance_stats *s = fsa_agent_instance_stats(a->agent, i);
        struct fsa_admin_instance *in = &a->inst[i];
        in->state = atomic_load_explicit(&s->state, memory_order_relaxed);
        in->last_fault = atomic_load_explicit(&s->last_fault, memory_order_relaxed);
        in->last_event_unix_us = LOAD(s->last_event_unix_us);
        in->connected_since_unix_us = LOAD(s->connected_since_unix_us);
        in->bytes_received = LOAD(s->bytes_received);
        in->frames_received = LOAD(s->frames_received);
        in->events_received = LOAD(s->events_received);
        in->heartbeats = LOAD(s->heartbeats);
        in->dropped_ring_full = LOAD(s->events_dropped_ring_full);
        in->decode_errors = LOAD(s->events_decode_errors);
        in->connects = LOAD(s->connects);
        in->reconnects = LOAD(s->reconnects);
        in->resync_lists = LOAD(s->resync_lists);
        in->resync_channels = LOAD(s->resync_channels);
        in->resync_dumps = LOAD(s->resync_dumps);
        in->resync_dumps_ok = LOAD(s->resync_dumps_ok);
        in->resync_dumps_failed = LOAD(s->resync_dumps_failed);
        in->resync_dumps_unsent = LOAD(s->resync_dumps_unsent);
        for (unsigned f = 0; f < FSA_FAULT_COUNT; f++)
            in->faults[f] = LOAD(s->faults[f]);
        for (unsigned k = 1; k < FSA_EV_KIND_COUNT; k++)
            in->processed[k] = fsa_agent_events_processed(a->agent, i, (enum fsa_event_kind)k);
    }
    m->ring_occupancy = fsa_agent_lane_occupancy(a->agent);
    fsa_agent_calc_stats(a->agent, &m->calc);
    m->has_store = fsa_agent_store_stats(a->agent, &m->store);
    const struct fsa_exporter *e = fsa_agent_exporter(a->agent);
    m->has_exporter = e != NULL;
    if (e)
        fsa_exporter_stats_read(e, &m->exp);
    fsa_agent_snapshot_read(a->agent, &m->snap);
}

/* ---- requests ---------------------------------------------------------------------------------------------- */

static void respond(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = status == 200   ? "OK"
                      : status == 404 ? "Not Found"
                      : status == 405 ? "Method Not Allowed"
                      : status == 503 ? "Service Unavailable"
                                      : "Internal Server Error";
    req->res.content_length = len;
    /* One request per connection: nothing idles, and stopping never waits on a keep-alive. */
    req->http1_is_persistent = 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
}

static void respond_text(h2o_req_t *req, int status, const char *text)
{
    respond(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

enum route { R_NONE, R_PAGE, R_HEALTH, R_READY, R_METRICS };

static enum route route_of(h2o_iovec_t path)
{
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/")))
        return R_PAGE;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/health")))
        return R_HEALTH;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/ready")))
        return R_READY;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")))
        return R_METRICS;
    return R_NONE;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct fsa_admin *a = ((struct admin_handler *)self)->admin;
    enum route r = route_of(req->path_normalized);
    if (r == R_NONE) {
        respond_text(req, 404, "not found: try /, /health, /ready or /metrics\n");
        return 0;
    }
    /* HEAD is GET without the body (h2o_send_inline leaves it out). */
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
        respond_text(req, 405, "method not allowed: GET only\n");
        return 0;
    }
    gather(a);
    struct fsa_admin_out o = {.p = a->render, .cap = a->render_cap};
    int status;
    const char *type;
    switch (r) {
    case R_HEALTH:
        status = fsa_admin_render_health(&a->model, &o);
        type = "application/json";
        break;
    case R_READY:
        status = fsa_admin_render_ready(&a->model, &o);
        type = "application/json";
        break;
    case R_METRICS:
        status = fsa_admin_render_metrics(&a->model, &o);
        type = "text/plain; version=0.0.4; charset=utf-8";
        break;
    default:
        status = fsa_admin_render_page(&a->model, &o);
        type = "text/html; charset=utf-8";
        break;
    }
    if (o.overflow) {
        if (!a->overflow_logged)
            fsa_log_error(NULL, "admin: a response outgrew its %zu-byte buffer: answering 500", a->render_cap);
        a->overflow_logged = true;
        respond_text(req, 500, "response too large\n");
        return 0;
    }
    respond(req, status, type, o.p, o.n);
    return 0;
}

/* ---- connections ------------------------------------------------------------------------------------------- */

static void on_accept(h2o_socket_t *listener, const char *err);

static void listener_set(struct fsa_admin *a, bool reading)
{
    if (!a->listener || a->listener_reading == reading)
        return;
    if (reading)
        h2o_socket_read_start(a->listener, on_accept);
    else
        h2o_socket_read_stop(a->listener);
    a->listener_reading = reading;
}

static void on_conn_close(void *data)
{
    struct fsa_admin *a = data;
    a->nconns--;
    if (!atomic_load_explicit(&a->stop, memory_order_relaxed))
        listener_set(a, true);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct fsa_admin *a = listener->data;
    if (err)
        return;
    for (int i = 0; i < 16; i++) {
        if (a->nconns >= FSA_ADMIN_MAX_CONNS) {
            listener_set(a, false); /* the backlog holds the rest until one closes */
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock)
            return;
        a->nconns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = a;
        h2o_accept(&a->accept_ctx, sock);
    }
}

/* ---- thread ------------------------------------------------------------------------------------------------ */

static void *admin_main(void *arg)
{
    struct fsa_admin *a = arg;
    pthread_setname_np(pthread_self(), "fsa-admin");
    while (!atomic_load_explicit(&a->stop, memory_order_acquire))
        h2o_evloop_run(a->loop, POLL_MS);
    /* No new connections; requests under way finish, bounded by the request timeout. */
    listener_set(a, false);
    h2o_socket_close(a->listener);
    a->listener = NULL;
    uint64_t deadline = fsa_mono_ns() + (uint64_t)(FSA_ADMIN_REQ_TIMEOUT_MS + 1000) * 1000000u;
    while (a->nconns > 0 && fsa_mono_ns() < deadline)
        h2o_evloop_run(a->loop, POLL_MS);
    h2o_evloop_run(a->loop, 0); /* frees what the closes above left for the loop */
    return NULL;
}

/* ---- start / stop ------------------------------------------------------------------------------------------ */

static int listen_on(const struct fsa_config *cfg, int *fd_out, const char **why)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->http_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(cfg->http_bind, port, &hints, &res);
    if (gai != 0) {
        *why = "resolve http.bind";
        return -EADDRNOTAVAIL;
    }
    int rc = -EADDRNOTAVAIL;
    *why = "bind";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            *why = "socket";
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            rc = -errno;
            *why = "bind";
            close(fd);
            continue;
        }
        if (listen(fd, LISTEN_BACKLOG) < 0) {
            rc = -errno;
            *why = "listen";
            close(fd);
            continue;
        }
        *fd_out = fd;
        rc = 0;
        break;
    }
    freeaddrinfo(res);
    return rc;
}

static void admin_free(struct fsa_admin *a)
{
    if (a->listener)
        h2o_socket_close(a->listener);
    if (a->ctx_ready)
        h2o_context_dispose(&a->ctx);
    if (a->loop)
        h2o_evloop_destroy(a->loop);
    h2o_config_dispose(&a->config);
    free(a->inst);
    free(a->render);
    free(a);
}

int fsa_admin_start(const struct fsa_agent *agent, const struct fsa_config *cfg, struct fsa_admin **out,
                    const char **why)
{
    *out = NULL;
    if (cfg->http_port == 0)
        return 0;
    int fd = -1;
    int rc = listen_on(cfg, &fd, why);
    if (rc < 0)
        return rc;

    struct fsa_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        close(fd);
        *why = "out of memory";
        return -ENOMEM;
    }
    a->agent = agent;
    a->cfg = cfg;
    atomic_init(&a->stop, false);
    a->inst = calloc(cfg->ninstances ? cfg->ninstances : 1, sizeof(*a->inst));
    a->render_cap = RENDER_BASE + (size_t)RENDER_PER_INSTANCE * cfg->ninstances;
    a->render = malloc(a->render_cap);

    h2o_config_init(&a->config);
    a->config.max_request_entity_size = MAX_REQUEST_BODY;
    a->config.http1.req_timeout = FSA_ADMIN_REQ_TIMEOUT_MS;
    a->config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host = h2o_config_register_host(&a->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct admin_handler *h = (struct admin_handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->admin = a;

    a->loop = h2o_evloop_create();
    if (!a->inst || !a->render || !a->loop) {
        close(fd);
        admin_free(a);
        *why = "out of memory";
        return -ENOMEM;
    }
    h2o_context_init(&a->ctx, a->loop, &a->config);
    a->ctx_ready = true;
    a->accept_ctx.ctx = &a->ctx;
    a->accept_ctx.hosts = a->config.hosts;
    a->listener = h2o_evloop_socket_create(a->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    a->listener->data = a;
    listener_set(a, true);

    struct fsa_admin_model *m = &a->model;
    m->version = FSA_VERSION;
    m->refresh_s = FSA_ADMIN_REFRESH_S;
    m->ninstances = cfg->ninstances;
    m->inst = a->inst;
    m->export_endpoint = cfg->otel.endpoint;
    for (unsigned i = 0; i < cfg->ninstances; i++)
        a->inst[i].name = cfg->instances[i].name;

    rc = pthread_create(&a->tid, NULL, admin_main, a);
    if (rc != 0) {
        admin_free(a);
        *why = "pthread_create";
        return -rc;
    }
    a->started = true;
    fsa_log_info(NULL, "admin server listening on %s:%u (/, /health, /ready, /metrics)", cfg->http_bind,
                 (unsigned)cfg->http_port);
    *out = a;
    return 0;
}

void fsa_admin_stop(struct fsa_admin *a)
{
    if (!a)
        return;
    atomic_store_explicit(&a->stop, true, memory_order_release);
    if (a->started)
        pthread_join(a->tid, NULL);
    if (a->nconns > 0) {
        /* h2o cannot dispose a context with connections on it; the process is ending: leave it. */
        fsa_log_warn(NULL, "admin: %u connection(s) still open at stop: not freed", a->nconns);
        return;
    }
    admin_free(a);
}
