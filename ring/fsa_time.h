/*
 * fsa_time: the two clocks every thread reads. CLOCK_MONOTONIC for
 * intervals, deadlines and latency stamps (never jumps); CLOCK_REALTIME only
 * for what is shown to people or exported as a timestamp.
 */
#ifndef FSA_TIME_H
#define FSA_TIME_H

#include <stdint.h>
#include <time.h>

static inline uint64_t fsa_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fsa_mono_ns(void)
{
    return fsa_clock_ns(CLOCK_MONOTONIC);
}

static inline uint64_t fsa_wall_ns(void)
{
    return fsa_clock_ns(CLOCK_REALTIME);
}

#endif
