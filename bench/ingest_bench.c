/*
 * fsabench: ingest benchmark. In one run, against the same fssim byte stream
 * (--flood N RECV_RTCP_MESSAGE frames of the real header set, ~1 KB each):
 *   baseline  a plain reader: connect, auth, subscribe, recv() into one
 *             buffer and discard, until fssim closes after the N-th event;
 *   pipeline  fsagent's engine in-process: io_uring reactor(s), ESL framing
 *             and decoding, lanes, worker threads counting events, until the
 *             workers have seen all N events.
 * Each mode starts its own fssim on a fresh port and is repeated --runs
 * times; the best run of each is reported (the machine is shared and noisy:
 * the best run is the least disturbed one), with the ratio pipeline/baseline.
 * Times start when the first byte of events can flow (after subscribe for
 * the baseline, at agent start for the pipeline, which therefore also pays
 * for its connect and handshake).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/agent.h"
#include "engine/config.h"
#include "engine/log.h"

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

static pid_t start_fssim(const char *fssim, int port, unsigned long events, unsigned instances)
{
    char port_s[16], events_s[32], ready[64], inst_s[16];
    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(events_s, sizeof(events_s), "%lu", events);
    snprintf(inst_s, sizeof(inst_s), "%u", instances);
    snprintf(ready, sizeof(ready), "/tmp/fsabench-ready-%d", port);
    unlink(ready);
    char *argv[] = {(char *)fssim, "--port", port_s, "--instances", inst_s, "--flood", events_s,
                    "--heartbeat", "0", "--ready-file", ready, NULL};
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, fssim, &fa, NULL, argv, environ) != 0) {
        perror("spawn fssim");
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 500; i++) {
        struct stat st;
        if (stat(ready, &st) == 0) {
            unlink(ready);
            return pid;
        }
        usleep(10000);
    }
    fprintf(stderr, "fssim did not start\n");
    kill(pid, SIGKILL);
    exit(1);
}

static void stop_fssim(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

struct result {
    double seconds;
    double cpu_seconds;
    unsigned long long bytes;
    unsigned long long events;
};

static int connect_and_subscribe(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("connect");
        exit(1);
    }
    /* The handshake is read loosely: the baseline only has to get the stream going. */
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    const char *auth = "auth ClueCon\n\n";
    if (n <= 0 || send(fd, auth, strlen(auth), 0) < 0) {
        perror("auth");
        exit(1);
    }
    n = recv(fd, buf, sizeof(buf), 0);
    const char *sub = "event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE "
                      "RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE HEARTBEAT\n\n";
    if (n <= 0 || send(fd, sub, strlen(sub), 0) < 0) {
        perror("subscribe");
        exit(1);
    }
    return fd;
}

static struct result run_baseline(const char *fssim, unsigned long events)
{
    int port = free_port();
    pid_t sim = start_fssim(fssim, port, events, 1);
    static char buf[1 << 18];
    int fd = connect_and_subscribe(port);
    double c0 = cpu_s(), t0 = now_s();
    unsigned long long bytes = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        bytes += (unsigned long long)n;
    }
    struct result r = {.seconds = now_s() - t0, .cpu_seconds = cpu_s() - c0, .bytes = bytes, .events = events};
    close(fd);
    stop_fssim(sim);
    return r;
}

static struct result run_pipeline(const char *fssim, unsigned long events, unsigned instances, unsigned reactors,
                                  unsigned workers)
{
    int port = free_port();
    while (port + (int)instances > 65000)
        port = free_port();
    pid_t sim = start_fssim(fssim, port, events, instances);

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
    cfg.engine.heartbeat_s = 0;
    cfg.engine.backoff_initial_ms = 10000; /* fssim closes after the flood: do not come back for more */
    cfg.engine.backoff_max_ms = 10000;

    struct fsa_agent *agent = NULL;
    const char *why = "";
    double c0 = cpu_s(), t0 = now_s();
    int rc = fsa_agent_start(&cfg, &agent, &why);
    if (rc < 0) {
        fprintf(stderr, "agent start failed: %s: %s\n", why, strerror(-rc));
        exit(1);
    }
    unsigned long long want = (unsigned long long)events * instances, seen = 0, dropped = 0;
    double deadline = now_s() + 120;
    while (now_s() < deadline) {
        seen = fsa_agent_events_processed_total(agent);
        dropped = 0;
        for (unsigned i = 0; i < instances; i++)
            dropped += atomic_load(&fsa_agent_instance_stats(agent, i)->events_dropped_ring_full);
        if (seen + dropped >= want)
            break;
        usleep(200);
    }
    struct result r = {.seconds = now_s() - t0, .cpu_seconds = cpu_s() - c0, .events = seen};
    for (unsigned i = 0; i < instances; i++)
        r.bytes += atomic_load(&fsa_agent_instance_stats(agent, i)->bytes_received);
    if (seen + dropped < want)
        fprintf(stderr, "pipeline: timed out with %llu of %llu events\n", seen, want);
    if (dropped)
        fprintf(stderr, "pipeline: %llu events dropped (lane full)\n", dropped);
    fsa_agent_stop(agent);
    fsa_agent_destroy(agent);
    fsa_config_free(&cfg);
    stop_fssim(sim);
    return r;
}

static void print_row(const char *name, const struct result *r, const struct result *base)
{
    double eps = (double)r->events / r->seconds;
    double mbps = (double)r->bytes / r->seconds / 1e6;
    printf("| %-28s | %12.0f | %8.1f | %6.3f | %9.3f |\n", name, eps, mbps,
           base ? eps / ((double)base->events / base->seconds) : 1.0, r->cpu_seconds * 1e3 / ((double)r->events / 1e3));
}

int main(int argc, char **argv)
{
    const char *fssim = "./fssim";
    unsigned long events = 1000000;
    unsigned runs = 3, workers = 1, reactors = 1;
    bool pipeline_only = false;
    static const struct option opts[] = {{"fssim", required_argument, NULL, 'f'},
                                         {"events", required_argument, NULL, 'n'},
                                         {"runs", required_argument, NULL, 'r'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"reactors", required_argument, NULL, 'R'},
                                         {"pipeline-only", no_argument, NULL, 'P'},
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
        default:
            fprintf(stderr, "usage: fsabench [--fssim PATH] [--events N] [--runs N] [--workers W] [--reactors R] "
                            "[--pipeline-only]\n");
            return 2;
        }
    }
    fsa_log_setup(FSA_LOG_WARN, FSA_LOG_TEXT, 2);
    signal(SIGPIPE, SIG_IGN);

    struct result best_base = {0}, best_pipe = {0};
    if (pipeline_only) {
        struct result p = run_pipeline(fssim, events, 1, reactors, workers);
        printf("pipeline: %llu events in %.3f s: %.0f events/s\n", p.events, p.seconds, (double)p.events / p.seconds);
        return 0;
    }
    for (unsigned i = 0; i < runs; i++) {
        struct result b = run_baseline(fssim, events);
        struct result p = run_pipeline(fssim, events, 1, reactors, workers);
        if (!best_base.seconds || b.seconds < best_base.seconds)
            best_base = b;
        if (!best_pipe.seconds || p.seconds < best_pipe.seconds)
            best_pipe = p;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("fsabench: %lu RTCP events per run, best of %u runs, %ld CPUs, %u reactor(s), %u worker(s)\n", events,
           runs, ncpu, reactors, workers);
    printf("average event frame: %.0f bytes\n\n", (double)best_base.bytes / (double)best_base.events);
    printf("| %-28s | %12s | %8s | %6s | %9s |\n", "mode", "events/s", "MB/s", "ratio", "CPU ms/1k");
    printf("|------------------------------|--------------|----------|--------|-----------|\n");
    print_row("plain reader (baseline)", &best_base, NULL);
    print_row("reactor+lanes+workers", &best_pipe, &best_base);
    return 0;
}
