/*
 * log: see log.h. The level and format are set once before threads start and
 * read without locks afterwards.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int g_level = FSA_LOG_INFO;
static atomic_int g_format = FSA_LOG_JSON;
static atomic_int g_fd = 2;

/* Stats lines carry every instance's counters: room for hundreds of instances. */
#define LINE_MAX_BYTES (256 * 1024)

void fsa_log_setup(enum fsa_log_level level, enum fsa_log_format format, int fd)
{
    atomic_store(&g_level, (int)level);
    atomic_store(&g_format, (int)format);
    atomic_store(&g_fd, fd);
}

int fsa_log_enabled(enum fsa_log_level level)
{
    return (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

const char *fsa_log_level_name(enum fsa_log_level level)
{
    switch (level) {
    case FSA_LOG_DEBUG: return "debug";
    case FSA_LOG_INFO: return "info";
    case FSA_LOG_WARN: return "warn";
    case FSA_LOG_ERROR: return "error";
    }
    return "info";
}

struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 2 - l->len; /* keep space for "\n" */
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_cstr(struct line *l, const char *s) { put_raw(l, s, strlen(s)); }

static void put_json_escaped(struct line *l, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put_raw(l, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            int n = snprintf(esc, sizeof(esc), "\\u%04x", c);
            put_raw(l, esc, (size_t)n);
        } else {
            put_raw(l, (const char *)&c, 1);
        }
    }
}

static void put_timestamp(struct line *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char out[40];
    size_t n = strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(out + n, sizeof(out) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    put_raw(l, out, n);
}

static void emit(enum fsa_log_level level, const char *instance, const char *msg, const char *const *kv)
{
    /* Per thread, not on the stack: a stats line is far larger than a fault line. */
    static _Thread_local struct line l;
    l.len = 0;
    bool json = atomic_load_explicit(&g_format, memory_order_relaxed) == FSA_LOG_JSON;
    if (json) {
        put_cstr(&l, "{\"ts\":\"");
        put_timestamp(&l);
        put_cstr(&l, "\",\"level\":\"");
        put_cstr(&l, fsa_log_level_name(level));
        put_cstr(&l, "\"");
        if (instance) {
            put_cstr(&l, ",\"instance\":\"");
            put_json_escaped(&l, instance);
            put_cstr(&l, "\"");
        }
        put_cstr(&l, ",\"msg\":\"");
        put_json_escaped(&l, msg);
        put_cstr(&l, "\"");
        for (const char *const *p = kv; p && p[0] && p[1]; p += 2) {
            put_cstr(&l, ",\"");
            put_json_escaped(&l, p[0]);
            put_cstr(&l, "\":");
            if (p[1][0] == '#') {
                put_cstr(&l, p[1] + 1);
            } else {
                put_cstr(&l, "\"");
                put_json_escaped(&l, p[1]);
                put_cstr(&l, "\"");
            }
        }
        put_cstr(&l, "}");
    } else {
        put_timestamp(&l);
        put_cstr(&l, " ");
        put_cstr(&l, fsa_log_level_name(level));
        put_cstr(&l, " ");
        if (instance) {
            put_cstr(&l, "[");
            put_cstr(&l, instance);
            put_cstr(&l, "] ");
        }
        put_cstr(&l, msg);
        for (const char *const *p = kv; p && p[0] && p[1]; p += 2) {
            put_cstr(&l, " ");
            put_cstr(&l, p[0]);
            put_cstr(&l, "=");
            put_cstr(&l, p[1][0] == '#' ? p[1] + 1 : p[1]);
        }
    }
    l.buf[l.len++] = '\n';
    ssize_t w = write(atomic_load_explicit(&g_fd, memory_order_relaxed), l.buf, l.len);
    (void)w; /* nowhere to report a failed log write */
}

void fsa_log(enum fsa_log_level level, const char *instance, const char *fmt, ...)
{
    if (!fsa_log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(level, instance, msg, NULL);
}

void fsa_log_kv(enum fsa_log_level level, const char *instance, const char *msg, const char *const *kv)
{
    if (!fsa_log_enabled(level))
        return;
    emit(level, instance, msg, kv);
}
