/* clock_loop N: N reads of CLOCK_REALTIME with clock_gettime, the call libfaketime and
 * sysemu --time answer. Prints the loop's nanoseconds (read on CLOCK_MONOTONIC, which neither
 * changes the length of) and the last second read, so that a run is checked to have read the
 * faked clock. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0;
    struct timespec now = {0, 0};
    long long started = monotonic_ns();
    for (long i = 0; i < n; i++) clock_gettime(CLOCK_REALTIME, &now);
    long long took = monotonic_ns() - started;
    if (n == 0) clock_gettime(CLOCK_REALTIME, &now);
    printf("%lld %lld\n", took, (long long)now.tv_sec);
    return 0;
}
