/* Tries to run argv[2] (an absolute path, given argv[3..] as its arguments) by the exec call
 * argv[1] names, from a 64-bit program:
 *
 *   execve          the x86_64 execve
 *   execveat        the x86_64 execveat with a path
 *   fexecve         the x86_64 execveat on an O_PATH descriptor with AT_EMPTY_PATH (no path)
 *   i386-execve     the i386 execve through int $0x80
 *   i386-execveat   the i386 execveat through int $0x80
 *   x32-execve      the x32 execve (520 | __X32_SYSCALL_BIT)
 *   x32-execveat    the x32 execveat (545 | __X32_SYSCALL_BIT)
 *
 * (The i386 and x32 modes exist on x86-64 only.) If the call returns, prints "MODE=-ERRNO" and exits 1; otherwise the new program runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

#if defined(__x86_64__) /* the i386 and x32 modes: x86-64 only */
static long int80(long nr, long a, long b, long c, long d, long e) {
    long ret;
    register long esi __asm__("rsi") = d;
    register long edi __asm__("rdi") = e;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "r"(esi), "r"(edi)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

static long x32_syscall(long nr, long a, long b, long c, long d, long e) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(0x40000000L | nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "memory", "rcx", "r11");
    return ret;
}

/* int $0x80 and x32 take 32-bit pointers: copy the path and the argument vector below 4 GiB. */
static char *low_copy(char **argv, uint32_t **low_argv) {
    char *low = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) return NULL;
    uint32_t *vector = (uint32_t *)low;
    char *strings = low + 4096;
    int i = 0;
    for (; argv[i] != NULL && i < 64; i++) {
        size_t n = strlen(argv[i]) + 1;
        memcpy(strings, argv[i], n);
        vector[i] = (uint32_t)(uintptr_t)strings;
        strings += n;
    }
    vector[i] = 0;
    *low_argv = vector;
    return (char *)(uintptr_t)vector[0];
}
#endif

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1];
    char **target = argv + 2;
    long result;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(mode, "execve") == 0) {
        result = syscall(SYS_execve, target[0], target, environ);
    } else if (strcmp(mode, "execveat") == 0) {
        result = syscall(SYS_execveat, AT_FDCWD, target[0], target, environ, 0);
    } else if (strcmp(mode, "fexecve") == 0) {
        int fd = open(target[0], O_PATH | O_CLOEXEC);
        if (fd < 0) return 3;
        result = syscall(SYS_execveat, fd, "", target, environ, AT_EMPTY_PATH);
#if defined(__x86_64__)
    } else if (strncmp(mode, "i386-", 5) == 0 || strncmp(mode, "x32-", 4) == 0) {
        uint32_t *low_argv;
        char *low_path = low_copy(target, &low_argv);
        if (low_path == NULL) return 3;
        if (strcmp(mode, "i386-execve") == 0)
            result = int80(11, (long)low_path, (long)low_argv, 0, 0, 0);
        else if (strcmp(mode, "i386-execveat") == 0)
            result = int80(358, AT_FDCWD, (long)low_path, (long)low_argv, 0, 0);
        else if (strcmp(mode, "x32-execve") == 0)
            result = x32_syscall(520, (long)low_path, (long)low_argv, 0, 0, 0);
        else if (strcmp(mode, "x32-execveat") == 0)
            result = x32_syscall(545, AT_FDCWD, (long)low_path, (long)low_argv, 0, 0);
        else
            return 2;
        if (result < 0) {
            errno = (int)-result;
            result = -1;
        }
#endif
    } else {
        return 2;
    }
    printf("%s=%ld\n", mode, result < 0 ? (long)-errno : result);
    return 1;
}
