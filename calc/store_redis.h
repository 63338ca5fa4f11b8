/*
 * store_redis: the `redis` leg store (store.h), one per calculator worker.
 *
 * The key layout, the pipeline and the failure rules are written at the top
 * of store_redis.c. In short: one hash per FreeSWITCH instance at
 * <key_prefix>v2:<instance name>, three fields per leg (labels, bases,
 * jitter) written behind in rounds, one HSET and one EXPIRE per instance and
 * round; loads answered later through poll(); nothing blocks the worker but
 * a connect attempt (timeout_ms) and drain() at stop; when Redis is down or
 * slow the store fails fast, counts it, and reconnects with exponential
 * backoff (one attempt per step).
 *
 * Thread contract: create/destroy by the worker's creator (before the worker
 * thread starts / after it joined); the fsa_store_ops only from that one
 * worker thread (it owns the connection); fsa_store_redis_stats_read() from
 * any thread (relaxed loads of single-writer counters). The log callback is
 * called on the worker thread.
 */
#ifndef FSA_STORE_REDIS_H
#define FSA_STORE_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define FSA_STORE_REDIS_NAME_MAX 64 /* instance name, log label, key prefix (with NUL) */
#define FSA_STORE_REDIS_DEFAULT_PREFIX "fsagent:leg:"
#define FSA_STORE_REDIS_DEFAULT_TTL_S 86400u
#define FSA_STORE_REDIS_DEFAULT_TIMEOUT_MS 200u
#define FSA_STORE_REDIS_DEFAULT_MAX_PENDING 4096u /* Redis commands queued or unanswered */
#define FSA_STORE_REDIS_DEFAULT_BACKOFF_MIN_MS 100u
#define FSA_STORE_REDIS_DEFAULT_BACKOFF_MAX_MS 10000u

/*
 * A state change to log: fault true for up -> down (warn), false for
 * -> up (info). msg names the server and the cause, never the password.
 */
typedef void (*fsa_store_redis_log_fn)(void *ctx, bool fault, const char *label, const char *msg);

/* Plain values (the caller maps its config); zero takes the default. */
struct fsa_store_redis_params {
    const char *host;     /* IPv4/IPv6 literal or a name (looked up off the thread at each connect attempt, within timeout_ms) */
    uint16_t port;        /* 0: 6379 */
    /*
     * Redis Sentinel: with a master name, every connect attempt first asks the
     * Sentinels (in order, starting with the last that answered) for the
     * master's address (SENTINEL get-master-addr-by-name), so a failover is
     * followed at the next reconnect; host/port are then not used. A master
     * that answers READONLY (demoted) takes the connection down. NULL/0: none.
     */
    const char *sentinel_master;
    const char *const *sentinels; /* "host:port" / "[v6]:port" */
    unsigned nsentinels;
    const char *sentinel_password; /* NULL or "": the Sentinels need no AUTH */
    const char *username; /* Redis 6 ACL user: AUTH <username> <password>; NULL or "": AUTH <password> */
    const char *password; /* NULL or "": no AUTH */
    /*
     * TLS to Redis (OpenSSL): the server's certificate is checked against
     * tls_ca_file (NULL/"": the system's CAs) and tls_server_name (NULL/"":
     * the host, or the master's address a Sentinel named), sent as SNI when
     * it is a name; a client certificate when tls_cert_file is set. The
     * Sentinels themselves are asked over plain TCP.
     */
    bool tls;
    const char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_server_name;
    int db;               /* SELECT db (0..); SELECT is always sent: it proves Redis answers */
    unsigned ttl_s;       /* EXPIRE of an instance's hash, refreshed at every round that wrote to it */
    unsigned timeout_ms;  /* a connect attempt at most; unanswered commands this long take the connection down */
    const char *key_prefix;
    /* Key part per instance id; an id without a name is written in decimal. Copied. */
    const char *const *instance_names;
    unsigned ninstances;
    const char *label; /* for log lines, e.g. "redis.w0"; NULL: "redis" */
    unsigned max_pending; /* commands sent and unanswered at most */
    unsigned backoff_min_ms, backoff_max_ms;
    fsa_store_redis_log_fn log; /* NULL: nothing is logged */
    void *log_ctx;
};

enum fsa_store_op { FSA_STORE_OP_LOAD = 0, FSA_STORE_OP_SAVE, FSA_STORE_OP_DELETE, FSA_STORE_OP_COUNT };

/*
 * ok: Redis answered without an error (a load that found nothing is ok);
 * error: Redis answered with an error, the connection failed with the
 * operation queued or in flight, or it was refused at once because the
 * store is down (backing off); dropped: no longer happens (a full queue
 * now puts the write off to the worker's next round, counted there as
 * deferred), kept so the metric's label set does not change. Saves and
 * deletes count per leg.
 */
enum fsa_store_result {
    FSA_STORE_RESULT_OK = 0,
    FSA_STORE_RESULT_ERROR,
    FSA_STORE_RESULT_DROPPED,
    FSA_STORE_RESULT_COUNT
};

enum fsa_store_redis_state {
    FSA_STORE_REDIS_INIT = 0, /* no connection tried yet */
    FSA_STORE_REDIS_UP,
    FSA_STORE_REDIS_DOWN,
};

struct fsa_store_redis_stats {
    uint64_t ops[FSA_STORE_OP_COUNT][FSA_STORE_RESULT_COUNT];
    uint64_t load_hits;        /* ok loads that found a leg */
    uint64_t connects;         /* connections established (the first one included) */
    uint64_t connect_failures; /* attempts that failed (refused, timeout, AUTH/SELECT error) */
    uint64_t reconnects;       /* connections established after the store was down */
    uint64_t pending;          /* gauge: commands queued or awaiting their reply */
    uint64_t failovers;        /* Sentinel named another master than the one before */
    uint64_t sentinel_failures; /* connect attempts no Sentinel answered */
    uint64_t unreadable;       /* loads that found a leg they could not read (bad value, unknown format version) */
    uint64_t load_hits_old;    /* loads that found a leg in the previous format (written anew in the current one) */
    uint64_t commands;         /* Redis commands sent, handshakes included */
    uint64_t swept;            /* legs deleted by sweeps: ended while no agent watched their instance */
    unsigned state;            /* enum fsa_store_redis_state */
};

struct fsa_store_redis;

/* NULL when memory is short or host is missing. Connects lazily, on the worker thread. */
struct fsa_store_redis *fsa_store_redis_create(const struct fsa_store_redis_params *p);
/* Sends what is queued (bounded by timeout_ms) and closes. */
void fsa_store_redis_destroy(struct fsa_store_redis *s);
/* The seam for fsa_calc_params.store / fsa_worker_params.store. */
struct fsa_store fsa_store_redis_store(struct fsa_store_redis *s);

/* Any thread. */
void fsa_store_redis_stats_read(const struct fsa_store_redis *s, struct fsa_store_redis_stats *out);
/* Label values of fsagent_storage_operations_total{op,result}: "load"/"save"/"delete", "ok"/"error"/"dropped". */
const char *fsa_store_op_name(enum fsa_store_op op);
const char *fsa_store_result_name(enum fsa_store_result r);
const char *fsa_store_redis_state_name(enum fsa_store_redis_state st);

extern const struct fsa_store_ops fsa_store_redis_ops;

#endif
