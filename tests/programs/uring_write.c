/* Opens PATH for writing and writes "data\n" into it through io_uring (IORING_OP_OPENAT,
 * IORING_OP_WRITE), as liburing's users do; where the kernel has no io_uring
 * (io_uring_setup fails with ENOSYS), falls back to plain openat and write, as they do too.
 * Prints "uring" or "fallback", then "ok" or the error; exits 1 on an error. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int plain(const char *path) {
    printf("fallback\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("open: %s\n", strerror(errno));
        return 1;
    }
    if (write(fd, "data\n", 5) != 5) {
        printf("write: %s\n", strerror(errno));
        return 1;
    }
    close(fd);
    printf("ok\n");
    return 0;
}

static int run(struct io_uring *ring, void (*prepare)(struct io_uring_sqe *, const void *),
               const void *argument) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    prepare(sqe, argument);
    if (io_uring_submit(ring) < 0) return -EIO;
    struct io_uring_cqe *cqe;
    int error = io_uring_wait_cqe(ring, &cqe);
    if (error < 0) return error;
    int result = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return result;
}

static void prepare_open(struct io_uring_sqe *sqe, const void *path) {
    io_uring_prep_openat(sqe, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

static int written_fd;
static void prepare_write(struct io_uring_sqe *sqe, const void *data) {
    io_uring_prep_write(sqe, written_fd, data, 5, 0);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    struct io_uring ring;
    int error = io_uring_queue_init(8, &ring, 0);
    if (error == -ENOSYS) return plain(argv[1]);
    if (error < 0) {
        printf("io_uring_queue_init: %s\n", strerror(-error));
        return 1;
    }
    printf("uring\n");
    written_fd = run(&ring, prepare_open, argv[1]);
    if (written_fd < 0) {
        printf("open: %s\n", strerror(-written_fd));
        return 1;
    }
    int wrote = run(&ring, prepare_write, "data\n");
    if (wrote != 5) {
        printf("write: %s\n", wrote < 0 ? strerror(-wrote) : "short");
        return 1;
    }
    close(written_fd);
    io_uring_queue_exit(&ring);
    printf("ok\n");
    return 0;
}
