/* A program that tries to get out from under its tracer, then opens argv[2] and prints
 * "open=ok" or "open=ENAME". argv[1] says how it tries:
 *
 *   seccomp-allow   no_new_privs, then an allow-everything filter installed twice, with
 *                   seccomp(2) and with prctl(PR_SET_SECCOMP)
 *   seccomp-trace   a filter of its own that returns SECCOMP_RET_TRACE with other data for
 *                   openat, as another tracer's filter would
 *   seccomp-notify  a SECCOMP_RET_USER_NOTIF filter on openat in a second thread, whose
 *                   notifications the main thread answers with "continue"
 *   traceme         ptrace(PTRACE_TRACEME) while already traced
 *   attach          forks a child, tries PTRACE_ATTACH and PTRACE_SEIZE on it; the child then
 *                   opens the file (its line is "child open=...")
 *   seize-tracer    PTRACE_SEIZE on its parent, which under `sysemu run` is sysemu itself
 *   signal-tracer   sends SIGSTOP to its parent with kill and tgkill, probes it with signal 0
 *                   and asks for a pidfd of it (each step's line: kill_stop=, ...)
 *   write-tracer    opens its parent's /proc/PID/mem for writing and writes one byte of the
 *                   parent's first writable mapping back unchanged ("mem_write=0": it could
 *                   have written anything)
 *
 * Each step prints NAME=0 or NAME=ENAME, so the test reads what the kernel said. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *path;

static const char *name_of(int error) {
    const char *name = strerrorname_np(error);
    return name ? name : "E?";
}

static void report(const char *what, long result) {
    if (result < 0)
        printf("%s=%s\n", what, name_of(errno));
    else
        printf("%s=0\n", what);
}

static void try_open(const char *who) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        printf("%sopen=ok\n", who);
        close(fd);
    } else {
        printf("%sopen=%s\n", who, name_of(errno));
    }
}

static long install(struct sock_filter *code, unsigned short len, unsigned flags) {
    struct sock_fprog prog = {len, code};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* On x86_64 openat: ACTION, anything else: allow. */
#define ON_OPENAT(action)                                                            \
    {                                                                                \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),     \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),                \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),       \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),                       \
        BPF_STMT(BPF_RET | BPF_K, (action)),                                         \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),                                \
    }

static int listener = -1;
static int listener_ready[2];

static void *notified_opener(void *unused) {
    (void)unused;
    struct sock_filter code[] = ON_OPENAT(SECCOMP_RET_USER_NOTIF);
    /* Only this thread gets the filter (no TSYNC), so the main thread stays free to answer. */
    listener = (int)install(code, sizeof code / sizeof code[0], SECCOMP_FILTER_FLAG_NEW_LISTENER);
    report("listener", listener);
    if (write(listener_ready[1], "x", 1) != 1) return NULL;
    if (listener >= 0) try_open("");
    return NULL;
}

static void answer_one_notification(void) {
    struct seccomp_notif request;
    struct seccomp_notif_resp response;
    memset(&request, 0, sizeof request);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) {
        report("recv", -1);
        return;
    }
    memset(&response, 0, sizeof response);
    response.id = request.id;
    response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* "let the kernel run it" */
    report("send", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response));
}

/* Writes the first byte of the first writable mapping of process `pid` back over itself. */
static void write_memory_of(pid_t pid) {
    char path[64], line[512];
    unsigned long start = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "r");
    while (maps != NULL && start == 0 && fgets(line, sizeof line, maps) != NULL) {
        unsigned long from, to;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &from, &to, perms) == 3 && perms[1] == 'w') start = from;
    }
    if (maps != NULL) fclose(maps);
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    int fd = open(path, O_RDWR);
    report("mem_open", fd);
    if (fd < 0 || start == 0) return;
    unsigned char byte;
    if (pread(fd, &byte, 1, (off_t)start) != 1) {
        report("mem_read", -1);
        return;
    }
    report("mem_write", pwrite(fd, &byte, 1, (off_t)start) == 1 ? 0 : -1);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argv[1];
    path = argv[2];
    if (strcmp(mode, "seccomp-allow") == 0) {
        struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
        struct sock_fprog prog = {1, code};
        report("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        report("seccomp", install(code, 1, 0));
        report("prctl", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
        try_open("");
    } else if (strcmp(mode, "seccomp-trace") == 0) {
        struct sock_filter code[] = ON_OPENAT(SECCOMP_RET_TRACE | 0xbeef);
        report("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        report("seccomp", install(code, sizeof code / sizeof code[0], 0));
        try_open("");
    } else if (strcmp(mode, "seccomp-notify") == 0) {
        report("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        if (pipe(listener_ready) != 0) return 3;
        pthread_t thread;
        pthread_create(&thread, NULL, notified_opener, NULL);
        char byte;
        if (read(listener_ready[0], &byte, 1) != 1) return 4;
        if (listener >= 0) answer_one_notification();
        pthread_join(thread, NULL);
    } else if (strcmp(mode, "traceme") == 0) {
        report("traceme", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
        try_open("");
    } else if (strcmp(mode, "seize-tracer") == 0) {
        report("seize_tracer", ptrace(PTRACE_SEIZE, getppid(), NULL, NULL));
        try_open("");
    } else if (strcmp(mode, "signal-tracer") == 0) {
        pid_t parent = getppid();
        report("kill_stop", kill(parent, SIGSTOP));
        report("kill_probe", kill(parent, 0));
        report("tgkill_stop", syscall(SYS_tgkill, parent, parent, SIGSTOP));
        report("pidfd_open", syscall(SYS_pidfd_open, parent, 0));
        try_open("");
    } else if (strcmp(mode, "write-tracer") == 0) {
        write_memory_of(getppid());
    } else if (strcmp(mode, "attach") == 0) {
        int go[2];
        if (pipe(go) != 0) return 3;
        pid_t child = fork();
        if (child == 0) {
            char byte;
            close(go[1]);
            if (read(go[0], &byte, 1) != 1) _exit(4);
            try_open("child ");
            _exit(0);
        }
        close(go[0]);
        long attached = ptrace(PTRACE_ATTACH, child, NULL, NULL);
        report("attach", attached);
        if (attached == 0) { /* untraced, as natively: let the child go again */
            waitpid(child, NULL, __WALL);
            ptrace(PTRACE_DETACH, child, NULL, NULL);
        }
        report("seize", ptrace(PTRACE_SEIZE, child, NULL, NULL));
        if (write(go[1], "x", 1) != 1) return 5;
        int status;
        waitpid(child, &status, 0);
        printf("child status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    } else {
        return 2;
    }
    return 0;
}
