/* Opens argv[1] three ways from a 64-bit program: the x86_64 openat, the i386 openat through
 * int $0x80, and the x32 openat (number | 0x40000000); prints each result as -errno or fd. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

static long raw_syscall(long nr, long a, long b, long c) {
    long ret;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "memory", "rcx", "r11");
    return ret;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    /* int $0x80 truncates pointers to 32 bits: put the path below 4 GiB. */
    char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) return 3;
    strncpy(low, argv[1], 4000);
    long native = raw_syscall(257, AT_FDCWD, (long)low, O_RDONLY);
    long i386 = int80(295, AT_FDCWD, (long)low, O_RDONLY);
    long x32 = raw_syscall(0x40000000L | 257, AT_FDCWD, (long)low, O_RDONLY);
    long pid32 = int80(20, 0, 0, 0);
    printf("x86_64=%ld i386=%ld x32=%ld i386_getpid_is_pid=%d\n", native > 0 ? 3L : native,
           i386 > 0 ? 3L : i386, x32 > 0 ? 3L : x32, pid32 == getpid());
    return 0;
}
