/*
 * legs: the leg table (pool of fixed records + open-addressing index).
 * The life cycle of what is stored here is in calc.c; this file only keeps
 * records findable, bounded and free of tombstones (see legs.h, oaindex.h).
 */
#include "legs.h"

#include <string.h>

#include "ring/fsa_str.h"

struct fsa_leg_key fsa_leg_key_make(uint16_t instance, const char *uuid, size_t n)
{
    return (struct fsa_leg_key){.uuid = uuid, .n = n, .instance = instance, .hash = fsa_hash64(uuid, n)};
}

int fsa_leg_table_init(struct fsa_leg_table *t, uint32_t max_legs)
{
    memset(t, 0, sizeof(*t));
    int rc = fsa_oa_init(&t->ix, max_legs);
    if (rc < 0)
        return rc;
    t->legs = fsa_big_calloc(max_legs, sizeof(*t->legs));
    t->free_ids = calloc(max_legs, sizeof(*t->free_ids));
    t->max = max_legs; /* before any failure: destroy frees the records by it */
    if (!t->legs || !t->free_ids) {
        fsa_leg_table_destroy(t);
        return -ENOMEM;
    }
    return 0;
}

void fsa_leg_table_destroy(struct fsa_leg_table *t)
{
    fsa_oa_destroy(&t->ix);
    fsa_big_free(t->legs, t->max, sizeof(*t->legs));
    free(t->free_ids);
    t->legs = NULL;
    t->free_ids = NULL;
}

struct eq_ctx {
    const struct fsa_leg_table *t;
    const struct fsa_leg_key *k;
};

static bool leg_eq(const void *ctx, uint32_t id)
{
    const struct eq_ctx *c = ctx;
    const struct fsa_leg *l = &c->t->legs[id];
    return l->uuid_len == c->k->n && l->instance == c->k->instance && memcmp(l->uuid, c->k->uuid, c->k->n) == 0;
}

struct fsa_leg *fsa_leg_table_find(const struct fsa_leg_table *t, const struct fsa_leg_key *k)
{
    if (k->n == 0 || k->n >= FSA_UUID_MAX || t->count == 0)
        return NULL;
    struct eq_ctx c = {t, k};
    uint32_t pos = fsa_oa_find(&t->ix, fsa_oa_tag(k->hash), leg_eq, &c);
    return pos == FSA_OA_NONE ? NULL : &t->legs[fsa_oa_slot_id(t->ix.slot[pos])];
}

struct fsa_leg *fsa_leg_table_insert(struct fsa_leg_table *t, const struct fsa_leg_key *k)
{
    if (k->n == 0 || k->n >= FSA_UUID_MAX)
        return NULL;
    uint32_t id;
    if (t->nfree)
        id = t->free_ids[--t->nfree];
    else if (t->high < t->max)
        id = t->high++;
    else
        return NULL;
    struct fsa_leg *l = &t->legs[id];
    memset(l, 0, sizeof(*l));
    memcpy(l->uuid, k->uuid, k->n);
    l->uuid[k->n] = '\0';
    l->uuid_len = (uint8_t)k->n;
    l->instance = k->instance;
    fsa_oa_insert(&t->ix, fsa_oa_tag(k->hash), id);
    t->count++;
    return l;
}

void fsa_leg_table_remove(struct fsa_leg_table *t, struct fsa_leg *leg)
{
    if (!leg || leg->uuid_len == 0)
        return;
    uint32_t id = (uint32_t)(leg - t->legs);
    uint32_t pos = fsa_oa_find_id(&t->ix, fsa_oa_tag(fsa_hash64(leg->uuid, leg->uuid_len)), id);
    if (pos != FSA_OA_NONE)
        fsa_oa_delete_at(&t->ix, pos);
    leg->uuid_len = 0; /* free: the stale walk skips it */
    leg->uuid[0] = '\0';
    t->free_ids[t->nfree++] = id;
    t->count--;
}

struct fsa_leg *fsa_leg_table_next_stale(struct fsa_leg_table *t, uint64_t now_ns, uint64_t ttl_ns, unsigned *budget)
{
    while (*budget && t->count) {
        (*budget)--;
        if (t->sweep_pos >= t->high)
            t->sweep_pos = 0;
        struct fsa_leg *l = &t->legs[t->sweep_pos++];
        if (l->uuid_len && now_ns > l->last_seen_ns && now_ns - l->last_seen_ns >= ttl_ns)
            return l;
    }
    return NULL;
}
