/* aarch64 for the C accelerator: the facts of kernel/arch/aarch64.py (and of abi/ for the
 * native ABI's structures), for the wait loops and the C trace writer. It gives the names
 * kernel/arch/x86_64.h gives (see there); csrc/arch.h includes it on an aarch64 target.
 *
 * arm64 has no PTRACE_GETREGS or PTRACE_POKEUSER: the registers are the NT_PRSTATUS register
 * set, and the call's number is the NT_ARM_SYSTEM_CALL set (one int; -1 skips the call).
 * tests/test_structure.py checks that the numbers here are the Python module's. */
#ifndef SYSEMU_ARCH_AARCH64_H
#define SYSEMU_ARCH_AARCH64_H

#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "../csrc/tracee.h"

#define ARCH_NAME "aarch64"
#define ARCH_AUDIT 0xC00000B7U /* AUDIT_ARCH_AARCH64 */
/* AArch32 (AUDIT_ARCH_ARM) is no ABI of sysemu's: Python kills its calls. */
#define ARCH_AUDIT_COMPAT ARCH_AUDIT

#define AARCH64_GETREGSET 0x4204
#define AARCH64_SETREGSET 0x4205
#define AARCH64_NT_PRSTATUS 1
#define AARCH64_NT_ARM_SYSTEM_CALL 0x404

/* struct user_pt_regs (arch/arm64/include/uapi/asm/ptrace.h). */
struct aarch64_regs {
    unsigned long long x[31];
    unsigned long long sp;
    unsigned long long pc;
    unsigned long long pstate;
};
#define AARCH64_USER_PT_REGS_SIZE 272
#define AARCH64_PC_OFFSET 256
_Static_assert(sizeof(struct aarch64_regs) == AARCH64_USER_PT_REGS_SIZE, "user_pt_regs");
_Static_assert(offsetof(struct aarch64_regs, pc) == AARCH64_PC_OFFSET, "pc");

/* The length of `svc #0`, which the kernel backs over to restart a call. */
#define AARCH64_SYSCALL_INSN_SIZE 4

/* The native ABI's struct stat (asm-generic/stat.h) and struct timespec: what the native trace
 * reads (abi/ holds the same layouts for Python). */
#define ARCH_STAT_SIZE 128
#define ARCH_STAT_MODE_OFFSET 16 /* st_mode, 32 bits */
#define ARCH_STAT_RDEV_OFFSET 32 /* st_rdev, 64 bits */
#define ARCH_STAT_SIZE_OFFSET 48 /* st_size, 64 bits */
#define ARCH_TIMESPEC_SIZE 16   /* two 64-bit fields */

static inline long aarch64_regset(long request, long tid, long note, void *data, size_t size) {
    struct iovec vector = {data, size};
    return raw_ptrace(request, tid, (unsigned long)note, (unsigned long)&vector);
}

/* x0, the result register (also the first argument, which the engine keeps elsewhere). One
 * request: the kernel's NT_PRSTATUS write (gpr_set) copies a buffer shorter than the set over
 * the thread's current registers, so writing the first register alone leaves the others. */
static inline long aarch64_set_x0(long tid, long long value) {
    unsigned long long x0 = (unsigned long long)value;
    return aarch64_regset(AARCH64_SETREGSET, tid, AARCH64_NT_PRSTATUS, &x0, sizeof x0);
}

/* At a seccomp or syscall-entry stop: syscallno = -1 makes the kernel skip the call, which
 * returns what x0 holds; then resume with `request` (Arch.skip_and_continue). Register sets
 * even where the kernel has PTRACE_SET_SYSCALL_INFO (6.16): with a number of -1 it sets no
 * argument and writes -ENOSYS into x0, which then needs its own write as here. */
static inline long arch_skip_and_continue(long tid, long long value, long request) {
    int skip = -1;
    long result =
        aarch64_regset(AARCH64_SETREGSET, tid, AARCH64_NT_ARM_SYSTEM_CALL, &skip, sizeof skip);
    if (result >= 0) result = aarch64_set_x0(tid, value);
    if (result >= 0) result = raw_ptrace(request, tid, 0, 0);
    return result < 0 ? result : 0;
}

/* At a syscall-exit stop: the call returns `value` instead (Arch.set_return). */
static inline long arch_set_return(long tid, long long value) {
    long result = aarch64_set_x0(tid, value);
    return result < 0 ? result : 0;
}

/* At a PTRACE_SYSEMU stop: back over `svc #0`, with x8 = syscallno (which a rewrite changed,
 * not x8), so resuming makes the call as it stands (Arch.reexecute). */
static inline long arch_reexecute(long tid) {
    struct aarch64_regs regs;
    int number = 0;
    long result =
        aarch64_regset(AARCH64_GETREGSET, tid, AARCH64_NT_ARM_SYSTEM_CALL, &number, sizeof number);
    if (result >= 0)
        result = aarch64_regset(AARCH64_GETREGSET, tid, AARCH64_NT_PRSTATUS, &regs, sizeof regs);
    if (result >= 0) {
        regs.pc -= AARCH64_SYSCALL_INSN_SIZE;
        regs.x[8] = (unsigned long long)(long long)number;
        result = aarch64_regset(AARCH64_SETREGSET, tid, AARCH64_NT_PRSTATUS, &regs, sizeof regs);
    }
    return result < 0 ? result : 0;
}

/* No cycle counter: the generic timer ticks at its own rate, not the CPU's; timing.c uses the
 * monotonic clock. */
#define ARCH_CYCLE_COUNTER 0

#endif
