/* The floor for sysemu's ptrace backend: the least a tracer with no seccomp filter can do.
 *
 *   floor_syscall emulate|pass NR -- PROGRAM [ARG...]
 *
 * No filter: the program is resumed with PTRACE_SYSCALL, so every call of every thread stops
 * twice, at its entry and at its exit, whether the tracer wants it or not. Per stop, exactly
 * the requests sysemu's ptrace backend makes: one waitpid, one PTRACE_GET_SYSCALL_INFO (the
 * entry/exit and the call number come from it), one PTRACE_SYSCALL. For "emulate", at the
 * entry of call NR (x86_64) two POKEUSERs: orig_rax = -1 (the kernel skips the call and leaves
 * rax alone) and rax = 42424242 (its result); the exit stop that follows changes nothing.
 * Follows forks, clones and execs; re-injects signals, except the SIGSTOP every new task
 * starts with; no group-stop handling (benchmarks do not stop). */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

/* Which tids have been seen, indexed by tid (pid_max bytes; untouched pages cost nothing):
 * the first stop of a new task is the SIGSTOP of its attach, which must not be re-injected. */
static unsigned char *seen;

static long pid_max(void) {
    long max = 4194304; /* the kernel's upper bound, if /proc cannot tell */
    FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1) max = 4194304;
        fclose(f);
    }
    return max;
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s emulate|pass NR -- PROGRAM [ARG...]\n", argv[0]);
        return 2;
    }
    int emulate = strcmp(argv[1], "emulate") == 0;
    unsigned long nr = strtoul(argv[2], NULL, 10);
    seen = calloc((size_t)pid_max() + 1, 1);
    if (!seen) return 1;
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        execvp(argv[4], argv + 4);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    seen[child] = 1;
    ptrace(PTRACE_SETOPTIONS, child, 0,
           PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK |
               PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC);
    ptrace(PTRACE_SYSCALL, child, 0, 0);
    struct __ptrace_syscall_info info;
    int exit_code = 0;
    for (;;) {
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (tid == child) exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            seen[tid] = 0;
            continue;
        }
        int sig = WSTOPSIG(status), event = status >> 16;
        if (!seen[tid]) {
            seen[tid] = 1;
            if (sig == SIGSTOP) { /* a new task's attach stop: swallow it */
                ptrace(PTRACE_SYSCALL, tid, 0, 0);
                continue;
            }
        }
        if (sig == (SIGTRAP | 0x80)) {
            ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
            if (emulate && info.op == PTRACE_SYSCALL_INFO_ENTRY && info.entry.nr == nr) {
                ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, orig_rax), -1L);
                ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, rax), 42424242L);
            }
            ptrace(PTRACE_SYSCALL, tid, 0, 0);
        } else if (event != 0 || sig == SIGTRAP) {
            ptrace(PTRACE_SYSCALL, tid, 0, 0);
        } else {
            ptrace(PTRACE_SYSCALL, tid, 0, sig);
        }
    }
    return exit_code;
}
