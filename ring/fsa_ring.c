/*
 * Lanes and doorbells: see fsa_ring.h for the contract.
 */
#include "fsa_ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static unsigned round_up_pow2(unsigned v)
{
    unsigned p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

int fsa_lane_init(struct fsa_lane *lane, unsigned nslots, size_t slot_size)
{
    memset(lane, 0, sizeof(*lane));
    if (nslots < 2 || nslots > (1u << 24) || slot_size == 0)
        return -EINVAL;
    nslots = round_up_pow2(nslots);
    /* A ck_ring of size S holds S-1 entries: twice the pool always fits. */
    unsigned ring_size = nslots * 2;
    size_t stride = (slot_size + FSA_CACHELINE - 1) & ~(size_t)(FSA_CACHELINE - 1);

    lane->slots = aligned_alloc(FSA_CACHELINE, stride * nslots);
    lane->full_buf = calloc(ring_size, sizeof(ck_ring_buffer_t));
    lane->free_buf = calloc(ring_size, sizeof(ck_ring_buffer_t));
    if (!lane->slots || !lane->full_buf || !lane->free_buf) {
        fsa_lane_destroy(lane);
        return -ENOMEM;
    }
    memset(lane->slots, 0, stride * nslots);
    lane->slot_size = stride;
    lane->nslots = nslots;
    ck_ring_init(&lane->full, ring_size);
    ck_ring_init(&lane->free, ring_size);
    for (unsigned i = 0; i < nslots; i++)
        (void)ck_ring_enqueue_spsc(&lane->free, lane->free_buf, (char *)lane->slots + (size_t)i * stride);
    return 0;
}

void fsa_lane_destroy(struct fsa_lane *lane)
{
    free(lane->slots);
    free(lane->full_buf);
    free(lane->free_buf);
    lane->slots = NULL;
    lane->full_buf = lane->free_buf = NULL;
}

unsigned fsa_lane_occupancy(const struct fsa_lane *lane)
{
    return ck_ring_size(&lane->full);
}

/*
 * StoreLoad barrier. GCC's TSan does not model atomic_thread_fence (and warns
 * about it): there a seq_cst read-modify-write of the flag gives it the same
 * ordering to see.
 */
static inline void full_fence(atomic_uint *flag)
{
#if defined(__SANITIZE_THREAD__)
    (void)atomic_fetch_add_explicit(flag, 0, memory_order_seq_cst);
#else
    (void)flag;
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

static long futex(atomic_uint *addr, int op, unsigned val, const struct timespec *ts)
{
    return syscall(SYS_futex, (unsigned *)addr, op, val, ts, NULL, 0);
}

void fsa_doorbell_init(struct fsa_doorbell *bell)
{
    atomic_init(&bell->sleeping, 0);
    atomic_init(&bell->seq, 0);
}

void fsa_doorbell_ring(struct fsa_doorbell *bell)
{
    /* Pairs with the seq_cst store in prepare: either we see sleeping=1, or the consumer sees our publish. */
    full_fence(&bell->sleeping);
    if (atomic_load_explicit(&bell->sleeping, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&bell->seq, 1, memory_order_release);
        futex(&bell->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
    }
}

unsigned fsa_doorbell_prepare(struct fsa_doorbell *bell)
{
    unsigned token = atomic_load_explicit(&bell->seq, memory_order_acquire);
    atomic_store_explicit(&bell->sleeping, 1, memory_order_seq_cst);
    full_fence(&bell->sleeping);
    return token;
}

void fsa_doorbell_wait(struct fsa_doorbell *bell, unsigned token, unsigned timeout_ms)
{
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L};
    futex(&bell->seq, FUTEX_WAIT_PRIVATE, token, &ts);
    atomic_store_explicit(&bell->sleeping, 0, memory_order_relaxed);
}

void fsa_doorbell_cancel(struct fsa_doorbell *bell)
{
    atomic_store_explicit(&bell->sleeping, 0, memory_order_relaxed);
}
