/* Makes children with CLONE_UNTRACED, by the raw calls argv[1] names ("clone", "clone3" or
 * "both", the default), as strace's test ioctl_nsfs does. Options after it: "newuser" makes
 * them in a new user namespace too (CLONE_NEWUSER, as ioctl_nsfs does); "wait" first reads
 * stdin byte by byte (for a tracer to attach): each "p" is answered with a line
 * "probe: getuid=N" (so a test can see when a tracer that fakes getuid is deciding the calls:
 * being seized is not enough, a call made before its first stop goes unseen), and any other
 * byte starts the children. A tracer that lets the flag stand loses the child, which still
 * carries the tracer's seccomp filter.
 *
 * Each child makes a few calls (getuid, getpid, openat and close of /dev/null, write) and
 * reports them in one line; it exits 0 when none of them failed. The parent waits for it
 * and reports how it ended. Output, natively as root:
 *
 *   clone child: getuid=0 getpid_matches=1 open=ok
 *   clone child: exited 0
 *   clone3 child: getuid=0 getpid_matches=1 open=ok
 *   clone3 child: exited 0
 *
 * Exits 0 when every child exited 0, 1 otherwise, 2 on bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif

/* struct clone_args of <linux/sched.h>, its first version (CLONE_ARGS_SIZE_VER0, 64 bytes),
 * written out: older headers lack it. */
struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int child(const char *how) {
    /* Raw calls throughout: a failure must show, not be papered over by a libc cache. */
    long uid = syscall(SYS_getuid);
    long pid = syscall(SYS_getpid);
    long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
    int failed = uid < 0 || pid < 0 || fd < 0;
    if (fd >= 0) syscall(SYS_close, fd);
    char line[160];
    int length = snprintf(line, sizeof line, "%s child: getuid=%ld getpid_matches=%d open=%s\n",
                          how, uid < 0 ? -(long)errno : uid, pid == getpid(),
                          fd < 0 ? strerror(errno) : "ok");
    if (syscall(SYS_write, 1, line, (size_t)length) != length) failed = 1;
    return failed;
}

static int wait_for(const char *how, long pid) {
    if (pid < 0) {
        printf("%s: %s\n", how, strerror(errno));
        return 1;
    }
    if (pid == 0) _exit(child(how));
    int status;
    if (waitpid((pid_t)pid, &status, 0) != pid) {
        printf("%s child: waitpid: %s\n", how, strerror(errno));
        return 1;
    }
    if (WIFSIGNALED(status)) {
        printf("%s child: killed by signal %d\n", how, WTERMSIG(status));
        return 1;
    }
    printf("%s child: exited %d\n", how, WEXITSTATUS(status));
    return WEXITSTATUS(status) != 0;
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "both";
    int both = strcmp(which, "both") == 0;
    if (!both && strcmp(which, "clone") != 0 && strcmp(which, "clone3") != 0) return 2;
    long extra = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "newuser") == 0) {
            extra = CLONE_NEWUSER;
        } else if (strcmp(argv[i], "wait") == 0) {
            char byte;
            for (;;) {
                if (read(0, &byte, 1) != 1) return 2;
                if (byte != 'p') break;
                char line[64];
                long uid = syscall(SYS_getuid);
                int length = snprintf(line, sizeof line, "probe: getuid=%ld\n", uid);
                if (write(1, line, (size_t)length) != length) return 2;
            }
        } else {
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    int failed = 0;
    if (both || strcmp(which, "clone") == 0) {
        /* x86-64 order: flags, stack (0: the child runs on a copy of ours, as after fork),
         * parent_tid, child_tid, tls. */
        long pid = syscall(SYS_clone, CLONE_UNTRACED | extra | SIGCHLD, 0L, 0L, 0L, 0L);
        failed |= wait_for("clone", pid);
    }
    if (both || strcmp(which, "clone3") == 0) {
        struct clone_args_v0 args;
        memset(&args, 0, sizeof args);
        args.flags = CLONE_UNTRACED | (uint64_t)extra;
        args.exit_signal = SIGCHLD;
        long pid = syscall(SYS_clone3, &args, sizeof args);
        failed |= wait_for("clone3", pid);
    }
    return failed;
}
