/* Reads the realtime clock the three ways libc offers (clock_gettime, gettimeofday, time) and
 * prints the seconds of each: with the vDSO in place none of them enters the kernel. */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int main(void) {
    struct timespec now;
    struct timeval day;
    clock_gettime(CLOCK_REALTIME, &now);
    gettimeofday(&day, NULL);
    printf("%lld %lld %lld\n", (long long)now.tv_sec, (long long)day.tv_sec, (long long)time(NULL));
    return 0;
}
