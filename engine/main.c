/*
 * fsagent: FreeSWITCH call-quality metrics agent.
 *
 * main owns the process: flags, configuration, logging, signals, and the
 * periodic stats line. Exit codes (contract.md): 0 ok, 2 bad config or
 * usage, 1 runtime failure.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "agent.h"
#include "config.h"
#include "export/exporter.h"
#include "log.h"

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: fsagent [--config PATH] [--check-config] [--version] [--help]\n"
            "\n"
            "Connects to FreeSWITCH servers over the Event Socket and exports call-quality\n"
            "metrics (RTCP, end-of-call QoS) over OTLP/gRPC.\n"
            "\n"
            "  -c, --config PATH   YAML configuration (default ./config.yaml if present)\n"
            "      --check-config  validate the configuration and exit (0 valid, 2 invalid)\n"
            "  -V, --version       print the version and exit\n"
            "  -h, --help          this text\n"
            "\n"
            "Environment overrides: FSAGENT_FREESWITCH_INSTANCES (JSON list), FSAGENT_STORAGE_TYPE,\n"
            "FSAGENT_REDIS_HOST, FSAGENT_OTEL_ENDPOINT, FSAGENT_HTTP_PORT, FSAGENT_LOG_LEVEL, and the\n"
            "standard OTEL_EXPORTER_OTLP_* variables. Signals: SIGTERM/SIGINT stop cleanly.\n");
}

static void log_stats(const struct fsa_agent *agent, const char *msg)
{
    /* Sized with the log line (engine/log.c): room for every instance of a large fleet. */
    static char json[200 * 1024];
    json[0] = '#';
    fsa_agent_stats_json(agent, json + 1, sizeof(json) - 1);
    char processed[32];
    snprintf(processed, sizeof(processed), "#%llu", (unsigned long long)fsa_agent_events_processed_total(agent));
    static char calc[4096], export[4096];
    calc[0] = export[0] = '#';
    fsa_agent_calc_stats_json(agent, calc + 1, sizeof(calc) - 1);
    struct fsa_exporter_stats es;
    fsa_exporter_stats_read(fsa_agent_exporter(agent), &es);
    fsa_exporter_stats_json(&es, export + 1, sizeof(export) - 1);
    const char *kv[] = {"events_processed", processed, "instances", json, "calc", calc, "export", export, NULL};
    fsa_log_kv(FSA_LOG_INFO, NULL, msg, kv);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'k': check_only = true; break;
        case 'V': printf("fsagent %s\n", FSA_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fsagent: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct fsa_config cfg;
    struct fsa_config_error err = {{0}, {0}};
    fsa_config_defaults(&cfg);
    if (fsa_config_load(&cfg, config_path, environ, &err) != 0 || fsa_config_validate(&cfg, &err) != 0) {
        fsa_log_setup(cfg.log_level, cfg.log_format, 2);
        fsa_log_error(NULL, "invalid configuration: %s: %s", err.key, err.reason);
        fsa_config_free(&cfg);
        return 2;
    }
    fsa_log_setup(cfg.log_level, cfg.log_format, 2);
    if (check_only) {
        printf("configuration OK: %u FreeSWITCH instance(s)\n", cfg.ninstances);
        fsa_config_free(&cfg);
        return 0;
    }

    /* Signals are taken synchronously by this thread only; every other thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    fsa_log_info(NULL, "fsagent %s starting", FSA_VERSION);
    struct fsa_agent *agent = NULL;
    const char *why = "";
    int rc = fsa_agent_start(&cfg, &agent, &why);
    if (rc < 0) {
        fsa_log_error(NULL, "cannot start: %s: %s", why, strerror(-rc));
        fsa_config_free(&cfg);
        return 1;
    }
    /* A port in use is an operator's mistake to see at once: one line, exit 1. */
    struct fsa_admin *admin = NULL;
    rc = fsa_admin_start(agent, &cfg, &admin, &why);
    if (rc < 0) {
        fsa_log_error(NULL, "cannot start the admin server on %s:%u: %s: %s", cfg.http_bind, (unsigned)cfg.http_port,
                      why, strerror(-rc));
        fsa_agent_stop(agent);
        fsa_agent_destroy(agent);
        fsa_config_free(&cfg);
        return 1;
    }

    int exit_code = 0;
    unsigned interval = cfg.engine.stats_log_interval_s;
    struct timespec last;
    clock_gettime(CLOCK_MONOTONIC, &last);
    for (;;) {
        struct timespec tick = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            fsa_log_info(NULL, "%s received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (fsa_agent_failed(agent)) {
            exit_code = 1;
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (interval && now.tv_sec - last.tv_sec >= (time_t)interval) {
            last = now;
            log_stats(agent, "stats");
        }
    }
    fsa_admin_stop(admin); /* it reads the agent: gone before the agent stops */
    fsa_agent_stop(agent);
    log_stats(agent, "final counters");
    fsa_agent_destroy(agent);
    fsa_config_free(&cfg);
    fsa_log_info(NULL, "stopped");
    return exit_code;
}
