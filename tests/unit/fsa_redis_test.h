/*
 * A real redis-server for unit tests: started on a free loopback port
 * (`redis-server --port P --bind 127.0.0.1 --save '' --appendonly no`),
 * killed, stopped, resumed and restarted on the same port by the test, and a
 * plain hiredis connection to look at what the store wrote.
 *
 * Without the redis-server binary (scripts/deps.sh installs it) a test
 * prints SKIP and exits 77, which CTest shows as skipped and scripts/test.sh
 * counts as a failure; with it, any failure to start fails the test.
 */
#ifndef FSA_REDIS_TEST_H
#define FSA_REDIS_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test_redis {
    pid_t pid;
    uint16_t port;
    char password[64];
};

static inline uint64_t test_redis_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void test_redis_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The redis-server binary on PATH, or NULL. */
static inline const char *test_redis_binary(void)
{
    static char found[512];
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(found, sizeof(found), "%.*s/redis-server", (int)n, path);
        if (access(found, X_OK) == 0)
            return found;
        path += n + (path[n] == ':');
    }
    return NULL;
}

/* Exits 77 (skipped, never passed) when redis-server is not installed. */
static inline void test_redis_require(void)
{
    if (!test_redis_binary()) {
        printf("SKIP: redis-server not found on PATH (scripts/deps.sh installs it)\n");
        exit(77);
    }
}

/* A loopback port nobody listens on right now. */
static inline uint16_t test_redis_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("free port");
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* A blocking connection (AUTH'ed when the server has a password), or NULL. */
static inline redisContext *test_redis_connect(const struct test_redis *r)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (r->password[0]) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->password);
        bool ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* Starts (or restarts, same port) the server and waits until it answers PING. */
static inline bool test_redis_spawn(struct test_redis *r)
{
    char port[16];
    snprintf(port, sizeof(port), "%u", r->port);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        const char *argv[20];
        int n = 0;
        argv[n++] = "redis-server";
        argv[n++] = "--port", argv[n++] = port;
        argv[n++] = "--bind", argv[n++] = "127.0.0.1";
        argv[n++] = "--save", argv[n++] = "";
        argv[n++] = "--appendonly", argv[n++] = "no";
        const char *tmp = getenv("TMPDIR");
        argv[n++] = "--dir", argv[n++] = tmp && *tmp ? tmp : "/tmp";
        if (r->password[0])
            argv[n++] = "--requirepass", argv[n++] = r->password;
        argv[n] = NULL;
        execv(test_redis_binary(), (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 500; i++) { /* 5 s */
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            return false; /* exited: most likely the port was taken meanwhile */
        }
        redisContext *c = test_redis_connect(r);
        if (c) {
            redisReply *rep = redisCommand(c, "PING");
            bool ok = rep && rep->type == REDIS_REPLY_STATUS;
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return true;
        }
        test_redis_sleep_ms(10);
    }
    return false;
}

/* A fresh server on a free port (a few tries: another test may take the port first). */
static inline void test_redis_start(struct test_redis *r, const char *password)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->password, sizeof(r->password), "%s", password ? password : "");
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = test_redis_free_port();
        if (test_redis_spawn(r))
            return;
        if (r->pid) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, NULL, 0);
            r->pid = 0;
        }
    }
    fprintf(stderr, "redis-server would not start\n");
    exit(2);
}

/* SIGKILL and reap: the store sees its connection closed, and later refused. */
static inline void test_redis_kill(struct test_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGCONT); /* in case it was stopped */
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
}

/* SIGSTOP / SIGCONT: a server that accepts connections but never answers. */
static inline void test_redis_signal(struct test_redis *r, int sig)
{
    if (r->pid > 0)
        kill(r->pid, sig);
}

/* One command on a fresh connection to database db; the reply (free it), or NULL. */
static inline redisReply *test_redis_command(const struct test_redis *r, int db, const char *fmt, ...)
{
    redisContext *c = test_redis_connect(r);
    if (!c)
        return NULL;
    redisReply *rep = NULL, *sel = redisCommand(c, "SELECT %d", db);
    if (sel && sel->type == REDIS_REPLY_STATUS) {
        va_list ap;
        va_start(ap, fmt);
        rep = redisvCommand(c, fmt, ap);
        va_end(ap);
    }
    if (sel)
        freeReplyObject(sel);
    redisFree(c);
    return rep;
}

/* An integer reply, or LLONG_MIN. */
#define test_redis_int(r, db, ...) test_redis_reply_int(test_redis_command((r), (db), __VA_ARGS__))
static inline long long test_redis_reply_int(redisReply *rep)
{
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : LLONG_MIN;
    if (rep)
        freeReplyObject(rep);
    return v;
}

/* A hash field's text as Redis holds it, "" when absent (valid until the next call). */
static inline const char *test_redis_hget(const struct test_redis *r, int db, const char *key, const char *field)
{
    static char buf[256];
    redisReply *rep = test_redis_command(r, db, "HGET %s %s", key, field);
    buf[0] = '\0';
    if (rep && rep->type == REDIS_REPLY_STRING)
        snprintf(buf, sizeof(buf), "%.*s", (int)rep->len, rep->str);
    if (rep)
        freeReplyObject(rep);
    return buf;
}

#endif
