/* Execs argv[2..] while another thread of the process is in the middle of a call; argv[1]:
 *
 *   main-execs     thread A blocks in read(2) on a pipe nobody writes; the main thread execs
 *   thread-execs   the main thread blocks in that read; thread B execs (and takes its id)
 *   in-handler     thread A calls getppid, which the test's handler holds (it sleeps); the
 *                  main thread execs meanwhile
 *
 * Prints "execing with a thread in read" (or "in getppid") first. The exec kills the thread
 * in the call; if the exec fails, prints "exec failed" and exits 1. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fds[2];
static volatile int entering, go;
static char **command;

static void *block_in_read(void *unused) {
    (void)unused;
    char byte;
    entering = 1;
    ssize_t n = read(fds[0], &byte, 1);
    printf("read returned %zd\n", n); /* never: the exec ends this thread */
    return NULL;
}

static void *call_getppid(void *unused) {
    (void)unused;
    while (!go) usleep(1000); /* the main thread's clone stop must be over first */
    entering = 1;
    long got = syscall(SYS_getppid);
    printf("getppid returned %ld\n", got); /* never */
    return NULL;
}

static void *exec_later(void *unused) {
    (void)unused;
    while (!entering) usleep(1000);
    usleep(100000); /* let the main thread get into its read */
    execv(command[0], command);
    printf("exec failed\n");
    _exit(1);
}

int main(int argc, char **argv) {
    if (argc < 3 || pipe(fds) != 0) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    command = argv + 2;
    pthread_t thread;
    if (strcmp(argv[1], "thread-execs") == 0) {
        pthread_create(&thread, NULL, exec_later, NULL);
        printf("execing with a thread in read\n");
        block_in_read(NULL);
        return 1;
    }
    if (strcmp(argv[1], "main-execs") == 0) {
        pthread_create(&thread, NULL, block_in_read, NULL);
        while (!entering) usleep(1000);
        usleep(100000); /* let it get into the read */
        printf("execing with a thread in read\n");
    } else if (strcmp(argv[1], "in-handler") == 0) {
        pthread_create(&thread, NULL, call_getppid, NULL);
        go = 1;
        while (!entering) usleep(1000);
        usleep(50000); /* the handler holds the call longer than this */
        printf("execing with a thread in getppid\n");
    } else {
        return 2;
    }
    execv(command[0], command);
    printf("exec failed\n");
    return 1;
}
