/* Calls made the awkward ways a tracer must decode as strace does, each followed by the line
 * strace writes for it on stdout (the trace is compared with that, padding before " = "
 * aside): ids of -1, a string cut by an unmapped page (its address), a path longer than
 * PATH_MAX - 1 (cut, with "..."), output integers, flags with unknown bits, a timespec whose
 * nanoseconds do not fit a signed long, offsets passed by address, a datagram longer than the
 * buffer (MSG_TRUNC), a device number and an extended attribute value ending in a NUL.
 * Every call is made with syscall(2), so that libc picks no other call. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* "-1 ENOENT (No such file or directory)", or the result. */
static const char *result_text(long result) {
    static char text[128];
    if (result != -1) {
        snprintf(text, sizeof text, "%ld", result);
        return text;
    }
    const char *name = errno == ENOENT ? "ENOENT" : errno == EBADF ? "EBADF"
                     : errno == EINVAL ? "EINVAL" : errno == EFAULT ? "EFAULT"
                     : errno == ENAMETOOLONG ? "ENAMETOOLONG" : errno == EPERM ? "EPERM"
                     : "E???";
    snprintf(text, sizeof text, "-1 %s (%s)", name, strerror(errno));
    return text;
}

/* A page followed by an unmapped one: what ends at its end runs into a fault. */
static char *page_before_hole(void) {
    char *pages = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) return NULL;
    munmap(pages + 4096, 4096);
    return pages;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *page = page_before_hole();
    if (page == NULL) return 77;

    long rc = syscall(SYS_chown, "decoder_edges.missing", -1, -1);
    printf("chown(\"decoder_edges.missing\", -1, -1) = %s\n", result_text(rc));

    char *cut = page + 4096 - 5;
    memcpy(cut, "abcde", 5); /* no NUL before the hole */
    rc = syscall(SYS_chdir, cut);
    printf("chdir(%p) = %s\n", (void *)cut, result_text(rc));

    memset(page, '/', 4096); /* PATH_MAX bytes, no NUL */
    rc = syscall(SYS_chdir, page);
    printf("chdir(\"%.*s\"...) = %s\n", PATH_MAX - 1, page, result_text(rc));

    unsigned int ids[3];
    rc = syscall(SYS_getresuid, &ids[0], &ids[1], &ids[2]);
    printf("getresuid([%u], [%u], [%u]) = %s\n", ids[0], ids[1], ids[2], result_text(rc));

    rc = syscall(SYS_flock, -1, LOCK_SH | LOCK_NB);
    printf("flock(-1, LOCK_SH|LOCK_NB) = %s\n", result_text(rc));

    rc = syscall(SYS_unlinkat, AT_FDCWD, "decoder_edges.missing", -1);
    printf("unlinkat(AT_FDCWD, \"decoder_edges.missing\", AT_SYMLINK_NOFOLLOW|AT_REMOVEDIR|"
           "AT_SYMLINK_FOLLOW|AT_NO_AUTOMOUNT|AT_EMPTY_PATH|AT_RECURSIVE|0xffff60ff) = %s\n",
           result_text(rc));

    struct timespec odd = {.tv_sec = -1, .tv_nsec = -1};
    rc = syscall(SYS_nanosleep, &odd, NULL);
    printf("nanosleep({tv_sec=-1, tv_nsec=18446744073709551615}, NULL) = %s\n", result_text(rc));

    unsigned int cpu, node;
    rc = syscall(SYS_getcpu, &cpu, &node, NULL);
    printf("getcpu([%u], [%u], NULL) = %s\n", cpu, node, result_text(rc));

    long long in_offset = -2, out_offset = 7;
    rc = syscall(SYS_splice, -1, &in_offset, -2, &out_offset, 16, 1 | 4);
    printf("splice(-1, [-2], -2, [7], 16, SPLICE_F_MOVE|SPLICE_F_MORE) = %s\n", result_text(rc));

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) != 0) return 77;
    if (send(pair[1], "AB", 2, 0) != 2) return 77;
    char one;
    rc = syscall(SYS_recvfrom, pair[0], &one, 1, MSG_TRUNC, NULL, NULL);
    printf("recvfrom(%d, \"A\", 1, MSG_TRUNC, NULL, NULL) = %s\n", pair[0], result_text(rc));

    rc = syscall(SYS_mknod, "decoder_edges.missing/device", S_IFCHR | 0600, makedev(1, 3));
    printf("mknod(\"decoder_edges.missing/device\", S_IFCHR|0600, makedev(0x1, 0x3)) = %s\n",
           result_text(rc));

    rc = syscall(SYS_fsetxattr, -1, "user.edge", "ab\0cd", 6, 1);
    printf("fsetxattr(-1, \"user.edge\", \"ab\\0cd\", 6, XATTR_CREATE) = %s\n", result_text(rc));

    puts("+++ exited with 0 +++");
    return 0;
}
