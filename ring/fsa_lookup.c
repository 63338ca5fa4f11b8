#include "fsa_lookup.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsa_time.h"

struct fsa_lookup {
    atomic_int refs;
    atomic_bool done;
    int rc; /* getaddrinfo's, valid once done */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char port[8];
    char host[]; /* NUL-terminated */
};

static int resolve(const char *host, const char *port, int flags, struct sockaddr_storage *addr, socklen_t *len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | flags};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc == 0 && !res)
        rc = EAI_NONAME;
    if (rc == 0) {
        socklen_t n = res->ai_addrlen < sizeof(*addr) ? res->ai_addrlen : (socklen_t)sizeof(*addr);
        memcpy(addr, res->ai_addr, n);
        *len = n;
    }
    if (res)
        freeaddrinfo(res);
    return rc;
}

int fsa_lookup_numeric(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *len)
{
    char p[8];
    snprintf(p, sizeof(p), "%u", (unsigned)port);
    return resolve(host, p, AI_NUMERICHOST, addr, len) == 0 ? 0 : -1;
}

void fsa_lookup_release(struct fsa_lookup *l)
{
    if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        free(l);
}

static void *lookup_main(void *arg)
{
    struct fsa_lookup *l = arg;
    l->rc = resolve(l->host, l->port, 0, &l->addr, &l->addrlen);
    atomic_store_explicit(&l->done, true, memory_order_release);
    fsa_lookup_release(l);
    return NULL;
}

struct fsa_lookup *fsa_lookup_start(const char *host, uint16_t port, int *err)
{
    size_t n = strlen(host);
    struct fsa_lookup *l = calloc(1, sizeof(*l) + n + 1);
    if (!l) {
        *err = ENOMEM;
        return NULL;
    }
    atomic_init(&l->refs, 2); /* the resolver thread's and the caller's */
    atomic_init(&l->done, false);
    memcpy(l->host, host, n + 1);
    snprintf(l->port, sizeof(l->port), "%u", (unsigned)port);
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&tid, &attr, lookup_main, l);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(l);
        *err = rc;
        return NULL;
    }
    return l;
}

bool fsa_lookup_done(const struct fsa_lookup *l)
{
    return atomic_load_explicit(&l->done, memory_order_acquire);
}

bool fsa_lookup_wait(const struct fsa_lookup *l, uint64_t deadline_ns)
{
    while (!fsa_lookup_done(l)) {
        if (fsa_mono_ns() >= deadline_ns)
            return false;
        struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000L};
        nanosleep(&ms, NULL);
    }
    return true;
}

int fsa_lookup_result(const struct fsa_lookup *l, struct sockaddr_storage *addr, socklen_t *len)
{
    if (l->rc == 0) {
        memcpy(addr, &l->addr, l->addrlen);
        *len = l->addrlen;
    }
    return l->rc;
}
