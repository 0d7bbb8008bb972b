/* Starts children with fork, vfork, clone3 and posix_spawn, and threads with pthread_create;
 * each child and thread prints what getpid returns, and the parent what it returns too. */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void *thread_main(void *name) {
    printf("%s %ld\n", (char *)name, syscall(SYS_getpid));
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t pid = fork();
    if (pid == 0) { printf("fork %ld\n", syscall(SYS_getpid)); _exit(0); }
    waitpid(pid, NULL, 0);

    pid = vfork();
    if (pid == 0) { syscall(SYS_getpid); _exit(7); }
    int status;
    waitpid(pid, &status, 0);
    printf("vfork exit %d\n", WEXITSTATUS(status));

    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) { printf("clone3 %ld\n", syscall(SYS_getpid)); _exit(0); }
    if (pid > 0) waitpid(pid, NULL, 0); else printf("clone3 unavailable\n");

    char *spawn_argv[] = {argc > 1 ? argv[1] : "/bin/true", NULL};
    if (posix_spawn(&pid, spawn_argv[0], NULL, NULL, spawn_argv, environ) == 0) {
        waitpid(pid, &status, 0);
        printf("posix_spawn exit %d\n", WEXITSTATUS(status));
    }

    pthread_t threads[4];
    for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, thread_main, "thread");
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    printf("parent %ld\n", syscall(SYS_getpid));
    return 0;
}
