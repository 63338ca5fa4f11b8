/*
 * Validation of ring/fsa_ring: a lane moves every slot exactly once, in
 * order, between two real threads; a full lane refuses instead of blocking;
 * the doorbell wakes a sleeping consumer. (Throughput: bench/ring_bench.c.)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "fsa_test.h"
#include "ring/fsa_ring.h"

struct item {
    uint64_t seq;
    uint64_t check;
};

#define ITEMS 2000000ull

struct shared {
    struct fsa_lane lane;
    struct fsa_doorbell bell;
    atomic_bool done;
    uint64_t full_hits;
    uint64_t received, order_errors, check_errors;
};

static void *producer(void *arg)
{
    struct shared *s = arg;
    for (uint64_t i = 0; i < ITEMS;) {
        struct item *it = fsa_lane_acquire_sp(&s->lane);
        if (!it) {
            s->full_hits++;
            fsa_doorbell_ring(&s->bell);
            continue;
        }
        it->seq = i;
        it->check = i * 0x9e3779b97f4a7c15ull;
        fsa_lane_publish_sp(&s->lane, it);
        if ((i & 63) == 0)
            fsa_doorbell_ring(&s->bell);
        i++;
    }
    fsa_doorbell_ring(&s->bell);
    return NULL;
}

static void *consumer(void *arg)
{
    struct shared *s = arg;
    uint64_t expect = 0;
    while (expect < ITEMS) {
        struct item *it = fsa_lane_pop_sc(&s->lane);
        if (!it) {
            unsigned token = fsa_doorbell_prepare(&s->bell);
            it = fsa_lane_pop_sc(&s->lane);
            if (!it) {
                fsa_doorbell_wait(&s->bell, token, 50);
                continue;
            }
            fsa_doorbell_cancel(&s->bell);
        }
        if (it->seq != expect)
            s->order_errors++;
        if (it->check != it->seq * 0x9e3779b97f4a7c15ull)
            s->check_errors++;
        expect = it->seq + 1;
        s->received++;
        fsa_lane_release_sc(&s->lane, it);
    }
    return NULL;
}

static void test_two_threads(void)
{
    struct shared s = {0};
    CHECK(fsa_lane_init(&s.lane, 64, sizeof(struct item)) == 0);
    fsa_doorbell_init(&s.bell);
    pthread_t p, c;
    pthread_create(&c, NULL, consumer, &s);
    pthread_create(&p, NULL, producer, &s);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    CHECK_EQ_U64(s.received, ITEMS);
    CHECK_EQ_U64(s.order_errors, 0);
    CHECK_EQ_U64(s.check_errors, 0);
    CHECK_EQ_U64(fsa_lane_occupancy(&s.lane), 0);
    fsa_lane_destroy(&s.lane);
}

static void test_full_lane_refuses(void)
{
    struct fsa_lane lane;
    CHECK(fsa_lane_init(&lane, 5, 100) == 0);
    CHECK_EQ_U64(lane.nslots, 8); /* rounded up to a power of two */
    CHECK_EQ_U64(lane.slot_size, 128); /* padded to whole cache lines */
    void *got[8];
    for (int i = 0; i < 8; i++) {
        got[i] = fsa_lane_acquire_sp(&lane);
        CHECK(got[i] != NULL);
        CHECK(((uintptr_t)got[i] % FSA_CACHELINE) == 0);
    }
    CHECK(fsa_lane_acquire_sp(&lane) == NULL); /* full: refused, not blocked */
    for (int i = 0; i < 8; i++)
        fsa_lane_publish_sp(&lane, got[i]);
    CHECK_EQ_U64(fsa_lane_occupancy(&lane), 8);
    void *first = fsa_lane_pop_sc(&lane);
    CHECK(first == got[0]);
    fsa_lane_release_sc(&lane, first);
    CHECK(fsa_lane_acquire_sp(&lane) == got[0]); /* the released slot comes back */
    fsa_lane_destroy(&lane);
    struct fsa_lane bad;
    CHECK(fsa_lane_init(&bad, 1, 100) < 0);
    CHECK(fsa_lane_init(&bad, 16, 0) < 0);
}

struct sleeper {
    struct fsa_doorbell bell;
    atomic_int woke;
    double waited_ms;
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    unsigned token = fsa_doorbell_prepare(&s->bell);
    fsa_doorbell_wait(&s->bell, token, 5000);
    clock_gettime(CLOCK_MONOTONIC, &b);
    s->waited_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    atomic_store(&s->woke, 1);
    return NULL;
}

static void test_doorbell_wakes(void)
{
    struct sleeper s = {0};
    fsa_doorbell_init(&s.bell);
    pthread_t t;
    pthread_create(&t, NULL, sleeper_main, &s);
    /* Ring only once the consumer says it sleeps: the wake must reach a real waiter. */
    while (!atomic_load(&s.bell.sleeping))
        sched_yield();
    fsa_doorbell_ring(&s.bell);
    pthread_join(t, NULL);
    CHECK(atomic_load(&s.woke) == 1);
    CHECK(s.waited_ms < 4000); /* woken, not timed out at 5000 */
}

int main(void)
{
    test_two_threads();
    test_full_lane_refuses();
    test_doorbell_wakes();
    return fsa_test_finish();
}
