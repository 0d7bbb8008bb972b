/* A chain of vforks: at level argv[1] > 0 the program vforks; the child asks getpid (before
 * exec, while the parent is suspended and shares its memory) and execs this program again at
 * level - 1; the parent waits for it. Level 0 only reports. Every level tries to open argv[2],
 * prints "level L getpid=P child_getpid=C open=ok|ENAME child_status=S" after its child is
 * done (so the deepest level prints first), and exits with its child's status + 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 100;
    int level = atoi(argv[1]);
    int fd = open(argv[2], O_RDONLY);
    const char *opened = fd >= 0 ? "ok" : strerrorname_np(errno);
    if (fd >= 0) close(fd);
    long mine = syscall(SYS_getpid);
    if (level == 0) {
        printf("level 0 getpid=%ld open=%s\n", mine, opened);
        return 0;
    }
    /* The vfork child writes this before exec: with vfork it is the parent's variable too. */
    volatile long child_getpid = -1;
    char next[16];
    snprintf(next, sizeof next, "%d", level - 1);
    pid_t child = vfork();
    if (child == 0) {
        child_getpid = syscall(SYS_getpid);
        char *args[] = {argv[0], next, argv[2], NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    if (child < 0) return 101;
    int status;
    if (waitpid(child, &status, 0) != child) return 102;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("level %d getpid=%ld child_getpid=%ld open=%s child_status=%d\n", level, mine,
           child_getpid, opened, code);
    fflush(stdout);
    return code + 1;
}
