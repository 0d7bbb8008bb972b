/* Blocks in read(2) on a pipe while a child sends it argv[1] SIGUSR1s, counted by an
 * SA_RESTART handler; then the child writes "done" and the read completes.
 *
 * argv[2] = "ack": the child waits for the handler's acknowledgement (a byte on a second pipe)
 * before each next signal, so every signal is delivered and counted: signals == N.
 * argv[2] = "blast": the child sends them as fast as it can; pending signals merge, so
 * 1 <= signals <= N.
 *
 * Prints "signals=S read=R data=D" (R the byte count of the one read, D what it read). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t signals;
static int ack_fd = -1;

static void on_usr1(int sig) {
    (void)sig;
    signals++;
    if (ack_fd >= 0 && write(ack_fd, "a", 1) != 1) _exit(5);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long n = atol(argv[1]);
    int ack = strcmp(argv[2], "ack") == 0;
    int data[2], acks[2];
    if (pipe(data) != 0 || pipe(acks) != 0) return 3;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_usr1;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, NULL);
    if (ack) ack_fd = acks[1];
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        char byte;
        for (long i = 0; i < n; i++) {
            if (kill(parent, SIGUSR1) != 0) _exit(6);
            if (ack && read(acks[0], &byte, 1) != 1) _exit(7);
        }
        if (write(data[1], "done", 4) != 4) _exit(8);
        _exit(0);
    }
    char buffer[16] = {0};
    ssize_t got = read(data[0], buffer, sizeof buffer - 1);
    int status;
    waitpid(child, &status, 0);
    printf("signals=%d read=%zd data=%s child=%d\n", (int)signals, got, buffer,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
