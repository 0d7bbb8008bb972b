/* Opens and closes PATH with openat N times and prints how many opens succeeded.
 *
 *   openat_loop N PATH
 *
 * The micro-benchmark for handlers that read a path argument out of the program's memory:
 * every call has a string for the tracer to fetch, unlike getpid. Calls the syscalls directly
 * so that libc cannot substitute another call (open, openat2) behind our back.
 *
 * With LOOP_NS in the environment it also writes "loop ns T" to stderr, the loop's own wall
 * time (see tests/programs/getpid_loop.c). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s N PATH\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]), opened = 0;
    long long started = now_ns();
    for (long i = 0; i < n; i++) {
        long fd = syscall(SYS_openat, AT_FDCWD, argv[2], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            opened++;
            syscall(SYS_close, fd);
        }
    }
    long long spent = now_ns() - started;
    printf("%ld\n", opened);
    if (getenv("LOOP_NS") != NULL) fprintf(stderr, "loop ns %lld\n", spent);
    return 0;
}
