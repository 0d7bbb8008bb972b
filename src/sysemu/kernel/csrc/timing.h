/* Clocks of the accelerator: CLOCK_MONOTONIC for the wait loops' spinning, and the ticks that
 * handlers are timed in. */
#ifndef SYSEMU_CSRC_TIMING_H
#define SYSEMU_CSRC_TIMING_H

/* CLOCK_MONOTONIC in nanoseconds: what time.perf_counter_ns reads on Linux. */
long long now_ns(void);

/* A handler's time, in ticks: see timing.c. */
long long ticks(void);

/* `count` ticks in nanoseconds. */
long long ticks_to_ns(long long count);

/* Picks the tick source, once at module init. */
void choose_ticks(void);

#endif
