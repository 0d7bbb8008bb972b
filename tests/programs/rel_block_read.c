/* Prints "pid P" and then blocks for good in read(2) on a pipe it holds both ends of, so only
 * a signal can end it. Prints "read returned N" if the read ever returns. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int fds[2];
    if (pipe(fds) != 0) return 2;
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    char byte;
    ssize_t n = read(fds[0], &byte, 1);
    printf("read returned %zd\n", n);
    return 1;
}
