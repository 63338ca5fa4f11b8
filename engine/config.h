/*
 * config: fsagent's configuration, read once at start.
 *
 * Order (contract.md): defaults, then the YAML file, then FSAGENT_* and
 * OTEL_EXPORTER_OTLP_* environment variables, then command-line flags.
 * A bad value is refused with one line naming the key and the reason
 * (fsa_config_error.key / .reason); the process exits 2.
 *
 * Secrets (passwords, OTLP header values) live only here and in the
 * connection that uses them; nothing prints them.
 */
#ifndef FSA_CONFIG_H
#define FSA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSA_NAME_MAX 64
#define FSA_HOST_MAX 256
#define FSA_SECRET_MAX 256
#define FSA_MAX_INSTANCES 1024
#define FSA_MAX_OTLP_HEADERS 32

struct fsa_instance_config {
    char name[FSA_NAME_MAX];
    char host[FSA_HOST_MAX];
    uint16_t port;                 /* default 8021 */
    char password[FSA_SECRET_MAX]; /* default "ClueCon" */
};

enum fsa_storage_type { FSA_STORAGE_MEMORY = 0, FSA_STORAGE_REDIS };
enum fsa_log_level { FSA_LOG_DEBUG = 0, FSA_LOG_INFO, FSA_LOG_WARN, FSA_LOG_ERROR };
enum fsa_log_format { FSA_LOG_JSON = 0, FSA_LOG_TEXT };
enum fsa_temporality { FSA_TEMPORALITY_CUMULATIVE = 0, FSA_TEMPORALITY_DELTA };

#define FSA_MAX_SENTINELS 8

/* storage.redis.sentinel: find the master (and follow it through failovers) by asking Sentinels. */
struct fsa_redis_tls_config {
    bool enabled;                  /* TLS to Redis (the Sentinels are asked over plain TCP) */
    char ca_file[FSA_HOST_MAX];    /* PEM CAs that sign the server; "": the system's */
    char cert_file[FSA_HOST_MAX];  /* client certificate (PEM), with key_file; "": none */
    char key_file[FSA_HOST_MAX];
    char server_name[FSA_HOST_MAX]; /* name checked in the server's certificate and sent as SNI; "": the host */
};

struct fsa_sentinel_config {
    char master_name[FSA_NAME_MAX]; /* "": no Sentinel, storage.redis.host/port is the master */
    char addresses[FSA_MAX_SENTINELS][FSA_HOST_MAX]; /* "host:port" ("[v6]:port") */
    unsigned naddresses;
    char password[FSA_SECRET_MAX]; /* the Sentinels' own (requirepass in sentinel.conf); "" = none */
};

struct fsa_redis_config {
    char host[FSA_HOST_MAX]; /* default 127.0.0.1 */
    uint16_t port;           /* default 6379 */
    char username[FSA_NAME_MAX]; /* Redis 6 ACL user; "" = the default user */
    char password[FSA_SECRET_MAX];
    int db;                  /* default 0 */
    unsigned ttl_s;          /* default 86400 */
    unsigned timeout_ms;     /* default 200: an answer later than this takes the connection down; a connect waits this long at most */
    unsigned flush_interval_ms;     /* default 1000: changed labels and delta bases are written this often */
    unsigned checkpoint_interval_s; /* default 30: changed jitter accumulators at most this often */
    struct fsa_sentinel_config sentinel;
    struct fsa_redis_tls_config tls;
};

struct fsa_otlp_header {
    char name[FSA_NAME_MAX];
    char value[FSA_SECRET_MAX];
};

struct fsa_otel_config {
    char endpoint[FSA_HOST_MAX]; /* always host:port ([v6]:port) once parsed; default localhost:4317 */
    bool insecure;               /* default true: h2c */
    bool scheme_set;             /* the endpoint came as http(s)://, which decided insecure */
    char ca_file[FSA_HOST_MAX];  /* OTEL_EXPORTER_OTLP_CERTIFICATE */
    char client_cert[FSA_HOST_MAX];
    char client_key[FSA_HOST_MAX];
    struct fsa_otlp_header headers[FSA_MAX_OTLP_HEADERS];
    unsigned nheaders;
    unsigned timeout_ms;         /* default 10000 */
    bool gzip;                   /* OTEL_EXPORTER_OTLP_COMPRESSION=gzip */
    enum fsa_temporality temporality;
    unsigned batch_max_points;   /* default 8192 */
    unsigned batch_interval_ms;  /* default 1000 */
    size_t queue_max_bytes;      /* default 64 MiB */
    char agent_id[FSA_NAME_MAX]; /* service.instance.id; default the host name */
};

struct fsa_engine_config {
    unsigned reactor_threads;    /* default 1 */
    unsigned worker_threads;     /* default: online CPUs, at least 1 */
    bool pin_threads;            /* default true */
    unsigned ring_slots;         /* per reactor->worker lane; default 8192 */
    size_t max_frame_bytes;      /* default 1 MiB */
    unsigned heartbeat_s;        /* expected HEARTBEAT period; default 20; watchdog at 3x */
    unsigned connect_timeout_ms; /* default 5000 */
    unsigned backoff_initial_ms; /* default 500 */
    unsigned backoff_max_ms;     /* default 30000 */
    unsigned max_legs_per_worker;/* default 262144 */
    unsigned leg_ttl_s;          /* default 86400 */
    unsigned stats_log_interval_s; /* default 60; 0 = off */
    /* Resume (contract "Resume"): bgapi calls/s for the whole agent; 0 = no resync. Default 200. */
    unsigned resync_rate;
    size_t resync_max_bytes;       /* largest `show channels as json` reply accepted; default 64 MiB */
    unsigned resync_label_wait_ms; /* a learnt leg's points wait this long for its labels; default 3000 */
};

struct fsa_config {
    struct fsa_instance_config *instances;
    unsigned ninstances;
    enum fsa_storage_type storage;
    struct fsa_redis_config redis;
    struct fsa_otel_config otel;
    char http_bind[FSA_HOST_MAX]; /* default 0.0.0.0 */
    uint16_t http_port;           /* default 8080; 0 = admin server off */
    enum fsa_log_level log_level;
    enum fsa_log_format log_format;
    bool events_rtcp;             /* default true */
    bool events_qos;              /* default true */
    bool metrics_per_leg;         /* default true */
    bool emodel_plc;              /* default true: E-model Bpl with packet-loss concealment */
    struct fsa_engine_config engine;
};

struct fsa_config_error {
    char key[128];    /* e.g. "freeswitch_instances[1].port", "FSAGENT_HTTP_PORT" */
    char reason[256]; /* e.g. "must be an integer from 1 to 65535" */
};

/* Upper bound on a config file or FSAGENT_FREESWITCH_INSTANCES value. */
#define FSA_CONFIG_MAX_BYTES (4u << 20)

/* Overwrites *cfg with the defaults (frees nothing: call on a fresh or freed struct). */
void fsa_config_defaults(struct fsa_config *cfg);
/*
 * Defaults, then path (NULL: ./config.yaml if it exists, else defaults only),
 * then env. *cfg need not be initialised. 0, or -1 with *err and *cfg freed
 * (freeing it again is harmless). Does not validate: flags come after it.
 */
int fsa_config_load(struct fsa_config *cfg, const char *path, char *const *envp, struct fsa_config_error *err);
/* Parses YAML text (file contents) into cfg on top of what is there. */
int fsa_config_parse_yaml(struct fsa_config *cfg, const char *text, size_t len, struct fsa_config_error *err);
/* Parses FSAGENT_FREESWITCH_INSTANCES' JSON list, replacing cfg->instances. */
int fsa_config_parse_instances_json(struct fsa_config *cfg, const char *text, size_t len,
                                    struct fsa_config_error *err);
/* Applies FSAGENT_* / OTEL_EXPORTER_OTLP_* from envp (NULL-terminated). */
int fsa_config_apply_env(struct fsa_config *cfg, char *const *envp, struct fsa_config_error *err);
/* Every range and cross-field check (non-empty instance list, unique names, ...), keyed by YAML path. */
int fsa_config_validate(const struct fsa_config *cfg, struct fsa_config_error *err);
/* Frees and zeroes the instance list (secrets included); safe to call twice. */
void fsa_config_free(struct fsa_config *cfg);

const char *fsa_log_level_name(enum fsa_log_level level);

#endif
