/* The floor for sysemu's user-notification backend: the least a C supervisor can do.
 *
 *   floor_unotify emulate|pass[+seize][+path] NR -- PROGRAM [ARG...]
 *
 * The child installs a filter answering syscall NR (x86_64) with SECCOMP_RET_USER_NOTIF,
 * sends the listener fd over a socketpair and execs. The supervisor sets
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP where the kernel has it (6.6), then per call does one
 * NOTIF_RECV and one NOTIF_SEND: 42424242 for "emulate", CONTINUE for "pass". It blocks in
 * NOTIF_RECV, as sysemu's unotify backend does: a poll before each receive would be one more
 * request per call, and its wake-up does not come on the caller's CPU as the receive's does.
 *
 * "+seize" is the auto backend's mechanism: the child is also ptraced (PTRACE_SEIZE with
 * PTRACE_O_EXITKILL, TRACEEXEC, TRACEFORK, TRACECLONE, TRACEVFORK and TRACESECCOMP, before it
 * installs the filter), the main thread waits in waitpid and resumes every stop, and a second
 * thread answers the notifications.
 *
 * "+path" also copies the NUL-terminated string at the call's second argument (openat's
 * pathname) out of the caller before answering, with process_vm_readv up to the end of its
 * page and then a page at a time, and then asks NOTIF_ID_VALID whether the call is still
 * waiting (else the pid may have been reused and the bytes are another process's), as sysemu
 * reads call.path under user notification: the floor of a handler that reads a path. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "floor_path.h"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_ID_VALID
#define SECCOMP_IOCTL_NOTIF_ID_VALID SECCOMP_IOW(2, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static void send_fd(int sock, int fd) {
    char data = 'L', control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&data, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    if (sendmsg(sock, &msg, 0) != 1) _exit(125);
}

static int receive_fd(int sock) {
    char data, control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&data, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(sock, &msg, 0) != 1) return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
    return fd;
}

static int emulate, read_path;
static long unreadable; /* paths that could not be read: the run then fails */


/* Answer notifications until every process using the filter is gone. */
static void *serve(void *argument) {
    int listener = *(int *)argument;
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    struct seccomp_notif request;
    struct seccomp_notif_resp response;
    for (;;) {
        memset(&request, 0, sizeof request);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) {
            /* EINTR, or ENOENT: that call's thread died, or every process using the filter
             * is gone (the listener then polls as hung up). */
            struct pollfd poller = {listener, POLLIN, 0};
            if (errno != EINTR && errno != ENOENT) break;
            if (poll(&poller, 1, 0) > 0 && poller.revents & (POLLHUP | POLLERR)) break;
            continue;
        }
        if (read_path) {
            long length = read_string((pid_t)request.pid, request.data.args[1]);
            if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &request.id) != 0)
                continue; /* the call is gone: nothing to answer */
            if (length < 0) unreadable++;
        }
        memset(&response, 0, sizeof response);
        response.id = request.id;
        if (emulate)
            response.val = 42424242;
        else
            response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s emulate|pass[+seize][+path] NR -- PROGRAM [ARG...]\n",
                argv[0]);
        return 2;
    }
    emulate = strncmp(argv[1], "emulate", 7) == 0;
    int seize = strstr(argv[1], "+seize") != NULL;
    read_path = strstr(argv[1], "+path") != NULL;
    unsigned nr = (unsigned)atoi(argv[2]);
    int pair[2], go[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return 1;
    if (pipe2(go, O_CLOEXEC) != 0) return 1;
    pid_t child = fork();
    if (child == 0) {
        char byte;
        if (read(go[0], &byte, 1) != 1) _exit(124); /* seized (or not) by now */
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof code / sizeof code[0], code};
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        int listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                               SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (listener < 0) _exit(126);
        send_fd(pair[1], listener);
        execvp(argv[4], argv + 4);
        _exit(127);
    }
    close(pair[1]);
    close(go[0]);
    long options = PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK |
                   PTRACE_O_TRACECLONE | PTRACE_O_TRACEVFORK | PTRACE_O_TRACESECCOMP;
    if (seize && ptrace(PTRACE_SEIZE, child, 0, options) != 0) return 1;
    if (write(go[1], "x", 1) != 1) return 1;
    int listener = receive_fd(pair[0]);
    if (listener < 0) return 1;
    int status;
    if (!seize) {
        serve(&listener);
        waitpid(child, &status, 0);
    } else {
        pthread_t answering;
        if (pthread_create(&answering, NULL, serve, &listener) != 0) return 1;
        for (;;) { /* every stop (the exec event, here) is resumed as it is */
            pid_t pid = waitpid(-1, &status, __WALL);
            if (pid < 0) break;
            if (pid == child && (WIFEXITED(status) || WIFSIGNALED(status))) break;
            if (WIFSTOPPED(status)) {
                int event = status >> 16, signal = WSTOPSIG(status);
                ptrace(PTRACE_CONT, pid, 0, event || signal == SIGTRAP ? 0 : signal);
            }
        }
        pthread_join(answering, NULL);
    }
    if (unreadable) {
        fprintf(stderr, "floor_unotify: %ld paths could not be read\n", unreadable);
        return 125;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
