/* clock_loop N: N reads of CLOCK_REALTIME with clock_gettime, the call libfaketime and
 * sysemu --time answer. Prints the last second read, so that a run is checked to have read
 * the faked clock. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0;
    struct timespec now = {0, 0};
    for (long i = 0; i < n; i++) clock_gettime(CLOCK_REALTIME, &now);
    if (n == 0) clock_gettime(CLOCK_REALTIME, &now);
    printf("%lld\n", (long long)now.tv_sec);
    return 0;
}
