/* Calls getpid N times (argv[1], default 1) and prints the last answer. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1, last = 0;
    for (long i = 0; i < n; i++)
        last = syscall(SYS_getpid);
    printf("%ld\n", last);
    return 0;
}
