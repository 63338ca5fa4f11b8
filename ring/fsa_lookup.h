/*
 * fsa_lookup: a host-name lookup that cannot stall the thread that needs it.
 *
 * getaddrinfo() may block for glibc's resolver timeout (5 s per try, twice)
 * when a DNS server does not answer; a reactor or a calculator worker must
 * never wait that long. fsa_lookup_start() runs getaddrinfo in a short-lived
 * thread of its own; the caller polls fsa_lookup_done() (a reactor on its
 * timer tick) or waits with a deadline (fsa_lookup_wait), and lets go with
 * fsa_lookup_release() whether or not the answer came: the lookup is shared
 * by the two threads and freed by whichever lets go last, so giving up never
 * waits for the resolver. Not getaddrinfo_a: its helper threads are created
 * inside glibc, where ThreadSanitizer cannot see them (the process crashes
 * under TSan).
 *
 * A numeric host never needs any of this: fsa_lookup_numeric() resolves it
 * inline, without touching a resolver.
 */
#ifndef FSA_LOOKUP_H
#define FSA_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct fsa_lookup;

/* 0 with the address when host is an IPv4/IPv6 literal; -1 otherwise (a name: look it up). */
int fsa_lookup_numeric(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *len);

/* The lookup started, or NULL with *err (errno-style: ENOMEM, or pthread_create's). */
struct fsa_lookup *fsa_lookup_start(const char *host, uint16_t port, int *err);

/* Any thread: the answer is in. */
bool fsa_lookup_done(const struct fsa_lookup *l);

/* Polls (1 ms steps) until done or CLOCK_MONOTONIC deadline_ns; true when done. */
bool fsa_lookup_wait(const struct fsa_lookup *l, uint64_t deadline_ns);

/* Once done: 0 and the first address, or getaddrinfo's EAI_* code (gai_strerror() names it). */
int fsa_lookup_result(const struct fsa_lookup *l, struct sockaddr_storage *addr, socklen_t *len);

/* The caller lets go (done or not); the pointer is dead afterwards. */
void fsa_lookup_release(struct fsa_lookup *l);

#endif
