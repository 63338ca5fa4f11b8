/*
 * labels: a worker's table of interned label strings (domain and codec names).
 *
 * Why: domain_name and codec_name are the bounded-aggregate attributes of the
 * contract, so their values are few, and every leg needs two of each (the
 * current value and the one its LEG_UP was counted under). Interning them
 * costs a leg 2 bytes per reference instead of up to 96, keeps the leg record
 * in 256 bytes, and keeps domains whole (FSA_DOMAIN_MAX - 1 bytes) instead of
 * truncated.
 *
 * Ids: 0 is the empty string and is never counted; 1..capacity are entries
 * with a reference count, freed (backward shift in the index, id back on a
 * free stack) when it drops to 0. Capacity is fixed at creation; when full
 * (an attacker inventing From hosts), a new string gets id 0 and `full` is
 * counted: the leg's label is then empty, nothing crashes, nothing grows.
 *
 * Memory: one 104-byte entry per capacity plus the 8-byte index slots,
 * allocated at creation with calloc and touched only as strings are used.
 *
 * Thread contract: fsa_labels_* only from the owning worker thread.
 */
#ifndef FSA_LABELS_H
#define FSA_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "oaindex.h"
#include "ring/fsa_msg.h"

#define FSA_LABEL_MAX FSA_DOMAIN_MAX   /* longest label kept, with its NUL (domain 95 bytes, codec 15) */
#define FSA_LABELS_MAX_CAPACITY 65535u /* ids are uint16_t */

struct fsa_label_entry {
    uint32_t refs; /* 0: free */
    uint32_t tag;  /* fsa_oa_tag of the string's hash, to find its slot on release */
    char s[FSA_LABEL_MAX];
};

struct fsa_labels {
    struct fsa_oa_index ix;
    struct fsa_label_entry *e; /* [0] is the empty string; [1..cap] entries */
    uint16_t *free_ids;        /* stack of released ids */
    uint32_t nfree;
    uint32_t high; /* ids 1..high have been used at least once */
    uint32_t cap;
    uint32_t count; /* live entries */
    uint64_t full;  /* intern calls refused for lack of room */
};

/* capacity 1..FSA_LABELS_MAX_CAPACITY; 0 or -EINVAL / -ENOMEM. */
int fsa_labels_init(struct fsa_labels *t, uint32_t capacity);
void fsa_labels_destroy(struct fsa_labels *t);

/*
 * Id of s[0..n) with one more reference (n is cut to FSA_LABEL_MAX - 1 and at
 * a NUL). Returns 0 for an empty string or when the table is full.
 */
uint16_t fsa_labels_intern(struct fsa_labels *t, const char *s, size_t n);
/* One more reference to an id already held (0 is a no-op). */
void fsa_labels_ref(struct fsa_labels *t, uint16_t id);
/* Drops a reference (0 is a no-op); the entry is freed at zero. */
void fsa_labels_release(struct fsa_labels *t, uint16_t id);

/* The NUL-terminated string of an id ("" for 0 or an id not in use). */
static inline const char *fsa_labels_str(const struct fsa_labels *t, uint16_t id)
{
    return id && id <= t->cap && t->e[id].refs ? t->e[id].s : "";
}

#endif
