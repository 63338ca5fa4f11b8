/*
 * fsa_ring: the only way data crosses threads in fsagent.
 *
 * A fsa_lane joins exactly one producer thread to one consumer thread. It owns
 * a fixed pool of message slots and two ck_ring SPSC pointer rings:
 *   free ring  consumer -> producer   empty slots
 *   full ring  producer -> consumer   filled slots, in order
 * The producer takes a slot from the free ring (none left: the lane is full,
 * the caller drops and counts), fills it in place and publishes it; the
 * consumer pops it, reads it, and releases it back. Nothing is allocated
 * after fsa_lane_init(), nothing blocks, and only pointers move through
 * ck_ring, as Concurrency Kit is fastest at.
 *
 * A fsa_doorbell lets an idle consumer sleep without polling: the consumer
 * announces it is going to sleep, re-checks its lanes, then waits on a futex;
 * producers ring it after a batch of publishes, paying one atomic load when
 * the consumer is awake.
 *
 * Thread contract is in the names: *_sp callable only by the lane's single
 * producer, *_sc only by its single consumer.
 */
#ifndef FSA_RING_H
#define FSA_RING_H

#include <ck_ring.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSA_CACHELINE 64

/*
 * TSan cannot see Concurrency Kit's inline-assembly atomics. Tell it about
 * the one happens-before edge a lane provides (publish -> pop, release ->
 * acquire), so it still checks everything else the threads touch.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define FSA_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define FSA_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define FSA_TSAN_RELEASE(addr) ((void)0)
#define FSA_TSAN_ACQUIRE(addr) ((void)0)
#endif

#define FSA_LANE_SPARE 16 /* free slots the producer takes from the free ring at a time */

struct fsa_lane {
    /* producer side */
    _Alignas(FSA_CACHELINE) ck_ring_t full;
    ck_ring_buffer_t *full_buf;
    /*
     * Free slots the producer holds: taken from the free ring FSA_LANE_SPARE
     * at a time, so the consumer's index line crosses cores once per batch
     * rather than once per message. Counted as free: they are no one's.
     */
    unsigned nspare, next_spare; /* spare[next_spare .. nspare) are still to hand out, in ring order */
    void *spare[FSA_LANE_SPARE];
    /* consumer side */
    _Alignas(FSA_CACHELINE) ck_ring_t free;
    ck_ring_buffer_t *free_buf;
    /* immutable after init */
    _Alignas(FSA_CACHELINE) void *slots;
    size_t slot_size;
    unsigned nslots;
};

/* nslots is rounded up to a power of two; returns 0 or -ENOMEM / -EINVAL. */
int fsa_lane_init(struct fsa_lane *lane, unsigned nslots, size_t slot_size);
void fsa_lane_destroy(struct fsa_lane *lane);

static inline void *fsa_lane_acquire_sp(struct fsa_lane *lane)
{
    if (lane->next_spare == lane->nspare) {
        void *slot;
        lane->nspare = lane->next_spare = 0;
        while (lane->nspare < FSA_LANE_SPARE && ck_ring_dequeue_spsc(&lane->free, lane->free_buf, &slot))
            lane->spare[lane->nspare++] = slot;
        if (lane->nspare == 0)
            return NULL;
        FSA_TSAN_ACQUIRE(&lane->free);
    }
    return lane->spare[lane->next_spare++];
}

static inline void fsa_lane_publish_sp(struct fsa_lane *lane, void *slot)
{
    /* Cannot fail: the full ring holds every slot the pool has. */
    FSA_TSAN_RELEASE(&lane->full);
    (void)ck_ring_enqueue_spsc(&lane->full, lane->full_buf, slot);
}

static inline void *fsa_lane_pop_sc(struct fsa_lane *lane)
{
    void *slot;
    if (!ck_ring_dequeue_spsc(&lane->full, lane->full_buf, &slot))
        return NULL;
    FSA_TSAN_ACQUIRE(&lane->full);
    return slot;
}

static inline void fsa_lane_release_sc(struct fsa_lane *lane, void *slot)
{
    FSA_TSAN_RELEASE(&lane->free);
    (void)ck_ring_enqueue_spsc(&lane->free, lane->free_buf, slot);
}

/* Filled slots waiting; any thread may read it as an occupancy estimate. */
unsigned fsa_lane_occupancy(const struct fsa_lane *lane);

struct fsa_doorbell {
    _Alignas(FSA_CACHELINE) atomic_uint sleeping;
    atomic_uint seq;
};

void fsa_doorbell_init(struct fsa_doorbell *bell);
/* Producer: wake the consumer if it sleeps. Cheap when it does not. */
void fsa_doorbell_ring(struct fsa_doorbell *bell);
/* Consumer: step 1, announce; returns a token for step 3. */
unsigned fsa_doorbell_prepare(struct fsa_doorbell *bell);
/* Consumer: step 3 (after re-checking its lanes were empty), wait up to timeout_ms. */
void fsa_doorbell_wait(struct fsa_doorbell *bell, unsigned token, unsigned timeout_ms);
/* Consumer: it found work after prepare and will not wait. */
void fsa_doorbell_cancel(struct fsa_doorbell *bell);

#endif
