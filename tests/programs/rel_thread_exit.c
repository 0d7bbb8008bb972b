/* A thread ("A") makes an intercepted call, getppid, that the test's handler holds for a while
 * (it sleeps); meanwhile, by argv[1]:
 *
 *   thread   another thread exits; the main thread joins it, then A
 *            -> "other exited while A was in its call", "A got N"
 *   leader   the main thread exits with pthread_exit; A prints and ends the process with 3
 *            -> "A got N", exit status 3
 *   group    the main thread calls exit(5): A dies in its stopped call, exit status 5
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int a_returned;
static volatile int a_entering;
static volatile int go;
static volatile int other_running;
static int a_exits; /* "leader": A ends the process itself */

static void *caller(void *unused) {
    (void)unused;
    /* Wait until pthread_create has returned in the main thread: its clone event stop must
     * be over before the tracer gets busy with our call. */
    while (!go) usleep(1000);
    a_entering = 1;
    long got = syscall(SYS_getppid);
    a_returned = 1;
    printf("A got %ld\n", got);
    fflush(stdout);
    if (a_exits) exit(3);
    return NULL;
}

static void *short_lived(void *unused) {
    (void)unused;
    other_running = 1;
    usleep(50000);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_t a, other;
    a_exits = strcmp(argv[1], "leader") == 0;
    int thread_mode = strcmp(argv[1], "thread") == 0;
    /* Started first: a new thread needs its tracer to start, and the tracer will be busy. */
    if (thread_mode) {
        pthread_create(&other, NULL, short_lived, NULL);
        while (!other_running) usleep(1000); /* past its first stop, which needs the tracer */
    }
    pthread_create(&a, NULL, caller, NULL);
    go = 1;
    while (!a_entering) usleep(1000);
    if (thread_mode) {
        pthread_join(other, NULL);
        printf("other exited while A was %s\n", a_returned ? "done" : "in its call");
        pthread_join(a, NULL);
        return 0;
    }
    usleep(50000);
    if (strcmp(argv[1], "leader") == 0) {
        printf("leader exits while A is %s\n", a_returned ? "done" : "in its call");
        /* A's exit(3) then ends the process, whose status the leader's zombie carries. */
        pthread_detach(a);
        pthread_exit(NULL);
    }
    if (strcmp(argv[1], "group") == 0) {
        printf("exit_group while A is %s\n", a_returned ? "done" : "in its call");
        exit(5);
    }
    return 2;
}
