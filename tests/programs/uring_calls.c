/* Makes io_uring_setup, io_uring_enter and io_uring_register calls with the arguments whose
 * decoding a trace must get right: flags known and unknown, the attach and reserved fields of
 * struct io_uring_params, failed calls, a signal set, fd arrays longer and shorter than the
 * string limit, opcodes known and unknown. The calls are made directly (no liburing), so the
 * same calls are made in the same order on every run, under strace and under sysemu alike. */
#include <errno.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static long setup(unsigned entries, struct io_uring_params *params) {
    return syscall(__NR_io_uring_setup, entries, params);
}

static long enter(long fd, unsigned submit, unsigned complete, unsigned flags,
                  const sigset_t *mask, unsigned long size) {
    return syscall(__NR_io_uring_enter, fd, submit, complete, flags, mask, size);
}

static long reg(long fd, unsigned opcode, void *argument, unsigned count) {
    return syscall(__NR_io_uring_register, fd, opcode, argument, count);
}

int main(void) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    long ring = setup(4, &params);
    if (ring < 0) {
        printf("io_uring_setup: %s\n", strerror(errno));
        return 1;
    }

    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_ATTACH_WQ;
    params.cq_entries = 64;
    params.sq_thread_cpu = 1;
    params.sq_thread_idle = 100;
    params.wq_fd = (unsigned)ring;
    long attached = setup(2, &params);
    if (attached >= 0) /* where the ring's fields are: the kernel's layout (5.10 aligns each) */
        printf("sq_off.tail=%u cq_off.cqes=%u\n", params.sq_off.tail, params.cq_off.cqes);

    memset(&params, 0, sizeof params);
    params.flags = 0x80000000u | IORING_SETUP_IOPOLL; /* an unknown bit: EINVAL */
    setup(1, &params);
    memset(&params, 0, sizeof params);
    params.flags = 0x40000000u; /* only unknown bits */
    params.resv[0] = 7;
    setup(1, &params);
    setup(1, NULL);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    enter(ring, 0, 0, IORING_ENTER_GETEVENTS, NULL, 8);
    enter(ring, 0, 0, IORING_ENTER_GETEVENTS, &mask, 8);
    enter(ring, 0, 0, IORING_ENTER_GETEVENTS | IORING_ENTER_SQ_WAKEUP | 0x1000, &mask, 8);
    enter(ring, 0, 0, 0x100, NULL, 0);

    int fds[40];
    for (int i = 0; i < 40; i++) fds[i] = i < 3 ? i : -1;
    reg(ring, IORING_REGISTER_FILES, fds, 3);
    reg(ring, IORING_UNREGISTER_FILES, NULL, 0);
    reg(ring, IORING_REGISTER_FILES, fds, 40);
    int event = eventfd(0, 0);
    reg(ring, IORING_REGISTER_EVENTFD, &event, 1);
    reg(ring, IORING_UNREGISTER_EVENTFD, NULL, 0);
    reg(ring, IORING_REGISTER_PERSONALITY, NULL, 0);
    reg(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    reg(ring, 0x40, NULL, 0);
    reg(ring, 0x80000000u | IORING_REGISTER_FILES, fds, 1);

    if (attached >= 0) close((int)attached);
    close(event);
    close((int)ring);
    printf("done\n");
    return 0;
}
