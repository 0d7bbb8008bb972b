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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

/* The structures io_uring_register reads and writes, each opcode strace 6.1 decodes: buffers,
 * file updates, the probe (zeroed: shown at exit; not zeroed: at entry too), worker limits
 * and CPUs, resources and their updates, ring fds, buffer rings, restrictions; well-formed,
 * malformed and unreadable. What they point to lies in an area mapped at a fixed address, so
 * that the addresses shown are the same on every run; 0x20000000 is left unmapped. */
static int registered_structures(long ring) {
    char *area = mmap((void *)0x10000000, 0x10000, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (area != (void *)0x10000000) {
        printf("mmap at 0x10000000: %s\n", strerror(errno));
        return 1;
    }
    struct iovec *iov = (struct iovec *)(area + 0x8000);
    iov[0] = (struct iovec){area, 4096};
    iov[1] = (struct iovec){area + 8192, 8192};
    reg(ring, IORING_REGISTER_BUFFERS, iov, 2);
    reg(ring, IORING_UNREGISTER_BUFFERS, NULL, 0);
    reg(ring, IORING_REGISTER_BUFFERS, NULL, 1);
    reg(ring, IORING_REGISTER_BUFFERS, iov, 0);

    int *slots = (int *)(area + 0x9000);
    slots[0] = -1, slots[1] = 1, slots[2] = -2; /* clear, set, skip */
    struct io_uring_files_update *update = (void *)(area + 0x9100);
    *update = (struct io_uring_files_update){.offset = 1, .fds = (unsigned long)slots};
    reg(ring, IORING_REGISTER_FILES_UPDATE, update, 3);
    update->resv = 5;
    reg(ring, IORING_REGISTER_FILES_UPDATE, update, 1);
    reg(ring, IORING_REGISTER_FILES_UPDATE, NULL, 1);

    struct io_uring_probe *probe = (void *)(area + 0xa000);
    reg(ring, IORING_REGISTER_PROBE, probe, 4);
    memset(probe, 0, 0x1000);
    probe->ops_len = 3;
    reg(ring, IORING_REGISTER_PROBE, probe, 2);
    memset(probe, 0, 0x1000);
    reg(ring, IORING_REGISTER_PROBE, probe, 300); /* more than strace decodes */
    reg(ring, IORING_REGISTER_PROBE, probe, 0);
    reg(ring, IORING_REGISTER_PROBE, NULL, 2);

    unsigned *workers = (unsigned *)(area + 0xb000);
    reg(ring, IORING_REGISTER_IOWQ_MAX_WORKERS, workers, 2); /* 0: only read the limits */
    reg(ring, IORING_REGISTER_IOWQ_MAX_WORKERS, workers, 3);
    reg(ring, IORING_REGISTER_IOWQ_MAX_WORKERS, NULL, 2);
    unsigned char *cpus = (unsigned char *)(area + 0xb100);
    cpus[0] = 1;
    reg(ring, IORING_REGISTER_IOWQ_AFF, cpus, 8);
    reg(ring, IORING_UNREGISTER_IOWQ_AFF, NULL, 0);

    struct io_uring_rsrc_register *resources = (void *)(area + 0xc000);
    *resources = (struct io_uring_rsrc_register){.nr = 2, .data = (unsigned long)(slots + 1)};
    reg(ring, IORING_REGISTER_FILES2, resources, sizeof *resources);
    resources->flags = IORING_RSRC_REGISTER_SPARSE;
    resources->tags = (unsigned long)(area + 0xc100);
    reg(ring, IORING_REGISTER_BUFFERS2, resources, sizeof *resources);
    reg(ring, IORING_REGISTER_BUFFERS2, resources, 16);
    struct io_uring_rsrc_update2 *update2 = (void *)(area + 0xc200);
    *update2 = (struct io_uring_rsrc_update2){.data = (unsigned long)slots, .nr = 1};
    reg(ring, IORING_REGISTER_FILES_UPDATE2, update2, sizeof *update2);
    update2->data = 0x20000000;
    update2->resv2 = 4;
    reg(ring, IORING_REGISTER_BUFFERS_UPDATE, update2, sizeof *update2);

    struct io_uring_rsrc_update *ring_fds = (void *)(area + 0xd000);
    ring_fds[0] = (struct io_uring_rsrc_update){.offset = -1U, .data = 1};
    reg(ring, IORING_REGISTER_RING_FDS, ring_fds, 1);
    ring_fds[0] = (struct io_uring_rsrc_update){.offset = 3};
    ring_fds[1] = (struct io_uring_rsrc_update){.offset = 1, .resv = 2, .data = 7};
    reg(ring, IORING_UNREGISTER_RING_FDS, ring_fds, 2);

    struct io_uring_buf_reg *buffers = (void *)(area + 0xe000);
    *buffers = (struct io_uring_buf_reg){.ring_addr = 0x20000000, .ring_entries = 8, .bgid = 3};
    reg(ring, IORING_REGISTER_PBUF_RING, buffers, 1);
    reg(ring, IORING_UNREGISTER_PBUF_RING, buffers, 2);

    struct io_uring_restriction *rules = (void *)(area + 0xf000);
    rules[0] = (struct io_uring_restriction){.opcode = IORING_RESTRICTION_REGISTER_OP,
                                             .register_op = IORING_REGISTER_BUFFERS};
    rules[1] = (struct io_uring_restriction){.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = 1};
    rules[2] = (struct io_uring_restriction){.opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED,
                                             .sqe_flags = 0x83, .resv = 1};
    rules[3] = (struct io_uring_restriction){.opcode = 9, .register_op = 7, .resv2 = {0, 9, 0}};
    rules[4] = (struct io_uring_restriction){.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = 60};
    reg(ring, IORING_REGISTER_RESTRICTIONS, rules, 5);
    return 0;
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
    if (registered_structures(ring) != 0) return 1;

    if (attached >= 0) close((int)attached);
    close(event);
    close((int)ring);
    printf("done\n");
    return 0;
}
