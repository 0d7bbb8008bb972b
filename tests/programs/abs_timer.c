/* Waits for absolute deadlines on the realtime clock, one second ahead of what the program
 * reads: clock_nanosleep(TIMER_ABSTIME) and a timerfd armed with TFD_TIMER_ABSTIME. Under a
 * shifted clock both deadlines lie far from the real time, so only translated deadlines end
 * in about a second each. Prints the virtual seconds each wait took. */
#include <stdint.h>
#include <stdio.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

int main(void) {
    long long start = now_ns();
    struct timespec deadline = {.tv_sec = start / 1000000000LL + 1, .tv_nsec = start % 1000000000LL};
    if (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &deadline, NULL) != 0) return 1;
    long long slept = now_ns() - start;

    start = now_ns();
    int timer = timerfd_create(CLOCK_REALTIME, 0);
    struct itimerspec setting = {.it_value = {.tv_sec = start / 1000000000LL + 1,
                                              .tv_nsec = start % 1000000000LL}};
    if (timer < 0 || timerfd_settime(timer, TFD_TIMER_ABSTIME, &setting, NULL) != 0) return 2;
    uint64_t expirations;
    if (read(timer, &expirations, sizeof expirations) != sizeof expirations) return 3;
    long long waited = now_ns() - start;
    printf("%.1f %.1f\n", slept / 1e9, waited / 1e9);
    return 0;
}
