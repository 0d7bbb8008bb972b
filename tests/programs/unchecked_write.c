/* A program with one planted error-path bug, for the sweep's tests: it writes three lines to
 * the file argv[1]; the first and the third write are checked (perror, exit 1), the second is
 * not, and when it fails the program dereferences the NULL that record_write returns for a
 * failed write. A sweep over `write` must find exactly the second write as a crash. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct written {
    size_t bytes;
};

static struct written last;

static struct written *record_write(ssize_t result) {
    if (result < 0) return NULL;
    last.bytes = (size_t)result;
    return &last;
}

static int checked_write(int fd, const char *text) {
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror("write");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: unchecked_write FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    if (checked_write(fd, "header\n") != 0) return 1;
    /* The planted bug: the result of this write is never checked. (volatile: the compiler
     * may not drop or move the dereference.) */
    struct written *volatile body = record_write(write(fd, "body\n", 5));
    size_t total = 7 + body->bytes;
    if (checked_write(fd, "footer\n") != 0) return 1;
    if (close(fd) != 0) {
        perror("close");
        return 1;
    }
    return total == 12 ? 0 : 1;
}
