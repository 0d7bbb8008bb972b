/* Calls that a tracer changes at their stops: a path, a call's number, the third and fourth
 * arguments, a result at exit, and a call it skips (tests/test_set_syscall_info.py runs it
 * with rewrites made through PTRACE_SET_SYSCALL_INFO and through registers).
 *
 *   changed_calls PATH DIR
 *
 * Each call is made with syscall(2), so that no libc wrapper or cache stands between. Prints:
 *   open: the first line of the file openat(PATH) opened (the tracer points it elsewhere);
 *   ppid-is-pid: whether getppid returned this process's pid (changed into getpid);
 *   write: what write(1, "abcd", 4) printed and returned (the count rewritten);
 *   mode: the permission bits of DIR/created, made by openat(O_CREAT, 0600) with umask 0
 *         (the mode, the fourth argument, rewritten);
 *   uid: what getuid returned (its result replaced at exit);
 *   gid: what getgid returned (emulated: the kernel skipped it). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char line[256] = "";
    long fd = syscall(SYS_openat, AT_FDCWD, argv[1], O_RDONLY);
    if (fd >= 0) {
        ssize_t got = read((int)fd, line, sizeof line - 1);
        line[got > 0 ? got : 0] = '\0';
        line[strcspn(line, "\n")] = '\0';
        close((int)fd);
    }
    printf("open: %s\n", fd >= 0 ? line : "failed");
    printf("ppid-is-pid: %d\n", syscall(SYS_getppid) == getpid());
    printf("write: ");
    fflush(stdout);
    long wrote = syscall(SYS_write, 1, "abcd", 4);
    printf(" %ld\n", wrote);

    char created[4096];
    snprintf(created, sizeof created, "%s/created", argv[2]);
    umask(0);
    long made = syscall(SYS_openat, AT_FDCWD, created, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    struct stat status;
    if (made >= 0 && fstat((int)made, &status) == 0)
        printf("mode: %o\n", (unsigned)(status.st_mode & 0777));
    else
        printf("mode: failed\n");

    printf("uid: %ld\n", syscall(SYS_getuid));
    printf("gid: %ld\n", syscall(SYS_getgid));
    return 0;
}
