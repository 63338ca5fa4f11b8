/*
 * bigmem: the calculators' large zeroed tables (leg records, their index),
 * as anonymous mappings advised for transparent huge pages.
 *
 * Why: a worker's legs are looked up at random, one or two cache lines per
 * event across tens of MB; with 4 KiB pages nearly every lookup also misses
 * the TLB (a two-level page walk in a VM). 2 MiB pages cover a 64 MiB table
 * in 32 TLB entries. Untouched parts still cost nothing (the kernel backs a
 * 2 MiB range only once it is written), so a table sized for 262144 legs
 * with 1000 in use stays small. Under AddressSanitizer the heap is kept, for
 * its bounds checks.
 */
#ifndef FSA_CALC_BIGMEM_H
#define FSA_CALC_BIGMEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define FSA_BIGMEM_MMAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FSA_BIGMEM_MMAP 0
#endif
#endif
#ifndef FSA_BIGMEM_MMAP
#define FSA_BIGMEM_MMAP 1
#endif

#define FSA_BIGMEM_MIN ((size_t)2 << 20) /* smaller tables gain nothing from huge pages */

/* n * size zeroed bytes, or NULL (overflow, memory short). Free with fsa_big_free(p, n, size). */
static inline void *fsa_big_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    if (!FSA_BIGMEM_MMAP || bytes < FSA_BIGMEM_MIN)
        return calloc(n, size);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice only: THP off or unsupported still works */
    return p;
}

static inline void fsa_big_free(void *p, size_t n, size_t size)
{
    if (!p)
        return;
    if (!FSA_BIGMEM_MMAP || n * size < FSA_BIGMEM_MIN)
        free(p);
    else
        munmap(p, n * size);
}

#endif
