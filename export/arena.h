/*
 * fsa_arena: a bump allocator for one OTLP batch.
 *
 * The protobuf-c reference encoder (tests/unit/test_otlp_ref.h, the encoder
 * otlp.c replaced) builds a whole ExportMetricsServiceRequest (data points,
 * attributes, copies of label strings) out of an arena, packs it, then resets
 * the arena. Reset keeps every chunk, so after the first few batches a batch
 * of the usual size allocates nothing: the steady state has no malloc per
 * record. Chunks are only freed by fsa_arena_free(). Owned by one thread.
 */
#ifndef FSA_EXPORT_ARENA_H
#define FSA_EXPORT_ARENA_H

#include <stddef.h>

struct fsa_arena_chunk;

struct fsa_arena {
    struct fsa_arena_chunk *first; /* every chunk, in order */
    struct fsa_arena_chunk *cur;   /* the one being filled */
    size_t chunk_size;             /* default size of a new chunk */
    size_t bytes_reserved;         /* sum of chunk capacities (for stats) */
};

void fsa_arena_init(struct fsa_arena *a, size_t chunk_size);
/* 16-byte aligned, zeroed; NULL only when memory is short. */
void *fsa_arena_alloc(struct fsa_arena *a, size_t n);
/* Copies n bytes and a NUL. */
char *fsa_arena_strndup(struct fsa_arena *a, const char *s, size_t n);
/* Forgets every allocation, keeps the chunks for reuse. */
void fsa_arena_reset(struct fsa_arena *a);
void fsa_arena_free(struct fsa_arena *a);

#endif
