/*
 * agent: see agent.h.
 */
#include "agent.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "calc/store_redis.h"
#include "calc/worker.h"
#include "export/exporter.h"
#include "log.h"
#include "ring/fsa_time.h"

/* Label requests a worker can have waiting per reactor; a full lane asks again at the leg's next event. */
#define RESYNC_REQUEST_SLOTS 4096u

struct thread_slot {
    pthread_t tid;
    bool started;
    int cpu; /* -1: not pinned */
    struct fsa_agent *agent;
    unsigned index;
};

struct fsa_agent {
    const struct fsa_config *cfg;
    unsigned nreactors, nworkers;
    struct fsa_instance_stats *stats;   /* [instance] */
    struct fsa_lane *lanes;             /* [reactor * nworkers + worker] */
    struct fsa_lane *out_lanes;         /* [worker]: metric records to the exporter */
    struct fsa_lane *req_lanes;         /* [worker * nreactors + reactor]: label requests (resync); NULL if off */
    struct fsa_exporter *exporter;
    struct fsa_worker **workers;
    struct fsa_store_redis **stores;    /* [worker]; NULL entries with storage: memory */
    struct fsa_reactor **reactors;
    struct thread_slot *reactor_threads, *worker_threads;
    bool stopped;
    atomic_bool failed; /* a reactor could not run: the process must exit 1 */
};

static void pin_self(int cpu, const char *what, unsigned index)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0)
        fsa_log_warn(NULL, "cannot pin %s %u to CPU %d: %s (running unpinned)", what, index, cpu, strerror(rc));
}

static void *reactor_main(void *arg)
{
    struct thread_slot *t = arg;
    char name[16];
    snprintf(name, sizeof(name), "fsa-reactor-%u", t->index);
    pthread_setname_np(pthread_self(), name);
    pin_self(t->cpu, "reactor", t->index);
    if (fsa_reactor_run(t->agent->reactors[t->index]) < 0)
        atomic_store(&t->agent->failed, true);
    return NULL;
}

static void *worker_main(void *arg)
{
    struct thread_slot *t = arg;
    char name[16];
    snprintf(name, sizeof(name), "fsa-worker-%u", t->index);
    pthread_setname_np(pthread_self(), name);
    pin_self(t->cpu, "worker", t->index);
    fsa_worker_run(t->agent->workers[t->index]);
    return NULL;
}

/* Store state changes go to the agent's log (calc/ does not include engine/log.h). */
static void redis_log(void *ctx, bool fault, const char *label, const char *msg)
{
    (void)ctx;
    if (fault)
        fsa_log_warn(label, "%s", msg);
    else
        fsa_log_info(label, "%s", msg);
}

static void wake_exporter(void *exporter)
{
    fsa_exporter_doorbell(exporter);
}

static int start_threads(struct thread_slot *slots, unsigned n, void *(*fn)(void *), const char **why)
{
    for (unsigned i = 0; i < n; i++) {
        int rc = pthread_create(&slots[i].tid, NULL, fn, &slots[i]);
        if (rc != 0) {
            *why = "pthread_create";
            return -rc;
        }
        slots[i].started = true;
    }
    return 0;
}

/*
 * The workers, each with its store (one Redis connection per worker when
 * storage is redis). NULL, or what could not be allocated; what was created
 * stays in a->workers / a->stores for fsa_agent_destroy().
 */
static const char *create_workers(struct fsa_agent *a, const struct fsa_config *cfg)
{
    const char *fail = NULL;
    struct fsa_lane **inputs = calloc(a->nreactors, sizeof(*inputs));
    struct fsa_lane **requests = calloc(a->nreactors, sizeof(*requests));
    const char **names = calloc(cfg->ninstances, sizeof(*names));
    a->stores = calloc(a->nworkers, sizeof(*a->stores));
    if (!inputs || !requests || !names || !a->stores) {
        fail = "out of memory";
        goto out;
    }
    for (unsigned i = 0; i < cfg->ninstances; i++)
        names[i] = cfg->instances[i].name;
    for (unsigned w = 0; w < a->nworkers; w++) {
        for (unsigned r = 0; r < a->nreactors; r++) {
            inputs[r] = &a->lanes[r * a->nworkers + w];
            if (a->req_lanes)
                requests[r] = &a->req_lanes[(size_t)w * a->nreactors + r];
        }
        struct fsa_worker_params wp = {.index = w, .nworkers = a->nworkers, .inputs = inputs, .ninputs = a->nreactors,
                                       .ninstances = cfg->ninstances,
                                       .max_legs = cfg->engine.max_legs_per_worker,
                                       .leg_ttl_s = cfg->engine.leg_ttl_s,
                                       .emodel_no_plc = !cfg->emodel_plc,
                                       .output = &a->out_lanes[w],
                                       .output_wake = wake_exporter,
                                       .output_wake_arg = a->exporter,
                                       .requests = a->req_lanes ? requests : NULL,
                                       .nreactors = a->nreactors,
                                       .label_wait_ms = cfg->engine.resync_label_wait_ms,
                                       .store_flush_ms = cfg->redis.flush_interval_ms,
                                       .store_checkpoint_s = cfg->redis.checkpoint_interval_s};
        /* One store per worker: each worker owns its Redis connection, so no locks (calc/store.h). */
        struct fsa_store store = {&fsa_store_memory_ops, NULL};
        if (cfg->storage == FSA_STORAGE_REDIS) {
            char label[32];
            snprintf(label, sizeof(label), "redis.w%u", w);
            const char *sentinels[FSA_MAX_SENTINELS];
            for (unsigned i = 0; i < cfg->redis.sentinel.naddresses && i < FSA_MAX_SENTINELS; i++)
                sentinels[i] = cfg->redis.sentinel.addresses[i];
            struct fsa_store_redis_params sp = {.host = cfg->redis.host, .port = cfg->redis.port,
                                                .sentinel_master = cfg->redis.sentinel.master_name,
                                                .sentinels = sentinels,
                                                .nsentinels = cfg->redis.sentinel.naddresses,
                                                .sentinel_password = cfg->redis.sentinel.password,
                                                .username = cfg->redis.username,
                                                .password = cfg->redis.password, .db = cfg->redis.db,
                                                .tls = cfg->redis.tls.enabled,
                                                .tls_ca_file = cfg->redis.tls.ca_file,
                                                .tls_cert_file = cfg->redis.tls.cert_file,
                                                .tls_key_file = cfg->redis.tls.key_file,
                                                .tls_server_name = cfg->redis.tls.server_name,
                                                .ttl_s = cfg->redis.ttl_s, .timeout_ms = cfg->redis.timeout_ms,
                                                .instance_names = names, .ninstances = cfg->ninstances,
                                                .label = label, .log = redis_log};
            a->stores[w] = fsa_store_redis_create(&sp);
            if (!a->stores[w]) {
                fail = "redis store allocation";
                goto out;
            }
            store = fsa_store_redis_store(a->stores[w]);
        }
        wp.store = &store; /* copied by the worker */
        a->workers[w] = fsa_worker_create(&wp);
        if (!a->workers[w]) {
            fail = "worker allocation";
            goto out;
        }
    }
out:
    free(inputs);
    free(requests);
    free(names);
    return fail;
}

int fsa_agent_start(const struct fsa_config *cfg, struct fsa_agent **out, const char **why)
{
    struct fsa_agent *a = calloc(1, sizeof(*a));
    if (!a) {
        *why = "out of memory";
        return -ENOMEM;
    }
    a->cfg = cfg;
    a->nreactors = cfg->engine.reactor_threads ? cfg->engine.reactor_threads : 1;
    if (a->nreactors > cfg->ninstances)
        a->nreactors = cfg->ninstances; /* an idle reactor would only burn a core */
    a->nworkers = cfg->engine.worker_threads ? cfg->engine.worker_threads : 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;

    a->stats = aligned_alloc(FSA_CACHELINE, sizeof(*a->stats) * cfg->ninstances);
    a->lanes = calloc((size_t)a->nreactors * a->nworkers, sizeof(*a->lanes));
    a->workers = calloc(a->nworkers, sizeof(*a->workers));
    a->reactors = calloc(a->nreactors, sizeof(*a->reactors));
    a->reactor_threads = calloc(a->nreactors, sizeof(*a->reactor_threads));
    a->worker_threads = calloc(a->nworkers, sizeof(*a->worker_threads));
    a->out_lanes = calloc(a->nworkers, sizeof(*a->out_lanes));
    if (!a->stats || !a->lanes || !a->out_lanes || !a->workers || !a->reactors || !a->reactor_threads || !a->worker_threads) {
        *why = "out of memory";
        fsa_agent_destroy(a);
        return -ENOMEM;
    }
    memset(a->stats, 0, sizeof(*a->stats) * cfg->ninstances);

    /* Resync's way back: a worker asks the reactor serving a leg's instance for its labels (reactor.c). */
    if (cfg->engine.resync_rate) {
        a->req_lanes = calloc((size_t)a->nworkers * a->nreactors, sizeof(*a->req_lanes));
        if (!a->req_lanes) {
            *why = "out of memory";
            fsa_agent_destroy(a);
            return -ENOMEM;
        }
        for (unsigned i = 0; i < a->nworkers * a->nreactors; i++) {
            int rc = fsa_lane_init(&a->req_lanes[i], RESYNC_REQUEST_SLOTS, sizeof(struct fsa_label_request));
            if (rc < 0) {
                *why = "ring allocation";
                fsa_agent_destroy(a);
                return rc;
            }
        }
    }

    for (unsigned i = 0; i < a->nreactors * a->nworkers; i++) {
        int rc = fsa_lane_init(&a->lanes[i], cfg->engine.ring_slots, sizeof(struct fsa_event_msg));
        if (rc < 0) {
            *why = "ring allocation";
            fsa_agent_destroy(a);
            return rc;
        }
    }

    /*
     * Records are much rarer than events (one per RTCP report or hangup), but
     * the exporter drains them only between sends: give its lanes the same
     * depth so a burst of hangups is absorbed rather than counted as drops.
     */
    for (unsigned w = 0; w < a->nworkers; w++) {
        int rc = fsa_lane_init(&a->out_lanes[w], cfg->engine.ring_slots, sizeof(struct fsa_metric_record));
        if (rc < 0) {
            *why = "ring allocation";
            fsa_agent_destroy(a);
            return rc;
        }
    }
    struct fsa_lane **outs = calloc(a->nworkers, sizeof(*outs));
    if (!outs) {
        *why = "out of memory";
        fsa_agent_destroy(a);
        return -ENOMEM;
    }
    for (unsigned w = 0; w < a->nworkers; w++)
        outs[w] = &a->out_lanes[w];
    struct fsa_exporter_params ep = {.cfg = cfg, .inputs = outs, .ninputs = a->nworkers};
    int erc = fsa_exporter_create(&ep, &a->exporter, why);
    free(outs);
    if (erc < 0) {
        fsa_agent_destroy(a);
        return erc;
    }

    const char *no_workers = create_workers(a, cfg);
    if (no_workers) {
        *why = no_workers;
        fsa_agent_destroy(a);
        return -ENOMEM;
    }

    struct fsa_lane **lanes = calloc(a->nworkers, sizeof(*lanes));
    struct fsa_lane **requests = calloc(a->nworkers, sizeof(*requests));
    struct fsa_doorbell **bells = calloc(a->nworkers, sizeof(*bells));
    unsigned *owned = calloc(cfg->ninstances, sizeof(*owned));
    uint32_t job_nonce = 0;
    if (getrandom(&job_nonce, sizeof(job_nonce), 0) != (ssize_t)sizeof(job_nonce))
        job_nonce = (uint32_t)(fsa_mono_ns() ^ (uint64_t)getpid() << 16); /* only needs to differ from others' */
    if (!lanes || !requests || !bells || !owned) {
        free(lanes);
        free(requests);
        free(bells);
        free(owned);
        *why = "out of memory";
        fsa_agent_destroy(a);
        return -ENOMEM;
    }
    for (unsigned w = 0; w < a->nworkers; w++)
        bells[w] = fsa_worker_doorbell(a->workers[w]);
    int rc = 0;
    for (unsigned r = 0; r < a->nreactors && rc == 0; r++) {
        unsigned n = 0;
        for (unsigned i = r; i < cfg->ninstances; i += a->nreactors)
            owned[n++] = i;
        for (unsigned w = 0; w < a->nworkers; w++) {
            lanes[w] = &a->lanes[r * a->nworkers + w];
            if (a->req_lanes)
                requests[w] = &a->req_lanes[(size_t)w * a->nreactors + r];
        }
        struct fsa_reactor_params rp = {.index = r, .cfg = cfg, .instances = owned, .ninstances = n,
                                        .lanes = lanes, .bells = bells, .nworkers = a->nworkers,
                                        .stats = a->stats, .requests = a->req_lanes ? requests : NULL,
                                        .nreactors = a->nreactors, .job_nonce = job_nonce};
        rc = fsa_reactor_create(&rp, &a->reactors[r], why);
    }
    free(lanes);
    free(requests);
    free(bells);
    free(owned);
    if (rc < 0) {
        fsa_agent_destroy(a);
        return rc;
    }

    for (unsigned r = 0; r < a->nreactors; r++)
        a->reactor_threads[r] = (struct thread_slot){
            .agent = a, .index = r, .cpu = cfg->engine.pin_threads ? (int)(r % (unsigned)ncpu) : -1};
    for (unsigned w = 0; w < a->nworkers; w++)
        a->worker_threads[w] = (struct thread_slot){
            .agent = a, .index = w,
            .cpu = cfg->engine.pin_threads ? (int)((a->nreactors + w) % (unsigned)ncpu) : -1};
    /* Consumers before producers: nothing is published into a lane nobody drains. */
    rc = fsa_exporter_start(a->exporter);
    if (rc < 0)
        *why = "exporter thread";
    if (rc == 0)
        rc = start_threads(a->worker_threads, a->nworkers, worker_main, why);
    if (rc == 0)
        rc = start_threads(a->reactor_threads, a->nreactors, reactor_main, why);
    if (rc < 0) {
        fsa_agent_stop(a);
        fsa_agent_destroy(a);
        return rc;
    }
    fsa_log_info(NULL, "started: %u instance(s), %u reactor(s), %u worker(s), %u slots per lane, pinning %s",
                 cfg->ninstances, a->nreactors, a->nworkers, a->lanes[0].nslots,
                 cfg->engine.pin_threads ? "on" : "off");
    *out = a;
    return 0;
}

void fsa_agent_stop(struct fsa_agent *a)
{
    if (!a || a->stopped)
        return;
    a->stopped = true;
    for (unsigned r = 0; r < a->nreactors; r++)
        if (a->reactors[r])
            fsa_reactor_request_stop(a->reactors[r]);
    for (unsigned r = 0; r < a->nreactors; r++)
        if (a->reactor_threads[r].started)
            pthread_join(a->reactor_threads[r].tid, NULL);
    /* Reactors are gone: whatever is in the lanes now is all there will be. */
    for (unsigned w = 0; w < a->nworkers; w++)
        if (a->workers[w])
            fsa_worker_request_stop(a->workers[w]);
    for (unsigned w = 0; w < a->nworkers; w++)
        if (a->worker_threads[w].started)
            pthread_join(a->worker_threads[w].tid, NULL);
    /* Workers are gone too: the exporter drains the last records and flushes, bounded. */
    if (a->exporter)
        fsa_exporter_stop(a->exporter, a->cfg->otel.timeout_ms);
}

void fsa_agent_destroy(struct fsa_agent *a)
{
    if (!a)
        return;
    for (unsigned r = 0; a->reactors && r < a->nreactors; r++)
        fsa_reactor_destroy(a->reactors[r]);
    for (unsigned w = 0; a->workers && w < a->nworkers; w++)
        fsa_worker_destroy(a->workers[w]);
    fsa_exporter_destroy(a->exporter);
    /* After the workers: a store belongs to its worker's thread until that thread is gone. */
    for (unsigned w = 0; a->stores && w < a->nworkers; w++)
        fsa_store_redis_destroy(a->stores[w]);
    free(a->stores);
    for (unsigned i = 0; a->lanes && i < a->nreactors * a->nworkers; i++)
        fsa_lane_destroy(&a->lanes[i]);
    for (unsigned w = 0; a->out_lanes && w < a->nworkers; w++)
        fsa_lane_destroy(&a->out_lanes[w]);
    for (unsigned i = 0; a->req_lanes && i < a->nworkers * a->nreactors; i++)
        fsa_lane_destroy(&a->req_lanes[i]);
    free(a->req_lanes);
    free(a->lanes);
    free(a->out_lanes);
    free(a->workers);
    free(a->reactors);
    free(a->reactor_threads);
    free(a->worker_threads);
    free(a->stats);
    free(a);
}

bool fsa_agent_failed(const struct fsa_agent *a)
{
    return atomic_load(&a->failed);
}

const struct fsa_config *fsa_agent_config(const struct fsa_agent *a)
{
    return a->cfg;
}

const struct fsa_exporter *fsa_agent_exporter(const struct fsa_agent *a)
{
    return a->exporter;
}

bool fsa_agent_store_stats(const struct fsa_agent *a, struct fsa_store_redis_stats *out)
{
    memset(out, 0, sizeof(*out));
    bool any = false;
    for (unsigned w = 0; a->stores && w < a->nworkers; w++) {
        if (!a->stores[w])
            continue;
        struct fsa_store_redis_stats s;
        fsa_store_redis_stats_read(a->stores[w], &s);
        for (int op = 0; op < FSA_STORE_OP_COUNT; op++)
            for (int r = 0; r < FSA_STORE_RESULT_COUNT; r++)
                out->ops[op][r] += s.ops[op][r];
        out->load_hits += s.load_hits;
        out->connects += s.connects;
        out->connect_failures += s.connect_failures;
        out->reconnects += s.reconnects;
        out->pending += s.pending;
        out->failovers += s.failovers;
        out->sentinel_failures += s.sentinel_failures;
        out->unreadable += s.unreadable;
        out->load_hits_old += s.load_hits_old;
        out->commands += s.commands;
        out->swept += s.swept;
        /* One worker's store down is the store down: the worst state wins. */
        if (!any || s.state == FSA_STORE_REDIS_DOWN || out->state == FSA_STORE_REDIS_INIT)
            out->state = s.state;
        any = true;
    }
    return any;
}

void fsa_agent_calc_stats(const struct fsa_agent *a, struct fsa_calc_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned w = 0; w < a->nworkers; w++) {
        struct fsa_calc_stats s;
        fsa_worker_stats_read(a->workers[w], &s);
        /* Every field is a uint64_t total or gauge (asserted below): sum them field by field. */
        _Static_assert(sizeof(s) % sizeof(uint64_t) == 0, "fsa_calc_stats holds only uint64_t");
        const uint64_t *src = (const uint64_t *)&s;
        uint64_t *dst = (uint64_t *)out;
        for (size_t i = 0; i < sizeof(s) / sizeof(uint64_t); i++)
            dst[i] += src[i];
    }
}

void fsa_agent_snapshot_read(const struct fsa_agent *a, struct fsa_snapshot_view *out)
{
    fsa_snapshot_view_init(out);
    for (unsigned w = 0; w < a->nworkers; w++)
        fsa_snapshot_merge(out, fsa_worker_snapshot(a->workers[w]));
}

const struct fsa_instance_stats *fsa_agent_instance_stats(const struct fsa_agent *a, unsigned instance)
{
    return instance < a->cfg->ninstances ? &a->stats[instance] : NULL;
}

uint64_t fsa_agent_events_processed(const struct fsa_agent *a, unsigned instance, enum fsa_event_kind kind)
{
    uint64_t sum = 0;
    for (unsigned w = 0; w < a->nworkers; w++)
        sum += fsa_worker_events_read(a->workers[w], instance, kind);
    return sum;
}

uint64_t fsa_agent_events_processed_total(const struct fsa_agent *a)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < a->cfg->ninstances; i++)
        for (unsigned k = 1; k < FSA_EV_KIND_COUNT; k++)
            sum += fsa_agent_events_processed(a, i, (enum fsa_event_kind)k);
    return sum;
}

unsigned fsa_agent_lane_occupancy(const struct fsa_agent *a)
{
    unsigned sum = 0;
    for (unsigned i = 0; i < a->nreactors * a->nworkers; i++)
        sum += fsa_lane_occupancy(&a->lanes[i]);
    return sum;
}

#define LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

size_t fsa_agent_calc_stats_json(const struct fsa_agent *a, char *out, size_t cap)
{
    struct fsa_calc_stats s;
    fsa_agent_calc_stats(a, &s);
    int n = snprintf(out, cap,
                     "{\"legs_active\":%llu,\"legs_created\":%llu,\"legs_ended\":%llu,\"legs_expired\":%llu,"
                     "\"legs_refused\":%llu,\"events_late\":%llu,\"messages_invalid\":%llu,\"rtcp_processed\":%llu,"
                     "\"legs_learnt\":%llu,\"rtcp_base_only\":%llu,\"labels\":{\"requested\":%llu,\"received\":%llu,"
                     "\"failed\":%llu,\"timeout\":%llu,\"unrequested\":%llu,\"parked\":%llu,\"park_full\":%llu},"
                     "\"legs_gone\":%llu,"
                     "\"qos_generated\":%llu,\"labels_full\":%llu,\"records\":{\"rtcp\":%llu,\"qos\":%llu,"
                     "\"leg_up\":%llu,\"leg_down\":%llu},\"records_dropped\":{\"rtcp\":%llu,\"qos\":%llu,"
                     "\"leg_up\":%llu,\"leg_down\":%llu},\"store\":{\"loads\":%llu,\"hits\":%llu,\"saves\":%llu,"
                     "\"deletes\":%llu,\"errors\":%llu,\"rounds\":%llu,\"deferred\":%llu,\"loads_timeout\":%llu,"
                     "\"loads_late\":%llu}}",
                     (unsigned long long)s.legs_active, (unsigned long long)s.legs_created,
                     (unsigned long long)s.legs_ended, (unsigned long long)s.legs_expired,
                     (unsigned long long)s.legs_refused, (unsigned long long)s.events_late,
                     (unsigned long long)s.messages_invalid, (unsigned long long)s.rtcp_processed,
                     (unsigned long long)s.legs_learnt, (unsigned long long)s.rtcp_base_only,
                     (unsigned long long)s.labels_requested, (unsigned long long)s.labels_received,
                     (unsigned long long)s.labels_failed, (unsigned long long)s.labels_timeout,
                     (unsigned long long)s.labels_unrequested, (unsigned long long)s.events_parked,
                     (unsigned long long)s.park_full, (unsigned long long)s.legs_gone,
                     (unsigned long long)s.qos_generated, (unsigned long long)s.labels_full,
                     (unsigned long long)s.records[FSA_REC_RTCP], (unsigned long long)s.records[FSA_REC_QOS],
                     (unsigned long long)s.records[FSA_REC_LEG_UP], (unsigned long long)s.records[FSA_REC_LEG_DOWN],
                     (unsigned long long)s.records_dropped[FSA_REC_RTCP],
                     (unsigned long long)s.records_dropped[FSA_REC_QOS],
                     (unsigned long long)s.records_dropped[FSA_REC_LEG_UP],
                     (unsigned long long)s.records_dropped[FSA_REC_LEG_DOWN], (unsigned long long)s.store_loads,
                     (unsigned long long)s.store_hits, (unsigned long long)s.store_saves,
                     (unsigned long long)s.store_deletes, (unsigned long long)s.store_errors,
                     (unsigned long long)s.store_rounds, (unsigned long long)s.store_deferred,
                     (unsigned long long)s.store_loads_timeout, (unsigned long long)s.store_loads_late);
    size_t len = n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
    struct fsa_store_redis_stats rs;
    if (fsa_agent_store_stats(a, &rs) && len > 0) {
        /* The Redis store's own books (a pipelined save that fails later shows only here). */
        len--; /* reopen the object */
        for (int op = 0; op < FSA_STORE_OP_COUNT; op++) {
            int w = snprintf(out + len, cap - len, "%s\"%s\":{\"ok\":%llu,\"error\":%llu,\"dropped\":%llu}",
                             op ? "," : ",\"redis\":{\"ops\":{", fsa_store_op_name((enum fsa_store_op)op),
                             (unsigned long long)rs.ops[op][FSA_STORE_RESULT_OK],
                             (unsigned long long)rs.ops[op][FSA_STORE_RESULT_ERROR],
                             (unsigned long long)rs.ops[op][FSA_STORE_RESULT_DROPPED]);
            len += w > 0 && (size_t)w < cap - len ? (size_t)w : 0;
        }
        int w = snprintf(out + len, cap - len,
                         "},\"load_hits\":%llu,\"connects\":%llu,\"connect_failures\":%llu,\"reconnects\":%llu,"
                         "\"pending\":%llu,\"failovers\":%llu,\"sentinel_failures\":%llu,\"unreadable\":%llu,"
                         "\"load_hits_old\":%llu,\"commands\":%llu,\"swept\":%llu,\"state\":\"%s\"}}",
                         (unsigned long long)rs.load_hits, (unsigned long long)rs.connects,
                         (unsigned long long)rs.connect_failures, (unsigned long long)rs.reconnects,
                         (unsigned long long)rs.pending, (unsigned long long)rs.failovers,
                         (unsigned long long)rs.sentinel_failures, (unsigned long long)rs.unreadable,
                         (unsigned long long)rs.load_hits_old, (unsigned long long)rs.commands,
                         (unsigned long long)rs.swept,
                         fsa_store_redis_state_name(rs.state));
        len += w > 0 && (size_t)w < cap - len ? (size_t)w : 0;
    }
    return len;
}

size_t fsa_agent_stats_json(const struct fsa_agent *a, char *out, size_t cap)
{
    size_t n = 0;
#define APPEND(...)                                                                                                    \
    do {                                                                                                               \
        if (n < cap) {                                                                                                 \
            int w_ = snprintf(out + n, cap - n, __VA_ARGS__);                                                          \
            n += w_ > 0 ? (size_t)w_ : 0;                                                                              \
        }                                                                                                              \
    } while (0)
    APPEND("{");
    for (unsigned i = 0; i < a->cfg->ninstances; i++) {
        const struct fsa_instance_stats *s = &a->stats[i];
        APPEND("%s\"%s\":{\"state\":\"%s\",\"bytes\":%llu,\"frames\":%llu,\"events_received\":%llu,"
               "\"heartbeats\":%llu,\"events_other\":%llu,\"sq_full\":%llu,\"dropped_ring_full\":%llu,"
               "\"decode_errors\":%llu,"
               "\"connects\":%llu,\"reconnects\":%llu,\"resync\":{\"lists\":%llu,\"channels\":%llu,\"dumps\":%llu,"
               "\"dumps_ok\":%llu,\"dumps_failed\":%llu,\"dumps_unsent\":%llu,\"dropped_ring_full\":%llu},"
               "\"published\":{",
               i ? "," : "", a->cfg->instances[i].name,
               fsa_conn_state_name((enum fsa_conn_state)atomic_load_explicit(&s->state, memory_order_relaxed)),
               LOAD(s->bytes_received), LOAD(s->frames_received), LOAD(s->events_received), LOAD(s->heartbeats),
               LOAD(s->events_other), LOAD(s->sq_full), LOAD(s->events_dropped_ring_full),
               LOAD(s->events_decode_errors),
               LOAD(s->connects), LOAD(s->reconnects), LOAD(s->resync_lists), LOAD(s->resync_channels),
               LOAD(s->resync_dumps), LOAD(s->resync_dumps_ok), LOAD(s->resync_dumps_failed),
               LOAD(s->resync_dumps_unsent), LOAD(s->resync_dropped_ring_full));
        for (unsigned k = 1; k < FSA_EV_KIND_COUNT; k++)
            APPEND("%s\"%s\":%llu", k > 1 ? "," : "", fsa_event_kind_name((enum fsa_event_kind)k),
                   LOAD(s->events_published[k]));
        APPEND("},\"processed\":{");
        for (unsigned k = 1; k < FSA_EV_KIND_COUNT; k++)
            APPEND("%s\"%s\":%llu", k > 1 ? "," : "", fsa_event_kind_name((enum fsa_event_kind)k),
                   (unsigned long long)fsa_agent_events_processed(a, i, (enum fsa_event_kind)k));
        APPEND("},\"faults\":{");
        bool first = true;
        for (unsigned f = 1; f < FSA_FAULT_COUNT; f++) {
            unsigned long long v = LOAD(s->faults[f]);
            if (!v)
                continue;
            APPEND("%s\"%s\":%llu", first ? "" : ",", fsa_fault_name((enum fsa_fault)f), v);
            first = false;
        }
        APPEND("}}");
    }
    APPEND("}");
#undef APPEND
    if (n >= cap) {
        /* Truncated JSON is worse than none: say so in a valid object. */
        snprintf(out, cap, "{\"truncated\":true}");
        n = strlen(out);
    }
    return n;
}
