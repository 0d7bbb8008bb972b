/* Calls syscall numbers no kernel implements: 1000 with two arguments, then 1001.
 * Under examples/experimental_syscall.py, 1000 adds its arguments; 1001 fails with ENOSYS
 * as it does natively, since nobody implements it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    long r = syscall(1000, 2L, 3L);
    printf("1000(2, 3) = %ld\n", r);
    errno = 0;
    r = syscall(1001);
    printf("1001() = %ld %s\n", r, r < 0 ? strerror(errno) : "");
    return 0;
}
