/* Opens argv[1] with open(2) (glibc makes it openat) and prints "ok" or the errno name; built
 * both as a 64-bit and as a 32-bit program. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { printf("error %s\n", strerror(errno)); return 1; }
    char buffer[64];
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    buffer[n > 0 ? n : 0] = 0;
    printf("ok %s", buffer);
    return 0;
}
