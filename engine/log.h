/*
 * log: one line per fault, with the instance name and the cause.
 *
 * Lines are formatted into a stack buffer and written with one write(2), so
 * lines from different threads never interleave. JSON lines carry
 * {"ts","level","msg"} plus "instance" when given and any extra fields.
 * Callers never pass secrets: the config keeps them and nothing formats them.
 */
#ifndef FSA_LOG_H
#define FSA_LOG_H

#include <stdarg.h>

#include "config.h"

void fsa_log_setup(enum fsa_log_level level, enum fsa_log_format format, int fd);
int fsa_log_enabled(enum fsa_log_level level);

/* instance may be NULL. fmt is printf-style; the result is escaped for JSON. */
void fsa_log(enum fsa_log_level level, const char *instance, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A line with structured fields: kv is "key1", "value1", ..., NULL. In text
 * format they print as key=value after the message. Values are strings;
 * a value starting with '#' is emitted raw (a JSON number or object).
 */
void fsa_log_kv(enum fsa_log_level level, const char *instance, const char *msg, const char *const *kv);

#define fsa_log_debug(inst, ...) fsa_log(FSA_LOG_DEBUG, inst, __VA_ARGS__)
#define fsa_log_info(inst, ...) fsa_log(FSA_LOG_INFO, inst, __VA_ARGS__)
#define fsa_log_warn(inst, ...) fsa_log(FSA_LOG_WARN, inst, __VA_ARGS__)
#define fsa_log_error(inst, ...) fsa_log(FSA_LOG_ERROR, inst, __VA_ARGS__)

#endif
