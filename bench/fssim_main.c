/*
 * fssim: a FreeSWITCH Event Socket (ESL, inbound mode) server simulator.
 *
 * Why it exists. fsagent must be tested and benchmarked against many
 * FreeSWITCH servers with thousands of calls, faults on demand and exact
 * numbers to assert on; real FreeSWITCH gives none of that cheaply. fssim
 * speaks the protocol byte for byte as FreeSWITCH 1.11.2 does (checked against
 * the real captures in tests/fixtures/freeswitch-1.11.2) and makes the event
 * stream programmable.
 *
 * Shape. One process, one thread, one epoll loop: the simulator is not the
 * product, and a single thread keeps every ordering deterministic. Each
 * --instances entry is a listening port with its own event stream (Core-UUID,
 * Event-Sequence, calls, heartbeat), named fs<i+1>. Sockets are non-blocking
 * and edge-triggered. A timer heap drives calls, RTCP reports, heartbeats,
 * replay pacing and the auth timeout.
 *
 * Connections mirror mod_event_socket's listener: auth/request on connect, the
 * same command parser (commands end at "\n\n", CRs ignored, leading newlines
 * skipped, prefix matching with strncasecmp, unauthenticated commands get
 * "-ERR command not found" and the socket stays open), the same reply texts,
 * the disconnect notice on exit, bad password and auth timeout (25 s).
 *
 * Events. An event is fired once per instance (fssim_calls.c) and fanned out
 * to every connection whose subscription matches (event names, ALL, CUSTOM
 * subclasses), rendered lazily at most once per format (plain/json). Each
 * connection has a bounded output queue (bytes and frames): a slow client gets
 * its events dropped and counted instead of blocking anyone, and after
 * --max-missed consecutive drops it is disconnected, as FreeSWITCH's
 * "killed listener because of lost events" does. Command replies are never
 * dropped. Every queued byte carries a record (frame end, event kind), so the
 * summary counts only complete frames actually written to a socket.
 *
 * Modes for one connection, chosen when it subscribes: live synthetic events
 * (default), --replay (the capture's event frames verbatim, filtered by the
 * subscription, then the connection stays open and quiet), --flood (a
 * prebuilt RTCP stream written as fast as the socket takes it, then a
 * disconnect notice). --fault applies to every connection of the chosen
 * instances, in all modes.
 *
 * On SIGTERM/SIGINT or after --duration the process prints one JSON summary
 * line on stdout (and to --stats-file) and exits 0.
 */
#include "fssim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct fssim_cfg fssim_cfg;

#define CMD_MAX (64 * 1024)        /* a command (with its body) larger than this: close */
#define REPLAY_HIWAT (1024 * 1024) /* replay refills the output queue up to this */
#define FLOOD_CHUNK (1024 * 1024)  /* bytes per send() in flood mode */
#define GARBAGE_BYTES 4096

static const char DISCONNECT_NOTICE[] = "Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
                                        "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";
static const char RUDE_REJECTION[] =
    "Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n";

static struct fssim_inst *insts;
static struct fssim_replay replay;
static bool replay_loaded;
static int epfd = -1, sigfd = -1;
static volatile bool stop_now;
static int kind_recv_rtcp, kind_bgjob;

/* ---------------------------------------------------------------- timers */

struct timer {
    uint64_t due, seq;
    enum fssim_timer_kind kind;
    void *ptr;
    uint64_t aux;
};

static struct timer *heap;
static size_t heap_n, heap_cap;
static uint64_t heap_seq;

static bool timer_before(const struct timer *a, const struct timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

void fssim_timer_add(uint64_t due_ns, enum fssim_timer_kind kind, void *ptr, uint64_t aux)
{
    if (heap_n == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 1024;
        heap = realloc(heap, heap_cap * sizeof(*heap));
        if (!heap)
            abort();
    }
    size_t i = heap_n++;
    struct timer t = {due_ns, ++heap_seq, kind, ptr, aux};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(&t, &heap[p]))
            break;
        heap[i] = heap[p];
        i = p;
    }
    heap[i] = t;
}

static struct timer timer_pop(void)
{
    struct timer top = heap[0];
    struct timer last = heap[--heap_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct timer *best = &last;
        if (l < heap_n && timer_before(&heap[l], best)) {
            m = l;
            best = &heap[l];
        }
        if (r < heap_n && timer_before(&heap[r], best))
            m = r;
        if (m == i)
            break;
        heap[i] = heap[m];
        i = m;
    }
    if (heap_n)
        heap[i] = last;
    return top;
}

/* ---------------------------------------------------------------- connections */

struct rec {
    uint64_t start, end; /* cumulative byte offsets in the connection's output */
    int16_t kind;        /* event kind, -1 for replies and raw bytes */
    bool event;
};

struct fssim_conn {
    struct fssim_conn *prev, *next; /* instance list */
    struct fssim_conn *dirty_next, *zombie_next;
    struct fssim_inst *in;
    int fd;
    uint32_t slot, gen;
    bool dead, dirty, closing, authed, events_on, got_command, logging;
    bool stalled, silent, oversized_done;
    enum fssim_fmt fmt;
    bool sub_all;
    uint8_t sub[FSSIM_KIND_MAX];
    char **custom;
    size_t ncustom;

    char *ib; /* input */
    size_t ilen;

    char *ob; /* output queue: bytes [oh, ot) */
    size_t oh, ot, ocap;
    uint64_t o_written, o_queued;
    struct rec *recs; /* ring of records covering [o_written, o_queued) */
    size_t rh, rn, rcap;
    uint32_t ev_pending;
    uint64_t events_pushed;
    uint32_t lost_consec;

    bool rp_started, rp_on, rp_timer;
    size_t rp_next;
    uint64_t rp_t0_ns;

    bool fl_started, fl_on, fl_stopping;
    const struct fssim_flood *fl;
    uint64_t fl_sent;  /* complete flood frames written */
    size_t fl_pos;     /* next byte of fl->buf to write */
    size_t fl_frame;   /* frame containing fl_pos */
    size_t fl_stamped; /* frames [0, fl_stamped) of this pass carry fresh stamps */
};

static struct fssim_conn **slots;
static uint32_t *slot_gen;
static uint32_t nslots, slots_cap;
static struct fssim_conn *dirty_list, *zombie_list;

enum { EP_LISTEN = 1, EP_CONN = 2, EP_SIGNAL = 3 };

static uint64_t ep_key(int type, uint32_t gen, uint32_t idx)
{
    return ((uint64_t)type << 60) | ((uint64_t)(gen & 0x0fffffff) << 32) | idx;
}

static struct fssim_conn *conn_lookup(uint64_t key)
{
    uint32_t idx = (uint32_t)key, gen = (uint32_t)(key >> 32) & 0x0fffffff;
    if (idx >= nslots || !slots[idx] || (slot_gen[idx] & 0x0fffffff) != gen || slots[idx]->dead)
        return NULL;
    return slots[idx];
}

static void mark_dirty(struct fssim_conn *c)
{
    if (!c->dirty && !c->dead) {
        c->dirty = true;
        c->dirty_next = dirty_list;
        dirty_list = c;
    }
}

/* Closes now (peer gone, write error, killed): no more bytes. Freed at the end of the loop turn. */
static void conn_kill(struct fssim_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    struct fssim_inst *in = c->in;
    if (c->prev)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    in->nconns--;
    c->zombie_next = zombie_list;
    zombie_list = c;
}

static void conn_free(struct fssim_conn *c)
{
    slots[c->slot] = NULL;
    slot_gen[c->slot]++;
    for (size_t i = 0; i < c->ncustom; i++)
        free(c->custom[i]);
    free(c->custom);
    free(c->ib);
    free(c->ob);
    free(c->recs);
    free(c);
}

static void free_zombies(void)
{
    while (zombie_list) {
        struct fssim_conn *c = zombie_list;
        zombie_list = c->zombie_next;
        conn_free(c);
    }
}

/* ---------------------------------------------------------------- output queue */

static void out_append(struct fssim_conn *c, const void *p, size_t n, int kind, bool event)
{
    if (c->dead || !n)
        return;
    if (c->ocap - c->ot < n) {
        if (c->oh) {
            memmove(c->ob, c->ob + c->oh, c->ot - c->oh);
            c->ot -= c->oh;
            c->oh = 0;
        }
        if (c->ocap - c->ot < n) {
            size_t cap = c->ocap ? c->ocap : 64 * 1024;
            while (cap - c->ot < n)
                cap *= 2;
            char *nb = realloc(c->ob, cap);
            if (!nb)
                abort();
            c->ob = nb;
            c->ocap = cap;
        }
    }
    memcpy(c->ob + c->ot, p, n);
    c->ot += n;
    if (c->rn == c->rcap) {
        size_t ncap = c->rcap ? c->rcap * 2 : 64;
        struct rec *nr = malloc(ncap * sizeof(*nr));
        if (!nr)
            abort();
        for (size_t i = 0; i < c->rn; i++)
            nr[i] = c->recs[(c->rh + i) % c->rcap];
        free(c->recs);
        c->recs = nr;
        c->rh = 0;
        c->rcap = ncap;
    }
    struct rec *r = &c->recs[(c->rh + c->rn) % c->rcap];
    r->start = c->o_queued;
    c->o_queued += n;
    r->end = c->o_queued;
    r->kind = (int16_t)kind;
    r->event = event;
    c->rn++;
    if (event)
        c->ev_pending++;
    mark_dirty(c);
}

static void out_str(struct fssim_conn *c, const char *s)
{
    out_append(c, s, strlen(s), -1, false);
}

static void reply(struct fssim_conn *c, const char *text)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "Content-Type: command/reply\nReply-Text: %s\n\n", text);
    if (n > 0)
        out_append(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, -1, false);
}

/*
 * Drops queued event frames nobody has started to receive (noevents and exit
 * flush the listener's event queue in FreeSWITCH). Replies and a frame already
 * half written stay.
 */
static void out_drop_unsent_events(struct fssim_conn *c)
{
    if (!c->ev_pending)
        return;
    struct rec *nr = malloc((c->rcap ? c->rcap : 1) * sizeof(*nr));
    char *nb = malloc(c->ocap ? c->ocap : 1);
    if (!nr || !nb)
        abort();
    size_t w = 0, keep = 0;
    uint64_t pos = c->o_written;
    for (size_t i = 0; i < c->rn; i++) {
        struct rec r = c->recs[(c->rh + i) % c->rcap];
        bool started = r.start < c->o_written;
        if (r.event && !started) {
            c->ev_pending--;
            continue;
        }
        uint64_t from = started ? c->o_written : r.start;
        size_t len = (size_t)(r.end - from);
        memcpy(nb + w, c->ob + c->oh + (size_t)(from - c->o_written), len);
        w += len;
        uint64_t rlen = r.end - r.start;
        if (!started) {
            r.start = pos;
            r.end = pos + rlen;
        }
        pos = r.end;
        nr[keep++] = r;
    }
    free(c->ob);
    free(c->recs);
    c->ob = nb;
    c->oh = 0;
    c->ot = w;
    c->recs = nr;
    c->rh = 0;
    c->rn = keep;
    c->o_queued = pos;
}

static bool flood_at_boundary(const struct fssim_conn *c)
{
    return c->fl_pos == (c->fl_frame ? c->fl->frame_end[c->fl_frame - 1] : 0);
}

/* Ends the flood, but never inside a frame: the writer finishes the current one first. */
static void flood_stop(struct fssim_conn *c)
{
    if (!c->fl_on)
        return;
    if (flood_at_boundary(c))
        c->fl_on = false;
    else
        c->fl_stopping = true;
}

static void close_with_notice(struct fssim_conn *c)
{
    out_drop_unsent_events(c);
    out_str(c, DISCONNECT_NOTICE);
    c->closing = true;
    c->rp_on = false;
    flood_stop(c);
}

/* ---------------------------------------------------------------- subscriptions */

static bool conn_sub_match(const struct fssim_conn *c, int kind, const char *subclass)
{
    if (c->sub_all)
        return true;
    if (kind < 0 || kind >= FSSIM_KIND_MAX || !c->sub[kind])
        return false;
    if (kind != FSSIM_KIND_CUSTOM || !subclass)
        return true;
    for (size_t i = 0; i < c->ncustom; i++) {
        if (strcmp(c->custom[i], subclass) == 0)
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------- event push (faults, bounds) */

static void garbage(struct fssim_conn *c)
{
    char g[GARBAGE_BYTES];
    for (size_t i = 0; i < sizeof(g); i += 8) {
        uint64_t v = fssim_rng_next(&c->in->rng_misc);
        memcpy(g + i, &v, 8);
    }
    for (size_t i = 0; i < sizeof(g); i += 16)
        g[i] = '\0'; /* make sure NULs are in there */
    out_append(c, g, sizeof(g), -1, false);
}

/* Queues one complete event frame, applying this connection's fault and queue bound. */
static void conn_push_event(struct fssim_conn *c, int kind, const char *p, size_t n)
{
    if (c->dead || c->closing || c->stalled || c->silent)
        return;
    if (c->in->fault && c->events_pushed >= fssim_cfg.fault_after) {
        switch (fssim_cfg.fault) {
        case FSSIM_FAULT_DISCONNECT_MID_FRAME:
            out_append(c, p, n / 2, -1, false);
            c->closing = true;
            c->rp_on = false;
            return;
        case FSSIM_FAULT_GARBAGE:
            garbage(c);
            c->silent = true;
            c->rp_on = false;
            return;
        case FSSIM_FAULT_STALL:
            c->stalled = true;
            c->rp_on = false;
            return;
        case FSSIM_FAULT_OVERSIZED:
            if (!c->oversized_done) {
                struct fssim_buf big = {0};
                fssim_build_oversized(c->in, c->fmt, fssim_cfg.oversize_bytes, &big);
                out_append(c, big.p, big.n, kind_bgjob, true);
                fssim_buf_free(&big);
                c->oversized_done = true;
            }
            break;
        default: break;
        }
    }
    if (c->ev_pending >= fssim_cfg.queue_events || (c->ot - c->oh) + n > fssim_cfg.queue_bytes) {
        c->in->st_dropped++;
        if (fssim_cfg.max_missed && ++c->lost_consec > fssim_cfg.max_missed) {
            fprintf(stderr, "fssim: %s: killed listener fd %d because of lost events\n", c->in->name, c->fd);
            c->in->st_killed++;
            conn_kill(c);
        }
        return;
    }
    c->lost_consec = 0;
    c->events_pushed++;
    out_append(c, p, n, kind, true);
}

/* ---------------------------------------------------------------- fan-out */

static struct fssim_buf fire_buf;

void fssim_fire(struct fssim_inst *in, const struct fssim_event *ev)
{
    size_t off[2] = {SIZE_MAX, SIZE_MAX}, len[2] = {0, 0};
    fire_buf.n = 0;
    for (struct fssim_conn *c = in->conns, *next; c; c = next) {
        next = c->next;
        if (c->dead || c->closing || !c->authed || !c->events_on || c->rp_started || c->fl_started)
            continue;
        if (c->fmt == FSSIM_FMT_XML || !conn_sub_match(c, ev->kind, ev->subclass))
            continue;
        int f = c->fmt == FSSIM_FMT_JSON ? 1 : 0;
        if (off[f] == SIZE_MAX) {
            size_t s = fire_buf.n;
            fssim_render_frame(&fire_buf, (enum fssim_fmt)f, ev->tpl, ev->cond_mask, ev->tok, ev->ctx, ev->body,
                               ev->body_len);
            off[f] = s;
            len[f] = fire_buf.n - s;
        }
        conn_push_event(c, ev->kind, fire_buf.p + off[f], len[f]);
    }
}

/* ---------------------------------------------------------------- replay */

static uint64_t conn_timer_key(const struct fssim_conn *c)
{
    return ((uint64_t)c->gen << 32) | c->slot;
}

static void replay_fill(struct fssim_conn *c, uint64_t now)
{
    while (c->rp_on && !c->dead && c->rp_next < replay.nframes && c->ot - c->oh < REPLAY_HIWAT) {
        const struct fssim_replay_frame *fr = &replay.frames[c->rp_next];
        if (fssim_cfg.replay_speed > 0 && fr->ts_us && replay.frames[0].ts_us && fr->ts_us > replay.frames[0].ts_us) {
            uint64_t due = c->rp_t0_ns +
                           (uint64_t)((double)(fr->ts_us - replay.frames[0].ts_us) * 1000.0 / fssim_cfg.replay_speed);
            if (due > now) {
                if (!c->rp_timer) {
                    c->rp_timer = true;
                    fssim_timer_add(due, FSSIM_T_CONN, NULL, conn_timer_key(c));
                }
                return;
            }
        }
        c->rp_next++;
        if (conn_sub_match(c, fr->kind, fr->subclass))
            conn_push_event(c, fr->kind, replay.data + fr->off, fr->len);
    }
}

/* ---------------------------------------------------------------- writing */

static void conn_flush(struct fssim_conn *c)
{
    struct fssim_inst *in = c->in;
    for (;;) {
        if (c->dead)
            return;
        const char *p = NULL;
        size_t n = 0;
        bool flood = false;
        if (c->ot > c->oh && (!c->fl_on || flood_at_boundary(c))) {
            p = c->ob + c->oh;
            n = c->ot - c->oh;
        } else if (c->fl_on) {
            const struct fssim_flood *fl = c->fl;
            uint64_t left = fssim_cfg.flood - c->fl_sent; /* frames incl. the current one */
            size_t last = c->fl_frame + (size_t)(left < fl->nframes ? left : fl->nframes) - 1;
            if (last >= fl->nframes)
                last = fl->nframes - 1;
            size_t limit = fl->frame_end[last];
            if (c->ot > c->oh || c->fl_stopping) /* a reply waits / stopping: end of this frame */
                limit = fl->frame_end[c->fl_frame];
            if (limit > c->fl_pos + FLOOD_CHUNK)
                limit = c->fl_pos + FLOOD_CHUNK;
            if (fssim_cfg.stamp) {
                while (c->fl_stamped < fl->nframes && (c->fl_stamped ? fl->frame_end[c->fl_stamped - 1] : 0) < limit) {
                    if ((c->fl_stamped ? fl->frame_end[c->fl_stamped - 1] : 0) >= c->fl_pos)
                        fssim_flood_stamp(fl, c->fl_stamped);
                    c->fl_stamped++;
                }
            }
            p = fl->buf.p + c->fl_pos;
            n = limit - c->fl_pos;
            flood = true;
        }
        if (!n)
            break;
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return; /* EPOLLOUT (edge) will bring us back */
            conn_kill(c);
            return;
        }
        in->st_bytes += (uint64_t)w;
        if (flood) {
            const struct fssim_flood *fl = c->fl;
            c->fl_pos += (size_t)w;
            while (c->fl_frame < fl->nframes && fl->frame_end[c->fl_frame] <= c->fl_pos) {
                c->fl_frame++;
                c->fl_sent++;
                in->st_sent[kind_recv_rtcp]++;
            }
            if (c->fl_pos == fl->buf.n) {
                c->fl_pos = 0;
                c->fl_frame = 0;
                c->fl_stamped = 0;
            }
            if (c->fl_stopping && flood_at_boundary(c)) {
                c->fl_on = false;
                c->fl_stopping = false;
            } else if (c->fl_sent >= fssim_cfg.flood) {
                c->fl_on = false;
                close_with_notice(c);
            }
        } else {
            c->oh += (size_t)w;
            c->o_written += (uint64_t)w;
            while (c->rn && c->recs[c->rh].end <= c->o_written) {
                struct rec *r = &c->recs[c->rh];
                if (r->event) {
                    c->ev_pending--;
                    if (r->kind >= 0 && r->kind < FSSIM_KIND_MAX)
                        in->st_sent[r->kind]++;
                }
                c->rh = (c->rh + 1) % c->rcap;
                c->rn--;
            }
            if (c->oh == c->ot)
                c->oh = c->ot = 0;
        }
        if (c->rp_on && c->ot - c->oh < REPLAY_HIWAT / 2)
            replay_fill(c, fssim_mono_ns());
    }
    if (c->rp_on)
        replay_fill(c, fssim_mono_ns());
    if (c->ot > c->oh)
        conn_flush(c); /* replay_fill queued more while the socket may still take it */
    else if (c->closing && !c->fl_on) {
        /* everything is out: drain what the peer sent, so close() sends FIN and not RST */
        char tmp[4096];
        while (recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT) > 0)
            ;
        conn_kill(c);
    }
}

static void flush_dirty(void)
{
    while (dirty_list) {
        struct fssim_conn *c = dirty_list;
        dirty_list = c->dirty_next;
        c->dirty = false;
        if (!c->dead)
            conn_flush(c);
    }
}

/* ---------------------------------------------------------------- commands */

static bool prefix(const char *s, const char *p)
{
    return strncasecmp(s, p, strlen(p)) == 0;
}

static const char *fmt_name(enum fssim_fmt f)
{
    return f == FSSIM_FMT_JSON ? "json" : f == FSSIM_FMT_XML ? "xml" : "plain";
}

static void start_streams(struct fssim_conn *c)
{
    uint64_t now = fssim_mono_ns();
    if (fssim_cfg.flood) {
        if (c->fl_started)
            return;
        c->fl_started = true;
        if (c->fmt == FSSIM_FMT_XML || !conn_sub_match(c, kind_recv_rtcp, NULL)) {
            fprintf(stderr,
                    "fssim: %s: --flood needs `event plain|json` with RECV_RTCP_MESSAGE; "
                    "closing\n",
                    c->in->name);
            close_with_notice(c);
            return;
        }
        c->fl = fssim_flood_get(c->in, c->fmt);
        c->fl_on = c->fl->nframes > 0;
        if (!c->fl_on)
            close_with_notice(c);
        return;
    }
    if (replay_loaded) {
        if (c->rp_started)
            return;
        if (c->fmt != replay.fmt) {
            fprintf(stderr,
                    "fssim: %s: client subscribed `event %s` but the replay capture holds "
                    "%s events: serving nothing\n",
                    c->in->name, fmt_name(c->fmt), fmt_name(replay.fmt));
            return;
        }
        c->rp_started = c->rp_on = true;
        c->rp_next = 0;
        c->rp_t0_ns = now;
        replay_fill(c, now);
        return;
    }
    if (c->fmt == FSSIM_FMT_XML)
        fprintf(stderr, "fssim: %s: `event xml` accepted, but fssim does not render XML events\n", c->in->name);
    fssim_gen_start(c->in, now);
}

/* `event [plain|json|xml] NAME...` exactly as mod_event_socket parses it. */
static void cmd_event(struct fssim_conn *c, char *cmd)
{
    int count = 0, key_count = 0;
    bool custom = false;
    char *cur = strchr(cmd + 5, ' ');
    if (cur) {
        for (cur++; cur; count++) {
            char *next = strchr(cur, ' ');
            if (next)
                *next++ = '\0';
            if (!count) {
                if (!strcasecmp(cur, "xml") || !strcasecmp(cur, "plain") || !strcasecmp(cur, "json")) {
                    c->fmt = !strcasecmp(cur, "xml")    ? FSSIM_FMT_XML
                             : !strcasecmp(cur, "json") ? FSSIM_FMT_JSON
                                                        : FSSIM_FMT_PLAIN;
                    cur = next;
                    continue;
                }
            }
            if (custom) {
                char **nc = realloc(c->custom, (c->ncustom + 1) * sizeof(*nc));
                if (!nc)
                    abort();
                c->custom = nc;
                c->custom[c->ncustom] = strdup(cur);
                if (!c->custom[c->ncustom])
                    abort();
                c->ncustom++;
            } else {
                int k = fssim_event_kind(cur, strlen(cur));
                if (k >= 0) {
                    key_count++;
                    if (!strcmp(fssim_event_names[k], "ALL"))
                        c->sub_all = true;
                    if (k < FSSIM_KIND_MAX)
                        c->sub[k] = 1;
                    if (k == FSSIM_KIND_CUSTOM)
                        custom = true;
                }
            }
            cur = next;
        }
    }
    if (!key_count) {
        reply(c, "-ERR no keywords supplied");
        return;
    }
    c->events_on = true;
    char text[64];
    snprintf(text, sizeof(text), "+OK event listener enabled %s", fmt_name(c->fmt));
    reply(c, text);
    start_streams(c);
}

static void cmd_nixevent(struct fssim_conn *c, char *cmd)
{
    int key_count = 0;
    bool custom = false;
    char *cur = strchr(cmd + 5, ' ');
    if (cur) {
        for (cur++; cur;) {
            char *next = strchr(cur, ' ');
            if (next)
                *next++ = '\0';
            if (custom) {
                for (size_t i = 0; i < c->ncustom; i++) {
                    if (!strcmp(c->custom[i], cur)) {
                        free(c->custom[i]);
                        c->custom[i] = c->custom[--c->ncustom];
                        break;
                    }
                }
            } else {
                int k = fssim_event_kind(cur, strlen(cur));
                if (k >= 0) {
                    key_count++;
                    if (k == FSSIM_KIND_CUSTOM) {
                        custom = true;
                    } else if (!strcmp(fssim_event_names[k], "ALL")) {
                        memset(c->sub, 0, sizeof(c->sub));
                        c->sub_all = false;
                    } else {
                        if (c->sub_all) {
                            c->sub_all = false;
                            memset(c->sub, 1, sizeof(c->sub));
                        }
                        if (k < FSSIM_KIND_MAX)
                            c->sub[k] = 0;
                    }
                }
            }
            cur = next;
        }
    }
    if (!key_count) {
        reply(c, "-ERR no keywords supplied");
        return;
    }
    c->events_on = true;
    reply(c, "+OK events nixed");
}

static void cmd_noevents(struct fssim_conn *c)
{
    out_drop_unsent_events(c);
    c->rp_on = false;
    flood_stop(c);
    if (c->events_on) {
        c->events_on = false;
        c->sub_all = false;
        memset(c->sub, 0, sizeof(c->sub));
        for (size_t i = 0; i < c->ncustom; i++)
            free(c->custom[i]);
        c->ncustom = 0;
        reply(c, "+OK no longer listening for events");
    } else {
        reply(c, "-ERR not listening for events");
    }
}

static void run_api(struct fssim_conn *c, char *api_cmd, struct fssim_buf *out, const char **arg_out)
{
    char *arg = strchr(api_cmd, ' ');
    if (arg)
        *arg++ = '\0';
    *arg_out = arg;
    out->n = 0;
    if (!fssim_api(c->in, api_cmd, arg, out)) {
        out->n = 0;
        fssim_buf_printf(out, "-ERR %s Command not found!\n", api_cmd);
    }
}

static int log_level(const char *s)
{
    static const char *const names[] = {"console", "alert", "crit", "err", "warning", "notice", "info", "debug"};
    if (s[0] >= '0' && s[0] <= '7' && !s[1])
        return s[0] - '0';
    for (int i = 0; i < 8; i++) {
        if (!strcasecmp(s, names[i]))
            return i;
    }
    if (!strcasecmp(s, "error"))
        return 3;
    return -1;
}

static void handle_command(struct fssim_conn *c, char *cmd, const char *job_uuid)
{
    struct fssim_inst *in = c->in;
    c->got_command = true;
    if (c->stalled || c->closing)
        return;

    if (prefix(cmd, "exit") || !strncmp(cmd, "...", 3)) {
        out_drop_unsent_events(c);
        reply(c, "+OK bye");
        close_with_notice(c);
        return;
    }
    if (!c->authed) {
        if (prefix(cmd, "auth ")) {
            bool ok = strcmp(cmd + 5, fssim_cfg.password) == 0;
            if (in->fault && fssim_cfg.fault == FSSIM_FAULT_WRONG_PASSWORD)
                ok = false;
            if (ok) {
                c->authed = true;
                in->st_auth_ok++;
                reply(c, "+OK accepted");
            } else {
                in->st_auth_failed++;
                reply(c, "-ERR invalid");
                close_with_notice(c);
            }
            return;
        }
        if (prefix(cmd, "userauth ")) {
            in->st_auth_failed++;
            reply(c, "-ERR invalid");
            close_with_notice(c);
            return;
        }
        reply(c, "-ERR command not found");
        return;
    }

    if (prefix(cmd, "filter ")) {
        /* acknowledged like FreeSWITCH, but not applied (see docs/fssim.md) */
        char *h = cmd + 7;
        while (*h == ' ')
            h++;
        char *v = strchr(h, ' ');
        if (v)
            *v++ = '\0';
        char text[900];
        if (!strcasecmp(h, "delete") && v) {
            char *hv = strchr(v, ' ');
            if (hv)
                *hv++ = '\0';
            snprintf(text, sizeof(text), "+OK filter deleted. [%.400s][%.400s]", v, hv ? hv : "");
        } else if (v) {
            if (!strcasecmp(h, "add")) {
                h = v;
                v = strchr(h, ' ');
                if (v)
                    *v++ = '\0';
            }
            snprintf(text, sizeof(text), "+OK filter added. [%.400s]=[%.400s]", h, v ? v : "(null)");
        } else {
            snprintf(text, sizeof(text), "-ERR invalid syntax");
        }
        reply(c, text);
        return;
    }
    if (prefix(cmd, "divert_events")) {
        reply(c, "-ERR not controlling a session.");
        return;
    }
    if (prefix(cmd, "sendmsg")) {
        char *u = cmd + 7;
        while (*u == ' ')
            u++;
        char text[600];
        snprintf(text, sizeof(text), "-ERR invalid session id [%.500s]", u);
        reply(c, text);
        return;
    }
    if (prefix(cmd, "sendevent")) {
        char u[37], text[64];
        fssim_rng_uuid(&in->rng_misc, u);
        snprintf(text, sizeof(text), "+OK %s", u);
        reply(c, text);
        return;
    }
    if (prefix(cmd, "api ")) {
        struct fssim_buf out = {0};
        const char *arg;
        char *api_cmd = cmd + 4;
        run_api(c, api_cmd, &out, &arg);
        if (!out.n)
            fssim_buf_puts(&out, "-ERR no reply\n");
        char head[96];
        int n = snprintf(head, sizeof(head), "Content-Type: api/response\nContent-Length: %zu\n\n", out.n);
        out_append(c, head, (size_t)n, -1, false);
        out_append(c, out.p, out.n, -1, false);
        fssim_buf_free(&out);
        fssim_fire_api(in, api_cmd, arg);
        return;
    }
    if (prefix(cmd, "bgapi ")) {
        char uuid[64];
        if (job_uuid && *job_uuid)
            snprintf(uuid, sizeof(uuid), "%s", job_uuid);
        else
            fssim_rng_uuid(&in->rng_misc, uuid);
        char head[256];
        int n = snprintf(head, sizeof(head),
                         "Content-Type: command/reply\nReply-Text: +OK Job-UUID: %s\nJob-UUID: %s\n\n", uuid, uuid);
        out_append(c, head, (size_t)n, -1, false);
        struct fssim_buf out = {0};
        const char *arg;
        char *api_cmd = cmd + 6;
        run_api(c, api_cmd, &out, &arg);
        if (!out.n)
            fssim_buf_puts(&out, "Command returned no output!");
        fssim_fire_api(in, api_cmd, arg);
        fssim_fire_bgjob(in, uuid, api_cmd, arg, out.p, out.n);
        fssim_buf_free(&out);
        return;
    }
    if (prefix(cmd, "log")) {
        const char *lv = cmd + 3;
        int level = 7;
        if (*lv)
            lv++;
        if (*lv)
            level = log_level(lv);
        if (level < 0) {
            reply(c, "-ERR invalid log level");
        } else {
            char text[600];
            c->logging = true;
            snprintf(text, sizeof(text), "+OK log level %.500s [%d]", lv, level);
            reply(c, text);
        }
        return;
    }
    if (prefix(cmd, "linger") || prefix(cmd, "nolinger")) {
        reply(c, "-ERR not controlling a session");
        return;
    }
    if (prefix(cmd, "nolog")) {
        reply(c, c->logging ? "+OK no longer logging" : "-ERR not loging");
        c->logging = false;
        return;
    }
    if (prefix(cmd, "event")) {
        cmd_event(c, cmd);
        return;
    }
    if (prefix(cmd, "nixevent")) {
        cmd_nixevent(c, cmd);
        return;
    }
    if (prefix(cmd, "noevents")) {
        cmd_noevents(c);
        return;
    }
    reply(c, "-ERR command not found");
}

/*
 * One command out of the input, as read_packet() frames it: leading CR/LF are
 * skipped, the block ends at the second '\n' with only '\r' between, the first
 * line is the command, then "Name: value" headers; a Content-Length header
 * means that many body bytes follow. Returns bytes consumed, 0 = need more.
 */
static size_t parse_one(struct fssim_conn *c)
{
    static char line[CMD_MAX + 1];
    size_t i = 0;
    while (i < c->ilen && (c->ib[i] == '\r' || c->ib[i] == '\n'))
        i++;
    if (i == c->ilen)
        return i;
    size_t end = 0;
    int crcount = 0;
    for (size_t j = i; j < c->ilen; j++) {
        char ch = c->ib[j];
        if (ch == '\n')
            crcount++;
        else if (ch != '\r')
            crcount = 0;
        if (crcount == 2) {
            end = j + 1;
            break;
        }
    }
    if (!end)
        return 0;
    /* headers after the first line */
    size_t clen = 0;
    char job_uuid[64] = "";
    const char *p = c->ib + i, *hend = c->ib + end;
    const char *eol = p;
    while (eol < hend && *eol != '\r' && *eol != '\n')
        eol++;
    size_t cmdlen = (size_t)(eol - p);
    memcpy(line, p, cmdlen);
    line[cmdlen] = '\0';
    const char *h = memchr(p, '\n', (size_t)(hend - p));
    while (h && h + 1 < hend) {
        h++;
        const char *e = h;
        while (e < hend && *e != '\n' && *e != '\r')
            e++;
        const char *colon = memchr(h, ':', (size_t)(e - h));
        if (colon) {
            const char *v = colon + 1;
            while (v < e && *v == ' ')
                v++;
            size_t nl = (size_t)(colon - h), vl = (size_t)(e - v);
            if (nl == 14 && !strncasecmp(h, "content-length", 14)) {
                clen = 0;
                for (size_t k = 0; k < vl && v[k] >= '0' && v[k] <= '9' && clen <= CMD_MAX; k++)
                    clen = clen * 10 + (size_t)(v[k] - '0');
            } else if (nl == 8 && !strncasecmp(h, "job-uuid", 8) && vl < sizeof(job_uuid)) {
                memcpy(job_uuid, v, vl);
                job_uuid[vl] = '\0';
            }
        }
        h = memchr(e, '\n', (size_t)(hend - e));
    }
    if (clen > CMD_MAX)
        return SIZE_MAX;
    if (c->ilen - end < clen)
        return 0;
    handle_command(c, line, job_uuid);
    return end + clen;
}

static void conn_read(struct fssim_conn *c)
{
    for (;;) {
        if (c->dead)
            return;
        if (c->ilen == CMD_MAX) {
            fprintf(stderr, "fssim: %s: command larger than %d bytes, closing\n", c->in->name, CMD_MAX);
            conn_kill(c);
            return;
        }
        ssize_t r = recv(c->fd, c->ib + c->ilen, CMD_MAX - c->ilen, MSG_DONTWAIT);
        if (r == 0) {
            conn_kill(c);
            return;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_kill(c);
            return;
        }
        if (c->closing || c->stalled) {
            c->ilen = 0; /* keep reading, ignore */
            continue;
        }
        c->ilen += (size_t)r;
        for (;;) {
            size_t used = parse_one(c);
            if (used == SIZE_MAX) {
                conn_kill(c);
                return;
            }
            if (c->dead)
                return;
            if (!used)
                break;
            memmove(c->ib, c->ib + used, c->ilen - used);
            c->ilen -= used;
            if (c->closing || c->stalled) {
                c->ilen = 0;
                break;
            }
        }
    }
}

/* ---------------------------------------------------------------- accept */

static void conn_accept(struct fssim_inst *in)
{
    for (;;) {
        int fd = accept4(in->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "fssim: %s: accept: %s\n", in->name, strerror(errno));
            return;
        }
        if (in->nconns >= fssim_cfg.max_conns) {
            in->st_refused++;
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct fssim_conn *c = calloc(1, sizeof(*c));
        if (!c)
            abort();
        c->ib = malloc(CMD_MAX);
        if (!c->ib)
            abort();
        if (nslots == slots_cap) {
            /* find a free slot first */
            uint32_t s;
            for (s = 0; s < nslots && slots[s]; s++)
                ;
            if (s == nslots) {
                slots_cap = slots_cap ? slots_cap * 2 : 64;
                slots = realloc(slots, slots_cap * sizeof(*slots));
                slot_gen = realloc(slot_gen, slots_cap * sizeof(*slot_gen));
                if (!slots || !slot_gen)
                    abort();
                for (uint32_t k = nslots; k < slots_cap; k++) {
                    slots[k] = NULL;
                    slot_gen[k] = 1;
                }
            }
        }
        uint32_t s;
        for (s = 0; s < nslots && slots[s]; s++)
            ;
        if (s == nslots)
            nslots++;
        slots[s] = c;
        c->slot = s;
        c->gen = slot_gen[s] & 0x0fffffff;
        c->fd = fd;
        c->in = in;
        c->fmt = FSSIM_FMT_PLAIN;
        c->next = in->conns;
        if (in->conns)
            in->conns->prev = c;
        in->conns = c;
        in->nconns++;
        in->st_conns++;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.u64 = ep_key(EP_CONN, c->gen, c->slot)};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            fprintf(stderr, "fssim: epoll_ctl: %s\n", strerror(errno));
            conn_kill(c);
            continue;
        }
        if (in->fault && fssim_cfg.fault == FSSIM_FAULT_REJECT) {
            /* mod_event_socket's ACL rejection: no auth/request; then its usual goodbye */
            out_str(c, RUDE_REJECTION);
            close_with_notice(c);
            continue;
        }
        out_str(c, "Content-Type: auth/request\n\n");
        if (fssim_cfg.auth_timeout_s > 0)
            fssim_timer_add(fssim_mono_ns() + (uint64_t)(fssim_cfg.auth_timeout_s * 1e9), FSSIM_T_CONN, (void *)1,
                            conn_timer_key(c));
    }
}

/* ---------------------------------------------------------------- summary */

static void summary(FILE *f)
{
    fprintf(f, "{\"instances\":[");
    for (int i = 0; i < fssim_cfg.instances; i++) {
        struct fssim_inst *in = &insts[i];
        fprintf(f,
                "%s{\"name\":\"%s\",\"port\":%u,\"connections\":%" PRIu64 ",\"auth_ok\":%" PRIu64
                ",\"auth_failed\":%" PRIu64 ",\"events_sent\":{",
                i ? "," : "", in->name, in->port, in->st_conns, in->st_auth_ok, in->st_auth_failed);
        bool first = true;
        for (int k = 0; k < fssim_event_count && k < FSSIM_KIND_MAX; k++) {
            if (!in->st_sent[k])
                continue;
            fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", fssim_event_names[k], in->st_sent[k]);
            first = false;
        }
        fprintf(f,
                "},\"bytes_sent\":%" PRIu64 ",\"events_dropped\":%" PRIu64 ",\"connections_killed\":%" PRIu64
                ",\"connections_refused\":%" PRIu64 ",\"calls_started\":%" PRIu64 ",\"calls_completed\":%" PRIu64
                ",\"channel_lists\":%" PRIu64 ",\"uuid_dumps\":%" PRIu64 "}",
                in->st_bytes, in->st_dropped, in->st_killed, in->st_refused, in->calls_started, in->calls_ended,
                in->st_resync_lists, in->st_resync_dumps);
    }
    fprintf(f, "]}\n");
    fflush(f);
}

/* ---------------------------------------------------------------- options */

static void usage(FILE *f)
{
    fprintf(f, "usage: fssim [options]\n"
               "  --bind ADDR            listen address (127.0.0.1)\n"
               "  --port P               first port (8021); 0 = ephemeral ports\n"
               "  --instances N          instances on ports P..P+N-1, named fs1..fsN (1)\n"
               "  --password PW          ESL password (ClueCon)\n"
               "  --heartbeat S          HEARTBEAT period, 0 = off (20)\n"
               "  --calls N              concurrent synthetic calls per instance, 2 legs each (0)\n"
               "  --call-duration S      call media duration (30)\n"
               "  --duration-jitter F    +/- uniform fraction of the duration (0)\n"
               "  --cps R                call starts per second per instance (0 = all at once)\n"
               "  --total-calls N        stop creating calls after N per instance (unlimited)\n"
               "  --rtcp-interval-ms M   RTCP report period per leg (5000)\n"
               "  --fire-rtcp            legs also emit SEND_RTCP_MESSAGE\n"
               "  --loss-pct X           synthetic packet loss percent (0)\n"
               "  --jitter-ms X          synthetic jitter (1)\n"
               "  --rtt-ms X             synthetic round trip for Rtt0-Avg (20)\n"
               "  --codec NAME           PCMU|PCMA|G722|OPUS for every call (default: a mix)\n"
               "  --seed N               PRNG seed (1)\n"
               "  --replay FILE          serve the event frames of a raw capture after subscribe\n"
               "  --replay-speed X       0 = as fast as possible (0), 1 = real time\n"
               "  --flood N              after subscribe send N RECV_RTCP_MESSAGE frames, then close\n"
               "  --flood-legs N         distinct Unique-IDs in the flood (10000)\n"
               "  --stamp                RTCP Capture-Time = CLOCK_MONOTONIC us at send time\n"
               "  --fault MODE           wrong-password|reject|disconnect-mid-frame|garbage|oversized|stall\n"
               "  --fault-after N        events before the fault (10)\n"
               "  --fault-instances LIST comma list of 0-based instance indexes (all)\n"
               "  --oversize-bytes N     Content-Length of the oversized frame (2097152)\n"
               "  --max-conns N          connections per instance (16)\n"
               "  --queue-bytes N        per-connection output bound in bytes (33554432)\n"
               "  --queue-events N       per-connection output bound in events (100000)\n"
               "  --max-missed N         disconnect after N consecutive drops, 0 = never (500)\n"
               "  --auth-timeout S       close if no command within S seconds (25)\n"
               "  --duration S           exit after S seconds (run until SIGTERM)\n"
               "  --stats-file PATH      also write the JSON summary there\n"
               "  --ready-file PATH      create once every port is bound\n"
               "  --drop-pct X           far side's packets that never leave it: skip rises, RTCP Lost does not (0)\n"
               "  --vad-pct X            ticks the far side is silent (VAD/DTX): skip rises, no loss (0)\n"
               "  --hold-pct N           calls whose A leg is held half the call (0)\n"
               "  --ip-from-pct N        calls from an IP-literal gateway, tenant only in the To host (0)\n"
               "  --hangup-causes LIST   CAUSE:PCT,... USER_BUSY NO_USER_RESPONSE NO_ANSWER CALL_REJECTED\n"
               "                         ORIGINATOR_CANCEL MEDIA_TIMEOUT; the rest NORMAL_CLEARING\n");
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return false;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno || *e || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_dbl(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return false;
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || *e || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, const char **fault_list)
{
    enum {
        O_BIND = 256,
        O_PORT,
        O_INSTANCES,
        O_PASSWORD,
        O_HEARTBEAT,
        O_CALLS,
        O_CALL_DURATION,
        O_DURATION_JITTER,
        O_CPS,
        O_TOTAL_CALLS,
        O_RTCP_INTERVAL,
        O_FIRE_RTCP,
        O_LOSS,
        O_JITTER,
        O_RTT,
        O_CODEC,
        O_SEED,
        O_REPLAY,
        O_REPLAY_SPEED,
        O_FLOOD,
        O_FLOOD_LEGS,
        O_STAMP,
        O_FAULT,
        O_FAULT_AFTER,
        O_FAULT_INSTANCES,
        O_OVERSIZE,
        O_MAX_CONNS,
        O_QUEUE_BYTES,
        O_QUEUE_EVENTS,
        O_MAX_MISSED,
        O_AUTH_TIMEOUT,
        O_DURATION,
        O_STATS_FILE,
        O_READY_FILE,
        O_DROP,
        O_VAD,
        O_HOLD,
        O_IP_FROM,
        O_CAUSES,
        O_HELP
    };
    static const struct option opts[] = {
        {"bind", required_argument, NULL, O_BIND},
        {"port", required_argument, NULL, O_PORT},
        {"instances", required_argument, NULL, O_INSTANCES},
        {"password", required_argument, NULL, O_PASSWORD},
        {"heartbeat", required_argument, NULL, O_HEARTBEAT},
        {"calls", required_argument, NULL, O_CALLS},
        {"call-duration", required_argument, NULL, O_CALL_DURATION},
        {"duration-jitter", required_argument, NULL, O_DURATION_JITTER},
        {"cps", required_argument, NULL, O_CPS},
        {"total-calls", required_argument, NULL, O_TOTAL_CALLS},
        {"rtcp-interval-ms", required_argument, NULL, O_RTCP_INTERVAL},
        {"fire-rtcp", no_argument, NULL, O_FIRE_RTCP},
        {"loss-pct", required_argument, NULL, O_LOSS},
        {"jitter-ms", required_argument, NULL, O_JITTER},
        {"rtt-ms", required_argument, NULL, O_RTT},
        {"codec", required_argument, NULL, O_CODEC},
        {"seed", required_argument, NULL, O_SEED},
        {"replay", required_argument, NULL, O_REPLAY},
        {"replay-speed", required_argument, NULL, O_REPLAY_SPEED},
        {"flood", required_argument, NULL, O_FLOOD},
        {"flood-legs", required_argument, NULL, O_FLOOD_LEGS},
        {"stamp", no_argument, NULL, O_STAMP},
        {"fault", required_argument, NULL, O_FAULT},
        {"fault-after", required_argument, NULL, O_FAULT_AFTER},
        {"fault-instances", required_argument, NULL, O_FAULT_INSTANCES},
        {"oversize-bytes", required_argument, NULL, O_OVERSIZE},
        {"max-conns", required_argument, NULL, O_MAX_CONNS},
        {"queue-bytes", required_argument, NULL, O_QUEUE_BYTES},
        {"queue-events", required_argument, NULL, O_QUEUE_EVENTS},
        {"max-missed", required_argument, NULL, O_MAX_MISSED},
        {"auth-timeout", required_argument, NULL, O_AUTH_TIMEOUT},
        {"duration", required_argument, NULL, O_DURATION},
        {"stats-file", required_argument, NULL, O_STATS_FILE},
        {"ready-file", required_argument, NULL, O_READY_FILE},
        {"drop-pct", required_argument, NULL, O_DROP},
        {"vad-pct", required_argument, NULL, O_VAD},
        {"hold-pct", required_argument, NULL, O_HOLD},
        {"ip-from-pct", required_argument, NULL, O_IP_FROM},
        {"hangup-causes", required_argument, NULL, O_CAUSES},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    struct fssim_cfg *g = &fssim_cfg;
    g->bind = "127.0.0.1";
    g->port = 8021;
    g->instances = 1;
    g->password = "ClueCon";
    g->heartbeat_s = 20;
    g->call_duration_s = 30;
    g->total_calls = -1;
    g->rtcp_interval_ms = 5000;
    g->jitter_ms = 1;
    g->rtt_ms = 20;
    g->codec = -1;
    g->seed = 1;
    g->flood_legs = 10000;
    g->fault_after = 10;
    g->oversize_bytes = 2 * 1024 * 1024;
    g->max_conns = 16;
    g->queue_bytes = 32 * 1024 * 1024;
    g->queue_events = 100000;
    g->max_missed = 500;
    g->auth_timeout_s = 25;
    *fault_list = NULL;

    int o;
    uint64_t u;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *a = optarg;
        bool ok = true;
        switch (o) {
        case O_BIND: g->bind = a; break;
        case O_PORT:
            ok = parse_u64(a, 65535, &u);
            g->port = (uint16_t)u;
            break;
        case O_INSTANCES:
            ok = parse_u64(a, FSSIM_MAX_INSTANCES, &u) && u > 0;
            g->instances = (int)u;
            break;
        case O_PASSWORD: g->password = a; break;
        case O_HEARTBEAT: ok = parse_dbl(a, 0, 86400, &g->heartbeat_s); break;
        case O_CALLS:
            ok = parse_u64(a, 10000000, &u);
            g->calls = (uint32_t)u;
            break;
        case O_CALL_DURATION: ok = parse_dbl(a, 0.02, 86400, &g->call_duration_s); break;
        case O_DURATION_JITTER: ok = parse_dbl(a, 0, 0.99, &g->duration_jitter); break;
        case O_CPS: ok = parse_dbl(a, 0, 1e6, &g->cps); break;
        case O_TOTAL_CALLS:
            ok = parse_u64(a, INT64_MAX, &u);
            g->total_calls = (int64_t)u;
            break;
        case O_RTCP_INTERVAL:
            ok = parse_u64(a, 3600000, &u) && u >= 20;
            g->rtcp_interval_ms = (uint32_t)u;
            break;
        case O_FIRE_RTCP: g->fire_rtcp = true; break;
        case O_LOSS: ok = parse_dbl(a, 0, 100, &g->loss_pct); break;
        case O_JITTER: ok = parse_dbl(a, 0, 10000, &g->jitter_ms); break;
        case O_RTT: ok = parse_dbl(a, 0, 100000, &g->rtt_ms); break;
        case O_CODEC:
            ok = false;
            for (int i = 0; i < fssim_codec_count; i++) {
                if (!strcasecmp(a, fssim_codec_names[i])) {
                    g->codec = i;
                    ok = true;
                }
            }
            break;
        case O_SEED: ok = parse_u64(a, UINT64_MAX, &g->seed); break;
        case O_REPLAY: g->replay_path = a; break;
        case O_REPLAY_SPEED: ok = parse_dbl(a, 0, 1e6, &g->replay_speed); break;
        case O_FLOOD: ok = parse_u64(a, UINT64_MAX / 2, &g->flood); break;
        case O_FLOOD_LEGS:
            ok = parse_u64(a, 1000000, &u) && u > 0;
            g->flood_legs = (uint32_t)u;
            break;
        case O_STAMP: g->stamp = true; break;
        case O_FAULT:
            if (!strcmp(a, "wrong-password"))
                g->fault = FSSIM_FAULT_WRONG_PASSWORD;
            else if (!strcmp(a, "reject"))
                g->fault = FSSIM_FAULT_REJECT;
            else if (!strcmp(a, "disconnect-mid-frame"))
                g->fault = FSSIM_FAULT_DISCONNECT_MID_FRAME;
            else if (!strcmp(a, "garbage"))
                g->fault = FSSIM_FAULT_GARBAGE;
            else if (!strcmp(a, "oversized"))
                g->fault = FSSIM_FAULT_OVERSIZED;
            else if (!strcmp(a, "stall"))
                g->fault = FSSIM_FAULT_STALL;
            else
                ok = false;
            break;
        case O_FAULT_AFTER: ok = parse_u64(a, UINT64_MAX, &g->fault_after); break;
        case O_FAULT_INSTANCES: *fault_list = a; break;
        case O_OVERSIZE:
            ok = parse_u64(a, (uint64_t)1 << 31, &u) && u >= 1024;
            g->oversize_bytes = (size_t)u;
            break;
        case O_MAX_CONNS:
            ok = parse_u64(a, 100000, &u) && u > 0;
            g->max_conns = (uint32_t)u;
            break;
        case O_QUEUE_BYTES:
            ok = parse_u64(a, (uint64_t)1 << 40, &u) && u >= 4096;
            g->queue_bytes = (size_t)u;
            break;
        case O_QUEUE_EVENTS:
            ok = parse_u64(a, 100000000, &u) && u > 0;
            g->queue_events = (uint32_t)u;
            break;
        case O_MAX_MISSED:
            ok = parse_u64(a, UINT32_MAX, &u);
            g->max_missed = (uint32_t)u;
            break;
        case O_AUTH_TIMEOUT: ok = parse_dbl(a, 0, 86400, &g->auth_timeout_s); break;
        case O_DURATION: ok = parse_dbl(a, 0, 1e9, &g->duration_s); break;
        case O_STATS_FILE: g->stats_file = a; break;
        case O_READY_FILE: g->ready_file = a; break;
        case O_DROP: ok = parse_dbl(a, 0, 100, &g->drop_pct); break;
        case O_VAD: ok = parse_dbl(a, 0, 100, &g->vad_pct); break;
        case O_HOLD:
            ok = parse_u64(a, 100, &u);
            g->hold_pct = (unsigned)u;
            break;
        case O_IP_FROM:
            ok = parse_u64(a, 100, &u);
            g->ip_from_pct = (unsigned)u;
            break;
        case O_CAUSES: ok = fssim_parse_causes(a); break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        if (!ok) {
            fprintf(stderr, "fssim: bad value for --%s: '%s'\n", opts[o - O_BIND].name, a ? a : "");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fssim: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (g->port && (uint32_t)g->port + (uint32_t)g->instances - 1 > 65535) {
        fprintf(stderr, "fssim: --port + --instances exceeds 65535\n");
        return -1;
    }
    for (int i = 0; i < g->instances; i++)
        g->fault_inst[i] = !*fault_list;
    if (*fault_list) {
        char *dup = strdup(*fault_list), *save = NULL;
        if (!dup)
            abort();
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (!parse_u64(t, (uint64_t)g->instances - 1, &u)) {
                fprintf(stderr, "fssim: bad --fault-instances entry '%s'\n", t);
                free(dup);
                return -1;
            }
            g->fault_inst[u] = true;
        }
        free(dup);
    }
    if (g->replay_path && g->flood) {
        fprintf(stderr, "fssim: --replay and --flood exclude each other\n");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- setup */

static int listen_on(struct fssim_inst *in, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, fssim_cfg.bind, &sa.sin_addr) != 1) {
        fprintf(stderr, "fssim: --bind %s: not an IPv4 address\n", fssim_cfg.bind);
        return -EINVAL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        fprintf(stderr, "fssim: %s: bind/listen %s:%u: %s\n", in->name, fssim_cfg.bind, port, strerror(e));
        close(fd);
        return -e;
    }
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    in->port = ntohs(sa.sin_port);
    in->lfd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ep_key(EP_LISTEN, 0, (uint32_t)in->idx)};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    return 0;
}

static int write_ready_file(void)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", fssim_cfg.ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "fssim: --ready-file %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    for (int i = 0; i < fssim_cfg.instances; i++)
        fprintf(f, "%s %u\n", insts[i].name, insts[i].port);
    fclose(f);
    if (rename(tmp, fssim_cfg.ready_file) < 0) {
        fprintf(stderr, "fssim: --ready-file %s: %s\n", fssim_cfg.ready_file, strerror(errno));
        return -1;
    }
    return 0;
}

static void on_conn_timer(const struct timer *t, uint64_t now)
{
    struct fssim_conn *c = conn_lookup(ep_key(EP_CONN, (uint32_t)(t->aux >> 32), (uint32_t)t->aux));
    if (!c)
        return;
    if (t->ptr == (void *)1) { /* auth timeout: FreeSWITCH gives up after 25 s without a command */
        if (!c->got_command && !c->closing) {
            close_with_notice(c);
            mark_dirty(c);
        }
        return;
    }
    c->rp_timer = false;
    replay_fill(c, now);
    mark_dirty(c);
}

int main(int argc, char **argv)
{
    const char *fault_list;
    if (parse_args(argc, argv, &fault_list) < 0)
        return 2;
    const char *err = fssim_tpl_compile();
    if (err) {
        fprintf(stderr, "fssim: templates: %s\n", err);
        return 2;
    }
    if (fssim_cfg.replay_path) {
        err = fssim_replay_load(&replay, fssim_cfg.replay_path);
        if (err) {
            fprintf(stderr, "fssim: --replay %s: %s\n", fssim_cfg.replay_path, err);
            fssim_replay_free(&replay);
            return 2;
        }
        replay_loaded = true;
    }
    kind_recv_rtcp = fssim_event_kind("RECV_RTCP_MESSAGE", 17);
    kind_bgjob = fssim_event_kind("BACKGROUND_JOB", 14);
    signal(SIGPIPE, SIG_IGN);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (epfd < 0 || sigfd < 0) {
        fprintf(stderr, "fssim: epoll/signalfd: %s\n", strerror(errno));
        return 1;
    }
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = ep_key(EP_SIGNAL, 0, 0)};
    epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &sev);

    insts = calloc((size_t)fssim_cfg.instances, sizeof(*insts));
    if (!insts)
        abort();
    int rc = 0;
    for (int i = 0; i < fssim_cfg.instances; i++) {
        struct fssim_inst *in = &insts[i];
        in->idx = i;
        in->lfd = -1;
        snprintf(in->name, sizeof(in->name), "fs%d", i + 1);
        in->fault = fssim_cfg.fault != FSSIM_FAULT_NONE && fssim_cfg.fault_inst[i];
        if (listen_on(in, fssim_cfg.port ? (uint16_t)(fssim_cfg.port + i) : 0) < 0) {
            rc = 1;
            goto out;
        }
        fssim_gen_init(in);
        /* Render the plain flood now, not at the subscription: a benchmark's clock should not time fssim's set-up. */
        if (fssim_cfg.flood > 0)
            (void)fssim_flood_get(in, FSSIM_FMT_PLAIN);
    }
    fprintf(stderr, "fssim: %d instance(s) on %s ports %u..%u%s%s\n", fssim_cfg.instances, fssim_cfg.bind,
            insts[0].port, insts[fssim_cfg.instances - 1].port, replay_loaded ? ", replaying " : "",
            replay_loaded ? fssim_cfg.replay_path : "");
    if (fssim_cfg.ready_file && write_ready_file() < 0) {
        rc = 1;
        goto out;
    }
    if (fssim_cfg.duration_s > 0)
        fssim_timer_add(fssim_mono_ns() + (uint64_t)(fssim_cfg.duration_s * 1e9), FSSIM_T_END, NULL, 0);

    struct epoll_event evs[256];
    while (!stop_now) {
        uint64_t now = fssim_mono_ns();
        while (heap_n && heap[0].due <= now && !stop_now) {
            struct timer t = timer_pop();
            switch (t.kind) {
            case FSSIM_T_END: stop_now = true; break;
            case FSSIM_T_CONN: on_conn_timer(&t, now); break;
            default: fssim_gen_timer(t.kind, t.ptr, now); break;
            }
            now = fssim_mono_ns();
        }
        flush_dirty();
        free_zombies();
        if (stop_now)
            break;
        int timeout = 1000;
        if (heap_n) {
            uint64_t due = heap[0].due;
            now = fssim_mono_ns();
            timeout = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
            if (timeout > 1000)
                timeout = 1000;
        }
        int n = epoll_wait(epfd, evs, 256, timeout);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "fssim: epoll_wait: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t key = evs[i].data.u64;
            int type = (int)(key >> 60);
            if (type == EP_SIGNAL) {
                struct signalfd_siginfo si;
                while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                    stop_now = true;
            } else if (type == EP_LISTEN) {
                conn_accept(&insts[(uint32_t)key]);
            } else {
                struct fssim_conn *c = conn_lookup(key);
                if (!c)
                    continue;
                if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    conn_read(c);
                if (!c->dead && (evs[i].events & EPOLLOUT))
                    conn_flush(c);
            }
        }
        flush_dirty();
        free_zombies();
    }

out:
    if (insts && (rc == 0 || stop_now)) {
        summary(stdout);
        if (fssim_cfg.stats_file) {
            FILE *f = fopen(fssim_cfg.stats_file, "w");
            if (f) {
                summary(f);
                fclose(f);
            } else {
                fprintf(stderr, "fssim: --stats-file %s: %s\n", fssim_cfg.stats_file, strerror(errno));
            }
        }
    }
    for (uint32_t s = 0; s < nslots; s++) {
        if (slots[s] && !slots[s]->dead)
            conn_kill(slots[s]);
    }
    free_zombies();
    for (int i = 0; insts && i < fssim_cfg.instances; i++) {
        if (insts[i].lfd >= 0)
            close(insts[i].lfd);
        fssim_gen_free(&insts[i]);
    }
    free(insts);
    free(slots);
    free(slot_gen);
    free(heap);
    fssim_buf_free(&fire_buf);
    if (replay_loaded)
        fssim_replay_free(&replay);
    close(sigfd);
    close(epfd);
    return rc;
}
