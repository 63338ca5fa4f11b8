/*
 * arena: see arena.h. Chunks form a list; after a reset allocation walks the
 * same chunks again from the first, zeroing only what it hands out.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fsa_arena_chunk {
    struct fsa_arena_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void fsa_arena_init(struct fsa_arena *a, size_t chunk_size)
{
    *a = (struct fsa_arena){.chunk_size = chunk_size ? chunk_size : (size_t)1 << 20};
}

static struct fsa_arena_chunk *chunk_new(size_t cap)
{
    struct fsa_arena_chunk *c = malloc(sizeof(*c) + cap);
    if (!c)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

void *fsa_arena_alloc(struct fsa_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    struct fsa_arena_chunk *c = a->cur;
    while (c && c->cap - c->used < n) {
        /* Move on to a kept chunk (after a reset) that is still empty. */
        c = c->next;
        if (c)
            c->used = 0;
    }
    if (!c) {
        size_t cap = n > a->chunk_size ? n : a->chunk_size;
        c = chunk_new(cap);
        if (!c)
            return NULL;
        a->bytes_reserved += cap;
        /* Append at the tail so the walk order stays the allocation order. */
        if (!a->first) {
            a->first = c;
        } else {
            struct fsa_arena_chunk *t = a->cur ? a->cur : a->first;
            while (t->next)
                t = t->next;
            t->next = c;
        }
    }
    a->cur = c;
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *fsa_arena_strndup(struct fsa_arena *a, const char *s, size_t n)
{
    char *p = fsa_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void fsa_arena_reset(struct fsa_arena *a)
{
    a->cur = a->first;
    if (a->cur)
        a->cur->used = 0;
}

void fsa_arena_free(struct fsa_arena *a)
{
    struct fsa_arena_chunk *c = a->first;
    while (c) {
        struct fsa_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->first = a->cur = NULL;
    a->bytes_reserved = 0;
}
