/* Two threads released at once: one calls getpid, the other getppid, argv[1] times each, with
 * syscall(2) so that no libc cache answers. Under the auto backend a decide-only handler of
 * one call is answered by the notification thread while a handler of the other runs on the
 * ptrace thread: the test checks that they never run at the same time. Prints
 * "getpid=N getppid=M" (how many answers were each call's emulated value, 1 and 2). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static long calls;
static pthread_barrier_t start;
static long answered[2];

static void *hammer(void *which) {
    long number = (long)which == 0 ? SYS_getpid : SYS_getppid;
    long expected = (long)which + 1, mine = 0;
    pthread_barrier_wait(&start);
    for (long i = 0; i < calls; i++)
        if (syscall(number) == expected) mine++;
    answered[(long)which] = mine;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    calls = atol(argv[1]);
    pthread_t threads[2];
    pthread_barrier_init(&start, NULL, 2);
    for (long i = 0; i < 2; i++)
        if (pthread_create(&threads[i], NULL, hammer, (void *)i) != 0) return 1;
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    printf("getpid=%ld getppid=%ld\n", answered[0], answered[1]);
    return 0;
}
