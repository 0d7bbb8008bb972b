/* Starts argv[1] threads that each call getpid argv[2] times with syscall(2) (so no libc cache
 * can answer) and count the answers that differ from argv[3]; all threads are released at
 * once, so their calls overlap. Prints "threads=N calls=M wrong=W" and exits 0 only if no
 * answer was wrong and every thread started. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static long calls_per_thread, expected;
static pthread_barrier_t start;
static long wrong, done;

static void *hammer(void *unused) {
    (void)unused;
    long mine = 0;
    pthread_barrier_wait(&start);
    for (long i = 0; i < calls_per_thread; i++)
        if (syscall(SYS_getpid) != expected) mine++;
    __atomic_add_fetch(&wrong, mine, __ATOMIC_RELAXED);
    __atomic_add_fetch(&done, calls_per_thread, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    int count = atoi(argv[1]);
    calls_per_thread = atol(argv[2]);
    expected = atol(argv[3]);
    pthread_t *threads = calloc((size_t)count, sizeof *threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024); /* 200 default stacks would be 1.6 GB */
    pthread_barrier_init(&start, NULL, (unsigned)count + 1);
    int started = 0;
    for (int i = 0; i < count; i++)
        if (pthread_create(&threads[i], &attr, hammer, NULL) == 0) started++;
        else break;
    if (started != count) {
        printf("only %d threads started\n", started);
        return 1; /* the barrier would never open: give up at once */
    }
    pthread_barrier_wait(&start);
    for (int i = 0; i < count; i++) pthread_join(threads[i], NULL);
    printf("threads=%d calls=%ld wrong=%ld\n", started, done, wrong);
    return wrong == 0 ? 0 : 1;
}
