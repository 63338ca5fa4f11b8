/*
 * labels: interned label strings with reference counts (see labels.h for why).
 * Same index as the leg table (oaindex.h); entries never move, so an id is
 * stable for as long as someone holds a reference.
 */
#include "labels.h"

#include <string.h>

#include "ring/fsa_str.h"

int fsa_labels_init(struct fsa_labels *t, uint32_t capacity)
{
    memset(t, 0, sizeof(*t));
    if (capacity == 0 || capacity > FSA_LABELS_MAX_CAPACITY)
        return -EINVAL;
    int rc = fsa_oa_init(&t->ix, capacity);
    if (rc < 0)
        return rc;
    t->e = calloc((size_t)capacity + 1, sizeof(*t->e));
    t->free_ids = calloc(capacity, sizeof(*t->free_ids));
    if (!t->e || !t->free_ids) {
        fsa_labels_destroy(t);
        return -ENOMEM;
    }
    t->cap = capacity;
    return 0;
}

void fsa_labels_destroy(struct fsa_labels *t)
{
    fsa_oa_destroy(&t->ix);
    free(t->e);
    free(t->free_ids);
    t->e = NULL;
    t->free_ids = NULL;
}

struct key {
    const struct fsa_labels *t;
    const char *s;
    size_t n;
};

static bool key_eq(const void *ctx, uint32_t id)
{
    const struct key *k = ctx;
    const char *s = k->t->e[id].s;
    return memcmp(s, k->s, k->n) == 0 && s[k->n] == '\0';
}

uint16_t fsa_labels_intern(struct fsa_labels *t, const char *s, size_t n)
{
    if (!s)
        return 0;
    const char *nul = memchr(s, '\0', n);
    if (nul)
        n = (size_t)(nul - s);
    if (n > FSA_LABEL_MAX - 1)
        n = FSA_LABEL_MAX - 1;
    if (n == 0)
        return 0;
    uint32_t tag = fsa_oa_tag(fsa_hash64(s, n));
    struct key k = {t, s, n};
    uint32_t pos = fsa_oa_find(&t->ix, tag, key_eq, &k);
    if (pos != FSA_OA_NONE) {
        uint32_t id = fsa_oa_slot_id(t->ix.slot[pos]);
        t->e[id].refs++; /* cannot overflow: at most 4 references per leg, legs < 2^28 */
        return (uint16_t)id;
    }
    uint32_t id;
    if (t->nfree)
        id = t->free_ids[--t->nfree];
    else if (t->high < t->cap)
        id = ++t->high;
    else {
        t->full++;
        return 0;
    }
    struct fsa_label_entry *e = &t->e[id];
    e->refs = 1;
    e->tag = tag;
    memcpy(e->s, s, n);
    e->s[n] = '\0';
    fsa_oa_insert(&t->ix, tag, id);
    t->count++;
    return (uint16_t)id;
}

void fsa_labels_ref(struct fsa_labels *t, uint16_t id)
{
    if (id && id <= t->cap && t->e[id].refs)
        t->e[id].refs++;
}

void fsa_labels_release(struct fsa_labels *t, uint16_t id)
{
    if (!id || id > t->cap || !t->e[id].refs)
        return;
    struct fsa_label_entry *e = &t->e[id];
    if (--e->refs)
        return;
    uint32_t pos = fsa_oa_find_id(&t->ix, e->tag, id);
    if (pos != FSA_OA_NONE)
        fsa_oa_delete_at(&t->ix, pos);
    e->s[0] = '\0';
    t->free_ids[t->nfree++] = id;
    t->count--;
}
