/* Rewritten paths where the stack has no room below the stack pointer, from many threads at
 * once, and across fork and exec (tests/test_scratch.py runs it under --bind DIR=HOST).
 *
 *   scratch_rewrites DIR [PROGRAM]
 *
 * DIR holds files f0..f7, each "file N\n". Prints, one line each:
 *   edge: the content of DIR/f0, opened by a raw openat whose stack pointer sits 64 bytes
 *         above the bottom of its mapping (the page below is unmapped);
 *   threads: how many of 8 threads x 300 opens of DIR/fK read another file's content or
 *         failed (0 expected);
 *   fork: the wrong reads of the parent and of a fork child, 300 opens each at once;
 *   exec: the exit status of PROGRAM (if given), run by a fork child with DIR/f3 as its
 *         argument.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;

/* openat(AT_FDCWD, path, O_RDONLY) made with the stack pointer at `sp`. */
static long openat_on_stack(char *sp, const char *path) {
    long ret;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "mov %[sp], %%rsp\n\t"
                     "syscall\n\t"
                     "mov %%r12, %%rsp\n\t"
                     : "=a"(ret)
                     : "a"((long)SYS_openat), "D"((long)AT_FDCWD), "S"(path), "d"((long)O_RDONLY),
                       [sp] "r"(sp), "r"(r10)
                     : "rcx", "r11", "r12", "memory");
#elif defined(__i386__)
    (void)sp; /* (the i386 build checks the compat mapping, not the stack) */
    ret = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
    if (ret < 0) ret = -errno;
#elif defined(__aarch64__)
    register long x0 __asm__("x0") = AT_FDCWD;
    register long x1 __asm__("x1") = (long)path;
    register long x2 __asm__("x2") = O_RDONLY;
    register long x3 __asm__("x3") = 0;
    register long x8 __asm__("x8") = SYS_openat;
    __asm__ volatile("mov x9, sp\n\t"
                     "mov sp, %[sp]\n\t"
                     "svc #0\n\t"
                     "mov sp, x9\n\t"
                     : "+r"(x0)
                     : "r"(x1), "r"(x2), "r"(x3), "r"(x8), [sp] "r"(sp)
                     : "x9", "memory");
    ret = x0;
#else
#error "x86-64, i386 or aarch64"
#endif
    return ret;
}

/* The content of fd (closed), up to 63 bytes, or "" when it cannot be read. */
static void slurp(long fd, char *out) {
    out[0] = '\0';
    if (fd < 0) return;
    ssize_t got = read((int)fd, out, 63);
    out[got > 0 ? got : 0] = '\0';
    close((int)fd);
}

static int check(int index) {
    char path[4200], content[64], want[64];
    snprintf(path, sizeof path, "%s/f%d", dir, index);
    snprintf(want, sizeof want, "file %d\n", index);
    slurp(open(path, O_RDONLY), content);
    return strcmp(content, want) != 0;
}

static void *worker(void *arg) {
    long self = (long)arg, wrong = 0;
    for (int i = 0; i < 300; i++) wrong += check((int)((self + i) % 8));
    return (void *)wrong;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    dir = argv[1];
    setvbuf(stdout, NULL, _IONBF, 0);

    long page = sysconf(_SC_PAGESIZE);
    char *pages = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) return 3;
    munmap(pages, page); /* nothing below the stack's page */
    static char path[4200];
    snprintf(path, sizeof path, "%s/f0", dir);
    char content[64];
    long fd = openat_on_stack(pages + page + 64, path);
    slurp(fd, content);
    printf("edge: %s", fd < 0 ? "failed\n" : content);

    pthread_t threads[8];
    for (long n = 0; n < 8; n++) pthread_create(&threads[n], NULL, worker, (void *)n);
    long wrong = 0;
    for (int n = 0; n < 8; n++) {
        void *result;
        pthread_join(threads[n], &result);
        wrong += (long)result;
    }
    printf("threads: %ld\n", wrong);

    /* Parent and fork child at once: the child has the parent's (shared) scratch area. */
    pid_t child = fork();
    if (child == 0) _exit((int)(long)worker((void *)1));
    long parent = (long)worker((void *)2);
    int status;
    waitpid(child, &status, 0);
    printf("fork: %ld %d\n", parent, WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    if (argc > 2) {
        snprintf(path, sizeof path, "%s/f3", dir);
        child = fork();
        if (child == 0) {
            execl(argv[2], argv[2], path, (char *)NULL);
            _exit(127);
        }
        waitpid(child, &status, 0);
        printf("exec: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return 0;
}
