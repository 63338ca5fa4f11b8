/*
 * Validation of the leg table (calc/legs.c), its open-addressing index with
 * backward-shift deletion (calc/oaindex.h) and the label table
 * (calc/labels.c): against a plain reference model under 10^5 random
 * operations, with the linear-probing invariant checked as it goes; the
 * capacity bound; the stale walk that drives TTL expiry.
 */
#include <stdbool.h>

#include "calc/labels.h"
#include "calc/legs.h"
#include "calc/oaindex.h"
#include "fsa_test.h"

/* xorshift64*: reproducible randomness without libc's rand() state. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/*
 * The invariant that makes lookups correct: every entry sits at its home or
 * after it with no empty slot in between (cyclically), and nothing else is
 * in the index (no tombstones: every non-empty slot is a live entry).
 * Returns the number of entries, or -1 on a violation.
 */
static long index_check(const struct fsa_oa_index *x)
{
    long n = 0;
    for (uint32_t i = 0; i <= x->mask; i++) {
        uint64_t s = x->slot[i];
        if (!s)
            continue;
        n++;
        for (uint32_t j = fsa_oa_home(x, fsa_oa_slot_tag(s)); j != i; j = (j + 1) & x->mask)
            if (!x->slot[j])
                return -1;
    }
    return n;
}

/* ---- oaindex alone, with crafted tags: heavy clustering and wrap-around ------------------------------------ */

#define OA_IDS 96

static bool id_eq(const void *ctx, uint32_t id)
{
    return *(const uint32_t *)ctx == id;
}

static void oa_backward_shift_random(void)
{
    struct fsa_oa_index x;
    CHECK(fsa_oa_init(&x, OA_IDS) == 0); /* 96 x 4/3 = 128 slots: load factor 0.75 when full */
    CHECK_EQ_U64(fsa_oa_nslots(&x), 128);
    uint32_t tag[OA_IDS];
    bool in[OA_IDS] = {false};
    unsigned count = 0, bad = 0, invariant_bad = 0;
    /* Homes drawn from 4 values, two of them at the end of the array: long runs that wrap. */
    static const uint32_t homes[] = {0, 1, 126, 127};
    for (uint32_t i = 0; i < OA_IDS; i++)
        tag[i] = homes[i % 4] << x.shift | (uint32_t)(rnd() & ((1u << x.shift) - 1));
    for (long op = 0; op < 100000; op++) {
        uint32_t id = (uint32_t)(rnd() % OA_IDS);
        uint32_t pos = fsa_oa_find(&x, tag[id], id_eq, &id);
        if ((pos != FSA_OA_NONE) != in[id])
            bad++;
        if (in[id]) {
            if (pos != FSA_OA_NONE && fsa_oa_find_id(&x, tag[id], id) != pos)
                bad++;
            fsa_oa_delete_at(&x, pos);
            in[id] = false;
            count--;
        } else {
            fsa_oa_insert(&x, tag[id], id);
            in[id] = true;
            count++;
        }
        if (op % 97 == 0 && index_check(&x) != (long)count)
            invariant_bad++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(invariant_bad, 0);
    for (uint32_t id = 0; id < OA_IDS; id++)
        if (in[id])
            fsa_oa_delete_at(&x, fsa_oa_find_id(&x, tag[id], id));
    CHECK_EQ_I64(index_check(&x), 0); /* all slots empty again: nothing left behind */
    fsa_oa_destroy(&x);
}

/* ---- leg table against a reference model ------------------------------------------------------------------- */

#define NKEYS 300
#define MAX_LEGS 96

static char keys[NKEYS][FSA_UUID_MAX];

static void make_keys(void)
{
    for (int i = 0; i < NKEYS; i++) /* FreeSWITCH-shaped Unique-IDs, and some short odd ones */
        if (i % 10 == 9)
            snprintf(keys[i], sizeof(keys[i]), "x%d", i);
        else
            snprintf(keys[i], sizeof(keys[i]), "%08x-%04x-4%03x-9%03x-%012llx", (unsigned)rnd(),
                     (unsigned)(rnd() & 0xffff), (unsigned)(rnd() & 0xfff), (unsigned)(rnd() & 0xfff),
                     (unsigned long long)(rnd() & 0xffffffffffffull));
}

static struct fsa_leg_key key_of(int i, uint16_t instance)
{
    return fsa_leg_key_make(instance, keys[i], strlen(keys[i]));
}

static void legs_random_ops_against_reference(void)
{
    struct fsa_leg_table t;
    CHECK(fsa_leg_table_init(&t, MAX_LEGS) == 0);
    /* Reference: which (key, instance) pairs are in, and the value we stored in each. */
    bool in[NKEYS][2] = {{false}};
    uint64_t val[NKEYS][2] = {{0}};
    unsigned count = 0, bad_find = 0, bad_refuse = 0, bad_value = 0, invariant_bad = 0, refused = 0;
    for (long op = 0; op < 100000; op++) {
        int i = (int)(rnd() % NKEYS);
        uint16_t inst = (uint16_t)(rnd() & 1); /* same Unique-ID on two instances: two legs */
        struct fsa_leg_key k = key_of(i, inst);
        struct fsa_leg *l = fsa_leg_table_find(&t, &k);
        if ((l != NULL) != in[i][inst]) {
            bad_find++;
            continue;
        }
        if (l && (l->created_us != val[i][inst] || l->instance != inst || strcmp(l->uuid, keys[i]) != 0))
            bad_value++;
        unsigned r = (unsigned)(rnd() % 3);
        if (l && r == 0) {
            fsa_leg_table_remove(&t, l);
            in[i][inst] = false;
            count--;
        } else if (!l && r != 0) {
            l = fsa_leg_table_insert(&t, &k);
            if (count == MAX_LEGS) {
                if (l)
                    bad_refuse++;
                refused++;
            } else if (!l) {
                bad_refuse++;
            } else {
                l->created_us = val[i][inst] = rnd();
                in[i][inst] = true;
                count++;
            }
        }
        if (fsa_leg_table_count(&t) != count)
            bad_find++;
        if (op % 101 == 0 && index_check(&t.ix) != (long)count)
            invariant_bad++;
    }
    CHECK_EQ_U64(bad_find, 0);
    CHECK_EQ_U64(bad_value, 0);
    CHECK_EQ_U64(bad_refuse, 0);
    CHECK_EQ_U64(invariant_bad, 0);
    CHECK(refused > 0); /* the mix does reach the bound */
    /* Every key the model has is found, and removing them all leaves an empty index. */
    for (int i = 0; i < NKEYS; i++)
        for (uint16_t inst = 0; inst < 2; inst++) {
            struct fsa_leg_key k = key_of(i, inst);
            struct fsa_leg *l = fsa_leg_table_find(&t, &k);
            CHECK((l != NULL) == in[i][inst]);
            if (l)
                fsa_leg_table_remove(&t, l);
        }
    CHECK_EQ_U64(fsa_leg_table_count(&t), 0);
    CHECK_EQ_I64(index_check(&t.ix), 0);
    fsa_leg_table_destroy(&t);
}

/* ---- capacity and key bounds ------------------------------------------------------------------------------- */

static void legs_capacity_refusal(void)
{
    struct fsa_leg_table t;
    CHECK(fsa_leg_table_init(&t, 5) == 0);
    CHECK_EQ_U64(fsa_oa_nslots(&t.ix), 8); /* 5 x 4/3 = 6.67 -> 8: load 0.625 at most */
    for (int i = 0; i < 5; i++) {
        struct fsa_leg_key k = key_of(i, 0);
        CHECK(fsa_leg_table_insert(&t, &k) != NULL);
    }
    struct fsa_leg_key k5 = key_of(5, 0);
    CHECK(fsa_leg_table_insert(&t, &k5) == NULL); /* refused, not crashed */
    CHECK(fsa_leg_table_find(&t, &k5) == NULL);
    CHECK_EQ_U64(fsa_leg_table_count(&t), 5);
    /* Freeing one makes room again, and the pool record is reused. */
    struct fsa_leg_key k2 = key_of(2, 0);
    struct fsa_leg *l2 = fsa_leg_table_find(&t, &k2);
    fsa_leg_table_remove(&t, l2);
    struct fsa_leg *l5 = fsa_leg_table_insert(&t, &k5);
    CHECK(l5 == l2);
    CHECK_STR(l5->uuid, keys[5]);
    CHECK(fsa_leg_table_find(&t, &k2) == NULL);

    /* Key length bounds: empty and >= FSA_UUID_MAX are refused, 47 bytes is kept whole. */
    char longest[FSA_UUID_MAX + 8];
    memset(longest, 'a', sizeof(longest));
    struct fsa_leg_key bad = fsa_leg_key_make(0, longest, FSA_UUID_MAX);
    struct fsa_leg_key empty = fsa_leg_key_make(0, longest, 0);
    fsa_leg_table_remove(&t, l5);
    CHECK(fsa_leg_table_insert(&t, &bad) == NULL);
    CHECK(fsa_leg_table_insert(&t, &empty) == NULL);
    struct fsa_leg_key ok = fsa_leg_key_make(0, longest, FSA_UUID_MAX - 1);
    struct fsa_leg *l = fsa_leg_table_insert(&t, &ok);
    CHECK(l && l->uuid_len == FSA_UUID_MAX - 1 && l->uuid[FSA_UUID_MAX - 1] == '\0');
    CHECK(fsa_leg_table_find(&t, &ok) == l);

    fsa_leg_table_destroy(&t);
    struct fsa_leg_table bad_t;
    CHECK(fsa_leg_table_init(&bad_t, 0) == -EINVAL);
    CHECK(fsa_leg_table_init(&bad_t, FSA_OA_MAX_ENTRIES + 1) == -EINVAL);
}

/* ---- the stale walk (TTL expiry) --------------------------------------------------------------------------- */

static void legs_ttl_stale_walk(void)
{
    struct fsa_leg_table t;
    CHECK(fsa_leg_table_init(&t, 16) == 0);
    const uint64_t ttl = 1000;
    /* 10 legs last seen at times 0, 100, ..., 900. */
    for (int i = 0; i < 10; i++) {
        struct fsa_leg_key k = key_of(i, 0);
        fsa_leg_table_insert(&t, &k)->last_seen_ns = (uint64_t)i * 100;
    }
    /* now = 1350: legs seen at <= 350 are >= 1000 old: 0, 100, 200, 300 (4 legs). */
    unsigned budget = 3, found = 0;
    while (fsa_leg_table_next_stale(&t, 1350, ttl, &budget))
        found++;
    CHECK_EQ_U64(budget, 0); /* bounded: looked at 3 records only */
    CHECK_EQ_U64(found, 3);  /* records 0, 1, 2 */
    unsigned expired = 0;
    budget = 100;
    struct fsa_leg *l;
    while ((l = fsa_leg_table_next_stale(&t, 1350, ttl, &budget))) {
        CHECK(l->last_seen_ns <= 350);
        fsa_leg_table_remove(&t, l);
        expired++;
    }
    CHECK_EQ_U64(expired, 4); /* wrapped around: 3 (left from before), then 0, 1, 2 */
    CHECK_EQ_U64(fsa_leg_table_count(&t), 6);
    /* A clock fed out of order (last_seen in the future) is age 0, never stale. */
    budget = 100;
    CHECK(fsa_leg_table_next_stale(&t, 500, ttl, &budget) == NULL);
    /* Empty table: nothing, and no budget burnt. */
    struct fsa_leg_table e;
    CHECK(fsa_leg_table_init(&e, 4) == 0);
    budget = 10;
    CHECK(fsa_leg_table_next_stale(&e, 1u << 30, ttl, &budget) == NULL);
    CHECK_EQ_U64(budget, 10);
    fsa_leg_table_destroy(&e);
    fsa_leg_table_destroy(&t);
}

/* ---- labels ------------------------------------------------------------------------------------------------ */

static void labels_refcount_and_full(void)
{
    struct fsa_labels t;
    CHECK(fsa_labels_init(&t, 3) == 0);
    uint16_t a = fsa_labels_intern(&t, "example.com", 11);
    uint16_t a2 = fsa_labels_intern(&t, "example.com\0junk", 16); /* cut at the NUL: same string */
    CHECK(a != 0 && a == a2);
    CHECK_STR(fsa_labels_str(&t, a), "example.com");
    CHECK_EQ_U64(fsa_labels_intern(&t, "", 0), 0);
    CHECK_STR(fsa_labels_str(&t, 0), "");
    uint16_t b = fsa_labels_intern(&t, "PCMU", 4);
    uint16_t c = fsa_labels_intern(&t, "b.example", 9);
    CHECK(b && c && b != a && c != a && b != c);
    CHECK_EQ_U64(fsa_labels_intern(&t, "d.example", 9), 0); /* full */
    CHECK_EQ_U64(t.full, 1);
    fsa_labels_release(&t, a);
    CHECK_STR(fsa_labels_str(&t, a), "example.com"); /* one reference left */
    fsa_labels_release(&t, a);
    CHECK_STR(fsa_labels_str(&t, a), ""); /* freed */
    uint16_t d = fsa_labels_intern(&t, "d.example", 9);
    CHECK(d == a); /* the freed id is reused */
    CHECK_STR(fsa_labels_str(&t, d), "d.example");
    fsa_labels_ref(&t, b);
    fsa_labels_release(&t, b);
    CHECK_STR(fsa_labels_str(&t, b), "PCMU");
    fsa_labels_release(&t, 0); /* no-ops */
    fsa_labels_release(&t, 60000);
    /* Longer than FSA_LABEL_MAX - 1: kept cut. */
    char big[200];
    memset(big, 'z', sizeof(big));
    fsa_labels_release(&t, c);
    uint16_t z = fsa_labels_intern(&t, big, sizeof(big));
    CHECK(z != 0 && strlen(fsa_labels_str(&t, z)) == FSA_LABEL_MAX - 1);
    fsa_labels_destroy(&t);
    struct fsa_labels bad_t;
    CHECK(fsa_labels_init(&bad_t, 0) == -EINVAL);
    CHECK(fsa_labels_init(&bad_t, FSA_LABELS_MAX_CAPACITY + 1) == -EINVAL);
}

/* Random intern/release against counts kept by hand; all released -> empty index. */
static void labels_random_against_reference(void)
{
    struct fsa_labels t;
    CHECK(fsa_labels_init(&t, 64) == 0);
    enum { N = 80 };
    char names[N][16];
    unsigned refs[N] = {0};
    uint16_t ids[N] = {0};
    unsigned bad = 0, live = 0;
    for (int i = 0; i < N; i++)
        snprintf(names[i], sizeof(names[i]), "d%d.example", i);
    for (long op = 0; op < 100000; op++) {
        int i = (int)(rnd() % N);
        if (refs[i] && rnd() % 2) {
            fsa_labels_release(&t, ids[i]);
            if (--refs[i] == 0)
                live--;
        } else {
            uint16_t id = fsa_labels_intern(&t, names[i], strlen(names[i]));
            if (id == 0) {
                if (refs[i] || live < 64) /* refused only when full and new */
                    bad++;
                continue;
            }
            if (refs[i] && id != ids[i])
                bad++;
            if (refs[i]++ == 0)
                live++;
            ids[i] = id;
        }
        if (t.count != live)
            bad++;
        if (refs[i] && strcmp(fsa_labels_str(&t, ids[i]), names[i]) != 0)
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_I64(index_check(&t.ix), (long)live);
    for (int i = 0; i < N; i++)
        while (refs[i]--)
            fsa_labels_release(&t, ids[i]);
    CHECK_EQ_U64(t.count, 0);
    CHECK_EQ_I64(index_check(&t.ix), 0);
    fsa_labels_destroy(&t);
}

int main(void)
{
    printf("sizeof(struct fsa_leg) = %zu\n", sizeof(struct fsa_leg));
    CHECK(sizeof(struct fsa_leg) <= 256);
    make_keys();
    oa_backward_shift_random();
    legs_random_ops_against_reference();
    legs_capacity_refusal();
    legs_ttl_stale_walk();
    labels_refcount_and_full();
    labels_random_against_reference();
    return fsa_test_finish();
}
