/* Opens and closes PATH with openat N times and prints how many opens succeeded.
 *
 *   openat_loop N PATH
 *
 * The micro-benchmark for handlers that read a path argument out of the program's memory:
 * every call has a string for the tracer to fetch, unlike getpid. Calls the syscalls directly
 * so that libc cannot substitute another call (open, openat2) behind our back. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s N PATH\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]), opened = 0;
    for (long i = 0; i < n; i++) {
        long fd = syscall(SYS_openat, AT_FDCWD, argv[2], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            opened++;
            syscall(SYS_close, fd);
        }
    }
    printf("%ld\n", opened);
    return 0;
}
