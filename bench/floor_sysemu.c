/* The floor for sysemu's PTRACE_SYSEMU backend: the least a tracer can do when the kernel
 * runs no call unless the tracer makes it run.
 *
 *   floor_sysemu emulate|pass NR -- PROGRAM [ARG...]
 *
 * No filter: the program is resumed with PTRACE_SYSEMU, so every call stops at its entry and
 * the kernel skips it. Per stop, the requests sysemu's sysemu backend makes: one waitpid, one
 * PTRACE_GET_SYSCALL_INFO, then
 *   - call NR (x86_64) with "emulate": two POKEUSERs (orig_rax = -1, rax = 42424242) and
 *     PTRACE_SYSEMU again: one stop, and the call never ran;
 *   - any other call: made again. GETREGS/SETREGS put rip back over the two-byte syscall
 *     instruction and the number back in rax (what the kernel does to restart a call), and
 *     PTRACE_SYSCALL resumes it. The kernel then reports the exit stop of the skipped attempt
 *     (resuming with PTRACE_SYSCALL arms the exit report), then the entry of the real call,
 *     then its exit; each is answered with PTRACE_SYSCALL except that last one, after which
 *     the thread goes back to PTRACE_SYSEMU. Three stops for a call that runs.
 * That is the sequence sysemu's Tracer._run_after_all and _on_syscall_stop follow; like them,
 * the entry/exit of each stop is taken from PTRACE_GET_SYSCALL_INFO, so a kernel that did not
 * report the skipped attempt's exit would still be followed.
 * Follows forks, clones and execs (their events come while the real call runs: PTRACE_SYSCALL
 * again); re-injects signals, except the SIGSTOP every new task starts with; no group-stop
 * handling (benchmarks do not stop). */
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

#ifndef PTRACE_SYSEMU
#define PTRACE_SYSEMU 31
#endif

/* Per tid (indexed by tid, pid_max bytes; untouched pages cost nothing): */
enum {
    UNSEEN = 0,    /* not seen yet: its first stop is the SIGSTOP of its attach */
    IDLE = 1,      /* running under PTRACE_SYSEMU */
    SKIPPED = 2,   /* made again: waiting for the skipped attempt's exit, then the real entry */
    RUNNING = 3,   /* the real call is in the kernel: waiting for its exit */
};
static unsigned char *phase;

static long pid_max(void) {
    long max = 4194304; /* the kernel's upper bound, if /proc cannot tell */
    FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1) max = 4194304;
        fclose(f);
    }
    return max;
}

/* Resume a thread the way its phase needs: PTRACE_SYSEMU unless a call is being made again. */
static void resume(pid_t tid, int sig) {
    ptrace(phase[tid] == IDLE ? PTRACE_SYSEMU : PTRACE_SYSCALL, tid, 0, sig);
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s emulate|pass NR -- PROGRAM [ARG...]\n", argv[0]);
        return 2;
    }
    int emulate = strcmp(argv[1], "emulate") == 0;
    unsigned long nr = strtoul(argv[2], NULL, 10);
    phase = calloc((size_t)pid_max() + 1, 1);
    if (!phase) return 1;
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        execvp(argv[4], argv + 4);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    phase[child] = IDLE;
    ptrace(PTRACE_SETOPTIONS, child, 0,
           PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK |
               PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC);
    ptrace(PTRACE_SYSEMU, child, 0, 0);
    struct __ptrace_syscall_info info;
    struct user_regs_struct regs;
    int exit_code = 0;
    for (;;) {
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) break;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (tid == child) exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            phase[tid] = UNSEEN;
            continue;
        }
        int sig = WSTOPSIG(status), event = status >> 16;
        if (phase[tid] == UNSEEN) {
            /* A new task: fork, vfork and clone children start outside any call (the child's
             * side of the call returns without a stop), so under PTRACE_SYSEMU. */
            phase[tid] = IDLE;
            if (sig == SIGSTOP) { /* its attach stop: swallow it */
                resume(tid, 0);
                continue;
            }
        }
        if (sig != (SIGTRAP | 0x80)) { /* an event (fork, exec...) or a signal */
            resume(tid, event != 0 || sig == SIGTRAP ? 0 : sig);
            continue;
        }
        ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
        if (phase[tid] == SKIPPED) {
            if (info.op == PTRACE_SYSCALL_INFO_ENTRY) phase[tid] = RUNNING; /* the real entry */
            ptrace(PTRACE_SYSCALL, tid, 0, 0);
        } else if (phase[tid] == RUNNING) {
            if (info.op == PTRACE_SYSCALL_INFO_EXIT) phase[tid] = IDLE; /* the real exit */
            resume(tid, 0);
        } else if (emulate && info.entry.nr == nr) { /* IDLE: an entry stop, the call skipped */
            ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, orig_rax), -1L);
            ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, rax), 42424242L);
            ptrace(PTRACE_SYSEMU, tid, 0, 0);
        } else { /* make the call again, for the kernel to run */
            ptrace(PTRACE_GETREGS, tid, 0, &regs);
            regs.rip -= 2;
            regs.rax = regs.orig_rax;
            ptrace(PTRACE_SETREGS, tid, 0, &regs);
            phase[tid] = SKIPPED;
            ptrace(PTRACE_SYSCALL, tid, 0, 0);
        }
    }
    return exit_code;
}
