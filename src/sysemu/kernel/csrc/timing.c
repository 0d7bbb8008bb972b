/* Handlers are timed in ticks: the architecture's cycle counter where the kernel's own clock
 * is that counter (on x86-64 current_clocksource "tsc", which the kernel picks only when the
 * TSC runs at one rate on every CPU), else CLOCK_MONOTONIC's nanoseconds. Reading the TSC
 * costs a pinned stop about 20 ns where clock_gettime costs about 50 (its vDSO data is cold
 * after the context switch), and a handler is timed twice per call. Ticks become nanoseconds
 * when counters are flushed, at the rate the two clocks kept since the module was loaded. */
#include "timing.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "arch.h"

static int cycle_ticks;
static long long cycles_origin, ns_origin;

long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

long long ticks(void) {
#if ARCH_CYCLE_COUNTER
    if (cycle_ticks) return arch_cycles();
#endif
    return now_ns();
}

void choose_ticks(void) {
#if ARCH_CYCLE_COUNTER
    char name[16] = "";
    FILE *source = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (source == NULL) return;
    int known = fgets(name, sizeof name, source) != NULL;
    fclose(source);
    if (known && strcmp(name, ARCH_CYCLE_CLOCKSOURCE) == 0) {
        cycles_origin = arch_cycles();
        ns_origin = now_ns();
        cycle_ticks = 1;
    }
#endif
}

long long ticks_to_ns(long long count) {
    if (!cycle_ticks) return count;
    long long cycles = ticks(), ns = now_ns();
    if (cycles <= cycles_origin || ns <= ns_origin) return 0; /* no time passed: nothing to scale by */
    return (long long)((double)count * (double)(ns - ns_origin) / (double)(cycles - cycles_origin));
}
