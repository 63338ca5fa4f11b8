/*
 * store: the memory back end. Leg state already lives in the worker's leg
 * table; "memory" storage means nothing more is kept anywhere, so every
 * operation succeeds without doing anything (store.h).
 */
#include "store.h"

static int memory_load(void *ctx, uint16_t instance, const char *uuid, size_t uuid_len, struct fsa_leg_state *out)
{
    (void)ctx, (void)instance, (void)uuid, (void)uuid_len, (void)out;
    return 0;
}

static int memory_save(void *ctx, const struct fsa_leg_state *state)
{
    (void)ctx, (void)state;
    return 0;
}

static int memory_del(void *ctx, uint16_t instance, const char *uuid, size_t uuid_len)
{
    (void)ctx, (void)instance, (void)uuid, (void)uuid_len;
    return 0;
}

const struct fsa_store_ops fsa_store_memory_ops = {
    .name = "memory",
    .persistent = false,
    .load = memory_load,
    .save = memory_save,
    .del = memory_del,
    .flush = NULL,
};
