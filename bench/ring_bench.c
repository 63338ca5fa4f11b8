/*
 * ring_bench: throughput of one fsa_lane between two pinned threads, with
 * slots the size of a fsa_event_msg, the producer copying an RTCP-sized
 * message in (as a reactor does) and the consumer reading it. Validation of
 * the same structure: tests/unit/test_ring.c.
 */

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring/fsa_msg.h"
#include "ring/fsa_ring.h"

#define MESSAGES 20000000ull

static struct fsa_lane lane;
static struct fsa_doorbell bell;
static unsigned long long full_hits;

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

static void *producer(void *arg)
{
    (void)arg;
    pin(0);
    struct fsa_event_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = FSA_EV_RECV_RTCP;
    for (unsigned long long i = 0; i < MESSAGES;) {
        struct fsa_event_msg *slot = fsa_lane_acquire_sp(&lane);
        if (!slot) {
            full_hits++;
            fsa_doorbell_ring(&bell);
            continue;
        }
        m.event_seq = i++;
        memcpy(slot, &m, fsa_event_msg_used_size(&m));
        fsa_lane_publish_sp(&lane, slot);
        if ((i & 255) == 0)
            fsa_doorbell_ring(&bell);
    }
    fsa_doorbell_ring(&bell);
    return NULL;
}

static void *consumer(void *arg)
{
    unsigned long long *sum = arg;
    pin(1);
    for (unsigned long long got = 0; got < MESSAGES;) {
        struct fsa_event_msg *m = fsa_lane_pop_sc(&lane);
        if (!m) {
            unsigned token = fsa_doorbell_prepare(&bell);
            if ((m = fsa_lane_pop_sc(&lane)) == NULL) {
                fsa_doorbell_wait(&bell, token, 10);
                continue;
            }
            fsa_doorbell_cancel(&bell);
        }
        *sum += m->event_seq;
        got++;
        fsa_lane_release_sc(&lane, m);
    }
    return NULL;
}

int main(void)
{
    if (fsa_lane_init(&lane, 8192, sizeof(struct fsa_event_msg)) != 0)
        return 1;
    fsa_doorbell_init(&bell);
    unsigned long long sum = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_t p, c;
    pthread_create(&c, NULL, consumer, &sum);
    pthread_create(&p, NULL, producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("ring_bench: %llu messages of %zu bytes (slot %zu) in %.3f s: %.1f M msg/s, lane full %llu times%s\n",
           MESSAGES, sizeof(struct fsa_event_msg), lane.slot_size, s, MESSAGES / s / 1e6, full_hits,
           sum == MESSAGES * (MESSAGES - 1) / 2 ? "" : " CHECKSUM MISMATCH");
    fsa_lane_destroy(&lane);
    return sum == MESSAGES * (MESSAGES - 1) / 2 ? 0 : 1;
}
