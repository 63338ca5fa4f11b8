/*
 * config: defaults, the YAML file, the environment; refusal with key and reason.
 *
 * Shape. The schema is data: one table of fields per YAML mapping (name,
 * kind, offset into the struct it fills, range or allowed words). The same
 * tables drive three things, so they cannot drift apart:
 *   - the YAML walk: libyaml's event API, read by a recursive descent that
 *     follows the tables. A value that is not what the table says is refused
 *     on the spot with its key path ("freeswitch_instances[1].port") and, for
 *     the file, its line;
 *   - the environment: each variable names a table entry, so it is parsed and
 *     range-checked exactly as the key is in the file;
 *   - fsa_config_validate(): re-checks every field's range on the final
 *     struct (flags are applied after the file and env), then the rules that
 *     span fields (names unique, backoff_initial <= backoff_max, TLS files
 *     only with TLS, client cert and key together).
 *
 * Scalars. libyaml hands every scalar over as a string. Integers are plain
 * decimal, the whole string, range-checked (no 0x, 1_000, +5, 1e3, 8021.0);
 * booleans are exactly true or false; words (enums) are matched without case.
 * A plain empty, ~ or null value is YAML's null: it empties a string, leaves a
 * mapping untouched, and is refused for numbers and booleans. Quoted numbers
 * are accepted: JSON sends "8021" as often as 8021.
 *
 * Refusals, not repairs: unknown keys, duplicate keys (YAML says a mapping's
 * keys are unique; libyaml does not check), strings that do not fit their
 * field (never cut), control characters in any string (a newline in the ESL
 * password would end the auth line), aliases (a cycle or a billion laughs
 * costs nothing to refuse), more than one document.
 *
 * Instances. freeswitch_instances is required and non-empty; there is no
 * default FreeSWITCH to watch. Each entry takes host 127.0.0.1, port 8021 and
 * password ClueCon unless given. name is optional: if absent it is
 * "host:port" ("[v6]:port"), stable when the list is reordered, and two
 * entries for the same server collide and are refused. A name given must be
 * 1..63 of [A-Za-z0-9._:@/+%[]-], because it becomes a log field, a label and
 * a JSON key elsewhere.
 *
 * Endpoint. opentelemetry.endpoint is stored as host:port. A scheme is
 * stripped and decides TLS: http:// means insecure (h2c), https:// means TLS;
 * a missing port is 80 or 443 with a scheme, 4317 without. In the file, an
 * insecure key that contradicts the scheme is refused. In the environment the
 * OTel rule holds: OTEL_EXPORTER_OTLP_INSECURE only counts when the endpoint
 * in force has no scheme. A path is refused: gRPC's path is fixed.
 *
 * Environment. Applied after the file; an empty value counts as unset (as
 * the OTel spec says). Each setting takes the first set variable of its list:
 * FSAGENT_OTEL_ENDPOINT, then OTEL_EXPORTER_OTLP_METRICS_X, then
 * OTEL_EXPORTER_OTLP_X. OTEL_EXPORTER_OTLP_HEADERS entries are merged into the
 * file's headers by (lower-cased) name. FSAGENT_FREESWITCH_INSTANCES replaces
 * the list; it is parsed by libyaml, which reads JSON as YAML flow syntax.
 * Other FSAGENT_* variables are ignored. Error keys are the variable names.
 *
 * Secrets. A reason never quotes a value: only key names, bounds and the
 * allowed words. An unknown key is echoed only when it looks like a key (a
 * short word with a value): "{name: fs1, hunter2}" has a key "hunter2".
 * Freed instance lists are wiped.
 *
 * Bounds. A document is at most FSA_CONFIG_MAX_BYTES; the walk never goes
 * deeper than the schema, so libyaml never gets far into a deep nest before
 * it is refused; at most FSA_MAX_INSTANCES instances and FSA_MAX_OTLP_HEADERS
 * headers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "ring/fsa_str.h"

_Static_assert(sizeof(enum fsa_storage_type) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fsa_log_level) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fsa_log_format) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fsa_temporality) == sizeof(int), "enums are stored as int");
_Static_assert(FSA_MAX_OTLP_HEADERS <= 32, "header slots are tracked in a 32-bit mask");

#define ROOT_YAML "yaml"
#define ENV_INSTANCES "FSAGENT_FREESWITCH_INSTANCES"

/* ---- ASCII helpers (no locale) ---------------------------------------- */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool eq_nocase(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_name_char(char c)
{
    return is_alnum(c) || (c && strchr("._:@/+%[]-", c));
}

/* RFC 9110 tchar: what an HTTP field name is made of. */
static bool is_tchar(char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* ---- field tables ------------------------------------------------------- */

enum kind { K_STR, K_BOOL, K_U16, K_UINT, K_INT, K_SIZE, K_ENUM, K_MAP, K_CUSTOM };

#define S_NONEMPTY 1u /* empty is refused */
#define S_HOST 2u     /* printable ASCII, no spaces: goes to getaddrinfo() */
#define S_NAME 4u     /* instance-name characters */
#define S_SECRET 8u   /* documents intent; no reason quotes any value anyway */
#define N_POW2 16u    /* number must be a power of two */

struct yp;
struct table;
typedef int (*custom_fn)(struct yp *y, void *base);

struct field {
    const char *key;
    enum kind kind;
    size_t off;
    size_t size; /* K_STR: capacity; K_ENUM: sizeof the stored int or bool */
    uint64_t min, max;
    unsigned flags;
    const char *const *words; /* K_ENUM: index = stored value; NULL-terminated */
    const struct table *sub;  /* K_MAP */
    custom_fn custom;         /* K_CUSTOM */
};

struct table {
    const struct field *fields;
    size_t n;
    /* Runs after the mapping is read; seen has bit i set for fields[i]. */
    int (*post)(struct yp *y, void *base, uint64_t seen);
};

/* One initializer per line reads as a schema. */
/* clang-format off */
#define MEMBER_SIZE(T, m) sizeof(((T *)0)->m)
#define F_STR(k, T, m, fl) {.key = k, .kind = K_STR, .off = offsetof(T, m), .size = MEMBER_SIZE(T, m), .flags = fl}
#define F_BOOL(k, T, m) {.key = k, .kind = K_BOOL, .off = offsetof(T, m), .size = sizeof(bool)}
#define F_NUM(kd, k, T, m, lo, hi, fl)                                                                                 \
    {.key = k, .kind = kd, .off = offsetof(T, m), .size = MEMBER_SIZE(T, m), .min = lo, .max = hi, .flags = fl}
#define F_ENUM(k, T, m, w) {.key = k, .kind = K_ENUM, .off = offsetof(T, m), .size = MEMBER_SIZE(T, m), .words = w}
#define F_MAP(k, o, t) {.key = k, .kind = K_MAP, .off = o, .sub = t}
#define F_CUSTOM(k, fn) {.key = k, .kind = K_CUSTOM, .custom = fn}
#define TABLE(f, p) {f, sizeof(f) / sizeof(f[0]), p}
/* clang-format on */

static const char *const storage_words[] = {"memory", "redis", NULL};
static const char *const level_words[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_words[] = {"json", "text", NULL};
static const char *const temporality_words[] = {"cumulative", "delta", NULL};
static const char *const compression_words[] = {"none", "gzip", NULL}; /* stored in bool gzip */

static int custom_instances(struct yp *y, void *base);
static int custom_endpoint(struct yp *y, void *base);
static int custom_insecure(struct yp *y, void *base);
static int custom_headers(struct yp *y, void *base);
static int custom_sentinel_addresses(struct yp *y, void *base);

#define TS struct fsa_sentinel_config
static const struct field sentinel_fields[] = {
    F_STR("master_name", TS, master_name, S_NAME),
    F_CUSTOM("addresses", custom_sentinel_addresses),
    F_STR("password", TS, password, S_SECRET),
};
#undef TS
static const struct table sentinel_table = TABLE(sentinel_fields, NULL);

#define TT struct fsa_redis_tls_config
static const struct field redis_tls_fields[] = {
    F_BOOL("enabled", TT, enabled),
    F_STR("ca_file", TT, ca_file, 0),
    F_STR("cert_file", TT, cert_file, 0),
    F_STR("key_file", TT, key_file, 0),
    F_STR("server_name", TT, server_name, 0),
};
#undef TT
static const struct table redis_tls_table = TABLE(redis_tls_fields, NULL);
static int post_instance(struct yp *y, void *base, uint64_t seen);
static int post_otel(struct yp *y, void *base, uint64_t seen);

#define TI struct fsa_instance_config
static const struct field instance_fields[] = {
    F_STR("name", TI, name, S_NONEMPTY | S_NAME),
    F_STR("host", TI, host, S_NONEMPTY | S_HOST),
    F_NUM(K_U16, "port", TI, port, 1, 65535, 0),
    F_STR("password", TI, password, S_NONEMPTY | S_SECRET),
};
#undef TI
static const struct table instance_table = TABLE(instance_fields, post_instance);

#define TR struct fsa_redis_config
static const struct field redis_fields[] = {
    F_STR("host", TR, host, S_NONEMPTY | S_HOST),
    F_NUM(K_U16, "port", TR, port, 1, 65535, 0),
    F_STR("username", TR, username, 0),        /* Redis 6 ACL user; empty: AUTH <password> (the default user) */
    F_STR("password", TR, password, S_SECRET), /* empty: no AUTH */
    F_NUM(K_INT, "db", TR, db, 0, INT_MAX, 0),
    F_NUM(K_UINT, "ttl_s", TR, ttl_s, 1, 31536000, 0),
    F_NUM(K_UINT, "timeout_ms", TR, timeout_ms, 1, 60000, 0),
    F_NUM(K_UINT, "flush_interval_ms", TR, flush_interval_ms, 10, 60000, 0),
    F_NUM(K_UINT, "checkpoint_interval_s", TR, checkpoint_interval_s, 1, 86400, 0),
    F_MAP("sentinel", offsetof(TR, sentinel), &sentinel_table),
    F_MAP("tls", offsetof(TR, tls), &redis_tls_table),
};
#undef TR
static const struct table redis_table = TABLE(redis_fields, NULL);

#define TC struct fsa_config
static const struct field storage_fields[] = {
    F_ENUM("type", TC, storage, storage_words),
    F_MAP("redis", offsetof(TC, redis), &redis_table),
};
static const struct table storage_table = TABLE(storage_fields, NULL);

static const struct field http_fields[] = {
    F_NUM(K_U16, "port", TC, http_port, 0, 65535, 0), /* 0: admin server off */
    F_STR("bind", TC, http_bind, S_NONEMPTY | S_HOST),
};
static const struct table http_table = TABLE(http_fields, NULL);

static const struct field logging_fields[] = {
    F_ENUM("level", TC, log_level, level_words),
    F_ENUM("format", TC, log_format, format_words),
};
static const struct table logging_table = TABLE(logging_fields, NULL);

static const struct field events_fields[] = {
    F_BOOL("rtcp", TC, events_rtcp),
    F_BOOL("qos", TC, events_qos),
};
static const struct table events_table = TABLE(events_fields, NULL);

static const struct field metrics_fields[] = {
    F_BOOL("per_leg", TC, metrics_per_leg),
};
static const struct table metrics_table = TABLE(metrics_fields, NULL);

static const struct field emodel_fields[] = {
    F_BOOL("plc", TC, emodel_plc),
};
static const struct table emodel_table = TABLE(emodel_fields, NULL);
#undef TC

#define TO struct fsa_otel_config
static const struct field otel_fields[] = {
    F_CUSTOM("endpoint", custom_endpoint),
    F_CUSTOM("insecure", custom_insecure),
    F_CUSTOM("headers", custom_headers),
    F_NUM(K_UINT, "timeout_ms", TO, timeout_ms, 1, 600000, 0),
    F_ENUM("compression", TO, gzip, compression_words),
    F_ENUM("temporality", TO, temporality, temporality_words),
    F_STR("ca_file", TO, ca_file, 0),
    F_STR("client_cert", TO, client_cert, 0),
    F_STR("client_key", TO, client_key, 0),
    F_NUM(K_UINT, "batch_max_points", TO, batch_max_points, 1, 1048576, 0),
    F_NUM(K_UINT, "batch_interval_ms", TO, batch_interval_ms, 10, 600000, 0),
    F_NUM(K_SIZE, "queue_max_bytes", TO, queue_max_bytes, 1ull << 20, 64ull << 30, 0),
    F_STR("agent_id", TO, agent_id, S_NONEMPTY),
};
#undef TO
static const struct table otel_table = TABLE(otel_fields, post_otel);

#define TE struct fsa_engine_config
static const struct field engine_fields[] = {
    F_NUM(K_UINT, "reactor_threads", TE, reactor_threads, 1, 256, 0),
    F_NUM(K_UINT, "worker_threads", TE, worker_threads, 1, 256, 0),
    F_BOOL("pin_threads", TE, pin_threads),
    F_NUM(K_UINT, "ring_slots", TE, ring_slots, 64, 1u << 20, N_POW2),
    F_NUM(K_SIZE, "max_frame_bytes", TE, max_frame_bytes, 64u << 10, 64u << 20, 0),
    F_NUM(K_UINT, "heartbeat_s", TE, heartbeat_s, 1, 3600, 0),
    F_NUM(K_UINT, "connect_timeout_ms", TE, connect_timeout_ms, 100, 600000, 0),
    F_NUM(K_UINT, "backoff_initial_ms", TE, backoff_initial_ms, 10, 3600000, 0),
    F_NUM(K_UINT, "backoff_max_ms", TE, backoff_max_ms, 10, 3600000, 0),
    F_NUM(K_UINT, "max_legs_per_worker", TE, max_legs_per_worker, 16, 1u << 24, 0),
    F_NUM(K_UINT, "leg_ttl_s", TE, leg_ttl_s, 60, 2592000, 0),
    F_NUM(K_UINT, "stats_log_interval_s", TE, stats_log_interval_s, 0, 86400, 0), /* 0: off */
    F_NUM(K_UINT, "resync_rate", TE, resync_rate, 0, 100000, 0), /* 0: no resync */
    F_NUM(K_SIZE, "resync_max_bytes", TE, resync_max_bytes, 1u << 20, 1u << 30, 0),
    F_NUM(K_UINT, "resync_label_wait_ms", TE, resync_label_wait_ms, 0, 600000, 0),
};
#undef TE
static const struct table engine_table = TABLE(engine_fields, NULL);

static const struct field root_fields[] = {
    F_CUSTOM("freeswitch_instances", custom_instances),
    F_MAP("storage", 0, &storage_table),
    F_MAP("opentelemetry", offsetof(struct fsa_config, otel), &otel_table),
    F_MAP("http", 0, &http_table),
    F_MAP("logging", 0, &logging_table),
    F_MAP("events", 0, &events_table),
    F_MAP("metrics", 0, &metrics_table),
    F_MAP("emodel", 0, &emodel_table),
    F_MAP("engine", offsetof(struct fsa_config, engine), &engine_table),
};
static const struct table root_table = TABLE(root_fields, NULL);

static const struct field *find_field(const struct table *t, const char *k, size_t kn)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->fields[i].key) == kn && memcmp(t->fields[i].key, k, kn) == 0)
            return &t->fields[i];
    return NULL;
}

/* ---- setting and checking one field ------------------------------------- */

static void num_store(const struct field *f, void *base, uint64_t v)
{
    char *p = (char *)base + f->off;
    switch (f->kind) {
    case K_U16: {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, sizeof(x));
        break;
    }
    case K_UINT: {
        unsigned x = (unsigned)v;
        memcpy(p, &x, sizeof(x));
        break;
    }
    case K_INT: {
        int x = (int)v;
        memcpy(p, &x, sizeof(x));
        break;
    }
    case K_SIZE: {
        size_t x = (size_t)v;
        memcpy(p, &x, sizeof(x));
        break;
    }
    default: break;
    }
}

/* false if the stored value cannot be in range at all (a negative int). */
static bool num_load(const struct field *f, const void *base, uint64_t *v)
{
    const char *p = (const char *)base + f->off;
    switch (f->kind) {
    case K_U16: {
        uint16_t x;
        memcpy(&x, p, sizeof(x));
        *v = x;
        return true;
    }
    case K_UINT: {
        unsigned x;
        memcpy(&x, p, sizeof(x));
        *v = x;
        return true;
    }
    case K_INT: {
        int x;
        memcpy(&x, p, sizeof(x));
        *v = x < 0 ? 0 : (uint64_t)x;
        return x >= 0;
    }
    case K_SIZE: {
        size_t x;
        memcpy(&x, p, sizeof(x));
        *v = x;
        return true;
    }
    default: return false;
    }
}

static bool num_ok(const struct field *f, uint64_t v)
{
    if (v < f->min || v > f->max)
        return false;
    return !(f->flags & N_POW2) || (v & (v - 1)) == 0;
}

static void num_reason(const struct field *f, char *reason, size_t cap)
{
    snprintf(reason, cap, "must be %s from %llu to %llu", (f->flags & N_POW2) ? "a power of two" : "an integer",
             (unsigned long long)f->min, (unsigned long long)f->max);
}

static void enum_reason(const struct field *f, char *reason, size_t cap)
{
    size_t used = (size_t)snprintf(reason, cap, "must be one of");
    for (size_t i = 0; f->words[i] && used < cap; i++)
        used += (size_t)snprintf(reason + used, cap - used, "%s%s", i ? ", " : " ", f->words[i]);
}

static void enum_store(const struct field *f, void *base, int v)
{
    char *p = (char *)base + f->off;
    if (f->size == sizeof(bool)) {
        bool b = v != 0;
        memcpy(p, &b, sizeof(b));
    } else {
        memcpy(p, &v, sizeof(v));
    }
}

static int enum_load(const struct field *f, const void *base)
{
    const char *p = (const char *)base + f->off;
    if (f->size == sizeof(bool)) {
        bool b;
        memcpy(&b, p, sizeof(b));
        return b ? 1 : 0;
    }
    int v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Why s[0..n) cannot be this string field, or NULL. Never quotes s. */
static const char *str_problem(unsigned flags, size_t cap, const char *s, size_t n, char *buf, size_t bufcap)
{
    if (n == 0)
        return (flags & S_NONEMPTY) ? "must not be empty" : NULL;
    if (n >= cap) {
        snprintf(buf, bufcap, "must be at most %zu bytes", cap - 1);
        return buf;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_ctl(c))
            return "must not contain control characters or line breaks";
        if ((flags & S_HOST) && (c == ' ' || c > 0x7e))
            return "must be a host name or address (ASCII, no spaces)";
        if ((flags & S_NAME) && !is_name_char((char)c))
            return "may only contain letters, digits and ._:@/+%[]-";
    }
    return NULL;
}

/* Sets f in base from text; false with reason if refused. */
static bool field_set(const struct field *f, void *base, const char *s, size_t n, bool null, char *reason, size_t cap)
{
    char *p = (char *)base + f->off;
    switch (f->kind) {
    case K_STR: {
        if (null)
            n = 0;
        const char *why = str_problem(f->flags, f->size, s, n, reason, cap);
        if (why) {
            if (why != reason)
                snprintf(reason, cap, "%s", why);
            return false;
        }
        memset(p, 0, f->size); /* no tail of an older, longer value (a password) survives */
        if (n)
            memcpy(p, s, n);
        return true;
    }
    case K_BOOL: {
        bool b;
        if (!null && n == 4 && memcmp(s, "true", 4) == 0)
            b = true;
        else if (!null && n == 5 && memcmp(s, "false", 5) == 0)
            b = false;
        else {
            snprintf(reason, cap, "must be true or false");
            return false;
        }
        memcpy(p, &b, sizeof(b));
        return true;
    }
    case K_U16:
    case K_UINT:
    case K_INT:
    case K_SIZE: {
        uint64_t v;
        if (null || !fsa_str_to_u64(fsa_str_make(s, n), &v) || !num_ok(f, v)) {
            num_reason(f, reason, cap);
            return false;
        }
        num_store(f, base, v);
        return true;
    }
    case K_ENUM:
        for (int i = 0; !null && f->words[i]; i++) {
            if (eq_nocase(s, n, f->words[i])) {
                enum_store(f, base, i);
                return true;
            }
        }
        enum_reason(f, reason, cap);
        return false;
    default: snprintf(reason, cap, "cannot be set this way"); return false;
    }
}

/* Re-checks a stored field (for fsa_config_validate). */
static bool field_check(const struct field *f, const void *base, char *reason, size_t cap)
{
    const char *p = (const char *)base + f->off;
    switch (f->kind) {
    case K_STR: {
        size_t n = strnlen(p, f->size);
        if (n == f->size) {
            snprintf(reason, cap, "is not terminated");
            return false;
        }
        const char *why = str_problem(f->flags, f->size, p, n, reason, cap);
        if (why && why != reason)
            snprintf(reason, cap, "%s", why);
        return why == NULL;
    }
    case K_U16:
    case K_UINT:
    case K_INT:
    case K_SIZE: {
        uint64_t v;
        if (!num_load(f, base, &v) || !num_ok(f, v)) {
            num_reason(f, reason, cap);
            return false;
        }
        return true;
    }
    case K_ENUM: {
        int v = enum_load(f, base), count = 0;
        while (f->words[count])
            count++;
        if (v < 0 || v >= count) {
            enum_reason(f, reason, cap);
            return false;
        }
        return true;
    }
    default: return true;
    }
}

/* ---- errors -------------------------------------------------------------- */

static void set_err(struct fsa_config_error *err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(struct fsa_config_error *err, const char *key, const char *fmt, ...)
{
    if (!err)
        return;
    snprintf(err->key, sizeof(err->key), "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
}

/* ---- OTLP endpoint and headers -------------------------------------------- */

enum scheme { SCHEME_NONE = 0, SCHEME_HTTP, SCHEME_HTTPS };

/*
 * Normalises "[scheme://]host[:port][/]" into out as host:port.
 * Returns a reason or NULL; *scheme says which scheme was given.
 */
static const char *endpoint_parse(const char *s, size_t n, char *out, size_t cap, enum scheme *scheme)
{
    *scheme = SCHEME_NONE;
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    }
    if (sep) {
        size_t sn = (size_t)(sep - s);
        if (eq_nocase(s, sn, "http"))
            *scheme = SCHEME_HTTP;
        else if (eq_nocase(s, sn, "https"))
            *scheme = SCHEME_HTTPS;
        else
            return "scheme must be http:// or https://";
        n -= sn + 3;
        s = sep + 3;
    }
    size_t an = 0;
    while (an < n && s[an] != '/' && s[an] != '?' && s[an] != '#')
        an++;
    if (an < n && !(an + 1 == n && s[an] == '/'))
        return "must be host:port without a path (gRPC's path is fixed)";
    if (an == 0)
        return "must be host:port";
    if (memchr(s, '@', an))
        return "must not carry user info";
    const char *host = s, *port = NULL;
    size_t hn, pn = 0;
    bool v6 = false;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', an);
        if (!close || close == s + 1)
            return "has an unclosed or empty [IPv6] address";
        host = s + 1;
        hn = (size_t)(close - host);
        size_t rest = an - (size_t)(close + 1 - s);
        if (rest) {
            if (close[1] != ':')
                return "must be [IPv6]:port";
            port = close + 2;
            pn = rest - 1;
        }
        v6 = true;
        for (size_t i = 0; i < hn; i++)
            if (!(is_alnum(host[i]) || host[i] == ':' || host[i] == '.' || host[i] == '%'))
                return "has a bad character in the [IPv6] address";
    } else {
        const char *colon = memchr(s, ':', an);
        hn = colon ? (size_t)(colon - s) : an;
        if (colon) {
            port = colon + 1;
            pn = an - hn - 1;
            if (memchr(port, ':', pn))
                return "needs [brackets] around an IPv6 address";
        }
        if (hn == 0)
            return "has no host";
        for (size_t i = 0; i < hn; i++)
            if (!(is_alnum(host[i]) || host[i] == '.' || host[i] == '-' || host[i] == '_'))
                return "has a bad character in the host name";
    }
    uint64_t pv = *scheme == SCHEME_HTTPS ? 443 : *scheme == SCHEME_HTTP ? 80 : 4317;
    if (port && (!fsa_str_to_u64(fsa_str_make(port, pn), &pv) || pv < 1 || pv > 65535))
        return "port must be an integer from 1 to 65535";
    int w = snprintf(out, cap, v6 ? "[%.*s]:%u" : "%.*s:%u", (int)hn, host, (unsigned)pv);
    if (w < 0 || (size_t)w >= cap)
        return "is too long";
    return NULL;
}

/* Stores a normalised endpoint; the caller decides what the scheme does to insecure. */
static const char *endpoint_set(struct fsa_otel_config *o, const char *s, size_t n, enum scheme *scheme)
{
    char buf[FSA_HOST_MAX];
    const char *why = endpoint_parse(s, n, buf, sizeof(buf), scheme);
    if (why)
        return why;
    memset(o->endpoint, 0, sizeof(o->endpoint));
    memcpy(o->endpoint, buf, strlen(buf) + 1);
    o->scheme_set = *scheme != SCHEME_NONE;
    return NULL;
}

/* Header names the exporter writes itself, or HTTP/2 forbids. */
static bool header_reserved(const char *name)
{
    static const char *const reserved[] = {
        "content-type",      "te",      "host",       "connection", "keep-alive", "proxy-connection",
        "transfer-encoding", "upgrade", "user-agent", NULL};
    for (size_t i = 0; reserved[i]; i++)
        if (strcmp(name, reserved[i]) == 0)
            return true;
    return strncmp(name, "grpc-", 5) == 0;
}

/* Lower-cases a header name into out[FSA_NAME_MAX]; reason or NULL. */
static const char *header_name(const char *s, size_t n, char *out)
{
    if (n == 0)
        return "a header name is empty";
    if (n >= FSA_NAME_MAX)
        return "a header name is longer than 63 bytes";
    for (size_t i = 0; i < n; i++) {
        if (!is_tchar(s[i]))
            return "a header name is not an HTTP token (letters, digits, -_. ...)";
        out[i] = lower(s[i]);
    }
    out[n] = '\0';
    if (header_reserved(out))
        return "a header name is reserved (set by the exporter or by HTTP/2)";
    return NULL;
}

static const char *header_value_problem(const char *v, size_t n)
{
    if (n == 0)
        return "header value must not be empty";
    if (n >= FSA_SECRET_MAX)
        return "header value must be at most 255 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (is_ctl(c) && c != '\t')
            return "header value must not contain control characters or line breaks";
    }
    return NULL;
}

/*
 * Sets header name (already checked and lower-cased) to v, replacing a
 * header of that name. *touched marks slots set by this source, so a name
 * given twice in one place is refused rather than silently overwritten.
 */
static const char *header_put(struct fsa_otel_config *o, const char *name, const char *v, size_t n, uint32_t *touched)
{
    const char *why = header_value_problem(v, n);
    if (why)
        return why;
    unsigned i = 0;
    while (i < o->nheaders && strcmp(o->headers[i].name, name) != 0)
        i++;
    if (i < o->nheaders && (*touched & (1u << i)))
        return "the same header is given twice";
    if (i == o->nheaders) {
        if (o->nheaders >= FSA_MAX_OTLP_HEADERS)
            return "at most 32 headers";
        o->nheaders++;
        memcpy(o->headers[i].name, name, strlen(name) + 1);
    }
    memset(o->headers[i].value, 0, sizeof(o->headers[i].value));
    memcpy(o->headers[i].value, v, n);
    *touched |= 1u << i;
    return NULL;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* OTEL_EXPORTER_OTLP_HEADERS: "k=v,k2=v2", OWS trimmed, values percent-decoded. */
static int headers_from_env(struct fsa_otel_config *o, const char *var, const char *s, struct fsa_config_error *err)
{
    uint32_t touched = 0;
    unsigned entry = 0;
    while (*s) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        entry++;
        const char *a = s, *b = end;
        s = *end ? end + 1 : end;
        while (a < b && is_ows(*a))
            a++;
        while (b > a && is_ows(b[-1]))
            b--;
        if (a == b)
            continue; /* "a=1,,b=2" or a trailing comma */
        const char *eq = memchr(a, '=', (size_t)(b - a));
        if (!eq) {
            set_err(err, var, "entry %u is not key=value", entry);
            return -1;
        }
        const char *ke = eq;
        while (ke > a && is_ows(ke[-1]))
            ke--;
        char name[FSA_NAME_MAX];
        const char *why = header_name(a, (size_t)(ke - a), name);
        if (why) {
            set_err(err, var, "entry %u: %s", entry, why);
            return -1;
        }
        const char *v = eq + 1;
        while (v < b && is_ows(*v))
            v++;
        char val[FSA_SECRET_MAX];
        size_t vn = 0;
        for (const char *p = v; p < b; p++) {
            char c = *p;
            if (c == '%') {
                if (b - p < 3 || fsa_hex_digit((unsigned char)p[1]) < 0 || fsa_hex_digit((unsigned char)p[2]) < 0) {
                    set_err(err, var, "entry %u (%s): bad percent-encoding in the value", entry, name);
                    return -1;
                }
                c = (char)(fsa_hex_digit((unsigned char)p[1]) * 16 + fsa_hex_digit((unsigned char)p[2]));
                p += 2;
            }
            if (vn + 1 >= sizeof(val)) {
                set_err(err, var, "entry %u (%s): header value must be at most 255 bytes", entry, name);
                explicit_bzero(val, sizeof(val));
                return -1;
            }
            val[vn++] = c;
        }
        why = header_put(o, name, val, vn, &touched);
        explicit_bzero(val, sizeof(val));
        if (why) {
            set_err(err, var, "entry %u (%s): %s", entry, name, why);
            return -1;
        }
    }
    return 0;
}

/* ---- the YAML walk --------------------------------------------------------- */

struct yp {
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev;
    bool lines;       /* reasons carry the line number (files, not env) */
    const char *root; /* key for errors about the document as a whole */
    struct fsa_config *cfg;
    struct fsa_config_error *err;
    /* opentelemetry mapping: what insecure and the endpoint's scheme said */
    bool insecure_given;
    bool insecure_value;
    enum scheme scheme;
    char path[128];
    size_t plen;
};

static const char *yp_key(const struct yp *y)
{
    return y->plen ? y->path : y->root;
}

static int yp_fail(struct yp *y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int yp_fail(struct yp *y, const char *fmt, ...)
{
    if (!y->err)
        return -1;
    snprintf(y->err->key, sizeof(y->err->key), "%s", yp_key(y));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(y->err->reason, sizeof(y->err->reason), fmt, ap);
    va_end(ap);
    if (y->lines && y->have_ev && n >= 0 && (size_t)n < sizeof(y->err->reason))
        snprintf(y->err->reason + n, sizeof(y->err->reason) - (size_t)n, " (line %zu)",
                 (size_t)y->ev.start_mark.line + 1);
    return -1;
}

/* Fetches the next event; syntax errors and aliases end the walk here. */
static int yp_next(struct yp *y)
{
    if (y->have_ev) {
        yaml_event_delete(&y->ev);
        y->have_ev = false;
    }
    if (!yaml_parser_parse(&y->parser, &y->ev)) {
        /* libyaml's problem and context are fixed strings: they quote nothing. */
        const yaml_parser_t *p = &y->parser;
        const char *what = y->lines ? "" : "not valid JSON/YAML: ";
        const char *problem = p->problem ? p->problem : "cannot parse";
        if (p->error == YAML_READER_ERROR)
            set_err(y->err, y->root, "%s%s at byte %zu", what, problem, p->problem_offset);
        else if (p->context)
            set_err(y->err, y->root, "%sline %zu column %zu: %s %s that starts on line %zu", what,
                    p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                    p->context_mark.line + 1);
        else
            set_err(y->err, y->root, "%sline %zu column %zu: %s", what, p->problem_mark.line + 1,
                    p->problem_mark.column + 1, problem);
        return -1;
    }
    y->have_ev = true;
    if (y->ev.type == YAML_ALIAS_EVENT)
        return yp_fail(y, "aliases (*name) are not supported");
    return 0;
}

static size_t path_push(struct yp *y, const char *k, size_t kn)
{
    size_t mark = y->plen;
    int w = snprintf(y->path + y->plen, sizeof(y->path) - y->plen, "%s%.*s", y->plen ? "." : "", (int)kn, k);
    y->plen += w < 0 ? 0 : (size_t)w;
    if (y->plen >= sizeof(y->path))
        y->plen = sizeof(y->path) - 1;
    return mark;
}

static size_t path_push_index(struct yp *y, unsigned i)
{
    size_t mark = y->plen;
    int w = snprintf(y->path + y->plen, sizeof(y->path) - y->plen, "[%u]", i);
    y->plen += w < 0 ? 0 : (size_t)w;
    if (y->plen >= sizeof(y->path))
        y->plen = sizeof(y->path) - 1;
    return mark;
}

static void path_pop(struct yp *y, size_t mark)
{
    y->plen = mark;
    y->path[mark] = '\0';
}

static bool ev_is_null(const yaml_event_t *e)
{
    if (e->type != YAML_SCALAR_EVENT || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static const char *ev_shape(const yaml_event_t *e)
{
    switch (e->type) {
    case YAML_MAPPING_START_EVENT: return "a mapping";
    case YAML_SEQUENCE_START_EVENT: return "a list";
    default: return "a single value";
    }
}

/* A key we do not know. Echoed only if it looks like a key, never like a value. */
static int unknown_key(struct yp *y, const char *k, size_t kn)
{
    char shown[41];
    bool plain = kn > 0 && kn < sizeof(shown);
    for (size_t i = 0; plain && i < kn; i++)
        plain = is_alnum(k[i]) || k[i] == '_' || k[i] == '-';
    if (plain)
        memcpy(shown, k, kn);
    shown[plain ? kn : 0] = '\0';
    if (yp_next(y))
        return -1;
    if (plain && !ev_is_null(&y->ev)) {
        path_push(y, shown, kn);
        return yp_fail(y, "unknown key");
    }
    return yp_fail(y, "has an unknown key (not shown: it has no value or is not a plain word)");
}

static int parse_field(struct yp *y, const struct field *f, void *base);

/* Reads a mapping per table t into base; the current event is the value. */
static int parse_map(struct yp *y, const struct table *t, void *base)
{
    uint64_t seen = 0;
    if (ev_is_null(&y->ev))
        return t->post ? t->post(y, base, seen) : 0; /* "engine:" with nothing under it */
    if (y->ev.type != YAML_MAPPING_START_EVENT)
        return yp_fail(y, "must be a mapping, not %s", ev_shape(&y->ev));
    for (;;) {
        if (yp_next(y))
            return -1;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (y->ev.type != YAML_SCALAR_EVENT)
            return yp_fail(y, "has a key that is %s, not a word", ev_shape(&y->ev));
        const char *k = (const char *)y->ev.data.scalar.value;
        size_t kn = y->ev.data.scalar.length;
        const struct field *f = find_field(t, k, kn);
        if (!f)
            return unknown_key(y, k, kn);
        size_t bit = (size_t)(f - t->fields);
        size_t mark = path_push(y, f->key, strlen(f->key));
        if (seen & (1ull << bit))
            return yp_fail(y, "duplicate key");
        seen |= 1ull << bit;
        if (yp_next(y) || parse_field(y, f, base))
            return -1;
        path_pop(y, mark);
    }
    return t->post ? t->post(y, base, seen) : 0;
}

static int parse_field(struct yp *y, const struct field *f, void *base)
{
    if (f->kind == K_MAP)
        return parse_map(y, f->sub, (char *)base + f->off);
    if (f->kind == K_CUSTOM)
        return f->custom(y, base);
    if (y->ev.type != YAML_SCALAR_EVENT)
        return yp_fail(y, "must be a single value, not %s", ev_shape(&y->ev));
    char reason[200];
    if (!field_set(f, base, (const char *)y->ev.data.scalar.value, y->ev.data.scalar.length, ev_is_null(&y->ev), reason,
                   sizeof(reason)))
        return yp_fail(y, "%s", reason);
    return 0;
}

static int custom_endpoint(struct yp *y, void *base)
{
    struct fsa_otel_config *o = base;
    if (y->ev.type != YAML_SCALAR_EVENT)
        return yp_fail(y, "must be a single value, not %s", ev_shape(&y->ev));
    const char *why = endpoint_set(o, (const char *)y->ev.data.scalar.value, y->ev.data.scalar.length, &y->scheme);
    return why ? yp_fail(y, "%s", why) : 0;
}

static int custom_insecure(struct yp *y, void *base)
{
    static const struct field f = F_BOOL("insecure", struct fsa_otel_config, insecure);
    if (parse_field(y, &f, base))
        return -1;
    y->insecure_given = true;
    y->insecure_value = ((struct fsa_otel_config *)base)->insecure;
    return 0;
}

static int post_otel(struct yp *y, void *base, uint64_t seen)
{
    (void)seen;
    struct fsa_otel_config *o = base;
    if (y->scheme != SCHEME_NONE) {
        bool want = y->scheme == SCHEME_HTTP;
        if (y->insecure_given && y->insecure_value != want) {
            size_t mark = path_push(y, "insecure", 8);
            int rc = yp_fail(y, "contradicts the endpoint's %s:// scheme (drop one of them)", want ? "http" : "https");
            path_pop(y, mark);
            return rc;
        }
        o->insecure = want;
    }
    return 0;
}

static int custom_headers(struct yp *y, void *base)
{
    struct fsa_otel_config *o = base;
    if (ev_is_null(&y->ev))
        return 0;
    if (y->ev.type != YAML_MAPPING_START_EVENT)
        return yp_fail(y, "must be a mapping of header names to values, not %s", ev_shape(&y->ev));
    uint32_t touched = 0;
    for (;;) {
        if (yp_next(y))
            return -1;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (y->ev.type != YAML_SCALAR_EVENT)
            return yp_fail(y, "has a key that is %s, not a header name", ev_shape(&y->ev));
        char name[FSA_NAME_MAX];
        const char *why = header_name((const char *)y->ev.data.scalar.value, y->ev.data.scalar.length, name);
        if (why)
            return yp_fail(y, "%s", why); /* the name is not shown: it may be a misplaced value */
        size_t mark = path_push(y, name, strlen(name));
        if (yp_next(y))
            return -1;
        if (y->ev.type != YAML_SCALAR_EVENT)
            return yp_fail(y, "must be a single value, not %s", ev_shape(&y->ev));
        if (ev_is_null(&y->ev))
            return yp_fail(y, "header value must not be empty");
        why = header_put(o, name, (const char *)y->ev.data.scalar.value, y->ev.data.scalar.length, &touched);
        if (why)
            return yp_fail(y, "%s", why);
        path_pop(y, mark);
    }
}

/* "host:port" or "[v6]:port" with a port 1-65535: NULL, or why not. */
static const char *host_port_problem(const char *s, size_t n)
{
    const char *colon = memrchr(s, ':', n);
    if (!colon || colon == s || (size_t)(colon - s) + 1 >= n)
        return "must be host:port";
    unsigned long port = 0;
    for (const char *p = colon + 1; p < s + n; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            return "must be host:port with a numeric port";
        port = port * 10 + (unsigned)(*p - '0');
    }
    if (port == 0 || port > 65535)
        return "port must be 1-65535";
    for (const char *p = s; p < colon; p++)
        if (*p == ' ' || (unsigned char)*p > 0x7e || (unsigned char)*p < 0x21)
            return "host has a character a host name cannot have";
    return NULL;
}

/* storage.redis.sentinel.addresses: a list of "host:port", at most FSA_MAX_SENTINELS. */
static int custom_sentinel_addresses(struct yp *y, void *base)
{
    struct fsa_sentinel_config *sc = base;
    if (ev_is_null(&y->ev)) {
        sc->naddresses = 0;
        return 0;
    }
    if (y->ev.type != YAML_SEQUENCE_START_EVENT)
        return yp_fail(y, "must be a list of host:port, not %s", ev_shape(&y->ev));
    sc->naddresses = 0;
    for (;;) {
        if (yp_next(y))
            return -1;
        if (y->ev.type == YAML_SEQUENCE_END_EVENT)
            return 0;
        if (y->ev.type != YAML_SCALAR_EVENT)
            return yp_fail(y, "must be a list of host:port, not a list of %s", ev_shape(&y->ev));
        const char *v = (const char *)y->ev.data.scalar.value;
        size_t n = y->ev.data.scalar.length;
        if (sc->naddresses == FSA_MAX_SENTINELS)
            return yp_fail(y, "at most %u Sentinels", FSA_MAX_SENTINELS);
        const char *why = n >= FSA_HOST_MAX ? "is too long" : host_port_problem(v, n);
        if (why)
            return yp_fail(y, "entry %u %s", sc->naddresses, why);
        memcpy(sc->addresses[sc->naddresses], v, n);
        sc->addresses[sc->naddresses][n] = '\0';
        sc->naddresses++;
    }
}

/* name absent: "host:port", or "[host]:port" for an IPv6 literal. */
static int post_instance(struct yp *y, void *base, uint64_t seen)
{
    struct fsa_instance_config *in = base;
    if (seen & 1u) /* instance_fields[0] is name */
        return 0;
    bool v6 = strchr(in->host, ':') != NULL;
    int w = snprintf(in->name, sizeof(in->name), v6 ? "[%s]:%u" : "%s:%u", in->host, (unsigned)in->port);
    char reason[64];
    if (w < 0 || (size_t)w >= sizeof(in->name) ||
        str_problem(S_NONEMPTY | S_NAME, sizeof(in->name), in->name, (size_t)w, reason, sizeof(reason))) {
        in->name[0] = '\0';
        size_t mark = path_push(y, "name", 4);
        int rc = yp_fail(y, "is needed here: the default (host:port) is too long or has characters a name "
                            "cannot have");
        path_pop(y, mark);
        return rc;
    }
    return 0;
}

static void instance_defaults(struct fsa_instance_config *in)
{
    memset(in, 0, sizeof(*in));
    memcpy(in->host, "127.0.0.1", sizeof("127.0.0.1"));
    in->port = 8021;
    memcpy(in->password, "ClueCon", sizeof("ClueCon"));
}

static void instances_wipe_free(struct fsa_instance_config *arr, size_t n)
{
    if (arr) {
        explicit_bzero(arr, n * sizeof(*arr));
        free(arr);
    }
}

/* Index of an earlier instance with the same name as instances[i], or -1. */
static int duplicate_name(const struct fsa_instance_config *arr, unsigned i)
{
    for (unsigned j = 0; j < i; j++)
        if (strcmp(arr[j].name, arr[i].name) == 0)
            return (int)j;
    return -1;
}

/* The current event is the list; replaces y->cfg->instances on success. */
static int custom_instances(struct yp *y, void *base)
{
    (void)base;
    if (ev_is_null(&y->ev))
        return yp_fail(y, "must list at least one instance");
    if (y->ev.type != YAML_SEQUENCE_START_EVENT)
        return yp_fail(y, "must be a list of instances, not %s", ev_shape(&y->ev));
    struct fsa_instance_config *arr = NULL;
    unsigned n = 0, cap = 0;
    for (;;) {
        if (yp_next(y))
            goto fail;
        if (y->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        size_t mark = path_push_index(y, n);
        if (n == FSA_MAX_INSTANCES) {
            yp_fail(y, "too many instances (at most %u)", FSA_MAX_INSTANCES);
            goto fail;
        }
        if (y->ev.type != YAML_MAPPING_START_EVENT) {
            yp_fail(y, "must be a mapping (name, host, port, password), not %s", ev_shape(&y->ev));
            goto fail;
        }
        if (n == cap) {
            unsigned ncap = cap ? cap * 2 : 4;
            if (ncap > FSA_MAX_INSTANCES)
                ncap = FSA_MAX_INSTANCES;
            struct fsa_instance_config *grown = calloc(ncap, sizeof(*grown));
            if (!grown) {
                yp_fail(y, "out of memory");
                goto fail;
            }
            if (n)
                memcpy(grown, arr, n * sizeof(*arr));
            instances_wipe_free(arr, n); /* not realloc: the old block held passwords */
            arr = grown;
            cap = ncap;
        }
        instance_defaults(&arr[n]);
        if (parse_map(y, &instance_table, &arr[n]))
            goto fail;
        int dup = duplicate_name(arr, n);
        if (dup >= 0) {
            path_push(y, "name", 4);
            yp_fail(y, "name \"%s\" is already used by entry [%d]", arr[n].name, dup);
            goto fail;
        }
        path_pop(y, mark);
        n++;
    }
    if (n == 0) {
        yp_fail(y, "must list at least one instance");
        goto fail;
    }
    instances_wipe_free(y->cfg->instances, y->cfg->ninstances);
    y->cfg->instances = arr;
    y->cfg->ninstances = n;
    return 0;
fail:
    instances_wipe_free(arr, cap);
    return -1;
}

/*
 * One document whose top node is read by top(). root names the document in
 * errors; lines adds "(line N)" to reasons.
 */
static int parse_doc(struct fsa_config *cfg, const char *text, size_t len, const char *root, bool lines,
                     int (*top)(struct yp *), struct fsa_config_error *err)
{
    if (len > FSA_CONFIG_MAX_BYTES) {
        set_err(err, root, "is larger than %u bytes", FSA_CONFIG_MAX_BYTES);
        return -1;
    }
    struct yp y;
    memset(&y, 0, sizeof(y));
    y.lines = lines;
    y.root = root;
    y.cfg = cfg;
    y.err = err;
    if (!lines)
        path_push(&y, root, strlen(root));
    if (!yaml_parser_initialize(&y.parser)) {
        set_err(err, root, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)(len ? text : ""), len);
    int rc = -1;
    if (yp_next(&y)) /* STREAM-START */
        goto out;
    if (yp_next(&y))
        goto out;
    if (y.ev.type == YAML_STREAM_END_EVENT) {
        rc = top(&y) == 0 ? 0 : -1; /* an empty file */
        goto out;
    }
    if (yp_next(&y) || top(&y)) /* past DOCUMENT-START to the top node */
        goto out;
    if (yp_next(&y)) /* DOCUMENT-END */
        goto out;
    if (yp_next(&y))
        goto out;
    if (y.ev.type != YAML_STREAM_END_EVENT) {
        path_pop(&y, 0);
        yp_fail(&y, "must hold one document, not several");
        goto out;
    }
    rc = 0;
out:
    if (y.have_ev)
        yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.parser);
    return rc;
}

static int top_config(struct yp *y)
{
    if (y->ev.type == YAML_STREAM_END_EVENT || ev_is_null(&y->ev))
        return 0; /* an empty file: defaults */
    return parse_map(y, &root_table, y->cfg);
}

static int top_instances(struct yp *y)
{
    if (y->ev.type == YAML_STREAM_END_EVENT)
        return yp_fail(y, "must be a JSON list of instances");
    return custom_instances(y, y->cfg);
}

int fsa_config_parse_yaml(struct fsa_config *cfg, const char *text, size_t len, struct fsa_config_error *err)
{
    return parse_doc(cfg, text, len, ROOT_YAML, true, top_config, err);
}

int fsa_config_parse_instances_json(struct fsa_config *cfg, const char *text, size_t len, struct fsa_config_error *err)
{
    return parse_doc(cfg, text, len, ENV_INSTANCES, false, top_instances, err);
}

/* ---- defaults, environment, load ------------------------------------------- */

void fsa_config_defaults(struct fsa_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->storage = FSA_STORAGE_MEMORY;
    memcpy(cfg->redis.host, "127.0.0.1", sizeof("127.0.0.1"));
    cfg->redis.port = 6379;
    cfg->redis.db = 0;
    cfg->redis.ttl_s = 86400;
    cfg->redis.timeout_ms = 200;
    cfg->redis.flush_interval_ms = 1000;
    cfg->redis.checkpoint_interval_s = 30;

    struct fsa_otel_config *o = &cfg->otel;
    memcpy(o->endpoint, "localhost:4317", sizeof("localhost:4317"));
    o->insecure = true;
    o->timeout_ms = 10000;
    o->gzip = false;
    o->temporality = FSA_TEMPORALITY_CUMULATIVE;
    o->batch_max_points = 8192;
    o->batch_interval_ms = 1000;
    o->queue_max_bytes = (size_t)64 << 20;
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    char reason[64];
    size_t hn = strlen(host);
    if (str_problem(S_NONEMPTY, sizeof(o->agent_id), host, hn, reason, sizeof(reason)))
        memcpy(o->agent_id, "fsagent", sizeof("fsagent")); /* a host name that cannot be an id */
    else
        memcpy(o->agent_id, host, hn + 1);

    memcpy(cfg->http_bind, "0.0.0.0", sizeof("0.0.0.0"));
    cfg->http_port = 8080;
    cfg->log_level = FSA_LOG_INFO;
    cfg->log_format = FSA_LOG_JSON;
    cfg->events_rtcp = true;
    cfg->events_qos = true;
    cfg->metrics_per_leg = true;
    cfg->emodel_plc = true;

    struct fsa_engine_config *e = &cfg->engine;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    e->reactor_threads = 1;
    e->worker_threads = cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned)cpus;
    e->pin_threads = true;
    e->ring_slots = 8192;
    e->max_frame_bytes = (size_t)1 << 20;
    e->heartbeat_s = 20;
    e->connect_timeout_ms = 5000;
    e->backoff_initial_ms = 500;
    e->backoff_max_ms = 30000;
    e->max_legs_per_worker = 262144;
    e->leg_ttl_s = 86400;
    e->stats_log_interval_s = 60;
    e->resync_rate = 200;
    e->resync_max_bytes = (size_t)64 << 20;
    e->resync_label_wait_ms = 3000;
}

void fsa_config_free(struct fsa_config *cfg)
{
    if (!cfg)
        return;
    instances_wipe_free(cfg->instances, cfg->ninstances);
    cfg->instances = NULL;
    cfg->ninstances = 0;
}

enum env_id {
    E_INSTANCES,
    E_STORAGE_TYPE,
    E_REDIS_HOST,
    E_REDIS_PORT,
    E_REDIS_PASSWORD,
    E_REDIS_USERNAME,
    E_HTTP_PORT,
    E_LOG_LEVEL,
    E_LOG_FORMAT,
    E_EVENTS_RTCP,
    E_EVENTS_QOS,
    E_METRICS_PER_LEG,
    E_EMODEL_PLC,
    E_REACTOR_THREADS,
    E_WORKER_THREADS,
    E_FSA_OTEL_ENDPOINT,
    E_OTLP_M_ENDPOINT,
    E_OTLP_ENDPOINT,
    E_OTLP_M_HEADERS,
    E_OTLP_HEADERS,
    E_OTLP_M_TIMEOUT,
    E_OTLP_TIMEOUT,
    E_OTLP_M_COMPRESSION,
    E_OTLP_COMPRESSION,
    E_OTLP_M_INSECURE,
    E_OTLP_INSECURE,
    E_OTLP_M_CERTIFICATE,
    E_OTLP_CERTIFICATE,
    E_OTLP_M_CLIENT_CERT,
    E_OTLP_CLIENT_CERT,
    E_OTLP_M_CLIENT_KEY,
    E_OTLP_CLIENT_KEY,
    E_OTLP_TEMPORALITY,
    E_COUNT
};

static const char *const env_names[E_COUNT] = {
    [E_INSTANCES] = ENV_INSTANCES,
    [E_STORAGE_TYPE] = "FSAGENT_STORAGE_TYPE",
    [E_REDIS_HOST] = "FSAGENT_REDIS_HOST",
    [E_REDIS_PORT] = "FSAGENT_REDIS_PORT",
    [E_REDIS_PASSWORD] = "FSAGENT_REDIS_PASSWORD",
    [E_REDIS_USERNAME] = "FSAGENT_REDIS_USERNAME",
    [E_HTTP_PORT] = "FSAGENT_HTTP_PORT",
    [E_LOG_LEVEL] = "FSAGENT_LOG_LEVEL",
    [E_LOG_FORMAT] = "FSAGENT_LOG_FORMAT",
    [E_EVENTS_RTCP] = "FSAGENT_EVENTS_RTCP",
    [E_EVENTS_QOS] = "FSAGENT_EVENTS_QOS",
    [E_METRICS_PER_LEG] = "FSAGENT_METRICS_PER_LEG",
    [E_EMODEL_PLC] = "FSAGENT_EMODEL_PLC",
    [E_REACTOR_THREADS] = "FSAGENT_REACTOR_THREADS",
    [E_WORKER_THREADS] = "FSAGENT_WORKER_THREADS",
    [E_FSA_OTEL_ENDPOINT] = "FSAGENT_OTEL_ENDPOINT",
    [E_OTLP_M_ENDPOINT] = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    [E_OTLP_ENDPOINT] = "OTEL_EXPORTER_OTLP_ENDPOINT",
    [E_OTLP_M_HEADERS] = "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    [E_OTLP_HEADERS] = "OTEL_EXPORTER_OTLP_HEADERS",
    [E_OTLP_M_TIMEOUT] = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    [E_OTLP_TIMEOUT] = "OTEL_EXPORTER_OTLP_TIMEOUT",
    [E_OTLP_M_COMPRESSION] = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    [E_OTLP_COMPRESSION] = "OTEL_EXPORTER_OTLP_COMPRESSION",
    [E_OTLP_M_INSECURE] = "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
    [E_OTLP_INSECURE] = "OTEL_EXPORTER_OTLP_INSECURE",
    [E_OTLP_M_CERTIFICATE] = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    [E_OTLP_CERTIFICATE] = "OTEL_EXPORTER_OTLP_CERTIFICATE",
    [E_OTLP_M_CLIENT_CERT] = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
    [E_OTLP_CLIENT_CERT] = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    [E_OTLP_M_CLIENT_KEY] = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
    [E_OTLP_CLIENT_KEY] = "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    [E_OTLP_TEMPORALITY] = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
};

enum env_base { B_CFG, B_REDIS, B_OTEL, B_ENGINE };

/* A variable that sets one table field, exactly as its YAML key would. */
struct env_field {
    enum env_id id;
    enum env_id alt; /* a lower-precedence variable for the same setting, or E_COUNT */
    enum env_base base;
    const struct table *table;
    const char *key;
};

static const struct env_field env_fields[] = {
    {E_STORAGE_TYPE, E_COUNT, B_CFG, &storage_table, "type"},
    {E_REDIS_HOST, E_COUNT, B_REDIS, &redis_table, "host"},
    {E_REDIS_PORT, E_COUNT, B_REDIS, &redis_table, "port"},
    {E_REDIS_PASSWORD, E_COUNT, B_REDIS, &redis_table, "password"},
    {E_REDIS_USERNAME, E_COUNT, B_REDIS, &redis_table, "username"},
    {E_HTTP_PORT, E_COUNT, B_CFG, &http_table, "port"},
    {E_LOG_LEVEL, E_COUNT, B_CFG, &logging_table, "level"},
    {E_LOG_FORMAT, E_COUNT, B_CFG, &logging_table, "format"},
    {E_EVENTS_RTCP, E_COUNT, B_CFG, &events_table, "rtcp"},
    {E_EVENTS_QOS, E_COUNT, B_CFG, &events_table, "qos"},
    {E_METRICS_PER_LEG, E_COUNT, B_CFG, &metrics_table, "per_leg"},
    {E_EMODEL_PLC, E_COUNT, B_CFG, &emodel_table, "plc"},
    {E_REACTOR_THREADS, E_COUNT, B_ENGINE, &engine_table, "reactor_threads"},
    {E_WORKER_THREADS, E_COUNT, B_ENGINE, &engine_table, "worker_threads"},
    {E_OTLP_M_TIMEOUT, E_OTLP_TIMEOUT, B_OTEL, &otel_table, "timeout_ms"},
    {E_OTLP_M_COMPRESSION, E_OTLP_COMPRESSION, B_OTEL, &otel_table, "compression"},
    {E_OTLP_M_CERTIFICATE, E_OTLP_CERTIFICATE, B_OTEL, &otel_table, "ca_file"},
    {E_OTLP_M_CLIENT_CERT, E_OTLP_CLIENT_CERT, B_OTEL, &otel_table, "client_cert"},
    {E_OTLP_M_CLIENT_KEY, E_OTLP_CLIENT_KEY, B_OTEL, &otel_table, "client_key"},
    {E_OTLP_TEMPORALITY, E_COUNT, B_OTEL, &otel_table, "temporality"},
};

static void *env_base_ptr(struct fsa_config *cfg, enum env_base b)
{
    switch (b) {
    case B_REDIS: return &cfg->redis;
    case B_OTEL: return &cfg->otel;
    case B_ENGINE: return &cfg->engine;
    default: return cfg;
    }
}

/* The first set (non-empty) of ids, in order; E_COUNT ends the list. */
static enum env_id env_pick(const char *const *vals, enum env_id a, enum env_id b, enum env_id c)
{
    if (a != E_COUNT && vals[a])
        return a;
    if (b != E_COUNT && vals[b])
        return b;
    if (c != E_COUNT && vals[c])
        return c;
    return E_COUNT;
}

static int env_set_field(struct fsa_config *cfg, const struct env_field *ef, enum env_id id, const char *v,
                         struct fsa_config_error *err)
{
    const struct field *f = find_field(ef->table, ef->key, strlen(ef->key));
    char reason[200];
    size_t n = strlen(v);
    if (!f || !field_set(f, env_base_ptr(cfg, ef->base), v, n, false, reason, sizeof(reason))) {
        set_err(err, env_names[id], "%s", f ? reason : "internal: no such field");
        return -1;
    }
    return 0;
}

int fsa_config_apply_env(struct fsa_config *cfg, char *const *envp, struct fsa_config_error *err)
{
    const char *vals[E_COUNT] = {0};
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *eq = strchr(envp[i], '=');
        if (!eq || !eq[1])
            continue; /* an empty value is unset */
        size_t kn = (size_t)(eq - envp[i]);
        for (int id = 0; id < E_COUNT; id++) {
            if (!vals[id] && strlen(env_names[id]) == kn && memcmp(envp[i], env_names[id], kn) == 0) {
                vals[id] = eq + 1; /* the first one wins, as getenv() does */
                break;
            }
        }
    }
    if (vals[E_INSTANCES] && fsa_config_parse_instances_json(cfg, vals[E_INSTANCES], strlen(vals[E_INSTANCES]), err))
        return -1;
    for (size_t i = 0; i < sizeof(env_fields) / sizeof(env_fields[0]); i++) {
        const struct env_field *ef = &env_fields[i];
        enum env_id id = env_pick(vals, ef->id, ef->alt, E_COUNT);
        if (id != E_COUNT && env_set_field(cfg, ef, id, vals[id], err))
            return -1;
    }
    struct fsa_otel_config *o = &cfg->otel;
    enum env_id id = env_pick(vals, E_FSA_OTEL_ENDPOINT, E_OTLP_M_ENDPOINT, E_OTLP_ENDPOINT);
    if (id != E_COUNT) {
        enum scheme sch;
        const char *why = endpoint_set(o, vals[id], strlen(vals[id]), &sch);
        if (why) {
            set_err(err, env_names[id], "%s", why);
            return -1;
        }
        if (sch != SCHEME_NONE)
            o->insecure = sch == SCHEME_HTTP;
    }
    /* OTel: INSECURE only counts when the endpoint in force has no scheme. */
    id = env_pick(vals, E_OTLP_M_INSECURE, E_OTLP_INSECURE, E_COUNT);
    if (id != E_COUNT && !o->scheme_set) {
        static const struct field f = F_BOOL("insecure", struct fsa_otel_config, insecure);
        char folded[8], reason[64]; /* OTel booleans are case-insensitive */
        const char *v = vals[id];
        size_t n = strlen(v);
        if (n < sizeof(folded)) {
            for (size_t i = 0; i <= n; i++)
                folded[i] = lower(v[i]);
            v = folded;
        }
        if (!field_set(&f, o, v, n, false, reason, sizeof(reason))) {
            set_err(err, env_names[id], "%s", reason);
            return -1;
        }
    }
    id = env_pick(vals, E_OTLP_M_HEADERS, E_OTLP_HEADERS, E_COUNT);
    if (id != E_COUNT && headers_from_env(o, env_names[id], vals[id], err))
        return -1;
    return 0;
}

/* Reads at most FSA_CONFIG_MAX_BYTES of path; NULL with errno on failure. */
static char *read_small_file(const char *path, size_t *len, bool *too_big)
{
    *too_big = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return NULL;
    }
    size_t cap = FSA_CONFIG_MAX_BYTES + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            explicit_bzero(buf, n);
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            *too_big = true;
            explicit_bzero(buf, n);
            free(buf);
            close(fd);
            return NULL;
        }
    }
    close(fd);
    *len = n;
    return buf;
}

int fsa_config_load(struct fsa_config *cfg, const char *path, char *const *envp, struct fsa_config_error *err)
{
    fsa_config_defaults(cfg);
    const char *p = path ? path : "config.yaml";
    size_t len = 0;
    bool too_big;
    char *text = read_small_file(p, &len, &too_big);
    if (!text && (path || errno != ENOENT || too_big)) {
        if (too_big)
            set_err(err, p, "is larger than %u bytes", FSA_CONFIG_MAX_BYTES);
        else
            set_err(err, p, "cannot read: %s", strerror(errno));
        goto fail;
    }
    if (text) {
        int rc = fsa_config_parse_yaml(cfg, text, len, err);
        explicit_bzero(text, len); /* it held passwords */
        free(text);
        if (rc) {
            if (err && strcmp(err->key, ROOT_YAML) == 0)
                snprintf(err->key, sizeof(err->key), "%s", p); /* "config.yaml: line 3 column 1: ..." */
            goto fail;
        }
    }
    if (fsa_config_apply_env(cfg, envp, err))
        goto fail;
    return 0;
fail:
    fsa_config_free(cfg);
    return -1;
}

/* ---- validation ------------------------------------------------------------- */

static int check_table(const struct table *t, const void *base, const char *prefix, struct fsa_config_error *err)
{
    char key[128], reason[200];
    for (size_t i = 0; i < t->n; i++) {
        const struct field *f = &t->fields[i];
        snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", f->key);
        if (f->kind == K_MAP) {
            if (check_table(f->sub, (const char *)base + f->off, key, err))
                return -1;
        } else if (f->kind != K_CUSTOM && !field_check(f, base, reason, sizeof(reason))) {
            set_err(err, key, "%s", reason);
            return -1;
        }
    }
    return 0;
}

int fsa_config_validate(const struct fsa_config *cfg, struct fsa_config_error *err)
{
    char key[128];
    if (!cfg->instances || cfg->ninstances == 0) {
        set_err(err, "freeswitch_instances",
                "must list at least one instance (in the config file or " ENV_INSTANCES ")");
        return -1;
    }
    if (cfg->ninstances > FSA_MAX_INSTANCES) {
        set_err(err, "freeswitch_instances", "too many instances (at most %u)", FSA_MAX_INSTANCES);
        return -1;
    }
    for (unsigned i = 0; i < cfg->ninstances; i++) {
        snprintf(key, sizeof(key), "freeswitch_instances[%u]", i);
        if (check_table(&instance_table, &cfg->instances[i], key, err))
            return -1;
        int dup = duplicate_name(cfg->instances, i);
        if (dup >= 0) {
            snprintf(key, sizeof(key), "freeswitch_instances[%u].name", i);
            set_err(err, key, "name \"%s\" is already used by entry [%d]", cfg->instances[i].name, dup);
            return -1;
        }
    }
    if (check_table(&root_table, cfg, "", err))
        return -1;
    const struct fsa_sentinel_config *sc = &cfg->redis.sentinel;
    if (sc->master_name[0] && sc->naddresses == 0) {
        set_err(err, "storage.redis.sentinel.addresses", "must list at least one Sentinel (host:port) with master_name");
        return -1;
    }
    if (!sc->master_name[0] && sc->naddresses) {
        set_err(err, "storage.redis.sentinel.master_name", "is needed with sentinel addresses");
        return -1;
    }
    const struct fsa_redis_tls_config *tc = &cfg->redis.tls;
    if (!tc->cert_file[0] != !tc->key_file[0]) {
        set_err(err, tc->cert_file[0] ? "storage.redis.tls.key_file" : "storage.redis.tls.cert_file",
                "is needed with the other (a client certificate and its key go together)");
        return -1;
    }
    if (!tc->enabled && (tc->ca_file[0] || tc->cert_file[0] || tc->server_name[0])) {
        set_err(err, "storage.redis.tls.enabled", "must be true when other tls keys are set");
        return -1;
    }

    const struct fsa_otel_config *o = &cfg->otel;
    char ep[FSA_HOST_MAX];
    enum scheme sch;
    size_t en = strnlen(o->endpoint, sizeof(o->endpoint));
    const char *why =
        en == sizeof(o->endpoint) ? "is not terminated" : endpoint_parse(o->endpoint, en, ep, sizeof(ep), &sch);
    if (why) {
        set_err(err, "opentelemetry.endpoint", "%s", why);
        return -1;
    }
    if (o->nheaders > FSA_MAX_OTLP_HEADERS) {
        set_err(err, "opentelemetry.headers", "at most %u headers", FSA_MAX_OTLP_HEADERS);
        return -1;
    }
    for (unsigned i = 0; i < o->nheaders; i++) {
        char name[FSA_NAME_MAX];
        const struct fsa_otlp_header *h = &o->headers[i];
        size_t nn = strnlen(h->name, sizeof(h->name)), vn = strnlen(h->value, sizeof(h->value));
        why = nn == sizeof(h->name) ? "a header name is not terminated" : header_name(h->name, nn, name);
        if (!why && strcmp(name, h->name) != 0)
            why = "a header name is not lower-case";
        if (why) {
            set_err(err, "opentelemetry.headers", "%s", why);
            return -1;
        }
        snprintf(key, sizeof(key), "opentelemetry.headers.%s", h->name);
        why = vn == sizeof(h->value) ? "header value is not terminated" : header_value_problem(h->value, vn);
        for (unsigned j = 0; !why && j < i; j++)
            if (strcmp(o->headers[j].name, h->name) == 0)
                why = "the same header is given twice";
        if (why) {
            set_err(err, key, "%s", why);
            return -1;
        }
    }
    if (!o->client_cert[0] != !o->client_key[0]) {
        set_err(err, o->client_cert[0] ? "opentelemetry.client_key" : "opentelemetry.client_cert",
                "must be set together with opentelemetry.%s (mutual TLS needs both)",
                o->client_cert[0] ? "client_cert" : "client_key");
        return -1;
    }
    if (o->insecure && (o->ca_file[0] || o->client_cert[0])) {
        set_err(err, o->ca_file[0] ? "opentelemetry.ca_file" : "opentelemetry.client_cert",
                "is set but opentelemetry.insecure is true (TLS off): set insecure: false or an https:// endpoint");
        return -1;
    }
    const struct fsa_engine_config *e = &cfg->engine;
    if (e->backoff_initial_ms > e->backoff_max_ms) {
        set_err(err, "engine.backoff_initial_ms", "must not exceed engine.backoff_max_ms");
        return -1;
    }
    return 0;
}
