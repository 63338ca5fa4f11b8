/*
 * config: defaults, a full file, every environment variable, refusals with
 * their exact key, secrets kept out of reasons, and the shipped example.
 */
#include "engine/config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsa_test.h"

/* A file that validates: every refusal test adds exactly one fault to it. */
#define ONE_INSTANCE "freeswitch_instances:\n  - {name: fs1, host: 10.0.0.1}\n"

static struct fsa_config_error e;

static int parse(struct fsa_config *c, const char *yaml)
{
    fsa_config_defaults(c);
    memset(&e, 0, sizeof(e));
    return fsa_config_parse_yaml(c, yaml, strlen(yaml), &e);
}

/* Parses, then validates if parsing passed; expects a refusal naming key. */
static void refuse_yaml_at(const char *yaml, const char *key, int line)
{
    struct fsa_config c;
    int rc = parse(&c, yaml);
    if (rc == 0)
        rc = fsa_config_validate(&c, &e);
    fsa_config_free(&c);
    if (rc != -1 || strcmp(e.key, key) != 0 || e.reason[0] == '\0')
        fprintf(stderr, "test_config.c:%d: expected refusal at \"%s\", got rc=%d \"%s: %s\"\n", line, key, rc, e.key,
                e.reason);
    CHECK(rc == -1);
    CHECK_STR(e.key, key);
    CHECK(e.reason[0] != '\0');
}
#define REFUSE_YAML(yaml, key) refuse_yaml_at(yaml, key, __LINE__)

static int apply_env(struct fsa_config *c, char *const *env)
{
    memset(&e, 0, sizeof(e));
    return fsa_config_apply_env(c, env, &e);
}

/* One variable on top of a valid file; expects a refusal naming key. */
static void refuse_env_at(const char *var, const char *key, int line)
{
    struct fsa_config c;
    CHECK(parse(&c, ONE_INSTANCE) == 0);
    char *env[] = {(char *)var, NULL};
    int rc = apply_env(&c, env);
    if (rc == 0)
        rc = fsa_config_validate(&c, &e);
    fsa_config_free(&c);
    if (rc != -1 || strcmp(e.key, key) != 0 || e.reason[0] == '\0')
        fprintf(stderr, "test_config.c:%d: expected refusal at \"%s\", got rc=%d \"%s: %s\"\n", line, key, rc, e.key,
                e.reason);
    CHECK(rc == -1);
    CHECK_STR(e.key, key);
    CHECK(e.reason[0] != '\0');
}
#define REFUSE_ENV(var, key) refuse_env_at(var, key, __LINE__)

static bool leaks(const char *secret)
{
    return strstr(e.reason, secret) != NULL || strstr(e.key, secret) != NULL;
}

static char *temp_file(const char *text)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/fsa_test_config_XXXXXX", fsa_test_tmpdir());
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(2);
    }
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) {
        perror("write");
        exit(2);
    }
    close(fd);
    return path;
}

static void test_defaults(void)
{
    struct fsa_config c;
    fsa_config_defaults(&c);
    CHECK(c.instances == NULL);
    CHECK_EQ_U64(c.ninstances, 0);
    CHECK(c.storage == FSA_STORAGE_MEMORY);
    CHECK_STR(c.redis.host, "127.0.0.1");
    CHECK_EQ_U64(c.redis.port, 6379);
    CHECK_STR(c.redis.password, "");
    CHECK_EQ_I64(c.redis.db, 0);
    CHECK_EQ_U64(c.redis.ttl_s, 86400);
    CHECK_EQ_U64(c.redis.timeout_ms, 200);
    CHECK_STR(c.otel.endpoint, "localhost:4317");
    CHECK(c.otel.insecure);
    CHECK(!c.otel.scheme_set);
    CHECK_STR(c.otel.ca_file, "");
    CHECK_STR(c.otel.client_cert, "");
    CHECK_STR(c.otel.client_key, "");
    CHECK_EQ_U64(c.otel.nheaders, 0);
    CHECK_EQ_U64(c.otel.timeout_ms, 10000);
    CHECK(!c.otel.gzip);
    CHECK(c.otel.temporality == FSA_TEMPORALITY_CUMULATIVE);
    CHECK_EQ_U64(c.otel.batch_max_points, 8192);
    CHECK_EQ_U64(c.otel.batch_interval_ms, 1000);
    CHECK_EQ_U64(c.otel.queue_max_bytes, 64u << 20);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    CHECK_STR(c.otel.agent_id, host[0] ? host : "fsagent");
    CHECK_STR(c.http_bind, "0.0.0.0");
    CHECK_EQ_U64(c.http_port, 8080);
    CHECK(c.log_level == FSA_LOG_INFO);
    CHECK(c.log_format == FSA_LOG_JSON);
    CHECK(c.events_rtcp);
    CHECK(c.events_qos);
    CHECK(c.metrics_per_leg);
    CHECK(c.emodel_plc); /* concealment by default (contract: E-model) */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_EQ_U64(c.engine.reactor_threads, 1);
    CHECK_EQ_U64(c.engine.worker_threads, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
    CHECK(c.engine.pin_threads);
    CHECK_EQ_U64(c.engine.ring_slots, 8192);
    CHECK_EQ_U64(c.engine.max_frame_bytes, 1u << 20);
    CHECK_EQ_U64(c.engine.heartbeat_s, 20);
    CHECK_EQ_U64(c.engine.connect_timeout_ms, 5000);
    CHECK_EQ_U64(c.engine.backoff_initial_ms, 500);
    CHECK_EQ_U64(c.engine.backoff_max_ms, 30000);
    CHECK_EQ_U64(c.engine.max_legs_per_worker, 262144);
    CHECK_EQ_U64(c.engine.leg_ttl_s, 86400);
    CHECK_EQ_U64(c.engine.stats_log_interval_s, 60);
    /* Defaults alone are refused: there is no default FreeSWITCH to watch. */
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "freeswitch_instances");
    fsa_config_free(&c);
    fsa_config_free(&c); /* twice is harmless */
}

static const char full_yaml[] = "# every key, none at its default\n"
                                "freeswitch_instances:\n"
                                "  - name: fs-a\n"
                                "    host: 10.0.0.1\n"
                                "    port: 8022\n"
                                "    password: \"s3cret A\"\n"
                                "  - {host: fs2.example.net, port: '9021'}\n"
                                "  - {host: '::1'}\n"
                                "storage:\n"
                                "  type: redis\n"
                                "  redis:\n"
                                "    host: redis.local\n"
                                "    port: 6380\n"
                                "    password: rpass\n"
                                "    db: 3\n"
                                "    ttl_s: 3600\n"
                                "    timeout_ms: 50\n"
                                "opentelemetry:\n"
                                "  endpoint: https://otel.example.com\n"
                                "  insecure: false\n"
                                "  headers:\n"
                                "    X-API-Key: k1\n"
                                "    x-tenant: \"acme corp\"\n"
                                "  timeout_ms: 2500\n"
                                "  compression: gzip\n"
                                "  temporality: delta\n"
                                "  ca_file: /etc/ca.pem\n"
                                "  client_cert: /etc/cert.pem\n"
                                "  client_key: /etc/key.pem\n"
                                "  batch_max_points: 1000\n"
                                "  batch_interval_ms: 250\n"
                                "  queue_max_bytes: 1048576\n"
                                "  agent_id: agent-7\n"
                                "http: {port: 0, bind: 127.0.0.1}\n"
                                "logging: {level: WARN, format: text}\n"
                                "events: {rtcp: false, qos: false}\n"
                                "metrics: {per_leg: false}\n"
                                "emodel: {plc: false}\n"
                                "engine:\n"
                                "  reactor_threads: 2\n"
                                "  worker_threads: 3\n"
                                "  pin_threads: false\n"
                                "  ring_slots: 1024\n"
                                "  max_frame_bytes: 65536\n"
                                "  heartbeat_s: 5\n"
                                "  connect_timeout_ms: 1000\n"
                                "  backoff_initial_ms: 100\n"
                                "  backoff_max_ms: 100\n"
                                "  max_legs_per_worker: 1024\n"
                                "  leg_ttl_s: 600\n"
                                "  stats_log_interval_s: 0\n";

static void test_full_yaml(void)
{
    struct fsa_config c;
    CHECK(parse(&c, full_yaml) == 0);
    CHECK(fsa_config_validate(&c, &e) == 0);
    CHECK_EQ_U64(c.ninstances, 3);
    CHECK_STR(c.instances[0].name, "fs-a");
    CHECK_STR(c.instances[0].host, "10.0.0.1");
    CHECK_EQ_U64(c.instances[0].port, 8022);
    CHECK_STR(c.instances[0].password, "s3cret A");
    CHECK_STR(c.instances[1].name, "fs2.example.net:9021"); /* name absent: host:port */
    CHECK_STR(c.instances[1].host, "fs2.example.net");
    CHECK_EQ_U64(c.instances[1].port, 9021);
    CHECK_STR(c.instances[1].password, "ClueCon");
    CHECK_STR(c.instances[2].name, "[::1]:8021");
    CHECK_EQ_U64(c.instances[2].port, 8021);
    CHECK(c.storage == FSA_STORAGE_REDIS);
    CHECK_STR(c.redis.host, "redis.local");
    CHECK_EQ_U64(c.redis.port, 6380);
    CHECK_STR(c.redis.password, "rpass");
    CHECK_EQ_I64(c.redis.db, 3);
    CHECK_EQ_U64(c.redis.ttl_s, 3600);
    CHECK_EQ_U64(c.redis.timeout_ms, 50);
    CHECK_STR(c.otel.endpoint, "otel.example.com:443"); /* https:// without a port */
    CHECK(!c.otel.insecure);
    CHECK(c.otel.scheme_set);
    CHECK_EQ_U64(c.otel.nheaders, 2);
    CHECK_STR(c.otel.headers[0].name, "x-api-key"); /* lower-cased for HTTP/2 */
    CHECK_STR(c.otel.headers[0].value, "k1");
    CHECK_STR(c.otel.headers[1].name, "x-tenant");
    CHECK_STR(c.otel.headers[1].value, "acme corp");
    CHECK_EQ_U64(c.otel.timeout_ms, 2500);
    CHECK(c.otel.gzip);
    CHECK(c.otel.temporality == FSA_TEMPORALITY_DELTA);
    CHECK_STR(c.otel.ca_file, "/etc/ca.pem");
    CHECK_STR(c.otel.client_cert, "/etc/cert.pem");
    CHECK_STR(c.otel.client_key, "/etc/key.pem");
    CHECK_EQ_U64(c.otel.batch_max_points, 1000);
    CHECK_EQ_U64(c.otel.batch_interval_ms, 250);
    CHECK_EQ_U64(c.otel.queue_max_bytes, 1048576);
    CHECK_STR(c.otel.agent_id, "agent-7");
    CHECK_EQ_U64(c.http_port, 0);
    CHECK_STR(c.http_bind, "127.0.0.1");
    CHECK(c.log_level == FSA_LOG_WARN);
    CHECK(c.log_format == FSA_LOG_TEXT);
    CHECK(!c.events_rtcp);
    CHECK(!c.events_qos);
    CHECK(!c.metrics_per_leg);
    CHECK(!c.emodel_plc);
    CHECK_EQ_U64(c.engine.reactor_threads, 2);
    CHECK_EQ_U64(c.engine.worker_threads, 3);
    CHECK(!c.engine.pin_threads);
    CHECK_EQ_U64(c.engine.ring_slots, 1024);
    CHECK_EQ_U64(c.engine.max_frame_bytes, 65536);
    CHECK_EQ_U64(c.engine.heartbeat_s, 5);
    CHECK_EQ_U64(c.engine.connect_timeout_ms, 1000);
    CHECK_EQ_U64(c.engine.backoff_initial_ms, 100);
    CHECK_EQ_U64(c.engine.backoff_max_ms, 100);
    CHECK_EQ_U64(c.engine.max_legs_per_worker, 1024);
    CHECK_EQ_U64(c.engine.leg_ttl_s, 600);
    CHECK_EQ_U64(c.engine.stats_log_interval_s, 0);
    fsa_config_free(&c);
    CHECK(c.instances == NULL);
    CHECK_EQ_U64(c.ninstances, 0);
}

static void test_yaml_forms(void)
{
    struct fsa_config c;
    /* An empty file, comments only, or a null document: nothing changes. */
    const char *empties[] = {"", "# nothing\n", "---\n", "~\n", "\n\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        CHECK(parse(&c, empties[i]) == 0);
        CHECK_EQ_U64(c.http_port, 8080);
        fsa_config_free(&c);
    }
    /* A section with nothing under it keeps its defaults. */
    CHECK(parse(&c, ONE_INSTANCE "engine:\nopentelemetry:\nstorage: ~\n") == 0);
    CHECK_EQ_U64(c.engine.ring_slots, 8192);
    CHECK(fsa_config_validate(&c, &e) == 0);
    fsa_config_free(&c);
    /* A null string empties it; the Redis password may be empty (no AUTH). */
    CHECK(parse(&c, ONE_INSTANCE "storage: {redis: {password: }}\nopentelemetry: {ca_file: null}\n") == 0);
    CHECK_STR(c.redis.password, "");
    CHECK(fsa_config_validate(&c, &e) == 0);
    fsa_config_free(&c);
    /* http:// keeps h2c and takes port 80; a bare host takes 4317; IPv6 in brackets. */
    CHECK(parse(&c, "opentelemetry: {endpoint: 'http://collector'}\n") == 0);
    CHECK_STR(c.otel.endpoint, "collector:80");
    CHECK(c.otel.insecure);
    fsa_config_free(&c);
    CHECK(parse(&c, "opentelemetry: {endpoint: collector}\n") == 0);
    CHECK_STR(c.otel.endpoint, "collector:4317");
    CHECK(!c.otel.scheme_set);
    fsa_config_free(&c);
    CHECK(parse(&c, "opentelemetry: {endpoint: 'HTTPS://[fd00::1]:4318/'}\n") == 0);
    CHECK_STR(c.otel.endpoint, "[fd00::1]:4318");
    CHECK(!c.otel.insecure);
    fsa_config_free(&c);
    /* insecure agreeing with the scheme is fine, in either order. */
    CHECK(parse(&c, "opentelemetry: {insecure: true, endpoint: 'http://c:1'}\n") == 0);
    CHECK(c.otel.insecure);
    fsa_config_free(&c);
    /* A later list replaces an earlier one, and frees it. */
    CHECK(parse(&c, ONE_INSTANCE) == 0);
    const char *two = "freeswitch_instances: [{name: b}, {name: c}]\n";
    CHECK(fsa_config_parse_yaml(&c, two, strlen(two), &e) == 0);
    CHECK_EQ_U64(c.ninstances, 2);
    CHECK_STR(c.instances[1].name, "c");
    fsa_config_free(&c);
    /* Exactly FSA_MAX_INSTANCES fit. */
    size_t cap = 64 + FSA_MAX_INSTANCES * 32;
    char *big = malloc(cap);
    size_t n = (size_t)snprintf(big, cap, "freeswitch_instances:\n");
    for (unsigned i = 0; i < FSA_MAX_INSTANCES; i++)
        n += (size_t)snprintf(big + n, cap - n, "  - {name: fs%u}\n", i);
    CHECK(parse(&c, big) == 0);
    CHECK_EQ_U64(c.ninstances, FSA_MAX_INSTANCES);
    CHECK(fsa_config_validate(&c, &e) == 0);
    fsa_config_free(&c);
    /* One more is refused at the entry that does not fit. */
    snprintf(big + n, cap - n, "  - {name: extra}\n");
    REFUSE_YAML(big, "freeswitch_instances[1024]");
    free(big);
}

static void test_refusals_yaml(void)
{
    /* names and types */
    REFUSE_YAML(ONE_INSTANCE "opentelemetry:\n  endpiont: x:1\n", "opentelemetry.endpiont");
    REFUSE_YAML(ONE_INSTANCE "loging: {level: info}\n", "loging");
    REFUSE_YAML(ONE_INSTANCE "engine: {ring_slot: 64}\n", "engine.ring_slot");
    REFUSE_YAML(ONE_INSTANCE "http:\n  port: {a: 1}\n", "http.port");
    REFUSE_YAML(ONE_INSTANCE "http:\n  bind: [a, b]\n", "http.bind");
    REFUSE_YAML(ONE_INSTANCE "engine: [1, 2]\n", "engine");
    REFUSE_YAML(ONE_INSTANCE "storage: redis\n", "storage");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {headers: [a]}\n", "opentelemetry.headers");
    REFUSE_YAML("freeswitch_instances: fs1\n", "freeswitch_instances");
    REFUSE_YAML("freeswitch_instances:\n  - fs1\n", "freeswitch_instances[0]");
    REFUSE_YAML("freeswitch_instances:\n  - {name: a}\n  - {name: b, prot: 1}\n", "freeswitch_instances[1].prot");
    REFUSE_YAML(ONE_INSTANCE "? [a]\n: 1\n", "yaml");
    REFUSE_YAML(ONE_INSTANCE "http:\n  port: 1\n  port: 2\n", "http.port");
    REFUSE_YAML(ONE_INSTANCE "engine: {}\nengine: {}\n", "engine");
    /* the instance list */
    REFUSE_YAML("freeswitch_instances: []\n", "freeswitch_instances");
    REFUSE_YAML("freeswitch_instances:\n", "freeswitch_instances");
    REFUSE_YAML("http: {port: 8080}\n", "freeswitch_instances"); /* validate: none at all */
    REFUSE_YAML("freeswitch_instances:\n  - {name: fs1}\n  - {name: fs1, host: b}\n", "freeswitch_instances[1].name");
    REFUSE_YAML("freeswitch_instances: [{}, {}]\n", "freeswitch_instances[1].name");
    REFUSE_YAML("freeswitch_instances: [{name: ''}]\n", "freeswitch_instances[0].name");
    REFUSE_YAML("freeswitch_instances: [{name: 'fs 1'}]\n", "freeswitch_instances[0].name");
    REFUSE_YAML("freeswitch_instances: [{name: "
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}]\n",
                "freeswitch_instances[0].name");
    REFUSE_YAML("freeswitch_instances: [{host: ''}]\n", "freeswitch_instances[0].host");
    REFUSE_YAML("freeswitch_instances: [{host: 'a b'}]\n", "freeswitch_instances[0].host");
    /* ports */
    REFUSE_YAML("freeswitch_instances:\n  - {name: a}\n  - {name: b, port: 0}\n", "freeswitch_instances[1].port");
    REFUSE_YAML("freeswitch_instances: [{port: 65536}]\n", "freeswitch_instances[0].port");
    REFUSE_YAML("freeswitch_instances: [{port: abc}]\n", "freeswitch_instances[0].port");
    REFUSE_YAML("freeswitch_instances: [{port: 8021.0}]\n", "freeswitch_instances[0].port");
    REFUSE_YAML("freeswitch_instances: [{port: '+8021'}]\n", "freeswitch_instances[0].port");
    REFUSE_YAML("freeswitch_instances: [{port: 0x1F}]\n", "freeswitch_instances[0].port");
    REFUSE_YAML("freeswitch_instances: [{port: ' 8021'}]\n", "freeswitch_instances[0].port");
    REFUSE_YAML("freeswitch_instances: [{port: }]\n", "freeswitch_instances[0].port");
    REFUSE_YAML(ONE_INSTANCE "http: {port: 65536}\n", "http.port");
    REFUSE_YAML(ONE_INSTANCE "storage: {redis: {port: 0}}\n", "storage.redis.port");
    REFUSE_YAML(ONE_INSTANCE "storage: {redis: {db: -1}}\n", "storage.redis.db");
    /* words */
    REFUSE_YAML(ONE_INSTANCE "storage: {type: redsi}\n", "storage.type");
    REFUSE_YAML(ONE_INSTANCE "logging: {level: verbose}\n", "logging.level");
    REFUSE_YAML(ONE_INSTANCE "logging: {format: xml}\n", "logging.format");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {compression: br}\n", "opentelemetry.compression");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {temporality: lowmemory}\n", "opentelemetry.temporality");
    REFUSE_YAML(ONE_INSTANCE "events: {rtcp: yes}\n", "events.rtcp");
    REFUSE_YAML(ONE_INSTANCE "events: {qos: True}\n", "events.qos");
    REFUSE_YAML(ONE_INSTANCE "metrics: {per_leg: 1}\n", "metrics.per_leg");
    REFUSE_YAML(ONE_INSTANCE "emodel: {plc: yes}\n", "emodel.plc");
    REFUSE_YAML(ONE_INSTANCE "emodel: {plc: }\n", "emodel.plc");
    REFUSE_YAML(ONE_INSTANCE "emodel: {bpl: 4.3}\n", "emodel.bpl"); /* unknown key */
    REFUSE_YAML(ONE_INSTANCE "emodel: true\n", "emodel");
    REFUSE_YAML(ONE_INSTANCE "engine: {pin_threads: }\n", "engine.pin_threads");
    /* ranges */
    REFUSE_YAML(ONE_INSTANCE "engine: {ring_slots: 1000}\n", "engine.ring_slots");
    REFUSE_YAML(ONE_INSTANCE "engine: {ring_slots: 32}\n", "engine.ring_slots");
    REFUSE_YAML(ONE_INSTANCE "engine: {ring_slots: 2097152}\n", "engine.ring_slots");
    REFUSE_YAML(ONE_INSTANCE "engine: {max_frame_bytes: 65535}\n", "engine.max_frame_bytes");
    REFUSE_YAML(ONE_INSTANCE "engine: {max_frame_bytes: 67108865}\n", "engine.max_frame_bytes");
    REFUSE_YAML(ONE_INSTANCE "engine: {reactor_threads: 0}\n", "engine.reactor_threads");
    REFUSE_YAML(ONE_INSTANCE "engine: {worker_threads: 257}\n", "engine.worker_threads");
    REFUSE_YAML(ONE_INSTANCE "engine: {backoff_initial_ms: 5000, backoff_max_ms: 1000}\n", "engine.backoff_initial_ms");
    REFUSE_YAML(ONE_INSTANCE "engine: {stats_log_interval_s: -1}\n", "engine.stats_log_interval_s");
    REFUSE_YAML(ONE_INSTANCE "engine: {leg_ttl_s: 99999999999999999999999}\n", "engine.leg_ttl_s");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {queue_max_bytes: 1000}\n", "opentelemetry.queue_max_bytes");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {timeout_ms: 0}\n", "opentelemetry.timeout_ms");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {agent_id: ''}\n", "opentelemetry.agent_id");
    /* the endpoint and TLS */
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {endpoint: 'ftp://c:1'}\n", "opentelemetry.endpoint");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {endpoint: 'http://c:4318/v1/metrics'}\n", "opentelemetry.endpoint");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {endpoint: 'c:0'}\n", "opentelemetry.endpoint");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {endpoint: 'fd00::1:4317'}\n", "opentelemetry.endpoint");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {endpoint: ''}\n", "opentelemetry.endpoint");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {endpoint: 'https://c:1', insecure: true}\n", "opentelemetry.insecure");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {insecure: false, endpoint: 'http://c:1'}\n", "opentelemetry.insecure");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {insecure: false, client_cert: /c.pem}\n", "opentelemetry.client_key");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {ca_file: /ca.pem}\n", "opentelemetry.ca_file");
    /* headers */
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {headers: {'bad name': v}}\n", "opentelemetry.headers");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {headers: {te: trailers}}\n", "opentelemetry.headers");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {headers: {grpc-timeout: 1S}}\n", "opentelemetry.headers");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {headers: {x-a: 1, X-A: 2}}\n", "opentelemetry.headers.x-a");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {headers: {x-a: }}\n", "opentelemetry.headers.x-a");
    REFUSE_YAML(ONE_INSTANCE "opentelemetry: {headers: {x-a: {b: c}}}\n", "opentelemetry.headers.x-a");
    {
        char yaml[1024];
        char v[300];
        memset(v, 'v', sizeof(v) - 1);
        v[sizeof(v) - 1] = '\0';
        snprintf(yaml, sizeof(yaml), ONE_INSTANCE "opentelemetry: {headers: {x-a: %s}}\n", v);
        REFUSE_YAML(yaml, "opentelemetry.headers.x-a");
        size_t n = (size_t)snprintf(yaml, sizeof(yaml), ONE_INSTANCE "opentelemetry:\n  headers:\n");
        for (unsigned i = 0; i <= FSA_MAX_OTLP_HEADERS; i++)
            n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "    h%u: v\n", i);
        REFUSE_YAML(yaml, "opentelemetry.headers.h32");
    }
    /* YAML itself */
    REFUSE_YAML(ONE_INSTANCE "http: {port: 1\n", "yaml");
    REFUSE_YAML(ONE_INSTANCE "http:\n\tport: 1\n", "yaml");
    REFUSE_YAML(ONE_INSTANCE "engine: &e {}\nhttp: *e\n", "http");
    REFUSE_YAML(ONE_INSTANCE "---\nhttp: {}\n", "yaml");
    REFUSE_YAML("- a\n- b\n", "yaml");
    REFUSE_YAML("just a string\n", "yaml");
    REFUSE_YAML("http: \xff\xfe garbage\n", "yaml"); /* not UTF-8 */
    REFUSE_YAML("a: \"\\0\"\n", "a");                /* unknown, with a NUL in the value: still named */
    REFUSE_YAML("freeswitch_instances: [{name: \"a\\0b\"}]\n", "freeswitch_instances[0].name");

    /* A syntax error names its line. */
    struct fsa_config c;
    CHECK(parse(&c, "engine:\n  ring_slots: 64\n  heartbeat_s: '5\n") == -1);
    CHECK_STR(e.key, "yaml");
    CHECK(strstr(e.reason, "line") != NULL);
    fsa_config_free(&c);
    CHECK(parse(&c, ONE_INSTANCE "http:\n  port: 1\n  port: 2\n") == -1);
    CHECK(strstr(e.reason, "(line 5)") != NULL);
    fsa_config_free(&c);

    /* Size and depth bounds. */
    size_t n = FSA_CONFIG_MAX_BYTES + 1;
    char *huge = malloc(n + 1);
    memset(huge, '#', n);
    huge[n] = '\0';
    REFUSE_YAML(huge, "yaml");
    free(huge);
    n = 200000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    REFUSE_YAML(deep, "yaml");
    memcpy(deep, "engine: ", 8);
    REFUSE_YAML(deep, "engine");
    free(deep);
}

static void test_secrets_not_shown(void)
{
    struct fsa_config c;
    CHECK(parse(&c, "freeswitch_instances: [{name: a, password: \"hunter2\\nauth x\"}]\n") == -1);
    CHECK_STR(e.key, "freeswitch_instances[0].password");
    CHECK(e.reason[0] != '\0');
    CHECK(!leaks("hunter2"));
    fsa_config_free(&c);
    char yaml[512];
    char pw[300];
    memset(pw, 'Q', sizeof(pw) - 1);
    pw[sizeof(pw) - 1] = '\0';
    memcpy(pw, "zx9secret", 9);
    snprintf(yaml, sizeof(yaml), "freeswitch_instances: [{name: a, password: %s}]\n", pw);
    CHECK(parse(&c, yaml) == -1);
    CHECK_STR(e.key, "freeswitch_instances[0].password");
    CHECK(!leaks("zx9secret"));
    fsa_config_free(&c);
    CHECK(parse(&c, "freeswitch_instances: [{name: a, password: ''}]\n") == -1);
    CHECK_STR(e.key, "freeswitch_instances[0].password");
    fsa_config_free(&c);
    /* A value written where a key goes ("{..., hunter2}") is not echoed as a key. */
    CHECK(parse(&c, "freeswitch_instances: [{name: a, hunter2}]\n") == -1);
    CHECK_STR(e.key, "freeswitch_instances[0]");
    CHECK(!leaks("hunter2"));
    fsa_config_free(&c);
    CHECK(parse(&c, "freeswitch_instances: [{name: a, password:hunter2}]\n") == -1);
    CHECK_STR(e.key, "freeswitch_instances[0]");
    CHECK(!leaks("hunter2"));
    fsa_config_free(&c);
    CHECK(parse(&c, "opentelemetry: {headers: {authorization: \"Bearer tok3n\\r\\nx: y\"}}\n") == -1);
    CHECK_STR(e.key, "opentelemetry.headers.authorization");
    CHECK(!leaks("tok3n"));
    fsa_config_free(&c);
    CHECK(parse(&c, "opentelemetry: {headers: {'authorization: Bearer tok3n': x}}\n") == -1);
    CHECK_STR(e.key, "opentelemetry.headers");
    CHECK(!leaks("tok3n"));
    fsa_config_free(&c);
    CHECK(parse(&c, "storage: {redis: {password: [r3dis]}}\n") == -1);
    CHECK_STR(e.key, "storage.redis.password");
    CHECK(!leaks("r3dis"));
    fsa_config_free(&c);
    /* The JSON list is secret-bearing too. */
    fsa_config_defaults(&c);
    const char *js = "[{\"name\":\"a\",\"password\":\"pw\\u0001s3\"}]";
    CHECK(fsa_config_parse_instances_json(&c, js, strlen(js), &e) == -1);
    CHECK_STR(e.key, "FSAGENT_FREESWITCH_INSTANCES[0].password");
    CHECK(!leaks("s3"));
    fsa_config_free(&c);
    js = "[{\"name\":\"a\",\"password\":\"s3cr3t\" \"x\"}]";
    CHECK(fsa_config_parse_instances_json(&c, js, strlen(js), &e) == -1);
    CHECK_STR(e.key, "FSAGENT_FREESWITCH_INSTANCES");
    CHECK(!leaks("s3cr3t"));
    fsa_config_free(&c);
}

static void test_env(void)
{
    struct fsa_config c;
    CHECK(parse(&c, ONE_INSTANCE "opentelemetry: {headers: {x-file: f, x-both: file}}\n") == 0);
    char *env[] = {
        "PATH=/usr/bin",
        "FSAGENT_FREESWITCH_INSTANCES=[{\"name\":\"e1\",\"host\":\"10.1.1.1\",\"port\":8031,\"password\":\"pw1\"},"
        "{\"name\":\"e2\",\"port\":\"8032\"}, {\"host\":\"h3\"}]",
        "FSAGENT_STORAGE_TYPE=redis",
        "FSAGENT_REDIS_HOST=r.example",
        "FSAGENT_REDIS_PORT=7000",
        "FSAGENT_REDIS_PASSWORD=rpw",
        "FSAGENT_OTEL_ENDPOINT=collector:4999",
        "OTEL_EXPORTER_OTLP_ENDPOINT=https://ignored:1", /* FSAGENT_OTEL_ENDPOINT wins */
        "FSAGENT_HTTP_PORT=9090",
        "FSAGENT_LOG_LEVEL=DEBUG",
        "FSAGENT_LOG_FORMAT=text",
        "FSAGENT_EVENTS_RTCP=false",
        "FSAGENT_EVENTS_QOS=false",
        "FSAGENT_METRICS_PER_LEG=false",
        "FSAGENT_EMODEL_PLC=false",
        "FSAGENT_REACTOR_THREADS=4",
        "FSAGENT_WORKER_THREADS=6",
        "OTEL_EXPORTER_OTLP_HEADERS=x-both = env%20value , Api-Key=a%3Db%2Cc,,",
        "OTEL_EXPORTER_OTLP_TIMEOUT=1500",
        "OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
        "OTEL_EXPORTER_OTLP_INSECURE=FALSE",
        "OTEL_EXPORTER_OTLP_CERTIFICATE=/etc/otel/ca.pem",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=Delta",
        "FSAGENT_LOG_LEVEL=error", /* a second one: the first wins, as getenv() */
        "FSAGENT_UNKNOWN_THING=1",
        "NOEQUALS",
        NULL,
    };
    CHECK(apply_env(&c, env) == 0);
    CHECK(fsa_config_validate(&c, &e) == 0);
    CHECK_EQ_U64(c.ninstances, 3);
    CHECK_STR(c.instances[0].name, "e1");
    CHECK_STR(c.instances[0].host, "10.1.1.1");
    CHECK_EQ_U64(c.instances[0].port, 8031);
    CHECK_STR(c.instances[0].password, "pw1");
    CHECK_STR(c.instances[1].name, "e2");
    CHECK_STR(c.instances[1].host, "127.0.0.1");
    CHECK_EQ_U64(c.instances[1].port, 8032);
    CHECK_STR(c.instances[1].password, "ClueCon");
    CHECK_STR(c.instances[2].name, "h3:8021");
    CHECK(c.storage == FSA_STORAGE_REDIS);
    CHECK_STR(c.redis.host, "r.example");
    CHECK_EQ_U64(c.redis.port, 7000);
    CHECK_STR(c.redis.password, "rpw");
    CHECK_STR(c.otel.endpoint, "collector:4999");
    CHECK(!c.otel.scheme_set);
    CHECK(!c.otel.insecure); /* INSECURE counts: the endpoint in force has no scheme */
    CHECK_EQ_U64(c.http_port, 9090);
    CHECK(c.log_level == FSA_LOG_DEBUG);
    CHECK(c.log_format == FSA_LOG_TEXT);
    CHECK(!c.events_rtcp);
    CHECK(!c.events_qos);
    CHECK(!c.metrics_per_leg);
    CHECK(!c.emodel_plc);
    CHECK_EQ_U64(c.engine.reactor_threads, 4);
    CHECK_EQ_U64(c.engine.worker_threads, 6);
    CHECK_EQ_U64(c.otel.nheaders, 3); /* merged into the file's by name */
    CHECK_STR(c.otel.headers[0].name, "x-file");
    CHECK_STR(c.otel.headers[0].value, "f");
    CHECK_STR(c.otel.headers[1].name, "x-both");
    CHECK_STR(c.otel.headers[1].value, "env value");
    CHECK_STR(c.otel.headers[2].name, "api-key");
    CHECK_STR(c.otel.headers[2].value, "a=b,c");
    CHECK_EQ_U64(c.otel.timeout_ms, 1500);
    CHECK(c.otel.gzip);
    CHECK_STR(c.otel.ca_file, "/etc/otel/ca.pem");
    CHECK(c.otel.temporality == FSA_TEMPORALITY_DELTA);
    fsa_config_free(&c);

    /* The OTel endpoint: the scheme decides, INSECURE is then ignored (OTel spec). */
    fsa_config_defaults(&c);
    char *env2[] = {"OTEL_EXPORTER_OTLP_ENDPOINT=https://otel.example:4317", "OTEL_EXPORTER_OTLP_INSECURE=true",
                    "OTEL_EXPORTER_OTLP_COMPRESSION=none", NULL};
    c.otel.gzip = true;
    CHECK(apply_env(&c, env2) == 0);
    CHECK_STR(c.otel.endpoint, "otel.example:4317");
    CHECK(!c.otel.insecure);
    CHECK(c.otel.scheme_set);
    CHECK(!c.otel.gzip);
    fsa_config_free(&c);
    fsa_config_defaults(&c);
    char *env3[] = {"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317",
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=https://m:4317",
                    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT=77",
                    "OTEL_EXPORTER_OTLP_TIMEOUT=88",
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/c.pem",
                    "OTEL_EXPORTER_OTLP_CLIENT_KEY=/k.pem",
                    NULL};
    CHECK(apply_env(&c, env3) == 0);
    CHECK_STR(c.otel.endpoint, "m:4317"); /* the signal-specific variable wins */
    CHECK(!c.otel.insecure);
    CHECK_EQ_U64(c.otel.timeout_ms, 77);
    CHECK_STR(c.otel.client_cert, "/c.pem");
    CHECK_STR(c.otel.client_key, "/k.pem");
    fsa_config_free(&c);
    fsa_config_defaults(&c);
    char *env4[] = {"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317", "OTEL_EXPORTER_OTLP_INSECURE=false", NULL};
    CHECK(apply_env(&c, env4) == 0);
    CHECK(c.otel.insecure); /* http:// decided; INSECURE ignored */
    fsa_config_free(&c);
    /* Empty values are unset; a NULL envp is no environment. */
    fsa_config_defaults(&c);
    char *env5[] = {"FSAGENT_HTTP_PORT=", "FSAGENT_FREESWITCH_INSTANCES=", "FSAGENT_OTEL_ENDPOINT=",
                    "OTEL_EXPORTER_OTLP_ENDPOINT=x:5", NULL};
    CHECK(apply_env(&c, env5) == 0);
    CHECK_EQ_U64(c.http_port, 8080);
    CHECK_STR(c.otel.endpoint, "x:5");
    CHECK(apply_env(&c, NULL) == 0);
    fsa_config_free(&c);
}

static void test_refusals_env(void)
{
    REFUSE_ENV("FSAGENT_HTTP_PORT=abc", "FSAGENT_HTTP_PORT");
    REFUSE_ENV("FSAGENT_HTTP_PORT=65536", "FSAGENT_HTTP_PORT");
    REFUSE_ENV("FSAGENT_REDIS_PORT=0", "FSAGENT_REDIS_PORT");
    REFUSE_ENV("FSAGENT_REDIS_HOST=a b", "FSAGENT_REDIS_HOST");
    REFUSE_ENV("FSAGENT_STORAGE_TYPE=disk", "FSAGENT_STORAGE_TYPE");
    REFUSE_ENV("FSAGENT_LOG_LEVEL=loud", "FSAGENT_LOG_LEVEL");
    REFUSE_ENV("FSAGENT_LOG_FORMAT=xml", "FSAGENT_LOG_FORMAT");
    REFUSE_ENV("FSAGENT_EVENTS_RTCP=yes", "FSAGENT_EVENTS_RTCP");
    REFUSE_ENV("FSAGENT_EVENTS_QOS=1", "FSAGENT_EVENTS_QOS");
    REFUSE_ENV("FSAGENT_METRICS_PER_LEG=TRUE", "FSAGENT_METRICS_PER_LEG");
    REFUSE_ENV("FSAGENT_EMODEL_PLC=off", "FSAGENT_EMODEL_PLC");
    REFUSE_ENV("FSAGENT_REACTOR_THREADS=0", "FSAGENT_REACTOR_THREADS");
    REFUSE_ENV("FSAGENT_WORKER_THREADS=1000", "FSAGENT_WORKER_THREADS");
    REFUSE_ENV("FSAGENT_OTEL_ENDPOINT=c:4317/x", "FSAGENT_OTEL_ENDPOINT");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_ENDPOINT=ftp://c:1", "OTEL_EXPORTER_OTLP_ENDPOINT");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_ENDPOINT=http://user:pw@c:1", "OTEL_EXPORTER_OTLP_ENDPOINT");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://c:1/v1/metrics", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_HEADERS=novalue", "OTEL_EXPORTER_OTLP_HEADERS");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_HEADERS=a=%zz", "OTEL_EXPORTER_OTLP_HEADERS");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_HEADERS=a=%4", "OTEL_EXPORTER_OTLP_HEADERS");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_HEADERS==v", "OTEL_EXPORTER_OTLP_HEADERS");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_HEADERS=a=1,a=2", "OTEL_EXPORTER_OTLP_HEADERS");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_HEADERS=a=", "OTEL_EXPORTER_OTLP_HEADERS");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_HEADERS=content-type=x", "OTEL_EXPORTER_OTLP_HEADERS");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_METRICS_HEADERS=a b=c", "OTEL_EXPORTER_OTLP_METRICS_HEADERS");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_TIMEOUT=10s", "OTEL_EXPORTER_OTLP_TIMEOUT");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_COMPRESSION=br", "OTEL_EXPORTER_OTLP_COMPRESSION");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_INSECURE=maybe", "OTEL_EXPORTER_OTLP_INSECURE");
    REFUSE_ENV("OTEL_EXPORTER_OTLP_CERTIFICATE=/ca.pem", "opentelemetry.ca_file"); /* validate: TLS is off */
    REFUSE_ENV("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=lowmemory",
               "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=[{\"name\":\"a\",\"port\":0}]", "FSAGENT_FREESWITCH_INSTANCES[0].port");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=[{\"name\":\"a\"},{\"name\":\"b\",\"port\":true}]",
               "FSAGENT_FREESWITCH_INSTANCES[1].port");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=[{\"name\":\"a\"},{\"name\":\"a\"}]",
               "FSAGENT_FREESWITCH_INSTANCES[1].name");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=[{\"nmae\":\"a\"}]", "FSAGENT_FREESWITCH_INSTANCES[0].nmae");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=not json [", "FSAGENT_FREESWITCH_INSTANCES");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=[]", "FSAGENT_FREESWITCH_INSTANCES");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=null", "FSAGENT_FREESWITCH_INSTANCES");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES={\"name\":\"a\"}", "FSAGENT_FREESWITCH_INSTANCES");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=[{\"name\":\"a\"}] [1]", "FSAGENT_FREESWITCH_INSTANCES");
    REFUSE_ENV("FSAGENT_FREESWITCH_INSTANCES=[\"fs1\"]", "FSAGENT_FREESWITCH_INSTANCES[0]");

    /* Secrets from the environment stay out of reasons. */
    struct fsa_config c;
    fsa_config_defaults(&c);
    char pw[400] = "FSAGENT_REDIS_PASSWORD=";
    size_t n = strlen(pw);
    memset(pw + n, 'k', sizeof(pw) - n - 1);
    memcpy(pw + n, "q7secret", 8);
    char *env[] = {pw, NULL};
    CHECK(apply_env(&c, env) == -1);
    CHECK_STR(e.key, "FSAGENT_REDIS_PASSWORD");
    CHECK(!leaks("q7secret"));
    char *env2[] = {"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%0Dq7secret", NULL};
    CHECK(apply_env(&c, env2) == -1);
    CHECK_STR(e.key, "OTEL_EXPORTER_OTLP_HEADERS");
    CHECK(!leaks("q7secret"));
    char *env3[] = {"OTEL_EXPORTER_OTLP_HEADERS=q7secret", NULL};
    CHECK(apply_env(&c, env3) == -1);
    CHECK(!leaks("q7secret"));
    fsa_config_free(&c);
}

static void test_validate_programmatic(void)
{
    /* Flags write the struct directly: validate re-checks every field. */
    struct fsa_config c;
    CHECK(parse(&c, ONE_INSTANCE) == 0);
    CHECK(fsa_config_validate(&c, &e) == 0);
    c.engine.ring_slots = 100;
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "engine.ring_slots");
    c.engine.ring_slots = 8192;
    c.redis.db = -5;
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "storage.redis.db");
    c.redis.db = 0;
    c.log_level = (enum fsa_log_level)9;
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "logging.level");
    c.log_level = FSA_LOG_INFO;
    c.instances[0].port = 0;
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "freeswitch_instances[0].port");
    c.instances[0].port = 1;
    snprintf(c.otel.endpoint, sizeof(c.otel.endpoint), "a:b:c");
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "opentelemetry.endpoint");
    snprintf(c.otel.endpoint, sizeof(c.otel.endpoint), "a:1");
    c.otel.nheaders = 1;
    snprintf(c.otel.headers[0].name, sizeof(c.otel.headers[0].name), "X-Up");
    snprintf(c.otel.headers[0].value, sizeof(c.otel.headers[0].value), "v");
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "opentelemetry.headers");
    snprintf(c.otel.headers[0].name, sizeof(c.otel.headers[0].name), "x-up");
    c.otel.nheaders = 2;
    c.otel.headers[1] = c.otel.headers[0];
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "opentelemetry.headers.x-up");
    c.otel.nheaders = 0;
    CHECK(fsa_config_validate(&c, &e) == 0);
    fsa_config_free(&c);
    CHECK(parse(&c, "freeswitch_instances: [{name: a}, {name: b}]\n") == 0);
    snprintf(c.instances[1].name, sizeof(c.instances[1].name), "a");
    CHECK(fsa_config_validate(&c, &e) == -1);
    CHECK_STR(e.key, "freeswitch_instances[1].name");
    fsa_config_free(&c);
}

static void test_load(void)
{
    struct fsa_config c;
    char *env[] = {"FSAGENT_HTTP_PORT=9999", NULL};

    /* A path given and missing is refused, naming the path. */
    memset(&e, 0, sizeof(e));
    CHECK(fsa_config_load(&c, "/nonexistent/fsagent.yaml", env, &e) == -1);
    CHECK_STR(e.key, "/nonexistent/fsagent.yaml");
    CHECK(e.reason[0] != '\0');
    CHECK(c.instances == NULL);
    fsa_config_free(&c);

    /* A file, then the environment on top. */
    char *path = temp_file(ONE_INSTANCE "http: {port: 1234}\nlogging: {level: warn}\n");
    CHECK(fsa_config_load(&c, path, env, &e) == 0);
    CHECK_EQ_U64(c.ninstances, 1);
    CHECK_EQ_U64(c.http_port, 9999);
    CHECK(c.log_level == FSA_LOG_WARN);
    CHECK(fsa_config_validate(&c, &e) == 0);
    fsa_config_free(&c);
    unlink(path);

    /* A syntax error through load names the file and the line. */
    path = temp_file(ONE_INSTANCE "http: {port: 1\n");
    CHECK(fsa_config_load(&c, path, NULL, &e) == -1);
    CHECK_STR(e.key, path);
    CHECK(strstr(e.reason, "line") != NULL);
    CHECK(c.instances == NULL); /* freed on error */
    fsa_config_free(&c);
    unlink(path);
    /* A semantic error keeps its key path. */
    path = temp_file(ONE_INSTANCE "http: {port: 0x50}\n");
    CHECK(fsa_config_load(&c, path, NULL, &e) == -1);
    CHECK_STR(e.key, "http.port");
    fsa_config_free(&c);
    unlink(path);
    /* An env error after a good file frees the file's list. */
    path = temp_file(ONE_INSTANCE);
    char *bad_env[] = {"FSAGENT_LOG_LEVEL=loud", NULL};
    CHECK(fsa_config_load(&c, path, bad_env, &e) == -1);
    CHECK_STR(e.key, "FSAGENT_LOG_LEVEL");
    CHECK(c.instances == NULL);
    fsa_config_free(&c);
    unlink(path);

    /* A file over the size bound is refused before it is parsed. */
    {
        size_t n = FSA_CONFIG_MAX_BYTES + 1;
        char *huge = malloc(n + 1);
        memset(huge, '#', n);
        huge[n] = '\0';
        path = temp_file(huge);
        free(huge);
        CHECK(fsa_config_load(&c, path, NULL, &e) == -1);
        CHECK_STR(e.key, path);
        CHECK(strstr(e.reason, "larger") != NULL);
        fsa_config_free(&c);
        unlink(path);
    }

    /* path NULL: ./config.yaml if there, else defaults only. */
    char cwd[PATH_MAX], dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/fsa_test_config_dir_XXXXXX", fsa_test_tmpdir());
    if (!getcwd(cwd, sizeof(cwd)) || !mkdtemp(dir) || chdir(dir) != 0) {
        perror("temp dir");
        exit(2);
    }
    CHECK(fsa_config_load(&c, NULL, env, &e) == 0);
    CHECK_EQ_U64(c.ninstances, 0);
    CHECK_EQ_U64(c.http_port, 9999);
    fsa_config_free(&c);
    FILE *f = fopen("config.yaml", "w");
    fputs(ONE_INSTANCE "engine: {heartbeat_s: 7}\n", f);
    fclose(f);
    CHECK(fsa_config_load(&c, NULL, NULL, &e) == 0);
    CHECK_EQ_U64(c.ninstances, 1);
    CHECK_EQ_U64(c.engine.heartbeat_s, 7);
    fsa_config_free(&c);
    /* A directory is not a file. */
    unlink("config.yaml");
    CHECK(mkdir("config.yaml", 0700) == 0);
    CHECK(fsa_config_load(&c, NULL, NULL, &e) == -1);
    CHECK_STR(e.key, "config.yaml");
    fsa_config_free(&c);
    rmdir("config.yaml");
    if (chdir(cwd) != 0)
        exit(2);
    rmdir(dir);
}

static void test_example_file(void)
{
    const char *src = getenv("FSA_SOURCE_DIR");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/config.example.yaml", src ? src : ".");
    struct fsa_config c, d;
    memset(&e, 0, sizeof(e));
    int rc = fsa_config_load(&c, path, NULL, &e);
    if (rc)
        fprintf(stderr, "config.example.yaml: %s: %s\n", e.key, e.reason);
    CHECK(rc == 0);
    rc = fsa_config_validate(&c, &e);
    if (rc)
        fprintf(stderr, "config.example.yaml: %s: %s\n", e.key, e.reason);
    CHECK(rc == 0);
    /* Every value it shows is the default. */
    fsa_config_defaults(&d);
    CHECK_EQ_U64(c.ninstances, 1);
    if (c.ninstances == 1) {
        CHECK_STR(c.instances[0].host, "127.0.0.1");
        CHECK_EQ_U64(c.instances[0].port, 8021);
        CHECK_STR(c.instances[0].password, "ClueCon");
    }
    CHECK(c.storage == d.storage);
    CHECK(memcmp(&c.redis, &d.redis, sizeof(d.redis)) == 0);
    CHECK(memcmp(&c.otel, &d.otel, sizeof(d.otel)) == 0);
    CHECK(memcmp(&c.engine, &d.engine, sizeof(d.engine)) == 0);
    CHECK_STR(c.http_bind, d.http_bind);
    CHECK_EQ_U64(c.http_port, d.http_port);
    CHECK(c.log_level == d.log_level && c.log_format == d.log_format);
    CHECK(c.events_rtcp == d.events_rtcp && c.events_qos == d.events_qos && c.metrics_per_leg == d.metrics_per_leg);
    CHECK(c.emodel_plc == d.emodel_plc);
    fsa_config_free(&c);
}

int main(void)
{
    test_defaults();
    test_full_yaml();
    test_yaml_forms();
    test_refusals_yaml();
    test_secrets_not_shown();
    test_env();
    test_refusals_env();
    test_validate_programmatic();
    test_load();
    test_example_file();
    return fsa_test_finish();
}
