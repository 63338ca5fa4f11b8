/*
 * fsabench: ingest benchmark. In one run, against the same fssim byte stream
 * (--flood N RECV_RTCP_MESSAGE frames of the real header set, ~1 KB each):
 *   baseline  a plain reader: connect, auth, subscribe, recv() into one
 *             buffer and discard (epoll over the connections when there
 *             are several), until fssim closes after the N-th event;
 *   pipeline  fsagent's engine in-process: io_uring reactor(s), ESL framing
 *             and decoding, lanes, worker threads running the calculators,
 *             the exporter encoding every RTCP record into OTLP requests
 *             sent to a local receiver (bench/otlp_sink), until the workers
 *             have seen all N events and the exporter has taken in every
 *             record they published (the last open batch is sealed and sent
 *             after the clock stops: the batch interval is not ingest);
 *   ESL path  the reactor's per-event user-space work alone, in memory on
 *             one thread: framing and decoding a recorded copy of the same
 *             stream into lane slots (no socket, no other thread).
 * The socket modes run for each count of FreeSWITCH instances in
 * --instances (default 1, 8 and 64), the N events split evenly over them.
 * Each mode starts its own fssim on a fresh port and is repeated --runs
 * times; the best run of each is reported (the machine is shared and noisy:
 * the best run is the least disturbed one), with the ratio pipeline/baseline.
 *
 * Apples to apples: both socket modes read the same fssim streams over the
 * same connections, and both clocks start when events can flow (the baseline once
 * it has sent its subscription, the pipeline at the moment its reactor saw
 * the subscription's +OK: starting threads and the handshake are not ingest).
 * CPU placement matches: with pinning on (the agent's default) the reactor
 * runs on CPU 0 and so does the baseline's reader; fssim floats in both.
 * CPU is reported per thread (ns per event, user+sys, and fssim's own), so
 * a row's cost can be traced to the thread that spends it.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calc/worker.h"
#include "engine/agent.h"
#include "engine/config.h"
#include "engine/esl.h"
#include "engine/log.h"
#include "calc/calc.h"
#include "export/exporter.h"
#include "export/otlp.h"
#include "ring/fsa_ring.h"

extern char **environ;

#define MAX_THREADS 32
#define CAPTURE_BYTES (8u << 20) /* recorded stream for the ESL row: ~8k frames, several flood cycles */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/*
 * Spawns argv (stdout to /dev/null) and waits for it to write its ready file;
 * with value, until the file holds a number (a port), stored there.
 */
static pid_t spawn_ready(char **argv, const char *ready, int *value)
{
    unlink(ready);
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        fprintf(stderr, "spawn %s: %s\n", argv[0], strerror(errno));
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(ready, "r");
        if (f) {
            bool ok = !value || fscanf(f, "%d", value) == 1;
            fclose(f);
            if (ok) {
                unlink(ready);
                return pid;
            }
        }
        usleep(10000);
    }
    fprintf(stderr, "%s did not start\n", argv[0]);
    kill(pid, SIGKILL);
    exit(1);
}

static pid_t start_fssim(const char *fssim, int port, unsigned long events, unsigned instances)
{
    char port_s[16], events_s[32], ready[64], inst_s[16], legs_s[16];
    snprintf(port_s, sizeof(port_s), "%d", port);
    /* 10,000 legs in all, whatever the split: every row is the same workload (each leg ~100 reports per 1M). */
    snprintf(legs_s, sizeof(legs_s), "%u", instances < 10000 ? 10000 / instances : 1);
    snprintf(events_s, sizeof(events_s), "%lu", events);
    snprintf(inst_s, sizeof(inst_s), "%u", instances);
    snprintf(ready, sizeof(ready), "/tmp/fsabench-ready-%d", port);
    char *argv[] = {(char *)fssim, "--port",      port_s, "--instances",  inst_s, "--flood",      events_s,
                    "--flood-legs", legs_s, "--heartbeat", "0",   "--ready-file", ready,  NULL};
    return spawn_ready(argv, ready, NULL);
}

static void stop_fssim(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* bench/otlp_sink on an ephemeral port; returns its pid and the port in *port. */
static pid_t start_sink(const char *sink, int *port)
{
    char ready[64];
    snprintf(ready, sizeof(ready), "/tmp/fsabench-sink-%d", (int)getpid());
    char *argv[] = {(char *)sink, "--ready-file", ready, NULL};
    return spawn_ready(argv, ready, port);
}

/* ---- CPU per thread ------------------------------------------------------------------------------------------ */

struct cpu_use {
    double cpu_s;         /* user+sys, from the thread's or process's CPU clock (ns resolution) */
    double user_s, sys_s; /* from /proc stat (clock-tick resolution): only their ratio is used */
    double switches;      /* context switches, voluntary (it slept) and not (it was preempted) */
};

struct thread_cpu {
    char name[16];
    pid_t tid;
    struct cpu_use use;
};

struct cpu_snapshot {
    struct thread_cpu t[MAX_THREADS];
    unsigned n;
    struct cpu_use sim; /* the fssim process */
};

static bool read_stat_times(const char *path, double *user_s, double *sys_s)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    const char *p = ok ? strrchr(line, ')') : NULL;
    unsigned long long ut = 0, st = 0;
    /* After "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return false;
    double tick = (double)sysconf(_SC_CLK_TCK);
    *user_s = (double)ut / tick;
    *sys_s = (double)st / tick;
    return true;
}

/* voluntary_ctxt_switches + nonvoluntary_ctxt_switches of a /proc/.../status file */
static double read_switches(const char *path)
{
    char line[256];
    double n = 0;
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long long v;
        if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
            sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
            n += (double)v;
    }
    if (f)
        fclose(f);
    return n;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Linux's CPU clock of one thread of this process: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED). */
static clockid_t thread_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid) << 3 | 6u);
}

static void snapshot_cpu(struct cpu_snapshot *s, pid_t sim)
{
    memset(s, 0, sizeof(*s));
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && s->n < MAX_THREADS) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        struct thread_cpu *t = &s->t[s->n];
        t->tid = (pid_t)atoi(e->d_name);
        char path[96];
        snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)t->tid);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(t->name, sizeof(t->name), f)) {
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        t->name[strcspn(t->name, "\n")] = '\0';
        snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)t->tid);
        t->use.cpu_s = clock_s(thread_clock(t->tid));
        read_stat_times(path, &t->use.user_s, &t->use.sys_s);
        snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)t->tid);
        t->use.switches = read_switches(path);
        s->n++;
    }
    if (d)
        closedir(d);
    clockid_t pc;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)sim);
    if (sim > 0 && clock_getcpuclockid(sim, &pc) == 0)
        s->sim.cpu_s = clock_s(pc);
    if (sim > 0)
        read_stat_times(path, &s->sim.user_s, &s->sim.sys_s);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)sim);
    if (sim > 0)
        s->sim.switches = read_switches(path);
}

/* CPU use between two snapshots, per thread name (threads that came and went in between are missed). */
struct cpu_row {
    char name[16];
    double cpu_s, user_s, sys_s, switches;
};

struct cpu_report {
    struct cpu_row row[MAX_THREADS + 1];
    unsigned n;
};

static void add_row(struct cpu_report *r, const char *name, const struct cpu_use *a, const struct cpu_use *b)
{
    if (r->n >= MAX_THREADS + 1)
        return;
    struct cpu_row *x = &r->row[r->n++];
    snprintf(x->name, sizeof(x->name), "%s", name);
    x->cpu_s = b->cpu_s - a->cpu_s;
    x->user_s = b->user_s - a->user_s;
    x->sys_s = b->sys_s - a->sys_s;
    x->switches = b->switches - a->switches;
}

static void cpu_diff(const struct cpu_snapshot *a, const struct cpu_snapshot *b, const char *main_name,
                     struct cpu_report *out)
{
    memset(out, 0, sizeof(*out));
    add_row(out, "fssim", &a->sim, &b->sim);
    pid_t self = (pid_t)syscall(SYS_gettid);
    for (unsigned i = 0; i < b->n; i++) {
        struct cpu_use zero = {0};
        const struct cpu_use *before = &zero;
        for (unsigned j = 0; j < a->n; j++)
            if (a->t[j].tid == b->t[i].tid)
                before = &a->t[j].use;
        add_row(out, b->t[i].tid == self ? main_name : b->t[i].name, before, &b->t[i].use);
    }
}

/* ---- runs ---------------------------------------------------------------------------------------------------- */

struct result {
    double seconds;
    double cpu_seconds; /* this process, all threads */
    unsigned long long bytes;
    unsigned long long events;
    unsigned long long dropped;
    unsigned long long points_encoded, points_exported, points_dropped; /* pipeline: the exporter's books */
    unsigned long long bytes_encoded;                                   /* user path: request bytes */
    struct cpu_report cpu;
};

/* Ends a run's CPU accounting: per-thread use since s0 into r->cpu, this process's total into r->cpu_seconds. */
static void end_cpu(struct result *r, const struct cpu_snapshot *s0, pid_t sim, const char *main_name)
{
    struct cpu_snapshot s1;
    snapshot_cpu(&s1, sim);
    cpu_diff(s0, &s1, main_name, &r->cpu);
    for (unsigned i = 1; i < r->cpu.n; i++) /* row 0 is fssim, another process */
        r->cpu_seconds += r->cpu.row[i].cpu_s;
}

/* Connects and authenticates; events flow only once subscribe() is sent. */
static int connect_and_auth(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("connect");
        exit(1);
    }
    /* The handshake is read loosely: the baseline only has to get the stream going. */
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    const char *auth = "auth ClueCon\n\n";
    if (n <= 0 || send(fd, auth, strlen(auth), 0) < 0 || recv(fd, buf, sizeof(buf), 0) <= 0) {
        perror("auth");
        exit(1);
    }
    return fd;
}

static void subscribe(int fd)
{
    const char *sub = "event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE "
                      "RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE HEARTBEAT\n\n";
    if (send(fd, sub, strlen(sub), 0) < 0) {
        perror("subscribe");
        exit(1);
    }
}

/* Runs the calling thread on CPU 0 only (like a pinned reactor 0), or anywhere; returns the old mask. */
static void pin_main(bool pin, cpu_set_t *old)
{
    pthread_getaffinity_np(pthread_self(), sizeof(*old), old);
    if (!pin)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/*
 * capture (may be NULL): the first *cap_len bytes of the first connection's
 * stream are kept there (at most CAPTURE_BYTES), for the ESL row.
 */
static struct result run_baseline(const char *fssim, unsigned long events, unsigned instances, bool pin, char *capture,
                                  size_t *cap_len)
{
    int port = free_port();
    while (port + (int)instances > 65000)
        port = free_port();
    pid_t sim = start_fssim(fssim, port, events, instances);
    static char buf[1 << 18];
    cpu_set_t old;
    pin_main(pin, &old);
    int *fds = calloc(instances, sizeof(*fds));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!fds || ep < 0) {
        perror("baseline setup");
        exit(1);
    }
    for (unsigned i = 0; i < instances; i++)
        fds[i] = connect_and_auth(port + (int)i);
    /* One connection: a blocking recv() loop, the cheapest reader there is. Several: epoll, drain each to EAGAIN. */
    for (unsigned i = 0; instances > 1 && i < instances; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    /* The clock starts with the first subscription, as the pipeline's with its first streaming instance. */
    struct cpu_snapshot s0;
    snapshot_cpu(&s0, sim);
    double t0 = now_s();
    for (unsigned i = 0; i < instances; i++)
        subscribe(fds[i]);
    unsigned long long bytes = 0;
    unsigned open_conns = instances;
    while (open_conns) {
        struct epoll_event evs[64];
        int n = 1;
        if (instances > 1)
            n = epoll_wait(ep, evs, 64, -1);
        else
            evs[0].data.u32 = 0;
        for (int k = 0; k < n; k++) {
            unsigned i = evs[k].data.u32;
            for (;;) {
                ssize_t got = recv(fds[i], buf, sizeof(buf), 0);
                if (got < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                if (got <= 0) {
                    close(fds[i]);
                    open_conns--;
                    break;
                }
                if (i == 0 && capture && bytes < CAPTURE_BYTES) {
                    size_t c = (size_t)got < CAPTURE_BYTES - bytes ? (size_t)got : CAPTURE_BYTES - bytes;
                    memcpy(capture + bytes, buf, c);
                    *cap_len = (size_t)bytes + c;
                }
                bytes += (unsigned long long)got;
            }
        }
    }
    struct result r = {.seconds = now_s() - t0, .bytes = bytes, .events = events * instances};
    end_cpu(&r, &s0, sim, "reader");
    close(ep);
    free(fds);
    pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
    stop_fssim(sim);
    return r;
}

static uint64_t sum_kinds(const uint64_t *v)
{
    uint64_t n = 0;
    for (int k = 0; k < FSA_REC_KIND_COUNT; k++)
        n += v[k];
    return n;
}

static struct result run_pipeline(const char *fssim, const char *sink, unsigned long events, unsigned instances,
                                  unsigned reactors, unsigned workers, bool pin, unsigned ring_slots)
{
    int port = free_port();
    while (port + (int)instances > 65000)
        port = free_port();
    pid_t sim = start_fssim(fssim, port, events, instances);
    int sink_port = 0;
    pid_t sink_pid = start_sink(sink, &sink_port);

    struct fsa_config cfg;
    fsa_config_defaults(&cfg);
    cfg.ninstances = instances;
    cfg.instances = calloc(instances, sizeof(*cfg.instances));
    for (unsigned i = 0; i < instances; i++) {
        snprintf(cfg.instances[i].name, sizeof(cfg.instances[i].name), "fs%u", i + 1);
        snprintf(cfg.instances[i].host, sizeof(cfg.instances[i].host), "127.0.0.1");
        snprintf(cfg.instances[i].password, sizeof(cfg.instances[i].password), "ClueCon");
        cfg.instances[i].port = (uint16_t)(port + (int)i);
    }
    cfg.engine.reactor_threads = reactors;
    cfg.engine.worker_threads = workers;
    cfg.engine.pin_threads = pin;
    if (ring_slots)
        cfg.engine.ring_slots = ring_slots;
    cfg.engine.heartbeat_s = 0;
    /* fssim closes after the flood: do not come back for more, even when a slow run (valgrind) takes minutes */
    cfg.engine.backoff_initial_ms = 3600000;
    cfg.engine.backoff_max_ms = 3600000;
    snprintf(cfg.otel.endpoint, sizeof(cfg.otel.endpoint), "127.0.0.1:%d", sink_port);
    cfg.otel.insecure = true;

    struct fsa_agent *agent = NULL;
    const char *why = "";
    struct cpu_snapshot s0;
    snapshot_cpu(&s0, sim);
    int rc = fsa_agent_start(&cfg, &agent, &why);
    if (rc < 0) {
        fprintf(stderr, "agent start failed: %s: %s\n", why, strerror(-rc));
        exit(1);
    }
    unsigned long long want = (unsigned long long)events * instances, seen = 0, dropped = 0;
    double deadline = now_s() + 120, t0 = 0;
    while (now_s() < deadline) {
        seen = fsa_agent_events_processed_total(agent);
        dropped = 0;
        for (unsigned i = 0; i < instances; i++) {
            const struct fsa_instance_stats *st = fsa_agent_instance_stats(agent, i);
            dropped += atomic_load(&st->events_dropped_ring_full);
            /* The clock starts when the first instance reached streaming (its reactor stamps that). */
            uint64_t us = atomic_load(&st->connected_since_unix_us);
            if (us && (t0 == 0 || (double)us / 1e6 < t0))
                t0 = (double)us / 1e6;
        }
        if (seen + dropped >= want) {
            /* ... and the exporter has taken in (encoded) every record the workers published */
            struct fsa_calc_stats cs;
            struct fsa_exporter_stats es;
            fsa_agent_calc_stats(agent, &cs);
            fsa_exporter_stats_read(fsa_agent_exporter(agent), &es);
            if (sum_kinds(es.records) >= sum_kinds(cs.records))
                break;
        }
        /* 1 ms: the end is seen within 0.1 % of a run, and waking more often costs CPU the pipeline needs. */
        usleep(1000);
    }
    if (t0 == 0) {
        fprintf(stderr, "pipeline: no instance reached streaming\n");
        exit(1);
    }
    struct result r = {.seconds = wall_s() - t0, .events = seen, .dropped = dropped};
    end_cpu(&r, &s0, sim, "fsabench");
    for (unsigned i = 0; i < instances; i++)
        r.bytes += atomic_load(&fsa_agent_instance_stats(agent, i)->bytes_received);
    if (seen + dropped < want)
        fprintf(stderr, "pipeline: timed out with %llu of %llu events\n", seen, want);
    if (dropped)
        fprintf(stderr, "pipeline: %llu events dropped (lane full)\n", dropped);
    fsa_agent_stop(agent);
    struct fsa_exporter_stats es;
    fsa_exporter_stats_read(fsa_agent_exporter(agent), &es);
    r.points_encoded = es.points_encoded;
    r.points_exported = es.points_exported;
    for (int k = 0; k < FSA_DROP_COUNT; k++)
        r.points_dropped += es.points_dropped[k];
    fsa_agent_destroy(agent);
    fsa_config_free(&cfg);
    stop_fssim(sim);
    stop_fssim(sink_pid);
    return r;
}

/* The next event of a recorded stream, scanned; false at its end. */
static inline bool next_event(struct esl_framer *f, const char *buf, size_t len, size_t *off,
                              struct esl_event_scan *sc)
{
    while (*off < len) {
        struct esl_frame fr;
        size_t used = 0;
        const char *err = NULL;
        if (esl_framer_next(f, buf + *off, len - *off, &fr, &used, &err) <= 0)
            return false;
        *off += used;
        if (fr.type == ESL_CT_EVENT_PLAIN && esl_event_scan(fr.body, sc, NULL, &err) == ESL_DECODE_EVENT)
            return true;
    }
    return false;
}

/*
 * The reactor's per-event user-space work, in memory: frame, decode, shard,
 * take a lane slot, publish; the slot is released at once (same thread), so
 * no cross-core traffic is measured here. Returns events decoded.
 */
__attribute__((noinline)) static unsigned long fsabench_esl_pass(const char *buf, size_t len, struct fsa_lane *lane,
                                                                 unsigned nworkers)
{
    struct esl_framer f;
    esl_framer_init(&f, (size_t)1 << 20);
    size_t off = 0;
    unsigned long n = 0;
    struct esl_event_scan sc;
    while (next_event(&f, buf, len, &off, &sc)) {
        if (nworkers > 1) /* as the reactor: one worker needs no shard hash */
            (void)fsa_shard_of(sc.uuid, sc.uuid_len, nworkers);
        struct fsa_event_msg *m = fsa_lane_acquire_sp(lane);
        if (!m)
            break;
        esl_event_fill(&sc, m);
        fsa_lane_publish_sp(lane, m);
        fsa_lane_release_sc(lane, fsa_lane_pop_sc(lane));
        n++;
    }
    return n;
}

/* The calculator and the encoder of the in-memory user path; records go straight to the encoder. */
struct user_path {
    struct fsa_calc *calc;
    struct fsa_otlp *enc;
    unsigned long long points, bytes;
};

static void user_seal(struct user_path *u)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    unsigned points = 0;
    if (!fsa_otlp_seal(u->enc, NULL, &msg, &len, &points) && msg) {
        u->points += points;
        u->bytes += len;
        free(msg); /* the exporter's queue would own it */
    }
}

static void user_emit(void *ctx, const struct fsa_metric_record *rec)
{
    struct user_path *u = ctx;
    while (fsa_otlp_add(u->enc, rec) == FSA_OTLP_FULL)
        user_seal(u);
    if (fsa_otlp_open_full(u->enc))
        user_seal(u);
}

/*
 * The whole pipeline's user-space work per event, in memory on one thread:
 * the ESL path above, then the worker's (groups of FSA_CALC_BATCH through
 * the calculator) and the exporter's (every record encoded, batches sealed
 * as the exporter seals them). What the threaded pipeline costs beyond this
 * is the kernel (receive, send), waking threads and cross-core traffic.
 */
__attribute__((noinline)) static unsigned long fsabench_user_pass(const char *buf, size_t len, struct fsa_lane *lane,
                                                                  struct user_path *u)
{
    struct esl_framer f;
    esl_framer_init(&f, (size_t)1 << 20);
    size_t off = 0;
    unsigned long n = 0;
    struct esl_event_scan sc;
    struct fsa_event_msg *group[FSA_CALC_BATCH];
    unsigned ngroup = 0;
    bool more = true;
    while (more) {
        struct fsa_event_msg *m = NULL;
        more = next_event(&f, buf, len, &off, &sc) && (m = fsa_lane_acquire_sp(lane)) != NULL;
        if (more) {
            esl_event_fill(&sc, m);
            m->instance = 0;
            m->ingest_ns = 0;
            fsa_lane_publish_sp(lane, m);
            group[ngroup++] = fsa_lane_pop_sc(lane);
            n++;
        }
        if (ngroup == FSA_CALC_BATCH || (!more && ngroup)) {
            fsa_calc_process_batch(u->calc, (const struct fsa_event_msg *const *)group, ngroup, 1);
            for (unsigned i = 0; i < ngroup; i++)
                fsa_lane_release_sc(lane, group[i]);
            ngroup = 0;
        }
    }
    return n;
}

/* The ESL path alone (u NULL), or the whole user path. */
static struct result run_inmem(const char *capture, size_t len, unsigned long events, struct user_path *u)
{
    struct fsa_lane lane;
    if (fsa_lane_init(&lane, 64, sizeof(struct fsa_event_msg)) < 0) {
        fprintf(stderr, "lane allocation failed\n");
        exit(1);
    }
    struct result r = {0};
    double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), t0 = now_s();
    while (r.events < events) {
        unsigned long n = u ? fsabench_user_pass(capture, len, &lane, u) : fsabench_esl_pass(capture, len, &lane, 1);
        if (n == 0)
            break;
        r.events += n;
        r.bytes += len;
    }
    r.seconds = now_s() - t0;
    r.cpu_seconds = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    fsa_lane_destroy(&lane);
    return r;
}

static struct result run_user(const char *capture, size_t len, unsigned long events)
{
    static const char *const names[] = {"fs1"};
    struct user_path u = {0};
    struct fsa_calc_params cp = {.max_legs = 262144, .ninstances = 1, .emit = user_emit, .emit_ctx = &u};
    struct fsa_otlp_params op = {.instance_names = names, .ninstances = 1, .instance_id = "fsabench",
                                 .host_name = "fsabench", .per_leg = true, .batch_max_points = 8192,
                                 .batch_max_bytes = (size_t)3584 << 10, .start_unix_ns = 1700000000000000000ull};
    u.calc = fsa_calc_create(&cp);
    if (!u.calc || fsa_otlp_create(&op, &u.enc)) {
        fprintf(stderr, "user path: calculator or encoder could not be created\n");
        exit(1);
    }
    struct result r = run_inmem(capture, len, events, &u);
    user_seal(&u);
    r.points_encoded = u.points;
    r.bytes_encoded = u.bytes;
    fsa_otlp_destroy(u.enc);
    fsa_calc_destroy(u.calc);
    return r;
}

/* Cuts a captured stream to its event frames only (from the first event frame to the last whole one). */
static size_t trim_capture(char **buf, size_t len)
{
    struct esl_framer f;
    esl_framer_init(&f, (size_t)1 << 20);
    size_t off = 0, first = SIZE_MAX, end = 0;
    while (off < len) {
        struct esl_frame fr;
        size_t used = 0;
        const char *err = NULL;
        if (esl_framer_next(&f, *buf + off, len - off, &fr, &used, &err) <= 0)
            break;
        if (fr.type == ESL_CT_EVENT_PLAIN && first == SIZE_MAX)
            first = off;
        off += used;
        if (first != SIZE_MAX)
            end = off;
    }
    if (first == SIZE_MAX)
        return 0;
    *buf += first;
    return end - first;
}

/* ---- report -------------------------------------------------------------------------------------------------- */

static void print_row(const char *name, const struct result *r, const struct result *base)
{
    double eps = (double)r->events / r->seconds;
    double mbps = (double)r->bytes / r->seconds / 1e6;
    printf("| %-40s | %12.0f | %8.1f | %6.3f | %9.3f | %8.0f |\n", name, eps, mbps,
           base ? eps / ((double)base->events / base->seconds) : 1.0, r->cpu_seconds * 1e6 / (double)r->events,
           r->cpu_seconds * 1e9 / (double)r->events);
}

static void print_cpu(const char *mode, const struct result *r)
{
    for (unsigned i = 0; i < r->cpu.n; i++) {
        const struct cpu_row *x = &r->cpu.row[i];
        if (x->cpu_s * 1e9 / (double)r->events < 1.0)
            continue; /* idle helper threads */
        double us = x->user_s + x->sys_s;
        printf("| %-14s | %-16s | %8.0f | %5.0f %% | %5.0f %% | %8.2f |\n", mode, x->name,
               x->cpu_s * 1e9 / (double)r->events, x->cpu_s / r->seconds * 100.0, us > 0 ? x->sys_s / us * 100.0 : 0.0,
               x->switches * 1e3 / (double)r->events);
    }
}

/* "1,8,64" -> counts; returns how many (at most max), 0 on a bad list. */
static unsigned parse_counts(const char *list, unsigned *out, unsigned max)
{
    unsigned n = 0;
    const char *p = list;
    while (*p && n < max) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v == 0 || v > 1000)
            return 0;
        out[n++] = (unsigned)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return 0;
    }
    return n;
}

/* fssim's directory + name: otlp_sink is built next to it. */
static void sibling(const char *path, const char *name, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(out, cap, "%.*s/%s", (int)(slash - path), path, name);
    else
        snprintf(out, cap, "./%s", name);
}

#define MAX_COUNTS 8

int main(int argc, char **argv)
{
    const char *fssim = "./fssim";
    const char *instances_list = "1,8,64";
    char sink[512] = "";
    unsigned long events = 1000000;
    unsigned runs = 3, workers = 1, reactors = 1, ring_slots = 0;
    bool pipeline_only = false, esl_only = false, user_only = false, pin = true;
    static const struct option opts[] = {
        {"fssim", required_argument, NULL, 'f'},      {"events", required_argument, NULL, 'n'},
        {"runs", required_argument, NULL, 'r'},       {"workers", required_argument, NULL, 'w'},
        {"reactors", required_argument, NULL, 'R'},   {"pipeline-only", no_argument, NULL, 'P'},
        {"esl-only", no_argument, NULL, 'E'},         {"no-pin", no_argument, NULL, 'U'},
        {"ring-slots", required_argument, NULL, 'S'}, {"instances", required_argument, NULL, 'I'},
        {"sink", required_argument, NULL, 'K'},       {"user-only", no_argument, NULL, 'M'},
        {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'f': fssim = optarg; break;
        case 'n': events = strtoul(optarg, NULL, 10); break;
        case 'r': runs = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'w': workers = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'R': reactors = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'P': pipeline_only = true; break; /* for profilers: no baseline in the profile */
        case 'E': esl_only = true; break;      /* for callgrind: the in-memory ESL path only */
        case 'M': user_only = true; break;     /* for callgrind: the whole user path in memory */
        case 'U': pin = false; break;          /* agent threads and the baseline reader float */
        case 'S': ring_slots = (unsigned)strtoul(optarg, NULL, 10); break; /* lanes deep enough for valgrind */
        case 'I': instances_list = optarg; break;
        case 'K': snprintf(sink, sizeof(sink), "%s", optarg); break;
        default:
            fprintf(stderr, "usage: fsabench [--fssim PATH] [--sink PATH] [--events N] [--runs N] [--instances 1,8,64] "
                            "[--workers W] [--reactors R] [--pipeline-only | --esl-only | --user-only] [--no-pin] [--ring-slots N]\n");
            return 2;
        }
    }
    unsigned counts[MAX_COUNTS];
    unsigned ncounts = parse_counts(instances_list, counts, MAX_COUNTS);
    if (events == 0 || runs == 0 || ncounts == 0) {
        fprintf(stderr, "fsabench: --events and --runs must be positive, --instances a list like 1,8,64\n");
        return 2;
    }
    if (!sink[0])
        sibling(fssim, "otlp_sink", sink, sizeof(sink));
    fsa_log_setup(FSA_LOG_WARN, FSA_LOG_TEXT, 2);
    signal(SIGPIPE, SIG_IGN);

    if (pipeline_only) {
        struct result p = run_pipeline(fssim, sink, events / counts[0], counts[0], reactors, workers, pin, ring_slots);
        printf("pipeline: %llu events in %.3f s: %.0f events/s, %llu dropped\n", p.events, p.seconds,
               (double)p.events / p.seconds, p.dropped);
        return 0;
    }
    char *capture_mem = malloc(CAPTURE_BYTES), *capture = capture_mem;
    size_t cap_len = 0;
    if (!capture_mem) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (esl_only || user_only) {
        run_baseline(fssim, CAPTURE_BYTES / 900, 1, pin, capture, &cap_len);
        cap_len = trim_capture(&capture, cap_len);
        struct result e = esl_only ? run_inmem(capture, cap_len, events, NULL) : run_user(capture, cap_len, events);
        printf("%s: %llu events in %.3f s: %.1f ns per event\n", esl_only ? "esl" : "user path", e.events, e.seconds,
               e.seconds * 1e9 / (double)e.events);
        free(capture_mem);
        return 0;
    }

    struct result best_base[MAX_COUNTS] = {{0}}, best_pipe[MAX_COUNTS] = {{0}}, best_esl = {0}, best_user = {0};
    for (unsigned c = 0; c < ncounts; c++) {
        unsigned long per = (events + counts[c] - 1) / counts[c];
        for (unsigned i = 0; i < runs; i++) {
            bool cap = counts[c] == 1 && !cap_len;
            struct result b = run_baseline(fssim, per, counts[c], pin, cap ? capture : NULL, &cap_len);
            struct result p = run_pipeline(fssim, sink, per, counts[c], reactors, workers, pin, ring_slots);
            if (!best_base[c].seconds || b.seconds < best_base[c].seconds)
                best_base[c] = b;
            if (!best_pipe[c].seconds || p.seconds < best_pipe[c].seconds)
                best_pipe[c] = p;
        }
    }
    if (!cap_len) /* no 1-instance row: record a stream for the ESL row anyway */
        run_baseline(fssim, CAPTURE_BYTES / 900, 1, pin, capture, &cap_len);
    cap_len = trim_capture(&capture, cap_len);
    for (unsigned i = 0; i < runs && cap_len; i++) {
        struct result e = run_inmem(capture, cap_len, events, NULL);
        if (!best_esl.seconds || e.seconds < best_esl.seconds)
            best_esl = e;
        struct result u = run_user(capture, cap_len, events);
        if (!best_user.seconds || u.seconds < best_user.seconds)
            best_user = u;
    }
    free(capture_mem);

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("fsabench: %lu RTCP events per run split over the instances, best of %u runs, %ld CPUs, %u reactor(s), "
           "%u worker(s), pinning %s; the pipeline exports to otlp_sink\n",
           events, runs, ncpu, reactors, workers, pin ? "on (reactor and reader on CPU 0)" : "off");
    printf("average event frame: %.0f bytes\n\n", (double)best_base[0].bytes / (double)best_base[0].events);
    printf("| %-40s | %12s | %8s | %6s | %9s | %8s |\n", "mode", "events/s", "MB/s", "ratio", "CPU ms/1k", "CPU ns/ev");
    printf("|------------------------------------------|--------------|----------|--------|-----------|----------|\n");
    for (unsigned c = 0; c < ncounts; c++) {
        char name[64];
        snprintf(name, sizeof(name), "plain reader, %u instance%s (baseline)", counts[c], counts[c] > 1 ? "s" : "");
        print_row(name, &best_base[c], NULL);
        snprintf(name, sizeof(name), "full pipeline, %u instance%s", counts[c], counts[c] > 1 ? "s" : "");
        print_row(name, &best_pipe[c], &best_base[c]);
    }
    if (best_esl.seconds)
        print_row("ESL path in memory (1 thread)", &best_esl, &best_base[0]);
    if (best_user.seconds)
        print_row("whole user path in memory (1 thread)", &best_user, &best_base[0]);
    printf("\nCPU by thread in the best runs (fssim and otlp_sink are processes of their own; CPU ns/ev counts this "
           "process only):\n\n");
    printf("| %-14s | %-16s | %8s | %7s | %7s | %8s |\n", "mode", "thread", "ns/event", "of core", "sys", "cs/1k ev");
    printf("|----------------|------------------|----------|---------|---------|----------|\n");
    for (unsigned c = 0; c < ncounts; c++) {
        char mode[32];
        snprintf(mode, sizeof(mode), "baseline x%u", counts[c]);
        print_cpu(mode, &best_base[c]);
        snprintf(mode, sizeof(mode), "pipeline x%u", counts[c]);
        print_cpu(mode, &best_pipe[c]);
    }
    if (best_user.seconds)
        printf("\nWhole user path in memory: reactor's ESL path, the calculator in groups of %u, every record encoded "
               "(%.2f points and %.0f encoded bytes per event), no socket, no other thread.\n",
               FSA_CALC_BATCH, (double)best_user.points_encoded / (double)best_user.events,
               (double)best_user.points_encoded ? (double)best_user.bytes_encoded / (double)best_user.events : 0.0);
    printf("\nExporter books of the best pipeline runs (points encoded / accepted by otlp_sink / dropped):");
    for (unsigned c = 0; c < ncounts; c++)
        printf(" x%u %llu / %llu / %llu%s", counts[c], best_pipe[c].points_encoded, best_pipe[c].points_exported,
               best_pipe[c].points_dropped, c + 1 < ncounts ? ";" : "\n");
    for (unsigned c = 0; c < ncounts; c++)
        if (best_pipe[c].dropped)
            printf("pipeline x%u best run: %llu events dropped (lane full), counted, not processed\n", counts[c],
                   best_pipe[c].dropped);
    return 0;
}
