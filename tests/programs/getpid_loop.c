/* Calls getpid N times (argv[1], default 1) and prints the last answer. With a second
 * argument GAP, it makes its calls in bursts of 4 and sleeps GAP µs after each burst: stops
 * that come fast, then a wait longer than a tracer's poll.
 *
 * With LOOP_NS in the environment it also writes "loop ns T" to stderr: the loop's own wall
 * time by CLOCK_MONOTONIC (a vDSO read, no system call), which bench/run.py takes as the
 * cost of N intercepted calls without the tracer's start-up and exit around them. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1, last = 0;
    long gap_us = argc > 2 ? atol(argv[2]) : 0;
    struct timespec gap = {gap_us / 1000000, gap_us % 1000000 * 1000};
    long long started = now_ns();
    for (long i = 0; i < n; i++) {
        last = syscall(SYS_getpid);
        if (gap_us > 0 && i % 4 == 3) nanosleep(&gap, NULL);
    }
    long long spent = now_ns() - started;
    printf("%ld\n", last);
    if (getenv("LOOP_NS") != NULL) fprintf(stderr, "loop ns %lld\n", spent);
    return 0;
}
