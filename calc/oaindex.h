/*
 * oaindex: the open-addressing index under the leg table and the label
 * table. Linear probing over a power-of-two array of 8-byte slots; deletion
 * by backward shift, so there are no tombstones to build up and a probe never
 * walks further than the entries that are really there.
 *
 * A slot is 0 (empty) or (tag << 32 | (id + 1)): tag is the top 32 bits of
 * the key's fsa_hash64 and id indexes the owner's fixed pool of records, which
 * never move (pointers into the pool stay valid across deletes; only 8-byte
 * slots shift). The home position is the tag's top `bits` bits: the shard
 * rule (hash mod W) consumes the low bits, so a worker's keys share those and
 * the top bits are the ones still spread. Keeping the tag in the slot also
 * lets a backward shift find an entry's home without touching its record, and
 * rejects most non-matching slots without a key compare.
 *
 * Capacity: slots = a power of two >= 4/3 x the owner's maximum entry count,
 * so the load factor never exceeds 0.75; the owner refuses entries beyond
 * its maximum, so a probe always ends at an empty slot.
 *
 * Single-threaded: owned by one worker (callers' *_table_* naming says so).
 */
#ifndef FSA_OAINDEX_H
#define FSA_OAINDEX_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "bigmem.h"

#define FSA_OA_NONE UINT32_MAX
#define FSA_OA_MAX_ENTRIES (1u << 28) /* slots stay below 2^30: positions fit uint32, bits < 32 */

struct fsa_oa_index {
    uint64_t *slot;
    uint32_t mask;  /* nslots - 1 */
    uint32_t shift; /* 32 - bits: home = tag >> shift */
};

static inline uint32_t fsa_oa_tag(uint64_t hash)
{
    return (uint32_t)(hash >> 32);
}

static inline uint32_t fsa_oa_home(const struct fsa_oa_index *x, uint32_t tag)
{
    return tag >> x->shift;
}

static inline uint32_t fsa_oa_slot_id(uint64_t s)
{
    return (uint32_t)s - 1u;
}

static inline uint32_t fsa_oa_slot_tag(uint64_t s)
{
    return (uint32_t)(s >> 32);
}

/* Sizes the index for max_entries (1..FSA_OA_MAX_ENTRIES); 0 or -EINVAL / -ENOMEM. */
static inline int fsa_oa_init(struct fsa_oa_index *x, uint32_t max_entries)
{
    *x = (struct fsa_oa_index){0};
    if (max_entries == 0 || max_entries > FSA_OA_MAX_ENTRIES)
        return -EINVAL;
    uint64_t want = ((uint64_t)max_entries * 4 + 2) / 3; /* ceil(4/3 x max): load <= 0.75 */
    uint32_t bits = 3;
    while ((1ull << bits) < want)
        bits++;
    /* Untouched pages of a large index cost no memory until used; big ones get huge pages (bigmem.h). */
    x->slot = fsa_big_calloc((size_t)1 << bits, sizeof(*x->slot));
    if (!x->slot)
        return -ENOMEM;
    x->mask = (uint32_t)((1ull << bits) - 1);
    x->shift = 32 - bits;
    return 0;
}

static inline void fsa_oa_destroy(struct fsa_oa_index *x)
{
    if (x->slot)
        fsa_big_free(x->slot, (size_t)x->mask + 1, sizeof(*x->slot));
    x->slot = NULL;
}

static inline uint32_t fsa_oa_nslots(const struct fsa_oa_index *x)
{
    return x->mask + 1;
}

/*
 * Position of the slot whose id satisfies eq(ctx, id), or FSA_OA_NONE.
 * eq is only called for slots with the same tag.
 */
static inline uint32_t fsa_oa_find(const struct fsa_oa_index *x, uint32_t tag, bool (*eq)(const void *ctx, uint32_t id),
                                   const void *ctx)
{
    for (uint32_t i = fsa_oa_home(x, tag);; i = (i + 1) & x->mask) {
        uint64_t s = x->slot[i];
        if (s == 0)
            return FSA_OA_NONE;
        if (fsa_oa_slot_tag(s) == tag && eq(ctx, fsa_oa_slot_id(s)))
            return i;
    }
}

/* Position of exactly (tag, id), or FSA_OA_NONE: for removing an entry the caller holds. */
static inline uint32_t fsa_oa_find_id(const struct fsa_oa_index *x, uint32_t tag, uint32_t id)
{
    uint64_t want = (uint64_t)tag << 32 | (id + 1u);
    for (uint32_t i = fsa_oa_home(x, tag);; i = (i + 1) & x->mask) {
        uint64_t s = x->slot[i];
        if (s == 0)
            return FSA_OA_NONE;
        if (s == want)
            return i;
    }
}

/* Stores (tag, id) at the first empty slot from its home. The caller guarantees room. */
static inline uint32_t fsa_oa_insert(struct fsa_oa_index *x, uint32_t tag, uint32_t id)
{
    uint32_t i = fsa_oa_home(x, tag);
    while (x->slot[i] != 0)
        i = (i + 1) & x->mask;
    x->slot[i] = (uint64_t)tag << 32 | (id + 1u);
    return i;
}

/*
 * Empties slot pos and pulls later entries of its probe run back, so every
 * entry stays reachable from its home without crossing an empty slot (the
 * linear-probing invariant). An entry at j may fill the hole at i only if its
 * home h is not cyclically in (i, j]: otherwise moving it before its home
 * would hide it.
 */
static inline void fsa_oa_delete_at(struct fsa_oa_index *x, uint32_t pos)
{
    uint32_t i = pos, j = pos;
    for (;;) {
        j = (j + 1) & x->mask;
        uint64_t s = x->slot[j];
        if (s == 0)
            break;
        uint32_t h = fsa_oa_home(x, fsa_oa_slot_tag(s));
        /* distance from i to h and to j, going forward: h in (i, j] iff 0 < d(i,h) <= d(i,j) */
        uint32_t dh = (h - i) & x->mask, dj = (j - i) & x->mask;
        if (dh == 0 || dh > dj) {
            x->slot[i] = s;
            i = j;
        }
    }
    x->slot[i] = 0;
}

#endif
