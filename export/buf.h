/*
 * fsa_buf: a growable byte buffer with a hard ceiling.
 *
 * Every append into a bounded buffer goes through fsa_buf_append(), which
 * checks room against `max` and grows geometrically below it, so a buffer
 * that is reused (cleared, not freed) stops allocating once it has seen its
 * largest payload. Owned by one thread.
 */
#ifndef FSA_EXPORT_BUF_H
#define FSA_EXPORT_BUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fsa_buf {
    uint8_t *p;
    size_t n;   /* bytes held */
    size_t cap; /* bytes allocated */
    size_t max; /* never grows past this */
};

static inline void fsa_buf_init(struct fsa_buf *b, size_t max)
{
    *b = (struct fsa_buf){.max = max};
}

static inline void fsa_buf_free(struct fsa_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Room for `more` bytes after n: 0, -ENOSPC past max, -ENOMEM. */
static inline int fsa_buf_reserve(struct fsa_buf *b, size_t more)
{
    if (more > b->max || b->n > b->max - more)
        return -ENOSPC;
    size_t need = b->n + more;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int fsa_buf_append(struct fsa_buf *b, const void *src, size_t n)
{
    int rc = fsa_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
    return 0;
}

/* Drops the first n bytes (a consumer that read them). */
static inline void fsa_buf_consume(struct fsa_buf *b, size_t n)
{
    if (n >= b->n) {
        b->n = 0;
        return;
    }
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
}

#endif
