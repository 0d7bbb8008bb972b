/* Execs argv[1..] from a second thread while the main thread waits in pthread_join. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static char **command;

static void *exec_it(void *unused) {
    (void)unused;
    execvp(command[0], command);
    perror("execvp");
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    command = argv + 1;
    printf("leader %d\n", getpid());
    fflush(stdout);
    pthread_t thread;
    pthread_create(&thread, NULL, exec_it, NULL);
    pthread_join(thread, NULL);
    return 1;
}
