/* x86-64 for the C accelerator: the facts of kernel/arch/x86_64.py (and of abi/ for the
 * native ABI's structures), for the wait loops and the C trace writer.
 *
 * Every architecture header gives the same names: ARCH_AUDIT (the audit arch of the native
 * ABI, what PTRACE_GET_SYSCALL_INFO and seccomp report), ARCH_AUDIT_COMPAT (the other ABI's,
 * or ARCH_AUDIT again), ARCH_CYCLE_COUNTER, and the register
 * edits of kernel/arch's Arch protocol as static inline functions returning 0 or -errno:
 * arch_skip_and_continue, arch_set_return, arch_reexecute. It is included through
 * csrc/arch.h only, which picks it by the compiler's target. tests/test_structure.py checks
 * that the numbers here are the Python module's. */
#ifndef SYSEMU_ARCH_X86_64_H
#define SYSEMU_ARCH_X86_64_H

#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <x86intrin.h>

#include "../csrc/tracee.h"

#define ARCH_NAME "x86_64"
#define ARCH_AUDIT 0xC000003EU /* AUDIT_ARCH_X86_64 */
#define ARCH_AUDIT_COMPAT 0x40000003U /* AUDIT_ARCH_I386 */

/* struct user_regs_struct (arch/x86/include/asm/user_64.h): where PTRACE_POKEUSER writes. */
#define X86_64_RAX_OFFSET 80
#define X86_64_ORIG_RAX_OFFSET 120
_Static_assert(offsetof(struct user_regs_struct, rax) == X86_64_RAX_OFFSET, "rax");
_Static_assert(offsetof(struct user_regs_struct, orig_rax) == X86_64_ORIG_RAX_OFFSET, "orig_rax");

/* The length of `syscall` (0f 05), which the kernel backs over to restart a call. */
#define X86_64_SYSCALL_INSN_SIZE 2

/* The native ABI's struct stat (asm/stat.h, x86-64) and struct timespec: what the native
 * trace reads (abi/ holds the same layouts for Python). */
#define ARCH_STAT_SIZE 144
#define ARCH_STAT_MODE_OFFSET 24 /* st_mode, 32 bits */
#define ARCH_STAT_RDEV_OFFSET 40 /* st_rdev, 64 bits */
#define ARCH_STAT_SIZE_OFFSET 48 /* st_size, 64 bits */
#define ARCH_TIMESPEC_SIZE 16   /* two 64-bit fields */

/* At a seccomp or syscall-entry stop: orig_rax = -1 makes the kernel skip the call, which
 * returns what rax holds; then resume with `request` (Arch.skip_and_continue). Registers even
 * where the kernel has PTRACE_SET_SYSCALL_INFO (6.16): with a number of -1 it sets orig_rax
 * only, so rax would still need its POKEUSER. Nor would it save the one of arch_set_return. */
static inline long arch_skip_and_continue(long tid, long long value, long request) {
    long result = raw_ptrace(PTRACE_POKEUSER, tid, X86_64_ORIG_RAX_OFFSET, (unsigned long)-1L);
    if (result >= 0)
        result = raw_ptrace(PTRACE_POKEUSER, tid, X86_64_RAX_OFFSET, (unsigned long)value);
    if (result >= 0) result = raw_ptrace(request, tid, 0, 0);
    return result < 0 ? result : 0;
}

/* At a syscall-exit stop: the call returns `value` instead (Arch.set_return). */
static inline long arch_set_return(long tid, long long value) {
    long result = raw_ptrace(PTRACE_POKEUSER, tid, X86_64_RAX_OFFSET, (unsigned long)value);
    return result < 0 ? result : 0;
}

/* At a PTRACE_SYSEMU stop: back over the syscall instruction with the number in rax again, as
 * the kernel does to restart a call, so that resuming makes the call (Arch.reexecute). */
static inline long arch_reexecute(long tid) {
    struct user_regs_struct regs;
    long result = raw_ptrace(PTRACE_GETREGS, tid, 0, (unsigned long)&regs);
    if (result >= 0) {
        regs.rip -= X86_64_SYSCALL_INSN_SIZE;
        regs.rax = regs.orig_rax;
        result = raw_ptrace(PTRACE_SETREGS, tid, 0, (unsigned long)&regs);
    }
    return result < 0 ? result : 0;
}

/* A cycle counter for timing handlers, when the kernel's own clock source is it ("tsc": the
 * kernel picks it only when it runs at one rate on every CPU). See csrc/timing.c. */
#define ARCH_CYCLE_COUNTER 1
#define ARCH_CYCLE_CLOCKSOURCE "tsc\n"
static inline long long arch_cycles(void) { return (long long)__rdtsc(); }

#endif
