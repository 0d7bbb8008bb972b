/* The floor for sysemu's benchmark: the least a seccomp + ptrace tracer can do per call.
 *
 *   floor_tracer emulate|pass|none[+spin][+path] NR -- PROGRAM [ARG...]
 *
 * Traps syscall NR (x86_64) with SECCOMP_RET_TRACE and, per stop, makes exactly the requests
 * sysemu makes: one waitpid, one PTRACE_GET_SYSCALL_INFO, for "emulate" two POKEUSERs
 * (orig_rax = -1, rax = 42424242), one PTRACE_CONT. "none" installs no filter. Follows forks,
 * clones and execs; re-injects signals; no group-stop handling (benchmarks do not stop).
 * "+spin" polls waitpid(WNOHANG) for up to 250 µs while stops come fast, as sysemu does by
 * default, so that sysemu's polling is compared with a C tracer that polls too.
 * "+path" also copies the NUL-terminated string at the call's second argument (openat's
 * pathname) out of the program at every stop, with process_vm_readv up to the end of its page
 * and then a page at a time, as sysemu reads call.path: the floor of a handler that reads a
 * path. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "floor_path.h"

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}


int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s emulate|pass|none[+spin][+path] NR -- PROGRAM [ARG...]\n",
                argv[0]);
        return 2;
    }
    int emulate = strncmp(argv[1], "emulate", 7) == 0, filter = strncmp(argv[1], "none", 4) != 0;
    long long spin_ns = strstr(argv[1], "+spin") ? 250000 : 0;
    int read_path = strstr(argv[1], "+path") != NULL;
    long unreadable = 0; /* paths that could not be read: the run then fails */
    int spinning = 0;
    unsigned nr = (unsigned)atoi(argv[2]);
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        if (filter) {
            struct sock_filter code[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            };
            struct sock_fprog prog = {sizeof code / sizeof code[0], code};
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(126);
        }
        execvp(argv[4], argv + 4);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    ptrace(PTRACE_SETOPTIONS, child, 0,
           PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK |
               PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC);
    ptrace(PTRACE_CONT, child, 0, 0);
    struct __ptrace_syscall_info info;
    int exit_code = 0;
    for (;;) {
        pid_t tid = 0;
        if (spinning) {
            long long deadline = now_ns() + spin_ns;
            while ((tid = waitpid(-1, &status, __WALL | WNOHANG)) == 0 && now_ns() < deadline)
                ;
        }
        if (tid == 0) {
            long long started = now_ns();
            tid = waitpid(-1, &status, __WALL);
            spinning = spin_ns && now_ns() - started < spin_ns;
        }
        if (tid < 0) break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (tid == child) exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            continue;
        }
        int sig = WSTOPSIG(status), event = status >> 16;
        if (sig == SIGTRAP && event == PTRACE_EVENT_SECCOMP) {
            ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
            if (read_path && read_string(tid, info.seccomp.args[1]) < 0) unreadable++;
            if (emulate) {
                ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, orig_rax), -1L);
                ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, rax), 42424242L);
            }
            ptrace(PTRACE_CONT, tid, 0, 0);
        } else if (event != 0 || sig == SIGTRAP) {
            ptrace(PTRACE_CONT, tid, 0, 0);
        } else {
            ptrace(PTRACE_CONT, tid, 0, sig);
        }
    }
    if (unreadable) {
        fprintf(stderr, "floor_tracer: %ld paths could not be read\n", unreadable);
        return 125;
    }
    return exit_code;
}
