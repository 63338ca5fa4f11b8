/*
 * store: the memory back end. Leg state already lives in the worker's leg
 * table; "memory" storage means nothing more is kept anywhere: it is not
 * persistent, so the worker never calls an operation (store.h).
 */
#include "store.h"

const struct fsa_store_ops fsa_store_memory_ops = {
    .name = "memory",
    .persistent = false,
};
