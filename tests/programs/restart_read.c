/* Blocks in read(2) on a pipe while a SA_RESTART signal handler runs (a timer fires first),
 * then a child writes; prints how many signals arrived and what read returned. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t signals;

static void on_alarm(int sig) { (void)sig; signals++; }

int main(void) {
    int fds[2];
    if (pipe(fds) != 0) return 2;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_alarm;
    action.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &action, NULL);
    pid_t child = fork();
    if (child == 0) {
        usleep(400000);
        if (write(fds[1], "hello", 5) != 5) _exit(1);
        _exit(0);
    }
    struct itimerval timer = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &timer, NULL);
    char buffer[16];
    ssize_t n = read(fds[0], buffer, sizeof buffer);
    waitpid(child, NULL, 0);
    printf("signals=%d read=%zd\n", (int)signals, n);
    return 0;
}
